/*
 * sync.c: the one door through which a live source changes an object
 * store, the serve-stale state machine and the deletion guard.
 *
 * Time: every call that takes now_ms first "ticks": held deletions whose
 * hold is over are applied, then the state is re-evaluated.  HOLD below is
 * stale_min_ms, or 5 minutes when stale_min_ms is 0 (unset).
 *
 * State (only resources with cfg.want[r] count; "listed" = has had a
 * successful apply_list in this process, "healthy" = the last
 * hfi_sync_health() report, set true by every successful apply_list):
 *   SYNCING  until every wanted resource is listed, or hfi_sync_restored()
 *            was called (restored data: the state machine leaves SYNCING at
 *            once and never returns to it).
 *   LIVE     every wanted resource listed and healthy.
 *   STALE    left SYNCING but some wanted resource is unhealthy or (after a
 *            restore) not yet listed.  stale_since_ms = the moment the state
 *            became STALE: the health report, the restore (its now_ms; a
 *            caller may pass an earlier time to count the snapshot's age),
 *            or the list that completed the sync while another resource was
 *            unhealthy.  stats.stale_entered counts LIVE -> STALE only.
 *   EXPIRED  STALE and stale_max_ms > 0 and now - stale_since_ms >=
 *            stale_max_ms: the data may no longer be served (the engine
 *            answers as if unsynced).  Not sticky: it becomes LIVE as soon as
 *            every wanted resource is listed and healthy again.
 *   A guard hold does not change the state (it is counted and logged).
 *   The source should report health false only for failures (failed or
 *   hung list, dead watch, 5xx, 429, timeouts), not for a plain 410 relist.
 *
 * Lists: hfi_sync_apply_list(r, L) puts every object of r in L at once
 * (adds and updates).  The deletions D = objects of r in the store that
 * are not in L; M = objects of r in the store before the list.  In order:
 *   1. An already-held key present in L is released (it exists again); one
 *      no longer in the store is forgotten.
 *   2. If the list is "confirming", already-held keys still missing from L
 *      are deleted now (a second consistent list confirms them).  A list is
 *      confirming unless it is a STALE list (below) or it is empty while the
 *      store holds objects of r (an empty list never confirms anything).
 *   3. The remaining deletions D' (missing, not held) are held when
 *      - STALE list: stale_min_ms > 0 and the state just before the list was
 *        STALE or EXPIRED (the API was unhealthy: every name known at the
 *        last healthy moment stays for at least MIN, so a list that comes
 *        while unhealthy holds all its deletions, whatever their number); or
 *      - the guard is on (deletion_guard < 1.0) and either L is empty while
 *        M > 0, or |D'| > deletion_guard * M.
 *     Otherwise they are applied at once.  A hold puts each key on hold
 *     until now + HOLD (a key keeps its first deadline), logs once
 *     "[WARNING] plugin/kubernetes: deletion guard: relist of RES would
 *     delete N of M objects; holding for HOLD" (N = |D|), and counts
 *     stats.guard_trips += 1, stats.held_deletions += |D'|.
 *   4. r becomes listed and healthy.
 * A held key is deleted when (a) a confirming list still lacks it (step 2),
 * (b) its hold ends (now >= deadline, checked by every call with now_ms,
 * including hfi_sync_state), or (c) hfi_sync_confirm_deletions().  It is
 * released (kept) when a list or ADDED/MODIFIED event shows it again.
 *
 * Watch events: ADDED/MODIFIED put the object (releasing a hold on its
 * key); they apply in every state.  DELETED deletes unless the burst rule
 * holds it.  Burst rule (guard on): per resource, a window of length HOLD
 * opens at the first DELETED event after the previous window ended, with
 * M0 = the objects of r in the store at that moment (before the deletion)
 * and n = 0.  A DELETED event of an object in the store inside the window
 * is applied (n += 1) when n == 0 (the first deletion of a window always
 * applies) or n + 1 <= deletion_guard * M0; otherwise it is held like a
 * list hold (deadline now + HOLD; a key already held keeps its deadline),
 * stats.held_deletions += 1, and the first hold of a window logs once and
 * counts one guard trip.  Lists do not count toward windows.
 *
 * deletion_guard >= 1.0 disables the guard (fraction, empty-list and burst
 * rules); the STALE-list rule belongs to serve_stale MIN and stays on
 * whenever stale_min_ms > 0.
 *
 * Dirty: any store change (a put returning > 0, a delete) sets the flag,
 * as does hfi_sync_restored() (the snapshot filled the store); holding a
 * deletion does not.  hfi_sync_take_dirty() returns it and clears it.
 *
 * Stats: lists/events count successful calls; held_deletions and
 * guard_trips as above; held_pending = keys on hold now; last_healthy_ms =
 * the last tick seen LIVE (or the moment LIVE was left), -1 before.
 *
 * Break-glass (issue 7, hfi_sync_freeze / hfi_sync_extend):
 *   freeze   the store keeps following the API (lists and events apply,
 *            the deletion guard and the state machine run as always, the
 *            API health and LIVE/STALE are kept), but hfi_sync_take_dirty()
 *            returns false while frozen, so the engine never rebuilds: the
 *            answers stay exactly what they were at the freeze.  Thaw hands
 *            the pending change over at once (the next maintenance tick
 *            rebuilds from the current store), so no relist is needed and
 *            nothing applied meanwhile is lost.
 *   extend   pushes every deadline of the serve-stale window by D: each
 *            held deletion's hold ends D later, and the MAX window of the
 *            current outage (or of the next one, when called while LIVE)
 *            grows by D (an EXPIRED state becomes STALE again when the
 *            longer window has not run out).  The extension ends when the
 *            API is healthy again (STALE/EXPIRED -> LIVE).
 *
 * Locking: one pthread mutex; every function takes it.  The index builder
 * brackets its reads of the store with hfi_sync_lock()/hfi_sync_unlock()
 * and must not call other hfi_sync_* functions meanwhile.
 */
