/*
 * k8s_answer.c: answers a query from the kubernetes index the way CoreDNS's
 * kubernetes ServeDNS does (handler.go + plugin/backend_lookup.go, spec
 * 4.5-4.12): per qtype, Records()/Services() decide NXDOMAIN-class vs
 * NODATA vs records; NXDOMAIN-class results fall through or become
 * NXDOMAIN (SERVFAIL before the first sync) with the zone SOA.
 *
 * No allocation, no locks, no store access: records point into the index
 * arena, the query, or the response's scratch area.  Owner names are the
 * query's own bytes; the zone part of targets is the zone as spelled in
 * the query (hfi_query_suffix); PTR targets use the primary zone.
 */
#include <string.h>

#include "holdfast.h"
#include "k8s_int.h"

enum { ST_ERR, ST_NIL, ST_NODE, ST_POD, ST_DEFNS };
enum { R_ERR, R_NODATA, R_ANSWER, R_RESOLVE };

#define CNAME_MAX_DEPTH 10 /* at most 10 CNAMEs (spec 4.5; CoreDNS PR 7153 raised 8) */

typedef struct actx {
	const hfi_k8s_index_t *ix;
	const hfi_query_t *q;
	hfi_resp_t *resp;
	int zlabels;
	const uint8_t *zone_q; /* the zone as spelled in the query */
	const uint8_t *zone_l; /* lower case, from the index */
	size_t zlen;
	hfi_name_t owner;      /* the query name, query case */
} actx_t;

/* What CoreDNS's Records()/Services() return for a name. */
typedef struct lk {
	int st;                /* ST_* */
	const k8s_node_t *node;
	hfi_ip_t ip;           /* ST_POD (pods insecure) */
	const uint8_t *pre;    /* ST_POD: "IP.NS.pod" labels of the name */
	size_t prelen;
	/* a port name of a ClusterIP service (node = the service) */
	bool cip_port;
	uint32_t nmatch;       /* ports matching */
	hfi_k8s_label_t port, proto;
	bool zonal;            /* a zonal name of a headless service: exists */
} lk_t;

static const uint8_t ns_dns[] = "\2ns\3dns";
static const uint8_t hostmaster[] = "\12hostmaster";

/* ---- zones ---------------------------------------------------------------- */

static const uint8_t *name_suffix(const hfi_query_t *q, const uint8_t *name, int labels)
{
	if (labels <= 0)
		return name + q->qname_len - 1;
	return name + q->label_off[q->nlabels - labels];
}

static int zone_match(const hfi_k8s_index_t *ix, const hfi_query_t *q)
{
	int best = -1, bl = -1;
	for (size_t i = 0; i < ix->nzones; i++) {
		int zl = ix->zone_labels[i];
		if (zl > q->nlabels || zl <= bl)
			continue;
		const uint8_t *z = ix->arena + ix->zone_off[i];
		const uint8_t *s = name_suffix(q, q->lname, zl);
		size_t len = hfi_dname_len(z);
		if ((size_t)(q->lname + q->qname_len - s) == len && memcmp(s, z, len) == 0) {
			best = (int)i;
			bl = zl;
		}
	}
	return best;
}

bool hfi_k8s_handles(const hfi_k8s_index_t *ix, const hfi_query_t *q)
{
	return ix != NULL && q != NULL && q->qname != NULL && zone_match(ix, q) >= 0;
}

static bool falls_through(const hfi_k8s_index_t *ix, const hfi_query_t *q)
{
	if (!ix->fallthrough)
		return false;
	if (ix->nfall == 0)
		return true;
	for (size_t i = 0; i < ix->nfall; i++)
		if (hfi_dname_in_zone(q->lname, ix->arena + ix->fall_off[i]))
			return true;
	return false;
}

/* ---- lookups -------------------------------------------------------------- */

static bool label_eq(const uint8_t *a, uint8_t alen, const hfi_k8s_label_t *l)
{
	return alen == l->len && memcmp(a, l->p, alen) == 0;
}

