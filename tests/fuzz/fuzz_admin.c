/*
 * fuzz_admin.c: libFuzzer harness for the break-glass admin protocol
 * (hf_admin: tokenizer, every command, the reply writer) on an engine opened
 * once from a small Corefile with breakglass, a manifest and forward.  The
 * input is up to 32 command lines; the first byte picks the reply buffer
 * size (tiny buffers test the writer's truncation).  After each successful
 * set, unset or limit a few DNS queries for the name it mentions (client
 * 10.0.0.1) go through hf_answer, so the
 * override and limit tables it published are read by the answer path.
 * Invariants: the reply is NUL-terminated inside the buffer, its last line
 * is "OK..." exactly when hf_admin returns HF_EOK, else "ERROR ...".
 * After each input every override and limit is removed again and the
 * engine thawed, so inputs do not depend on each other.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holdfast.h"
#include "fuzz_engine.h"

#define MAX_LINES 32
#define MAX_LINE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char corefile[] =
	"cluster.local in-addr.arpa ip6.arpa {\n"
	"    bind 127.0.0.1\n"
	"    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
	"        manifest cluster.yaml\n"
	"        pods insecure\n"
	"    }\n"
	"    breakglass 127.0.0.1:9154 {\n"
	"        token_file token\n"
	"    }\n"
	"}\n"
	". {\n"
	"    bind 127.0.0.1\n"
	"    forward . 127.0.0.1:9\n"
	"}\n";

static const char manifest[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns1}\n"
	"spec:\n  clusterIP: 10.96.0.20\n  ports:\n  - {name: http, port: 80, protocol: TCP}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: ns1}\n"
	"spec:\n  clusterIP: None\n  ports:\n  - {name: pg, port: 5432, protocol: TCP}\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: db-abc, namespace: ns1, labels: {kubernetes.io/service-name: db}}\n"
	"addressType: IPv4\nports:\n- {name: pg, port: 5432, protocol: TCP}\nendpoints:\n"
	"- addresses: [10.244.0.5]\n  hostname: db-0\n  conditions: {ready: true}\n";

static hf_engine_t *engine;
static hf_worker_t *worker;
static char reply[65536];

static void check(int ok)
{
	if (!ok)
		abort();
}

static void setup(void)
{
	char dir[] = "/tmp/hf-fuzz-admin-XXXXXX";
	const char *const files[][2] = {{"Corefile", corefile}, {"cluster.yaml", manifest},
					{"token", "0123456789abcdef0123456789abcdef\n"}};
	engine = hff_open("fuzz_admin", dir, files, 3, 0);
	worker = hf_worker_new(engine);
	if (worker == NULL)
		abort();
	hff_cleanup(dir, files, 3);
}

/* Runs one command and checks the reply's shape. */
static int admin(const char *line, size_t cap)
{
	memset(reply, 'Z', cap);
	int ret = hf_admin(engine, line, reply, cap);
	size_t len = strnlen(reply, cap);
	check(len < cap);
	if (cap < 258) /* below the protocol's minimum: an error, nothing else */
		return ret;
	check(len > 0 && reply[len - 1] == '\n');
	const char *last = reply + len - 1;
	while (last > reply && last[-1] != '\n')
		last--;
	if (ret == HF_EOK)
		check(strncmp(last, "OK", 2) == 0);
	else
		check(ret < 0 && strncmp(last, "ERROR ", 6) == 0);
	return ret;
}

/* name (dotted, as typed) -> wire query; 0 if it is not a usable name */
static size_t make_query(const char *name, size_t nlen, uint16_t type, uint8_t *q)
{
	size_t n = 12, lab = 0;
	memset(q, 0, 12);
	q[0] = 0x12, q[1] = 0x34, q[2] = 0x01, q[5] = 1;
	for (size_t i = 0; i <= nlen; i++) {
		if (i == nlen || name[i] == '.') {
			size_t l = i - lab;
			if (l == 0 && i != nlen)
				return 0;
			if (l > 63 || n + l + 1 > 12 + 255)
				return 0;
			if (l > 0) {
				q[n++] = (uint8_t)l;
				memcpy(q + n, name + lab, l);
				n += l;
			}
			lab = i + 1;
		}
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

/* Queries for the command's second word, as a name, over UDP. */
static void probe(const char *line)
{
	const char *p = strchr(line, ' ');
	if (p == NULL)
		return;
	p++;
	size_t nlen = strcspn(p, " \t");
	static const uint16_t types[] = { 1, 5, 16, 28, 33, 255 };
	struct sockaddr_in client = { .sin_family = AF_INET, .sin_port = htons(5353) };
	client.sin_addr.s_addr = htonl(0x0a000001);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint8_t q[300], resp[4096];
		size_t qlen = make_query(p, nlen, types[i], q), rlen = 0;
		if (qlen == 0)
			return;
		int v = hf_answer(worker, 0, q, qlen, (const struct sockaddr *)&client, HF_UDP, resp,
				  sizeof(resp), &rlen);
		check(v == HF_ANSWER || v == HF_FORWARD || v == HF_DROP);
		if (v == HF_ANSWER)
			check(rlen >= 12 && rlen <= 512 && resp[0] == 0x12 && resp[1] == 0x34);
	}
}

/* Removes every override and limit (names and CIDRs as the lists print
 * them), and thaws. */
static void reset(void)
{
	static const char *const lists[2][2] = { { "overrides", "unset" }, { "limits", "unlimit" } };
	static char list[65536];
	for (int k = 0; k < 2; k++) {
		for (int round = 0; round < 300; round++) {
			check(hf_admin(engine, lists[k][0], list, sizeof(list)) == HF_EOK);
			if (strncmp(list, "OK", 2) == 0)
				break; /* empty list */
			size_t w = strcspn(list, " \t\n");
			char cmd[2048]; /* a listed name: 255 octets as \DDD are 1020 chars */
			snprintf(cmd, sizeof(cmd), "%s %.*s", lists[k][1], (int)w, list);
			check(hf_admin(engine, cmd, reply, sizeof(reply)) == HF_EOK);
			check(round < 299);
		}
	}
	(void)hf_admin(engine, "thaw", reply, sizeof(reply));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 1, 16, 257, 258, 300, 1024, 4096, 65536 };
	static char line[MAX_LINE + 1];
	if (engine == NULL)
		setup();
	if (size < 1)
		return 0;
	size_t cap = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))];
	size_t off = 1;
	for (int n = 0; n < MAX_LINES && off < size; n++) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t end = nl != NULL ? (size_t)(nl - data) : size;
		size_t len = end - off;
		if (len > MAX_LINE)
			len = MAX_LINE;
		memcpy(line, data + off, len);
		line[len] = '\0';
		off = end + 1;
		if (admin(line, cap) == HF_EOK && (strncmp(line, "set ", 4) == 0 ||
						   strncmp(line, "unset ", 6) == 0 ||
						   strncmp(line, "limit ", 6) == 0))
			probe(line);
	}
	reset();
	return 0;
}
