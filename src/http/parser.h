/* Strict HTTP/1.1 request-head parser and incremental chunked-body decoder (RFC 9112). Both work
 * on plain byte ranges, never allocate beyond their caller's bounds and reject anything ambiguous,
 * so a front proxy and kho can never disagree on where a request ends (request smuggling). */
#ifndef KHO_HTTP_PARSER_H
#define KHO_HTTP_PARSER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/err.h"

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_METHOD 16
/* Empty lines tolerated before the request line (RFC 9112 section 2.2 "at least one"). */
#define HTTP_MAX_LEADING_CRLF 2

struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* optional whitespace around it already trimmed; may be empty */
    size_t value_len;
};

/* A parsed request head. Every pointer points into the buffer given to http_parse_head, which
 * must outlive the struct; nothing is NUL-terminated. */
struct http_head {
    const char *method; /* a token of 1..HTTP_MAX_METHOD chars, case-sensitive */
    size_t method_len;
    const char *target; /* origin-form ("/path?query") or "*" (OPTIONS only) */
    size_t target_len;
    int minor; /* HTTP/1.<minor>: 0 or 1 */
    size_t nheaders;
    struct http_header headers[HTTP_MAX_HEADERS];

    /* Derived from the headers. */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool keep_alive;        /* from the version and the Connection list */
    bool expect_continue;   /* Expect: 100-continue on HTTP/1.1 (ignored on 1.0, RFC 9110) */
};

/* Parse a request head from buf[0..len). At most max bytes are looked at; head_len and why may
 * not be NULL.
 *
 * Line endings must be CRLF: a bare LF or CR is rejected rather than tolerated, so that the
 * parser cannot split lines differently from a proxy in front of it. Up to
 * HTTP_MAX_LEADING_CRLF empty lines before the request line are skipped.
 *
 * Returns:
 *  KHO_OK           *h is filled and *head_len is the byte count up to and including the empty
 *                   line that ends the head (the body or a pipelined request follows it).
 *  KHO_E_AGAIN      the head is incomplete and len < max: call again with more bytes (from the
 *                   same start; the parse restarts, which is cheap as heads are small).
 *  KHO_E_TOO_LARGE  the head does not end within max bytes, or has more than HTTP_MAX_HEADERS
 *                   header lines (-> 431).
 *  KHO_E_INVALID    malformed or ambiguous (-> 400): bad request line, method or target, NUL or
 *                   control characters, obs-fold, whitespace before a colon, a bad or repeated
 *                   Content-Length, Content-Length with Transfer-Encoding, Transfer-Encoding on
 *                   HTTP/1.0, a missing (HTTP/1.1) or repeated Host.
 *  KHO_E_UNSUPPORTED an HTTP version other than 1.0/1.1 (-> 505), or a Transfer-Encoding other
 *                   than exactly "chunked" (-> 501); *why tells which.
 * On any error *why is set to a static lower-case message that may be sent to the client; on
 * KHO_OK and KHO_E_AGAIN it is set to NULL. The connection must be closed after an error. */
enum kho_err http_parse_head(const char *buf, size_t len, size_t max, struct http_head *h,
                             size_t *head_len, const char **why);

/* The value of the first header called name (ASCII case-insensitive), with its length in *len,
 * or NULL (and *len = 0) when absent. The value points into the parsed buffer. */
const char *http_head_header(const struct http_head *h, const char *name, size_t *len);

/* Parse one field line l[0..n) ("Name: value", without its CRLF; n > 0) into *f, pointing into l.
 * Also used for multipart part headers. Returns KHO_E_INVALID, with *why set as above, for
 * leading whitespace (obs-fold), a name that is not a token or is followed by whitespace before
 * the colon, a missing colon, or a control character other than HTAB in the value. */
enum kho_err http_parse_field(const char *l, size_t n, struct http_header *f, const char **why);

/* Caps on the parts of a chunked body that are not payload. */
#define HTTP_CHUNK_LINE_MAX 1024    /* a chunk-size line with its extensions and CRLF */
#define HTTP_CHUNK_TRAILER_MAX 8192 /* the whole trailer section */

/* Incremental chunked decoder state. Initialise with http_chunked_init; it owns nothing. */
struct http_chunked {
    int state;
    uint64_t remaining; /* payload bytes left in the current chunk */
    size_t line_len;    /* bytes seen in the current size line */
    size_t ndigits;
    size_t trailer_len; /* bytes seen in the trailer section */
};

void http_chunked_init(struct http_chunked *c);

/* Decode as much of in[0..in_len) as possible, appending payload to out, and set *in_used to the
 * bytes consumed. *done becomes true once the last chunk and the trailer section (skipped) have
 * been read; bytes after that are left unconsumed (a pipelined request). Once done, further calls
 * consume nothing. Chunk extensions are ignored, within HTTP_CHUNK_LINE_MAX.
 *
 * Returns KHO_OK (all input consumed, or done), KHO_E_INVALID on a bad chunk size (not hex, more
 * than 16 digits, whitespace without an extension), an overlong size line, a missing CRLF or a
 * control character, and KHO_E_TOO_LARGE when a chunk would take out past its ceiling (checked
 * as soon as the size is known) or the trailers exceed HTTP_CHUNK_TRAILER_MAX. After an error
 * the state is unusable and the connection must be closed. */
enum kho_err http_chunked_decode(struct http_chunked *c, const char *in, size_t in_len,
                                 size_t *in_used, struct buf *out, bool *done);

#endif
