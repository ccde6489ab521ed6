/*
 * yaml_tree.c: builds the generic node tree of yaml_tree.h from libyaml
 * events.  Nodes and strings live in a chunked arena that is reset after
 * each document and rewound after each streamed List element; collections
 * collect their children in per-depth vectors that are reused.  Bounds:
 * depth HFI_YT_MAX_DEPTH, HFI_YT_MAX_NODES expanded nodes per document (or
 * List element), HFI_YT_MAX_NODES alias expansions per parse, input size
 * HFI_YT_MAX_INPUT.  hfi_yt_parse sends input whose first non-blank byte
 * is '{' or '[' to the JSON fast path (yaml_tree_json.c), which drives the
 * same builder calls (yaml_tree_int.h).
 */
#include "yaml_tree_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "holdfast.h"

/* ---- readers ------------------------------------------------------------ */

long hfi_yt_read_buf(void *data, unsigned char *buf, size_t size)
{
	hfi_yt_buf_t *b = data;
	size_t n = b->len - b->off;
	if (n > size)
		n = size;
	memcpy(buf, b->p + b->off, n);
	b->off += n;
	return (long)n;
}

long hfi_yt_read_file(void *data, unsigned char *buf, size_t size)
{
	FILE *f = data;
	size_t n = fread(buf, 1, size, f);
	if (n == 0 && ferror(f))
		return -1;
	return (long)n;
}

/* ---- arena -------------------------------------------------------------- */

struct hfi_ytb_chunk {
	struct hfi_ytb_chunk *prev;
	size_t size, used;
	uint64_t data[]; /* 8-byte aligned */
};
typedef hfi_ytb_chunk_t chunk_t;
typedef hfi_ytb_arena_t arena_t;
typedef hfi_ytb_mark_t arena_mark_t;

#define CHUNK_SIZE (64 * 1024)

static void *arena_alloc(arena_t *a, size_t size)
{
	if (size > SIZE_MAX - 8)
		return NULL;
	size = (size + 7) & ~(size_t)7;
	if (a->cur == NULL || a->cur->size - a->cur->used < size) {
		size_t cs = size > CHUNK_SIZE ? size : CHUNK_SIZE;
		chunk_t *c = hfi_mm_alloc(a->mm, sizeof(chunk_t) + cs);
		if (c == NULL)
			return NULL;
		c->prev = a->cur;
		c->size = cs;
		c->used = 0;
		a->cur = c;
	}
	void *p = (char *)a->cur->data + a->cur->used;
	a->cur->used += size;
	return p;
}

static arena_mark_t arena_mark(const arena_t *a)
{
	return (arena_mark_t){ .c = a->cur, .used = a->cur != NULL ? a->cur->used : 0 };
}

static void arena_release(arena_t *a, arena_mark_t m)
{
	while (a->cur != NULL && a->cur != m.c) {
		chunk_t *p = a->cur->prev;
		hfi_mm_free(a->mm, a->cur);
		a->cur = p;
	}
	if (a->cur != NULL)
		a->cur->used = m.used;
}

static void arena_free(arena_t *a)
{
	arena_release(a, (arena_mark_t){ 0 });
}

/* ---- builder ------------------------------------------------------------ */

typedef hfi_ytb_frame_t frame_t;
typedef hfi_ytb_anchor_t anchor_ent_t;
typedef hfi_ytb_t builder_t;

