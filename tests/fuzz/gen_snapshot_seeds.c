/*
 * gen_snapshot_seeds.c: writes the seed corpus of fuzz_snapshot
 * (tests/fuzz/fuzz_snapshot.in/) from real snapshots the engine encodes
 * (hfi_snapshot_encode) of small stores loaded from manifests, in the
 * harness's input format: one mode byte, then the file (mode 0: as is;
 * mode 1: without its checksum, which the harness recomputes; mode 2/3:
 * also loaded by path).  Plus the classic broken files: truncated,
 * bit-flipped, other version, other flags, trailing bytes.
 * Usage: gen_snapshot_seeds DIR   (make fuzz-seeds)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "objects.h"
#include "snapshot.h"

static const char *const manifests[] = {
	/* empty store */
	"",
	/* one of each kind */
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1, labels: {team: a}}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns1}\n"
	"spec:\n  clusterIP: 10.96.0.20\n  clusterIPs: [10.96.0.20, 'fd00::20']\n"
	"  ports:\n  - {name: http, port: 80, protocol: TCP}\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: web-abc, namespace: ns1, labels: {kubernetes.io/service-name: web}}\n"
	"addressType: IPv4\nports:\n- {name: http, port: 80, protocol: TCP}\nendpoints:\n"
	"- addresses: [10.244.0.5]\n  hostname: web-0\n  nodeName: n1\n  zone: z1\n"
	"  targetRef: {kind: Pod, name: web-0}\n  conditions: {ready: true}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: web-0, namespace: ns1}\n"
	"status: {podIP: 10.244.0.5, phase: Running}\n",
	/* headless, ExternalName, no ports */
	"apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: ns2}\n"
	"spec:\n  clusterIP: None\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: ns2}\n"
	"spec: {type: ExternalName, externalName: example.org}\n",
};

static void put(const char *dir, const char *name, unsigned mode, const uint8_t *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputc((int)mode, f);
	if (len > 0 && fwrite(buf, 1, len, f) != len)
		exit(1);
	fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	char err[512], name[64];
	for (size_t m = 0; m < sizeof(manifests) / sizeof(manifests[0]); m++) {
		hfi_store_t *st = hfi_store_new(NULL);
		hfi_manifest_opts_t opts = { .load_pods = true, .load_slices = true };
		if (st == NULL || hfi_manifest_load_buf(st, "seed", manifests[m], strlen(manifests[m]),
							&opts, err, sizeof(err)) < 0) {
			fprintf(stderr, "seed manifest %zu: %s\n", m, err);
			return 1;
		}
		uint8_t *buf;
		size_t len;
		if (hfi_snapshot_encode(st, &buf, &len, err, sizeof(err)) != 0) {
			fprintf(stderr, "encode: %s\n", err);
			return 1;
		}
		snprintf(name, sizeof(name), "s%zu-raw", m);
		put(dir, name, 0, buf, len);
		snprintf(name, sizeof(name), "s%zu-fixed", m);
		put(dir, name, 1, buf, len - 8);
		if (m == 1) {
			put(dir, "s1-path", 2, buf, len);
			put(dir, "s1-truncated", 0, buf, len / 2);
			buf[len / 3] ^= 0x10;
			put(dir, "s1-bitflip", 0, buf, len);
			buf[len / 3] ^= 0x10;
			buf[8] = 2;
			put(dir, "s1-version2", 0, buf, len);
			buf[8] = 1;
			buf[12] = 1;
			put(dir, "s1-flags", 0, buf, len);
			buf[12] = 0;
			put(dir, "s1-trailing", 0, buf, len); /* + the byte below */
			snprintf(name, sizeof(name), "%s/s1-trailing", dir);
			FILE *f = fopen(name, "ab");
			if (f != NULL) {
				fputc(0, f);
				fclose(f);
			}
		}
		hfi_snapshot_buf_free(buf, len);
		hfi_store_free(st);
	}
	return 0;
}
