/*
 * msg.c: the response under construction (hfi_resp_t helpers) and the
 * packer that writes it in wire format exactly as CoreDNS does: miekg/dns
 * Msg.Pack with its compression map, Msg.Truncate, and the request
 * scrubber's OPT echo and "compress UDP replies over 1480/1220" rule.
 */
#include <stdint.h>
#include <string.h>

#include "holdfast.h"
#include "msg.h"

void hfi_resp_reset(hfi_resp_t *r)
{
	r->rcode = HFI_RCODE_NOERROR;
	r->aa = false;
	r->tc = false;
	r->ra = false;
	r->ad = false;
	r->raw = false;
	r->plugin = "";
	r->nrr = 0;
	r->ede_code = 0;
	r->has_ede = false;
	r->scratch_len = 0;
}

hfi_rr_t *hfi_resp_add(hfi_resp_t *r, enum hfi_section sec, uint16_t type, uint32_t ttl)
{
	if (r->nrr >= HFI_RESP_MAX_RR)
		return NULL;
	hfi_rr_t *rr = &r->rr[r->nrr++];
	memset(rr, 0, sizeof(*rr));
	rr->section = (uint8_t)sec;
	rr->type = type;
	rr->rclass = HFI_C_IN;
	rr->ttl = ttl;
	return rr;
}

uint8_t *hfi_resp_keep(hfi_resp_t *r, const void *data, size_t len)
{
	if (len > HFI_RESP_SCRATCH - r->scratch_len)
		return NULL;
	uint8_t *p = r->scratch + r->scratch_len;
	if (len > 0 && data != NULL)
		memcpy(p, data, len);
	r->scratch_len += len;
	return p;
}

hfi_name_t hfi_name_wire(const uint8_t *wire)
{
	hfi_name_t n = { .pre = NULL, .prelen = 0, .suf = wire,
			 .suflen = (uint16_t)hfi_dname_len(wire) };
	return n;
}

hfi_name_t hfi_name_join(const uint8_t *pre, size_t prelen, const uint8_t *suf)
{
	hfi_name_t n = { .pre = prelen > 0 ? pre : NULL, .prelen = (uint16_t)prelen,
			 .suf = suf, .suflen = (uint16_t)hfi_dname_len(suf) };
	return n;
}

/*
 * Compression map.  miekg keys its map by the presentation string of a name
 * suffix (case-sensitive) and stores the offset of its first occurrence;
 * we key by the suffix's wire bytes, referring to the name it came from
 * (name id + start) instead of copying it.  Entries are only added at
 * offsets < 0x4000 and label starts are >= 2 bytes apart, so a map never
 * holds more than 8192 of them.
 */
#define CM_LIMIT 0x4000
#define CM_MAX_ENT (CM_LIMIT / 2 + 8)
#define CM_BUCKETS 1024

typedef struct cm_ent {
	uint32_t hash;
	uint16_t next;  /* 1-based index of the next entry in the bucket */
	uint16_t val;   /* offset in the message */
	uint16_t name;  /* name id (see name_by_id) */
	uint8_t start;  /* where the suffix starts inside the name */
} cm_ent_t;

typedef struct pk {
	const hfi_query_t *q;
	const hfi_resp_t *r;
	hfi_name_t qn;          /* the question name */
	uint8_t *out;
	size_t cap, off;
	bool overflow;
	/* compression map (ent == NULL: none) */
	cm_ent_t *ent;
	unsigned nent, maxent;
	uint16_t head[CM_BUCKETS];
} pk_t;

static inline size_t nlen(const hfi_name_t *n)
{
	return (size_t)n->prelen + n->suflen;
}

static inline uint8_t nb(const hfi_name_t *n, size_t i)
{
	return i < n->prelen ? n->pre[i] : n->suf[i - n->prelen];
}

/* Name ids: 0 = question, 1 + 3*i + k = record i's owner/name1/name2. */
static const hfi_name_t *name_by_id(const pk_t *pk, unsigned id)
{
	if (id == 0)
		return &pk->qn;
	const hfi_rr_t *rr = &pk->r->rr[(id - 1) / 3];
	switch ((id - 1) % 3) {
	case 0: return &rr->owner;
	case 1: return &rr->name1;
	default: return &rr->name2;
	}
}

