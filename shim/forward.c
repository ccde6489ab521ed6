/*
 * forward.c: the HF_FORWARD verdict, CoreDNS's forward ServeDNS loop
 * (spec section 6).  The engine names the forward instance
 * (hf_forward_instance); its upstreams are ordered by the policy (random,
 * round_robin, sequential), down ones skipped (all down: a random one and
 * coredns_forward_healthcheck_broken_total, or SERVFAIL with failfast),
 * each attempt bounded by read_timeout and the whole query by 5 s and
 * max_connect_attempts.  A network error starts the upstream's health
 * check and moves on; a reply whose question does not match is FORMERR;
 * failover rcodes try the next upstream; `next` rcodes and next_on_nodata
 * hand the query to the following forward line; max_concurrent excess is
 * REFUSED.  The upstream query carries a fresh random ID (the client's is
 * restored).  Blocking, in the calling worker thread.
 */
#include "forward_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HFS_FWD_FORMERR (-4)

static void policy_order(struct hfs_fwd_inst *in, int *order)
{
	int n = in->n;
	for (int i = 0; i < n; i++)
		order[i] = i;
	if (n < 2)
		return;
	if (in->policy == 1) { /* round_robin: CoreDNS starts at ++robin % n */
		unsigned start = (atomic_fetch_add(&in->robin, 1) + 1) % (unsigned)n;
		for (int i = 0; i < n; i++)
			order[i] = (int)((start + (unsigned)i) % (unsigned)n);
	} else if (in->policy == 0) { /* random permutation */
		for (int i = n - 1; i > 0; i--) {
			int j = (int)(hfs_fwd_rand() % (uint32_t)(i + 1));
			int t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
	}
}

#define HFS_FWD_ERR_MAX 384

/* Go's net.Addr text: "ip:port", "[v6]:port". */
static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		snprintf(buf, len, "[%s]:%u", ip, port);
		return;
	}
	const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	port = ntohs(a->sin_port);
	snprintf(buf, len, "%s:%u", ip, port);
}

/* The error text CoreDNS's errors plugin would log for a failed exchange
 * (Go's net.OpError wording), from hfs_fwd_why. */
static void describe(const struct hfs_fwd_up *up, int proto, int fd, char *buf, size_t len)
{
	const char *net = proto == HFS_P_TCP ? "tcp" : "udp";
	int code = hfs_fwd_why.code;
	if (!up->usable) {
		snprintf(buf, len, "unsupported upstream %.200s", up->to);
		return;
	}
	if (code == ENODATA) {
		snprintf(buf, len, "EOF");
		return;
	}
	if (code == EBADMSG) {
		snprintf(buf, len, "dns: buffer size too small");
		return;
	}
	char err[96], remote[64], local[64] = "";
	snprintf(err, sizeof(err), "%s", code == ETIMEDOUT ? "i/o timeout" : strerror(code));
	err[0] = (char)tolower((unsigned char)err[0]);
	addr_text(&up->ss, remote, sizeof(remote));
	if (hfs_fwd_why.dial || fd < 0) {
		snprintf(buf, len, "dial %s %s: %s%s", net, remote,
			 code == ETIMEDOUT ? "" : "connect: ", err);
		return;
	}
	struct sockaddr_storage ls;
	socklen_t ll = sizeof(ls);
	memset(&ls, 0, sizeof(ls));
	if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
		addr_text(&ls, local, sizeof(local));
	snprintf(buf, len, "read %s %s->%s: %s%s", net, local, remote,
		 code == ETIMEDOUT ? "" : "read: ", err);
}

/* One upstream, one attempt: the cached-connection-closed retry and the
 * prefer_udp TC retry over TCP stay inside it. */
