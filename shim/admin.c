/*
 * admin.c: the break-glass admin port (issue 7, `breakglass [ADDR] {
 * token_file FILE; allow CIDR... }`): one thread, started before the DNS
 * workers, at a higher priority (SCHED_RR when permitted, else the lowest
 * nice value allowed; a log line says which), with its connection slots,
 * line buffers and reply buffers reserved (touched and mlock'ed best
 * effort) at startup and one spare file descriptor kept for an operator
 * when the process runs out of them.
 *
 * Protocol, like unbound-control's: a TCP connection from an allowed
 * address (loopback, plus the networks `allow` adds) sends `auth TOKEN` as
 * its first line, then one command per line; every reply is lines of text
 * ending with a line "OK [text]" or "ERROR text".  The token (from
 * token_file, at most 255 bytes, trailing white space dropped) is compared
 * in constant time.  A wrong or missing token closes the connection and
 * costs the source one of FAIL_BURST attempts, refilled one per
 * FAIL_REFILL_MS: a source without attempts left is refused (even with the
 * right token) until one comes back.  Failures and refusals are logged;
 * every command is logged before it runs as
 *   [INFO] plugin/breakglass: audit: client=ADDR:PORT cmd=COMMAND
 * Lines longer than 4096 bytes, connections that do not authenticate
 * within AUTH_MS, lines not completed within LINE_MS, replies not taken
 * within WRITE_MS are closed; idle authenticated ones after IDLE_MS.
 * Everything is non-blocking in one poll loop, so no connection can hold
 * up another; when every slot is taken a new connection evicts the oldest
 * unauthenticated one (else the longest idle).
 *
 * Commands go to hf_admin() of the current engine generation; `reload`
 * (SIGUSR1 to the process), `quit` are handled here.  A reload carries the
 * overrides, limits and freeze of the old engine over to the new one
 * (hfs_admin_reload_begin/end around the generation swap); a reload while
 * frozen is refused (the new engine would load what the API says now, the
 * very data the operator froze out).
 */
#include "shim.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOTS 4                    /* connections at once */
#define LINE_MAX_B 4096            /* longest line */
#define REPLY_CAP (256u << 10)     /* a reply (dump pages itself to fit) */
#define CFG_CAP 8192
#define AUTH_MS 3000               /* the auth line must arrive within */
#define LINE_MS 3000               /* a started line must end within */
#define WRITE_MS 5000              /* a reply must be taken within */
#define IDLE_MS 30000              /* an authenticated, idle connection */
#define FAIL_BURST 5               /* failed attempts per source ... */
#define FAIL_REFILL_MS 2000        /* ... one more every */
#define SOURCES 64
#define TOKEN_MAX 256
#define ALLOW_MAX 32
#define RT_PRIORITY 10
#define DEFAULT_ADDR "127.0.0.1:9154"
#define LOG_PREFIX "plugin/breakglass: "

struct conn {
	int fd;                    /* -1: free */
	bool authed, spare, closing, eof;
	char peer[80];
	uint8_t fam, addr[16];
	size_t inlen;
	size_t outlen, outoff;     /* pending reply in reply[slot] */
	int64_t opened, line_start, last, out_start;
	char in[LINE_MAX_B + 2];
};

struct source {
	bool used;
	uint8_t fam, addr[16];
	double tokens;
	int64_t at, logged;
	uint32_t fails;
};

struct net {
	uint8_t fam, prefix, addr[16];
};

static struct {
	bool running;
	pthread_t thread;
	int lfd, stop_fd, spare_fd;
	char addr[HFS_ADDR_MAX];
	pthread_mutex_t cfg_lock;  /* token and allow: a reload replaces them */
	char token[TOKEN_MAX];
	size_t toklen;
	char token_file[4096];
	struct net allow[ALLOW_MAX];
	size_t nallow;
	pthread_mutex_t cmd_lock;  /* a command vs the reload's carry-over */
	struct conn c[SLOTS];
	char *reply[SLOTS];
	struct source src[SOURCES];
	int64_t refused_logged;
} A = {.lfd = -1, .stop_fd = -1, .spare_fd = -1,
       .cfg_lock = PTHREAD_MUTEX_INITIALIZER, .cmd_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- configuration -------------------------------------------------------- */

static bool parse_net(const char *s, struct net *n)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t il = slash ? (size_t)(slash - s) : strlen(s);
	if (il == 0 || il >= sizeof(ip))
		return false;
	memcpy(ip, s, il);
	ip[il] = '\0';
	memset(n->addr, 0, sizeof(n->addr));
	unsigned max;
	if (inet_pton(AF_INET, ip, n->addr) == 1) {
		n->fam = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, n->addr) == 1) {
		n->fam = 6;
		max = 128;
	} else {
		return false;
	}
	char *end = NULL;
	long p = slash ? strtol(slash + 1, &end, 10) : (long)max;
	if ((slash && (end == slash + 1 || *end != '\0')) || p < 0 || p > (long)max)
		return false;
	n->prefix = (uint8_t)p;
	return true;
}

