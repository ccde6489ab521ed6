/*
 * k8s_int.h: the layout of the kubernetes index, shared by the builder
 * (k8s_index.c, k8s_reverse.c) and the answer code (k8s_answer.c).
 *
 * The index is one byte arena plus flat arrays, all owned by the index and
 * immutable after the build.  Names are keyed by their labels below the
 * zone (lower case where CoreDNS compares case-insensitively, as written
 * where it compares exactly), so every zone of the plugin shares one
 * table; PTR nodes are keyed by 0xFF + family + address.  Answers point
 * into the arena; nothing is copied or allocated at query time.
 */
#ifndef HF_K8S_INT_H
#define HF_K8S_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s.h"
#include "k8s_names.h"
#include "selector.h"

enum k8s_kind {
	KN_NS_SVC = 1, /* NS.svc: namespace exposed */
	KN_NS_POD,     /* NS.pod: namespace exposed and pods enabled */
	KN_SERVICE,    /* SVC.NS.svc */
	KN_PORT,       /* P.Q.SVC.NS.svc (either of P, Q may be empty) */
	KN_ENDPOINT,   /* EP.SVC.NS.svc */
	KN_POD,        /* IP.NS.pod (pods verified) */
	KN_PTR,        /* 0xFF family address */
	KN_ZONAL       /* ZONE.pin._zone.SVC.NS.svc: a headless service's
			  addresses whose slice zone is ZONE (option zonal) */
};

enum k8s_flag {
	KF_ENTRIES = 1,  /* CoreDNS Records() returns at least one service */
	KF_EXTERNAL = 2, /* ExternalName: cname_off/lcname_off are set */
	KF_CLUSTERIP = 4, /* ClusterIP service: port_i/port_n list its ports;
			     SRV and glue are made at query time */
	KF_V6FIRST = 8    /* ClusterIP: the first ClusterIP is IPv6 (glue order) */
};

#define K8S_PTR_KEY 0xFF

/*
 * Port names: a KN_PORT node exists for every (name, protocol), (name, *)
 * and (*, protocol) key of a headless service's slice ports.  ClusterIP
 * services have no port nodes: their ports are matched at query time
 * (k8s_answer.c), which is cheap because every entry has the same target.
 */

typedef struct k8s_srv {
	uint8_t rdata[6];  /* priority 0, weight, port (network order) */
	uint16_t tlen;     /* target prefix length (labels, no root) */
	uint32_t toff;     /* arena offset of the target prefix */
} k8s_srv_t;

/* A ClusterIP service port: lower-case name then protocol at noff. */
typedef struct k8s_port {
	uint32_t noff;
	uint8_t nlen, plen;
	uint16_t pad;
	int32_t port;      /* -1: the no-port sentinel */
} k8s_port_t;

/* SRV/NS glue, NS names (family 0), PTR targets (prefix of the primary
 * zone, family 0). */
typedef struct k8s_glue {
	uint32_t toff;
	uint16_t tlen;
	uint8_t family;    /* 4, 6; 0 = a name only */
	uint8_t pad;
	uint32_t aoff;     /* arena offset of 4 or 16 address bytes */
} k8s_glue_t;

typedef struct k8s_node {
	uint32_t koff;     /* key bytes in the arena */
	uint32_t hash;
	uint16_t klen;
	uint8_t kind;      /* enum k8s_kind */
	uint8_t flags;     /* enum k8s_flag */
	uint32_t addr_off; /* a_n IPv4 (4 bytes each), then aaaa_n IPv6 (16) */
	uint32_t a_n, aaaa_n;
	union {
		uint32_t srv_i;     /* srvs[] */
		uint32_t port_i;    /* KF_CLUSTERIP: ports[] */
		uint32_t ptr_i;     /* KN_PTR: glues[] with target prefixes */
		uint32_t cname_off; /* KF_EXTERNAL: target as written (FQDN wire) */
	};
	union {
		uint32_t srv_n;
		uint32_t port_n;
		uint32_t ptr_n;
	};
	union {
		uint32_t glue_i;     /* glues[] */
		uint32_t lcname_off; /* KF_EXTERNAL: the target in lower case */
	};
	uint32_t glue_n;
} k8s_node_t;