#include "sync.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "holdfast.h"
#include "log.h"
#include "mm.h"

#define DEFAULT_HOLD_MS (5 * 60 * 1000)
#define PLUGIN "kubernetes"

/* ---- held keys: a small hash set of ns/name with a deadline -------------- */

typedef struct hkey {
	uint64_t hash;
	int64_t until;
	char *key; /* "ns\0name\0" in one allocation; NULL = dropped (tombstone) */
	size_t nslen;
} hkey_t;

typedef struct hset {
	hkey_t *e;
	size_t n, cap, live;
	uint32_t *slots; /* index + 1; 0 = empty */
	size_t nslots;   /* power of two or 0 */
	int64_t min_until;
} hset_t;

static const char *hk_ns(const hkey_t *k)
{
	return k->key;
}

static const char *hk_name(const hkey_t *k)
{
	return k->key + k->nslen + 1;
}

/* Index of the live entry for ns/name, or (size_t)-1. */
static size_t hset_find(const hset_t *h, const char *ns, const char *name)
{
	if (h->nslots == 0 || h->live == 0)
		return (size_t)-1;
	uint64_t hv = hfi_store_key_hash(ns, name);
	size_t mask = h->nslots - 1;
	for (size_t s = hv & mask, i = 0; i < h->nslots; s = (s + 1) & mask, i++) {
		uint32_t v = h->slots[s];
		if (v == 0)
			return (size_t)-1;
		const hkey_t *k = &h->e[v - 1];
		if (k->key != NULL && k->hash == hv && strcmp(hk_name(k), name) == 0 &&
		    strcmp(hk_ns(k), ns) == 0)
			return v - 1;
	}
	return (size_t)-1;
}

static void hset_place(hset_t *h, size_t idx)
{
	size_t mask = h->nslots - 1;
	size_t s = h->e[idx].hash & mask;
	while (h->slots[s] != 0)
		s = (s + 1) & mask;
	h->slots[s] = (uint32_t)(idx + 1);
}

/* Drop tombstones and size the slot table for need entries.  On failure
 * nothing changes. */
static int hset_rebuild(hset_t *h, size_t need)
{
	size_t ns = 16;
	while (ns < need * 2) {
		if (ns > ((size_t)UINT32_MAX) / 2)
			return HF_ENOMEM;
		ns *= 2;
	}
	uint32_t *slots = hfi_mm_calloc(NULL, ns, sizeof(uint32_t));
	if (slots == NULL)
		return HF_ENOMEM;
	size_t w = 0;
	for (size_t i = 0; i < h->n; i++)
		if (h->e[i].key != NULL)
			h->e[w++] = h->e[i];
	h->n = w;
	hfi_mm_free(NULL, h->slots);
	h->slots = slots;
	h->nslots = ns;
	for (size_t i = 0; i < h->n; i++)
		hset_place(h, i);
	return HF_EOK;
}

