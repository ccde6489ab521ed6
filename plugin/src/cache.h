/*
 * cache.h: the CoreDNS `cache` plugin (spec 5, plugin/cache/) inside the
 * engine.
 *
 * Design.  One hfi_cache_t per server block with `cache`, created at engine
 * open: a success and a denial cache, each 256 shards of max(cap/256, 4)
 * slots (preallocated slot arrays, a mutex per shard held only to find,
 * copy or swap an entry).  A slot points to an entry allocated from the
 * engine's mm (the `memory` region when configured) when a reply is stored;
 * a hit copies the entry into the worker's hfi_resp_t scratch area, so the
 * answer path never allocates.  The key is FNV-64 over DO, CD, qtype,
 * qclass and the lower-cased qname; the entry keeps the name and type too,
 * so a hash collision is a miss.  A full shard evicts a random slot.
 *
 * An entry is a reply in "blob" form (cache_msg.c): the records in message
 * order, names decompressed, each
 *   section(1) type(2) class(2) olen(1) owner nlen1(1) name1 nlen2(1) name2
 *   rdlen(2) rdata
 * laid out the way hfi_rr_t wants them (CNAME/NS/PTR/MX/SRV/SOA names in
 * name1/name2, other types' names expanded in rdata), plus rcode, RA, AD,
 * the duration (the one TTL every record is served with) and the insertion
 * time.  OPT records are not stored; the packer adds the client's.
 *
 * Flow (cache_answer.c): the cache plugin looks the query up; a fresh hit is
 * packed at once (AA=1, TTL = duration - age); a miss arms the worker
 * (hfi_cache_w_t) so the answer of a later plugin (kubernetes, or the
 * forwarded reply in hf_forward_reply) is classified, stored and sent with
 * every TTL rewritten to the duration.  Stale entries (serve_stale) are
 * served with TTL 0 (or RESPONSE_TTL) and EDE 3 and refreshed in the
 * background through the HF_ANSWER_REFRESH verdict, or verified first
 * (verify mode: HF_FORWARD, stale entry on failure).
 */
#ifndef HF_CACHE_H
#define HF_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "holdfast.h"
#include "msg.h"
#include "query.h"

#define HFI_CACHE_SHARDS 256
#define HFI_CACHE_BLOB_MAX HFI_RESP_SCRATCH /* larger replies are not cached */
#define HFI_CACHE_MIN_TTL_DEFAULT 5         /* dnsutil.MinimalDefaultTTL */
#define HFI_CACHE_MAX_TTL_DEFAULT 3600      /* dnsutil.MaximumDefaulTTL */
#define HFI_CACHE_REFRESH_GIVEUP_MS 10000   /* a refresh never reported back */
#define HFI_CACHE_REFRESH_SLOTS 8           /* background refreshes at once, at most */

/* response.Typify, as the cache sees it */
enum hfi_ctype {
	HFI_CT_NOERROR = 0, HFI_CT_DELEGATION, HFI_CT_NXDOMAIN, HFI_CT_NODATA,
	HFI_CT_SERVFAIL, HFI_CT_OTHER, HFI_CT_META
};
enum { HFI_CACHE_SUCCESS = 0, HFI_CACHE_DENIAL = 1 };

/* ---- cache_msg.c: a reply as a blob ---- */

typedef struct hfi_cmsg {
	uint16_t rcode;
	bool aa, tc, ra, ad;
	uint16_t nrr;
	uint16_t count[3];     /* answer, authority, additional (OPT excluded) */
	uint32_t minttl;       /* min TTL of all records (OPT excluded); UINT32_MAX if none */
	bool soa_auth;         /* an SOA in the authority section */
	unsigned ns_auth;      /* NS records in the authority section */
	bool answers_q;        /* an answer record owned by qname of qtype (or CNAME) */
	bool expired_sig;      /* an RRSIG outside its validity period */
	size_t len;            /* blob bytes */
} hfi_cmsg_t;

enum { HFI_CMSG_OK = 0, HFI_CMSG_MALFORMED = -1, HFI_CMSG_MISMATCH = -2, HFI_CMSG_TOOBIG = -3 };

