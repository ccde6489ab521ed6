/*
 * config_cache.c: setup of the cache plugin (spec 5, CoreDNS
 * plugin/cache/setup.go): `cache [TTL] [ZONES...] { success, denial,
 * prefetch, serve_stale, serve_stale_policy, servfail, disable, keepttl }`
 * with CoreDNS's defaults, checks and error texts.
 */
#include <string.h>

#include "config_int.h"
#include "config_keys.h"
#include "holdfast.h"

void hfi_free_cache(const hf_mm_t *mm, void *p)
{
	hfi_cfg_cache_t *c = p;
	hfi_strv_free(mm, &c->zones);
	hfi_strv_free(mm, &c->disable_success);
	hfi_strv_free(mm, &c->disable_denial);
	hfi_mm_free(mm, c);
}

static uint32_t clamp_u32(long long v)
{
	if (v < 0)
		return 0;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int atoi_arg(hfi_disp_t *d, const char *s, long long *v)
{
	char msg[600];
	if (!hfi_go_atoi(s, v, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	return HF_EOK;
}

static int dur_arg(hfi_disp_t *d, const char *s, int64_t *ns)
{
	char msg[600];
	if (!hfi_go_duration(s, ns, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	return HF_EOK;
}

/* success|denial CAPACITY [TTL [MINTTL]] */
static int cap_ttl(hfi_disp_t *d, uint32_t *cap, uint32_t *ttl, uint32_t *minttl)
{
	size_t st, n = hfi_d_remaining(d, &st);
	long long v;
	if (n == 0)
		return hfi_d_argerr(d);
	int ret = atoi_arg(d, hfi_d_arg(d, st, 0), &v);
	if (ret != HF_EOK)
		return ret;
	*cap = clamp_u32(v);
	if (n > 1) {
		ret = atoi_arg(d, hfi_d_arg(d, st, 1), &v);
		if (ret != HF_EOK)
			return ret;
		if (v <= 0)
			return hfi_d_plainf(d, "cache TTL can not be zero or negative: %lld", v);
		*ttl = clamp_u32(v);
		if (n > 2) {
			ret = atoi_arg(d, hfi_d_arg(d, st, 2), &v);
			if (ret != HF_EOK)
				return ret;
			if (v < 0)
				return hfi_d_plainf(d, "cache min TTL can not be negative: %lld", v);
			*minttl = clamp_u32(v);
		}
	}
	return HF_EOK;
}

static int prefetch(hfi_disp_t *d, hfi_cfg_cache_t *c)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n == 0 || n > 3)
		return hfi_d_argerr(d);
	long long v;
	int ret = atoi_arg(d, hfi_d_arg(d, st, 0), &v);
	if (ret != HF_EOK)
		return ret;
	if (v < 0)
		return hfi_d_plainf(d, "prefetch amount should be positive: %lld", v);
	c->prefetch_amount = clamp_u32(v);
	if (n > 1) {
		int64_t ns;
		ret = dur_arg(d, hfi_d_arg(d, st, 1), &ns);
		if (ret != HF_EOK)
			return ret;
		c->prefetch_duration_s = hfi_ns_to_s(ns);
	}
	if (n > 2) {
		const char *pct = hfi_d_arg(d, st, 2);
		size_t l = strlen(pct);
		if (l == 0 || pct[l - 1] != '%') {
			char q[16];
			if (l == 0)
				hfi_cf_fmt(q, sizeof(q), "''");
			else if (pct[l - 1] == '\'' || pct[l - 1] == '\\')
				hfi_cf_fmt(q, sizeof(q), "'\\%c'", pct[l - 1]);
			else if ((unsigned char)pct[l - 1] < 0x20 || (unsigned char)pct[l - 1] >= 0x7f)
				hfi_cf_fmt(q, sizeof(q), "'\\x%02x'", (unsigned char)pct[l - 1]);
			else
				hfi_cf_fmt(q, sizeof(q), "'%c'", pct[l - 1]);
			return hfi_d_plainf(d, "last character of percentage should be `%%`, but is: %s", q);
		}
		char num[64];
		if (l - 1 >= sizeof(num))
			l = sizeof(num);
		memcpy(num, pct, l - 1);
		num[l - 1] = '\0';
		ret = atoi_arg(d, num, &v);
		if (ret != HF_EOK)
			return ret;
		if (v < 10 || v > 90)
			return hfi_d_plainf(d, "percentage should fall in range [10, 90]: %lld", v);
		c->prefetch_pct = (uint32_t)v;
	}
	return HF_EOK;
}

/* serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]] |
 *                         verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]] */
static int serve_stale(hfi_disp_t *d, hfi_cfg_cache_t *c)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n > 5)
		return hfi_d_argerr(d);
	c->serve_stale = true;
	c->stale_duration_s = 3600;
	c->stale_verify = false;
	int64_t ns;
	int ret;
	if (n > 0) {
		ret = dur_arg(d, hfi_d_arg(d, st, 0), &ns);
		if (ret != HF_EOK)
			return ret;
		if (ns < 0)
			return hfi_d_plainf(d, "invalid negative duration for serve_stale");
		c->stale_duration_s = hfi_ns_to_s(ns);
	}
	if (n < 2)
		return HF_EOK;
	char mode[32];
	const char *m = hfi_d_arg(d, st, 1);
	size_t ml = strlen(m) < sizeof(mode) - 1 ? strlen(m) : sizeof(mode) - 1;
	for (size_t i = 0; i < ml; i++)
		mode[i] = (m[i] >= 'A' && m[i] <= 'Z') ? (char)(m[i] - 'A' + 'a') : m[i];
	mode[ml] = '\0';
	if ((strcmp(mode, "immediate") != 0 && strcmp(mode, "verify") != 0) ||
	    strlen(m) >= sizeof(mode))
		return hfi_d_plainf(d, "invalid value for serve_stale refresh mode: %s", m);
	c->stale_verify = strcmp(mode, "verify") == 0;
	size_t i = 2;
	if (c->stale_verify && i < n) {
		ret = dur_arg(d, hfi_d_arg(d, st, i), &ns);
		if (ret != HF_EOK)
			return ret;
		if (ns < 0)
			return hfi_d_plainf(d, "invalid negative verify timeout for serve_stale");
		c->stale_verify_timeout_ms = hfi_ns_to_ms(ns);
		i++;
	} else if (!c->stale_verify && n > 4) {
		return hfi_d_argerr(d);
	}
	if (i < n) {
		ret = dur_arg(d, hfi_d_arg(d, st, i), &ns);
		if (ret != HF_EOK)
			return ret;
		if (ns < 0)
			return hfi_d_plainf(d, "invalid negative response TTL for serve_stale");
		c->stale_response_ttl_s = hfi_ns_to_s(ns);
		i++;
	}
	if (i < n) {
		ret = dur_arg(d, hfi_d_arg(d, st, i), &ns);
		if (ret != HF_EOK)
			return ret;
		if (ns < 0)
			return hfi_d_plainf(d, "invalid negative failure recheck for serve_stale");
		if (ns > 300 * HFI_NS_PER_S)
			return hfi_d_plainf(d, "serve_stale failure recheck over 5 minutes is not permitted");
		c->stale_failure_recheck_s = hfi_ns_to_s(ns);
	}
	return HF_EOK;
}

static int disable(hfi_disp_t *d, hfi_cfg_cache_t *c)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n < 1)
		return hfi_d_argerr(d);
	hfi_strv_t zones = {0};
	for (size_t i = 1; i < n; i++) {
		char *z = hfi_zone_normalize(d->ld->mm, hfi_d_arg(d, st, i));
		if (z == NULL || hfi_strv_push(d->ld->mm, &zones, z) != HF_EOK) {
			hfi_mm_free(d->ld->mm, z);
			hfi_strv_free(d->ld->mm, &zones);
			return hfi_d_oom(d);
		}
		hfi_mm_free(d->ld->mm, z);
	}
	const char *which = hfi_d_arg(d, st, 0);
	hfi_strv_t *dst;
	if (strcmp(which, "denial") == 0) {
		dst = &c->disable_denial;
		c->disable_denial_set = true;
	} else if (strcmp(which, "success") == 0) {
		dst = &c->disable_success;
		c->disable_success_set = true;
	} else {
		hfi_strv_free(d->ld->mm, &zones);
		return hfi_d_plainf(d, "cache type for disable must be \"success\" or \"denial\"");
	}
	hfi_strv_free(d->ld->mm, dst);
	*dst = zones;
	return HF_EOK;
}