static ssize_t exchange(struct hfs_fwd_up *up, int proto, const uint8_t *q, size_t qlen,
			uint8_t *out, size_t cap, size_t udp_max, int64_t deadline, int stop_fd,
			char *why)
{
	const struct hfs_fwd_inst *in = up->inst;
	int closed_retries = 0;
	for (;;) {
		int cached = 0;
		int64_t created = 0;
		int fd = hfs_fwd_conn_get(up, proto, &cached, &created);
		if (fd < 0) {
			describe(up, proto, -1, why, HFS_FWD_ERR_MAX);
			return HFS_EX_FAIL;
		}
		int64_t t0 = hfs_fwd_now_ns(), now = hfs_now_ms();
		int64_t dl = now + in->read_timeout_ms < deadline ? now + in->read_timeout_ms : deadline;
		ssize_t r = hfs_fwd_xfer(fd, proto, cached, q, qlen, hfs_fwd_rand_id(), out, cap,
					 proto == HFS_P_UDP ? udp_max : 65535, dl, stop_fd, -1);
		if (r == HFS_EX_CLOSED && cached && closed_retries++ <= HFS_FWD_IDLE_MAX) {
			close(fd); /* the upstream closed an idle connection */
			continue;
		}
		if (r < 0) {
			if (r != HFS_EX_STOP)
				describe(up, proto, fd, why, HFS_FWD_ERR_MAX);
			close(fd);
			return r == HFS_EX_STOP ? HFS_EX_STOP : HFS_EX_FAIL;
		}
		hfs_fwd_conn_put(up, proto, fd, created);
		hfs_fwd_observe(up->m, hfs_fwd_rcode(out, (size_t)r), hfs_fwd_now_ns() - t0);
		if ((out[2] & 0x02) && proto == HFS_P_UDP && in->prefer_udp && !in->force_tcp) {
			proto = HFS_P_TCP; /* truncated: ask again over TCP */
			continue;
		}
		return r;
	}
}

/* The instance's loop over its upstreams: reply length or HFS_EX_* /
 * HFS_FWD_FORMERR. */
static ssize_t forward_once(struct hfs_fwd_inst *in, const uint8_t *q, size_t qlen,
			    int transport, uint8_t *out, size_t cap, int stop_fd, char *why)
{
	snprintf(why, HFS_FWD_ERR_MAX, "no healthy proxies"); /* ErrNoHealthy */
	int n = in->n, order[HFS_FWD_MAX_UP];
	if (n == 0)
		return HFS_EX_FAIL;
	policy_order(in, order);
	size_t udp_max = transport == HF_TCP ? 65535 : hfs_fwd_udp_size(q, qlen);
	int proto = in->force_tcp ? HFS_P_TCP
		    : in->prefer_udp ? HFS_P_UDP
		    : transport == HF_TCP ? HFS_P_TCP : HFS_P_UDP;
	int64_t deadline = hfs_now_ms() + HFS_FWD_TOTAL_MS;
	int i = 0, fails = 0, failovers = 0;
	int64_t attempts = 0;
	while (hfs_now_ms() < deadline) {
		if (i >= n) {
			i = 0;
			fails = 0;
		}
		struct hfs_fwd_up *up = &in->up[order[i++]];
		if (hfs_fwd_down(up)) {
			if (++fails < n)
				continue;
			/* every upstream is down: the health check is broken */
			hfs_fwd_count_broken();
			if (in->failfast)
				break;
			up = &in->up[hfs_fwd_rand() % (uint32_t)n];
		}
		if (in->max_connect_attempts > 0 && attempts >= in->max_connect_attempts)
			break;
		attempts++;
		ssize_t r = exchange(up, proto, q, qlen, out, cap, udp_max, deadline, stop_fd, why);
		if (r == HFS_EX_STOP)
			return r;
		if (r < 0) {
			if (in->max_fails != 0)
				hfs_fwd_hc_trigger(up);
			continue;
		}
		if (!hfs_fwd_matches(q, qlen, out, (size_t)r))
			return HFS_FWD_FORMERR;
		int rc = hfs_fwd_rcode(out, (size_t)r);
		if (rc < 64 && ((in->failover >> rc) & 1) && ++failovers < n)
			continue; /* failover: the next upstream; the last reply stands */
		return r;
	}
	return HFS_EX_FAIL;
}

/* A reply the host wrote itself goes into the engine's query metrics. */
static size_t done(hf_worker_t *hw, size_t n, const uint8_t *out)
{
	(void)hf_forward_done(hw, n >= 12 ? out : NULL, n);
	return n;
}

