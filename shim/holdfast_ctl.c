/*
 * holdfast_ctl.c: holdfast-ctl, the client of the break-glass admin port
 * (issue 7), like unbound-control:
 *
 *   holdfast-ctl [-s ADDR] [-t TOKENFILE] [-conf COREFILE] [-timeout SEC] COMMAND...
 *
 * -conf reads the `breakglass [ADDR] { token_file FILE }` directive of a
 * Corefile (the first one; token_file relative to the Corefile's directory;
 * {$ENV} placeholders are expanded; import and snippets are not followed);
 * -s and -t override what it found.  The default address is
 * 127.0.0.1:9154 (a wildcard host means loopback).  The words of COMMAND
 * are sent as one line after `auth TOKEN`; every line of the reply is
 * printed.  A dump that did not fit in one reply ends with "OK more: CMD":
 * holdfast-ctl sends CMD and prints on.  Exit status: 0 on OK, 1 on ERROR,
 * 2 when it could not ask (usage, token, connection, timeout).
 * Build: make build/holdfast-ctl (no dependency on the engine).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADDR "127.0.0.1:9154"
#define LINE_MAX_B 4096
#define TOKEN_MAX 256
#define COREFILE_MAX (4u << 20)
#define PAGES_MAX 100000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: holdfast-ctl [-s ADDR] [-t TOKENFILE] [-conf COREFILE] [-timeout SEC] COMMAND...\n"
		"  -s ADDR         admin port address (default " DEFAULT_ADDR ")\n"
		"  -t TOKENFILE    file holding the token\n"
		"  -conf COREFILE  take both from the Corefile's breakglass directive\n"
		"  -timeout SEC    give up after SEC seconds per reply (default 10)\n"
		"commands: status, lookup NAME [TYPE], dump [ZONE], set NAME TYPE TTL RDATA,\n"
		"  unset NAME [TYPE], overrides, freeze, thaw, stale extend DURATION,\n"
		"  snapshot now, flush cache, limit CIDR QPS, unlimit CIDR, limits, export,\n"
		"  reload, help\n");
}

/* ---- Corefile ------------------------------------------------------------------ */

typedef struct tok {
	char *s;
	int line;
} tok_t;

/* Expand {$VAR} in s (Caddy's environment placeholders). */
static char *expand_env(const char *s)
{
	size_t cap = strlen(s) + 1, len = 0;
	char *out = malloc(cap);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; s[i] != '\0';) {
		const char *end;
		if (s[i] == '{' && s[i + 1] == '$' && (end = strchr(s + i, '}')) != NULL) {
			char name[256];
			size_t nl = (size_t)(end - (s + i + 2));
			if (nl < sizeof(name)) {
				memcpy(name, s + i + 2, nl);
				name[nl] = '\0';
				const char *v = getenv(name);
				size_t vl = v ? strlen(v) : 0;
				char *n = realloc(out, cap + vl);
				if (n == NULL) {
					free(out);
					return NULL;
				}
				out = n;
				cap += vl;
				if (vl)
					memcpy(out + len, v, vl);
				len += vl;
				i = (size_t)(end - s) + 1;
				continue;
			}
		}
		out[len++] = s[i++];
	}
	out[len] = '\0';
	return out;
}

/* Split text into tokens (white space, "quotes", # comments). */
static tok_t *lex(const char *text, size_t len, size_t *ntok)
{
	size_t cap = 64, n = 0;
	tok_t *t = malloc(cap * sizeof(*t));
	char *buf = malloc(len + 1);
	if (t == NULL || buf == NULL) {
		free(t);
		free(buf);
		return NULL;
	}
	int line = 1;
	size_t i = 0;
	while (i < len) {
		char ch = text[i];
		if (ch == '\n') {
			line++;
			i++;
			continue;
		}
		if (isspace((unsigned char)ch)) {
			i++;
			continue;
		}
		if (ch == '#') {
			while (i < len && text[i] != '\n')
				i++;
			continue;
		}
		size_t w = 0;
		int at = line;
		if (ch == '"') {
			i++;
			while (i < len && text[i] != '"') {
				if (text[i] == '\\' && i + 1 < len && (text[i + 1] == '"' || text[i + 1] == '\\'))
					i++;
				if (text[i] == '\n')
					line++;
				buf[w++] = text[i++];
			}
			i++;
		} else {
			while (i < len && !isspace((unsigned char)text[i]))
				buf[w++] = text[i++];
		}
		buf[w] = '\0';
		if (n == cap) {
			tok_t *nt = realloc(t, 2 * cap * sizeof(*t));
			if (nt == NULL)
				break;
			t = nt;
			cap *= 2;
		}
		t[n].s = expand_env(buf);
		t[n].line = at;
		if (t[n].s == NULL)
			break;
		n++;
	}
	free(buf);
	*ntok = n;
	return t;
}