static bool net_has(const struct net *n, uint8_t fam, const uint8_t *addr)
{
	if (n->fam != fam)
		return false;
	unsigned full = n->prefix / 8, rest = n->prefix % 8;
	if (memcmp(addr, n->addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));
	return (addr[full] & mask) == (n->addr[full] & mask);
}

static bool allowed(uint8_t fam, const uint8_t *addr)
{
	static const struct net loop[] = {{4, 8, {127}}, {6, 128, {[15] = 1}}};
	bool ok = false;
	for (size_t i = 0; i < 2 && !ok; i++)
		ok = net_has(&loop[i], fam, addr); /* loopback always; allow widens */
	pthread_mutex_lock(&A.cfg_lock);
	for (size_t i = 0; i < A.nallow && !ok; i++)
		ok = net_has(&A.allow[i], fam, addr);
	pthread_mutex_unlock(&A.cfg_lock);
	return ok;
}

/* Read the token: at most 255 bytes after dropping trailing white space. */
static int load_token(const char *path, char *tok, size_t *toklen, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, LOG_PREFIX "token_file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0044) != 0)
		hfs_log("WARNING", LOG_PREFIX "token_file %s is readable by group or others", path);
	char buf[TOKEN_MAX + 64];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, LOG_PREFIX "token_file %s: %s", path, strerror(errno));
		return -1;
	}
	size_t len = (size_t)n;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	if (len == 0 || len >= TOKEN_MAX) {
		snprintf(err, errlen, LOG_PREFIX "token_file %s: the token must be 1 to %d bytes", path,
			 TOKEN_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			snprintf(err, errlen, LOG_PREFIX "token_file %s: control character in the token", path);
			return -1;
		}
	}
	memset(tok, 0, TOKEN_MAX);
	memcpy(tok, buf, len);
	*toklen = len;
	memset(buf, 0, sizeof(buf));
	return 0;
}

struct bg_cfg {
	bool configured;
	char addr[HFS_ADDR_MAX];
	char token_file[4096];
	struct net allow[ALLOW_MAX];
	size_t nallow;
};

/* The engine's breakglass settings (hf_admin "breakglass-config"). */
static int engine_cfg(hf_engine_t *e, struct bg_cfg *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	char *buf = malloc(CFG_CAP);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int ret = hf_admin(e, "breakglass-config", buf, CFG_CAP);
	if (ret != HF_EOK) {
		free(buf);
		return 0; /* not configured */
	}
	c->configured = true;
	snprintf(c->addr, sizeof(c->addr), "%s", DEFAULT_ADDR);
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "addr ", 5) == 0) {
			snprintf(c->addr, sizeof(c->addr), "%s", line + 5);
		} else if (strncmp(line, "token_file ", 11) == 0) {
			snprintf(c->token_file, sizeof(c->token_file), "%s", line + 11);
		} else if (strncmp(line, "allow ", 6) == 0 && c->nallow < ALLOW_MAX) {
			if (parse_net(line + 6, &c->allow[c->nallow]))
				c->nallow++;
		}
	}
	free(buf);
	if (c->token_file[0] == '\0') {
		snprintf(err, errlen, LOG_PREFIX "token_file is required: breakglass [ADDR] { token_file FILE }");
		return -1;
	}
	return 0;
}

/* ---- failed attempts, per source -------------------------------------------- */

