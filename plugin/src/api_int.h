/*
 * api_int.h: private to the Kubernetes API source (api*.c): the resolved
 * connection (api_kubeconfig.c), the HTTP layer over libcurl (api_http.c),
 * backoff / token bucket (api_backoff.c), JSON -> scratch store decoding
 * (api_decode.c) and the per-resource reflector (api_watch.c).
 */
#ifndef HF_API_INT_H
#define HF_API_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "manifest.h"
#include "mm.h"
#include "rng.h"

#define HFI_API_LOG "kubernetes"

/* Timing (ms). */
#define HFI_API_CONNECT_TIMEOUT_MS 10000
#define HFI_API_LIST_FIRST_BYTE_MS 30000   /* list: response headers within */
#define HFI_API_LIST_IDLE_MS 10000         /* list: no byte for this long = hung */
#define HFI_API_LIST_TOTAL_MS 300000       /* list page: whole transfer */
#define HFI_API_WATCH_FIRST_BYTE_MS 30000  /* watch: response headers within */
#define HFI_API_WATCH_GRACE_MS 30000       /* watch: no byte for timeoutSeconds + this = hung */
#define HFI_API_SHORT_WATCH_MS 1000        /* a watch that ends sooner without events failed */
#define HFI_API_LOG_REPEAT_MS 30000        /* identical warnings at most this often */

/* Sizes. */
#define HFI_API_PAGE_LIMIT 500
#define HFI_API_MAX_BODY (1ULL << 30)      /* buffered list page */
#define HFI_API_MAX_LINE (64u << 20)       /* one watch event */
#define HFI_API_MAX_ERRBODY (64u << 10)    /* body kept from a non-2xx response */
#define HFI_API_MAX_PAGES 1000000
#define HFI_API_MAX_LIST_RESTARTS 3        /* 410 on continue / RV=last before giving up */
#define HFI_API_MAX_RETRY_AFTER_S 120      /* Retry-After is clamped to [1, this] */
#define HFI_API_MAX_RETRY_AFTER_IN_ROW 10  /* then plain backoff (client-go's maxRetries) */

/* ---- connection (api_kubeconfig.c) ---------------------------------------- */

typedef struct hfi_api_blob {
	unsigned char *data;
	size_t len;
} hfi_api_blob_t;

typedef struct hfi_api_conn {
	const hf_mm_t *mm;
	char *server;             /* base URL, no trailing '/' */
	char *ca_file;            /* PEM bundle file, or NULL */
	hfi_api_blob_t ca_data;   /* PEM (certificate-authority-data, decoded) */
	char *cert_file, *key_file;
	hfi_api_blob_t cert_data, key_data;
	char *token;              /* static bearer token, or NULL */
	char *token_file;         /* bearer token file, re-read when it changes; wins over token */
	char *username, *password;
	char *proxy;              /* proxy-url, or NULL (environment applies) */
	bool insecure;            /* insecure-skip-tls-verify */
	char source[160];         /* "kubeconfig FILE (context X)", "endpoint", "in-cluster" for logs */
} hfi_api_conn_t;

/* Precedence (spec 4.1): kubeconfig [context] > endpoint [+ tls] > in-cluster. */
int hfi_api_conn_resolve(const hfi_cfg_kubernetes_t *cfg, const hf_mm_t *mm, hfi_api_conn_t *out,
			 char *err, size_t errlen);
int hfi_api_kubeconfig_load(const char *path, const char *context, const hf_mm_t *mm,
			    hfi_api_conn_t *out, char *err, size_t errlen);
/* KUBERNETES_SERVICE_HOST/PORT and $HF_SA_DIR (default
 * /var/run/secrets/kubernetes.io/serviceaccount) /token and /ca.crt. */
int hfi_api_incluster(const hf_mm_t *mm, hfi_api_conn_t *out, char *err, size_t errlen);
void hfi_api_conn_free(hfi_api_conn_t *c);
/* Standard base64 (whitespace ignored, padding optional).  0 or HF_EINVAL /
 * HF_ENOMEM.  out->data is NUL-terminated (not counted in len). */
int hfi_api_base64_decode(const hf_mm_t *mm, const char *in, size_t len, hfi_api_blob_t *out);
/* Read a small file (token) and trim surrounding whitespace. */
int hfi_api_read_token(const hf_mm_t *mm, const char *path, char **out);

/* ---- backoff, token bucket (api_backoff.c) -------------------------------- */

typedef struct hfi_backoff {
	int64_t initial_ms, cap_ms, reset_ms;
	int64_t cur_ms;           /* current ceiling, 0 = fresh */
	int64_t last_fail_ms;     /* -1 = none yet */
	uint64_t rng;
} hfi_backoff_t;

/* client-go's reflector values: 800 ms, x2, 30 s cap, reset after 2 min
 * without a failure.  seed 0 picks one. */
