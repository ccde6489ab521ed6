/*
 * net.c: address parsing ("host:port", "[v6]:port", ":port") and listening
 * sockets.  An empty host means every address: an IPv6 socket with
 * IPV6_V6ONLY=0, or IPv4 0.0.0.0 when the host has no IPv6.  Errors read
 * like Go's net package ("listen tcp :53: bind: address already in use").
 */
#include "shim.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Go prints errno text in lower case. */
static void errtext(int e, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror(e));
	if (buf[0] != '\0')
		buf[0] = (char)tolower((unsigned char)buf[0]);
}

static void fmt_hostport(const char *host, uint16_t port, char *buf,
			 size_t len)
{
	if (strchr(host, ':') != NULL)
		snprintf(buf, len, "[%s]:%u", host, port);
	else
		snprintf(buf, len, "%s:%u", host, port);
}

/* Split "host:port"; host receives "" for ":port". */
static int split_hostport(const char *hp, char *host, size_t hostlen,
			  uint16_t *port)
{
	const char *p;
	size_t hl;
	if (hp[0] == '[') {
		const char *rb = strchr(hp, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - hp - 1);
		if (hl >= hostlen)
			return -1;
		memcpy(host, hp + 1, hl);
		p = rb + 2;
	} else {
		const char *c = strrchr(hp, ':');
		if (c == NULL)
			return -1;
		hl = (size_t)(c - hp);
		if (hl >= hostlen || memchr(hp, ':', hl) != NULL)
			return -1;
		memcpy(host, hp, hl);
		p = c + 1;
	}
	host[hl] = '\0';
	char *end = NULL;
	errno = 0;
	long v = strtol(p, &end, 10);
	if (*p == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Resolve host (numeric or a name such as "localhost"), IPv4 first as Go
 * does for listening on a name. */
static int resolve(const char *host, int numeric, struct sockaddr_storage *ss,
		   socklen_t *sslen)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | (numeric ? AI_NUMERICHOST : 0);
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -1;
	const struct addrinfo *pick = res;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
	}
	int ret = -1;
	if ((pick->ai_family == AF_INET || pick->ai_family == AF_INET6) &&
	    pick->ai_addrlen <= sizeof(*ss)) {
		memset(ss, 0, sizeof(*ss));
		memcpy(ss, pick->ai_addr, pick->ai_addrlen);
		*sslen = pick->ai_addrlen;
		ret = 0;
	}
	freeaddrinfo(res);
	return ret;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

int hfs_addr_resolve(const char *hostport, int passive,
		     struct sockaddr_storage *ss, socklen_t *sslen,
		     int *wildcard, char *err, size_t errlen)
{
	char host[HFS_ADDR_MAX];
	uint16_t port;
	if (split_hostport(hostport, host, sizeof(host), &port) != 0) {
		snprintf(err, errlen, "address %s: missing or bad port", hostport);
		return -1;
	}
	*wildcard = host[0] == '\0';
	if (*wildcard) {
		if (!passive) {
			snprintf(err, errlen, "address %s: missing host", hostport);
			return -1;
		}
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		memset(ss, 0, sizeof(*ss));
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons(port);
		*sslen = sizeof(*s6);
		return 0;
	}
	if (resolve(host, !passive, ss, sslen) != 0) {
		snprintf(err, errlen, "address %s: cannot resolve host", hostport);
		return -1;
	}
	set_port(ss, port);
	return 0;
}

static int open_bound(const struct sockaddr_storage *ss, socklen_t sslen,
		      int type, int reuseport, int dualstack, int *eout)
{
	int fd = socket(ss->ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*eout = errno;
		return -1;
	}
	int one = 1, zero = 0;
	if (type == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		*eout = errno;
		close(fd);
		return -1;
	}
	if (ss->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
				 dualstack ? &zero : &one, sizeof(int));
	if (bind(fd, (const struct sockaddr *)ss, sslen) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) != 0)) {
		*eout = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_addr(struct sockaddr_storage *ss, socklen_t sslen,
		       int wildcard, uint16_t port, int type, int reuseport,
		       int *family, int *eout)
{
	if (!wildcard)
		return open_bound(ss, sslen, type, reuseport, 0, eout);
	int fd = -1;
	if (*family == 0 || *family == AF_INET6) {
		fd = open_bound(ss, sslen, type, reuseport, 1, eout);
		if (fd >= 0) {
			*family = AF_INET6;
			return fd;
		}
		if (*family == AF_INET6 ||
		    (*eout != EAFNOSUPPORT && *eout != EADDRNOTAVAIL))
			return -1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_ANY);
	s4->sin_port = htons(port);
	fd = open_bound(ss, sizeof(*s4), type, reuseport, 0, eout);
	if (fd >= 0)
		*family = AF_INET;
	return fd;
}

static void listen_err(int type, const char *where, int e, char *err,
		       size_t errlen)
{
	char et[128];
	errtext(e, et, sizeof(et));
	snprintf(err, errlen, "listen %s %s: bind: %s",
		 type == SOCK_STREAM ? "tcp" : "udp", where, et);
}

int hfs_listen(const char *host, uint16_t port, int type, int reuseport,
	       int *family, char *err, size_t errlen)
{
	char where[HFS_ADDR_MAX + 16];
	fmt_hostport(host, port, where, sizeof(where));
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int wildcard = 0, e = 0;
	if (hfs_addr_resolve(where, 1, &ss, &sslen, &wildcard, err, errlen) != 0)
		return -1;
	if (!wildcard && *family != 0 && ss.ss_family != *family) {
		snprintf(err, errlen, "listen %s: address family mismatch", where);
		return -1;
	}
	int fd = listen_addr(&ss, sslen, wildcard, port, type, reuseport,
			     family, &e);
	if (fd < 0) {
		listen_err(type, where, e, err, errlen);
		return -1;
	}
	if (!wildcard)
		*family = ss.ss_family;
	return fd;
}

int hfs_listen_hostport(const char *hostport, int type, char *err,
			size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int wildcard = 0, e = 0, family = 0;
	if (hfs_addr_resolve(hostport, 1, &ss, &sslen, &wildcard, err,
			     errlen) != 0)
		return -1;
	uint16_t port = ntohs(ss.ss_family == AF_INET
				      ? ((struct sockaddr_in *)&ss)->sin_port
				      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	int fd = listen_addr(&ss, sslen, wildcard, port, type, 0, &family, &e);
	if (fd < 0)
		listen_err(type, hostport, e, err, errlen);
	return fd;
}

void hfs_unmap_v4(struct sockaddr_storage *ss, socklen_t *len)
{
	if (ss->ss_family != AF_INET6)
		return;
	struct sockaddr_in6 s6;
	memcpy(&s6, ss, sizeof(s6));
	if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return;
	struct sockaddr_in s4;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6.sin6_port;
	memcpy(&s4.sin_addr, &s6.sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
	*len = sizeof(s4);
}