static struct source *source_for(uint8_t fam, const uint8_t *addr, int64_t now)
{
	struct source *lru = &A.src[0];
	for (size_t i = 0; i < SOURCES; i++) {
		struct source *s = &A.src[i];
		if (s->used && s->fam == fam && memcmp(s->addr, addr, 16) == 0)
			return s;
		if (!s->used || (lru->used && s->at < lru->at))
			lru = s;
	}
	memset(lru, 0, sizeof(*lru));
	lru->used = true;
	lru->fam = fam;
	memcpy(lru->addr, addr, 16);
	lru->tokens = FAIL_BURST;
	lru->at = now;
	return lru;
}

static void refill(struct source *s, int64_t now)
{
	if (now > s->at) {
		s->tokens += (double)(now - s->at) / FAIL_REFILL_MS;
		if (s->tokens > FAIL_BURST)
			s->tokens = FAIL_BURST;
	}
	s->at = now;
}

/* ---- connections ------------------------------------------------------------ */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->spare && A.spare_fd < 0)
		A.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	c->fd = -1;
	c->spare = c->authed = c->closing = c->eof = false;
	c->inlen = c->outlen = c->outoff = 0;
}

static int slot_of(const struct conn *c)
{
	return (int)(c - A.c);
}

static void flush(struct conn *c, int64_t now);

/* Queue text as the reply (truncated to the buffer). */
static void reply(struct conn *c, const char *text, int64_t now)
{
	char *out = A.reply[slot_of(c)];
	size_t n = strnlen(text, REPLY_CAP - 1);
	if (text != out)
		memmove(out, text, n);
	c->outlen = n;
	c->outoff = 0;
	c->out_start = now;
	flush(c, now);
}

/* Log-safe copy of a command: printable ASCII, at most 512 bytes. */
static void sanitize(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; in[i] != '\0' && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
	}
	out[o] = '\0';
}

