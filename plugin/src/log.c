/* log.c: writes "[LEVEL] plugin/NAME: message" lines to stdout. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int log_quiet;

void hfi_log_set_quiet(int quiet)
{
	log_quiet = quiet;
}

void hfi_log(enum hfi_log_level level, const char *plugin, const char *fmt, ...)
{
	static const char *names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "FATAL"};
	if (level == HFI_LOG_DEBUG)
		return;
	(void)log_quiet;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (plugin != NULL)
		fprintf(stdout, "[%s] plugin/%s: %s\n", names[level], plugin, line);
	else
		fprintf(stdout, "[%s] %s\n", names[level], line);
	fflush(stdout);
}
