/*
 * api_http.c: the API source's HTTP layer over libcurl.  One easy handle
 * driven by its own multi handle per reflector thread, so hfi_api_free can
 * interrupt a blocked request at once (curl_multi_wakeup) and the loop can
 * detect a hung server (no response headers in time, no byte for too
 * long).  TLS client cert/key/CA from files or memory, bearer token (file
 * re-read when it rotates), basic auth, insecure-skip-tls-verify,
 * User-Agent, HTTP/2 over TLS when offered, gzip, TCP keepalive.
 */
#include "api_int.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "holdfast.h"
#include "log.h"

#define TOKEN_REREAD_MS 60000

struct hfi_api_http {
	CURLM *multi;
	CURL *easy;
	const atomic_bool *stop;
	char errbuf[CURL_ERROR_SIZE];
	/* the request in progress */
	const hfi_http_req_t *req;
	hfi_http_res_t *res;
	int64_t last_byte_ms;
	bool headers_done, aborted, toobig, nomem;
};

/* ---- token ------------------------------------------------------------------ */

void hfi_api_token_init(hfi_api_token_t *t, const hfi_api_conn_t *conn)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	t->file = conn->token_file;
	t->fixed = conn->token;
	t->read_ms = -1;
}

void hfi_api_token_fini(hfi_api_token_t *t)
{
	if (t->cur != NULL) {
		explicit_bzero(t->cur, strlen(t->cur));
		free(t->cur);
	}
	t->cur = NULL;
	pthread_mutex_destroy(&t->mu);
}

static char *bearer(const char *tok)
{
	if (tok == NULL || *tok == '\0')
		return NULL;
	size_t n = strlen(tok) + sizeof("Authorization: Bearer ");
	char *h = malloc(n);
	if (h != NULL)
		snprintf(h, n, "Authorization: Bearer %s", tok);
	return h;
}

char *hfi_api_token_header(hfi_api_token_t *t, int64_t now_ms)
{
	if (t->file == NULL)
		return bearer(t->fixed);
	pthread_mutex_lock(&t->mu);
	struct stat sb;
	bool changed = false;
	if (stat(t->file, &sb) == 0) {
		uint64_t key[4] = { (uint64_t)sb.st_dev, (uint64_t)sb.st_ino, (uint64_t)sb.st_size,
				    (uint64_t)sb.st_mtim.tv_sec * 1000000000ULL + (uint64_t)sb.st_mtim.tv_nsec };
		changed = memcmp(key, t->st_key, sizeof(key)) != 0;
		memcpy(t->st_key, key, sizeof(key));
	}
	if (t->cur == NULL || changed || t->read_ms < 0 || now_ms - t->read_ms >= TOKEN_REREAD_MS) {
		char *nt = NULL;
		int ret = hfi_api_read_token(NULL, t->file, &nt);
		t->read_ms = now_ms;
		if (ret == HF_EOK && nt != NULL && *nt != '\0') {
			if (t->cur != NULL) {
				explicit_bzero(t->cur, strlen(t->cur));
				free(t->cur);
			}
			t->cur = nt;
			t->warned = false;
		} else {
			if (nt != NULL)
				free(nt);
			if (!t->warned)
				hfi_log(HFI_LOG_WARNING, HFI_API_LOG, "cannot read token file %s; %s", t->file,
					t->cur != NULL ? "keeping the last token" : "no token");
			t->warned = true;
		}
	}
	char *h = bearer(t->cur != NULL ? t->cur : t->fixed);
	pthread_mutex_unlock(&t->mu);
	return h;
}

/* ---- URL escaping --------------------------------------------------------- */

int hfi_api_url_escape(char *buf, size_t len, size_t *off, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = *off;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
		if (o + (keep ? 1 : 3) >= len)
			return HF_ESPACE;
		if (keep) {
			buf[o++] = (char)ch;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		}
	}
	buf[o] = '\0';
	*off = o;
	return HF_EOK;
}

/* ---- callbacks -------------------------------------------------------------- */

static int append(hfi_http_res_t *r, const char *p, size_t n)
{
	if (n == 0)
		return HF_EOK;
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		while (cap < r->len + n + 1)
			cap *= 2;
		char *nb = realloc(r->body, cap);
		if (nb == NULL)
			return HF_ENOMEM;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = '\0';
	return HF_EOK;
}

