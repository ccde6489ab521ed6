/*
 * snapshot_bench.c: benchmark (prints figures, not pass/fail) of the large-
 * cluster paths of issue 4: a store of 100k Services + 100k EndpointSlices
 * (300k endpoints) written with hfi_snapshot_write and loaded with
 * hfi_snapshot_load (target: load < 1 s), a full relist of the 100k
 * Services through hfi_sync_apply_list into a synced store (target < 2 s
 * of CPU, getrusage), the JSON decoding of that relist (hfi_api_decode_list,
 * 200 pages of 500 like the reflector's), and an index build
 * (hfi_k8s_index_build with the default kubernetes configuration).
 *
 * Usage: snapshot_bench [--services N] [--namespaces N] [--dir DIR]
 * (the snapshot file goes to DIR, default /tmp, and is removed at the end).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "holdfast.h"
#include "k8s.h"
#include "objects.h"
#include "snapshot.h"
#include "sync.h"

#define EPS_PER_SLICE 3
#define PAGE 500

static int g_nsvc = 100000, g_nns = 100;

/* ---- clocks ------------------------------------------------------------------- */

typedef struct clk {
	double wall, cpu;
} clk_t;

static clk_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	clk_t c = { (double)ts.tv_sec + (double)ts.tv_nsec / 1e9,
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
			    (double)ru.ru_stime.tv_usec / 1e6 };
	return c;
}

static clk_t since(clk_t a)
{
	clk_t b = now();
	return (clk_t){ b.wall - a.wall, b.cpu - a.cpu };
}

static long rss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "snapshot_bench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- the cluster -------------------------------------------------------------- */

static void ip4(hfi_ip_t *ip, unsigned a, unsigned b, unsigned k)
{
	/* a.(b + k/65536).(k/256 % 256).(k % 256) */
	memset(ip, 0, sizeof(*ip));
	ip->family = 4;
	ip->addr[0] = (uint8_t)a;
	ip->addr[1] = (uint8_t)(b + k / 65536);
	ip->addr[2] = (uint8_t)(k / 256 % 256);
	ip->addr[3] = (uint8_t)(k % 256);
}

static bool headless(int i)
{
	return i % 10 == 0;
}

/* rv_bump changes every resourceVersion (a relist where everything changed) */
static void put_service(hfi_store_t *st, int i, unsigned rv_bump)
{
	char ns[16], name[24], rv[24], lv[24];
	snprintf(ns, sizeof(ns), "ns-%03d", i % g_nns);
	snprintf(name, sizeof(name), "svc-%06d", i);
	snprintf(rv, sizeof(rv), "%u", 1000u + (unsigned)i + rv_bump);
	snprintf(lv, sizeof(lv), "app-%06d", i);
	hfi_ip_t ip;
	ip4(&ip, 10, 96, (unsigned)i + 1);
	hfi_port_t ports[2] = { { "http", "TCP", 80 }, { "metrics", "TCP", 9090 } };
	hfi_kv_t kv[1] = { { "app", lv } };
	hfi_service_t s = {
		.ns = ns, .name = name, .rv = rv, .type = "ClusterIP", .headless = headless(i),
		.ips = headless(i) ? NULL : &ip, .nips = headless(i) ? 0 : 1,
		.ports = ports, .nports = i % 2 ? 2 : 1, .labels = { kv, 1 },
	};
	int ret = hfi_store_put_service(st, &s);
	if (ret < 0)
		die("put service %s: %s", name, hf_strerror(ret));
}

static void put_slice(hfi_store_t *st, int i)
{
	char ns[16], name[32], svc[24], rv[24], host[EPS_PER_SLICE][32], pod[EPS_PER_SLICE][40];
	char node[EPS_PER_SLICE][24];
	snprintf(ns, sizeof(ns), "ns-%03d", i % g_nns);
	snprintf(svc, sizeof(svc), "svc-%06d", i);
	snprintf(name, sizeof(name), "svc-%06d-x7k2p", i);
	snprintf(rv, sizeof(rv), "%u", 500000u + (unsigned)i);
	hfi_ep_addr_t a[EPS_PER_SLICE];
	for (int j = 0; j < EPS_PER_SLICE; j++) {
		unsigned k = (unsigned)i * EPS_PER_SLICE + (unsigned)j;
		snprintf(host[j], sizeof(host[j]), "svc-%06d-%d", i, j);
		snprintf(pod[j], sizeof(pod[j]), "svc-%06d-7d9f8b6c5-%05u", i, k % 100000);
		snprintf(node[j], sizeof(node[j]), "node-%03u", k % 500);
		a[j] = (hfi_ep_addr_t){ .hostname = headless(i) ? host[j] : NULL, .pod_name = pod[j],
					.node_name = node[j], .zone = j % 2 ? "zone-a" : "zone-b" };
		ip4(&a[j].ip, 10, 128, k + 1);
	}
	hfi_port_t ports[1] = { { "http", "TCP", 8080 } };
	hfi_kv_t kv[2] = { { "kubernetes.io/service-name", svc },
			   { "endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io" } };
	hfi_slice_t sl = { .ns = ns, .name = name, .rv = rv, .service = svc, .ports = ports, .nports = 1,
			   .addrs = a, .naddrs = EPS_PER_SLICE, .labels = { kv, 2 } };
	int ret = hfi_store_put_slice(st, &sl);
	if (ret < 0)
		die("put slice %s: %s", name, hf_strerror(ret));
}