/* Add ns/name (not present) with deadline until. */
static int hset_add(hset_t *h, const char *ns, const char *name, int64_t until)
{
	if (h->n + 1 >= UINT32_MAX)
		return HF_ENOMEM;
	if ((h->n + 1) * 2 > h->nslots) {
		int ret = hset_rebuild(h, h->live + 1);
		if (ret != HF_EOK)
			return ret;
	}
	int ret = hfi_mm_grow(NULL, (void **)&h->e, &h->cap, h->n + 1, sizeof(hkey_t));
	if (ret != HF_EOK)
		return ret;
	size_t nl = strlen(ns), ml = strlen(name);
	char *key = hfi_mm_alloc(NULL, nl + ml + 2);
	if (key == NULL)
		return HF_ENOMEM;
	memcpy(key, ns, nl + 1);
	memcpy(key + nl + 1, name, ml + 1);
	size_t idx = h->n++;
	h->e[idx] = (hkey_t){ .hash = hfi_store_key_hash(ns, name), .until = until, .key = key,
			      .nslen = nl };
	hset_place(h, idx);
	h->live++;
	if (h->live == 1 || until < h->min_until)
		h->min_until = until;
	return HF_EOK;
}

static void hset_drop(hset_t *h, size_t idx)
{
	hfi_mm_free(NULL, h->e[idx].key);
	h->e[idx].key = NULL;
	h->live--;
}

/* Compact after a batch when tombstones dominate (best effort). */
static void hset_free(hset_t *h);

static void hset_tidy(hset_t *h)
{
	if (h->live == 0) {
		if (h->n > 0 || h->nslots > 0)
			hset_free(h); /* every key is a tombstone: release it all */
		return;
	}
	if (h->n > 64 && h->n - h->live > h->live)
		(void)hset_rebuild(h, h->live);
}

static void hset_free(hset_t *h)
{
	for (size_t i = 0; i < h->n; i++)
		hfi_mm_free(NULL, h->e[i].key);
	hfi_mm_free(NULL, h->e);
	hfi_mm_free(NULL, h->slots);
	memset(h, 0, sizeof(*h));
}

/* ---- the store, per resource --------------------------------------------- */

static size_t res_count(const hfi_store_t *st, hfi_resource_t r)
{
	switch (r) {
	case HFI_RES_NAMESPACES: return hfi_store_count_namespaces(st);
	case HFI_RES_SERVICES: return hfi_store_count_services(st);
	case HFI_RES_SLICES: return hfi_store_count_slices(st);
	case HFI_RES_PODS: return hfi_store_count_pods(st);
	default: return 0;
	}
}

static void res_key_at(const hfi_store_t *st, hfi_resource_t r, size_t i,
		       const char **ns, const char **name)
{
	*ns = "";
	*name = NULL;
	switch (r) {
	case HFI_RES_NAMESPACES: {
		const hfi_namespace_t *o = hfi_store_namespace_at(st, i);
		*name = o->name;
		return;
	}
	case HFI_RES_SERVICES: {
		const hfi_service_t *o = hfi_store_service_at(st, i);
		*ns = o->ns;
		*name = o->name;
		return;
	}
	case HFI_RES_SLICES: {
		const hfi_slice_t *o = hfi_store_slice_at(st, i);
		*ns = o->ns;
		*name = o->name;
		return;
	}
	case HFI_RES_PODS: {
		const hfi_pod_t *o = hfi_store_pod_at(st, i);
		*ns = o->ns;
		*name = o->name;
		return;
	}
	default:
		return;
	}
}

static bool res_has(const hfi_store_t *st, hfi_resource_t r, const char *ns, const char *name)
{
	switch (r) {
	case HFI_RES_NAMESPACES: return hfi_store_namespace(st, name) != NULL;
	case HFI_RES_SERVICES: return hfi_store_service(st, ns, name) != NULL;
	case HFI_RES_SLICES: return hfi_store_slice(st, ns, name) != NULL;
	case HFI_RES_PODS: return hfi_store_pod(st, ns, name) != NULL;
	default: return false;
	}
}

