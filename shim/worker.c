/*
 * worker.c: the DNS worker threads, one per CPU the process may run on.
 * Each worker is an epoll loop over its own SO_REUSEPORT UDP socket per
 * listener (read with recvmmsg, answered with sendmmsg in batches), the
 * shared TCP listening sockets (EPOLLEXCLUSIVE, so one worker wakes per
 * connection) and the TCP connections it accepted, plus the stop eventfd.
 * Each holds a forwarding context (struct hfs_fctx: an hf_worker_t and a
 * query buffer) and moves it to a new engine after a reload.  A UDP query
 * the engine forwards leaves with its context for the forward pool
 * (fwdq.c), which sends the reply; the worker takes a free context and
 * goes on, so a dead upstream never stalls cluster answers.  No free
 * context: SERVFAIL at once.  TCP forwards go to the pool too (the query
 * copied into the context first); the reply comes back through the
 * worker's completion queue (an eventfd in its epoll set) and tcp.c
 * appends it to the connection if that is still open.
 */
#include "shim.h"

#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define HFS_BATCH 16         /* datagrams per recvmmsg/sendmmsg */
#define HFS_CTL_SIZE 128     /* room for one IP(V6)_PKTINFO cmsg */
#define HFS_ROUNDS 8         /* batches per wakeup before other fds */
#define HFS_MAX_WORKERS 256

struct hfs_worker {
	int id;
	pthread_t thread;
	int started;
	int ep;
	int udp_fd[HFS_MAX_LISTENERS];
	struct hfs_tag udp_tag[HFS_MAX_LISTENERS];
	struct hfs_tag tcpl_tag[HFS_MAX_LISTENERS];
	struct hfs_tag stop_tag, done_tag;
	int done_fd;            /* eventfd: TCP forwards came back */
	pthread_mutex_t done_lock;
	struct hfs_fctx *done;  /* LIFO of completed TCP forwards */
	struct hfs_fctx *cur;   /* answers with cur->hw */
	struct hfs_tcpset tcp;
	struct mmsghdr rx[HFS_BATCH], tx[HFS_BATCH];
	struct iovec rxiov[HFS_BATCH], txiov[HFS_BATCH];
	struct sockaddr_storage peer[HFS_BATCH];
	union {
		struct cmsghdr align;
		uint8_t buf[HFS_CTL_SIZE];
	} rxctl[HFS_BATCH], txctl[HFS_BATCH];
	uint8_t *rxslot[HFS_BATCH]; /* HFS_RX_SIZE each, swapped with contexts' */
	uint8_t *txbuf; /* HFS_BATCH * HFS_MSG_MAX, slot 0 doubles as TCP scratch */
	/* HF_ANSWER_REFRESH (cache refresh): the exchange to run once the
	 * reply hfs_process returned has been sent (hfs_worker_refresh) */
	int refresh;
	const uint8_t *refresh_q;
	size_t refresh_qlen;
	int refresh_transport;
	int handoff;   /* UDP HF_FORWARD: hand cur to the forward pool */
};

static struct hfs_worker *workers;
static int nworkers;

uint8_t *hfs_worker_scratch(struct hfs_worker *w)
{
	return w->txbuf;
}

int hfs_worker_epoll(struct hfs_worker *w)
{
	return w->ep;
}

void hfs_worker_track_deadline(struct hfs_worker *w, int64_t deadline)
{
	if (deadline < w->tcp.next_deadline)
		w->tcp.next_deadline = deadline;
}

