/* Parsers for the grammar of individual request header values (RFC 9110): tokens, comma lists,
 * parameters, media types (Content-Type), Range and If-None-Match. Pure functions on byte ranges;
 * none of them allocates. */
#ifndef KHO_HTTP_HEADERS_H
#define KHO_HTTP_HEADERS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

/* Longest multipart boundary (RFC 2046 section 5.1.1). */
#define HTTP_BOUNDARY_MAX 70

/* Whether c is a tchar, i.e. may appear in a token (method, header name, parameter name). */
bool http_tchar(unsigned char c);

/* Whether s[0..len) equals the NUL-terminated lit, ignoring ASCII case. */
bool http_token_eq(const char *s, size_t len, const char *lit);

/* Whether the comma-separated list v[0..len) (e.g. a Connection value) has an element equal to
 * token, ignoring ASCII case and optional whitespace. Empty elements are skipped. */
bool http_list_has(const char *v, size_t len, const char *token);

/* One "; name=value" parameter. A quoted value is given raw, without its quotes and with its
 * backslash escapes left in place (quoted is then true); see http_media_param to resolve them. */
struct http_param {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    bool quoted;
};

/* Read the next parameter of v[0..len) from *pos, which the caller sets to the end of what
 * precedes the parameters (e.g. the media type) and this function advances. Empty parameters
 * (";;") are skipped. Returns KHO_OK with *p filled, KHO_E_NOTFOUND when only optional
 * whitespace is left, KHO_E_INVALID on malformed input (missing ';' or '=', a bad token, an
 * unterminated quoted string or a control character). */
enum kho_err http_param_next(const char *v, size_t len, size_t *pos, struct http_param *p);

/* Parse a media type such as a Content-Type value, "Type/Sub; charset=utf-8", checking the whole
 * value including its parameters. Writes the lower-cased "type/subtype" into type as a C string.
 * Returns KHO_E_INVALID on malformed input and KHO_E_TOO_LARGE when it does not fit in type_cap
 * bytes (NUL included). */
enum kho_err http_media_type(const char *v, size_t len, char *type, size_t type_cap);

/* Copy the value of the first parameter called param (ASCII case-insensitive) of the media type
 * v[0..len) into out as a C string, with quoted-string escapes resolved. False when v is
 * malformed anywhere, the parameter is absent, or the value (NUL included) does not fit in cap
 * bytes. */
bool http_media_param(const char *v, size_t len, const char *param, char *out, size_t cap);

/* Extract the boundary parameter of a multipart media type v[0..len) into out (a C string, so
 * cap should be at least HTTP_BOUNDARY_MAX + 1) and its length into *out_len. The boundary must
 * be 1..HTTP_BOUNDARY_MAX characters of RFC 2046's bchars, not ending in a space. Returns
 * KHO_E_INVALID when it is absent or invalid, KHO_E_TOO_LARGE when it does not fit in cap. It
 * does not check the media type itself: see http_media_type. */
enum kho_err http_media_boundary(const char *v, size_t len, char *out, size_t cap, size_t *out_len);

enum http_range_result {
    RANGE_NONE,          /* no usable range: serve the whole representation (200) */
    RANGE_OK,            /* serve [*start, *end_incl] (206) */
    RANGE_UNSATISFIABLE, /* 416 with "Content-Range: bytes (star)/size" */
};

/* Interpret a Range header value v[0..len) (NULL when absent) for a representation of size
 * bytes. Only a single "bytes=a-b", "bytes=a-" or "bytes=-n" range is served: a malformed value,
 * another unit, several ranges or a > b give RANGE_NONE, as RFC 9110 allows a server to ignore
 * Range. A last position at or past the end is clamped to size - 1; numbers too large for 64 bits
 * saturate, so they behave as "past the end". A first position at or past size, a suffix of 0 or
 * any range of an empty representation gives RANGE_UNSATISFIABLE. start and end_incl are only
 * written on RANGE_OK. */
enum http_range_result http_parse_range(const char *v, size_t len, uint64_t size, uint64_t *start,
                                        uint64_t *end_incl);

/* Whether the If-None-Match value v[0..len) matches etag, a C string with its quotes
 * ("\"abc\"" or "W/\"abc\""), by weak comparison (W/ prefixes ignored). "*" matches any etag.
 * A malformed list matches nothing (from the first malformed element on), so the full response
 * is sent. */
bool http_etag_match(const char *v, size_t len, const char *etag);

#endif
