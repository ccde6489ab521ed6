/*
 * config_forward.c: setup of the forward plugin (spec 6, CoreDNS
 * plugin/forward/setup.go and plugin/pkg/parse/host.go):
 * `forward FROM TO... { options }`, several forward lines per block in
 * Corefile order, TOs as IP[:port], dns:// or tls:// (kept), or a
 * resolv.conf-style file whose nameservers are read at load time; at most
 * 15 upstreams; every option of the spec table validated.
 */
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_keys.h"
#include "holdfast.h"
#include "log.h"

#define MAX_UPSTREAMS 15
#define MAX_TO_ARGS 4096       /* bound on work before the count check */
#define MAX_RESOLV_BYTES (1u << 20)

void hfi_free_forward(const hf_mm_t *mm, void *p)
{
	hfi_cfg_forward_t *f = p;
	if (f == NULL)
		return;
	hfi_mm_free(mm, f->from);
	hfi_strv_free(mm, &f->to);
	hfi_strv_free(mm, &f->except);
	hfi_strv_free(mm, &f->failover);
	hfi_strv_free(mm, &f->next);
	hfi_mm_free(mm, f->tls_servername);
	hfi_mm_free(mm, f->hc_domain);
	hfi_mm_free(mm, f->tls_cert);
	hfi_mm_free(mm, f->tls_key);
	hfi_mm_free(mm, f->tls_ca);
	hfi_mm_free(mm, f->source_address);
	hfi_strv_free(mm, &f->resolver);
	hfi_mm_free(mm, f);
}

static const hf_mm_t *MM(hfi_disp_t *d)
{
	return d->ld->mm;
}

/* net.ParseIP(stripZone(s)) */
static bool is_ip_nozone(const char *s, size_t len)
{
	char b[128];
	const char *pct = memchr(s, '%', len);
	size_t l = pct ? (size_t)(pct - s) : len;
	if (l >= sizeof(b))
		return false;
	memcpy(b, s, l);
	b[l] = '\0';
	uint8_t ip[16];
	bool v4;
	return hfi_cf_ip_parse(b, ip, &v4);
}

static bool valid_port(const char *p)
{
	unsigned long long v;
	return hfi_go_parse_uint(p, 16, &v, NULL, 0) && v > 0;
}

static int push_unique(hfi_disp_t *d, hfi_strv_t *v, const char *s)
{
	if (hfi_strv_has(v, s))
		return HF_EOK;
	return hfi_strv_push(MM(d), v, s) == HF_EOK ? HF_EOK : hfi_d_oom(d);
}

/* tryFile: nameservers of a resolv.conf-style file; HF_ENOENT if unreadable. */
static int try_file(hfi_disp_t *d, const char *path, hfi_strv_t *out)
{
	char *buf = NULL, why[256];
	size_t len = 0;
	int ret = hfi_read_file(MM(d), path, MAX_RESOLV_BYTES, &buf, &len, why, sizeof(why));
	if (ret == HF_ENOMEM)
		return hfi_d_oom(d);
	if (ret != HF_EOK)
		return HF_ENOENT;
	size_t found = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line != NULL && ret == HF_EOK;
	     line = strtok_r(NULL, "\n", &save)) {
		char *s2 = NULL;
		char *f0 = strtok_r(line, " \t\r\v\f", &s2);
		if (f0 == NULL || strcmp(f0, "nameserver") != 0)
			continue;
		char *f1 = strtok_r(NULL, " \t\r\v\f", &s2);
		if (f1 == NULL)
			continue;
		if (!is_ip_nozone(f1, strlen(f1))) {
			hfi_log(HFI_LOG_WARNING, "forward", "skipping nameserver '%s' in %s: not an IP address",
				f1, path);
			continue;
		}
		char hp[200];
		hfi_cf_fmt(hp, sizeof(hp), strchr(f1, ':') ? "[%s]:53" : "%s:53", f1);
		ret = hfi_strv_push(MM(d), out, hp) == HF_EOK ? HF_EOK : hfi_d_oom(d);
		found++;
	}
	hfi_mm_free(MM(d), buf);
	if (ret == HF_EOK && found == 0)
		hfi_log(HFI_LOG_WARNING, "forward", "no nameservers found in %s", path);
	return ret;
}

