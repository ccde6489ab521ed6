/* test_api_backoff.c: the API source's pacing with a fake clock and fixed
 * RNG seeds: exponential backoff with jitter (800 ms -> 30 s, reset after
 * 2 min without failure), the apiserver_qps/burst token bucket, URL
 * escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_int.h"
#include "holdfast.h"

/* ceilings of client-go's reflector backoff: 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30 s */
static const int64_t ceilings[] = { 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000 };

static void test_backoff_sequence(void **state)
{
	(void)state;
	hfi_backoff_t b;
	hfi_backoff_init(&b, 42);
	int64_t now = 1000;
	for (size_t i = 0; i < sizeof(ceilings) / sizeof(ceilings[0]); i++) {
		int64_t d = hfi_backoff_next(&b, now);
		assert_int_equal(b.cur_ms, ceilings[i]);
		assert_true(d >= 800);
		assert_true(d <= (ceilings[i] > 1600 ? ceilings[i] : 1600));
		now += d; /* the next failure comes right after the wait */
	}
	/* the first delay is jittered too: replicas seeded differently do not
	 * all retry at the same instant after a drop */
	int64_t first_min = 1600, first_max = 800;
	for (uint64_t seed = 1; seed <= 100; seed++) {
		hfi_backoff_init(&b, seed);
		int64_t d = hfi_backoff_next(&b, 0);
		assert_true(d >= 800 && d <= 1600);
		first_min = d < first_min ? d : first_min;
		first_max = d > first_max ? d : first_max;
	}
	assert_true(first_max - first_min >= 400);
}

static void test_backoff_deterministic(void **state)
{
	(void)state;
	hfi_backoff_t a, b, c;
	hfi_backoff_init(&a, 12345);
	hfi_backoff_init(&b, 12345);
	hfi_backoff_init(&c, 54321);
	bool differ = false;
	for (int i = 0; i < 12; i++) {
		int64_t da = hfi_backoff_next(&a, i * 100), db = hfi_backoff_next(&b, i * 100);
		int64_t dc = hfi_backoff_next(&c, i * 100);
		assert_int_equal(da, db);
		if (da != dc)
			differ = true;
	}
	assert_true(differ);
}

/* At the cap, 200 replicas spread their retries over [0.8 s, 30 s]: no herd. */
static void test_backoff_spread(void **state)
{
	(void)state;
	int64_t lo = INT64_MAX, hi = 0;
	int buckets[6] = { 0 };
	for (uint64_t seed = 1; seed <= 200; seed++) {
		hfi_backoff_t b;
		hfi_backoff_init(&b, seed * 7919);
		int64_t d = 0;
		for (int i = 0; i < 10; i++)
			d = hfi_backoff_next(&b, i * 1000);
		assert_int_equal(b.cur_ms, 30000);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
		buckets[(d - 800) * 6 / 29201]++;
	}
	assert_true(lo >= 800 && lo < 3000);
	assert_true(hi <= 30000 && hi > 27000);
	for (int i = 0; i < 6; i++)
		assert_true(buckets[i] > 10); /* roughly uniform: each sixth gets some */
}

static void test_backoff_reset(void **state)
{
	(void)state;
	hfi_backoff_t b;
	hfi_backoff_init(&b, 99);
	int64_t now = 0;
	for (int i = 0; i < 8; i++)
		hfi_backoff_next(&b, now += 1000);
	assert_int_equal(b.cur_ms, 30000);
	/* 2 min exactly since the last failure: not yet reset */
	hfi_backoff_next(&b, now += 120000);
	assert_int_equal(b.cur_ms, 30000);
	/* more than 2 min without a failure: back to 800 ms */
	int64_t d = hfi_backoff_next(&b, now += 120001);
	assert_int_equal(b.cur_ms, 800);
	assert_true(d >= 800 && d <= 1600);
	d = hfi_backoff_next(&b, now += 10); /* escalates again from there */
	assert_int_equal(b.cur_ms, 1600);
	assert_true(d >= 800 && d <= 1600);
	/* an explicit reset */
	hfi_backoff_reset(&b);
	d = hfi_backoff_next(&b, now += 10);
	assert_int_equal(b.cur_ms, 800);
	assert_true(d >= 800 && d <= 1600);
}

