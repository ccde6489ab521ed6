/*
 * forward_metrics.c: the forward plugin's Prometheus metrics (spec section
 * 6), process-wide so they survive reloads: coredns_forward_healthcheck_
 * broken_total, coredns_forward_max_concurrent_rejects_total, and per
 * upstream (label `to`) coredns_proxy_request_duration_seconds{rcode}
 * (plugin.TimeBuckets), coredns_proxy_healthcheck_failures_total and
 * coredns_proxy_conn_cache_{hits,misses}_total{proto}.  Labels are
 * written in client_golang's order (sorted by name).
 */
#include "forward_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSLOTS 256
#define NRC 25     /* rcodes 0..23, 24 = anything else */
#define NBUCKET 16 /* 0.00025 * 2^k */

struct hfs_fwd_metric {
	char to[HFS_ADDR_MAX];
	atomic_ullong hc_fail;
	atomic_ullong hits[2], misses[2];
	atomic_ullong used[NRC];          /* observations per rcode */
	atomic_ullong bucket[NRC][NBUCKET];
	atomic_ullong sum_ns[NRC];
};

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hfs_fwd_metric *slots[NSLOTS];
static atomic_int nslots;
static struct hfs_fwd_metric overflow; /* when more than NSLOTS addresses */
static atomic_ullong broken, rejects, queue_full;
static atomic_int enabled;

static const char *const rc_names[NRC] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "11", "12", "13", "14", "15",
	"BADSIG", "BADKEY", "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC",
	"BADCOOKIE", "other",
};
static const char *const le[NBUCKET] = {
	"0.00025", "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032",
	"0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192",
};

int64_t hfs_fwd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void hfs_fwd_metrics_enable(void)
{
	atomic_store(&enabled, 1);
}

struct hfs_fwd_metric *hfs_fwd_metric_for(const char *to)
{
	pthread_mutex_lock(&slots_lock);
	int n = atomic_load(&nslots);
	struct hfs_fwd_metric *m = NULL;
	for (int i = 0; i < n && m == NULL; i++)
		if (strcmp(slots[i]->to, to) == 0)
			m = slots[i];
	if (m == NULL && n < NSLOTS && (m = calloc(1, sizeof(*m))) != NULL) {
		snprintf(m->to, sizeof(m->to), "%s", to);
		slots[n] = m;
		atomic_store(&nslots, n + 1);
	}
	pthread_mutex_unlock(&slots_lock);
	return m != NULL ? m : &overflow;
}

