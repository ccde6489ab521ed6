/*
 * corefile_parse.c: the Corefile parser, a port of Caddy v1's
 * caddyfile/parse.go + dispenser.go (spec 1.2-1.4): server-block keys
 * (comma continuation, '{' on the next line, single block without braces),
 * directive lines and their brace-balanced blocks, {$ENV}/{%ENV%}
 * substitution, snippets and `import` of files and globs spliced into the
 * token stream.  The stream is a doubly linked list so that an import is
 * spliced in O(imported tokens); every expansion is capped.  Produces an
 * hfi_corefile_t; also owns the path and file helpers of corefile_lex.h.
 */
#include "corefile.h"
#include "corefile_lex.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "holdfast.h"
#include "log.h"

#define MAX_SNIPPET_EXPANSIONS 10000
#define MAX_FILE_IMPORTS 100000
#define MAX_TOKENS 100000
#define MAX_IMPORT_BYTES (4u << 20)
#define MAX_ENV_LEN (1u << 20)

/* ---------------------------------------------------------------- paths */

char *hfi_path_clean(const hf_mm_t *mm, const char *path)
{
	size_t n = strlen(path);
	if (n == 0)
		return hfi_mm_strdup(mm, ".");
	char *out = hfi_mm_alloc(mm, n + 2);
	if (out == NULL)
		return NULL;
	bool rooted = path[0] == '/';
	size_t r = 0, w = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && path[r + 1] == '.' &&
			   (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && path[r] != '/'; r++)
				out[w++] = path[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

char *hfi_path_join(const hf_mm_t *mm, const char *dir, const char *rel)
{
	size_t a = strlen(dir), b = strlen(rel);
	if (a == 0)
		return b ? hfi_path_clean(mm, rel) : hfi_mm_strdup(mm, "");
	if (b == 0)
		return hfi_path_clean(mm, dir);
	char *t = hfi_mm_alloc(mm, a + b + 2);
	if (t == NULL)
		return NULL;
	memcpy(t, dir, a);
	t[a] = '/';
	memcpy(t + a + 1, rel, b + 1);
	char *c = hfi_path_clean(mm, t);
	hfi_mm_free(mm, t);
	return c;
}

char *hfi_path_dir(const hf_mm_t *mm, const char *path)
{
	size_t i = strlen(path);
	while (i > 0 && path[i - 1] != '/')
		i--;
	char *t = hfi_mm_strndup(mm, path, i);
	if (t == NULL)
		return NULL;
	char *c = hfi_path_clean(mm, t);
	hfi_mm_free(mm, t);
	return c;
}

char *hfi_path_abs(const hf_mm_t *mm, const char *path)
{
	if (path[0] == '/')
		return hfi_path_clean(mm, path);
	char cwd[4096];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return hfi_path_clean(mm, path);
	return hfi_path_join(mm, cwd, path);
}

/* Go's syscall.Errno text: strerror with a lower-case first letter. */
static void go_strerror(int e, char *buf, size_t len)
{
	hfi_cf_fmt(buf, len, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
}

int hfi_read_file(const hf_mm_t *mm, const char *path, size_t max, char **buf,
		  size_t *len, char *why, size_t whylen)
{
	char e[128];
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		go_strerror(errno, e, sizeof(e));
		hfi_cf_fmt(why, whylen, "open %s: %s", path, e);
		return HF_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		go_strerror(errno, e, sizeof(e));
		hfi_cf_fmt(why, whylen, "stat %s: %s", path, e);
		close(fd);
		return HF_EIO;
	}
	if (S_ISDIR(st.st_mode)) {
		hfi_cf_fmt(why, whylen, "is a directory");
		close(fd);
		return HF_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		hfi_cf_fmt(why, whylen, "not a regular file");
		close(fd);
		return HF_EIO;
	}
	size_t cap = 4096, n = 0;
	char *b = hfi_mm_alloc(mm, cap + 1);
	if (b == NULL) {
		close(fd);
		return HF_ENOMEM;
	}
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				hfi_cf_fmt(why, whylen, "file too large (more than %zu bytes)", max);
				goto ioerr;
			}
			char *nb = hfi_mm_realloc(mm, b, cap * 2 + 1);
			if (nb == NULL) {
				hfi_mm_free(mm, b);
				close(fd);
				return HF_ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			go_strerror(errno, e, sizeof(e));
			hfi_cf_fmt(why, whylen, "read %s: %s", path, e);
			goto ioerr;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		hfi_cf_fmt(why, whylen, "file too large (more than %zu bytes)", max);
		goto ioerr;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return HF_EOK;
ioerr:
	hfi_mm_free(mm, b);
	close(fd);
	return HF_EIO;
}

/* ------------------------------------------------------------------ env */

static char *replace_all(const hf_mm_t *mm, const char *s, const char *ref,
			 const char *val)
{
	size_t rl = strlen(ref), vl = strlen(val), cnt = 0;
	for (const char *q = strstr(s, ref); q != NULL; q = strstr(q + rl, ref))
		cnt++;
	size_t sl = strlen(s);
	size_t nl = sl - cnt * rl + cnt * vl;
	char *out = hfi_mm_alloc(mm, nl + 1);
	if (out == NULL)
		return NULL;
	char *w = out;
	const char *r = s;
	for (const char *q = strstr(r, ref); q != NULL; q = strstr(r, ref)) {
		memcpy(w, r, (size_t)(q - r));
		w += q - r;
		memcpy(w, val, vl);
		w += vl;
		r = q + rl;
	}
	memcpy(w, r, strlen(r) + 1);
	return out;
}

/* One pass of Caddy's replaceEnvReferences; takes ownership of s. */
static char *env_refs(const hf_mm_t *mm, char *s, const char *start, const char *end)
{
	size_t sl = strlen(start), el = strlen(end);
	char *idx = strstr(s, start);
	for (int iter = 0; idx != NULL && iter < 1000; iter++) {
		char *e = strstr(idx, end);
		if (e == NULL)
			break;
		if (e <= idx + sl)
			return s;
		char *ref = hfi_mm_strndup(mm, idx, (size_t)(e - idx) + el);
		char *name = hfi_mm_strndup(mm, idx + sl, (size_t)(e - idx) - sl);
		if (ref == NULL || name == NULL) {
			hfi_mm_free(mm, ref);
			hfi_mm_free(mm, name);
			hfi_mm_free(mm, s);
			return NULL;
		}
		const char *val = getenv(name);
		char *ns = replace_all(mm, s, ref, val ? val : "");
		hfi_mm_free(mm, ref);
		hfi_mm_free(mm, name);
		hfi_mm_free(mm, s);
		if (ns == NULL)
			return NULL;
		s = ns;
		if (strlen(s) > MAX_ENV_LEN)
			break;
		idx = strstr(s, start);
	}
	return s;
}

char *hfi_env_replace(const hf_mm_t *mm, const char *s)
{
	char *t = hfi_mm_strdup(mm, s);
	if (t == NULL)
		return NULL;
	if (strchr(t, '{') == NULL)
		return t;
	t = env_refs(mm, t, "{%", "%}");
	if (t == NULL)
		return NULL;
	return env_refs(mm, t, "{$", "}");
}

/* --------------------------------------------------------------- parser */

typedef struct node {
	struct node *prev, *next;
	char *text;
	int file, line, col, nl;
	bool quoted;
} node_t;

typedef struct snip_tok {
	char *text;
	int file, line, col;
	bool quoted;
} snip_tok_t;

typedef struct snippet {
	char *name;
	snip_tok_t *tok;
	size_t n;
} snippet_t;

typedef struct parser {
	const hf_mm_t *mm;
	const hfi_corefile_opts_t *opts;
	node_t head;           /* sentinel: cursor == &head is Caddy's cursor -1 */
	node_t *cur;
	size_t ntok;
	char **files;          /* interned names; index 0 = the main file */
	char **dirs;           /* their absolute directories */
	size_t nfiles, capfiles;
	snippet_t *snip;
	size_t nsnip, capsnip;
	unsigned long snip_exp, file_exp;
	size_t import_bytes;
	bool eof;
	/* current block */
	hfi_token_t *keys;
	size_t nkeys, capkeys;
	hfi_directive_t *dirsv;
	size_t ndirs, capdirs;
	/* output */
	hfi_corefile_t *cf;
	size_t capblocks;
	char *err;
	size_t errlen;
} parser_t;

static int count_nl(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const char *node_file(parser_t *p, const node_t *n)
{
	if (n == NULL || n == &p->head)
		return p->files[0];
	return p->files[n->file];
}

static int oom(parser_t *p)
{
	hfi_cf_oom(p->err, p->errlen, p->files ? p->files[0] : "");
	return HF_ENOMEM;
}

/* Caddy's Errf at a token. */
static int perr(parser_t *p, const node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(parser_t *p, const node_t *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	hfi_cf_vfmt(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bool h = n == NULL || n == &p->head;
	hfi_cf_errf(p->err, p->errlen, node_file(p, n), h ? 1 : n->line, h ? 1 : n->col,
		    "%s", msg);
	return HF_EPARSE;
}

/* A CoreDNS plugin holdfast does not implement (plugin-error shape). */
static int unsupported(parser_t *p, const node_t *n, const char *name)
{
	char m1[600], l2[900];
	const char *f = node_file(p, n);
	hfi_cf_fmt(m1, sizeof(m1), "plugin/%s: the %s plugin is not supported by holdfast",
		   name, name);
	hfi_cf_fmt(l2, sizeof(l2),
		   "plugin/%s: %s:%d - Error during parsing: the %s plugin is not supported by holdfast",
		   name, f, n->line, name);
	hfi_cf_err2(p->err, p->errlen, f, n->line, n->col, m1, l2);
	return HF_EPARSE;
}

/* Caddy's SyntaxErr at the cursor. */
static int psyntax(parser_t *p, const char *expected)
{
	node_t *n = p->cur;
	bool h = n == &p->head;
	const char *f = node_file(p, n);
	int line = h ? 1 : n->line;
	char m1[1024], l2[1400];
	hfi_cf_fmt(m1, sizeof(m1), "Syntax error: Unexpected token '%s', expecting '%s'",
		   h ? "" : n->text, expected);
	hfi_cf_fmt(l2, sizeof(l2), "%s:%d - %s", f, line, m1);
	hfi_cf_err2(p->err, p->errlen, f, line, h ? 1 : n->col, m1, l2);
	return HF_EPARSE;
}

static const char *val(parser_t *p)
{
	return p->cur == &p->head ? "" : p->cur->text;
}

static bool next(parser_t *p)
{
	if (p->cur->next == NULL)
		return false;
	p->cur = p->cur->next;
	return true;
}

static bool is_newline(parser_t *p)
{
	node_t *c = p->cur;
	if (c == &p->head || c->prev == &p->head)
		return true;
	node_t *pr = c->prev;
	return pr->file != c->file || pr->line + pr->nl < c->line;
}

static bool next_arg(parser_t *p)
{
	node_t *c = p->cur, *n = c->next;
	if (c == &p->head) {
		if (n == NULL)
			return false;
		p->cur = n;
		return true;
	}
	if (n != NULL && c->file == n->file && c->line + c->nl == n->line) {
		p->cur = n;
		return true;
	}
	return false;
}

static void node_free(parser_t *p, node_t *n)
{
	hfi_mm_free(p->mm, n->text);
	hfi_mm_free(p->mm, n);
	p->ntok--;
}

static node_t *node_new(parser_t *p, const char *text, int file, int line, int col,
			bool quoted)
{
	node_t *n = hfi_mm_calloc(p->mm, 1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->text = hfi_mm_strdup(p->mm, text);
	if (n->text == NULL) {
		hfi_mm_free(p->mm, n);
		return NULL;
	}
	n->file = file;
	n->line = line;
	n->col = col;
	n->quoted = quoted;
	n->nl = count_nl(n->text);
	p->ntok++;
	return n;
}

/* Free a detached chain first..NULL. */
static void chain_free(parser_t *p, node_t *first)
{
	while (first != NULL) {
		node_t *nx = first->next;
		node_free(p, first);
		first = nx;
	}
}

static int intern_file(parser_t *p, const char *name, const char *dir, bool main)
{
	if (!main) {
		for (size_t i = 1; i < p->nfiles; i++)
			if (strcmp(p->files[i], name) == 0)
				return (int)i;
	}
	size_t cap = p->capfiles;
	void *a = p->files;
	if (hfi_mm_grow(p->mm, &a, &cap, p->nfiles + 1, sizeof(char *)) != HF_EOK)
		return HF_ENOMEM;
	p->files = a;
	a = p->dirs;
	size_t cap2 = p->capfiles;
	if (hfi_mm_grow(p->mm, &a, &cap2, p->nfiles + 1, sizeof(char *)) != HF_EOK)
		return HF_ENOMEM;
	p->dirs = a;
	p->capfiles = cap < cap2 ? cap : cap2;
	char *n = hfi_mm_strdup(p->mm, name), *d = hfi_mm_strdup(p->mm, dir);
	if (n == NULL || d == NULL) {
		hfi_mm_free(p->mm, n);
		hfi_mm_free(p->mm, d);
		return HF_ENOMEM;
	}
	p->files[p->nfiles] = n;
	p->dirs[p->nfiles] = d;
	return (int)p->nfiles++;
}

/* Build a chain from lexer tokens into *first .. *last; returns error. */
static int chain_from_lex(parser_t *p, hfi_lex_tok_t *t, size_t n, int file,
			  node_t **first, node_t **last)
{
	*first = *last = NULL;
	for (size_t i = 0; i < n; i++) {
		node_t *nd = hfi_mm_calloc(p->mm, 1, sizeof(*nd));
		if (nd == NULL) {
			chain_free(p, *first);
			*first = *last = NULL;
			return HF_ENOMEM;
		}
		nd->text = t[i].text;   /* ownership moves */
		t[i].text = NULL;
		nd->file = file;
		nd->line = t[i].line;
		nd->col = t[i].col;
		nd->quoted = t[i].quoted;
		nd->nl = count_nl(nd->text);
		p->ntok++;
		nd->prev = *last;
		if (*last)
			(*last)->next = nd;
		else
			*first = nd;
		*last = nd;
	}
	return HF_EOK;
}

static int too_many_tokens(parser_t *p, const node_t *at)
{
	return perr(p, at, "too many tokens after imports (more than %d)", MAX_TOKENS);
}

/* Lex one imported file into a chain (doSingleImport). */
static int single_import(parser_t *p, const node_t *at, const char *path,
			 node_t **first, node_t **last)
{
	char why[512], *buf = NULL, lmsg[256];
	size_t len = 0;
	*first = *last = NULL;
	size_t room = MAX_IMPORT_BYTES - p->import_bytes;
	int ret = hfi_read_file(p->mm, path, room, &buf, &len, why, sizeof(why));
	if (ret == HF_ENOMEM)
		return oom(p);
	if (ret != HF_EOK) {
		if (strncmp(why, "file too large", 14) == 0)
			return perr(p, at, "Could not import %s: imports exceed %u bytes in total",
				    path, MAX_IMPORT_BYTES);
		if (strncmp(why, "open ", 5) == 0 || strncmp(why, "read ", 5) == 0 ||
		    strncmp(why, "stat ", 5) == 0)
			return perr(p, at, "Could not import %s: %s", path, why);
		return perr(p, at, "Could not import %s: %s", path, why);
	}
	p->import_bytes += len;
	hfi_lex_tok_t *t = NULL;
	size_t n = 0;
	int eline = 0, ecol = 0;
	ret = hfi_lex(buf, len, p->mm, &t, &n, &eline, &ecol, lmsg, sizeof(lmsg));
	hfi_mm_free(p->mm, buf);
	if (ret == HF_ENOMEM)
		return oom(p);
	if (ret != HF_EOK)
		return perr(p, at, "Could not read tokens while importing %s: %s:%d:%d: %s",
			    path, path, eline, ecol, lmsg);
	if (p->ntok + n > MAX_TOKENS) {
		hfi_lex_free(p->mm, t, n);
		return too_many_tokens(p, at);
	}
	char *abs = hfi_path_abs(p->mm, path);
	char *dir = abs ? hfi_path_dir(p->mm, abs) : NULL;
	int fi = (abs && dir) ? intern_file(p, abs, dir, false) : HF_ENOMEM;
	hfi_mm_free(p->mm, abs);
	hfi_mm_free(p->mm, dir);
	if (fi < 0) {
		hfi_lex_free(p->mm, t, n);
		return oom(p);
	}
	ret = chain_from_lex(p, t, n, fi, first, last);
	hfi_lex_free(p->mm, t, n);
	if (ret != HF_EOK)
		return oom(p);
	return HF_EOK;
}

static snippet_t *find_snippet(parser_t *p, const char *name)
{
	for (size_t i = 0; i < p->nsnip; i++)
		if (strcmp(p->snip[i].name, name) == 0)
			return &p->snip[i];
	return NULL;
}

static void append_chain(node_t **first, node_t **last, node_t *f2, node_t *l2)
{
	if (f2 == NULL)
		return;
	if (*last == NULL) {
		*first = f2;
		*last = l2;
		return;
	}
	(*last)->next = f2;
	f2->prev = *last;
	*last = l2;
}

static bool bad_glob(const char *pat)
{
	int star = 0, q = 0;
	bool lb = false, rb = false;
	for (const char *c = pat; *c; c++) {
		star += *c == '*';
		q += *c == '?';
		lb |= *c == '[';
		rb |= *c == ']';
	}
	return star > 1 || q > 1 || (lb && rb);
}

/* Go's filepath.Match syntax check for what bad_glob lets through. */
static bool glob_syntax_error(const char *pat)
{
	size_t n = strlen(pat), bs = 0;
	for (size_t i = n; i > 0 && pat[i - 1] == '\\'; i--)
		bs++;
	return strchr(pat, '[') != NULL || (bs % 2) == 1;
}

static bool has_meta(const char *s)
{
	return strpbrk(s, "*?[\\") != NULL;
}

static int glob_err_cb(const char *path, int eerrno)
{
	(void)path;
	(void)eerrno;
	return 0;
}

/* Resolve the file/glob pattern to a chain of imported tokens. */
static int import_files(parser_t *p, const node_t *at, const char *pattern,
			node_t **first, node_t **last)
{
	*first = *last = NULL;
	const char *dir = p->dirs[at->file];
	char *gp = pattern[0] == '/' ? hfi_mm_strdup(p->mm, pattern)
				     : hfi_path_join(p->mm, dir, pattern);
	if (gp == NULL)
		return oom(p);
	int ret = HF_EOK;
	if (bad_glob(gp)) {
		ret = perr(p, at, "Glob pattern may only contain one wildcard (*), but has others: %s",
			   gp);
		goto out;
	}
	if (glob_syntax_error(gp)) {
		ret = perr(p, at, "Failed to use import pattern %s: syntax error in pattern",
			   pattern);
		goto out;
	}
	if (!has_meta(gp)) {
		struct stat st;
		if (lstat(gp, &st) != 0) {
			ret = perr(p, at, "File to import not found: %s", pattern);
			goto out;
		}
		ret = single_import(p, at, gp, first, last);
		goto out;
	}
	glob_t g;
	memset(&g, 0, sizeof(g));
	int gr = glob(gp, GLOB_PERIOD, glob_err_cb, &g);
	if (gr == GLOB_NOSPACE) {
		globfree(&g);
		ret = oom(p);
		goto out;
	}
	size_t used = 0;
	for (size_t i = 0; gr == 0 && i < g.gl_pathc; i++) {
		const char *m = g.gl_pathv[i];
		const char *base = strrchr(m, '/');
		base = base ? base + 1 : m;
		if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			continue;
		node_t *f2, *l2;
		ret = single_import(p, at, m, &f2, &l2);
		if (ret != HF_EOK) {
			chain_free(p, *first);
			*first = *last = NULL;
			break;
		}
		append_chain(first, last, f2, l2);
		used++;
	}
	globfree(&g);
	if (ret == HF_EOK && used == 0)
		hfi_log(HFI_LOG_WARNING, NULL, "No files matching import glob pattern: %s", pattern);
out:
	hfi_mm_free(p->mm, gp);
	return ret;
}

/*
 * doImport: the cursor is on "import".  Replaces the two tokens by the
 * imported ones and leaves the cursor on the token before (Caddy's state
 * after its cursor--), so next() lands on the first imported token.
 */
static int do_import(parser_t *p)
{
	node_t *imp = p->cur;
	if (!next_arg(p))
		return perr(p, imp, "Wrong argument count or unexpected line ending after '%s'",
			    imp->text);
	node_t *arg = p->cur;
	char *pattern = hfi_env_replace(p->mm, arg->text);
	if (pattern == NULL)
		return oom(p);
	int ret = HF_EOK;
	node_t *first = NULL, *last = NULL;
	if (pattern[0] == '\0') {
		ret = perr(p, arg, "Import requires a non-empty filepath");
		goto out;
	}
	if (next_arg(p)) {
		ret = perr(p, p->cur, "Import takes only one argument (glob pattern or file)");
		goto out;
	}
	snippet_t *sn = find_snippet(p, pattern);
	if (sn != NULL) {
		if (p->snip_exp >= MAX_SNIPPET_EXPANSIONS) {
			ret = perr(p, arg, "maximum snippet import depth (%d) exceeded",
				   MAX_SNIPPET_EXPANSIONS);
			goto out;
		}
		p->snip_exp++;
		if (p->ntok + sn->n > MAX_TOKENS) {
			ret = too_many_tokens(p, arg);
			goto out;
		}
		for (size_t i = 0; i < sn->n; i++) {
			snip_tok_t *t = &sn->tok[i];
			node_t *nd = node_new(p, t->text, t->file, t->line, t->col, t->quoted);
			if (nd == NULL) {
				chain_free(p, first);
				first = NULL;
				ret = oom(p);
				goto out;
			}
			append_chain(&first, &last, nd, nd);
		}
	} else {
		if (p->file_exp >= MAX_FILE_IMPORTS) {
			ret = perr(p, arg, "maximum file import depth (%d) exceeded",
				   MAX_FILE_IMPORTS);
			goto out;
		}
		p->file_exp++;
		ret = import_files(p, arg, pattern, &first, &last);
		if (ret != HF_EOK)
			goto out;
		if (p->ntok > MAX_TOKENS + 2) {
			chain_free(p, first);
			first = NULL;
			ret = too_many_tokens(p, arg);
			goto out;
		}
	}
	/* splice: prev <-> first..last <-> after */
	node_t *prev = imp->prev, *after = arg->next;
	node_free(p, imp);
	node_free(p, arg);
	if (first != NULL) {
		prev->next = first;
		first->prev = prev;
		last->next = after;
		if (after)
			after->prev = last;
	} else {
		prev->next = after;
		if (after)
			after->prev = prev;
	}
	p->cur = prev;
out:
	hfi_mm_free(p->mm, pattern);
	return ret;
}

static int add_key(parser_t *p, char *text, const node_t *at)
{
	void *a = p->keys;
	if (hfi_mm_grow(p->mm, &a, &p->capkeys, p->nkeys + 1, sizeof(hfi_token_t)) != HF_EOK)
		return HF_ENOMEM;
	p->keys = a;
	hfi_token_t *k = &p->keys[p->nkeys++];
	k->text = text;
	k->file = p->files[at->file];
	k->line = at->line;
	k->col = at->col;
	k->quoted = at->quoted;
	return HF_EOK;
}

static int addresses(parser_t *p)
{
	bool expecting = false;
	for (;;) {
		char *tkn = hfi_env_replace(p->mm, val(p));
		if (tkn == NULL)
			return oom(p);
		if (strcmp(tkn, "import") == 0 && is_newline(p)) {
			hfi_mm_free(p->mm, tkn);
			int ret = do_import(p);
			if (ret != HF_EOK)
				return ret;
			if (p->cur->next == NULL) {
				if (expecting)
					return perr(p, p->cur, "Unexpected EOF");
				p->eof = true;
				return HF_EOK;
			}
			p->cur = p->cur->next;
			continue;
		}
		if (strcmp(tkn, "{") == 0) {
			int ret = HF_EOK;
			if (expecting)
				ret = perr(p, p->cur,
					   "Expected another address but had '%s' - check for extra comma",
					   tkn);
			hfi_mm_free(p->mm, tkn);
			return ret;
		}
		if (tkn[0] != '\0') {
			size_t l = strlen(tkn);
			if (tkn[l - 1] == ',') {
				tkn[l - 1] = '\0';
				expecting = true;
			} else {
				expecting = false;
			}
			if (add_key(p, tkn, p->cur) != HF_EOK) {
				hfi_mm_free(p->mm, tkn);
				return oom(p);
			}
		} else {
			hfi_mm_free(p->mm, tkn);
		}
		bool has = next(p);
		if (expecting && !has)
			return perr(p, p->cur, "Unexpected EOF");
		if (!has) {
			p->eof = true;
			return HF_EOK;
		}
		if (!expecting && is_newline(p))
			return HF_EOK;
	}
}

static void token_clear(const hf_mm_t *mm, hfi_token_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hfi_mm_free(mm, t[i].text);
}

static void dirs_clear(const hf_mm_t *mm, hfi_directive_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		token_clear(mm, d[i].tok, d[i].ntok);
		hfi_mm_free(mm, d[i].tok);
	}
}

static int dir_push_tok(parser_t *p, hfi_directive_t *d, size_t *cap, const char *text,
			const node_t *at)
{
	void *a = d->tok;
	if (hfi_mm_grow(p->mm, &a, cap, d->ntok + 1, sizeof(hfi_token_t)) != HF_EOK)
		return HF_ENOMEM;
	d->tok = a;
	char *t = hfi_mm_strdup(p->mm, text);
	if (t == NULL)
		return HF_ENOMEM;
	hfi_token_t *k = &d->tok[d->ntok++];
	k->text = t;
	k->file = p->files[at->file];
	k->line = at->line;
	k->col = at->col;
	k->quoted = at->quoted;
	return HF_EOK;
}

static int directive(parser_t *p)
{
	char *name = hfi_env_replace(p->mm, val(p));
	if (name == NULL)
		return oom(p);
	if (p->opts != NULL && p->opts->check != NULL) {
		enum hfi_dir_check c = p->opts->check(name);
		int ret = HF_EOK;
		if (c == HFI_DIR_UNKNOWN)
			ret = perr(p, p->cur, "Unknown directive '%s'", name);
		else if (c == HFI_DIR_UNSUPPORTED)
			ret = unsupported(p, p->cur, name);
		if (ret != HF_EOK) {
			hfi_mm_free(p->mm, name);
			return ret;
		}
	}
	void *a = p->dirsv;
	if (hfi_mm_grow(p->mm, &a, &p->capdirs, p->ndirs + 1, sizeof(hfi_directive_t)) != HF_EOK) {
		hfi_mm_free(p->mm, name);
		return oom(p);
	}
	p->dirsv = a;
	hfi_directive_t *d = &p->dirsv[p->ndirs++];
	d->tok = NULL;
	d->ntok = 0;
	size_t cap = 0;
	int ret = dir_push_tok(p, d, &cap, name, p->cur);
	hfi_mm_free(p->mm, name);
	if (ret != HF_EOK)
		return oom(p);
	int nesting = 0;
	while (next(p)) {
		const char *v = p->cur->text;
		if (strcmp(v, "{") == 0) {
			nesting++;
		} else if (is_newline(p) && nesting == 0) {
			p->cur = p->cur->prev;
			break;
		} else if (strcmp(v, "}") == 0 && nesting > 0) {
			nesting--;
		} else if (strcmp(v, "}") == 0) {
			return perr(p, p->cur, "Unexpected '}' because no matching opening brace");
		} else if (strcmp(v, "import") == 0 && is_newline(p)) {
			ret = do_import(p);
			if (ret != HF_EOK)
				return ret;
			continue;
		}
		char *r = hfi_env_replace(p->mm, p->cur->text);
		if (r == NULL)
			return oom(p);
		hfi_mm_free(p->mm, p->cur->text);
		p->cur->text = r;
		p->cur->nl = count_nl(r);
		if (dir_push_tok(p, d, &cap, r, p->cur) != HF_EOK)
			return oom(p);
	}
	if (nesting > 0)
		return perr(p, p->cur, "Unexpected EOF");
	return HF_EOK;
}

static int directives(parser_t *p)
{
	while (next(p)) {
		if (strcmp(p->cur->text, "}") == 0)
			break;
		if (strcmp(p->cur->text, "import") == 0) {
			int ret = do_import(p);
			if (ret != HF_EOK)
				return ret;
			continue;
		}
		int ret = directive(p);
		if (ret != HF_EOK)
			return ret;
	}
	return HF_EOK;
}

static int block_contents(parser_t *p)
{
	bool brace = strcmp(val(p), "{") == 0;
	if (!brace)
		p->cur = p->cur->prev;
	int ret = directives(p);
	if (ret != HF_EOK)
		return ret;
	if (brace && strcmp(val(p), "}") != 0)
		return psyntax(p, "}");
	return HF_EOK;
}

static int snippet_tokens(parser_t *p, const char *name)
{
	if (strcmp(val(p), "{") != 0)
		return psyntax(p, "{");
	void *a = p->snip;
	if (hfi_mm_grow(p->mm, &a, &p->capsnip, p->nsnip + 1, sizeof(snippet_t)) != HF_EOK)
		return oom(p);
	p->snip = a;
	snippet_t *s = &p->snip[p->nsnip];
	memset(s, 0, sizeof(*s));
	s->name = hfi_mm_strdup(p->mm, name);
	if (s->name == NULL)
		return oom(p);
	p->nsnip++;
	size_t cap = 0;
	int count = 1;
	while (next(p)) {
		const char *v = p->cur->text;
		if (strcmp(v, "}") == 0 && --count == 0)
			break;
		if (strcmp(v, "{") == 0)
			count++;
		a = s->tok;
		if (hfi_mm_grow(p->mm, &a, &cap, s->n + 1, sizeof(snip_tok_t)) != HF_EOK)
			return oom(p);
		s->tok = a;
		snip_tok_t *t = &s->tok[s->n];
		t->text = hfi_mm_strdup(p->mm, v);
		if (t->text == NULL)
			return oom(p);
		t->file = p->cur->file;
		t->line = p->cur->line;
		t->col = p->cur->col;
		t->quoted = p->cur->quoted;
		s->n++;
	}
	if (count != 0)
		return psyntax(p, "}");
	/* minimal guard: trivial self-import in the snippet body */
	for (size_t i = 0; i + 1 < s->n; i++) {
		if (strcmp(s->tok[i].text, "import") != 0)
			continue;
		bool start = i == 0 || s->tok[i - 1].file != s->tok[i].file ||
			     s->tok[i - 1].line != s->tok[i].line;
		if (!start)
			continue;
		char *r = hfi_env_replace(p->mm, s->tok[i + 1].text);
		if (r == NULL)
			return oom(p);
		bool self = strcmp(r, name) == 0;
		hfi_mm_free(p->mm, r);
		if (self)
			return perr(p, p->cur, "maximum snippet import depth (%d) exceeded",
				    MAX_SNIPPET_EXPANSIONS);
	}
	return HF_EOK;
}

static int begin(parser_t *p)
{
	if (p->head.next == NULL)
		return HF_EOK;
	int ret = addresses(p);
	if (ret != HF_EOK || p->eof)
		return ret;
	if (p->nkeys == 1) {
		const char *k = p->keys[0].text;
		size_t l = strlen(k);
		if (l >= 2 && k[0] == '(' && k[l - 1] == ')') {
			char *name = hfi_mm_strndup(p->mm, k + 1, l - 2);
			if (name == NULL)
				return oom(p);
			if (find_snippet(p, name) != NULL)
				ret = perr(p, p->cur, "redeclaration of previously declared snippet %s",
					   name);
			else
				ret = snippet_tokens(p, name);
			hfi_mm_free(p->mm, name);
			token_clear(p->mm, p->keys, p->nkeys);
			p->nkeys = 0;
			return ret;
		}
	}
	return block_contents(p);
}

static void reset_block(parser_t *p)
{
	token_clear(p->mm, p->keys, p->nkeys);
	dirs_clear(p->mm, p->dirsv, p->ndirs);
	p->nkeys = 0;
	p->ndirs = 0;
}

static int push_block(parser_t *p)
{
	hfi_corefile_t *cf = p->cf;
	void *a = cf->blocks;
	if (hfi_mm_grow(p->mm, &a, &p->capblocks, cf->nblocks + 1,
			sizeof(hfi_server_block_t)) != HF_EOK)
		return oom(p);
	cf->blocks = a;
	hfi_server_block_t *b = &cf->blocks[cf->nblocks];
	b->keys = hfi_mm_alloc(p->mm, p->nkeys * sizeof(hfi_token_t));
	b->dirs = hfi_mm_alloc(p->mm, (p->ndirs ? p->ndirs : 1) * sizeof(hfi_directive_t));
	if (b->keys == NULL || b->dirs == NULL) {
		hfi_mm_free(p->mm, b->keys);
		hfi_mm_free(p->mm, b->dirs);
		return oom(p);
	}
	memcpy(b->keys, p->keys, p->nkeys * sizeof(hfi_token_t));
	if (p->ndirs)
		memcpy(b->dirs, p->dirsv, p->ndirs * sizeof(hfi_directive_t));
	b->nkeys = p->nkeys;
	b->ndirs = p->ndirs;
	cf->nblocks++;
	p->nkeys = 0;   /* ownership moved */
	p->ndirs = 0;
	return HF_EOK;
}

static int parse_all(parser_t *p)
{
	while (next(p)) {
		int ret = begin(p);
		if (ret != HF_EOK)
			return ret;
		if (p->nkeys > 0) {
			ret = push_block(p);
			if (ret != HF_EOK)
				return ret;
		} else {
			reset_block(p);
		}
	}
	return HF_EOK;
}

static void parser_cleanup(parser_t *p)
{
	chain_free(p, p->head.next);
	p->head.next = NULL;
	reset_block(p);
	hfi_mm_free(p->mm, p->keys);
	hfi_mm_free(p->mm, p->dirsv);
	for (size_t i = 0; i < p->nsnip; i++) {
		for (size_t j = 0; j < p->snip[i].n; j++)
			hfi_mm_free(p->mm, p->snip[i].tok[j].text);
		hfi_mm_free(p->mm, p->snip[i].tok);
		hfi_mm_free(p->mm, p->snip[i].name);
	}
	hfi_mm_free(p->mm, p->snip);
	for (size_t i = 0; i < p->nfiles; i++)
		hfi_mm_free(p->mm, p->dirs[i]);
	hfi_mm_free(p->mm, p->dirs);
}

void hfi_corefile_free(hfi_corefile_t *cf)
{
	if (cf == NULL)
		return;
	hf_mm_t mm = cf->mm;
	for (size_t i = 0; i < cf->nblocks; i++) {
		token_clear(&mm, cf->blocks[i].keys, cf->blocks[i].nkeys);
		hfi_mm_free(&mm, cf->blocks[i].keys);
		dirs_clear(&mm, cf->blocks[i].dirs, cf->blocks[i].ndirs);
		hfi_mm_free(&mm, cf->blocks[i].dirs);
	}
	hfi_mm_free(&mm, cf->blocks);
	for (size_t i = 0; i < cf->nfiles; i++)
		hfi_mm_free(&mm, cf->files[i]);
	hfi_mm_free(&mm, cf->files);
	hfi_mm_free(&mm, cf);
}

hfi_corefile_t *hfi_corefile_parse_ex(const char *name, const char *text, size_t len,
				      const char *base_dir, const hfi_corefile_opts_t *opts,
				      const hf_mm_t *mm, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (name == NULL)
		name = "Corefile";
	hfi_corefile_t *cf = hfi_mm_calloc(mm, 1, sizeof(*cf));
	if (cf == NULL) {
		hfi_cf_oom(err, errlen, name);
		return NULL;
	}
	if (mm != NULL)
		cf->mm = *mm;
	parser_t p;
	memset(&p, 0, sizeof(p));
	p.mm = &cf->mm;
	p.opts = opts;
	p.cf = cf;
	p.err = err;
	p.errlen = errlen;
	p.cur = &p.head;
	int ret = HF_EOK;
	char *dir = hfi_path_abs(p.mm, base_dir != NULL && base_dir[0] ? base_dir : ".");
	if (dir == NULL || intern_file(&p, name, dir, true) < 0) {
		hfi_mm_free(p.mm, dir);
		hfi_cf_oom(err, errlen, name);
		ret = HF_ENOMEM;
		goto done;
	}
	hfi_mm_free(p.mm, dir);
	hfi_lex_tok_t *t = NULL;
	size_t n = 0;
	int eline = 0, ecol = 0;
	char lmsg[256];
	ret = hfi_lex(text ? text : "", text ? len : 0, p.mm, &t, &n, &eline, &ecol, lmsg,
		      sizeof(lmsg));
	if (ret == HF_ENOMEM) {
		oom(&p);
		goto done;
	}
	if (ret != HF_EOK) {
		hfi_cf_errf(err, errlen, name, eline, ecol, "%s", lmsg);
		goto done;
	}
	if (n > MAX_TOKENS) {
		hfi_lex_free(p.mm, t, n);
		ret = perr(&p, NULL, "too many tokens (more than %d)", MAX_TOKENS);
		goto done;
	}
	node_t *first, *last;
	ret = chain_from_lex(&p, t, n, 0, &first, &last);
	hfi_lex_free(p.mm, t, n);
	if (ret != HF_EOK) {
		oom(&p);
		goto done;
	}
	p.head.next = first;
	if (first)
		first->prev = &p.head;
	ret = parse_all(&p);
done:
	parser_cleanup(&p);
	cf->files = p.files;
	cf->nfiles = p.nfiles;
	if (ret != HF_EOK) {
		hfi_corefile_free(cf);
		return NULL;
	}
	return cf;
}

hfi_corefile_t *hfi_corefile_parse(const char *name, const char *text, size_t len,
				   const char *base_dir, const hf_mm_t *mm,
				   char *err, size_t errlen)
{
	return hfi_corefile_parse_ex(name, text, len, base_dir, NULL, mm, err, errlen);
}