/* The breakglass directive: addr and token_file (resolved against dir). */
static int from_corefile(const char *path, char *addr, size_t alen, char *tokfile, size_t tlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "holdfast-ctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char *text = malloc(COREFILE_MAX);
	size_t len = text ? fread(text, 1, COREFILE_MAX, f) : 0;
	fclose(f);
	if (text == NULL)
		return -1;
	size_t n = 0;
	tok_t *t = lex(text, len, &n);
	free(text);
	if (t == NULL)
		return -1;
	int depth = 0, found = -1;
	for (size_t i = 0; i < n && found < 0; i++) {
		bool first = i == 0 || t[i - 1].line != t[i].line;
		if (strcmp(t[i].s, "{") == 0)
			depth++;
		else if (strcmp(t[i].s, "}") == 0)
			depth--;
		else if (first && depth == 1 && strcmp(t[i].s, "breakglass") == 0)
			found = (int)i;
	}
	int ret = -1;
	if (found < 0) {
		fprintf(stderr, "holdfast-ctl: no breakglass directive in %s\n", path);
		goto out;
	}
	snprintf(addr, alen, "%s", DEFAULT_ADDR);
	size_t i = (size_t)found + 1;
	if (i < n && t[i].line == t[found].line && strcmp(t[i].s, "{") != 0)
		snprintf(addr, alen, "%s", t[i++].s);
	if (i < n && t[i].line == t[found].line && strcmp(t[i].s, "{") == 0) {
		for (i++; i < n && strcmp(t[i].s, "}") != 0; i++) {
			if (strcmp(t[i].s, "token_file") == 0 && i + 1 < n && t[i + 1].line == t[i].line) {
				const char *p = t[++i].s;
				if (p[0] == '/') {
					snprintf(tokfile, tlen, "%s", p);
				} else {
					const char *slash = strrchr(path, '/');
					int dl = slash != NULL ? (int)(slash - path) : 0;
					if (slash != NULL)
						snprintf(tokfile, tlen, "%.*s/%s", dl, path, p);
					else
						snprintf(tokfile, tlen, "%s", p);
				}
			}
		}
	}
	ret = 0;
out:
	for (size_t k = 0; k < n; k++)
		free(t[k].s);
	free(t);
	return ret;
}

/* ---- the connection ------------------------------------------------------------ */

static int read_token(const char *path, char *tok, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "holdfast-ctl: token file %s: %s\n", path, strerror(errno));
		return -1;
	}
	ssize_t n = read(fd, tok, cap - 1);
	close(fd);
	if (n < 0) {
		fprintf(stderr, "holdfast-ctl: token file %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t len = (size_t)n;
	while (len > 0 && isspace((unsigned char)tok[len - 1]))
		len--;
	tok[len] = '\0';
	if (len == 0 || strchr(tok, '\n') != NULL) {
		fprintf(stderr, "holdfast-ctl: token file %s: no token (one line expected)\n", path);
		return -1;
	}
	return 0;
}

static int dial(const char *hostport, int timeout_ms)
{
	char host[256];
	const char *port;
	if (hostport[0] == '[') {
		const char *rb = strchr(hostport, ']');
		if (rb == NULL || rb[1] != ':' || (size_t)(rb - hostport - 1) >= sizeof(host))
			return -1;
		memcpy(host, hostport + 1, (size_t)(rb - hostport - 1));
		host[rb - hostport - 1] = '\0';
		port = rb + 2;
	} else {
		const char *c = strrchr(hostport, ':');
		if (c == NULL || (size_t)(c - hostport) >= sizeof(host))
			return -1;
		memcpy(host, hostport, (size_t)(c - hostport));
		host[c - hostport] = '\0';
		port = c + 1;
	}
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, sizeof(host), "::1");
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
		return -1;
	int fd = -1;
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int err = 0;
		socklen_t el = sizeof(err);
		if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
		    err != 0) {
			close(fd);
			fd = -1;
			errno = err ? err : ETIMEDOUT;
		}
	}
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, const char *s, size_t n, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		int left = (int)(end - now_ms());
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -1;
	}
	return 0;
}

typedef struct rd {
	int fd;
	char buf[65536];
	size_t len;
} rd_t;

/* One line (without the newline) into line; 0, or -1 on EOF/timeout. */
static int read_line(rd_t *r, char *line, size_t cap, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		if (nl != NULL) {
			size_t l = (size_t)(nl - r->buf);
			size_t c = l < cap - 1 ? l : cap - 1;
			memcpy(line, r->buf, c);
			line[c] = '\0';
			memmove(r->buf, nl + 1, r->len - l - 1);
			r->len -= l + 1;
			return 0;
		}
		if (r->len == sizeof(r->buf)) {
			/* a line longer than the buffer: hand out what there is */
			memcpy(line, r->buf, cap - 1);
			line[cap - 1] = '\0';
			r->len = 0;
			return 0;
		}
		int left = (int)(end - now_ms());
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ssize_t n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0)
			r->len += (size_t)n;
	}
}

static bool is_final(const char *line)
{
	return strcmp(line, "OK") == 0 || strncmp(line, "OK ", 3) == 0 || strcmp(line, "ERROR") == 0 ||
	       strncmp(line, "ERROR ", 6) == 0;
}

