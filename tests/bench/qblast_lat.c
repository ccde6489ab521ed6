/* qblast_lat.c - holdfast's copy of ../shared/bench/qblast.c (lean
 * closed-loop DNS load generator: one thread, one socket) that also keeps a
 * latency histogram (1 us buckets up to 1 s) and prints p50/p99/p99.9 on an
 * extra "Latency percentiles (s):" line.  tests/bench/bench.py hands it to
 * dnsbench.py in place of qblast, so every server gets the same client.
 * Everything else is unchanged from qblast.c:
 *
 *
 * Reads a dnsperf query file ("name TYPE" per line), keeps -q queries
 * outstanding using sendmmsg/recvmmsg batches, and prints its statistics in
 * dnsperf's format, so dnsbench.py reads either.  It exists because dnsperf
 * on one core tops out below what an efficient server does on one core, so
 * with dnsperf alone the fastest servers are measured against the client.
 * Queries are the same bytes dnsperf sends (RD set, no EDNS).
 *
 * usage: qblast -s ADDR -p PORT -d FILE [-l SECONDS] [-q OUTSTANDING]
 *               [-t TIMEOUT_S] [-b BATCH]
 * build: gcc -O2 -o qblast qblast.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define MAX_WIRE 300

struct query { unsigned char wire[MAX_WIRE]; int len; };
struct slot { double t; int inuse; };

static struct query *qs;
static size_t nq;
static struct slot slots[65536];
#define HIST_US 1000000
static uint32_t hist[HIST_US + 1]; /* latency in whole microseconds, last = overflow */

