/* test_sync.c: the sync door with a fake clock: SYNCING/LIVE/STALE/EXPIRED
 * transitions, restore, the deletion guard (empty list, fraction, second
 * consistent list, hold expiry, operator confirm), watch deletions and the
 * burst rule, lists while STALE, the dirty flag, the guard disabled, log
 * lines, allocation failures in the store, a concurrent smoke test and a
 * 100k relist timing. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "holdfast.h"
#include "objects.h"
#include "sync.h"

#define MIN_MS 60000

/* ---- helpers --------------------------------------------------------------- */

static void put_svc(hfi_store_t *st, const char *ns, const char *name, const char *rv, int ip_last)
{
	hfi_ip_t ip = { .family = 4, .addr = { 10, 96, (uint8_t)(ip_last >> 8), (uint8_t)ip_last } };
	hfi_port_t port = { "http", "TCP", 80 };
	hfi_service_t s = { .ns = (char *)ns, .name = (char *)name, .rv = (char *)rv,
			    .type = "ClusterIP", .ips = &ip, .nips = 1, .ports = &port, .nports = 1 };
	assert_true(hfi_store_put_service(st, &s) >= 0);
}

/* A list store of services s<from>..s<to-1> in namespace "ns", rv "1". */
static hfi_store_t *svc_list(int from, int to)
{
	hfi_store_t *l = hfi_store_new(NULL);
	assert_non_null(l);
	for (int i = from; i < to; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%d", i);
		put_svc(l, "ns", name, "1", i);
	}
	return l;
}

/* A list store holding exactly the services named in names (NULL-ended). */
static hfi_store_t *svc_list_of(const int *idx, size_t n)
{
	hfi_store_t *l = hfi_store_new(NULL);
	assert_non_null(l);
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%d", idx[i]);
		put_svc(l, "ns", name, "1", idx[i]);
	}
	return l;
}

static bool has_svc(const hfi_store_t *st, int i)
{
	char name[32];
	snprintf(name, sizeof(name), "s%d", i);
	return hfi_store_service(st, "ns", name) != NULL;
}

static void apply_svcs(hfi_sync_t *s, int from, int to, int64_t now)
{
	hfi_store_t *l = svc_list(from, to);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, l, now), 0);
	hfi_store_free(l);
}

static void apply_only(hfi_sync_t *s, const int *idx, size_t n, int64_t now)
{
	hfi_store_t *l = svc_list_of(idx, n);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, l, now), 0);
	hfi_store_free(l);
}

static void del_svc(hfi_sync_t *s, int i, int64_t now)
{
	char name[32];
	snprintf(name, sizeof(name), "s%d", i);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_DELETED, NULL, "ns", name, now), 0);
}

static hfi_sync_cfg_t cfg_svc(int64_t min, int64_t max, double guard)
{
	hfi_sync_cfg_t c;
	memset(&c, 0, sizeof(c));
	c.stale_min_ms = min;
	c.stale_max_ms = max;
	c.deletion_guard = guard;
	c.want[HFI_RES_SERVICES] = true;
	return c;
}

static hfi_sync_stats_t stats(hfi_sync_t *s)
{
	hfi_sync_stats_t st;
	memset(&st, 0xa5, sizeof(st));
	hfi_sync_get_stats(s, &st);
	return st;
}

/* A LIVE sync over services s0..s<n-1>, dirty flag cleared. */
typedef struct fx {
	hfi_store_t *st;
	hfi_sync_t *s;
} fx_t;

static fx_t fx_live(int n, int64_t min, int64_t max, double guard, int64_t now)
{
	fx_t f;
	f.st = hfi_store_new(NULL);
	assert_non_null(f.st);
	hfi_sync_cfg_t c = cfg_svc(min, max, guard);
	f.s = hfi_sync_new(f.st, &c);
	assert_non_null(f.s);
	apply_svcs(f.s, 0, n, now);
	assert_int_equal(hfi_sync_state(f.s, now), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), (size_t)n);
	(void)hfi_sync_take_dirty(f.s);
	return f;
}

static void fx_free(fx_t *f)
{
	hfi_sync_free(f->s);
	hfi_store_free(f->st);
}

/* stdout capture (the log lines) */
typedef struct cap {
	int saved;
	char path[64];
} cap_t;

static void cap_begin(cap_t *c)
{
	fflush(stdout);
	snprintf(c->path, sizeof(c->path), "/tmp/test_sync_log.XXXXXX");
	int fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(1);
	assert_true(c->saved >= 0);
	assert_true(dup2(fd, 1) >= 0);
	close(fd);
}

