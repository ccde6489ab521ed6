/*
 * fuzz_api_decode.c: libFuzzer harness for the API source's decoding of
 * untrusted server answers: the input is fed as a List page and as a watch
 * line of every resource (hfi_api_decode_list / hfi_api_decode_event into
 * scratch stores) and as a Status body; then as a watch stream: split at
 * '\n' into lines, trimmed as the watch reader does (api_watch.c), each
 * decoded as an event of one resource (picked by the first byte) into one
 * scratch store per line, as the reader does.  Must never crash, hang or
 * leak.
 * Not covered: the watch reader's own reassembly of lines across HTTP
 * chunks (watch_body in api_watch.c is static and needs a live worker).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api_int.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every line of a watch body, as api_watch.c's watch_line sees it. */
static void stream(hfi_resource_t r, const char *p, size_t n, const hfi_manifest_opts_t *opts)
{
	char err[512];
	for (unsigned lines = 0; n > 0 && lines < 256; lines++) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl != NULL ? (size_t)(nl - p) : n;
		size_t s = 0, e = len;
		while (e > 0 && (p[e - 1] == '\r' || p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		while (s < e && (p[s] == ' ' || p[s] == '\t'))
			s++;
		if (s < e) {
			hfi_store_t *one = hfi_store_new(NULL);
			if (one == NULL)
				return;
			hfi_api_event_t ev;
			(void)hfi_api_decode_event(r, p + s, e - s, one, opts, &ev, err, sizeof(err));
			hfi_api_event_fini(&ev);
			hfi_store_free(one);
		}
		if (nl == NULL)
			break;
		n -= len + 1;
		p = nl + 1;
	}
}

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
	if (size > 0)
		stream((hfi_resource_t)(data[0] % HFI_RES_COUNT), (const char *)data, size, &opts[data[0] % HFI_RES_COUNT]);
	return 0;
}
