/*
 * api_kubeconfig.c: where the API source connects and how it
 * authenticates (spec 4.1): `kubeconfig FILE [CONTEXT]` (parsed with
 * libyaml through yaml_tree: cluster server, certificate-authority(-data),
 * insecure-skip-tls-verify, proxy-url; user client-certificate(-data),
 * client-key(-data), token, tokenFile, username/password), else
 * `endpoint URL` with `tls CERT KEY CACERT`, else the in-cluster service
 * account.  Errors read like client-go's.
 */
#include "api_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holdfast.h"
#include "log.h"
#include "yaml_tree.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_TOKEN (64u << 10)
#define MAX_KUBECONFIG (16u << 20)

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

void hfi_api_conn_free(hfi_api_conn_t *c)
{
	if (c == NULL)
		return;
	const hf_mm_t *mm = c->mm;
	hfi_mm_free(mm, c->server);
	hfi_mm_free(mm, c->ca_file);
	hfi_mm_free(mm, c->ca_data.data);
	hfi_mm_free(mm, c->cert_file);
	hfi_mm_free(mm, c->key_file);
	hfi_mm_free(mm, c->cert_data.data);
	if (c->key_data.data != NULL)
		explicit_bzero(c->key_data.data, c->key_data.len);
	hfi_mm_free(mm, c->key_data.data);
	if (c->token != NULL)
		explicit_bzero(c->token, strlen(c->token));
	hfi_mm_free(mm, c->token);
	hfi_mm_free(mm, c->token_file);
	hfi_mm_free(mm, c->username);
	if (c->password != NULL)
		explicit_bzero(c->password, strlen(c->password));
	hfi_mm_free(mm, c->password);
	hfi_mm_free(mm, c->proxy);
	memset(c, 0, sizeof(*c));
	c->mm = mm;
}

/* ---- helpers -------------------------------------------------------------- */

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int hfi_api_base64_decode(const hf_mm_t *mm, const char *in, size_t len, hfi_api_blob_t *out)
{
	out->data = NULL;
	out->len = 0;
	unsigned char *d = hfi_mm_alloc(mm, len / 4 * 3 + 4);
	if (d == NULL)
		return HF_ENOMEM;
	size_t o = 0, pad = 0;
	unsigned acc = 0, nbits = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		int v = b64val(ch);
		if (v < 0 || pad > 0) /* bad character, or data after padding */
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			d[o++] = (unsigned char)(acc >> nbits);
			acc &= (1u << nbits) - 1;
		}
	}
	/* 6 leftover bits = a lone character: not base64; padding at most 2 */
	if (nbits >= 6 || pad > 2)
		goto bad;
	d[o] = '\0';
	out->data = d;
	out->len = o;
	return HF_EOK;
bad:
	hfi_mm_free(mm, d);
	return HF_EINVAL;
}

int hfi_api_read_token(const hf_mm_t *mm, const char *path, char **out)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return errno == ENOENT ? HF_ENOENT : HF_EIO;
	char *buf = hfi_mm_alloc(mm, MAX_TOKEN + 1);
	if (buf == NULL) {
		fclose(f);
		return HF_ENOMEM;
	}
	size_t n = fread(buf, 1, MAX_TOKEN + 1, f);
	bool bad = ferror(f) || n > MAX_TOKEN;
	fclose(f);
	if (bad) {
		explicit_bzero(buf, n < MAX_TOKEN + 1 ? n : MAX_TOKEN + 1);
		hfi_mm_free(mm, buf);
		return n > MAX_TOKEN ? HF_ERANGE : HF_EIO;
	}
	size_t s = 0, e = n;
	while (s < e && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r' || buf[s] == '\n'))
		s++;
	while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\r' || buf[e - 1] == '\n'))
		e--;
	/* a token is one header value: no control bytes */
	for (size_t i = s; i < e; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			explicit_bzero(buf, n);
			hfi_mm_free(mm, buf);
			return HF_EINVAL;
		}
	}
	char *t = hfi_mm_strndup(mm, buf + s, e - s);
	explicit_bzero(buf, n);
	hfi_mm_free(mm, buf);
	if (t == NULL)
		return HF_ENOMEM;
	*out = t;
	return HF_EOK;
}

