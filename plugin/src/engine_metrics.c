/*
 * engine_metrics.c: Prometheus text exposition of the engine's counters
 * under CoreDNS's metric names (spec section 8).  The per-listener label
 * set is simplified: server = the first listener, zone = ".".
 */
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

static const char *rcode_name(int rc)
{
	static const char *names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
				      "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
				      "NOTZONE"};
	if (rc >= 0 && rc < (int)(sizeof(names) / sizeof(names[0])))
		return names[rc];
	return rc == 16 ? "BADVERS" : NULL;
}

int hfi_engine_metrics(hf_engine_t *e, int (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
	char buf[512];
	const char *server = e->nlisteners ? e->listeners[0].server : "dns://:53";
	int n = snprintf(buf, sizeof(buf),
			 "# HELP coredns_build_info A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.\n"
			 "# TYPE coredns_build_info gauge\n"
			 "coredns_build_info{goversion=\"none\",revision=\"holdfast\",version=\"%s\"} 1\n"
			 "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n"
			 "# TYPE coredns_dns_requests_total counter\n",
			 hf_version());
	int ret = fn(ctx, buf, (size_t)n);
	if (ret != 0)
		return ret;
	for (int p = 0; p < 2; p++) {
		for (int f = 0; f < 2; f++) {
			uint64_t v = atomic_load(&e->counters.requests[p][f]);
			n = snprintf(buf, sizeof(buf),
				     "coredns_dns_requests_total{family=\"%d\",proto=\"%s\",server=\"%s\",type=\"other\",view=\"\",zone=\".\"} %llu\n",
				     f + 1, p ? "tcp" : "udp", server, (unsigned long long)v);
			if ((ret = fn(ctx, buf, (size_t)n)) != 0)
				return ret;
		}
	}
	n = snprintf(buf, sizeof(buf),
		     "# HELP coredns_dns_responses_total Counter of response status codes.\n"
		     "# TYPE coredns_dns_responses_total counter\n");
	if ((ret = fn(ctx, buf, (size_t)n)) != 0)
		return ret;
	for (int rc = 0; rc < 23; rc++) {
		uint64_t v = atomic_load(&e->counters.rcodes[rc]);
		const char *name = rcode_name(rc);
		if (name == NULL || (v == 0 && rc != 0))
			continue;
		n = snprintf(buf, sizeof(buf),
			     "coredns_dns_responses_total{plugin=\"\",rcode=\"%s\",server=\"%s\",view=\"\",zone=\".\"} %llu\n",
			     name, server, (unsigned long long)v);
		if ((ret = fn(ctx, buf, (size_t)n)) != 0)
			return ret;
	}
	n = snprintf(buf, sizeof(buf),
		     "# HELP coredns_panics_total A metrics that counts the number of panics.\n"
		     "# TYPE coredns_panics_total counter\n"
		     "coredns_panics_total 0\n");
	return fn(ctx, buf, (size_t)n);
}
