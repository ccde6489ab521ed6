/*
 * objects.h: the object store: compact, DNS-relevant copies of Kubernetes
 * Namespaces, Services, EndpointSlices and Pods (what CoreDNS keeps, spec
 * section 4.3), keyed by namespace/name, with resourceVersion.
 *
 * Sources (manifest files now, the API later) put and delete objects; the
 * index builder reads the whole store.  The store is not thread-safe: one
 * writer at a time, readers only through a built index.  Every put copies
 * what it is given (the caller keeps ownership of its arguments).
 */
#ifndef HF_OBJECTS_H
#define HF_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm.h"
#include "selector.h"

typedef struct hfi_ip {
	uint8_t family; /* 4 or 6; 0 = none */
	uint8_t addr[16];
} hfi_ip_t;

typedef struct hfi_port {
	char *name;     /* "" when unnamed */
	char *protocol; /* "TCP", "UDP", "SCTP" as written; "" for the sentinel */
	int32_t port;   /* -1 = sentinel (no ports / nil port) */
} hfi_port_t;

typedef struct hfi_namespace {
	char *name;
	char *rv;
	hfi_labels_t labels;
} hfi_namespace_t;

typedef struct hfi_service {
	char *ns, *name, *rv;
	char *type;           /* "ClusterIP", "NodePort", "LoadBalancer", "ExternalName" */
	bool headless;        /* first ClusterIP is "None" */
	hfi_ip_t *ips;        /* clusterIPs (clusterIP when the list is empty); none when headless */
	size_t nips;
	char *external_name;  /* NULL unless ExternalName */
	hfi_port_t *ports;    /* at least one: the sentinel -1 when the service has none */
	size_t nports;
	hfi_labels_t labels;
} hfi_service_t;

typedef struct hfi_ep_addr {
	hfi_ip_t ip;
	char *hostname;  /* NULL when unset */
	char *pod_name;  /* targetRef.name if shorter than 64 chars, else NULL */
	char *node_name; /* NULL when unset */
	char *zone;      /* lower-cased, NULL when unset */
} hfi_ep_addr_t;

typedef struct hfi_slice {
	char *ns, *name, *rv;
	char *service;        /* label kubernetes.io/service-name; NULL if missing */
	hfi_port_t *ports;    /* at least one (sentinel) */
	size_t nports;
	hfi_ep_addr_t *addrs; /* only endpoints with conditions.ready true or absent */
	size_t naddrs;
	hfi_labels_t labels;
} hfi_slice_t;

typedef struct hfi_pod {
	char *ns, *name, *rv;
	hfi_ip_t ip;          /* status.podIP; family 0 if none */
	char *phase;
	bool deleting;        /* has deletionTimestamp */
	hfi_labels_t labels;
} hfi_pod_t;

typedef struct hfi_store hfi_store_t;

/* Hash of the key ns/name (FNV-1a over "ns", 0xff, "name", then the
 * murmur3 fmix64 avalanche): the store's tables and other sets of keys. */
uint64_t hfi_store_key_hash(const char *ns, const char *name);

hfi_store_t *hfi_store_new(const hf_mm_t *mm);
void hfi_store_free(hfi_store_t *st);

/* Put (add or replace) a copy of obj.  Returns 1 if the store changed in a
 * DNS-visible way (bumps the serial), 0 if not, or a negative hf_err.  An
 * object whose rv equals the stored one (both non-empty) is ignored (0).
 * Namespaces never bump the serial (spec 4.2) but still return 1 when added
 * or when their labels change.  A pod with deleting set is ignored (0): its
 * last state stays until the delete.  The copy normalises: no ports -> the
 * sentinel port -1, pod_name of 64+ chars dropped, zone lower-cased, no ips
 * when headless, type NULL -> "ClusterIP". */
int hfi_store_put_namespace(hfi_store_t *st, const hfi_namespace_t *obj);
int hfi_store_put_service(hfi_store_t *st, const hfi_service_t *obj);
int hfi_store_put_slice(hfi_store_t *st, const hfi_slice_t *obj);
int hfi_store_put_pod(hfi_store_t *st, const hfi_pod_t *obj);
/* Delete by namespace/name. 1 = deleted (bumps the serial, except
 * namespaces), 0 = absent. */
int hfi_store_del_namespace(hfi_store_t *st, const char *name);
int hfi_store_del_service(hfi_store_t *st, const char *ns, const char *name);
int hfi_store_del_slice(hfi_store_t *st, const char *ns, const char *name);
int hfi_store_del_pod(hfi_store_t *st, const char *ns, const char *name);

/* Lookups (NULL when absent). */
const hfi_namespace_t *hfi_store_namespace(const hfi_store_t *st, const char *name);
const hfi_service_t *hfi_store_service(const hfi_store_t *st, const char *ns, const char *name);
const hfi_slice_t *hfi_store_slice(const hfi_store_t *st, const char *ns, const char *name);
const hfi_pod_t *hfi_store_pod(const hfi_store_t *st, const char *ns, const char *name);

/* Iteration: stable order is not promised; index i in [0, count). */
size_t hfi_store_count_namespaces(const hfi_store_t *st);
size_t hfi_store_count_services(const hfi_store_t *st);
size_t hfi_store_count_slices(const hfi_store_t *st);
size_t hfi_store_count_pods(const hfi_store_t *st);
const hfi_namespace_t *hfi_store_namespace_at(const hfi_store_t *st, size_t i);
const hfi_service_t *hfi_store_service_at(const hfi_store_t *st, size_t i);
const hfi_slice_t *hfi_store_slice_at(const hfi_store_t *st, size_t i);
const hfi_pod_t *hfi_store_pod_at(const hfi_store_t *st, size_t i);

/* Unix time (s) of the last DNS-visible change, 0 before the first. */
uint32_t hfi_store_serial(const hfi_store_t *st);
/* Marks the store as holding a full sync (manifests: after loading). */
void hfi_store_set_synced(hfi_store_t *st, bool synced);
bool hfi_store_synced(const hfi_store_t *st);

/* Parse "10.0.0.1" / "fd00::1" into ip; 0 or HF_EINVAL. */
int hfi_ip_parse(const char *text, hfi_ip_t *ip);

#endif
