/* Chunked bump allocator with a ceiling and a cleanup list; see arena.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/arena.h"
#include "core/xmalloc.h"

#define CHUNK_MIN 8192
#define ALIGN 16

struct arena_chunk {
    struct arena_chunk *prev;
    size_t size, off;
    _Alignas(ALIGN) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *p;
};

void arena_init(struct arena *a, size_t limit)
{
    a->chunk = NULL;
    a->cleanups = NULL;
    a->used = 0;
    a->limit = limit;
}

void arena_release(struct arena *a)
{
    struct arena_cleanup *c = a->cleanups;
    while (c) {
        struct arena_cleanup *next = c->next;
        c->fn(c->p);
        c = next;
    }
    struct arena_chunk *k = a->chunk;
    while (k) {
        struct arena_chunk *prev = k->prev;
        free(k);
        k = prev;
    }
    arena_init(a, a->limit);
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < n)
        return NULL;
    struct arena_chunk *k = a->chunk;
    if (!k || k->size - k->off < need) {
        size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
        if (k && size < k->size * 2 && k->size * 2 <= a->limit / 4)
            size = k->size * 2; /* grow chunks geometrically, within reason */
        if (size > a->limit || a->used > a->limit - size)
            return NULL;
        k = xmalloc(sizeof(*k) + size);
        k->prev = a->chunk;
        k->size = size;
        k->off = 0;
        a->chunk = k;
        a->used += size;
    }
    void *p = k->data + k->off;
    k->off += need;
    return p;
}

void *arena_calloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

enum kho_err arena_defer(struct arena *a, void (*fn)(void *), void *p)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof(*c));
    if (!c) {
        fn(p);
        return KHO_E_NOMEM;
    }
    c->fn = fn;
    c->p = p;
    c->next = a->cleanups;
    a->cleanups = c;
    return KHO_OK;
}
