/*
 * forward.c: the HF_FORWARD verdict.  The original query goes to the
 * engine's upstreams (hf_forward_upstream) in the order given, with a fresh
 * random message ID (the client's is restored), over the client's
 * transport; 2 s per attempt, at most 2 attempts per upstream (cycling
 * through the list), 5 s for the whole query.  A reply whose
 * question does not match is answered FORMERR, no usable reply SERVFAIL
 * (CoreDNS forward semantics, spec section 6).  Blocking, in the calling
 * worker thread; the stop eventfd cuts it short at shutdown.
 */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define HFS_FWD_ATTEMPT_MS 2000
#define HFS_FWD_TOTAL_MS 5000
#define HFS_FWD_MAX_UPSTREAMS 16
#define HFS_EX_FAIL (-1)
#define HFS_EX_STOP (-2)

static uint16_t rand_id(void)
{
	static _Thread_local uint64_t state;
	uint16_t id;
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) == (ssize_t)sizeof(id))
		return id;
	if (state == 0)
		state = (uint64_t)hfs_now_ms() ^ ((uint64_t)(uintptr_t)&id << 16) ^ 1;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (uint16_t)(state >> 24);
}

/* Offset just past a domain name at off (pointers end it), or 0. */
static size_t skip_name(const uint8_t *m, size_t len, size_t off)
{
	for (int i = 0; i < 128; i++) {
		if (off >= len)
			return 0;
		uint8_t l = m[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xC0) == 0xC0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xC0)
			return 0;
		off += 1 + (size_t)l;
	}
	return 0;
}

/* End of the first question when it is an uncompressed name, else 0. */
static size_t question_end(const uint8_t *m, size_t len)
{
	if (len < 12 || ((m[4] << 8) | m[5]) == 0)
		return 0;
	size_t off = 12;
	for (int i = 0; i < 128; i++) {
		if (off >= len || (m[off] & 0xC0))
			return 0;
		if (m[off] == 0) {
			off++;
			return off + 4 <= len && off - 12 <= 255 ? off + 4 : 0;
		}
		off += 1 + (size_t)m[off];
	}
	return 0;
}

/* request.Match: one question, QR set, same name (any case), same type. */
static int reply_matches(const uint8_t *q, size_t qlen, const uint8_t *r,
			 size_t rlen)
{
	size_t qe = question_end(q, qlen), re = question_end(r, rlen);
	if (qe == 0 || re == 0 || qe != re || !(r[2] & 0x80) ||
	    ((r[4] << 8) | r[5]) != 1)
		return 0;
	for (size_t i = 12; i < qe - 4; i++) {
		uint8_t a = q[i], b = r[i];
		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (uint8_t)(b + 32);
		if (a != b)
			return 0;
	}
	return q[qe - 4] == r[re - 4] && q[qe - 3] == r[re - 3];
}

/* Find the OPT record of a query: its UDP size and DO bit. */
static int find_opt(const uint8_t *m, size_t len, size_t qe, uint16_t *size,
		    int *dobit)
{
	unsigned an = (unsigned)((m[6] << 8) | m[7]);
	unsigned ns = (unsigned)((m[8] << 8) | m[9]);
	unsigned ar = (unsigned)((m[10] << 8) | m[11]);
	size_t off = qe;
	for (unsigned i = 0; i < an + ns + ar; i++) {
		off = skip_name(m, len, off);
		if (off == 0 || off + 10 > len)
			return 0;
		uint16_t type = (uint16_t)((m[off] << 8) | m[off + 1]);
		size_t rdlen = (size_t)((m[off + 8] << 8) | m[off + 9]);
		if (i >= an + ns && type == 41) {
			*size = (uint16_t)((m[off + 2] << 8) | m[off + 3]);
			*dobit = (m[off + 6] & 0x80) != 0;
			return 1;
		}
		off += 10 + rdlen;
		if (off > len)
			return 0;
	}
	return 0;
}