/* parse.HostPortOrFile for one TO + the allowed-transport check. */
static int add_to(hfi_disp_t *d, hfi_cfg_forward_t *f, const char *h)
{
	const char *host;
	enum hfi_scheme sc = hfi_key_transport(h, &host);
	char q[600], hp[700];
	hfi_go_quote(h, q, sizeof(q));
	if (host[0] == '\0')
		return hfi_d_plainf(d, "invalid address: %s", q);
	size_t hs, hl, ps;
	bool split = hfi_go_split_host_port(host, &hs, &hl, &ps, NULL, 0);
	bool ip = split ? is_ip_nozone(host + hs, hl) : is_ip_nozone(host, strlen(host));
	if (!ip) {
		int ret = try_file(d, host, &f->to);
		if (ret == HF_ENOENT) {
			hfi_go_quote(host, q, sizeof(q));
			return hfi_d_plainf(d, "not an IP address or file: %s", q);
		}
		return ret;
	}
	if (sc != HFI_SCHEME_DNS && sc != HFI_SCHEME_TLS) {
		char full[700];
		hfi_cf_fmt(full, sizeof(full), "%s://%s", hfi_scheme_name(sc), host);
		return hfi_d_plainf(d, "'%s' is not supported as a destination protocol in forward: %s",
				    hfi_scheme_name(sc), full);
	}
	const char *pre = sc == HFI_SCHEME_TLS ? "tls://" : "";
	if (!split) {
		const char *port = sc == HFI_SCHEME_TLS ? "853" : "53";
		hfi_cf_fmt(hp, sizeof(hp), strchr(host, ':') ? "%s[%s]:%s" : "%s%s:%s", pre, host,
			   port);
	} else {
		if (!valid_port(host + ps)) {
			hfi_go_quote(host, q, sizeof(q));
			return hfi_d_plainf(d, "invalid port in upstream address %s", q);
		}
		hfi_cf_fmt(hp, sizeof(hp), "%s%s", pre, host);
	}
	return hfi_strv_push(MM(d), &f->to, hp) == HF_EOK ? HF_EOK : hfi_d_oom(d);
}

