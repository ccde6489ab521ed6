/*
 * engine.c: the public engine lifecycle: hf_engine_open() (Corefile ->
 * config -> memory region -> stores loaded from manifests -> indexes ->
 * listeners and routes), hf_engine_close(), listeners, workers, readiness
 * and status.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "log.h"
#include "api.h"
#include "manifest.h"
#include "selector.h"
#include "snapshot.h"

#define now_ms hfi_engine_now_ms

static bool self_add(hfi_k8s_inst_t *e, const hfi_ip_t *ip)
{
	if (e->nself >= sizeof(e->self) / sizeof(e->self[0]))
		return false;
	static const uint8_t v6_loop[16] = {[15] = 1};
	if ((ip->family == 4 && ip->addr[0] == 127) ||
	    (ip->family == 6 && memcmp(ip->addr, v6_loop, 16) == 0))
		return true;
	for (size_t i = 0; i < e->nself; i++)
		if (memcmp(&e->self[i], ip, sizeof(*ip)) == 0)
			return true;
	e->self[e->nself++] = *ip;
	return true;
}

/* Own addresses for NS answers (spec 4.5): the `bind` addresses, or every
 * interface address; loopback is always excluded. */
static void find_self_ips(hfi_k8s_inst_t *e, const hfi_block_t *b)
{
	e->nself = 0;
	if (b->bind.n > 0) {
		for (size_t i = 0; i < b->bind.n; i++) {
			hfi_ip_t ip;
			if (hfi_ip_parse(b->bind.v[i], &ip) == HF_EOK)
				self_add(e, &ip);
		}
		return;
	}
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) != 0)
		return;
	for (struct ifaddrs *i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		hfi_ip_t ip = {0};
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)i->ifa_addr;
			ip.family = 4;
			memcpy(ip.addr, &s->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)i->ifa_addr;
			ip.family = 6;
			memcpy(ip.addr, &s->sin6_addr, 16);
		} else {
			continue;
		}
		if (!self_add(e, &ip))
			break;
	}
	freeifaddrs(ifa);
}

/* A manifest that does not fit the memory region: keep what fit, say so. */
static void manifest_full(hf_engine_t *e, hfi_k8s_inst_t *inst, const hfi_cfg_kubernetes_t *k,
			  size_t i, const char *merr)
{
	hfi_engine_mem_stats_t ms;
	hfi_engine_memory_stats(e, &ms);
	hfi_log(HFI_LOG_ERROR, "memory",
		"the %zu MiB region is full (%.1f MiB used, %.1f MiB kept free for the index): "
		"loaded %zu namespaces, %zu services, %zu endpointslices, %zu pods; %s; refused "
		"the rest of it%s; serving what fit (raise `memory` to load everything)",
		ms.region >> 20, ms.used / 1048576.0, ms.reserve / 1048576.0,
		hfi_store_count_namespaces(inst->store), hfi_store_count_services(inst->store),
		hfi_store_count_slices(inst->store), hfi_store_count_pods(inst->store), merr,
		i + 1 < k->manifests.n ? " and the manifest entries after it" : "");
}

/* Objects from manifest files: a complete picture, fully synced.  With a
 * memory region, objects that do not fit are refused and the rest served. */
static int load_manifests(hf_engine_t *e, hfi_k8s_inst_t *inst, const hfi_cfg_kubernetes_t *k,
			  const hfi_plugin_t *p, char *err, size_t errlen)
{
	hfi_selector_t *labels = NULL;
	if (k->labels != NULL) {
		char serr[256] = "";
		labels = hfi_selector_parse(k->labels, NULL, serr, sizeof(serr));
		if (labels == NULL) {
			snprintf(err, errlen, "plugin/kubernetes: labels: %s", serr);
			return HF_ECONFIG;
		}
	}
	hfi_manifest_opts_t opts = {
		.labels = labels,
		.load_pods = k->pods == HFI_PODS_VERIFIED,
		.load_slices = !k->noendpoints,
	};
	int ret = HF_EOK;
	bool measured = false;
	for (size_t i = 0; i < k->manifests.n && ret >= 0; i++) {
		char merr[1024] = "";
		ret = hfi_manifest_load_glob(inst->store, k->manifests.v[i], &opts, merr, sizeof(merr));
		if (ret == HF_ENOMEM && e->arena != NULL && !measured) {
			/* refused under the conservative first guess of the index's
			 * size: build the index of what fit, which measures it, and
			 * load the rest again (what is stored already is skipped) */
			measured = true;
			if (hfi_engine_rebuild(e, (size_t)(inst - e->k8s)) == HF_EOK) {
				ret = HF_EOK;
				i--;
				continue;
			}
		}
		if (ret == HF_ENOMEM && e->arena != NULL) {
			manifest_full(e, inst, k, i, merr);
			ret = HF_EOK;
			break;
		}
		if (ret < 0) {
			if (p != NULL)
				snprintf(err, errlen, "%s:%d:%d: plugin/kubernetes: manifest: %s\nplugin/kubernetes: %s",
					 p->file, p->line, p->col, merr, merr);
			else
				snprintf(err, errlen, "plugin/kubernetes: manifest: %s", merr);
		}
	}
	hfi_selector_free(labels);
	if (ret < 0)
		return ret;
	hfi_store_set_synced(inst->store, true);
	atomic_store(&inst->state, HFI_LIVE);
	return HF_EOK;
}

