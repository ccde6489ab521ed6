/*
 * fuzz_json_tree.h: the differential check shared by tests/unit/test_yaml_json.c
 * and tests/fuzz/fuzz_json_tree.c.  jt_run parses an input with
 * hfi_yt_parse (JSON fast path for '{' / '[' input) or with
 * hfi_yt_parse_yaml (libyaml only) and records every callback and every
 * node of the trees it is handed (type, plain flag, streamed flag, line,
 * column, weight, length, bytes) as text, so two runs compare with strcmp.
 * chunk > 0 makes the reader hand out at most chunk bytes per call.
 */
#ifndef HF_FUZZ_JSON_TREE_H
#define HF_FUZZ_JSON_TREE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree_int.h"

typedef struct jt_out {
	char *s;
	size_t len, cap;
	int ret;
	char err[256];
} jt_out_t;

static void jt_put(jt_out_t *o, const char *s, size_t n)
{
	if (o->cap - o->len < n + 1) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap - o->len < n + 1)
			cap *= 2;
		char *p = realloc(o->s, cap);
		if (p == NULL)
			abort();
		o->s = p;
		o->cap = cap;
	}
	memcpy(o->s + o->len, s, n);
	o->len += n;
	o->s[o->len] = '\0';
}

static void jt_printf(jt_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jt_printf(jt_out_t *o, const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	jt_put(o, buf, n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void jt_node(jt_out_t *o, const hfi_yt_node_t *n, int depth)
{
	if (n == NULL) {
		jt_put(o, "(null)\n", 7);
		return;
	}
	jt_printf(o, "%*s%u p%d s%d @%u:%u w%llu n%zu", depth, "", n->type, n->plain, n->streamed,
		  n->line, n->col, (unsigned long long)n->weight, n->len);
	if (n->type == HFI_YT_SCALAR) {
		jt_put(o, " '", 2);
		for (size_t i = 0; i < n->len; i++) {
			unsigned char c = (unsigned char)n->u.str[i];
			if (c < 0x20 || c >= 0x7F || c == '\\')
				jt_printf(o, "\\%02x", c);
			else
				jt_put(o, (const char *)&n->u.str[i], 1);
		}
		jt_put(o, "'\n", 2);
		return;
	}
	jt_put(o, "\n", 1);
	size_t k = n->type == HFI_YT_MAP ? 2 * n->len : n->len;
	for (size_t i = 0; i < k; i++)
		jt_node(o, n->u.kids[i], depth + 1);
}

static int jt_on_item(void *ctx, const hfi_yt_node_t *item, unsigned docno, size_t index)
{
	jt_out_t *o = ctx;
	jt_printf(o, "item %u %zu\n", docno, index);
	jt_node(o, item, 1);
	return 0;
}

static int jt_on_doc(void *ctx, const hfi_yt_node_t *root, unsigned docno)
{
	jt_out_t *o = ctx;
	jt_printf(o, "doc %u\n", docno);
	jt_node(o, root, 1);
	return 0;
}

typedef struct jt_src {
	const char *p;
	size_t len, off, chunk;
} jt_src_t;

static long jt_read(void *data, unsigned char *buf, size_t size)
{
	jt_src_t *s = data;
	size_t n = s->len - s->off;
	if (n > size)
		n = size;
	if (s->chunk > 0 && n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (long)n;
}

/* Parse p/len; yaml: libyaml only.  Fills o (o->s: the record; free it). */
static void jt_run(const char *p, size_t len, bool yaml, size_t chunk, const hf_mm_t *mm,
		   jt_out_t *o)
{
	memset(o, 0, sizeof(*o));
	jt_put(o, "", 0);
	jt_src_t src = { .p = p, .len = len, .chunk = chunk };
	hfi_yt_callbacks_t cb = { .on_item = jt_on_item, .on_doc = jt_on_doc, .ctx = o };
	o->ret = yaml ? hfi_yt_parse_yaml("t", jt_read, &src, mm, &cb, o->err, sizeof(o->err))
		      : hfi_yt_parse("t", jt_read, &src, mm, &cb, o->err, sizeof(o->err));
}

/* First non-blank byte is '{' or '[' (the input takes the JSON path). */
static bool jt_is_json(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i < len && (p[i] == '{' || p[i] == '[');
}

#endif
