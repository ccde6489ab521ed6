/*
 * api_watch.c: one resource's reflector loop (after client-go): LIST
 * (paginated, first with resourceVersion=0) into a scratch store, hand it
 * to hfi_sync_apply_list, then WATCH from the list's resourceVersion with
 * bookmarks and a random timeoutSeconds, resuming from the last seen
 * resourceVersion when a watch ends; 410 Gone -> relist; every failure
 * reports the resource unhealthy and backs off (Retry-After honoured for
 * 429/5xx).
 *
 * Relist resourceVersion (client-go's reflector): the first list uses
 * resourceVersion=0 (watch cache, limit=500); a relist after a watch 410
 * asks for resourceVersion=<last seen> without a limit (served from the
 * watch cache, never older than what we had); a 410 or "too large
 * resource version" on that, or a 410 on a continue token (a paginated
 * snapshot expired), restarts the whole list as a consistent read
 * (no resourceVersion, limit=500, new scratch store), at most
 * HFI_API_MAX_LIST_RESTARTS times before it counts as a failed list.
 * Watches that fail for other reasons resume from the last resourceVersion
 * (the server answers 410 if that is too old), which is gentler than
 * client-go's relist.
 */
#include "api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast.h"
#include "log.h"

enum step { STEP_OK = 0, STEP_FAILED, STEP_RELIST, STEP_STOP };

static const char *const res_paths[HFI_RES_COUNT] = {
	"/api/v1/namespaces", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/pods",
};
static const char *const rbac_names[HFI_RES_COUNT] = {
	"namespaces", "services", "endpointslices.discovery.k8s.io", "pods",
};
#define POD_FIELD_SELECTOR "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown"

static bool stopping(const hfi_api_worker_t *w)
{
	return atomic_load(&w->api->stop);
}

/* ---- logging (identical warnings at most every 30 s) ------------------------- */

