/*
 * config_util.c: helpers shared by the plugin setups (config_int.h): the
 * Caddy Dispenser (Next/NextArg/NextBlock/RemainingArgs/ArgErr/Errf) over
 * a directive's tokens, the two-line plugin error writer, Go value parsers
 * with Go's error texts (strconv.Atoi/ParseUint/ParseFloat,
 * time.ParseDuration, Duration.String, net.SplitHostPort), string vectors.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"
#include "holdfast.h"

/* ----------------------------------------------------------- dispenser */

static int count_nl(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

bool hfi_d_next(hfi_disp_t *d)
{
	if (d->cursor < (long)d->n - 1) {
		d->cursor++;
		return true;
	}
	return false;
}

bool hfi_d_next_arg(hfi_disp_t *d)
{
	if (d->cursor < 0) {
		d->cursor++;
		return true;
	}
	if (d->cursor >= (long)d->n)
		return false;
	if (d->cursor < (long)d->n - 1) {
		const hfi_token_t *a = d->tok[d->cursor], *b = d->tok[d->cursor + 1];
		if (a->file == b->file && a->line + count_nl(a->text) == b->line) {
			d->cursor++;
			return true;
		}
	}
	return false;
}

const char *hfi_d_val(const hfi_disp_t *d)
{
	if (d->cursor < 0 || d->cursor >= (long)d->n)
		return "";
	return d->tok[d->cursor]->text;
}

bool hfi_d_next_block(hfi_disp_t *d)
{
	if (d->nesting > 0) {
		if (!hfi_d_next(d))
			return false;   /* bounded: Caddy would spin here */
		if (strcmp(hfi_d_val(d), "}") == 0) {
			d->nesting--;
			return false;
		}
		return true;
	}
	if (!hfi_d_next_arg(d))
		return false;
	if (strcmp(hfi_d_val(d), "{") != 0) {
		d->cursor--;
		return false;
	}
	hfi_d_next(d);
	if (strcmp(hfi_d_val(d), "}") == 0)
		return false;
	d->nesting++;
	return true;
}

const hfi_token_t *hfi_d_tok(const hfi_disp_t *d)
{
	if (d->cursor < 0)
		return d->tok[0];
	if (d->cursor >= (long)d->n)
		return d->tok[d->n - 1];
	return d->tok[d->cursor];
}

size_t hfi_d_remaining(hfi_disp_t *d, size_t *start)
{
	*start = (size_t)(d->cursor + 1);
	size_t n = 0;
	while (hfi_d_next_arg(d)) {
		if (strcmp(hfi_d_val(d), "{") == 0) {
			d->cursor--;
			break;
		}
		n++;
	}
	return n;
}

const char *hfi_d_arg(const hfi_disp_t *d, size_t start, size_t i)
{
	return d->tok[start + i]->text;
}

char *hfi_d_join(const hfi_disp_t *d, size_t start, size_t n, const char *sep)
{
	size_t len = 1, sl = strlen(sep);
	for (size_t i = 0; i < n; i++)
		len += strlen(hfi_d_arg(d, start, i)) + sl;
	char *s = hfi_mm_alloc(d->ld->mm, len);
	if (s == NULL)
		return NULL;
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		const char *a = hfi_d_arg(d, start, i);
		if (i) {
			memcpy(s + w, sep, sl);
			w += sl;
		}
		memcpy(s + w, a, strlen(a));
		w += strlen(a);
	}
	s[w] = '\0';
	return s;
}

static int derr(hfi_disp_t *d, bool located, const char *msg)
{
	const hfi_token_t *t = hfi_d_tok(d);
	char pre[256] = "", m1[1200], l2[2048];
	for (int i = 0; i < d->wrap && i < 3; i++) {
		size_t l = strlen(pre);
		hfi_cf_fmt(pre + l, sizeof(pre) - l, "plugin/%s: ", d->plugin);
	}
	hfi_cf_fmt(m1, sizeof(m1), "plugin/%s: %s", d->plugin, msg);
	if (located)
		hfi_cf_fmt(l2, sizeof(l2), "%s%s:%d - Error during parsing: %s", pre, t->file,
			   t->line, msg);
	else
		hfi_cf_fmt(l2, sizeof(l2), "%s%s", pre, msg);
	hfi_cf_err2(d->ld->err, d->ld->errlen, t->file, t->line, t->col, m1, l2);
	return HF_ECONFIG;
}

