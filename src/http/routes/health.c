/* Liveness, readiness and Prometheus metrics. */
#include <string.h>
#include "blob/blob.h"
#include "cache/redis.h"
#include "http/app.h"
#include "http/router.h"
#include "http/server.h"
#include "image/probe.h"
#include "image/process.h"
#include "core/kho.h"

#define METRICS_MAX (1u << 20)

static enum kho_err healthz(struct req *r)
{
    return resp_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static enum kho_err readyz(struct req *r)
{
    if (r->app->meta->ops->ping(r->app->meta))
        return req_fail(r, KHO_E_BACKEND, "unavailable", "the metadata store is not usable");
    if (r->app->blob->ops->ping(r->app->blob))
        return req_fail(r, KHO_E_BACKEND, "unavailable", "the blob store is not usable");
    char in[128], out[128];
    probe_formats(in, sizeof(in));
    process_formats(out, sizeof(out));
    return resp_json(r, 200,
                     json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "status", "ready", "version",
                               KHO_VERSION, "db", r->app->meta->ops->name, "store",
                               r->app->blob->ops->name, "formats", "in", in, "out", out));
}

static void free_buf(void *p)
{
    buf_free(p);
}

static enum kho_err metrics(struct req *r)
{
    struct buf *b = arena_alloc(&r->arena, sizeof(*b));
    if (!b)
        return KHO_E_NOMEM;
    buf_init(b, METRICS_MAX);
    enum kho_err rc = arena_defer(&r->arena, free_buf, b);
    if (rc)
        return rc;
    struct blob_stats st;
    r->app->blob->ops->stats(r->app->blob, &st);
    rc = metrics_render(b);
    if (!rc)
        rc = buf_printf(
            b,
            "# HELP kho_blobs_stored live blobs in the store\n# TYPE kho_blobs_stored gauge\n"
            "kho_blobs_stored %llu\n"
            "# HELP kho_blob_bytes_stored live blob bytes\n# TYPE kho_blob_bytes_stored gauge\n"
            "kho_blob_bytes_stored %llu\n"
            "# HELP kho_store_volumes volumes\n# TYPE kho_store_volumes gauge\n"
            "kho_store_volumes %llu\n"
            "# HELP kho_store_disk_bytes bytes on disk\n# TYPE kho_store_disk_bytes gauge\n"
            "kho_store_disk_bytes %llu\n"
            "# HELP kho_store_garbage_bytes dead bytes awaiting compaction\n"
            "# TYPE kho_store_garbage_bytes gauge\nkho_store_garbage_bytes %llu\n"
            "# HELP kho_store_index_bytes RAM of the blob index\n"
            "# TYPE kho_store_index_bytes gauge\nkho_store_index_bytes %llu\n"
            "# HELP kho_http_inflight_requests requests being served\n"
            "# TYPE kho_http_inflight_requests gauge\nkho_http_inflight_requests %ld\n"
            "# HELP kho_http_inflight_body_bytes body bytes reserved by requests\n"
            "# TYPE kho_http_inflight_body_bytes gauge\nkho_http_inflight_body_bytes %lld\n"
            "# HELP kho_worker_jobs blocking jobs queued or running\n"
            "# TYPE kho_worker_jobs gauge\nkho_worker_jobs %zu\n"
            "# HELP kho_process_jobs image processing jobs queued or running\n"
            "# TYPE kho_process_jobs gauge\nkho_process_jobs %zu\n"
            "# HELP kho_redis_up 1 while the shared Redis is reachable, 0 when down or not "
            "configured\n# TYPE kho_redis_up gauge\nkho_redis_up %d\n",
            (unsigned long long)st.blobs, (unsigned long long)st.bytes,
            (unsigned long long)st.volumes, (unsigned long long)st.disk_bytes,
            (unsigned long long)st.garbage_bytes, (unsigned long long)st.index_bytes,
            atomic_load(&server_inflight), (long long)atomic_load(&r->app->inflight_body_bytes),
            pool_pending(r->app->pool),
            r->app->process_pool ? pool_pending(r->app->process_pool) : (size_t)0,
            r->app->redis && redis_up(r->app->redis) ? 1 : 0);
    if (rc)
        return rc;
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    r->out = b->p;
    r->out_len = b->len;
    resp_header(r, "Cache-Control", "no-store");
    return KHO_OK;
}

const struct route health_routes[] = {
    {"GET", "/healthz", healthz, ROUTE_ANY_ROLE},
    {"GET", "/readyz", readyz, ROUTE_ANY_ROLE},
    {"GET", "/metrics", metrics, ROUTE_ANY_ROLE},
    {NULL, NULL, NULL, 0},
};
