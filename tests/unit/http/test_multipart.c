/* Unit tests for src/http/multipart.c with browser- and curl-shaped bodies and malformed ones. */
#include <stdbool.h>
#include <string.h>
#include "t.h"
#include "http/multipart.h"
#include "core/kho.h"

struct seen {
    size_t n;
    struct multipart_part parts[MULTIPART_MAX_PARTS];
    int stop_at; /* return stop_rc from the call with this index; -1 never */
    int stop_rc;
};

static int collect(const struct multipart_part *p, void *arg)
{
    struct seen *s = arg;
    if (s->n < MULTIPART_MAX_PARTS)
        s->parts[s->n] = *p;
    if ((int)s->n++ == s->stop_at)
        return s->stop_rc;
    return 0;
}

static enum kho_err run(const char *body, size_t len, const char *boundary, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    s->stop_at = -1;
    return multipart_parse(body, len, boundary, strlen(boundary), collect, s);
}

static bool span_eq(const char *p, size_t n, const char *want, size_t want_len)
{
    return p && n == want_len && memcmp(p, want, n) == 0;
}

#define SPAN_IS(p, n, lit) span_eq(p, n, lit, sizeof(lit) - 1)

/* What Chrome sends for <input name=title> and <input type=file name=file>: note the binary
 * data holding NUL, CRLF and a "--" line that is not the boundary. */
static const char chrome[] =
    "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "My cat\r\n"
    "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"cat.jpg\"\r\n"
    "Content-Type: image/jpeg\r\n"
    "\r\n"
    "\xff\xd8\xff\xe0\0\x10JFIF\r\n--\r\n----WebKitFormBoundary\r\n\xff\xd9\r\n"
    "------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n";

static void test_browser_body(void)
{
    struct seen s;
    CHECK_EQ(run(chrome, sizeof(chrome) - 1, "----WebKitFormBoundary7MA4YWxkTrZu0gW", &s), KHO_OK);
    CHECK_EQ(s.n, 2);
    const struct multipart_part *p = &s.parts[0];
    CHECK(SPAN_IS(p->name, p->name_len, "title"));
    CHECK(p->filename == NULL);
    CHECK(p->content_type == NULL);
    CHECK(SPAN_IS(p->data, p->len, "My cat"));
    p = &s.parts[1];
    CHECK(SPAN_IS(p->name, p->name_len, "file"));
    CHECK(SPAN_IS(p->filename, p->filename_len, "cat.jpg"));
    CHECK(SPAN_IS(p->content_type, p->content_type_len, "image/jpeg"));
    CHECK(SPAN_IS(p->data, p->len,
                  "\xff\xd8\xff\xe0\0\x10JFIF\r\n--\r\n----WebKitFormBoundary\r\n\xff\xd9"));
}

/* What curl -F 'file=@a.png' -F 'album=holiday' sends; curl writes no trailing CRLF. */
static const char curl_body[] =
    "--------------------------d74496d66958873e\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "\x89PNG\r\n\x1a\n"
    "\r\n"
    "--------------------------d74496d66958873e\r\n"
    "Content-Disposition: form-data; name=\"album\"\r\n"
    "\r\n"
    "holiday\r\n"
    "--------------------------d74496d66958873e--";

static void test_curl_body(void)
{
    struct seen s;
    CHECK_EQ(run(curl_body, sizeof(curl_body) - 1, "------------------------d74496d66958873e", &s),
             KHO_OK);
    CHECK_EQ(s.n, 2);
    CHECK(SPAN_IS(s.parts[0].filename, s.parts[0].filename_len, "a.png"));
    CHECK(SPAN_IS(s.parts[0].data, s.parts[0].len, "\x89PNG\r\n\x1a\n"));
    CHECK(SPAN_IS(s.parts[1].name, s.parts[1].name_len, "album"));
    CHECK(SPAN_IS(s.parts[1].data, s.parts[1].len, "holiday"));
}

static void test_preamble_epilogue_padding(void)
{
    static const char body[] = "This is the preamble, --XyZ inside it is fine.\r\n"
                               "--XyZ \t\r\n"
                               "content-disposition: FORM-DATA; NAME=plain; Filename=\"\"\r\n"
                               "X-Ignored: yes\r\n"
                               "\r\n"
                               "\r\n"
                               "--XyZ--  \r\nThis is the epilogue.\r\n--XyZ\r\n";
    struct seen s;
    CHECK_EQ(run(body, sizeof(body) - 1, "XyZ", &s), KHO_OK);
    CHECK_EQ(s.n, 1);
    CHECK(SPAN_IS(s.parts[0].name, s.parts[0].name_len, "plain"));
    CHECK(s.parts[0].filename != NULL);
    CHECK_EQ(s.parts[0].filename_len, 0);
    CHECK_EQ(s.parts[0].len, 0);
}