int hfi_d_errf(hfi_disp_t *d, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	hfi_cf_vfmt(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return derr(d, true, msg);
}

int hfi_d_plainf(hfi_disp_t *d, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	hfi_cf_vfmt(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return derr(d, false, msg);
}

int hfi_d_argerr(hfi_disp_t *d)
{
	if (strcmp(hfi_d_val(d), "{") == 0)
		return hfi_d_errf(d, "Unexpected token '{', expecting argument");
	return hfi_d_errf(d, "Wrong argument count or unexpected line ending after '%s'",
			  hfi_d_val(d));
}

int hfi_d_syntax(hfi_disp_t *d, const char *expected)
{
	const hfi_token_t *t = hfi_d_tok(d);
	char msg[1024], pre[256] = "", l2[2048], m1[1400];
	hfi_cf_fmt(msg, sizeof(msg), "Syntax error: Unexpected token '%s', expecting '%s'",
		   hfi_d_val(d), expected);
	for (int i = 0; i < d->wrap && i < 3; i++) {
		size_t l = strlen(pre);
		hfi_cf_fmt(pre + l, sizeof(pre) - l, "plugin/%s: ", d->plugin);
	}
	hfi_cf_fmt(m1, sizeof(m1), "plugin/%s: %s", d->plugin, msg);
	hfi_cf_fmt(l2, sizeof(l2), "%s%s:%d - %s", pre, t->file, t->line, msg);
	hfi_cf_err2(d->ld->err, d->ld->errlen, t->file, t->line, t->col, m1, l2);
	return HF_ECONFIG;
}

int hfi_d_oom(hfi_disp_t *d)
{
	hfi_cf_oom(d->ld->err, d->ld->errlen, hfi_d_tok(d)->file);
	return HF_ENOMEM;
}

int hfi_d_origins(hfi_disp_t *d, size_t start, size_t n, hfi_strv_t *out)
{
	const hf_mm_t *mm = d->ld->mm;
	if (n == 0) {
		for (size_t i = 0; i < d->blk->nkeys; i++)
			if (hfi_strv_push(mm, out, d->blk->keys[i].zone) != HF_EOK)
				return hfi_d_oom(d);
		return HF_EOK;
	}
	for (size_t i = 0; i < n; i++)
		if (hfi_normalize_exact(mm, hfi_d_arg(d, start, i), out) < 0)
			return hfi_d_oom(d);
	return HF_EOK;
}

char *hfi_d_path(hfi_disp_t *d, const char *path)
{
	const hf_mm_t *mm = d->ld->mm;
	if (path[0] == '/')
		return hfi_path_clean(mm, path);
	const hfi_token_t *t = hfi_d_tok(d);
	char *dir = NULL;
	if (strcmp(t->file, d->ld->main_file) == 0 || t->file[0] != '/')
		dir = hfi_mm_strdup(mm, d->ld->base_dir);
	else
		dir = hfi_path_dir(mm, t->file);
	if (dir == NULL)
		return NULL;
	char *r = hfi_path_join(mm, dir, path);
	hfi_mm_free(mm, dir);
	return r;
}

/* --------------------------------------------------------- go parsers */

void hfi_go_quote(const char *s, char *buf, size_t len)
{
	if (len == 0)
		return;
	size_t w = 0;
#define PUT(c) do { if (w + 1 < len) buf[w++] = (c); } while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		const char *esc = NULL;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\a': esc = "\\a"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\v': esc = "\\v"; break;
		default: break;
		}
		if (esc != NULL) {
			for (; *esc; esc++)
				PUT(*esc);
		} else if (c < 0x20 || c == 0x7f) {
			char x[5];
			snprintf(x, sizeof(x), "\\x%02x", c);
			for (int i = 0; x[i]; i++)
				PUT(x[i]);
		} else {
			PUT((char)c);
		}
	}
	PUT('"');
#undef PUT
	buf[w] = '\0';
}

static void num_err(const char *fn, const char *s, const char *why, char *msg, size_t len)
{
	if (msg == NULL || len == 0)
		return;
	char q[512];
	hfi_go_quote(s, q, sizeof(q));
	hfi_cf_fmt(msg, len, "strconv.%s: parsing %s: %s", fn, q, why);
}

