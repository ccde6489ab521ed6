/*
 * test_loadbalance.c: the loadbalance plugin (plugin_loadbalance*.c):
 * round_robin (CNAME first, other types, shuffled addresses, shuffled MX;
 * a pure A section uniformly permuted; other sections keep their slots),
 * the weight file grammar and CoreDNS's error wording, weight lookup,
 * and `prefer` ordering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "holdfast.h"
#include "plugins.h"

/* ---- loadbalance ---- */

static hfi_rr_t *add(hfi_resp_t *r, uint8_t sec, uint16_t type, uint8_t tag)
{
	hfi_rr_t *rr = hfi_resp_add(r, sec, type, 60);
	assert_non_null(rr);
	rr->ttl = tag; /* identifies the record */
	return rr;
}

static void test_lb_grouping(void **state)
{
	(void)state;
	static hfi_resp_t r;
	uint64_t rng = 42;
	int seen_first[3] = {0};
	for (int round = 0; round < 300; round++) {
		hfi_resp_reset(&r);
		add(&r, HFI_SEC_ANSWER, HFI_T_A, 1);
		add(&r, HFI_SEC_ANSWER, HFI_T_MX, 2);
		add(&r, HFI_SEC_AUTHORITY, HFI_T_NS, 50);
		add(&r, HFI_SEC_ANSWER, HFI_T_TXT, 3);
		add(&r, HFI_SEC_ANSWER, HFI_T_A, 4);
		add(&r, HFI_SEC_ANSWER, HFI_T_CNAME, 5);
		add(&r, HFI_SEC_ANSWER, HFI_T_AAAA, 6);
		add(&r, HFI_SEC_ANSWER, HFI_T_MX, 7);
		add(&r, HFI_SEC_AUTHORITY, HFI_T_NS, 51);
		hfi_lb_shuffle(&r, &rng);
		uint8_t ans[8], n = 0;
		for (int i = 0; i < r.nrr; i++)
			if (r.rr[i].section == HFI_SEC_ANSWER)
				ans[n++] = (uint8_t)r.rr[i].ttl;
		assert_int_equal(n, 7);
		assert_int_equal(ans[0], 5);      /* CNAME first */
		assert_int_equal(ans[1], 3);      /* then other types */
		/* then A/AAAA {1,4,6} in some order, then MX {2,7} */
		int addr = (1 << ans[2]) | (1 << ans[3]) | (1 << ans[4]);
		assert_int_equal(addr, (1 << 1) | (1 << 4) | (1 << 6));
		assert_int_equal((1 << ans[5]) | (1 << ans[6]), (1 << 2) | (1 << 7));
		seen_first[ans[2] == 1 ? 0 : ans[2] == 4 ? 1 : 2]++;
		/* the authority section stays in its own slots */
		assert_int_equal(r.rr[2].section, HFI_SEC_AUTHORITY);
		assert_int_equal(r.rr[8].section, HFI_SEC_AUTHORITY);
	}
	for (int i = 0; i < 3; i++)
		assert_true(seen_first[i] > 50); /* each address leads sometimes */
}

static void test_lb_pure_a(void **state)
{
	(void)state;
	static hfi_resp_t r;
	uint64_t rng = 7;
	int perms[24] = {0};
	for (int round = 0; round < 2400; round++) {
		hfi_resp_reset(&r);
		for (uint8_t i = 0; i < 4; i++)
			add(&r, HFI_SEC_ANSWER, HFI_T_A, i);
		hfi_lb_shuffle(&r, &rng);
		int used = 0, code = 0, avail[4] = {0, 1, 2, 3}, na = 4, mult = 24;
		for (int i = 0; i < 4; i++) {
			int v = (int)r.rr[i].ttl;
			used |= 1 << v;
			int k = 0;
			while (avail[k] != v)
				k++;
			mult /= na;
			code += k * mult;
			for (int m = k; m < na - 1; m++)
				avail[m] = avail[m + 1];
			na--;
		}
		assert_int_equal(used, 15);
		perms[code]++;
	}
	for (int i = 0; i < 24; i++)
		assert_true(perms[i] > 40 && perms[i] < 180); /* ~100 each */
}


static struct hfi_lb_weights *parse(const char *text, char *err)
{
	err[0] = '\0';
	return hfi_lb_weights_parse(text, strlen(text), "w.txt", err, 512);
}

