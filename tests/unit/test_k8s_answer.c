/* test_k8s_answer.c: the kubernetes index and answers end to end: a store
 * built by hand (spec 4.5 examples), queries through hfi_query_parse ->
 * hfi_k8s_answer -> hfi_msg_pack, replies decoded with ldns and compared
 * record by record with what CoreDNS answers (spec 4.5-4.12).  Also: build
 * under the torture allocator, no allocation while answering, and the
 * build time of 100k services. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ctype.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dname.h"
#include "holdfast.h"
#include "k8s.h"
#include "msg.h"
#include "objects.h"
#include "query.h"

/* ---- counting every malloc of the process (zero-allocation check) ------- */

static volatile unsigned long g_allocs;
static volatile int g_counting;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HF_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HF_TEST_ASAN 1
#endif

#if defined(HF_TEST_ASAN)
void __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
					       void (*f)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n)
{
	(void)p;
	(void)n;
	if (g_counting)
		g_allocs++;
}
static void on_free(const volatile void *p)
{
	(void)p;
}
static void alloc_hook_install(void)
{
	__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
void *malloc(size_t n)
{
	if (g_counting)
		g_allocs++;
	return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
	if (g_counting)
		g_allocs++;
	return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
	if (g_counting)
		g_allocs++;
	return __libc_realloc(p, n);
}
void free(void *p)
{
	__libc_free(p);
}
static void alloc_hook_install(void)
{
}
#endif

/* ---- building the store --------------------------------------------------- */

static hfi_ip_t IP(const char *s)
{
	hfi_ip_t ip;
	if (hfi_ip_parse(s, &ip) != 0)
		fail_msg("bad ip %s", s);
	return ip;
}

static void ns_put(hfi_store_t *st, const char *name, const char *lk, const char *lv)
{
	hfi_kv_t kv = { (char *)lk, (char *)lv };
	hfi_namespace_t ns = { .name = (char *)name, .rv = "1",
			       .labels = { lk ? &kv : NULL, lk ? 1 : 0 } };
	assert_true(hfi_store_put_namespace(st, &ns) >= 0);
}

/* "name/PROTO/port,..." */
static size_t ports_parse(const char *spec, hfi_port_t *out, char buf[][32])
{
	size_t n = 0;
	if (spec == NULL || spec[0] == '\0')
		return 0;
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s", spec);
	for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *a = strchr(tok, '/');
		char *b = a ? strchr(a + 1, '/') : NULL;
		assert_non_null(b);
		*a = *b = '\0';
		snprintf(buf[2 * n], 32, "%s", tok);
		snprintf(buf[2 * n + 1], 32, "%s", a + 1);
		out[n] = (hfi_port_t){ .name = buf[2 * n], .protocol = buf[2 * n + 1],
				       .port = atoi(b + 1) };
		n++;
	}
	return n;
}

static void svc_put(hfi_store_t *st, const char *ns, const char *name, const char *type,
		    const char *ips, const char *ports, const char *ext)
{
	hfi_ip_t ipv[4];
	size_t nips = 0;
	bool headless = ips != NULL && strcmp(ips, "None") == 0;
	if (ips != NULL && !headless) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", ips);
		for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t;
		     t = strtok_r(NULL, ",", &save))
			ipv[nips++] = IP(t);
	}
	hfi_port_t pv[8];
	char pb[16][32];
	size_t np = ports_parse(ports, pv, pb);
	hfi_service_t s = { .ns = (char *)ns, .name = (char *)name, .rv = "1", .type = (char *)type,
			    .headless = headless, .ips = ipv, .nips = nips,
			    .external_name = (char *)ext, .ports = pv, .nports = np };
	assert_true(hfi_store_put_service(st, &s) >= 0);
}

typedef struct addr_spec {
	const char *ip, *hostname, *pod;
} addr_spec_t;

static void slice_put(hfi_store_t *st, const char *ns, const char *name, const char *svc,
		      const char *ports, const addr_spec_t *as, size_t na)
{
	hfi_ep_addr_t av[16];
	for (size_t i = 0; i < na; i++)
		av[i] = (hfi_ep_addr_t){ .ip = IP(as[i].ip), .hostname = (char *)as[i].hostname,
					 .pod_name = (char *)as[i].pod };
	hfi_port_t pv[8];
	char pb[16][32];
	size_t np = ports_parse(ports, pv, pb);
	hfi_slice_t s = { .ns = (char *)ns, .name = (char *)name, .rv = "1", .service = (char *)svc,
			  .ports = pv, .nports = np, .addrs = av, .naddrs = na };
	assert_true(hfi_store_put_slice(st, &s) >= 0);
}

static void pod_put(hfi_store_t *st, const char *ns, const char *name, const char *ip,
		    const char *phase)
{
	hfi_pod_t p = { .ns = (char *)ns, .name = (char *)name, .rv = "1", .ip = IP(ip),
			.phase = (char *)phase };
	assert_true(hfi_store_put_pod(st, &p) >= 0);
}

#define NA(x) (sizeof(x) / sizeof((x)[0]))

static hfi_store_t *g_st;
static uint32_t g_serial;

static void store_fill(hfi_store_t *st)
{
	ns_put(st, "default", NULL, NULL);
	ns_put(st, "testns", NULL, NULL);
	ns_put(st, "kube-system", NULL, NULL);
	ns_put(st, "other", NULL, NULL);
	ns_put(st, "labeled", "team", "a");

	svc_put(st, "testns", "svc1", "ClusterIP", "10.0.0.1", "http/TCP/80", NULL);
	svc_put(st, "testns", "svc6", "ClusterIP", "10.0.0.3,1234:abcd::1", "http/TCP/80", NULL);
	svc_put(st, "testns", "svc2p", "ClusterIP", "10.0.0.5", "http/TCP/80,https/TCP/443", NULL);
	svc_put(st, "testns", "v6first", "ClusterIP", "fd00::10,10.0.0.40", "http/TCP/80", NULL);
	svc_put(st, "testns", "hdls1", "ClusterIP", "None", "http/TCP/80", NULL);
	svc_put(st, "testns", "hdlsempty", "ClusterIP", "None", "http/TCP/80", NULL);
	svc_put(st, "testns", "ext", "ExternalName", NULL, "", "ext.interwebs.test");
	svc_put(st, "testns", "extin", "ExternalName", NULL, "", "svc1.testns.svc.cluster.local");
	svc_put(st, "testns", "extip", "ExternalName", NULL, "", "1.2.3.4");
	svc_put(st, "testns", "extloop", "ExternalName", NULL, "",
		"sub.extloop.testns.svc.cluster.local.");
	svc_put(st, "testns", "extchain", "ExternalName", NULL, "", "extin.testns.svc.cluster.local");
	svc_put(st, "testns", "extother", "ExternalName", NULL, "", "svc1.testns.svc.example.org");
	svc_put(st, "testns", "extdead", "ExternalName", NULL, "", "nosuch.testns.svc.cluster.local");
	/* chx -> ch0 -> ... -> ch9 -> svc1 */
	for (int i = -1; i <= 9; i++) {
		char nm[16], tg[64];
		snprintf(nm, sizeof(nm), i < 0 ? "chx" : "ch%d", i);
		if (i < 9)
			snprintf(tg, sizeof(tg), "ch%d.testns.svc.cluster.local", i + 1);
		else
			snprintf(tg, sizeof(tg), "svc1.testns.svc.cluster.local");
		svc_put(st, "testns", nm, "ExternalName", NULL, "", tg);
	}
	/* a loop: loopa -> loopb -> loopa */
	svc_put(st, "testns", "loopa", "ExternalName", NULL, "", "loopb.testns.svc.cluster.local");
	svc_put(st, "testns", "loopb", "ExternalName", NULL, "", "loopa.testns.svc.cluster.local");
	svc_put(st, "testns", "empty", "ClusterIP", "10.0.0.9", "http/TCP/80", NULL);
	svc_put(st, "testns", "noports", "ClusterIP", "10.0.0.10", "", NULL);
	svc_put(st, "testns", "svca", "ClusterIP", "10.0.0.20", "http/TCP/80", NULL);
	svc_put(st, "testns", "svcb", "NodePort", "10.0.0.21", "http/TCP/80", NULL);
	svc_put(st, "kube-system", "kube-dns", "ClusterIP", "10.96.0.10",
		"dns/UDP/53,dns-tcp/TCP/53,metrics/TCP/9153", NULL);
	svc_put(st, "other", "web", "ClusterIP", "10.0.1.1", "http/TCP/80", NULL);
	svc_put(st, "labeled", "web", "ClusterIP", "10.0.2.1", "http/TCP/80", NULL);
	svc_put(st, "nonexistns", "ghost", "ClusterIP", "10.0.9.9", "http/TCP/80", NULL);
	/* quirk 9: a ClusterIP owned twice; the first service wins the PTR */
	svc_put(st, "testns", "dupip", "ClusterIP", "10.0.0.1", "http/TCP/80", NULL);
	svc_put(st, "other", "aaa", "ClusterIP", "10.0.0.30", "http/TCP/80", NULL);
	svc_put(st, "testns", "bbb", "ClusterIP", "10.0.0.30", "http/TCP/80", NULL);

	addr_spec_t s1[] = { { "172.0.0.1", NULL, "svc1-pod" } };
	slice_put(st, "testns", "svc1-abc", "svc1", "http/TCP/80", s1, NA(s1));
	addr_spec_t h4[] = { { "172.0.0.2", NULL, NULL }, { "172.0.0.3", "dup-name", NULL },
			     { "172.0.0.4", "dup-name", NULL }, { "172.0.0.5", "foo", NULL } };
	slice_put(st, "testns", "hdls1-v4", "hdls1", "http/TCP/80", h4, NA(h4));
	addr_spec_t h6[] = { { "5678:abcd::1", NULL, NULL }, { "5678:abcd::2", NULL, NULL } };
	slice_put(st, "testns", "hdls1-v6", "hdls1", "http/TCP/80", h6, NA(h6));
	addr_spec_t kd[] = { { "10.244.0.7", NULL, "coredns-1" }, { "10.244.0.8", NULL, NULL } };
	slice_put(st, "kube-system", "kube-dns-xyz", "kube-dns",
		  "dns/UDP/53,dns-tcp/TCP/53,metrics/TCP/9153", kd, NA(kd));
	addr_spec_t p9[] = { { "172.0.0.9", NULL, NULL } };
	slice_put(st, "testns", "svca-1", "svca", "http/TCP/80", p9, NA(p9));
	slice_put(st, "testns", "svcb-1", "svcb", "http/TCP/80", p9, NA(p9));
	slice_put(st, "testns", "svcb-2", "svcb", "http/TCP/80", p9, NA(p9));

	svc_put(st, "testns", "mp", "ClusterIP", "None", "a/TCP/80,b/TCP/81", NULL);
	addr_spec_t m1[] = { { "172.0.1.1", NULL, NULL } };
	slice_put(st, "testns", "mp-1", "mp", "a/TCP/80,b/TCP/81", m1, NA(m1));
	addr_spec_t m2[] = { { "172.0.1.2", NULL, NULL } };
	slice_put(st, "testns", "mp-2", "mp", "a/TCP/80", m2, NA(m2));
	addr_spec_t m3[] = { { "172.0.1.3", NULL, NULL } };
	slice_put(st, "testns", "mp-3", "mp", "", m3, NA(m3));

	pod_put(st, "testns", "pod1", "10.244.1.5", "Running");
	pod_put(st, "testns", "pod2", "fd00::5", "Running");
	pod_put(st, "testns", "pod3", "10.244.1.6", "Failed");
	pod_put(st, "default", "pod4", "10.244.1.7", "Running");
	hfi_store_set_synced(st, true);
}

