/*
 * engine_metrics.c: Prometheus text exposition of the engine's counters
 * under CoreDNS's metric names (spec section 8), and holdfast's own
 * (serve-stale, API client, memory region).  The per-listener label
 * set is simplified: server = the first listener, zone = ".".
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "engine_int.h"

static const char *rcode_name(int rc)
{
	static const char *names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
				      "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
				      "NOTZONE"};
	if (rc >= 0 && rc < (int)(sizeof(names) / sizeof(names[0])))
		return names[rc];
	return rc == 16 ? "BADVERS" : NULL;
}

/* One formatted chunk (up to 511 bytes) to fn. */
static int emit(int (*fn)(void *, const char *, size_t), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int emit(int (*fn)(void *, const char *, size_t), void *ctx, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return HF_EINVAL;
	return fn(ctx, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* holdfast's own: the `memory` region (issue 5).  Without `memory` the
 * region gauges are 0 and nothing is refused. */
static int metrics_memory(hf_engine_t *e, int (*fn)(void *, const char *, size_t), void *ctx)
{
	hfi_engine_mem_stats_t ms;
	hfi_engine_memory_stats(e, &ms);
	const struct {
		const char *name, *type, *help;
		unsigned long long v;
	} m[] = {
		{"holdfast_memory_region_bytes", "gauge",
		 "Size of the preallocated memory region (`memory`; 0 = not set).", ms.region},
		{"holdfast_memory_used_bytes", "gauge", "Bytes of the region in use.", ms.used},
		{"holdfast_memory_peak_bytes", "gauge", "Highest use of the region since start.", ms.peak},
		{"holdfast_memory_reserve_bytes", "gauge",
		 "Bytes of the region kept free for the next index build.", ms.reserve},
		{"holdfast_memory_pinned", "gauge", "1 if the region is locked in RAM (mlock).",
		 ms.pinned ? 1 : 0},
		{"holdfast_memory_allocation_failures_total", "counter",
		 "Allocations the region refused.", ms.alloc_failures},
		{"holdfast_objects_refused_total", "counter",
		 "Kubernetes objects not stored for lack of memory.", ms.objects_refused},
		{"holdfast_index_rebuild_failures_total", "counter",
		 "Index builds that ran out of memory (the previous index stayed).", ms.rebuild_failures},
	};
	int ret = 0;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]) && ret == 0; i++)
		ret = emit(fn, ctx, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m[i].name, m[i].help,
			   m[i].name, m[i].type, m[i].name, m[i].v);
	return ret;
}

int hfi_engine_metrics(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
	char buf[512];
	const char *server = e->nlisteners ? e->listeners[0].server : "dns://:53";
	int n = snprintf(buf, sizeof(buf),
			 "# HELP coredns_build_info A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.\n"
			 "# TYPE coredns_build_info gauge\n"
			 "coredns_build_info{goversion=\"none\",revision=\"holdfast\",version=\"%s\"} 1\n"
			 "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n"
			 "# TYPE coredns_dns_requests_total counter\n",
			 hf_version());
	int ret = fn(ctx, buf, (size_t)n);
	if (ret != 0)
		return ret;
	for (int p = 0; p < 2; p++) {
		for (int f = 0; f < 2; f++) {
			uint64_t v = atomic_load(&e->counters.requests[p][f]);
			n = snprintf(buf, sizeof(buf),
				     "coredns_dns_requests_total{family=\"%d\",proto=\"%s\",server=\"%s\",type=\"other\",view=\"\",zone=\".\"} %llu\n",
				     f + 1, p ? "tcp" : "udp", server, (unsigned long long)v);
			if ((ret = fn(ctx, buf, (size_t)n)) != 0)
				return ret;
		}
	}
	n = snprintf(buf, sizeof(buf),
		     "# HELP coredns_dns_responses_total Counter of response status codes.\n"
		     "# TYPE coredns_dns_responses_total counter\n");
	if ((ret = fn(ctx, buf, (size_t)n)) != 0)
		return ret;
	for (int rc = 0; rc < 23; rc++) {
		uint64_t v = atomic_load(&e->counters.rcodes[rc]);
		const char *name = rcode_name(rc);
		if (name == NULL || (v == 0 && rc != 0))
			continue;
		n = snprintf(buf, sizeof(buf),
			     "coredns_dns_responses_total{plugin=\"\",rcode=\"%s\",server=\"%s\",view=\"\",zone=\".\"} %llu\n",
			     name, server, (unsigned long long)v);
		if ((ret = fn(ctx, buf, (size_t)n)) != 0)
			return ret;
	}
	n = snprintf(buf, sizeof(buf),
		     "# HELP coredns_panics_total A metrics that counts the number of panics.\n"
		     "# TYPE coredns_panics_total counter\n"
		     "coredns_panics_total 0\n");
	if ((ret = fn(ctx, buf, (size_t)n)) != 0)
		return ret;
	if ((ret = metrics_memory(e, fn, ctx)) != 0)
		return ret;
	return hfi_engine_metrics_live(e, fn, ctx);
}

