/*
 * test_corefile_parse.c: the Caddy-v1 Corefile parser (spec 1.2-1.4):
 * server-block keys, directive lines and blocks, {$ENV}/{%ENV%}, snippets,
 * import of files and globs (relative to the importing file, tokens
 * carrying the imported file's absolute name), every parse error with its
 * two-line message, the expansion caps, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corefile.h"
#include "corefile_lex.h"
#include "holdfast.h"
#include "log.h"
#include "mm.h"

#define TMPDIR_PREFIX "/tmp/hf_cfparse_"
#include "tmpdir_util.h"

static enum hfi_dir_check check(const char *name)
{
	if (strcmp(name, "rewrite") == 0)
		return HFI_DIR_UNSUPPORTED;
	if (strcmp(name, "kubernets") == 0 || strcmp(name, "bogus") == 0)
		return HFI_DIR_UNKNOWN;
	return HFI_DIR_OK;
}

static hfi_corefile_t *parse(const char *text)
{
	char err[1024] = "";
	hfi_corefile_opts_t o = {.check = check};
	hfi_corefile_t *cf = hfi_corefile_parse_ex("Corefile", text, strlen(text), dir, &o, NULL,
						   err, sizeof(err));
	if (cf == NULL)
		fail_msg("unexpected error: %s", err);
	return cf;
}

static void parse_err(const char *text, const char *l1, const char *l2)
{
	char err[2048] = "", want[2048];
	hfi_corefile_opts_t o = {.check = check};
	hfi_corefile_t *cf = hfi_corefile_parse_ex("Corefile", text, strlen(text), dir, &o, NULL,
						   err, sizeof(err));
	if (cf != NULL) {
		hfi_corefile_free(cf);
		fail_msg("parsed but expected: %s", l1);
	}
	snprintf(want, sizeof(want), "%s\n%s", l1, l2);
	assert_string_equal(err, want);
}

static void tok_is(const hfi_token_t *t, const char *text, const char *file, int line, int col)
{
	assert_string_equal(t->text, text);
	assert_string_equal(t->file, file);
	assert_int_equal(t->line, line);
	assert_int_equal(t->col, col);
}

/* directive d of block b has exactly the given tokens */
static void dir_is(const hfi_server_block_t *b, size_t d, size_t n, ...)
{
	assert_true(d < b->ndirs);
	assert_int_equal(b->dirs[d].ntok, n);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(b->dirs[d].tok[i].text, va_arg(ap, const char *));
	va_end(ap);
}

static void test_structure(void **state)
{
	(void)state;
	hfi_corefile_t *cf = parse("example.org example.net:1053 {\n"
				   "    errors\n"
				   "    log . {\n"
				   "        class denial\n"
				   "    }\n"
				   "    log\n"
				   "}\n");
	assert_int_equal(cf->nblocks, 1);
	hfi_server_block_t *b = &cf->blocks[0];
	assert_int_equal(b->nkeys, 2);
	tok_is(&b->keys[0], "example.org", "Corefile", 1, 1);
	tok_is(&b->keys[1], "example.net:1053", "Corefile", 1, 13);
	assert_int_equal(b->ndirs, 3);
	dir_is(b, 0, 1, "errors");
	dir_is(b, 1, 6, "log", ".", "{", "class", "denial", "}");
	dir_is(b, 2, 1, "log");
	tok_is(&b->dirs[1].tok[3], "class", "Corefile", 4, 9);
	hfi_corefile_free(cf);
}

