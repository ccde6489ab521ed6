/*
 * engine_open_util.h: opening an engine from Corefile text in a unit test
 * (the admin tests): the text is written to DIR/Corefile and opened on
 * port 1053, quiet; the open must succeed (its error is printed if not).
 */
#ifndef HF_ENGINE_OPEN_UTIL_H
#define HF_ENGINE_OPEN_UTIL_H

#include <limits.h>
#include <stdio.h>

#include "holdfast.h"

static inline hf_engine_t *open_corefile_text(const char *dir, const char *text)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/Corefile", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	char err[2048] = "";
	hf_engine_t *e = hf_engine_open(path, 1053, HF_OPEN_QUIET, err, sizeof(err));
	if (e == NULL)
		fprintf(stderr, "engine: %s\n", err);
	assert_non_null(e);
	return e;
}

#endif
