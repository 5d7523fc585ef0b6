/* multipart/form-data parser over an in-memory body; see multipart.h for the rules. */
#include <stdbool.h>
#include <string.h>
#include "http/multipart.h"
#include "http/headers.h"
#include "http/parser.h"
#include "core/kho.h"

/* "\r\n--" followed by the boundary: the delimiter as it appears between parts. */
struct delim {
    char s[4 + HTTP_BOUNDARY_MAX];
    size_t len;
};

/* Content-Disposition: form-data; name="..."[; filename="..."] */
static enum kho_err disposition(const char *v, size_t n, struct multipart_part *p)
{
    size_t pos = 0;
    while (pos < n && http_tchar((unsigned char)v[pos]))
        pos++;
    if (!http_token_eq(v, pos, "form-data"))
        return KHO_E_INVALID;
    struct http_param prm;
    for (;;) {
        enum kho_err rc = http_param_next(v, n, &pos, &prm);
        if (rc == KHO_E_NOTFOUND)
            break;
        if (rc)
            return rc;
        const char **field;
        size_t *field_len;
        if (http_token_eq(prm.name, prm.name_len, "name")) {
            field = &p->name;
            field_len = &p->name_len;
        } else if (http_token_eq(prm.name, prm.name_len, "filename")) {
            field = &p->filename;
            field_len = &p->filename_len;
        } else {
            continue;
        }
        if (*field)
            return KHO_E_INVALID; /* a repeated parameter is ambiguous */
        *field = prm.value;
        *field_len = prm.value_len;
    }
    return p->name ? KHO_OK : KHO_E_INVALID;
}

/* Read the header lines of a part starting at b[*pos] up to and including the empty line. */
static enum kho_err part_headers(const char *b, size_t len, size_t *pos, struct multipart_part *p)
{
    size_t start = *pos, i = *pos, nlines = 0;
    size_t limit =
        len - start > MULTIPART_MAX_HEADER_BLOCK ? start + MULTIPART_MAX_HEADER_BLOCK : len;
    bool have_cd = false;
    const char *why;
    for (;;) {
        size_t ls = i;
        while (i < limit && b[i] != '\r' && b[i] != '\n')
            i++;
        if (i + 1 >= limit)
            return limit == len ? KHO_E_INVALID : KHO_E_TOO_LARGE;
        if (b[i] != '\r' || b[i + 1] != '\n')
            return KHO_E_INVALID;
        size_t le = i;
        i += 2;
        if (le == ls)
            break;
        if (++nlines > MULTIPART_MAX_PART_HEADERS)
            return KHO_E_TOO_LARGE;
        struct http_header f;
        enum kho_err rc = http_parse_field(b + ls, le - ls, &f, &why);
        if (rc)
            return rc;
        if (http_token_eq(f.name, f.name_len, "content-disposition")) {
            if (have_cd)
                return KHO_E_INVALID;
            have_cd = true;
            rc = disposition(f.value, f.value_len, p);
            if (rc)
                return rc;
        } else if (http_token_eq(f.name, f.name_len, "content-type")) {
            if (p->content_type)
                return KHO_E_INVALID;
            p->content_type = f.value;
            p->content_type_len = f.value_len;
        }
    }
    if (!have_cd)
        return KHO_E_INVALID;
    *pos = i;
    return KHO_OK;
}

/* One pass over the body: with cb NULL it only validates. */
static enum kho_err scan(const char *b, size_t len, const struct delim *d,
                         int (*cb)(const struct multipart_part *p, void *arg), void *arg)
{
    /* The first delimiter may open the body, without the CRLF that belongs to a delimiter. */
    const char *dash = d->s + 2;
    size_t dash_len = d->len - 2, pos;
    if (len >= dash_len && memcmp(b, dash, dash_len) == 0) {
        pos = dash_len;
    } else {
        const char *first = memmem(b, len, d->s, d->len);
        if (!first)
            return KHO_E_INVALID;
        pos = (size_t)(first - b) + d->len;
    }
    for (size_t nparts = 0;; nparts++) {
        if (len - pos >= 2 && b[pos] == '-' && b[pos + 1] == '-')
            return KHO_OK;
        while (pos < len && (b[pos] == ' ' || b[pos] == '\t'))
            pos++;
        if (len - pos < 2 || b[pos] != '\r' || b[pos + 1] != '\n')
            return KHO_E_INVALID;
        pos += 2;
        if (nparts == MULTIPART_MAX_PARTS)
            return KHO_E_TOO_LARGE;
        struct multipart_part p = {0};
        enum kho_err rc = part_headers(b, len, &pos, &p);
        if (rc)
            return rc;
        /* Search from the CRLF that ended the headers: a part without a body may have its
         * delimiter right after the header lines, sharing that CRLF (RFC 2046 body-part). */
        const char *next = memmem(b + pos - 2, len - pos + 2, d->s, d->len);
        if (!next)
            return KHO_E_INVALID;
        p.data = b + pos;
        p.len = next < b + pos ? 0 : (size_t)(next - (b + pos));
        pos = (size_t)(next - b) + d->len;
        if (cb) {
            int r = cb(&p, arg);
            if (r)
                return (r > 0 && r < KHO_E__COUNT) ? (enum kho_err)r : KHO_E_INVALID;
        }
    }
}

enum kho_err multipart_parse(const char *body, size_t len, const char *boundary,
                             size_t boundary_len,
                             int (*part_cb)(const struct multipart_part *p, void *arg), void *arg)
{
    struct delim d;
    if (boundary_len == 0 || boundary_len > HTTP_BOUNDARY_MAX)
        return KHO_E_INVALID;
    memcpy(d.s, "\r\n--", 4);
    memcpy(d.s + 4, boundary, boundary_len);
    d.len = 4 + boundary_len;
    enum kho_err rc = scan(body, len, &d, NULL, NULL);
    if (rc)
        return rc;
    return scan(body, len, &d, part_cb, arg);
}