/* dir + "/" + p unless p is absolute; NULL p -> NULL (ok). */
static int join_path(const hf_mm_t *mm, const char *dir, const char *p, char **out)
{
	*out = NULL;
	if (p == NULL || *p == '\0')
		return HF_EOK;
	if (p[0] == '/' || dir == NULL || *dir == '\0') {
		*out = hfi_mm_strdup(mm, p);
		return *out ? HF_EOK : HF_ENOMEM;
	}
	size_t dl = strlen(dir), pl = strlen(p);
	char *r = hfi_mm_alloc(mm, dl + pl + 2);
	if (r == NULL)
		return HF_ENOMEM;
	memcpy(r, dir, dl);
	r[dl] = '/';
	memcpy(r + dl + 1, p, pl + 1);
	*out = r;
	return HF_EOK;
}

static int dup_str(const hf_mm_t *mm, const char *s, char **out)
{
	*out = NULL;
	if (s == NULL)
		return HF_EOK;
	*out = hfi_mm_strdup(mm, s);
	return *out ? HF_EOK : HF_ENOMEM;
}

/* URL for the server: "host:port" without scheme gets https:// when TLS is
 * configured, else http:// (client-go DefaultServerURL); trailing '/' dropped. */
static int server_url(const hf_mm_t *mm, const char *s, bool tls, char **out)
{
	*out = NULL;
	const char *scheme = strstr(s, "://") != NULL ? "" : tls ? "https://" : "http://";
	size_t sl = strlen(scheme), l = strlen(s);
	while (l > 0 && s[l - 1] == '/')
		l--;
	char *r = hfi_mm_alloc(mm, sl + l + 1);
	if (r == NULL)
		return HF_ENOMEM;
	memcpy(r, scheme, sl);
	memcpy(r + sl, s, l);
	r[sl + l] = '\0';
	*out = r;
	return HF_EOK;
}

static bool valid_server(const char *url)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return false;
	const char *h = strstr(url, "://") + 3;
	if (*h == '\0' || *h == '/')
		return false;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int check_readable(const char *kc, const char *what, const char *path, const char *ctx,
			  char *err, size_t errlen)
{
	if (path == NULL || access(path, R_OK) == 0)
		return HF_EOK;
	return errf(err, errlen, HF_ECONFIG, "%s%s%sunable to read %s %s for %s due to %s", kc ? "kubeconfig " : "",
		    kc ? kc : "", kc ? ": " : "", what, path, ctx, strerror(errno));
}

/* ---- kubeconfig ------------------------------------------------------------ */

typedef struct kc_ctx {
	const char *path, *context;
	char *dir;
	const hf_mm_t *mm;
	hfi_api_conn_t *out;
	char *err;
	size_t errlen;
	bool seen;
} kc_ctx_t;

/* Scalar text of map[key]: NULL when absent/null; HF_ECONFIG if not a string. */
static int kc_str(kc_ctx_t *k, const hfi_yt_node_t *map, const char *key, const char *where,
		  const char **out)
{
	*out = NULL;
	const hfi_yt_node_t *n = hfi_yt_get(map, key);
	if (hfi_yt_is_null(n))
		return HF_EOK;
	if (n->type != HFI_YT_SCALAR || strlen(n->u.str) != n->len)
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s: %s must be a string",
			    k->path, where, key);
	*out = n->u.str;
	return HF_EOK;
}

static int kc_bool(kc_ctx_t *k, const hfi_yt_node_t *map, const char *key, const char *where,
		   bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };
	*out = false;
	const hfi_yt_node_t *n = hfi_yt_get(map, key);
	if (hfi_yt_is_null(n))
		return HF_EOK;
	if (n->type == HFI_YT_SCALAR) {
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			if (hfi_yt_str_eq(n, yes[i])) {
				*out = true;
				return HF_EOK;
			}
			if (hfi_yt_str_eq(n, no[i]))
				return HF_EOK;
		}
	}
	return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s: %s must be a boolean", k->path,
		    where, key);
}

/* The entry named name in a list of {name: N, <field>: {...}}; NULL if none.
 * Duplicate names are an error (client-go). */
