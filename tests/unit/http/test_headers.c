/* Unit tests for src/http/headers.c: tokens, lists, parameters, media types, multipart
 * boundaries, Range and If-None-Match. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "t.h"
#include "http/headers.h"
#include "core/kho.h"

static void test_tokens_and_lists(void)
{
    CHECK(http_tchar('a') && http_tchar('Z') && http_tchar('7') && http_tchar('~'));
    CHECK(http_tchar('!') && http_tchar('|') && http_tchar('`'));
    CHECK(!http_tchar(' ') && !http_tchar('(') && !http_tchar(':') && !http_tchar('"'));
    CHECK(!http_tchar('\0') && !http_tchar(0x7f) && !http_tchar(0xc3));
    CHECK(http_token_eq("Keep-Alive", 10, "keep-alive"));
    CHECK(!http_token_eq("Keep-Alive", 9, "keep-alive"));
    CHECK(!http_token_eq("keep-alivex", 11, "keep-alive"));
    const char *l = " Upgrade ,, \tclose\t,x";
    CHECK(http_list_has(l, strlen(l), "CLOSE"));
    CHECK(http_list_has(l, strlen(l), "upgrade"));
    CHECK(http_list_has(l, strlen(l), "x"));
    CHECK(!http_list_has(l, strlen(l), "clos"));
    CHECK(!http_list_has("", 0, "close"));
}

static void test_param_next(void)
{
    const char *v = "form-data ; name=\"a\\\"b\";;  filename=x.jpg ;";
    size_t pos = 9;
    struct http_param p;
    CHECK_EQ(http_param_next(v, strlen(v), &pos, &p), KHO_OK);
    CHECK_EQ(p.name_len, 4);
    CHECK(memcmp(p.name, "name", 4) == 0);
    CHECK(p.quoted);
    CHECK_EQ(p.value_len, 4);
    CHECK(memcmp(p.value, "a\\\"b", 4) == 0);
    CHECK_EQ(http_param_next(v, strlen(v), &pos, &p), KHO_OK);
    CHECK(!p.quoted);
    CHECK_EQ(p.value_len, 5);
    CHECK(memcmp(p.value, "x.jpg", 5) == 0);
    CHECK_EQ(http_param_next(v, strlen(v), &pos, &p), KHO_E_NOTFOUND);
    CHECK_EQ(pos, strlen(v));

    static const char *const bad[] = {
        "; a",       "; a=",   "; =b",    "; a =b",       "; a= b",     "; a=\"b",
        "; a=\"b\\", "x; a=b", "; a=b c", "; a=\"\x01\"", "; a=b\"c\"",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        size_t at = 0;
        enum kho_err rc = KHO_OK;
        for (int k = 0; k < 4 && rc == KHO_OK; k++)
            rc = http_param_next(bad[i], strlen(bad[i]), &at, &p);
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ(rc, KHO_E_INVALID);
    }
}

static void test_media_type(void)
{
    char t[32];
    CHECK_EQ(http_media_type("image/png", 9, t, sizeof(t)), KHO_OK);
    CHECK_STR(t, "image/png");
    const char *v = " Multipart/Form-Data ; boundary=\"a b\"; charset=UTF-8;";
    CHECK_EQ(http_media_type(v, strlen(v), t, sizeof(t)), KHO_OK);
    CHECK_STR(t, "multipart/form-data");
    CHECK_EQ(http_media_type("image/png", 9, t, 10), KHO_OK);
    CHECK_EQ(http_media_type("image/png", 9, t, 9), KHO_E_TOO_LARGE);

    static const char *const bad[] = {
        "",
        "image",
        "image/",
        "/png",
        "image /png",
        "image/ png",
        "image/png charset=x",
        "image/png; charset",
        "image/png; charset=\"x",
        "im@ge/png",
        "image/png/x",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        enum kho_err rc = http_media_type(bad[i], strlen(bad[i]), t, sizeof(t));
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ(rc, KHO_E_INVALID);
    }
}

static void test_media_param(void)
{
    char out[16];
    const char *v = "text/plain; Format=flowed; CHARSET=\"utf-8\"; q=\"a\\\"b\\\\c\"";
    CHECK(http_media_param(v, strlen(v), "charset", out, sizeof(out)));
    CHECK_STR(out, "utf-8");
    CHECK(http_media_param(v, strlen(v), "format", out, sizeof(out)));
    CHECK_STR(out, "flowed");
    CHECK(http_media_param(v, strlen(v), "q", out, sizeof(out)));
    CHECK_STR(out, "a\"b\\c");
    CHECK(http_media_param(v, strlen(v), "charset", out, 6));
    CHECK(!http_media_param(v, strlen(v), "charset", out, 5));
    CHECK(!http_media_param(v, strlen(v), "boundary", out, sizeof(out)));
    CHECK(!http_media_param("text/plain; a=\"b", 16, "a", out, sizeof(out)));
    CHECK(!http_media_param("text; a=b", 9, "a", out, sizeof(out)));
    /* The first occurrence wins. */
    CHECK(http_media_param("a/b; x=1; x=2", 13, "x", out, sizeof(out)));
    CHECK_STR(out, "1");
}

