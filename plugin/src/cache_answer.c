/*
 * cache_answer.c: the cache plugin in the answer path (spec 5): lookups
 * and hits, storing what the later plugins answer (kubernetes answers via
 * the pack hook, forwarded replies in hf_forward_reply), serve_stale
 * (immediate: answer then refresh through HF_ANSWER_REFRESH; verify:
 * forward first, stale entry on failure), prefetch, and the caches'
 * lifecycle at engine open/close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "engine_int.h"

static int64_t unix_now(void)
{
	return (int64_t)time(NULL);
}

/* w->resp from a blob: RA/AD/rcode stored; AD only for DO/AD queries
 * unless keep_ad (a miss passes the upstream's header bits on). */
static int fill_resp(hf_worker_t *w, const uint8_t *blob, size_t len, uint32_t ttl,
		     uint16_t rcode, bool ra, bool ad, bool aa, bool keep_ad)
{
	if (hfi_cmsg_to_resp(blob, len, ttl, &w->resp) != HF_EOK)
		return HF_EMALF;
	w->resp.rcode = rcode;
	w->resp.aa = aa;
	w->resp.ra = ra;
	w->resp.ad = ad && (keep_ad || w->q.do_bit || w->q.ad);
	w->resp.plugin = "cache";
	return HF_EOK;
}

/* A stale answer: TTL 0 (or RESPONSE_TTL), EDE 3 for EDNS clients. */
static int fill_stale(hf_worker_t *w, const hfi_chit_t *h)
{
	const hfi_cfg_cache_t *cfg = hfi_cache_cfg(w->cw.c);
	if (fill_resp(w, w->cw.blob, h->len, cfg->stale_response_ttl_s, h->rcode, h->ra, h->ad,
		      true, false) != HF_EOK)
		return HF_EMALF;
	if (w->q.has_edns) {
		w->resp.has_ede = true; /* RFC 8914 code 3: Stale Answer */
		w->resp.ede_code = 3;
	}
	hfi_cache_count_stale(w->cw.c);
	return HF_EOK;
}

int hfi_cache_plugin(hf_worker_t *w, size_t bi)
{
	hfi_cache_t *c = w->e->caches != NULL ? w->e->caches[bi] : NULL;
	w->cw.c = NULL;
	w->cw.mode = HFI_CW_NONE;
	if (c == NULL || !hfi_cache_covers(c, w->q.lname))
		return HFI_CACHE_NEXT;
	w->cw.c = c;
	w->cw.mode = HFI_CW_MISS;
	w->cw.refresh_due = false;
	hfi_chit_t h;
	hfi_cache_get(c, &w->q, hfi_cache_clock(), HFI_CGET_COUNT, 0, w->cw.blob, sizeof(w->cw.blob),
		      &h);
	if (!h.found)
		return HFI_CACHE_NEXT;
	const hfi_cfg_cache_t *cfg = hfi_cache_cfg(c);
	if (h.stale && cfg->stale_verify) {
		w->cw.mode = HFI_CW_VERIFY; /* ask the next plugins first */
		return HFI_CACHE_NEXT;
	}
	int ret;
	if (h.stale) {
		ret = fill_stale(w, &h);
	} else {
		uint32_t ttl = cfg->keepttl ? h.duration : (uint32_t)h.ttl;
		ret = fill_resp(w, w->cw.blob, h.len, ttl, h.rcode, h.ra, h.ad, true, false);
	}
	if (ret != HF_EOK) {
		if (h.refresh)
			hfi_cache_refresh_done(c, &w->q, false, hfi_cache_clock(), h.slot);
		return HFI_CACHE_NEXT; /* cannot happen: the blob was ours */
	}
	w->cw.mode = HFI_CW_NONE;
	w->cw.refresh_due = h.refresh;
	w->cw.prefetch = h.prefetch;
	w->cw.slot = h.slot;
	return h.refresh ? HFI_CACHE_REFRESH : HFI_CACHE_HIT;
}

void hfi_cache_refresh_begin(hf_worker_t *w, size_t outlen)
{
	if (!w->cw.refresh_due)
		return;
	w->cw.refresh_due = false;
	w->cw.mode = HFI_CW_REFRESH;
	w->cw.stale_len = outlen;
}

