/* Unit tests for the blob index (src/blob/index.c): insert orders, lookups, replacement, deletes,
 * scans, limits, memory per key and concurrent readers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include "t.h"
#include "blob/index.h"
#include "core/kho.h"

/* The location every test stores for key (version v), so lookups can be checked. */
static struct index_loc loc_for(uint64_t key, uint32_t v)
{
    return (struct index_loc){.off = (key % 100000 + v) * 8,
                              .vol = (uint32_t)(key % 65535) + 1,
                              .size = (uint32_t)(key * 7 + v),
                              .flags = (uint16_t)((key + v) % 2)};
}

static bool has(const struct index *ix, uint64_t key, uint32_t v)
{
    struct index_loc got, want = loc_for(key, v);
    return index_get(ix, key, &got) && got.off == want.off && got.vol == want.vol &&
           got.size == want.size && got.flags == want.flags;
}

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_in_order(void)
{
    struct index *ix = index_new();
    for (uint64_t k = 1; k <= 100000; k++) {
        struct index_loc l = loc_for(k * 3, 0);
        CHECK_EQ(index_put(ix, k * 3, &l), KHO_OK);
    }
    CHECK_EQ(index_count(ix), 100000);
    for (uint64_t k = 1; k <= 100000; k++) {
        CHECK(has(ix, k * 3, 0));
        struct index_loc l;
        CHECK(!index_get(ix, k * 3 + 1, &l));
    }
    struct index_loc l;
    CHECK(!index_get(ix, 0, &l));
    CHECK(!index_get(ix, UINT64_MAX, &l));
    index_free(ix);
}

static void test_reverse_order(void)
{
    struct index *ix = index_new();
    for (uint64_t k = 30000; k > 0; k--) {
        struct index_loc l = loc_for(k, 0);
        CHECK_EQ(index_put(ix, k, &l), KHO_OK);
    }
    CHECK_EQ(index_count(ix), 30000);
    for (uint64_t k = 1; k <= 30000; k++)
        CHECK(has(ix, k, 0));
    index_free(ix);
}

static void test_random_against_sorted(void)
{
    enum { N = 60000 };
    struct index *ix = index_new();
    uint64_t *ref = malloc(N * sizeof(*ref));
    for (size_t i = 0; i < N; i++) {
        ref[i] = rng() % 200000; /* small range: plenty of repeated keys */
        struct index_loc l = loc_for(ref[i], 0);
        CHECK_EQ(index_put(ix, ref[i], &l), KHO_OK);
    }
    qsort(ref, N, sizeof(*ref), cmp_u64);
    size_t uniq = 0;
    for (size_t i = 0; i < N; i++) {
        if (i == 0 || ref[i] != ref[i - 1])
            ref[uniq++] = ref[i];
    }
    CHECK_EQ(index_count(ix), uniq);
    /* A paged scan gives exactly the distinct keys, ascending. */
    uint64_t keys[777], from = 0;
    struct index_loc locs[777];
    size_t seen = 0, n;
    while ((n = index_scan(ix, from, keys, locs, 777)) > 0) {
        for (size_t i = 0; i < n; i++) {
            CHECK(seen < uniq);
            CHECK_EQ(keys[i], ref[seen]);
            CHECK_EQ(locs[i].size, loc_for(keys[i], 0).size);
            seen++;
        }
        from = keys[n - 1] + 1;
    }
    CHECK_EQ(seen, uniq);
    for (size_t i = 0; i < uniq; i++)
        CHECK(has(ix, ref[i], 0));
    free(ref);
    index_free(ix);
}

static void test_replace(void)
{
    struct index *ix = index_new();
    for (uint64_t k = 1; k <= 10000; k++) { /* the first keys end up merged in the big array */
        struct index_loc l = loc_for(k, 0);
        CHECK_EQ(index_put(ix, k, &l), KHO_OK);
    }
    for (uint64_t k = 1; k <= 10000; k += 1000) { /* in the big array and in the delta */
        struct index_loc l = loc_for(k, 5);
        CHECK_EQ(index_put(ix, k, &l), KHO_OK);
    }
    CHECK_EQ(index_count(ix), 10000);
    for (uint64_t k = 1; k <= 10000; k++)
        CHECK(has(ix, k, (k - 1) % 1000 == 0 ? 5 : 0));
    index_free(ix);
}

static void test_delete(void)
{
    struct index *ix = index_new();
    for (uint64_t k = 1; k <= 20000; k++) {
        struct index_loc l = loc_for(k, 0);
        CHECK_EQ(index_put(ix, k, &l), KHO_OK);
    }
    size_t full = index_mem_bytes(ix);
    for (uint64_t k = 2; k <= 20000; k += 2)
        CHECK(index_del(ix, k));
    CHECK(!index_del(ix, 2));
    CHECK(!index_del(ix, 99999));
    CHECK_EQ(index_count(ix), 10000);
    for (uint64_t k = 1; k <= 20000; k++) {
        struct index_loc l;
        CHECK_EQ(index_get(ix, k, &l), k % 2 == 1);
    }
    /* A deleted key comes back with its new location. */
    struct index_loc l = loc_for(4, 9);
    CHECK_EQ(index_put(ix, 4, &l), KHO_OK);
    CHECK(has(ix, 4, 9));
    CHECK_EQ(index_count(ix), 10001);
    for (uint64_t k = 1; k <= 20000; k++)
        index_del(ix, k);
    CHECK_EQ(index_count(ix), 0);
    uint64_t key;
    CHECK_EQ(index_scan(ix, 0, &key, &l, 1), 0);
    CHECK(index_mem_bytes(ix) < full); /* mass deletes give memory back */
    index_free(ix);
}

