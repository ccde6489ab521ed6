/*
 * reconnect_spread.c: benchmark (prints figures, not pass/fail) of how
 * replicas of holdfast come back after an API outage, using the real
 * backoff and token-bucket code (plugin/src/api_backoff.c) on a simulated
 * clock.  Each replica has one reflector per resource (namespaces,
 * services, endpointslices: the default), each with its own
 * hfi_backoff_t seeded differently (the real code seeds from the clock),
 * and one hfi_tbucket_t per replica (apiserver_qps/burst 5/10) in front
 * of every request, as hfi_api_admit() does.
 *
 * At t = 0 the API goes down (connections refused; every open watch is cut
 * at that instant); at t = OUTAGE it heals.  A failed attempt (refused at
 * once) waits hfi_backoff_next(); the first attempt at or after the heal
 * succeeds (the watch resumes from its resourceVersion).  Printed: the
 * distribution of reconnect times after the heal, a histogram by second,
 * and the requests per second the API sees during and after the outage.
 * For contrast, the same schedule without jitter (waiting the ceiling).
 *
 * Usage: reconnect_spread [--replicas N] [--outage S] [--seed X] [--qps Q] [--burst B]
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define NRES 3
#define MAX_REPLICAS 100000
#define TAIL_MS 300000 /* simulate at most this long after the heal */

static const char *const res_names[NRES] = { "namespaces", "services", "endpointslices" };

typedef struct worker {
	hfi_backoff_t b;
	int64_t next_ms;    /* next attempt (before admission) */
	bool admitted;      /* next_ms is the admitted request time */
	bool done;
	int64_t reconnect_ms;
	unsigned attempts_down;
} worker_t;

typedef struct sim {
	int replicas;
	int64_t outage_ms;
	bool jitter;
	uint64_t seed;
	double qps;
	int burst;
	/* results */
	worker_t *w;
	hfi_tbucket_t *tb;
	uint32_t *per_s;     /* requests per second of simulated time */
	uint32_t *per_100ms;
	size_t nsec, n100;
	int64_t done_by_ms;
} sim_t;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void count_request(sim_t *s, int64_t t)
{
	size_t sec = (size_t)(t / 1000), d = (size_t)(t / 100);
	if (sec < s->nsec)
		s->per_s[sec]++;
	if (d < s->n100)
		s->per_100ms[d]++;
}

/* A failure at now: when to try next. */
static int64_t backoff(sim_t *s, worker_t *w, int64_t now)
{
	int64_t d = hfi_backoff_next(&w->b, now);
	if (!s->jitter)
		d = w->b.cur_ms; /* the ceiling: what a schedule without jitter waits */
	return now + d;
}

static int run(sim_t *s)
{
	size_t nw = (size_t)s->replicas * NRES;
	s->w = calloc(nw, sizeof(*s->w));
	s->tb = calloc((size_t)s->replicas, sizeof(*s->tb));
	s->nsec = (size_t)((s->outage_ms + TAIL_MS) / 1000 + 2);
	s->n100 = s->nsec * 10;
	s->per_s = calloc(s->nsec, sizeof(*s->per_s));
	s->per_100ms = calloc(s->n100, sizeof(*s->per_100ms));
	if (s->w == NULL || s->tb == NULL || s->per_s == NULL || s->per_100ms == NULL)
		return -1;
	/* steady state before t = 0: watches open, nothing failed for more than
	 * 2 minutes (a fresh backoff), the token bucket full.  At t = 0 every
	 * watch is cut: each reflector fails and backs off. */
	for (int r = 0; r < s->replicas; r++) {
		hfi_tbucket_init(&s->tb[r], s->qps, s->burst, -600000);
		for (int k = 0; k < NRES; k++) {
			worker_t *w = &s->w[(size_t)r * NRES + (size_t)k];
			hfi_backoff_init(&w->b, splitmix64(s->seed * 1000003ULL + (uint64_t)r * NRES + (uint64_t)k + 1));
			w->next_ms = backoff(s, w, 0);
		}
	}
	size_t left = nw;
	int64_t end = s->outage_ms + TAIL_MS;
	while (left > 0) {
		/* the earliest pending event (a linear scan: a few thousand events) */
		size_t best = nw;
		for (size_t i = 0; i < nw; i++)
			if (!s->w[i].done && (best == nw || s->w[i].next_ms < s->w[best].next_ms))
				best = i;
		worker_t *w = &s->w[best];
		int64_t t = w->next_ms;
		if (t > end)
			break;
		if (!w->admitted) {
			int64_t wait = hfi_tbucket_take(&s->tb[best / NRES], t);
			w->admitted = true;
			if (wait > 0) {
				w->next_ms = t + wait;
				continue;
			}
		}
		w->admitted = false;
		count_request(s, t);
		if (t < s->outage_ms) {
			w->attempts_down++;
			w->next_ms = backoff(s, w, t);
		} else {
			w->done = true;
			w->reconnect_ms = t - s->outage_ms;
			if (t > s->done_by_ms)
				s->done_by_ms = t;
			left--;
		}
	}
	return left == 0 ? 0 : -1;
}

