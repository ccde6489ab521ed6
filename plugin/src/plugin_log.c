/*
 * plugin_log.c: CoreDNS's log plugin (spec section 11) and its replacer
 * (plugin/pkg/replacer): one line per reply for queries whose name is in
 * the first matching rule's scope and whose reply falls in the rule's
 * classes (response.Typify/Classify), written as "[INFO] " + line with one
 * write(2) from the worker's own buffer (no allocation).
 *
 * Formats are parsed as the replacer does (find '}', back up to the last
 * '{'; unknown {X} stays literal; {/meta} is "-").  Keys: {type} {name}
 * (lower case) {class} {proto} {size} {remote} {port} {local} {>id}
 * {>opcode} {>do} {>bufsize} {rcode} {rsize} {duration} {>rflags}.
 * A reply the server wrote itself after the chain returned an error
 * (recorded = false: hosts' SERVFAIL, a forward failure) is logged as
 * CoreDNS's recorder sees it: rcode NOERROR, rflags "-", rsize 0.
 * {local} is the listener's address ("::" for a wildcard listener).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "plugins.h"

typedef struct obuf {
	char *p;
	size_t n, cap;
} obuf_t;

static void put(obuf_t *o, const char *s, size_t l)
{
	if (o->n >= o->cap)
		return;
	if (l > o->cap - o->n)
		l = o->cap - o->n;
	memcpy(o->p + o->n, s, l);
	o->n += l;
}

static void puts_(obuf_t *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putu(obuf_t *o, unsigned long long v)
{
	char b[24];
	int l = snprintf(b, sizeof(b), "%llu", v);
	put(o, b, (size_t)l);
}

static const struct {
	uint16_t t;
	const char *n;
} types[] = {
	{1, "A"}, {2, "NS"}, {3, "MD"}, {4, "MF"}, {5, "CNAME"}, {6, "SOA"}, {7, "MB"}, {8, "MG"},
	{9, "MR"}, {10, "NULL"}, {12, "PTR"}, {13, "HINFO"}, {14, "MINFO"}, {15, "MX"},
	{16, "TXT"}, {17, "RP"}, {18, "AFSDB"}, {19, "X25"}, {20, "ISDN"}, {21, "RT"},
	{23, "NSAPPTR"}, {24, "SIG"}, {25, "KEY"}, {26, "PX"}, {27, "GPOS"}, {28, "AAAA"},
	{29, "LOC"}, {30, "NXT"}, {31, "EID"}, {32, "NIMLOC"}, {33, "SRV"}, {34, "ATMA"},
	{35, "NAPTR"}, {36, "KX"}, {37, "CERT"}, {39, "DNAME"}, {41, "OPT"}, {42, "APL"},
	{43, "DS"}, {44, "SSHFP"}, {45, "IPSECKEY"}, {46, "RRSIG"}, {47, "NSEC"},
	{48, "DNSKEY"}, {49, "DHCID"}, {50, "NSEC3"}, {51, "NSEC3PARAM"}, {52, "TLSA"},
	{53, "SMIMEA"}, {55, "HIP"}, {56, "NINFO"}, {57, "RKEY"}, {58, "TALINK"}, {59, "CDS"},
	{60, "CDNSKEY"}, {61, "OPENPGPKEY"}, {62, "CSYNC"}, {63, "ZONEMD"}, {64, "SVCB"},
	{65, "HTTPS"}, {99, "SPF"}, {100, "UINFO"}, {101, "UID"}, {102, "GID"}, {103, "UNSPEC"},
	{104, "NID"}, {105, "L32"}, {106, "L64"}, {107, "LP"}, {108, "EUI48"}, {109, "EUI64"},
	{249, "TKEY"}, {250, "TSIG"}, {251, "IXFR"}, {252, "AXFR"}, {253, "MAILB"}, {254, "MAILA"},
	{255, "ANY"}, {256, "URI"}, {257, "CAA"}, {258, "AVC"}, {260, "AMTRELAY"},
	{32768, "TA"}, {32769, "DLV"},
};

static void put_type(obuf_t *o, uint16_t t)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].t == t) {
			puts_(o, types[i].n);
			return;
		}
	puts_(o, "TYPE");
	putu(o, t);
}

static void put_class(obuf_t *o, uint16_t c)
{
	static const char *const n[] = {NULL, "IN", NULL, "CH", "HS"};
	if (c < 5 && n[c] != NULL)
		puts_(o, n[c]);
	else if (c == 254)
		puts_(o, "NONE");
	else if (c == 255)
		puts_(o, "ANY");
	else {
		puts_(o, "CLASS");
		putu(o, c);
	}
}

static void put_rcode(obuf_t *o, unsigned rc)
{
	static const char *const n[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
		"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", NULL, NULL, NULL, NULL, NULL,
		"BADSIG", "BADKEY", "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
	};
	if (rc < sizeof(n) / sizeof(n[0]) && n[rc] != NULL)
		puts_(o, n[rc]);
	else
		putu(o, rc);
}

/* miekg's text form of a wire name, lower-cased (request.Name()). */
static void put_name(obuf_t *o, const uint8_t *w)
{
	if (w[0] == 0) {
		put(o, ".", 1);
		return;
	}
	while (w[0] != 0) {
		uint8_t l = w[0];
		for (uint8_t i = 1; i <= l; i++) {
			uint8_t c = w[i];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c + 32);
			if (c == '.' || c == ' ' || c == '(' || c == ')' || c == ';' || c == '@' ||
			    c == '"' || c == '\\' || c == '$') {
				char b[2] = {'\\', (char)c};
				put(o, b, 2);
			} else if (c < 0x21 || c > 0x7e) {
				char b[5];
				snprintf(b, sizeof(b), "\\%03u", c);
				put(o, b, 4);
			} else {
				put(o, (const char *)&c, 1);
			}
		}
		put(o, ".", 1);
		w += 1 + l;
	}
}

