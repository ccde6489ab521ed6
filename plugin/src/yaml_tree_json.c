/*
 * yaml_tree_json.c: the JSON fast path of yaml_tree.h.  A streaming
 * recursive-descent RFC 8259 parser reading through the builder's reader in
 * large chunks and driving the same builder calls as the libyaml front end,
 * so the node tree (types, plain flags, text, line/column counted in
 * characters as libyaml does), bounds and callbacks are identical.  Where
 * libyaml, reading JSON as YAML, would refuse valid JSON (a mapping key
 * longer than 1024 characters or split from its ':' across lines, C1
 * controls, U+FFFE/U+FFFF, a tab at the start of a line after the root)
 * this parser refuses it too, and it leaves NEL / LS / PS inside strings
 * (libyaml folds them as line breaks) to libyaml.  Beyond JSON it accepts
 * libyaml's extra double-quoted escapes and a raw tab in strings; unlike
 * libyaml it decodes \u surrogate pairs (valid JSON) into UTF-8.
 * On anything else that is not JSON (YAML flow syntax: anchors, plain or
 * single-quoted scalars, comments, trailing commas, more documents) it
 * hands over to libyaml: if no callback ran yet, hfi_yt_parse starts over
 * with libyaml on the bytes kept; inside an element of a streamed List,
 * libyaml is given the document's start up to the List's '[' (its events,
 * already built, are skipped), blank padding that puts the element back at
 * its line and column, and the input from that element on, so the builder
 * carries on with the same List (earlier elements, kept or not, stay
 * valid); should libyaml then read the start differently (the JSON root
 * was the key of a YAML block mapping), that is an error.  Non-JSON between
 * List elements or after the List, once elements were handed out, is an
 * error here although libyaml might read it.
 */
#include "yaml_tree_int.h"

#include <string.h>

#include "holdfast.h"

#define JBUF (256 * 1024)
#define KEY_LIMIT 1024 /* libyaml: an implicit key ends within 1024 characters */

typedef struct jp {
	hfi_ytb_t *b;
	const unsigned char *buf;
	size_t len, pos;
	unsigned char *own; /* our read buffer (buf points into the peek buffer at first) */
	bool eof, ioerr;
	uint32_t line;
	uint64_t cidx, lstart; /* characters consumed, character index of the line start */
	/* every byte read while no callback has run (for the libyaml restart) */
	unsigned char *rec;
	size_t rlen, rcap;
	bool recording;
	/* decoded string */
	char *sb;
	size_t slen, scap;
	bool syntax;  /* the error is a JSON syntax error (libyaml may read it) */
	size_t nev;   /* builder calls made */
	hfi_ytb_ev_t *evs; /* the builder calls before the streamed List's '[' */
	size_t evcap;
	bool evfull;  /* evs could not grow: no resuming with libyaml */
	/* the streamed List: frame depth, document prefix up to its '[' */
	size_t items_depth, ev_prefix;
	unsigned char *prefix;
	size_t prefix_len;
	uint32_t pline, pcol;
	/* the current List element's bytes from its start (iactive) */
	bool iactive;
	uint32_t iline, icol;
	size_t irec_from;
	unsigned char *irec;
	size_t ilen, icap;
} jp_t;

static uint32_t col_of(const jp_t *p)
{
	return (uint32_t)(p->cidx - p->lstart + 1);
}

/* Count (and, before the streamed List, note) a builder call. */
static void ev(jp_t *p, uint8_t type, uint32_t line, uint32_t col)
{
	if (p->items_depth == 0 && !p->evfull) {
		if (hfi_mm_grow(p->b->mm, (void **)&p->evs, &p->evcap, p->nev + 1, sizeof(*p->evs)) ==
		    HF_EOK)
			p->evs[p->nev] = (hfi_ytb_ev_t){ .type = type, .line = line, .col = col };
		else
			p->evfull = true;
	}
	p->nev++;
}

static int jerr(jp_t *p, const char *msg)
{
	p->syntax = true;
	return hfi_ytb_err(p->b, HF_EPARSE, p->line, col_of(p), "yaml: %s", msg);
}

