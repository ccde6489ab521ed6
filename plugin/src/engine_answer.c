/*
 * engine_answer.c: the answer path behind hf_answer(): parse the query as
 * miekg/dns would, route it to the server block with the longest matching
 * zone on its listener (spec section 2, DS queries to the closest parent),
 * run the block's plugin chain in plugin.cfg order, and pack the reply.
 * Never allocates: everything lives in the caller's hf_worker_t.
 *
 * Break-glass (issue 7, admin.h): a query from a client over its `limit`
 * is dropped right after it is counted; operator overrides answer before
 * routing (every listener, every block); a name that has overrides of
 * other types only is never NXDOMAIN (NODATA instead).
 */
#include <netinet/in.h>
#include <string.h>

#include "admin.h"
#include "engine_int.h"

static int pack(hf_worker_t *w, uint8_t *out, size_t cap, size_t *outlen)
{
	int cv = hfi_cache_on_answer(w, outlen); /* cache: store it, or end a refresh */
	if (cv >= 0)
		return cv;
	if (w->ovr_name && w->resp.rcode == HFI_RCODE_NXDOMAIN)
		w->resp.rcode = HFI_RCODE_NOERROR; /* the name exists: it has overrides */
	hfi_lb_apply(w, &w->resp); /* loadbalance round_robin (plugin_loadbalance.c) */
	int n = hfi_msg_pack(&w->q, &w->resp, out, cap, 0);
	if (n < 0)
		return n;
	*outlen = (size_t)n;
	hfi_stats_reply(w, w->resp.rcode, w->resp.plugin, *outlen); /* metrics */
	return HF_ANSWER;
}

/* A reply the server writes itself: the rcode, the question, an OPT if
 * the query had one (CoreDNS errorAndMetricsFunc). */
static int bare(hf_worker_t *w, int rcode, uint8_t *out, size_t cap, size_t *outlen)
{
	hfi_resp_reset(&w->resp);
	w->resp.rcode = (uint16_t)rcode;
	w->resp.plugin = "";
	return pack(w, out, cap, outlen);
}

/* Replies written before any plugin: FORMERR, NOTIMP, BADVERS, SERVFAIL
 * for a question-less query. */
static int reject(hf_worker_t *w, int rcode, uint8_t *out, size_t cap, size_t *outlen)
{
	int n = hfi_msg_error(&w->q, rcode, out, cap);
	if (n < 0)
		return HF_DROP;
	*outlen = (size_t)n;
	hfi_stats_reply(w, rcode, "", *outlen); /* metrics (counted only for no question) */
	return HF_ANSWER;
}

/* Longest zone match; DS climbs to the shortest non-root match. */
const hfi_route_t *hfi_engine_route(const hfi_listener_t *l, const hfi_query_t *q)
{
	const hfi_route_t *root = NULL, *ds = NULL;
	const uint8_t *suffix = q->lname; /* one walk down the name (issue 8) */
	for (int skip = 0; skip < q->nlabels; skip++, suffix += 1 + (size_t)suffix[0]) {
		for (size_t i = 0; i < l->nroutes; i++) {
			const hfi_route_t *r = &l->routes[i];
			if (r->labels != q->nlabels - skip || !hfi_dname_eq(r->zone, suffix))
				continue;
			if (q->qtype != HFI_T_DS)
				return r;
			ds = r;
			break;
		}
	}
	if (q->qtype == HFI_T_DS && ds != NULL)
		return ds;
	for (size_t i = 0; i < l->nroutes; i++)
		if (l->routes[i].labels == 0)
			root = &l->routes[i];
	return root;
}

static bool name_in(const uint8_t *lname, const char *zone)
{
	uint8_t z[HFI_DNAME_MAX + 1];
	if (hfi_dname_from_str(zone, z, sizeof(z)) < 0)
		return false;
	return hfi_dname_in_zone(lname, z);
}

