/*
 * config_keys.c: server-block keys and zone arguments, after CoreDNS's
 * plugin/pkg/parse/transport.go, plugin/normalize.go (SplitHostPort,
 * NormalizeExact), plugin/pkg/cidr and miekg/dns IsDomainName (spec 1.5):
 * scheme prefix, port after the last colon, zone validation, and CIDR keys
 * expanded to the reverse zones of the next octet/nibble boundary.
 */
#include "config_keys.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"
#include "holdfast.h"

static const struct {
	const char *prefix;
	enum hfi_scheme scheme;
} schemes[] = {
	{"tls://", HFI_SCHEME_TLS},     {"dns://", HFI_SCHEME_DNS},
	{"quic://", HFI_SCHEME_QUIC},   {"grpc://", HFI_SCHEME_GRPC},
	{"https://", HFI_SCHEME_HTTPS}, {"https3://", HFI_SCHEME_HTTPS3},
};

enum hfi_scheme hfi_key_transport(const char *s, const char **rest)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t l = strlen(schemes[i].prefix);
		if (strncmp(s, schemes[i].prefix, l) == 0) {
			*rest = s + l;
			return schemes[i].scheme;
		}
	}
	*rest = s;
	return HFI_SCHEME_DNS;
}

const char *hfi_scheme_name(enum hfi_scheme s)
{
	switch (s) {
	case HFI_SCHEME_TLS: return "tls";
	case HFI_SCHEME_QUIC: return "quic";
	case HFI_SCHEME_GRPC: return "grpc";
	case HFI_SCHEME_HTTPS: return "https";
	case HFI_SCHEME_HTTPS3: return "https3";
	default: return "dns";
	}
}

uint16_t hfi_scheme_default_port(enum hfi_scheme s)
{
	switch (s) {
	case HFI_SCHEME_TLS:
	case HFI_SCHEME_QUIC:
		return 853;
	case HFI_SCHEME_GRPC:
	case HFI_SCHEME_HTTPS:
	case HFI_SCHEME_HTTPS3:
		return 443;
	default:
		return 53;
	}
}

bool hfi_is_fqdn(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || s[n - 1] != '.')
		return false;
	size_t t = 0;
	for (size_t i = n - 1; i > 0 && s[i - 1] == '\\'; i--)
		t++;
	return t % 2 == 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool hfi_is_domain_name(const char *s0)
{
	size_t n0 = strlen(s0);
	if (n0 == 0)
		return false;
	long n = (long)n0 + (hfi_is_fqdn(s0) ? 0 : 1);
#define AT(i) ((size_t)(i) < n0 ? s0[(i)] : '.')
	long off = 0, begin = 0;
	bool was_dot = false;
	for (long i = 0; i < n; i++) {
		char c = AT(i);
		if (c == '\\') {
			if (off + 1 > 256)
				return false;
			if (i + 3 < n && is_digit(AT(i + 1)) && is_digit(AT(i + 2)) &&
			    is_digit(AT(i + 3))) {
				i += 3;
				begin += 3;
			} else {
				i++;
				begin++;
			}
			was_dot = false;
		} else if (c == '.') {
			if (i == 0 && n > 1)
				return false;
			if (was_dot)
				return false;
			was_dot = true;
			long label = i - begin;
			if (label >= 64)
				return false;
			off += 1 + label;
			if (off > 256)
				return false;
			begin = i + 1;
		} else {
			was_dot = false;
		}
	}
#undef AT
	return true;
}