static void warn(hfi_api_worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(hfi_api_worker_t *w, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *p = msg; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	int64_t now = hfi_api_now_ms();
	if (h == w->log_hash && now - w->log_ms < HFI_API_LOG_REPEAT_MS) {
		w->log_suppressed++;
		return;
	}
	if (h == w->log_hash && w->log_suppressed > 0)
		hfi_log(HFI_LOG_WARNING, HFI_API_LOG, "%s: %s (repeated %u times)", hfi_api_res_name(w->res), msg,
			w->log_suppressed + 1);
	else
		hfi_log(HFI_LOG_WARNING, HFI_API_LOG, "%s: %s", hfi_api_res_name(w->res), msg);
	w->log_hash = h;
	w->log_ms = now;
	w->log_suppressed = 0;
}

/* A failure: unhealthy, counted, logged, then wait (backoff or Retry-After). */
static enum step fail(hfi_api_worker_t *w, const char *reason, long retry_after_s)
{
	hfi_api_t *api = w->api;
	if (stopping(w))
		return STEP_STOP;
	int64_t now = hfi_api_now_ms();
	hfi_sync_health(api->sync, w->res, false, reason, now);
	hfi_api_count(api, w->res, HFI_ST_ERROR, 1);
	warn(w, "%s", reason);
	w->failures++;
	int64_t delay = hfi_backoff_next(&w->backoff, now);
	if (retry_after_s >= 0 && w->retry_after_in_row < HFI_API_MAX_RETRY_AFTER_IN_ROW) {
		long ra = retry_after_s < 1 ? 1 : retry_after_s > HFI_API_MAX_RETRY_AFTER_S ? HFI_API_MAX_RETRY_AFTER_S
											      : retry_after_s;
		delay = (int64_t)ra * 1000 + (int64_t)(hfi_rng_unit(&w->rng) * 1000.0);
		w->retry_after_in_row++;
	} else {
		w->retry_after_in_row = 0;
	}
	return hfi_api_sleep(api, delay) ? STEP_FAILED : STEP_STOP;
}

static enum step status_fail(hfi_api_worker_t *w, const char *verb, const hfi_http_res_t *r)
{
	long code;
	char msg[256], reason[600];
	hfi_api_decode_status(r->body, r->len, &code, msg, sizeof(msg));
	if (r->status == 401 || r->status == 403)
		snprintf(reason, sizeof(reason),
			 "%s: HTTP %ld %s: %s (check RBAC: the account needs list and watch on %s)", verb, r->status,
			 r->status == 401 ? "Unauthorized" : "Forbidden", msg, rbac_names[w->res]);
	else
		snprintf(reason, sizeof(reason), "%s: HTTP %ld%s%s", verb, r->status, msg[0] ? ": " : "", msg);
	long ra = (r->status == 429 || r->status >= 500) ? r->retry_after_s : -1;
	return fail(w, reason, ra);
}

/* ---- URLs -------------------------------------------------------------------- */

typedef struct url {
	char *s;
	size_t len, off;
	bool first;
	int err;
} url_t;

static void url_param(url_t *u, const char *k, const char *v)
{
	if (u->err != HF_EOK || v == NULL)
		return;
	size_t kl = strlen(k);
	if (u->off + kl + 2 >= u->len) {
		u->err = HF_ESPACE;
		return;
	}
	u->s[u->off++] = u->first ? '?' : '&';
	u->first = false;
	memcpy(u->s + u->off, k, kl);
	u->off += kl;
	u->s[u->off++] = '=';
	u->s[u->off] = '\0';
	u->err = hfi_api_url_escape(u->s, u->len, &u->off, v);
}

static char *build_url(hfi_api_worker_t *w, bool watch, const char *rv, const char *cont, bool limit,
		       int timeout_s)
{
	hfi_api_t *api = w->api;
	const char *labels = w->res == HFI_RES_NAMESPACES ? api->ns_label_sel : api->label_sel;
	const char *fields = w->res == HFI_RES_PODS ? POD_FIELD_SELECTOR : NULL;
	size_t need = strlen(api->conn.server) + strlen(res_paths[w->res]) + 256;
	need += 3 * ((rv ? strlen(rv) : 0) + (cont ? strlen(cont) : 0) + (labels ? strlen(labels) : 0) +
		     (fields ? strlen(fields) : 0));
	url_t u = { .s = malloc(need), .len = need, .first = true };
	if (u.s == NULL)
		return NULL;
	u.off = (size_t)snprintf(u.s, need, "%s%s", api->conn.server, res_paths[w->res]);
	char num[32];
	if (watch) {
		url_param(&u, "allowWatchBookmarks", "true");
		url_param(&u, "resourceVersion", rv);
		snprintf(num, sizeof(num), "%d", timeout_s);
		url_param(&u, "timeoutSeconds", num);
		url_param(&u, "watch", "1");
	} else {
		url_param(&u, "continue", cont);
		if (limit) {
			snprintf(num, sizeof(num), "%d", HFI_API_PAGE_LIMIT);
			url_param(&u, "limit", num);
		}
		url_param(&u, "resourceVersion", rv);
		if (rv != NULL && strcmp(rv, "0") != 0)
			url_param(&u, "resourceVersionMatch", "NotOlderThan");
	}
	url_param(&u, "labelSelector", labels);
	url_param(&u, "fieldSelector", fields);
	if (u.err != HF_EOK) {
		free(u.s);
		return NULL;
	}
	return u.s;
}

/* ---- LIST -------------------------------------------------------------------- */

static bool too_large_rv(const hfi_http_res_t *r)
{
	long code;
	char msg[256];
	if (r->status != 504 && r->status != 410)
		return false;
	hfi_api_decode_status(r->body, r->len, &code, msg, sizeof(msg));
	return r->status == 410 || strstr(msg, "Too large resource version") != NULL;
}

static enum step do_list(hfi_api_worker_t *w)
{
	hfi_api_t *api = w->api;
	enum hfi_list_mode mode = w->mode;
	if (mode == HFI_LIST_RV_LAST && w->rv == NULL)
		mode = HFI_LIST_RV0;
	hfi_store_t *scratch = hfi_store_new(NULL);
	if (scratch == NULL)
		return fail(w, "list: out of memory", -1);
	char *cont = NULL, *rv = NULL;
	size_t items = 0, bad = 0;
	char first_bad[320] = "", reason[700];
	unsigned restarts = 0;
	enum step st = STEP_OK;
	hfi_http_res_t res = { 0 };
	for (unsigned page = 0;; page++) {
		if (stopping(w)) {
			st = STEP_STOP;
			break;
		}
		if (page >= HFI_API_MAX_PAGES) {
			st = fail(w, "list: too many pages", -1);
			break;
		}
		const char *prv = cont != NULL ? NULL : mode == HFI_LIST_RV0 ? "0" : mode == HFI_LIST_RV_LAST ? w->rv : NULL;
		bool limit = cont != NULL || mode != HFI_LIST_RV_LAST;
		char *url = build_url(w, false, prv, cont, limit, 0);
		if (url == NULL) {
			st = fail(w, "list: out of memory", -1);
			break;
		}
		if (!hfi_api_admit(api)) {
			free(url);
			st = STEP_STOP;
			break;
		}
		char *auth = hfi_api_token_header(&api->token, hfi_api_now_ms());
		hfi_api_count(api, w->res, HFI_ST_LIST, 1);
		hfi_http_req_t req = {
			.url = url, .auth = auth, .first_byte_ms = api->list_first_byte_ms,
			.idle_ms = api->list_idle_ms, .total_ms = HFI_API_LIST_TOTAL_MS,
			.max_body = HFI_API_MAX_BODY,
		};
		int r = hfi_api_http_get(w->http, &req, &res);
		hfi_api_release(api);
		free(url);
		if (auth != NULL) {
			explicit_bzero(auth, strlen(auth));
			free(auth);
		}
		if (r == HFI_HTTP_STOPPED) {
			st = STEP_STOP;
			break;
		}
		if (r != HFI_HTTP_OK) {
			snprintf(reason, sizeof(reason), "list: %s", res.errmsg);
			st = fail(w, reason, -1);
			break;
		}
		if (res.status != 200) {
			hfi_api_count_status(api, res.status);
			bool restart = (cont != NULL && res.status == 410) ||
				       (mode == HFI_LIST_RV_LAST && too_large_rv(&res));
			if (restart && restarts < HFI_API_MAX_LIST_RESTARTS) {
				restarts++;
				/* the snapshot is gone: a fresh consistent list from the start
				 * (and so on until one succeeds, like client-go's
				 * isLastSyncResourceVersionUnavailable) */
				mode = w->mode = HFI_LIST_CONSISTENT;
				free(cont);
				cont = NULL;
				items = bad = 0;
				hfi_store_free(scratch);
				scratch = hfi_store_new(NULL);
				if (scratch == NULL) {
					st = fail(w, "list: out of memory", -1);
					break;
				}
				page = (unsigned)-1;
				continue;
			}
			st = status_fail(w, "list", &res);
			break;
		}
		hfi_api_list_info_t info;
		char derr[400];
		int ret = hfi_api_decode_list(w->res, res.body, res.len, scratch, &w->opts, &api->stop, &info,
					      derr, sizeof(derr));
		if (ret != HF_EOK) {
			hfi_api_list_info_fini(&info);
			snprintf(reason, sizeof(reason), "list: %s%s", ret == HF_ENOMEM ? "" : "malformed response: ", derr);
			st = fail(w, reason, -1);
			break;
		}
		items += info.items;
		if (info.bad > 0 && bad == 0)
			snprintf(first_bad, sizeof(first_bad), "%s", info.first_bad);
		bad += info.bad;
		free(cont);
		cont = info.cont;
		info.cont = NULL;
		if (cont == NULL) {
			rv = info.rv;
			info.rv = NULL;
			hfi_api_list_info_fini(&info);
			break;
		}
		hfi_api_list_info_fini(&info);
	}
	hfi_http_res_fini(&res);
	free(cont);
	if (st != STEP_OK) {
		hfi_store_free(scratch);
		free(rv);
		return st;
	}
	if (bad > 0) {
		hfi_api_count(api, w->res, HFI_ST_BAD, bad);
		warn(w, "list: skipped %zu of %zu objects that could not be used; first: %s", bad, items, first_bad);
	}
	int ret = hfi_sync_apply_list(api->sync, w->res, scratch, hfi_api_now_ms());
	hfi_store_free(scratch);
	if (ret != HF_EOK) {
		free(rv);
		snprintf(reason, sizeof(reason), "list: cannot apply: %s", hf_strerror(ret));
		return fail(w, reason, -1);
	}
	free(w->rv);
	w->rv = rv;
	w->mode = HFI_LIST_RV_LAST;
	w->need_list = false;
	w->listed = true;
	w->retry_after_in_row = 0;
	w->last_list_ms = hfi_api_now_ms();
	return STEP_OK;
}

/* ---- WATCH ------------------------------------------------------------------- */

enum watch_outcome { WO_NONE = 0, WO_GONE, WO_BROKEN };

typedef struct watch_ctx {
	hfi_api_worker_t *w;
	char *line;
	size_t len, cap;
	bool established, slot;
	unsigned events;
	enum watch_outcome outcome;
	char reason[600];
} watch_ctx_t;

static void watch_headers(void *ctx, long status)
{
	watch_ctx_t *c = ctx;
	hfi_api_worker_t *w = c->w;
	if (c->slot) { /* in flight until the server answered */
		hfi_api_release(w->api);
		c->slot = false;
	}
	if (status != 200)
		return;
	c->established = true;
	hfi_sync_health(w->api->sync, w->res, true, "watch established", hfi_api_now_ms());
	if (w->failures > 0)
		hfi_log(HFI_LOG_INFO, HFI_API_LOG, "%s: watch established again after %u failed attempts",
			hfi_api_res_name(w->res), w->failures);
	w->failures = 0;
	w->retry_after_in_row = 0;
}

static bool set_rv(hfi_api_worker_t *w, const char *rv)
{
	if (rv == NULL || *rv == '\0' || (w->rv != NULL && strcmp(w->rv, rv) == 0))
		return true;
	char *n = strdup(rv);
	if (n == NULL)
		return false;
	free(w->rv);
	w->rv = n;
	return true;
}

static bool watch_line(watch_ctx_t *c, const char *line, size_t len)
{
	hfi_api_worker_t *w = c->w;
	hfi_api_t *api = w->api;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t s = 0;
	while (s < len && (line[s] == ' ' || line[s] == '\t'))
		s++;
	if (s == len)
		return true; /* keep-alive blank line */
	hfi_store_t *one = hfi_store_new(NULL);
	if (one == NULL) {
		snprintf(c->reason, sizeof(c->reason), "watch: out of memory");
		c->outcome = WO_BROKEN;
		return false;
	}
	hfi_api_event_t ev;
	char derr[400];
	int ret = hfi_api_decode_event(w->res, line + s, len - s, one, &w->opts, &ev, derr, sizeof(derr));
	bool ok = true;
	if (ret != HF_EOK) {
		snprintf(c->reason, sizeof(c->reason), "watch: %s%s", ret == HF_ENOMEM ? "" : "malformed event: ", derr);
		c->outcome = WO_BROKEN;
		ok = false;
		goto out;
	}
	int64_t now = hfi_api_now_ms();
	switch (ev.type) {
	case HFI_API_EV_ADDED:
	case HFI_API_EV_MODIFIED:
		if (ev.bad) {
			hfi_api_count(api, w->res, HFI_ST_BAD, 1);
			warn(w, "watch: skipped an object that could not be used: %s", derr);
		} else if (ev.stored) {
			ret = hfi_sync_apply_event(api->sync, w->res,
						   ev.type == HFI_API_EV_ADDED ? HFI_EV_ADDED : HFI_EV_MODIFIED,
						   one, NULL, NULL, now);
		}
		break;
	case HFI_API_EV_DELETED:
		ret = hfi_sync_apply_event(api->sync, w->res, HFI_EV_DELETED, one, ev.ns, ev.name, now);
		break;
	case HFI_API_EV_BOOKMARK:
		break;
	case HFI_API_EV_ERROR:
		hfi_api_count_status(api, ev.code);
		snprintf(c->reason, sizeof(c->reason), "watch: error event: %ld: %s", ev.code, ev.msg);
		c->outcome = ev.code == 410 ? WO_GONE : WO_BROKEN;
		ok = false;
		goto out;
	}
	if (ret != HF_EOK) {
		/* not applied: resume from before this event */
		snprintf(c->reason, sizeof(c->reason), "watch: cannot apply an event: %s", hf_strerror(ret));
		c->outcome = WO_BROKEN;
		ok = false;
		goto out;
	}
	c->events++;
	if (!set_rv(w, ev.rv)) {
		snprintf(c->reason, sizeof(c->reason), "watch: out of memory");
		c->outcome = WO_BROKEN;
		ok = false;
	}
out:
	hfi_api_event_fini(&ev);
	hfi_store_free(one);
	return ok && !stopping(w);
}

static bool watch_body(void *ctx, const char *p, size_t n)
{
	watch_ctx_t *c = ctx;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl != NULL ? (size_t)(nl - p) : n;
		if (nl != NULL && c->len == 0) { /* a whole line in place */
			if (!watch_line(c, p, take))
				return false;
		} else {
			if (c->len + take > HFI_API_MAX_LINE) {
				snprintf(c->reason, sizeof(c->reason), "watch: an event larger than %u bytes",
					 HFI_API_MAX_LINE);
				c->outcome = WO_BROKEN;
				return false;
			}
			if (c->len + take + 1 > c->cap) {
				size_t cap = c->cap ? c->cap : 65536;
				while (cap < c->len + take + 1)
					cap *= 2;
				char *nb = realloc(c->line, cap);
				if (nb == NULL) {
					snprintf(c->reason, sizeof(c->reason), "watch: out of memory");
					c->outcome = WO_BROKEN;
					return false;
				}
				c->line = nb;
				c->cap = cap;
			}
			memcpy(c->line + c->len, p, take);
			c->len += take;
			if (nl != NULL) {
				bool ok = watch_line(c, c->line, c->len);
				c->len = 0;
				if (!ok)
					return false;
			}
		}
		if (nl == NULL)
			break;
		p = nl + 1;
		n -= take + 1;
	}
	return true;
}

