/*
 * fuzz_engine.h: for harnesses that drive a real engine: write a Corefile
 * and the files it names into a fresh temporary directory and open the
 * engine on it (aborting with the engine's error when that fails).
 */
#ifndef HF_FUZZ_ENGINE_H
#define HF_FUZZ_ENGINE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "holdfast.h"

static inline void hff_write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

/* dir: a mkdtemp template (rewritten in place); files: pairs of name and
 * text, the first one "Corefile"; n: the number of pairs. */
static inline hf_engine_t *hff_open(const char *who, char *dir, const char *const files[][2],
				    size_t n, int port)
{
	if (mkdtemp(dir) == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		hff_write_file(dir, files[i][0], files[i][1]);
	char path[600], err[2048];
	snprintf(path, sizeof(path), "%s/Corefile", dir);
	hf_engine_t *e = hf_engine_open(path, port, HF_OPEN_QUIET, err, sizeof(err));
	if (e == NULL) {
		fprintf(stderr, "%s: %s\n", who, err);
		abort();
	}
	return e;
}

/* Remove what hff_open wrote (the engine has read it all by then). */
static inline void hff_cleanup(const char *dir, const char *const files[][2], size_t n)
{
	char path[600];
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		unlink(path);
	}
	rmdir(dir);
}

#endif
