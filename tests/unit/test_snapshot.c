/* test_snapshot.c: snapshots of the object store: a field-by-field round
 * trip, every single corrupted byte, every truncation, foreign files, a
 * version or flag mismatch, payloads that lie under a valid checksum
 * (counts, random mutations), write failures leaving no PATH.tmp,
 * allocation failures while loading, the XXH64 checksum against reference
 * vectors, and 100k services + 100k slices
 * (300k endpoints) timed. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "holdfast.h"
#include "objects.h"
#include "snapshot.h"

static char tmpdir[64];

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_snapshot.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	DIR *d = opendir(tmpdir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char p[512];
			snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
			if (unlink(p) != 0)
				rmdir(p);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

static bool file_exists(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0;
}

static size_t total(const hfi_store_t *st)
{
	return hfi_store_count_namespaces(st) + hfi_store_count_services(st) +
	       hfi_store_count_slices(st) + hfi_store_count_pods(st);
}

/* Re-seal a modified buffer: recompute the trailing checksum. */
static void reseal(uint8_t *b, size_t len)
{
	uint64_t h = hfi_snapshot_checksum(b, len - 8);
	for (int i = 0; i < 8; i++)
		b[len - 8 + i] = (uint8_t)(h >> (8 * i));
}

static void put_u32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* ---- field-by-field comparison ------------------------------------------- */

static void eq_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL) {
		assert_ptr_equal(a, b);
		return;
	}
	assert_string_equal(a, b);
}

static void eq_ip(const hfi_ip_t *a, const hfi_ip_t *b)
{
	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->addr, b->addr, 16);
}

static void eq_labels(const hfi_labels_t *a, const hfi_labels_t *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		eq_str(a->kv[i].key, b->kv[i].key);
		eq_str(a->kv[i].val, b->kv[i].val);
	}
}

static void eq_ports(const hfi_port_t *a, size_t na, const hfi_port_t *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		eq_str(a[i].name, b[i].name);
		eq_str(a[i].protocol, b[i].protocol);
		assert_int_equal(a[i].port, b[i].port);
	}
}

static void eq_ns(const hfi_namespace_t *a, const hfi_namespace_t *b)
{
	assert_non_null(b);
	eq_str(a->name, b->name);
	eq_str(a->rv, b->rv);
	eq_labels(&a->labels, &b->labels);
}

static void eq_svc(const hfi_service_t *a, const hfi_service_t *b)
{
	assert_non_null(b);
	eq_str(a->ns, b->ns);
	eq_str(a->name, b->name);
	eq_str(a->rv, b->rv);
	eq_str(a->type, b->type);
	assert_int_equal(a->headless, b->headless);
	assert_int_equal(a->nips, b->nips);
	for (size_t i = 0; i < a->nips; i++)
		eq_ip(&a->ips[i], &b->ips[i]);
	eq_str(a->external_name, b->external_name);
	eq_ports(a->ports, a->nports, b->ports, b->nports);
	eq_labels(&a->labels, &b->labels);
}

static void eq_slice(const hfi_slice_t *a, const hfi_slice_t *b)
{
	assert_non_null(b);
	eq_str(a->ns, b->ns);
	eq_str(a->name, b->name);
	eq_str(a->rv, b->rv);
	eq_str(a->service, b->service);
	eq_ports(a->ports, a->nports, b->ports, b->nports);
	assert_int_equal(a->naddrs, b->naddrs);
	for (size_t i = 0; i < a->naddrs; i++) {
		eq_ip(&a->addrs[i].ip, &b->addrs[i].ip);
		eq_str(a->addrs[i].hostname, b->addrs[i].hostname);
		eq_str(a->addrs[i].pod_name, b->addrs[i].pod_name);
		eq_str(a->addrs[i].node_name, b->addrs[i].node_name);
		eq_str(a->addrs[i].zone, b->addrs[i].zone);
	}
	eq_labels(&a->labels, &b->labels);
}

static void eq_pod(const hfi_pod_t *a, const hfi_pod_t *b)
{
	assert_non_null(b);
	eq_str(a->ns, b->ns);
	eq_str(a->name, b->name);
	eq_str(a->rv, b->rv);
	eq_ip(&a->ip, &b->ip);
	eq_str(a->phase, b->phase);
	assert_int_equal(a->deleting, b->deleting);
	eq_labels(&a->labels, &b->labels);
}

