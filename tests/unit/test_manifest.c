/* test_manifest.c: the manifest source: realistic YAML and JSON, Lists,
 * options and selectors, every error path, resource bounds, allocation
 * failures, files and globs, and a 20k-service load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "holdfast.h"
#include "manifest.h"

static char data_dir[1024];

static void find_data_dir(void)
{
	const char *f = __FILE__;
	const char *slash = strrchr(f, '/');
	if (slash == NULL)
		snprintf(data_dir, sizeof(data_dir), "data/manifests");
	else
		snprintf(data_dir, sizeof(data_dir), "%.*s/data/manifests", (int)(slash - f), f);
}

static char *data_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", data_dir, name);
	return buf;
}

static const hfi_manifest_opts_t all_opts = { .load_pods = true, .load_slices = true };

static int load_str(hfi_store_t *st, const char *text, const hfi_manifest_opts_t *o,
		    char *err, size_t errlen)
{
	return hfi_manifest_load_buf(st, "t.yaml", text, strlen(text), o ? o : &all_opts, err, errlen);
}

static hfi_ip_t ip(const char *s)
{
	hfi_ip_t r;
	assert_int_equal(hfi_ip_parse(s, &r), 0);
	return r;
}

static void assert_ip(const hfi_ip_t *got, const char *want)
{
	hfi_ip_t w = ip(want);
	assert_int_equal(got->family, w.family);
	assert_memory_equal(got->addr, w.addr, w.family == 4 ? 4 : 16);
}

static const char *label(const hfi_labels_t *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->kv[i].key, key) == 0)
			return l->kv[i].val;
	return NULL;
}

/* Every field of cluster.yaml, derived by hand from the file. */
static void check_cluster(const hfi_store_t *st)
{
	assert_int_equal(hfi_store_count_namespaces(st), 2);
	assert_int_equal(hfi_store_count_services(st), 5);
	assert_int_equal(hfi_store_count_slices(st), 1);
	assert_int_equal(hfi_store_count_pods(st), 1);

	const hfi_namespace_t *ns = hfi_store_namespace(st, "prod");
	assert_non_null(ns);
	assert_string_equal(ns->rv, "301");
	assert_string_equal(label(&ns->labels, "team"), "web");
	assert_non_null(hfi_store_namespace(st, "default"));

	const hfi_service_t *s = hfi_store_service(st, "default", "kubernetes");
	assert_non_null(s);
	assert_string_equal(s->type, "ClusterIP");
	assert_string_equal(s->rv, "210");
	assert_false(s->headless);
	assert_int_equal(s->nips, 1);
	assert_ip(&s->ips[0], "10.96.0.1");
	assert_int_equal(s->nports, 1);
	assert_string_equal(s->ports[0].name, "https");
	assert_string_equal(s->ports[0].protocol, "TCP");
	assert_int_equal(s->ports[0].port, 443);
	assert_string_equal(label(&s->labels, "provider"), "kubernetes");
	assert_null(s->external_name);

	s = hfi_store_service(st, "prod", "web");
	assert_non_null(s);
	assert_int_equal(s->nips, 2);
	assert_ip(&s->ips[0], "10.96.5.5");
	assert_ip(&s->ips[1], "fd00:10:96::5");
	assert_int_equal(s->nports, 2);
	assert_string_equal(s->ports[0].name, "http");
	assert_int_equal(s->ports[0].port, 80);
	assert_string_equal(s->ports[1].name, "https");
	assert_string_equal(s->ports[1].protocol, "TCP"); /* defaulted */
	assert_int_equal(s->ports[1].port, 443);
	assert_string_equal(label(&s->labels, "tier"), "front");

	s = hfi_store_service(st, "prod", "db");
	assert_non_null(s);
	assert_true(s->headless);
	assert_int_equal(s->nips, 0);
	assert_int_equal(s->nports, 1);
	assert_string_equal(s->ports[0].name, "pg");
	assert_int_equal(s->ports[0].port, 5432);

	s = hfi_store_service(st, "prod", "ext");
	assert_non_null(s);
	assert_string_equal(s->type, "ExternalName");
	assert_string_equal(s->external_name, "db.example.com");
	assert_int_equal(s->nips, 0);
	assert_int_equal(s->nports, 1);
	assert_int_equal(s->ports[0].port, -1); /* sentinel */

	s = hfi_store_service(st, "prod", "noports");
	assert_non_null(s);
	assert_string_equal(s->type, "NodePort");
	assert_null(s->rv);
	assert_int_equal(s->nips, 1);
	assert_ip(&s->ips[0], "10.96.7.7"); /* clusterIP when clusterIPs is absent */
	assert_int_equal(s->nports, 1);
	assert_int_equal(s->ports[0].port, -1);
	assert_string_equal(s->ports[0].name, "");
	assert_string_equal(s->ports[0].protocol, "");

	assert_null(hfi_store_service(st, "prod", "knative-thing"));

	const hfi_slice_t *sl = hfi_store_slice(st, "prod", "db-7xk2p");
	assert_non_null(sl);
	assert_string_equal(sl->service, "db");
	assert_string_equal(sl->rv, "420");
	assert_int_equal(sl->nports, 1);
	assert_string_equal(sl->ports[0].name, "pg");
	assert_int_equal(sl->ports[0].port, 5432);
	assert_int_equal(sl->naddrs, 2); /* db-2 is not ready */
	assert_ip(&sl->addrs[0].ip, "10.244.1.10");
	assert_string_equal(sl->addrs[0].hostname, "db-0");
	assert_string_equal(sl->addrs[0].pod_name, "db-0");
	assert_string_equal(sl->addrs[0].node_name, "node-a");
	assert_string_equal(sl->addrs[0].zone, "europe-west1-b");
	assert_ip(&sl->addrs[1].ip, "10.244.2.11"); /* no conditions: ready */
	assert_string_equal(sl->addrs[1].hostname, "db-1");
	assert_null(sl->addrs[1].zone);

	const hfi_pod_t *p = hfi_store_pod(st, "prod", "web-5d9c7b-abcde");
	assert_non_null(p);
	assert_ip(&p->ip, "10.244.1.20");
	assert_string_equal(p->phase, "Running");
	assert_false(p->deleting);
	assert_null(hfi_store_pod(st, "prod", "job-done"));
	assert_null(hfi_store_pod(st, "prod", "web-old"));
}