static int kc_named(kc_ctx_t *k, const hfi_yt_node_t *root, const char *list, const char *field,
		    const char *name, const hfi_yt_node_t **out)
{
	*out = NULL;
	const hfi_yt_node_t *seq = hfi_yt_get(root, list);
	if (hfi_yt_is_null(seq))
		return HF_EOK;
	if (seq->type != HFI_YT_SEQ)
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s must be a list", k->path, list);
	for (size_t i = 0; i < seq->len; i++) {
		const hfi_yt_node_t *e = seq->u.kids[i];
		if (e->type != HFI_YT_MAP)
			return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s[%zu] must be a mapping",
				    k->path, list, i);
		const hfi_yt_node_t *nn = hfi_yt_get(e, "name");
		if (nn == NULL || nn->type != HFI_YT_SCALAR || strlen(nn->u.str) != nn->len ||
		    strcmp(nn->u.str, name) != 0)
			continue;
		if (*out != NULL)
			return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: duplicate name \"%s\" in %s",
				    k->path, name, list);
		const hfi_yt_node_t *body = hfi_yt_get(e, field);
		if (!hfi_yt_is_null(body) && body->type != HFI_YT_MAP)
			return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s \"%s\": %s must be a mapping",
				    k->path, list, name, field);
		*out = body != NULL ? body : e; /* an empty body: any map without the keys */
	}
	return HF_EOK;
}

static int kc_data(kc_ctx_t *k, const char *b64, const char *what, hfi_api_blob_t *out)
{
	int ret = hfi_api_base64_decode(k->mm, b64, strlen(b64), out);
	if (ret == HF_EINVAL)
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s is not valid base64", k->path, what);
	if (ret != HF_EOK)
		return errf(k->err, k->errlen, ret, "out of memory");
	return HF_EOK;
}

static int kc_cluster(kc_ctx_t *k, const hfi_yt_node_t *cl, const char *cname)
{
	hfi_api_conn_t *o = k->out;
	char where[96];
	snprintf(where, sizeof(where), "cluster \"%.60s\"", cname);
	const char *server, *ca, *cadata, *proxy;
	int ret;
	if ((ret = kc_str(k, cl, "server", where, &server)) != HF_EOK ||
	    (ret = kc_str(k, cl, "certificate-authority", where, &ca)) != HF_EOK ||
	    (ret = kc_str(k, cl, "certificate-authority-data", where, &cadata)) != HF_EOK ||
	    (ret = kc_str(k, cl, "proxy-url", where, &proxy)) != HF_EOK ||
	    (ret = kc_bool(k, cl, "insecure-skip-tls-verify", where, &o->insecure)) != HF_EOK)
		return ret;
	if (server == NULL || *server == '\0')
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s has no server defined",
			    k->path, where);
	bool has_ca = (ca != NULL && *ca) || (cadata != NULL && *cadata);
	if (o->insecure && has_ca)
		return errf(k->err, k->errlen, HF_ECONFIG,
			    "kubeconfig %s: %s: specifying a root certificates file with the insecure flag is not allowed",
			    k->path, where);
	if ((ret = server_url(k->mm, server, true, &o->server)) != HF_EOK)
		return errf(k->err, k->errlen, ret, "out of memory");
	if (!valid_server(o->server))
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s: invalid server URL \"%.120s\"",
			    k->path, where, server);
	if (cadata != NULL && *cadata) { /* data overrides the file */
		if ((ret = kc_data(k, cadata, "certificate-authority-data", &o->ca_data)) != HF_EOK)
			return ret;
	} else if ((ret = join_path(k->mm, k->dir, ca, &o->ca_file)) != HF_EOK) {
		return errf(k->err, k->errlen, ret, "out of memory");
	}
	if (proxy != NULL && *proxy && (ret = dup_str(k->mm, proxy, &o->proxy)) != HF_EOK)
		return errf(k->err, k->errlen, ret, "out of memory");
	return check_readable(k->path, "certificate-authority", o->ca_file, where, k->err, k->errlen);
}