static void test_media_boundary(void)
{
    char b[HTTP_BOUNDARY_MAX + 1];
    size_t n;
    const char *v = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
    CHECK_EQ(http_media_boundary(v, strlen(v), b, sizeof(b), &n), KHO_OK);
    CHECK_STR(b, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    CHECK_EQ(n, strlen(b));
    v = "multipart/form-data; boundary=\"simple boundary:(x)?=,/\"";
    CHECK_EQ(http_media_boundary(v, strlen(v), b, sizeof(b), &n), KHO_OK);
    CHECK_STR(b, "simple boundary:(x)?=,/");

    char seventy[128];
    int k = snprintf(seventy, sizeof(seventy), "multipart/form-data; boundary=%070d", 7);
    CHECK_EQ(http_media_boundary(seventy, (size_t)k, b, sizeof(b), &n), KHO_OK);
    CHECK_EQ(n, 70);
    CHECK_EQ(http_media_boundary(seventy, (size_t)k, b, 20, &n), KHO_E_TOO_LARGE);
    k = snprintf(seventy, sizeof(seventy), "multipart/form-data; boundary=%071d", 7);
    CHECK_EQ(http_media_boundary(seventy, (size_t)k, b, sizeof(b), &n), KHO_E_INVALID);

    static const char *const bad[] = {
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"ends with space \"",
        "multipart/form-data; boundary=\"at@sign\"",
        "multipart/form-data; boundary=\"tab\there\"",
        "multipart/form-data; boundary=caf\xc3\xa9",
        "multipart/form-data; boundary=\"caf\xc3\xa9\"",
        "multipart/form-data; boundary=a b",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        enum kho_err rc = http_media_boundary(bad[i], strlen(bad[i]), b, sizeof(b), &n);
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ(rc, KHO_E_INVALID);
    }
}

struct range_case {
    const char *v;
    uint64_t size;
    enum http_range_result r;
    uint64_t start, end;
};

static const struct range_case range_cases[] = {
    {"bytes=0-499", 1000, RANGE_OK, 0, 499},
    {"bytes=500-999", 1000, RANGE_OK, 500, 999},
    {"bytes=500-", 1000, RANGE_OK, 500, 999},
    {"bytes=-200", 1000, RANGE_OK, 800, 999},
    {"bytes=-1000", 1000, RANGE_OK, 0, 999},
    {"bytes=-2000", 1000, RANGE_OK, 0, 999},
    {"bytes=0-5000", 1000, RANGE_OK, 0, 999},
    {"bytes=999-999", 1000, RANGE_OK, 999, 999},
    {"bytes=0-0", 1, RANGE_OK, 0, 0},
    {"BYTES=1-2", 1000, RANGE_OK, 1, 2},
    {" bytes= 3-4 ", 1000, RANGE_OK, 3, 4},
    {"bytes=0-99999999999999999999999", 1000, RANGE_OK, 0, 999},
    {"bytes=-99999999999999999999999", 1000, RANGE_OK, 0, 999},
    {"bytes=18446744073709551614-18446744073709551615", UINT64_MAX, RANGE_OK,
     18446744073709551614ULL, 18446744073709551614ULL},
    {"bytes=1000-", 1000, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1000-2000", 1000, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=99999999999999999999999-", 1000, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-0", 1000, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=0-", 0, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-5", 0, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=5-4", 1000, RANGE_NONE, 0, 0},
    {"bytes=0-1,5-6", 1000, RANGE_NONE, 0, 0},
    {"bytes=0-1, 5-6", 1000, RANGE_NONE, 0, 0},
    {"bytes=0-1,", 1000, RANGE_NONE, 0, 0},
    {"items=0-1", 1000, RANGE_NONE, 0, 0},
    {"bytes =0-1", 1000, RANGE_NONE, 0, 0},
    {"bytes", 1000, RANGE_NONE, 0, 0},
    {"bytes=", 1000, RANGE_NONE, 0, 0},
    {"bytes=-", 1000, RANGE_NONE, 0, 0},
    {"bytes=abc", 1000, RANGE_NONE, 0, 0},
    {"bytes=1", 1000, RANGE_NONE, 0, 0},
    {"bytes=1-2-3", 1000, RANGE_NONE, 0, 0},
    {"bytes=+1-2", 1000, RANGE_NONE, 0, 0},
    {"bytes=1 -2", 1000, RANGE_NONE, 0, 0},
    {"bytes=--1", 1000, RANGE_NONE, 0, 0},
    {"bytes=0x1-2", 1000, RANGE_NONE, 0, 0},
    {"", 1000, RANGE_NONE, 0, 0},
};

static void test_range(void)
{
    for (size_t i = 0; i < ARRAY_LEN(range_cases); i++) {
        const struct range_case *c = &range_cases[i];
        uint64_t s = 12345, e = 12345;
        enum http_range_result r = http_parse_range(c->v, strlen(c->v), c->size, &s, &e);
        if (r != c->r)
            fprintf(stderr, "  case %zu '%s'\n", i, c->v);
        CHECK_EQ(r, c->r);
        if (r == RANGE_OK) {
            CHECK(s == c->start);
            CHECK(e == c->end);
        } else {
            CHECK_EQ(s, 12345);
            CHECK_EQ(e, 12345);
        }
    }
    uint64_t s, e;
    CHECK_EQ(http_parse_range(NULL, 0, 10, &s, &e), RANGE_NONE);
}

static void test_etag(void)
{
    static const struct {
        const char *inm;
        const char *etag;
        bool match;
    } cases[] = {
        {"\"abc\"", "\"abc\"", true},
        {"W/\"abc\"", "\"abc\"", true},
        {"\"abc\"", "W/\"abc\"", true},
        {"\"x\", \"abc\"", "\"abc\"", true},
        {"\"x\",W/\"abc\" , \"y\"", "\"abc\"", true},
        {" , \"abc\",", "\"abc\"", true},
        {"*", "\"abc\"", true},
        {" * ", "\"abc\"", true},
        {"\"\"", "\"\"", true},
        {"\"abcd\"", "\"abc\"", false},
        {"\"ab\"", "\"abc\"", false},
        {"\"ABC\"", "\"abc\"", false},
        {"abc", "\"abc\"", false},
        {"\"abc", "\"abc\"", false},
        {"\"x\" junk, \"abc\"", "\"abc\"", false},
        {"w/\"abc\"", "\"abc\"", false},
        {"\"a c\"", "\"a c\"", false},
        {"*, \"abc\"", "\"abc\"", false},
        {"", "\"abc\"", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        bool m = http_etag_match(cases[i].inm, strlen(cases[i].inm), cases[i].etag);
        if (m != cases[i].match)
            fprintf(stderr, "  case %zu '%s'\n", i, cases[i].inm);
        CHECK_EQ(m, cases[i].match);
    }
}

T_MAIN("http_headers", T(test_tokens_and_lists), T(test_param_next), T(test_media_type),
       T(test_media_param), T(test_media_boundary), T(test_range), T(test_etag))