size_t hfs_error_reply(const uint8_t *q, size_t qlen, int rcode, uint8_t *out,
		       size_t cap)
{
	if (qlen < 12 || cap < 12)
		return 0;
	size_t qe = question_end(q, qlen);
	size_t qsz = qe ? qe - 12 : 0;
	uint16_t osize = 0;
	int dobit = 0;
	int opt = qe ? find_opt(q, qlen, qe, &osize, &dobit) : 0;
	size_t need = 12 + qsz + (opt ? 11 : 0);
	if (need > cap)
		return 0;
	int opcode_query = ((q[2] >> 3) & 0x0F) == 0;
	memset(out, 0, 12);
	out[0] = q[0];
	out[1] = q[1];
	out[2] = (uint8_t)(0x80 | (q[2] & 0x78) | (opcode_query ? (q[2] & 0x01) : 0));
	out[3] = (uint8_t)((opcode_query ? (q[3] & 0x10) : 0) | (rcode & 0x0F));
	out[5] = qsz ? 1 : 0;
	out[11] = opt ? 1 : 0;
	memcpy(out + 12, q + 12, qsz);
	if (opt) {
		uint8_t *o = out + 12 + qsz;
		o[0] = 0;                     /* root name */
		o[1] = 0;
		o[2] = 41;                    /* OPT */
		o[3] = (uint8_t)(osize >> 8); /* client's UDP size echoed */
		o[4] = (uint8_t)osize;
		o[5] = 0;                     /* extended rcode */
		o[6] = 0;                     /* version 0 */
		o[7] = dobit ? 0x80 : 0;
		o[8] = 0;
		o[9] = 0;                     /* rdlen */
		o[10] = 0;
	}
	return need;
}

/* Wait for events on fd until deadline; the stop fd aborts. */
static int wait_io(int fd, short events, int64_t deadline, int stop_fd)
{
	for (;;) {
		int64_t left = deadline - hfs_now_ms();
		if (left <= 0)
			return HFS_EX_FAIL;
		struct pollfd p[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
		int n = poll(p, stop_fd >= 0 ? 2 : 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return HFS_EX_FAIL;
		if (stop_fd >= 0 && (p[1].revents & POLLIN))
			return HFS_EX_STOP;
		if (p[0].revents)
			return 0;
	}
}

static ssize_t ex_udp(int fd, const uint8_t *q, size_t qlen, uint16_t id,
		      uint8_t *out, size_t cap, int64_t deadline, int stop_fd)
{
	uint8_t idb[2] = {(uint8_t)(id >> 8), (uint8_t)id};
	struct iovec iov[2] = {{idb, 2}, {(void *)(q + 2), qlen - 2}};
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)qlen)
		return HFS_EX_FAIL;
	for (int i = 0; i < 64; i++) { /* bounded: ignore stray datagrams */
		int w = wait_io(fd, POLLIN, deadline, stop_fd);
		if (w != 0)
			return w;
		ssize_t n = recv(fd, out, cap, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return HFS_EX_FAIL; /* e.g. ECONNREFUSED */
		if (n >= 12 && out[0] == idb[0] && out[1] == idb[1])
			return n;
	}
	return HFS_EX_FAIL;
}

static int io_full(int fd, int sending, uint8_t *buf, size_t len,
		   int64_t deadline, int stop_fd)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = sending ? send(fd, buf + done, len - done,
					   MSG_NOSIGNAL | MSG_DONTWAIT)
				    : recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return HFS_EX_FAIL;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return HFS_EX_FAIL;
		int w = wait_io(fd, sending ? POLLOUT : POLLIN, deadline, stop_fd);
		if (w != 0)
			return w;
	}
	return 0;
}

static ssize_t ex_tcp(int fd, const uint8_t *q, size_t qlen, uint16_t id,
		      uint8_t *out, size_t cap, int64_t deadline, int stop_fd)
{
	int w = wait_io(fd, POLLOUT, deadline, stop_fd); /* connect done */
	if (w != 0)
		return w;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
		return HFS_EX_FAIL;
	uint8_t hdr[4] = {(uint8_t)(qlen >> 8), (uint8_t)qlen, (uint8_t)(id >> 8),
			  (uint8_t)id};
	if ((w = io_full(fd, 1, hdr, 4, deadline, stop_fd)) != 0 ||
	    (w = io_full(fd, 1, (uint8_t *)(q + 2), qlen - 2, deadline,
			 stop_fd)) != 0)
		return w;
	uint8_t lb[2];
	if ((w = io_full(fd, 0, lb, 2, deadline, stop_fd)) != 0)
		return w;
	size_t rlen = ((size_t)lb[0] << 8) | lb[1];
	if (rlen < 12 || rlen > cap)
		return HFS_EX_FAIL;
	if ((w = io_full(fd, 0, out, rlen, deadline, stop_fd)) != 0)
		return w;
	if (out[0] != hdr[2] || out[1] != hdr[3])
		return HFS_EX_FAIL;
	return (ssize_t)rlen;
}

