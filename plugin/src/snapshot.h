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
#include <stdint.h>

#include "objects.h"

/* Write every object of st to path.  0 or a negative hf_err (+ err). */
int hfi_snapshot_write(const hfi_store_t *st, const char *path, char *err, size_t errlen);
/* Load path into st (which should be empty).  Returns the number of objects
 * loaded, or a negative hf_err (+ err) leaving st empty on failure:
 * HF_ENOENT (no file), HF_EIO (unreadable), HF_EPARSE (corrupt, truncated,
 * foreign, other version), HF_ENOMEM. */
int hfi_snapshot_load(hfi_store_t *st, const char *path, char *err, size_t errlen);

/* The two halves of hfi_snapshot_write, so the store is read under the
 * sync lock (encode, fast) while the disk work (write, fsync, rename)
 * happens without it.  Release *out with hfi_snapshot_buf_free(). */
int hfi_snapshot_encode(const hfi_store_t *st, uint8_t **out, size_t *outlen,
			char *err, size_t errlen);
void hfi_snapshot_buf_free(uint8_t *buf, size_t len);
int hfi_snapshot_write_buf(const uint8_t *buf, size_t len, const char *path,
			   char *err, size_t errlen);
/* hfi_snapshot_load from memory (name is used in messages; may be NULL). */
int hfi_snapshot_decode(hfi_store_t *st, const uint8_t *buf, size_t len, const char *name,
			char *err, size_t errlen);
/* The file's checksum: XXH64 with seed 0. */
uint64_t hfi_snapshot_checksum(const void *data, size_t len);

#endif
