/*
 * reload.c: the engine side of the `reload` plugin (spec section 9): the
 * fingerprint of a Corefile (hf_corefile_hash: SHA-512 of a canonical
 * serialisation of its parsed server blocks, imports and environment
 * expanded, so comments and whitespace do not count) and the configured
 * check period (hf_reload_period).  The timer, the comparison and the
 * restart belong to the host (shim/reload.c).
 */
#include <stdio.h>
#include <string.h>

#include "corefile.h"
#include "corefile_lex.h"
#include "engine_int.h"
#include "sha512.h"

#define HF_RELOAD_MAX_BYTES (16u << 20)

/* A JSON string: CoreDNS serialises the server blocks with encoding/json. */
static void put_str(hfi_sha512_t *c, const char *s)
{
	hfi_sha512_update(c, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			hfi_sha512_update(c, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			hfi_sha512_update(c, esc, 6);
		} else {
			hfi_sha512_update(c, p, 1);
		}
	}
	hfi_sha512_update(c, "\"", 1);
}

/* [{"Keys":["k",...],"Tokens":[["dir","arg",...],...]},...]: keys and
 * token texts only, no file names or line numbers. */
static void serialise(hfi_sha512_t *c, const hfi_corefile_t *cf)
{
	hfi_sha512_update(c, "[", 1);
	for (size_t b = 0; b < cf->nblocks; b++) {
		const hfi_server_block_t *sb = &cf->blocks[b];
		hfi_sha512_update(c, b ? ",{\"Keys\":[" : "{\"Keys\":[", b ? 10 : 9);
		for (size_t k = 0; k < sb->nkeys; k++) {
			if (k)
				hfi_sha512_update(c, ",", 1);
			put_str(c, sb->keys[k].text);
		}
		hfi_sha512_update(c, "],\"Tokens\":[", 12);
		for (size_t d = 0; d < sb->ndirs; d++) {
			hfi_sha512_update(c, d ? ",[" : "[", d ? 2 : 1);
			for (size_t t = 0; t < sb->dirs[d].ntok; t++) {
				if (t)
					hfi_sha512_update(c, ",", 1);
				put_str(c, sb->dirs[d].tok[t].text);
			}
			hfi_sha512_update(c, "]", 1);
		}
		hfi_sha512_update(c, "]}", 2);
	}
	hfi_sha512_update(c, "]", 1);
}

HF_API int hf_corefile_hash(const char *path, char *hex, size_t hexlen, char *err, size_t errlen)
{
	char dummy[8];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (path == NULL || hex == NULL || hexlen < 129 || strcmp(path, "stdin") == 0) {
		snprintf(err, errlen, "cannot re-read the Corefile");
		return HF_EINVAL;
	}
	char *clean = hfi_path_clean(NULL, path);
	char *dir = clean ? hfi_path_dir(NULL, clean) : NULL;
	char *buf = NULL, why[700];
	size_t len = 0;
	int ret = HF_ENOMEM;
	if (clean == NULL || dir == NULL)
		goto out;
	ret = hfi_read_file(NULL, clean, HF_RELOAD_MAX_BYTES, &buf, &len, why, sizeof(why));
	if (ret != HF_EOK) {
		snprintf(err, errlen, "%s", ret == HF_ENOMEM ? "out of memory" : why);
		goto out;
	}
	hfi_corefile_t *cf = hfi_corefile_parse(path, buf, len, dir, NULL, err, errlen);
	if (cf == NULL) {
		ret = HF_EPARSE;
		goto out;
	}
	hfi_sha512_t c;
	uint8_t d[64];
	hfi_sha512_init(&c);
	serialise(&c, cf);
	hfi_sha512_final(&c, d);
	hfi_corefile_free(cf);
	for (int i = 0; i < 64; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	ret = HF_EOK;
out:
	hfi_mm_free(NULL, buf);
	hfi_mm_free(NULL, dir);
	hfi_mm_free(NULL, clean);
	return ret;
}

HF_API int hf_reload_period(const hf_engine_t *e, uint32_t *interval_ms, uint32_t *jitter_ms)
{
	if (e == NULL || interval_ms == NULL || jitter_ms == NULL)
		return HF_EINVAL;
	*interval_ms = e->cfg->reload_interval_ms;
	*jitter_ms = e->cfg->reload_jitter_ms;
	return e->cfg->reload_interval_ms ? HF_EOK : HF_ENOENT;
}
