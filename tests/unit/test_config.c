/*
 * test_config.c: Corefile -> hfi_config_t (config_*.c): kubeadm's default
 * Corefile to typed values, plugin.cfg ordering, server keys (ports,
 * schemes, CIDR -> reverse zones exactly as spec 1.5), listener overlap,
 * every plugin's options and error paths (both message lines checked),
 * hfi_config_load from files and stdin, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"
#include "config_keys.h"
#include "holdfast.h"
#include "log.h"
#include "mm.h"
#include "selector.h"

#define TMPDIR_PREFIX "/tmp/hf_config_"
#include "tmpdir_util.h"

static hfi_config_t *load_port(const char *text, int port)
{
	char err[2048] = "";
	hfi_config_t *c = hfi_config_parse("Corefile", text, strlen(text), dir, port, NULL, err,
					   sizeof(err));
	if (c == NULL)
		fail_msg("unexpected error: %s", err);
	return c;
}

static hfi_config_t *load(const char *text)
{
	return load_port(text, 0);
}

static void cfg_err(const char *text, const char *l1, const char *l2)
{
	char err[4096] = "", want[4096];
	hfi_config_t *c = hfi_config_parse("Corefile", text, strlen(text), dir, 0, NULL, err,
					   sizeof(err));
	if (c != NULL) {
		hfi_config_free(c);
		fail_msg("loaded, expected error: %s", l1);
	}
	snprintf(want, sizeof(want), "%s\n%s", l1, l2);
	assert_string_equal(err, want);
}

/* error without a location in CoreDNS: line 2 = msg2 */
static void plain_err(const char *text, int line, int col, const char *plugin, const char *msg)
{
	char l1[2048], l2[2048];
	snprintf(l1, sizeof(l1), "Corefile:%d:%d: plugin/%s: %s", line, col, plugin, msg);
	snprintf(l2, sizeof(l2), "plugin/%s: %s", plugin, msg);
	cfg_err(text, l1, l2);
}

/* error with Caddy's location: "plugin/X: Corefile:L - Error during parsing: msg" */
static void loc_err(const char *text, int line, int col, const char *plugin, const char *msg)
{
	char l1[2048], l2[2048];
	snprintf(l1, sizeof(l1), "Corefile:%d:%d: plugin/%s: %s", line, col, plugin, msg);
	snprintf(l2, sizeof(l2), "plugin/%s: Corefile:%d - Error during parsing: %s", plugin, line,
		 msg);
	cfg_err(text, l1, l2);
}

static void strv_is(const hfi_strv_t *v, size_t n, ...)
{
	assert_int_equal(v->n, n);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v->v[i], va_arg(ap, const char *));
	va_end(ap);
}

static const hfi_plugin_t *plugin(const hfi_block_t *b, const char *name)
{
	for (size_t i = 0; i < b->nplugins; i++)
		if (strcmp(b->plugins[i].name, name) == 0)
			return &b->plugins[i];
	return NULL;
}

/* ------------------------------------------------------------- kubeadm */

static const char *kubeadm_fmt =
	".:53 {\n"
	"    errors\n"
	"    health {\n"
	"       lameduck 5s\n"
	"    }\n"
	"    ready\n"
	"    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
	"       pods insecure\n"
	"       fallthrough in-addr.arpa ip6.arpa\n"
	"       ttl 30\n"
	"    }\n"
	"    prometheus :9153\n"
	"    forward . %s/resolv.conf {\n"
	"       max_concurrent 1000\n"
	"    }\n"
	"    cache 30 {\n"
	"       disable success cluster.local\n"
	"       disable denial cluster.local\n"
	"    }\n"
	"    loop\n"
	"    reload\n"
	"    loadbalance\n"
	"}\n";

static void test_kubeadm(void **state)
{
	(void)state;
	write_file("resolv.conf", "search default.svc.cluster.local svc.cluster.local\n"
				  "nameserver 10.96.0.10\n# nameserver 9.9.9.9\n"
				  "options ndots:5\nnameserver 2001:db8::1\nnameserver 10.96.0.10\n");
	char text[2048];
	snprintf(text, sizeof(text), kubeadm_fmt, dir);
	hfi_config_t *c = load(text);
	assert_int_equal(c->nblocks, 1);
	assert_string_equal(c->path, "Corefile");
	assert_string_equal(c->health_addr, ":8080");
	assert_int_equal(c->health_lameduck_ms, 5000);
	assert_string_equal(c->ready_addr, ":8181");
	assert_false(c->ready_continuously);
	assert_string_equal(c->metrics_addr, ":9153");
	assert_int_equal(c->reload_interval_ms, 30000);
	assert_int_equal(c->reload_jitter_ms, 15000);
	assert_int_equal(c->memory_bytes, 0);
	assert_null(c->breakglass_addr);
	const hfi_block_t *b = &c->blocks[0];
	assert_int_equal(b->nkeys, 1);
	assert_string_equal(b->keys[0].zone, ".");
	assert_int_equal(b->keys[0].port, 53);
	assert_int_equal(b->keys[0].scheme, HFI_SCHEME_DNS);
	assert_int_equal(b->bind.n, 0);
	assert_string_equal(b->file, "Corefile");
	assert_int_equal(b->line, 1);
	/* plugin.cfg order, not Corefile order */
	static const char *names[] = {"reload", "ready", "health", "prometheus", "errors",
				      "loadbalance", "cache", "kubernetes", "loop", "forward"};
	static const int orders[] = {12, 18, 19, 22, 23, 30, 35, 47, 52, 53};
	assert_int_equal(b->nplugins, 10);
	for (size_t i = 0; i < 10; i++) {
		assert_string_equal(b->plugins[i].name, names[i]);
		assert_int_equal(b->plugins[i].order, orders[i]);
	}
	const hfi_plugin_t *kp = plugin(b, "kubernetes");
	assert_int_equal(kp->line, 7);
	assert_int_equal(kp->col, 5);
	assert_string_equal(kp->file, "Corefile");
	assert_true(b->has_errors && b->has_loadbalance && b->has_health && b->has_ready &&
		    b->has_prometheus && b->has_reload && b->has_loop);
	assert_false(b->has_log || b->has_whoami || b->has_any || b->has_chaos);

	const hfi_cfg_kubernetes_t *k = b->kubernetes;
	assert_non_null(k);
	assert_ptr_equal(kp->cfg, k);
	strv_is(&k->zones, 3, "cluster.local.", "in-addr.arpa.", "ip6.arpa.");
	assert_int_equal(k->primary, 0);
	assert_int_equal(k->pods, HFI_PODS_INSECURE);
	assert_true(k->fallthrough);
	strv_is(&k->fallthrough_zones, 2, "in-addr.arpa.", "ip6.arpa.");
	assert_int_equal(k->ttl, 30);
	assert_null(k->endpoint);
	assert_int_equal(k->namespaces.n, 0);
	assert_false(k->noendpoints || k->zonal || k->ignore_empty_service || k->endpoint_pod_names);
	assert_int_equal(k->startup_timeout_ms, 5000);
	assert_true(k->deletion_guard == 0.5);
	assert_int_equal(k->manifests.n, 0);

	assert_int_equal(b->nforward, 1);
	const hfi_cfg_forward_t *f = b->forward[0];
	assert_string_equal(f->from, ".");
	strv_is(&f->to, 2, "10.96.0.10:53", "[2001:db8::1]:53");
	assert_int_equal(f->max_concurrent, 1000);
	assert_int_equal(f->expire_ms, 10000);
	assert_int_equal(f->read_timeout_ms, 2000);
	assert_int_equal(f->health_check_ms, 500);
	assert_int_equal(f->max_fails, 2);
	assert_int_equal(f->max_connect_attempts, 4);
	assert_int_equal(f->policy, HFI_FWD_RANDOM);
	assert_string_equal(f->hc_domain, ".");

	const hfi_cfg_cache_t *ca = b->cache;
	strv_is(&ca->zones, 1, ".");
	assert_int_equal(ca->success_ttl, 30);
	assert_int_equal(ca->denial_ttl, 30);
	assert_int_equal(ca->success_cap, 10000);
	assert_int_equal(ca->denial_cap, 10000);
	assert_int_equal(ca->success_minttl, 5);
	assert_int_equal(ca->servfail_ttl_s, 5);
	assert_true(ca->disable_success_set && ca->disable_denial_set);
	strv_is(&ca->disable_success, 1, "cluster.local.");
	strv_is(&ca->disable_denial, 1, "cluster.local.");
	assert_false(ca->serve_stale);
	assert_int_equal(b->lb_cfg->policy, HFI_LB_ROUND_ROBIN);
	assert_int_equal(b->errors_cfg->nconsolidate, 0);
	hfi_config_free(c);
}

static void test_plugin_order(void **state)
{
	(void)state;
	hfi_config_t *c = load(".:53 {\n whoami\n forward . 1.1.1.1\n loop\n kubernetes cluster.local\n"
			       " cache\n log\n any\n chaos\n errors\n prometheus\n debug\n bind 127.0.0.1\n"
			       " timeouts {\n  read 10s\n }\n forward example.org 2.2.2.2\n"
			       " transfer {\n  to *\n }\n}\n");
	const hfi_block_t *b = &c->blocks[0];
	static const char *names[] = {"timeouts", "bind", "debug", "prometheus", "errors", "log",
				      "any", "chaos", "cache", "transfer", "kubernetes", "loop",
				      "forward", "forward", "whoami"};
	assert_int_equal(b->nplugins, 15);
	for (size_t i = 0; i < b->nplugins; i++) {
		assert_string_equal(b->plugins[i].name, names[i]);
		if (i > 0)
			assert_true(b->plugins[i - 1].order <= b->plugins[i].order);
	}
	/* several forwards stay in Corefile order */
	assert_int_equal(b->nforward, 2);
	assert_string_equal(b->forward[0]->from, ".");
	assert_string_equal(b->forward[1]->from, "example.org.");
	assert_ptr_equal(b->plugins[12].cfg, b->forward[0]);
	assert_int_equal(b->plugins[12].line, 3);
	assert_int_equal(b->plugins[13].line, 17);
	hfi_config_free(c);

	assert_int_equal(hfi_plugin_order("root"), 1);
	assert_int_equal(hfi_plugin_order("timeouts"), 10);
	assert_int_equal(hfi_plugin_order("bind"), 15);
	assert_int_equal(hfi_plugin_order("prometheus"), 22);
	assert_int_equal(hfi_plugin_order("cache"), 35);
	assert_int_equal(hfi_plugin_order("kubernetes"), 47);
	assert_int_equal(hfi_plugin_order("forward"), 53);
	assert_int_equal(hfi_plugin_order("whoami"), 56);
	assert_int_equal(hfi_plugin_order("nomad"), 60);
	assert_int_equal(hfi_plugin_order("memory"), 0);
	assert_int_equal(hfi_plugin_order("kubernets"), 0);
	assert_int_equal(hfi_plugin_order(NULL), 0);
}

