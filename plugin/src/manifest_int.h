/*
 * manifest_int.h: private to the manifest source: the conversion context
 * shared by manifest.c (files, documents, Lists) and manifest_convert.c
 * (one YAML node -> one store object).
 */
#ifndef HF_MANIFEST_INT_H
#define HF_MANIFEST_INT_H

#include <stddef.h>

#include "manifest.h"
#include "yaml_tree.h"

typedef struct hfi_mf_deferred {
	const hfi_yt_node_t *node;
	size_t index;
} hfi_mf_deferred_t;

typedef struct hfi_mf_ctx {
	hfi_store_t *st;
	const hfi_manifest_opts_t *opts;
	const hf_mm_t *mm; /* transient */
	const char *name;  /* file name for messages */
	unsigned docno;
	char *err;
	size_t errlen;
	int stored;
	/* scratch arrays reused from object to object */
	hfi_port_t *ports;
	size_t ports_cap;
	hfi_ip_t *ips;
	size_t ips_cap;
	hfi_ep_addr_t *addrs;
	size_t addrs_cap;
	hfi_kv_t *kv;
	size_t kv_cap;
	/* top-level List items without a kind, typed once the List's kind is known */
	hfi_mf_deferred_t *deferred;
	size_t ndeferred, deferred_cap;
} hfi_mf_ctx_t;

/*
 * Convert and store one object (or List).  where: "items[3]" style prefix
 * for List items, "" for a document root.  dkind/dapi: kind and apiVersion
 * to assume when the object has none (items of a typed List), or NULL.
 * Returns 0 or a negative hf_err with the message in c->err.
 */
int hfi_mf_object(hfi_mf_ctx_t *c, const hfi_yt_node_t *obj, const char *where,
		  const char *dkind, const char *dapi, unsigned depth);
/* The kind an item of a List of this kind has ("ServiceList" -> "Service");
 * NULL for "List" and anything else.  buf receives the text. */
const char *hfi_mf_item_kind(const hfi_yt_node_t *list, char *buf, size_t len);
void hfi_mf_ctx_fini(hfi_mf_ctx_t *c);

#endif
