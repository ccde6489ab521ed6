/*
 * engine_stats.h: per-query accounting behind CoreDNS's core metrics
 * (spec section 8: coredns_dns_requests_total, _request_duration_seconds,
 * _request_size_bytes, _response_size_bytes, _do_requests_total,
 * _responses_total).
 *
 * Design: every hf_worker_t owns one hfi_wstats_t, written only by the
 * worker's thread (relaxed load + store, no locked instruction and no
 * shared cache line on the answer path) and allocated when the worker is
 * created, so counting never allocates.  A worker's counters are split in
 * "slots", one per (listener, zone) label pair: slot base[listener] + i is
 * the listener's route i, base[listener] + nroutes is zone "dropped" (the
 * queries CoreDNS reports from errorAndMetricsFunc: no zone, no plugins,
 * class refused, no question).  Only blocks that load `prometheus` are
 * counted (the metrics plugin records them), "dropped" always.  A scrape
 * sums the slots of every live worker plus those of freed workers (folded
 * into the engine's block when a worker goes away).
 *
 * The answer path calls: hfi_stats_begin (hf_answer entry), sets
 * w->st_slot while routing, hfi_stats_reply when the engine wrote the
 * reply, or leaves it pending for an HF_FORWARD verdict, which
 * hfi_stats_forwarded settles from hf_forward_reply (the duration then
 * runs until the upstream's reply came back).
 */
#ifndef HF_ENGINE_STATS_H
#define HF_ENGINE_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast.h"

#define HFI_ST_TYPES 20      /* 19 named qtypes + "other" */
#define HFI_ST_DUR_BUCKETS 16
#define HFI_ST_SIZE_BUCKETS 14
#define HFI_ST_RCODES 24
#define HFI_ST_PLUGINS 16

typedef _Atomic uint64_t hfi_ctr_t;

typedef struct hfi_hist {
	hfi_ctr_t b[HFI_ST_DUR_BUCKETS + 1]; /* per bucket (not cumulative); last = +Inf only */
	hfi_ctr_t count, sum;                /* sum: ns for durations, bytes for sizes */
} hfi_hist_t;

typedef struct hfi_stat_slot {
	hfi_ctr_t requests[2][2][HFI_ST_TYPES]; /* [udp/tcp][v4/v6][type] */
	hfi_ctr_t do_requests;
	hfi_hist_t duration;
	hfi_hist_t req_size[2], resp_size[2];   /* [udp/tcp] */
	hfi_ctr_t responses[HFI_ST_RCODES][HFI_ST_PLUGINS];
} hfi_stat_slot_t;

/* One worker's counters. */
typedef struct hfi_wstats {
	hfi_ctr_t queries[2][2]; /* every query hf_answer saw: [udp/tcp][v4/v6] */
	hfi_ctr_t drops, forwards;
	size_t nslots;
	hfi_stat_slot_t slot[];
} hfi_wstats_t;

struct hf_engine;
struct hf_worker;
struct hfi_route;

/* At hf_engine_open after the listeners exist / at hf_engine_close. */
int hfi_stats_init(struct hf_engine *e);
void hfi_stats_free(struct hf_engine *e);
/* hf_worker_new; hf_worker_free folds the worker's counters into the
 * engine's with workers_lock held (as it unlists the worker), then frees. */
hfi_wstats_t *hfi_stats_worker_new(struct hf_engine *e);
void hfi_stats_worker_fold(struct hf_engine *e, const hfi_wstats_t *ws);

/* Slot of a route (-1 when its block has no prometheus), of "dropped". */
int hfi_stats_route_slot(const struct hf_engine *e, int listener, const struct hfi_route *r);
int hfi_stats_dropped_slot(const struct hf_engine *e, int listener);

/* Answer path hooks (the calling worker's counters). */
void hfi_stats_begin(struct hf_worker *w);
void hfi_stats_reply(struct hf_worker *w, int rcode, const char *plugin, size_t resp_len);
void hfi_stats_forwarded(struct hf_worker *w, const uint8_t *reply, size_t rlen);
void hfi_stats_bump(hfi_ctr_t *c);

/* After a reload: add what prev counted since the previous call (all of
 * it the first time) to next's counters, slot by slot where server and
 * zone match (Prometheus counters of a process do not restart with a new
 * config).  Called at the swap and again when prev is closed. */
int hfi_stats_inherit(struct hf_engine *next, struct hf_engine *prev);

/* Totals for the admin status line. */
void hfi_stats_totals(struct hf_engine *e, uint64_t *queries, uint64_t *drops,
		      uint64_t *forwards);

/* Prometheus text of the core DNS families through fn. */
int hfi_stats_write(struct hf_engine *e, int (*fn)(void *ctx, const char *data, size_t len),
		    void *ctx);

#endif