/* ---- configuration -------------------------------------------------------- */

typedef struct cfgbuf {
	hfi_cfg_kubernetes_t k;
	char *zones[8], *nss[8], *falls[8];
} cfgbuf_t;

static void cfg_init(cfgbuf_t *c)
{
	memset(c, 0, sizeof(*c));
	c->zones[0] = "cluster.local.";
	c->zones[1] = "example.org.";
	c->zones[2] = "in-addr.arpa.";
	c->zones[3] = "ip6.arpa.";
	c->k.zones.v = c->zones;
	c->k.zones.n = 4;
	c->k.primary = 0;
	c->k.ttl = 5;
	c->k.pods = HFI_PODS_DISABLED;
	c->k.namespaces.v = c->nss;
	c->k.fallthrough_zones.v = c->falls;
}

static hfi_ip_t g_self[2];

static hfi_k8s_index_t *build(const cfgbuf_t *c, size_t nself)
{
	hfi_k8s_index_t *ix = hfi_k8s_index_build(g_st, &c->k, g_self, nself, NULL);
	assert_non_null(ix);
	return ix;
}

/* ---- asking --------------------------------------------------------------- */

typedef struct res {
	int ret;
	int rcode;
	bool aa, ra, tc;
	char an[32768], au[4096], ad[32768];
} res_t;

static hfi_resp_t g_resp;
static uint8_t g_out[65536];
static res_t g_res;

static size_t mkq(uint8_t *buf, const char *name, uint16_t type)
{
	memset(buf, 0, 12);
	buf[0] = 0x12;
	buf[1] = 0x34;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	int n = hfi_dname_from_str(name, buf + 12, 256);
	assert_true(n > 0);
	size_t o = 12 + (size_t)n;
	buf[o++] = (uint8_t)(type >> 8);
	buf[o++] = (uint8_t)type;
	buf[o++] = 0;
	buf[o++] = 1;
	return o;
}

static void section(ldns_rr_list *l, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
		char *s = ldns_rr2str(ldns_rr_list_rr(l, i));
		for (char *p = s; *p; p++)
			if (*p == '\t')
				*p = ' ';
		size_t n = strlen(s);
		while (n > 0 && s[n - 1] == '\n')
			s[--n] = '\0';
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "", s);
		free(s);
		assert_true(o < cap);
	}
}

static res_t *ask_s(const hfi_k8s_index_t *ix, const char *name, uint16_t type, bool synced)
{
	uint8_t pkt[600];
	size_t n = mkq(pkt, name, type);
	hfi_query_t q;
	assert_int_equal(hfi_query_parse(&q, pkt, n, true), HFI_Q_OK);
	memset(&g_res, 0, sizeof(g_res));
	g_res.ret = hfi_k8s_answer(ix, &q, synced, &g_resp);
	if (g_res.ret == HFI_K8S_NEXT)
		return &g_res;
	int len = hfi_msg_pack(&q, &g_resp, g_out, sizeof(g_out), 0);
	if (len <= 0)
		fail_msg("%s: pack %d", name, len);
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, g_out, (size_t)len), LDNS_STATUS_OK);
	g_res.rcode = ldns_pkt_get_rcode(p);
	g_res.aa = ldns_pkt_aa(p);
	g_res.ra = ldns_pkt_ra(p);
	g_res.tc = ldns_pkt_tc(p);
	section(ldns_pkt_answer(p), g_res.an, sizeof(g_res.an));
	section(ldns_pkt_authority(p), g_res.au, sizeof(g_res.au));
	section(ldns_pkt_additional(p), g_res.ad, sizeof(g_res.ad));
	ldns_pkt_free(p);
	return &g_res;
}

static res_t *ask(const hfi_k8s_index_t *ix, const char *name, uint16_t type)
{
	return ask_s(ix, name, type, true);
}

static int g_checks;

#define EXPECT(r, RC, AN, AU, AD) expect_((r), (RC), (AN), (AU), (AD), __LINE__)
static void expect_(const res_t *r, int rc, const char *an, const char *au, const char *ad,
		    int line)
{
	g_checks++;
	if (r->ret == HFI_K8S_NEXT)
		fail_msg("line %d: NEXT", line);
	if (r->rcode != rc || strcmp(r->an, an) != 0 || strcmp(r->au, au) != 0 ||
	    strcmp(r->ad, ad) != 0)
		fail_msg("line %d:\n rcode %d (want %d)\n an [%s]\n want [%s]\n au [%s]\n want [%s]\n"
			 " ad [%s]\n want [%s]",
			 line, r->rcode, rc, r->an, an, r->au, au, r->ad, ad);
	if (!r->aa || r->ra)
		fail_msg("line %d: aa %d ra %d", line, r->aa, r->ra);
}

#define EXPECT_NEXT(r) do { g_checks++; if ((r)->ret != HFI_K8S_NEXT) \
	fail_msg("line %d: want NEXT, got rcode %d", __LINE__, (r)->rcode); } while (0)

/* the SOA CoreDNS puts in negative answers, zone as spelled in the query */
static const char *SOA_T(const char *zone, unsigned ttl)
{
	static char buf[4][512];
	static int i;
	char *b = buf[i++ & 3];
	snprintf(b, 512, "%s %u IN SOA ns.dns.%s hostmaster.%s %u 7200 1800 86400 %u", zone,
		 ttl < 300 ? ttl : 300, zone, zone, g_serial, ttl);
	return b;
}
#define SOA(z) SOA_T((z), 5)
#define CL "cluster.local."

enum { NOERR = 0, SERVFAIL = 2, NXDOMAIN = 3, REFUSED = 5 };
enum { A = 1, NS = 2, CNAME = 5, SOAT = 6, PTR = 12, HINFO = 13, MX = 15, TXT = 16,
       AAAA = 28, SRV = 33, AXFR = 252, IXFR = 251, ANY = 255 };

static int setup(void **state)
{
	(void)state;
	g_st = hfi_store_new(NULL);
	assert_non_null(g_st);
	store_fill(g_st);
	g_serial = hfi_store_serial(g_st);
	assert_true(g_serial > 0);
	g_self[0] = IP("10.244.0.7");
	g_self[1] = IP("192.168.1.1");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hfi_store_free(g_st);
	return 0;
}

/* ---- the 4.6 table and the basic records ------------------------------- */

