/*
 * forward_int.h: internals of the shim's forward plugin (shim/forward*.c).
 *
 * Design: the engine owns the forward configuration (read once through
 * hf_forward_option / hf_forward_upstream_at), the shim owns the network.
 * Per engine generation there is one hfs_fwd_state with one hfs_fwd_inst
 * per forward line and one hfs_fwd_up per upstream; it is created when
 * gen.c starts the generation (hfs_forward_engine_opened; the first
 * forwarded query would otherwise) and freed when gen.c closes the engine
 * (hfs_forward_engine_closed) and the last user let go.  An
 * upstream keeps its consecutive health-check failures (down when >
 * max_fails), a LIFO cache of idle connected sockets per transport
 * (expire, max_age, max_idle_conns) and, once a network error asked for
 * it, a health-check thread that probes `. IN NS` every health_check
 * interval until a probe succeeds, then sleeps until the next error.
 * Metrics live in a process-wide table keyed by upstream address, so
 * counters survive reloads like CoreDNS's Prometheus registry.
 *
 * forward.c: the per-query loop (policies, retries, failover, next);
 * forward_msg.c: DNS message checks; forward_conn.c: one exchange on a
 * socket; forward_pool.c: states, upstreams, connection cache;
 * forward_health.c: health-check threads; forward_metrics.c: metrics.
 */
#ifndef HFS_FORWARD_INT_H
#define HFS_FORWARD_INT_H

#include "shim.h"

#include <stdbool.h>
#include <sys/types.h>

#define HFS_FWD_MAX_UP 16        /* CoreDNS allows 15 */
#define HFS_FWD_IDLE_MAX 64      /* idle sockets kept per upstream and transport */
#define HFS_FWD_TOTAL_MS 5000    /* whole query (CoreDNS defaultTimeout) */
#define HFS_FWD_HC_TIMEOUT_MS 1000

#define HFS_EX_FAIL (-1)   /* network error, timeout, malformed reply */
#define HFS_EX_STOP (-2)   /* shutting down */
#define HFS_EX_CLOSED (-3) /* cached TCP connection closed by the peer */

enum { HFS_P_UDP = 0, HFS_P_TCP = 1 };

struct hfs_fwd_metric; /* forward_metrics.c */

struct hfs_fwd_conn {
	int fd;
	int64_t created_ms, used_ms;
};

struct hfs_fwd_up {
	char to[HFS_ADDR_MAX];          /* "ip:port" as configured (metrics label) */
	struct sockaddr_storage ss;
	socklen_t sl;
	bool usable;                    /* false: tls:// or unresolvable */
	atomic_uint fails;              /* consecutive failed health checks */
	struct hfs_fwd_metric *m;
	struct hfs_fwd_inst *inst;
	pthread_mutex_t lock;           /* idle cache */
	struct hfs_fwd_conn idle[2][HFS_FWD_IDLE_MAX];
	int nidle[2];
	/* health check (forward_health.c) */
	pthread_mutex_t hc_lock;
	pthread_cond_t hc_cond;
	bool hc_wanted, hc_started;
	pthread_t hc_thread;
};

struct hfs_fwd_inst {
	int id, n;
	int policy;                     /* 0 random, 1 round_robin, 2 sequential */
	int64_t max_fails, hc_ms, expire_ms, max_age_ms, read_timeout_ms;
	int64_t max_concurrent, max_connect_attempts, max_idle;
	bool force_tcp, prefer_udp, failfast, hc_no_rec, next_on_nodata;
	uint64_t failover, next;        /* rcode bit masks */
	uint8_t hc_q[300];              /* the health-check query */
	size_t hc_qlen;
	atomic_uint robin;
	atomic_long concurrent;
	struct hfs_fwd_state *st;
	struct hfs_fwd_up up[HFS_FWD_MAX_UP];
};

struct hfs_fwd_state {
	hf_engine_t *engine;
	int ninst;
	struct hfs_fwd_inst *inst;      /* ninst of them */
	atomic_int refs;                /* users + 1 while the engine is open */
	atomic_int dead;                /* engine closed: threads exit */
	int wake_fd;                    /* eventfd, readable once dead */
	struct hfs_fwd_state *next;
};

/* forward_pool.c */
struct hfs_fwd_state *hfs_fwd_state_get(hf_engine_t *engine); /* reference taken */
void hfs_fwd_state_put(struct hfs_fwd_state *st);
/* An idle socket (*cached = 1) or a new connecting one; -1 on error. */
int hfs_fwd_conn_get(struct hfs_fwd_up *up, int proto, int *cached, int64_t *created);
void hfs_fwd_conn_put(struct hfs_fwd_up *up, int proto, int fd, int64_t created);
bool hfs_fwd_down(const struct hfs_fwd_up *up);

/* Why the calling thread's last exchange failed (forward_conn.c sets it):
 * an errno value (ETIMEDOUT for the deadline, EBADMSG for a reply that
 * does not parse, ENODATA for EOF), dial = it happened while connecting. */
struct hfs_fwd_why {
	int code;
	bool dial;
};
extern _Thread_local struct hfs_fwd_why hfs_fwd_why;

/* forward_conn.c: one query on fd (connected; TCP may still be connecting).
 * Returns the reply length, or HFS_EX_*.  udp_max: the client's buffer
 * size; a longer UDP reply becomes a TC=1 reply without records. */
ssize_t hfs_fwd_xfer(int fd, int proto, int cached, const uint8_t *q, size_t qlen,
		     uint16_t id, uint8_t *out, size_t cap, size_t udp_max,
		     int64_t deadline, int stop_fd, int stop_fd2);

/* forward_msg.c */
uint16_t hfs_fwd_rand_id(void);
uint32_t hfs_fwd_rand(void);
size_t hfs_fwd_question_end(const uint8_t *m, size_t len);
bool hfs_fwd_valid(const uint8_t *m, size_t len);
/* HFS_MSG_SHORT: a record or name runs past the end (miekg's overflow /
 * ErrBuf errors, which CoreDNS turns into a TC=1 reply on UDP). */
enum { HFS_MSG_OK = 0, HFS_MSG_SHORT = 1, HFS_MSG_BAD = 2 };
int hfs_fwd_check(const uint8_t *m, size_t len);
bool hfs_fwd_matches(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen);
int hfs_fwd_rcode(const uint8_t *m, size_t len); /* with the OPT extension */
size_t hfs_fwd_udp_size(const uint8_t *q, size_t qlen); /* max(EDNS size, 512) */
size_t hfs_fwd_truncate(uint8_t *m, size_t len); /* header + question, TC=1 */

/* forward_health.c */
void hfs_fwd_hc_trigger(struct hfs_fwd_up *up);
void hfs_fwd_hc_join(struct hfs_fwd_up *up); /* after dead was set */

/* forward_metrics.c */
struct hfs_fwd_metric *hfs_fwd_metric_for(const char *to);
void hfs_fwd_observe(struct hfs_fwd_metric *m, int rcode, int64_t ns);
void hfs_fwd_count_hc_failure(struct hfs_fwd_metric *m);
void hfs_fwd_count_conn(struct hfs_fwd_metric *m, int proto, int hit);
void hfs_fwd_count_broken(void);
void hfs_fwd_count_reject(void);
void hfs_fwd_metrics_enable(void); /* a forward instance exists */

int64_t hfs_fwd_now_ns(void);

#endif
