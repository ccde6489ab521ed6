/* test_admin.c: the engine side of the break-glass admin port (issue 7):
 * hf_admin commands (status, lookup, dump with paging, set/unset/overrides
 * for every settable type and their errors, CNAME chains into the cluster
 * data, limits with GCRA and most-specific-rule matching, freeze/thaw,
 * stale extend, snapshot now, flush cache, export, tokenizer errors,
 * truncated replies), the overrides file (save, load, garbage lines), the
 * sync additions (freeze keeps the store but not the dirty flag, extend
 * moves MAX and held deletions), and readers racing table swaps.  Engines
 * read the integration suite's cluster.yaml (run from the repository root,
 * as `make unit` does); answers are parsed with ldns. */
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
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin_int.h"
#include "engine_open_util.h"
#include "engine_int.h"
#include "holdfast.h"
#include "objects.h"
#include "sync.h"

#define OUT_CAP (256u << 10)
static char out[OUT_CAP];
static char dir[128];

/* ---- helpers ------------------------------------------------------------------ */

static hf_engine_t *open_text(const char *text)
{
	return open_corefile_text(dir, text);
}

/* The cluster from manifests on 127.0.0.1:1053, plus extra plugin lines. */
static hf_engine_t *open_cluster(const char *extra)
{
	char cwd[PATH_MAX], text[8192];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(text, sizeof(text),
		 "cluster.local in-addr.arpa ip6.arpa {\n bind 127.0.0.1\n"
		 " kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
		 "  manifest %s/tests/integration/data/cluster.yaml\n }\n%s}\n"
		 ".:1053 {\n bind 127.0.0.1\n forward . 192.0.2.53\n}\n",
		 cwd, extra ? extra : "");
	return open_text(text);
}

/* A live instance whose API never answers: SYNCING, snapshot path set. */
static hf_engine_t *open_live(const char *snap)
{
	char text[8192];
	snprintf(text, sizeof(text),
		 "cluster.local {\n bind 127.0.0.1\n kubernetes cluster.local {\n"
		 "  endpoint http://127.0.0.1:1\n  startup_timeout 0s\n  serve_stale 10s 20s\n"
		 "  snapshot %s\n }\n}\n", snap);
	return open_text(text);
}

static void close_engine(hf_engine_t *e)
{
	hfi_admin_free(e);
	hfi_admin_free(e); /* idempotent */
	hf_engine_close(e);
}

static int adm(hf_engine_t *e, const char *cmd)
{
	memset(out, 0, 64);
	int r = hf_admin(e, cmd, out, sizeof(out));
	/* every reply ends with exactly one final line */
	size_t n = strlen(out);
	assert_true(n > 0 && out[n - 1] == '\n');
	const char *last = out + n - 1;
	while (last > out && last[-1] != '\n')
		last--;
	assert_true(strncmp(last, "OK", 2) == 0 || strncmp(last, "ERROR", 5) == 0);
	assert_int_equal(r == HF_EOK, strncmp(last, "OK", 2) == 0);
	return r;
}

static bool has(const char *needle)
{
	return strstr(out, needle) != NULL;
}

static size_t build_q(uint8_t *buf, const char *name, uint16_t type, bool edns)
{
	uint8_t wire[256];
	int n = hfi_dname_from_str(name, wire, sizeof(wire));
	assert_true(n > 0);
	static const uint8_t hdr[12] = {0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(buf, hdr, 12);
	buf[11] = edns ? 1 : 0;
	memcpy(buf + 12, wire, (size_t)n);
	size_t o = 12 + (size_t)n;
	buf[o++] = (uint8_t)(type >> 8);
	buf[o++] = (uint8_t)type;
	buf[o++] = 0;
	buf[o++] = 1;
	if (edns) {
		static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
		memcpy(buf + o, opt, 11);
		o += 11;
	}
	return o;
}

typedef struct ans {
	int verdict;
	ldns_pkt *pkt;
} ans_t;

static ans_t ask_from(hf_worker_t *w, const char *name, uint16_t type, const char *client)
{
	uint8_t q[512], r[65535];
	size_t ql = build_q(q, name, type, false), rl = 0;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	inet_pton(AF_INET, client ? client : "192.0.2.1", &sin.sin_addr);
	ans_t a = {0};
	a.verdict = hf_answer(w, 0, q, ql, (struct sockaddr *)&sin, HF_UDP, r, sizeof(r), &rl);
	if (a.verdict == HF_ANSWER)
		assert_int_equal(ldns_wire2pkt(&a.pkt, r, rl), LDNS_STATUS_OK);
	return a;
}

static ans_t ask(hf_worker_t *w, const char *name, uint16_t type)
{
	return ask_from(w, name, type, NULL);
}

/* Answer section as "TYPE rdata;" text in order. */
static void answers(const ans_t *a, char *buf, size_t len)
{
	buf[0] = '\0';
	ldns_rr_list *l = ldns_pkt_answer(a->pkt);
	size_t o = 0;
	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);
		char *owner = ldns_rdf2str(ldns_rr_owner(rr));
		char *t = ldns_rr_type2str(ldns_rr_get_type(rr));
		o += (size_t)snprintf(buf + o, len - o, "%s %u %s", owner, ldns_rr_ttl(rr), t);
		for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
			char *rd = ldns_rdf2str(ldns_rr_rdf(rr, k));
			o += (size_t)snprintf(buf + o, len - o, " %s", rd);
			free(rd);
		}
		o += (size_t)snprintf(buf + o, len - o, ";");
		free(owner);
		free(t);
	}
}