static bool token_ok(const char *got, size_t glen)
{
	unsigned char a[TOKEN_MAX], b[TOKEN_MAX];
	memset(a, 0, sizeof(a));
	memcpy(a, got, glen < TOKEN_MAX ? glen : TOKEN_MAX);
	pthread_mutex_lock(&A.cfg_lock);
	memcpy(b, A.token, TOKEN_MAX);
	size_t tl = A.toklen;
	pthread_mutex_unlock(&A.cfg_lock);
	volatile unsigned char diff = 0;
	for (size_t i = 0; i < TOKEN_MAX; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	diff |= (unsigned char)(glen != tl);
	memset(b, 0, sizeof(b));
	memset(a, 0, sizeof(a));
	return diff == 0;
}

static void auth_line(struct conn *c, const char *line, int64_t now)
{
	struct source *s = source_for(c->fam, c->addr, now);
	refill(s, now);
	if (s->tokens < 1.0) {
		int64_t wait = (int64_t)((1.0 - s->tokens) * FAIL_REFILL_MS) + 1;
		if (now - s->logged >= 10000) {
			hfs_log("WARNING", LOG_PREFIX "authentication refused: client=%s: too many failed "
				"attempts (%u); locked for %.1fs", c->peer, s->fails, (double)wait / 1000);
			s->logged = now;
		}
		char msg[160];
		snprintf(msg, sizeof(msg), "ERROR too many failed authentication attempts; try again in %.1fs\n",
			 (double)wait / 1000);
		c->closing = true;
		reply(c, msg, now);
		return;
	}
	const char *why = NULL;
	if (strncmp(line, "auth ", 5) != 0)
		why = "authentication required: the first line must be `auth TOKEN`";
	else if (!token_ok(line + 5, strlen(line + 5)))
		why = "authentication failed";
	if (why != NULL) {
		s->tokens -= 1.0;
		if (s->tokens < 0)
			s->tokens = 0;
		s->fails++;
		hfs_log("WARNING", LOG_PREFIX "authentication failed: client=%s reason=%s (%u failures "
			"from this address)", c->peer, strncmp(line, "auth ", 5) ? "no auth line" : "wrong token",
			s->fails);
		char msg[160];
		snprintf(msg, sizeof(msg), "ERROR %s\n", why);
		c->closing = true;
		reply(c, msg, now);
		return;
	}
	c->authed = true;
	hfs_log("INFO", LOG_PREFIX "audit: client=%s cmd=auth", c->peer);
	reply(c, "OK authenticated\n", now);
}

static void command_line(struct conn *c, const char *line, int64_t now)
{
	char clean[600];
	sanitize(line, clean, sizeof(clean));
	hfs_log("INFO", LOG_PREFIX "audit: client=%s cmd=%s", c->peer, clean);
	char word[16] = "", more[8] = "";
	int words = sscanf(line, "%15s %7s", word, more);
	if (word[0] == '\0') {
		reply(c, "ERROR empty command (try help)\n", now);
		return;
	}
	if (strcmp(word, "quit") == 0 || strcmp(word, "exit") == 0) {
		c->closing = true;
		reply(c, "OK bye\n", now);
		return;
	}
	if (strcmp(word, "reload") == 0) {
		if (words > 1) {
			reply(c, "ERROR usage: reload\n", now);
			return;
		}
		kill(getpid(), SIGUSR1);
		reply(c, "OK reload requested (SIGUSR1); the server log says how it went\n", now);
		return;
	}
	char *out = A.reply[slot_of(c)];
	pthread_mutex_lock(&A.cmd_lock);
	struct hfs_gen *g = hfs_gen_acquire();
	if (g == NULL) {
		pthread_mutex_unlock(&A.cmd_lock);
		reply(c, "ERROR shutting down\n", now);
		return;
	}
	out[0] = '\0';
	(void)hf_admin(g->engine, line, out, REPLY_CAP);
	hfs_gen_release(g);
	pthread_mutex_unlock(&A.cmd_lock);
	out[REPLY_CAP - 1] = '\0';
	size_t n = strlen(out);
	if (n == 0 || out[n - 1] != '\n') {
		/* never happens with a sane engine; keep the protocol */
		snprintf(out + (n < REPLY_CAP - 64 ? n : REPLY_CAP - 64), 64, "\nERROR no reply\n");
	}
	reply(c, out, hfs_now_ms());
}

/* Run every complete line in the buffer (one at a time: a reply must be
 * taken before the next command runs). */
static void run_lines(struct conn *c, int64_t now)
{
	while (c->fd >= 0 && !c->closing && c->outlen == 0) {
		char *nl = memchr(c->in, '\n', c->inlen);
		if (nl == NULL) {
			if (c->inlen > LINE_MAX_B) {
				hfs_log("WARNING", LOG_PREFIX "client=%s: line longer than %d bytes; closed",
					c->peer, LINE_MAX_B);
				c->closing = true;
				c->inlen = 0;
				reply(c, "ERROR line longer than 4096 bytes; closing\n", now);
			}
			break;
		}
		size_t len = (size_t)(nl - c->in), rest = c->inlen - len - 1;
		size_t l = len > 0 && c->in[len - 1] == '\r' ? len - 1 : len;
		char line[LINE_MAX_B + 1];
		memcpy(line, c->in, l);
		line[l] = '\0';
		memmove(c->in, nl + 1, rest);
		c->inlen = rest;
		c->line_start = rest > 0 ? now : 0;
		c->last = now;
		if (strlen(line) != l) {
			c->closing = true;
			reply(c, "ERROR NUL byte in the line; closing\n", now);
			return;
		}
		if (!c->authed)
			auth_line(c, line, now);
		else
			command_line(c, line, now);
	}
	/* the client closed its side: once everything it sent is answered */
	if (c->fd >= 0 && c->eof && c->outlen == 0)
		conn_close(c);
}

static void flush(struct conn *c, int64_t now)
{
	char *out = A.reply[slot_of(c)];
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n > 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* POLLOUT */
		if (n < 0 && errno == EINTR)
			continue;
		conn_close(c);
		return;
	}
	c->outlen = c->outoff = 0;
	c->last = now;
	if (c->closing) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
		return;
	}
	run_lines(c, now); /* lines that came while the reply was pending */
}

static void conn_read(struct conn *c, int64_t now)
{
	for (int rounds = 0; rounds < 8 && c->fd >= 0; rounds++) {
		size_t room = LINE_MAX_B + 1 - c->inlen;
		if (room == 0)
			break;
		ssize_t n = recv(c->fd, c->in + c->inlen, room, 0);
		if (n == 0) {
			/* half-closed: answer what was sent, then close */
			c->eof = true;
			if (c->outlen == 0)
				run_lines(c, now);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			conn_close(c);
			return;
		}
		if (c->inlen == 0)
			c->line_start = now;
		c->inlen += (size_t)n;
		run_lines(c, now);
	}
}

/* A slot for a new connection: a free one, else evict (the oldest
 * unauthenticated, else the longest idle). */
