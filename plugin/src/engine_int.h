/*
 * engine_int.h: the engine object behind the public hf_engine_t handle and
 * the per-thread hf_worker_t.
 *
 * Data flows one way: sources (manifest files) -> object store (one per
 * kubernetes plugin instance) -> index (hfi_k8s_index_t, immutable, read
 * by every worker through an atomic pointer so a rebuilt one can be swapped
 * in) -> answers (engine_answer.c).  Listeners group server blocks by
 * (bind address, port); a query is routed to the block with the longest
 * matching zone on its listener (spec section 2).
 */
#ifndef HF_ENGINE_INT_H
#define HF_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "config.h"
#include "dname.h"
#include "engine_stats.h"
#include "holdfast.h"
#include "k8s.h"
#include "msg.h"
#include "objects.h"
#include "plugins.h"
#include "query.h"
#include "sync.h"

typedef struct hfi_api hfi_api_t;

/* One kubernetes plugin instance: its store, the published index, and for
 * a live source the sync (serve-stale state) and the API client. */
typedef struct hfi_k8s_inst {
	hfi_store_t *store;
	_Atomic(hfi_k8s_index_t *) index;
	hfi_sync_t *sync;       /* NULL for manifest-only instances (always LIVE) */
	hfi_api_t *api;
	_Atomic int state;      /* enum hfi_sync_state, refreshed by the maintenance thread */
	hfi_ip_t self[16];      /* own addresses for NS answers */
	size_t nself;
	uint64_t rebuilds, snapshots, restored;
	bool snapshot_due;
	int64_t last_snapshot_ms;
	/* memory (issue 5) */
	struct hfi_arena_gen *gen; /* arena generation the published index lives in, or NULL */
	size_t index_bytes;     /* region bytes the last index build took (admission reserve) */
	bool rebuild_pending;   /* the last rebuild failed (out of memory): retry */
	int64_t rebuild_retry_ms;
	/* rebuild pacing under churn (issue 8, engine_sync.c) */
	bool build_due;         /* the store changed since the published index */
	int64_t build_next_ms;  /* no rebuild before this (duty-cycle bound) */
	int64_t build_last_ms;  /* how long the last build took */
	uint64_t rebuild_failures;
} hfi_k8s_inst_t;

/* A zone served on a listener and the block that serves it. */
typedef struct hfi_route {
	uint8_t zone[HFI_DNAME_MAX + 1]; /* lower-case wire */
	int labels;
	size_t block;
} hfi_route_t;

typedef struct hfi_listener {
	char addr[64];          /* "" = every address */
	uint16_t port;
	hfi_route_t *routes;
	size_t nroutes;
	char server[96];        /* metrics label, "dns://:53" */
	bool any_class;         /* a block here has forward or chaos: classes other than IN pass */
} hfi_listener_t;

struct hf_engine {
	hfi_config_t *cfg;
	hfi_k8s_inst_t *k8s;    /* one per block; store NULL when the block has no kubernetes */
	hfi_listener_t *listeners;
	size_t nlisteners;
	unsigned flags;
	int64_t started_ms;
	/* readers: every worker, for reclaiming retired indexes (engine_sync.c) */
	_Atomic uint64_t epoch;
	pthread_mutex_t workers_lock;
	hf_worker_t **workers;
	size_t nworkers, workers_cap;
	struct { hfi_k8s_index_t *ix; uint64_t tag; } retired[64];
	size_t nretired;
	/* maintenance thread */
	pthread_t maint_thread;
	pthread_mutex_t maint_lock;
	pthread_cond_t maint_cond;
	bool maint_stop, maint_running;
	/* memory (issue 5): the `memory SIZE` region (engine_memory.c) */
	struct hfi_arena *arena;        /* NULL without `memory`: plain malloc */
	size_t region_bytes;            /* its size */
	_Atomic uint64_t admission_refused; /* store allocations refused to keep the reserve */
	hf_mm_t arena_mm;               /* the region's main arena */
	hf_mm_t store_mm;               /* object stores: admission control over arena_mm */
	struct hfi_arena_gen *retired_gen[64]; /* generation of retired[i].ix, or NULL */
	pthread_mutex_t rebuild_lock;   /* index build, publish and reclaim */
	_Atomic uint64_t objects_refused;   /* store allocations refused (one per refused object) */
	_Atomic uint64_t rebuild_failures;  /* index builds that ran out of memory */
	_Atomic size_t index_pub;       /* region bytes of the published indexes (sum) */
	_Atomic unsigned index_ratio;   /* index bytes per 1000 object bytes (last build), 0 = unknown */
	/* break-glass (issue 7): admin state (admin.c, created by
	 * hfi_admin_init or the first hf_admin) and the two immutable tables
	 * the answer path reads (admin.h), reclaimed by epoch like the index */
	_Atomic(struct hfi_admin *) admin;
	_Atomic(struct hfi_ovr_table *) overrides;   /* NULL = none */
	_Atomic(struct hfi_limit_table *) limits;    /* NULL = none */
	/* metrics: per-worker query accounting, labels and folded counters (engine_stats.c) */
	struct hfi_stats_eng *stats;
	/* hosts, loop, errors runtime state (plugins.h) */
	struct hfi_plugins *plug;
	/* cache plugin (cache.h): one per block, NULL where the block has none */
	hfi_cache_t **caches;
};

