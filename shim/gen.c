/*
 * gen.c: engine generations.  A reload opens a complete new engine and
 * swaps it in; threads that use the engine hold a reference to the
 * generation they work with and move to the new one when they notice the
 * swap (workers at least every HFS_TICK_MS).  The main thread closes a
 * retired engine once nobody references it, never a worker thread.
 */
#include "shim.h"

#include <stdlib.h>

static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct hfs_gen *) gen_cur;
static struct hfs_gen *gen_retired;

static struct hfs_gen *gen_new(hf_engine_t *engine)
{
	struct hfs_gen *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->engine = engine;
	atomic_init(&g->refs, 1); /* the main thread's reference */
	hfs_forward_engine_opened(engine); /* forward state, startup warnings */
	return g;
}

int hfs_gen_init(hf_engine_t *engine)
{
	struct hfs_gen *g = gen_new(engine);
	if (g == NULL)
		return HF_ENOMEM;
	atomic_store(&gen_cur, g);
	return HF_EOK;
}

struct hfs_gen *hfs_gen_current(void)
{
	return atomic_load_explicit(&gen_cur, memory_order_acquire);
}

struct hfs_gen *hfs_gen_acquire(void)
{
	pthread_mutex_lock(&gen_lock);
	struct hfs_gen *g = atomic_load(&gen_cur);
	if (g != NULL)
		atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&gen_lock);
	return g;
}

void hfs_gen_release(struct hfs_gen *g)
{
	if (g != NULL)
		atomic_fetch_sub(&g->refs, 1);
}

int hfs_gen_swap(hf_engine_t *engine)
{
	struct hfs_gen *g = gen_new(engine);
	if (g == NULL)
		return HF_ENOMEM;
	pthread_mutex_lock(&gen_lock);
	struct hfs_gen *old = atomic_load(&gen_cur);
	atomic_store_explicit(&gen_cur, g, memory_order_release);
	if (old != NULL) {
		old->next = gen_retired;
		gen_retired = old;
		atomic_fetch_sub(&old->refs, 1);
	}
	pthread_mutex_unlock(&gen_lock);
	return HF_EOK;
}

void hfs_gen_reap(int all)
{
	struct hfs_gen *dead = NULL;
	pthread_mutex_lock(&gen_lock);
	struct hfs_gen **pp = &gen_retired;
	while (*pp != NULL) {
		struct hfs_gen *g = *pp;
		if (all || atomic_load(&g->refs) == 0) {
			*pp = g->next;
			g->next = dead;
			dead = g;
		} else {
			pp = &g->next;
		}
	}
	/* the current engine takes over what a closed one counted */
	hf_engine_t *heir = NULL;
	if (!all && atomic_load(&gen_cur) != NULL)
		heir = atomic_load(&gen_cur)->engine;
	if (all) {
		struct hfs_gen *cur = atomic_load(&gen_cur);
		atomic_store(&gen_cur, NULL);
		if (cur != NULL) {
			cur->next = dead;
			dead = cur;
		}
	}
	pthread_mutex_unlock(&gen_lock);
	while (dead != NULL) {
		struct hfs_gen *next = dead->next;
		hfs_forward_engine_closed(dead->engine);
		if (heir != NULL)
			(void)hf_metrics_inherit(heir, dead->engine); /* counters survive reloads */
		hf_engine_close(dead->engine);
		free(dead);
		dead = next;
	}
}
