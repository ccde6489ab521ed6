/*
 * plugin_loadbalance_weighted.c: the loadbalance plugin's `weighted FILE
 * { reload DUR }` policy and its `prefer CIDR...` option (CoreDNS
 * weighted.go, prefer.go).
 *
 * Weight file: "# comment" and empty lines skipped; a line with one field
 * starts a domain (fully qualified if needed; an IP there is an error);
 * "IP WEIGHT" lines (1..255) belong to the last domain.  Any other line,
 * a bad IP or weight, or an address before the first domain makes the
 * whole file invalid: an error at startup, a logged error (old weights
 * kept) on reload.  The file is re-read every `reload` (default 30 s, 0 =
 * never) when its content hash changed; the table is immutable and
 * swapped like the hosts table.  Owners are matched case-insensitively
 * (CoreDNS compares the owner as written).
 *
 * weighted, for A/AAAA/SRV queries, in the answer and additional sections
 * with at least one address: CNAMEs, other types, the addresses with one
 * of them (drawn by weight, default weight 1) swapped to the front, MX.
 * prefer: CNAMEs, addresses in the subnets first (subnet order, otherwise
 * stable), MX, other types; applied after the policy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "file_util.h"
#include "ip_util.h"
#include "log.h"
#include "plugins.h"

typedef struct lbw_ent {
	uint32_t name_off;
	uint8_t family, weight;
	uint8_t addr[16];
} lbw_ent_t;

struct hfi_lb_weights {
	lbw_ent_t *ents; /* sorted by name (wire, lower case), stable */
	size_t n;
	uint8_t *names;
	size_t nlen;
};

void hfi_lb_weights_free(void *p)
{
	struct hfi_lb_weights *t = p;
	if (t == NULL)
		return;
	free(t->ents);
	free(t->names);
	free(t);
}

static int parse_ip(const char *s, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (strchr(s, ':') == NULL)
		return inet_pton(AF_INET, s, addr) == 1 ? 4 : 0;
	if (inet_pton(AF_INET6, s, addr) != 1)
		return 0;
	return hfi_ip6_unmap(addr);
}

static int cmp_name(const uint8_t *a, const uint8_t *b)
{
	size_t la = hfi_dname_len(a), lb = hfi_dname_len(b);
	int c = memcmp(a, b, la < lb ? la : lb);
	return c != 0 ? c : (la < lb ? -1 : la > lb);
}

static const struct hfi_lb_weights *sort_t;
static int cmp_ent(const void *x, const void *y)
{
	const lbw_ent_t *a = x, *b = y;
	int c = cmp_name(sort_t->names + a->name_off, sort_t->names + b->name_off);
	return c != 0 ? c : (a < b ? -1 : a > b);
}