static void put_addr(obuf_t *o, const struct sockaddr *sa, bool port)
{
	char b[INET6_ADDRSTRLEN];
	if (sa == NULL) {
		puts_(o, port ? "0" : "-");
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;
		if (port)
			putu(o, ntohs(s->sin_port));
		else if (inet_ntop(AF_INET, &s->sin_addr, b, sizeof(b)) != NULL)
			puts_(o, b);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		if (port) {
			putu(o, ntohs(s->sin6_port));
		} else if (inet_ntop(AF_INET6, &s->sin6_addr, b, sizeof(b)) != NULL) {
			put(o, "[", 1);
			puts_(o, b);
			put(o, "]", 1);
		}
	}
}

/* strconv.AppendFloat(secs, 'f', -1, 64) + "s" */
static void put_duration(obuf_t *o, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	double v = (double)ns / 1e9;
	char b[64];
	for (int p = 0; p <= 17; p++) {
		snprintf(b, sizeof(b), "%.*f", p, v);
		if (strtod(b, NULL) == v)
			break;
	}
	puts_(o, b);
	put(o, "s", 1);
}

static const char *const known[] = {
	"{type}", "{name}", "{class}", "{proto}", "{size}", "{remote}", "{port}", "{local}",
	"{>id}", "{>opcode}", "{>do}", "{>bufsize}", "{rcode}", "{rsize}", "{duration}", "{>rflags}",
};

