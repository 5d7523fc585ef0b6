/* Request-head parser and incremental chunked decoder for kho's HTTP/1.1 connection layer;
 * see parser.h for the rules and why they are strict. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "http/parser.h"
#include "core/hex.h"
#include "http/headers.h"
#include "core/kho.h"

static enum kho_err fail(enum kho_err rc, const char *msg, const char **why)
{
    *why = msg;
    return rc;
}

/* The head is incomplete: only a client that has already sent max bytes is refused. */
static enum kho_err need_more(size_t len, size_t max, const char **why)
{
    if (len >= max)
        return fail(KHO_E_TOO_LARGE, "request head too large", why);
    return KHO_E_AGAIN;
}

/* Find the CRLF ending the line that starts at buf[pos]: KHO_OK with *eol at its CR, KHO_E_AGAIN
 * when no line end is in buf[0..n) yet. A CR or LF anywhere else is rejected so that no reader
 * can see a line boundary where kho does not. */
static enum kho_err line_end(const char *buf, size_t n, size_t pos, size_t *eol, const char **why)
{
    for (size_t i = pos; i < n; i++) {
        if (buf[i] == '\n')
            return fail(KHO_E_INVALID, "invalid line ending", why);
        if (buf[i] == '\r') {
            if (i + 1 == n)
                return KHO_E_AGAIN;
            if (buf[i + 1] != '\n')
                return fail(KHO_E_INVALID, "invalid line ending", why);
            *eol = i;
            return KHO_OK;
        }
    }
    return KHO_E_AGAIN;
}

/* request-line = method SP request-target SP HTTP-version, with exactly one space each. */
static enum kho_err request_line(const char *l, size_t n, struct http_head *h, const char **why)
{
    size_t i = 0;
    while (i < n && http_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i > HTTP_MAX_METHOD || i == n || l[i] != ' ')
        return fail(KHO_E_INVALID, "invalid method", why);
    h->method = l;
    h->method_len = i;

    size_t t = ++i;
    /* Only visible ASCII: raw spaces, controls and non-ASCII bytes must be percent-encoded. */
    while (i < n && l[i] > 0x20 && l[i] < 0x7f)
        i++;
    if (i == t || i == n || l[i] != ' ')
        return fail(KHO_E_INVALID, "invalid request target", why);
    h->target = l + t;
    h->target_len = i - t;
    bool asterisk = h->target_len == 1 && h->target[0] == '*';
    if (h->target[0] != '/' &&
        !(asterisk && h->method_len == 7 && memcmp(h->method, "OPTIONS", 7) == 0))
        return fail(KHO_E_INVALID, "invalid request target", why);

