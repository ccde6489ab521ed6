/*
 * config_kubernetes.c: setup of the kubernetes plugin (spec 4.1, CoreDNS
 * plugin/kubernetes/setup.go): zones (block keys by default, CIDRs
 * expanded, primary = first non-reverse), every CoreDNS option with its
 * checks and error texts, and holdfast's own options manifest,
 * serve_stale, snapshot and deletion_guard.
 */
#include <string.h>

#include "config_int.h"
#include "config_keys.h"
#include "holdfast.h"
#include "log.h"
#include "selector.h"

#define ERR_ONCE "this plugin can only be used once per Server Block"

void hfi_free_kubernetes(const hf_mm_t *mm, void *p)
{
	hfi_cfg_kubernetes_t *k = p;
	hfi_strv_free(mm, &k->zones);
	hfi_mm_free(mm, k->endpoint);
	hfi_mm_free(mm, k->tls_cert);
	hfi_mm_free(mm, k->tls_key);
	hfi_mm_free(mm, k->tls_ca);
	hfi_mm_free(mm, k->kubeconfig);
	hfi_mm_free(mm, k->kubecontext);
	hfi_strv_free(mm, &k->namespaces);
	hfi_mm_free(mm, k->namespace_labels);
	hfi_mm_free(mm, k->labels);
	hfi_strv_free(mm, &k->fallthrough_zones);
	hfi_strv_free(mm, &k->multicluster_zones);
	hfi_strv_free(mm, &k->manifests);
	hfi_mm_free(mm, k->snapshot_path);
	hfi_mm_free(mm, k);
}

static const hf_mm_t *MM(hfi_disp_t *d)
{
	return d->ld->mm;
}

static int set_str(hfi_disp_t *d, char **dst, const char *s)
{
	return hfi_str_set(MM(d), dst, s) == HF_EOK ? HF_EOK : hfi_d_oom(d);
}

/* labels / namespace_labels: args joined with spaces, checked as a selector. */
static int selector_opt(hfi_disp_t *d, char **dst, const char *what)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n == 0)
		return hfi_d_argerr(d);
	char *text = hfi_d_join(d, st, n, " ");
	if (text == NULL)
		return hfi_d_oom(d);
	char msg[512] = "";
	hfi_selector_t *sel = hfi_selector_parse(text, MM(d), msg, sizeof(msg));
	if (sel == NULL && strcmp(msg, "out of memory") == 0) {
		hfi_mm_free(MM(d), text);
		return hfi_d_oom(d);
	}
	if (sel == NULL) {
		int ret = hfi_d_plainf(d, "unable to parse %s selector value: '%s': %s", what, text,
				       msg[0] ? msg : "invalid selector");
		hfi_mm_free(MM(d), text);
		return ret;
	}
	hfi_selector_free(sel);
	hfi_mm_free(MM(d), *dst);
	*dst = text;
	return HF_EOK;
}

