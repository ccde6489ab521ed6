/*
 * k8s_reverse.c: reverse names for the kubernetes plugin: the address a
 * full in-addr.arpa / ip6.arpa name stands for (CoreDNS
 * dnsutil.ExtractAddressFromReverse), and the PTR part of the index:
 * per IP, the first ClusterIP service owning it (svc.ns.svc.<primary>),
 * else one target per EndpointSlice address with that IP
 * (ep.svc.ns.svc.<primary>), de-duplicated, in slice order (spec 4.5).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "holdfast.h"
#include "k8s_int.h"

#define NONE UINT32_MAX

/* net.ParseIP: IPv6 when the text has a colon, else dotted IPv4 (no
 * leading zeros); IPv4-mapped IPv6 is an IPv4 address. */
static bool parse_ip(const char *text, hfi_ip_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (strchr(text, ':') == NULL) {
		if (inet_pton(AF_INET, text, ip->addr) != 1)
			return false;
		ip->family = 4;
		return true;
	}
	uint8_t a[16];
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (inet_pton(AF_INET6, text, a) != 1)
		return false;
	if (memcmp(a, mapped, 12) == 0) {
		memcpy(ip->addr, a + 12, 4);
		ip->family = 4;
	} else {
		memcpy(ip->addr, a, 16);
		ip->family = 6;
	}
	return true;
}

bool hfi_k8s_reverse_addr(const uint8_t *lname, hfi_ip_t *ip)
{
	const uint8_t *lab[128];
	int n = 0;
	size_t w = 0;
	while (w < HFI_DNAME_MAX && lname[w] != 0 && n < 128) {
		lab[n++] = lname + w;
		w += 1 + (size_t)lname[w];
	}
	if (n < 3 || !(lab[n - 1][0] == 4 && memcmp(lab[n - 1] + 1, "arpa", 4) == 0))
		return false;
	bool v4;
	if (lab[n - 2][0] == 7 && memcmp(lab[n - 2] + 1, "in-addr", 7) == 0)
		v4 = true;
	else if (lab[n - 2][0] == 3 && memcmp(lab[n - 2] + 1, "ip6", 3) == 0)
		v4 = false;
	else
		return false;
	int m = n - 2;
	/* only hex digits and colons can make an address (anything else is
	 * escaped in Go's presentation form and fails net.ParseIP) */
	for (int i = 0; i < m; i++)
		for (int k = 1; k <= lab[i][0]; k++) {
			uint8_t c = lab[i][k];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':'))
				return false;
		}
	char text[2 * HFI_DNAME_MAX + 8];
	size_t o = 0;
	if (v4) {
		for (int i = m - 1; i >= 0; i--) {
			memcpy(text + o, lab[i] + 1, lab[i][0]);
			o += lab[i][0];
			if (i > 0)
				text[o++] = '.';
		}
	} else {
		/* groups of four labels from the arpa end; leftovers are ignored */
		int groups = m / 4;
		if (groups == 0)
			return false;
		for (int g = 0; g < groups; g++) {
			for (int k = 0; k < 4; k++) {
				const uint8_t *l = lab[m - 1 - (4 * g + k)];
				memcpy(text + o, l + 1, l[0]);
				o += l[0];
			}
			if (g + 1 < groups)
				text[o++] = ':';
		}
	}
	text[o] = '\0';
	hfi_ip_t r;
	if (!parse_ip(text, &r))
		return false;
	if (v4 && r.family != 4)
		return false;
	*ip = r;
	return true;
}

static size_t key_of(const hfi_ip_t *ip, uint8_t *key)
{
	size_t al = ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0;
	key[0] = K8S_PTR_KEY;
	key[1] = ip->family;
	memcpy(key + 2, ip->addr, al);
	return al ? 2 + al : 0;
}

const k8s_node_t *hfi_k8s_ptr_find(const hfi_k8s_index_t *ix, const hfi_ip_t *ip)
{
	uint8_t key[18];
	size_t kl = key_of(ip, key);
	return kl ? hfi_k8s_find(ix, key, kl) : NULL;
}

typedef struct pgroup {
	uint32_t head, tail; /* into targets */
	bool cluster;
	hfi_ip_t ip;
} pgroup_t;

typedef struct ptarget {
	uint32_t toff;
	uint16_t tlen;
	uint32_t next;
} ptarget_t;

