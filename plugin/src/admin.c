/*
 * admin.c: hf_admin(), the engine side of the break-glass admin port
 * (issue 7): the per-engine admin state (created by hfi_admin_init or the
 * first command, freed by hfi_admin_free), the command tokenizer, the reply
 * writer, table slots with epoch reclamation, and the commands that do not
 * have a file of their own: status, freeze, thaw, stale extend, snapshot
 * now, flush cache, export, breakglass-config, help.
 *
 * Protocol (what the shim relays): one command per call; the reply is lines
 * of text, the last one "OK [text]" or "ERROR text".  Data lines never
 * start with "OK" or "ERROR" (names are printed in lower case with
 * escapes, comments start with ';').  hf_admin returns HF_EOK for OK and a
 * negative hf_err for ERROR.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "config_int.h"
#include "log.h"
#include "snapshot.h"

#define PLUGIN "breakglass"
#define DEFAULT_ADDR "127.0.0.1:9154"

/* ---- reply writer ----------------------------------------------------------- */

void hfi_out_init(hfi_out_t *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->len = 0;
	o->full = false;
	o->cap = cap > HFI_ADMIN_TAIL + 1 ? cap - HFI_ADMIN_TAIL - 1 : 0;
	if (cap > 0)
		buf[0] = '\0';
}