static size_t header_cb(char *p, size_t size, size_t nitems, void *ud)
{
	hfi_api_http_t *h = ud;
	size_t n = size * nitems;
	h->last_byte_ms = hfi_api_now_ms();
	if (n >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
		/* a new response (after 1xx) */
		h->headers_done = false;
		h->res->retry_after_s = -1;
	} else if (n <= 2 && (n == 0 || p[0] == '\r' || p[0] == '\n')) {
		long code = 0;
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && !h->headers_done) {
			h->headers_done = true;
			h->res->status = code;
			if (h->req->on_headers != NULL)
				h->req->on_headers(h->req->ctx, code);
		}
	} else if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t i = 12;
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		long v = 0;
		size_t d = 0;
		for (; i < n && p[i] >= '0' && p[i] <= '9' && d < 9; i++, d++)
			v = v * 10 + (p[i] - '0');
		if (d > 0 && (i == n || p[i] == '\r' || p[i] == '\n' || p[i] == ' '))
			h->res->retry_after_s = v; /* HTTP-date form is ignored: backoff applies */
	}
	return n;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	hfi_api_http_t *h = ud;
	size_t n = size * nmemb;
	hfi_http_res_t *r = h->res;
	h->last_byte_ms = hfi_api_now_ms();
	if (!h->headers_done) { /* cannot happen with HTTP; be safe */
		long code = 0;
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
		h->headers_done = true;
		r->status = code;
		if (h->req->on_headers != NULL)
			h->req->on_headers(h->req->ctx, code);
	}
	if (r->status >= 200 && r->status < 300) {
		if (h->req->on_body != NULL) {
			if (!h->req->on_body(h->req->ctx, p, n)) {
				h->aborted = true;
				return 0;
			}
			return n;
		}
		if (r->len + n > h->req->max_body) {
			h->toobig = true;
			return 0;
		}
	} else if (r->len >= HFI_API_MAX_ERRBODY) {
		return n;
	} else if (r->len + n > HFI_API_MAX_ERRBODY) {
		n = HFI_API_MAX_ERRBODY - r->len;
		if (append(r, p, n) != HF_EOK) {
			h->nomem = true;
			return 0;
		}
		return size * nmemb;
	}
	if (append(r, p, n) != HF_EOK) {
		h->nomem = true;
		return 0;
	}
	return n;
}

static int sockopt_cb(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	(void)ud;
	if (purpose == CURLSOCKTYPE_IPCXN) {
		int cnt = 4;
		unsigned int uto = 90000; /* unacknowledged data for 90 s = dead peer */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
	}
	return CURL_SOCKOPT_OK;
}

/* ---- handle -------------------------------------------------------------------- */

#define SETOPT(opt, val)                                                         \
	do {                                                                     \
		if (ret == CURLE_OK)                                             \
			ret = curl_easy_setopt(h->easy, opt, val);               \
	} while (0)

static CURLcode set_blob(CURL *e, CURLoption opt, const hfi_api_blob_t *b)
{
	struct curl_blob blob = { .data = b->data, .len = b->len, .flags = CURL_BLOB_COPY };
	return curl_easy_setopt(e, opt, &blob);
}

hfi_api_http_t *hfi_api_http_new(const hfi_api_conn_t *conn, const char *user_agent,
				 const atomic_bool *stop, char *err, size_t errlen)
{
	hfi_api_http_t *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->stop = stop;
	h->multi = curl_multi_init();
	h->easy = curl_easy_init();
	if (h->multi == NULL || h->easy == NULL) {
		snprintf(err, errlen, "cannot create a libcurl handle");
		hfi_api_http_free(h);
		return NULL;
	}
	CURLcode ret = CURLE_OK;
	SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_USERAGENT, user_agent);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)HFI_API_CONNECT_TIMEOUT_MS);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_TCP_KEEPIDLE, 30L);
	SETOPT(CURLOPT_TCP_KEEPINTVL, 15L);
	SETOPT(CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_BUFFERSIZE, 256L * 1024);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, h);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, h);
#if LIBCURL_VERSION_NUM >= 0x075700
	SETOPT(CURLOPT_QUICK_EXIT, 1L); /* do not wait for a stuck resolver thread on stop */
#endif
	if (conn->insecure) {
		SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (conn->ca_data.data != NULL && ret == CURLE_OK)
		ret = set_blob(h->easy, CURLOPT_CAINFO_BLOB, &conn->ca_data);
	else if (conn->ca_file != NULL)
		SETOPT(CURLOPT_CAINFO, conn->ca_file);
	if (conn->cert_data.data != NULL && ret == CURLE_OK) {
		SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		if (ret == CURLE_OK)
			ret = set_blob(h->easy, CURLOPT_SSLCERT_BLOB, &conn->cert_data);
	} else if (conn->cert_file != NULL) {
		SETOPT(CURLOPT_SSLCERT, conn->cert_file);
	}
	if (conn->key_data.data != NULL && ret == CURLE_OK) {
		SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
		if (ret == CURLE_OK)
			ret = set_blob(h->easy, CURLOPT_SSLKEY_BLOB, &conn->key_data);
	} else if (conn->key_file != NULL) {
		SETOPT(CURLOPT_SSLKEY, conn->key_file);
	}
	if (conn->username != NULL) {
		SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(CURLOPT_USERNAME, conn->username);
		SETOPT(CURLOPT_PASSWORD, conn->password ? conn->password : "");
	}
	if (conn->proxy != NULL)
		SETOPT(CURLOPT_PROXY, conn->proxy);
	if (ret != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(ret));
		hfi_api_http_free(h);
		return NULL;
	}
	return h;
}

