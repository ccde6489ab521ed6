/*
 * api_decode.c: API responses -> store objects, through the manifest
 * converter (libyaml reads JSON; yaml_tree streams a List's items one by
 * one).  A List page must be a well-formed List of the resource with a
 * resourceVersion; items that fail conversion (or are of another kind) are
 * skipped and counted, never fatal, but a page whose every item is bad is
 * a failed page.  A watch line must be one event {type, object}.
 */
#include "api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast.h"
#include "manifest_int.h"
#include "yaml_tree.h"

static const char *const res_kinds[HFI_RES_COUNT] = { "Namespace", "Service", "EndpointSlice", "Pod" };
static const char *const res_lists[HFI_RES_COUNT] = { "NamespaceList", "ServiceList",
						      "EndpointSliceList", "PodList" };

static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Scalar text without embedded NULs, else NULL. */
static const char *sstr(const hfi_yt_node_t *n)
{
	if (n == NULL || n->type != HFI_YT_SCALAR || strlen(n->u.str) != n->len)
		return NULL;
	return n->u.str;
}

static size_t res_count(const hfi_store_t *st, hfi_resource_t res)
{
	switch (res) {
	case HFI_RES_NAMESPACES: return hfi_store_count_namespaces(st);
	case HFI_RES_SERVICES: return hfi_store_count_services(st);
	case HFI_RES_SLICES: return hfi_store_count_slices(st);
	default: return hfi_store_count_pods(st);
	}
}

static bool api_ok(hfi_resource_t res, const char *api)
{
	if (api == NULL)
		return true;
	if (res == HFI_RES_SLICES)
		return strncmp(api, "discovery.k8s.io/", 17) == 0;
	return strcmp(api, "v1") == 0;
}

/*
 * One object of res into mf->st.  0 = stored or filtered out, 1 = bad
 * (skipped, why in mf->err), negative = fatal (out of memory).
 */
static int convert(hfi_mf_ctx_t *mf, hfi_resource_t res, const hfi_yt_node_t *obj, const char *where)
{
	if (obj == NULL || obj->type != HFI_YT_MAP) {
		errf(mf->err, mf->errlen, HF_EPARSE, "%s: %s: not an object", mf->name, where);
		return 1;
	}
	const hfi_yt_node_t *kn = hfi_yt_get(obj, "kind"), *an = hfi_yt_get(obj, "apiVersion");
	const char *kind = sstr(kn), *api = sstr(an);
	if ((!hfi_yt_is_null(kn) && (kind == NULL || strcmp(kind, res_kinds[res]) != 0)) ||
	    (!hfi_yt_is_null(an) && !api_ok(res, api))) {
		errf(mf->err, mf->errlen, HF_EPARSE, "%s: %s: a %.40s %.60s where a %s was expected", mf->name,
		     where, api ? api : "?", kind ? kind : "?", res_kinds[res]);
		return 1;
	}
	if (hfi_yt_get(obj, "items") != NULL) {
		errf(mf->err, mf->errlen, HF_EPARSE, "%s: %s: a List where a %s was expected", mf->name, where,
		     res_kinds[res]);
		return 1;
	}
	int ret = hfi_mf_object(mf, obj, where, res_kinds[res], res == HFI_RES_SLICES ? "discovery.k8s.io/v1" : "v1", 1);
	if (ret == HF_ENOMEM)
		return ret;
	return ret < 0 ? 1 : 0;
}

/* ---- List ------------------------------------------------------------------ */

typedef struct list_ctx {
	hfi_resource_t res;
	hfi_mf_ctx_t mf;
	hfi_api_list_info_t *info;
	const atomic_bool *stop;
	char why[320];
	char *err;
	size_t errlen;
	unsigned docs;
} list_ctx_t;