/* Put object i of resource r of src into dst. */
static int res_put_at(hfi_store_t *dst, hfi_resource_t r, const hfi_store_t *src, size_t i)
{
	switch (r) {
	case HFI_RES_NAMESPACES: return hfi_store_put_namespace(dst, hfi_store_namespace_at(src, i));
	case HFI_RES_SERVICES: return hfi_store_put_service(dst, hfi_store_service_at(src, i));
	case HFI_RES_SLICES: return hfi_store_put_slice(dst, hfi_store_slice_at(src, i));
	case HFI_RES_PODS: return hfi_store_put_pod(dst, hfi_store_pod_at(src, i));
	default: return HF_EINVAL;
	}
}

static int res_del(hfi_store_t *st, hfi_resource_t r, const char *ns, const char *name)
{
	switch (r) {
	case HFI_RES_NAMESPACES: return hfi_store_del_namespace(st, name);
	case HFI_RES_SERVICES: return hfi_store_del_service(st, ns, name);
	case HFI_RES_SLICES: return hfi_store_del_slice(st, ns, name);
	case HFI_RES_PODS: return hfi_store_del_pod(st, ns, name);
	default: return HF_EINVAL;
	}
}

static const char *res_name(hfi_resource_t r)
{
	static const char *names[HFI_RES_COUNT] = { "namespaces", "services", "endpointslices", "pods" };
	return (unsigned)r < HFI_RES_COUNT ? names[r] : "?";
}

/* ---- the sync ------------------------------------------------------------ */

typedef struct res_state {
	bool listed, healthy;
	hset_t held;
	/* burst window */
	bool win_open, win_tripped;
	int64_t win_start;
	size_t win_base, win_applied;
} res_state_t;

struct hfi_sync {
	pthread_mutex_t lock;
	hfi_store_t *st;
	hfi_sync_cfg_t cfg;
	int64_t hold_ms;
	bool synced;
	bool dirty;
	enum hfi_sync_state state;
	res_state_t res[HFI_RES_COUNT];
	hfi_sync_stats_t stats;
	/* break-glass (issue 7) */
	bool frozen;              /* take_dirty reports nothing until thaw */
	int64_t extra_ms;         /* `stale extend`: added to stale_max_ms */
};

static bool guard_on(const hfi_sync_t *s)
{
	return s->cfg.deletion_guard < 1.0;
}

/* Go-style duration for log lines ("5m0s", "30s", "250ms"). */
/* Go's time.Duration.String() of ms milliseconds, as CoreDNS logs them. */
static void fmt_dur(char *buf, size_t len, int64_t ms)
{
	hfi_go_duration_str(ms * 1000000, buf, len);
}

static bool all_wanted(const hfi_sync_t *s, bool need_healthy)
{
	for (int r = 0; r < HFI_RES_COUNT; r++) {
		if (!s->cfg.want[r])
			continue;
		if (!s->res[r].listed || (need_healthy && !s->res[r].healthy))
			return false;
	}
	return true;
}

/* Re-evaluate the state at now (the transitions and their logs). */
static void eval_state(hfi_sync_t *s, int64_t now)
{
	enum hfi_sync_state prev = s->state, next;
	if (!s->synced && all_wanted(s, false))
		s->synced = true;
	if (!s->synced) {
		next = HFI_SYNCING;
	} else if (all_wanted(s, true)) {
		next = HFI_LIVE;
	} else {
		if (prev != HFI_STALE && prev != HFI_EXPIRED) {
			s->stats.stale_since_ms = now;
			if (prev == HFI_LIVE)
				s->stats.stale_entered++;
		}
		next = HFI_STALE;
		if (s->cfg.stale_max_ms > 0 &&
		    now - s->stats.stale_since_ms >= s->cfg.stale_max_ms + s->extra_ms)
			next = HFI_EXPIRED;
	}
	if (next == HFI_LIVE && (prev == HFI_STALE || prev == HFI_EXPIRED))
		s->extra_ms = 0; /* an operator's extension lasts one outage */
	if (next == HFI_LIVE) {
		s->stats.last_healthy_ms = now;
		s->stats.stale_since_ms = -1;
	} else if (next == HFI_SYNCING) {
		s->stats.stale_since_ms = -1;
	} else if (prev == HFI_LIVE) {
		s->stats.last_healthy_ms = now;
	}
	s->state = next;
	if (next == prev)
		return;
	char d[96];
	switch (next) {
	case HFI_LIVE:
		hfi_log(HFI_LOG_INFO, PLUGIN, "serve-stale: API healthy, state LIVE");
		break;
	case HFI_STALE:
		if (prev == HFI_LIVE)
			hfi_log(HFI_LOG_WARNING, PLUGIN, "serve-stale: API unhealthy, serving last known data (STALE)");
		else if (prev == HFI_SYNCING)
			hfi_log(HFI_LOG_WARNING, PLUGIN, "serve-stale: serving restored or partial data until the API confirms it (STALE)");
		break;
	case HFI_EXPIRED:
		fmt_dur(d, sizeof(d), s->cfg.stale_max_ms);
		hfi_log(HFI_LOG_ERROR, PLUGIN, "serve-stale: stale for longer than %s, no longer serving cluster data (EXPIRED)", d);
		break;
	default:
		break;
	}
}

