/* Per-request arena: bump allocation for everything that dies with a request, plus deferred
 * cleanups for library objects (VipsImage, sqlite3_stmt, json_t...) run at release, newest first.
 * An arena has a ceiling; allocations past it fail with NULL so a client cannot grow it unbounded. */
#ifndef KHO_ARENA_H
#define KHO_ARENA_H
#include <stddef.h>
#include "core/err.h"

struct arena_chunk;
struct arena_cleanup;

struct arena {
    struct arena_chunk *chunk; /* current chunk, linked to older ones */
    struct arena_cleanup *cleanups;
    size_t used;  /* bytes taken from the system so far */
    size_t limit; /* ceiling on used */
};

/* Initialise an empty arena that may take up to limit bytes. */
void arena_init(struct arena *a, size_t limit);
/* Run cleanups (newest first) and free every chunk. The arena may be initialised again. */
void arena_release(struct arena *a);

/* n bytes aligned to 16, or NULL when the arena's limit would be exceeded. */
void *arena_alloc(struct arena *a, size_t n);
/* Like arena_alloc, zeroed. */
void *arena_calloc(struct arena *a, size_t n);
/* Copy of s[0..n) with a terminating NUL, or NULL past the limit. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
/* printf into the arena; NULL past the limit. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Run fn(p) when the arena is released. Returns KHO_E_NOMEM past the limit, in which case fn(p)
 * has already been run so the object is never leaked. */
enum kho_err arena_defer(struct arena *a, void (*fn)(void *), void *p);

#endif