/* Compare every object of a with its namesake in b (step > 1 samples). */
static void eq_stores(const hfi_store_t *a, const hfi_store_t *b, size_t step)
{
	assert_int_equal(hfi_store_count_namespaces(a), hfi_store_count_namespaces(b));
	assert_int_equal(hfi_store_count_services(a), hfi_store_count_services(b));
	assert_int_equal(hfi_store_count_slices(a), hfi_store_count_slices(b));
	assert_int_equal(hfi_store_count_pods(a), hfi_store_count_pods(b));
	for (size_t i = 0; i < hfi_store_count_namespaces(a); i += step) {
		const hfi_namespace_t *o = hfi_store_namespace_at(a, i);
		eq_ns(o, hfi_store_namespace(b, o->name));
	}
	for (size_t i = 0; i < hfi_store_count_services(a); i += step) {
		const hfi_service_t *o = hfi_store_service_at(a, i);
		eq_svc(o, hfi_store_service(b, o->ns, o->name));
	}
	for (size_t i = 0; i < hfi_store_count_slices(a); i += step) {
		const hfi_slice_t *o = hfi_store_slice_at(a, i);
		eq_slice(o, hfi_store_slice(b, o->ns, o->name));
	}
	for (size_t i = 0; i < hfi_store_count_pods(a); i += step) {
		const hfi_pod_t *o = hfi_store_pod_at(a, i);
		eq_pod(o, hfi_store_pod(b, o->ns, o->name));
	}
}

static hfi_ip_t ip(const char *s)
{
	hfi_ip_t r;
	assert_int_equal(hfi_ip_parse(s, &r), 0);
	return r;
}

/* A small store that uses every field and both NULL and "" strings. */
static hfi_store_t *sample_store(const hf_mm_t *mm)
{
	hfi_store_t *st = hfi_store_new(mm);
	assert_non_null(st);
	hfi_kv_t nkv[2] = { { "team", "dns" }, { "empty", "" } };
	hfi_namespace_t n1 = { .name = "prod", .rv = "11", .labels = { nkv, 2 } };
	hfi_namespace_t n2 = { .name = "bare", .rv = NULL };
	assert_int_equal(hfi_store_put_namespace(st, &n1), 1);
	assert_int_equal(hfi_store_put_namespace(st, &n2), 1);

	hfi_ip_t ips[2] = { ip("10.96.0.10"), ip("fd00::a") };
	hfi_port_t ports[3] = { { "dns", "UDP", 53 }, { "dns-tcp", "TCP", 53 }, { "", "SCTP", 9999 } };
	hfi_kv_t skv[1] = { { "app", "kube-dns" } };
	hfi_service_t s1 = { .ns = "prod", .name = "dns", .rv = "21", .type = "ClusterIP",
			     .ips = ips, .nips = 2, .ports = ports, .nports = 3, .labels = { skv, 1 } };
	hfi_service_t s2 = { .ns = "prod", .name = "headless", .rv = "", .type = NULL, .headless = true };
	hfi_service_t s3 = { .ns = "prod", .name = "ext", .rv = "23", .type = "ExternalName",
			     .external_name = "example.com" };
	assert_int_equal(hfi_store_put_service(st, &s1), 1);
	assert_int_equal(hfi_store_put_service(st, &s2), 1);
	assert_int_equal(hfi_store_put_service(st, &s3), 1);

	hfi_ep_addr_t addrs[3] = {
		{ .ip = ip("10.1.0.5"), .hostname = "web-0", .pod_name = "web-0", .node_name = "node-a", .zone = "EU-West-1A" },
		{ .ip = ip("fd00:1::5") },
		{ .ip = ip("10.1.0.6"), .hostname = "", .pod_name = "p", .node_name = NULL, .zone = "" },
	};
	hfi_port_t sp[1] = { { "http", "TCP", 8080 } };
	hfi_kv_t lkv[2] = { { "kubernetes.io/service-name", "web" }, { "endpointslice.kubernetes.io/managed-by", "x" } };
	hfi_slice_t e1 = { .ns = "prod", .name = "web-abc", .rv = "31", .service = "web",
			   .ports = sp, .nports = 1, .addrs = addrs, .naddrs = 3, .labels = { lkv, 2 } };
	hfi_slice_t e2 = { .ns = "prod", .name = "orphan", .rv = "32", .service = NULL };
	assert_int_equal(hfi_store_put_slice(st, &e1), 1);
	assert_int_equal(hfi_store_put_slice(st, &e2), 1);

	hfi_kv_t pkv[1] = { { "pod-template-hash", "abc" } };
	hfi_pod_t p1 = { .ns = "prod", .name = "web-0", .rv = "41", .ip = ip("10.1.0.5"), .phase = "Running",
			 .labels = { pkv, 1 } };
	hfi_pod_t p2 = { .ns = "prod", .name = "pending", .rv = "42", .phase = NULL };
	hfi_pod_t p3 = { .ns = "prod", .name = "v6", .rv = "43", .ip = ip("fd00::99"), .phase = "Succeeded" };
	assert_int_equal(hfi_store_put_pod(st, &p1), 1);
	assert_int_equal(hfi_store_put_pod(st, &p2), 1);
	assert_int_equal(hfi_store_put_pod(st, &p3), 1);
	return st;
}

