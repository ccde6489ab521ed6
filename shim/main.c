/*
 * main.c: the holdfast server process: flags, engine start, listeners,
 * pidfile, and the signal loop (CoreDNS/caddy semantics): SIGTERM and
 * SIGINT shut down gracefully (ready fails, lameduck, workers stop), a
 * second SIGINT forces exit, SIGQUIT exits at once, SIGUSR1 reloads the
 * Corefile (a bad one keeps the running config); unlike CoreDNS, SIGHUP
 * reloads too (issue 6).  The reload plugin's timer runs in the same loop
 * (reload.c).
 */
#include "shim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define HFS_SHUTDOWN_GRACE_MS 5000 /* after lameduck, then give up */
#define HFS_LAMEDUCK_MAX_MS (3600 * 1000)

struct hfs_server hfs_srv;

static atomic_int shutdown_done;
static int64_t shutdown_lameduck;
static int pidfile_written;

static unsigned open_flags(void)
{
	return hfs_srv.flags.quiet ? HF_OPEN_QUIET : 0;
}

static void remove_pidfile(void)
{
	if (pidfile_written && hfs_srv.flags.pidfile != NULL)
		(void)unlink(hfs_srv.flags.pidfile);
	pidfile_written = 0;
}

static void write_pidfile(void)
{
	const char *path = hfs_srv.flags.pidfile;
	if (path == NULL)
		return;
	FILE *fp = fopen(path, "w");
	if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0) {
		hfs_log("ERROR", "Could not write pidfile: open %s: %s", path,
			strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return;
	}
	if (fclose(fp) != 0) {
		hfs_log("ERROR", "Could not write pidfile: %s: %s", path,
			strerror(errno));
		return;
	}
	pidfile_written = 1;
}

static void quit_now(int code)
{
	remove_pidfile();
	fflush(stdout);
	fflush(stderr);
	_exit(code);
}

/* Lameduck of the health plugin, if the engine reports it as
 * "lameduck_ms": N in hf_status_json(); 0 otherwise. */
static int64_t lameduck_ms(hf_engine_t *engine)
{
	size_t cap = 64 * 1024;
	char *buf = malloc(cap);
	if (buf == NULL)
		return 0;
	int64_t ms = 0;
	if (hf_status_json(engine, buf, cap) == HF_EOK) {
		buf[cap - 1] = '\0';
		const char *p = strstr(buf, "\"lameduck_ms\"");
		if (p != NULL) {
			p += strlen("\"lameduck_ms\"");
			while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ':')
				p++;
			long long v = strtoll(p, NULL, 10);
			if (v > 0)
				ms = v > HFS_LAMEDUCK_MAX_MS ? HFS_LAMEDUCK_MAX_MS : v;
		}
	}
	free(buf);
	return ms;
}

/* Go time.Duration style: 5s, 1.5s, 300ms */
static void fmt_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else {
		char frac[8];
		snprintf(frac, sizeof(frac), "%03lld", (long long)(ms % 1000));
		for (int i = 2; i > 0 && frac[i] == '0'; i--)
			frac[i] = '\0';
		snprintf(buf, len, "%lld.%ss", (long long)(ms / 1000), frac);
	}
}

static void close_tcp_listeners(void)
{
	for (int i = 0; i < hfs_srv.nlisteners; i++) {
		if (hfs_srv.l[i].tcp_fd >= 0)
			close(hfs_srv.l[i].tcp_fd);
		hfs_srv.l[i].tcp_fd = -1;
	}
}