static void test_keys_comma_and_brace_line(void **state)
{
	(void)state;
	hfi_corefile_t *cf = parse("a.org,\n  b.org, c.org,\nd.org\n{\n whoami\n}\n"
				   "e.org \"\" f.org {\n}\n");
	assert_int_equal(cf->nblocks, 2);
	assert_int_equal(cf->blocks[0].nkeys, 4);
	assert_string_equal(cf->blocks[0].keys[0].text, "a.org");
	assert_string_equal(cf->blocks[0].keys[1].text, "b.org");
	assert_string_equal(cf->blocks[0].keys[2].text, "c.org");
	tok_is(&cf->blocks[0].keys[3], "d.org", "Corefile", 3, 1);
	dir_is(&cf->blocks[0], 0, 1, "whoami");
	/* empty keys are skipped */
	assert_int_equal(cf->blocks[1].nkeys, 2);
	assert_string_equal(cf->blocks[1].keys[1].text, "f.org");
	assert_int_equal(cf->blocks[1].ndirs, 0);
	hfi_corefile_free(cf);
}

static void test_single_block_without_braces(void **state)
{
	(void)state;
	hfi_corefile_t *cf = parse(".:53\nwhoami\nlog {\n class error\n}\nerrors\n");
	assert_int_equal(cf->nblocks, 1);
	assert_int_equal(cf->blocks[0].ndirs, 3);
	dir_is(&cf->blocks[0], 1, 5, "log", "{", "class", "error", "}");
	hfi_corefile_free(cf);
	/* keys only */
	cf = parse("example.org:1053");
	assert_int_equal(cf->nblocks, 1);
	assert_int_equal(cf->blocks[0].ndirs, 0);
	hfi_corefile_free(cf);
	cf = parse("");
	assert_int_equal(cf->nblocks, 0);
	hfi_corefile_free(cf);
}

static void test_nested_and_empty_blocks(void **state)
{
	(void)state;
	hfi_corefile_t *cf = parse(".:53 {\n cache 30 { }\n kubernetes {\n  a {\n   b\n  }\n }\n}\n");
	dir_is(&cf->blocks[0], 0, 4, "cache", "30", "{", "}");
	dir_is(&cf->blocks[0], 1, 7, "kubernetes", "{", "a", "{", "b", "}", "}");
	hfi_corefile_free(cf);
	/* a '{' on the next line still belongs to the directive's tokens */
	cf = parse(".:53 {\n cache 30\n {\n success 5\n }\n}\n");
	dir_is(&cf->blocks[0], 0, 6, "cache", "30", "{", "success", "5", "}");
	hfi_corefile_free(cf);
}

static void test_quoted_multiline_argument(void **state)
{
	(void)state;
	hfi_corefile_t *cf = parse("x {\n log \"a\nb\" c\n whoami\n}\n");
	dir_is(&cf->blocks[0], 0, 3, "log", "a\nb", "c");
	dir_is(&cf->blocks[0], 1, 1, "whoami");
	hfi_corefile_free(cf);
}

static void test_multiple_blocks_and_occurrences(void **state)
{
	(void)state;
	hfi_corefile_t *cf = parse("a {\n forward . 1.1.1.1\n forward b 2.2.2.2\n}\nb {\n whoami\n}\n");
	assert_int_equal(cf->nblocks, 2);
	dir_is(&cf->blocks[0], 0, 3, "forward", ".", "1.1.1.1");
	dir_is(&cf->blocks[0], 1, 3, "forward", "b", "2.2.2.2");
	tok_is(&cf->blocks[1].keys[0], "b", "Corefile", 5, 1);
	hfi_corefile_free(cf);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	parse_err("a.org, {\n}\n",
		  "Corefile:1:8: Expected another address but had '{' - check for extra comma",
		  "Corefile:1 - Error during parsing: Expected another address but had '{' - check for extra comma");
	parse_err("x {\n whoami }\n}\n",
		  "Corefile:2:9: Unexpected '}' because no matching opening brace",
		  "Corefile:2 - Error during parsing: Unexpected '}' because no matching opening brace");
	parse_err("x {\n log {\n",
		  "Corefile:2:6: Unexpected EOF",
		  "Corefile:2 - Error during parsing: Unexpected EOF");
	parse_err("x {\n whoami\n log\n",
		  "Corefile:3:2: Syntax error: Unexpected token 'log', expecting '}'",
		  "Corefile:3 - Syntax error: Unexpected token 'log', expecting '}'");
	parse_err("a.org,",
		  "Corefile:1:1: Unexpected EOF",
		  "Corefile:1 - Error during parsing: Unexpected EOF");
	parse_err(".:53 {\n  errors\n  kubernets\n}\n",
		  "Corefile:3:3: Unknown directive 'kubernets'",
		  "Corefile:3 - Error during parsing: Unknown directive 'kubernets'");
	parse_err(".:53 {\n rewrite name a b\n}\n",
		  "Corefile:2:2: plugin/rewrite: the rewrite plugin is not supported by holdfast",
		  "plugin/rewrite: Corefile:2 - Error during parsing: the rewrite plugin is not supported by holdfast");
	parse_err("a\nbogus\n", "Corefile:2:1: Unknown directive 'bogus'",
		  "Corefile:2 - Error during parsing: Unknown directive 'bogus'");
}

