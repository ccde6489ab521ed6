/*
 * k8s_names.c: the kubernetes name grammar (CoreDNS parse.go, spec 4.4)
 * and the name helpers shared by the index builder and the answer code.
 * Bounded loops over wire names, no allocation.
 */
#include "k8s_names.h"

#include <arpa/inet.h>
#include <string.h>

#include "dname.h"

static bool label_is(const uint8_t *lab, const char *s)
{
	size_t n = strlen(s);
	return lab[0] == n && memcmp(lab + 1, s, n) == 0;
}

static hfi_k8s_label_t mklabel(const uint8_t *lab, bool strip)
{
	hfi_k8s_label_t l = { .p = lab + 1, .len = lab[0] };
	if (strip && l.len > 0 && l.p[0] == '_') {
		l.p++;
		l.len--;
	}
	return l;
}

int hfi_k8s_name_parse(const uint8_t *lname, int zone_labels, hfi_k8s_name_t *out)
{
	const uint8_t *lab[HFI_DNAME_MAX / 2 + 1];
	size_t w = 0;
	int n = 0;

	memset(out, 0, sizeof(*out));
	out->kind = HFI_K8S_N_INVALID;
	/* count labels (bounded by the 255-byte name) and keep the first 8 */
	while (w < HFI_DNAME_MAX && lname[w] != 0) {
		if (n < (int)(sizeof(lab) / sizeof(lab[0])))
			lab[n] = lname + w;
		w += 1 + (size_t)lname[w];
		n++;
	}
	int rel = n - zone_labels;
	if (rel < 0 || zone_labels < 0)
		return out->kind;
	out->rel = rel;
	/* the zone starts at label `rel`; walk there */
	const uint8_t *z = lname, *last = lname;
	for (int i = 0; i < rel; i++) {
		last = z;
		z += 1 + (size_t)z[0];
	}
	out->zone = z;
	if (rel == 0)
		return out->kind = HFI_K8S_N_APEX;
	if (rel == 1 && label_is(lab[0], "svc"))
		return out->kind = HFI_K8S_N_SVC;
	if (rel == 1 && label_is(lab[0], "pod"))
		return out->kind = HFI_K8S_N_POD;
	if (label_is(last, "pod"))
		out->pod = true;
	else if (!label_is(last, "svc"))
		return out->kind = HFI_K8S_N_INVALID;
	switch (rel) {
	case 2:
		out->ns = mklabel(lab[0], false);
		out->key = lab[0];
		return out->kind = HFI_K8S_N_NAMESPACE;
	case 3:
		out->service = mklabel(lab[0], false);
		out->ns = mklabel(lab[1], false);
		out->key = lab[0];
		return out->kind = out->pod ? HFI_K8S_N_PODIP : HFI_K8S_N_SERVICE;
	case 4:
		out->endpoint = mklabel(lab[0], false);
		out->service = mklabel(lab[1], false);
		out->ns = mklabel(lab[2], false);
		out->key = out->pod ? lab[1] : lab[0];
		return out->kind = out->pod ? HFI_K8S_N_PODIP : HFI_K8S_N_ENDPOINT;
	case 5:
		out->port = mklabel(lab[0], true);
		out->proto = mklabel(lab[1], true);
		out->service = mklabel(lab[2], false);
		out->ns = mklabel(lab[3], false);
		out->key = lab[2];
		return out->kind = out->pod ? HFI_K8S_N_PODIP : HFI_K8S_N_PORT;
	default: /* anything longer, unless ZONE.pin|prefer._zone.SVC.NS.svc */
		if (!out->pod && rel <= (int)(sizeof(lab) / sizeof(lab[0])) &&
		    label_is(lab[rel - 4], "_zone") &&
		    (label_is(lab[rel - 5], "pin") || label_is(lab[rel - 5], "prefer"))) {
			out->prefer = lab[rel - 5][0] == 6;
			out->zdir = lab[rel - 5];
			out->service = mklabel(lab[rel - 3], false);
			out->ns = mklabel(lab[rel - 2], false);
			out->key = lab[rel - 3];
			return out->kind = HFI_K8S_N_ZONAL;
		}
		return out->kind = HFI_K8S_N_TOOLONG;
	}
}

int hfi_k8s_text_labels(const char *text, size_t len, uint8_t *out, size_t cap)
{
	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0)
		return -1;
	size_t o = 0, i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && text[j] != '.')
			j++;
		size_t ll = j - i;
		if (ll == 0 || ll > HFI_LABEL_MAX || o + 1 + ll > cap)
			return -1;
		out[o] = (uint8_t)ll;
		memcpy(out + o + 1, text + i, ll);
		o += 1 + ll;
		i = j + 1;
	}
	return (int)o;
}

