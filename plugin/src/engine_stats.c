/*
 * engine_stats.c: per-worker query accounting (engine_stats.h) and its
 * Prometheus text: CoreDNS's vars.Report() families with their exact
 * names, labels and buckets (spec section 8).
 */
#include "engine_stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "metrics_emit.h"

struct hfi_stats_label {
	const char *server;
	char zone[HFI_DNAME_MAX * 4 + 2];
	bool counted;
};

struct hfi_stats_eng {
	size_t nslots;
	size_t *base;                 /* first slot of each listener */
	struct hfi_stats_label *label;
	hfi_wstats_t *retired;        /* freed workers' counters (under workers_lock) */
	hfi_wstats_t *given;          /* what hfi_stats_inherit passed on so far */
	pthread_mutex_t give_lock;
};

/* qTypeString of plugin/metrics/vars: the types with their own label */
static const struct {
	uint16_t code;
	const char *name;
} qtypes[HFI_ST_TYPES - 1] = {
	{1, "A"},       {28, "AAAA"},  {5, "CNAME"},  {48, "DNSKEY"}, {43, "DS"},
	{15, "MX"},     {50, "NSEC3"}, {47, "NSEC"},  {2, "NS"},      {12, "PTR"},
	{46, "RRSIG"},  {6, "SOA"},    {33, "SRV"},   {16, "TXT"},    {65, "HTTPS"},
	{64, "SVCB"},   {251, "IXFR"}, {252, "AXFR"}, {255, "ANY"},
};

/* miekg/dns RcodeToString */
static const char *const rcode_names[HFI_ST_RCODES] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13",
	"RCODE14", "RCODE15", "BADSIG", "BADKEY", "BADTIME", "BADMODE", "BADNAME",
	"BADALG", "BADTRUNC", "BADCOOKIE",
};

/* plugin label values; the last one takes any name not listed */
static const char *const plugin_names[HFI_ST_PLUGINS] = {
	"", "kubernetes", "forward", "cache", "whoami", "hosts", "file", "chaos",
	"any", "loop", "transfer", "template", "breakglass", "breakglass+kubernetes",
	"admin", "other",
};

static const char *const dur_le[HFI_ST_DUR_BUCKETS] = {
	"0.00025", "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032",
	"0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192",
};
static const uint32_t size_bounds[HFI_ST_SIZE_BUCKETS] = {
	0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000,
};

