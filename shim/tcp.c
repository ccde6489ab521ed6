/*
 * tcp.c: DNS over TCP connections of one worker: accept under the
 * process-wide cap, read 2-byte length-prefixed queries, answer them in
 * order (pipelining: several queries in flight per connection), write the
 * replies with back-pressure, and apply CoreDNS's timeouts: 3 s to read a
 * query, 5 s to write a reply, 10 s idle between queries.  A forwarded
 * query goes to the forward pool (fwdq.c) and its reply is appended when
 * it comes back (hfs_tcp_done), possibly after later queries' replies;
 * the connection stays open while forwards are in flight.
 */
#include "shim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define HFS_TCP_RBUF0 1024        /* first read buffer; grows per query */
#define HFS_TCP_WPEND (64 * 1024) /* stop reading above this many unsent bytes */
#define HFS_ACCEPT_MAX 64         /* accepts per wakeup */

struct hfs_conn {
	struct hfs_tag tag; /* first: epoll data.ptr */
	int fd;
	int li;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint8_t *rb;
	size_t rlen, rcap;
	uint8_t *wb;
	size_t wlen, woff, wcap;
	uint32_t events;    /* registered epoll events */
	int rd_eof;
	int inflight;       /* queries in the forward pool */
	uint64_t serial;    /* tells a reused address from this connection */
	int64_t rdl, wdl, idl, deadline;
	struct hfs_conn *prev, *next;
};

static void conn_close(struct hfs_tcpset *set, struct hfs_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		set->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd); /* also leaves the epoll set */
	free(c->rb);
	free(c->wb);
	free(c);
	atomic_fetch_sub(&hfs_srv.tcp_conns, 1);
}

void hfs_tcp_accept(struct hfs_worker *w, struct hfs_tcpset *set, int li)
{
	int lfd = hfs_srv.l[li].tcp_fd;
	for (int i = 0; i < HFS_ACCEPT_MAX; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN: another worker took it; EMFILE: retry later */
		}
		if (atomic_fetch_add(&hfs_srv.tcp_conns, 1) >= HFS_TCP_CONN_MAX) {
			atomic_fetch_sub(&hfs_srv.tcp_conns, 1);
			atomic_fetch_add(&hfs_srv.stats.tcp_rejected, 1);
			close(fd);
			continue;
		}
		struct hfs_conn *c = calloc(1, sizeof(*c));
		uint8_t *rb = malloc(HFS_TCP_RBUF0);
		if (c == NULL || rb == NULL) {
			free(c);
			free(rb);
			close(fd);
			atomic_fetch_sub(&hfs_srv.tcp_conns, 1);
			continue;
		}
		c->tag.kind = HFS_K_CONN;
		c->serial = ++set->serial;
		c->fd = fd;
		c->li = li;
		c->peer = ss;
		c->peerlen = sl;
		hfs_unmap_v4(&c->peer, &c->peerlen);
		c->rb = rb;
		c->rcap = HFS_TCP_RBUF0;
		int64_t now = hfs_now_ms();
		c->idl = now + HFS_TCP_READ_MS; /* first query: read timeout */
		c->deadline = c->idl;
		c->events = EPOLLIN;
		struct epoll_event e;
		memset(&e, 0, sizeof(e));
		e.events = c->events;
		e.data.ptr = c;
		if (epoll_ctl(hfs_worker_epoll(w), EPOLL_CTL_ADD, fd, &e) != 0) {
			free(rb);
			free(c);
			close(fd);
			atomic_fetch_sub(&hfs_srv.tcp_conns, 1);
			continue;
		}
		c->next = set->head;
		if (set->head)
			set->head->prev = c;
		set->head = c;
		hfs_worker_track_deadline(w, c->deadline);
	}
}