static void test_yaml_file(void **state)
{
	(void)state;
	char path[1200], err[512] = "x";
	hfi_store_t *st = hfi_store_new(NULL);
	int ret = hfi_manifest_load_file(st, data_path("cluster.yaml", path, sizeof(path)), &all_opts,
					 err, sizeof(err));
	if (ret < 0)
		fail_msg("load: %d %s", ret, err);
	assert_int_equal(ret, 9);
	assert_string_equal(err, "");
	check_cluster(st);
	assert_int_not_equal(hfi_store_serial(st), 0);
	assert_false(hfi_store_synced(st)); /* the caller sets it */
	hfi_store_free(st);
}

static void test_json_list(void **state)
{
	(void)state;
	char path[1200], err[512];
	hfi_store_t *st = hfi_store_new(NULL);
	int ret = hfi_manifest_load_glob(st, data_path("cluster.json", path, sizeof(path)), &all_opts,
					 err, sizeof(err));
	if (ret < 0)
		fail_msg("load: %d %s", ret, err);
	assert_int_equal(ret, 9);
	check_cluster(st);
	hfi_store_free(st);

	/* compact one-line JSON, single object */
	st = hfi_store_new(NULL);
	ret = load_str(st, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"a\","
			   "\"namespace\":\"x\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":"
			   "[{\"port\":53,\"protocol\":\"UDP\",\"name\":\"dns\"}]}}", NULL, err, sizeof(err));
	assert_int_equal(ret, 1);
	const hfi_service_t *s = hfi_store_service(st, "x", "a");
	assert_non_null(s);
	assert_string_equal(s->ports[0].protocol, "UDP");
	hfi_store_free(st);
}