/* matchPortAndProtocol: empty query labels match anything */
static bool port_match(const hfi_k8s_index_t *ix, const k8s_port_t *p,
		       const hfi_k8s_label_t *port, const hfi_k8s_label_t *proto)
{
	const uint8_t *s = ix->arena + p->noff;
	size_t nl = p->nlen == 0xFF ? 0 : p->nlen;
	if (port->len != 0 && (p->nlen == 0xFF || !label_eq(s, p->nlen, port)))
		return false;
	if (proto->len != 0 && (p->plen == 0xFF || !label_eq(s + nl, p->plen, proto)))
		return false;
	return true;
}

/* CoreDNS Records(): parse, namespace, findServices / findPods. */
static void lookup_records(const actx_t *c, const uint8_t *lname, lk_t *o)
{
	const hfi_k8s_index_t *ix = c->ix;
	hfi_k8s_name_t nm;

	memset(o, 0, sizeof(*o));
	o->st = ST_ERR;
	switch (hfi_k8s_name_parse(lname, c->zlabels, &nm)) {
	case HFI_K8S_N_APEX:
	case HFI_K8S_N_SVC:
	case HFI_K8S_N_POD:
		o->st = ST_NIL;
		return;
	case HFI_K8S_N_INVALID:
	case HFI_K8S_N_TOOLONG:
		return;
	default:
		break;
	}
	if (hfi_k8s_is_reverse(lname))
		return;
	const uint8_t *key = nm.key;
	size_t klen = (size_t)(nm.zone - nm.key);
	const k8s_node_t *n = NULL;
	switch (nm.kind) {
	case HFI_K8S_N_NAMESPACE:
		if (hfi_k8s_find(ix, key, klen) != NULL)
			o->st = ST_NIL;
		return;
	case HFI_K8S_N_SERVICE:
	case HFI_K8S_N_ENDPOINT:
		n = hfi_k8s_find(ix, key, klen);
		break;
	case HFI_K8S_N_PORT:
		if (nm.port.len == 0 && nm.proto.len == 0) {
			n = hfi_k8s_find(ix, key, klen); /* both wild: the service */
			break;
		}
		/* headless: a precomputed port node */
		uint8_t buf[HFI_DNAME_MAX + 2];
		size_t b = 0;
		buf[b++] = nm.port.len;
		memcpy(buf + b, nm.port.p, nm.port.len);
		b += nm.port.len;
		buf[b++] = nm.proto.len;
		memcpy(buf + b, nm.proto.p, nm.proto.len);
		b += nm.proto.len;
		memcpy(buf + b, key, klen); /* b + klen <= 255: a suffix of lname */
		n = hfi_k8s_find(ix, buf, b + klen);
		if (n != NULL)
			break;
		/* ClusterIP: match the service's ports now */
		n = hfi_k8s_find(ix, key, klen);
		if (n == NULL || !(n->flags & KF_CLUSTERIP))
			return;
		o->port = nm.port;
		o->proto = nm.proto;
		o->nmatch = 0;
		for (uint32_t i = 0; i < n->port_n; i++)
			o->nmatch += port_match(ix, &ix->ports[n->port_i + i], &nm.port, &nm.proto);
		if (o->nmatch == 0)
			return; /* no such port: NXDOMAIN */
		o->cip_port = true;
		break;
	case HFI_K8S_N_PODIP: {
		if (ix->pods == HFI_PODS_DISABLED)
			return;
		const uint8_t *nskey = nm.ns.p - 1;
		if (hfi_k8s_find(ix, nskey, (size_t)(nm.zone - nskey)) == NULL)
			return; /* namespace not exposed */
		if (ix->pods == HFI_PODS_INSECURE) {
			if (hfi_k8s_pod_ip(nm.service.p, nm.service.len, &o->ip) == 0) {
				o->st = ST_POD;
				o->pre = key;
				o->prelen = klen;
			}
			return;
		}
		n = hfi_k8s_find(ix, key, klen);
		break;
	}
	case HFI_K8S_N_ZONAL: {
		if (!ix->zonal)
			return;
		/* the service must be a headless one with entries */
		n = hfi_k8s_find(ix, key, klen);
		if (n == NULL || (n->flags & (KF_CLUSTERIP | KF_EXTERNAL)) || n->kind != KN_SERVICE)
			return;
		/* ZONE.pin._zone.SVC.NS.svc: the zone's node, if any */
		static const uint8_t pin[] = "\3pin";
		uint8_t buf[HFI_DNAME_MAX + 2];
		size_t zl = (size_t)(nm.zdir - lname);
		size_t rest = (size_t)(nm.zone - nm.zdir) - 1 - nm.zdir[0];
		memcpy(buf, lname, zl);
		memcpy(buf + zl, pin, sizeof(pin) - 1);
		memcpy(buf + zl + sizeof(pin) - 1, nm.zdir + 1 + nm.zdir[0], rest);
		const k8s_node_t *z = hfi_k8s_find(ix, buf, zl + sizeof(pin) - 1 + rest);
		o->zonal = true;
		if (z != NULL)
			n = z;
		else if (!nm.prefer)
			n = NULL; /* pin, no endpoint in the zone: NODATA */
		o->st = ST_NIL;
		break;
	}
	default:
		return;
	}
	if (n != NULL) {
		o->st = ST_NODE;
		o->node = n;
	}
}