/* Returns the captured text (caller frees). */
static char *cap_end(cap_t *c)
{
	fflush(stdout);
	assert_true(dup2(c->saved, 1) >= 0);
	close(c->saved);
	FILE *f = fopen(c->path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 65536);
	assert_non_null(buf);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	unlink(c->path);
	return buf;
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* ---- state machine ----------------------------------------------------------- */

static void test_syncing_to_live(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t c = cfg_svc(0, 0, 0.5);
	c.want[HFI_RES_SLICES] = true;
	c.want[HFI_RES_NAMESPACES] = true;
	hfi_sync_t *s = hfi_sync_new(st, &c);
	assert_non_null(s);
	assert_int_equal(hfi_sync_state(s, 0), HFI_SYNCING);
	assert_string_equal(hfi_sync_state_name(HFI_SYNCING), "SYNCING");
	assert_false(hfi_sync_take_dirty(s));

	apply_svcs(s, 0, 3, 10);
	assert_int_equal(hfi_sync_state(s, 10), HFI_SYNCING);
	assert_true(hfi_sync_take_dirty(s));
	/* health reports before the sync do not leave SYNCING */
	hfi_sync_health(s, HFI_RES_SLICES, true, NULL, 11);
	assert_int_equal(hfi_sync_state(s, 11), HFI_SYNCING);

	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SLICES, empty, 20), 0);
	assert_int_equal(hfi_sync_state(s, 20), HFI_SYNCING); /* namespaces not yet */
	hfi_namespace_t nsobj = { .name = "ns", .rv = "1" };
	hfi_store_t *nsl = hfi_store_new(NULL);
	assert_int_equal(hfi_store_put_namespace(nsl, &nsobj), 1);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_NAMESPACES, nsl, 30), 0);
	assert_int_equal(hfi_sync_state(s, 30), HFI_LIVE);
	assert_string_equal(hfi_sync_state_name(HFI_LIVE), "LIVE");
	assert_non_null(hfi_store_namespace(st, "ns"));

	hfi_sync_stats_t x = stats(s);
	assert_int_equal(x.lists[HFI_RES_SERVICES], 1);
	assert_int_equal(x.lists[HFI_RES_SLICES], 1);
	assert_int_equal(x.lists[HFI_RES_NAMESPACES], 1);
	assert_int_equal(x.lists[HFI_RES_PODS], 0);
	assert_int_equal(x.stale_since_ms, -1);
	assert_int_equal(x.stale_entered, 0);
	assert_int_equal(x.last_healthy_ms, 30);
	assert_int_equal(x.guard_trips, 0);
	assert_int_equal(x.held_pending, 0);
	hfi_store_free(nsl);
	hfi_store_free(empty);
	hfi_sync_free(s);
	hfi_store_free(st);
}

static void test_live_stale_live(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t c = cfg_svc(MIN_MS, 0, 0.5);
	c.want[HFI_RES_SLICES] = true;
	hfi_sync_t *s = hfi_sync_new(st, &c);
	apply_svcs(s, 0, 3, 0);
	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SLICES, empty, 0), 0);
	assert_int_equal(hfi_sync_state(s, 5), HFI_LIVE);

	/* an unwanted resource's health does not matter */
	hfi_sync_health(s, HFI_RES_PODS, false, "no pods", 500);
	assert_int_equal(hfi_sync_state(s, 600), HFI_LIVE);

	hfi_sync_health(s, HFI_RES_SERVICES, false, "watch: connection refused", 1000);
	assert_int_equal(hfi_sync_state(s, 1500), HFI_STALE);
	assert_string_equal(hfi_sync_state_name(HFI_STALE), "STALE");
	hfi_sync_stats_t x = stats(s);
	assert_int_equal(x.stale_since_ms, 1000);
	assert_int_equal(x.stale_entered, 1);
	assert_int_equal(x.last_healthy_ms, 1000);
	/* a second resource failing keeps the first moment */
	hfi_sync_health(s, HFI_RES_SLICES, false, "500", 2000);
	hfi_sync_health(s, HFI_RES_SERVICES, true, NULL, 3000);
	assert_int_equal(hfi_sync_state(s, 3000), HFI_STALE); /* slices still down */
	x = stats(s);
	assert_int_equal(x.stale_since_ms, 1000);
	assert_int_equal(x.stale_entered, 1);
	/* stale data is kept */
	assert_int_equal(hfi_store_count_services(st), 3);
	hfi_sync_health(s, HFI_RES_SLICES, true, NULL, 4000);
	assert_int_equal(hfi_sync_state(s, 4000), HFI_LIVE);
	x = stats(s);
	assert_int_equal(x.stale_since_ms, -1);
	assert_int_equal(x.last_healthy_ms, 4000);
	/* and again: a second LIVE -> STALE counts */
	hfi_sync_health(s, HFI_RES_SLICES, false, "429", 5000);
	assert_int_equal(hfi_sync_state(s, 5000), HFI_STALE);
	x = stats(s);
	assert_int_equal(x.stale_entered, 2);
	assert_int_equal(x.stale_since_ms, 5000);
	/* a successful list marks the resource healthy */
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SLICES, empty, 6000), 0);
	assert_int_equal(hfi_sync_state(s, 6000), HFI_LIVE);
	hfi_store_free(empty);
	hfi_sync_free(s);
	hfi_store_free(st);
}

static void test_expired_after_max(void **state)
{
	(void)state;
	fx_t f = fx_live(3, 10000, 60000, 0.5, 0);
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "timeout", 1000);
	assert_int_equal(hfi_sync_state(f.s, 1000), HFI_STALE);
	assert_int_equal(hfi_sync_state(f.s, 60999), HFI_STALE);
	assert_int_equal(hfi_sync_state(f.s, 61000), HFI_EXPIRED);
	assert_string_equal(hfi_sync_state_name(HFI_EXPIRED), "EXPIRED");
	assert_int_equal(stats(f.s).stale_since_ms, 1000);
	/* the data is still in the store (the engine decides not to serve it) */
	assert_int_equal(hfi_store_count_services(f.st), 3);
	assert_int_equal(hfi_sync_state(f.s, 100000), HFI_EXPIRED);
	/* healing leaves EXPIRED for LIVE */
	hfi_sync_health(f.s, HFI_RES_SERVICES, true, NULL, 120000);
	assert_int_equal(hfi_sync_state(f.s, 120000), HFI_LIVE);
	/* a new outage starts a new MAX window */
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "timeout", 200000);
	assert_int_equal(hfi_sync_state(f.s, 259999), HFI_STALE);
	assert_int_equal(hfi_sync_state(f.s, 260000), HFI_EXPIRED);
	assert_int_equal(stats(f.s).stale_entered, 2);
	fx_free(&f);

	/* MAX 0: never expires */
	f = fx_live(3, 10000, 0, 0.5, 0);
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "timeout", 1000);
	assert_int_equal(hfi_sync_state(f.s, INT64_C(1) << 50), HFI_STALE);
	fx_free(&f);
}