typedef struct ptmp {
	k8s_bmap_t ipmap;
	pgroup_t *g;
	size_t ng, cg;
	ptarget_t *t;
	size_t nt, ct;
} ptmp_t;

/* Target prefix labels (the primary zone is joined at answer time). */
static size_t target(const k8s_build_t *b, const char *text, size_t tl, uint8_t *w, size_t cap)
{
	size_t zl = hfi_dname_len(b->ix->arena + b->ix->primary_off);
	int n = hfi_k8s_text_labels(text, tl, w, cap);
	if (n < 0 || (size_t)n + zl > HFI_DNAME_MAX)
		return 0;
	return (size_t)n;
}

static int target_put(k8s_build_t *b, const uint8_t *w, size_t len, uint32_t *toff)
{
	int64_t off = hfi_k8s_arena_put(b, w, len);
	if (off < 0)
		return (int)off;
	*toff = (uint32_t)off;
	return HF_EOK;
}

static int group(k8s_build_t *b, ptmp_t *p, const hfi_ip_t *ip, bool cluster, uint32_t *gi)
{
	uint8_t key[18];
	size_t kl = key_of(ip, key);
	if (kl == 0)
		return 0;
	int r = hfi_k8s_bmap_add(&p->ipmap, key, kl, (uint32_t)p->ng, gi);
	if (r != 1)
		return r < 0 ? r : 1;
	if (hfi_mm_grow(b->mm, (void **)&p->g, &p->cg, p->ng + 1, sizeof(pgroup_t)) < 0)
		return HF_ENOMEM;
	p->g[p->ng++] = (pgroup_t){ .head = NONE, .tail = NONE, .cluster = cluster, .ip = *ip };
	return 2;
}

/* Append a target prefix to the IP's list unless the same name is there;
 * toff == NONE: w is not in the arena yet. */
static int append(k8s_build_t *b, ptmp_t *p, uint32_t gi, const uint8_t *w, size_t len,
		  uint32_t toff)
{
	pgroup_t *g = &p->g[gi];
	for (uint32_t i = g->head; i != NONE; i = p->t[i].next)
		if (p->t[i].tlen == len && memcmp(b->ix->arena + p->t[i].toff, w, len) == 0)
			return HF_EOK;
	if (toff == NONE) {
		int r = target_put(b, w, len, &toff);
		if (r < 0)
			return r;
	}
	if (hfi_mm_grow(b->mm, (void **)&p->t, &p->ct, p->nt + 1, sizeof(ptarget_t)) < 0)
		return HF_ENOMEM;
	uint32_t ti = (uint32_t)p->nt++;
	p->t[ti] = (ptarget_t){ .toff = toff, .tlen = (uint16_t)len, .next = NONE };
	if (g->tail == NONE)
		g->head = ti;
	else
		p->t[g->tail].next = ti;
	g->tail = ti;
	return HF_EOK;
}

static int ptr_services(k8s_build_t *b, ptmp_t *p)
{
	size_t n = hfi_store_count_services(b->st);
	for (size_t i = 0; i < n; i++) {
		const hfi_service_t *s = hfi_store_service_at(b->st, i);
		if (s == NULL || s->name == NULL || s->ns == NULL || s->nips == 0 ||
		    !hfi_k8s_ptr_ns_ok(b, s->ns))
			continue;
		uint8_t w[2 * HFI_DNAME_MAX + 2];
		size_t len = 0;
		uint32_t toff = b->svc_soff[i];
		if (toff != NONE) {
			/* the service's own key "svc.ns.svc" is the prefix */
			len = b->svc_slen[i];
			memcpy(w, b->ix->arena + toff, len);
		} else {
			char text[2 * HFI_DNAME_MAX];
			int tl = snprintf(text, sizeof(text), "%s.%s.svc", s->name, s->ns);
			if (tl < 0 || (size_t)tl >= sizeof(text))
				continue;
			len = target(b, text, (size_t)tl, w, sizeof(w));
		}
		if (len == 0)
			continue;
		for (size_t k = 0; k < s->nips; k++) {
			uint32_t gi;
			/* only the first service owning an IP answers */
			int r = group(b, p, &s->ips[k], true, &gi);
			if (r < 0)
				return r;
			if (r != 2)
				continue;
			if (toff == NONE && (r = target_put(b, w, len, &toff)) < 0)
				return r;
			if ((r = append(b, p, gi, w, len, toff)) < 0)
				return r;
		}
	}
	return HF_EOK;
}

