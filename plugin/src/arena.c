/*
 * arena.c: the pinned memory region (`memory SIZE`) and the allocators over
 * it.  Two backends behind one API, chosen when an arena is created:
 *
 * jemalloc, when the host process already has it (the holdfast server
 * links it; the library itself does not: Debian's libjemalloc uses
 * initial-exec TLS and could not be dlopen()ed by hosts such as Python
 * ctypes).  Its entry points are looked up with dlsym(RTLD_DEFAULT) at
 * hfi_arena_new() time.  One mmap, populated and mlock()ed up front, carved
 * into extents for private jemalloc arenas (the main one and up to
 * HFI_ARENA_GENS generations) by the extent hooks below, with a page bitmap
 * kept outside the region; and the hf_mm_t that allocates from them.
 *
 * Free space lives in the bitmap only: freed extents come straight back
 * (dirty/muzzy decay 0, dalloc succeeds) and jemalloc's speculative
 * "retained" growth is refused, so neighbours merge in the bitmap.  Left
 * inside jemalloc they would not: it never merges extents that came from
 * different hook calls, and the region would end up in pieces.  Nothing is
 * ever purged or decommitted: pages stay resident.
 *
 * Otherwise (no jemalloc 5 in the process, or HF_PLAIN_MALLOC builds: ASan,
 * fuzzing) a counting malloc wrapper with the same cap, statistics and
 * generations, at the bottom.
 */
#include "arena.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast.h"
#include "log.h"

#ifndef HF_PLAIN_MALLOC
#define HF_ARENA_JE 1
#include <dlfcn.h>
#include <jemalloc/jemalloc.h> /* types and flag macros only: nothing is linked */
#include <sys/mman.h>
#include <sys/resource.h>
#else
#define HF_ARENA_JE 0
#endif

#define ARENA_ALIGN ((size_t)2 << 20) /* region size and start: 2 MiB (x86-64 huge page) */

struct blk;

/* The main arena or a generation. */
struct hfi_arena_gen {
	struct hfi_arena *a;
	bool busy;              /* generation open (guarded by a->lock) */
	/* jemalloc */
	unsigned ind;           /* jemalloc arena index */
	int flags;              /* MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE */
	bool created;           /* jemalloc arena exists (destroy it on free) */
	/* counting malloc */
	struct blk *head;       /* its live blocks (guarded by a->lock) */
};

struct hfi_arena {
#if HF_ARENA_JE
	extent_hooks_t hooks;   /* first: the hooks get this pointer back */
#endif
	bool jemalloc;          /* backend: jemalloc, else counting malloc */
	size_t size;            /* region bytes */
	struct hfi_arena_gen main;
	struct hfi_arena_gen gens[HFI_ARENA_GENS];
	pthread_mutex_t lock;   /* guards the bitmap, the counters, the block lists, busy */
	atomic_uint_least64_t failures;
	/* jemalloc: the region and its page bitmap */
	char *base;             /* region, ARENA_ALIGN-aligned */
	size_t page;            /* jemalloc's page size */
	bool pinned;
	uint64_t *bitmap;       /* bit set = page handed to jemalloc */
	size_t nwords, npages;
	size_t hint;            /* no free page below this index */
	size_t fresh;           /* pages from here on were never handed out (still zero) */
	size_t used_pages, peak_pages;
	/* counting malloc: charged and requested bytes */
	size_t used, peak, allocated;
};

