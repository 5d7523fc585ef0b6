/* The in-process LRU cache (see lru.h): chained hash tables with an LRU list per stripe. A key's
 * hash picks its stripe, and within it its bucket; get, put and del touch one stripe under its
 * lock and are O(1) (table growth is amortised). Expired values go lazily: when looked up, or
 * when they reach the old end of the list. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include "cache/lru.h"
#include "core/kho.h"

#define STRIPES_MAX 64
#define BUCKETS_MIN 16

struct entry {
    struct entry *chain;         /* next in the same bucket */
    struct entry *newer, *older; /* the stripe's LRU list */
    uint64_t hash;
    uint64_t expires_ns; /* mono_ns() from which the value is gone */
    uint32_t len;        /* value bytes, after the key's */
    uint8_t ns, klen;
    unsigned char data[]; /* klen key bytes, then len value bytes */
};

struct stripe {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    struct entry *newest, *oldest;
    uint64_t bytes, max_bytes;
    uint64_t dels; /* dels so far: a miss's lease, voided by the next del */
    char pad[64];  /* neighbouring stripes' locks stay off each other's cache line */
};

struct lru {
    struct cache base;
    size_t nstripes; /* a power of two */
    struct stripe stripes[];
};

size_t lru_entry_cost(size_t key_len, size_t value_len)
{
    /* 16: glibc's chunk header and rounding, roughly */
    return sizeof(struct entry) + sizeof(struct entry *) + 16 + key_len + value_len;
}

static uint64_t key_hash(const struct cache_key *k)
{
    return XXH3_64bits_withSeed(k->bytes, k->len, k->ns);
}

/* The stripe takes the high half of the hash and the bucket the low half, so the two choices
 * stay independent. */
static struct stripe *stripe_of(struct lru *l, uint64_t hash)
{
    return &l->stripes[(hash >> 32) & (l->nstripes - 1)];
}

/* The link that points at k's entry (or at NULL, the end of its chain when absent). */
static struct entry **find(struct stripe *s, const struct cache_key *k, uint64_t hash)
{
    struct entry **p = &s->buckets[hash & (s->nbuckets - 1)];
    for (; *p; p = &(*p)->chain) {
        const struct entry *e = *p;
        if (e->hash == hash && e->ns == k->ns && e->klen == k->len &&
            !memcmp(e->data, k->bytes, k->len))
            break;
    }
    return p;
}

static void list_unlink(struct stripe *s, struct entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
}

static void list_push(struct stripe *s, struct entry *e)
{
    e->newer = NULL;
    e->older = s->newest;
    if (s->newest)
        s->newest->newer = e;
    else
        s->oldest = e;
    s->newest = e;
}

/* Take the entry *link points at out of its chain and list, and free it. */
static void drop(struct stripe *s, struct entry **link)
{
    struct entry *e = *link;
    *link = e->chain;
    list_unlink(s, e);
    s->bytes -= lru_entry_cost(e->klen, e->len);
    s->count--;
    free(e);
}

static void drop_oldest(struct stripe *s)
{
    struct entry *e = s->oldest;
    struct entry **link = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*link != e)
        link = &(*link)->chain;
    drop(s, link);
}