static void sample_buf(uint8_t **buf, size_t *len)
{
	hfi_store_t *st = sample_store(NULL);
	char err[256] = "";
	assert_int_equal(hfi_snapshot_encode(st, buf, len, err, sizeof(err)), 0);
	hfi_store_free(st);
}

static void write_raw(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (n > 0)
		assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Decode buf into a fresh store: must be rejected, leaving it empty. */
static void expect_rejected(const uint8_t *buf, size_t len, const char *msg_part)
{
	hfi_store_t *st = hfi_store_new(NULL);
	char err[256] = "";
	int ret = hfi_snapshot_decode(st, buf, len, "t", err, sizeof(err));
	assert_int_equal(ret, HF_EPARSE);
	assert_int_equal(total(st), 0);
	assert_true(strlen(err) > 0);
	if (msg_part != NULL && strstr(err, msg_part) == NULL)
		fail_msg("error '%s' lacks '%s'", err, msg_part);
	hfi_store_free(st);
}

/* ---- tests ------------------------------------------------------------- */

/* XXH64 seed 0; expected values from the reference libxxhash 0.8.1. */
static void test_checksum_vectors(void **state)
{
	(void)state;
	assert_true(hfi_snapshot_checksum("", 0) == 0xef46db3751d8e999ULL);
	assert_true(hfi_snapshot_checksum("a", 1) == 0xd24ec4f1a98c6e5bULL);
	assert_true(hfi_snapshot_checksum("abc", 3) == 0x44bc2cf5ad770999ULL);
	assert_true(hfi_snapshot_checksum("HFSNAP", 6) == 0x0d7b8d03658d0822ULL);
	uint8_t big[771];
	for (size_t i = 0; i < 768; i++)
		big[i] = (uint8_t)i;
	memcpy(big + 768, "xyz", 3);
	assert_true(hfi_snapshot_checksum(big, sizeof(big)) == 0xe921a1b45bd779f8ULL);
}


static void test_round_trip(void **state)
{
	(void)state;
	char path[256], tmp[300];
	path_in(path, sizeof(path), "snap");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	hfi_store_t *st = sample_store(NULL);
	/* the store normalised on put: the zone is lower-case, the sentinel port */
	assert_string_equal(hfi_store_slice(st, "prod", "web-abc")->addrs[0].zone, "eu-west-1a");
	assert_int_equal(hfi_store_service(st, "prod", "headless")->ports[0].port, -1);
	/* a stale PATH.tmp from a crash is simply replaced */
	write_raw(tmp, "junk", 4);
	char err[256] = "";
	assert_int_equal(hfi_snapshot_write(st, path, err, sizeof(err)), 0);
	assert_false(file_exists(tmp));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	hfi_store_t *back = hfi_store_new(NULL);
	int n = hfi_snapshot_load(back, path, err, sizeof(err));
	assert_int_equal(n, 10);
	eq_stores(st, back, 1);
	eq_stores(back, st, 1);
	/* NULL and "" survive as they were */
	assert_null(hfi_store_namespace(back, "bare")->rv);
	assert_string_equal(hfi_store_service(back, "prod", "headless")->rv, "");
	assert_null(hfi_store_slice(back, "prod", "orphan")->service);
	assert_null(hfi_store_slice(back, "prod", "web-abc")->addrs[1].hostname);
	assert_string_equal(hfi_store_slice(back, "prod", "web-abc")->addrs[2].hostname, "");
	assert_int_equal(hfi_store_pod(back, "prod", "pending")->ip.family, 0);

	/* writing again over an existing snapshot replaces it */
	hfi_store_t *one = hfi_store_new(NULL);
	hfi_namespace_t nsobj = { .name = "only", .rv = "1" };
	hfi_store_put_namespace(one, &nsobj);
	assert_int_equal(hfi_snapshot_write(one, path, err, sizeof(err)), 0);
	hfi_store_t *back2 = hfi_store_new(NULL);
	assert_int_equal(hfi_snapshot_load(back2, path, err, sizeof(err)), 1);
	eq_stores(one, back2, 1);

	/* an empty store round-trips to an empty store */
	hfi_store_t *none = hfi_store_new(NULL);
	assert_int_equal(hfi_snapshot_write(none, path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 48);
	hfi_store_t *back3 = hfi_store_new(NULL);
	assert_int_equal(hfi_snapshot_load(back3, path, err, sizeof(err)), 0);
	assert_int_equal(total(back3), 0);

	/* a relative path (directory ".") works too */
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(hfi_snapshot_write(st, "rel.snap", err, sizeof(err)), 0);
	hfi_store_t *back4 = hfi_store_new(NULL);
	assert_int_equal(hfi_snapshot_load(back4, "rel.snap", err, sizeof(err)), 10);
	assert_int_equal(chdir(cwd), 0);

	hfi_store_free(back4);
	hfi_store_free(back3);
	hfi_store_free(none);
	hfi_store_free(back2);
	hfi_store_free(one);
	hfi_store_free(back);
	hfi_store_free(st);
}

static void test_corrupt_each_byte(void **state)
{
	(void)state;
	uint8_t *buf;
	size_t len;
	sample_buf(&buf, &len);
	assert_true(len > 300);
	uint8_t *c = malloc(len);
	const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x5a };
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(c, buf, len);
			c[i] ^= masks[m];
			expect_rejected(c, len, NULL);
		}
	}
	/* and through a file: a flipped payload byte names the checksum */
	char path[256];
	path_in(path, sizeof(path), "corrupt");
	memcpy(c, buf, len);
	c[len / 2] ^= 0x10;
	write_raw(path, c, len);
	hfi_store_t *st = hfi_store_new(NULL);
	char err[256] = "";
	assert_int_equal(hfi_snapshot_load(st, path, err, sizeof(err)), HF_EPARSE);
	assert_non_null(strstr(err, "checksum"));
	assert_non_null(strstr(err, path));
	assert_int_equal(total(st), 0);
	hfi_store_free(st);
	free(c);
	hfi_snapshot_buf_free(buf, len);
}

