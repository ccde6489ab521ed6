/*
 * cache_msg.c: replies as the cache stores them (the blob form described in
 * cache.h): a strict parser for upstream replies (all or nothing: one bad
 * record and nothing is cached), the same from an engine-built hfi_resp_t,
 * the way back to an hfi_resp_t, and response.Typify + the lifetime rule.
 */
#include <string.h>

#include "cache.h"
#include "dname.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)rd16(p) << 16) | rd16(p + 2);
}

typedef struct bw {
	uint8_t *p;
	size_t len, cap;
	bool err;
} bw_t;

static void put(bw_t *b, const void *d, size_t n)
{
	if (b->err || b->len + n > b->cap) {
		b->err = true;
		return;
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put8(bw_t *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put16(bw_t *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 2);
}

static void put_name(bw_t *b, const uint8_t *n, size_t len)
{
	put8(b, (uint8_t)len);
	put(b, n, len);
}

/* Types whose names the packer handles itself (hfi_rr_t name1/name2). */
static bool packer_type(uint16_t t)
{
	return t == HFI_T_CNAME || t == HFI_T_NS || t == HFI_T_PTR || t == HFI_T_MX ||
	       t == HFI_T_SRV || t == HFI_T_SOA;
}

/* One record of msg at *off into the blob.  0 or -1. */
static int parse_rr(const uint8_t *msg, size_t len, size_t *off, int sec, bw_t *b,
		    hfi_cmsg_t *m, const hfi_query_t *q, int64_t unix_now)
{
	uint8_t owner[HFI_DNAME_MAX + 1], n1[HFI_DNAME_MAX + 1], n2[HFI_DNAME_MAX + 1];
	uint8_t raw[1024];
	size_t olen = 0, l1 = 0, l2 = 0, rl = 0;
	if (hfi_wire_get_name(msg, len, off, owner, &olen) != 0 || *off + 10 > len)
		return -1;
	const uint8_t *h = msg + *off;
	uint16_t type = rd16(h), rclass = rd16(h + 2), rdlen = rd16(h + 8);
	uint32_t ttl = rd32(h + 4);
	size_t p = *off + 10, end = p + rdlen;
	if (end > len)
		return -1;
	*off = end;
	if (type == HFI_T_OPT) {
		if (sec != HFI_SEC_ADDITIONAL)
			return -1;
		return 0; /* the packer writes the client's OPT */
	}
	const uint8_t *rdata = NULL;
	if (packer_type(type)) {
		size_t fixed = type == HFI_T_MX ? 2 : type == HFI_T_SRV ? 6 : 0, x = p + fixed;
		if (x > end || hfi_wire_get_name(msg, end, &x, n1, &l1) != 0)
			return -1;
		if (type == HFI_T_SOA) {
			if (hfi_wire_get_name(msg, end, &x, n2, &l2) != 0 || x + 20 != end)
				return -1;
			rdata = msg + x;
			rl = 20;
		} else {
			if (x != end)
				return -1;
			rdata = msg + p;
			rl = fixed;
		}
	} else {
		const char *lay = hfi_wire_rdata_layout(type);
		if (lay != NULL && strchr(lay, 'N') != NULL && p < end) {
			size_t x = p;
			for (const char *f = lay; *f != '\0' && x < end; f++) {
				if (*f == 'N') {
					uint8_t nm[HFI_DNAME_MAX + 1];
					size_t nl = 0;
					if (hfi_wire_get_name(msg, end, &x, nm, &nl) != 0 ||
					    rl + nl > sizeof(raw))
						return -1;
					memcpy(raw + rl, nm, nl);
					rl += nl;
					continue;
				}
				size_t fl = *f == '2' ? 2 : (*f == '4' || *f == 'A') ? 4 : *f == '6' ? 16 : end - x;
				if (x + fl > end || rl + fl > sizeof(raw))
					return -1;
				memcpy(raw + rl, msg + x, fl);
				rl += fl;
				x += fl;
			}
			if (x != end)
				return -1;
			rdata = raw;
		} else {
			rdata = msg + p;
			rl = rdlen;
		}
		if (type == 46 /* RRSIG */ && rdlen >= 18) {
			/* RFC 4034 3.1.5: serial-number arithmetic on 32-bit times */
			uint32_t exp = rd32(msg + p + 8), inc = rd32(msg + p + 12);
			uint32_t now = (uint32_t)unix_now;
			if ((int32_t)(now - exp) > 0 || (int32_t)(inc - now) > 0)
				m->expired_sig = true;
		}
	}
	if (ttl < m->minttl)
		m->minttl = ttl;
	if (sec == HFI_SEC_AUTHORITY && type == HFI_T_SOA)
		m->soa_auth = true;
	if (sec == HFI_SEC_AUTHORITY && type == HFI_T_NS)
		m->ns_auth++;
	if (sec == HFI_SEC_ANSWER && q != NULL && q->qname != NULL) {
		uint8_t lo[HFI_DNAME_MAX + 1];
		hfi_dname_lower(lo, owner);
		if (hfi_dname_eq(lo, q->lname) &&
		    (type == q->qtype || type == HFI_T_CNAME || q->qtype == HFI_T_ANY))
			m->answers_q = true;
	}
	put8(b, (uint8_t)sec);
	put16(b, type);
	put16(b, rclass);
	put_name(b, owner, olen);
	put_name(b, n1, l1);
	put_name(b, n2, l2);
	put16(b, (uint16_t)rl);
	put(b, rdata, rl);
	if (b->err)
		return -2;
	m->nrr++;
	m->count[sec]++;
	return 0;
}

static void cmsg_init(hfi_cmsg_t *m)
{
	memset(m, 0, sizeof(*m));
	m->minttl = UINT32_MAX;
}

int hfi_cmsg_parse(const uint8_t *msg, size_t len, const hfi_query_t *q, int64_t unix_now,
		   hfi_cmsg_t *m, uint8_t *blob, size_t cap)
{
	cmsg_init(m);
	if (msg == NULL || len < 12 || q == NULL || q->qname == NULL)
		return HFI_CMSG_MALFORMED;
	uint16_t flags = rd16(msg + 2);
	uint16_t qd = rd16(msg + 4), cnt[3] = {rd16(msg + 6), rd16(msg + 8), rd16(msg + 10)};
	size_t off = 12;
	bool match = (flags & 0x8000u) && ((flags >> 11) & 0xF) == 0 && qd == 1;
	for (unsigned i = 0; i < qd; i++) {
		uint8_t name[HFI_DNAME_MAX + 1], lo[HFI_DNAME_MAX + 1];
		if (hfi_wire_get_name(msg, len, &off, name, NULL) != 0 || off + 4 > len)
			return HFI_CMSG_MALFORMED;
		hfi_dname_lower(lo, name);
		if (!hfi_dname_eq(lo, q->lname) || rd16(msg + off) != q->qtype ||
		    rd16(msg + off + 2) != q->qclass)
			match = false;
		off += 4;
	}
	m->rcode = flags & 0xF;
	m->aa = (flags & 0x0400u) != 0;
	m->tc = (flags & 0x0200u) != 0;
	m->ra = (flags & 0x0080u) != 0;
	m->ad = (flags & 0x0020u) != 0;
	bw_t b = {blob, 0, cap, false};
	for (int s = 0; s < 3; s++) {
		for (unsigned i = 0; i < cnt[s]; i++) {
			int r = parse_rr(msg, len, &off, s, &b, m, q, unix_now);
			if (r == -2)
				return HFI_CMSG_TOOBIG;
			if (r != 0)
				return HFI_CMSG_MALFORMED;
		}
	}
	if (off != len)
		return HFI_CMSG_MALFORMED; /* bytes after the last record */
	m->len = b.len;
	return match ? HFI_CMSG_OK : HFI_CMSG_MISMATCH;
}

static size_t flat(const hfi_name_t *n, uint8_t *out)
{
	size_t l = (size_t)n->prelen + n->suflen;
	if (n->suflen == 0 || l > HFI_DNAME_MAX + 1)
		return 0;
	if (n->prelen)
		memcpy(out, n->pre, n->prelen);
	memcpy(out + n->prelen, n->suf, n->suflen);
	return l;
}

int hfi_cmsg_from_resp(const hfi_resp_t *r, const hfi_query_t *q, hfi_cmsg_t *m, uint8_t *blob,
		       size_t cap)
{
	cmsg_init(m);
	m->rcode = r->rcode;
	m->aa = r->aa;
	m->tc = r->tc;
	m->ra = r->ra;
	bw_t b = {blob, 0, cap, false};
	/* records in section order, as the packer sends them */
	for (int s = 0; s < 3; s++) {
		for (size_t i = 0; i < r->nrr; i++) {
			const hfi_rr_t *rr = &r->rr[i];
			if (rr->section != s || rr->type == HFI_T_OPT)
				continue;
			uint8_t o[HFI_DNAME_MAX + 1], n1[HFI_DNAME_MAX + 1], n2[HFI_DNAME_MAX + 1];
			size_t ol = flat(&rr->owner, o), l1 = 0, l2 = 0;
			if (ol == 0)
				return HFI_CMSG_MALFORMED;
			if (packer_type(rr->type) && (l1 = flat(&rr->name1, n1)) == 0)
				return HFI_CMSG_MALFORMED;
			if (rr->type == HFI_T_SOA && (l2 = flat(&rr->name2, n2)) == 0)
				return HFI_CMSG_MALFORMED;
			if (rr->ttl < m->minttl)
				m->minttl = rr->ttl;
			if (s == HFI_SEC_AUTHORITY && rr->type == HFI_T_SOA)
				m->soa_auth = true;
			if (s == HFI_SEC_AUTHORITY && rr->type == HFI_T_NS)
				m->ns_auth++;
			if (s == HFI_SEC_ANSWER && q->qname != NULL) {
				uint8_t lo[HFI_DNAME_MAX + 1];
				hfi_dname_lower(lo, o);
				if (hfi_dname_eq(lo, q->lname) &&
				    (rr->type == q->qtype || rr->type == HFI_T_CNAME ||
				     q->qtype == HFI_T_ANY))
					m->answers_q = true;
			}
			put8(&b, (uint8_t)s);
			put16(&b, rr->type);
			put16(&b, rr->rclass ? rr->rclass : HFI_C_IN);
			put_name(&b, o, ol);
			put_name(&b, n1, l1);
			put_name(&b, n2, l2);
			put16(&b, rr->rdlen);
			put(&b, rr->rdata, rr->rdlen);
			if (b.err)
				return HFI_CMSG_TOOBIG;
			m->nrr++;
			m->count[s]++;
		}
	}
	m->len = b.len;
	return HFI_CMSG_OK;
}

int hfi_cmsg_to_resp(const uint8_t *blob, size_t len, uint32_t ttl, hfi_resp_t *r)
{
	hfi_resp_reset(r);
	if (len > sizeof(r->scratch))
		return HF_EMALF;
	const uint8_t *s = hfi_resp_keep(r, blob, len);
	if (len > 0 && s == NULL)
		return HF_EMALF;
	size_t o = 0;
	while (o < len) {
		if (o + 6 > len)
			return HF_EMALF;
		uint8_t sec = s[o];
		uint16_t type = rd16(s + o + 1), rclass = rd16(s + o + 3);
		o += 5;
		const uint8_t *nm[3];
		size_t nl[3];
		for (int k = 0; k < 3; k++) {
			if (o + 1 > len)
				return HF_EMALF;
			nl[k] = s[o++];
			nm[k] = s + o;
			if (o + nl[k] > len || (nl[k] > 0 && hfi_dname_len(nm[k]) != nl[k]))
				return HF_EMALF;
			o += nl[k];
		}
		if (o + 2 > len)
			return HF_EMALF;
		uint16_t rl = rd16(s + o);
		o += 2;
		if (o + rl > len || sec > HFI_SEC_ADDITIONAL || nl[0] == 0)
			return HF_EMALF;
		if (packer_type(type) && (nl[1] == 0 || (type == HFI_T_SOA && (nl[2] == 0 || rl != 20))))
			return HF_EMALF;
		hfi_rr_t *rr = hfi_resp_add(r, (enum hfi_section)sec, type, ttl);
		if (rr == NULL)
			return HF_EMALF;
		rr->rclass = rclass;
		rr->owner = hfi_name_wire(nm[0]);
		if (nl[1])
			rr->name1 = hfi_name_wire(nm[1]);
		if (nl[2])
			rr->name2 = hfi_name_wire(nm[2]);
		rr->rdata = rl ? s + o : NULL;
		rr->rdlen = rl;
		o += rl;
	}
	return HF_EOK;
}

int hfi_cache_typify(const hfi_cmsg_t *m, uint16_t qtype, bool do_bit)
{
	if (qtype == HFI_T_AXFR || qtype == HFI_T_IXFR)
		return HFI_CT_META;
	if (do_bit && m->expired_sig)
		return HFI_CT_OTHER;
	if (m->count[0] > 0 && m->rcode == HFI_RCODE_NOERROR) {
		/* answers that do not answer the question and no SOA (1.14.7) */
		if (!m->answers_q && !m->soa_auth)
			return HFI_CT_OTHER;
		return HFI_CT_NOERROR;
	}
	if (m->soa_auth && m->rcode == HFI_RCODE_NOERROR)
		return HFI_CT_NODATA;
	if (m->soa_auth && m->rcode == HFI_RCODE_NXDOMAIN)
		return m->count[0] > 0 ? HFI_CT_OTHER : HFI_CT_NXDOMAIN;
	if (m->rcode == HFI_RCODE_SERVFAIL || m->rcode == HFI_RCODE_NOTIMP)
		return HFI_CT_SERVFAIL;
	if (m->ns_auth > 0 && m->rcode == HFI_RCODE_NOERROR)
		return HFI_CT_DELEGATION;
	if (m->rcode == HFI_RCODE_NOERROR)
		return HFI_CT_NOERROR;
	return HFI_CT_OTHER;
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	if (v < lo)
		v = lo;
	if (v > hi)
		v = hi;
	return v;
}

uint32_t hfi_cache_duration(const hfi_cfg_cache_t *cfg, int t, const hfi_cmsg_t *m)
{
	/* dnsutil.MinimalTTL: only NOERROR/NXDOMAIN/NODATA look at the records */
	uint32_t msg = HFI_CACHE_MIN_TTL_DEFAULT;
	if ((t == HFI_CT_NOERROR || t == HFI_CT_NXDOMAIN || t == HFI_CT_NODATA) &&
	    m->count[0] + m->count[1] > 0) {
		msg = HFI_CACHE_MAX_TTL_DEFAULT;
		if (m->minttl < msg)
			msg = m->minttl;
	}
	switch (t) {
	case HFI_CT_NXDOMAIN:
	case HFI_CT_NODATA:
		return clamp(msg, cfg->denial_minttl, cfg->denial_ttl);
	case HFI_CT_SERVFAIL:
		return cfg->servfail_ttl_s;
	default:
		return clamp(msg, cfg->success_minttl, cfg->success_ttl);
	}
}