static void test_unknown_and_unsupported(void **state)
{
	(void)state;
	cfg_err(".:53 {\n  errors\n  kubernets\n}\n",
		"Corefile:3:3: Unknown directive 'kubernets'",
		"Corefile:3 - Error during parsing: Unknown directive 'kubernets'");
	static const char *unsup[] = {"rewrite", "template", "autopath", "k8s_external", "etcd",
				      "root", "dnssec", "nsid", "view"};
	for (size_t i = 0; i < sizeof(unsup) / sizeof(unsup[0]); i++) {
		char t[128], l1[256], l2[256];
		snprintf(t, sizeof(t), ".:53 {\n whoami\n %s x\n}\n", unsup[i]);
		snprintf(l1, sizeof(l1),
			 "Corefile:3:2: plugin/%s: the %s plugin is not supported by holdfast",
			 unsup[i], unsup[i]);
		snprintf(l2, sizeof(l2),
			 "plugin/%s: Corefile:3 - Error during parsing: the %s plugin is not supported by holdfast",
			 unsup[i], unsup[i]);
		cfg_err(t, l1, l2);
	}
	/* parse errors come before any setup error */
	cfg_err(".:53 {\n cache 0\n}\nb {\n bogus\n}\n", "Corefile:5:2: Unknown directive 'bogus'",
		"Corefile:5 - Error during parsing: Unknown directive 'bogus'");
}

/* ----------------------------------------------------------------- keys */

static void zones_are(const char *key, size_t n, const char *const *want)
{
	char t[256];
	snprintf(t, sizeof(t), "%s {\n whoami\n}\n", key);
	hfi_config_t *c = load(t);
	const hfi_block_t *b = &c->blocks[0];
	assert_int_equal(b->nkeys, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(b->keys[i].zone, want[i]);
		assert_int_equal(b->keys[i].port, 53);
	}
	hfi_config_free(c);
}

static void test_cidr_keys(void **state)
{
	(void)state;
	static const char *z24[] = {"0.0.10.in-addr.arpa."};
	zones_are("10.0.0.0/24", 1, z24);
	static const char *z8[] = {"10.in-addr.arpa."};
	zones_are("10.0.0.0/8", 1, z8);
	static const char *z15[] = {"0.10.in-addr.arpa.", "1.10.in-addr.arpa."};
	zones_are("10.0.0.0/15", 2, z15);
	static const char *z6[] = {"8.b.d.0.1.0.0.2.ip6.arpa.", "9.b.d.0.1.0.0.2.ip6.arpa."};
	zones_are("2001:db8::/31", 2, z6);
	static const char *z32[] = {"8.b.d.0.1.0.0.2.ip6.arpa."};
	zones_are("dns://2001:db8::/32", 1, z32);
	static const char *zhost[] = {"4.3.2.1.in-addr.arpa."};
	zones_are("1.2.3.4/32", 1, zhost);

	char *w[64];
	char buf[64][40];
	for (int i = 0; i < 64; i++) {
		snprintf(buf[i], sizeof(buf[i]), "%d.9.10.in-addr.arpa.", i);
		w[i] = buf[i];
	}
	zones_are("10.9.3.0/18", 64, (const char *const *)w);
	for (int i = 0; i < 32; i++) {
		snprintf(buf[i], sizeof(buf[i]), "%d.0.0.10.in-addr.arpa.", i);
		w[i] = buf[i];
	}
	zones_are("10.0.0.0/27", 32, (const char *const *)w);

	/* CIDR keys with a port; plugin zones from the expanded keys */
	hfi_config_t *c = load("10.0.0.0/15:1053 example.org {\n kubernetes\n cache\n}\n");
	const hfi_block_t *b = &c->blocks[0];
	assert_int_equal(b->nkeys, 3);
	assert_int_equal(b->keys[0].port, 1053);
	assert_int_equal(b->keys[1].port, 1053);
	assert_int_equal(b->keys[2].port, 53);
	strv_is(&b->kubernetes->zones, 3, "0.10.in-addr.arpa.", "1.10.in-addr.arpa.", "example.org.");
	assert_int_equal(b->kubernetes->primary, 2);
	strv_is(&b->cache->zones, 3, "0.10.in-addr.arpa.", "1.10.in-addr.arpa.", "example.org.");
	hfi_config_free(c);

	c = load(".:53 {\n kubernetes cluster.local 10.0.0.0/15 dns://Example.ORG:99 bad..zone\n}\n");
	strv_is(&c->blocks[0].kubernetes->zones, 4, "cluster.local.", "0.10.in-addr.arpa.",
		"1.10.in-addr.arpa.", "example.org.");
	hfi_config_free(c);
}

static void test_key_errors(void **state)
{
	(void)state;
	cfg_err("example.org: {\n}\n",
		"Corefile:1:1: error inspecting server blocks: expecting data after last colon: \"example.org:\"",
		"error inspecting server blocks: expecting data after last colon: \"example.org:\"");
	cfg_err("a.org exa..mple.org {\n}\n",
		"Corefile:1:7: error inspecting server blocks: zone is not a valid domain name: exa..mple.org",
		"error inspecting server blocks: zone is not a valid domain name: exa..mple.org");
	cfg_err("dns:// {\n}\n",
		"Corefile:1:1: error inspecting server blocks: zone is not a valid domain name: ",
		"error inspecting server blocks: zone is not a valid domain name: ");
	cfg_err("::/64 {\n}\n",
		"Corefile:1:1: error inspecting server blocks: invalid CIDR ::/64",
		"error inspecting server blocks: invalid CIDR ::/64");
	cfg_err("0::1/64 {\n}\n",
		"Corefile:1:1: error inspecting server blocks: invalid CIDR 0::1/64",
		"error inspecting server blocks: invalid CIDR 0::1/64");
	char t[700], l[800];
	char label[64];
	memset(label, 'a', 63);
	label[63] = '\0';
	/* 256 characters */
	snprintf(t, sizeof(t), "%s.%s.%s.%s.x {\n}\n", label, label, label, label);
	snprintf(l, sizeof(l), "Corefile:1:1: error inspecting server blocks: specified zone is too long: 257 > 255");
	cfg_err(t, l, l + strlen("Corefile:1:1: "));
	/* 255 characters: valid alone, too long once made fully qualified */
	snprintf(t, sizeof(t), "%s.%s.%s.%s {\n}\n", label, label, label, label);
	snprintf(l, sizeof(l), "Corefile:1:1: error inspecting server blocks: specified zone is too long: 256 > 255");
	cfg_err(t, l, l + strlen("Corefile:1:1: "));
	/* a label of 64 characters */
	snprintf(t, sizeof(t), "%sb.org {\n}\n", label);
	snprintf(l, sizeof(l), "Corefile:1:1: error inspecting server blocks: zone is not a valid domain name: %sb.org", label);
	cfg_err(t, l, l + strlen("Corefile:1:1: "));
	cfg_err("tls://example.org {\n}\n",
		"Corefile:1:1: server block key 'tls://example.org': the tls:// transport is not supported by holdfast (only dns://)",
		"Corefile:1 - Error during parsing: server block key 'tls://example.org': the tls:// transport is not supported by holdfast (only dns://)");
	cfg_err("example.org grpc://example.net {\n}\n",
		"Corefile:1:13: server block key 'grpc://example.net': the grpc:// transport is not supported by holdfast (only dns://)",
		"Corefile:1 - Error during parsing: server block key 'grpc://example.net': the grpc:// transport is not supported by holdfast (only dns://)");
	cfg_err("example.org:70000 {\n}\n",
		"Corefile:1:1: invalid port 70000 in server block key 'example.org:70000'",
		"Corefile:1 - Error during parsing: invalid port 70000 in server block key 'example.org:70000'");
}

static void test_ports(void **state)
{
	(void)state;
	hfi_config_t *c = load_port("example.org example.net:5353 .:+54 10.0.0.0/8:053 {\n}\n", 1053);
	const hfi_block_t *b = &c->blocks[0];
	assert_int_equal(b->nkeys, 4);
	assert_int_equal(b->keys[0].port, 1053);
	assert_string_equal(b->keys[0].zone, "example.org.");
	assert_int_equal(b->keys[1].port, 5353);
	assert_int_equal(b->keys[2].port, 54);
	assert_string_equal(b->keys[2].zone, ".");
	assert_int_equal(b->keys[3].port, 53);
	assert_string_equal(b->keys[3].zone, "10.in-addr.arpa.");
	hfi_config_free(c);
	c = load("Example.ORG. dns://foo.bar:8053 {\n}\n");
	assert_string_equal(c->blocks[0].keys[0].zone, "example.org.");
	assert_int_equal(c->blocks[0].keys[0].port, 53);
	assert_string_equal(c->blocks[0].keys[1].zone, "foo.bar.");
	assert_int_equal(c->blocks[0].keys[1].port, 8053);
	hfi_config_free(c);

	/* default ports per scheme (hfi_key_parse, before holdfast rejects them) */
	static const struct {
		const char *key;
		enum hfi_scheme s;
		uint16_t port;
	} cases[] = {
		{"tls://a.org", HFI_SCHEME_TLS, 853},   {"quic://a.org", HFI_SCHEME_QUIC, 853},
		{"grpc://a.org", HFI_SCHEME_GRPC, 443}, {"https://a.org", HFI_SCHEME_HTTPS, 443},
		{"https3://a.org", HFI_SCHEME_HTTPS3, 443}, {"dns://a.org", HFI_SCHEME_DNS, 99},
		{"tls://a.org:99", HFI_SCHEME_TLS, 99}, {"a.org:53", HFI_SCHEME_DNS, 53},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hfi_key_t *keys = NULL;
		size_t n = 0, cap = 0;
		char msg[256];
		assert_int_equal(hfi_key_parse(NULL, cases[i].key, 99, &keys, &n, &cap, msg, sizeof(msg)),
				 HF_EOK);
		assert_int_equal(n, 1);
		assert_int_equal(keys[0].scheme, cases[i].s);
		assert_int_equal(keys[0].port, cases[i].port);
		assert_string_equal(keys[0].zone, "a.org.");
		free(keys[0].zone);
		free(keys);
	}
}

