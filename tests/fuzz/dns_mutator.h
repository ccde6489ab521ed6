/*
 * dns_mutator.h: a structure-aware libFuzzer mutator for DNS queries
 * (LLVMFuzzerCustomMutator), included by fuzz_answer.c.
 *
 * Design: byte-level mutation mostly breaks the header or the question, so
 * the engine rejects the message before the interesting code.  This mutator
 * parses the input as header + one question (+ whatever follows), applies
 * one structured change, and writes a well-formed query back: a qtype or
 * qclass from the list the engine knows (and random ones), a label of the
 * test cluster inserted, replaced or removed in QNAME, header flags and
 * opcode, an EDNS OPT record added, changed (payload size, DO, version,
 * cookie / client-subnet / padding / unknown options) or removed, a
 * compression pointer in QNAME.  One time in four, or when the input does
 * not parse, it falls back to libFuzzer's own byte mutation, so malformed
 * messages keep being explored.  The last input byte picks the listener
 * (fuzz_answer.c), and is kept.  No allocation; all work in a static buffer.
 */
#ifndef HF_FUZZ_DNS_MUTATOR_H
#define HF_FUZZ_DNS_MUTATOR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define DM_MAX 1024

static uint32_t dm_rng;

static uint32_t dm_rand(uint32_t n)
{
	dm_rng = dm_rng * 1103515245u + 12345u;
	return n ? (dm_rng >> 8) % n : 0;
}

static const uint16_t dm_types[] = { 1, 28, 33, 12, 16, 5, 2, 6, 15, 255, 252, 251, 0, 41, 99, 65535 };
static const uint16_t dm_classes[] = { 1, 1, 1, 3, 255, 254, 2, 0 };
static const char *const dm_labels[] = {
	"web", "db", "ns1", "default", "svc", "cluster", "local", "pod", "_http", "_tcp", "_pg", "_udp",
	"*", "any", "db-0", "10-244-0-5", "10-96-0-20", "ext", "in-addr", "arpa", "ip6", "20", "0", "96",
	"10", "dns-version", "whoami", "example", "org", "WEB", "",
};

typedef struct dm_msg {
	uint8_t hdr[12];
	uint8_t name[256]; /* labels, no root byte */
	size_t nlen;
	uint16_t qtype, qclass;
	int has_opt;
	uint16_t udp;
	uint8_t ext_rcode, version;
	uint16_t flags;
	uint8_t opts[256];
	size_t olen;
	uint8_t tail; /* the listener byte */
} dm_msg_t;

static int dm_parse(const uint8_t *d, size_t n, dm_msg_t *m)
{
	if (n < 17)
		return -1;
	memcpy(m->hdr, d, 12);
	size_t p = 12;
	m->nlen = 0;
	while (p < n && d[p] != 0) {
		size_t l = d[p];
		if (l > 63 || p + 1 + l >= n || m->nlen + 1 + l > 250)
			return -1;
		memcpy(m->name + m->nlen, d + p, 1 + l);
		m->nlen += 1 + l;
		p += 1 + l;
	}
	if (p + 5 > n)
		return -1;
	p++;
	m->qtype = (uint16_t)(d[p] << 8 | d[p + 1]);
	m->qclass = (uint16_t)(d[p + 2] << 8 | d[p + 3]);
	p += 4;
	m->has_opt = 0;
	m->olen = 0;
	if (p + 11 <= n && d[p] == 0 && d[p + 1] == 0 && d[p + 2] == 41) {
		m->has_opt = 1;
		m->udp = (uint16_t)(d[p + 3] << 8 | d[p + 4]);
		m->ext_rcode = d[p + 5];
		m->version = d[p + 6];
		m->flags = (uint16_t)(d[p + 7] << 8 | d[p + 8]);
		size_t rdl = (size_t)(d[p + 9] << 8 | d[p + 10]);
		if (p + 11 + rdl <= n && rdl <= sizeof(m->opts)) {
			memcpy(m->opts, d + p + 11, rdl);
			m->olen = rdl;
		}
	}
	m->tail = d[n - 1];
	return 0;
}

static size_t dm_write(const dm_msg_t *m, uint8_t *out, size_t max)
{
	size_t need = 12 + m->nlen + 1 + 4 + (m->has_opt ? 11 + m->olen : 0) + 1;
	if (need > max)
		return 0;
	memcpy(out, m->hdr, 12);
	out[4] = 0, out[5] = 1;
	out[6] = out[7] = out[8] = out[9] = 0;
	out[10] = 0, out[11] = (uint8_t)(m->has_opt ? 1 : 0);
	size_t p = 12;
	memcpy(out + p, m->name, m->nlen);
	p += m->nlen;
	out[p++] = 0;
	out[p++] = (uint8_t)(m->qtype >> 8), out[p++] = (uint8_t)m->qtype;
	out[p++] = (uint8_t)(m->qclass >> 8), out[p++] = (uint8_t)m->qclass;
	if (m->has_opt) {
		out[p++] = 0, out[p++] = 0, out[p++] = 41;
		out[p++] = (uint8_t)(m->udp >> 8), out[p++] = (uint8_t)m->udp;
		out[p++] = m->ext_rcode, out[p++] = m->version;
		out[p++] = (uint8_t)(m->flags >> 8), out[p++] = (uint8_t)m->flags;
		out[p++] = (uint8_t)(m->olen >> 8), out[p++] = (uint8_t)m->olen;
		memcpy(out + p, m->opts, m->olen);
		p += m->olen;
	}
	out[p++] = m->tail;
	return p;
}

