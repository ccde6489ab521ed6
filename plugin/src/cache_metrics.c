/*
 * cache_metrics.c: the cache plugin's Prometheus families (spec 5,
 * plugin/cache/metrics.go): one HELP/TYPE per family, then one series per
 * cache instance (and type), labels sorted as the Go client writes them
 * (server, type, view, zones; zones = the cache's zones joined by ",").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "engine_int.h"
#include "metrics_emit.h"

typedef int (*emit_fn)(void *, const char *, size_t);

static void zones_label(const hfi_cfg_cache_t *cfg, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < cfg->zones.n && o + 1 < cap; i++) {
		int n = snprintf(buf + o, cap - o, "%s%s", i ? "," : "", cfg->zones.v[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	if (o >= cap)
		buf[cap - 1] = '\0';
}

enum { F_ENTRIES, F_REQUESTS, F_HITS, F_MISSES, F_PREFETCH, F_DROPS, F_STALE, F_EVICT, F_N };

static const struct {
	const char *name, *type, *help;
	bool typed;
} fam[F_N] = {
	{"coredns_cache_entries", "gauge", "The number of elements in the cache.", true},
	{"coredns_cache_requests_total", "counter", "The count of cache requests.", false},
	{"coredns_cache_hits_total", "counter", "The count of cache hits.", true},
	{"coredns_cache_misses_total", "counter",
	 "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
	 false},
	{"coredns_cache_prefetch_total", "counter",
	 "The number of times the cache has prefetched a cached item.", false},
	{"coredns_cache_drops_total", "counter",
	 "The number responses that are not cached, because the reply is malformed.", false},
	{"coredns_cache_served_stale_total", "counter",
	 "The number of requests served from stale cache entries.", false},
	{"coredns_cache_evictions_total", "counter", "The count of cache evictions.", true},
};

static uint64_t value(const hfi_cache_stats_t *s, int f, int t)
{
	switch (f) {
	case F_ENTRIES: return s->entries[t];
	case F_REQUESTS: return s->requests;
	case F_HITS: return s->hits[t];
	case F_MISSES: return s->misses;
	case F_PREFETCH: return s->prefetch;
	case F_DROPS: return s->drops;
	case F_STALE: return s->stale;
	default: return s->evictions[t];
	}
}

int hfi_cache_metrics(struct hf_engine *e, int (*fn)(void *, const char *, size_t), void *ctx)
{
	if (e == NULL || e->caches == NULL || e->cfg == NULL)
		return 0;
	bool any = false;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		any = any || e->caches[bi] != NULL;
	if (!any)
		return 0;
	static const char *tname[2] = {"success", "denial"};
	for (int f = 0; f < F_N; f++) {
		int ret = hfi_metrics_emit(fn, ctx, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
			      fam[f].name, fam[f].type);
		if (ret != 0)
			return ret;
		for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
			const hfi_cache_t *c = e->caches[bi];
			if (c == NULL)
				continue;
			hfi_cache_stats_t s;
			hfi_cache_stats(c, &s);
			char zones[512];
			zones_label(hfi_cache_cfg(c), zones, sizeof(zones));
			for (int t = 0; t < (fam[f].typed ? 2 : 1); t++) {
				/* the Go client orders types by label value: denial first */
				int tt = fam[f].typed ? 1 - t : 0;
				if (fam[f].typed)
					ret = hfi_metrics_emit(fn, ctx, "%s{server=\"%s\",type=\"%s\",view=\"\",zones=\"%s\"} %llu\n",
						  fam[f].name, hfi_cache_server(c), tname[tt], zones,
						  (unsigned long long)value(&s, f, tt));
				else
					ret = hfi_metrics_emit(fn, ctx, "%s{server=\"%s\",view=\"\",zones=\"%s\"} %llu\n",
						  fam[f].name, hfi_cache_server(c), zones,
						  (unsigned long long)value(&s, f, 0));
				if (ret != 0)
					return ret;
			}
		}
	}
	return 0;
}
