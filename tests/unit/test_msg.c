/*
 * test_msg.c: the reply encoder (msg.c) against bytes worked out by hand
 * from miekg/dns v1.1.72 Msg.Pack / Msg.Truncate and CoreDNS's scrubber:
 * uncompressed small replies, the OPT echo, SOA/NXDOMAIN, SRV, truncation
 * (compression, TC, OPT kept, the exact-fit quirk), the 1480/1220-byte UDP
 * compression rule, case-sensitive compression, bare error replies.  Every
 * produced message is parsed back with ldns.  Links -lldns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "holdfast.h"
#include "msg.h"

typedef struct {
	uint8_t b[4096];
	size_t n;
} buf_t;

static void raw(buf_t *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void u16(buf_t *m, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	raw(m, b, 2);
}

#define S(m, lit) raw((m), (lit), sizeof(lit) - 1)
#define NAME(m, lit) raw((m), (lit), sizeof(lit))
#define W(lit) ((const uint8_t *)(lit))

/* query: id, flags, one question, optional OPT (size, ttl, options) */
static void mkquery(buf_t *m, hfi_query_t *q, uint16_t flags, const char *qname, size_t qnlen,
		    uint16_t qtype, int edns_size, uint32_t ttl, const void *opts, uint16_t olen,
		    bool tcp, int family)
{
	m->n = 0;
	u16(m, 0x1234);
	u16(m, flags);
	u16(m, 1);
	u16(m, 0);
	u16(m, 0);
	u16(m, edns_size >= 0 ? 1 : 0);
	raw(m, qname, qnlen);
	u16(m, qtype);
	u16(m, 1);
	if (edns_size >= 0) {
		uint8_t root = 0;
		raw(m, &root, 1);
		u16(m, 41);
		u16(m, (uint16_t)edns_size);
		u16(m, (uint16_t)(ttl >> 16));
		u16(m, (uint16_t)ttl);
		u16(m, olen);
		if (olen)
			raw(m, opts, olen);
	}
	int st = hfi_query_parse(q, m->b, m->n, tcp);
	assert_true(st == HFI_Q_OK || st == HFI_Q_BADVERS);
	q->family = family;
}

#define QUERY(m, q, flags, name, qtype, edns, ttl, opts, olen, tcp, fam) \
	mkquery((m), (q), (flags), (name), sizeof(name), (qtype), (edns), (ttl), (opts), (olen), \
		(tcp), (fam))

static hfi_resp_t *resp_new(void)
{
	hfi_resp_t *r = malloc(sizeof(*r));
	assert_non_null(r);
	hfi_resp_reset(r);
	return r;
}

static void add_a(hfi_resp_t *r, enum hfi_section sec, hfi_name_t owner, uint32_t ttl,
		  uint8_t last)
{
	hfi_rr_t *rr = hfi_resp_add(r, sec, HFI_T_A, ttl);
	assert_non_null(rr);
	uint8_t ip[4] = { 192, 0, 2, last };
	rr->owner = owner;
	rr->rdata = hfi_resp_keep(r, ip, 4);
	rr->rdlen = 4;
}

/* Parse with ldns and check the essentials. */
static void ldns_ok(const uint8_t *w, size_t len, int an, int ns, int ar, bool tc, int rcode,
		    bool edns)
{
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, w, len), LDNS_STATUS_OK);
	assert_true(ldns_pkt_qr(p));
	assert_int_equal(ldns_pkt_tc(p), tc);
	assert_int_equal(ldns_pkt_ancount(p), an);
	assert_int_equal(ldns_pkt_nscount(p), ns);
	assert_int_equal(ldns_pkt_arcount(p), ar);
	assert_int_equal(ldns_pkt_get_rcode(p), rcode & 0xF);
	assert_int_equal(ldns_pkt_edns(p), edns);
	ldns_pkt_free(p);
}

static uint8_t out[70000];

#define QN_EXAMPLE "\x07" "example\x03" "com"

static void test_a_plain(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_A, -1, 0, NULL, 0, false, 4);
	hfi_resp_t *r = resp_new();
	r->aa = true;
	add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 300, 1);
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	const uint8_t want[] = "\x12\x34\x85\x00\x00\x01\x00\x01\x00\x00\x00\x00"
			       QN_EXAMPLE "\x00\x00\x01\x00\x01"
			       QN_EXAMPLE "\x00\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02\x01";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	ldns_ok(out, (size_t)n, 1, 0, 0, false, 0, false);
	free(r);
}

