/*
 * fuzz_plugins.c: libFuzzer harness for the text the stock plugins read
 * (plugins.h): the first byte picks the parser.
 *   0: a hosts file (plugin_hosts_parse.c) built for two zone sets, with
 *      and without reverse entries, then every entry looked up by name and
 *      by address (each lookup must find the entry it came from);
 *   1: a loadbalance weight file (plugin_loadbalance_weighted.c): either a
 *      table or an error text, never both;
 *   2: a log format (plugin_log.c) applied to a fixed query and reply: the
 *      line never exceeds its buffer.
 * Aborts when an invariant breaks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast.h"
#include "plugins.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void hosts(const char *text, size_t len)
{
	static const char *const zs[] = {".", "example.org."};
	uint8_t zw[2][HFI_DNAME_MAX + 1];
	for (int i = 0; i < 2; i++)
		check(hfi_dname_from_str(zs[i], zw[i], sizeof(zw[i])) > 0);
	const uint8_t *zones[2] = {zw[0], zw[1]};
	hfi_strv_t inl = {NULL, 0};
	for (int v = 0; v < 4; v++) {
		hfi_hosts_table_t *t = hfi_hosts_build(text, len, &inl, v < 2 ? zones : zones + 1, 1,
						       v % 2 == 0);
		if (t == NULL)
			continue; /* out of memory only */
		check(t->len_metric == t->n * (v % 2 == 0 ? 2 : 1));
		for (size_t i = 0; i < t->n; i++) {
			const hfi_hosts_ent_t *e = &t->ents[i];
			const uint8_t *name = t->names + e->name_off;
			size_t first = 0, n = hfi_hosts_find_name(t, name, &first);
			bool found = false;
			for (size_t k = first; k < first + n; k++)
				found |= t->by_name[k] == i;
			check(found);
			check(e->family == 4 || e->family == 6);
			if (v % 2 == 0) {
				n = hfi_hosts_find_addr(t, e->family, e->addr, &first);
				found = false;
				for (size_t k = first; k < first + n; k++)
					found |= t->by_addr[k] == i;
				check(found);
			}
		}
		hfi_hosts_table_free(t);
	}
}

static void weights(const char *text, size_t len)
{
	char err[512] = "";
	struct hfi_lb_weights *t = hfi_lb_weights_parse(text, len, "fuzz", err, sizeof(err));
	check((t != NULL) == (err[0] == '\0'));
	hfi_lb_weights_free(t);
}

static void logfmt(const char *text, size_t len)
{
	static const uint8_t qw[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
				     3, 'w', 'W', 'w', 2, 'e', 'x', 0, 0, 1, 0, 1};
	static const uint8_t reply[] = {0x12, 0x34, 0x85, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
	hfi_query_t q;
	check(hfi_query_parse(&q, qw, sizeof(qw), false) == HFI_Q_OK);
	char fmt[2048], out[512];
	size_t l = len < sizeof(fmt) - 1 ? len : sizeof(fmt) - 1;
	memcpy(fmt, text, l);
	fmt[l] = '\0';
	hfi_log_fields_t f = {.q = &q, .reply = reply, .rlen = sizeof(reply), .duration_ns = 12345};
	size_t n = hfi_log_format(fmt, &f, out, sizeof(out));
	check(n <= sizeof(out));
	f.reply = NULL;
	n = hfi_log_format(fmt, &f, out, 7);
	check(n <= 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 3) {
	case 0: hosts(text, len); break;
	case 1: weights(text, len); break;
	default: logfmt(text, len); break;
	}
	return 0;
}