static double pct(uint64_t total, double p)
{
	uint64_t want = (uint64_t)(p * (double)total), seen = 0;
	for (int i = 0; i <= HIST_US; i++) {
		seen += hist[i];
		if (seen > want)
			return i * 1e-6;
	}
	return HIST_US * 1e-6;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int qtype_code(const char *t)
{
	static const struct { const char *n; int c; } map[] = {
		{"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15},
		{"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"ANY", 255}};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcasecmp(t, map[i].n))
			return map[i].c;
	return -1;
}

/* header (id filled at send time, RD set, one question) + question */
static int encode(const char *name, int qtype, unsigned char *out)
{
	static const unsigned char hdr[12] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	int n = 12;
	memcpy(out, hdr, 12);
	while (*name && strcmp(name, ".")) {
		const char *dot = strchr(name, '.');
		int len = dot ? (int)(dot - name) : (int)strlen(name);
		if (len < 1 || len > 63 || n + len + 6 > MAX_WIRE)
			return -1;
		out[n++] = (unsigned char)len;
		memcpy(out + n, name, len);
		n += len;
		name += len + (dot ? 1 : 0);
	}
	out[n++] = 0;
	out[n++] = qtype >> 8; out[n++] = qtype & 0xff;
	out[n++] = 0; out[n++] = 1; /* class IN */
	return n;
}

static void load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512], name[300], type[16];
	size_t cap = 1024;
	if (!f) { perror(path); exit(1); }
	qs = malloc(cap * sizeof *qs);
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%299s %15s", name, type) != 2 || name[0] == '#')
			continue;
		int code = qtype_code(type);
		if (code < 0) { fprintf(stderr, "skipping type %s\n", type); continue; }
		if (nq == cap)
			qs = realloc(qs, (cap *= 2) * sizeof *qs);
		if ((qs[nq].len = encode(name, code, qs[nq].wire)) > 0)
			nq++;
	}
	fclose(f);
	if (!nq) { fprintf(stderr, "no queries in %s\n", path); exit(1); }
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *file = NULL;
	int port = 53, outstanding = 100, batch = 32, opt;
	double duration = 10, timeout = 1;
	while ((opt = getopt(argc, argv, "s:p:d:l:q:t:b:c:T:")) != -1) {
		switch (opt) {
		case 's': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'd': file = optarg; break;
		case 'l': duration = atof(optarg); break;
		case 'q': outstanding = atoi(optarg); break;
		case 't': timeout = atof(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'c': case 'T': break; /* dnsperf flags, accepted and ignored */
		default: fprintf(stderr, "usage: qblast -s ADDR -p PORT -d FILE [-l S] [-q N] [-t S] [-b N]\n"); return 2;
		}
	}
	if (!file) { fprintf(stderr, "-d FILE is required\n"); return 2; }
	if (batch < 1 || batch > MAX_BATCH) batch = 32;
	if (outstanding < 1 || outstanding > 60000) outstanding = 100;
	load(file);

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", addr); return 2; }
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("socket"); return 1; }
	struct timeval tv = {0, 5000}; /* blocking receive wakes every 5 ms */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

	static unsigned char sbuf[MAX_BATCH][MAX_WIRE], rbuf[MAX_BATCH][4096];
	static struct iovec siov[MAX_BATCH], riov[MAX_BATCH];
	static struct mmsghdr smsg[MAX_BATCH], rmsg[MAX_BATCH];
	for (int i = 0; i < MAX_BATCH; i++) {
		siov[i].iov_base = sbuf[i];
		smsg[i].msg_hdr.msg_iov = &siov[i];
		smsg[i].msg_hdr.msg_iovlen = 1;
		riov[i].iov_base = rbuf[i];
		riov[i].iov_len = sizeof rbuf[i];
		rmsg[i].msg_hdr.msg_iov = &riov[i];
		rmsg[i].msg_hdr.msg_iovlen = 1;
	}

	uint64_t sent = 0, done = 0, lost = 0, rcodes[16] = {0}, req_bytes = 0, resp_bytes = 0;
	double lat_sum = 0, lat_min = 1e9, lat_max = 0;
	uint16_t next_id = 0;
	size_t qi = 0;
	int inflight = 0;
	double start = now(), end = start + duration, t = start;
	for (;;) {
		int sending = t < end;
		if (!sending && (inflight == 0 || t > end + timeout))
			break;
		int n = sending ? outstanding - inflight : 0;
		if (n > batch) n = batch;
		for (int i = 0; i < n; i++) {
			struct query *q = &qs[qi];
			qi = (qi + 1) % nq;
			uint16_t id = next_id++;
			if (slots[id].inuse) { lost++; inflight--; } /* id wrapped: count as lost */
			slots[id].inuse = 1;
			slots[id].t = t;
			memcpy(sbuf[i], q->wire, q->len);
			sbuf[i][0] = id >> 8;
			sbuf[i][1] = id & 0xff;
			siov[i].iov_len = q->len;
		}
		if (n > 0) {
			int k = sendmmsg(fd, smsg, n, 0);
			if (k < 0) k = 0;
			for (int i = k; i < n; i++) /* not sent: free the ids again */
				slots[(uint16_t)(next_id - n + i)].inuse = 0;
			for (int i = 0; i < k; i++)
				req_bytes += siov[i].iov_len;
			sent += k;
			inflight += k;
		}
		int full = inflight >= outstanding || !sending;
		int r = recvmmsg(fd, rmsg, batch, full ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
		t = now();
		for (int i = 0; i < r; i++) {
			unsigned char *b = rbuf[i];
			if (rmsg[i].msg_len < 12 || !(b[2] & 0x80))
				continue;
			uint16_t id = (uint16_t)(b[0] << 8 | b[1]);
			if (!slots[id].inuse)
				continue; /* late answer to a query already counted lost */
			slots[id].inuse = 0;
			inflight--;
			double lat = t - slots[id].t;
			lat_sum += lat;
			if (lat < lat_min) lat_min = lat;
			if (lat > lat_max) lat_max = lat;
			long us = (long)(lat * 1e6);
			hist[us < 0 ? 0 : us > HIST_US ? HIST_US : us]++;
			rcodes[b[3] & 0xf]++;
			resp_bytes += rmsg[i].msg_len;
			done++;
		}
		if (r < 0 && full) { /* nothing came for 5 ms: expire old queries */
			for (int id = 0; id < 65536; id++)
				if (slots[id].inuse && t - slots[id].t > timeout) {
					slots[id].inuse = 0;
					inflight--;
					lost++;
				}
		}
	}
	lost += inflight;
	double run = t - start;
	static const char *names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
		"NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
	printf("Statistics:\n\n");
	printf("  Queries sent:         %lu\n", (unsigned long)sent);
	printf("  Queries completed:    %lu (%.2f%%)\n", (unsigned long)done, sent ? 100.0 * done / sent : 0);
	printf("  Queries lost:         %lu (%.2f%%)\n\n", (unsigned long)lost, sent ? 100.0 * lost / sent : 0);
	printf("  Response codes:       ");
	for (int i = 0, first = 1; i < 16; i++) {
		if (!rcodes[i]) continue;
		printf("%s%s %lu (%.2f%%)", first ? "" : ", ", names[i] ? names[i] : "RCODE",
		       (unsigned long)rcodes[i], 100.0 * rcodes[i] / (done ? done : 1));
		first = 0;
	}
	printf("\n  Average packet size:  request %lu, response %lu\n",
	       (unsigned long)(sent ? req_bytes / sent : 0), (unsigned long)(done ? resp_bytes / done : 0));
	printf("  Run time (s):         %.6f\n", run);
	printf("  Queries per second:   %.6f\n\n", done / run);
	printf("  Average Latency (s):  %.6f (min %.6f, max %.6f)\n",
	       done ? lat_sum / done : 0, done ? lat_min : 0, lat_max);
	printf("  Latency percentiles (s): p50 %.6f p99 %.6f p999 %.6f\n",
	       done ? pct(done, 0.50) : 0, done ? pct(done, 0.99) : 0,
	       done ? pct(done, 0.999) : 0);
	return 0;
}
