/*
 * engine_forward_abi.c: what the host needs to know about the forward
 * instances of an engine (public ABI, holdfast.h).  The engine owns the
 * configuration, the host owns the network: instances are numbered in
 * Corefile order across all server blocks (stable for the engine's
 * lifetime), their options are read by name, and an HF_FORWARD verdict
 * names the instance to use (hf_forward_instance) or passes the query on
 * to the following forward line (hf_forward_next, for `next` RCODE and
 * `next_on_nodata`).  Nothing here allocates.
 */
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

/* Instance id -> config, or NULL. */
static const hfi_cfg_forward_t *inst_at(const hf_engine_t *e, int id, size_t *block,
					size_t *pos)
{
	if (e == NULL || e->cfg == NULL || id < 0)
		return NULL;
	int k = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		const hfi_block_t *b = &e->cfg->blocks[bi];
		for (size_t i = 0; i < b->nforward; i++, k++) {
			if (k == id) {
				if (block != NULL)
					*block = bi;
				if (pos != NULL)
					*pos = i;
				return b->forward[i];
			}
		}
	}
	return NULL;
}

/* Config -> instance id, or HF_ENOENT. */
static int inst_id(const hf_engine_t *e, const hfi_cfg_forward_t *f, size_t *block, size_t *pos)
{
	if (e == NULL || e->cfg == NULL || f == NULL)
		return HF_ENOENT;
	int k = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		const hfi_block_t *b = &e->cfg->blocks[bi];
		for (size_t i = 0; i < b->nforward; i++, k++) {
			if (b->forward[i] == f) {
				if (block != NULL)
					*block = bi;
				if (pos != NULL)
					*pos = i;
				return k;
			}
		}
	}
	return HF_ENOENT;
}

HF_API int hf_forward_count(const hf_engine_t *e)
{
	if (e == NULL || e->cfg == NULL)
		return HF_EINVAL;
	int k = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		k += (int)e->cfg->blocks[bi].nforward;
	return k;
}

HF_API int hf_forward_instance(hf_worker_t *w)
{
	if (w == NULL)
		return HF_EINVAL;
	return inst_id(w->e, w->fwd, NULL, NULL);
}

/* Bit n set for every rcode named in v (names as config_forward.c keeps them). */
static int64_t rcode_mask(const hfi_strv_t *v)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", NULL,
		NULL, NULL, NULL, NULL, "BADSIG", "BADKEY", "BADTIME", "BADMODE",
		"BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
	};
	int64_t m = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->v[i], "BADVERS") == 0) {
			m |= (int64_t)1 << 16;
			continue;
		}
		for (int k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++)
			if (names[k] != NULL && strcmp(v->v[i], names[k]) == 0)
				m |= (int64_t)1 << k;
	}
	return m;
}

HF_API int hf_forward_option(const hf_engine_t *e, int id, const char *name, int64_t *value)
{
	if (name == NULL || value == NULL)
		return HF_EINVAL;
	const hfi_cfg_forward_t *f = inst_at(e, id, NULL, NULL);
	if (f == NULL)
		return HF_ENOENT;
	static const char *const keys[] = {
		"policy", "max_fails", "health_check_ms", "expire_ms", "max_age_ms",
		"read_timeout_ms", "force_tcp", "prefer_udp", "max_concurrent",
		"max_connect_attempts", "max_idle_conns", "failfast", "hc_no_rec",
		"failover", "next", "next_on_nodata", "upstreams",
	};
	int k = 0;
	while (k < (int)(sizeof(keys) / sizeof(keys[0])) && strcmp(name, keys[k]) != 0)
		k++;
	switch (k) {
	case 0: *value = f->policy == HFI_FWD_ROUND_ROBIN ? 1 : f->policy == HFI_FWD_SEQUENTIAL ? 2 : 0; break;
	case 1: *value = f->max_fails; break;
	case 2: *value = f->health_check_ms; break;
	case 3: *value = f->expire_ms; break;
	case 4: *value = f->max_age_ms; break;
	case 5: *value = f->read_timeout_ms; break;
	case 6: *value = f->force_tcp; break;
	case 7: *value = f->prefer_udp; break;
	case 8: *value = f->max_concurrent; break;
	case 9: *value = f->max_connect_attempts; break;
	case 10: *value = f->max_idle_conns; break;
	case 11: *value = f->failfast_all_unhealthy_upstreams; break;
	case 12: *value = f->hc_no_rec; break;
	case 13: *value = rcode_mask(&f->failover); break;
	case 14: *value = rcode_mask(&f->next); break;
	case 15: *value = f->next_on_nodata; break;
	case 16: *value = (int64_t)f->to.n; break;
	default: return HF_ENOENT;
	}
	return HF_EOK;
}

HF_API int hf_forward_upstream_at(const hf_engine_t *e, int id, int idx, char *addr,
				  size_t addrlen)
{
	if (addr == NULL || addrlen == 0)
		return HF_EINVAL;
	const hfi_cfg_forward_t *f = inst_at(e, id, NULL, NULL);
	if (f == NULL || idx < -1)
		return HF_ENOENT;
	const char *s;
	if (idx == -1)
		s = f->hc_domain != NULL ? f->hc_domain : ".";
	else if ((size_t)idx < f->to.n)
		s = f->to.v[idx];
	else
		return HF_ENOENT;
	if (strlen(s) >= addrlen)
		return HF_ESPACE;
	snprintf(addr, addrlen, "%s", s);
	return HF_EOK;
}

static bool name_in(const uint8_t *lname, const char *zone)
{
	uint8_t z[HFI_DNAME_MAX + 1];
	if (hfi_dname_from_str(zone, z, sizeof(z)) < 0)
		return false;
	return hfi_dname_in_zone(lname, z);
}

HF_API int hf_forward_next(hf_worker_t *w)
{
	if (w == NULL)
		return HF_EINVAL;
	size_t bi = 0, pos = 0;
	int id = inst_id(w->e, w->fwd, &bi, &pos);
	if (id < 0)
		return HF_ENOENT;
	const hfi_block_t *b = &w->e->cfg->blocks[bi];
	const hfi_query_t *q = w->chase ? &w->chase_route : &w->q;
	for (size_t i = pos + 1; i < b->nforward; i++, id++) {
		const hfi_cfg_forward_t *f = b->forward[i];
		if (f->to.n == 0 || !name_in(q->lname, f->from ? f->from : "."))
			continue;
		bool excluded = false;
		for (size_t x = 0; x < f->except.n && !excluded; x++)
			excluded = name_in(q->lname, f->except.v[x]);
		if (excluded)
			continue;
		w->fwd = f;
		return id + 1;
	}
	return HF_ENOENT;
}

HF_API hf_engine_t *hf_worker_engine(hf_worker_t *w)
{
	return w != NULL ? w->e : NULL;
}
