/*
 * cache.c: the response store of one cache plugin instance: zones, the
 * success and denial caches (256 shards each, preallocated slot arrays,
 * random eviction), lookup with serve_stale / prefetch / prefer_positive
 * decisions, insertion, and the counters behind the metrics.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "dname.h"
#include "mm.h"

typedef struct centry {
	int64_t stored_ms;
	uint32_t duration;
	uint16_t rcode, qtype, qclass;
	uint8_t ctype;
	bool ra, ad, do_bit, cd;
	uint8_t lname[HFI_DNAME_MAX + 1];
	/* prefetch / refresh state (under the shard lock) */
	uint32_t hits;
	int64_t last_hit_ms;
	int64_t refresh_ms;    /* a refresh started then (0 = none in flight) */
	int64_t recheck_ms;    /* no new refresh before this (FAILURE_RECHECK) */
	size_t len;
	uint8_t blob[];
} centry_t;

typedef struct cslot {
	uint64_t key;
	centry_t *e;
} cslot_t;

typedef struct cshard {
	pthread_mutex_t lock;
	uint32_t n;
	uint32_t rnd;
	cslot_t *slot;
} cshard_t;

struct hfi_cache {
	const hfi_cfg_cache_t *cfg;
	const hf_mm_t *mm;
	uint8_t (*zones)[HFI_DNAME_MAX + 1];
	size_t nzones;
	uint8_t (*dis[2])[HFI_DNAME_MAX + 1]; /* disable success / denial zones */
	size_t ndis[2];
	bool dis_all[2];
	uint32_t shard_cap[2];
	cshard_t shard[2][HFI_CACHE_SHARDS];
	cslot_t *slots[2];
	char server[96];
	int refresh_limit;     /* default max_refresh: half the CPUs (one worker each), 1..SLOTS */
	_Atomic int64_t refresh_slot[HFI_CACHE_REFRESH_SLOTS]; /* start ms, 0 = free */
	_Atomic uint64_t entries[2], requests, hits[2], misses, prefetch, drops, stale, evictions[2];
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t (*hfi_cache_clock)(void) = mono_ms;

#define RLX memory_order_relaxed

static int zone_list(const hf_mm_t *mm, const hfi_strv_t *v, uint8_t (**out)[HFI_DNAME_MAX + 1],
		     size_t *n)
{
	*n = 0;
	*out = NULL;
	if (v->n == 0)
		return HF_EOK;
	*out = hfi_mm_calloc(mm, v->n, sizeof(**out));
	if (*out == NULL)
		return HF_ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		uint8_t w[HFI_DNAME_MAX + 1];
		if (hfi_dname_from_str(v->v[i], w, sizeof(w)) < 0)
			continue;
		hfi_dname_lower((*out)[*n], w);
		(*n)++;
	}
	return HF_EOK;
}

static bool in_zones(uint8_t (*z)[HFI_DNAME_MAX + 1], size_t n, const uint8_t *lname)
{
	for (size_t i = 0; i < n; i++)
		if (hfi_dname_in_zone(lname, z[i]))
			return true;
	return false;
}

