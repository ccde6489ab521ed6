/*
 * manifest_convert.c: one YAML node (a Kubernetes object as `kubectl get
 * -o yaml|json` prints it) -> one store object: Namespace, Service,
 * EndpointSlice, Pod (spec 4.3); Lists recurse; other kinds are skipped.
 * Every field is type-checked and names/IPs/ports are validated the way
 * the API server would, so a bad object is rejected with
 * "FILE: document N: [items[I]: ]KIND NS/NAME: field F: problem".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast.h"
#include "manifest_int.h"

#define MAX_LIST_DEPTH 64

typedef struct desc {
	const char *kind;
	const char *ns;   /* NULL for cluster-scoped */
	const char *name; /* NULL until known */
	const char *where;
} desc_t;

/* A field path, formatted only when an error is reported:
 * a[i]b[j]c with nidx index parts. */
typedef struct fld {
	const char *a, *b, *c;
	size_t i, j;
	int nidx;
} fld_t;

#define F0(s) (&(fld_t){ .a = (s) })
#define F1(s, x, t) (&(fld_t){ .a = (s), .i = (x), .b = (t), .nidx = 1 })
#define F2(s, x, t, y, u) (&(fld_t){ .a = (s), .i = (x), .b = (t), .j = (y), .c = (u), .nidx = 2 })

static void fld_fmt(const fld_t *f, char *buf, size_t len)
{
	if (f->nidx == 0)
		snprintf(buf, len, "%s", f->a);
	else if (f->nidx == 1)
		snprintf(buf, len, "%s[%zu]%s", f->a, f->i, f->b);
	else
		snprintf(buf, len, "%s[%zu]%s[%zu]%s", f->a, f->i, f->b, f->j, f->c);
}

