/*
 * forward_pool.c: per-engine forward state (one per engine generation,
 * created when gen.c starts the generation or else by the first forwarded
 * query, freed when gen.c closes the engine), its upstreams, and each upstream's cache of idle connected
 * sockets (LIFO per transport; `expire` idle limit, `max_age` absolute
 * limit, `max_idle_conns` cap), with cache hit/miss metrics.
 */
#include "forward_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hfs_fwd_state *reg_head;

static int64_t opt(hf_engine_t *e, int id, const char *name, int64_t dflt)
{
	int64_t v;
	return hf_forward_option(e, id, name, &v) == HF_EOK ? v : dflt;
}

/* `. IN NS` (or the configured domain), RD unless no_rec. */
static void build_hc_query(struct hfs_fwd_inst *in, const char *domain)
{
	uint8_t *m = in->hc_q;
	memset(m, 0, 12);
	m[2] = in->hc_no_rec ? 0 : 0x01;
	m[5] = 1;
	size_t o = 12;
	const char *p = domain;
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || o + 1 + l + 6 > sizeof(in->hc_q))
			break;
		m[o++] = (uint8_t)l;
		memcpy(m + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	m[o++] = 0;
	m[o++] = 0;
	m[o++] = 2; /* NS */
	m[o++] = 0;
	m[o++] = 1; /* IN */
	in->hc_qlen = o;
}

static void init_inst(struct hfs_fwd_state *st, hf_engine_t *e, int id)
{
	struct hfs_fwd_inst *in = &st->inst[id];
	in->id = id;
	in->st = st;
	in->policy = (int)opt(e, id, "policy", 0);
	in->max_fails = opt(e, id, "max_fails", 2);
	in->hc_ms = opt(e, id, "health_check_ms", 500);
	if (in->hc_ms <= 0)
		in->hc_ms = 500;
	in->expire_ms = opt(e, id, "expire_ms", 10000);
	in->max_age_ms = opt(e, id, "max_age_ms", 0);
	in->read_timeout_ms = opt(e, id, "read_timeout_ms", 2000);
	if (in->read_timeout_ms <= 0)
		in->read_timeout_ms = 2000;
	in->max_concurrent = opt(e, id, "max_concurrent", 0);
	in->max_connect_attempts = opt(e, id, "max_connect_attempts", 0);
	in->max_idle = opt(e, id, "max_idle_conns", 0);
	in->force_tcp = opt(e, id, "force_tcp", 0) != 0;
	in->prefer_udp = opt(e, id, "prefer_udp", 0) != 0;
	in->failfast = opt(e, id, "failfast", 0) != 0;
	in->hc_no_rec = opt(e, id, "hc_no_rec", 0) != 0;
	in->next_on_nodata = opt(e, id, "next_on_nodata", 0) != 0;
	in->failover = (uint64_t)opt(e, id, "failover", 0);
	in->next = (uint64_t)opt(e, id, "next", 0);
	char dom[HFS_ADDR_MAX];
	if (hf_forward_upstream_at(e, id, -1, dom, sizeof(dom)) != HF_EOK)
		snprintf(dom, sizeof(dom), ".");
	build_hc_query(in, dom);
	atomic_init(&in->robin, 0);
	atomic_init(&in->concurrent, 0);
	in->n = 0;
	for (int i = 0; i < HFS_FWD_MAX_UP; i++) {
		struct hfs_fwd_up *up = &in->up[i];
		if (hf_forward_upstream_at(e, id, i, up->to, sizeof(up->to)) != HF_EOK)
			break;
		up->inst = in;
		atomic_init(&up->fails, 0);
		pthread_mutex_init(&up->lock, NULL);
		pthread_mutex_init(&up->hc_lock, NULL);
		pthread_cond_init(&up->hc_cond, NULL);
		up->m = hfs_fwd_metric_for(up->to);
		int wildcard = 0;
		char err[128];
		if (strncmp(up->to, "tls://", 6) == 0) {
			hfs_log("WARNING", "plugin/forward: %s: DNS-over-TLS is not supported by "
				"holdfast; queries sent to it fail", up->to);
		} else if (hfs_addr_resolve(up->to, 0, &up->ss, &up->sl, &wildcard, err,
					    sizeof(err)) == 0) {
			up->usable = true;
		} else {
			hfs_log("WARNING", "plugin/forward: %s: %s", up->to, err);
		}
		in->n = i + 1;
	}
}

static struct hfs_fwd_state *state_new(hf_engine_t *e)
{
	int n = hf_forward_count(e);
	if (n < 0)
		n = 0;
	struct hfs_fwd_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	st->inst = n ? calloc((size_t)n, sizeof(*st->inst)) : NULL;
	st->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if ((n && st->inst == NULL) || st->wake_fd < 0) {
		if (st->wake_fd >= 0)
			close(st->wake_fd);
		free(st->inst);
		free(st);
		return NULL;
	}
	st->engine = e;
	st->ninst = n;
	atomic_init(&st->refs, 1); /* the registry's */
	atomic_init(&st->dead, 0);
	for (int i = 0; i < n; i++)
		init_inst(st, e, i);
	if (n > 0)
		hfs_fwd_metrics_enable();
	return st;
}

