/*
 * fwdq.c: the forwarding thread pool.  A UDP query the engine forwards
 * (HF_FORWARD) or whose cached answer needs a background refresh
 * (HF_ANSWER_REFRESH) leaves the DNS worker: the worker hands over the
 * whole forwarding context (struct hfs_fctx: the hf_worker_t that holds
 * the verdict, the query buffer it points into, the client address, the
 * socket to reply on) and takes a free one for its next query, so a slow
 * or dead upstream never stalls the answers the engine gives from memory.
 *
 * Contexts are preallocated (queue + threads + one per worker); no free
 * context = queue full: the worker answers SERVFAIL at once
 * (holdfast_forward_queue_full_total); a query that waited longer than
 * the forward's 5 s deadline for a thread is answered SERVFAIL too.  HFS_FWD_THREADS threads (env
 * HOLDFAST_FORWARD_THREADS, queue HOLDFAST_FORWARD_QUEUE) run hfs_forward
 * exactly as the worker did and send the reply with sendmsg on the
 * listener's UDP socket, or (TCP) post it back to the worker that owns
 * the connection (hfs_worker_complete).  A context's hf_worker_t belongs to one engine
 * generation (reference held); it moves to the current one when it is
 * free (idle pool threads check the free list every HFS_IDLE_MS, busy ones
 * every HFS_TICK_MS), so a retired engine is released within a second and
 * never used after close.
 */
#include "forward_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HFS_FWD_THREADS 64   /* exchanges in flight at once */
#define HFS_FWD_QUEUE 128    /* queries waiting for a thread */
#define HFS_FWD_STACK (1024 * 1024)
#define HFS_IDLE_MS 500      /* an idle thread looks at the free list */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	struct hfs_fctx *ctx;   /* all contexts */
	int nctx;
	uint8_t *bufs;          /* nctx + extra buffers of HFS_RX_SIZE */
	int nbufs;
	struct hfs_fctx *free;  /* LIFO */
	struct hfs_fctx *head, *tail; /* work FIFO */
	pthread_t *threads;
	int nthreads, started;
} fq = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *s = getenv(name);
	if (s == NULL || *s == '\0')
		return def;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return def;
	return (int)v;
}

/* Move a context that nobody uses to the current generation. */
void hfs_fctx_sync(struct hfs_fctx *c)
{
	if (c->gen != NULL && c->gen == hfs_gen_current())
		return;
	struct hfs_gen *g = hfs_gen_acquire();
	if (g == NULL)
		return;
	hf_worker_t *hw = hf_worker_new(g->engine);
	if (hw == NULL) { /* keep the old one; retried later */
		hfs_gen_release(g);
		return;
	}
	hf_worker_free(c->hw);
	hfs_gen_release(c->gen);
	c->hw = hw;
	c->gen = g;
}

struct hfs_fctx *hfs_fwdq_get(void)
{
	pthread_mutex_lock(&fq.lock);
	struct hfs_fctx *c = fq.free;
	if (c != NULL)
		fq.free = c->next;
	pthread_mutex_unlock(&fq.lock);
	if (c != NULL)
		c->next = NULL;
	return c;
}

static void put_locked(struct hfs_fctx *c)
{
	c->next = fq.free;
	fq.free = c;
}

void hfs_fwdq_put(struct hfs_fctx *c)
{
	pthread_mutex_lock(&fq.lock);
	put_locked(c);
	pthread_mutex_unlock(&fq.lock);
}

void hfs_fwdq_push(struct hfs_fctx *c)
{
	c->next = NULL;
	c->queued_ms = hfs_now_ms();
	pthread_mutex_lock(&fq.lock);
	if (fq.tail != NULL)
		fq.tail->next = c;
	else
		fq.head = c;
	fq.tail = c;
	pthread_cond_signal(&fq.cond);
	pthread_mutex_unlock(&fq.lock);
}

uint8_t *hfs_fwdq_buf(int i)
{
	int idx = fq.nctx + i;
	return idx >= 0 && idx < fq.nbufs ? fq.bufs + (size_t)idx * HFS_RX_SIZE : NULL;
}

/* 1 when c went back to its worker (TCP), 0 = free it. */
static int run(struct hfs_fctx *c, uint8_t *out)
{
	int late = hfs_now_ms() - c->queued_ms > HFS_FWD_TOTAL_MS;
	int transport = c->tcp ? HF_TCP : HF_UDP;
	if (c->refresh && late)
		return 0; /* the cache gives it up on its own */
	if (c->refresh) { /* the reply goes nowhere: hf_forward_reply caches it */
		(void)hfs_forward(c->hw, c->buf, c->qlen, transport, out, HFS_MSG_MAX,
				  hfs_srv.stop_fd);
		return 0;
	}
	size_t n = late ? hfs_forward_fail(c->hw, c->buf, c->qlen, out, HFS_MSG_MAX,
					   "forward queue timeout")
			: hfs_forward(c->hw, c->buf, c->qlen, transport, out, HFS_MSG_MAX,
				      hfs_srv.stop_fd);
	if (c->tcp) { /* the connection belongs to the worker: post it back */
		c->reply = n > 0 ? malloc(n) : NULL;
		c->rlen = c->reply != NULL ? n : 0;
		if (c->reply != NULL)
			memcpy(c->reply, out, n);
		hfs_fctx_sync(c);
		hfs_worker_complete(c->owner, c);
		return 1;
	}
	if (n == 0)
		return 0;
	struct iovec iov = {.iov_base = out, .iov_len = n};
	struct msghdr m;
	memset(&m, 0, sizeof(m));
	m.msg_name = &c->peer;
	m.msg_namelen = c->peerlen;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (c->ctllen > 0) {
		m.msg_control = c->ctl.buf;
		m.msg_controllen = c->ctllen;
	}
	while (sendmsg(c->fd, &m, MSG_DONTWAIT) < 0 && errno == EINTR)
		;
	return 0;
}

