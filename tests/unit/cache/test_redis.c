/* Unit tests for the Redis client's pure parts (key names, leases) and for how it behaves with
 * no Redis to talk to: every operation fails fast, and nothing is fatal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cache/cache.h"
#include "cache/redis.h"
#include "core/kho.h"
#include "t.h"

static void test_key_names(void)
{
    struct cache_key k;
    char out[REDIS_KEY_MAX];
    cache_key_id(&k, CACHE_NS_IMAGE, 765521401312848896ull);
    CHECK_EQ(redis_key_name(&k, false, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "kho:img:{765521401312848896}");
    CHECK_EQ(redis_key_name(&k, true, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "kho:img:{765521401312848896}:v");
    cache_key_id(&k, CACHE_NS_USER, 7);
    CHECK_EQ(redis_key_name(&k, false, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "kho:user:{7}");
    const char *hex = "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00fF";
    CHECK_EQ(cache_key_hash(&k, CACHE_NS_SESSION, hex), KHO_OK);
    CHECK_EQ(redis_key_name(&k, false, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "kho:sess:{00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff}");
    CHECK_EQ(cache_key_hash(&k, CACHE_NS_APIKEY, hex), KHO_OK);
    CHECK_EQ(redis_key_name(&k, true, out, sizeof(out)), KHO_OK);
    CHECK(strncmp(out, "kho:key:{00ff", 13) == 0);
    CHECK_EQ(redis_key_name(&k, false, out, 20), KHO_E_TOO_LARGE);
    k.ns = 99;
    CHECK_EQ(redis_key_name(&k, false, out, sizeof(out)), KHO_E_INVALID);
}

static void test_leases(void)
{
    uint64_t v = 0, t = 1000000;
    uint64_t lease = redis_lease_make(42, t);
    CHECK(redis_lease_check(lease, t, &v));
    CHECK_EQ(v, 42);
    CHECK(redis_lease_check(lease, t + 30000, &v));
    CHECK(!redis_lease_check(lease, t + 32000, &v));
    /* version 0 (no del yet) is a lease like any other */
    lease = redis_lease_make(0, t);
    CHECK(redis_lease_check(lease, t + 5, &v));
    CHECK_EQ(v, 0);
    /* the seconds wrap without making an old lease young */
    uint64_t wrap = ((uint64_t)1 << 24) * 1000;
    lease = redis_lease_make(3, wrap - 1000);
    CHECK(redis_lease_check(lease, wrap + 1000, &v));
    CHECK(!redis_lease_check(lease, wrap + 40000, &v));
}

static void test_urls(void)
{
    struct redis *r = NULL;
    CHECK_EQ(redis_open("http://127.0.0.1:6379", 1000, &r), KHO_E_INVALID);
    CHECK_EQ(redis_open("redis://", 1000, &r), KHO_E_INVALID);
    CHECK_EQ(redis_open("redis://h:0", 1000, &r), KHO_E_INVALID);
    CHECK_EQ(redis_open("redis://u:p@h:1", 1000, &r), KHO_E_INVALID);
    CHECK_EQ(redis_open("redis://h:1", 0, &r), KHO_E_INVALID);
    CHECK(r == NULL);
    CHECK_EQ(redis_open("redis://localhost", 1000, &r), KHO_OK);
    redis_close(r);
}

/* Port 1 on loopback refuses connections: Redis is down from the start. */
static void test_down_is_fast_and_not_fatal(void)
{
    struct redis *r;
    CHECK_EQ(redis_open("redis://127.0.0.1:1", 1000, &r), KHO_OK);
    struct cache *c = redis_cache(r);
    redis_close(r); /* the cache keeps it alive */
    struct cache_key k;
    cache_key_id(&k, CACHE_NS_IMAGE, 1);
    char buf[16];
    size_t n;
    uint64_t lease = 1, t0 = mono_ns();
    int64_t count, ttl;
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(cache_get(c, &k, buf, sizeof(buf), &n, &lease), KHO_E_BACKEND);
        CHECK(cache_put(c, &k, "x", 1, 1000, lease) != KHO_OK); /* no lease was handed out */
        CHECK_EQ(cache_put(c, &k, "x", 1, 1000, redis_lease_make(0, mono_ns() / 1000000)),
                 KHO_E_BACKEND);
        CHECK_EQ(cache_del(c, &k), KHO_E_BACKEND);
    }
    CHECK(!redis_up(r));
    CHECK_EQ(redis_count(r, "rl:test", 1000, &count), KHO_E_BACKEND);
    CHECK_EQ(redis_count_get(r, "rl:test", &count, &ttl), KHO_E_BACKEND);
    CHECK_EQ(redis_lock(r, "gen:1", 1000, 5), KHO_E_BACKEND);
    /* one refused dial, then nothing until the backoff ends */
    CHECK(mono_ns() - t0 < 500000000ull);
    CHECK(metric_get(M_REDIS_ERRORS) >= 1);
    cache_close(c);
}

T_MAIN("redis", T(test_key_names), T(test_leases), T(test_urls), T(test_down_is_fast_and_not_fatal))
