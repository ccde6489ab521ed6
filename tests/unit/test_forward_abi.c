/*
 * test_forward_abi.c: the forward-instance ABI (engine_forward_abi.c):
 * instance numbering across blocks, every numeric option with its CoreDNS
 * default and when set, upstreams in configuration order, the health-check
 * domain, the instance an HF_FORWARD verdict names, and hf_forward_next
 * moving to the following forward line that serves the name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "holdfast.h"

#define TMPDIR_PREFIX "/tmp/hf_fwdabi_"
#include "tmpdir_util.h"

static hf_engine_t *open_conf(const char *text)
{
	write_file("Corefile", text);
	char p[512], err[512];
	snprintf(p, sizeof(p), "%s/Corefile", dir);
	hf_engine_t *e = hf_engine_open(p, 1053, HF_OPEN_QUIET, err, sizeof(err));
	if (e == NULL)
		fail_msg("open: %s", err);
	return e;
}

static int64_t opt(hf_engine_t *e, int id, const char *name)
{
	int64_t v = -12345;
	assert_int_equal(hf_forward_option(e, id, name, &v), HF_EOK);
	return v;
}

/* A query for name/A; returns the verdict. */
static int ask(hf_worker_t *w, const char *name)
{
	uint8_t q[300], resp[4096];
	size_t o = 12, rl = 0;
	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01;
	q[5] = 1;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		q[o++] = (uint8_t)l;
		memcpy(q + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	q[o++] = 0;
	q[o++] = 0;
	q[o++] = 1;
	q[o++] = 0;
	q[o++] = 1;
	return hf_answer(w, 0, q, o, NULL, HF_UDP, resp, sizeof(resp), &rl);
}

static void test_defaults(void **state)
{
	(void)state;
	hf_engine_t *e = open_conf(".:1053 {\n    forward . 127.0.0.1:5300 [::1]:5301 127.0.0.2\n}\n");
	assert_int_equal(hf_forward_count(e), 1);
	assert_int_equal(opt(e, 0, "policy"), 0);
	assert_int_equal(opt(e, 0, "max_fails"), 2);
	assert_int_equal(opt(e, 0, "health_check_ms"), 500);
	assert_int_equal(opt(e, 0, "expire_ms"), 10000);
	assert_int_equal(opt(e, 0, "max_age_ms"), 0);
	assert_int_equal(opt(e, 0, "read_timeout_ms"), 2000);
	assert_int_equal(opt(e, 0, "force_tcp"), 0);
	assert_int_equal(opt(e, 0, "prefer_udp"), 0);
	assert_int_equal(opt(e, 0, "max_concurrent"), 0);
	assert_int_equal(opt(e, 0, "max_connect_attempts"), 6); /* 2 x upstreams */
	assert_int_equal(opt(e, 0, "max_idle_conns"), 0);
	assert_int_equal(opt(e, 0, "failfast"), 0);
	assert_int_equal(opt(e, 0, "hc_no_rec"), 0);
	assert_int_equal(opt(e, 0, "failover"), 0);
	assert_int_equal(opt(e, 0, "next"), 0);
	assert_int_equal(opt(e, 0, "next_on_nodata"), 0);
	assert_int_equal(opt(e, 0, "upstreams"), 3);
	char a[64];
	assert_int_equal(hf_forward_upstream_at(e, 0, 0, a, sizeof(a)), HF_EOK);
	assert_string_equal(a, "127.0.0.1:5300");
	assert_int_equal(hf_forward_upstream_at(e, 0, 1, a, sizeof(a)), HF_EOK);
	assert_string_equal(a, "[::1]:5301");
	assert_int_equal(hf_forward_upstream_at(e, 0, 2, a, sizeof(a)), HF_EOK);
	assert_string_equal(a, "127.0.0.2:53");
	assert_int_equal(hf_forward_upstream_at(e, 0, 3, a, sizeof(a)), HF_ENOENT);
	assert_int_equal(hf_forward_upstream_at(e, 0, -1, a, sizeof(a)), HF_EOK);
	assert_string_equal(a, ".");
	assert_int_equal(hf_forward_upstream_at(e, 0, 0, a, 5), HF_ESPACE);
	int64_t v;
	assert_int_equal(hf_forward_option(e, 0, "nonsense", &v), HF_ENOENT);
	assert_int_equal(hf_forward_option(e, 1, "policy", &v), HF_ENOENT);
	assert_int_equal(hf_forward_option(e, -1, "policy", &v), HF_ENOENT);
	hf_engine_close(e);
}

static void test_options_set(void **state)
{
	(void)state;
	hf_engine_t *e = open_conf(
		".:1053 {\n"
		"    forward . 127.0.0.1:5300 {\n"
		"        policy sequential\n        max_fails 0\n        health_check 2s no_rec domain example.org\n"
		"        expire 20s\n        max_age 30s\n        read_timeout 300ms\n"
		"        force_tcp\n        prefer_udp\n        max_concurrent 7\n"
		"        max_connect_attempts 3\n        max_idle_conns 4\n"
		"        failfast_all_unhealthy_upstreams\n        failover SERVFAIL refused\n"
		"        next NXDOMAIN\n        next_on_nodata\n    }\n"
		"}\n"
		"example.net:1053 {\n    forward . 127.0.0.1:5301 {\n        policy round_robin\n    }\n}\n");
	assert_int_equal(hf_forward_count(e), 2);
	assert_int_equal(opt(e, 0, "policy"), 2);
	assert_int_equal(opt(e, 1, "policy"), 1);
	assert_int_equal(opt(e, 0, "max_fails"), 0);
	assert_int_equal(opt(e, 0, "health_check_ms"), 2000);
	assert_int_equal(opt(e, 0, "hc_no_rec"), 1);
	assert_int_equal(opt(e, 0, "expire_ms"), 20000);
	assert_int_equal(opt(e, 0, "max_age_ms"), 30000);
	assert_int_equal(opt(e, 0, "read_timeout_ms"), 300);
	assert_int_equal(opt(e, 0, "force_tcp"), 1);
	assert_int_equal(opt(e, 0, "prefer_udp"), 1);
	assert_int_equal(opt(e, 0, "max_concurrent"), 7);
	assert_int_equal(opt(e, 0, "max_connect_attempts"), 3);
	assert_int_equal(opt(e, 0, "max_idle_conns"), 4);
	assert_int_equal(opt(e, 0, "failfast"), 1);
	assert_int_equal(opt(e, 0, "failover"), (1 << 2) | (1 << 5));
	assert_int_equal(opt(e, 0, "next"), 1 << 3);
	assert_int_equal(opt(e, 0, "next_on_nodata"), 1);
	char a[64];
	assert_int_equal(hf_forward_upstream_at(e, 0, -1, a, sizeof(a)), HF_EOK);
	assert_string_equal(a, "example.org.");
	assert_int_equal(hf_forward_upstream_at(e, 1, 0, a, sizeof(a)), HF_EOK);
	assert_string_equal(a, "127.0.0.1:5301");
	hf_engine_close(e);
}

static void test_instance_and_next(void **state)
{
	(void)state;
	hf_engine_t *e = open_conf(".:1053 {\n"
				   "    forward example.org 127.0.0.1:5300 {\n        next NXDOMAIN\n    }\n"
				   "    forward . 127.0.0.1:5301 {\n        except skip.example.org\n    }\n"
				   "    forward . 127.0.0.1:5302\n"
				   "}\n");
	assert_int_equal(hf_forward_count(e), 3);
	hf_worker_t *w = hf_worker_new(e);
	assert_non_null(w);
	assert_int_equal(hf_forward_instance(w), HF_ENOENT); /* no verdict yet */

	assert_int_equal(ask(w, "a.example.org"), HF_FORWARD);
	assert_int_equal(hf_forward_instance(w), 0);
	assert_int_equal(hf_forward_next(w), 1);
	assert_int_equal(hf_forward_instance(w), 1);
	assert_int_equal(hf_forward_next(w), 2);
	assert_int_equal(hf_forward_next(w), HF_ENOENT);
	assert_int_equal(hf_forward_instance(w), 2);

	/* the second line excludes skip.example.org: next goes to the third */
	assert_int_equal(ask(w, "x.skip.example.org"), HF_FORWARD);
	assert_int_equal(hf_forward_instance(w), 0);
	assert_int_equal(hf_forward_next(w), 2);

	/* not under example.org: the second line serves it */
	assert_int_equal(ask(w, "www.example.com"), HF_FORWARD);
	assert_int_equal(hf_forward_instance(w), 1);
	assert_ptr_equal(hf_worker_engine(w), e);
	assert_null(hf_worker_engine(NULL));
	assert_int_equal(hf_forward_instance(NULL), HF_EINVAL);
	assert_int_equal(hf_forward_next(NULL), HF_EINVAL);
	assert_int_equal(hf_forward_count(NULL), HF_EINVAL);
	hf_worker_free(w);
	hf_engine_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_options_set),
		cmocka_unit_test(test_instance_and_next),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
