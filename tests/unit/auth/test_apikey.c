/* Unit tests for src/auth/apikey.c: the key format, its storage hash, and the last-use
 * throttle. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth/apikey.h"
#include "auth/hash.h"
#include "auth/token.h"
#include "core/kho.h"
#include "t.h"

#define HOUR APIKEY_TOUCH_EVERY_MS

static void test_apikey_format(void)
{
    char a[APIKEY_LEN + 1], b[APIKEY_LEN + 1];
    apikey_new(a);
    apikey_new(b);
    CHECK_EQ(strlen(a), 68);
    CHECK(strncmp(a, "kho_", 4) == 0);
    CHECK_EQ(strspn(a + 4, "0123456789abcdef"), 64);
    CHECK(strcmp(a, b) != 0);
    CHECK(apikey_well_formed(a, strlen(a)));

    char shown[APIKEY_SHOWN_LEN + 1];
    apikey_shown(a, shown);
    CHECK_EQ(strlen(shown), 12);
    CHECK(strncmp(shown, a, 12) == 0);

    char hex[65], want[65];
    apikey_hash(a, hex);
    sha256_hex(a, strlen(a), want);
    CHECK_STR(hex, want);
    CHECK(strstr(hex, a + 4) == NULL);
}

static void test_apikey_well_formed(void)
{
    char k[APIKEY_LEN + 2];
    memcpy(k, "kho_", 4);
    memset(k + 4, 'a', 64);
    k[APIKEY_LEN] = '\0';
    CHECK(apikey_well_formed(k, APIKEY_LEN));
    CHECK(!apikey_well_formed(k, APIKEY_LEN - 1));
    k[APIKEY_LEN] = 'a';
    CHECK(!apikey_well_formed(k, APIKEY_LEN + 1));
    k[10] = 'A'; /* upper case: a second spelling */
    CHECK(!apikey_well_formed(k, APIKEY_LEN));
    k[10] = 'g';
    CHECK(!apikey_well_formed(k, APIKEY_LEN));
    k[10] = '\0';
    CHECK(!apikey_well_formed(k, APIKEY_LEN));
    k[10] = '0';
    k[0] = 'K';
    CHECK(!apikey_well_formed(k, APIKEY_LEN));
    k[0] = 'k';
    CHECK(apikey_well_formed(k, APIKEY_LEN));

    /* a session token never passes, even one that happens to begin "kho_" */
    char t[TOKEN_LEN + 1];
    token_new(t);
    memcpy(t, "kho_", 4);
    CHECK(token_well_formed(t, TOKEN_LEN));
    CHECK(!apikey_well_formed(t, TOKEN_LEN));
}

static void test_apikey_touch_throttle(void)
{
    struct apikey_touches *t = apikey_touches_new();
    int64_t now = 1800000000000;
    /* never used, or used over an hour ago by the store's record: due once */
    CHECK(apikey_touch_due(t, 1001, 0, now));
    CHECK(!apikey_touch_due(t, 1001, 0, now + 5));        /* the write has not landed yet */
    CHECK(!apikey_touch_due(t, 1001, now, now + 10));     /* it has */
    CHECK(!apikey_touch_due(t, 1001, 0, now + HOUR - 1)); /* still within the hour */
    CHECK(apikey_touch_due(t, 1001, now, now + HOUR));    /* an hour on */
    CHECK(!apikey_touch_due(t, 1001, now, now + HOUR + 1));
    /* a fresh record in the store is enough on its own (another process wrote it) */
    CHECK(!apikey_touch_due(t, 2002, now - 5, now));
    CHECK(apikey_touch_due(t, 2002, now - HOUR, now));
    /* keys are independent */
    CHECK(apikey_touch_due(t, 3003, 0, now));
    CHECK(apikey_touch_due(t, 3004, 0, now));
    CHECK(!apikey_touch_due(t, 3003, 0, now));
    apikey_touches_free(t);
    apikey_touches_free(NULL);
}

/* Many keys at once: each is due exactly once however often it is seen, except when two share
 * a slot, which may only add writes, never lose one for good: an hour later all are due. */
static void test_apikey_touch_many(void)
{
    struct apikey_touches *t = apikey_touches_new();
    int64_t now = 1800000000000;
    int due = 0;
    for (uint64_t id = 1; id <= 100; id++)
        due += apikey_touch_due(t, ids_make(now, (uint32_t)id, 0), 0, now);
    CHECK(due == 100);
    due = 0;
    for (uint64_t id = 1; id <= 100; id++)
        due += apikey_touch_due(t, ids_make(now, (uint32_t)id, 0), 0, now + 1);
    CHECK(due <= 2); /* at most a collision or two among 100 keys in 4096 slots */
    for (uint64_t id = 1; id <= 100; id++)
        CHECK(apikey_touch_due(t, ids_make(now, (uint32_t)id, 0), now, now + HOUR));
    apikey_touches_free(t);
}

struct burst {
    struct apikey_touches *t;
    int64_t now;
    atomic_int due;
};

static void *burst_main(void *p)
{
    struct burst *b = p;
    for (int i = 0; i < 10000; i++)
        if (apikey_touch_due(b->t, 77, 0, b->now + i / 1000))
            atomic_fetch_add(&b->due, 1);
    return NULL;
}

/* A burst of requests with one key from several threads yields one write. */
static void test_apikey_touch_threads(void)
{
    struct burst b = {apikey_touches_new(), 1800000000000, 0};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, burst_main, &b), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&b.due), 1);
    apikey_touches_free(b.t);
}

T_MAIN("apikey", T(test_apikey_format), T(test_apikey_well_formed), T(test_apikey_touch_throttle),
       T(test_apikey_touch_many), T(test_apikey_touch_threads))
