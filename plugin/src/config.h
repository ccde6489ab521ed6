/*
 * config.h: the typed configuration the Corefile module produces
 * (hfi_config_load) and every other module reads.
 *
 * A Corefile is a list of server blocks.  Each block has keys (zone + port +
 * scheme; CIDR keys are already expanded to reverse zones) and plugins.
 * Plugins are stored in CoreDNS's plugin.cfg order (spec section 3), never in
 * Corefile order.  Plugins the answer path uses get a typed struct; every
 * plugin is validated at load time (unknown directive or option = error).
 * All strings are NUL-terminated and owned by the config (freed by
 * hfi_config_free).  Zone names are lower-case, fully qualified, text form
 * ("cluster.local.", "." for the root).
 */
#ifndef HF_CONFIG_H
#define HF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm.h"

enum hfi_scheme { HFI_SCHEME_DNS, HFI_SCHEME_TLS, HFI_SCHEME_QUIC, HFI_SCHEME_GRPC, HFI_SCHEME_HTTPS, HFI_SCHEME_HTTPS3 };

typedef struct hfi_key {
	char *zone;             /* "example.org." */
	uint16_t port;          /* explicit or default for the scheme / -dns.port */
	enum hfi_scheme scheme;
} hfi_key_t;

/* A list of strings. */
typedef struct hfi_strv {
	char **v;
	size_t n;
} hfi_strv_t;

enum hfi_pods_mode { HFI_PODS_DISABLED = 0, HFI_PODS_INSECURE, HFI_PODS_VERIFIED };

typedef struct hfi_cfg_kubernetes {
	hfi_strv_t zones;          /* plugin zones (block keys if none given); CIDRs expanded */
	size_t primary;            /* index in zones of the first non-reverse zone */
	/* API connection: parsed and validated; used by the API source */
	char *endpoint;            /* first URL or NULL */
	char *tls_cert, *tls_key, *tls_ca;
	char *kubeconfig, *kubecontext;
	double apiserver_qps;      /* 0 = default */
	int apiserver_burst;
	int apiserver_max_inflight;
	/* naming */
	hfi_strv_t namespaces;     /* empty = all */
	char *namespace_labels;    /* selector text or NULL */
	char *labels;              /* selector text or NULL */
	enum hfi_pods_mode pods;
	bool endpoint_pod_names;
	uint32_t ttl;              /* default 5 */
	bool noendpoints;
	bool fallthrough;          /* fallthrough present */
	hfi_strv_t fallthrough_zones; /* empty with fallthrough = all ('.') */
	bool ignore_empty_service;
	hfi_strv_t multicluster_zones;
	bool zonal;
	uint32_t startup_timeout_ms; /* default 5000 */
	/* holdfast options */
	hfi_strv_t manifests;      /* `manifest FILE|GLOB...`, paths relative to the Corefile's dir resolved */
	uint32_t serve_stale_min_s, serve_stale_max_s; /* 0 = unset / unlimited */
	char *snapshot_path;
	uint32_t snapshot_interval_s;
	double deletion_guard;     /* default 0.5 */
} hfi_cfg_kubernetes_t;

enum hfi_fwd_policy { HFI_FWD_RANDOM = 0, HFI_FWD_ROUND_ROBIN, HFI_FWD_SEQUENTIAL };

typedef struct hfi_cfg_forward {
	char *from;                /* zone, "." for all */
	hfi_strv_t to;             /* "ip:port" (IPv6 as "[ip]:port"), resolv.conf files expanded; dns:// stripped; tls:// kept */
	hfi_strv_t except;         /* zones not forwarded */
	bool force_tcp, prefer_udp;
	uint32_t expire_ms, max_age_ms, read_timeout_ms, health_check_ms;
	int max_fails, max_connect_attempts, max_idle_conns, max_concurrent;
	enum hfi_fwd_policy policy;
	bool failfast_all_unhealthy_upstreams, next_on_nodata;
	hfi_strv_t failover, next; /* rcode names */
	char *tls_servername;
	/* additive (corefile module) */
	bool hc_no_rec;            /* health_check ... no_rec */
	char *hc_domain;           /* health_check ... domain FQDN; default "." */
	bool tls;                  /* tls option present */
	char *tls_cert, *tls_key, *tls_ca; /* tls [CERT KEY [CA]] | [CA] */
	char *source_address;
	hfi_strv_t resolver;
	bool doh_get;              /* doh_method GET (default POST) */
} hfi_cfg_forward_t;

