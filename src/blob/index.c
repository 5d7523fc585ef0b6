/* The blob index (index.h): a big sorted array of packed 20-byte entries plus a small sorted
 * delta array. Keys are time-ordered ids, so inserts land at the end and a merge is an append. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "blob/index.h"
#include "core/kho.h"

/* Small enough that an insert's memmove stays cheap, big enough that merges are rare. */
#define DELTA_CAP 4096
#define MAIN_MIN_CAP 1024
/* Deleting from the big array only marks the entry; the marks are squeezed out in one pass
 * once they reach a quarter of it, so a delete costs O(1) amortised instead of a memmove. */
#define DEAD 0x8000u

struct entry {
    uint64_t key;
    uint32_t off8; /* record offset / 8 */
    uint32_t size;
    uint16_t vol;
    uint16_t flags;
} __attribute__((packed, aligned(4)));

_Static_assert(sizeof(struct entry) == 20, "index entries must stay 20 bytes");

struct index {
    pthread_rwlock_t lock;
    struct entry *main;
    size_t main_len, main_cap, main_dead;
    struct entry *delta; /* DELTA_CAP entries once the first key arrives */
    size_t delta_len;
};

struct index *index_new(void)
{
    struct index *ix = xcalloc(1, sizeof(*ix));
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return ix;
}

void index_free(struct index *ix)
{
    if (!ix)
        return;
    pthread_rwlock_destroy(&ix->lock);
    free(ix->main);
    free(ix->delta);
    free(ix);
}

void index_rdlock(struct index *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
}

void index_wrlock(struct index *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
}

void index_unlock(struct index *ix)
{
    pthread_rwlock_unlock(&ix->lock);
}