static int one_dur(hfi_disp_t *d, const char *s, int64_t *ns)
{
	char msg[600];
	if (!hfi_go_duration(s, ns, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	return HF_EOK;
}

static int nonneg_int(hfi_disp_t *d, const char *name, int *out)
{
	size_t st, n = hfi_d_remaining(d, &st);
	if (n != 1)
		return hfi_d_argerr(d);
	long long v;
	char msg[600];
	if (!hfi_go_atoi(hfi_d_arg(d, st, 0), &v, msg, sizeof(msg)))
		return hfi_d_plainf(d, "%s", msg);
	if (v < 0)
		return hfi_d_errf(d, "%s must be greater than or equal to 0: %lld", name, v);
	*out = v > 0x7fffffff ? 0x7fffffff : (int)v;
	return HF_EOK;
}

static uint32_t ceil_s(int64_t ns)
{
	if (ns <= 0)
		return 0;
	int64_t s = (ns + HFI_NS_PER_S - 1) / HFI_NS_PER_S;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* holdfast options; HF_ENOENT when v is not one of them */
static int holdfast_option(hfi_disp_t *d, hfi_cfg_kubernetes_t *k, const char *v)
{
	size_t st, n;
	int ret;
	if (strcmp(v, "manifest") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n == 0)
			return hfi_d_argerr(d);
		for (size_t i = 0; i < n; i++) {
			const char *a = hfi_d_arg(d, st, i);
			if (a[0] == '\0')
				return hfi_d_errf(d, "manifest path can not be empty");
			char *p = hfi_d_path(d, a);
			if (p == NULL || hfi_strv_push(MM(d), &k->manifests, p) != HF_EOK) {
				hfi_mm_free(MM(d), p);
				return hfi_d_oom(d);
			}
			hfi_mm_free(MM(d), p);
		}
		return HF_EOK;
	}
	if (strcmp(v, "serve_stale") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n < 1 || n > 2)
			return hfi_d_argerr(d);
		int64_t mn, mx = 0;
		ret = one_dur(d, hfi_d_arg(d, st, 0), &mn);
		if (ret == HF_EOK && n == 2)
			ret = one_dur(d, hfi_d_arg(d, st, 1), &mx);
		if (ret != HF_EOK)
			return ret;
		if (mn < 0 || mx < 0)
			return hfi_d_errf(d, "serve_stale durations can not be negative");
		if (n == 2 && mx < mn)
			return hfi_d_errf(d, "serve_stale MAX (%s) must not be less than MIN (%s)",
					  hfi_d_arg(d, st, 1), hfi_d_arg(d, st, 0));
		k->serve_stale_min_s = ceil_s(mn);
		k->serve_stale_max_s = ceil_s(mx);
		return HF_EOK;
	}
	if (strcmp(v, "snapshot") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n < 1 || n > 2)
			return hfi_d_argerr(d);
		const char *a = hfi_d_arg(d, st, 0);
		if (a[0] == '\0')
			return hfi_d_errf(d, "snapshot path can not be empty");
		int64_t iv = 60 * HFI_NS_PER_S;
		if (n == 2) {
			ret = one_dur(d, hfi_d_arg(d, st, 1), &iv);
			if (ret != HF_EOK)
				return ret;
			if (iv < HFI_NS_PER_S)
				return hfi_d_errf(d, "snapshot interval must be at least 1s: %s",
						  hfi_d_arg(d, st, 1));
		}
		char *p = hfi_d_path(d, a);
		if (p == NULL)
			return hfi_d_oom(d);
		hfi_mm_free(MM(d), k->snapshot_path);
		k->snapshot_path = p;
		k->snapshot_interval_s = ceil_s(iv);
		return HF_EOK;
	}
	if (strcmp(v, "deletion_guard") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n != 1)
			return hfi_d_argerr(d);
		double f;
		char msg[600];
		if (!hfi_go_parse_float(hfi_d_arg(d, st, 0), &f, msg, sizeof(msg)))
			return hfi_d_plainf(d, "%s", msg);
		if (!(f >= 0.0 && f <= 1.0))
			return hfi_d_errf(d, "deletion_guard must be in range [0, 1]: %s",
					  hfi_d_arg(d, st, 0));
		k->deletion_guard = f;
		return HF_EOK;
	}
	return HF_ENOENT;
}