static void test_a_edns(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	/* DO set, upper Z bits 0x0100 and low Z bits 0x0001 set: only DO is
	 * echoed (spec 2: "the DO bit copied, other flags cleared") */
	const uint8_t opts[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, /* COOKIE: echoed */
				 0, 8, 0, 7, 0, 1, 24, 0, 10, 0, 0,   /* ECS: dropped */
				 0, 3, 0, 0,                          /* NSID: echoed */
				 0xFD, 0xE9, 0, 1, 9 };               /* local: dropped */
	QUERY(&m, &q, 0x0110, QN_EXAMPLE, HFI_T_A, 1232, 0x00008101u, opts, sizeof(opts), false, 4);
	hfi_resp_t *r = resp_new();
	r->aa = true;
	add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, 7);
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	const uint8_t want[] = "\x12\x34\x85\x10\x00\x01\x00\x01\x00\x00\x00\x01"
			       QN_EXAMPLE "\x00\x00\x01\x00\x01"
			       QN_EXAMPLE "\x00\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\xc0\x00\x02\x07"
			       "\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x10"
			       "\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08"
			       "\x00\x03\x00\x00";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	ldns_ok(out, (size_t)n, 1, 0, 0, false, 0, true);

	/* no options, no DO: an empty OPT with the client's size */
	QUERY(&m, &q, 0x0000, QN_EXAMPLE, HFI_T_A, 4096, 0, NULL, 0, false, 4);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 56 + 11);
	assert_memory_equal(out + 2, "\x84\x00", 2); /* RD not set in the query */
	assert_memory_equal(out + 56, "\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00", 11);
	free(r);
}

static void test_option_echo(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	const uint8_t opts[] = { 0, 9, 0, 0,                   /* EXPIRE empty: stays empty */
				 0, 9, 0, 6, 0, 0, 0, 9, 7, 7,   /* EXPIRE 6 bytes: first 4 */
				 0, 11, 0, 2, 0, 0,              /* keepalive 0: empty */
				 0, 11, 0, 2, 0, 7,              /* keepalive 7 */
				 0, 12, 0, 3, 0, 0, 0,           /* padding */
				 0, 15, 0, 2, 0, 3 };            /* EDE from the client: dropped */
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_A, 512, 0, opts, sizeof(opts), false, 4);
	hfi_resp_t *r = resp_new();
	r->rcode = HFI_RCODE_REFUSED;
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	const uint8_t want[] = "\x12\x34\x81\x05\x00\x01\x00\x00\x00\x00\x00\x01"
			       QN_EXAMPLE "\x00\x00\x01\x00\x01"
			       "\x00\x00\x29\x02\x00\x00\x00\x00\x00\x00\x1d"
			       "\x00\x09\x00\x00"
			       "\x00\x09\x00\x04\x00\x00\x00\x09"
			       "\x00\x0b\x00\x00"
			       "\x00\x0b\x00\x02\x00\x07"
			       "\x00\x0c\x00\x03\x00\x00\x00";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	ldns_ok(out, (size_t)n, 0, 0, 0, false, HFI_RCODE_REFUSED, true);

	/* an extended error replaces the echoed options; DO follows the client */
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_A, 1232, 0x8000, opts, sizeof(opts), false, 4);
	r->rcode = HFI_RCODE_SERVFAIL;
	r->has_ede = true;
	r->ede_code = 14;
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	const uint8_t want2[] = "\x12\x34\x81\x02\x00\x01\x00\x00\x00\x00\x00\x01"
				QN_EXAMPLE "\x00\x00\x01\x00\x01"
				"\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x06"
				"\x00\x0f\x00\x02\x00\x0e";
	assert_int_equal(n, sizeof(want2) - 1);
	assert_memory_equal(out, want2, sizeof(want2) - 1);
	ldns_ok(out, (size_t)n, 0, 0, 0, false, HFI_RCODE_SERVFAIL, true);

	/* extended rcode: BADVERS through the packer, OPT TTL high byte 1 */
	r->has_ede = false;
	r->rcode = HFI_RCODE_BADVERS;
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_A, 1232, 0, NULL, 0, false, 4);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 12 + 17 + 11);
	assert_memory_equal(out + 2, "\x81\x00", 2);
	assert_memory_equal(out + 29, "\x00\x00\x29\x04\xd0\x01\x00\x00\x00\x00\x00", 11);

	/* no EDNS in the query: the extended bits are dropped (low bits kept) */
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_A, -1, 0, NULL, 0, false, 4);
	r->rcode = 0x13;
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 29);
	assert_memory_equal(out + 2, "\x81\x03", 2);

	/* raw (no ScrubWriter): the OPT is echoed, nothing is truncated */
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_A, 1232, 0x8000, NULL, 0, false, 4);
	hfi_resp_reset(r);
	r->raw = true;
	r->rcode = HFI_RCODE_REFUSED;
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 29 + 11);
	assert_memory_equal(out, "\x12\x34\x81\x05\x00\x01\x00\x00\x00\x00\x00\x01", 12);
	assert_memory_equal(out + 29, "\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00", 11);
	for (int i = 0; i < 100; i++)
		add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, (uint8_t)i);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 29 + 100 * 27 + 11); /* 2740 > 1232, uncompressed */
	ldns_ok(out, (size_t)n, 100, 0, 0, false, HFI_RCODE_REFUSED, true);
	free(r);
}