static void state_free(struct hfs_fwd_state *st)
{
	for (int i = 0; i < st->ninst; i++) {
		struct hfs_fwd_inst *in = &st->inst[i];
		for (int k = 0; k < in->n; k++) {
			struct hfs_fwd_up *up = &in->up[k];
			for (int p = 0; p < 2; p++)
				for (int c = 0; c < up->nidle[p]; c++)
					close(up->idle[p][c].fd);
			pthread_mutex_destroy(&up->lock);
			pthread_mutex_destroy(&up->hc_lock);
			pthread_cond_destroy(&up->hc_cond);
		}
	}
	close(st->wake_fd);
	free(st->inst);
	free(st);
}

struct hfs_fwd_state *hfs_fwd_state_get(hf_engine_t *e)
{
	if (e == NULL)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	struct hfs_fwd_state *st = reg_head;
	while (st != NULL && st->engine != e)
		st = st->next;
	if (st == NULL && (st = state_new(e)) != NULL) {
		st->next = reg_head;
		reg_head = st;
	}
	if (st != NULL)
		atomic_fetch_add(&st->refs, 1);
	pthread_mutex_unlock(&reg_lock);
	return st;
}

void hfs_fwd_state_put(struct hfs_fwd_state *st)
{
	if (st != NULL && atomic_fetch_sub(&st->refs, 1) == 1)
		state_free(st);
}

void hfs_forward_engine_opened(hf_engine_t *e)
{
	if (e != NULL && hf_forward_count(e) > 0)
		hfs_fwd_state_put(hfs_fwd_state_get(e)); /* the registry keeps it */
}

void hfs_forward_engine_closed(hf_engine_t *e)
{
	pthread_mutex_lock(&reg_lock);
	struct hfs_fwd_state **pp = &reg_head, *st = NULL;
	while (*pp != NULL && (*pp)->engine != e)
		pp = &(*pp)->next;
	if (*pp != NULL) {
		st = *pp;
		*pp = st->next;
	}
	pthread_mutex_unlock(&reg_lock);
	if (st == NULL)
		return;
	atomic_store(&st->dead, 1);
	uint64_t one = 1;
	if (write(st->wake_fd, &one, sizeof(one)) < 0) {
		/* the threads still see dead within a health-check interval */
	}
	for (int i = 0; i < st->ninst; i++)
		for (int k = 0; k < st->inst[i].n; k++)
			hfs_fwd_hc_join(&st->inst[i].up[k]);
	hfs_fwd_state_put(st);
}

bool hfs_fwd_down(const struct hfs_fwd_up *up)
{
	int64_t mf = up->inst->max_fails;
	return mf > 0 && (int64_t)atomic_load(&up->fails) > mf;
}

int hfs_fwd_dial(const struct hfs_fwd_up *up, int proto)
{
	hfs_fwd_why.code = up->usable ? 0 : EPROTONOSUPPORT;
	hfs_fwd_why.dial = true;
	if (!up->usable)
		return -1;
	int fd = socket(up->ss.ss_family,
			(proto == HFS_P_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK |
				SOCK_CLOEXEC,
			0);
	if (fd < 0) {
		hfs_fwd_why.code = errno;
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&up->ss, up->sl) != 0 && errno != EINPROGRESS) {
		hfs_fwd_why.code = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static bool stale(const struct hfs_fwd_inst *in, const struct hfs_fwd_conn *c, int64_t now)
{
	return now - c->used_ms > in->expire_ms ||
	       (in->max_age_ms > 0 && now - c->created_ms > in->max_age_ms);
}

int hfs_fwd_conn_get(struct hfs_fwd_up *up, int proto, int *cached, int64_t *created)
{
	const struct hfs_fwd_inst *in = up->inst;
	int64_t now = hfs_now_ms();
	int fd = -1;
	pthread_mutex_lock(&up->lock);
	while (up->nidle[proto] > 0) {
		struct hfs_fwd_conn c = up->idle[proto][--up->nidle[proto]];
		if (stale(in, &c, now)) {
			close(c.fd);
			continue;
		}
		fd = c.fd;
		*created = c.created_ms;
		break;
	}
	pthread_mutex_unlock(&up->lock);
	*cached = fd >= 0;
	hfs_fwd_count_conn(up->m, proto, fd >= 0);
	if (fd >= 0)
		return fd;
	*created = now;
	return hfs_fwd_dial(up, proto);
}

void hfs_fwd_conn_put(struct hfs_fwd_up *up, int proto, int fd, int64_t created)
{
	const struct hfs_fwd_inst *in = up->inst;
	int64_t now = hfs_now_ms();
	pthread_mutex_lock(&up->lock);
	/* drop what expired meanwhile (oldest first) */
	int k = 0;
	for (int i = 0; i < up->nidle[proto]; i++) {
		if (stale(in, &up->idle[proto][i], now))
			close(up->idle[proto][i].fd);
		else
			up->idle[proto][k++] = up->idle[proto][i];
	}
	up->nidle[proto] = k;
	struct hfs_fwd_conn c = {fd, created, now};
	bool keep = up->nidle[proto] < HFS_FWD_IDLE_MAX &&
		    (in->max_idle <= 0 || up->nidle[proto] < in->max_idle) && !stale(in, &c, now) &&
		    !atomic_load(&in->st->dead);
	if (keep)
		up->idle[proto][up->nidle[proto]++] = c;
	pthread_mutex_unlock(&up->lock);
	if (!keep)
		close(fd);
}