static int option(hfi_disp_t *d, hfi_cfg_kubernetes_t *k, bool *ns_set, bool *nsl_set)
{
	const char *v = hfi_d_val(d);
	size_t st, n;
	int ret;
	if (strcmp(v, "endpoint_pod_names") == 0) {
		if (hfi_d_remaining(d, &st) > 0)
			return hfi_d_argerr(d);
		k->endpoint_pod_names = true;
	} else if (strcmp(v, "pods") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n != 1)
			return hfi_d_argerr(d);
		const char *m = hfi_d_arg(d, st, 0);
		if (strcmp(m, "disabled") == 0)
			k->pods = HFI_PODS_DISABLED;
		else if (strcmp(m, "insecure") == 0)
			k->pods = HFI_PODS_INSECURE;
		else if (strcmp(m, "verified") == 0)
			k->pods = HFI_PODS_VERIFIED;
		else
			return hfi_d_plainf(d,
					    "wrong value for pods: %s,  must be one of: disabled, verified, insecure",
					    m);
	} else if (strcmp(v, "namespaces") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n == 0)
			return hfi_d_argerr(d);
		for (size_t i = 0; i < n; i++)
			if (hfi_strv_push(MM(d), &k->namespaces, hfi_d_arg(d, st, i)) != HF_EOK)
				return hfi_d_oom(d);
		*ns_set = true;
	} else if (strcmp(v, "endpoint") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n == 0)
			return hfi_d_argerr(d);
		if (n > 1)
			hfi_log(HFI_LOG_WARNING, "kubernetes",
				"Multiple endpoints have been deprecated, only the first specified endpoint '%s' is used",
				hfi_d_arg(d, st, 0));
		return set_str(d, &k->endpoint, hfi_d_arg(d, st, 0));
	} else if (strcmp(v, "tls") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n != 3)
			return hfi_d_argerr(d);
		if ((ret = set_str(d, &k->tls_cert, hfi_d_arg(d, st, 0))) != HF_EOK ||
		    (ret = set_str(d, &k->tls_key, hfi_d_arg(d, st, 1))) != HF_EOK ||
		    (ret = set_str(d, &k->tls_ca, hfi_d_arg(d, st, 2))) != HF_EOK)
			return ret;
	} else if (strcmp(v, "labels") == 0) {
		return selector_opt(d, &k->labels, "label");
	} else if (strcmp(v, "namespace_labels") == 0) {
		ret = selector_opt(d, &k->namespace_labels, "namespace_label");
		if (ret == HF_EOK)
			*nsl_set = true;
		return ret;
	} else if (strcmp(v, "fallthrough") == 0) {
		n = hfi_d_remaining(d, &st);
		k->fallthrough = true;
		hfi_strv_free(MM(d), &k->fallthrough_zones);
		for (size_t i = 0; i < n; i++) {
			int r = hfi_normalize_exact(MM(d), hfi_d_arg(d, st, i), &k->fallthrough_zones);
			if (r < 0)
				return hfi_d_oom(d);
			if (r == 0)
				return hfi_d_errf(d, "invalid fallthrough zone '%s'", hfi_d_arg(d, st, i));
		}
	} else if (strcmp(v, "ttl") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n == 0)
			return hfi_d_argerr(d);
		long long t;
		char msg[600];
		if (!hfi_go_atoi(hfi_d_arg(d, st, 0), &t, msg, sizeof(msg)))
			return hfi_d_plainf(d, "%s", msg);
		if (t < 0 || t > 3600)
			return hfi_d_errf(d, "ttl must be in range [0, 3600]: %lld", t);
		k->ttl = (uint32_t)t;
	} else if (strcmp(v, "noendpoints") == 0) {
		if (hfi_d_remaining(d, &st) != 0)
			return hfi_d_argerr(d);
		k->noendpoints = true;
	} else if (strcmp(v, "ignore") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n > 0) {
			if (strcmp(hfi_d_arg(d, st, 0), "empty_service") != 0)
				return hfi_d_plainf(d, "unable to parse ignore value: '%s'",
						    hfi_d_arg(d, st, 0));
			k->ignore_empty_service = true;
		}
	} else if (strcmp(v, "kubeconfig") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n != 1 && n != 2)
			return hfi_d_argerr(d);
		if ((ret = set_str(d, &k->kubeconfig, hfi_d_arg(d, st, 0))) != HF_EOK ||
		    (ret = set_str(d, &k->kubecontext, n == 2 ? hfi_d_arg(d, st, 1) : NULL)) != HF_EOK)
			return ret;
	} else if (strcmp(v, "multicluster") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n == 0)
			return hfi_d_argerr(d);
		hfi_strv_free(MM(d), &k->multicluster_zones);
		for (size_t i = 0; i < n; i++)
			if (hfi_normalize_exact(MM(d), hfi_d_arg(d, st, i), &k->multicluster_zones) < 0)
				return hfi_d_oom(d);
		for (size_t i = 0; i < k->multicluster_zones.n; i++) {
			if (hfi_strv_has(&k->zones, k->multicluster_zones.v[i]))
				continue;
			char list[1024] = "";
			for (size_t z = 0; z < k->zones.n; z++) {
				size_t l = strlen(list);
				hfi_cf_fmt(list + l, sizeof(list) - l, "%s%s", z ? " " : "", k->zones.v[z]);
			}
			return hfi_d_errf(d, "multicluster zone %s is not one of the plugin zones [%s]",
					  k->multicluster_zones.v[i], list);
		}
	} else if (strcmp(v, "startup_timeout") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n != 1)
			return hfi_d_argerr(d);
		int64_t ns;
		if ((ret = one_dur(d, hfi_d_arg(d, st, 0), &ns)) != HF_EOK)
			return ret;
		if (ns < 0)
			return hfi_d_errf(d, "startup_timeout can not be negative: %s", hfi_d_arg(d, st, 0));
		k->startup_timeout_ms = hfi_ns_to_ms(ns);
	} else if (strcmp(v, "apiserver_qps") == 0) {
		n = hfi_d_remaining(d, &st);
		if (n != 1)
			return hfi_d_argerr(d);
		double q;
		char msg[600];
		if (!hfi_go_parse_float(hfi_d_arg(d, st, 0), &q, msg, sizeof(msg)))
			return hfi_d_plainf(d, "%s", msg);
		if (!(q >= 0.0) || q > 1e9)
			return hfi_d_errf(d, "apiserver_qps must be greater than or equal to 0: %s",
					  hfi_d_arg(d, st, 0));
		k->apiserver_qps = q;
	} else if (strcmp(v, "apiserver_burst") == 0) {
		return nonneg_int(d, "apiserver_burst", &k->apiserver_burst);
	} else if (strcmp(v, "apiserver_max_inflight") == 0) {
		return nonneg_int(d, "apiserver_max_inflight", &k->apiserver_max_inflight);
	} else if (strcmp(v, "zonal") == 0) {
		if (hfi_d_remaining(d, &st) != 0)
			return hfi_d_argerr(d);
		k->zonal = true;
	} else {
		ret = holdfast_option(d, k, v);
		if (ret == HF_ENOENT)
			return hfi_d_errf(d, "unknown property '%s'", v);
		return ret;
	}
	return HF_EOK;
}