void hfi_stats_bump(hfi_ctr_t *c)
{
	/* only the owning thread writes: no locked read-modify-write needed */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static void add(hfi_ctr_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static uint64_t rd(const hfi_ctr_t *c)
{
	return atomic_load_explicit((hfi_ctr_t *)c, memory_order_relaxed);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t wstats_size(size_t nslots)
{
	return sizeof(hfi_wstats_t) + nslots * sizeof(hfi_stat_slot_t);
}

int hfi_stats_init(hf_engine_t *e)
{
	struct hfi_stats_eng *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return HF_ENOMEM;
	e->stats = s;
	pthread_mutex_init(&s->give_lock, NULL);
	s->base = calloc(e->nlisteners ? e->nlisteners : 1, sizeof(*s->base));
	size_t n = 0;
	for (size_t i = 0; i < e->nlisteners; i++)
		n += e->listeners[i].nroutes + 1;
	s->label = calloc(n ? n : 1, sizeof(*s->label));
	s->retired = calloc(1, wstats_size(n));
	if (s->base == NULL || s->label == NULL || s->retired == NULL)
		return HF_ENOMEM;
	s->nslots = n;
	s->retired->nslots = n;
	size_t k = 0;
	for (size_t i = 0; i < e->nlisteners; i++) {
		const hfi_listener_t *l = &e->listeners[i];
		s->base[i] = k;
		for (size_t r = 0; r < l->nroutes; r++, k++) {
			s->label[k].server = l->server;
			if (hfi_dname_to_str(l->routes[r].zone, s->label[k].zone,
					     sizeof(s->label[k].zone)) < 0)
				snprintf(s->label[k].zone, sizeof(s->label[k].zone), ".");
			s->label[k].counted = e->cfg->blocks[l->routes[r].block].has_prometheus;
		}
		s->label[k].server = l->server;
		snprintf(s->label[k].zone, sizeof(s->label[k].zone), "dropped");
		s->label[k].counted = true;
		k++;
	}
	return HF_EOK;
}

void hfi_stats_free(hf_engine_t *e)
{
	struct hfi_stats_eng *s = e->stats;
	if (s == NULL)
		return;
	free(s->base);
	free(s->label);
	free(s->retired);
	free(s->given);
	pthread_mutex_destroy(&s->give_lock);
	free(s);
	e->stats = NULL;
}

hfi_wstats_t *hfi_stats_worker_new(hf_engine_t *e)
{
	size_t n = e->stats ? e->stats->nslots : 0;
	hfi_wstats_t *ws = calloc(1, wstats_size(n));
	if (ws != NULL)
		ws->nslots = n;
	return ws;
}

/* dst += src, counter by counter (dst may be read concurrently). */
static void fold(hfi_wstats_t *dst, const hfi_wstats_t *src)
{
	const hfi_ctr_t *a = (const hfi_ctr_t *)src->queries;
	hfi_ctr_t *b = (hfi_ctr_t *)dst->queries;
	for (size_t i = 0; i < 6; i++)
		add(&b[i], rd(&a[i])); /* queries[2][2], drops, forwards */
	size_t n = src->nslots < dst->nslots ? src->nslots : dst->nslots;
	size_t per = sizeof(hfi_stat_slot_t) / sizeof(hfi_ctr_t);
	for (size_t s = 0; s < n; s++) {
		const hfi_ctr_t *x = (const hfi_ctr_t *)&src->slot[s];
		hfi_ctr_t *y = (hfi_ctr_t *)&dst->slot[s];
		for (size_t i = 0; i < per; i++)
			add(&y[i], rd(&x[i]));
	}
}

_Static_assert(offsetof(hfi_wstats_t, forwards) == 5 * sizeof(hfi_ctr_t),
	       "queries, drops, forwards are the first six counters");
_Static_assert(sizeof(hfi_stat_slot_t) % sizeof(hfi_ctr_t) == 0, "slot is counters only");

void hfi_stats_worker_fold(hf_engine_t *e, const hfi_wstats_t *ws)
{
	if (ws != NULL && e->stats != NULL)
		fold(e->stats->retired, ws);
}

int hfi_stats_route_slot(const hf_engine_t *e, int listener, const hfi_route_t *r)
{
	const struct hfi_stats_eng *s = e->stats;
	if (s == NULL || r == NULL || listener < 0 || (size_t)listener >= e->nlisteners)
		return -1;
	const hfi_listener_t *l = &e->listeners[listener];
	size_t k = s->base[listener] + (size_t)(r - l->routes);
	return s->label[k].counted ? (int)k : -1;
}

int hfi_stats_dropped_slot(const hf_engine_t *e, int listener)
{
	const struct hfi_stats_eng *s = e->stats;
	if (s == NULL || listener < 0 || (size_t)listener >= e->nlisteners)
		return -1;
	return (int)(s->base[listener] + e->listeners[listener].nroutes);
}

void hfi_stats_begin(hf_worker_t *w)
{
	w->st_slot = -1;
	w->st_pending = false;
	w->st_start_ns = now_ns();
}

static void observe_size(hfi_hist_t *h, uint64_t v)
{
	size_t i = 0;
	while (i < HFI_ST_SIZE_BUCKETS && v > size_bounds[i])
		i++;
	hfi_stats_bump(&h->b[i]);
	hfi_stats_bump(&h->count);
	add(&h->sum, v);
}

static void observe_ns(hfi_hist_t *h, uint64_t ns)
{
	size_t i = 0;
	uint64_t bound = 250000;
	while (i < HFI_ST_DUR_BUCKETS && ns > bound) {
		i++;
		bound *= 2;
	}
	hfi_stats_bump(&h->b[i]);
	hfi_stats_bump(&h->count);
	add(&h->sum, ns);
}

static int type_index(uint16_t t)
{
	for (int i = 0; i < HFI_ST_TYPES - 1; i++)
		if (qtypes[i].code == t)
			return i;
	return HFI_ST_TYPES - 1;
}

static int plugin_index(const char *p)
{
	if (p == NULL || p[0] == '\0')
		return 0;
	for (int i = 1; i < HFI_ST_PLUGINS - 1; i++)
		if (strcmp(plugin_names[i], p) == 0)
			return i;
	return HFI_ST_PLUGINS - 1;
}

/* vars.Report: everything is recorded when the reply is written. */
void hfi_stats_reply(hf_worker_t *w, int rcode, const char *plugin, size_t resp_len)
{
	hfi_wstats_t *ws = w->stats;
	int k = w->st_slot;
	w->st_pending = false;
	if (ws == NULL || k < 0 || (size_t)k >= ws->nslots)
		return;
	hfi_stat_slot_t *s = &ws->slot[k];
	const hfi_query_t *q = &w->q;
	int tcp = w->st_tcp ? 1 : 0;
	if (q->do_bit)
		hfi_stats_bump(&s->do_requests);
	hfi_stats_bump(&s->requests[tcp][q->family == 6][type_index(q->qtype)]);
	uint64_t t = now_ns();
	observe_ns(&s->duration, t > w->st_start_ns ? t - w->st_start_ns : 0);
	observe_size(&s->resp_size[tcp], resp_len);
	observe_size(&s->req_size[tcp], q->len);
	if (rcode >= 0 && rcode < HFI_ST_RCODES)
		hfi_stats_bump(&s->responses[rcode][plugin_index(plugin)]);
}

void hfi_stats_forwarded(hf_worker_t *w, const uint8_t *reply, size_t rlen)
{
	if (!w->st_pending)
		return;
	if (reply == NULL || rlen < 12) {
		/* the host answers SERVFAIL itself: header, question, OPT */
		size_t qd = w->q.qname_len + 4u;
		hfi_stats_reply(w, HFI_RCODE_SERVFAIL, "", 12 + qd + (w->q.has_edns ? 11 : 0));
		return;
	}
	int rcode = reply[3] & 0x0f;
	hfi_stats_reply(w, rcode, w->st_plugin, rlen);
}

void hfi_stats_totals(hf_engine_t *e, uint64_t *queries, uint64_t *drops, uint64_t *forwards)
{
	uint64_t q = 0, d = 0, f = 0;
	pthread_mutex_lock(&e->workers_lock);
	for (size_t i = 0; i <= e->nworkers; i++) {
		const hfi_wstats_t *ws = i < e->nworkers ? e->workers[i]->stats
				       : (e->stats ? e->stats->retired : NULL);
		if (ws == NULL)
			continue;
		for (int t = 0; t < 2; t++)
			for (int fam = 0; fam < 2; fam++)
				q += rd(&ws->queries[t][fam]);
		d += rd(&ws->drops);
		f += rd(&ws->forwards);
	}
	pthread_mutex_unlock(&e->workers_lock);
	*queries = q;
	*drops = d;
	*forwards = f;
}

/* ---- exposition ---------------------------------------------------------- */

typedef int (*out_fn)(void *ctx, const char *data, size_t len);

/* a float for a histogram's _sum */
static void fmt_float(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.15g", v); /* 1.2e-05 is valid exposition text */
}

static int hist(out_fn fn, void *ctx, const char *name, const char *labels, const hfi_hist_t *h,
		bool seconds)
{
	uint64_t cum = 0;
	int ret = 0;
	size_t nb = seconds ? HFI_ST_DUR_BUCKETS : HFI_ST_SIZE_BUCKETS;
	for (size_t i = 0; i < nb && ret == 0; i++) {
		cum += rd(&h->b[i]);
		if (seconds)
			ret = hfi_metrics_emit(fn, ctx, "%s_bucket{%s,le=\"%s\"} %llu\n", name, labels, dur_le[i],
				   (unsigned long long)cum);
		else
			ret = hfi_metrics_emit(fn, ctx, "%s_bucket{%s,le=\"%u\"} %llu\n", name, labels,
				   size_bounds[i], (unsigned long long)cum);
	}
	char sum[64];
	if (seconds)
		fmt_float(sum, sizeof(sum), (double)rd(&h->sum) / 1e9);
	else
		snprintf(sum, sizeof(sum), "%llu", (unsigned long long)rd(&h->sum));
	if (ret == 0)
		ret = hfi_metrics_emit(fn, ctx, "%s_bucket{%s,le=\"+Inf\"} %llu\n%s_sum{%s} %s\n%s_count{%s} %llu\n",
			   name, labels, (unsigned long long)rd(&h->count), name, labels, sum, name,
			   labels, (unsigned long long)rd(&h->count));
	return ret;
}

static int write_sum(hf_engine_t *e, const hfi_wstats_t *t, out_fn fn, void *ctx)
{
	const struct hfi_stats_eng *s = e->stats;
	static const char *const proto[2] = {"udp", "tcp"};
	char lab[1400];
	/* client_golang prints nothing, not even HELP/TYPE, for a family
	 * without series; every recorded reply is in each family but DO */
	uint64_t any = 0, anydo = 0;
	for (size_t k = 0; k < s->nslots; k++) {
		any += rd(&t->slot[k].duration.count);
		anydo += rd(&t->slot[k].do_requests);
	}
	if (any == 0)
		return 0;
	int ret = 0;
	if (anydo > 0)
		ret = hfi_metrics_emit(fn, ctx, "# HELP coredns_dns_do_requests_total Counter of DNS requests with DO bit set per zone.\n"
			   "# TYPE coredns_dns_do_requests_total counter\n");
	for (size_t k = 0; k < s->nslots && ret == 0; k++)
		if (rd(&t->slot[k].do_requests) > 0)
			ret = hfi_metrics_emit(fn, ctx, "coredns_dns_do_requests_total{server=\"%s\",view=\"\",zone=\"%s\"} %llu\n",
				   s->label[k].server, s->label[k].zone,
				   (unsigned long long)rd(&t->slot[k].do_requests));
	if (ret == 0)
		ret = hfi_metrics_emit(fn, ctx, "# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took per zone.\n"
			   "# TYPE coredns_dns_request_duration_seconds histogram\n");
	for (size_t k = 0; k < s->nslots && ret == 0; k++) {
		if (rd(&t->slot[k].duration.count) == 0)
			continue;
		snprintf(lab, sizeof(lab), "server=\"%s\",view=\"\",zone=\"%s\"", s->label[k].server,
			 s->label[k].zone);
		ret = hist(fn, ctx, "coredns_dns_request_duration_seconds", lab, &t->slot[k].duration,
			   true);
	}
	if (ret == 0)
		ret = hfi_metrics_emit(fn, ctx, "# HELP coredns_dns_request_size_bytes Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.\n"
			   "# TYPE coredns_dns_request_size_bytes histogram\n");
	for (size_t k = 0; k < s->nslots && ret == 0; k++)
		for (int p = 0; p < 2 && ret == 0; p++) {
			if (rd(&t->slot[k].req_size[p].count) == 0)
				continue;
			snprintf(lab, sizeof(lab), "proto=\"%s\",server=\"%s\",view=\"\",zone=\"%s\"",
				 proto[p], s->label[k].server, s->label[k].zone);
			ret = hist(fn, ctx, "coredns_dns_request_size_bytes", lab, &t->slot[k].req_size[p],
				   false);
		}
	if (ret == 0)
		ret = hfi_metrics_emit(fn, ctx, "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n"
			   "# TYPE coredns_dns_requests_total counter\n");
	for (size_t k = 0; k < s->nslots && ret == 0; k++)
		for (int p = 0; p < 2; p++)
			for (int f = 0; f < 2; f++)
				for (int ty = 0; ty < HFI_ST_TYPES && ret == 0; ty++) {
					uint64_t v = rd(&t->slot[k].requests[p][f][ty]);
					if (v == 0)
						continue;
					ret = hfi_metrics_emit(fn, ctx, "coredns_dns_requests_total{family=\"%d\",proto=\"%s\",server=\"%s\",type=\"%s\",view=\"\",zone=\"%s\"} %llu\n",
						   f + 1, proto[p], s->label[k].server,
						   ty < HFI_ST_TYPES - 1 ? qtypes[ty].name : "other",
						   s->label[k].zone, (unsigned long long)v);
				}
	if (ret == 0)
		ret = hfi_metrics_emit(fn, ctx, "# HELP coredns_dns_response_size_bytes Size of the returned response in bytes.\n"
			   "# TYPE coredns_dns_response_size_bytes histogram\n");
	for (size_t k = 0; k < s->nslots && ret == 0; k++)
		for (int p = 0; p < 2 && ret == 0; p++) {
			if (rd(&t->slot[k].resp_size[p].count) == 0)
				continue;
			snprintf(lab, sizeof(lab), "proto=\"%s\",server=\"%s\",view=\"\",zone=\"%s\"",
				 proto[p], s->label[k].server, s->label[k].zone);
			ret = hist(fn, ctx, "coredns_dns_response_size_bytes", lab, &t->slot[k].resp_size[p],
				   false);
		}
	if (ret == 0)
		ret = hfi_metrics_emit(fn, ctx, "# HELP coredns_dns_responses_total Counter of response status codes.\n"
			   "# TYPE coredns_dns_responses_total counter\n");
	for (size_t k = 0; k < s->nslots && ret == 0; k++)
		for (int p = 0; p < HFI_ST_PLUGINS; p++)
			for (int rc = 0; rc < HFI_ST_RCODES && ret == 0; rc++) {
				uint64_t v = rd(&t->slot[k].responses[rc][p]);
				if (v == 0)
					continue;
				ret = hfi_metrics_emit(fn, ctx, "coredns_dns_responses_total{plugin=\"%s\",rcode=\"%s\",server=\"%s\",view=\"\",zone=\"%s\"} %llu\n",
					   plugin_names[p], rcode_names[rc], s->label[k].server,
					   s->label[k].zone, (unsigned long long)v);
			}
	return ret;
}

/* Everything e counted so far (live workers + freed ones); NULL on ENOMEM. */
static hfi_wstats_t *snapshot(hf_engine_t *e)
{
	struct hfi_stats_eng *s = e->stats;
	hfi_wstats_t *t = calloc(1, wstats_size(s->nslots));
	if (t == NULL)
		return NULL;
	t->nslots = s->nslots;
	pthread_mutex_lock(&e->workers_lock);
	for (size_t i = 0; i < e->nworkers; i++)
		if (e->workers[i]->stats != NULL)
			fold(t, e->workers[i]->stats);
	fold(t, s->retired);
	pthread_mutex_unlock(&e->workers_lock);
	return t;
}

int hfi_stats_inherit(hf_engine_t *next, hf_engine_t *prev)
{
	if (next == NULL || prev == NULL || next->stats == NULL || prev->stats == NULL)
		return HF_EINVAL;
	struct hfi_stats_eng *ps = prev->stats;
	struct hfi_stats_eng *ns = next->stats;
	size_t per = sizeof(hfi_stat_slot_t) / sizeof(hfi_ctr_t);
	pthread_mutex_lock(&ps->give_lock);
	if (ps->given == NULL) {
		ps->given = calloc(1, wstats_size(ps->nslots));
		if (ps->given != NULL)
			ps->given->nslots = ps->nslots;
	}
	hfi_wstats_t *t = ps->given ? snapshot(prev) : NULL;
	if (t == NULL) {
		pthread_mutex_unlock(&ps->give_lock);
		return HF_ENOMEM;
	}
	/* t = what prev counted since the last call; given = everything */
	hfi_ctr_t *tc = (hfi_ctr_t *)t->queries, *gc = (hfi_ctr_t *)ps->given->queries;
	size_t total = 6 + ps->nslots * per;
	for (size_t i = 0; i < 6; i++) {
		uint64_t now = rd(&tc[i]);
		atomic_store(&tc[i], now - rd(&gc[i]));
		atomic_store(&gc[i], now);
	}
	for (size_t i = 0; i < total - 6; i++) {
		hfi_ctr_t *x = (hfi_ctr_t *)t->slot + i, *g = (hfi_ctr_t *)ps->given->slot + i;
		uint64_t now = rd(x);
		atomic_store(x, now - rd(g));
		atomic_store(g, now);
	}
	pthread_mutex_unlock(&ps->give_lock);
	pthread_mutex_lock(&next->workers_lock);
	const hfi_ctr_t *a = (const hfi_ctr_t *)t->queries;
	hfi_ctr_t *b = (hfi_ctr_t *)ns->retired->queries;
	for (size_t i = 0; i < 6; i++)
		add(&b[i], rd(&a[i]));
	for (size_t k = 0; k < ps->nslots; k++) {
		for (size_t j = 0; j < ns->nslots; j++) {
			if (strcmp(ps->label[k].server, ns->label[j].server) != 0 ||
			    strcmp(ps->label[k].zone, ns->label[j].zone) != 0)
				continue;
			const hfi_ctr_t *x = (const hfi_ctr_t *)&t->slot[k];
			hfi_ctr_t *y = (hfi_ctr_t *)&ns->retired->slot[j];
			for (size_t i = 0; i < per; i++)
				add(&y[i], rd(&x[i]));
			break;
		}
	}
	pthread_mutex_unlock(&next->workers_lock);
	free(t);
	return HF_EOK;
}

int hfi_stats_write(hf_engine_t *e, out_fn fn, void *ctx)
{
	struct hfi_stats_eng *s = e->stats;
	if (s == NULL)
		return HF_EOK;
	hfi_wstats_t *t = snapshot(e);
	if (t == NULL)
		return HF_ENOMEM;
	int ret = write_sum(e, t, fn, ctx);
	free(t);
	return ret;
}