/* Labels of a valid name (root excluded), or -1. */
static int name_check(const hfi_name_t *n)
{
	size_t len = nlen(n), i = 0;
	int labels = 0;
	if (n->suf == NULL || n->suflen == 0 || len > HFI_DNAME_MAX ||
	    (n->prelen > 0 && n->pre == NULL))
		return -1;
	while (i < len) {
		uint8_t c = nb(n, i);
		if (c == 0)
			return i == len - 1 ? labels : -1;
		if (c > HFI_LABEL_MAX)
			return -1;
		i += 1 + (size_t)c;
		labels++;
	}
	return -1;
}

/* Label starts (root excluded) and a hash of each suffix; returns count. */
static int name_scan(const hfi_name_t *n, uint8_t *starts, uint32_t *hashes)
{
	size_t len = nlen(n), i = 0;
	int k = 0;
	while (i < len && nb(n, i) != 0) {
		starts[k++] = (uint8_t)i;
		i += 1 + (size_t)nb(n, i);
	}
	/* FNV-1a over the suffix read from its end, so every suffix hash comes
	 * out of one right-to-left pass */
	uint32_t h = 2166136261u;
	int j = k - 1;
	for (size_t p = len; p-- > 0 && j >= 0;) {
		h = (h ^ nb(n, p)) * 16777619u;
		if (p == starts[j])
			hashes[j--] = h ^ (uint32_t)(len - p);
	}
	return k;
}

static bool cm_key_eq(const pk_t *pk, const cm_ent_t *e, const hfi_name_t *n, size_t s)
{
	const hfi_name_t *m = name_by_id(pk, e->name);
	size_t lm = nlen(m) - e->start, ln = nlen(n) - s;
	if (lm != ln)
		return false;
	for (size_t i = 0; i < ln; i++)
		if (nb(m, e->start + i) != nb(n, s + i))
			return false;
	return true;
}

static const cm_ent_t *cm_find(const pk_t *pk, uint32_t h, const hfi_name_t *n, size_t s)
{
	for (uint16_t i = pk->head[h % CM_BUCKETS]; i != 0; i = pk->ent[i - 1].next) {
		const cm_ent_t *e = &pk->ent[i - 1];
		if (e->hash == h && cm_key_eq(pk, e, n, s))
			return e;
	}
	return NULL;
}

static void cm_insert(pk_t *pk, uint32_t h, unsigned id, size_t s, size_t val)
{
	if (pk->nent >= pk->maxent)
		return; /* cannot happen: see CM_MAX_ENT */
	cm_ent_t *e = &pk->ent[pk->nent++];
	e->hash = h;
	e->val = (uint16_t)val;
	e->name = (uint16_t)id;
	e->start = (uint8_t)s;
	e->next = pk->head[h % CM_BUCKETS];
	pk->head[h % CM_BUCKETS] = (uint16_t)pk->nent;
}

static void cm_reset(pk_t *pk)
{
	pk->nent = 0;
	memset(pk->head, 0, sizeof(pk->head));
}

/*
 * miekg domainNameLen + compressionLenSearch: the length of name id at
 * message offset off, recording its suffixes in the map.
 */
static size_t est_name(pk_t *pk, unsigned id, size_t off, bool compress)
{
	const hfi_name_t *n = name_by_id(pk, id);
	size_t len = nlen(n);
	if (len <= 1)
		return 1;
	if (pk->ent != NULL && (compress || off < CM_LIMIT)) {
		uint8_t starts[128];
		uint32_t hashes[128];
		int k = name_scan(n, starts, hashes);
		for (int i = 0; i < k; i++) {
			if (cm_find(pk, hashes[i], n, starts[i]) != NULL) {
				if (compress)
					return (size_t)starts[i] + 2;
				break;
			}
			if (off + starts[i] < CM_LIMIT)
				cm_insert(pk, hashes[i], id, starts[i], off + starts[i]);
		}
	}
	return len;
}