struct hfi_lb_weights *hfi_lb_weights_parse(const char *text, size_t len, const char *fname,
					    char *err, size_t errlen)
{
	struct hfi_lb_weights *t = calloc(1, sizeof(*t));
	size_t cap = 0, ncap = 0;
	uint32_t cur = UINT32_MAX; /* name_off of the current domain */
	if (t == NULL)
		goto oom;
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
		char line[1024];
		size_t ll = l < sizeof(line) - 1 ? l : sizeof(line) - 1;
		memcpy(line, text + i, ll);
		line[ll] = '\0';
		i += l + 1;
		char *f[3];
		int nf = 0;
		for (char *tok = strtok(line, " \t\r\v\f"); tok != NULL && nf < 3;
		     tok = strtok(NULL, " \t\r\v\f"))
			f[nf++] = tok;
		if (nf == 0 || f[0][0] == '#')
			continue;
		uint8_t addr[16];
		if (nf == 1) {
			if (parse_ip(f[0], addr) != 0) {
				snprintf(err, errlen, "Wrong domain name:\"%s\" in weight file %s. "
					 "(Maybe a missing weight value?)", f[0], fname);
				goto bad;
			}
			uint8_t w[HFI_DNAME_MAX + 1];
			if (hfi_dname_from_str(f[0], w, sizeof(w)) < 0) {
				snprintf(err, errlen, "Wrong domain name:\"%s\" in weight file %s", f[0],
					 fname);
				goto bad;
			}
			hfi_dname_lower(w, w);
			size_t wl = hfi_dname_len(w);
			if (t->nlen + wl > ncap) {
				size_t nc = ncap ? ncap * 2 : 1024;
				while (nc < t->nlen + wl)
					nc *= 2;
				uint8_t *nn = realloc(t->names, nc);
				if (nn == NULL)
					goto oom;
				t->names = nn;
				ncap = nc;
			}
			memcpy(t->names + t->nlen, w, wl);
			cur = (uint32_t)t->nlen;
			t->nlen += wl;
		} else if (nf == 2) {
			int fam = parse_ip(f[0], addr);
			if (fam == 0) {
				snprintf(err, errlen, "Wrong IP address:\"%s\" in weight file %s", f[0], fname);
				goto bad;
			}
			char *end = NULL;
			errno = 0;
			unsigned long wv = strtoul(f[1], &end, 10);
			if (f[1][0] < '0' || f[1][0] > '9' || *end != '\0' || errno != 0 || wv == 0 ||
			    wv > 255) {
				snprintf(err, errlen, "Wrong weight value:\"%s\" in weight file %s", f[1],
					 fname);
				goto bad;
			}
			if (cur == UINT32_MAX) {
				snprintf(err, errlen, "Missing domain name in weight file %s", fname);
				goto bad;
			}
			if (t->n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				lbw_ent_t *ne = realloc(t->ents, nc * sizeof(*ne));
				if (ne == NULL)
					goto oom;
				t->ents = ne;
				cap = nc;
			}
			lbw_ent_t *e = &t->ents[t->n++];
			e->name_off = cur;
			e->family = (uint8_t)fam;
			e->weight = (uint8_t)wv;
			memcpy(e->addr, addr, 16);
		} else {
			snprintf(err, errlen, "Could not parse weight line:\"%.*s\" in weight file %s",
				 (int)ll, text + i - l - 1, fname);
			goto bad;
		}
	}
	/* qsort with a stable tie-break on position: entries of one name keep file order */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	sort_t = t;
	if (t->n > 1)
		qsort(t->ents, t->n, sizeof(*t->ents), cmp_ent);
	sort_t = NULL;
	pthread_mutex_unlock(&lock);
	return t;
oom:
	snprintf(err, errlen, "%s", hf_strerror(HF_ENOMEM));
bad:
	hfi_lb_weights_free(t);
	return NULL;
}

unsigned hfi_lb_weight_of(const struct hfi_lb_weights *t, const uint8_t *lname, int family,
			  const uint8_t *addr)
{
	if (t == NULL || t->n == 0)
		return 1;
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_name(t->names + t->ents[mid].name_off, lname) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < t->n && cmp_name(t->names + t->ents[i].name_off, lname) == 0; i++)
		if (t->ents[i].family == family && memcmp(t->ents[i].addr, addr, 16) == 0)
			return t->ents[i].weight;
	return 1;
}

/* ---- file loading ---- */

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h ^ n;
}

/* 0 ok/unchanged, 1 cannot open, -1 parse error (err filled) */
static int load(hf_engine_t *e, size_t bi, char *err, size_t errlen)
{
	const hfi_cfg_loadbalance_t *c = e->cfg->blocks[bi].lb_cfg;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	int fd = open(c->weight_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	size_t n;
	char *buf = hfi_read_fd_all(fd, 4096, &n);
	if (buf == NULL) {
		snprintf(err, errlen, "%s", hf_strerror(HF_ENOMEM));
		return -1;
	}
	uint64_t h = fnv(buf, n);
	if (h == pb->lbw_hash && atomic_load(&pb->lbw) != NULL) {
		free(buf);
		return 0;
	}
	struct hfi_lb_weights *t = hfi_lb_weights_parse(buf, n, c->weight_file, err, errlen);
	free(buf);
	if (t == NULL)
		return -1;
	pb->lbw_hash = h;
	struct hfi_lb_weights *old = atomic_exchange(&pb->lbw, t);
	if (old != NULL)
		hfi_plugins_retire(e, old, hfi_lb_weights_free);
	hfi_log(HFI_LOG_INFO, "loadbalance", "Successfully reloaded weight file %s", c->weight_file);
	return 0;
}

int hfi_lb_open_block(hf_engine_t *e, size_t bi, char *err, size_t errlen)
{
	const hfi_cfg_loadbalance_t *c = e->cfg->blocks[bi].lb_cfg;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	if (c->prefer.n > 0) {
		pb->prefer = calloc(c->prefer.n, sizeof(*pb->prefer));
		if (pb->prefer == NULL) {
			snprintf(err, errlen, "%s", hf_strerror(HF_ENOMEM));
			return HF_ENOMEM;
		}
		for (size_t i = 0; i < c->prefer.n; i++) {
			hfi_cidr_t *x = &pb->prefer[pb->nprefer];
			if (hfi_admin_cidr(c->prefer.v[i], &x->family, &x->prefix, x->addr))
				pb->nprefer++;
		}
	}
	if (c->policy != HFI_LB_WEIGHTED || c->weight_file == NULL)
		return HF_EOK;
	char why[512] = "";
	int r = load(e, bi, why, sizeof(why));
	if (r == 1 && c->reload_ms != 0) {
		char d[32];
		hfi_go_duration_text(c->reload_ms, d, sizeof(d));
		hfi_log(HFI_LOG_WARNING, "loadbalance",
			"Failed to open weight file:weight file open error. Will try again in %s", d);
	} else if (r != 0) {
		snprintf(err, errlen, "plugin/loadbalance: %s",
			 r == 1 ? "weight file open error" : why);
		return HF_ECONFIG;
	}
	pb->lbw_next_ms = hfi_engine_now_ms() + c->reload_ms;
	return HF_EOK;
}

void hfi_lb_close_block(hf_engine_t *e, size_t bi)
{
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	hfi_lb_weights_free(atomic_exchange(&pb->lbw, NULL));
	free(pb->prefer);
	pb->prefer = NULL;
	pb->nprefer = 0;
}

void hfi_lb_maint(hf_engine_t *e, int64_t now)
{
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		const hfi_cfg_loadbalance_t *c = e->cfg->blocks[bi].lb_cfg;
		hfi_plug_block_t *pb = &e->plug->blocks[bi];
		if (c == NULL || c->policy != HFI_LB_WEIGHTED || c->reload_ms == 0 ||
		    now < pb->lbw_next_ms)
			continue;
		pb->lbw_next_ms = now + c->reload_ms;
		char why[512] = "";
		int r = load(e, bi, why, sizeof(why));
		if (r == 1)
			hfi_log(HFI_LOG_ERROR, "loadbalance", "weight file open error");
		else if (r < 0)
			hfi_log(HFI_LOG_ERROR, "loadbalance", "%s", why);
	}
}

