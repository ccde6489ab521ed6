/*
 * test_hosts.c: the hosts plugin's table (plugin_hosts_parse.c): the
 * /etc/hosts grammar as CoreDNS's hostsfile.go reads it (comments, fields,
 * %zone, bad addresses, names outside the zones, case), lookup order
 * (file before inline, line order), the reverse index and CoreDNS's
 * entry count, and reverse-name decoding.
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

static const uint8_t *zone_of(const char *text, uint8_t *buf)
{
	assert_true(hfi_dname_from_str(text, buf, HFI_DNAME_MAX + 1) > 0);
	return buf;
}

static hfi_hosts_table_t *build(const char *text, const char *const *inl, size_t ninl,
				const char *zone, bool rev)
{
	uint8_t z[HFI_DNAME_MAX + 1];
	const uint8_t *zones[1] = {zone_of(zone, z)};
	hfi_strv_t v = {(char **)inl, ninl};
	hfi_hosts_table_t *t = hfi_hosts_build(text, text ? strlen(text) : 0, &v, zones, 1, rev);
	assert_non_null(t);
	return t;
}

/* Addresses of name (family fam) in lookup order, as "a,b,c" text. */
static void addrs(const hfi_hosts_table_t *t, const char *name, int fam, char *out, size_t cap)
{
	uint8_t w[HFI_DNAME_MAX + 1];
	assert_true(hfi_dname_from_str(name, w, sizeof(w)) > 0);
	hfi_dname_lower(w, w);
	size_t first = 0, n = hfi_hosts_find_name(t, w, &first);
	out[0] = '\0';
	for (size_t i = first; i < first + n; i++) {
		const hfi_hosts_ent_t *e = &t->ents[t->by_name[i]];
		if (e->family != fam)
			continue;
		char a[64];
		if (fam == 4)
			snprintf(a, sizeof(a), "%u.%u.%u.%u", e->addr[0], e->addr[1], e->addr[2], e->addr[3]);
		else
			snprintf(a, sizeof(a), "%02x%02x..%02x", e->addr[0], e->addr[1], e->addr[15]);
		if (out[0])
			strncat(out, ",", cap - strlen(out) - 1);
		strncat(out, a, cap - strlen(out) - 1);
	}
}

