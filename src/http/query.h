/* Percent-decoding of request paths, application/x-www-form-urlencoded strings (query strings and
 * form bodies) and Cookie header lookup. The caller supplies the output buffer; nothing
 * allocates. */
#ifndef KHO_HTTP_QUERY_H
#define KHO_HTTP_QUERY_H
#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

/* Find the first "name=value" pair of the form-urlencoded string q[0..qlen) (pairs separated
 * by '&', without the leading '?') whose decoded name equals name, and percent-decode its value
 * ('+' is a space) into out as a C string, its length in *out_len (out_len may be NULL). A pair
 * without '=' has an empty value. False when there is no such pair, or its value has an invalid
 * %-escape, decodes to a NUL byte, or does not fit in cap bytes with its NUL; out is then
 * unspecified. Pairs with invalid escapes in their names never match. */
bool query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap,
               size_t *out_len);

/* Whether q[0..qlen) has a pair whose decoded name equals name (with or without a value). */
bool query_has(const char *q, size_t qlen, const char *name);

/* Percent-decode a request path in[0..len) (the target up to '?') into out as a C string, its
 * length in *out_len. '+' stays '+'. Returns KHO_E_INVALID for an invalid %-escape, for %2F
 * (an encoded '/', which would let one path segment stand for two once decoded: routes split
 * on '/' after decoding) and for control characters, encoded or not, including NUL; and
 * KHO_E_TOO_LARGE when the result with its NUL does not fit in cap bytes. Decoded bytes are not
 * checked to be UTF-8 and dot segments are left alone: routes match whole segments. */
enum kho_err http_path_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len);

/* Copy the value of the first cookie called name (case-sensitive, RFC 6265) from the Cookie
 * header h[0..len) ("a=b; c=d") into out as a C string, without the optional double quotes
 * around it. Values are not decoded. False when absent or when the value with its NUL does not
 * fit in cap bytes. */
bool cookie_get(const char *h, size_t len, const char *name, char *out, size_t cap);

/* Percent-encode in (everything but A-Z a-z 0-9 - . _ ~) into out, NUL-terminated. Returns the
 * length, or 0 (out = "") when it does not fit in cap. */
size_t query_encode(const char *in, char *out, size_t cap);

#endif