static int dur_opt(hfi_disp_t *d, const char *name, uint32_t *ms, bool allow_zero)
{
	if (!hfi_d_next_arg(d))
		return hfi_d_argerr(d);
	int64_t ns;
	char msg[600];
	if (!hfi_go_duration(hfi_d_val(d), &ns, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	if (ns < 0 || (!allow_zero && ns == 0)) {
		char ds[64];
		hfi_go_duration_str(ns, ds, sizeof(ds));
		return hfi_d_plainf(d, "%s can't be %s: %s", name, ns < 0 ? "negative" : "zero", ds);
	}
	*ms = hfi_ns_to_ms(ns);
	if (*ms == 0 && ns > 0)
		*ms = 1;
	return HF_EOK;
}

static int int_opt(hfi_disp_t *d, const char *name, int *out)
{
	if (!hfi_d_next_arg(d))
		return hfi_d_argerr(d);
	long long v;
	char msg[600];
	if (!hfi_go_atoi(hfi_d_val(d), &v, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	if (v < 0)
		return hfi_d_plainf(d, "%s can't be negative: %lld", name, v);
	*out = v > 0x7fffffff ? 0x7fffffff : (int)v;
	return HF_EOK;
}

static int uint_opt(hfi_disp_t *d, int *out)
{
	if (!hfi_d_next_arg(d))
		return hfi_d_argerr(d);
	unsigned long long v;
	char msg[600];
	if (!hfi_go_parse_uint(hfi_d_val(d), 32, &v, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	*out = v > 0x7fffffff ? 0x7fffffff : (int)v;
	return HF_EOK;
}

static bool no_more_args(hfi_disp_t *d)
{
	return !hfi_d_next_arg(d);
}

static const char *const rcodes[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "BADSIG", "BADVERS", "BADKEY",
	"BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
};

static int rcode_list(hfi_disp_t *d, hfi_strv_t *out, bool failover)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n == 0)
		return hfi_d_argerr(d);
	for (size_t i = 0; i < n; i++) {
		const char *a = hfi_d_arg(d, st, i);
		char up[32];
		size_t l = strlen(a);
		bool ok = false;
		if (l < sizeof(up)) {
			for (size_t k = 0; k <= l; k++)
				up[k] = (a[k] >= 'a' && a[k] <= 'z') ? (char)(a[k] - 'a' + 'A') : a[k];
			for (size_t k = 0; k < sizeof(rcodes) / sizeof(rcodes[0]); k++)
				ok |= strcmp(up, rcodes[k]) == 0;
		}
		if (!ok)
			return hfi_d_plainf(d, "%s is not a valid rcode", a);
		if (failover && strcmp(up, "NOERROR") == 0)
			return hfi_d_plainf(d, "NoError cannot be used in failover");
		int ret = push_unique(d, out, up);
		if (ret != HF_EOK)
			return ret;
	}
	return HF_EOK;
}

static int tls_opt(hfi_disp_t *d, hfi_cfg_forward_t *f)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n > 3)
		return hfi_d_argerr(d);
	f->tls = true;
	const char *cert = NULL, *key = NULL, *ca = NULL;
	if (n == 1) {
		ca = hfi_d_arg(d, st, 0);
	} else if (n >= 2) {
		cert = hfi_d_arg(d, st, 0);
		key = hfi_d_arg(d, st, 1);
		if (n == 3)
			ca = hfi_d_arg(d, st, 2);
	}
	if (hfi_str_set(MM(d), &f->tls_cert, cert) != HF_EOK ||
	    hfi_str_set(MM(d), &f->tls_key, key) != HF_EOK ||
	    hfi_str_set(MM(d), &f->tls_ca, ca) != HF_EOK)
		return hfi_d_oom(d);
	return HF_EOK;
}

static int health_check(hfi_disp_t *d, hfi_cfg_forward_t *f)
{
	if (!hfi_d_next_arg(d))
		return hfi_d_argerr(d);
	int64_t ns;
	char msg[600];
	if (!hfi_go_duration(hfi_d_val(d), &ns, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	if (ns < 0)
		return hfi_d_plainf(d, "health_check can't be negative: %lld", (long long)ns);
	f->health_check_ms = hfi_ns_to_ms(ns);
	if (ns > 0 && f->health_check_ms == 0)
		f->health_check_ms = 1;
	if (hfi_str_set(MM(d), &f->hc_domain, ".") != HF_EOK)
		return hfi_d_oom(d);
	while (hfi_d_next_arg(d)) {
		const char *o = hfi_d_val(d);
		if (strcmp(o, "no_rec") == 0) {
			f->hc_no_rec = true;
		} else if (strcmp(o, "domain") == 0) {
			if (!hfi_d_next_arg(d))
				return hfi_d_argerr(d);
			const char *dom = hfi_d_val(d);
			if (!hfi_is_domain_name(dom))
				return hfi_d_plainf(d, "health_check: invalid domain name %s", dom);
			char *z = hfi_zone_normalize(MM(d), dom);
			if (z == NULL)
				return hfi_d_oom(d);
			hfi_mm_free(MM(d), f->hc_domain);
			f->hc_domain = z;
		} else {
			return hfi_d_plainf(d, "health_check: unknown option %s", o);
		}
	}
	return HF_EOK;
}

static int option(hfi_disp_t *d, hfi_cfg_forward_t *f, bool *mca_set)
{
	const char *v = hfi_d_val(d);
	size_t st, n;
	if (strcmp(v, "except") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n == 0)
			return hfi_d_argerr(d);
		for (size_t i = 0; i < n; i++)
			if (hfi_normalize_exact(MM(d), hfi_d_arg(d, st, i), &f->except) < 0)
				return hfi_d_oom(d);
		return HF_EOK;
	}
	if (strcmp(v, "max_fails") == 0)
		return uint_opt(d, &f->max_fails);
	if (strcmp(v, "max_connect_attempts") == 0) {
		*mca_set = true;
		return uint_opt(d, &f->max_connect_attempts);
	}
	if (strcmp(v, "health_check") == 0)
		return health_check(d, f);
	if (strcmp(v, "force_tcp") == 0 || strcmp(v, "prefer_udp") == 0 ||
	    strcmp(v, "failfast_all_unhealthy_upstreams") == 0 ||
	    strcmp(v, "next_on_nodata") == 0) {
		if (!no_more_args(d))
			return hfi_d_argerr(d);
		if (v[0] == 'f' && v[1] == 'o')
			f->force_tcp = true;
		else if (v[0] == 'p')
			f->prefer_udp = true;
		else if (v[0] == 'f')
			f->failfast_all_unhealthy_upstreams = true;
		else
			f->next_on_nodata = true;
		return HF_EOK;
	}
	if (strcmp(v, "tls") == 0)
		return tls_opt(d, f);
	if (strcmp(v, "tls_servername") == 0) {
		if (!hfi_d_next_arg(d))
			return hfi_d_argerr(d);
		return hfi_str_set(MM(d), &f->tls_servername, hfi_d_val(d)) == HF_EOK ? HF_EOK
										     : hfi_d_oom(d);
	}
	if (strcmp(v, "expire") == 0)
		return dur_opt(d, "expire", &f->expire_ms, true);
	if (strcmp(v, "max_age") == 0)
		return dur_opt(d, "max_age", &f->max_age_ms, true);
	if (strcmp(v, "read_timeout") == 0)
		return dur_opt(d, "read_timeout", &f->read_timeout_ms, false);
	if (strcmp(v, "max_idle_conns") == 0)
		return int_opt(d, "max_idle_conns", &f->max_idle_conns);
	if (strcmp(v, "max_concurrent") == 0)
		return int_opt(d, "max_concurrent", &f->max_concurrent);
	if (strcmp(v, "policy") == 0) {
		if (!hfi_d_next_arg(d))
			return hfi_d_argerr(d);
		const char *p = hfi_d_val(d);
		if (strcmp(p, "random") == 0)
			f->policy = HFI_FWD_RANDOM;
		else if (strcmp(p, "round_robin") == 0)
			f->policy = HFI_FWD_ROUND_ROBIN;
		else if (strcmp(p, "sequential") == 0)
			f->policy = HFI_FWD_SEQUENTIAL;
		else
			return hfi_d_errf(d, "unknown policy '%s'", p);
		return HF_EOK;
	}
	if (strcmp(v, "failover") == 0)
		return rcode_list(d, &f->failover, true);
	if (strcmp(v, "next") == 0)
		return rcode_list(d, &f->next, false);
	if (strcmp(v, "doh_method") == 0) {
		if (!hfi_d_next_arg(d))
			return hfi_d_argerr(d);
		const char *m = hfi_d_val(d);
		if (strcmp(m, "GET") == 0)
			f->doh_get = true;
		else if (strcmp(m, "POST") == 0)
			f->doh_get = false;
		else
			return hfi_d_errf(d, "unknown doh_method '%s', must be GET or POST", m);
		return HF_EOK;
	}
	if (strcmp(v, "source_address") == 0) {
		if (!hfi_d_next_arg(d))
			return hfi_d_argerr(d);
		const char *a = hfi_d_val(d);
		uint8_t ip[16];
		bool v4;
		if (!hfi_cf_ip_parse(a, ip, &v4))
			return hfi_d_plainf(d, "source_address: invalid IP address %s", a);
		return hfi_str_set(MM(d), &f->source_address, a) == HF_EOK ? HF_EOK : hfi_d_oom(d);
	}
	if (strcmp(v, "resolver") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n == 0)
			return hfi_d_argerr(d);
		for (size_t i = 0; i < n; i++) {
			const char *a = hfi_d_arg(d, st, i);
			size_t hs, hl, ps;
			bool split = hfi_go_split_host_port(a, &hs, &hl, &ps, NULL, 0);
			bool ok = split ? is_ip_nozone(a + hs, hl) && valid_port(a + ps)
					: is_ip_nozone(a, strlen(a));
			if (!ok)
				return hfi_d_plainf(d, "resolver: not an IP address: %s", a);
			if (hfi_strv_push(MM(d), &f->resolver, a) != HF_EOK)
				return hfi_d_oom(d);
		}
		return hfi_strv_dedup(MM(d), &f->resolver) == HF_EOK ? HF_EOK : hfi_d_oom(d);
	}
	return hfi_d_errf(d, "unknown property '%s'", v);
}

static int stanza(hfi_disp_t *d, hfi_cfg_forward_t *f)
{
	if (!hfi_d_next_arg(d))
		return hfi_d_argerr(d);
	const char *from = hfi_d_val(d);
	hfi_strv_t zones = {0};
	int r = hfi_normalize_exact(MM(d), from, &zones);
	if (r < 0) {
		hfi_strv_free(MM(d), &zones);
		return hfi_d_oom(d);
	}
	if (r == 0) {
		hfi_strv_free(MM(d), &zones);
		return hfi_d_plainf(d, "unable to normalize '%s'", from);
	}
	if (zones.n > 1)
		hfi_log(HFI_LOG_WARNING, "forward",
			"Unsupported CIDR notation: '%s' expands to multiple zones. Using only '%s'.",
			from, zones.v[0]);
	f->from = zones.v[0];
	zones.v[0] = NULL;
	for (size_t i = 1; i < zones.n; i++)
		hfi_mm_free(MM(d), zones.v[i]);
	hfi_mm_free(MM(d), zones.v);
	size_t st, n = hfi_d_remaining(d, &st);
	if (n == 0)
		return hfi_d_argerr(d);
	if (n > MAX_TO_ARGS)
		return hfi_d_plainf(d, "more than %d TOs configured: %zu", MAX_UPSTREAMS, n);
	for (size_t i = 0; i < n; i++) {
		int ret = add_to(d, f, hfi_d_arg(d, st, i));
		if (ret != HF_EOK)
			return ret;
	}
	if (hfi_strv_dedup(MM(d), &f->to) != HF_EOK)
		return hfi_d_oom(d);
	bool mca_set = false;
	while (hfi_d_next_block(d)) {
		int ret = option(d, f, &mca_set);
		if (ret != HF_EOK)
			return ret;
	}
	if (f->max_age_ms != 0 && f->max_age_ms < f->expire_ms)
		return hfi_d_plainf(d, "max_age (%ums) must not be less than expire (%ums)",
				    f->max_age_ms, f->expire_ms);
	if (!mca_set)
		f->max_connect_attempts = 2 * (int)f->to.n;
	return HF_EOK;
}

int hfi_setup_forward(hfi_disp_t *d)
{
	hfi_cfg_forward_t **fs = NULL;
	const hfi_token_t **at = NULL;
	size_t nfs = 0;
	int ret = HF_EOK;
	while (hfi_d_next(d)) {
		hfi_cfg_forward_t *f = hfi_mm_calloc(MM(d), 1, sizeof(*f));
		void *a = fs, *b = at;
		int ra = hfi_arr_push(MM(d), &a, nfs, sizeof(*fs));
		fs = a;
		int rb = ra == HF_EOK ? hfi_arr_push(MM(d), &b, nfs, sizeof(*at)) : HF_ENOMEM;
		at = b;
		if (f == NULL || ra != HF_EOK || rb != HF_EOK) {
			hfi_mm_free(MM(d), f);
			ret = hfi_d_oom(d);
			break;
		}
		fs[nfs] = f;
		at[nfs++] = hfi_d_tok(d);
		f->expire_ms = 10000;
		f->read_timeout_ms = 2000;
		f->health_check_ms = 500;
		f->max_fails = 2;
		f->policy = HFI_FWD_RANDOM;
		if (hfi_str_set(MM(d), &f->hc_domain, ".") != HF_EOK) {
			ret = hfi_d_oom(d);
			break;
		}
		ret = stanza(d, f);
		if (ret != HF_EOK)
			break;
	}
	for (size_t i = 0; ret == HF_EOK && i < nfs; i++) {
		if (fs[i]->to.n > MAX_UPSTREAMS) {
			for (size_t k = 0; k < d->n; k++)
				if (d->tok[k] == at[i])
					d->cursor = (long)k;
			ret = hfi_d_plainf(d, "more than %d TOs configured: %zu", MAX_UPSTREAMS,
					   fs[i]->to.n);
		}
	}
	size_t i = 0;
	for (; ret == HF_EOK && i < nfs; i++) {
		ret = hfi_block_add_plugin(d, at[i], fs[i]);
		fs[i] = NULL;   /* owned by the block now (or freed on failure) */
	}
	for (size_t k = 0; k < nfs; k++)
		hfi_free_forward(MM(d), fs[k]);
	hfi_mm_free(MM(d), fs);
	hfi_mm_free(MM(d), at);
	return ret;
}