/* CoreDNS Services() for the non-TXT, non-NS case: ns.dns.<zone> first. */
static void lookup_services(const actx_t *c, const uint8_t *lname, lk_t *o)
{
	if (hfi_k8s_default_ns(lname, c->zone_q)) {
		memset(o, 0, sizeof(*o));
		o->st = ST_DEFNS;
		return;
	}
	lookup_records(c, lname, o);
}

/* ---- records -------------------------------------------------------------- */

/* floor(100 / N) as CoreDNS computes it (float64), at least 1 */
static uint16_t srv_weight(size_t n)
{
	double w = 100.0 / (double)(100.0 * (double)n);
	w *= 100.0;
	uint16_t r = (uint16_t)w;
	return r == 0 ? 1 : r;
}

static hfi_rr_t *add(const actx_t *c, enum hfi_section sec, uint16_t type, uint32_t ttl)
{
	hfi_rr_t *rr = hfi_resp_add(c->resp, sec, type, ttl);
	if (rr == NULL)
		c->resp->tc = true;
	return rr;
}

static bool fits(const actx_t *c, size_t prelen)
{
	return prelen + c->zlen <= HFI_DNAME_MAX;
}

static void add_soa(const actx_t *c, enum hfi_section sec)
{
	if (!fits(c, sizeof(hostmaster) - 1))
		return;
	hfi_rr_t *rr = add(c, sec, HFI_T_SOA, c->ix->soa_ttl);
	if (rr == NULL)
		return;
	rr->owner = hfi_name_wire(c->zone_q);
	rr->name1 = hfi_name_join(ns_dns, sizeof(ns_dns) - 1, c->zone_q);
	rr->name2 = hfi_name_join(hostmaster, sizeof(hostmaster) - 1, c->zone_q);
	rr->rdata = c->ix->soa_rdata;
	rr->rdlen = sizeof(c->ix->soa_rdata);
}

/* A or AAAA records from an address list; returns how many were added. */
static int add_list(const actx_t *c, hfi_name_t owner, uint16_t qtype, uint32_t off4,
		    uint32_t n4, uint32_t off6, uint32_t n6)
{
	const uint8_t *base = c->ix->arena + (qtype == HFI_T_A ? off4 : off6);
	uint32_t n = qtype == HFI_T_A ? n4 : n6;
	uint16_t al = qtype == HFI_T_A ? 4 : 16;
	int got = 0;
	for (uint32_t i = 0; i < n; i++) {
		hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, qtype, c->ix->ttl);
		if (rr == NULL)
			break;
		rr->owner = owner;
		rr->rdata = base + (size_t)i * al;
		rr->rdlen = al;
		got++;
	}
	return got;
}

static hfi_rr_t *add_ip(const actx_t *c, enum hfi_section sec, hfi_name_t owner,
			const hfi_ip_t *ip)
{
	uint16_t al = ip->family == 4 ? 4 : 16;
	const uint8_t *rd = hfi_resp_keep(c->resp, ip->addr, al);
	if (rd == NULL) {
		c->resp->tc = true;
		return NULL;
	}
	hfi_rr_t *rr = add(c, sec, ip->family == 4 ? HFI_T_A : HFI_T_AAAA, c->ix->ttl);
	if (rr == NULL)
		return NULL;
	rr->owner = owner;
	rr->rdata = rd;
	rr->rdlen = al;
	return rr;
}