static int list_item(void *ctx, const hfi_yt_node_t *item, unsigned docno, size_t index)
{
	list_ctx_t *l = ctx;
	(void)docno;
	if (l->docs > 0)
		return HF_EOK; /* a second document: on_doc rejects it */
	if (l->stop != NULL && (l->info->items & 255) == 255 && atomic_load(l->stop))
		return errf(l->err, l->errlen, HF_EIO, "%s: stopped", l->mf.name);
	l->info->items++;
	char w[48];
	snprintf(w, sizeof(w), "items[%zu]", index);
	l->why[0] = '\0';
	int ret = convert(&l->mf, l->res, item, w);
	if (ret < 0)
		return errf(l->err, l->errlen, ret, "out of memory");
	if (ret == 1) {
		if (l->info->bad++ == 0)
			snprintf(l->info->first_bad, sizeof(l->info->first_bad), "%s", l->why);
	}
	return HF_EOK;
}

static int list_doc(void *ctx, const hfi_yt_node_t *root, unsigned docno)
{
	list_ctx_t *l = ctx;
	(void)docno;
	if (l->docs++ > 0)
		return errf(l->err, l->errlen, HF_EPARSE, "%s: more than one document", l->mf.name);
	if (root == NULL || root->type != HFI_YT_MAP)
		return errf(l->err, l->errlen, HF_EPARSE, "%s: not a List (expected an object)", l->mf.name);
	const char *kind = sstr(hfi_yt_get(root, "kind"));
	if (kind == NULL || (strcmp(kind, res_lists[l->res]) != 0 && strcmp(kind, "List") != 0))
		return errf(l->err, l->errlen, HF_EPARSE, "%s: not a %s (kind %.60s)", l->mf.name,
			    res_lists[l->res], kind ? kind : "missing");
	const hfi_yt_node_t *items = hfi_yt_get(root, "items");
	if (items == NULL || (items->type != HFI_YT_SEQ && !hfi_yt_is_null(items)))
		return errf(l->err, l->errlen, HF_EPARSE, "%s: %s without an items list", l->mf.name, kind);
	if (items->type == HFI_YT_SEQ && !items->streamed) { /* not at the top: cannot happen */
		for (size_t i = 0; i < items->len; i++) {
			int ret = list_item(ctx, items->u.kids[i], docno, i);
			if (ret < 0)
				return ret;
		}
	}
	const hfi_yt_node_t *meta = hfi_yt_get(root, "metadata");
	const char *rv = sstr(hfi_yt_get(meta, "resourceVersion"));
	if (rv == NULL || *rv == '\0')
		return errf(l->err, l->errlen, HF_EPARSE, "%s: %s without metadata.resourceVersion", l->mf.name, kind);
	const char *cont = sstr(hfi_yt_get(meta, "continue"));
	l->info->rv = strdup(rv);
	if (cont != NULL && *cont != '\0')
		l->info->cont = strdup(cont);
	if (l->info->rv == NULL || (cont != NULL && *cont != '\0' && l->info->cont == NULL))
		return errf(l->err, l->errlen, HF_ENOMEM, "out of memory");
	return HF_EOK;
}

void hfi_api_list_info_fini(hfi_api_list_info_t *info)
{
	free(info->rv);
	free(info->cont);
	memset(info, 0, sizeof(*info));
}

int hfi_api_decode_list(hfi_resource_t res, const char *body, size_t len, hfi_store_t *scratch,
			const hfi_manifest_opts_t *opts, const atomic_bool *stop, hfi_api_list_info_t *info,
			char *err, size_t errlen)
{
	memset(info, 0, sizeof(*info));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (res >= HFI_RES_COUNT || scratch == NULL || opts == NULL)
		return errf(err, errlen, HF_EINVAL, "invalid argument");
	char name[48];
	snprintf(name, sizeof(name), "%s list", hfi_api_res_name(res));
	list_ctx_t l = { .res = res, .info = info, .stop = stop, .err = err, .errlen = errlen };
	l.mf = (hfi_mf_ctx_t){ .st = scratch, .opts = opts, .name = name, .docno = 1,
			       .err = l.why, .errlen = sizeof(l.why) };
	if (len == 0) {
		hfi_mf_ctx_fini(&l.mf);
		return errf(err, errlen, HF_EPARSE, "%s: empty response", name);
	}
	hfi_yt_buf_t src = { .p = body, .len = len };
	hfi_yt_callbacks_t cb = { .on_item = list_item, .on_doc = list_doc, .ctx = &l };
	char yerr[256];
	int ret = hfi_yt_parse(name, hfi_yt_read_buf, &src, NULL, &cb, yerr, sizeof(yerr));
	hfi_mf_ctx_fini(&l.mf);
	if (ret != HF_EOK && yerr[0] != '\0')
		errf(err, errlen, ret, "%s", yerr);
	if (ret == HF_EOK && l.docs == 0)
		ret = errf(err, errlen, HF_EPARSE, "%s: empty response", name);
	if (ret == HF_EOK && info->items > 0 && info->bad == info->items)
		ret = errf(err, errlen, HF_EPARSE, "%s: none of the %zu items could be used (%s)", name,
			   info->items, info->first_bad);
	if (ret != HF_EOK && ret != HF_ENOMEM && ret != HF_EIO)
		ret = HF_EPARSE;
	if (ret != HF_EOK) {
		free(info->rv);
		free(info->cont);
		info->rv = info->cont = NULL;
	}
	return ret;
}