static void test_options(void **state)
{
	(void)state;
	char path[1200], err[512];
	data_path("cluster.yaml", path, sizeof(path));

	hfi_manifest_opts_t o = { .load_pods = false, .load_slices = false };
	hfi_store_t *st = hfi_store_new(NULL);
	assert_int_equal(hfi_manifest_load_file(st, path, &o, err, sizeof(err)), 7);
	assert_int_equal(hfi_store_count_pods(st), 0);
	assert_int_equal(hfi_store_count_slices(st), 0);
	assert_int_equal(hfi_store_count_services(st), 5);
	hfi_store_free(st);

	/* labels applies to Services, EndpointSlices and Pods (not Namespaces) */
	hfi_selector_t *sel = hfi_selector_parse("app in (web,db)", NULL, err, sizeof(err));
	assert_non_null(sel);
	o = (hfi_manifest_opts_t){ .labels = sel, .load_pods = true, .load_slices = true };
	st = hfi_store_new(NULL);
	assert_int_equal(hfi_manifest_load_file(st, path, &o, err, sizeof(err)), 5);
	assert_int_equal(hfi_store_count_namespaces(st), 2);
	assert_int_equal(hfi_store_count_services(st), 2);
	assert_non_null(hfi_store_service(st, "prod", "web"));
	assert_non_null(hfi_store_service(st, "prod", "db"));
	assert_int_equal(hfi_store_count_slices(st), 0); /* the slice has no app label */
	assert_int_equal(hfi_store_count_pods(st), 1);
	hfi_store_free(st);
	hfi_selector_free(sel);

	sel = hfi_selector_parse("team=web", NULL, err, sizeof(err));
	o = (hfi_manifest_opts_t){ .namespace_labels = sel };
	st = hfi_store_new(NULL);
	assert_int_equal(hfi_manifest_load_file(st, path, &o, err, sizeof(err)), 6);
	assert_int_equal(hfi_store_count_namespaces(st), 1);
	assert_non_null(hfi_store_namespace(st, "prod"));
	hfi_store_free(st);
	hfi_selector_free(sel);

	/* NULL opts: everything */
	st = hfi_store_new(NULL);
	assert_int_equal(hfi_manifest_load_file(st, path, NULL, err, sizeof(err)), 9);
	hfi_store_free(st);
}

static void test_lists(void **state)
{
	(void)state;
	char err[512];
	hfi_store_t *st = hfi_store_new(NULL);
	/* a raw API ServiceList: items have no kind; "kind" comes after "items" */
	const char *svclist =
		"{\"apiVersion\":\"v1\",\"items\":[\n"
		" {\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"10.0.0.1\"}},\n"
		" {\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"10.0.0.2\"}},\n"
		" {\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"n\"}}\n"
		"],\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"9\"}}\n";
	assert_int_equal(load_str(st, svclist, NULL, err, sizeof(err)), 3);
	assert_non_null(hfi_store_service(st, "n", "a"));
	assert_non_null(hfi_store_service(st, "n", "b"));
	assert_non_null(hfi_store_namespace(st, "n"));
	hfi_store_free(st);

	/* kind first, kindless items: the same */
	st = hfi_store_new(NULL);
	const char *eplist =
		"kind: EndpointSliceList\napiVersion: discovery.k8s.io/v1\nitems:\n"
		"- metadata: {name: s1, namespace: n, labels: {kubernetes.io/service-name: a}}\n"
		"  endpoints: [{addresses: [10.1.1.1]}]\n";
	assert_int_equal(load_str(st, eplist, NULL, err, sizeof(err)), 1);
	assert_int_equal(hfi_store_slice(st, "n", "s1")->naddrs, 1);
	hfi_store_free(st);

	/* kind: List with kindless items: nothing to go by, skipped */
	st = hfi_store_new(NULL);
	assert_int_equal(load_str(st, "kind: List\nitems:\n- metadata: {name: a}\n", NULL, err,
				  sizeof(err)), 0);
	hfi_store_free(st);

	/* nested Lists, mixed with documents */
	st = hfi_store_new(NULL);
	const char *nested =
		"apiVersion: v1\nkind: List\nitems:\n"
		"- apiVersion: v1\n  kind: List\n  items:\n"
		"  - {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
		"  - apiVersion: v1\n    kind: ServiceList\n    items:\n"
		"    - {metadata: {name: s, namespace: a}, spec: {clusterIP: None}}\n"
		"- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n"
		"- null\n"
		"---\n"
		"{apiVersion: v1, kind: Namespace, metadata: {name: c}}\n";
	assert_int_equal(load_str(st, nested, NULL, err, sizeof(err)), 4);
	assert_true(hfi_store_service(st, "a", "s")->headless);
	assert_non_null(hfi_store_namespace(st, "c"));
	hfi_store_free(st);

	/* empty inputs */
	const char *empties[] = { "", "# only a comment\n", "---\n---\n", "---\n...\n", "null\n",
				  "kind: List\nitems: []\n", "kind: List\nitems: null\n", "{}" };
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		st = hfi_store_new(NULL);
		int ret = load_str(st, empties[i], NULL, err, sizeof(err));
		if (ret != 0)
			fail_msg("empty case %zu: %d %s", i, ret, err);
		hfi_store_free(st);
	}
}