static int wappend(struct hfs_conn *c, const uint8_t *msg, size_t len)
{
	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	size_t need = c->wlen + 2 + len;
	if (need > c->wcap) {
		if (c->woff > 0) { /* compact before growing */
			memmove(c->wb, c->wb + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
			need = c->wlen + 2 + len;
		}
		if (need > c->wcap) {
			size_t ncap = c->wcap ? c->wcap : 1024;
			while (ncap < need)
				ncap *= 2;
			uint8_t *nb = realloc(c->wb, ncap);
			if (nb == NULL)
				return -1;
			c->wb = nb;
			c->wcap = ncap;
		}
	}
	c->wb[c->wlen] = (uint8_t)(len >> 8);
	c->wb[c->wlen + 1] = (uint8_t)len;
	memcpy(c->wb + c->wlen + 2, msg, len);
	c->wlen += 2 + len;
	return 0;
}

/* Answer every complete query in the read buffer, in order, while the
 * unsent output stays below HFS_TCP_WPEND.  -1 = close the connection. */
static int conn_flush(struct hfs_conn *c, int64_t now);

static int conn_answer(struct hfs_worker *w, struct hfs_conn *c, int64_t now)
{
	size_t off = 0;
	int ret = 0;
	while (c->wlen - c->woff < HFS_TCP_WPEND && c->rlen - off >= 2) {
		size_t mlen = ((size_t)c->rb[off] << 8) | c->rb[off + 1];
		if (mlen == 0) {
			ret = -1;
			break;
		}
		if (c->rlen - off - 2 < mlen) {
			if (mlen + 2 > c->rcap && off == 0) {
				uint8_t *nb = realloc(c->rb, mlen + 2);
				if (nb == NULL) {
					ret = -1;
					break;
				}
				c->rb = nb;
				c->rcap = mlen + 2;
			}
			break;
		}
		uint8_t *out = hfs_worker_scratch(w);
		const uint8_t *q = c->rb + off + 2;
		int copied = mlen <= HFS_RX_SIZE; /* may go to the forward pool */
		if (copied) {
			memcpy(hfs_worker_qbuf(w), q, mlen);
			q = hfs_worker_qbuf(w);
		}
		size_t n = hfs_process(w, c->li, q, mlen,
				       (const struct sockaddr *)&c->peer, HF_TCP,
				       out, HFS_MSG_MAX);
		if (hfs_worker_handoff_pending(w))
			c->inflight += hfs_worker_handoff_tcp(w, c, c->serial, mlen, 0, out,
							      HFS_MSG_MAX, &n);
		off += 2 + mlen;
		c->idl = hfs_now_ms() + HFS_TCP_IDLE_MS;
		if (n > 0 && wappend(c, out, n) != 0) {
			ret = -1;
			break;
		}
		if (hfs_worker_refresh_pending(w)) { /* HF_ANSWER_REFRESH */
			(void)conn_flush(c, now); /* the reply first */
			size_t dummy;
			if (!copied || !hfs_worker_handoff_tcp(w, NULL, 0, mlen, 1, out,
								HFS_MSG_MAX, &dummy))
				hfs_worker_refresh(w, out, HFS_MSG_MAX); /* no-op once handed */
		}
	}
	if (off > 0) {
		memmove(c->rb, c->rb + off, c->rlen - off);
		c->rlen -= off;
		if (c->rlen > 0)
			c->rdl = now + HFS_TCP_READ_MS;
		/* a partial next query needs room for the whole of it */
		if (ret == 0 && c->rlen >= 2) {
			size_t mlen = ((size_t)c->rb[0] << 8) | c->rb[1];
			if (mlen + 2 > c->rcap) {
				uint8_t *nb = realloc(c->rb, mlen + 2);
				if (nb == NULL)
					return -1;
				c->rb = nb;
				c->rcap = mlen + 2;
			}
		}
	}
	return ret;
}

static int conn_flush(struct hfs_conn *c, int64_t now)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wb + c->woff, c->wlen - c->woff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->woff += (size_t)n;
			c->wdl = now + HFS_TCP_WRITE_MS;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	c->woff = c->wlen = 0;
	c->wdl = 0;
	return 0;
}

