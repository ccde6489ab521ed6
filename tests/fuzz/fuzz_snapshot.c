/*
 * fuzz_snapshot.c: libFuzzer harness for the snapshot loader
 * (hfi_snapshot_decode, and hfi_snapshot_load through a memfd).  A random
 * file almost never has a valid XXH64, so the first input byte picks a mode:
 *   bit 0 clear: the rest is the file, as is (magic, version, flags, size
 *                and checksum checks: truncated, bit-flipped, foreign files);
 *   bit 0 set:   the rest is header + payload; the harness sets the payload
 *                length and appends the right checksum, so the object walker
 *                itself is fuzzed;
 *   bit 1 set:   the file is also loaded from a memfd by path.
 * Invariants: a rejected file leaves the store empty; an accepted one
 * re-encodes, and that encoding decodes to the same object counts and
 * encodes to the same length (a fixpoint).  Never crash, hang or leak.
 * Seeds: tests/fuzz/fuzz_snapshot.in/, from gen_snapshot_seeds.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "holdfast.h"
#include "log.h"
#include "objects.h"
#include "snapshot.h"

#define HDR_LEN 40
#define MAX_INPUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static size_t total(const hfi_store_t *st)
{
	return hfi_store_count_namespaces(st) + hfi_store_count_services(st) +
	       hfi_store_count_slices(st) + hfi_store_count_pods(st);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An accepted snapshot must survive encode -> decode -> encode. */
static void round_trip(const hfi_store_t *st)
{
	char err[256];
	uint8_t *b2 = NULL, *b3 = NULL;
	size_t l2 = 0, l3 = 0;
	if (hfi_snapshot_encode(st, &b2, &l2, err, sizeof(err)) != 0)
		return; /* out of memory only */
	hfi_store_t *st2 = hfi_store_new(NULL);
	if (st2 != NULL) {
		int n = hfi_snapshot_decode(st2, b2, l2, "re-encoded", err, sizeof(err));
		if (n != HF_ENOMEM) {
			check(n >= 0 && (size_t)n == total(st));
			check(hfi_store_count_namespaces(st2) == hfi_store_count_namespaces(st));
			check(hfi_store_count_services(st2) == hfi_store_count_services(st));
			check(hfi_store_count_slices(st2) == hfi_store_count_slices(st));
			check(hfi_store_count_pods(st2) == hfi_store_count_pods(st));
			if (hfi_snapshot_encode(st2, &b3, &l3, err, sizeof(err)) == 0) {
				check(l3 == l2);
				hfi_snapshot_buf_free(b3, l3);
			}
		}
		hfi_store_free(st2);
	}
	hfi_snapshot_buf_free(b2, l2);
}

static void via_memfd(const uint8_t *buf, size_t len, int expect)
{
	int fd = memfd_create("fuzz_snapshot", MFD_CLOEXEC);
	if (fd < 0)
		return;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off == len) {
		char path[64], err[256];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		hfi_store_t *st = hfi_store_new(NULL);
		if (st != NULL) {
			int n = hfi_snapshot_load(st, path, err, sizeof(err));
			if (n != HF_ENOMEM && expect != HF_ENOMEM)
				check(n == expect);
			if (n < 0)
				check(total(st) == 0);
			hfi_store_free(st);
		}
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t file[MAX_INPUT + 8];
	hfi_log_set_quiet(1);
	if (size < 1 || size > MAX_INPUT)
		return 0;
	unsigned mode = data[0];
	size_t len = size - 1;
	memcpy(file, data + 1, len);
	if ((mode & 1) && len >= HDR_LEN) {
		put64(file + 32, (uint64_t)(len - HDR_LEN));
		put64(file + len, hfi_snapshot_checksum(file, len));
		len += 8;
	}

	char err[256];
	hfi_store_t *st = hfi_store_new(NULL);
	if (st == NULL)
		return 0;
	int n = hfi_snapshot_decode(st, file, len, "fuzz", err, sizeof(err));
	if (n < 0) {
		check(n == HF_EPARSE || n == HF_ENOMEM);
		check(total(st) == 0);
		check(err[0] != '\0');
	} else {
		check((size_t)n == total(st));
		round_trip(st);
	}
	hfi_store_free(st);
	if (mode & 2)
		via_memfd(file, len, n);
	return 0;
}