size_t hfs_process(struct hfs_worker *w, int listener, const uint8_t *q,
		   size_t qlen, const struct sockaddr *client, int transport,
		   uint8_t *out, size_t cap)
{
	size_t rlen = 0;
	int ret = hf_answer(w->cur->hw, listener, q, qlen, client, transport, out,
			    cap, &rlen);
	if (ret < 0) {
		atomic_fetch_add(&hfs_srv.stats.answer_errors, 1);
		return 0;
	}
	switch (ret) {
	case HF_ANSWER:
		return rlen <= cap ? rlen : 0;
	case HF_FORWARD:
		if (transport == HF_UDP || q == w->cur->buf) { /* the caller hands it off */
			w->handoff = 1;
			return 0;
		}
		return hfs_forward(w->cur->hw, q, qlen, transport, out, cap,
				   hfs_srv.stop_fd);
	case HF_ANSWER_REFRESH:
		/* send this now; the caller runs the refresh right after */
		w->refresh = 1;
		w->refresh_q = q;
		w->refresh_qlen = qlen;
		w->refresh_transport = transport;
		return rlen <= cap ? rlen : 0;
	default:
		return 0;
	}
}

uint8_t *hfs_worker_qbuf(struct hfs_worker *w)
{
	return w->cur->buf;
}

int hfs_worker_handoff_pending(struct hfs_worker *w)
{
	int h = w->handoff;
	w->handoff = 0;
	return h;
}

int hfs_worker_handoff_tcp(struct hfs_worker *w, struct hfs_conn *conn, uint64_t serial,
			   size_t qlen, int refresh, uint8_t *out, size_t cap, size_t *outlen)
{
	struct hfs_fctx *c = w->cur;
	*outlen = 0;
	if (refresh)
		w->refresh = 0;
	struct hfs_fctx *n = hfs_fwdq_get();
	if (n == NULL) {
		if (!refresh) {
			hfs_forward_count_queue_full();
			*outlen = hfs_forward_fail(c->hw, c->buf, qlen, out, cap,
						   "forward queue full");
		}
		return 0;
	}
	c->qlen = qlen;
	c->refresh = refresh;
	c->tcp = 1;
	c->owner = w;
	c->conn = conn;
	c->serial = serial;
	c->fd = -1;
	c->reply = NULL;
	c->rlen = 0;
	hfs_fwdq_push(c);
	w->cur = n;
	return 1;
}

void hfs_worker_complete(struct hfs_worker *w, struct hfs_fctx *c)
{
	pthread_mutex_lock(&w->done_lock);
	c->next = w->done;
	w->done = c;
	pthread_mutex_unlock(&w->done_lock);
	uint64_t one = 1;
	ssize_t wr = write(w->done_fd, &one, sizeof(one));
	(void)wr;
}

static void drain_done(struct hfs_worker *w)
{
	uint64_t v;
	ssize_t rd = read(w->done_fd, &v, sizeof(v));
	(void)rd;
	pthread_mutex_lock(&w->done_lock);
	struct hfs_fctx *list = w->done, *fifo = NULL;
	w->done = NULL;
	pthread_mutex_unlock(&w->done_lock);
	while (list != NULL) { /* oldest first */
		struct hfs_fctx *nx = list->next;
		list->next = fifo;
		fifo = list;
		list = nx;
	}
	while (fifo != NULL) {
		struct hfs_fctx *nx = fifo->next;
		hfs_tcp_done(w, &w->tcp, fifo);
		free(fifo->reply);
		fifo->reply = NULL;
		fifo->rlen = 0;
		hfs_fwdq_put(fifo);
		fifo = nx;
	}
}

int hfs_worker_refresh_pending(struct hfs_worker *w)
{
	return w->refresh;
}

void hfs_worker_refresh(struct hfs_worker *w, uint8_t *buf, size_t cap)
{
	if (!w->refresh)
		return;
	w->refresh = 0;
	/* the reply goes nowhere: hf_forward_reply stores it in the cache */
	(void)hfs_forward(w->cur->hw, w->refresh_q, w->refresh_qlen, w->refresh_transport, buf, cap,
			  hfs_srv.stop_fd);
}

