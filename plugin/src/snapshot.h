/*
 * snapshot.h: crash-safe persistence of an object store for warm starts:
 * written to PATH.tmp, fsync'd, renamed over PATH (and the directory
 * fsync'd); a header with magic, format version and object counts, and a
 * checksum over everything.  A corrupt, truncated or foreign file is
 * rejected with a message and changes nothing.
 */
#ifndef HF_SNAPSHOT_H
#define HF_SNAPSHOT_H

#include <stddef.h>

#include "objects.h"

/* Write every object of st to path.  0 or a negative hf_err (+ err). */
int hfi_snapshot_write(const hfi_store_t *st, const char *path, char *err, size_t errlen);
/* Load path into st (which should be empty).  Returns the number of objects
 * loaded, or a negative hf_err (+ err) leaving st empty on failure. */
int hfi_snapshot_load(hfi_store_t *st, const char *path, char *err, size_t errlen);

#endif
