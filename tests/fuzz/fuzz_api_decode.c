/*
 * fuzz_api_decode.c: libFuzzer harness for the API source's decoding of
 * untrusted server answers: the input is fed as a List page and as a watch
 * line of every resource (hfi_api_decode_list / hfi_api_decode_event into
 * scratch stores) and as a Status body.  Must never crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "api_int.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const hfi_manifest_opts_t opts[HFI_RES_COUNT] = {
		[HFI_RES_SLICES] = { .load_slices = true },
		[HFI_RES_PODS] = { .load_pods = true },
	};
	char err[512];
	hfi_log_set_quiet(1);
	if (size > (1u << 20))
		return 0;
	for (int r = 0; r < HFI_RES_COUNT; r++) {
		hfi_store_t *st = hfi_store_new(NULL);
		if (st == NULL)
			return 0;
		hfi_api_list_info_t info;
		(void)hfi_api_decode_list((hfi_resource_t)r, (const char *)data, size, st, &opts[r], NULL, &info,
					  err, sizeof(err));
		hfi_api_list_info_fini(&info);
		hfi_api_event_t ev;
		(void)hfi_api_decode_event((hfi_resource_t)r, (const char *)data, size, st, &opts[r], &ev, err,
					   sizeof(err));
		hfi_api_event_fini(&ev);
		hfi_store_free(st);
	}
	long code;
	char msg[128];
	hfi_api_decode_status((const char *)data, size, &code, msg, sizeof(msg));
	return 0;
}
