/*
 * worker.c: the DNS worker threads, one per CPU the process may run on.
 * Each worker is an epoll loop over its own SO_REUSEPORT UDP socket per
 * listener (read with recvmmsg, answered with sendmmsg in batches), the
 * shared TCP listening sockets (EPOLLEXCLUSIVE, so one worker wakes per
 * connection) and the TCP connections it accepted, plus the stop eventfd.
 * Each owns an hf_worker_t and moves to a new engine after a reload.
 */
#include "shim.h"

#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define HFS_BATCH 16         /* datagrams per recvmmsg/sendmmsg */
#define HFS_RX_SIZE 4096     /* largest UDP query read */
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
	struct hfs_tag stop_tag;
	struct hfs_gen *gen;
	hf_worker_t *hw;
	struct hfs_tcpset tcp;
	struct mmsghdr rx[HFS_BATCH], tx[HFS_BATCH];
	struct iovec rxiov[HFS_BATCH], txiov[HFS_BATCH];
	struct sockaddr_storage peer[HFS_BATCH];
	union {
		struct cmsghdr align;
		uint8_t buf[HFS_CTL_SIZE];
	} rxctl[HFS_BATCH], txctl[HFS_BATCH];
	uint8_t *rxbuf; /* HFS_BATCH * HFS_RX_SIZE */
	uint8_t *txbuf; /* HFS_BATCH * HFS_MSG_MAX, slot 0 doubles as TCP scratch */
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
	int ret = hf_answer(w->hw, listener, q, qlen, client, transport, out,
			    cap, &rlen);
	if (ret < 0) {
		atomic_fetch_add(&hfs_srv.stats.answer_errors, 1);
		return 0;
	}
	switch (ret) {
	case HF_ANSWER:
		return rlen <= cap ? rlen : 0;
	case HF_FORWARD:
		return hfs_forward(w->hw, q, qlen, transport, out, cap,
				   hfs_srv.stop_fd);
	default:
		return 0;
	}
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

static void udp_ready(struct hfs_worker *w, int li)
{
	int fd = w->udp_fd[li];
	int wildcard = hfs_srv.l[li].wildcard;
	for (int round = 0; round < HFS_ROUNDS; round++) {
		for (int i = 0; i < HFS_BATCH; i++) {
			struct msghdr *h = &w->rx[i].msg_hdr;
			w->rxiov[i].iov_base = w->rxbuf + (size_t)i * HFS_RX_SIZE;
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
			size_t len = hfs_process(w, li, w->rxbuf + (size_t)i * HFS_RX_SIZE,
						 w->rx[i].msg_len,
						 (const struct sockaddr *)&client,
						 HF_UDP, out, HFS_MSG_MAX);
			if (len == 0)
				continue;
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
		}
		udp_send(fd, w->tx, m);
		if (n < HFS_BATCH)
			return;
	}
}

/* Move to the current engine generation after a reload. */
static void sync_gen(struct hfs_worker *w)
{
	if (hfs_gen_current() == w->gen)
		return;
	struct hfs_gen *g = hfs_gen_acquire();
	if (g == NULL)
		return;
	hf_worker_t *hw = hf_worker_new(g->engine);
	if (hw == NULL) { /* try again on the next tick */
		hfs_gen_release(g);
		return;
	}
	hf_worker_free(w->hw);
	hfs_gen_release(w->gen);
	w->hw = hw;
	w->gen = g;
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
	hf_worker_free(w->hw);
	hfs_gen_release(w->gen);
	free(w->rxbuf);
	free(w->txbuf);
}

static int worker_init(struct hfs_worker *w, int id, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->ep = -1;
	w->tcp.next_deadline = INT64_MAX;
	for (int li = 0; li < HFS_MAX_LISTENERS; li++)
		w->udp_fd[li] = -1;
	w->gen = hfs_gen_acquire();
	w->hw = w->gen ? hf_worker_new(w->gen->engine) : NULL;
	w->rxbuf = malloc((size_t)HFS_BATCH * HFS_RX_SIZE);
	w->txbuf = malloc((size_t)HFS_BATCH * HFS_MSG_MAX);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->hw == NULL || w->rxbuf == NULL || w->txbuf == NULL || w->ep < 0) {
		snprintf(err, errlen, "worker %d: out of memory or descriptors", id);
		return -1;
	}
	w->stop_tag.kind = HFS_K_STOP;
	if (ep_add(w->ep, hfs_srv.stop_fd, EPOLLIN, &w->stop_tag) != 0) {
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
	for (int i = 0; i < n; i++)
		workers[i].ep = -1;
	/* bind everything first so a failure opens no half-started server */
	for (int i = 0; i < n; i++) {
		if (worker_init(&workers[i], i, err, errlen) != 0) {
			for (int j = 0; j <= i; j++)
				worker_free(&workers[j]);
			free(workers);
			workers = NULL;
			nworkers = 0;
			return -1;
		}
	}
	for (int i = 0; i < n; i++) {
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
	for (int i = 0; i < nworkers; i++)
		worker_free(&workers[i]);
	free(workers);
	workers = NULL;
	nworkers = 0;
}
