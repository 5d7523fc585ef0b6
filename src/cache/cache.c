/* cache_open picks the backend a cache url names; keys are built here so that every backend
 * sees the same bytes for the same record. */
#include <string.h>
#include "cache/cache.h"
#include "core/hex.h"
#include "cache/lru.h"
#include "core/kho.h"

void cache_key_id(struct cache_key *k, enum cache_ns ns, uint64_t id)
{
    k->ns = (uint8_t)ns;
    k->len = 8;
    /* little-endian whatever the host, so nodes sharing a network cache agree */
    for (int i = 0; i < 8; i++)
        k->bytes[i] = (unsigned char)(id >> (8 * i));
}

enum kho_err cache_key_hash(struct cache_key *k, enum cache_ns ns, const char *hex)
{
    for (int i = 0; i < CACHE_KEY_MAX; i++) {
        if (!hex[2 * i] || !hex[2 * i + 1])
            return KHO_E_INVALID;
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return KHO_E_INVALID;
        k->bytes[i] = (unsigned char)(hi << 4 | lo);
    }
    if (hex[2 * CACHE_KEY_MAX])
        return KHO_E_INVALID;
    k->ns = (uint8_t)ns;
    k->len = CACHE_KEY_MAX;
    return KHO_OK;
}

enum kho_err cache_open(const char *url, int64_t max_bytes, struct cache **out)
{
    *out = NULL;
    if (max_bytes < 0)
        return KHO_E_INVALID;
    if (url[0] && strcmp(url, "lru") != 0) {
        /* Only the scheme is logged: a network cache's url may carry a password. */
        log_error("unknown cache '%.*s'", (int)strcspn(url, ":"), url);
        return KHO_E_UNSUPPORTED;
    }
    return max_bytes ? lru_open(max_bytes, out) : KHO_OK;
}