/* First position whose key is >= key. */
static size_t lower_bound(const struct entry *a, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Position of key in the big array (dead or alive), or SIZE_MAX. */
static size_t main_find(const struct index *ix, uint64_t key)
{
    if (ix->main_len == 0 || key > ix->main[ix->main_len - 1].key)
        return SIZE_MAX;
    size_t i = lower_bound(ix->main, ix->main_len, key);
    return i < ix->main_len && ix->main[i].key == key ? i : SIZE_MAX;
}

static void unpack(const struct entry *e, struct index_loc *out)
{
    out->off = (uint64_t)e->off8 * 8;
    out->vol = e->vol;
    out->size = e->size;
    out->flags = e->flags & INDEX_FLAGS_MASK;
}

size_t index_count(const struct index *ix)
{
    return ix->main_len - ix->main_dead + ix->delta_len;
}

size_t index_mem_bytes(const struct index *ix)
{
    return sizeof(*ix) + ix->main_cap * sizeof(struct entry) +
           (ix->delta ? DELTA_CAP * sizeof(struct entry) : 0);
}

static void main_resize(struct index *ix, size_t cap)
{
    ix->main = xrealloc(ix->main, cap * sizeof(struct entry));
    ix->main_cap = cap;
}

enum kho_err index_reserve(struct index *ix, size_t n)
{
    if (n > INDEX_MAX_ENTRIES)
        return KHO_E_TOO_LARGE;
    if (n > ix->main_cap)
        main_resize(ix, n);
    return KHO_OK;
}

/* Fold the delta into the big array from the back: only the big array's entries above the
 * delta's smallest key move, which for time-ordered keys is none of them. */
static void merge_delta(struct index *ix)
{
    size_t need = ix->main_len + ix->delta_len;
    if (need > ix->main_cap) {
        size_t cap = ix->main_cap + ix->main_cap / 2;
        if (cap < need)
            cap = need;
        if (cap < MAIN_MIN_CAP)
            cap = MAIN_MIN_CAP;
        main_resize(ix, cap);
    }
    size_t i = ix->main_len, j = ix->delta_len, k = need;
    while (j > 0) {
        if (i > 0 && ix->main[i - 1].key > ix->delta[j - 1].key)
            ix->main[--k] = ix->main[--i];
        else
            ix->main[--k] = ix->delta[--j];
    }
    ix->main_len = need;
    ix->delta_len = 0;
}

static void squeeze_dead(struct index *ix)
{
    size_t w = 0;
    for (size_t r = 0; r < ix->main_len; r++) {
        if (!(ix->main[r].flags & DEAD))
            ix->main[w++] = ix->main[r];
    }
    ix->main_len = w;
    ix->main_dead = 0;
    /* Give memory back after mass deletes, keeping the usual growth headroom. */
    if (ix->main_cap > MAIN_MIN_CAP && w < ix->main_cap / 2) {
        size_t cap = w + w / 2;
        main_resize(ix, cap < MAIN_MIN_CAP ? MAIN_MIN_CAP : cap);
    }
}

enum kho_err index_put(struct index *ix, uint64_t key, const struct index_loc *loc)
{
    if (loc->off % 8 || loc->off > INDEX_MAX_OFF || loc->vol > INDEX_MAX_VOL ||
        (loc->flags & ~INDEX_FLAGS_MASK))
        return KHO_E_INVALID;
    struct entry e = {.key = key,
                      .off8 = (uint32_t)(loc->off / 8),
                      .size = loc->size,
                      .vol = (uint16_t)loc->vol,
                      .flags = loc->flags};
    size_t i = main_find(ix, key);
    if (i != SIZE_MAX) {
        if (ix->main[i].flags & DEAD)
            ix->main_dead--;
        ix->main[i] = e;
        return KHO_OK;
    }
    size_t j = lower_bound(ix->delta, ix->delta_len, key);
    if (j < ix->delta_len && ix->delta[j].key == key) {
        ix->delta[j] = e;
        return KHO_OK;
    }
    if (index_count(ix) >= INDEX_MAX_ENTRIES)
        return KHO_E_TOO_LARGE;
    if (!ix->delta)
        ix->delta = xmalloc(DELTA_CAP * sizeof(struct entry));
    memmove(&ix->delta[j + 1], &ix->delta[j], (ix->delta_len - j) * sizeof(struct entry));
    ix->delta[j] = e;
    if (++ix->delta_len == DELTA_CAP)
        merge_delta(ix);
    return KHO_OK;
}

bool index_get(const struct index *ix, uint64_t key, struct index_loc *out)
{
    size_t i = main_find(ix, key);
    if (i != SIZE_MAX) {
        if (ix->main[i].flags & DEAD)
            return false;
        unpack(&ix->main[i], out);
        return true;
    }
    size_t j = lower_bound(ix->delta, ix->delta_len, key);
    if (j < ix->delta_len && ix->delta[j].key == key) {
        unpack(&ix->delta[j], out);
        return true;
    }
    return false;
}

bool index_del(struct index *ix, uint64_t key)
{
    size_t j = lower_bound(ix->delta, ix->delta_len, key);
    if (j < ix->delta_len && ix->delta[j].key == key) {
        ix->delta_len--;
        memmove(&ix->delta[j], &ix->delta[j + 1], (ix->delta_len - j) * sizeof(struct entry));
        return true;
    }
    size_t i = main_find(ix, key);
    if (i == SIZE_MAX || (ix->main[i].flags & DEAD))
        return false;
    ix->main[i].flags |= DEAD;
    if (++ix->main_dead * 4 > ix->main_len)
        squeeze_dead(ix);
    return true;
}

size_t index_scan(const struct index *ix, uint64_t from, uint64_t *keys, struct index_loc *locs,
                  size_t max)
{
    size_t i = lower_bound(ix->main, ix->main_len, from);
    size_t j = lower_bound(ix->delta, ix->delta_len, from);
    size_t n = 0;
    while (n < max && (i < ix->main_len || j < ix->delta_len)) {
        const struct entry *e;
        if (j >= ix->delta_len || (i < ix->main_len && ix->main[i].key < ix->delta[j].key))
            e = &ix->main[i++];
        else
            e = &ix->delta[j++];
        if (e->flags & DEAD)
            continue;
        keys[n] = e->key;
        unpack(e, &locs[n]);
        n++;
    }
    return n;
}