static void test_unknown_directive_without_check(void **state)
{
	(void)state;
	char err[256];
	const char *t = "x {\n anything goes\n}\n";
	hfi_corefile_t *cf = hfi_corefile_parse("Corefile", t, strlen(t), dir, NULL, err, sizeof(err));
	assert_non_null(cf);
	dir_is(&cf->blocks[0], 0, 2, "anything", "goes");
	hfi_corefile_free(cf);
}

static void test_env(void **state)
{
	(void)state;
	setenv("HF_T_ZONE", "Example.org", 1);
	setenv("HF_T_SP", "a b", 1);
	setenv("HF_T_DIR", "log", 1);
	unsetenv("HF_T_UNSET");
	hfi_corefile_t *cf = parse("{$HF_T_ZONE}:53, {%HF_T_ZONE%}x {\n"
				   " {%HF_T_DIR%} {$HF_T_SP} \"q {$HF_T_ZONE}\" {$HF_T_UNSET}x {$} {%%} {$HF_T_SP\n"
				   "}\n");
	hfi_server_block_t *b = &cf->blocks[0];
	assert_int_equal(b->nkeys, 2);
	assert_string_equal(b->keys[0].text, "Example.org:53");
	assert_string_equal(b->keys[1].text, "Example.orgx");
	dir_is(b, 0, 7, "log", "a b", "q Example.org", "x", "{$}", "{%%}", "{$HF_T_SP");
	hfi_corefile_free(cf);
}

static void test_snippets(void **state)
{
	(void)state;
	hfi_corefile_t *cf = parse("(common) {\n errors\n log {\n  class denial\n }\n}\n"
				   "a.org {\n import common\n}\n"
				   "b.org {\n whoami\n import common\n}\n");
	assert_int_equal(cf->nblocks, 2);
	hfi_server_block_t *a = &cf->blocks[0], *b = &cf->blocks[1];
	assert_int_equal(a->ndirs, 2);
	dir_is(a, 0, 1, "errors");
	tok_is(&a->dirs[0].tok[0], "errors", "Corefile", 2, 2);  /* snippet's own lines */
	dir_is(a, 1, 5, "log", "{", "class", "denial", "}");
	assert_int_equal(b->ndirs, 3);
	dir_is(b, 0, 1, "whoami");
	dir_is(b, 2, 5, "log", "{", "class", "denial", "}");
	hfi_corefile_free(cf);
	/* a snippet is not a server block even when never imported */
	cf = parse("(unused) {\n bogus\n}\n");
	assert_int_equal(cf->nblocks, 0);
	hfi_corefile_free(cf);
}

static void test_snippet_errors(void **state)
{
	(void)state;
	parse_err("(s) {\n whoami\n}\n(s) {\n}\n",
		  "Corefile:4:5: redeclaration of previously declared snippet s",
		  "Corefile:4 - Error during parsing: redeclaration of previously declared snippet s");
	parse_err("(s)\nwhoami\n",
		  "Corefile:2:1: Syntax error: Unexpected token 'whoami', expecting '{'",
		  "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '{'");
	parse_err("(s) {\n whoami\n",
		  "Corefile:2:2: Syntax error: Unexpected token 'whoami', expecting '}'",
		  "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'");
	parse_err("(s) {\n log\n import s\n}\n",
		  "Corefile:4:1: maximum snippet import depth (10000) exceeded",
		  "Corefile:4 - Error during parsing: maximum snippet import depth (10000) exceeded");
}

