/* test_api_decode.c: API JSON -> store objects: List pages (resourceVersion,
 * continue, bad items skipped and counted, garbage = a failed page, never
 * an empty one), watch events (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR),
 * Status bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_int.h"
#include "holdfast.h"

static const hfi_manifest_opts_t svc_opts = { 0 };
static const hfi_manifest_opts_t slice_opts = { .load_slices = true };
static const hfi_manifest_opts_t pod_opts = { .load_pods = true };

#define SVC(ns, name, ip) \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"" ns "\",\"resourceVersion\":\"7\"}," \
	"\"spec\":{\"clusterIP\":\"" ip "\",\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}]}}"

static int list(hfi_resource_t res, const char *body, const hfi_manifest_opts_t *o, hfi_store_t *st,
		hfi_api_list_info_t *info, char *err, size_t errlen)
{
	return hfi_api_decode_list(res, body, strlen(body), st, o, NULL, info, err, errlen);
}

static void test_list_services(void **state)
{
	(void)state;
	const char *body =
		"{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"1234\","
		"\"continue\":\"eyJ2IjoxfQ\",\"remainingItemCount\":3},\"items\":["
		SVC("shop", "web", "10.96.0.10") "," SVC("data", "db", "10.96.0.11") "]}";
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_api_list_info_t info;
	char err[256];
	assert_int_equal(list(HFI_RES_SERVICES, body, &svc_opts, st, &info, err, sizeof(err)), HF_EOK);
	assert_string_equal(info.rv, "1234");
	assert_string_equal(info.cont, "eyJ2IjoxfQ");
	assert_int_equal(info.items, 2);
	assert_int_equal(info.bad, 0);
	assert_int_equal(hfi_store_count_services(st), 2);
	const hfi_service_t *s = hfi_store_service(st, "shop", "web");
	assert_non_null(s);
	assert_int_equal(s->nips, 1);
	assert_int_equal(s->ips[0].addr[3], 10);
	assert_string_equal(s->rv, "7");
	assert_int_equal(s->nports, 1);
	assert_int_equal(s->ports[0].port, 80);
	hfi_api_list_info_fini(&info);
	hfi_store_free(st);
}

/* Field order does not matter; escapes; the last page has no continue. */
static void test_list_order_escapes(void **state)
{
	(void)state;
	const char *body =
		"{\"items\":[{\"metadata\":{\"namespace\":\"a\",\"name\":\"x\\u002dy\",\"labels\":"
		"{\"app\":\"w\\/b \\u003c\"}},\"spec\":{\"clusterIP\":\"None\"}}],"
		"\"metadata\":{\"continue\":\"\",\"resourceVersion\":\"9\"},\"kind\":\"ServiceList\"}";
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_api_list_info_t info;
	char err[256];
	assert_int_equal(list(HFI_RES_SERVICES, body, &svc_opts, st, &info, err, sizeof(err)), HF_EOK);
	assert_string_equal(info.rv, "9");
	assert_null(info.cont);
	const hfi_service_t *s = hfi_store_service(st, "a", "x-y");
	assert_non_null(s);
	assert_true(s->headless);
	assert_int_equal(s->labels.n, 1);
	assert_string_equal(s->labels.kv[0].val, "w/b <");
	hfi_api_list_info_fini(&info);
	hfi_store_free(st);
}

static void test_list_empty(void **state)
{
	(void)state;
	const char *bodies[] = {
		"{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[]}",
		"{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":null}",
		"{\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[]}",
	};
	for (size_t i = 0; i < 3; i++) {
		hfi_store_t *st = hfi_store_new(NULL);
		hfi_api_list_info_t info;
		char err[256];
		assert_int_equal(list(HFI_RES_SERVICES, bodies[i], &svc_opts, st, &info, err, sizeof(err)), HF_EOK);
		assert_int_equal(info.items, 0);
		assert_string_equal(info.rv, "5");
		hfi_api_list_info_fini(&info);
		hfi_store_free(st);
	}
}

