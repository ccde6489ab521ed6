/*
 * plugins.h: the stock CoreDNS plugins of a cluster Corefile beyond
 * kubernetes/forward/cache: hosts, loadbalance, any, log, errors, loop.
 *
 * Design.  Each plugin's behaviour lives in its own plugin_*.c file; the
 * engine keeps one hfi_plugins_t (per-block runtime state: the published
 * hosts table, the loop probe, the errors consolidation counters) created
 * by hfi_plugins_open() after the config is loaded and freed by
 * hfi_plugins_close().  The answer path only reads immutable data or
 * touches atomics: a hosts table is built by the maintenance thread and
 * published with an atomic pointer swap; the old one is freed once no
 * worker entered hf_answer before the swap (the same epoch scheme the
 * kubernetes index uses, engine_sync.c).  Per-query scratch (the log
 * line, the loadbalance PRNG, the query's start time) lives in the
 * worker (hfi_plug_worker_t), so nothing here allocates per query.
 */
#ifndef HF_PLUGINS_H
#define HF_PLUGINS_H

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "dname.h"
#include "msg.h"
#include "query.h"

struct hf_engine;
struct hf_worker;

/* ---- hosts table (plugin_hosts_parse.c): immutable once built ---- */
typedef struct hfi_hosts_ent {
	uint32_t name_off;     /* lower-case wire name in names[] */
	uint32_t seq;          /* order of appearance (file first, then inline) */
	uint8_t family;        /* 4 or 6 */
	uint8_t addr[16];
} hfi_hosts_ent_t;

typedef struct hfi_hosts_table {
	hfi_hosts_ent_t *ents;
	size_t n;
	uint32_t *by_name;     /* indexes into ents sorted by (name, seq) */
	uint32_t *by_addr;     /* sorted by (family, addr, seq); NULL with no_reverse */
	uint8_t *names;
	size_t names_len;
	size_t len_metric;     /* CoreDNS Map.Len(): v4 + v6 + reverse entries */
	bool wildcards;        /* some name starts with the label "*" */
} hfi_hosts_table_t;

/* Build a table from a hosts file's text (may be NULL) and inline lines.
 * zones: lower-case wire zones; names outside them are skipped.  NULL on
 * out of memory. */
hfi_hosts_table_t *hfi_hosts_build(const char *text, size_t len, const hfi_strv_t *inline_lines,
				   const uint8_t *const *zones, size_t nzones, bool auto_reverse);
void hfi_hosts_table_free(hfi_hosts_table_t *t);
/* Entries for a lower-case wire name: count, *first = position in by_name. */
size_t hfi_hosts_find_name(const hfi_hosts_table_t *t, const uint8_t *lname, size_t *first);
/* Entries for an address: count, *first = position in by_addr. */
size_t hfi_hosts_find_addr(const hfi_hosts_table_t *t, int family, const uint8_t *addr,
			   size_t *first);
/* "1.0.0.127.in-addr.arpa." (wire, any case) -> family 4/6 + address; 0 if
 * the name is not a complete reverse name (dnsutil.ExtractAddressFromReverse
 * + net.ParseIP). IPv4-mapped IPv6 addresses come back as family 4. */
int hfi_hosts_reverse_addr(const uint8_t *name, uint8_t addr[16]);

/* ---- per-block runtime state ---- */
typedef struct hfi_errors_ctr {
	regex_t re;
	bool ok;
	_Atomic uint64_t count;
	_Atomic int64_t window_start_ms;
} hfi_errors_ctr_t;

typedef struct hfi_plug_block {
	/* hosts */
	_Atomic(hfi_hosts_table_t *) hosts;
	uint8_t (*hosts_zones)[HFI_DNAME_MAX + 1];
	size_t hosts_nzones;
	uint8_t (*hosts_ft)[HFI_DNAME_MAX + 1];
	size_t hosts_nft;
	int64_t hosts_mtime_ns;
	int64_t hosts_size;
	int64_t hosts_next_check_ms;
	_Atomic int64_t hosts_reload_ts_ns; /* file mtime of the last load */
	/* loop */
	char loop_qname[300];   /* text, "123.456.zone." */
	uint8_t loop_wire[HFI_DNAME_MAX + 1]; /* lower-case wire */
	_Atomic int loop_seen;
	_Atomic int64_t loop_off_ms; /* the check stops at this time (CLOCK_MONOTONIC ms) */
	/* errors */
	hfi_errors_ctr_t *errs;
	size_t nerrs;
	/* loadbalance: weighted table (published like hosts), prefer subnets */
	_Atomic(struct hfi_lb_weights *) lbw;
	uint64_t lbw_hash;
	int64_t lbw_next_ms;
	hfi_cidr_t *prefer;
	size_t nprefer;
} hfi_plug_block_t;