static int cache_block(hfi_disp_t *d, hfi_cfg_cache_t *c)
{
	bool policy = false;
	while (hfi_d_next_block(d)) {
		const char *v = hfi_d_val(d);
		int ret = HF_EOK;
		size_t st;
		if (strcmp(v, "success") == 0) {
			ret = cap_ttl(d, &c->success_cap, &c->success_ttl, &c->success_minttl);
		} else if (strcmp(v, "denial") == 0) {
			ret = cap_ttl(d, &c->denial_cap, &c->denial_ttl, &c->denial_minttl);
		} else if (strcmp(v, "prefetch") == 0) {
			ret = prefetch(d, c);
		} else if (strcmp(v, "serve_stale") == 0) {
			ret = serve_stale(d, c);
		} else if (strcmp(v, "serve_stale_policy") == 0) {
			size_t n = hfi_d_remaining(d, &st);
			if (n != 1)
				return hfi_d_argerr(d);
			if (strcmp(hfi_d_arg(d, st, 0), "prefer_positive") != 0)
				return hfi_d_plainf(d, "invalid value for serve_stale_policy: %s",
						    hfi_d_arg(d, st, 0));
			c->prefer_positive = true;
			policy = true;
		} else if (strcmp(v, "servfail") == 0) {
			size_t n = hfi_d_remaining(d, &st);
			if (n != 1)
				return hfi_d_argerr(d);
			int64_t ns;
			ret = dur_arg(d, hfi_d_arg(d, st, 0), &ns);
			if (ret != HF_EOK)
				return ret;
			if (ns < 0)
				return hfi_d_plainf(d, "invalid negative ttl for servfail");
			if (ns > 300 * HFI_NS_PER_S)
				return hfi_d_plainf(d, "caching SERVFAIL responses over 5 minutes is not permitted");
			c->servfail_ttl_s = hfi_ns_to_s(ns);
		} else if (strcmp(v, "disable") == 0) {
			ret = disable(d, c);
		} else if (strcmp(v, "keepttl") == 0) {
			if (hfi_d_remaining(d, &st) != 0)
				return hfi_d_argerr(d);
			c->keepttl = true;
		} else {
			return hfi_d_argerr(d);
		}
		if (ret != HF_EOK)
			return ret;
	}
	if (policy && !c->serve_stale)
		return hfi_d_plainf(d, "serve_stale_policy requires serve_stale");
	return HF_EOK;
}

