/*
 * selector.c: Kubernetes label selectors (k8s.io/apimachinery labels.Parse):
 * "k=v", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)", "k", "!k",
 * "k>N", "k<N", joined by commas (AND).  Keys and values are validated like
 * Kubernetes does (qualified names, label values).  Matching follows the
 * Kubernetes semantics: "!=" and "notin" match when the key is absent.
 */
#include "selector.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast.h"

#define SEL_MAX_TEXT 65536
#define SEL_MAX_REQS 1024
#define SEL_MAX_VALS 1024

enum sel_op { OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS, OP_GT, OP_LT };

typedef struct sel_req {
	char *key;
	enum sel_op op;
	char **vals;
	size_t nvals;
	long long num; /* OP_GT / OP_LT */
} sel_req_t;

struct hfi_selector {
	hf_mm_t mm;
	bool has_mm;
	sel_req_t *reqs;
	size_t nreqs;
};

enum tok_type {
	T_END, T_IDENT, T_NOT, T_EQ, T_DEQ, T_NEQ, T_IN, T_NOTIN,
	T_OPEN, T_CLOSE, T_COMMA, T_GT, T_LT
};

typedef struct lexer {
	const char *s;
	size_t pos, len;
	/* current token */
	enum tok_type type;
	const char *tok;
	size_t toklen;
	size_t tokpos;
} lexer_t;

static const hf_mm_t *sel_mm(const hfi_selector_t *sel)
{
	return sel->has_mm ? &sel->mm : NULL;
}

static bool is_special(char c)
{
	return c == '!' || c == '=' || c == ',' || c == '(' || c == ')' ||
	       c == '<' || c == '>';
}