void hfs_fwd_observe(struct hfs_fwd_metric *m, int rcode, int64_t ns)
{
	int rc = rcode >= 0 && rcode < NRC - 1 ? rcode : NRC - 1;
	int64_t lim = 250000; /* 0.00025 s */
	for (int b = 0; b < NBUCKET; b++, lim *= 2)
		if (ns <= lim)
			atomic_fetch_add_explicit(&m->bucket[rc][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_ns[rc], (unsigned long long)(ns > 0 ? ns : 0),
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&m->used[rc], 1, memory_order_relaxed);
}

void hfs_fwd_count_hc_failure(struct hfs_fwd_metric *m)
{
	atomic_fetch_add_explicit(&m->hc_fail, 1, memory_order_relaxed);
}

void hfs_fwd_count_conn(struct hfs_fwd_metric *m, int proto, int hit)
{
	atomic_fetch_add_explicit(hit ? &m->hits[proto & 1] : &m->misses[proto & 1], 1,
				  memory_order_relaxed);
}

void hfs_fwd_count_broken(void)
{
	atomic_fetch_add_explicit(&broken, 1, memory_order_relaxed);
}

void hfs_fwd_count_reject(void)
{
	atomic_fetch_add_explicit(&rejects, 1, memory_order_relaxed);
}

/* fwdq.c: a UDP forward answered SERVFAIL because the pool was full */
void hfs_forward_count_queue_full(void)
{
	atomic_fetch_add_explicit(&queue_full, 1, memory_order_relaxed);
}

typedef int (*emit_fn)(void *, const char *, size_t);

static int out(emit_fn fn, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int out(emit_fn fn, void *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return 0; /* an absurd label: skip the line */
	return fn(ctx, line, (size_t)n);
}

/* Every slot in use, overflow last when it saw anything. */
static int collect(struct hfs_fwd_metric **list)
{
	int n = atomic_load(&nslots);
	for (int i = 0; i < n; i++)
		list[i] = slots[i];
	return n;
}

static int histograms(emit_fn fn, void *ctx, struct hfs_fwd_metric **list, int n)
{
	int any = 0, ret = 0;
	for (int i = 0; i < n; i++)
		for (int r = 0; r < NRC; r++)
			any |= atomic_load(&list[i]->used[r]) != 0;
	if (!any)
		return 0;
	ret |= out(fn, ctx, "# HELP coredns_proxy_request_duration_seconds Histogram of the time each request took.\n"
			   "# TYPE coredns_proxy_request_duration_seconds histogram\n");
	for (int i = 0; i < n; i++) {
		struct hfs_fwd_metric *m = list[i];
		for (int r = 0; r < NRC; r++) {
			unsigned long long cnt = atomic_load(&m->used[r]);
			if (cnt == 0)
				continue;
			for (int b = 0; b < NBUCKET; b++)
				ret |= out(fn, ctx,
					   "coredns_proxy_request_duration_seconds_bucket{proxy_name=\"forward\",rcode=\"%s\",to=\"%s\",le=\"%s\"} %llu\n",
					   rc_names[r], m->to, le[b], atomic_load(&m->bucket[r][b]));
			ret |= out(fn, ctx,
				   "coredns_proxy_request_duration_seconds_bucket{proxy_name=\"forward\",rcode=\"%s\",to=\"%s\",le=\"+Inf\"} %llu\n"
				   "coredns_proxy_request_duration_seconds_sum{proxy_name=\"forward\",rcode=\"%s\",to=\"%s\"} %.9g\n"
				   "coredns_proxy_request_duration_seconds_count{proxy_name=\"forward\",rcode=\"%s\",to=\"%s\"} %llu\n",
				   rc_names[r], m->to, cnt, rc_names[r], m->to,
				   (double)atomic_load(&m->sum_ns[r]) / 1e9, rc_names[r], m->to, cnt);
		}
	}
	return ret;
}

static int per_upstream(emit_fn fn, void *ctx, struct hfs_fwd_metric **list, int n)
{
	static const char *const proto[2] = {"udp", "tcp"};
	int ret = 0, any_hc = 0, any_hit = 0, any_miss = 0;
	for (int i = 0; i < n; i++) {
		any_hc |= atomic_load(&list[i]->hc_fail) != 0;
		for (int p = 0; p < 2; p++) {
			any_hit |= atomic_load(&list[i]->hits[p]) != 0;
			any_miss |= atomic_load(&list[i]->misses[p]) != 0;
		}
	}
	if (any_hc) {
		ret |= out(fn, ctx, "# HELP coredns_proxy_healthcheck_failures_total Counter of the number of failed healthchecks.\n"
				   "# TYPE coredns_proxy_healthcheck_failures_total counter\n");
		for (int i = 0; i < n; i++)
			if (atomic_load(&list[i]->hc_fail) != 0)
				ret |= out(fn, ctx, "coredns_proxy_healthcheck_failures_total{proxy_name=\"forward\",to=\"%s\"} %llu\n",
					   list[i]->to, atomic_load(&list[i]->hc_fail));
	}
	for (int kind = 0; kind < 2; kind++) {
		if (!(kind ? any_miss : any_hit))
			continue;
		const char *name = kind ? "misses" : "hits";
		ret |= out(fn, ctx, "# HELP coredns_proxy_conn_cache_%s_total Counter of connection cache %s per upstream and protocol.\n"
				   "# TYPE coredns_proxy_conn_cache_%s_total counter\n", name, name, name);
		for (int i = 0; i < n; i++)
			for (int p = 0; p < 2; p++) {
				unsigned long long v = atomic_load(kind ? &list[i]->misses[p] : &list[i]->hits[p]);
				if (v != 0)
					ret |= out(fn, ctx, "coredns_proxy_conn_cache_%s_total{proto=\"%s\",proxy_name=\"forward\",to=\"%s\"} %llu\n",
						   name, proto[p], list[i]->to, v);
			}
	}
	return ret;
}

int hfs_forward_metrics(int (*fn)(void *, const char *, size_t), void *ctx)
{
	if (fn == NULL)
		return HF_EINVAL;
	struct hfs_gen *g = hfs_gen_acquire();
	int configured = g != NULL && hf_forward_count(g->engine) > 0;
	hfs_gen_release(g);
	if (!configured && !atomic_load(&enabled))
		return HF_EOK;
	struct hfs_fwd_metric *list[NSLOTS + 1];
	int n = collect(list);
	int ovf = 0;
	for (int r = 0; r < NRC; r++)
		ovf |= atomic_load(&overflow.used[r]) != 0;
	if (ovf || atomic_load(&overflow.hc_fail)) {
		snprintf(overflow.to, sizeof(overflow.to), "other");
		list[n++] = &overflow;
	}
	int ret = out(fn, ctx,
		      "# HELP coredns_forward_healthcheck_broken_total Counter of the number of complete failures of the healthchecks.\n"
		      "# TYPE coredns_forward_healthcheck_broken_total counter\n"
		      "coredns_forward_healthcheck_broken_total %llu\n"
		      "# HELP coredns_forward_max_concurrent_rejects_total Counter of the number of queries rejected because the concurrent queries were at maximum.\n"
		      "# TYPE coredns_forward_max_concurrent_rejects_total counter\n"
		      "coredns_forward_max_concurrent_rejects_total %llu\n"
		      "# HELP holdfast_forward_queue_full_total Forwarded queries answered SERVFAIL because the forward pool was full.\n"
		      "# TYPE holdfast_forward_queue_full_total counter\n"
		      "holdfast_forward_queue_full_total %llu\n",
		      atomic_load(&broken), atomic_load(&rejects), atomic_load(&queue_full));
	ret |= histograms(fn, ctx, list, n);
	ret |= per_upstream(fn, ctx, list, n);
	return ret != 0 ? HF_EIO : HF_EOK;
}