/* Printable, bounded rendering of untrusted text for messages. */
static const char *show(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 4 < buflen; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[o++] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
	}
	if (len > 0 && o + 4 >= buflen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static int fail(hfi_mf_ctx_t *c, const desc_t *d, const fld_t *fl, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(hfi_mf_ctx_t *c, const desc_t *d, const fld_t *fl, const char *fmt, ...)
{
	if (c->err == NULL || c->errlen == 0)
		return HF_EMANIFEST;
	char nb[80], sb[80], fb[160];
	const char *field = NULL;
	if (fl != NULL) {
		fld_fmt(fl, fb, sizeof(fb));
		field = fb;
	}
	const char *name = d->name != NULL ? show(d->name, strlen(d->name), nb, sizeof(nb)) : "(no name)";
	int n;
	if (d->kind == NULL)
		n = snprintf(c->err, c->errlen, "%s: document %u: %s%s%s%s%s", c->name, c->docno,
			     d->where, *d->where ? ": " : "", field ? "field " : "",
			     field ? field : "", field ? ": " : "");
	else
		n = snprintf(c->err, c->errlen, "%s: document %u: %s%s%s %s%s%s: %s%s%s", c->name,
			     c->docno, d->where, *d->where ? ": " : "", d->kind,
			     d->ns != NULL ? show(d->ns, strlen(d->ns), sb, sizeof(sb)) : "",
			     d->ns != NULL ? "/" : "", name, field ? "field " : "",
			     field ? field : "", field ? ": " : "");
	if (n < 0 || (size_t)n >= c->errlen)
		return HF_EMANIFEST;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return HF_EMANIFEST;
}

static const char *type_name(const hfi_yt_node_t *n)
{
	switch (n->type) {
	case HFI_YT_MAP: return "a mapping";
	case HFI_YT_SEQ: return "a sequence";
	default: return "a scalar";
	}
}

/* ---- typed access ------------------------------------------------------- */

static int node_str(hfi_mf_ctx_t *c, const desc_t *d, const hfi_yt_node_t *n,
		    const fld_t *field, const char **out)
{
	*out = NULL;
	if (hfi_yt_is_null(n))
		return HF_EOK;
	if (n->type != HFI_YT_SCALAR)
		return fail(c, d, field, "expected a string, found %s", type_name(n));
	if (strlen(n->u.str) != n->len)
		return fail(c, d, field, "contains a NUL byte");
	*out = n->u.str;
	return HF_EOK;
}

static int get_str(hfi_mf_ctx_t *c, const desc_t *d, const hfi_yt_node_t *map,
		   const char *key, const fld_t *field, const char **out)
{
	return node_str(c, d, hfi_yt_get(map, key), field, out);
}

static int get_coll(hfi_mf_ctx_t *c, const desc_t *d, const hfi_yt_node_t *map,
		    const char *key, const fld_t *field, uint8_t type, const hfi_yt_node_t **out)
{
	const hfi_yt_node_t *n = hfi_yt_get(map, key);
	*out = NULL;
	if (hfi_yt_is_null(n))
		return HF_EOK;
	if (n->type != type)
		return fail(c, d, field, "expected %s, found %s",
			    type == HFI_YT_MAP ? "a mapping" : "a sequence", type_name(n));
	*out = n;
	return HF_EOK;
}

static int node_int(hfi_mf_ctx_t *c, const desc_t *d, const hfi_yt_node_t *n,
		    const fld_t *field, long min, long max, long *out)
{
	char vb[80];
	if (n->type != HFI_YT_SCALAR)
		return fail(c, d, field, "expected an integer, found %s", type_name(n));
	const char *s = n->u.str;
	if (!n->plain)
		return fail(c, d, field, "expected an integer, found the string \"%s\"",
			    show(s, n->len, vb, sizeof(vb)));
	size_t i = 0;
	bool neg = false;
	if (i < n->len && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	if (i == n->len)
		return fail(c, d, field, "not an integer: \"%s\"", show(s, n->len, vb, sizeof(vb)));
	long v = 0;
	for (; i < n->len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return fail(c, d, field, "not an integer: \"%s\"", show(s, n->len, vb, sizeof(vb)));
		if (v > 1000000000L)
			return fail(c, d, field, "out of range: %s (%ld..%ld)",
				    show(s, n->len, vb, sizeof(vb)), min, max);
		v = v * 10 + (s[i] - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return fail(c, d, field, "out of range: %ld (%ld..%ld)", v, min, max);
	*out = v;
	return HF_EOK;
}

static int node_bool(hfi_mf_ctx_t *c, const desc_t *d, const hfi_yt_node_t *n,
		     const fld_t *field, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					   "on", "On", "ON", "y", "Y" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
					  "off", "Off", "OFF", "n", "N" };
	char vb[80];
	if (n->type != HFI_YT_SCALAR)
		return fail(c, d, field, "expected a boolean, found %s", type_name(n));
	if (n->plain) {
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			if (hfi_yt_str_eq(n, yes[i])) {
				*out = true;
				return HF_EOK;
			}
			if (hfi_yt_str_eq(n, no[i])) {
				*out = false;
				return HF_EOK;
			}
		}
	}
	return fail(c, d, field, "expected a boolean, found \"%s\"", show(n->u.str, n->len, vb, sizeof(vb)));
}

/* ---- validation --------------------------------------------------------- */

static bool lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 */
static bool dns_label(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* RFC 1123 subdomain: labels joined by '.', at most 253 */
static bool dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (const char *p = s;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (!dns_label(p, l))
			return false;
		if (dot == NULL)
			return true;
		p = dot + 1;
	}
}

/* ExternalName target: a host name, optionally fully qualified. */
static bool host_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 254 || (n == 254 && s[253] != '.') || s[0] == '.')
		return false;
	size_t lab = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return false;
		if (++lab > 63)
			return false;
	}
	return true;
}

static bool valid_protocol(const char *p)
{
	return strcmp(p, "TCP") == 0 || strcmp(p, "UDP") == 0 || strcmp(p, "SCTP") == 0;
}

