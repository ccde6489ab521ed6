/* test_arena.c: the pinned memory region (arena.c): sizing and pinning,
 * fill to exhaustion and recover, split/merge of freed extents, a
 * generation swap under four concurrent readers over ten rebuilds, and
 * the object store built through the arena until it runs out.  Runs in
 * both builds: jemalloc (normal: this binary links jemalloc through the
 * Makefile's UNIT_EXTRA_test_arena, and the library finds it at run time)
 * and the counting malloc (ASan, where HF_PLAIN_MALLOC is defined);
 * region-only checks (addresses, residency, mlock) run only with
 * jemalloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "holdfast.h"
#include "log.h"
#include "objects.h"

#define MiB ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif

static bool jemalloc(void)
{
	return strcmp(hfi_arena_backend(), "jemalloc") == 0;
}

static hfi_arena_t *arena(size_t size, hf_mm_t *mm)
{
	char err[256] = "";
	hfi_arena_t *a = hfi_arena_new(size, err, sizeof(err));
	if (a == NULL)
		print_message("hfi_arena_new: %s\n", err);
	assert_non_null(a);
	hfi_arena_mm(a, mm);
	return a;
}

static hfi_arena_stats_t stats(hfi_arena_t *a)
{
	hfi_arena_stats_t s;
	hfi_arena_stats(a, &s);
	return s;
}

/* "Name:   123 kB" from /proc/self/status (VmRSS, VmLck, ...). */
static long status_kb(const char *name)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(name);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = atol(line + n + 1);
	if (f != NULL)
		fclose(f);
	return v;
}

static bool has_cap_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return false;
	return (d[0].effective & (1u << CAP_IPC_LOCK)) != 0;
}

static void drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return;
	d[0].effective &= ~(1u << CAP_IPC_LOCK);
	d[0].permitted &= ~(1u << CAP_IPC_LOCK);
	(void)syscall(SYS_capset, &h, d);
}

/* ----------------------------------------------------------- backend */

/* Chosen at run time: jemalloc when the process has it (the normal build
 * of this test links it; the library itself never does), the counting
 * malloc in the ASan build (HF_PLAIN_MALLOC). */
static void test_backend(void **state)
{
	(void)state;
	hf_mm_t mm;
	hfi_arena_t *a = arena(HFI_ARENA_MIN_SIZE, &mm);
	void *p = hfi_mm_alloc(&mm, 100);
	assert_non_null(p);
	int local;
#ifdef ASAN_BUILD
	assert_string_equal(hfi_arena_backend(), "malloc");
	assert_true(hfi_arena_contains(a, &local)); /* no region: everything is "in" */
#else
	assert_non_null(dlsym(RTLD_DEFAULT, "mallctl"));
	assert_string_equal(hfi_arena_backend(), "jemalloc");
	assert_true(hfi_arena_contains(a, p));
	assert_false(hfi_arena_contains(a, &local));
#endif
	hfi_mm_free(&mm, p);
	hfi_arena_free(a);
}

/* ------------------------------------------------------------ sizing */

static void test_sizes(void **state)
{
	(void)state;
	char err[256];
	err[0] = '\0';
	assert_null(hfi_arena_new(0, err, sizeof(err)));
	assert_non_null(strstr(err, "out of range"));
	assert_null(hfi_arena_new(HFI_ARENA_MIN_SIZE - 1, err, sizeof(err)));
	assert_null(hfi_arena_new(HFI_ARENA_MAX_SIZE + 1, err, sizeof(err)));
	assert_null(hfi_arena_new((size_t)-1, err, sizeof(err)));
	hfi_arena_free(NULL);

	hf_mm_t mm;
	hfi_arena_t *a = arena(9 * MiB + 1, &mm); /* rounded up to 2 MiB */
	hfi_arena_stats_t s = stats(a);
	assert_int_equal(s.size, 10 * MiB);
	assert_true(s.used <= 2 * MiB); /* jemalloc: its first metadata block */
	assert_int_equal(s.allocated, 0);
	assert_int_equal(s.alloc_failures, 0);
	assert_true(s.peak >= s.used);
	/* too big for the region: NULL, counted, nothing else happens */
	assert_null(hfi_mm_alloc(&mm, 11 * MiB));
	assert_null(hfi_mm_alloc(&mm, (size_t)-1 / 2));
	assert_null(hfi_mm_calloc(&mm, (size_t)1 << 40, 16));
	assert_null(hfi_mm_calloc(&mm, (size_t)-1 / 2, 16)); /* overflow: never reaches the arena */
	void *p = hfi_mm_alloc(&mm, 0);
	assert_non_null(p);
	assert_null(hfi_mm_realloc(&mm, p, 64 * MiB));
	s = stats(a);
	assert_int_equal(s.alloc_failures, 4);
	assert_true(s.allocated >= 1 && s.allocated <= 16);
	hfi_mm_free(&mm, p);
	assert_int_equal(stats(a).allocated, 0);
	hfi_arena_free(a);
}

