/*
 * admin_lookup.c: `lookup NAME [TYPE]` and `dump [ZONE]` (break-glass,
 * issue 7), and the wire-to-text printer both use.
 *
 * lookup builds a query (RD, EDNS 1232) and runs the real answer path,
 * hf_answer() with the admin's own worker, on the first listener that has
 * a zone for the name; it prints the reply in zone-file format and why it
 * is what it is (override, kubernetes with its serve-stale state, forward,
 * whoami, refused, servfail, dropped).  It never contacts an upstream: a
 * forwarded name is reported with the upstreams it would go to.
 *
 * dump walks the services of every kubernetes instance (reading each under
 * the sync lock, one at a time) and asks the published index - what the
 * workers answer from - for A, AAAA and SRV of each service (CNAME of an
 * ExternalName), A/AAAA of every SRV target below the zone (the endpoints
 * of headless services) and PTR of every address when a reverse zone is
 * served.  A reply that does not fit ends with "OK more: dump ... from N";
 * holdfast-ctl sends that command next.  Pod records (IP.ns.pod) and
 * names that exist only in a frozen index are not listed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_int.h"

/* ---- types and names ---------------------------------------------------------- */

static const struct {
	const char *name;
	uint16_t type;
} types[] = {
	{"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"HINFO", 13}, {"MX", 15},
	{"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"NAPTR", 35}, {"DNAME", 39}, {"OPT", 41}, {"DS", 43},
	{"RRSIG", 46}, {"NSEC", 47}, {"DNSKEY", 48}, {"HTTPS", 65}, {"SVCB", 64}, {"IXFR", 251},
	{"AXFR", 252}, {"ANY", 255}, {"CAA", 257},
};

uint16_t hfi_admin_type(const char *s)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(s, types[i].name) == 0)
			return types[i].type;
	if (strncasecmp(s, "TYPE", 4) == 0 && s[4] >= '0' && s[4] <= '9' && strlen(s) <= 9) {
		unsigned long v = strtoul(s + 4, NULL, 10);
		const char *p = s + 4;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '\0' && v > 0 && v <= 65535)
			return (uint16_t)v;
	}
	return 0;
}