static void lex_next(lexer_t *lx)
{
	while (lx->pos < lx->len && isspace((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	lx->tokpos = lx->pos;
	lx->tok = lx->s + lx->pos;
	if (lx->pos >= lx->len) {
		lx->type = T_END;
		lx->toklen = 0;
		return;
	}
	char c = lx->s[lx->pos];
	char n = lx->pos + 1 < lx->len ? lx->s[lx->pos + 1] : '\0';
	size_t l = 1;
	switch (c) {
	case '!':
		if (n == '=') {
			lx->type = T_NEQ;
			l = 2;
		} else {
			lx->type = T_NOT;
		}
		break;
	case '=':
		if (n == '=') {
			lx->type = T_DEQ;
			l = 2;
		} else {
			lx->type = T_EQ;
		}
		break;
	case ',': lx->type = T_COMMA; break;
	case '(': lx->type = T_OPEN; break;
	case ')': lx->type = T_CLOSE; break;
	case '>': lx->type = T_GT; break;
	case '<': lx->type = T_LT; break;
	default:
		l = 0;
		while (lx->pos + l < lx->len) {
			char d = lx->s[lx->pos + l];
			if (isspace((unsigned char)d) || is_special(d))
				break;
			l++;
		}
		lx->type = T_IDENT;
		if (l == 2 && memcmp(lx->tok, "in", 2) == 0)
			lx->type = T_IN;
		else if (l == 5 && memcmp(lx->tok, "notin", 5) == 0)
			lx->type = T_NOTIN;
		break;
	}
	lx->toklen = l;
	lx->pos += l;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void tok_err(const lexer_t *lx, char *err, size_t errlen, const char *expected)
{
	if (lx->type == T_END)
		set_err(err, errlen, "unable to parse requirement: found end of selector at position %zu, expected: %s",
			lx->tokpos, expected);
	else
		set_err(err, errlen, "unable to parse requirement: found '%.*s' at position %zu, expected: %s",
			(int)(lx->toklen > 64 ? 64 : lx->toklen), lx->tok, lx->tokpos, expected);
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, 1..63 chars */
static bool valid_name(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	if (!alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* DNS-1123 subdomain: lower-case labels [a-z0-9]([-a-z0-9]*[a-z0-9])? joined by '.', <= 253 */
static bool valid_subdomain(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			char c = s[i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
				return false;
			continue;
		}
		size_t l = i - start;
		if (l == 0 || l > 63 || s[start] == '-' || s[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return true;
}

static bool valid_key(const char *s, size_t n, const char **why)
{
	const char *slash = memchr(s, '/', n);
	if (slash == NULL) {
		*why = "name part must consist of alphanumeric characters, '-', '_' or '.', must start and end with an alphanumeric character, and be at most 63 characters";
		return valid_name(s, n);
	}
	size_t pl = (size_t)(slash - s);
	if (!valid_subdomain(s, pl)) {
		*why = "prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters";
		return false;
	}
	*why = "name part must consist of alphanumeric characters, '-', '_' or '.', must start and end with an alphanumeric character, and be at most 63 characters";
	return valid_name(slash + 1, n - pl - 1);
}

static bool valid_value(const char *s, size_t n)
{
	return n == 0 || valid_name(s, n);
}

static void req_free(const hf_mm_t *mm, sel_req_t *r)
{
	hfi_mm_free(mm, r->key);
	for (size_t i = 0; i < r->nvals; i++)
		hfi_mm_free(mm, r->vals[i]);
	hfi_mm_free(mm, r->vals);
}

void hfi_selector_free(hfi_selector_t *sel)
{
	if (sel == NULL)
		return;
	const hf_mm_t *mm = sel_mm(sel);
	for (size_t i = 0; i < sel->nreqs; i++)
		req_free(mm, &sel->reqs[i]);
	hfi_mm_free(mm, sel->reqs);
	hfi_mm_free(mm, sel);
}

static int add_val(const hf_mm_t *mm, sel_req_t *r, size_t *cap, const char *v, size_t n)
{
	/* sets: duplicates collapse */
	for (size_t i = 0; i < r->nvals; i++)
		if (strlen(r->vals[i]) == n && memcmp(r->vals[i], v, n) == 0)
			return HF_EOK;
	int ret = hfi_mm_grow(mm, (void **)&r->vals, cap, r->nvals + 1, sizeof(char *));
	if (ret != HF_EOK)
		return ret;
	char *d = hfi_mm_strndup(mm, v, n);
	if (d == NULL)
		return HF_ENOMEM;
	r->vals[r->nvals++] = d;
	return HF_EOK;
}

static int check_value(const lexer_t *lx, char *err, size_t errlen)
{
	if (!valid_value(lx->tok, lx->toklen)) {
		set_err(err, errlen, "invalid label value: \"%.*s\": a valid label value must be 63 characters or less, empty, or begin and end with an alphanumeric character and contain only alphanumerics, '-', '_' or '.'",
			(int)(lx->toklen > 64 ? 64 : lx->toklen), lx->tok);
		return HF_EPARSE;
	}
	return HF_EOK;
}

/* A value token: an identifier, or "in"/"notin" used as one. */
static bool is_value(const lexer_t *lx)
{
	return lx->type == T_IDENT || lx->type == T_IN || lx->type == T_NOTIN;
}

/* Check the value token, add it to r and move past it. */
static int take_value(const hf_mm_t *mm, lexer_t *lx, sel_req_t *r, size_t *cap, char *err,
		      size_t errlen)
{
	int ret = check_value(lx, err, errlen);
	if (ret != HF_EOK)
		return ret;
	ret = add_val(mm, r, cap, lx->tok, lx->toklen);
	if (ret != HF_EOK)
		return ret;
	lex_next(lx);
	return HF_EOK;
}

/* Parse one requirement starting at the current token. */
static int parse_req(const hf_mm_t *mm, lexer_t *lx, sel_req_t *r, char *err, size_t errlen)
{
	bool neg = false;
	if (lx->type == T_NOT) {
		neg = true;
		lex_next(lx);
	}
	if (lx->type != T_IDENT) {
		tok_err(lx, err, errlen, "!, identifier");
		return HF_EPARSE;
	}
	const char *why = "";
	if (!valid_key(lx->tok, lx->toklen, &why)) {
		set_err(err, errlen, "invalid label key \"%.*s\": %s",
			(int)(lx->toklen > 64 ? 64 : lx->toklen), lx->tok, why);
		return HF_EPARSE;
	}
	r->key = hfi_mm_strndup(mm, lx->tok, lx->toklen);
	if (r->key == NULL)
		return HF_ENOMEM;
	lex_next(lx);
	if (neg) {
		r->op = OP_NOTEXISTS;
		if (lx->type != T_END && lx->type != T_COMMA) {
			tok_err(lx, err, errlen, "',' or end of selector");
			return HF_EPARSE;
		}
		return HF_EOK;
	}
	size_t cap = 0;
	switch (lx->type) {
	case T_END:
	case T_COMMA:
		r->op = OP_EXISTS;
		return HF_EOK;
	case T_EQ:
	case T_DEQ:
	case T_NEQ: {
		r->op = lx->type == T_NEQ ? OP_NOTIN : OP_IN;
		lex_next(lx);
		if (is_value(lx)) {
			int ret = take_value(mm, lx, r, &cap, err, errlen);
			if (ret != HF_EOK)
				return ret;
		} else if (lx->type == T_END || lx->type == T_COMMA) {
			/* "k=" : the empty value */
			int ret = add_val(mm, r, &cap, "", 0);
			if (ret != HF_EOK)
				return ret;
		} else {
			tok_err(lx, err, errlen, "identifier");
			return HF_EPARSE;
		}
		break;
	}
	case T_GT:
	case T_LT: {
		r->op = lx->type == T_GT ? OP_GT : OP_LT;
		lex_next(lx);
		if (lx->type != T_IDENT) {
			tok_err(lx, err, errlen, "integer");
			return HF_EPARSE;
		}
		char buf[32];
		if (lx->toklen >= sizeof(buf)) {
			set_err(err, errlen, "for 'Gt', 'Lt' operators, the value must be an integer");
			return HF_EPARSE;
		}
		memcpy(buf, lx->tok, lx->toklen);
		buf[lx->toklen] = '\0';
		char *end;
		errno = 0;
		r->num = strtoll(buf, &end, 10);
		if (errno != 0 || *end != '\0' || end == buf) {
			set_err(err, errlen, "for 'Gt', 'Lt' operators, the value must be an integer");
			return HF_EPARSE;
		}
		lex_next(lx);
		break;
	}
	case T_IN:
	case T_NOTIN: {
		r->op = lx->type == T_IN ? OP_IN : OP_NOTIN;
		lex_next(lx);
		if (lx->type != T_OPEN) {
			tok_err(lx, err, errlen, "'('");
			return HF_EPARSE;
		}
		lex_next(lx);
		size_t n = 0;
		for (;;) {
			/* a value, possibly empty: "(a,,b)" holds "" */
			if (is_value(lx)) {
				int ret = take_value(mm, lx, r, &cap, err, errlen);
				if (ret != HF_EOK)
					return ret;
			} else if (lx->type == T_COMMA || lx->type == T_CLOSE) {
				if (!(lx->type == T_CLOSE && n == 0)) {
					int ret = add_val(mm, r, &cap, "", 0);
					if (ret != HF_EOK)
						return ret;
				}
			} else {
				tok_err(lx, err, errlen, "',', ')' or identifier");
				return HF_EPARSE;
			}
			if (++n > SEL_MAX_VALS) {
				set_err(err, errlen, "too many values in set (max %d)", SEL_MAX_VALS);
				return HF_EPARSE;
			}
			if (lx->type == T_CLOSE)
				break;
			if (lx->type != T_COMMA) {
				tok_err(lx, err, errlen, "',' or ')'");
				return HF_EPARSE;
			}
			lex_next(lx);
		}
		if (r->nvals == 0) {
			set_err(err, errlen, "for 'in', 'notin' operators, values set can't be empty");
			return HF_EPARSE;
		}
		lex_next(lx);
		break;
	}
	default:
		tok_err(lx, err, errlen, "=, ==, !=, in, notin, >, <, ',' or end of selector");
		return HF_EPARSE;
	}
	if (lx->type != T_END && lx->type != T_COMMA) {
		tok_err(lx, err, errlen, "',' or end of selector");
		return HF_EPARSE;
	}
	return HF_EOK;
}

hfi_selector_t *hfi_selector_parse(const char *text, const hf_mm_t *mm, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (text == NULL)
		text = "";
	size_t len = strlen(text);
	if (len > SEL_MAX_TEXT) {
		set_err(err, errlen, "label selector too long (%zu bytes)", len);
		return NULL;
	}
	hfi_selector_t *sel = hfi_mm_calloc(mm, 1, sizeof(*sel));
	if (sel == NULL) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	if (mm != NULL) {
		sel->mm = *mm;
		sel->has_mm = true;
	}
	lexer_t lx = { .s = text, .len = len };
	lex_next(&lx);
	size_t cap = 0;
	int ret = HF_EOK;
	while (lx.type != T_END) {
		if (sel->nreqs >= SEL_MAX_REQS) {
			set_err(err, errlen, "too many requirements in label selector (max %d)", SEL_MAX_REQS);
			ret = HF_EPARSE;
			break;
		}
		ret = hfi_mm_grow(mm, (void **)&sel->reqs, &cap, sel->nreqs + 1, sizeof(sel_req_t));
		if (ret != HF_EOK)
			break;
		sel_req_t *r = &sel->reqs[sel->nreqs++];
		memset(r, 0, sizeof(*r));
		ret = parse_req(mm, &lx, r, err, errlen);
		if (ret != HF_EOK)
			break;
		if (lx.type == T_COMMA) {
			lex_next(&lx);
			if (lx.type == T_END) {
				tok_err(&lx, err, errlen, "!, identifier");
				ret = HF_EPARSE;
				break;
			}
		}
	}
	if (ret != HF_EOK) {
		if (ret == HF_ENOMEM)
			set_err(err, errlen, "out of memory");
		hfi_selector_free(sel);
		return NULL;
	}
	return sel;
}

static const char *label_get(const hfi_labels_t *labels, const char *key)
{
	if (labels == NULL)
		return NULL;
	for (size_t i = 0; i < labels->n; i++)
		if (labels->kv[i].key != NULL && strcmp(labels->kv[i].key, key) == 0)
			return labels->kv[i].val != NULL ? labels->kv[i].val : "";
	return NULL;
}

static bool in_set(const sel_req_t *r, const char *v)
{
	for (size_t i = 0; i < r->nvals; i++)
		if (strcmp(r->vals[i], v) == 0)
			return true;
	return false;
}

static bool req_match(const sel_req_t *r, const hfi_labels_t *labels)
{
	const char *v = label_get(labels, r->key);
	switch (r->op) {
	case OP_IN:
		return v != NULL && in_set(r, v);
	case OP_NOTIN:
		return v == NULL || !in_set(r, v);
	case OP_EXISTS:
		return v != NULL;
	case OP_NOTEXISTS:
		return v == NULL;
	case OP_GT:
	case OP_LT: {
		if (v == NULL || *v == '\0')
			return false;
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno != 0 || *end != '\0')
			return false;
		return r->op == OP_GT ? n > r->num : n < r->num;
	}
	}
	return false;
}

bool hfi_selector_match(const hfi_selector_t *sel, const hfi_labels_t *labels)
{
	if (sel == NULL)
		return true;
	for (size_t i = 0; i < sel->nreqs; i++)
		if (!req_match(&sel->reqs[i], labels))
			return false;
	return true;
}
