/*
 * holdfast.h: the only public header of libholdfast.so, the holdfast engine.
 *
 * The engine owns DNS: it parses the Corefile, loads Kubernetes objects,
 * keeps an index of precompiled answers and answers queries.  It owns no
 * sockets; the host (the holdfast shim, a Go program through purego, Python
 * through ctypes) reads packets, hands them to hf_answer() and sends what
 * comes back.  No struct layout crosses this boundary: every object is an
 * opaque handle, every call returns an hf_err code (0 = OK, negative =
 * error, see hf_strerror()).  Symbols are versioned by HF_ABI_VERSION.
 *
 * Threads: one hf_engine_t is shared by every worker; each worker thread
 * owns one hf_worker_t (its scratch memory), so hf_answer() never blocks and
 * never allocates.
 */
#ifndef HOLDFAST_H
#define HOLDFAST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(HF_BUILDING_LIBRARY)
#define HF_API __attribute__((visibility("default")))
#else
#define HF_API
#endif

/*! ABI version; bumped on any incompatible change. */
#define HF_ABI_VERSION 1

/*! Error codes: 0 is success, everything else is negative. */
enum hf_err {
	HF_EOK = 0,
	HF_ENOMEM = -12,     /*!< out of memory */
	HF_EINVAL = -22,     /*!< invalid argument */
	HF_ENOENT = -2,      /*!< not found */
	HF_ERANGE = -34,     /*!< value out of range */
	HF_ESPACE = -28,     /*!< output buffer too small */
	HF_EIO = -5,         /*!< I/O error */
	HF_EPARSE = -1000,   /*!< Corefile / manifest parse error */
	HF_ECONFIG = -1001,  /*!< Corefile semantic error */
	HF_EMALF = -1002,    /*!< malformed DNS message */
	HF_EMANIFEST = -1003 /*!< bad manifest / Kubernetes object */
};

/*! What the host does with the bytes hf_answer() produced. */
enum hf_verdict {
	HF_ANSWER = 0,  /*!< send resp (resplen bytes) to the client */
	HF_FORWARD = 1, /*!< not ours: forward the query (see hf_forward_upstream) */
	HF_DROP = 2,    /*!< send nothing */
	HF_ANSWER_REFRESH = 3 /*!< send resp to the client now, THEN run the
	                        forward exchange exactly as for HF_FORWARD
	                        (hf_forward_upstream/_query, then
	                        hf_forward_reply, whose output is discarded):
	                        a cache refresh (serve_stale, prefetch) */
};

/*! Flags for hf_engine_open(). */
#define HF_OPEN_QUIET 0x1u /*!< no startup banner on stdout */

/*! Transport of a listener or of a query. */
enum hf_transport { HF_UDP = 0, HF_TCP = 1 };

typedef struct hf_engine hf_engine_t;
typedef struct hf_worker hf_worker_t;

/*! \brief ABI version the library was built with (HF_ABI_VERSION). */
HF_API int hf_abi_version(void);
/*! \brief Version string, e.g. "0.1.0". */
HF_API const char *hf_version(void);
/*! \brief Text for an hf_err code. */
HF_API const char *hf_strerror(int code);

/*!
 * \brief Parse a Corefile, load its sources, build the index.
 * \param corefile_path  file to read ("stdin" reads standard input)
 * \param default_port   port for server keys without one (0 = 53)
 * \param flags          HF_OPEN_* flags
 * \param err, errlen    receives the error text (CoreDNS wording,
 *                       "file:line:col: message" for parse errors)
 * \return the engine, or NULL with err filled in.
 */
HF_API hf_engine_t *hf_engine_open(const char *corefile_path, int default_port,
				   unsigned flags, char *err, size_t errlen);
/*! \brief Stop the engine's threads and free everything. NULL is fine. */
HF_API void hf_engine_close(hf_engine_t *engine);

/*! \brief Number of listeners (address, port, transport) to open. */
HF_API int hf_listener_count(const hf_engine_t *engine);
/*!
 * \brief Describe listener i: addr receives a numeric address ("" = any),
 * port its port. Every listener serves both UDP and TCP.
 */
HF_API int hf_listener_get(const hf_engine_t *engine, int i, char *addr,
			   size_t addrlen, uint16_t *port);