static void test_overlap(void **state)
{
	(void)state;
	cfg_err(".:53 {\n whoami\n}\n.:53 {\n whoami\n}\n",
		"Corefile:4:1: cannot serve dns://.:53 - it is already defined",
		"cannot serve dns://.:53 - it is already defined");
	cfg_err("example.org {\n}\nExample.org.:53 {\n}\n",
		"Corefile:3:1: cannot serve dns://example.org.:53 - it is already defined",
		"cannot serve dns://example.org.:53 - it is already defined");
	cfg_err("a.org a.org {\n}\n",
		"Corefile:1:7: cannot serve dns://a.org.:53 - it is already defined",
		"cannot serve dns://a.org.:53 - it is already defined");
	cfg_err("10.0.0.0/15 {\n}\n1.10.in-addr.arpa {\n}\n",
		"Corefile:3:1: cannot serve dns://1.10.in-addr.arpa.:53 - it is already defined",
		"cannot serve dns://1.10.in-addr.arpa.:53 - it is already defined");
	cfg_err("a.org {\n bind 127.0.0.1\n}\na.org {\n}\n",
		"Corefile:4:1: cannot serve dns://a.org.:53 - zone overlap listener capacity with dns://a.org.:53 on 127.0.0.1",
		"cannot serve dns://a.org.:53 - zone overlap listener capacity with dns://a.org.:53 on 127.0.0.1");
	cfg_err("a.org {\n}\na.org {\n bind 127.0.0.1\n}\n",
		"Corefile:3:1: cannot serve dns://a.org.:53 on 127.0.0.1 - zone overlap listener capacity with dns://a.org.:53",
		"cannot serve dns://a.org.:53 on 127.0.0.1 - zone overlap listener capacity with dns://a.org.:53");
	cfg_err("a.org {\n bind 127.0.0.1 127.0.0.1\n}\n",
		"Corefile:1:1: cannot serve dns://a.org.:53 on 127.0.0.1 - it is already defined",
		"cannot serve dns://a.org.:53 on 127.0.0.1 - it is already defined");
	/* same zone on other ports or other addresses is fine */
	hfi_config_t *c = load("a.org {\n}\na.org:1053 {\n}\nb.org {\n bind 127.0.0.1\n}\n"
			       "b.org {\n bind 127.0.0.2\n}\n");
	assert_int_equal(c->nblocks, 4);
	strv_is(&c->blocks[3].bind, 1, "127.0.0.2");
	hfi_config_free(c);
}

/* ----------------------------------------------------------- kubernetes */

static void test_kubernetes_options(void **state)
{
	(void)state;
	hfi_config_t *c = load(
		"cluster.local:53 in-addr.arpa {\n"
		"    kubernetes {\n"
		"        endpoint https://k8s:6443 https://other\n"
		"        tls cert.pem key.pem ca.pem\n"
		"        kubeconfig /kc ctx\n"
		"        apiserver_qps 50.5\n"
		"        apiserver_burst 100\n"
		"        apiserver_max_inflight 10\n"
		"        namespaces default kube-system default\n"
		"        labels app=web, tier in (a,b)\n"
		"        pods verified\n"
		"        endpoint_pod_names\n"
		"        ttl 0\n"
		"        fallthrough\n"
		"        ignore empty_service\n"
		"        multicluster cluster.local\n"
		"        startup_timeout 1m30s\n"
		"        manifest objs/*.yaml /abs/../x.yaml\n"
		"        manifest more.json\n"
		"        serve_stale 10m 2h\n"
		"        snapshot state/snap.bin 30s\n"
		"        deletion_guard 0.25\n"
		"        zonal\n"
		"    }\n"
		"}\n");
	const hfi_cfg_kubernetes_t *k = c->blocks[0].kubernetes;
	strv_is(&k->zones, 2, "cluster.local.", "in-addr.arpa.");
	assert_int_equal(k->primary, 0);
	assert_string_equal(k->endpoint, "https://k8s:6443");
	assert_string_equal(k->tls_cert, "cert.pem");
	assert_string_equal(k->tls_key, "key.pem");
	assert_string_equal(k->tls_ca, "ca.pem");
	assert_string_equal(k->kubeconfig, "/kc");
	assert_string_equal(k->kubecontext, "ctx");
	assert_true(k->apiserver_qps == 50.5);
	assert_int_equal(k->apiserver_burst, 100);
	assert_int_equal(k->apiserver_max_inflight, 10);
	strv_is(&k->namespaces, 2, "default", "kube-system");
	assert_string_equal(k->labels, "app=web, tier in (a,b)");
	assert_null(k->namespace_labels);
	assert_int_equal(k->pods, HFI_PODS_VERIFIED);
	assert_true(k->endpoint_pod_names);
	assert_int_equal(k->ttl, 0);
	assert_true(k->fallthrough);
	assert_int_equal(k->fallthrough_zones.n, 0);
	assert_true(k->ignore_empty_service);
	strv_is(&k->multicluster_zones, 1, "cluster.local.");
	assert_int_equal(k->startup_timeout_ms, 90000);
	char p1[512], p2[512], p3[512];
	snprintf(p1, sizeof(p1), "%s/objs/*.yaml", dir);
	snprintf(p3, sizeof(p3), "%s/more.json", dir);
	strv_is(&k->manifests, 3, p1, "/x.yaml", p3);
	assert_int_equal(k->serve_stale_min_s, 600);
	assert_int_equal(k->serve_stale_max_s, 7200);
	snprintf(p2, sizeof(p2), "%s/state/snap.bin", dir);
	assert_string_equal(k->snapshot_path, p2);
	assert_int_equal(k->snapshot_interval_s, 30);
	assert_true(k->deletion_guard == 0.25);
	assert_true(k->zonal);
	assert_false(k->noendpoints);
	hfi_config_free(c);

	/* quirks: "ignore" alone is accepted; in-addr.arpa itself is not a reverse zone */
	c = load(".:53 {\n kubernetes in-addr.arpa 10.0.0.0/8 {\n  ignore\n  noendpoints\n"
		 "  namespace_labels env=prod\n  snapshot /var/snap\n  serve_stale 90s\n"
		 "  fallthrough 10.0.0.0/15 example.org\n }\n}\n");
	k = c->blocks[0].kubernetes;
	strv_is(&k->zones, 2, "in-addr.arpa.", "10.in-addr.arpa.");
	assert_int_equal(k->primary, 0);
	assert_false(k->ignore_empty_service);
	assert_true(k->noendpoints);
	assert_string_equal(k->namespace_labels, "env=prod");
	assert_string_equal(k->snapshot_path, "/var/snap");
	assert_int_equal(k->snapshot_interval_s, 60);
	assert_int_equal(k->serve_stale_min_s, 90);
	assert_int_equal(k->serve_stale_max_s, 0);
	strv_is(&k->fallthrough_zones, 3, "0.10.in-addr.arpa.", "1.10.in-addr.arpa.", "example.org.");
	hfi_config_free(c);

	/* primary = first non-reverse zone */
	c = load(".:53 {\n kubernetes 10.0.0.0/8 cluster.local {\n  kubeconfig /x\n }\n}\n");
	assert_int_equal(c->blocks[0].kubernetes->primary, 1);
	assert_null(c->blocks[0].kubernetes->kubecontext);
	hfi_config_free(c);
}