static void test_boundary_lookalikes(void)
{
    /* Inside the data: the boundary not at a line start, a prefix of the delimiter, and a nested
     * multipart body with its own boundary. */
    static const char body[] =
        "--b0und\r\n"
        "Content-Disposition: form-data; name=\"doc\"; filename=\"inner.txt\"\r\n"
        "Content-Type: multipart/mixed; boundary=inner\r\n"
        "\r\n"
        "x--b0und\r\n--b0un\r\n-b0und\r\n--inner\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        "--inner--\r\n"
        "\r\n--b0und--";
    struct seen s;
    CHECK_EQ(run(body, sizeof(body) - 1, "b0und", &s), KHO_OK);
    CHECK_EQ(s.n, 1);
    CHECK(SPAN_IS(s.parts[0].data, s.parts[0].len,
                  "x--b0und\r\n--b0un\r\n-b0und\r\n--inner\r\nContent-Type: text/plain\r\n\r\nhi"
                  "\r\n--inner--\r\n"));
    CHECK(SPAN_IS(s.parts[0].content_type, s.parts[0].content_type_len,
                  "multipart/mixed; boundary=inner"));

    /* A line that starts with the delimiter but goes on is not taken as data. */
    static const char longer[] = "--b0und\r\n"
                                 "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
                                 "x\r\n--b0undary\r\n"
                                 "\r\n--b0und--";
    CHECK_EQ(run(longer, sizeof(longer) - 1, "b0und", &s), KHO_E_INVALID);
}

static void test_missing_boundaries(void)
{
    struct seen s;
    static const char none[] = "Content-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
    CHECK_EQ(run(none, sizeof(none) - 1, "b", &s), KHO_E_INVALID);
    static const char no_final[] = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
    CHECK_EQ(run(no_final, sizeof(no_final) - 1, "b", &s), KHO_E_INVALID);
    static const char no_dashes[] = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
                                    "x\r\n--b";
    CHECK_EQ(run(no_dashes, sizeof(no_dashes) - 1, "b", &s), KHO_E_INVALID);
    static const char no_crlf[] = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
                                  "x--b--";
    CHECK_EQ(run(no_crlf, sizeof(no_crlf) - 1, "b", &s), KHO_E_INVALID);
    static const char cut_headers[] = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n";
    CHECK_EQ(run(cut_headers, sizeof(cut_headers) - 1, "b", &s), KHO_E_INVALID);
    CHECK_EQ(run("", 0, "b", &s), KHO_E_INVALID);
    CHECK_EQ(s.n, 0);
    /* The whole body is checked before any callback: a good first part is not delivered. */
    static const char late[] = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                               "--b\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n";
    CHECK_EQ(run(late, sizeof(late) - 1, "b", &s), KHO_E_INVALID);
    CHECK_EQ(s.n, 0);
}

static void test_empty_and_headerless_parts(void)
{
    struct seen s;
    CHECK_EQ(run("--b--\r\n", 7, "b", &s), KHO_OK);
    CHECK_EQ(s.n, 0);
    /* A part without a body may put its delimiter right after the header lines. */
    static const char no_body[] = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n"
                                  "\r\n--b\r\nContent-Disposition: form-data; name=\"c\"\r\n"
                                  "\r\n\r\n--b--";
    CHECK_EQ(run(no_body, sizeof(no_body) - 1, "b", &s), KHO_OK);
    CHECK_EQ(s.n, 2);
    CHECK_EQ(s.parts[0].len, 0);
    CHECK_EQ(s.parts[1].len, 0);
    CHECK(SPAN_IS(s.parts[1].name, s.parts[1].name_len, "c"));
}

static void test_bad_part_headers(void)
{
    static const char *const bad[] = {
        "--b\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; filename=\"f\"\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\"; filename=x; "
        "filename=y\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; "
        "name=\"a\"\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: a/b\r\n"
        "Content-Type: a/c\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=a b\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\"\nX: y\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n folded\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition : form-data; name=\"a\"\r\n\r\nx\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX: \x01\r\n\r\nx\r\n--b--",
        "--b\rContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--",
        "--bx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct seen s;
        enum kho_err rc = run(bad[i], strlen(bad[i]), "b", &s);
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  case %zu: %s\n", i, kho_err_name(rc));
        CHECK_EQ(rc, KHO_E_INVALID);
        CHECK_EQ(s.n, 0);
    }
}

static void test_quoted_names(void)
{
    static const char body[] = "--b\r\n"
                               "Content-Disposition: form-data; name=\"a;b\\\"c\"; "
                               "filename=\"C:\\\\x\\\\caf\xc3\xa9.jpg\"\r\n"
                               "\r\n"
                               "x\r\n--b--";
    struct seen s;
    CHECK_EQ(run(body, sizeof(body) - 1, "b", &s), KHO_OK);
    CHECK_EQ(s.n, 1);
    CHECK(SPAN_IS(s.parts[0].name, s.parts[0].name_len, "a;b\\\"c"));
    CHECK(SPAN_IS(s.parts[0].filename, s.parts[0].filename_len, "C:\\\\x\\\\caf\xc3\xa9.jpg"));
}