static void out_vprintf(hfi_out_t *o, size_t cap, const char *fmt, va_list ap)
{
	if (o->full && cap == o->cap)
		return;
	size_t room = cap - o->len + 1;
	int n = vsnprintf(o->buf + o->len, room, fmt, ap);
	if (n < 0 || (size_t)n >= room) {
		o->full = true;
		o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

void hfi_out_printf(hfi_out_t *o, const char *fmt, ...)
{
	if (o->buf == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	out_vprintf(o, o->cap, fmt, ap);
	va_end(ap);
}

static int out_final(hfi_out_t *o, const char *word, const char *fmt, va_list ap)
{
	if (o->buf == NULL)
		return HF_ESPACE;
	size_t cap = o->cap + HFI_ADMIN_TAIL;
	char text[HFI_ADMIN_TAIL - 16];
	vsnprintf(text, sizeof(text), fmt, ap);
	for (char *p = text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	size_t n = o->len;
	int w = snprintf(o->buf + n, cap - n + 1, "%s%s%s\n", word, text[0] ? " " : "", text);
	if (w < 0 || (size_t)w > cap - n) {
		o->buf[n] = '\0';
		return HF_ESPACE;
	}
	o->len += (size_t)w;
	return HF_EOK;
}

int hfi_out_ok(hfi_out_t *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = out_final(o, "OK", fmt, ap);
	va_end(ap);
	return r;
}

int hfi_out_err(hfi_out_t *o, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out_final(o, "ERROR", fmt, ap);
	va_end(ap);
	return code < 0 ? code : HF_EINVAL;
}

/* ---- tokenizer -------------------------------------------------------------- */

int hfi_cmd_split(hfi_cmd_t *c, const char *line, char *err, size_t errlen)
{
	c->n = 0;
	size_t len = strnlen(line, HFI_ADMIN_LINE + 1);
	if (len > HFI_ADMIN_LINE) {
		snprintf(err, errlen, "command longer than %d bytes", HFI_ADMIN_LINE);
		return -1;
	}
	size_t w = 0, i = 0;
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
			i++;
		if (i >= len)
			break;
		if (c->n == HFI_ADMIN_ARGS) {
			snprintf(err, errlen, "more than %d words", HFI_ADMIN_ARGS);
			return -1;
		}
		hfi_tok_t *t = &c->t[c->n++];
		t->s = c->text + w;
		t->quoted = line[i] == '"';
		if (t->quoted) {
			i++;
			bool closed = false;
			while (i < len) {
				char ch = line[i++];
				if (ch == '"') {
					closed = true;
					break;
				}
				if (ch == '\\' && i < len)
					ch = line[i++];
				if ((unsigned char)ch < 0x20 && ch != '\t') {
					snprintf(err, errlen, "control character in a quoted string");
					return -1;
				}
				c->text[w++] = ch;
			}
			if (!closed) {
				snprintf(err, errlen, "unterminated quoted string");
				return -1;
			}
		} else {
			while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
			       line[i] != '\n') {
				if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
					snprintf(err, errlen, "control character in the command");
					return -1;
				}
				c->text[w++] = line[i++];
			}
		}
		t->len = (size_t)(c->text + w - t->s);
		c->text[w++] = '\0';
	}
	return 0;
}

/* ---- state and table slots ------------------------------------------------ */

static void admin_destroy(hfi_admin_t *a)
{
	if (a == NULL)
		return;
	hf_worker_free(a->w);
	for (int i = 0; i < HFI_ADMIN_SLOTS; i++) {
		free(a->ovr[i]);
		free(a->lim[i]);
	}
	free(a->msg);
	free(a->msg2);
	free(a->qbuf);
	free(a->ovr_path);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static char *overrides_path(const hf_engine_t *e)
{
	for (size_t bi = 0; bi < e->cfg->nblocks; bi++) {
		const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
		if (k == NULL || k->snapshot_path == NULL || e->k8s == NULL || e->k8s[bi].sync == NULL)
			continue;
		size_t n = strlen(k->snapshot_path);
		char *p = malloc(n + sizeof(".overrides"));
		if (p != NULL) {
			memcpy(p, k->snapshot_path, n);
			memcpy(p + n, ".overrides", sizeof(".overrides"));
		}
		return p;
	}
	return NULL;
}

int hfi_admin_init(hf_engine_t *e)
{
	if (e == NULL)
		return HF_EINVAL;
	if (atomic_load(&e->admin) != NULL)
		return HF_EOK;
	hfi_admin_t *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return HF_ENOMEM;
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		free(a);
		return HF_ENOMEM;
	}
	a->msg = malloc(HFI_ADMIN_MSG);
	a->msg2 = malloc(HFI_ADMIN_MSG);
	a->qbuf = malloc(HFI_ADMIN_MSG);
	bool ok = a->msg != NULL && a->msg2 != NULL && a->qbuf != NULL;
	for (int i = 0; i < HFI_ADMIN_SLOTS && ok; i++) {
		a->ovr[i] = malloc(sizeof(hfi_ovr_table_t));
		a->lim[i] = malloc(sizeof(hfi_limit_table_t));
		ok = a->ovr[i] != NULL && a->lim[i] != NULL;
	}
	if (ok) {
		/* touch it all now: a command must not fault pages in later */
		memset(a->msg, 0, HFI_ADMIN_MSG);
		memset(a->msg2, 0, HFI_ADMIN_MSG);
		memset(a->qbuf, 0, HFI_ADMIN_MSG);
		for (int i = 0; i < HFI_ADMIN_SLOTS; i++) {
			memset(a->ovr[i], 0, sizeof(hfi_ovr_table_t));
			memset(a->lim[i], 0, sizeof(hfi_limit_table_t));
		}
		a->w = hf_worker_new(e);
		ok = a->w != NULL;
	}
	if (ok && e->k8s != NULL) {
		a->ovr_path = overrides_path(e);
		ok = a->ovr_path != NULL || overrides_path(e) == NULL;
	}
	if (!ok) {
		admin_destroy(a);
		return HF_ENOMEM;
	}
	a->last_status_ms = e->started_ms;
	hfi_admin_t *expect = NULL;
	if (!atomic_compare_exchange_strong(&e->admin, &expect, a)) {
		admin_destroy(a); /* another thread was first */
		return HF_EOK;
	}
	pthread_mutex_lock(&a->lock);
	hfi_admin_overrides_load(e, a);
	pthread_mutex_unlock(&a->lock);
	return HF_EOK;
}

void hfi_admin_free(hf_engine_t *e)
{
	if (e == NULL)
		return;
	hfi_admin_t *a = atomic_exchange(&e->admin, NULL);
	if (a == NULL)
		return;
	/* no worker answers any more: the tables go with the state */
	atomic_store(&e->overrides, NULL);
	atomic_store(&e->limits, NULL);
	admin_destroy(a);
}

hfi_admin_t *hfi_admin_get(hf_engine_t *e)
{
	hfi_admin_t *a = atomic_load(&e->admin);
	if (a == NULL) {
		(void)hfi_admin_init(e);
		a = atomic_load(&e->admin);
	}
	return a;
}

/* Is a worker inside hf_answer since before epoch tag? */
static bool readers_before(hf_engine_t *e, uint64_t tag)
{
	bool used = false;
	pthread_mutex_lock(&e->workers_lock);
	for (size_t i = 0; i < e->nworkers && !used; i++) {
		uint64_t act = atomic_load(&e->workers[i]->active);
		used = act != 0 && act < tag;
	}
	pthread_mutex_unlock(&e->workers_lock);
	return used;
}

int hfi_admin_free_slot(hf_engine_t *e, void *const *slots, uint64_t *tags, const void *cur)
{
	for (int round = 0; round < 2000; round++) {
		for (int i = 0; i < HFI_ADMIN_SLOTS; i++) {
			if (slots[i] == cur)
				continue;
			if (tags[i] == 0 || !readers_before(e, tags[i])) {
				tags[i] = 0;
				return i;
			}
		}
		struct timespec ts = {0, 500 * 1000};
		nanosleep(&ts, NULL); /* answers take microseconds */
	}
	return -1;
}

void hfi_admin_publish_ovr(hf_engine_t *e, hfi_admin_t *a, int idx)
{
	hfi_ovr_table_t *nt = idx >= 0 ? a->ovr[idx] : NULL;
	hfi_ovr_table_t *old = atomic_exchange(&e->overrides, nt);
	uint64_t tag = atomic_fetch_add(&e->epoch, 1) + 1;
	for (int i = 0; i < HFI_ADMIN_SLOTS; i++)
		if (old != NULL && a->ovr[i] == old)
			a->ovr_tag[i] = tag;
}

void hfi_admin_publish_lim(hf_engine_t *e, hfi_admin_t *a, int idx)
{
	hfi_limit_table_t *nt = idx >= 0 ? a->lim[idx] : NULL;
	hfi_limit_table_t *old = atomic_exchange(&e->limits, nt);
	uint64_t tag = atomic_fetch_add(&e->epoch, 1) + 1;
	for (int i = 0; i < HFI_ADMIN_SLOTS; i++)
		if (old != NULL && a->lim[i] == old)
			a->lim_tag[i] = tag;
}

uint64_t hfi_admin_queries(hf_engine_t *e)
{
	uint64_t q = 0, d, f;
	hfi_stats_totals(e, &q, &d, &f); /* per-worker counters (engine_stats.c) */
	return q;
}

/* ---- status ----------------------------------------------------------------- */

const char *hfi_admin_zone(const hf_engine_t *e, size_t bi)
{
	const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
	if (k == NULL || k->zones.n == 0)
		return ".";
	return k->zones.v[k->primary < k->zones.n ? k->primary : 0];
}

/* Monotonic ms -> "2026-01-02T03:04:05Z (12.3s ago)". */
static void when(int64_t mono_ms, int64_t now_ms, char *buf, size_t len)
{
	if (mono_ms < 0) {
		snprintf(buf, len, "never");
		return;
	}
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	time_t t = wall.tv_sec - (time_t)((now_ms - mono_ms) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char iso[40];
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(buf, len, "%s (%.1fs ago)", iso, (double)(now_ms - mono_ms) / 1000.0);
}

static void dur_text(int64_t ms, char *buf, size_t len)
{
	hfi_go_duration_str(ms * 1000000LL, buf, len);
}

static int state_rank(int st)
{
	static const int rank[] = {[HFI_LIVE] = 0, [HFI_STALE] = 1, [HFI_EXPIRED] = 2, [HFI_SYNCING] = 3};
	return st >= 0 && st <= HFI_EXPIRED ? rank[st] : 0;
}

/* /proc/self/status "Key:   123 kB" -> 123, or -1. */
static long proc_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void status_instance(hf_engine_t *e, hfi_admin_t *a, size_t bi, int64_t now, hfi_out_t *o)
{
	hfi_k8s_inst_t *inst = &e->k8s[bi];
	const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
	int st = atomic_load(&inst->state);
	hfi_sync_stats_t ss;
	memset(&ss, 0, sizeof(ss));
	ss.last_healthy_ms = ss.stale_since_ms = -1;
	if (inst->sync != NULL)
		hfi_sync_get_stats(inst->sync, &ss);
	hfi_out_printf(o, "kubernetes %s state %s source %s frozen %s\n", hfi_admin_zone(e, bi),
		       hfi_sync_state_name((enum hfi_sync_state)st), inst->sync ? "api" : "manifest",
		       ss.frozen ? "yes" : "no");
	char b1[96], b2[96];
	if (inst->sync != NULL) {
		when(ss.last_healthy_ms, now, b1, sizeof(b1));
		hfi_out_printf(o, "  last_healthy %s\n", b1);
		when(ss.stale_since_ms, now, b1, sizeof(b1));
		hfi_out_printf(o, "  stale_since %s\n", b1);
		dur_text((int64_t)k->serve_stale_min_s * 1000, b1, sizeof(b1));
		if (k->serve_stale_max_s > 0)
			dur_text((int64_t)k->serve_stale_max_s * 1000 + ss.stale_extra_ms, b2, sizeof(b2));
		else
			snprintf(b2, sizeof(b2), "unlimited");
		hfi_out_printf(o, "  serve_stale min %s max %s", b1, b2);
		if (ss.stale_extra_ms > 0) {
			dur_text(ss.stale_extra_ms, b1, sizeof(b1));
			hfi_out_printf(o, " (extended by %s)", b1);
		}
		if (k->serve_stale_max_s > 0 && ss.stale_since_ms >= 0) {
			int64_t left = ss.stale_since_ms + (int64_t)k->serve_stale_max_s * 1000 +
				       ss.stale_extra_ms - now;
			dur_text(left > 0 ? left : 0, b1, sizeof(b1));
			hfi_out_printf(o, " expires_in %s", b1);
		}
		hfi_out_printf(o, "\n  deletion_guard held %" PRIu64 " trips %" PRIu64 "\n",
			       ss.held_pending, ss.guard_trips);
		hfi_sync_lock(inst->sync);
	}
	size_t ns = hfi_store_count_namespaces(inst->store), sv = hfi_store_count_services(inst->store);
	size_t sl = hfi_store_count_slices(inst->store), po = hfi_store_count_pods(inst->store);
	if (inst->sync != NULL)
		hfi_sync_unlock(inst->sync);
	hfi_out_printf(o, "  objects namespaces=%zu services=%zu endpointslices=%zu pods=%zu\n", ns,
		       sv, sl, po);
	/* the published index: read as a reader, like a worker */
	atomic_store(&a->w->active, atomic_load(&e->epoch));
	size_t names = hfi_k8s_index_names(atomic_load(&inst->index));
	atomic_store(&a->w->active, 0);
	hfi_out_printf(o, "  index_names %zu rebuilds %" PRIu64 " snapshots %" PRIu64 "\n", names,
		       inst->rebuilds, inst->snapshots);
}

static int cmd_status(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	if (c->n != 1)
		return hfi_out_err(o, HF_EINVAL, "usage: status");
	int64_t now = hfi_engine_now_ms();
	int worst = HFI_LIVE;
	bool any = false;
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++) {
		if (e->k8s[bi].store == NULL)
			continue;
		int st = atomic_load(&e->k8s[bi].state);
		if (!any || state_rank(st) > state_rank(worst))
			worst = st;
		any = true;
	}
	hfi_out_printf(o, "state %s\n", any ? hfi_sync_state_name((enum hfi_sync_state)worst) : "LIVE");
	hfi_out_printf(o, "version %s\n", hf_version());
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++)
		if (e->k8s[bi].store != NULL)
			status_instance(e, a, bi, now, o);
	const hfi_ovr_table_t *ov = atomic_load(&e->overrides);
	const hfi_limit_table_t *lt = atomic_load(&e->limits);
	uint64_t dropped = 0;
	for (uint32_t i = 0; lt != NULL && i < lt->n; i++)
		dropped += atomic_load(&lt->r[i].dropped);
	hfi_out_printf(o, "overrides %u saved_to %s\n", ov ? ov->n : 0, a->ovr_path ? a->ovr_path : "-");
	hfi_out_printf(o, "limits %u dropped %" PRIu64 "\n", lt ? lt->n : 0, dropped);
	long rss = proc_kib("VmRSS"), lck = proc_kib("VmLck"), hwm = proc_kib("VmHWM");
	hfi_out_printf(o, "memory rss_kib %ld peak_rss_kib %ld locked_kib %ld\n", rss, hwm, lck);
	uint64_t q = hfi_admin_queries(e);
	double up = (double)(now - e->started_ms) / 1000.0;
	double since = (double)(now - a->last_status_ms) / 1000.0;
	uint64_t q0, drops, fwd;
	hfi_stats_totals(e, &q0, &drops, &fwd);
	(void)q0;
	hfi_out_printf(o, "queries total %" PRIu64 " forwarded %" PRIu64 " dropped %" PRIu64
		       " qps_since_start %.1f qps_since_last_status %.1f\n",
		       q, fwd, drops, up > 0 ? (double)q / up : 0.0,
		       since > 0 ? (double)(q - a->last_status_q) / since : 0.0);
	a->last_status_ms = now;
	a->last_status_q = q;
	char u[64];
	dur_text(now - e->started_ms, u, sizeof(u));
	hfi_out_printf(o, "uptime %s\n", u);
	return hfi_out_ok(o, "%s", "");
}

