/*
 * snapshot.c: crash-safe snapshot of an object store (warm start).
 *
 * File format (all integers little-endian):
 *   0  magic "HFSNAP\0\1"                     8 bytes
 *   8  format version (1)                     u32
 *  12  flags (0; any other value is refused)   u32
 *  16  counts: namespaces, services, slices, pods   4 x u32
 *  32  payload length P                       u64
 *  40  payload: the objects, in that kind order
 *  40+P  XXH64 (seed 0) of bytes [0, 40+P)     u64   (file size = 48 + P)
 * Encodings: str = u32 length (0xffffffff = NULL) + bytes + one NUL byte
 * (no NUL inside); ip = u8 family (0, 4 or 6) + 16 address bytes;
 * bool = u8 0/1; port = str name, str protocol, u32 port (two's
 * complement); ports/ips/addrs/labels = u32 count + elements; labels =
 * (str key, str val) pairs.
 *   namespace: name rv labels
 *   service:   ns name rv type headless ips external_name ports labels
 *   slice:     ns name rv service ports addrs labels
 *              addr = ip hostname pod_name node_name zone
 *   pod:       ns name rv ip phase deleting labels
 *
 * Writing encodes into memory (measure, then fill), then writes PATH.tmp
 * (a leftover one is removed first; created 0600 with O_EXCL|O_NOFOLLOW),
 * fsyncs it, renames it over PATH and fsyncs the directory; any failure
 * removes PATH.tmp.  Loading a missing file gives HF_ENOENT, an unreadable
 * one HF_EIO, a corrupt, truncated or foreign one HF_EPARSE.  Loading
 * reads the whole file (at most 4 GiB) into a buffer (huge pages when
 * large), checks magic, version, flags, size and checksum, walks the payload
 * once without touching the store (every bound and string checked), and
 * only then puts the objects; if a put fails (out of memory) the objects
 * put so far are deleted again, so the store is left as it was (it should
 * be empty: a key already present would be removed).
 */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "holdfast.h"
#include "mm.h"

#define SNAP_MAGIC "HFSNAP\0\1"
#define SNAP_VERSION 1u
#define HDR_LEN 40
#define SUM_LEN 8
#define NULL_STR 0xffffffffu
#define MAX_FILE (UINT64_C(4) << 30)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* XXH64 (seed 0), by hand: four 8-byte lanes, then the tail and the
 * avalanche, exactly as the reference (github.com/Cyan4973/xxHash). */
#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL
#define XP3 0x165667B19E3779F9ULL
#define XP4 0x85EBCA77C2B2AE63ULL
#define XP5 0x27D4EB2F165667C5ULL

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t xround(uint64_t acc, uint64_t in)
{
	acc += in * XP2;
	acc = rotl64(acc, 31);
	return acc * XP1;
}

static uint64_t xmerge(uint64_t acc, uint64_t v)
{
	acc ^= xround(0, v);
	return acc * XP1 + XP4;
}

uint64_t hfi_snapshot_checksum(const void *data, size_t len)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t h;
	if (len >= 32) {
		uint64_t v1 = XP1 + XP2, v2 = XP2, v3 = 0, v4 = 0 - XP1;
		const uint8_t *limit = end - 32;
		do {
			v1 = xround(v1, rd64(p));
			v2 = xround(v2, rd64(p + 8));
			v3 = xround(v3, rd64(p + 16));
			v4 = xround(v4, rd64(p + 24));
			p += 32;
		} while (p <= limit);
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = xmerge(h, v1);
		h = xmerge(h, v2);
		h = xmerge(h, v3);
		h = xmerge(h, v4);
	} else {
		h = XP5;
	}
	h += (uint64_t)len;
	while (end - p >= 8) {
		h ^= xround(0, rd64(p));
		h = rotl64(h, 27) * XP1 + XP4;
		p += 8;
	}
	if (end - p >= 4) {
		h ^= (uint64_t)rd32(p) * XP1;
		h = rotl64(h, 23) * XP2 + XP3;
		p += 4;
	}
	while (p < end) {
		h ^= (uint64_t)*p * XP5;
		h = rotl64(h, 11) * XP1;
		p++;
	}
	h ^= h >> 33;
	h *= XP2;
	h ^= h >> 29;
	h *= XP3;
	h ^= h >> 32;
	return h;
}