/* Label boundaries of m->name: offsets into it; returns the count. */
static size_t dm_labels_of(const dm_msg_t *m, size_t off[128])
{
	size_t n = 0;
	for (size_t p = 0; p < m->nlen && n < 128; p += 1 + m->name[p])
		off[n++] = p;
	return n;
}

static void dm_name_edit(dm_msg_t *m)
{
	size_t off[128];
	size_t n = dm_labels_of(m, off);
	const char *lab = dm_labels[dm_rand(sizeof(dm_labels) / sizeof(dm_labels[0]))];
	size_t ll = strlen(lab);
	size_t at = n ? off[dm_rand((uint32_t)n)] : 0;
	uint8_t tmp[256];
	switch (dm_rand(3)) {
	case 0: /* remove a label */
		if (n > 0) {
			size_t l = 1 + m->name[at];
			memmove(m->name + at, m->name + at + l, m->nlen - at - l);
			m->nlen -= l;
		}
		return;
	case 1: /* replace a label */
		if (n > 0 && ll > 0) {
			size_t l = 1 + m->name[at];
			if (m->nlen - l + 1 + ll > 250)
				return;
			memcpy(tmp, m->name + at + l, m->nlen - at - l);
			m->name[at] = (uint8_t)ll;
			memcpy(m->name + at + 1, lab, ll);
			memcpy(m->name + at + 1 + ll, tmp, m->nlen - at - l);
			m->nlen = m->nlen - l + 1 + ll;
		}
		return;
	default: /* insert a label */
		if (ll == 0 || m->nlen + 1 + ll > 250)
			return;
		memmove(m->name + at + 1 + ll, m->name + at, m->nlen - at);
		m->name[at] = (uint8_t)ll;
		memcpy(m->name + at + 1, lab, ll);
		m->nlen += 1 + ll;
		return;
	}
}

static void dm_opt_edit(dm_msg_t *m)
{
	static const uint8_t cookie[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t ecs[] = { 0, 8, 0, 7, 0, 1, 24, 0, 10, 0, 0 };
	static const uint8_t pad[] = { 0, 12, 0, 4, 0, 0, 0, 0 };
	static const uint8_t unknown[] = { 0xfd, 0xe9, 0, 1, 0x55 };
	static const uint16_t sizes[] = { 0, 1, 511, 512, 513, 1232, 1400, 4096, 65535 };
	if (!m->has_opt) {
		m->has_opt = 1;
		m->udp = 1232, m->ext_rcode = 0, m->version = 0, m->flags = 0, m->olen = 0;
		return;
	}
	switch (dm_rand(6)) {
	case 0:
		m->has_opt = 0;
		return;
	case 1:
		m->udp = sizes[dm_rand(sizeof(sizes) / sizeof(sizes[0]))];
		return;
	case 2:
		m->flags ^= 0x8000; /* DO */
		return;
	case 3:
		m->version = (uint8_t)(dm_rand(4) == 0 ? dm_rand(256) : 0);
		return;
	default: {
		const uint8_t *o;
		size_t ol;
		switch (dm_rand(4)) {
		case 0: o = cookie, ol = sizeof(cookie); break;
		case 1: o = ecs, ol = sizeof(ecs); break;
		case 2: o = pad, ol = sizeof(pad); break;
		default: o = unknown, ol = sizeof(unknown); break;
		}
		if (m->olen + ol <= sizeof(m->opts)) {
			memcpy(m->opts + m->olen, o, ol);
			m->olen += ol;
		} else {
			m->olen = 0;
		}
		return;
	}
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static dm_msg_t m;
	dm_rng = seed;
	if (dm_rand(4) == 0 || dm_parse(data, size, &m) != 0)
		return LLVMFuzzerMutate != NULL ? LLVMFuzzerMutate(data, size, max_size) : size;
	switch (dm_rand(7)) {
	case 0:
		m.qtype = dm_rand(8) == 0 ? (uint16_t)dm_rand(65536)
					  : dm_types[dm_rand(sizeof(dm_types) / sizeof(dm_types[0]))];
		break;
	case 1:
		m.qclass = dm_classes[dm_rand(sizeof(dm_classes) / sizeof(dm_classes[0]))];
		break;
	case 2:
	case 3:
		dm_name_edit(&m);
		break;
	case 4: /* header: RD, CD, AD, opcode, QR, TC */
		switch (dm_rand(5)) {
		case 0: m.hdr[2] ^= 0x01; break;
		case 1: m.hdr[3] ^= (uint8_t)(dm_rand(2) ? 0x10 : 0x20); break;
		case 2: m.hdr[2] = (uint8_t)((m.hdr[2] & 0x87) | (dm_rand(6) << 3)); break;
		case 3: m.hdr[2] ^= 0x80; break;
		default: m.hdr[2] ^= 0x02; break;
		}
		break;
	case 5:
		dm_opt_edit(&m);
		break;
	default: { /* a compression pointer instead of the rest of QNAME */
		size_t off[128];
		size_t n = dm_labels_of(&m, off);
		size_t at = n ? off[dm_rand((uint32_t)n)] : 0;
		size_t w = dm_write(&m, data, max_size);
		if (w == 0 || 12 + at + 2 > w)
			return size;
		uint16_t target = (uint16_t)(dm_rand(3) == 0 ? 12 + at : dm_rand((uint32_t)w));
		data[12 + at] = (uint8_t)(0xc0 | (target >> 8));
		data[12 + at + 1] = (uint8_t)target;
		return w;
	}
	}
	size_t w = dm_write(&m, data, max_size);
	return w ? w : size;
}

#endif
