/* test_answer_noalloc.c: the answer path performs zero heap allocations
 * (issue 5).  Opens an engine through the public API on the integration
 * suite's cluster (tests/integration/data/cluster.yaml + big.yaml, pods
 * insecure, forward for names outside the cluster and for ExternalName
 * targets), checks what a few queries answer, warms up, then runs 100k
 * mixed queries (A, AAAA, SRV, PTR, NXDOMAIN, NODATA, EDNS, BADVERS, TCP,
 * truncation, headless, pods, ExternalName with its forwarded chase and
 * the upstream reply, forwarded names, CHAOS, malformed packets) and
 * counts every allocation made meanwhile, twice over:
 * - an allocation hook: in the normal build malloc, calloc, realloc,
 *   posix_memalign, aligned_alloc and memalign are defined here and
 *   forward to the next definition (jemalloc: this test links it through
 *   the Makefile's UNIT_EXTRA_test_answer_noalloc, or glibc); under ASan,
 *   which owns malloc, its own allocation hook
 *   (__sanitizer_install_malloc_and_free_hooks) counts instead;
 * - jemalloc's per-thread byte counter (hfi_arena_thread_allocated), when
 *   jemalloc serves malloc in this process: it also sees allocations made
 *   in jemalloc arenas directly (the `memory` region), which bypass malloc.
 * Both with `memory 32M` and without it.  Run from the repository root
 * (as `make unit` does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena.h"
#include "holdfast.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif

#define QUERIES 100000

/* ---- allocation counting --------------------------------------------- */

static atomic_int counting;
static atomic_ulong allocs;

static void note_alloc(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
}

#ifdef ASAN_BUILD
/* libasan's hook; declared here (GCC ships no allocator_interface.h) */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
					      void (*free_hook)(const volatile void *));

static void asan_malloc_hook(const volatile void *p, size_t size)
{
	(void)p;
	(void)size;
	note_alloc();
}

static void asan_free_hook(const volatile void *p)
{
	(void)p;
}

static bool hook_install(void)
{
	return __sanitizer_install_malloc_and_free_hooks(asan_malloc_hook, asan_free_hook) != 0;
}
#else
/* Interposed allocator entry points: the definitions in the executable
 * win for the whole process (the library, libc, libyaml, ...).  They call
 * the next definition (dlsym RTLD_NEXT); dlsym may itself allocate before
 * that is known, which a small static buffer serves. */
static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static _Thread_local int resolving;
static _Alignas(16) char boot[8192];
static size_t boot_used;

static bool in_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void *boot_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > sizeof(boot) - boot_used)
		return NULL;
	void *p = boot + boot_used;
	boot_used += n;
	return p; /* static storage: already zero */
}

static void resolve(void)
{
	resolving = 1;
	next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	next_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	next_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	next_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	resolving = 0;
}

static bool ready(void)
{
	if (next_free == NULL && !resolving)
		resolve();
	return next_free != NULL && next_malloc != NULL;
}

void *malloc(size_t n)
{
	if (!ready())
		return boot_alloc(n);
	note_alloc();
	return next_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (!ready() || next_calloc == NULL)
		return m != 0 && n > SIZE_MAX / m ? NULL : boot_alloc(n * m);
	note_alloc();
	return next_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (!ready() || next_realloc == NULL)
		return NULL;
	note_alloc();
	if (in_boot(p)) {
		void *q = next_malloc(n);
		if (q != NULL)
			memcpy(q, p, n < (size_t)(boot + sizeof(boot) - (char *)p) ? n : (size_t)(boot + sizeof(boot) - (char *)p));
		return q;
	}
	return next_realloc(p, n);
}

void free(void *p)
{
	if (p == NULL || in_boot(p))
		return;
	if (ready())
		next_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (!ready() || next_posix_memalign == NULL)
		return 12; /* ENOMEM */
	note_alloc();
	return next_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	if (!ready() || next_aligned_alloc == NULL)
		return NULL;
	note_alloc();
	return next_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n)
{
	if (!ready() || next_memalign == NULL)
		return NULL;
	note_alloc();
	return next_memalign(align, n);
}

static bool hook_install(void)
{
	return ready();
}
#endif

/* ---- queries ----------------------------------------------------------- */

enum { F_EDNS = 1, F_DO = 2, F_TCP = 4, F_BADVERS = 8, F_CHAOS = 16, F_RAW = 32 };

