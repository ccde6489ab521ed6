/*
 * file_util.h: reading a whole file into memory for the engine's
 * file-backed plugins (hosts, loadbalance weighted).
 *
 * Design: these run on the maintenance thread (startup and reload), never
 * on the answer path, so they may allocate.  The caller opens the file
 * (and checks what it needs with fstat) and hands over the descriptor;
 * the helper reads to end of file, retrying on EINTR, and closes it.
 */
#ifndef HF_FILE_UTIL_H
#define HF_FILE_UTIL_H

#include <stddef.h>

/* Reads fd to its end and closes it.  The buffer starts at cap bytes
 * (at least 1) and doubles as needed; a read error ends the text there.
 * Returns the malloc'd text (not NUL-terminated) with *len its length, or
 * NULL (and *len 0) when out of memory. */
char *hfi_read_fd_all(int fd, size_t cap, size_t *len);

#endif
