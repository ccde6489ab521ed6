/*
 * objects.c: the object store.  One table per kind: a dense array of
 * entries (swap-remove, so *_at(i) is O(1)) plus an open-addressing hash
 * index (linear probing, backward-shift deletion) from namespace/name to
 * the dense position.  Every stored object is one allocation holding the
 * struct, its arrays and its strings (a deep copy, all or nothing).  Puts
 * compare the DNS-visible fields (spec 4.2) to decide whether the SOA
 * serial moves.
 */
#include "objects.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdalign.h>
#include <string.h>
#include <time.h>

#include "holdfast.h"

typedef struct ent {
	uint64_t hash;
	const char *ns;   /* "" for namespaces */
	const char *name;
	void *obj;
} ent_t;

typedef struct tbl {
	ent_t *ents;
	size_t n, cap;
	uint32_t *slots; /* dense index + 1; 0 = empty */
	size_t nslots;   /* power of two (or 0) */
} tbl_t;

struct hfi_store {
	hf_mm_t mm;
	bool has_mm;
	tbl_t nss, svcs, slices, pods;
	uint32_t serial;
	bool synced;
};

static const hf_mm_t *st_mm(const hfi_store_t *st)
{
	return st->has_mm ? &st->mm : NULL;
}

/* ---- hashing and the table ---------------------------------------------- */

uint64_t hfi_store_key_hash(const char *ns, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)ns; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	/* final avalanche (murmur3 fmix64) */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Slot holding the entry for ns/name, or (size_t)-1. */
static size_t tbl_find(const tbl_t *t, uint64_t h, const char *ns, const char *name)
{
	if (t->nslots == 0)
		return (size_t)-1;
	size_t mask = t->nslots - 1;
	for (size_t s = h & mask, i = 0; i < t->nslots; s = (s + 1) & mask, i++) {
		uint32_t v = t->slots[s];
		if (v == 0)
			return (size_t)-1;
		const ent_t *e = &t->ents[v - 1];
		if (e->hash == h && strcmp(e->name, name) == 0 && strcmp(e->ns, ns) == 0)
			return s;
	}
	return (size_t)-1;
}

/* Slot holding dense index idx. */
static size_t tbl_slot_of(const tbl_t *t, size_t idx)
{
	size_t mask = t->nslots - 1;
	for (size_t s = t->ents[idx].hash & mask, i = 0; i < t->nslots; s = (s + 1) & mask, i++)
		if (t->slots[s] == idx + 1)
			return s;
	return (size_t)-1; /* not reached while the table is consistent */
}

static void tbl_place(tbl_t *t, size_t idx)
{
	size_t mask = t->nslots - 1;
	size_t s = t->ents[idx].hash & mask;
	while (t->slots[s] != 0)
		s = (s + 1) & mask;
	t->slots[s] = (uint32_t)(idx + 1);
}

/* Make room for one more entry (dense and index); nothing changes on failure. */
static int tbl_reserve(const hf_mm_t *mm, tbl_t *t)
{
	if (t->n + 1 >= UINT32_MAX)
		return HF_ENOMEM;
	int ret = hfi_mm_grow(mm, (void **)&t->ents, &t->cap, t->n + 1, sizeof(ent_t));
	if (ret != HF_EOK)
		return ret;
	if ((t->n + 1) * 2 <= t->nslots)
		return HF_EOK;
	size_t ns = t->nslots ? t->nslots * 2 : 16;
	while ((t->n + 1) * 2 > ns)
		ns *= 2;
	uint32_t *slots = hfi_mm_calloc(mm, ns, sizeof(uint32_t));
	if (slots == NULL)
		return HF_ENOMEM;
	hfi_mm_free(mm, t->slots);
	t->slots = slots;
	t->nslots = ns;
	for (size_t i = 0; i < t->n; i++)
		tbl_place(t, i);
	return HF_EOK;
}

static void tbl_insert(tbl_t *t, uint64_t h, const char *ns, const char *name, void *obj)
{
	size_t idx = t->n++;
	t->ents[idx] = (ent_t){ .hash = h, .ns = ns, .name = name, .obj = obj };
	tbl_place(t, idx);
}

