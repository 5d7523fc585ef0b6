/* Header value grammar shared by the request parser and multipart: tokens, lists, parameters,
 * media types, single byte ranges and entity-tag lists; see headers.h. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "http/headers.h"
#include "core/kho.h"

bool http_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

bool http_token_eq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static size_t skip_ows(const char *v, size_t len, size_t pos)
{
    while (pos < len && is_ows(v[pos]))
        pos++;
    return pos;
}

bool http_list_has(const char *v, size_t len, const char *token)
{
    size_t pos = 0;
    while (pos < len) {
        size_t start = skip_ows(v, len, pos);
        const char *comma = memchr(v + start, ',', len - start);
        size_t end = comma ? (size_t)(comma - v) : len;
        size_t e = end;
        while (e > start && is_ows(v[e - 1]))
            e--;
        if (http_token_eq(v + start, e - start, token))
            return true;
        pos = end + 1;
    }
    return false;
}

/* qdtext and the second byte of a quoted-pair: HTAB, SP, VCHAR, obs-text (RFC 9110 5.6.4). */
static bool is_qchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Length of the quoted string opening at v[pos] (quotes included), or 0 if unterminated or it
 * holds a control character. */
static size_t quoted_len(const char *v, size_t len, size_t pos)
{
    for (size_t i = pos + 1; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"')
            return i + 1 - pos;
        if (c == '\\') {
            if (i + 1 >= len || !is_qchar((unsigned char)v[i + 1]))
                return 0;
            i++;
        } else if (!is_qchar(c)) {
            return 0;
        }
    }
    return 0;
}

static size_t token_end(const char *v, size_t len, size_t pos)
{
    while (pos < len && http_tchar((unsigned char)v[pos]))
        pos++;
    return pos;
}

enum kho_err http_param_next(const char *v, size_t len, size_t *pos, struct http_param *p)
{
    size_t i = *pos;
    for (;;) {
        i = skip_ows(v, len, i);
        if (i == len) {
            *pos = i;
            return KHO_E_NOTFOUND;
        }
        if (v[i] != ';')
            return KHO_E_INVALID;
        i = skip_ows(v, len, i + 1);
        if (i < len && v[i] != ';')
            break;
    }
    size_t name_end = token_end(v, len, i);
    if (name_end == i || name_end == len || v[name_end] != '=')
        return KHO_E_INVALID;
    p->name = v + i;
    p->name_len = name_end - i;
    i = name_end + 1;
    if (i < len && v[i] == '"') {
        size_t q = quoted_len(v, len, i);
        if (q == 0)
            return KHO_E_INVALID;
        p->value = v + i + 1;
        p->value_len = q - 2;
        p->quoted = true;
        i += q;
    } else {
        size_t end = token_end(v, len, i);
        if (end == i)
            return KHO_E_INVALID;
        p->value = v + i;
        p->value_len = end - i;
        p->quoted = false;
        i = end;
    }
    *pos = i;
    return KHO_OK;
}

/* Parse "type/subtype" at the start of v (after optional whitespace) into v[*begin..*end). */
static enum kho_err media_range(const char *v, size_t len, size_t *begin, size_t *end)
{
    size_t i = skip_ows(v, len, 0);
    size_t slash = token_end(v, len, i);
    if (slash == i || slash == len || v[slash] != '/')
        return KHO_E_INVALID;
    size_t sub_end = token_end(v, len, slash + 1);
    if (sub_end == slash + 1)
        return KHO_E_INVALID;
    *begin = i;
    *end = sub_end;
    return KHO_OK;
}

enum kho_err http_media_type(const char *v, size_t len, char *type, size_t type_cap)
{
    size_t begin, end;
    enum kho_err rc = media_range(v, len, &begin, &end);
    if (rc)
        return rc;
    size_t pos = end;
    struct http_param p;
    for (;;) {
        rc = http_param_next(v, len, &pos, &p);
        if (rc == KHO_E_NOTFOUND)
            break;
        if (rc)
            return rc;
    }
    size_t n = end - begin;
    if (n >= type_cap)
        return KHO_E_TOO_LARGE;
    for (size_t i = 0; i < n; i++)
        type[i] = (char)lower((unsigned char)v[begin + i]);
    type[n] = '\0';
    return KHO_OK;
}

