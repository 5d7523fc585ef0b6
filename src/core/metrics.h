/* Process-wide counters and histograms for GET /metrics (Prometheus text format).
 * Every module bumps its own counters here; updates are lock-free atomics. */
#ifndef KHO_METRICS_H
#define KHO_METRICS_H
#include <stdint.h>
#include "core/buf.h"

enum metric {
    M_HTTP_BYTES_IN,
    M_HTTP_BYTES_OUT,
    M_HTTP_CONNECTIONS,
    M_UPLOADS,
    M_UPLOAD_DEDUPS,
    M_DELETES,
    M_STORE_PUTS,
    M_STORE_GETS,
    M_STORE_DELETES,
    M_STORE_SYNCS,
    M_STORE_ERRORS,
    M_STORE_COMPACTIONS,
    M_STORE_COMPACTED_BYTES,
    M_DB_READS,
    M_DB_WRITES,
    M_DB_COMMITS,
    M_DB_ERRORS,
    M_LOGIN_FAILURES,
    M_RATE_LIMITED,
    M_WORKER_REJECTED,
    M_VARIANTS_GENERATED,
    M_VARIANT_HITS,
    M_THUMBS_DROPPED,
    /* cumulative nanoseconds spent per upload stage */
    M_STAGE_RECEIVE_NS,
    M_STAGE_PROBE_NS,
    M_STAGE_HASH_NS,
    M_STAGE_APPEND_NS,
    M_STAGE_SYNC_NS,
    M_STAGE_DB_NS,
    M_STAGE_THUMB_NS, /* waiting (bounded) for the eager thumbnail */
    /* the record cache (src/cache) */
    M_CACHE_HITS,
    M_CACHE_MISSES,
    M_CACHE_EVICTIONS,
    /* the shared Redis (src/cache/redis.c) */
    M_REDIS_ERRORS,
    M__COUNT
};

void metric_add(enum metric m, uint64_t n);
static inline void metric_inc(enum metric m)
{
    metric_add(m, 1);
}
uint64_t metric_get(enum metric m);

/* Count one finished HTTP request: route is the route pattern ("/api/v1/images/{id}",
 * or "other"), which must be a string that lives for the whole process. */
void metrics_request(const char *route, int status, uint64_t duration_ns);

/* Append the Prometheus exposition of every counter and histogram to out. Gauges owned by
 * other modules (blobs stored, ...) are appended by the caller. */
enum kho_err metrics_render(struct buf *out);

#endif