static struct conn *take_slot(int64_t now)
{
	struct conn *victim = NULL;
	for (int i = 0; i < SLOTS; i++) {
		struct conn *c = &A.c[i];
		if (c->fd < 0)
			return c;
		if (!c->authed && (victim == NULL || victim->authed || c->opened < victim->opened))
			victim = c;
	}
	if (victim == NULL) {
		victim = &A.c[0];
		for (int i = 1; i < SLOTS; i++)
			if (A.c[i].last < victim->last)
				victim = &A.c[i];
	}
	hfs_log("WARNING", LOG_PREFIX "all %d connection slots busy: closed client=%s (%s, %.1fs old) "
		"for a new connection", SLOTS, victim->peer, victim->authed ? "authenticated" : "unauthenticated",
		(double)(now - victim->opened) / 1000);
	conn_close(victim);
	return victim;
}

static void do_accept(int64_t now)
{
	for (int k = 0; k < 16; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		bool spare = false;
		int fd = accept4(A.lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE) && A.spare_fd >= 0) {
			/* out of descriptors: the reserved one is for an operator */
			close(A.spare_fd);
			A.spare_fd = -1;
			sl = sizeof(ss);
			fd = accept4(A.lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
			spare = fd >= 0;
			if (fd < 0)
				A.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
		if (fd < 0)
			return;
		hfs_unmap_v4(&ss, &sl);
		uint8_t fam = 0, addr[16] = {0};
		char ip[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)&ss;
			fam = 4;
			memcpy(addr, &s4->sin_addr, 4);
			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
			port = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const void *)&ss;
			fam = 6;
			memcpy(addr, &s6->sin6_addr, 16);
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			port = ntohs(s6->sin6_port);
		}
		char peer[80];
		snprintf(peer, sizeof(peer), fam == 6 ? "[%s]:%u" : "%s:%u", ip, port);
		if (fam == 0 || !allowed(fam, addr)) {
			if (now - A.refused_logged >= 1000) {
				hfs_log("WARNING", LOG_PREFIX "refused connection from %s: not in allow", peer);
				A.refused_logged = now;
			}
			close(fd);
			if (spare)
				A.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			continue;
		}
		struct conn *c = take_slot(now);
		c->fd = fd;
		c->spare = spare;
		c->authed = c->closing = c->eof = false;
		c->fam = fam;
		memcpy(c->addr, addr, 16);
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
		c->inlen = c->outlen = c->outoff = 0;
		c->opened = c->last = now;
		c->line_start = 0;
	}
}

/* Close what overstayed; returns the next deadline (ms from now, <= 1000). */
static int expire(int64_t now)
{
	int64_t next = now + 1000;
	for (int i = 0; i < SLOTS; i++) {
		struct conn *c = &A.c[i];
		if (c->fd < 0)
			continue;
		const char *why = NULL;
		int64_t dl = INT64_MAX;
		if (c->outlen > 0) {
			dl = c->out_start + WRITE_MS;
			why = "reply not read in time";
		} else if (c->inlen > 0) {
			dl = c->line_start + LINE_MS;
			why = "line not completed in time";
		} else if (!c->authed) {
			dl = c->opened + AUTH_MS;
			why = "no authentication in time";
		} else {
			dl = c->last + IDLE_MS;
			why = NULL; /* idle: quietly */
		}
		if (!c->authed && c->opened + AUTH_MS < dl) {
			dl = c->opened + AUTH_MS;
			why = "no authentication in time";
		}
		if (now >= dl) {
			if (why != NULL)
				hfs_log("WARNING", LOG_PREFIX "closed client=%s: %s", c->peer, why);
			conn_close(c);
			continue;
		}
		if (dl < next)
			next = dl;
	}
	return (int)(next - now);
}

/* ---- the thread --------------------------------------------------------------- */