/*! \brief Per-thread answering state; one per worker thread. */
HF_API hf_worker_t *hf_worker_new(hf_engine_t *engine);
HF_API void hf_worker_free(hf_worker_t *worker);

/*!
 * \brief Answer one DNS query.
 * \param worker    the calling thread's worker
 * \param listener  index of the listener the query arrived on
 * \param query     the query as received, qlen bytes
 * \param client    client address (may be NULL)
 * \param transport HF_UDP or HF_TCP
 * \param resp      output buffer, respcap bytes (>= 65535 recommended)
 * \param resplen   receives the length of the response
 * \return an hf_verdict (>= 0) or a negative hf_err.
 */
HF_API int hf_answer(hf_worker_t *worker, int listener, const uint8_t *query,
		     size_t qlen, const struct sockaddr *client, int transport,
		     uint8_t *resp, size_t respcap, size_t *resplen);

/*!
 * \brief For an HF_FORWARD verdict: upstream number idx (0-based) for this
 * query as "ip:port" text. Returns HF_ENOENT past the last one.
 */
HF_API int hf_forward_upstream(hf_worker_t *worker, int idx, char *addr,
			       size_t addrlen);

/*!
 * \brief For an HF_FORWARD verdict: the message to send upstream.  Usually
 * the client's query itself; for an ExternalName service whose target is
 * outside the cluster it is a query for that target (with the client's ID).
 */
HF_API int hf_forward_query(hf_worker_t *worker, const uint8_t **msg, size_t *len);

/*!
 * \brief For an HF_FORWARD verdict, after the exchange: turn the upstream's
 * reply (NULL when every upstream failed) into the client's reply.
 * Returns HF_ENOENT when the host should send the upstream reply as it is
 * (or its own SERVFAIL when reply is NULL).  reply and resp may be the same
 * buffer.
 */
HF_API int hf_forward_reply(hf_worker_t *worker, const uint8_t *reply, size_t rlen,
			    uint8_t *resp, size_t respcap, size_t *resplen);

/*!
 * \brief Number of forward instances (forward lines of every server block,
 * Corefile order); ids 0..count-1 are stable for the engine's lifetime.
 */
HF_API int hf_forward_count(const hf_engine_t *engine);
/*! \brief For an HF_FORWARD verdict: the id of the forward instance to use. */
HF_API int hf_forward_instance(hf_worker_t *worker);
/*!
 * \brief Numeric option of forward instance id.  name: "policy" (0 random,
 * 1 round_robin, 2 sequential), "max_fails", "health_check_ms",
 * "expire_ms", "max_age_ms", "read_timeout_ms", "force_tcp", "prefer_udp",
 * "max_concurrent" (0 = unlimited), "max_connect_attempts" (0 =
 * unlimited), "max_idle_conns" (0 = unlimited), "failfast"
 * (failfast_all_unhealthy_upstreams), "hc_no_rec", "failover" and "next"
 * (bit n set for rcode n), "next_on_nodata", "upstreams" (count).
 * HF_ENOENT for an unknown id or name.
 */
HF_API int hf_forward_option(const hf_engine_t *engine, int id, const char *name,
			     int64_t *value);
/*!
 * \brief Upstream idx (configuration order) of forward instance id as
 * "ip:port" ("[v6]:port"; "tls://..." kept), or for idx -1 the health-check
 * domain ("." unless `health_check ... domain`).  HF_ENOENT past the end.
 */
HF_API int hf_forward_upstream_at(const hf_engine_t *engine, int id, int idx,
				  char *addr, size_t addrlen);
/*!
 * \brief For an HF_FORWARD verdict whose reply matched `next` RCODE or
 * `next_on_nodata`: move the verdict to the following forward line of the
 * same server block that serves the query; returns its id, or HF_ENOENT
 * when there is none (the host then sends the reply it has).
 */
HF_API int hf_forward_next(hf_worker_t *worker);
/*! \brief The engine a worker answers for. */
HF_API hf_engine_t *hf_worker_engine(hf_worker_t *worker);

