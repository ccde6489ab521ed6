/* mm.c: the default (malloc) and torture allocators behind hf_mm_t. */
#include "mm.h"

#include <stdlib.h>
#include <string.h>

#include "holdfast.h"

void *hfi_mm_alloc(const hf_mm_t *mm, size_t size)
{
	if (size == 0)
		size = 1;
	if (mm == NULL || mm->alloc == NULL)
		return malloc(size);
	return mm->alloc(mm->ctx, size);
}

void *hfi_mm_calloc(const hf_mm_t *mm, size_t n, size_t size)
{
	if (size != 0 && n > ((size_t)-1) / size)
		return NULL;
	void *p = hfi_mm_alloc(mm, n * size);
	if (p != NULL)
		memset(p, 0, (n * size) != 0 ? n * size : 1);
	return p;
}

void *hfi_mm_realloc(const hf_mm_t *mm, void *ptr, size_t size)
{
	if (size == 0)
		size = 1;
	if (mm == NULL || mm->realloc == NULL)
		return realloc(ptr, size);
	return mm->realloc(mm->ctx, ptr, size);
}

void hfi_mm_free(const hf_mm_t *mm, void *ptr)
{
	if (ptr == NULL)
		return;
	if (mm == NULL || mm->free == NULL)
		free(ptr);
	else
		mm->free(mm->ctx, ptr);
}

char *hfi_mm_strndup(const hf_mm_t *mm, const char *s, size_t n)
{
	char *d = hfi_mm_alloc(mm, n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *hfi_mm_strdup(const hf_mm_t *mm, const char *s)
{
	return s == NULL ? NULL : hfi_mm_strndup(mm, s, strlen(s));
}

int hfi_mm_grow(const hf_mm_t *mm, void **arr, size_t *cap, size_t need,
		size_t elsz)
{
	if (need <= *cap)
		return HF_EOK;
	size_t ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (ncap > ((size_t)-1) / 2 / elsz)
			return HF_ENOMEM;
		ncap *= 2;
	}
	void *n = hfi_mm_realloc(mm, *arr, ncap * elsz);
	if (n == NULL)
		return HF_ENOMEM;
	*arr = n;
	*cap = ncap;
	return HF_EOK;
}

static int torture_should_fail(hfi_mm_torture_t *t)
{
	t->count++;
	return t->fail_at != 0 && t->count >= t->fail_at;
}

static void *torture_alloc(void *ctx, size_t size)
{
	hfi_mm_torture_t *t = ctx;
	if (torture_should_fail(t))
		return NULL;
	void *p = malloc(size);
	if (p != NULL)
		t->live++;
	return p;
}

static void *torture_realloc(void *ctx, void *ptr, size_t size)
{
	hfi_mm_torture_t *t = ctx;
	if (torture_should_fail(t))
		return NULL;
	void *p = realloc(ptr, size);
	if (p != NULL && ptr == NULL)
		t->live++;
	return p;
}

static void torture_free(void *ctx, void *ptr)
{
	hfi_mm_torture_t *t = ctx;
	if (ptr != NULL)
		t->live--;
	free(ptr);
}

void hfi_mm_torture_init(hf_mm_t *mm, hfi_mm_torture_t *t,
			 unsigned long fail_at)
{
	memset(t, 0, sizeof(*t));
	t->fail_at = fail_at;
	mm->ctx = t;
	mm->alloc = torture_alloc;
	mm->realloc = torture_realloc;
	mm->free = torture_free;
}
