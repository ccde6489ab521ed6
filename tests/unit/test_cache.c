/* test_cache.c: the cache plugin (spec 5).  The store on its own (key,
 * classification, lifetime clamps, eviction, capacity, prefer_positive,
 * SERVFAIL not hiding a positive entry, disable zones, flush) and the
 * whole path through the public ABI with a fake clock: hf_answer ->
 * HF_FORWARD -> hf_forward_reply with hand-made upstream replies, then
 * hits (AA=1, TTL = duration - age), TTL rewriting of the miss reply,
 * malformed / mismatched replies never cached, serve_stale (TTL 0, EDE 3,
 * HF_ANSWER_REFRESH, refresh results), verify mode, and the metrics text.
 * Replies are parsed with ldns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <malloc.h>
#include <netinet/in.h>
#include <unistd.h>

#include "cache.h"
#include "engine_int.h"
#include "holdfast.h"

#define TMPDIR_PREFIX "/tmp/hf_cache_"
#include "tmpdir_util.h"

static int64_t fake_ms = 1000000;
static int64_t fake_clock(void)
{
	return fake_ms;
}

/* ---- wire helpers ---- */

typedef struct wb {
	uint8_t b[4096];
	size_t n;
} wb_t;

static void w8(wb_t *w, uint8_t v)
{
	w->b[w->n++] = v;
}
static void w16(wb_t *w, uint16_t v)
{
	w8(w, (uint8_t)(v >> 8));
	w8(w, (uint8_t)v);
}
static void w32(wb_t *w, uint32_t v)
{
	w16(w, (uint16_t)(v >> 16));
	w16(w, (uint16_t)v);
}
static void wname(wb_t *w, const char *name)
{
	int n = hfi_dname_from_str(name, w->b + w->n, sizeof(w->b) - w->n);
	assert_true(n > 0);
	w->n += (size_t)n;
}

static void header(wb_t *w, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
		   uint16_t ar)
{
	w->n = 0;
	w16(w, id);
	w16(w, flags);
	w16(w, qd);
	w16(w, an);
	w16(w, ns);
	w16(w, ar);
}

static void question(wb_t *w, const char *name, uint16_t type)
{
	wname(w, name);
	w16(w, type);
	w16(w, 1);
}

static void rr_a(wb_t *w, const char *owner, uint32_t ttl, uint8_t last)
{
	wname(w, owner);
	w16(w, HFI_T_A);
	w16(w, 1);
	w32(w, ttl);
	w16(w, 4);
	w8(w, 192), w8(w, 0), w8(w, 2), w8(w, last);
}

static void rr_soa(wb_t *w, const char *owner, uint32_t ttl)
{
	wname(w, owner);
	w16(w, HFI_T_SOA);
	w16(w, 1);
	w32(w, ttl);
	size_t at = w->n;
	w16(w, 0);
	wname(w, "ns.test.");
	wname(w, "hostmaster.test.");
	w32(w, 1), w32(w, 7200), w32(w, 1800), w32(w, 86400), w32(w, 60);
	size_t rl = w->n - at - 2;
	w->b[at] = (uint8_t)(rl >> 8);
	w->b[at + 1] = (uint8_t)rl;
}

static void rr_ns(wb_t *w, const char *owner, uint32_t ttl, const char *target)
{
	wname(w, owner);
	w16(w, HFI_T_NS);
	w16(w, 1);
	w32(w, ttl);
	size_t at = w->n;
	w16(w, 0);
	wname(w, target);
	size_t rl = w->n - at - 2;
	w->b[at] = (uint8_t)(rl >> 8);
	w->b[at + 1] = (uint8_t)rl;
}

static size_t build_q(uint8_t *buf, const char *name, uint16_t type, bool edns, bool do_bit)
{
	wb_t w;
	header(&w, 0x1234, 0x0100, 1, 0, 0, edns ? 1 : 0);
	question(&w, name, type);
	if (edns) {
		w8(&w, 0);
		w16(&w, HFI_T_OPT);
		w16(&w, 1232);
		w16(&w, 0);
		w16(&w, do_bit ? 0x8000 : 0);
		w16(&w, 0);
	}
	memcpy(buf, w.b, w.n);
	return w.n;
}