static int kc_user(kc_ctx_t *k, const hfi_yt_node_t *u, const char *uname)
{
	hfi_api_conn_t *o = k->out;
	char where[96];
	snprintf(where, sizeof(where), "user \"%.60s\"", uname);
	const char *cert, *certdata, *key, *keydata, *token, *tokfile, *user, *pass;
	int ret;
	if ((ret = kc_str(k, u, "client-certificate", where, &cert)) != HF_EOK ||
	    (ret = kc_str(k, u, "client-certificate-data", where, &certdata)) != HF_EOK ||
	    (ret = kc_str(k, u, "client-key", where, &key)) != HF_EOK ||
	    (ret = kc_str(k, u, "client-key-data", where, &keydata)) != HF_EOK ||
	    (ret = kc_str(k, u, "token", where, &token)) != HF_EOK ||
	    (ret = kc_str(k, u, "tokenFile", where, &tokfile)) != HF_EOK ||
	    (ret = kc_str(k, u, "username", where, &user)) != HF_EOK ||
	    (ret = kc_str(k, u, "password", where, &pass)) != HF_EOK)
		return ret;
	bool has_cert = (cert && *cert) || (certdata && *certdata);
	bool has_key = (key && *key) || (keydata && *keydata);
	if (has_cert != has_key)
		return errf(k->err, k->errlen, HF_ECONFIG,
			    "kubeconfig %s: %s: %s must be specified to use the clientCert authentication method",
			    k->path, where, has_cert ? "client-key-data or client-key" : "client-cert-data or client-cert");
	bool has_token = (token && *token) || (tokfile && *tokfile);
	bool has_basic = user && *user;
	if (!has_cert && !has_token && !has_basic &&
	    (!hfi_yt_is_null(hfi_yt_get(u, "exec")) || !hfi_yt_is_null(hfi_yt_get(u, "auth-provider"))))
		return errf(k->err, k->errlen, HF_ECONFIG,
			    "kubeconfig %s: %s uses exec or auth-provider credentials, which are not supported: "
			    "use a token, tokenFile or client certificate",
			    k->path, where);
	if (certdata && *certdata) {
		if ((ret = kc_data(k, certdata, "client-certificate-data", &o->cert_data)) != HF_EOK)
			return ret;
	} else if ((ret = join_path(k->mm, k->dir, cert, &o->cert_file)) != HF_EOK) {
		return errf(k->err, k->errlen, ret, "out of memory");
	}
	if (keydata && *keydata) {
		if ((ret = kc_data(k, keydata, "client-key-data", &o->key_data)) != HF_EOK)
			return ret;
	} else if ((ret = join_path(k->mm, k->dir, key, &o->key_file)) != HF_EOK) {
		return errf(k->err, k->errlen, ret, "out of memory");
	}
	if ((token && *token && (ret = dup_str(k->mm, token, &o->token)) != HF_EOK) ||
	    (ret = join_path(k->mm, k->dir, tokfile, &o->token_file)) != HF_EOK ||
	    (has_basic && (ret = dup_str(k->mm, user, &o->username)) != HF_EOK) ||
	    (has_basic && (ret = dup_str(k->mm, pass ? pass : "", &o->password)) != HF_EOK))
		return errf(k->err, k->errlen, ret, "out of memory");
	if ((ret = check_readable(k->path, "client-cert", o->cert_file, where, k->err, k->errlen)) != HF_EOK ||
	    (ret = check_readable(k->path, "client-key", o->key_file, where, k->err, k->errlen)) != HF_EOK)
		return ret;
	if (o->token == NULL && o->token_file != NULL) {
		/* client-go reads it now when there is no static token */
		char *t = NULL;
		ret = hfi_api_read_token(k->mm, o->token_file, &t);
		if (ret == HF_ENOMEM)
			return errf(k->err, k->errlen, ret, "out of memory");
		if (ret != HF_EOK)
			return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s: cannot read tokenFile %s: %s",
				    k->path, where, o->token_file,
				    ret == HF_ENOENT ? "no such file" : ret == HF_EINVAL ? "not a token" : "read error");
		explicit_bzero(t, strlen(t));
		hfi_mm_free(k->mm, t);
	}
	return HF_EOK;
}