/* ---- reordering hfi_resp_t sections ---- */

static int rr_addr(const hfi_rr_t *rr, uint8_t out[16])
{
	memset(out, 0, 16);
	if (rr->type == HFI_T_A && rr->rdlen == 4 && rr->rdata != NULL) {
		memcpy(out, rr->rdata, 4);
		return 4;
	}
	if (rr->type == HFI_T_AAAA && rr->rdlen == 16 && rr->rdata != NULL) {
		memcpy(out, rr->rdata, 16);
		return 6;
	}
	return 0;
}

/* Owner of rr as a lower-case wire name. */
static void rr_owner(const hfi_rr_t *rr, uint8_t out[HFI_DNAME_MAX + 1])
{
	size_t n = 0;
	if (rr->owner.prelen > 0 && rr->owner.pre != NULL) {
		memcpy(out, rr->owner.pre, rr->owner.prelen);
		n = rr->owner.prelen;
	}
	size_t sl = rr->owner.suf ? rr->owner.suflen : 1;
	if (n + sl > HFI_DNAME_MAX + 1)
		sl = HFI_DNAME_MAX + 1 - n;
	if (rr->owner.suf)
		memcpy(out + n, rr->owner.suf, sl);
	else
		out[n] = 0;
	out[HFI_DNAME_MAX] = 0;
	hfi_dname_lower(out, out);
}

/* Rearrange the records of section sec: new order = ord (record indexes). */
static void place(hfi_resp_t *r, uint8_t sec, uint16_t *ord, size_t n)
{
	uint16_t slot[HFI_RESP_MAX_RR];
	size_t k = 0;
	for (uint16_t i = 0; i < r->nrr && k < n; i++)
		if (r->rr[i].section == sec)
			slot[k++] = i;
	if (k == n)
		hfi_lb_permute(r, slot, ord, n);
}

