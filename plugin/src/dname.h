/*
 * dname.h: domain names in wire form (length-prefixed labels ending with
 * the root label): conversion from text, lower-casing, label walking,
 * suffix tests.  No allocation.
 */
#ifndef HF_DNAME_H
#define HF_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HFI_DNAME_MAX 255
#define HFI_LABEL_MAX 63

/* Text ("a.b.", "a.b", ".") to wire into out (cap >= 256). No escapes.
 * Returns wire length or HF_EINVAL (empty label, label > 63, name > 255). */
int hfi_dname_from_str(const char *text, uint8_t *out, size_t cap);
/* Wire to text with trailing dot ("." for root); returns text length or error. */
int hfi_dname_to_str(const uint8_t *wire, char *out, size_t cap);
/* Length of a (valid, uncompressed) wire name including the root label. */
size_t hfi_dname_len(const uint8_t *wire);
/* Number of labels, root excluded. */
int hfi_dname_labels(const uint8_t *wire);
/* Lower-case copy (ASCII). */
void hfi_dname_lower(uint8_t *dst, const uint8_t *src);
/* Case-insensitive equality of two wire names. */
bool hfi_dname_eq(const uint8_t *a, const uint8_t *b);
/* True if name equals zone or lies below it (case-insensitive). */
bool hfi_dname_in_zone(const uint8_t *name, const uint8_t *zone);
/* Pointer to the suffix of name that has `labels` labels (root excluded). */
const uint8_t *hfi_dname_suffix(const uint8_t *name, int labels);

#endif