/* ---- watch events ------------------------------------------------------------- */

typedef struct ev_ctx {
	hfi_resource_t res;
	hfi_mf_ctx_t mf;
	hfi_store_t *one;
	hfi_api_event_t *ev;
	char *err;
	size_t errlen;
	unsigned docs;
} ev_ctx_t;

static long parse_code(const hfi_yt_node_t *n)
{
	const char *s = sstr(n);
	if (s == NULL || *s == '\0' || strlen(s) > 9)
		return 0;
	long v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static int ev_doc(void *ctx, const hfi_yt_node_t *root, unsigned docno)
{
	ev_ctx_t *e = ctx;
	hfi_api_event_t *ev = e->ev;
	(void)docno;
	if (e->docs++ > 0)
		return errf(e->err, e->errlen, HF_EPARSE, "%s: more than one document", e->mf.name);
	if (root == NULL || root->type != HFI_YT_MAP)
		return errf(e->err, e->errlen, HF_EPARSE, "%s: not an event object", e->mf.name);
	const char *type = sstr(hfi_yt_get(root, "type"));
	const hfi_yt_node_t *obj = hfi_yt_get(root, "object");
	if (type == NULL)
		return errf(e->err, e->errlen, HF_EPARSE, "%s: event without a type", e->mf.name);
	if (obj == NULL || obj->type != HFI_YT_MAP)
		return errf(e->err, e->errlen, HF_EPARSE, "%s: %.20s event without an object", e->mf.name, type);
	const hfi_yt_node_t *meta = hfi_yt_get(obj, "metadata");
	const char *rv = sstr(hfi_yt_get(meta, "resourceVersion"));
	if (rv != NULL && *rv != '\0' && (ev->rv = strdup(rv)) == NULL)
		return errf(e->err, e->errlen, HF_ENOMEM, "out of memory");
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		ev->type = type[0] == 'A' ? HFI_API_EV_ADDED : HFI_API_EV_MODIFIED;
		int ret = convert(&e->mf, e->res, obj, "object");
		if (ret < 0)
			return errf(e->err, e->errlen, ret, "out of memory");
		ev->bad = ret == 1;
		ev->stored = res_count(e->one, e->res) > 0;
		return HF_EOK;
	}
	if (strcmp(type, "DELETED") == 0) {
		ev->type = HFI_API_EV_DELETED;
		const char *name = sstr(hfi_yt_get(meta, "name"));
		const char *ns = sstr(hfi_yt_get(meta, "namespace"));
		if (name == NULL || *name == '\0')
			return errf(e->err, e->errlen, HF_EPARSE, "%s: DELETED event without metadata.name", e->mf.name);
		if (e->res != HFI_RES_NAMESPACES && (ns == NULL || *ns == '\0'))
			ns = "default";
		if ((ev->name = strdup(name)) == NULL ||
		    (e->res != HFI_RES_NAMESPACES && (ev->ns = strdup(ns)) == NULL))
			return errf(e->err, e->errlen, HF_ENOMEM, "out of memory");
		return HF_EOK;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		ev->type = HFI_API_EV_BOOKMARK;
		if (ev->rv == NULL)
			return errf(e->err, e->errlen, HF_EPARSE, "%s: BOOKMARK without metadata.resourceVersion",
				    e->mf.name);
		return HF_EOK;
	}
	if (strcmp(type, "ERROR") == 0) {
		ev->type = HFI_API_EV_ERROR;
		free(ev->rv); /* a Status has no useful resourceVersion */
		ev->rv = NULL;
		ev->code = parse_code(hfi_yt_get(obj, "code"));
		const char *msg = sstr(hfi_yt_get(obj, "message"));
		snprintf(ev->msg, sizeof(ev->msg), "%s", msg ? msg : "");
		return HF_EOK;
	}
	return errf(e->err, e->errlen, HF_EPARSE, "%s: unknown event type \"%.20s\"", e->mf.name, type);
}

