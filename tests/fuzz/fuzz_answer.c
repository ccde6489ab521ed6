/*
 * fuzz_answer.c: libFuzzer harness for the whole query -> answer path
 * (hf_answer through the public ABI) against a small cluster: a Corefile
 * and manifest written to a temporary directory once, then every input is
 * answered over "UDP" and "TCP".  Invariants: the verdict is valid, the
 * reply fits the buffer and starts with the query's ID.  Mutations are
 * structure-aware (dns_mutator.h: valid header and question most of the
 * time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include "holdfast.h"
#include "fuzz_engine.h"
#include "dns_mutator.h"

static const char corefile[] =
	". {\n"
	"    bind 127.0.0.1\n"
	"    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
	"        manifest cluster.yaml\n"
	"        pods insecure\n"
	"        ttl 30\n"
	"    }\n"
	"}\n"
	"example.org:1054 {\n"
	"    bind 127.0.0.1\n"
	"    whoami\n"
	"}\n";

static const char manifest[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\n"
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns1}\n"
	"spec:\n  clusterIP: 10.96.0.20\n  clusterIPs: [10.96.0.20, 'fd00::20']\n"
	"  ports:\n  - {name: http, port: 80, protocol: TCP}\n  - {name: https, port: 443, protocol: TCP}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: ns1}\n"
	"spec:\n  clusterIP: None\n  ports:\n  - {name: pg, port: 5432, protocol: TCP}\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: db-abc, namespace: ns1, labels: {kubernetes.io/service-name: db}}\n"
	"addressType: IPv4\nports:\n- {name: pg, port: 5432, protocol: TCP}\nendpoints:\n"
	"- addresses: [10.244.0.5]\n  hostname: db-0\n  conditions: {ready: true}\n"
	"- addresses: [10.244.0.6]\n  conditions: {ready: true}\n"
	"- addresses: [10.244.0.7]\n  conditions: {ready: false}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: ns1}\n"
	"spec: {type: ExternalName, externalName: web.ns1.svc.cluster.local}\n";

static hf_engine_t *engine;
static hf_worker_t *worker;
static int nlisteners;

static void setup(void)
{
	char dir[] = "/tmp/hf-fuzz-XXXXXX";
	const char *const files[][2] = {{"Corefile", corefile}, {"cluster.yaml", manifest}};
	engine = hff_open("fuzz_answer", dir, files, 2, 0);
	worker = hf_worker_new(engine);
	nlisteners = hf_listener_count(engine);
	hff_cleanup(dir, files, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t resp[65536];
	if (engine == NULL)
		setup();
	struct sockaddr_in client = {.sin_family = AF_INET, .sin_port = htons(5353)};
	client.sin_addr.s_addr = htonl(0x7f000001);
	for (int t = 0; t < 2; t++) {
		size_t rlen = 0;
		int listener = size > 0 ? data[size - 1] % nlisteners : 0;
		int v = hf_answer(worker, listener, data, size, (const struct sockaddr *)&client,
				  t ? HF_TCP : HF_UDP, resp, sizeof(resp), &rlen);
		if (v != HF_ANSWER && v != HF_FORWARD && v != HF_DROP)
			abort();
		if (v == HF_ANSWER) {
			if (rlen < 12 || rlen > sizeof(resp))
				abort();
			if (t == 0 && rlen > 65535)
				abort();
			if (memcmp(resp, data, 2) != 0)
				abort();
		}
	}
	return 0;
}