static size_t round_size(size_t size)
{
	return (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

static bool size_ok(size_t size, char *err, size_t errlen)
{
	if (size < HFI_ARENA_MIN_SIZE || size > HFI_ARENA_MAX_SIZE) {
		snprintf(err, errlen, "memory size %zu out of range (%zu MiB to %zu GiB)",
			 size, HFI_ARENA_MIN_SIZE >> 20, HFI_ARENA_MAX_SIZE >> 30);
		return false;
	}
	return true;
}

#if HF_ARENA_JE
/* ------------------------------------------------------------ jemalloc */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define NONE ((size_t)-1)

/* jemalloc's entry points, from the process (never linked: see the top).
 * Set once, by resolve(); usable when je_ok. */
static struct {
	__typeof__(&mallctl) ctl;
	__typeof__(&mallocx) mallocx;
	__typeof__(&rallocx) rallocx;
	__typeof__(&dallocx) dallocx;
} je;
static bool je_ok;
static pthread_once_t je_once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
	void *ctl = dlsym(RTLD_DEFAULT, "mallctl");
	void *mx = dlsym(RTLD_DEFAULT, "mallocx");
	void *rx = dlsym(RTLD_DEFAULT, "rallocx");
	void *dx = dlsym(RTLD_DEFAULT, "dallocx");
	if (ctl == NULL || mx == NULL || rx == NULL || dx == NULL)
		return;
	je.ctl = (__typeof__(je.ctl))ctl;
	je.mallocx = (__typeof__(je.mallocx))mx;
	je.rallocx = (__typeof__(je.rallocx))rx;
	je.dallocx = (__typeof__(je.dallocx))dx;
	/* the extent hook table and arena controls used here are jemalloc 5's */
	const char *ver = NULL;
	size_t len = sizeof(ver);
	if (je.ctl("version", &ver, &len, NULL, 0) != 0 || ver == NULL || strncmp(ver, "5.", 2) != 0)
		return;
	je_ok = true;
}

/* True if arenas are made by jemalloc in this process. */
static bool use_jemalloc(void)
{
	(void)pthread_once(&je_once, resolve);
	return je_ok;
}

static struct hfi_arena *from_hooks(extent_hooks_t *h)
{
	return (struct hfi_arena *)(void *)h; /* hooks is the first member */
}

/* ---- page bitmap (caller holds a->lock) */

/* First index >= i whose bit equals want (0 or 1), at most end. */
static size_t bm_next(const struct hfi_arena *a, size_t i, size_t end, int want)
{
	while (i < end) {
		size_t w = i / 64;
		uint64_t bits = want ? a->bitmap[w] : ~a->bitmap[w];
		bits &= ~(uint64_t)0 << (i % 64);
		if (bits != 0) {
			size_t j = w * 64 + (size_t)__builtin_ctzll(bits);
			return j < end ? j : end;
		}
		i = (w + 1) * 64;
	}
	return end;
}

static void bm_set(struct hfi_arena *a, size_t i, size_t n, bool on)
{
	for (size_t k = i; k < i + n;) {
		size_t w = k / 64, b = k % 64;
		size_t cnt = 64 - b < i + n - k ? 64 - b : i + n - k;
		uint64_t mask = (cnt == 64 ? ~(uint64_t)0 : (((uint64_t)1 << cnt) - 1)) << b;
		if (on)
			a->bitmap[w] |= mask;
		else
			a->bitmap[w] &= ~mask;
		k += cnt;
	}
}

/* Lowest page index of n free pages whose address is a multiple of align,
 * or NONE. */
static size_t bm_find(struct hfi_arena *a, size_t n, size_t align)
{
	a->hint = bm_next(a, a->hint, a->npages, 0);
	size_t i = a->hint;
	while (i < a->npages && a->npages - i >= n) {
		uintptr_t addr = (uintptr_t)a->base + i * a->page;
		uintptr_t al = (addr + align - 1) & ~(uintptr_t)(align - 1);
		i += (al - addr) / a->page;
		if (i >= a->npages || a->npages - i < n)
			break;
		size_t busy = bm_next(a, i, i + n, 1);
		if (busy == i + n)
			return i;
		i = bm_next(a, busy, a->npages, 0);
	}
	return NONE;
}

/* Page range of [addr, addr+size) if it lies in the region, page-aligned. */
static bool range_of(const struct hfi_arena *a, const void *addr, size_t size,
		     size_t *idx, size_t *n)
{
	uintptr_t p = (uintptr_t)addr, b = (uintptr_t)a->base;
	if (p < b || p - b > a->size || size > a->size - (p - b) || size == 0)
		return false;
	if ((p - b) % a->page != 0 || size % a->page != 0)
		return false;
	*idx = (p - b) / a->page;
	*n = size / a->page;
	return true;
}

/* ---- extent hooks.  No allocation in here: jemalloc may hold its locks. */

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size,
			size_t alignment, bool *zero, bool *commit, unsigned ind)
{
	(void)ind;
	struct hfi_arena *a = from_hooks(h);
	/* jemalloc 5.3 first asks for more than it needs ("retained" growth,
	 * *commit false on input) and keeps the unused tail for itself: such
	 * tails never come back to the bitmap and would cut the region into
	 * pieces jemalloc cannot merge.  Refusing makes it ask again for
	 * exactly what it needs (*commit true), so all free space stays here. */
	if (!*commit)
		return NULL;
	if (size == 0 || size % a->page != 0 || size > a->size)
		return NULL;
	if (alignment < a->page)
		alignment = a->page;
	if ((alignment & (alignment - 1)) != 0)
		return NULL;
	size_t n = size / a->page, i;
	pthread_mutex_lock(&a->lock);
	if (new_addr != NULL) {
		size_t k;
		if (!range_of(a, new_addr, size, &i, &k) ||
		    ((uintptr_t)new_addr & (alignment - 1)) != 0 ||
		    bm_next(a, i, i + n, 1) != i + n)
			i = NONE;
	} else {
		i = bm_find(a, n, alignment);
	}
	if (i == NONE) {
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
	bm_set(a, i, n, true);
	a->used_pages += n;
	if (a->used_pages > a->peak_pages)
		a->peak_pages = a->used_pages;
	bool fresh = i >= a->fresh;
	if (i + n > a->fresh)
		a->fresh = i + n;
	pthread_mutex_unlock(&a->lock);
	char *p = a->base + i * a->page;
	if (*zero && !fresh)
		memset(p, 0, size);
	else if (fresh)
		*zero = true; /* never handed out: still the kernel's zero pages */
	*commit = true;
	return p;
}

/* Give pages back to the bitmap; false if the range is not ours/in use. */
static bool give_back(struct hfi_arena *a, void *addr, size_t size)
{
	size_t i, n;
	if (!range_of(a, addr, size, &i, &n))
		return false;
	pthread_mutex_lock(&a->lock);
	bool ok = bm_next(a, i, i + n, 0) == i + n; /* all in use */
	if (ok) {
		bm_set(a, i, n, false);
		a->used_pages -= n;
		if (i < a->hint)
			a->hint = i;
	}
	pthread_mutex_unlock(&a->lock);
	return ok;
}

static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size,
			bool committed, unsigned ind)
{
	(void)committed;
	(void)ind;
	return !give_back(from_hooks(h), addr, size); /* false = taken back */
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size,
			 bool committed, unsigned ind)
{
	(void)committed;
	(void)ind;
	give_back(from_hooks(h), addr, size);
}