static hfi_query_t *mkq(hfi_query_t *q, uint8_t *buf, const char *name, uint16_t type, bool do_bit)
{
	size_t n = build_q(buf, name, type, do_bit, do_bit);
	assert_int_equal(hfi_query_parse(q, buf, n, false), HFI_Q_OK);
	return q;
}

/* ---- key, classification, lifetime ---- */

static void test_key(void **state)
{
	(void)state;
	hfi_query_t a, b;
	uint8_t ba[512], bb[512];
	uint64_t k = hfi_cache_key(mkq(&a, ba, "www.Example.ORG.", HFI_T_A, false));
	assert_int_equal(k, hfi_cache_key(mkq(&b, bb, "WWW.example.org.", HFI_T_A, false)));
	assert_int_not_equal(k, hfi_cache_key(mkq(&b, bb, "www.example.org.", HFI_T_AAAA, false)));
	assert_int_not_equal(k, hfi_cache_key(mkq(&b, bb, "www.example.org.", HFI_T_A, true)));
	assert_int_not_equal(k, hfi_cache_key(mkq(&b, bb, "ww.example.org.", HFI_T_A, false)));
	mkq(&b, bb, "www.example.org.", HFI_T_A, false);
	b.cd = true;
	assert_int_not_equal(k, hfi_cache_key(&b));
	b.cd = false;
	b.qclass = HFI_C_CH;
	assert_int_not_equal(k, hfi_cache_key(&b));
}

static int classify(const wb_t *w, const hfi_query_t *q, hfi_cmsg_t *m)
{
	static uint8_t blob[HFI_CACHE_BLOB_MAX];
	assert_int_equal(hfi_cmsg_parse(w->b, w->n, q, 0, m, blob, sizeof(blob)), HFI_CMSG_OK);
	return hfi_cache_typify(m, q->qtype, q->do_bit);
}

static hfi_cfg_cache_t defaults(void)
{
	hfi_cfg_cache_t c;
	memset(&c, 0, sizeof(c));
	c.success_cap = c.denial_cap = 10000;
	c.success_ttl = 3600;
	c.denial_ttl = 1800;
	c.success_minttl = c.denial_minttl = 5;
	c.prefetch_duration_s = 60;
	c.prefetch_pct = 10;
	c.servfail_ttl_s = 5;
	return c;
}

static void test_classify_and_duration(void **state)
{
	(void)state;
	hfi_cfg_cache_t cfg = defaults();
	hfi_query_t q;
	uint8_t qb[512];
	mkq(&q, qb, "a.test.", HFI_T_A, false);
	hfi_cmsg_t m;
	wb_t w;
	/* NOERROR with answers: min TTL over every record */
	header(&w, 1, 0x8180, 1, 2, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "A.test.", 100, 1);
	rr_a(&w, "a.test.", 30, 2);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_NOERROR);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_NOERROR, &m), 30);
	assert_true(m.ra);
	/* clamps: below MINTTL, above TTL */
	header(&w, 1, 0x8180, 1, 1, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "a.test.", 1, 1);
	classify(&w, &q, &m);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_NOERROR, &m), 5);
	header(&w, 1, 0x8180, 1, 1, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "a.test.", 90000, 1);
	classify(&w, &q, &m);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_NOERROR, &m), 3600);
	/* NXDOMAIN + SOA: denial, capped at 1800 */
	header(&w, 1, 0x8183, 1, 0, 1, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_soa(&w, "test.", 7200);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_NXDOMAIN);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_NXDOMAIN, &m), 1800);
	/* NXDOMAIN without SOA, or with answers: not cached */
	header(&w, 1, 0x8183, 1, 0, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_OTHER);
	header(&w, 1, 0x8183, 1, 1, 1, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "a.test.", 60, 1);
	rr_soa(&w, "test.", 60);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_OTHER);
	/* NODATA */
	header(&w, 1, 0x8180, 1, 0, 1, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_soa(&w, "test.", 60);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_NODATA);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_NODATA, &m), 60);
	/* SERVFAIL / NOTIMP: servfail duration */
	header(&w, 1, 0x8182, 1, 0, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_SERVFAIL);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_SERVFAIL, &m), 5);
	cfg.servfail_ttl_s = 0;
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_SERVFAIL, &m), 0);
	cfg.servfail_ttl_s = 5;
	header(&w, 1, 0x8184, 1, 0, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_SERVFAIL);
	/* REFUSED: other (not cached) */
	header(&w, 1, 0x8185, 1, 0, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_OTHER);
	/* delegation: NS in authority, 5 s (MinimalTTL is not consulted) */
	header(&w, 1, 0x8100, 1, 0, 1, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_ns(&w, "a.test.", 600, "ns.a.test.");
	assert_int_equal(classify(&w, &q, &m), HFI_CT_DELEGATION);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_DELEGATION, &m), 5);
	/* answers that do not answer the question, no SOA: not cached */
	header(&w, 1, 0x8180, 1, 1, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "b.test.", 60, 1);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_OTHER);
	/* an empty NOERROR: positive, 5 s */
	header(&w, 1, 0x8180, 1, 0, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	assert_int_equal(classify(&w, &q, &m), HFI_CT_NOERROR);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_NOERROR, &m), 5);
	/* a custom `cache 2` (TTL below MINTTL): the cap wins, as computeTTL */
	cfg.success_ttl = 2;
	header(&w, 1, 0x8180, 1, 1, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "a.test.", 60, 1);
	classify(&w, &q, &m);
	assert_int_equal(hfi_cache_duration(&cfg, HFI_CT_NOERROR, &m), 2);
}