static void test_snippet_expansion_cap(void **state)
{
	(void)state;
	size_t n = 10001;
	char *t = malloc(64 + n * 16);
	size_t w = (size_t)sprintf(t, "(e) {\n}\n.:53 {\n");
	for (size_t i = 0; i < n; i++)
		w += (size_t)sprintf(t + w, " import e\n");
	sprintf(t + w, "}\n");
	char l1[128], l2[128];
	snprintf(l1, sizeof(l1), "Corefile:%zu:9: maximum snippet import depth (10000) exceeded",
		 3 + n);
	snprintf(l2, sizeof(l2),
		 "Corefile:%zu - Error during parsing: maximum snippet import depth (10000) exceeded",
		 3 + n);
	parse_err(t, l1, l2);
	/* 10000 expansions are fine */
	w = (size_t)sprintf(t, "(e) {\n}\n.:53 {\n");
	for (size_t i = 0; i < 10000; i++)
		w += (size_t)sprintf(t + w, " import e\n");
	sprintf(t + w, " whoami\n}\n");
	hfi_corefile_t *cf = parse(t);
	assert_int_equal(cf->blocks[0].ndirs, 1);
	hfi_corefile_free(cf);
	free(t);
}

static void test_import_files(void **state)
{
	(void)state;
	write_file("sub/a.conf", "import b.conf\nlog\n");
	write_file("sub/b.conf", "whoami\n");
	hfi_corefile_t *cf = parse(".:53 {\n import sub/a.conf\n errors\n}\n");
	char a[512], b[512];
	snprintf(a, sizeof(a), "%s/sub/a.conf", dir);
	snprintf(b, sizeof(b), "%s/sub/b.conf", dir);
	hfi_server_block_t *blk = &cf->blocks[0];
	assert_int_equal(blk->ndirs, 3);
	tok_is(&blk->dirs[0].tok[0], "whoami", b, 1, 1);
	tok_is(&blk->dirs[1].tok[0], "log", a, 2, 1);
	tok_is(&blk->dirs[2].tok[0], "errors", "Corefile", 3, 2);
	assert_int_equal(cf->nfiles, 3);
	hfi_corefile_free(cf);
}

static void test_import_top_level_and_in_block(void **state)
{
	(void)state;
	write_file("blocks.conf", "a.org {\n whoami\n}\nb.org {\n log\n}\n");
	write_file("opts.conf", "pods insecure\nttl 30\n");
	hfi_corefile_t *cf = parse("import blocks.conf\nc.org {\n kubernetes {\n  import opts.conf\n }\n}\n");
	assert_int_equal(cf->nblocks, 3);
	assert_string_equal(cf->blocks[0].keys[0].text, "a.org");
	assert_string_equal(cf->blocks[1].keys[0].text, "b.org");
	dir_is(&cf->blocks[2], 0, 7, "kubernetes", "{", "pods", "insecure", "ttl", "30", "}");
	hfi_corefile_free(cf);
}

static void test_import_glob(void **state)
{
	(void)state;
	write_file("g/1.conf", "whoami\n");
	write_file("g/2.conf", "log\n");
	write_file("g/x.txt", "errors\n");
	write_file("g/.hidden.conf", "any\n");
	hfi_corefile_t *cf = parse(".:53 {\n import g/*.conf\n import nomatch/*.conf\n import g/?.txt\n}\n");
	hfi_server_block_t *b = &cf->blocks[0];
	/* Go's filepath.Glob matches dot files with '*' and sorts per directory */
	assert_int_equal(b->ndirs, 4);
	dir_is(b, 0, 1, "any");
	dir_is(b, 1, 1, "whoami");
	dir_is(b, 2, 1, "log");
	dir_is(b, 3, 1, "errors");
	hfi_corefile_free(cf);
}