static void test_soa_nxdomain(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	QUERY(&m, &q, 0x0100, "\x04" "nope" QN_EXAMPLE, HFI_T_A, -1, 0, NULL, 0, false, 4);
	hfi_resp_t *r = resp_new();
	r->aa = true;
	r->rcode = HFI_RCODE_NXDOMAIN;
	hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_AUTHORITY, HFI_T_SOA, 30);
	const uint8_t *zone = hfi_query_suffix(&q, 2);
	rr->owner = hfi_name_wire(zone);
	rr->name1 = hfi_name_join(W("\x02" "ns\x03" "dns"), 7, zone);
	rr->name2 = hfi_name_join(W("\x0a" "hostmaster"), 11, zone);
	const uint8_t soa[20] = { 0x65, 0x53, 0xf1, 0x00, 0, 0, 0x1c, 0x20, 0, 0, 0x07, 0x08,
				  0, 1, 0x51, 0x80, 0, 0, 0, 0x1e };
	rr->rdata = soa;
	rr->rdlen = 20;
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	const uint8_t want[] = "\x12\x34\x85\x03\x00\x01\x00\x00\x00\x01\x00\x00"
			       "\x04" "nope" QN_EXAMPLE "\x00\x00\x01\x00\x01"
			       QN_EXAMPLE "\x00\x00\x06\x00\x01\x00\x00\x00\x1e\x00\x40"
			       "\x02" "ns\x03" "dns" QN_EXAMPLE "\x00"
			       "\x0a" "hostmaster" QN_EXAMPLE "\x00"
			       "\x65\x53\xf1\x00\x00\x00\x1c\x20\x00\x00\x07\x08\x00\x01\x51\x80"
			       "\x00\x00\x00\x1e";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	ldns_ok(out, (size_t)n, 0, 1, 0, false, HFI_RCODE_NXDOMAIN, false);
	free(r);
}

#define QN_SRV "\x02_x\x04_tcp\x01s\x05local"

static void test_srv(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	QUERY(&m, &q, 0x0100, QN_SRV, HFI_T_SRV, -1, 0, NULL, 0, false, 4);
	hfi_resp_t *r = resp_new();
	r->aa = true;
	const uint8_t *zone = hfi_query_suffix(&q, 2); /* s.local. */
	hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_SRV, 5);
	rr->owner = hfi_name_wire(q.qname);
	const uint8_t srv[6] = { 0, 0, 0, 100, 0, 80 };
	rr->rdata = srv;
	rr->rdlen = 6;
	rr->name1 = hfi_name_join(W("\x03web"), 4, zone);
	/* the additional record is added first: the packer groups sections */
	r->nrr = 0;
	add_a(r, HFI_SEC_ADDITIONAL, hfi_name_join(W("\x03web"), 4, zone), 5, 9);
	hfi_rr_t *rs = hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_SRV, 5);
	rs->owner = hfi_name_wire(q.qname);
	rs->rdata = srv;
	rs->rdlen = 6;
	rs->name1 = hfi_name_join(W("\x03web"), 4, zone);
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	const uint8_t want[] = "\x12\x34\x85\x00\x00\x01\x00\x01\x00\x00\x00\x01"
			       QN_SRV "\x00\x00\x21\x00\x01"
			       QN_SRV "\x00\x00\x21\x00\x01\x00\x00\x00\x05\x00\x13"
			       "\x00\x00\x00\x64\x00\x50\x03web\x01s\x05local\x00"
			       "\x03web\x01s\x05local\x00\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04"
			       "\xc0\x00\x02\x09";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	ldns_ok(out, (size_t)n, 1, 0, 1, false, 0, false);
	free(r);
}