static void test_parse_rejects(void **state)
{
	(void)state;
	hfi_query_t q;
	uint8_t qb[512], blob[HFI_CACHE_BLOB_MAX];
	mkq(&q, qb, "a.test.", HFI_T_A, false);
	hfi_cmsg_t m;
	wb_t w;
	header(&w, 1, 0x8180, 1, 1, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "a.test.", 60, 1);
	assert_int_equal(hfi_cmsg_parse(w.b, w.n, &q, 0, &m, blob, sizeof(blob)), HFI_CMSG_OK);
	/* every truncation fails */
	for (size_t cut = 0; cut < w.n; cut++)
		assert_int_not_equal(hfi_cmsg_parse(w.b, cut, &q, 0, &m, blob, sizeof(blob)),
				     HFI_CMSG_OK);
	/* trailing garbage */
	w.b[w.n] = 0;
	assert_int_equal(hfi_cmsg_parse(w.b, w.n + 1, &q, 0, &m, blob, sizeof(blob)),
			 HFI_CMSG_MALFORMED);
	/* QR clear, other name, other type */
	w.b[2] &= 0x7f;
	assert_int_equal(hfi_cmsg_parse(w.b, w.n, &q, 0, &m, blob, sizeof(blob)), HFI_CMSG_MISMATCH);
	header(&w, 1, 0x8180, 1, 0, 0, 0);
	question(&w, "b.test.", HFI_T_A);
	assert_int_equal(hfi_cmsg_parse(w.b, w.n, &q, 0, &m, blob, sizeof(blob)), HFI_CMSG_MISMATCH);
	header(&w, 1, 0x8180, 1, 0, 0, 0);
	question(&w, "A.TEST.", HFI_T_AAAA);
	assert_int_equal(hfi_cmsg_parse(w.b, w.n, &q, 0, &m, blob, sizeof(blob)), HFI_CMSG_MISMATCH);
	/* an owner that points at itself */
	header(&w, 1, 0x8180, 1, 1, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	size_t at = w.n;
	w16(&w, (uint16_t)(0xC000 | at));
	w16(&w, HFI_T_A), w16(&w, 1), w32(&w, 60), w16(&w, 4), w32(&w, 0xC0000201);
	assert_int_equal(hfi_cmsg_parse(w.b, w.n, &q, 0, &m, blob, sizeof(blob)), HFI_CMSG_MALFORMED);
	/* round trip: blob -> hfi_resp_t -> packed reply ldns reads */
	header(&w, 1, 0x8180, 1, 1, 1, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "a.test.", 60, 7);
	rr_soa(&w, "test.", 60);
	assert_int_equal(hfi_cmsg_parse(w.b, w.n, &q, 0, &m, blob, sizeof(blob)), HFI_CMSG_OK);
	static hfi_resp_t r;
	assert_int_equal(hfi_cmsg_to_resp(blob, m.len, 42, &r), HF_EOK);
	assert_int_equal(r.nrr, 2);
	uint8_t out[4096];
	int n = hfi_msg_pack(&q, &r, out, sizeof(out), 0);
	assert_true(n > 0);
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, out, (size_t)n), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(ldns_pkt_nscount(p), 1);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 42);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), LDNS_RR_TYPE_SOA);
	ldns_pkt_free(p);
	/* a corrupt blob is refused */
	blob[5] = 200; /* owner length */
	assert_int_not_equal(hfi_cmsg_to_resp(blob, m.len, 42, &r), HF_EOK);
}