static void done(ans_t *a)
{
	if (a->pkt)
		ldns_pkt_free(a->pkt);
	a->pkt = NULL;
}

/* ---- status, lookup, dump ----------------------------------------------------- */

static void test_status_lookup(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	assert_int_equal(adm(e, "status"), HF_EOK);
	assert_true(has("state LIVE\n"));
	assert_true(has("kubernetes cluster.local. state LIVE source manifest frozen no"));
	assert_true(has("objects namespaces=5 services=25 endpointslices=19 pods=0"));
	assert_true(has("overrides 0 "));
	assert_true(has("memory rss_kib "));
	assert_true(has("qps_since_start"));

	assert_int_equal(adm(e, "lookup web.shop.svc.cluster.local"), HF_EOK);
	assert_true(has("web.shop.svc.cluster.local.\t5\tIN\tA\t10.96.100.10\n"));
	assert_true(has(";; why: kubernetes, serve-stale state LIVE"));
	assert_true(has("\nOK kubernetes\n"));
	assert_int_equal(adm(e, "lookup nothere.shop.svc.cluster.local AAAA"), HF_EOK);
	assert_true(has("rcode NXDOMAIN") && has("IN\tSOA\tns.dns.cluster.local."));
	assert_int_equal(adm(e, "lookup www.example.org"), HF_EOK);
	assert_true(has("forward") && has(";; upstreams 192.0.2.53:53") && has("\nOK forward\n"));
	assert_int_equal(adm(e, "lookup 10.100.96.10.in-addr.arpa PTR"), HF_EOK);
	assert_true(has("PTR\tweb.shop.svc.cluster.local."));
	/* ExternalName to an outside target: the CNAME, then forward */
	assert_int_equal(adm(e, "lookup extout.shop.svc.cluster.local"), HF_EOK);
	assert_true(has("CNAME\texample.com.") && has("the target goes to forward"));
	assert_int_equal(adm(e, "lookup"), HF_EINVAL);
	assert_int_equal(adm(e, "lookup a..b"), HF_EINVAL);
	assert_int_equal(adm(e, "lookup web.shop.svc.cluster.local BOGUS"), HF_EINVAL);
	assert_int_equal(adm(e, "status extra"), HF_EINVAL);
	close_engine(e);
}

static size_t count_lines(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_dump(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	assert_int_equal(adm(e, "dump"), HF_EOK);
	assert_true(has("; zone cluster.local. state LIVE services 25"));
	assert_true(has("web.shop.svc.cluster.local.\t5\tIN\tA\t10.96.100.10\n"));
	assert_true(has("dual.shop.svc.cluster.local.\t5\tIN\tAAAA\tfd00:96::60\n"));
	assert_true(has("web.shop.svc.cluster.local.\t5\tIN\tSRV\t0 50 80 web.shop.svc.cluster.local.\n"));
	assert_true(has("ext.shop.svc.cluster.local.\t5\tIN\tCNAME\tweb.shop.svc.cluster.local.\n"));
	/* endpoints of a headless service, and PTRs of service addresses */
	assert_true(has("10-244-1-30.nohost.shop.svc.cluster.local.\t5\tIN\tA\t10.244.1.30\n"));
	assert_true(has("10.100.96.10.in-addr.arpa.\t5\tIN\tPTR\tweb.shop.svc.cluster.local.\n"));
	assert_true(has("\nOK 25 services\n"));
	char *full = strdup(out);
	assert_non_null(full);
	size_t full_a = count_lines(full, "\tIN\tA\t");

	/* a zone filter keeps names below it */
	assert_int_equal(adm(e, "dump shop.svc.cluster.local"), HF_EOK);
	assert_false(has("kubernetes.default.svc.cluster.local.\t"));
	assert_false(has("in-addr.arpa.\t"));
	assert_true(has("web.shop.svc.cluster.local.\t"));

	/* paging: a small reply buffer, follow "OK more:" to the end */
	static char small[2048];
	char cmd[128] = "dump";
	size_t pages = 0, got_a = 0;
	for (;;) {
		int r = hf_admin(e, cmd, small, sizeof(small));
		assert_int_equal(r, HF_EOK);
		got_a += count_lines(small, "\tIN\tA\t");
		pages++;
		const char *more = strstr(small, "OK more: ");
		if (more == NULL)
			break;
		snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(more + 9, "\n"), more + 9);
		assert_true(pages < 100);
	}
	assert_true(pages > 2);
	assert_int_equal(got_a, full_a);
	free(full);
	assert_int_equal(adm(e, "dump . from x"), HF_EINVAL);
	assert_int_equal(adm(e, "dump a b c"), HF_EINVAL);
	close_engine(e);
}

/* ---- overrides ----------------------------------------------------------------- */