static void put_label(obuf_t *o, int k, const hfi_log_fields_t *f)
{
	const hfi_query_t *q = f->q;
	const uint8_t *r = f->reply;
	switch (k) {
	case 0: put_type(o, q->qtype); break;
	case 1: put_name(o, q->qname); break;
	case 2: put_class(o, q->qclass); break;
	case 3: puts_(o, f->transport == HF_TCP ? "tcp" : "udp"); break;
	case 4: putu(o, q->len); break;
	case 5: put_addr(o, f->client, false); break;
	case 6: put_addr(o, f->client, true); break;
	case 7:
		if (f->server_addr == NULL || f->server_addr[0] == '\0')
			puts_(o, "[::]");
		else if (strchr(f->server_addr, ':') != NULL) {
			put(o, "[", 1);
			puts_(o, f->server_addr);
			put(o, "]", 1);
		} else {
			puts_(o, f->server_addr);
		}
		break;
	case 8: putu(o, q->id); break;
	case 9: putu(o, q->opcode); break;
	case 10: puts_(o, q->do_bit ? "true" : "false"); break;
	case 11: {
		unsigned sz = 512;
		if (f->transport == HF_TCP)
			sz = 65535;
		else if (q->has_edns && q->edns_size > 512)
			sz = q->edns_size;
		putu(o, sz);
		break;
	}
	case 12:
		if (r == NULL || f->rlen < 12) {
			puts_(o, "NOERROR");
		} else {
			unsigned rc = r[3] & 0x0f;
			/* extended rcode bits from the OPT, when present */
			rc |= (unsigned)f->ext_rcode << 4;
			put_rcode(o, rc);
		}
		break;
	case 13: putu(o, r == NULL ? 0 : f->rlen); break;
	case 14: put_duration(o, f->duration_ns); break;
	case 15: {
		if (r == NULL || f->rlen < 12) {
			puts_(o, "-");
			break;
		}
		static const struct { int byte; uint8_t bit; const char *n; } fl[] = {
			{2, 0x80, "qr"}, {2, 0x04, "aa"}, {2, 0x02, "tc"}, {2, 0x01, "rd"},
			{3, 0x80, "ra"}, {3, 0x40, "z"}, {3, 0x20, "ad"}, {3, 0x10, "cd"},
		};
		bool first = true;
		for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
			if (r[fl[i].byte] & fl[i].bit) {
				if (!first)
					put(o, ",", 1);
				puts_(o, fl[i].n);
				first = false;
			}
		}
		break;
	}
	}
}

size_t hfi_log_format(const char *s, const hfi_log_fields_t *f, char *out, size_t cap)
{
	obuf_t o = {out, 0, cap};
	for (;;) {
		const char *j = strchr(s, '}');
		if (j == NULL)
			break;
		const char *i = NULL;
		for (const char *p = j; p > s;) {
			p--;
			if (*p == '{') {
				i = p;
				break;
			}
		}
		if (i == NULL) {
			put(&o, s, (size_t)(j - s) + 1);
			s = j + 1;
			continue;
		}
		size_t vl = (size_t)(j - i) + 1;
		int k = -1;
		for (size_t n = 0; n < sizeof(known) / sizeof(known[0]); n++)
			if (strlen(known[n]) == vl && memcmp(known[n], i, vl) == 0)
				k = (int)n;
		if (k < 0 && !(vl >= 3 && i[1] == '/')) {
			put(&o, s, (size_t)(j - s) + 1); /* unknown: literal up to '}' */
			s = j + 1;
			continue;
		}
		put(&o, s, (size_t)(i - s));
		if (k >= 0)
			put_label(&o, k, f);
		else
			put(&o, "-", 1); /* metadata: no metadata plugin */
		s = j + 1;
	}
	puts_(&o, s);
	return o.n;
}

/* ---- classes: response.Typify + Classify on the wire reply ---- */

/* Walks the reply: authority SOA/NS presence and the OPT's extended rcode. */
static void scan(const uint8_t *m, size_t len, bool *soa, bool *ns, uint8_t *ext)
{
	*soa = *ns = false;
	*ext = 0;
	if (m == NULL || len < 12)
		return;
	unsigned cnt[4];
	for (int i = 0; i < 4; i++)
		cnt[i] = (unsigned)(m[4 + 2 * i] << 8 | m[5 + 2 * i]);
	size_t off = 12;
	for (unsigned i = 0; i < cnt[0]; i++) {
		off = hfi_wire_skip_name(m, len, off);
		if (off == 0 || off + 4 > len)
			return;
		off += 4;
	}
	for (int sec = 1; sec < 4; sec++) {
		for (unsigned i = 0; i < cnt[sec]; i++) {
			off = hfi_wire_skip_name(m, len, off);
			if (off == 0 || off + 10 > len)
				return;
			uint16_t type = (uint16_t)(m[off] << 8 | m[off + 1]);
			size_t rdl = (size_t)(m[off + 8] << 8 | m[off + 9]);
			if (sec == 2 && type == HFI_T_SOA)
				*soa = true;
			if (sec == 2 && type == HFI_T_NS)
				*ns = true;
			if (sec == 3 && type == HFI_T_OPT)
				*ext = m[off + 4];
			off += 10 + rdl;
			if (off > len)
				return;
		}
	}
}

