/* A shared Redis (hiredis) for the nodes of one kho deployment: the record cache backend
 * (cache.h), counters for login rate limits, and short locks for cross-node single flight.
 * Redis being down is never fatal: every operation then fails fast and callers go on without. */
#ifndef KHO_REDIS_H
#define KHO_REDIS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cache/cache.h"
#include "core/err.h"

/* Down/up: any connection error, timeout or failed invalidation marks Redis down. While down,
 * operations fail with KHO_E_BACKEND at once, without network traffic, and one caller at a
 * time retries the connection with exponential backoff (100 ms doubling up to 5 s). After a
 * reconnect, counters and locks work at once, but the cache keeps missing for ttl_max_ms: a
 * del skipped or lost while down may have left a stale copy, and every copy expires within
 * ttl_max_ms of being stored. Thread-safe: a bounded pool of blocking connections, with a
 * 50 ms connect and a 100 ms command timeout. */
struct redis;

/* Keys: everything kho stores lives under "kho:". Cached records are "kho:NS:{ID}" (NS is img,
 * user, sess or key; ID the decimal id, or the 64 hex digits of a hash) with the version key
 * "kho:NS:{ID}:v" in the same hash slot. */
#define REDIS_KEY_MAX 160

/* Connect to url, "redis://HOST[:PORT]" (PORT defaults to 6379). ttl_max_ms (1..
 * CACHE_TTL_MAX_MS) caps the TTL of every cached copy. An unreachable server is not an error:
 * the handle starts down and connects on its own later. KHO_E_INVALID (logged) for a bad url or
 * ttl. The caller frees the handle with redis_close. */
enum kho_err redis_open(const char *url, int64_t ttl_max_ms, struct redis **out);
/* Release the caller's reference; the connections close once the cache from redis_cache is
 * closed too. NULL is fine. */
void redis_close(struct redis *r);

/* The record cache over r (cache.h semantics, see the leases below). The caller closes it with
 * cache_close; it keeps r alive until then. get and put answer KHO_E_BACKEND when Redis cannot
 * be used (a miss without a lease: the caller reads the database and stores nothing); del
 * answers KHO_E_BACKEND when the invalidation may not have happened, after marking Redis down.
 *
 * Leases: a del bumps the key's version counter (kept 10 minutes); a miss reads the version
 * with the value and the lease carries it; a put runs a script storing the value only when the
 * version is still the lease's. A lease older than 30 s is refused (KHO_E_AGAIN), so a version
 * key that expired and restarted at 0 cannot match a lease taken before it. */
struct cache *redis_cache(struct redis *r);

/* Whether r is connected now (the up/down gauge). */
bool redis_up(struct redis *r);

/* Add one to the counter "kho:NAME" and set *count to the new value; the first increment starts
 * its expiry of window_ms (a fixed window). KHO_E_BACKEND when Redis cannot be used. */
enum kho_err redis_count(struct redis *r, const char *name, int64_t window_ms, int64_t *count);
/* The counter "kho:NAME" (0 when absent) and the milliseconds until it expires (0 when absent
 * or without expiry). KHO_E_BACKEND when Redis cannot be used. */
enum kho_err redis_count_get(struct redis *r, const char *name, int64_t *count, int64_t *ttl_ms);
/* Delete "kho:NAME". KHO_E_BACKEND when Redis cannot be used. */
enum kho_err redis_forget(struct redis *r, const char *name);

/* Take the lock "kho:NAME" for ttl_ms, holding token: KHO_OK when taken, KHO_E_BUSY when
 * another holds it, KHO_E_BACKEND when Redis cannot be used. */
enum kho_err redis_lock(struct redis *r, const char *name, int64_t ttl_ms, uint64_t token);
/* Release "kho:NAME" if token still holds it (an expired lock retaken by another is left
 * alone). KHO_E_BACKEND when Redis cannot be used. */
enum kho_err redis_unlock(struct redis *r, const char *name, uint64_t token);

/* Pure helpers, public for tests. */
/* The Redis name of k's value to out[cap] ("kho:img:{42}"), or of its version key when
 * version is set; KHO_E_TOO_LARGE when cap is too small, KHO_E_INVALID for an unknown ns. */
enum kho_err redis_key_name(const struct cache_key *k, bool version, char *out, size_t cap);
/* A lease for version taken at mono_ms (the monotonic clock in milliseconds). */
uint64_t redis_lease_make(uint64_t version, uint64_t mono_ms);
/* The version a lease was made for, or false when the lease is too old at mono_ms. */
bool redis_lease_check(uint64_t lease, uint64_t mono_ms, uint64_t *version);

#endif
