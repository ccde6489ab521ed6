/*
 * msg.h: a response under construction and the packer that turns it into
 * wire format exactly as CoreDNS does (miekg/dns + the request scrubber):
 * header from the query (ID, opcode, RD, CD copied; QR set), the question
 * echoed in query case, sections in order, names uncompressed unless the
 * message does not fit (then compressed and truncated record by record, TC
 * set when records were dropped) or a UDP reply exceeds 1480 (IPv4) / 1220
 * (IPv6) bytes, and an OPT record when the query had one (version 0, the
 * client's UDP size echoed, DO copied, extended rcode bits).
 *
 * Records refer to memory owned by someone else (the index, the query, or
 * the response's own scratch area); the packer only reads it.  A name is
 * two pieces so a precompiled prefix can be joined with the zone spelled as
 * in the query without copying: wire = pre (labels, no root) + suf (a full
 * wire name ending in the root label).
 */
#ifndef HF_MSG_H
#define HF_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query.h"

typedef struct hfi_name {
	const uint8_t *pre;  /* may be NULL when prelen == 0 */
	uint16_t prelen;
	const uint8_t *suf;  /* complete wire name (ends with 0) */
	uint16_t suflen;
} hfi_name_t;

enum hfi_section { HFI_SEC_ANSWER = 0, HFI_SEC_AUTHORITY = 1, HFI_SEC_ADDITIONAL = 2 };

/* RR types used by the engine */
enum {
	HFI_T_A = 1, HFI_T_NS = 2, HFI_T_CNAME = 5, HFI_T_SOA = 6, HFI_T_PTR = 12,
	HFI_T_HINFO = 13, HFI_T_MX = 15, HFI_T_TXT = 16, HFI_T_AAAA = 28, HFI_T_SRV = 33,
	HFI_T_OPT = 41, HFI_T_DS = 43, HFI_T_IXFR = 251, HFI_T_AXFR = 252, HFI_T_ANY = 255
};
enum { HFI_C_IN = 1, HFI_C_CH = 3 };
enum {
	HFI_RCODE_NOERROR = 0, HFI_RCODE_FORMERR = 1, HFI_RCODE_SERVFAIL = 2,
	HFI_RCODE_NXDOMAIN = 3, HFI_RCODE_NOTIMP = 4, HFI_RCODE_REFUSED = 5,
	HFI_RCODE_BADVERS = 16
};

/*
 * One resource record.  RDATA layout by type:
 *   A, AAAA, TXT, other: rdata/rdlen only
 *   CNAME, PTR, NS:      name1
 *   MX:                  rdata (2 bytes: preference) + name1
 *   SRV:                 rdata (6 bytes: priority, weight, port) + name1 (never compressed)
 *   SOA:                 name1 (mname) + name2 (rname) + rdata (20 bytes: serial..minimum)
 */
typedef struct hfi_rr {
	hfi_name_t owner;
	uint16_t type, rclass;
	uint32_t ttl;
	uint8_t section;       /* enum hfi_section */
	hfi_name_t name1, name2;
	const uint8_t *rdata;
	uint16_t rdlen;
} hfi_rr_t;

#define HFI_RESP_MAX_RR 2048
#define HFI_RESP_SCRATCH 16384

typedef struct hfi_resp {
	uint16_t rcode;        /* may be > 15 (extended, goes into OPT) */
	bool aa, tc, ra;
	bool ad;               /* AD bit (cache: a stored upstream reply's AD) */
	bool raw;              /* written without the ScrubWriter (CoreDNS's
	                        * errorAndMetricsFunc before the wrap): OPT echo
	                        * only, no truncation, no compression */
	const char *plugin;    /* plugin that wrote the reply ("" = server) */
	uint16_t nrr;
	hfi_rr_t rr[HFI_RESP_MAX_RR]; /* any order of sections; the packer groups them */
	uint16_t ede_code;     /* RFC 8914 extended error, when has_ede */
	bool has_ede;
	size_t scratch_len;
	uint8_t scratch[HFI_RESP_SCRATCH]; /* bytes records may point into */
} hfi_resp_t;

void hfi_resp_reset(hfi_resp_t *r);
/* Append a record; NULL when full (the caller sets tc). */
hfi_rr_t *hfi_resp_add(hfi_resp_t *r, enum hfi_section sec, uint16_t type, uint32_t ttl);
/* Copy len bytes into the scratch area; NULL when full. */
uint8_t *hfi_resp_keep(hfi_resp_t *r, const void *data, size_t len);
/* Name helpers */
hfi_name_t hfi_name_wire(const uint8_t *wire);   /* whole wire name as suf */
hfi_name_t hfi_name_join(const uint8_t *pre, size_t prelen, const uint8_t *suf);

/*
 * Pack r as the reply to q into out.  maxsize: UDP = max(512, EDNS size),
 * TCP = 65535 (the packer computes it from q when maxsize is 0).
 * Returns the length or a negative hf_err.
 */
int hfi_msg_pack(const hfi_query_t *q, const hfi_resp_t *r, uint8_t *out, size_t cap,
		 size_t maxsize);

/* Bare replies for queries rejected before any plugin ran: FORMERR / NOTIMP
 * (miekg's reject path: the query's header with QR set, AA/Z cleared, opcode
 * QUERY for FORMERR; the question only when q->qname is set; never an OPT),
 * BADVERS (coredns edns.Version: question + OPT with UDP size 0 and
 * extended rcode 1), any other rcode as errorAndMetricsFunc writes it
 * before the ScrubWriter (SetRcode reply + the OPT echo). */
int hfi_msg_error(const hfi_query_t *q, int rcode, uint8_t *out, size_t cap);

/* The offset just past the (possibly compressed) name at off in the wire
 * message m[0..len); 0 when it is malformed or runs past the end.  For
 * walking a reply's records (log classes, loadbalance); no allocation. */
size_t hfi_wire_skip_name(const uint8_t *m, size_t len, size_t off);

#endif
