/*
 * corefile_lex.c: the Corefile tokenizer, a faithful port of Caddy v1's
 * caddyfile/lexer.go (spec 1.1): UTF-8 runes, a leading BOM dropped,
 * unicode.IsSpace separators, '\r' ignored outside quotes, '"' quoting only
 * at token start with \" as the only escape, '#' comments anywhere, line
 * counting through quoted newlines.  Also owns the two-line error writer
 * used by every Corefile/config error.
 */
#include "corefile_lex.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "holdfast.h"

void hfi_cf_vfmt(char *buf, size_t len, const char *fmt, va_list ap)
{
	if (buf == NULL || len == 0)
		return;
	int r = vsnprintf(buf, len, fmt, ap);
	if (r < 0)
		buf[0] = '\0';
}

void hfi_cf_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hfi_cf_vfmt(buf, len, fmt, ap);
	va_end(ap);
}

void hfi_cf_err2(char *err, size_t errlen, const char *file, int line, int col,
		 const char *msg1, const char *line2)
{
	hfi_cf_fmt(err, errlen, "%s:%d:%d: %s\n%s", file ? file : "", line, col,
		   msg1, line2);
}

void hfi_cf_errf(char *err, size_t errlen, const char *file, int line, int col,
		 const char *fmt, ...)
{
	char msg[1024], l2[1400];
	va_list ap;
	va_start(ap, fmt);
	hfi_cf_vfmt(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hfi_cf_fmt(l2, sizeof(l2), "%s:%d - Error during parsing: %s",
		   file ? file : "", line, msg);
	hfi_cf_err2(err, errlen, file, line, col, msg, l2);
}

void hfi_cf_oom(char *err, size_t errlen, const char *file)
{
	hfi_cf_err2(err, errlen, file, 1, 1, "out of memory", "out of memory");
}

/* Decode one rune as Go's utf8.DecodeRune does: invalid -> U+FFFD, width 1. */
static uint32_t decode_rune(const unsigned char *s, size_t n, size_t *w)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*w = 1;
		return c;
	}
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;
	uint32_t r;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
		r = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		r = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		r = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*w = 1;
		return 0xFFFD;
	}
	if (n < need || s[1] < lo || s[1] > hi) {
		*w = 1;
		return 0xFFFD;
	}
	r = (r << 6) | (s[1] & 0x3F);
	for (size_t i = 2; i < need; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF) {
			*w = 1;
			return 0xFFFD;
		}
		r = (r << 6) | (s[i] & 0x3F);
	}
	*w = need;
	return r;
}

/* unicode.IsSpace */
static bool is_space(uint32_t r)
{
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:
		return true;
	default:
		return r >= 0x2000 && r <= 0x200A;
	}
}

typedef struct lexbuf {
	const hf_mm_t *mm;
	char *buf;
	size_t len, cap;
	hfi_lex_tok_t *tok;
	size_t ntok, captok;
} lexbuf_t;

static int buf_put(lexbuf_t *b, const unsigned char *p, size_t n)
{
	if (b->len + n + 1 > HFI_CF_MAX_TOKEN_LEN)
		return HF_ERANGE;
	void *arr = b->buf;
	int ret = hfi_mm_grow(b->mm, &arr, &b->cap, b->len + n + 1, 1);
	if (ret != HF_EOK)
		return ret;
	b->buf = arr;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return HF_EOK;
}

static int emit(lexbuf_t *b, int line, int col, bool quoted)
{
	void *arr = b->tok;
	int ret = hfi_mm_grow(b->mm, &arr, &b->captok, b->ntok + 1, sizeof(hfi_lex_tok_t));
	if (ret != HF_EOK)
		return ret;
	b->tok = arr;
	char *t = hfi_mm_strndup(b->mm, b->len ? b->buf : "", b->len);
	if (t == NULL)
		return HF_ENOMEM;
	b->tok[b->ntok].text = t;
	b->tok[b->ntok].line = line;
	b->tok[b->ntok].col = col;
	b->tok[b->ntok].quoted = quoted;
	b->ntok++;
	b->len = 0;
	return HF_EOK;
}

void hfi_lex_free(const hf_mm_t *mm, hfi_lex_tok_t *tok, size_t n)
{
	if (tok == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		hfi_mm_free(mm, tok[i].text);
	hfi_mm_free(mm, tok);
}

int hfi_lex(const char *in, size_t len, const hf_mm_t *mm, hfi_lex_tok_t **out,
	    size_t *n, int *eline, int *ecol, char *msg, size_t msglen)
{
	static const unsigned char repl[3] = {0xEF, 0xBF, 0xBD};
	const unsigned char *s = (const unsigned char *)in;
	lexbuf_t b = {.mm = mm};
	size_t pos = 0, w;
	int line = 1, col = 0, tline = 0, tcol = 0, ret = HF_EOK;
	bool quoted = false, escaped = false, comment = false, intok = false;

	*out = NULL;
	*n = 0;
	if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		pos = 3;
	while (pos < len) {
		uint32_t r = decode_rune(s + pos, len - pos, &w);
		const unsigned char *bytes = s + pos;
		size_t blen = w;
		if (r == 0xFFFD && w == 1) {
			bytes = repl;
			blen = 3;
		}
		pos += w;
		col++;
		if (r == 0) {
			*eline = line;
			*ecol = col;
			hfi_cf_fmt(msg, msglen, "invalid NUL byte in input");
			ret = HF_EPARSE;
			goto fail;
		}
		if (quoted) {
			if (!escaped) {
				if (r == '\\') {
					escaped = true;
					continue;
				}
				if (r == '"') {
					quoted = false;
					intok = false;
					ret = emit(&b, tline, tcol, true);
					if (ret != HF_EOK)
						goto fail;
					continue;
				}
			}
			if (r == '\n') {
				line++;
				col = 0;
			}
			if (escaped && r != '"') {
				ret = buf_put(&b, (const unsigned char *)"\\", 1);
				if (ret != HF_EOK)
					goto toolong;
			}
			ret = buf_put(&b, bytes, blen);
			if (ret != HF_EOK)
				goto toolong;
			escaped = false;
			continue;
		}
		if (is_space(r)) {
			if (r == '\r')
				continue;
			if (r == '\n') {
				line++;
				col = 0;
				comment = false;
			}
			if (b.len > 0) {
				intok = false;
				ret = emit(&b, tline, tcol, false);
				if (ret != HF_EOK)
					goto fail;
			}
			continue;
		}
		if (r == '#')
			comment = true;
		if (comment)
			continue;
		if (b.len == 0 && !intok) {
			tline = line;
			tcol = col;
			if (r == '"') {
				quoted = true;
				intok = true;
				continue;
			}
		}
		ret = buf_put(&b, bytes, blen);
		if (ret != HF_EOK)
			goto toolong;
	}
	if (b.len > 0) {
		ret = emit(&b, tline, tcol, quoted);
		if (ret != HF_EOK)
			goto fail;
	}
	hfi_mm_free(mm, b.buf);
	*out = b.tok;
	*n = b.ntok;
	return HF_EOK;
toolong:
	if (ret == HF_ERANGE) {
		*eline = tline;
		*ecol = tcol;
		hfi_cf_fmt(msg, msglen, "token too long (more than %u bytes)",
			   HFI_CF_MAX_TOKEN_LEN - 1);
		ret = HF_EPARSE;
	}
fail:
	hfi_mm_free(mm, b.buf);
	hfi_lex_free(mm, b.tok, b.ntok);
	if (ret == HF_ENOMEM)
		hfi_cf_fmt(msg, msglen, "out of memory");
	return ret;
}