void hfi_backoff_init(hfi_backoff_t *b, uint64_t seed);
/* A failure at now: the delay to wait, uniform in [initial, ceiling]
 * ("full jitter" with the initial delay as floor, so never a busy loop). */
int64_t hfi_backoff_next(hfi_backoff_t *b, int64_t now_ms);
void hfi_backoff_reset(hfi_backoff_t *b);
/* hfi_rng_next / hfi_rng_unit (xorshift64*): rng.h */

typedef struct hfi_tbucket {
	double rate_per_ms;
	double burst;
	double tokens;            /* may go negative: reservations */
	int64_t last_ms;
} hfi_tbucket_t;

/* qps <= 0 -> 5, burst <= 0 -> 10 (client-go defaults). */
void hfi_tbucket_init(hfi_tbucket_t *t, double qps, int burst, int64_t now_ms);
/* Reserve one token; returns how long (ms) the caller must wait before
 * using it (0 = now).  Reservations queue fairly. */
int64_t hfi_tbucket_take(hfi_tbucket_t *t, int64_t now_ms);

/* ---- HTTP (api_http.c) ---------------------------------------------------- */

enum hfi_http_result {
	HFI_HTTP_OK = 0,      /* a complete response (any status) */
	HFI_HTTP_FAIL,        /* connect / TLS / transport error */
	HFI_HTTP_TIMEOUT,     /* no response or no data in time (hung server) */
	HFI_HTTP_ABORTED,     /* on_body returned false */
	HFI_HTTP_TOOBIG,      /* buffered body over max_body */
	HFI_HTTP_STOPPED,     /* hfi_api_free in progress */
};

typedef struct hfi_http_req {
	const char *url;
	const char *auth;        /* full header line "Authorization: ..." or NULL */
	int64_t first_byte_ms;   /* response headers within (0 = no limit) */
	int64_t idle_ms;         /* then at most this long without a byte (0 = no limit) */
	int64_t total_ms;        /* whole transfer (0 = no limit) */
	size_t max_body;         /* buffered 2xx body cap (when on_body is NULL) */
	/* final response headers complete (status known) */
	void (*on_headers)(void *ctx, long status);
	/* streaming 2xx body; false aborts */
	bool (*on_body)(void *ctx, const char *p, size_t n);
	void *ctx;
} hfi_http_req_t;

typedef struct hfi_http_res {
	enum hfi_http_result result;
	long status;             /* 0 when no response */
	long retry_after_s;      /* -1 when absent */
	char *body;              /* buffered body (2xx without on_body; else up to 64 KiB of an error) */
	size_t len, cap;
	char errmsg[256];        /* transport error text */
} hfi_http_res_t;

typedef struct hfi_api_http hfi_api_http_t;

hfi_api_http_t *hfi_api_http_new(const hfi_api_conn_t *conn, const char *user_agent,
				 const atomic_bool *stop, char *err, size_t errlen);
void hfi_api_http_free(hfi_api_http_t *h);
/* Interrupts a running request (any thread). */
void hfi_api_http_wakeup(hfi_api_http_t *h);
/* Perform one GET.  Returns res->result. */
int hfi_api_http_get(hfi_api_http_t *h, const hfi_http_req_t *req, hfi_http_res_t *res);
void hfi_http_res_fini(hfi_http_res_t *res);

/* Bearer token with rotation: the file is re-read when its stat changes or
 * at least every minute; the last good value is kept when a read fails. */
typedef struct hfi_api_token {
	pthread_mutex_t mu;
	const char *file;        /* borrowed from the conn */
	const char *fixed;       /* borrowed */
	char *cur;
	int64_t read_ms;
	uint64_t st_key[4];      /* dev, ino, size, mtime ns */
	bool warned;
} hfi_api_token_t;

void hfi_api_token_init(hfi_api_token_t *t, const hfi_api_conn_t *conn);
void hfi_api_token_fini(hfi_api_token_t *t);
/* "Authorization: Bearer X" (malloc'd) or NULL when no token. */
char *hfi_api_token_header(hfi_api_token_t *t, int64_t now_ms);

/* Append s percent-encoded (RFC 3986 unreserved kept) to buf. */
int hfi_api_url_escape(char *buf, size_t len, size_t *off, const char *s);

/* ---- decoding (api_decode.c) ---------------------------------------------- */

typedef struct hfi_api_list_info {
	char *rv;                /* metadata.resourceVersion */
	char *cont;              /* metadata.continue, NULL when last page */
	size_t items;            /* items seen */
	size_t bad;              /* items skipped: failed conversion or wrong kind */
	char first_bad[320];     /* the first such problem */
} hfi_api_list_info_t;

