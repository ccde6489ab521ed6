/*
 * engine_sync.c: keeps the answers of live kubernetes instances current.
 *
 * One maintenance thread per engine, every 100 ms: for each instance whose
 * sync reports a changed store, build a new index (under the sync lock,
 * so the store is consistent), publish it with an atomic pointer swap and
 * retire the old one.  Retired indexes are freed once no worker can still
 * hold them: a worker records the global epoch it entered hf_answer with
 * (0 when idle); an index retired at epoch E is freed when every worker
 * is idle or entered at E or later (the readers never block or wait).
 * The same thread writes snapshots every `snapshot INTERVAL` when the store
 * changed, and once more on close.
 *
 * Pacing (issue 8): under sustained churn the index would be rebuilt every
 * tick.  A rebuild is a full build (10k services: tens of ms), so after a
 * build that took T ms the next one waits at least REBUILD_SPACING x T
 * (at most REBUILD_MAX_WAIT_MS: the build thread spends about
 * 1 / (1 + REBUILD_SPACING) of a core on it, and answers lag the API by
 * at most that wait plus one build), and the
 * thread runs at nice REBUILD_NICE so that a worker sharing its CPU
 * preempts it at once.  A change after a quiet spell is built on the next
 * tick as before.
 *
 * With `memory SIZE` each index is built in an arena generation of its own
 * and reclaiming hands the generation back whole (engine_memory.c).  A
 * build that runs out of memory keeps the published index (the previous
 * answers), is logged and counted, and is retried every REBUILD_RETRY_MS.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "log.h"
#include "snapshot.h"

int64_t hfi_engine_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool hfi_engine_tag_in_use(hf_engine_t *e, uint64_t tag)
{
	bool used = false;
	pthread_mutex_lock(&e->workers_lock);
	for (size_t i = 0; i < e->nworkers && !used; i++) {
		uint64_t a = atomic_load(&e->workers[i]->active);
		used = a != 0 && a < tag;
	}
	pthread_mutex_unlock(&e->workers_lock);
	return used;
}

/* Free retired indexes no reader can hold any more (all: every one; the
 * caller holds rebuild_lock). */
static void reclaim(hf_engine_t *e, bool all)
{
	size_t keep = 0;
	for (size_t i = 0; i < e->nretired; i++) {
		if (all || !hfi_engine_tag_in_use(e, e->retired[i].tag)) {
			hfi_engine_index_drop(e->retired[i].ix, e->retired_gen[i]);
		} else {
			e->retired_gen[keep] = e->retired_gen[i];
			e->retired[keep++] = e->retired[i];
		}
	}
	e->nretired = keep;
}

/* Publish ix (built in generation gen, or NULL) for instance bi; the old
 * index is retired (caller holds rebuild_lock). */
static int publish(hf_engine_t *e, size_t bi, hfi_k8s_index_t *ix, struct hfi_arena_gen *gen)
{
	hfi_k8s_inst_t *inst = &e->k8s[bi];
	struct hfi_arena_gen *old_gen = inst->gen;
	hfi_k8s_index_t *old = atomic_exchange(&inst->index, ix);
	inst->gen = gen;
	uint64_t tag = atomic_fetch_add(&e->epoch, 1) + 1;
	if (old == NULL)
		return HF_EOK;
	if (e->nretired == sizeof(e->retired) / sizeof(e->retired[0])) {
		/* full: wait for readers (answers take microseconds) */
		while (hfi_engine_tag_in_use(e, tag)) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		hfi_engine_index_drop(old, old_gen);
		return HF_EOK;
	}
	e->retired[e->nretired].ix = old;
	e->retired[e->nretired].tag = tag;
	e->retired_gen[e->nretired] = old_gen;
	e->nretired++;
	return HF_EOK;
}

/* A rebuild that failed is retried this often while it keeps failing. */
#define REBUILD_RETRY_MS 1000
/* Under churn: wait this many times the last build's duration between
 * builds, and run the maintenance thread at this nice level. */
#define REBUILD_SPACING 4
#define REBUILD_MAX_WAIT_MS 1000
#define REBUILD_NICE 10