    const char *v = l + i + 1;
    if (n - i - 1 != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return fail(KHO_E_INVALID, "invalid request line", why);
    if (v[5] != '1' || v[7] > '1')
        return fail(KHO_E_UNSUPPORTED, "http version not supported", why);
    h->minor = v[7] - '0';
    return KHO_OK;
}

/* field-line = field-name ":" OWS field-value OWS */
enum kho_err http_parse_field(const char *l, size_t n, struct http_header *f, const char **why)
{
    if (l[0] == ' ' || l[0] == '\t')
        return fail(KHO_E_INVALID, "obsolete line folding", why);
    size_t i = 0;
    while (i < n && http_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i == n || l[i] != ':')
        return fail(KHO_E_INVALID, "invalid header name", why);
    f->name = l;
    f->name_len = i;
    i++;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    size_t end = n;
    while (end > i && (l[end - 1] == ' ' || l[end - 1] == '\t'))
        end--;
    for (size_t j = i; j < end; j++) {
        unsigned char c = (unsigned char)l[j];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(KHO_E_INVALID, "invalid header value", why);
    }
    f->value = l + i;
    f->value_len = end - i;
    return KHO_OK;
}

/* 1*DIGIT that fits in int64_t, or -1. */
static int64_t parse_length(const char *v, size_t n)
{
    if (n == 0)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        int d = v[i] - '0';
        if (x > (INT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    return x;
}

/* Compute the framing and connection fields once every header is known. */
static enum kho_err derive(struct http_head *h, const char **why)
{
    int te = 0, hosts = 0;
    bool te_other = false, conn_close = false, conn_keep = false, expect = false;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (http_token_eq(f->name, f->name_len, "content-length")) {
            int64_t n = parse_length(f->value, f->value_len);
            if (n < 0)
                return fail(KHO_E_INVALID, "invalid content-length", why);
            if (h->content_length >= 0 && h->content_length != n)
                return fail(KHO_E_INVALID, "conflicting content-length", why);
            h->content_length = n;
        } else if (http_token_eq(f->name, f->name_len, "transfer-encoding")) {
            te++;
            te_other |= !http_token_eq(f->value, f->value_len, "chunked");
        } else if (http_token_eq(f->name, f->name_len, "connection")) {
            conn_close |= http_list_has(f->value, f->value_len, "close");
            conn_keep |= http_list_has(f->value, f->value_len, "keep-alive");
        } else if (http_token_eq(f->name, f->name_len, "host")) {
            hosts++;
        } else if (http_token_eq(f->name, f->name_len, "expect")) {
            expect |= http_token_eq(f->value, f->value_len, "100-continue");
        }
    }
    if (te > 0) {
        if (h->minor == 0)
            return fail(KHO_E_INVALID, "transfer-encoding in http/1.0", why);
        if (h->content_length >= 0)
            return fail(KHO_E_INVALID, "content-length with transfer-encoding", why);
        /* Two headers mean "chunked, chunked" or worse: never guess which layer is which. */
        if (te > 1 || te_other)
            return fail(KHO_E_UNSUPPORTED, "unsupported transfer-encoding", why);
        h->chunked = true;
    }
    if (hosts > 1)
        return fail(KHO_E_INVALID, "multiple host headers", why);
    if (hosts == 0 && h->minor == 1)
        return fail(KHO_E_INVALID, "missing host header", why);
    h->keep_alive = !conn_close && (h->minor == 1 || conn_keep);
    h->expect_continue = expect && h->minor == 1;
    return KHO_OK;
}

enum kho_err http_parse_head(const char *buf, size_t len, size_t max, struct http_head *h,
                             size_t *head_len, const char **why)
{
    size_t n = len < max ? len : max;
    size_t pos = 0, eol;
    enum kho_err rc;

    *why = NULL;
    *head_len = 0;
    h->method = h->target = NULL;
    h->method_len = h->target_len = 0;
    h->minor = 0;
    h->nheaders = 0;
    h->content_length = -1;
    h->chunked = h->keep_alive = h->expect_continue = false;

    for (int i = 0; i < HTTP_MAX_LEADING_CRLF && pos < n && buf[pos] == '\r'; i++) {
        if (pos + 1 == n)
            return need_more(len, max, why);
        if (buf[pos + 1] != '\n')
            return fail(KHO_E_INVALID, "invalid line ending", why);
        pos += 2;
    }
    rc = line_end(buf, n, pos, &eol, why);
    if (rc == KHO_E_AGAIN)
        return need_more(len, max, why);
    if (rc)
        return rc;
    rc = request_line(buf + pos, eol - pos, h, why);
    if (rc)
        return rc;
    pos = eol + 2;

    for (;;) {
        rc = line_end(buf, n, pos, &eol, why);
        if (rc == KHO_E_AGAIN)
            return need_more(len, max, why);
        if (rc)
            return rc;
        if (eol == pos)
            break;
        if (h->nheaders == HTTP_MAX_HEADERS)
            return fail(KHO_E_TOO_LARGE, "too many headers", why);
        rc = http_parse_field(buf + pos, eol - pos, &h->headers[h->nheaders], why);
        if (rc)
            return rc;
        h->nheaders++;
        pos = eol + 2;
    }
    rc = derive(h, why);
    if (rc)
        return rc;
    *head_len = eol + 2;
    return KHO_OK;
}

const char *http_head_header(const struct http_head *h, const char *name, size_t *len)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (http_token_eq(f->name, f->name_len, name)) {
            *len = f->value_len;
            return f->value;
        }
    }
    *len = 0;
    return NULL;
}

/* The order matters: http_chunked_decode bounds the size-line states (up to CH_SIZE_LF) and the
 * trailer states (from CH_TRAILER_BOL) by comparing with these values. */
enum chunk_state {
    CH_SIZE,        /* hex digits of a chunk size */
    CH_SIZE_WS,     /* whitespace after the size, which must lead to an extension */
    CH_EXT,         /* chunk extensions, ignored */
    CH_SIZE_LF,     /* LF ending the size line */
    CH_DATA,        /* payload */
    CH_DATA_CR,     /* CR after the payload */
    CH_DATA_LF,     /* LF after the payload */
    CH_TRAILER_BOL, /* start of a trailer line, or of the final empty line */
    CH_TRAILER,     /* inside a trailer field line, skipped */
    CH_TRAILER_LF,  /* LF ending a trailer line */
    CH_END_LF,      /* LF ending the chunked body */
    CH_DONE,
};