typedef struct hfi_cfg_cache {
	hfi_strv_t zones;
	uint32_t success_cap, denial_cap;
	uint32_t success_ttl, success_minttl, denial_ttl, denial_minttl;
	uint32_t prefetch_amount, prefetch_duration_s, prefetch_pct;
	bool serve_stale;
	uint32_t stale_duration_s, stale_response_ttl_s, stale_failure_recheck_s, stale_verify_timeout_ms;
	bool stale_verify, prefer_positive;
	uint32_t servfail_ttl_s;   /* default 5 */
	hfi_strv_t disable_success, disable_denial; /* zones; present-but-empty = all */
	bool disable_success_set, disable_denial_set;
	bool keepttl;
} hfi_cfg_cache_t;

typedef struct hfi_cfg_transfer {
	hfi_strv_t zones;
	hfi_strv_t to;             /* addresses or "*" */
	char *source;              /* additive: `source ADDRESS` or NULL */
} hfi_cfg_transfer_t;

/* ---- additive (corefile module): typed configs of the other plugins ---- */

#define HFI_LOG_CLASS_SUCCESS 1u
#define HFI_LOG_CLASS_DENIAL 2u
#define HFI_LOG_CLASS_ERROR 4u
#define HFI_LOG_CLASS_ALL 7u

typedef struct hfi_cfg_log_rule {
	char *name;                /* name scope (dns.Fqdn of what was written) */
	char *format;              /* CoreDNS log format ({common}/{combined} expanded) */
	unsigned classes;          /* HFI_LOG_CLASS_* bits */
} hfi_cfg_log_rule_t;

typedef struct hfi_cfg_log {
	hfi_cfg_log_rule_t *rules;
	size_t nrules;
} hfi_cfg_log_t;

typedef struct hfi_cfg_errors_pattern {
	uint32_t duration_ms;
	char *regexp;              /* Go (RE2) syntax, as written */
	int level;                 /* enum hfi_log_level, default error */
	bool show_first;
} hfi_cfg_errors_pattern_t;

typedef struct hfi_cfg_errors {
	bool stacktrace;
	hfi_cfg_errors_pattern_t *consolidate;
	size_t nconsolidate;
} hfi_cfg_errors_t;

enum hfi_lb_policy { HFI_LB_ROUND_ROBIN = 0, HFI_LB_WEIGHTED };

typedef struct hfi_cfg_loadbalance {
	enum hfi_lb_policy policy;
	char *weight_file;         /* weighted FILE */
	uint32_t reload_ms;        /* default 30 s */
	hfi_strv_t prefer;         /* CIDRs */
} hfi_cfg_loadbalance_t;

typedef struct hfi_cfg_hosts {
	char *path;                /* default "/etc/hosts" */
	hfi_strv_t zones;
	hfi_strv_t inline_lines;   /* "IP NAME..." lines written in the block */
	uint32_t ttl;              /* default 3600 */
	bool no_reverse;
	uint32_t reload_ms;        /* default 5 s, 0 = off */
	bool fallthrough;
	hfi_strv_t fallthrough_zones; /* empty with fallthrough = all */
	bool fallthrough_unsupported;
} hfi_cfg_hosts_t;

typedef struct hfi_cfg_file {
	char *path;
	hfi_strv_t zones;
	uint32_t reload_ms;        /* default 1 min, 0 = never */
	bool reload_by_mtime;
	bool fallthrough;
	hfi_strv_t fallthrough_zones;
} hfi_cfg_file_t;

typedef struct hfi_cfg_chaos {
	char *version;             /* NULL = the server's own version */
	hfi_strv_t authors;        /* empty = built-in list; sorted, unique */
} hfi_cfg_chaos_t;

/* One plugin of a server block, in chain order. */
typedef struct hfi_plugin {
	const char *name;          /* static string from the plugin table */
	int order;                 /* position in plugin.cfg (1-based) */
	void *cfg;                 /* typed config for plugins with one, else NULL */
	const char *file;          /* where it was written */
	int line, col;
} hfi_plugin_t;