static void test_set_types(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	hf_worker_t *w = hf_worker_new(e);
	char buf[4096];

	assert_int_equal(adm(e, "set web.shop.svc.cluster.local A 30 10.1.2.3"), HF_EOK);
	assert_true(has("web.shop.svc.cluster.local.\t30\tIN\tA\t10.1.2.3\n"));
	ans_t a = ask(w, "WEB.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	assert_int_equal(a.verdict, HF_ANSWER);
	assert_int_equal(ldns_pkt_get_rcode(a.pkt), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(a.pkt));
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "WEB.shop.svc.cluster.local. 30 A 10.1.2.3;"); /* query case */
	done(&a);
	/* a second record joins the set; both take the last TTL */
	assert_int_equal(adm(e, "set web.shop.svc.cluster.local. A 60 10.1.2.4"), HF_EOK);
	assert_int_equal(adm(e, "set web.shop.svc.cluster.local. A 60 10.1.2.4"), HF_EOK); /* same: no dup */
	a = ask(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "web.shop.svc.cluster.local. 60 A 10.1.2.3;"
				 "web.shop.svc.cluster.local. 60 A 10.1.2.4;");
	done(&a);
	/* other types of that name still come from kubernetes */
	a = ask(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_SRV);
	answers(&a, buf, sizeof(buf));
	assert_non_null(strstr(buf, "SRV 0 50 80 web.shop.svc.cluster.local."));
	done(&a);

	/* a new name: its other types are NODATA, never NXDOMAIN */
	assert_int_equal(adm(e, "set new.shop.svc.cluster.local AAAA 10 fd00::99"), HF_EOK);
	a = ask(w, "new.shop.svc.cluster.local", LDNS_RR_TYPE_AAAA);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "new.shop.svc.cluster.local. 10 AAAA fd00::99;");
	done(&a);
	a = ask(w, "new.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(a.pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(a.pkt), 0);
	assert_int_equal(ldns_pkt_nscount(a.pkt), 1);
	done(&a);
	a = ask(w, "other.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(a.pkt), LDNS_RCODE_NXDOMAIN);
	done(&a);

	/* TXT (quoted strings), SRV, MX, PTR, NS */
	assert_int_equal(adm(e, "set t.example.org TXT 5 \"hello world\" bare \"q\\\"uote\""), HF_EOK);
	a = ask(w, "t.example.org", LDNS_RR_TYPE_TXT);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "t.example.org. 5 TXT \"hello world\" \"bare\" \"q\\\"uote\";");
	done(&a);
	assert_int_equal(adm(e, "set _http._tcp.web.shop.svc.cluster.local SRV 7 1 2 8080 Target.Example."), HF_EOK);
	a = ask(w, "_http._tcp.web.shop.svc.cluster.local", LDNS_RR_TYPE_SRV);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "_http._tcp.web.shop.svc.cluster.local. 7 SRV 1 2 8080 target.example.;");
	done(&a);
	assert_int_equal(adm(e, "set m.example.org MX 9 10 mail.example.org"), HF_EOK);
	a = ask(w, "m.example.org", LDNS_RR_TYPE_MX);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "m.example.org. 9 MX 10 mail.example.org.;");
	done(&a);
	assert_int_equal(adm(e, "set 3.2.1.10.in-addr.arpa PTR 11 web.shop.svc.cluster.local"), HF_EOK);
	a = ask(w, "3.2.1.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "3.2.1.10.in-addr.arpa. 11 PTR web.shop.svc.cluster.local.;");
	done(&a);
	assert_int_equal(adm(e, "set z.example.org NS 12 ns1.example.org"), HF_EOK);
	a = ask(w, "z.example.org", LDNS_RR_TYPE_NS);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "z.example.org. 12 NS ns1.example.org.;");
	done(&a);
	/* ANY is not answered from overrides */
	a = ask(w, "t.example.org", LDNS_RR_TYPE_ANY);
	assert_true(a.verdict != HF_ANSWER || strstr(buf, "TXT") == NULL || ldns_pkt_ancount(a.pkt) == 0);
	done(&a);

	/* the list, sorted; export as set lines */
	assert_int_equal(adm(e, "overrides"), HF_EOK);
	assert_true(has("t.example.org.\t5\tIN\tTXT\t\"hello world\" \"bare\" \"q\\\"uote\"\n"));
	assert_true(has("OK 8 overrides"));
	assert_int_equal(adm(e, "export"), HF_EOK);
	assert_true(has("set web.shop.svc.cluster.local. A 60 10.1.2.3\n"));
	assert_true(has("set t.example.org. TXT 5 \"hello world\" \"bare\" \"q\\\"uote\"\n"));

	/* unset one type, a whole name, a missing one */
	assert_int_equal(adm(e, "unset web.shop.svc.cluster.local A"), HF_EOK);
	assert_true(has("OK removed 2 records (6 overrides)"));
	a = ask(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "web.shop.svc.cluster.local. 5 A 10.96.100.10;");
	done(&a);
	assert_int_equal(adm(e, "unset web.shop.svc.cluster.local A"), HF_ENOENT);
	assert_int_equal(adm(e, "unset t.example.org"), HF_EOK);
	assert_int_equal(adm(e, "unset t.example.org BOGUS"), HF_EINVAL);
	hf_worker_free(w);
	close_engine(e);
}

