/*
 * engine_metrics.c: the engine's Prometheus text exposition: CoreDNS's
 * build info, panics, plugin_enabled, the per-query families
 * (engine_stats.c), the cache and hosts families (their modules), and
 * holdfast's own (memory region, serve-stale, API client), one HELP/TYPE
 * per family.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "engine_int.h"
#include "metrics_emit.h"
#include "plugins.h"

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
		ret = hfi_metrics_emit(fn, ctx, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m[i].name, m[i].help,
			   m[i].name, m[i].type, m[i].name, m[i].v);
	return ret;
}

/* coredns_plugin_enabled: metrics' OnStartup sets it for every handler of
 * a block that loads prometheus, per listen host and server key. */
static int metrics_plugins(hf_engine_t *e, int (*fn)(void *, const char *, size_t), void *ctx)
{
	bool any = false;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		any |= e->cfg->blocks[bi].has_prometheus;
	if (!any)
		return 0; /* no series: no HELP/TYPE either (client_golang) */
	int ret = hfi_metrics_emit(fn, ctx, "# HELP coredns_plugin_enabled A metric that indicates whether a plugin is enabled on per server and zone basis.\n"
		       "# TYPE coredns_plugin_enabled gauge\n");
	for (size_t bi = 0; bi < e->cfg->nblocks && ret == 0; bi++) {
		const hfi_block_t *b = &e->cfg->blocks[bi];
		if (!b->has_prometheus)
			continue;
		for (size_t k = 0; k < b->nkeys && ret == 0; k++) {
			if (b->keys[k].scheme != HFI_SCHEME_DNS)
				continue;
			size_t nh = b->bind.n ? b->bind.n : 1;
			for (size_t h = 0; h < nh && ret == 0; h++) {
				const char *host = b->bind.n ? b->bind.v[h] : "";
				char server[300];
				if (strchr(host, ':') != NULL)
					snprintf(server, sizeof(server), "dns://[%s]:%u", host, b->keys[k].port);
				else
					snprintf(server, sizeof(server), "dns://%s:%u", host, b->keys[k].port);
				for (size_t p = 0; p < b->nplugins && ret == 0; p++) {
					const char *name = b->plugins[p].name;
					bool dup = !hfi_plugin_is_handler(name);
					for (size_t j = 0; j < p && !dup; j++)
						dup = strcmp(b->plugins[j].name, name) == 0;
					if (!dup)
						ret = hfi_metrics_emit(fn, ctx, "coredns_plugin_enabled{name=\"%s\",server=\"%s\",view=\"\",zone=\"%s\"} 1\n",
							   name, server, b->keys[k].zone);
				}
			}
		}
	}
	return ret;
}

int hfi_engine_metrics(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
	int ret = hfi_metrics_emit(fn, ctx,
		       "# HELP coredns_build_info A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.\n"
		       "# TYPE coredns_build_info gauge\n"
		       "coredns_build_info{goversion=\"none\",revision=\"holdfast\",version=\"%s\"} 1\n"
		       "# HELP coredns_panics_total A metrics that counts the number of panics.\n"
		       "# TYPE coredns_panics_total counter\n"
		       "coredns_panics_total 0\n",
		       hf_version());
	if (ret == 0)
		ret = hfi_stats_write(e, fn, ctx); /* coredns_dns_* (engine_stats.c) */
	if (ret == 0)
		ret = metrics_plugins(e, fn, ctx);
	if (ret == 0)
		ret = hfi_cache_metrics(e, fn, ctx); /* cache_metrics.c */
	if (ret == 0)
		ret = hfi_hosts_metrics(e, fn, ctx); /* plugin_hosts.c */
	if (ret == 0)
		ret = metrics_memory(e, fn, ctx);
	if (ret == 0)
		ret = hfi_engine_metrics_live(e, fn, ctx);
	return ret;
}

/* holdfast's own: serve-stale state, deletion guard, API load.  One HELP
 * and TYPE per family, then a series per kubernetes instance. */