static bool in_cidr(const hfi_cidr_t *c, int fam, const uint8_t *a)
{
	if (c->family != fam)
		return false;
	unsigned bits = c->prefix, full = bits / 8, rest = bits % 8;
	if (memcmp(c->addr, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (a[full] & mask);
}

/* The weighted draw (weighted.go): one of the n addresses with weights
 * wt, picked with probability weight / sum over the addresses taken in
 * descending weight order (stable within a weight); its index. */
static size_t draw(hf_worker_t *w, const uint8_t *wt, size_t n)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += wt[i];
	uint32_t v = hfi_lb_rand(w, sum), psum = 0;
	for (unsigned lvl = 256; lvl-- > 0;)
		for (size_t i = 0; i < n; i++)
			if (wt[i] == lvl && v < (psum += wt[i]))
				return i;
	return 0;
}

/* A section's records by the groups both policies order: CNAME, A/AAAA,
 * MX, everything else (indexes into r->rr, in record order). */
typedef struct groups {
	uint16_t cname[HFI_RESP_MAX_RR], addr[HFI_RESP_MAX_RR], mx[HFI_RESP_MAX_RR],
		rest[HFI_RESP_MAX_RR];
	size_t nc, na, nm, nr;
} groups_t;

static void group_section(const hfi_resp_t *r, uint8_t sec, groups_t *g)
{
	g->nc = g->na = g->nm = g->nr = 0;
	for (uint16_t i = 0; i < r->nrr; i++) {
		if (r->rr[i].section != sec)
			continue;
		uint16_t ty = r->rr[i].type;
		if (ty == HFI_T_CNAME)
			g->cname[g->nc++] = i;
		else if (ty == HFI_T_A || ty == HFI_T_AAAA)
			g->addr[g->na++] = i;
		else if (ty == HFI_T_MX)
			g->mx[g->nm++] = i;
		else
			g->rest[g->nr++] = i;
	}
}

static void weighted_section(hf_worker_t *w, const struct hfi_lb_weights *t, hfi_resp_t *r,
			     uint8_t sec)
{
	groups_t g;
	group_section(r, sec, &g);
	uint16_t *cname = g.cname, *addr = g.addr, *mx = g.mx, *rest = g.rest;
	size_t nc = g.nc, na = g.na, nm = g.nm, nr = g.nr;
	if (na == 0)
		return;
	/* weights, then the draw over addresses sorted by weight (descending) */
	uint8_t wt[HFI_RESP_MAX_RR];
	for (size_t i = 0; i < na; i++) {
		uint8_t a[16], owner[HFI_DNAME_MAX + 1];
		int fam = rr_addr(&r->rr[addr[i]], a);
		rr_owner(&r->rr[addr[i]], owner);
		wt[i] = (uint8_t)hfi_lb_weight_of(t, owner, fam, a);
	}
	size_t top = draw(w, wt, na);
	uint16_t tmp = addr[0];
	addr[0] = addr[top];
	addr[top] = tmp;
	uint16_t ord[HFI_RESP_MAX_RR];
	size_t k = 0;
	memcpy(ord + k, cname, nc * 2);
	k += nc;
	memcpy(ord + k, rest, nr * 2);
	k += nr;
	memcpy(ord + k, addr, na * 2);
	k += na;
	memcpy(ord + k, mx, nm * 2);
	k += nm;
	place(r, sec, ord, k);
}

void hfi_lb_weighted(hf_worker_t *w, size_t bi, hfi_resp_t *resp)
{
	uint16_t qt = w->q.qtype;
	if (qt != HFI_T_A && qt != HFI_T_AAAA && qt != HFI_T_SRV)
		return;
	const struct hfi_lb_weights *t = atomic_load(&w->e->plug->blocks[bi].lbw);
	weighted_section(w, t, resp, HFI_SEC_ANSWER);
	weighted_section(w, t, resp, HFI_SEC_ADDITIONAL);
}

static void prefer_section(const hfi_plug_block_t *pb, hfi_resp_t *r, uint8_t sec)
{
	groups_t g;
	group_section(r, sec, &g);
	uint16_t *cname = g.cname, *addr = g.addr, *mx = g.mx, *rest = g.rest;
	size_t nc = g.nc, na = g.na, nm = g.nm, nr = g.nr;
	if (nc + na + nm + nr == 0)
		return;
	uint16_t ord[HFI_RESP_MAX_RR];
	uint8_t seen[HFI_RESP_MAX_RR];
	memset(seen, 0, na);
	size_t k = 0;
	memcpy(ord, cname, nc * 2);
	k = nc;
	for (size_t s = 0; s < pb->nprefer; s++) {
		for (size_t i = 0; i < na; i++) {
			uint8_t a[16];
			int fam = rr_addr(&r->rr[addr[i]], a);
			if (!seen[i] && fam != 0 && in_cidr(&pb->prefer[s], fam, a)) {
				ord[k++] = addr[i];
				seen[i] = 1;
			}
		}
	}
	for (size_t i = 0; i < na; i++)
		if (!seen[i])
			ord[k++] = addr[i];
	memcpy(ord + k, mx, nm * 2);
	k += nm;
	memcpy(ord + k, rest, nr * 2);
	k += nr;
	place(r, sec, ord, k);
}

void hfi_lb_prefer(const hfi_plug_block_t *pb, hfi_resp_t *resp)
{
	if (pb->nprefer == 0)
		return;
	prefer_section(pb, resp, HFI_SEC_ANSWER);
	prefer_section(pb, resp, HFI_SEC_ADDITIONAL);
}

/* ---- wire replies ---- */

typedef struct wrec {
	size_t off, len;
	int family;
	const uint8_t *addr;
} wrec_t;

/* Answer records of m when every one is A/AAAA with a pointer owner
 * (compressed to an earlier name); count or -1. */
static int wire_records(const uint8_t *m, size_t len, wrec_t *rec, int max, size_t *start,
			size_t *end)
{
	if (len < 12)
		return -1;
	unsigned qd = (unsigned)(m[4] << 8 | m[5]), an = (unsigned)(m[6] << 8 | m[7]);
	if (qd != 1 || an == 0 || an > (unsigned)max)
		return -1;
	size_t off = 12;
	while (off < len && m[off] != 0 && (m[off] & 0xc0) == 0)
		off += 1 + (size_t)m[off];
	if (off >= len)
		return -1;
	off += (m[off] & 0xc0) == 0xc0 ? 2 : 1;
	off += 4;
	*start = off;
	for (unsigned i = 0; i < an; i++) {
		if (off + 12 > len || (m[off] & 0xc0) != 0xc0)
			return -1;
		uint16_t type = (uint16_t)(m[off + 2] << 8 | m[off + 3]);
		uint16_t rdl = (uint16_t)(m[off + 10] << 8 | m[off + 11]);
		if (!((type == HFI_T_A && rdl == 4) || (type == HFI_T_AAAA && rdl == 16)))
			return -1;
		if (off + 12 + rdl > len)
			return -1;
		rec[i].off = off;
		rec[i].len = 12 + (size_t)rdl;
		rec[i].family = type == HFI_T_A ? 4 : 6;
		rec[i].addr = m + off + 12;
		off += 12 + rdl;
	}
	*end = off;
	return (int)an;
}

static void wire_place(uint8_t *m, size_t start, size_t end, const wrec_t *rec, const int *ord,
		       int n)
{
	uint8_t tmp[256 * 28];
	size_t k = 0;
	if (end - start > sizeof(tmp))
		return;
	for (int i = 0; i < n; i++) {
		memcpy(tmp + k, m + rec[ord[i]].off, rec[ord[i]].len);
		k += rec[ord[i]].len;
	}
	memcpy(m + start, tmp, k);
}

bool hfi_lb_weighted_wire(hf_worker_t *w, size_t bi, uint8_t *m, size_t len)
{
	uint16_t qt = w->q.qtype;
	if (qt != HFI_T_A && qt != HFI_T_AAAA && qt != HFI_T_SRV)
		return true;
	wrec_t rec[256];
	size_t start, end;
	int n = wire_records(m, len, rec, 256, &start, &end);
	if (n < 0)
		return false;
	const struct hfi_lb_weights *t = atomic_load(&w->e->plug->blocks[bi].lbw);
	uint8_t wt[256] = {0};
	for (int i = 0; i < n; i++) {
		uint8_t a[16] = {0};
		memcpy(a, rec[i].addr, rec[i].family == 4 ? 4 : 16);
		wt[i] = (uint8_t)hfi_lb_weight_of(t, w->q.lname, rec[i].family, a);
	}
	int top = (int)draw(w, wt, (size_t)n);
	int ord[256];
	for (int i = 0; i < n; i++)
		ord[i] = i;
	ord[0] = top;
	ord[top] = 0;
	wire_place(m, start, end, rec, ord, n);
	return true;
}

bool hfi_lb_prefer_wire(const hfi_plug_block_t *pb, uint8_t *m, size_t len)
{
	if (pb->nprefer == 0)
		return true;
	wrec_t rec[256];
	size_t start, end;
	int n = wire_records(m, len, rec, 256, &start, &end);
	if (n < 0)
		return false;
	int ord[256], k = 0;
	uint8_t seen[256] = {0};
	for (size_t s = 0; s < pb->nprefer; s++)
		for (int i = 0; i < n; i++) {
			uint8_t a[16] = {0};
			memcpy(a, rec[i].addr, rec[i].family == 4 ? 4 : 16);
			if (!seen[i] && in_cidr(&pb->prefer[s], rec[i].family, a)) {
				ord[k++] = i;
				seen[i] = 1;
			}
		}
	for (int i = 0; i < n; i++)
		if (!seen[i])
			ord[k++] = i;
	wire_place(m, start, end, rec, ord, n);
	return true;
}