/* ---- the store ---- */

static void put_reply(hfi_cache_t *c, const char *name, uint16_t rflags, int nans, uint32_t ttl)
{
	hfi_query_t q;
	uint8_t qb[512];
	static uint8_t blob[HFI_CACHE_BLOB_MAX];
	mkq(&q, qb, name, HFI_T_A, false);
	wb_t w;
	header(&w, 1, rflags, 1, (uint16_t)nans, (rflags & 0xf) == 3 ? 1 : 0, 0);
	question(&w, name, HFI_T_A);
	for (int i = 0; i < nans; i++)
		rr_a(&w, name, ttl, (uint8_t)i);
	if ((rflags & 0xf) == 3)
		rr_soa(&w, "test.", ttl);
	hfi_cmsg_t m;
	assert_int_equal(hfi_cmsg_parse(w.b, w.n, &q, 0, &m, blob, sizeof(blob)), HFI_CMSG_OK);
	int t = hfi_cache_typify(&m, q.qtype, false);
	(void)hfi_cache_put(c, &q, &m, blob, t, hfi_cache_duration(hfi_cache_cfg(c), t, &m),
			    fake_ms);
}

static hfi_chit_t get(hfi_cache_t *c, const char *name)
{
	hfi_query_t q;
	uint8_t qb[512];
	static uint8_t blob[HFI_CACHE_BLOB_MAX];
	mkq(&q, qb, name, HFI_T_A, false);
	hfi_chit_t h;
	hfi_cache_get(c, &q, fake_ms, HFI_CGET_COUNT, 1, blob, sizeof(blob), &h);
	return h;
}

static void test_store(void **state)
{
	(void)state;
	hfi_cfg_cache_t cfg = defaults();
	char zone[] = ".";
	char *zv[] = {zone};
	cfg.zones.v = zv;
	cfg.zones.n = 1;
	cfg.success_cap = 1024;
	hfi_cache_t *c = hfi_cache_new(&cfg, NULL, "dns://:53");
	assert_non_null(c);
	assert_int_equal(hfi_cache_capacity(c, HFI_CACHE_SUCCESS), 1024);
	assert_int_equal(hfi_cache_capacity(c, HFI_CACHE_DENIAL), 9984);
	put_reply(c, "a.test.", 0x8180, 1, 60);
	hfi_chit_t h = get(c, "A.Test.");
	assert_true(h.found);
	assert_int_equal(h.ttl, 60);
	fake_ms += 10500;
	h = get(c, "a.test.");
	assert_int_equal(h.ttl, 50); /* whole seconds of age */
	fake_ms += 50000;
	h = get(c, "a.test.");
	assert_false(h.found); /* expired, no serve_stale */
	/* random eviction keeps every shard at its capacity */
	char name[64];
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "n%d.test.", i);
		put_reply(c, name, 0x8180, 1, 60);
	}
	assert_int_equal(hfi_cache_len(c, HFI_CACHE_SUCCESS), 1024);
	hfi_cache_stats_t s;
	hfi_cache_stats(c, &s);
	assert_true(s.evictions[HFI_CACHE_SUCCESS] >= 3000 - 1024);
	assert_true(s.hits[HFI_CACHE_SUCCESS] == 2 && s.misses == 1 && s.requests == 3);
	assert_int_equal(hfi_cache_flush(c), 1024);
	assert_int_equal(hfi_cache_len(c, HFI_CACHE_SUCCESS), 0);
	hfi_cache_free(c);
}

