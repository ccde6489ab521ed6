/* test_engine_stats.c: the per-worker query accounting behind the
 * coredns_dns_* families (engine_stats.c) through the public ABI: queries
 * answered by two workers are summed at scrape time, a freed worker's
 * counts stay, zone "dropped" for a name in no zone (REFUSED), a block
 * without prometheus is not counted, a forwarded query is recorded when
 * hf_forward_reply sees the upstream's reply (rcode and size from it) or
 * the host reports its own reply (hf_forward_done), and
 * hf_metrics_inherit carries the counts to the next engine of a reload.
 * hf_corefile_hash ignores comments and whitespace, not tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <netinet/in.h>

#include "holdfast.h"

#define TMPDIR_PREFIX "/tmp/hf_stats_"
#include "tmpdir_util.h"

static const char *COREFILE =
	"example.org:5300 {\n"
	"    bind 127.0.0.1\n"
	"    prometheus 127.0.0.1:19999\n"
	"    whoami\n"
	"}\n"
	"example.net:5300 {\n"
	"    bind 127.0.0.1\n"
	"    whoami\n"
	"}\n"
	"fwd.test:5300 {\n"
	"    bind 127.0.0.1\n"
	"    prometheus 127.0.0.1:19999\n"
	"    forward . 127.0.0.1:5999\n"
	"}\n";

struct buf {
	char p[1 << 18];
	size_t n;
};

static int put(void *ctx, const char *d, size_t len)
{
	struct buf *b = ctx;
	if (b->n + len >= sizeof(b->p))
		return HF_ESPACE;
	memcpy(b->p + b->n, d, len);
	b->n += len;
	b->p[b->n] = '\0';
	return 0;
}

/* value of the series line that starts with prefix (0 if absent) */
static double series(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);
	while ((p = strstr(p, prefix)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atof(p + n + 1);
		p += n;
	}
	return 0;
}

/* A query for name (dotted, no final dot) type/class, RD, no EDNS. */
static size_t mkq(uint8_t *q, const char *name, uint16_t type, uint16_t cls)
{
	static const uint8_t hdr[12] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(q, hdr, 12);
	size_t n = 12;
	const char *s = name;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		q[n++] = (uint8_t)l;
		memcpy(q + n, s, l);
		n += l;
		s += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = (uint8_t)(cls >> 8);
	q[n++] = (uint8_t)cls;
	return n;
}

static uint8_t resp[65535];

static int ask(hf_worker_t *w, const char *name, uint16_t type, uint16_t cls, int tcp,
	       size_t *qlen_out)
{
	uint8_t q[300];
	size_t qlen = mkq(q, name, type, cls), rlen = 0;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4242)};
	sin.sin_addr.s_addr = htonl(0x7f000001);
	if (qlen_out)
		*qlen_out = qlen;
	return hf_answer(w, 0, q, qlen, (struct sockaddr *)&sin, tcp ? HF_TCP : HF_UDP, resp,
			 sizeof(resp), &rlen);
}

static hf_engine_t *open_engine(void)
{
	char path[512], err[1024];
	write_file("Corefile", COREFILE);
	snprintf(path, sizeof(path), "%s/Corefile", dir);
	hf_engine_t *e = hf_engine_open(path, 0, HF_OPEN_QUIET, err, sizeof(err));
	if (e == NULL)
		fail_msg("%s", err);
	return e;
}

#define REQ(zone, proto, type)                                                              \
	"coredns_dns_requests_total{family=\"1\",proto=\"" proto                           \
	"\",server=\"dns://127.0.0.1:5300\",type=\"" type "\",view=\"\",zone=\"" zone "\"}"

