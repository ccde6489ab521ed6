/*
 * forward_msg.c: the DNS message checks of the forward plugin: random IDs,
 * a bounds-checked walk of a reply (what miekg/dns Unpack would refuse),
 * request.Match, the rcode with its EDNS extension, the client's UDP size,
 * truncation of an oversized UDP reply, and the bare error replies
 * (FORMERR, SERVFAIL, REFUSED) built from a query.
 */
#include "forward_int.h"

#include <string.h>
#include <sys/random.h>

static uint64_t xorshift(void)
{
	static _Thread_local uint64_t state;
	if (state == 0) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != (ssize_t)sizeof(state) ||
		    state == 0)
			state = (uint64_t)hfs_now_ms() ^ ((uint64_t)(uintptr_t)&state << 16) ^ 1;
	}
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

uint32_t hfs_fwd_rand(void)
{
	return (uint32_t)(xorshift() >> 16);
}

uint16_t hfs_fwd_rand_id(void)
{
	uint16_t id;
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) == (ssize_t)sizeof(id))
		return id;
	return (uint16_t)(xorshift() >> 24);
}

/* Offset past the name at off (following pointers to check them), or 0;
 * *short_out is set when the name ran past the end of the message. */
static size_t walk_name2(const uint8_t *m, size_t len, size_t off, bool *short_out)
{
	size_t end = 0, total = 0, p = off;
	for (int hops = 0; hops < 128;) {
		if (p >= len) {
			*short_out = true;
			return 0;
		}
		uint8_t l = m[p];
		if (l == 0)
			return end ? end : p + 1;
		if ((l & 0xC0) == 0xC0) {
			if (p + 2 > len) {
				*short_out = true;
				return 0;
			}
			if (!end)
				end = p + 2;
			p = ((size_t)(l & 0x3F) << 8) | m[p + 1];
			hops++;
			continue;
		}
		if (l & 0xC0)
			return 0;
		total += 1 + (size_t)l;
		if (total > 255)
			return 0;
		p += 1 + (size_t)l;
	}
	return 0;
}

static size_t walk_name(const uint8_t *m, size_t len, size_t off)
{
	bool s = false;
	return walk_name2(m, len, off, &s);
}

int hfs_fwd_check(const uint8_t *m, size_t len)
{
	if (len < 12)
		return HFS_MSG_BAD; /* no header: no ID to match either */
	unsigned qd = (unsigned)((m[4] << 8) | m[5]);
	unsigned rr = (unsigned)((m[6] << 8) | m[7]) + (unsigned)((m[8] << 8) | m[9]) +
		      (unsigned)((m[10] << 8) | m[11]);
	size_t off = 12;
	bool sh = false;
	if (off == len)
		return HFS_MSG_OK; /* header only (a REFUSED from some servers) */
	for (unsigned i = 0; i < qd; i++) {
		if (off == len)
			return HFS_MSG_OK; /* qdcount lies: miekg stops here */
		off = walk_name2(m, len, off, &sh);
		if (off == 0)
			return sh ? HFS_MSG_SHORT : HFS_MSG_BAD;
		if (off + 4 > len)
			return HFS_MSG_SHORT;
		off += 4;
	}
	for (unsigned i = 0; i < rr; i++) {
		off = walk_name2(m, len, off, &sh);
		if (off == 0)
			return sh ? HFS_MSG_SHORT : HFS_MSG_BAD;
		if (off + 10 > len)
			return HFS_MSG_SHORT;
		off += 10 + (size_t)((m[off + 8] << 8) | m[off + 9]);
		if (off > len)
			return HFS_MSG_SHORT;
	}
	return HFS_MSG_OK;
}

bool hfs_fwd_valid(const uint8_t *m, size_t len)
{
	return hfs_fwd_check(m, len) == HFS_MSG_OK;
}

size_t hfs_fwd_question_end(const uint8_t *m, size_t len)
{
	if (len < 12 || ((m[4] << 8) | m[5]) == 0)
		return 0;
	size_t off = 12;
	for (int i = 0; i < 128; i++) {
		if (off >= len || (m[off] & 0xC0))
			return 0;
		if (m[off] == 0) {
			off++;
			return off + 4 <= len && off - 12 <= 255 ? off + 4 : 0;
		}
		off += 1 + (size_t)m[off];
	}
	return 0;
}

