/*
 * api.c: the Kubernetes API source's lifecycle: resolve the connection,
 * parse the selectors, start one reflector thread per watched resource
 * (api_watch.c), stop them promptly (shared stop flag, curl_multi_wakeup,
 * condition-variable sleeps), and the shared pacing (token bucket,
 * in-flight cap) and statistics.
 */
#include "api_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "holdfast.h"
#include "log.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_ret = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_ret = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int64_t hfi_api_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *hfi_api_res_name(hfi_resource_t res)
{
	switch (res) {
	case HFI_RES_NAMESPACES: return "namespaces";
	case HFI_RES_SERVICES: return "services";
	case HFI_RES_SLICES: return "endpointslices";
	case HFI_RES_PODS: return "pods";
	default: return "?";
	}
}

void hfi_api_want(const hfi_cfg_kubernetes_t *cfg, bool want[HFI_RES_COUNT])
{
	want[HFI_RES_NAMESPACES] = true;
	want[HFI_RES_SERVICES] = true;
	want[HFI_RES_SLICES] = !cfg->noendpoints;
	want[HFI_RES_PODS] = cfg->pods == HFI_PODS_VERIFIED;
}

/* HF_WATCH_TIMEOUT_S: "N" or "LO-HI" seconds (tests); default [300, 600). */
static void watch_range(hfi_api_t *api)
{
	api->watch_lo_s = 300;
	api->watch_hi_s = 600;
	const char *e = getenv("HF_WATCH_TIMEOUT_S");
	if (e == NULL || *e == '\0')
		return;
	char *end;
	errno = 0;
	long lo = strtol(e, &end, 10), hi = lo + 1;
	if (errno == 0 && *end == '-') {
		const char *h = end + 1;
		hi = strtol(h, &end, 10);
	}
	if (errno != 0 || *end != '\0' || lo < 1 || lo > 86400 || hi <= lo || hi > 86401) {
		hfi_log(HFI_LOG_WARNING, HFI_API_LOG, "ignoring HF_WATCH_TIMEOUT_S=\"%.40s\" (want N or LO-HI seconds)", e);
		return;
	}
	api->watch_lo_s = (int)lo;
	api->watch_hi_s = (int)hi;
}

/* HF_API_HANG_S: how long a silent server may take before it counts as
 * hung (tests); default: list 30 s to the response, then 10 s between
 * bytes; watch 30 s to the response, then timeoutSeconds + 30 s. */
static void hang_limits(hfi_api_t *api)
{
	api->list_first_byte_ms = HFI_API_LIST_FIRST_BYTE_MS;
	api->list_idle_ms = HFI_API_LIST_IDLE_MS;
	api->watch_first_byte_ms = HFI_API_WATCH_FIRST_BYTE_MS;
	api->watch_grace_ms = HFI_API_WATCH_GRACE_MS;
	const char *e = getenv("HF_API_HANG_S");
	if (e == NULL || *e == '\0')
		return;
	char *end;
	errno = 0;
	long v = strtol(e, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 3600) {
		hfi_log(HFI_LOG_WARNING, HFI_API_LOG, "ignoring HF_API_HANG_S=\"%.40s\" (want 1..3600 seconds)", e);
		return;
	}
	api->list_first_byte_ms = api->list_idle_ms = api->watch_first_byte_ms = api->watch_grace_ms = v * 1000;
}

static void free_api(hfi_api_t *api)
{
	for (int r = 0; r < HFI_RES_COUNT; r++) {
		hfi_api_http_free(api->w[r].http);
		free(api->w[r].rv);
	}
	hfi_api_token_fini(&api->token);
	hfi_api_conn_free(&api->conn);
	hfi_selector_free(api->labels);
	hfi_selector_free(api->ns_labels);
	free(api->label_sel);
	free(api->ns_label_sel);
	pthread_cond_destroy(&api->cv);
	pthread_mutex_destroy(&api->mu);
	free(api);
}