static void test_stale_and_policy(void **state)
{
	(void)state;
	hfi_cfg_cache_t cfg = defaults();
	char zone[] = ".";
	char *zv[] = {zone};
	cfg.zones.v = zv;
	cfg.zones.n = 1;
	cfg.serve_stale = true;
	cfg.stale_duration_s = 3600;
	hfi_cache_t *c = hfi_cache_new(&cfg, NULL, "");
	assert_non_null(c);
	put_reply(c, "p.test.", 0x8180, 1, 10);
	put_reply(c, "o.test.", 0x8180, 1, 10);
	fake_ms += 20000;
	hfi_chit_t h = get(c, "p.test.");
	assert_true(h.found && h.stale && h.refresh); /* immediate: refresh it */
	h = get(c, "p.test.");
	assert_true(h.found && h.stale && !h.refresh); /* one refresh in flight */
	/* one refresh slot (max_refresh 1): another stale entry waits for it */
	hfi_chit_t o = get(c, "o.test.");
	assert_true(o.found && o.stale && !o.refresh);
	hfi_query_t pq;
	uint8_t pqb[512];
	hfi_cache_refresh_done(c, mkq(&pq, pqb, "p.test.", HFI_T_A, false), false, fake_ms, 0);
	o = get(c, "o.test.");
	assert_true(o.found && o.stale && o.refresh && o.slot == 0);
	hfi_cache_refresh_done(c, mkq(&pq, pqb, "o.test.", HFI_T_A, false), false, fake_ms, o.slot);
	/* a SERVFAIL does not hide the usable positive entry */
	put_reply(c, "p.test.", 0x8182, 0, 0);
	h = get(c, "p.test.");
	assert_true(h.found && h.which == HFI_CACHE_SUCCESS && h.stale);
	/* an NXDOMAIN replaces it (no prefer_positive) */
	put_reply(c, "p.test.", 0x8183, 0, 60);
	h = get(c, "p.test.");
	assert_true(h.found && h.rcode == HFI_RCODE_NXDOMAIN && !h.stale);
	/* past the stale window: gone */
	put_reply(c, "q.test.", 0x8180, 1, 10);
	fake_ms += 3611000;
	h = get(c, "q.test.");
	assert_false(h.found);
	hfi_cache_free(c);

	/* prefer_positive: a newer negative entry loses to a usable positive */
	cfg.prefer_positive = true;
	c = hfi_cache_new(&cfg, NULL, "");
	put_reply(c, "p.test.", 0x8180, 1, 10);
	fake_ms += 20000;
	put_reply(c, "p.test.", 0x8183, 0, 60);
	h = get(c, "p.test.");
	assert_true(h.found && h.which == HFI_CACHE_SUCCESS && h.rcode == HFI_RCODE_NOERROR);
	hfi_cache_free(c);

	/* disable success for a zone; denial there still cached */
	cfg = defaults();
	cfg.zones.v = zv;
	cfg.zones.n = 1;
	char dz[] = "test.";
	char *dv[] = {dz};
	cfg.disable_success.v = dv;
	cfg.disable_success.n = 1;
	cfg.disable_success_set = true;
	c = hfi_cache_new(&cfg, NULL, "");
	put_reply(c, "x.test.", 0x8180, 1, 60);
	assert_false(get(c, "x.test.").found);
	put_reply(c, "x.other.", 0x8180, 1, 60);
	assert_true(get(c, "x.other.").found);
	put_reply(c, "y.test.", 0x8183, 0, 60);
	assert_true(get(c, "y.test.").found);
	hfi_cache_free(c);
}

/* ---- through the ABI ---- */

typedef struct eng {
	hf_engine_t *e;
	hf_worker_t *w;
} eng_t;

static eng_t open_eng(const char *corefile)
{
	write_file("Corefile", corefile);
	char p[512], err[512];
	snprintf(p, sizeof(p), "%s/Corefile", dir);
	eng_t g;
	g.e = hf_engine_open(p, 1053, HF_OPEN_QUIET, err, sizeof(err));
	if (g.e == NULL)
		fail_msg("open: %s", err);
	g.w = hf_worker_new(g.e);
	assert_non_null(g.w);
	return g;
}

static void close_eng(eng_t *g)
{
	hf_worker_free(g->w);
	hf_engine_close(g->e);
}

static uint8_t out[65535];
static size_t outlen;

static int query(eng_t *g, const char *name, bool edns)
{
	static uint8_t q[512];
	size_t ql = build_q(q, name, HFI_T_A, edns, false);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	outlen = 0;
	return hf_answer(g->w, 0, q, ql, (struct sockaddr *)&sin, HF_UDP, out, sizeof(out), &outlen);
}

static ldns_pkt *pkt(void)
{
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, out, outlen), LDNS_STATUS_OK);
	return p;
}

static uint32_t ttl0(ldns_pkt *p)
{
	return ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0));
}