static int kc_doc(void *ctx, const hfi_yt_node_t *root, unsigned docno)
{
	kc_ctx_t *k = ctx;
	(void)docno;
	if (k->seen || root == NULL)
		return HF_EOK; /* only the first document counts */
	k->seen = true;
	if (root->type != HFI_YT_MAP)
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: not a kubeconfig (expected a mapping)",
			    k->path);
	const char *ctxname = k->context;
	int ret;
	if (ctxname == NULL || *ctxname == '\0') {
		if ((ret = kc_str(k, root, "current-context", "top level", &ctxname)) != HF_EOK)
			return ret;
		if (ctxname == NULL || *ctxname == '\0')
			return errf(k->err, k->errlen, HF_ECONFIG,
				    "kubeconfig %s: invalid configuration: no current-context set and no context given",
				    k->path);
	}
	const hfi_yt_node_t *cx;
	if ((ret = kc_named(k, root, "contexts", "context", ctxname, &cx)) != HF_EOK)
		return ret;
	if (cx == NULL)
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: context \"%.100s\" does not exist",
			    k->path, ctxname);
	char where[128];
	snprintf(where, sizeof(where), "context \"%.100s\"", ctxname);
	const char *cname, *uname;
	if ((ret = kc_str(k, cx, "cluster", where, &cname)) != HF_EOK ||
	    (ret = kc_str(k, cx, "user", where, &uname)) != HF_EOK)
		return ret;
	if (cname == NULL || *cname == '\0')
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: %s has no cluster", k->path, where);
	const hfi_yt_node_t *cl;
	if ((ret = kc_named(k, root, "clusters", "cluster", cname, &cl)) != HF_EOK)
		return ret;
	if (cl == NULL)
		return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: cluster \"%.100s\" (of %s) does not exist",
			    k->path, cname, where);
	if ((ret = kc_cluster(k, cl, cname)) != HF_EOK)
		return ret;
	if (uname != NULL && *uname != '\0') {
		const hfi_yt_node_t *u;
		if ((ret = kc_named(k, root, "users", "user", uname, &u)) != HF_EOK)
			return ret;
		if (u == NULL)
			return errf(k->err, k->errlen, HF_ECONFIG, "kubeconfig %s: user \"%.100s\" (of %s) does not exist",
				    k->path, uname, where);
		if ((ret = kc_user(k, u, uname)) != HF_EOK)
			return ret;
	}
	snprintf(k->out->source, sizeof(k->out->source), "kubeconfig %.90s (context %.40s)", k->path, ctxname);
	return HF_EOK;
}

int hfi_api_kubeconfig_load(const char *path, const char *context, const hf_mm_t *mm,
			    hfi_api_conn_t *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->mm = mm;
	if (path == NULL || *path == '\0')
		return errf(err, errlen, HF_EINVAL, "kubeconfig: no file given");
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return errf(err, errlen, HF_ECONFIG, "kubeconfig %s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) == 0) {
		long sz = ftell(f);
		if (sz > (long)MAX_KUBECONFIG) {
			fclose(f);
			return errf(err, errlen, HF_ECONFIG, "kubeconfig %s: larger than 16 MiB", path);
		}
		rewind(f);
	}
	kc_ctx_t k = { .path = path, .context = context, .mm = mm, .out = out, .err = err, .errlen = errlen };
	const char *slash = strrchr(path, '/');
	if (slash != NULL) {
		k.dir = hfi_mm_strndup(mm, path, slash == path ? 1 : (size_t)(slash - path));
		if (k.dir == NULL) {
			fclose(f);
			return errf(err, errlen, HF_ENOMEM, "out of memory");
		}
	}
	hfi_yt_callbacks_t cb = { .on_doc = kc_doc, .ctx = &k };
	char yerr[256];
	int ret = hfi_yt_parse(path, hfi_yt_read_file, f, mm, &cb, yerr, sizeof(yerr));
	fclose(f);
	hfi_mm_free(mm, k.dir);
	if (ret == HF_EOK && !k.seen)
		ret = errf(err, errlen, HF_ECONFIG, "kubeconfig %s: empty file", path);
	else if (ret == HF_EPARSE || ret == HF_EIO || ret == HF_ERANGE)
		ret = errf(err, errlen, HF_ECONFIG, "kubeconfig %s", yerr);
	else if (ret == HF_ENOMEM && yerr[0] != '\0')
		ret = errf(err, errlen, HF_ENOMEM, "out of memory");
	if (ret != HF_EOK)
		hfi_api_conn_free(out);
	return ret;
}

/* ---- in-cluster ------------------------------------------------------------- */