size_t hfi_k8s_wire_text(const uint8_t *wire, char *out)
{
	size_t w = 0, o = 0;
	if (wire[0] == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	while (w < HFI_DNAME_MAX && wire[w] != 0) {
		size_t ll = wire[w];
		if (w + 1 + ll > HFI_DNAME_MAX || o + ll + 1 > HFI_DNAME_MAX)
			break;
		memcpy(out + o, wire + w + 1, ll);
		o += ll;
		out[o++] = '.';
		w += 1 + ll;
	}
	out[o] = '\0';
	return o;
}

int hfi_k8s_ip_label(const hfi_ip_t *ip, bool endpoint, char *out, size_t cap)
{
	char buf[INET6_ADDRSTRLEN];
	if (ip->family == 4) {
		if (inet_ntop(AF_INET, ip->addr, buf, sizeof(buf)) == NULL)
			return -1;
	} else if (ip->family == 6) {
		if (inet_ntop(AF_INET6, ip->addr, buf, sizeof(buf)) == NULL)
			return -1;
	} else {
		return -1;
	}
	size_t n = strlen(buf);
	if (n + 2 > cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (buf[i] == '.' || buf[i] == ':') ? '-' : buf[i];
	if (endpoint && n > 0 && out[n - 1] == '-')
		out[n++] = '0';
	out[n] = '\0';
	return (int)n;
}

int hfi_k8s_endpoint_name(const hfi_ep_addr_t *a, bool pod_names, char *out, size_t cap)
{
	const char *s = NULL;
	if (a->hostname != NULL && a->hostname[0] != '\0')
		s = a->hostname;
	else if (pod_names && a->pod_name != NULL && a->pod_name[0] != '\0')
		s = a->pod_name;
	if (s == NULL)
		return hfi_k8s_ip_label(&a->ip, true, out, cap);
	size_t n = strlen(s);
	if (n + 1 > cap)
		return -1;
	memcpy(out, s, n + 1);
	return (int)n;
}

int hfi_k8s_pod_ip(const uint8_t *label, size_t len, hfi_ip_t *ip)
{
	char text[HFI_LABEL_MAX + 1];
	size_t dashes = 0;
	bool dd = false;

	if (len == 0 || len > HFI_LABEL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (label[i] == '-') {
			dashes++;
			if (i + 1 < len && label[i + 1] == '-')
				dd = true;
		}
	}
	bool v4 = dashes == 3 && !dd;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = label[i];
		/* net.ParseIP only accepts these; anything else (including
		 * bytes Go would escape) fails */
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
			return -1;
		text[i] = (char)(c == '-' ? (v4 ? '.' : ':') : c);
	}
	text[len] = '\0';
	memset(ip, 0, sizeof(*ip));
	if (v4) {
		if (inet_pton(AF_INET, text, ip->addr) != 1)
			return -1;
		ip->family = 4;
		return 0;
	}
	uint8_t a6[16];
	if (inet_pton(AF_INET6, text, a6) != 1)
		return -1;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (memcmp(a6, mapped, 12) == 0) {
		memcpy(ip->addr, a6 + 12, 4);
		ip->family = 4;
	} else {
		memcpy(ip->addr, a6, 16);
		ip->family = 6;
	}
	return 0;
}

bool hfi_k8s_default_ns(const uint8_t *lname, const uint8_t *zone_q)
{
	char name[HFI_DNAME_MAX + 2], zone[HFI_DNAME_MAX + 2];
	static const uint8_t pre[] = "\2ns\3dns";
	for (size_t i = 0; i < sizeof(pre) - 1; i++)
		if (lname[i] != pre[i])
			return false; /* the text cannot start with "ns.dns." */
	size_t nl = hfi_k8s_wire_text(lname, name);
	size_t zl = hfi_k8s_wire_text(zone_q, zone);
	if (nl < 7 || memcmp(name, "ns.dns.", 7) != 0)
		return false;
	/* strings.Index(name, zone) == 7: the first occurrence is at 7 */
	for (size_t i = 0; i + zl <= nl; i++) {
		if (memcmp(name + i, zone, zl) == 0)
			return i == 7;
	}
	return false;
}

bool hfi_k8s_is_reverse(const uint8_t *lname)
{
	static const uint8_t v4[] = "\7in-addr\4arpa";
	static const uint8_t v6[] = "\3ip6\4arpa";
	int n = hfi_dname_labels(lname);
	if (n < 3)
		return false;
	const uint8_t *s = hfi_dname_suffix(lname, 2);
	size_t l = hfi_dname_len(s);
	return (l == sizeof(v4) && memcmp(s, v4, l) == 0) ||
	       (l == sizeof(v6) && memcmp(s, v6, l) == 0);
}