static void test_restore_stale_live(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	/* the snapshot's content */
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		put_svc(st, "ns", name, "1", i);
	}
	hfi_sync_cfg_t c = cfg_svc(0, 0, 0.5);
	c.want[HFI_RES_SLICES] = true;
	hfi_sync_t *s = hfi_sync_new(st, &c);
	assert_int_equal(hfi_sync_state(s, 50), HFI_SYNCING);
	assert_false(hfi_sync_take_dirty(s));
	hfi_sync_restored(s, 100);
	assert_true(hfi_sync_take_dirty(s));
	assert_int_equal(hfi_sync_state(s, 100), HFI_STALE);
	hfi_sync_stats_t x = stats(s);
	assert_int_equal(x.stale_since_ms, 100);
	assert_int_equal(x.stale_entered, 0);
	/* health alone does not confirm restored data: a list is needed */
	hfi_sync_health(s, HFI_RES_SERVICES, true, NULL, 200);
	hfi_sync_health(s, HFI_RES_SLICES, true, NULL, 200);
	assert_int_equal(hfi_sync_state(s, 200), HFI_STALE);
	apply_svcs(s, 0, 4, 300);
	assert_int_equal(hfi_sync_state(s, 300), HFI_STALE);
	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SLICES, empty, 400), 0);
	assert_int_equal(hfi_sync_state(s, 400), HFI_LIVE);
	x = stats(s);
	assert_int_equal(x.stale_since_ms, -1);
	assert_int_equal(x.stale_entered, 0);
	/* restored after the sync: nothing changes */
	hfi_sync_restored(s, 500);
	assert_int_equal(hfi_sync_state(s, 500), HFI_LIVE);
	/* restored data counts toward MAX from the time passed in */
	hfi_store_free(empty);
	hfi_sync_free(s);

	c.stale_max_ms = 1000;
	s = hfi_sync_new(st, &c);
	hfi_sync_restored(s, 5000 - 900); /* the caller counts the snapshot's age */
	assert_int_equal(hfi_sync_state(s, 5000), HFI_STALE);
	assert_int_equal(hfi_sync_state(s, 5100), HFI_EXPIRED);
	hfi_sync_free(s);
	hfi_store_free(st);
}

/* ---- the deletion guard ---------------------------------------------------- */

static void test_guard_empty_list_held(void **state)
{
	(void)state;
	fx_t f = fx_live(10, 0, 0, 0.5, 0); /* MIN unset: the guard holds for 5 minutes */
	hfi_store_t *empty = hfi_store_new(NULL);
	cap_t cap;
	cap_begin(&cap);
	assert_int_equal(hfi_sync_apply_list(f.s, HFI_RES_SERVICES, empty, 1000), 0);
	char *log = cap_end(&cap);
	assert_int_equal(count_str(log, "[WARNING] plugin/kubernetes: deletion guard: relist of services "
				   "would delete 10 of 10 objects; holding for 5m0s\n"), 1);
	free(log);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	assert_false(hfi_sync_take_dirty(f.s));
	hfi_sync_stats_t x = stats(f.s);
	assert_int_equal(x.guard_trips, 1);
	assert_int_equal(x.held_deletions, 10);
	assert_int_equal(x.held_pending, 10);
	assert_int_equal(hfi_sync_state(f.s, 1000), HFI_LIVE); /* a hold does not change the state */

	/* a second empty list never confirms, and holds nothing new */
	cap_begin(&cap);
	assert_int_equal(hfi_sync_apply_list(f.s, HFI_RES_SERVICES, empty, 2000), 0);
	log = cap_end(&cap);
	assert_int_equal(count_str(log, "deletion guard"), 0);
	free(log);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	x = stats(f.s);
	assert_int_equal(x.guard_trips, 1);
	assert_int_equal(x.held_deletions, 10);

	/* the hold ends 5 minutes after the first list */
	assert_int_equal(hfi_sync_state(f.s, 1000 + 300000 - 1), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	assert_int_equal(hfi_sync_state(f.s, 1000 + 300000), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), 0);
	assert_true(hfi_sync_take_dirty(f.s));
	assert_int_equal(stats(f.s).held_pending, 0);
	hfi_store_free(empty);
	fx_free(&f);

	/* an empty list over an empty store is no trip */
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t c = cfg_svc(0, 0, 0.5);
	hfi_sync_t *s = hfi_sync_new(st, &c);
	empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, empty, 0), 0);
	assert_int_equal(stats(s).guard_trips, 0);
	assert_int_equal(hfi_sync_state(s, 0), HFI_LIVE);
	hfi_store_free(empty);
	hfi_sync_free(s);
	hfi_store_free(st);
}

static void test_guard_fraction(void **state)
{
	(void)state;
	/* 6 of 10 > 0.5: held */
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	apply_svcs(f.s, 0, 4, 1000);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	hfi_sync_stats_t x = stats(f.s);
	assert_int_equal(x.guard_trips, 1);
	assert_int_equal(x.held_deletions, 6);
	assert_int_equal(x.held_pending, 6);
	fx_free(&f);

	/* exactly 5 of 10 (<= 0.5): applied at once */
	f = fx_live(10, MIN_MS, 0, 0.5, 0);
	apply_svcs(f.s, 0, 5, 1000);
	assert_int_equal(hfi_store_count_services(f.st), 5);
	for (int i = 0; i < 10; i++)
		assert_int_equal(has_svc(f.st, i), i < 5);
	assert_true(hfi_sync_take_dirty(f.s));
	x = stats(f.s);
	assert_int_equal(x.guard_trips, 0);
	assert_int_equal(x.held_deletions, 0);
	/* adds apply together with a held deletion */
	apply_svcs(f.s, 5, 8, 2000); /* s0..s4 missing (5 of 5 > 0.5), s5..s7 new */
	assert_int_equal(hfi_store_count_services(f.st), 8);
	assert_true(has_svc(f.st, 7));
	assert_true(hfi_sync_take_dirty(f.s));
	x = stats(f.s);
	assert_int_equal(x.guard_trips, 1);
	assert_int_equal(x.held_deletions, 5);
	fx_free(&f);

	/* deletion_guard 0: any list deletion is held, a single event still applies */
	f = fx_live(10, MIN_MS, 0, 0.0, 0);
	apply_svcs(f.s, 0, 9, 1000);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	del_svc(f.s, 0, 1100);
	assert_false(has_svc(f.st, 0));
	fx_free(&f);
}