static void put_namespace(hfi_store_t *st, int n)
{
	char name[16];
	snprintf(name, sizeof(name), "ns-%03d", n);
	hfi_kv_t kv[1] = { { "kubernetes.io/metadata.name", name } };
	hfi_namespace_t o = { .name = name, .rv = "10", .labels = { kv, 1 } };
	int ret = hfi_store_put_namespace(st, &o);
	if (ret < 0)
		die("put namespace %s: %s", name, hf_strerror(ret));
}

/* A scratch list store of one resource (what the reflector hands to sync). */
static hfi_store_t *list_of(hfi_resource_t res, unsigned rv_bump)
{
	hfi_store_t *l = hfi_store_new(NULL);
	if (l == NULL)
		die("out of memory");
	if (res == HFI_RES_NAMESPACES)
		for (int n = 0; n < g_nns; n++)
			put_namespace(l, n);
	else if (res == HFI_RES_SERVICES)
		for (int i = 0; i < g_nsvc; i++)
			put_service(l, i, rv_bump);
	else
		for (int i = 0; i < g_nsvc; i++)
			put_slice(l, i);
	return l;
}

/* ---- JSON pages of the services list (as the apiserver sends them) ------------ */

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf");
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1 << 20;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL)
			die("out of memory");
		b->p = np;
		b->cap = cap;
	}
}

static void json_service(sbuf_t *b, int i, unsigned rv_bump)
{
	char ip[20];
	unsigned k = (unsigned)i + 1;
	snprintf(ip, sizeof(ip), "10.%u.%u.%u", 96 + k / 65536, k / 256 % 256, k % 256);
	const char *cip = headless(i) ? "None" : ip;
	sb_printf(b,
		  "{\"metadata\":{\"name\":\"svc-%06d\",\"namespace\":\"ns-%03d\",\"uid\":\"5b1f0c3e-%04x-4a8e-9d2b-%012x\","
		  "\"resourceVersion\":\"%u\",\"creationTimestamp\":\"2024-05-01T10:00:00Z\",\"labels\":{\"app\":\"app-%06d\"},"
		  "\"managedFields\":[{\"manager\":\"kubectl-client-side-apply\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
		  "\"time\":\"2024-05-01T10:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{\"f:ports\":{}}}}]},"
		  "\"spec\":{\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080}%s],"
		  "\"selector\":{\"app\":\"app-%06d\"},\"clusterIP\":\"%s\",\"clusterIPs\":[\"%s\"],\"type\":\"ClusterIP\","
		  "\"sessionAffinity\":\"None\",\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\","
		  "\"internalTrafficPolicy\":\"Cluster\"},\"status\":{\"loadBalancer\":{}}}",
		  i, i % g_nns, (unsigned)i & 0xffff, (unsigned)i, 1000u + (unsigned)i + rv_bump, i,
		  i % 2 ? ",{\"name\":\"metrics\",\"protocol\":\"TCP\",\"port\":9090,\"targetPort\":9090}" : "", i, cip,
		  cip);
}

/* pages[p] = one ServiceList page of PAGE items with a continue token but
 * the last. */