static void test_set_errors(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	assert_int_equal(adm(e, "set"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example A 30"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example A 30 10.0.0.300"), HF_EINVAL);
	assert_true(has("ERROR invalid IPv4 address '10.0.0.300'"));
	assert_int_equal(adm(e, "set a.example AAAA 30 10.0.0.1"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example A -1 10.0.0.1"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example A 2147483648 10.0.0.1"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example A 2147483647 10.0.0.1"), HF_EOK);
	assert_int_equal(adm(e, "set a.example SOA 30 x"), HF_EINVAL);
	assert_true(has("cannot be overridden"));
	assert_int_equal(adm(e, "set a..example A 30 10.0.0.1"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example A 30 10.0.0.1 10.0.0.2"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example SRV 30 1 2 70000 t.example"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example MX 30 x t.example"), HF_EINVAL);
	assert_int_equal(adm(e, "set a.example CNAME 30 b..example"), HF_EINVAL);
	char big[700];
	memset(big, 'x', sizeof(big));
	snprintf(big, sizeof(big), "set a.example TXT 30 %0300d", 1);
	assert_int_equal(adm(e, big), HF_EINVAL); /* one string > 255 bytes */
	/* CNAME never shares a name */
	assert_int_equal(adm(e, "set a.example CNAME 30 b.example"), HF_EINVAL);
	assert_true(has("a CNAME cannot coexist with other data"));
	assert_int_equal(adm(e, "set c.example CNAME 30 b.example"), HF_EOK);
	assert_int_equal(adm(e, "set c.example TXT 30 x"), HF_EINVAL);
	assert_int_equal(adm(e, "set c.example CNAME 30 d.example"), HF_EOK); /* replaces */
	assert_true(has("OK set (1 record in the set, 2 overrides)"));
	/* the table is bounded */
	char cmd[128];
	int r = HF_EOK, i = 0;
	for (; i < HFI_OVR_MAX + 5 && r == HF_EOK; i++) {
		snprintf(cmd, sizeof(cmd), "set n%d.example A 5 10.9.%d.%d", i, i / 256, i % 256);
		r = adm(e, cmd);
	}
	assert_int_equal(r, HF_ENOMEM);
	assert_true(has("ERROR the override table is full (256 records)"));
	assert_int_equal(i, HFI_OVR_MAX - 2 + 1);
	close_engine(e);
}

static void test_cname_chains(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	hf_worker_t *w = hf_worker_new(e);
	char buf[4096];
	/* into the cluster data: the chain first, then the target's records */
	assert_int_equal(adm(e, "set alias.example.com CNAME 60 hop.example.com"), HF_EOK);
	assert_int_equal(adm(e, "set hop.example.com CNAME 50 db.data.svc.cluster.local"), HF_EOK);
	ans_t a = ask(w, "alias.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(a.verdict, HF_ANSWER);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "alias.example.com. 60 CNAME hop.example.com.;"
				 "hop.example.com. 50 CNAME db.data.svc.cluster.local.;"
				 "db.data.svc.cluster.local. 5 A 10.244.1.20;"
				 "db.data.svc.cluster.local. 5 A 10.244.2.21;"
				 "db.data.svc.cluster.local. 5 A 10.244.3.22;");
	done(&a);
	/* a CNAME query gets the CNAME only */
	a = ask(w, "alias.example.com", LDNS_RR_TYPE_CNAME);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "alias.example.com. 60 CNAME hop.example.com.;");
	done(&a);
	/* a target that does not exist: its rcode */
	assert_int_equal(adm(e, "set gone.example.com CNAME 60 nothere.shop.svc.cluster.local"), HF_EOK);
	a = ask(w, "gone.example.com", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_get_rcode(a.pkt), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt_ancount(a.pkt), 1);
	done(&a);
	/* an override on a cluster name redirects it (wins over kubernetes) */
	assert_int_equal(adm(e, "set web.shop.svc.cluster.local CNAME 30 dual.shop.svc.cluster.local"), HF_EOK);
	a = ask(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_AAAA);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "web.shop.svc.cluster.local. 30 CNAME dual.shop.svc.cluster.local.;"
				 "dual.shop.svc.cluster.local. 5 AAAA fd00:96::60;");
	done(&a);
	assert_int_equal(adm(e, "lookup web.shop.svc.cluster.local AAAA"), HF_EOK);
	assert_true(has("override CNAME, its target answered from kubernetes (LIVE)"));
	/* outside the cluster: forward of the target */
	assert_int_equal(adm(e, "set out.shop.svc.cluster.local CNAME 30 www.example.net"), HF_EOK);
	a = ask(w, "out.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	assert_int_equal(a.verdict, HF_FORWARD);
	const uint8_t *fq = NULL;
	size_t fl = 0;
	assert_int_equal(hf_forward_query(w, &fq, &fl), HF_EOK);
	assert_true(fl > 12 && memcmp(fq + 12, "\3www\7example\3net", 17) == 0);
	char up[64];
	assert_int_equal(hf_forward_upstream(w, 0, up, sizeof(up)), HF_EOK);
	assert_string_equal(up, "192.0.2.53:53");
	uint8_t r[512];
	size_t rl = 0;
	assert_int_equal(hf_forward_reply(w, NULL, 0, r, sizeof(r), &rl), HF_EOK); /* upstream failed */
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, r, rl), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_ancount(p), 1); /* the CNAME alone */
	ldns_pkt_free(p);
	/* a loop stops */
	assert_int_equal(adm(e, "set l1.example CNAME 1 l2.example"), HF_EOK);
	assert_int_equal(adm(e, "set l2.example CNAME 1 l1.example"), HF_EOK);
	a = ask(w, "l1.example", LDNS_RR_TYPE_A);
	assert_int_equal(a.verdict, HF_ANSWER);
	assert_int_equal(ldns_pkt_ancount(a.pkt), 8);
	done(&a);
	hf_worker_free(w);
	close_engine(e);
}

/* ---- limits --------------------------------------------------------------------- */

static void test_limits(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	hf_worker_t *w = hf_worker_new(e);
	assert_int_equal(adm(e, "limit 10.0.0.0/8 0"), HF_EOK);
	assert_true(has("blocked"));
	ans_t a = ask_from(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A, "10.1.2.3");
	assert_int_equal(a.verdict, HF_DROP);
	a = ask_from(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A, "192.0.2.9");
	assert_int_equal(a.verdict, HF_ANSWER);
	done(&a);
	/* a more specific rule wins: 10.1.2.0/24 at 20 qps, burst 20 */
	assert_int_equal(adm(e, "limit 10.1.2.0/24 20"), HF_EOK);
	int ok = 0, dropped = 0;
	for (int i = 0; i < 100; i++) {
		a = ask_from(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A, "10.1.2.3");
		if (a.verdict == HF_ANSWER)
			ok++;
		else if (a.verdict == HF_DROP)
			dropped++;
		done(&a);
	}
	assert_true(ok >= 20 && ok <= 22);
	assert_int_equal(ok + dropped, 100);
	a = ask_from(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A, "10.1.3.3"); /* the /8 */
	assert_int_equal(a.verdict, HF_DROP);
	/* the budget comes back at the rate */
	usleep(250 * 1000);
	ok = 0;
	for (int i = 0; i < 20; i++) {
		a = ask_from(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A, "10.1.2.3");
		ok += a.verdict == HF_ANSWER;
		done(&a);
	}
	assert_true(ok >= 4 && ok <= 7);
	assert_int_equal(adm(e, "limits"), HF_EOK);
	assert_true(has("10.1.2.0/24 qps 20 dropped "));
	assert_true(has("10.0.0.0/8 qps 0 dropped 2\n"));
	assert_true(strstr(out, "10.1.2.0/24") < strstr(out, "10.0.0.0/8")); /* longest first */
	/* replace, remove */
	assert_int_equal(adm(e, "limit 10.1.2.0/24 1000"), HF_EOK);
	assert_true(has("replaced the old limit"));
	assert_int_equal(adm(e, "unlimit 10.0.0.0/8"), HF_EOK);
	assert_int_equal(adm(e, "unlimit 10.0.0.0/8"), HF_ENOENT);
	a = ask_from(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A, "10.1.3.3");
	assert_int_equal(a.verdict, HF_ANSWER);
	done(&a);
	assert_int_equal(adm(e, "unlimit 10.1.2.7/24"), HF_EOK); /* masked: same network */
	assert_null(atomic_load(&e->limits));
	/* IPv6 and errors */
	assert_int_equal(adm(e, "limit fd00::/8 5"), HF_EOK);
	assert_int_equal(adm(e, "limit 10.0.0.0/33 5"), HF_EINVAL);
	assert_int_equal(adm(e, "limit 10.0.0.0/8 -1"), HF_EINVAL);
	assert_int_equal(adm(e, "limit 10.0.0.0/8 99999999"), HF_EINVAL);
	assert_int_equal(adm(e, "limit nonsense 5"), HF_EINVAL);
	assert_int_equal(adm(e, "limit 10.0.0.0/8"), HF_EINVAL);
	char cmd[64];
	int r = HF_EOK, i = 0;
	for (; i < HFI_LIMIT_MAX + 3 && r == HF_EOK; i++) {
		snprintf(cmd, sizeof(cmd), "limit 10.%d.0.0/16 5", i);
		r = adm(e, cmd);
	}
	assert_int_equal(r, HF_ENOMEM);
	assert_int_equal(i, HFI_LIMIT_MAX); /* one rule (fd00::/8) was there */
	hf_worker_free(w);
	close_engine(e);
}

/* ---- the other commands ---------------------------------------------------------- */

/* `flush cache` empties the response caches: the next query is a miss. */
static void test_flush_cache(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(" cache 30\n");
	hf_worker_t *w = hf_worker_new(e);
	assert_non_null(w);
	ans_t a = ask(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	assert_int_equal(a.verdict, HF_ANSWER);
	ldns_pkt_free(a.pkt);
	a = ask(w, "nginx.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	assert_int_equal(a.verdict, HF_ANSWER);
	ldns_pkt_free(a.pkt);
	assert_int_equal(adm(e, "flush cache"), HF_EOK);
	assert_true(has("OK flushed 2 entries from 1 caches\n"));
	assert_int_equal(adm(e, "flush cache"), HF_EOK);
	assert_true(has("OK flushed 0 entries from 1 caches\n"));
	hf_worker_free(w);
	close_engine(e);
}

static void test_misc_commands(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	assert_int_equal(adm(e, "flush cache"), HF_EOK);
	assert_true(has("OK no cache configured\n"));
	assert_int_equal(adm(e, "flush"), HF_EINVAL);
	assert_int_equal(adm(e, "freeze"), HF_EOK);
	assert_true(has("nothing to freeze"));
	assert_int_equal(adm(e, "stale extend 1h"), HF_ENOENT);
	assert_int_equal(adm(e, "snapshot now"), HF_ENOENT);
	assert_int_equal(adm(e, "snapshot"), HF_EINVAL);
	assert_int_equal(adm(e, "reload"), HF_EINVAL);
	assert_int_equal(adm(e, "help"), HF_EOK);
	assert_true(has("; set NAME TYPE TTL RDATA"));
	assert_false(has("breakglass-config"));
	assert_int_equal(adm(e, "bogus"), HF_EINVAL);
	assert_true(has("ERROR unknown command \"bogus\" (try help)\n"));
	assert_int_equal(adm(e, ""), HF_EINVAL);
	assert_int_equal(adm(e, "   "), HF_EINVAL);
	assert_int_equal(adm(e, "set a \"unterminated"), HF_EINVAL);
	assert_true(has("unterminated quoted string"));
	assert_int_equal(adm(e, "status\x01"), HF_EINVAL);
	assert_true(has("control character"));
	char *big = malloc(HFI_ADMIN_LINE + 10);
	memset(big, 'a', HFI_ADMIN_LINE + 9);
	big[HFI_ADMIN_LINE + 9] = '\0';
	assert_int_equal(adm(e, big), HF_EINVAL);
	assert_true(has("longer than 4096"));
	free(big);
	/* breakglass not configured */
	assert_int_equal(adm(e, "breakglass-config"), HF_ENOENT);
	/* a reply that does not fit */
	char tiny[300];
	int r = hf_admin(e, "help", tiny, sizeof(tiny));
	assert_int_equal(r, HF_ESPACE);
	assert_non_null(strstr(tiny, "ERROR reply truncated"));
	assert_int_equal(hf_admin(e, "help", tiny, 10), HF_ESPACE);
	assert_int_equal(hf_admin(NULL, "help", tiny, sizeof(tiny)), HF_EINVAL);
	assert_int_equal(hf_admin(e, NULL, tiny, sizeof(tiny)), HF_EINVAL);
	close_engine(e);
}

static void test_breakglass_config(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(" breakglass {\n  token_file tok\n  allow 10.0.0.0/8 fd00::1\n"
				      "  allow 192.0.2.7\n }\n");
	assert_int_equal(adm(e, "breakglass-config"), HF_EOK);
	char want[1024];
	snprintf(want, sizeof(want), "addr 127.0.0.1:9154\ntoken_file %s/tok\nallow 10.0.0.0/8\n"
		 "allow fd00::1/128\nallow 192.0.2.7/32\nOK\n", dir);
	assert_string_equal(out, want);
	close_engine(e);
	e = open_cluster(" breakglass [::1]:9999\n");
	assert_int_equal(adm(e, "breakglass-config"), HF_EOK);
	assert_string_equal(out, "addr [::1]:9999\nOK\n");
	close_engine(e);
	/* parse errors */
	const char *bad[] = {
		" breakglass {\n  token_file\n }\n",
		" breakglass {\n  token_file a b\n }\n",
		" breakglass {\n  token_file a\n  token_file b\n }\n",
		" breakglass {\n  allow\n }\n",
		" breakglass {\n  allow 10.0.0.0/40\n }\n",
		" breakglass {\n  nonsense\n }\n",
		" breakglass a b\n",
	};
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[2048], path[PATH_MAX + 32], err[1024] = "";
		snprintf(text, sizeof(text), ".:1053 {\n%s}\n", bad[i]);
		snprintf(path, sizeof(path), "%s/Corefile", dir);
		FILE *f = fopen(path, "w");
		fputs(text, f);
		fclose(f);
		hf_engine_t *x = hf_engine_open(path, 0, HF_OPEN_QUIET, err, sizeof(err));
		assert_null(x);
		assert_non_null(strstr(err, "breakglass"));
	}
}

/* ---- live source: freeze, stale extend, snapshot, the overrides file ------------- */

static void test_live_commands(void **state)
{
	(void)state;
	char snap[256], ovr[256];
	snprintf(snap, sizeof(snap), "%s/snap", dir);
	snprintf(ovr, sizeof(ovr), "%s/snap.overrides", dir);
	unlink(ovr);
	hf_engine_t *e = open_live(snap);
	assert_int_equal(adm(e, "status"), HF_EOK);
	assert_true(has("kubernetes cluster.local. state SYNCING source api frozen no"));
	assert_true(has("serve_stale min 10s max 20s"));
	assert_true(has("saved_to ") && has("snap.overrides"));
	assert_int_equal(adm(e, "freeze"), HF_EOK);
	assert_true(has("kubernetes cluster.local. frozen\nOK frozen"));
	assert_int_equal(adm(e, "status"), HF_EOK);
	assert_true(has("frozen yes"));
	assert_int_equal(adm(e, "export"), HF_EOK);
	assert_true(has("freeze\n"));
	assert_int_equal(adm(e, "thaw"), HF_EOK);
	assert_int_equal(adm(e, "stale extend 90m"), HF_EOK);
	assert_true(has("max 1h30m20s"));
	assert_true(has("OK serve-stale extended by 1h30m0s"));
	assert_int_equal(adm(e, "stale extend"), HF_EINVAL);
	assert_int_equal(adm(e, "stale extend 0s"), HF_ERANGE);
	assert_int_equal(adm(e, "stale extend x"), HF_EINVAL);
	assert_int_equal(adm(e, "stale shrink 1h"), HF_EINVAL);
	assert_int_equal(adm(e, "snapshot now"), HF_EOK);
	assert_true(has("snapshot ") && has("objects 0"));
	struct stat st;
	assert_int_equal(stat(snap, &st), 0);
	/* overrides are saved at once, one `set` line each */
	assert_int_equal(adm(e, "set web.shop.svc.cluster.local A 30 10.1.2.3"), HF_EOK);
	assert_int_equal(adm(e, "set t.example TXT 30 \"a b\""), HF_EOK);
	FILE *f = fopen(ovr, "r");
	assert_non_null(f);
	char file[4096];
	size_t n = fread(file, 1, sizeof(file) - 1, f);
	file[n] = '\0';
	fclose(f);
	assert_non_null(strstr(file, "set t.example. TXT 30 \"a b\"\n"));
	assert_non_null(strstr(file, "set web.shop.svc.cluster.local. A 30 10.1.2.3\n"));
	close_engine(e);

	/* a new engine loads them; bad lines are skipped */
	f = fopen(ovr, "a");
	fputs("garbage line\nset x.example A 30 999.1.1.1\n\n# comment\nset y.example AAAA 5 ::1\n", f);
	fclose(f);
	e = open_live(snap);
	hf_worker_t *w = hf_worker_new(e);
	assert_int_equal(adm(e, "overrides"), HF_EOK);
	assert_true(has("OK 3 overrides"));
	ans_t a = ask(w, "y.example", LDNS_RR_TYPE_AAAA);
	char buf[512];
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "y.example. 5 AAAA ::1;");
	done(&a);
	/* the cluster is SYNCING but the override answers */
	a = ask(w, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A);
	answers(&a, buf, sizeof(buf));
	assert_string_equal(buf, "web.shop.svc.cluster.local. 30 A 10.1.2.3;");
	done(&a);
	assert_int_equal(adm(e, "unset web.shop.svc.cluster.local"), HF_EOK);
	assert_int_equal(adm(e, "unset t.example"), HF_EOK);
	assert_int_equal(adm(e, "unset y.example"), HF_EOK);
	assert_null(atomic_load(&e->overrides));
	hf_worker_free(w);
	close_engine(e);
	e = open_live(snap);
	assert_int_equal(adm(e, "overrides"), HF_EOK);
	assert_true(has("OK 0 overrides"));
	close_engine(e);
	unlink(ovr);
	unlink(snap);
}

/* ---- sync: freeze and extend ------------------------------------------------------ */

static hfi_store_t *one_service(const char *name)
{
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_ip_t ip;
	hfi_ip_parse("10.0.0.1", &ip);
	hfi_service_t s = {.ns = "ns", .name = (char *)name, .rv = (char *)name, .type = "ClusterIP",
			   .ips = &ip, .nips = 1};
	assert_true(hfi_store_put_service(st, &s) >= 0);
	return st;
}

static void test_sync_freeze_extend(void **state)
{
	(void)state;
	hfi_store_t *st = hfi_store_new(NULL);
	hfi_sync_cfg_t cfg = {.stale_min_ms = 1000, .stale_max_ms = 5000, .deletion_guard = 0.5};
	cfg.want[HFI_RES_SERVICES] = true;
	hfi_sync_t *s = hfi_sync_new(st, &cfg);
	hfi_store_t *l1 = one_service("a"), *l2 = one_service("b");
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, l1, 0), HF_EOK);
	assert_true(hfi_sync_take_dirty(s));
	assert_int_equal(hfi_sync_state(s, 0), HFI_LIVE);
	/* frozen: the store follows, the dirty flag waits */
	hfi_sync_freeze(s, true);
	assert_true(hfi_sync_frozen(s));
	hfi_store_t *both = hfi_store_new(NULL);
	assert_true(hfi_store_put_service(both, hfi_store_service_at(l1, 0)) >= 0);
	assert_true(hfi_store_put_service(both, hfi_store_service_at(l2, 0)) >= 0);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, both, 10), HF_EOK);
	assert_int_equal(hfi_store_count_services(st), 2);
	assert_false(hfi_sync_take_dirty(s));
	assert_false(hfi_sync_take_dirty(s));
	hfi_sync_stats_t ss;
	hfi_sync_get_stats(s, &ss);
	assert_true(ss.frozen);
	hfi_sync_freeze(s, false);
	assert_true(hfi_sync_take_dirty(s));
	assert_false(hfi_sync_take_dirty(s));

	/* an outage: EXPIRED after MAX; extend brings STALE back */
	hfi_sync_health(s, HFI_RES_SERVICES, false, "test", 100);
	assert_int_equal(hfi_sync_state(s, 100), HFI_STALE);
	assert_int_equal(hfi_sync_state(s, 5100), HFI_EXPIRED);
	assert_int_equal(hfi_sync_extend(s, 3000, 5200), 0);
	assert_int_equal(hfi_sync_state(s, 5200), HFI_STALE);
	assert_int_equal(hfi_sync_state(s, 8099), HFI_STALE);
	assert_int_equal(hfi_sync_state(s, 8100), HFI_EXPIRED);
	hfi_sync_get_stats(s, &ss);
	assert_int_equal(ss.stale_extra_ms, 3000);
	/* healthy again: the extension is over */
	hfi_sync_health(s, HFI_RES_SERVICES, true, NULL, 9000);
	assert_int_equal(hfi_sync_state(s, 9000), HFI_LIVE);
	hfi_sync_get_stats(s, &ss);
	assert_int_equal(ss.stale_extra_ms, 0);

	/* held deletions: an empty relist is held for MIN; extend pushes it */
	hfi_store_t *empty = hfi_store_new(NULL);
	assert_int_equal(hfi_sync_apply_list(s, HFI_RES_SERVICES, empty, 10000), HF_EOK);
	assert_int_equal(hfi_store_count_services(st), 2);
	assert_int_equal(hfi_sync_extend(s, 5000, 10500), 2);
	(void)hfi_sync_state(s, 11500); /* the old deadline */
	assert_int_equal(hfi_store_count_services(st), 2);
	(void)hfi_sync_state(s, 16000); /* the new one */
	assert_int_equal(hfi_store_count_services(st), 0);
	assert_int_equal(hfi_sync_extend(s, 0, 0), 0);
	assert_int_equal(hfi_sync_extend(NULL, 5, 0), 0);
	hfi_sync_freeze(NULL, true);
	assert_false(hfi_sync_frozen(NULL));
	hfi_store_free(empty);
	hfi_store_free(both);
	hfi_store_free(l1);
	hfi_store_free(l2);
	hfi_sync_free(s);
	hfi_store_free(st);
}

