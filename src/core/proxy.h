/* Trusted proxies: the --trusted-proxies list of addresses and CIDR ranges, and the client
 * address a request names through X-Forwarded-For when it came from one of them. */
#ifndef KHO_PROXY_H
#define KHO_PROXY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

#define PROXY_MAX_NETS 32 /* entries of a --trusted-proxies list */
#define PROXY_MAX_HOPS 16 /* X-Forwarded-For entries considered, from the right */
#define PROXY_ADDR_MAX 48 /* room for any address as inet_ntop writes it, with its NUL */

/* One range. IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d, prefix + 96) so that one
 * comparison covers both families and a v4 client seen on a dual-stack socket. */
struct proxy_net {
    uint8_t addr[16];
    unsigned bits;
};

struct proxy_set {
    size_t n; /* 0 = trust nobody */
    struct proxy_net nets[PROXY_MAX_NETS];
};

/* Parse a comma-separated list of IPv4/IPv6 addresses and CIDR ranges ("10.0.0.0/8, ::1") into
 * *out; spaces around entries are ignored and "" gives the empty set. On error writes the reason,
 * naming the bad entry, to why (cap bytes) and returns KHO_E_INVALID (a malformed entry, host
 * bits set past the prefix, an empty entry) or KHO_E_TOO_LARGE (over PROXY_MAX_NETS entries). */
enum kho_err proxy_set_parse(const char *list, struct proxy_set *out, char *why, size_t cap);

/* True when addr (textual IPv4 or IPv6, NUL-terminated) is in one of the set's ranges. */
bool proxy_set_trusts(const struct proxy_set *s, const char *addr);

/* The client address of a request whose socket peer is peer, given its X-Forwarded-For value
 * xff (the fields of every such header joined by commas; NULL when absent), written to out
 * (cap >= PROXY_ADDR_MAX) in inet_ntop's canonical form. An untrusted peer is the client and
 * xff is ignored. Otherwise the list is walked from the right, skipping trusted addresses, and
 * the first untrusted one is the client. The walk stops at a malformed entry and after
 * PROXY_MAX_HOPS entries, and the client is then the last address it accepted (a trusted hop,
 * or the peer). Returns true when out differs from peer (the client came from xff). */
bool proxy_client(const struct proxy_set *s, const char *peer, const char *xff, char *out,
                  size_t cap);

#endif