void hfi_api_http_free(hfi_api_http_t *h)
{
	if (h == NULL)
		return;
	if (h->easy != NULL)
		curl_easy_cleanup(h->easy);
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h);
}

void hfi_api_http_wakeup(hfi_api_http_t *h)
{
	if (h != NULL && h->multi != NULL)
		curl_multi_wakeup(h->multi);
}

void hfi_http_res_fini(hfi_http_res_t *res)
{
	free(res->body);
	res->body = NULL;
	res->len = res->cap = 0;
}

int hfi_api_http_get(hfi_api_http_t *h, const hfi_http_req_t *req, hfi_http_res_t *res)
{
	res->result = HFI_HTTP_FAIL;
	res->status = 0;
	res->retry_after_s = -1;
	res->len = 0;
	res->errmsg[0] = '\0';
	h->req = req;
	h->res = res;
	h->headers_done = h->aborted = h->toobig = h->nomem = false;
	h->errbuf[0] = '\0';

	struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
	struct curl_slist *hdrs2 = hdrs != NULL && req->auth != NULL ? curl_slist_append(hdrs, req->auth) : hdrs;
	if (hdrs2 == NULL) {
		curl_slist_free_all(hdrs);
		snprintf(res->errmsg, sizeof(res->errmsg), "out of memory");
		return res->result;
	}
	hdrs = hdrs2;
	CURLcode cc = curl_easy_setopt(h->easy, CURLOPT_URL, req->url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, hdrs);
	if (cc != CURLE_OK || curl_multi_add_handle(h->multi, h->easy) != CURLM_OK) {
		curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(hdrs);
		snprintf(res->errmsg, sizeof(res->errmsg), "libcurl: %s",
			 cc != CURLE_OK ? curl_easy_strerror(cc) : "cannot add the handle");
		return res->result;
	}
	int64_t start = hfi_api_now_ms();
	h->last_byte_ms = start;
	bool done = false;
	cc = CURLE_OK;
	for (;;) {
		int running = 0;
		CURLMcode mc = curl_multi_perform(h->multi, &running);
		if (mc != CURLM_OK) {
			snprintf(res->errmsg, sizeof(res->errmsg), "libcurl: %s", curl_multi_strerror(mc));
			break;
		}
		int q;
		CURLMsg *m;
		while ((m = curl_multi_info_read(h->multi, &q)) != NULL) {
			if (m->msg == CURLMSG_DONE) {
				done = true;
				cc = m->data.result;
			}
		}
		if (done)
			break;
		if (atomic_load(h->stop)) {
			res->result = HFI_HTTP_STOPPED;
			break;
		}
		int64_t now = hfi_api_now_ms();
		if (!h->headers_done && req->first_byte_ms > 0 && now - start > req->first_byte_ms) {
			res->result = HFI_HTTP_TIMEOUT;
			snprintf(res->errmsg, sizeof(res->errmsg), "no response within %lld s",
				 (long long)(req->first_byte_ms / 1000));
			break;
		}
		if (h->headers_done && req->idle_ms > 0 && now - h->last_byte_ms > req->idle_ms) {
			res->result = HFI_HTTP_TIMEOUT;
			snprintf(res->errmsg, sizeof(res->errmsg), "no data for %lld s (server hung?)",
				 (long long)(req->idle_ms / 1000));
			break;
		}
		if (req->total_ms > 0 && now - start > req->total_ms) {
			res->result = HFI_HTTP_TIMEOUT;
			snprintf(res->errmsg, sizeof(res->errmsg), "not complete after %lld s",
				 (long long)(req->total_ms / 1000));
			break;
		}
		mc = curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			snprintf(res->errmsg, sizeof(res->errmsg), "libcurl: %s", curl_multi_strerror(mc));
			break;
		}
	}
	curl_multi_remove_handle(h->multi, h->easy);
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (done) {
		if (h->aborted) {
			res->result = HFI_HTTP_ABORTED;
		} else if (h->toobig) {
			res->result = HFI_HTTP_TOOBIG;
			snprintf(res->errmsg, sizeof(res->errmsg), "response larger than %llu bytes",
				 (unsigned long long)req->max_body);
		} else if (h->nomem) {
			res->result = HFI_HTTP_FAIL;
			snprintf(res->errmsg, sizeof(res->errmsg), "out of memory");
		} else if (cc == CURLE_OK) {
			res->result = HFI_HTTP_OK;
		} else {
			res->result = cc == CURLE_OPERATION_TIMEDOUT ? HFI_HTTP_TIMEOUT : HFI_HTTP_FAIL;
			snprintf(res->errmsg, sizeof(res->errmsg), "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
		}
	}
	h->req = NULL;
	h->res = NULL;
	return res->result;
}
