/* test_admin_names.c: owner and target names of break-glass overrides with
 * zone-file escapes (issue 9, found by tests/fuzz/fuzz_admin.c): `set` and
 * `unset` read \DDD and \X, so every name `overrides` and `export` print
 * (non-alphanumeric bytes as \DDD) can be given back; a label holding a
 * literal dot answers DNS queries for exactly that label; malformed
 * escapes, empty labels and over-long labels or names are refused.  Runs
 * from the repository root (as `make unit` does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <limits.h>
#include <netinet/in.h>
#include <unistd.h>

#include "engine_open_util.h"
#include "holdfast.h"
#include "log.h"

static char out[1 << 16];
static char dir[128];

static hf_engine_t *open_engine(void)
{
	char text[PATH_MAX + 256], cwd[PATH_MAX], path[PATH_MAX + 32];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(text, sizeof(text), "cluster.local {\n bind 127.0.0.1\n kubernetes cluster.local {\n"
		 "  manifest %s/tests/integration/data/cluster.yaml\n }\n}\n", cwd);
	hf_engine_t *e = open_corefile_text(dir, text);
	snprintf(path, sizeof(path), "%s/Corefile", dir);
	unlink(path);
	return e;
}

static int adm(hf_engine_t *e, const char *cmd)
{
	return hf_admin(e, cmd, out, sizeof(out));
}

/* The first data line of `overrides` (the owner is its first word). */
static void first_owner(hf_engine_t *e, char *buf, size_t len)
{
	assert_int_equal(adm(e, "overrides"), HF_EOK);
	size_t w = strcspn(out, "\t \n");
	assert_true(w > 0 && w < len && strncmp(out, "OK", 2) != 0);
	memcpy(buf, out, w);
	buf[w] = '\0';
}

static void test_printed_names_read_back(void **state)
{
	(void)state;
	hf_engine_t *e = open_engine();
	char owner[1100], cmd[1300];

	/* an escaped dot stays inside the label; the list prints it as \046 */
	assert_int_equal(adm(e, "set q\\.x.cluster.local A 5 192.0.2.1"), HF_EOK);
	first_owner(e, owner, sizeof(owner));
	assert_string_equal(owner, "q\\046x.cluster.local.");
	snprintf(cmd, sizeof(cmd), "unset %s", owner);
	assert_int_equal(adm(e, cmd), HF_EOK);
	assert_int_equal(adm(e, "overrides"), HF_EOK);
	assert_true(strncmp(out, "OK 0 overrides", 14) == 0);

	/* \\ and \DDD; export's own line recreates the record */
	assert_int_equal(adm(e, "set a\\\\b\\065.cluster.local. TXT 5 x"), HF_EOK);
	first_owner(e, owner, sizeof(owner));
	assert_string_equal(owner, "a\\092ba.cluster.local.");
	assert_int_equal(adm(e, "export"), HF_EOK);
	char line[1300];
	const char *nl = strchr(out, '\n');
	assert_non_null(nl);
	snprintf(line, sizeof(line), "%.*s", (int)(nl - out), out);
	assert_true(strncmp(line, "set a\\092ba.cluster.local. TXT 5 ", 33) == 0);
	snprintf(cmd, sizeof(cmd), "unset %s TXT", owner);
	assert_int_equal(adm(e, cmd), HF_EOK);
	assert_int_equal(adm(e, line), HF_EOK);
	first_owner(e, owner, sizeof(owner));
	assert_string_equal(owner, "a\\092ba.cluster.local.");
	assert_int_equal(adm(e, "unset a\\\\ba.cluster.local"), HF_EOK);

	/* a target with escapes, printed and read back the same way */
	assert_int_equal(adm(e, "set c.cluster.local CNAME 5 t\\032x.example.org"), HF_EOK);
	assert_int_equal(adm(e, "overrides"), HF_EOK);
	assert_non_null(strstr(out, "CNAME\tt\\032x.example.org."));
	assert_int_equal(adm(e, "unset c.cluster.local"), HF_EOK);
	hf_engine_close(e);
}

static void test_escaped_label_answers(void **state)
{
	(void)state;
	hf_engine_t *e = open_engine();
	assert_int_equal(adm(e, "set q\\.x.cluster.local A 5 192.0.2.1"), HF_EOK);
	hf_worker_t *w = hf_worker_new(e);
	assert_non_null(w);
	/* "q.x" is one label; q.x.cluster.local (two labels) is another name */
	static const uint8_t one[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
				     "\x03q.x\x07" "cluster\x05local\x00\x00\x01\x00\x01";
	static const uint8_t two[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
				     "\x01q\x01x\x07" "cluster\x05local\x00\x00\x01\x00\x01";
	struct sockaddr_in client = { .sin_family = AF_INET };
	uint8_t resp[512];
	size_t rlen = 0;
	assert_int_equal(hf_answer(w, 0, one, sizeof(one) - 1, (const struct sockaddr *)&client, HF_UDP,
				   resp, sizeof(resp), &rlen), HF_ANSWER);
	assert_true(rlen > 12);
	assert_int_equal(resp[3] & 0x0f, 0);              /* NOERROR */
	assert_int_equal(resp[6] << 8 | resp[7], 1);      /* one answer */
	assert_memory_equal(resp + rlen - 4, "\xc0\x00\x02\x01", 4);
	assert_int_equal(hf_answer(w, 0, two, sizeof(two) - 1, (const struct sockaddr *)&client, HF_UDP,
				   resp, sizeof(resp), &rlen), HF_ANSWER);
	assert_int_equal(resp[6] << 8 | resp[7], 0);      /* not the override */
	hf_worker_free(w);
	hf_engine_close(e);
}

static void test_bad_names_refused(void **state)
{
	(void)state;
	hf_engine_t *e = open_engine();
	static const char *const bad[] = {
		"set x\\ A 5 192.0.2.1",          /* escape at the end */
		"set x\\256.cluster.local A 5 192.0.2.1",
		"set x..cluster.local A 5 192.0.2.1",
		"set .x.cluster.local A 5 192.0.2.1",
		"set @ A 5 192.0.2.1",
		"unset x\\",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(adm(e, bad[i]), HF_EINVAL);
	/* 63 bytes in a label (escapes count as one) are fine, 64 are not */
	char cmd[600], lab[300];
	size_t n = 0;
	for (int i = 0; i < 62; i++)
		lab[n++] = 'a';
	memcpy(lab + n, "\\065", 4);
	n += 4;
	lab[n] = '\0';
	snprintf(cmd, sizeof(cmd), "set %s.cluster.local A 5 192.0.2.1", lab);
	assert_int_equal(adm(e, cmd), HF_EOK);
	snprintf(cmd, sizeof(cmd), "set a%s.cluster.local A 5 192.0.2.1", lab);
	assert_int_equal(adm(e, cmd), HF_EINVAL);
	/* and 255 bytes of name at most: 4 x 63-byte labels do not fit */
	char big[400];
	n = 0;
	for (int l = 0; l < 4; l++) {
		for (int i = 0; i < 63; i++)
			big[n++] = 'b';
		big[n++] = '.';
	}
	big[n] = '\0';
	snprintf(cmd, sizeof(cmd), "set %s A 5 192.0.2.1", big);
	assert_int_equal(adm(e, cmd), HF_EINVAL);
	hf_engine_close(e);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hf_admin_names_XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	hfi_log_set_quiet(1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printed_names_read_back),
		cmocka_unit_test(test_escaped_label_answers),
		cmocka_unit_test(test_bad_names_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