typedef struct hfi_plugins {
	hfi_plug_block_t *blocks;
	size_t nblocks;
	/* retired immutable tables, freed once no worker can hold them */
	struct { void *p; void (*free_fn)(void *); uint64_t tag; } retired[16];
	size_t nretired;
	int64_t opened_ms;
} hfi_plugins_t;

/* ---- per-worker scratch ---- */
#define HFI_LOG_LINE_MAX 4096
typedef struct hfi_plug_worker {
	int64_t t0_ns;          /* start of hf_answer (CLOCK_MONOTONIC) */
	int block;              /* routed block, -1 before routing */
	int transport;
	bool logged;            /* the log line of this query was written */
	struct sockaddr_storage client;
	bool has_client;
	uint64_t rng;           /* loadbalance PRNG (xorshift64*) */
	char line[HFI_LOG_LINE_MAX];
} hfi_plug_worker_t;

/* plugins.c: false for the setup-only directives (health, ready, reload,
 * bind, ...), which are neither in the DNS handler chain (errors) nor in
 * coredns_plugin_enabled (engine_metrics.c); true for every other name. */
bool hfi_plugin_is_handler(const char *name);
/* plugins.c: lifecycle */
int hfi_plugins_open(struct hf_engine *e, char *err, size_t errlen);
void hfi_plugins_close(struct hf_engine *e);
/* maintenance thread: hosts reloads and reclaiming old tables */
void hfi_plugins_maint(struct hf_engine *e, int64_t now_ms);
/* true when hfi_plugins_maint has work (a hosts reload configured) */
bool hfi_plugins_need_maint(const struct hf_engine *e);
/* start of hf_answer: time, client, transport */
void hfi_plugins_begin(struct hf_worker *w, const struct sockaddr *client, int transport);

/* hf_forward_reply's last step: ret is what it would return (HF_EOK: the
 * client's reply is resp, *resplen bytes; HF_ENOENT: the upstream's reply as it
 * is, or the host's SERVFAIL when reply is NULL).  Applies loadbalance
 * (which may turn HF_ENOENT into HF_EOK with the reply copied into resp)
 * and writes the log line; returns the verdict to return. */
int hfi_plugins_reply(struct hf_worker *w, int ret, const uint8_t *reply, size_t rlen,
		      uint8_t *resp, size_t respcap, size_t *resplen);

/* Publish-side helpers (maintenance thread / open / close only): retire
 * an old table (freed when no worker entered hf_answer before now), and
 * free the retired ones no reader can hold (all: every one). */
void hfi_plugins_retire(struct hf_engine *e, void *old, void (*free_fn)(void *));
void hfi_plugins_reclaim(struct hf_engine *e, bool all);

/* Verdicts of the chain plugins below. */
enum { HFI_PLUG_NEXT = 0, HFI_PLUG_ANSWER = 1, HFI_PLUG_SERVFAIL = 2 };

/* plugin_hosts.c */
int hfi_hosts_open_block(struct hf_engine *e, size_t bi);
void hfi_hosts_close_block(struct hf_engine *e, size_t bi);
void hfi_hosts_maint(struct hf_engine *e, int64_t now_ms);
int hfi_hosts_answer(struct hf_worker *w, size_t block, hfi_resp_t *resp);
/* coredns_hosts_entries and coredns_hosts_reload_timestamp_seconds (the
 * metrics module calls this inside /metrics); fn as hf_metrics_write. */
int hfi_hosts_metrics(struct hf_engine *e, int (*fn)(void *ctx, const char *data, size_t len),
		      void *ctx);

/* plugin_any.c: qtype ANY -> RFC 8482 HINFO answer; false = not ANY */
bool hfi_any_answer(const hfi_query_t *q, hfi_resp_t *resp);