static void test_guard_second_list_confirms(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	apply_svcs(f.s, 0, 4, 1000); /* s4..s9 held */
	assert_int_equal(hfi_store_count_services(f.st), 10);
	/* the second list still lacks s5..s9 and has s4 back (and a new s10) */
	int idx[] = { 0, 1, 2, 3, 4, 10 };
	cap_t cap;
	cap_begin(&cap);
	apply_only(f.s, idx, 6, 2000);
	char *log = cap_end(&cap);
	assert_int_equal(count_str(log, "confirmed 5 held deletions"), 1);
	assert_int_equal(count_str(log, "holding for"), 0);
	free(log);
	assert_int_equal(hfi_store_count_services(f.st), 6);
	for (int i = 0; i <= 10; i++)
		assert_int_equal(has_svc(f.st, i), i <= 4 || i == 10);
	assert_true(hfi_sync_take_dirty(f.s));
	hfi_sync_stats_t x = stats(f.s);
	assert_int_equal(x.held_pending, 0);
	assert_int_equal(x.guard_trips, 1);
	/* nothing is left to expire */
	assert_int_equal(hfi_sync_state(f.s, 1000 + MIN_MS), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), 6);
	fx_free(&f);

	/* the second list confirms the held ones and judges its new deletions
	 * by the fraction: 6 held confirmed + 1 new (1 of 10 known) applied */
	f = fx_live(10, MIN_MS, 0, 0.5, 0);
	apply_svcs(f.s, 0, 4, 1000);
	apply_svcs(f.s, 0, 3, 2000);
	assert_int_equal(hfi_store_count_services(f.st), 3);
	assert_int_equal(stats(f.s).held_pending, 0);
	fx_free(&f);

	/* a second list that again trips over new objects holds them */
	f = fx_live(10, MIN_MS, 0, 0.5, 0);
	apply_svcs(f.s, 0, 4, 1000);  /* s4..s9 held */
	int one[] = { 0 };
	apply_only(f.s, one, 1, 2000); /* s4..s9 confirmed, s1..s3: 3 of 10 apply */
	assert_int_equal(hfi_store_count_services(f.st), 1);
	fx_free(&f);
}

static void test_guard_hold_expires(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	apply_svcs(f.s, 0, 2, 1000); /* s2..s9 held until 61000 */
	assert_false(hfi_sync_take_dirty(f.s));
	assert_int_equal(hfi_sync_state(f.s, 60999), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	/* a later hold keeps its own deadline */
	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(f.s, HFI_RES_SERVICES, empty, 30000), 0);
	assert_int_equal(stats(f.s).held_pending, 10);
	assert_int_equal(hfi_sync_state(f.s, 61000), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), 2);
	assert_true(has_svc(f.st, 0) && has_svc(f.st, 1));
	assert_true(hfi_sync_take_dirty(f.s));
	/* any call with now expires holds, e.g. a health report */
	hfi_sync_health(f.s, HFI_RES_SERVICES, true, NULL, 90000);
	assert_int_equal(hfi_store_count_services(f.st), 0);
	assert_int_equal(stats(f.s).held_pending, 0);
	hfi_store_free(empty);
	fx_free(&f);
}

static void test_guard_confirm_deletions(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(f.s, HFI_RES_SERVICES, empty, 1000), 0);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	hfi_sync_confirm_deletions(f.s, 2000);
	assert_int_equal(hfi_store_count_services(f.st), 0);
	assert_true(hfi_sync_take_dirty(f.s));
	assert_int_equal(stats(f.s).held_pending, 0);
	/* nothing held: a no-op */
	hfi_sync_confirm_deletions(f.s, 3000);
	assert_false(hfi_sync_take_dirty(f.s));
	hfi_store_free(empty);
	fx_free(&f);
}

static void test_held_released_by_list_and_event(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	apply_svcs(f.s, 0, 2, 1000); /* s2..s9 held */
	/* an ADDED/MODIFIED event releases a held key */
	hfi_store_t *one = svc_list(5, 6);
	assert_int_equal(hfi_sync_apply_event(f.s, HFI_RES_SERVICES, HFI_EV_MODIFIED, one, NULL, NULL, 2000), 0);
	hfi_store_free(one);
	assert_int_equal(stats(f.s).held_pending, 7);
	assert_int_equal(hfi_sync_state(f.s, 1000 + MIN_MS), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), 3);
	assert_true(has_svc(f.st, 0) && has_svc(f.st, 1) && has_svc(f.st, 5));
	fx_free(&f);
}

static void test_single_watch_delete(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	del_svc(f.s, 3, 1000);
	assert_false(has_svc(f.st, 3));
	assert_int_equal(hfi_store_count_services(f.st), 9);
	assert_true(hfi_sync_take_dirty(f.s));
	assert_int_equal(stats(f.s).events[HFI_RES_SERVICES], 1);
	assert_int_equal(stats(f.s).guard_trips, 0);
	/* deleting something absent changes nothing but counts as an event */
	del_svc(f.s, 3, 1001);
	assert_false(hfi_sync_take_dirty(f.s));
	assert_int_equal(stats(f.s).events[HFI_RES_SERVICES], 2);
	fx_free(&f);

	/* the last object of a resource (M0 = 1) */
	f = fx_live(1, MIN_MS, 0, 0.5, 0);
	del_svc(f.s, 0, 1000);
	assert_int_equal(hfi_store_count_services(f.st), 0);
	fx_free(&f);
}