/* miekg SetRcode(req, FORMERR): header and question, no OPT. */
static size_t formerr(const uint8_t *cq, size_t cqlen, uint8_t *out, size_t cap)
{
	size_t n = hfs_error_reply(cq, cqlen, 1, out, cap);
	if (n >= 12 + 11 && out[11] == 1) {
		out[11] = 0;
		n -= 11;
	}
	return n;
}

static size_t servfail(hf_worker_t *hw, const uint8_t *cq, size_t cqlen, uint8_t *out,
		       size_t cap, const char *why)
{
	size_t rlen;
	atomic_fetch_add(&hfs_srv.stats.forward_failed, 1);
	(void)hf_forward_error(hw, why); /* the errors plugin logs it */
	if (hf_forward_reply(hw, NULL, 0, out, cap, &rlen) == HF_EOK)
		return rlen;
	return done(hw, hfs_error_reply(cq, cqlen, 2, out, cap), out);
}

size_t hfs_forward_fail(hf_worker_t *hw, const uint8_t *cq, size_t cqlen, uint8_t *out,
			size_t cap, const char *why)
{
	if (cqlen < 12)
		return done(hw, 0, out);
	return servfail(hw, cq, cqlen, out, cap, why);
}

static bool wants_next(const struct hfs_fwd_inst *in, const uint8_t *r, size_t rlen)
{
	int rc = hfs_fwd_rcode(r, rlen);
	if (rc < 64 && ((in->next >> rc) & 1))
		return true;
	return in->next_on_nodata && rc == 0 && ((r[6] << 8) | r[7]) == 0;
}

static size_t serve(struct hfs_fwd_state *st, hf_worker_t *hw, const uint8_t *cq, size_t cqlen,
		    const uint8_t *q, size_t qlen, int transport, uint8_t *out, size_t cap,
		    int stop_fd)
{
	int id = hf_forward_instance(hw);
	char why[HFS_FWD_ERR_MAX] = "no healthy proxies";
	for (int hop = 0; hop < 64; hop++) {
		if (id < 0 || id >= st->ninst)
			break;
		struct hfs_fwd_inst *in = &st->inst[id];
		bool counted = in->max_concurrent > 0;
		if (counted && atomic_fetch_add(&in->concurrent, 1) + 1 > in->max_concurrent) {
			atomic_fetch_sub(&in->concurrent, 1);
			hfs_fwd_count_reject();
			return done(hw, hfs_error_reply(cq, cqlen, 5, out, cap), out); /* REFUSED */
		}
		ssize_t r = forward_once(in, q, qlen, transport, out, cap, stop_fd, why);
		if (counted)
			atomic_fetch_sub(&in->concurrent, 1);
		if (r == HFS_EX_STOP)
			return done(hw, 0, out);
		if (r == HFS_FWD_FORMERR)
			return done(hw, formerr(cq, cqlen, out, cap), out);
		if (r < 12)
			break;
		if (wants_next(in, out, (size_t)r)) {
			int nid = hf_forward_next(hw);
			if (nid >= 0) {
				id = nid;
				continue;
			}
		}
		out[0] = q[0];
		out[1] = q[1];
		size_t rlen;
		/* the engine may turn it into the client's reply (in place) */
		if (hf_forward_reply(hw, out, (size_t)r, out, cap, &rlen) == HF_EOK)
			return rlen;
		return (size_t)r;
	}
	return servfail(hw, cq, cqlen, out, cap, why);
}

size_t hfs_forward(hf_worker_t *hw, const uint8_t *cq, size_t cqlen, int transport,
		   uint8_t *out, size_t cap, int stop_fd)
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
	struct hfs_fwd_state *st = hfs_fwd_state_get(hf_worker_engine(hw));
	if (st == NULL)
		return servfail(hw, cq, cqlen, out, cap, "no forward state (out of memory)");
	size_t n = serve(st, hw, cq, cqlen, q, qlen, transport, out, cap, stop_fd);
	hfs_fwd_state_put(st);
	return n;
}