/* Pinned when mlock is allowed here; touched up front either way. */
static void test_pinned_and_populated(void **state)
{
	(void)state;
	const size_t size = 32 * MiB;
	long rss0 = status_kb("VmRSS"), lck0 = status_kb("VmLck");
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	bool can_lock = has_cap_ipc_lock() || rl.rlim_cur == RLIM_INFINITY ||
			rl.rlim_cur >= size + (size_t)lck0 * 1024;
	hf_mm_t mm;
	hfi_arena_t *a = arena(size, &mm);
	hfi_arena_stats_t s = stats(a);
	if (!jemalloc()) {
		assert_false(s.pinned); /* plain malloc: nothing to pin */
		hfi_arena_free(a);
		return;
	}
	assert_int_equal(s.pinned, can_lock);
	/* every page is resident before any allocation */
	assert_true(status_kb("VmRSS") - rss0 >= (long)(size / 1024) - 256);
	if (s.pinned)
		assert_true(status_kb("VmLck") - lck0 >= (long)(size / 1024));
	void *p = hfi_mm_alloc(&mm, 100);
	assert_true(hfi_arena_contains(a, p));
	int local;
	assert_false(hfi_arena_contains(a, &local));
	hfi_mm_free(&mm, p);
	hfi_arena_free(a);
	if (s.pinned)
		assert_int_equal(status_kb("VmLck"), lck0);
}

/* Without CAP_IPC_LOCK and with a small RLIMIT_MEMLOCK (a pod's usual
 * state): a warning, not pinned, still preallocated and usable. */
static void test_unpinned_fallback(void **state)
{
	(void)state;
	if (!jemalloc())
		skip();
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		drop_cap_ipc_lock();
		struct rlimit rl = { 64 * 1024, 64 * 1024 };
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			_exit(10);
		long rss0 = status_kb("VmRSS");
		char err[256];
		hfi_arena_t *a = hfi_arena_new(16 * MiB, err, sizeof(err));
		if (a == NULL)
			_exit(11);
		hfi_arena_stats_t s;
		hfi_arena_stats(a, &s);
		if (s.pinned)
			_exit(12);
		if (status_kb("VmRSS") - rss0 < (long)(16 * MiB / 1024) - 256)
			_exit(13);
		hf_mm_t mm;
		hfi_arena_mm(a, &mm);
		void *p = hfi_mm_alloc(&mm, 1000);
		if (p == NULL || !hfi_arena_contains(a, p))
			_exit(14);
		hfi_mm_free(&mm, p);
		hfi_arena_free(a);
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	char out[4096];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(out, "[WARNING] plugin/memory: cannot lock the 16 MiB region"));
	assert_non_null(strstr(out, "RLIMIT_MEMLOCK 64 KiB"));
	assert_non_null(strstr(out, "not pinned"));
}

/* ------------------------------------------------- exhaustion, recovery */

typedef struct {
	unsigned char **p;
	size_t *len;
	size_t n, cap;
	size_t requested;
	uint64_t nulls;
} fill_t;

static void fill_free(const hf_mm_t *mm, fill_t *f)
{
	for (size_t i = 0; i < f->n; i++)
		hfi_mm_free(mm, f->p[i]);
	free(f->p);
	free(f->len);
	memset(f, 0, sizeof(*f));
}

static bool fill_one(hfi_arena_t *a, const hf_mm_t *mm, fill_t *f, size_t sz)
{
	unsigned char *p = hfi_mm_alloc(mm, sz);
	if (p == NULL) {
		f->nulls++;
		return false;
	}
	if (jemalloc())
		assert_true(hfi_arena_contains(a, p) && hfi_arena_contains(a, p + sz - 1));
	if (f->n == f->cap) {
		f->cap *= 2;
		f->p = realloc(f->p, f->cap * sizeof(*f->p));
		f->len = realloc(f->len, f->cap * sizeof(*f->len));
		assert_true(f->p != NULL && f->len != NULL);
	}
	memset(p, (int)(f->n * 31 + 7) & 0xff, sz);
	f->p[f->n] = p;
	f->len[f->n++] = sz;
	f->requested += sz;
	return true;
}

/* Allocate a random mix of sizes until the first NULL, then each size,
 * largest first, until the arena says no; stamp every block.  Ends when
 * even 16 bytes fail. */