static void test_burst_rule(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	cap_t cap;
	cap_begin(&cap);
	for (int i = 0; i < 5; i++)
		del_svc(f.s, i, 1000 + i); /* window opens at 1000 with M0 = 10 */
	assert_int_equal(hfi_store_count_services(f.st), 5);
	assert_int_equal(stats(f.s).guard_trips, 0);
	del_svc(f.s, 5, 1005); /* 6 > 5: held */
	del_svc(f.s, 6, 1006);
	del_svc(f.s, 6, 1007); /* again: already held, keeps its deadline */
	char *log = cap_end(&cap);
	assert_int_equal(count_str(log, "deletion guard: watch deleted 5 of 10 services"), 1);
	assert_int_equal(count_str(log, "deletion guard"), 1);
	free(log);
	assert_int_equal(hfi_store_count_services(f.st), 5); /* s5..s9: s5, s6 held */
	assert_true(has_svc(f.st, 5) && has_svc(f.st, 6));
	hfi_sync_stats_t x = stats(f.s);
	assert_int_equal(x.guard_trips, 1);
	assert_int_equal(x.held_deletions, 2);
	assert_int_equal(x.held_pending, 2);
	assert_int_equal(x.events[HFI_RES_SERVICES], 8);
	/* still inside the window at 60999 */
	del_svc(f.s, 7, 1000 + MIN_MS - 1);
	assert_true(has_svc(f.st, 7));
	/* the window ends at 61000: a new one (M0 = 5) lets the first through */
	del_svc(f.s, 8, 1000 + MIN_MS);
	assert_false(has_svc(f.st, 8));
	assert_true(has_svc(f.st, 5)); /* held until 1005 + MIN */
	assert_int_equal(hfi_sync_state(f.s, 1005 + MIN_MS - 1), HFI_LIVE);
	assert_true(has_svc(f.st, 5));
	assert_int_equal(hfi_sync_state(f.s, 1005 + MIN_MS), HFI_LIVE);
	assert_false(has_svc(f.st, 5));
	assert_true(has_svc(f.st, 6));
	assert_int_equal(hfi_sync_state(f.s, 1006 + MIN_MS), HFI_LIVE);
	assert_false(has_svc(f.st, 6));
	assert_int_equal(hfi_sync_state(f.s, 998 + 2 * MIN_MS), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(f.st), 2); /* s7 (until 120999), s9 */
	assert_int_equal(hfi_sync_state(f.s, 999 + 2 * MIN_MS), HFI_LIVE);
	assert_false(has_svc(f.st, 7));
	assert_int_equal(hfi_store_count_services(f.st), 1);
	x = stats(f.s);
	assert_int_equal(x.guard_trips, 1);
	assert_int_equal(x.held_deletions, 3);
	fx_free(&f);

	/* small resource: with M0 = 3 the second deletion of a window is held */
	f = fx_live(3, MIN_MS, 0, 0.5, 0);
	del_svc(f.s, 0, 10);
	del_svc(f.s, 1, 20);
	assert_int_equal(hfi_store_count_services(f.st), 2);
	/* a confirming list after it applies the held deletion at once */
	int idx[] = { 2 };
	apply_only(f.s, idx, 1, 30);
	assert_int_equal(hfi_store_count_services(f.st), 1);
	assert_true(has_svc(f.st, 2));
	fx_free(&f);
}

static void test_list_during_stale_holds(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 0.5, 0);
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "watch died", 1000);
	assert_int_equal(hfi_sync_state(f.s, 1000), HFI_STALE);
	/* one deletion of ten would apply at once when LIVE; during STALE it is held */
	cap_t cap;
	cap_begin(&cap);
	apply_svcs(f.s, 0, 9, 2000);
	char *log = cap_end(&cap);
	assert_int_equal(count_str(log, "relist of services would delete 1 of 10 objects; holding for 1m0s"), 1);
	free(log);
	assert_true(has_svc(f.st, 9));
	assert_int_equal(hfi_sync_state(f.s, 2000), HFI_LIVE); /* the list made it healthy */
	hfi_sync_stats_t x = stats(f.s);
	assert_int_equal(x.guard_trips, 1);
	assert_int_equal(x.held_deletions, 1);
	/* while STALE, events still apply (a working watch is healthy) */
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "500", 3000);
	del_svc(f.s, 0, 3100);
	assert_false(has_svc(f.st, 0));
	hfi_store_t *one = svc_list(20, 21);
	assert_int_equal(hfi_sync_apply_event(f.s, HFI_RES_SERVICES, HFI_EV_ADDED, one, NULL, NULL, 3200), 0);
	hfi_store_free(one);
	assert_true(has_svc(f.st, 20));
	/* a list during STALE does not confirm earlier holds */
	int idx[] = { 1, 2, 3, 4, 5, 6, 7, 8, 20 };
	apply_only(f.s, idx, 9, 4000);
	assert_true(has_svc(f.st, 9));
	assert_int_equal(stats(f.s).held_pending, 1);
	/* it expires MIN after it was first held */
	assert_int_equal(hfi_sync_state(f.s, 2000 + MIN_MS), HFI_LIVE);
	assert_false(has_svc(f.st, 9));
	/* a LIVE list confirms what a STALE list held */
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "500", 70000);
	apply_svcs(f.s, 2, 9, 71000); /* s1, s20 missing: held (STALE) */
	assert_int_equal(stats(f.s).held_pending, 2);
	apply_svcs(f.s, 2, 9, 72000); /* LIVE now: confirms */
	assert_int_equal(stats(f.s).held_pending, 0);
	assert_false(has_svc(f.st, 1));
	assert_false(has_svc(f.st, 20));
	fx_free(&f);

	/* restored data: lists while STALE hold their deletions for MIN */
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_store_t *l = svc_list(0, 10);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(hfi_store_put_service(st, hfi_store_service_at(l, i)), 1);
	hfi_store_free(l);
	hfi_sync_cfg_t c = cfg_svc(MIN_MS, 0, 0.5);
	hfi_sync_t *s = hfi_sync_new(st, &c);
	hfi_sync_restored(s, 0);
	apply_svcs(s, 0, 8, 100);
	assert_int_equal(hfi_store_count_services(st), 10);
	assert_int_equal(hfi_sync_state(s, 100), HFI_LIVE);
	assert_int_equal(hfi_sync_state(s, 100 + MIN_MS), HFI_LIVE);
	assert_int_equal(hfi_store_count_services(st), 8);
	hfi_sync_free(s);
	hfi_store_free(st);

	/* MIN unset: the STALE-list rule is off, the fraction decides */
	f = fx_live(10, 0, 0, 0.5, 0);
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "watch died", 1000);
	apply_svcs(f.s, 0, 9, 2000);
	assert_false(has_svc(f.st, 9));
	assert_int_equal(stats(f.s).guard_trips, 0);
	fx_free(&f);

	/* EXPIRED counts as STALE for lists */
	f = fx_live(10, MIN_MS, 2 * MIN_MS, 0.5, 0);
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "down", 1000);
	assert_int_equal(hfi_sync_state(f.s, 1000 + 2 * MIN_MS), HFI_EXPIRED);
	apply_svcs(f.s, 0, 9, 2000 + 2 * MIN_MS);
	assert_true(has_svc(f.st, 9));
	assert_int_equal(hfi_sync_state(f.s, 2000 + 2 * MIN_MS), HFI_LIVE);
	fx_free(&f);
}

