/*
 * admin_answer.c: the answer-path half of break-glass (issue 7, admin.h):
 * per-client rate limits (GCRA, one atomic per rule) and operator
 * overrides (binary search in the published table, CNAME chains chased
 * through further overrides, the cluster data, or forward).  Never locks,
 * blocks or allocates; the tables stay valid while the worker is inside
 * hf_answer (epoch reclamation, admin.c).
 */
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "admin.h"

#define NS_PER_S 1000000000LL
#define LIMIT_BURST_NS NS_PER_S /* a burst of one second's worth */
#define CHAIN_MAX 8             /* CNAME overrides followed */

/* ---- limits ---------------------------------------------------------------- */

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (full > 0 && memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));
	return (a[full] & mask) == net[full];
}

/* GCRA: true when the query is over the rule's rate. */
static bool over_rate(hfi_limit_rule_t *r)
{
	if (r->qps == 0) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return true;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
	int64_t step = NS_PER_S / r->qps;
	if (step < 1)
		step = 1;
	int64_t tat = atomic_load_explicit(&r->tat, memory_order_relaxed);
	for (int i = 0; i < 16; i++) {
		int64_t next = (tat > now ? tat : now) + step;
		if (next - now > LIMIT_BURST_NS) {
			atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
			return true;
		}
		if (atomic_compare_exchange_weak_explicit(&r->tat, &tat, next, memory_order_relaxed,
							  memory_order_relaxed))
			return false;
	}
	return false; /* heavy contention on one rule: let this one through */
}

bool hfi_limit_drop(hf_engine_t *e, const struct sockaddr *client)
{
	hfi_limit_table_t *t = atomic_load_explicit(&e->limits, memory_order_acquire);
	if (t == NULL || client == NULL)
		return false;
	uint8_t a[16];
	uint8_t fam;
	if (client->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)client;
		memcpy(a, &s->sin_addr, 4);
		fam = 4;
	} else if (client->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)client;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			memcpy(a, s->sin6_addr.s6_addr + 12, 4);
			fam = 4;
		} else {
			memcpy(a, &s->sin6_addr, 16);
			fam = 6;
		}
	} else {
		return false;
	}
	for (uint32_t i = 0; i < t->n && i < HFI_LIMIT_MAX; i++) {
		hfi_limit_rule_t *r = &t->r[i];
		if (r->family == fam && prefix_match(a, r->addr, r->prefix))
			return over_rate(r); /* most specific rule only */
	}
	return false;
}

/* ---- overrides -------------------------------------------------------------- */

static int key_cmp(const hfi_ovr_rr_t *rr, const uint8_t *lname, size_t llen, uint16_t type)
{
	if (rr->olen != llen)
		return rr->olen < llen ? -1 : 1;
	int c = memcmp(rr->owner, lname, llen);
	if (c != 0)
		return c;
	return rr->type == type ? 0 : rr->type < type ? -1 : 1;
}

/* First index whose key is >= (lname, type). */
static size_t lower_bound(const hfi_ovr_table_t *t, const uint8_t *lname, size_t llen,
			  uint16_t type)
{
	size_t lo = 0, hi = t->n < HFI_OVR_MAX ? t->n : HFI_OVR_MAX;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(&t->rr[mid], lname, llen, type) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t hfi_ovr_find(const hfi_ovr_table_t *t, const uint8_t *lname, uint16_t type, size_t *first)
{
	if (t == NULL)
		return 0;
	size_t llen = hfi_dname_len(lname), n = t->n < HFI_OVR_MAX ? t->n : HFI_OVR_MAX;
	size_t i = lower_bound(t, lname, llen, type), j = i;
	while (j < n && key_cmp(&t->rr[j], lname, llen, type) == 0)
		j++;
	*first = i;
	return j - i;
}

bool hfi_ovr_has_name(const hfi_ovr_table_t *t, const uint8_t *lname)
{
	if (t == NULL)
		return false;
	size_t llen = hfi_dname_len(lname), n = t->n < HFI_OVR_MAX ? t->n : HFI_OVR_MAX;
	size_t i = lower_bound(t, lname, llen, 0);
	return i < n && t->rr[i].olen == llen && memcmp(t->rr[i].owner, lname, llen) == 0;
}

/* Append one override record owned by owner. */
static bool add_rr(hfi_resp_t *resp, hfi_name_t owner, const hfi_ovr_rr_t *o)
{
	hfi_rr_t *rr = hfi_resp_add(resp, HFI_SEC_ANSWER, o->type, o->ttl);
	if (rr == NULL) {
		resp->tc = true;
		return false;
	}
	rr->owner = owner;
	rr->rdata = o->rdlen ? o->rdata : NULL;
	rr->rdlen = o->rdlen;
	if (o->nlen > 0)
		rr->name1 = hfi_name_wire(o->rdata + o->rdlen);
	return true;
}

static void add_set(hfi_resp_t *resp, hfi_name_t owner, const hfi_ovr_table_t *t, size_t first,
		    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!add_rr(resp, owner, &t->rr[first + i]))
			return;
}

int hfi_ovr_answer(hf_worker_t *w, const hfi_cfg_forward_t **fwd)
{
	w->ovr_name = false;
	const hfi_ovr_table_t *t = atomic_load_explicit(&w->e->overrides, memory_order_acquire);
	const hfi_query_t *q = &w->q;
	if (t == NULL || q->qname == NULL || q->qclass != HFI_C_IN || q->qtype == HFI_T_ANY ||
	    q->qtype == HFI_T_AXFR || q->qtype == HFI_T_IXFR || q->qtype == HFI_T_OPT)
		return HFI_OVR_NONE;
	size_t first = 0, cfirst = 0;
	size_t n = hfi_ovr_find(t, q->lname, q->qtype, &first);
	size_t cn = n == 0 && q->qtype != HFI_T_CNAME ? hfi_ovr_find(t, q->lname, HFI_T_CNAME, &cfirst) : 0;
	if (n == 0 && cn == 0) {
		w->ovr_name = hfi_ovr_has_name(t, q->lname);
		return HFI_OVR_NONE;
	}
	hfi_resp_t *resp = &w->resp;
	hfi_resp_reset(resp);
	resp->aa = true;
	resp->plugin = "breakglass";
	hfi_name_t owner = hfi_name_wire(q->qname);
	if (n > 0) {
		add_set(resp, owner, t, first, n);
		return HFI_OVR_ANSWER;
	}
	const hfi_ovr_rr_t *c = &t->rr[cfirst];
	for (int hop = 0; hop < CHAIN_MAX; hop++) {
		if (!add_rr(resp, owner, c))
			return HFI_OVR_ANSWER;
		const uint8_t *target = c->rdata; /* a CNAME's rdata is its target */
		owner = hfi_name_wire(target);
		n = hfi_ovr_find(t, target, q->qtype, &first);
		if (n > 0) {
			add_set(resp, owner, t, first, n);
			return HFI_OVR_ANSWER;
		}
		cn = hfi_ovr_find(t, target, HFI_T_CNAME, &cfirst);
		if (cn == 0) {
			/* the chain leaves the overrides: the cluster data, else
			 * the forward that serves the target, else the CNAME alone */
			int r = hfi_chase_cluster(w, target, fwd);
			if (r != HFI_OVR_NONE)
				return r;
			const hfi_cfg_forward_t *f = NULL;
			if (hfi_chase_prepare(w, &f)) {
				*fwd = f;
				return HFI_OVR_FORWARD;
			}
			return HFI_OVR_ANSWER;
		}
		c = &t->rr[cfirst];
	}
	return HFI_OVR_ANSWER; /* a loop or a long chain: what was followed */
}