int hfi_engine_rebuild(hf_engine_t *e, size_t bi)
{
	hfi_k8s_inst_t *inst = &e->k8s[bi];
	const hfi_block_t *b = &e->cfg->blocks[bi];
	pthread_mutex_lock(&e->rebuild_lock);
	/* retired generations back first, so that this build gets one */
	reclaim(e, false);
	hf_mm_t mm;
	struct hfi_arena_gen *gen = NULL;
	const hf_mm_t *m = hfi_engine_index_mm(e, &mm, &gen);
	size_t before = hfi_engine_memory_used(e);
	if (inst->sync != NULL)
		hfi_sync_lock(inst->sync);
	hfi_k8s_index_t *ix = hfi_k8s_index_build(inst->store, b->kubernetes, inst->self,
						  inst->nself, m);
	if (inst->sync != NULL)
		hfi_sync_unlock(inst->sync);
	size_t after = hfi_engine_memory_used(e);
	if (ix == NULL) {
		hfi_engine_index_drop(NULL, gen);
		atomic_fetch_add(&e->rebuild_failures, 1);
		/* log the first failure of a streak; retries stay quiet */
		inst->rebuild_failures++;
		if (!inst->rebuild_pending)
			hfi_log(HFI_LOG_ERROR, "kubernetes", "cannot rebuild the index: out of memory%s; "
				"the previous answers stay, retrying every %d ms",
				e->arena != NULL ? " (memory region full)" : "", REBUILD_RETRY_MS);
		inst->rebuild_pending = true;
		inst->rebuild_retry_ms = hfi_engine_now_ms() + REBUILD_RETRY_MS;
		pthread_mutex_unlock(&e->rebuild_lock);
		return HF_ENOMEM;
	}
	if (inst->rebuild_pending)
		hfi_log(HFI_LOG_INFO, "kubernetes", "index rebuilt after running out of memory");
	inst->rebuild_pending = false;
	inst->index_bytes = after > before ? after - before : 0;
	inst->rebuilds++;
	int ret = publish(e, bi, ix, gen);
	hfi_engine_memory_reserve(e, before);
	reclaim(e, false); /* at once when no reader holds the old index (startup) */
	pthread_mutex_unlock(&e->rebuild_lock);
	return ret;
}

static void snapshot_now(hf_engine_t *e, size_t bi)
{
	hfi_k8s_inst_t *inst = &e->k8s[bi];
	const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
	char err[512] = "";
	hfi_sync_lock(inst->sync);
	int ret = hfi_snapshot_write(inst->store, k->snapshot_path, err, sizeof(err));
	hfi_sync_unlock(inst->sync);
	if (ret < 0)
		hfi_log(HFI_LOG_ERROR, "kubernetes", "snapshot %s: %s", k->snapshot_path, err);
	else
		inst->snapshots++;
}

static void *maintenance(void *arg)
{
	hf_engine_t *e = arg;
	/* background work: a worker that shares this CPU goes first */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), REBUILD_NICE);
	pthread_mutex_lock(&e->maint_lock);
	while (!e->maint_stop) {
		pthread_mutex_unlock(&e->maint_lock);
		int64_t now = hfi_engine_now_ms();
		for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
			hfi_k8s_inst_t *inst = &e->k8s[bi];
			if (inst->sync == NULL)
				continue;
			enum hfi_sync_state st = hfi_sync_state(inst->sync, now);
			atomic_store(&inst->state, (int)st);
			bool dirty = hfi_sync_take_dirty(inst->sync);
			if (dirty)
				inst->build_due = true;
			if ((inst->build_due && now >= inst->build_next_ms) ||
			    (inst->rebuild_pending && now >= inst->rebuild_retry_ms)) {
				inst->build_due = false;
				hfi_engine_rebuild(e, bi);
				int64_t done = hfi_engine_now_ms();
				inst->build_last_ms = done - now;
				int64_t wait = REBUILD_SPACING * inst->build_last_ms;
				inst->build_next_ms =
					done + (wait < REBUILD_MAX_WAIT_MS ? wait : REBUILD_MAX_WAIT_MS);
			}
			if (dirty)
				inst->snapshot_due = true;
			const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
			int64_t every = (int64_t)(k->snapshot_interval_s ? k->snapshot_interval_s : 60) * 1000;
			if (k->snapshot_path != NULL && inst->snapshot_due && st != HFI_SYNCING &&
			    now - inst->last_snapshot_ms >= every) {
				snapshot_now(e, bi);
				inst->snapshot_due = false;
				inst->last_snapshot_ms = now;
			}
		}
		hfi_plugins_maint(e, now); /* hosts reloads, errors consolidate (plugins.h) */
		pthread_mutex_lock(&e->rebuild_lock);
		reclaim(e, false);
		pthread_mutex_unlock(&e->rebuild_lock);
		pthread_mutex_lock(&e->maint_lock);
		if (e->maint_stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&e->maint_cond, &e->maint_lock, &ts);
	}
	pthread_mutex_unlock(&e->maint_lock);
	return NULL;
}

int hfi_engine_maint_start(hf_engine_t *e)
{
	if (pthread_create(&e->maint_thread, NULL, maintenance, e) != 0)
		return HF_ENOMEM;
	e->maint_running = true;
	return HF_EOK;
}

void hfi_engine_maint_stop(hf_engine_t *e)
{
	if (e->maint_running) {
		pthread_mutex_lock(&e->maint_lock);
		e->maint_stop = true;
		pthread_cond_signal(&e->maint_cond);
		pthread_mutex_unlock(&e->maint_lock);
		pthread_join(e->maint_thread, NULL);
		e->maint_running = false;
	}
	/* last snapshot of live data, then every retired index */
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++) {
		const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
		if (e->k8s[bi].sync != NULL && k->snapshot_path != NULL && e->k8s[bi].snapshot_due)
			snapshot_now(e, bi);
	}
	pthread_mutex_lock(&e->rebuild_lock);
	reclaim(e, true);
	pthread_mutex_unlock(&e->rebuild_lock);
}