void hfi_api_event_fini(hfi_api_event_t *ev)
{
	free(ev->rv);
	free(ev->ns);
	free(ev->name);
	memset(ev, 0, sizeof(*ev));
}

int hfi_api_decode_event(hfi_resource_t res, const char *line, size_t len, hfi_store_t *one,
			 const hfi_manifest_opts_t *opts, hfi_api_event_t *ev, char *err, size_t errlen)
{
	memset(ev, 0, sizeof(*ev));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (res >= HFI_RES_COUNT || one == NULL || opts == NULL)
		return errf(err, errlen, HF_EINVAL, "invalid argument");
	char name[48];
	snprintf(name, sizeof(name), "%s watch", hfi_api_res_name(res));
	ev_ctx_t e = { .res = res, .one = one, .ev = ev, .err = err, .errlen = errlen };
	e.mf = (hfi_mf_ctx_t){ .st = one, .opts = opts, .name = name, .docno = 1, .err = err, .errlen = errlen };
	hfi_yt_buf_t src = { .p = line, .len = len };
	hfi_yt_callbacks_t cb = { .on_doc = ev_doc, .ctx = &e };
	char yerr[256];
	int ret = hfi_yt_parse(name, hfi_yt_read_buf, &src, NULL, &cb, yerr, sizeof(yerr));
	hfi_mf_ctx_fini(&e.mf);
	if (ret != HF_EOK && yerr[0] != '\0')
		errf(err, errlen, ret, "%s", yerr);
	if (ret == HF_EOK && e.docs == 0)
		ret = errf(err, errlen, HF_EPARSE, "%s: empty event", name);
	if (ret != HF_EOK) {
		hfi_api_event_fini(ev);
		return ret == HF_ENOMEM ? ret : HF_EPARSE;
	}
	return HF_EOK;
}

/* ---- Status -------------------------------------------------------------------- */

typedef struct st_ctx {
	long *code;
	char *msg;
	size_t msglen;
} st_ctx_t;

static int st_doc(void *ctx, const hfi_yt_node_t *root, unsigned docno)
{
	st_ctx_t *s = ctx;
	if (docno != 1 || root == NULL || root->type != HFI_YT_MAP)
		return HF_EOK;
	long c = parse_code(hfi_yt_get(root, "code"));
	if (c > 0)
		*s->code = c;
	const char *m = sstr(hfi_yt_get(root, "message"));
	if (m != NULL && s->msglen > 0)
		snprintf(s->msg, s->msglen, "%s", m);
	return HF_EOK;
}

void hfi_api_decode_status(const char *body, size_t len, long *code, char *msg, size_t msglen)
{
	*code = 0;
	if (msglen > 0)
		msg[0] = '\0';
	if (body == NULL || len == 0)
		return;
	st_ctx_t s = { .code = code, .msg = msg, .msglen = msglen };
	hfi_yt_buf_t src = { .p = body, .len = len };
	hfi_yt_callbacks_t cb = { .on_doc = st_doc, .ctx = &s };
	char yerr[128];
	(void)hfi_yt_parse("status", hfi_yt_read_buf, &src, NULL, &cb, yerr, sizeof(yerr));
	/* not a Status: show the start of the body, printable only */
	if (msglen > 0 && msg[0] == '\0') {
		size_t o = 0;
		for (size_t i = 0; i < len && o + 1 < msglen && o < 160; i++) {
			unsigned char ch = (unsigned char)body[i];
			msg[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
		}
		msg[o] = '\0';
	}
}
