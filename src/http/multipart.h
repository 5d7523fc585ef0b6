/* multipart/form-data (RFC 7578 over RFC 2046) parser for bodies already held in memory: finds
 * the parts without copying them and hands each to a callback. */
#ifndef KHO_HTTP_MULTIPART_H
#define KHO_HTTP_MULTIPART_H
#include <stddef.h>
#include "core/err.h"

#define MULTIPART_MAX_PARTS 32
#define MULTIPART_MAX_PART_HEADERS 16
#define MULTIPART_MAX_HEADER_BLOCK 8192 /* one part's header lines with the empty line */

/* One part. Every pointer points into the body given to multipart_parse; nothing is
 * NUL-terminated. name and filename are the raw parameter values of Content-Disposition: for a
 * quoted string the text between the quotes with any backslash left in place (an escaped quote
 * does not end the string, but is not unescaped: that would need a copy; browsers percent-encode
 * '"' as %22 instead of escaping it). filename is NULL when there is none and may be empty (a
 * file input left empty), and may hold a client-side path: take what follows the last '/' or
 * '\'. content_type is the trimmed Content-Type value, NULL when absent (meaning text/plain). */
struct multipart_part {
    const char *name;
    size_t name_len;
    const char *filename;
    size_t filename_len;
    const char *content_type;
    size_t content_type_len;
    const char *data;
    size_t len;
};

/* Parse the multipart body[0..len) delimited by boundary[0..boundary_len) (the parameter value,
 * without the leading "--", 1..70 bytes; its characters are checked by http_media_boundary).
 *
 * The whole body is checked before the first call to part_cb, so the callback never sees parts of
 * a body that turns out to be malformed. Then part_cb is called once per part, in order; when it
 * returns non-zero the parse stops and that value is returned: it should be an enum kho_err
 * (values outside the enum become KHO_E_INVALID).
 *
 * Rules: a preamble before the first delimiter and an epilogue after the final "--boundary--" are
 * ignored; delimiters are recognised only at the start of the body or after CRLF; a delimiter
 * line may end in spaces or tabs (transport padding) but anything else after the boundary,
 * including more boundary-like characters, is rejected rather than taken as data; every part must
 * have "Content-Disposition: form-data" with a name parameter (header names are
 * case-insensitive; Content-Disposition and Content-Type may appear once each).
 *
 * Returns KHO_OK, KHO_E_INVALID on malformed input (no delimiter, no final delimiter, bad header
 * lines, a missing name), KHO_E_TOO_LARGE for more than MULTIPART_MAX_PARTS parts, more than
 * MULTIPART_MAX_PART_HEADERS header lines in a part or a header block longer than
 * MULTIPART_MAX_HEADER_BLOCK, or the callback's value. */
enum kho_err multipart_parse(const char *body, size_t len, const char *boundary,
                             size_t boundary_len,
                             int (*part_cb)(const struct multipart_part *p, void *arg), void *arg);

#endif
