/*
 * forward_health.c: health checks of forward upstreams (CoreDNS
 * pkg/proxy/health.go).  A network error on a query triggers a check loop
 * for that upstream: a `. IN NS` probe (RD unless no_rec; the configured
 * domain) over the instance's transport (TCP with force_tcp, else UDP),
 * 1 s timeout, repeated every health_check interval until one succeeds.
 * Any reply counts as healthy; a failed probe increments the upstream's
 * fails (down when fails > max_fails) and
 * coredns_proxy_healthcheck_failures_total; success resets fails to 0.
 * One thread per upstream, started by its first trigger, idle between
 * loops, joined when the engine generation goes away.
 */
#include "forward_int.h"

#include <poll.h>
#include <unistd.h>

int hfs_fwd_dial(const struct hfs_fwd_up *up, int proto); /* forward_pool.c */

static bool probe(struct hfs_fwd_up *up)
{
	struct hfs_fwd_inst *in = up->inst;
	int proto = in->force_tcp ? HFS_P_TCP : HFS_P_UDP;
	int fd = hfs_fwd_dial(up, proto);
	if (fd < 0)
		return false;
	uint8_t buf[HFS_MSG_MAX];
	ssize_t r = hfs_fwd_xfer(fd, proto, 0, in->hc_q, in->hc_qlen, hfs_fwd_rand_id(), buf,
				 sizeof(buf), 65535, hfs_now_ms() + HFS_FWD_HC_TIMEOUT_MS,
				 in->st->wake_fd, hfs_srv.stop_fd);
	close(fd);
	return r >= 12;
}

/* Sleep ms unless the state dies or the server stops. */
static void pause_ms(struct hfs_fwd_up *up, int64_t ms)
{
	struct pollfd p[2] = {{up->inst->st->wake_fd, POLLIN, 0}, {hfs_srv.stop_fd, POLLIN, 0}};
	(void)poll(p, 2, (int)ms);
}

static bool stopping(const struct hfs_fwd_up *up)
{
	if (atomic_load(&up->inst->st->dead) || atomic_load(&hfs_srv.shutting_down))
		return true;
	struct pollfd p = {hfs_srv.stop_fd, POLLIN, 0};
	return hfs_srv.stop_fd >= 0 && poll(&p, 1, 0) > 0;
}

static void *hc_main(void *arg)
{
	struct hfs_fwd_up *up = arg;
	pthread_mutex_lock(&up->hc_lock);
	for (;;) {
		while (!up->hc_wanted && !atomic_load(&up->inst->st->dead))
			pthread_cond_wait(&up->hc_cond, &up->hc_lock);
		if (atomic_load(&up->inst->st->dead))
			break;
		up->hc_wanted = false;
		pthread_mutex_unlock(&up->hc_lock);
		while (!stopping(up)) {
			if (probe(up)) {
				atomic_store(&up->fails, 0);
				break;
			}
			if (stopping(up))
				break;
			atomic_fetch_add(&up->fails, 1);
			hfs_fwd_count_hc_failure(up->m);
			pause_ms(up, up->inst->hc_ms);
		}
		pthread_mutex_lock(&up->hc_lock);
		if (stopping(up))
			up->hc_wanted = false;
	}
	pthread_mutex_unlock(&up->hc_lock);
	return NULL;
}

void hfs_fwd_hc_trigger(struct hfs_fwd_up *up)
{
	pthread_mutex_lock(&up->hc_lock);
	if (!up->hc_started && !atomic_load(&up->inst->st->dead)) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 * 1024);
		up->hc_started = pthread_create(&up->hc_thread, &a, hc_main, up) == 0;
		pthread_attr_destroy(&a);
	}
	up->hc_wanted = true;
	pthread_cond_signal(&up->hc_cond);
	pthread_mutex_unlock(&up->hc_lock);
}

void hfs_fwd_hc_join(struct hfs_fwd_up *up)
{
	pthread_mutex_lock(&up->hc_lock);
	bool started = up->hc_started;
	up->hc_started = false;
	pthread_cond_broadcast(&up->hc_cond);
	pthread_mutex_unlock(&up->hc_lock);
	if (started)
		pthread_join(up->hc_thread, NULL);
}
