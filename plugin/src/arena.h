/*
 * arena.h: the pinned memory region engine state lives in (`memory SIZE`).
 *
 * hfi_arena_new() maps one region up front, touches every page of it
 * (mlock when RLIMIT_MEMLOCK / CAP_IPC_LOCK allow, else populated but
 * unpinned, with a warning), and puts a private jemalloc arena over it
 * whose extent hooks hand out pages of that region only.  hfi_arena_mm()
 * gives an hf_mm_t that allocates from the arena: pass it to the object
 * store, index, cache, ... and their footprint can never grow past the
 * region.  Exhaustion is a normal event: the allocation returns NULL (and
 * is counted), nothing aborts, and freeing makes room again.
 *
 * Generations: data that is built, published and reclaimed as a whole (an
 * index generation, a relist's new store) can come from a generation of
 * the arena: a separate jemalloc arena over the same region.  Releasing the
 * generation hands all of its memory back at once, without walking it and
 * without leaving partly used slabs behind (building generation N+1 from
 * the same arena while N is alive interleaves their objects; once N is
 * freed, the slabs N+1 shares with it stay, and the footprint creeps up by
 * a few pages per rebuild).
 *
 * Backend, chosen at run time: the library does not link jemalloc (its
 * initial-exec TLS would make libholdfast.so impossible to dlopen() from
 * hosts such as Python ctypes); hfi_arena_new() looks mallctl, mallocx,
 * rallocx and dallocx up in the process (dlsym RTLD_DEFAULT) and uses them
 * when jemalloc 5 is there (the holdfast server links it).  Otherwise, and
 * always with HF_PLAIN_MALLOC defined (sanitizer and fuzz builds: ASan
 * cannot see inside a jemalloc arena), the same API is a counting malloc
 * wrapper with the same size cap and statistics, so exhaustion stays
 * testable; it maps nothing and is never pinned.
 *
 * jemalloc's own bookkeeping (a few hundred KiB, growing with the number of
 * extents) lives outside the region; the region holds data only.
 *
 * Thread-safety: allocation, free, stats and generation calls may come from
 * any thread at the same time; hfi_arena_free() only once nothing uses the
 * arena.
 */
#ifndef HF_ARENA_H
#define HF_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm.h"

/* Smallest and largest region accepted; sizes are rounded up to 2 MiB. */
#define HFI_ARENA_MIN_SIZE ((size_t)8 << 20)
#define HFI_ARENA_MAX_SIZE ((size_t)1 << 40)
/* Generations that can be open at the same time. */
#define HFI_ARENA_GENS 4

typedef struct hfi_arena hfi_arena_t;
typedef struct hfi_arena_gen hfi_arena_gen_t;

typedef struct hfi_arena_stats {
	size_t size;             /* region bytes (after rounding) */
	size_t used;             /* region bytes in use: extents handed to jemalloc
	                          * (live data, size-class rounding, partly filled
	                          * slabs; page granular);
	                          * plain backend: charged bytes (16-byte rounded
	                          * size + 32-byte header per block) */
	size_t peak;             /* highest used so far */
	size_t allocated;        /* bytes in live allocations (jemalloc: its stats
	                          * after an epoch refresh; plain: requested bytes) */
	bool pinned;             /* region mlock()ed */
	uint64_t alloc_failures; /* NULLs returned through the hf_mm_t */
} hfi_arena_stats_t;

/* Map and prepare a region of size bytes (rounded up to 2 MiB).  NULL with
 * a message in err on failure (size out of range, mmap or jemalloc arena
 * creation failed). */
hfi_arena_t *hfi_arena_new(size_t size, char *err, size_t errlen);
/* Destroy the jemalloc arenas (discarding whatever is still allocated in
 * them, generations included) and unmap the region.  NULL is a no-op. */
void hfi_arena_free(hfi_arena_t *a);
/* Fill *mm so that it allocates from the arena; mm stays valid as long as
 * the arena does.  Every NULL it returns is counted in alloc_failures. */
void hfi_arena_mm(hfi_arena_t *a, hf_mm_t *mm);

/* Open a generation and fill *mm so that it allocates from it (same
 * region, same cap, same failure counter).  NULL when HFI_ARENA_GENS are
 * already open (or jemalloc cannot make another arena).  Pointers from it
 * may be freed one by one through its mm while it is open. */
hfi_arena_gen_t *hfi_arena_gen_new(hfi_arena_t *a, hf_mm_t *mm);
/* Discard everything allocated through the generation and close it; its
 * mm must not be used again.  Call it only once no reader can reach the
 * generation's memory.  NULL is a no-op. */
void hfi_arena_gen_release(hfi_arena_gen_t *g);
void hfi_arena_stats(hfi_arena_t *a, hfi_arena_stats_t *out);
/* Additive (issue 5, engine): stats.used alone, cheap enough to call on
 * every allocation (one lock, no jemalloc statistics refresh). */
size_t hfi_arena_used(hfi_arena_t *a);
/* True if p lies inside the region (plain backend: always true, there is
 * no region). */
bool hfi_arena_contains(const hfi_arena_t *a, const void *p);
/* Bytes allocated so far by the calling thread through the process
 * allocator (jemalloc's thread.allocated: malloc and every arena alike),
 * for tests that prove a path allocates nothing.  False when that is not
 * known: plain backend, or jemalloc is in the process but not as its
 * malloc. */
bool hfi_arena_thread_allocated(uint64_t *bytes);
/* Backend hfi_arena_new() uses in this process: "jemalloc" (jemalloc 5 is
 * in the process) or "malloc" (it is not, or HF_PLAIN_MALLOC builds). */
const char *hfi_arena_backend(void);

#endif