/* Classify, store and rewrite the TTLs of the answer in w->resp. */
static void store_resp(hf_worker_t *w, bool refresh)
{
	hfi_cache_t *c = w->cw.c;
	hfi_cmsg_t m;
	if (hfi_cmsg_from_resp(&w->resp, &w->q, &m, w->cw.blob, sizeof(w->cw.blob)) != HFI_CMSG_OK) {
		if (refresh)
			hfi_cache_refresh_done(c, &w->q, false, hfi_cache_clock(), w->cw.slot);
		return;
	}
	int t = hfi_cache_typify(&m, w->q.qtype, w->q.do_bit);
	uint32_t dur = hfi_cache_duration(hfi_cache_cfg(c), t, &m);
	bool ok = !refresh || m.rcode == HFI_RCODE_NOERROR || m.rcode == HFI_RCODE_NXDOMAIN;
	if (ok && t != HFI_CT_OTHER && t != HFI_CT_META)
		ok = hfi_cache_put(c, &w->q, &m, w->cw.blob, t, dur, hfi_cache_clock()) || !refresh;
	if (refresh) {
		hfi_cache_refresh_done(c, &w->q, ok, hfi_cache_clock(), w->cw.slot);
		return;
	}
	for (size_t i = 0; i < w->resp.nrr; i++)
		if (w->resp.rr[i].type != HFI_T_OPT)
			w->resp.rr[i].ttl = dur;
}

int hfi_cache_on_answer(hf_worker_t *w, size_t *outlen)
{
	if (w->cw.c == NULL || w->cw.mode == HFI_CW_NONE)
		return -1;
	int mode = w->cw.mode;
	bool server = w->resp.plugin == NULL || w->resp.plugin[0] == '\0';
	w->cw.mode = HFI_CW_NONE;
	if (mode == HFI_CW_REFRESH) {
		if (!server)
			store_resp(w, true);
		else
			hfi_cache_refresh_done(w->cw.c, &w->q, false, hfi_cache_clock(), w->cw.slot);
		*outlen = w->cw.stale_len; /* the stale reply is already in out */
		return HF_ANSWER;
	}
	if (server) {
		/* the end of the chain (SERVFAIL): a verify falls back to stale */
		if (mode == HFI_CW_VERIFY) {
			hfi_chit_t h;
			hfi_cache_get(w->cw.c, &w->q, hfi_cache_clock(), HFI_CGET_NOREFRESH, 0,
				      w->cw.blob, sizeof(w->cw.blob), &h);
			if (h.found && h.stale)
				(void)fill_stale(w, &h);
		}
		return -1;
	}
	store_resp(w, false);
	return -1;
}

/* The refresh query: the client's header (ID, RD, CD), question and an
 * OPT with its UDP size and DO bit; w->q is re-pointed at it so the
 * exchange no longer needs the client's buffer. */
static bool refresh_query(hf_worker_t *w)
{
	hfi_query_t *q = &w->q;
	size_t qend = q->question_end;
	if (qend < 12 || qend > q->len || qend + 11 > sizeof(w->cw.q) || q->qname == NULL)
		return false;
	uint8_t *m = w->cw.q;
	memcpy(m, q->pkt, 12);
	m[2] &= 0x01;  /* RD */
	m[3] &= 0x10;  /* CD */
	m[4] = 0, m[5] = 1;
	memset(m + 6, 0, 6);
	size_t o = 12;
	memcpy(m + o, q->qname, q->qname_len);
	o += q->qname_len;
	m[o++] = (uint8_t)(q->qtype >> 8);
	m[o++] = (uint8_t)q->qtype;
	m[o++] = (uint8_t)(q->qclass >> 8);
	m[o++] = (uint8_t)q->qclass;
	if (q->has_edns) {
		uint16_t size = q->edns_size;
		uint8_t opt[11] = {0, 0, HFI_T_OPT, (uint8_t)(size >> 8), (uint8_t)size, 0, 0,
				   q->do_bit ? 0x80 : 0, 0, 0, 0};
		memcpy(m + o, opt, sizeof(opt));
		o += sizeof(opt);
		m[11] = 1;
	}
	w->cw.qlen = o;
	int family = q->family;
	bool tcp = q->tcp;
	if (hfi_query_parse(q, m, o, tcp) != HFI_Q_OK || q->qname == NULL)
		return false;
	q->family = family;
	return true;
}

int hfi_cache_on_forward(hf_worker_t *w, size_t *outlen)
{
	if (w->cw.c == NULL || w->cw.mode != HFI_CW_REFRESH)
		return -1;
	*outlen = w->cw.stale_len;
	if (!refresh_query(w)) {
		w->cw.mode = HFI_CW_NONE;
		hfi_cache_refresh_done(w->cw.c, &w->q, false, hfi_cache_clock(), w->cw.slot);
		w->fwd = NULL;
		return HF_ANSWER;
	}
	return HF_ANSWER_REFRESH;
}

static int pack_resp(hf_worker_t *w, uint8_t *out, size_t cap, size_t *outlen)
{
	int n = hfi_msg_pack(&w->q, &w->resp, out, cap, 0);
	if (n < 0)
		return n;
	*outlen = (size_t)n;
	return HF_EOK;
}

