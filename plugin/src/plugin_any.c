/*
 * plugin_any.c: CoreDNS's any plugin (RFC 8482): a query of type ANY gets
 * one HINFO record, owner = the question as sent, class IN, TTL 8482,
 * CPU "ANY obsoleted", OS "See RFC 8482"; no AA.  Other types pass on.
 */
#include "plugins.h"

bool hfi_any_answer(const hfi_query_t *q, hfi_resp_t *resp)
{
	if (q->qtype != HFI_T_ANY)
		return false;
	static const uint8_t hinfo[] = "\x0d" "ANY obsoleted" "\x0c" "See RFC 8482";
	hfi_resp_reset(resp);
	resp->plugin = "any";
	hfi_rr_t *rr = hfi_resp_add(resp, HFI_SEC_ANSWER, HFI_T_HINFO, 8482);
	if (rr == NULL)
		return true;
	rr->owner = hfi_name_wire(q->qname);
	rr->rclass = HFI_C_IN;
	rr->rdata = hinfo;
	rr->rdlen = sizeof(hinfo) - 1;
	return true;
}
