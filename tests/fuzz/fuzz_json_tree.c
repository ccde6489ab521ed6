/*
 * fuzz_json_tree.c: libFuzzer harness, differential: the JSON fast path of
 * hfi_yt_parse against libyaml (hfi_yt_parse_yaml) on the same input.  When
 * both accept, every callback and node (type, flags, line/column, bytes)
 * must be identical; one accepting and the other refusing is a bug except
 * for the documented differences (yaml_tree_json.c): \u surrogate pairs,
 * which only the JSON path decodes, and YAML the fast path cannot hand to
 * libyaml once List elements were handed out (between elements, after the
 * List, or turning the JSON root into a block mapping key), which only
 * libyaml reads.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_json_tree.h"
#include "holdfast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_surrogate_escape(const char *p, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (p[i] == '\\' && p[i + 1] == 'u' && (p[i + 2] == 'd' || p[i + 2] == 'D'))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	const char *p = (const char *)data;
	size_t chunk = size & 1 ? 0 : 1 + size % 13;
	jt_out_t y, j;
	jt_run(p, size, true, 0, NULL, &y);
	jt_run(p, size, false, chunk, NULL, &j);
	if (y.ret == HF_EOK && j.ret == HF_EOK) {
		if (strcmp(y.s, j.s) != 0)
			abort();
	} else if (y.ret == HF_EOK) {
		/* only the fast path refused: allowed once it had streamed items */
		if (!jt_is_json(p, size) || strncmp(j.s, "item ", 5) != 0)
			abort();
	} else if (j.ret == HF_EOK) {
		/* only libyaml refused: JSON surrogate pairs */
		if (!jt_is_json(p, size) || !has_surrogate_escape(p, size))
			abort();
	}
	free(y.s);
	free(j.s);
	return 0;
}