static void fill(hfi_arena_t *a, const hf_mm_t *mm, fill_t *f)
{
	static const size_t sizes[] = { 1 * MiB, 300000, 70000, 20000, 5000, 1000,
					200, 100, 40, 16 };
	const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
	memset(f, 0, sizeof(*f));
	f->cap = 1 << 16;
	f->p = malloc(f->cap * sizeof(*f->p));
	f->len = malloc(f->cap * sizeof(*f->len));
	assert_true(f->p != NULL && f->len != NULL);
	unsigned seed = 7;
	for (;;) {
		seed = seed * 1103515245u + 12345u;
		/* smaller sizes more often: roughly even bytes per size */
		size_t k = (seed >> 16) % 1024;
		size_t sz = k < 2 ? sizes[0] : k < 10 ? sizes[1] : k < 40 ? sizes[2] :
			    k < 100 ? sizes[3] : k < 200 ? sizes[4] : k < 350 ? sizes[5] :
			    k < 500 ? sizes[6] : k < 700 ? sizes[7] : k < 850 ? sizes[8] : sizes[9];
		sz -= (seed >> 8) % (sz / 4 + 1);
		if (!fill_one(a, mm, f, sz))
			break;
	}
	for (size_t k = 0; k < nsizes; k++)
		while (fill_one(a, mm, f, sizes[k]))
			;
	/* no two blocks overlap: every stamp survived */
	for (size_t i = 0; i < f->n; i++) {
		unsigned char c = (unsigned char)((i * 31 + 7) & 0xff);
		size_t l = f->len[i];
		assert_true(f->p[i][0] == c && f->p[i][l / 2] == c && f->p[i][l - 1] == c);
	}
}

static void test_exhaust_and_recover(void **state)
{
	(void)state;
	const size_t size = 16 * MiB;
	hf_mm_t mm;
	hfi_arena_t *a = arena(size, &mm);
	hfi_arena_stats_t s0 = stats(a);

	fill_t f;
	fill(a, &mm, &f);
	hfi_arena_stats_t s = stats(a);
	print_message("  %s: 16 MiB region held %zu blocks, %zu bytes requested (%.1f%%), used %zu\n",
		      hfi_arena_backend(), f.n, f.requested, 100.0 * (double)f.requested / (double)size,
		      s.used);
	assert_true(f.n > 1000);
	assert_true(f.requested >= size / 10 * 7); /* at least 70% of the region usable */
	assert_true(f.requested <= size);
	assert_true(s.used <= size && s.peak <= size);
	assert_true(s.used >= size / 10 * 9); /* it really is full */
	assert_int_equal(s.alloc_failures, f.nulls);
	assert_true(s.allocated >= f.requested);
	/* full: a small allocation fails cleanly, again and again */
	for (int i = 0; i < 100; i++)
		assert_null(hfi_mm_alloc(&mm, i % 2 ? 16 : 1 * MiB));
	assert_int_equal(stats(a).alloc_failures, f.nulls + 100);

	/* recover: free everything, allocate the same again */
	size_t first = f.requested;
	fill_free(&mm, &f);
	s = stats(a);
	assert_int_equal(s.allocated, 0);
	size_t base1 = s.used;
	assert_true(base1 <= s0.used + size / 8); /* at most allocator metadata kept */
	assert_true(s.peak <= size);
	fill(a, &mm, &f);
	assert_true(f.requested >= first / 100 * 95);
	fill_free(&mm, &f);
	s = stats(a);
	assert_int_equal(s.allocated, 0);
	assert_int_equal(s.used, base1); /* back to the same baseline */
	/* and a big block fits again */
	void *big = hfi_mm_alloc(&mm, size / 2);
	assert_non_null(big);
	hfi_mm_free(&mm, big);
	hfi_arena_free(a);
}

/* -------------------------------------------------------- split, merge */

