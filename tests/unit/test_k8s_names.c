/* test_k8s_names.c: the kubernetes name grammar (spec 4.4 table), pod-IP
 * labels (4.7), endpoint names (4.5), the ns.dns test, reverse names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dname.h"
#include "holdfast.h"
#include "k8s_int.h"
#include "k8s_names.h"

static uint8_t wbuf[8][HFI_DNAME_MAX + 1];
static int wi;

/* text -> lower-case wire, in a rotating static buffer */
static const uint8_t *W(const char *text)
{
	uint8_t tmp[HFI_DNAME_MAX + 1];
	uint8_t *o = wbuf[wi++ & 7];
	assert_true(hfi_dname_from_str(text, tmp, sizeof(tmp)) > 0);
	hfi_dname_lower(o, tmp);
	return o;
}

/* wire of the query-case text (no lowering) */
static const uint8_t *Wq(const char *text)
{
	uint8_t *o = wbuf[wi++ & 7];
	assert_true(hfi_dname_from_str(text, o, HFI_DNAME_MAX + 1) > 0);
	return o;
}

static void assert_label(hfi_k8s_label_t l, const char *s)
{
	assert_int_equal(l.len, strlen(s));
	if (l.len)
		assert_memory_equal(l.p, s, l.len);
}

static int parse(const char *name, const char *zone, hfi_k8s_name_t *nm)
{
	const uint8_t *z = W(zone);
	return hfi_k8s_name_parse(W(name), hfi_dname_labels(z), nm);
}

/* the key span as text, e.g. "web.ns.svc." */
static const char *key_text(const hfi_k8s_name_t *nm)
{
	static char out[300];
	uint8_t tmp[HFI_DNAME_MAX + 1];
	size_t n = (size_t)(nm->zone - nm->key);
	memcpy(tmp, nm->key, n);
	tmp[n] = 0;
	hfi_k8s_wire_text(tmp, out);
	return out;
}