static int stanza(hfi_disp_t *d, hfi_cfg_kubernetes_t *k)
{
	size_t st, n = hfi_d_remaining(d, &st);
	int ret = hfi_d_origins(d, st, n, &k->zones);
	if (ret != HF_EOK)
		return ret;
	size_t i = 0;
	while (i < k->zones.n && hfi_zone_is_reverse(k->zones.v[i]))
		i++;
	if (i == k->zones.n)
		return hfi_d_plainf(d, "non-reverse zone name must be used");
	k->primary = i;
	bool ns_set = false, nsl_set = false;
	while (hfi_d_next_block(d)) {
		ret = option(d, k, &ns_set, &nsl_set);
		if (ret != HF_EOK)
			return ret;
	}
	if (hfi_strv_dedup(MM(d), &k->namespaces) != HF_EOK)
		return hfi_d_oom(d);
	if (ns_set && nsl_set)
		return hfi_d_errf(d, "namespaces and namespace_labels cannot both be set");
	if (k->zonal && k->noendpoints)
		return hfi_d_errf(d, "zonal cannot be used together with noendpoints");
	return HF_EOK;
}

int hfi_setup_kubernetes(hfi_disp_t *d)
{
	hfi_cfg_kubernetes_t *k = hfi_mm_calloc(MM(d), 1, sizeof(*k));
	if (k == NULL)
		return hfi_d_oom(d);
	k->ttl = 5;
	k->pods = HFI_PODS_DISABLED;
	k->startup_timeout_ms = 5000;
	k->deletion_guard = 0.5;
	const hfi_token_t *at = NULL;
	int i = 0, ret = HF_EOK;
	while (hfi_d_next(d)) {
		if (i++ > 0) {
			ret = hfi_d_plainf(d, ERR_ONCE);
			break;
		}
		at = hfi_d_tok(d);
		ret = stanza(d, k);
		if (ret != HF_EOK)
			break;
	}
	if (ret != HF_EOK) {
		hfi_free_kubernetes(MM(d), k);
		return ret;
	}
	return hfi_block_add_plugin(d, at, k);
}
