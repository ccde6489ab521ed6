/*
 * plugins.c: lifecycle of the runtime state of the stock plugins
 * (plugins.h): per-block state created when the engine opens (hosts
 * tables loaded, loop probe names drawn, errors patterns compiled), the
 * maintenance hook (hosts reloads, errors consolidation), the per-query
 * start (time, client, transport), the forwarded-reply hook (loadbalance
 * and log, hfi_plugins_reply), and hf_plugin_name(): the plugins this build implements, for
 * `holdfast -plugins`.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "plugins.h"

bool hfi_plugin_is_handler(const char *name)
{
	static const char *const setup_only[] = {
		"health", "ready", "reload", "bind", "debug", "timeouts", "tls", "root",
		"pprof", "memory", "breakglass", "import", "clouddns", "grpc_server",
	};
	for (size_t i = 0; i < sizeof(setup_only) / sizeof(setup_only[0]); i++)
		if (strcmp(name, setup_only[i]) == 0)
			return false;
	return true;
}

int hfi_plugins_open(hf_engine_t *e, char *err, size_t errlen)
{
	hfi_plugins_t *p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto oom;
	e->plug = p;
	p->nblocks = e->cfg->nblocks;
	p->blocks = calloc(p->nblocks ? p->nblocks : 1, sizeof(*p->blocks));
	if (p->blocks == NULL)
		goto oom;
	p->opened_ms = hfi_engine_now_ms();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
			(uint64_t)(uintptr_t)e;
	for (size_t bi = 0; bi < p->nblocks; bi++) {
		const hfi_block_t *b = &e->cfg->blocks[bi];
		if (b->hosts != NULL && hfi_hosts_open_block(e, bi) != HF_EOK)
			goto oom;
		if (b->has_loop)
			hfi_loop_init_block(&p->blocks[bi], b, seed + bi * 0x9e3779b97f4a7c15ull,
					    p->opened_ms);
		if (hfi_errors_init_block(&p->blocks[bi], b, err, errlen) != HF_EOK)
			goto oom;
		if (b->has_loadbalance && b->lb_cfg != NULL) {
			int ret = hfi_lb_open_block(e, bi, err, errlen);
			if (ret != HF_EOK)
				return ret;
		}
	}
	return HF_EOK;
oom:
	snprintf(err, errlen, "%s", hf_strerror(HF_ENOMEM));
	return HF_ENOMEM;
}

void hfi_plugins_close(hf_engine_t *e)
{
	hfi_plugins_t *p = e->plug;
	if (p == NULL)
		return;
	if (p->blocks != NULL) {
		for (size_t bi = 0; bi < p->nblocks; bi++) {
			hfi_hosts_close_block(e, bi);
			hfi_lb_close_block(e, bi);
			hfi_errors_free_block(&p->blocks[bi]);
		}
	}
	hfi_plugins_reclaim(e, true);
	free(p->blocks);
	free(p);
	e->plug = NULL;
}

bool hfi_plugins_need_maint(const hf_engine_t *e)
{
	for (size_t bi = 0; e->plug != NULL && bi < e->cfg->nblocks; bi++) {
		const hfi_block_t *b = &e->cfg->blocks[bi];
		if ((b->hosts != NULL && b->hosts->reload_ms > 0) || e->plug->blocks[bi].nerrs > 0)
			return true;
		if (b->lb_cfg != NULL && b->lb_cfg->policy == HFI_LB_WEIGHTED && b->lb_cfg->reload_ms > 0)
			return true;
	}
	return false;
}

void hfi_plugins_maint(hf_engine_t *e, int64_t now_ms)
{
	if (e->plug == NULL)
		return;
	hfi_hosts_maint(e, now_ms);
	hfi_lb_maint(e, now_ms);
	hfi_errors_maint(e, now_ms);
	hfi_plugins_reclaim(e, false);
}

void hfi_plugins_reclaim(hf_engine_t *e, bool all)
{
	hfi_plugins_t *p = e->plug;
	size_t keep = 0;
	for (size_t i = 0; i < p->nretired; i++) {
		if (all || !hfi_engine_tag_in_use(e, p->retired[i].tag))
			p->retired[i].free_fn(p->retired[i].p);
		else
			p->retired[keep++] = p->retired[i];
	}
	p->nretired = keep;
}

void hfi_plugins_retire(hf_engine_t *e, void *old, void (*free_fn)(void *))
{
	hfi_plugins_t *p = e->plug;
	/* readers that entered before this tag may still hold old */
	uint64_t tag = atomic_fetch_add(&e->epoch, 1) + 1;
	const size_t cap = sizeof(p->retired) / sizeof(p->retired[0]);
	while (p->nretired == cap) {
		hfi_plugins_reclaim(e, false);
		if (p->nretired == cap) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL); /* answers take microseconds */
		}
	}
	p->retired[p->nretired].p = old;
	p->retired[p->nretired].free_fn = free_fn;
	p->retired[p->nretired].tag = tag;
	p->nretired++;
}

void hfi_plugins_begin(hf_worker_t *w, const struct sockaddr *client, int transport)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->pw.t0_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	w->pw.block = -1;
	w->pw.transport = transport;
	w->pw.logged = false;
	w->pw.has_client = false;
	if (client != NULL) {
		size_t l = client->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
			   : client->sa_family == AF_INET ? sizeof(struct sockaddr_in) : 0;
		if (l > 0) {
			memcpy(&w->pw.client, client, l);
			w->pw.has_client = true;
		}
	}
}

int hfi_plugins_reply(hf_worker_t *w, int ret, const uint8_t *reply, size_t rlen, uint8_t *resp,
		      size_t respcap, size_t *resplen)
{
	bool lb = w->pw.block >= 0 && w->e->cfg->blocks[w->pw.block].has_loadbalance;
	if (ret == HF_EOK) {
		if (lb)
			hfi_lb_apply_wire(w, resp, *resplen);
		hfi_log_reply(w, resp, *resplen, true);
		return ret;
	}
	if (ret == HF_ENOENT && lb && reply != NULL && rlen >= 12 && rlen <= respcap) {
		if (resp != reply)
			memmove(resp, reply, rlen);
		hfi_lb_apply_wire(w, resp, rlen);
		*resplen = rlen;
		hfi_log_reply(w, resp, rlen, true);
		return HF_EOK;
	}
	hfi_log_reply(w, reply, rlen, ret == HF_ENOENT && reply != NULL);
	return ret;
}

/* Directives this build implements (an answer path or a host feature
 * behind them), sorted: what `-plugins` lists.  The Corefile also accepts
 * chaos, debug, file, timeouts and transfer; add them here when they do
 * what CoreDNS's do. */
static const char *const implemented[] = {
	"any", "bind", "breakglass", "cache", "errors", "forward", "health", "hosts",
	"kubernetes", "loadbalance", "log", "loop", "memory", "prometheus", "ready", "reload",
	"whoami",
};

HF_API const char *hf_plugin_name(int i)
{
	if (i < 0 || (size_t)i >= sizeof(implemented) / sizeof(implemented[0]))
		return NULL;
	return implemented[i];
}