struct hfi_k8s_index {
	hf_mm_t mm;
	bool has_mm;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	k8s_node_t *nodes;
	size_t nnodes, nodes_cap, nnames;
	uint64_t *slots;           /* hash << 32 | node index + 1; 0 = empty (issue 8:
				    * the hash in the slot spares a node miss per probe) */
	uint32_t mask;
	k8s_srv_t *srvs;
	size_t nsrvs, srvs_cap;
	k8s_glue_t *glues;
	size_t nglues, glues_cap;
	k8s_port_t *ports;
	size_t nports, ports_cap;
	/* zones (lower-case wire in the arena) */
	size_t nzones;
	uint32_t *zone_off;
	uint8_t *zone_labels;
	uint32_t primary_off;
	bool fallthrough;
	size_t nfall;              /* 0 with fallthrough = every name */
	uint32_t *fall_off;
	/* options */
	uint32_t ttl, soa_ttl;
	uint8_t soa_rdata[20];     /* serial, refresh, retry, expire, minimum */
	enum hfi_pods_mode pods;
	bool zonal;                /* option zonal: KN_ZONAL nodes exist */
	/* NS at the apex and ns.dns.<zone> */
	uint32_t ns_name_i, ns_name_n; /* glues[]: distinct NS name prefixes */
	uint32_t ns_glue_i, ns_glue_n; /* glues[]: glue per (name, address) */
	uint32_t nsa_off, nsa_n, nsaaaa_off, nsaaaa_n; /* ns.dns answers */
};

/* ---- build-time helpers (k8s_index.c) ---------------------------------- */

/* A byte-keyed hash map used while building (keys are copied). */
typedef struct k8s_bmap_ent {
	uint32_t hash, koff, klen, val;
	uint32_t slot;
} k8s_bmap_ent_t;

typedef struct k8s_bmap {
	const hf_mm_t *mm;
	uint32_t *slots;
	size_t mask;               /* slots - 1; 0 when unallocated */
	k8s_bmap_ent_t *ents;
	size_t n, cap;
	uint8_t *kb;
	size_t kblen, kbcap;
} k8s_bmap_t;

/* Returns 1 (added, *val = newval), 0 (found, *val = stored) or HF_ENOMEM. */
int hfi_k8s_bmap_add(k8s_bmap_t *m, const void *key, size_t klen, uint32_t newval,
		     uint32_t *val);
/* 1 found, 0 absent. */
int hfi_k8s_bmap_get(const k8s_bmap_t *m, const void *key, size_t klen, uint32_t *val);
void hfi_k8s_bmap_clear(k8s_bmap_t *m);
/* Make room for n entries without rehashing. */
int hfi_k8s_bmap_reserve(k8s_bmap_t *m, size_t n);
void hfi_k8s_bmap_free(k8s_bmap_t *m);

typedef struct k8s_build {
	hfi_k8s_index_t *ix;
	const hf_mm_t *mm;
	const hfi_store_t *st;
	const hfi_cfg_kubernetes_t *cfg;
	k8s_bmap_t nsmap;          /* namespace -> 1 exposed, 0 present */
	/* prefixes already in the arena, for PTR targets (NONE = none) */
	uint32_t *svc_soff;        /* per store service: "svc.ns.svc" */
	uint16_t *svc_slen;
	uint32_t *addr_toff;       /* per slice address: "ep.svc.ns.svc" */
	uint16_t *addr_tlen;
	size_t *slice_base;        /* per store slice: its first address */
} k8s_build_t;

uint32_t hfi_k8s_hash(const uint8_t *key, size_t len);
/* Append bytes to the arena; returns the offset or a negative hf_err. */
int64_t hfi_k8s_arena_put(k8s_build_t *b, const void *data, size_t len);
int hfi_k8s_glue_push(k8s_build_t *b, const k8s_glue_t *g);
int hfi_k8s_node_push(k8s_build_t *b, const k8s_node_t *n);
/* namespaces: exposed (listed, present, label-selected) */
bool hfi_k8s_ns_exposed(const k8s_build_t *b, const char *ns);
/* PTR filter: `namespaces` set -> exposed, else everything */
bool hfi_k8s_ptr_ns_ok(const k8s_build_t *b, const char *ns);

/* k8s_reverse.c */
int hfi_k8s_ptr_build(k8s_build_t *b);
/* A full in-addr.arpa / ip6.arpa address name to an IP (CoreDNS
 * dnsutil.ExtractAddressFromReverse); false when not an address. */
bool hfi_k8s_reverse_addr(const uint8_t *lname, hfi_ip_t *ip);
const k8s_node_t *hfi_k8s_ptr_find(const hfi_k8s_index_t *ix, const hfi_ip_t *ip);

/* answer-time lookup (k8s_index.c) */
const k8s_node_t *hfi_k8s_find(const hfi_k8s_index_t *ix, const uint8_t *key, size_t klen);

#endif
