/*
 * tmpdir_util.h: a per-test-binary temporary directory for the Corefile
 * tests (files and imports live there): write_file(), and the cmocka group
 * setup/teardown that make and remove it.  Include once per test file after
 * defining TMPDIR_PREFIX ("/tmp/hf_NAME_").
 */
#ifndef HF_TMPDIR_UTIL_H
#define HF_TMPDIR_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

static char dir[256];

static void write_file(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	mkdir(p, 0755);
	*slash = '/';
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%sXXXXXX", TMPDIR_PREFIX);
	if (mkdtemp(dir) == NULL)
		return -1;
	hfi_log_set_quiet(1);
	return 0;
}

static int teardown_dir(void **state)
{
	(void)state;
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

#endif