/* miekg RR.len(off, compression) for the record types we emit. */
static size_t est_rr(pk_t *pk, unsigned i, size_t off)
{
	const hfi_rr_t *rr = &pk->r->rr[i];
	unsigned id = 1 + 3 * i;
	size_t l = est_name(pk, id, off, true) + 10;
	switch (rr->type) {
	case HFI_T_CNAME:
	case HFI_T_NS:
	case HFI_T_PTR:
		l += est_name(pk, id + 1, off + l, true);
		break;
	case HFI_T_MX:
		l += 2;
		l += est_name(pk, id + 1, off + l, true);
		break;
	case HFI_T_SRV:
		l += 6;
		l += est_name(pk, id + 1, off + l, false);
		break;
	case HFI_T_SOA:
		l += est_name(pk, id + 1, off + l, true);
		l += est_name(pk, id + 2, off + l, true);
		l += 20;
		break;
	default:
		l += rr->rdlen;
		break;
	}
	return l;
}

/* Fixed RDATA bytes a record of this type carries next to its names. */
static size_t rr_fixed(uint16_t type, uint16_t rdlen)
{
	switch (type) {
	case HFI_T_CNAME: case HFI_T_NS: case HFI_T_PTR: return 0;
	case HFI_T_MX: return 2;
	case HFI_T_SRV: return 6;
	case HFI_T_SOA: return 20;
	default: return rdlen;
	}
}

static int rr_names(uint16_t type)
{
	switch (type) {
	case HFI_T_CNAME: case HFI_T_NS: case HFI_T_PTR: case HFI_T_MX: case HFI_T_SRV: return 1;
	case HFI_T_SOA: return 2;
	default: return 0;
	}
}

static void put(pk_t *pk, const void *p, size_t n)
{
	if (pk->overflow || n > pk->cap - pk->off) {
		pk->overflow = true;
		return;
	}
	if (n > 0)
		memcpy(pk->out + pk->off, p, n);
	pk->off += n;
}

static void put16(pk_t *pk, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(pk, b, 2);
}

static void put32(pk_t *pk, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	put(pk, b, 4);
}

/* miekg packDomainName: labels until a known suffix (then a pointer when
 * compress), recording new suffixes below 0x4000 whenever a map exists. */
static void put_name(pk_t *pk, unsigned id, bool compress)
{
	const hfi_name_t *n = name_by_id(pk, id);
	if (pk->ent == NULL) {
		put(pk, n->pre, n->prelen);
		put(pk, n->suf, n->suflen);
		return;
	}
	uint8_t starts[128];
	uint32_t hashes[128];
	int k = name_scan(n, starts, hashes);
	for (int i = 0; i < k; i++) {
		const cm_ent_t *e = cm_find(pk, hashes[i], n, starts[i]);
		if (e != NULL) {
			if (compress) {
				put16(pk, (uint16_t)(0xC000u | e->val));
				return;
			}
		} else if (pk->off < CM_LIMIT) {
			cm_insert(pk, hashes[i], id, starts[i], pk->off);
		}
		uint8_t lab[HFI_LABEL_MAX + 1];
		size_t ll = nb(n, starts[i]);
		for (size_t j = 0; j <= ll; j++)
			lab[j] = nb(n, starts[i] + j);
		put(pk, lab, ll + 1);
	}
	uint8_t root = 0;
	put(pk, &root, 1);
}