static char **json_pages(unsigned rv_bump, size_t *npages, size_t *total)
{
	size_t n = ((size_t)g_nsvc + PAGE - 1) / PAGE;
	char **pages = calloc(n, sizeof(*pages));
	if (pages == NULL)
		die("out of memory");
	*total = 0;
	for (size_t p = 0; p < n; p++) {
		sbuf_t b = { 0 };
		sb_printf(&b, "{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"999999\"");
		if (p + 1 < n)
			sb_printf(&b, ",\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OTk5OTk5LCJzdGFydCI6InN2Yy0lMDZkIn0%zu\"", p);
		sb_printf(&b, "},\"items\":[");
		for (size_t i = p * PAGE; i < (p + 1) * PAGE && i < (size_t)g_nsvc; i++) {
			if (i > p * PAGE)
				sb_printf(&b, ",");
			json_service(&b, (int)i, rv_bump);
		}
		sb_printf(&b, "]}\n");
		pages[p] = b.p;
		*total += b.len;
	}
	*npages = n;
	return pages;
}

static hfi_store_t *decode_pages(char **pages, size_t npages)
{
	hfi_store_t *scratch = hfi_store_new(NULL);
	if (scratch == NULL)
		die("out of memory");
	hfi_manifest_opts_t opts = { .load_slices = true };
	for (size_t p = 0; p < npages; p++) {
		hfi_api_list_info_t info;
		char err[400];
		int ret = hfi_api_decode_list(HFI_RES_SERVICES, pages[p], strlen(pages[p]), scratch, &opts, NULL,
					      &info, err, sizeof(err));
		if (ret != HF_EOK)
			die("decode page %zu: %s", p, err);
		if (info.bad > 0)
			die("decode page %zu: %zu bad items: %s", p, info.bad, info.first_bad);
		hfi_api_list_info_fini(&info);
	}
	return scratch;
}

/* The relist really replaced the objects: svc-000000 carries rv 1000 + bump. */
static void check_rv(const hfi_store_t *st, unsigned bump)
{
	char want[24];
	snprintf(want, sizeof(want), "%u", 1000u + bump);
	const hfi_service_t *s = hfi_store_service(st, "ns-000", "svc-000000");
	if (s == NULL || s->rv == NULL || strcmp(s->rv, want) != 0)
		die("after the relist svc-000000 has rv %s, want %s", s && s->rv ? s->rv : "(none)", want);
}

/* ---- main ---------------------------------------------------------------------- */