/* holdfast's own: serve-stale state, deletion guard, API load, snapshots. */
int hfi_engine_metrics_live(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
	static const char *res_names[HFI_RES_COUNT] = {"namespaces", "services", "endpointslices", "pods"};
	static const char *states[] = {"SYNCING", "LIVE", "STALE", "EXPIRED"};
	int ret = 0;
	bool header = false;
	for (size_t bi = 0; bi < e->cfg->nblocks && ret == 0; bi++) {
		hfi_k8s_inst_t *inst = &e->k8s[bi];
		if (inst->store == NULL)
			continue;
		if (!header) {
			ret = emit(fn, ctx, "# HELP holdfast_kubernetes_state Serve-stale state of each kubernetes plugin instance (1 = current).\n"
				   "# TYPE holdfast_kubernetes_state gauge\n");
			header = true;
		}
		int st = atomic_load(&inst->state);
		for (int i = 0; i < 4 && ret == 0; i++)
			ret = emit(fn, ctx, "holdfast_kubernetes_state{instance=\"%zu\",state=\"%s\"} %d\n",
				   bi, states[i], st == i);
	}
	if (ret != 0 || !header)
		return ret;
	ret = emit(fn, ctx, "# HELP holdfast_index_rebuilds_total Index generations built and published.\n"
		   "# TYPE holdfast_index_rebuilds_total counter\n");
	for (size_t bi = 0; bi < e->cfg->nblocks && ret == 0; bi++)
		if (e->k8s[bi].store != NULL)
			ret = emit(fn, ctx, "holdfast_index_rebuilds_total{instance=\"%zu\"} %llu\n", bi,
				   (unsigned long long)e->k8s[bi].rebuilds);
	for (size_t bi = 0; bi < e->cfg->nblocks && ret == 0; bi++) {
		hfi_k8s_inst_t *inst = &e->k8s[bi];
		if (inst->sync == NULL)
			continue;
		hfi_sync_stats_t ss;
		hfi_sync_get_stats(inst->sync, &ss);
		ret = emit(fn, ctx,
			   "# HELP holdfast_deletion_guard_trips_total Relists or deletion bursts the deletion guard held back.\n"
			   "# TYPE holdfast_deletion_guard_trips_total counter\n"
			   "holdfast_deletion_guard_trips_total{instance=\"%zu\"} %llu\n"
			   "# HELP holdfast_deletion_guard_held_total Object deletions the guard held back.\n"
			   "# TYPE holdfast_deletion_guard_held_total counter\n"
			   "holdfast_deletion_guard_held_total{instance=\"%zu\"} %llu\n"
			   "# HELP holdfast_stale_entered_total Transitions from LIVE to STALE.\n"
			   "# TYPE holdfast_stale_entered_total counter\n"
			   "holdfast_stale_entered_total{instance=\"%zu\"} %llu\n",
			   bi, (unsigned long long)ss.guard_trips, bi,
			   (unsigned long long)ss.held_deletions, bi,
			   (unsigned long long)ss.stale_entered);
		if (ret != 0 || inst->api == NULL)
			continue;
		hfi_api_stats_t as;
		hfi_api_get_stats(inst->api, &as);
		ret = emit(fn, ctx, "# HELP holdfast_api_requests_total Requests sent to the Kubernetes API.\n"
			   "# TYPE holdfast_api_requests_total counter\n");
		for (int r = 0; r < HFI_RES_COUNT && ret == 0; r++)
			for (int v = 0; v < 2 && ret == 0; v++)
				ret = emit(fn, ctx, "holdfast_api_requests_total{instance=\"%zu\",resource=\"%s\",verb=\"%s\"} %llu\n",
					   bi, res_names[r], v ? "watch" : "list",
					   (unsigned long long)as.requests[r][v]);
		if (ret == 0)
			ret = emit(fn, ctx, "# HELP holdfast_api_relists_total Full relists after the first list.\n"
				   "# TYPE holdfast_api_relists_total counter\n");
		for (int r = 0; r < HFI_RES_COUNT && ret == 0; r++)
			ret = emit(fn, ctx, "holdfast_api_relists_total{instance=\"%zu\",resource=\"%s\"} %llu\n",
				   bi, res_names[r], (unsigned long long)as.relists[r]);
	}
	return ret;
}
