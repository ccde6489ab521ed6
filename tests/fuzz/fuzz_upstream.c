/*
 * fuzz_upstream.c: libFuzzer harness 2 of issue 9: upstream replies into
 * the forward/cache path.  An engine with `cache` and `forward` answers a
 * fixed query with HF_FORWARD; the input is handed to hf_forward_reply as
 * the upstream's reply (its ID set to the query's, as the shim does); then
 * the query is asked again.  Invariants, checked with a small wire walker
 * of its own (not the engine's parser):
 *   - whatever hf_forward_reply writes parses and carries the query's ID;
 *   - a reply is served from the cache only if the input parsed as a whole
 *     (header, question = the query's, every record, nothing after them);
 *   - a cached reply parses, has QR and AA set, the query's ID and question.
 * Then the clock (the cache's hook) moves an hour on: the entry is stale,
 * served at once (HF_ANSWER_REFRESH, must parse) and the input is fed again
 * as the refresh's reply.  The cache is flushed before every input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>

#include "cache.h"
#include "engine_int.h"
#include "holdfast.h"

static const char corefile[] =
	". {\n"
	"    cache {\n"
	"        serve_stale 1h\n"
	"    }\n"
	"    forward . 127.0.0.1:53\n"
	"}\n";

static hf_engine_t *engine;
static int64_t fake_ms = 1000000;

static int64_t fake_clock(void)
{
	return fake_ms;
}
static hf_worker_t *worker;

/* the query: www.example.org. A, EDNS 1232 */
static const uint8_t query[] = {
	0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0,
	0, 1, 0, 1,
	0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
#define QNAME_OFF 12
#define QNAME_LEN 17

static void setup(void)
{
	char dir[] = "/tmp/hf-fuzz-up-XXXXXX";
	if (mkdtemp(dir) == NULL)
		abort();
	char path[512], err[2048];
	snprintf(path, sizeof(path), "%s/Corefile", dir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(corefile, f);
	fclose(f);
	engine = hf_engine_open(path, 1053, HF_OPEN_QUIET, err, sizeof(err));
	unlink(path);
	rmdir(dir);
	if (engine == NULL) {
		fprintf(stderr, "fuzz_upstream: %s\n", err);
		abort();
	}
	hfi_cache_clock = fake_clock;
	worker = hf_worker_new(engine);
	if (worker == NULL || engine->caches == NULL || engine->caches[0] == NULL)
		abort();
}

/* ---- an independent wire walker ---- */

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A name at *off of m[0:lim]; its uncompressed form into out (>= 256). */
static bool name(const uint8_t *m, size_t lim, size_t *off, uint8_t *out, size_t *outlen)
{
	size_t p = *off, o = 0, after = 0;
	int hops = 0;
	for (;;) {
		if (p >= lim)
			return false;
		uint8_t c = m[p];
		if (c == 0) {
			p++;
			break;
		}
		if ((c & 0xC0) == 0xC0) {
			if (p + 1 >= lim || ++hops > 127)
				return false;
			if (after == 0)
				after = p + 2;
			p = (size_t)(c & 0x3F) << 8 | m[p + 1];
			continue;
		}
		if (c & 0xC0)
			return false;
		if (p + 1 + c > lim || o + 1 + c + 1 > 255)
			return false;
		if (out != NULL)
			memcpy(out + o, m + p, 1 + (size_t)c);
		o += 1 + (size_t)c;
		p += 1 + (size_t)c;
	}
	if (out != NULL)
		out[o] = 0;
	if (outlen != NULL)
		*outlen = o + 1;
	*off = after ? after : p;
	return true;
}

/* The whole message; qname (wire, case kept) of its single question. */
static bool walk(const uint8_t *m, size_t len, uint8_t *qname, size_t *qlen, uint16_t *qtype)
{
	if (len < 12)
		return false;
	unsigned qd = g16(m + 4), cnt = (unsigned)g16(m + 6) + g16(m + 8) + g16(m + 10);
	size_t off = 12;
	for (unsigned i = 0; i < qd; i++) {
		if (!name(m, len, &off, i == 0 ? qname : NULL, i == 0 ? qlen : NULL) || off + 4 > len)
			return false;
		if (i == 0)
			*qtype = g16(m + off);
		off += 4;
	}
	for (unsigned i = 0; i < cnt; i++) {
		if (!name(m, len, &off, NULL, NULL) || off + 10 > len)
			return false;
		uint16_t type = g16(m + off), rdlen = g16(m + off + 8);
		size_t p = off + 10, end = p + rdlen;
		if (end > len)
			return false;
		size_t fixed = type == 15 ? 2 : type == 33 ? 6 : 0;
		if (type == 5 || type == 2 || type == 12 || type == 15 || type == 33) {
			size_t x = p + fixed;
			if (x > end || !name(m, end, &x, NULL, NULL) || x != end)
				return false;
		} else if (type == 6) {
			size_t x = p;
			if (!name(m, end, &x, NULL, NULL) || !name(m, end, &x, NULL, NULL) ||
			    x + 20 != end)
				return false;
		}
		off = end;
	}
	return qd == 1 && off == len;
}

static bool same_name_ci(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	if (al != bl)
		return false;
	for (size_t i = 0; i < al; i++) {
		uint8_t x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

/* A reply the engine produced for our query. */
static void check_reply(const uint8_t *r, size_t n, bool cached)
{
	uint8_t qn[256];
	size_t ql = 0;
	uint16_t qt = 0;
	if (!walk(r, n, qn, &ql, &qt))
		abort();
	if (r[0] != query[0] || r[1] != query[1] || !(r[2] & 0x80))
		abort();
	if (cached && (!(r[2] & 0x04) || ql != QNAME_LEN ||
		       memcmp(qn, query + QNAME_OFF, QNAME_LEN) != 0 || qt != 1))
		abort();
}

static uint8_t reply[65535], again[65535], out[65535];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (engine == NULL)
		setup();
	if (size > sizeof(reply))
		return 0;
	hfi_cache_flush(engine->caches[0]);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	size_t outlen = 0;
	int v = hf_answer(worker, 0, query, sizeof(query), (struct sockaddr *)&sin, HF_UDP, out,
			  sizeof(out), &outlen);
	if (v != HF_FORWARD)
		abort();
	memcpy(reply, data, size);
	if (size >= 2) {
		reply[0] = query[0]; /* the shim checks and restores the ID */
		reply[1] = query[1];
	}
	/* did the input parse as a whole, as the reply to our query? */
	uint8_t qn[256];
	size_t ql = 0;
	uint16_t qt = 0;
	bool whole = walk(reply, size, qn, &ql, &qt) && (reply[2] & 0x80) &&
		     same_name_ci(qn, ql, query + QNAME_OFF, QNAME_LEN) && qt == 1;
	/* reply and resp may be the same buffer: use the same one */
	size_t rlen = 0;
	int r = hf_forward_reply(worker, reply, size, reply, sizeof(reply), &rlen);
	if (r == HF_EOK)
		check_reply(reply, rlen, false);
	else if (r != HF_ENOENT && r >= 0)
		abort();
	v = hf_answer(worker, 0, query, sizeof(query), (struct sockaddr *)&sin, HF_UDP, out,
		      sizeof(out), &outlen);
	if (v == HF_ANSWER) {
		if (!whole)
			abort(); /* cached a reply that does not parse */
		check_reply(out, outlen, true);
	} else if (v == HF_FORWARD || v == HF_ANSWER_REFRESH) {
		(void)hf_forward_reply(worker, NULL, 0, out, sizeof(out), &outlen);
		return 0;
	} else {
		abort();
	}
	/* an hour later: stale, served now, refreshed with the same input */
	fake_ms += 3601 * 1000;
	v = hf_answer(worker, 0, query, sizeof(query), (struct sockaddr *)&sin, HF_UDP, out,
		      sizeof(out), &outlen);
	if (v != HF_ANSWER && v != HF_ANSWER_REFRESH)
		abort();
	check_reply(out, outlen, true);
	if (v == HF_ANSWER_REFRESH) {
		memcpy(again, data, size);
		again[0] = query[0];
		again[1] = query[1];
		r = hf_forward_reply(worker, again, size, again, sizeof(again), &rlen);
		if (r == HF_EOK)
			abort(); /* nobody waits for a refresh */
		v = hf_answer(worker, 0, query, sizeof(query), (struct sockaddr *)&sin, HF_UDP,
			      out, sizeof(out), &outlen);
		if (v == HF_ANSWER || v == HF_ANSWER_REFRESH)
			check_reply(out, outlen, true);
		else
			abort();
		if (v == HF_ANSWER_REFRESH)
			(void)hf_forward_reply(worker, NULL, 0, out, sizeof(out), &outlen);
	}
	fake_ms += HFI_CACHE_REFRESH_GIVEUP_MS; /* no slot stays taken */
	return 0;
}