/* ---- freeze, thaw, stale extend, snapshot, flush ------------------------- */

static int cmd_freeze(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)a;
	bool on = strcmp(c->t[0].s, "freeze") == 0;
	if (c->n != 1)
		return hfi_out_err(o, HF_EINVAL, "usage: %s", c->t[0].s);
	size_t n = 0;
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++) {
		if (e->k8s[bi].sync == NULL)
			continue;
		hfi_sync_freeze(e->k8s[bi].sync, on);
		hfi_out_printf(o, "kubernetes %s %s\n", hfi_admin_zone(e, bi), on ? "frozen" : "thawed");
		n++;
	}
	if (n == 0)
		return hfi_out_ok(o, "nothing to %s: no kubernetes API source", c->t[0].s);
	return hfi_out_ok(o, "%s", on ? "frozen: API changes are tracked but not applied to answers"
				      : "thawed: API changes apply again");
}

static int cmd_stale(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)a;
	if (c->n != 3 || strcmp(c->t[1].s, "extend") != 0)
		return hfi_out_err(o, HF_EINVAL, "usage: stale extend DURATION (e.g. 30m, 2h)");
	int64_t ns = 0;
	char msg[256];
	if (!hfi_go_duration(c->t[2].s, &ns, msg, sizeof(msg)))
		return hfi_out_err(o, HF_EINVAL, "%s", msg);
	int64_t ms = ns / 1000000;
	if (ms <= 0 || ms > (int64_t)365 * 24 * 3600 * 1000)
		return hfi_out_err(o, HF_ERANGE, "duration must be between 1ms and 8760h");
	int64_t now = hfi_engine_now_ms();
	size_t n = 0;
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++) {
		hfi_sync_t *s = e->k8s[bi].sync;
		if (s == NULL)
			continue;
		const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
		size_t held = hfi_sync_extend(s, ms, now);
		enum hfi_sync_state st = hfi_sync_state(s, now);
		atomic_store(&e->k8s[bi].state, (int)st);
		hfi_sync_stats_t ss;
		hfi_sync_get_stats(s, &ss);
		char d[64];
		hfi_out_printf(o, "kubernetes %s state %s", hfi_admin_zone(e, bi), hfi_sync_state_name(st));
		if (k->serve_stale_max_s == 0) {
			hfi_out_printf(o, " max unlimited");
		} else {
			dur_text((int64_t)k->serve_stale_max_s * 1000 + ss.stale_extra_ms, d, sizeof(d));
			hfi_out_printf(o, " max %s", d);
			if (ss.stale_since_ms >= 0) {
				int64_t left = ss.stale_since_ms + (int64_t)k->serve_stale_max_s * 1000 +
					       ss.stale_extra_ms - now;
				dur_text(left > 0 ? left : 0, d, sizeof(d));
				hfi_out_printf(o, " expires_in %s", d);
			}
		}
		hfi_out_printf(o, " held_deletions_extended %zu\n", held);
		n++;
	}
	if (n == 0)
		return hfi_out_err(o, HF_ENOENT, "no kubernetes API source: nothing is served stale");
	char d[64];
	dur_text(ms, d, sizeof(d));
	return hfi_out_ok(o, "serve-stale extended by %s", d);
}