int hfi_setup_cache(hfi_disp_t *d)
{
	hfi_cfg_cache_t *c = hfi_mm_calloc(d->ld->mm, 1, sizeof(*c));
	if (c == NULL)
		return hfi_d_oom(d);
	c->success_cap = c->denial_cap = 10000;
	c->success_ttl = 3600;
	c->denial_ttl = 1800;
	c->success_minttl = c->denial_minttl = 5;
	c->prefetch_duration_s = 60;
	c->prefetch_pct = 10;
	c->servfail_ttl_s = 5;
	const hfi_token_t *at = NULL;
	int j = 0, ret = HF_EOK;
	while (hfi_d_next(d)) {
		if (j++ > 0) {
			ret = hfi_d_plainf(d, "this plugin can only be used once per Server Block");
			break;
		}
		at = hfi_d_tok(d);
		size_t st, n = hfi_d_remaining(d, &st);
		if (n > 0) {
			long long ttl;
			if (hfi_go_atoi(hfi_d_arg(d, st, 0), &ttl, NULL, 0)) {
				if (ttl <= 0) {
					ret = hfi_d_plainf(d, "cache TTL can not be zero or negative: %lld",
							   ttl);
					break;
				}
				c->success_ttl = c->denial_ttl = clamp_u32(ttl);
				st++;
				n--;
			}
		}
		ret = hfi_d_origins(d, st, n, &c->zones);
		if (ret == HF_EOK)
			ret = cache_block(d, c);
		if (ret != HF_EOK)
			break;
	}
	if (ret != HF_EOK) {
		hfi_free_cache(d->ld->mm, c);
		return ret;
	}
	return hfi_block_add_plugin(d, at, c);
}
