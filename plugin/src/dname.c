/*
 * dname.c: domain names in wire form (length-prefixed labels ending with
 * the root label): text conversion, lower-casing, label walking, suffix
 * tests.  Names handed to these functions are valid and uncompressed
 * (the query parser and the index only produce such names).
 */
#include <string.h>

#include "holdfast.h"
#include "dname.h"

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

int hfi_dname_from_str(const char *text, uint8_t *out, size_t cap)
{
	if (text == NULL || out == NULL || cap < 1)
		return HF_EINVAL;
	size_t tlen = strlen(text);
	if (tlen == 0)
		return HF_EINVAL;
	if (tlen == 1 && text[0] == '.') {
		out[0] = 0;
		return 1;
	}
	size_t off = 0, i = 0;
	while (i < tlen) {
		size_t j = i;
		while (j < tlen && text[j] != '.')
			j++;
		size_t ll = j - i;
		if (ll == 0 || ll > HFI_LABEL_MAX)
			return HF_EINVAL;
		/* label + the root byte still to come must fit in 255 */
		if (off + 1 + ll + 1 > HFI_DNAME_MAX)
			return HF_EINVAL;
		if (off + 1 + ll + 1 > cap)
			return HF_ESPACE;
		out[off] = (uint8_t)ll;
		memcpy(out + off + 1, text + i, ll);
		off += 1 + ll;
		i = j + 1; /* skip the dot (or step past the end) */
	}
	out[off++] = 0;
	return (int)off;
}

int hfi_dname_to_str(const uint8_t *wire, char *out, size_t cap)
{
	if (wire == NULL || out == NULL || cap < 2)
		return HF_EINVAL;
	size_t o = 0, w = 0;
	if (wire[0] == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	while (wire[w] != 0) {
		uint8_t ll = wire[w];
		if (ll > HFI_LABEL_MAX || w + 1 + ll >= HFI_DNAME_MAX)
			return HF_EINVAL;
		if (o + ll + 2 > cap)
			return HF_ESPACE;
		memcpy(out + o, wire + w + 1, ll);
		o += ll;
		out[o++] = '.';
		w += 1 + ll;
	}
	out[o] = '\0';
	return (int)o;
}

size_t hfi_dname_len(const uint8_t *wire)
{
	size_t w = 0;
	while (w < HFI_DNAME_MAX && wire[w] != 0)
		w += 1 + (size_t)wire[w];
	return w + 1;
}

int hfi_dname_labels(const uint8_t *wire)
{
	int n = 0;
	size_t w = 0;
	while (w < HFI_DNAME_MAX && wire[w] != 0) {
		w += 1 + (size_t)wire[w];
		n++;
	}
	return n;
}

void hfi_dname_lower(uint8_t *dst, const uint8_t *src)
{
	size_t len = hfi_dname_len(src);
	size_t w = 0;
	while (w < len) {
		uint8_t ll = src[w];
		dst[w] = ll;
		for (size_t k = 1; k <= ll && w + k < len; k++)
			dst[w + k] = lower(src[w + k]);
		if (ll == 0)
			break;
		w += 1 + (size_t)ll;
	}
}

bool hfi_dname_eq(const uint8_t *a, const uint8_t *b)
{
	size_t la = hfi_dname_len(a), lb = hfi_dname_len(b);
	if (la != lb)
		return false;
	/* length bytes never fall in 'A'..'Z' (they are <= 63), so a byte-wise
	 * case-folded compare of the whole wire form is exact */
	for (size_t i = 0; i < la; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

const uint8_t *hfi_dname_suffix(const uint8_t *name, int labels)
{
	int n = hfi_dname_labels(name);
	if (labels < 0)
		labels = 0;
	if (labels > n)
		labels = n;
	int skip = n - labels;
	while (skip-- > 0)
		name += 1 + (size_t)name[0];
	return name;
}

bool hfi_dname_in_zone(const uint8_t *name, const uint8_t *zone)
{
	int nl = hfi_dname_labels(name), zl = hfi_dname_labels(zone);
	if (zl > nl)
		return false;
	return hfi_dname_eq(hfi_dname_suffix(name, zl), zone);
}
