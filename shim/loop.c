/*
 * loop.c: the host side of CoreDNS's loop plugin (spec section 12).  Once
 * the listeners are up, a detached thread sends each probe the engine
 * hands out (hf_loop_probe: "HINFO <random>.<random>.<zone>" to the
 * block's own address) over UDP, waits up to 2 s for the answer (as
 * miekg's dns.Exchange), retries every second for up to 30 s, and tells
 * the engine when a probe was answered (hf_loop_done; any rcode counts).
 * The loop itself is detected by the engine, which exits the process.
 * The thread holds a generation reference only around engine calls and
 * stops when the engine is replaced (reload) or the server shuts down.
 */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOP_WINDOW_MS 30000
#define LOOP_EXCHANGE_MS 2000
#define LOOP_MAX_PROBES 64

/* 1: a reply with our ID came back; 0: none (timeout, error). */
static int exchange(const char *addr, const uint8_t *q, size_t qlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int wildcard = 0;
	char err[128];
	if (hfs_addr_resolve(addr, 0, &ss, &sl, &wildcard, err, sizeof(err)) != 0)
		return 0;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int ok = 0;
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0 && send(fd, q, qlen, 0) == (ssize_t)qlen) {
		int64_t end = hfs_now_ms() + LOOP_EXCHANGE_MS;
		uint8_t buf[HFS_MSG_MAX];
		for (;;) {
			int64_t left = end - hfs_now_ms();
			if (left <= 0 || atomic_load(&hfs_srv.shutting_down))
				break;
			struct pollfd p[2] = {{fd, POLLIN, 0}, {hfs_srv.stop_fd, POLLIN, 0}};
			int r = poll(p, hfs_srv.stop_fd >= 0 ? 2 : 1, (int)(left < 200 ? left : 200));
			if (r < 0 && errno != EINTR)
				break;
			if (r > 0 && (p[0].revents & POLLIN)) {
				ssize_t n = recv(fd, buf, sizeof(buf), 0);
				if (n >= 12 && buf[0] == q[0] && buf[1] == q[1] && (buf[2] & 0x80)) {
					ok = 1;
					break;
				}
			}
			if (r > 0 && (p[1].revents & POLLIN))
				break;
		}
	}
	close(fd);
	return ok;
}

/* Call fn on the engine if it is still the current one; -1 when replaced. */
static int with_engine(hf_engine_t *e, int i, uint8_t *buf, size_t cap, size_t *len, char *addr,
		       size_t addrlen, int done)
{
	struct hfs_gen *g = hfs_gen_acquire();
	int rc = -1;
	if (g != NULL && g->engine == e && !atomic_load(&hfs_srv.shutting_down))
		rc = done ? hf_loop_done(e, i) : hf_loop_probe(e, i, buf, cap, len, addr, addrlen);
	hfs_gen_release(g);
	return rc;
}

static void *prober(void *arg)
{
	hf_engine_t *e = arg;
	int64_t end = hfs_now_ms() + LOOP_WINDOW_MS;
	char done[LOOP_MAX_PROBES] = {0};
	for (;;) {
		int left = 0;
		for (int i = 0; i < LOOP_MAX_PROBES; i++) {
			if (done[i])
				continue;
			uint8_t q[512];
			size_t qlen = 0;
			char addr[HFS_ADDR_MAX];
			int rc = with_engine(e, i, q, sizeof(q), &qlen, addr, sizeof(addr), 0);
			if (rc == -1)
				return NULL; /* reloaded or stopping */
			if (rc != HF_EOK) {
				done[i] = 1;
				continue;
			}
			if (exchange(addr, q, qlen)) {
				done[i] = 1;
				if (with_engine(e, i, NULL, 0, NULL, NULL, 0, 1) == -1)
					return NULL;
			} else {
				left++;
			}
		}
		if (left == 0 || hfs_now_ms() >= end)
			return NULL;
		struct pollfd p = {hfs_srv.stop_fd, POLLIN, 0};
		if (poll(&p, hfs_srv.stop_fd >= 0 ? 1 : 0, 1000) > 0)
			return NULL;
	}
}

int hfs_loop_start(hf_engine_t *e)
{
	uint8_t q[512];
	size_t qlen;
	char addr[HFS_ADDR_MAX];
	if (e == NULL || hf_loop_probe(e, 0, q, sizeof(q), &qlen, addr, sizeof(addr)) != HF_EOK)
		return 0; /* no block has `loop` */
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &at, prober, e);
	pthread_attr_destroy(&at);
	return rc == 0 ? 0 : -1;
}
