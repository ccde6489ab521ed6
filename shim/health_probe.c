/*
 * health_probe.c: the health plugin's self-probe (spec section 7): once a
 * second a GET of our own /health (3 s timeout) feeds
 * coredns_health_request_duration_seconds and, when it fails,
 * coredns_health_request_failures_total; failures and probes slower than
 * 1 s are logged as CoreDNS does.  One thread, started when a health
 * address is served, stopped with the HTTP servers.
 */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_EVERY_MS 1000
#define PROBE_TIMEOUT_MS 3000

static const double bounds[5] = {0.00025, 0.0025, 0.025, 0.25, 2.5};
static const char *const bound_txt[5] = {"0.00025", "0.0025", "0.025", "0.25", "2.5"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static int running, stopping;
static char target[HFS_ADDR_MAX];  /* "host:port" to probe */
/* guarded by lock */
static unsigned long long buckets[6], count, failures;
static double sum;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One GET; 0 when a complete HTTP status line came back. */
static int probe_once(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int wild = 0;
	char hp[HFS_ADDR_MAX + 16];
	if (addr[0] == ':')
		snprintf(hp, sizeof(hp), "127.0.0.1%s", addr); /* ":8080": this host */
	else
		snprintf(hp, sizeof(hp), "%s", addr);
	if (hfs_addr_resolve(hp, 0, &ss, &sl, &wild, err, errlen) != 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int64_t end = now_us() + PROBE_TIMEOUT_MS * 1000LL;
	int ret = -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		goto out;
	}
	char req[] = "GET /health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: holdfast-health\r\n"
		     "Connection: close\r\n\r\n";
	size_t sent = 0;
	char resp[512];
	size_t got = 0;
	for (;;) {
		int64_t left = (end - now_us()) / 1000;
		if (left <= 0) {
			snprintf(err, errlen, "timeout awaiting response headers");
			goto out;
		}
		struct pollfd p = {fd, sent < sizeof(req) - 1 ? POLLOUT : POLLIN, 0};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (sent < sizeof(req) - 1) {
			ssize_t w = send(fd, req + sent, sizeof(req) - 1 - sent, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				snprintf(err, errlen, "write: %s", strerror(errno));
				goto out;
			}
			if (w > 0)
				sent += (size_t)w;
			continue;
		}
		ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			snprintf(err, errlen, n == 0 ? "EOF" : "read: %s", strerror(errno));
			goto out;
		}
		got += (size_t)n;
		resp[got] = '\0';
		if (strstr(resp, "\r\n") != NULL || got == sizeof(resp) - 1) {
			if (strncmp(resp, "HTTP/1.", 7) == 0) {
				ret = 0;
			} else {
				snprintf(err, errlen, "malformed HTTP response");
			}
			goto out;
		}
	}
out:
	close(fd);
	return ret;
}

static void *probe_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += PROBE_EVERY_MS / 1000;
		while (!stopping && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
			;
		if (stopping)
			break;
		char addr[HFS_ADDR_MAX];
		memcpy(addr, target, sizeof(addr));
		pthread_mutex_unlock(&lock);
		char err[512] = "";
		int64_t t0 = now_us();
		int bad = probe_once(addr, err, sizeof(err));
		double secs = (double)(now_us() - t0) / 1e6;
		if (bad)
			hfs_log("WARNING", "plugin/health: Local health request to \"http://%s/health\" failed: %s",
				addr, err);
		else if (secs > 1.0)
			hfs_log("WARNING", "plugin/health: Local health request to \"http://%s/health\" took more than 1s: %.3fs",
				addr, secs);
		pthread_mutex_lock(&lock);
		int i = 0;
		while (i < 5 && secs > bounds[i])
			i++;
		buckets[i]++;
		count++;
		sum += secs;
		if (bad)
			failures++;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void hfs_health_probe_set(const char *addr)
{
	pthread_mutex_lock(&lock);
	if (addr != NULL) {
		snprintf(target, sizeof(target), "%s", addr);
	}
	int start = addr != NULL && !running;
	int stop = addr == NULL && running;
	if (start) {
		stopping = 0;
		running = pthread_create(&thread, NULL, probe_main, NULL) == 0;
	}
	if (stop)
		stopping = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (stop) {
		pthread_join(thread, NULL);
		pthread_mutex_lock(&lock);
		running = 0;
		pthread_mutex_unlock(&lock);
	}
}

int hfs_health_metrics(char *buf, size_t len)
{
	pthread_mutex_lock(&lock); /* always present, as CoreDNS registers them at init */
	size_t n = 0;
	int m = snprintf(buf, len,
		"# HELP coredns_health_request_duration_seconds Histogram of the time (in seconds) each request took.\n"
		"# TYPE coredns_health_request_duration_seconds histogram\n");
	unsigned long long cum = 0;
	for (int i = 0; i < 5 && m >= 0 && (size_t)m < len - n; i++) {
		n += (size_t)m;
		cum += buckets[i];
		m = snprintf(buf + n, len - n, "coredns_health_request_duration_seconds_bucket{le=\"%s\"} %llu\n",
			     bound_txt[i], cum);
	}
	if (m >= 0 && (size_t)m < len - n) {
		n += (size_t)m;
		m = snprintf(buf + n, len - n,
			     "coredns_health_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			     "coredns_health_request_duration_seconds_sum %.9f\n"
			     "coredns_health_request_duration_seconds_count %llu\n"
			     "# HELP coredns_health_request_failures_total The number of times the health check failed.\n"
			     "# TYPE coredns_health_request_failures_total counter\n"
			     "coredns_health_request_failures_total %llu\n",
			     count, sum, count, failures);
	}
	pthread_mutex_unlock(&lock);
	if (m < 0 || (size_t)m >= len - n)
		return -1;
	return (int)(n + (size_t)m);
}