int hfi_api_incluster(const hf_mm_t *mm, hfi_api_conn_t *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->mm = mm;
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (host == NULL || *host == '\0' || port == NULL || *port == '\0')
		return errf(err, errlen, HF_ECONFIG,
			    "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
			    "KUBERNETES_SERVICE_PORT must be defined");
	const char *dir = getenv("HF_SA_DIR");
	if (dir == NULL || *dir == '\0')
		dir = SA_DIR;
	bool v6 = strchr(host, ':') != NULL;
	size_t n = strlen(host) + strlen(port) + 16;
	char *url = hfi_mm_alloc(mm, n);
	if (url == NULL)
		return errf(err, errlen, HF_ENOMEM, "out of memory");
	snprintf(url, n, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
	out->server = url;
	int ret;
	if ((ret = join_path(mm, dir, "token", &out->token_file)) != HF_EOK ||
	    (ret = join_path(mm, dir, "ca.crt", &out->ca_file)) != HF_EOK) {
		hfi_api_conn_free(out);
		return errf(err, errlen, ret, "out of memory");
	}
	if (!valid_server(out->server)) {
		ret = errf(err, errlen, HF_ECONFIG, "in-cluster configuration: invalid address \"%.100s\"",
			   out->server);
		hfi_api_conn_free(out);
		return ret;
	}
	char *t = NULL;
	ret = hfi_api_read_token(mm, out->token_file, &t);
	if (ret != HF_EOK) {
		ret = ret == HF_ENOMEM ? errf(err, errlen, ret, "out of memory")
				       : errf(err, errlen, HF_ECONFIG, "in-cluster configuration: cannot read %s: %s",
					      out->token_file, ret == HF_ENOENT ? "no such file" : "read error");
		hfi_api_conn_free(out);
		return ret;
	}
	explicit_bzero(t, strlen(t));
	hfi_mm_free(mm, t);
	if (access(out->ca_file, R_OK) != 0) {
		/* client-go logs this and goes on with the system roots */
		hfi_log(HFI_LOG_ERROR, HFI_API_LOG, "Expected to load root CA config from %s, but got err: %s",
			out->ca_file, strerror(errno));
		hfi_mm_free(mm, out->ca_file);
		out->ca_file = NULL;
	}
	snprintf(out->source, sizeof(out->source), "in-cluster %.120s", out->server);
	return HF_EOK;
}

/* ---- precedence ---------------------------------------------------------------- */

int hfi_api_conn_resolve(const hfi_cfg_kubernetes_t *cfg, const hf_mm_t *mm, hfi_api_conn_t *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->mm = mm;
	if (cfg->kubeconfig != NULL)
		return hfi_api_kubeconfig_load(cfg->kubeconfig, cfg->kubecontext, mm, out, err, errlen);
	if (cfg->endpoint == NULL)
		return hfi_api_incluster(mm, out, err, errlen);
	bool tls = cfg->tls_ca != NULL || cfg->tls_cert != NULL;
	int ret;
	if ((ret = server_url(mm, cfg->endpoint, tls, &out->server)) != HF_EOK ||
	    (ret = dup_str(mm, cfg->tls_ca, &out->ca_file)) != HF_EOK ||
	    (ret = dup_str(mm, cfg->tls_cert, &out->cert_file)) != HF_EOK ||
	    (ret = dup_str(mm, cfg->tls_key, &out->key_file)) != HF_EOK) {
		hfi_api_conn_free(out);
		return errf(err, errlen, ret, "out of memory");
	}
	if (!valid_server(out->server))
		ret = errf(err, errlen, HF_ECONFIG, "endpoint: invalid URL \"%.120s\"", cfg->endpoint);
	else if ((ret = check_readable(NULL, "certificate-authority", out->ca_file, "endpoint", err, errlen)) == HF_EOK &&
		 (ret = check_readable(NULL, "client-cert", out->cert_file, "endpoint", err, errlen)) == HF_EOK)
		ret = check_readable(NULL, "client-key", out->key_file, "endpoint", err, errlen);
	if (ret != HF_EOK) {
		hfi_api_conn_free(out);
		return ret;
	}
	snprintf(out->source, sizeof(out->source), "endpoint %.140s", out->server);
	return HF_EOK;
}