hfi_api_t *hfi_api_new(const hfi_cfg_kubernetes_t *cfg, hfi_sync_t *sync, char *err, size_t errlen)
{
	char dummy[8];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (cfg == NULL || sync == NULL) {
		snprintf(err, errlen, "invalid argument");
		return NULL;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_ret != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(curl_init_ret));
		return NULL;
	}
	hfi_api_t *api = calloc(1, sizeof(*api));
	if (api == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&api->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&api->mu, NULL);
	atomic_init(&api->stop, false);
	api->sync = sync;
	int ret = hfi_api_conn_resolve(cfg, NULL, &api->conn, err, errlen);
	hfi_api_token_init(&api->token, &api->conn);
	if (ret != HF_EOK) {
		free_api(api);
		return NULL;
	}
	char serr[256];
	if (cfg->labels != NULL && *cfg->labels != '\0') {
		api->label_sel = strdup(cfg->labels);
		api->labels = hfi_selector_parse(cfg->labels, NULL, serr, sizeof(serr));
		if (api->label_sel == NULL || api->labels == NULL) {
			snprintf(err, errlen, "labels: %s", api->label_sel ? serr : "out of memory");
			free_api(api);
			return NULL;
		}
	}
	if (cfg->namespace_labels != NULL && *cfg->namespace_labels != '\0') {
		api->ns_label_sel = strdup(cfg->namespace_labels);
		api->ns_labels = hfi_selector_parse(cfg->namespace_labels, NULL, serr, sizeof(serr));
		if (api->ns_label_sel == NULL || api->ns_labels == NULL) {
			snprintf(err, errlen, "namespace_labels: %s", api->ns_label_sel ? serr : "out of memory");
			free_api(api);
			return NULL;
		}
	}
	snprintf(api->user_agent, sizeof(api->user_agent), "holdfast/%s", hf_version());
	watch_range(api);
	hang_limits(api);
	hfi_tbucket_init(&api->bucket, cfg->apiserver_qps, cfg->apiserver_burst, hfi_api_now_ms());
	api->max_inflight = cfg->apiserver_max_inflight > 0 ? cfg->apiserver_max_inflight : 0;
	bool want[HFI_RES_COUNT];
	hfi_api_want(cfg, want);
	for (int r = 0; r < HFI_RES_COUNT; r++) {
		hfi_api_worker_t *w = &api->w[r];
		w->api = api;
		w->res = (hfi_resource_t)r;
		w->enabled = want[r];
		w->need_list = true;
		w->mode = HFI_LIST_RV0;
		w->opts = (hfi_manifest_opts_t){
			.labels = r == HFI_RES_NAMESPACES ? NULL : api->labels,
			.namespace_labels = r == HFI_RES_NAMESPACES ? api->ns_labels : NULL,
			.load_pods = r == HFI_RES_PODS,
			.load_slices = r == HFI_RES_SLICES,
		};
	}
	return api;
}

