/*
 * fuzz_corefile.c: libFuzzer harness for the Corefile module: the input is
 * a Corefile parsed by hfi_config_parse (lexer, parser, imports resolved
 * against a directory that does not exist, every plugin setup, key
 * inspection, overlap check) and by the bare hfi_corefile_parse; both
 * results are freed.  Must never crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "corefile.h"
#include "log.h"

#define FUZZ_BASE_DIR "/nonexistent/holdfast-fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[2048];
	hfi_log_set_quiet(1);
	hfi_config_t *cfg = hfi_config_parse("Corefile", (const char *)data, size, FUZZ_BASE_DIR,
					     0, NULL, err, sizeof(err));
	hfi_config_free(cfg);
	hfi_corefile_t *cf = hfi_corefile_parse("Corefile", (const char *)data, size,
						FUZZ_BASE_DIR, NULL, err, sizeof(err));
	hfi_corefile_free(cf);
	return 0;
}
