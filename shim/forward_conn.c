/*
 * forward_conn.c: one query and its reply on a connected upstream socket,
 * UDP or TCP (2-byte length prefix), non-blocking with a deadline.  The
 * query goes out with the given message ID; replies with another ID are
 * skipped (out-of-order or stray) until the deadline; a reply that does
 * not parse is an error (miekg/dns ReadMsg), except on UDP when it only
 * runs past its end (or was longer than the client's buffer): that comes
 * back truncated (TC=1, question only), as CoreDNS's proxy does.
 */
#include "forward_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

_Thread_local struct hfs_fwd_why hfs_fwd_why;

static int fail(int code)
{
	hfs_fwd_why.code = code;
	return HFS_EX_FAIL;
}

/* Wait for events on fd until deadline; either stop fd aborts. */
static int wait_io(int fd, short events, int64_t deadline, int stop_fd, int stop_fd2)
{
	for (;;) {
		int64_t left = deadline - hfs_now_ms();
		if (left <= 0)
			return fail(ETIMEDOUT);
		struct pollfd p[3] = {{fd, events, 0}, {stop_fd, POLLIN, 0}, {stop_fd2, POLLIN, 0}};
		int n = poll(p, 3, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno);
		if ((p[1].revents & POLLIN) || (p[2].revents & POLLIN))
			return HFS_EX_STOP;
		if (p[0].revents)
			return 0;
	}
}

static ssize_t xfer_udp(int fd, const uint8_t *q, size_t qlen, uint16_t id, uint8_t *out,
			size_t cap, size_t udp_max, int64_t deadline, int s1, int s2)
{
	uint8_t idb[2] = {(uint8_t)(id >> 8), (uint8_t)id};
	struct iovec iov[2] = {{idb, 2}, {(void *)(q + 2), qlen - 2}};
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)qlen)
		return fail(errno);
	size_t want = udp_max < cap ? udp_max : cap;
	for (;;) {
		int w = wait_io(fd, POLLIN, deadline, s1, s2);
		if (w != 0)
			return w;
		ssize_t n = recv(fd, out, want, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return fail(errno); /* e.g. ECONNREFUSED */
		if (n < 2 || out[0] != idb[0] || out[1] != idb[1])
			continue; /* not ours: keep waiting */
		size_t got = (size_t)n > want ? want : (size_t)n; /* a longer one was cut */
		int chk = hfs_fwd_check(out, got);
		if (chk == HFS_MSG_SHORT) /* CoreDNS: shouldTruncateResponse */
			return (ssize_t)hfs_fwd_truncate(out, got);
		if (chk != HFS_MSG_OK)
			return fail(EBADMSG);
		return (ssize_t)got;
	}
}

static int io_full(int fd, int sending, uint8_t *buf, size_t len, int64_t deadline, int s1,
		   int s2, size_t *done_out)
{
	size_t done = 0;
	int ret = 0;
	while (done < len) {
		ssize_t n = sending ? send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT)
				    : recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0) {
			hfs_fwd_why.code = ENODATA; /* EOF */
			ret = HFS_EX_CLOSED;
			break;
		}
		if (errno == ECONNRESET || errno == EPIPE) {
			hfs_fwd_why.code = errno;
			ret = HFS_EX_CLOSED;
			break;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			ret = fail(errno);
			break;
		}
		int w = wait_io(fd, sending ? POLLOUT : POLLIN, deadline, s1, s2);
		if (w != 0) {
			ret = w;
			break;
		}
	}
	if (done_out != NULL)
		*done_out = done;
	return ret;
}

static ssize_t xfer_tcp(int fd, int cached, const uint8_t *q, size_t qlen, uint16_t id,
			uint8_t *out, size_t cap, int64_t deadline, int s1, int s2)
{
	int w;
	if (!cached) {
		hfs_fwd_why.dial = true;
		w = wait_io(fd, POLLOUT, deadline, s1, s2); /* connect done */
		if (w != 0)
			return w;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
			return fail(soerr ? soerr : errno);
		hfs_fwd_why.dial = false;
	}
	uint8_t hdr[4] = {(uint8_t)(qlen >> 8), (uint8_t)qlen, (uint8_t)(id >> 8), (uint8_t)id};
	w = io_full(fd, 1, hdr, 4, deadline, s1, s2, NULL);
	if (w == 0)
		w = io_full(fd, 1, (uint8_t *)(q + 2), qlen - 2, deadline, s1, s2, NULL);
	if (w != 0)
		return w == HFS_EX_CLOSED && !cached ? HFS_EX_FAIL : w;
	for (int first = 1;; first = 0) {
		uint8_t lb[2];
		size_t got = 0;
		w = io_full(fd, 0, lb, 2, deadline, s1, s2, &got);
		if (w == HFS_EX_CLOSED && !(cached && first && got == 0))
			w = HFS_EX_FAIL; /* only a cached conn closed before any reply retries */
		if (w != 0)
			return w;
		size_t rlen = ((size_t)lb[0] << 8) | lb[1];
		if (rlen < 12 || rlen > cap)
			return fail(EBADMSG);
		w = io_full(fd, 0, out, rlen, deadline, s1, s2, NULL);
		if (w != 0)
			return w == HFS_EX_CLOSED ? HFS_EX_FAIL : w;
		if (!hfs_fwd_valid(out, rlen))
			return fail(EBADMSG);
		if (out[0] == hdr[2] && out[1] == hdr[3])
			return (ssize_t)rlen;
		/* out of order: drop it, read the next one */
	}
}

ssize_t hfs_fwd_xfer(int fd, int proto, int cached, const uint8_t *q, size_t qlen, uint16_t id,
		     uint8_t *out, size_t cap, size_t udp_max, int64_t deadline, int stop_fd,
		     int stop_fd2)
{
	hfs_fwd_why.code = 0;
	hfs_fwd_why.dial = false;
	if (qlen < 12 || qlen > 65535)
		return fail(EINVAL);
	return proto == HFS_P_TCP
		       ? xfer_tcp(fd, cached, q, qlen, id, out, cap, deadline, stop_fd, stop_fd2)
		       : xfer_udp(fd, q, qlen, id, out, cap, udp_max, deadline, stop_fd, stop_fd2);
}