static void put_rr(pk_t *pk, unsigned i, bool compress)
{
	const hfi_rr_t *rr = &pk->r->rr[i];
	unsigned id = 1 + 3 * i;
	put_name(pk, id, compress);
	put16(pk, rr->type);
	put16(pk, rr->rclass);
	put32(pk, rr->ttl);
	size_t rdpos = pk->off;
	put16(pk, 0);
	switch (rr->type) {
	case HFI_T_CNAME:
	case HFI_T_NS:
	case HFI_T_PTR:
		put_name(pk, id + 1, compress);
		break;
	case HFI_T_MX:
		put(pk, rr->rdata, 2);
		put_name(pk, id + 1, compress);
		break;
	case HFI_T_SRV:
		put(pk, rr->rdata, 6);
		put_name(pk, id + 1, false);
		break;
	case HFI_T_SOA:
		put_name(pk, id + 1, compress);
		put_name(pk, id + 2, compress);
		put(pk, rr->rdata, 20);
		break;
	default:
		put(pk, rr->rdata, rr->rdlen);
		break;
	}
	if (pk->overflow)
		return;
	size_t rdlen = pk->off - rdpos - 2;
	if (rdlen > 0xFFFF) {
		pk->overflow = true;
		return;
	}
	pk->out[rdpos] = (uint8_t)(rdlen >> 8);
	pk->out[rdpos + 1] = (uint8_t)rdlen;
}

/*
 * The OPT record request.SizeAndDo puts on a reply: the client's OPT
 * reused (root owner, version 0, its UDP size, only the DO bit of its flags (spec 2;
 * miekg would keep the upper Z bits too) with the options CoreDNS supports echoed as miekg re-packs
 * them (NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING); or, when the reply
 * carries an extended error, the reply's own OPT with that option.
 * Returns the OPT's length; writes it when pk is not NULL.
 */
static size_t opt_build(pk_t *pk, const hfi_query_t *q, bool has_ede, uint16_t ede_code,
			uint16_t rcode)
{
	size_t len = 11;
	uint32_t ttl = (uint32_t)((rcode >> 4) & 0xFF) << 24;
	if (has_ede)
		ttl |= q->do_bit ? 0x8000u : 0;
	else
		ttl |= q->edns_flags & 0x8000u; /* spec 2: DO copied, other flags cleared */
	if (pk != NULL) {
		uint8_t h[9] = { 0, 0, HFI_T_OPT, (uint8_t)(q->edns_size >> 8), (uint8_t)q->edns_size,
				 (uint8_t)(ttl >> 24), (uint8_t)(ttl >> 16), (uint8_t)(ttl >> 8),
				 (uint8_t)ttl };
		put(pk, h, 9);
	}
	size_t rdpos = pk != NULL ? pk->off : 0;
	if (pk != NULL)
		put16(pk, 0);
	if (has_ede) {
		len += 6;
		if (pk != NULL) {
			put16(pk, 15);
			put16(pk, 2);
			put16(pk, ede_code);
		}
	} else {
		const uint8_t *o = q->opt_rdata;
		size_t p = 0, end = q->opt_rdata != NULL ? q->opt_rdlen : 0;
		while (p + 4 <= end) {
			uint16_t code = (uint16_t)((o[p] << 8) | o[p + 1]);
			uint16_t olen = (uint16_t)((o[p + 2] << 8) | o[p + 3]);
			if (p + 4 + olen > end)
				break;
			const uint8_t *data = o + p + 4;
			size_t outlen = olen;
			p += 4 + (size_t)olen;
			switch (code) {
			case 3: case 10: case 12:
				break;
			case 9: /* EXPIRE: empty stays empty, else the first 4 bytes */
				outlen = olen == 0 ? 0 : 4;
				break;
			case 11: /* TCP keepalive: a zero timeout packs as empty */
				outlen = (olen == 2 && (data[0] | data[1]) != 0) ? 2 : 0;
				break;
			default:
				continue;
			}
			len += 4 + outlen;
			if (pk != NULL) {
				put16(pk, code);
				put16(pk, (uint16_t)outlen);
				put(pk, data, outlen);
			}
		}
	}
	if (pk != NULL && !pk->overflow) {
		size_t rdlen = pk->off - rdpos - 2;
		pk->out[rdpos] = (uint8_t)(rdlen >> 8);
		pk->out[rdpos + 1] = (uint8_t)rdlen;
	}
	return len;
}

static void put_header(pk_t *pk, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		       uint16_t ns, uint16_t ar)
{
	put16(pk, id);
	put16(pk, flags);
	put16(pk, qd);
	put16(pk, an);
	put16(pk, ns);
	put16(pk, ar);
}

/* Header flags of a reply made by miekg SetReply: QR, the opcode, RD and
 * CD copied for opcode QUERY only. */
