/* Unit tests for src/http/parser.c: request heads (every rejection rule, pipelining, incremental
 * feeding) and the chunked decoder (split at every position, bounds). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "t.h"
#include "http/parser.h"
#include "core/kho.h"

#define MAX_HEAD 8192

static enum kho_err parse(const char *s, struct http_head *h, size_t *head_len, const char **why)
{
    return http_parse_head(s, strlen(s), MAX_HEAD, h, head_len, why);
}

static bool span_eq(const char *p, size_t n, const char *s)
{
    return p && n == strlen(s) && memcmp(p, s, n) == 0;
}

static void test_simple_get(void)
{
    const char *req = "GET /images/abc?size=s HTTP/1.1\r\nHost: example.com\r\n"
                      "Accept: */*\r\nUser-Agent: curl/7.88.1\r\n\r\n";
    struct http_head h;
    size_t n;
    const char *why = "unset";
    CHECK_EQ(parse(req, &h, &n, &why), KHO_OK);
    CHECK(why == NULL);
    CHECK_EQ(n, strlen(req));
    CHECK(span_eq(h.method, h.method_len, "GET"));
    CHECK(span_eq(h.target, h.target_len, "/images/abc?size=s"));
    CHECK_EQ(h.minor, 1);
    CHECK_EQ(h.nheaders, 3);
    CHECK(span_eq(h.headers[0].name, h.headers[0].name_len, "Host"));
    CHECK(span_eq(h.headers[0].value, h.headers[0].value_len, "example.com"));
    CHECK(span_eq(h.headers[2].value, h.headers[2].value_len, "curl/7.88.1"));
    CHECK_EQ(h.content_length, -1);
    CHECK(!h.chunked);
    CHECK(h.keep_alive);
    CHECK(!h.expect_continue);
}

static void test_header_lookup_and_trim(void)
{
    const char *req = "POST /upload HTTP/1.1\r\nhost: a\r\nX-Empty:\r\nX-Pad: \t a  b \t\r\n"
                      "X-Dup: first\r\nx-dup: second\r\nX-Utf8: caf\xc3\xa9\r\n\r\n";
    struct http_head h;
    size_t n, len;
    const char *why;
    CHECK_EQ(parse(req, &h, &n, &why), KHO_OK);
    const char *v = http_head_header(&h, "HOST", &len);
    CHECK(span_eq(v, len, "a"));
    v = http_head_header(&h, "x-pad", &len);
    CHECK(span_eq(v, len, "a  b"));
    v = http_head_header(&h, "X-Empty", &len);
    CHECK(v != NULL);
    CHECK_EQ(len, 0);
    v = http_head_header(&h, "X-DUP", &len);
    CHECK(span_eq(v, len, "first"));
    v = http_head_header(&h, "x-utf8", &len);
    CHECK(span_eq(v, len, "caf\xc3\xa9"));
    len = 99;
    CHECK(http_head_header(&h, "Cookie", &len) == NULL);
    CHECK_EQ(len, 0);
}

