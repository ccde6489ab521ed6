/*
 * test_yaml_json.c: the JSON fast path of hfi_yt_parse (yaml_tree_json.c)
 * against libyaml (hfi_yt_parse_yaml) node by node: Kubernetes manifests,
 * escapes, Unicode, numbers, empty containers, nesting at the depth limit,
 * libyaml's implicit-key limits, read chunk boundaries, the hand-over to
 * libyaml for YAML flow syntax (from the start, or from inside a streamed
 * List), error positions, and every allocation failing in turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../fuzz/fuzz_json_tree.h"
#include "holdfast.h"

#define DATA "tests/unit/data/manifests/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

/* JSON path and libyaml agree (both accept with equal records, or both
 * reject), for several read chunk sizes.  Returns the JSON path's ret. */
static int same(const char *p, size_t len)
{
	jt_out_t y, j;
	jt_run(p, len, true, 0, NULL, &y);
	const size_t chunks[] = { 0, 1, 3, 7, 4096 };
	int ret = 0;
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		jt_run(p, len, false, chunks[c], NULL, &j);
		if ((y.ret == HF_EOK) != (j.ret == HF_EOK) ||
		    (y.ret == HF_EOK && strcmp(y.s, j.s) != 0)) {
			fprintf(stderr, "input: %.200s\nlibyaml %d %s\n%.2000s\njson(chunk %zu) %d %s\n%.2000s\n",
				p, y.ret, y.err, y.s, chunks[c], j.ret, j.err, j.s);
			fail();
		}
		ret = j.ret;
		free(j.s);
	}
	free(y.s);
	return ret;
}

static int same_s(const char *s)
{
	return same(s, strlen(s));
}

static void test_manifest_files(void **state)
{
	(void)state;
	size_t len;
	char *p = slurp(DATA "cluster.json", &len);
	assert_true(jt_is_json(p, len));
	assert_int_equal(same(p, len), HF_EOK);
	/* the same file with CRLF line ends */
	char *q = malloc(2 * len + 1);
	assert_non_null(q);
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n')
			q[k++] = '\r';
		q[k++] = p[i];
	}
	assert_int_equal(same(q, k), HF_EOK);
	free(q);
	free(p);
}

