/*
 * k8s_index.c: builds the kubernetes index from the object store and the
 * plugin configuration (one pass over namespaces, slices, services, pods;
 * hashing, no sorting), the lookup table the answer code reads, and the
 * index's lifetime.  What each name answers is computed here exactly as
 * CoreDNS's findServices / findPods / plugin.A / plugin.SRV would compute
 * it (spec 4.5): entry lists in CoreDNS order, addresses de-duplicated,
 * SRV weights floor(100/N) over all entries, SRV (target, port) and glue
 * (target, address) de-duplicated.
 */
#include <stdio.h>
#include <string.h>

#include "holdfast.h"
#include "k8s_int.h"

#define NONE UINT32_MAX

/* ---- hashing ------------------------------------------------------------- */

uint32_t hfi_k8s_hash(const uint8_t *key, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* ---- build-time byte map ------------------------------------------------- */

static int bmap_rehash(k8s_bmap_t *m, size_t nslots)
{
	uint32_t *s = hfi_mm_calloc(m->mm, nslots, sizeof(uint32_t));
	if (s == NULL)
		return HF_ENOMEM;
	hfi_mm_free(m->mm, m->slots);
	m->slots = s;
	m->mask = nslots - 1;
	for (size_t i = 0; i < m->n; i++) {
		size_t j = m->ents[i].hash & m->mask;
		while (s[j] != 0)
			j = (j + 1) & m->mask;
		s[j] = (uint32_t)(i + 1);
		m->ents[i].slot = (uint32_t)j;
	}
	return HF_EOK;
}

static size_t bmap_find(const k8s_bmap_t *m, uint32_t h, const void *key, size_t klen)
{
	if (m->slots == NULL)
		return NONE;
	size_t j = h & m->mask;
	while (m->slots[j] != 0) {
		const k8s_bmap_ent_t *e = &m->ents[m->slots[j] - 1];
		if (e->hash == h && e->klen == klen && memcmp(m->kb + e->koff, key, klen) == 0)
			return m->slots[j] - 1;
		j = (j + 1) & m->mask;
	}
	return NONE;
}

int hfi_k8s_bmap_get(const k8s_bmap_t *m, const void *key, size_t klen, uint32_t *val)
{
	size_t i = bmap_find(m, hfi_k8s_hash(key, klen), key, klen);
	if (i == NONE)
		return 0;
	*val = m->ents[i].val;
	return 1;
}

int hfi_k8s_bmap_add(k8s_bmap_t *m, const void *key, size_t klen, uint32_t newval,
		     uint32_t *val)
{
	uint32_t h = hfi_k8s_hash(key, klen);
	size_t i = bmap_find(m, h, key, klen);
	if (i != NONE) {
		*val = m->ents[i].val;
		return 0;
	}
	if (m->slots == NULL || (m->n + 1) * 2 > m->mask + 1) {
		size_t ns = m->slots == NULL ? 16 : (m->mask + 1) * 2;
		if (bmap_rehash(m, ns) < 0)
			return HF_ENOMEM;
	}
	if (hfi_mm_grow(m->mm, (void **)&m->ents, &m->cap, m->n + 1, sizeof(*m->ents)) < 0 ||
	    hfi_mm_grow(m->mm, (void **)&m->kb, &m->kbcap, m->kblen + klen + 1, 1) < 0)
		return HF_ENOMEM;
	size_t j = h & m->mask;
	while (m->slots[j] != 0)
		j = (j + 1) & m->mask;
	memcpy(m->kb + m->kblen, key, klen);
	m->ents[m->n] = (k8s_bmap_ent_t){ .hash = h, .koff = (uint32_t)m->kblen,
					  .klen = (uint32_t)klen, .val = newval, .slot = (uint32_t)j };
	m->kblen += klen;
	m->slots[j] = (uint32_t)(++m->n);
	*val = newval;
	return 1;
}

int hfi_k8s_bmap_reserve(k8s_bmap_t *m, size_t n)
{
	size_t ns = 16;
	while (ns < 2 * n + 2)
		ns *= 2;
	if ((m->slots == NULL || ns > m->mask + 1) && bmap_rehash(m, ns) < 0)
		return HF_ENOMEM;
	if (hfi_mm_grow(m->mm, (void **)&m->ents, &m->cap, n, sizeof(*m->ents)) < 0)
		return HF_ENOMEM;
	return HF_EOK;
}

void hfi_k8s_bmap_clear(k8s_bmap_t *m)
{
	for (size_t i = 0; i < m->n; i++)
		m->slots[m->ents[i].slot] = 0;
	m->n = 0;
	m->kblen = 0;
}

void hfi_k8s_bmap_free(k8s_bmap_t *m)
{
	hfi_mm_free(m->mm, m->slots);
	hfi_mm_free(m->mm, m->ents);
	hfi_mm_free(m->mm, m->kb);
	m->slots = NULL;
	m->ents = NULL;
	m->kb = NULL;
	m->n = m->cap = m->kblen = m->kbcap = m->mask = 0;
}

/* ---- arena and arrays ---------------------------------------------------- */

int64_t hfi_k8s_arena_put(k8s_build_t *b, const void *data, size_t len)
{
	hfi_k8s_index_t *ix = b->ix;
	if (ix->arena_len + len > UINT32_MAX)
		return HF_ENOMEM;
	if (hfi_mm_grow(b->mm, (void **)&ix->arena, &ix->arena_cap, ix->arena_len + len + 1, 1) < 0)
		return HF_ENOMEM;
	size_t off = ix->arena_len;
	if (len > 0)
		memcpy(ix->arena + off, data, len);
	ix->arena_len += len;
	return (int64_t)off;
}

int hfi_k8s_glue_push(k8s_build_t *b, const k8s_glue_t *g)
{
	hfi_k8s_index_t *ix = b->ix;
	if (hfi_mm_grow(b->mm, (void **)&ix->glues, &ix->glues_cap, ix->nglues + 1, sizeof(*g)) < 0)
		return HF_ENOMEM;
	ix->glues[ix->nglues++] = *g;
	return HF_EOK;
}

static int srv_push(k8s_build_t *b, const k8s_srv_t *s)
{
	hfi_k8s_index_t *ix = b->ix;
	if (hfi_mm_grow(b->mm, (void **)&ix->srvs, &ix->srvs_cap, ix->nsrvs + 1, sizeof(*s)) < 0)
		return HF_ENOMEM;
	ix->srvs[ix->nsrvs++] = *s;
	return HF_EOK;
}

int hfi_k8s_node_push(k8s_build_t *b, const k8s_node_t *n)
{
	hfi_k8s_index_t *ix = b->ix;
	if (hfi_mm_grow(b->mm, (void **)&ix->nodes, &ix->nodes_cap, ix->nnodes + 1, sizeof(*n)) < 0)
		return HF_ENOMEM;
	k8s_node_t *d = &ix->nodes[ix->nnodes++];
	*d = *n;
	d->hash = hfi_k8s_hash(ix->arena + n->koff, n->klen);
	if (n->kind != KN_PTR)
		ix->nnames++;
	return HF_EOK;
}

/* ---- namespaces ---------------------------------------------------------- */

bool hfi_k8s_ns_exposed(const k8s_build_t *b, const char *ns)
{
	uint32_t v = 0;
	return ns != NULL && hfi_k8s_bmap_get(&b->nsmap, ns, strlen(ns), &v) && v == 1;
}

bool hfi_k8s_ptr_ns_ok(const k8s_build_t *b, const char *ns)
{
	return b->cfg->namespaces.n == 0 || hfi_k8s_ns_exposed(b, ns);
}

/* ---- temporaries of the service pass ------------------------------------- */

typedef struct entry {
	hfi_ip_t ip;
	int32_t port;
	uint32_t toff;
	uint16_t tlen;
} entry_t;

typedef struct arec {
	const hfi_slice_t *sl;
	const hfi_ep_addr_t *a;
	uint32_t toff;
	uint16_t tlen;
	uint32_t next;   /* next address of the same endpoint name */
	uint32_t znext;  /* zonal: next address of the same zone */
} arec_t;

typedef struct pkey {
	uint8_t n[HFI_LABEL_MAX + 1], pr[HFI_LABEL_MAX + 1];
	uint8_t nl, prl;
} pkey_t;

typedef struct egroup {
	uint32_t head, tail;
	uint32_t koff;
	uint16_t klen;
} egroup_t;

typedef struct content {
	uint32_t a_off, a_n, aaaa_off, aaaa_n, srv_i, srv_n, glue_i, glue_n;
	bool entries;
} content_t;

typedef struct tmp {
	entry_t *ent;
	size_t nent, cent;
	arec_t *ar;
	size_t nar, car;
	pkey_t *pk;
	size_t npk, cpk;
	egroup_t *eg;
	size_t neg, ceg;
	uint8_t *b4, *b6;
	size_t n4, c4, n6, c6;
	uint32_t *eidx;          /* per entry: its address's index (emit) */
	size_t ceidx;
	k8s_bmap_t dd, tmap, gmap, sgmap, zmap;
	uint32_t *ghead, *gtail; /* slice groups (service of a slice) */
	size_t ng, cgh, cgt;
	uint32_t *snext;         /* per store slice index */
	size_t csn;
} tmp_t;

static void tmp_init(tmp_t *t, const hf_mm_t *mm)
{
	memset(t, 0, sizeof(*t));
	t->dd.mm = t->tmap.mm = t->gmap.mm = t->sgmap.mm = t->zmap.mm = mm;
}

static void tmp_free(tmp_t *t, const hf_mm_t *mm)
{
	hfi_mm_free(mm, t->ent);
	hfi_mm_free(mm, t->ar);
	hfi_mm_free(mm, t->pk);
	hfi_mm_free(mm, t->eg);
	hfi_mm_free(mm, t->b4);
	hfi_mm_free(mm, t->b6);
	hfi_mm_free(mm, t->eidx);
	hfi_mm_free(mm, t->ghead);
	hfi_mm_free(mm, t->gtail);
	hfi_mm_free(mm, t->snext);
	hfi_k8s_bmap_free(&t->dd);
	hfi_k8s_bmap_free(&t->tmap);
	hfi_k8s_bmap_free(&t->gmap);
	hfi_k8s_bmap_free(&t->sgmap);
	hfi_k8s_bmap_free(&t->zmap);
}

static int ent_push(k8s_build_t *b, tmp_t *t, const hfi_ip_t *ip, int32_t port,
		    uint32_t toff, uint16_t tlen)
{
	if (hfi_mm_grow(b->mm, (void **)&t->ent, &t->cent, t->nent + 1, sizeof(entry_t)) < 0)
		return HF_ENOMEM;
	t->ent[t->nent++] = (entry_t){ .ip = *ip, .port = port, .toff = toff, .tlen = tlen };
	return HF_EOK;
}

static size_t ip_len(const hfi_ip_t *ip)
{
	return ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0;
}

/* floor(100 / N) as CoreDNS computes it (float64), at least 1 */
static uint16_t srv_weight(size_t n)
{
	double w = 100.0 / (double)(100.0 * (double)n);
	w *= 100.0;
	uint16_t r = (uint16_t)w;
	return r == 0 ? 1 : r;
}

static bool ip_same(const hfi_ip_t *a, const hfi_ip_t *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, ip_len(a)) == 0;
}