static void test_truncated(void **state)
{
	(void)state;
	uint8_t *buf;
	size_t len;
	sample_buf(&buf, &len);
	for (size_t n = 0; n < len; n++)
		expect_rejected(buf, n, NULL);
	expect_rejected(buf, 20, "truncated");
	expect_rejected(buf, len - 1, "truncated");
	expect_rejected(buf, 0, "empty");
	/* one extra byte at the end */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	expect_rejected(longer, len + 1, "trailing");
	/* through a file */
	char path[256];
	path_in(path, sizeof(path), "trunc");
	write_raw(path, buf, len - 9);
	hfi_store_t *st = hfi_store_new(NULL);
	char err[256] = "";
	assert_int_equal(hfi_snapshot_load(st, path, err, sizeof(err)), HF_EPARSE);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(total(st), 0);
	hfi_store_free(st);
	free(longer);
	hfi_snapshot_buf_free(buf, len);
}

static void test_foreign(void **state)
{
	(void)state;
	char err[256];
	hfi_store_t *st = hfi_store_new(NULL);
	char path[256];

	path_in(path, sizeof(path), "text");
	write_raw(path, "apiVersion: v1\nkind: Service\n", 29);
	assert_int_equal(hfi_snapshot_load(st, path, err, sizeof(err)), HF_EPARSE);
	assert_non_null(strstr(err, "bad magic"));

	assert_int_equal(hfi_snapshot_load(st, "/bin/sh", err, sizeof(err)), HF_EPARSE);
	assert_non_null(strstr(err, "bad magic"));

	path_in(path, sizeof(path), "empty");
	write_raw(path, "", 0);
	assert_int_equal(hfi_snapshot_load(st, path, err, sizeof(err)), HF_EPARSE);

	/* the magic alone, or a magic from another version of the format family */
	path_in(path, sizeof(path), "magiconly");
	write_raw(path, "HFSNAP\0\1", 8);
	assert_int_equal(hfi_snapshot_load(st, path, err, sizeof(err)), HF_EPARSE);
	assert_non_null(strstr(err, "truncated"));
	uint8_t *buf;
	size_t len;
	sample_buf(&buf, &len);
	buf[7] = 2;
	reseal(buf, len);
	expect_rejected(buf, len, "bad magic");
	hfi_snapshot_buf_free(buf, len);

	assert_int_equal(hfi_snapshot_load(st, tmpdir, err, sizeof(err)), HF_EPARSE);
	assert_non_null(strstr(err, "regular"));
	path_in(path, sizeof(path), "missing");
	assert_int_equal(hfi_snapshot_load(st, path, err, sizeof(err)), HF_ENOENT);
	assert_int_equal(hfi_snapshot_load(st, "/dev/null", err, sizeof(err)), HF_EPARSE);
	assert_int_equal(total(st), 0);
	assert_int_equal(hfi_snapshot_load(NULL, path, err, sizeof(err)), HF_EINVAL);
	assert_int_equal(hfi_snapshot_load(st, NULL, err, sizeof(err)), HF_EINVAL);
	assert_int_equal(hfi_snapshot_write(NULL, path, err, sizeof(err)), HF_EINVAL);
	assert_int_equal(hfi_snapshot_write(st, NULL, err, sizeof(err)), HF_EINVAL);
	assert_int_equal(hfi_snapshot_write(st, "", NULL, 0), HF_EINVAL);
	hfi_store_free(st);
}

