/* test_objects.c: the object store: copies, normalisation, serial bumps
 * (spec 4.2/4.3), index consistency against a naive model, allocation
 * failures, hfi_ip_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "holdfast.h"
#include "objects.h"

static hfi_ip_t ip4(const char *s)
{
	hfi_ip_t ip;
	assert_int_equal(hfi_ip_parse(s, &ip), 0);
	return ip;
}

static void test_ip_parse(void **state)
{
	(void)state;
	hfi_ip_t ip;
	assert_int_equal(hfi_ip_parse("10.96.0.10", &ip), 0);
	assert_int_equal(ip.family, 4);
	assert_memory_equal(ip.addr, "\x0a\x60\x00\x0a", 4);
	assert_int_equal(hfi_ip_parse("fd00::1", &ip), 0);
	assert_int_equal(ip.family, 6);
	assert_int_equal(ip.addr[0], 0xfd);
	assert_int_equal(ip.addr[15], 1);
	assert_int_equal(ip.addr[1], 0);
	const char *bad[] = { "", "10.0.0", "10.0.0.256", "1.2.3.4.5", "fd00:::1", "abc",
			      "10.0.0.1 ", " 10.0.0.1", "fe80::1%eth0", "None", "::g", "010.0.0.1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ip.family = 99;
		assert_int_equal(hfi_ip_parse(bad[i], &ip), HF_EINVAL);
		assert_int_equal(ip.family, 99); /* untouched */
	}
	assert_int_equal(hfi_ip_parse(NULL, &ip), HF_EINVAL);
}

static void test_service_copy_and_normalise(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	assert_non_null(st);
	assert_int_equal(hfi_store_serial(st), 0);
	assert_false(hfi_store_synced(st));

	char name[16] = "web", ns[16] = "prod", pname[8] = "http";
	hfi_ip_t ips[2] = { ip4("10.96.1.2"), ip4("fd00::5") };
	hfi_port_t ports[1] = { { pname, "TCP", 80 } };
	hfi_kv_t kv[1] = { { "app", "web" } };
	hfi_service_t svc = { .ns = ns, .name = name, .rv = "1", .type = "ClusterIP",
			      .ips = ips, .nips = 2, .ports = ports, .nports = 1,
			      .labels = { kv, 1 } };
	time_t t0 = time(NULL);
	assert_int_equal(hfi_store_put_service(st, &svc), 1);
	assert_true(hfi_store_serial(st) >= (uint32_t)t0);
	/* the caller keeps ownership: scribbling on the source changes nothing */
	strcpy(pname, "xxxx");
	ips[0] = ip4("1.1.1.1");
	const hfi_service_t *got = hfi_store_service(st, "prod", "web");
	strcpy(name, "zzz");
	assert_non_null(got);
	assert_ptr_equal(hfi_store_service(st, "prod", "web"), got);
	assert_string_equal(got->name, "web");
	assert_string_equal(got->ns, "prod");
	assert_string_equal(got->type, "ClusterIP");
	assert_int_equal(got->nips, 2);
	assert_memory_equal(got->ips[0].addr, "\x0a\x60\x01\x02", 4);
	assert_int_equal(got->ips[1].family, 6);
	assert_int_equal(got->nports, 1);
	assert_string_equal(got->ports[0].name, "http");
	assert_string_equal(got->ports[0].protocol, "TCP");
	assert_int_equal(got->ports[0].port, 80);
	assert_int_equal(got->labels.n, 1);
	assert_string_equal(got->labels.kv[0].key, "app");
	assert_null(got->external_name);
	assert_false(got->headless);
	assert_null(hfi_store_service(st, "prod", "zzz"));
	assert_null(hfi_store_service(st, "web", "prod"));

	/* no ports -> one sentinel -1 with empty name and protocol; headless -> no ips */
	hfi_service_t h = { .ns = "prod", .name = "db", .headless = true, .ips = ips, .nips = 2 };
	assert_int_equal(hfi_store_put_service(st, &h), 1);
	got = hfi_store_service(st, "prod", "db");
	assert_non_null(got);
	assert_true(got->headless);
	assert_int_equal(got->nips, 0);
	assert_int_equal(got->nports, 1);
	assert_int_equal(got->ports[0].port, -1);
	assert_string_equal(got->ports[0].name, "");
	assert_string_equal(got->ports[0].protocol, "");
	assert_string_equal(got->type, "ClusterIP");
	assert_null(got->rv);
	assert_int_equal(hfi_store_count_services(st), 2);

	/* missing key */
	hfi_service_t bad = { .ns = NULL, .name = "x" };
	assert_int_equal(hfi_store_put_service(st, &bad), HF_EINVAL);
	assert_int_equal(hfi_store_count_services(st), 2);

	hfi_store_set_synced(st, true);
	assert_true(hfi_store_synced(st));
	hfi_store_free(st);
}