/* Pages are always committed (and resident): committing is a no-op.
 * decommit and both purges are left NULL (opted out): jemalloc then keeps
 * the pages committed and never returns them to the kernel, and never
 * assumes that a "decommitted" extent reads back as zero. */
static bool hook_commit(extent_hooks_t *h, void *addr, size_t size,
			size_t offset, size_t length, unsigned ind)
{
	(void)h; (void)addr; (void)size; (void)offset; (void)length; (void)ind;
	return false;
}

/* One mapping: any extent can be split and any neighbours merged. */
static bool hook_split(extent_hooks_t *h, void *addr, size_t size,
		       size_t size_a, size_t size_b, bool committed, unsigned ind)
{
	(void)h; (void)addr; (void)size; (void)size_a; (void)size_b;
	(void)committed; (void)ind;
	return false;
}

static bool hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a,
		       void *addr_b, size_t size_b, bool committed, unsigned ind)
{
	(void)h; (void)addr_a; (void)size_a; (void)addr_b; (void)size_b;
	(void)committed; (void)ind;
	return false;
}

/* ---- region */

static void region_pin(struct hfi_arena *a)
{
	if (mlock(a->base, a->size) == 0) {
		a->pinned = true;
		return;
	}
	int e = errno;
	struct rlimit rl;
	char lim[32] = "unknown";
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		if (rl.rlim_cur == RLIM_INFINITY)
			snprintf(lim, sizeof(lim), "unlimited");
		else
			snprintf(lim, sizeof(lim), "%llu KiB", (unsigned long long)rl.rlim_cur / 1024);
	}
	hfi_log(HFI_LOG_WARNING, "memory",
		"cannot lock the %zu MiB region in RAM (mlock: %s; RLIMIT_MEMLOCK %s, "
		"needs CAP_IPC_LOCK or a larger limit): it is preallocated but not pinned",
		a->size >> 20, strerror(e), lim);
	/* populate anyway: every page is touched now, not on first use */
	if (madvise(a->base, a->size, MADV_POPULATE_WRITE) != 0) {
		for (size_t off = 0; off < a->size; off += a->page)
			((volatile char *)a->base)[off] = 0;
	}
}

