/*
 * manifest.c: the manifest source's entry points: files, globs and memory
 * buffers are parsed document by document (yaml_tree.c) and each object,
 * or each element of a List, is converted into the store
 * (manifest_convert.c).  List elements without a kind (raw API lists such
 * as a ServiceList) are kept until the end of their document, when the
 * List's own kind tells what they are.
 */
#include "manifest.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "holdfast.h"
#include "manifest_int.h"
#include "yaml_tree.h"

static const hfi_manifest_opts_t default_opts = { .load_pods = true, .load_slices = true };

static void set_err(char *err, size_t errlen, const char *name, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", name, msg);
}

static bool kindless(const hfi_yt_node_t *item)
{
	if (item->type != HFI_YT_MAP || !hfi_yt_is_null(hfi_yt_get(item, "kind")))
		return false;
	const hfi_yt_node_t *items = hfi_yt_get(item, "items");
	return items == NULL || items->type != HFI_YT_SEQ;
}

static int on_item(void *ctx, const hfi_yt_node_t *item, unsigned docno, size_t index)
{
	hfi_mf_ctx_t *c = ctx;
	c->docno = docno;
	if (kindless(item)) {
		int ret = hfi_mm_grow(c->mm, (void **)&c->deferred, &c->deferred_cap, c->ndeferred + 1,
				      sizeof(*c->deferred));
		if (ret != HF_EOK) {
			set_err(c->err, c->errlen, c->name, "out of memory");
			return ret;
		}
		c->deferred[c->ndeferred++] = (hfi_mf_deferred_t){ item, index };
		return 1; /* keep it until the List's kind is known */
	}
	char w[48];
	snprintf(w, sizeof(w), "items[%zu]", index);
	return hfi_mf_object(c, item, w, NULL, NULL, 1);
}

static int on_doc(void *ctx, const hfi_yt_node_t *root, unsigned docno)
{
	hfi_mf_ctx_t *c = ctx;
	c->docno = docno;
	int ret = hfi_mf_object(c, root, "", NULL, NULL, 0);
	if (ret == HF_EOK && c->ndeferred > 0) {
		char kbuf[64];
		const char *kind = hfi_mf_item_kind(root, kbuf, sizeof(kbuf));
		const char *api = NULL;
		const hfi_yt_node_t *an = hfi_yt_get(root, "apiVersion");
		if (an != NULL && an->type == HFI_YT_SCALAR && strlen(an->u.str) == an->len)
			api = an->u.str;
		for (size_t i = 0; kind != NULL && i < c->ndeferred && ret == HF_EOK; i++) {
			char w[48];
			snprintf(w, sizeof(w), "items[%zu]", c->deferred[i].index);
			ret = hfi_mf_object(c, c->deferred[i].node, w, kind, api, 1);
		}
	}
	c->ndeferred = 0;
	return ret;
}

static int load(hfi_store_t *st, const char *name, hfi_yt_read_fn read, void *data,
		const hfi_manifest_opts_t *opts, char *err, size_t errlen)
{
	if (opts == NULL)
		opts = &default_opts;
	hfi_mf_ctx_t c = {
		.st = st, .opts = opts, .mm = opts->tmp_mm, .name = name, .err = err, .errlen = errlen,
	};
	hfi_yt_callbacks_t cb = { .on_item = on_item, .on_doc = on_doc, .ctx = &c };
	int ret = hfi_yt_parse(name, read, data, c.mm, &cb, err, errlen);
	hfi_mf_ctx_fini(&c);
	return ret < 0 ? ret : c.stored;
}

int hfi_manifest_load_buf(hfi_store_t *st, const char *name, const char *buf, size_t len,
			  const hfi_manifest_opts_t *opts, char *err, size_t errlen)
{
	if (name == NULL)
		name = "-";
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (st == NULL || (buf == NULL && len > 0)) {
		set_err(err, errlen, name, "invalid argument");
		return HF_EINVAL;
	}
	if (len > HFI_YT_MAX_INPUT) {
		set_err(err, errlen, name, "larger than 1 GiB");
		return HF_ERANGE;
	}
	hfi_yt_buf_t src = { .p = buf, .len = len };
	return load(st, name, hfi_yt_read_buf, &src, opts, err, errlen);
}

int hfi_manifest_load_file(hfi_store_t *st, const char *path,
			   const hfi_manifest_opts_t *opts, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (st == NULL || path == NULL) {
		set_err(err, errlen, path ? path : "-", "invalid argument");
		return HF_EINVAL;
	}
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;
		set_err(err, errlen, path, strerror(e));
		return e == ENOENT || e == ENOTDIR ? HF_ENOENT : HF_EIO;
	}
	struct stat sb;
	int ret;
	if (fstat(fileno(f), &sb) != 0) {
		set_err(err, errlen, path, strerror(errno));
		ret = HF_EIO;
	} else if (S_ISDIR(sb.st_mode)) {
		set_err(err, errlen, path, "is a directory");
		ret = HF_EINVAL;
	} else if (S_ISREG(sb.st_mode) && (unsigned long long)sb.st_size > HFI_YT_MAX_INPUT) {
		set_err(err, errlen, path, "larger than 1 GiB");
		ret = HF_ERANGE;
	} else {
		ret = load(st, path, hfi_yt_read_file, f, opts, err, errlen);
	}
	fclose(f);
	return ret;
}

static int glob_errfunc(const char *epath, int eerrno)
{
	(void)epath;
	(void)eerrno;
	return 0; /* skip unreadable directories; missing matches are reported below */
}

int hfi_manifest_load_glob(hfi_store_t *st, const char *pattern,
			   const hfi_manifest_opts_t *opts, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (pattern == NULL || st == NULL) {
		set_err(err, errlen, pattern ? pattern : "-", "invalid argument");
		return HF_EINVAL;
	}
	if (strpbrk(pattern, "*?[") == NULL)
		return hfi_manifest_load_file(st, pattern, opts, err, errlen);
	glob_t g;
	memset(&g, 0, sizeof(g));
	int gr = glob(pattern, 0, glob_errfunc, &g);
	if (gr == GLOB_NOMATCH || (gr == 0 && g.gl_pathc == 0)) {
		globfree(&g);
		/* a file whose name merely looks like a pattern ("a[1].yaml") */
		if (access(pattern, F_OK) == 0)
			return hfi_manifest_load_file(st, pattern, opts, err, errlen);
		set_err(err, errlen, pattern, "no files match");
		return HF_ENOENT;
	}
	if (gr != 0) {
		globfree(&g);
		set_err(err, errlen, pattern, gr == GLOB_NOSPACE ? "out of memory" : "read error");
		return gr == GLOB_NOSPACE ? HF_ENOMEM : HF_EIO;
	}
	long total = 0;
	int ret = HF_EOK;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		ret = hfi_manifest_load_file(st, g.gl_pathv[i], opts, err, errlen);
		if (ret < 0)
			break;
		total += ret;
	}
	globfree(&g);
	if (ret < 0)
		return ret;
	return total > INT_MAX ? INT_MAX : (int)total;
}