/* Remove the entry in slot s (backward-shift), then swap-remove it from the
 * dense array.  Returns the object for the caller to free. */
static void *tbl_remove(tbl_t *t, size_t s)
{
	size_t mask = t->nslots - 1;
	size_t idx = t->slots[s] - 1;
	void *obj = t->ents[idx].obj;
	size_t i = s;
	for (size_t j = (i + 1) & mask; t->slots[j] != 0; j = (j + 1) & mask) {
		size_t k = t->ents[t->slots[j] - 1].hash & mask;
		/* the entry at j stays unless its home k lies cyclically outside (i, j] */
		bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = 0;
	size_t last = t->n - 1;
	if (idx != last) {
		size_t ls = tbl_slot_of(t, last);
		t->ents[idx] = t->ents[last];
		t->slots[ls] = (uint32_t)(idx + 1);
	}
	t->n--;
	return obj;
}

static void tbl_free(const hf_mm_t *mm, tbl_t *t)
{
	for (size_t i = 0; i < t->n; i++)
		hfi_mm_free(mm, t->ents[i].obj);
	hfi_mm_free(mm, t->ents);
	hfi_mm_free(mm, t->slots);
	memset(t, 0, sizeof(*t));
}

/* ---- one-block deep copies ---------------------------------------------- */

/* Two passes over the same code: base NULL measures, then base set writes. */
typedef struct pack {
	char *base;
	size_t off;
} pack_t;

static void *pk_take(pack_t *pk, size_t size, size_t align)
{
	pk->off = (pk->off + align - 1) & ~(align - 1);
	void *p = pk->base != NULL ? pk->base + pk->off : NULL;
	pk->off += size;
	return p;
}

static char *pk_str(pack_t *pk, const char *s)
{
	if (s == NULL)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = pk_take(pk, n, 1);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

static char *pk_str_lower(pack_t *pk, const char *s)
{
	char *d = pk_str(pk, s);
	if (d != NULL)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

static void pk_labels(pack_t *pk, hfi_labels_t *dst, const hfi_labels_t *src)
{
	size_t n = src->kv != NULL ? src->n : 0;
	hfi_kv_t *kv = n ? pk_take(pk, n * sizeof(hfi_kv_t), alignof(hfi_kv_t)) : NULL;
	for (size_t i = 0; i < n; i++) {
		char *k = pk_str(pk, src->kv[i].key ? src->kv[i].key : "");
		char *v = pk_str(pk, src->kv[i].val ? src->kv[i].val : "");
		if (kv != NULL) {
			kv[i].key = k;
			kv[i].val = v;
		}
	}
	if (dst != NULL) {
		dst->kv = kv;
		dst->n = n;
	}
}

static void pk_ports(pack_t *pk, hfi_port_t **dstp, size_t *dstn,
		     const hfi_port_t *src, size_t n)
{
	if (src == NULL)
		n = 0;
	size_t cnt = n ? n : 1;
	hfi_port_t *p = pk_take(pk, cnt * sizeof(hfi_port_t), alignof(hfi_port_t));
	if (n == 0) {
		char *e = pk_str(pk, "");
		if (p != NULL)
			p[0] = (hfi_port_t){ .name = e, .protocol = e, .port = -1 };
	}
	for (size_t i = 0; i < n; i++) {
		char *nm = pk_str(pk, src[i].name ? src[i].name : "");
		char *pr = pk_str(pk, src[i].protocol ? src[i].protocol : "");
		if (p != NULL)
			p[i] = (hfi_port_t){ .name = nm, .protocol = pr, .port = src[i].port };
	}
	if (dstp != NULL) {
		*dstp = p;
		*dstn = cnt;
	}
}

static hfi_namespace_t *pk_namespace(pack_t *pk, const hfi_namespace_t *s)
{
	hfi_namespace_t *d = pk_take(pk, sizeof(*d), alignof(hfi_namespace_t));
	char *name = pk_str(pk, s->name);
	char *rv = pk_str(pk, s->rv);
	pk_labels(pk, d ? &d->labels : NULL, &s->labels);
	if (d != NULL) {
		d->name = name;
		d->rv = rv;
	}
	return d;
}

static hfi_service_t *pk_service(pack_t *pk, const hfi_service_t *s)
{
	hfi_service_t *d = pk_take(pk, sizeof(*d), alignof(hfi_service_t));
	char *ns = pk_str(pk, s->ns);
	char *name = pk_str(pk, s->name);
	char *rv = pk_str(pk, s->rv);
	char *type = pk_str(pk, s->type ? s->type : "ClusterIP");
	char *ext = pk_str(pk, s->external_name);
	size_t nips = (s->headless || s->ips == NULL) ? 0 : s->nips;
	hfi_ip_t *ips = nips ? pk_take(pk, nips * sizeof(hfi_ip_t), alignof(hfi_ip_t)) : NULL;
	if (ips != NULL)
		memcpy(ips, s->ips, nips * sizeof(hfi_ip_t));
	pk_ports(pk, d ? &d->ports : NULL, d ? &d->nports : NULL, s->ports, s->nports);
	pk_labels(pk, d ? &d->labels : NULL, &s->labels);
	if (d != NULL) {
		d->ns = ns;
		d->name = name;
		d->rv = rv;
		d->type = type;
		d->headless = s->headless;
		d->ips = ips;
		d->nips = nips;
		d->external_name = ext;
	}
	return d;
}

static hfi_slice_t *pk_slice(pack_t *pk, const hfi_slice_t *s)
{
	hfi_slice_t *d = pk_take(pk, sizeof(*d), alignof(hfi_slice_t));
	char *ns = pk_str(pk, s->ns);
	char *name = pk_str(pk, s->name);
	char *rv = pk_str(pk, s->rv);
	char *svc = pk_str(pk, s->service);
	pk_ports(pk, d ? &d->ports : NULL, d ? &d->nports : NULL, s->ports, s->nports);
	size_t na = s->addrs != NULL ? s->naddrs : 0;
	hfi_ep_addr_t *a = na ? pk_take(pk, na * sizeof(hfi_ep_addr_t), alignof(hfi_ep_addr_t)) : NULL;
	for (size_t i = 0; i < na; i++) {
		const hfi_ep_addr_t *sa = &s->addrs[i];
		char *host = pk_str(pk, sa->hostname);
		const char *pn = sa->pod_name;
		if (pn != NULL && strlen(pn) >= 64)
			pn = NULL;
		char *pod = pk_str(pk, pn);
		char *node = pk_str(pk, sa->node_name);
		char *zone = pk_str_lower(pk, sa->zone);
		if (a != NULL)
			a[i] = (hfi_ep_addr_t){ .ip = sa->ip, .hostname = host, .pod_name = pod,
						.node_name = node, .zone = zone };
	}
	pk_labels(pk, d ? &d->labels : NULL, &s->labels);
	if (d != NULL) {
		d->ns = ns;
		d->name = name;
		d->rv = rv;
		d->service = svc;
		d->addrs = a;
		d->naddrs = na;
	}
	return d;
}

static hfi_pod_t *pk_pod(pack_t *pk, const hfi_pod_t *s)
{
	hfi_pod_t *d = pk_take(pk, sizeof(*d), alignof(hfi_pod_t));
	char *ns = pk_str(pk, s->ns);
	char *name = pk_str(pk, s->name);
	char *rv = pk_str(pk, s->rv);
	char *phase = pk_str(pk, s->phase);
	pk_labels(pk, d ? &d->labels : NULL, &s->labels);
	if (d != NULL) {
		d->ns = ns;
		d->name = name;
		d->rv = rv;
		d->ip = s->ip;
		d->phase = phase;
		d->deleting = s->deleting;
	}
	return d;
}

enum kind { K_NS, K_SVC, K_SLICE, K_POD };

static void *pk_any(pack_t *pk, enum kind k, const void *src)
{
	switch (k) {
	case K_NS: return pk_namespace(pk, src);
	case K_SVC: return pk_service(pk, src);
	case K_SLICE: return pk_slice(pk, src);
	case K_POD: return pk_pod(pk, src);
	}
	return NULL;
}

static void *copy_obj(const hf_mm_t *mm, enum kind k, const void *src)
{
	pack_t pk = { 0 };
	pk_any(&pk, k, src);
	char *mem = hfi_mm_alloc(mm, pk.off);
	if (mem == NULL)
		return NULL;
	pk = (pack_t){ .base = mem };
	return pk_any(&pk, k, src);
}

/* ---- DNS-visible comparison --------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool ip_eq(const hfi_ip_t *a, const hfi_ip_t *b)
{
	if (a->family != b->family)
		return false;
	size_t n = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
	return memcmp(a->addr, b->addr, n) == 0;
}

static bool ports_eq(const hfi_port_t *a, size_t na, const hfi_port_t *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].port != b[i].port || !str_eq(a[i].name, b[i].name) ||
		    !str_eq(a[i].protocol, b[i].protocol))
			return false;
	return true;
}

static bool labels_eq(const hfi_labels_t *a, const hfi_labels_t *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!str_eq(a->kv[i].key, b->kv[i].key) || !str_eq(a->kv[i].val, b->kv[i].val))
			return false;
	return true;
}

static bool service_same(const hfi_service_t *a, const hfi_service_t *b)
{
	if (!str_eq(a->type, b->type) || a->headless != b->headless ||
	    !str_eq(a->external_name, b->external_name) || a->nips != b->nips)
		return false;
	for (size_t i = 0; i < a->nips; i++)
		if (!ip_eq(&a->ips[i], &b->ips[i]))
			return false;
	return ports_eq(a->ports, a->nports, b->ports, b->nports);
}

static bool slice_same(const hfi_slice_t *a, const hfi_slice_t *b)
{
	if (!str_eq(a->service, b->service) || a->naddrs != b->naddrs ||
	    !ports_eq(a->ports, a->nports, b->ports, b->nports))
		return false;
	for (size_t i = 0; i < a->naddrs; i++) {
		const hfi_ep_addr_t *x = &a->addrs[i], *y = &b->addrs[i];
		if (!ip_eq(&x->ip, &y->ip) || !str_eq(x->hostname, y->hostname) ||
		    !str_eq(x->pod_name, y->pod_name) || !str_eq(x->zone, y->zone))
			return false;
	}
	return true;
}

static bool same_visible(enum kind k, const void *a, const void *b)
{
	switch (k) {
	case K_NS: return labels_eq(&((const hfi_namespace_t *)a)->labels,
				    &((const hfi_namespace_t *)b)->labels);
	case K_SVC: return service_same(a, b);
	case K_SLICE: return slice_same(a, b);
	case K_POD: return ip_eq(&((const hfi_pod_t *)a)->ip, &((const hfi_pod_t *)b)->ip);
	}
	return false;
}

/* ---- the store ---------------------------------------------------------- */

hfi_store_t *hfi_store_new(const hf_mm_t *mm)
{
	hfi_store_t *st = hfi_mm_calloc(mm, 1, sizeof(*st));
	if (st == NULL)
		return NULL;
	if (mm != NULL) {
		st->mm = *mm;
		st->has_mm = true;
	}
	return st;
}

void hfi_store_free(hfi_store_t *st)
{
	if (st == NULL)
		return;
	const hf_mm_t *mm = st_mm(st);
	tbl_free(mm, &st->nss);
	tbl_free(mm, &st->svcs);
	tbl_free(mm, &st->slices);
	tbl_free(mm, &st->pods);
	hfi_mm_free(mm, st);
}

static void bump(hfi_store_t *st)
{
	time_t now = time(NULL);
	st->serial = now > 0 ? (uint32_t)now : 1;
}

static tbl_t *kind_tbl(hfi_store_t *st, enum kind k)
{
	switch (k) {
	case K_NS: return &st->nss;
	case K_SVC: return &st->svcs;
	case K_SLICE: return &st->slices;
	case K_POD: return &st->pods;
	}
	return NULL;
}

static const char *obj_rv(enum kind k, const void *o)
{
	switch (k) {
	case K_NS: return ((const hfi_namespace_t *)o)->rv;
	case K_SVC: return ((const hfi_service_t *)o)->rv;
	case K_SLICE: return ((const hfi_slice_t *)o)->rv;
	case K_POD: return ((const hfi_pod_t *)o)->rv;
	}
	return NULL;
}

static void obj_key(enum kind k, const void *o, const char **ns, const char **name)
{
	*ns = NULL;
	*name = NULL;
	switch (k) {
	case K_NS:
		*ns = "";
		*name = ((const hfi_namespace_t *)o)->name;
		return;
	case K_SVC:
		*ns = ((const hfi_service_t *)o)->ns;
		*name = ((const hfi_service_t *)o)->name;
		return;
	case K_SLICE:
		*ns = ((const hfi_slice_t *)o)->ns;
		*name = ((const hfi_slice_t *)o)->name;
		return;
	case K_POD:
		*ns = ((const hfi_pod_t *)o)->ns;
		*name = ((const hfi_pod_t *)o)->name;
		return;
	}
}

static int put_obj(hfi_store_t *st, enum kind k, const void *src)
{
	if (st == NULL || src == NULL)
		return HF_EINVAL;
	const char *ns, *name;
	obj_key(k, src, &ns, &name);
	if (ns == NULL || name == NULL)
		return HF_EINVAL;
	const hf_mm_t *mm = st_mm(st);
	tbl_t *t = kind_tbl(st, k);
	uint64_t h = hfi_store_key_hash(ns, name);
	size_t s = tbl_find(t, h, ns, name);
	if (s != (size_t)-1) {
		const char *orv = obj_rv(k, t->ents[t->slots[s] - 1].obj);
		const char *nrv = obj_rv(k, src);
		if (orv != NULL && nrv != NULL && *orv != '\0' && strcmp(orv, nrv) == 0)
			return 0;
	}
	void *copy = copy_obj(mm, k, src);
	if (copy == NULL)
		return HF_ENOMEM;
	obj_key(k, copy, &ns, &name);
	if (s != (size_t)-1) {
		ent_t *e = &t->ents[t->slots[s] - 1];
		bool visible = !same_visible(k, e->obj, copy);
		hfi_mm_free(mm, e->obj);
		e->obj = copy;
		e->ns = ns;
		e->name = name;
		if (visible && k != K_NS)
			bump(st);
		return visible ? 1 : 0;
	}
	int ret = tbl_reserve(mm, t);
	if (ret != HF_EOK) {
		hfi_mm_free(mm, copy);
		return ret;
	}
	tbl_insert(t, h, ns, name, copy);
	if (k != K_NS)
		bump(st);
	return 1;
}

static int del_obj(hfi_store_t *st, enum kind k, const char *ns, const char *name)
{
	if (st == NULL || ns == NULL || name == NULL)
		return HF_EINVAL;
	tbl_t *t = kind_tbl(st, k);
	size_t s = tbl_find(t, hfi_store_key_hash(ns, name), ns, name);
	if (s == (size_t)-1)
		return 0;
	hfi_mm_free(st_mm(st), tbl_remove(t, s));
	if (k != K_NS)
		bump(st);
	return 1;
}

static const void *get_obj(const hfi_store_t *st, enum kind k, const char *ns, const char *name)
{
	if (st == NULL || ns == NULL || name == NULL)
		return NULL;
	const tbl_t *t = kind_tbl((hfi_store_t *)st, k);
	size_t s = tbl_find(t, hfi_store_key_hash(ns, name), ns, name);
	return s == (size_t)-1 ? NULL : t->ents[t->slots[s] - 1].obj;
}

static const void *obj_at(const hfi_store_t *st, enum kind k, size_t i)
{
	if (st == NULL)
		return NULL;
	const tbl_t *t = kind_tbl((hfi_store_t *)st, k);
	return i < t->n ? t->ents[i].obj : NULL;
}

int hfi_store_put_namespace(hfi_store_t *st, const hfi_namespace_t *obj)
{
	return put_obj(st, K_NS, obj);
}

int hfi_store_put_service(hfi_store_t *st, const hfi_service_t *obj)
{
	return put_obj(st, K_SVC, obj);
}

int hfi_store_put_slice(hfi_store_t *st, const hfi_slice_t *obj)
{
	return put_obj(st, K_SLICE, obj);
}

int hfi_store_put_pod(hfi_store_t *st, const hfi_pod_t *obj)
{
	/* a terminating pod is not (re)stored: its last state stays until the
	 * delete event (CoreDNS object/pod.go, errPodTerminating) */
	if (obj != NULL && obj->deleting)
		return st == NULL ? HF_EINVAL : 0;
	return put_obj(st, K_POD, obj);
}

int hfi_store_del_namespace(hfi_store_t *st, const char *name)
{
	return del_obj(st, K_NS, "", name);
}

int hfi_store_del_service(hfi_store_t *st, const char *ns, const char *name)
{
	return del_obj(st, K_SVC, ns, name);
}

int hfi_store_del_slice(hfi_store_t *st, const char *ns, const char *name)
{
	return del_obj(st, K_SLICE, ns, name);
}

int hfi_store_del_pod(hfi_store_t *st, const char *ns, const char *name)
{
	return del_obj(st, K_POD, ns, name);
}

const hfi_namespace_t *hfi_store_namespace(const hfi_store_t *st, const char *name)
{
	return get_obj(st, K_NS, "", name);
}

const hfi_service_t *hfi_store_service(const hfi_store_t *st, const char *ns, const char *name)
{
	return get_obj(st, K_SVC, ns, name);
}

const hfi_slice_t *hfi_store_slice(const hfi_store_t *st, const char *ns, const char *name)
{
	return get_obj(st, K_SLICE, ns, name);
}

const hfi_pod_t *hfi_store_pod(const hfi_store_t *st, const char *ns, const char *name)
{
	return get_obj(st, K_POD, ns, name);
}

size_t hfi_store_count_namespaces(const hfi_store_t *st)
{
	return st != NULL ? st->nss.n : 0;
}

size_t hfi_store_count_services(const hfi_store_t *st)
{
	return st != NULL ? st->svcs.n : 0;
}

size_t hfi_store_count_slices(const hfi_store_t *st)
{
	return st != NULL ? st->slices.n : 0;
}

size_t hfi_store_count_pods(const hfi_store_t *st)
{
	return st != NULL ? st->pods.n : 0;
}

const hfi_namespace_t *hfi_store_namespace_at(const hfi_store_t *st, size_t i)
{
	return obj_at(st, K_NS, i);
}

const hfi_service_t *hfi_store_service_at(const hfi_store_t *st, size_t i)
{
	return obj_at(st, K_SVC, i);
}

const hfi_slice_t *hfi_store_slice_at(const hfi_store_t *st, size_t i)
{
	return obj_at(st, K_SLICE, i);
}

const hfi_pod_t *hfi_store_pod_at(const hfi_store_t *st, size_t i)
{
	return obj_at(st, K_POD, i);
}

uint32_t hfi_store_serial(const hfi_store_t *st)
{
	return st != NULL ? st->serial : 0;
}

void hfi_store_set_synced(hfi_store_t *st, bool synced)
{
	if (st != NULL)
		st->synced = synced;
}

bool hfi_store_synced(const hfi_store_t *st)
{
	return st != NULL && st->synced;
}

int hfi_ip_parse(const char *text, hfi_ip_t *ip)
{
	if (text == NULL || ip == NULL)
		return HF_EINVAL;
	hfi_ip_t r;
	memset(&r, 0, sizeof(r));
	if (strchr(text, ':') != NULL) {
		if (inet_pton(AF_INET6, text, r.addr) != 1)
			return HF_EINVAL;
		r.family = 6;
	} else {
		if (inet_pton(AF_INET, text, r.addr) != 1)
			return HF_EINVAL;
		r.family = 4;
	}
	*ip = r;
	return HF_EOK;
}
