/* Lock-free counters plus per-route request counters and latency histograms, rendered in the
 * Prometheus text format. Route and status pairs live in a fixed table: routes are the static
 * patterns of the route tables, so the table cannot be grown by clients. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "core/kho.h"

struct counter_def {
    const char *name, *help, *type, *label;
    double scale; /* multiply the raw value (ns counters are shown in seconds) */
};

static const struct counter_def defs[M__COUNT] = {
    [M_HTTP_BYTES_IN] = {"kho_http_bytes_received_total", "request bytes received", "counter", 0, 1},
    [M_HTTP_BYTES_OUT] = {"kho_http_bytes_sent_total", "response bytes sent", "counter", 0, 1},
    [M_HTTP_CONNECTIONS] = {"kho_http_connections_total", "connections accepted", "counter", 0, 1},
    [M_UPLOADS] = {"kho_uploads_total", "images stored (new)", "counter", 0, 1},
    [M_UPLOAD_DEDUPS] = {"kho_upload_dedups_total", "uploads answered by an existing image",
                         "counter", 0, 1},
    [M_DELETES] = {"kho_deletes_total", "images deleted", "counter", 0, 1},
    [M_STORE_PUTS] = {"kho_store_puts_total", "blob store puts", "counter", 0, 1},
    [M_STORE_GETS] = {"kho_store_gets_total", "blob store reads", "counter", 0, 1},
    [M_STORE_DELETES] = {"kho_store_deletes_total", "blob store deletes", "counter", 0, 1},
    [M_STORE_SYNCS] = {"kho_store_syncs_total", "blob store sync rounds", "counter", 0, 1},
    [M_STORE_ERRORS] = {"kho_store_errors_total", "blob store errors", "counter", 0, 1},
    [M_STORE_COMPACTIONS] = {"kho_store_compactions_total", "volumes compacted", "counter", 0, 1},
    [M_STORE_COMPACTED_BYTES] = {"kho_store_compacted_bytes_total", "bytes reclaimed",
                                 "counter", 0, 1},
    [M_DB_READS] = {"kho_db_reads_total", "metadata reads", "counter", 0, 1},
    [M_DB_WRITES] = {"kho_db_writes_total", "metadata writes", "counter", 0, 1},
    [M_DB_COMMITS] = {"kho_db_commits_total", "metadata commits (group commit)", "counter", 0, 1},
    [M_DB_ERRORS] = {"kho_db_errors_total", "metadata errors", "counter", 0, 1},
    [M_LOGIN_FAILURES] = {"kho_login_failures_total", "failed logins", "counter", 0, 1},
    [M_RATE_LIMITED] = {"kho_rate_limited_total", "requests refused by a rate limit",
                        "counter", 0, 1},
    [M_WORKER_REJECTED] = {"kho_worker_rejected_total", "jobs refused by a full worker queue",
                           "counter", 0, 1},
    [M_VARIANTS_GENERATED] = {"kho_variants_generated_total", "variants made", "counter", 0, 1},
    [M_VARIANT_HITS] = {"kho_variant_hits_total", "variants served from the store", "counter", 0,
                        1},
    [M_THUMBS_DROPPED] = {"kho_eager_thumbs_dropped_total",
                          "upload thumbnails not made: the processing queue was full", "counter",
                          0, 1},
    [M_STAGE_RECEIVE_NS] = {"kho_upload_stage_seconds_total", "time spent per upload stage",
                            "counter", "receive", 1e-9},
    [M_STAGE_PROBE_NS] = {"kho_upload_stage_seconds_total", 0, 0, "probe", 1e-9},
    [M_STAGE_HASH_NS] = {"kho_upload_stage_seconds_total", 0, 0, "hash", 1e-9},
    [M_STAGE_APPEND_NS] = {"kho_upload_stage_seconds_total", 0, 0, "append", 1e-9},
    [M_STAGE_SYNC_NS] = {"kho_upload_stage_seconds_total", 0, 0, "sync", 1e-9},
    [M_STAGE_DB_NS] = {"kho_upload_stage_seconds_total", 0, 0, "db", 1e-9},
    [M_STAGE_THUMB_NS] = {"kho_upload_stage_seconds_total", 0, 0, "thumb", 1e-9},
    [M_CACHE_HITS] = {"kho_cache_hits_total", "record cache lookups answered from the cache",
                      "counter", 0, 1},
    [M_CACHE_MISSES] = {"kho_cache_misses_total", "record cache lookups that went to the database",
                        "counter", 0, 1},
    [M_CACHE_EVICTIONS] = {"kho_cache_evictions_total",
                           "cached records dropped to stay under --cache-bytes", "counter", 0, 1},
    [M_REDIS_ERRORS] = {"kho_redis_errors_total",
                        "failed Redis connects, commands and scripts (each served without Redis)",
                        "counter", 0, 1},
};

static _Atomic uint64_t counters[M__COUNT];