static int cmd_snapshot(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	if (c->n != 2 || strcmp(c->t[1].s, "now") != 0)
		return hfi_out_err(o, HF_EINVAL, "usage: snapshot now");
	size_t n = 0, bad = 0;
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++) {
		hfi_k8s_inst_t *inst = &e->k8s[bi];
		const hfi_cfg_kubernetes_t *k = e->cfg->blocks[bi].kubernetes;
		if (inst->sync == NULL || k->snapshot_path == NULL)
			continue;
		char err[512] = "";
		hfi_sync_lock(inst->sync);
		size_t objs = hfi_store_count_namespaces(inst->store) + hfi_store_count_services(inst->store) +
			      hfi_store_count_slices(inst->store) + hfi_store_count_pods(inst->store);
		int ret = hfi_snapshot_write(inst->store, k->snapshot_path, err, sizeof(err));
		hfi_sync_unlock(inst->sync);
		if (ret < 0) {
			hfi_out_printf(o, "; kubernetes %s: %s\n", hfi_admin_zone(e, bi), err);
			hfi_log(HFI_LOG_ERROR, PLUGIN, "snapshot now: %s", err);
			bad++;
		} else {
			hfi_out_printf(o, "kubernetes %s snapshot %s objects %zu\n", hfi_admin_zone(e, bi),
				       k->snapshot_path, objs);
		}
		n++;
	}
	if (n == 0)
		return hfi_out_err(o, HF_ENOENT, "no snapshot configured (kubernetes { snapshot PATH })");
	if (a->ovr_path != NULL) {
		char err[512] = "";
		if (hfi_admin_overrides_save(e, a, err, sizeof(err)) != 0) {
			hfi_out_printf(o, "; overrides: %s\n", err);
			bad++;
		} else {
			hfi_out_printf(o, "overrides saved %s\n", a->ovr_path);
		}
	}
	if (bad > 0)
		return hfi_out_err(o, HF_EIO, "%zu of the writes failed", bad);
	return hfi_out_ok(o, "snapshot written");
}