static void test_slice_normalise(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	char pod64[65], pod63[64];
	memset(pod64, 'p', 64);
	pod64[64] = '\0';
	memset(pod63, 'q', 63);
	pod63[63] = '\0';
	hfi_ep_addr_t a[3] = {
		{ .ip = ip4("10.244.0.1"), .hostname = "web-0", .pod_name = pod63, .node_name = "n1",
		  .zone = "EU-West-1A" },
		{ .ip = ip4("10.244.0.2"), .pod_name = pod64 },
		{ .ip = ip4("fd00::2") },
	};
	hfi_port_t p[2] = { { "http", "TCP", 8080 }, { NULL, NULL, -1 } };
	hfi_slice_t sl = { .ns = "prod", .name = "web-abc", .service = "web",
			   .ports = p, .nports = 2, .addrs = a, .naddrs = 3 };
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	const hfi_slice_t *g = hfi_store_slice(st, "prod", "web-abc");
	assert_non_null(g);
	assert_string_equal(g->service, "web");
	assert_int_equal(g->naddrs, 3);
	assert_string_equal(g->addrs[0].hostname, "web-0");
	assert_string_equal(g->addrs[0].pod_name, pod63);
	assert_string_equal(g->addrs[0].node_name, "n1");
	assert_string_equal(g->addrs[0].zone, "eu-west-1a");
	assert_null(g->addrs[1].pod_name); /* 64 chars: too long */
	assert_null(g->addrs[1].hostname);
	assert_null(g->addrs[2].zone);
	assert_int_equal(g->addrs[2].ip.family, 6);
	assert_int_equal(g->nports, 2);
	assert_string_equal(g->ports[1].name, "");
	assert_int_equal(g->ports[1].port, -1);

	hfi_slice_t empty = { .ns = "prod", .name = "empty" };
	assert_int_equal(hfi_store_put_slice(st, &empty), 1);
	g = hfi_store_slice(st, "prod", "empty");
	assert_int_equal(g->nports, 1);
	assert_int_equal(g->ports[0].port, -1);
	assert_int_equal(g->naddrs, 0);
	assert_null(g->service);
	hfi_store_free(st);
}