static void test_version_and_flags(void **state)
{
	(void)state;
	uint8_t *buf;
	size_t len;
	sample_buf(&buf, &len);
	uint8_t *c = malloc(len);
	/* version 2 with a valid checksum */
	memcpy(c, buf, len);
	put_u32(c + 8, 2);
	reseal(c, len);
	expect_rejected(c, len, "version 2");
	memcpy(c, buf, len);
	put_u32(c + 8, 0);
	reseal(c, len);
	expect_rejected(c, len, "version 0");
	/* unknown flags */
	memcpy(c, buf, len);
	put_u32(c + 12, 1);
	reseal(c, len);
	expect_rejected(c, len, "flags");
	/* the unmodified buffer decodes (the reseal itself is right) */
	memcpy(c, buf, len);
	reseal(c, len);
	assert_memory_equal(c, buf, len);
	hfi_store_t *st = hfi_store_new(NULL);
	char err[256];
	assert_int_equal(hfi_snapshot_decode(st, c, len, NULL, err, sizeof(err)), 10);
	hfi_store_free(st);
	free(c);
	hfi_snapshot_buf_free(buf, len);
}

/* Payloads that lie under a valid checksum: the walk must catch them. */
static void test_lying_payload(void **state)
{
	(void)state;
	uint8_t *buf;
	size_t len;
	sample_buf(&buf, &len);
	uint8_t *c = malloc(len);
	for (int k = 0; k < 4; k++) {
		uint32_t cnt = (uint32_t)buf[16 + 4 * k] | (uint32_t)buf[17 + 4 * k] << 8;
		memcpy(c, buf, len);
		put_u32(c + 16 + 4 * k, cnt + 1);
		reseal(c, len);
		expect_rejected(c, len, "corrupt");
		memcpy(c, buf, len);
		put_u32(c + 16 + 4 * k, cnt - 1);
		reseal(c, len);
		expect_rejected(c, len, "corrupt");
		memcpy(c, buf, len);
		put_u32(c + 16 + 4 * k, 0xffffffffu);
		reseal(c, len);
		expect_rejected(c, len, "corrupt");
	}
	/* the first string (namespace name) claims a huge length */
	memcpy(c, buf, len);
	put_u32(c + 40, 0x7fffffff);
	reseal(c, len);
	expect_rejected(c, len, "corrupt");
	/* a key that is NULL */
	memcpy(c, buf, len);
	put_u32(c + 40, 0xffffffffu);
	reseal(c, len);
	expect_rejected(c, len, "corrupt");

	/* random mutations, resealed: decoded or rejected, never a crash, and a
	 * rejection leaves the store empty */
	srand(12345);
	int ok = 0, bad = 0;
	for (int it = 0; it < 4000; it++) {
		memcpy(c, buf, len);
		int nmut = 1 + rand() % 4;
		for (int m = 0; m < nmut; m++) {
			size_t at = 40 + (size_t)rand() % (len - 48);
			c[at] = (rand() % 4 == 0) ? (uint8_t)0 : (uint8_t)rand();
		}
		reseal(c, len);
		hfi_store_t *st = hfi_store_new(NULL);
		char err[256];
		int ret = hfi_snapshot_decode(st, c, len, NULL, err, sizeof(err));
		if (ret >= 0) {
			ok++;
			assert_int_equal((size_t)ret, total(st));
		} else {
			bad++;
			assert_int_equal(ret, HF_EPARSE);
			assert_int_equal(total(st), 0);
		}
		hfi_store_free(st);
	}
	assert_true(bad > 0);
	printf("random resealed mutations: %d decoded, %d rejected\n", ok, bad);
	free(c);
	hfi_snapshot_buf_free(buf, len);
}