/* ---- readers while tables are swapped ------------------------------------------- */

typedef struct race {
	hf_engine_t *e;
	atomic_bool stop;
	atomic_ulong answers, bad;
} race_t;

static void *reader(void *arg)
{
	race_t *r = arg;
	hf_worker_t *w = hf_worker_new(r->e);
	uint8_t q[512], resp[4096];
	size_t ql = build_q(q, "web.shop.svc.cluster.local", LDNS_RR_TYPE_A, false);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	while (!atomic_load(&r->stop)) {
		size_t rl = 0;
		int v = hf_answer(w, 0, q, ql, (struct sockaddr *)&sin, HF_UDP, resp, sizeof(resp), &rl);
		/* the last 4 bytes are the one A record's address */
		bool ok = v == HF_ANSWER && rl > 4 &&
			  (memcmp(resp + rl - 4, "\x0a\x60\x64\x0a", 4) == 0 || /* kubernetes */
			   memcmp(resp + rl - 4, "\x0a\x01\x01\x01", 4) == 0 ||
			   memcmp(resp + rl - 4, "\x0a\x02\x02\x02", 4) == 0);
		atomic_fetch_add(&r->answers, 1);
		if (!ok)
			atomic_fetch_add(&r->bad, 1);
	}
	hf_worker_free(w);
	return NULL;
}