/* digits only -> value; returns 0 ok, 1 syntax, 2 range */
static int parse_digits(const char *s, unsigned long long max, unsigned long long *out)
{
	if (*s == '\0')
		return 1;
	unsigned long long v = 0;
	bool range = false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			range = true;
		else
			v = v * 10 + d;
	}
	*out = v;
	return range ? 2 : 0;
}

bool hfi_go_atoi(const char *s, long long *out, char *msg, size_t len)
{
	const char *p = s;
	bool neg = false;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	unsigned long long v;
	unsigned long long max = neg ? (unsigned long long)INT64_MAX + 1 : INT64_MAX;
	int r = parse_digits(p, max, &v);
	if (r != 0) {
		num_err("Atoi", s, r == 1 ? "invalid syntax" : "value out of range", msg, len);
		return false;
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
	return true;
}

bool hfi_go_parse_uint(const char *s, int bits, unsigned long long *out, char *msg, size_t len)
{
	unsigned long long max = bits >= 64 ? UINT64_MAX : (1ULL << bits) - 1;
	int r = parse_digits(s, max, out);
	if (r != 0) {
		num_err("ParseUint", s, r == 1 ? "invalid syntax" : "value out of range", msg, len);
		return false;
	}
	return true;
}

bool hfi_go_parse_float(const char *s, double *out, char *msg, size_t len)
{
	if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\v' ||
	    *s == '\f' || *s == '\r') {
		num_err("ParseFloat", s, "invalid syntax", msg, len);
		return false;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end != '\0') {
		num_err("ParseFloat", s, "invalid syntax", msg, len);
		return false;
	}
	if (errno == ERANGE && isinf(v)) {
		num_err("ParseFloat", s, "value out of range", msg, len);
		return false;
	}
	*out = v;
	return true;
}

static bool dur_err(const char *what, const char *orig, const char *unit, char *msg, size_t len)
{
	if (msg == NULL || len == 0)
		return false;
	char q[512], qu[128];
	hfi_go_quote(orig, q, sizeof(q));
	if (unit != NULL) {
		hfi_go_quote(unit, qu, sizeof(qu));
		hfi_cf_fmt(msg, len, "time: unknown unit %s in duration %s", qu, q);
	} else {
		hfi_cf_fmt(msg, len, "time: %s %s", what, q);
	}
	return false;
}

bool hfi_go_duration(const char *orig, int64_t *ns, char *msg, size_t len)
{
	static const struct {
		const char *u;
		uint64_t v;
	} units[] = {
		{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
		{"ms", 1000000}, {"s", 1000000000ULL}, {"m", 60000000000ULL},
		{"h", 3600000000000ULL},
	};
	const uint64_t lim = 1ULL << 63;
	const char *s = orig;
	uint64_t d = 0;
	bool neg = false;
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return true;
	}
	if (*s == '\0')
		return dur_err("invalid duration", orig, NULL, msg, len);
	while (*s) {
		uint64_t v = 0, f = 0;
		double scale = 1;
		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			return dur_err("invalid duration", orig, NULL, msg, len);
		const char *st = s;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (v > lim / 10)
				return dur_err("invalid duration", orig, NULL, msg, len);
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > lim)
				return dur_err("invalid duration", orig, NULL, msg, len);
		}
		bool pre = s != st, post = false;
		if (*s == '.') {
			s++;
			const char *fs = s;
			bool overflow = false;
			for (; *s >= '0' && *s <= '9'; s++) {
				if (overflow)
					continue;
				if (f > (lim - 1) / 10) {
					overflow = true;
					continue;
				}
				uint64_t y = f * 10 + (uint64_t)(*s - '0');
				if (y > lim) {
					overflow = true;
					continue;
				}
				f = y;
				scale *= 10;
			}
			post = s != fs;
		}
		if (!pre && !post)
			return dur_err("invalid duration", orig, NULL, msg, len);
		size_t i = 0;
		while (s[i] && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9'))
			i++;
		if (i == 0)
			return dur_err("missing unit in duration", orig, NULL, msg, len);
		uint64_t unit = 0;
		for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (strlen(units[k].u) == i && strncmp(units[k].u, s, i) == 0)
				unit = units[k].v;
		if (unit == 0) {
			char u[64];
			size_t ul = i < sizeof(u) - 1 ? i : sizeof(u) - 1;
			memcpy(u, s, ul);
			u[ul] = '\0';
			return dur_err(NULL, orig, u, msg, len);
		}
		s += i;
		if (v > lim / unit)
			return dur_err("invalid duration", orig, NULL, msg, len);
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > lim)
				return dur_err("invalid duration", orig, NULL, msg, len);
		}
		d += v;
		if (d > lim)
			return dur_err("invalid duration", orig, NULL, msg, len);
	}
	if (neg) {
		*ns = d == lim ? INT64_MIN : -(int64_t)d;
		return true;
	}
	if (d > lim - 1)
		return dur_err("invalid duration", orig, NULL, msg, len);
	*ns = (int64_t)d;
	return true;
}