static void test_accepted(void **state)
{
	(void)state;
	const char *ok[] = {
		"{}", "[]", "  \n\r\n {}  \n", "{} # done\n  # more\n", "{}\t# tab before comment",
		"[1,-0,0.5,-12.25e+10,1E5,3e-2,0e0]", "[true,false,null]",
		"{\"a\":1,\"b\":[],\"c\":{},\"d\":[{}],\"e\":\"\"}",
		"{ \"a\" : 1 , \"a\" : 2 }", /* duplicate keys: both kept */
		"[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
		"[\"\\u0041\\u00e9\\u20ac\\u0000x\", \"\\uFFFD\"]",
		"[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\", \"x\"]",
		"{\"\xc3\xa9\xc3\xa9\": \"\xf0\x9f\x98\x80\", \"b\": [1,\n 2]}",
		"[\"a\tb\"]", /* a raw tab in a string */
		"[\"\\a\\v\\e\\ \\N\\_\\L\\P\\x41\\U0001F600\"]", /* libyaml's escapes */
		"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"a\":1},{\"b\":[2]},3,[],\"s\"]}",
		"{\"items\":[]}", "{\"items\":null}", "{\"x\":{\"items\":[1,2]}}",
		"[{\"items\":[1]}]", "{\"items\":[[1],{\"items\":[2]}],\"items\":[3]}",
		"\n\n   {\"k\":\n\t[1,\t2\r\n,3]}",
		"[\n-1\n]",
		"{\"a\":1}\r\n", "{\"a\":1}\r", 
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(same_s(ok[i]), HF_EOK);
}

static void test_rejected(void **state)
{
	(void)state;
	const char *bad[] = {
		"{", "[", "[1,", "{\"a\"", "{\"a\":", "{\"a\":1,", "[1 2]x", "{\"a\":1}}", "[]]",
		"{\"items\":[{}, {\"a\":1]}", "[\"\\ud800\"]", "[\"\\uDC00\"]", "[\"abc",
		"[\"\\q\"]", "[\"\\x4\"]", "[\"\x01\"]", "[\"\x7f\"]", "[\"\xc2\x80\"]",
		"[\"\xef\xbf\xbe\"]", "[\"\xff\"]", "[\"\xc3\"]",
		"\t{}", "{}\n\t\n", "{} x", "{} {}", "{}\n[]",
		"{\"a\"\n:1}", /* key and ':' on different lines */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
		if (same_s(bad[i]) == HF_EOK)
			fprintf(stderr, "accepted: #%zu\n", i);
		assert_int_not_equal(same_s(bad[i]), HF_EOK);
	}
}

/* YAML flow syntax that is not JSON: the fast path hands over to libyaml. */
static void test_fallback(void **state)
{
	(void)state;
	const char *yaml[] = {
		"{a: 1}", "[1,]", "{\"a\":1,}", "[foo bar]", "['x']", "{\"a\": &x 1, \"b\": *x}",
		"[01, 1x, .5]", "{\"a\":1}\n---\n{\"b\":2}\n", "{}\n...\n", "[!!str 1]",
		"{\"a\":1 #c\n}", "[\"a\nb\"]", "[\"a \xe2\x80\xa8 b\xc2\x85\"]", "[\"a\\\n  b\"]", "{\"a\":[1,2]", "[tru]",
	};
	for (size_t i = 0; i < sizeof(yaml) / sizeof(yaml[0]); i++)
		(void)same_s(yaml[i]);
	assert_int_equal(same_s("{a: 1}"), HF_EOK);
	assert_int_equal(same_s("{\"a\":1}\n---\n{\"b\":2}\n"), HF_EOK);
}

/* Known, documented differences from libyaml. */
static void test_differences(void **state)
{
	(void)state;
	/* JSON surrogate pairs decode to UTF-8; libyaml refuses \u escapes of surrogates */
	jt_out_t o;
	const char *s = "[\"\\ud83d\\ude00\"]";
	jt_run(s, strlen(s), false, 0, NULL, &o);
	assert_int_equal(o.ret, HF_EOK);
	assert_non_null(strstr(o.s, "'\\f0\\9f\\98\\80'"));
	free(o.s);
	jt_run(s, strlen(s), true, 0, NULL, &o);
	assert_int_not_equal(o.ret, HF_EOK);
	free(o.s);
	/* non-JSON between List elements after some were handed out: an error
	 * of the fast path (libyaml reads the comment) */
	s = "{\"items\":[{\"a\":1} # c\n, {}]}";
	jt_run(s, strlen(s), false, 0, NULL, &o);
	assert_int_equal(o.ret, HF_EPARSE);
	assert_string_equal(o.err, "t:1:19: yaml: expected ',' or ']'");
	assert_non_null(strstr(o.s, "item 1 0"));
	free(o.s);
	jt_run(s, strlen(s), true, 0, NULL, &o);
	assert_int_equal(o.ret, HF_EOK);
	free(o.s);
	/* the JSON root turns out to be the key of a YAML block mapping once
	 * libyaml reads on: the fast path notices and fails */
	s = "{\"items\":[{\"a\":21},tb\\\\ull]}: 8\n";
	jt_run(s, strlen(s), false, 0, NULL, &o);
	assert_int_equal(o.ret, HF_EPARSE);
	assert_non_null(strstr(o.err, "changes the structure"));
	free(o.s);
	jt_run(s, strlen(s), true, 0, NULL, &o);
	assert_int_equal(o.ret, HF_EOK);
	free(o.s);
}

/* YAML flow syntax inside a later List element: libyaml reads on from that
 * element, with the same tree, callbacks and positions as libyaml alone. */
static void test_resume(void **state)
{
	(void)state;
	const char *ok[] = {
		"{\"items\":[{\"a\":1},\n {b: 2}]}",
		"{\"kind\":\"List\", \"items\": [ {\"a\":1}, {\"b\":2},\n\n   {\"c\": &x [1, 2], \"d\": *x},\n {\"e\":'q'}, 4, [x y], {\"f\":1} ], \"z\": 1}",
		"{\"items\":[{}, {}, 01, {\"\xc3\xa9\": tru}, {}]}\n---\n[1]\n",
		"{\"apiVersion\":\"v1\",\n\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}},"
		"{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\",\"labels\":&l {\"x\":\"y\"}}},"
		"{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\",\"labels\":*l}}],\"kind\":\"ServiceList\"}",
		"{\"items\":[{}, {},]}",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(same_s(ok[i]), HF_EOK);
	/* errors inside a later element: libyaml's message and position */
	const char *bad[] = {
		"{\"items\":[{}, {},\n   {\"a\":1,,}]}",
		"{\"items\":[{}, {},\n   {\"a\": [1, }]}",
		"{\"items\":[{},\n {\"a\":*nope}]}",
		"{\"items\":[{},\n {\"a\":1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jt_out_t y, j;
		jt_run(bad[i], strlen(bad[i]), true, 0, NULL, &y);
		jt_run(bad[i], strlen(bad[i]), false, 0, NULL, &j);
		assert_int_equal(j.ret, HF_EPARSE);
		assert_int_equal(y.ret, HF_EPARSE);
		assert_string_equal(j.err, y.err);
		free(y.s);
		free(j.s);
	}
}

static void test_error_positions(void **state)
{
	(void)state;
	struct {
		const char *in, *err;
	} cases[] = {
		{ "{\"items\":[{},\n  {}\n  x]}", "t:3:3: yaml: expected ',' or ']'" },
		{ "{\"items\":[{}]\n, \"a\": tru}", "t:2:11: yaml: invalid literal" },
		{ "{\"items\":[{}]\n, \"\xc3\xa9\": 1 2}", "t:2:10: yaml: expected ',' or '}'" },
		{ "{\"items\":[{}], \"a\":\"\\q\"}", "t:1:22: yaml: unknown escape" },
		{ "{\"items\":[{}], \"a\"", "t:1:19: yaml: unexpected end of input" },
		{ "{\"items\":[{}]}\n\n x", "t:3:2: yaml: unexpected content after the JSON document" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		jt_out_t o;
		jt_run(cases[i].in, strlen(cases[i].in), false, 0, NULL, &o);
		assert_int_equal(o.ret, HF_EPARSE);
		assert_string_equal(o.err, cases[i].err);
		free(o.s);
	}
}

static char *repeat(const char *open, size_t n, const char *mid, const char *close)
{
	size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
	char *p = malloc(n * (lo + lc) + lm + 1), *q = p;
	assert_non_null(p);
	for (size_t i = 0; i < n; i++, q += lo)
		memcpy(q, open, lo);
	memcpy(q, mid, lm);
	q += lm;
	for (size_t i = 0; i < n; i++, q += lc)
		memcpy(q, close, lc);
	*q = '\0';
	return p;
}

static void test_depth(void **state)
{
	(void)state;
	char *p = repeat("[", HFI_YT_MAX_DEPTH, "1", "]");
	assert_int_equal(same_s(p), HF_EOK);
	free(p);
	p = repeat("[", HFI_YT_MAX_DEPTH + 1, "1", "]");
	assert_int_equal(same_s(p), HF_EPARSE);
	free(p);
	p = repeat("{\"a\":", HFI_YT_MAX_DEPTH + 1, "1", "}");
	assert_int_equal(same_s(p), HF_EPARSE);
	free(p);
}

/* libyaml ends an implicit key 1024 characters after its start. */
static void test_long_keys(void **state)
{
	(void)state;
	for (size_t n = 1018; n <= 1026; n++) {
		for (int wide = 0; wide < 2; wide++) {
			size_t cap = 4 * n + 32;
			char *p = malloc(cap);
			assert_non_null(p);
			size_t k = 0;
			k += (size_t)snprintf(p + k, cap - k, "{\"");
			for (size_t i = 0; i < n; i++) {
				if (wide) {
					memcpy(p + k, "\xc3\xa9", 2);
					k += 2;
				} else {
					p[k++] = 'k';
				}
			}
			k += (size_t)snprintf(p + k, cap - k, "\"%s:1}", n & 1 ? " " : "");
			(void)same(p, k);
			free(p);
		}
	}
	char *p = repeat("", 0, "", "");
	free(p);
}

static void test_torture(void **state)
{
	(void)state;
	size_t len;
	char *p = slurp(DATA "cluster.json", &len);
	hf_mm_t mm;
	hfi_mm_torture_t tt;
	hfi_mm_torture_init(&mm, &tt, 0);
	jt_out_t ref;
	jt_run(p, len, false, 0, &mm, &ref);
	assert_int_equal(ref.ret, HF_EOK);
	assert_int_equal(tt.live, 0);
	unsigned long total = tt.count;
	assert_true(total > 0);
	for (unsigned long f = 1; f <= total; f++) {
		hfi_mm_torture_init(&mm, &tt, f);
		jt_out_t o;
		jt_run(p, len, false, 0, &mm, &o);
		assert_int_equal(o.ret, HF_ENOMEM);
		assert_int_equal(tt.live, 0);
		free(o.s);
	}
	/* and through the fallback */
	const char *y = "{a: [1, {b: 2}], c: x}";
	hfi_mm_torture_init(&mm, &tt, 0);
	jt_out_t o;
	jt_run(y, strlen(y), false, 0, &mm, &o);
	assert_int_equal(o.ret, HF_EOK);
	free(o.s);
	total = tt.count;
	for (unsigned long f = 1; f <= total; f++) {
		hfi_mm_torture_init(&mm, &tt, f);
		jt_run(y, strlen(y), false, 0, &mm, &o);
		assert_int_equal(o.ret, HF_ENOMEM);
		assert_int_equal(tt.live, 0);
		free(o.s);
	}
	free(ref.s);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_files), cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_rejected),       cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_differences),    cmocka_unit_test(test_resume),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_depth),          cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