static void *shutdown_main(void *arg)
{
	(void)arg;
	if (shutdown_lameduck > 0) {
		char d[32];
		fmt_duration(shutdown_lameduck, d, sizeof(d));
		hfs_log("INFO", "plugin/health: Going into lameduck mode for %s", d);
		struct timespec ts = {(time_t)(shutdown_lameduck / 1000),
				      (long)(shutdown_lameduck % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	uint64_t one = 1;
	ssize_t wr = write(hfs_srv.stop_fd, &one, sizeof(one));
	(void)wr;
	hfs_workers_stop();
	close_tcp_listeners();
	hfs_http_stop();
	hfs_admin_stop(); /* the break-glass port answers through lameduck */
	hfs_gen_reap(1);
	atomic_store(&shutdown_done, 1);
	return NULL;
}

static int load_listeners(hf_engine_t *e, char *err, size_t errlen)
{
	int n = hf_listener_count(e);
	if (n <= 0 || n > HFS_MAX_LISTENERS) {
		snprintf(err, errlen, n <= 0 ? "no DNS listeners configured"
					     : "too many DNS listeners (%d)", n);
		return -1;
	}
	hfs_srv.nlisteners = n;
	for (int i = 0; i < n; i++) {
		struct hfs_listener *l = &hfs_srv.l[i];
		memset(l, 0, sizeof(*l));
		l->tcp_fd = -1;
		int ret = hf_listener_get(e, i, l->addr, sizeof(l->addr), &l->port);
		if (ret != HF_EOK) {
			snprintf(err, errlen, "listener %d: %s", i, hf_strerror(ret));
			return -1;
		}
		l->addr[sizeof(l->addr) - 1] = '\0';
		/* Go listens dual stack on "0.0.0.0" and "::" as on "" */
		if (strcmp(l->addr, "0.0.0.0") == 0 || strcmp(l->addr, "::") == 0)
			l->addr[0] = '\0';
		l->wildcard = l->addr[0] == '\0';
	}
	return 0;
}

static int listeners_same(hf_engine_t *e)
{
	if (hf_listener_count(e) != hfs_srv.nlisteners)
		return 0;
	for (int i = 0; i < hfs_srv.nlisteners; i++) {
		char addr[HFS_ADDR_MAX];
		uint16_t port = 0;
		if (hf_listener_get(e, i, addr, sizeof(addr), &port) != HF_EOK)
			return 0;
		addr[sizeof(addr) - 1] = '\0';
		if (strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0)
			addr[0] = '\0';
		if (strcmp(addr, hfs_srv.l[i].addr) != 0 || port != hfs_srv.l[i].port)
			return 0;
	}
	return 1;
}

static int open_tcp_listeners(char *err, size_t errlen)
{
	for (int i = 0; i < hfs_srv.nlisteners; i++) {
		struct hfs_listener *l = &hfs_srv.l[i];
		l->family = 0;
		l->tcp_fd = hfs_listen(l->addr, l->port, SOCK_STREAM, 0, &l->family,
				       err, errlen);
		if (l->tcp_fd < 0)
			return -1;
	}
	return 0;
}

/* Open a complete new engine for the Corefile on disk and swap it in
 * (CoreDNS's instance restart); on failure the running one stays. */
int hfs_reload_run(char *why, size_t whylen)
{
	struct hfs_flags *f = &hfs_srv.flags;
	char err[4096];
	err[0] = '\0';
	hf_engine_t *e = hf_engine_open(f->conf, f->port, open_flags(), err,
					sizeof(err));
	if (e == NULL) {
		snprintf(why, whylen, "%s", err[0] ? err : "cannot load Corefile");
		return -1;
	}
	if (!listeners_same(e)) {
		hf_engine_close(e);
		snprintf(why, whylen, "the DNS listen addresses or ports changed; "
			 "restart holdfast to apply them");
		return -1;
	}
	if (hfs_http_prepare(e, err, sizeof(err)) != 0) {
		hf_engine_close(e);
		snprintf(why, whylen, "%s", err);
		return -1;
	}
	if (hfs_admin_reload_begin(e, err, sizeof(err)) != 0) { /* break-glass state moves to e */
		hfs_http_abort();
		hf_engine_close(e);
		snprintf(why, whylen, "%s", err);
		return -1;
	}
	hf_engine_t *prev = hfs_gen_current()->engine;
	if (hfs_gen_swap(e) != HF_EOK) {
		hfs_admin_reload_end();
		hfs_http_abort();
		hf_engine_close(e);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	hfs_admin_reload_end();
	(void)hf_metrics_inherit(e, prev); /* the rest follows when prev is closed (gen.c) */
	hfs_http_commit();
	hfs_reload_configured(e, hfs_now_ms()); /* the new config's reload plugin */
	(void)hfs_loop_start(e); /* loop plugin self-probes of the new instance (loop.c) */
	hfs_log("INFO", "Reloading complete");
	return 0;
}

/* SIGUSR1 (CoreDNS) and SIGHUP (holdfast, issue 6): reload at once. */
static void reload_signal(const char *sig)
{
	char why[4096];
	hfs_log("INFO", "%s: Reloading", sig);
	if (hfs_reload_run(why, sizeof(why)) != 0)
		hfs_log("ERROR", "Corefile changed but reload failed: %s", why);
}

static int start(char *err, size_t errlen)
{
	struct hfs_flags *f = &hfs_srv.flags;
	hf_engine_t *e = hf_engine_open(f->conf, f->port, open_flags(), err,
					errlen);
	if (e == NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot load Corefile %s", f->conf);
		return -1;
	}
	if (hfs_gen_init(e) != HF_EOK) {
		hf_engine_close(e);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (load_listeners(e, err, errlen) != 0)
		goto fail;
	/* the break-glass port first: it must answer whatever comes next */
	if (hfs_admin_start(e, err, errlen) != 0)
		goto fail;
	if (hfs_http_prepare(e, err, errlen) != 0)
		goto fail_admin;
	hfs_http_commit();
	if (open_tcp_listeners(err, errlen) != 0 ||
	    hfs_workers_start(e, err, errlen) != 0)
		goto fail_http;
	(void)hfs_loop_start(e); /* loop plugin self-probes (loop.c) */
	return 0;
fail_http:
	hfs_http_stop();
	close_tcp_listeners();
fail_admin:
	hfs_admin_stop();
fail:
	hfs_gen_reap(1);
	return -1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct hfs_flags *f = &hfs_srv.flags;
	int ret = hfs_flags_parse(argc, argv, f);
	if (ret != 0)
		return ret > 0 ? 0 : 1;
	if (f->version) {
		hfs_print_version();
		return 0;
	}
	if (f->plugins) {
		hfs_print_plugins();
		return 0;
	}
	if (!f->conf_given) {
		if (access("Corefile", F_OK) != 0) {
			hfs_die_msg("no -conf given and no Corefile in the current "
				    "directory");
			return 1;
		}
		f->conf = "Corefile";
	}
	if (hf_abi_version() != HF_ABI_VERSION) {
		hfs_die_msg("libholdfast ABI version %d, this holdfast needs %d",
			    hf_abi_version(), HF_ABI_VERSION);
		return 1;
	}

	/* every thread inherits this mask; only the loop below takes signals */
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	hfs_srv.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (hfs_srv.stop_fd < 0) {
		hfs_die_msg("eventfd: %s", strerror(errno));
		return 1;
	}
	char err[4096];
	err[0] = '\0';
	if (start(err, sizeof(err)) != 0) {
		hfs_die_msg("%s", err);
		close(hfs_srv.stop_fd);
		return 1;
	}
	write_pidfile();
	srandom((unsigned)(hfs_now_ms() ^ getpid()));
	hfs_reload_configured(hfs_gen_current()->engine, hfs_now_ms());

	int shutting = 0;
	int64_t next_tick = 0, give_up = 0;
	pthread_t sd;
	memset(&sd, 0, sizeof(sd));
	for (;;) {
		struct timespec ts = {0, 50 * 1000000L};
		int sig = sigtimedwait(&set, NULL, &ts);
		int begin = 0;
		switch (sig) {
		case SIGTERM:
			if (!shutting) {
				hfs_log("INFO", "SIGTERM: Shutting down servers then terminating");
				begin = 1;
			}
			break;
		case SIGINT:
			if (shutting) {
				hfs_log("INFO", "SIGINT: Force quit");
				quit_now(2);
			}
			hfs_log("INFO", "SIGINT: Shutting down");
			begin = 1;
			break;
		case SIGQUIT:
			hfs_log("INFO", "SIGQUIT: Quitting process immediately");
			quit_now(0);
			break;
		case SIGUSR1:
			if (!shutting)
				reload_signal("SIGUSR1");
			break;
		case SIGHUP: /* CoreDNS ignores it; holdfast reloads (issue 6) */
			if (!shutting)
				reload_signal("SIGHUP");
			break;
		case SIGUSR2:
			hfs_log("INFO", "SIGUSR2: Upgrading");
			hfs_log("ERROR", "SIGUSR2: upgrading: not supported by holdfast");
			break;
		default: /* timeout */
			break;
		}
		int64_t now = hfs_now_ms();
		if (begin) {
			shutting = 1;
			atomic_store(&hfs_srv.shutting_down, 1); /* /ready: 503 */
			shutdown_lameduck = lameduck_ms(hfs_gen_current()->engine);
			give_up = now + shutdown_lameduck + HFS_SHUTDOWN_GRACE_MS;
			if (pthread_create(&sd, NULL, shutdown_main, NULL) != 0) {
				hfs_log("ERROR", "cannot start shutdown; exiting");
				quit_now(1);
			}
		}
		if (shutting) {
			if (atomic_load(&shutdown_done))
				break;
			if (now > give_up) {
				hfs_log("ERROR", "shutdown did not finish in time; exiting");
				quit_now(1);
			}
			continue;
		}
		if (now >= next_tick) {
			(void)hf_tick(hfs_gen_current()->engine, now);
			next_tick = now + 100;
		}
		hfs_reload_tick(now); /* the reload plugin's timer */
		hfs_gen_reap(0);
	}
	pthread_join(sd, NULL);
	remove_pidfile();
	close(hfs_srv.stop_fd);
	return 0;
}