/* request.Match: one question, QR set, same name (any case), same type. */
bool hfs_fwd_matches(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen)
{
	size_t qe = hfs_fwd_question_end(q, qlen), re = hfs_fwd_question_end(r, rlen);
	if (qe == 0 || re == 0 || qe != re || !(r[2] & 0x80) || ((r[4] << 8) | r[5]) != 1)
		return false;
	for (size_t i = 12; i < qe - 4; i++) {
		uint8_t a = q[i], b = r[i];
		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (uint8_t)(b + 32);
		if (a != b)
			return false;
	}
	return q[qe - 4] == r[re - 4] && q[qe - 3] == r[re - 3];
}

/* The OPT record of a message: offset of its TYPE field, or 0. */
static size_t find_opt(const uint8_t *m, size_t len)
{
	if (len < 12)
		return 0;
	unsigned qd = (unsigned)((m[4] << 8) | m[5]);
	unsigned an = (unsigned)((m[6] << 8) | m[7]);
	unsigned ns = (unsigned)((m[8] << 8) | m[9]);
	unsigned ar = (unsigned)((m[10] << 8) | m[11]);
	size_t off = 12;
	for (unsigned i = 0; i < qd; i++) {
		off = walk_name(m, len, off);
		if (off == 0 || off + 4 > len)
			return 0;
		off += 4;
	}
	for (unsigned i = 0; i < an + ns + ar; i++) {
		off = walk_name(m, len, off);
		if (off == 0 || off + 10 > len)
			return 0;
		if (i >= an + ns && m[off] == 0 && m[off + 1] == 41)
			return off;
		off += 10 + (size_t)((m[off + 8] << 8) | m[off + 9]);
		if (off > len)
			return 0;
	}
	return 0;
}

int hfs_fwd_rcode(const uint8_t *m, size_t len)
{
	if (len < 12)
		return 2;
	int rc = m[3] & 0x0F;
	size_t o = find_opt(m, len);
	if (o != 0)
		rc |= m[o + 4] << 4;
	return rc;
}

size_t hfs_fwd_udp_size(const uint8_t *q, size_t qlen)
{
	size_t o = find_opt(q, qlen);
	size_t sz = o ? (size_t)((q[o + 2] << 8) | q[o + 3]) : 512;
	return sz < 512 ? 512 : sz;
}

size_t hfs_fwd_truncate(uint8_t *m, size_t len)
{
	size_t qe = hfs_fwd_question_end(m, len);
	if (len < 12)
		return 0;
	m[2] |= 0x02; /* TC */
	m[5] = qe ? 1 : 0;
	m[4] = 0;
	memset(m + 6, 0, 6);
	return qe ? qe : 12;
}

size_t hfs_error_reply(const uint8_t *q, size_t qlen, int rcode, uint8_t *out, size_t cap)
{
	if (qlen < 12 || cap < 12)
		return 0;
	size_t qe = hfs_fwd_question_end(q, qlen);
	size_t qsz = qe ? qe - 12 : 0;
	size_t o = qe ? find_opt(q, qlen) : 0;
	size_t need = 12 + qsz + (o ? 11 : 0);
	if (need > cap)
		return 0;
	int opcode_query = ((q[2] >> 3) & 0x0F) == 0;
	uint8_t osz0 = o ? q[o + 2] : 0, osz1 = o ? q[o + 3] : 0;
	int dobit = o ? (q[o + 6] & 0x80) != 0 : 0;
	uint8_t id0 = q[0], id1 = q[1], f2 = q[2], f3 = q[3];
	if (qsz)
		memmove(out + 12, q + 12, qsz);
	memset(out, 0, 12);
	out[0] = id0;
	out[1] = id1;
	out[2] = (uint8_t)(0x80 | (f2 & 0x78) | (opcode_query ? (f2 & 0x01) : 0));
	out[3] = (uint8_t)((opcode_query ? (f3 & 0x10) : 0) | (rcode & 0x0F));
	out[5] = qsz ? 1 : 0;
	out[11] = o ? 1 : 0;
	if (o) {
		uint8_t *p = out + 12 + qsz;
		p[0] = 0;     /* root name */
		p[1] = 0;
		p[2] = 41;    /* OPT */
		p[3] = osz0;  /* client's UDP size echoed */
		p[4] = osz1;
		p[5] = 0;     /* extended rcode */
		p[6] = 0;     /* version 0 */
		p[7] = dobit ? 0x80 : 0;
		p[8] = 0;
		p[9] = 0;     /* rdlen */
		p[10] = 0;
	}
	return need;
}