/* Reply from the address the query was sent to (wildcard sockets). */
static socklen_t reply_ctl(const struct msghdr *rx, void *out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(rx); c != NULL;
	     c = CMSG_NXTHDR((struct msghdr *)rx, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo in, pi;
			memcpy(&in, CMSG_DATA(c), sizeof(in));
			memset(&pi, 0, sizeof(pi));
			pi.ipi_spec_dst = in.ipi_addr;
			struct cmsghdr *o = out;
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct cmsghdr *o = out;
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(o), &pi, sizeof(pi));
			return CMSG_SPACE(sizeof(pi));
		}
	}
	return 0;
}

static void udp_send(int fd, struct mmsghdr *tx, int m)
{
	int off = 0;
	while (off < m) {
		int r = sendmmsg(fd, tx + off, (unsigned)(m - off), MSG_DONTWAIT);
		if (r > 0) {
			off += r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return; /* socket buffer full: drop the rest (UDP) */
		} else {
			off++; /* this datagram cannot be sent; skip it */
		}
	}
}

/* Query i (slot rxslot[i]) leaves with w->cur for the forward pool; w
 * takes a free context.  Returns the length of a reply to send now (the
 * SERVFAIL when the pool is full), else 0. */
static size_t handoff(struct hfs_worker *w, int fd, int i, int refresh, uint8_t *out)
{
	struct hfs_fctx *c = w->cur;
	struct msghdr *h = &w->rx[i].msg_hdr;
	struct hfs_fctx *n = hfs_fwdq_get();
	if (n == NULL) {
		if (refresh) /* the cache gives the refresh up on its own */
			return 0;
		hfs_forward_count_queue_full();
		return hfs_forward_fail(c->hw, w->rxslot[i], w->rx[i].msg_len, out,
					HFS_MSG_MAX, "forward queue full");
	}
	uint8_t *spare = c->buf;
	c->buf = w->rxslot[i]; /* c->hw points into it */
	w->rxslot[i] = spare;
	c->qlen = w->rx[i].msg_len;
	c->refresh = refresh;
	c->tcp = 0;
	c->fd = fd;
	c->peer = w->peer[i];
	c->peerlen = h->msg_namelen;
	c->ctllen = h->msg_control != NULL ? reply_ctl(h, c->ctl.buf) : 0;
	hfs_fwdq_push(c);
	w->cur = n;
	return 0;
}

static void udp_ready(struct hfs_worker *w, int li)
{
	int fd = w->udp_fd[li];
	int wildcard = hfs_srv.l[li].wildcard;
	for (int round = 0; round < HFS_ROUNDS; round++) {
		for (int i = 0; i < HFS_BATCH; i++) {
			struct msghdr *h = &w->rx[i].msg_hdr;
			w->rxiov[i].iov_base = w->rxslot[i];
			w->rxiov[i].iov_len = HFS_RX_SIZE;
			h->msg_name = &w->peer[i];
			h->msg_namelen = sizeof(w->peer[i]);
			h->msg_iov = &w->rxiov[i];
			h->msg_iovlen = 1;
			h->msg_control = wildcard ? w->rxctl[i].buf : NULL;
			h->msg_controllen = wildcard ? HFS_CTL_SIZE : 0;
			h->msg_flags = 0;
		}
		int n = recvmmsg(fd, w->rx, HFS_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		int m = 0;
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &w->rx[i].msg_hdr;
			if (h->msg_flags & MSG_TRUNC) {
				atomic_fetch_add(&hfs_srv.stats.udp_truncated, 1);
				continue;
			}
			struct sockaddr_storage client = w->peer[i];
			socklen_t clen = h->msg_namelen;
			hfs_unmap_v4(&client, &clen);
			uint8_t *out = w->txbuf + (size_t)m * HFS_MSG_MAX;
			size_t len = hfs_process(w, li, w->rxslot[i], w->rx[i].msg_len,
						 (const struct sockaddr *)&client,
						 HF_UDP, out, HFS_MSG_MAX);
			if (w->handoff) {
				w->handoff = 0;
				len = handoff(w, fd, i, 0, out);
			}
			int refresh = w->refresh;
			w->refresh = 0;
			if (len == 0) {
				if (refresh)
					(void)handoff(w, fd, i, 1, out);
				continue;
			}
			struct msghdr *t = &w->tx[m].msg_hdr;
			memset(t, 0, sizeof(*t));
			w->txiov[m].iov_base = out;
			w->txiov[m].iov_len = len;
			t->msg_name = &w->peer[i];
			t->msg_namelen = h->msg_namelen;
			t->msg_iov = &w->txiov[m];
			t->msg_iovlen = 1;
			if (wildcard) {
				socklen_t cl = reply_ctl(h, w->txctl[m].buf);
				t->msg_control = cl ? w->txctl[m].buf : NULL;
				t->msg_controllen = cl;
			}
			m++;
			if (refresh) /* HF_ANSWER_REFRESH: the pool runs the refresh */
				(void)handoff(w, fd, i, 1, NULL);
		}
		udp_send(fd, w->tx, m);
		if (n < HFS_BATCH)
			return;
	}
}