/* ---- common parts ------------------------------------------------------- */

static int scratch(hfi_mf_ctx_t *c, void **arr, size_t *cap, size_t need, size_t elsz)
{
	int ret = hfi_mm_grow(c->mm, arr, cap, need, elsz);
	if (ret != HF_EOK && c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
	return ret;
}

static int get_labels(hfi_mf_ctx_t *c, const desc_t *d, const hfi_yt_node_t *meta,
		      hfi_labels_t *out)
{
	const hfi_yt_node_t *l;
	*out = (hfi_labels_t){ 0 };
	int ret = get_coll(c, d, meta, "labels", F0("metadata.labels"), HFI_YT_MAP, &l);
	if (ret != HF_EOK || l == NULL || l->len == 0)
		return ret;
	ret = scratch(c, (void **)&c->kv, &c->kv_cap, l->len, sizeof(hfi_kv_t));
	if (ret != HF_EOK)
		return ret;
	for (size_t i = 0; i < l->len; i++) {
		const hfi_yt_node_t *k = l->u.kids[2 * i], *v = l->u.kids[2 * i + 1];
		const char *ks, *vs;
		if (k->type != HFI_YT_SCALAR)
			return fail(c, d, F0("metadata.labels"), "label key is %s", type_name(k));
		ret = node_str(c, d, k, F0("metadata.labels"), &ks);
		if (ret != HF_EOK)
			return ret;
		if (v->type != HFI_YT_SCALAR || strlen(v->u.str) != v->len) {
			/* the field name is only built for the message */
			char field[128], kb[64];
			snprintf(field, sizeof(field), "metadata.labels.%s",
				 ks ? show(ks, strlen(ks), kb, sizeof(kb)) : "");
			return node_str(c, d, v, F0(field), &vs);
		}
		ret = node_str(c, d, v, NULL, &vs);
		if (ret != HF_EOK)
			return ret;
		c->kv[i].key = (char *)(ks ? ks : "");
		c->kv[i].val = (char *)(vs ? vs : "");
	}
	*out = (hfi_labels_t){ c->kv, l->len };
	return HF_EOK;
}

typedef struct meta {
	const char *ns, *name, *rv;
	hfi_labels_t labels;
	const hfi_yt_node_t *node;
} meta_t;

static int get_meta(hfi_mf_ctx_t *c, desc_t *d, const hfi_yt_node_t *obj, bool namespaced,
		    bool subdomain_name, meta_t *m)
{
	memset(m, 0, sizeof(*m));
	int ret = get_coll(c, d, obj, "metadata", F0("metadata"), HFI_YT_MAP, &m->node);
	if (ret != HF_EOK)
		return ret;
	if (namespaced) {
		ret = get_str(c, d, m->node, "namespace", F0("metadata.namespace"), &m->ns);
		if (ret != HF_EOK)
			return ret;
		if (m->ns == NULL || *m->ns == '\0')
			m->ns = "default";
		d->ns = m->ns;
	}
	ret = get_str(c, d, m->node, "name", F0("metadata.name"), &m->name);
	if (ret != HF_EOK)
		return ret;
	if (m->name == NULL || *m->name == '\0')
		return fail(c, d, F0("metadata.name"), "missing");
	d->name = m->name;
	char vb[80];
	if (namespaced && !dns_label(m->ns, strlen(m->ns)))
		return fail(c, d, F0("metadata.namespace"), "invalid namespace name \"%s\" (must be an RFC 1123 label)",
			    show(m->ns, strlen(m->ns), vb, sizeof(vb)));
	if (subdomain_name ? !dns_subdomain(m->name) : !dns_label(m->name, strlen(m->name)))
		return fail(c, d, F0("metadata.name"), "invalid name (must be an RFC 1123 %s)",
			    subdomain_name ? "subdomain" : "label");
	ret = get_str(c, d, m->node, "resourceVersion", F0("metadata.resourceVersion"), &m->rv);
	if (ret != HF_EOK)
		return ret;
	return get_labels(c, d, m->node, &m->labels);
}

static bool selected(const hfi_selector_t *sel, const hfi_labels_t *labels)
{
	return sel == NULL || hfi_selector_match(sel, labels);
}

static int put_result(hfi_mf_ctx_t *c, int ret)
{
	if (ret < 0) {
		if (c->err != NULL && c->errlen > 0)
			snprintf(c->err, c->errlen, "%s: %s", c->name,
				 ret == HF_ENOMEM ? "out of memory" : "cannot store an object");
		return ret;
	}
	c->stored++;
	return HF_EOK;
}

/* ports of a Service (port required, 1..65535) or a slice (nil = -1) */
static int get_ports(hfi_mf_ctx_t *c, const desc_t *d, const hfi_yt_node_t *parent,
		     bool service, size_t *nports)
{
	const hfi_yt_node_t *seq;
	const char *pf = service ? "spec.ports" : "ports";
	*nports = 0;
	int ret = get_coll(c, d, parent, "ports", F0(pf), HFI_YT_SEQ, &seq);
	if (ret != HF_EOK || seq == NULL || seq->len == 0)
		return ret;
	ret = scratch(c, (void **)&c->ports, &c->ports_cap, seq->len, sizeof(hfi_port_t));
	if (ret != HF_EOK)
		return ret;
	for (size_t i = 0; i < seq->len; i++) {
		const hfi_yt_node_t *p = seq->u.kids[i];
		hfi_port_t *out = &c->ports[i];
		if (p->type != HFI_YT_MAP)
			return fail(c, d, F1(pf, i, ""), "expected a mapping, found %s", type_name(p));
		const char *name, *proto;
		ret = get_str(c, d, p, "name", F1(pf, i, ".name"), &name);
		if (ret != HF_EOK)
			return ret;
		char vb[80];
		if (name != NULL && *name != '\0' && !dns_label(name, strlen(name)))
			return fail(c, d, F1(pf, i, ".name"), "invalid port name \"%s\"",
				    show(name, strlen(name), vb, sizeof(vb)));
		ret = get_str(c, d, p, "protocol", F1(pf, i, ".protocol"), &proto);
		if (ret != HF_EOK)
			return ret;
		if (proto == NULL || *proto == '\0')
			proto = "TCP";
		if (!valid_protocol(proto))
			return fail(c, d, F1(pf, i, ".protocol"), "unsupported protocol \"%s\" (TCP, UDP or SCTP)",
				    show(proto, strlen(proto), vb, sizeof(vb)));
		const hfi_yt_node_t *pn = hfi_yt_get(p, "port");
		long port = -1;
		if (hfi_yt_is_null(pn)) {
			if (service)
				return fail(c, d, F1(pf, i, ".port"), "missing");
		} else {
			ret = node_int(c, d, pn, F1(pf, i, ".port"), service ? 1 : 0, 65535, &port);
			if (ret != HF_EOK)
				return ret;
		}
		*out = (hfi_port_t){ .name = (char *)(name ? name : ""), .protocol = (char *)proto,
				     .port = (int32_t)port };
	}
	*nports = seq->len;
	return HF_EOK;
}

static int parse_ip(hfi_mf_ctx_t *c, const desc_t *d, const fld_t *field, const char *text,
		    hfi_ip_t *ip)
{
	if (hfi_ip_parse(text, ip) == HF_EOK)
		return HF_EOK;
	char vb[80];
	return fail(c, d, field, "invalid IP address \"%s\"", show(text, strlen(text), vb, sizeof(vb)));
}

/* ---- kinds -------------------------------------------------------------- */

static int conv_namespace(hfi_mf_ctx_t *c, const hfi_yt_node_t *obj, desc_t *d)
{
	meta_t m;
	int ret = get_meta(c, d, obj, false, false, &m);
	if (ret != HF_EOK)
		return ret;
	if (!selected(c->opts->namespace_labels, &m.labels))
		return HF_EOK;
	hfi_namespace_t ns = { .name = (char *)m.name, .rv = (char *)m.rv, .labels = m.labels };
	return put_result(c, hfi_store_put_namespace(c->st, &ns));
}

static int conv_service(hfi_mf_ctx_t *c, const hfi_yt_node_t *obj, desc_t *d)
{
	meta_t m;
	int ret = get_meta(c, d, obj, true, false, &m);
	if (ret != HF_EOK)
		return ret;
	if (!selected(c->opts->labels, &m.labels))
		return HF_EOK;
	const hfi_yt_node_t *spec;
	ret = get_coll(c, d, obj, "spec", F0("spec"), HFI_YT_MAP, &spec);
	if (ret != HF_EOK)
		return ret;
	char vb[80];
	fld_t fl;
	const char *type;
	ret = get_str(c, d, spec, "type", F0("spec.type"), &type);
	if (ret != HF_EOK)
		return ret;
	if (type == NULL || *type == '\0')
		type = "ClusterIP";
	if (strcmp(type, "ClusterIP") != 0 && strcmp(type, "NodePort") != 0 &&
	    strcmp(type, "LoadBalancer") != 0 && strcmp(type, "ExternalName") != 0)
		return fail(c, d, F0("spec.type"), "unsupported service type \"%s\"",
			    show(type, strlen(type), vb, sizeof(vb)));
	bool extname = strcmp(type, "ExternalName") == 0;

	/* spec.clusterIPs, or [spec.clusterIP] when the list is empty */
	const hfi_yt_node_t *ipseq;
	ret = get_coll(c, d, spec, "clusterIPs", F0("spec.clusterIPs"), HFI_YT_SEQ, &ipseq);
	if (ret != HF_EOK)
		return ret;
	const char *cip;
	ret = get_str(c, d, spec, "clusterIP", F0("spec.clusterIP"), &cip);
	if (ret != HF_EOK)
		return ret;
	size_t nin = ipseq != NULL ? ipseq->len : 0;
	ret = scratch(c, (void **)&c->ips, &c->ips_cap, nin ? nin : 1, sizeof(hfi_ip_t));
	if (ret != HF_EOK)
		return ret;
	bool headless = false;
	size_t nips = 0;
	for (size_t i = 0; i < (nin ? nin : 1); i++) {
		const char *text = cip;
		if (nin) {
			fl = (fld_t){ .a = "spec.clusterIPs", .i = i, .b = "", .nidx = 1 };
			ret = node_str(c, d, ipseq->u.kids[i], &fl, &text);
			if (ret != HF_EOK)
				return ret;
		} else {
			fl = (fld_t){ .a = "spec.clusterIP" };
		}
		if (text == NULL || *text == '\0')
			continue;
		if (i == 0 && strcmp(text, "None") == 0) {
			headless = true;
			break;
		}
		ret = parse_ip(c, d, &fl, text, &c->ips[nips]);
		if (ret != HF_EOK)
			return ret;
		nips++;
	}

	const char *ext = NULL;
	if (extname) {
		ret = get_str(c, d, spec, "externalName", F0("spec.externalName"), &ext);
		if (ret != HF_EOK)
			return ret;
		if (ext == NULL || *ext == '\0')
			return fail(c, d, F0("spec.externalName"), "missing (required for type ExternalName)");
		if (!host_name(ext))
			return fail(c, d, F0("spec.externalName"), "invalid host name \"%s\"",
				    show(ext, strlen(ext), vb, sizeof(vb)));
	}
	size_t nports;
	ret = get_ports(c, d, spec, true, &nports);
	if (ret != HF_EOK)
		return ret;
	hfi_service_t s = {
		.ns = (char *)m.ns, .name = (char *)m.name, .rv = (char *)m.rv, .type = (char *)type,
		.headless = headless, .ips = c->ips, .nips = headless ? 0 : nips,
		.external_name = (char *)ext, .ports = c->ports, .nports = nports, .labels = m.labels,
	};
	return put_result(c, hfi_store_put_service(c->st, &s));
}

static int conv_slice(hfi_mf_ctx_t *c, const hfi_yt_node_t *obj, desc_t *d)
{
	meta_t m;
	int ret = get_meta(c, d, obj, true, true, &m);
	if (ret != HF_EOK)
		return ret;
	if (!selected(c->opts->labels, &m.labels))
		return HF_EOK;
	const char *svc = NULL;
	for (size_t i = 0; i < m.labels.n; i++)
		if (strcmp(m.labels.kv[i].key, "kubernetes.io/service-name") == 0)
			svc = m.labels.kv[i].val;
	const char *atype;
	ret = get_str(c, d, obj, "addressType", F0("addressType"), &atype);
	if (ret != HF_EOK)
		return ret;
	bool fqdn = atype != NULL && strcmp(atype, "FQDN") == 0;
	size_t nports;
	ret = get_ports(c, d, obj, false, &nports);
	if (ret != HF_EOK)
		return ret;
	const hfi_yt_node_t *eps;
	ret = get_coll(c, d, obj, "endpoints", F0("endpoints"), HFI_YT_SEQ, &eps);
	if (ret != HF_EOK)
		return ret;
	size_t na = 0;
	char vb[80];
	for (size_t i = 0; eps != NULL && i < eps->len; i++) {
		const hfi_yt_node_t *ep = eps->u.kids[i], *cond, *addrs, *tref, *topo;
		if (ep->type != HFI_YT_MAP)
			return fail(c, d, F1("endpoints", i, ""), "expected a mapping, found %s", type_name(ep));
		ret = get_coll(c, d, ep, "conditions", F1("endpoints", i, ".conditions"), HFI_YT_MAP, &cond);
		if (ret != HF_EOK)
			return ret;
		bool ready = true; /* nil = ready */
		const hfi_yt_node_t *rn = hfi_yt_get(cond, "ready");
		if (!hfi_yt_is_null(rn)) {
			ret = node_bool(c, d, rn, F1("endpoints", i, ".conditions.ready"), &ready);
			if (ret != HF_EOK)
				return ret;
		}
		if (!ready)
			continue;
		const char *host, *pod = NULL, *node, *zone;
		ret = get_str(c, d, ep, "hostname", F1("endpoints", i, ".hostname"), &host);
		if (ret != HF_EOK)
			return ret;
		if (host != NULL && *host == '\0')
			host = NULL;
		if (host != NULL && !dns_label(host, strlen(host)))
			return fail(c, d, F1("endpoints", i, ".hostname"),
				    "invalid hostname \"%s\" (must be an RFC 1123 label)",
				    show(host, strlen(host), vb, sizeof(vb)));
		ret = get_coll(c, d, ep, "targetRef", F1("endpoints", i, ".targetRef"), HFI_YT_MAP, &tref);
		if (ret != HF_EOK)
			return ret;
		ret = get_str(c, d, tref, "name", F1("endpoints", i, ".targetRef.name"), &pod);
		if (ret != HF_EOK)
			return ret;
		ret = get_coll(c, d, ep, "topology", F1("endpoints", i, ".topology"), HFI_YT_MAP, &topo); /* v1beta1 */
		if (ret != HF_EOK)
			return ret;
		ret = get_str(c, d, ep, "nodeName", F1("endpoints", i, ".nodeName"), &node);
		if (ret != HF_EOK)
			return ret;
		if (node == NULL) {
			ret = get_str(c, d, topo, "kubernetes.io/hostname",
				      F1("endpoints", i, ".topology"), &node);
			if (ret != HF_EOK)
				return ret;
		}
		ret = get_str(c, d, ep, "zone", F1("endpoints", i, ".zone"), &zone);
		if (ret != HF_EOK)
			return ret;
		if (zone == NULL) {
			ret = get_str(c, d, topo, "topology.kubernetes.io/zone",
				      F1("endpoints", i, ".topology"), &zone);
			if (ret != HF_EOK)
				return ret;
		}
		ret = get_coll(c, d, ep, "addresses", F1("endpoints", i, ".addresses"), HFI_YT_SEQ, &addrs);
		if (ret != HF_EOK)
			return ret;
		if (addrs == NULL || fqdn)
			continue;
		ret = scratch(c, (void **)&c->addrs, &c->addrs_cap, na + addrs->len, sizeof(hfi_ep_addr_t));
		if (ret != HF_EOK)
			return ret;
		for (size_t j = 0; j < addrs->len; j++) {
			const char *text;
			ret = node_str(c, d, addrs->u.kids[j], F2("endpoints", i, ".addresses", j, ""), &text);
			if (ret != HF_EOK)
				return ret;
			hfi_ep_addr_t *a = &c->addrs[na];
			ret = parse_ip(c, d, F2("endpoints", i, ".addresses", j, ""), text ? text : "", &a->ip);
			if (ret != HF_EOK)
				return ret;
			a->hostname = (char *)host;
			a->pod_name = (char *)pod;
			a->node_name = (char *)node;
			a->zone = (char *)zone;
			na++;
		}
	}
	hfi_slice_t s = {
		.ns = (char *)m.ns, .name = (char *)m.name, .rv = (char *)m.rv, .service = (char *)svc,
		.ports = c->ports, .nports = nports, .addrs = c->addrs, .naddrs = na,
		.labels = m.labels,
	};
	return put_result(c, hfi_store_put_slice(c->st, &s));
}

static int conv_pod(hfi_mf_ctx_t *c, const hfi_yt_node_t *obj, desc_t *d)
{
	meta_t m;
	int ret = get_meta(c, d, obj, true, true, &m);
	if (ret != HF_EOK)
		return ret;
	if (!selected(c->opts->labels, &m.labels))
		return HF_EOK;
	const hfi_yt_node_t *status;
	ret = get_coll(c, d, obj, "status", F0("status"), HFI_YT_MAP, &status);
	if (ret != HF_EOK)
		return ret;
	const char *phase, *ipt;
	ret = get_str(c, d, status, "phase", F0("status.phase"), &phase);
	if (ret != HF_EOK)
		return ret;
	ret = get_str(c, d, status, "podIP", F0("status.podIP"), &ipt);
	if (ret != HF_EOK)
		return ret;
	hfi_ip_t ip = { 0 };
	if (ipt != NULL && *ipt != '\0') {
		ret = parse_ip(c, d, F0("status.podIP"), ipt, &ip);
		if (ret != HF_EOK)
			return ret;
	}
	/* the pod watch excludes these phases (F2("endpoints", i, ".addresses", j, "") selector, spec 4.2) */
	if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0 ||
			      strcmp(phase, "Unknown") == 0))
		return HF_EOK;
	/* a terminating pod is not stored (spec 4.3) */
	if (!hfi_yt_is_null(hfi_yt_get(m.node, "deletionTimestamp")))
		return HF_EOK;
	hfi_pod_t p = { .ns = (char *)m.ns, .name = (char *)m.name, .rv = (char *)m.rv, .ip = ip,
			.phase = (char *)phase, .labels = m.labels };
	return put_result(c, hfi_store_put_pod(c->st, &p));
}