void http_chunked_init(struct http_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
}

/* Bytes allowed in skipped text (extensions, trailers): HTAB, SP, VCHAR, obs-text. */
static bool is_text(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* Advance the size-line and trailer states by one byte. */
static enum kho_err chunk_byte(struct http_chunked *c, unsigned char ch, struct buf *out)
{
    switch (c->state) {
    case CH_SIZE: {
        int d = hex_value(ch);
        if (d >= 0) {
            /* 16 hex digits fill a uint64_t exactly; more (even leading zeros) is abuse. */
            if (++c->ndigits > 16)
                return KHO_E_INVALID;
            c->remaining = c->remaining << 4 | (uint64_t)d;
            return KHO_OK;
        }
        if (c->ndigits == 0)
            return KHO_E_INVALID;
        if (ch == '\r')
            c->state = CH_SIZE_LF;
        else if (ch == ';')
            c->state = CH_EXT;
        else if (ch == ' ' || ch == '\t')
            c->state = CH_SIZE_WS;
        else
            return KHO_E_INVALID;
        return KHO_OK;
    }
    case CH_SIZE_WS:
        if (ch == ';')
            c->state = CH_EXT;
        else if (ch != ' ' && ch != '\t')
            return KHO_E_INVALID;
        return KHO_OK;
    case CH_EXT:
        if (ch == '\r')
            c->state = CH_SIZE_LF;
        else if (!is_text(ch))
            return KHO_E_INVALID;
        return KHO_OK;
    case CH_SIZE_LF:
        if (ch != '\n')
            return KHO_E_INVALID;
        if (c->remaining == 0) {
            c->state = CH_TRAILER_BOL;
            return KHO_OK;
        }
        if (c->remaining > out->max - out->len)
            return KHO_E_TOO_LARGE;
        c->state = CH_DATA;
        return KHO_OK;
    case CH_DATA_CR:
        if (ch != '\r')
            return KHO_E_INVALID;
        c->state = CH_DATA_LF;
        return KHO_OK;
    case CH_DATA_LF:
        if (ch != '\n')
            return KHO_E_INVALID;
        c->state = CH_SIZE;
        c->line_len = c->ndigits = 0;
        return KHO_OK;
    case CH_TRAILER_BOL:
        if (ch == '\r')
            c->state = CH_END_LF;
        else if (ch == ' ' || ch == '\t' || !is_text(ch))
            return KHO_E_INVALID; /* obs-fold or a control byte */
        else
            c->state = CH_TRAILER;
        return KHO_OK;
    case CH_TRAILER:
        if (ch == '\r')
            c->state = CH_TRAILER_LF;
        else if (!is_text(ch))
            return KHO_E_INVALID;
        return KHO_OK;
    case CH_TRAILER_LF:
        if (ch != '\n')
            return KHO_E_INVALID;
        c->state = CH_TRAILER_BOL;
        return KHO_OK;
    case CH_END_LF:
        if (ch != '\n')
            return KHO_E_INVALID;
        c->state = CH_DONE;
        return KHO_OK;
    default:
        return KHO_E_INVALID;
    }
}

enum kho_err http_chunked_decode(struct http_chunked *c, const char *in, size_t in_len,
                                 size_t *in_used, struct buf *out, bool *done)
{
    size_t i = 0;
    enum kho_err rc = KHO_OK;
    while (i < in_len && c->state != CH_DONE) {
        if (c->state == CH_DATA) {
            size_t n = in_len - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            rc = buf_append(out, in + i, n);
            if (rc)
                break;
            i += n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        if (c->state <= CH_SIZE_LF && ++c->line_len > HTTP_CHUNK_LINE_MAX) {
            rc = KHO_E_INVALID;
            break;
        }
        if (c->state >= CH_TRAILER_BOL && ++c->trailer_len > HTTP_CHUNK_TRAILER_MAX) {
            rc = KHO_E_TOO_LARGE;
            break;
        }
        rc = chunk_byte(c, (unsigned char)in[i], out);
        if (rc)
            break;
        i++;
    }
    *in_used = i;
    *done = c->state == CH_DONE;
    return rc;
}