static void test_kubernetes_errors(void **state)
{
	(void)state;
	loc_err(".:53 {\n  kubernetes cluster.local {\n    foo\n  }\n}\n", 3, 5, "kubernetes",
		"unknown property 'foo'");
	plain_err(".:53 {\n kubernetes cluster.local {\n  pods x\n }\n}\n", 3, 8, "kubernetes",
		  "wrong value for pods: x,  must be one of: disabled, verified, insecure");
	loc_err(".:53 {\n kubernetes {\n  pods\n }\n}\n", 3, 3, "kubernetes",
		"Wrong argument count or unexpected line ending after 'pods'");
	loc_err(".:53 {\n kubernetes {\n  ttl 3601\n }\n}\n", 3, 7, "kubernetes",
		"ttl must be in range [0, 3600]: 3601");
	loc_err(".:53 {\n kubernetes {\n  ttl -1\n }\n}\n", 3, 7, "kubernetes",
		"ttl must be in range [0, 3600]: -1");
	plain_err(".:53 {\n kubernetes {\n  ttl abc\n }\n}\n", 3, 7, "kubernetes",
		  "strconv.Atoi: parsing \"abc\": invalid syntax");
	plain_err(".:53 {\n kubernetes\n whoami\n kubernetes\n}\n", 4, 2, "kubernetes",
		  "this plugin can only be used once per Server Block");
	loc_err(".:53 {\n kubernetes {\n  namespaces a\n  namespace_labels x=y\n }\n}\n", 5, 2,
		"kubernetes", "namespaces and namespace_labels cannot both be set");
	plain_err("in-addr.arpa {\n kubernetes 10.0.0.0/8 1.ip6.arpa\n}\n", 2, 24, "kubernetes",
		  "non-reverse zone name must be used");
	plain_err("1.in-addr.arpa {\n kubernetes\n}\n", 2, 2, "kubernetes",
		  "non-reverse zone name must be used");
	loc_err(".:53 {\n kubernetes {\n  tls a b\n }\n}\n", 3, 9, "kubernetes",
		"Wrong argument count or unexpected line ending after 'b'");
	loc_err(".:53 {\n kubernetes {\n  kubeconfig a b c\n }\n}\n", 3, 18, "kubernetes",
		"Wrong argument count or unexpected line ending after 'c'");
	loc_err(".:53 {\n kubernetes {\n  endpoint\n }\n}\n", 3, 3, "kubernetes",
		"Wrong argument count or unexpected line ending after 'endpoint'");
	loc_err(".:53 {\n kubernetes {\n  noendpoints x\n }\n}\n", 3, 15, "kubernetes",
		"Wrong argument count or unexpected line ending after 'x'");
	plain_err(".:53 {\n kubernetes {\n  ignore foo\n }\n}\n", 3, 10, "kubernetes",
		  "unable to parse ignore value: 'foo'");
	loc_err(".:53 {\n kubernetes cluster.local {\n  multicluster other.local\n }\n}\n", 3, 16,
		"kubernetes", "multicluster zone other.local. is not one of the plugin zones [cluster.local.]");
	loc_err(".:53 {\n kubernetes {\n  zonal\n  noendpoints\n }\n}\n", 5, 2, "kubernetes",
		"zonal cannot be used together with noendpoints");
	plain_err(".:53 {\n kubernetes {\n  startup_timeout 5\n }\n}\n", 3, 19, "kubernetes",
		  "time: missing unit in duration \"5\"");
	plain_err(".:53 {\n kubernetes {\n  startup_timeout 5x\n }\n}\n", 3, 19, "kubernetes",
		  "time: unknown unit \"x\" in duration \"5x\"");
	loc_err(".:53 {\n kubernetes {\n  apiserver_qps -1\n }\n}\n", 3, 17, "kubernetes",
		"apiserver_qps must be greater than or equal to 0: -1");
	plain_err(".:53 {\n kubernetes {\n  apiserver_burst x\n }\n}\n", 3, 19, "kubernetes",
		  "strconv.Atoi: parsing \"x\": invalid syntax");
	loc_err(".:53 {\n kubernetes {\n  apiserver_max_inflight -3\n }\n}\n", 3, 26, "kubernetes",
		"apiserver_max_inflight must be greater than or equal to 0: -3");
	loc_err(".:53 {\n kubernetes {\n  deletion_guard 1.5\n }\n}\n", 3, 18, "kubernetes",
		"deletion_guard must be in range [0, 1]: 1.5");
	plain_err(".:53 {\n kubernetes {\n  deletion_guard half\n }\n}\n", 3, 18, "kubernetes",
		  "strconv.ParseFloat: parsing \"half\": invalid syntax");
	loc_err(".:53 {\n kubernetes {\n  serve_stale 2h 1h\n }\n}\n", 3, 18, "kubernetes",
		"serve_stale MAX (1h) must not be less than MIN (2h)");
	loc_err(".:53 {\n kubernetes {\n  serve_stale\n }\n}\n", 3, 3, "kubernetes",
		"Wrong argument count or unexpected line ending after 'serve_stale'");
	loc_err(".:53 {\n kubernetes {\n  snapshot /s 10ms\n }\n}\n", 3, 15, "kubernetes",
		"snapshot interval must be at least 1s: 10ms");
	loc_err(".:53 {\n kubernetes {\n  manifest\n }\n}\n", 3, 3, "kubernetes",
		"Wrong argument count or unexpected line ending after 'manifest'");
	loc_err(".:53 {\n kubernetes {\n  fallthrough a..b\n }\n}\n", 3, 15, "kubernetes",
		"invalid fallthrough zone 'a..b'");
	/* resyncperiod, upstream and transfer are gone from CoreDNS */
	loc_err(".:53 {\n kubernetes {\n  upstream\n }\n}\n", 3, 3, "kubernetes",
		"unknown property 'upstream'");
	/* selector errors carry the selector parser's text */
	char msg[512] = "", full[1024];
	hfi_selector_t *s = hfi_selector_parse("a in (", NULL, msg, sizeof(msg));
	assert_null(s);
	snprintf(full, sizeof(full), "unable to parse label selector value: 'a in (': %s", msg);
	plain_err(".:53 {\n kubernetes {\n  labels a in (\n }\n}\n", 3, 15, "kubernetes", full);
	snprintf(full, sizeof(full), "unable to parse namespace_label selector value: 'a in (': %s", msg);
	plain_err(".:53 {\n kubernetes {\n  namespace_labels a in (\n }\n}\n", 3, 25, "kubernetes",
		  full);
}

/* -------------------------------------------------------------- forward */

static void test_forward(void **state)
{
	(void)state;
	write_file("fwd/resolv.conf", "nameserver 192.0.2.1\nnameserver fe80::1%eth0\n");
	char t[2048];
	snprintf(t, sizeof(t),
		 ".:53 {\n"
		 " forward Example.ORG 1.2.3.4 1.2.3.4:5353 ::1 [::1]:5300 dns://8.8.8.8 tls://9.9.9.9 "
		 "tls://9.9.9.9:8853 1.2.3.4 %s/fwd/resolv.conf {\n"
		 "  except a.example.org B.example.org\n"
		 "  force_tcp\n"
		 "  prefer_udp\n"
		 "  expire 20s\n"
		 "  max_age 1m\n"
		 "  max_idle_conns 7\n"
		 "  read_timeout 500ms\n"
		 "  max_fails 0\n"
		 "  max_connect_attempts 3\n"
		 "  health_check 2s no_rec domain Example.NET\n"
		 "  policy sequential\n"
		 "  tls cert key ca\n"
		 "  tls_servername dns.example\n"
		 "  max_concurrent 50\n"
		 "  failfast_all_unhealthy_upstreams\n"
		 "  failover servfail REFUSED\n"
		 "  next NXDOMAIN\n"
		 "  next_on_nodata\n"
		 "  doh_method GET\n"
		 "  source_address 10.0.0.1\n"
		 "  resolver 10.0.0.53 [::1]:53\n"
		 " }\n"
		 " forward . 10.0.0.1 {\n  tls ca.pem\n  policy round_robin\n }\n"
		 "}\n",
		 dir);
	hfi_config_t *c = load(t);
	const hfi_block_t *b = &c->blocks[0];
	assert_int_equal(b->nforward, 2);
	const hfi_cfg_forward_t *f = b->forward[0];
	assert_string_equal(f->from, "example.org.");
	strv_is(&f->to, 9, "1.2.3.4:53", "1.2.3.4:5353", "[::1]:53", "[::1]:5300", "8.8.8.8:53",
		"tls://9.9.9.9:853", "tls://9.9.9.9:8853", "192.0.2.1:53", "[fe80::1%eth0]:53");
	strv_is(&f->except, 2, "a.example.org.", "b.example.org.");
	assert_true(f->force_tcp && f->prefer_udp);
	assert_int_equal(f->expire_ms, 20000);
	assert_int_equal(f->max_age_ms, 60000);
	assert_int_equal(f->max_idle_conns, 7);
	assert_int_equal(f->read_timeout_ms, 500);
	assert_int_equal(f->max_fails, 0);
	assert_int_equal(f->max_connect_attempts, 3);
	assert_int_equal(f->health_check_ms, 2000);
	assert_true(f->hc_no_rec);
	assert_string_equal(f->hc_domain, "example.net.");
	assert_int_equal(f->policy, HFI_FWD_SEQUENTIAL);
	assert_true(f->tls);
	assert_string_equal(f->tls_cert, "cert");
	assert_string_equal(f->tls_key, "key");
	assert_string_equal(f->tls_ca, "ca");
	assert_string_equal(f->tls_servername, "dns.example");
	assert_int_equal(f->max_concurrent, 50);
	assert_true(f->failfast_all_unhealthy_upstreams && f->next_on_nodata && f->doh_get);
	strv_is(&f->failover, 2, "SERVFAIL", "REFUSED");
	strv_is(&f->next, 1, "NXDOMAIN");
	assert_string_equal(f->source_address, "10.0.0.1");
	strv_is(&f->resolver, 2, "10.0.0.53", "[::1]:53");
	f = b->forward[1];
	assert_string_equal(f->from, ".");
	strv_is(&f->to, 1, "10.0.0.1:53");
	assert_null(f->tls_cert);
	assert_string_equal(f->tls_ca, "ca.pem");
	assert_int_equal(f->policy, HFI_FWD_ROUND_ROBIN);
	assert_int_equal(f->max_connect_attempts, 2);
	hfi_config_free(c);

	/* only the first zone of a CIDR FROM is used */
	c = load(".:53 {\n forward 10.0.0.0/15 10.0.0.1\n}\n");
	assert_string_equal(c->blocks[0].forward[0]->from, "0.10.in-addr.arpa.");
	hfi_config_free(c);
}

static void test_forward_errors(void **state)
{
	(void)state;
	char t[1024];
	size_t w = (size_t)snprintf(t, sizeof(t), ".:53 {\n forward .");
	for (int i = 1; i <= 16; i++)
		w += (size_t)snprintf(t + w, sizeof(t) - w, " 10.0.0.%d", i);
	snprintf(t + w, sizeof(t) - w, "\n}\n");
	plain_err(t, 2, 2, "forward", "more than 15 TOs configured: 16");
	/* 16 written, 15 after duplicates are removed */
	w = (size_t)snprintf(t, sizeof(t), ".:53 {\n forward .");
	for (int i = 1; i <= 16; i++)
		w += (size_t)snprintf(t + w, sizeof(t) - w, " 10.0.0.%d", i > 15 ? 1 : i);
	snprintf(t + w, sizeof(t) - w, "\n}\n");
	hfi_config_t *c = load(t);
	assert_int_equal(c->blocks[0].forward[0]->to.n, 15);
	hfi_config_free(c);

	loc_err(".:53 {\n forward\n}\n", 2, 2, "forward",
		"Wrong argument count or unexpected line ending after 'forward'");
	loc_err(".:53 {\n forward .\n}\n", 2, 10, "forward",
		"Wrong argument count or unexpected line ending after '.'");
	plain_err(".:53 {\n forward . notanip\n}\n", 2, 12, "forward",
		  "not an IP address or file: \"notanip\"");
	plain_err(".:53 {\n forward . 1.1.1.1 grpc://1.2.3.4\n}\n", 2, 20, "forward",
		  "'grpc' is not supported as a destination protocol in forward: grpc://1.2.3.4");
	plain_err(".:53 {\n forward . 1.1.1.1:99999\n}\n", 2, 12, "forward",
		  "invalid port in upstream address \"1.1.1.1:99999\"");
	plain_err(".:53 {\n forward a..b 1.1.1.1\n}\n", 2, 10, "forward", "unable to normalize 'a..b'");
	loc_err(".:53 {\n forward . 1.1.1.1 {\n  bogus\n }\n}\n", 3, 3, "forward",
		"unknown property 'bogus'");
	loc_err(".:53 {\n forward . 1.1.1.1 {\n  policy fastest\n }\n}\n", 3, 10, "forward",
		"unknown policy 'fastest'");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  max_fails -1\n }\n}\n", 3, 13, "forward",
		  "strconv.ParseUint: parsing \"-1\": invalid syntax");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  expire -1s\n }\n}\n", 3, 10, "forward",
		  "expire can't be negative: -1s");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  read_timeout 0\n }\n}\n", 3, 16, "forward",
		  "read_timeout can't be zero: 0s");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  max_concurrent -5\n }\n}\n", 3, 18, "forward",
		  "max_concurrent can't be negative: -5");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  failover NOERROR\n }\n}\n", 3, 12, "forward",
		  "NoError cannot be used in failover");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  failover FOO\n }\n}\n", 3, 12, "forward",
		  "FOO is not a valid rcode");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  health_check 1s bogus\n }\n}\n", 3, 19, "forward",
		  "health_check: unknown option bogus");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  health_check 1s domain bad..name\n }\n}\n", 3, 26,
		  "forward", "health_check: invalid domain name bad..name");
	loc_err(".:53 {\n forward . 1.1.1.1 {\n  tls 1 2 3 4\n }\n}\n", 3, 13, "forward",
		"Wrong argument count or unexpected line ending after '4'");
	loc_err(".:53 {\n forward . 1.1.1.1 {\n  force_tcp yes\n }\n}\n", 3, 13, "forward",
		"Wrong argument count or unexpected line ending after 'yes'");
	loc_err(".:53 {\n forward . 1.1.1.1 {\n  max_fails\n }\n}\n", 3, 3, "forward",
		"Wrong argument count or unexpected line ending after 'max_fails'");
	plain_err(".:53 {\n forward . 1.1.1.1 {\n  expire 20s\n  max_age 5s\n }\n}\n", 5, 2,
		  "forward", "max_age (5000ms) must not be less than expire (20000ms)");
	/* the forward error of a later line wins when an earlier one parses */
	loc_err(".:53 {\n forward . 1.1.1.1\n forward . 2.2.2.2 {\n  x\n }\n}\n", 4, 3, "forward",
		"unknown property 'x'");
}