static _Atomic int64_t last_sync_ms;

/* Free contexts of a retired generation move on (outside the lock). */
static void sync_free(void)
{
	atomic_store(&last_sync_ms, hfs_now_ms());
	struct hfs_gen *cur = hfs_gen_current();
	for (;;) {
		struct hfs_fctx *stale = NULL;
		pthread_mutex_lock(&fq.lock);
		for (struct hfs_fctx **pp = &fq.free; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->gen != cur && (*pp)->hw != NULL) {
				stale = *pp;
				*pp = stale->next;
				break;
			}
		}
		pthread_mutex_unlock(&fq.lock);
		if (stale == NULL)
			return;
		hfs_fctx_sync(stale);
		int moved = stale->gen == cur;
		hfs_fwdq_put(stale); /* a worker may take it at once */
		if (!moved) /* could not move it now (or another reload): next tick */
			return;
	}
}

static void *pool_main(void *arg)
{
	uint8_t *out = arg;
	pthread_mutex_lock(&fq.lock);
	while (!fq.stop) {
		struct hfs_fctx *c = fq.head;
		if (c == NULL) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)HFS_IDLE_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			int r = pthread_cond_timedwait(&fq.cond, &fq.lock, &ts);
			if (r == ETIMEDOUT && !fq.stop &&
			    hfs_now_ms() - atomic_load(&last_sync_ms) >= HFS_TICK_MS) {
				pthread_mutex_unlock(&fq.lock);
				sync_free();
				pthread_mutex_lock(&fq.lock);
			}
			continue;
		}
		fq.head = c->next;
		if (fq.head == NULL)
			fq.tail = NULL;
		pthread_mutex_unlock(&fq.lock);
		int posted = run(c, out);
		if (!posted)
			hfs_fctx_sync(c);
		if (hfs_now_ms() - atomic_load(&last_sync_ms) >= HFS_TICK_MS)
			sync_free(); /* busy pool: no thread times out */
		pthread_mutex_lock(&fq.lock);
		if (!posted)
			put_locked(c);
	}
	pthread_mutex_unlock(&fq.lock);
	free(out);
	return NULL;
}

int hfs_fwdq_start(int nworkers, int extra_bufs, char *err, size_t errlen)
{
	int nthreads = env_int("HOLDFAST_FORWARD_THREADS", HFS_FWD_THREADS, 1, 1024);
	int queue = env_int("HOLDFAST_FORWARD_QUEUE", HFS_FWD_QUEUE, 0, 65536);
	fq.stop = 0;
	fq.nctx = nworkers + nthreads + queue;
	fq.nbufs = fq.nctx + extra_bufs;
	fq.ctx = calloc((size_t)fq.nctx, sizeof(*fq.ctx));
	fq.bufs = malloc((size_t)fq.nbufs * HFS_RX_SIZE);
	fq.threads = calloc((size_t)nthreads, sizeof(*fq.threads));
	if (fq.ctx == NULL || fq.bufs == NULL || fq.threads == NULL)
		goto nomem;
	for (int i = 0; i < fq.nctx; i++) {
		struct hfs_fctx *c = &fq.ctx[i];
		c->buf = fq.bufs + (size_t)i * HFS_RX_SIZE;
		hfs_fctx_sync(c);
		if (c->hw == NULL)
			goto nomem;
		put_locked(c);
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, HFS_FWD_STACK);
	for (int i = 0; i < nthreads; i++) {
		uint8_t *out = malloc(HFS_MSG_MAX);
		int ret = out == NULL ? ENOMEM
				      : pthread_create(&fq.threads[i], &attr, pool_main, out);
		if (ret != 0) {
			free(out);
			pthread_attr_destroy(&attr);
			snprintf(err, errlen, "cannot start forward thread: %s", strerror(ret));
			hfs_fwdq_stop();
			return -1;
		}
		fq.nthreads++;
	}
	pthread_attr_destroy(&attr);
	return 0;
nomem:
	snprintf(err, errlen, "forward pool: out of memory");
	hfs_fwdq_stop();
	return -1;
}

/* After the workers stopped (stop_fd is readable: exchanges end at once). */
void hfs_fwdq_stop(void)
{
	pthread_mutex_lock(&fq.lock);
	fq.stop = 1;
	pthread_cond_broadcast(&fq.cond);
	pthread_mutex_unlock(&fq.lock);
	for (int i = 0; i < fq.nthreads; i++)
		pthread_join(fq.threads[i], NULL);
	for (int i = 0; fq.ctx != NULL && i < fq.nctx; i++) {
		free(fq.ctx[i].reply); /* TCP replies no worker took */
		hf_worker_free(fq.ctx[i].hw);
		hfs_gen_release(fq.ctx[i].gen);
	}
	free(fq.ctx);
	free(fq.bufs);
	free(fq.threads);
	fq.ctx = NULL;
	fq.bufs = NULL;
	fq.threads = NULL;
	fq.free = fq.head = fq.tail = NULL;
	fq.nctx = fq.nbufs = fq.nthreads = 0;
}
