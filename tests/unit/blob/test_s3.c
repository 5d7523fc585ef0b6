/* Unit tests of the S3 backend's pure parts: store URLs, object names, SigV4 canonical queries,
 * XML answers, retry policy. With KHO_TEST_S3_URL (and the AWS_* keys) set, as
 * tests/e2e/test_s3.py does against a real RGW, the ops table is driven directly too. */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "blob/s3.h"
#include "core/kho.h"
#include "t.h"

static void test_parse_location(void)
{
    struct s3_location l;
    const char *why = NULL;
    CHECK_EQ(s3_parse_location("//kho?endpoint=http://127.0.0.1:7480&region=eu-west-2", &l, &why),
             KHO_OK);
    CHECK_STR(l.bucket, "kho");
    CHECK_STR(l.endpoint, "http://127.0.0.1:7480");
    CHECK_STR(l.region, "eu-west-2");
    /* parameters in any order, percent-encoded values, a trailing slash, the default region */
    CHECK_EQ(s3_parse_location("//my-bucket.x/?region=r1&endpoint=https%3A%2F%2Fs3.example:443/",
                               &l, &why),
             KHO_OK);
    CHECK_STR(l.bucket, "my-bucket.x");
    CHECK_STR(l.endpoint, "https://s3.example:443");
    CHECK_STR(l.region, "r1");
    CHECK_EQ(s3_parse_location("//kho?endpoint=http://h", &l, &why), KHO_OK);
    CHECK_STR(l.region, "us-east-1");
}

static void test_parse_location_rejects(void)
{
    struct s3_location l;
    const char *why = NULL;
    static const char *bad[] = {
        "kho?endpoint=http://h",               /* no // */
        "//?endpoint=http://h",                /* no bucket */
        "//Kho?endpoint=http://h",             /* upper case */
        "//ab?endpoint=http://h",              /* too short */
        "//-kho?endpoint=http://h",            /* starts with a dash */
        "//kho",                               /* no endpoint */
        "//kho?endpoint=ftp://h",              /* not http */
        "//kho?endpoint=http://h/path",        /* a path */
        "//kho?endpoint=http://h&secret=x",    /* unknown parameter */
        "//kho?endpoint=http://h&region=US_1", /* bad region */
        "//kho?endpoint=http%3",               /* bad escape */
        "//kho?endpoint=http://h%00x",         /* NUL */
        "//kho/key?endpoint=http://h",         /* a key, not a bucket */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        why = NULL;
        if (s3_parse_location(bad[i], &l, &why) != KHO_E_INVALID) {
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
            CHECK(0);
        }
        CHECK(why != NULL);
    }
}

static void test_object_names(void)
{
    char name[17];
    s3_object_name(0x0a9fa7dcfa51f400ULL, name);
    CHECK_STR(name, "0a9fa7dcfa51f400");
    s3_object_name(1, name);
    CHECK_STR(name, "0000000000000001");
    s3_object_name(UINT64_MAX, name);
    CHECK_STR(name, "ffffffffffffffff");
    uint64_t k = 0;
    CHECK(s3_object_key("ffffffffffffffff", 16, &k));
    CHECK(k == UINT64_MAX);
    CHECK(s3_object_key("0a9fa7dcfa51f400", 16, &k));
    CHECK(k == 0x0a9fa7dcfa51f400ULL);
    CHECK(!s3_object_key("0A9FA7DCFA51F400", 16, &k)); /* never written by kho */
    CHECK(!s3_object_key("0a9fa7dcfa51f40", 15, &k));
    CHECK(!s3_object_key("0a9fa7dcfa51f400x", 17, &k));
    CHECK(!s3_object_key("0a9fa7dcfa51f40g", 16, &k));
}

static void test_uri_encode(void)
{
    char out[64];
    CHECK(s3_uri_encode("AZaz09-_.~", 10, out, sizeof(out)));
    CHECK_STR(out, "AZaz09-_.~");
    CHECK(s3_uri_encode("a b/c+d=e&f%", 12, out, sizeof(out)));
    CHECK_STR(out, "a%20b%2Fc%2Bd%3De%26f%25");
    CHECK(s3_uri_encode("\xc3\xa9", 2, out, sizeof(out)));
    CHECK_STR(out, "%C3%A9");
    CHECK(!s3_uri_encode("abc", 3, out, 3)); /* no room for the NUL */
    CHECK(s3_uri_encode("abc", 3, out, 4));
    CHECK(!s3_uri_encode(" ", 1, out, 3));
}