/* Move to the current engine generation after a reload. */
static void sync_gen(struct hfs_worker *w)
{
	hfs_fctx_sync(w->cur); /* failure: try again on the next tick */
}

static void *worker_main(void *arg)
{
	struct hfs_worker *w = arg;
	struct epoll_event ev[64];
	for (;;) {
		sync_gen(w);
		int64_t now = hfs_now_ms();
		int timeout = HFS_TICK_MS;
		if (w->tcp.next_deadline <= now)
			w->tcp.next_deadline = hfs_tcp_expire(&w->tcp, now);
		if (w->tcp.next_deadline - now < timeout)
			timeout = (int)(w->tcp.next_deadline - now);
		if (timeout < 0)
			timeout = 0;
		int n = epoll_wait(w->ep, ev, 64, timeout);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct hfs_tag *t = ev[i].data.ptr;
			switch (t->kind) {
			case HFS_K_STOP:
				goto out;
			case HFS_K_UDP:
				udp_ready(w, t->idx);
				break;
			case HFS_K_TCPL:
				hfs_tcp_accept(w, &w->tcp, t->idx);
				break;
			case HFS_K_CONN:
				hfs_tcp_event(w, &w->tcp, (struct hfs_conn *)t,
					      ev[i].events);
				break;
			case HFS_K_DONE:
				drain_done(w);
				break;
			}
		}
		if (atomic_load(&hfs_srv.shutting_down) > 1)
			break;
	}
out:
	hfs_tcp_close_all(&w->tcp);
	return NULL;
}

static int cpu_count(void)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	return n > HFS_MAX_WORKERS ? HFS_MAX_WORKERS : n;
}