static void test_dirty_flag(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t c = cfg_svc(MIN_MS, 0, 0.5);
	c.want[HFI_RES_NAMESPACES] = true;
	hfi_sync_t *s = hfi_sync_new(st, &c);
	assert_false(hfi_sync_take_dirty(s));
	apply_svcs(s, 0, 3, 0);
	assert_true(hfi_sync_take_dirty(s));
	assert_false(hfi_sync_take_dirty(s)); /* once per batch */
	/* the same list again (same resourceVersions): no change */
	apply_svcs(s, 0, 3, 10);
	assert_false(hfi_sync_take_dirty(s));
	/* a new version with the same DNS data: no change either */
	hfi_store_t *l = hfi_store_new(NULL);
	put_svc(l, "ns", "s0", "2", 0);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_MODIFIED, l, NULL, NULL, 20), 0);
	assert_false(hfi_sync_take_dirty(s));
	hfi_store_free(l);
	/* a new IP is a change */
	l = hfi_store_new(NULL);
	put_svc(l, "ns", "s0", "3", 77);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_MODIFIED, l, NULL, NULL, 30), 0);
	assert_true(hfi_sync_take_dirty(s));
	hfi_store_free(l);
	/* namespaces: added and label changes mark dirty */
	hfi_kv_t kv = { "team", "a" };
	hfi_namespace_t nsobj = { .name = "ns", .rv = "1", .labels = { &kv, 1 } };
	l = hfi_store_new(NULL);
	hfi_store_put_namespace(l, &nsobj);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_NAMESPACES, l, 40), 0);
	assert_true(hfi_sync_take_dirty(s));
	hfi_store_free(l);
	kv.val = "b";
	nsobj.rv = "2";
	l = hfi_store_new(NULL);
	hfi_store_put_namespace(l, &nsobj);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_NAMESPACES, HFI_EV_MODIFIED, l, NULL, NULL, 50), 0);
	assert_true(hfi_sync_take_dirty(s));
	hfi_store_free(l);
	assert_string_equal(hfi_store_namespace(st, "ns")->labels.kv[0].val, "b");
	/* namespace deletion: ns argument ignored */
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_NAMESPACES, HFI_EV_DELETED, NULL, NULL, "ns", 60), 0);
	assert_null(hfi_store_namespace(st, "ns"));
	assert_true(hfi_sync_take_dirty(s));
	/* state changes alone are not store changes */
	hfi_sync_health(s, HFI_RES_SERVICES, false, "x", 70);
	assert_false(hfi_sync_take_dirty(s));
	hfi_sync_free(s);
	hfi_store_free(st);
}

static void test_guard_disabled(void **state)
{
	(void)state;
	fx_t f = fx_live(10, MIN_MS, 0, 1.0, 0);
	hfi_store_t *empty = hfi_store_new(NULL);
	apply_svcs(f.s, 0, 2, 1000); /* 8 of 10 */
	assert_int_equal(hfi_store_count_services(f.st), 2);
	apply_svcs(f.s, 0, 10, 2000);
	assert_int_equal(hfi_sync_apply_list(f.s, HFI_RES_SERVICES, empty, 3000), 0);
	assert_int_equal(hfi_store_count_services(f.st), 0);
	apply_svcs(f.s, 0, 10, 4000);
	for (int i = 0; i < 10; i++)
		del_svc(f.s, i, 5000 + i); /* no burst rule */
	assert_int_equal(hfi_store_count_services(f.st), 0);
	hfi_sync_stats_t x = stats(f.s);
	assert_int_equal(x.guard_trips, 0);
	assert_int_equal(x.held_deletions, 0);
	/* the serve_stale MIN rule stays: a list while STALE holds */
	apply_svcs(f.s, 0, 10, 6000);
	hfi_sync_health(f.s, HFI_RES_SERVICES, false, "down", 7000);
	assert_int_equal(hfi_sync_apply_list(f.s, HFI_RES_SERVICES, empty, 8000), 0);
	assert_int_equal(hfi_store_count_services(f.st), 10);
	assert_int_equal(stats(f.s).guard_trips, 1);
	hfi_store_free(empty);
	fx_free(&f);
}

