/*
 * k8s.h: the kubernetes plugin's answer side: an immutable index built from
 * the object store for one plugin configuration, and the function that
 * answers a query from it (spec sections 4.3-4.12, byte-exact).
 *
 * The index holds everything precomputed: per name (relative to the zone,
 * lower case) the RRsets in wire-ready form; answers join precompiled name
 * prefixes with the zone as spelled in the query.  hfi_k8s_answer() never
 * allocates, never blocks, and never touches the store: a new index is built
 * and swapped in (RCU) when objects change.
 */
#ifndef HF_K8S_H
#define HF_K8S_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "msg.h"
#include "objects.h"
#include "query.h"

typedef struct hfi_k8s_index hfi_k8s_index_t;

/*
 * Build an index.  self/nself: the server's own addresses for NS answers
 * (bind addresses, or all non-loopback interface addresses; loopback already
 * excluded by the caller).  Returns NULL on allocation failure.
 */
hfi_k8s_index_t *hfi_k8s_index_build(const hfi_store_t *st, const hfi_cfg_kubernetes_t *cfg,
				     const hfi_ip_t *self, size_t nself, const hf_mm_t *mm);
void hfi_k8s_index_free(hfi_k8s_index_t *ix);

enum hfi_k8s_result {
	HFI_K8S_DONE = 0,      /* resp is the reply */
	HFI_K8S_NEXT = 1,      /* not ours or fallthrough: call the next plugin */
	HFI_K8S_RESOLVE = 2    /* resp holds a CNAME to an out-of-zone target; the
				  caller may resolve the target through the chain and
				  append the records (ExternalName, spec 4.5).  The
				  target is name1 of the last answer record (a CNAME;
				  earlier CNAMEs of an in-zone chain precede it); ask
				  for q->qtype (A or AAAA) and copy TC from the reply */
};

/* True if the query name is inside one of the plugin's zones. */
bool hfi_k8s_handles(const hfi_k8s_index_t *ix, const hfi_query_t *q);

/*
 * Answer q (class IN, already routed to this block).  synced: false before
 * the first full sync (NXDOMAIN-class answers become SERVFAIL + SOA).
 * now: unix seconds (unused for answers, reserved for stale).
 */
int hfi_k8s_answer(const hfi_k8s_index_t *ix, const hfi_query_t *q, bool synced,
		   hfi_resp_t *resp);

/* Number of names in the index (status, tests). */
size_t hfi_k8s_index_names(const hfi_k8s_index_t *ix);

#endif
