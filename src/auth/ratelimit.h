/* Failed-login limiter keyed by account or client address, in a fixed amount of memory. */
#ifndef KHO_AUTH_RATELIMIT_H
#define KHO_AUTH_RATELIMIT_H
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

/* Algorithm: a fixed window per key. The first failure opens a window of window_ms; each
 * failure inside it adds one; once a key has limit failures, checks fail until the window
 * that began at its first failure ends. A key can therefore fail at most limit times per
 * window, and at most 2 * limit times across a window boundary.
 *
 * Memory: one table of `slots` entries allocated at creation, never grown. Keys are hashed
 * with SipHash under a random per-table key, so clients cannot aim keys at one slot. A key
 * may sit in any of 8 neighbouring slots; a new key takes an empty or expired one there, or
 * else evicts the entry with the fewest failures (the oldest among equals), so a flood of
 * one-off keys pushes out other one-off keys before an account under attack. Thread-safe. */
struct ratelimit;

/* A limiter of `slots` entries (rounded up to a power of two, at least 8, at most 2^24;
 * 24 bytes each) allowing `limit` failures per window of window_ms milliseconds. limit < 1
 * or window_ms < 1 gives a limiter that never refuses (limiting turned off). Never NULL; the
 * caller frees it with ratelimit_free. */
struct ratelimit *ratelimit_new(size_t slots, int64_t limit, int64_t window_ms);
void ratelimit_free(struct ratelimit *rl); /* NULL is fine */

/* KHO_OK when key (a NUL-terminated string such as a user name or an address) may try again
 * at now_ms, else KHO_E_RATE with *retry_after_s (if not NULL) set to the whole seconds, at
 * least 1, until it may; a refusal counts M_RATE_LIMITED. */
enum kho_err ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms,
                             int64_t *retry_after_s);

/* Record one failure of key at now_ms. */
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms);

/* Forget key's failures (after a successful login, for the account key). */
void ratelimit_reset(struct ratelimit *rl, const char *key);

#endif
