/*
 * selector.h: Kubernetes label selectors ("a=b,c!=d,e in (x,y),!f,g")
 * parsed once and matched against an object's labels.
 */
#ifndef HF_SELECTOR_H
#define HF_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "mm.h"

typedef struct hfi_kv {
	char *key;
	char *val;
} hfi_kv_t;

typedef struct hfi_labels {
	hfi_kv_t *kv;
	size_t n;
} hfi_labels_t;

typedef struct hfi_selector hfi_selector_t;

/* Parse text; NULL + message in err on a syntax error. */
hfi_selector_t *hfi_selector_parse(const char *text, const hf_mm_t *mm, char *err, size_t errlen);
bool hfi_selector_match(const hfi_selector_t *sel, const hfi_labels_t *labels);
void hfi_selector_free(hfi_selector_t *sel);

#endif
