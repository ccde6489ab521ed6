/*
 * metrics_emit.h: the one printf-style writer behind the engine's
 * Prometheus exposition (engine_metrics.c, engine_stats.c,
 * cache_metrics.c).
 *
 * Design: the exposition is streamed to the caller's sink (the
 * hf_metrics_write callback) one formatted chunk at a time from a stack
 * buffer, so nothing allocates; a chunk longer than the buffer is cut
 * (callers keep each chunk to one family header or one series).
 */
#ifndef HF_METRICS_EMIT_H
#define HF_METRICS_EMIT_H

#include <stddef.h>

/* the sink: returns 0 to go on, anything else stops the exposition */
typedef int (*hfi_metrics_sink_t)(void *ctx, const char *data, size_t len);

/* Formats one chunk (up to 2047 bytes) and passes it to fn; fn's return,
 * or HF_EINVAL when the format fails. */
int hfi_metrics_emit(hfi_metrics_sink_t fn, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