/* Copy a parameter value into out as a C string, resolving quoted-pairs. */
static bool param_copy(const struct http_param *p, char *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < p->value_len; i++) {
        char c = p->value[i];
        if (p->quoted && c == '\\')
            c = p->value[++i]; /* http_param_next guarantees a byte follows */
        if (n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    if (cap == 0)
        return false;
    out[n] = '\0';
    *out_len = n;
    return true;
}

/* Find the first parameter called name of the media type v[0..len). The whole value is checked
 * so that garbage after a parameter never goes unnoticed ("boundary=abc\xff" is not "abc"). */
static bool find_param(const char *v, size_t len, const char *name, struct http_param *p)
{
    size_t begin, pos;
    bool found = false;
    if (media_range(v, len, &begin, &pos))
        return false;
    for (;;) {
        struct http_param cur;
        enum kho_err rc = http_param_next(v, len, &pos, &cur);
        if (rc == KHO_E_NOTFOUND)
            return found;
        if (rc)
            return false;
        if (!found && http_token_eq(cur.name, cur.name_len, name)) {
            *p = cur;
            found = true;
        }
    }
}

bool http_media_param(const char *v, size_t len, const char *param, char *out, size_t cap)
{
    struct http_param p;
    size_t n;
    return find_param(v, len, param, &p) && param_copy(&p, out, cap, &n);
}

/* bchars of RFC 2046 section 5.1.1. */
static bool is_bchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

enum kho_err http_media_boundary(const char *v, size_t len, char *out, size_t cap, size_t *out_len)
{
    struct http_param p;
    if (!find_param(v, len, "boundary", &p))
        return KHO_E_INVALID;
    if (!param_copy(&p, out, cap, out_len))
        return p.value_len > HTTP_BOUNDARY_MAX ? KHO_E_INVALID : KHO_E_TOO_LARGE;
    size_t n = *out_len;
    if (n == 0 || n > HTTP_BOUNDARY_MAX || out[n - 1] == ' ')
        return KHO_E_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!is_bchar((unsigned char)out[i]))
            return KHO_E_INVALID;
    return KHO_OK;
}

/* Read 1+ decimal digits at v[*pos], saturating at UINT64_MAX: a position past any real size
 * must still read as "past the end", not wrap around. */
static bool digits_sat(const char *v, size_t len, size_t *pos, uint64_t *out)
{
    size_t i = *pos;
    uint64_t n = 0;
    while (i < len && v[i] >= '0' && v[i] <= '9') {
        unsigned d = (unsigned)(v[i] - '0');
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
        i++;
    }
    if (i == *pos)
        return false;
    *pos = i;
    *out = n;
    return true;
}

enum http_range_result http_parse_range(const char *v, size_t len, uint64_t size, uint64_t *start,
                                        uint64_t *end_incl)
{
    if (!v)
        return RANGE_NONE;
    while (len > 0 && is_ows(v[len - 1]))
        len--;
    size_t i = skip_ows(v, len, 0);
    const char *eq = memchr(v + i, '=', len - i);
    if (!eq || !http_token_eq(v + i, (size_t)(eq - v) - i, "bytes"))
        return RANGE_NONE;
    i = skip_ows(v, len, (size_t)(eq - v) + 1);
    uint64_t first, last = UINT64_MAX;
    if (i < len && v[i] == '-') {
        i++;
        uint64_t suffix;
        if (!digits_sat(v, len, &i, &suffix) || i != len)
            return RANGE_NONE;
        if (suffix == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *start = suffix >= size ? 0 : size - suffix;
        *end_incl = size - 1;
        return RANGE_OK;
    }
    if (!digits_sat(v, len, &i, &first) || i == len || v[i] != '-')
        return RANGE_NONE;
    i++;
    if (i < len && !digits_sat(v, len, &i, &last))
        return RANGE_NONE;
    if (i != len || first > last)
        return RANGE_NONE;
    if (first >= size)
        return RANGE_UNSATISFIABLE;
    *start = first;
    *end_incl = last >= size ? size - 1 : last;
    return RANGE_OK;
}

/* Skip an optional weak prefix: weak comparison ignores it. */
static const char *strip_weak(const char *t, size_t *len)
{
    if (*len >= 2 && t[0] == 'W' && t[1] == '/') {
        *len -= 2;
        return t + 2;
    }
    return t;
}

bool http_etag_match(const char *v, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    const char *e = strip_weak(etag, &elen);
    while (len > 0 && is_ows(v[len - 1]))
        len--;
    size_t i = skip_ows(v, len, 0);
    if (len - i == 1 && v[i] == '*')
        return true;
    while (i < len) {
        if (v[i] == ',') {
            i = skip_ows(v, len, i + 1);
            continue;
        }
        if (len - i >= 2 && v[i] == 'W' && v[i + 1] == '/')
            i += 2;
        if (i == len || v[i] != '"')
            return false;
        size_t j = i + 1;
        /* etagc: %x21 / %x23-7E / obs-text */
        while (j < len && v[j] != '"' && (unsigned char)v[j] > 0x20 && v[j] != 0x7f)
            j++;
        if (j == len || v[j] != '"')
            return false;
        size_t tlen = j + 1 - i;
        if (tlen == elen && memcmp(v + i, e, elen) == 0)
            return true;
        i = skip_ows(v, len, j + 1);
        if (i < len && v[i] != ',')
            return false;
    }
    return false;
}
