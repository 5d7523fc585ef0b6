/* The blob store interface: opaque bytes under 64-bit keys. Callers see only this header;
 * each backend (volume.c: local Haystack-style volumes; s3.c: an S3 bucket) fills in the ops
 * table. All functions are thread-safe. */
#ifndef KHO_BLOB_H
#define KHO_BLOB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/err.h"

struct blob_store;

/* A readable span of a stored blob, pinned until blob_ref_release: the bytes are
 * [off, off+len) of the open file descriptor fd, which stays valid (even across compaction)
 * while the ref is held. Serve it with sendfile; never write to fd.
 * A ref with stream set (remote backends) has no file: open only learnt len, and fd is -1 until
 * blob_ref_stream makes it the non-blocking read end of a pipe carrying the requested span. */
struct blob_ref {
    int fd;
    off_t off;
    uint64_t len;
    bool stream;
    void *pin; /* backend-private; released by blob_ref_release */
};

struct blob_stats {
    uint64_t blobs;         /* live blobs */
    uint64_t bytes;         /* live payload bytes */
    uint64_t volumes;       /* backend-specific containers */
    uint64_t disk_bytes;    /* bytes on disk, dead records included */
    uint64_t garbage_bytes; /* dead bytes awaiting compaction */
    uint64_t index_bytes;   /* RAM used by the in-memory index */
};

/* Called for each live blob by iterate; return non-zero to stop early (that value is returned). */
typedef int (*blob_iter_fn)(uint64_t key, uint64_t len, void *arg);

struct blob_ops {
    const char *name;
    /* Operations wait on the network: call them from worker threads, never an event loop. */
    bool remote;
    /* Store len bytes under key, replacing any previous value. Returns only once the bytes and
     * their index entry are durable (fsync'd); concurrent puts share syncs (group commit). */
    enum kho_err (*put)(struct blob_store *s, uint64_t key, const void *data, size_t len);
    /* Pin the blob for zero-copy reading. KHO_E_NOTFOUND when absent. */
    enum kho_err (*open)(struct blob_store *s, uint64_t key, struct blob_ref *out);
    /* Like open, for a caller that knows the blob's length (recorded when it was put): a remote
     * backend then skips the request that would learn it, so the ref's len is len as given and
     * an absent or shorter blob shows only when its bytes are read or streamed. NULL for
     * backends whose open costs nothing (blob_ref_open_len then calls open). */
    enum kho_err (*open_len)(struct blob_store *s, uint64_t key, uint64_t len,
                             struct blob_ref *out);
    /* Copy the blob into a malloc'd buffer the caller frees, after verifying its checksum;
     * KHO_E_TOO_LARGE when it is bigger than max. */
    enum kho_err (*read)(struct blob_store *s, uint64_t key, size_t max, void **data, size_t *len);
    /* Durably remove key. KHO_E_NOTFOUND when absent. */
    enum kho_err (*del)(struct blob_store *s, uint64_t key);
    /* Size of a stored blob; KHO_E_NOTFOUND when absent. */
    enum kho_err (*stat)(struct blob_store *s, uint64_t key, uint64_t *len);
    /* Visit every live blob (order unspecified). */
    enum kho_err (*iterate)(struct blob_store *s, blob_iter_fn fn, void *arg);
    void (*stats)(struct blob_store *s, struct blob_stats *out);
    /* Check the backend is usable (for /readyz). */
    enum kho_err (*ping)(struct blob_store *s);
    void (*release_ref)(struct blob_store *s, struct blob_ref *ref);
    /* For a stream ref: start sending bytes [off, off+len) of the blob into a pipe whose
     * non-blocking read end becomes ref->fd, without blocking the caller. Exactly len bytes
     * arrive, then end of file; fewer and then end of file when the transfer failed midway (the
     * consumer must then abandon the response). Releasing the ref closes the read end, which
     * ends the transfer. KHO_E_BUSY when too many streams run. NULL for file backends. */
    enum kho_err (*stream)(struct blob_store *s, struct blob_ref *ref, uint64_t off, uint64_t len);
    /* Copy bytes [off, off+len) of the blob into dst, which holds len bytes: for spans of a
     * remote store up to BLOB_SPAN_INLINE_MAX, where one bounded request costs less than a
     * stream's thread and pipe. KHO_E_NOTFOUND when absent; KHO_E_BACKEND when the store fails
     * or gives other than len bytes; KHO_E_TOO_LARGE when len exceeds BLOB_SPAN_INLINE_MAX.
     * NULL for file backends. */
    enum kho_err (*read_span)(struct blob_store *s, uint64_t key, uint64_t off, size_t len,
                              void *dst);
    /* Reclaim space held by dead records in containers whose dead share is at least
     * min_garbage_ratio, while reads and writes go on. *reclaimed gets the bytes freed.
     * NULL for backends that reclaim on their own. */
    enum kho_err (*compact)(struct blob_store *s, double min_garbage_ratio, uint64_t *reclaimed);
    /* Flush and sync everything, then free the store. */
    void (*close)(struct blob_store *s);
};