/* SRV targets are never compressed but are recorded as compression targets */
static void test_srv_compressed(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	QUERY(&m, &q, 0x0100, QN_SRV, HFI_T_SRV, -1, 0, NULL, 0, false, 4);
	hfi_resp_t *r = resp_new();
	const uint8_t *zone = hfi_query_suffix(&q, 2);
	static uint8_t hosts[8][4];
	const uint8_t srv[6] = { 0, 0, 0, 100, 0, 80 };
	for (int i = 0; i < 8; i++) {
		hosts[i][0] = 2;
		hosts[i][1] = 'h';
		hosts[i][2] = (uint8_t)('0' + i);
		hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_SRV, 5);
		rr->owner = hfi_name_wire(q.qname);
		rr->rdata = srv;
		rr->rdlen = 6;
		rr->name1 = hfi_name_join(hosts[i], 3, zone);
		add_a(r, HFI_SEC_ADDITIONAL, hfi_name_join(hosts[i], 3, zone), 5, (uint8_t)i);
	}
	/* uncompressed 33 + 8*45 + 8*26 = 601 > 512: truncation path; all fit
	 * compressed: 33 + 8*30 + 8*16 = 401 */
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 401);
	assert_memory_equal(out, "\x12\x34\x81\x00\x00\x01\x00\x08\x00\x00\x00\x08", 12);
	const uint8_t rr1[] = "\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x05\x00\x12"
			      "\x00\x00\x00\x64\x00\x50\x02h0\x01s\x05local";
	assert_memory_equal(out + 33, rr1, sizeof(rr1));
	const uint8_t rr2[] = "\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x05\x00\x12"
			      "\x00\x00\x00\x64\x00\x50\x02h1\x01s\x05local";
	assert_memory_equal(out + 63, rr2, sizeof(rr2));
	/* the A owners point at the SRV targets (offsets 51, 81, ...) */
	const uint8_t a1[] = "\xc0\x33\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\xc0\x00\x02\x00";
	assert_memory_equal(out + 273, a1, 16);
	const uint8_t a8[] = "\xc1\x05\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\xc0\x00\x02\x07";
	assert_memory_equal(out + 273 + 7 * 16, a8, 16); /* 51 + 7*30 = 261 = 0x105 */
	ldns_ok(out, (size_t)n, 8, 0, 8, false, 0, false);
	free(r);
}

#define QN_HL "\x08headless\x02ns\x03svc\x07" "cluster\x05local"

static void test_truncate(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	hfi_resp_t *r = resp_new();

	/* UDP without EDNS: 512 bytes; 47 + 16 per compressed A record */
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, -1, 0, NULL, 0, false, 4);
	for (int i = 0; i < 50; i++)
		add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, (uint8_t)i);
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 47 + 29 * 16);
	assert_memory_equal(out, "\x12\x34\x83\x00\x00\x01\x00\x1d\x00\x00\x00\x00", 12);
	assert_memory_equal(out + 47, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\xc0\x00\x02\x00", 16);
	ldns_ok(out, (size_t)n, 29, 0, 0, true, 0, false);

	/* EDNS 512 with a cookie: the OPT (23 bytes) is kept at the end */
	const uint8_t ck[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, 512, 0x8000, ck, sizeof(ck), false, 4);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 47 + 27 * 16 + 23);
	assert_memory_equal(out, "\x12\x34\x83\x00\x00\x01\x00\x1b\x00\x00\x00\x01", 12);
	assert_memory_equal(out + 47 + 27 * 16,
			    "\x00\x00\x29\x02\x00\x00\x00\x80\x00\x00\x0c\x00\x0a\x00\x08", 15);
	ldns_ok(out, (size_t)n, 27, 0, 0, true, 0, true);

	/* EDNS size below 512 counts as 512 */
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, 100, 0, NULL, 0, false, 4);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 47 + 28 * 16 + 11); /* (512-11-47)/16 = 28.4 */

	/* TCP: 65535, everything fits uncompressed */
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, -1, 0, NULL, 0, true, 4);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 47 + 50 * 45);
	assert_int_equal(out[2] & 0x02, 0);
	ldns_ok(out, (size_t)n, 50, 0, 0, false, 0, false);

	/* an exact fit ends the walk: 30 answers fill 527 bytes, the SOA in
	 * the authority section is dropped and TC set */
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, -1, 0, NULL, 0, false, 4);
	hfi_resp_reset(r);
	for (int i = 0; i < 30; i++)
		add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, (uint8_t)i);
	hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_AUTHORITY, HFI_T_SOA, 5);
	const uint8_t soa[20] = { 0 };
	rr->owner = hfi_name_wire(hfi_query_suffix(&q, 2));
	rr->name1 = hfi_name_wire(W(""));
	rr->name2 = hfi_name_wire(W(""));
	rr->rdata = soa;
	rr->rdlen = 20;
	n = hfi_msg_pack(&q, r, out, sizeof(out), 527);
	assert_int_equal(n, 527);
	assert_memory_equal(out, "\x12\x34\x83\x00\x00\x01\x00\x1e\x00\x00\x00\x00", 12);
	ldns_ok(out, (size_t)n, 30, 0, 0, true, 0, false);
	/* one byte more: the SOA fits (compressed owner: 2+10+1+1+20 = 34) */
	n = hfi_msg_pack(&q, r, out, sizeof(out), 527 + 34);
	assert_int_equal(n, 527 + 34);
	assert_int_equal(out[2] & 0x02, 0);
	ldns_ok(out, (size_t)n, 30, 1, 0, false, 0, false);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 527 + 33);
	assert_int_equal(n, 527);
	assert_int_equal(out[2] & 0x02, 0x02);

	/* a TC bit set by the plugin survives */
	hfi_resp_reset(r);
	r->tc = true;
	add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, 1);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 47 + 45);
	ldns_ok(out, (size_t)n, 1, 0, 0, true, 0, false);
	free(r);
}