static uint16_t reply_flags(const hfi_query_t *q)
{
	uint16_t f = 0x8000u | (uint16_t)((q->opcode & 0xF) << 11);
	if (q->opcode == 0)
		f |= q->flags & (0x0100u | 0x0010u);
	return f;
}

static void put_question(pk_t *pk, bool compress)
{
	if (pk->q->qname == NULL)
		return;
	put_name(pk, 0, compress);
	put16(pk, pk->q->qtype);
	put16(pk, pk->q->qclass);
}

int hfi_msg_pack(const hfi_query_t *q, const hfi_resp_t *r, uint8_t *out, size_t cap,
		 size_t maxsize)
{
	if (q == NULL || r == NULL || out == NULL || r->nrr > HFI_RESP_MAX_RR)
		return HF_EINVAL;

	pk_t pk = { .q = q, .r = r, .out = out, .cap = cap };
	size_t qlen = 0, labels = 0;
	if (q->qname != NULL) {
		pk.qn = hfi_name_wire(q->qname);
		qlen = nlen(&pk.qn) + 4;
		labels = (size_t)q->nlabels;
	}

	/* records grouped by section, relative order kept */
	uint16_t order[HFI_RESP_MAX_RR];
	unsigned nsec[3] = { 0, 0, 0 }, n = 0;
	size_t ulen = 12 + qlen; /* uncompressed length */
	for (unsigned s = 0; s < 3; s++) {
		for (unsigned i = 0; i < r->nrr; i++) {
			const hfi_rr_t *rr = &r->rr[i];
			if (rr->section > HFI_SEC_ADDITIONAL)
				return HF_EINVAL;
			if (rr->section != s)
				continue;
			int l = name_check(&rr->owner);
			if (l < 0)
				return HF_EINVAL;
			labels += (size_t)l;
			size_t fixed = rr_fixed(rr->type, rr->rdlen);
			if (fixed > 0 && rr->rdata == NULL)
				return HF_EINVAL;
			ulen += nlen(&rr->owner) + 10 + fixed;
			int nn = rr_names(rr->type);
			for (int k = 0; k < nn; k++) {
				const hfi_name_t *nm = k == 0 ? &rr->name1 : &rr->name2;
				l = name_check(nm);
				if (l < 0)
					return HF_EINVAL;
				labels += (size_t)l;
				ulen += nlen(nm);
			}
			order[n++] = (uint16_t)i;
			nsec[s]++;
		}
	}

	uint16_t rcode = r->rcode;
	bool opt = q->has_edns;
	if (!opt)
		rcode &= 0xF; /* miekg would refuse to pack it; keep the low bits */
	size_t optlen = opt ? opt_build(NULL, q, r->has_ede, r->ede_code, rcode) : 0;
	ulen += optlen;

	/* compression map on the stack, sized for what this message can hold */
	size_t maxent = labels + 1;
	if (maxent > CM_MAX_ENT)
		maxent = CM_MAX_ENT;
	cm_ent_t ents[maxent];
	pk.maxent = (unsigned)maxent;

	/* request.Scrub: Msg.Truncate(size), then compress big UDP replies */
	unsigned keep[3] = { nsec[0], nsec[1], nsec[2] };
	bool tc = r->tc, compress = false;
	if (!r->raw) {
		size_t size = maxsize;
		if (size == 0)
			size = q->tcp ? 65535 : (q->has_edns ? q->edns_size : 512);
		if (size < 512)
			size = 512;
		if (ulen > size) {
			compress = true;
			long budget = (long)size - (long)optlen;
			pk.ent = ents;
			cm_reset(&pk);
			long l = 12;
			if (q->qname != NULL)
				l += (long)est_name(&pk, 0, 12, true) + 4;
			unsigned base = 0;
			for (unsigned s = 0; s < 3; s++) {
				unsigned cnt = 0;
				if (l < budget) {
					for (cnt = 0; cnt < nsec[s]; cnt++) {
						l += (long)est_rr(&pk, order[base + cnt], (size_t)l);
						if (l > budget) {
							l = budget;
							break;
						}
						if (l == budget) {
							cnt++;
							break;
						}
					}
				}
				keep[s] = cnt;
				if (cnt < nsec[s])
					tc = true;
				base += nsec[s];
			}
		} else if (!q->tcp) {
			if (ulen > 1480 && q->family != 6)
				compress = true;
			if (ulen > 1220 && q->family == 6)
				compress = true;
		}
	}

	/* Msg.Pack */
	unsigned nkeep = keep[0] + keep[1] + keep[2];
	bool map = compress && (nkeep > 0 || opt);
	pk.ent = map ? ents : NULL;
	cm_reset(&pk);
	uint16_t flags = reply_flags(q) | (uint16_t)(rcode & 0xF);
	if (r->aa)
		flags |= 0x0400u;
	if (tc)
		flags |= 0x0200u;
	if (r->ra)
		flags |= 0x0080u;
	if (r->ad)
		flags |= 0x0020u;
	put_header(&pk, q->id, flags, q->qname != NULL ? 1 : 0, (uint16_t)keep[0],
		   (uint16_t)keep[1], (uint16_t)(keep[2] + (opt ? 1 : 0)));
	put_question(&pk, map);
	unsigned base = 0;
	for (unsigned s = 0; s < 3; s++) {
		for (unsigned i = 0; i < keep[s]; i++)
			put_rr(&pk, order[base + i], map);
		base += nsec[s];
	}
	if (opt)
		opt_build(&pk, q, r->has_ede, r->ede_code, rcode);
	if (pk.overflow)
		return HF_ESPACE;
	return (int)pk.off;
}

