/* log.c: CoreDNS-style "[LEVEL] message" lines on stdout, plain startup
 * errors on stderr, and the monotonic clock every loop uses. */
#include "shim.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void hfs_log(const char *level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	flockfile(stdout);
	fprintf(stdout, "[%s] %s\n", level, line);
	fflush(stdout);
	funlockfile(stdout);
}

void hfs_die_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flockfile(stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
	funlockfile(stderr);
	va_end(ap);
}

int64_t hfs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
