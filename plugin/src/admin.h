/*
 * admin.h: the break-glass state the answer path reads (issue 7): operator
 * overrides and per-client rate limits.  Both are immutable tables built by
 * the admin commands (admin_override.c, admin_limit.c) and published through
 * atomic pointers in hf_engine (engine_int.h); a replaced table is reused
 * only once no worker that could have seen it is still inside hf_answer
 * (the epoch scheme of the index, engine_sync.c).  The answer-side
 * functions (admin_answer.c) never lock, block or allocate.
 *
 * Overrides: records (owner, type, TTL, RDATA) for A, AAAA, CNAME, TXT,
 * SRV, PTR, MX and NS.  A query whose name and type have override records
 * is answered from them (AA, NOERROR), before any plugin and on every
 * listener; a CNAME override answers every type but ANY and is chased
 * (through further overrides, then the cluster data or a forward).  A name
 * with overrides of other types only falls through to the normal answer,
 * with NXDOMAIN turned into NODATA (the name exists).
 *
 * Limits: rules CIDR -> QPS (0 = block).  The most specific rule that
 * matches a client applies; all clients of a rule share its budget, a GCRA
 * token bucket (burst one second of QPS) in one atomic per rule.  Queries
 * over the limit are dropped (HF_DROP, counted in the drops counter): no
 * reply, so a flood costs the workers nothing to answer and nothing is
 * amplified; real resolvers retry.
 */
#ifndef HF_ADMIN_H
#define HF_ADMIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine_int.h"

#define HFI_OVR_MAX 256         /* override records in all */
#define HFI_OVR_RDATA 520       /* fixed part + target name, or TXT strings */

typedef struct hfi_ovr_rr {
	uint8_t owner[HFI_DNAME_MAX + 1]; /* lower-case wire */
	uint16_t olen;
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;         /* RDATA bytes that are not a name: A 4, AAAA 16,
	                         * SRV 6, MX 2, TXT all, CNAME/PTR/NS 0 */
	uint16_t nlen;          /* target name (wire) after them, 0 if none */
	uint8_t rdata[HFI_OVR_RDATA];
} hfi_ovr_rr_t;

/* Sorted by (olen, owner, type); an RRset is adjacent. */
struct hfi_ovr_table {
	uint32_t n;
	hfi_ovr_rr_t rr[HFI_OVR_MAX];
};
typedef struct hfi_ovr_table hfi_ovr_table_t;

#define HFI_LIMIT_MAX 64

typedef struct hfi_limit_rule {
	uint8_t family;         /* 4 or 6 */
	uint8_t prefix;
	uint8_t addr[16];       /* masked */
	uint32_t qps;           /* 0 = drop everything */
	_Atomic int64_t tat;    /* GCRA theoretical arrival time (ns, monotonic) */
	_Atomic uint64_t dropped;
} hfi_limit_rule_t;

/* Sorted by prefix length, longest first. */
struct hfi_limit_table {
	uint32_t n;
	hfi_limit_rule_t r[HFI_LIMIT_MAX];
};
typedef struct hfi_limit_table hfi_limit_table_t;

/* ---- answer side (admin_answer.c) ---- */

/* True if a limit rule says to drop this query from client. */
bool hfi_limit_drop(hf_engine_t *e, const struct sockaddr *client);

/* First record of (lname, type) in t and their number (0: none). */
size_t hfi_ovr_find(const hfi_ovr_table_t *t, const uint8_t *lname, uint16_t type,
		    size_t *first);
/* True if t holds any record owned by lname. */
bool hfi_ovr_has_name(const hfi_ovr_table_t *t, const uint8_t *lname);

enum hfi_ovr_result {
	HFI_OVR_NONE = 0,   /* no override for this name: the normal path */
	HFI_OVR_ANSWER,     /* w->resp is the reply: pack it */
	HFI_OVR_FORWARD     /* w->resp holds the CNAME chain, the target goes
			       through forward (*fwd): return HF_FORWARD */
};
/* Overrides for the parsed query w->q (class IN).  Sets w->ovr_name when
 * the name has overrides of other types only (NXDOMAIN -> NODATA). */
int hfi_ovr_answer(hf_worker_t *w, const hfi_cfg_forward_t **fwd);

/* ---- engine_chase.c: an override CNAME's target ---- */

/* Answer the target (lower-case wire, qtype of w->q) from the kubernetes
 * data serving it on the query's listener, appending after the records
 * already in w->resp.  Returns an enum hfi_ovr_result: NONE when no
 * kubernetes instance serves the target (then try forward). */
int hfi_chase_cluster(hf_worker_t *w, const uint8_t *target, const hfi_cfg_forward_t **fwd);

#endif