struct hf_worker {
	hf_engine_t *e;
	_Atomic uint64_t active;  /* epoch at entry to hf_answer, 0 when idle */
	hfi_query_t q;
	const hfi_cfg_forward_t *fwd; /* set by an HF_FORWARD verdict */
	unsigned fwd_seed;
	int listener;           /* of the query being answered */
	bool chase;             /* HF_FORWARD for an ExternalName target (engine_chase.c) */
	size_t chase_qlen;
	uint8_t chase_q[HFI_DNAME_MAX + 64];
	hfi_query_t chase_route;
	/* break-glass (issue 7): an override CNAME's target asked of the
	 * cluster data (engine_chase.c); the name has overrides of other types */
	bool ovr_name;
	uint8_t ovr_q[HFI_DNAME_MAX + 64];
	hfi_query_t ovr_route;
	/* metrics (engine_stats.h): this worker's counters and the query in flight */
	struct hfi_wstats *stats;
	int st_slot;            /* label slot of the current query, -1 = not counted */
	bool st_pending, st_tcp; /* HF_FORWARD: recorded by hf_forward_reply */
	const char *st_plugin;  /* plugin label for a forwarded reply */
	uint64_t st_start_ns;
	hfi_plug_worker_t pw;   /* log/loadbalance scratch of the query in flight (plugins.h) */
	hfi_cache_w_t cw;       /* cache plugin state of this query (cache.h) */
	hfi_resp_t resp;        /* large: keep last */
};

/* engine_answer.c */
int hfi_engine_answer(hf_worker_t *w, int listener, const uint8_t *query, size_t qlen,
		      const struct sockaddr *client, int transport, uint8_t *out,
		      size_t cap, size_t *outlen);
/* engine_answer.c: routing and forward selection, shared with the chase */
const hfi_route_t *hfi_engine_route(const hfi_listener_t *l, const hfi_query_t *q);
const hfi_cfg_forward_t *hfi_engine_forward_for(const hfi_block_t *b, const hfi_query_t *q);
/* engine_chase.c */
bool hfi_chase_prepare(hf_worker_t *w, const hfi_cfg_forward_t **fwd);
int hfi_chase_reply(hf_worker_t *w, const uint8_t *reply, size_t rlen, uint8_t *out, size_t cap,
		    size_t *outlen);
/* engine_sync.c */
int64_t hfi_engine_now_ms(void);
/* engine_sync.c: true while a worker that entered hf_answer before the
 * retirement tagged tag may still read what was retired (epoch scheme
 * shared by the k8s index and the plugins' tables). */
bool hfi_engine_tag_in_use(struct hf_engine *e, uint64_t tag);
int hfi_engine_rebuild(hf_engine_t *e, size_t bi);
int hfi_engine_maint_start(hf_engine_t *e);
void hfi_engine_maint_stop(hf_engine_t *e);
/* plugin_whoami.c: fill resp with the whoami answer for q from client. */
void hfi_whoami_answer(const hfi_query_t *q, const struct sockaddr *client, hfi_resp_t *resp);
/* engine_metrics.c */
int hfi_engine_metrics(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx);
int hfi_engine_metrics_live(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx);
/* memory (issue 5), engine_memory.c: the region behind `memory SIZE` */
int hfi_engine_memory_open(hf_engine_t *e, char *err, size_t errlen);
void hfi_engine_memory_close(hf_engine_t *e);
/* mm for a new object store (NULL = malloc) and for an index build (opens
 * a generation when one is free: *gen, else the main arena, NULL gen). */
const hf_mm_t *hfi_engine_store_mm(hf_engine_t *e);
const hf_mm_t *hfi_engine_index_mm(hf_engine_t *e, hf_mm_t *mm, struct hfi_arena_gen **gen);
/* Free an index built with hfi_engine_index_mm (its generation, or item by item). */
void hfi_engine_index_drop(hfi_k8s_index_t *ix, struct hfi_arena_gen *gen);
/* After a successful build: update the admission reserve's inputs from
 * the instances' index sizes (used_before: region use when it started). */
void hfi_engine_memory_reserve(hf_engine_t *e, size_t used_before);
size_t hfi_engine_memory_used(hf_engine_t *e);
typedef struct hfi_engine_mem_stats {
	bool configured, pinned;
	const char *backend;
	size_t region, used, peak, reserve;
	uint64_t alloc_failures, objects_refused, rebuild_failures;
} hfi_engine_mem_stats_t;
void hfi_engine_memory_stats(hf_engine_t *e, hfi_engine_mem_stats_t *out);

/* break-glass (issue 7), admin.c: hfi_admin_init() at the end of
 * hf_engine_open (loads saved overrides, reserves the command memory;
 * idempotent, failure is not fatal: the first hf_admin retries), and
 * hfi_admin_free() first thing in hf_engine_close (idempotent). */
struct hfi_admin;
struct hfi_ovr_table;
struct hfi_limit_table;
int hfi_admin_init(hf_engine_t *e);
void hfi_admin_free(hf_engine_t *e);

#endif