/* The live source: sync (serve-stale), snapshot warm start, API client. */
static int load_live(hfi_k8s_inst_t *inst, const hfi_cfg_kubernetes_t *k, char *err, size_t errlen)
{
	hfi_sync_cfg_t scfg = {
		.stale_min_ms = (int64_t)k->serve_stale_min_s * 1000,
		.stale_max_ms = (int64_t)k->serve_stale_max_s * 1000,
		.deletion_guard = k->deletion_guard > 0 ? k->deletion_guard : 0.5,
	};
	hfi_api_want(k, scfg.want);
	inst->sync = hfi_sync_new(inst->store, &scfg);
	if (inst->sync == NULL) {
		snprintf(err, errlen, "plugin/kubernetes: %s", hf_strerror(HF_ENOMEM));
		return HF_ENOMEM;
	}
	if (k->snapshot_path != NULL && access(k->snapshot_path, F_OK) == 0) {
		char serr[512] = "";
		int n = hfi_snapshot_load(inst->store, k->snapshot_path, serr, sizeof(serr));
		if (n >= 0) {
			inst->restored = (uint64_t)n;
			hfi_sync_restored(inst->sync, now_ms());
			hfi_log(HFI_LOG_INFO, "kubernetes", "restored %d objects from snapshot %s; "
				"serving them until the API confirms", n, k->snapshot_path);
		} else if (n != HF_ENOENT) {
			hfi_log(HFI_LOG_WARNING, "kubernetes", "ignoring snapshot %s: %s",
				k->snapshot_path, serr);
		}
	}
	atomic_store(&inst->state, (int)hfi_sync_state(inst->sync, now_ms()));
	inst->api = hfi_api_new(k, inst->sync, err, errlen);
	return inst->api == NULL ? HF_ECONFIG : HF_EOK;
}

static int load_kubernetes(hf_engine_t *e, size_t bi, char *err, size_t errlen)
{
	const hfi_block_t *b = &e->cfg->blocks[bi];
	const hfi_cfg_kubernetes_t *k = b->kubernetes;
	const hfi_plugin_t *p = NULL;
	for (size_t i = 0; i < b->nplugins; i++)
		if (strcmp(b->plugins[i].name, "kubernetes") == 0)
			p = &b->plugins[i];
	hfi_k8s_inst_t *inst = &e->k8s[bi];
	inst->store = hfi_store_new(hfi_engine_store_mm(e));
	if (inst->store == NULL) {
		snprintf(err, errlen, "plugin/kubernetes: %s", hf_strerror(HF_ENOMEM));
		return HF_ENOMEM;
	}
	int ret = k->manifests.n > 0 ? load_manifests(e, inst, k, p, err, errlen)
				     : load_live(inst, k, err, errlen);
	if (ret != HF_EOK)
		return ret;
	find_self_ips(inst, b);
	if (hfi_engine_rebuild(e, bi) != HF_EOK) {
		snprintf(err, errlen, "plugin/kubernetes: cannot build the index: %s%s",
			 hf_strerror(HF_ENOMEM), e->arena != NULL ? " (raise `memory`)" : "");
		return HF_ENOMEM;
	}
	return HF_EOK;
}

/* Start the API clients, then wait (as CoreDNS does) up to startup_timeout
 * for the first sync; a snapshot restore answers at once. */
