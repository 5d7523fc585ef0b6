/* Serving image bytes at /i/{id} (also to holders of a share link, ?share=): the original, or a
 * variant. Bytes go out from the blob store's file with sendfile (or, from a remote store, as a
 * stream of just the span asked for), with a strong ETag, immutable Cache-Control for shareable
 * images, 304 for If-None-Match and 206 for a Range. */
#include <stdio.h>
#include <string.h>
#include "blob/blob.h"
#include "http/app.h"
#include "http/cached.h"
#include "http/headers.h"
#include "http/router.h"
#include "http/routes/routes.h"
#include "http/views.h"
#include "core/kho.h"

/* Turn a failure to reach key's bytes into the request's error: a missing blob is the
 * metadata's fault, an unreachable store a 503. */
static enum kho_err blob_failure(struct req *r, const struct meta_image *img, uint64_t key,
                                 enum kho_err rc)
{
    if (rc == KHO_E_NOTFOUND) {
        log_error("image '%llu' has no blob %llu", (unsigned long long)img->id,
                  (unsigned long long)key);
        return KHO_E_CORRUPT;
    }
    if (rc == KHO_E_BACKEND)
        return req_fail(r, rc, "unavailable", MEDIA_BLOB_UNAVAILABLE);
    return rc;
}

enum kho_err media_send(struct req *r, const struct meta_image *img, uint64_t key, int64_t known,
                        const char *etag, const char *mime, unsigned flags)
{
    bool vary_accept = flags & MEDIA_VARY_ACCEPT, shared = flags & MEDIA_SHARED;
    resp_header(r, "ETag", etag);
    /* the bytes under a key never change, so shareable images may be cached for good; private
     * ones only by the browser, and revalidated by ETag; through a share link briefly, so a
     * revoked link soon stops showing the image */
    bool priv = img->visibility == META_PRIVATE || shared;
    resp_header(r, "Cache-Control",
                shared ? "private, max-age=300"
                : priv ? "private, max-age=3600"
                       : "public, max-age=31536000, immutable");
    resp_header(r, "Accept-Ranges", "bytes");
    if (priv || vary_accept)
        resp_header(r, "Vary",
                    priv ? (vary_accept ? "Accept, Cookie, Authorization" : "Cookie, Authorization")
                         : "Accept");

    const char *inm = req_header(r, "If-None-Match");
    if (inm && http_etag_match(inm, strlen(inm), etag)) {
        resp_empty(r, 304);
        return KHO_OK;
    }

    struct blob_store *store = r->app->blob;
    struct blob_ref ref;
    enum kho_err rc = known >= 0 ? blob_ref_open_len(store, key, (uint64_t)known, &ref)
                                 : blob_ref_open(store, key, &ref);
    if (rc)
        return blob_failure(r, img, key, rc);

    uint64_t start = 0, end = ref.len ? ref.len - 1 : 0;
    int status = 200;
    const char *range = req_header(r, "Range");
    const char *if_range = req_header(r, "If-Range");
    if (range && (!if_range || !strcmp(if_range, etag))) {
        switch (http_parse_range(range, strlen(range), ref.len, &start, &end)) {
        case RANGE_OK:
            status = 206;
            resp_header(r, "Content-Range",
                        req_printf(r, "bytes %llu-%llu/%llu", (unsigned long long)start,
                                   (unsigned long long)end, (unsigned long long)ref.len));
            break;
        case RANGE_UNSATISFIABLE:
            blob_ref_release(store, &ref);
            resp_header(r, "Content-Range",
                        req_printf(r, "bytes */%llu", (unsigned long long)ref.len));
            return req_fail(r, KHO_E_INVALID, "range_not_satisfiable",
                            "the range is outside the %llu bytes of the image",
                            (unsigned long long)ref.len);
        case RANGE_NONE:
            start = 0;
            end = ref.len ? ref.len - 1 : 0;
            break;
        }
    }
    uint64_t len = ref.len ? end - start + 1 : 0;
    if (!r->head_only && len && blob_span_inline(store, len)) {
        /* a small span costs one request into memory, not a stream's thread and pipe */
        blob_ref_release(store, &ref);
        void *bytes = arena_alloc(&r->arena, len);
        if (!bytes)
            return KHO_E_NOMEM;
        rc = blob_read_span(store, key, start, len, bytes);
        if (rc)
            return blob_failure(r, img, key, rc);
        resp_bytes(r, status, mime, bytes, len);
        return KHO_OK;
    }
    if (!r->head_only && len) {
        rc = blob_ref_stream(store, &ref, start, len);
        if (rc) {
            blob_ref_release(store, &ref);
            return req_fail(r, rc, "unavailable", "the blob store is busy, retry shortly");
        }
    }
    resp_file(r, status, mime, &ref, start, len);
    return KHO_OK;
}

/* Whether query has a parameter other than share=, which asks for a variant. */
static bool wants_variant(const char *query)
{
    for (const char *q = query; *q;) {
        size_t n = strcspn(q, "=&");
        if (n != 5 || strncmp(q, "share", 5) != 0)
            return true;
        q += strcspn(q, "&");
        if (*q)
            q++;
    }
    return false;
}

static enum kho_err media_work(struct req *r)
{
    uint64_t id;
    struct meta_image img;
    bool shared;
    if (!ids_parse(r->params[0], &id))
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no image '%s'", r->params[0]);
    enum kho_err rc = cached_image_get(r->app, id, &img);
    if (rc == KHO_E_NOTFOUND)
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no image '%s'", r->params[0]);
    if (rc)
        return rc;
    rc = images_access(r, &img, &shared);
    if (rc)
        return rc;
    /* with a watermark set, only the owner gets the clean original; others get it marked */
    if (wants_variant(r->query) || (variants_watermarked(r->app, &img) && !images_owner(r, &img)))
        return variants_serve(r, &img, shared);
    char etag[68];
    snprintf(etag, sizeof(etag), "\"%s\"", img.sha256);
    return media_send(r, &img, img.blob_key, img.bytes, etag, view_mime(img.format),
                      shared ? MEDIA_SHARED : 0);
}

static enum kho_err media_get(struct req *r)
{
    /* a remote store's calls wait on the network: keep them off the event loop */
    if (r->app->blob->ops->remote)
        return req_async(r, media_work);
    return media_work(r);
}

const struct route media_routes[] = {
    {"GET", "/i/{id}", media_get, ROUTE_AUTH_OPT},
    {NULL, NULL, NULL, 0},
};
