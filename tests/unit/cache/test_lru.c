/* Unit tests for the cache interface and its in-process LRU backend: keys, hits and misses,
 * eviction order, the byte ceiling, expiry, leases against stale fills, and many threads reading
 * and writing at once. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cache/cache.h"
#include "cache/lru.h"
#include "core/kho.h"
#include "t.h"

#define TTL 60000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Store val under image id, the way callers do: a get that misses hands out the lease. */
static enum kho_err fill(struct cache *c, uint64_t id, const void *val, size_t len, int64_t ttl)
{
    struct cache_key k;
    char buf[8];
    size_t n;
    uint64_t lease;
    cache_key_id(&k, CACHE_NS_IMAGE, id);
    enum kho_err rc = cache_get(c, &k, buf, 0, &n, &lease);
    if (rc != KHO_E_NOTFOUND)
        return rc == KHO_OK ? KHO_E_EXISTS : rc;
    return cache_put(c, &k, val, len, ttl, lease);
}

/* Whether image id is cached; its value goes to buf (cap bytes). */
static int has(struct cache *c, uint64_t id, char *buf, size_t cap, size_t *len)
{
    struct cache_key k;
    uint64_t lease;
    cache_key_id(&k, CACHE_NS_IMAGE, id);
    return cache_get(c, &k, buf, cap, len, &lease) == KHO_OK;
}

static void test_get_put_del(void)
{
    struct cache *c;
    struct cache_key k;
    char buf[64];
    size_t n = 0;
    uint64_t lease;
    CHECK_EQ(lru_open(1 << 20, &c), KHO_OK);
    uint64_t hits = metric_get(M_CACHE_HITS), misses = metric_get(M_CACHE_MISSES);
    cache_key_id(&k, CACHE_NS_IMAGE, 42);
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_E_NOTFOUND);
    CHECK_EQ(cache_put(c, &k, "hello", 5, TTL, lease), KHO_OK);
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_OK);
    CHECK_EQ(n, 5);
    CHECK(!memcmp(buf, "hello", 5));
    /* a value longer than the buffer is not copied */
    CHECK_EQ(cache_get(c, &k, buf, 4, &n, &lease), KHO_E_TOO_LARGE);
    /* the same id in another namespace is another key */
    struct cache_key u;
    cache_key_id(&u, CACHE_NS_USER, 42);
    CHECK_EQ(cache_get(c, &u, buf, sizeof(buf), &n, &lease), KHO_E_NOTFOUND);
    CHECK_EQ(cache_del(c, &k), KHO_OK);
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_E_NOTFOUND);
    CHECK_EQ(cache_del(c, &k), KHO_OK); /* deleting what is absent is fine */
    CHECK_EQ(metric_get(M_CACHE_HITS) - hits, 1);
    CHECK_EQ(metric_get(M_CACHE_MISSES) - misses, 4);
    cache_close(c);
}

static void test_replace_keeps_one_copy(void)
{
    struct cache *c;
    char buf[64];
    size_t n;
    /* room for exactly two entries of 10-byte values */
    CHECK_EQ(lru_open((int64_t)lru_entry_cost(8, 10) * 2, &c), KHO_OK);
    CHECK_EQ(fill(c, 1, "aaaaaaaaaa", 10, TTL), KHO_OK);
    CHECK_EQ(fill(c, 2, "bbbbbbbbbb", 10, TTL), KHO_OK);
    struct cache_key k;
    uint64_t lease;
    cache_key_id(&k, CACHE_NS_IMAGE, 3);
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_E_NOTFOUND);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(cache_put(c, &k, "cccccccccc", 10, TTL, lease), KHO_OK);
    /* five puts of one key cost one entry: only the oldest (1) made room */
    CHECK(!has(c, 1, buf, sizeof(buf), &n));
    CHECK(has(c, 2, buf, sizeof(buf), &n));
    CHECK(has(c, 3, buf, sizeof(buf), &n));
    CHECK(!memcmp(buf, "cccccccccc", 10));
    cache_close(c);
}

static void test_eviction_order(void)
{
    struct cache *c;
    char buf[64];
    size_t n;
    CHECK_EQ(lru_open((int64_t)lru_entry_cost(8, 16) * 3, &c), KHO_OK);
    uint64_t evictions = metric_get(M_CACHE_EVICTIONS);
    CHECK_EQ(fill(c, 1, "1111111111111111", 16, TTL), KHO_OK);
    CHECK_EQ(fill(c, 2, "2222222222222222", 16, TTL), KHO_OK);
    CHECK_EQ(fill(c, 3, "3333333333333333", 16, TTL), KHO_OK);
    CHECK(has(c, 1, buf, sizeof(buf), &n)); /* 1 is now the most recently used */
    CHECK_EQ(fill(c, 4, "4444444444444444", 16, TTL), KHO_OK);
    CHECK(!has(c, 2, buf, sizeof(buf), &n)); /* the least recently used went */
    CHECK(has(c, 3, buf, sizeof(buf), &n));
    CHECK(has(c, 1, buf, sizeof(buf), &n));
    CHECK(has(c, 4, buf, sizeof(buf), &n));
    /* order of use now 3, 1, 4: the next put evicts 3 */
    CHECK_EQ(fill(c, 5, "5555555555555555", 16, TTL), KHO_OK);
    CHECK(!has(c, 3, buf, sizeof(buf), &n));
    CHECK(has(c, 1, buf, sizeof(buf), &n) && has(c, 4, buf, sizeof(buf), &n));
    CHECK(has(c, 5, buf, sizeof(buf), &n));
    CHECK_EQ(metric_get(M_CACHE_EVICTIONS) - evictions, 2);
    cache_close(c);
}

