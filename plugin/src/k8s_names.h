/*
 * k8s_names.h: the kubernetes plugin's name grammar (spec 4.4, CoreDNS
 * parse.go) and the small name helpers the index and the answer code share:
 * endpoint names, pod-IP labels, the "ns.dns" test, reverse-tree test.
 * Everything here works on lower-cased wire names and never allocates.
 */
#ifndef HF_K8S_NAMES_H
#define HF_K8S_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objects.h"

enum hfi_k8s_kind {
	HFI_K8S_N_INVALID = 0, /* last label not svc/pod, or not inside the zone */
	HFI_K8S_N_TOOLONG,     /* six or more labels below the zone */
	HFI_K8S_N_APEX,        /* the zone itself */
	HFI_K8S_N_SVC,         /* svc.<zone> */
	HFI_K8S_N_POD,         /* pod.<zone> */
	HFI_K8S_N_NAMESPACE,   /* NS.svc / NS.pod */
	HFI_K8S_N_SERVICE,     /* SVC.NS.svc */
	HFI_K8S_N_ENDPOINT,    /* EP.SVC.NS.svc */
	HFI_K8S_N_PORT,        /* _PORT._PROTO.SVC.NS.svc (underscores optional) */
	HFI_K8S_N_PODIP,       /* IP.NS.pod, with 0-2 extra labels left of it */
	HFI_K8S_N_ZONAL        /* ZONE.pin|prefer._zone.SVC.NS.svc (ZONE: 1+ labels) */
};

/* A label: the bytes after its length byte. */
typedef struct hfi_k8s_label {
	const uint8_t *p;
	uint8_t len;
} hfi_k8s_label_t;

typedef struct hfi_k8s_name {
	int kind;              /* enum hfi_k8s_kind */
	bool pod;              /* pod tree (last label "pod") */
	int rel;               /* labels below the zone */
	hfi_k8s_label_t ns, service, endpoint;
	hfi_k8s_label_t port, proto; /* one leading '_' stripped; may be empty */
	/* Key span in the wire name: [key, zone) are the labels from the
	 * namespace (NAMESPACE), service/pod-IP (SERVICE, PORT, PODIP) or
	 * endpoint (ENDPOINT) label down to the svc/pod label. */
	const uint8_t *key;
	const uint8_t *zone;   /* where the zone's labels start */
	/* ZONAL: ZONE's labels are [lname, zdir); zdir is the directive
	 * label (pin or prefer); key is the SVC label. */
	const uint8_t *zdir;
	bool prefer;
} hfi_k8s_name_t;

/* Classify lname (lower case, uncompressed wire) whose last zone_labels
 * labels are the zone.  Returns out->kind. */
int hfi_k8s_name_parse(const uint8_t *lname, int zone_labels, hfi_k8s_name_t *out);

/* "a.b.c" (optional trailing dot, no escapes) to wire labels without the
 * root label.  Returns the length, or -1 (empty label, label > 63, > cap). */
int hfi_k8s_text_labels(const char *text, size_t len, uint8_t *out, size_t cap);

/* Wire name to text without escapes ("a.b.", "." for the root).  out must
 * hold 256 bytes.  Returns the text length. */
size_t hfi_k8s_wire_text(const uint8_t *wire, char *out);

/* An IP as a DNS label: '.' or ':' replaced by '-' ("10-0-0-1",
 * "fd00--1").  endpoint: append '0' when the result ends with '-' (the
 * endpoint-name form, "2001-db8--0").  Returns the length or -1. */
int hfi_k8s_ip_label(const hfi_ip_t *ip, bool endpoint, char *out, size_t cap);

/* The name of an endpoint address: hostname, else (pod_names) the pod
 * name, else the dashed IP.  Returns the length or -1. */
int hfi_k8s_endpoint_name(const hfi_ep_addr_t *a, bool pod_names, char *out, size_t cap);

/* A pod label ("1-2-3-4", "fd00--1") to an address the way CoreDNS's
 * findPods + net.ParseIP do (three dashes and no "--" = IPv4, else IPv6;
 * IPv4-mapped IPv6 counts as IPv4).  Returns 0 or -1. */
int hfi_k8s_pod_ip(const uint8_t *label, size_t len, hfi_ip_t *ip);

/* CoreDNS isDefaultNS: strings.Index(name, "ns.dns.") == 0 &&
 * strings.Index(name, zone) == 7, with name the lower-cased qname and
 * zone the zone as spelled in the query. */
bool hfi_k8s_default_ns(const uint8_t *lname, const uint8_t *zone_q);

/* dnsutil.IsReverse: the name ends in ".in-addr.arpa." or ".ip6.arpa.". */
bool hfi_k8s_is_reverse(const uint8_t *lname);

#endif