/* Anything that is not a well-formed List of the resource fails the page. */
static void test_list_garbage(void **state)
{
	(void)state;
	struct { const char *body, *want; } cases[] = {
		{ "", "empty response" },
		{ "<html>502 Bad Gateway</html>", "not a List" },
		{ "null", "not a List" },
		{ "[1,2]", "not a List" },
		{ "{\"kind\":\"Status\",\"code\":500,\"message\":\"x\"}", "not a ServiceList" },
		{ "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}", "not a ServiceList" },
		{ "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"1\"}}", "without an items list" },
		{ "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":{}}", "without an items list" },
		{ "{\"kind\":\"ServiceList\",\"metadata\":{},\"items\":[]}", "without metadata.resourceVersion" },
		{ "{\"kind\":\"ServiceList\",\"items\":[]}", "without metadata.resourceVersion" },
		{ "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[" SVC("a", "b", "10.0.0.1"),
		  "yaml" }, /* truncated */
		{ "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}\n---\n{}", "more than one document" },
		{ "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":["
		  SVC("a", "b", "not-an-ip") "]}", "none of the 1 items" },
		{ "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[1,\"x\",[]]}", "none of the 3 items" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hfi_store_t *st = hfi_store_new(NULL);
		hfi_api_list_info_t info;
		char err[512] = "";
		int ret = list(HFI_RES_SERVICES, cases[i].body, &svc_opts, st, &info, err, sizeof(err));
		if (ret != HF_EPARSE || strstr(err, cases[i].want) == NULL) {
			print_error("case %zu: ret %d err \"%s\" want \"%s\"\n", i, ret, err, cases[i].want);
			fail();
		}
		assert_null(info.rv);
		assert_null(info.cont);
		hfi_api_list_info_fini(&info);
		hfi_store_free(st);
	}
}

/* A bad object is skipped and counted; the others are kept. */
static void test_list_bad_items(void **state)
{
	(void)state;
	const char *body =
		"{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"3\"},\"items\":["
		SVC("a", "good1", "10.0.0.1") ","
		SVC("a", "badip", "10.0.0.999") ","
		"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"}},"
		"{\"apiVersion\":\"v2\",\"metadata\":{\"name\":\"v2\",\"namespace\":\"a\"}},"
		"{\"kind\":\"ServiceList\",\"items\":[" SVC("a", "nested", "10.0.0.3") "]},"
		"{\"metadata\":{\"name\":\"BAD_NAME\",\"namespace\":\"a\"}},"
		SVC("a", "good2", "10.0.0.2") "]}";
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_api_list_info_t info;
	char err[256];
	assert_int_equal(list(HFI_RES_SERVICES, body, &svc_opts, st, &info, err, sizeof(err)), HF_EOK);
	assert_int_equal(info.items, 7);
	assert_int_equal(info.bad, 5);
	assert_non_null(strstr(info.first_bad, "items[1]"));
	assert_non_null(strstr(info.first_bad, "a/badip"));
	assert_int_equal(hfi_store_count_services(st), 2);
	assert_non_null(hfi_store_service(st, "a", "good1"));
	assert_non_null(hfi_store_service(st, "a", "good2"));
	assert_int_equal(hfi_store_count_pods(st), 0);
	hfi_api_list_info_fini(&info);
	hfi_store_free(st);
}

