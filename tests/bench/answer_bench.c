/*
 * answer_bench.c: the engine's answer path alone, without sockets (issue 8).
 * Opens a Corefile through the public API (hf_engine_open), reads a dnsperf
 * query file ("name TYPE" per line, as dnsbench.py writes it), encodes the
 * queries as dnsperf/qblast send them (RD, no EDNS) and calls hf_answer()
 * on every one in a loop for the given seconds; prints ns per answer (wall
 * and thread CPU).  With --digest it prints one FNV-1a 64 digest over every
 * response (the ID is the query's; an SOA serial, which is the Unix time of
 * the load, is masked), so the digest is stable from run to run: an
 * optimisation of the answer path must leave it unchanged.
 *
 * Usage: answer_bench COREFILE QUERIES [SECONDS] [--digest]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "holdfast.h"

#define MAX_WIRE 300

struct query {
	uint8_t wire[MAX_WIRE];
	size_t len;
};

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int qtype_code(const char *t)
{
	static const struct {
		const char *n;
		int c;
	} map[] = { { "A", 1 },	  { "NS", 2 },	 { "CNAME", 5 }, { "SOA", 6 },	{ "PTR", 12 },
		    { "MX", 15 }, { "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 }, { "ANY", 255 } };
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcasecmp(t, map[i].n))
			return map[i].c;
	return -1;
}

static int encode(const char *name, int qtype, uint16_t id, uint8_t *out)
{
	static const uint8_t hdr[12] = { 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	size_t n = 12;
	memcpy(out, hdr, 12);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0)
			break;
		if (l > 63 || n + l + 1 > MAX_WIRE - 6)
			return -1;
		out[n++] = (uint8_t)l;
		memcpy(out + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
		if (!dot)
			break;
	}
	out[n++] = 0;
	out[n++] = (uint8_t)(qtype >> 8);
	out[n++] = (uint8_t)qtype;
	out[n++] = 0;
	out[n++] = 1;
	return (int)n;
}

int main(int argc, char **argv)
{
	int digest = 0;
	const char *pos[3] = { NULL, NULL, "3" };
	int np = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--digest") == 0)
			digest = 1;
		else if (np < 3)
			pos[np++] = argv[i];
	}
	if (np < 2) {
		fprintf(stderr, "usage: answer_bench COREFILE QUERIES [SECONDS] [--digest]\n");
		return 2;
	}
	double seconds = atof(pos[2]);
	FILE *f = fopen(pos[1], "r");
	if (f == NULL) {
		perror(pos[1]);
		return 1;
	}
	size_t cap = 1024, nq = 0;
	struct query *qs = malloc(cap * sizeof(*qs));
	char line[600];
	while (qs != NULL && fgets(line, sizeof line, f)) {
		char name[512], type[16];
		if (sscanf(line, "%511s %15s", name, type) != 2)
			continue;
		int code = qtype_code(type);
		if (code < 0)
			continue;
		if (nq == cap) {
			cap *= 2;
			struct query *nqs = realloc(qs, cap * sizeof(*qs));
			if (nqs == NULL) {
				free(qs);
				qs = NULL;
				break;
			}
			qs = nqs;
		}
		int len = encode(name, code, (uint16_t)nq, qs[nq].wire);
		if (len > 0)
			qs[nq++].len = (size_t)len;
	}
	fclose(f);
	if (qs == NULL || nq == 0) {
		fprintf(stderr, "no queries\n");
		free(qs);
		return 1;
	}
	char err[512];
	double t0 = now(CLOCK_MONOTONIC);
	uint32_t lo = (uint32_t)time(NULL) - 2;
	hf_engine_t *e = hf_engine_open(pos[0], 53999, HF_OPEN_QUIET, err, sizeof err);
	if (e == NULL) {
		fprintf(stderr, "%s\n", err);
		free(qs);
		return 1;
	}
	double topen = now(CLOCK_MONOTONIC) - t0;
	uint32_t hi = (uint32_t)time(NULL) + 2;
	hf_worker_t *w = hf_worker_new(e);
	static uint8_t out[65535];
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(0x7f000001);
	int rc = 0;
	if (digest) {
		uint64_t h = 1469598103934665603ull;
		size_t answered = 0;
		for (size_t i = 0; i < nq; i++) {
			size_t rlen = 0;
			int v = hf_answer(w, 0, qs[i].wire, qs[i].len, (struct sockaddr *)&sa, HF_UDP, out,
					  sizeof out, &rlen);
			if (v != HF_ANSWER)
				continue;
			answered++;
			for (size_t j = 0; j + 4 <= rlen; j++) { /* mask SOA serials */
				uint32_t v32 = (uint32_t)out[j] << 24 | (uint32_t)out[j + 1] << 16 |
					       (uint32_t)out[j + 2] << 8 | out[j + 3];
				if (v32 >= lo && v32 <= hi)
					memset(out + j, 0, 4);
			}
			for (size_t j = 0; j < rlen; j++)
				h = (h ^ out[j]) * 1099511628211ull;
		}
		printf("digest %016llx over %zu answers of %zu queries\n", (unsigned long long)h, answered,
		       nq);
	} else {
		size_t done = 0;
		/* warm-up pass */
		for (size_t i = 0; i < nq; i++) {
			size_t rlen = 0;
			(void)hf_answer(w, 0, qs[i].wire, qs[i].len, (struct sockaddr *)&sa, HF_UDP, out,
					sizeof out, &rlen);
		}
		double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
		double end = w0 + seconds, best = 1e30;
		do {
			double p0 = now(CLOCK_THREAD_CPUTIME_ID);
			for (size_t i = 0; i < nq; i++) {
				size_t rlen = 0;
				(void)hf_answer(w, 0, qs[i].wire, qs[i].len, (struct sockaddr *)&sa, HF_UDP,
						out, sizeof out, &rlen);
			}
			double pass = now(CLOCK_THREAD_CPUTIME_ID) - p0;
			if (pass < best)
				best = pass;
			done += nq;
		} while (now(CLOCK_MONOTONIC) < end);
		double wall = now(CLOCK_MONOTONIC) - w0, cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
		/* the best pass is the figure least disturbed by other jobs */
		printf("answer_bench: %zu queries x %zu, open %.3f s, best pass %.1f ns/answer cpu; "
		       "mean %.1f ns/answer cpu, %.1f wall\n",
		       nq, done / nq, topen, best * 1e9 / (double)nq, cpu * 1e9 / (double)done,
		       wall * 1e9 / (double)done);
	}
	hf_worker_free(w);
	hf_engine_close(e);
	free(qs);
	return rc;
}