static int ep_add(int ep, int fd, uint32_t events, void *ptr)
{
	struct epoll_event e;
	memset(&e, 0, sizeof(e));
	e.events = events;
	e.data.ptr = ptr;
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void worker_free(struct hfs_worker *w)
{
	for (int li = 0; li < hfs_srv.nlisteners; li++)
		if (w->udp_fd[li] >= 0)
			close(w->udp_fd[li]);
	if (w->ep >= 0)
		close(w->ep);
	if (w->done_fd >= 0) { /* completions left: fwdq_stop freed them */
		close(w->done_fd);
		pthread_mutex_destroy(&w->done_lock);
	}
	free(w->txbuf); /* cur and the rx slots belong to the pool (fwdq.c) */
}

static int worker_init(struct hfs_worker *w, int id, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->ep = -1;
	w->tcp.next_deadline = INT64_MAX;
	pthread_mutex_init(&w->done_lock, NULL);
	w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	for (int li = 0; li < HFS_MAX_LISTENERS; li++)
		w->udp_fd[li] = -1;
	w->txbuf = malloc((size_t)HFS_BATCH * HFS_MSG_MAX);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->txbuf == NULL || w->ep < 0) {
		snprintf(err, errlen, "worker %d: out of memory or descriptors", id);
		return -1;
	}
	w->stop_tag.kind = HFS_K_STOP;
	w->done_tag.kind = HFS_K_DONE;
	if (w->done_fd < 0 || ep_add(w->ep, hfs_srv.stop_fd, EPOLLIN, &w->stop_tag) != 0 ||
	    ep_add(w->ep, w->done_fd, EPOLLIN, &w->done_tag) != 0) {
		snprintf(err, errlen, "worker %d: epoll: %s", id, strerror(errno));
		return -1;
	}
	for (int li = 0; li < hfs_srv.nlisteners; li++) {
		struct hfs_listener *l = &hfs_srv.l[li];
		int family = l->family;
		int fd = hfs_listen(l->addr, l->port, SOCK_DGRAM, 1, &family, err,
				    errlen);
		if (fd < 0)
			return -1;
		w->udp_fd[li] = fd;
		if (l->wildcard) {
			int one = 1;
			if (family == AF_INET6)
				(void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO,
						 &one, sizeof(one));
			else
				(void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one,
						 sizeof(one));
		}
		w->udp_tag[li].kind = HFS_K_UDP;
		w->udp_tag[li].idx = li;
		w->tcpl_tag[li].kind = HFS_K_TCPL;
		w->tcpl_tag[li].idx = li;
		if (ep_add(w->ep, fd, EPOLLIN, &w->udp_tag[li]) != 0 ||
		    (ep_add(w->ep, l->tcp_fd, EPOLLIN | EPOLLEXCLUSIVE,
			    &w->tcpl_tag[li]) != 0 &&
		     ep_add(w->ep, l->tcp_fd, EPOLLIN, &w->tcpl_tag[li]) != 0)) {
			snprintf(err, errlen, "worker %d: epoll: %s", id,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

int hfs_workers_start(hf_engine_t *engine, char *err, size_t errlen)
{
	(void)engine;
	int n = cpu_count();
	workers = calloc((size_t)n, sizeof(*workers));
	if (workers == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	nworkers = n;
	for (int i = 0; i < n; i++) {
		workers[i].ep = -1;
		workers[i].done_fd = -1;
	}
	/* bind everything first so a failure opens no half-started server;
	 * then the forward pool (queries wait in the socket buffers) */
	int i = 0;
	for (; i < n; i++)
		if (worker_init(&workers[i], i, err, errlen) != 0)
			break;
	if (i == n && hfs_fwdq_start(n, n * HFS_BATCH, err, errlen) != 0)
		i = n - 1; /* free them all */
	else if (i == n)
		i = -1;
	if (i >= 0) {
		for (int j = 0; j <= i; j++)
			worker_free(&workers[j]);
		free(workers);
		workers = NULL;
		nworkers = 0;
		return -1;
	}
	for (int k = 0; k < n; k++) {
		struct hfs_worker *w = &workers[k];
		w->cur = hfs_fwdq_get(); /* one per worker is reserved */
		for (int b = 0; b < HFS_BATCH; b++)
			w->rxslot[b] = hfs_fwdq_buf(k * HFS_BATCH + b);
	}
	for (i = 0; i < n; i++) {
		int ret = pthread_create(&workers[i].thread, NULL, worker_main,
					 &workers[i]);
		if (ret != 0) {
			snprintf(err, errlen, "cannot start worker thread: %s",
				 strerror(ret));
			atomic_store(&hfs_srv.shutting_down, 2);
			uint64_t one = 1;
			ssize_t wr = write(hfs_srv.stop_fd, &one, sizeof(one));
			(void)wr;
			hfs_workers_stop();
			return -1;
		}
		workers[i].started = 1;
	}
	return 0;
}

void hfs_workers_stop(void)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i].started)
			pthread_join(workers[i].thread, NULL);
	hfs_fwdq_stop(); /* its threads reply on the workers' sockets */
	for (int i = 0; i < nworkers; i++)
		worker_free(&workers[i]);
	free(workers);
	workers = NULL;
	nworkers = 0;
}