typedef struct q {
	const char *name;
	uint16_t type;
	unsigned flags;
	const uint8_t *raw; /* F_RAW: these bytes as they are */
	size_t rawlen;
	/* expectation for the check pass: verdict, and for HF_ANSWER the rcode
	 * (-1 = any), answer count (-1 = any), TC bit */
	int verdict, rcode, ancount, tc;
	bool chase;         /* FORWARD of an ExternalName target: feed a reply */
} q_t;

static size_t put_name(uint8_t *p, const char *name)
{
	size_t n = 0;
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (uint8_t)l;
		memcpy(p + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

static size_t build(const q_t *q, uint16_t id, unsigned salt, uint8_t *out)
{
	if (q->flags & F_RAW) {
		memcpy(out, q->raw, q->rawlen);
		out[0] = (uint8_t)(id >> 8);
		if (q->rawlen > 1)
			out[1] = (uint8_t)id;
		return q->rawlen;
	}
	memset(out, 0, 12);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	out[2] = 0x01; /* RD */
	out[5] = 1;
	size_t n = 12 + put_name(out + 12, q->name);
	/* vary the case of the question (echoed back as sent) */
	for (size_t i = 13; i < n; i++)
		if (((salt >> (i % 16)) & 1) && out[i] >= 'a' && out[i] <= 'z')
			out[i] = (uint8_t)(out[i] - 32);
	out[n++] = (uint8_t)(q->type >> 8);
	out[n++] = (uint8_t)q->type;
	out[n++] = 0;
	out[n++] = (q->flags & F_CHAOS) ? 3 : 1;
	if (q->flags & (F_EDNS | F_BADVERS)) {
		out[11] = 1;
		out[n++] = 0;           /* root */
		out[n++] = 0;
		out[n++] = 41;          /* OPT */
		out[n++] = 0x04;        /* payload 1232 */
		out[n++] = 0xd0;
		out[n++] = 0;           /* extended rcode */
		out[n++] = (q->flags & F_BADVERS) ? 1 : 0;
		out[n++] = (q->flags & F_DO) ? 0x80 : 0;
		out[n++] = 0;
		/* a client cookie option (code 10, 8 bytes) */
		out[n++] = 0;
		out[n++] = 12;
		out[n++] = 0;
		out[n++] = 10;
		out[n++] = 0;
		out[n++] = 8;
		for (int i = 0; i < 8; i++)
			out[n++] = (uint8_t)(salt + i);
	}
	return n;
}

static const uint8_t raw_short[] = {0x12, 0x34, 0x01};
static const uint8_t raw_noq[] = {0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
static const uint8_t raw_loop[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
				   0xc0, 12, 0, 1, 0, 1};
static const uint8_t raw_resp[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0,
				   3, 'w', 'e', 'b', 0, 0, 1, 0, 1};
static const uint8_t raw_two[] = {0x12, 0x34, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0,
				  1, 'a', 0, 0, 1, 0, 1, 1, 'b', 0, 0, 1, 0, 1};
static const uint8_t raw_trail[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
				    1, 'a', 0, 0, 1, 0, 1, 0xde, 0xad};
static const uint8_t raw_notify[] = {0x12, 0x34, 0x20, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
				     7, 'c', 'l', 'u', 's', 't', 'e', 'r', 5, 'l', 'o', 'c', 'a', 'l', 0,
				     0, 6, 0, 1};

#define ANY_RC (-1)
#define ANY_AN (-1)
#define RAWQ(b, v) \
	{ .raw = b, .rawlen = sizeof(b), .flags = F_RAW, .verdict = v, .rcode = ANY_RC, .ancount = ANY_AN }

static const q_t queries[] = {
	{"web.shop.svc.cluster.local", 1, 0, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"web.shop.svc.cluster.local", 1, F_EDNS | F_DO, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"dual.shop.svc.cluster.local", 28, F_EDNS, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"_http._tcp.web.shop.svc.cluster.local", 33, 0, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"db.data.svc.cluster.local", 33, F_EDNS, NULL, 0, HF_ANSWER, 0, 3, 0, false},
	{"10.100.96.10.in-addr.arpa", 12, 0, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"0.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa", 12, 0, NULL, 0,
	 HF_ANSWER, 0, 1, 0, false},
	{"nosuch.shop.svc.cluster.local", 1, 0, NULL, 0, HF_ANSWER, 3, 0, 0, false},
	{"nosuch.shop.svc.cluster.local", 28, F_EDNS, NULL, 0, HF_ANSWER, 3, 0, 0, false},
	{"web.shop.svc.cluster.local", 16, 0, NULL, 0, HF_ANSWER, 0, 0, 0, false},  /* NODATA */
	{"web.shop.svc.cluster.local", 28, F_EDNS, NULL, 0, HF_ANSWER, 0, 0, 0, false},
	{"db.data.svc.cluster.local", 1, 0, NULL, 0, HF_ANSWER, 0, 3, 0, false},     /* headless */
	{"db-0.db.data.svc.cluster.local", 1, F_TCP, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"big.shop.svc.cluster.local", 1, 0, NULL, 0, HF_ANSWER, 0, ANY_AN, 1, false}, /* TC */
	{"big.shop.svc.cluster.local", 1, F_TCP, NULL, 0, HF_ANSWER, 0, 120, 0, false},
	{"big.shop.svc.cluster.local", 33, F_EDNS | F_TCP, NULL, 0, HF_ANSWER, 0, 120, 0, false},
	{"10-244-1-7.shop.pod.cluster.local", 1, 0, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"ext.shop.svc.cluster.local", 1, 0, NULL, 0, HF_ANSWER, 0, ANY_AN, 0, false},
	{"extout.shop.svc.cluster.local", 1, F_EDNS, NULL, 0, HF_FORWARD, 0, 0, 0, true},
	{"extout.shop.svc.cluster.local", 28, 0, NULL, 0, HF_FORWARD, 0, 0, 0, true},
	{"example.org", 1, 0, NULL, 0, HF_FORWARD, 0, 0, 0, false},
	{"example.org", 28, F_EDNS | F_TCP, NULL, 0, HF_FORWARD, 0, 0, 0, false},
	{"cluster.local", 6, 0, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"cluster.local", 2, F_EDNS, NULL, 0, HF_ANSWER, 0, ANY_AN, 0, false},
	{"dns-version.cluster.local", 16, 0, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"kubernetes.default.svc.cluster.local", 1, F_EDNS | F_DO, NULL, 0, HF_ANSWER, 0, 1, 0, false},
	{"web.shop.svc.cluster.local", 1, F_BADVERS, NULL, 0, HF_ANSWER, ANY_RC, 0, 0, false},
	{"version.bind", 16, F_CHAOS, NULL, 0, -1, ANY_RC, ANY_AN, 0, false},
	{"web.shop.svc.cluster.local", 255, 0, NULL, 0, HF_ANSWER, ANY_RC, ANY_AN, 0, false},
	RAWQ(raw_short, -1),
	RAWQ(raw_noq, -1),
	RAWQ(raw_loop, -1),
	RAWQ(raw_resp, HF_DROP),
	RAWQ(raw_two, -1),
	RAWQ(raw_trail, -1),
	RAWQ(raw_notify, -1),
};
#define NQ (sizeof(queries) / sizeof(queries[0]))

/* The upstream's reply to a forwarded chase query: its question and one
 * A or AAAA record. */
static size_t upstream_reply(const uint8_t *q, size_t qlen, uint8_t *out, size_t cap)
{
	if (qlen < 12 || qlen + 40 > cap)
		return 0;
	size_t end = 12;
	while (end < qlen && q[end] != 0)
		end += (size_t)q[end] + 1;
	end += 5; /* root, type, class */
	if (end > qlen)
		return 0;
	memcpy(out, q, end);
	out[2] |= 0x80; /* QR */
	out[3] = 0x80;  /* RA */
	out[6] = 0;
	out[7] = 1;
	out[8] = out[9] = out[10] = out[11] = 0;
	uint16_t type = (uint16_t)((q[end - 4] << 8) | q[end - 3]);
	size_t n = end;
	out[n++] = 0xc0;
	out[n++] = 12;
	out[n++] = (uint8_t)(type >> 8);
	out[n++] = (uint8_t)type;
	out[n++] = 0;
	out[n++] = 1;
	out[n++] = 0;
	out[n++] = 0;
	out[n++] = 0;
	out[n++] = 30;
	if (type == 28) {
		static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x34};
		out[n++] = 0;
		out[n++] = 16;
		memcpy(out + n, v6, 16);
		n += 16;
	} else {
		out[n++] = 0;
		out[n++] = 4;
		static const uint8_t v4[4] = {192, 0, 2, 34};
		memcpy(out + n, v4, 4);
		n += 4;
	}
	return n;
}

typedef struct run {
	hf_engine_t *e;
	hf_worker_t *w;
	int listener;
	struct sockaddr_in client;
	unsigned long answers, forwards, drops, errors, chased, truncated;
} run_t;

/* One query (and, for a forwarded chase, the upstream exchange).  With
 * check, the reply is compared with the expectation. */
static void one(run_t *r, const q_t *q, unsigned i, bool check)
{
	uint8_t pkt[512], resp[65535], up[512], addr[64];
	size_t plen = build(q, (uint16_t)(i * 7919u), i, pkt), rlen = 0;
	int transport = (q->flags & F_TCP) ? HF_TCP : HF_UDP;
	size_t cap = transport == HF_TCP ? sizeof(resp) : 1232;
	int v = hf_answer(r->w, r->listener, pkt, plen, (const struct sockaddr *)&r->client,
			  transport, resp, cap, &rlen);
	if (v == HF_ANSWER) {
		r->answers++;
		if (rlen >= 12 && (resp[2] & 0x02))
			r->truncated++;
	} else if (v == HF_FORWARD) {
		r->forwards++;
		const uint8_t *m = NULL;
		size_t mlen = 0;
		if (hf_forward_query(r->w, &m, &mlen) != HF_EOK || hf_forward_upstream(r->w, 0, (char *)addr, sizeof(addr)) != HF_EOK)
			r->errors++;
		if (q->chase) {
			size_t ulen = upstream_reply(m, mlen, up, sizeof(up));
			size_t flen = 0;
			if (ulen == 0 || hf_forward_reply(r->w, up, ulen, resp, sizeof(resp), &flen) < 0 || flen < 12)
				r->errors++;
			else
				r->chased++;
		}
	} else if (v == HF_DROP) {
		r->drops++;
	} else {
		r->errors++;
	}
	if (!check)
		return;
	char what[300];
	snprintf(what, sizeof(what), "query %u (%s type %u flags %#x)", (unsigned)(q - queries),
		 q->name ? q->name : "raw", q->type, q->flags);
	if (q->verdict >= 0 && v != q->verdict) {
		print_message("%s: verdict %d, expected %d\n", what, v, q->verdict);
		fail();
	}
	if (v != HF_ANSWER || q->verdict != HF_ANSWER)
		return;
	assert_true(rlen >= 12);
	assert_int_equal(resp[0], pkt[0]); /* ID */
	assert_int_equal(resp[1], pkt[1]);
	int rcode = resp[3] & 0x0f, an = (resp[6] << 8) | resp[7], tc = (resp[2] & 0x02) != 0;
	if ((q->rcode != ANY_RC && rcode != q->rcode) || (q->ancount != ANY_AN && an != q->ancount) ||
	    tc != q->tc) {
		print_message("%s: rcode %d answers %d tc %d, expected %d %d %d\n", what, rcode, an, tc,
			      q->rcode, q->ancount, q->tc);
		fail();
	}
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static hf_engine_t *open_engine(const char *memory)
{
	char cluster[PATH_MAX], big[PATH_MAX];
	if (realpath("tests/integration/data/cluster.yaml", cluster) == NULL ||
	    realpath("tests/integration/data/big.yaml", big) == NULL) {
		print_message("run from the repository root: tests/integration/data/*.yaml not found\n");
		fail();
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hf-noalloc-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char corefile[4 * PATH_MAX];
	snprintf(corefile, sizeof(corefile),
		 "cluster.local in-addr.arpa ip6.arpa {\n"
		 "    %s\n"
		 "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
		 "        manifest %s %s\n"
		 "        pods insecure\n"
		 "    }\n"
		 "    forward . 192.0.2.53:53\n"
		 "}\n"
		 ". {\n"
		 "    forward . 192.0.2.53:53 192.0.2.54:53\n"
		 "}\n",
		 memory, cluster, big);
	write_file("Corefile", corefile);
	char path[PATH_MAX], err[2048] = "";
	snprintf(path, sizeof(path), "%s/Corefile", tmpdir);
	hf_engine_t *e = hf_engine_open(path, 5300, HF_OPEN_QUIET, err, sizeof(err));
	if (e == NULL)
		print_message("hf_engine_open: %s\n", err);
	assert_non_null(e);
	return e;
}

static void close_engine(hf_engine_t *e)
{
	char path[PATH_MAX];
	hf_engine_close(e);
	snprintf(path, sizeof(path), "%s/Corefile", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

static void answer_path(const char *memory)
{
	hf_engine_t *e = open_engine(memory);
	char status[4096];
	assert_int_equal(hf_status_json(e, status, sizeof(status)), HF_EOK);
	if (memory[0] != '\0')
		assert_non_null(strstr(status, "\"memory\":{\"configured\":true"));
	run_t r = { .e = e };
	r.w = hf_worker_new(e);
	assert_non_null(r.w);
	assert_int_equal(hf_listener_count(e), 1);
	r.listener = 0;
	r.client.sin_family = AF_INET;
	r.client.sin_addr.s_addr = htonl(0x0a000001);
	/* what each query answers, then a warm-up round */
	for (unsigned i = 0; i < NQ; i++)
		one(&r, &queries[i], i, true);
	for (unsigned i = 0; i < 10 * NQ; i++)
		one(&r, &queries[i % NQ], i, false);
	assert_int_equal(r.errors, 0);

	uint64_t je_before = 0, je_after = 0;
	bool je = hfi_arena_thread_allocated(&je_before);
	run_t m = r;
	m.answers = m.forwards = m.drops = m.errors = m.chased = m.truncated = 0;
	atomic_store(&allocs, 0);
	atomic_store(&counting, 1);
	for (unsigned i = 0; i < QUERIES; i++)
		one(&m, &queries[i % NQ], i + 12345u, false);
	atomic_store(&counting, 0);
	unsigned long n = atomic_load(&allocs);
	if (je)
		je = hfi_arena_thread_allocated(&je_after);
	print_message("%s: %d queries: %lu answered (%lu truncated), %lu forwarded (%lu chased), "
		      "%lu dropped; allocations: %lu (hook), %s\n",
		      memory[0] ? memory : "no memory directive", QUERIES, m.answers, m.truncated,
		      m.forwards, m.chased, m.drops, n,
		      je ? "jemalloc thread.allocated checked" : "jemalloc counter unavailable (hook only)");
	assert_int_equal(m.errors, 0);
	assert_int_equal(m.answers + m.forwards + m.drops, QUERIES);
	assert_true(m.forwards > 0 && m.chased > 0 && m.drops > 0 && m.truncated > 0);
	assert_int_equal(n, 0);
	if (je)
		assert_int_equal(je_after - je_before, 0);
	hf_worker_free(r.w);
	close_engine(e);
}

static void test_noalloc_with_memory(void **state)
{
	(void)state;
	answer_path("memory 32M");
}

static void test_noalloc_without_memory(void **state)
{
	(void)state;
	answer_path("");
}

/* The counters themselves work: an allocation while counting is seen. */
static void test_counter_sees_allocations(void **state)
{
	(void)state;
	atomic_store(&allocs, 0);
	atomic_store(&counting, 1);
	void *volatile p = malloc(100);
	char *volatile s = strdup("counted");
	atomic_store(&counting, 0);
	free(p);
	free(s);
	assert_true(atomic_load(&allocs) >= 2);
	uint64_t a = 0, b = 0;
	if (hfi_arena_thread_allocated(&a)) {
		void *volatile q = malloc(4096);
		assert_true(hfi_arena_thread_allocated(&b));
		free(q);
		assert_true(b - a >= 4096);
	}
}

int main(void)
{
	if (!hook_install()) {
		fprintf(stderr, "test_answer_noalloc: cannot install the allocation hook\n");
		return 1;
	}
	print_message("allocation hook: %s; jemalloc counter: %s\n",
#ifdef ASAN_BUILD
		      "ASan's malloc hook",
#else
		      "interposed malloc family",
#endif
		      strcmp(hfi_arena_backend(), "jemalloc") == 0 ? "yes" : "no (not in this process)");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_sees_allocations),
		cmocka_unit_test(test_noalloc_with_memory),
		cmocka_unit_test(test_noalloc_without_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