static void test_list_slices_pods_namespaces(void **state)
{
	(void)state;
	const char *slices =
		"{\"kind\":\"EndpointSliceList\",\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"8\"},"
		"\"items\":[{\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"shop\",\"labels\":{\"kubernetes.io/service-name\":\"web\"}},"
		"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.1.0.1\"],\"conditions\":{\"ready\":true}},"
		"{\"addresses\":[\"10.1.0.2\"],\"conditions\":{\"ready\":false}}],\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]}";
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_api_list_info_t info;
	char err[256];
	assert_int_equal(list(HFI_RES_SLICES, slices, &slice_opts, st, &info, err, sizeof(err)), HF_EOK);
	const hfi_slice_t *sl = hfi_store_slice(st, "shop", "web-abc");
	assert_non_null(sl);
	assert_string_equal(sl->service, "web");
	assert_int_equal(sl->naddrs, 1);
	hfi_api_list_info_fini(&info);
	/* an EndpointSlice of a wrong group is skipped */
	const char *wrong = "{\"kind\":\"EndpointSliceList\",\"metadata\":{\"resourceVersion\":\"8\"},\"items\":["
			    "{\"apiVersion\":\"v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"x\",\"namespace\":\"a\"}}]}";
	assert_int_equal(list(HFI_RES_SLICES, wrong, &slice_opts, st, &info, err, sizeof(err)), HF_EPARSE);
	hfi_api_list_info_fini(&info);

	const char *pods =
		"{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":["
		"{\"metadata\":{\"name\":\"p1\",\"namespace\":\"a\"},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.2.0.1\"}},"
		"{\"metadata\":{\"name\":\"p2\",\"namespace\":\"a\",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},"
		"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.2.0.2\"}}]}";
	assert_int_equal(list(HFI_RES_PODS, pods, &pod_opts, st, &info, err, sizeof(err)), HF_EOK);
	assert_int_equal(info.items, 2);
	assert_int_equal(info.bad, 0); /* terminating: filtered, not bad */
	assert_non_null(hfi_store_pod(st, "a", "p1"));
	assert_null(hfi_store_pod(st, "a", "p2"));
	hfi_api_list_info_fini(&info);

	/* namespace_labels applies locally too */
	char serr[128];
	hfi_selector_t *sel = hfi_selector_parse("team=shop", NULL, serr, sizeof(serr));
	assert_non_null(sel);
	hfi_manifest_opts_t nso = { .namespace_labels = sel };
	const char *nss = "{\"kind\":\"NamespaceList\",\"metadata\":{\"resourceVersion\":\"4\"},\"items\":["
			  "{\"metadata\":{\"name\":\"shop\",\"labels\":{\"team\":\"shop\"}}},"
			  "{\"metadata\":{\"name\":\"data\",\"labels\":{\"team\":\"data\"}}}]}";
	assert_int_equal(list(HFI_RES_NAMESPACES, nss, &nso, st, &info, err, sizeof(err)), HF_EOK);
	assert_non_null(hfi_store_namespace(st, "shop"));
	assert_null(hfi_store_namespace(st, "data"));
	hfi_api_list_info_fini(&info);
	hfi_selector_free(sel);
	hfi_store_free(st);
}

static int event(hfi_resource_t res, const char *line, const hfi_manifest_opts_t *o, hfi_store_t *one,
		 hfi_api_event_t *ev, char *err, size_t errlen)
{
	return hfi_api_decode_event(res, line, strlen(line), one, o, ev, err, errlen);
}

static void test_events(void **state)
{
	(void)state;
	hfi_api_event_t ev;
	char err[256];
	hfi_store_t *one = hfi_store_new(NULL);
	assert_int_equal(event(HFI_RES_SERVICES, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
			       "\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"101\"},"
			       "\"spec\":{\"clusterIP\":\"10.96.0.1\"}}}", &svc_opts, one, &ev, err, sizeof(err)), HF_EOK);
	assert_int_equal(ev.type, HFI_API_EV_ADDED);
	assert_true(ev.stored);
	assert_false(ev.bad);
	assert_string_equal(ev.rv, "101");
	assert_non_null(hfi_store_service(one, "shop", "web"));
	hfi_api_event_fini(&ev);
	hfi_store_free(one);

	one = hfi_store_new(NULL);
	assert_int_equal(event(HFI_RES_SERVICES, "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"web\","
			       "\"namespace\":\"shop\",\"resourceVersion\":\"102\"},\"spec\":{\"clusterIP\":\"bogus\"}}}",
			       &svc_opts, one, &ev, err, sizeof(err)), HF_EOK);
	assert_int_equal(ev.type, HFI_API_EV_MODIFIED);
	assert_true(ev.bad);
	assert_false(ev.stored);
	assert_string_equal(ev.rv, "102"); /* the stream moves on past it */
	assert_non_null(strstr(err, "spec.clusterIP"));
	hfi_api_event_fini(&ev);
	hfi_store_free(one);

	one = hfi_store_new(NULL);
	assert_int_equal(event(HFI_RES_SERVICES, "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"web\","
			       "\"namespace\":\"shop\",\"resourceVersion\":\"103\"}}}", &svc_opts, one, &ev, err, sizeof(err)),
			 HF_EOK);
	assert_int_equal(ev.type, HFI_API_EV_DELETED);
	assert_string_equal(ev.ns, "shop");
	assert_string_equal(ev.name, "web");
	assert_string_equal(ev.rv, "103");
	assert_int_equal(hfi_store_count_services(one), 0);
	hfi_api_event_fini(&ev);

	assert_int_equal(event(HFI_RES_NAMESPACES, "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"shop\"}}}",
			       &svc_opts, one, &ev, err, sizeof(err)), HF_EOK);
	assert_null(ev.ns);
	assert_string_equal(ev.name, "shop");
	assert_null(ev.rv);
	hfi_api_event_fini(&ev);

	assert_int_equal(event(HFI_RES_PODS, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
			       "\"metadata\":{\"resourceVersion\":\"555\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}",
			       &pod_opts, one, &ev, err, sizeof(err)), HF_EOK);
	assert_int_equal(ev.type, HFI_API_EV_BOOKMARK);
	assert_string_equal(ev.rv, "555");
	assert_false(ev.stored);
	assert_int_equal(hfi_store_count_pods(one), 0);
	hfi_api_event_fini(&ev);

	assert_int_equal(event(HFI_RES_SERVICES, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
			       "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\","
			       "\"reason\":\"Expired\",\"code\":410}}", &svc_opts, one, &ev, err, sizeof(err)), HF_EOK);
	assert_int_equal(ev.type, HFI_API_EV_ERROR);
	assert_int_equal(ev.code, 410);
	assert_string_equal(ev.msg, "too old resource version: 1 (5)");
	assert_null(ev.rv);
	hfi_api_event_fini(&ev);

	/* a terminating pod: neither stored nor bad */
	assert_int_equal(event(HFI_RES_PODS, "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":\"a\","
			       "\"resourceVersion\":\"9\",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},"
			       "\"status\":{\"podIP\":\"10.0.0.1\",\"phase\":\"Running\"}}}", &pod_opts, one, &ev, err, sizeof(err)),
			 HF_EOK);
	assert_false(ev.stored);
	assert_false(ev.bad);
	hfi_api_event_fini(&ev);

	/* an object of another kind on the services stream */
	assert_int_equal(event(HFI_RES_SERVICES, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
			       "\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"}}}", &svc_opts, one, &ev, err, sizeof(err)), HF_EOK);
	assert_true(ev.bad);
	assert_false(ev.stored);
	hfi_api_event_fini(&ev);
	hfi_store_free(one);
}