static void test_weights_grammar(void **state)
{
	(void)state;
	char err[512];
	struct hfi_lb_weights *t = parse("# comment\n\n  www.Example.org\n"
					 "100.64.1.1 3\n100.64.1.2 255\n"
					 "other.test.\n  2001:db8::1\t7  \n", err);
	assert_non_null(t);
	uint8_t n[256];
	hfi_dname_from_str("www.example.org.", n, sizeof(n));
	uint8_t a[16] = {100, 64, 1, 1};
	assert_int_equal(hfi_lb_weight_of(t, n, 4, a), 3);
	a[3] = 2;
	assert_int_equal(hfi_lb_weight_of(t, n, 4, a), 255);
	a[3] = 3;
	assert_int_equal(hfi_lb_weight_of(t, n, 4, a), 1); /* unlisted */
	hfi_dname_from_str("other.test.", n, sizeof(n));
	uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	assert_int_equal(hfi_lb_weight_of(t, n, 6, v6), 7);
	assert_int_equal(hfi_lb_weight_of(t, n, 4, a), 1);
	hfi_dname_from_str("nope.", n, sizeof(n));
	assert_int_equal(hfi_lb_weight_of(t, n, 6, v6), 1);
	hfi_lb_weights_free(t);
	assert_int_equal(hfi_lb_weight_of(NULL, n, 6, v6), 1);
}

static void test_weights_errors(void **state)
{
	(void)state;
	char err[512];
	assert_null(parse("10.0.0.1 5\n", err));
	assert_string_equal(err, "Missing domain name in weight file w.txt");
	assert_null(parse("a.b\n10.0.0.1 0\n", err));
	assert_string_equal(err, "Wrong weight value:\"0\" in weight file w.txt");
	assert_null(parse("a.b\n10.0.0.1 256\n", err));
	assert_string_equal(err, "Wrong weight value:\"256\" in weight file w.txt");
	assert_null(parse("a.b\n10.0.0.1 x\n", err));
	assert_string_equal(err, "Wrong weight value:\"x\" in weight file w.txt");
	assert_null(parse("a.b\n10.0.0.300 1\n", err));
	assert_string_equal(err, "Wrong IP address:\"10.0.0.300\" in weight file w.txt");
	assert_null(parse("10.0.0.1\n", err));
	assert_string_equal(err, "Wrong domain name:\"10.0.0.1\" in weight file w.txt. "
				 "(Maybe a missing weight value?)");
	assert_null(parse("a.b\n10.0.0.1 1 2\n", err));
	assert_string_equal(err, "Could not parse weight line:\"10.0.0.1 1 2\" in weight file w.txt");
	struct hfi_lb_weights *t = parse("", err);
	assert_non_null(t); /* empty is fine */
	hfi_lb_weights_free(t);
}

static hfi_rr_t *addr_rr(hfi_resp_t *r, uint8_t sec, const uint8_t *ip4, uint8_t tag)
{
	hfi_rr_t *rr = add(r, sec, HFI_T_A, tag);
	rr->rdata = ip4;
	rr->rdlen = 4;
	return rr;
}

static void test_prefer(void **state)
{
	(void)state;
	static hfi_resp_t r;
	hfi_cidr_t cidrs[2];
	assert_true(hfi_admin_cidr("192.168.0.0/16", &cidrs[0].family, &cidrs[0].prefix, cidrs[0].addr));
	assert_true(hfi_admin_cidr("10.1.0.0/24", &cidrs[1].family, &cidrs[1].prefix, cidrs[1].addr));
	hfi_plug_block_t pb;
	memset(&pb, 0, sizeof(pb));
	pb.prefer = cidrs;
	pb.nprefer = 2;
	static const uint8_t a1[4] = {10, 1, 0, 5}, a2[4] = {172, 16, 0, 1}, a3[4] = {192, 168, 3, 4},
			     a4[4] = {10, 1, 1, 5}, a5[4] = {192, 168, 0, 9};
	hfi_resp_reset(&r);
	add(&r, HFI_SEC_ANSWER, HFI_T_TXT, 1);
	addr_rr(&r, HFI_SEC_ANSWER, a1, 2);
	add(&r, HFI_SEC_ANSWER, HFI_T_MX, 3);
	addr_rr(&r, HFI_SEC_ANSWER, a2, 4);
	addr_rr(&r, HFI_SEC_ANSWER, a3, 5);
	add(&r, HFI_SEC_ANSWER, HFI_T_CNAME, 6);
	addr_rr(&r, HFI_SEC_ANSWER, a4, 7);
	addr_rr(&r, HFI_SEC_ANSWER, a5, 8);
	hfi_lb_prefer(&pb, &r);
	uint8_t got[8];
	for (int i = 0; i < 8; i++)
		got[i] = (uint8_t)r.rr[i].ttl;
	/* CNAME, 192.168/16 matches in order, 10.1.0/24, the rest, MX, other */
	const uint8_t want[8] = {6, 5, 8, 2, 4, 7, 3, 1};
	assert_memory_equal(got, want, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lb_grouping),
		cmocka_unit_test(test_lb_pure_a),
		cmocka_unit_test(test_weights_grammar),
		cmocka_unit_test(test_weights_errors),
		cmocka_unit_test(test_prefer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
