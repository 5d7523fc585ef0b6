/* The shard map of shardmap.h: parsing --shard-map and placing rows by id or hash. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "meta/shardmap.h"
#include "core/kho.h"

_Static_assert(IDS_LOGICAL_SHARDS == 4096, "shardmap_of_hash reads 12 bits: three hex digits");
_Static_assert(IDS_LOGICAL_SHARDS <= IDS_SHARDS, "ids carry the logical shard");
_Static_assert(SHARDMAP_SERVERS_MAX <= 256, "server indexes are stored in a byte");

void shardmap_default(struct shardmap *m, unsigned nservers)
{
    m->nservers = nservers;
    for (uint32_t s = 0; s < IDS_LOGICAL_SHARDS; s++)
        m->server[s] = (uint8_t)(s * nservers / IDS_LOGICAL_SHARDS);
}

/* A decimal number below limit at *p, advancing *p past it. */
static bool number(const char **p, unsigned long limit, unsigned long *out)
{
    char *end;
    if (**p < '0' || **p > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(*p, &end, 10);
    if (errno || v >= limit)
        return false;
    *p = end;
    *out = v;
    return true;
}

enum kho_err shardmap_parse(struct shardmap *m, const char *spec, unsigned nservers)
{
    bool *named = xcalloc(IDS_LOGICAL_SHARDS, sizeof(*named));
    enum kho_err rc = KHO_E_INVALID;
    m->nservers = nservers;
    for (const char *p = spec;;) {
        unsigned long first, last, server;
        if (!number(&p, IDS_LOGICAL_SHARDS, &first))
            goto bad;
        last = first;
        if (*p == '-') {
            p++;
            if (!number(&p, IDS_LOGICAL_SHARDS, &last) || last < first)
                goto bad;
        }
        if (*p++ != '=' || !number(&p, nservers, &server))
            goto bad;
        for (unsigned long s = first; s <= last; s++) {
            if (named[s]) {
                log_error("shard map names shard %lu twice", s);
                goto out;
            }
            named[s] = true;
            m->server[s] = (uint8_t)server;
        }
        if (!*p)
            break;
        if (*p++ != ',')
            goto bad;
    }
    for (uint32_t s = 0; s < IDS_LOGICAL_SHARDS; s++) {
        if (!named[s]) {
            log_error("shard map leaves shard %u without a server", s);
            goto out;
        }
    }
    rc = KHO_OK;
    goto out;
bad:
    log_error("shard map is not FIRST-LAST=SERVER,... with shards below %u and servers below %u",
              IDS_LOGICAL_SHARDS, nservers);
out:
    free(named);
    return rc;
}

char *shardmap_format(const struct shardmap *m)
{
    /* at most one run per shard, each at most "4095-4095=63," */
    size_t cap = IDS_LOGICAL_SHARDS * 16, len = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (uint32_t first = 0; first < IDS_LOGICAL_SHARDS;) {
        uint32_t last = first;
        while (last + 1 < IDS_LOGICAL_SHARDS && m->server[last + 1] == m->server[first])
            last++;
        const char *sep = first ? "," : "";
        if (last == first)
            len += (size_t)snprintf(out + len, cap - len, "%s%u=%u", sep, first, m->server[first]);
        else
            len += (size_t)snprintf(out + len, cap - len, "%s%u-%u=%u", sep, first, last,
                                    m->server[first]);
        first = last + 1;
    }
    return out;
}

uint32_t shardmap_of_id(uint64_t id)
{
    return ids_shard(id) % IDS_LOGICAL_SHARDS;
}

static uint32_t hexval(char c)
{
    if (c >= '0' && c <= '9')
        return (uint32_t)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (uint32_t)(c - 'a' + 10);
    return 0; /* callers pass checked hex; anything else still lands on some shard */
}

uint32_t shardmap_of_hash(const char *hex)
{
    return hexval(hex[0]) << 8 | hexval(hex[1]) << 4 | hexval(hex[2]);
}
