/*
 * plugin_errors.c: CoreDNS's errors plugin (spec section 11): an error a
 * plugin returns (in holdfast: a forward failure the host reports with
 * hf_forward_error) is logged as
 *   [ERROR] plugin/errors: RCODE NAME TYPE: ERROR
 * (rcode as a number, name lower-cased); the end of the chain (the last
 * handler found no next plugin) reports "plugin/NAME: no next plugin found"
 * as CoreDNS's plugin.NextOrFailure does.  `consolidate DURATION REGEXP
 * [LEVEL] [show_first]` counts matching errors instead and logs
 *   N errors like 'REGEXP' occurred in last DURATION
 * once per DURATION (maintenance thread), at LEVEL (default error);
 * show_first also logs the first error of each period in full.
 * The patterns are compiled with POSIX regcomp(REG_EXTENDED), a stand-in
 * for Go's RE2 that agrees on the common patterns (literals, classes,
 * alternation, anchors, repetition); RE2-only syntax such as \d or (?i)
 * does not compile and the pattern then matches nothing (logged at start).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "engine_int.h"
#include "log.h"
#include "plugins.h"

int hfi_errors_init_block(hfi_plug_block_t *pb, const hfi_block_t *b, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	const hfi_cfg_errors_t *c = b->errors_cfg;
	if (c == NULL || c->nconsolidate == 0)
		return HF_EOK;
	pb->errs = calloc(c->nconsolidate, sizeof(*pb->errs));
	if (pb->errs == NULL)
		return HF_ENOMEM;
	pb->nerrs = c->nconsolidate;
	for (size_t i = 0; i < c->nconsolidate; i++) {
		int rc = regcomp(&pb->errs[i].re, c->consolidate[i].regexp, REG_EXTENDED | REG_NOSUB);
		pb->errs[i].ok = rc == 0;
		if (rc != 0)
			hfi_log(HFI_LOG_WARNING, "errors",
				"consolidate pattern '%s' is not a POSIX extended regular expression; "
				"it will match nothing", c->consolidate[i].regexp);
	}
	return HF_EOK;
}

void hfi_errors_free_block(hfi_plug_block_t *pb)
{
	for (size_t i = 0; i < pb->nerrs; i++)
		if (pb->errs[i].ok)
			regfree(&pb->errs[i].re);
	free(pb->errs);
	pb->errs = NULL;
	pb->nerrs = 0;
}

/* Go's time.Duration.String() for whole milliseconds. */
void hfi_go_duration_text(uint32_t ms, char *out, size_t cap)
{
	hfi_go_duration_str((int64_t)ms * 1000000, out, cap);
}

static void flush_one(const hfi_cfg_errors_pattern_t *p, hfi_errors_ctr_t *c)
{
	uint64_t n = atomic_exchange(&c->count, 0);
	if (n == 0)
		return;
	char d[32];
	hfi_go_duration_text(p->duration_ms, d, sizeof(d));
	hfi_log((enum hfi_log_level)p->level, "errors", "%llu errors like '%s' occurred in last %s",
		(unsigned long long)n, p->regexp, d);
}

void hfi_errors_maint(hf_engine_t *e, int64_t now)
{
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		hfi_plug_block_t *pb = &e->plug->blocks[bi];
		const hfi_cfg_errors_t *c = e->cfg->blocks[bi].errors_cfg;
		for (size_t i = 0; c != NULL && i < pb->nerrs; i++) {
			hfi_errors_ctr_t *k = &pb->errs[i];
			if (atomic_load(&k->count) > 0 &&
			    now - atomic_load(&k->window_start_ms) >= (int64_t)c->consolidate[i].duration_ms)
				flush_one(&c->consolidate[i], k);
		}
	}
}

void hfi_errors_report(hf_worker_t *w, int rcode, const char *msg)
{
	int bi = w->pw.block;
	hf_engine_t *e = w->e;
	if (bi < 0 || e->plug == NULL || !e->cfg->blocks[bi].has_errors || w->q.qname == NULL)
		return;
	const hfi_cfg_errors_t *c = e->cfg->blocks[bi].errors_cfg;
	hfi_plug_block_t *pb = &e->plug->blocks[bi];
	enum hfi_log_level level = HFI_LOG_ERROR;
	for (size_t i = 0; c != NULL && i < pb->nerrs; i++) {
		hfi_errors_ctr_t *k = &pb->errs[i];
		if (!k->ok || regexec(&k->re, msg, 0, NULL, 0) != 0)
			continue;
		if (atomic_fetch_add(&k->count, 1) == 0)
			atomic_store(&k->window_start_ms, hfi_engine_now_ms());
		else
			return;
		if (!c->consolidate[i].show_first)
			return;
		level = (enum hfi_log_level)c->consolidate[i].level;
		break;
	}
	char name[HFI_DNAME_MAX * 4 + 8], type[24];
	hfi_log_fields_t f = {.q = &w->q};
	size_t n = hfi_log_format("{name}", &f, name, sizeof(name) - 1);
	name[n] = '\0';
	n = hfi_log_format("{type}", &f, type, sizeof(type) - 1);
	type[n] = '\0';
	hfi_log(level, "errors", "%d %s %s: %s", rcode, name, type, msg);
}

void hfi_errors_chain_end(hf_worker_t *w, const hfi_block_t *b)
{
	if (!b->has_errors)
		return;
	const char *last = NULL;
	for (size_t i = 0; i < b->nplugins; i++)
		if (hfi_plugin_is_handler(b->plugins[i].name))
			last = b->plugins[i].name;
	if (last == NULL)
		return;
	char msg[96];
	snprintf(msg, sizeof(msg), "plugin/%s: no next plugin found", last);
	hfi_errors_report(w, HFI_RCODE_SERVFAIL, msg);
}

HF_API int hf_forward_error(hf_worker_t *w, const char *msg)
{
	if (w == NULL || msg == NULL)
		return HF_EINVAL;
	hfi_errors_report(w, HFI_RCODE_SERVFAIL, msg);
	return HF_EOK;
}