static int start_live(hf_engine_t *e, char *err, size_t errlen)
{
	bool any = false;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		if (e->k8s[bi].api == NULL)
			continue;
		if (hfi_api_start(e->k8s[bi].api) != HF_EOK) {
			snprintf(err, errlen, "plugin/kubernetes: cannot start the API client");
			return HF_ENOMEM;
		}
		any = true;
	}
	if (!any)
		return HF_EOK;
	int ret = hfi_engine_maint_start(e);
	if (ret != HF_EOK) {
		snprintf(err, errlen, "cannot start the maintenance thread");
		return ret;
	}
	int64_t start = now_ms(), last_log = start;
	for (;;) {
		bool waiting = false;
		int64_t limit = 0;
		for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
			hfi_k8s_inst_t *inst = &e->k8s[bi];
			if (inst->sync == NULL)
				continue;
			uint32_t t = e->cfg->blocks[bi].kubernetes->startup_timeout_ms;
			if ((int64_t)t > limit)
				limit = t;
			if (hfi_sync_state(inst->sync, now_ms()) == HFI_SYNCING)
				waiting = true;
		}
		int64_t now = now_ms();
		if (!waiting)
			break;
		if (now - start >= limit) {
			hfi_log(HFI_LOG_WARNING, "kubernetes", "starting server with unsynced Kubernetes API");
			break;
		}
		if (now - last_log >= 500) {
			hfi_log(HFI_LOG_INFO, "kubernetes", "waiting for Kubernetes API before starting server");
			last_log = now;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return HF_EOK;
}

static hfi_listener_t *listener_for(hf_engine_t *e, const char *addr, uint16_t port)
{
	for (size_t i = 0; i < e->nlisteners; i++)
		if (e->listeners[i].port == port && strcmp(e->listeners[i].addr, addr) == 0)
			return &e->listeners[i];
	hfi_listener_t *n = realloc(e->listeners, (e->nlisteners + 1) * sizeof(*n));
	if (n == NULL)
		return NULL;
	e->listeners = n;
	hfi_listener_t *l = &n[e->nlisteners++];
	memset(l, 0, sizeof(*l));
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->port = port;
	if (strchr(addr, ':') != NULL)
		snprintf(l->server, sizeof(l->server), "dns://[%s]:%u", addr, port);
	else
		snprintf(l->server, sizeof(l->server), "dns://%s:%u", addr, port);
	return l;
}

static int add_route(hf_engine_t *e, const char *addr, uint16_t port, const char *zone, size_t bi)
{
	hfi_listener_t *l = listener_for(e, addr, port);
	if (l == NULL)
		return HF_ENOMEM;
	const hfi_block_t *b = &e->cfg->blocks[bi];
	if (b->nforward > 0 || b->has_chaos)
		l->any_class = true;
	hfi_route_t *r = realloc(l->routes, (l->nroutes + 1) * sizeof(*r));
	if (r == NULL)
		return HF_ENOMEM;
	l->routes = r;
	hfi_route_t *rt = &r[l->nroutes];
	int len = hfi_dname_from_str(zone, rt->zone, sizeof(rt->zone));
	if (len < 0)
		return len;
	hfi_dname_lower(rt->zone, rt->zone);
	rt->labels = hfi_dname_labels(rt->zone);
	rt->block = bi;
	l->nroutes++;
	return HF_EOK;
}

static int build_listeners(hf_engine_t *e)
{
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		const hfi_block_t *b = &e->cfg->blocks[bi];
		for (size_t k = 0; k < b->nkeys; k++) {
			if (b->keys[k].scheme != HFI_SCHEME_DNS)
				continue;
			size_t nb = b->bind.n ? b->bind.n : 1;
			for (size_t a = 0; a < nb; a++) {
				const char *addr = b->bind.n ? b->bind.v[a] : "";
				int ret = add_route(e, addr, b->keys[k].port, b->keys[k].zone, bi);
				if (ret != HF_EOK)
					return ret;
			}
		}
	}
	return HF_EOK;
}