const hfi_cfg_forward_t *hfi_engine_forward_for(const hfi_block_t *b, const hfi_query_t *q)
{
	for (size_t i = 0; i < b->nforward; i++) {
		const hfi_cfg_forward_t *f = b->forward[i];
		if (!name_in(q->lname, f->from ? f->from : "."))
			continue;
		bool excluded = false;
		for (size_t x = 0; x < f->except.n && !excluded; x++)
			excluded = name_in(q->lname, f->except.v[x]);
		if (!excluded)
			return f;
	}
	return NULL;
}

int hfi_engine_answer(hf_worker_t *w, int listener, const uint8_t *query, size_t qlen,
		      const struct sockaddr *client, int transport, uint8_t *out,
		      size_t cap, size_t *outlen)
{
	hf_engine_t *e = w->e;
	hfi_query_t *q = &w->q;
	bool tcp = transport == HF_TCP;
	w->fwd = NULL;
	w->st_slot = -1; /* metrics label slot, set while routing */
	w->chase = false;
	w->ovr_name = false;
	w->cw.c = NULL; /* cache.h */
	w->cw.mode = HFI_CW_NONE;
	w->cw.refresh_due = false;
	w->listener = listener;
	*outlen = 0;
	int st = hfi_query_parse(q, query, qlen, tcp);
	q->family = 0;
	if (client != NULL)
		q->family = client->sa_family == AF_INET6 ? 6 : 4;
	hfi_stats_bump(&w->stats->queries[tcp][q->family == 6]);
	if (atomic_load_explicit(&e->limits, memory_order_relaxed) != NULL &&
	    hfi_limit_drop(e, client)) {
		hfi_stats_bump(&w->stats->drops);
		return HF_DROP; /* over the operator's `limit` (break-glass) */
	}
	if (st == HFI_Q_DROP || (st != HFI_Q_OK && st != HFI_Q_BADVERS && st != HFI_Q_FORMERR &&
				  st != HFI_Q_NOTIMP)) {
		hfi_stats_bump(&w->stats->drops);
		return HF_DROP;
	}
	if (st == HFI_Q_FORMERR || st == HFI_Q_NOTIMP)
		return reject(w, st == HFI_Q_NOTIMP ? HFI_RCODE_NOTIMP : HFI_RCODE_FORMERR, out, cap,
			      outlen);
	/* CoreDNS's ServeDNS order: no question -> SERVFAIL; a class other
	 * than IN on a server without chaos/forward -> REFUSED (before the
	 * scrub writer); then the EDNS version check. */
	if (q->qname == NULL) {
		w->st_slot = hfi_stats_dropped_slot(e, listener); /* errorAndMetricsFunc */
		return reject(w, HFI_RCODE_SERVFAIL, out, cap, outlen);
	}
	if (q->qclass != HFI_C_IN && !e->listeners[listener].any_class) {
		w->st_slot = hfi_stats_dropped_slot(e, listener);
		hfi_resp_reset(&w->resp);
		w->resp.rcode = HFI_RCODE_REFUSED;
		w->resp.plugin = "";
		w->resp.raw = true;
		return pack(w, out, cap, outlen);
	}
	if (st == HFI_Q_BADVERS)
		return reject(w, HFI_RCODE_BADVERS, out, cap, outlen);

	/* break-glass overrides win over every plugin */
	if (atomic_load_explicit(&e->overrides, memory_order_relaxed) != NULL) {
		const hfi_cfg_forward_t *f = NULL;
		w->st_slot = hfi_stats_route_slot(e, listener,
						  hfi_engine_route(&e->listeners[listener], q));
		w->st_plugin = "breakglass";
		int ov = hfi_ovr_answer(w, &f);
		if (ov == HFI_OVR_ANSWER)
			return pack(w, out, cap, outlen);
		if (ov == HFI_OVR_FORWARD) {
			w->fwd = f;
			return HF_FORWARD;
		}
	}

	const hfi_route_t *r = hfi_engine_route(&e->listeners[listener], q);
	w->st_slot = hfi_stats_dropped_slot(e, listener);
	if (r == NULL)
		return bare(w, HFI_RCODE_REFUSED, out, cap, outlen);
	const hfi_block_t *b = &e->cfg->blocks[r->block];
	if (b->nplugins == 0)
		return bare(w, HFI_RCODE_REFUSED, out, cap, outlen);
	w->st_slot = hfi_stats_route_slot(e, listener, r); /* -1 without prometheus */
	w->pw.block = (int)r->block; /* log, loadbalance, errors (plugins.h) */

	for (size_t i = 0; i < b->nplugins; i++) {
		const char *name = b->plugins[i].name;
		if (strcmp(name, "cache") == 0) {
			int cv = hfi_cache_plugin(w, r->block); /* cache_answer.c */
			if (cv == HFI_CACHE_NEXT)
				continue;
			int v = pack(w, out, cap, outlen);
			if (cv == HFI_CACHE_HIT || v != HF_ANSWER)
				return v;
			hfi_cache_refresh_begin(w, *outlen); /* the rest runs as a refresh */
		} else if (strcmp(name, "kubernetes") == 0) {
			const hfi_k8s_index_t *ix = atomic_load(&e->k8s[r->block].index);
			if (ix == NULL || !hfi_k8s_handles(ix, q))
				continue;
			hfi_resp_reset(&w->resp);
			int state = atomic_load(&e->k8s[r->block].state);
			if (state == HFI_EXPIRED) {
				/* past serve_stale MAX: the data may not be served */
				w->resp.rcode = HFI_RCODE_SERVFAIL;
				w->resp.plugin = "kubernetes";
				return pack(w, out, cap, outlen);
			}
			int res = hfi_k8s_answer(ix, q, state != HFI_SYNCING, &w->resp);
			if (state == HFI_STALE && q->has_edns) {
				w->resp.has_ede = true; /* RFC 8914 code 3: Stale Answer */
				w->resp.ede_code = 3;
			}
			if (res == HFI_K8S_NEXT)
				continue;
			/* an out-of-zone CNAME target goes through the forward
			 * plugin that serves it; without one the CNAME is alone */
			const hfi_cfg_forward_t *f = NULL;
			if (res == HFI_K8S_RESOLVE && hfi_chase_prepare(w, &f)) {
				w->fwd = f;
				w->st_plugin = "kubernetes";
				return HF_FORWARD;
			}
			return pack(w, out, cap, outlen);
		} else if (strcmp(name, "forward") == 0) {
			const hfi_cfg_forward_t *f = hfi_engine_forward_for(b, q);
			if (f == NULL || f->to.n == 0)
				continue;
			w->fwd = f;
			w->fwd_seed = w->fwd_seed * 1103515245u + 12345u;
			hfi_stats_bump(&w->stats->forwards);
			w->st_plugin = "forward";
			int cr = hfi_cache_on_forward(w, outlen); /* a cache refresh */
			if (cr >= 0)
				return cr;
			return HF_FORWARD;
		} else if (strcmp(name, "hosts") == 0) { /* plugin_hosts.c */
			int hv = hfi_hosts_answer(w, r->block, &w->resp);
			if (hv == HFI_PLUG_NEXT)
				continue;
			if (hv == HFI_PLUG_SERVFAIL) /* returned, not written: the server writes it */
				return bare(w, HFI_RCODE_SERVFAIL, out, cap, outlen);
			return pack(w, out, cap, outlen);
		} else if (strcmp(name, "any") == 0) { /* plugin_any.c */
			if (hfi_any_answer(q, &w->resp))
				return pack(w, out, cap, outlen);
		} else if (strcmp(name, "loop") == 0) { /* plugin_loop.c: may exit(1) */
			hfi_loop_check(w, r->block, client);
		} else if (strcmp(name, "whoami") == 0) {
			hfi_resp_reset(&w->resp);
			hfi_whoami_answer(q, client, &w->resp);
			return pack(w, out, cap, outlen);
		}
	}
	/* plugin.NextOrFailure at the end of the chain: SERVFAIL. */
	hfi_errors_chain_end(w, b); /* "plugin/NAME: no next plugin found" (plugin_errors.c) */
	return bare(w, HFI_RCODE_SERVFAIL, out, cap, outlen);
}