/* Spec 4.2: which updates move the SOA serial. */
static void test_serial_rules(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	/* namespace events never bump */
	hfi_kv_t nkv[1] = { { "team", "a" } };
	hfi_namespace_t ns = { .name = "prod", .rv = "1", .labels = { nkv, 1 } };
	assert_int_equal(hfi_store_put_namespace(st, &ns), 1);
	assert_int_equal(hfi_store_serial(st), 0);
	assert_int_equal(hfi_store_put_namespace(st, &ns), 0); /* same rv */
	ns.rv = "2";
	assert_int_equal(hfi_store_put_namespace(st, &ns), 0); /* nothing changed */
	hfi_kv_t nkv2[1] = { { "team", "b" } };
	ns.rv = "3";
	ns.labels.kv = nkv2;
	assert_int_equal(hfi_store_put_namespace(st, &ns), 1); /* labels changed */
	assert_int_equal(hfi_store_del_namespace(st, "prod"), 1);
	assert_int_equal(hfi_store_del_namespace(st, "prod"), 0);
	assert_int_equal(hfi_store_serial(st), 0);
	assert_int_equal(hfi_store_count_namespaces(st), 0);

	/* services */
	hfi_ip_t ip = ip4("10.96.0.5");
	hfi_port_t p = { "http", "TCP", 80 };
	hfi_kv_t kv[1] = { { "app", "a" } };
	hfi_service_t s = { .ns = "prod", .name = "a", .rv = "10", .type = "ClusterIP",
			    .ips = &ip, .nips = 1, .ports = &p, .nports = 1, .labels = { kv, 1 } };
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	assert_int_not_equal(hfi_store_serial(st), 0);
	s.ports = NULL; /* changed content, same rv: ignored */
	assert_int_equal(hfi_store_put_service(st, &s), 0);
	assert_int_equal(hfi_store_service(st, "prod", "a")->ports[0].port, 80);
	s.ports = &p;
	s.rv = "11";
	assert_int_equal(hfi_store_put_service(st, &s), 0); /* new rv, same content */
	hfi_kv_t kv2[1] = { { "app", "b" } };
	s.labels.kv = kv2;
	s.rv = "12";
	assert_int_equal(hfi_store_put_service(st, &s), 0); /* labels are not DNS-visible */
	assert_string_equal(hfi_store_service(st, "prod", "a")->labels.kv[0].val, "b");
	s.rv = "13";
	p.port = 81;
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "14";
	p.name = "web";
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "15";
	p.protocol = "UDP";
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "16";
	ip = ip4("10.96.0.6");
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "17";
	s.headless = true;
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "18";
	s.headless = false;
	s.type = "ExternalName";
	s.external_name = "example.com";
	s.nips = 0;
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "19";
	s.external_name = "example.org";
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "20";
	assert_int_equal(hfi_store_put_service(st, &s), 0);
	/* without resourceVersions, content decides */
	s.rv = NULL;
	assert_int_equal(hfi_store_put_service(st, &s), 0);
	s.external_name = "example.net";
	assert_int_equal(hfi_store_put_service(st, &s), 1);
	s.rv = "";
	assert_int_equal(hfi_store_put_service(st, &s), 0);
	s.external_name = "example.com";
	assert_int_equal(hfi_store_put_service(st, &s), 1); /* "" == "" is not "same rv" */

	/* slices */
	hfi_ep_addr_t a[2] = { { .ip = ip4("10.244.0.1"), .node_name = "n1" },
			       { .ip = ip4("10.244.0.2") } };
	hfi_port_t sp = { "http", "TCP", 8080 };
	hfi_slice_t sl = { .ns = "prod", .name = "a-1", .rv = "1", .service = "a",
			   .ports = &sp, .nports = 1, .addrs = a, .naddrs = 2 };
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "2";
	a[0].node_name = "n2"; /* node name is not DNS-visible */
	assert_int_equal(hfi_store_put_slice(st, &sl), 0);
	sl.rv = "3";
	a[1].hostname = "h";
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "4";
	a[1].zone = "z1";
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "5";
	a[1].zone = "Z1"; /* lower-cased: same */
	assert_int_equal(hfi_store_put_slice(st, &sl), 0);
	sl.rv = "6";
	a[1].pod_name = "pod-1";
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "7";
	sl.naddrs = 1; /* an address went not-ready */
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "8";
	a[0].ip = ip4("10.244.0.9");
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "9";
	sp.port = 9090;
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "10";
	sl.service = "b";
	assert_int_equal(hfi_store_put_slice(st, &sl), 1);
	sl.rv = "11";
	assert_int_equal(hfi_store_put_slice(st, &sl), 0);

	/* pods: only the IP matters */
	hfi_pod_t pod = { .ns = "prod", .name = "p", .rv = "1", .ip = ip4("10.244.1.1"),
			  .phase = "Running" };
	assert_int_equal(hfi_store_put_pod(st, &pod), 1);
	pod.rv = "2";
	pod.phase = "Pending";
	assert_int_equal(hfi_store_put_pod(st, &pod), 0);
	pod.rv = "3";
	pod.ip = ip4("10.244.1.2");
	assert_int_equal(hfi_store_put_pod(st, &pod), 1);
	pod.rv = "4";
	pod.ip = ip4("10.244.1.3");
	pod.deleting = true; /* terminating: the last state stays */
	assert_int_equal(hfi_store_put_pod(st, &pod), 0);
	assert_memory_equal(hfi_store_pod(st, "prod", "p")->ip.addr, "\x0a\xf4\x01\x02", 4);
	pod.name = "q";
	assert_int_equal(hfi_store_put_pod(st, &pod), 0);
	assert_null(hfi_store_pod(st, "prod", "q"));
	assert_int_equal(hfi_store_count_pods(st), 1);

	/* deletes of present objects bump; absent ones do not */
	assert_int_equal(hfi_store_del_pod(st, "prod", "p"), 1);
	assert_int_equal(hfi_store_del_pod(st, "prod", "p"), 0);
	assert_int_equal(hfi_store_del_slice(st, "prod", "a-1"), 1);
	assert_int_equal(hfi_store_del_service(st, "prod", "a"), 1);
	assert_int_equal(hfi_store_del_service(st, "prod", "a"), 0);
	assert_int_equal(hfi_store_del_service(st, NULL, "a"), HF_EINVAL);
	hfi_store_free(st);
}