/* Double the table once it holds more entries than buckets, so chains stay short. */
static void grow(struct stripe *s)
{
    size_t n = s->nbuckets * 2;
    struct entry **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct entry *e = s->buckets[i];
        while (e) {
            struct entry *next = e->chain;
            struct entry **slot = &b[e->hash & (n - 1)];
            e->chain = *slot;
            *slot = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

static enum kho_err lru_get(struct cache *c, const struct cache_key *k, void *buf, size_t cap,
                            size_t *len, uint64_t *lease)
{
    struct lru *l = (struct lru *)c;
    uint64_t hash = key_hash(k), now = mono_ns();
    struct stripe *s = stripe_of(l, hash);
    enum kho_err rc = KHO_E_NOTFOUND;
    pthread_mutex_lock(&s->lock);
    struct entry **link = find(s, k, hash);
    struct entry *e = *link;
    if (e && e->expires_ns <= now) {
        drop(s, link);
        e = NULL;
    }
    if (!e) {
        *lease = s->dels;
    } else if (e->len > cap) {
        rc = KHO_E_TOO_LARGE;
    } else {
        memcpy(buf, e->data + e->klen, e->len);
        *len = e->len;
        list_unlink(s, e);
        list_push(s, e);
        rc = KHO_OK;
    }
    pthread_mutex_unlock(&s->lock);
    metric_inc(rc == KHO_OK ? M_CACHE_HITS : M_CACHE_MISSES);
    return rc;
}

static enum kho_err lru_put(struct cache *c, const struct cache_key *k, const void *val, size_t len,
                            int64_t ttl_ms, uint64_t lease)
{
    struct lru *l = (struct lru *)c;
    if (ttl_ms < 1 || ttl_ms > CACHE_TTL_MAX_MS || k->len < 1 || k->len > CACHE_KEY_MAX)
        return KHO_E_INVALID;
    uint64_t hash = key_hash(k);
    struct stripe *s = stripe_of(l, hash);
    size_t cost = lru_entry_cost(k->len, len);
    if (len > UINT32_MAX || cost > s->max_bytes)
        return KHO_E_TOO_LARGE;
    /* built before taking the lock, which then guards only the table */
    struct entry *e = xmalloc(sizeof(*e) + k->len + len);
    e->hash = hash;
    e->len = (uint32_t)len;
    e->ns = k->ns;
    e->klen = k->len;
    memcpy(e->data, k->bytes, k->len);
    memcpy(e->data + k->len, val, len);
    uint64_t evicted = 0;
    pthread_mutex_lock(&s->lock);
    if (lease != s->dels) {
        pthread_mutex_unlock(&s->lock);
        free(e);
        return KHO_E_AGAIN;
    }
    e->expires_ns = mono_ns() + (uint64_t)ttl_ms * 1000000u;
    struct entry **link = find(s, k, hash);
    if (*link)
        drop(s, link);
    while (s->bytes + cost > s->max_bytes) {
        drop_oldest(s);
        evicted++;
    }
    link = &s->buckets[hash & (s->nbuckets - 1)];
    e->chain = *link;
    *link = e;
    list_push(s, e);
    s->bytes += cost;
    if (++s->count > s->nbuckets)
        grow(s);
    pthread_mutex_unlock(&s->lock);
    if (evicted)
        metric_add(M_CACHE_EVICTIONS, evicted);
    return KHO_OK;
}

static enum kho_err lru_del(struct cache *c, const struct cache_key *k)
{
    struct lru *l = (struct lru *)c;
    uint64_t hash = key_hash(k);
    struct stripe *s = stripe_of(l, hash);
    pthread_mutex_lock(&s->lock);
    /* voids every lease of this stripe, not only k's: a put it voids needlessly just costs a
     * later miss, while per-key leases would need state that outlives the key's entry */
    s->dels++;
    struct entry **link = find(s, k, hash);
    if (*link)
        drop(s, link);
    pthread_mutex_unlock(&s->lock);
    return KHO_OK;
}

static void lru_close(struct cache *c)
{
    struct lru *l = (struct lru *)c;
    for (size_t i = 0; i < l->nstripes; i++) {
        struct stripe *s = &l->stripes[i];
        while (s->oldest)
            drop_oldest(s);
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    free(l);
}

static const struct cache_ops lru_ops = {
    .name = "lru",
    .get = lru_get,
    .put = lru_put,
    .del = lru_del,
    .close = lru_close,
};

enum kho_err lru_open(int64_t max_bytes, struct cache **out)
{
    *out = NULL;
    if (max_bytes < 1)
        return KHO_E_INVALID;
    size_t n = 1;
    while (n < STRIPES_MAX && (uint64_t)max_bytes / (n * 2) >= LRU_STRIPE_MIN_BYTES)
        n *= 2;
    struct lru *l = xcalloc(1, sizeof(*l) + n * sizeof(l->stripes[0]));
    l->base.ops = &lru_ops;
    l->nstripes = n;
    for (size_t i = 0; i < n; i++) {
        struct stripe *s = &l->stripes[i];
        pthread_mutex_init(&s->lock, NULL);
        s->nbuckets = BUCKETS_MIN;
        s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
        s->max_bytes = (uint64_t)max_bytes / n;
    }
    *out = &l->base;
    return KHO_OK;
}