static void sim_free(sim_t *s)
{
	free(s->w);
	free(s->tb);
	free(s->per_s);
	free(s->per_100ms);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static int64_t pct(const int64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void dist_line(const char *what, int64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	printf("  %-34s min %6.2f s  p50 %6.2f s  p90 %6.2f s  max %6.2f s  mean %6.2f s  (n=%zu)\n", what,
	       (double)v[0] / 1000, (double)pct(v, n, 50) / 1000, (double)pct(v, n, 90) / 1000,
	       (double)v[n - 1] / 1000, sum / (double)n / 1000, n);
}

typedef struct peak {
	uint32_t n;
	size_t at;
} peak_t;

static peak_t peak_in(const uint32_t *a, size_t from, size_t to)
{
	peak_t p = { 0, from };
	for (size_t i = from; i < to; i++)
		if (a[i] > p.n) {
			p.n = a[i];
			p.at = i;
		}
	return p;
}

int main(int argc, char **argv)
{
	sim_t s = { .replicas = 100, .outage_ms = 60000, .jitter = true, .seed = 1, .qps = 5.0, .burst = 10 };
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL) {
			fprintf(stderr, "usage: %s [--replicas N] [--outage S] [--seed X] [--qps Q] [--burst B]\n", argv[0]);
			return 2;
		}
		if (strcmp(a, "--replicas") == 0)
			s.replicas = atoi(v);
		else if (strcmp(a, "--outage") == 0)
			s.outage_ms = (int64_t)(atof(v) * 1000);
		else if (strcmp(a, "--seed") == 0)
			s.seed = strtoull(v, NULL, 0);
		else if (strcmp(a, "--qps") == 0)
			s.qps = atof(v);
		else if (strcmp(a, "--burst") == 0)
			s.burst = atoi(v);
		else {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], a);
			return 2;
		}
	}
	if (s.replicas < 1 || s.replicas > MAX_REPLICAS || s.outage_ms < 1000 || s.outage_ms > 86400000) {
		fprintf(stderr, "%s: replicas 1..%d, outage 1..86400 s\n", argv[0], MAX_REPLICAS);
		return 2;
	}
	sim_t nj = s;
	nj.jitter = false;
	if (run(&s) != 0 || run(&nj) != 0) {
		fprintf(stderr, "reconnect_spread: simulation failed (out of memory or did not converge)\n");
		sim_free(&s);
		sim_free(&nj);
		return 1;
	}
	size_t nw = (size_t)s.replicas * NRES;
	size_t heal_s = (size_t)(s.outage_ms / 1000), heal_d = (size_t)(s.outage_ms / 100);

	printf("=== reconnect_spread: %d replicas x %d watches (%s, %s, %s), %.0f s outage ===\n", s.replicas, NRES,
	       res_names[0], res_names[1], res_names[2], (double)s.outage_ms / 1000);
	printf("real code: hfi_backoff_next (800 ms, x2, 30 s cap, uniform in [800 ms, ceiling]) and\n"
	       "hfi_tbucket_take (%.0f qps, burst %d per replica); each backoff seeded differently (seed %" PRIu64 ")\n",
	       s.qps, s.burst, s.seed);

	unsigned amin = ~0u, amax = 0;
	double asum = 0;
	for (size_t i = 0; i < nw; i++) {
		unsigned a = s.w[i].attempts_down;
		amin = a < amin ? a : amin;
		amax = a > amax ? a : amax;
		asum += a;
	}
	printf("attempts per watch during the outage: min %u, mean %.1f, max %u (all replicas: %.0f)\n", amin,
	       asum / (double)nw, amax, asum);

	int64_t *rep = calloc((size_t)s.replicas, sizeof(*rep)), *per = calloc(nw, sizeof(*per));
	int64_t *rep_nj = calloc((size_t)s.replicas, sizeof(*rep_nj));
	if (rep == NULL || per == NULL || rep_nj == NULL) {
		fprintf(stderr, "reconnect_spread: out of memory\n");
		return 1;
	}
	for (int r = 0; r < s.replicas; r++)
		for (int k = 0; k < NRES; k++) {
			size_t i = (size_t)r * NRES + (size_t)k;
			per[i] = s.w[i].reconnect_ms;
			if (s.w[i].reconnect_ms > rep[r])
				rep[r] = s.w[i].reconnect_ms;
			if (nj.w[i].reconnect_ms > rep_nj[r])
				rep_nj[r] = nj.w[i].reconnect_ms;
		}
	printf("reconnect time after the heal:\n");
	dist_line("per replica (all 3 watches back)", rep, (size_t)s.replicas);
	dist_line("per watch", per, nw);

	size_t nb = (size_t)(rep[s.replicas - 1] / 1000) + 1;
	printf("histogram: replicas fully reconnected, by second after the heal\n");
	for (size_t b = 0; b < nb; b++) {
		int n = 0;
		for (int r = 0; r < s.replicas; r++)
			if ((size_t)(rep[r] / 1000) == b)
				n++;
		printf("  %3zu-%3zu s %4d ", b, b + 1, n);
		for (int j = 0; j < n; j++)
			putchar('#');
		putchar('\n');
	}

	peak_t pd = peak_in(s.per_s, 0, heal_s), pa = peak_in(s.per_s, heal_s, s.nsec);
	peak_t pd1 = peak_in(s.per_100ms, 0, heal_d), pa1 = peak_in(s.per_100ms, heal_d, s.n100);
	printf("requests per second the API sees (attempts; refused during the outage):\n");
	printf("  during the outage: peak %u/s (second %zu), peak %u in 100 ms (at %.1f s)\n", pd.n, pd.at, pd1.n,
	       (double)pd1.at / 10);
	printf("  after the heal:    peak %u/s (second %zu after), peak %u in 100 ms (at +%.1f s)\n", pa.n,
	       pa.at - heal_s, pa1.n, (double)(pa1.at - heal_d) / 10);
	printf("  timeline (req/s from the outage start):");
	size_t last = (size_t)(s.done_by_ms / 1000) + 1;
	for (size_t i = 0; i < last && i < s.nsec; i++) {
		if (i % 15 == 0)
			printf("\n   %4zu s:", i);
		printf(" %3u", s.per_s[i]);
	}
	putchar('\n');

	peak_t qa = peak_in(nj.per_s, heal_s, nj.nsec), qd1 = peak_in(nj.per_100ms, 0, heal_d);
	peak_t qa1 = peak_in(nj.per_100ms, heal_d, nj.n100);
	qsort(rep_nj, (size_t)s.replicas, sizeof(*rep_nj), cmp_i64);
	printf("for contrast, the same schedule without jitter (wait = ceiling):\n");
	printf("  reconnect per replica: min %.2f s, max %.2f s; peak after the heal %u/s, %u in 100 ms; "
	       "peak during the outage %u in 100 ms\n",
	       (double)rep_nj[0] / 1000, (double)rep_nj[s.replicas - 1] / 1000, qa.n, qa1.n, qd1.n);

	printf("summary: reconnect_spread: %d replicas, %.0f s outage: reconnect after heal p50 %.1f s, p90 %.1f s, "
	       "max %.1f s; API peak %u req/s during outage (%u in 100 ms), %u req/s after heal "
	       "(no jitter: %u req/s)\n",
	       s.replicas, (double)s.outage_ms / 1000, (double)pct(rep, (size_t)s.replicas, 50) / 1000,
	       (double)pct(rep, (size_t)s.replicas, 90) / 1000, (double)rep[s.replicas - 1] / 1000, pd.n, pd1.n,
	       pa.n, qa.n);
	free(rep);
	free(per);
	free(rep_nj);
	sim_free(&s);
	sim_free(&nj);
	return 0;
}
