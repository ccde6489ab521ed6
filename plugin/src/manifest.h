/*
 * manifest.h: the manifest source: loads Kubernetes objects from YAML or
 * JSON files (`kubectl get ... -o yaml` output: multi-document YAML, a
 * single object, or `kind: List`) into the object store.  Kinds it does not
 * use are skipped; objects of a used kind that lack required fields are
 * rejected with a message naming file, document and field.  Selectors from
 * the kubernetes plugin (labels, namespace_labels) are applied here.
 */
#ifndef HF_MANIFEST_H
#define HF_MANIFEST_H

#include <stddef.h>

#include "objects.h"
#include "selector.h"

typedef struct hfi_manifest_opts {
	const hfi_selector_t *labels;      /* applied to Services, EndpointSlices, Pods; NULL = all */
	bool load_pods;                    /* pods verified */
	bool load_slices;                  /* false with noendpoints */
	const hfi_selector_t *namespace_labels; /* applied to Namespaces; NULL = all */
	const hf_mm_t *tmp_mm;             /* transient allocations (tests); NULL = malloc */
} hfi_manifest_opts_t;

/* Load one file (path, not a glob). Returns the number of objects stored
 * (>= 0) or a negative hf_err with a message "FILE: ..." in err:
 * "FILE:LINE:COL: yaml: ..." (HF_EPARSE) for YAML errors,
 * "FILE: document N: [items[I]: ]KIND NS/NAME: field F: problem"
 * (HF_EMANIFEST) for a bad object.  Objects stored before an error stay in
 * the store (the caller discards it). */
int hfi_manifest_load_file(hfi_store_t *st, const char *path,
			   const hfi_manifest_opts_t *opts, char *err, size_t errlen);
/* The same from memory (name for messages). */
int hfi_manifest_load_buf(hfi_store_t *st, const char *name, const char *buf, size_t len,
			  const hfi_manifest_opts_t *opts, char *err, size_t errlen);
/* Expand a glob (or plain path) and load every match.  A glob that matches
 * nothing is an error; so is a missing plain file. */
int hfi_manifest_load_glob(hfi_store_t *st, const char *pattern,
			   const hfi_manifest_opts_t *opts, char *err, size_t errlen);

#endif
