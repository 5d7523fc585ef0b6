/* The in-process cache backend (cache.h): a bounded LRU hash map in stripes, each with its own
 * lock, so event loops on several threads rarely wait for each other. */
#ifndef KHO_LRU_H
#define KHO_LRU_H
#include <stddef.h>
#include <stdint.h>
#include "cache/cache.h"

/* The stripes hold at least this many bytes each, up to 64 stripes: a cache under twice this
 * size has one stripe, and so evicts in exact least-recently-used order. */
#define LRU_STRIPE_MIN_BYTES (64 * 1024)

/* Open an LRU cache of at most max_bytes (>= 1), split evenly among its stripes. The caller
 * closes it with cache_close. KHO_E_INVALID when max_bytes < 1. */
enum kho_err lru_open(int64_t max_bytes, struct cache **out);

/* What an entry of key_len and value_len bytes counts against the ceiling: the value, the key
 * and the entry's bookkeeping (list and chain links, its bucket slot, the allocator's header). */
size_t lru_entry_cost(size_t key_len, size_t value_len);

#endif
