/*
 * admin_limit.c: per-client rate limits (break-glass, issue 7): `limit
 * CIDR QPS`, `unlimit CIDR`, `limits`, and the CIDR parser the breakglass
 * `allow` option shares.  A change copies the published table into a free
 * slot (keeping each surviving rule's bucket and drop count), sorts it
 * longest prefix first and publishes it; the answer path is
 * admin_answer.c.  QPS 0 blocks a network; over-limit queries are dropped.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"

#define QPS_MAX 10000000UL

bool hfi_admin_cidr(const char *s, uint8_t *family, uint8_t *prefix, uint8_t addr[16])
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t il = slash ? (size_t)(slash - s) : strlen(s);
	if (il == 0 || il >= sizeof(ip))
		return false;
	memcpy(ip, s, il);
	ip[il] = '\0';
	memset(addr, 0, 16);
	unsigned max;
	if (inet_pton(AF_INET, ip, addr) == 1) {
		*family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, addr) == 1) {
		*family = 6;
		max = 128;
	} else {
		return false;
	}
	unsigned p = max;
	if (slash != NULL) {
		const char *q = slash + 1;
		if (*q == '\0' || strlen(q) > 3)
			return false;
		p = 0;
		for (; *q; q++) {
			if (*q < '0' || *q > '9')
				return false;
			p = p * 10 + (unsigned)(*q - '0');
		}
		if (p > max)
			return false;
	}
	*prefix = (uint8_t)p;
	for (unsigned b = p; b < max; b++)
		addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	return true;
}

void hfi_admin_cidr_text(uint8_t family, uint8_t prefix, const uint8_t *addr, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, prefix);
}

static bool same_net(const hfi_limit_rule_t *r, uint8_t fam, uint8_t prefix, const uint8_t *addr)
{
	return r->family == fam && r->prefix == prefix && memcmp(r->addr, addr, 16) == 0;
}

static void rule_copy(hfi_limit_rule_t *dst, const hfi_limit_rule_t *src)
{
	dst->family = src->family;
	dst->prefix = src->prefix;
	memcpy(dst->addr, src->addr, 16);
	dst->qps = src->qps;
	atomic_init(&dst->tat, atomic_load(&src->tat));
	atomic_init(&dst->dropped, atomic_load(&src->dropped));
}

/* Copy the published table into a free slot, leaving out rule skip (or
 * nothing when skip is NULL).  Slot or -1. */
static int edit_slot(hf_engine_t *e, hfi_admin_t *a, const uint8_t *skip_net, uint8_t fam,
		     uint8_t prefix, bool *skipped)
{
	const hfi_limit_table_t *cur = atomic_load(&e->limits);
	int idx = hfi_admin_free_slot(e, (void *const *)a->lim, a->lim_tag, cur);
	if (idx < 0)
		return -1;
	hfi_limit_table_t *t = a->lim[idx];
	t->n = 0;
	*skipped = false;
	for (uint32_t i = 0; cur != NULL && i < cur->n; i++) {
		if (skip_net != NULL && same_net(&cur->r[i], fam, prefix, skip_net)) {
			*skipped = true;
			continue;
		}
		rule_copy(&t->r[t->n++], &cur->r[i]);
	}
	return idx;
}

/* Longest prefix first (insertion sort: at most HFI_LIMIT_MAX rules). */
static void sort_rules(hfi_limit_table_t *t)
{
	for (uint32_t i = 1; i < t->n; i++) {
		for (uint32_t j = i; j > 0 && t->r[j - 1].prefix < t->r[j].prefix; j--) {
			hfi_limit_rule_t tmp;
			rule_copy(&tmp, &t->r[j]);
			rule_copy(&t->r[j], &t->r[j - 1]);
			rule_copy(&t->r[j - 1], &tmp);
		}
	}
}