/* The serial is the time of the last change: an unchanged put leaves it. */
static void test_serial_value(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_pod_t pod = { .ns = "a", .name = "p", .rv = "1", .ip = ip4("10.0.0.1") };
	assert_int_equal(hfi_store_put_pod(st, &pod), 1);
	uint32_t s1 = hfi_store_serial(st);
	time_t now = time(NULL);
	assert_true(s1 <= (uint32_t)now && s1 + 5 >= (uint32_t)now);
	hfi_store_free(st);
}

/* ---- randomized consistency against a naive model ----------------------- */

#define M_NS 13
#define M_NAMES 61
#define M_KEYS (M_NS * M_NAMES)

typedef struct model {
	bool present[4][M_KEYS];
	int port[4][M_KEYS];
	size_t count[4];
} model_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void key_names(int key, char *ns, char *name)
{
	sprintf(ns, "ns%d", key / M_NAMES);
	sprintf(name, "obj-%d", key % M_NAMES);
}

static int key_of(const char *ns, const char *name)
{
	int a = -1, b = -1;
	assert_int_equal(sscanf(ns, "ns%d", &a), 1);
	assert_int_equal(sscanf(name, "obj-%d", &b), 1);
	assert_true(a >= 0 && a < M_NS && b >= 0 && b < M_NAMES);
	return a * M_NAMES + b;
}

static int do_put(hfi_store_t *st, int kind, int key, int port)
{
	char ns[32], name[32], rv[32];
	key_names(key, ns, name);
	sprintf(rv, "%u", rnd());
	hfi_port_t p = { "p", "TCP", port };
	hfi_ip_t ip = { .family = 4, .addr = { 10, 0, (uint8_t)(port >> 8), (uint8_t)port } };
	switch (kind) {
	case 0: {
		char nsname[64];
		sprintf(nsname, "%s-%s", ns, name);
		char pv[16];
		sprintf(pv, "%d", port);
		hfi_kv_t kv = { "port", pv };
		hfi_namespace_t o = { .name = nsname, .rv = rv, .labels = { &kv, 1 } };
		return hfi_store_put_namespace(st, &o);
	}
	case 1: {
		hfi_service_t o = { .ns = ns, .name = name, .rv = rv, .ips = &ip, .nips = 1,
				    .ports = &p, .nports = 1 };
		return hfi_store_put_service(st, &o);
	}
	case 2: {
		hfi_slice_t o = { .ns = ns, .name = name, .rv = rv, .ports = &p, .nports = 1 };
		return hfi_store_put_slice(st, &o);
	}
	default: {
		hfi_pod_t o = { .ns = ns, .name = name, .rv = rv, .ip = ip };
		return hfi_store_put_pod(st, &o);
	}
	}
}

