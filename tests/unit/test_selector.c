/* test_selector.c: Kubernetes label selector parsing and matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "holdfast.h"
#include "selector.h"

/* labels written as "k=v;k2=v2" */
static hfi_labels_t mklabels(const char *spec, hfi_kv_t *kv, char *buf, size_t buflen)
{
	hfi_labels_t l = { kv, 0 };
	snprintf(buf, buflen, "%s", spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');
		assert_non_null(eq);
		*eq = '\0';
		kv[l.n].key = tok;
		kv[l.n].val = eq + 1;
		l.n++;
	}
	return l;
}

struct mcase {
	const char *sel;
	const char *labels;
	bool match;
};

static const struct mcase mcases[] = {
	{ "", "", true },
	{ "", "a=b", true },
	{ "   ", "a=b", true },
	{ "app=web", "app=web", true },
	{ "app=web", "app=db", false },
	{ "app=web", "", false },
	{ "app==web", "app=web;x=y", true },
	{ "app = web", "app=web", true },
	{ "app!=web", "app=db", true },
	{ "app!=web", "app=web", false },
	{ "app!=web", "", true },            /* absent key matches != */
	{ "app in (web,db)", "app=db", true },
	{ "app in ( web , db )", "app=web", true },
	{ "app in (web,db)", "app=cache", false },
	{ "app in (web,db)", "", false },
	{ "app notin (web,db)", "app=cache", true },
	{ "app notin (web,db)", "app=web", false },
	{ "app notin (web,db)", "", true },  /* absent key matches notin */
	{ "app", "app=", true },
	{ "app", "app=x", true },
	{ "app", "apps=x", false },
	{ "!app", "apps=x", true },
	{ "!app", "app=x", false },
	{ "! app", "", true },
	{ "app=web,tier=front", "app=web;tier=front", true },
	{ "app=web,tier=front", "app=web;tier=back", false },
	{ "app=web, tier in (front,mid), !canary, env", "env=prod;tier=mid;app=web", true },
	{ "app=web, tier in (front,mid), !canary, env", "env=prod;tier=mid;app=web;canary=1", false },
	{ "app=web, tier in (front,mid), !canary, env", "tier=mid;app=web", false },
	{ "app=", "app=", true },
	{ "app=", "app=x", false },
	{ "app in (a,)", "app=", true },
	{ "kubernetes.io/service-name=web", "kubernetes.io/service-name=web", true },
	{ "example.com/app.name_x=v-1.2_3", "example.com/app.name_x=v-1.2_3", true },
	{ "replicas>3", "replicas=4", true },
	{ "replicas>3", "replicas=3", false },
	{ "replicas<3", "replicas=2", true },
	{ "replicas<3", "replicas=x", false },
	{ "replicas<3", "", false },
};

static void test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++) {
		char err[256] = "";
		hfi_selector_t *s = hfi_selector_parse(mcases[i].sel, NULL, err, sizeof(err));
		if (s == NULL)
			fail_msg("case %zu \"%s\": parse failed: %s", i, mcases[i].sel, err);
		hfi_kv_t kv[16];
		char buf[256];
		hfi_labels_t l = mklabels(mcases[i].labels, kv, buf, sizeof(buf));
		bool m = hfi_selector_match(s, &l);
		if (m != mcases[i].match)
			fail_msg("case %zu \"%s\" vs \"%s\": got %d", i, mcases[i].sel,
				 mcases[i].labels, m);
		hfi_selector_free(s);
	}
	/* NULL selector matches everything; NULL labels are no labels */
	assert_true(hfi_selector_match(NULL, NULL));
	hfi_selector_t *s = hfi_selector_parse("a!=b", NULL, NULL, 0);
	assert_non_null(s);
	assert_true(hfi_selector_match(s, NULL));
	hfi_selector_free(s);
	s = hfi_selector_parse("a", NULL, NULL, 0);
	assert_false(hfi_selector_match(s, NULL));
	hfi_selector_free(s);
}

