/*
 * engine_chase.c: ExternalName services whose target lies outside the
 * cluster zone (spec 4.5).  CoreDNS re-sends the query for the target
 * through its own server (upstream.Lookup: RD set, EDNS with the client's
 * normalised size and DO bit) and appends whatever answer comes back after
 * the CNAME, copying TC.  Here the engine builds that query
 * (hf_forward_query), the host forwards it like any other, and
 * hf_forward_reply() joins the reply's answer section with the CNAME.
 *
 * Break-glass overrides (issue 7, admin_answer.c) reuse both halves: an
 * override CNAME whose target is cluster data is answered here from the
 * kubernetes index (hfi_chase_cluster: the target's records follow the
 * CNAME chain, its rcode is the reply's, as for an in-zone chain), and one
 * whose target is outside goes through hfi_chase_prepare like an
 * ExternalName.
 */
#include <string.h>

#include "admin.h"
#include "engine_int.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Flatten a two-piece name into wire form; length or 0. */
static size_t flatten(const hfi_name_t *n, uint8_t *out)
{
	if ((size_t)n->prelen + n->suflen > HFI_DNAME_MAX + 1 || n->suflen == 0)
		return 0;
	if (n->prelen > 0)
		memcpy(out, n->pre, n->prelen);
	memcpy(out + n->prelen, n->suf, n->suflen);
	return (size_t)n->prelen + n->suflen;
}

bool hfi_chase_prepare(hf_worker_t *w, const hfi_cfg_forward_t **fwd_out)
{
	const hfi_resp_t *r = &w->resp;
	const hfi_rr_t *cname = NULL;
	for (size_t i = 0; i < r->nrr; i++)
		if (r->rr[i].section == HFI_SEC_ANSWER && r->rr[i].type == HFI_T_CNAME)
			cname = &r->rr[i];
	if (cname == NULL)
		return false;
	uint8_t target[HFI_DNAME_MAX + 1];
	size_t tlen = flatten(&cname->name1, target);
	if (tlen == 0)
		return false;
	/* route the target like a new query on the same listener */
	hfi_query_t *tq = &w->chase_route;
	memset(tq, 0, sizeof(*tq));
	hfi_dname_lower(tq->lname, target);
	tq->nlabels = (uint8_t)hfi_dname_labels(tq->lname);
	tq->qtype = w->q.qtype;
	const hfi_route_t *rt = hfi_engine_route(&w->e->listeners[w->listener], tq);
	if (rt == NULL)
		return false;
	const hfi_cfg_forward_t *f = hfi_engine_forward_for(&w->e->cfg->blocks[rt->block], tq);
	if (f == NULL || f->to.n == 0)
		return false;

	/* the query: header, question, OPT (size normalised like edns.Size) */
	uint8_t *m = w->chase_q;
	size_t o = 0;
	uint16_t size = w->q.tcp ? 65535 : (w->q.has_edns && w->q.edns_size > 512 ? w->q.edns_size : 512);
	m[o++] = (uint8_t)(w->q.id >> 8);
	m[o++] = (uint8_t)w->q.id;
	m[o++] = 0x01; /* RD */
	m[o++] = 0x00;
	static const uint8_t counts[8] = {0, 1, 0, 0, 0, 0, 0, 1};
	memcpy(m + o, counts, 8);
	o += 8;
	memcpy(m + o, target, tlen);
	o += tlen;
	m[o++] = (uint8_t)(w->q.qtype >> 8);
	m[o++] = (uint8_t)w->q.qtype;
	m[o++] = 0;
	m[o++] = HFI_C_IN;
	uint8_t opt[11] = {0, 0, HFI_T_OPT, (uint8_t)(size >> 8), (uint8_t)size, 0, 0,
			   w->q.do_bit ? 0x80 : 0, 0, 0, 0};
	memcpy(m + o, opt, sizeof(opt));
	o += sizeof(opt);
	w->chase_qlen = o;
	w->chase = true;
	*fwd_out = f;
	return true;
}