static bool fill(jp_t *p)
{
	if (p->pos < p->len)
		return true;
	if (p->eof || p->ioerr)
		return false;
	if (p->b->read == hfi_yt_read_buf && p->b->replay_off >= p->b->replay_len) {
		const hfi_yt_buf_t *src = p->b->rdata;
		if (src->off >= src->len) { /* known EOF: no read buffer needed */
			p->eof = true;
			return false;
		}
	}
	if (p->own == NULL) {
		p->own = hfi_mm_alloc(p->b->mm, JBUF);
		if (p->own == NULL) {
			p->ioerr = true;
			return false;
		}
	}
	if (p->iactive && p->len > p->irec_from) {
		size_t n = p->len - p->irec_from;
		if (hfi_mm_grow(p->b->mm, (void **)&p->irec, &p->icap, p->ilen + n, 1) != HF_EOK) {
			p->ioerr = true;
			return false;
		}
		memcpy(p->irec + p->ilen, p->buf + p->irec_from, n);
		p->ilen += n;
		p->irec_from = p->len; /* nothing of this buffer left to keep */
	}
	if (p->recording && p->b->ncallbacks > 0) {
		hfi_mm_free(p->b->mm, p->rec);
		p->rec = NULL;
		p->rlen = p->rcap = 0;
		p->recording = false;
	}
	long n = hfi_ytb_read(p->b, p->own, JBUF);
	if (n < 0) {
		p->ioerr = true;
		return false;
	}
	if (n == 0) {
		p->eof = true;
		return false;
	}
	if (p->recording) {
		if (hfi_mm_grow(p->b->mm, (void **)&p->rec, &p->rcap, p->rlen + (size_t)n, 1) != HF_EOK) {
			p->ioerr = true;
			return false;
		}
		memcpy(p->rec + p->rlen, p->own, (size_t)n);
		p->rlen += (size_t)n;
	}
	p->buf = p->own;
	p->len = (size_t)n;
	p->pos = 0;
	p->irec_from = 0;
	return true;
}

/* Error for running out of input: I/O, size bound, memory or plain EOF. */
static int eof_err(jp_t *p)
{
	hfi_ytb_t *b = p->b;
	if (b->too_big)
		return hfi_ytb_err(b, HF_ERANGE, 0, 0, "larger than 1 GiB");
	if (b->read_failed)
		return hfi_ytb_err(b, HF_EIO, 0, 0, "read error");
	if (p->ioerr)
		return hfi_ytb_nomem(b);
	p->syntax = true;
	return hfi_ytb_err(b, HF_EPARSE, p->line, col_of(p), "yaml: unexpected end of input");
}

static inline int peekc(jp_t *p)
{
	if (p->pos < p->len || fill(p))
		return p->buf[p->pos];
	return -1;
}

/* Consume one ASCII byte that is not a line break. */
static inline void adv(jp_t *p)
{
	p->pos++;
	p->cidx++;
}

static void newline(jp_t *p)
{
	p->line++;
	p->lstart = p->cidx;
}

/* Blanks and line breaks inside a flow collection. */
static void skip_ws(jp_t *p)
{
	for (;;) {
		int c = peekc(p);
		if (c == ' ' || c == '\t') {
			adv(p);
		} else if (c == '\n') {
			adv(p);
			newline(p);
		} else if (c == '\r') {
			adv(p);
			if (peekc(p) == '\n')
				adv(p);
			newline(p);
		} else {
			return;
		}
	}
}

static bool sb_put(jp_t *p, const void *s, size_t n)
{
	if (p->scap - p->slen < n &&
	    hfi_mm_grow(p->b->mm, (void **)&p->sb, &p->scap, p->slen + n, 1) != HF_EOK)
		return false;
	memcpy(p->sb + p->slen, s, n);
	p->slen += n;
	return true;
}