static void test_rng(void **state)
{
	(void)state;
	uint64_t s = 0; /* zero state is replaced, never stuck */
	uint64_t a = hfi_rng_next(&s), c = hfi_rng_next(&s);
	assert_true(a != c);
	double sum = 0;
	for (int i = 0; i < 10000; i++) {
		double u = hfi_rng_unit(&s);
		assert_true(u >= 0.0 && u < 1.0);
		sum += u;
	}
	assert_true(sum > 4700 && sum < 5300);
}

static void test_tbucket_defaults(void **state)
{
	(void)state;
	hfi_tbucket_t t;
	hfi_tbucket_init(&t, 0, 0, 0); /* client-go: 5 qps, burst 10 */
	for (int i = 0; i < 10; i++)
		assert_int_equal(hfi_tbucket_take(&t, 0), 0);
	/* the 11th waits one token at 5/s = 200 ms, the 12th 400 ms: queued */
	int64_t w = hfi_tbucket_take(&t, 0);
	assert_true(w >= 200 && w <= 201);
	w = hfi_tbucket_take(&t, 0);
	assert_true(w >= 400 && w <= 401);
	/* one second later 5 tokens came back, 2 of them owed: 3 free */
	for (int i = 0; i < 3; i++)
		assert_int_equal(hfi_tbucket_take(&t, 1000), 0);
	w = hfi_tbucket_take(&t, 1000);
	assert_true(w >= 200 && w <= 201);
	/* a long idle period refills to the burst, never beyond */
	int n = 0;
	while (hfi_tbucket_take(&t, 100000) == 0)
		n++;
	assert_int_equal(n, 10);
}

static void test_tbucket_custom(void **state)
{
	(void)state;
	hfi_tbucket_t t;
	hfi_tbucket_init(&t, 100, 1, 0);
	assert_int_equal(hfi_tbucket_take(&t, 0), 0);
	int64_t w = hfi_tbucket_take(&t, 0);
	assert_true(w >= 10 && w <= 11);
	/* 0.5 qps: two seconds per token */
	hfi_tbucket_init(&t, 0.5, 2, 0);
	assert_int_equal(hfi_tbucket_take(&t, 0), 0);
	assert_int_equal(hfi_tbucket_take(&t, 0), 0);
	w = hfi_tbucket_take(&t, 0);
	assert_true(w >= 2000 && w <= 2001);
	/* time going backwards is ignored */
	hfi_tbucket_init(&t, 1, 1, 5000);
	assert_int_equal(hfi_tbucket_take(&t, 5000), 0);
	w = hfi_tbucket_take(&t, 4000);
	assert_true(w >= 1000 && w <= 1001);
}

static void test_url_escape(void **state)
{
	(void)state;
	char buf[64] = "x?";
	size_t off = 2;
	assert_int_equal(hfi_api_url_escape(buf, sizeof(buf), &off, "env in (a,b),!x"), HF_EOK);
	assert_string_equal(buf, "x?env%20in%20%28a%2Cb%29%2C%21x");
	off = 0;
	assert_int_equal(hfi_api_url_escape(buf, sizeof(buf), &off, "A-z_0.9~/=&+%"), HF_EOK);
	assert_string_equal(buf, "A-z_0.9~%2F%3D%26%2B%25");
	off = 0;
	assert_int_equal(hfi_api_url_escape(buf, sizeof(buf), &off, "\xff\x01"), HF_EOK);
	assert_string_equal(buf, "%FF%01");
	char small[8];
	off = 0;
	assert_int_equal(hfi_api_url_escape(small, sizeof(small), &off, "abcdefgh"), HF_ESPACE);
	off = 0;
	assert_int_equal(hfi_api_url_escape(small, sizeof(small), &off, "abcd/"), HF_EOK); /* 7 + NUL fits */
	assert_string_equal(small, "abcd%2F");
	off = 0;
	assert_int_equal(hfi_api_url_escape(small, sizeof(small), &off, "abcde/"), HF_ESPACE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_sequence),
		cmocka_unit_test(test_backoff_deterministic),
		cmocka_unit_test(test_backoff_spread),
		cmocka_unit_test(test_backoff_reset),
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_tbucket_defaults),
		cmocka_unit_test(test_tbucket_custom),
		cmocka_unit_test(test_url_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
