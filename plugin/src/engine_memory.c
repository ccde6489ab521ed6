/*
 * engine_memory.c: the engine's side of `memory SIZE` (issue 5): creates
 * the pinned region (arena.c) at hf_engine_open(), hands out the
 * allocators that put engine state in it, and keeps the statistics the
 * metrics and status report.
 *
 * Where memory comes from, with `memory` set:
 * - object stores: the region's main arena, through an admission wrapper
 *   (store_mm) that refuses an allocation when it would leave less free
 *   than the reserve: room for the next index build beside the published
 *   indexes.  The next index is estimated from the objects in the region
 *   (in use minus the published indexes) times the ratio of index to
 *   object bytes measured at the last build, plus a quarter (indexes grow
 *   in steps: hash tables double); before one is measured on a store of
 *   1 MiB or more, 1.5 (the worst measured: headless Services with
 *   endpoints).  The reserve is 2.5 x that (the new index and the
 *   builder's temporaries, measured at up to 1.3 x the index), plus what
 *   the new index will outgrow the published ones by, plus 1 MiB.  So a
 *   full region refuses new objects (counted; logged by the source) and
 *   never starves the rebuild that serves the ones already stored.
 *   Nothing is ever evicted.
 * - each index build: a generation of its own (hfi_arena_gen_new), handed
 *   back whole once readers left it (engine_sync.c); when every
 *   generation is busy, the main arena (freed item by item).
 * Without `memory`: malloc everywhere, as before.
 *
 * Not in the region: the configuration, listeners and workers (made once
 * at startup), the API client's scratch stores and response bodies (one
 * list or event at a time, freed as soon as it is applied), snapshot
 * encode buffers (freed after the write), and jemalloc's own metadata.
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "engine_int.h"
#include "log.h"

#define RESERVE_SLACK ((size_t)1 << 20)
#define RATIO_DEFAULT 1500u              /* index bytes per 1000 object bytes */
#define RATIO_MIN_OBJECTS ((size_t)1 << 20) /* measure it on stores this big */

static void *refuse(hf_engine_t *e, bool admission)
{
	atomic_fetch_add_explicit(&e->objects_refused, 1, memory_order_relaxed);
	if (admission)
		atomic_fetch_add_explicit(&e->admission_refused, 1, memory_order_relaxed);
	return NULL;
}

/* Bytes to keep free with used bytes in use (see the top). */
static size_t reserve_for(hf_engine_t *e, size_t used)
{
	size_t pub = atomic_load_explicit(&e->index_pub, memory_order_relaxed);
	unsigned ratio = atomic_load_explicit(&e->index_ratio, memory_order_relaxed);
	size_t objects = used > pub ? used - pub : 0;
	/* a measured ratio gets a quarter more: indexes grow in steps (hash
	 * tables double), so a bigger store can cost relatively more */
	size_t next = objects / 1000 * (ratio != 0 ? ratio + ratio / 4 : RATIO_DEFAULT);
	return next / 2 * 5 + (next > pub ? next - pub : 0) + RESERVE_SLACK;
}

/* True if size more bytes leave the reserve free. */
static bool admit(hf_engine_t *e, size_t size)
{
	size_t used = hfi_arena_used(e->arena);
	if (size > e->region_bytes || used > e->region_bytes - size)
		return false;
	used += size;
	size_t reserve = reserve_for(e, used);
	return reserve <= e->region_bytes - used;
}

static void *store_alloc(void *ctx, size_t size)
{
	hf_engine_t *e = ctx;
	if (!admit(e, size))
		return refuse(e, true);
	void *p = e->arena_mm.alloc(e->arena_mm.ctx, size);
	return p != NULL ? p : refuse(e, false);
}

static void *store_realloc(void *ctx, void *ptr, size_t size)
{
	hf_engine_t *e = ctx;
	if (!admit(e, size)) /* the new block may sit next to the old one */
		return refuse(e, true);
	void *p = e->arena_mm.realloc(e->arena_mm.ctx, ptr, size);
	return p != NULL ? p : refuse(e, false);
}