static void test_other_resources(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t c = cfg_svc(MIN_MS, 0, 0.5);
	c.want[HFI_RES_SERVICES] = false;
	c.want[HFI_RES_SLICES] = true;
	c.want[HFI_RES_PODS] = true;
	hfi_sync_t *s = hfi_sync_new(st, &c);
	hfi_store_t *l = hfi_store_new(NULL);
	hfi_ep_addr_t a = { .ip = { .family = 4, .addr = { 10, 1, 0, 1 } } };
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "e%d", i);
		hfi_slice_t sl = { .ns = "ns", .name = name, .rv = "1", .service = "svc",
				   .addrs = &a, .naddrs = 1 };
		assert_int_equal(hfi_store_put_slice(l, &sl), 1);
		hfi_pod_t p = { .ns = "ns", .name = name, .rv = "1", .ip = a.ip, .phase = "Running" };
		assert_int_equal(hfi_store_put_pod(l, &p), 1);
	}
	/* the list store also holds pods: only slices are taken from it */
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SLICES, l, 0), 0);
	assert_int_equal(hfi_store_count_slices(st), 4);
	assert_int_equal(hfi_store_count_pods(st), 0);
	assert_int_equal(hfi_sync_state(s, 0), HFI_SYNCING);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_PODS, l, 0), 0);
	assert_int_equal(hfi_sync_state(s, 0), HFI_LIVE);
	assert_int_equal(hfi_store_count_pods(st), 4);
	/* an empty slice list is held, pods untouched */
	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SLICES, empty, 10), 0);
	assert_int_equal(hfi_store_count_slices(st), 4);
	hfi_sync_confirm_deletions(s, 20);
	assert_int_equal(hfi_store_count_slices(st), 0);
	assert_int_equal(hfi_store_count_pods(st), 4);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_PODS, HFI_EV_DELETED, NULL, "ns", "e1", 30), 0);
	assert_null(hfi_store_pod(st, "ns", "e1"));
	hfi_store_free(empty);
	hfi_store_free(l);
	hfi_sync_free(s);
	hfi_store_free(st);
}

static void test_invalid_args(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t c = cfg_svc(0, 0, 0.5);
	assert_null(hfi_sync_new(NULL, &c));
	assert_null(hfi_sync_new(st, NULL));
	hfi_sync_t *s = hfi_sync_new(st, &c);
	hfi_store_t *two = svc_list(0, 2);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_COUNT, two, 0), HF_EINVAL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, NULL, 0), HF_EINVAL);
	assert_int_equal(hfi_sync_apply_list(NULL, HFI_RES_SERVICES, two, 0), HF_EINVAL);
	/* ADDED must carry exactly one object of its resource */
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_ADDED, two, NULL, NULL, 0), HF_EINVAL);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SLICES, HFI_EV_ADDED, two, NULL, NULL, 0), HF_EINVAL);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_ADDED, NULL, NULL, NULL, 0), HF_EINVAL);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_DELETED, NULL, "ns", NULL, 0), HF_EINVAL);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_DELETED, NULL, NULL, "x", 0), HF_EINVAL);
	assert_int_equal(hfi_sync_apply_event(s, HFI_RES_SERVICES, (enum hfi_watch_event)7, two, NULL, NULL, 0), HF_EINVAL);
	assert_int_equal(stats(s).events[HFI_RES_SERVICES], 0);
	assert_int_equal(hfi_store_count_services(st), 0);
	hfi_sync_health(s, HFI_RES_COUNT, false, NULL, 0);
	hfi_sync_health(NULL, HFI_RES_SERVICES, false, NULL, 0);
	hfi_sync_restored(NULL, 0);
	hfi_sync_confirm_deletions(NULL, 0);
	assert_int_equal(hfi_sync_state(NULL, 0), HFI_SYNCING);
	assert_false(hfi_sync_take_dirty(NULL));
	hfi_sync_get_stats(NULL, NULL);
	hfi_sync_free(NULL);
	/* guard values out of range are clamped: NaN -> 0.5 */
	c.deletion_guard = NAN;
	hfi_sync_t *s2 = hfi_sync_new(st, &c);
	apply_svcs(s2, 0, 10, 0);
	apply_svcs(s2, 0, 4, 1);
	assert_int_equal(hfi_store_count_services(st), 10);
	hfi_sync_free(s2);
	hfi_store_free(two);
	hfi_sync_free(s);
	hfi_store_free(st);
}

/* Allocation failures inside the store during lists and events: an error
 * or success, never a crash or a leak, and the store stays consistent. */