struct blob_store {
    const struct blob_ops *ops;
};

/* The largest span read_span copies: below it a remote blob is read into memory, above it
 * streamed, so no response is ever buffered whole past this ceiling. */
#define BLOB_SPAN_INLINE_MAX ((size_t)256 << 10)

/* Open the store named by url ("volume:DIR" or "s3://BUCKET?endpoint=URL&region=R", see s3.h).
 * volume_max_bytes is the roll-over size of a
 * volume. A store is used by one process at a time: KHO_E_BUSY when another holds it.
 * Errors are logged with their cause. */
enum kho_err blob_open(const char *url, uint64_t volume_max_bytes, struct blob_store **out);

static inline enum kho_err blob_put(struct blob_store *s, uint64_t key, const void *d, size_t n)
{
    return s->ops->put(s, key, d, n);
}
static inline enum kho_err blob_ref_open(struct blob_store *s, uint64_t key, struct blob_ref *r)
{
    return s->ops->open(s, key, r);
}
static inline enum kho_err blob_ref_open_len(struct blob_store *s, uint64_t key, uint64_t len,
                                             struct blob_ref *r)
{
    return s->ops->open_len ? s->ops->open_len(s, key, len, r) : s->ops->open(s, key, r);
}
/* Whether a span of len bytes of s is better read with blob_read_span than opened and streamed. */
static inline bool blob_span_inline(const struct blob_store *s, uint64_t len)
{
    return s->ops->read_span && len <= BLOB_SPAN_INLINE_MAX;
}
static inline enum kho_err blob_read_span(struct blob_store *s, uint64_t key, uint64_t off,
                                          size_t len, void *dst)
{
    return s->ops->read_span(s, key, off, len, dst);
}
static inline void blob_ref_release(struct blob_store *s, struct blob_ref *r)
{
    s->ops->release_ref(s, r);
}
static inline enum kho_err blob_ref_stream(struct blob_store *s, struct blob_ref *r, uint64_t off,
                                           uint64_t len)
{
    return r->stream ? s->ops->stream(s, r, off, len) : KHO_OK;
}
static inline enum kho_err blob_read(struct blob_store *s, uint64_t key, size_t max, void **d,
                                     size_t *n)
{
    return s->ops->read(s, key, max, d, n);
}
static inline enum kho_err blob_del(struct blob_store *s, uint64_t key)
{
    return s->ops->del(s, key);
}
static inline enum kho_err blob_stat(struct blob_store *s, uint64_t key, uint64_t *len)
{
    return s->ops->stat(s, key, len);
}
static inline enum kho_err blob_compact(struct blob_store *s, double ratio, uint64_t *reclaimed)
{
    *reclaimed = 0;
    return s->ops->compact ? s->ops->compact(s, ratio, reclaimed) : KHO_OK;
}
static inline void blob_close(struct blob_store *s)
{
    if (s)
        s->ops->close(s);
}

#endif