/* Delete the held keys of r whose hold is over. */
static void expire_holds(hfi_sync_t *s, hfi_resource_t r, int64_t now)
{
	hset_t *h = &s->res[r].held;
	if (h->live == 0 || now < h->min_until)
		return;
	int64_t min = INT64_MAX;
	size_t applied = 0;
	for (size_t i = 0; i < h->n; i++) {
		hkey_t *k = &h->e[i];
		if (k->key == NULL)
			continue;
		if (k->until <= now) {
			if (res_del(s->st, r, hk_ns(k), hk_name(k)) > 0) {
				s->dirty = true;
				applied++;
			}
			hset_drop(h, i);
		} else if (k->until < min) {
			min = k->until;
		}
	}
	h->min_until = min;
	hset_tidy(h);
	if (applied > 0)
		hfi_log(HFI_LOG_INFO, PLUGIN, "deletion guard: hold ended, applied %zu held deletions of %s",
			applied, res_name(r));
}

static void tick(hfi_sync_t *s, int64_t now)
{
	for (int r = 0; r < HFI_RES_COUNT; r++)
		expire_holds(s, (hfi_resource_t)r, now);
	eval_state(s, now);
}

hfi_sync_t *hfi_sync_new(hfi_store_t *st, const hfi_sync_cfg_t *cfg)
{
	if (st == NULL || cfg == NULL)
		return NULL;
	hfi_sync_t *s = hfi_mm_calloc(NULL, 1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		hfi_mm_free(NULL, s);
		return NULL;
	}
	s->st = st;
	s->cfg = *cfg;
	if (isnan(s->cfg.deletion_guard))
		s->cfg.deletion_guard = 0.5;
	if (s->cfg.deletion_guard < 0)
		s->cfg.deletion_guard = 0;
	if (s->cfg.stale_min_ms < 0)
		s->cfg.stale_min_ms = 0;
	if (s->cfg.stale_max_ms < 0)
		s->cfg.stale_max_ms = 0;
	s->hold_ms = s->cfg.stale_min_ms > 0 ? s->cfg.stale_min_ms : DEFAULT_HOLD_MS;
	s->state = HFI_SYNCING;
	s->stats.stale_since_ms = -1;
	s->stats.last_healthy_ms = -1;
	return s;
}

void hfi_sync_free(hfi_sync_t *s)
{
	if (s == NULL)
		return;
	for (int r = 0; r < HFI_RES_COUNT; r++)
		hset_free(&s->res[r].held);
	pthread_mutex_destroy(&s->lock);
	hfi_mm_free(NULL, s);
}

void hfi_sync_lock(hfi_sync_t *s)
{
	pthread_mutex_lock(&s->lock);
}

void hfi_sync_unlock(hfi_sync_t *s)
{
	pthread_mutex_unlock(&s->lock);
}

static bool valid_res(hfi_resource_t res)
{
	return (unsigned)res < HFI_RES_COUNT;
}

/* Hold or delete the missing, not yet held objects of r (walks the store
 * backwards so swap-removal never skips an object). */
static int apply_missing(hfi_sync_t *s, hfi_resource_t r, const hfi_store_t *list,
			 bool hold, int64_t now, size_t *done)
{
	hset_t *h = &s->res[r].held;
	*done = 0;
	for (size_t i = res_count(s->st, r); i-- > 0;) {
		const char *ns, *name;
		res_key_at(s->st, r, i, &ns, &name);
		if (res_has(list, r, ns, name) || hset_find(h, ns, name) != (size_t)-1)
			continue;
		if (hold) {
			int ret = hset_add(h, ns, name, now + s->hold_ms);
			if (ret != HF_EOK)
				return ret;
		} else if (res_del(s->st, r, ns, name) > 0) {
			s->dirty = true;
		}
		(*done)++;
	}
	return HF_EOK;
}

