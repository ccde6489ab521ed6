/*
 * log.h: CoreDNS-style log lines, "[LEVEL] plugin/NAME: message", no
 * timestamps, on stdout (errors also usable from the engine).  The host may
 * silence INFO with hfi_log_set_quiet().
 */
#ifndef HF_LOG_H
#define HF_LOG_H

enum hfi_log_level { HFI_LOG_DEBUG, HFI_LOG_INFO, HFI_LOG_WARNING, HFI_LOG_ERROR, HFI_LOG_FATAL };

void hfi_log(enum hfi_log_level level, const char *plugin, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void hfi_log_set_quiet(int quiet);

#endif
