/* What every route handler can reach: settings, the storage backends, the worker pool and the
 * login limiters. One per process; built by server.c, read-only once serving starts. */
#ifndef KHO_APP_H
#define KHO_APP_H
#include <stdatomic.h>
#include <stdint.h>
#include "auth/signature.h"
#include "core/config.h"

struct blob_store;
struct cache;
struct redis;
struct meta_store;
struct pool;
struct ratelimit;
struct flights;
struct apikey_touches;
struct watermark;

struct app {
    const struct kho_config *cfg;
    struct blob_store *blob;
    struct meta_store *meta;
    struct pool *pool;
    struct ratelimit *login_user_limit, *login_ip_limit;
    /* variants (issue #3) */
    struct pool *process_pool;   /* image processing, apart from the blocking-work pool */
    struct flights *flights;     /* variants being generated */
    struct signature_key sign_key;
    int sizes[32], nsizes;       /* allow-listed variant widths and heights */
    struct watermark *wm;        /* NULL when none is configured */
    uint64_t wm_hash;            /* part of variant keys: a new watermark makes new variants */
    _Atomic int64_t inflight_body_bytes; /* request body bytes reserved across the server */
    _Atomic int shutting_down;
    struct apikey_touches *key_touches; /* whose last use to write down (issue #4) */
    struct cache *cache; /* image records, users and logins (cached.h); NULL when off */
    struct redis *redis; /* shared by the nodes (--redis): the cache above, login limits,
                          * variant locks; NULL when not configured */
};

#endif
