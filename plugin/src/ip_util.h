/*
 * ip_util.h: small address helpers shared by the plugins that parse IPs
 * out of files (hosts, loadbalance weighted).
 *
 * Design: addresses are kept as 16 bytes plus a family (4 or 6); an IPv4
 * address sits in the first 4 bytes with the rest zero, so an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is folded to IPv4 the way
 * Go's net.IP.To4 treats it.  No allocation, no state.
 */
#ifndef HF_IP_UTIL_H
#define HF_IP_UTIL_H

#include <stdint.h>

/* addr holds an IPv6 address: if it is IPv4-mapped, rewrites it in place
 * to the IPv4 layout and returns 4; otherwise leaves it and returns 6. */
int hfi_ip6_unmap(uint8_t addr[16]);

#endif