void metric_add(enum metric m, uint64_t n)
{
    atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

uint64_t metric_get(enum metric m)
{
    return atomic_load_explicit(&counters[m], memory_order_relaxed);
}

/* Latency buckets in seconds; the last is +Inf. */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5};
#define NBUCKETS (ARRAY_LEN(bounds) + 1)
#define MAX_ROUTES 64
#define MAX_PAIRS 512

struct route_hist {
    _Atomic(const char *) route;
    _Atomic uint64_t buckets[NBUCKETS];
    _Atomic uint64_t sum_ns, count;
};

struct pair {
    _Atomic(const char *) route;
    _Atomic int status;
    _Atomic uint64_t count;
};

static struct route_hist hists[MAX_ROUTES];
static struct pair pairs[MAX_PAIRS];
static pthread_mutex_t insert_lock = PTHREAD_MUTEX_INITIALIZER;

static struct route_hist *hist_for(const char *route)
{
    for (int i = 0; i < MAX_ROUTES; i++) {
        const char *r = atomic_load(&hists[i].route);
        if (r == route)
            return &hists[i];
        if (!r)
            break;
    }
    struct route_hist *h = NULL;
    pthread_mutex_lock(&insert_lock);
    for (int i = 0; i < MAX_ROUTES && !h; i++) {
        const char *r = atomic_load(&hists[i].route);
        if (r == route)
            h = &hists[i];
        else if (!r) {
            atomic_store(&hists[i].route, route);
            h = &hists[i];
        }
    }
    pthread_mutex_unlock(&insert_lock);
    return h;
}

static struct pair *pair_for(const char *route, int status)
{
    for (int i = 0; i < MAX_PAIRS; i++) {
        const char *r = atomic_load(&pairs[i].route);
        if (!r)
            break;
        if (r == route && atomic_load(&pairs[i].status) == status)
            return &pairs[i];
    }
    struct pair *p = NULL;
    pthread_mutex_lock(&insert_lock);
    for (int i = 0; i < MAX_PAIRS && !p; i++) {
        const char *r = atomic_load(&pairs[i].route);
        if (r == route && atomic_load(&pairs[i].status) == status)
            p = &pairs[i];
        else if (!r) {
            /* status first: readers match on route, which is published last */
            atomic_store(&pairs[i].status, status);
            atomic_store(&pairs[i].route, route);
            p = &pairs[i];
        }
    }
    pthread_mutex_unlock(&insert_lock);
    return p;
}

void metrics_request(const char *route, int status, uint64_t duration_ns)
{
    struct pair *p = pair_for(route, status);
    if (p)
        atomic_fetch_add_explicit(&p->count, 1, memory_order_relaxed);
    struct route_hist *h = hist_for(route);
    if (!h)
        return;
    double secs = (double)duration_ns * 1e-9;
    size_t b = 0;
    while (b < ARRAY_LEN(bounds) && secs > bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, duration_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

enum kho_err metrics_render(struct buf *out)
{
    enum kho_err rc = KHO_OK;
    const char *last = NULL;
    for (int m = 0; m < M__COUNT && !rc; m++) {
        const struct counter_def *d = &defs[m];
        if (!last || strcmp(last, d->name) != 0)
            rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
                            d->type);
        last = d->name;
        if (rc)
            break;
        uint64_t v = metric_get((enum metric)m);
        if (d->label)
            rc = buf_printf(out, "%s{stage=\"%s\"} %.9g\n", d->name, d->label, (double)v * d->scale);
        else
            rc = buf_printf(out, "%s %llu\n", d->name, (unsigned long long)v);
    }
    if (!rc)
        rc = buf_puts(out, "# HELP kho_http_requests_total HTTP requests by route and status\n"
                           "# TYPE kho_http_requests_total counter\n");
    for (int i = 0; i < MAX_PAIRS && !rc; i++) {
        const char *r = atomic_load(&pairs[i].route);
        if (!r)
            break;
        rc = buf_printf(out, "kho_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", r,
                        atomic_load(&pairs[i].status),
                        (unsigned long long)atomic_load(&pairs[i].count));
    }
    if (!rc)
        rc = buf_puts(out, "# HELP kho_http_request_duration_seconds request latency by route\n"
                           "# TYPE kho_http_request_duration_seconds histogram\n");
    for (int i = 0; i < MAX_ROUTES && !rc; i++) {
        const char *r = atomic_load(&hists[i].route);
        if (!r)
            break;
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS && !rc; b++) {
            cum += atomic_load(&hists[i].buckets[b]);
            if (b < ARRAY_LEN(bounds))
                rc = buf_printf(out,
                                "kho_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                                "%llu\n",
                                r, bounds[b], (unsigned long long)cum);
            else
                rc = buf_printf(out,
                                "kho_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                                "%llu\n",
                                r, (unsigned long long)cum);
        }
        if (!rc)
            rc = buf_printf(out,
                            "kho_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
                            "kho_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                            r, (double)atomic_load(&hists[i].sum_ns) * 1e-9, r,
                            (unsigned long long)atomic_load(&hists[i].count));
    }
    return rc;
}