static void test_swap_race(void **state)
{
	(void)state;
	hf_engine_t *e = open_cluster(NULL);
	race_t r = {.e = e};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, reader, &r);
	time_t until = time(NULL) + 10;
	for (int i = 0; i < 400 || (atomic_load(&r.answers) < 20000 && time(NULL) < until); i++) {
		assert_int_equal(adm(e, i % 2 ? "set web.shop.svc.cluster.local A 9 10.1.1.1"
					      : "set web.shop.svc.cluster.local A 9 10.2.2.2"), HF_EOK);
		if (i % 3 == 0)
			assert_int_equal(adm(e, "unset web.shop.svc.cluster.local A"), HF_EOK);
		assert_int_equal(adm(e, i % 2 == 0 ? "limit 198.51.100.0/24 5" : "unlimit 198.51.100.0/24"), HF_EOK);
	}
	atomic_store(&r.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(atomic_load(&r.answers) > 0);
	assert_int_equal(atomic_load(&r.bad), 0);
	close_engine(e);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/hf-test-admin-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_lookup),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_set_types),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_cname_chains),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_flush_cache),
		cmocka_unit_test(test_misc_commands),
		cmocka_unit_test(test_breakglass_config),
		cmocka_unit_test(test_live_commands),
		cmocka_unit_test(test_sync_freeze_extend),
		cmocka_unit_test(test_swap_race),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		r = r ? r : 1;
	return r;
}
