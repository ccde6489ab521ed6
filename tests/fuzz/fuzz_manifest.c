/*
 * fuzz_manifest.c: libFuzzer harness for the manifest source: the input is
 * loaded as a manifest (YAML or JSON) into a fresh store, which is walked
 * and freed.  Must never crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hfi_store_t *st = hfi_store_new(NULL);
	if (st == NULL)
		return 0;
	char err[512];
	hfi_manifest_opts_t opts = { .load_pods = true, .load_slices = true };
	int ret = hfi_manifest_load_buf(st, "fuzz", (const char *)data, size, &opts, err, sizeof(err));
	volatile size_t sink = (size_t)ret;
	/* touch what was stored */
	for (size_t i = 0; i < hfi_store_count_services(st); i++)
		sink += hfi_store_service_at(st, i)->nports;
	for (size_t i = 0; i < hfi_store_count_slices(st); i++)
		sink += hfi_store_slice_at(st, i)->naddrs;
	(void)sink;
	hfi_store_free(st);
	return 0;
}