static enum step do_watch(hfi_api_worker_t *w)
{
	hfi_api_t *api = w->api;
	int span = api->watch_hi_s - api->watch_lo_s;
	int timeout_s = api->watch_lo_s + (span > 1 ? (int)(hfi_rng_unit(&w->rng) * span) : 0);
	char *url = build_url(w, true, w->rv, NULL, false, timeout_s);
	if (url == NULL)
		return fail(w, "watch: out of memory", -1);
	if (!hfi_api_admit(api)) {
		free(url);
		return STEP_STOP;
	}
	watch_ctx_t c = { .w = w, .slot = true };
	char *auth = hfi_api_token_header(&api->token, hfi_api_now_ms());
	hfi_api_count(api, w->res, HFI_ST_WATCH, 1);
	hfi_http_req_t req = {
		.url = url, .auth = auth, .first_byte_ms = api->watch_first_byte_ms,
		.idle_ms = (int64_t)timeout_s * 1000 + api->watch_grace_ms,
		.total_ms = (int64_t)timeout_s * 1000 + api->watch_grace_ms,
		.on_headers = watch_headers, .on_body = watch_body, .ctx = &c,
	};
	hfi_http_res_t res = { 0 };
	int64_t start = hfi_api_now_ms();
	int r = hfi_api_http_get(w->http, &req, &res);
	if (c.slot)
		hfi_api_release(api);
	free(url);
	free(c.line);
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	char reason[700];
	enum step st = STEP_OK;
	if (r == HFI_HTTP_STOPPED || stopping(w)) {
		st = STEP_STOP;
	} else if (r == HFI_HTTP_ABORTED) {
		if (c.outcome == WO_GONE) {
			hfi_log(HFI_LOG_INFO, HFI_API_LOG, "%s: %s; relisting", hfi_api_res_name(w->res), c.reason);
			st = STEP_RELIST;
		} else {
			st = fail(w, c.reason, -1);
		}
	} else if (r != HFI_HTTP_OK) {
		snprintf(reason, sizeof(reason), "watch: %s%s", c.established ? "stream broken: " : "", res.errmsg);
		st = fail(w, reason, -1);
	} else if (res.status == 410) {
		hfi_api_count_status(api, res.status);
		hfi_log(HFI_LOG_INFO, HFI_API_LOG, "%s: watch: resourceVersion too old (410 Gone); relisting",
			hfi_api_res_name(w->res));
		st = STEP_RELIST;
	} else if (res.status != 200) {
		hfi_api_count_status(api, res.status);
		st = status_fail(w, "watch", &res);
	} else if (c.events == 0 && hfi_api_now_ms() - start < HFI_API_SHORT_WATCH_MS) {
		st = fail(w, "watch: closed at once without any event (very short watch)", -1);
	}
	hfi_http_res_fini(&res);
	return st;
}

void *hfi_api_worker_main(void *arg)
{
	hfi_api_worker_t *w = arg;
	hfi_api_t *api = w->api;
	while (!stopping(w)) {
		enum step st;
		if (w->need_list) {
			st = do_list(w);
			if (st == STEP_STOP)
				break;
			if (st != STEP_OK)
				continue;
		}
		st = do_watch(w);
		if (st == STEP_STOP)
			break;
		if (st == STEP_RELIST) {
			w->need_list = true;
			hfi_api_count(api, w->res, HFI_ST_RELIST, 1);
			/* client-go waits a backoff step between ListAndWatch runs; a
			 * backoff of its own, so a 410 right after an outage is not
			 * delayed by the outage's long failure backoff, while 410s
			 * that keep coming still slow down */
			if (!hfi_api_sleep(api, hfi_backoff_next(&w->relist, hfi_api_now_ms())))
				break;
		}
	}
	return NULL;
}