static size_t fmt_frac(char *buf, size_t w, uint64_t *v, int prec)
{
	bool print = false;
	for (int i = 0; i < prec; i++) {
		uint64_t digit = *v % 10;
		print = print || digit != 0;
		if (print)
			buf[--w] = (char)('0' + digit);
		*v /= 10;
	}
	if (print)
		buf[--w] = '.';
	return w;
}

static size_t fmt_int(char *buf, size_t w, uint64_t v)
{
	if (v == 0) {
		buf[--w] = '0';
		return w;
	}
	while (v > 0) {
		buf[--w] = (char)('0' + v % 10);
		v /= 10;
	}
	return w;
}

void hfi_go_duration_str(int64_t d, char *out, size_t len)
{
	char buf[40];
	size_t w = sizeof(buf) - 1;
	buf[w] = '\0';
	bool neg = d < 0;
	uint64_t u = neg ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
	if (u < 1000000000ULL) {
		int prec = 0;
		buf[--w] = 's';
		if (u == 0) {
			buf[--w] = '0';
			hfi_cf_fmt(out, len, "%s", buf + w);
			return;
		} else if (u < 1000ULL) {
			prec = 0;
			buf[--w] = 'n';
		} else if (u < 1000000ULL) {
			prec = 3;
			buf[--w] = '\xb5';
			buf[--w] = '\xc2';
		} else {
			prec = 6;
			buf[--w] = 'm';
		}
		w = fmt_frac(buf, w, &u, prec);
		w = fmt_int(buf, w, u);
	} else {
		buf[--w] = 's';
		w = fmt_frac(buf, w, &u, 9);
		w = fmt_int(buf, w, u % 60);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			w = fmt_int(buf, w, u % 60);
			u /= 60;
			if (u > 0) {
				buf[--w] = 'h';
				w = fmt_int(buf, w, u);
			}
		}
	}
	if (neg)
		buf[--w] = '-';
	hfi_cf_fmt(out, len, "%s", buf + w);
}

uint32_t hfi_ns_to_ms(int64_t ns)
{
	if (ns <= 0)
		return 0;
	int64_t ms = ns / HFI_NS_PER_MS;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

uint32_t hfi_ns_to_s(int64_t ns)
{
	if (ns <= 0)
		return 0;
	int64_t s = ns / HFI_NS_PER_S;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

bool hfi_go_split_host_port(const char *s, size_t *hs, size_t *hl, size_t *ps,
			    char *msg, size_t len)
{
	const char *why = NULL;
	size_t n = strlen(s), j = 0, k = 0;
	const char *last = strrchr(s, ':');
	if (last == NULL) {
		why = "missing port in address";
		goto fail;
	}
	size_t i = (size_t)(last - s);
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (e == NULL) {
			why = "missing ']' in address";
			goto fail;
		}
		size_t end = (size_t)(e - s);
		if (end + 1 == n) {
			why = "missing port in address";
			goto fail;
		} else if (end + 1 != i) {
			why = s[end + 1] == ':' ? "too many colons in address"
						: "missing port in address";
			goto fail;
		}
		*hs = 1;
		*hl = end - 1;
		j = 1;
		k = end + 1;
	} else {
		if (memchr(s, ':', i) != NULL) {
			why = "too many colons in address";
			goto fail;
		}
		*hs = 0;
		*hl = i;
	}
	if (strchr(s + j, '[') != NULL) {
		why = "unexpected '[' in address";
		goto fail;
	}
	if (strchr(s + k, ']') != NULL) {
		why = "unexpected ']' in address";
		goto fail;
	}
	*ps = i + 1;
	return true;
fail:
	if (n > 0)
		hfi_cf_fmt(msg, len, "address %s: %s", s, why);
	else
		hfi_cf_fmt(msg, len, "%s", why);
	return false;
}

bool hfi_cf_ip_parse(const char *s, uint8_t out[16], bool *v4)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1) {
		*v4 = true;
		return true;
	}
	if (strchr(s, ':') != NULL && inet_pton(AF_INET6, s, out) == 1) {
		*v4 = false;
		return true;
	}
	return false;
}

