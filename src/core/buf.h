/* Growable byte buffer with a ceiling (after curl's dynbuf): appends past max fail with
 * KHO_E_TOO_LARGE and leave the buffer as it was. The buffer owns its memory; buf_free releases it.
 * The content is always NUL-terminated, so it can be used as a C string. */
#ifndef KHO_BUF_H
#define KHO_BUF_H
#include <stddef.h>
#include "core/err.h"

struct buf {
    char *p;
    size_t len, cap, max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* length to 0, memory kept */
enum kho_err buf_append(struct buf *b, const void *data, size_t n);
enum kho_err buf_puts(struct buf *b, const char *s);
enum kho_err buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