char *hfi_zone_normalize(const hf_mm_t *mm, const char *s)
{
	size_t n = strlen(s);
	bool fq = hfi_is_fqdn(s);
	char *z = hfi_mm_alloc(mm, n + 2);
	if (z == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		z[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	if (!fq)
		z[n++] = '.';
	z[n] = '\0';
	return z;
}

bool hfi_zone_is_reverse(const char *zone)
{
	static const char *sfx[] = {".in-addr.arpa.", ".ip6.arpa."};
	size_t n = strlen(zone);
	for (int i = 0; i < 2; i++) {
		size_t l = strlen(sfx[i]);
		if (n >= l && strcmp(zone + n - l, sfx[i]) == 0)
			return true;
	}
	return false;
}

/* net.ParseCIDR: masked network address, family and prefix length. */
static bool parse_cidr(const char *s, uint8_t ip[16], bool *v4, int *ones)
{
	const char *slash = strchr(s, '/');
	if (slash == NULL || slash - s >= 64)
		return false;
	char addr[64];
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	const char *m = slash + 1;
	long bits = 0;
	size_t i = 0;
	for (; is_digit(m[i]); i++) {
		bits = bits * 10 + (m[i] - '0');
		if (bits >= 0xFFFFFF)
			return false;
	}
	if (i == 0 || m[i] != '\0')
		return false;
	memset(ip, 0, 16);
	if (inet_pton(AF_INET, addr, ip) == 1) {
		*v4 = true;
	} else if (inet_pton(AF_INET6, addr, ip) == 1) {
		*v4 = false;
	} else {
		return false;
	}
	int max = *v4 ? 32 : 128;
	if (bits > max)
		return false;
	*ones = (int)bits;
	for (int b = (int)bits; b < max; b++)
		ip[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	return true;
}

/* Reverse zone of the first mask bits of ip (mask on a label boundary). */
static void reverse_zone(const uint8_t ip[16], bool v4, int mask, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t w = 0;
	out[0] = '\0';
	if (v4) {
		for (int o = mask / 8 - 1; o >= 0; o--)
			w += (size_t)snprintf(out + w, len - w, "%u.", ip[o]);
		snprintf(out + w, len - w, "in-addr.arpa.");
	} else {
		for (int nib = mask / 4 - 1; nib >= 0; nib--) {
			uint8_t b = ip[nib / 2];
			out[w++] = hex[nib % 2 == 0 ? b >> 4 : b & 0xF];
			out[w++] = '.';
		}
		snprintf(out + w, len - w, "ip6.arpa.");
	}
}

/* cidr.Split + cidr.Reverse */
static int cidr_zones(const hf_mm_t *mm, const uint8_t base[16], bool v4, int ones,
		      hfi_strv_t *out)
{
	int boundary = v4 ? 8 : 4;
	int mask = (ones + boundary - 1) / boundary * boundary;
	unsigned count = 1u << (mask - ones);
	for (unsigned i = 0; i < count; i++) {
		uint8_t ip[16];
		memcpy(ip, base, 16);
		for (int k = 0; k < mask - ones; k++) {
			if (!((i >> k) & 1))
				continue;
			int pos = mask - 1 - k;
			ip[pos / 8] |= (uint8_t)(0x80u >> (pos % 8));
		}
		char z[128];
		reverse_zone(ip, v4, mask, z, sizeof(z));
		if (hfi_strv_push(mm, out, z) != HF_EOK)
			return HF_ENOMEM;
	}
	return HF_EOK;
}

int hfi_split_host_port(const hf_mm_t *mm, const char *s, hfi_strv_t *hosts,
			long long *port, char *msg, size_t msglen)
{
	*port = -1;
	size_t n = strlen(s), hl = n;
	const char *colon = strrchr(s, ':');
	if (colon != NULL && colon == s + n - 1) {
		char q[600];
		hfi_go_quote(s, q, sizeof(q));
		hfi_cf_fmt(msg, msglen, "expecting data after last colon: %s", q);
		return HF_ECONFIG;
	}
	if (colon != NULL) {
		long long p;
		if (hfi_go_atoi(colon + 1, &p, NULL, 0)) {
			*port = p;
			hl = (size_t)(colon - s);
		}
	}
	if (hl > 255) {
		hfi_cf_fmt(msg, msglen, "specified zone is too long: %zu > 255", hl);
		return HF_ECONFIG;
	}
	char host[256];
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!hfi_is_domain_name(host)) {
		hfi_cf_fmt(msg, msglen, "zone is not a valid domain name: %s", host);
		return HF_ECONFIG;
	}
	uint8_t ip[16];
	bool v4;
	int ones;
	if (!parse_cidr(host, ip, &v4, &ones))
		return hfi_strv_push(mm, hosts, host);
	if (host[0] == ':' || (host[0] == '0' && strchr(host, ':') != NULL)) {
		hfi_cf_fmt(msg, msglen, "invalid CIDR %s", host);
		return HF_ECONFIG;
	}
	return cidr_zones(mm, ip, v4, ones, hosts);
}

int hfi_normalize_exact(const hf_mm_t *mm, const char *s, hfi_strv_t *out)
{
	const char *rest;
	hfi_key_transport(s, &rest);
	hfi_strv_t hosts = {0};
	long long port;
	char msg[8];
	int ret = hfi_split_host_port(mm, rest, &hosts, &port, msg, sizeof(msg));
	if (ret == HF_ECONFIG) {
		hfi_strv_free(mm, &hosts);
		return 0;
	}
	if (ret != HF_EOK) {
		hfi_strv_free(mm, &hosts);
		return HF_ENOMEM;
	}
	int cnt = 0;
	for (size_t i = 0; i < hosts.n; i++) {
		char *z = hfi_zone_normalize(mm, hosts.v[i]);
		if (z == NULL || hfi_strv_push(mm, out, z) != HF_EOK) {
			hfi_mm_free(mm, z);
			hfi_strv_free(mm, &hosts);
			return HF_ENOMEM;
		}
		hfi_mm_free(mm, z);
		cnt++;
	}
	hfi_strv_free(mm, &hosts);
	return cnt;
}

/* dns.Fqdn as a new string */
static char *fqdn(const hf_mm_t *mm, const char *s)
{
	size_t n = strlen(s);
	bool fq = hfi_is_fqdn(s);
	char *z = hfi_mm_alloc(mm, n + 2);
	if (z == NULL)
		return NULL;
	memcpy(z, s, n);
	if (!fq)
		z[n++] = '.';
	z[n] = '\0';
	return z;
}

int hfi_key_parse(const hf_mm_t *mm, const char *key, int default_port,
		  hfi_key_t **keys, size_t *n, size_t *cap, char *msg, size_t msglen)
{
	const char *rest;
	enum hfi_scheme sc = hfi_key_transport(key, &rest);
	hfi_strv_t hosts = {0};
	long long port;
	int ret = hfi_split_host_port(mm, rest, &hosts, &port, msg, msglen);
	if (ret != HF_EOK)
		goto out;
	/* register.go re-checks each host fully qualified */
	for (size_t i = 0; i < hosts.n; i++) {
		char *f = fqdn(mm, hosts.v[i]);
		if (f == NULL) {
			ret = HF_ENOMEM;
			goto out;
		}
		hfi_strv_t tmp = {0};
		long long p2;
		ret = hfi_split_host_port(mm, f, &tmp, &p2, msg, msglen);
		hfi_mm_free(mm, f);
		hfi_strv_free(mm, &tmp);
		if (ret != HF_EOK)
			goto out;
	}
	if (port < 0) {
		if (sc == HFI_SCHEME_DNS && default_port > 0)
			port = default_port;
		else
			port = hfi_scheme_default_port(sc);
	}
	if (port < 1 || port > 65535) {
		hfi_cf_fmt(msg, msglen, "invalid port %lld in server block key '%s'", port, key);
		ret = HF_ERANGE;
		goto out;
	}
	for (size_t i = 0; i < hosts.n; i++) {
		void *a = *keys;
		if (hfi_mm_grow(mm, &a, cap, *n + 1, sizeof(hfi_key_t)) != HF_EOK) {
			ret = HF_ENOMEM;
			goto out;
		}
		*keys = a;
		char *z = hfi_zone_normalize(mm, hosts.v[i]);
		if (z == NULL) {
			ret = HF_ENOMEM;
			goto out;
		}
		(*keys)[*n].zone = z;
		(*keys)[*n].port = (uint16_t)port;
		(*keys)[*n].scheme = sc;
		(*n)++;
	}
out:
	hfi_strv_free(mm, &hosts);
	return ret;
}