static int cmd_flush(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)a;
	if (c->n != 2 || strcmp(c->t[1].s, "cache") != 0)
		return hfi_out_err(o, HF_EINVAL, "usage: flush cache");
	size_t caches = 0, removed = 0;
	for (size_t bi = 0; e->caches != NULL && bi < e->cfg->nblocks; bi++) {
		if (e->caches[bi] == NULL)
			continue;
		caches++;
		removed += hfi_cache_flush(e->caches[bi]);
	}
	if (caches == 0)
		return hfi_out_ok(o, "no cache configured");
	return hfi_out_ok(o, "flushed %zu entries from %zu caches", removed, caches);
}

/* ---- export, config, help -------------------------------------------------- */

static int cmd_export(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)a;
	if (c->n != 1)
		return hfi_out_err(o, HF_EINVAL, "usage: export");
	const hfi_ovr_table_t *ov = atomic_load(&e->overrides);
	for (uint32_t i = 0; ov != NULL && i < ov->n; i++) {
		char line[2048];
		const hfi_ovr_rr_t *rr = &ov->rr[i];
		char name[1100], type[16], rd[1100];
		hfi_admin_ovr_text(rr, line, sizeof(line));
		/* "NAME TTL IN TYPE RDATA" -> "set NAME TYPE TTL RDATA" */
		unsigned ttl = 0;
		int off = 0;
		if (sscanf(line, "%1099s %u IN %15s %n", name, &ttl, type, &off) == 3 && off > 0) {
			snprintf(rd, sizeof(rd), "%s", line + off);
			hfi_out_printf(o, "set %s %s %u %s\n", name, type, ttl, rd);
		}
	}
	const hfi_limit_table_t *lt = atomic_load(&e->limits);
	for (uint32_t i = 0; lt != NULL && i < lt->n; i++) {
		char cidr[64];
		hfi_admin_cidr_text(lt->r[i].family, lt->r[i].prefix, lt->r[i].addr, cidr, sizeof(cidr));
		hfi_out_printf(o, "limit %s %u\n", cidr, lt->r[i].qps);
	}
	for (size_t bi = 0; e->k8s != NULL && bi < e->cfg->nblocks; bi++) {
		if (e->k8s[bi].sync != NULL && hfi_sync_frozen(e->k8s[bi].sync)) {
			hfi_out_printf(o, "freeze\n");
			break;
		}
	}
	return hfi_out_ok(o, "%s", "");
}

