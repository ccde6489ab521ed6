/*
 * query.h: a parsed DNS query.  hfi_query_parse() validates a received
 * message the way CoreDNS (miekg/dns) does before any plugin sees it, and
 * records where everything is, without copying or allocating except the
 * lower-cased qname.
 */
#ifndef HF_QUERY_H
#define HF_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dname.h"

enum hfi_qstatus {
	HFI_Q_OK = 0,
	HFI_Q_DROP,     /* no reply at all (shorter than a header, QR set) */
	HFI_Q_FORMERR,  /* reply FORMERR (header only: ID, opcode, RD, CD copied) */
	HFI_Q_NOTIMP,   /* reply NOTIMP (opcode not QUERY/NOTIFY) */
	HFI_Q_BADVERS   /* EDNS version != 0: reply BADVERS in OPT */
};

typedef struct hfi_query {
	const uint8_t *pkt;
	size_t len;
	bool tcp;
	int family;                  /* 4 or 6, 0 unknown */
	uint16_t id;
	uint16_t flags;              /* header bits as received (QR..RCODE) */
	uint8_t opcode;
	bool rd, cd, ad;
	uint16_t qdcount, ancount, nscount, arcount;
	/* question (valid when status OK/BADVERS and qdcount == 1).  qname is
	 * NULL when the message ends right after the header (miekg accepts
	 * that: CoreDNS answers SERVFAIL "no question") and on FORMERR before
	 * the question was read.  A FORMERR with qname set echoes it. */
	const uint8_t *qname;        /* wire name (query case), decompressed:
	                              * points into pkt or into qname_buf */
	uint8_t qname_buf[HFI_DNAME_MAX + 1]; /* qname when it was compressed */
	uint8_t qname_len;           /* including the root label */
	uint8_t lname[HFI_DNAME_MAX + 1]; /* lower-cased copy */
	uint8_t nlabels;             /* labels, root excluded */
	uint8_t label_off[128];      /* offset of label i (0 = leftmost) in qname */
	uint16_t qtype, qclass;      /* 0 when the packet ended early (miekg) */
	/* EDNS (the last OPT of the additional section, as miekg IsEdns0) */
	bool has_edns;
	uint16_t edns_size;          /* as sent by the client */
	uint8_t edns_version;
	bool do_bit;
	uint16_t edns_flags;         /* low 16 bits of the OPT TTL (DO + Z) */
	const uint8_t *opt_rdata;    /* the client's options (validated) */
	uint16_t opt_rdlen;
	/* where the question section ends (for replies that copy it) */
	size_t question_end;
} hfi_query_t;

/* Parse pkt.  Fills q as far as it got; returns an hfi_qstatus.  q is
 * zeroed first: set q->family after the call.  Do not copy a parsed q by
 * value: qname may point into its own qname_buf. */
int hfi_query_parse(hfi_query_t *q, const uint8_t *pkt, size_t len, bool tcp);

/* Read a (possibly compressed) name at *off of msg[0:lim] into out
 * (>= 256 bytes, decompressed); *off moves past it.  0 or -1. */
int hfi_wire_get_name(const uint8_t *msg, size_t lim, size_t *off, uint8_t *out, size_t *outlen);
/* miekg's RDATA field layout for type ("N" name, "2"/"4" integers, "A"/"6"
 * addresses, "S" string, "T" strings, "O" options), NULL for opaque types. */
const char *hfi_wire_rdata_layout(uint16_t type);

/* The qname suffix in query case that spans the last `labels` labels. */
const uint8_t *hfi_query_suffix(const hfi_query_t *q, int labels);

#endif
