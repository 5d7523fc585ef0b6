/* Percent-decoding for paths and form-urlencoded strings, and Cookie lookup; see query.h. */
#include <stdbool.h>
#include <string.h>
#include "http/query.h"
#include "core/hex.h"
#include "core/kho.h"

/* Decode the byte at s[*i] and step past it: -1 for a truncated or non-hex %-escape. */
static int next_byte(const char *s, size_t len, size_t *i, bool plus)
{
    unsigned char c = (unsigned char)s[*i];
    if (c != '%') {
        (*i)++;
        return (plus && c == '+') ? ' ' : c;
    }
    if (len - *i < 3)
        return -1;
    int hi = hex_value((unsigned char)s[*i + 1]), lo = hex_value((unsigned char)s[*i + 2]);
    if (hi < 0 || lo < 0)
        return -1;
    *i += 3;
    return hi << 4 | lo;
}

enum decode_mode { DECODE_FORM, DECODE_PATH };

static enum kho_err decode(const char *s, size_t len, enum decode_mode mode, char *out, size_t cap,
                           size_t *out_len)
{
    size_t i = 0, n = 0;
    while (i < len) {
        bool escaped = s[i] == '%';
        int c = next_byte(s, len, &i, mode == DECODE_FORM);
        if (c <= 0)
            return KHO_E_INVALID; /* a bad escape, or NUL which would cut the C string short */
        if (mode == DECODE_PATH && (c < 0x20 || c == 0x7f || (escaped && c == '/')))
            return KHO_E_INVALID;
        if (n + 1 >= cap)
            return KHO_E_TOO_LARGE;
        out[n++] = (char)c;
    }
    if (cap == 0)
        return KHO_E_TOO_LARGE;
    out[n] = '\0';
    *out_len = n;
    return KHO_OK;
}

/* Whether the form-encoded s[0..len) decodes to exactly name. */
static bool decoded_eq(const char *s, size_t len, const char *name)
{
    size_t i = 0, j = 0;
    while (i < len) {
        int c = next_byte(s, len, &i, true);
        if (c < 0 || name[j] == '\0' || (unsigned char)name[j] != c)
            return false;
        j++;
    }
    return name[j] == '\0';
}

/* Locate the value q[*vb..*ve) of the first pair called name; pairs with empty names are skipped.
 */
static bool find_pair(const char *q, size_t qlen, const char *name, size_t *vb, size_t *ve)
{
    size_t pos = 0;
    while (pos < qlen) {
        const char *amp = memchr(q + pos, '&', qlen - pos);
        size_t end = amp ? (size_t)(amp - q) : qlen;
        const char *eq = memchr(q + pos, '=', end - pos);
        size_t key_end = eq ? (size_t)(eq - q) : end;
        if (key_end > pos && decoded_eq(q + pos, key_end - pos, name)) {
            *vb = eq ? key_end + 1 : end;
            *ve = end;
            return true;
        }
        pos = end + 1;
    }
    return false;
}

bool query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap, size_t *out_len)
{
    size_t vb, ve, n;
    if (!find_pair(q, qlen, name, &vb, &ve))
        return false;
    if (decode(q + vb, ve - vb, DECODE_FORM, out, cap, &n))
        return false;
    if (out_len)
        *out_len = n;
    return true;
}

bool query_has(const char *q, size_t qlen, const char *name)
{
    size_t vb, ve;
    return find_pair(q, qlen, name, &vb, &ve);
}

enum kho_err http_path_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    return decode(in, len, DECODE_PATH, out, cap, out_len);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

bool cookie_get(const char *h, size_t len, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    size_t pos = 0;
    if (name_len == 0)
        return false;
    while (pos < len) {
        const char *semi = memchr(h + pos, ';', len - pos);
        size_t end = semi ? (size_t)(semi - h) : len;
        while (pos < end && is_ws(h[pos]))
            pos++;
        const char *eq = memchr(h + pos, '=', end - pos);
        if (eq && (size_t)(eq - h) - pos == name_len && memcmp(h + pos, name, name_len) == 0) {
            size_t vb = (size_t)(eq - h) + 1, ve = end;
            while (vb < ve && is_ws(h[vb]))
                vb++;
            while (ve > vb && is_ws(h[ve - 1]))
                ve--;
            if (ve - vb >= 2 && h[vb] == '"' && h[ve - 1] == '"') {
                vb++;
                ve--;
            }
            if (ve - vb >= cap)
                return false;
            memcpy(out, h + vb, ve - vb);
            out[ve - vb] = '\0';
            return true;
        }
        pos = end + 1;
    }
    return false;
}

size_t query_encode(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (o + (plain ? 1 : 3) >= cap) {
            if (cap)
                out[0] = '\0';
            return 0;
        }
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (cap)
        out[o] = '\0';
    return o;
}