typedef struct hfi_block {
	hfi_key_t *keys;
	size_t nkeys;
	hfi_strv_t bind;           /* bind addresses (numeric); empty = all */
	hfi_plugin_t *plugins;     /* sorted by order */
	size_t nplugins;
	/* typed shortcuts into plugins[] (NULL when absent) */
	hfi_cfg_kubernetes_t *kubernetes;
	hfi_cfg_forward_t **forward; /* several forward lines allowed, Corefile order */
	size_t nforward;
	hfi_cfg_cache_t *cache;
	hfi_cfg_transfer_t *transfer;
	bool has_whoami, has_any, has_log, has_errors, has_loadbalance, has_chaos;
	const char *file;
	int line;
	/* additive (corefile module) */
	int col;
	hfi_cfg_hosts_t *hosts;
	hfi_cfg_file_t **files;    /* one per `file` line, Corefile order */
	size_t nfiles;
	hfi_cfg_log_t *log_cfg;
	hfi_cfg_errors_t *errors_cfg;
	hfi_cfg_loadbalance_t *lb_cfg;
	hfi_cfg_chaos_t *chaos;
	uint32_t read_timeout_ms, write_timeout_ms, idle_timeout_ms; /* timeouts; 0 = default */
	bool has_health, has_ready, has_prometheus, has_reload, has_loop, has_debug,
	     has_bind, has_timeouts, has_hosts, has_file, has_transfer, has_cache,
	     has_forward, has_kubernetes;
} hfi_block_t;

#define HFI_BREAKGLASS_ALLOW_MAX 32

/* A network: `breakglass { allow CIDR }` (issue 7). */
typedef struct hfi_cidr {
	uint8_t family, prefix;    /* 4 or 6; prefix length */
	uint8_t addr[16];          /* masked */
} hfi_cidr_t;
/* "10.0.0.0/8", "fd00::/8" or a bare address (admin_limit.c); false on error. */
bool hfi_admin_cidr(const char *s, uint8_t *family, uint8_t *prefix, uint8_t addr[16]);

typedef struct hfi_config {
	hfi_block_t *blocks;
	size_t nblocks;
	char *health_addr;         /* "host:port" or NULL when health absent; default ":8080" */
	uint32_t health_lameduck_ms;
	char *ready_addr;          /* default ":8181" */
	char *metrics_addr;        /* prometheus; default "localhost:9153" */
	uint32_t reload_interval_ms, reload_jitter_ms; /* 0 = no reload plugin */
	uint64_t memory_bytes;     /* `memory SIZE`; 0 = unset */
	char *breakglass_addr;
	char *path;                /* Corefile path as given */
	hf_mm_t mm;
	/* additive (corefile module) */
	bool ready_continuously;   /* ready { monitor continuously } */
	char **files;              /* names block/plugin file pointers refer to */
	size_t nfiles;
	/* break-glass (issue 7): `breakglass [ADDR] { token_file FILE; allow CIDR... }`.
	 * breakglass_addr (above) is set, default "127.0.0.1:9154", whenever the
	 * directive is present.  Fixed-size so hfi_config_free needs nothing new. */
	char breakglass_token_file[4096]; /* resolved against the Corefile's dir; "" = none */
	size_t breakglass_nallow;         /* 0 = loopback only */
	hfi_cidr_t breakglass_allow[HFI_BREAKGLASS_ALLOW_MAX];
} hfi_config_t;

/*
 * Load and validate a Corefile.  path "stdin" reads standard input.
 * default_port: port for dns:// keys without one (0 = 53).
 * On error returns NULL and writes the message (CoreDNS wording where the
 * spec gives one, always containing FILE:LINE) into err.
 */
hfi_config_t *hfi_config_load(const char *path, int default_port, const hf_mm_t *mm,
			      char *err, size_t errlen);
/* The same from a string; name is used in error messages, base_dir for imports. */
hfi_config_t *hfi_config_parse(const char *name, const char *text, size_t len,
			       const char *base_dir, int default_port,
			       const hf_mm_t *mm, char *err, size_t errlen);
void hfi_config_free(hfi_config_t *cfg);

/* Plugin table: order from plugin.cfg; returns 0 for unknown names. */
int hfi_plugin_order(const char *name);

#endif
