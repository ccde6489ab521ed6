/*
 * config_keys.h: server-block keys and zone arguments (spec 1.5):
 * [scheme://]zone[:port], miekg/dns IsDomainName, CoreDNS's
 * plugin.SplitHostPort with CIDR -> reverse-zone expansion on octet
 * (IPv4) or nibble (IPv6) boundaries, Host.NormalizeExact.
 */
#ifndef HF_CONFIG_KEYS_H
#define HF_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* parse.Transport: scheme prefix; *rest points after "scheme://". */
enum hfi_scheme hfi_key_transport(const char *s, const char **rest);
const char *hfi_scheme_name(enum hfi_scheme s);
uint16_t hfi_scheme_default_port(enum hfi_scheme s);

/* miekg/dns IsDomainName(s) ok-result; dns.Fqdn. */
bool hfi_is_domain_name(const char *s);
bool hfi_is_fqdn(const char *s);

/*
 * CoreDNS plugin.SplitHostPort(s): s without scheme.  Appends the host(s)
 * (reverse zones for CIDRs, as CoreDNS returns them) to hosts; *port is -1
 * when s has none.  Returns HF_EOK, HF_ENOMEM, or HF_ECONFIG with CoreDNS's
 * message in msg ("zone is not a valid domain name: x", ...).
 */
int hfi_split_host_port(const hf_mm_t *mm, const char *s, hfi_strv_t *hosts,
			long long *port, char *msg, size_t msglen);

/* strings.ToLower(dns.Fqdn(s)) as a new string. */
char *hfi_zone_normalize(const hf_mm_t *mm, const char *s);

/* Host(s).NormalizeExact() appended to out: number appended (0 when s is
 * not valid) or HF_ENOMEM. */
int hfi_normalize_exact(const hf_mm_t *mm, const char *s, hfi_strv_t *out);

/*
 * One server-block key -> keys (CIDRs expanded), appended to *keys.
 * default_port applies to dns:// keys without a port (0 = 53).
 * Errors as hfi_split_host_port (message without the "error inspecting
 * server blocks: " prefix).
 */
int hfi_key_parse(const hf_mm_t *mm, const char *key, int default_port,
		  hfi_key_t **keys, size_t *n, size_t *cap, char *msg, size_t msglen);

/* dnsutil.IsReverse(zone) > 0 (suffix ".in-addr.arpa." / ".ip6.arpa."). */
bool hfi_zone_is_reverse(const char *zone);

#endif