/* Entry i repeats an earlier one: same address (what = 0), same (target,
 * port) (1) or same (target, address) (2).  Small lists are scanned, large
 * ones go through the map.  *idx: the address's index in its family list. */
static int seen(tmp_t *t, const entry_t *e, size_t n, size_t i, int what,
		uint32_t newidx, uint32_t *idx)
{
	if (n <= 16) {
		for (size_t j = 0; j < i; j++) {
			bool same = what == 1 ? e[j].port != -1 && e[j].toff == e[i].toff &&
						(uint16_t)e[j].port == (uint16_t)e[i].port
				  : what == 2 ? e[j].port != -1 && e[j].toff == e[i].toff &&
						ip_same(&e[j].ip, &e[i].ip)
				  : ip_same(&e[j].ip, &e[i].ip);
			if (same) {
				if (idx != NULL)
					*idx = t->eidx[j];
				return 1;
			}
		}
		if (idx != NULL)
			*idx = newidx;
		return 0;
	}
	uint8_t key[24];
	size_t al = ip_len(&e[i].ip), kl;
	uint16_t port = (uint16_t)e[i].port;
	key[0] = (uint8_t)('0' + what);
	memcpy(key + 1, &e[i].toff, 4);
	if (what == 1) {
		memcpy(key + 5, &port, 2);
		kl = 7;
	} else {
		key[5] = e[i].ip.family;
		memcpy(key + 6, e[i].ip.addr, al);
		kl = 6 + al;
		if (what == 0) /* addresses: not per target */
			memset(key + 1, 0, 4);
	}
	uint32_t v = 0;
	int r = hfi_k8s_bmap_add(&t->dd, key, kl, newidx, &v);
	if (r < 0)
		return r;
	if (idx != NULL)
		*idx = v;
	return r == 0;
}

/*
 * What a list of CoreDNS msg.Service entries answers: A/AAAA (de-duplicated
 * by address), SRV (port -1 skipped, (target, port) once, weight over all
 * entries) and glue ((target, address) once).
 */
static int emit(k8s_build_t *b, tmp_t *t, const entry_t *e, size_t n, content_t *c, bool srv)
{
	hfi_k8s_index_t *ix = b->ix;
	int r;

	memset(c, 0, sizeof(*c));
	c->entries = n > 0;
	if (n == 0)
		return HF_EOK;
	if (n > 16)
		hfi_k8s_bmap_clear(&t->dd);
	if (hfi_mm_grow(b->mm, (void **)&t->eidx, &t->ceidx, n, sizeof(uint32_t)) < 0)
		return HF_ENOMEM;
	t->n4 = t->n6 = 0;
	for (size_t i = 0; i < n; i++) {
		size_t al = ip_len(&e[i].ip);
		if (al == 0)
			continue;
		uint8_t **buf = al == 4 ? &t->b4 : &t->b6;
		size_t *len = al == 4 ? &t->n4 : &t->n6, *cap = al == 4 ? &t->c4 : &t->c6;
		if ((r = seen(t, e, n, i, 0, (uint32_t)(*len / al), &t->eidx[i])) < 0)
			return r;
		if (r == 1)
			continue;
		if (hfi_mm_grow(b->mm, (void **)buf, cap, *len + al, 1) < 0)
			return HF_ENOMEM;
		memcpy(*buf + *len, e[i].ip.addr, al);
		*len += al;
	}
	int64_t off;
	if (t->n4 > 0) {
		if ((off = hfi_k8s_arena_put(b, t->b4, t->n4)) < 0)
			return (int)off;
		c->a_off = (uint32_t)off;
		c->a_n = (uint32_t)(t->n4 / 4);
	}
	if (t->n6 > 0) {
		if ((off = hfi_k8s_arena_put(b, t->b6, t->n6)) < 0)
			return (int)off;
		c->aaaa_off = (uint32_t)off;
		c->aaaa_n = (uint32_t)(t->n6 / 16);
	}
	if (!srv)
		return HF_EOK;
	uint16_t weight = srv_weight(n);
	c->srv_i = (uint32_t)ix->nsrvs;
	c->glue_i = (uint32_t)ix->nglues;
	for (size_t i = 0; i < n; i++) {
		if (e[i].port == -1)
			continue;
		uint16_t port = (uint16_t)e[i].port;
		if ((r = seen(t, e, n, i, 1, 0, NULL)) < 0)
			return r;
		if (r == 0) {
			k8s_srv_t sv = { .toff = e[i].toff, .tlen = e[i].tlen };
			sv.rdata[2] = (uint8_t)(weight >> 8);
			sv.rdata[3] = (uint8_t)weight;
			sv.rdata[4] = (uint8_t)(port >> 8);
			sv.rdata[5] = (uint8_t)port;
			if ((r = srv_push(b, &sv)) < 0)
				return r;
		}
		size_t al = ip_len(&e[i].ip);
		if (al == 0)
			continue;
		if ((r = seen(t, e, n, i, 2, 0, NULL)) < 0)
			return r;
		if (r == 1)
			continue;
		uint32_t idx = t->eidx[i];
		k8s_glue_t g = { .toff = e[i].toff, .tlen = e[i].tlen, .family = e[i].ip.family,
				 .aoff = al == 4 ? c->a_off + idx * 4 : c->aaaa_off + idx * 16 };
		if ((r = hfi_k8s_glue_push(b, &g)) < 0)
			return r;
	}
	c->srv_n = (uint32_t)(ix->nsrvs - c->srv_i);
	c->glue_n = (uint32_t)(ix->nglues - c->glue_i);
	return HF_EOK;
}