static void raise_priority(char *how, size_t len)
{
	struct sched_param sp = {.sched_priority = RT_PRIORITY};
	int max = sched_get_priority_max(SCHED_RR);
	if (max > 0 && sp.sched_priority > max)
		sp.sched_priority = max;
	int r = pthread_setschedparam(pthread_self(), SCHED_RR, &sp);
	if (r == 0) {
		snprintf(how, len, "SCHED_RR priority %d", sp.sched_priority);
		return;
	}
	pid_t tid = (pid_t)syscall(SYS_gettid);
	if (setpriority(PRIO_PROCESS, (id_t)tid, -20) == 0) {
		snprintf(how, len, "nice -20 (SCHED_RR not permitted: %s)", strerror(r));
		return;
	}
	/* the lowest nice value RLIMIT_NICE allows */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NICE, &rl) == 0 && rl.rlim_cur > 0 && rl.rlim_cur <= 40) {
		int lowest = 20 - (int)rl.rlim_cur;
		int cur = getpriority(PRIO_PROCESS, (id_t)tid);
		if (lowest < cur && setpriority(PRIO_PROCESS, (id_t)tid, lowest) == 0) {
			snprintf(how, len, "nice %d (SCHED_RR and nice -20 not permitted)", lowest);
			return;
		}
	}
	snprintf(how, len, "normal priority (neither SCHED_RR nor a lower nice value permitted: %s)",
		 strerror(r));
}