/* ------------------------------------------------------ string vectors */

int hfi_arr_push(const hf_mm_t *mm, void **arr, size_t n, size_t elsz)
{
	size_t want = 0;
	if (n == 0 || *arr == NULL)
		want = n < 4 ? 4 : n * 2;
	else if (n >= 4 && (n & (n - 1)) == 0)
		want = n * 2;
	if (want == 0)
		return HF_EOK;
	if (want > ((size_t)-1) / elsz)
		return HF_ENOMEM;
	void *a = hfi_mm_realloc(mm, *arr, want * elsz);
	if (a == NULL)
		return HF_ENOMEM;
	*arr = a;
	return HF_EOK;
}

int hfi_strv_pushn(const hf_mm_t *mm, hfi_strv_t *v, const char *s, size_t n)
{
	void *a = v->v;
	if (hfi_arr_push(mm, &a, v->n, sizeof(char *)) != HF_EOK)
		return HF_ENOMEM;
	v->v = a;
	char *d = hfi_mm_strndup(mm, s, n);
	if (d == NULL)
		return HF_ENOMEM;
	v->v[v->n++] = d;
	return HF_EOK;
}

int hfi_strv_push(const hf_mm_t *mm, hfi_strv_t *v, const char *s)
{
	return hfi_strv_pushn(mm, v, s, strlen(s));
}

void hfi_strv_free(const hf_mm_t *mm, hfi_strv_t *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++)
		hfi_mm_free(mm, v->v[i]);
	hfi_mm_free(mm, v->v);
	v->v = NULL;
	v->n = 0;
}

typedef struct sidx {
	const char *s;
	size_t i;
} sidx_t;

static int sidx_cmp(const void *a, const void *b)
{
	const sidx_t *x = a, *y = b;
	int c = strcmp(x->s, y->s);
	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

int hfi_strv_dedup(const hf_mm_t *mm, hfi_strv_t *v)
{
	if (v->n < 2)
		return HF_EOK;
	sidx_t *ix = hfi_mm_alloc(mm, v->n * sizeof(*ix));
	if (ix == NULL)
		return HF_ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		ix[i].s = v->v[i];
		ix[i].i = i;
	}
	qsort(ix, v->n, sizeof(*ix), sidx_cmp);
	for (size_t i = 1; i < v->n; i++) {
		if (strcmp(ix[i].s, ix[i - 1].s) == 0) {
			ix[i].s = ix[i - 1].s;   /* keep comparing against the run */
			hfi_mm_free(mm, v->v[ix[i].i]);
			v->v[ix[i].i] = NULL;
		}
	}
	hfi_mm_free(mm, ix);
	size_t w = 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->v[i] != NULL)
			v->v[w++] = v->v[i];
	v->n = w;
	return HF_EOK;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void hfi_strv_sort(hfi_strv_t *v)
{
	if (v->n > 1)
		qsort(v->v, v->n, sizeof(char *), cmp_strp);
}

bool hfi_strv_sorted_has(const hfi_strv_t *v, const char *s)
{
	return v->n > 0 && bsearch(&s, v->v, v->n, sizeof(char *), cmp_strp) != NULL;
}

bool hfi_strv_has(const hfi_strv_t *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return true;
	return false;
}

int hfi_strv_copy(const hf_mm_t *mm, hfi_strv_t *dst, const hfi_strv_t *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (hfi_strv_push(mm, dst, src->v[i]) != HF_EOK)
			return HF_ENOMEM;
	return HF_EOK;
}

int hfi_str_set(const hf_mm_t *mm, char **dst, const char *s)
{
	char *n = NULL;
	if (s != NULL) {
		n = hfi_mm_strdup(mm, s);
		if (n == NULL)
			return HF_ENOMEM;
	}
	hfi_mm_free(mm, *dst);
	*dst = n;
	return HF_EOK;
}
