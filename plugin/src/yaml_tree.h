/*
 * yaml_tree.h: libyaml events -> a small generic node tree (scalars,
 * sequences, mappings), one document at a time, with hard bounds (depth,
 * expanded node count per object, input size).  Aliases share the anchored
 * node (no copy) but count its full size against the budget, so alias bombs
 * fail fast.  The elements of a top-level "items" sequence (a Kubernetes
 * List) are handed out one by one and freed, so a List of 100k objects is
 * never held in memory at once.  Private to the manifest source.
 */
#ifndef HF_YAML_TREE_H
#define HF_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm.h"

#define HFI_YT_MAX_DEPTH 256
#define HFI_YT_MAX_NODES 10000000ULL /* expanded nodes per document or list item */
#define HFI_YT_MAX_INPUT (1ULL << 30) /* bytes */

enum hfi_yt_type { HFI_YT_SCALAR = 1, HFI_YT_SEQ = 2, HFI_YT_MAP = 3 };

typedef struct hfi_yt_node hfi_yt_node_t;
struct hfi_yt_node {
	uint8_t type;      /* enum hfi_yt_type */
	bool plain;        /* scalar: plain style without a !!str tag (may be null/int/bool) */
	bool streamed;     /* sequence: its items were handed to on_item and are gone */
	uint32_t line;     /* 1-based start position */
	uint32_t col;
	uint64_t weight;   /* expanded size (nodes) */
	size_t len;        /* scalar: bytes in str; seq: items; map: pairs */
	union {
		char *str;             /* scalar, NUL-terminated (may hold NULs: check len) */
		hfi_yt_node_t **kids;  /* seq: len items; map: 2*len (key, value, ...) */
	} u;
};

/* Reads up to size bytes into buf; returns bytes read, 0 at EOF, -1 on error. */
typedef long (*hfi_yt_read_fn)(void *data, unsigned char *buf, size_t size);

/* Ready-made readers: from memory (data: an hfi_yt_buf_t, off starting at 0)
 * and from a stdio stream (data: a FILE *). */
typedef struct hfi_yt_buf {
	const char *p;
	size_t len, off;
} hfi_yt_buf_t;
long hfi_yt_read_buf(void *data, unsigned char *buf, size_t size);
long hfi_yt_read_file(void *data, unsigned char *buf, size_t size);

typedef struct hfi_yt_callbacks {
	/* A top-level List element (document root is a mapping with an "items"
	 * sequence).  path: element index.  Return 0 (done, freed), 1 (keep it
	 * alive until the end of the document), or a negative hf_err (stop). */
	int (*on_item)(void *ctx, const hfi_yt_node_t *item, unsigned docno, size_t index);
	/* A document (root NULL for an empty document).  Negative = stop. */
	int (*on_doc)(void *ctx, const hfi_yt_node_t *root, unsigned docno);
	void *ctx;
} hfi_yt_callbacks_t;

/*
 * Parse everything read() yields.  Returns 0, the first negative value a
 * callback returned (err left to the callback), or HF_EPARSE / HF_ENOMEM /
 * HF_EIO with "NAME:LINE:COL: message" (or "NAME: message") in err.
 * mm: transient allocations (NULL = malloc).
 */
int hfi_yt_parse(const char *name, hfi_yt_read_fn read, void *data, const hf_mm_t *mm,
		 const hfi_yt_callbacks_t *cb, char *err, size_t errlen);

/* Helpers over the tree. */
/* Value for key in a mapping (last one wins), NULL if absent or not a map. */
const hfi_yt_node_t *hfi_yt_get(const hfi_yt_node_t *map, const char *key);
/* True for an absent node or a plain null / ~ / empty scalar. */
bool hfi_yt_is_null(const hfi_yt_node_t *n);
/* Scalar text equal to s (and free of NULs). */
bool hfi_yt_str_eq(const hfi_yt_node_t *n, const char *s);

#endif