/* ---------------------------------------------------------------- cache */

static void test_cache(void **state)
{
	(void)state;
	hfi_config_t *c = load(".:53 {\n cache 300 Example.org 10.0.0.0/15 {\n"
			       "  success 5000 600 10\n"
			       "  denial 2000 60 2\n"
			       "  prefetch 5 2m 20%\n"
			       "  serve_stale 2h verify 500ms 30s 1m\n"
			       "  serve_stale_policy prefer_positive\n"
			       "  servfail 10s\n"
			       "  disable success\n"
			       "  disable denial a.org B.org\n"
			       "  keepttl\n"
			       " }\n}\n");
	const hfi_cfg_cache_t *ca = c->blocks[0].cache;
	strv_is(&ca->zones, 3, "example.org.", "0.10.in-addr.arpa.", "1.10.in-addr.arpa.");
	assert_int_equal(ca->success_cap, 5000);
	assert_int_equal(ca->success_ttl, 600);
	assert_int_equal(ca->success_minttl, 10);
	assert_int_equal(ca->denial_cap, 2000);
	assert_int_equal(ca->denial_ttl, 60);
	assert_int_equal(ca->denial_minttl, 2);
	assert_int_equal(ca->prefetch_amount, 5);
	assert_int_equal(ca->prefetch_duration_s, 120);
	assert_int_equal(ca->prefetch_pct, 20);
	assert_true(ca->serve_stale && ca->stale_verify && ca->prefer_positive && ca->keepttl);
	assert_int_equal(ca->stale_duration_s, 7200);
	assert_int_equal(ca->stale_verify_timeout_ms, 500);
	assert_int_equal(ca->stale_response_ttl_s, 30);
	assert_int_equal(ca->stale_failure_recheck_s, 60);
	assert_int_equal(ca->servfail_ttl_s, 10);
	assert_true(ca->disable_success_set && ca->disable_denial_set);
	assert_int_equal(ca->disable_success.n, 0);
	strv_is(&ca->disable_denial, 2, "a.org.", "b.org.");
	hfi_config_free(c);

	c = load("example.org {\n cache {\n  serve_stale\n }\n}\n");
	ca = c->blocks[0].cache;
	strv_is(&ca->zones, 1, "example.org.");
	assert_int_equal(ca->success_ttl, 3600);
	assert_int_equal(ca->denial_ttl, 1800);
	assert_int_equal(ca->prefetch_amount, 0);
	assert_int_equal(ca->prefetch_duration_s, 60);
	assert_int_equal(ca->prefetch_pct, 10);
	assert_true(ca->serve_stale);
	assert_false(ca->stale_verify);
	assert_int_equal(ca->stale_duration_s, 3600);
	assert_int_equal(ca->stale_response_ttl_s, 0);
	assert_false(ca->disable_success_set);
	hfi_config_free(c);

	c = load(".:53 {\n cache 30 { }\n}\nb.org {\n cache {\n  serve_stale 1h IMMEDIATE 30s 2m\n"
		 "  servfail 0\n }\n}\n");
	assert_int_equal(c->blocks[0].cache->success_ttl, 30);
	ca = c->blocks[1].cache;
	assert_false(ca->stale_verify);
	assert_int_equal(ca->stale_response_ttl_s, 30);
	assert_int_equal(ca->stale_failure_recheck_s, 120);
	assert_int_equal(ca->servfail_ttl_s, 0);
	hfi_config_free(c);
}

static void test_cache_errors(void **state)
{
	(void)state;
	plain_err(".:53 {\n cache 0\n}\n", 2, 8, "cache", "cache TTL can not be zero or negative: 0");
	plain_err(".:53 {\n cache -5\n}\n", 2, 8, "cache", "cache TTL can not be zero or negative: -5");
	loc_err(".:53 {\n cache {\n  success\n }\n}\n", 3, 3, "cache",
		"Wrong argument count or unexpected line ending after 'success'");
	plain_err(".:53 {\n cache {\n  success x\n }\n}\n", 3, 11, "cache",
		  "strconv.Atoi: parsing \"x\": invalid syntax");
	plain_err(".:53 {\n cache {\n  success 10 0\n }\n}\n", 3, 14, "cache",
		  "cache TTL can not be zero or negative: 0");
	plain_err(".:53 {\n cache {\n  denial 10 5 -1\n }\n}\n", 3, 15, "cache",
		  "cache min TTL can not be negative: -1");
	plain_err(".:53 {\n cache {\n  prefetch 1 1m 5%\n }\n}\n", 3, 17, "cache",
		  "percentage should fall in range [10, 90]: 5");
	plain_err(".:53 {\n cache {\n  prefetch 1 1m 20\n }\n}\n", 3, 17, "cache",
		  "last character of percentage should be `%`, but is: '0'");
	plain_err(".:53 {\n cache {\n  prefetch -1\n }\n}\n", 3, 12, "cache",
		  "prefetch amount should be positive: -1");
	loc_err(".:53 {\n cache {\n  prefetch 1 1m 20% x\n }\n}\n", 3, 21, "cache",
		"Wrong argument count or unexpected line ending after 'x'");
	plain_err(".:53 {\n cache {\n  servfail 6m\n }\n}\n", 3, 12, "cache",
		  "caching SERVFAIL responses over 5 minutes is not permitted");
	plain_err(".:53 {\n cache {\n  servfail -1s\n }\n}\n", 3, 12, "cache",
		  "invalid negative ttl for servfail");
	plain_err(".:53 {\n cache {\n  servfail 5\n }\n}\n", 3, 12, "cache",
		  "time: missing unit in duration \"5\"");
	plain_err(".:53 {\n cache {\n  disable foo\n }\n}\n", 3, 11, "cache",
		  "cache type for disable must be \"success\" or \"denial\"");
	loc_err(".:53 {\n cache {\n  bogus 1\n }\n}\n", 3, 3, "cache",
		"Wrong argument count or unexpected line ending after 'bogus'");
	loc_err(".:53 {\n cache {\n  {\n  }\n }\n}\n", 3, 3, "cache",
		"Unexpected token '{', expecting argument");
	plain_err(".:53 {\n cache\n cache\n}\n", 3, 2, "cache",
		  "this plugin can only be used once per Server Block");
	plain_err(".:53 {\n cache {\n  serve_stale 1h sometimes\n }\n}\n", 3, 18, "cache",
		  "invalid value for serve_stale refresh mode: sometimes");
	plain_err(".:53 {\n cache {\n  serve_stale -1h\n }\n}\n", 3, 15, "cache",
		  "invalid negative duration for serve_stale");
	loc_err(".:53 {\n cache {\n  serve_stale 1h immediate 1s 1s 1s\n }\n}\n", 3, 34, "cache",
		"Wrong argument count or unexpected line ending after '1s'");
	plain_err(".:53 {\n cache {\n  serve_stale 1h verify 1s 1s 6m\n }\n}\n", 3, 31, "cache",
		  "serve_stale failure recheck over 5 minutes is not permitted");
	plain_err(".:53 {\n cache {\n  serve_stale_policy prefer_positive\n }\n}\n", 4, 2, "cache",
		  "serve_stale_policy requires serve_stale");
	plain_err(".:53 {\n cache {\n  serve_stale\n  serve_stale_policy newest\n }\n}\n", 4, 22,
		  "cache", "invalid value for serve_stale_policy: newest");
}

/* -------------------------------------------------------- other plugins */