static void content_set(k8s_node_t *n, const content_t *c)
{
	/* emit puts the IPv6 list right after the IPv4 one */
	n->addr_off = c->a_n > 0 ? c->a_off : c->aaaa_off;
	n->a_n = c->a_n;
	n->aaaa_n = c->aaaa_n;
	n->srv_i = c->srv_i;
	n->srv_n = c->srv_n;
	n->glue_i = c->glue_i;
	n->glue_n = c->glue_n;
	if (c->entries)
		n->flags |= KF_ENTRIES;
}

static int node_emit(k8s_build_t *b, uint32_t koff, size_t klen, uint8_t kind,
		     const content_t *c, uint8_t flags)
{
	k8s_node_t n = { .koff = koff, .klen = (uint16_t)klen, .kind = kind, .flags = flags };
	if (c != NULL)
		content_set(&n, c);
	return hfi_k8s_node_push(b, &n);
}

/* Put key bytes in the arena and add a node for them. */
static int node_key(k8s_build_t *b, const uint8_t *key, size_t klen, uint8_t kind,
		    const content_t *c, uint8_t flags)
{
	int64_t off = hfi_k8s_arena_put(b, key, klen);
	if (off < 0)
		return (int)off;
	return node_emit(b, (uint32_t)off, klen, kind, c, flags);
}

/* ---- small string helpers ------------------------------------------------ */

static uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static bool eq_ci(const uint8_t *lower, size_t n, const char *s)
{
	if (s == NULL)
		s = "";
	size_t sl = strlen(s);
	if (sl != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lc((uint8_t)s[i]) != lower[i])
			return false;
	return true;
}

/* A single DNS label from an object name: 1..63 bytes, no dot. */
static int one_label(const char *s, uint8_t *out)
{
	if (s == NULL)
		return -1;
	size_t n = strlen(s);
	if (n == 0 || n > HFI_LABEL_MAX || memchr(s, '.', n) != NULL)
		return -1;
	out[0] = (uint8_t)n;
	memcpy(out + 1, s, n);
	return (int)n + 1;
}

/* "\name\ns\3svc" (or pod): the service / namespace key and target prefix */
static int svc_key(const char *name, const char *ns, const char *tree, uint8_t *out)
{
	int o = 0, l;
	if (name != NULL) {
		if ((l = one_label(name, out)) < 0)
			return -1;
		o += l;
	}
	if ((l = one_label(ns, out + o)) < 0)
		return -1;
	o += l;
	out[o] = 3;
	memcpy(out + o + 1, tree, 3);
	return o + 4;
}

/* ---- configuration ------------------------------------------------------- */

static int zone_put(k8s_build_t *b, const char *text, uint32_t *off, uint8_t *labels)
{
	uint8_t w[HFI_DNAME_MAX + 1], l[HFI_DNAME_MAX + 1];
	int n = hfi_dname_from_str(text, w, sizeof(w));
	if (n < 0)
		return 0;
	hfi_dname_lower(l, w);
	int64_t o = hfi_k8s_arena_put(b, l, (size_t)n);
	if (o < 0)
		return (int)o;
	*off = (uint32_t)o;
	if (labels != NULL)
		*labels = (uint8_t)hfi_dname_labels(l);
	return 1;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int cfg_setup(k8s_build_t *b)
{
	const hfi_cfg_kubernetes_t *cfg = b->cfg;
	hfi_k8s_index_t *ix = b->ix;
	size_t nz = cfg->zones.n;
	int r;

	ix->zonal = cfg->zonal;
	ix->zone_off = hfi_mm_calloc(b->mm, nz ? nz : 1, sizeof(uint32_t));
	ix->zone_labels = hfi_mm_calloc(b->mm, nz ? nz : 1, 1);
	if (ix->zone_off == NULL || ix->zone_labels == NULL)
		return HF_ENOMEM;
	for (size_t i = 0; i < nz; i++) {
		uint32_t off = 0;
		uint8_t lab = 0;
		if ((r = zone_put(b, cfg->zones.v[i], &off, &lab)) < 0)
			return r;
		if (r == 0)
			continue;
		ix->zone_off[ix->nzones] = off;
		ix->zone_labels[ix->nzones] = lab;
		ix->nzones++;
		/* the configured primary zone, else the first usable one */
		if (i == cfg->primary || ix->nzones == 1)
			ix->primary_off = off;
	}
	if (ix->nzones == 0) {
		int64_t o = hfi_k8s_arena_put(b, "", 1);
		if (o < 0)
			return (int)o;
		ix->primary_off = (uint32_t)o;
	}
	ix->fallthrough = cfg->fallthrough;
	if (cfg->fallthrough && cfg->fallthrough_zones.n > 0) {
		ix->fall_off = hfi_mm_calloc(b->mm, cfg->fallthrough_zones.n, sizeof(uint32_t));
		if (ix->fall_off == NULL)
			return HF_ENOMEM;
		for (size_t i = 0; i < cfg->fallthrough_zones.n; i++) {
			uint32_t off = 0;
			if ((r = zone_put(b, cfg->fallthrough_zones.v[i], &off, NULL)) < 0)
				return r;
			if (r == 1)
				ix->fall_off[ix->nfall++] = off;
		}
		/* every listed zone unusable: nothing falls through */
		if (ix->nfall == 0)
			ix->fallthrough = false;
	}
	ix->ttl = cfg->ttl;
	ix->soa_ttl = cfg->ttl < 300 ? cfg->ttl : 300;
	put32(ix->soa_rdata, hfi_store_serial(b->st));
	put32(ix->soa_rdata + 4, 7200);
	put32(ix->soa_rdata + 8, 1800);
	put32(ix->soa_rdata + 12, 86400);
	put32(ix->soa_rdata + 16, cfg->ttl);
	ix->pods = cfg->pods;
	return HF_EOK;
}

/* Namespaces: exposed ones get NS.svc (and NS.pod) nodes. */
static int ns_setup(k8s_build_t *b)
{
	const hfi_cfg_kubernetes_t *cfg = b->cfg;
	hfi_selector_t *sel = NULL;
	int r = HF_EOK;

	if (cfg->namespace_labels != NULL && cfg->namespace_labels[0] != '\0') {
		char err[128];
		sel = hfi_selector_parse(cfg->namespace_labels, b->mm, err, sizeof(err));
		if (sel == NULL)
			return HF_ENOMEM; /* the Corefile module validated it */
	}
	size_t n = hfi_store_count_namespaces(b->st);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const hfi_namespace_t *ns = hfi_store_namespace_at(b->st, i);
		if (ns == NULL || ns->name == NULL)
			continue;
		bool exposed = true;
		if (cfg->namespaces.n > 0) {
			exposed = false;
			for (size_t k = 0; k < cfg->namespaces.n && !exposed; k++)
				exposed = strcmp(cfg->namespaces.v[k], ns->name) == 0;
		}
		if (exposed && sel != NULL)
			exposed = hfi_selector_match(sel, &ns->labels);
		uint32_t v;
		if ((r = hfi_k8s_bmap_add(&b->nsmap, ns->name, strlen(ns->name), exposed, &v)) < 0)
			break;
		if (!exposed || r == 0)
			continue;
		uint8_t key[80];
		int kl = svc_key(NULL, ns->name, "svc", key);
		if (kl < 0) {
			r = HF_EOK;
			continue;
		}
		if ((r = node_key(b, key, (size_t)kl, KN_NS_SVC, NULL, 0)) < 0)
			break;
		if (cfg->pods != HFI_PODS_DISABLED) {
			memcpy(key + kl - 3, "pod", 3);
			if ((r = node_key(b, key, (size_t)kl, KN_NS_POD, NULL, 0)) < 0)
				break;
		}
	}
	hfi_selector_free(sel);
	return r < 0 ? r : HF_EOK;
}