/* One List page (JSON) -> objects of res added to scratch.  A body that is
 * not a well-formed List of this resource is HF_EPARSE (message in err);
 * bad items are skipped and counted.  stop (may be NULL) set = HF_EIO
 * ("stopped") within a few hundred items. */
int hfi_api_decode_list(hfi_resource_t res, const char *body, size_t len, hfi_store_t *scratch,
			const hfi_manifest_opts_t *opts, const atomic_bool *stop, hfi_api_list_info_t *info,
			char *err, size_t errlen);
void hfi_api_list_info_fini(hfi_api_list_info_t *info);

enum hfi_api_ev_type { HFI_API_EV_ADDED, HFI_API_EV_MODIFIED, HFI_API_EV_DELETED,
		       HFI_API_EV_BOOKMARK, HFI_API_EV_ERROR };

typedef struct hfi_api_event {
	enum hfi_api_ev_type type;
	char *rv;                /* object's metadata.resourceVersion, or NULL */
	char *ns, *name;         /* DELETED (ns NULL for namespaces) */
	long code;               /* ERROR: Status code */
	bool stored;             /* ADDED/MODIFIED: the object is in `one` */
	bool bad;                /* ADDED/MODIFIED: failed conversion (skipped), why in err */
	char msg[256];           /* ERROR: Status message */
} hfi_api_event_t;

/* One watch line.  HF_EPARSE when the line is not a watch event. */
int hfi_api_decode_event(hfi_resource_t res, const char *line, size_t len, hfi_store_t *one,
			 const hfi_manifest_opts_t *opts, hfi_api_event_t *ev, char *err, size_t errlen);
void hfi_api_event_fini(hfi_api_event_t *ev);
/* Status message/code/reason of an error body (best effort). */
void hfi_api_decode_status(const char *body, size_t len, long *code, char *msg, size_t msglen);

/* ---- the source (api.c, api_watch.c) -------------------------------------- */

enum hfi_list_mode {
	HFI_LIST_RV0 = 0,     /* resourceVersion=0 (watch cache), limit=500 */
	HFI_LIST_RV_LAST,     /* resourceVersion=<last seen>, no limit (watch cache, client-go) */
	HFI_LIST_CONSISTENT,  /* no resourceVersion (quorum read), limit=500 */
};

typedef struct hfi_api_worker {
	struct hfi_api *api;
	hfi_resource_t res;
	bool enabled;
	pthread_t thread;
	bool thread_started;
	hfi_api_http_t *http;
	hfi_manifest_opts_t opts;
	hfi_backoff_t backoff;    /* failures */
	hfi_backoff_t relist;     /* relists after 410: 0.8 s at first, escalating when they repeat */
	uint64_t rng;
	char *rv;                 /* last seen resourceVersion */
	enum hfi_list_mode mode;
	bool need_list, listed;
	unsigned retry_after_in_row;
	unsigned failures;        /* consecutive */
	int64_t last_list_ms;
	/* rate-limited warnings */
	int64_t log_ms;
	uint64_t log_hash;
	unsigned log_suppressed;
} hfi_api_worker_t;

struct hfi_api {
	hfi_sync_t *sync;
	hfi_api_conn_t conn;
	hfi_api_token_t token;
	char *label_sel, *ns_label_sel;       /* sent to the server */
	hfi_selector_t *labels, *ns_labels;   /* also applied locally */
	char user_agent[64];
	int watch_lo_s, watch_hi_s;           /* timeoutSeconds in [lo, hi) */
	int64_t list_first_byte_ms, list_idle_ms, watch_first_byte_ms, watch_grace_ms; /* HF_API_HANG_S */
	atomic_bool stop;
	pthread_mutex_t mu;                   /* below */
	pthread_cond_t cv;                    /* CLOCK_MONOTONIC */
	bool started;
	hfi_tbucket_t bucket;
	int inflight, max_inflight;           /* 0 = no cap */
	hfi_api_stats_t stats;
	hfi_api_worker_t w[HFI_RES_COUNT];
};

int64_t hfi_api_now_ms(void);
const char *hfi_api_res_name(hfi_resource_t res);
/* Sleep up to ms; false when stopping. */
bool hfi_api_sleep(hfi_api_t *api, int64_t ms);
/* Token bucket + in-flight slot; false when stopping. */
bool hfi_api_admit(hfi_api_t *api);
void hfi_api_release(hfi_api_t *api);
/* Stats helpers (take the mutex). */
enum hfi_api_stat { HFI_ST_LIST, HFI_ST_WATCH, HFI_ST_ERROR, HFI_ST_RELIST, HFI_ST_BAD };
void hfi_api_count(hfi_api_t *api, hfi_resource_t res, enum hfi_api_stat what, uint64_t n);
void hfi_api_count_status(hfi_api_t *api, long status);

/* The reflector thread body (api_watch.c). */
void *hfi_api_worker_main(void *arg);

#endif