static void test_nxdomain_nodata_table(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1);

	EXPECT(ask(ix, CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "svc." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "pod." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "foo." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "a.b." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "testns.svc." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nonexist.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, AAAA), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.nonexist.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "hdlsempty.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "empty.testns.svc." CL, A), NOERR,
	       "empty.testns.svc.cluster.local. 5 IN A 10.0.0.9", "", "");
	EXPECT(ask(ix, "bogus.hdls1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "_http._udp.svc1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "_dns._tcp.svc1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "a.b.c.svc1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "testns.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "1-2-3-4.testns.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "dns-version." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "dns-version." CL, TXT), NOERR,
	       "dns-version.cluster.local. 28800 IN TXT \"1.1.0\"", "", "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, SOAT), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, SOAT), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "ghost.nonexistns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	/* wildcards are ordinary labels */
	EXPECT(ask(ix, "*.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.*.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	hfi_k8s_index_free(ix);
}

static void test_address_records(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1);

	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NOERR,
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "svc6.testns.svc." CL, A), NOERR,
	       "svc6.testns.svc.cluster.local. 5 IN A 10.0.0.3", "", "");
	EXPECT(ask(ix, "svc6.testns.svc." CL, AAAA), NOERR,
	       "svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1", "", "");
	EXPECT(ask(ix, "hdls1.testns.svc." CL, A), NOERR,
	       "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2|"
	       "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3|"
	       "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4|"
	       "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5", "", "");
	EXPECT(ask(ix, "hdls1.testns.svc." CL, AAAA), NOERR,
	       "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1|"
	       "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2", "", "");
	/* endpoint names: hostname, dashed IP, several addresses per name */
	EXPECT(ask(ix, "dup-name.hdls1.testns.svc." CL, A), NOERR,
	       "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3|"
	       "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4", "", "");
	EXPECT(ask(ix, "172-0-0-2.hdls1.testns.svc." CL, A), NOERR,
	       "172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2", "", "");
	EXPECT(ask(ix, "foo.hdls1.testns.svc." CL, AAAA), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "5678-abcd--1.hdls1.testns.svc." CL, AAAA), NOERR,
	       "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1", "", "");
	/* endpoint name of a ClusterIP service */
	EXPECT(ask(ix, "172-0-0-1.svc1.testns.svc." CL, A), NOERR,
	       "172-0-0-1.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1", "", "");
	/* quirk 8: the SRV-style name answers A */
	EXPECT(ask(ix, "_http._tcp.svc1.testns.svc." CL, A), NOERR,
	       "_http._tcp.svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "http.tcp.svc2p.testns.svc." CL, A), NOERR,
	       "http.tcp.svc2p.testns.svc.cluster.local. 5 IN A 10.0.0.5", "", "");
	EXPECT(ask(ix, "noports.testns.svc." CL, A), NOERR,
	       "noports.testns.svc.cluster.local. 5 IN A 10.0.0.10", "", "");
	EXPECT(ask(ix, "svcb.testns.svc." CL, A), NOERR,
	       "svcb.testns.svc.cluster.local. 5 IN A 10.0.0.21", "", "");
	/* a reverse name asked for A goes through the forward grammar */
	EXPECT(ask(ix, "1.0.0.10.in-addr.arpa.", A), NXDOMAIN, "", SOA("in-addr.arpa."), "");
	/* the second forward zone answers the same names */
	EXPECT(ask(ix, "svc1.testns.svc.example.org.", A), NOERR,
	       "svc1.testns.svc.example.org. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "nosuch.testns.svc.example.org.", A), NXDOMAIN, "", SOA("example.org."), "");
	hfi_k8s_index_free(ix);
}

static void test_srv(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1);

	EXPECT(ask(ix, "svc1.testns.svc." CL, SRV), NOERR,
	       "svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.", "",
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1");
	/* dual stack, one port: one SRV, weight 50, A + AAAA glue */
	EXPECT(ask(ix, "svc6.testns.svc." CL, SRV), NOERR,
	       "svc6.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc6.testns.svc.cluster.local.", "",
	       "svc6.testns.svc.cluster.local. 5 IN A 10.0.0.3|"
	       "svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1");
	/* IPv6 first in clusterIPs: AAAA glue first */
	EXPECT(ask(ix, "v6first.testns.svc." CL, SRV), NOERR,
	       "v6first.testns.svc.cluster.local. 5 IN SRV 0 50 80 v6first.testns.svc.cluster.local.", "",
	       "v6first.testns.svc.cluster.local. 5 IN AAAA fd00::10|"
	       "v6first.testns.svc.cluster.local. 5 IN A 10.0.0.40");
	EXPECT(ask(ix, "v6first.testns.svc." CL, A), NOERR,
	       "v6first.testns.svc.cluster.local. 5 IN A 10.0.0.40", "", "");
	/* two ports: 50/50, one A */
	EXPECT(ask(ix, "svc2p.testns.svc." CL, SRV), NOERR,
	       "svc2p.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc2p.testns.svc.cluster.local.|"
	       "svc2p.testns.svc.cluster.local. 5 IN SRV 0 50 443 svc2p.testns.svc.cluster.local.",
	       "", "svc2p.testns.svc.cluster.local. 5 IN A 10.0.0.5");
	EXPECT(ask(ix, "_https._tcp.svc2p.testns.svc." CL, SRV), NOERR,
	       "_https._tcp.svc2p.testns.svc.cluster.local. 5 IN SRV 0 100 443 svc2p.testns.svc.cluster.local.",
	       "", "svc2p.testns.svc.cluster.local. 5 IN A 10.0.0.5");
	/* headless, 6 addresses: weight 16; dup-name once in SRV, twice in glue */
	const char *hsrv =
		"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.|"
		"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.|"
		"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 foo.hdls1.testns.svc.cluster.local.|"
		"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.|"
		"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.";
	const char *hglue =
		"172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2|"
		"dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3|"
		"dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4|"
		"foo.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5|"
		"5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1|"
		"5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2";
	EXPECT(ask(ix, "hdls1.testns.svc." CL, SRV), NOERR, hsrv, "", hglue);
	/* the same through the port name (precomputed port node) */
	const char *psrv =
		"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.|"
		"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.|"
		"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 foo.hdls1.testns.svc.cluster.local.|"
		"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.|"
		"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.";
	EXPECT(ask(ix, "_http._tcp.hdls1.testns.svc." CL, SRV), NOERR, psrv, "", hglue);
	EXPECT(ask(ix, "_http._udp.hdls1.testns.svc." CL, SRV), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "_http._udp.hdls1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "_http._tcp.hdls1.testns.svc." CL, AAAA), NOERR,
	       "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1|"
	       "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2", "", "");
	/* headless with two named ports in one slice, one in another */
	EXPECT(ask(ix, "_._tcp.mp.testns.svc." CL, SRV), NOERR,
	       "_._tcp.mp.testns.svc.cluster.local. 5 IN SRV 0 33 80 172-0-1-1.mp.testns.svc.cluster.local.|"
	       "_._tcp.mp.testns.svc.cluster.local. 5 IN SRV 0 33 81 172-0-1-1.mp.testns.svc.cluster.local.|"
	       "_._tcp.mp.testns.svc.cluster.local. 5 IN SRV 0 33 80 172-0-1-2.mp.testns.svc.cluster.local.",
	       "", "172-0-1-1.mp.testns.svc.cluster.local. 5 IN A 172.0.1.1|"
	       "172-0-1-2.mp.testns.svc.cluster.local. 5 IN A 172.0.1.2");
	EXPECT(ask(ix, "_b._tcp.mp.testns.svc." CL, SRV), NOERR,
	       "_b._tcp.mp.testns.svc.cluster.local. 5 IN SRV 0 100 81 172-0-1-1.mp.testns.svc.cluster.local.",
	       "", "172-0-1-1.mp.testns.svc.cluster.local. 5 IN A 172.0.1.1");
	/* bare: 3 entries + the port-less slice counts for the weight (4 -> 25) */
	EXPECT(ask(ix, "mp.testns.svc." CL, SRV), NOERR,
	       "mp.testns.svc.cluster.local. 5 IN SRV 0 25 80 172-0-1-1.mp.testns.svc.cluster.local.|"
	       "mp.testns.svc.cluster.local. 5 IN SRV 0 25 81 172-0-1-1.mp.testns.svc.cluster.local.|"
	       "mp.testns.svc.cluster.local. 5 IN SRV 0 25 80 172-0-1-2.mp.testns.svc.cluster.local.",
	       "", "172-0-1-1.mp.testns.svc.cluster.local. 5 IN A 172.0.1.1|"
	       "172-0-1-2.mp.testns.svc.cluster.local. 5 IN A 172.0.1.2");
	EXPECT(ask(ix, "mp.testns.svc." CL, A), NOERR,
	       "mp.testns.svc.cluster.local. 5 IN A 172.0.1.1|"
	       "mp.testns.svc.cluster.local. 5 IN A 172.0.1.2|"
	       "mp.testns.svc.cluster.local. 5 IN A 172.0.1.3", "", "");
	/* endpoint SRV: weights over the two dup-name entries */
	EXPECT(ask(ix, "dup-name.hdls1.testns.svc." CL, SRV), NOERR,
	       "dup-name.hdls1.testns.svc.cluster.local. 5 IN SRV 0 50 80 dup-name.hdls1.testns.svc.cluster.local.",
	       "", "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3|"
	       "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4");
	/* three ports on kube-dns: weight 33 */
	EXPECT(ask(ix, "kube-dns.kube-system.svc." CL, SRV), NOERR,
	       "kube-dns.kube-system.svc.cluster.local. 5 IN SRV 0 33 53 kube-dns.kube-system.svc.cluster.local.|"
	       "kube-dns.kube-system.svc.cluster.local. 5 IN SRV 0 33 9153 kube-dns.kube-system.svc.cluster.local.",
	       "", "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10");
	EXPECT(ask(ix, "_dns._udp.kube-dns.kube-system.svc." CL, SRV), NOERR,
	       "_dns._udp.kube-dns.kube-system.svc.cluster.local. 5 IN SRV 0 100 53 kube-dns.kube-system.svc.cluster.local.",
	       "", "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10");
	/* protocol only (empty port label): both TCP ports, weight 50 */
	EXPECT(ask(ix, "_._tcp.kube-dns.kube-system.svc." CL, SRV), NOERR,
	       "_._tcp.kube-dns.kube-system.svc.cluster.local. 5 IN SRV 0 50 53 kube-dns.kube-system.svc.cluster.local.|"
	       "_._tcp.kube-dns.kube-system.svc.cluster.local. 5 IN SRV 0 50 9153 kube-dns.kube-system.svc.cluster.local.",
	       "", "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10");
	/* no ports: the -1 entry makes no SRV */
	EXPECT(ask(ix, "noports.testns.svc." CL, SRV), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "ext.testns.svc." CL, SRV), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "testns.svc." CL, SRV), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, SRV), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "_http._tcp.hdlsempty.testns.svc." CL, SRV), NXDOMAIN, "", SOA(CL), "");
	hfi_k8s_index_free(ix);
}