static void test_split_merge(void **state)
{
	(void)state;
	const size_t size = 32 * MiB;
	hf_mm_t mm;
	hfi_arena_t *a = arena(size, &mm);
	size_t used0 = stats(a).used;
	enum { N = 256 };
	unsigned char *blk[N], *half[N / 2];

	/* many neighbours, each its own extent (40 KiB is a "large" size) */
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < N; i++) {
		blk[i] = hfi_mm_alloc(&mm, 40 * 1024);
		assert_non_null(blk[i]);
		memset(blk[i], i, 40 * 1024);
		/* the extent around a block: jemalloc offsets large blocks by
		 * up to a page inside their extent */
		if ((uintptr_t)blk[i] - 4096 < lo)
			lo = (uintptr_t)blk[i] - 4096;
		if ((uintptr_t)blk[i] + 44 * 1024 > hi)
			hi = (uintptr_t)blk[i] + 44 * 1024;
	}
	/* free every other one: the holes are reused (split) by smaller
	 * blocks instead of new memory past the end */
	for (int i = 0; i < N; i += 2)
		hfi_mm_free(&mm, blk[i]);
	size_t used_holes = stats(a).used;
	for (int i = 0; i < N / 2; i++) {
		half[i] = hfi_mm_alloc(&mm, 20 * 1024);
		assert_non_null(half[i]);
		memset(half[i], 0xee, 20 * 1024);
		if (jemalloc())
			assert_true((uintptr_t)half[i] >= lo && (uintptr_t)half[i] < hi);
	}
	if (jemalloc())
		assert_int_equal(stats(a).used, used_holes + (N / 2) * 24 * 1024);
	for (int i = 1; i < N; i += 2)
		assert_true(blk[i][0] == i && blk[i][40 * 1024 - 1] == i);

	/* free all neighbours: one block of most of the region fits only if
	 * they merged back into one range */
	for (int i = 1; i < N; i += 2)
		hfi_mm_free(&mm, blk[i]);
	for (int i = 0; i < N / 2; i++)
		hfi_mm_free(&mm, half[i]);
	assert_int_equal(stats(a).used, used0);
	unsigned char *whole = hfi_mm_alloc(&mm, 24 * MiB);
	assert_non_null(whole);
	if (jemalloc())
		assert_true((uintptr_t)whole < hi && (uintptr_t)whole + 24 * MiB > lo);
	memset(whole, 0x5a, 24 * MiB);
	hfi_mm_free(&mm, whole);

	/* and split again */
	for (int i = 0; i < N; i++) {
		blk[i] = hfi_mm_alloc(&mm, 40 * 1024);
		assert_non_null(blk[i]);
	}
	for (int i = 0; i < N; i++)
		hfi_mm_free(&mm, blk[i]);

	/* realloc grows and shrinks across extents, keeping the data */
	unsigned char *r = hfi_mm_alloc(&mm, 1 * MiB);
	assert_non_null(r);
	for (size_t i = 0; i < 1 * MiB; i++)
		r[i] = (unsigned char)(i * 7);
	size_t steps[] = { 4 * MiB, 12 * MiB, 100 * 1024, 3 * MiB, 6 * MiB };
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		unsigned char *n = hfi_mm_realloc(&mm, r, steps[k]);
		assert_non_null(n);
		r = n;
		size_t keep = steps[k] < 100 * 1024 ? steps[k] : 100 * 1024;
		for (size_t i = 0; i < keep; i += 997)
			assert_int_equal(r[i], (unsigned char)(i * 7));
	}
	/* a realloc that cannot fit fails and leaves the block alone */
	uint64_t fails = stats(a).alloc_failures;
	assert_null(hfi_mm_realloc(&mm, r, 40 * MiB));
	assert_int_equal(stats(a).alloc_failures, fails + 1);
	assert_int_equal(r[997], (unsigned char)(997 * 7));
	hfi_mm_free(&mm, r);
	hfi_arena_stats_t s = stats(a);
	assert_int_equal(s.allocated, 0);
	assert_int_equal(s.used, used0);
	assert_true(s.peak >= 24 * MiB && s.peak <= size);
	hfi_arena_free(a);
}

/* ----------------------------------------- generation swap, 4 readers */

/* records per generation: about 40% of the region in either backend (the
 * plain one charges a 32-byte header per block) */
static uint32_t gen_recs(void)
{
	return jemalloc() ? 85000 : 68000;
}
#define NAME_LEN 64 /* buffer; names are 39 characters */
#define READERS 4
#define CYCLES 10

typedef struct {
	uint32_t gen, idx;
	char *name;
	uint64_t check;
} rec_t;

typedef struct {
	uint32_t id;
	size_t n;
	rec_t *recs;
	uint32_t *order; /* grown with hfi_mm_grow: realloc through the arena */
	size_t norder, order_cap;
	hfi_arena_gen_t *ag; /* its arena generation, or NULL (main arena) */
} gen_t;