static int region_map(struct hfi_arena *a, char *err, size_t errlen)
{
	size_t span = a->size + ARENA_ALIGN;
	char *m = mmap(NULL, span, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "cannot map the %zu MiB memory region: %s",
			 a->size >> 20, strerror(errno));
		return HF_ENOMEM;
	}
	/* trim to a 2 MiB-aligned start so huge pages and jemalloc's 2 MiB
	 * aligned metadata blocks fit without waste */
	uintptr_t start = ((uintptr_t)m + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
	size_t head = start - (uintptr_t)m, tail = span - head - a->size;
	if (head != 0)
		munmap(m, head);
	if (tail != 0)
		munmap((char *)start + a->size, tail);
	a->base = (char *)start;
	(void)madvise(a->base, a->size, MADV_HUGEPAGE); /* best effort, before population */
	region_pin(a);
	return HF_EOK;
}

static int arena_ctl(unsigned ind, const char *name, void *val, size_t len)
{
	char key[64];
	snprintf(key, sizeof(key), "arena.%u.%s", ind, name);
	return je.ctl(key, NULL, NULL, val, len);
}

/* jemalloc 5.3's experimental.arenas_create_ext takes this (arena_config_t,
 * not in the public header); metadata_use_hooks false keeps jemalloc's own
 * metadata out of the region (arenas.create would take a 2 MiB block of it
 * per arena).  Older/newer layouts are refused with EINVAL or ENOENT, and
 * arenas.create is used instead. */
struct arena_config {
	extent_hooks_t *extent_hooks;
	bool metadata_use_hooks;
};

static int sub_create(struct hfi_arena *a, struct hfi_arena_gen *g)
{
	extent_hooks_t *hp = &a->hooks;
	struct arena_config cfg = { hp, false };
	size_t len = sizeof(g->ind);
	int ret = je.ctl("experimental.arenas_create_ext", &g->ind, &len, &cfg, sizeof(cfg));
	if (ret == ENOENT || ret == EINVAL) {
		len = sizeof(g->ind);
		ret = je.ctl("arenas.create", &g->ind, &len, &hp, sizeof(hp));
	}
	if (ret != 0)
		return ret;
	g->created = true;
	g->flags = MALLOCX_ARENA(g->ind) | MALLOCX_TCACHE_NONE;
	/* freed extents go straight back to the bitmap (see the top comment) */
	ssize_t decay = 0;
	if (arena_ctl(g->ind, "dirty_decay_ms", &decay, sizeof(decay)) != 0 ||
	    arena_ctl(g->ind, "muzzy_decay_ms", &decay, sizeof(decay)) != 0)
		return EINVAL;
	return 0;
}

static void sub_destroy(struct hfi_arena_gen *g)
{
	if (g->created)
		(void)arena_ctl(g->ind, "destroy", NULL, 0);
	g->created = false;
}

/* Region, bitmap and main jemalloc arena of a fresh (calloc'd, lock
 * initialised) arena; on failure a message in err, and je_fini() undoes
 * whatever was done. */
static int je_init(struct hfi_arena *a, char *err, size_t errlen)
{
	size_t len = sizeof(a->page);
	if (je.ctl("arenas.page", &a->page, &len, NULL, 0) != 0 || a->page == 0 ||
	    (a->page & (a->page - 1)) != 0 || ARENA_ALIGN % a->page != 0) {
		snprintf(err, errlen, "jemalloc: cannot read arenas.page");
		return HF_EINVAL;
	}
	a->npages = a->size / a->page;
	a->nwords = (a->npages + 63) / 64;
	a->bitmap = calloc(a->nwords, sizeof(uint64_t));
	if (a->bitmap == NULL) {
		snprintf(err, errlen, "out of memory");
		return HF_ENOMEM;
	}
	if (a->npages % 64 != 0) /* bits past the end: never free */
		a->bitmap[a->nwords - 1] = ~(uint64_t)0 << (a->npages % 64);
	int ret = region_map(a, err, errlen);
	if (ret != HF_EOK)
		return ret;
	a->hooks = (extent_hooks_t){
		.alloc = hook_alloc,
		.dalloc = hook_dalloc,
		.destroy = hook_destroy,
		.commit = hook_commit,
		.decommit = NULL,
		.purge_lazy = NULL,
		.purge_forced = NULL,
		.split = hook_split,
		.merge = hook_merge,
	};
	ret = sub_create(a, &a->main);
	if (ret != 0) {
		snprintf(err, errlen, "jemalloc: cannot create the memory arena: %s", strerror(ret));
		return HF_ENOMEM;
	}
	return HF_EOK;
}