int hfi_engine_metrics_live(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
	static const char *res_names[HFI_RES_COUNT] = {"namespaces", "services", "endpointslices", "pods"};
	static const char *states[] = {"SYNCING", "LIVE", "STALE", "EXPIRED"};
	size_t nb = e->cfg->nblocks;
	bool any_store = false, any_sync = false, any_api = false;
	for (size_t bi = 0; bi < nb; bi++) {
		any_store |= e->k8s[bi].store != NULL;
		any_sync |= e->k8s[bi].store != NULL && e->k8s[bi].sync != NULL;
		any_api |= e->k8s[bi].store != NULL && e->k8s[bi].sync != NULL && e->k8s[bi].api != NULL;
	}
	if (!any_store)
		return 0;
	int ret = hfi_metrics_emit(fn, ctx, "# HELP holdfast_kubernetes_state Serve-stale state of each kubernetes plugin instance (1 = current).\n"
		       "# TYPE holdfast_kubernetes_state gauge\n");
	for (size_t bi = 0; bi < nb && ret == 0; bi++) {
		if (e->k8s[bi].store == NULL)
			continue;
		int st = atomic_load(&e->k8s[bi].state);
		for (int i = 0; i < 4 && ret == 0; i++)
			ret = hfi_metrics_emit(fn, ctx, "holdfast_kubernetes_state{instance=\"%zu\",state=\"%s\"} %d\n",
				   bi, states[i], st == i);
	}
	if (ret == 0)
		ret = hfi_metrics_emit(fn, ctx, "# HELP holdfast_index_rebuilds_total Index generations built and published.\n"
			   "# TYPE holdfast_index_rebuilds_total counter\n");
	for (size_t bi = 0; bi < nb && ret == 0; bi++)
		if (e->k8s[bi].store != NULL)
			ret = hfi_metrics_emit(fn, ctx, "holdfast_index_rebuilds_total{instance=\"%zu\"} %llu\n", bi,
				   (unsigned long long)e->k8s[bi].rebuilds);
	if (ret != 0 || !any_sync)
		return ret;
	static const struct {
		const char *name, *help;
	} sf[3] = {
		{"holdfast_deletion_guard_trips_total", "Relists or deletion bursts the deletion guard held back."},
		{"holdfast_deletion_guard_held_total", "Object deletions the guard held back."},
		{"holdfast_stale_entered_total", "Transitions from LIVE to STALE."},
	};
	for (int f = 0; f < 3 && ret == 0; f++) {
		ret = hfi_metrics_emit(fn, ctx, "# HELP %s %s\n# TYPE %s counter\n", sf[f].name, sf[f].help, sf[f].name);
		for (size_t bi = 0; bi < nb && ret == 0; bi++) {
			hfi_k8s_inst_t *inst = &e->k8s[bi];
			if (inst->store == NULL || inst->sync == NULL)
				continue;
			hfi_sync_stats_t ss;
			hfi_sync_get_stats(inst->sync, &ss);
			uint64_t v = f == 0 ? ss.guard_trips : f == 1 ? ss.held_deletions : ss.stale_entered;
			ret = hfi_metrics_emit(fn, ctx, "%s{instance=\"%zu\"} %llu\n", sf[f].name, bi,
				   (unsigned long long)v);
		}
	}
	if (ret != 0 || !any_api)
		return ret;
	for (int f = 0; f < 2 && ret == 0; f++) {
		ret = hfi_metrics_emit(fn, ctx, f == 0 ? "# HELP holdfast_api_requests_total Requests sent to the Kubernetes API.\n"
					     "# TYPE holdfast_api_requests_total counter\n"
					   : "# HELP holdfast_api_relists_total Full relists after the first list.\n"
					     "# TYPE holdfast_api_relists_total counter\n");
		for (size_t bi = 0; bi < nb && ret == 0; bi++) {
			hfi_k8s_inst_t *inst = &e->k8s[bi];
			if (inst->store == NULL || inst->sync == NULL || inst->api == NULL)
				continue;
			hfi_api_stats_t as;
			hfi_api_get_stats(inst->api, &as);
			for (int r = 0; r < HFI_RES_COUNT && ret == 0; r++) {
				if (f == 1) {
					ret = hfi_metrics_emit(fn, ctx, "holdfast_api_relists_total{instance=\"%zu\",resource=\"%s\"} %llu\n",
						   bi, res_names[r], (unsigned long long)as.relists[r]);
					continue;
				}
				for (int v = 0; v < 2 && ret == 0; v++)
					ret = hfi_metrics_emit(fn, ctx, "holdfast_api_requests_total{instance=\"%zu\",resource=\"%s\",verb=\"%s\"} %llu\n",
						   bi, res_names[r], v ? "watch" : "list",
						   (unsigned long long)as.requests[r][v]);
			}
		}
	}
	return ret;
}