/* The addresses a looked-up name answers (not ExternalName). */
static int add_addrs(const actx_t *c, const lk_t *lk, hfi_name_t owner, uint16_t qtype)
{
	const hfi_k8s_index_t *ix = c->ix;
	switch (lk->st) {
	case ST_DEFNS:
		return add_list(c, owner, qtype, ix->nsa_off, ix->nsa_n, ix->nsaaaa_off,
				ix->nsaaaa_n);
	case ST_POD:
		if ((qtype == HFI_T_A) != (lk->ip.family == 4))
			return 0;
		return add_ip(c, HFI_SEC_ANSWER, owner, &lk->ip) != NULL;
	case ST_NODE:
		return add_list(c, owner, qtype, lk->node->addr_off, lk->node->a_n,
				lk->node->addr_off + 4 * lk->node->a_n, lk->node->aaaa_n);
	default:
		return 0;
	}
}

static bool wire_same(const uint8_t *a, const uint8_t *b)
{
	size_t la = hfi_dname_len(a);
	return la == hfi_dname_len(b) && memcmp(a, b, la) == 0;
}

/*
 * plugin.A/AAAA for an ExternalName entry: the CNAME, then (target inside
 * the zone) the target's records, looked up again (CNAME kept only when
 * they exist), or (outside) *resolve for the caller.  cur is the lower-case
 * name being answered, prev the CNAME targets so far.
 */
static int chase(const actx_t *c, const k8s_node_t *n, const uint8_t *cur, hfi_name_t owner,
		 int depth, const uint8_t **prev, uint16_t qtype, bool *resolve)
{
	const uint8_t *t = c->ix->arena + n->cname_off;
	const uint8_t *tl = c->ix->arena + n->lcname_off;
	if (hfi_dname_in_zone(tl, cur))
		return 0; /* x CNAME x or below: a loop */
	if (depth >= CNAME_MAX_DEPTH)
		return 0;
	for (int i = 0; i < depth; i++)
		if (wire_same(prev[i], t))
			return 0;
	uint16_t save = c->resp->nrr;
	size_t scratch = c->resp->scratch_len;
	hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_CNAME, c->ix->ttl);
	if (rr == NULL)
		return 0;
	rr->owner = owner;
	rr->name1 = hfi_name_wire(t);
	if (!hfi_dname_in_zone(tl, c->zone_l)) {
		*resolve = true;
		return 1;
	}
	prev[depth] = t;
	lk_t lk;
	lookup_services(c, tl, &lk);
	int got;
	if (lk.st == ST_NODE && (lk.node->flags & KF_EXTERNAL))
		got = chase(c, lk.node, tl, hfi_name_wire(t), depth + 1, prev, qtype, resolve);
	else
		got = add_addrs(c, &lk, hfi_name_wire(t), qtype);
	if (got == 0) {
		c->resp->nrr = save;
		c->resp->scratch_len = scratch;
		return 0;
	}
	return 1 + got;
}

static int ans_addr(const actx_t *c, uint16_t qtype)
{
	lk_t lk;
	bool resolve = false;
	int got;
	lookup_services(c, c->q->lname, &lk);
	if (lk.st == ST_ERR)
		return R_ERR;
	if (lk.st == ST_NODE && (lk.node->flags & KF_EXTERNAL)) {
		const uint8_t *prev[CNAME_MAX_DEPTH];
		got = chase(c, lk.node, c->q->lname, c->owner, 0, prev, qtype, &resolve);
	} else {
		got = add_addrs(c, &lk, c->owner, qtype);
	}
	if (got == 0)
		return R_NODATA;
	return resolve ? R_RESOLVE : R_ANSWER;
}

/* The glue of a ClusterIP service: its addresses in ClusterIP order (one
 * per family, so the first family decides). */