static void test_big_udp_compressed(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	hfi_resp_t *r = resp_new();
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, 4096, 0, NULL, 0, false, 4);
	for (int i = 0; i < 40; i++)
		add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, (uint8_t)i);
	/* 12+35+40*45+11 = 1858 > 1480: compressed, no TC */
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 47 + 40 * 16 + 11);
	assert_int_equal(out[2] & 0x02, 0);
	ldns_ok(out, (size_t)n, 40, 0, 0, false, 0, true);
	/* over TCP it stays uncompressed */
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, 4096, 0, NULL, 0, true, 4);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 1858);
	ldns_ok(out, (size_t)n, 40, 0, 0, false, 0, true);

	/* 30 records = 1408 bytes: compressed over IPv6 (> 1220) only */
	hfi_resp_reset(r);
	for (int i = 0; i < 30; i++)
		add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, (uint8_t)i);
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, 4096, 0, NULL, 0, false, 4);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 1408);
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, 4096, 0, NULL, 0, false, 6);
	n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
	assert_int_equal(n, 47 + 30 * 16 + 11);
	ldns_ok(out, (size_t)n, 30, 0, 0, false, 0, true);
	/* unknown family counts as IPv4 */
	QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, 4096, 0, NULL, 0, false, 0);
	assert_int_equal(hfi_msg_pack(&q, r, out, sizeof(out), 0), 1408);
	free(r);
}

/* compression is case-sensitive (miekg keys the map by the name string) and
 * covers CNAME, NS, PTR, MX and SOA rdata */