/* Slices grouped by service (label + namespace), in store order. */
static int slices_group(k8s_build_t *b, tmp_t *t)
{
	size_t n = hfi_store_count_slices(b->st);
	if (b->cfg->noendpoints || n == 0)
		return HF_EOK;
	t->snext = hfi_mm_calloc(b->mm, n, sizeof(uint32_t));
	if (t->snext == NULL || hfi_k8s_bmap_reserve(&t->sgmap, n) < 0)
		return HF_ENOMEM;
	t->csn = n;
	for (size_t i = 0; i < n; i++) {
		const hfi_slice_t *sl = hfi_store_slice_at(b->st, i);
		t->snext[i] = NONE;
		if (sl == NULL || sl->service == NULL || sl->ns == NULL)
			continue;
		char key[512];
		size_t a = strlen(sl->ns), s = strlen(sl->service);
		if (a + s + 1 > sizeof(key))
			continue;
		memcpy(key, sl->ns, a);
		key[a] = '/';
		memcpy(key + a + 1, sl->service, s);
		uint32_t g;
		int r = hfi_k8s_bmap_add(&t->sgmap, key, a + s + 1, (uint32_t)t->ng, &g);
		if (r < 0)
			return r;
		if (r == 1) {
			if (hfi_mm_grow(b->mm, (void **)&t->ghead, &t->cgh, t->ng + 1, 4) < 0 ||
			    hfi_mm_grow(b->mm, (void **)&t->gtail, &t->cgt, t->ng + 1, 4) < 0)
				return HF_ENOMEM;
			t->ghead[g] = t->gtail[g] = (uint32_t)i;
			t->ng++;
		} else {
			t->snext[t->gtail[g]] = (uint32_t)i;
			t->gtail[g] = (uint32_t)i;
		}
	}
	return HF_EOK;
}

/* First slice of the service ns/name, NONE when it has none. */
static uint32_t slices_of(const tmp_t *t, const char *ns, const char *name)
{
	char key[512];
	size_t a = strlen(ns), s = strlen(name);
	uint32_t g;
	if (t->ng == 0 || a + s + 1 > sizeof(key))
		return NONE;
	memcpy(key, ns, a);
	key[a] = '/';
	memcpy(key + a + 1, name, s);
	if (!hfi_k8s_bmap_get(&t->sgmap, key, a + s + 1, &g))
		return NONE;
	return t->ghead[g];
}

/* ---- services ------------------------------------------------------------ */

static int pkey_add(k8s_build_t *b, tmp_t *t, const char *name, const char *proto)
{
	const char *nm = name ? name : "", *pr = proto ? proto : "";
	size_t nl = strlen(nm), pl = strlen(pr);
	pkey_t k[3];
	int nk = 0;
	bool nok = nl <= HFI_LABEL_MAX, pok = pl <= HFI_LABEL_MAX;

	/* the keys that match this port: (n, pr), (n, any), (any, pr) */
	for (int v = 0; v < 3; v++) {
		pkey_t x;
		memset(&x, 0, sizeof(x));
		bool un = v != 2, up = v != 1;
		if ((un && (!nok || nl == 0)) || (up && (!pok || pl == 0)))
			continue;
		if (un) {
			x.nl = (uint8_t)nl;
			for (size_t i = 0; i < nl; i++)
				x.n[i] = lc((uint8_t)nm[i]);
		}
		if (up) {
			x.prl = (uint8_t)pl;
			for (size_t i = 0; i < pl; i++)
				x.pr[i] = lc((uint8_t)pr[i]);
		}
		k[nk++] = x;
	}
	for (int i = 0; i < nk; i++) {
		bool dup = false;
		for (size_t j = 0; j < t->npk && !dup; j++)
			dup = t->pk[j].nl == k[i].nl && t->pk[j].prl == k[i].prl &&
			      memcmp(t->pk[j].n, k[i].n, k[i].nl) == 0 &&
			      memcmp(t->pk[j].pr, k[i].pr, k[i].prl) == 0;
		if (dup)
			continue;
		if (hfi_mm_grow(b->mm, (void **)&t->pk, &t->cpk, t->npk + 1, sizeof(pkey_t)) < 0)
			return HF_ENOMEM;
		t->pk[t->npk++] = k[i];
	}
	return HF_EOK;
}

static bool pkey_match(const pkey_t *k, const hfi_port_t *p)
{
	return (k->nl == 0 || eq_ci(k->n, k->nl, p->name)) &&
	       (k->prl == 0 || eq_ci(k->pr, k->prl, p->protocol));
}

/* The node key of a port key: [n][pr] + service key. */
static int pkey_node(k8s_build_t *b, const pkey_t *k, const uint8_t *skey, size_t sklen,
		     const content_t *c)
{
	uint8_t key[2 * (HFI_LABEL_MAX + 1) + 256];
	size_t o = 0;
	key[o++] = k->nl;
	memcpy(key + o, k->n, k->nl);
	o += k->nl;
	key[o++] = k->prl;
	memcpy(key + o, k->pr, k->prl);
	o += k->prl;
	memcpy(key + o, skey, sklen);
	return node_key(b, key, o + sklen, KN_PORT, c, 0);
}

/* A ClusterIP port: name and protocol in lower case ("" never matches a
 * name longer than a label: nlen 0xFF). */
static int port_push(k8s_build_t *b, const hfi_port_t *p)
{
	hfi_k8s_index_t *ix = b->ix;
	const char *nm = p->name ? p->name : "", *pr = p->protocol ? p->protocol : "";
	size_t nl = strlen(nm), pl = strlen(pr);
	uint8_t buf[2 * HFI_LABEL_MAX];
	k8s_port_t kp = { .port = p->port, .nlen = 0xFF, .plen = 0xFF };
	size_t o = 0;
	if (nl <= HFI_LABEL_MAX) {
		for (size_t i = 0; i < nl; i++)
			buf[o++] = lc((uint8_t)nm[i]);
		kp.nlen = (uint8_t)nl;
	}
	if (pl <= HFI_LABEL_MAX) {
		for (size_t i = 0; i < pl; i++)
			buf[o++] = lc((uint8_t)pr[i]);
		kp.plen = (uint8_t)pl;
	}
	int64_t off = hfi_k8s_arena_put(b, buf, o);
	if (off < 0)
		return (int)off;
	kp.noff = (uint32_t)off;
	if (hfi_mm_grow(b->mm, (void **)&ix->ports, &ix->ports_cap, ix->nports + 1, sizeof(kp)) < 0)
		return HF_ENOMEM;
	ix->ports[ix->nports++] = kp;
	return HF_EOK;
}

/* Ready addresses of the service's slices, with interned SRV targets and
 * grouped by endpoint name (lower case). */