static void test_import_errors(void **state)
{
	(void)state;
	char l1[1024], l2[1024];
	parse_err("x {\n import\n}\n",
		  "Corefile:2:2: Wrong argument count or unexpected line ending after 'import'",
		  "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'import'");
	parse_err("x {\n import a b\n}\n",
		  "Corefile:2:11: Import takes only one argument (glob pattern or file)",
		  "Corefile:2 - Error during parsing: Import takes only one argument (glob pattern or file)");
	parse_err("x {\n import \"\"\n}\n",
		  "Corefile:2:9: Import requires a non-empty filepath",
		  "Corefile:2 - Error during parsing: Import requires a non-empty filepath");
	parse_err("x {\n import nothere.conf\n}\n",
		  "Corefile:2:9: File to import not found: nothere.conf",
		  "Corefile:2 - Error during parsing: File to import not found: nothere.conf");
	snprintf(l1, sizeof(l1),
		 "Corefile:2:9: Glob pattern may only contain one wildcard (*), but has others: %s/a*b*", dir);
	snprintf(l2, sizeof(l2),
		 "Corefile:2 - Error during parsing: Glob pattern may only contain one wildcard (*), but has others: %s/a*b*",
		 dir);
	parse_err("x {\n import a*b*\n}\n", l1, l2);
	snprintf(l1, sizeof(l1),
		 "Corefile:2:9: Glob pattern may only contain one wildcard (*), but has others: %s/[ab].conf",
		 dir);
	snprintf(l2, sizeof(l2),
		 "Corefile:2 - Error during parsing: Glob pattern may only contain one wildcard (*), but has others: %s/[ab].conf",
		 dir);
	parse_err("x {\n import [ab].conf\n}\n", l1, l2);
	parse_err("x {\n import [ab\n}\n",
		  "Corefile:2:9: Failed to use import pattern [ab: syntax error in pattern",
		  "Corefile:2 - Error during parsing: Failed to use import pattern [ab: syntax error in pattern");
	write_file("adir/f", "x");
	snprintf(l1, sizeof(l1), "Corefile:2:9: Could not import %s/adir: is a directory", dir);
	snprintf(l2, sizeof(l2), "Corefile:2 - Error during parsing: Could not import %s/adir: is a directory",
		 dir);
	parse_err("x {\n import adir\n}\n", l1, l2);
	/* an error inside an imported file points into that file */
	write_file("bad.conf", "log\n  bogus\n");
	snprintf(l1, sizeof(l1), "%s/bad.conf:2:3: Unknown directive 'bogus'", dir);
	snprintf(l2, sizeof(l2), "%s/bad.conf:2 - Error during parsing: Unknown directive 'bogus'", dir);
	parse_err("x {\n import bad.conf\n}\n", l1, l2);
	/* NUL in the main file */
	char err[512];
	hfi_corefile_t *cf = hfi_corefile_parse("Corefile", "x {\n\0}", 6, dir, NULL, err, sizeof(err));
	assert_null(cf);
	assert_string_equal(err, "Corefile:2:1: invalid NUL byte in input\n"
				 "Corefile:2 - Error during parsing: invalid NUL byte in input");
}

static void test_import_env_pattern(void **state)
{
	(void)state;
	write_file("envinc.conf", "whoami\n");
	setenv("HF_T_INC", "envinc.conf", 1);
	hfi_corefile_t *cf = parse("x {\n import {$HF_T_INC}\n}\n");
	dir_is(&cf->blocks[0], 0, 1, "whoami");
	hfi_corefile_free(cf);
}

static void test_file_import_cap(void **state)
{
	(void)state;
	write_file("loop/self.conf", "import self.conf\n");
	char l1[512], l2[512];
	snprintf(l1, sizeof(l1), "%s/loop/self.conf:1:8: maximum file import depth (100000) exceeded",
		 dir);
	snprintf(l2, sizeof(l2),
		 "%s/loop/self.conf:1 - Error during parsing: maximum file import depth (100000) exceeded",
		 dir);
	parse_err("x {\n import loop/self.conf\n}\n", l1, l2);
}


