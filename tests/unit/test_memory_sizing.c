/* test_memory_sizing.c: what Services, endpoints and Pods cost in the
 * `memory` region (the README's sizing table comes from this test's
 * output).  Opens engines with `memory 256M` on generated manifests
 * (kubectl-like objects: 100 namespaces, ClusterIP Services with one port
 * and an app label, EndpointSlices with targetRef and nodeName, Pods with
 * two labels), reads the region's use after startup (objects + index),
 * and prints bytes per object: the difference between two clusters that
 * differ only in that kind, divided by the number of objects.  Then two
 * index rebuilds (what a relist does): their peak must fit in what the
 * admission reserve keeps free, and once the old index is reclaimed the use
 * must be back where it was.  Also checks that the figures are plausible.  With jemalloc (normal
 * build, linked through UNIT_EXTRA_test_memory_sizing) the figures are
 * region pages in use; in the ASan build (plain malloc backend) they are
 * the backend's charged bytes and only the plausibility checks apply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <limits.h>
#include <unistd.h>

#include "arena.h"
#include "engine_int.h"
#include "holdfast.h"

#define NSVC 10000
#define EPS 10 /* endpoints per Service in the endpoint cluster */
#define NPOD 20000

static char dir[64];

typedef struct figures {
	size_t used, peak, index, region;
	size_t rebuild_peak, rebuilt_used; /* after two more index builds (as on relists) */
	size_t reserve;
	long long status_refused; /* "objects_refused" in hf_status_json, -1 if absent */
	size_t services, slices, pods;
	uint64_t refused;
} figures_t;

static void gen(const char *path, int nsvc, int eps, int npod)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
	for (int i = 0; i < 100; i++)
		fprintf(f, "%s{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ns%d\","
			"\"resourceVersion\":\"%d\",\"labels\":{\"kubernetes.io/metadata.name\":\"ns%d\"}}}",
			i ? "," : "", i, 10 + i, i);
	for (int i = 0; i < nsvc; i++) {
		int ns = i % 100, k = i / 100;
		fprintf(f, ",{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"svc%d\","
			"\"namespace\":\"ns%d\",\"resourceVersion\":\"%d\",\"labels\":{\"app\":\"svc%d\"}},"
			"\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.%d.%d.%d\",\"clusterIPs\":[\"10.%d.%d.%d\"],"
			"\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080}],"
			"\"selector\":{\"app\":\"svc%d\"}}}",
			k, ns, 1000 + i, k, 96 + (i >> 16), (i >> 8) & 255, i & 255,
			96 + (i >> 16), (i >> 8) & 255, i & 255, k);
		if (eps == 0)
			continue;
		fprintf(f, ",{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
			"\"metadata\":{\"name\":\"svc%d-x7k2p\",\"namespace\":\"ns%d\",\"resourceVersion\":\"%d\","
			"\"labels\":{\"kubernetes.io/service-name\":\"svc%d\","
			"\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\"}},"
			"\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],"
			"\"endpoints\":[",
			k, ns, 500000 + i, k);
		for (int j = 0; j < eps; j++) {
			unsigned v = (unsigned)(i * eps + j);
			fprintf(f, "%s{\"addresses\":[\"10.%u.%u.%u\"],\"conditions\":{\"ready\":true},"
				"\"nodeName\":\"node-%u\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"ns%d\","
				"\"name\":\"svc%d-7d9f8b6c5d-%05d\"}}",
				j ? "," : "", 128 + (v >> 16), (v >> 8) & 255, v & 255, v % 50, ns, k, j);
		}
		fprintf(f, "]}");
	}
	for (int i = 0; i < npod; i++) {
		unsigned v = (unsigned)i;
		fprintf(f, ",{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"app%d-7d9f8b6c5d-%05d\","
			"\"namespace\":\"ns%d\",\"resourceVersion\":\"%d\",\"labels\":{\"app\":\"app%d\","
			"\"pod-template-hash\":\"7d9f8b6c5d\"}},\"spec\":{\"nodeName\":\"node-%u\"},"
			"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.%u.%u.%u\",\"podIPs\":[{\"ip\":\"10.%u.%u.%u\"}]}}",
			i / 100, i, i % 100, 900000 + i, i / 100, v % 50, 192 + (v >> 16), (v >> 8) & 255,
			v & 255, 192 + (v >> 16), (v >> 8) & 255, v & 255);
	}
	fprintf(f, "]}\n");
	assert_int_equal(fclose(f), 0);
}