static void store_free(void *ctx, void *ptr)
{
	hf_engine_t *e = ctx;
	e->arena_mm.free(e->arena_mm.ctx, ptr);
}

int hfi_engine_memory_open(hf_engine_t *e, char *err, size_t errlen)
{
	if (e->cfg->memory_bytes == 0)
		return HF_EOK;
	char aerr[256] = "";
	if ((uint64_t)(size_t)e->cfg->memory_bytes != e->cfg->memory_bytes) {
		snprintf(err, errlen, "plugin/memory: size out of range");
		return HF_ECONFIG;
	}
	e->arena = hfi_arena_new((size_t)e->cfg->memory_bytes, aerr, sizeof(aerr));
	if (e->arena == NULL) {
		snprintf(err, errlen, "plugin/memory: %s", aerr);
		return HF_ENOMEM;
	}
	hfi_arena_stats_t st;
	hfi_arena_stats(e->arena, &st);
	e->region_bytes = st.size;
	hfi_arena_mm(e->arena, &e->arena_mm);
	e->store_mm = (hf_mm_t){ .ctx = e, .alloc = store_alloc, .realloc = store_realloc,
				 .free = store_free };
	hfi_log(HFI_LOG_INFO, "memory", "%zu MiB region (%s), %s", st.size >> 20,
		hfi_arena_backend(),
		st.pinned ? "pinned" : strcmp(hfi_arena_backend(), "jemalloc") == 0
					? "preallocated, not pinned"
					: "heap with a size cap (no jemalloc in this process)");
	return HF_EOK;
}

void hfi_engine_memory_close(hf_engine_t *e)
{
	hfi_arena_free(e->arena);
	e->arena = NULL;
}

const hf_mm_t *hfi_engine_store_mm(hf_engine_t *e)
{
	return e->arena != NULL ? &e->store_mm : NULL;
}

const hf_mm_t *hfi_engine_index_mm(hf_engine_t *e, hf_mm_t *mm, struct hfi_arena_gen **gen)
{
	*gen = NULL;
	if (e->arena == NULL)
		return NULL;
	*gen = hfi_arena_gen_new(e->arena, mm);
	if (*gen == NULL)
		*mm = e->arena_mm;
	return mm;
}

void hfi_engine_index_drop(hfi_k8s_index_t *ix, struct hfi_arena_gen *gen)
{
	/* the index holds region memory only (no other resources): its
	 * generation goes back whole, without walking it */
	if (gen != NULL)
		hfi_arena_gen_release(gen);
	else
		hfi_k8s_index_free(ix);
}

void hfi_engine_memory_reserve(hf_engine_t *e, size_t used_before)
{
	if (e->arena == NULL)
		return;
	size_t old = atomic_load(&e->index_pub), pub = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		if (e->k8s[bi].store != NULL && atomic_load(&e->k8s[bi].index) != NULL)
			pub += e->k8s[bi].index_bytes;
	atomic_store(&e->index_pub, pub);
	size_t objects = used_before > old ? used_before - old : 0;
	if (objects >= RATIO_MIN_OBJECTS) {
		size_t r = pub / (objects / 1000);
		atomic_store(&e->index_ratio, (unsigned)(r < 100 ? 100 : r > 4000 ? 4000 : r));
	}
}

size_t hfi_engine_memory_used(hf_engine_t *e)
{
	return e->arena != NULL ? hfi_arena_used(e->arena) : 0;
}

void hfi_engine_memory_stats(hf_engine_t *e, hfi_engine_mem_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	out->backend = "malloc";
	out->objects_refused = atomic_load(&e->objects_refused);
	out->rebuild_failures = atomic_load(&e->rebuild_failures);
	if (e->arena == NULL)
		return;
	hfi_arena_stats_t st;
	hfi_arena_stats(e->arena, &st);
	out->configured = true;
	out->pinned = st.pinned;
	out->backend = hfi_arena_backend();
	out->region = st.size;
	out->used = st.used;
	out->peak = st.peak;
	out->reserve = reserve_for(e, st.used);
	out->alloc_failures = st.alloc_failures + atomic_load(&e->admission_refused);
}
