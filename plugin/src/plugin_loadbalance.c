/*
 * plugin_loadbalance.c: CoreDNS's loadbalance plugin, round_robin policy
 * (spec section 10): for a NOERROR reply that is not a zone transfer,
 * every section is shuffled: a section made only of A records (or only of
 * AAAA) is permuted; any other section is reordered CNAMEs first, then the
 * other types in their order, then the A/AAAA records shuffled, then the
 * MX records shuffled.  Uniform Fisher-Yates with the worker's own
 * xorshift PRNG; records are permuted in place (no allocation).
 *
 * Forwarded replies arrive as wire bytes: there the answer section is
 * permuted only when every record is A (or every one AAAA) and each owner
 * is a single compression pointer, so records are fixed-size chunks that
 * nothing points into and moving them keeps the message valid.
 *
 * `weighted FILE` and `prefer` live in plugin_loadbalance_weighted.c.
 */
#include <string.h>

#include "engine_int.h"
#include "plugins.h"
#include "rng.h"

/* xorshift64* in [0, n) */
static uint32_t rnd(uint64_t *state, uint32_t n)
{
	uint64_t x = hfi_rng_next(state);
	return n ? (uint32_t)((x >> 32) % n) : 0;
}

uint32_t hfi_lb_rand(hf_worker_t *w, uint32_t n)
{
	if (w->pw.rng == 0)
		w->pw.rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)w ^ (uint64_t)w->pw.t0_ns;
	return rnd(&w->pw.rng, n);
}

static void shuffle(uint64_t *rng, uint16_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(rng, (uint32_t)i);
		uint16_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Put rr[ord[k]] into rr[slot[k]] for every k (a permutation of the slots,
 * slots ascending), in place. */
void hfi_lb_permute(hfi_resp_t *r, const uint16_t *slot, const uint16_t *ord, size_t n)
{
	/* src[slot] = record that must land in slot; follow cycles */
	uint8_t done[HFI_RESP_MAX_RR / 8 + 1];
	memset(done, 0, sizeof(done));
	for (size_t k = 0; k < n; k++) {
		if (done[k / 8] & (1u << (k % 8)) || ord[k] == slot[k])
			continue;
		hfi_rr_t tmp = r->rr[slot[k]];
		size_t cur = k;
		for (;;) {
			done[cur / 8] |= (uint8_t)(1u << (cur % 8));
			/* which k' has slot[k'] == ord[cur]? slots are ascending */
			uint16_t from = ord[cur];
			size_t lo = 0, hi = n;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (slot[mid] < from)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo == k) {
				r->rr[slot[cur]] = tmp;
				break;
			}
			r->rr[slot[cur]] = r->rr[from];
			cur = lo;
		}
	}
}

static void section(uint64_t *rng, hfi_resp_t *r, uint8_t sec)
{
	uint16_t slot[HFI_RESP_MAX_RR], ord[HFI_RESP_MAX_RR];
	size_t n = 0, na = 0, naaaa = 0;
	for (uint16_t i = 0; i < r->nrr; i++) {
		if (r->rr[i].section != sec)
			continue;
		slot[n++] = i;
		na += r->rr[i].type == HFI_T_A;
		naaaa += r->rr[i].type == HFI_T_AAAA;
	}
	if (n < 2)
		return;
	if (na == n || naaaa == n) {
		memcpy(ord, slot, n * sizeof(uint16_t));
		shuffle(rng, ord, n);
	} else {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (r->rr[slot[i]].type == HFI_T_CNAME)
				ord[k++] = slot[i];
		for (size_t i = 0; i < n; i++) {
			uint16_t t = r->rr[slot[i]].type;
			if (t != HFI_T_CNAME && t != HFI_T_A && t != HFI_T_AAAA && t != HFI_T_MX)
				ord[k++] = slot[i];
		}
		size_t st = k;
		for (size_t i = 0; i < n; i++)
			if (r->rr[slot[i]].type == HFI_T_A || r->rr[slot[i]].type == HFI_T_AAAA)
				ord[k++] = slot[i];
		shuffle(rng, ord + st, k - st);
		st = k;
		for (size_t i = 0; i < n; i++)
			if (r->rr[slot[i]].type == HFI_T_MX)
				ord[k++] = slot[i];
		shuffle(rng, ord + st, k - st);
	}
	hfi_lb_permute(r, slot, ord, n);
}