/* Copy one RR of msg at *off into resp (names decompressed). */
static int copy_rr(hfi_resp_t *resp, const uint8_t *msg, size_t len, size_t *off)
{
	uint8_t owner[HFI_DNAME_MAX + 1], name[HFI_DNAME_MAX + 1], raw[1024];
	size_t olen = 0, nlen = 0;
	if (hfi_wire_get_name(msg, len, off, owner, &olen) != 0 || *off + 10 > len)
		return -1;
	const uint8_t *h = msg + *off;
	uint16_t type = rd16(h), rclass = rd16(h + 2), rdlen = rd16(h + 8);
	uint32_t ttl = ((uint32_t)rd16(h + 4) << 16) | rd16(h + 6);
	size_t p = *off + 10, end = p + rdlen;
	if (end > len)
		return -1;
	*off = end;
	hfi_rr_t *rr = hfi_resp_add(resp, HFI_SEC_ANSWER, type, ttl);
	if (rr == NULL)
		return -1;
	rr->rclass = rclass;
	const uint8_t *ow = hfi_resp_keep(resp, owner, olen);
	if (ow == NULL)
		return -1;
	rr->owner = hfi_name_wire(ow);
	/* the packer knows names inside these types; the rest is copied with
	 * its names expanded */
	size_t fixed = type == HFI_T_MX ? 2 : type == HFI_T_SRV ? 6 : 0;
	if (type == HFI_T_CNAME || type == HFI_T_NS || type == HFI_T_PTR || type == HFI_T_MX ||
	    type == HFI_T_SRV) {
		if (p + fixed > end)
			return -1;
		size_t q = p + fixed;
		if (hfi_wire_get_name(msg, end, &q, name, &nlen) != 0)
			return -1;
		const uint8_t *nm = hfi_resp_keep(resp, name, nlen);
		rr->rdata = fixed ? hfi_resp_keep(resp, msg + p, fixed) : NULL;
		rr->rdlen = (uint16_t)fixed;
		if (nm == NULL || (fixed && rr->rdata == NULL))
			return -1;
		rr->name1 = hfi_name_wire(nm);
		return 0;
	}
	if (type == HFI_T_SOA) {
		uint8_t name2[HFI_DNAME_MAX + 1];
		size_t n2 = 0, q = p;
		if (hfi_wire_get_name(msg, end, &q, name, &nlen) != 0 ||
		    hfi_wire_get_name(msg, end, &q, name2, &n2) != 0 || q + 20 != end)
			return -1;
		const uint8_t *a = hfi_resp_keep(resp, name, nlen), *b = hfi_resp_keep(resp, name2, n2);
		rr->rdata = hfi_resp_keep(resp, msg + q, 20);
		rr->rdlen = 20;
		if (a == NULL || b == NULL || rr->rdata == NULL)
			return -1;
		rr->name1 = hfi_name_wire(a);
		rr->name2 = hfi_name_wire(b);
		return 0;
	}
	const char *lay = hfi_wire_rdata_layout(type);
	size_t rl = 0;
	if (lay != NULL && strchr(lay, 'N') != NULL) {
		/* expand names field by field; other fields copied */
		size_t q = p;
		for (const char *f = lay; *f != '\0' && q < end; f++) {
			size_t flen;
			if (*f == 'N') {
				if (hfi_wire_get_name(msg, end, &q, name, &nlen) != 0 || rl + nlen > sizeof(raw))
					return -1;
				memcpy(raw + rl, name, nlen);
				rl += nlen;
				continue;
			}
			flen = *f == '2' ? 2 : (*f == '4' || *f == 'A') ? 4 : *f == '6' ? 16 : end - q;
			if (q + flen > end || rl + flen > sizeof(raw))
				return -1;
			memcpy(raw + rl, msg + q, flen);
			rl += flen;
			q += flen;
		}
		rr->rdata = hfi_resp_keep(resp, raw, rl);
	} else {
		rl = rdlen;
		rr->rdata = rdlen ? hfi_resp_keep(resp, msg + p, rdlen) : NULL;
		if (rdlen && rr->rdata == NULL)
			return -1;
	}
	rr->rdlen = (uint16_t)rl;
	return (rl && rr->rdata == NULL) ? -1 : 0;
}

int hfi_chase_reply(hf_worker_t *w, const uint8_t *reply, size_t rlen, uint8_t *out, size_t cap,
		    size_t *outlen)
{
	hfi_resp_t *resp = &w->resp;
	w->chase = false;
	if (reply != NULL && rlen >= 12) {
		uint16_t qd = rd16(reply + 4), an = rd16(reply + 6);
		size_t off = 12;
		bool ok = true;
		for (unsigned i = 0; i < qd && ok; i++) {
			uint8_t name[HFI_DNAME_MAX + 1];
			ok = hfi_wire_get_name(reply, rlen, &off, name, NULL) == 0 && off + 4 <= rlen;
			off += 4;
		}
		/* all of the answer or nothing: a broken reply adds no record */
		uint16_t keep = resp->nrr;
		size_t keep_scratch = resp->scratch_len;
		for (unsigned i = 0; i < an && ok; i++)
			ok = copy_rr(resp, reply, rlen, &off) == 0;
		if (!ok) {
			resp->nrr = keep;
			resp->scratch_len = keep_scratch;
		}
		if (reply[2] & 0x02)
			resp->tc = true;
	}
	int n = hfi_msg_pack(&w->q, resp, out, cap, 0);
	if (n < 0)
		return n;
	*outlen = (size_t)n;
	return HF_EOK;
}