int hfi_api_start(hfi_api_t *api)
{
	if (api == NULL)
		return HF_EINVAL;
	pthread_mutex_lock(&api->mu);
	bool again = api->started;
	api->started = true;
	pthread_mutex_unlock(&api->mu);
	if (again)
		return HF_EINVAL;
	char err[256];
	for (int r = 0; r < HFI_RES_COUNT; r++) {
		hfi_api_worker_t *w = &api->w[r];
		if (!w->enabled)
			continue;
		w->http = hfi_api_http_new(&api->conn, api->user_agent, &api->stop, err, sizeof(err));
		if (w->http == NULL) {
			hfi_log(HFI_LOG_ERROR, HFI_API_LOG, "%s: %s", hfi_api_res_name(w->res), err);
			return HF_ENOMEM;
		}
		hfi_backoff_init(&w->backoff, 0);
		w->rng = hfi_rng_next(&w->backoff.rng) ^ (uint64_t)(r + 1);
		hfi_backoff_init(&w->relist, hfi_rng_next(&w->rng));
	}
	/* the threads take no signals: the host handles them */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = HF_EOK;
	for (int r = 0; r < HFI_RES_COUNT && ret == HF_EOK; r++) {
		hfi_api_worker_t *w = &api->w[r];
		if (!w->enabled)
			continue;
		int e = pthread_create(&w->thread, NULL, hfi_api_worker_main, w);
		if (e != 0) {
			hfi_log(HFI_LOG_ERROR, HFI_API_LOG, "cannot start the %s thread: %s",
				hfi_api_res_name(w->res), strerror(e));
			ret = HF_ENOMEM;
		} else {
			w->thread_started = true;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret == HF_EOK)
		hfi_log(HFI_LOG_INFO, HFI_API_LOG, "connecting to the Kubernetes API (%s)", api->conn.source);
	return ret;
}

void hfi_api_free(hfi_api_t *api)
{
	if (api == NULL)
		return;
	atomic_store(&api->stop, true);
	pthread_mutex_lock(&api->mu);
	pthread_cond_broadcast(&api->cv);
	pthread_mutex_unlock(&api->mu);
	for (int r = 0; r < HFI_RES_COUNT; r++)
		hfi_api_http_wakeup(api->w[r].http);
	for (int r = 0; r < HFI_RES_COUNT; r++)
		if (api->w[r].thread_started)
			pthread_join(api->w[r].thread, NULL);
	free_api(api);
}

void hfi_api_get_stats(hfi_api_t *api, hfi_api_stats_t *out)
{
	if (api == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&api->mu);
	*out = api->stats;
	pthread_mutex_unlock(&api->mu);
}

/* ---- shared pacing ------------------------------------------------------------ */

bool hfi_api_sleep(hfi_api_t *api, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += (time_t)(ms / 1000);
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&api->mu);
	while (!atomic_load(&api->stop)) {
		if (pthread_cond_timedwait(&api->cv, &api->mu, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&api->mu);
	return !atomic_load(&api->stop);
}

bool hfi_api_admit(hfi_api_t *api)
{
	pthread_mutex_lock(&api->mu);
	int64_t wait = hfi_tbucket_take(&api->bucket, hfi_api_now_ms());
	pthread_mutex_unlock(&api->mu);
	if (wait > 0 && !hfi_api_sleep(api, wait))
		return false;
	pthread_mutex_lock(&api->mu);
	while (!atomic_load(&api->stop) && api->max_inflight > 0 && api->inflight >= api->max_inflight)
		pthread_cond_wait(&api->cv, &api->mu);
	bool ok = !atomic_load(&api->stop);
	if (ok)
		api->inflight++;
	pthread_mutex_unlock(&api->mu);
	return ok;
}

void hfi_api_release(hfi_api_t *api)
{
	pthread_mutex_lock(&api->mu);
	if (api->inflight > 0)
		api->inflight--;
	pthread_cond_broadcast(&api->cv);
	pthread_mutex_unlock(&api->mu);
}

void hfi_api_count(hfi_api_t *api, hfi_resource_t res, enum hfi_api_stat what, uint64_t n)
{
	pthread_mutex_lock(&api->mu);
	switch (what) {
	case HFI_ST_LIST: api->stats.requests[res][0] += n; break;
	case HFI_ST_WATCH: api->stats.requests[res][1] += n; break;
	case HFI_ST_ERROR: api->stats.errors[res] += n; break;
	case HFI_ST_RELIST: api->stats.relists[res] += n; break;
	case HFI_ST_BAD: api->stats.bad_objects[res] += n; break;
	}
	pthread_mutex_unlock(&api->mu);
}

void hfi_api_count_status(hfi_api_t *api, long status)
{
	pthread_mutex_lock(&api->mu);
	if (status == 410)
		api->stats.status_410++;
	else if (status == 429)
		api->stats.status_429++;
	else if (status >= 500 && status < 600)
		api->stats.status_5xx++;
	else
		api->stats.status_other++;
	pthread_mutex_unlock(&api->mu);
}