static void test_anchors_and_aliases(void **state)
{
	(void)state;
	char err[512];
	hfi_store_t *st = hfi_store_new(NULL);
	const char *text =
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: n\n"
		"  labels: &lbl {app: a}\n"
		"spec:\n  clusterIP: 10.0.0.1\n  ports: &ports\n  - {name: http, port: 80}\n"
		"---\n"
		"apiVersion: v1\nkind: List\nitems:\n"
		"- &svc {apiVersion: v1, kind: Service, metadata: {name: b, namespace: n}, spec: {clusterIP: 10.0.0.2}}\n"
		"- {apiVersion: v1, kind: Service, metadata: {name: c, namespace: n}, spec: *svc}\n";
	/* spec: *svc is a whole Service as a spec: extra keys are ignored, no clusterIP */
	int ret = load_str(st, text, NULL, err, sizeof(err));
	if (ret < 0)
		fail_msg("%s", err);
	assert_int_equal(ret, 3);
	assert_string_equal(label(&hfi_store_service(st, "n", "a")->labels, "app"), "a");
	assert_int_equal(hfi_store_service(st, "n", "a")->ports[0].port, 80);
	assert_int_equal(hfi_store_service(st, "n", "c")->nips, 0);
	hfi_store_free(st);

	/* aliases are document-scoped */
	st = hfi_store_new(NULL);
	ret = load_str(st, "a: &x 1\n---\nb: *x\n", NULL, err, sizeof(err));
	assert_int_equal(ret, HF_EPARSE);
	assert_string_equal(err, "t.yaml:3:4: unknown anchor 'x'");
	hfi_store_free(st);
}

struct ecase {
	const char *text;
	int code;
	const char *msg; /* exact message */
};

#define SVC(ns, name) "apiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: " ns "}\n"