static void test_other_plugins(void **state)
{
	(void)state;
	char t[4096];
	write_file("db.example", "$ORIGIN example.org.\n");
	snprintf(t, sizeof(t),
		 "example.org {\n"
		 " bind 127.0.0.1 ::1 {\n  except ::1\n }\n"
		 " bind 127.0.0.2\n"
		 " errors {\n  consolidate 5m \".* timeout\" warning show_first\n  stacktrace\n }\n"
		 " log . {combined} {\n  class denial error\n }\n"
		 " log Example.org\n"
		 " health :8081 {\n  lameduck 3s\n }\n"
		 " ready :8182 {\n  monitor continuously\n }\n"
		 " prometheus 0.0.0.0:9154\n"
		 " reload 10s 8s\n"
		 " loadbalance weighted w.txt {\n  reload 10s\n  prefer 10.0.0.0/8 fd00::/8\n }\n"
		 " hosts /nonexistent/hosts example.org {\n  10.0.0.1 a.example.org b\n  ttl 60\n"
		 "  no_reverse\n  reload 0\n  fallthrough\n  fallthrough_unsupported\n }\n"
		 " file %s/db.example example.org {\n  reload 0\n  reload_by_mtime\n  fallthrough a.org\n }\n"
		 " file other.db\n"
		 " transfer example.org {\n  to 10.0.0.1 * [::1]:5300 10.0.0.2:53 ::2\n  source 10.0.0.9\n }\n"
		 " chaos MyVersion b a a\n"
		 " timeouts {\n  read 30s\n  write 20\n  idle 1m\n }\n"
		 " debug\n whoami\n any\n loop\n"
		 " memory 64M\n breakglass 127.0.0.1:9999\n"
		 "}\n"
		 "other.org {\n health :8081\n ready :8182\n memory 64Mi\n}\n",
		 dir);
	hfi_config_t *c = load(t);
	assert_int_equal(c->nblocks, 2);
	const hfi_block_t *b = &c->blocks[0];
	strv_is(&b->bind, 2, "127.0.0.1", "127.0.0.2");
	assert_true(b->has_bind && b->has_debug && b->has_whoami && b->has_any && b->has_loop);
	const hfi_cfg_errors_t *e = b->errors_cfg;
	assert_true(e->stacktrace);
	assert_int_equal(e->nconsolidate, 1);
	assert_int_equal(e->consolidate[0].duration_ms, 300000);
	assert_string_equal(e->consolidate[0].regexp, ".* timeout");
	assert_int_equal(e->consolidate[0].level, HFI_LOG_WARNING);
	assert_true(e->consolidate[0].show_first);
	const hfi_cfg_log_t *l = b->log_cfg;
	assert_int_equal(l->nrules, 2);
	assert_string_equal(l->rules[0].name, ".");
	assert_string_equal(l->rules[0].format,
			    "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} "
			    "{>bufsize}\" {rcode} {>rflags} {rsize} {duration} \"{>opcode}\"");
	assert_int_equal(l->rules[0].classes, HFI_LOG_CLASS_DENIAL | HFI_LOG_CLASS_ERROR);
	assert_string_equal(l->rules[1].name, "Example.org.");
	assert_int_equal(l->rules[1].classes, HFI_LOG_CLASS_ALL);
	assert_string_equal(c->health_addr, ":8081");
	assert_int_equal(c->health_lameduck_ms, 3000);
	assert_string_equal(c->ready_addr, ":8182");
	assert_true(c->ready_continuously);
	assert_string_equal(c->metrics_addr, "0.0.0.0:9154");
	assert_int_equal(c->reload_interval_ms, 10000);
	assert_int_equal(c->reload_jitter_ms, 5000);
	const hfi_cfg_loadbalance_t *lb = b->lb_cfg;
	assert_int_equal(lb->policy, HFI_LB_WEIGHTED);
	assert_string_equal(lb->weight_file, "w.txt");
	assert_int_equal(lb->reload_ms, 10000);
	strv_is(&lb->prefer, 2, "10.0.0.0/8", "fd00::/8");
	const hfi_cfg_hosts_t *h = b->hosts;
	assert_string_equal(h->path, "/nonexistent/hosts");
	strv_is(&h->zones, 1, "example.org.");
	strv_is(&h->inline_lines, 1, "10.0.0.1 a.example.org b");
	assert_int_equal(h->ttl, 60);
	assert_true(h->no_reverse && h->fallthrough && h->fallthrough_unsupported);
	assert_int_equal(h->fallthrough_zones.n, 0);
	assert_int_equal(h->reload_ms, 0);
	assert_int_equal(b->nfiles, 2);
	char p[512];
	snprintf(p, sizeof(p), "%s/db.example", dir);
	assert_string_equal(b->files[0]->path, p);
	strv_is(&b->files[0]->zones, 1, "example.org.");
	assert_int_equal(b->files[0]->reload_ms, 0);
	assert_true(b->files[0]->reload_by_mtime && b->files[0]->fallthrough);
	strv_is(&b->files[0]->fallthrough_zones, 1, "a.org.");
	assert_string_equal(b->files[1]->path, "other.db");
	strv_is(&b->files[1]->zones, 1, "example.org.");
	assert_int_equal(b->files[1]->reload_ms, 60000);
	const hfi_cfg_transfer_t *x = b->transfer;
	strv_is(&x->zones, 1, "example.org.");
	strv_is(&x->to, 5, "10.0.0.1:53", "*", "[::1]:5300", "10.0.0.2:53", "[::2]:53");
	assert_string_equal(x->source, "10.0.0.9");
	assert_string_equal(b->chaos->version, "MyVersion");
	strv_is(&b->chaos->authors, 2, "a", "b");
	assert_int_equal(b->read_timeout_ms, 30000);
	assert_int_equal(b->write_timeout_ms, 20000);
	assert_int_equal(b->idle_timeout_ms, 60000);
	assert_int_equal(c->memory_bytes, 64ull << 20);
	assert_string_equal(c->breakglass_addr, "127.0.0.1:9999");
	/* block 2: health/ready share the process-wide addresses */
	assert_true(c->blocks[1].has_health && c->blocks[1].has_ready);
	assert_false(c->blocks[1].has_prometheus);
	hfi_config_free(c);

	/* defaults */
	c = load(".:53 {\n health\n ready\n prometheus\n chaos\n hosts\n loadbalance round_robin\n"
		 " log\n}\n");
	assert_string_equal(c->health_addr, ":8080");
	assert_int_equal(c->health_lameduck_ms, 0);
	assert_string_equal(c->ready_addr, ":8181");
	assert_string_equal(c->metrics_addr, "localhost:9153");
	assert_int_equal(c->reload_interval_ms, 0);
	assert_null(c->blocks[0].chaos->version);
	assert_int_equal(c->blocks[0].chaos->authors.n, 0);
	assert_string_equal(c->blocks[0].hosts->path, "/etc/hosts");
	assert_int_equal(c->blocks[0].hosts->ttl, 3600);
	assert_int_equal(c->blocks[0].hosts->reload_ms, 5000);
	strv_is(&c->blocks[0].hosts->zones, 1, ".");
	assert_int_equal(c->blocks[0].log_cfg->nrules, 1);
	assert_string_equal(c->blocks[0].log_cfg->rules[0].name, ".");
	hfi_config_free(c);
	c = load(".:53 {\n whoami\n}\n");
	assert_null(c->health_addr);
	assert_null(c->ready_addr);
	assert_null(c->metrics_addr);
	hfi_config_free(c);
	/* memory sizes */
	static const struct {
		const char *s;
		uint64_t v;
	} sizes[] = {{"4096", 4096}, {"1k", 1024}, {"2K", 2048}, {"1G", 1ull << 30},
		     {"170Mi", 170ull << 20}, {"1TB", 1ull << 40}, {"3GiB", 3ull << 30}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(t, sizeof(t), ".:53 {\n memory %s\n}\n", sizes[i].s);
		c = load(t);
		assert_int_equal(c->memory_bytes, sizes[i].v);
		hfi_config_free(c);
	}
}

static void test_bind_interface(void **state)
{
	(void)state;
	hfi_config_t *c = load(".:53 {\n bind lo\n}\n");
	assert_true(c->blocks[0].bind.n >= 1);
	bool v4 = false;
	for (size_t i = 0; i < c->blocks[0].bind.n; i++)
		v4 |= strcmp(c->blocks[0].bind.v[i], "127.0.0.1") == 0;
	assert_true(v4);
	hfi_config_free(c);
}