static int collect_addrs(k8s_build_t *b, tmp_t *t, uint32_t first, const uint8_t *skey,
			 size_t sklen)
{
	int r;
	t->nar = 0;
	t->neg = 0;
	hfi_k8s_bmap_clear(&t->tmap);
	hfi_k8s_bmap_clear(&t->gmap);
	for (uint32_t si = first; si != NONE; si = t->snext[si]) {
		const hfi_slice_t *sl = hfi_store_slice_at(b->st, si);
		for (size_t i = 0; sl != NULL && i < sl->naddrs; i++) {
			const hfi_ep_addr_t *a = &sl->addrs[i];
			if (ip_len(&a->ip) == 0)
				continue;
			char nm[256];
			int nl = hfi_k8s_endpoint_name(a, b->cfg->endpoint_pod_names, nm, sizeof(nm));
			if (nl <= 0)
				continue;
			uint8_t tb[HFI_DNAME_MAX + 1];
			int tl = hfi_k8s_text_labels(nm, (size_t)nl, tb, sizeof(tb));
			if (tl < 0 || (size_t)tl + sklen + 1 > HFI_DNAME_MAX)
				continue;
			memcpy(tb + tl, skey, sklen);
			size_t tlen = (size_t)tl + sklen;
			uint32_t toff;
			if (!hfi_k8s_bmap_get(&t->tmap, tb, tlen, &toff)) {
				int64_t off = hfi_k8s_arena_put(b, tb, tlen);
				if (off < 0)
					return (int)off;
				toff = (uint32_t)off;
				if ((r = hfi_k8s_bmap_add(&t->tmap, tb, tlen, toff, &toff)) < 0)
					return r;
			}
			if (b->addr_toff != NULL) {
				b->addr_toff[b->slice_base[si] + i] = toff;
				b->addr_tlen[b->slice_base[si] + i] = (uint16_t)tlen;
			}
			if (hfi_mm_grow(b->mm, (void **)&t->ar, &t->car, t->nar + 1, sizeof(arec_t)) < 0)
				return HF_ENOMEM;
			uint32_t ai = (uint32_t)t->nar++;
			t->ar[ai] = (arec_t){ .sl = sl, .a = a, .toff = toff, .tlen = (uint16_t)tlen,
					      .next = NONE, .znext = NONE };
			/* endpoint-name group: only single-label names can be asked for */
			if (nl > HFI_LABEL_MAX || memchr(nm, '.', (size_t)nl) != NULL)
				continue;
			uint8_t gk[HFI_DNAME_MAX + 1];
			gk[0] = (uint8_t)nl;
			for (int k = 0; k < nl; k++)
				gk[1 + k] = lc((uint8_t)nm[k]);
			memcpy(gk + 1 + nl, skey, sklen);
			size_t gl = 1 + (size_t)nl + sklen;
			uint32_t gi;
			if ((r = hfi_k8s_bmap_add(&t->gmap, gk, gl, (uint32_t)t->neg, &gi)) < 0)
				return r;
			if (r == 0) {
				t->ar[t->eg[gi].tail].next = ai;
				t->eg[gi].tail = ai;
				continue;
			}
			uint32_t koff = toff;
			if (gl != tlen || memcmp(gk, tb, gl) != 0) {
				int64_t off = hfi_k8s_arena_put(b, gk, gl);
				if (off < 0)
					return (int)off;
				koff = (uint32_t)off;
			}
			if (hfi_mm_grow(b->mm, (void **)&t->eg, &t->ceg, t->neg + 1, sizeof(egroup_t)) < 0)
				return HF_ENOMEM;
			t->eg[t->neg++] = (egroup_t){ .head = ai, .tail = ai, .koff = koff,
						      .klen = (uint16_t)gl };
		}
	}
	return HF_EOK;
}

/* EP.SVC.NS.svc: every address named EP, with every port of its slice. */
static int endpoint_nodes(k8s_build_t *b, tmp_t *t)
{
	int r;
	for (size_t g = 0; g < t->neg; g++) {
		t->nent = 0;
		for (uint32_t ai = t->eg[g].head; ai != NONE; ai = t->ar[ai].next) {
			const arec_t *ar = &t->ar[ai];
			for (size_t p = 0; p < ar->sl->nports; p++)
				if ((r = ent_push(b, t, &ar->a->ip, ar->sl->ports[p].port, ar->toff,
						  ar->tlen)) < 0)
					return r;
		}
		content_t c;
		if ((r = emit(b, t, t->ent, t->nent, &c, true)) < 0)
			return r;
		if ((r = node_emit(b, t->eg[g].koff, t->eg[g].klen, KN_ENDPOINT, &c, 0)) < 0)
			return r;
	}
	return HF_EOK;
}

/* Entries of a headless service (or of one port key when k != NULL):
 * address x matching port of its slice. */
static int headless_entries(k8s_build_t *b, tmp_t *t, const pkey_t *k)
{
	int r;
	t->nent = 0;
	for (size_t ai = 0; ai < t->nar; ai++) {
		const arec_t *ar = &t->ar[ai];
		for (size_t p = 0; p < ar->sl->nports; p++) {
			if (k != NULL && !pkey_match(k, &ar->sl->ports[p]))
				continue;
			if ((r = ent_push(b, t, &ar->a->ip, ar->sl->ports[p].port, ar->toff,
					  ar->tlen)) < 0)
				return r;
		}
	}
	return HF_EOK;
}

/*
 * Option zonal: a KN_ZONAL node "ZONE.pin._zone.SVC.NS.svc" per distinct
 * endpoint zone of a headless service, holding what the service answers
 * restricted to the addresses of that zone (SRV weight over that set).
 * The answer code maps prefer to pin and falls back to the service.
 */
static int zonal_nodes(k8s_build_t *b, tmp_t *t, const uint8_t *skey, size_t sklen)
{
	static const uint8_t mid[] = "\3pin\5_zone";
	uint32_t *head = NULL;
	size_t nz = 0, cz = 0;
	int r = HF_EOK;

	/* group the addresses by zone (zmap: zone text -> group index) */
	hfi_k8s_bmap_clear(&t->zmap);
	uint32_t *tail = NULL;
	size_t ct = 0;
	for (size_t ai = 0; ai < t->nar; ai++) {
		const char *z = t->ar[ai].a->zone;
		if (z == NULL || z[0] == '\0')
			continue;
		uint32_t gi;
		if ((r = hfi_k8s_bmap_add(&t->zmap, z, strlen(z), (uint32_t)nz, &gi)) < 0)
			goto out;
		t->ar[ai].znext = NONE;
		if (r == 0) {
			t->ar[tail[gi]].znext = (uint32_t)ai;
			tail[gi] = (uint32_t)ai;
			continue;
		}
		if (hfi_mm_grow(b->mm, (void **)&head, &cz, nz + 1, sizeof(uint32_t)) < 0 ||
		    hfi_mm_grow(b->mm, (void **)&tail, &ct, nz + 1, sizeof(uint32_t)) < 0) {
			r = HF_ENOMEM;
			goto out;
		}
		head[nz] = tail[nz] = (uint32_t)ai;
		nz++;
	}
	r = HF_EOK;
	for (size_t g = 0; g < nz; g++) {
		const char *z = t->ar[head[g]].a->zone;
		uint8_t key[HFI_DNAME_MAX + 1];
		size_t zl = strlen(z);
		/* "a." can never equal the labels of a query */
		if (z[zl - 1] == '.')
			continue;
		int kl = hfi_k8s_text_labels(z, zl, key, sizeof(key));
		if (kl < 0 || (size_t)kl + sizeof(mid) - 1 + sklen > HFI_DNAME_MAX)
			continue;
		memcpy(key + kl, mid, sizeof(mid) - 1);
		memcpy(key + kl + sizeof(mid) - 1, skey, sklen);
		t->nent = 0;
		for (uint32_t ai = head[g]; ai != NONE; ai = t->ar[ai].znext) {
			const arec_t *ar = &t->ar[ai];
			for (size_t p = 0; p < ar->sl->nports; p++)
				if ((r = ent_push(b, t, &ar->a->ip, ar->sl->ports[p].port, ar->toff,
						  ar->tlen)) < 0)
					goto out;
		}
		content_t c;
		if ((r = emit(b, t, t->ent, t->nent, &c, true)) < 0)
			goto out;
		if ((r = node_key(b, key, (size_t)kl + sizeof(mid) - 1 + sklen, KN_ZONAL, &c, 0)) < 0)
			goto out;
	}
out:
	hfi_mm_free(b->mm, head);
	hfi_mm_free(b->mm, tail);
	return r;
}

