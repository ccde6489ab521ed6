/*
 * ip_util.c: owns hfi_ip6_unmap, the IPv4-mapped IPv6 folding shared by
 * the hosts and loadbalance-weighted parsers (ip_util.h).
 */
#include <string.h>

#include "ip_util.h"

int hfi_ip6_unmap(uint8_t addr[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(addr, mapped, 12) != 0)
		return 6;
	memmove(addr, addr + 12, 4);
	memset(addr + 4, 0, 12);
	return 4;
}