static const struct ecase ecases[] = {
	/* YAML syntax */
	{ "a: b\n c: d\n", HF_EPARSE,
	  "t.yaml:2:3: yaml: mapping values are not allowed in this context" },
	{ "key: [unclosed\n", HF_EPARSE,
	  "t.yaml:2:1: yaml: while parsing a flow sequence did not find expected ',' or ']' (line 1 column 6)" },
	{ "a:\n\t- b\n", HF_EPARSE,
	  "t.yaml:2:1: yaml: while scanning for the next token found character that cannot start any token (line 2 column 1)" },
	{ "{\"a\": 1,,}", HF_EPARSE,
	  "t.yaml:1:9: yaml: while parsing a flow node did not find expected node content (line 1 column 9)" },
	/* values */
	{ SVC("prod", "web") "spec: {clusterIP: 10.96.0.300}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.clusterIP: invalid IP address \"10.96.0.300\"" },
	{ SVC("prod", "web") "spec: {clusterIPs: [10.96.0.3, \"fd00::zz\"]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.clusterIPs[1]: invalid IP address \"fd00::zz\"" },
	{ SVC("prod", "web") "spec: {clusterIPs: [10.96.0.3, None]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.clusterIPs[1]: invalid IP address \"None\"" },
	{ SVC("prod", "web") "spec: {ports: [{port: http}]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.ports[0].port: not an integer: \"http\"" },
	{ SVC("prod", "web") "spec: {ports: [{port: 80}, {port: 70000}]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.ports[1].port: out of range: 70000 (1..65535)" },
	{ SVC("prod", "web") "spec: {ports: [{port: \"80\"}]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.ports[0].port: expected an integer, found the string \"80\"" },
	{ SVC("prod", "web") "spec: {ports: [{name: http}]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.ports[0].port: missing" },
	{ SVC("prod", "web") "spec: {ports: [{port: 53, protocol: ICMP}]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.ports[0].protocol: unsupported protocol \"ICMP\" (TCP, UDP or SCTP)" },
	{ SVC("prod", "web") "spec: {ports: [{port: 53, name: DNS}]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.ports[0].name: invalid port name \"DNS\"" },
	{ SVC("prod", "web") "spec: {ports: {port: 53}}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.ports: expected a sequence, found a mapping" },
	{ SVC("prod", "web") "spec: {type: Magic}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.type: unsupported service type \"Magic\"" },
	{ SVC("prod", "web") "spec: {type: ExternalName}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.externalName: missing (required for type ExternalName)" },
	{ SVC("prod", "web") "spec: {type: ExternalName, externalName: \"a..b\"}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec.externalName: invalid host name \"a..b\"" },
	{ SVC("prod", "web") "spec: [1]\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web: field spec: expected a mapping, found a sequence" },
	/* metadata */
	{ "apiVersion: v1\nkind: Service\nmetadata: {namespace: prod}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/(no name): field metadata.name: missing" },
	{ "apiVersion: v1\nkind: Service\nspec: {}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service default/(no name): field metadata.name: missing" },
	{ SVC("Prod", "web"), HF_EMANIFEST,
	  "t.yaml: document 1: Service Prod/web: field metadata.namespace: invalid namespace name \"Prod\" (must be an RFC 1123 label)" },
	{ SVC("prod", "web.x"), HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/web.x: field metadata.name: invalid name (must be an RFC 1123 label)" },
	{ "apiVersion: v1\nkind: Service\nmetadata: {name: [a], namespace: prod}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/(no name): field metadata.name: expected a string, found a sequence" },
	{ "apiVersion: v1\nkind: Service\nmetadata: [1]\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service (no name): field metadata: expected a mapping, found a sequence" },
	{ "apiVersion: v1\nkind: Service\nmetadata: {name: \"a\\0b\", namespace: prod}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Service prod/(no name): field metadata.name: contains a NUL byte" },
	{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {a: {b: c}}}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Namespace x: field metadata.labels.a: expected a string, found a mapping" },
	{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: [a]}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Namespace x: field metadata.labels: expected a mapping, found a sequence" },
	{ "apiVersion: v1\nkind: [Service]\n", HF_EMANIFEST,
	  "t.yaml: document 1: field kind: expected a string, found a sequence" },
	/* not objects */
	{ "- a\n- b\n", HF_EMANIFEST,
	  "t.yaml: document 1: not a Kubernetes object (expected a mapping, found a sequence)" },
	{ "---\nkind: Namespace\nmetadata: {name: a}\n---\njust a string\n", HF_EMANIFEST,
	  "t.yaml: document 2: not a Kubernetes object (expected a mapping, found a scalar)" },
	{ "kind: List\nitems:\n- {kind: Namespace, metadata: {name: a}}\n- 42\n", HF_EMANIFEST,
	  "t.yaml: document 1: items[1]: not a Kubernetes object (expected a mapping, found a scalar)" },
	/* slices */
	{ "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: n}\n"
	  "endpoints: [{addresses: [10.0.0.1]}, {addresses: [10.0.0.2, bogus]}]\n", HF_EMANIFEST,
	  "t.yaml: document 1: EndpointSlice n/s: field endpoints[1].addresses[1]: invalid IP address \"bogus\"" },
	{ "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: n}\n"
	  "endpoints: [{addresses: [10.0.0.1], conditions: {ready: maybe}}]\n", HF_EMANIFEST,
	  "t.yaml: document 1: EndpointSlice n/s: field endpoints[0].conditions.ready: expected a boolean, found \"maybe\"" },
	{ "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: n}\n"
	  "endpoints: [{addresses: [10.0.0.1], hostname: Web_0}]\n", HF_EMANIFEST,
	  "t.yaml: document 1: EndpointSlice n/s: field endpoints[0].hostname: invalid hostname \"Web_0\" (must be an RFC 1123 label)" },
	{ "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: n}\n"
	  "ports: [{port: -1}]\n", HF_EMANIFEST,
	  "t.yaml: document 1: EndpointSlice n/s: field ports[0].port: out of range: -1 (0..65535)" },
	{ "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: n}\n"
	  "endpoints: [a]\n", HF_EMANIFEST,
	  "t.yaml: document 1: EndpointSlice n/s: field endpoints[0]: expected a mapping, found a scalar" },
	/* pods */
	{ "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\nstatus: {podIP: 1.2.3}\n", HF_EMANIFEST,
	  "t.yaml: document 1: Pod n/p: field status.podIP: invalid IP address \"1.2.3\"" },
	/* position: document 3 of a stream, item 2 of a List */
	{ "kind: Namespace\nmetadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: b}\n---\n"
	  SVC("n", "c") "spec: {clusterIP: x}\n", HF_EMANIFEST,
	  "t.yaml: document 3: Service n/c: field spec.clusterIP: invalid IP address \"x\"" },
	{ "{\"kind\":\"List\",\"items\":[{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}},"
	  "{\"kind\":\"ConfigMap\"},{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b\"},"
	  "\"spec\":{\"ports\":[{\"port\":1.5}]}}]}", HF_EMANIFEST,
	  "t.yaml: document 1: items[2]: Service default/b: field spec.ports[0].port: not an integer: \"1.5\"" },
	{ "kind: List\nitems:\n- kind: List\n  items:\n  - {kind: Namespace, metadata: {name: A}}\n", HF_EMANIFEST,
	  "t.yaml: document 1: items[0].items[0]: Namespace A: field metadata.name: invalid name (must be an RFC 1123 label)" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		char err[512] = "";
		hfi_store_t *st = hfi_store_new(NULL);
		int ret = load_str(st, ecases[i].text, NULL, err, sizeof(err));
		if (ret != ecases[i].code || strcmp(err, ecases[i].msg) != 0)
			fail_msg("case %zu: got %d \"%s\"\n  want %d \"%s\"", i, ret, err,
				 ecases[i].code, ecases[i].msg);
		hfi_store_free(st);
	}
}

static void test_bounds(void **state)
{
	(void)state;
	char err[512];
	/* billion laughs: 9 levels of 10 aliases = 10^9 nodes if expanded */
	char bomb[4096];
	size_t o = (size_t)sprintf(bomb, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int l = 1; l < 10; l++) {
		o += (size_t)sprintf(bomb + o, "a%d: &a%d [", l, l);
		for (int k = 0; k < 10; k++)
			o += (size_t)sprintf(bomb + o, "%s*a%d", k ? ", " : "", l - 1);
		o += (size_t)sprintf(bomb + o, "]\n");
	}
	hfi_store_t *st = hfi_store_new(NULL);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int ret = load_str(st, bomb, NULL, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (ret != HF_EPARSE || strstr(err, "t.yaml:7:45: too many alias expansions") == NULL)
		fail_msg("%d %s", ret, err);
	assert_non_null(strstr(err, "alias"));
	assert_true(b.tv_sec - a.tv_sec < 5);
	hfi_store_free(st);

	/* the same bomb inside List items, one cheap item at a time */
	char *big = malloc(1 << 20);
	assert_non_null(big);
	o = (size_t)sprintf(big, "kind: List\nitems:\n"
			    "- {kind: ConfigMap, data: &a [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]}\n"
			    "- {kind: ConfigMap, data: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]}\n"
			    "- {kind: ConfigMap, data: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}\n");
	/* each item alone is small (4 x 2,653 nodes); together they are not */
	for (int l = 0; l < 20000; l++)
		o += (size_t)sprintf(big + o, "- {kind: ConfigMap, data: [*c, *c, *c, *c]}\n");
	st = hfi_store_new(NULL);
	ret = load_str(st, big, NULL, err, sizeof(err));
	assert_int_equal(ret, HF_EPARSE);
	assert_non_null(strstr(err, "too many alias expansions"));
	hfi_store_free(st);

	/* nesting: 256 levels are fine (then not an object), 257 are not */
	memset(big, '[', 256);
	memset(big + 256, ']', 256);
	big[512] = '\0';
	st = hfi_store_new(NULL);
	assert_int_equal(load_str(st, big, NULL, err, sizeof(err)), HF_EMANIFEST);
	hfi_store_free(st);
	memset(big, '[', 5000);
	memset(big + 5000, ']', 5000);
	big[10000] = '\0';
	st = hfi_store_new(NULL);
	ret = load_str(st, big, NULL, err, sizeof(err));
	assert_int_equal(ret, HF_EPARSE);
	assert_string_equal(err, "t.yaml:1:257: nesting deeper than 256 levels");
	hfi_store_free(st);
	free(big);

	/* invalid UTF-8 and control characters */
	st = hfi_store_new(NULL);
	ret = hfi_manifest_load_buf(st, "t.yaml", "a: \xff\xfe\n", 6, &all_opts, err, sizeof(err));
	assert_int_equal(ret, HF_EPARSE);
	assert_non_null(strstr(err, "t.yaml:"));
	ret = hfi_manifest_load_buf(st, "t.yaml", "a: b\0c\n", 7, &all_opts, err, sizeof(err));
	assert_int_equal(ret, HF_EPARSE);
	hfi_store_free(st);

	/* size limit, checked before reading */
	st = hfi_store_new(NULL);
	ret = hfi_manifest_load_buf(st, "big.yaml", "", (1ULL << 30) + 1, &all_opts, err, sizeof(err));
	assert_int_equal(ret, HF_ERANGE);
	assert_string_equal(err, "big.yaml: larger than 1 GiB");
	hfi_store_free(st);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return 0;
}

static void test_files_and_globs(void **state)
{
	(void)state;
	char dir[] = "/tmp/hf_manifest_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p1[256], p2[256], p3[256], pat[256], err[512];
	snprintf(p1, sizeof(p1), "%s/b.yaml", dir);
	snprintf(p2, sizeof(p2), "%s/a.yaml", dir);
	snprintf(p3, sizeof(p3), "%s/c.txt", dir);
	/* glob order is sorted: a.yaml, then b.yaml overrides the same service */
	assert_int_equal(write_file(p1, SVC("n", "s") "spec: {clusterIP: 10.0.0.2}\n"), 0);
	assert_int_equal(write_file(p2, SVC("n", "s") "spec: {clusterIP: 10.0.0.1}\n---\n"
				    "kind: Namespace\nmetadata: {name: n}\n"), 0);
	assert_int_equal(write_file(p3, "not: [valid\n"), 0);

	hfi_store_t *st = hfi_store_new(NULL);
	snprintf(pat, sizeof(pat), "%s/*.yaml", dir);
	assert_int_equal(hfi_manifest_load_glob(st, pat, &all_opts, err, sizeof(err)), 3);
	assert_ip(&hfi_store_service(st, "n", "s")->ips[0], "10.0.0.2");
	assert_int_equal(hfi_store_count_services(st), 1);
	hfi_store_free(st);

	/* a failing file in the glob fails the load with its message */
	st = hfi_store_new(NULL);
	snprintf(pat, sizeof(pat), "%s/*", dir);
	assert_int_equal(hfi_manifest_load_glob(st, pat, &all_opts, err, sizeof(err)), HF_EPARSE);
	char want[512];
	snprintf(want, sizeof(want), "%s:2:1: yaml: while parsing a flow sequence did not find expected ',' or ']' (line 1 column 6)", p3);
	assert_string_equal(err, want);
	hfi_store_free(st);

	st = hfi_store_new(NULL);
	snprintf(pat, sizeof(pat), "%s/*.json", dir);
	assert_int_equal(hfi_manifest_load_glob(st, pat, &all_opts, err, sizeof(err)), HF_ENOENT);
	snprintf(want, sizeof(want), "%s: no files match", pat);
	assert_string_equal(err, want);

	/* a literal file name that looks like a pattern */
	char p4[256];
	snprintf(p4, sizeof(p4), "%s/x[1].yaml", dir);
	assert_int_equal(write_file(p4, "kind: Namespace\nmetadata: {name: lit}\n"), 0);
	assert_int_equal(hfi_manifest_load_glob(st, p4, &all_opts, err, sizeof(err)), 1);
	assert_non_null(hfi_store_namespace(st, "lit"));
	unlink(p4);

	snprintf(pat, sizeof(pat), "%s/missing.yaml", dir);
	assert_int_equal(hfi_manifest_load_glob(st, pat, &all_opts, err, sizeof(err)), HF_ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", pat);
	assert_string_equal(err, want);
	assert_int_equal(hfi_manifest_load_file(st, pat, &all_opts, err, sizeof(err)), HF_ENOENT);

	assert_int_equal(hfi_manifest_load_glob(st, dir, &all_opts, err, sizeof(err)), HF_EINVAL);
	snprintf(want, sizeof(want), "%s: is a directory", dir);
	assert_string_equal(err, want);
	assert_int_equal(hfi_store_count_services(st), 0);
	hfi_store_free(st);

	unlink(p1);
	unlink(p2);
	unlink(p3);
	rmdir(dir);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char buf[1 << 16];
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void torture_one(const char *text, size_t len, int want)
{
	hf_mm_t mm;
	hfi_mm_torture_t t;
	hfi_mm_torture_init(&mm, &t, 0);
	hfi_manifest_opts_t o = { .load_pods = true, .load_slices = true, .tmp_mm = &mm };
	hfi_store_t *st = hfi_store_new(&mm);
	char err[512];
	assert_int_equal(hfi_manifest_load_buf(st, "t", text, len, &o, err, sizeof(err)), want);
	unsigned long total = t.count;
	hfi_store_free(st);
	assert_int_equal(t.live, 0);
	assert_true(total > 5);
	for (unsigned long f = 1; f <= total; f++) {
		hfi_mm_torture_init(&mm, &t, f);
		st = hfi_store_new(&mm);
		if (st == NULL)
			continue;
		err[0] = '\0';
		int ret = hfi_manifest_load_buf(st, "t", text, len, &o, err, sizeof(err));
		if (ret != HF_ENOMEM)
			fail_msg("fail_at %lu: got %d (%s)", f, ret, err);
		assert_string_equal(err, "t: out of memory");
		hfi_store_free(st);
		if (t.live != 0)
			fail_msg("fail_at %lu: %lu allocations leaked", f, t.live);
	}
}

static void test_torture(void **state)
{
	(void)state;
	char path[1200];
	size_t len;
	const char *text = read_all(data_path("cluster.yaml", path, sizeof(path)), &len);
	torture_one(text, len, 9);
	text = read_all(data_path("cluster.json", path, sizeof(path)), &len);
	torture_one(text, len, 9);
	const char *more =
		"{\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}},"
		"{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\",\"labels\":&l {\"x\":\"y\"}}},"
		"{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\",\"labels\":*l}}],\"kind\":\"ServiceList\"}";
	torture_one(more, strlen(more), 3);
}

/* 20k services (+ namespaces) as a JSON List and as multi-document YAML */
static void test_scale(void **state)
{
	(void)state;
	size_t cap = 16 << 20, o = 0;
	char *json = malloc(cap), *yaml = malloc(cap);
	assert_non_null(json);
	assert_non_null(yaml);
	o = (size_t)sprintf(json, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n");
	size_t y = 0;
	for (int i = 0; i < 100; i++) {
		o += (size_t)sprintf(json + o, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":"
				     "{\"name\":\"ns%d\"}},\n", i);
		y += (size_t)sprintf(yaml + y, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns%d\n", i);
	}
	for (int i = 0; i < 20000; i++) {
		o += (size_t)sprintf(json + o,
			"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"svc%d\","
			"\"namespace\":\"ns%d\",\"labels\":{\"app\":\"svc%d\"}},\"spec\":{\"type\":\"ClusterIP\","
			"\"clusterIP\":\"10.96.%d.%d\",\"clusterIPs\":[\"10.96.%d.%d\"],\"ports\":[{\"name\":\"http\","
			"\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080}]}}%s\n",
			i / 100, i % 100, i / 100, 1 + i / 250, i % 250, 1 + i / 250, i % 250,
			i < 19999 ? "," : "");
		y += (size_t)sprintf(yaml + y,
			"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc%d\n  namespace: ns%d\n"
			"  labels:\n    app: svc%d\nspec:\n  type: ClusterIP\n  clusterIP: 10.96.%d.%d\n"
			"  ports:\n  - name: http\n    protocol: TCP\n    port: 80\n    targetPort: 8080\n",
			i / 100, i % 100, i / 100, 1 + i / 250, i % 250);
		assert_true(o < cap - 4096 && y < cap - 4096);
	}
	o += (size_t)sprintf(json + o, "]}\n");
	const char *texts[2] = { json, yaml };
	size_t lens[2] = { o, y };
	for (int k = 0; k < 2; k++) {
		char err[512];
		hfi_store_t *st = hfi_store_new(NULL);
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		int ret = hfi_manifest_load_buf(st, "big", texts[k], lens[k], &all_opts, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		printf("# 20k services as %s (%zu KiB): %.1f ms\n", k ? "YAML documents" : "a JSON List",
		       lens[k] / 1024, ms);
		if (ret < 0)
			fail_msg("%s", err);
		assert_int_equal(ret, 20100);
		assert_int_equal(hfi_store_count_services(st), 20000);
		assert_int_equal(hfi_store_count_namespaces(st), 100);
		const hfi_service_t *s = hfi_store_service(st, "ns99", "svc199");
		assert_non_null(s);
		assert_ip(&s->ips[0], "10.96.80.249");
		assert_true(ms < 20000);
		hfi_store_free(st);
	}
	free(json);
	free(yaml);
}

int main(void)
{
	find_data_dir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_file),
		cmocka_unit_test(test_json_list),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_anchors_and_aliases),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_files_and_globs),
		cmocka_unit_test(test_torture),
		cmocka_unit_test(test_scale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
