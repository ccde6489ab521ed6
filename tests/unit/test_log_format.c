/*
 * test_log_format.c: the log plugin's replacer (plugin_log.c) against
 * CoreDNS's plugin/pkg/replacer: the default {common} format field by
 * field, {combined}, IPv6 brackets, {>bufsize} rules, {>rflags} order,
 * unknown and metadata labels, brace edge cases, extended rcodes, the
 * unrecorded reply (NOERROR - 0), {duration} text, name escapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "holdfast.h"
#include "plugins.h"

#define COMMON "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}"

/* A query for name/type, optionally with an OPT (size, DO). */
static size_t mkquery(uint8_t *buf, const char *name, uint16_t type, int edns, bool do_bit)
{
	uint8_t hdr[12] = {0x13, 0x94, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns ? 1 : 0};
	memcpy(buf, hdr, 12);
	int wl = hfi_dname_from_str(name, buf + 12, 256);
	assert_true(wl > 0);
	size_t n = 12 + (size_t)wl;
	buf[n++] = (uint8_t)(type >> 8);
	buf[n++] = (uint8_t)type;
	buf[n++] = 0;
	buf[n++] = 1;
	if (edns) {
		uint8_t opt[11] = {0, 0, 41, (uint8_t)(edns >> 8), (uint8_t)edns, 0, 0,
				   do_bit ? 0x80 : 0, 0, 0, 0};
		memcpy(buf + n, opt, 11);
		n += 11;
	}
	return n;
}

static size_t fmt(const char *format, const hfi_query_t *q, const struct sockaddr *client,
		  int transport, const uint8_t *reply, size_t rlen, int64_t ns, char *out)
{
	hfi_log_fields_t f = {.q = q, .client = client, .transport = transport, .reply = reply,
			      .rlen = rlen, .duration_ns = ns, .server_addr = "10.0.0.53"};
	size_t n = hfi_log_format(format, &f, out, 1023);
	out[n] = '\0';
	return n;
}

static void test_common(void **state)
{
	(void)state;
	uint8_t qb[512], reply[200] = {0x13, 0x94, 0x85, 0x80};
	size_t ql = mkquery(qb, "Kubernetes.Default.svc.cluster.local.", HFI_T_AAAA, 0, false);
	hfi_query_t q;
	assert_int_equal(hfi_query_parse(&q, qb, ql, false), HFI_Q_OK);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(43521)};
	inet_pton(AF_INET, "10.244.1.7", &sin.sin_addr);
	char out[1024];
	fmt(COMMON, &q, (struct sockaddr *)&sin, HF_UDP, reply, 147, 155000, out);
	assert_string_equal(out, "10.244.1.7:43521 - 5012 \"AAAA IN kubernetes.default.svc.cluster.local. "
				 "udp 54 false 512\" NOERROR qr,aa,rd,ra 147 0.000155s");
	/* {combined}, TCP, IPv6 client, EDNS with DO */
	ql = mkquery(qb, "a.b.", HFI_T_A, 4096, true);
	assert_int_equal(hfi_query_parse(&q, qb, ql, true), HFI_Q_OK);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(53000)};
	inet_pton(AF_INET6, "fd00::7", &s6.sin6_addr);
	uint8_t r2[12] = {0x13, 0x94, 0x81, 0x83};
	fmt(COMMON " \"{>opcode}\"", &q, (struct sockaddr *)&s6, HF_TCP, r2, 12, 2000000000, out);
	assert_string_equal(out, "[fd00::7]:53000 - 5012 \"A IN a.b. tcp 32 true 65535\" NXDOMAIN "
				 "qr,rd,ra 12 2s \"0\"");
}