static int cmd_config(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)a;
	(void)c;
	const hfi_config_t *cfg = e->cfg;
	if (cfg->breakglass_addr == NULL)
		return hfi_out_err(o, HF_ENOENT, "breakglass is not configured");
	hfi_out_printf(o, "addr %s\n", cfg->breakglass_addr);
	if (cfg->breakglass_token_file[0] != '\0')
		hfi_out_printf(o, "token_file %s\n", cfg->breakglass_token_file);
	for (size_t i = 0; i < cfg->breakglass_nallow && i < HFI_BREAKGLASS_ALLOW_MAX; i++) {
		char cidr[64];
		hfi_admin_cidr_text(cfg->breakglass_allow[i].family, cfg->breakglass_allow[i].prefix,
				    cfg->breakglass_allow[i].addr, cidr, sizeof(cidr));
		hfi_out_printf(o, "allow %s\n", cidr);
	}
	return hfi_out_ok(o, "%s", "");
}

static int cmd_help(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);

static int cmd_reload(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)e;
	(void)a;
	(void)c;
	return hfi_out_err(o, HF_EINVAL, "reload is done by the server (the admin port), not the engine");
}

typedef int (*cmd_fn)(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o);

static const struct {
	const char *name;
	cmd_fn fn;
	const char *usage;
} commands[] = {
	{"status", cmd_status, "status                      state, last healthy time, objects, memory, qps"},
	{"lookup", hfi_admin_lookup, "lookup NAME [TYPE]          what holdfast answers, and why"},
	{"dump", hfi_admin_dump, "dump [ZONE]                 kubernetes data in zone-file format"},
	{"set", hfi_admin_set, "set NAME TYPE TTL RDATA     add an override (A AAAA CNAME TXT SRV PTR MX NS)"},
	{"unset", hfi_admin_unset, "unset NAME [TYPE]           remove overrides"},
	{"overrides", hfi_admin_overrides, "overrides                   list the overrides"},
	{"freeze", cmd_freeze, "freeze                      stop applying API changes to answers"},
	{"thaw", cmd_freeze, "thaw                        apply API changes again"},
	{"stale", cmd_stale, "stale extend DURATION       push every serve-stale deadline back"},
	{"snapshot", cmd_snapshot, "snapshot now                write the snapshot (and the overrides) now"},
	{"flush", cmd_flush, "flush cache                 empty the response cache"},
	{"limit", hfi_admin_limit, "limit CIDR QPS              rate-limit clients (0 = block); over it: dropped"},
	{"unlimit", hfi_admin_unlimit, "unlimit CIDR                remove a limit"},
	{"limits", hfi_admin_limits, "limits                      list the limits"},
	{"export", cmd_export, "export                      commands that recreate the overrides and limits"},
	{"reload", cmd_reload, "reload                      reload the Corefile (as SIGUSR1)"},
	{"breakglass-config", cmd_config, NULL},
	{"help", cmd_help, "help                        this list"},
};