static int do_del(hfi_store_t *st, int kind, int key)
{
	char ns[32], name[32], nsname[64];
	key_names(key, ns, name);
	switch (kind) {
	case 0:
		sprintf(nsname, "%s-%s", ns, name);
		return hfi_store_del_namespace(st, nsname);
	case 1: return hfi_store_del_service(st, ns, name);
	case 2: return hfi_store_del_slice(st, ns, name);
	default: return hfi_store_del_pod(st, ns, name);
	}
}

static int stored_port(const hfi_store_t *st, int kind, int key)
{
	char ns[32], name[32], nsname[64];
	key_names(key, ns, name);
	switch (kind) {
	case 0: {
		sprintf(nsname, "%s-%s", ns, name);
		const hfi_namespace_t *o = hfi_store_namespace(st, nsname);
		return o ? atoi(o->labels.kv[0].val) : -1000;
	}
	case 1: {
		const hfi_service_t *o = hfi_store_service(st, ns, name);
		return o ? o->ports[0].port : -1000;
	}
	case 2: {
		const hfi_slice_t *o = hfi_store_slice(st, ns, name);
		return o ? o->ports[0].port : -1000;
	}
	default: {
		const hfi_pod_t *o = hfi_store_pod(st, ns, name);
		return o ? (o->ip.addr[2] << 8 | o->ip.addr[3]) : -1000;
	}
	}
}

static void check_model(const hfi_store_t *st, const model_t *m)
{
	size_t counts[4] = { hfi_store_count_namespaces(st), hfi_store_count_services(st),
			     hfi_store_count_slices(st), hfi_store_count_pods(st) };
	for (int k = 0; k < 4; k++) {
		assert_int_equal(counts[k], m->count[k]);
		for (int key = 0; key < M_KEYS; key++) {
			int sp = stored_port(st, k, key);
			if (m->present[k][key])
				assert_int_equal(sp, m->port[k][key]);
			else
				assert_int_equal(sp, -1000);
		}
		/* iteration visits each present object exactly once */
		static bool seen[M_KEYS];
		memset(seen, 0, sizeof(seen));
		for (size_t i = 0; i < counts[k]; i++) {
			int key;
			if (k == 0) {
				const hfi_namespace_t *o = hfi_store_namespace_at(st, i);
				assert_non_null(o);
				char ns[32], name[32];
				assert_int_equal(sscanf(o->name, "%31[^-]-%31s", ns, name), 2);
				key = key_of(ns, name);
			} else if (k == 1) {
				const hfi_service_t *o = hfi_store_service_at(st, i);
				assert_non_null(o);
				key = key_of(o->ns, o->name);
			} else if (k == 2) {
				const hfi_slice_t *o = hfi_store_slice_at(st, i);
				assert_non_null(o);
				key = key_of(o->ns, o->name);
			} else {
				const hfi_pod_t *o = hfi_store_pod_at(st, i);
				assert_non_null(o);
				key = key_of(o->ns, o->name);
			}
			assert_true(m->present[k][key]);
			assert_false(seen[key]);
			seen[key] = true;
		}
		assert_null(hfi_store_service_at(st, counts[1]));
	}
}

static void test_randomized_model(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	static model_t m;
	memset(&m, 0, sizeof(m));
	for (int step = 0; step < 60000; step++) {
		int k = (int)(rnd() % 4);
		int key = (int)(rnd() % M_KEYS);
		/* phases: grow, churn, shrink, churn */
		int phase = (step / 15000) % 4;
		unsigned put_pct = phase == 0 ? 80 : phase == 2 ? 20 : 50;
		if (rnd() % 100 < put_pct) {
			int port = (int)(rnd() % 3000);
			int ret = do_put(st, k, key, port);
			int expect = !m.present[k][key] || m.port[k][key] != port;
			assert_int_equal(ret, expect);
			if (!m.present[k][key])
				m.count[k]++;
			m.present[k][key] = true;
			m.port[k][key] = port;
		} else {
			int ret = do_del(st, k, key);
			assert_int_equal(ret, m.present[k][key] ? 1 : 0);
			if (m.present[k][key])
				m.count[k]--;
			m.present[k][key] = false;
		}
		if (step % 997 == 0)
			check_model(st, &m);
	}
	check_model(st, &m);
	/* delete everything: the tables empty out cleanly */
	for (int k = 0; k < 4; k++)
		for (int key = 0; key < M_KEYS; key++)
			do_del(st, k, key);
	memset(&m, 0, sizeof(m));
	check_model(st, &m);
	hfi_store_free(st);
}

