/*
 * file_util.c: owns hfi_read_fd_all, the one "read a descriptor to its
 * end" loop shared by the file-backed plugins (file_util.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "file_util.h"

char *hfi_read_fd_all(int fd, size_t cap, size_t *len)
{
	size_t n = 0;
	*len = 0;
	if (cap == 0)
		cap = 1;
	char *buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}