static int cmd_help(hf_engine_t *e, hfi_admin_t *a, const hfi_cmd_t *c, hfi_out_t *o)
{
	(void)e;
	(void)a;
	(void)c;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].usage != NULL)
			hfi_out_printf(o, "; %s\n", commands[i].usage);
	return hfi_out_ok(o, "%s", "");
}

HF_API int hf_admin(hf_engine_t *e, const char *command, char *out, size_t outlen)
{
	if (e == NULL || command == NULL || out == NULL || outlen == 0)
		return HF_EINVAL;
	hfi_out_t o;
	hfi_out_init(&o, out, outlen);
	if (outlen < HFI_ADMIN_TAIL + 2) {
		snprintf(out, outlen, "ERROR reply buffer too small\n");
		return HF_ESPACE;
	}
	hfi_admin_t *a = hfi_admin_get(e);
	if (a == NULL)
		return hfi_out_err(&o, HF_ENOMEM, "out of memory (admin state)");
	pthread_mutex_lock(&a->lock);
	char err[128];
	int ret;
	if (hfi_cmd_split(&a->cmd, command, err, sizeof(err)) != 0) {
		ret = hfi_out_err(&o, HF_EINVAL, "%s", err);
	} else if (a->cmd.n == 0) {
		ret = hfi_out_err(&o, HF_EINVAL, "empty command (try help)");
	} else {
		ret = HF_EINVAL;
		size_t i = 0;
		for (; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(commands[i].name, a->cmd.t[0].s) == 0)
				break;
		if (i == sizeof(commands) / sizeof(commands[0])) {
			char q[80];
			hfi_go_quote(a->cmd.t[0].s, q, sizeof(q));
			ret = hfi_out_err(&o, HF_EINVAL, "unknown command %s (try help)", q);
		} else {
			ret = commands[i].fn(e, a, &a->cmd, &o);
			if (ret == HF_EOK && o.full) {
				/* the data did not fit: say so instead of a silent cut */
				ret = hfi_out_err(&o, HF_ESPACE, "reply truncated at %zu bytes", o.len);
			}
		}
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}