static void test_limits(void)
{
    struct index *ix = index_new();
    struct index_loc l = {.off = 12, .vol = 1, .size = 1};
    CHECK_EQ(index_put(ix, 1, &l), KHO_E_INVALID); /* not a multiple of 8 */
    l = (struct index_loc){.off = INDEX_MAX_OFF + 8, .vol = 1};
    CHECK_EQ(index_put(ix, 1, &l), KHO_E_INVALID);
    l = (struct index_loc){.off = 8, .vol = INDEX_MAX_VOL + 1};
    CHECK_EQ(index_put(ix, 1, &l), KHO_E_INVALID);
    l = (struct index_loc){.off = 8, .vol = 1, .flags = 0x8000};
    CHECK_EQ(index_put(ix, 1, &l), KHO_E_INVALID);
    CHECK_EQ(index_count(ix), 0);
    l = (struct index_loc){
        .off = INDEX_MAX_OFF, .vol = INDEX_MAX_VOL, .size = UINT32_MAX, .flags = INDEX_FLAGS_MASK};
    CHECK_EQ(index_put(ix, UINT64_MAX, &l), KHO_OK);
    struct index_loc got;
    CHECK(index_get(ix, UINT64_MAX, &got));
    CHECK_EQ(got.off, INDEX_MAX_OFF);
    CHECK_EQ(got.vol, INDEX_MAX_VOL);
    CHECK_EQ(got.size, UINT32_MAX);
    CHECK_EQ(got.flags, INDEX_FLAGS_MASK);
    CHECK_EQ(index_reserve(ix, INDEX_MAX_ENTRIES + 1), KHO_E_TOO_LARGE);
    index_free(ix);
}

/* The brief's budget: at most 32 bytes of RAM per blob at a million blobs. */
static void test_memory_per_key(void)
{
    enum { N = 1000000 };
    struct index *ix = index_new();
    for (uint64_t k = 0; k < N; k++) {
        struct index_loc l = {.off = k * 8, .vol = 1, .size = 100};
        CHECK_EQ(index_put(ix, (k << 20) | (rng() & 0xff), &l), KHO_OK);
    }
    double grown = (double)index_mem_bytes(ix) / N;
    index_free(ix);
    ix = index_new();
    CHECK_EQ(index_reserve(ix, N), KHO_OK);
    for (uint64_t k = 0; k < N; k++) {
        struct index_loc l = {.off = k * 8, .vol = 1, .size = 100};
        CHECK_EQ(index_put(ix, k, &l), KHO_OK);
    }
    double reserved = (double)index_mem_bytes(ix) / N;
    printf("  index bytes per key at 1M keys: %.2f grown, %.2f reserved\n", grown, reserved);
    CHECK(grown <= 32.0);
    CHECK(reserved <= 21.0);
    index_free(ix);
}

struct race {
    struct index *ix;
    atomic_bool stop;
    atomic_int misses;
};

static void *reader(void *arg)
{
    struct race *r = arg;
    uint64_t k = 1;
    while (!atomic_load(&r->stop)) {
        struct index_loc l;
        index_rdlock(r->ix);
        bool ok = index_get(r->ix, k, &l) && l.size == loc_for(k, 0).size;
        index_unlock(r->ix);
        if (!ok)
            atomic_fetch_add(&r->misses, 1);
        k = k % 5000 + 1;
    }
    return NULL;
}

/* Readers under the read lock always find keys that were there before, while a writer inserts
 * and deletes around them (and merges move entries). */
static void test_concurrent_readers(void)
{
    struct race r = {.ix = index_new()};
    for (uint64_t k = 1; k <= 5000; k++) {
        struct index_loc l = loc_for(k, 0);
        CHECK_EQ(index_put(r.ix, k, &l), KHO_OK);
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, reader, &r);
    for (uint64_t k = 5001; k <= 60000; k++) {
        struct index_loc l = loc_for(k, 0);
        index_wrlock(r.ix);
        index_put(r.ix, k, &l);
        if (k % 3 == 0 && k > 5001) /* only keys the readers do not look at */
            index_del(r.ix, k - 1);
        index_unlock(r.ix);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&r.misses), 0);
    CHECK_EQ(index_count(r.ix), 5000 + 55000 - 18333);
    index_free(r.ix);
}

T_MAIN("index", T(test_in_order), T(test_reverse_order), T(test_random_against_sorted),
       T(test_replace), T(test_delete), T(test_limits), T(test_memory_per_key),
       T(test_concurrent_readers))