static void glue_cip(const actx_t *c, const k8s_node_t *n, hfi_name_t target)
{
	const hfi_k8s_index_t *ix = c->ix;
	for (int pass = 0; pass < 2; pass++) {
		bool v6 = (pass == 0) == ((n->flags & KF_V6FIRST) != 0);
		uint32_t cnt = v6 ? n->aaaa_n : n->a_n;
		const uint8_t *base = ix->arena + n->addr_off + (v6 ? 4 * n->a_n : 0);
		for (uint32_t i = 0; i < cnt; i++) {
			hfi_rr_t *rr = add(c, HFI_SEC_ADDITIONAL, v6 ? HFI_T_AAAA : HFI_T_A, ix->ttl);
			if (rr == NULL)
				return;
			rr->owner = target;
			rr->rdata = base + (size_t)i * (v6 ? 16 : 4);
			rr->rdlen = v6 ? 16 : 4;
		}
	}
}

/*
 * SRV of a ClusterIP service (bare name or _port._proto): entries =
 * matching ports x ClusterIPs, all with the service as target, so the SRV
 * records are the distinct matching port numbers (weight over all
 * entries) and the glue is the service's addresses.
 */
static int srv_cip(const actx_t *c, const k8s_node_t *n, const hfi_k8s_label_t *port,
		   const hfi_k8s_label_t *proto, uint32_t nmatch)
{
	const hfi_k8s_index_t *ix = c->ix;
	uint32_t nips = n->a_n + n->aaaa_n;
	int got = 0;
	if (nips == 0 || !fits(c, n->klen))
		return R_NODATA;
	uint16_t weight = srv_weight((size_t)nmatch * nips);
	uint64_t bits[65536 / 64]; /* seen port numbers, many-port services */
	bool bits_clear = false;
	hfi_name_t target = hfi_name_join(ix->arena + n->koff, n->klen, c->zone_q);
	uint8_t *rd = NULL;
	for (uint32_t i = 0; i < n->port_n; i++) {
		const k8s_port_t *p = &ix->ports[n->port_i + i];
		if (p->port == -1 || !port_match(ix, p, port, proto))
			continue;
		uint16_t pn = (uint16_t)p->port;
		bool dup = false;
		if (n->port_n <= 32) {
			/* the earlier matching ports with this number */
			for (uint32_t j = 0; j < i && !dup; j++) {
				const k8s_port_t *q = &ix->ports[n->port_i + j];
				dup = q->port != -1 && (uint16_t)q->port == pn &&
				      port_match(ix, q, port, proto);
			}
		} else {
			if (!bits_clear) {
				memset(bits, 0, sizeof(bits));
				bits_clear = true;
			}
			dup = (bits[pn >> 6] >> (pn & 63)) & 1;
			bits[pn >> 6] |= 1ull << (pn & 63);
		}
		if (dup)
			continue;
		uint8_t d[6] = { 0, 0, (uint8_t)(weight >> 8), (uint8_t)weight, (uint8_t)(pn >> 8),
				 (uint8_t)pn };
		if ((rd = hfi_resp_keep(c->resp, d, 6)) == NULL) {
			c->resp->tc = true;
			break;
		}
		hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_SRV, ix->ttl);
		if (rr == NULL)
			break;
		rr->owner = c->owner;
		rr->rdata = rd;
		rr->rdlen = 6;
		rr->name1 = target;
		got++;
	}
	if (got > 0)
		glue_cip(c, n, target);
	return got > 0 ? R_ANSWER : R_NODATA;
}

/* The A/AAAA glue records glues[first .. first+n) in the additional section. */
static void add_glue(const actx_t *c, uint32_t first, uint32_t n)
{
	const hfi_k8s_index_t *ix = c->ix;
	for (uint32_t i = 0; i < n; i++) {
		const k8s_glue_t *g = &ix->glues[first + i];
		if (!fits(c, g->tlen))
			continue;
		hfi_rr_t *rr = add(c, HFI_SEC_ADDITIONAL, g->family == 4 ? HFI_T_A : HFI_T_AAAA,
				   ix->ttl);
		if (rr == NULL)
			break;
		rr->owner = hfi_name_join(ix->arena + g->toff, g->tlen, c->zone_q);
		rr->rdata = ix->arena + g->aoff;
		rr->rdlen = g->family == 4 ? 4 : 16;
	}
}