static void test_grammar_table(void **state)
{
	(void)state;
	hfi_k8s_name_t nm;
	const char *z = "cluster.local.";
	struct {
		const char *name;
		int kind;
		bool pod;
	} rows[] = {
		{ "cluster.local.", HFI_K8S_N_APEX, false },
		{ "svc.cluster.local.", HFI_K8S_N_SVC, false },
		{ "pod.cluster.local.", HFI_K8S_N_POD, false },
		{ "foo.cluster.local.", HFI_K8S_N_INVALID, false },
		{ "a.b.cluster.local.", HFI_K8S_N_INVALID, false },
		{ "dns-version.cluster.local.", HFI_K8S_N_INVALID, false },
		{ "ns.dns.cluster.local.", HFI_K8S_N_INVALID, false },
		{ "default.svc.cluster.local.", HFI_K8S_N_NAMESPACE, false },
		{ "default.pod.cluster.local.", HFI_K8S_N_NAMESPACE, true },
		{ "web.default.svc.cluster.local.", HFI_K8S_N_SERVICE, false },
		{ "ep.web.default.svc.cluster.local.", HFI_K8S_N_ENDPOINT, false },
		{ "_http._tcp.web.default.svc.cluster.local.", HFI_K8S_N_PORT, false },
		{ "a.b.c.web.default.svc.cluster.local.", HFI_K8S_N_TOOLONG, false },
		{ "1-2-3-4.default.pod.cluster.local.", HFI_K8S_N_PODIP, true },
		{ "x.1-2-3-4.default.pod.cluster.local.", HFI_K8S_N_PODIP, true },
		{ "x.y.1-2-3-4.default.pod.cluster.local.", HFI_K8S_N_PODIP, true },
		{ "w.x.y.1-2-3-4.default.pod.cluster.local.", HFI_K8S_N_TOOLONG, true },
		{ "a.b.c.d.e.f.g.h.i.svc.cluster.local.", HFI_K8S_N_TOOLONG, false },
		{ "a.b.c.d.e.f.g.h.i.foo.cluster.local.", HFI_K8S_N_INVALID, false },
		{ "SVC.Cluster.Local.", HFI_K8S_N_SVC, false }, /* lower-cased first */
		{ "svc.svc.cluster.local.", HFI_K8S_N_NAMESPACE, false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int k = parse(rows[i].name, z, &nm);
		if (k != rows[i].kind)
			fail_msg("%s: kind %d, want %d", rows[i].name, k, rows[i].kind);
		assert_int_equal(nm.kind, k);
		if (k != HFI_K8S_N_INVALID && k >= HFI_K8S_N_NAMESPACE)
			assert_int_equal(nm.pod, rows[i].pod);
	}
	/* outside the zone (fewer labels than the zone) */
	assert_int_equal(parse("local.", z, &nm), HFI_K8S_N_INVALID);
}

static void test_grammar_slices(void **state)
{
	(void)state;
	hfi_k8s_name_t nm;
	const char *z = "cluster.local.";

	assert_int_equal(parse("default.svc.cluster.local.", z, &nm), HFI_K8S_N_NAMESPACE);
	assert_label(nm.ns, "default");
	assert_string_equal(key_text(&nm), "default.svc.");
	assert_int_equal(nm.rel, 2);

	assert_int_equal(parse("web.default.svc.cluster.local.", z, &nm), HFI_K8S_N_SERVICE);
	assert_label(nm.service, "web");
	assert_label(nm.ns, "default");
	assert_string_equal(key_text(&nm), "web.default.svc.");

	assert_int_equal(parse("dup-name.hl.default.svc.cluster.local.", z, &nm),
			 HFI_K8S_N_ENDPOINT);
	assert_label(nm.endpoint, "dup-name");
	assert_label(nm.service, "hl");
	assert_string_equal(key_text(&nm), "dup-name.hl.default.svc.");

	/* port + protocol: one leading underscore stripped from each */
	assert_int_equal(parse("_http._tcp.web.default.svc.cluster.local.", z, &nm),
			 HFI_K8S_N_PORT);
	assert_label(nm.port, "http");
	assert_label(nm.proto, "tcp");
	assert_label(nm.service, "web");
	assert_string_equal(key_text(&nm), "web.default.svc.");
	/* underscores optional with two extra labels */
	assert_int_equal(parse("http.tcp.web.default.svc.cluster.local.", z, &nm),
			 HFI_K8S_N_PORT);
	assert_label(nm.port, "http");
	assert_label(nm.proto, "tcp");
	/* "_" alone is an empty (wildcard) port; "__x" keeps one underscore */
	assert_int_equal(parse("_.__x.web.default.svc.cluster.local.", z, &nm), HFI_K8S_N_PORT);
	assert_label(nm.port, "");
	assert_label(nm.proto, "_x");
	/* case is folded */
	assert_int_equal(parse("_HTTP._Tcp.Web.Default.SVC.cluster.local.", z, &nm),
			 HFI_K8S_N_PORT);
	assert_label(nm.port, "http");
	assert_label(nm.proto, "tcp");

	/* pod names: extra labels left of the IP are ignored */
	assert_int_equal(parse("1-2-3-4.default.pod.cluster.local.", z, &nm), HFI_K8S_N_PODIP);
	assert_label(nm.service, "1-2-3-4");
	assert_string_equal(key_text(&nm), "1-2-3-4.default.pod.");
	assert_int_equal(parse("x.1-2-3-4.default.pod.cluster.local.", z, &nm), HFI_K8S_N_PODIP);
	assert_label(nm.service, "1-2-3-4");
	assert_label(nm.ns, "default");
	assert_string_equal(key_text(&nm), "1-2-3-4.default.pod.");
	assert_int_equal(parse("x.y.1-2-3-4.default.pod.cluster.local.", z, &nm),
			 HFI_K8S_N_PODIP);
	assert_label(nm.service, "1-2-3-4");
	assert_string_equal(key_text(&nm), "1-2-3-4.default.pod.");

	/* the root zone and a deeper zone */
	assert_int_equal(parse("web.ns.svc.", ".", &nm), HFI_K8S_N_SERVICE);
	assert_string_equal(key_text(&nm), "web.ns.svc.");
	assert_int_equal(parse("web.ns.svc.a.b.c.d.", "a.b.c.d.", &nm), HFI_K8S_N_SERVICE);
	assert_int_equal(nm.rel, 3);
	/* reverse zones use the same grammar */
	assert_int_equal(parse("0.10.in-addr.arpa.", "0.10.in-addr.arpa.", &nm), HFI_K8S_N_APEX);
	assert_int_equal(parse("5.0.10.in-addr.arpa.", "0.10.in-addr.arpa.", &nm),
			 HFI_K8S_N_INVALID);
	assert_int_equal(parse("svc.10.in-addr.arpa.", "10.in-addr.arpa.", &nm), HFI_K8S_N_SVC);
}

/* ZONE.pin|prefer._zone.SVC.NS.svc (spec 4.4): ZONE may span labels */
static void test_grammar_zonal(void **state)
{
	(void)state;
	hfi_k8s_name_t nm;
	const char *z = "cluster.local.";
	const uint8_t *w;

	w = W("us-east-1a.pin._zone.hl.default.svc.cluster.local.");
	assert_int_equal(hfi_k8s_name_parse(w, 2, &nm), HFI_K8S_N_ZONAL);
	assert_false(nm.prefer);
	assert_label(nm.service, "hl");
	assert_label(nm.ns, "default");
	assert_string_equal(key_text(&nm), "hl.default.svc.");
	assert_ptr_equal(nm.zdir, w + 11); /* ZONE = [w, zdir) */
	assert_int_equal(nm.zdir[0], 3);

	/* a dotted zone name, mixed case folded by the caller */
	w = W("US-East-1.A.Prefer._Zone.HL.default.svc.cluster.local.");
	assert_int_equal(hfi_k8s_name_parse(w, 2, &nm), HFI_K8S_N_ZONAL);
	assert_true(nm.prefer);
	assert_ptr_equal(nm.zdir, w + 12);
	assert_int_equal(nm.zdir[0], 6);
	assert_memory_equal(nm.zdir + 1, "prefer", 6);
	assert_string_equal(key_text(&nm), "hl.default.svc.");
	assert_int_equal(nm.rel, 7);

	/* other directive words, a missing _zone, the pod tree: too long */
	assert_int_equal(parse("z.near._zone.hl.default.svc.cluster.local.", z, &nm),
			 HFI_K8S_N_TOOLONG);
	assert_int_equal(parse("z.pin.zone.hl.default.svc.cluster.local.", z, &nm),
			 HFI_K8S_N_TOOLONG);
	assert_int_equal(parse("z.pin._zone.hl.default.pod.cluster.local.", z, &nm),
			 HFI_K8S_N_TOOLONG);
	assert_int_equal(parse("z.pin._zone.hl.default.foo.cluster.local.", z, &nm),
			 HFI_K8S_N_INVALID);
	/* without ZONE it is a port name (five labels) */
	assert_int_equal(parse("pin._zone.hl.default.svc.cluster.local.", z, &nm),
			 HFI_K8S_N_PORT);
	/* many labels of ZONE (up to the name limit) */
	assert_int_equal(parse("a.b.c.d.e.f.g.h.i.j.pin._zone.hl.default.svc.cluster.local.",
			       z, &nm), HFI_K8S_N_ZONAL);
	assert_int_equal(nm.rel, 15);
}

static void test_pod_ip(void **state)
{
	(void)state;
	hfi_ip_t ip;
	struct {
		const char *label;
		int ok;
		int family;
		const char *addr;
	} rows[] = {
		{ "1-2-3-4", 0, 4, "\1\2\3\4" },
		{ "10-244-0-5", 0, 4, "\12\364\0\5" },
		{ "fd00--1", 0, 6, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1" },
		{ "2001-db8--", 0, 6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\0" },
		{ "--ffff-102-304", 0, 4, "\1\2\3\4" }, /* IPv4-mapped */
		{ "01-2-3-4", -1, 0, NULL },            /* leading zero */
		{ "1-2-3", -1, 0, NULL },               /* "1:2:3" */
		{ "1-2-3-4-5", -1, 0, NULL },
		{ "1-2-3-256", -1, 0, NULL },
		{ "abc", -1, 0, NULL },
		{ "1--2-3", 0, 6, "\0\1\0\0\0\0\0\0\0\0\0\0\0\2\0\3" }, /* "1::2:3" */
		{ "x-1-2-3", -1, 0, NULL },
		{ "1-2-3-4-", -1, 0, NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r = hfi_k8s_pod_ip((const uint8_t *)rows[i].label, strlen(rows[i].label), &ip);
		if (r != rows[i].ok)
			fail_msg("%s: %d", rows[i].label, r);
		if (r == 0) {
			assert_int_equal(ip.family, rows[i].family);
			assert_memory_equal(ip.addr, rows[i].addr, rows[i].family == 4 ? 4 : 16);
		}
	}
	assert_int_equal(hfi_k8s_pod_ip((const uint8_t *)"", 0, &ip), -1);
}

static void test_ip_label_and_endpoint_name(void **state)
{
	(void)state;
	hfi_ip_t ip;
	char out[80];
	assert_int_equal(hfi_ip_parse("172.0.0.2", &ip), 0);
	assert_int_equal(hfi_k8s_ip_label(&ip, true, out, sizeof(out)), 9);
	assert_string_equal(out, "172-0-0-2");
	assert_int_equal(hfi_ip_parse("5678:abcd::1", &ip), 0);
	hfi_k8s_ip_label(&ip, true, out, sizeof(out));
	assert_string_equal(out, "5678-abcd--1");
	assert_int_equal(hfi_ip_parse("2001:db8::", &ip), 0);
	hfi_k8s_ip_label(&ip, true, out, sizeof(out));
	assert_string_equal(out, "2001-db8--0");
	hfi_k8s_ip_label(&ip, false, out, sizeof(out)); /* pod form: no 0 */
	assert_string_equal(out, "2001-db8--");
	assert_int_equal(hfi_k8s_ip_label(&ip, true, out, 5), -1);

	hfi_ep_addr_t a = { .hostname = "web-0", .pod_name = "web-pod" };
	assert_int_equal(hfi_ip_parse("10.0.0.7", &a.ip), 0);
	assert_int_equal(hfi_k8s_endpoint_name(&a, false, out, sizeof(out)), 5);
	assert_string_equal(out, "web-0");
	a.hostname = "";
	hfi_k8s_endpoint_name(&a, true, out, sizeof(out));
	assert_string_equal(out, "web-pod");
	hfi_k8s_endpoint_name(&a, false, out, sizeof(out));
	assert_string_equal(out, "10-0-0-7");
	a.hostname = NULL;
	a.pod_name = NULL;
	hfi_k8s_endpoint_name(&a, true, out, sizeof(out));
	assert_string_equal(out, "10-0-0-7");
}

static void test_text_labels(void **state)
{
	(void)state;
	uint8_t out[300];
	assert_int_equal(hfi_k8s_text_labels("web.ns.svc", 10, out, sizeof(out)), 11);
	assert_memory_equal(out, "\3web\2ns\3svc", 11);
	assert_int_equal(hfi_k8s_text_labels("a.b.", 4, out, sizeof(out)), 4);
	assert_int_equal(hfi_k8s_text_labels("a..b", 4, out, sizeof(out)), -1);
	assert_int_equal(hfi_k8s_text_labels("", 0, out, sizeof(out)), -1);
	assert_int_equal(hfi_k8s_text_labels(".", 1, out, sizeof(out)), -1);
	char l64[65];
	memset(l64, 'a', 64);
	l64[64] = 0;
	assert_int_equal(hfi_k8s_text_labels(l64, 64, out, sizeof(out)), -1);
	assert_int_equal(hfi_k8s_text_labels(l64, 63, out, sizeof(out)), 64);
	assert_int_equal(hfi_k8s_text_labels("abc", 3, out, 3), -1); /* cap */
	char text[300];
	assert_int_equal(hfi_k8s_wire_text(W("Web.NS.svc."), text), 11);
	assert_string_equal(text, "web.ns.svc.");
	assert_int_equal(hfi_k8s_wire_text((const uint8_t *)"", text), 1);
	assert_string_equal(text, ".");
}

static void test_default_ns(void **state)
{
	(void)state;
	assert_true(hfi_k8s_default_ns(W("ns.dns.cluster.local."), Wq("cluster.local.")));
	/* the qname is lower-cased, the zone keeps the query's spelling */
	assert_true(hfi_k8s_default_ns(W("NS.DNS.cluster.local."), Wq("cluster.local.")));
	assert_false(hfi_k8s_default_ns(W("ns.dns.Cluster.local."), Wq("Cluster.local.")));
	assert_false(hfi_k8s_default_ns(W("x.ns.dns.cluster.local."), Wq("cluster.local.")));
	assert_false(hfi_k8s_default_ns(W("ns.dns.x.cluster.local."), Wq("cluster.local.")));
	assert_false(hfi_k8s_default_ns(W("ns.dns."), Wq(".")));     /* Index(".") = 2 */
	assert_false(hfi_k8s_default_ns(W("ns.dns.s."), Wq("s.")));  /* Index("s.") = 1 */
	assert_true(hfi_k8s_default_ns(W("ns.dns.foo.foo.foo.foo."), Wq("foo.foo.")));
	assert_false(hfi_k8s_default_ns(W("dns.cluster.local."), Wq("cluster.local.")));
}

static void test_reverse(void **state)
{
	(void)state;
	hfi_ip_t ip;
	assert_true(hfi_k8s_is_reverse(W("1.0.96.10.in-addr.arpa.")));
	assert_true(hfi_k8s_is_reverse(W("x.ip6.arpa.")));
	assert_false(hfi_k8s_is_reverse(W("in-addr.arpa.")));
	assert_false(hfi_k8s_is_reverse(W("svc.cluster.local.")));

	assert_true(hfi_k8s_reverse_addr(W("10.0.96.10.in-addr.arpa."), &ip));
	assert_int_equal(ip.family, 4);
	assert_memory_equal(ip.addr, "\12\140\0\12", 4);
	assert_false(hfi_k8s_reverse_addr(W("0.96.10.in-addr.arpa."), &ip));
	assert_false(hfi_k8s_reverse_addr(W("010.0.96.10.in-addr.arpa."), &ip));
	assert_false(hfi_k8s_reverse_addr(W("x.10.0.96.10.in-addr.arpa."), &ip));
	assert_false(hfi_k8s_reverse_addr(W("256.0.96.10.in-addr.arpa."), &ip));
	assert_false(hfi_k8s_reverse_addr(W("in-addr.arpa."), &ip));
	assert_false(hfi_k8s_reverse_addr(W("web.default.svc.cluster.local."), &ip));
	/* fd00::1 */
	const char *v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
	assert_true(hfi_k8s_reverse_addr(W(v6), &ip));
	assert_int_equal(ip.family, 6);
	assert_memory_equal(ip.addr, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	/* upper-case nibbles are folded by the lower-casing */
	assert_true(hfi_k8s_reverse_addr(W("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.D.F.ip6.arpa."), &ip));
	/* a 33rd label on the left is ignored (groups of four from the right) */
	char buf[200];
	snprintf(buf, sizeof(buf), "7.%s", v6);
	assert_true(hfi_k8s_reverse_addr(W(buf), &ip));
	assert_memory_equal(ip.addr, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	/* partial: too few nibbles */
	assert_false(hfi_k8s_reverse_addr(W("0.d.f.ip6.arpa."), &ip));
	assert_false(hfi_k8s_reverse_addr(W("0.0.d.f.ip6.arpa."), &ip));
	/* an IPv4-mapped address under ip6.arpa is the IPv4 address */
	assert_true(hfi_k8s_reverse_addr(
		W("a.0.0.0.0.6.a.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa."), &ip));
	assert_int_equal(ip.family, 4);
	assert_memory_equal(ip.addr, "\12\140\0\12", 4);
	/* a non-hex character */
	assert_false(hfi_k8s_reverse_addr(W("g.0.96.10.in-addr.arpa."), &ip));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grammar_table),
		cmocka_unit_test(test_grammar_slices),
		cmocka_unit_test(test_grammar_zonal),
		cmocka_unit_test(test_pod_ip),
		cmocka_unit_test(test_ip_label_and_endpoint_name),
		cmocka_unit_test(test_text_labels),
		cmocka_unit_test(test_default_ns),
		cmocka_unit_test(test_reverse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