static uint64_t rec_check(uint32_t gen, uint32_t idx)
{
	uint64_t x = ((uint64_t)gen << 32 | idx) * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static void rec_name(char *buf, uint32_t gen, uint32_t idx)
{
	snprintf(buf, NAME_LEN, "svc-%06u-%08u.ns-%04u.svc.cluster", gen, idx, idx % 7919);
}

/* Free object by object (main arena) or the whole generation at once. */
static void gen_free(const hf_mm_t *mm, gen_t *g)
{
	if (g == NULL)
		return;
	if (g->ag != NULL) {
		hfi_arena_gen_release(g->ag);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		hfi_mm_free(mm, g->recs[i].name);
	hfi_mm_free(mm, g->recs);
	hfi_mm_free(mm, g->order);
	hfi_mm_free(mm, g);
}

/* Everything from mm; NULL if it did not fit (nothing leaked). */
static gen_t *gen_build(const hf_mm_t *mm, hfi_arena_gen_t *ag, uint32_t id)
{
	gen_t *g = hfi_mm_calloc(mm, 1, sizeof(*g));
	if (g == NULL) {
		hfi_arena_gen_release(ag);
		return NULL;
	}
	g->id = id;
	g->ag = ag;
	g->recs = hfi_mm_calloc(mm, gen_recs(), sizeof(rec_t));
	if (g->recs == NULL)
		goto fail;
	char name[NAME_LEN];
	for (uint32_t i = 0; i < gen_recs(); i++) {
		rec_name(name, id, i);
		rec_t *r = &g->recs[i];
		r->name = hfi_mm_strdup(mm, name);
		if (r->name == NULL)
			goto fail;
		r->gen = id;
		r->idx = i;
		r->check = rec_check(id, i);
		g->n = i + 1;
		if (i % 64 == 0) {
			if (hfi_mm_grow(mm, (void **)&g->order, &g->order_cap, g->norder + 1,
					sizeof(uint32_t)) != HF_EOK)
				goto fail;
			g->order[g->norder++] = i;
		}
	}
	return g;
fail:
	gen_free(mm, g);
	return NULL;
}

static void gen_poison(gen_t *g)
{
	for (size_t i = 0; i < g->n; i++) {
		memset(g->recs[i].name, 0xdd, strlen(g->recs[i].name));
		g->recs[i].gen = 0xdddddddd;
		g->recs[i].check = 0;
	}
	g->id = 0xdddddddd;
}

static _Atomic(gen_t *) published;
static atomic_uint_fast64_t epoch;
static atomic_bool stop_readers;
static atomic_uint_fast32_t final_gen;

typedef struct {
	atomic_uint_fast64_t seen;  /* epoch inside a read, 0 outside */
	uint64_t reads, bad;
	uint32_t last, distinct;
	unsigned seed;
} reader_t;

static reader_t readers[READERS];

static void *reader_main(void *arg)
{
	reader_t *r = arg;
	char name[NAME_LEN];
	const uint32_t nrecs = gen_recs();
	for (;;) {
		uint64_t e = atomic_load(&epoch);
		atomic_store(&r->seen, e);
		gen_t *g = atomic_load(&published);
		uint32_t id = g->id;
		for (int k = 0; k < 32; k++) {
			r->seed = r->seed * 1103515245u + 12345u;
			uint32_t i = (r->seed >> 8) % nrecs;
			const rec_t *x = &g->recs[i];
			rec_name(name, id, i);
			if (x->gen != id || x->idx != i || x->check != rec_check(id, i) ||
			    strcmp(x->name, name) != 0)
				r->bad++;
		}
		if (g->norder == 0 || g->order[g->norder - 1] != (nrecs - 1) / 64 * 64)
			r->bad++;
		atomic_store(&r->seen, 0);
		r->reads++;
		if (id != r->last)
			r->distinct++;
		r->last = id;
		if (atomic_load(&stop_readers) && id == atomic_load(&final_gen))
			break;
		if (r->reads % 64 == 0)
			sched_yield();
	}
	return NULL;
}

/* Wait until no reader can still be inside a generation published before
 * epoch e. */
static void wait_readers(uint64_t e)
{
	for (int i = 0; i < READERS; i++) {
		for (;;) {
			uint64_t s = atomic_load(&readers[i].seen);
			if (s == 0 || s >= e)
				break;
			sched_yield();
		}
	}
}

static gen_t *build(hfi_arena_t *a, const hf_mm_t *main_mm, bool gens, uint32_t id)
{
	if (!gens)
		return gen_build(main_mm, NULL, id);
	hf_mm_t gmm;
	hfi_arena_gen_t *ag = hfi_arena_gen_new(a, &gmm);
	assert_non_null(ag);
	return gen_build(&gmm, ag, id);
}

/* Build generation 1, start four readers, then ten times: build the next
 * generation, publish it, wait for the readers to leave the old one,
 * poison and reclaim it.  Returns used after each reclaim in after[]. */
static void swap_cycles(bool gens, size_t after[CYCLES])
{
	const size_t size = 16 * MiB;
	hf_mm_t mm;
	hfi_arena_t *a = arena(size, &mm);
	size_t used0 = stats(a).used;

	gen_t *g = build(a, &mm, gens, 1);
	assert_non_null(g);
	hfi_arena_stats_t s = stats(a);
	size_t one = s.used - used0;
	print_message("  %s%s: one generation (%u records) uses %zu bytes of the 16 MiB region\n",
		      hfi_arena_backend(), gens ? " generations" : " main arena", gen_recs(), one);
	/* two generations fit, three do not: ten rebuilds succeed only if
	 * every old generation is reclaimed */
	assert_true(used0 + 2 * one < size);
	assert_true(used0 + 3 * one > size);

	atomic_store(&published, g);
	atomic_store(&epoch, 1);
	atomic_store(&stop_readers, false);
	atomic_store(&final_gen, 0);
	pthread_t th[READERS];
	for (int i = 0; i < READERS; i++) {
		memset(&readers[i], 0, sizeof(readers[i]));
		atomic_store(&readers[i].seen, 0);
		readers[i].seed = (unsigned)i * 977u + 1;
		assert_int_equal(pthread_create(&th[i], NULL, reader_main, &readers[i]), 0);
	}

	for (uint32_t cycle = 0; cycle < CYCLES; cycle++) {
		gen_t *n = build(a, &mm, gens, cycle + 2);
		assert_non_null(n);
		gen_t *old = atomic_exchange(&published, n);
		uint64_t e = atomic_fetch_add(&epoch, 1) + 1;
		wait_readers(e);
		gen_poison(old); /* a reader still inside would see this */
		gen_free(&mm, old);
		s = stats(a);
		after[cycle] = s.used;
		assert_true(s.peak <= size);
	}
	atomic_store(&final_gen, CYCLES + 1);
	atomic_store(&stop_readers, true);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);

	uint64_t total = 0;
	for (int i = 0; i < READERS; i++) {
		assert_int_equal(readers[i].bad, 0);
		assert_true(readers[i].reads > 0);
		assert_int_equal(readers[i].last, CYCLES + 1);
		assert_true(readers[i].distinct >= 2); /* saw generation swaps */
		total += readers[i].reads;
	}
	s = stats(a);
	print_message("  %llu reads over %d swaps; used after each rebuild: %zu .. %zu, peak %zu\n",
		      (unsigned long long)total, CYCLES, after[0], after[CYCLES - 1], s.peak);
	assert_true(after[0] <= used0 + one + one / 20);
	assert_int_equal(s.alloc_failures, 0);
	assert_true(s.peak <= used0 + 2 * one + one / 10);

	gen_free(&mm, atomic_exchange(&published, NULL));
	s = stats(a);
	assert_int_equal(s.allocated, 0);
	assert_int_equal(s.used, used0); /* everything came back */
	hfi_arena_free(a);
}

/* Each generation in its own arena generation: released as a whole, the
 * footprint is exactly one generation after every rebuild. */
static void test_generation_swap(void **state)
{
	(void)state;
	size_t after[CYCLES];
	swap_cycles(true, after);
	for (int c = 1; c < CYCLES; c++)
		assert_int_equal(after[c], after[0]);
}

/* All generations from the main arena, freed object by object: still
 * bounded, but jemalloc keeps slabs the old and new generation shared, so
 * it may creep up by a few pages per rebuild (the reason for generations).
 * The plain backend counts exactly. */
static void test_generation_swap_main_arena(void **state)
{
	(void)state;
	size_t after[CYCLES];
	swap_cycles(false, after);
	for (int c = 1; c < CYCLES; c++) {
		assert_true(after[c] >= after[0]);
		assert_true(after[c] - after[0] <= (size_t)c * 16 * 1024);
		if (!jemalloc())
			assert_int_equal(after[c], after[0]);
	}
}

/* Generations: at most HFI_ARENA_GENS open; one released is reusable;
 * blocks can also be freed and reallocated one by one while open. */
static void test_generation_slots(void **state)
{
	(void)state;
	hf_mm_t mm, gmm[HFI_ARENA_GENS + 1];
	hfi_arena_t *a = arena(HFI_ARENA_MIN_SIZE, &mm);
	size_t used0 = stats(a).used;
	hfi_arena_gen_t *g[HFI_ARENA_GENS];
	void *keep[HFI_ARENA_GENS];
	for (int i = 0; i < HFI_ARENA_GENS; i++) {
		g[i] = hfi_arena_gen_new(a, &gmm[i]);
		assert_non_null(g[i]);
		keep[i] = hfi_mm_alloc(&gmm[i], 1000);
		assert_non_null(keep[i]);
		if (jemalloc())
			assert_true(hfi_arena_contains(a, keep[i]));
		memset(keep[i], i + 1, 1000);
	}
	assert_null(hfi_arena_gen_new(a, &gmm[HFI_ARENA_GENS]));
	void *m = hfi_mm_alloc(&mm, 500); /* the main arena is unaffected */
	assert_non_null(m);
	/* one by one inside a generation */
	char *x = hfi_mm_alloc(&gmm[1], 100);
	assert_non_null(x);
	strcpy(x, "grow me");
	x = hfi_mm_realloc(&gmm[1], x, 200000);
	assert_non_null(x);
	assert_string_equal(x, "grow me");
	hfi_mm_free(&gmm[1], x);
	/* too big for the region through a generation: NULL, counted */
	uint64_t f0 = stats(a).alloc_failures;
	assert_null(hfi_mm_alloc(&gmm[2], 2 * HFI_ARENA_MIN_SIZE));
	assert_int_equal(stats(a).alloc_failures, f0 + 1);

	hfi_arena_gen_release(g[2]);
	hfi_arena_gen_release(NULL);
	hfi_arena_gen_t *again = hfi_arena_gen_new(a, &gmm[2]);
	assert_ptr_equal(again, g[2]); /* its slot is reused */
	for (int i = 0; i < HFI_ARENA_GENS; i++)
		if (i != 2)
			assert_int_equal(((unsigned char *)keep[i])[999], i + 1);
	/* a released generation's memory is back: fill one to exhaustion,
	 * release, and the main arena can take (almost) the whole region */
	size_t n = 0;
	while (hfi_mm_alloc(&gmm[2], 4000) != NULL)
		n++;
	assert_true(n * 4000 > HFI_ARENA_MIN_SIZE / 2);
	hfi_arena_gen_release(again);
	for (int i = 0; i < HFI_ARENA_GENS; i++)
		if (i != 2)
			hfi_arena_gen_release(g[i]);
	hfi_mm_free(&mm, m);
	hfi_arena_stats_t s = stats(a);
	assert_int_equal(s.allocated, 0);
	assert_int_equal(s.used, used0);
	void *big = hfi_mm_alloc(&mm, HFI_ARENA_MIN_SIZE / 4 * 3);
	assert_non_null(big);
	hfi_mm_free(&mm, big);
	/* open generations at free time are discarded with the arena */
	assert_non_null(hfi_arena_gen_new(a, &gmm[0]));
	assert_non_null(hfi_mm_alloc(&gmm[0], 12345));
	hfi_arena_free(a);
}

/* ------------------------------------- allocation counter for tests */

static void test_thread_allocated(void **state)
{
	(void)state;
	uint64_t b0, b1, b2;
	if (!jemalloc()) {
		assert_false(hfi_arena_thread_allocated(&b0));
		return;
	}
	/* this binary links jemalloc, so it is the process malloc */
	assert_true(hfi_arena_thread_allocated(&b0));
	char *volatile p = malloc(1000);
	assert_non_null(p);
	assert_true(hfi_arena_thread_allocated(&b1));
	assert_true(b1 >= b0 + 1000);
	free(p);
	hf_mm_t mm;
	hfi_arena_t *a = arena(HFI_ARENA_MIN_SIZE, &mm);
	assert_true(hfi_arena_thread_allocated(&b1));
	void *q = hfi_mm_alloc(&mm, 5000);
	assert_non_null(q);
	assert_true(hfi_arena_thread_allocated(&b2));
	assert_true(b2 >= b1 + 5000); /* arena allocations count too */
	/* a loop that allocates nothing leaves it alone */
	memset(q, 1, 5000);
	volatile uint64_t x = 0;
	for (int i = 0; i < 100000; i++)
		x += (uint64_t)i * ((unsigned char *)q)[i % 5000];
	assert_true(hfi_arena_thread_allocated(&b1));
	assert_int_equal(b1, b2);
	assert_int_equal(x, 4999950000ull);
	hfi_mm_free(&mm, q);
	hfi_arena_free(a);
}

/* -------------------------------------- object store until exhaustion */

static void mk_service(hfi_service_t *svc, char *ns, char *name, char *rv, uint32_t i,
		       hfi_ip_t *ips, hfi_port_t *ports, hfi_kv_t *kv)
{
	snprintf(ns, 32, "team-%03u", i % 97);
	snprintf(name, 64, "service-number-%07u", i);
	snprintf(rv, 16, "%u", i + 1);
	char ip[32];
	snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	assert_int_equal(hfi_ip_parse(ip, &ips[0]), 0);
	ports[0] = (hfi_port_t){ "http", "TCP", 80 };
	ports[1] = (hfi_port_t){ "https", "TCP", 443 };
	ports[2] = (hfi_port_t){ "dns", "UDP", 53 };
	kv[0] = (hfi_kv_t){ "app", name };
	kv[1] = (hfi_kv_t){ "tier", "backend" };
	*svc = (hfi_service_t){ .ns = ns, .name = name, .rv = rv, .type = "ClusterIP",
				.ips = ips, .nips = 1, .ports = ports, .nports = 3,
				.labels = { kv, 2 } };
}

static int put_nth(hfi_store_t *st, uint32_t i)
{
	char ns[32], name[64], rv[16];
	hfi_ip_t ips[1];
	hfi_port_t ports[3];
	hfi_kv_t kv[2];
	hfi_service_t svc;
	mk_service(&svc, ns, name, rv, i, ips, ports, kv);
	return hfi_store_put_service(st, &svc);
}

static int put_pod(hfi_store_t *st, uint32_t i)
{
	char name[64];
	snprintf(name, sizeof(name), "web-7d4b9c-%08u", i);
	hfi_pod_t pod = { .ns = "default", .name = name, .rv = "1", .phase = "Running" };
	assert_int_equal(hfi_ip_parse("10.244.0.1", &pod.ip), 0);
	return hfi_store_put_pod(st, &pod);
}

static void check_nth(const hfi_store_t *st, uint32_t i)
{
	char ns[32], name[64], rv[16];
	hfi_ip_t ips[1];
	hfi_port_t ports[3];
	hfi_kv_t kv[2];
	hfi_service_t want;
	mk_service(&want, ns, name, rv, i, ips, ports, kv);
	const hfi_service_t *got = hfi_store_service(st, ns, name);
	assert_non_null(got);
	assert_string_equal(got->rv, rv);
	assert_int_equal(got->nips, 1);
	assert_memory_equal(got->ips[0].addr, ips[0].addr, 4);
	assert_int_equal(got->nports, 3);
	assert_string_equal(got->ports[1].name, "https");
	assert_int_equal(got->ports[2].port, 53);
}

static void test_store_exhaustion(void **state)
{
	(void)state;
	hf_mm_t mm;
	hfi_arena_t *a = arena(HFI_ARENA_MIN_SIZE, &mm);
	size_t used0 = stats(a).used;
	hfi_store_t *st = hfi_store_new(&mm);
	assert_non_null(st);

	uint32_t n = 0;
	int ret;
	while ((ret = put_nth(st, n)) == 1) {
		n++;
		assert_true(n < 1000000); /* the region must run out long before */
	}
	assert_int_equal(ret, HF_ENOMEM);
	print_message("  %s: %u services fit in %zu MiB\n", hfi_arena_backend(), n,
		      HFI_ARENA_MIN_SIZE >> 20);
	assert_true(n > 1000);
	assert_int_equal(hfi_store_count_services(st), n); /* the failed put left nothing */
	uint64_t fails = stats(a).alloc_failures;
	assert_true(fails >= 1);
	/* refused again and again, without harm */
	for (uint32_t k = 0; k < 50; k++)
		assert_int_equal(put_nth(st, n + k), HF_ENOMEM);
	assert_int_equal(hfi_store_count_services(st), n);
	for (uint32_t i = 0; i < n; i++)
		check_nth(st, i);
	/* replacing an object when full: either done or the old one kept */
	{
		char ns[32], name[64], rv[16];
		hfi_ip_t ips[1];
		hfi_port_t ports[3];
		hfi_kv_t kv[2];
		hfi_service_t svc;
		mk_service(&svc, ns, name, rv, 5, ips, ports, kv);
		svc.rv = "new-rv";
		svc.nports = 1;
		ret = hfi_store_put_service(st, &svc);
		assert_true(ret == 1 || ret == HF_ENOMEM);
		const hfi_service_t *got = hfi_store_service(st, ns, name);
		assert_non_null(got);
		if (ret == 1) {
			assert_string_equal(got->rv, "new-rv");
			assert_int_equal(got->nports, 1);
		} else {
			check_nth(st, 5);
		}
	}
	/* other kinds fail cleanly too */
	uint32_t npods = 0;
	while ((ret = put_pod(st, npods)) == 1) {
		npods++;
		assert_true(npods < 1000000);
	}
	assert_int_equal(ret, HF_ENOMEM);
	assert_int_equal(hfi_store_count_pods(st), npods);
	assert_int_equal(hfi_store_count_services(st), n);

	/* deleting makes room: new objects fit again */
	size_t before = hfi_store_count_services(st);
	char ns[32], name[64];
	for (uint32_t i = 0; i < n; i += 10) {
		snprintf(ns, sizeof(ns), "team-%03u", i % 97);
		snprintf(name, sizeof(name), "service-number-%07u", i);
		assert_int_equal(hfi_store_del_service(st, ns, name), 1);
	}
	size_t deleted = before - hfi_store_count_services(st);
	assert_true(deleted >= n / 10);
	for (uint32_t k = 0; k < deleted / 2; k++)
		assert_int_equal(put_nth(st, 2000000 + k), 1);
	for (uint32_t k = 0; k < deleted / 2; k++)
		check_nth(st, 2000000 + k);
	for (uint32_t i = 1; i < n; i += 10)
		check_nth(st, i);

	hfi_store_free(st);
	hfi_arena_stats_t s = stats(a);
	assert_int_equal(s.allocated, 0);
	assert_true(s.used <= used0 + HFI_ARENA_MIN_SIZE / 8);
	assert_true(s.peak <= s.size);
	hfi_arena_free(a);
}

int main(void)
{
	hfi_log_set_quiet(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_pinned_and_populated),
		cmocka_unit_test(test_unpinned_fallback),
		cmocka_unit_test(test_exhaust_and_recover),
		cmocka_unit_test(test_split_merge),
		cmocka_unit_test(test_generation_swap),
		cmocka_unit_test(test_generation_swap_main_arena),
		cmocka_unit_test(test_generation_slots),
		cmocka_unit_test(test_thread_allocated),
		cmocka_unit_test(test_store_exhaustion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
