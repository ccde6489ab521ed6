/*
 * plugin_whoami.c: CoreDNS's whoami plugin: an empty answer section and,
 * in additional, the client's address (A or AAAA, owner = qname) and an SRV
 * `_udp.<qname>` / `_tcp.<qname>` with the client's port, TTL 0, AA set.
 */
#include <netinet/in.h>
#include <string.h>

#include "engine_int.h"

void hfi_whoami_answer(const hfi_query_t *q, const struct sockaddr *client, hfi_resp_t *resp)
{
	resp->aa = true;
	resp->plugin = "whoami";
	if (client == NULL)
		return;
	uint16_t port = 0;
	hfi_rr_t *rr = NULL;
	hfi_name_t owner = hfi_name_join(NULL, 0, q->qname);
	if (client->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)client;
		rr = hfi_resp_add(resp, HFI_SEC_ADDITIONAL, HFI_T_A, 0);
		if (rr != NULL) {
			rr->rdata = hfi_resp_keep(resp, &s->sin_addr, 4);
			rr->rdlen = 4;
		}
		port = ntohs(s->sin_port);
	} else if (client->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)client;
		rr = hfi_resp_add(resp, HFI_SEC_ADDITIONAL, HFI_T_AAAA, 0);
		if (rr != NULL) {
			rr->rdata = hfi_resp_keep(resp, &s->sin6_addr, 16);
			rr->rdlen = 16;
		}
		port = ntohs(s->sin6_port);
	}
	if (rr == NULL || rr->rdata == NULL)
		return;
	rr->owner = owner;
	rr->rclass = q->qclass;
	static const uint8_t udp[] = "\x04_udp", tcp[] = "\x04_tcp";
	hfi_rr_t *srv = hfi_resp_add(resp, HFI_SEC_ADDITIONAL, HFI_T_SRV, 0);
	if (srv == NULL)
		return;
	uint8_t fixed[6] = {0, 0, 0, 0, (uint8_t)(port >> 8), (uint8_t)port};
	srv->owner = hfi_name_join(q->tcp ? tcp : udp, 5, q->qname);
	srv->rclass = q->qclass;
	srv->rdata = hfi_resp_keep(resp, fixed, sizeof(fixed));
	srv->rdlen = 6;
	static const uint8_t root[1] = {0};
	srv->name1 = hfi_name_wire(root);
}
