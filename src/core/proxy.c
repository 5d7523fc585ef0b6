/* Trusted proxies and the X-Forwarded-For walk; see proxy.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/proxy.h"
#include "core/kho.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Trim spaces off [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

/* A bare IPv4 or IPv6 address of n bytes at s into addr (IPv4 mapped); *v4 tells which. */
static bool parse_addr(const char *s, size_t n, uint8_t addr[16], bool *v4)
{
    char tmp[PROXY_ADDR_MAX];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *v4 = inet_pton(AF_INET, tmp, addr + 12) == 1;
    if (*v4) {
        memcpy(addr, v4_mapped, sizeof(v4_mapped));
        return true;
    }
    return inet_pton(AF_INET6, tmp, addr) == 1;
}

/* Canonical text of addr: dotted IPv4 for mapped addresses, so "::ffff:10.0.0.1" and
 * "10.0.0.1" count as one client. */
static void format_addr(const uint8_t addr[16], char *out, size_t cap)
{
    if (!memcmp(addr, v4_mapped, sizeof(v4_mapped)))
        inet_ntop(AF_INET, addr + 12, out, (socklen_t)cap);
    else
        inet_ntop(AF_INET6, addr, out, (socklen_t)cap);
}

static enum kho_err parse_net(const char *s, size_t n, struct proxy_net *net)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    bool v4;
    if (!parse_addr(s, alen, net->addr, &v4))
        return KHO_E_INVALID;
    unsigned max = v4 ? 32 : 128;
    net->bits = 128;
    if (slash) {
        const char *p = slash + 1, *end = s + n;
        if (p == end || end - p > 3)
            return KHO_E_INVALID;
        unsigned bits = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return KHO_E_INVALID;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > max)
            return KHO_E_INVALID;
        net->bits = bits + (128 - max);
    }
    /* host bits past the prefix are almost always a typo for another range: refuse them */
    for (unsigned i = net->bits; i < 128; i++)
        if (net->addr[i / 8] & (0x80u >> (i % 8)))
            return KHO_E_INVALID;
    return KHO_OK;
}

enum kho_err proxy_set_parse(const char *list, struct proxy_set *out, char *why, size_t cap)
{
    memset(out, 0, sizeof(*out));
    const char *s = list;
    size_t len = strlen(list);
    trim(&s, &len);
    if (len == 0)
        return KHO_OK;
    const char *end = s + len;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        const char *item = s;
        size_t n = (size_t)(e - s);
        trim(&item, &n);
        if (out->n == PROXY_MAX_NETS) {
            snprintf(why, cap, "more than %d trusted proxies", PROXY_MAX_NETS);
            return KHO_E_TOO_LARGE;
        }
        if (parse_net(item, n, &out->nets[out->n])) {
            snprintf(why, cap,
                     "'%.*s' is not an IPv4 or IPv6 address or CIDR range (with no bits set "
                     "past its prefix)",
                     (int)(n > 64 ? 64 : n), item);
            return KHO_E_INVALID;
        }
        out->n++;
        if (!comma)
            return KHO_OK;
        s = comma + 1;
    }
}

static bool trusts(const struct proxy_set *s, const uint8_t addr[16])
{
    for (size_t i = 0; i < s->n; i++) {
        const struct proxy_net *net = &s->nets[i];
        unsigned whole = net->bits / 8, rest = net->bits % 8;
        if (memcmp(addr, net->addr, whole))
            continue;
        if (rest && ((addr[whole] ^ net->addr[whole]) & (uint8_t)(0xff00u >> rest)))
            continue;
        return true;
    }
    return false;
}

bool proxy_set_trusts(const struct proxy_set *s, const char *addr)
{
    uint8_t a[16];
    bool v4;
    return parse_addr(addr, strlen(addr), a, &v4) && trusts(s, a);
}

bool proxy_client(const struct proxy_set *s, const char *peer, const char *xff, char *out,
                  size_t cap)
{
    snprintf(out, cap, "%s", peer);
    if (!s->n || !xff || !proxy_set_trusts(s, peer))
        return false;
    /* Right to left: each trusted proxy appended the address it was connected from, so the
     * first untrusted address is the nearest one nobody we trust can vouch past. Entries left
     * of it were written by the client and are never read. A malformed entry could only have
     * been written by a hop we trusted (everything to its right was trusted), so the walk
     * stops there and names the last address it could read rather than guess past it. */
    const char *end = xff + strlen(xff);
    for (int hop = 0; hop < PROXY_MAX_HOPS; hop++) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *item = start;
        size_t n = (size_t)(end - start);
        trim(&item, &n);
        uint8_t a[16];
        bool v4;
        if (!parse_addr(item, n, a, &v4))
            break;
        format_addr(a, out, cap);
        if (!trusts(s, a) || start == xff)
            break;
        end = start - 1;
    }
    return strcmp(out, peer) != 0;
}