/*!
 * \brief For an HF_FORWARD verdict whose exchange failed: the error text
 * (e.g. "read udp 127.0.0.1:40060->127.0.0.1:5300: i/o timeout").  The
 * errors plugin of the query's server block logs it as
 * "[ERROR] plugin/errors: 2 NAME TYPE: TEXT" (or counts it under
 * `consolidate`).  Call it before hf_forward_reply(worker, NULL, ...).
 */
HF_API int hf_forward_error(hf_worker_t *worker, const char *msg);

/*!
 * \brief Loop detection (CoreDNS's loop plugin): probe i (0-based, one per
 * server block with `loop`).  Writes the query to send ("HINFO
 * <random>.<random>.<zone>", a fresh ID) into buf and the address to send
 * it to ("ip:port", the block's first bind address or 127.0.0.1) into
 * addr.  HF_ENOENT past the last probe.  The host sends it every second
 * for up to 30 s until an answer (any rcode) comes back, then calls
 * hf_loop_done(); if the probe reaches the engine more than twice the
 * engine logs the FATAL loop line and exits the process with status 1.
 */
HF_API int hf_loop_probe(hf_engine_t *engine, int i, uint8_t *buf, size_t cap,
			 size_t *len, char *addr, size_t addrlen);
/*! \brief Probe i was answered: loop detection for it ends (2 s later). */
HF_API int hf_loop_done(hf_engine_t *engine, int i);

/*! \brief Name of the i-th plugin (directive) this build implements, in
 * sorted order, or NULL past the last (for `holdfast -plugins`). */
HF_API const char *hf_plugin_name(int i);

/*!
 * \brief Fingerprint of a Corefile for the reload plugin: the SHA-512 (128
 * hex digits + NUL into hex, hexlen >= 129) of its parsed server blocks
 * (imports and environment expanded; comments and whitespace do not
 * count).  HF_EPARSE with "file:line:col: message" in err when it does not
 * parse; HF_EINVAL for "stdin".
 */
HF_API int hf_corefile_hash(const char *corefile_path, char *hex, size_t hexlen,
			    char *err, size_t errlen);
/*!
 * \brief The `reload [INTERVAL] [JITTER]` plugin's settings in ms;
 * HF_ENOENT when the Corefile has no reload plugin.
 */
HF_API int hf_reload_period(const hf_engine_t *engine, uint32_t *interval_ms,
			    uint32_t *jitter_ms);

/*!
 * \brief For an HF_FORWARD verdict answered without hf_forward_reply (the
 * host wrote its own REFUSED, FORMERR, ...): record that reply (len bytes,
 * NULL = nothing sent) in the query metrics.  Harmless when already recorded.
 */
HF_API int hf_forward_done(hf_worker_t *worker, const uint8_t *reply, size_t len);

/*! \brief Drive timers (reloads, snapshots) when the host has no thread for it. */
HF_API int hf_tick(hf_engine_t *engine, int64_t now_ms);

/*! \brief Engine status as JSON into buf (NUL-terminated). */
HF_API int hf_status_json(hf_engine_t *engine, char *buf, size_t len);

/*! \brief Write Prometheus text exposition through fn. */
HF_API int hf_metrics_write(hf_engine_t *engine,
			    int (*fn)(void *ctx, const char *data, size_t len),
			    void *ctx);

/*!
 * \brief After a reload: carry prev's query counters over to next so that
 * the coredns_dns_* counters of the process keep growing across reloads.
 * Each call passes on what prev counted since the previous call: call it
 * at the swap and once more just before prev is closed.
 */
HF_API int hf_metrics_inherit(hf_engine_t *next, hf_engine_t *prev);

/*!
 * \brief Address of an HTTP endpoint the Corefile asks for:
 * which = "health", "ready" or "metrics". HF_ENOENT when not configured.
 */
HF_API int hf_http_addr(const hf_engine_t *engine, const char *which,
			char *addr, size_t addrlen);

/*! \brief 1 when every readiness-capable plugin is ready, else 0; names of
 * the ones that are not go into buf (comma-separated, sorted). */
HF_API int hf_ready(hf_engine_t *engine, char *buf, size_t len);

/*! \brief Admin command (break-glass line protocol); reply into out. */
HF_API int hf_admin(hf_engine_t *engine, const char *command, char *out,
		    size_t outlen);

#ifdef __cplusplus
}
#endif
#endif /* HOLDFAST_H */