/* ---- allocation failures ------------------------------------------------ */

static int fill(hfi_store_t *st, int n)
{
	for (int i = 0; i < n; i++) {
		int ret = do_put(st, i % 4, i % M_KEYS, i);
		if (ret < 0)
			return ret;
		if (i % 5 == 4) {
			ret = do_del(st, (i - 2) % 4, (i - 2) % M_KEYS);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static void test_torture(void **state)
{
	(void)state;
	hf_mm_t mm;
	hfi_mm_torture_t t;
	hfi_mm_torture_init(&mm, &t, 0);
	hfi_store_t *st = hfi_store_new(&mm);
	assert_int_equal(fill(st, 200), 0);
	unsigned long total = t.count;
	hfi_store_free(st);
	assert_int_equal(t.live, 0);
	assert_true(total > 50);

	for (unsigned long f = 1; f <= total; f++) {
		hfi_mm_torture_init(&mm, &t, f);
		st = hfi_store_new(&mm);
		if (st == NULL) {
			assert_int_equal(f, 1);
			assert_int_equal(t.live, 0);
			continue;
		}
		size_t before_ns = 0;
		int ret = fill(st, 200);
		assert_int_equal(ret, HF_ENOMEM);
		/* the store stays usable and consistent after a failed put */
		before_ns = hfi_store_count_services(st);
		for (size_t i = 0; i < before_ns; i++) {
			const hfi_service_t *s = hfi_store_service_at(st, i);
			assert_ptr_equal(hfi_store_service(st, s->ns, s->name), s);
		}
		hfi_store_free(st);
		assert_int_equal(t.live, 0);
	}
}

/* ---- scale -------------------------------------------------------------- */

static void test_scale(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	char ns[32], name[32];
	hfi_port_t p = { "http", "TCP", 80 };
	for (int i = 0; i < 100000; i++) {
		sprintf(ns, "ns%d", i % 100);
		sprintf(name, "svc%d", i / 100);
		hfi_ip_t ip = { .family = 4, .addr = { 10, 96, (uint8_t)(i >> 8), (uint8_t)i } };
		hfi_service_t s = { .ns = ns, .name = name, .ips = &ip, .nips = 1,
				    .ports = &p, .nports = 1 };
		assert_int_equal(hfi_store_put_service(st, &s), 1);
	}
	for (int i = 0; i < 100000; i += 7) {
		sprintf(ns, "ns%d", i % 100);
		sprintf(name, "svc%d", i / 100);
		const hfi_service_t *s = hfi_store_service(st, ns, name);
		assert_non_null(s);
		assert_int_equal(s->ips[0].addr[3], (uint8_t)i);
	}
	for (int i = 0; i < 100000; i += 2) {
		sprintf(ns, "ns%d", i % 100);
		sprintf(name, "svc%d", i / 100);
		assert_int_equal(hfi_store_del_service(st, ns, name), 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	printf("# 100k service puts + 14k lookups + 50k deletes: %.1f ms\n", ms);
	assert_int_equal(hfi_store_count_services(st), 50000);
	assert_true(ms < 5000);
	hfi_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_parse),
		cmocka_unit_test(test_service_copy_and_normalise),
		cmocka_unit_test(test_slice_normalise),
		cmocka_unit_test(test_serial_rules),
		cmocka_unit_test(test_serial_value),
		cmocka_unit_test(test_randomized_model),
		cmocka_unit_test(test_torture),
		cmocka_unit_test(test_scale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