static void test_compression_rdata(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	hfi_resp_t *r = resp_new();
	QUERY(&m, &q, 0x0100, "\x03Www\x07" "Example\x03" "com", HFI_T_CNAME, -1, 0, NULL, 0, false, 4);
	hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_CNAME, 5);
	rr->owner = hfi_name_wire(q.qname);
	rr->name1 = hfi_name_wire(W("\x03www\x07" "example\x03" "com"));
	rr = hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_PTR, 5);
	rr->owner = hfi_name_wire(W("\x03www\x07" "example\x03" "com"));
	rr->name1 = hfi_name_wire(W("\x07" "Example\x03" "com"));
	rr = hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_MX, 5);
	rr->owner = hfi_name_wire(W("\x01" "a\x07" "Example\x03" "com"));
	rr->rdata = W("\x00\x0a");
	rr->rdlen = 2;
	rr->name1 = hfi_name_join(W("\x02mx"), 3, W("\x03www\x07" "example\x03" "com"));
	rr = hfi_resp_add(r, HFI_SEC_AUTHORITY, HFI_T_NS, 5);
	rr->owner = hfi_name_wire(W("\x07" "Example\x03" "com"));
	rr->name1 = hfi_name_wire(W("\x02ns\x07" "Example\x03" "com"));
	/* pad with big TXT records past 1480 so the UDP rule compresses */
	static uint8_t txt[1100];
	memset(txt, 'x', sizeof(txt));
	txt[0] = 255;
	txt[256] = 255;
	txt[512] = 255;
	txt[768] = 255;
	txt[1024] = 75;
	rr = hfi_resp_add(r, HFI_SEC_ADDITIONAL, HFI_T_TXT, 5);
	rr->owner = hfi_name_wire(W("\x03www\x07" "example\x03" "com"));
	rr->rdata = txt;
	rr->rdlen = sizeof(txt);
	static uint8_t txt2[400];
	memset(txt2, 'y', sizeof(txt2));
	txt2[0] = 255;
	txt2[256] = 143;
	rr = hfi_resp_add(r, HFI_SEC_ADDITIONAL, HFI_T_TXT, 5);
	rr->owner = hfi_name_wire(W("\x03" "txt\x07" "example\x03" "com"));
	rr->rdata = txt2;
	rr->rdlen = sizeof(txt2);
	int n = hfi_msg_pack(&q, r, out, sizeof(out), 4096);
	/*
	 * 12: header
	 * 12: question Www.Example.com. (17) CNAME IN          -> 33
	 *     map: Www.Example.com.@12 Example.com.@16 com.@24
	 * 33: CNAME owner c00c, rdata www.example.com.: "www" "example" new,
	 *     com. -> c018: 4+8+2 = 14                         -> 33+12+14 = 59
	 *     map: www.example.com.@45 example.com.@49
	 * 59: PTR owner www.example.com. -> c02d; rdata Example.com. -> c010
	 *                                                      -> 59+12+2 = 73
	 * 73: MX owner a.Example.com.: "a" + c010 = 4; pref; mx.www.example.com.:
	 *     "mx" + c02d = 5                                  -> 73+4+10+2+5 = 94
	 * 94: NS owner Example.com. c010; ns.Example.com.: "ns" + c010 = 5 -> 94+12+5 = 111
	 * 111: TXT owner c02d, 1100 bytes                      -> 111+12+1100 = 1223
	 * 1223: TXT owner "txt" + c031, 400 bytes               -> 1223+6+10+400 = 1639
	 */
	assert_int_equal(n, 1639);
	assert_memory_equal(out + 33, "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x05\x00\x0e"
				      "\x03www\x07" "example\xc0\x18", 26);
	assert_memory_equal(out + 59, "\xc0\x2d\x00\x0c\x00\x01\x00\x00\x00\x05\x00\x02\xc0\x10", 14);
	assert_memory_equal(out + 73, "\x01" "a\xc0\x10\x00\x0f\x00\x01\x00\x00\x00\x05\x00\x07"
				      "\x00\x0a\x02mx\xc0\x2d", 21);
	assert_memory_equal(out + 94, "\xc0\x10\x00\x02\x00\x01\x00\x00\x00\x05\x00\x05"
				      "\x02ns\xc0\x10", 17);
	assert_memory_equal(out + 111, "\xc0\x2d\x00\x10", 4);
	assert_memory_equal(out + 1223, "\x03txt\xc0\x31\x00\x10", 8);
	ldns_ok(out, (size_t)n, 3, 1, 2, false, 0, false);
	free(r);
}