static void test_bufsize_and_flags(void **state)
{
	(void)state;
	uint8_t qb[512];
	hfi_query_t q;
	char out[1024];
	size_t ql = mkquery(qb, "x.", HFI_T_TXT, 100, false); /* EDNS below 512 -> 512 */
	assert_int_equal(hfi_query_parse(&q, qb, ql, false), HFI_Q_OK);
	uint8_t all[12] = {0, 0, 0xff, 0xf2}; /* every flag, rcode SERVFAIL */
	fmt("{>bufsize} {>rflags} {rcode} {type} {class} {>do}", &q, NULL, HF_UDP, all, 12, 0, out);
	assert_string_equal(out, "512 qr,aa,tc,rd,ra,z,ad,cd SERVFAIL TXT IN false");
	uint8_t none[12] = {0};
	fmt("[{>rflags}]", &q, NULL, HF_UDP, none, 12, 0, out);
	assert_string_equal(out, "[]");
	/* extended rcode: BADVERS (16) prints as BADSIG, as miekg's table */
	hfi_log_fields_t f = {.q = &q, .reply = none, .rlen = 12, .ext_rcode = 1};
	size_t n = hfi_log_format("{rcode}", &f, out, 100);
	out[n] = '\0';
	assert_string_equal(out, "BADSIG");
	/* unknown type and class numbers */
	ql = mkquery(qb, "x.", 65280, 0, false);
	assert_int_equal(hfi_query_parse(&q, qb, ql, false), HFI_Q_OK);
	fmt("{type}", &q, NULL, HF_UDP, none, 12, 0, out);
	assert_string_equal(out, "TYPE65280");
}

static void test_unrecorded_and_labels(void **state)
{
	(void)state;
	uint8_t qb[512];
	hfi_query_t q;
	char out[1024];
	size_t ql = mkquery(qb, "Nope.Example.", HFI_T_A, 0, false);
	assert_int_equal(hfi_query_parse(&q, qb, ql, false), HFI_Q_OK);
	static const struct {
		const char *format;
		int64_t ns;
		const char *want;
	} cases[] = {
		/* nothing written by a plugin: the recorder's zero values */
		{"{rcode} {>rflags} {rsize}", 1500, "NOERROR - 0"},
		/* unknown labels stay literal (with what precedes them), metadata is "-" */
		{"a {nokey} b {/kubernetes/namespace} c", 0, "a {nokey} b - c"},
		{"A } {name}", 0, "A } nope.example."},
		{"{ {name} }", 0, "{ nope.example. }"},
		{"{name", 0, "{name"},
		{"{local} {remote} {port}", 0, "10.0.0.53 - 0"},
		/* durations: shortest decimal, seconds */
		{"{duration}", 1, "0.000000001s"},
		{"{duration}", 1234567890, "1.23456789s"},
		{"{duration}", 0, "0s"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fmt(cases[i].format, &q, NULL, HF_UDP, NULL, 0, cases[i].ns, out);
		assert_string_equal(out, cases[i].want);
	}
	/* the output buffer bounds the line */
	hfi_log_fields_t f = {.q = &q};
	char small[8];
	assert_int_equal(hfi_log_format("{name}{name}", &f, small, sizeof(small)), sizeof(small));
}

static void test_name_escapes(void **state)
{
	(void)state;
	uint8_t qb[512] = {0x13, 0x94, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	const uint8_t name[] = "\x05" "a.B c" "\x02" "\x01\xff" "\x00";
	memcpy(qb + 12, name, sizeof(name));
	size_t n = 12 + sizeof(name);
	qb[n++] = 0;
	qb[n++] = 1;
	qb[n++] = 0;
	qb[n++] = 1;
	hfi_query_t q;
	assert_int_equal(hfi_query_parse(&q, qb, n, false), HFI_Q_OK);
	char out[1024];
	fmt("{name}", &q, NULL, HF_UDP, NULL, 0, 0, out);
	assert_string_equal(out, "a\\.b\\ c.\\001\\255.");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_common),
		cmocka_unit_test(test_bufsize_and_flags),
		cmocka_unit_test(test_unrecorded_and_labels),
		cmocka_unit_test(test_name_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