static void test_store_alloc_failures(void **state)
{
	(void)state;
	hfi_store_t *l1 = svc_list(0, 20);
	hfi_store_t *l2 = svc_list(5, 30);
	hfi_store_t *one = svc_list(40, 41);
	bool completed = false;
	for (unsigned long fail = 1; fail < 500 && !completed; fail++) {
		hf_mm_t mm;
		hfi_mm_torture_t t;
		hfi_mm_torture_init(&mm, &t, fail);
		hfi_store_t *st = hfi_store_new(&mm);
		if (st == NULL)
			continue;
		hfi_sync_cfg_t c = cfg_svc(MIN_MS, 0, 0.5);
		hfi_sync_t *s = hfi_sync_new(st, &c);
		assert_non_null(s);
		int r1 = hfi_sync_apply_list(s, HFI_RES_SERVICES, l1, 0);
		int r2 = hfi_sync_apply_list(s, HFI_RES_SERVICES, l2, 1);
		int r3 = hfi_sync_apply_event(s, HFI_RES_SERVICES, HFI_EV_ADDED, one, NULL, NULL, 2);
		assert_true(r1 == 0 || r1 == HF_ENOMEM);
		assert_true(r2 == 0 || r2 == HF_ENOMEM);
		assert_true(r3 == 0 || r3 == HF_ENOMEM);
		/* objects that do not fit are refused and counted, not fatal */
		hfi_sync_stats_t ss;
		hfi_sync_get_stats(s, &ss);
		if (r1 == 0 && r2 == 0 && r3 == 0 && ss.refused_objects == 0) {
			completed = true;
			assert_int_equal(hfi_store_count_services(st), 26); /* s0..s4 deleted (5 of 20) */
		}
		if (ss.refused_objects > 0)
			assert_true(hfi_store_count_services(st) < 26);
		if (r1 != 0)
			assert_int_equal(hfi_sync_state(s, 3), r2 == 0 ? HFI_LIVE : HFI_SYNCING);
		for (size_t i = 0; i < hfi_store_count_services(st); i++) {
			const hfi_service_t *o = hfi_store_service_at(st, i);
			assert_ptr_equal(hfi_store_service(st, o->ns, o->name), o);
		}
		hfi_sync_free(s);
		hfi_store_free(st);
		assert_int_equal(t.live, 0);
	}
	assert_true(completed);
	hfi_store_free(l1);
	hfi_store_free(l2);
	hfi_store_free(one);
}

/* Concurrency smoke: a writer thread feeding events while a reader takes
 * the lock, walks the store and polls the state. */
typedef struct thr {
	hfi_sync_t *s;
	int rounds;
	atomic_int done;
} thr_t;

static void *writer(void *arg)
{
	thr_t *t = arg;
	for (int i = 0; i < t->rounds; i++) {
		hfi_store_t *one = svc_list(i % 50, i % 50 + 1);
		hfi_sync_apply_event(t->s, HFI_RES_SERVICES, HFI_EV_ADDED, one, NULL, NULL, i);
		hfi_store_free(one);
		char name[16];
		snprintf(name, sizeof(name), "s%d", (i * 7) % 50);
		hfi_sync_apply_event(t->s, HFI_RES_SERVICES, HFI_EV_DELETED, NULL, "ns", name, i);
		if (i % 100 == 0)
			hfi_sync_health(t->s, HFI_RES_SERVICES, (i / 100) % 2 == 0, "flap", i);
	}
	atomic_store(&t->done, 1);
	return NULL;
}

static void test_concurrent_smoke(void **state)
{
	(void)state;
	fx_t f = fx_live(50, MIN_MS, 0, 1.0, 0);
	thr_t t = { f.s, 3000, 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer, &t), 0);
	size_t seen = 0;
	for (int i = 0, last = 0; !last; i++) {
		last = atomic_load(&t.done);
		if (hfi_sync_take_dirty(f.s)) {
			hfi_sync_lock(f.s);
			for (size_t j = 0; j < hfi_store_count_services(f.st); j++) {
				const hfi_service_t *o = hfi_store_service_at(f.st, j);
				assert_non_null(o);
				seen += o->nips;
			}
			hfi_sync_unlock(f.s);
		}
		enum hfi_sync_state x = hfi_sync_state(f.s, i);
		assert_true(x == HFI_LIVE || x == HFI_STALE);
	}
	pthread_join(th, NULL);
	assert_true(seen > 0);
	assert_int_equal(stats(f.s).events[HFI_RES_SERVICES], 6000);
	fx_free(&f);
}

static double secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A relist of 100k services: first list, an unchanged relist, a relist
 * with every object updated, and an empty list (held) then its expiry. */
static void test_relist_100k_timing(void **state)
{
	(void)state;
	const int n = 100000;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t c = cfg_svc(MIN_MS, 0, 0.5);
	hfi_sync_t *s = hfi_sync_new(st, &c);
	hfi_store_t *l = svc_list(0, n);
	hfi_store_t *l2 = hfi_store_new(NULL);
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%d", i);
		put_svc(l2, "ns", name, "2", i + 1);
	}
	double t0 = secs();
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, l, 0), 0);
	double t1 = secs();
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, l, 1), 0);
	double t2 = secs();
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, l2, 2), 0);
	double t3 = secs();
	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, empty, 3), 0);
	double t4 = secs();
	assert_int_equal(hfi_store_count_services(st), (size_t)n);
	assert_int_equal(hfi_sync_state(s, 3 + MIN_MS), HFI_LIVE);
	double t5 = secs();
	assert_int_equal(hfi_store_count_services(st), 0);
	printf("relist 100k services: first %.3f s, unchanged %.3f s, all updated %.3f s, "
	       "empty (held) %.3f s, hold expiry %.3f s\n", t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4);
	assert_true(t5 - t0 < 10.0);
	hfi_store_free(empty);
	hfi_store_free(l2);
	hfi_store_free(l);
	hfi_sync_free(s);
	hfi_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syncing_to_live),
		cmocka_unit_test(test_live_stale_live),
		cmocka_unit_test(test_expired_after_max),
		cmocka_unit_test(test_restore_stale_live),
		cmocka_unit_test(test_guard_empty_list_held),
		cmocka_unit_test(test_guard_fraction),
		cmocka_unit_test(test_guard_second_list_confirms),
		cmocka_unit_test(test_guard_hold_expires),
		cmocka_unit_test(test_guard_confirm_deletions),
		cmocka_unit_test(test_held_released_by_list_and_event),
		cmocka_unit_test(test_single_watch_delete),
		cmocka_unit_test(test_burst_rule),
		cmocka_unit_test(test_list_during_stale_holds),
		cmocka_unit_test(test_dirty_flag),
		cmocka_unit_test(test_guard_disabled),
		cmocka_unit_test(test_other_resources),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_store_alloc_failures),
		cmocka_unit_test(test_concurrent_smoke),
		cmocka_unit_test(test_relist_100k_timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