static void test_errors(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	/* FORMERR (two questions): header only; AA and Z cleared, TC RD RA AD
	 * CD kept, opcode QUERY */
	m.n = 0;
	S(&m, "\xab\xcd\x07\xf0\x00\x02\x00\x00\x00\x00\x00\x00");
	assert_int_equal(hfi_query_parse(&q, m.b, m.n, false), HFI_Q_FORMERR);
	int n = hfi_msg_error(&q, HFI_RCODE_FORMERR, out, sizeof(out));
	assert_int_equal(n, 12);
	assert_memory_equal(out, "\xab\xcd\x83\xb1\x00\x00\x00\x00\x00\x00\x00\x00", 12);
	ldns_ok(out, 12, 0, 0, 0, true, HFI_RCODE_FORMERR, false);

	/* FORMERR for NOTIFY: the opcode becomes QUERY */
	m.n = 0;
	S(&m, "\xab\xcd\x20\x00\x00\x01\x00\x02\x00\x00\x00\x00");
	assert_int_equal(hfi_query_parse(&q, m.b, m.n, false), HFI_Q_FORMERR);
	n = hfi_msg_error(&q, HFI_RCODE_FORMERR, out, sizeof(out));
	assert_memory_equal(out, "\xab\xcd\x80\x01\x00\x00", 6);

	/* NOTIMP keeps the opcode */
	m.n = 0;
	S(&m, "\xab\xcd\x11\x00\x00\x01\x00\x00\x00\x00\x00\x00");
	assert_int_equal(hfi_query_parse(&q, m.b, m.n, false), HFI_Q_NOTIMP);
	n = hfi_msg_error(&q, HFI_RCODE_NOTIMP, out, sizeof(out));
	assert_int_equal(n, 12);
	assert_memory_equal(out, "\xab\xcd\x91\x04\x00\x00\x00\x00\x00\x00\x00\x00", 12);

	/* FORMERR after the question was read: the question is echoed (with
	 * the type/class as read), the OPT is not */
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_AAAA, 1232, 0, NULL, 0, false, 4);
	m.b[m.n - 1] = 1; /* rdlen 1 with no byte: broken OPT */
	m.b[m.n - 2] = 0;
	assert_int_equal(hfi_query_parse(&q, m.b, m.n, false), HFI_Q_FORMERR);
	n = hfi_msg_error(&q, HFI_RCODE_FORMERR, out, sizeof(out));
	const uint8_t want[] = "\x12\x34\x81\x01\x00\x01\x00\x00\x00\x00\x00\x00" QN_EXAMPLE "\x00"
			       "\x00\x1c\x00\x01";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	ldns_ok(out, (size_t)n, 0, 0, 0, false, HFI_RCODE_FORMERR, false);

	/* BADVERS: question, OPT with UDP size 0 and extended rcode 1 */
	QUERY(&m, &q, 0x0110, QN_EXAMPLE, HFI_T_A, 1232, 0x00018000u, NULL, 0, false, 4);
	n = hfi_msg_error(&q, HFI_RCODE_BADVERS, out, sizeof(out));
	const uint8_t bv[] = "\x12\x34\x81\x10\x00\x01\x00\x00\x00\x00\x00\x01" QN_EXAMPLE "\x00"
			     "\x00\x01\x00\x01\x00\x00\x29\x00\x00\x01\x00\x00\x00\x00\x00";
	assert_int_equal(n, sizeof(bv) - 1);
	assert_memory_equal(out, bv, sizeof(bv) - 1);
	ldns_ok(out, (size_t)n, 0, 0, 0, false, 0, true);

	/* other rcodes: SetRcode reply + the OPT echo (DO kept) */
	n = hfi_msg_error(&q, HFI_RCODE_SERVFAIL, out, sizeof(out));
	assert_int_equal(n, 12 + 17 + 11);
	assert_memory_equal(out, "\x12\x34\x81\x12\x00\x01\x00\x00\x00\x00\x00\x01", 12);
	assert_memory_equal(out + 29, "\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00", 11);
	QUERY(&m, &q, 0x0000, QN_EXAMPLE, HFI_T_A, -1, 0, NULL, 0, false, 4);
	n = hfi_msg_error(&q, HFI_RCODE_REFUSED, out, sizeof(out));
	assert_int_equal(n, 12 + 17);
	assert_memory_equal(out, "\x12\x34\x80\x05\x00\x01\x00\x00\x00\x00\x00\x00", 12);

	/* too small an output buffer */
	assert_int_equal(hfi_msg_error(&q, HFI_RCODE_BADVERS, out, 30), HF_ESPACE);
	assert_int_equal(hfi_msg_error(&q, HFI_RCODE_FORMERR, out, 11), HF_ESPACE);
	assert_int_equal(hfi_msg_error(NULL, HFI_RCODE_FORMERR, out, 11), HF_EINVAL);
}

static void test_pack_errors(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	hfi_resp_t *r = resp_new();
	QUERY(&m, &q, 0x0100, QN_EXAMPLE, HFI_T_A, -1, 0, NULL, 0, false, 4);
	add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 300, 1);
	for (size_t cap = 0; cap < 56; cap++)
		assert_int_equal(hfi_msg_pack(&q, r, out, cap, 0), HF_ESPACE);
	assert_int_equal(hfi_msg_pack(&q, r, out, 56, 0), 56);
	/* broken names are refused, not packed */
	r->rr[0].owner.suflen = 3;
	assert_int_equal(hfi_msg_pack(&q, r, out, sizeof(out), 0), HF_EINVAL);
	r->rr[0].owner = hfi_name_join(W("\x05" "ab"), 3, q.qname);
	assert_int_equal(hfi_msg_pack(&q, r, out, sizeof(out), 0), HF_EINVAL);
	r->rr[0].owner = hfi_name_wire(q.qname);
	r->rr[0].section = 3;
	assert_int_equal(hfi_msg_pack(&q, r, out, sizeof(out), 0), HF_EINVAL);
	r->rr[0].section = HFI_SEC_ANSWER;
	r->rr[0].type = HFI_T_CNAME; /* name1 unset */
	assert_int_equal(hfi_msg_pack(&q, r, out, sizeof(out), 0), HF_EINVAL);
	/* a question-less reply (bare header query) */
	m.n = 0;
	S(&m, "\x00\x07\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00");
	assert_int_equal(hfi_query_parse(&q, m.b, m.n, false), HFI_Q_OK);
	hfi_resp_reset(r);
	r->rcode = HFI_RCODE_SERVFAIL;
	assert_int_equal(hfi_msg_pack(&q, r, out, sizeof(out), 0), 12);
	assert_memory_equal(out, "\x00\x07\x80\x02\x00\x00\x00\x00\x00\x00\x00\x00", 12);
	free(r);
}