static int clusterip_entries(k8s_build_t *b, tmp_t *t, const hfi_service_t *svc,
			     uint32_t soff, size_t sklen)
{
	int r;
	t->nent = 0;
	for (size_t p = 0; p < svc->nports; p++) {
		for (size_t i = 0; i < svc->nips; i++)
			if ((r = ent_push(b, t, &svc->ips[i], svc->ports[p].port, soff,
					  (uint16_t)sklen)) < 0)
				return r;
	}
	return HF_EOK;
}

static int external_node(k8s_build_t *b, const hfi_service_t *svc, uint32_t soff, size_t sklen)
{
	hfi_ip_t ip;
	const char *en = svc->external_name;
	/* an IP address as externalName makes no record (NXDOMAIN) */
	if (en == NULL || en[0] == '\0' || hfi_ip_parse(en, &ip) == HF_EOK)
		return HF_EOK;
	uint8_t w[HFI_DNAME_MAX + 1], l[HFI_DNAME_MAX + 1];
	int n = hfi_k8s_text_labels(en, strlen(en), w, sizeof(w) - 1);
	if (n < 0 || n + 1 > HFI_DNAME_MAX)
		return HF_EOK;
	w[n++] = 0;
	hfi_dname_lower(l, w);
	int64_t co = hfi_k8s_arena_put(b, w, (size_t)n), lo = co;
	if (co >= 0 && memcmp(w, l, (size_t)n) != 0)
		lo = hfi_k8s_arena_put(b, l, (size_t)n);
	if (co < 0 || lo < 0)
		return HF_ENOMEM;
	k8s_node_t nd = { .koff = soff, .klen = (uint16_t)sklen, .kind = KN_SERVICE,
			  .flags = KF_ENTRIES | KF_EXTERNAL, .cname_off = (uint32_t)co,
			  .lcname_off = (uint32_t)lo };
	return hfi_k8s_node_push(b, &nd);
}

static int service_build(k8s_build_t *b, tmp_t *t, const hfi_service_t *svc, size_t idx)
{
	uint8_t skey[160];
	int r;

	if (svc->ns == NULL || svc->name == NULL || !hfi_k8s_ns_exposed(b, svc->ns))
		return HF_EOK;
	int kl = svc_key(svc->name, svc->ns, "svc", skey);
	if (kl < 0)
		return HF_EOK;
	size_t sklen = (size_t)kl;
	int64_t so = hfi_k8s_arena_put(b, skey, sklen);
	if (so < 0)
		return (int)so;
	uint32_t soff = (uint32_t)so;
	b->svc_soff[idx] = soff;
	b->svc_slen[idx] = (uint16_t)sklen;

	if (svc->type != NULL && strcmp(svc->type, "ExternalName") == 0)
		return external_node(b, svc, soff, sklen);

	uint32_t first = slices_of(t, svc->ns, svc->name);
	if ((r = collect_addrs(b, t, first, skey, sklen)) < 0)
		return r;
	content_t bare;
	t->npk = 0;
	if (!svc->headless) {
		/* ignore empty_service: no ready address in any slice */
		if (b->cfg->ignore_empty_service) {
			bool any = false;
			for (uint32_t si = first; si != NONE && !any; si = t->snext[si]) {
				const hfi_slice_t *sl = hfi_store_slice_at(b->st, si);
				any = sl != NULL && sl->naddrs > 0;
			}
			if (!any)
				return HF_EOK;
		}
		if ((r = clusterip_entries(b, t, svc, soff, sklen)) < 0)
			return r;
		/* SRV and glue are made at query time from the ports */
		if ((r = emit(b, t, t->ent, t->nent, &bare, false)) < 0)
			return r;
		/* the ports, for port names matched at query time */
		k8s_node_t nd;
		memset(&nd, 0, sizeof(nd));
		content_set(&nd, &bare);
		nd.glue_i = nd.glue_n = 0;
		nd.port_i = (uint32_t)b->ix->nports;
		for (size_t p = 0; p < svc->nports; p++)
			if ((r = port_push(b, &svc->ports[p])) < 0)
				return r;
		nd.port_n = (uint32_t)(b->ix->nports - nd.port_i);
		nd.koff = soff;
		nd.klen = (uint16_t)sklen;
		nd.kind = KN_SERVICE;
		nd.flags |= KF_CLUSTERIP;
		if (svc->nips > 0 && svc->ips[0].family == 6)
			nd.flags |= KF_V6FIRST;
		if ((r = hfi_k8s_node_push(b, &nd)) < 0)
			return r;
		return endpoint_nodes(b, t);
	}
	/* headless: nothing at all without a ready address */
	if ((r = headless_entries(b, t, NULL)) < 0)
		return r;
	if (t->nent == 0)
		return HF_EOK;
	size_t nbare = t->nent;
	if ((r = emit(b, t, t->ent, t->nent, &bare, true)) < 0)
		return r;
	if ((r = node_emit(b, soff, sklen, KN_SERVICE, &bare, 0)) < 0)
		return r;
	for (uint32_t si = first; si != NONE; si = t->snext[si]) {
		const hfi_slice_t *sl = hfi_store_slice_at(b->st, si);
		for (size_t p = 0; sl != NULL && p < sl->nports; p++)
			if ((r = pkey_add(b, t, sl->ports[p].name, sl->ports[p].protocol)) < 0)
				return r;
	}
	for (size_t k = 0; k < t->npk; k++) {
		content_t c = bare;
		if ((r = headless_entries(b, t, &t->pk[k])) < 0)
			return r;
		if (t->nent == 0)
			continue;
		if (t->nent != nbare && (r = emit(b, t, t->ent, t->nent, &c, true)) < 0)
			return r;
		if ((r = pkey_node(b, &t->pk[k], skey, sklen, &c)) < 0)
			return r;
	}
	if (b->cfg->zonal && (r = zonal_nodes(b, t, skey, sklen)) < 0)
		return r;
	return endpoint_nodes(b, t);
}

/* ---- pods (verified) ----------------------------------------------------- */

