/*
 * plugin_hosts.c: CoreDNS's hosts plugin (spec section 13): answers A,
 * AAAA and PTR from a hosts file plus inline lines, AA set, owner = the
 * lower-cased qname, TTL `ttl` (3600).  A known name asked for another
 * type (or for the family it lacks) gets NOERROR with an empty answer and
 * no SOA; an unknown name goes to the next plugin with fallthrough, else
 * SERVFAIL; a PTR without a match always goes to the next plugin (PTR is
 * handled outside the plugin's zones too).  `*.name` entries match one
 * extra label.  The file is re-read by the maintenance thread every
 * `reload` (mtime/size check) and the new table published by pointer swap
 * (plugins.h); metrics coredns_hosts_entries / _reload_timestamp_seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "file_util.h"
#include "log.h"
#include "plugins.h"

/* The hosts file's text; NULL (and *len 0) when it cannot be read. */
static char *read_file(const char *path, size_t *len, struct stat *st)
{
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return NULL;
	}
	return hfi_read_fd_all(fd, (size_t)st->st_size + 1, len);
}

static void table_free(void *t)
{
	hfi_hosts_table_free(t);
}

static void publish(hf_engine_t *e, hfi_plug_block_t *pb, hfi_hosts_table_t *t)
{
	hfi_hosts_table_t *old = atomic_exchange(&pb->hosts, t);
	if (old != NULL)
		hfi_plugins_retire(e, old, table_free);
}

/* (Re)load block bi's table when the file changed (or force). */
static int hosts_load(hf_engine_t *e, size_t bi, bool force)
{
	const hfi_cfg_hosts_t *c = e->cfg->blocks[bi].hosts;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	struct stat st;
	memset(&st, 0, sizeof(st));
	size_t len = 0;
	char *text = NULL;
	if (stat(c->path, &st) == 0) {
		int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if (!force && mt == pb->hosts_mtime_ns && (int64_t)st.st_size == pb->hosts_size)
			return HF_EOK;
		text = read_file(c->path, &len, &st);
		if (text == NULL && !force)
			return HF_EOK; /* CoreDNS keeps the old data */
		pb->hosts_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		pb->hosts_size = (int64_t)st.st_size;
		if (text != NULL)
			atomic_store(&pb->hosts_reload_ts_ns, pb->hosts_mtime_ns);
	} else if (!force) {
		return HF_EOK;
	}
	const uint8_t *zones[64];
	size_t nz = pb->hosts_nzones < 64 ? pb->hosts_nzones : 64;
	for (size_t i = 0; i < nz; i++)
		zones[i] = pb->hosts_zones[i];
	hfi_hosts_table_t *t = hfi_hosts_build(text, len, &c->inline_lines, zones, nz,
					       !c->no_reverse);
	free(text);
	if (t == NULL) {
		hfi_log(HFI_LOG_ERROR, "hosts", "cannot load %s: %s", c->path, hf_strerror(HF_ENOMEM));
		return HF_ENOMEM;
	}
	publish(e, pb, t);
	return HF_EOK;
}

static int zones_wire(const hfi_strv_t *v, uint8_t (**out)[HFI_DNAME_MAX + 1], size_t *n)
{
	*n = 0;
	*out = calloc(v->n ? v->n : 1, sizeof(**out));
	if (*out == NULL)
		return HF_ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		if (hfi_dname_from_str(v->v[i], (*out)[*n], HFI_DNAME_MAX + 1) < 0)
			continue;
		hfi_dname_lower((*out)[*n], (*out)[*n]);
		(*n)++;
	}
	return HF_EOK;
}

int hfi_hosts_open_block(hf_engine_t *e, size_t bi)
{
	const hfi_cfg_hosts_t *c = e->cfg->blocks[bi].hosts;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	if (zones_wire(&c->zones, &pb->hosts_zones, &pb->hosts_nzones) != HF_EOK ||
	    zones_wire(&c->fallthrough_zones, &pb->hosts_ft, &pb->hosts_nft) != HF_EOK)
		return HF_ENOMEM;
	pb->hosts_next_check_ms = hfi_engine_now_ms() + c->reload_ms;
	return hosts_load(e, bi, true);
}

void hfi_hosts_close_block(hf_engine_t *e, size_t bi)
{
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	hfi_hosts_table_free(atomic_exchange(&pb->hosts, NULL));
	free(pb->hosts_zones);
	free(pb->hosts_ft);
	pb->hosts_zones = pb->hosts_ft = NULL;
}

void hfi_hosts_maint(hf_engine_t *e, int64_t now)
{
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		const hfi_cfg_hosts_t *c = e->cfg->blocks[bi].hosts;
		hfi_plug_block_t *pb = &e->plug->blocks[bi];
		if (c == NULL || c->reload_ms == 0 || now < pb->hosts_next_check_ms)
			continue;
		pb->hosts_next_check_ms = now + c->reload_ms;
		hosts_load(e, bi, false);
	}
}

/* Entries for name: exact, else the `*.parent` wildcard (one label). */
static size_t lookup(const hfi_hosts_table_t *t, const uint8_t *lname, size_t *first)
{
	size_t n = hfi_hosts_find_name(t, lname, first);
	if (n > 0 || !t->wildcards || hfi_dname_labels(lname) < 2)
		return n;
	uint8_t wild[HFI_DNAME_MAX + 1];
	const uint8_t *parent = lname + 1 + lname[0];
	size_t pl = hfi_dname_len(parent);
	wild[0] = 1;
	wild[1] = '*';
	memcpy(wild + 2, parent, pl);
	return hfi_hosts_find_name(t, wild, first);
}