int hfi_msg_error(const hfi_query_t *q, int rcode, uint8_t *out, size_t cap)
{
	if (q == NULL || out == NULL || rcode < 0 || rcode > 0xFFF)
		return HF_EINVAL;
	pk_t pk = { .q = q, .out = out, .cap = cap };
	if (q->qname != NULL)
		pk.qn = hfi_name_wire(q->qname);
	uint16_t qd = q->qname != NULL ? 1 : 0;

	if (rcode == HFI_RCODE_FORMERR || rcode == HFI_RCODE_NOTIMP) {
		/* miekg serveDNS reject path: the query's header with QR set, AA
		 * and Z cleared, opcode QUERY (NOTIMP keeps the opcode), the
		 * question when it was read, nothing else */
		uint16_t f = (q->flags & (0x0200u | 0x0100u | 0x0080u | 0x0020u | 0x0010u)) | 0x8000u;
		if (rcode == HFI_RCODE_NOTIMP)
			f |= (uint16_t)((q->opcode & 0xF) << 11);
		f |= (uint16_t)rcode;
		put_header(&pk, q->id, f, qd, 0, 0, 0);
		put_question(&pk, false);
	} else if (rcode == HFI_RCODE_BADVERS) {
		/* coredns plugin/pkg/edns Version(): SetReply + a fresh OPT with
		 * UDP size 0, version 0, extended rcode BADVERS */
		put_header(&pk, q->id, reply_flags(q), qd, 0, 0, 1);
		put_question(&pk, false);
		uint8_t o[11] = { 0, 0, HFI_T_OPT, 0, 0, (uint8_t)(HFI_RCODE_BADVERS >> 4), 0, 0, 0, 0, 0 };
		put(&pk, o, sizeof(o));
	} else {
		/* errorAndMetricsFunc before the ScrubWriter: SetRcode +
		 * SizeAndDo (the OPT echo), no truncation or compression */
		bool opt = q->has_edns;
		put_header(&pk, q->id, reply_flags(q) | (uint16_t)(rcode & 0xF), qd, 0, 0, opt ? 1 : 0);
		put_question(&pk, false);
		if (opt)
			opt_build(&pk, q, false, 0, (uint16_t)rcode);
	}
	if (pk.overflow)
		return HF_ESPACE;
	return (int)pk.off;
}

size_t hfi_wire_skip_name(const uint8_t *m, size_t len, size_t off)
{
	while (off < len) {
		uint8_t l = m[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1 + (size_t)l;
	}
	return 0;
}
