/* Allocation wrappers that abort on out-of-memory (like redis's zmalloc): callers never check.
 * Sizes that come from clients must be bounded before they reach these. */
#ifndef KHO_XMALLOC_H
#define KHO_XMALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