static void print_banner(const hf_engine_t *e)
{
	/* CoreDNS prints ZONE:PORT per server key (sorted), then its version. */
	size_t n = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		n += e->cfg->blocks[bi].nkeys;
	char **lines = calloc(n ? n : 1, sizeof(char *));
	if (lines == NULL)
		return;
	size_t m = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		const hfi_block_t *b = &e->cfg->blocks[bi];
		for (size_t k = 0; k < b->nkeys; k++) {
			char buf[320];
			snprintf(buf, sizeof(buf), "%s:%u", b->keys[k].zone, b->keys[k].port);
			lines[m] = strdup(buf);
			if (lines[m] != NULL)
				m++;
		}
	}
	qsort(lines, m, sizeof(char *), (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < m; i++) {
		if (i == 0 || strcmp(lines[i], lines[i - 1]) != 0)
			printf("%s\n", lines[i]);
	}
	for (size_t i = 0; i < m; i++)
		free(lines[i]);
	free(lines);
	printf("holdfast-%s\nlinux/%s, C11\n", hf_version(),
#if defined(__x86_64__)
	       "amd64"
#elif defined(__aarch64__)
	       "arm64"
#else
	       "unknown"
#endif
	);
	fflush(stdout);
}

HF_API hf_engine_t *hf_engine_open(const char *corefile_path, int default_port,
				   unsigned flags, char *err, size_t errlen)
{
	char dummy[8];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (corefile_path == NULL) {
		snprintf(err, errlen, "no Corefile given");
		return NULL;
	}
	if (default_port < 0 || default_port > 65535) {
		snprintf(err, errlen, "invalid port %d", default_port);
		return NULL;
	}
	hf_engine_t *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		snprintf(err, errlen, "%s", hf_strerror(HF_ENOMEM));
		return NULL;
	}
	e->flags = flags;
	e->started_ms = now_ms();
	atomic_store(&e->epoch, 1);
	pthread_mutex_init(&e->workers_lock, NULL);
	pthread_mutex_init(&e->maint_lock, NULL);
	pthread_cond_init(&e->maint_cond, NULL);
	pthread_mutex_init(&e->rebuild_lock, NULL);
	hfi_log_set_quiet((flags & HF_OPEN_QUIET) != 0);
	e->cfg = hfi_config_load(corefile_path, default_port, NULL, err, errlen);
	if (e->cfg == NULL)
		goto fail;
	if (hfi_engine_memory_open(e, err, errlen) != HF_EOK)
		goto fail;
	e->k8s = calloc(e->cfg->nblocks ? e->cfg->nblocks : 1, sizeof(*e->k8s));
	if (e->k8s == NULL) {
		snprintf(err, errlen, "%s", hf_strerror(HF_ENOMEM));
		goto fail;
	}
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		if (e->cfg->blocks[bi].kubernetes != NULL &&
		    load_kubernetes(e, bi, err, errlen) != HF_EOK)
			goto fail;
	}
	if (hfi_plugins_open(e, err, errlen) != HF_EOK) /* hosts, loop, errors (plugins.h) */
		goto fail;
	if (start_live(e, err, errlen) != HF_EOK)
		goto fail;
	if (!e->maint_running && hfi_plugins_need_maint(e) && hfi_engine_maint_start(e) != HF_EOK) {
		snprintf(err, errlen, "cannot start the maintenance thread");
		goto fail;
	}
	if (build_listeners(e) != HF_EOK) {
		snprintf(err, errlen, "cannot set up listeners: %s", hf_strerror(HF_ENOMEM));
		goto fail;
	}
	if (hfi_stats_init(e) != HF_EOK) { /* metrics label slots (engine_stats.c) */
		snprintf(err, errlen, "%s", hf_strerror(HF_ENOMEM));
		goto fail;
	}
	if (hfi_cache_open_all(e, err, errlen) != HF_EOK) /* cache plugin (cache.h) */
		goto fail;
	if (!(flags & HF_OPEN_QUIET))
		print_banner(e);
	(void)hfi_admin_init(e); /* saved overrides, reserved command memory */
	return e;
fail:
	hf_engine_close(e);
	return NULL;
}