static void test_workers_summed(void **state)
{
	(void)state;
	hf_engine_t *e = open_engine();
	hf_worker_t *w1 = hf_worker_new(e), *w2 = hf_worker_new(e);
	assert_non_null(w1);
	assert_non_null(w2);
	size_t ql = 0;
	assert_int_equal(ask(w1, "a.example.org", 1, 1, 0, &ql), HF_ANSWER);
	assert_int_equal(ask(w2, "b.example.org", 1, 1, 0, NULL), HF_ANSWER);
	assert_int_equal(ask(w2, "b.example.org", 16, 1, 1, NULL), HF_ANSWER);
	assert_int_equal(ask(w1, "x.example.net", 1, 1, 0, NULL), HF_ANSWER); /* not counted */
	assert_int_equal(ask(w1, "nowhere.invalid", 1, 1, 0, NULL), HF_ANSWER); /* no zone: REFUSED */
	hf_worker_free(w2); /* its counts stay */
	struct buf *b = calloc(1, sizeof(*b));
	assert_non_null(b);
	assert_int_equal(hf_metrics_write(e, put, b), 0);
	assert_true(series(b->p, REQ("example.org.", "udp", "A")) == 2);
	assert_true(series(b->p, REQ("example.org.", "tcp", "TXT")) == 1);
	assert_true(series(b->p, REQ("dropped", "udp", "A")) == 1);
	assert_null(strstr(b->p, "zone=\"example.net.\""));
	assert_true(series(b->p, "coredns_dns_responses_total{plugin=\"\",rcode=\"REFUSED\","
				 "server=\"dns://127.0.0.1:5300\",view=\"\",zone=\"dropped\"}") == 1);
	assert_true(series(b->p, "coredns_dns_responses_total{plugin=\"whoami\",rcode=\"NOERROR\","
				 "server=\"dns://127.0.0.1:5300\",view=\"\",zone=\"example.org.\"}") == 3);
	assert_true(series(b->p, "coredns_dns_request_size_bytes_sum{proto=\"udp\","
				 "server=\"dns://127.0.0.1:5300\",view=\"\",zone=\"example.org.\"}") ==
		    2.0 * (double)ql);
	assert_true(series(b->p, "coredns_dns_request_duration_seconds_bucket{server=\"dns://127.0.0.1:5300\","
				 "view=\"\",zone=\"example.org.\",le=\"+Inf\"}") == 3);

	/* forwarded: counted when the upstream's reply comes back */
	assert_int_equal(ask(w1, "h.fwd.test", 1, 1, 0, &ql), HF_FORWARD);
	uint8_t up[64];
	size_t uplen = mkq(up, "h.fwd.test", 1, 1);
	up[2] |= 0x80;  /* QR */
	up[3] = 3;      /* NXDOMAIN */
	size_t rl = 0;
	assert_int_equal(hf_forward_reply(w1, up, uplen, resp, sizeof(resp), &rl), HF_ENOENT);
	b->n = 0;
	assert_int_equal(hf_metrics_write(e, put, b), 0);
	assert_true(series(b->p, "coredns_dns_responses_total{plugin=\"forward\",rcode=\"NXDOMAIN\","
				 "server=\"dns://127.0.0.1:5300\",view=\"\",zone=\"fwd.test.\"}") == 1);
	assert_true(series(b->p, "coredns_dns_response_size_bytes_sum{proto=\"udp\","
				 "server=\"dns://127.0.0.1:5300\",view=\"\",zone=\"fwd.test.\"}") ==
		    (double)uplen);

	/* a reply the host wrote itself (REFUSED: max_concurrent) */
	assert_int_equal(ask(w1, "i.fwd.test", 1, 1, 1, NULL), HF_FORWARD);
	up[3] = 5; /* REFUSED */
	assert_int_equal(hf_forward_done(w1, up, uplen), 0);
	assert_int_equal(hf_forward_done(w1, up, uplen), 0); /* recorded once */
	assert_int_equal(ask(w1, "j.fwd.test", 1, 1, 0, NULL), HF_FORWARD);
	assert_int_equal(hf_forward_done(w1, NULL, 0), 0); /* nothing sent: not recorded */
	b->n = 0;
	assert_int_equal(hf_metrics_write(e, put, b), 0);
	assert_true(series(b->p, "coredns_dns_responses_total{plugin=\"forward\",rcode=\"REFUSED\","
				 "server=\"dns://127.0.0.1:5300\",view=\"\",zone=\"fwd.test.\"}") == 1);
	assert_true(series(b->p, "coredns_dns_request_duration_seconds_count{server=\"dns://127.0.0.1:5300\","
				 "view=\"\",zone=\"fwd.test.\"}") == 2);

	/* reload: the next engine carries on from these counts */
	hf_engine_t *e2 = open_engine();
	hf_worker_t *w3 = hf_worker_new(e2);
	assert_int_equal(ask(w3, "c.example.org", 1, 1, 0, NULL), HF_ANSWER);
	assert_int_equal(hf_metrics_inherit(e2, e), 0); /* at the swap */
	assert_int_equal(ask(w1, "late.example.org", 1, 1, 0, NULL), HF_ANSWER); /* old engine */
	hf_worker_free(w1);
	assert_int_equal(hf_metrics_inherit(e2, e), 0); /* at close: only the rest */
	hf_engine_close(e);
	b->n = 0;
	assert_int_equal(hf_metrics_write(e2, put, b), 0);
	assert_true(series(b->p, REQ("example.org.", "udp", "A")) == 4);
	assert_true(series(b->p, REQ("dropped", "udp", "A")) == 1);
	assert_true(series(b->p, REQ("example.org.", "tcp", "TXT")) == 1);
	hf_worker_free(w3);
	hf_engine_close(e2);
	free(b);
}

static void test_corefile_hash(void **state)
{
	(void)state;
	char path[512], h1[129], h2[129], h3[129], err[512];
	snprintf(path, sizeof(path), "%s/Hashfile", dir);
	write_file("Hashfile", ".:53 {\n    whoami\n}\n");
	assert_int_equal(hf_corefile_hash(path, h1, sizeof(h1), err, sizeof(err)), 0);
	assert_int_equal(strlen(h1), 128);
	write_file("Hashfile", "# comment\n.:53   {\n\n  whoami   # why\n}\n");
	assert_int_equal(hf_corefile_hash(path, h2, sizeof(h2), err, sizeof(err)), 0);
	assert_string_equal(h1, h2);
	write_file("Hashfile", ".:53 {\n    whoami\n    log\n}\n");
	assert_int_equal(hf_corefile_hash(path, h3, sizeof(h3), err, sizeof(err)), 0);
	assert_string_not_equal(h1, h3);
	write_file("Hashfile", ".:53 {\n    whoami \"x\n}\n");
	assert_int_equal(hf_corefile_hash(path, h3, sizeof(h3), err, sizeof(err)), HF_EPARSE);
	assert_non_null(strstr(err, "Hashfile:"));
	assert_int_equal(hf_corefile_hash("stdin", h3, sizeof(h3), err, sizeof(err)), HF_EINVAL);
	assert_int_equal(hf_corefile_hash(path, h3, 64, err, sizeof(err)), HF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers_summed),
		cmocka_unit_test(test_corefile_hash),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