/* Buffers of the file's size: large ones are mapped with transparent huge
 * pages where allowed (4 KiB page faults dominate otherwise). */
#define BIG_MIN (2u << 20)

static void *big_alloc(size_t n)
{
	if (n < BIG_MIN)
		return malloc(n ? n : 1);
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n, MADV_HUGEPAGE);
#endif
	return p;
}

static void big_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	if (n < BIG_MIN)
		free(p);
	else
		munmap(p, n);
}

void hfi_snapshot_buf_free(uint8_t *buf, size_t len)
{
	big_free(buf, len);
}

/* ---- encoding -------------------------------------------------------------- */

/* Two passes over the same code: base NULL measures, then base set fills. */
typedef struct wr {
	uint8_t *base;
	size_t off;
} wr_t;

static void w_bytes(wr_t *w, const void *p, size_t n)
{
	if (w->base != NULL && n > 0)
		memcpy(w->base + w->off, p, n);
	w->off += n;
}

static void w_u8(wr_t *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u32(wr_t *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	w_bytes(w, b, 4);
}

static void w_u64(wr_t *w, uint64_t v)
{
	w_u32(w, (uint32_t)v);
	w_u32(w, (uint32_t)(v >> 32));
}

static void w_str(wr_t *w, const char *s)
{
	if (s == NULL) {
		w_u32(w, NULL_STR);
		return;
	}
	size_t n = strlen(s);
	w_u32(w, (uint32_t)n);
	w_bytes(w, s, n + 1);
}

static void w_ip(wr_t *w, const hfi_ip_t *ip)
{
	w_u8(w, ip->family);
	w_bytes(w, ip->addr, 16);
}

static void w_labels(wr_t *w, const hfi_labels_t *l)
{
	size_t n = l->kv != NULL ? l->n : 0;
	w_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		w_str(w, l->kv[i].key);
		w_str(w, l->kv[i].val);
	}
}

static void w_ports(wr_t *w, const hfi_port_t *p, size_t n)
{
	if (p == NULL)
		n = 0;
	w_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		w_str(w, p[i].name);
		w_str(w, p[i].protocol);
		w_u32(w, (uint32_t)p[i].port);
	}
}

static void w_objects(wr_t *w, const hfi_store_t *st)
{
	for (size_t i = 0, n = hfi_store_count_namespaces(st); i < n; i++) {
		const hfi_namespace_t *o = hfi_store_namespace_at(st, i);
		w_str(w, o->name);
		w_str(w, o->rv);
		w_labels(w, &o->labels);
	}
	for (size_t i = 0, n = hfi_store_count_services(st); i < n; i++) {
		const hfi_service_t *o = hfi_store_service_at(st, i);
		w_str(w, o->ns);
		w_str(w, o->name);
		w_str(w, o->rv);
		w_str(w, o->type);
		w_u8(w, o->headless ? 1 : 0);
		size_t nips = o->ips != NULL ? o->nips : 0;
		w_u32(w, (uint32_t)nips);
		for (size_t j = 0; j < nips; j++)
			w_ip(w, &o->ips[j]);
		w_str(w, o->external_name);
		w_ports(w, o->ports, o->nports);
		w_labels(w, &o->labels);
	}
	for (size_t i = 0, n = hfi_store_count_slices(st); i < n; i++) {
		const hfi_slice_t *o = hfi_store_slice_at(st, i);
		w_str(w, o->ns);
		w_str(w, o->name);
		w_str(w, o->rv);
		w_str(w, o->service);
		w_ports(w, o->ports, o->nports);
		size_t na = o->addrs != NULL ? o->naddrs : 0;
		w_u32(w, (uint32_t)na);
		for (size_t j = 0; j < na; j++) {
			const hfi_ep_addr_t *a = &o->addrs[j];
			w_ip(w, &a->ip);
			w_str(w, a->hostname);
			w_str(w, a->pod_name);
			w_str(w, a->node_name);
			w_str(w, a->zone);
		}
		w_labels(w, &o->labels);
	}
	for (size_t i = 0, n = hfi_store_count_pods(st); i < n; i++) {
		const hfi_pod_t *o = hfi_store_pod_at(st, i);
		w_str(w, o->ns);
		w_str(w, o->name);
		w_str(w, o->rv);
		w_ip(w, &o->ip);
		w_str(w, o->phase);
		w_u8(w, o->deleting ? 1 : 0);
		w_labels(w, &o->labels);
	}
}