static int pods_build(k8s_build_t *b, tmp_t *t)
{
	size_t n = hfi_store_count_pods(b->st);
	int r;
	/* group pods by (namespace, IP): gmap key -> index into eg (koff, count in tail) */
	hfi_k8s_bmap_clear(&t->gmap);
	t->neg = 0;
	for (size_t i = 0; i < n; i++) {
		const hfi_pod_t *p = hfi_store_pod_at(b->st, i);
		if (p == NULL || ip_len(&p->ip) == 0 || !hfi_k8s_ns_exposed(b, p->ns))
			continue;
		/* the pod watch excludes Succeeded, Failed and Unknown pods */
		if (p->phase != NULL && (strcmp(p->phase, "Succeeded") == 0 ||
					 strcmp(p->phase, "Failed") == 0 ||
					 strcmp(p->phase, "Unknown") == 0))
			continue;
		char lab[64];
		int ll = hfi_k8s_ip_label(&p->ip, false, lab, sizeof(lab));
		uint8_t key[160];
		if (ll <= 0 || ll > HFI_LABEL_MAX)
			continue;
		key[0] = (uint8_t)ll;
		memcpy(key + 1, lab, (size_t)ll);
		int kl = svc_key(NULL, p->ns, "pod", key + 1 + ll);
		if (kl < 0)
			continue;
		size_t klen = 1 + (size_t)ll + (size_t)kl;
		uint32_t gi;
		if ((r = hfi_k8s_bmap_add(&t->gmap, key, klen, (uint32_t)t->neg, &gi)) < 0)
			return r;
		if (r == 0) {
			t->eg[gi].tail++;
			continue;
		}
		int64_t off = hfi_k8s_arena_put(b, key, klen);
		if (off < 0)
			return (int)off;
		if (hfi_mm_grow(b->mm, (void **)&t->eg, &t->ceg, t->neg + 1, sizeof(egroup_t)) < 0)
			return HF_ENOMEM;
		t->eg[t->neg] = (egroup_t){ .head = (uint32_t)i, .tail = 1, .koff = (uint32_t)off,
					    .klen = (uint16_t)klen };
		t->neg++;
	}
	for (size_t g = 0; g < t->neg; g++) {
		const hfi_pod_t *p = hfi_store_pod_at(b->st, t->eg[g].head);
		t->nent = 0;
		for (uint32_t k = 0; k < t->eg[g].tail; k++)
			if ((r = ent_push(b, t, &p->ip, 0, t->eg[g].koff, t->eg[g].klen)) < 0)
				return r;
		content_t c;
		if ((r = emit(b, t, t->ent, t->nent, &c, true)) < 0)
			return r;
		if ((r = node_emit(b, t->eg[g].koff, t->eg[g].klen, KN_POD, &c, 0)) < 0)
			return r;
	}
	return HF_EOK;
}

/* ---- NS at the apex ------------------------------------------------------ */

static int ns_add(k8s_build_t *b, tmp_t *t, const uint8_t *name, size_t len, const hfi_ip_t *ip)
{
	size_t al = ip_len(ip);
	int r;
	uint32_t toff, v;
	if (al == 0)
		return HF_EOK;
	if (!hfi_k8s_bmap_get(&t->tmap, name, len, &toff)) {
		/* a new NS name, in order of first appearance */
		int64_t to = hfi_k8s_arena_put(b, name, len);
		if (to < 0)
			return (int)to;
		toff = (uint32_t)to;
		if ((r = hfi_k8s_bmap_add(&t->tmap, name, len, toff, &v)) < 0)
			return r;
		if (hfi_mm_grow(b->mm, (void **)&t->eg, &t->ceg, t->neg + 1, sizeof(egroup_t)) < 0)
			return HF_ENOMEM;
		t->eg[t->neg++] = (egroup_t){ .koff = toff, .klen = (uint16_t)len };
	}
	int64_t ao = hfi_k8s_arena_put(b, ip->addr, al);
	if (ao < 0)
		return (int)ao;
	/* glue for every (name, address), duplicates included (plugin.NS) */
	k8s_glue_t g = { .toff = toff, .tlen = (uint16_t)len, .family = ip->family,
			 .aoff = (uint32_t)ao };
	if ((r = hfi_k8s_glue_push(b, &g)) < 0)
		return r;
	/* ns.dns.<zone> answers: addresses de-duplicated per family */
	uint8_t key[17];
	key[0] = ip->family;
	memcpy(key + 1, ip->addr, al);
	if ((r = hfi_k8s_bmap_add(&t->dd, key, 1 + al, 0, &v)) < 0)
		return r;
	if (r == 1) {
		uint8_t **buf = al == 4 ? &t->b4 : &t->b6;
		size_t *n = al == 4 ? &t->n4 : &t->n6, *cap = al == 4 ? &t->c4 : &t->c6;
		if (hfi_mm_grow(b->mm, (void **)buf, cap, *n + al, 1) < 0)
			return HF_ENOMEM;
		memcpy(*buf + *n, ip->addr, al);
		*n += al;
	}
	return HF_EOK;
}

static int ns_build(k8s_build_t *b, tmp_t *t, const hfi_ip_t *self, size_t nself)
{
	hfi_k8s_index_t *ix = b->ix;
	bool found = false;
	int r;

	hfi_k8s_bmap_clear(&t->tmap);
	hfi_k8s_bmap_clear(&t->dd);
	t->neg = 0;
	t->n4 = t->n6 = 0;
	ix->ns_glue_i = (uint32_t)ix->nglues;
	size_t nsl = b->cfg->noendpoints ? 0 : hfi_store_count_slices(b->st);
	for (size_t s = 0; s < nself; s++) {
		for (size_t i = 0; i < nsl; i++) {
			const hfi_slice_t *sl = hfi_store_slice_at(b->st, i);
			bool has = false;
			for (size_t a = 0; sl != NULL && a < sl->naddrs && !has; a++)
				has = sl->addrs[a].ip.family == self[s].family &&
				      memcmp(sl->addrs[a].ip.addr, self[s].addr, ip_len(&self[s])) == 0;
			if (!has)
				continue;
			found = true;
			if (sl->service == NULL || sl->ns == NULL)
				continue;
			const hfi_service_t *svc = hfi_store_service(b->st, sl->ns, sl->service);
			uint8_t pre[HFI_DNAME_MAX + 1];
			if (svc == NULL || svc->name == NULL || svc->ns == NULL)
				continue;
			char text[HFI_DNAME_MAX * 2];
			int tl = snprintf(text, sizeof(text), "%s.%s.svc", svc->name, svc->ns);
			if (tl < 0 || (size_t)tl >= sizeof(text))
				continue;
			int pl = hfi_k8s_text_labels(text, (size_t)tl, pre, sizeof(pre));
			if (pl < 0)
				continue;
			if (!svc->headless) {
				for (size_t k = 0; k < svc->nips; k++)
					if ((r = ns_add(b, t, pre, (size_t)pl, &svc->ips[k])) < 0)
						return r;
				continue;
			}
			for (size_t a = 0; a < sl->naddrs; a++) {
				char nm[256];
				uint8_t full[HFI_DNAME_MAX + 1];
				int nl = hfi_k8s_endpoint_name(&sl->addrs[a], b->cfg->endpoint_pod_names,
							       nm, sizeof(nm));
				if (nl <= 0)
					continue;
				int fl = hfi_k8s_text_labels(nm, (size_t)nl, full, sizeof(full));
				if (fl < 0 || (size_t)fl + (size_t)pl > HFI_DNAME_MAX - 1)
					continue;
				memcpy(full + fl, pre, (size_t)pl);
				if ((r = ns_add(b, t, full, (size_t)(fl + pl), &sl->addrs[a].ip)) < 0)
					return r;
			}
		}
	}
	if (!found) {
		static const uint8_t nsdns[] = "\2ns\3dns";
		for (size_t s = 0; s < nself; s++)
			if ((r = ns_add(b, t, nsdns, sizeof(nsdns) - 1, &self[s])) < 0)
				return r;
	}
	ix->ns_glue_n = (uint32_t)(ix->nglues - ix->ns_glue_i);
	ix->ns_name_i = (uint32_t)ix->nglues;
	for (size_t k = 0; k < t->neg; k++) {
		k8s_glue_t g = { .toff = t->eg[k].koff, .tlen = t->eg[k].klen };
		if ((r = hfi_k8s_glue_push(b, &g)) < 0)
			return r;
	}
	ix->ns_name_n = (uint32_t)(ix->nglues - ix->ns_name_i);
	int64_t o4 = hfi_k8s_arena_put(b, t->b4, t->n4);
	int64_t o6 = hfi_k8s_arena_put(b, t->b6, t->n6);
	if (o4 < 0 || o6 < 0)
		return HF_ENOMEM;
	ix->nsa_off = (uint32_t)o4;
	ix->nsa_n = (uint32_t)(t->n4 / 4);
	ix->nsaaaa_off = (uint32_t)o6;
	ix->nsaaaa_n = (uint32_t)(t->n6 / 16);
	return HF_EOK;
}

/* ---- prefixes shared with the PTR targets --------------------------------- */