static ssize_t exchange(const char *addr, int tcp, const uint8_t *q,
			size_t qlen, uint8_t *out, size_t cap,
			int64_t deadline, int stop_fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int wildcard = 0;
	char err[128], withport[HFS_ADDR_MAX + 8];
	if (hfs_addr_resolve(addr, 0, &ss, &sl, &wildcard, err, sizeof(err)) != 0) {
		/* tolerate a bare address: port 53 */
		snprintf(withport, sizeof(withport),
			 strchr(addr, ':') ? "[%s]:53" : "%s:53", addr);
		if (hfs_addr_resolve(withport, 0, &ss, &sl, &wildcard, err,
				     sizeof(err)) != 0)
			return HFS_EX_FAIL;
	}
	int fd = socket(ss.ss_family,
			(tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return HFS_EX_FAIL;
	ssize_t n = HFS_EX_FAIL;
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0 || errno == EINPROGRESS) {
		uint16_t id = rand_id();
		n = tcp ? ex_tcp(fd, q, qlen, id, out, cap, deadline, stop_fd)
			: ex_udp(fd, q, qlen, id, out, cap, deadline, stop_fd);
	}
	close(fd);
	return n;
}

size_t hfs_forward(hf_worker_t *hw, const uint8_t *cq, size_t cqlen,
		   int transport, uint8_t *out, size_t cap, int stop_fd)
{
	if (cqlen < 12 || cqlen > HFS_MSG_MAX)
		return 0;
	/* what goes upstream: the client's query, or the engine's query for
	 * an ExternalName target (answered through hf_forward_reply) */
	const uint8_t *q = cq;
	size_t qlen = cqlen;
	if (hf_forward_query(hw, &q, &qlen) != HF_EOK || qlen < 12 || qlen > HFS_MSG_MAX) {
		q = cq;
		qlen = cqlen;
	}
	char addr[HFS_FWD_MAX_UPSTREAMS][HFS_ADDR_MAX];
	int n = 0;
	while (n < HFS_FWD_MAX_UPSTREAMS &&
	       hf_forward_upstream(hw, n, addr[n], sizeof(addr[n])) == HF_EOK) {
		addr[n][HFS_ADDR_MAX - 1] = '\0';
		n++;
	}
	/* CoreDNS: cycle through the list, at most max_connect_attempts
	 * (default 2 x upstreams) tries, all within the 5 s deadline */
	int64_t end = hfs_now_ms() + HFS_FWD_TOTAL_MS;
	size_t rlen;
	for (int i = 0; i < 2 * n; i++) {
		int64_t now = hfs_now_ms();
		if (now >= end)
			break;
		int64_t dl = now + HFS_FWD_ATTEMPT_MS < end ? now + HFS_FWD_ATTEMPT_MS
							     : end;
		ssize_t r = exchange(addr[i % n], transport == HF_TCP, q, qlen, out,
				     cap, dl, stop_fd);
		if (r == HFS_EX_STOP)
			return 0;
		if (r < 0)
			continue;
		if (!reply_matches(q, qlen, out, (size_t)r))
			return hfs_error_reply(cq, cqlen, 1, out, cap); /* FORMERR */
		out[0] = q[0];
		out[1] = q[1];
		/* the engine may turn it into the client's reply (in place) */
		if (hf_forward_reply(hw, out, (size_t)r, out, cap, &rlen) == HF_EOK)
			return rlen;
		return (size_t)r;
	}
	atomic_fetch_add(&hfs_srv.stats.forward_failed, 1);
	if (hf_forward_reply(hw, NULL, 0, out, cap, &rlen) == HF_EOK)
		return rlen;
	return hfs_error_reply(cq, cqlen, 2, out, cap);
}
