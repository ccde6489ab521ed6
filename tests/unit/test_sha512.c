/* test_sha512.c: hfi_sha512 against digests computed with coreutils'
 * sha512sum (empty, "abc", a 104-byte string, a sentence, one million
 * 'a' fed in uneven chunks) and the padding boundaries (lengths 111 to
 * 240 around one and two 128-byte blocks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sha512.h"

static void hex_of(const char *s, char out[129])
{
	hfi_sha512_hex(s, strlen(s), out);
}

static void test_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *in, *hex;
	} v[] = {
		{"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
		{"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{"abcdbcdeefghcdefghidefghijefghijkfghijklghijklmhijklmnijklmnojklmnopklmnopqlmnopqrmnopqrsnopqrstopqrstu",
		 "e20b49907eb72e724a22fd007b46fa5e1c98c07e12b97e53bbec696f281bfb0ece6da7e638e9a6c219bc9c5f18ba437fb5eca7dbe3b3c81ce046b3950abcbb1e"},
		{"The quick brown fox jumps over the lazy dog",
		 "07e547d9586f6a73f73fbac0435ed76951218fb7d0c8d788a309d785436bbb642e93a252a954f23912547d1e8a3b5ed6e1bfd7097821233fa0538f3db854fee6"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char h[129];
		hex_of(v[i].in, h);
		assert_string_equal(h, v[i].hex);
	}
}

static void test_million_a_chunked(void **state)
{
	(void)state;
	static uint8_t chunk[997];
	memset(chunk, 'a', sizeof(chunk));
	hfi_sha512_t c;
	hfi_sha512_init(&c);
	size_t left = 1000000, step = 1;
	while (left > 0) {
		size_t n = step < left ? step : left;
		if (n > sizeof(chunk))
			n = sizeof(chunk);
		hfi_sha512_update(&c, chunk, n);
		left -= n;
		step = step * 3 + 1; /* 1, 4, 13, ... uneven pieces */
	}
	uint8_t d[64];
	hfi_sha512_final(&c, d);
	char h[129];
	for (int i = 0; i < 64; i++)
		snprintf(h + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(h, "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
}

static void test_padding_boundaries(void **state)
{
	(void)state;
	static const struct {
		size_t n;
		const char *prefix;
	} v[] = {
		{111, "9a2a120825c2319867758ec277924f6f"}, {112, "a3722b515ef40c910f2419f6e0da8ca5"},
		{127, "1d5a8893e7b7ed83d485d26f88cfb846"}, {128, "e2e22f8422b54b06e35c3ea30a383d1d"},
		{129, "19015483ea99fa74728fd7b13adba6b7"}, {239, "805c40517b44cef414a06c632b4ee9c2"},
		{240, "3e05caa7e0fddab685e6052bd902c316"},
	};
	char buf[256];
	memset(buf, 'x', sizeof(buf));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char h[129];
		hfi_sha512_hex(buf, v[i].n, h);
		assert_memory_equal(h, v[i].prefix, 32);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_million_a_chunked),
		cmocka_unit_test(test_padding_boundaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
