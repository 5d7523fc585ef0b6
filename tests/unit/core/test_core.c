/* Unit tests for src/core: ids, arena, bounded buffers, config parsing, metrics. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include "t.h"
#include "core/flight.h"
#include "core/kho.h"

static void test_ids_layout(void)
{
    int64_t ms = 1767225600123LL; /* 2026-01-01T00:00:00.123Z */
    uint64_t id = ids_make(ms, 4097, 513);
    CHECK_EQ(ids_unix_ms(id), ms);
    CHECK_EQ(ids_shard(id), 4097);
    CHECK_EQ(id & 1023, 513);
    CHECK(ids_make(ms + 1, 0, 0) > ids_make(ms, IDS_SHARDS - 1, 1023));
}

static void test_ids_monotonic(void)
{
    uint64_t prev = 0;
    for (int i = 0; i < 5000; i++) { /* > 1024 per ms forces the sequence roll-over path */
        uint64_t id = ids_next(7);
        CHECK(id > prev);
        CHECK_EQ(ids_shard(id), 7);
        prev = id;
    }
    CHECK(llabs((long long)(ids_unix_ms(prev) - now_ms())) < 5000);
}

#define NTHREADS 4
#define PER_THREAD 3000
static uint64_t seen[NTHREADS * PER_THREAD];

static void *take_ids(void *arg)
{
    uint64_t *out = arg;
    for (int i = 0; i < PER_THREAD; i++)
        out[i] = ids_next(1);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_ids_unique_across_threads(void)
{
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, take_ids, seen + i * PER_THREAD);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    qsort(seen, ARRAY_LEN(seen), sizeof(seen[0]), cmp_u64);
    for (size_t i = 1; i < ARRAY_LEN(seen); i++)
        CHECK(seen[i] != seen[i - 1]);
}

static void test_ids_parse(void)
{
    uint64_t v;
    char text[21];
    ids_format(123456789012345678ULL, text);
    CHECK_STR(text, "123456789012345678");
    CHECK(ids_parse(text, &v));
    CHECK_EQ(v, 123456789012345678ULL);
    CHECK(!ids_parse("", &v));
    CHECK(!ids_parse("0", &v));
    CHECK(!ids_parse("012", &v));
    CHECK(!ids_parse("-5", &v));
    CHECK(!ids_parse("12a", &v));
    CHECK(!ids_parse("9223372036854775808", &v)); /* 2^63 */
    CHECK(!ids_parse("99999999999999999999", &v));
    CHECK(ids_parse("9223372036854775807", &v));
}

static int cleaned;
static void note_cleanup(void *p)
{
    cleaned += *(int *)p;
}

static void test_arena(void)
{
    struct arena a;
    arena_init(&a, 64 * 1024);
    char *s = arena_strdup(&a, "hello");
    CHECK_STR(s, "hello");
    CHECK(((uintptr_t)arena_alloc(&a, 3) & 15) == 0);
    char *big = arena_alloc(&a, 20000); /* bigger than a chunk */
    CHECK(big != NULL);
    CHECK(arena_alloc(&a, 60 * 1024) == NULL); /* past the ceiling */
    CHECK_STR(arena_printf(&a, "%d-%s", 42, "x"), "42-x");
    static int one = 1, ten = 10;
    CHECK_EQ(arena_defer(&a, note_cleanup, &one), KHO_OK);
    CHECK_EQ(arena_defer(&a, note_cleanup, &ten), KHO_OK);
    cleaned = 0;
    arena_release(&a);
    CHECK_EQ(cleaned, 11);
    CHECK(arena_alloc(&a, 16) != NULL); /* reusable after release */
    arena_release(&a);
}

static void test_buf_ceiling(void)
{
    struct buf b;
    buf_init(&b, 10);
    CHECK_EQ(buf_puts(&b, "12345"), KHO_OK);
    CHECK_EQ(buf_printf(&b, "%d", 678), KHO_OK);
    CHECK_STR(b.p, "12345678");
    CHECK_EQ(buf_puts(&b, "abc"), KHO_E_TOO_LARGE);
    CHECK_STR(b.p, "12345678"); /* unchanged on failure */
    CHECK_EQ(buf_puts(&b, "ab"), KHO_OK);
    CHECK_EQ(b.len, 10);
    buf_free(&b);
}

static void test_config(void)
{
    struct kho_config c;
    bool help;
    FILE *err = fopen("/dev/null", "w");
    setenv("KHO_WORKERS", "5", 1);
    char *argv[] = {"server", "--listen", "0.0.0.0:9000", "--max-upload-bytes=2M",
                    "--cookie-secure", "--data", "/tmp/x"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(argv), argv, &help, err), KHO_OK);
    CHECK(!help);
    CHECK_STR(c.listen, "0.0.0.0:9000");
    CHECK_EQ(c.max_upload_bytes, 2 << 20);
    CHECK_EQ(c.workers, 5);
    CHECK(c.cookie_secure);
    CHECK_STR(c.db, "sqlite:/tmp/x/kho.db");
    CHECK_STR(c.blob, "volume:/tmp/x/volumes");
    char *bad[] = {"server", "--no-such-flag", "1"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(bad), bad, &help, err), KHO_E_INVALID);
    char *badval[] = {"server", "--workers", "many"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(badval), badval, &help, err), KHO_E_INVALID);
    char *h[] = {"server", "--help"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(h), h, &help, err), KHO_OK);
    CHECK(help);
    unsetenv("KHO_WORKERS");
    fclose(err);
}