/* ---- break-glass (issue 7): an override CNAME's target in the cluster ---- */

#define CHAIN_KEEP 8 /* CNAMEs of the override chain (admin_answer.c CHAIN_MAX) */

int hfi_chase_cluster(hf_worker_t *w, const uint8_t *target, const hfi_cfg_forward_t **fwd)
{
	hf_engine_t *e = w->e;
	size_t tlen = hfi_dname_len(target);
	uint8_t *m = w->ovr_q;
	if (tlen == 0 || 12 + tlen + 4 > sizeof(w->ovr_q))
		return HFI_OVR_NONE;
	/* the target as a query of its own (owner names point into it) */
	static const uint8_t hdr[12] = {0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(m, hdr, 12);
	m[0] = (uint8_t)(w->q.id >> 8);
	m[1] = (uint8_t)w->q.id;
	memcpy(m + 12, target, tlen);
	size_t o = 12 + tlen;
	m[o++] = (uint8_t)(w->q.qtype >> 8);
	m[o++] = (uint8_t)w->q.qtype;
	m[o++] = 0;
	m[o++] = HFI_C_IN;
	hfi_query_t *tq = &w->ovr_route;
	if (hfi_query_parse(tq, m, o, w->q.tcp) != HFI_Q_OK || tq->qname == NULL)
		return HFI_OVR_NONE;
	tq->family = w->q.family;
	const hfi_route_t *r = hfi_engine_route(&e->listeners[w->listener], tq);
	if (r == NULL || e->k8s == NULL)
		return HFI_OVR_NONE;
	hfi_k8s_inst_t *inst = &e->k8s[r->block];
	const hfi_k8s_index_t *ix = atomic_load(&inst->index);
	if (ix == NULL || !hfi_k8s_handles(ix, tq))
		return HFI_OVR_NONE;

	hfi_resp_t *resp = &w->resp;
	hfi_rr_t chain[CHAIN_KEEP];
	size_t nchain = resp->nrr < CHAIN_KEEP ? resp->nrr : CHAIN_KEEP;
	memcpy(chain, resp->rr, nchain * sizeof(hfi_rr_t));
	int state = atomic_load(&inst->state);
	int res = HFI_K8S_DONE;
	if (state == HFI_EXPIRED) {
		hfi_resp_reset(resp);
		resp->rcode = HFI_RCODE_SERVFAIL; /* past serve_stale MAX */
	} else {
		res = hfi_k8s_answer(ix, tq, state != HFI_SYNCING, resp);
	}
	if (res == HFI_K8S_NEXT) {
		/* not answered there (fallthrough): the chain as it was */
		hfi_resp_reset(resp);
		memcpy(resp->rr, chain, nchain * sizeof(hfi_rr_t));
		resp->nrr = (uint16_t)nchain;
		resp->aa = true;
		resp->plugin = "breakglass";
		return HFI_OVR_NONE;
	}
	/* the chain first, then the target's records */
	size_t keep = resp->nrr;
	if (keep + nchain > HFI_RESP_MAX_RR) {
		keep = HFI_RESP_MAX_RR - nchain;
		resp->tc = true;
	}
	memmove(resp->rr + nchain, resp->rr, keep * sizeof(hfi_rr_t));
	memcpy(resp->rr, chain, nchain * sizeof(hfi_rr_t));
	resp->nrr = (uint16_t)(keep + nchain);
	resp->aa = true;
	resp->plugin = "breakglass+kubernetes";
	if (state == HFI_STALE && w->q.has_edns) {
		resp->has_ede = true; /* RFC 8914 code 3: Stale Answer */
		resp->ede_code = 3;
	}
	const hfi_cfg_forward_t *f = NULL;
	if (res == HFI_K8S_RESOLVE && hfi_chase_prepare(w, &f)) {
		*fwd = f;
		return HFI_OVR_FORWARD;
	}
	return HFI_OVR_ANSWER;
}