static int ede_code(ldns_pkt *p)
{
	ldns_rdf *d = ldns_pkt_edns_data(p);
	if (d == NULL)
		return -1;
	const uint8_t *b = ldns_rdf_data(d);
	size_t n = ldns_rdf_size(d);
	for (size_t o = 0; o + 4 <= n;) {
		uint16_t code = (uint16_t)(b[o] << 8 | b[o + 1]), len = (uint16_t)(b[o + 2] << 8 | b[o + 3]);
		if (code == 15 && len >= 2 && o + 6 <= n)
			return b[o + 4] << 8 | b[o + 5];
		o += 4u + len;
	}
	return -1;
}

static int reply_a(eng_t *g, const char *name, uint32_t t1, uint32_t t2, uint8_t last)
{
	wb_t w;
	header(&w, 0x1234, 0x8180, 1, 2, 0, 0);
	question(&w, name, HFI_T_A);
	rr_a(&w, name, t1, last);
	rr_a(&w, name, t2, (uint8_t)(last + 1));
	outlen = 0;
	return hf_forward_reply(g->w, w.b, w.n, out, sizeof(out), &outlen);
}

/* An engine (corefile) with name's A answer cached at TTL 10 and
 * expired 5 s ago. */
static eng_t open_expired(const char *corefile, const char *name)
{
	eng_t g = open_eng(corefile);
	assert_int_equal(query(&g, name, false), HF_FORWARD);
	assert_int_equal(reply_a(&g, name, 10, 10, 1), HF_EOK);
	fake_ms += 15000;
	return g;
}

/* The reply in out, checked to be a stale answer (TTL 0, EDE 3 "Stale
 * Answer"); the caller frees it. */
static ldns_pkt *stale_pkt(void)
{
	ldns_pkt *p = pkt();
	assert_int_equal(ttl0(p), 0);
	assert_int_equal(ede_code(p), 3);
	return p;
}

static void test_engine_path(void **state)
{
	(void)state;
	eng_t g = open_eng(". {\n  cache\n  forward . 127.0.0.1:9\n}\n");
	/* miss: forwarded; the reply is re-packed with every TTL = the min */
	assert_int_equal(query(&g, "a.test.", false), HF_FORWARD);
	assert_int_equal(reply_a(&g, "a.test.", 100, 30, 1), HF_EOK);
	ldns_pkt *p = pkt();
	assert_int_equal(ldns_pkt_ancount(p), 2);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 30);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 1)), 30);
	assert_false(ldns_pkt_aa(p));
	assert_true(ldns_pkt_ra(p));
	assert_int_equal(ldns_pkt_id(p), 0x1234);
	ldns_pkt_free(p);
	/* hit: AA=1, TTL counts down */
	fake_ms += 7200;
	assert_int_equal(query(&g, "A.TEST.", true), HF_ANSWER);
	p = pkt();
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ttl0(p), 23);
	assert_int_equal(ede_code(p), -1);
	ldns_pkt_free(p);
	/* hits do not allocate (glibc's counters; ASan owns malloc there) */
#if !defined(__SANITIZE_ADDRESS__)
	struct mallinfo2 before = mallinfo2();
	for (int i = 0; i < 2000; i++)
		assert_int_equal(query(&g, "a.test.", i & 1), HF_ANSWER);
	struct mallinfo2 after = mallinfo2();
	assert_int_equal(before.uordblks, after.uordblks);
	assert_int_equal(before.hblkhd, after.hblkhd);
#endif
	/* expired without serve_stale: forwarded again */
	fake_ms += 30000;
	assert_int_equal(query(&g, "a.test.", false), HF_FORWARD);
	/* malformed reply: sent as is, nothing cached */
	wb_t w;
	header(&w, 0x1234, 0x8180, 1, 1, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	rr_a(&w, "a.test.", 60, 1);
	assert_int_equal(hf_forward_reply(g.w, w.b, w.n - 1, out, sizeof(out), &outlen), HF_ENOENT);
	assert_int_equal(query(&g, "a.test.", false), HF_FORWARD);
	/* mismatched question: not cached */
	header(&w, 0x1234, 0x8180, 1, 1, 0, 0);
	question(&w, "b.test.", HFI_T_A);
	rr_a(&w, "b.test.", 60, 1);
	assert_int_equal(hf_forward_reply(g.w, w.b, w.n, out, sizeof(out), &outlen), HF_ENOENT);
	assert_int_equal(query(&g, "a.test.", false), HF_FORWARD);
	/* upstream failed: host's SERVFAIL, nothing cached */
	assert_int_equal(hf_forward_reply(g.w, NULL, 0, out, sizeof(out), &outlen), HF_ENOENT);
	assert_int_equal(query(&g, "a.test.", false), HF_FORWARD);
	/* SERVFAIL cached 5 s */
	header(&w, 0x1234, 0x8182, 1, 0, 0, 0);
	question(&w, "a.test.", HFI_T_A);
	assert_int_equal(hf_forward_reply(g.w, w.b, w.n, out, sizeof(out), &outlen), HF_EOK);
	fake_ms += 4000;
	assert_int_equal(query(&g, "a.test.", false), HF_ANSWER);
	p = pkt();
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	fake_ms += 1500;
	assert_int_equal(query(&g, "a.test.", false), HF_FORWARD);
	close_eng(&g);
}