/* A body of count parts named p0, p1... */
static void many_parts(struct buf *b, int count, int extra_headers)
{
    buf_reset(b);
    for (int i = 0; i < count; i++) {
        CHECK_EQ(buf_printf(b, "--B\r\nContent-Disposition: form-data; name=\"p%d\"\r\n", i),
                 KHO_OK);
        for (int h = 0; h < extra_headers; h++)
            CHECK_EQ(buf_printf(b, "X-%d: %d\r\n", h, h), KHO_OK);
        CHECK_EQ(buf_printf(b, "\r\nv%d\r\n", i), KHO_OK);
    }
    CHECK_EQ(buf_puts(b, "--B--\r\n"), KHO_OK);
}

static void test_limits(void)
{
    struct buf b;
    struct seen s;
    buf_init(&b, 1 << 20);
    many_parts(&b, MULTIPART_MAX_PARTS, 0);
    enum kho_err max_parts = run(b.p, b.len, "B", &s);
    size_t max_seen = s.n;
    bool last_ok = SPAN_IS(s.parts[31].name, s.parts[31].name_len, "p31") &&
                   SPAN_IS(s.parts[31].data, s.parts[31].len, "v31");
    many_parts(&b, MULTIPART_MAX_PARTS + 1, 0);
    enum kho_err too_many = run(b.p, b.len, "B", &s);
    size_t too_many_seen = s.n;
    many_parts(&b, 1, MULTIPART_MAX_PART_HEADERS - 1);
    enum kho_err max_headers = run(b.p, b.len, "B", &s);
    many_parts(&b, 1, MULTIPART_MAX_PART_HEADERS);
    enum kho_err too_many_headers = run(b.p, b.len, "B", &s);

    buf_reset(&b);
    CHECK_EQ(buf_puts(&b, "--B\r\nContent-Disposition: form-data; name=\"big\"\r\nX-Big: "),
             KHO_OK);
    while (b.len < MULTIPART_MAX_HEADER_BLOCK)
        CHECK_EQ(buf_puts(&b, "0123456789"), KHO_OK);
    CHECK_EQ(buf_puts(&b, "\r\n\r\nv\r\n--B--"), KHO_OK);
    enum kho_err big_block = run(b.p, b.len, "B", &s);
    buf_free(&b);

    CHECK_EQ(max_parts, KHO_OK);
    CHECK_EQ(max_seen, MULTIPART_MAX_PARTS);
    CHECK(last_ok);
    CHECK_EQ(too_many, KHO_E_TOO_LARGE);
    CHECK_EQ(too_many_seen, 0);
    CHECK_EQ(max_headers, KHO_OK);
    CHECK_EQ(too_many_headers, KHO_E_TOO_LARGE);
    CHECK_EQ(big_block, KHO_E_TOO_LARGE);
}

static void test_bad_boundary_arg(void)
{
    struct seen s;
    char b71[72];
    memset(b71, 'a', 71);
    b71[71] = '\0';
    CHECK_EQ(run(chrome, sizeof(chrome) - 1, "", &s), KHO_E_INVALID);
    CHECK_EQ(run(chrome, sizeof(chrome) - 1, b71, &s), KHO_E_INVALID);
    /* The right boundary with a wrong one's prefix finds nothing. */
    CHECK_EQ(run(chrome, sizeof(chrome) - 1, "----WebKitFormBoundaryXXX", &s), KHO_E_INVALID);
}

static void test_callback_result(void)
{
    struct seen s;
    memset(&s, 0, sizeof(s));
    s.stop_at = 0;
    s.stop_rc = KHO_E_UNSUPPORTED;
    const char *bd = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    CHECK_EQ(multipart_parse(chrome, sizeof(chrome) - 1, bd, strlen(bd), collect, &s),
             KHO_E_UNSUPPORTED);
    CHECK_EQ(s.n, 1);
    memset(&s, 0, sizeof(s));
    s.stop_at = 1;
    s.stop_rc = 12345;
    CHECK_EQ(multipart_parse(chrome, sizeof(chrome) - 1, bd, strlen(bd), collect, &s),
             KHO_E_INVALID);
    CHECK_EQ(s.n, 2);
    memset(&s, 0, sizeof(s));
    s.stop_at = 0;
    s.stop_rc = -1;
    CHECK_EQ(multipart_parse(chrome, sizeof(chrome) - 1, bd, strlen(bd), collect, &s),
             KHO_E_INVALID);
    CHECK_EQ(s.n, 1);
}

T_MAIN("http_multipart", T(test_browser_body), T(test_curl_body), T(test_preamble_epilogue_padding),
       T(test_boundary_lookalikes), T(test_missing_boundaries), T(test_empty_and_headerless_parts),
       T(test_bad_part_headers), T(test_quoted_names), T(test_limits), T(test_bad_boundary_arg),
       T(test_callback_result))
