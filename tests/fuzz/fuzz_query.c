/*
 * fuzz_query.c: libFuzzer harness for the wire layer.  Parses the input
 * as a query (TCP when the first byte is odd), answers it with a few
 * records through hfi_msg_pack at several size limits, writes the bare
 * error replies, and aborts when an invariant breaks: a reply larger than
 * its limit (unless only the question and OPT are left), a header that
 * does not match the query, an inconsistent parse.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast.h"
#include "msg.h"
#include "query.h"

static hfi_resp_t resp;
static uint8_t out[70000];

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_header(const hfi_query_t *q, const uint8_t *w, int n)
{
	check(n >= 12);
	check(rd16(w) == q->id);
	check((w[2] & 0x80) != 0);
	check(rd16(w + 4) == (q->qname != NULL ? 1 : 0));
}

static void build(const hfi_query_t *q, hfi_resp_t *r, unsigned variant)
{
	hfi_resp_reset(r);
	r->aa = true;
	r->rcode = (uint16_t)(variant % 4 == 3 ? HFI_RCODE_NXDOMAIN : HFI_RCODE_NOERROR);
	if (variant & 4) {
		r->has_ede = true;
		r->ede_code = (uint16_t)variant;
	}
	const uint8_t *zone = hfi_query_suffix(q, q->nlabels > 0 ? 1 : 0);
	unsigned count = 1 + variant * 7 % 60;
	for (unsigned i = 0; i < count; i++) {
		hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_ANSWER, HFI_T_A, 5);
		if (rr == NULL)
			break;
		uint8_t ip[4] = { 10, 0, (uint8_t)(i >> 8), (uint8_t)i };
		rr->owner = hfi_name_wire(q->qname);
		rr->rdata = hfi_resp_keep(r, ip, 4);
		rr->rdlen = 4;
		if (rr->rdata == NULL)
			r->nrr--;
	}
	hfi_rr_t *rr = hfi_resp_add(r, HFI_SEC_AUTHORITY, HFI_T_SOA, 5);
	if (rr != NULL) {
		static const uint8_t soa[20] = { 0, 0, 0, 1 };
		rr->owner = hfi_name_wire(zone);
		rr->name1 = hfi_name_join((const uint8_t *)"\x02ns\x03" "dns", 7, zone);
		rr->name2 = hfi_name_join((const uint8_t *)"\x0ahostmaster", 11, zone);
		rr->rdata = soa;
		rr->rdlen = 20;
	}
	rr = hfi_resp_add(r, HFI_SEC_ADDITIONAL, HFI_T_SRV, 5);
	if (rr != NULL) {
		static const uint8_t srv[6] = { 0, 0, 0, 100, 0, 53 };
		rr->owner = hfi_name_wire(q->qname);
		rr->name1 = hfi_name_join((const uint8_t *)"\x01x", 2, zone);
		rr->rdata = srv;
		rr->rdlen = 6;
	}
	rr = hfi_resp_add(r, HFI_SEC_ADDITIONAL, HFI_T_CNAME, 5);
	if (rr != NULL) {
		rr->owner = hfi_name_join((const uint8_t *)"\x01x", 2, zone);
		rr->name1 = hfi_name_wire(q->lname);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hfi_query_t q;
	bool tcp = size > 0 && (data[0] & 1);
	int st = hfi_query_parse(&q, data, size, tcp);
	check(st >= HFI_Q_OK && st <= HFI_Q_BADVERS);
	q.family = size > 1 && (data[1] & 1) ? 6 : 4;
	if (q.qname != NULL) {
		check(q.qname_len >= 1 && q.question_end <= size);
		check(hfi_dname_len(q.qname) == q.qname_len);
		check(hfi_dname_labels(q.qname) == q.nlabels);
		check(hfi_dname_eq(q.qname, q.lname));
	}

	int n;
	switch (st) {
	case HFI_Q_DROP:
		return 0;
	case HFI_Q_FORMERR:
	case HFI_Q_NOTIMP:
		n = hfi_msg_error(&q, st == HFI_Q_FORMERR ? HFI_RCODE_FORMERR : HFI_RCODE_NOTIMP,
				  out, sizeof(out));
		check_header(&q, out, n);
		check(n == 12 + (q.qname != NULL ? q.qname_len + 4 : 0));
		check(hfi_msg_error(&q, HFI_RCODE_FORMERR, out, 11) == HF_ESPACE);
		return 0;
	case HFI_Q_BADVERS:
		n = hfi_msg_error(&q, HFI_RCODE_BADVERS, out, sizeof(out));
		check_header(&q, out, n);
		check(n == 12 + (q.qname != NULL ? q.qname_len + 4 : 0) + 11);
		return 0;
	default:
		break;
	}
	if (q.qname == NULL) {
		hfi_resp_reset(&resp);
		resp.rcode = HFI_RCODE_SERVFAIL;
		n = hfi_msg_pack(&q, &resp, out, sizeof(out), 0);
		check(n == 12);
		n = hfi_msg_error(&q, HFI_RCODE_SERVFAIL, out, sizeof(out));
		check(n == 12);
		return 0;
	}
	n = hfi_msg_error(&q, HFI_RCODE_REFUSED, out, sizeof(out));
	check_header(&q, out, n);
	check(n == 12 + q.qname_len + 4 + (q.has_edns ? 11 : 0) || q.has_edns);

	static const size_t sizes[] = { 0, 1, 512, 600, 1232, 1480, 4096, 65535 };
	for (unsigned v = 0; v < 2; v++) {
		build(&q, &resp, v * 5 + (size > 2 ? data[2] : 0));
		resp.raw = v == 1 && size > 3 && (data[3] & 1);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t limit = sizes[i];
			if (limit == 0)
				limit = tcp ? 65535 : (q.has_edns ? q.edns_size : 512);
			if (limit < 512)
				limit = 512;
			n = hfi_msg_pack(&q, &resp, out, sizeof(out), sizes[i]);
			check(n > 0);
			check_header(&q, out, n);
			uint16_t an = rd16(out + 6), ns = rd16(out + 8), ar = rd16(out + 10);
			check(an + ns + ar <= resp.nrr + (q.has_edns ? 1 : 0));
			bool dropped = an + ns + ar - (q.has_edns ? 1 : 0) < resp.nrr;
			if (resp.raw) {
				check(!dropped);
			} else {
				if ((size_t)n > limit)
					check(an == 0 && ns == 0 && ar == (q.has_edns ? 1 : 0));
				check(!dropped || (out[2] & 0x02) != 0);
			}
			/* too small a buffer is an error, never an overrun */
			check(hfi_msg_pack(&q, &resp, out, (size_t)n - 1, sizes[i]) == HF_ESPACE);
		}
	}
	return 0;
}