static void test_txt_cname_other_types(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1);

	/* quirk 1: TXT on existing non-service names is NXDOMAIN */
	EXPECT(ask(ix, CL, TXT), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "svc." CL, TXT), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "testns.svc." CL, TXT), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, TXT), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "hdls1.testns.svc." CL, TXT), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "ext.testns.svc." CL, TXT), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, TXT), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "ns.dns." CL, TXT), NXDOMAIN, "", SOA(CL), "");
	/* CNAME */
	EXPECT(ask(ix, "ext.testns.svc." CL, CNAME), NOERR,
	       "ext.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.", "", "");
	EXPECT(ask(ix, "extloop.testns.svc." CL, CNAME), NOERR,
	       "extloop.testns.svc.cluster.local. 5 IN CNAME sub.extloop.testns.svc.cluster.local.",
	       "", "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, CNAME), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, CNAME), NXDOMAIN, "", SOA(CL), "");
	/* MX, HINFO, ANY: NODATA when the name exists, else NXDOMAIN */
	EXPECT(ask(ix, "svc1.testns.svc." CL, MX), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, ANY), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, CL, HINFO), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, HINFO), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, MX), NXDOMAIN, "", SOA(CL), "");
	/* NS below the apex: the fake A lookup */
	EXPECT(ask(ix, "svc1.testns.svc." CL, NS), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, NS), NXDOMAIN, "", SOA(CL), "");
	/* SOA at the apex */
	EXPECT(ask(ix, CL, SOAT), NOERR, SOA(CL), "", "");
	/* AXFR/IXFR: REFUSED, written by the server (AA clear) */
	res_t *r = ask(ix, CL, AXFR);
	assert_int_equal(r->ret, HFI_K8S_DONE);
	assert_int_equal(r->rcode, REFUSED);
	assert_false(r->aa);
	assert_string_equal(g_resp.plugin, "");
	r = ask(ix, "nosuch.testns.svc." CL, IXFR);
	assert_int_equal(r->rcode, REFUSED);
	g_checks += 2;
	hfi_k8s_index_free(ix);
}

static void test_external_name(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1);

	/* out of zone: the CNAME, and the caller resolves the target */
	res_t *r = ask(ix, "ext.testns.svc." CL, A);
	assert_int_equal(r->ret, HFI_K8S_RESOLVE);
	EXPECT(r, NOERR, "ext.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.", "", "");
	assert_int_equal(g_resp.rr[g_resp.nrr - 1].type, HFI_T_CNAME);
	/* in zone: CNAME + the target's records */
	r = ask(ix, "extin.testns.svc." CL, A);
	assert_int_equal(r->ret, HFI_K8S_DONE);
	EXPECT(r, NOERR,
	       "extin.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.|"
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "extchain.testns.svc." CL, A), NOERR,
	       "extchain.testns.svc.cluster.local. 5 IN CNAME extin.testns.svc.cluster.local.|"
	       "extin.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.|"
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	/* ten CNAMEs are followed, eleven are not (nothing is answered) */
	char want[4096];
	size_t o = 0;
	for (int i = 0; i <= 9; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o,
				      "ch%d.testns.svc.cluster.local. 5 IN CNAME %s%d.testns.svc.cluster.local.|",
				      i, i < 9 ? "ch" : "svc", i < 9 ? i + 1 : 1);
	snprintf(want + o, sizeof(want) - o, "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1");
	EXPECT(ask(ix, "ch0.testns.svc." CL, A), NOERR, want, "", "");
	EXPECT(ask(ix, "chx.testns.svc." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "loopa.testns.svc." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "loopa.testns.svc." CL, CNAME), NOERR,
	       "loopa.testns.svc.cluster.local. 5 IN CNAME loopb.testns.svc.cluster.local.", "", "");
	/* the target has no AAAA: the CNAME is dropped too */
	EXPECT(ask(ix, "extin.testns.svc." CL, AAAA), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "extdead.testns.svc." CL, A), NOERR, "", SOA(CL), "");
	/* target below the qname: dropped */
	EXPECT(ask(ix, "extloop.testns.svc." CL, A), NOERR, "", SOA(CL), "");
	/* an IP as externalName: no record */
	EXPECT(ask(ix, "extip.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "extip.testns.svc." CL, CNAME), NXDOMAIN, "", SOA(CL), "");
	/* port / endpoint labels under an ExternalName service */
	EXPECT(ask(ix, "_http._tcp.ext.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "ep.ext.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	/* another zone of the plugin is still "outside" for CoreDNS */
	r = ask(ix, "extother.testns.svc." CL, A);
	assert_int_equal(r->ret, HFI_K8S_RESOLVE);
	EXPECT(r, NOERR,
	       "extother.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.example.org.", "", "");
	/* asked in the other zone, the in-zone rule uses that zone */
	r = ask(ix, "extin.testns.svc.example.org.", A);
	assert_int_equal(r->ret, HFI_K8S_RESOLVE);
	hfi_k8s_index_free(ix);
}

static void test_ptr(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1);
	const char *ia = "in-addr.arpa.", *i6 = "ip6.arpa.";

	EXPECT(ask(ix, "1.0.0.10.in-addr.arpa.", PTR), NOERR,
	       "1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "2.0.0.172.in-addr.arpa.", PTR), NOERR,
	       "2.0.0.172.in-addr.arpa. 5 IN PTR 172-0-0-2.hdls1.testns.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "3.0.0.172.in-addr.arpa.", PTR), NOERR,
	       "3.0.0.172.in-addr.arpa. 5 IN PTR dup-name.hdls1.testns.svc.cluster.local.", "", "");
	/* an IP in two services: two PTRs; in two slices of one service: one */
	EXPECT(ask(ix, "9.0.0.172.in-addr.arpa.", PTR), NOERR,
	       "9.0.0.172.in-addr.arpa. 5 IN PTR 172-0-0-9.svca.testns.svc.cluster.local.|"
	       "9.0.0.172.in-addr.arpa. 5 IN PTR 172-0-0-9.svcb.testns.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.", PTR),
	       NOERR,
	       "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 5 IN PTR "
	       "svc6.testns.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa.", PTR),
	       NOERR,
	       "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa. 5 IN PTR "
	       "5678-abcd--2.hdls1.testns.svc.cluster.local.", "", "");
	/* quirk 9: only the first service owning the IP */
	EXPECT(ask(ix, "30.0.0.10.in-addr.arpa.", PTR), NOERR,
	       "30.0.0.10.in-addr.arpa. 5 IN PTR aaa.other.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "dupip.testns.svc." CL, A), NOERR,
	       "dupip.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	/* PTR needs no namespace (namespaces unset) */
	EXPECT(ask(ix, "9.9.0.10.in-addr.arpa.", PTR), NOERR,
	       "9.9.0.10.in-addr.arpa. 5 IN PTR ghost.nonexistns.svc.cluster.local.", "", "");
	/* not found, partial, other names */
	EXPECT(ask(ix, "99.0.0.10.in-addr.arpa.", PTR), NXDOMAIN, "", SOA(ia), "");
	EXPECT(ask(ix, "5.1.244.10.in-addr.arpa.", PTR), NXDOMAIN, "", SOA(ia), "");
	EXPECT(ask(ix, "0.10.in-addr.arpa.", PTR), NXDOMAIN, "", SOA(ia), "");
	EXPECT(ask(ix, "in-addr.arpa.", PTR), NOERR, "", SOA(ia), "");
	EXPECT(ask(ix, "d.c.b.a.ip6.arpa.", PTR), NXDOMAIN, "", SOA(i6), "");
	/* PTR on a forward name: NODATA if it exists */
	EXPECT(ask(ix, "svc1.testns.svc." CL, PTR), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, PTR), NXDOMAIN, "", SOA(CL), "");
	/* query case in the owner, primary zone (lower case) in the target */
	EXPECT(ask(ix, "1.0.0.10.IN-ADDR.ARPA.", PTR), NOERR,
	       "1.0.0.10.IN-ADDR.ARPA. 5 IN PTR svc1.testns.svc.cluster.local.", "", "");
	hfi_k8s_index_free(ix);

	/* a reverse zone from a CIDR: its apex is NODATA, names below NXDOMAIN */
	c.zones[2] = "0.10.in-addr.arpa.";
	ix = build(&c, 1);
	EXPECT(ask(ix, "0.10.in-addr.arpa.", PTR), NOERR, "", SOA("0.10.in-addr.arpa."), "");
	EXPECT(ask(ix, "7.0.10.in-addr.arpa.", PTR), NXDOMAIN, "", SOA("0.10.in-addr.arpa."), "");
	EXPECT(ask(ix, "1.0.0.10.in-addr.arpa.", PTR), NOERR,
	       "1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.", "", "");
	assert_false(ask(ix, "1.1.1.1.in-addr.arpa.", PTR)->ret != HFI_K8S_NEXT);
	hfi_k8s_index_free(ix);
}

