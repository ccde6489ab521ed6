/*
 * mm.h: the allocator context threaded through every allocating call
 * (after Knot's knot_mm_t).  Long-lived engine state (config, objects,
 * index) is allocated through an hf_mm_t so a later arena (pinned jemalloc
 * region) or a failing allocator (torture tests) can be swapped in without
 * globals.  A NULL mm means plain malloc.
 */
#ifndef HF_MM_H
#define HF_MM_H

#include <stddef.h>

typedef struct hf_mm {
	void *ctx;
	void *(*alloc)(void *ctx, size_t size);
	void *(*realloc)(void *ctx, void *ptr, size_t size);
	void (*free)(void *ctx, void *ptr);
} hf_mm_t;

void *hfi_mm_alloc(const hf_mm_t *mm, size_t size);
void *hfi_mm_calloc(const hf_mm_t *mm, size_t n, size_t size);
void *hfi_mm_realloc(const hf_mm_t *mm, void *ptr, size_t size);
void hfi_mm_free(const hf_mm_t *mm, void *ptr);
char *hfi_mm_strdup(const hf_mm_t *mm, const char *s);
char *hfi_mm_strndup(const hf_mm_t *mm, const char *s, size_t n);
/* Grow *arr (element size elsz) so that it holds at least need elements;
 * *cap is updated.  Returns 0 or HF_ENOMEM (arr untouched). */
int hfi_mm_grow(const hf_mm_t *mm, void **arr, size_t *cap, size_t need,
		size_t elsz);

/* Torture allocator for tests: fails the fail_at-th allocation (1-based)
 * and every one after it when sticky; counts allocations. */
typedef struct hfi_mm_torture {
	unsigned long count;
	unsigned long fail_at; /* 0 = never fail */
	unsigned long live;    /* allocations not yet freed */
} hfi_mm_torture_t;
void hfi_mm_torture_init(hf_mm_t *mm, hfi_mm_torture_t *t,
			 unsigned long fail_at);

#endif