/* Sizes as --max-upload-bytes and --quota-bytes take them, and as messages show them. */
static void test_config_sizes(void)
{
    int64_t v = -1;
    CHECK_EQ(config_parse_size("0", &v), KHO_OK);
    CHECK_EQ(v, 0);
    CHECK_EQ(config_parse_size("1234", &v), KHO_OK);
    CHECK_EQ(v, 1234);
    CHECK_EQ(config_parse_size("500M", &v), KHO_OK);
    CHECK_EQ(v, 500LL << 20);
    CHECK_EQ(config_parse_size("10G", &v), KHO_OK);
    CHECK_EQ(v, 10LL << 30);
    CHECK_EQ(config_parse_size("2t", &v), KHO_OK);
    CHECK_EQ(v, 2LL << 40);
    CHECK_EQ(config_parse_size("16k", &v), KHO_OK);
    CHECK_EQ(v, 16 << 10);
    v = 7;
    const char *bad[] = {"", "M", "-1", "1.5G", "10GB", "10 G", "1P", "9000000T", "x"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_EQ(config_parse_size(bad[i], &v), KHO_E_INVALID);
    CHECK_EQ(v, 7);

    static const struct {
        int64_t bytes;
        const char *text;
    } shown[] = {
        {0, "0 bytes"},
        {1, "1 byte"},
        {1023, "1023 bytes"},
        {1024, "1 KiB"},
        {1536, "1.5 KiB"},
        {(21LL << 20) / 10, "2 MiB"}, /* 2.09 truncates */
        {(22LL << 20) / 10, "2.1 MiB"},
        {(10LL << 30) - 1, "9.9 GiB"}, /* never rounds up to the limit */
        {10LL << 30, "10 GiB"},
        {1LL << 40, "1 TiB"},
        {INT64_MAX, "7.9 EiB"},
    };
    char out[24];
    for (size_t i = 0; i < ARRAY_LEN(shown); i++) {
        config_format_size(shown[i].bytes, out, sizeof(out));
        CHECK_STR(out, shown[i].text);
    }
}

static void test_config_quotas(void)
{
    struct kho_config c;
    bool help;
    FILE *err = fopen("/dev/null", "w");
    char *none[] = {"server"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(none), none, &help, err), KHO_OK);
    CHECK_EQ(c.quota_bytes, 10LL << 30);
    CHECK_EQ(c.quota_images, 100000);
    setenv("KHO_QUOTA_IMAGES", "7", 1);
    char *set[] = {"server", "--quota-bytes", "500M"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(set), set, &help, err), KHO_OK);
    CHECK_EQ(c.quota_bytes, 500LL << 20);
    CHECK_EQ(c.quota_images, 7);
    unsetenv("KHO_QUOTA_IMAGES");
    char *off[] = {"server", "--quota-bytes=0", "--quota-images=0"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(off), off, &help, err), KHO_OK);
    CHECK_EQ(c.quota_bytes, 0);
    CHECK_EQ(c.quota_images, 0);
    char *neg[] = {"server", "--quota-images", "-1"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(neg), neg, &help, err), KHO_E_INVALID);
    char *negb[] = {"server", "--quota-bytes", "-1"};
    CHECK_EQ(config_load(&c, ARRAY_LEN(negb), negb, &help, err), KHO_E_INVALID);
    fclose(err);
}

static void test_metrics_render(void)
{
    static const char route[] = "/api/v1/test";
    metric_inc(M_UPLOADS);
    metrics_request(route, 201, 300000); /* 0.3 ms */
    struct buf b;
    buf_init(&b, 1 << 20);
    CHECK_EQ(metrics_render(&b), KHO_OK);
    CHECK(strstr(b.p, "kho_uploads_total 1\n") != NULL);
    CHECK(strstr(b.p, "kho_http_requests_total{route=\"/api/v1/test\",status=\"201\"} 1") != NULL);
    CHECK(strstr(b.p, "{route=\"/api/v1/test\",le=\"0.00025\"} 0") != NULL);
    CHECK(strstr(b.p, "{route=\"/api/v1/test\",le=\"0.0005\"} 1") != NULL);
    CHECK(strstr(b.p, "kho_upload_stage_seconds_total{stage=\"probe\"}") != NULL);
    buf_free(&b);
}

static void test_flight(void)
{
    struct flights *f = flights_new();
    struct flight_waiter a = {.arg = "a"}, b = {.arg = "b"}, c = {.arg = "c"}, d = {.arg = "d"};
    CHECK(flight_join(f, 42, &a));  /* leads */
    CHECK(!flight_join(f, 42, &b)); /* joins */
    CHECK(flight_join(f, 42 + 256, &c)); /* another key, same bucket: its own flight */
    struct flight_waiter *w = flight_land(f, 42);
    int n = 0;
    bool saw_a = false, saw_b = false;
    for (; w; w = w->next, n++) {
        saw_a |= w == &a;
        saw_b |= w == &b;
    }
    CHECK(n == 2 && saw_a && saw_b);
    CHECK(flight_land(f, 42) == NULL);  /* landed once */
    CHECK(flight_join(f, 42, &d));      /* a new flight after landing */
    CHECK(flight_land(f, 42 + 256) == &c);
    flights_free(f); /* frees the flight of d still open */
}

T_MAIN("core", T(test_ids_layout), T(test_ids_monotonic), T(test_ids_unique_across_threads),
       T(test_ids_parse), T(test_arena), T(test_buf_ceiling), T(test_config),
       T(test_metrics_render), T(test_flight), T(test_config_sizes), T(test_config_quotas))