static void test_write_failure(void **state)
{
	(void)state;
	hfi_store_t *st = sample_store(NULL);
	char err[256] = "", path[256], tmp[300];

	/* the directory does not exist */
	path_in(path, sizeof(path), "nodir/snap");
	assert_int_equal(hfi_snapshot_write(st, path, err, sizeof(err)), HF_EIO);
	assert_non_null(strstr(err, "cannot create"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_false(file_exists(tmp));

	/* PATH is a directory: the tmp file is written, the rename fails, the
	 * tmp file is removed */
	path_in(path, sizeof(path), "isdir");
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	err[0] = '\0';
	assert_int_equal(hfi_snapshot_write(st, path, err, sizeof(err)), HF_EIO);
	assert_non_null(strstr(err, "rename"));
	assert_false(file_exists(tmp));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));

	/* the file size limit hit mid-write (EFBIG, as a full disk would give
	 * ENOSPC): the tmp file is removed and PATH is not created */
	err[0] = '\0';
	path_in(path, sizeof(path), "toobig");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 100;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int ret = hfi_snapshot_write(st, path, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(ret, HF_EIO);
	assert_non_null(strstr(err, "write"));
	assert_false(file_exists(path));
	assert_false(file_exists(tmp));

	/* a symlink planted as PATH.tmp is removed, not followed */
	char target[256];
	path_in(target, sizeof(target), "target");
	write_raw(target, "keep", 4);
	path_in(path, sizeof(path), "planted");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(symlink(target, tmp), 0);
	assert_int_equal(hfi_snapshot_write(st, path, err, sizeof(err)), 0);
	assert_int_equal(stat(target, &sb), 0);
	assert_int_equal(sb.st_size, 4);
	struct stat lsb;
	assert_true(lstat(tmp, &lsb) != 0);
	hfi_store_t *back = hfi_store_new(NULL);
	assert_int_equal(hfi_snapshot_load(back, path, err, sizeof(err)), 10);
	hfi_store_free(back);
	hfi_store_free(st);
}

/* Allocation failures while loading: HF_ENOMEM, the store left empty, no
 * leak; eventually a complete load. */
static void test_load_alloc_failures(void **state)
{
	(void)state;
	uint8_t *buf;
	size_t len;
	sample_buf(&buf, &len);
	hfi_store_t *ref = sample_store(NULL);
	bool done = false;
	for (unsigned long k = 1; k < 1000 && !done; k++) {
		hf_mm_t mm;
		hfi_mm_torture_t t;
		hfi_mm_torture_init(&mm, &t, 0);
		hfi_store_t *st = hfi_store_new(&mm);
		assert_non_null(st);
		t.fail_at = t.count + k;
		char err[256] = "";
		int ret = hfi_snapshot_decode(st, buf, len, NULL, err, sizeof(err));
		if (ret == HF_ENOMEM) {
			assert_int_equal(total(st), 0);
			assert_non_null(strstr(err, "out of memory"));
		} else {
			assert_int_equal(ret, 10);
			eq_stores(ref, st, 1);
			done = true;
		}
		hfi_store_free(st);
		assert_int_equal(t.live, 0);
	}
	assert_true(done);
	hfi_store_free(ref);
	hfi_snapshot_buf_free(buf, len);
}

static double secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100k services + 100k slices (300k endpoints): write, load, compare. */
static void test_100k_timing(void **state)
{
	(void)state;
	const int n = 100000;
	hfi_store_t *st = hfi_store_new(NULL);
	double b0 = secs();
	for (int i = 0; i < 100; i++) {
		char name[32];
		snprintf(name, sizeof(name), "ns-%d", i);
		hfi_kv_t kv = { "team", "t" };
		hfi_namespace_t o = { .name = name, .rv = "1", .labels = { &kv, 1 } };
		assert_int_equal(hfi_store_put_namespace(st, &o), 1);
	}
	for (int i = 0; i < n; i++) {
		char ns[32], name[32], rv[16];
		snprintf(ns, sizeof(ns), "ns-%d", i % 100);
		snprintf(name, sizeof(name), "svc-%d", i);
		snprintf(rv, sizeof(rv), "%d", i + 1);
		hfi_ip_t ips[1] = { { .family = 4, .addr = { 10, 96, (uint8_t)(i >> 8), (uint8_t)i } } };
		hfi_port_t ports[2] = { { "http", "TCP", 80 }, { "https", "TCP", 443 } };
		hfi_kv_t kv[2] = { { "app", name }, { "tier", "web" } };
		hfi_service_t s = { .ns = ns, .name = name, .rv = rv, .type = "ClusterIP",
				    .ips = ips, .nips = 1, .ports = ports, .nports = 2, .labels = { kv, 2 } };
		assert_int_equal(hfi_store_put_service(st, &s), 1);
		char sname[40], host[3][24], pod[3][40];
		snprintf(sname, sizeof(sname), "svc-%d-abcde", i);
		hfi_ep_addr_t a[3];
		for (int j = 0; j < 3; j++) {
			snprintf(host[j], sizeof(host[j]), "h%d", j);
			snprintf(pod[j], sizeof(pod[j]), "svc-%d-pod-%d", i, j);
			a[j] = (hfi_ep_addr_t){ .ip = { .family = 4, .addr = { 10, (uint8_t)(1 + j), (uint8_t)(i >> 8), (uint8_t)i } },
						.hostname = host[j], .pod_name = pod[j], .node_name = "node-1",
						.zone = "zone-a" };
		}
		hfi_port_t sp[1] = { { "http", "TCP", 8080 } };
		hfi_kv_t lkv[1] = { { "kubernetes.io/service-name", name } };
		hfi_slice_t e = { .ns = ns, .name = sname, .rv = rv, .service = name, .ports = sp, .nports = 1,
				  .addrs = a, .naddrs = 3, .labels = { lkv, 1 } };
		assert_int_equal(hfi_store_put_slice(st, &e), 1);
	}
	double b1 = secs();
	char path[256], err[256] = "";
	path_in(path, sizeof(path), "big");
	double t0 = secs();
	assert_int_equal(hfi_snapshot_write(st, path, err, sizeof(err)), 0);
	double t1 = secs();
	hfi_store_t *back = hfi_store_new(NULL);
	int loaded = hfi_snapshot_load(back, path, err, sizeof(err));
	double t2 = secs();
	assert_int_equal(loaded, 100 + 2 * n);
	eq_stores(st, back, 1009);
	eq_stores(back, st, 997);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	printf("snapshot 100k services + 100k slices (300k endpoints): build %.3f s, "
	       "write %.3f s, load %.3f s, %.1f MiB\n",
	       b1 - b0, t1 - t0, t2 - t1, (double)sb.st_size / (1024.0 * 1024.0));
	assert_true(t1 - t0 < 10.0);
	assert_true(t2 - t1 < 10.0);
	hfi_store_free(back);
	hfi_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_vectors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_corrupt_each_byte),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_foreign),
		cmocka_unit_test(test_version_and_flags),
		cmocka_unit_test(test_lying_payload),
		cmocka_unit_test(test_write_failure),
		cmocka_unit_test(test_load_alloc_failures),
		cmocka_unit_test(test_100k_timing),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