int hfi_snapshot_encode(const hfi_store_t *st, uint8_t **out, size_t *outlen,
			char *err, size_t errlen)
{
	if (st == NULL || out == NULL || outlen == NULL) {
		set_err(err, errlen, "snapshot: invalid arguments");
		return HF_EINVAL;
	}
	size_t counts[4] = { hfi_store_count_namespaces(st), hfi_store_count_services(st),
			     hfi_store_count_slices(st), hfi_store_count_pods(st) };
	for (int i = 0; i < 4; i++)
		if (counts[i] > UINT32_MAX) {
			set_err(err, errlen, "snapshot: too many objects");
			return HF_ERANGE;
		}
	wr_t w = { 0 };
	w_objects(&w, st);
	size_t payload = w.off;
	if (payload > MAX_FILE - HDR_LEN - SUM_LEN) {
		set_err(err, errlen, "snapshot: %zu bytes of objects exceed the 4 GiB limit", payload);
		return HF_ERANGE;
	}
	size_t total = HDR_LEN + payload + SUM_LEN;
	uint8_t *buf = big_alloc(total);
	if (buf == NULL) {
		set_err(err, errlen, "snapshot: out of memory (%zu bytes)", total);
		return HF_ENOMEM;
	}
	w = (wr_t){ .base = buf };
	w_bytes(&w, SNAP_MAGIC, 8);
	w_u32(&w, SNAP_VERSION);
	w_u32(&w, 0);
	for (int i = 0; i < 4; i++)
		w_u32(&w, (uint32_t)counts[i]);
	w_u64(&w, payload);
	w_objects(&w, st);
	w_u64(&w, hfi_snapshot_checksum(buf, HDR_LEN + payload));
	*out = buf;
	*outlen = total;
	return HF_EOK;
}

/* ---- writing the file ---------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t chunk = n > (1u << 30) ? (1u << 30) : n;
		ssize_t r = write(fd, p, chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* fsync the directory that holds path. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL) {
		errno = ENOMEM;
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

int hfi_snapshot_write_buf(const uint8_t *buf, size_t len, const char *path,
			   char *err, size_t errlen)
{
	if (buf == NULL || path == NULL || *path == '\0') {
		set_err(err, errlen, "snapshot: invalid arguments");
		return HF_EINVAL;
	}
	size_t pl = strlen(path);
	char *tmp = malloc(pl + 5);
	if (tmp == NULL) {
		set_err(err, errlen, "snapshot %s: out of memory", path);
		return HF_ENOMEM;
	}
	memcpy(tmp, path, pl);
	memcpy(tmp + pl, ".tmp", 5);
	/* a leftover PATH.tmp (crash, or something planted) is replaced, never
	 * followed or reused with its old mode */
	if (unlink(tmp) != 0 && errno != ENOENT) {
		set_err(err, errlen, "snapshot %s: cannot remove stale %s: %s", path, tmp, strerror(errno));
		free(tmp);
		return HF_EIO;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_err(err, errlen, "snapshot %s: cannot create %s: %s", path, tmp, strerror(errno));
		free(tmp);
		return HF_EIO;
	}
	const char *what = NULL;
	if (write_all(fd, buf, len) != 0)
		what = "write";
	else if (fsync(fd) != 0)
		what = "fsync";
	int e = errno;
	if (close(fd) != 0 && what == NULL) {
		what = "close";
		e = errno;
	}
	if (what == NULL && rename(tmp, path) != 0) {
		what = "rename";
		e = errno;
	}
	if (what != NULL) {
		set_err(err, errlen, "snapshot %s: %s of %s failed: %s", path, what, tmp, strerror(e));
		unlink(tmp);
		free(tmp);
		return HF_EIO;
	}
	free(tmp);
	if (sync_dir(path) != 0) {
		set_err(err, errlen, "snapshot %s: fsync of its directory failed: %s", path, strerror(errno));
		return HF_EIO;
	}
	return HF_EOK;
}