const char *hfi_admin_type_name(uint16_t type, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (types[i].type == type) {
			snprintf(buf, len, "%s", types[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}

void hfi_admin_name_text(const uint8_t *wire, bool keep_case, char *buf, size_t len)
{
	size_t o = 0, i = 0;
	if (len < 8) {
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	if (wire[0] == 0) {
		snprintf(buf, len, ".");
		return;
	}
	while (i < HFI_DNAME_MAX && wire[i] != 0 && o + 6 < len) {
		uint8_t l = wire[i++];
		for (uint8_t j = 0; j < l && o + 6 < len; j++) {
			uint8_t ch = wire[i++];
			if (!keep_case)
				ch = (uint8_t)tolower(ch);
			if (isalnum(ch) || ch == '-' || ch == '_' || ch == '*')
				buf[o++] = (char)ch;
			else
				o += (size_t)snprintf(buf + o, len - o, "\\%03u", ch);
		}
		buf[o++] = '.';
	}
	buf[o] = '\0';
}

/* ---- printing a message ---------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void hfi_admin_txt_text(const uint8_t *p, size_t len, char *buf, size_t cap)
{
	size_t o = 0, i = 0;
	buf[0] = '\0';
	while (i < len && o + 8 < cap) {
		size_t l = p[i++];
		if (o > 0)
			buf[o++] = ' ';
		buf[o++] = '"';
		for (size_t j = 0; j < l && i < len && o + 6 < cap; j++, i++) {
			uint8_t ch = p[i];
			if (ch == '"' || ch == '\\') {
				buf[o++] = '\\';
				buf[o++] = (char)ch;
			} else if (ch < 0x20 || ch >= 0x7f) {
				o += (size_t)snprintf(buf + o, cap - o, "\\%03u", ch);
			} else {
				buf[o++] = (char)ch;
			}
		}
		buf[o++] = '"';
		buf[o] = '\0';
	}
}

/* RDATA of one record in presentation format. */
static void rdata_text(const uint8_t *msg, size_t len, size_t off, uint16_t type, uint16_t rdlen,
		       char *buf, size_t cap)
{
	const uint8_t *p = msg + off;
	uint8_t name[HFI_DNAME_MAX + 1], name2[HFI_DNAME_MAX + 1];
	char t1[1100], t2[1100];
	size_t q = off, end = off + rdlen;
	buf[0] = '\0';
	switch (type) {
	case HFI_T_A:
		if (rdlen == 4)
			inet_ntop(AF_INET, p, buf, (socklen_t)cap);
		return;
	case HFI_T_AAAA:
		if (rdlen == 16)
			inet_ntop(AF_INET6, p, buf, (socklen_t)cap);
		return;
	case HFI_T_CNAME:
	case HFI_T_PTR:
	case HFI_T_NS:
		if (hfi_wire_get_name(msg, end, &q, name, NULL) == 0) {
			hfi_admin_name_text(name, false, t1, sizeof(t1));
			snprintf(buf, cap, "%s", t1);
		}
		return;
	case HFI_T_MX:
		q += 2;
		if (rdlen >= 3 && hfi_wire_get_name(msg, end, &q, name, NULL) == 0) {
			hfi_admin_name_text(name, false, t1, sizeof(t1));
			snprintf(buf, cap, "%u %s", rd16(p), t1);
		}
		return;
	case HFI_T_SRV:
		q += 6;
		if (rdlen >= 7 && hfi_wire_get_name(msg, end, &q, name, NULL) == 0) {
			hfi_admin_name_text(name, false, t1, sizeof(t1));
			snprintf(buf, cap, "%u %u %u %s", rd16(p), rd16(p + 2), rd16(p + 4), t1);
		}
		return;
	case HFI_T_SOA:
		if (hfi_wire_get_name(msg, end, &q, name, NULL) == 0 &&
		    hfi_wire_get_name(msg, end, &q, name2, NULL) == 0 && q + 20 == end) {
			hfi_admin_name_text(name, false, t1, sizeof(t1));
			hfi_admin_name_text(name2, false, t2, sizeof(t2));
			const uint8_t *n = msg + q;
			snprintf(buf, cap, "%s %s %u %u %u %u %u", t1, t2,
				 (unsigned)((uint32_t)rd16(n) << 16 | rd16(n + 2)),
				 (unsigned)((uint32_t)rd16(n + 4) << 16 | rd16(n + 6)),
				 (unsigned)((uint32_t)rd16(n + 8) << 16 | rd16(n + 10)),
				 (unsigned)((uint32_t)rd16(n + 12) << 16 | rd16(n + 14)),
				 (unsigned)((uint32_t)rd16(n + 16) << 16 | rd16(n + 18)));
		}
		return;
	case HFI_T_TXT:
		hfi_admin_txt_text(p, rdlen, buf, cap);
		return;
	default: {
		/* RFC 3597 */
		size_t o = (size_t)snprintf(buf, cap, "\\# %u ", rdlen);
		for (size_t i = 0; i < rdlen && o + 3 < cap; i++)
			o += (size_t)snprintf(buf + o, cap - o, "%02x", p[i]);
		(void)len;
		return;
	}
	}
}

typedef struct rr_view {
	uint8_t owner[HFI_DNAME_MAX + 1];
	uint16_t type, rclass, rdlen;
	uint32_t ttl;
	size_t rdoff;
} rr_view_t;

/* Walk msg: calls fn for every record of the three sections; sec 0..2. */
typedef bool (*rr_fn)(void *ctx, int sec, const uint8_t *msg, size_t len, const rr_view_t *rr);

static int walk(const uint8_t *msg, size_t len, rr_fn fn, void *ctx)
{
	if (len < 12)
		return -1;
	size_t off = 12;
	for (unsigned i = 0; i < rd16(msg + 4); i++) {
		uint8_t name[HFI_DNAME_MAX + 1];
		if (hfi_wire_get_name(msg, len, &off, name, NULL) != 0 || off + 4 > len)
			return -1;
		off += 4;
	}
	unsigned counts[3] = {rd16(msg + 6), rd16(msg + 8), rd16(msg + 10)};
	for (int sec = 0; sec < 3; sec++) {
		for (unsigned i = 0; i < counts[sec]; i++) {
			rr_view_t rr;
			if (hfi_wire_get_name(msg, len, &off, rr.owner, NULL) != 0 || off + 10 > len)
				return -1;
			rr.type = rd16(msg + off);
			rr.rclass = rd16(msg + off + 2);
			rr.ttl = (uint32_t)rd16(msg + off + 4) << 16 | rd16(msg + off + 6);
			rr.rdlen = rd16(msg + off + 8);
			rr.rdoff = off + 10;
			off = rr.rdoff + rr.rdlen;
			if (off > len)
				return -1;
			if (!fn(ctx, sec, msg, len, &rr))
				return 0;
		}
	}
	return 0;
}

static void rr_line(hfi_out_t *o, const uint8_t *msg, size_t len, const rr_view_t *rr)
{
	char owner[1100], tn[16], rd[4200], cls[16];
	hfi_admin_name_text(rr->owner, false, owner, sizeof(owner));
	hfi_admin_type_name(rr->type, tn, sizeof(tn));
	rdata_text(msg, len, rr->rdoff, rr->type, rr->rdlen, rd, sizeof(rd));
	if (rr->rclass == HFI_C_IN)
		snprintf(cls, sizeof(cls), "IN");
	else if (rr->rclass == HFI_C_CH)
		snprintf(cls, sizeof(cls), "CH");
	else
		snprintf(cls, sizeof(cls), "CLASS%u", rr->rclass);
	hfi_out_printf(o, "%s\t%u\t%s\t%s\t%s\n", owner, rr->ttl, cls, tn, rd);
}

typedef struct print_ctx {
	hfi_out_t *o;
	int sec;
} print_ctx_t;

static bool print_rr(void *ctx, int sec, const uint8_t *msg, size_t len, const rr_view_t *rr)
{
	print_ctx_t *p = ctx;
	static const char *names[3] = {"ANSWER", "AUTHORITY", "ADDITIONAL"};
	while (p->sec < sec)
		hfi_out_printf(p->o, ";; %s\n", names[++p->sec]);
	if (rr->type == HFI_T_OPT) {
		hfi_out_printf(p->o, "; EDNS: udp %u", rr->rclass);
		/* options: EDE (15) is worth showing */
		size_t q = rr->rdoff, end = rr->rdoff + rr->rdlen;
		while (q + 4 <= end) {
			uint16_t code = rd16(msg + q), ol = rd16(msg + q + 2);
			if (q + 4 + ol > end)
				break;
			if (code == 15 && ol >= 2)
				hfi_out_printf(p->o, " ede %u", rd16(msg + q + 4));
			q += 4 + (size_t)ol;
		}
		hfi_out_printf(p->o, "\n");
		return true;
	}
	rr_line(p->o, msg, len, rr);
	return true;
}

static const char *rcode_name(unsigned rc)
{
	static const char *n[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
	return rc < 6 ? n[rc] : "OTHER";
}

static void print_msg(hfi_out_t *o, const uint8_t *msg, size_t len)
{
	unsigned rc = msg[3] & 0x0F;
	hfi_out_printf(o, ";; rcode %s flags%s%s%s%s%s\n", rcode_name(rc), msg[2] & 0x80 ? " qr" : "",
		       msg[2] & 0x04 ? " aa" : "", msg[2] & 0x02 ? " tc" : "", msg[2] & 0x01 ? " rd" : "",
		       msg[3] & 0x80 ? " ra" : "");
	hfi_out_printf(o, ";; ANSWER\n");
	print_ctx_t p = {o, 0};
	if (walk(msg, len, print_rr, &p) != 0)
		hfi_out_printf(o, "; (the reply could not be parsed)\n");
	while (p.sec < 2)
		hfi_out_printf(o, ";; %s\n", ++p.sec == 1 ? "AUTHORITY" : "ADDITIONAL");
}

/* ---- queries ----------------------------------------------------------------------- */

/* A query for wire name (any case) / type into buf; its length or 0. */
static size_t build_query(uint8_t *buf, size_t cap, const uint8_t *name, uint16_t type, bool edns)
{
	size_t nl = hfi_dname_len(name);
	if (12 + nl + 4 + 11 > cap)
		return 0;
	static const uint8_t hdr[12] = {0x1d, 0x0f, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(buf, hdr, 12);
	buf[11] = edns ? 1 : 0;
	memcpy(buf + 12, name, nl);
	size_t o = 12 + nl;
	buf[o++] = (uint8_t)(type >> 8);
	buf[o++] = (uint8_t)type;
	buf[o++] = 0;
	buf[o++] = HFI_C_IN;
	if (edns) {
		static const uint8_t opt[11] = {0, 0, HFI_T_OPT, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
		memcpy(buf + o, opt, sizeof(opt));
		o += sizeof(opt);
	}
	return o;
}

/* The listener that has a zone for name (the first), else 0. */
static int pick_listener(hf_engine_t *e, const uint8_t *lname, uint16_t type, hfi_query_t *tq)
{
	memset(tq, 0, sizeof(*tq));
	hfi_dname_lower(tq->lname, lname);
	tq->nlabels = (uint8_t)hfi_dname_labels(tq->lname);
	tq->qtype = type;
	for (size_t i = 0; i < e->nlisteners; i++)
		if (hfi_engine_route(&e->listeners[i], tq) != NULL)
			return (int)i;
	return 0;
}

static const char *inst_state(hf_engine_t *e, size_t block)
{
	if (e->k8s == NULL || block >= e->cfg->nblocks || e->k8s[block].store == NULL)
		return "?";
	return hfi_sync_state_name((enum hfi_sync_state)atomic_load(&e->k8s[block].state));
}

int hfi_admin_lookup(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	if (c->n != 2 && c->n != 3)
		return hfi_out_err(o, HF_EINVAL, "usage: lookup NAME [TYPE]");
	uint8_t name[HFI_DNAME_MAX + 1];
	if (hfi_dname_from_str(c->t[1].s, name, sizeof(name)) < 0)
		return hfi_out_err(o, HF_EINVAL, "invalid name '%s'", c->t[1].s);
	uint16_t type = HFI_T_A;
	if (c->n == 3 && (type = hfi_admin_type(c->t[2].s)) == 0)
		return hfi_out_err(o, HF_EINVAL, "unknown type '%s'", c->t[2].s);
	if (e->nlisteners == 0)
		return hfi_out_err(o, HF_ENOENT, "no DNS listener configured");
	hfi_query_t *tq = &a->w->ovr_route; /* scratch: hf_answer resets it */
	int li = pick_listener(e, name, type, tq);
	const hfi_route_t *route = hfi_engine_route(&e->listeners[li], tq);
	size_t qlen = build_query(a->qbuf, HFI_ADMIN_MSG, name, type, true);
	size_t rlen = 0;
	char nm[1100], tn[16];
	hfi_admin_name_text(name, true, nm, sizeof(nm));
	hfi_admin_type_name(type, tn, sizeof(tn));
	hfi_out_printf(o, ";; lookup %s %s on listener %s\n", nm, tn, e->listeners[li].server);
	int v = hf_answer(a->w, li, a->qbuf, qlen, NULL, HF_TCP, a->msg, HFI_ADMIN_MSG, &rlen);
	hf_worker_t *w = a->w;
	if (v < 0)
		return hfi_out_err(o, v, "answer path failed: %s", hf_strerror(v));
	if (v == HF_DROP) {
		hfi_out_printf(o, ";; why: dropped: the query gets no reply\n");
		return hfi_out_ok(o, "dropped");
	}
	if (v == HF_FORWARD) {
		const hfi_cfg_forward_t *f = w->fwd;
		if (w->chase) {
			/* the CNAME part is ours; show it as the client would get it */
			int n = hfi_msg_pack(&w->q, &w->resp, a->msg, HFI_ADMIN_MSG, 65535);
			if (n > 0)
				print_msg(o, a->msg, (size_t)n);
			hfi_out_printf(o, ";; why: %s CNAME; the target goes to forward\n",
				       strncmp(w->resp.plugin, "breakglass", 10) == 0 ? "override" : "kubernetes");
		} else {
			hfi_out_printf(o, ";; why: not cluster data; forward (not sent by lookup)\n");
		}
		hfi_out_printf(o, ";; upstreams");
		for (size_t i = 0; f != NULL && i < f->to.n; i++)
			hfi_out_printf(o, " %s", f->to.v[i]);
		hfi_out_printf(o, "\n");
		return hfi_out_ok(o, "forward");
	}
	print_msg(o, a->msg, rlen);
	const char *plugin = w->resp.plugin ? w->resp.plugin : "";
	unsigned rc = rlen >= 4 ? (a->msg[3] & 0x0F) : 0;
	const char *word;
	if (strcmp(plugin, "breakglass") == 0) {
		hfi_out_printf(o, ";; why: override (operator `set`; wins over every plugin)\n");
		word = "override";
	} else if (strcmp(plugin, "breakglass+kubernetes") == 0) {
		const hfi_route_t *tr = hfi_engine_route(&e->listeners[li], &w->ovr_route);
		hfi_out_printf(o, ";; why: override CNAME, its target answered from kubernetes (%s)\n",
			       tr ? inst_state(e, tr->block) : "?");
		word = "override";
	} else if (strcmp(plugin, "kubernetes") == 0) {
		size_t blk = route ? route->block : 0;
		hfi_out_printf(o, ";; why: kubernetes, serve-stale state %s%s\n", inst_state(e, blk),
			       w->ovr_name ? " (the name has overrides of other types: never NXDOMAIN)" : "");
		word = "kubernetes";
	} else if (strcmp(plugin, "whoami") == 0) {
		hfi_out_printf(o, ";; why: whoami plugin\n");
		word = "whoami";
	} else if (rc == HFI_RCODE_REFUSED) {
		hfi_out_printf(o, ";; why: refused: no server block on this listener serves the name\n");
		word = "refused";
	} else {
		hfi_out_printf(o, ";; why: %s written by the server (no plugin answered)\n", rcode_name(rc));
		word = rc == HFI_RCODE_SERVFAIL ? "servfail" : "server";
	}
	return hfi_out_ok(o, "%s", word);
}

/* ---- dump ----------------------------------------------------------------------- */

typedef struct dump_ctx {
	hfi_out_t *o;
	const uint8_t *want_owner;  /* print answers owned by this name only */
	const uint8_t *zone;        /* filter (lower-case wire) or NULL */
	uint16_t want_type;         /* 0 = any */
	/* collected for follow-ups */
	uint8_t ips[64][17];        /* family byte + address */
	size_t nips;
	size_t srv_off[256];        /* SRV targets (offsets of their names in msg) */
	size_t nsrv;
} dump_ctx_t;

static bool dump_rr(void *ctx, int sec, const uint8_t *msg, size_t len, const rr_view_t *rr)
{
	dump_ctx_t *d = ctx;
	if (sec != 0)
		return false;
	if (!hfi_dname_eq(rr->owner, d->want_owner) || (d->want_type && rr->type != d->want_type))
		return true;
	uint8_t lo[HFI_DNAME_MAX + 1];
	hfi_dname_lower(lo, rr->owner);
	if (d->zone == NULL || hfi_dname_in_zone(lo, d->zone))
		rr_line(d->o, msg, len, rr);
	if ((rr->type == HFI_T_A && rr->rdlen == 4) || (rr->type == HFI_T_AAAA && rr->rdlen == 16)) {
		if (d->nips < 64) {
			d->ips[d->nips][0] = rr->type == HFI_T_A ? 4 : 6;
			memcpy(d->ips[d->nips] + 1, msg + rr->rdoff, rr->rdlen);
			d->nips++;
		}
	} else if (rr->type == HFI_T_SRV && rr->rdlen > 6 && d->nsrv < 256) {
		d->srv_off[d->nsrv++] = rr->rdoff + 6;
	}
	return true;
}

/* Ask instance bi's published index for name/type; packed into buf.  Length or 0. */
static size_t ask(hf_engine_t *e, hfi_admin_t *a, size_t bi, const uint8_t *name, uint16_t type,
		  uint8_t *buf)
{
	hf_worker_t *w = a->w;
	size_t qlen = build_query(a->qbuf, HFI_ADMIN_MSG, name, type, false);
	if (qlen == 0 || hfi_query_parse(&w->q, a->qbuf, qlen, true) != HFI_Q_OK || w->q.qname == NULL)
		return 0;
	hfi_k8s_inst_t *inst = &e->k8s[bi];
	atomic_store(&w->active, atomic_load(&e->epoch));
	const hfi_k8s_index_t *ix = atomic_load(&inst->index);
	int n = 0;
	if (ix != NULL && hfi_k8s_handles(ix, &w->q)) {
		int st = atomic_load(&inst->state);
		int r = hfi_k8s_answer(ix, &w->q, st != HFI_SYNCING, &w->resp);
		if (r != HFI_K8S_NEXT)
			n = hfi_msg_pack(&w->q, &w->resp, buf, HFI_ADMIN_MSG, 65535);
	}
	atomic_store(&w->active, 0);
	return n > 0 ? (size_t)n : 0;
}

/* One name's answers of the given types (the A/AAAA found go to d->ips). */
static void dump_name(hf_engine_t *e, hfi_admin_t *a, size_t bi, const uint8_t *name,
		      const uint16_t *qtypes, size_t nt, dump_ctx_t *d)
{
	for (size_t i = 0; i < nt; i++) {
		size_t n = ask(e, a, bi, name, qtypes[i], a->msg);
		if (n == 0 || (a->msg[3] & 0x0F) != HFI_RCODE_NOERROR)
			continue;
		d->want_owner = name;
		d->want_type = qtypes[i] == HFI_T_CNAME ? HFI_T_CNAME : 0;
		if (qtypes[i] == HFI_T_A || qtypes[i] == HFI_T_AAAA) {
			/* skip the CNAME of an ExternalName here: listed once, below */
			d->want_type = qtypes[i];
		}
		walk(a->msg, n, dump_rr, d);
	}
}

static void dump_ptrs(hf_engine_t *e, hfi_admin_t *a, dump_ctx_t *d)
{
	for (size_t k = 0; k < d->nips; k++) {
		char text[80];
		size_t o = 0;
		const uint8_t *ip = d->ips[k] + 1;
		if (d->ips[k][0] == 4) {
			o = (size_t)snprintf(text, sizeof(text), "%u.%u.%u.%u.in-addr.arpa.", ip[3], ip[2],
					     ip[1], ip[0]);
		} else {
			for (int i = 15; i >= 0 && o + 5 < sizeof(text); i--)
				o += (size_t)snprintf(text + o, sizeof(text) - o, "%x.%x.", ip[i] & 0xF, ip[i] >> 4);
			snprintf(text + o, sizeof(text) - o, "ip6.arpa.");
		}
		uint8_t rev[HFI_DNAME_MAX + 1];
		if (hfi_dname_from_str(text, rev, sizeof(rev)) < 0)
			continue;
		for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
			if (e->k8s[bi].store == NULL)
				continue;
			size_t n = ask(e, a, bi, rev, HFI_T_PTR, a->msg);
			if (n == 0 || (a->msg[3] & 0x0F) != HFI_RCODE_NOERROR || rd16(a->msg + 6) == 0)
				continue;
			d->want_owner = rev;
			d->want_type = HFI_T_PTR;
			size_t keep = d->nips;
			walk(a->msg, n, dump_rr, d);
			d->nips = keep;
			break;
		}
	}
}

typedef struct svc_names {
	char ns[256], name[256];
	bool external;
} svc_names_t;

static bool svc_at(hfi_k8s_inst_t *inst, size_t i, svc_names_t *out)
{
	bool ok = false;
	if (inst->sync != NULL)
		hfi_sync_lock(inst->sync);
	if (i < hfi_store_count_services(inst->store)) {
		const hfi_service_t *s = hfi_store_service_at(inst->store, i);
		snprintf(out->ns, sizeof(out->ns), "%s", s->ns);
		snprintf(out->name, sizeof(out->name), "%s", s->name);
		out->external = s->external_name != NULL;
		ok = true;
	}
	if (inst->sync != NULL)
		hfi_sync_unlock(inst->sync);
	return ok;
}

static size_t svc_count(hfi_k8s_inst_t *inst)
{
	if (inst->sync != NULL)
		hfi_sync_lock(inst->sync);
	size_t n = hfi_store_count_services(inst->store);
	if (inst->sync != NULL)
		hfi_sync_unlock(inst->sync);
	return n;
}

/* Every record of service i of instance bi. */
static void dump_service(hf_engine_t *e, hfi_admin_t *a, size_t bi, const svc_names_t *sv,
			 dump_ctx_t *d)
{
	const char *zone = hfi_admin_zone(e, bi);
	char text[600];
	snprintf(text, sizeof(text), "%s.%s.svc.%s", sv->name, sv->ns, strcmp(zone, ".") == 0 ? "" : zone);
	uint8_t name[HFI_DNAME_MAX + 1];
	if (hfi_dname_from_str(text, name, sizeof(name)) < 0)
		return;
	d->nips = 0;
	d->nsrv = 0;
	if (sv->external) {
		static const uint16_t t[] = {HFI_T_CNAME};
		dump_name(e, a, bi, name, t, 1, d);
		return;
	}
	static const uint16_t t[] = {HFI_T_A, HFI_T_AAAA, HFI_T_SRV};
	dump_name(e, a, bi, name, t, 3, d);
	/* endpoint names: SRV targets below the zone other than the service */
	if (d->nsrv > 0) {
		size_t n = ask(e, a, bi, name, HFI_T_SRV, a->msg2);
		uint8_t targets[32][HFI_DNAME_MAX + 1];
		size_t nt = 0;
		for (size_t i = 0; i < d->nsrv && nt < 32; i++) {
			size_t off = d->srv_off[i];
			if (n == 0 || hfi_wire_get_name(a->msg2, n, &off, targets[nt], NULL) != 0)
				continue;
			hfi_dname_lower(targets[nt], targets[nt]);
			bool dup = hfi_dname_eq(targets[nt], name);
			for (size_t j = 0; j < nt && !dup; j++)
				dup = hfi_dname_eq(targets[j], targets[nt]);
			if (!dup)
				nt++;
		}
		static const uint16_t at[] = {HFI_T_A, HFI_T_AAAA};
		for (size_t i = 0; i < nt; i++)
			dump_name(e, a, bi, targets[i], at, 2, d);
	}
	dump_ptrs(e, a, d);
}

int hfi_admin_dump(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	size_t from = 0;
	const char *zone_text = NULL;
	size_t i = 1;
	if (i < c->n && strcmp(c->t[i].s, "from") != 0)
		zone_text = c->t[i++].s;
	if (i < c->n) {
		if (strcmp(c->t[i].s, "from") != 0 || i + 2 != c->n)
			return hfi_out_err(o, HF_EINVAL, "usage: dump [ZONE] [from N]");
		char *end = NULL;
		from = strtoul(c->t[i + 1].s, &end, 10);
		if (end == NULL || *end != '\0' || c->t[i + 1].s[0] < '0' || c->t[i + 1].s[0] > '9')
			return hfi_out_err(o, HF_EINVAL, "invalid offset '%s'", c->t[i + 1].s);
	}
	uint8_t zone[HFI_DNAME_MAX + 1];
	if (zone_text != NULL) {
		if (hfi_dname_from_str(zone_text, zone, sizeof(zone)) < 0)
			return hfi_out_err(o, HF_EINVAL, "invalid zone '%s'", zone_text);
		hfi_dname_lower(zone, zone);
	}
	dump_ctx_t ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.o = o;
	ctx.zone = zone_text ? zone : NULL;
	size_t pos = 0, printed = 0;
	bool any = false;
	if (from == 0)
		hfi_out_printf(o, "; holdfast: kubernetes data as served, zone-file format\n");
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++) {
		hfi_k8s_inst_t *inst = &e->k8s[bi];
		if (inst->store == NULL)
			continue;
		any = true;
		size_t n = svc_count(inst);
		if (from <= pos)
			hfi_out_printf(o, "; zone %s state %s services %zu\n", hfi_admin_zone(e, bi),
				       inst_state(e, bi), n);
		for (size_t s = 0; s < n; s++, pos++) {
			if (pos < from)
				continue;
			svc_names_t sv;
			if (!svc_at(inst, s, &sv))
				break;
			size_t mark = o->len;
			dump_service(e, a, bi, &sv, &ctx);
			if (o->full) {
				o->full = false;
				o->len = mark;
				o->buf[mark] = '\0';
				if (printed == 0)
					return hfi_out_err(o, HF_ESPACE, "the records of %s.%s do not fit in the reply",
							   sv.name, sv.ns);
				return hfi_out_ok(o, "more: dump%s%s from %zu", zone_text ? " " : "",
						  zone_text ? zone_text : "", pos);
			}
			printed++;
		}
	}
	if (!any)
		return hfi_out_err(o, HF_ENOENT, "no kubernetes data (no kubernetes plugin)");
	return hfi_out_ok(o, "%zu services", printed);
}