static void *admin_main(void *arg)
{
	(void)arg;
	char how[160];
	raise_priority(how, sizeof(how));
	hfs_log("INFO", LOG_PREFIX "admin port on %s: thread at %s; %d connection slots and %u KiB "
		"reserved", A.addr, how, SLOTS, (unsigned)(SLOTS * (REPLY_CAP + sizeof(struct conn)) / 1024));
	struct pollfd pf[2 + SLOTS];
	int map[2 + SLOTS];
	for (;;) {
		int64_t now = hfs_now_ms();
		int timeout = expire(now);
		int n = 0;
		pf[n].fd = A.stop_fd;
		pf[n].events = POLLIN;
		map[n++] = -1;
		pf[n].fd = A.lfd;
		pf[n].events = POLLIN;
		map[n++] = -2;
		for (int i = 0; i < SLOTS; i++) {
			if (A.c[i].fd < 0)
				continue;
			pf[n].fd = A.c[i].fd;
			pf[n].events = A.c[i].outlen > 0 ? POLLOUT : A.c[i].eof ? 0 : POLLIN;
			map[n++] = i;
		}
		int r = poll(pf, (nfds_t)n, timeout > 0 ? timeout : 0);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		now = hfs_now_ms();
		if (pf[0].revents & POLLIN)
			break;
		for (int k = 2; k < n; k++) {
			struct conn *c = &A.c[map[k]];
			if (c->fd != pf[k].fd || pf[k].revents == 0)
				continue;
			if (pf[k].revents & POLLOUT)
				flush(c, now);
			else if (pf[k].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(c, now);
		}
		if (pf[1].revents & POLLIN)
			do_accept(now);
	}
	for (int i = 0; i < SLOTS; i++)
		conn_close(&A.c[i]);
	return NULL;
}

static void release_all(void)
{
	if (A.lfd >= 0)
		close(A.lfd);
	if (A.stop_fd >= 0)
		close(A.stop_fd);
	if (A.spare_fd >= 0)
		close(A.spare_fd);
	A.lfd = A.stop_fd = A.spare_fd = -1;
	for (int i = 0; i < SLOTS; i++) {
		if (A.reply[i] != NULL) {
			munlock(A.reply[i], REPLY_CAP);
			free(A.reply[i]);
		}
		A.reply[i] = NULL;
	}
	memset(A.token, 0, sizeof(A.token));
}

int hfs_admin_start(hf_engine_t *e, char *err, size_t errlen)
{
	struct bg_cfg cfg;
	if (engine_cfg(e, &cfg, err, errlen) != 0)
		return -1;
	if (!cfg.configured)
		return 0;
	if (load_token(cfg.token_file, A.token, &A.toklen, err, errlen) != 0)
		return -1;
	snprintf(A.addr, sizeof(A.addr), "%s", cfg.addr);
	snprintf(A.token_file, sizeof(A.token_file), "%s", cfg.token_file);
	memcpy(A.allow, cfg.allow, sizeof(A.allow));
	A.nallow = cfg.nallow;
	for (int i = 0; i < SLOTS; i++) {
		A.c[i].fd = -1;
		A.reply[i] = malloc(REPLY_CAP);
		if (A.reply[i] == NULL) {
			snprintf(err, errlen, LOG_PREFIX "out of memory");
			release_all();
			return -1;
		}
		memset(A.reply[i], 0, REPLY_CAP); /* touched now, pinned if allowed */
		(void)mlock(A.reply[i], REPLY_CAP);
	}
	(void)mlock(&A, sizeof(A));
	char lerr[512];
	A.lfd = hfs_listen_hostport(A.addr, SOCK_STREAM, lerr, sizeof(lerr));
	if (A.lfd < 0) {
		snprintf(err, errlen, LOG_PREFIX "%s", lerr);
		release_all();
		return -1;
	}
	A.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	A.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (A.stop_fd < 0) {
		snprintf(err, errlen, LOG_PREFIX "eventfd: %s", strerror(errno));
		release_all();
		return -1;
	}
	if (pthread_create(&A.thread, NULL, admin_main, NULL) != 0) {
		snprintf(err, errlen, LOG_PREFIX "cannot start the admin thread");
		release_all();
		return -1;
	}
	A.running = true;
	return 0;
}

void hfs_admin_stop(void)
{
	if (!A.running)
		return;
	uint64_t one = 1;
	ssize_t w = write(A.stop_fd, &one, sizeof(one));
	(void)w;
	pthread_join(A.thread, NULL);
	A.running = false;
	release_all();
}

/* ---- reload -------------------------------------------------------------------- */

int hfs_admin_reload_begin(hf_engine_t *next, char *rerr, size_t rerrlen)
{
	char err[512] = "";
	struct bg_cfg cfg;
	int ret = engine_cfg(next, &cfg, err, sizeof(err));
	if (!A.running) {
		if (ret == 0 && cfg.configured)
			hfs_log("WARNING", LOG_PREFIX "breakglass was added by a reload; restart holdfast "
				"to open the admin port");
		return 0;
	}
	if (ret != 0 || !cfg.configured) {
		hfs_log("ERROR", LOG_PREFIX "%s; the admin port keeps its settings until a restart",
			ret != 0 ? err : "breakglass was removed by a reload");
	} else {
		if (strcmp(cfg.addr, A.addr) != 0)
			hfs_log("ERROR", LOG_PREFIX "the address changed to %s; it stays %s until a "
				"restart", cfg.addr, A.addr);
		char tok[TOKEN_MAX];
		size_t tl = 0;
		if (load_token(cfg.token_file, tok, &tl, err, sizeof(err)) != 0) {
			hfs_log("ERROR", "%s; keeping the old token", err);
		} else {
			pthread_mutex_lock(&A.cfg_lock);
			memcpy(A.token, tok, TOKEN_MAX);
			A.toklen = tl;
			snprintf(A.token_file, sizeof(A.token_file), "%s", cfg.token_file);
			memcpy(A.allow, cfg.allow, sizeof(A.allow));
			A.nallow = cfg.nallow;
			pthread_mutex_unlock(&A.cfg_lock);
		}
		memset(tok, 0, sizeof(tok));
	}
	/* carry the operator's state over; no command runs until _end */
	pthread_mutex_lock(&A.cmd_lock);
	struct hfs_gen *g = hfs_gen_current();
	char *buf = malloc(REPLY_CAP), *one = malloc(CFG_CAP);
	if (g == NULL || buf == NULL || one == NULL) {
		free(buf);
		free(one);
		return 0;
	}
	size_t carried = 0, failed = 0;
	if (hf_admin(g->engine, "export", buf, REPLY_CAP) == HF_EOK) {
		/* frozen: the new engine would serve what the API says now,
		 * which is what the operator froze out */
		if (strstr(buf, "\nfreeze\n") != NULL || strncmp(buf, "freeze\n", 7) == 0) {
			snprintf(rerr, rerrlen, LOG_PREFIX "frozen by the operator: thaw before reloading");
			free(buf);
			free(one);
			pthread_mutex_unlock(&A.cmd_lock);
			return -1;
		}
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "OK", 2) == 0 || strncmp(line, "ERROR", 5) == 0 || line[0] == ';')
				continue;
			if (hf_admin(next, line, one, CFG_CAP) == HF_EOK)
				carried++;
			else
				failed++;
		}
	}
	if (carried + failed > 0)
		hfs_log("INFO", LOG_PREFIX "carried %zu overrides/limits over to the new "
			"configuration%s", carried, failed ? " (some failed)" : "");
	free(buf);
	free(one);
	return 0;
}

void hfs_admin_reload_end(void)
{
	if (A.running)
		pthread_mutex_unlock(&A.cmd_lock);
}
