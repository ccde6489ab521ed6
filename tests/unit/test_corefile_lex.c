/*
 * test_corefile_lex.c: the Corefile tokenizer against Caddy v1's lexer
 * rules (spec 1.1): whitespace tokens, BOM, '\r', quotes and the \" escape,
 * comments anywhere, braces as ordinary characters, line/column tracking,
 * Unicode spaces, invalid UTF-8, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "corefile_lex.h"
#include "holdfast.h"
#include "mm.h"

typedef struct lexed {
	hfi_lex_tok_t *t;
	size_t n;
} lexed_t;

static lexed_t lex_ok(const char *s, size_t len)
{
	lexed_t l = {0};
	int eline = 0, ecol = 0;
	char msg[256];
	int ret = hfi_lex(s, len, NULL, &l.t, &l.n, &eline, &ecol, msg, sizeof(msg));
	assert_int_equal(ret, HF_EOK);
	return l;
}

static lexed_t lex_str(const char *s)
{
	return lex_ok(s, strlen(s));
}

static void tok_is(const lexed_t *l, size_t i, const char *text, int line, int col, bool quoted)
{
	assert_true(i < l->n);
	assert_string_equal(l->t[i].text, text);
	assert_int_equal(l->t[i].line, line);
	assert_int_equal(l->t[i].col, col);
	assert_int_equal(l->t[i].quoted, quoted);
}

static void done(lexed_t *l)
{
	hfi_lex_free(NULL, l->t, l->n);
}

static void test_whitespace_tokens(void **state)
{
	(void)state;
	lexed_t l = lex_str("  .:53 {\n\tkubernetes   cluster.local\n}\n");
	assert_int_equal(l.n, 5);
	tok_is(&l, 0, ".:53", 1, 3, false);
	tok_is(&l, 1, "{", 1, 8, false);
	tok_is(&l, 2, "kubernetes", 2, 2, false);
	tok_is(&l, 3, "cluster.local", 2, 15, false);
	tok_is(&l, 4, "}", 3, 1, false);
	done(&l);
}

static void test_empty_input(void **state)
{
	(void)state;
	lexed_t l = lex_str("");
	assert_int_equal(l.n, 0);
	done(&l);
	l = lex_str("   \n\n  # only a comment\n");
	assert_int_equal(l.n, 0);
	done(&l);
}

static void test_bom_dropped(void **state)
{
	(void)state;
	lexed_t l = lex_str("\xEF\xBB\xBF.:53 {\n}");
	assert_int_equal(l.n, 3);
	tok_is(&l, 0, ".:53", 1, 1, false);
	done(&l);
	/* a BOM elsewhere is an ordinary character */
	l = lex_str("a\xEF\xBB\xBF b");
	assert_int_equal(l.n, 2);
	tok_is(&l, 0, "a\xEF\xBB\xBF", 1, 1, false);
	tok_is(&l, 1, "b", 1, 4, false);
	done(&l);
}

static void test_cr_ignored(void **state)
{
	(void)state;
	/* '\r' is dropped without ending the token (Caddy `continue`s) */
	lexed_t l = lex_str("foo\rbar baz\r\nqux");
	assert_int_equal(l.n, 3);
	tok_is(&l, 0, "foobar", 1, 1, false);
	tok_is(&l, 1, "baz", 1, 9, false);
	tok_is(&l, 2, "qux", 2, 1, false);
	done(&l);
}

static void test_quotes(void **state)
{
	(void)state;
	lexed_t l = lex_str("log \"a b\" \"say \\\"hi\\\"\" \"x\\ny\" \"\" \"a\"b mid\"quote\"");
	assert_int_equal(l.n, 8);
	tok_is(&l, 0, "log", 1, 1, false);
	tok_is(&l, 1, "a b", 1, 5, true);
	tok_is(&l, 2, "say \"hi\"", 1, 11, true);
	tok_is(&l, 3, "x\\ny", 1, 24, true);   /* backslash n stays literal */
	tok_is(&l, 4, "", 1, 31, true);
	tok_is(&l, 5, "a", 1, 34, true);      /* the closing quote ends the token */
	tok_is(&l, 6, "b", 1, 37, false);
	tok_is(&l, 7, "mid\"quote\"", 1, 39, false);
	done(&l);
}

static void test_quoted_newlines_count_lines(void **state)
{
	(void)state;
	lexed_t l = lex_str("a \"one\ntwo\nthree\" b\nc");
	assert_int_equal(l.n, 4);
	tok_is(&l, 0, "a", 1, 1, false);
	tok_is(&l, 1, "one\ntwo\nthree", 1, 3, true);
	tok_is(&l, 2, "b", 3, 8, false);
	tok_is(&l, 3, "c", 4, 1, false);
	done(&l);
}