/* Parse a complete upstream reply to q into blob (cap bytes).  Every
 * record must parse (names with pointer loops, truncated messages, bad
 * rdlengths and trailing records past the counts fail); the question must
 * be q's (name case-insensitively, type, class), QR set, opcode QUERY.
 * unix_now (seconds) checks RRSIG validity. */
int hfi_cmsg_parse(const uint8_t *msg, size_t len, const hfi_query_t *q, int64_t unix_now,
		   hfi_cmsg_t *out, uint8_t *blob, size_t cap);
/* The same from a reply the engine built (kubernetes plugin). */
int hfi_cmsg_from_resp(const hfi_resp_t *r, const hfi_query_t *q, hfi_cmsg_t *out, uint8_t *blob,
		       size_t cap);
/* Fill r (reset first) from a blob, every record with ttl.  The blob is
 * copied into r's scratch area.  HF_EOK or HF_EMALF. */
int hfi_cmsg_to_resp(const uint8_t *blob, size_t len, uint32_t ttl, hfi_resp_t *r);

/* response.Typify for a parsed reply to a query of type qtype/opcode. */
int hfi_cache_typify(const hfi_cmsg_t *m, uint16_t qtype, bool do_bit);
/* Lifetime in seconds of a reply of type t (spec 5: clamp of the minimal
 * TTL, servfail duration for SERVFAIL/NOTIMP). */
uint32_t hfi_cache_duration(const hfi_cfg_cache_t *cfg, int t, const hfi_cmsg_t *m);

/* ---- cache.c: the store ---- */

typedef struct hfi_cache hfi_cache_t;

/* Clock (monotonic ms); tests may replace it. */
extern int64_t (*hfi_cache_clock)(void);

hfi_cache_t *hfi_cache_new(const hfi_cfg_cache_t *cfg, const hf_mm_t *mm, const char *server);
void hfi_cache_free(hfi_cache_t *c);
const hfi_cfg_cache_t *hfi_cache_cfg(const hfi_cache_t *c);
/* Does the cache serve this (lower-case wire) name? */
bool hfi_cache_covers(const hfi_cache_t *c, const uint8_t *lname);
uint64_t hfi_cache_key(const hfi_query_t *q);
/* Slots of one cache type (256 shards of max(cap/256, 4)). */
size_t hfi_cache_capacity(const hfi_cache_t *c, int which);
size_t hfi_cache_len(const hfi_cache_t *c, int which);

/* What a lookup found. */
typedef struct hfi_chit {
	bool found;
	int which;             /* HFI_CACHE_SUCCESS / _DENIAL */
	int ctype;
	uint16_t rcode;
	bool ra, ad;
	uint32_t duration;
	int64_t ttl;           /* remaining seconds (<= 0 expired) */
	bool stale;            /* expired but within serve_stale */
	bool refresh;          /* the caller must refresh it (marked in flight) */
	bool prefetch;         /* ... and the refresh is a prefetch */
	int slot;              /* the refresh slot it holds (hfi_cache_refresh_done) */
	size_t len;            /* blob bytes copied */
} hfi_chit_t;

#define HFI_CGET_COUNT 1u   /* count requests/hits/misses (the plugin's lookup) */
#define HFI_CGET_NOREFRESH 2u /* do not start a refresh */

/* Find q; copies the blob into buf (cap >= HFI_CACHE_BLOB_MAX).  A
 * refresh starts only while fewer than max_refresh (<= HFI_CACHE_REFRESH_SLOTS;
 * 0 = half the CPUs, at least 1) are in flight in this cache: each blocks a host thread for up to the
 * forward timeout, so a dead upstream must not take every worker. */
void hfi_cache_get(hfi_cache_t *c, const hfi_query_t *q, int64_t now_ms, unsigned flags,
		   int max_refresh, uint8_t *buf, size_t cap, hfi_chit_t *hit);
/* Store a parsed reply of type t with that duration.  Returns true when
 * stored (false: disabled for the zone, not cacheable, out of memory). */
bool hfi_cache_put(hfi_cache_t *c, const hfi_query_t *q, const hfi_cmsg_t *m,
		   const uint8_t *blob, int t, uint32_t duration, int64_t now_ms);
