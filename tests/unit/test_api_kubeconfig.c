/* test_api_kubeconfig.c: where the API source connects (spec 4.1):
 * kubeconfig contexts, clusters and users (data vs files, relative paths,
 * tokens, insecure), client-go's validation errors, in-cluster config
 * (KUBERNETES_SERVICE_HOST/PORT, HF_SA_DIR), the kubeconfig > endpoint >
 * in-cluster precedence, base64 and token helpers, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_int.h"
#include "holdfast.h"

static char dir[256];

static void put(const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *path(const char *name)
{
	static char p[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hf_kc_XXXXXX");
	assert_non_null(mkdtemp(dir));
	put("ca.pem", "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
	put("client.crt", "CERT\n");
	put("client.key", "KEY\n");
	put("token", "  file-token-1\n\n");
	char sa[512];
	snprintf(sa, sizeof(sa), "%s/sa", dir);
	mkdir(sa, 0700);
	put("sa/token", "sa-token\n");
	put("sa/ca.crt", "SA CA\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* "CA-DATA" base64 = Q0EtREFUQQ==, "cert-pem" = Y2VydC1wZW0=, "key-pem" = a2V5LXBlbQ== */
static const char *const kc_main =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: dev\n"
	"clusters:\n"
	"- name: prod\n"
	"  cluster:\n"
	"    server: https://prod.example:6443/\n"
	"    certificate-authority-data: Q0EtREFU\n"
	"      QQ==\n"
	"- name: dev\n"
	"  cluster:\n"
	"    server: https://10.0.0.1:6443\n"
	"    certificate-authority: ca.pem\n"
	"- name: lab\n"
	"  cluster:\n"
	"    server: 127.0.0.1:8080\n"
	"    insecure-skip-tls-verify: true\n"
	"    proxy-url: http://proxy:3128\n"
	"contexts:\n"
	"- name: dev\n"
	"  context: {cluster: dev, user: dev-user, namespace: kube-system}\n"
	"- name: prod\n"
	"  context: {cluster: prod, user: prod-user}\n"
	"- name: lab\n"
	"  context: {cluster: lab, user: lab-user}\n"
	"- name: anon\n"
	"  context: {cluster: dev}\n"
	"users:\n"
	"- name: dev-user\n"
	"  user:\n"
	"    client-certificate: client.crt\n"
	"    client-key: client.key\n"
	"    token: static-token\n"
	"    tokenFile: token\n"
	"- name: prod-user\n"
	"  user:\n"
	"    client-certificate-data: Y2VydC1wZW0=\n"
	"    client-key-data: a2V5LXBlbQ==\n"
	"    client-certificate: ignored.crt\n"
	"- name: lab-user\n"
	"  user: {username: admin, password: s3cret}\n";