static void test_content_length(void)
{
    struct http_head h;
    size_t n;
    const char *why;
    const char *req = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    CHECK_EQ(parse(req, &h, &n, &why), KHO_OK);
    CHECK_EQ(h.content_length, 5);
    CHECK_EQ(n, strlen(req) - 5);
    /* A repeated identical value is one value (RFC 9110 8.6). */
    CHECK_EQ(parse("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n",
                   &h, &n, &why),
             KHO_OK);
    CHECK_EQ(h.content_length, 7);
    CHECK_EQ(parse("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", &h,
                   &n, &why),
             KHO_OK);
    CHECK_EQ(h.content_length, INT64_MAX);
    CHECK_EQ(parse("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &h, &n, &why),
             KHO_OK);
    CHECK_EQ(h.content_length, 0);
}

static void test_pipelined(void)
{
    const char *two = "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n"
                      "Connection: close\r\n\r\n";
    struct http_head h;
    size_t n1, n2;
    const char *why;
    CHECK_EQ(http_parse_head(two, strlen(two), MAX_HEAD, &h, &n1, &why), KHO_OK);
    CHECK_EQ(n1, strlen("GET /one HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(span_eq(h.target, h.target_len, "/one"));
    CHECK(h.keep_alive);
    CHECK_EQ(http_parse_head(two + n1, strlen(two) - n1, MAX_HEAD, &h, &n2, &why), KHO_OK);
    CHECK(span_eq(h.target, h.target_len, "/two"));
    CHECK(!h.keep_alive);
    CHECK_EQ(n1 + n2, strlen(two));
}

static void test_incremental(void)
{
    const char *req = "\r\nPUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    size_t len = strlen(req);
    struct http_head h;
    size_t n = 1;
    const char *why;
    for (size_t i = 0; i < len; i++) {
        CHECK_EQ(http_parse_head(req, i, MAX_HEAD, &h, &n, &why), KHO_E_AGAIN);
        CHECK(why == NULL);
        CHECK_EQ(n, 0);
    }
    CHECK_EQ(http_parse_head(req, len, MAX_HEAD, &h, &n, &why), KHO_OK);
    CHECK_EQ(n, len);
    CHECK_EQ(h.content_length, 3);
}

static void test_leading_empty_lines(void)
{
    struct http_head h;
    size_t n;
    const char *why;
    CHECK_EQ(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h, &n, &why), KHO_OK);
    CHECK_EQ(n, 31);
    CHECK(span_eq(h.method, h.method_len, "GET"));
    CHECK_EQ(parse("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h, &n, &why), KHO_E_INVALID);
    CHECK_EQ(parse("\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h, &n, &why), KHO_E_INVALID);
}

static void test_too_large(void)
{
    const char *req = "GET /a-rather-long-target HTTP/1.1\r\nHost: a\r\n\r\n";
    struct http_head h;
    size_t n;
    const char *why;
    /* Incomplete below max: wait; incomplete at max: refuse, even with more bytes given. */
    CHECK_EQ(http_parse_head(req, 20, 30, &h, &n, &why), KHO_E_AGAIN);
    CHECK_EQ(http_parse_head(req, 30, 30, &h, &n, &why), KHO_E_TOO_LARGE);
    CHECK_STR(why, "request head too large");
    CHECK_EQ(http_parse_head(req, strlen(req), 30, &h, &n, &why), KHO_E_TOO_LARGE);
    CHECK_EQ(http_parse_head(req, strlen(req), strlen(req), &h, &n, &why), KHO_OK);
    CHECK_EQ(http_parse_head(req, strlen(req), strlen(req) - 1, &h, &n, &why), KHO_E_TOO_LARGE);
}

/* A request with count "X-N: v" headers after Host. */
static void many_headers(struct buf *b, int count)
{
    buf_reset(b);
    CHECK_EQ(buf_puts(b, "GET / HTTP/1.1\r\nHost: a\r\n"), KHO_OK);
    for (int i = 0; i < count; i++)
        CHECK_EQ(buf_printf(b, "X-%d: v\r\n", i), KHO_OK);
    CHECK_EQ(buf_puts(b, "\r\n"), KHO_OK);
}

static void test_header_count(void)
{
    struct buf b;
    struct http_head h;
    size_t n;
    const char *why;
    buf_init(&b, 1 << 16);
    many_headers(&b, HTTP_MAX_HEADERS - 1);
    enum kho_err rc = http_parse_head(b.p, b.len, 1 << 16, &h, &n, &why);
    CHECK_EQ(h.nheaders, HTTP_MAX_HEADERS);
    many_headers(&b, HTTP_MAX_HEADERS);
    enum kho_err rc2 = http_parse_head(b.p, b.len, 1 << 16, &h, &n, &why);
    buf_free(&b);
    CHECK_EQ(rc, KHO_OK);
    CHECK_EQ(rc2, KHO_E_TOO_LARGE);
    CHECK_STR(why, "too many headers");
}

struct bad_case {
    const char *req;
    size_t len; /* requests may hold NUL bytes */
    enum kho_err rc;
    const char *why;
};

#define HOST "Host: a\r\n"
#define C(req, rc, why)                                                                            \
    {                                                                                              \
        req, sizeof(req) - 1, rc, why                                                              \
    }

static const struct bad_case bad_cases[] = {
    /* line endings and NUL */
    C("GET / HTTP/1.1\nHost: a\n\n", KHO_E_INVALID, "invalid line ending"),
    C("GET / HTTP/1.1\r\nHost: a\n\r\n", KHO_E_INVALID, "invalid line ending"),
    C("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", KHO_E_INVALID, "invalid line ending"),
    C("GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n", KHO_E_INVALID, "invalid header value"),
    C("GET /\0 HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C("G\0T / HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid method"),
    /* request line */
    C("GET  / HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C(" GET / HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid method"),
    C("G(T / HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid method"),
    C("ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid method"),
    C("GET\r\n" HOST "\r\n", KHO_E_INVALID, "invalid method"),
    C("GET /\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C("GET http://a/ HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C("GET * HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C("CONNECT a:443 HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C("GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C("GET /a\tb HTTP/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request target"),
    C("GET / HTTP/1.1 \r\n" HOST "\r\n", KHO_E_INVALID, "invalid request line"),
    C("GET / http/1.1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request line"),
    C("GET / HTTP/1\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request line"),
    C("GET / HTTP/1.10\r\n" HOST "\r\n", KHO_E_INVALID, "invalid request line"),
    C("GET / HTTP/2.0\r\n" HOST "\r\n", KHO_E_UNSUPPORTED, "http version not supported"),
    C("GET / HTTP/1.2\r\n" HOST "\r\n", KHO_E_UNSUPPORTED, "http version not supported"),
    C("GET / HTTP/0.9\r\n" HOST "\r\n", KHO_E_UNSUPPORTED, "http version not supported"),
    /* header lines */
    C("GET / HTTP/1.1\r\n" HOST "X: a\r\n  folded\r\n\r\n", KHO_E_INVALID, "obsolete line folding"),
    C("GET / HTTP/1.1\r\n\tX: a\r\n" HOST "\r\n", KHO_E_INVALID, "obsolete line folding"),
    C("GET / HTTP/1.1\r\nHost : a\r\n\r\n", KHO_E_INVALID, "invalid header name"),
    C("GET / HTTP/1.1\r\n" HOST "X\t: a\r\n\r\n", KHO_E_INVALID, "invalid header name"),
    C("GET / HTTP/1.1\r\n" HOST "X Y: a\r\n\r\n", KHO_E_INVALID, "invalid header name"),
    C("GET / HTTP/1.1\r\n" HOST "(X): a\r\n\r\n", KHO_E_INVALID, "invalid header name"),
    C("GET / HTTP/1.1\r\n" HOST ": a\r\n\r\n", KHO_E_INVALID, "invalid header name"),
    C("GET / HTTP/1.1\r\n" HOST "NoColon\r\n\r\n", KHO_E_INVALID, "invalid header name"),
    C("GET / HTTP/1.1\r\n" HOST "X: a\x01z\r\n\r\n", KHO_E_INVALID, "invalid header value"),
    C("GET / HTTP/1.1\r\n" HOST "X: a\x7fz\r\n\r\n", KHO_E_INVALID, "invalid header value"),
    /* framing */
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: abc\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: 1 2\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 5\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: 9223372036854775808\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: 99999999999999999999999\r\n\r\n", KHO_E_INVALID,
      "invalid content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", KHO_E_INVALID,
      "conflicting content-length"),
    C("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      KHO_E_INVALID, "content-length with transfer-encoding"),
    C("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      KHO_E_INVALID, "content-length with transfer-encoding"),
    C("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", KHO_E_INVALID,
      "transfer-encoding in http/1.0"),
    C("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n", KHO_E_UNSUPPORTED,
      "unsupported transfer-encoding"),
    C("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n", KHO_E_UNSUPPORTED,
      "unsupported transfer-encoding"),
    C("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n\r\n", KHO_E_UNSUPPORTED,
      "unsupported transfer-encoding"),
    C("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      KHO_E_UNSUPPORTED, "unsupported transfer-encoding"),
    C("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: xchunked\r\n\r\n", KHO_E_UNSUPPORTED,
      "unsupported transfer-encoding"),
    C("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n", KHO_E_UNSUPPORTED,
      "unsupported transfer-encoding"),
    /* Host */
    C("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", KHO_E_INVALID, "missing host header"),
    C("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", KHO_E_INVALID, "multiple host headers"),
};

static void test_rejections(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        size_t len = c->len;
        struct http_head h;
        size_t n = 7;
        const char *why = NULL;
        enum kho_err rc = http_parse_head(c->req, len, MAX_HEAD, &h, &n, &why);
        if (rc != c->rc || !why || strcmp(why, c->why) != 0)
            fprintf(stderr, "  case %zu: got %s '%s'\n", i, kho_err_name(rc), why ? why : "");
        CHECK_EQ(rc, c->rc);
        CHECK_STR(why, c->why);
        CHECK_EQ(n, 0);
    }
}

/* Errors are reported as soon as the offending line is complete, not when the head ends. */
static void test_early_rejection(void)
{
    struct http_head h;
    size_t n;
    const char *why;
    const char *req = "GET / HTTP/1.1\r\nBad Name: x\r\n";
    CHECK_EQ(http_parse_head(req, strlen(req), MAX_HEAD, &h, &n, &why), KHO_E_INVALID);
    req = "GET / HTTP/3.0\r\n";
    CHECK_EQ(http_parse_head(req, strlen(req), MAX_HEAD, &h, &n, &why), KHO_E_UNSUPPORTED);
}

static void test_targets_and_methods(void)
{
    struct http_head h;
    size_t n;
    const char *why;
    CHECK_EQ(parse("OPTIONS * HTTP/1.1\r\n" HOST "\r\n", &h, &n, &why), KHO_OK);
    CHECK(span_eq(h.target, h.target_len, "*"));
    CHECK_EQ(parse("ABCDEFGHIJKLMNOP /a%20b?x=[1]&y={2}|~ HTTP/1.1\r\n" HOST "\r\n", &h, &n, &why),
             KHO_OK);
    CHECK_EQ(h.method_len, HTTP_MAX_METHOD);
    CHECK(span_eq(h.target, h.target_len, "/a%20b?x=[1]&y={2}|~"));
    CHECK_EQ(parse("delete /x HTTP/1.1\r\n" HOST "\r\n", &h, &n, &why), KHO_OK);
    CHECK(span_eq(h.method, h.method_len, "delete"));
}

static void test_keep_alive(void)
{
    static const struct {
        const char *req;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\n" HOST "\r\n", true},
        {"GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\n" HOST "Connection: Upgrade, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\n" HOST "Connection: keep-alive\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\n" HOST "Connection: closed\r\n\r\n", true},
        {"GET / HTTP/1.1\r\n" HOST "Connection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: te , keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct http_head h;
        size_t n;
        const char *why;
        CHECK_EQ(parse(cases[i].req, &h, &n, &why), KHO_OK);
        if (h.keep_alive != cases[i].keep_alive)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ(h.keep_alive, cases[i].keep_alive);
    }
}

static void test_chunked_and_expect(void)
{
    struct http_head h;
    size_t n;
    const char *why;
    CHECK_EQ(parse("POST /u HTTP/1.1\r\n" HOST "Transfer-Encoding: Chunked\r\n"
                   "Expect: 100-Continue\r\n\r\n",
                   &h, &n, &why),
             KHO_OK);
    CHECK(h.chunked);
    CHECK_EQ(h.content_length, -1);
    CHECK(h.expect_continue);
    CHECK_EQ(parse("POST /u HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &h, &n,
                   &why),
             KHO_OK);
    CHECK(!h.expect_continue);
    CHECK_EQ(parse("POST /u HTTP/1.1\r\n" HOST "Expect: something-else\r\n\r\n", &h, &n, &why),
             KHO_OK);
    CHECK(!h.expect_continue);
}

static void test_parse_field(void)
{
    struct http_header f;
    const char *why;
    const char *l = "Content-Type:  image/png ";
    CHECK_EQ(http_parse_field(l, strlen(l), &f, &why), KHO_OK);
    CHECK(span_eq(f.name, f.name_len, "Content-Type"));
    CHECK(span_eq(f.value, f.value_len, "image/png"));
    CHECK_EQ(http_parse_field(" X: y", 5, &f, &why), KHO_E_INVALID);
    CHECK_STR(why, "obsolete line folding");
}

/* Decode in[0..len) fed in two calls, split at in[split]; *used_total is the bytes consumed. */
static enum kho_err feed(const char *in, size_t len, size_t split, struct buf *out, bool *done,
                         size_t *used_total)
{
    struct http_chunked c;
    http_chunked_init(&c);
    size_t pos = 0;
    enum kho_err rc = KHO_OK;
    *done = false;
    while (pos < len && !*done && rc == KHO_OK) {
        size_t end = pos < split ? split : len;
        size_t used;
        rc = http_chunked_decode(&c, in + pos, end - pos, &used, out, done);
        pos += used;
    }
    *used_total = pos;
    return rc;
}

static void test_chunked_basic(void)
{
    const char *body = "5\r\nhello\r\n6;name=\"v\"\r\n world\r\nA \t;x\r\n0123456789\r\n"
                       "0000000000000000\r\nX-Trailer: 1\r\nY: 2\r\n\r\nGET /next";
    size_t len = strlen(body);
    struct buf out;
    buf_init(&out, 1024);
    bool done;
    size_t used;
    enum kho_err rc = feed(body, len, len, &out, &done, &used);
    bool same = out.len == 21 && memcmp(out.p, "hello world0123456789", 21) == 0;
    buf_free(&out);
    CHECK_EQ(rc, KHO_OK);
    CHECK(done);
    CHECK(same);
    CHECK_EQ(used, len - strlen("GET /next"));
}

static void test_chunked_every_split(void)
{
    const char *body =
        "4\r\nWiki\r\n5;ext\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
    size_t len = strlen(body);
    for (size_t split = 0; split <= len; split++) {
        struct buf out;
        buf_init(&out, 64);
        bool done;
        size_t used;
        enum kho_err rc = feed(body, len, split, &out, &done, &used);
        bool same = out.len == 23 && memcmp(out.p, "Wikipedia in\r\n\r\nchunks.", 23) == 0;
        buf_free(&out);
        CHECK_EQ(rc, KHO_OK);
        CHECK(done);
        CHECK(same);
        CHECK_EQ(used, len);
    }
    /* One byte at a time. */
    struct http_chunked c;
    struct buf out;
    bool done = false;
    http_chunked_init(&c);
    buf_init(&out, 64);
    for (size_t i = 0; i < len; i++) {
        size_t used;
        enum kho_err rc = http_chunked_decode(&c, body + i, 1, &used, &out, &done);
        CHECK_EQ(rc, KHO_OK);
        CHECK_EQ(used, 1);
        CHECK_EQ(done, i == len - 1);
    }
    size_t used;
    CHECK_EQ(http_chunked_decode(&c, "5\r\n", 3, &used, &out, &done), KHO_OK);
    CHECK_EQ(used, 0);
    CHECK(done);
    CHECK_EQ(out.len, 23);
    buf_free(&out);
}

/* Decode body[0..len) into a buffer with ceiling max: KHO_E_AGAIN if it ends early. */
static enum kho_err decode_all(const char *body, size_t len, size_t max)
{
    struct buf out;
    bool done;
    size_t used;
    buf_init(&out, max);
    enum kho_err rc = feed(body, len, len, &out, &done, &used);
    buf_free(&out);
    if (rc == KHO_OK && !done)
        return KHO_E_AGAIN;
    return rc;
}

static void test_chunked_invalid(void)
{
    static const char *const bad[] = {
        "x\r\n",
        "\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\rhello",
        "5 \r\nhello\r\n0\r\n\r\n",
        "5 x\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "-1\r\n",
        "00000000000000005\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5\r\nhello\r0\r\n\r\n",
        "5;a\x01\r\nhello\r\n0\r\n\r\n",
        "5;a\nb\r\nhello\r\n0\r\n\r\n",
        "0\r\nX: 1\nY: 2\r\n\r\n",
        "0\r\nX: 1\r\n folded\r\n\r\n",
        "0\r\nX: \x7f\r\n\r\n",
        "0\r\n\rX",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        enum kho_err rc = decode_all(bad[i], strlen(bad[i]), 1024);
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  case %zu: %s\n", i, kho_err_name(rc));
        CHECK_EQ(rc, KHO_E_INVALID);
    }
    /* Extensions are bounded. */
    char line[HTTP_CHUNK_LINE_MAX + 16];
    memset(line, 'e', sizeof(line));
    memcpy(line, "1;", 2);
    CHECK_EQ(decode_all(line, sizeof(line), 1024), KHO_E_INVALID);
    memcpy(line + HTTP_CHUNK_LINE_MAX - 3, "\r\nz\r\n0\r\n\r\n", 10);
    CHECK_EQ(decode_all(line, HTTP_CHUNK_LINE_MAX + 7, 1024), KHO_OK);
}

static void test_chunked_limits(void)
{
    /* The ceiling is checked when the size is read, before any payload arrives. */
    static const struct {
        const char *body;
        size_t max;
        enum kho_err rc;
    } cases[] = {
        {"5\r\n", 4, KHO_E_TOO_LARGE},
        {"ffffffffffffffff\r\n", 1 << 20, KHO_E_TOO_LARGE},
        {"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 5, KHO_E_TOO_LARGE},
        {"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 5, KHO_OK},
        {"3\r\nabc\r\n", 5, KHO_E_AGAIN},
        {"0\r\n\r\n", 0, KHO_OK},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        CHECK_EQ(decode_all(cases[i].body, strlen(cases[i].body), cases[i].max), cases[i].rc);

    struct buf t;
    buf_init(&t, 1 << 16);
    CHECK_EQ(buf_puts(&t, "0\r\n"), KHO_OK);
    while (t.len < HTTP_CHUNK_TRAILER_MAX)
        CHECK_EQ(buf_puts(&t, "X-Filler: 0123456789abcdef\r\n"), KHO_OK);
    CHECK_EQ(buf_puts(&t, "\r\n"), KHO_OK);
    enum kho_err rc = decode_all(t.p, t.len, 1024);
    buf_free(&t);
    CHECK_EQ(rc, KHO_E_TOO_LARGE);
}

T_MAIN("http_parser", T(test_simple_get), T(test_header_lookup_and_trim), T(test_content_length),
       T(test_pipelined), T(test_incremental), T(test_leading_empty_lines), T(test_too_large),
       T(test_header_count), T(test_rejections), T(test_early_rejection),
       T(test_targets_and_methods), T(test_keep_alive), T(test_chunked_and_expect),
       T(test_parse_field), T(test_chunked_basic), T(test_chunked_every_split),
       T(test_chunked_invalid), T(test_chunked_limits))