static void test_grammar(void **state)
{
	(void)state;
	const char *text =
		"# a comment line\n"
		"127.0.0.1\tlocalhost Localhost.Example.ORG # trailing comment\n"
		"  10.0.0.1   web.example.org\r\n"
		"10.0.0.2 web.example.org#glued comment\n"
		"fd00::1%eth0 web.example.org\n"
		"::ffff:10.0.0.3 web.example.org\n"       /* IPv4-mapped = IPv4 */
		"010.0.0.4 web.example.org\n"            /* leading zero: not an IP (Go) */
		"10.0.0.256 web.example.org\n"
		"not-an-ip web.example.org\n"
		"10.0.0.5\n"                             /* no name */
		"10.0.0.6 other.test\n"                  /* outside the zone */
		"10.0.0.7 a..b.example.org\n"            /* not a name */
		"\n#\n";
	hfi_hosts_table_t *t = build(text, NULL, 0, "example.org.", true);
	char out[256];
	addrs(t, "web.example.org.", 4, out, sizeof(out));
	assert_string_equal(out, "10.0.0.1,10.0.0.2,10.0.0.3");
	addrs(t, "WEB.Example.Org", 6, out, sizeof(out));
	assert_string_equal(out, "fd00..01");
	addrs(t, "localhost.example.org.", 4, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1");
	addrs(t, "localhost.", 4, out, sizeof(out));     /* not in example.org */
	assert_string_equal(out, "");
	addrs(t, "other.test.", 4, out, sizeof(out));
	assert_string_equal(out, "");
	/* 5 entries kept; with reverse entries CoreDNS's Len() counts 10 */
	assert_int_equal(t->n, 5);
	assert_int_equal(t->len_metric, 10);
	hfi_hosts_table_free(t);
}

static void test_inline_after_file(void **state)
{
	(void)state;
	const char *inl[] = {"10.9.0.1 web.example.org extra.example.org", "garbage"};
	hfi_hosts_table_t *t = build("10.0.0.1 web.example.org\n", inl, 2, "example.org.", false);
	char out[256];
	addrs(t, "web.example.org.", 4, out, sizeof(out));
	assert_string_equal(out, "10.0.0.1,10.9.0.1");
	addrs(t, "extra.example.org.", 4, out, sizeof(out));
	assert_string_equal(out, "10.9.0.1");
	assert_int_equal(t->len_metric, 3); /* no_reverse: names only */
	uint8_t a[16] = {10, 0, 0, 1};
	size_t first;
	assert_int_equal(hfi_hosts_find_addr(t, 4, a, &first), 0); /* no reverse index */
	hfi_hosts_table_free(t);
	/* no file at all */
	t = build(NULL, inl, 1, ".", true);
	assert_int_equal(t->n, 2);
	hfi_hosts_table_free(t);
}

static void test_reverse_index(void **state)
{
	(void)state;
	hfi_hosts_table_t *t = build("10.0.0.1 b.example.org A.example.org\n"
				     "10.0.0.2 c.example.org\n"
				     "10.0.0.1 d.example.org\n"
				     "fd00::1 b.example.org\n",
				     NULL, 0, "example.org.", true);
	uint8_t a[16] = {10, 0, 0, 1};
	size_t first = 0, n = hfi_hosts_find_addr(t, 4, a, &first);
	assert_int_equal(n, 3);
	char names[3][64];
	for (size_t i = 0; i < n; i++)
		hfi_dname_to_str(t->names + t->ents[t->by_addr[first + i]].name_off, names[i], 64);
	assert_string_equal(names[0], "b.example.org."); /* line order, lower case */
	assert_string_equal(names[1], "a.example.org.");
	assert_string_equal(names[2], "d.example.org.");
	uint8_t v6[16] = {0xfd, 0, [15] = 1};
	assert_int_equal(hfi_hosts_find_addr(t, 6, v6, &first), 1);
	uint8_t none[16] = {10, 0, 0, 3};
	assert_int_equal(hfi_hosts_find_addr(t, 4, none, &first), 0);
	hfi_hosts_table_free(t);
}

static void test_wildcard_flag(void **state)
{
	(void)state;
	hfi_hosts_table_t *t = build("10.1.1.1 *.wild.example.org\n", NULL, 0, "example.org.", true);
	assert_true(t->wildcards);
	hfi_hosts_table_free(t);
	t = build("10.1.1.1 wild.example.org\n", NULL, 0, "example.org.", true);
	assert_false(t->wildcards);
	hfi_hosts_table_free(t);
}

static int rev(const char *name, uint8_t addr[16])
{
	uint8_t w[HFI_DNAME_MAX + 1];
	assert_true(hfi_dname_from_str(name, w, sizeof(w)) > 0);
	return hfi_hosts_reverse_addr(w, addr);
}

static void test_reverse_names(void **state)
{
	(void)state;
	uint8_t a[16];
	assert_int_equal(rev("1.0.0.10.in-addr.arpa.", a), 4);
	assert_memory_equal(a, "\x0a\x00\x00\x01", 4);
	assert_int_equal(rev("1.0.0.10.IN-ADDR.ARPA.", a), 4);
	assert_int_equal(rev("0.0.10.in-addr.arpa.", a), 0);     /* incomplete */
	assert_int_equal(rev("1.1.0.0.10.in-addr.arpa.", a), 0);
	assert_int_equal(rev("256.0.0.10.in-addr.arpa.", a), 0);
	assert_int_equal(rev("01.0.0.10.in-addr.arpa.", a), 0);
	assert_int_equal(rev("x.0.0.10.in-addr.arpa.", a), 0);
	assert_int_equal(rev("1.0.0.10.example.", a), 0);
	const char *v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
	assert_int_equal(rev(v6, a), 6);
	uint8_t want[16] = {0xfd, 0, [15] = 1};
	assert_memory_equal(a, want, 16);
	/* ::ffff:10.0.0.1 -> IPv4 */
	assert_int_equal(rev("1.0.0.0.0.0.a.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", a), 4);
	assert_memory_equal(a, "\x0a\x00\x00\x01", 4);
	assert_int_equal(rev("g.0.0.0.0.0.a.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", a), 0);
	assert_int_equal(rev("0.0.ip6.arpa.", a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grammar),
		cmocka_unit_test(test_inline_after_file),
		cmocka_unit_test(test_reverse_index),
		cmocka_unit_test(test_wildcard_flag),
		cmocka_unit_test(test_reverse_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