static void path_is(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_paths(void **state)
{
	(void)state;
	path_is(hfi_path_clean(NULL, ""), ".");
	path_is(hfi_path_clean(NULL, "a//b/./c/"), "a/b/c");
	path_is(hfi_path_clean(NULL, "a/../../b"), "../b");
	path_is(hfi_path_clean(NULL, "/../x/.."), "/");
	path_is(hfi_path_clean(NULL, "/a/b/../c"), "/a/c");
	path_is(hfi_path_join(NULL, "/etc/coredns", "custom/*.server"), "/etc/coredns/custom/*.server");
	path_is(hfi_path_join(NULL, "/etc/coredns", "../x"), "/etc/x");
	path_is(hfi_path_join(NULL, "", "x/"), "x");
	path_is(hfi_path_dir(NULL, "/etc/coredns/Corefile"), "/etc/coredns");
	path_is(hfi_path_dir(NULL, "Corefile"), ".");
	path_is(hfi_path_dir(NULL, "/Corefile"), "/");
	path_is(hfi_path_abs(NULL, "/a/./b"), "/a/b");
	char cwd[4096], want[4200];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/x", strcmp(cwd, "/") ? cwd : "");
	path_is(hfi_path_abs(NULL, "x"), want);
	setenv("HF_T_A", "1", 1);
	path_is(hfi_env_replace(NULL, "{$HF_T_A}{%HF_T_A%}{$HF_T_A"), "11{$HF_T_A");
	setenv("HF_T_SELF", "{$HF_T_SELF}", 1);
	char *r = hfi_env_replace(NULL, "x{$HF_T_SELF}y");   /* bounded, no hang */
	assert_non_null(r);
	free(r);
}

static void test_torture(void **state)
{
	(void)state;
	write_file("t/inc.conf", "cache 30 {\n success 100\n}\n");
	setenv("HF_T_ZONE", "example.org", 1);
	const char *text = "(snip) {\n errors\n log\n}\n"
			   "{$HF_T_ZONE}:53 other.org {\n"
			   " import snip\n"
			   " import t/inc.conf\n"
			   " kubernetes cluster.local {\n  pods \"insecure\"\n }\n"
			   "}\n";
	bool ok = false;
	for (unsigned long k = 1; k < 2000 && !ok; k++) {
		hf_mm_t mm;
		hfi_mm_torture_t t;
		hfi_mm_torture_init(&mm, &t, k);
		char err[512];
		hfi_corefile_t *cf = hfi_corefile_parse("Corefile", text, strlen(text), dir, &mm,
							err, sizeof(err));
		if (cf != NULL) {
			assert_int_equal(cf->nblocks, 1);
			assert_int_equal(cf->blocks[0].ndirs, 4);
			dir_is(&cf->blocks[0], 3, 6, "kubernetes", "cluster.local", "{", "pods",
			       "insecure", "}");
			hfi_corefile_free(cf);
			ok = true;
		} else {
			assert_non_null(strstr(err, "out of memory"));
		}
		assert_int_equal(t.live, 0);
	}
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_keys_comma_and_brace_line),
		cmocka_unit_test(test_single_block_without_braces),
		cmocka_unit_test(test_nested_and_empty_blocks),
		cmocka_unit_test(test_quoted_multiline_argument),
		cmocka_unit_test(test_multiple_blocks_and_occurrences),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_unknown_directive_without_check),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_snippets),
		cmocka_unit_test(test_snippet_errors),
		cmocka_unit_test(test_snippet_expansion_cap),
		cmocka_unit_test(test_import_files),
		cmocka_unit_test(test_import_top_level_and_in_block),
		cmocka_unit_test(test_import_glob),
		cmocka_unit_test(test_import_errors),
		cmocka_unit_test(test_import_env_pattern),
		cmocka_unit_test(test_file_import_cap),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
