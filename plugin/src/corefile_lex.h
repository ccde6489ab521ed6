/*
 * corefile_lex.h: internal interface of the Corefile lexer (Caddy v1
 * caddyfile/lexer.go semantics, spec 1.1) and the two-line error format
 * shared by the Corefile parser and the config loader:
 *   line 1: "FILE:LINE:COL: MESSAGE"   (holdfast's own)
 *   line 2: the exact CoreDNS text      (or its generic shape)
 */
#ifndef HF_COREFILE_LEX_H
#define HF_COREFILE_LEX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "mm.h"

/* One raw token as the lexer sees it. */
typedef struct hfi_lex_tok {
	char *text;     /* mm-allocated, NUL-terminated */
	int line, col;  /* 1-based; col counts characters, of the first one */
	bool quoted;
} hfi_lex_tok_t;

/* Caps that keep every input bounded. */
#define HFI_CF_MAX_TOKEN_LEN (1u << 20)  /* one token */

/*
 * Tokenize len bytes.  On success *out and *n hold the tokens (free with
 * hfi_lex_free).  Returns HF_EOK, HF_ENOMEM, or HF_EPARSE with *eline, *ecol
 * and a message in msg (NUL bytes and oversized tokens are refused).
 */
int hfi_lex(const char *in, size_t len, const hf_mm_t *mm, hfi_lex_tok_t **out,
	    size_t *n, int *eline, int *ecol, char *msg, size_t msglen);
void hfi_lex_free(const hf_mm_t *mm, hfi_lex_tok_t *tok, size_t n);

/* Write "FILE:LINE:COL: msg1\nline2" into err (NULL/0 allowed). */
void hfi_cf_err2(char *err, size_t errlen, const char *file, int line, int col,
		 const char *msg1, const char *line2);
/* Generic CoreDNS parse error: line 2 = "FILE:LINE - Error during parsing: MSG". */
void hfi_cf_errf(char *err, size_t errlen, const char *file, int line, int col,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Out of memory, reported against file (line 1 col 1). */
void hfi_cf_oom(char *err, size_t errlen, const char *file);

/* snprintf that never fails the caller: truncates silently. */
void hfi_cf_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void hfi_cf_vfmt(char *buf, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Paths, with Go's path/filepath semantics (Clean, Join, Dir, Abs). */
char *hfi_path_clean(const hf_mm_t *mm, const char *path);
char *hfi_path_join(const hf_mm_t *mm, const char *dir, const char *rel);
char *hfi_path_dir(const hf_mm_t *mm, const char *path);
char *hfi_path_abs(const hf_mm_t *mm, const char *path);

/*
 * Read a whole regular file of at most max bytes into a NUL-terminated
 * buffer.  Errors: HF_ENOMEM, HF_EIO with a Go-style reason in why
 * ("open PATH: no such file or directory", "is a directory", ...).
 */
int hfi_read_file(const hf_mm_t *mm, const char *path, size_t max, char **buf,
		  size_t *len, char *why, size_t whylen);

/* Caddy's replaceEnvVars ({%NAME%} then {$NAME}); NULL on allocation failure. */
char *hfi_env_replace(const hf_mm_t *mm, const char *s);

#endif