static void test_other_plugin_errors(void **state)
{
	(void)state;
	/* bind */
	plain_err(".:53 {\n bind\n}\n", 2, 2, "bind",
		  "at least one address or interface name is expected");
	plain_err(".:53 {\n bind nosuchif0\n}\n", 2, 7, "bind",
		  "not a valid IP address or interface name: \"nosuchif0\"");
	plain_err(".:53 {\n bind 1.2.3.4 {\n  foo\n }\n}\n", 3, 3, "bind", "invalid option \"foo\"");
	plain_err(".:53 {\n bind 1.2.3.4 {\n  except\n }\n}\n", 3, 3, "bind",
		  "at least one address or interface must be given to except subdirective");
	/* errors */
	loc_err(".:53 {\n errors a b\n}\n", 2, 11, "errors",
		"Wrong argument count or unexpected line ending after 'b'");
	loc_err(".:53 {\n errors file.log\n}\n", 2, 9, "errors", "invalid log file: file.log");
	cfg_err(".:53 {\n errors {\n  bogus\n }\n}\n",
		"Corefile:3:3: plugin/errors: Syntax error: Unexpected token 'bogus', expecting 'Unknown field bogus'",
		"plugin/errors: Corefile:3 - Syntax error: Unexpected token 'bogus', expecting 'Unknown field bogus'");
	loc_err(".:53 {\n errors {\n  consolidate 1m\n }\n}\n", 3, 15, "errors",
		"Wrong argument count or unexpected line ending after '1m'");
	loc_err(".:53 {\n errors {\n  consolidate x y\n }\n}\n", 3, 17, "errors",
		"time: invalid duration \"x\"");
	loc_err(".:53 {\n errors {\n  consolidate 1m re loud\n }\n}\n", 3, 21, "errors",
		"unknown log level argument in consolidate: loud");
	plain_err(".:53 {\n errors\n errors\n}\n", 3, 2, "errors",
		  "this plugin can only be used once per Server Block");
	/* log */
	plain_err(".:53 {\n log {\n  class bogus\n }\n}\n", 3, 9, "log", "invalid Class: bogus");
	loc_err(".:53 {\n log {\n  foo\n }\n}\n", 3, 3, "log",
		"Wrong argument count or unexpected line ending after 'foo'");
	loc_err(".:53 {\n log {\n  class\n }\n}\n", 3, 3, "log",
		"Wrong argument count or unexpected line ending after 'class'");
	/* health, ready, prometheus */
	loc_err(".:53 {\n health a b\n}\n", 2, 11, "health",
		"Wrong argument count or unexpected line ending after 'b'");
	plain_err(".:53 {\n health nocolon\n}\n", 2, 9, "health",
		  "address nocolon: missing port in address");
	plain_err(".:53 {\n health ::1\n}\n", 2, 9, "health", "address ::1: too many colons in address");
	plain_err(".:53 {\n health {\n  lameduck x\n }\n}\n", 3, 12, "health",
		  "unable to parse lameduck duration value: 'x' : time: invalid duration \"x\"");
	loc_err(".:53 {\n health {\n  foo\n }\n}\n", 3, 3, "health",
		"Wrong argument count or unexpected line ending after 'foo'");
	loc_err("a.org {\n health :8080\n}\nb.org {\n health :9090\n}\n", 5, 9, "health",
		"holdfast serves one health address; ':9090' differs from ':8080' set earlier");
	plain_err(".:53 {\n ready\n ready\n}\n", 3, 2, "ready",
		  "this plugin can only be used once per Server Block");
	loc_err(".:53 {\n ready {\n  monitor sometimes\n }\n}\n", 3, 11, "ready",
		"monitor type 'sometimes' not supported");
	loc_err(".:53 {\n ready :1 :2\n}\n", 2, 11, "ready",
		"Wrong argument count or unexpected line ending after ':2'");
	plain_err(".:53 {\n prometheus\n prometheus\n}\n", 3, 2, "prometheus",
		  "this plugin can only be used once per Server Block");
	plain_err(".:53 {\n prometheus localhost\n}\n", 2, 13, "prometheus",
		  "address localhost: missing port in address");
	/* reload */
	plain_err(".:53 {\n reload 1s\n}\n", 2, 9, "reload", "interval value must be greater or equal to 2s");
	plain_err(".:53 {\n reload 5s 500ms\n}\n", 2, 12, "reload",
		  "jitter value must be greater or equal to 1s");
	loc_err(".:53 {\n reload 1 2 3\n}\n", 2, 13, "reload",
		"Wrong argument count or unexpected line ending after '3'");
	plain_err(".:53 {\n reload x\n}\n", 2, 9, "reload", "time: invalid duration \"x\"");
	/* loadbalance */
	plain_err(".:53 {\n loadbalance foo\n}\n", 2, 14, "loadbalance", "unknown policy: foo");
	loc_err(".:53 {\n loadbalance round_robin x\n}\n", 2, 26, "loadbalance",
		"unknown property for round_robin");
	loc_err(".:53 {\n loadbalance weighted\n}\n", 2, 14, "loadbalance", "missing weight file argument");
	loc_err(".:53 {\n loadbalance weighted f x\n}\n", 2, 25, "loadbalance", "unexpected argument(s)");
	loc_err(".:53 {\n loadbalance weighted f {\n  bogus\n }\n}\n", 3, 3, "loadbalance",
		"unknown property 'bogus'");
	loc_err(".:53 {\n loadbalance weighted f {\n  reload\n }\n}\n", 3, 3, "loadbalance",
		"reload duration value is missing");
	loc_err(".:53 {\n loadbalance weighted f {\n  reload x\n }\n}\n", 3, 10, "loadbalance",
		"invalid reload duration 'x'");
	loc_err(".:53 {\n loadbalance weighted f {\n  prefer 10.0.0.0/33\n }\n}\n", 3, 10, "loadbalance",
		"invalid CIDR in prefer: '10.0.0.0/33'");
	/* transfer: some errors are wrapped twice, as in CoreDNS */
	cfg_err(".:53 {\n transfer\n}\n", "Corefile:2:2: plugin/transfer: 'to' is required",
		"plugin/transfer: plugin/transfer: Corefile:2 - Error during parsing: 'to' is required");
	cfg_err(".:53 {\n transfer {\n  foo\n }\n}\n",
		"Corefile:3:3: plugin/transfer: unknown property 'foo'",
		"plugin/transfer: plugin/transfer: Corefile:3 - Error during parsing: unknown property 'foo'");
	loc_err(".:53 {\n transfer {\n  to\n }\n}\n", 3, 3, "transfer",
		"Wrong argument count or unexpected line ending after 'to'");
	plain_err(".:53 {\n transfer {\n  to host.example\n }\n}\n", 3, 6, "transfer",
		  "must specify an IP address: `host.example`");
	/* hosts */
	plain_err(".:53 {\n hosts\n hosts\n}\n", 3, 2, "hosts",
		  "this plugin can only be used once per Server Block");
	loc_err(".:53 {\n hosts {\n  ttl\n }\n}\n", 3, 3, "hosts", "ttl needs a time in second");
	loc_err(".:53 {\n hosts {\n  ttl x\n }\n}\n", 3, 7, "hosts", "ttl needs a number of second");
	loc_err(".:53 {\n hosts {\n  ttl 0\n }\n}\n", 3, 7, "hosts", "ttl provided is invalid");
	loc_err(".:53 {\n hosts {\n  reload\n }\n}\n", 3, 3, "hosts",
		"reload needs a duration (zero seconds to disable)");
	loc_err(".:53 {\n hosts {\n  reload x\n }\n}\n", 3, 10, "hosts", "invalid duration for reload 'x'");
	loc_err(".:53 {\n hosts {\n  reload -1s\n }\n}\n", 3, 10, "hosts",
		"invalid negative duration for reload '-1s'");
	loc_err(".:53 {\n hosts {\n  fallthru\n }\n}\n", 3, 3, "hosts",
		"unknown property 'fallthru' (not an inline \"IP NAME...\" entry)");
	/* file */
	loc_err(".:53 {\n file\n}\n", 2, 2, "file",
		"Wrong argument count or unexpected line ending after 'file'");
	loc_err(".:53 {\n file f {\n  bogus\n }\n}\n", 3, 3, "file", "unknown property 'bogus'");
	plain_err(".:53 {\n file f {\n  reload\n }\n}\n", 3, 3, "file", "reload duration value is expected");
	cfg_err(".:53 {\n file f {\n  reload x\n }\n}\n",
		"Corefile:3:10: plugin/file: time: invalid duration \"x\"",
		"plugin/file: plugin/file: time: invalid duration \"x\"");
	cfg_err(".:53 {\n file /nonexistent/db {\n  reload 0\n }\n}\n",
		"Corefile:4:2: plugin/file: open /nonexistent/db: no such file or directory",
		"plugin/file: plugin/file: open /nonexistent/db: no such file or directory");
	/* timeouts: CoreDNS wraps only some of its errors */
	loc_err(".:53 {\n timeouts a\n}\n", 2, 11, "timeouts",
		"Wrong argument count or unexpected line ending after 'a'");
	loc_err(".:53 {\n timeouts {\n }\n}\n", 3, 2, "timeouts",
		"timeouts block with no timeouts specified");
	cfg_err(".:53 {\n timeouts {\n  read 0\n }\n}\n",
		"Corefile:3:8: plugin/timeouts: timeout provided '0s' needs to be between 1 second and 24 hours",
		"Corefile:3 - Error during parsing: timeout provided '0s' needs to be between 1 second and 24 hours");
	cfg_err(".:53 {\n timeouts {\n  idle 25h\n }\n}\n",
		"Corefile:3:8: plugin/timeouts: timeout provided '25h0m0s' needs to be between 1 second and 24 hours",
		"Corefile:3 - Error during parsing: timeout provided '25h0m0s' needs to be between 1 second and 24 hours");
	cfg_err(".:53 {\n timeouts {\n  foo 5s\n }\n}\n",
		"Corefile:3:7: plugin/timeouts: unknown option: 'foo'",
		"Corefile:3 - Error during parsing: unknown option: 'foo'");
	cfg_err(".:53 {\n timeouts {\n  read\n }\n}\n",
		"Corefile:3:3: plugin/timeouts: Wrong argument count or unexpected line ending after 'read'",
		"Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after 'read'");
	/* no-argument plugins */
	loc_err(".:53 {\n debug x\n}\n", 2, 8, "debug",
		"Wrong argument count or unexpected line ending after 'x'");
	loc_err(".:53 {\n whoami x\n}\n", 2, 9, "whoami",
		"Wrong argument count or unexpected line ending after 'x'");
	loc_err(".:53 {\n any x\n}\n", 2, 6, "any", "Wrong argument count or unexpected line ending after 'x'");
	loc_err(".:53 {\n loop x\n}\n", 2, 7, "loop", "Wrong argument count or unexpected line ending after 'x'");
	plain_err(".:53 {\n loop\n loop\n}\n", 3, 2, "loop",
		  "this plugin can only be used once per Server Block");
	/* holdfast's own */
	loc_err(".:53 {\n memory 64X\n}\n", 2, 9, "memory",
		"invalid memory size '64X' (bytes, or a number with K, M, G or T)");
	loc_err(".:53 {\n memory\n}\n", 2, 2, "memory",
		"Wrong argument count or unexpected line ending after 'memory'");
	loc_err("a.org {\n memory 1G\n}\nb.org {\n memory 2G\n}\n", 5, 9, "memory",
		"memory is set twice with different sizes");
	plain_err(".:53 {\n breakglass x\n}\n", 2, 13, "breakglass", "address x: missing port in address");
	plain_err(".:53 {\n breakglass :1\n breakglass :2\n}\n", 3, 2, "breakglass",
		  "this plugin can only be used once per Server Block");
}


/* ------------------------------------------------------ value parsers */

static void dur_ok(const char *s, int64_t want)
{
	int64_t ns = -12345;
	char msg[256] = "";
	if (!hfi_go_duration(s, &ns, msg, sizeof(msg)))
		fail_msg("%s: %s", s, msg);
	assert_int_equal(ns, want);
}

static void dur_bad(const char *s, const char *want)
{
	int64_t ns;
	char msg[256] = "";
	assert_false(hfi_go_duration(s, &ns, msg, sizeof(msg)));
	assert_string_equal(msg, want);
}

static void dur_str(int64_t ns, const char *want)
{
	char b[64];
	hfi_go_duration_str(ns, b, sizeof(b));
	assert_string_equal(b, want);
}