static void test_resp_helpers(void **state)
{
	(void)state;
	hfi_resp_t *r = resp_new();
	for (int i = 0; i < HFI_RESP_MAX_RR; i++) {
		hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_ADDITIONAL, HFI_T_AAAA, 7);
		assert_non_null(rr);
		assert_int_equal(rr->rclass, HFI_C_IN);
		assert_int_equal(rr->ttl, 7);
		assert_int_equal(rr->section, HFI_SEC_ADDITIONAL);
		assert_null(rr->rdata);
	}
	assert_null(hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_A, 1));
	assert_int_equal(r->nrr, HFI_RESP_MAX_RR);
	uint8_t *p = hfi_resp_keep(r, "abc", 3);
	assert_ptr_equal(p, r->scratch);
	assert_memory_equal(p, "abc", 3);
	assert_non_null(hfi_resp_keep(r, NULL, HFI_RESP_SCRATCH - 3));
	assert_null(hfi_resp_keep(r, "x", 1));
	r->rcode = 3;
	r->aa = r->tc = r->ra = r->raw = r->has_ede = true;
	hfi_resp_reset(r);
	assert_int_equal(r->nrr, 0);
	assert_int_equal(r->scratch_len, 0);
	assert_int_equal(r->rcode, 0);
	assert_false(r->aa || r->tc || r->ra || r->raw || r->has_ede);
	assert_string_equal(r->plugin, "");

	hfi_name_t n = hfi_name_wire(W("\x01" "a\x00"));
	assert_null(n.pre);
	assert_int_equal(n.suflen, 3);
	n = hfi_name_join(W("\x01x"), 2, W("\x01" "a"));
	assert_int_equal(n.prelen, 2);
	assert_int_equal(n.suflen, 3);
	n = hfi_name_join(W("\x01x"), 0, W(""));
	assert_null(n.pre);
	assert_int_equal(n.suflen, 1);
	free(r);
}

/* Many records, several sections, random sizes: the result always parses,
 * fits, and TC is set exactly when records were dropped. */
static void test_random_sizes(void **state)
{
	(void)state;
	buf_t m;
	hfi_query_t q;
	hfi_resp_t *r = resp_new();
	uint32_t seed = 99;
	for (int iter = 0; iter < 300; iter++) {
		seed = seed * 1103515245u + 12345u;
		int edns = (seed >> 8) % 3 == 0 ? -1 : (int)(512 + (seed >> 12) % 3000);
		bool tcp = (seed >> 20) % 5 == 0;
		QUERY(&m, &q, 0x0100, QN_HL, HFI_T_A, edns, 0, NULL, 0, tcp, (seed >> 24) & 1 ? 6 : 4);
		hfi_resp_reset(r);
		int na = (int)((seed >> 4) % 120), nx = (int)((seed >> 9) % 40);
		for (int i = 0; i < na; i++)
			add_a(r, HFI_SEC_ANSWER, hfi_name_wire(q.qname), 5, (uint8_t)i);
		for (int i = 0; i < nx; i++) {
			hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_ADDITIONAL, HFI_T_SRV, 5);
			rr->owner = hfi_name_wire(hfi_query_suffix(&q, 3));
			rr->rdata = W("\x00\x01\x00\x02\x00\x03");
			rr->rdlen = 6;
			rr->name1 = hfi_name_join(W("\x02xx"), 3, hfi_query_suffix(&q, 4));
		}
		int n = hfi_msg_pack(&q, r, out, sizeof(out), 0);
		assert_true(n > 0);
		size_t limit = tcp ? 65535 : (edns < 512 ? 512 : (size_t)edns);
		assert_true((size_t)n <= limit);
		ldns_pkt *p = NULL;
		assert_int_equal(ldns_wire2pkt(&p, out, (size_t)n), LDNS_STATUS_OK);
		size_t got = ldns_pkt_ancount(p) + ldns_pkt_arcount(p);
		assert_int_equal(ldns_pkt_tc(p), got < (size_t)(na + nx));
		assert_int_equal(ldns_pkt_edns(p), edns >= 0);
		ldns_pkt_free(p);
	}
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_plain),
		cmocka_unit_test(test_a_edns),
		cmocka_unit_test(test_option_echo),
		cmocka_unit_test(test_soa_nxdomain),
		cmocka_unit_test(test_srv),
		cmocka_unit_test(test_srv_compressed),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_big_udp_compressed),
		cmocka_unit_test(test_compression_rdata),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_pack_errors),
		cmocka_unit_test(test_resp_helpers),
		cmocka_unit_test(test_random_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
