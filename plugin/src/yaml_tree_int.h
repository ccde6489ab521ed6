/*
 * yaml_tree_int.h: the node-tree builder shared by the two front ends of
 * yaml_tree.h: libyaml events (yaml_tree.c) and the JSON fast path
 * (yaml_tree_json.c).  Both drive the same builder calls (document start and
 * end, scalar, collection start and end) so they produce identical trees,
 * bounds, streaming of a root List's "items" and callback sequences.  The
 * builder owns a chunked arena (reset per document, rewound per streamed
 * List element) and per-depth child vectors that are reused.  Private to
 * yaml_tree*.c.
 */
#ifndef HF_YAML_TREE_INT_H
#define HF_YAML_TREE_INT_H

#include "yaml_tree.h"

typedef struct hfi_ytb_chunk hfi_ytb_chunk_t;

typedef struct hfi_ytb_arena {
	const hf_mm_t *mm;
	hfi_ytb_chunk_t *cur;
} hfi_ytb_arena_t;

typedef struct hfi_ytb_mark {
	hfi_ytb_chunk_t *c;
	size_t used;
} hfi_ytb_mark_t;

typedef struct hfi_ytb_frame {
	uint8_t type; /* 0 = document */
	uint32_t line, col;
	char *anchor;
	hfi_yt_node_t **kids;
	size_t n, cap;
	uint64_t weight;
	bool stream;
	size_t nitems;
	hfi_ytb_mark_t mark;
	uint64_t defs_at_mark;
} hfi_ytb_frame_t;

typedef struct hfi_ytb_anchor {
	const char *name;
	hfi_yt_node_t *node;
} hfi_ytb_anchor_t;

typedef struct hfi_ytb {
	const char *name;
	const hf_mm_t *mm;
	const hfi_yt_callbacks_t *cb;
	char *err;
	size_t errlen;
	hfi_ytb_arena_t arena;
	hfi_ytb_frame_t *frames;
	size_t depth, fcap;  /* frames in use, allocated */
	hfi_ytb_anchor_t *anchors;
	size_t nanchors, acap; /* acap: power of two or 0 */
	uint64_t anchor_defs;
	uint64_t used;       /* expanded nodes in the current document / element */
	uint64_t aliased;    /* alias expansions in this parse */
	unsigned docno;
	unsigned long ncallbacks; /* callbacks invoked so far */
	/* input */
	hfi_yt_read_fn read;
	void *rdata;
	uint64_t nread;
	bool too_big, read_failed;
	/* bytes already read from read() to be handed out again first */
	const unsigned char *replay;
	size_t replay_len, replay_off;
	/* libyaml events to drop first (the JSON front end built them), and
	 * what they must be: a mismatch means later YAML changed the meaning
	 * of the start (the root was the key of a block mapping) */
	size_t skip_events, skip_done;
	const struct hfi_ytb_ev *skip_expect;
} hfi_ytb_t;

/* A builder call of the JSON front end: type 0 document start, 1 to 3 a
 * node (enum hfi_yt_type), 4 a collection end; line 0 = any position. */
typedef struct hfi_ytb_ev {
	uint8_t type;
	uint32_t line, col;
} hfi_ytb_ev_t;

int hfi_ytb_err(hfi_ytb_t *b, int code, uint32_t line, uint32_t col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int hfi_ytb_nomem(hfi_ytb_t *b);
/* Raw input through b->read with the size bound (replay bytes first). */
long hfi_ytb_read(hfi_ytb_t *b, unsigned char *buf, size_t size);
int hfi_ytb_doc_start(hfi_ytb_t *b, uint32_t line, uint32_t col);
int hfi_ytb_doc_end(hfi_ytb_t *b);
/* s: len bytes, copied.  anchor: NUL-terminated or NULL. */
int hfi_ytb_scalar(hfi_ytb_t *b, uint32_t line, uint32_t col, bool plain, const char *s,
		   size_t len, const char *anchor);
int hfi_ytb_push(hfi_ytb_t *b, uint8_t type, uint32_t line, uint32_t col, const char *anchor);
int hfi_ytb_pop(hfi_ytb_t *b);
/* Drop the open frames above depth (unfinished nodes) and, if the frame on
 * top is a streamed sequence, the arena back to its last element. */
void hfi_ytb_unwind(hfi_ytb_t *b, size_t depth);
/* Frees everything but the caller's struct (reusable after memset). */
void hfi_ytb_fini(hfi_ytb_t *b);

/* The two front ends: drive b over the whole input. */
int hfi_yt_run_yaml(hfi_ytb_t *b);
/* JSON: *fallback set when it met non-JSON before any callback, with
 * b->replay holding every byte read (caller frees it through b->mm) so the
 * libyaml front end can start over.  Non-JSON met inside an element of a
 * streamed List after callbacks ran is handed to libyaml from that element
 * on by the JSON front end itself (see yaml_tree_json.c). */
int hfi_yt_run_json(hfi_ytb_t *b, unsigned char *first, size_t first_len, bool *fallback);

/* Parse with libyaml only (tests: the reference for the JSON path). */
int hfi_yt_parse_yaml(const char *name, hfi_yt_read_fn read, void *data, const hf_mm_t *mm,
		      const hfi_yt_callbacks_t *cb, char *err, size_t errlen);

#endif