/* plugin_loadbalance.c: shuffle resp per spec 10 when the block has
 * loadbalance (call right before packing a final engine answer). */
void hfi_lb_apply(struct hf_worker *w, hfi_resp_t *resp);
/* The same for a forwarded reply in wire form (in place; only what can be
 * moved without touching compression pointers). */
void hfi_lb_apply_wire(struct hf_worker *w, uint8_t *msg, size_t len);
uint32_t hfi_lb_rand(struct hf_worker *w, uint32_t n);
/* The round_robin reordering of every section of resp (rng: PRNG state). */
void hfi_lb_shuffle(hfi_resp_t *resp, uint64_t *rng);
/* rr[ord[k]] moves to rr[slot[k]] (slots ascending, ord a permutation of them). */
void hfi_lb_permute(hfi_resp_t *r, const uint16_t *slot, const uint16_t *ord, size_t n);

/* plugin_loadbalance_weighted.c: `weighted FILE` and `prefer CIDR...` */
struct hfi_lb_weights;
int hfi_lb_open_block(struct hf_engine *e, size_t bi, char *err, size_t errlen);
void hfi_lb_close_block(struct hf_engine *e, size_t bi);
void hfi_lb_maint(struct hf_engine *e, int64_t now_ms);
/* weighted: move one weight-drawn address first (A/AAAA/SRV queries) */
void hfi_lb_weighted(struct hf_worker *w, size_t bi, hfi_resp_t *resp);
/* prefer: addresses in the subnets first, in subnet order (stable) */
void hfi_lb_prefer(const hfi_plug_block_t *pb, hfi_resp_t *resp);
/* The reorderings on wire replies (answer section of A/AAAA records with
 * pointer owners only); return false when the message has another shape. */
bool hfi_lb_weighted_wire(struct hf_worker *w, size_t bi, uint8_t *msg, size_t len);
bool hfi_lb_prefer_wire(const hfi_plug_block_t *pb, uint8_t *msg, size_t len);
/* Parsing of a weight file (exposed for tests): NULL + err on a bad file. */
struct hfi_lb_weights *hfi_lb_weights_parse(const char *text, size_t len, const char *fname,
					    char *err, size_t errlen);
void hfi_lb_weights_free(void *w);
/* Weight of addr for a lower-case wire owner (1 when not listed). */
unsigned hfi_lb_weight_of(const struct hfi_lb_weights *t, const uint8_t *lname, int family,
			  const uint8_t *addr);

/* plugin_loop.c: the loop plugin's check in the chain (may exit(1)) */
void hfi_loop_check(struct hf_worker *w, size_t block, const struct sockaddr *client);
void hfi_loop_init_block(hfi_plug_block_t *pb, const hfi_block_t *b, uint64_t seed, int64_t now_ms);

/* plugin_log.c: one log line per reply (reply in wire form) */
void hfi_log_reply(struct hf_worker *w, const uint8_t *reply, size_t len, bool recorded);
/* Format one line (no "[INFO] " prefix, no newline) into out; returns its
 * length.  Exposed for tests. */
typedef struct hfi_log_fields {
	const hfi_query_t *q;
	const struct sockaddr *client;
	int transport;
	const uint8_t *reply;
	size_t rlen;
	int64_t duration_ns;
	const char *server_addr; /* {local}: the listener's address ("" = wildcard) */
	uint8_t ext_rcode;       /* upper rcode bits from the reply's OPT */
} hfi_log_fields_t;
size_t hfi_log_format(const char *fmt, const hfi_log_fields_t *f, char *out, size_t cap);

/* plugin_errors.c */
void hfi_errors_report(struct hf_worker *w, int rcode, const char *msg);
/* The chain ended without an answer (SERVFAIL follows): NextOrFailure's error. */
void hfi_errors_chain_end(struct hf_worker *w, const hfi_block_t *b);
int hfi_errors_init_block(hfi_plug_block_t *pb, const hfi_block_t *b, char *err, size_t errlen);
void hfi_errors_free_block(hfi_plug_block_t *pb);
void hfi_errors_maint(struct hf_engine *e, int64_t now_ms);
/* Go's time.Duration.String() of ms milliseconds ("30s", "1m30s", "1.5s"). */
void hfi_go_duration_text(uint32_t ms, char *out, size_t cap);

#endif