static size_t count_family(const hfi_hosts_table_t *t, size_t first, size_t n, int family)
{
	size_t k = 0;
	for (size_t i = first; i < first + n; i++)
		k += t->ents[t->by_name[i]].family == family;
	return k;
}

int hfi_hosts_answer(hf_worker_t *w, size_t bi, hfi_resp_t *resp)
{
	hf_engine_t *e = w->e;
	const hfi_cfg_hosts_t *c = e->cfg->blocks[bi].hosts;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	const hfi_hosts_table_t *t = atomic_load(&pb->hosts);
	const hfi_query_t *q = &w->q;
	if (c == NULL || t == NULL)
		return HFI_PLUG_NEXT;
	bool inzone = false;
	for (size_t i = 0; i < pb->hosts_nzones && !inzone; i++)
		inzone = hfi_dname_in_zone(q->lname, pb->hosts_zones[i]);
	if (!inzone && q->qtype != HFI_T_PTR)
		return HFI_PLUG_NEXT;
	hfi_resp_reset(resp);
	resp->aa = true;
	resp->plugin = "hosts";
	hfi_name_t owner = hfi_name_wire(q->lname);
	size_t nans = 0, first = 0;
	if (q->qtype == HFI_T_PTR) {
		uint8_t addr[16];
		int fam = hfi_hosts_reverse_addr(q->lname, addr);
		size_t n = fam ? hfi_hosts_find_addr(t, fam, addr, &first) : 0;
		if (n == 0)
			return HFI_PLUG_NEXT;
		for (size_t i = first; i < first + n; i++) {
			hfi_rr_t *rr = hfi_resp_add(resp, HFI_SEC_ANSWER, HFI_T_PTR, c->ttl);
			if (rr == NULL)
				break;
			rr->owner = owner;
			rr->rclass = HFI_C_IN;
			rr->name1 = hfi_name_wire(t->names + t->ents[t->by_addr[i]].name_off);
			nans++;
		}
	} else if (q->qtype == HFI_T_A || q->qtype == HFI_T_AAAA) {
		int fam = q->qtype == HFI_T_A ? 4 : 6;
		size_t n = lookup(t, q->lname, &first);
		for (size_t i = first; i < first + n; i++) {
			const hfi_hosts_ent_t *en = &t->ents[t->by_name[i]];
			if (en->family != fam)
				continue;
			hfi_rr_t *rr = hfi_resp_add(resp, HFI_SEC_ANSWER, q->qtype, c->ttl);
			if (rr == NULL)
				break;
			rr->owner = owner;
			rr->rclass = HFI_C_IN;
			rr->rdata = en->addr;
			rr->rdlen = fam == 4 ? 4 : 16;
			nans++;
		}
	}
	if (nans == 0) {
		size_t n = lookup(t, q->lname, &first);
		bool exists = count_family(t, first, n, 4) + count_family(t, first, n, 6) > 0;
		/* fall.F.Through(qname): fallthrough on, qname in its zones (all when none) */
		bool ft = c->fallthrough && pb->hosts_nft == 0;
		for (size_t i = 0; c->fallthrough && i < pb->hosts_nft && !ft; i++)
			ft = hfi_dname_in_zone(q->lname, pb->hosts_ft[i]);
		if (!exists)
			return ft ? HFI_PLUG_NEXT : HFI_PLUG_SERVFAIL;
		/* fallthrough_unsupported: a known name asked for a type hosts never
		 * serves goes on too, within the fallthrough zones */
		if (c->fallthrough_unsupported && ft && q->qtype != HFI_T_A &&
		    q->qtype != HFI_T_AAAA && q->qtype != HFI_T_PTR)
			return HFI_PLUG_NEXT;
	}
	return HFI_PLUG_ANSWER;
}

/* Go's strconv.FormatFloat(v, 'g', -1, 64), as the Prometheus text format
 * writes values: the shortest digits that read back as v, in %e form when
 * the decimal exponent is < -4 or >= 6 (Go's rule for shortest 'g'). */
static void go_float(char *out, size_t cap, double v)
{
	if (v == 0) {
		snprintf(out, cap, "0");
		return;
	}
	char e[64];
	int p = 1;
	for (; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	const char *x = strchr(e, 'e');
	int exp = x != NULL ? atoi(x + 1) : 0;
	if (exp < -4 || exp >= 6)
		snprintf(out, cap, "%s", e);
	else
		snprintf(out, cap, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, v);
}

int hfi_hosts_metrics(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
	if (e == NULL || e->plug == NULL || fn == NULL)
		return HF_EINVAL;
	const hfi_plug_block_t *last = NULL;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		if (e->cfg->blocks[bi].hosts != NULL)
			last = &e->plug->blocks[bi];
	if (last == NULL)
		return HF_EOK;
	const hfi_hosts_table_t *t = atomic_load(&last->hosts);
	char ts[64], ents[64], buf[512];
	go_float(ts, sizeof(ts), (double)atomic_load(&last->hosts_reload_ts_ns) / 1e9);
	go_float(ents, sizeof(ents), t ? (double)t->len_metric : 0);
	int n = snprintf(buf, sizeof(buf),
			 "# HELP coredns_hosts_entries The combined number of entries in hosts and Corefile.\n"
			 "# TYPE coredns_hosts_entries gauge\n"
			 "coredns_hosts_entries %s\n"
			 "# HELP coredns_hosts_reload_timestamp_seconds The timestamp of the last reload of hosts file.\n"
			 "# TYPE coredns_hosts_reload_timestamp_seconds gauge\n"
			 "coredns_hosts_reload_timestamp_seconds %s\n",
			 ents, ts);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return HF_ESPACE;
	return fn(ctx, buf, (size_t)n);
}
