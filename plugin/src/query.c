/*
 * query.c: validation and parsing of a received DNS message, the way
 * CoreDNS's server (miekg/dns v1.1.72 serveDNS + DefaultMsgAcceptFunc +
 * Msg.unpack) does it before any plugin runs: drop/NOTIMP/FORMERR
 * decisions, the question (compression allowed, decompressed copy), every
 * record of the other sections checked as miekg unpacks it, and the EDNS
 * fields of the last OPT record of the additional section.
 */
#include <string.h>

#include "holdfast.h"
#include "query.h"

#define HDR_QR 0x8000u
#define MAX_PTRS 126      /* miekg maxCompressionPointers = (255+1)/2 - 2 */
#define NAME_BUDGET 255   /* miekg maxDomainNameWireOctets */

enum { T_A = 1, T_NS = 2, T_MD = 3, T_MF = 4, T_CNAME = 5, T_SOA = 6, T_MB = 7,
       T_MG = 8, T_MR = 9, T_PTR = 12, T_HINFO = 13, T_MINFO = 14, T_MX = 15,
       T_TXT = 16, T_RP = 17, T_AFSDB = 18, T_RT = 21, T_AAAA = 28, T_SRV = 33,
       T_KX = 36, T_DNAME = 39, T_OPT = 41, T_SPF = 99, T_ANY = 255 };

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * miekg UnpackDomainName over msg[0:lim] starting at *off.  Compression
 * pointers may point anywhere below lim (miekg v1 does not insist on
 * "backwards"); at most 126 are followed, so loops end.  When out is not
 * NULL the decompressed wire name is written there (>= 256 bytes) and its
 * length stored in *outlen; *ptrs receives the number of pointers seen.
 * Returns 0 or -1; *off is advanced past the name as stored.
 */
static int get_name(const uint8_t *msg, size_t lim, size_t *off, uint8_t *out,
		    size_t *outlen, int *ptrs)
{
	size_t p = *off, end = 0, o = 0;
	int nptr = 0, budget = NAME_BUDGET;

	for (;;) {
		if (p >= lim)
			return -1;
		uint8_t c = msg[p++];
		if ((c & 0xC0) == 0x00) {
			if (c == 0)
				break;
			if (p + c > lim)
				return -1;
			budget -= c + 1;
			if (budget <= 0)
				return -1;
			if (out != NULL) {
				out[o] = c;
				memcpy(out + o + 1, msg + p, c);
			}
			o += 1 + (size_t)c;
			p += c;
		} else if ((c & 0xC0) == 0xC0) {
			if (p >= lim)
				return -1;
			uint8_t c1 = msg[p++];
			if (nptr == 0)
				end = p;
			if (++nptr > MAX_PTRS)
				return -1;
			p = ((size_t)(c & 0x3F) << 8) | c1;
		} else {
			return -1; /* 0x40 / 0x80 label types are reserved */
		}
	}
	if (out != NULL)
		out[o] = 0;
	if (outlen != NULL)
		*outlen = o + 1;
	if (ptrs != NULL)
		*ptrs = nptr;
	*off = nptr == 0 ? p : end;
	return 0;
}

/* EDNS0 option payload checks of miekg's EDNS0_*.unpack. */
static int check_option(uint16_t code, const uint8_t *b, size_t len)
{
	switch (code) {
	case 1: /* LLQ */
		return len < 18 ? -1 : 0;
	case 2: /* UL */
		return (len == 4 || len == 8) ? 0 : -1;
	case 8: { /* SUBNET */
		if (len < 4)
			return -1;
		uint16_t fam = rd16(b);
		uint8_t src = b[2], scope = b[3];
		if (fam == 0)
			return src != 0 ? -1 : 0;
		if (fam == 1)
			return (src > 32 || scope > 32) ? -1 : 0;
		if (fam == 2)
			return (src > 128 || scope > 128) ? -1 : 0;
		return -1;
	}
	case 9: /* EXPIRE */
		return (len != 0 && len < 4) ? -1 : 0;
	case 11: /* TCP keepalive */
		return (len == 0 || len == 2) ? 0 : -1;
	case 15: /* EDE */
		return len < 2 ? -1 : 0;
	default: /* NSID, COOKIE, DAU, DHU, N3U, PADDING, ESU, local: anything */
		return 0;
	}
}