static void measure(int nsvc, int eps, int npod, bool verified, const char *memory, figures_t *out)
{
	char manifest[PATH_MAX], corefile[PATH_MAX], text[2 * PATH_MAX], err[2048] = "";
	snprintf(manifest, sizeof(manifest), "%s/objects.json", dir);
	snprintf(corefile, sizeof(corefile), "%s/Corefile", dir);
	gen(manifest, nsvc, eps, npod);
	snprintf(text, sizeof(text),
		 "cluster.local in-addr.arpa ip6.arpa {\n"
		 "    %s\n"
		 "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
		 "        manifest %s\n"
		 "        pods %s\n"
		 "    }\n"
		 "}\n",
		 memory, manifest, verified ? "verified" : "insecure");
	FILE *f = fopen(corefile, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	hf_engine_t *e = hf_engine_open(corefile, 5300, HF_OPEN_QUIET, err, sizeof(err));
	if (e == NULL)
		print_message("hf_engine_open: %s\n", err);
	assert_non_null(e);
	hfi_engine_mem_stats_t ms;
	hfi_engine_memory_stats(e, &ms);
	memset(out, 0, sizeof(*out));
	char status[4096];
	assert_int_equal(hf_status_json(e, status, sizeof(status)), HF_EOK);
	const char *sr = strstr(status, "\"memory\":{\"configured\":true");
	sr = sr != NULL ? strstr(sr, "\"objects_refused\":") : NULL;
	out->status_refused = sr != NULL ? strtoll(sr + strlen("\"objects_refused\":"), NULL, 10) : -1;
	out->used = ms.used;
	out->peak = ms.peak;
	out->region = ms.region;
	out->refused = ms.objects_refused;
	out->index = e->k8s[0].index_bytes;
	out->reserve = ms.reserve;
	out->services = hfi_store_count_services(e->k8s[0].store);
	out->slices = hfi_store_count_slices(e->k8s[0].store);
	out->pods = hfi_store_count_pods(e->k8s[0].store);
	/* two rebuilds, as two relists would do: each builds beside the
	 * published index; the second reclaims the first one's predecessor */
	assert_int_equal(hfi_engine_rebuild(e, 0), HF_EOK);
	assert_int_equal(hfi_engine_rebuild(e, 0), HF_EOK);
	hfi_engine_memory_stats(e, &ms);
	out->rebuild_peak = ms.peak;
	hfi_engine_maint_stop(e); /* no maintenance thread here: reclaims the retired index */
	hfi_engine_memory_stats(e, &ms);
	out->rebuilt_used = ms.used;
	hf_engine_close(e);
	unlink(manifest);
	unlink(corefile);
}

static double per(size_t a, size_t b, size_t n)
{
	return ((double)a - (double)b) / (double)n;
}

static void test_bytes_per_object(void **state)
{
	(void)state;
	bool je = strcmp(hfi_arena_backend(), "jemalloc") == 0;
	const char *mem = "memory 256M";
	figures_t base, svc, ep, podsbase, pods;
	measure(0, 0, 0, false, mem, &base);
	measure(NSVC, 0, 0, false, mem, &svc);
	measure(NSVC, EPS, 0, false, mem, &ep);
	measure(NSVC, 0, 0, true, mem, &podsbase);
	measure(NSVC, 0, NPOD, true, mem, &pods);
	assert_int_equal(svc.services, NSVC);
	assert_int_equal(ep.slices, NSVC);
	assert_int_equal(pods.pods, NPOD);
	assert_true(svc.refused == 0 && ep.refused == 0 && pods.refused == 0);
	double s_all = per(svc.used, base.used, NSVC), s_ix = per(svc.index, base.index, NSVC);
	double e_all = per(ep.used, svc.used, (size_t)NSVC * EPS), e_ix = per(ep.index, svc.index, (size_t)NSVC * EPS);
	double p_all = per(pods.used, podsbase.used, NPOD), p_ix = per(pods.index, podsbase.index, NPOD);
	print_message("backend %s, region %zu MiB; bytes in the region after startup (objects + index):\n",
		      hfi_arena_backend(), svc.region >> 20);
	print_message("  per Service (ClusterIP, 1 port):  %7.0f  (index %5.0f, objects %5.0f)\n",
		      s_all, s_ix, s_all - s_ix);
	print_message("  per endpoint (slices of %d):      %7.0f  (index %5.0f, objects %5.0f)\n",
		      EPS, e_all, e_ix, e_all - e_ix);
	print_message("  per Pod (pods verified):          %7.0f  (index %5.0f, objects %5.0f)\n",
		      p_all, p_ix, p_all - p_ix);
	print_message("  clusters: %d services: used %zu peak %zu rebuild peak %zu; +%d endpoints: used %zu "
		      "peak %zu rebuild peak %zu; +%d pods: used %zu peak %zu rebuild peak %zu\n",
		      NSVC, svc.used, svc.peak, svc.rebuild_peak, NSVC * EPS, ep.used, ep.peak,
		      ep.rebuild_peak, NPOD, pods.used, pods.peak, pods.rebuild_peak);
	print_message("  reserve for these clusters: %zu, %zu, %zu\n", svc.reserve, ep.reserve, pods.reserve);
	/* plausible: more than the raw strings, far less than CoreDNS's ~1 KiB+ per object */
	assert_true(s_all > 100 && s_all < 2048);
	assert_true(e_all > 30 && e_all < 1024);
	assert_true(p_all > 50 && p_all < 2048);
	if (je) {
		/* the index of a name costs something; the peak (index build)
		 * stayed inside the region */
		assert_true(s_ix > 0 && e_ix > 0 && p_ix > 0);
		assert_true(ep.peak <= ep.region && pods.peak <= pods.region);
		/* a rebuild fits in what the reserve keeps free */
		assert_true(ep.rebuild_peak <= ep.used + ep.reserve);
		assert_true(svc.rebuild_peak <= svc.used + svc.reserve);
		assert_true(pods.rebuild_peak <= pods.used + pods.reserve);
		/* and once the old index is reclaimed, use is back where it was */
		assert_true(ep.rebuilt_used <= ep.used + 65536 && ep.rebuilt_used + 65536 >= ep.used);
		assert_true(svc.rebuilt_used <= svc.used + 65536 && svc.rebuilt_used + 65536 >= svc.used);
	}
}

/* The README's sizing rule: a region of objects + 4.375 x index + 1 MiB
 * (plus 10%) takes the whole cluster in, and rebuilds fit. */
static void test_sized_by_the_rule_fits(void **state)
{
	(void)state;
	if (strcmp(hfi_arena_backend(), "jemalloc") != 0)
		skip(); /* the rule is about region pages */
	figures_t big, f;
	measure(NSVC / 2, EPS, 0, false, "memory 256M", &big);
	size_t objects = big.used - big.index;
	size_t need = objects + big.index / 8 * 35 + ((size_t)1 << 20);
	size_t mib = (need + need / 10 + ((size_t)1 << 20) - 1) >> 20;
	char mem[32];
	snprintf(mem, sizeof(mem), "memory %zuM", mib);
	measure(NSVC / 2, EPS, 0, false, mem, &f);
	print_message("%d services + %d endpoints: objects %zu, index %zu: rule %zu bytes -> %s: "
		      "kept %zu services, %llu refused, used %zu, rebuild peak %zu\n",
		      NSVC / 2, NSVC / 2 * EPS, objects, big.index, need, mem, f.services,
		      (unsigned long long)f.refused, f.used, f.rebuild_peak);
	assert_int_equal(f.services, NSVC / 2);
	assert_int_equal(f.slices, NSVC / 2);
	assert_int_equal(f.refused, 0);
	assert_true(f.rebuild_peak <= f.region);
}

/* A region too small for the cluster: startup keeps what fit, refuses the
 * rest (counted), and the index of what fit was built. */
static void test_too_small_keeps_what_fit(void **state)
{
	(void)state;
	figures_t f;
	measure(NSVC, EPS, 0, false, "memory 8M", &f);
	print_message("memory 8M, %d services + %d endpoints offered: kept %zu services, %zu slices; "
		      "%llu refused; used %zu peak %zu of %zu\n",
		      NSVC, NSVC * EPS, f.services, f.slices, (unsigned long long)f.refused, f.used,
		      f.peak, f.region);
	assert_true(f.refused >= 1);
	assert_int_equal(f.status_refused, (long long)f.refused); /* status reports it too */
	assert_true(f.services > 0 && f.services < NSVC);
	assert_true(f.index > 0);
	assert_true(f.peak <= f.region);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/hf-sizing-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_per_object),
		cmocka_unit_test(test_sized_by_the_rule_fits),
		cmocka_unit_test(test_too_small_keeps_what_fit),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