static int ptr_slices(k8s_build_t *b, ptmp_t *p)
{
	size_t n = b->cfg->noendpoints ? 0 : hfi_store_count_slices(b->st);
	for (size_t i = 0; i < n; i++) {
		const hfi_slice_t *sl = hfi_store_slice_at(b->st, i);
		if (sl == NULL || sl->service == NULL || sl->service[0] == '\0' || sl->ns == NULL ||
		    !hfi_k8s_ptr_ns_ok(b, sl->ns))
			continue;
		for (size_t a = 0; a < sl->naddrs; a++) {
			const hfi_ep_addr_t *ad = &sl->addrs[a];
			uint32_t gi;
			int r = group(b, p, &ad->ip, false, &gi);
			if (r < 0)
				return r;
			if (r == 0 || p->g[gi].cluster)
				continue;
			size_t ai = b->slice_base[i] + a;
			uint32_t toff = b->addr_toff[ai];
			uint8_t w[2 * HFI_DNAME_MAX + 2];
			size_t len;
			if (toff != NONE) {
				/* the endpoint's SRV target "ep.svc.ns.svc" */
				len = b->addr_tlen[ai];
				memcpy(w, b->ix->arena + toff, len);
				if ((size_t)len + hfi_dname_len(b->ix->arena + b->ix->primary_off) >
				    HFI_DNAME_MAX)
					continue;
			} else {
				char nm[256], text[3 * HFI_DNAME_MAX];
				int nl = hfi_k8s_endpoint_name(ad, b->cfg->endpoint_pod_names, nm,
							       sizeof(nm));
				if (nl <= 0)
					continue;
				int tl = snprintf(text, sizeof(text), "%s.%s.%s.svc", nm, sl->service,
						  sl->ns);
				if (tl < 0 || (size_t)tl >= sizeof(text))
					continue;
				len = target(b, text, (size_t)tl, w, sizeof(w));
			}
			if (len > 0 && (r = append(b, p, gi, w, len, toff)) < 0)
				return r;
		}
	}
	return HF_EOK;
}

static int ptr_emit(k8s_build_t *b, ptmp_t *p)
{
	int r;
	for (size_t gi = 0; gi < p->ng; gi++) {
		const pgroup_t *g = &p->g[gi];
		if (g->head == NONE)
			continue;
		uint8_t key[18];
		size_t kl = key_of(&g->ip, key);
		int64_t ko = hfi_k8s_arena_put(b, key, kl);
		if (ko < 0)
			return (int)ko;
		k8s_node_t nd = { .koff = (uint32_t)ko, .klen = (uint16_t)kl, .kind = KN_PTR,
				  .ptr_i = (uint32_t)b->ix->nglues };
		for (uint32_t ti = g->head; ti != NONE; ti = p->t[ti].next) {
			k8s_glue_t gl = { .toff = p->t[ti].toff, .tlen = p->t[ti].tlen };
			if ((r = hfi_k8s_glue_push(b, &gl)) < 0)
				return r;
		}
		nd.ptr_n = (uint32_t)(b->ix->nglues - nd.ptr_i);
		if ((r = hfi_k8s_node_push(b, &nd)) < 0)
			return r;
	}
	return HF_EOK;
}

int hfi_k8s_ptr_build(k8s_build_t *b)
{
	ptmp_t p;
	memset(&p, 0, sizeof(p));
	p.ipmap.mm = b->mm;
	/* one entry per ClusterIP and endpoint address at most */
	size_t want = 0, ns = hfi_store_count_services(b->st), nsl = hfi_store_count_slices(b->st);
	for (size_t i = 0; i < ns; i++) {
		const hfi_service_t *s = hfi_store_service_at(b->st, i);
		want += s != NULL ? s->nips : 0;
	}
	for (size_t i = 0; i < nsl && !b->cfg->noendpoints; i++) {
		const hfi_slice_t *sl = hfi_store_slice_at(b->st, i);
		want += sl != NULL ? sl->naddrs : 0;
	}
	int r = hfi_k8s_bmap_reserve(&p.ipmap, want);
	if (r >= 0)
		r = ptr_services(b, &p);
	if (r >= 0)
		r = ptr_slices(b, &p);
	if (r >= 0)
		r = ptr_emit(b, &p);
	hfi_k8s_bmap_free(&p.ipmap);
	hfi_mm_free(b->mm, p.g);
	hfi_mm_free(b->mm, p.t);
	return r < 0 ? r : HF_EOK;
}