static int apply_list_locked(hfi_sync_t *s, hfi_resource_t r, const hfi_store_t *list, int64_t now)
{
	tick(s, now);
	enum hfi_sync_state pre = s->state;
	size_t known = res_count(s->st, r);
	size_t n = res_count(list, r);
	bool empty = n == 0;
	bool stale_list = s->cfg.stale_min_ms > 0 && (pre == HFI_STALE || pre == HFI_EXPIRED);
	bool confirming = !stale_list && !(empty && known > 0);

	/* adds and updates; an object that does not fit the memory region is
	 * refused (counted, logged once per list) and the rest still applies */
	size_t refused = 0;
	for (size_t i = 0; i < n; i++) {
		int ret = res_put_at(s->st, r, list, i);
		if (ret == HF_ENOMEM) {
			refused++;
			continue;
		}
		if (ret < 0)
			return ret;
		if (ret > 0)
			s->dirty = true;
	}
	if (refused > 0) {
		s->stats.refused_objects += refused;
		hfi_log(HFI_LOG_ERROR, PLUGIN, "out of memory: %zu of %zu %s refused by the list; "
			"the rest applies", refused, n, res_name(r));
	}

	/* held keys: released, forgotten, confirmed or kept */
	hset_t *h = &s->res[r].held;
	size_t confirmed = 0, kept = 0;
	for (size_t i = 0; i < h->n; i++) {
		hkey_t *k = &h->e[i];
		if (k->key == NULL)
			continue;
		if (!res_has(s->st, r, hk_ns(k), hk_name(k)) || res_has(list, r, hk_ns(k), hk_name(k))) {
			hset_drop(h, i);
		} else if (confirming) {
			if (res_del(s->st, r, hk_ns(k), hk_name(k)) > 0)
				s->dirty = true;
			hset_drop(h, i);
			confirmed++;
		} else {
			kept++;
		}
	}
	hset_tidy(h);
	if (confirmed > 0)
		hfi_log(HFI_LOG_INFO, PLUGIN, "deletion guard: relist of %s confirmed %zu held deletions",
			res_name(r), confirmed);

	/* the remaining deletions */
	size_t missing = 0;
	for (size_t i = 0; i < res_count(s->st, r); i++) {
		const char *ns, *name;
		res_key_at(s->st, r, i, &ns, &name);
		if (!res_has(list, r, ns, name) && hset_find(h, ns, name) == (size_t)-1)
			missing++;
	}
	bool hold = missing > 0 &&
		    (stale_list || (guard_on(s) && ((empty && known > 0) ||
						    (double)missing > s->cfg.deletion_guard * (double)known)));
	size_t done = 0;
	int ret = missing > 0 ? apply_missing(s, r, list, hold, now, &done) : HF_EOK;
	if (hold && done > 0) {
		char d[96];
		fmt_dur(d, sizeof(d), s->hold_ms);
		s->stats.guard_trips++;
		s->stats.held_deletions += done;
		hfi_log(HFI_LOG_WARNING, PLUGIN,
			"deletion guard: relist of %s would delete %zu of %zu objects; holding for %s",
			res_name(r), missing + kept + confirmed, known, d);
	}
	if (ret != HF_EOK)
		return ret;

	s->res[r].listed = true;
	s->res[r].healthy = true;
	s->stats.lists[r]++;
	eval_state(s, now);
	return HF_EOK;
}