static void test_byte_ceiling(void)
{
    struct cache *c;
    char val[300], buf[300];
    size_t n;
    int64_t max = 20000;
    CHECK_EQ(lru_open(max, &c), KHO_OK);
    /* values of varying size: whatever stays must fit, and be the newest ones */
    int64_t cost[1000];
    for (int i = 0; i < 1000; i++) {
        size_t len = 20 + (size_t)(i * 37 % 250);
        memset(val, 'a' + i % 26, len);
        cost[i] = (int64_t)lru_entry_cost(8, len);
        CHECK_EQ(fill(c, (uint64_t)i + 1, val, len, TTL), KHO_OK);
    }
    int64_t kept = 0;
    int oldest_kept = 1000;
    for (int i = 999; i >= 0; i--) {
        if (!has(c, (uint64_t)i + 1, buf, sizeof(buf), &n))
            continue;
        CHECK_EQ(n, 20 + (size_t)(i * 37 % 250));
        CHECK_EQ(buf[0], 'a' + i % 26);
        kept += cost[i];
        oldest_kept = i;
    }
    CHECK(kept <= max);
    /* eviction stops as soon as the new entry fits: one more old entry would not have */
    CHECK(oldest_kept > 0 && kept + cost[oldest_kept - 1] > max);
    for (int i = oldest_kept; i < 1000; i++)
        CHECK(has(c, (uint64_t)i + 1, buf, sizeof(buf), &n));
    /* a value that could never fit is refused, and evicts nothing */
    char big[30000];
    memset(big, 'x', sizeof(big));
    CHECK_EQ(fill(c, 5000, big, sizeof(big), TTL), KHO_E_TOO_LARGE);
    CHECK(has(c, 1000, buf, sizeof(buf), &n));
    cache_close(c);
}

static void test_expiry(void)
{
    struct cache *c;
    char buf[16];
    size_t n;
    CHECK_EQ(lru_open(1 << 20, &c), KHO_OK);
    CHECK_EQ(fill(c, 1, "short", 5, 40), KHO_OK);
    CHECK_EQ(fill(c, 2, "long", 4, TTL), KHO_OK);
    CHECK(has(c, 1, buf, sizeof(buf), &n));
    sleep_ms(80);
    CHECK(!has(c, 1, buf, sizeof(buf), &n));
    CHECK(has(c, 2, buf, sizeof(buf), &n));
    CHECK_EQ(fill(c, 3, "x", 1, 0), KHO_E_INVALID);
    CHECK_EQ(fill(c, 3, "x", 1, CACHE_TTL_MAX_MS + 1), KHO_E_INVALID);
    cache_close(c);
}

static void test_lease_blocks_stale_fill(void)
{
    struct cache *c;
    struct cache_key k;
    char buf[16];
    size_t n;
    uint64_t lease, lease2;
    CHECK_EQ(lru_open(1 << 20, &c), KHO_OK);
    cache_key_id(&k, CACHE_NS_IMAGE, 7);
    /* a reader misses and goes to the database; a writer changes the record and deletes */
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_E_NOTFOUND);
    CHECK_EQ(cache_del(c, &k), KHO_OK);
    /* the reader's copy predates the write: it must not be stored */
    CHECK_EQ(cache_put(c, &k, "old", 3, TTL, lease), KHO_E_AGAIN);
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease2), KHO_E_NOTFOUND);
    CHECK_EQ(cache_put(c, &k, "new", 3, TTL, lease2), KHO_OK);
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_OK);
    CHECK(n == 3 && !memcmp(buf, "new", 3));
    cache_close(c);
}