int hfi_ytb_err(builder_t *b, int code, uint32_t line, uint32_t col, const char *fmt, ...)
{
	if (b->err == NULL || b->errlen == 0)
		return code;
	int n = line ? snprintf(b->err, b->errlen, "%s:%u:%u: ", b->name, line, col)
		     : snprintf(b->err, b->errlen, "%s: ", b->name);
	if (n < 0 || (size_t)n >= b->errlen)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

int hfi_ytb_nomem(builder_t *b)
{
	return hfi_ytb_err(b, HF_ENOMEM, 0, 0, "out of memory");
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static int anchor_put(builder_t *b, const char *name, hfi_yt_node_t *node)
{
	if ((b->nanchors + 1) * 2 > b->acap) {
		size_t ncap = b->acap ? b->acap * 2 : 64;
		anchor_ent_t *na = hfi_mm_calloc(b->mm, ncap, sizeof(*na));
		if (na == NULL)
			return HF_ENOMEM;
		for (size_t i = 0; i < b->acap; i++) {
			if (b->anchors[i].name == NULL)
				continue;
			size_t s = str_hash(b->anchors[i].name) & (ncap - 1);
			while (na[s].name != NULL)
				s = (s + 1) & (ncap - 1);
			na[s] = b->anchors[i];
		}
		hfi_mm_free(b->mm, b->anchors);
		b->anchors = na;
		b->acap = ncap;
	}
	size_t s = str_hash(name) & (b->acap - 1);
	while (b->anchors[s].name != NULL && strcmp(b->anchors[s].name, name) != 0)
		s = (s + 1) & (b->acap - 1);
	if (b->anchors[s].name == NULL)
		b->nanchors++;
	b->anchors[s].name = name; /* a redefinition replaces the old one */
	b->anchors[s].node = node;
	b->anchor_defs++;
	return HF_EOK;
}

static hfi_yt_node_t *anchor_get(const builder_t *b, const char *name)
{
	if (b->acap == 0)
		return NULL;
	size_t s = str_hash(name) & (b->acap - 1);
	for (size_t i = 0; i < b->acap && b->anchors[s].name != NULL; i++, s = (s + 1) & (b->acap - 1))
		if (strcmp(b->anchors[s].name, name) == 0)
			return b->anchors[s].node;
	return NULL;
}

static void anchors_clear(builder_t *b)
{
	if (b->acap)
		memset(b->anchors, 0, b->acap * sizeof(*b->anchors));
	b->nanchors = 0;
}

static char *arena_strdup(builder_t *b, const char *s, size_t n)
{
	char *d = arena_alloc(&b->arena, n + 1);
	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int budget(builder_t *b, uint64_t w, uint32_t line, uint32_t col)
{
	b->used += w;
	if (b->used > HFI_YT_MAX_NODES)
		return hfi_ytb_err(b, HF_EPARSE, line, col,
			     "document too large: more than %llu nodes (after alias expansion)",
			     (unsigned long long)HFI_YT_MAX_NODES);
	return HF_EOK;
}

/* Hand a finished node to the open collection on top of the stack. */
static int add_node(builder_t *b, hfi_yt_node_t *node)
{
	frame_t *f = &b->frames[b->depth - 1];
	if (f->stream) {
		b->ncallbacks++;
		int ret = b->cb->on_item != NULL
			  ? b->cb->on_item(b->cb->ctx, node, b->docno, f->nitems) : 0;
		f->nitems++;
		if (ret < 0)
			return ret;
		if (ret == 0 && b->anchor_defs == f->defs_at_mark) {
			arena_release(&b->arena, f->mark);
		} else {
			f->mark = arena_mark(&b->arena);
			f->defs_at_mark = b->anchor_defs;
		}
		b->used = 0;
		return HF_EOK;
	}
	if (f->type == 0 && f->n > 0) /* cannot happen with libyaml: one root */
		return hfi_ytb_err(b, HF_EPARSE, node->line, node->col, "more than one root node");
	int ret = hfi_mm_grow(b->mm, (void **)&f->kids, &f->cap, f->n + 1, sizeof(*f->kids));
	if (ret != HF_EOK)
		return hfi_ytb_nomem(b);
	f->kids[f->n++] = node;
	f->weight += node->weight;
	return HF_EOK;
}

static int register_anchor(builder_t *b, const char *anchor, hfi_yt_node_t *node)
{
	if (anchor == NULL)
		return HF_EOK;
	if (anchor_put(b, anchor, node) != HF_EOK)
		return hfi_ytb_nomem(b);
	return HF_EOK;
}

static bool is_str_tag(const yaml_char_t *tag)
{
	return tag != NULL && (strcmp((const char *)tag, "tag:yaml.org,2002:str") == 0 ||
			       strcmp((const char *)tag, "!!str") == 0);
}

int hfi_ytb_scalar(builder_t *b, uint32_t line, uint32_t col, bool plain, const char *s,
		   size_t len, const char *anchor)
{
	int ret = budget(b, 1, line, col);
	if (ret != HF_EOK)
		return ret;
	hfi_yt_node_t *n = arena_alloc(&b->arena, sizeof(*n) + len + 1);
	if (n == NULL)
		return hfi_ytb_nomem(b);
	memset(n, 0, sizeof(*n));
	n->type = HFI_YT_SCALAR;
	n->plain = plain;
	n->line = line;
	n->col = col;
	n->weight = 1;
	n->len = len;
	n->u.str = (char *)(n + 1);
	if (len > 0)
		memcpy(n->u.str, s, len);
	n->u.str[len] = '\0';
	if (anchor != NULL) {
		char *an = arena_strdup(b, anchor, strlen(anchor));
		if (an == NULL)
			return hfi_ytb_nomem(b);
		ret = register_anchor(b, an, n);
		if (ret != HF_EOK)
			return ret;
	}
	return add_node(b, n);
}

static int on_scalar(builder_t *b, const yaml_event_t *ev)
{
	uint32_t line = (uint32_t)ev->start_mark.line + 1, col = (uint32_t)ev->start_mark.column + 1;
	return hfi_ytb_scalar(b, line, col,
			      ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
				      !is_str_tag(ev->data.scalar.tag),
			      (const char *)ev->data.scalar.value, ev->data.scalar.length,
			      (const char *)ev->data.scalar.anchor);
}

static int on_alias(builder_t *b, const yaml_event_t *ev)
{
	uint32_t line = (uint32_t)ev->start_mark.line + 1, col = (uint32_t)ev->start_mark.column + 1;
	const char *a = (const char *)ev->data.alias.anchor;
	hfi_yt_node_t *n = anchor_get(b, a);
	if (n == NULL)
		return hfi_ytb_err(b, HF_EPARSE, line, col, "unknown anchor '%.64s'", a);
	b->aliased += n->weight;
	if (b->aliased > HFI_YT_MAX_NODES)
		return hfi_ytb_err(b, HF_EPARSE, line, col,
			     "too many alias expansions (more than %llu nodes)",
			     (unsigned long long)HFI_YT_MAX_NODES);
	int ret = budget(b, n->weight, line, col);
	if (ret != HF_EOK)
		return ret;
	return add_node(b, n);
}

int hfi_ytb_push(builder_t *b, uint8_t type, uint32_t line, uint32_t col, const char *anchor)
{
	if (b->depth > HFI_YT_MAX_DEPTH)
		return hfi_ytb_err(b, HF_EPARSE, line, col, "nesting deeper than %d levels",
			     HFI_YT_MAX_DEPTH);
	if (b->depth == b->fcap) {
		size_t cap = b->fcap;
		int ret = hfi_mm_grow(b->mm, (void **)&b->frames, &cap, b->depth + 1, sizeof(frame_t));
		if (ret != HF_EOK)
			return hfi_ytb_nomem(b);
		memset(b->frames + b->fcap, 0, (cap - b->fcap) * sizeof(frame_t));
		b->fcap = cap;
	}
	char *an = NULL;
	if (anchor != NULL) {
		an = arena_strdup(b, anchor, strlen(anchor));
		if (an == NULL)
			return hfi_ytb_nomem(b);
	}
	frame_t *parent = b->depth > 0 ? &b->frames[b->depth - 1] : NULL;
	frame_t *f = &b->frames[b->depth];
	f->type = type;
	f->line = line;
	f->col = col;
	f->anchor = an;
	f->n = 0;
	f->weight = 1;
	f->stream = false;
	f->nitems = 0;
	/* the "items" sequence of a root mapping is streamed */
	if (type == HFI_YT_SEQ && b->depth == 2 && parent->type == HFI_YT_MAP &&
	    (parent->n & 1) && hfi_yt_str_eq(parent->kids[parent->n - 1], "items")) {
		f->stream = true;
		f->mark = arena_mark(&b->arena);
		f->defs_at_mark = b->anchor_defs;
	}
	b->depth++;
	return HF_EOK;
}

int hfi_ytb_pop(builder_t *b)
{
	frame_t *f = &b->frames[b->depth - 1];
	int ret = budget(b, 1, f->line, f->col);
	if (ret != HF_EOK)
		return ret;
	hfi_yt_node_t *n = arena_alloc(&b->arena, sizeof(*n));
	if (n == NULL)
		return hfi_ytb_nomem(b);
	memset(n, 0, sizeof(*n));
	n->type = f->type;
	n->line = f->line;
	n->col = f->col;
	n->weight = f->weight;
	n->streamed = f->stream;
	n->len = f->type == HFI_YT_MAP ? f->n / 2 : f->n;
	if (f->n > 0) {
		n->u.kids = arena_alloc(&b->arena, f->n * sizeof(*n->u.kids));
		if (n->u.kids == NULL)
			return hfi_ytb_nomem(b);
		memcpy(n->u.kids, f->kids, f->n * sizeof(*n->u.kids));
	}
	b->depth--;
	ret = register_anchor(b, f->anchor, n);
	if (ret != HF_EOK)
		return ret;
	return add_node(b, n);
}

long hfi_ytb_read(builder_t *b, unsigned char *buf, size_t size)
{
	if (b->replay_off < b->replay_len) {
		size_t n = b->replay_len - b->replay_off;
		if (n > size)
			n = size;
		memcpy(buf, b->replay + b->replay_off, n);
		b->replay_off += n;
		return (long)n;
	}
	long n = b->read(b->rdata, buf, size);
	if (n < 0) {
		b->read_failed = true;
		return -1;
	}
	b->nread += (uint64_t)n;
	if (b->nread > HFI_YT_MAX_INPUT) {
		b->too_big = true;
		return -1;
	}
	return n;
}

static int yaml_read(void *data, unsigned char *buf, size_t size, size_t *size_read)
{
	long n = hfi_ytb_read(data, buf, size);
	if (n < 0)
		return 0;
	*size_read = (size_t)n;
	return 1;
}

static int parser_error(builder_t *b, const yaml_parser_t *p)
{
	if (b->too_big)
		return hfi_ytb_err(b, HF_ERANGE, 0, 0, "larger than 1 GiB");
	if (b->read_failed)
		return hfi_ytb_err(b, HF_EIO, 0, 0, "read error");
	if (p->error == YAML_MEMORY_ERROR)
		return hfi_ytb_nomem(b);
	const char *problem = p->problem != NULL ? p->problem : "unknown error";
	if (p->error == YAML_READER_ERROR)
		return hfi_ytb_err(b, HF_EPARSE, (uint32_t)p->mark.line + 1, (uint32_t)p->mark.column + 1,
			     "yaml: %s (byte %zu)", problem, p->problem_offset);
	uint32_t line = (uint32_t)p->problem_mark.line + 1, col = (uint32_t)p->problem_mark.column + 1;
	if (p->context != NULL)
		return hfi_ytb_err(b, HF_EPARSE, line, col, "yaml: %s %s (line %zu column %zu)", p->context,
			     problem, p->context_mark.line + 1, p->context_mark.column + 1);
	return hfi_ytb_err(b, HF_EPARSE, line, col, "yaml: %s", problem);
}

int hfi_ytb_doc_start(builder_t *b, uint32_t line, uint32_t col)
{
	b->docno++;
	b->used = 0;
	return hfi_ytb_push(b, 0, line, col, NULL);
}

int hfi_ytb_doc_end(builder_t *b)
{
	frame_t *f = &b->frames[0];
	const hfi_yt_node_t *root = f->n > 0 ? f->kids[0] : NULL;
	b->ncallbacks++;
	int ret = b->cb->on_doc != NULL ? b->cb->on_doc(b->cb->ctx, root, b->docno) : 0;
	b->depth = 0;
	anchors_clear(b);
	arena_free(&b->arena);
	return ret < 0 ? ret : HF_EOK;
}

void hfi_ytb_unwind(builder_t *b, size_t depth)
{
	b->depth = depth;
	frame_t *f = &b->frames[depth - 1];
	if (f->stream)
		arena_release(&b->arena, f->mark);
	b->used = 0;
}

static int on_event(builder_t *b, const yaml_event_t *ev, bool *done)
{
	uint32_t line = (uint32_t)ev->start_mark.line + 1, col = (uint32_t)ev->start_mark.column + 1;
	if (b->skip_events > 0 && ev->type != YAML_STREAM_START_EVENT &&
	    ev->type != YAML_STREAM_END_EVENT) {
		/* already built by the JSON front end: must be the same */
		const hfi_ytb_ev_t *x = &b->skip_expect[b->skip_done++];
		b->skip_events--;
		uint8_t t = ev->type == YAML_DOCUMENT_START_EVENT ? 0
			    : ev->type == YAML_SCALAR_EVENT ? HFI_YT_SCALAR
			    : ev->type == YAML_SEQUENCE_START_EVENT ? HFI_YT_SEQ
			    : ev->type == YAML_MAPPING_START_EVENT ? HFI_YT_MAP
			    : ev->type == YAML_SEQUENCE_END_EVENT || ev->type == YAML_MAPPING_END_EVENT ? 4
			    : 5;
		if (t != x->type || (x->line != 0 && (line != x->line || col != x->col)))
			return hfi_ytb_err(b, HF_EPARSE, line, col,
					   "yaml: YAML after the List's elements changes the "
					   "structure of the JSON document read so far");
		return HF_EOK;
	}
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		*done = true;
		return HF_EOK;
	case YAML_DOCUMENT_START_EVENT:
		return hfi_ytb_doc_start(b, line, col);
	case YAML_DOCUMENT_END_EVENT:
		return hfi_ytb_doc_end(b);
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return hfi_ytb_push(b, HFI_YT_SEQ, line, col,
				    (const char *)ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return hfi_ytb_push(b, HFI_YT_MAP, line, col,
				    (const char *)ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return hfi_ytb_pop(b);
	default:
		return HF_EOK;
	}
}

int hfi_yt_run_yaml(builder_t *b)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return hfi_ytb_nomem(b);
	yaml_parser_set_input(&parser, yaml_read, b);
	int ret = HF_EOK;
	bool done = false;
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			ret = parser_error(b, &parser);
			break;
		}
		ret = on_event(b, &ev, &done);
		yaml_event_delete(&ev);
		if (ret != HF_EOK)
			break;
	}
	yaml_parser_delete(&parser);
	return ret;
}

void hfi_ytb_fini(builder_t *b)
{
	for (size_t i = 0; i < b->fcap; i++)
		hfi_mm_free(b->mm, b->frames[i].kids);
	hfi_mm_free(b->mm, b->frames);
	hfi_mm_free(b->mm, b->anchors);
	arena_free(&b->arena);
	b->frames = NULL;
	b->fcap = b->depth = 0;
	b->anchors = NULL;
	b->acap = b->nanchors = 0;
	b->anchor_defs = b->used = b->aliased = 0;
	b->docno = 0;
}

static void b_init(builder_t *b, const char *name, hfi_yt_read_fn read, void *data,
		   const hf_mm_t *mm, const hfi_yt_callbacks_t *cb, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	b->name = name != NULL ? name : "-";
	b->mm = mm;
	b->cb = cb;
	b->err = err;
	b->errlen = errlen;
	b->arena.mm = mm;
	b->read = read;
	b->rdata = data;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

int hfi_yt_parse_yaml(const char *name, hfi_yt_read_fn read, void *data, const hf_mm_t *mm,
		      const hfi_yt_callbacks_t *cb, char *err, size_t errlen)
{
	builder_t b;
	b_init(&b, name, read, data, mm, cb, err, errlen);
	int ret = hfi_yt_run_yaml(&b);
	hfi_ytb_fini(&b);
	return ret;
}

#define PEEK_CHUNK (64 * 1024)

int hfi_yt_parse(const char *name, hfi_yt_read_fn read, void *data, const hf_mm_t *mm,
		 const hfi_yt_callbacks_t *cb, char *err, size_t errlen)
{
	builder_t b;
	b_init(&b, name, read, data, mm, cb, err, errlen);
	/* Peek up to the first byte that is not a space or line break. */
	unsigned char *peek = NULL;
	size_t len = 0, cap = 0, i = 0;
	int ret = HF_EOK;
	for (;;) {
		while (i < len && (peek[i] == ' ' || peek[i] == '\n' || peek[i] == '\r'))
			i++;
		if (i < len)
			break;
		size_t want = PEEK_CHUNK;
		if (read == hfi_yt_read_buf) { /* a small body: no 64 KiB buffer */
			const hfi_yt_buf_t *src = data;
			size_t left = src->len - src->off;
			want = left == 0 ? 1 : left < want ? left : want;
		}
		if (hfi_mm_grow(mm, (void **)&peek, &cap, len + want, 1) != HF_EOK) {
			ret = hfi_ytb_nomem(&b);
			goto out;
		}
		long n = hfi_ytb_read(&b, peek + len, want);
		if (n < 0) {
			ret = b.too_big ? hfi_ytb_err(&b, HF_ERANGE, 0, 0, "larger than 1 GiB")
					: hfi_ytb_err(&b, HF_EIO, 0, 0, "read error");
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (i < len && (peek[i] == '{' || peek[i] == '[')) {
		bool fallback = false;
		ret = hfi_yt_run_json(&b, peek, len, &fallback);
		if (!fallback)
			goto out;
		/* Not JSON after all (YAML flow syntax): start over with libyaml. */
		hfi_mm_free(mm, peek);
		peek = (unsigned char *)b.replay;
		len = b.replay_len;
		hfi_ytb_fini(&b);
		if (err != NULL && errlen > 0)
			err[0] = '\0';
	}
	b.replay = peek;
	b.replay_len = len;
	b.replay_off = 0;
	ret = hfi_yt_run_yaml(&b);
out:
	hfi_mm_free(mm, peek);
	hfi_ytb_fini(&b);
	return ret;
}

const hfi_yt_node_t *hfi_yt_get(const hfi_yt_node_t *map, const char *key)
{
	if (map == NULL || map->type != HFI_YT_MAP)
		return NULL;
	const hfi_yt_node_t *v = NULL;
	for (size_t i = 0; i < map->len; i++)
		if (hfi_yt_str_eq(map->u.kids[2 * i], key))
			v = map->u.kids[2 * i + 1];
	return v;
}

bool hfi_yt_is_null(const hfi_yt_node_t *n)
{
	if (n == NULL)
		return true;
	if (n->type != HFI_YT_SCALAR || !n->plain)
		return false;
	const char *s = n->u.str;
	return n->len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

bool hfi_yt_str_eq(const hfi_yt_node_t *n, const char *s)
{
	if (n == NULL || n->type != HFI_YT_SCALAR)
		return false;
	size_t l = strlen(s);
	return n->len == l && memcmp(n->u.str, s, l) == 0;
}