hfi_cache_t *hfi_cache_new(const hfi_cfg_cache_t *cfg, const hf_mm_t *mm, const char *server)
{
	hfi_cache_t *c = hfi_mm_calloc(mm, 1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cfg = cfg;
	c->mm = mm;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	c->refresh_limit = cpus >= 4 ? (int)(cpus / 2) : 1;
	if (c->refresh_limit > HFI_CACHE_REFRESH_SLOTS)
		c->refresh_limit = HFI_CACHE_REFRESH_SLOTS;
	snprintf(c->server, sizeof(c->server), "%s", server ? server : "");
	for (int t = 0; t < 2; t++)
		for (int s = 0; s < HFI_CACHE_SHARDS; s++)
			pthread_mutex_init(&c->shard[t][s].lock, NULL);
	if (zone_list(mm, &cfg->zones, &c->zones, &c->nzones) != HF_EOK ||
	    zone_list(mm, &cfg->disable_success, &c->dis[0], &c->ndis[0]) != HF_EOK ||
	    zone_list(mm, &cfg->disable_denial, &c->dis[1], &c->ndis[1]) != HF_EOK)
		goto fail;
	c->dis_all[0] = cfg->disable_success_set && cfg->disable_success.n == 0;
	c->dis_all[1] = cfg->disable_denial_set && cfg->disable_denial.n == 0;
	uint32_t cap[2] = {cfg->success_cap, cfg->denial_cap};
	for (int t = 0; t < 2; t++) {
		uint32_t per = cap[t] / HFI_CACHE_SHARDS;
		c->shard_cap[t] = per < 4 ? 4 : per;
		c->slots[t] = hfi_mm_calloc(mm, (size_t)c->shard_cap[t] * HFI_CACHE_SHARDS,
					    sizeof(cslot_t));
		if (c->slots[t] == NULL)
			goto fail;
		for (int s = 0; s < HFI_CACHE_SHARDS; s++) {
			c->shard[t][s].slot = c->slots[t] + (size_t)s * c->shard_cap[t];
			c->shard[t][s].rnd = 2463534242u ^ (uint32_t)(s * 2654435761u) ^ (uint32_t)t;
		}
	}
	return c;
fail:
	hfi_cache_free(c);
	return NULL;
}

void hfi_cache_free(hfi_cache_t *c)
{
	if (c == NULL)
		return;
	for (int t = 0; t < 2; t++) {
		for (int s = 0; s < HFI_CACHE_SHARDS; s++) {
			cshard_t *sh = &c->shard[t][s];
			for (uint32_t i = 0; sh->slot != NULL && i < sh->n; i++)
				hfi_mm_free(c->mm, sh->slot[i].e);
			pthread_mutex_destroy(&sh->lock);
		}
		hfi_mm_free(c->mm, c->slots[t]);
		hfi_mm_free(c->mm, c->dis[t]);
	}
	hfi_mm_free(c->mm, c->zones);
	hfi_mm_free(c->mm, c);
}

const hfi_cfg_cache_t *hfi_cache_cfg(const hfi_cache_t *c)
{
	return c->cfg;
}

const char *hfi_cache_server(const hfi_cache_t *c)
{
	return c->server;
}

bool hfi_cache_covers(const hfi_cache_t *c, const uint8_t *lname)
{
	return in_zones(c->zones, c->nzones, lname);
}

uint64_t hfi_cache_key(const hfi_query_t *q)
{
	/* FNV-1a 64 over DO, CD, qtype, qclass, lower-cased qname */
	uint64_t h = 14695981039346656037ull;
	uint8_t pre[6] = {q->do_bit ? 1 : 0, q->cd ? 1 : 0, (uint8_t)(q->qtype >> 8),
			  (uint8_t)q->qtype, (uint8_t)(q->qclass >> 8), (uint8_t)q->qclass};
	for (size_t i = 0; i < sizeof(pre); i++)
		h = (h ^ pre[i]) * 1099511628211ull;
	size_t n = hfi_dname_len(q->lname);
	for (size_t i = 0; i < n; i++)
		h = (h ^ q->lname[i]) * 1099511628211ull;
	return h;
}

size_t hfi_cache_capacity(const hfi_cache_t *c, int which)
{
	return (size_t)c->shard_cap[which] * HFI_CACHE_SHARDS;
}

size_t hfi_cache_len(const hfi_cache_t *c, int which)
{
	return (size_t)atomic_load_explicit(&c->entries[which], RLX);
}

static bool matches(const centry_t *e, const hfi_query_t *q)
{
	return e->qtype == q->qtype && e->qclass == q->qclass && e->do_bit == q->do_bit &&
	       e->cd == q->cd && hfi_dname_eq(e->lname, q->lname);
}

static cslot_t *find(cshard_t *sh, uint64_t key, const hfi_query_t *q)
{
	for (uint32_t i = 0; i < sh->n; i++)
		if (sh->slot[i].key == key && matches(sh->slot[i].e, q))
			return &sh->slot[i];
	return NULL;
}

static int64_t ttl_of(const centry_t *e, int64_t now)
{
	int64_t age = (now - e->stored_ms) / 1000;
	return (int64_t)e->duration - age;
}

static bool usable(const hfi_cache_t *c, const centry_t *e, int64_t now)
{
	int64_t ttl = ttl_of(e, now);
	return ttl > 0 || (c->cfg->serve_stale && -ttl < (int64_t)c->cfg->stale_duration_s);
}

static bool refresh_free(const centry_t *e, int64_t now)
{
	if (e->refresh_ms != 0 && now - e->refresh_ms < HFI_CACHE_REFRESH_GIVEUP_MS)
		return false;
	return now >= e->recheck_ms;
}

/* A refresh slot: free, or held longer than a refresh can take. */
static int slot_take(hfi_cache_t *c, int max, int64_t now)
{
	if (max > HFI_CACHE_REFRESH_SLOTS)
		max = HFI_CACHE_REFRESH_SLOTS;
	for (int i = 0; i < max; i++) {
		int64_t v = atomic_load_explicit(&c->refresh_slot[i], RLX);
		if ((v == 0 || now - v >= HFI_CACHE_REFRESH_GIVEUP_MS) &&
		    atomic_compare_exchange_strong(&c->refresh_slot[i], &v, now))
			return i;
	}
	return -1;
}

void hfi_cache_get(hfi_cache_t *c, const hfi_query_t *q, int64_t now, unsigned flags,
		   int max_refresh, uint8_t *buf, size_t cap, hfi_chit_t *hit)
{
	memset(hit, 0, sizeof(*hit));
	hit->slot = -1;
	if (max_refresh <= 0)
		max_refresh = c->refresh_limit;
	uint64_t key = hfi_cache_key(q);
	cshard_t *dsh = &c->shard[HFI_CACHE_DENIAL][key & (HFI_CACHE_SHARDS - 1)];
	cshard_t *psh = &c->shard[HFI_CACHE_SUCCESS][key & (HFI_CACHE_SHARDS - 1)];
	if (flags & HFI_CGET_COUNT)
		atomic_fetch_add_explicit(&c->requests, 1, RLX);
	/* lock order: denial, then success */
	pthread_mutex_lock(&dsh->lock);
	pthread_mutex_lock(&psh->lock);
	cslot_t *ds = find(dsh, key, q), *ps = find(psh, key, q);
	centry_t *d = ds && usable(c, ds->e, now) ? ds->e : NULL;
	centry_t *p = ps && usable(c, ps->e, now) ? ps->e : NULL;
	centry_t *e = d ? d : p;
	int which = d ? HFI_CACHE_DENIAL : HFI_CACHE_SUCCESS;
	if (d != NULL && p != NULL) {
		/* a SERVFAIL never hides a usable positive entry; prefer_positive
		 * prefers it over any negative; a fresh one beats a stale one */
		bool dfresh = ttl_of(d, now) > 0, pfresh = ttl_of(p, now) > 0;
		if (d->ctype == HFI_CT_SERVFAIL || c->cfg->prefer_positive || (pfresh && !dfresh)) {
			e = p;
			which = HFI_CACHE_SUCCESS;
		}
	}
	if (e != NULL && e->len <= cap) {
		hit->found = true;
		hit->which = which;
		hit->ctype = e->ctype;
		hit->rcode = e->rcode;
		hit->ra = e->ra;
		hit->ad = e->ad;
		hit->duration = e->duration;
		hit->ttl = ttl_of(e, now);
		hit->stale = hit->ttl < 0;
		hit->len = e->len;
		memcpy(buf, e->blob, e->len);
		if (!(flags & HFI_CGET_NOREFRESH)) {
			const hfi_cfg_cache_t *cfg = c->cfg;
			if (hit->stale) {
				if (!cfg->stale_verify && refresh_free(e, now) &&
				    (hit->slot = slot_take(c, max_refresh, now)) >= 0) {
					hit->refresh = true;
					e->refresh_ms = now;
				}
			} else if (cfg->prefetch_amount > 0) {
				/* freq.Update: hits within DURATION of each other */
				if (now - e->last_hit_ms > (int64_t)cfg->prefetch_duration_s * 1000)
					e->hits = 1;
				else
					e->hits++;
				e->last_hit_ms = now;
				int64_t thr = ((int64_t)cfg->prefetch_pct * e->duration + 99) / 100;
				if (e->hits >= cfg->prefetch_amount && hit->ttl <= thr &&
				    refresh_free(e, now) &&
				    (hit->slot = slot_take(c, max_refresh, now)) >= 0) {
					hit->refresh = hit->prefetch = true;
					e->refresh_ms = now;
				}
			}
		}
	}
	pthread_mutex_unlock(&psh->lock);
	pthread_mutex_unlock(&dsh->lock);
	if (flags & HFI_CGET_COUNT) {
		if (hit->found)
			atomic_fetch_add_explicit(&c->hits[which], 1, RLX);
		else
			atomic_fetch_add_explicit(&c->misses, 1, RLX);
		if (hit->prefetch)
			atomic_fetch_add_explicit(&c->prefetch, 1, RLX);
	}
}

/* Remove key from one cache; the entry is returned for freeing. */
static centry_t *take(hfi_cache_t *c, int which, uint64_t key, const hfi_query_t *q)
{
	cshard_t *sh = &c->shard[which][key & (HFI_CACHE_SHARDS - 1)];
	pthread_mutex_lock(&sh->lock);
	cslot_t *s = find(sh, key, q);
	centry_t *old = NULL;
	if (s != NULL) {
		old = s->e;
		*s = sh->slot[--sh->n];
		atomic_fetch_sub_explicit(&c->entries[which], 1, RLX);
	}
	pthread_mutex_unlock(&sh->lock);
	return old;
}

bool hfi_cache_put(hfi_cache_t *c, const hfi_query_t *q, const hfi_cmsg_t *m,
		   const uint8_t *blob, int t, uint32_t duration, int64_t now)
{
	int which;
	if (t == HFI_CT_NOERROR || t == HFI_CT_DELEGATION)
		which = HFI_CACHE_SUCCESS;
	else if (t == HFI_CT_NXDOMAIN || t == HFI_CT_NODATA || t == HFI_CT_SERVFAIL)
		which = HFI_CACHE_DENIAL;
	else
		return false;
	if (duration == 0 || m->tc || m->len > HFI_CACHE_BLOB_MAX || q->qname == NULL)
		return false;
	if (c->dis_all[which] || in_zones(c->dis[which], c->ndis[which], q->lname))
		return false;
	centry_t *e = hfi_mm_alloc(c->mm, sizeof(*e) + m->len);
	if (e == NULL)
		return false;
	memset(e, 0, sizeof(*e));
	e->stored_ms = now;
	e->duration = duration;
	e->rcode = m->rcode;
	e->ctype = (uint8_t)t;
	e->ra = m->ra;
	e->ad = m->ad;
	e->do_bit = q->do_bit;
	e->cd = q->cd;
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	memcpy(e->lname, q->lname, hfi_dname_len(q->lname));
	e->len = m->len;
	memcpy(e->blob, blob, m->len);
	uint64_t key = hfi_cache_key(q);
	cshard_t *sh = &c->shard[which][key & (HFI_CACHE_SHARDS - 1)];
	centry_t *old = NULL;
	bool evicted = false;
	pthread_mutex_lock(&sh->lock);
	cslot_t *s = find(sh, key, q);
	if (s != NULL) {
		old = s->e;
		s->e = e;
	} else {
		if (sh->n >= c->shard_cap[which]) {
			/* random eviction (xorshift32) */
			uint32_t x = sh->rnd;
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			sh->rnd = x;
			uint32_t v = x % sh->n;
			old = sh->slot[v].e;
			sh->slot[v] = sh->slot[--sh->n];
			evicted = true;
		} else {
			atomic_fetch_add_explicit(&c->entries[which], 1, RLX);
		}
		sh->slot[sh->n].key = key;
		sh->slot[sh->n].e = e;
		sh->n++;
	}
	pthread_mutex_unlock(&sh->lock);
	hfi_mm_free(c->mm, old);
	if (evicted)
		atomic_fetch_add_explicit(&c->evictions[which], 1, RLX);
	/* the newer answer replaces the other kind, except that a SERVFAIL
	 * (or, with prefer_positive, any negative) keeps a positive entry */
	if (which == HFI_CACHE_SUCCESS)
		hfi_mm_free(c->mm, take(c, HFI_CACHE_DENIAL, key, q));
	else if (t != HFI_CT_SERVFAIL && !c->cfg->prefer_positive)
		hfi_mm_free(c->mm, take(c, HFI_CACHE_SUCCESS, key, q));
	return true;
}

void hfi_cache_refresh_done(hfi_cache_t *c, const hfi_query_t *q, bool ok, int64_t now, int slot)
{
	if (slot >= 0 && slot < HFI_CACHE_REFRESH_SLOTS)
		atomic_store_explicit(&c->refresh_slot[slot], 0, RLX);
	uint64_t key = hfi_cache_key(q);
	for (int t = 0; t < 2; t++) {
		cshard_t *sh = &c->shard[t][key & (HFI_CACHE_SHARDS - 1)];
		pthread_mutex_lock(&sh->lock);
		cslot_t *s = find(sh, key, q);
		if (s != NULL) {
			s->e->refresh_ms = 0;
			if (!ok)
				s->e->recheck_ms = now + (int64_t)c->cfg->stale_failure_recheck_s * 1000;
		}
		pthread_mutex_unlock(&sh->lock);
	}
}

void hfi_cache_count_drop(hfi_cache_t *c)
{
	atomic_fetch_add_explicit(&c->drops, 1, RLX);
}

void hfi_cache_count_stale(hfi_cache_t *c)
{
	atomic_fetch_add_explicit(&c->stale, 1, RLX);
}

void hfi_cache_stats(const hfi_cache_t *c, hfi_cache_stats_t *s)
{
	hfi_cache_t *m = (hfi_cache_t *)c;
	for (int t = 0; t < 2; t++) {
		s->entries[t] = atomic_load_explicit(&m->entries[t], RLX);
		s->hits[t] = atomic_load_explicit(&m->hits[t], RLX);
		s->evictions[t] = atomic_load_explicit(&m->evictions[t], RLX);
	}
	s->requests = atomic_load_explicit(&m->requests, RLX);
	s->misses = atomic_load_explicit(&m->misses, RLX);
	s->prefetch = atomic_load_explicit(&m->prefetch, RLX);
	s->drops = atomic_load_explicit(&m->drops, RLX);
	s->stale = atomic_load_explicit(&m->stale, RLX);
}

size_t hfi_cache_flush(hfi_cache_t *c)
{
	size_t n = 0;
	for (int t = 0; t < 2; t++) {
		for (int s = 0; s < HFI_CACHE_SHARDS; s++) {
			cshard_t *sh = &c->shard[t][s];
			pthread_mutex_lock(&sh->lock);
			for (uint32_t i = 0; i < sh->n; i++)
				hfi_mm_free(c->mm, sh->slot[i].e);
			n += sh->n;
			atomic_fetch_sub_explicit(&c->entries[t], sh->n, RLX);
			sh->n = 0;
			pthread_mutex_unlock(&sh->lock);
		}
	}
	return n;
}