/* ---- dispatch ----------------------------------------------------------- */

const char *hfi_mf_item_kind(const hfi_yt_node_t *list, char *buf, size_t len)
{
	const hfi_yt_node_t *k = hfi_yt_get(list, "kind");
	if (k == NULL || k->type != HFI_YT_SCALAR || k->len <= 4 || k->len >= len ||
	    strlen(k->u.str) != k->len || strcmp(k->u.str + k->len - 4, "List") != 0)
		return NULL;
	memcpy(buf, k->u.str, k->len - 4);
	buf[k->len - 4] = '\0';
	return buf;
}

static int conv_list(hfi_mf_ctx_t *c, const hfi_yt_node_t *obj, const hfi_yt_node_t *items,
		     const char *where, unsigned depth)
{
	desc_t d = { .where = where };
	if (depth >= MAX_LIST_DEPTH)
		return fail(c, &d, NULL, "Lists nested too deeply");
	char kbuf[64];
	const char *ikind = hfi_mf_item_kind(obj, kbuf, sizeof(kbuf));
	const char *api = NULL;
	const hfi_yt_node_t *an = hfi_yt_get(obj, "apiVersion");
	if (an != NULL && an->type == HFI_YT_SCALAR && strlen(an->u.str) == an->len)
		api = an->u.str;
	for (size_t i = 0; i < items->len; i++) {
		char w[256];
		snprintf(w, sizeof(w), "%s%sitems[%zu]", where, *where ? "." : "", i);
		int ret = hfi_mf_object(c, items->u.kids[i], w, ikind, api, depth + 1);
		if (ret != HF_EOK)
			return ret;
	}
	return HF_EOK;
}