static int ans_srv(const actx_t *c)
{
	const hfi_k8s_index_t *ix = c->ix;
	lk_t lk;
	int got = 0;
	lookup_services(c, c->q->lname, &lk);
	if (lk.st == ST_ERR)
		return R_ERR;
	if (lk.st == ST_POD && fits(c, lk.prelen)) {
		/* findPods gives one entry with port 0: SRV 0 100 0 + glue */
		static const uint8_t rd[6] = { 0, 0, 0, 100, 0, 0 };
		hfi_name_t target = hfi_name_join(lk.pre, lk.prelen, c->zone_q);
		hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_SRV, ix->ttl);
		if (rr == NULL)
			return R_ANSWER;
		rr->owner = c->owner;
		rr->rdata = rd;
		rr->rdlen = 6;
		rr->name1 = target;
		add_ip(c, HFI_SEC_ADDITIONAL, target, &lk.ip);
		return R_ANSWER;
	}
	if (lk.st != ST_NODE || (lk.node->flags & KF_EXTERNAL))
		return R_NODATA;
	const k8s_node_t *n = lk.node;
	if (n->flags & KF_CLUSTERIP) {
		static const hfi_k8s_label_t any = { NULL, 0 };
		if (lk.cip_port)
			return srv_cip(c, n, &lk.port, &lk.proto, lk.nmatch);
		return srv_cip(c, n, &any, &any, n->port_n);
	}
	for (uint32_t i = 0; i < n->srv_n; i++) {
		const k8s_srv_t *s = &ix->srvs[n->srv_i + i];
		if (!fits(c, s->tlen))
			continue;
		hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_SRV, ix->ttl);
		if (rr == NULL)
			break;
		rr->owner = c->owner;
		rr->rdata = s->rdata;
		rr->rdlen = 6;
		rr->name1 = hfi_name_join(ix->arena + s->toff, s->tlen, c->zone_q);
		got++;
	}
	if (got > 0)
		add_glue(c, n->glue_i, n->glue_n);
	return got > 0 ? R_ANSWER : R_NODATA;
}

static int ans_txt(const actx_t *c)
{
	static const uint8_t version[] = "\0051.1.0";
	const hfi_query_t *q = c->q;
	if (q->nlabels - c->zlabels == 1 && q->lname[0] == 11 &&
	    memcmp(q->lname + 1, "dns-version", 11) == 0) {
		hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_TXT, 28800);
		if (rr == NULL)
			return R_ANSWER;
		rr->owner = c->owner;
		rr->rdata = version;
		rr->rdlen = sizeof(version) - 1;
		return R_ANSWER;
	}
	/* NODATA when Records() has something for the name, else NXDOMAIN */
	lk_t lk;
	lookup_records(c, q->lname, &lk);
	if (lk.zonal || lk.st == ST_POD || (lk.st == ST_NODE && (lk.node->flags & KF_ENTRIES)))
		return R_NODATA;
	return R_ERR;
}

static int ans_cname(const actx_t *c)
{
	lk_t lk;
	lookup_services(c, c->q->lname, &lk);
	if (lk.st == ST_ERR)
		return R_ERR;
	if (lk.st != ST_NODE || !(lk.node->flags & KF_EXTERNAL))
		return R_NODATA;
	hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_CNAME, c->ix->ttl);
	if (rr != NULL) {
		rr->owner = c->owner;
		rr->name1 = hfi_name_wire(c->ix->arena + lk.node->cname_off);
	}
	return R_ANSWER;
}

static int ans_ptr(const actx_t *c)
{
	const hfi_k8s_index_t *ix = c->ix;
	hfi_ip_t ip;
	if (!hfi_k8s_reverse_addr(c->q->lname, &ip)) {
		lk_t lk;
		lookup_records(c, c->q->lname, &lk);
		return lk.st == ST_ERR ? R_ERR : R_NODATA;
	}
	const k8s_node_t *n = hfi_k8s_ptr_find(ix, &ip);
	if (n == NULL || n->ptr_n == 0)
		return R_ERR;
	const uint8_t *primary = ix->arena + ix->primary_off;
	for (uint32_t i = 0; i < n->ptr_n; i++) {
		const k8s_glue_t *g = &ix->glues[n->ptr_i + i];
		hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_PTR, ix->ttl);
		if (rr == NULL)
			break;
		rr->owner = c->owner;
		rr->name1 = hfi_name_join(ix->arena + g->toff, g->tlen, primary);
	}
	return R_ANSWER;
}

