/*
 * test_query.c: hfi_query_parse() against the decisions miekg/dns v1.1.72
 * makes before CoreDNS sees a query (DefaultMsgAcceptFunc, Msg.unpack,
 * IsEdns0) and the fields it records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "holdfast.h"
#include "query.h"

/* a tiny message builder */
typedef struct {
	uint8_t b[2048];
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

static void u32(buf_t *m, uint32_t v)
{
	u16(m, (uint16_t)(v >> 16));
	u16(m, (uint16_t)v);
}

#define S(m, lit) raw((m), (lit), sizeof(lit) - 1)
#define NAME(m, lit) raw((m), (lit), sizeof(lit)) /* with the root byte */

static void hdr(buf_t *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
		uint16_t ar)
{
	m->n = 0;
	u16(m, id);
	u16(m, flags);
	u16(m, qd);
	u16(m, an);
	u16(m, ns);
	u16(m, ar);
}

/* header + "www.Example.com. A IN" */
static void query_a(buf_t *m, uint16_t ar)
{
	hdr(m, 0xBEEF, 0x0100, 1, 0, 0, ar);
	NAME(m, "\x03www\x07" "Example\x03" "com");
	u16(m, 1);
	u16(m, 1);
}

static void opt(buf_t *m, uint16_t size, uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	uint8_t root = 0;
	raw(m, &root, 1);
	u16(m, 41);
	u16(m, size);
	u32(m, ttl);
	u16(m, rdlen);
	if (rdlen)
		raw(m, rdata, rdlen);
}

static int parse(hfi_query_t *q, const buf_t *m)
{
	return hfi_query_parse(q, m->b, m->n, false);
}

static void test_drop(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	assert_int_equal(hfi_query_parse(&q, NULL, 0, false), HFI_Q_DROP);
	query_a(&m, 0);
	for (size_t l = 0; l < 12; l++)
		assert_int_equal(hfi_query_parse(&q, m.b, l, false), HFI_Q_DROP);
	m.b[2] |= 0x80; /* QR */
	assert_int_equal(parse(&q, &m), HFI_Q_DROP);
	/* QR wins over a bad opcode and bad counts */
	hdr(&m, 1, 0x8000 | (5 << 11), 7, 7, 7, 7);
	assert_int_equal(parse(&q, &m), HFI_Q_DROP);
}

static void test_notimp(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	for (unsigned op = 0; op < 16; op++) {
		query_a(&m, 0);
		m.b[2] = (uint8_t)((m.b[2] & 0x87) | (op << 3));
		int want = (op == 0 || op == 4) ? HFI_Q_OK : HFI_Q_NOTIMP;
		assert_int_equal(parse(&q, &m), want);
		assert_int_equal(q.opcode, op);
		assert_int_equal(q.id, 0xBEEF);
	}
	/* opcode is checked before the counts */
	hdr(&m, 2, 2 << 11, 0, 5, 0, 0);
	assert_int_equal(parse(&q, &m), HFI_Q_NOTIMP);
	assert_null(q.qname);
}

static void test_formerr_counts(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	const uint16_t bad[][4] = { { 0, 0, 0, 0 }, { 2, 0, 0, 0 }, { 1, 2, 0, 0 },
				    { 1, 0, 2, 0 }, { 1, 0, 0, 3 }, { 65535, 0, 0, 0 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		query_a(&m, 0);
		m.b[4] = (uint8_t)(bad[i][0] >> 8);
		m.b[5] = (uint8_t)bad[i][0];
		m.b[7] = (uint8_t)bad[i][1];
		m.b[9] = (uint8_t)bad[i][2];
		m.b[11] = (uint8_t)bad[i][3];
		assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
		assert_null(q.qname); /* rejected before the question was read */
	}
	/* an = 1, ns = 1, ar = 2 is the most the accept function allows; the
	 * message ends after the question, so the counts "lie" (accepted) */
	query_a(&m, 2);
	m.b[7] = 1;
	m.b[9] = 1;
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
}

static void test_simple_query(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	query_a(&m, 0);
	m.b[3] = 0x30; /* AD + CD */
	assert_int_equal(hfi_query_parse(&q, m.b, m.n, true), HFI_Q_OK);
	assert_true(q.tcp);
	assert_int_equal(q.id, 0xBEEF);
	assert_int_equal(q.flags, 0x0130);
	assert_true(q.rd);
	assert_true(q.ad);
	assert_true(q.cd);
	assert_int_equal(q.qdcount, 1);
	assert_ptr_equal(q.qname, m.b + 12);
	assert_int_equal(q.qname_len, 17);
	assert_memory_equal(q.lname, "\x03www\x07" "example\x03" "com", 17);
	assert_int_equal(q.nlabels, 3);
	assert_int_equal(q.label_off[0], 0);
	assert_int_equal(q.label_off[1], 4);
	assert_int_equal(q.label_off[2], 12);
	assert_int_equal(q.qtype, 1);
	assert_int_equal(q.qclass, 1);
	assert_false(q.has_edns);
	assert_int_equal(q.question_end, 12 + 17 + 4);
	assert_ptr_equal(hfi_query_suffix(&q, 2), m.b + 12 + 4);
	assert_ptr_equal(hfi_query_suffix(&q, 3), m.b + 12);
	assert_ptr_equal(hfi_query_suffix(&q, 7), m.b + 12);
	assert_ptr_equal(hfi_query_suffix(&q, 0), m.b + 12 + 16);

	/* root query */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	NAME(&m, "");
	u16(&m, 2);
	u16(&m, 1);
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_int_equal(q.qname_len, 1);
	assert_int_equal(q.nlabels, 0);
	assert_int_equal(q.qtype, 2);
	assert_ptr_equal(hfi_query_suffix(&q, 1), q.qname);
}

static void test_header_only_and_partial_question(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	/* a bare header with qdcount 1: miekg accepts it without a question */
	hdr(&m, 7, 0, 1, 0, 0, 0);
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_null(q.qname);
	assert_null(hfi_query_suffix(&q, 1));

	query_a(&m, 0);
	size_t qn_end = 12 + 17;
	/* name only: type and class 0 */
	assert_int_equal(hfi_query_parse(&q, m.b, qn_end, false), HFI_Q_OK);
	assert_non_null(q.qname);
	assert_int_equal(q.qtype, 0);
	assert_int_equal(q.qclass, 0);
	/* one byte of type: error */
	assert_int_equal(hfi_query_parse(&q, m.b, qn_end + 1, false), HFI_Q_FORMERR);
	assert_null(q.qname);
	/* type only */
	assert_int_equal(hfi_query_parse(&q, m.b, qn_end + 2, false), HFI_Q_OK);
	assert_int_equal(q.qtype, 1);
	assert_int_equal(q.qclass, 0);
	/* type + one byte of class: miekg lets that through with class 0 */
	assert_int_equal(hfi_query_parse(&q, m.b, qn_end + 3, false), HFI_Q_OK);
	assert_int_equal(q.qtype, 1);
	assert_int_equal(q.qclass, 0);
	assert_int_equal(q.question_end, qn_end + 3);
	/* name cut short */
	for (size_t l = 13; l < qn_end; l++)
		assert_int_equal(hfi_query_parse(&q, m.b, l, false), HFI_Q_FORMERR);
}

static void test_compressed_qname(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	/* "www" + pointer to "Example.com." stored after the question (trailing
	 * bytes are ignored by miekg, forward pointers are followed) */
	hdr(&m, 9, 0, 1, 0, 0, 0);
	S(&m, "\x03www\xC0\x16"); /* 0x16 = 22 */
	u16(&m, 28);
	u16(&m, 1);
	assert_int_equal(m.n, 22);
	NAME(&m, "\x07" "Example\x03" "com");
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_ptr_equal(q.qname, q.qname_buf);
	assert_int_equal(q.qname_len, 17);
	assert_memory_equal(q.qname, "\x03www\x07" "Example\x03" "com", 17);
	assert_memory_equal(q.lname, "\x03www\x07" "example\x03" "com", 17);
	assert_int_equal(q.qtype, 28);
	assert_int_equal(q.question_end, 22);
	assert_int_equal(q.nlabels, 3);
	assert_ptr_equal(hfi_query_suffix(&q, 2), q.qname_buf + 4);

	/* a pointer to itself loops: stopped after 126 pointers */
	hdr(&m, 9, 0, 1, 0, 0, 0);
	S(&m, "\xC0\x0C");
	u16(&m, 1);
	u16(&m, 1);
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
	/* two pointers pointing at each other */
	hdr(&m, 9, 0, 1, 0, 0, 0);
	S(&m, "\xC0\x12");
	u16(&m, 1);
	u16(&m, 1);
	S(&m, "\xC0\x0C");
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
	/* pointer past the end */
	hdr(&m, 9, 0, 1, 0, 0, 0);
	S(&m, "\xC0\xFF");
	u16(&m, 1);
	u16(&m, 1);
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
	/* reserved label types 0x40 / 0x80 */
	hdr(&m, 9, 0, 1, 0, 0, 0);
	S(&m, "\x41" "a");
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
	hdr(&m, 9, 0, 1, 0, 0, 0);
	S(&m, "\x81" "a");
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
	/* a chain of 126 pointers is fine, 127 is not */
	for (int chain = 126; chain <= 127; chain++) {
		hdr(&m, 9, 0, 1, 0, 0, 0);
		size_t start = m.n;
		/* pointer i at start + 2*i points to pointer i+1; the last
		 * one points at a root label */
		for (int i = 0; i < chain; i++) {
			size_t target = start + 2 * (size_t)(i + 1);
			uint8_t p[2] = { (uint8_t)(0xC0 | (target >> 8)), (uint8_t)target };
			raw(&m, p, 2);
		}
		NAME(&m, "");
		/* the question's type/class follow the first pointer, so
		 * they read the second pointer's bytes; fine for this test */
		int st = parse(&q, &m);
		assert_int_equal(st, chain == 126 ? HFI_Q_OK : HFI_Q_FORMERR);
	}
}

static void test_name_limits(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	/* 3 x 63 + 61 = wire 255: OK; one more byte: FORMERR */
	for (int extra = 0; extra <= 1; extra++) {
		hdr(&m, 1, 0, 1, 0, 0, 0);
		uint8_t lab[64];
		memset(lab, 'a', sizeof(lab));
		for (int i = 0; i < 3; i++) {
			uint8_t l = 63;
			raw(&m, &l, 1);
			raw(&m, lab, 63);
		}
		uint8_t l = (uint8_t)(61 + extra);
		raw(&m, &l, 1);
		raw(&m, lab, l);
		NAME(&m, "");
		u16(&m, 1);
		u16(&m, 1);
		int st = parse(&q, &m);
		assert_int_equal(st, extra ? HFI_Q_FORMERR : HFI_Q_OK);
		if (!extra) {
			assert_int_equal(q.qname_len, 255);
			assert_int_equal(q.nlabels, 4);
			assert_int_equal(q.label_off[3], 192);
		}
	}
	/* 127 one-byte labels = wire 255 */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	for (int i = 0; i < 127; i++)
		S(&m, "\x01x");
	NAME(&m, "");
	u16(&m, 1);
	u16(&m, 1);
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_int_equal(q.nlabels, 127);
	assert_int_equal(q.label_off[126], 252);
}

static void test_edns(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	query_a(&m, 1);
	const uint8_t cookie[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	opt(&m, 1232, 0x00008000u, cookie, sizeof(cookie));
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_size, 1232);
	assert_int_equal(q.edns_version, 0);
	assert_true(q.do_bit);
	assert_int_equal(q.edns_flags, 0x8000);
	assert_int_equal(q.opt_rdlen, sizeof(cookie));
	assert_memory_equal(q.opt_rdata, cookie, sizeof(cookie));

	/* version 1: BADVERS, everything still filled in */
	query_a(&m, 1);
	opt(&m, 4096, 0x05010000u, NULL, 0);
	assert_int_equal(parse(&q, &m), HFI_Q_BADVERS);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_version, 1);
	assert_int_equal(q.edns_size, 4096);
	assert_false(q.do_bit);
	assert_non_null(q.qname);
	assert_int_equal(q.qtype, 1);

	/* two OPT records: the last one counts (miekg IsEdns0), no error */
	query_a(&m, 2);
	opt(&m, 1000, 0, NULL, 0);
	opt(&m, 2000, 0x8000, NULL, 0);
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_int_equal(q.edns_size, 2000);
	assert_true(q.do_bit);

	/* an OPT whose owner is not the root is still the OPT */
	query_a(&m, 1);
	S(&m, "\x01x");
	NAME(&m, "");
	u16(&m, 41);
	u16(&m, 777);
	u32(&m, 0);
	u16(&m, 0);
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_int_equal(q.edns_size, 777);

	/* an OPT in the answer section is not EDNS */
	query_a(&m, 0);
	m.b[7] = 1;
	opt(&m, 1232, 0, NULL, 0);
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_false(q.has_edns);
}

static void test_edns_options(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	struct {
		uint8_t rd[32];
		uint16_t len;
		int want;
	} cases[] = {
		{ { 0, 8, 0, 8, 0, 1, 24, 0, 10, 0, 0, 0 }, 12, HFI_Q_OK },   /* ECS v4 /24 */
		{ { 0, 8, 0, 4, 0, 0, 0, 0 }, 8, HFI_Q_OK },                  /* ECS family 0 */
		{ { 0, 8, 0, 4, 0, 0, 1, 0 }, 8, HFI_Q_FORMERR },             /* family 0 mask 1 */
		{ { 0, 8, 0, 4, 0, 1, 33, 0 }, 8, HFI_Q_FORMERR },            /* v4 mask 33 */
		{ { 0, 8, 0, 4, 0, 2, 128, 0 }, 8, HFI_Q_OK },                /* v6 /128 */
		{ { 0, 8, 0, 4, 0, 2, 0, 129 }, 8, HFI_Q_FORMERR },           /* v6 scope 129 */
		{ { 0, 8, 0, 4, 0, 3, 0, 0 }, 8, HFI_Q_FORMERR },             /* family 3 */
		{ { 0, 8, 0, 3, 0, 1, 0 }, 7, HFI_Q_FORMERR },                /* ECS short */
		{ { 0, 9, 0, 0 }, 4, HFI_Q_OK },                              /* EXPIRE empty */
		{ { 0, 9, 0, 2, 0, 0 }, 6, HFI_Q_FORMERR },                   /* EXPIRE short */
		{ { 0, 11, 0, 0 }, 4, HFI_Q_OK },                             /* keepalive */
		{ { 0, 11, 0, 2, 0, 5 }, 6, HFI_Q_OK },
		{ { 0, 11, 0, 1, 0 }, 5, HFI_Q_FORMERR },
		{ { 0, 15, 0, 1, 0 }, 5, HFI_Q_FORMERR },                     /* EDE short */
		{ { 0, 2, 0, 4, 0, 0, 0, 1 }, 8, HFI_Q_OK },                  /* UL 4 */
		{ { 0, 2, 0, 5, 0, 0, 0, 1, 0 }, 9, HFI_Q_FORMERR },          /* UL 5 */
		{ { 0, 1, 0, 2, 0, 0 }, 6, HFI_Q_FORMERR },                   /* LLQ short */
		{ { 0xFD, 0xE9, 0, 3, 1, 2, 3 }, 7, HFI_Q_OK },               /* local */
		{ { 0, 10, 0, 9, 1 }, 5, HFI_Q_FORMERR },                     /* option overflows */
		{ { 0, 10, 0 }, 3, HFI_Q_FORMERR },                           /* half an option header */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		query_a(&m, 1);
		opt(&m, 1232, 0, cases[i].rd, cases[i].len);
		int st = parse(&q, &m);
		if (st != cases[i].want)
			fail_msg("case %zu: got %d want %d", i, st, cases[i].want);
		if (st == HFI_Q_FORMERR) {
			/* question read, so the FORMERR reply echoes it; EDNS of a
			 * broken message is not used */
			assert_non_null(q.qname);
			assert_false(q.has_edns);
		}
	}
}

static void test_records(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	/* answer record with given type/rdata */
	struct {
		uint16_t type;
		uint8_t rd[40];
		uint16_t len;
		int want;
	} cases[] = {
		{ 1, { 192, 0, 2, 1 }, 4, HFI_Q_OK },
		{ 1, { 192, 0, 2 }, 3, HFI_Q_FORMERR },
		{ 1, { 192, 0, 2, 1, 9 }, 5, HFI_Q_FORMERR },
		{ 1, { 0 }, 0, HFI_Q_OK },                     /* no rdata at all */
		{ 28, { 0 }, 15, HFI_Q_FORMERR },
		{ 28, { 0 }, 16, HFI_Q_OK },
		{ 5, { 1, 'a', 0 }, 3, HFI_Q_OK },             /* CNAME a. */
		{ 5, { 1, 'a', 0, 0 }, 4, HFI_Q_FORMERR },     /* trailing byte */
		{ 5, { 1, 'a' }, 2, HFI_Q_FORMERR },           /* name cut */
		{ 5, { 0xC0, 12 }, 2, HFI_Q_OK },              /* pointer to the qname */
		{ 6, { 0 }, 1, HFI_Q_OK },                     /* SOA: mname only */
		{ 6, { 0, 0 }, 2, HFI_Q_OK },                  /* mname + rname */
		{ 6, { 0, 0, 0, 0, 0 }, 5, HFI_Q_FORMERR },    /* serial cut */
		{ 6, { 0, 0, 0, 0, 0, 1 }, 6, HFI_Q_OK },      /* ... serial */
		{ 15, { 0 }, 1, HFI_Q_FORMERR },               /* MX pref cut */
		{ 15, { 0, 10 }, 2, HFI_Q_OK },                /* MX pref only */
		{ 15, { 0, 10, 0 }, 3, HFI_Q_OK },
		{ 33, { 0, 1, 0, 2, 0, 3, 0 }, 7, HFI_Q_OK },  /* SRV */
		{ 33, { 0, 1, 0, 2, 0 }, 5, HFI_Q_FORMERR },
		{ 16, { 2, 'h', 'i', 0 }, 4, HFI_Q_OK },       /* TXT "hi" "" */
		{ 16, { 3, 'h', 'i' }, 3, HFI_Q_FORMERR },
		{ 13, { 1, 'x', 1, 'y' }, 4, HFI_Q_OK },       /* HINFO */
		{ 13, { 1, 'x', 2, 'y' }, 4, HFI_Q_FORMERR },
		{ 255, { 1 }, 1, HFI_Q_FORMERR },              /* ANY has no rdata */
		{ 65280, { 1, 2, 3 }, 3, HFI_Q_OK },           /* unknown: opaque */
		{ 41, { 0, 10, 0, 0 }, 4, HFI_Q_OK },          /* OPT in the answer */
		{ 41, { 0, 10, 0, 1 }, 4, HFI_Q_FORMERR },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		query_a(&m, 0);
		m.b[7] = 1;
		S(&m, "\xC0\x0C");
		u16(&m, cases[i].type);
		u16(&m, 1);
		u32(&m, 300);
		u16(&m, cases[i].len);
		raw(&m, cases[i].rd, cases[i].len);
		int st = parse(&q, &m);
		if (st != cases[i].want)
			fail_msg("case %zu (type %u): got %d want %d", i, cases[i].type, st,
				 cases[i].want);
	}

	/* rdlength past the end, header cut short */
	query_a(&m, 0);
	m.b[7] = 1;
	S(&m, "\xC0\x0C");
	u16(&m, 1);
	u16(&m, 1);
	u32(&m, 300);
	u16(&m, 4);
	S(&m, "\x01\x02\x03");
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
	for (size_t cut = 1; cut < 10; cut++) {
		query_a(&m, 0);
		m.b[7] = 1;
		S(&m, "\xC0\x0C");
		u16(&m, 1);
		u16(&m, 1);
		u32(&m, 300);
		u16(&m, 0);
		assert_int_equal(hfi_query_parse(&q, m.b, m.n - cut, false), HFI_Q_FORMERR);
	}
	/* a name in rdata may not point past the end of its rdata (miekg
	 * cuts the message there) */
	query_a(&m, 0);
	m.b[7] = 1;
	S(&m, "\xC0\x0C");
	u16(&m, 5);
	u16(&m, 1);
	u32(&m, 300);
	u16(&m, 2);
	S(&m, "\xC0\x2F"); /* 0x2F = 47: the first byte after this rdata */
	NAME(&m, "");
	assert_int_equal(m.n, 48);
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);

	/* trailing garbage after the counted records is ignored */
	query_a(&m, 0);
	S(&m, "garbage\xC0\xC0\xFF");
	assert_int_equal(parse(&q, &m), HFI_Q_OK);

	/* NOTIFY with an SOA in the answer section */
	query_a(&m, 0);
	m.b[2] = 4 << 3;
	m.b[5] = 1;
	m.b[7] = 1;
	S(&m, "\xC0\x10");
	u16(&m, 6);
	u16(&m, 1);
	u32(&m, 0);
	u16(&m, 22);
	S(&m, "\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05");
	assert_int_equal(parse(&q, &m), HFI_Q_OK);
	assert_int_equal(q.opcode, 4);
}