int hfi_mf_object(hfi_mf_ctx_t *c, const hfi_yt_node_t *obj, const char *where,
		  const char *dkind, const char *dapi, unsigned depth)
{
	desc_t d = { .where = where };
	if (hfi_yt_is_null(obj))
		return HF_EOK; /* empty document or item */
	if (obj->type != HFI_YT_MAP)
		return fail(c, &d, NULL, "not a Kubernetes object (expected a mapping, found %s)",
			    type_name(obj));
	const hfi_yt_node_t *items = hfi_yt_get(obj, "items");
	if (items != NULL && items->type == HFI_YT_SEQ)
		return items->streamed ? HF_EOK : conv_list(c, obj, items, where, depth);
	const char *kind, *api;
	int ret = get_str(c, &d, obj, "kind", F0("kind"), &kind);
	if (ret != HF_EOK)
		return ret;
	ret = get_str(c, &d, obj, "apiVersion", F0("apiVersion"), &api);
	if (ret != HF_EOK)
		return ret;
	if (kind == NULL) {
		kind = dkind;
		if (api == NULL)
			api = dapi;
	}
	if (kind == NULL)
		return HF_EOK;
	d.kind = kind;
	bool core = api == NULL || strcmp(api, "v1") == 0;
	if (strcmp(kind, "Service") == 0 && core)
		return conv_service(c, obj, &d);
	if (strcmp(kind, "Namespace") == 0 && core)
		return conv_namespace(c, obj, &d);
	if (strcmp(kind, "Pod") == 0 && core)
		return c->opts->load_pods ? conv_pod(c, obj, &d) : HF_EOK;
	if (strcmp(kind, "EndpointSlice") == 0 &&
	    (api == NULL || strncmp(api, "discovery.k8s.io/", 17) == 0))
		return c->opts->load_slices ? conv_slice(c, obj, &d) : HF_EOK;
	return HF_EOK; /* a kind we do not use */
}

void hfi_mf_ctx_fini(hfi_mf_ctx_t *c)
{
	hfi_mm_free(c->mm, c->ports);
	hfi_mm_free(c->mm, c->ips);
	hfi_mm_free(c->mm, c->addrs);
	hfi_mm_free(c->mm, c->kv);
	hfi_mm_free(c->mm, c->deferred);
	c->ports = NULL;
	c->ips = NULL;
	c->addrs = NULL;
	c->kv = NULL;
	c->deferred = NULL;
}