typedef struct sink {
	char *b;
	size_t n;
} sink_t;

static int collect(void *ctx, const char *d, size_t n)
{
	sink_t *s = ctx;
	if (s->n + n + 1 > 16384)
		return -1;
	memcpy(s->b + s->n, d, n);
	s->n += n;
	s->b[s->n] = '\0';
	return 0;
}

/* AD: a miss passes the upstream's; hits keep it only for DO/AD queries */
static void test_engine_ad(void **state)
{
	(void)state;
	eng_t g = open_eng(". {\n  cache\n  forward . 127.0.0.1:9\n}\n");
	assert_int_equal(query(&g, "ad.test.", false), HF_FORWARD);
	wb_t w;
	header(&w, 0x1234, 0x81a0, 1, 1, 0, 0);
	question(&w, "ad.test.", HFI_T_A);
	rr_a(&w, "ad.test.", 60, 1);
	assert_int_equal(hf_forward_reply(g.w, w.b, w.n, out, sizeof(out), &outlen), HF_EOK);
	ldns_pkt *p = pkt();
	assert_true(ldns_pkt_ad(p));
	ldns_pkt_free(p);
	assert_int_equal(query(&g, "ad.test.", false), HF_ANSWER);
	p = pkt();
	assert_false(ldns_pkt_ad(p));
	ldns_pkt_free(p);
	static uint8_t q[512];
	size_t ql = build_q(q, "ad.test.", HFI_T_A, false, false);
	q[3] |= 0x20; /* AD in the query */
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	assert_int_equal(hf_answer(g.w, 0, q, ql, (struct sockaddr *)&sin, HF_UDP, out, sizeof(out),
				   &outlen), HF_ANSWER);
	p = pkt();
	assert_true(ldns_pkt_ad(p));
	assert_true(ldns_pkt_aa(p));
	ldns_pkt_free(p);
	close_eng(&g);
}