int hfi_sync_apply_list(hfi_sync_t *s, hfi_resource_t res, const hfi_store_t *list, int64_t now_ms)
{
	if (s == NULL || list == NULL || !valid_res(res))
		return HF_EINVAL;
	pthread_mutex_lock(&s->lock);
	int ret = apply_list_locked(s, res, list, now_ms);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void release_key(hfi_sync_t *s, hfi_resource_t r, const char *ns, const char *name)
{
	size_t i = hset_find(&s->res[r].held, ns, name);
	if (i != (size_t)-1) {
		hset_drop(&s->res[r].held, i);
		hset_tidy(&s->res[r].held);
	}
}

static int event_delete(hfi_sync_t *s, hfi_resource_t r, const char *ns, const char *name, int64_t now)
{
	if (!res_has(s->st, r, ns, name)) {
		release_key(s, r, ns, name);
		return HF_EOK;
	}
	res_state_t *rs = &s->res[r];
	if (guard_on(s)) {
		if (!rs->win_open || now < rs->win_start || now - rs->win_start >= s->hold_ms) {
			rs->win_open = true;
			rs->win_tripped = false;
			rs->win_start = now;
			rs->win_base = res_count(s->st, r);
			rs->win_applied = 0;
		}
		if (rs->win_applied > 0 &&
		    (double)(rs->win_applied + 1) > s->cfg.deletion_guard * (double)rs->win_base) {
			if (hset_find(&rs->held, ns, name) != (size_t)-1)
				return HF_EOK; /* already held: keeps its deadline */
			int ret = hset_add(&rs->held, ns, name, now + s->hold_ms);
			if (ret != HF_EOK)
				return ret;
			s->stats.held_deletions++;
			if (!rs->win_tripped) {
				char d[96], w[96];
				fmt_dur(d, sizeof(d), s->hold_ms);
				fmt_dur(w, sizeof(w), now - rs->win_start);
				rs->win_tripped = true;
				s->stats.guard_trips++;
				hfi_log(HFI_LOG_WARNING, PLUGIN,
					"deletion guard: watch deleted %zu of %zu %s within %s; holding further deletions for %s",
					rs->win_applied, rs->win_base, res_name(r), w, d);
			}
			return HF_EOK;
		}
		rs->win_applied++;
	}
	if (res_del(s->st, r, ns, name) > 0)
		s->dirty = true;
	release_key(s, r, ns, name);
	return HF_EOK;
}

static int event_put(hfi_sync_t *s, hfi_resource_t r, const hfi_store_t *one)
{
	if (res_count(one, r) != 1)
		return HF_EINVAL;
	int ret = res_put_at(s->st, r, one, 0);
	if (ret == HF_ENOMEM) {
		/* refused, not fatal: the watch goes on; a later relist retries */
		if (s->stats.refused_objects++ % 1000 == 0)
			hfi_log(HFI_LOG_ERROR, PLUGIN, "out of memory: a %s watch event was refused",
				res_name(r));
		return HF_EOK;
	}
	if (ret < 0)
		return ret;
	if (ret > 0)
		s->dirty = true;
	const char *ns, *name;
	res_key_at(one, r, 0, &ns, &name);
	release_key(s, r, ns, name);
	return HF_EOK;
}

int hfi_sync_apply_event(hfi_sync_t *s, hfi_resource_t res, enum hfi_watch_event ev,
			 const hfi_store_t *one, const char *ns, const char *name, int64_t now_ms)
{
	if (s == NULL || !valid_res(res))
		return HF_EINVAL;
	if (ev == HFI_EV_DELETED) {
		if (res == HFI_RES_NAMESPACES)
			ns = "";
		if (ns == NULL || name == NULL)
			return HF_EINVAL;
	} else if ((ev != HFI_EV_ADDED && ev != HFI_EV_MODIFIED) || one == NULL) {
		return HF_EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	tick(s, now_ms);
	int ret = ev == HFI_EV_DELETED ? event_delete(s, res, ns, name, now_ms)
				       : event_put(s, res, one);
	if (ret == HF_EOK)
		s->stats.events[res]++;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void hfi_sync_health(hfi_sync_t *s, hfi_resource_t res, bool healthy, const char *reason,
		     int64_t now_ms)
{
	if (s == NULL || !valid_res(res))
		return;
	pthread_mutex_lock(&s->lock);
	tick(s, now_ms);
	res_state_t *rs = &s->res[res];
	if (rs->healthy != healthy && s->cfg.want[res]) {
		if (healthy)
			hfi_log(HFI_LOG_INFO, PLUGIN, "API healthy again for %s", res_name(res));
		else
			hfi_log(HFI_LOG_WARNING, PLUGIN, "API unhealthy for %s: %s", res_name(res),
				reason != NULL ? reason : "unknown");
	}
	rs->healthy = healthy;
	eval_state(s, now_ms);
	pthread_mutex_unlock(&s->lock);
}

void hfi_sync_restored(hfi_sync_t *s, int64_t now_ms)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (!s->synced) {
		s->synced = true;
		s->dirty = true;
	}
	tick(s, now_ms);
	pthread_mutex_unlock(&s->lock);
}

void hfi_sync_confirm_deletions(hfi_sync_t *s, int64_t now_ms)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	size_t applied = 0;
	for (int r = 0; r < HFI_RES_COUNT; r++) {
		hset_t *h = &s->res[r].held;
		for (size_t i = 0; i < h->n; i++) {
			if (h->e[i].key == NULL)
				continue;
			if (res_del(s->st, (hfi_resource_t)r, hk_ns(&h->e[i]), hk_name(&h->e[i])) > 0) {
				s->dirty = true;
				applied++;
			}
			hset_drop(h, i);
		}
		hset_tidy(h);
	}
	hfi_log(HFI_LOG_INFO, PLUGIN, "deletion guard: operator confirmed %zu held deletions", applied);
	tick(s, now_ms);
	pthread_mutex_unlock(&s->lock);
}

enum hfi_sync_state hfi_sync_state(hfi_sync_t *s, int64_t now_ms)
{
	if (s == NULL)
		return HFI_SYNCING;
	pthread_mutex_lock(&s->lock);
	tick(s, now_ms);
	enum hfi_sync_state st = s->state;
	pthread_mutex_unlock(&s->lock);
	return st;
}

const char *hfi_sync_state_name(enum hfi_sync_state st)
{
	switch (st) {
	case HFI_SYNCING: return "SYNCING";
	case HFI_LIVE: return "LIVE";
	case HFI_STALE: return "STALE";
	case HFI_EXPIRED: return "EXPIRED";
	}
	return "?";
}

bool hfi_sync_take_dirty(hfi_sync_t *s)
{
	if (s == NULL)
		return false;
	pthread_mutex_lock(&s->lock);
	bool d = s->dirty && !s->frozen; /* frozen: the change stays pending */
	if (d)
		s->dirty = false;
	pthread_mutex_unlock(&s->lock);
	return d;
}

void hfi_sync_get_stats(hfi_sync_t *s, hfi_sync_stats_t *out)
{
	if (s == NULL || out == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	uint64_t pending = 0;
	for (int r = 0; r < HFI_RES_COUNT; r++)
		pending += s->res[r].held.live;
	out->held_pending = pending;
	out->frozen = s->frozen;
	out->stale_extra_ms = s->extra_ms;
	pthread_mutex_unlock(&s->lock);
}

/* ---- break-glass (issue 7) ----------------------------------------------- */

void hfi_sync_freeze(hfi_sync_t *s, bool frozen)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->frozen != frozen) {
		if (frozen)
			hfi_log(HFI_LOG_WARNING, PLUGIN, "frozen by the operator: API changes are "
				"tracked but not applied to answers until thaw");
		else
			hfi_log(HFI_LOG_INFO, PLUGIN, "thawed by the operator: applying API changes%s",
				s->dirty ? " (changes are pending)" : "");
	}
	s->frozen = frozen;
	pthread_mutex_unlock(&s->lock);
}