static void je_fini(struct hfi_arena *a)
{
	for (int i = 0; i < HFI_ARENA_GENS; i++)
		sub_destroy(&a->gens[i]);
	sub_destroy(&a->main);
	if (a->base != NULL)
		munmap(a->base, a->size);
	free(a->bitmap);
}

static void *je_mm_alloc(void *ctx, size_t size)
{
	struct hfi_arena_gen *g = ctx;
	void *p = je.mallocx(size != 0 ? size : 1, g->flags);
	if (p == NULL)
		atomic_fetch_add(&g->a->failures, 1);
	return p;
}

static void *je_mm_realloc(void *ctx, void *ptr, size_t size)
{
	struct hfi_arena_gen *g = ctx;
	if (ptr == NULL)
		return je_mm_alloc(ctx, size);
	void *p = je.rallocx(ptr, size != 0 ? size : 1, g->flags);
	if (p == NULL)
		atomic_fetch_add(&g->a->failures, 1);
	return p;
}

static void je_mm_free(void *ctx, void *ptr)
{
	(void)ctx;
	if (ptr != NULL)
		je.dallocx(ptr, MALLOCX_TCACHE_NONE);
}

/* Discards every allocation of the generation's arena; with decay 0 its
 * extents come straight back to the bitmap.  The arena itself is kept
 * (reset, not destroyed) and reused by the next generation in the slot. */
static void je_gen_release(struct hfi_arena_gen *g)
{
	(void)arena_ctl(g->ind, "reset", NULL, 0);
}

static size_t arena_stat(unsigned ind, const char *name)
{
	char key[96];
	size_t v = 0, len = sizeof(v);
	snprintf(key, sizeof(key), "stats.arenas.%u.%s", ind, name);
	if (je.ctl(key, &v, &len, NULL, 0) != 0)
		return 0;
	return v;
}

static void je_stats(struct hfi_arena *a, hfi_arena_stats_t *out)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);
	(void)je.ctl("epoch", &epoch, &len, &epoch, len);
	pthread_mutex_lock(&a->lock);
	out->used = a->used_pages * a->page;
	out->peak = a->peak_pages * a->page;
	pthread_mutex_unlock(&a->lock);
	for (int i = -1; i < HFI_ARENA_GENS; i++) {
		struct hfi_arena_gen *g = i < 0 ? &a->main : &a->gens[i];
		if (g->created)
			out->allocated += arena_stat(g->ind, "small.allocated") +
					  arena_stat(g->ind, "large.allocated");
	}
	out->pinned = a->pinned;
}

static bool read_thread_allocated(uint64_t *bytes)
{
	size_t len = sizeof(*bytes);
	return je.ctl("thread.allocated", bytes, &len, NULL, 0) == 0;
}

static bool je_thread_allocated(uint64_t *bytes)
{
	/* 0 unknown, 1 jemalloc serves malloc(), 2 it does not */
	static atomic_int state;
	int st = atomic_load(&state);
	if (st == 0) {
		uint64_t before, after;
		if (!read_thread_allocated(&before))
			return false;
		void *volatile p = malloc(64);
		free(p);
		if (!read_thread_allocated(&after))
			return false;
		st = after != before ? 1 : 2;
		atomic_store(&state, st);
	}
	return st == 1 && read_thread_allocated(bytes);
}

#else /* !HF_ARENA_JE */

static bool use_jemalloc(void)
{
	return false;
}

#endif /* HF_ARENA_JE */

