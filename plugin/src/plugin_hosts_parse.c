/*
 * plugin_hosts_parse.c: the hosts plugin's table: /etc/hosts-format text
 * (file first, then the Corefile's inline lines) parsed as CoreDNS's
 * hostsfile.go does (comments from '#', fields split on whitespace, first
 * field an IP with any %zone dropped, every further field a name, names
 * lower-cased and fully qualified, names outside the plugin's zones
 * skipped), into an immutable table with sorted name and address indexes.
 * Built off the answer path; lookups are binary searches.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "ip_util.h"
#include "plugins.h"

typedef struct builder {
	hfi_hosts_ent_t *ents;
	size_t n, cap;
	uint8_t *names;
	size_t nlen, ncap;
	bool oom;
	const uint8_t *const *zones;
	size_t nzones;
	bool wild;
} builder_t;

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * size);
	if (np == NULL)
		return false;
	*p = np;
	*cap = nc;
	return true;
}

static bool in_zones(const builder_t *b, const uint8_t *name)
{
	for (size_t i = 0; i < b->nzones; i++)
		if (hfi_dname_in_zone(name, b->zones[i]))
			return true;
	return false;
}

/* Go net.ParseIP (after the %zone is cut): dotted quad without leading
 * zeros, or IPv6 text (inet_pton). IPv4-mapped v6 counts as IPv4. */
static int parse_ip(const char *s, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (strchr(s, ':') == NULL) {
		const char *p = s;
		for (int i = 0; i < 4; i++) {
			if (*p < '0' || *p > '9')
				return 0;
			unsigned v = 0;
			int digits = 0;
			const char *st = p;
			while (*p >= '0' && *p <= '9' && digits < 4) {
				v = v * 10 + (unsigned)(*p - '0');
				p++;
				digits++;
			}
			if (v > 255 || digits > 3 || (digits > 1 && *st == '0'))
				return 0;
			addr[i] = (uint8_t)v;
			if (i < 3) {
				if (*p != '.')
					return 0;
				p++;
			}
		}
		return *p == '\0' ? 4 : 0;
	}
	if (inet_pton(AF_INET6, s, addr) != 1)
		return 0;
	return hfi_ip6_unmap(addr);
}

static void add(builder_t *b, int family, const uint8_t addr[16], const char *name)
{
	char text[HFI_DNAME_MAX + 2];
	size_t l = strlen(name);
	if (l == 0 || l > HFI_DNAME_MAX)
		return;
	memcpy(text, name, l + 1);
	uint8_t wire[HFI_DNAME_MAX + 1];
	if (hfi_dname_from_str(text, wire, sizeof(wire)) < 0)
		return;
	hfi_dname_lower(wire, wire);
	if (!in_zones(b, wire))
		return;
	size_t wl = hfi_dname_len(wire);
	if (!grow((void **)&b->ents, &b->cap, b->n + 1, sizeof(*b->ents)) ||
	    !grow((void **)&b->names, &b->ncap, b->nlen + wl, 1) || b->nlen + wl > UINT32_MAX) {
		b->oom = true;
		return;
	}
	if (wire[0] == 1 && wire[1] == '*')
		b->wild = true;
	hfi_hosts_ent_t *e = &b->ents[b->n];
	e->name_off = (uint32_t)b->nlen;
	e->seq = (uint32_t)b->n;
	e->family = (uint8_t)family;
	memcpy(e->addr, addr, 16);
	memcpy(b->names + b->nlen, wire, wl);
	b->nlen += wl;
	b->n++;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One line (without its newline). */
static void parse_line(builder_t *b, const char *line, size_t len)
{
	const char *hash = memchr(line, '#', len);
	if (hash != NULL)
		len = (size_t)(hash - line);
	char field[512];
	size_t i = 0, nf = 0;
	int family = 0;
	uint8_t addr[16];
	while (i < len && !b->oom) {
		while (i < len && is_space(line[i]))
			i++;
		size_t st = i;
		while (i < len && !is_space(line[i]))
			i++;
		if (i == st)
			break;
		size_t fl = i - st;
		if (fl >= sizeof(field)) {
			if (nf == 0)
				return; /* not an address */
			nf++;
			continue;
		}
		memcpy(field, line + st, fl);
		field[fl] = '\0';
		if (nf == 0) {
			char *pct = strchr(field, '%');
			if (pct != NULL)
				*pct = '\0';
			family = parse_ip(field, addr);
			if (family == 0)
				return;
		} else {
			add(b, family, addr, field);
		}
		nf++;
	}
}

static void parse_text(builder_t *b, const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && !b->oom) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
		parse_line(b, text + i, l);
		i += l + 1;
	}
}

static const hfi_hosts_table_t *sort_t;

static int cmp_name(const void *a, const void *b)
{
	const hfi_hosts_ent_t *x = &sort_t->ents[*(const uint32_t *)a];
	const hfi_hosts_ent_t *y = &sort_t->ents[*(const uint32_t *)b];
	const uint8_t *nx = sort_t->names + x->name_off, *ny = sort_t->names + y->name_off;
	size_t lx = hfi_dname_len(nx), ly = hfi_dname_len(ny);
	int c = memcmp(nx, ny, lx < ly ? lx : ly);
	if (c == 0 && lx != ly)
		c = lx < ly ? -1 : 1;
	if (c == 0)
		c = x->seq < y->seq ? -1 : x->seq > y->seq;
	return c;
}

