/* The blob store's in-memory index: 64-bit key -> (volume, record offset, size, flags) in about
 * 20 bytes of RAM per key. A big sorted array plus a small sorted delta array merged into it. */
#ifndef KHO_BLOB_INDEX_H
#define KHO_BLOB_INDEX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

#define INDEX_MAX_VOL 0xffffu                    /* highest volume id a location can name */
#define INDEX_MAX_OFF ((uint64_t)UINT32_MAX * 8) /* highest record offset (32 GiB volumes) */
#define INDEX_FLAGS_MASK 0x7fffu                 /* flag bits callers may use */
#define INDEX_MAX_ENTRIES ((size_t)1 << 32)      /* ceiling on keys held */

/* Where a key's record lives. off is the record's byte offset in its volume file and must be a
 * multiple of 8; flags are the caller's own (within INDEX_FLAGS_MASK). */
struct index_loc {
    uint64_t off;
    uint32_t vol;
    uint32_t size;
    uint16_t flags;
};

struct index;

/* An empty index. Never fails (aborts on OOM); free it with index_free. */
struct index *index_new(void);
void index_free(struct index *ix);

/* The index's reader/writer lock. It prefers writers so that a stream of readers cannot starve
 * them. index_get, index_scan, index_count and index_mem_bytes need at least the read lock when
 * other threads may write; index_put, index_del and index_reserve need the write lock. The index
 * functions never take the lock themselves, so callers can make larger steps atomic. */
void index_rdlock(struct index *ix);
void index_wrlock(struct index *ix);
void index_unlock(struct index *ix);

/* Make room for n keys in total, so that loading a known number of keys allocates exactly once.
 * KHO_E_TOO_LARGE past INDEX_MAX_ENTRIES. */
enum kho_err index_reserve(struct index *ix, size_t n);
/* Insert key or replace its location. KHO_E_INVALID when loc cannot be packed (see the limits
 * above), KHO_E_TOO_LARGE when the index already holds INDEX_MAX_ENTRIES keys. */
enum kho_err index_put(struct index *ix, uint64_t key, const struct index_loc *loc);
/* Look key up; false when absent. */
bool index_get(const struct index *ix, uint64_t key, struct index_loc *out);
/* Remove key; false when it was absent. */
bool index_del(struct index *ix, uint64_t key);

/* Copy up to max keys >= from, in ascending key order, with their locations; returns how many.
 * Resume a walk with from = last key + 1. */
size_t index_scan(const struct index *ix, uint64_t from, uint64_t *keys, struct index_loc *locs,
                  size_t max);
/* Number of keys held. */
size_t index_count(const struct index *ix);
/* Heap bytes held by the index, arrays' spare capacity included. */
size_t index_mem_bytes(const struct index *ix);

#endif