int hfi_admin_limit(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	if (c->n != 3)
		return hfi_out_err(o, HF_EINVAL, "usage: limit CLIENT_CIDR QPS (0 blocks the network)");
	uint8_t fam, prefix, addr[16];
	if (!hfi_admin_cidr(c->t[1].s, &fam, &prefix, addr))
		return hfi_out_err(o, HF_EINVAL, "invalid CIDR '%s'", c->t[1].s);
	unsigned long qps = 0;
	const char *q = c->t[2].s;
	bool ok = *q != '\0' && strlen(q) <= 8;
	for (; ok && *q; q++)
		ok = *q >= '0' && *q <= '9';
	if (ok)
		qps = strtoul(c->t[2].s, NULL, 10);
	if (!ok || qps > QPS_MAX)
		return hfi_out_err(o, HF_EINVAL, "invalid QPS '%s' (0 to %lu)", c->t[2].s, QPS_MAX);
	bool replaced = false;
	int idx = edit_slot(e, a, addr, fam, prefix, &replaced);
	if (idx < 0)
		return hfi_out_err(o, HF_ENOMEM, "busy: every limit table is still in use, try again");
	hfi_limit_table_t *t = a->lim[idx];
	if (t->n >= HFI_LIMIT_MAX)
		return hfi_out_err(o, HF_ENOMEM, "too many limits (%d)", HFI_LIMIT_MAX);
	hfi_limit_rule_t *r = &t->r[t->n++];
	r->family = fam;
	r->prefix = prefix;
	memcpy(r->addr, addr, 16);
	r->qps = (uint32_t)qps;
	atomic_init(&r->tat, 0);
	atomic_init(&r->dropped, 0);
	sort_rules(t);
	hfi_admin_publish_lim(e, a, idx);
	char cidr[64];
	hfi_admin_cidr_text(fam, prefix, addr, cidr, sizeof(cidr));
	if (qps == 0)
		return hfi_out_ok(o, "limit %s: blocked (every query dropped)%s", cidr,
				  replaced ? ", replaced the old limit" : "");
	return hfi_out_ok(o, "limit %s: %lu queries/s, burst %lu; over it queries are dropped%s", cidr, qps,
			  qps, replaced ? ", replaced the old limit" : "");
}

int hfi_admin_unlimit(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	if (c->n != 2)
		return hfi_out_err(o, HF_EINVAL, "usage: unlimit CLIENT_CIDR");
	uint8_t fam, prefix, addr[16];
	if (!hfi_admin_cidr(c->t[1].s, &fam, &prefix, addr))
		return hfi_out_err(o, HF_EINVAL, "invalid CIDR '%s'", c->t[1].s);
	const hfi_limit_table_t *cur = atomic_load(&e->limits);
	bool have = false;
	for (uint32_t i = 0; cur != NULL && i < cur->n; i++)
		have |= same_net(&cur->r[i], fam, prefix, addr);
	char cidr[64];
	hfi_admin_cidr_text(fam, prefix, addr, cidr, sizeof(cidr));
	if (!have)
		return hfi_out_err(o, HF_ENOENT, "no limit for %s", cidr);
	bool removed = false;
	int idx = edit_slot(e, a, addr, fam, prefix, &removed);
	if (idx < 0)
		return hfi_out_err(o, HF_ENOMEM, "busy: every limit table is still in use, try again");
	hfi_admin_publish_lim(e, a, a->lim[idx]->n > 0 ? idx : -1);
	return hfi_out_ok(o, "limit %s removed", cidr);
}

int hfi_admin_limits(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)a;
	if (c->n != 1)
		return hfi_out_err(o, HF_EINVAL, "usage: limits");
	const hfi_limit_table_t *t = atomic_load(&e->limits);
	for (uint32_t i = 0; t != NULL && i < t->n; i++) {
		char cidr[64];
		hfi_admin_cidr_text(t->r[i].family, t->r[i].prefix, t->r[i].addr, cidr, sizeof(cidr));
		hfi_out_printf(o, "%s qps %u dropped %llu\n", cidr, t->r[i].qps,
			       (unsigned long long)atomic_load(&t->r[i].dropped));
	}
	return hfi_out_ok(o, "%u limits", t ? t->n : 0);
}
