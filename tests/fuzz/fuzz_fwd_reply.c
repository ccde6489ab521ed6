/*
 * fuzz_fwd_reply.c: libFuzzer harness for the shim's forward message
 * checks (shim/forward_msg.c, compiled in here: the shim is not part of
 * libholdfast).  The input is an upstream reply (and, from its second
 * half, a query).  Invariants: nothing reads out of bounds (ASan); a reply
 * that hfs_fwd_valid accepts has every record inside it; a matching reply
 * has exactly one question equal to the query's name (any case) and type;
 * the rcode fits 12 bits; a truncated copy is no longer than the input and
 * has TC set; an error reply built from any input fits its buffer and
 * carries the input's ID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/forward_msg.c"

int64_t hfs_now_ms(void)
{
	return 1;
}

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* An independent walk: every record inside the message. */
static bool records_inside(const uint8_t *m, size_t len)
{
	size_t off = 12;
	unsigned qd = (unsigned)((m[4] << 8) | m[5]);
	unsigned rr = (unsigned)((m[6] << 8) | m[7]) + (unsigned)((m[8] << 8) | m[9]) +
		      (unsigned)((m[10] << 8) | m[11]);
	for (unsigned i = 0; i < qd + rr; i++) {
		if (off == len && i < qd)
			return true;
		for (;;) { /* a name: labels, ended by 0 or a pointer */
			if (off >= len)
				return false;
			if ((m[off] & 0xC0) == 0xC0) {
				off += 2;
				break;
			}
			if (m[off] == 0) {
				off++;
				break;
			}
			off += 1 + (size_t)m[off];
		}
		if (i < qd) {
			off += 4;
		} else {
			if (off + 10 > len)
				return false;
			off += 10 + (size_t)((m[off + 8] << 8) | m[off + 9]);
		}
		if (off > len)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[70000], out[600];
	if (size > 65535)
		return 0;
	memcpy(buf, data, size);
	bool valid = hfs_fwd_valid(buf, size);
	if (valid && size > 12)
		check(records_inside(buf, size));
	size_t half = size / 2;
	const uint8_t *q = data + half;
	size_t qlen = size - half;
	if (hfs_fwd_matches(q, qlen, data, size)) {
		size_t qe = hfs_fwd_question_end(data, size);
		check(qe > 12 && qe == hfs_fwd_question_end(q, qlen));
		check(((data[4] << 8) | data[5]) == 1 && (data[2] & 0x80));
		check(strncasecmp((const char *)data + 12, (const char *)q + 12, qe - 16) == 0 ||
		      memchr(data + 12, 0, qe - 16) != NULL);
	}
	int rc = hfs_fwd_rcode(data, size);
	check(rc >= 0 && rc < 4096);
	(void)hfs_fwd_udp_size(data, size);
	if (size >= 12) {
		size_t n = hfs_fwd_truncate(buf, size);
		check(n >= 12 && n <= size && (buf[2] & 0x02));
		check(((buf[6] << 8) | buf[7]) == 0 && ((buf[10] << 8) | buf[11]) == 0);
	}
	for (size_t cap = 0; cap <= sizeof(out); cap += 150) {
		size_t n = hfs_error_reply(data, size, 2, out, cap);
		check(n <= cap);
		if (n > 0)
			check(n >= 12 && out[0] == data[0] && out[1] == data[1] && (out[3] & 0x0F) == 2);
	}
	return 0;
}
