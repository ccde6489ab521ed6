/*
 * sync.h: the one door through which a live source (the Kubernetes API
 * client) changes an object store, and the serve-stale state machine that
 * decides what the store may forget (design.md "Serve-stale").
 *
 * States: SYNCING (no data yet) -> LIVE (every resource listed, watches
 * healthy) -> STALE (API unreachable, erroring, throttling, hanging, or a
 * list that looks wrong) -> LIVE.  A snapshot restored at start counts as
 * STALE until the API confirms it.  Once synced, every object known at the
 * last healthy moment stays answerable for at least serve_stale MIN after
 * the API stopped being healthy, and at most MAX (0 = no limit).
 *
 * Deletion guard: a relist (or a burst of watch deletions within MIN) that
 * would delete more than deletion_guard (fraction, default 0.5) of the known
 * objects of a resource - an empty list always counts - is held back for
 * MIN unless a second consistent list confirms it; held deletions are
 * logged and counted.  A legitimate single deletion applies at once.
 *
 * Thread-safety: every function takes the sync's mutex; readers that
 * need a consistent store (the index builder) bracket their work with
 * hfi_sync_lock()/hfi_sync_unlock().  Time is always passed in (ms, any
 * monotonic origin) so tests drive a fake clock.
 */
#ifndef HF_SYNC_H
#define HF_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objects.h"

typedef enum hfi_resource {
	HFI_RES_NAMESPACES = 0,
	HFI_RES_SERVICES,
	HFI_RES_SLICES,
	HFI_RES_PODS,
	HFI_RES_COUNT
} hfi_resource_t;

enum hfi_sync_state { HFI_SYNCING = 0, HFI_LIVE, HFI_STALE, HFI_EXPIRED };
/* HFI_EXPIRED: STALE for longer than MAX: the data may no longer be served. */

enum hfi_watch_event { HFI_EV_ADDED = 0, HFI_EV_MODIFIED, HFI_EV_DELETED };

typedef struct hfi_sync_cfg {
	int64_t stale_min_ms;     /* serve_stale MIN (0 = unset: behaves like CoreDNS, serve forever) */
	int64_t stale_max_ms;     /* serve_stale MAX, 0 = unlimited */
	double deletion_guard;    /* fraction, default 0.5; >= 1.0 disables the guard */
	bool want[HFI_RES_COUNT]; /* resources the source must sync (pods only with pods verified, slices unless noendpoints) */
} hfi_sync_cfg_t;

typedef struct hfi_sync_stats {
	uint64_t lists[HFI_RES_COUNT], events[HFI_RES_COUNT];
	uint64_t held_deletions;  /* deletions held back by the guard */
	uint64_t guard_trips;     /* lists/bursts the guard held */
	uint64_t stale_entered;   /* LIVE -> STALE transitions */
	uint64_t refused_objects; /* puts refused for lack of memory (skipped, not fatal) */
	int64_t stale_since_ms;   /* when the current STALE began, -1 if not stale */
	int64_t last_healthy_ms;  /* last moment seen LIVE (or left LIVE), -1 never */
	uint64_t held_pending;    /* deletions on hold right now */
	/* break-glass (issue 7) */
	bool frozen;              /* hfi_sync_freeze() in effect */
	int64_t stale_extra_ms;   /* hfi_sync_extend() total for this outage */
} hfi_sync_stats_t;

typedef struct hfi_sync hfi_sync_t;

hfi_sync_t *hfi_sync_new(hfi_store_t *st, const hfi_sync_cfg_t *cfg);
void hfi_sync_free(hfi_sync_t *s);

/* A complete list of one resource (every object of that resource, as held
 * in `list`, a scratch store that holds nothing else).  Adds and updates
 * apply at once; deletions pass the guard.  Marks the resource listed and
 * healthy.  Returns 0 or a negative hf_err. */
int hfi_sync_apply_list(hfi_sync_t *s, hfi_resource_t res, const hfi_store_t *list, int64_t now_ms);
/* One watch event.  ADDED/MODIFIED: the object is the only one of its
 * resource in `one`.  DELETED: ns (NULL for namespaces) and name. */
int hfi_sync_apply_event(hfi_sync_t *s, hfi_resource_t res, enum hfi_watch_event ev,
			 const hfi_store_t *one, const char *ns, const char *name, int64_t now_ms);
/* The source's view of a resource's health: false on a failed/hung list,
 * a dead watch, 5xx, 429, timeouts; true when a watch is established. */
void hfi_sync_health(hfi_sync_t *s, hfi_resource_t res, bool healthy, const char *reason,
		     int64_t now_ms);
/* Restored from a snapshot: the store holds data (STALE until confirmed). */
void hfi_sync_restored(hfi_sync_t *s, int64_t now_ms);
/* Operator override (break-glass): apply held deletions now / extend. */
void hfi_sync_confirm_deletions(hfi_sync_t *s, int64_t now_ms);

/* Current state at now (applies timers: held deletions expire after MIN,
 * STALE becomes EXPIRED after MAX). */
enum hfi_sync_state hfi_sync_state(hfi_sync_t *s, int64_t now_ms);
const char *hfi_sync_state_name(enum hfi_sync_state st);
/* True once since the last call if the store changed (index rebuild due). */
bool hfi_sync_take_dirty(hfi_sync_t *s);
void hfi_sync_get_stats(hfi_sync_t *s, hfi_sync_stats_t *out);

/* Break-glass (issue 7; see sync.c): freeze keeps the store following the
 * API but hfi_sync_take_dirty() reports nothing until thaw, so the served
 * answers stay as they were.  extend pushes every held deletion's deadline
 * and the current (or next) outage's MAX window by ms; returns the number
 * of held deletions pushed back. */
void hfi_sync_freeze(hfi_sync_t *s, bool frozen);
bool hfi_sync_frozen(hfi_sync_t *s);
size_t hfi_sync_extend(hfi_sync_t *s, int64_t ms, int64_t now_ms);

void hfi_sync_lock(hfi_sync_t *s);
void hfi_sync_unlock(hfi_sync_t *s);

#endif