/* ------------------------------------------------ counting malloc */

/* Each block carries a header linking it into its generation's list (so a
 * generation can be released as a whole); a block is charged its size
 * rounded up to 16 plus the header. */
struct blk {
	size_t size;
	struct hfi_arena_gen *gen;
	struct blk *prev, *next;
};
#define HDR sizeof(struct blk)
_Static_assert(sizeof(struct blk) % 16 == 0, "header keeps malloc's alignment");

static size_t charge(size_t n)
{
	return ((n + 15) & ~(size_t)15) + HDR;
}

/* Caller holds the lock. */
static void link_blk(struct hfi_arena_gen *g, struct blk *b)
{
	b->gen = g;
	b->prev = NULL;
	b->next = g->head;
	if (g->head != NULL)
		g->head->prev = b;
	g->head = b;
}

static void unlink_blk(struct blk *b)
{
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		b->gen->head = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
}

/* Free every block of g (caller holds the lock). */
static void drop_all(struct hfi_arena_gen *g)
{
	struct hfi_arena *a = g->a;
	while (g->head != NULL) {
		struct blk *b = g->head;
		g->head = b->next;
		a->used -= charge(b->size);
		a->allocated -= b->size;
		free(b);
	}
}

static void *fail(struct hfi_arena *a)
{
	atomic_fetch_add(&a->failures, 1);
	return NULL;
}

static void *plain_alloc(void *ctx, size_t size)
{
	struct hfi_arena_gen *g = ctx;
	struct hfi_arena *a = g->a;
	if (size == 0)
		size = 1;
	if (size > a->size)
		return fail(a);
	struct blk *b = malloc(HDR + size);
	if (b == NULL)
		return fail(a);
	b->size = size;
	pthread_mutex_lock(&a->lock);
	bool ok = charge(size) <= a->size - a->used;
	if (ok) {
		a->used += charge(size);
		a->allocated += size;
		if (a->used > a->peak)
			a->peak = a->used;
		link_blk(g, b);
	}
	pthread_mutex_unlock(&a->lock);
	if (!ok) {
		free(b);
		return fail(a);
	}
	return b + 1;
}

static void plain_free(void *ctx, void *ptr)
{
	struct hfi_arena_gen *g = ctx;
	struct hfi_arena *a = g->a;
	if (ptr == NULL)
		return;
	struct blk *b = (struct blk *)ptr - 1;
	pthread_mutex_lock(&a->lock);
	unlink_blk(b);
	a->used -= charge(b->size);
	a->allocated -= b->size;
	pthread_mutex_unlock(&a->lock);
	free(b);
}

static void *plain_realloc(void *ctx, void *ptr, size_t size)
{
	struct hfi_arena_gen *g = ctx;
	struct hfi_arena *a = g->a;
	if (ptr == NULL)
		return plain_alloc(ctx, size);
	if (size == 0)
		size = 1;
	if (size > a->size)
		return fail(a);
	struct blk *b = (struct blk *)ptr - 1;
	size_t old = b->size;
	struct hfi_arena_gen *owner = b->gen;
	pthread_mutex_lock(&a->lock);
	size_t rest = a->used - charge(old);
	bool ok = charge(size) <= a->size - rest;
	if (ok) {
		unlink_blk(b);
		a->used = rest + charge(size);
		a->allocated = a->allocated - old + size;
		if (a->used > a->peak)
			a->peak = a->used;
	}
	pthread_mutex_unlock(&a->lock);
	if (!ok)
		return fail(a);
	struct blk *n = realloc(b, HDR + size);
	bool failed = n == NULL;
	pthread_mutex_lock(&a->lock);
	if (failed) { /* b is intact: put it back as it was */
		a->used = a->used - charge(size) + charge(old);
		a->allocated = a->allocated - size + old;
		n = b;
	} else {
		n->size = size;
	}
	link_blk(owner, n);
	pthread_mutex_unlock(&a->lock);
	return failed ? fail(a) : n + 1;
}

/* ------------------------------------------------------------ API */