HF_API void hf_engine_close(hf_engine_t *e)
{
	if (e == NULL)
		return;
	hfi_admin_free(e);
	if (e->k8s != NULL && e->cfg != NULL) {
		for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
			hfi_api_free(e->k8s[bi].api);
			e->k8s[bi].api = NULL;
		}
	}
	hfi_engine_maint_stop(e);
	hfi_plugins_close(e); /* after the maintenance thread (it reloads hosts) */
	if (e->k8s != NULL && e->cfg != NULL) {
		for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
			hfi_k8s_index_t *ix = atomic_load(&e->k8s[bi].index);
			if (ix != NULL)
				hfi_engine_index_drop(ix, e->k8s[bi].gen);
			hfi_sync_free(e->k8s[bi].sync);
			hfi_store_free(e->k8s[bi].store);
		}
	}
	hfi_cache_close_all(e);
	hfi_engine_memory_close(e); /* after everything that lives in the region */
	free(e->k8s);
	for (size_t i = 0; i < e->nlisteners; i++)
		free(e->listeners[i].routes);
	free(e->listeners);
	free(e->workers);
	hfi_stats_free(e);
	hfi_config_free(e->cfg);
	pthread_mutex_destroy(&e->workers_lock);
	pthread_mutex_destroy(&e->maint_lock);
	pthread_cond_destroy(&e->maint_cond);
	pthread_mutex_destroy(&e->rebuild_lock);
	free(e);
}

HF_API int hf_listener_count(const hf_engine_t *e)
{
	return e == NULL ? HF_EINVAL : (int)e->nlisteners;
}

HF_API int hf_listener_get(const hf_engine_t *e, int i, char *addr, size_t addrlen,
			   uint16_t *port)
{
	if (e == NULL || i < 0 || (size_t)i >= e->nlisteners)
		return HF_ENOENT;
	if (addr != NULL && addrlen > 0)
		snprintf(addr, addrlen, "%s", e->listeners[i].addr);
	if (port != NULL)
		*port = e->listeners[i].port;
	return HF_EOK;
}

HF_API hf_worker_t *hf_worker_new(hf_engine_t *e)
{
	if (e == NULL)
		return NULL;
	hf_worker_t *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->e = e;
	w->fwd_seed = (unsigned)now_ms() ^ (unsigned)(uintptr_t)w;
	w->stats = hfi_stats_worker_new(e);
	if (w->stats == NULL) {
		free(w);
		return NULL;
	}
	pthread_mutex_lock(&e->workers_lock);
	if (hfi_mm_grow(NULL, (void **)&e->workers, &e->workers_cap, e->nworkers + 1,
			sizeof(*e->workers)) != HF_EOK) {
		pthread_mutex_unlock(&e->workers_lock);
		free(w->stats);
		free(w);
		return NULL;
	}
	e->workers[e->nworkers++] = w;
	pthread_mutex_unlock(&e->workers_lock);
	return w;
}

HF_API void hf_worker_free(hf_worker_t *w)
{
	if (w == NULL)
		return;
	hf_engine_t *e = w->e;
	pthread_mutex_lock(&e->workers_lock);
	for (size_t i = 0; i < e->nworkers; i++) {
		if (e->workers[i] == w) {
			e->workers[i] = e->workers[--e->nworkers];
			break;
		}
	}
	hfi_stats_worker_fold(e, w->stats); /* its counts stay in the totals */
	pthread_mutex_unlock(&e->workers_lock);
	free(w->stats);
	free(w);
}

HF_API int hf_answer(hf_worker_t *w, int listener, const uint8_t *query, size_t qlen,
		     const struct sockaddr *client, int transport, uint8_t *resp,
		     size_t respcap, size_t *resplen)
{
	if (w == NULL || query == NULL || resp == NULL || resplen == NULL)
		return HF_EINVAL;
	if (listener < 0 || (size_t)listener >= w->e->nlisteners)
		return HF_EINVAL;
	/* readers announce the epoch they entered with (engine_sync.c) */
	atomic_store(&w->active, atomic_load(&w->e->epoch));
	hfi_stats_begin(w);
	hfi_plugins_begin(w, client, transport); /* log: start time, client */
	w->st_tcp = transport == HF_TCP;
	int ret = hfi_engine_answer(w, listener, query, qlen, client, transport, resp, respcap,
				    resplen);
	if (ret == HF_ANSWER || ret == HF_ANSWER_REFRESH) /* log plugin (plugin_log.c) */
		hfi_log_reply(w, resp, *resplen, w->resp.plugin != NULL && w->resp.plugin[0] != '\0');
	if (ret == HF_FORWARD) /* recorded when the reply comes back (hf_forward_reply) */
		w->st_pending = w->st_slot >= 0;
	atomic_store(&w->active, 0);
	return ret;
}