static void test_ns_and_apex(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1); /* self = 10.244.0.7, a kube-dns endpoint */

	EXPECT(ask(ix, CL, NS), NOERR,
	       "cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.", "",
	       "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10");
	EXPECT(ask(ix, "ns.dns." CL, A), NOERR, "ns.dns.cluster.local. 5 IN A 10.96.0.10", "", "");
	EXPECT(ask(ix, "NS.DNS." CL, A), NOERR, "NS.DNS.cluster.local. 5 IN A 10.96.0.10", "", "");
	EXPECT(ask(ix, "ns.dns." CL, AAAA), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "ns.dns." CL, SRV), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "ns.dns." CL, PTR), NXDOMAIN, "", SOA(CL), "");
	/* quirk 4: mixed-case apex NS is NODATA (SOA in the query's case) */
	EXPECT(ask(ix, "Cluster.Local.", NS), NOERR, "", SOA("Cluster.Local."), "");
	/* the zone case in isDefaultNS too: ns.dns under a mixed-case zone */
	EXPECT(ask(ix, "ns.dns.Cluster.local.", A), NXDOMAIN, "", SOA("Cluster.local."), "");
	/* SOA at a mixed-case apex is answered, in the query's case */
	EXPECT(ask(ix, "CLUSTER.local.", SOAT), NOERR, SOA("CLUSTER.local."), "", "");
	/* the other zone */
	EXPECT(ask(ix, "example.org.", NS), NOERR,
	       "example.org. 5 IN NS kube-dns.kube-system.svc.example.org.", "",
	       "kube-dns.kube-system.svc.example.org. 5 IN A 10.96.0.10");
	hfi_k8s_index_free(ix);

	/* self IP in no slice: ns.dns.<zone> with the own addresses */
	g_self[0] = IP("192.168.1.1");
	g_self[1] = IP("fd00::53");
	ix = build(&c, 2);
	EXPECT(ask(ix, CL, NS), NOERR, "cluster.local. 5 IN NS ns.dns.cluster.local.", "",
	       "ns.dns.cluster.local. 5 IN A 192.168.1.1|ns.dns.cluster.local. 5 IN AAAA fd00::53");
	EXPECT(ask(ix, "ns.dns." CL, A), NOERR, "ns.dns.cluster.local. 5 IN A 192.168.1.1", "", "");
	EXPECT(ask(ix, "ns.dns." CL, AAAA), NOERR, "ns.dns.cluster.local. 5 IN AAAA fd00::53", "", "");
	hfi_k8s_index_free(ix);
	/* self IP in a headless service's slice: one NS per endpoint name of
	 * that slice, glue per address (dup-name twice) */
	g_self[0] = IP("172.0.0.5");
	ix = build(&c, 1);
	EXPECT(ask(ix, CL, NS), NOERR,
	       "cluster.local. 5 IN NS 172-0-0-2.hdls1.testns.svc.cluster.local.|"
	       "cluster.local. 5 IN NS dup-name.hdls1.testns.svc.cluster.local.|"
	       "cluster.local. 5 IN NS foo.hdls1.testns.svc.cluster.local.", "",
	       "172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2|"
	       "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3|"
	       "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4|"
	       "foo.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5");
	EXPECT(ask(ix, "ns.dns." CL, A), NOERR,
	       "ns.dns.cluster.local. 5 IN A 172.0.0.2|ns.dns.cluster.local. 5 IN A 172.0.0.3|"
	       "ns.dns.cluster.local. 5 IN A 172.0.0.4|ns.dns.cluster.local. 5 IN A 172.0.0.5", "", "");
	hfi_k8s_index_free(ix);
	/* two own addresses in one slice: the service is listed twice, glue too */
	g_self[0] = IP("10.244.0.7");
	g_self[1] = IP("10.244.0.8");
	ix = build(&c, 2);
	EXPECT(ask(ix, CL, NS), NOERR,
	       "cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.", "",
	       "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10|"
	       "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10");
	hfi_k8s_index_free(ix);
	/* no usable address at all: NODATA */
	ix = build(&c, 0);
	EXPECT(ask(ix, CL, NS), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "ns.dns." CL, A), NOERR, "", SOA(CL), "");
	hfi_k8s_index_free(ix);
	g_self[0] = IP("10.244.0.7");
	g_self[1] = IP("192.168.1.1");
}

static void test_case_echo(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	hfi_k8s_index_t *ix = build(&c, 1);

	EXPECT(ask(ix, "SvC1.TeStNs.SvC.ClUsTeR.LoCaL.", A), NOERR,
	       "SvC1.TeStNs.SvC.ClUsTeR.LoCaL. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.", SRV), NOERR,
	       "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL.",
	       "", "svc1.testns.svc.cLuStEr.LoCaL. 5 IN A 10.0.0.1");
	EXPECT(ask(ix, "NoSuch.testns.svc.CLUSTER.local.", A), NXDOMAIN, "", SOA("CLUSTER.local."), "");
	EXPECT(ask(ix, "Dup-Name.HDLS1.testns.svc.cluster.LOCAL.", SRV), NOERR,
	       "Dup-Name.HDLS1.testns.svc.cluster.LOCAL. 5 IN SRV 0 50 80 dup-name.hdls1.testns.svc.cluster.LOCAL.",
	       "", "dup-name.hdls1.testns.svc.cluster.LOCAL. 5 IN A 172.0.0.3|"
	       "dup-name.hdls1.testns.svc.cluster.LOCAL. 5 IN A 172.0.0.4");
	EXPECT(ask(ix, "ExtIn.TestNS.svc.Cluster.Local.", A), NOERR,
	       "ExtIn.TestNS.svc.Cluster.Local. 5 IN CNAME svc1.testns.svc.cluster.local.|"
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "testns.svc.Cluster.Local.", A), NOERR, "", SOA("Cluster.Local."), "");
	hfi_k8s_index_free(ix);
}

/* ---- options --------------------------------------------------------------- */

static void test_options_ttl_namespaces(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	c.k.ttl = 30;
	hfi_k8s_index_t *ix = build(&c, 1);
	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NOERR,
	       "svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, A), NXDOMAIN, "", SOA_T(CL, 30), "");
	EXPECT(ask(ix, "dns-version." CL, TXT), NOERR,
	       "dns-version.cluster.local. 28800 IN TXT \"1.1.0\"", "", "");
	hfi_k8s_index_free(ix);
	c.k.ttl = 3600; /* SOA TTL capped at 300, MINIMUM = ttl */
	ix = build(&c, 1);
	EXPECT(ask(ix, CL, SOAT), NOERR, SOA_T(CL, 3600), "", "");
	hfi_k8s_index_free(ix);
	c.k.ttl = 0;
	ix = build(&c, 1);
	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NOERR,
	       "svc1.testns.svc.cluster.local. 0 IN A 10.0.0.1", "", "");
	hfi_k8s_index_free(ix);

	/* namespaces: others are NXDOMAIN, also for PTR; NS ignores it */
	cfg_init(&c);
	c.nss[0] = "testns";
	c.k.namespaces.n = 1;
	ix = build(&c, 1);
	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NOERR,
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "web.other.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "other.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "1.1.0.10.in-addr.arpa.", PTR), NXDOMAIN, "", SOA("in-addr.arpa."), "");
	EXPECT(ask(ix, "1.0.0.10.in-addr.arpa.", PTR), NOERR,
	       "1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "9.9.0.10.in-addr.arpa.", PTR), NXDOMAIN, "", SOA("in-addr.arpa."), "");
	/* the first service in an exposed namespace owning the IP */
	EXPECT(ask(ix, "30.0.0.10.in-addr.arpa.", PTR), NOERR,
	       "30.0.0.10.in-addr.arpa. 5 IN PTR bbb.testns.svc.cluster.local.", "", "");
	EXPECT(ask(ix, CL, NS), NOERR,
	       "cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.", "",
	       "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10");
	hfi_k8s_index_free(ix);

	/* namespace_labels: unmatched namespaces do not exist; PTR ignores it */
	cfg_init(&c);
	c.k.namespace_labels = "team=a";
	ix = build(&c, 1);
	EXPECT(ask(ix, "web.labeled.svc." CL, A), NOERR,
	       "web.labeled.svc.cluster.local. 5 IN A 10.0.2.1", "", "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "labeled.svc." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "1.0.0.10.in-addr.arpa.", PTR), NOERR,
	       "1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.", "", "");
	hfi_k8s_index_free(ix);
}