static int prefix_arrays(k8s_build_t *b)
{
	size_t ns = hfi_store_count_services(b->st), nsl = hfi_store_count_slices(b->st);
	size_t na = 0;
	b->svc_soff = hfi_mm_alloc(b->mm, (ns ? ns : 1) * sizeof(uint32_t));
	b->svc_slen = hfi_mm_alloc(b->mm, (ns ? ns : 1) * sizeof(uint16_t));
	b->slice_base = hfi_mm_alloc(b->mm, (nsl + 1) * sizeof(size_t));
	if (b->svc_soff == NULL || b->svc_slen == NULL || b->slice_base == NULL)
		return HF_ENOMEM;
	for (size_t i = 0; i < ns; i++)
		b->svc_soff[i] = NONE;
	for (size_t i = 0; i < nsl; i++) {
		const hfi_slice_t *sl = hfi_store_slice_at(b->st, i);
		b->slice_base[i] = na;
		na += sl != NULL ? sl->naddrs : 0;
	}
	b->slice_base[nsl] = na;
	b->addr_toff = hfi_mm_alloc(b->mm, (na ? na : 1) * sizeof(uint32_t));
	b->addr_tlen = hfi_mm_alloc(b->mm, (na ? na : 1) * sizeof(uint16_t));
	if (b->addr_toff == NULL || b->addr_tlen == NULL)
		return HF_ENOMEM;
	for (size_t i = 0; i < na; i++)
		b->addr_toff[i] = NONE;
	return HF_EOK;
}

/* Give back the growth slack of the arrays (best effort). */
static void shrink_one(const hf_mm_t *mm, void **p, size_t *cap, size_t n, size_t elsz)
{
	if (*p == NULL || n == *cap)
		return;
	void *q = hfi_mm_realloc(mm, *p, (n ? n : 1) * elsz);
	if (q != NULL) {
		*p = q;
		*cap = n ? n : 1;
	}
}

static void shrink(hfi_k8s_index_t *ix)
{
	const hf_mm_t *mm = ix->has_mm ? &ix->mm : NULL;
	shrink_one(mm, (void **)&ix->arena, &ix->arena_cap, ix->arena_len, 1);
	shrink_one(mm, (void **)&ix->nodes, &ix->nodes_cap, ix->nnodes, sizeof(k8s_node_t));
	shrink_one(mm, (void **)&ix->srvs, &ix->srvs_cap, ix->nsrvs, sizeof(k8s_srv_t));
	shrink_one(mm, (void **)&ix->glues, &ix->glues_cap, ix->nglues, sizeof(k8s_glue_t));
	shrink_one(mm, (void **)&ix->ports, &ix->ports_cap, ix->nports, sizeof(k8s_port_t));
}

/* ---- the lookup table ---------------------------------------------------- */

static int table_build(k8s_build_t *b)
{
	hfi_k8s_index_t *ix = b->ix;
	size_t cap = 16;
	while (cap < ix->nnodes * 2 + 1)
		cap *= 2;
	if (cap > UINT32_MAX || ix->nnodes >= UINT32_MAX)
		return HF_ENOMEM;
	ix->slots = hfi_mm_calloc(b->mm, cap, sizeof(uint64_t));
	if (ix->slots == NULL)
		return HF_ENOMEM;
	ix->mask = (uint32_t)(cap - 1);
	for (size_t i = 0; i < ix->nnodes; i++) {
		const k8s_node_t *n = &ix->nodes[i];
		uint32_t j = n->hash & ix->mask;
		bool dup = false;
		while (ix->slots[j] != 0 && !dup) {
			const k8s_node_t *o = &ix->nodes[(uint32_t)ix->slots[j] - 1];
			dup = o->hash == n->hash && o->klen == n->klen &&
			      memcmp(ix->arena + o->koff, ix->arena + n->koff, n->klen) == 0;
			if (!dup)
				j = (j + 1) & ix->mask;
		}
		if (!dup)
			ix->slots[j] = (uint64_t)n->hash << 32 | (uint64_t)(i + 1);
	}
	return HF_EOK;
}

/* Keys are short (a DNS name suffix); an inline compare beats a call. */
static inline bool key_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			return false;
	}
	for (; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* One probe sequence; the node is read only when the slot's hash matches. */
const k8s_node_t *hfi_k8s_find(const hfi_k8s_index_t *ix, const uint8_t *key, size_t klen)
{
	if (ix->slots == NULL)
		return NULL;
	uint32_t h = hfi_k8s_hash(key, klen);
	uint32_t j = h & ix->mask;
	uint64_t s;
	while ((s = ix->slots[j]) != 0) {
		if ((uint32_t)(s >> 32) == h) {
			const k8s_node_t *n = &ix->nodes[(uint32_t)s - 1];
			if (n->klen == klen && key_eq(ix->arena + n->koff, key, klen))
				return n;
		}
		j = (j + 1) & ix->mask;
	}
	return NULL;
}

/* ---- lifetime ------------------------------------------------------------ */

hfi_k8s_index_t *hfi_k8s_index_build(const hfi_store_t *st, const hfi_cfg_kubernetes_t *cfg,
				     const hfi_ip_t *self, size_t nself, const hf_mm_t *mm)
{
	if (cfg == NULL)
		return NULL;
	hfi_k8s_index_t *ix = hfi_mm_calloc(mm, 1, sizeof(*ix));
	if (ix == NULL)
		return NULL;
	if (mm != NULL) {
		ix->mm = *mm;
		ix->has_mm = true;
	}
	k8s_build_t b = { .ix = ix, .mm = ix->has_mm ? &ix->mm : NULL, .st = st, .cfg = cfg };
	b.nsmap.mm = b.mm;
	tmp_t t;
	tmp_init(&t, b.mm);
	int r = cfg_setup(&b);
	if (r >= 0)
		r = ns_setup(&b);
	if (r >= 0)
		r = slices_group(&b, &t);
	if (r >= 0)
		r = prefix_arrays(&b);
	size_t ns = hfi_store_count_services(st);
	for (size_t i = 0; i < ns && r >= 0; i++) {
		const hfi_service_t *svc = hfi_store_service_at(st, i);
		if (svc != NULL)
			r = service_build(&b, &t, svc, i);
	}
	if (r >= 0 && cfg->pods == HFI_PODS_VERIFIED)
		r = pods_build(&b, &t);
	if (r >= 0)
		r = hfi_k8s_ptr_build(&b);
	if (r >= 0)
		r = ns_build(&b, &t, self, self != NULL ? nself : 0);
	if (r >= 0)
		r = table_build(&b);
	tmp_free(&t, b.mm);
	hfi_k8s_bmap_free(&b.nsmap);
	hfi_mm_free(b.mm, b.svc_soff);
	hfi_mm_free(b.mm, b.svc_slen);
	hfi_mm_free(b.mm, b.addr_toff);
	hfi_mm_free(b.mm, b.addr_tlen);
	hfi_mm_free(b.mm, b.slice_base);
	if (r >= 0)
		shrink(ix);
	if (r < 0) {
		hfi_k8s_index_free(ix);
		return NULL;
	}
	return ix;
}

void hfi_k8s_index_free(hfi_k8s_index_t *ix)
{
	if (ix == NULL)
		return;
	hf_mm_t mm = ix->mm;
	const hf_mm_t *m = ix->has_mm ? &mm : NULL;
	hfi_mm_free(m, ix->arena);
	hfi_mm_free(m, ix->nodes);
	hfi_mm_free(m, ix->slots);
	hfi_mm_free(m, ix->srvs);
	hfi_mm_free(m, ix->glues);
	hfi_mm_free(m, ix->ports);
	hfi_mm_free(m, ix->zone_off);
	hfi_mm_free(m, ix->zone_labels);
	hfi_mm_free(m, ix->fall_off);
	hfi_mm_free(m, ix);
}

size_t hfi_k8s_index_names(const hfi_k8s_index_t *ix)
{
	return ix != NULL ? ix->nnames : 0;
}