static void test_loop_in_additional(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	/* the additional record's owner points at itself */
	query_a(&m, 1);
	size_t at = m.n;
	uint8_t p[2] = { (uint8_t)(0xC0 | (at >> 8)), (uint8_t)at };
	raw(&m, p, 2);
	u16(&m, 1);
	u16(&m, 1);
	u32(&m, 0);
	u16(&m, 0);
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
	assert_non_null(q.qname);
	/* an SOA in the authority section whose rname loops via the mname */
	query_a(&m, 0);
	m.b[9] = 1;
	S(&m, "\xC0\x0C");
	u16(&m, 6);
	u16(&m, 1);
	u32(&m, 0);
	u16(&m, 4);
	size_t rd = m.n;
	uint8_t l2[4] = { (uint8_t)(0xC0 | ((rd + 2) >> 8)), (uint8_t)(rd + 2),
			  (uint8_t)(0xC0 | (rd >> 8)), (uint8_t)rd };
	raw(&m, l2, 4);
	assert_int_equal(parse(&q, &m), HFI_Q_FORMERR);
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void test_random_never_crash(void **state)
{
	(void)state;
	hfi_query_t q;
	buf_t m;
	int seen[5] = { 0 };
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = rnd() % 300;
		for (size_t i = 0; i < len; i++)
			m.b[i] = (uint8_t)rnd();
		if (len >= 12 && (iter & 1)) {
			/* make the header acceptable so the body gets parsed */
			m.b[2] &= 0x07;
			m.b[4] = 0;
			m.b[5] = 1;
			m.b[6] = 0;
			m.b[7] &= 1;
			m.b[8] = 0;
			m.b[9] &= 1;
			m.b[10] = 0;
			m.b[11] %= 3;
			/* sprinkle pointers to small offsets */
			for (size_t i = 12; i + 1 < len; i += 1 + rnd() % 16)
				if (rnd() % 4 == 0) {
					m.b[i] = 0xC0;
					m.b[i + 1] = (uint8_t)(rnd() % len);
				}
		}
		int st = hfi_query_parse(&q, m.b, len, iter & 2);
		assert_true(st >= HFI_Q_OK && st <= HFI_Q_BADVERS);
		seen[st]++;
		if (q.qname != NULL) {
			assert_true(q.qname_len >= 1);
			assert_int_equal(hfi_dname_len(q.qname), q.qname_len);
			assert_int_equal(hfi_dname_labels(q.qname), q.nlabels);
			assert_true(q.question_end <= len);
		}
		if (st == HFI_Q_BADVERS)
			assert_true(q.has_edns && q.edns_version != 0);
	}
	/* mutations of a valid query with every section filled */
	buf_t base;
	query_a(&base, 1);
	base.b[7] = 1;
	base.b[9] = 1;
	S(&base, "\x03" "www\xC0\x10");
	u16(&base, 5);
	u16(&base, 1);
	u32(&base, 60);
	u16(&base, 4);
	S(&base, "\x01" "a\xC0\x0C");
	S(&base, "\xC0\x10");
	u16(&base, 6);
	u16(&base, 1);
	u32(&base, 0);
	u16(&base, 23);
	S(&base, "\x00\xC0\x0C\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05");
	const uint8_t o[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 8, 0, 7, 0, 1, 24, 0, 10, 0, 0 };
	opt(&base, 1232, 0x8000, o, sizeof(o));
	assert_int_equal(parse(&q, &base), HFI_Q_OK);
	for (int iter = 0; iter < 200000; iter++) {
		m = base;
		int nmut = 1 + (int)(rnd() % 4);
		for (int k = 0; k < nmut; k++) {
			size_t at = 12 + rnd() % (m.n - 12);
			m.b[at] = (uint8_t)(rnd() % 3 == 0 ? (rnd() % 8) : rnd());
		}
		size_t len = m.n;
		if (rnd() % 4 == 0)
			len = rnd() % (m.n + 1);
		int st = hfi_query_parse(&q, m.b, len, false);
		assert_true(st >= HFI_Q_OK && st <= HFI_Q_BADVERS);
		seen[st]++;
		if (q.qname != NULL) {
			assert_int_equal(hfi_dname_len(q.qname), q.qname_len);
			assert_int_equal(hfi_dname_labels(q.qname), q.nlabels);
		}
	}
	/* the generators reach every outcome */
	for (int i = 0; i < 5; i++)
		assert_true(seen[i] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_notimp),
		cmocka_unit_test(test_formerr_counts),
		cmocka_unit_test(test_simple_query),
		cmocka_unit_test(test_header_only_and_partial_question),
		cmocka_unit_test(test_compressed_qname),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_edns),
		cmocka_unit_test(test_edns_options),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_loop_in_additional),
		cmocka_unit_test(test_random_never_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