static void test_go_values(void **state)
{
	(void)state;
	dur_ok("0", 0);
	dur_ok("-0", 0);
	dur_ok("5s", 5000000000LL);
	dur_ok("1m30s", 90000000000LL);
	dur_ok("300ms", 300000000LL);
	dur_ok("2h", 7200000000000LL);
	dur_ok("1.5h", 5400000000000LL);
	dur_ok(".5s", 500000000LL);
	dur_ok("+1s", 1000000000LL);
	dur_ok("-1.5s", -1500000000LL);
	dur_ok("1h2m3s4ms5us6ns", 3723004005006LL);
	dur_ok("7\xc2\xb5s", 7000);
	dur_ok("7\xce\xbcs", 7000);
	dur_ok("9223372036854775807ns", INT64_MAX);
	dur_ok("-9223372036854775808ns", INT64_MIN);
	dur_bad("", "time: invalid duration \"\"");
	dur_bad("5", "time: missing unit in duration \"5\"");
	dur_bad("1x", "time: unknown unit \"x\" in duration \"1x\"");
	dur_bad("1s2", "time: missing unit in duration \"1s2\"");
	dur_bad(".s", "time: invalid duration \".s\"");
	dur_bad("s", "time: invalid duration \"s\"");
	dur_bad("9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\"");
	dur_bad("3000000h", "time: invalid duration \"3000000h\"");
	dur_bad("1\"s", "time: unknown unit \"\\\"s\" in duration \"1\\\"s\"");
	dur_str(0, "0s");
	dur_str(1, "1ns");
	dur_str(1500, "1.5\xc2\xb5s");
	dur_str(1500000, "1.5ms");
	dur_str(1500000000LL, "1.5s");
	dur_str(90000000000LL, "1m30s");
	dur_str(90000000000000LL, "25h0m0s");
	dur_str(-1000000000LL, "-1s");
	dur_str(INT64_MIN, "-2562047h47m16.854775808s");

	long long v;
	char msg[256];
	assert_true(hfi_go_atoi("-42", &v, msg, sizeof(msg)));
	assert_int_equal(v, -42);
	assert_true(hfi_go_atoi("+7", &v, msg, sizeof(msg)));
	assert_int_equal(v, 7);
	assert_true(hfi_go_atoi("-9223372036854775808", &v, msg, sizeof(msg)));
	assert_int_equal(v, INT64_MIN);
	assert_false(hfi_go_atoi("9223372036854775808", &v, msg, sizeof(msg)));
	assert_string_equal(msg, "strconv.Atoi: parsing \"9223372036854775808\": value out of range");
	assert_false(hfi_go_atoi("1_0", &v, msg, sizeof(msg)));
	assert_string_equal(msg, "strconv.Atoi: parsing \"1_0\": invalid syntax");
	assert_false(hfi_go_atoi("", &v, msg, sizeof(msg)));
	assert_string_equal(msg, "strconv.Atoi: parsing \"\": invalid syntax");
	assert_false(hfi_go_atoi("-", &v, msg, sizeof(msg)));
	unsigned long long u;
	assert_true(hfi_go_parse_uint("4294967295", 32, &u, msg, sizeof(msg)));
	assert_false(hfi_go_parse_uint("4294967296", 32, &u, msg, sizeof(msg)));
	assert_string_equal(msg, "strconv.ParseUint: parsing \"4294967296\": value out of range");
	assert_false(hfi_go_parse_uint("+1", 32, &u, msg, sizeof(msg)));
	double f;
	assert_true(hfi_go_parse_float("0.25", &f, msg, sizeof(msg)));
	assert_true(f == 0.25);
	assert_false(hfi_go_parse_float(" 1", &f, msg, sizeof(msg)));
	assert_false(hfi_go_parse_float("1e999", &f, msg, sizeof(msg)));
	assert_string_equal(msg, "strconv.ParseFloat: parsing \"1e999\": value out of range");

	size_t hs, hl, ps;
	assert_true(hfi_go_split_host_port("[::1]:53", &hs, &hl, &ps, msg, sizeof(msg)));
	assert_int_equal(hs, 1);
	assert_int_equal(hl, 3);
	assert_int_equal(ps, 6);
	assert_true(hfi_go_split_host_port(":8080", &hs, &hl, &ps, msg, sizeof(msg)));
	assert_int_equal(hl, 0);
	assert_int_equal(ps, 1);
	assert_true(hfi_go_split_host_port("host:", &hs, &hl, &ps, msg, sizeof(msg)));
	static const struct {
		const char *in, *err;
	} bad[] = {
		{"[::1]", "address [::1]: missing port in address"},
		{"[::1", "address [::1: missing ']' in address"},
		{"[::1]x:53", "address [::1]x:53: missing port in address"},
		{"[::1]:5:3", "address [::1]:5:3: too many colons in address"},
		{"a:b:c", "address a:b:c: too many colons in address"},
		{"a[b:1", "address a[b:1: unexpected '[' in address"},
		{"a]b:1", "address a]b:1: unexpected ']' in address"},
		{"", "missing port in address"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(hfi_go_split_host_port(bad[i].in, &hs, &hl, &ps, msg, sizeof(msg)));
		assert_string_equal(msg, bad[i].err);
	}
}

static void test_domain_names(void **state)
{
	(void)state;
	static const char *ok[] = {".", "a", "a.", "example.org", "*.example.org", "a\\.b.org",
				   "\\065bc.org", "xn--bcher-kva.example", "10.0.0.0/24", "_srv._tcp"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!hfi_is_domain_name(ok[i]))
			fail_msg("%s should be a domain name", ok[i]);
	static const char *bad[] = {"", "..", ".a", "a..b", "a.b..",
				    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (hfi_is_domain_name(bad[i]))
			fail_msg("%s should not be a domain name", bad[i]);
	assert_true(hfi_is_fqdn("a."));
	assert_false(hfi_is_fqdn("a\\."));
	assert_true(hfi_is_fqdn("a\\\\."));
	assert_true(hfi_zone_is_reverse("0.10.in-addr.arpa."));
	assert_true(hfi_zone_is_reverse("8.b.d.0.1.0.0.2.ip6.arpa."));
	assert_false(hfi_zone_is_reverse("in-addr.arpa."));
	assert_false(hfi_zone_is_reverse("ip6.arpa."));
	assert_false(hfi_zone_is_reverse("cluster.local."));
	hfi_strv_t v = {0};
	assert_int_equal(hfi_normalize_exact(NULL, "dns://Example.ORG:53", &v), 1);
	assert_int_equal(hfi_normalize_exact(NULL, "a..b", &v), 0);
	assert_int_equal(hfi_normalize_exact(NULL, "10.0.0.0/15", &v), 2);
	strv_is(&v, 3, "example.org.", "0.10.in-addr.arpa.", "1.10.in-addr.arpa.");
	assert_int_equal(hfi_strv_push(NULL, &v, "example.org."), HF_EOK);
	assert_int_equal(hfi_strv_push(NULL, &v, "a."), HF_EOK);
	assert_int_equal(hfi_strv_dedup(NULL, &v), HF_EOK);
	strv_is(&v, 4, "example.org.", "0.10.in-addr.arpa.", "1.10.in-addr.arpa.", "a.");
	hfi_strv_free(NULL, &v);
}

/* ----------------------------------------------------------------- load */

static void test_load_file(void **state)
{
	(void)state;
	write_file("conf/Corefile", ".:1053 {\n import inc/*.conf\n kubernetes {\n  manifest objects.yaml\n }\n}\n");
	write_file("conf/inc/a.conf", "whoami\n");
	char path[512], err[2048], want[2048];
	snprintf(path, sizeof(path), "%s/conf/Corefile", dir);
	hfi_config_t *c = hfi_config_load(path, 0, NULL, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->path, path);
	assert_int_equal(c->blocks[0].keys[0].port, 1053);
	assert_true(c->blocks[0].has_whoami);
	char m[512];
	snprintf(m, sizeof(m), "%s/conf/objects.yaml", dir);
	strv_is(&c->blocks[0].kubernetes->manifests, 1, m);
	hfi_config_free(c);

	/* errors name the path as given */
	write_file("conf/Bad", "x {\n bogus\n}\n");
	snprintf(path, sizeof(path), "%s/conf/Bad", dir);
	c = hfi_config_load(path, 0, NULL, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:2:2: Unknown directive 'bogus'\n%s:2 - Error during parsing: Unknown directive 'bogus'",
		 path, path);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/conf/Missing", dir);
	c = hfi_config_load(path, 0, NULL, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:1:1: open %s: no such file or directory\nopen %s: no such file or directory",
		 path, path, path);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/conf", dir);
	c = hfi_config_load(path, 0, NULL, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:1:1: read %s: is a directory\nread %s: is a directory", path,
		 path, path);
	assert_string_equal(err, want);

	/* stdin */
	write_file("stdin.Corefile", "example.org {\n whoami\n}\n");
	snprintf(path, sizeof(path), "%s/stdin.Corefile", dir);
	int saved = dup(0);
	assert_non_null(freopen(path, "r", stdin));
	c = hfi_config_load("stdin", 5353, NULL, err, sizeof(err));
	dup2(saved, 0);
	close(saved);
	assert_non_null(c);
	assert_string_equal(c->path, "stdin");
	assert_string_equal(c->blocks[0].file, "stdin");
	assert_int_equal(c->blocks[0].keys[0].port, 5353);
	hfi_config_free(c);
}

static void test_torture(void **state)
{
	(void)state;
	write_file("tort/resolv.conf", "nameserver 10.96.0.10\n");
	write_file("tort/extra.conf", "log . {\n class denial\n}\n");
	char text[4096];
	snprintf(text, sizeof(text),
		 "(common) {\n errors\n import %s/tort/extra.conf\n}\n"
		 ".:53 10.0.0.0/15 {\n import common\n"
		 " health {\n  lameduck 5s\n }\n ready\n"
		 " kubernetes cluster.local in-addr.arpa ip6.arpa {\n  pods insecure\n"
		 "  fallthrough in-addr.arpa ip6.arpa\n  ttl 30\n  labels app=web\n  manifest m/*.yaml\n }\n"
		 " prometheus :9153\n"
		 " forward . %s/tort/resolv.conf 1.1.1.1 {\n  max_concurrent 1000\n  except a.org\n }\n"
		 " cache 30 {\n  disable success cluster.local\n  disable denial cluster.local\n }\n"
		 " hosts {\n  10.0.0.1 a.b\n }\n transfer {\n  to *\n }\n chaos v a b\n"
		 " loop\n reload\n loadbalance\n memory 64M\n}\n"
		 "example.org:1053 {\n bind 127.0.0.1\n file %s/tort/resolv.conf\n whoami\n}\n",
		 dir, dir, dir);
	bool ok = false;
	unsigned long k;
	for (k = 1; k < 20000 && !ok; k++) {
		hf_mm_t mm;
		hfi_mm_torture_t t;
		hfi_mm_torture_init(&mm, &t, k);
		char err[1024] = "";
		hfi_config_t *c = hfi_config_parse("Corefile", text, strlen(text), dir, 0, &mm, err,
						   sizeof(err));
		if (c != NULL) {
			assert_int_equal(c->nblocks, 2);
			assert_int_equal(c->blocks[0].nkeys, 3);
			assert_int_equal(c->blocks[0].nplugins, 14);
			assert_int_equal(c->blocks[0].forward[0]->to.n, 2);
			hfi_config_free(c);
			ok = true;
		} else {
			if (strstr(err, "out of memory") == NULL)
				fail_msg("allocation %lu: %s", k, err);
		}
		if (t.live != 0)
			fail_msg("allocation %lu: %lu allocations leaked (%s)", k, t.live, err);
	}
	assert_true(ok);
	assert_true(k > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubeadm),
		cmocka_unit_test(test_plugin_order),
		cmocka_unit_test(test_unknown_and_unsupported),
		cmocka_unit_test(test_cidr_keys),
		cmocka_unit_test(test_key_errors),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_kubernetes_options),
		cmocka_unit_test(test_kubernetes_errors),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_forward_errors),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_errors),
		cmocka_unit_test(test_other_plugins),
		cmocka_unit_test(test_bind_interface),
		cmocka_unit_test(test_other_plugin_errors),
		cmocka_unit_test(test_go_values),
		cmocka_unit_test(test_domain_names),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
