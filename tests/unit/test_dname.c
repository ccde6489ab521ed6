/*
 * test_dname.c: wire-format domain names (dname.c): text conversion and
 * its limits, lengths, labels, case folding, zone tests, suffixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "holdfast.h"
#include "dname.h"

#define W(s) ((const uint8_t *)(s))

static void test_from_str_basic(void **state)
{
	(void)state;
	uint8_t out[256];
	const uint8_t want[] = "\x03www\x07" "example\x03" "com";
	assert_int_equal(hfi_dname_from_str("www.example.com.", out, sizeof(out)), 17);
	assert_memory_equal(out, want, 17); /* want includes the final NUL = root */
	assert_int_equal(hfi_dname_from_str("www.example.com", out, sizeof(out)), 17);
	assert_memory_equal(out, want, 17);
	assert_int_equal(hfi_dname_from_str(".", out, sizeof(out)), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(hfi_dname_from_str("A.b", out, sizeof(out)), 5);
	assert_memory_equal(out, "\x01" "A\x01" "b", 5);
}

static void test_from_str_errors(void **state)
{
	(void)state;
	uint8_t out[256];
	assert_int_equal(hfi_dname_from_str("", out, sizeof(out)), HF_EINVAL);
	assert_int_equal(hfi_dname_from_str("..", out, sizeof(out)), HF_EINVAL);
	assert_int_equal(hfi_dname_from_str("a..b", out, sizeof(out)), HF_EINVAL);
	assert_int_equal(hfi_dname_from_str(".a", out, sizeof(out)), HF_EINVAL);
	assert_int_equal(hfi_dname_from_str("a.b..", out, sizeof(out)), HF_EINVAL);
	assert_int_equal(hfi_dname_from_str(NULL, out, sizeof(out)), HF_EINVAL);

	char lab[70];
	memset(lab, 'x', 63);
	lab[63] = '\0';
	assert_int_equal(hfi_dname_from_str(lab, out, sizeof(out)), 65);
	lab[63] = 'x';
	lab[64] = '\0';
	assert_int_equal(hfi_dname_from_str(lab, out, sizeof(out)), HF_EINVAL);

	/* 4 labels of 63 = 256 wire bytes: too long; 3x63 + 61 = 255: fits */
	char big[300];
	size_t p = 0;
	for (int i = 0; i < 4; i++) {
		memset(big + p, 'a', 63);
		p += 63;
		big[p++] = '.';
	}
	big[p] = '\0';
	assert_int_equal(hfi_dname_from_str(big, out, sizeof(out)), HF_EINVAL);
	big[3 * 64 + 61] = '.';
	big[3 * 64 + 62] = '\0';
	assert_int_equal(hfi_dname_from_str(big, out, sizeof(out)), 255);
	assert_int_equal(hfi_dname_len(out), 255);
	assert_int_equal(hfi_dname_labels(out), 4);
	big[3 * 64 + 61] = 'a';
	big[3 * 64 + 62] = '.';
	big[3 * 64 + 63] = '\0';
	assert_int_equal(hfi_dname_from_str(big, out, sizeof(out)), HF_EINVAL);

	/* too small an output buffer */
	assert_int_equal(hfi_dname_from_str("abc.def.", out, 5), HF_ESPACE);
}

static void test_to_str(void **state)
{
	(void)state;
	char buf[300];
	assert_int_equal(hfi_dname_to_str(W("\x03www\x07" "example\x03" "com"), buf, sizeof(buf)), 16);
	assert_string_equal(buf, "www.example.com.");
	assert_int_equal(hfi_dname_to_str(W(""), buf, sizeof(buf)), 1);
	assert_string_equal(buf, ".");
	assert_int_equal(hfi_dname_to_str(W("\x03www\x07" "example\x03" "com"), buf, 10), HF_ESPACE);
	assert_int_equal(hfi_dname_to_str(W("\x03www"), buf, 1), HF_EINVAL);

	uint8_t wire[256];
	int n = hfi_dname_from_str("Kube-DNS.kube-system.svc.cluster.local.", wire, sizeof(wire));
	assert_true(n > 0);
	assert_int_equal(hfi_dname_to_str(wire, buf, sizeof(buf)), 39);
	assert_string_equal(buf, "Kube-DNS.kube-system.svc.cluster.local.");
}

static void test_len_labels_lower(void **state)
{
	(void)state;
	const uint8_t *n = W("\x03WwW\x07" "Example\x03" "COM");
	assert_int_equal(hfi_dname_len(n), 17);
	assert_int_equal(hfi_dname_labels(n), 3);
	assert_int_equal(hfi_dname_len(W("")), 1);
	assert_int_equal(hfi_dname_labels(W("")), 0);
	uint8_t low[256];
	hfi_dname_lower(low, n);
	assert_memory_equal(low, "\x03www\x07" "example\x03" "com", 17);
	/* bytes outside A-Z are untouched */
	hfi_dname_lower(low, W("\x03" "a[Z\x01\xC4"));
	assert_memory_equal(low, "\x03" "a[z\x01\xC4", 7);
}

static void test_eq_zone_suffix(void **state)
{
	(void)state;
	const uint8_t *a = W("\x03www\x07" "example\x03" "com");
	const uint8_t *b = W("\x03WWW\x07" "eXample\x03" "Com");
	const uint8_t *zone = W("\x07" "EXAMPLE\x03" "com");
	assert_true(hfi_dname_eq(a, b));
	assert_false(hfi_dname_eq(a, zone));
	/* same total length, different split */
	assert_false(hfi_dname_eq(W("\x02" "ab\x01" "c"), W("\x01" "a\x02" "bc")));
	assert_true(hfi_dname_in_zone(a, zone));
	assert_true(hfi_dname_in_zone(zone, zone));
	assert_true(hfi_dname_in_zone(a, W("")));
	assert_false(hfi_dname_in_zone(zone, a));
	assert_true(hfi_dname_in_zone(W("\x01" "x\x07" "example\x03" "com"), zone));
	assert_false(hfi_dname_in_zone(W("\x08" "xexample\x03" "com"), zone));

	assert_ptr_equal(hfi_dname_suffix(a, 3), a);
	assert_ptr_equal(hfi_dname_suffix(a, 2), a + 4);
	assert_ptr_equal(hfi_dname_suffix(a, 1), a + 12);
	assert_ptr_equal(hfi_dname_suffix(a, 0), a + 16);
	assert_ptr_equal(hfi_dname_suffix(a, 9), a);
	assert_ptr_equal(hfi_dname_suffix(a, -1), a + 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_str_basic),
		cmocka_unit_test(test_from_str_errors),
		cmocka_unit_test(test_to_str),
		cmocka_unit_test(test_len_labels_lower),
		cmocka_unit_test(test_eq_zone_suffix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
