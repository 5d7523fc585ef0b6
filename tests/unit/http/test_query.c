/* Unit tests for src/http/query.c: form-urlencoded lookup, path decoding and cookies. */
#include <stdbool.h>
#include <string.h>
#include "t.h"
#include "http/query.h"
#include "core/kho.h"

static bool get(const char *q, const char *name, char *out, size_t cap, size_t *n)
{
    return query_get(q, strlen(q), name, out, cap, n);
}

static void test_query_get(void)
{
    char out[32];
    size_t n;
    CHECK(get("a=1&size=thumb&b=2", "size", out, sizeof(out), &n));
    CHECK_STR(out, "thumb");
    CHECK_EQ(n, 5);
    CHECK(get("q=hello+big%20world%21", "q", out, sizeof(out), &n));
    CHECK_STR(out, "hello big world!");
    CHECK(get("t=%e2%82%AC", "t", out, sizeof(out), NULL));
    CHECK_STR(out, "\xe2\x82\xac");
    CHECK(get("a=1&a=2", "a", out, sizeof(out), &n));
    CHECK_STR(out, "1");
    CHECK(get("na%6De=x", "name", out, sizeof(out), &n));
    CHECK_STR(out, "x");
    CHECK(get("a+b=1", "a b", out, sizeof(out), &n));
    CHECK_STR(out, "1");
    CHECK(get("x=a=b", "x", out, sizeof(out), &n));
    CHECK_STR(out, "a=b");
    CHECK(get("a=&b", "a", out, sizeof(out), &n));
    CHECK_STR(out, "");
    CHECK(get("a=&b", "b", out, sizeof(out), &n));
    CHECK_STR(out, "");
    CHECK_EQ(n, 0);
    CHECK(get("&&=z&k=v&", "k", out, sizeof(out), &n));
    CHECK_STR(out, "v");
    /* A bad escape in another pair's name does not hide a later match. */
    CHECK(get("%zz=1&k=2", "k", out, sizeof(out), &n));
    CHECK_STR(out, "2");
}

static void test_query_get_failures(void)
{
    char out[8];
    size_t n;
    CHECK(!get("ab=1", "a", out, sizeof(out), &n));
    CHECK(!get("a=1", "ab", out, sizeof(out), &n));
    CHECK(!get("", "a", out, sizeof(out), &n));
    CHECK(!get("=1", "", out, sizeof(out), &n));
    CHECK(!get("a=%zz", "a", out, sizeof(out), &n));
    CHECK(!get("a=%2", "a", out, sizeof(out), &n));
    CHECK(!get("a=%", "a", out, sizeof(out), &n));
    CHECK(!get("a=x%00y", "a", out, sizeof(out), &n));
    /* The first match decides: a bad first value is not skipped for a later good one. */
    CHECK(!get("a=%zz&a=1", "a", out, sizeof(out), &n));
    /* Exactly cap - 1 bytes fit; one more does not. */
    CHECK(get("a=1234567", "a", out, sizeof(out), &n));
    CHECK_STR(out, "1234567");
    CHECK(!get("a=12345678", "a", out, sizeof(out), &n));
    CHECK(!get("a=%41%41%41%41%41%41%41%41", "a", out, sizeof(out), &n));
    CHECK(!get("a=", "a", out, 0, &n));
    CHECK(!query_get(NULL, 0, "a", out, sizeof(out), &n));
}

static void test_query_has(void)
{
    CHECK(query_has("debug&x=1", 9, "debug"));
    CHECK(query_has("x=1&debug=", 10, "debug"));
    CHECK(query_has("x=1&de%62ug=0", 13, "debug"));
    CHECK(!query_has("x=1&debugger=1", 14, "debug"));
    CHECK(!query_has("", 0, "debug"));
}

static enum kho_err path(const char *in, char *out, size_t cap, size_t *n)
{
    return http_path_decode(in, strlen(in), out, cap, n);
}

static void test_path_decode(void)
{
    char out[32];
    size_t n;
    CHECK_EQ(path("/api/v1/images/abc", out, sizeof(out), &n), KHO_OK);
    CHECK_STR(out, "/api/v1/images/abc");
    CHECK_EQ(n, 18);
    CHECK_EQ(path("/a%20b+c/%C3%A9", out, sizeof(out), &n), KHO_OK);
    CHECK_STR(out, "/a b+c/\xc3\xa9");
    CHECK_EQ(path("/%2e%2E/x", out, sizeof(out), &n), KHO_OK);
    CHECK_STR(out, "/../x");
    CHECK_EQ(path("", out, sizeof(out), &n), KHO_OK);
    CHECK_EQ(n, 0);

    static const char *const bad[] = {"/a%2Fb", "/a%2fb", "/a%00", "/a%0a", "/a%1F",
                                      "/a%7f",  "/a\x01", "/a%zz", "/a%",   "/a%4"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        enum kho_err rc = path(bad[i], out, sizeof(out), &n);
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ(rc, KHO_E_INVALID);
    }
    CHECK_EQ(path("/abcd", out, 6, &n), KHO_OK);
    CHECK_EQ(path("/abcde", out, 6, &n), KHO_E_TOO_LARGE);
    CHECK_EQ(path("", out, 0, &n), KHO_E_TOO_LARGE);
}

static bool cookie(const char *h, const char *name, char *out, size_t cap)
{
    return cookie_get(h, strlen(h), name, out, cap);
}

static void test_cookies(void)
{
    char out[16];
    const char *h = "theme=dark; kho_session=abc.def; lang=\"en\";last=1";
    CHECK(cookie(h, "kho_session", out, sizeof(out)));
    CHECK_STR(out, "abc.def");
    CHECK(cookie(h, "theme", out, sizeof(out)));
    CHECK_STR(out, "dark");
    CHECK(cookie(h, "lang", out, sizeof(out)));
    CHECK_STR(out, "en");
    CHECK(cookie(h, "last", out, sizeof(out)));
    CHECK_STR(out, "1");
    CHECK(!cookie(h, "session", out, sizeof(out)));
    CHECK(!cookie(h, "Theme", out, sizeof(out)));
    CHECK(!cookie(h, "", out, sizeof(out)));
    CHECK(cookie("a=1; a=2", "a", out, sizeof(out)));
    CHECK_STR(out, "1");
    CHECK(cookie("flag; ;a= x ", "a", out, sizeof(out)));
    CHECK_STR(out, "x");
    CHECK(cookie("a=", "a", out, sizeof(out)));
    CHECK_STR(out, "");
    CHECK(cookie("a=%41", "a", out, sizeof(out)));
    CHECK_STR(out, "%41");
    CHECK(cookie("a=123", "a", out, 4));
    CHECK(!cookie("a=1234", "a", out, 4));
    CHECK(!cookie("", "a", out, sizeof(out)));
}

T_MAIN("http_query", T(test_query_get), T(test_query_get_failures), T(test_query_has),
       T(test_path_decode), T(test_cookies))
