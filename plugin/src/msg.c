/*
 * msg.c: the response under construction (hfi_resp_t helpers) and the
 * packer that writes it in wire format exactly as CoreDNS does: miekg/dns
 * Msg.Pack with its compression map, Msg.Truncate, and the request
 * scrubber's OPT echo and "compress UDP replies over 1480/1220" rule.
 */
#include <string.h>

#include "holdfast.h"
#include "msg.h"

void hfi_resp_reset(hfi_resp_t *r)
{
	r->rcode = HFI_RCODE_NOERROR;
	r->aa = false;
	r->tc = false;
	r->ra = false;
	r->plugin = "";
	r->nrr = 0;
	r->ede_code = 0;
	r->has_ede = false;
	r->scratch_len = 0;
}

hfi_rr_t *hfi_resp_add(hfi_resp_t *r, enum hfi_section sec, uint16_t type, uint32_t ttl)
{
	if (r->nrr >= HFI_RESP_MAX_RR)
		return NULL;
	hfi_rr_t *rr = &r->rr[r->nrr++];
	memset(rr, 0, sizeof(*rr));
	rr->section = (uint8_t)sec;
	rr->type = type;
	rr->rclass = HFI_C_IN;
	rr->ttl = ttl;
	return rr;
}

uint8_t *hfi_resp_keep(hfi_resp_t *r, const void *data, size_t len)
{
	if (len > HFI_RESP_SCRATCH - r->scratch_len)
		return NULL;
	uint8_t *p = r->scratch + r->scratch_len;
	if (len > 0 && data != NULL)
		memcpy(p, data, len);
	r->scratch_len += len;
	return p;
}

hfi_name_t hfi_name_wire(const uint8_t *wire)
{
	hfi_name_t n = { .pre = NULL, .prelen = 0, .suf = wire,
			 .suflen = (uint16_t)hfi_dname_len(wire) };
	return n;
}

hfi_name_t hfi_name_join(const uint8_t *pre, size_t prelen, const uint8_t *suf)
{
	hfi_name_t n = { .pre = prelen > 0 ? pre : NULL, .prelen = (uint16_t)prelen,
			 .suf = suf, .suflen = (uint16_t)hfi_dname_len(suf) };
	return n;
}