/* A background refresh for q ended (ok: it replaced the entry); slot: the
 * hit's, released. */
void hfi_cache_refresh_done(hfi_cache_t *c, const hfi_query_t *q, bool ok, int64_t now_ms,
			    int slot);
/* Empty both caches (admin `flush cache`); returns the entries removed. */
size_t hfi_cache_flush(hfi_cache_t *c);
void hfi_cache_count_drop(hfi_cache_t *c);
void hfi_cache_count_stale(hfi_cache_t *c);

/* ---- cache_metrics.c ---- */

struct hf_engine;
/* The spec 5 metric families of every cache of the engine (one HELP/TYPE
 * per family).  Returns 0 or the first non-zero fn result. */
int hfi_cache_metrics(struct hf_engine *e, int (*fn)(void *, const char *, size_t), void *ctx);
/* counters read by cache_metrics.c */
typedef struct hfi_cache_stats {
	uint64_t entries[2], requests, hits[2], misses, prefetch, drops, stale, evictions[2];
} hfi_cache_stats_t;
void hfi_cache_stats(const hfi_cache_t *c, hfi_cache_stats_t *s);
const char *hfi_cache_server(const hfi_cache_t *c);

/* ---- cache_answer.c: the plugin in the answer path ---- */

enum { HFI_CW_NONE = 0, HFI_CW_MISS, HFI_CW_VERIFY, HFI_CW_REFRESH };

/* Per-worker cache state for the query being answered. */
typedef struct hfi_cache_w {
	hfi_cache_t *c;        /* cache that covers the query, NULL = none */
	int mode;              /* HFI_CW_* */
	bool prefetch;         /* REFRESH: counted as a prefetch */
	bool refresh_due;      /* the hit asks for a refresh after it is packed */
	int slot;              /* refresh slot held (hfi_cache_refresh_done) */
	size_t stale_len;      /* REFRESH: bytes of the reply already in out */
	size_t qlen;           /* REFRESH: the query sent upstream */
	uint8_t q[HFI_DNAME_MAX + 64];
	uint8_t blob[HFI_CACHE_BLOB_MAX];
} hfi_cache_w_t;

typedef struct hf_worker hf_worker_t;
struct hfi_block;

enum { HFI_CACHE_NEXT = -1, HFI_CACHE_HIT = 0, HFI_CACHE_REFRESH = 1 };
/* The cache plugin for block bi: HFI_CACHE_NEXT (run the rest of the
 * chain; w->cw is armed to store its answer), HFI_CACHE_HIT (w->resp holds
 * the cached reply: pack it), HFI_CACHE_REFRESH (the same, then call
 * hfi_cache_refresh_begin with the packed length and run the rest of the
 * chain as a background refresh). */
int hfi_cache_plugin(hf_worker_t *w, size_t bi);
void hfi_cache_refresh_begin(hf_worker_t *w, size_t outlen);
/* Before a plugin's answer (w->resp) is packed: store it and rewrite its
 * TTLs (miss), or finish a refresh.  Returns a verdict when the answer is
 * not to be packed (refresh: the stale reply already in out), else -1. */
int hfi_cache_on_answer(hf_worker_t *w, size_t *outlen);
/* The forward plugin is about to return HF_FORWARD: for a refresh return
 * HF_ANSWER_REFRESH (the stale reply stays in out), else -1. */
int hfi_cache_on_forward(hf_worker_t *w, size_t *outlen);
/* hf_forward_reply for a query the cache is involved in. */
int hfi_cache_forward_reply(hf_worker_t *w, const uint8_t *reply, size_t rlen, uint8_t *out,
			    size_t cap, size_t *outlen);
/* hf_forward_reply of an ExternalName chase (ret: hfi_chase_reply's):
 * store the joined answer and pack it again with the rewritten TTLs. */
int hfi_cache_after_chase(hf_worker_t *w, int ret, uint8_t *out, size_t cap, size_t *outlen);
/* Engine open/close: one cache per block with `cache`. */
int hfi_cache_open_all(struct hf_engine *e, char *err, size_t errlen);
void hfi_cache_close_all(struct hf_engine *e);

#endif
