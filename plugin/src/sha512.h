/*
 * sha512.h: SHA-512 (FIPS 180-4), for the reload plugin's
 * "Running configuration SHA512" and coredns_reload_version_info.
 *
 * Design: a plain streaming context (init, update any number of times,
 * final) with no allocation and no dependency; hfi_sha512_hex is the
 * one-shot helper that writes the 128 lower-case hex digits.  Not
 * constant-time and not meant for secrets: it fingerprints configuration.
 */
#ifndef HF_SHA512_H
#define HF_SHA512_H

#include <stddef.h>
#include <stdint.h>

typedef struct hfi_sha512 {
	uint64_t h[8];
	uint64_t len_lo, len_hi; /* message length in bytes (128-bit) */
	uint8_t buf[128];
	size_t nbuf;
} hfi_sha512_t;

void hfi_sha512_init(hfi_sha512_t *c);
void hfi_sha512_update(hfi_sha512_t *c, const void *data, size_t len);
void hfi_sha512_final(hfi_sha512_t *c, uint8_t digest[64]);
/* hex receives 128 hex digits and a NUL (129 bytes). */
void hfi_sha512_hex(const void *data, size_t len, char hex[129]);

#endif