static void test_keys(void)
{
    struct cache_key a, b, s;
    const char *hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    CHECK_EQ(cache_key_hash(&a, CACHE_NS_SESSION, hex), KHO_OK);
    CHECK_EQ(a.len, 32);
    CHECK_EQ(a.bytes[0], 0x00);
    CHECK_EQ(a.bytes[5], 0x55);
    CHECK_EQ(a.bytes[31], 0xff);
    CHECK_EQ(cache_key_hash(&b, CACHE_NS_SESSION,
                            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
             KHO_OK);
    CHECK(!memcmp(a.bytes, b.bytes, 32)); /* either case names the same hash */
    CHECK_EQ(cache_key_hash(&s, CACHE_NS_SESSION, "0011"), KHO_E_INVALID);
    CHECK_EQ(cache_key_hash(&s, CACHE_NS_SESSION,
                            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg"),
             KHO_E_INVALID);
    CHECK_EQ(cache_key_hash(&s, CACHE_NS_SESSION,
                            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0"),
             KHO_E_INVALID);
    cache_key_id(&s, CACHE_NS_USER, 0x0102030405060708u);
    CHECK_EQ(s.len, 8);
    CHECK_EQ(s.bytes[0], 0x08);
    CHECK_EQ(s.bytes[7], 0x01);
}

static void test_open(void)
{
    struct cache *c = (struct cache *)1;
    struct cache_key k;
    char buf[8];
    size_t n;
    uint64_t lease;
    /* 0 bytes: disabled, and a NULL cache always misses */
    CHECK_EQ(cache_open("", 0, &c), KHO_OK);
    CHECK(c == NULL);
    cache_key_id(&k, CACHE_NS_IMAGE, 1);
    CHECK_EQ(cache_put(c, &k, "v", 1, TTL, 0), KHO_OK);
    CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_E_NOTFOUND);
    CHECK_EQ(cache_del(c, &k), KHO_OK);
    cache_close(c);
    CHECK_EQ(cache_open("memcached://10.0.0.1:11211", 1 << 20, &c), KHO_E_UNSUPPORTED);
    CHECK_EQ(cache_open("lru", -1, &c), KHO_E_INVALID);
    CHECK_EQ(cache_open("lru", 1 << 20, &c), KHO_OK);
    CHECK(c != NULL);
    CHECK_STR(c->ops->name, "lru");
    CHECK_EQ(fill(c, 1, "v", 1, TTL), KHO_OK);
    CHECK(has(c, 1, buf, sizeof(buf), &n));
    cache_close(c);
}

static void test_many_stripes(void)
{
    struct cache *c;
    char buf[32];
    size_t n;
    /* 64 MiB: many stripes, each growing its table well past its first size */
    CHECK_EQ(lru_open(64 << 20, &c), KHO_OK);
    for (uint64_t i = 1; i <= 50000; i++)
        CHECK_EQ(fill(c, i, &i, sizeof(i), TTL), KHO_OK);
    for (uint64_t i = 1; i <= 50000; i++) {
        uint64_t v;
        CHECK(has(c, i, buf, sizeof(buf), &n));
        CHECK_EQ(n, sizeof(v));
        memcpy(&v, buf, sizeof(v));
        CHECK_EQ(v, i);
    }
    cache_close(c);
}

/* Threads read, write and delete a shared key space. Every value names its key and carries a
 * check word, so a torn or misplaced copy shows. */
#define KEYS 3000
#define OPS 40000
#define THREADS 4

struct worker {
    struct cache *c;
    unsigned seed;
    uint64_t hits, bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    uint64_t val[32], buf[32];
    for (int i = 0; i < OPS; i++) {
        uint64_t id = (uint64_t)(rand_r(&w->seed) % KEYS) + 1;
        struct cache_key k;
        size_t n;
        uint64_t lease;
        cache_key_id(&k, CACHE_NS_IMAGE, id);
        int op = rand_r(&w->seed) % 10;
        if (op == 0) {
            cache_del(w->c, &k);
            continue;
        }
        enum kho_err rc = cache_get(w->c, &k, buf, sizeof(buf), &n, &lease);
        if (rc == KHO_OK) {
            w->hits++;
            size_t words = n / sizeof(uint64_t);
            if (n % sizeof(uint64_t) || words < 2 || buf[0] != id ||
                buf[words - 1] != (id ^ 0x5bd1e995u ^ words))
                w->bad++;
        } else if (rc == KHO_E_NOTFOUND) {
            size_t words = 2 + (size_t)(rand_r(&w->seed) % 30);
            val[0] = id;
            for (size_t j = 1; j + 1 < words; j++)
                val[j] = (uint64_t)rand_r(&w->seed);
            val[words - 1] = id ^ 0x5bd1e995u ^ words;
            rc = cache_put(w->c, &k, val, words * sizeof(uint64_t), TTL, lease);
            if (rc && rc != KHO_E_AGAIN)
                w->bad++;
        } else {
            w->bad++;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct cache *c;
    pthread_t th[THREADS];
    struct worker w[THREADS];
    /* small enough that eviction runs all the time, large enough for four stripes */
    CHECK_EQ(lru_open(4 * LRU_STRIPE_MIN_BYTES, &c), KHO_OK);
    uint64_t evictions = metric_get(M_CACHE_EVICTIONS);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.c = c, .seed = (unsigned)i * 7919u + 1};
        CHECK_EQ(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    uint64_t hits = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(w[i].bad, 0);
        hits += w[i].hits;
    }
    CHECK(hits > 0);
    CHECK(metric_get(M_CACHE_EVICTIONS) > evictions);
    cache_close(c);
}

T_MAIN("cache", T(test_get_put_del), T(test_replace_keeps_one_copy), T(test_eviction_order),
       T(test_byte_ceiling), T(test_expiry), T(test_lease_blocks_stale_fill), T(test_keys),
       T(test_open), T(test_many_stripes), T(test_threads))