HF_API int hf_forward_upstream(hf_worker_t *w, int idx, char *addr, size_t addrlen)
{
	if (w == NULL || addr == NULL || idx < 0)
		return HF_EINVAL;
	const hfi_cfg_forward_t *f = w->fwd;
	if (f == NULL || (size_t)idx >= f->to.n)
		return HF_ENOENT;
	size_t n = f->to.n, pick = (size_t)idx;
	if (f->policy == HFI_FWD_RANDOM || f->policy == HFI_FWD_ROUND_ROBIN)
		pick = (idx + (w->fwd_seed % n)) % n;
	snprintf(addr, addrlen, "%s", f->to.v[pick]);
	return HF_EOK;
}

HF_API int hf_forward_query(hf_worker_t *w, const uint8_t **msg, size_t *len)
{
	if (w == NULL || msg == NULL || len == NULL || w->fwd == NULL)
		return HF_EINVAL;
	if (w->chase) {
		*msg = w->chase_q;
		*len = w->chase_qlen;
	} else {
		*msg = w->q.pkt;
		*len = w->q.len;
	}
	return HF_EOK;
}

HF_API int hf_forward_reply(hf_worker_t *w, const uint8_t *reply, size_t rlen, uint8_t *resp,
			    size_t respcap, size_t *resplen)
{
	if (w == NULL || resp == NULL || resplen == NULL)
		return HF_EINVAL;
	if (!w->chase) {
		/* cache (cache_answer.c): store it, rewrite TTLs, serve stale; a
		 * background refresh (HF_ANSWER_REFRESH) ends there, unlogged */
		bool refresh = w->cw.c != NULL && w->cw.mode == HFI_CW_REFRESH;
		int cr = hfi_cache_forward_reply(w, reply, rlen, resp, respcap, resplen);
		if (refresh)
			return HF_ENOENT;
		if (cr == HF_EOK) {
			hfi_stats_forwarded(w, resp, *resplen);
			return hfi_plugins_reply(w, HF_EOK, reply, rlen, resp, respcap, resplen); /* loadbalance, log */
		}
		hfi_stats_forwarded(w, reply, rlen);
		return hfi_plugins_reply(w, HF_ENOENT, reply, rlen, resp, respcap, resplen); /* loadbalance, log */
	}
	int ret = hfi_chase_reply(w, reply, rlen, resp, respcap, resplen);
	ret = hfi_cache_after_chase(w, ret, resp, respcap, resplen);
	if (ret == HF_EOK)
		hfi_stats_forwarded(w, resp, *resplen);
	else
		hfi_stats_forwarded(w, reply, rlen);
	return hfi_plugins_reply(w, ret, reply, rlen, resp, respcap, resplen); /* loadbalance, log */
}

HF_API int hf_tick(hf_engine_t *e, int64_t now)
{
	(void)now;
	return e == NULL ? HF_EINVAL : HF_EOK;
}

HF_API int hf_ready(hf_engine_t *e, char *buf, size_t len)
{
	if (e == NULL)
		return HF_EINVAL;
	int ready = 1;
	if (buf != NULL && len > 0)
		buf[0] = '\0';
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		if (e->k8s[bi].store != NULL && atomic_load(&e->k8s[bi].state) == HFI_SYNCING)
			ready = 0;
	}
	if (!ready && buf != NULL && len > 0)
		snprintf(buf, len, "kubernetes");
	return ready;
}

/* The state to report for the whole engine: the worst instance's. */
static int engine_state(hf_engine_t *e)
{
	static const int rank[] = {[HFI_LIVE] = 0, [HFI_STALE] = 1, [HFI_EXPIRED] = 2, [HFI_SYNCING] = 3};
	int worst = HFI_LIVE;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		if (e->k8s[bi].store == NULL)
			continue;
		int st = atomic_load(&e->k8s[bi].state);
		if (rank[st] > rank[worst])
			worst = st;
	}
	return worst;
}

