/*
 * corefile.h: the Caddy-v1 Corefile lexer and parser (spec section 1):
 * tokens, quotes, comments, {$ENV}, import of files/globs/snippets, server
 * block keys and directive lines.  Produces a syntax tree that config_*.c
 * turns into an hfi_config_t.
 */
#ifndef HF_COREFILE_H
#define HF_COREFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "mm.h"

typedef struct hfi_token {
	char *text;
	const char *file;   /* interned file name (owned by the tree) */
	int line, col;
	bool quoted;
} hfi_token_t;

/* One directive: name + every token up to the end of its line and its block
 * (braces included, as Caddy's dispenser sees them). */
typedef struct hfi_directive {
	hfi_token_t *tok;   /* tok[0] is the directive name */
	size_t ntok;
} hfi_directive_t;

typedef struct hfi_server_block {
	hfi_token_t *keys;
	size_t nkeys;
	hfi_directive_t *dirs;
	size_t ndirs;
} hfi_server_block_t;

typedef struct hfi_corefile {
	hfi_server_block_t *blocks;
	size_t nblocks;
	char **files;       /* interned file names */
	size_t nfiles;
	hf_mm_t mm;
} hfi_corefile_t;

/* Lex + parse; name appears in messages; base_dir resolves imports. */
hfi_corefile_t *hfi_corefile_parse(const char *name, const char *text, size_t len,
				   const char *base_dir, const hf_mm_t *mm,
				   char *err, size_t errlen);
void hfi_corefile_free(hfi_corefile_t *cf);

/* Result of a directive-name check (hfi_corefile_opts_t.check). */
enum hfi_dir_check { HFI_DIR_OK = 0, HFI_DIR_UNKNOWN = 1, HFI_DIR_UNSUPPORTED = 2 };

typedef struct hfi_corefile_opts {
	/* Directive-name check run while parsing (Caddy's validDirectives);
	 * NULL accepts every name.  UNKNOWN -> "Unknown directive 'X'",
	 * UNSUPPORTED -> a CoreDNS plugin holdfast does not implement. */
	enum hfi_dir_check (*check)(const char *name);
} hfi_corefile_opts_t;

/* hfi_corefile_parse with options (opts may be NULL). */
hfi_corefile_t *hfi_corefile_parse_ex(const char *name, const char *text, size_t len,
				      const char *base_dir, const hfi_corefile_opts_t *opts,
				      const hf_mm_t *mm, char *err, size_t errlen);

#endif
