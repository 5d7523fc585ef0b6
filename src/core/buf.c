/* Bounded growable buffer; see buf.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/buf.h"
#include "core/xmalloc.h"

void buf_init(struct buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void buf_free(struct buf *b)
{
    free(b->p);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static enum kho_err reserve(struct buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return KHO_E_TOO_LARGE;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return KHO_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
    return KHO_OK;
}

enum kho_err buf_append(struct buf *b, const void *data, size_t n)
{
    enum kho_err rc = reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return KHO_OK;
}

enum kho_err buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum kho_err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KHO_E_INVALID;
    enum kho_err rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KHO_OK;
}
