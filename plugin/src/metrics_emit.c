/*
 * metrics_emit.c: owns hfi_metrics_emit, the formatted-chunk writer every
 * metrics family of the engine goes through (metrics_emit.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "holdfast.h"
#include "metrics_emit.h"

int hfi_metrics_emit(hfi_metrics_sink_t fn, void *ctx, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return HF_EINVAL;
	return fn(ctx, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}