HF_API int hf_status_json(hf_engine_t *e, char *buf, size_t len)
{
	if (e == NULL || buf == NULL || len == 0)
		return HF_EINVAL;
	size_t services = 0, slices = 0, namespaces = 0, pods = 0, names = 0;
	uint64_t rebuilds = 0, restored = 0, held = 0, trips = 0, snapshots = 0;
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		hfi_k8s_inst_t *inst = &e->k8s[bi];
		if (inst->store == NULL)
			continue;
		if (inst->sync != NULL) {
			hfi_sync_stats_t ss;
			hfi_sync_get_stats(inst->sync, &ss);
			held += ss.held_deletions;
			trips += ss.guard_trips;
			hfi_sync_lock(inst->sync);
		}
		services += hfi_store_count_services(inst->store);
		slices += hfi_store_count_slices(inst->store);
		namespaces += hfi_store_count_namespaces(inst->store);
		pods += hfi_store_count_pods(inst->store);
		if (inst->sync != NULL)
			hfi_sync_unlock(inst->sync);
		rebuilds += inst->rebuilds;
		restored += inst->restored;
		snapshots += inst->snapshots;
	}
	/* index sizes are read by the maintenance thread's owner only */
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++)
		if (e->k8s[bi].store != NULL && e->k8s[bi].sync == NULL)
			names += hfi_k8s_index_names(atomic_load(&e->k8s[bi].index));
	hfi_engine_mem_stats_t ms;
	hfi_engine_memory_stats(e, &ms);
	int n = snprintf(buf, len,
			 "{\"version\":\"%s\",\"state\":\"%s\",\"listeners\":%zu,\"blocks\":%zu,"
			 "\"objects\":{\"namespaces\":%zu,\"services\":%zu,\"endpointslices\":%zu,"
			 "\"pods\":%zu},\"index_names\":%zu,\"index_rebuilds\":%llu,"
			 "\"restored_objects\":%llu,\"snapshots_written\":%llu,"
			 "\"deletion_guard\":{\"trips\":%llu,\"held_deletions\":%llu},"
			 "\"uptime_ms\":%lld,\"lameduck_ms\":%u,"
			 "\"memory\":{\"configured\":%s,\"backend\":\"%s\",\"region_bytes\":%zu,"
			 "\"used_bytes\":%zu,\"peak_bytes\":%zu,\"reserve_bytes\":%zu,\"pinned\":%s,"
			 "\"allocation_failures\":%llu,\"objects_refused\":%llu,"
			 "\"index_rebuild_failures\":%llu}}",
			 hf_version(), hfi_sync_state_name((enum hfi_sync_state)engine_state(e)),
			 e->nlisteners, e->cfg->nblocks, namespaces, services, slices, pods, names,
			 (unsigned long long)rebuilds, (unsigned long long)restored,
			 (unsigned long long)snapshots, (unsigned long long)trips,
			 (unsigned long long)held, (long long)(now_ms() - e->started_ms),
			 e->cfg->health_lameduck_ms, ms.configured ? "true" : "false", ms.backend,
			 ms.region, ms.used, ms.peak, ms.reserve, ms.pinned ? "true" : "false",
			 (unsigned long long)ms.alloc_failures, (unsigned long long)ms.objects_refused,
			 (unsigned long long)ms.rebuild_failures);
	return (n < 0 || (size_t)n >= len) ? HF_ESPACE : HF_EOK;
}

HF_API int hf_metrics_write(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len),
			    void *ctx)
{
	if (e == NULL || fn == NULL)
		return HF_EINVAL;
	return hfi_engine_metrics(e, fn, ctx);
}

HF_API int hf_forward_done(hf_worker_t *w, const uint8_t *reply, size_t len)
{
	if (w == NULL)
		return HF_EINVAL;
	if (reply == NULL || len < 12)
		w->st_pending = false; /* nothing was sent: nothing to record */
	else
		hfi_stats_forwarded(w, reply, len); /* no-op unless a forward is pending */
	return HF_EOK;
}

HF_API int hf_metrics_inherit(hf_engine_t *next, hf_engine_t *prev)
{
	return hfi_stats_inherit(next, prev);
}

HF_API int hf_http_addr(const hf_engine_t *e, const char *which, char *addr, size_t addrlen)
{
	if (e == NULL || which == NULL || addr == NULL)
		return HF_EINVAL;
	const char *a = NULL;
	if (strcmp(which, "health") == 0)
		a = e->cfg->health_addr;
	else if (strcmp(which, "ready") == 0)
		a = e->cfg->ready_addr;
	else if (strcmp(which, "metrics") == 0)
		a = e->cfg->metrics_addr;
	if (a == NULL)
		return HF_ENOENT;
	snprintf(addr, addrlen, "%s", a);
	return HF_EOK;
}