/* miekg unpackDataOpt over msg[p:lim]. */
static int check_opt(const uint8_t *msg, size_t p, size_t lim)
{
	while (p < lim) {
		if (p + 4 > lim)
			return -1;
		uint16_t code = rd16(msg + p), olen = rd16(msg + p + 2);
		p += 4;
		if (p + olen > lim)
			return -1;
		if (check_option(code, msg + p, olen) != 0)
			return -1;
		p += olen;
	}
	return 0;
}

/*
 * The RDATA field layouts miekg unpacks (zmsg.go), one letter per field:
 * N name, 2/4 integers, A/6 IPv4/IPv6 address, S character-string,
 * T character-strings to the end, O EDNS options.  Between two fields
 * miekg accepts an RDATA that ends early.  Types not listed are accepted
 * as they are (unknown types are RFC 3597 opaque data in miekg too).
 */
static const char *rdata_layout(uint16_t type)
{
	switch (type) {
	case T_A: return "A";
	case T_AAAA: return "6";
	case T_NS: case T_MD: case T_MF: case T_CNAME: case T_MB: case T_MG:
	case T_MR: case T_PTR: case T_DNAME: return "N";
	case T_SOA: return "NN44444";
	case T_MINFO: case T_RP: return "NN";
	case T_MX: case T_AFSDB: case T_RT: case T_KX: return "2N";
	case T_SRV: return "222N";
	case T_HINFO: return "SS";
	case T_TXT: case T_SPF: return "T";
	case T_OPT: return "O";
	case T_ANY: return ""; /* no fields: any RDATA is "bad rdlength" */
	default: return NULL;
	}
}

/* Check rdata msg[p:end] of the given type (msg is cut at end, as miekg's
 * truncateMsgFromRdlength does). */
static int check_rdata(const uint8_t *msg, size_t p, size_t end, uint16_t type)
{
	const char *lay = rdata_layout(type);
	if (lay == NULL || p == end)
		return 0; /* opaque, or no RDATA at all (miekg noRdata) */
	for (const char *f = lay; *f != '\0'; f++) {
		if (f != lay && p == end)
			return 0;
		switch (*f) {
		case 'N':
			if (get_name(msg, end, &p, NULL, NULL, NULL) != 0)
				return -1;
			break;
		case '2':
			if (p + 2 > end)
				return -1;
			p += 2;
			break;
		case '4':
		case 'A':
			if (p + 4 > end)
				return -1;
			p += 4;
			break;
		case '6':
			if (p + 16 > end)
				return -1;
			p += 16;
			break;
		case 'S':
			if (p + 1 > end || p + 1 + msg[p] > end)
				return -1;
			p += 1 + (size_t)msg[p];
			break;
		case 'T':
			while (p < end) {
				if (p + 1 + msg[p] > end)
					return -1;
				p += 1 + (size_t)msg[p];
			}
			break;
		case 'O':
			if (check_opt(msg, p, end) != 0)
				return -1;
			p = end;
			break;
		}
	}
	return p == end ? 0 : -1; /* "bad rdlength" */
}

/*
 * One section of count records from *off (miekg unpackRRslice): a message
 * that ends early means the count was a lie (fine).  The last OPT record of
 * the additional section is remembered in q.
 */
static int parse_section(hfi_query_t *q, size_t *off, unsigned count, bool additional)
{
	const uint8_t *msg = q->pkt;
	size_t len = q->len, p = *off;

	for (unsigned i = 0; i < count; i++) {
		if (p == len)
			break;
		if (get_name(msg, len, &p, NULL, NULL, NULL) != 0)
			return -1;
		if (p + 10 > len)
			return -1;
		uint16_t type = rd16(msg + p), rclass = rd16(msg + p + 2);
		uint32_t ttl = rd32(msg + p + 4);
		uint16_t rdlen = rd16(msg + p + 8);
		p += 10;
		if (p + rdlen > len)
			return -1;
		if (check_rdata(msg, p, p + rdlen, type) != 0)
			return -1;
		if (additional && type == T_OPT) {
			q->has_edns = true;
			q->edns_size = rclass;
			q->edns_version = (uint8_t)(ttl >> 16);
			q->edns_flags = (uint16_t)ttl;
			q->do_bit = (ttl & 0x8000u) != 0;
			q->opt_rdata = msg + p;
			q->opt_rdlen = rdlen;
		}
		p += rdlen;
	}
	*off = p;
	return 0;
}