static void test_unterminated_quote(void **state)
{
	(void)state;
	lexed_t l = lex_str("a \"open to the end");
	assert_int_equal(l.n, 2);
	tok_is(&l, 1, "open to the end", 1, 3, true);
	done(&l);
	l = lex_str("a \"");
	assert_int_equal(l.n, 1);
	done(&l);
}

static void test_comments(void **state)
{
	(void)state;
	lexed_t l = lex_str("# header\nfoo#bar baz\n  qux # tail \"not a quote\nend");
	assert_int_equal(l.n, 3);
	tok_is(&l, 0, "foo", 2, 1, false);
	tok_is(&l, 1, "qux", 3, 3, false);
	tok_is(&l, 2, "end", 4, 1, false);
	done(&l);
	/* '#' inside quotes is text */
	l = lex_str("\"a # b\" c");
	assert_int_equal(l.n, 2);
	tok_is(&l, 0, "a # b", 1, 1, true);
	done(&l);
}

static void test_braces_not_special(void **state)
{
	(void)state;
	lexed_t l = lex_str("cache 30{\nexample.org{ }");
	assert_int_equal(l.n, 4);
	tok_is(&l, 1, "30{", 1, 7, false);
	tok_is(&l, 2, "example.org{", 2, 1, false);
	tok_is(&l, 3, "}", 2, 14, false);
	done(&l);
}

static void test_unicode_space_and_columns(void **state)
{
	(void)state;
	/* U+00A0 and U+3000 separate tokens; columns count characters */
	lexed_t l = lex_str("\xC3\xA9t\xC3\xA9\xC2\xA0x\xE3\x80\x80y");
	assert_int_equal(l.n, 3);
	tok_is(&l, 0, "\xC3\xA9t\xC3\xA9", 1, 1, false);
	tok_is(&l, 1, "x", 1, 5, false);
	tok_is(&l, 2, "y", 1, 7, false);
	done(&l);
	/* U+200B (zero width space) is not unicode.IsSpace */
	l = lex_str("a\xE2\x80\x8B" "b");
	assert_int_equal(l.n, 1);
	done(&l);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	lexed_t l = lex_ok("a\xFF" "b \xC3", 5);
	assert_int_equal(l.n, 2);
	tok_is(&l, 0, "a\xEF\xBF\xBD" "b", 1, 1, false);
	tok_is(&l, 1, "\xEF\xBF\xBD", 1, 5, false);
	done(&l);
}

static void test_nul_refused(void **state)
{
	(void)state;
	hfi_lex_tok_t *t = NULL;
	size_t n = 0;
	int eline = 0, ecol = 0;
	char msg[128];
	int ret = hfi_lex("ab\ncd\0e", 7, NULL, &t, &n, &eline, &ecol, msg, sizeof(msg));
	assert_int_equal(ret, HF_EPARSE);
	assert_null(t);
	assert_int_equal(eline, 2);
	assert_int_equal(ecol, 3);
	assert_string_equal(msg, "invalid NUL byte in input");
}

static void test_error_format(void **state)
{
	(void)state;
	char err[256];
	hfi_cf_errf(err, sizeof(err), "Corefile", 3, 7, "Unknown directive '%s'", "x");
	assert_string_equal(err, "Corefile:3:7: Unknown directive 'x'\n"
				 "Corefile:3 - Error during parsing: Unknown directive 'x'");
	hfi_cf_err2(err, 20, "f", 1, 2, "aaaaaaaaaaaaaaaaaaaaaaaaa", "b");
	assert_int_equal(strlen(err), 19);  /* truncated, terminated */
	hfi_cf_errf(NULL, 0, "f", 1, 1, "ignored");
}

static void test_torture(void **state)
{
	(void)state;
	const char *in = "a \"b c\" d#x\n{ e f }\n\"g\nh\" i";
	bool ok = false;
	for (unsigned long k = 1; k < 200 && !ok; k++) {
		hf_mm_t mm;
		hfi_mm_torture_t t;
		hfi_mm_torture_init(&mm, &t, k);
		hfi_lex_tok_t *tok = NULL;
		size_t n = 0;
		int eline, ecol;
		char msg[64];
		int ret = hfi_lex(in, strlen(in), &mm, &tok, &n, &eline, &ecol, msg, sizeof(msg));
		if (ret == HF_EOK) {
			assert_int_equal(n, 9);
			hfi_lex_free(&mm, tok, n);
			ok = true;
		} else {
			assert_int_equal(ret, HF_ENOMEM);
			assert_null(tok);
		}
		assert_int_equal(t.live, 0);
	}
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whitespace_tokens),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_bom_dropped),
		cmocka_unit_test(test_cr_ignored),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_quoted_newlines_count_lines),
		cmocka_unit_test(test_unterminated_quote),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_braces_not_special),
		cmocka_unit_test(test_unicode_space_and_columns),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_nul_refused),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test(test_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