static void row(const char *what, clk_t c, const char *extra)
{
	printf("  %-46s wall %8.3f s  cpu %8.3f s  %s\n", what, c.wall, c.cpu, extra ? extra : "");
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *dir = "/tmp";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--services") == 0)
			g_nsvc = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--namespaces") == 0)
			g_nns = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
		else
			die("unknown option %s (--services N, --namespaces N, --dir DIR)", argv[i]);
	}
	if (argc % 2 == 0)
		die("usage: %s [--services N] [--namespaces N] [--dir DIR]", argv[0]);
	if (g_nsvc < 1 || g_nsvc > 1000000 || g_nns < 1 || g_nns > 999)
		die("services 1..1000000, namespaces 1..999");
	char path[4096];
	snprintf(path, sizeof(path), "%s/hf-snapshot-bench-%ld.snap", dir, (long)getpid());

	printf("=== snapshot_bench: %d services (%d headless) + %d EndpointSlices (%d endpoints) in %d namespaces ===\n",
	       g_nsvc, (g_nsvc + 9) / 10, g_nsvc, g_nsvc * EPS_PER_SLICE, g_nns);

	/* the store */
	clk_t t0 = now();
	hfi_store_t *st = hfi_store_new(NULL);
	if (st == NULL)
		die("out of memory");
	for (int n = 0; n < g_nns; n++)
		put_namespace(st, n);
	for (int i = 0; i < g_nsvc; i++) {
		put_service(st, i, 0);
		put_slice(st, i);
	}
	hfi_store_set_synced(st, true);
	row("build the store (hfi_store_put_*)", since(t0), NULL);

	/* snapshot write: 3 runs (encode + write + fsync + rename) */
	char err[512], extra[160];
	double wr[3];
	for (int r = 0; r < 3; r++) {
		t0 = now();
		int ret = hfi_snapshot_write(st, path, err, sizeof(err));
		clk_t c = since(t0);
		if (ret != HF_EOK)
			die("hfi_snapshot_write: %s", err);
		wr[r] = c.wall;
		snprintf(extra, sizeof(extra), "(run %d)", r + 1);
		row("hfi_snapshot_write", c, extra);
	}
	struct stat sb;
	if (stat(path, &sb) != 0)
		die("stat %s failed", path);
	printf("  snapshot file: %lld bytes (%.1f MiB, %.0f bytes per endpoint slice+service)\n", (long long)sb.st_size,
	       (double)sb.st_size / 1048576.0, (double)sb.st_size / g_nsvc);

	/* snapshot load: 3 runs into a fresh store; the last one is kept */
	double ld[3], ldcpu[3];
	hfi_store_t *loaded = NULL;
	for (int r = 0; r < 3; r++) {
		hfi_store_free(loaded);
		loaded = hfi_store_new(NULL);
		if (loaded == NULL)
			die("out of memory");
		t0 = now();
		int n = hfi_snapshot_load(loaded, path, err, sizeof(err));
		clk_t c = since(t0);
		if (n < 0)
			die("hfi_snapshot_load: %s", err);
		ld[r] = c.wall;
		ldcpu[r] = c.cpu;
		snprintf(extra, sizeof(extra), "(run %d: %d objects)", r + 1, n);
		row("hfi_snapshot_load", c, extra);
	}
	if (hfi_store_count_services(loaded) != (size_t)g_nsvc || hfi_store_count_slices(loaded) != (size_t)g_nsvc ||
	    hfi_store_count_namespaces(loaded) != (size_t)g_nns)
		die("the loaded store holds %zu namespaces, %zu services, %zu slices", hfi_store_count_namespaces(loaded),
		    hfi_store_count_services(loaded), hfi_store_count_slices(loaded));
	size_t eps = 0;
	for (size_t i = 0; i < hfi_store_count_slices(loaded); i++)
		eps += hfi_store_slice_at(loaded, i)->naddrs;
	printf("  loaded store: %zu namespaces, %zu services, %zu slices, %zu endpoints\n",
	       hfi_store_count_namespaces(loaded), hfi_store_count_services(loaded), hfi_store_count_slices(loaded), eps);

	/* sync: the restored store becomes LIVE through the first lists (a warm
	 * start), then relists of the 100k services */
	hfi_sync_cfg_t scfg = { .stale_min_ms = 300000, .deletion_guard = 0.5,
				.want = { [HFI_RES_NAMESPACES] = true, [HFI_RES_SERVICES] = true, [HFI_RES_SLICES] = true } };
	hfi_sync_t *sy = hfi_sync_new(loaded, &scfg);
	if (sy == NULL)
		die("hfi_sync_new failed");
	int64_t ms = 1000000;
	hfi_sync_restored(sy, ms);
	hfi_store_t *l_ns = list_of(HFI_RES_NAMESPACES, 0);
	hfi_store_t *l_slices = list_of(HFI_RES_SLICES, 0);
	t0 = now();
	hfi_store_t *l_svc = list_of(HFI_RES_SERVICES, 0);
	snprintf(extra, sizeof(extra), "build a %d-service scratch list (puts)", g_nsvc);
	row(extra, since(t0), NULL);
	int ret = hfi_sync_apply_list(sy, HFI_RES_NAMESPACES, l_ns, ms += 10);
	if (ret == HF_EOK) {
		t0 = now();
		ret = hfi_sync_apply_list(sy, HFI_RES_SERVICES, l_svc, ms += 10);
		row("warm start: first services list (restored)", since(t0), NULL);
	}
	if (ret == HF_EOK) {
		t0 = now();
		ret = hfi_sync_apply_list(sy, HFI_RES_SLICES, l_slices, ms += 10);
		row("warm start: first endpointslices list", since(t0), NULL);
	}
	if (ret != HF_EOK)
		die("hfi_sync_apply_list: %s", hf_strerror(ret));
	enum hfi_sync_state state = hfi_sync_state(sy, ms);
	printf("  sync state after the lists: %s\n", hfi_sync_state_name(state));
	(void)hfi_sync_take_dirty(sy);

	double relist[3];
	char what[80];
	snprintf(what, sizeof(what), "relist %d services (hfi_sync_apply_list)", g_nsvc);
	for (int r = 0; r < 3; r++) {
		t0 = now();
		ret = hfi_sync_apply_list(sy, HFI_RES_SERVICES, l_svc, ms += 1000);
		clk_t c = since(t0);
		if (ret != HF_EOK)
			die("relist: %s", hf_strerror(ret));
		relist[r] = c.cpu;
		snprintf(extra, sizeof(extra), "(run %d: unchanged objects)", r + 1);
		row(what, c, extra);
	}
	hfi_store_t *l_svc2 = list_of(HFI_RES_SERVICES, 7);
	t0 = now();
	ret = hfi_sync_apply_list(sy, HFI_RES_SERVICES, l_svc2, ms += 1000);
	clk_t relist_changed = since(t0);
	if (ret != HF_EOK)
		die("relist (changed): %s", hf_strerror(ret));
	check_rv(loaded, 7);
	row(what, relist_changed, "(every resourceVersion new)");

	/* what the reflector does before that: decode 200 JSON pages */
	size_t npages, jbytes;
	char **pages = json_pages(11, &npages, &jbytes);
	t0 = now();
	hfi_store_t *dec = decode_pages(pages, npages);
	clk_t cdec = since(t0);
	snprintf(extra, sizeof(extra), "(%zu pages, %.1f MiB JSON)", npages, (double)jbytes / 1048576.0);
	row("decode the services list (hfi_api_decode_list)", cdec, extra);
	if (hfi_store_count_services(dec) != (size_t)g_nsvc)
		die("decoded %zu services", hfi_store_count_services(dec));
	t0 = now();
	ret = hfi_sync_apply_list(sy, HFI_RES_SERVICES, dec, ms += 1000);
	clk_t capply = since(t0);
	if (ret != HF_EOK)
		die("relist (decoded): %s", hf_strerror(ret));
	check_rv(loaded, 11);
	row("  + apply it (hfi_sync_apply_list)", capply, "(every resourceVersion new)");
	double full_relist = cdec.cpu + capply.cpu;
	printf("  full relist of %d services (decode + apply): %.3f s CPU\n", g_nsvc, full_relist);
	state = hfi_sync_state(sy, ms);
	printf("  sync state: %s, store: %zu services, %zu slices\n", hfi_sync_state_name(state),
	       hfi_store_count_services(loaded), hfi_store_count_slices(loaded));

	/* index build with the default configuration (kubeadm's zones) */
	char *zones[3] = { "cluster.local.", "in-addr.arpa.", "ip6.arpa." };
	hfi_cfg_kubernetes_t kc;
	memset(&kc, 0, sizeof(kc));
	kc.zones.v = zones;
	kc.zones.n = 3;
	kc.primary = 0;
	kc.ttl = 5;
	kc.pods = HFI_PODS_DISABLED;
	kc.startup_timeout_ms = 5000;
	kc.deletion_guard = 0.5;
	double ixw[3];
	for (int r = 0; r < 3; r++) {
		hfi_sync_lock(sy);
		t0 = now();
		hfi_k8s_index_t *ix = hfi_k8s_index_build(loaded, &kc, NULL, 0, NULL);
		clk_t c = since(t0);
		hfi_sync_unlock(sy);
		if (ix == NULL)
			die("hfi_k8s_index_build failed");
		ixw[r] = c.wall;
		snprintf(extra, sizeof(extra), "(run %d: %zu names)", r + 1, hfi_k8s_index_names(ix));
		row("hfi_k8s_index_build (default config)", c, extra);
		t0 = now();
		hfi_k8s_index_free(ix);
		if (r == 0)
			row("hfi_k8s_index_free", since(t0), NULL);
	}
	printf("  peak RSS: %ld MiB\n", rss_mb());

	qsort(wr, 3, sizeof(double), cmp_d);
	qsort(ld, 3, sizeof(double), cmp_d);
	qsort(ldcpu, 3, sizeof(double), cmp_d);
	qsort(relist, 3, sizeof(double), cmp_d);
	qsort(ixw, 3, sizeof(double), cmp_d);
	printf("summary: snapshot_bench: %dk services + %dk endpoints: file %.1f MiB; write %.3f s, "
	       "load %.3f s (median of 3; target < 1 s: %s); relist %dk services via sync %.3f s CPU unchanged, "
	       "%.3f s CPU all changed, %.3f s CPU with JSON decode (target < 2 s: %s); index build %.3f s\n",
	       g_nsvc / 1000, g_nsvc * EPS_PER_SLICE / 1000, (double)sb.st_size / 1048576.0, wr[1], ld[1],
	       ld[1] < 1.0 ? "met" : "MISSED", g_nsvc / 1000, relist[1], relist_changed.cpu, full_relist,
	       full_relist < 2.0 ? "met" : "MISSED", ixw[1]);

	for (size_t p = 0; p < npages; p++)
		free(pages[p]);
	free(pages);
	hfi_store_free(dec);
	hfi_store_free(l_svc2);
	hfi_store_free(l_svc);
	hfi_store_free(l_slices);
	hfi_store_free(l_ns);
	hfi_sync_free(sy);
	hfi_store_free(loaded);
	hfi_store_free(st);
	unlink(path);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	return 0;
}
