/*
 * http.c: the health (/health), ready (/ready) and prometheus (/metrics)
 * HTTP endpoints on the addresses the Corefile asks for (hf_http_addr),
 * served by libmicrohttpd, one internal poll thread per address.  Endpoints
 * that share an address share a server.  A reload binds the new addresses
 * first (prepare: failure keeps the old config) and then swaps (commit).
 * /metrics = the engine's families, forward's, then the process-wide ones
 * (reload, health self-probe, process collector, holdfast_shim_*).
 */
#include "shim.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define P_HEALTH 1u
#define P_READY 2u
#define P_METRICS 4u
#define HFS_HTTPD_MAX 3
#define HFS_METRICS_MAX (64u << 20)
#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PROM_TEXT "text/plain; version=0.0.4; charset=utf-8"

struct httpd {
	char addr[HFS_ADDR_MAX];
	atomic_uint paths;
	unsigned next_paths;
	int keep;
	int fd;
	struct MHD_Daemon *d;
};

static struct httpd *cur[HFS_HTTPD_MAX];
static int ncur;
static struct httpd *pend[HFS_HTTPD_MAX];
static int npend;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *ctype, char *body, size_t len,
			     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
				  const char *text)
{
	return reply(conn, status, TEXT_PLAIN, (char *)text, strlen(text),
		     MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result serve_ready(struct MHD_Connection *conn)
{
	if (atomic_load(&hfs_srv.shutting_down))
		return reply_text(conn, 503, "Shutting down");
	struct hfs_gen *g = hfs_gen_acquire();
	if (g == NULL)
		return reply_text(conn, 503, "Shutting down");
	char names[1024];
	names[0] = '\0';
	int ready = hf_ready(g->engine, names, sizeof(names));
	hfs_gen_release(g);
	names[sizeof(names) - 1] = '\0';
	if (ready == 1)
		return reply_text(conn, 200, "OK");
	hfs_log("INFO", "plugin/ready: Plugins not ready: \"%s\"", names);
	return reply_text(conn, 503, names);
}

struct mbuf {
	char *p;
	size_t len, cap;
	int failed;
};

static int mbuf_put(void *ctx, const char *data, size_t len)
{
	struct mbuf *b = ctx;
	if (b->failed)
		return HF_ENOMEM;
	if (len > HFS_METRICS_MAX - b->len) {
		b->failed = 1;
		return HF_ESPACE;
	}
	if (b->len + len > b->cap) {
		size_t ncap = b->cap ? b->cap : 16384;
		while (ncap < b->len + len)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->failed = 1;
			return HF_ENOMEM;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return HF_EOK;
}

/* Process-wide families the server owns: reload (reload.c), health's
 * self-probe (health_probe.c), the process collector (metrics_proc.c). */
static void process_metrics(struct mbuf *b)
{
	char t[4096];
	int (*const parts[])(char *, size_t) = {hfs_reload_metrics, hfs_health_metrics,
						 hfs_proc_metrics};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		int n = parts[i](t, sizeof(t));
		if (n > 0)
			(void)mbuf_put(b, t, (size_t)n);
	}
}

static void shim_metrics(struct mbuf *b)
{
	char t[1024];
	int n = snprintf(t, sizeof(t),
		"# HELP holdfast_shim_errors_total Queries the holdfast server dropped or failed, by reason.\n"
		"# TYPE holdfast_shim_errors_total counter\n"
		"holdfast_shim_errors_total{reason=\"engine_error\"} %llu\n"
		"holdfast_shim_errors_total{reason=\"forward_failed\"} %llu\n"
		"holdfast_shim_errors_total{reason=\"tcp_conn_limit\"} %llu\n"
		"holdfast_shim_errors_total{reason=\"udp_query_too_large\"} %llu\n",
		(unsigned long long)atomic_load(&hfs_srv.stats.answer_errors),
		(unsigned long long)atomic_load(&hfs_srv.stats.forward_failed),
		(unsigned long long)atomic_load(&hfs_srv.stats.tcp_rejected),
		(unsigned long long)atomic_load(&hfs_srv.stats.udp_truncated));
	if (n > 0 && (size_t)n < sizeof(t))
		(void)mbuf_put(b, t, (size_t)n);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn)
{
	struct mbuf b = {NULL, 0, 0, 0};
	struct hfs_gen *g = hfs_gen_acquire();
	int ret = g ? hf_metrics_write(g->engine, mbuf_put, &b) : HF_ENOENT;
	hfs_gen_release(g);
	if (ret == HF_EOK && !b.failed)
		ret = hfs_forward_metrics(mbuf_put, &b);
	if (ret == HF_EOK && !b.failed) {
		process_metrics(&b);
		shim_metrics(&b);
	}
	if (ret != HF_EOK || b.failed) {
		free(b.p);
		return reply_text(conn, 500, "metrics unavailable\n");
	}
	if (b.p == NULL)
		return reply(conn, 200, PROM_TEXT, (char *)"", 0, MHD_RESPMEM_PERSISTENT);
	return reply(conn, 200, PROM_TEXT, b.p, b.len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static int marker;
	struct httpd *h = cls;
	(void)method;
	(void)version;
	(void)upload;
	if (*con_cls == NULL) { /* headers only so far */
		*con_cls = &marker;
		return MHD_YES;
	}
	if (*upload_size != 0) { /* discard any body */
		*upload_size = 0;
		return MHD_YES;
	}
	unsigned paths = atomic_load(&h->paths);
	if ((paths & P_HEALTH) && strcmp(url, "/health") == 0)
		return reply_text(conn, 200, "OK");
	if ((paths & P_READY) && strcmp(url, "/ready") == 0)
		return serve_ready(conn);
	if ((paths & P_METRICS) && strcmp(url, "/metrics") == 0)
		return serve_metrics(conn);
	return reply_text(conn, 404, "404 page not found\n");
}

static int start(struct httpd *h)
{
	h->d = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD, 0, NULL, NULL,
				handle, h,
				MHD_OPTION_LISTEN_SOCKET, h->fd,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				MHD_OPTION_END);
	return h->d ? 0 : -1;
}

static void stop_one(struct httpd *h)
{
	if (h->d != NULL)
		MHD_stop_daemon(h->d); /* closes the listening socket */
	else if (h->fd >= 0)
		close(h->fd);
	free(h);
}

void hfs_http_abort(void)
{
	for (int i = 0; i < npend; i++) {
		close(pend[i]->fd);
		free(pend[i]);
	}
	npend = 0;
}

int hfs_http_prepare(hf_engine_t *engine, char *err, size_t errlen)
{
	static const char *const which[] = {"health", "ready", "metrics"};
	static const unsigned bit[] = {P_HEALTH, P_READY, P_METRICS};
	char addr[HFS_HTTPD_MAX][HFS_ADDR_MAX];
	unsigned mask[HFS_HTTPD_MAX];
	int nw = 0;
	for (int i = 0; i < 3; i++) {
		char a[HFS_ADDR_MAX];
		if (hf_http_addr(engine, which[i], a, sizeof(a)) != HF_EOK)
			continue;
		a[sizeof(a) - 1] = '\0';
		int j = 0;
		while (j < nw && strcmp(addr[j], a) != 0)
			j++;
		if (j == nw) {
			memcpy(addr[nw], a, sizeof(a));
			mask[nw++] = 0;
		}
		mask[j] |= bit[i];
	}
	hfs_http_abort();
	for (int i = 0; i < ncur; i++) {
		cur[i]->keep = 0;
		cur[i]->next_paths = 0;
	}
	for (int j = 0; j < nw; j++) {
		int i = 0;
		while (i < ncur && strcmp(cur[i]->addr, addr[j]) != 0)
			i++;
		if (i < ncur) {
			cur[i]->keep = 1;
			cur[i]->next_paths = mask[j];
			continue;
		}
		struct httpd *h = calloc(1, sizeof(*h));
		if (h == NULL) {
			snprintf(err, errlen, "out of memory");
			hfs_http_abort();
			return -1;
		}
		h->fd = hfs_listen_hostport(addr[j], SOCK_STREAM, err, errlen);
		if (h->fd < 0) {
			free(h);
			hfs_http_abort();
			return -1;
		}
		memcpy(h->addr, addr[j], sizeof(h->addr));
		atomic_init(&h->paths, mask[j]);
		pend[npend++] = h;
	}
	return 0;
}

void hfs_http_commit(void)
{
	int n = 0;
	for (int i = 0; i < ncur; i++) {
		if (cur[i]->keep) {
			atomic_store(&cur[i]->paths, cur[i]->next_paths);
			cur[n++] = cur[i];
		} else {
			stop_one(cur[i]);
		}
	}
	ncur = n;
	for (int i = 0; i < npend; i++) {
		struct httpd *h = pend[i];
		if (start(h) != 0) {
			hfs_log("ERROR", "cannot start HTTP server on %s", h->addr);
			stop_one(h);
			continue;
		}
		cur[ncur++] = h;
	}
	npend = 0;
	/* health's self-probe follows the served /health address */
	const char *probe = NULL;
	for (int i = 0; i < ncur && probe == NULL; i++)
		if (atomic_load(&cur[i]->paths) & P_HEALTH)
			probe = cur[i]->addr;
	hfs_health_probe_set(probe);
}

void hfs_http_stop(void)
{
	hfs_health_probe_set(NULL);
	hfs_http_abort();
	for (int i = 0; i < ncur; i++)
		stop_one(cur[i]);
	ncur = 0;
}