static void test_engine_stale(void **state)
{
	(void)state;
	eng_t g = open_expired(". {\n  cache {\n    serve_stale 1h\n  }\n  forward . 127.0.0.1:9\n}\n",
				"s.test.");
	/* stale: answered now (TTL 0, EDE 3), refreshed after */
	assert_int_equal(query(&g, "s.test.", true), HF_ANSWER_REFRESH);
	ldns_pkt *p = stale_pkt();
	assert_true(ldns_pkt_aa(p));
	ldns_pkt_free(p);
	const uint8_t *rq;
	size_t rql;
	assert_int_equal(hf_forward_query(g.w, &rq, &rql), HF_EOK);
	assert_true(rql > 12 && (rq[2] & 0x80) == 0);
	/* the refresh failed: entry stays, another refresh is allowed */
	assert_int_equal(hf_forward_reply(g.w, NULL, 0, out, sizeof(out), &outlen), HF_ENOENT);
	assert_int_equal(query(&g, "s.test.", false), HF_ANSWER_REFRESH);
	/* ... while one is in flight, no second refresh */
	assert_int_equal(query(&g, "s.test.", false), HF_ANSWER);
	p = pkt();
	assert_int_equal(ttl0(p), 0);
	assert_int_equal(ede_code(p), -1); /* no EDNS: no EDE */
	ldns_pkt_free(p);
	/* a SERVFAIL refresh does not replace it; a NOERROR one does */
	fake_ms += HFI_CACHE_REFRESH_GIVEUP_MS + 1;
	assert_int_equal(query(&g, "s.test.", false), HF_ANSWER_REFRESH);
	wb_t w;
	header(&w, 0x1234, 0x8182, 1, 0, 0, 0);
	question(&w, "s.test.", HFI_T_A);
	assert_int_equal(hf_forward_reply(g.w, w.b, w.n, out, sizeof(out), &outlen), HF_ENOENT);
	assert_int_equal(query(&g, "s.test.", false), HF_ANSWER_REFRESH);
	assert_int_equal(reply_a(&g, "s.test.", 60, 60, 9), HF_ENOENT);
	assert_int_equal(query(&g, "s.test.", false), HF_ANSWER);
	p = pkt();
	assert_int_equal(ttl0(p), 60);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0)),
			 0xC0000209u);
	ldns_pkt_free(p);
	/* metrics: one HELP per family, the counters moved */
	static char mbuf[16384];
	sink_t sk = {mbuf, 0};
	assert_int_equal(hfi_cache_metrics(g.e, collect, &sk), 0);
	assert_non_null(strstr(mbuf, "# TYPE coredns_cache_entries gauge\n"));
	assert_non_null(strstr(mbuf, "coredns_cache_entries{server=\"dns://:1053\",type=\"success\",view=\"\",zones=\".\"} 1\n"));
	assert_non_null(strstr(mbuf, "coredns_cache_served_stale_total{server=\"dns://:1053\",view=\"\",zones=\".\"} 5\n"));
	const char *h = strstr(mbuf, "# HELP coredns_cache_hits_total");
	assert_non_null(h);
	assert_null(strstr(h + 1, "# HELP coredns_cache_hits_total"));
	close_eng(&g);
}

static void test_engine_verify(void **state)
{
	(void)state;
	eng_t g = open_expired(
		". {\n  cache {\n    serve_stale 1h verify\n  }\n  forward . 127.0.0.1:9\n}\n", "v.test.");
	/* verify: forwarded first; a failure gives the stale entry */
	assert_int_equal(query(&g, "v.test.", true), HF_FORWARD);
	assert_int_equal(hf_forward_reply(g.w, NULL, 0, out, sizeof(out), &outlen), HF_EOK);
	ldns_pkt *p = stale_pkt();
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_pkt_free(p);
	/* a good answer replaces it and is returned */
	assert_int_equal(query(&g, "v.test.", false), HF_FORWARD);
	assert_int_equal(reply_a(&g, "v.test.", 20, 20, 5), HF_EOK);
	p = pkt();
	assert_int_equal(ttl0(p), 20);
	ldns_pkt_free(p);
	assert_int_equal(query(&g, "v.test.", false), HF_ANSWER);
	close_eng(&g);
}

static void test_engine_kubernetes(void **state)
{
	(void)state;
	/* the kubernetes plugin's answers are cached too (ttl 0 -> 5 s) */
	char yaml[4096];
	FILE *f = fopen("tests/integration/data/cluster.yaml", "r");
	if (f == NULL)
		skip();
	fclose(f);
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(yaml, sizeof(yaml),
		 "cluster.local {\n  cache\n  kubernetes cluster.local {\n    ttl 0\n"
		 "    manifest %s/tests/integration/data/cluster.yaml\n  }\n}\n", cwd);
	eng_t g = open_eng(yaml);
	assert_int_equal(query(&g, "web.shop.svc.cluster.local.", false), HF_ANSWER);
	ldns_pkt *p = pkt();
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(ttl0(p), 5); /* the cache's minimum, on the miss reply too */
	ldns_pkt_free(p);
	fake_ms += 2000;
	assert_int_equal(query(&g, "web.shop.svc.cluster.local.", false), HF_ANSWER);
	p = pkt();
	assert_int_equal(ttl0(p), 3);
	ldns_pkt_free(p);
	hfi_cache_stats_t s;
	hfi_cache_stats(g.e->caches[0], &s);
	assert_int_equal(s.hits[HFI_CACHE_SUCCESS], 1);
	close_eng(&g);
}

int main(void)
{
	hfi_cache_clock = fake_clock;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_classify_and_duration),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_stale_and_policy),
		cmocka_unit_test(test_engine_path),
		cmocka_unit_test(test_engine_ad),
		cmocka_unit_test(test_engine_stale),
		cmocka_unit_test(test_engine_verify),
		cmocka_unit_test(test_engine_kubernetes),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