hfi_arena_t *hfi_arena_new(size_t size, char *err, size_t errlen)
{
	if (!size_ok(size, err, errlen))
		return NULL;
	struct hfi_arena *a = calloc(1, sizeof(*a));
	if (a == NULL || pthread_mutex_init(&a->lock, NULL) != 0) {
		snprintf(err, errlen, "out of memory");
		free(a);
		return NULL;
	}
	a->size = round_size(size);
	a->main.a = a;
	for (int i = 0; i < HFI_ARENA_GENS; i++)
		a->gens[i].a = a;
	atomic_init(&a->failures, 0);
	a->jemalloc = use_jemalloc();
#if HF_ARENA_JE
	if (a->jemalloc && je_init(a, err, errlen) != HF_EOK) {
		hfi_arena_free(a);
		return NULL;
	}
#endif
	return a;
}

void hfi_arena_free(hfi_arena_t *a)
{
	if (a == NULL)
		return;
#if HF_ARENA_JE
	if (a->jemalloc)
		je_fini(a);
#endif
	if (!a->jemalloc) {
		drop_all(&a->main);
		for (int i = 0; i < HFI_ARENA_GENS; i++)
			drop_all(&a->gens[i]);
	}
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void mm_fill(struct hfi_arena_gen *g, hf_mm_t *mm)
{
	mm->ctx = g;
#if HF_ARENA_JE
	if (g->a->jemalloc) {
		mm->alloc = je_mm_alloc;
		mm->realloc = je_mm_realloc;
		mm->free = je_mm_free;
		return;
	}
#endif
	mm->alloc = plain_alloc;
	mm->realloc = plain_realloc;
	mm->free = plain_free;
}

void hfi_arena_mm(hfi_arena_t *a, hf_mm_t *mm)
{
	mm_fill(&a->main, mm);
}

hfi_arena_gen_t *hfi_arena_gen_new(hfi_arena_t *a, hf_mm_t *mm)
{
	struct hfi_arena_gen *g = NULL;
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < HFI_ARENA_GENS && g == NULL; i++)
		if (!a->gens[i].busy)
			g = &a->gens[i];
	if (g != NULL)
		g->busy = true;
	pthread_mutex_unlock(&a->lock);
	if (g == NULL)
		return NULL;
#if HF_ARENA_JE
	/* jemalloc: created once, reset (not destroyed) on release, reused after */
	if (a->jemalloc && !g->created && sub_create(a, g) != 0) {
		sub_destroy(g);
		pthread_mutex_lock(&a->lock);
		g->busy = false;
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
#endif
	mm_fill(g, mm);
	return g;
}

void hfi_arena_gen_release(hfi_arena_gen_t *g)
{
	if (g == NULL)
		return;
#if HF_ARENA_JE
	if (g->a->jemalloc)
		je_gen_release(g);
#endif
	pthread_mutex_lock(&g->a->lock);
	if (!g->a->jemalloc)
		drop_all(g);
	g->busy = false;
	pthread_mutex_unlock(&g->a->lock);
}

void hfi_arena_stats(hfi_arena_t *a, hfi_arena_stats_t *out)
{
	memset(out, 0, sizeof(*out));
#if HF_ARENA_JE
	if (a->jemalloc)
		je_stats(a, out);
#endif
	if (!a->jemalloc) {
		pthread_mutex_lock(&a->lock);
		out->used = a->used;
		out->peak = a->peak;
		out->allocated = a->allocated;
		pthread_mutex_unlock(&a->lock);
		out->pinned = false;
	}
	out->size = a->size;
	out->alloc_failures = atomic_load(&a->failures);
}

size_t hfi_arena_used(hfi_arena_t *a)
{
	pthread_mutex_lock(&a->lock);
	size_t used = a->jemalloc ? a->used_pages * a->page : a->used;
	pthread_mutex_unlock(&a->lock);
	return used;
}

bool hfi_arena_contains(const hfi_arena_t *a, const void *p)
{
	if (!a->jemalloc)
		return true; /* no region */
	uintptr_t u = (uintptr_t)p, b = (uintptr_t)a->base;
	return u >= b && u - b < a->size;
}

bool hfi_arena_thread_allocated(uint64_t *bytes)
{
#if HF_ARENA_JE
	if (use_jemalloc())
		return je_thread_allocated(bytes);
#endif
	(void)bytes;
	return false;
}

const char *hfi_arena_backend(void)
{
	return use_jemalloc() ? "jemalloc" : "malloc";
}
