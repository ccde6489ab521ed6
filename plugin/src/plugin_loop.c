/*
 * plugin_loop.c: CoreDNS's loop plugin (spec section 12), engine side.
 * Each block with `loop` has a probe name "<rand>.<rand>.<first zone>"
 * (Go rand.Int() values).  The host sends `HINFO <probe>` to the block's
 * own listener (shim/loop.c, through hf_loop_probe) every second for up
 * to 30 s; when the same probe reaches this block's loop plugin more than
 * twice, the forward upstream leads back to us: log
 *   [FATAL] plugin/loop: Loop (SRC -> DST) detected for zone ".", see
 *   https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO <probe>"
 * and exit(1).  The check is off 2 s after the first answered probe
 * (hf_loop_done) and 30 s after startup in any case.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "log.h"
#include "plugins.h"

#define LOOP_WINDOW_MS 30000
#define LOOP_GRACE_MS 2000

static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void hfi_loop_init_block(hfi_plug_block_t *pb, const hfi_block_t *b, uint64_t seed, int64_t now_ms)
{
	const char *zone = b->nkeys > 0 ? b->keys[0].zone : ".";
	unsigned long long r1 = mix(&seed) >> 1, r2 = mix(&seed) >> 1; /* int63 */
	if (strcmp(zone, ".") == 0)
		snprintf(pb->loop_qname, sizeof(pb->loop_qname), "%llu.%llu.", r1, r2);
	else
		snprintf(pb->loop_qname, sizeof(pb->loop_qname), "%llu.%llu.%s", r1, r2, zone);
	if (hfi_dname_from_str(pb->loop_qname, pb->loop_wire, sizeof(pb->loop_wire)) < 0)
		pb->loop_wire[0] = 0xff; /* a zone too long for the probe: never matches */
	else
		hfi_dname_lower(pb->loop_wire, pb->loop_wire);
	atomic_store(&pb->loop_seen, 0);
	atomic_store(&pb->loop_off_ms, now_ms + LOOP_WINDOW_MS);
}

static void addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		port = ntohs(s->sin_port);
		snprintf(out, cap, "%s:%u", ip, port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		port = ntohs(s->sin6_port);
		snprintf(out, cap, "[%s]:%u", ip, port);
	} else {
		snprintf(out, cap, "<nil>");
	}
}

void hfi_loop_check(hf_worker_t *w, size_t bi, const struct sockaddr *client)
{
	hf_engine_t *e = w->e;
	const hfi_query_t *q = &w->q;
	if (q->qtype != HFI_T_HINFO || e->plug == NULL)
		return;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	if (hfi_engine_now_ms() >= atomic_load(&pb->loop_off_ms))
		return;
	if (!hfi_dname_eq(q->lname, pb->loop_wire))
		return;
	if (atomic_fetch_add(&pb->loop_seen, 1) + 1 <= 2)
		return;
	char src[80], dst[80];
	addr_text(client, src, sizeof(src));
	const hfi_listener_t *l = &e->listeners[w->listener];
	const char *la = l->addr[0] ? l->addr
				    : (client != NULL && client->sa_family == AF_INET6 ? "::1" : "127.0.0.1");
	snprintf(dst, sizeof(dst), strchr(la, ':') ? "[%s]:%u" : "%s:%u", la, l->port);
	const char *zone = e->cfg->blocks[bi].nkeys > 0 ? e->cfg->blocks[bi].keys[0].zone : ".";
	hfi_log(HFI_LOG_FATAL, "loop",
		"Loop (%s -> %s) detected for zone \"%s\", see "
		"https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO %s\"",
		src, dst, zone, pb->loop_qname);
	fflush(stdout);
	_exit(1);
}

/* The i-th block with `loop`, or -1. */
static long loop_block(const hf_engine_t *e, int i)
{
	if (e == NULL || e->cfg == NULL || e->plug == NULL || i < 0)
		return -1;
	int k = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		if (e->cfg->blocks[bi].has_loop && k++ == i)
			return (long)bi;
	return -1;
}

HF_API int hf_loop_probe(hf_engine_t *e, int i, uint8_t *buf, size_t cap, size_t *len, char *addr,
			 size_t addrlen)
{
	if (buf == NULL || len == NULL || addr == NULL || addrlen == 0)
		return HF_EINVAL;
	long bi = loop_block(e, i);
	if (bi < 0)
		return HF_ENOENT;
	const hfi_block_t *b = &e->cfg->blocks[bi];
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	uint8_t wire[HFI_DNAME_MAX + 1];
	int wl = hfi_dname_from_str(pb->loop_qname, wire, sizeof(wire));
	if (wl < 0)
		return HF_ENOENT;
	if (cap < 12 + (size_t)wl + 4)
		return HF_ESPACE;
	uint64_t s = (uint64_t)hfi_engine_now_ms() ^ (uint64_t)(uintptr_t)buf;
	uint16_t id = (uint16_t)mix(&s);
	uint8_t hdr[12] = {(uint8_t)(id >> 8), (uint8_t)id, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(buf, hdr, 12); /* miekg SetQuestion: RD set, one question */
	memcpy(buf + 12, wire, (size_t)wl);
	uint8_t tail[4] = {0, HFI_T_HINFO, 0, HFI_C_IN};
	memcpy(buf + 12 + wl, tail, 4);
	*len = 12 + (size_t)wl + 4;
	uint16_t port = b->nkeys > 0 ? b->keys[0].port : 53;
	const char *host = b->bind.n > 0 ? b->bind.v[0] : "127.0.0.1";
	snprintf(addr, addrlen, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	return HF_EOK;
}

HF_API int hf_loop_done(hf_engine_t *e, int i)
{
	long bi = loop_block(e, i);
	if (bi < 0)
		return HF_ENOENT;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	int64_t off = hfi_engine_now_ms() + LOOP_GRACE_MS;
	if (off < atomic_load(&pb->loop_off_ms))
		atomic_store(&pb->loop_off_ms, off);
	return HF_EOK;
}