struct ecase {
	const char *sel;
	const char *msg; /* substring of the error */
};

static const struct ecase ecases[] = {
	{ "app in ()", "values set can't be empty" },
	{ "app in web", "expected: '('" },
	{ "app in (web", "found end of selector" },
	{ "app in (web db)", "found 'db'" },
	{ "app=web,", "found end of selector" },
	{ ",app=web", "found ','" },
	{ "app=web,,x", "found ','" },
	{ "app=web x", "found 'x'" },
	{ "app==", "" }, /* valid: "app" equals the empty value */
	{ "=web", "found '='" },
	{ "!app=web", "found '='" },
	{ "!", "found end of selector" },
	{ "app=(web)", "found '('" },
	{ "-app=web", "invalid label key" },
	{ "app-=web", "invalid label key" },
	{ "Example.com/app=web", "prefix part" },
	{ "/app=web", "prefix part" },
	{ "a.com/=web", "name part" },
	{ "app=-web", "invalid label value" },
	{ "app=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "invalid label value" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=x", "invalid label key" },
	{ "app in (a,-b)", "invalid label value" },
	{ "n>x", "must be an integer" },
	{ "n>", "found end of selector" },
	{ "in=x", "found 'in'" },
	{ "app notin", "found end of selector" },
	{ "a b", "found 'b'" },
	{ "a!", "found '!'" },
	{ "a=b=c", "found '='" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		char err[512] = "sentinel";
		hfi_selector_t *s = hfi_selector_parse(ecases[i].sel, NULL, err, sizeof(err));
		if (ecases[i].msg[0] == '\0') {
			if (s == NULL)
				fail_msg("case %zu \"%s\" should parse: %s", i, ecases[i].sel, err);
			hfi_selector_free(s);
			continue;
		}
		if (s != NULL)
			fail_msg("case %zu \"%s\" should not parse", i, ecases[i].sel);
		if (strstr(err, ecases[i].msg) == NULL)
			fail_msg("case %zu \"%s\": error \"%s\" lacks \"%s\"", i, ecases[i].sel, err,
				 ecases[i].msg);
	}
	/* a NULL err buffer is fine */
	assert_null(hfi_selector_parse("a in ()", NULL, NULL, 0));
	/* tiny buffers are truncated, still terminated */
	char small[8];
	assert_null(hfi_selector_parse("a in ()", NULL, small, sizeof(small)));
	assert_int_equal(strlen(small), 7);
}

static void test_limits(void **state)
{
	(void)state;
	/* 2000 requirements: over the cap, rejected cleanly */
	static char big[2000 * 4 + 1];
	size_t o = 0;
	for (int i = 0; i < 2000; i++)
		o += (size_t)sprintf(big + o, "%s%c", i ? "," : "", 'a' + i % 26);
	char err[256];
	assert_null(hfi_selector_parse(big, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "too many requirements"));
	/* 500 is fine */
	big[500 * 2 - 1] = '\0';
	hfi_selector_t *s = hfi_selector_parse(big, NULL, err, sizeof(err));
	assert_non_null(s);
	hfi_selector_free(s);
}

static void test_torture(void **state)
{
	(void)state;
	const char *text = "app=web, tier in (front,mid,back), !canary, env, x notin (a,b)";
	hf_mm_t mm;
	hfi_mm_torture_t t;
	hfi_mm_torture_init(&mm, &t, 0);
	hfi_selector_t *s = hfi_selector_parse(text, &mm, NULL, 0);
	assert_non_null(s);
	unsigned long total = t.count;
	hfi_selector_free(s);
	assert_int_equal(t.live, 0);
	for (unsigned long f = 1; f <= total; f++) {
		char err[128] = "";
		hfi_mm_torture_init(&mm, &t, f);
		assert_null(hfi_selector_parse(text, &mm, err, sizeof(err)));
		assert_string_equal(err, "out of memory");
		assert_int_equal(t.live, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