int hfi_cache_forward_reply(hf_worker_t *w, const uint8_t *reply, size_t rlen, uint8_t *out,
			    size_t cap, size_t *outlen)
{
	hfi_cache_t *c = w->cw.c;
	int mode = w->cw.mode;
	w->cw.mode = HFI_CW_NONE;
	if (c == NULL || mode == HFI_CW_NONE)
		return HF_ENOENT;
	int64_t now = hfi_cache_clock();
	hfi_cmsg_t m;
	int pr = HFI_CMSG_MALFORMED;
	if (reply != NULL)
		pr = hfi_cmsg_parse(reply, rlen, &w->q, unix_now(), &m, w->cw.blob,
				    sizeof(w->cw.blob));
	if (pr == HFI_CMSG_MISMATCH)
		hfi_cache_count_drop(c);
	bool good = pr == HFI_CMSG_OK;
	int t = good ? hfi_cache_typify(&m, w->q.qtype, w->q.do_bit) : HFI_CT_OTHER;
	uint32_t dur = good ? hfi_cache_duration(hfi_cache_cfg(c), t, &m) : 0;
	bool fresh_ok = good && !m.tc && (m.rcode == HFI_RCODE_NOERROR || m.rcode == HFI_RCODE_NXDOMAIN);

	if (mode == HFI_CW_REFRESH) {
		bool ok = fresh_ok && hfi_cache_put(c, &w->q, &m, w->cw.blob, t, dur, now);
		hfi_cache_refresh_done(c, &w->q, ok, now, w->cw.slot);
		return HF_ENOENT; /* nobody waits for it */
	}
	if (mode == HFI_CW_VERIFY && !fresh_ok) {
		hfi_chit_t h;
		hfi_cache_get(c, &w->q, now, HFI_CGET_NOREFRESH, 0, w->cw.blob, sizeof(w->cw.blob), &h);
		if (h.found && fill_stale(w, &h) == HF_EOK)
			return pack_resp(w, out, cap, outlen);
		if (reply == NULL)
			return HF_ENOENT;
		if (pr != HFI_CMSG_OK) /* the blob was overwritten: parse again */
			return HF_ENOENT;
		good = hfi_cmsg_parse(reply, rlen, &w->q, unix_now(), &m, w->cw.blob,
				      sizeof(w->cw.blob)) == HFI_CMSG_OK;
	}
	if (!good)
		return HF_ENOENT; /* the upstream's reply as it is, never cached */
	(void)hfi_cache_put(c, &w->q, &m, w->cw.blob, t, dur, now);
	/* the client gets the reply with every TTL rewritten to the duration */
	if (fill_resp(w, w->cw.blob, m.len, dur, m.rcode, m.ra, m.ad, m.aa, true) != HF_EOK)
		return HF_ENOENT;
	w->resp.tc = m.tc;
	w->resp.plugin = "forward";
	return pack_resp(w, out, cap, outlen);
}

int hfi_cache_after_chase(hf_worker_t *w, int ret, uint8_t *out, size_t cap, size_t *outlen)
{
	if (w->cw.c == NULL || w->cw.mode == HFI_CW_NONE || ret != HF_EOK)
		return ret;
	bool refresh = w->cw.mode == HFI_CW_REFRESH;
	w->cw.mode = HFI_CW_NONE;
	store_resp(w, false);
	if (refresh)
		hfi_cache_refresh_done(w->cw.c, &w->q, true, hfi_cache_clock(), w->cw.slot);
	return pack_resp(w, out, cap, outlen);
}

int hfi_cache_open_all(hf_engine_t *e, char *err, size_t errlen)
{
	size_t nb = e->cfg->nblocks;
	e->caches = calloc(nb ? nb : 1, sizeof(*e->caches));
	if (e->caches == NULL)
		goto oom;
	const hf_mm_t *mm = e->arena != NULL ? &e->arena_mm : NULL;
	for (size_t bi = 0; bi < nb; bi++) {
		const hfi_cfg_cache_t *cfg = e->cfg->blocks[bi].cache;
		if (cfg == NULL)
			continue;
		const char *server = "";
		for (size_t li = 0; li < e->nlisteners && server[0] == '\0'; li++)
			for (size_t r = 0; r < e->listeners[li].nroutes; r++)
				if (e->listeners[li].routes[r].block == bi)
					server = e->listeners[li].server;
		e->caches[bi] = hfi_cache_new(cfg, mm, server);
		if (e->caches[bi] == NULL)
			goto oom;
	}
	return HF_EOK;
oom:
	snprintf(err, errlen, "cache: %s", hf_strerror(HF_ENOMEM));
	return HF_ENOMEM;
}

void hfi_cache_close_all(hf_engine_t *e)
{
	if (e->caches == NULL || e->cfg == NULL)
		return;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		hfi_cache_free(e->caches[bi]);
	free(e->caches);
	e->caches = NULL;
}