static int parse_question(hfi_query_t *q, size_t *off)
{
	size_t p = *off, nlen = 0;
	int ptrs = 0;

	if (get_name(q->pkt, q->len, &p, q->qname_buf, &nlen, &ptrs) != 0)
		return -1;
	uint16_t qtype = 0, qclass = 0;
	/* miekg unpackQuestion: the type and class may be missing; a lone
	 * byte for the type is an error, a lone byte for the class is not */
	if (p != q->len) {
		if (p + 2 > q->len)
			return -1;
		qtype = rd16(q->pkt + p);
		p += 2;
		if (p != q->len) {
			if (p + 2 > q->len)
				p = q->len;
			else {
				qclass = rd16(q->pkt + p);
				p += 2;
			}
		}
	}
	q->qname = ptrs == 0 ? q->pkt + *off : q->qname_buf;
	q->qname_len = (uint8_t)nlen;
	q->qtype = qtype;
	q->qclass = qclass;
	hfi_dname_lower(q->lname, q->qname);
	size_t w = 0;
	int n = 0;
	while (q->qname[w] != 0 && n < (int)sizeof(q->label_off)) {
		q->label_off[n++] = (uint8_t)w;
		w += 1 + (size_t)q->qname[w];
	}
	q->nlabels = (uint8_t)n;
	q->question_end = p;
	*off = p;
	return 0;
}

int hfi_query_parse(hfi_query_t *q, const uint8_t *pkt, size_t len, bool tcp)
{
	memset(q, 0, sizeof(*q));
	q->pkt = pkt;
	q->len = len;
	q->tcp = tcp;
	if (pkt == NULL || len < 12)
		return HFI_Q_DROP;

	q->id = rd16(pkt);
	q->flags = rd16(pkt + 2);
	q->opcode = (uint8_t)((q->flags >> 11) & 0xF);
	q->rd = (q->flags & 0x0100u) != 0;
	q->ad = (q->flags & 0x0020u) != 0;
	q->cd = (q->flags & 0x0010u) != 0;
	q->qdcount = rd16(pkt + 4);
	q->ancount = rd16(pkt + 6);
	q->nscount = rd16(pkt + 8);
	q->arcount = rd16(pkt + 10);
	q->question_end = 12;

	/* DefaultMsgAcceptFunc */
	if (q->flags & HDR_QR)
		return HFI_Q_DROP;
	if (q->opcode != 0 && q->opcode != 4)
		return HFI_Q_NOTIMP;
	if (q->qdcount != 1 || q->ancount > 1 || q->nscount > 1 || q->arcount > 2)
		return HFI_Q_FORMERR;

	/* Msg.unpack: a bare header is accepted as a message without question */
	size_t off = 12;
	if (off == len)
		return HFI_Q_OK;
	if (parse_question(q, &off) != 0)
		return HFI_Q_FORMERR;
	if (parse_section(q, &off, q->ancount, false) != 0 ||
	    parse_section(q, &off, q->nscount, false) != 0 ||
	    parse_section(q, &off, q->arcount, true) != 0) {
		/* the question stays (miekg keeps it for the FORMERR reply), the
		 * EDNS data of a broken message is not used */
		q->has_edns = false;
		q->edns_size = 0;
		q->edns_version = 0;
		q->edns_flags = 0;
		q->do_bit = false;
		q->opt_rdata = NULL;
		q->opt_rdlen = 0;
		return HFI_Q_FORMERR;
	}
	/* trailing bytes after the counted records are ignored (miekg) */
	if (q->has_edns && q->edns_version != 0)
		return HFI_Q_BADVERS;
	return HFI_Q_OK;
}

const uint8_t *hfi_query_suffix(const hfi_query_t *q, int labels)
{
	if (q->qname == NULL)
		return NULL;
	if (labels <= 0)
		return q->qname + q->qname_len - 1;
	if (labels >= q->nlabels)
		return q->qname;
	return q->qname + q->label_off[q->nlabels - labels];
}

/* ---- shared with the forward path (engine_chase.c) ---- */

int hfi_wire_get_name(const uint8_t *msg, size_t lim, size_t *off, uint8_t *out, size_t *outlen)
{
	return get_name(msg, lim, off, out, outlen, NULL);
}

const char *hfi_wire_rdata_layout(uint16_t type)
{
	return rdata_layout(type);
}