int hfi_snapshot_write(const hfi_store_t *st, const char *path, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = hfi_snapshot_encode(st, &buf, &len, err, errlen);
	if (ret != HF_EOK)
		return ret;
	ret = hfi_snapshot_write_buf(buf, len, path, err, errlen);
	big_free(buf, len);
	return ret;
}

/* ---- decoding ------------------------------------------------------------------- */

typedef struct rd {
	const uint8_t *p, *end;
	bool bad;
} rd_t;

static size_t r_left(const rd_t *r)
{
	return (size_t)(r->end - r->p);
}

static uint8_t r_u8(rd_t *r)
{
	if (r->bad || r_left(r) < 1) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

static uint32_t r_u32(rd_t *r)
{
	if (r->bad || r_left(r) < 4) {
		r->bad = true;
		return 0;
	}
	const uint8_t *b = r->p;
	r->p += 4;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static bool r_bool(rd_t *r)
{
	uint8_t v = r_u8(r);
	if (v > 1)
		r->bad = true;
	return v == 1;
}

/* A string pointing into the buffer (NUL-terminated there), or NULL. */
static char *r_str(rd_t *r)
{
	uint32_t n = r_u32(r);
	if (r->bad || n == NULL_STR)
		return NULL;
	if (r_left(r) < (size_t)n + 1 || r->p[n] != '\0' || memchr(r->p, 0, n) != NULL) {
		r->bad = true;
		return NULL;
	}
	char *s = (char *)r->p;
	r->p += (size_t)n + 1;
	return s;
}

/* A non-NULL string (keys). */
static char *r_key(rd_t *r)
{
	char *s = r_str(r);
	if (s == NULL)
		r->bad = true;
	return s;
}

static void r_ip(rd_t *r, hfi_ip_t *ip)
{
	ip->family = r_u8(r);
	if (ip->family != 0 && ip->family != 4 && ip->family != 6)
		r->bad = true;
	if (r->bad || r_left(r) < 16) {
		r->bad = true;
		memset(ip->addr, 0, 16);
		return;
	}
	memcpy(ip->addr, r->p, 16);
	r->p += 16;
}

/* A count of elements each at least minsz bytes long. */
static size_t r_count(rd_t *r, size_t minsz)
{
	uint32_t n = r_u32(r);
	if (r->bad || (size_t)n > r_left(r) / minsz) {
		r->bad = true;
		return 0;
	}
	return n;
}

/* Reusable element arrays for one object at a time. */
typedef struct scratch {
	hfi_kv_t *kv;
	size_t kv_cap;
	hfi_port_t *ports;
	size_t ports_cap;
	hfi_ip_t *ips;
	size_t ips_cap;
	hfi_ep_addr_t *addrs;
	size_t addrs_cap;
} scratch_t;

static void scratch_free(scratch_t *sc)
{
	free(sc->kv);
	free(sc->ports);
	free(sc->ips);
	free(sc->addrs);
}

#define MIN_STR 4
#define MIN_IP 17

/* Returns 0, or HF_ENOMEM (the scratch could not grow); r->bad on bad data. */
static int r_labels(rd_t *r, scratch_t *sc, hfi_labels_t *l)
{
	size_t n = r_count(r, 2 * MIN_STR);
	l->kv = NULL;
	l->n = 0;
	if (n == 0)
		return HF_EOK;
	if (hfi_mm_grow(NULL, (void **)&sc->kv, &sc->kv_cap, n, sizeof(hfi_kv_t)) != HF_EOK)
		return HF_ENOMEM;
	for (size_t i = 0; i < n && !r->bad; i++) {
		sc->kv[i].key = r_str(r);
		sc->kv[i].val = r_str(r);
	}
	l->kv = sc->kv;
	l->n = n;
	return HF_EOK;
}

static int r_ports(rd_t *r, scratch_t *sc, hfi_port_t **out, size_t *nout)
{
	size_t n = r_count(r, 2 * MIN_STR + 4);
	*out = NULL;
	*nout = 0;
	if (n == 0)
		return HF_EOK;
	if (hfi_mm_grow(NULL, (void **)&sc->ports, &sc->ports_cap, n, sizeof(hfi_port_t)) != HF_EOK)
		return HF_ENOMEM;
	for (size_t i = 0; i < n && !r->bad; i++) {
		sc->ports[i].name = r_str(r);
		sc->ports[i].protocol = r_str(r);
		sc->ports[i].port = (int32_t)r_u32(r);
	}
	*out = sc->ports;
	*nout = n;
	return HF_EOK;
}

enum dmode { D_CHECK, D_PUT, D_UNDO };

typedef struct dec {
	enum dmode mode;
	hfi_store_t *st;
	size_t limit; /* D_UNDO: objects to delete; D_PUT: objects put so far */
	size_t done;
} dec_t;

/* One object's outcome: in D_PUT the put (error < 0 stops), in D_UNDO the
 * delete of its key. Returns 1 to stop the walk (D_UNDO limit reached). */
static int dec_obj(dec_t *d, int put_ret, int *err)
{
	if (d->mode == D_PUT) {
		if (put_ret < 0) {
			*err = put_ret;
			return 1;
		}
		d->done++;
	} else if (d->mode == D_UNDO) {
		d->done++;
		if (d->done >= d->limit)
			return 1;
	}
	return 0;
}

/* Walk the payload.  Returns HF_EOK, HF_EPARSE (bad data; *off = where) or
 * a put error. */
static int walk(rd_t *r, const uint32_t counts[4], dec_t *d, scratch_t *sc)
{
	int err = HF_EOK;
	if (d->mode == D_UNDO && d->limit == 0)
		return HF_EOK;
	for (uint32_t i = 0; i < counts[0]; i++) {
		hfi_namespace_t o = { 0 };
		o.name = r_key(r);
		o.rv = r_str(r);
		if (r_labels(r, sc, &o.labels) != HF_EOK)
			return HF_ENOMEM;
		if (r->bad)
			return HF_EPARSE;
		int pr = 0;
		if (d->mode == D_PUT)
			pr = hfi_store_put_namespace(d->st, &o);
		else if (d->mode == D_UNDO)
			hfi_store_del_namespace(d->st, o.name);
		if (dec_obj(d, pr, &err))
			return err;
	}
	for (uint32_t i = 0; i < counts[1]; i++) {
		hfi_service_t o = { 0 };
		o.ns = r_key(r);
		o.name = r_key(r);
		o.rv = r_str(r);
		o.type = r_str(r);
		o.headless = r_bool(r);
		size_t nips = r_count(r, MIN_IP);
		if (nips > 0 && hfi_mm_grow(NULL, (void **)&sc->ips, &sc->ips_cap, nips, sizeof(hfi_ip_t)) != HF_EOK)
			return HF_ENOMEM;
		for (size_t j = 0; j < nips && !r->bad; j++)
			r_ip(r, &sc->ips[j]);
		o.ips = nips ? sc->ips : NULL;
		o.nips = nips;
		o.external_name = r_str(r);
		if (r_ports(r, sc, &o.ports, &o.nports) != HF_EOK ||
		    r_labels(r, sc, &o.labels) != HF_EOK)
			return HF_ENOMEM;
		if (r->bad)
			return HF_EPARSE;
		int pr = 0;
		if (d->mode == D_PUT)
			pr = hfi_store_put_service(d->st, &o);
		else if (d->mode == D_UNDO)
			hfi_store_del_service(d->st, o.ns, o.name);
		if (dec_obj(d, pr, &err))
			return err;
	}
	for (uint32_t i = 0; i < counts[2]; i++) {
		hfi_slice_t o = { 0 };
		o.ns = r_key(r);
		o.name = r_key(r);
		o.rv = r_str(r);
		o.service = r_str(r);
		if (r_ports(r, sc, &o.ports, &o.nports) != HF_EOK)
			return HF_ENOMEM;
		size_t na = r_count(r, MIN_IP + 4 * MIN_STR);
		if (na > 0 && hfi_mm_grow(NULL, (void **)&sc->addrs, &sc->addrs_cap, na, sizeof(hfi_ep_addr_t)) != HF_EOK)
			return HF_ENOMEM;
		for (size_t j = 0; j < na && !r->bad; j++) {
			hfi_ep_addr_t *a = &sc->addrs[j];
			r_ip(r, &a->ip);
			a->hostname = r_str(r);
			a->pod_name = r_str(r);
			a->node_name = r_str(r);
			a->zone = r_str(r);
		}
		o.addrs = na ? sc->addrs : NULL;
		o.naddrs = na;
		if (r_labels(r, sc, &o.labels) != HF_EOK)
			return HF_ENOMEM;
		if (r->bad)
			return HF_EPARSE;
		int pr = 0;
		if (d->mode == D_PUT)
			pr = hfi_store_put_slice(d->st, &o);
		else if (d->mode == D_UNDO)
			hfi_store_del_slice(d->st, o.ns, o.name);
		if (dec_obj(d, pr, &err))
			return err;
	}
	for (uint32_t i = 0; i < counts[3]; i++) {
		hfi_pod_t o = { 0 };
		o.ns = r_key(r);
		o.name = r_key(r);
		o.rv = r_str(r);
		r_ip(r, &o.ip);
		o.phase = r_str(r);
		o.deleting = r_bool(r);
		if (r_labels(r, sc, &o.labels) != HF_EOK)
			return HF_ENOMEM;
		if (r->bad)
			return HF_EPARSE;
		int pr = 0;
		if (d->mode == D_PUT)
			pr = hfi_store_put_pod(d->st, &o);
		else if (d->mode == D_UNDO)
			hfi_store_del_pod(d->st, o.ns, o.name);
		if (dec_obj(d, pr, &err))
			return err;
	}
	if (d->mode == D_CHECK && r_left(r) != 0)
		return HF_EPARSE;
	return HF_EOK;
}

static size_t store_total(const hfi_store_t *st)
{
	return hfi_store_count_namespaces(st) + hfi_store_count_services(st) +
	       hfi_store_count_slices(st) + hfi_store_count_pods(st);
}

int hfi_snapshot_decode(hfi_store_t *st, const uint8_t *buf, size_t len, const char *name,
			char *err, size_t errlen)
{
	if (st == NULL || (buf == NULL && len > 0)) {
		set_err(err, errlen, "snapshot: invalid arguments");
		return HF_EINVAL;
	}
	if (name == NULL)
		name = "(buffer)";
	if (len == 0) {
		set_err(err, errlen, "snapshot %s: empty file", name);
		return HF_EPARSE;
	}
	if (memcmp(buf, SNAP_MAGIC, len < 8 ? len : 8) != 0) {
		set_err(err, errlen, "snapshot %s: not a holdfast snapshot (bad magic)", name);
		return HF_EPARSE;
	}
	if (len < HDR_LEN + SUM_LEN) {
		set_err(err, errlen, "snapshot %s: truncated (%zu bytes)", name, len);
		return HF_EPARSE;
	}
	uint32_t version = rd32(buf + 8), flags = rd32(buf + 12);
	if (version != SNAP_VERSION) {
		set_err(err, errlen, "snapshot %s: unsupported format version %u (this build reads %u)",
			name, version, SNAP_VERSION);
		return HF_EPARSE;
	}
	if (flags != 0) {
		set_err(err, errlen, "snapshot %s: unsupported flags 0x%x", name, flags);
		return HF_EPARSE;
	}
	uint64_t payload = rd64(buf + 32);
	if (payload > (uint64_t)(len - HDR_LEN - SUM_LEN)) {
		set_err(err, errlen, "snapshot %s: truncated (%zu bytes, header says %llu)", name, len,
			(unsigned long long)(payload + HDR_LEN + SUM_LEN));
		return HF_EPARSE;
	}
	if (payload < (uint64_t)(len - HDR_LEN - SUM_LEN)) {
		set_err(err, errlen, "snapshot %s: %llu bytes of trailing data", name,
			(unsigned long long)(len - HDR_LEN - SUM_LEN - payload));
		return HF_EPARSE;
	}
	if (hfi_snapshot_checksum(buf, HDR_LEN + (size_t)payload) != rd64(buf + HDR_LEN + payload)) {
		set_err(err, errlen, "snapshot %s: checksum mismatch (corrupt file)", name);
		return HF_EPARSE;
	}
	uint32_t counts[4];
	uint64_t total = 0;
	for (int i = 0; i < 4; i++) {
		counts[i] = rd32(buf + 16 + 4 * i);
		total += counts[i];
	}
	if (total > INT_MAX || total > payload) {
		set_err(err, errlen, "snapshot %s: corrupt object counts", name);
		return HF_EPARSE;
	}

	scratch_t sc = { 0 };
	const uint8_t *start = buf + HDR_LEN, *end = buf + HDR_LEN + payload;
	rd_t r = { start, end, false };
	dec_t d = { .mode = D_CHECK };
	int ret = walk(&r, counts, &d, &sc);
	if (ret == HF_EPARSE) {
		set_err(err, errlen, "snapshot %s: corrupt object data near offset %zu", name,
			(size_t)(r.p - buf));
		scratch_free(&sc);
		return ret;
	}
	if (ret != HF_EOK) {
		set_err(err, errlen, "snapshot %s: out of memory", name);
		scratch_free(&sc);
		return ret;
	}

	size_t before = store_total(st);
	r = (rd_t){ start, end, false };
	d = (dec_t){ .mode = D_PUT, .st = st };
	ret = walk(&r, counts, &d, &sc);
	if (ret != HF_EOK) {
		/* undo the d.done objects put (a failed put leaves nothing
		 * behind); the scratch already has room for every object */
		r = (rd_t){ start, end, false };
		d = (dec_t){ .mode = D_UNDO, .st = st, .limit = d.done };
		(void)walk(&r, counts, &d, &sc);
		set_err(err, errlen, "snapshot %s: cannot load: %s", name,
			ret == HF_ENOMEM ? "out of memory" : "store error");
		scratch_free(&sc);
		return ret;
	}
	scratch_free(&sc);
	size_t after = store_total(st);
	return after >= before ? (int)(after - before) : 0;
}

int hfi_snapshot_load(hfi_store_t *st, const char *path, char *err, size_t errlen)
{
	if (st == NULL || path == NULL) {
		set_err(err, errlen, "snapshot: invalid arguments");
		return HF_EINVAL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		set_err(err, errlen, "snapshot %s: cannot open: %s", path, strerror(e));
		return e == ENOENT ? HF_ENOENT : HF_EIO;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		set_err(err, errlen, "snapshot %s: cannot stat: %s", path, strerror(errno));
		close(fd);
		return HF_EIO;
	}
	if (!S_ISREG(sb.st_mode)) {
		set_err(err, errlen, "snapshot %s: not a regular file", path);
		close(fd);
		return HF_EPARSE;
	}
	if ((uint64_t)sb.st_size > MAX_FILE || (uint64_t)sb.st_size > SIZE_MAX - 1) {
		set_err(err, errlen, "snapshot %s: too large (%lld bytes, limit 4 GiB)", path,
			(long long)sb.st_size);
		close(fd);
		return HF_EPARSE;
	}
	size_t size = (size_t)sb.st_size;
	uint8_t *buf = big_alloc(size);
	if (buf == NULL) {
		set_err(err, errlen, "snapshot %s: out of memory (%zu bytes)", path, size);
		close(fd);
		return HF_ENOMEM;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_err(err, errlen, "snapshot %s: read failed: %s", path, strerror(errno));
			big_free(buf, size);
			close(fd);
			return HF_EIO;
		}
		if (n == 0)
			break; /* shrank under us: judged as truncated below */
		got += (size_t)n;
	}
	close(fd);
	int ret = hfi_snapshot_decode(st, buf, got, path, err, errlen);
	big_free(buf, size);
	return ret;
}
