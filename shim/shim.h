/*
 * shim.h: internal declarations of the holdfast server binary (shim/): the
 * host that owns every socket and thread and hands queries to libholdfast
 * through plugin/include/holdfast.h only.  Names are hfs_ (holdfast shim).
 */
#ifndef HFS_SHIM_H
#define HFS_SHIM_H

#include <holdfast.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#define HFS_MAX_LISTENERS 64
#define HFS_ADDR_MAX 256
#define HFS_MSG_MAX 65535          /* largest DNS message (TCP) */
#define HFS_TCP_CONN_MAX 1024      /* process-wide TCP connection cap */
#define HFS_TCP_READ_MS 3000       /* CoreDNS read timeout */
#define HFS_TCP_WRITE_MS 5000      /* CoreDNS write timeout */
#define HFS_TCP_IDLE_MS 10000      /* CoreDNS idle timeout */
#define HFS_TICK_MS 200            /* longest sleep of any loop */

/* log.c */
void hfs_log(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hfs_die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t hfs_now_ms(void);

/* flags.c */
struct hfs_flags {
	const char *conf;    /* Corefile path; NULL until resolved */
	int conf_given;
	int port;            /* 0 = engine default (53) */
	const char *pidfile; /* NULL = none */
	int quiet, version, plugins;
};
/* 0 = run, 1 = exit 0 (help printed), -1 = usage error (printed). */
int hfs_flags_parse(int argc, char **argv, struct hfs_flags *f);
void hfs_print_version(void);
void hfs_print_plugins(void);

/* net.c: addresses and listening sockets */
/* "host:port", "[v6]:port", ":port" -> sockaddr (host "" = wildcard). */
int hfs_addr_resolve(const char *hostport, int passive,
		     struct sockaddr_storage *ss, socklen_t *sslen,
		     int *wildcard, char *err, size_t errlen);
/* Bind a listening socket.  host "" = all addresses (IPv6 dual stack,
 * falling back to IPv4).  *family in/out: 0 = choose, else force. */
int hfs_listen(const char *host, uint16_t port, int type, int reuseport,
	       int *family, char *err, size_t errlen);
int hfs_listen_hostport(const char *hostport, int type, char *err,
			size_t errlen);
/* Map ::ffff:a.b.c.d to AF_INET in place (what the engine should see). */
void hfs_unmap_v4(struct sockaddr_storage *ss, socklen_t *len);

/* gen.c: engine generations, swapped by reload */
struct hfs_gen {
	hf_engine_t *engine;
	atomic_int refs;
	struct hfs_gen *next; /* retired list */
};
int hfs_gen_init(hf_engine_t *engine);
struct hfs_gen *hfs_gen_current(void); /* no reference taken */
struct hfs_gen *hfs_gen_acquire(void);
void hfs_gen_release(struct hfs_gen *g);
int hfs_gen_swap(hf_engine_t *engine);
/* Close retired engines nobody uses; all = also the current one (exit). */
void hfs_gen_reap(int all);

/* server-wide state */
struct hfs_listener {
	char addr[HFS_ADDR_MAX]; /* numeric, "" = any */
	uint16_t port;
	int family;   /* chosen when the TCP socket was bound */
	int wildcard;
	int tcp_fd;
};
struct hfs_stats {
	atomic_ullong answer_errors;  /* hf_answer() < 0 */
	atomic_ullong udp_truncated;  /* query larger than the read buffer */
	atomic_ullong tcp_rejected;   /* connection cap reached */
	atomic_ullong forward_failed; /* SERVFAIL after every upstream */
};
struct hfs_server {
	struct hfs_flags flags;
	int nlisteners;
	struct hfs_listener l[HFS_MAX_LISTENERS];
	int stop_fd;               /* eventfd, readable once stopping */
	atomic_int shutting_down;  /* /ready answers 503 */
	atomic_int tcp_conns;
	struct hfs_stats stats;
};
extern struct hfs_server hfs_srv;

/* worker.c */
int hfs_workers_start(hf_engine_t *engine, char *err, size_t errlen);
void hfs_workers_stop(void); /* after stop_fd was signalled */
struct hfs_worker;
struct hfs_conn;
struct hfs_fctx; /* fwdq.c, below */
/* Answer one query; returns bytes to send from out (0 = nothing). */
size_t hfs_process(struct hfs_worker *w, int listener, const uint8_t *q,
		   size_t qlen, const struct sockaddr *client, int transport,
		   uint8_t *out, size_t cap);
uint8_t *hfs_worker_scratch(struct hfs_worker *w); /* HFS_MSG_MAX bytes */
/* HF_ANSWER_REFRESH: after sending what hfs_process returned, run the
 * pending cache refresh (buf: HFS_MSG_MAX scratch bytes). */
int hfs_worker_refresh_pending(struct hfs_worker *w);
void hfs_worker_refresh(struct hfs_worker *w, uint8_t *buf, size_t cap);
int hfs_worker_epoll(struct hfs_worker *w);
/* TCP forwards through the pool: copy the query into qbuf (HFS_RX_SIZE
 * bytes) before hfs_process; when handoff_pending says so, hand it off
 * (1: the pool has it; 0: not, *outlen = SERVFAIL to send, queue full). */
uint8_t *hfs_worker_qbuf(struct hfs_worker *w);
int hfs_worker_handoff_pending(struct hfs_worker *w);
int hfs_worker_handoff_tcp(struct hfs_worker *w, struct hfs_conn *conn, uint64_t serial,
			   size_t qlen, int refresh, uint8_t *out, size_t cap, size_t *outlen);
/* fwdq.c: a TCP forward is done (any thread). */
void hfs_worker_complete(struct hfs_worker *w, struct hfs_fctx *c);
void hfs_worker_track_deadline(struct hfs_worker *w, int64_t deadline);

/* tcp.c: connections of one worker */
struct hfs_conn;
struct hfs_tcpset {
	struct hfs_conn *head;
	uint64_t serial;        /* of the last accepted connection */
	int64_t next_deadline;
};
void hfs_tcp_accept(struct hfs_worker *w, struct hfs_tcpset *set, int li);
void hfs_tcp_event(struct hfs_worker *w, struct hfs_tcpset *set,
		   struct hfs_conn *c, uint32_t events);
int64_t hfs_tcp_expire(struct hfs_tcpset *set, int64_t now);
void hfs_tcp_close_all(struct hfs_tcpset *set);
/* A TCP forward of this worker came back from the pool: append the reply
 * (c->reply, c->rlen) to its connection if that is still open. */
void hfs_tcp_done(struct hfs_worker *w, struct hfs_tcpset *set, struct hfs_fctx *c);

/* epoll tags: data.ptr of every registered fd points at one */
enum hfs_kind { HFS_K_STOP, HFS_K_UDP, HFS_K_TCPL, HFS_K_CONN, HFS_K_DONE };
struct hfs_tag {
	int kind;
	int idx;
};

/* fwdq.c: the forwarding thread pool (UDP forwards leave the workers).
 * A context carries one forwarded query: the hf_worker_t holding the
 * HF_FORWARD (or HF_ANSWER_REFRESH) verdict, the query buffer it points
 * into (HFS_RX_SIZE bytes), where to send the reply. */
#define HFS_RX_SIZE 4096     /* largest UDP query read */
#define HFS_FCTX_CTL 128
struct hfs_fctx {
	hf_worker_t *hw;
	struct hfs_gen *gen;    /* hw's engine generation (reference held) */
	uint8_t *buf;           /* the query */
	size_t qlen;
	int refresh;            /* cache refresh only: no reply to send */
	int fd;                 /* UDP socket to reply on */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	union {
		struct cmsghdr align;
		uint8_t buf[HFS_FCTX_CTL];
	} ctl;                  /* IP(V6)_PKTINFO for the reply, ctllen bytes */
	socklen_t ctllen;
	/* TCP: the reply goes back to conn (serial: the same connection)
	 * through owner's completion queue (hfs_worker_complete) */
	int tcp;
	struct hfs_worker *owner;
	struct hfs_conn *conn;
	uint64_t serial;
	uint8_t *reply;         /* malloc'd copy, rlen bytes (NULL: none) */
	size_t rlen;
	int64_t queued_ms;
	struct hfs_fctx *next;
};
/* extra_bufs: spare query buffers for the workers (hfs_fwdq_buf(0..)). */
int hfs_fwdq_start(int nworkers, int extra_bufs, char *err, size_t errlen);
void hfs_fwdq_stop(void);          /* after the workers stopped */
struct hfs_fctx *hfs_fwdq_get(void); /* a free context, NULL = queue full */
void hfs_fwdq_put(struct hfs_fctx *c);  /* back unused */
void hfs_fwdq_push(struct hfs_fctx *c); /* forward it (the pool owns it) */
void hfs_fctx_sync(struct hfs_fctx *c); /* hw to the current generation */
uint8_t *hfs_fwdq_buf(int i);

/* forward*.c (internals in forward_int.h) */
size_t hfs_forward(hf_worker_t *hw, const uint8_t *q, size_t qlen,
		   int transport, uint8_t *out, size_t cap, int stop_fd);
/* The forward's SERVFAIL for an HF_FORWARD verdict that is not forwarded
 * (why: the errors plugin's text); counted as a failed forward. */
size_t hfs_forward_fail(hf_worker_t *hw, const uint8_t *cq, size_t cqlen, uint8_t *out,
			size_t cap, const char *why);
void hfs_forward_count_queue_full(void); /* forward_metrics.c */
/* Bare reply with rcode built from the query header + question (+ OPT). */
size_t hfs_error_reply(const uint8_t *q, size_t qlen, int rcode, uint8_t *out,
		       size_t cap);
/* forward_metrics.c: the forward/proxy metric families (Prometheus text). */
int hfs_forward_metrics(int (*fn)(void *, const char *, size_t), void *ctx);
/* forward_pool.c: gen.c calls opened when a generation starts (creates
 * the engine's forward state, logs unusable upstreams) and closed before
 * closing the engine (frees it: connections, health-check threads). */
void hfs_forward_engine_opened(hf_engine_t *engine);
void hfs_forward_engine_closed(hf_engine_t *engine);

/* admin.c: the break-glass admin port (issue 7).  start: before the DNS
 * workers (0 also when breakglass is not configured); stop: before the
 * engines are closed; reload_begin/end around the generation swap (they
 * carry the operator's overrides and limits to the new engine; a reload
 * while frozen is refused). */
int hfs_admin_start(hf_engine_t *engine, char *err, size_t errlen);
void hfs_admin_stop(void);
int hfs_admin_reload_begin(hf_engine_t *next, char *err, size_t errlen); /* -1: refuse */
void hfs_admin_reload_end(void);

/* reload.c: the reload plugin's timer and metrics.  configured: after
 * every (re)start with the running engine; tick: from the main loop;
 * metrics: the two reload families as text into buf (length, -1 = no room).
 * main.c: hfs_reload_run swaps in a new engine for the Corefile on disk
 * (0, or -1 with the reason in why; the running config stays). */
void hfs_reload_configured(hf_engine_t *engine, int64_t now);
void hfs_reload_tick(int64_t now);
int hfs_reload_metrics(char *buf, size_t len);
int hfs_reload_run(char *why, size_t whylen);

/* loop.c: the loop plugin's self-probes for engine (a detached thread;
 * 0 also when no block has `loop`).  Call once the listeners are up, for
 * every engine generation that starts serving. */
int hfs_loop_start(hf_engine_t *engine);

/* health_probe.c: health's 1 s self-probe; set(addr) starts or retargets
 * it, set(NULL) stops it; metrics: its two families as text (-1 = no room). */
void hfs_health_probe_set(const char *addr);
int hfs_health_metrics(char *buf, size_t len);
/* metrics_proc.c: the process_* families as text (-1 = no room). */
int hfs_proc_metrics(char *buf, size_t len);

/* http.c: health / ready / metrics */
int hfs_http_prepare(hf_engine_t *engine, char *err, size_t errlen);
void hfs_http_commit(void);
void hfs_http_abort(void);
void hfs_http_stop(void);

#endif