static bool sb_utf8(jp_t *p, uint32_t v)
{
	unsigned char u[4];
	size_t n;
	if (v < 0x80) {
		u[0] = (unsigned char)v;
		n = 1;
	} else if (v < 0x800) {
		u[0] = (unsigned char)(0xC0 | (v >> 6));
		u[1] = (unsigned char)(0x80 | (v & 0x3F));
		n = 2;
	} else if (v < 0x10000) {
		u[0] = (unsigned char)(0xE0 | (v >> 12));
		u[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (v & 0x3F));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | (v >> 18));
		u[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
		u[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
		u[3] = (unsigned char)(0x80 | (v & 0x3F));
		n = 4;
	}
	return sb_put(p, u, n);
}

/* Bytes a string copies verbatim in its fast loop: printable ASCII but '"'
 * and '\\', plus tab (libyaml keeps a raw tab in a quoted scalar). */
static inline bool plain_byte(unsigned char c)
{
	return (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') || c == '\t';
}

/* One multi-byte UTF-8 character starting with lead byte c (not consumed). */
static int utf8_char(jp_t *p, int c)
{
	uint32_t v = 0;
	int n;
	if (c >= 0xC2 && c <= 0xDF) {
		v = (uint32_t)c & 0x1F;
		n = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		v = (uint32_t)c & 0x0F;
		n = 2;
	} else if (c >= 0xF0 && c <= 0xF4) {
		v = (uint32_t)c & 0x07;
		n = 3;
	} else {
		return jerr(p, "invalid UTF-8");
	}
	unsigned char u[4] = { (unsigned char)c };
	p->pos++;
	for (int i = 1; i <= n; i++) {
		int d = peekc(p);
		if (d < 0)
			return eof_err(p);
		if ((d & 0xC0) != 0x80)
			return jerr(p, "invalid UTF-8");
		v = (v << 6) | ((uint32_t)d & 0x3F);
		u[i] = (unsigned char)d;
		p->pos++;
	}
	p->cidx++;
	if ((n == 2 && v < 0x800) || (n == 3 && (v < 0x10000 || v > 0x10FFFF)) ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return jerr(p, "invalid UTF-8");
	/* libyaml: C1 controls are refused, NEL / LS / PS are line breaks */
	if (v < 0xA0 || v == 0x2028 || v == 0x2029 || v == 0xFFFE || v == 0xFFFF)
		return jerr(p, "character not allowed here");
	if (!sb_put(p, u, (size_t)n + 1))
		return hfi_ytb_nomem(p->b);
	return HF_EOK;
}

static int hexval(jp_t *p, int digits, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < digits; i++) {
		int c = peekc(p);
		uint32_t d;
		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return c < 0 ? eof_err(p) : jerr(p, "expected a hexadecimal digit");
		v = (v << 4) | d;
		adv(p);
	}
	*out = v;
	return HF_EOK;
}

static int escape(jp_t *p)
{
	adv(p); /* backslash */
	int c = peekc(p);
	if (c < 0)
		return eof_err(p);
	const char *simple = NULL;
	switch (c) {
	case '0': simple = "\0"; break;
	case 'a': simple = "\a"; break;
	case 'b': simple = "\b"; break;
	case 't': case '\t': simple = "\t"; break;
	case 'n': simple = "\n"; break;
	case 'v': simple = "\v"; break;
	case 'f': simple = "\f"; break;
	case 'r': simple = "\r"; break;
	case 'e': simple = "\x1b"; break;
	case ' ': simple = " "; break;
	case '"': simple = "\""; break;
	case '/': simple = "/"; break;
	case '\\': simple = "\\"; break;
	case 'N': simple = "\xc2\x85"; break;
	case '_': simple = "\xc2\xa0"; break;
	case 'L': simple = "\xe2\x80\xa8"; break;
	case 'P': simple = "\xe2\x80\xa9"; break;
	default: break;
	}
	if (simple != NULL) {
		adv(p);
		if (!sb_put(p, simple, c == '0' ? 1 : strlen(simple)))
			return hfi_ytb_nomem(p->b);
		return HF_EOK;
	}
	int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
	if (digits == 0)
		return jerr(p, "unknown escape");
	adv(p);
	uint32_t v = 0;
	int ret = hexval(p, digits, &v);
	if (ret != HF_EOK)
		return ret;
	if (c == 'u' && v >= 0xD800 && v <= 0xDBFF) {
		/* JSON: a UTF-16 surrogate pair */
		if (peekc(p) != '\\')
			return jerr(p, "unpaired surrogate in \\u escape");
		adv(p);
		if (peekc(p) != 'u')
			return jerr(p, "unpaired surrogate in \\u escape");
		adv(p);
		uint32_t lo = 0;
		ret = hexval(p, 4, &lo);
		if (ret != HF_EOK)
			return ret;
		if (lo < 0xDC00 || lo > 0xDFFF)
			return jerr(p, "unpaired surrogate in \\u escape");
		v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
	} else if ((v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) {
		return jerr(p, "invalid Unicode escape");
	}
	if (!sb_utf8(p, v))
		return hfi_ytb_nomem(p->b);
	return HF_EOK;
}

/* A double-quoted string into p->sb / p->slen (opening quote next). */
static int string(jp_t *p)
{
	adv(p);
	p->slen = 0;
	for (;;) {
		if (p->pos >= p->len && !fill(p))
			return eof_err(p);
		const unsigned char *s = p->buf + p->pos, *e = p->buf + p->len, *q = s;
		while (q < e && plain_byte(*q))
			q++;
		if (q > s) {
			if (!sb_put(p, s, (size_t)(q - s)))
				return hfi_ytb_nomem(p->b);
			p->pos += (size_t)(q - s);
			p->cidx += (uint64_t)(q - s);
			if (q == e)
				continue;
		}
		int c = *q, ret;
		if (c == '"') {
			adv(p);
			return HF_EOK;
		} else if (c == '\\') {
			ret = escape(p);
		} else if (c >= 0x80) {
			ret = utf8_char(p, c);
		} else {
			ret = jerr(p, "control character in string");
		}
		if (ret != HF_EOK)
			return ret;
	}
}

/* After a number or literal: the next byte must end the plain scalar. */
static bool delimited(jp_t *p)
{
	int c = peekc(p);
	return c < 0 ? !p->ioerr : (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' ||
				    c == ']' || c == '}');
}

static bool digits(jp_t *p)
{
	int c = peekc(p);
	if (c < '0' || c > '9')
		return false;
	do {
		char ch = (char)c;
		if (!sb_put(p, &ch, 1)) {
			p->ioerr = true;
			return false;
		}
		adv(p);
		c = peekc(p);
	} while (c >= '0' && c <= '9');
	return true;
}

static int number(jp_t *p)
{
	p->slen = 0;
	int c = peekc(p);
	if (c == '-') {
		if (!sb_put(p, "-", 1))
			return hfi_ytb_nomem(p->b);
		adv(p);
		c = peekc(p);
	}
	if (c == '0') {
		if (!sb_put(p, "0", 1))
			return hfi_ytb_nomem(p->b);
		adv(p);
	} else if (!digits(p)) {
		return p->ioerr ? eof_err(p) : jerr(p, "invalid number");
	}
	if (peekc(p) == '.') {
		if (!sb_put(p, ".", 1))
			return hfi_ytb_nomem(p->b);
		adv(p);
		if (!digits(p))
			return p->ioerr ? eof_err(p) : jerr(p, "invalid number");
	}
	c = peekc(p);
	if (c == 'e' || c == 'E') {
		if (!sb_put(p, c == 'e' ? "e" : "E", 1))
			return hfi_ytb_nomem(p->b);
		adv(p);
		c = peekc(p);
		if (c == '+' || c == '-') {
			if (!sb_put(p, c == '+' ? "+" : "-", 1))
				return hfi_ytb_nomem(p->b);
			adv(p);
		}
		if (!digits(p))
			return p->ioerr ? eof_err(p) : jerr(p, "invalid number");
	}
	if (p->ioerr)
		return eof_err(p);
	if (!delimited(p))
		return p->ioerr ? eof_err(p) : jerr(p, "invalid number");
	return HF_EOK;
}

static int literal(jp_t *p, const char *word)
{
	p->slen = 0;
	for (const char *w = word; *w; w++) {
		int c = peekc(p);
		if (c != *w)
			return c < 0 && p->ioerr ? eof_err(p) : jerr(p, "invalid literal");
		adv(p);
	}
	if (!delimited(p))
		return p->ioerr ? eof_err(p) : jerr(p, "invalid literal");
	if (!sb_put(p, word, strlen(word)))
		return hfi_ytb_nomem(p->b);
	return HF_EOK;
}

static int value(jp_t *p);

static int object(jp_t *p)
{
	ev(p, HFI_YT_MAP, p->line, col_of(p));
	int ret = hfi_ytb_push(p->b, HFI_YT_MAP, p->line, col_of(p), NULL);
	if (ret != HF_EOK)
		return ret;
	adv(p);
	skip_ws(p);
	if (peekc(p) == '}') {
		adv(p);
		ev(p, 4, 0, 0);
		return hfi_ytb_pop(p->b);
	}
	for (;;) {
		int c = peekc(p);
		if (c != '"')
			return c < 0 ? eof_err(p) : jerr(p, "expected a string key");
		uint32_t kline = p->line, kcol = col_of(p);
		uint64_t kidx = p->cidx;
		ret = string(p);
		if (ret != HF_EOK)
			return ret;
		skip_ws(p);
		c = peekc(p);
		if (c != ':')
			return c < 0 ? eof_err(p) : jerr(p, "expected ':'");
		if (p->line != kline || p->cidx - kidx > KEY_LIMIT)
			return jerr(p, "a key must be on one line with its ':' and at most 1024 characters long (YAML implicit key)");
		ev(p, HFI_YT_SCALAR, kline, kcol);
		ret = hfi_ytb_scalar(p->b, kline, kcol, false, p->sb, p->slen, NULL);
		if (ret != HF_EOK)
			return ret;
		adv(p);
		skip_ws(p);
		ret = value(p);
		if (ret != HF_EOK)
			return ret;
		skip_ws(p);
		c = peekc(p);
		if (c == '}') {
			adv(p);
			ev(p, 4, 0, 0);
			return hfi_ytb_pop(p->b);
		}
		if (c != ',')
			return c < 0 ? eof_err(p) : jerr(p, "expected ',' or '}'");
		adv(p);
		skip_ws(p);
	}
}

/* The streamed List's '[' was just consumed: keep the document up to here. */
static int items_start(jp_t *p)
{
	if (p->items_depth != 0)
		p->evfull = true; /* a second "items" key: its prefix events were not kept */
	p->items_depth = p->b->depth;
	p->ev_prefix = p->nev;
	p->pline = p->line;
	p->pcol = col_of(p);
	hfi_mm_free(p->b->mm, p->prefix); /* a second "items" key */
	p->prefix = NULL;
	p->prefix_len = 0;
	if (!p->recording)
		return HF_EOK;
	size_t n = p->rlen - (p->len - p->pos);
	p->prefix = hfi_mm_alloc(p->b->mm, n);
	if (p->prefix == NULL)
		return hfi_ytb_nomem(p->b);
	memcpy(p->prefix, p->rec, n);
	p->prefix_len = n;
	return HF_EOK;
}

static int array(jp_t *p)
{
	ev(p, HFI_YT_SEQ, p->line, col_of(p));
	int ret = hfi_ytb_push(p->b, HFI_YT_SEQ, p->line, col_of(p), NULL);
	if (ret != HF_EOK)
		return ret;
	adv(p);
	bool items = p->b->frames[p->b->depth - 1].stream;
	if (items && (ret = items_start(p)) != HF_EOK)
		return ret;
	skip_ws(p);
	if (peekc(p) == ']') {
		adv(p);
		ev(p, 4, 0, 0);
		return hfi_ytb_pop(p->b);
	}
	for (;;) {
		if (items) {
			p->iactive = true;
			p->iline = p->line;
			p->icol = col_of(p);
			p->irec_from = p->pos;
			p->ilen = 0;
		}
		ret = value(p);
		if (ret != HF_EOK)
			return ret;
		if (items)
			p->iactive = false;
		skip_ws(p);
		int c = peekc(p);
		if (c == ']') {
			adv(p);
			ev(p, 4, 0, 0);
			return hfi_ytb_pop(p->b);
		}
		if (c != ',')
			return c < 0 ? eof_err(p) : jerr(p, "expected ',' or ']'");
		adv(p);
		skip_ws(p);
	}
}

static int value(jp_t *p)
{
	int c = peekc(p), ret;
	uint32_t line = p->line, col = col_of(p);
	bool plain = true;
	switch (c) {
	case '{':
		return object(p);
	case '[':
		return array(p);
	case '"':
		ret = string(p);
		plain = false;
		break;
	case 't':
		ret = literal(p, "true");
		break;
	case 'f':
		ret = literal(p, "false");
		break;
	case 'n':
		ret = literal(p, "null");
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		ret = number(p);
		break;
	default:
		return c < 0 ? eof_err(p) : jerr(p, "expected a value");
	}
	if (ret != HF_EOK)
		return ret;
	ev(p, HFI_YT_SCALAR, line, col);
	return hfi_ytb_scalar(p->b, line, col, plain, p->sb, p->slen, NULL);
}

/* After the root: blanks and comments only, as libyaml allows them (a tab
 * only before the first line break: after it libyaml takes a tab at the
 * start of a line for indentation). */
static int trailer(jp_t *p)
{
	bool first_line = true;
	for (;;) {
		int c = peekc(p);
		if (c < 0)
			return p->ioerr ? eof_err(p) : HF_EOK;
		if (c == ' ' || (c == '\t' && first_line)) {
			adv(p);
		} else if (c == '\n' || c == '\r') {
			adv(p);
			if (c == '\r' && peekc(p) == '\n')
				adv(p);
			newline(p);
			first_line = false;
		} else if (c == '#') {
			while ((c = peekc(p)) >= 0 && c != '\n' && c != '\r') {
				if (c >= 0x80) {
					size_t save = p->slen;
					int ret = utf8_char(p, c);
					p->slen = save;
					if (ret != HF_EOK)
						return ret;
				} else if ((c < 0x20 && c != '\t') || c == 0x7F) {
					return jerr(p, "control character in comment");
				} else {
					adv(p);
				}
			}
		} else {
			return jerr(p, "unexpected content after the JSON document");
		}
	}
}

/* Non-JSON inside a List element: libyaml reads on from that element. */
static int resume_with_libyaml(jp_t *p)
{
	hfi_ytb_t *b = p->b;
	hfi_ytb_unwind(b, p->items_depth);
	size_t nl = p->iline > p->pline ? p->iline - p->pline : 0;
	size_t sp = nl > 0 ? p->icol - 1u : (p->icol >= p->pcol ? p->icol - p->pcol : 0);
	size_t rest = p->len > p->irec_from ? p->len - p->irec_from : 0;
	size_t n = p->prefix_len + nl + sp + p->ilen + rest;
	unsigned char *r = hfi_mm_alloc(b->mm, n), *q = r;
	if (r == NULL)
		return hfi_ytb_nomem(b);
	memcpy(q, p->prefix, p->prefix_len);
	q += p->prefix_len;
	memset(q, '\n', nl);
	q += nl;
	memset(q, ' ', sp);
	q += sp;
	if (p->ilen > 0)
		memcpy(q, p->irec, p->ilen);
	q += p->ilen;
	if (rest > 0)
		memcpy(q, p->buf + p->irec_from, rest);
	b->replay = r;
	b->replay_len = n;
	b->replay_off = 0;
	b->skip_events = p->ev_prefix;
	b->skip_done = 0;
	b->skip_expect = p->evs;
	if (b->err != NULL && b->errlen > 0)
		b->err[0] = '\0';
	int ret = hfi_yt_run_yaml(b);
	hfi_mm_free(b->mm, r);
	b->replay = NULL;
	b->replay_len = b->replay_off = 0;
	b->skip_events = 0;
	b->skip_expect = NULL;
	return ret;
}

int hfi_yt_run_json(hfi_ytb_t *b, unsigned char *first, size_t first_len, bool *fallback)
{
	jp_t p;
	memset(&p, 0, sizeof(p));
	p.b = b;
	p.buf = first;
	p.len = first_len;
	p.line = 1;
	p.recording = true;
	*fallback = false;
	if (hfi_mm_grow(b->mm, (void **)&p.rec, &p.rcap, first_len, 1) != HF_EOK)
		return hfi_ytb_nomem(b);
	memcpy(p.rec, first, first_len);
	p.rlen = first_len;

	int ret;
	skip_ws(&p);
	uint32_t line = p.line, col = col_of(&p);
	ev(&p, 0, 0, 0);
	ret = hfi_ytb_doc_start(b, line, col);
	if (ret == HF_EOK)
		ret = value(&p);
	if (ret == HF_EOK)
		ret = trailer(&p);
	if (ret == HF_EOK)
		ret = hfi_ytb_doc_end(b);
	if (ret == HF_EPARSE && p.syntax && p.recording && b->ncallbacks == 0) {
		*fallback = true;
		b->replay = p.rec;
		b->replay_len = p.rlen;
		b->replay_off = 0;
		p.rec = NULL;
	} else if (ret == HF_EPARSE && p.syntax && p.iactive && p.prefix != NULL && !p.evfull &&
		   b->depth >= p.items_depth) {
		ret = resume_with_libyaml(&p);
	}
	hfi_mm_free(b->mm, p.rec);
	hfi_mm_free(b->mm, p.own);
	hfi_mm_free(b->mm, p.sb);
	hfi_mm_free(b->mm, p.prefix);
	hfi_mm_free(b->mm, p.irec);
	hfi_mm_free(b->mm, p.evs);
	return ret;
}