static int cmp_addr(const void *a, const void *b)
{
	const hfi_hosts_ent_t *x = &sort_t->ents[*(const uint32_t *)a];
	const hfi_hosts_ent_t *y = &sort_t->ents[*(const uint32_t *)b];
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	int c = memcmp(x->addr, y->addr, 16);
	if (c == 0)
		c = x->seq < y->seq ? -1 : x->seq > y->seq;
	return c;
}

/* qsort is not reentrant with a global: serialise builds (off the answer path). */
#include <pthread.h>
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

hfi_hosts_table_t *hfi_hosts_build(const char *text, size_t len, const hfi_strv_t *inline_lines,
				   const uint8_t *const *zones, size_t nzones, bool auto_reverse)
{
	builder_t b = {.zones = zones, .nzones = nzones};
	if (text != NULL)
		parse_text(&b, text, len);
	for (size_t i = 0; inline_lines != NULL && i < inline_lines->n && !b.oom; i++)
		parse_line(&b, inline_lines->v[i], strlen(inline_lines->v[i]));
	hfi_hosts_table_t *t = calloc(1, sizeof(*t));
	if (b.oom || t == NULL)
		goto fail;
	t->ents = b.ents;
	t->n = b.n;
	t->names = b.names;
	t->names_len = b.nlen;
	t->wildcards = b.wild;
	t->by_name = malloc((b.n ? b.n : 1) * sizeof(uint32_t));
	if (t->by_name == NULL)
		goto fail_t;
	for (size_t i = 0; i < b.n; i++)
		t->by_name[i] = (uint32_t)i;
	if (auto_reverse) {
		t->by_addr = malloc((b.n ? b.n : 1) * sizeof(uint32_t));
		if (t->by_addr == NULL)
			goto fail_t;
		for (size_t i = 0; i < b.n; i++)
			t->by_addr[i] = (uint32_t)i;
	}
	pthread_mutex_lock(&sort_lock);
	sort_t = t;
	qsort(t->by_name, b.n, sizeof(uint32_t), cmp_name);
	if (t->by_addr != NULL)
		qsort(t->by_addr, b.n, sizeof(uint32_t), cmp_addr);
	sort_t = NULL;
	pthread_mutex_unlock(&sort_lock);
	t->len_metric = b.n * (auto_reverse ? 2 : 1);
	return t;
fail_t:
	hfi_hosts_table_free(t);
	return NULL;
fail:
	free(t);
	free(b.ents);
	free(b.names);
	return NULL;
}

void hfi_hosts_table_free(hfi_hosts_table_t *t)
{
	if (t == NULL)
		return;
	free(t->ents);
	free(t->names);
	free(t->by_name);
	free(t->by_addr);
	free(t);
}

static int name_cmp(const hfi_hosts_table_t *t, uint32_t i, const uint8_t *key, size_t kl)
{
	const uint8_t *n = t->names + t->ents[i].name_off;
	size_t l = hfi_dname_len(n);
	int c = memcmp(n, key, l < kl ? l : kl);
	if (c == 0 && l != kl)
		c = l < kl ? -1 : 1;
	return c;
}

size_t hfi_hosts_find_name(const hfi_hosts_table_t *t, const uint8_t *lname, size_t *first)
{
	if (t == NULL || t->n == 0)
		return 0;
	size_t kl = hfi_dname_len(lname), lo = 0, hi = t->n;
	while (lo < hi) { /* first >= key */
		size_t mid = lo + (hi - lo) / 2;
		if (name_cmp(t, t->by_name[mid], lname, kl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < t->n && name_cmp(t, t->by_name[end], lname, kl) == 0)
		end++;
	*first = lo;
	return end - lo;
}

static int addr_cmp(const hfi_hosts_ent_t *e, int family, const uint8_t *addr)
{
	if (e->family != family)
		return e->family < family ? -1 : 1;
	return memcmp(e->addr, addr, 16);
}

size_t hfi_hosts_find_addr(const hfi_hosts_table_t *t, int family, const uint8_t *addr,
			   size_t *first)
{
	if (t == NULL || t->by_addr == NULL || t->n == 0)
		return 0;
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr_cmp(&t->ents[t->by_addr[mid]], family, addr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < t->n && addr_cmp(&t->ents[t->by_addr[end]], family, addr) == 0)
		end++;
	*first = lo;
	return end - lo;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hfi_hosts_reverse_addr(const uint8_t *name, uint8_t addr[16])
{
	static const uint8_t v4s[] = "\x07in-addr\x04" "arpa";
	static const uint8_t v6s[] = "\x03ip6\x04" "arpa";
	int labels = hfi_dname_labels(name);
	memset(addr, 0, 16);
	if (labels == 6 && hfi_dname_eq(hfi_dname_suffix(name, 2), v4s)) {
		const uint8_t *p = name;
		for (int i = 3; i >= 0; i--) {
			uint8_t l = *p++;
			if (l == 0 || l > 3 || (l > 1 && p[0] == '0'))
				return 0;
			unsigned v = 0;
			for (uint8_t k = 0; k < l; k++) {
				if (p[k] < '0' || p[k] > '9')
					return 0;
				v = v * 10 + (unsigned)(p[k] - '0');
			}
			if (v > 255)
				return 0;
			addr[i] = (uint8_t)v;
			p += l;
		}
		return 4;
	}
	if (labels == 34 && hfi_dname_eq(hfi_dname_suffix(name, 2), v6s)) {
		const uint8_t *p = name;
		for (int i = 31; i >= 0; i--) {
			if (p[0] != 1)
				return 0;
			int v = hexval(p[1]);
			if (v < 0)
				return 0;
			addr[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
			p += 2;
		}
		return hfi_ip6_unmap(addr);
	}
	return 0;
}
