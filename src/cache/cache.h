/* The cache interface: short-lived copies of small records (image records, users, logins) under
 * typed keys, each with its own time to live. Callers see only this header; lru.c is the
 * in-process default, and a shared network cache (Redis) slots in as a second backend.
 * Values are byte strings the caller serialises, so any backend can hold them. All functions
 * are thread-safe. A NULL struct cache is a disabled cache: every get misses. */
#ifndef KHO_CACHE_H
#define KHO_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

/* What a key names; part of the key, so equal ids in different namespaces never collide. */
enum cache_ns {
    CACHE_NS_IMAGE = 1, /* an image record by image id */
    CACHE_NS_USER,      /* a user by user id */
    CACHE_NS_SESSION,   /* a login session by the SHA-256 of its token */
    CACHE_NS_APIKEY,    /* an API key by its SHA-256 */
};

#define CACHE_KEY_MAX 32
#define CACHE_TTL_MAX_MS 86400000 /* a day: a cache holds copies, never the record itself */

/* A namespace and 1..CACHE_KEY_MAX bytes: a 64-bit id, or a 256-bit hash. */
struct cache_key {
    uint8_t ns;
    uint8_t len;
    unsigned char bytes[CACHE_KEY_MAX];
};

/* The key of id in ns. */
void cache_key_id(struct cache_key *k, enum cache_ns ns, uint64_t id);
/* The key of a hash given as 64 hex digits (either case) in ns. KHO_E_INVALID for anything
 * else. */
enum kho_err cache_key_hash(struct cache_key *k, enum cache_ns ns, const char *hex);

struct cache;

/* Leases close the race between a reader that fills the cache from the database and a writer
 * that invalidates it: a miss hands out a lease, a del of the key voids the leases handed out
 * before it, and a put with a void lease stores nothing. So a value read before a write can
 * never be stored after that write's del. (A network backend does what memcached's leases do.) */
struct cache_ops {
    const char *name;
    /* Copy the live value of k to buf[0..cap) and its length to *len. KHO_E_NOTFOUND when
     * there is none (never stored, expired, evicted or deleted): *lease then gets the lease for
     * a put of k. KHO_E_TOO_LARGE when the value is longer than cap (nothing copied). */
    enum kho_err (*get)(struct cache *c, const struct cache_key *k, void *buf, size_t cap,
                        size_t *len, uint64_t *lease);
    /* Store a copy of val[0..len) under k for ttl_ms (1..CACHE_TTL_MAX_MS) milliseconds,
     * replacing any value, when lease (from a get of k that missed) is still good: KHO_E_AGAIN
     * and nothing stored when a del of k came since. KHO_E_TOO_LARGE when the value cannot fit
     * at all, KHO_E_INVALID for a ttl_ms out of range. */
    enum kho_err (*put)(struct cache *c, const struct cache_key *k, const void *val, size_t len,
                        int64_t ttl_ms, uint64_t lease);
    /* Remove k's value, if any, and void the leases handed out for k so far. Call it after
     * every write that changes what k's value was read from. */
    enum kho_err (*del)(struct cache *c, const struct cache_key *k);
    void (*close)(struct cache *c);
};

struct cache {
    const struct cache_ops *ops;
};

/* Open the cache named by url: "" or "lru" for the in-process LRU, which holds at most
 * max_bytes (entries' own overhead counted). max_bytes 0 disables caching: KHO_OK with *out
 * NULL. KHO_E_UNSUPPORTED (logged) for any other url; KHO_E_INVALID for a negative max_bytes. */
enum kho_err cache_open(const char *url, int64_t max_bytes, struct cache **out);

static inline enum kho_err cache_get(struct cache *c, const struct cache_key *k, void *buf,
                                     size_t cap, size_t *len, uint64_t *lease)
{
    if (!c) {
        *lease = 0;
        return KHO_E_NOTFOUND;
    }
    return c->ops->get(c, k, buf, cap, len, lease);
}
static inline enum kho_err cache_put(struct cache *c, const struct cache_key *k, const void *val,
                                     size_t len, int64_t ttl_ms, uint64_t lease)
{
    return c ? c->ops->put(c, k, val, len, ttl_ms, lease) : KHO_OK;
}
static inline enum kho_err cache_del(struct cache *c, const struct cache_key *k)
{
    return c ? c->ops->del(c, k) : KHO_OK;
}
static inline void cache_close(struct cache *c)
{
    if (c)
        c->ops->close(c);
}

#endif