/* A whole decimal number in 1..INT_MAX, else -1 ("5x" is not 5). */
static int positive_int(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *tokfile = NULL, *conf = NULL;
	int timeout_s = 10;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i] + (argv[i][1] == '-' ? 2 : 1);
		const char *val = NULL;
		char name[32];
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof(name)) {
			usage(stderr);
			return 2;
		}
		memcpy(name, a, nl);
		name[nl] = '\0';
		if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
			usage(stdout);
			return 0;
		}
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		if (val == NULL) {
			fprintf(stderr, "holdfast-ctl: flag needs an argument: -%s\n", name);
			usage(stderr);
			return 2;
		}
		if (strcmp(name, "s") == 0)
			addr = val;
		else if (strcmp(name, "t") == 0)
			tokfile = val;
		else if (strcmp(name, "conf") == 0)
			conf = val;
		else if (strcmp(name, "timeout") == 0 && positive_int(val) > 0)
			timeout_s = positive_int(val);
		else {
			fprintf(stderr, "holdfast-ctl: flag provided but not defined: -%s\n", name);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	char caddr[512] = DEFAULT_ADDR, ctok[4096] = "";
	if (conf != NULL && from_corefile(conf, caddr, sizeof(caddr), ctok, sizeof(ctok)) != 0)
		return 2;
	if (addr == NULL)
		addr = caddr;
	if (tokfile == NULL)
		tokfile = ctok[0] ? ctok : NULL;
	if (tokfile == NULL) {
		fprintf(stderr, "holdfast-ctl: no token file: give -t TOKENFILE or -conf COREFILE\n");
		return 2;
	}
	char cmd[LINE_MAX_B + 2];
	size_t cl = 0;
	for (int k = i; k < argc; k++) {
		size_t l = strlen(argv[k]);
		if (strchr(argv[k], '\n') != NULL || cl + l + 2 > LINE_MAX_B) {
			fprintf(stderr, "holdfast-ctl: the command is too long or has a newline\n");
			return 2;
		}
		/* a word with spaces (a TXT string) goes quoted */
		bool q = l == 0 || strpbrk(argv[k], " \t\"") != NULL;
		if (cl > 0)
			cmd[cl++] = ' ';
		if (q) {
			if (cl + 2 * l + 3 > LINE_MAX_B) {
				fprintf(stderr, "holdfast-ctl: the command is too long\n");
				return 2;
			}
			cmd[cl++] = '"';
			for (size_t j = 0; j < l; j++) {
				if (argv[k][j] == '"' || argv[k][j] == '\\')
					cmd[cl++] = '\\';
				cmd[cl++] = argv[k][j];
			}
			cmd[cl++] = '"';
		} else {
			memcpy(cmd + cl, argv[k], l);
			cl += l;
		}
	}
	cmd[cl] = '\0';

	char token[TOKEN_MAX + 64];
	if (read_token(tokfile, token, sizeof(token)) != 0)
		return 2;
	int tmo = timeout_s * 1000;
	int fd = dial(addr, tmo);
	if (fd < 0) {
		fprintf(stderr, "holdfast-ctl: cannot connect to %s: %s\n", addr, strerror(errno));
		return 2;
	}
	static rd_t r;
	r.fd = fd;
	r.len = 0;
	char auth[TOKEN_MAX + 80];
	int al = snprintf(auth, sizeof(auth), "auth %s\n", token);
	memset(token, 0, sizeof(token));
	char line[LINE_MAX_B * 4];
	if (send_all(fd, auth, (size_t)al, tmo) != 0 || read_line(&r, line, sizeof(line), tmo) != 0) {
		fprintf(stderr, "holdfast-ctl: %s: no answer to authentication: %s\n", addr, strerror(errno));
		close(fd);
		return 2;
	}
	memset(auth, 0, sizeof(auth));
	if (strncmp(line, "OK", 2) != 0) {
		fprintf(stderr, "holdfast-ctl: %s\n", line);
		close(fd);
		return 1;
	}
	int status = 2;
	for (int page = 0; page < PAGES_MAX; page++) {
		size_t n = strlen(cmd);
		cmd[n] = '\n';
		int s = send_all(fd, cmd, n + 1, tmo);
		cmd[n] = '\0';
		if (s != 0) {
			fprintf(stderr, "holdfast-ctl: %s: cannot send: %s\n", addr, strerror(errno));
			break;
		}
		bool more = false;
		for (;;) {
			if (read_line(&r, line, sizeof(line), tmo) != 0) {
				fprintf(stderr, "holdfast-ctl: %s: reply incomplete: %s\n", addr, strerror(errno));
				close(fd);
				return 2;
			}
			if (!is_final(line)) {
				puts(line);
				continue;
			}
			if (strncmp(line, "OK more: ", 9) == 0 && strlen(line + 9) < LINE_MAX_B) {
				snprintf(cmd, sizeof(cmd), "%s", line + 9);
				more = true;
			} else {
				puts(line);
				status = line[0] == 'O' ? 0 : 1;
			}
			break;
		}
		if (!more)
			break;
	}
	fflush(stdout);
	close(fd);
	return status;
}