static void test_canonical_query(void)
{
    char out[256];
    struct s3_param bare[] = {{"uploads", NULL}};
    CHECK_EQ(s3_canonical_query(bare, 1, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "uploads=");
    struct s3_param part[] = {{"uploadId", "2~abc/+="}, {"partNumber", "10"}};
    CHECK_EQ(s3_canonical_query(part, 2, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "partNumber=10&uploadId=2~abc%2F%2B%3D");
    struct s3_param list[] = {
        {"max-keys", "1000"}, {"list-type", "2"}, {"continuation-token", "1/a b"}};
    CHECK_EQ(s3_canonical_query(list, 3, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "continuation-token=1%2Fa%20b&list-type=2&max-keys=1000");
    /* byte order: upper case sorts before lower case */
    struct s3_param order[] = {{"b", "1"}, {"a", "2"}, {"B", "3"}, {"a", "1"}};
    CHECK_EQ(s3_canonical_query(order, 4, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "B=3&a=1&a=2&b=1");
    CHECK_EQ(s3_canonical_query(NULL, 0, out, sizeof(out)), KHO_OK);
    CHECK_STR(out, "");
    CHECK_EQ(s3_canonical_query(list, 3, out, 20), KHO_E_TOO_LARGE);
}

static void test_xml_text(void)
{
    static const char xml[] =
        "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
        "<Contents><Key>0000000000000001</Key><Size>12</Size></Contents>"
        "<Contents><Key>a&amp;b&lt;c&gt;&quot;&apos;</Key><Size>7</Size></Contents>"
        "<NextContinuationToken>t/1</NextContinuationToken><Bad>&nbsp;</Bad></ListBucketResult>";
    size_t n = strlen(xml);
    char out[64];
    size_t at = s3_xml_text(xml, n, 0, "Key", out, sizeof(out));
    CHECK(at > 0);
    CHECK_STR(out, "0000000000000001");
    at = s3_xml_text(xml, n, at, "Key", out, sizeof(out));
    CHECK(at > 0);
    CHECK_STR(out, "a&b<c>\"'");
    CHECK_EQ(s3_xml_text(xml, n, at, "Key", out, sizeof(out)), 0);
    CHECK(s3_xml_text(xml, n, 0, "NextContinuationToken", out, sizeof(out)));
    CHECK_STR(out, "t/1");
    CHECK_EQ(s3_xml_text(xml, n, 0, "Bad", out, sizeof(out)), 0); /* unknown entity */
    CHECK_EQ(s3_xml_text(xml, n, 0, "Missing", out, sizeof(out)), 0);
    CHECK_EQ(s3_xml_text(xml, n, 0, "NextContinuationToken", out, 3), 0); /* no room */
    CHECK_EQ(s3_xml_text("<a>open", 7, 0, "a", out, sizeof(out)), 0);
}

static void test_retryable(void)
{
    CHECK(s3_retryable(CURLE_OK, 500));
    CHECK(s3_retryable(CURLE_OK, 503));
    CHECK(s3_retryable(CURLE_OK, 429));
    CHECK(!s3_retryable(CURLE_OK, 200));
    CHECK(!s3_retryable(CURLE_OK, 400));
    CHECK(!s3_retryable(CURLE_OK, 403));
    CHECK(!s3_retryable(CURLE_OK, 404));
    CHECK(!s3_retryable(CURLE_OK, 416));
    CHECK(s3_retryable(CURLE_COULDNT_CONNECT, 0));
    CHECK(s3_retryable(CURLE_OPERATION_TIMEDOUT, 0));
    CHECK(s3_retryable(CURLE_RECV_ERROR, 0));
    CHECK(s3_retryable(CURLE_PARTIAL_FILE, 200));
    CHECK(!s3_retryable(CURLE_WRITE_ERROR, 200)); /* our sink said stop */
    CHECK(!s3_retryable(CURLE_URL_MALFORMAT, 0));
}

static void test_backoff(void)
{
    const struct s3_retry *p = &s3_retry_read;
    /* equal jitter: the k-th wait lies in [step/2, step], step = base * 2^(k-1) capped */
    for (int k = 1; k <= 10; k++) {
        int step = p->base_ms << (k - 1);
        if (step > p->cap_ms)
            step = p->cap_ms;
        CHECK_EQ(s3_backoff_ms(p, k, 0), step / 2);
        CHECK_EQ(s3_backoff_ms(p, k, (uint32_t)(step - step / 2)), step);
        for (uint32_t r = 0; r < 1000; r += 37) {
            int w = s3_backoff_ms(p, k, r * 2654435761u);
            CHECK(w >= step / 2 && w <= step);
        }
    }
    CHECK(s3_backoff_ms(p, 1000, 12345) <= p->cap_ms);
    /* the read policy gives up within its budget, even with every wait at its longest */
    int total = 0;
    for (int k = 1; k < p->tries; k++)
        total += s3_backoff_ms(p, k, UINT32_MAX);
    CHECK(total < p->budget_ms);
    CHECK(s3_retry_write.tries > s3_retry_read.tries);
}

static int count_keys(uint64_t key, uint64_t len, void *arg)
{
    uint64_t *seen = arg;
    if (key >= 0x7e57000000000000ULL && key < 0x7e57000000000000ULL + 2000 && len == 8)
        seen[0]++;
    return 0;
}

static int stop_at_first(uint64_t key, uint64_t len, void *arg)
{
    (void)key;
    (void)len;
    (void)arg;
    return 7;
}

/* The ops against a real endpoint, when the e2e suite hands one over. */
static void test_live_ops(void)
{
    const char *url = getenv("KHO_TEST_S3_URL");
    if (!url || !*url)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct blob_store *s;
    CHECK_EQ(blob_open(url, 0, &s), KHO_OK);
    CHECK_EQ(s->ops->ping(s), KHO_OK);
    CHECK(s->ops->remote);
    /* past one ListObjectsV2 page, so iterate follows a continuation token */
    const int n = 1005;
    const uint64_t base = 0x7e57000000000000ULL;
    for (int i = 0; i < n; i++) {
        uint64_t v = base + (uint64_t)i;
        CHECK_EQ(blob_put(s, v, &v, sizeof(v)), KHO_OK);
    }
    uint64_t seen[1] = {0};
    CHECK_EQ(s->ops->iterate(s, count_keys, seen), KHO_OK);
    CHECK_EQ(seen[0], n);
    CHECK_EQ(s->ops->iterate(s, stop_at_first, NULL), 7);
    uint64_t len = 0;
    CHECK_EQ(blob_stat(s, base + 3, &len), KHO_OK);
    CHECK_EQ(len, 8);
    void *data = NULL;
    size_t got = 0;
    CHECK_EQ(blob_read(s, base + 3, 64, &data, &got), KHO_OK);
    CHECK_EQ(got, 8);
    uint64_t v;
    memcpy(&v, data, 8);
    free(data);
    CHECK(v == base + 3);
    CHECK_EQ(blob_read(s, base + 3, 4, &data, &got), KHO_E_TOO_LARGE);
    CHECK_EQ(blob_stat(s, base + n, &len), KHO_E_NOTFOUND);
    for (int i = 0; i < n; i++)
        CHECK_EQ(blob_del(s, base + (uint64_t)i), KHO_OK);
    CHECK_EQ(blob_stat(s, base, &len), KHO_E_NOTFOUND);
    uint64_t reclaimed = 1;
    CHECK_EQ(blob_compact(s, 0, &reclaimed), KHO_OK); /* nothing to do for S3 */
    CHECK_EQ(reclaimed, 0);
    blob_close(s);
    printf("  live s3 ops checked against %.40s...\n", url);
}

T_MAIN("s3", T(test_parse_location), T(test_parse_location_rejects), T(test_object_names),
       T(test_uri_encode), T(test_canonical_query), T(test_xml_text), T(test_retryable),
       T(test_backoff), T(test_live_ops))