static unsigned classify(const hfi_query_t *q, const uint8_t *r, size_t len, bool soa, bool ns,
			 unsigned rc)
{
	if (r == NULL || len < 12)
		return HFI_LOG_CLASS_ERROR; /* OtherError */
	uint8_t opcode = (r[2] >> 3) & 0x0f;
	if (opcode == 5 || opcode == 4 || q->qtype == HFI_T_AXFR || q->qtype == HFI_T_IXFR)
		return 0; /* Update / Meta: only class all */
	unsigned an = (unsigned)(r[6] << 8 | r[7]);
	if (an > 0 && rc == 0)
		return HFI_LOG_CLASS_SUCCESS;
	if (soa && rc == 0)
		return HFI_LOG_CLASS_DENIAL;
	if (soa && rc == 3)
		return HFI_LOG_CLASS_DENIAL;
	if (rc == 2 || rc == 4)
		return HFI_LOG_CLASS_ERROR;
	if (ns && rc == 0)
		return HFI_LOG_CLASS_SUCCESS;
	if (rc == 0)
		return HFI_LOG_CLASS_SUCCESS;
	return HFI_LOG_CLASS_ERROR;
}

void hfi_log_reply(hf_worker_t *w, const uint8_t *reply, size_t len, bool recorded)
{
	int bi = w->pw.block;
	if (bi < 0 || w->pw.logged || w->e->cfg == NULL || (size_t)bi >= w->e->cfg->nblocks)
		return;
	const hfi_cfg_log_t *c = w->e->cfg->blocks[bi].log_cfg;
	if (c == NULL || w->q.qname == NULL)
		return;
	w->pw.logged = true;
	const hfi_cfg_log_rule_t *rule = NULL;
	for (size_t i = 0; i < c->nrules && rule == NULL; i++) {
		uint8_t z[HFI_DNAME_MAX + 1];
		if (hfi_dname_from_str(c->rules[i].name, z, sizeof(z)) >= 0 &&
		    hfi_dname_in_zone(w->q.lname, z))
			rule = &c->rules[i];
	}
	if (rule == NULL)
		return;
	if (!recorded) {
		reply = NULL;
		len = 0;
	}
	bool soa, ns;
	uint8_t ext;
	scan(reply, len, &soa, &ns, &ext);
	if ((rule->classes & HFI_LOG_CLASS_ALL) != HFI_LOG_CLASS_ALL) {
		unsigned rc = reply != NULL && len >= 12 ? (unsigned)(reply[3] & 0x0f) | (unsigned)ext << 4 : 0;
		unsigned cls = classify(&w->q, reply, len, soa, ns, rc);
		if ((rule->classes & cls) == 0)
			return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	hfi_log_fields_t f = {
		.q = &w->q,
		.client = w->pw.has_client ? (const struct sockaddr *)&w->pw.client : NULL,
		.transport = w->pw.transport,
		.reply = reply,
		.rlen = len,
		.duration_ns = now - w->pw.t0_ns,
		.server_addr = w->e->listeners[w->listener].addr,
		.ext_rcode = ext,
	};
	memcpy(w->pw.line, "[INFO] ", 7);
	size_t n = 7 + hfi_log_format(rule->format, &f, w->pw.line + 7, sizeof(w->pw.line) - 8);
	w->pw.line[n++] = '\n';
	size_t off = 0;
	while (off < n) {
		ssize_t r = write(STDOUT_FILENO, w->pw.line + off, n - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
}