static void test_bad_events(void **state)
{
	(void)state;
	const char *lines[] = {
		"", "garbage", "{\"type\":\"ADDED\"}", "{\"object\":{}}", "{\"type\":\"RENAMED\",\"object\":{}}",
		"{\"type\":\"ADDED\",\"object\":[1]}", "{\"type\":\"DELETED\",\"object\":{\"metadata\":{}}}",
		"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}", "{\"type\":\"ADDED\",\"object\":{\"metadata\":",
		"[\"ADDED\"]", "{\"type\":\"ADDED\",\"object\":{}}\n---\n{}",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		hfi_store_t *one = hfi_store_new(NULL);
		hfi_api_event_t ev;
		char err[256] = "";
		int ret = event(HFI_RES_SERVICES, lines[i], &svc_opts, one, &ev, err, sizeof(err));
		if (ret != HF_EPARSE || err[0] == '\0') {
			print_error("case %zu: ret %d err \"%s\"\n", i, ret, err);
			fail();
		}
		assert_null(ev.rv);
		assert_null(ev.name);
		hfi_store_free(one);
	}
}

static void test_status(void **state)
{
	(void)state;
	long code;
	char msg[64];
	const char *st = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
			 "\"message\":\"services is forbidden: User \\\"x\\\" cannot list\",\"reason\":\"Forbidden\",\"code\":403}";
	hfi_api_decode_status(st, strlen(st), &code, msg, sizeof(msg));
	assert_int_equal(code, 403);
	assert_string_equal(msg, "services is forbidden: User \"x\" cannot list");
	hfi_api_decode_status("<h1>Bad\tGateway</h1>", 20, &code, msg, sizeof(msg));
	assert_int_equal(code, 0);
	assert_string_equal(msg, "<h1>Bad Gateway</h1>");
	hfi_api_decode_status(NULL, 0, &code, msg, sizeof(msg));
	assert_string_equal(msg, "");
}

/* A big list streams through in one piece. */
static void test_list_large(void **state)
{
	(void)state;
	size_t n = 5000, cap = n * 200 + 200, off = 0;
	char *body = malloc(cap);
	assert_non_null(body);
	off += (size_t)snprintf(body + off, cap - off,
				"{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"77\"},\"items\":[");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(body + off, cap - off,
					"%s{\"metadata\":{\"name\":\"s%zu\",\"namespace\":\"ns%zu\"},"
					"\"spec\":{\"clusterIP\":\"10.%zu.%zu.%zu\"}}",
					i ? "," : "", i, i % 7, (i >> 16) & 255, (i >> 8) & 255, i & 255);
	off += (size_t)snprintf(body + off, cap - off, "]}");
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_api_list_info_t info;
	char err[256];
	assert_int_equal(hfi_api_decode_list(HFI_RES_SERVICES, body, off, st, &svc_opts, NULL, &info, err, sizeof(err)), HF_EOK);
	assert_int_equal(info.items, n);
	assert_int_equal(hfi_store_count_services(st), n);
	hfi_api_list_info_fini(&info);
	hfi_store_free(st);
	/* stopping interrupts a long decode */
	atomic_bool stop;
	atomic_init(&stop, true);
	st = hfi_store_new(NULL);
	assert_int_equal(hfi_api_decode_list(HFI_RES_SERVICES, body, off, st, &svc_opts, &stop, &info, err, sizeof(err)), HF_EIO);
	assert_non_null(strstr(err, "stopped"));
	assert_true(info.items < 300);
	assert_null(info.rv);
	hfi_api_list_info_fini(&info);
	hfi_store_free(st);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_services),
		cmocka_unit_test(test_list_order_escapes),
		cmocka_unit_test(test_list_empty),
		cmocka_unit_test(test_list_garbage),
		cmocka_unit_test(test_list_bad_items),
		cmocka_unit_test(test_list_slices_pods_namespaces),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_bad_events),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_list_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