static void test_current_context(void **state)
{
	(void)state;
	put("kc", kc_main);
	hfi_api_conn_t c;
	char err[256];
	assert_int_equal(hfi_api_kubeconfig_load(path("kc"), NULL, NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_string_equal(c.ca_file, path("ca.pem")); /* relative to the kubeconfig */
	assert_null(c.ca_data.data);
	assert_string_equal(c.cert_file, path("client.crt"));
	assert_string_equal(c.key_file, path("client.key"));
	assert_string_equal(c.token, "static-token");
	assert_string_equal(c.token_file, path("token"));
	assert_false(c.insecure);
	assert_null(c.username);
	assert_non_null(strstr(c.source, "context dev"));
	hfi_api_conn_free(&c);
	/* "" context = the current one too */
	assert_int_equal(hfi_api_kubeconfig_load(path("kc"), "", NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	hfi_api_conn_free(&c);
}

static void test_named_context(void **state)
{
	(void)state;
	put("kc", kc_main);
	hfi_api_conn_t c;
	char err[256];
	assert_int_equal(hfi_api_kubeconfig_load(path("kc"), "prod", NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://prod.example:6443"); /* trailing '/' dropped */
	assert_null(c.ca_file);
	assert_int_equal(c.ca_data.len, 7);
	assert_memory_equal(c.ca_data.data, "CA-DATA", 7); /* folded base64 */
	assert_null(c.cert_file); /* data overrides the file */
	assert_int_equal(c.cert_data.len, 8);
	assert_memory_equal(c.cert_data.data, "cert-pem", 8);
	assert_int_equal(c.key_data.len, 7);
	assert_memory_equal(c.key_data.data, "key-pem", 7);
	assert_null(c.token);
	assert_null(c.token_file);
	hfi_api_conn_free(&c);

	assert_int_equal(hfi_api_kubeconfig_load(path("kc"), "lab", NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://127.0.0.1:8080"); /* no scheme: https */
	assert_true(c.insecure);
	assert_string_equal(c.proxy, "http://proxy:3128");
	assert_string_equal(c.username, "admin");
	assert_string_equal(c.password, "s3cret");
	hfi_api_conn_free(&c);

	assert_int_equal(hfi_api_kubeconfig_load(path("kc"), "anon", NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_null(c.token);
	assert_null(c.cert_file);
	hfi_api_conn_free(&c);
}

static void test_json_kubeconfig(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"current-context\":\"c\","
		 "\"clusters\":[{\"name\":\"k\",\"cluster\":{\"server\":\"http://127.0.0.1:1234\"}}],"
		 "\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"k\",\"user\":\"u\"}}],"
		 "\"users\":[{\"name\":\"u\",\"user\":{\"tokenFile\":\"%s\"}}]}",
		 path("token"));
	put("kc.json", text);
	hfi_api_conn_t c;
	char err[256];
	assert_int_equal(hfi_api_kubeconfig_load(path("kc.json"), NULL, NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "http://127.0.0.1:1234");
	assert_null(c.token);
	assert_string_equal(c.token_file, path("token")); /* absolute path kept */
	hfi_api_conn_free(&c);
}

struct bad_case {
	const char *text;
	const char *context;
	const char *want; /* substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ "", NULL, "empty file" },
	{ "- a\n- b\n", NULL, "expected a mapping" },
	{ "clusters: [\n", NULL, "yaml:" },
	{ "apiVersion: v1\nclusters: []\n", NULL, "no current-context set" },
	{ "current-context: x\ncontexts: []\n", NULL, "context \"x\" does not exist" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", "y",
	  "context \"y\" does not exist" },
	{ "current-context: x\ncontexts: [{name: x, context: {user: u}}]\n", NULL, "has no cluster" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", NULL,
	  "cluster \"c\" (of context \"x\") does not exist" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]\n",
	  NULL, "has no server defined" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	  "clusters: [{name: c, cluster: {server: 'ftp://x'}}]\n", NULL, "invalid server URL" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x', insecure-skip-tls-verify: true, "
	  "certificate-authority-data: QQ==}}]\n", NULL, "with the insecure flag is not allowed" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x', insecure-skip-tls-verify: maybe}}]\n", NULL,
	  "insecure-skip-tls-verify must be a boolean" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x', certificate-authority-data: 'not*base64'}}]\n",
	  NULL, "certificate-authority-data is not valid base64" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x', certificate-authority: /nonexistent/ca.pem}}]\n",
	  NULL, "unable to read certificate-authority /nonexistent/ca.pem" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}, {name: x, context: {cluster: d}}]\n",
	  NULL, "duplicate name \"x\" in contexts" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x'}}]\n", NULL, "user \"u\" (of context \"x\") does not exist" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	  "users: [{name: u, user: {client-certificate-data: QQ==}}]\n", NULL,
	  "client-key-data or client-key must be specified" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	  "users: [{name: u, user: {exec: {command: aws}}}]\n", NULL, "exec or auth-provider credentials" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	  "users: [{name: u, user: {tokenFile: /nonexistent/token}}]\n", NULL, "cannot read tokenFile" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
	  "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
	  "users: [{name: u, user: {token: [a, b]}}]\n", NULL, "token must be a string" },
	{ "current-context: x\ncontexts: {x: 1}\n", NULL, "contexts must be a list" },
};

static void test_bad_kubeconfigs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		put("bad", bad_cases[i].text);
		hfi_api_conn_t c;
		char err[512] = "";
		int ret = hfi_api_kubeconfig_load(path("bad"), bad_cases[i].context, NULL, &c, err, sizeof(err));
		if (ret == HF_EOK || strstr(err, bad_cases[i].want) == NULL || strstr(err, path("bad")) == NULL) {
			print_error("case %zu: ret %d, err \"%s\", want \"%s\"\n", i, ret, err, bad_cases[i].want);
			fail();
		}
		assert_null(c.server); /* nothing left behind */
	}
	hfi_api_conn_t c;
	char err[256];
	assert_int_equal(hfi_api_kubeconfig_load(path("nonexistent"), NULL, NULL, &c, err, sizeof(err)), HF_ECONFIG);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(hfi_api_kubeconfig_load(dir, NULL, NULL, &c, err, sizeof(err)), HF_ECONFIG);
}

static void setenv3(const char *host, const char *port, const char *sa)
{
	if (host)
		setenv("KUBERNETES_SERVICE_HOST", host, 1);
	else
		unsetenv("KUBERNETES_SERVICE_HOST");
	if (port)
		setenv("KUBERNETES_SERVICE_PORT", port, 1);
	else
		unsetenv("KUBERNETES_SERVICE_PORT");
	if (sa)
		setenv("HF_SA_DIR", sa, 1);
	else
		unsetenv("HF_SA_DIR");
}

static void test_incluster(void **state)
{
	(void)state;
	hfi_api_conn_t c;
	char err[256], sa[512];
	snprintf(sa, sizeof(sa), "%s/sa", dir);
	setenv3("10.96.0.1", "443", sa);
	assert_int_equal(hfi_api_incluster(NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.token_file, path("sa/token"));
	assert_string_equal(c.ca_file, path("sa/ca.crt"));
	assert_null(c.token);
	assert_false(c.insecure);
	hfi_api_conn_free(&c);

	setenv3("fd00::1", "6443", sa);
	assert_int_equal(hfi_api_incluster(NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://[fd00::1]:6443");
	hfi_api_conn_free(&c);

	/* no CA file: client-go logs and goes on with the system roots */
	char nocadir[600];
	snprintf(nocadir, sizeof(nocadir), "%s/sa2", dir);
	mkdir(nocadir, 0700);
	put("sa2/token", "t\n");
	setenv3("10.96.0.1", "443", nocadir);
	assert_int_equal(hfi_api_incluster(NULL, &c, err, sizeof(err)), HF_EOK);
	assert_null(c.ca_file);
	hfi_api_conn_free(&c);

	/* no token: an error */
	setenv3("10.96.0.1", "443", "/nonexistent");
	assert_int_equal(hfi_api_incluster(NULL, &c, err, sizeof(err)), HF_ECONFIG);
	assert_non_null(strstr(err, "/nonexistent/token"));
	setenv3(NULL, "443", sa);
	assert_int_equal(hfi_api_incluster(NULL, &c, err, sizeof(err)), HF_ECONFIG);
	assert_string_equal(err, "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
				 "KUBERNETES_SERVICE_PORT must be defined");
	setenv3("10.96.0.1", "", sa);
	assert_int_equal(hfi_api_incluster(NULL, &c, err, sizeof(err)), HF_ECONFIG);
	setenv3(NULL, NULL, NULL);
}

static void test_precedence(void **state)
{
	(void)state;
	put("kc", kc_main);
	char err[256], sa[512];
	snprintf(sa, sizeof(sa), "%s/sa", dir);
	hfi_cfg_kubernetes_t cfg;
	memset(&cfg, 0, sizeof(cfg));
	hfi_api_conn_t c;
	char kc[512], ca[512], crt[512], key[512];
	snprintf(kc, sizeof(kc), "%s", path("kc"));
	snprintf(ca, sizeof(ca), "%s", path("ca.pem"));
	snprintf(crt, sizeof(crt), "%s", path("client.crt"));
	snprintf(key, sizeof(key), "%s", path("client.key"));

	/* kubeconfig wins over endpoint and tls */
	cfg.kubeconfig = kc;
	cfg.kubecontext = (char *)"prod";
	cfg.endpoint = (char *)"https://other:443";
	cfg.tls_ca = ca;
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://prod.example:6443");
	assert_null(c.ca_file);
	hfi_api_conn_free(&c);

	/* endpoint + tls */
	cfg.kubeconfig = NULL;
	cfg.tls_cert = crt;
	cfg.tls_key = key;
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://other:443");
	assert_string_equal(c.ca_file, ca);
	assert_string_equal(c.cert_file, crt);
	assert_string_equal(c.key_file, key);
	assert_null(c.token);
	hfi_api_conn_free(&c);

	/* endpoint without scheme: https with tls, http without (client-go) */
	cfg.endpoint = (char *)"10.1.1.1:6443";
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://10.1.1.1:6443");
	hfi_api_conn_free(&c);
	cfg.tls_ca = cfg.tls_cert = cfg.tls_key = NULL;
	cfg.endpoint = (char *)"127.0.0.1:8080/";
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "http://127.0.0.1:8080");
	assert_null(c.ca_file);
	hfi_api_conn_free(&c);

	/* unreadable tls file */
	cfg.tls_ca = (char *)"/nonexistent/ca";
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_ECONFIG);
	assert_non_null(strstr(err, "/nonexistent/ca"));
	cfg.tls_ca = NULL;
	cfg.endpoint = (char *)"https://bad host";
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_ECONFIG);

	/* nothing: in-cluster */
	cfg.endpoint = NULL;
	setenv3("10.96.0.1", "443", sa);
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_EOK);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	hfi_api_conn_free(&c);
	setenv3(NULL, NULL, NULL);
	assert_int_equal(hfi_api_conn_resolve(&cfg, NULL, &c, err, sizeof(err)), HF_ECONFIG);
}

static void test_base64(void **state)
{
	(void)state;
	struct { const char *in, *out; } ok[] = {
		{ "", "" }, { "aGVsbG8=", "hello" }, { "aGVsbG8", "hello" }, { "aGVs\nbG8=\n", "hello" },
		{ "YQ==", "a" }, { "YWI=", "ab" }, { "YWJj", "abc" }, { " Y W J j ", "abc" },
		{ "+/+/", "\xfb\xff\xbf" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		hfi_api_blob_t b;
		assert_int_equal(hfi_api_base64_decode(NULL, ok[i].in, strlen(ok[i].in), &b), HF_EOK);
		assert_int_equal(b.len, strlen(ok[i].out));
		assert_memory_equal(b.data, ok[i].out, b.len);
		assert_int_equal(b.data[b.len], 0);
		free(b.data);
	}
	const char *bad[] = { "a", "aGVsbG8=x", "a*bc", "YQ===", "-_-_", "aGVsbG8h=a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hfi_api_blob_t b;
		assert_int_equal(hfi_api_base64_decode(NULL, bad[i], strlen(bad[i]), &b), HF_EINVAL);
		assert_null(b.data);
	}
}

static void test_read_token(void **state)
{
	(void)state;
	char *t;
	assert_int_equal(hfi_api_read_token(NULL, path("token"), &t), HF_EOK);
	assert_string_equal(t, "file-token-1");
	free(t);
	put("tok2", "a\x01" "b\n");
	assert_int_equal(hfi_api_read_token(NULL, path("tok2"), &t), HF_EINVAL);
	assert_null(t);
	assert_int_equal(hfi_api_read_token(NULL, path("missing"), &t), HF_ENOENT);
	put("tok3", "\n\n");
	assert_int_equal(hfi_api_read_token(NULL, path("tok3"), &t), HF_EOK);
	assert_string_equal(t, "");
	free(t);
}

/* The token header follows the file as it rotates; the static token is
 * the fallback; a vanished file keeps the last good token. */
static void test_token_rotation(void **state)
{
	(void)state;
	put("rot", "one\n");
	hfi_api_conn_t c = { 0 };
	c.token = (char *)"static";
	hfi_api_token_t t;
	hfi_api_token_init(&t, &c);
	char *h = hfi_api_token_header(&t, 0);
	assert_string_equal(h, "Authorization: Bearer static");
	free(h);
	hfi_api_token_fini(&t);

	char rot[512];
	snprintf(rot, sizeof(rot), "%s", path("rot"));
	c.token_file = rot;
	hfi_api_token_init(&t, &c);
	h = hfi_api_token_header(&t, 0);
	assert_string_equal(h, "Authorization: Bearer one"); /* the file wins */
	free(h);
	put("rot", "second-token\n"); /* size changed: re-read at once */
	h = hfi_api_token_header(&t, 10);
	assert_string_equal(h, "Authorization: Bearer second-token");
	free(h);
	unlink(rot);
	h = hfi_api_token_header(&t, 70000);
	assert_string_equal(h, "Authorization: Bearer second-token");
	free(h);
	hfi_api_token_fini(&t);

	hfi_api_conn_t none = { 0 };
	hfi_api_token_init(&t, &none);
	assert_null(hfi_api_token_header(&t, 0));
	hfi_api_token_fini(&t);
}

/* Every allocation failing in turn: an error or success, never a crash or leak. */
static void test_torture(void **state)
{
	(void)state;
	put("kc", kc_main);
	const char *ctxs[] = { NULL, "prod", "lab" };
	for (size_t k = 0; k < 3; k++) {
		hf_mm_t mm;
		hfi_mm_torture_t tt;
		hfi_mm_torture_init(&mm, &tt, 0);
		hfi_api_conn_t c;
		char err[256];
		assert_int_equal(hfi_api_kubeconfig_load(path("kc"), ctxs[k], &mm, &c, err, sizeof(err)), HF_EOK);
		hfi_api_conn_free(&c);
		assert_int_equal(tt.live, 0);
		unsigned long total = tt.count;
		for (unsigned long f = 1; f <= total; f++) {
			hfi_mm_torture_init(&mm, &tt, f);
			int ret = hfi_api_kubeconfig_load(path("kc"), ctxs[k], &mm, &c, err, sizeof(err));
			assert_int_equal(ret, HF_ENOMEM);
			assert_null(c.server);
			hfi_api_conn_free(&c);
			assert_int_equal(tt.live, 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context),
		cmocka_unit_test(test_named_context),
		cmocka_unit_test(test_json_kubeconfig),
		cmocka_unit_test(test_bad_kubeconfigs),
		cmocka_unit_test(test_incluster),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_read_token),
		cmocka_unit_test(test_token_rotation),
		cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