void hfi_lb_apply(hf_worker_t *w, hfi_resp_t *resp)
{
	int bi = w->pw.block;
	if (bi < 0 || !w->e->cfg->blocks[bi].has_loadbalance)
		return;
	if (resp->rcode != HFI_RCODE_NOERROR || w->q.qtype == HFI_T_AXFR || w->q.qtype == HFI_T_IXFR)
		return;
	const hfi_cfg_loadbalance_t *c = w->e->cfg->blocks[bi].lb_cfg;
	if (c != NULL && c->policy == HFI_LB_WEIGHTED && w->e->plug != NULL) {
		hfi_lb_weighted(w, (size_t)bi, resp);
	} else {
		if (w->pw.rng == 0)
			(void)hfi_lb_rand(w, 1);
		hfi_lb_shuffle(resp, &w->pw.rng);
	}
	if (w->e->plug != NULL)
		hfi_lb_prefer(&w->e->plug->blocks[bi], resp);
}

void hfi_lb_shuffle(hfi_resp_t *resp, uint64_t *rng)
{
	for (uint8_t sec = 0; sec < 3; sec++)
		section(rng, resp, sec);
}

static void round_robin_wire(hf_worker_t *w, uint8_t *m, size_t len);

void hfi_lb_apply_wire(hf_worker_t *w, uint8_t *m, size_t len)
{
	int bi = w->pw.block;
	if (bi < 0 || !w->e->cfg->blocks[bi].has_loadbalance || m == NULL || len < 12)
		return;
	if ((m[3] & 0x0f) != 0 || w->q.qtype == HFI_T_AXFR || w->q.qtype == HFI_T_IXFR)
		return;
	const hfi_cfg_loadbalance_t *c = w->e->cfg->blocks[bi].lb_cfg;
	if (c != NULL && c->policy == HFI_LB_WEIGHTED && w->e->plug != NULL)
		hfi_lb_weighted_wire(w, (size_t)bi, m, len);
	else
		round_robin_wire(w, m, len);
	if (w->e->plug != NULL)
		hfi_lb_prefer_wire(&w->e->plug->blocks[bi], m, len);
}

/* round_robin on a wire reply: an answer section of only A (or only AAAA)
 * records with pointer owners is permuted as fixed-size chunks. */
static void round_robin_wire(hf_worker_t *w, uint8_t *m, size_t len)
{
	unsigned qd = (unsigned)(m[4] << 8 | m[5]), an = (unsigned)(m[6] << 8 | m[7]);
	if (qd != 1 || an < 2 || an > 256)
		return;
	size_t off = hfi_wire_skip_name(m, len, 12);
	if (off == 0 || off + 4 > len)
		return;
	off += 4;
	size_t start = off, rl = 0;
	uint16_t type0 = 0;
	for (unsigned i = 0; i < an; i++) {
		if (off + 12 > len || (m[off] & 0xc0) != 0xc0)
			return;
		uint16_t type = (uint16_t)(m[off + 2] << 8 | m[off + 3]);
		uint16_t rdl = (uint16_t)(m[off + 10] << 8 | m[off + 11]);
		if (i == 0)
			type0 = type;
		if (type != type0 || (type != HFI_T_A && type != HFI_T_AAAA) ||
		    rdl != (type == HFI_T_A ? 4 : 16))
			return;
		rl = 12 + (size_t)rdl;
		off += rl;
	}
	if (off > len)
		return;
	uint8_t tmp[28];
	for (size_t i = an; i > 1; i--) {
		size_t j = hfi_lb_rand(w, (uint32_t)i);
		if (j == i - 1)
			continue;
		uint8_t *a = m + start + (i - 1) * rl, *b = m + start + j * rl;
		memcpy(tmp, a, rl);
		memcpy(a, b, rl);
		memcpy(b, tmp, rl);
	}
}
