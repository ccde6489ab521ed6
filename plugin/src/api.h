/*
 * api.h: the Kubernetes API source: list then watch Namespaces, Services,
 * discovery.k8s.io/v1 EndpointSlices and (pods verified only) Pods, and feed
 * everything through an hfi_sync_t into the object store.  Gentle by
 * construction (design.md "API client"): paginated lists (limit=500, first
 * with resourceVersion=0), watches with bookmarks and a randomised
 * timeoutSeconds resumed from the last resourceVersion, 410 -> relist,
 * 429/5xx -> Retry-After, exponential backoff with full jitter 0.8 s -> 30 s,
 * one list in flight per resource, apiserver_qps/burst/max_inflight,
 * User-Agent holdfast/VERSION.  Runs on threads of its own; hfi_api_stop
 * joins them promptly (bounded).
 */
#ifndef HF_API_H
#define HF_API_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sync.h"

typedef struct hfi_api hfi_api_t;

typedef struct hfi_api_stats {
	uint64_t requests[HFI_RES_COUNT][2]; /* [resource][0 = list, 1 = watch] */
	uint64_t errors[HFI_RES_COUNT];
	uint64_t relists[HFI_RES_COUNT];
	uint64_t status_410, status_429, status_5xx;
	/* additive (api module) */
	uint64_t bad_objects[HFI_RES_COUNT]; /* objects skipped: failed conversion / wrong kind */
	uint64_t status_other;      /* other non-2xx answers (401, 403, 404, ...) */
} hfi_api_stats_t;

/* Resolve the connection (endpoint/tls, kubeconfig [context], or in-cluster
 * config) without connecting.  NULL + message on a bad kubeconfig etc. */
hfi_api_t *hfi_api_new(const hfi_cfg_kubernetes_t *cfg, hfi_sync_t *sync, char *err, size_t errlen);
/* Start the threads. */
int hfi_api_start(hfi_api_t *api);
/* Stop and join (returns within ~1 s), then free. NULL is fine. */
void hfi_api_free(hfi_api_t *api);
void hfi_api_get_stats(hfi_api_t *api, hfi_api_stats_t *out);
/* Additive: the resources this config watches (for hfi_sync_cfg_t.want):
 * namespaces and services always, endpointslices unless noendpoints, pods
 * only with `pods verified`. */
void hfi_api_want(const hfi_cfg_kubernetes_t *cfg, bool want[HFI_RES_COUNT]);

#endif