static int conn_read(struct hfs_conn *c, int64_t now)
{
	while (c->rlen < c->rcap) {
		ssize_t n = recv(c->fd, c->rb + c->rlen, c->rcap - c->rlen,
				 MSG_DONTWAIT);
		if (n > 0) {
			if (c->rlen == 0)
				c->rdl = now + HFS_TCP_READ_MS;
			c->rlen += (size_t)n;
			continue;
		}
		if (n == 0) {
			c->rd_eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -1;
	}
	return 0;
}

void hfs_tcp_event(struct hfs_worker *w, struct hfs_tcpset *set,
		   struct hfs_conn *c, uint32_t events)
{
	int64_t now = hfs_now_ms();
	if ((events & EPOLLERR) ||
	    ((events & EPOLLHUP) && !(events & EPOLLIN))) {
		conn_close(set, c);
		return;
	}
	/* read, answer and write until no more progress is possible */
	for (int round = 0; round < 64; round++) {
		size_t before_r = c->rlen, before_w = c->wlen - c->woff;
		if (!c->rd_eof && conn_read(c, now) != 0) {
			conn_close(set, c);
			return;
		}
		if (conn_answer(w, c, now) != 0 || conn_flush(c, now) != 0) {
			conn_close(set, c);
			return;
		}
		if (c->rlen == before_r && c->wlen - c->woff == before_w)
			break;
		if (c->rlen == c->rcap && c->wlen - c->woff >= HFS_TCP_WPEND)
			break;
	}
	size_t pending = c->wlen - c->woff;
	if (c->rd_eof && pending == 0 && c->inflight == 0) {
		/* peer finished sending; whatever is left is an incomplete query */
		conn_close(set, c);
		return;
	}
	uint32_t want = 0;
	if (!c->rd_eof && c->rlen < c->rcap && pending < HFS_TCP_WPEND)
		want |= EPOLLIN;
	if (pending > 0)
		want |= EPOLLOUT;
	if (want != c->events) {
		struct epoll_event e;
		memset(&e, 0, sizeof(e));
		e.events = want;
		e.data.ptr = c;
		if (epoll_ctl(hfs_worker_epoll(w), EPOLL_CTL_MOD, c->fd, &e) != 0) {
			conn_close(set, c);
			return;
		}
		c->events = want;
	}
	if (pending > 0)
		c->deadline = c->wdl ? c->wdl : now + HFS_TCP_WRITE_MS;
	else if (c->rlen > 0)
		c->deadline = c->rdl;
	else
		c->deadline = c->idl;
	hfs_worker_track_deadline(w, c->deadline);
}

int64_t hfs_tcp_expire(struct hfs_tcpset *set, int64_t now)
{
	int64_t next = INT64_MAX;
	struct hfs_conn *c = set->head;
	while (c != NULL) {
		struct hfs_conn *nx = c->next;
		if (c->deadline <= now)
			conn_close(set, c);
		else if (c->deadline < next)
			next = c->deadline;
		c = nx;
	}
	return next;
}

void hfs_tcp_done(struct hfs_worker *w, struct hfs_tcpset *set, struct hfs_fctx *f)
{
	struct hfs_conn *c = set->head;
	while (c != NULL && (c != f->conn || c->serial != f->serial))
		c = c->next;
	if (c == NULL) /* closed meanwhile */
		return;
	c->inflight--;
	if (f->rlen > 0 && wappend(c, f->reply, f->rlen) != 0) {
		conn_close(set, c);
		return;
	}
	hfs_tcp_event(w, set, c, 0); /* write it, or close after EOF */
}

void hfs_tcp_close_all(struct hfs_tcpset *set)
{
	struct hfs_conn *c = set->head;
	while (c != NULL) {
		struct hfs_conn *nx = c->next;
		conn_close(set, c);
		c = nx;
	}
}