static int ans_ns_apex(const actx_t *c)
{
	const hfi_k8s_index_t *ix = c->ix;
	int got = 0;
	for (uint32_t i = 0; i < ix->ns_name_n; i++) {
		const k8s_glue_t *g = &ix->glues[ix->ns_name_i + i];
		if (!fits(c, g->tlen))
			continue;
		hfi_rr_t *rr = add(c, HFI_SEC_ANSWER, HFI_T_NS, ix->ttl);
		if (rr == NULL)
			break;
		rr->owner = c->owner;
		rr->name1 = hfi_name_join(ix->arena + g->toff, g->tlen, c->zone_q);
		got++;
	}
	if (got > 0)
		add_glue(c, ix->ns_glue_i, ix->ns_glue_n);
	return got > 0 ? R_ANSWER : R_NODATA;
}

/* Every other type: a fake A lookup tells NODATA from NXDOMAIN. */
static int ans_other(const actx_t *c)
{
	lk_t lk;
	lookup_services(c, c->q->lname, &lk);
	return lk.st == ST_ERR ? R_ERR : R_NODATA;
}

int hfi_k8s_answer(const hfi_k8s_index_t *ix, const hfi_query_t *q, bool synced,
		   hfi_resp_t *resp)
{
	hfi_resp_reset(resp);
	if (ix == NULL || q == NULL || q->qname == NULL)
		return HFI_K8S_NEXT;
	int zi = zone_match(ix, q);
	if (zi < 0)
		return HFI_K8S_NEXT;
	actx_t c = { .ix = ix, .q = q, .resp = resp, .zlabels = ix->zone_labels[zi],
		     .zone_l = ix->arena + ix->zone_off[zi], .owner = hfi_name_wire(q->qname) };
	c.zone_q = hfi_query_suffix(q, c.zlabels);
	c.zlen = hfi_dname_len(c.zone_l);
	bool apex = q->nlabels == c.zlabels;

	resp->aa = true;
	resp->ra = false;
	resp->plugin = "kubernetes";
	int r;
	switch (q->qtype) {
	case HFI_T_AXFR:
	case HFI_T_IXFR:
		/* no transfer plugin: REFUSED, written by the server */
		resp->rcode = HFI_RCODE_REFUSED;
		resp->aa = false;
		resp->plugin = "";
		return HFI_K8S_DONE;
	case HFI_T_A:
	case HFI_T_AAAA:
		r = ans_addr(&c, q->qtype);
		break;
	case HFI_T_TXT:
		r = ans_txt(&c);
		break;
	case HFI_T_CNAME:
		r = ans_cname(&c);
		break;
	case HFI_T_PTR:
		r = ans_ptr(&c);
		break;
	case HFI_T_SRV:
		r = ans_srv(&c);
		break;
	case HFI_T_SOA:
		if (!apex) {
			r = R_NODATA;
			break;
		}
		add_soa(&c, HFI_SEC_ANSWER);
		r = R_ANSWER;
		break;
	case HFI_T_NS:
		/* state.Name() == zone: lower-case qname vs the query's zone
		 * spelling, so a mixed-case apex takes the fake-A path */
		if (apex && memcmp(c.zone_q, c.zone_l, c.zlen) == 0) {
			r = ans_ns_apex(&c);
			break;
		}
		r = ans_other(&c);
		break;
	default:
		r = ans_other(&c);
		break;
	}
	switch (r) {
	case R_ERR:
		hfi_resp_reset(resp);
		if (falls_through(ix, q))
			return HFI_K8S_NEXT;
		resp->aa = true;
		resp->plugin = "kubernetes";
		resp->rcode = synced ? HFI_RCODE_NXDOMAIN : HFI_RCODE_SERVFAIL;
		add_soa(&c, HFI_SEC_AUTHORITY);
		return HFI_K8S_DONE;
	case R_NODATA:
		resp->nrr = 0;
		resp->scratch_len = 0;
		resp->tc = false;
		add_soa(&c, HFI_SEC_AUTHORITY);
		return HFI_K8S_DONE;
	case R_RESOLVE:
		return HFI_K8S_RESOLVE;
	default:
		return HFI_K8S_DONE;
	}
}