static void test_options_endpoints(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	c.k.ignore_empty_service = true;
	hfi_k8s_index_t *ix = build(&c, 1);
	EXPECT(ask(ix, "empty.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "empty.testns.svc." CL, TXT), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NOERR,
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "hdls1.testns.svc." CL, AAAA), NOERR,
	       "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1|"
	       "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2", "", "");
	EXPECT(ask(ix, "ext.testns.svc." CL, CNAME), NOERR,
	       "ext.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.", "", "");
	hfi_k8s_index_free(ix);

	cfg_init(&c);
	c.k.noendpoints = true;
	ix = build(&c, 1);
	EXPECT(ask(ix, "hdls1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "172-0-0-1.svc1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NOERR,
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	EXPECT(ask(ix, "2.0.0.172.in-addr.arpa.", PTR), NXDOMAIN, "", SOA("in-addr.arpa."), "");
	EXPECT(ask(ix, CL, NS), NOERR, "cluster.local. 5 IN NS ns.dns.cluster.local.", "",
	       "ns.dns.cluster.local. 5 IN A 10.244.0.7");
	hfi_k8s_index_free(ix);

	cfg_init(&c);
	c.k.endpoint_pod_names = true;
	ix = build(&c, 1);
	EXPECT(ask(ix, "svc1-pod.svc1.testns.svc." CL, A), NOERR,
	       "svc1-pod.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1", "", "");
	EXPECT(ask(ix, "172-0-0-1.svc1.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "1.0.0.172.in-addr.arpa.", PTR), NOERR,
	       "1.0.0.172.in-addr.arpa. 5 IN PTR svc1-pod.svc1.testns.svc.cluster.local.", "", "");
	/* hostname still wins */
	EXPECT(ask(ix, "foo.hdls1.testns.svc." CL, A), NOERR,
	       "foo.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5", "", "");
	/* NS names of a headless... kube-dns is ClusterIP: unchanged */
	EXPECT(ask(ix, CL, NS), NOERR,
	       "cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.", "",
	       "kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10");
	hfi_k8s_index_free(ix);
}

static void test_options_fallthrough_and_sync(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	c.k.fallthrough = true; /* no zones: everything */
	hfi_k8s_index_t *ix = build(&c, 1);
	EXPECT_NEXT(ask(ix, "nosuch.testns.svc." CL, A));
	EXPECT_NEXT(ask(ix, "foo." CL, TXT));
	EXPECT_NEXT(ask(ix, "99.0.0.10.in-addr.arpa.", PTR));
	/* NODATA never falls through */
	EXPECT(ask(ix, "testns.svc." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "svc1.testns.svc." CL, A), NOERR,
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	/* not synced + fallthrough: still the next plugin */
	EXPECT_NEXT(ask_s(ix, "nosuch.testns.svc." CL, A, false));
	hfi_k8s_index_free(ix);

	/* kubeadm: fallthrough in-addr.arpa ip6.arpa */
	c.falls[0] = "in-addr.arpa.";
	c.falls[1] = "ip6.arpa.";
	c.k.fallthrough_zones.n = 2;
	ix = build(&c, 1);
	EXPECT_NEXT(ask(ix, "99.0.0.10.in-addr.arpa.", PTR));
	EXPECT(ask(ix, "1.0.0.10.in-addr.arpa.", PTR), NOERR,
	       "1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "nosuch.testns.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	hfi_k8s_index_free(ix);

	/* not synced: NXDOMAIN-class -> SERVFAIL + SOA (AA); the rest as usual */
	cfg_init(&c);
	ix = build(&c, 1);
	EXPECT(ask_s(ix, "nosuch.testns.svc." CL, A, false), SERVFAIL, "", SOA(CL), "");
	EXPECT(ask_s(ix, "foo." CL, TXT, false), SERVFAIL, "", SOA(CL), "");
	EXPECT(ask_s(ix, "testns.svc." CL, A, false), NOERR, "", SOA(CL), "");
	EXPECT(ask_s(ix, "svc1.testns.svc." CL, A, false), NOERR,
	       "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1", "", "");
	/* not ours */
	EXPECT_NEXT(ask(ix, "www.example.com.", A));
	uint8_t pkt[300];
	hfi_query_t q;
	size_t n = mkq(pkt, "www.example.com.", A);
	assert_int_equal(hfi_query_parse(&q, pkt, n, true), HFI_Q_OK);
	assert_false(hfi_k8s_handles(ix, &q));
	n = mkq(pkt, "a.b.Cluster.Local.", A);
	assert_int_equal(hfi_query_parse(&q, pkt, n, true), HFI_Q_OK);
	assert_true(hfi_k8s_handles(ix, &q));
	hfi_k8s_index_free(ix);
}

static void test_options_pods(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	c.k.pods = HFI_PODS_INSECURE;
	hfi_k8s_index_t *ix = build(&c, 1);
	EXPECT(ask(ix, "1-2-3-4.testns.pod." CL, A), NOERR,
	       "1-2-3-4.testns.pod.cluster.local. 5 IN A 1.2.3.4", "", "");
	EXPECT(ask(ix, "1-2-3-4.testns.pod." CL, AAAA), NOERR, "", SOA(CL), "");
	/* quirk 3: extra labels left of the pod IP are ignored */
	EXPECT(ask(ix, "x.1-2-3-4.testns.pod." CL, A), NOERR,
	       "x.1-2-3-4.testns.pod.cluster.local. 5 IN A 1.2.3.4", "", "");
	EXPECT(ask(ix, "x.y.1-2-3-4.testns.pod." CL, A), NOERR,
	       "x.y.1-2-3-4.testns.pod.cluster.local. 5 IN A 1.2.3.4", "", "");
	EXPECT(ask(ix, "fd00--1.testns.pod." CL, AAAA), NOERR,
	       "fd00--1.testns.pod.cluster.local. 5 IN AAAA fd00::1", "", "");
	EXPECT(ask(ix, "1-2-3-4.nonexist.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "junk.testns.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "testns.pod." CL, A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "nonexist.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "1-2-3-4.testns.pod." CL, TXT), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "1-2-3-4.testns.pod." CL, SRV), NOERR,
	       "1-2-3-4.testns.pod.cluster.local. 5 IN SRV 0 100 0 1-2-3-4.testns.pod.cluster.local.",
	       "", "1-2-3-4.testns.pod.cluster.local. 5 IN A 1.2.3.4");
	hfi_k8s_index_free(ix);

	c.k.pods = HFI_PODS_VERIFIED;
	ix = build(&c, 1);
	EXPECT(ask(ix, "10-244-1-5.testns.pod." CL, A), NOERR,
	       "10-244-1-5.testns.pod.cluster.local. 5 IN A 10.244.1.5", "", "");
	EXPECT(ask(ix, "fd00--5.testns.pod." CL, AAAA), NOERR,
	       "fd00--5.testns.pod.cluster.local. 5 IN AAAA fd00::5", "", "");
	EXPECT(ask(ix, "fd00-0-0-0-0-0-0-5.testns.pod." CL, AAAA), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "10-244-1-9.testns.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "10-244-1-6.testns.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "10-244-1-7.testns.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "10-244-1-7.default.pod." CL, A), NOERR,
	       "10-244-1-7.default.pod.cluster.local. 5 IN A 10.244.1.7", "", "");
	EXPECT(ask(ix, "x.10-244-1-5.testns.pod." CL, AAAA), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, "testns.pod." CL, A), NOERR, "", SOA(CL), "");
	hfi_k8s_index_free(ix);
}

/* ---- allocation -------------------------------------------------------------- */

static const char *g_loop_names[] = {
	"svc1.testns.svc.cluster.local.", "hdls1.testns.svc.cluster.local.",
	"nosuch.testns.svc.cluster.local.", "extin.testns.svc.cluster.local.",
	"ext.testns.svc.cluster.local.", "1.0.0.10.in-addr.arpa.", "cluster.local.",
	"_http._tcp.svc2p.testns.svc.cluster.local.", "1-2-3-4.testns.pod.cluster.local.",
	"dns-version.cluster.local.", "9.0.0.172.in-addr.arpa.", "ns.dns.cluster.local.",
};
static const uint16_t g_loop_types[] = { A, AAAA, SRV, TXT, PTR, NS, SOAT, CNAME, MX };

static void test_no_allocation_when_answering(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	c.k.pods = HFI_PODS_INSECURE;
	hf_mm_t mm;
	hfi_mm_torture_t t;
	hfi_mm_torture_init(&mm, &t, 0);
	hfi_k8s_index_t *ix = hfi_k8s_index_build(g_st, &c.k, g_self, 2, &mm);
	assert_non_null(ix);
	unsigned long built = t.count, live = t.live;
	assert_true(built > 0);

	/* queries prepared up front; the loop only answers */
	enum { NQ = sizeof(g_loop_names) / sizeof(g_loop_names[0]) * 9 };
	static uint8_t pkts[NQ][300];
	static hfi_query_t qs[NQ];
	size_t k = 0;
	for (size_t i = 0; i < sizeof(g_loop_names) / sizeof(g_loop_names[0]); i++)
		for (size_t j = 0; j < 9; j++, k++) {
			size_t n = mkq(pkts[k], g_loop_names[i], g_loop_types[j]);
			assert_int_equal(hfi_query_parse(&qs[k], pkts[k], n, true), HFI_Q_OK);
		}
	alloc_hook_install();
	unsigned long answered = 0, records = 0;
	g_allocs = 0;
	g_counting = 1;
	for (int round = 0; answered < 10000; round++)
		for (size_t i = 0; i < NQ; i++, answered++) {
			int r = hfi_k8s_answer(ix, &qs[i], (round & 1) == 0, &g_resp);
			records += g_resp.nrr + (unsigned long)r;
		}
	g_counting = 0;
	assert_true(records > 0);
	/* neither the index allocator nor malloc was called */
	assert_int_equal(t.count, built);
	assert_int_equal(t.live, live);
	assert_int_equal(g_allocs, 0);
	/* the hook works: the counter does see allocations */
	g_counting = 1;
	void *volatile p = malloc(16);
	g_counting = 0;
	free(p);
	assert_int_equal(g_allocs, 1);
	hfi_k8s_index_free(ix);
	assert_int_equal(t.live, 0);
}

static void test_build_torture(void **state)
{
	(void)state;
	cfgbuf_t c;
	cfg_init(&c);
	c.k.pods = HFI_PODS_VERIFIED;
	c.k.namespace_labels = "team in (a,b)";
	c.falls[0] = "in-addr.arpa.";
	c.k.fallthrough = true;
	c.k.fallthrough_zones.n = 1;
	hf_mm_t mm;
	hfi_mm_torture_t t;
	hfi_mm_torture_init(&mm, &t, 0);
	hfi_k8s_index_t *ix = hfi_k8s_index_build(g_st, &c.k, g_self, 2, &mm);
	assert_non_null(ix);
	unsigned long total = t.count;
	hfi_k8s_index_free(ix);
	assert_int_equal(t.live, 0);
	c.k.namespace_labels = NULL;
	hfi_mm_torture_init(&mm, &t, 0);
	ix = hfi_k8s_index_build(g_st, &c.k, g_self, 2, &mm);
	assert_non_null(ix);
	total = t.count;
	size_t names = hfi_k8s_index_names(ix);
	assert_true(names > 20);
	hfi_k8s_index_free(ix);
	unsigned long nulls = 0;
	for (unsigned long f = 1; f <= total; f++) {
		hfi_mm_torture_init(&mm, &t, f);
		ix = hfi_k8s_index_build(g_st, &c.k, g_self, 2, &mm);
		if (ix != NULL) {
			/* only the final best-effort shrink may fail: a usable index */
			t.fail_at = 0;
			EXPECT(ask(ix, "hdls1.testns.svc." CL, AAAA), NOERR,
			       "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1|"
			       "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2", "", "");
			hfi_k8s_index_free(ix);
		} else {
			nulls++;
		}
		if (t.live != 0)
			fail_msg("allocation %lu of %lu failed: %lu blocks leaked", f, total, t.live);
	}
	/* everything but the last few (shrinking) reallocations is fatal */
	assert_true(nulls + 5 >= total);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_build_100k_services(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	assert_non_null(st);
	char ns[32], name[32], ipt[32];
	for (int i = 0; i < 100; i++) {
		snprintf(ns, sizeof(ns), "ns%d", i);
		ns_put(st, ns, NULL, NULL);
	}
	for (int i = 0; i < 100000; i++) {
		snprintf(ns, sizeof(ns), "ns%d", i % 100);
		snprintf(name, sizeof(name), "svc%d", i);
		snprintf(ipt, sizeof(ipt), "10.%d.%d.%d", 100 + i / 65536, (i / 256) % 256, i % 256);
		svc_put(st, ns, name, "ClusterIP", ipt, "http/TCP/80,metrics/TCP/9090", NULL);
		snprintf(ipt, sizeof(ipt), "172.%d.%d.%d", 16 + i / 65536, (i / 256) % 256, i % 256);
		addr_spec_t a[] = { { ipt, NULL, NULL } };
		slice_put(st, ns, name, name, "http/TCP/80,metrics/TCP/9090", a, 1);
	}
	cfgbuf_t c;
	cfg_init(&c);
	double t0 = now_s();
	hfi_k8s_index_t *ix = hfi_k8s_index_build(st, &c.k, g_self, 1, NULL);
	double dt = now_s() - t0;
	assert_non_null(ix);
	/* timing is reported, not asserted (no timed unit tests): the bench
	 * figures live in docs/performance.md */
	printf("[ INFO     ] 100k services + 100k slices: build %.3f s, %zu names\n", dt,
	       hfi_k8s_index_names(ix));
	/* 100,000 services + one endpoint name each + 100 namespaces */
	assert_int_equal(hfi_k8s_index_names(ix), 200100);
	EXPECT(ask(ix, "svc99999.ns99.svc." CL, A), NOERR,
	       "svc99999.ns99.svc.cluster.local. 5 IN A 10.101.134.159", "", "");
	EXPECT(ask(ix, "159.134.101.10.in-addr.arpa.", PTR), NOERR,
	       "159.134.101.10.in-addr.arpa. 5 IN PTR svc99999.ns99.svc.cluster.local.", "", "");
	EXPECT(ask(ix, "_metrics._tcp.svc5.ns5.svc." CL, SRV), NOERR,
	       "_metrics._tcp.svc5.ns5.svc.cluster.local. 5 IN SRV 0 100 9090 svc5.ns5.svc.cluster.local.",
	       "", "svc5.ns5.svc.cluster.local. 5 IN A 10.100.0.5");
	hfi_k8s_index_free(ix);
	hfi_store_free(st);
}

/* Random names from the fixture's vocabulary, random case, every type:
 * answers are always packable and never crash (ASan/UBSan). */
static void test_random_names(void **state)
{
	(void)state;
	static const char *voc[] = { "svc", "pod", "testns", "kube-system", "svc1", "hdls1", "ext",
				     "extin", "extchain", "extloop", "_http", "_tcp", "_udp", "_",
				     "dup-name", "1-2-3-4", "fd00--1", "ns", "dns", "dns-version",
				     "in-addr", "arpa", "ip6", "10", "0", "1", "172", "cluster",
				     "local", "example", "org", "x", "mp", "_a", "*" };
	static const uint16_t types[] = { A, AAAA, SRV, TXT, PTR, NS, SOAT, CNAME, MX, HINFO,
					  ANY, AXFR, IXFR, 43, 0, 65535 };
	cfgbuf_t c;
	cfg_init(&c);
	c.k.pods = HFI_PODS_INSECURE;
	c.zones[4] = ".";
	c.k.zones.n = 5;
	hfi_k8s_index_t *ix = build(&c, 2);
	unsigned seed = 12345;
	for (int i = 0; i < 20000; i++) {
		char name[300] = "";
		size_t o = 0;
		seed = seed * 1103515245u + 12345u;
		int nl = (int)(seed >> 16) % 9;
		for (int k = 0; k < nl; k++) {
			seed = seed * 1103515245u + 12345u;
			const char *w = voc[(seed >> 16) % (sizeof(voc) / sizeof(voc[0]))];
			for (const char *p = w; *p && o < 250; p++) {
				seed = seed * 1103515245u + 12345u;
				name[o++] = ((seed >> 20) & 1) ? (char)toupper((unsigned char)*p) : *p;
			}
			name[o++] = '.';
		}
		if (o == 0)
			name[o++] = '.';
		name[o] = '\0';
		seed = seed * 1103515245u + 12345u;
		uint16_t type = types[(seed >> 16) % (sizeof(types) / sizeof(types[0]))];
		uint8_t pkt[600];
		hfi_query_t q;
		size_t n = mkq(pkt, name, type);
		assert_int_equal(hfi_query_parse(&q, pkt, n, (seed >> 30) & 1), HFI_Q_OK);
		int r = hfi_k8s_answer(ix, &q, (seed >> 29) & 1, &g_resp);
		assert_true(r == HFI_K8S_DONE || r == HFI_K8S_NEXT || r == HFI_K8S_RESOLVE);
		if (r == HFI_K8S_NEXT)
			continue;
		int len = hfi_msg_pack(&q, &g_resp, g_out, sizeof(g_out), 0);
		if (len <= 0)
			fail_msg("%s type %u: pack %d", name, type, len);
		ldns_pkt *p = NULL;
		assert_int_equal(ldns_wire2pkt(&p, g_out, (size_t)len), LDNS_STATUS_OK);
		ldns_pkt_free(p);
	}
	hfi_k8s_index_free(ix);
}

/* ---- option zonal (spec 4.4, 4.10) ------------------------------------- */

typedef struct zaddr {
	const char *ip, *zone;
} zaddr_t;

static void zslice_put(hfi_store_t *st, const char *name, const char *svc, const zaddr_t *as,
		       size_t na)
{
	hfi_ep_addr_t av[8];
	for (size_t i = 0; i < na; i++)
		av[i] = (hfi_ep_addr_t){ .ip = IP(as[i].ip), .zone = (char *)as[i].zone };
	hfi_port_t pv[8];
	char pb[16][32];
	size_t np = ports_parse("http/TCP/80", pv, pb);
	hfi_slice_t s = { .ns = "zn", .name = (char *)name, .rv = "1", .service = (char *)svc,
			  .ports = pv, .nports = np, .addrs = av, .naddrs = na };
	assert_true(hfi_store_put_slice(st, &s) >= 0);
}

/* a store of its own: headless "hz" over three zones (one dotted, one
 * written in upper case, one address without a zone) and a ClusterIP
 * service "cz" whose endpoint has a zone */
static hfi_store_t *zonal_store(void)
{
	hfi_store_t *st = hfi_store_new(NULL);
	assert_non_null(st);
	ns_put(st, "zn", NULL, NULL);
	svc_put(st, "zn", "hz", "ClusterIP", "None", "http/TCP/80", NULL);
	svc_put(st, "zn", "cz", "ClusterIP", "10.1.1.1", "http/TCP/80", NULL);
	svc_put(st, "zn", "ez", "ExternalName", NULL, "", "ext.interwebs.test");
	zaddr_t z1[] = { { "10.1.0.1", "us-east-1a" }, { "10.1.0.2", "us-east-1a" },
			 { "10.1.0.3", "us-east-1.a" } };
	zslice_put(st, "hz-1", "hz", z1, NA(z1));
	zaddr_t z2[] = { { "fd00::1", "us-east-1a" }, { "10.1.0.4", "EU-West-1B" },
			 { "10.1.0.5", NULL } };
	zslice_put(st, "hz-2", "hz", z2, NA(z2));
	zaddr_t z3[] = { { "10.1.0.9", "us-east-1a" } };
	zslice_put(st, "cz-1", "cz", z3, NA(z3));
	hfi_store_set_synced(st, true);
	return st;
}

#define HZ "hz.zn.svc." CL
#define PIN(z) z ".pin._zone." HZ
#define PREFER(z) z ".prefer._zone." HZ

static void test_zonal(void **state)
{
	(void)state;
	hfi_store_t *saved = g_st;
	uint32_t saved_serial = g_serial;
	g_st = zonal_store();
	g_serial = hfi_store_serial(g_st);
	cfgbuf_t c;
	cfg_init(&c);
	c.k.zonal = true;
	hfi_k8s_index_t *ix = build(&c, 1);

	/* pin: only the addresses of that zone, both families */
	EXPECT(ask(ix, PIN("us-east-1a"), A), NOERR,
	       PIN("us-east-1a") " 5 IN A 10.1.0.1|" PIN("us-east-1a") " 5 IN A 10.1.0.2", "", "");
	EXPECT(ask(ix, PIN("us-east-1a"), AAAA), NOERR, PIN("us-east-1a") " 5 IN AAAA fd00::1",
	       "", "");
	/* SRV: the normal endpoint names, weight floor(100/3) over the zone */
	EXPECT(ask(ix, PIN("us-east-1a"), SRV), NOERR,
	       PIN("us-east-1a") " 5 IN SRV 0 33 80 10-1-0-1." HZ "|"
	       PIN("us-east-1a") " 5 IN SRV 0 33 80 10-1-0-2." HZ "|"
	       PIN("us-east-1a") " 5 IN SRV 0 33 80 fd00--1." HZ, "",
	       "10-1-0-1." HZ " 5 IN A 10.1.0.1|10-1-0-2." HZ " 5 IN A 10.1.0.2|"
	       "fd00--1." HZ " 5 IN AAAA fd00::1");
	/* a zone with dots; one address: weight 100 */
	EXPECT(ask(ix, PIN("us-east-1.a"), A), NOERR, PIN("us-east-1.a") " 5 IN A 10.1.0.3", "",
	       "");
	EXPECT(ask(ix, PIN("us-east-1.a"), SRV), NOERR,
	       PIN("us-east-1.a") " 5 IN SRV 0 100 80 10-1-0-3." HZ, "",
	       "10-1-0-3." HZ " 5 IN A 10.1.0.3");
	/* "us-east-1" alone and "a" alone are other zones */
	EXPECT(ask(ix, PIN("us-east-1"), A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("a"), A), NOERR, "", SOA(CL), "");
	/* the slice's zone is lower-cased; the query's case is folded */
	EXPECT(ask(ix, PIN("eu-west-1b"), A), NOERR, PIN("eu-west-1b") " 5 IN A 10.1.0.4", "", "");
	EXPECT(ask(ix, "US-EAST-1A.PIN._Zone.HZ.zn.svc." CL, A), NOERR,
	       "US-EAST-1A.PIN._Zone.HZ.zn.svc." CL " 5 IN A 10.1.0.1|"
	       "US-EAST-1A.PIN._Zone.HZ.zn.svc." CL " 5 IN A 10.1.0.2", "", "");
	EXPECT(ask(ix, "Us-East-1.A.Prefer._ZONE.hz.ZN.svc." CL, A), NOERR,
	       "Us-East-1.A.Prefer._ZONE.hz.ZN.svc." CL " 5 IN A 10.1.0.3", "", "");
	/* pin, no endpoint in the zone (or the family): NODATA, also TXT/SRV */
	EXPECT(ask(ix, PIN("nowhere"), A), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("nowhere"), TXT), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("nowhere"), SRV), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("nowhere"), MX), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("us-east-1.a"), AAAA), NOERR, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("us-east-1a"), TXT), NOERR, "", SOA(CL), "");
	/* prefer: the zone's addresses, else every address */
	EXPECT(ask(ix, PREFER("us-east-1a"), A), NOERR,
	       PREFER("us-east-1a") " 5 IN A 10.1.0.1|" PREFER("us-east-1a") " 5 IN A 10.1.0.2",
	       "", "");
	const char *all =
		PREFER("nowhere") " 5 IN A 10.1.0.1|" PREFER("nowhere") " 5 IN A 10.1.0.2|"
		PREFER("nowhere") " 5 IN A 10.1.0.3|" PREFER("nowhere") " 5 IN A 10.1.0.4|"
		PREFER("nowhere") " 5 IN A 10.1.0.5";
	EXPECT(ask(ix, PREFER("nowhere"), A), NOERR, all, "", "");
	EXPECT(ask(ix, PREFER("nowhere"), AAAA), NOERR, PREFER("nowhere") " 5 IN AAAA fd00::1",
	       "", "");
	EXPECT(ask(ix, PREFER("nowhere"), TXT), NOERR, "", SOA(CL), "");
	/* fallback SRV: weight over all six entries, floor(100/6) */
	res_t *r = ask(ix, PREFER("nowhere"), SRV);
	assert_int_equal(r->rcode, NOERR);
	assert_non_null(strstr(r->an, PREFER("nowhere") " 5 IN SRV 0 16 80 10-1-0-5." HZ));
	assert_non_null(strstr(r->an, PREFER("nowhere") " 5 IN SRV 0 16 80 fd00--1." HZ));
	assert_null(strstr(r->an, "SRV 0 33"));
	/* unchanged: the service itself */
	EXPECT(ask(ix, HZ, AAAA), NOERR, HZ " 5 IN AAAA fd00::1", "", "");
	/* non-headless, ExternalName, unknown service, namespace: NXDOMAIN */
	EXPECT(ask(ix, "us-east-1a.pin._zone.cz.zn.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "us-east-1a.prefer._zone.cz.zn.svc." CL, TXT), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "us-east-1a.pin._zone.ez.zn.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "us-east-1a.pin._zone.nosuch.zn.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "us-east-1a.pin._zone.hz.nosuch.svc." CL, A), NXDOMAIN, "", SOA(CL), "");
	/* other directive words, no _zone label, the pod tree: NXDOMAIN */
	EXPECT(ask(ix, "us-east-1a.near._zone." HZ, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "us-east-1a.pin.zone." HZ, A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, "us-east-1a.pin._zone.hz.zn.pod." CL, A), NXDOMAIN, "", SOA(CL), "");
	/* the other zone of the plugin works the same way */
	EXPECT(ask(ix, "us-east-1a.pin._zone.hz.zn.svc.example.org.", AAAA), NOERR,
	       "us-east-1a.pin._zone.hz.zn.svc.example.org. 5 IN AAAA fd00::1", "", "");
	hfi_k8s_index_free(ix);

	/* option off: NXDOMAIN, whatever the type */
	cfg_init(&c);
	ix = build(&c, 1);
	EXPECT(ask(ix, PIN("us-east-1a"), A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, PREFER("nowhere"), A), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("us-east-1a"), TXT), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, PIN("us-east-1a"), SRV), NXDOMAIN, "", SOA(CL), "");
	EXPECT(ask(ix, HZ, AAAA), NOERR, HZ " 5 IN AAAA fd00::1", "", "");
	hfi_k8s_index_free(ix);

	/* every failing allocation of the zonal build: no leak, no crash */
	cfg_init(&c);
	c.k.zonal = true;
	hf_mm_t mm;
	hfi_mm_torture_t t;
	hfi_mm_torture_init(&mm, &t, 0);
	ix = hfi_k8s_index_build(g_st, &c.k, g_self, 1, &mm);
	assert_non_null(ix);
	unsigned long total = t.count;
	hfi_k8s_index_free(ix);
	for (unsigned long f = 1; f <= total; f++) {
		hfi_mm_torture_init(&mm, &t, f);
		ix = hfi_k8s_index_build(g_st, &c.k, g_self, 1, &mm);
		if (ix != NULL) {
			t.fail_at = 0;
			EXPECT(ask(ix, PIN("us-east-1.a"), A), NOERR,
			       PIN("us-east-1.a") " 5 IN A 10.1.0.3", "", "");
			hfi_k8s_index_free(ix);
		}
		if (t.live != 0)
			fail_msg("allocation %lu of %lu failed: %lu blocks leaked", f, total, t.live);
	}

	/* answering zonal names allocates nothing */
	hfi_mm_torture_init(&mm, &t, 0);
	ix = hfi_k8s_index_build(g_st, &c.k, g_self, 1, &mm);
	assert_non_null(ix);
	unsigned long built = t.count;
	static const char *names[] = { PIN("us-east-1a"), PREFER("nowhere"), PIN("nowhere"),
				       ("us-east-1a.pin._zone.cz.zn.svc." CL) };
	static const uint16_t types[] = { A, AAAA, SRV, TXT };
	static uint8_t pkts[16][300];
	static hfi_query_t qs[16];
	for (size_t i = 0; i < 16; i++) {
		size_t n = mkq(pkts[i], names[i / 4], types[i % 4]);
		assert_int_equal(hfi_query_parse(&qs[i], pkts[i], n, true), HFI_Q_OK);
	}
	alloc_hook_install();
	unsigned long records = 0;
	g_allocs = 0;
	g_counting = 1;
	for (int round = 0; round < 100; round++)
		for (size_t i = 0; i < 16; i++) {
			hfi_k8s_answer(ix, &qs[i], true, &g_resp);
			records += g_resp.nrr;
		}
	g_counting = 0;
	assert_true(records > 0);
	assert_int_equal(g_allocs, 0);
	assert_int_equal(t.count, built);
	hfi_k8s_index_free(ix);
	assert_int_equal(t.live, 0);

	hfi_store_free(g_st);
	g_st = saved;
	g_serial = saved_serial;
}

static void test_count(void **state)
{
	(void)state;
	printf("[ INFO     ] %d answer checks\n", g_checks);
	assert_true(g_checks >= 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nxdomain_nodata_table),
		cmocka_unit_test(test_address_records),
		cmocka_unit_test(test_srv),
		cmocka_unit_test(test_txt_cname_other_types),
		cmocka_unit_test(test_external_name),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_ns_and_apex),
		cmocka_unit_test(test_case_echo),
		cmocka_unit_test(test_options_ttl_namespaces),
		cmocka_unit_test(test_options_endpoints),
		cmocka_unit_test(test_options_fallthrough_and_sync),
		cmocka_unit_test(test_options_pods),
		cmocka_unit_test(test_no_allocation_when_answering),
		cmocka_unit_test(test_build_torture),
		cmocka_unit_test(test_build_100k_services),
		cmocka_unit_test(test_random_names),
		cmocka_unit_test(test_zonal),
		cmocka_unit_test(test_count),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