bool hfi_sync_frozen(hfi_sync_t *s)
{
	if (s == NULL)
		return false;
	pthread_mutex_lock(&s->lock);
	bool f = s->frozen;
	pthread_mutex_unlock(&s->lock);
	return f;
}

#define MAX_EXTRA_MS ((int64_t)10 * 365 * 24 * 3600 * 1000) /* ten years */

static int64_t add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

size_t hfi_sync_extend(hfi_sync_t *s, int64_t ms, int64_t now_ms)
{
	if (s == NULL || ms <= 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	tick(s, now_ms);
	size_t held = 0;
	for (int r = 0; r < HFI_RES_COUNT; r++) {
		hset_t *h = &s->res[r].held;
		for (size_t i = 0; i < h->n; i++) {
			if (h->e[i].key == NULL)
				continue;
			h->e[i].until = add_sat(h->e[i].until, ms);
			held++;
		}
		if (h->live > 0)
			h->min_until = add_sat(h->min_until, ms);
	}
	enum hfi_sync_state prev = s->state;
	s->extra_ms = add_sat(s->extra_ms, ms);
	if (s->extra_ms > MAX_EXTRA_MS)
		s->extra_ms = MAX_EXTRA_MS;
	char d[96];
	fmt_dur(d, sizeof(d), ms);
	hfi_log(HFI_LOG_WARNING, PLUGIN, "serve-stale extended by the operator by %s (%zu held "
		"deletions pushed back)", d, held);
	eval_state(s, now_ms);
	if (prev == HFI_EXPIRED && s->state == HFI_STALE)
		hfi_log(HFI_LOG_WARNING, PLUGIN, "serve-stale: window extended, serving last known "
			"data again (STALE)");
	pthread_mutex_unlock(&s->lock);
	return held;
}
