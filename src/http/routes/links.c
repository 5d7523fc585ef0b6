/* Share links: signed tokens (src/auth/linktoken.c) that open one image or album without a login
 * until they expire or are revoked. /api/v1/shared/{token} shows what a link opens;
 * /i/{id}?share=TOKEN serves the bytes (media.c, through images_access and links_share_grant). */
#include <string.h>
#include "auth/linktoken.h"
#include "http/app.h"
#include "http/cached.h"
#include "http/router.h"
#include "http/views.h"
#include "http/routes/routes.h"
#include "core/kho.h"

#define EXPIRES_MIN 60       /* seconds */
#define EXPIRES_MAX 31536000 /* a year */
#define HOST_MAX 255

/* What POST .../links asks for. */
struct create {
    enum meta_link_kind kind;
    uint64_t target;
    int64_t expires_in; /* seconds, 0 for never */
};

static enum kho_err no_target(struct req *r, enum meta_link_kind kind)
{
    return req_fail(r, KHO_E_NOTFOUND, "not_found", "no %s '%s'", view_link_kind(kind),
                    r->params[0]);
}

static enum kho_err no_link(struct req *r)
{
    return req_fail(r, KHO_E_NOTFOUND, "not_found", "this link does not exist or was revoked");
}

/* A Host header fit to be echoed in a URL: a name or an address, with an optional port. */
static bool host_ok(const char *h)
{
    size_t n = strlen(h);
    return n > 0 && n <= HOST_MAX &&
           strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]") == n;
}

/* Where links are reached: --public-url, else http:// and the request's Host. */
static const char *url_base(struct req *r)
{
    const char *pub = r->app->cfg->public_url;
    if (pub[0]) {
        size_t n = strlen(pub);
        while (n && pub[n - 1] == '/')
            n--;
        return arena_strndup(&r->arena, pub, n);
    }
    const char *host = req_header(r, "Host");
    return req_printf(r, "http://%s", host && host_ok(host) ? host : r->app->cfg->listen);
}

static json_t *link_json(struct req *r, const struct meta_link *l, const char *base)
{
    char token[LINKTOKEN_LEN + 1];
    linktoken_make(&r->app->sign_key, l->id, l->expires_at, token);
    return view_link(l, token, base);
}

/* ---- create, list, revoke ---- */

static enum kho_err create_work(struct req *r)
{
    const struct create *c = r->ctx;
    int64_t now = now_ms();
    struct meta_link l = {.id = ids_next(ids_shard(r->user.id)),
                          .owner_id = r->user.id,
                          .kind = c->kind,
                          .target_id = c->target,
                          .expires_at = c->expires_in ? now + c->expires_in * 1000 : 0};
    enum kho_err rc = r->app->meta->ops->link_create(r->app->meta, &l, now);
    if (rc == KHO_E_NOTFOUND)
        return no_target(r, c->kind);
    if (rc == KHO_E_TOO_LARGE)
        return req_fail(r, rc, "too_many_links",
                        "you have %d unexpired links, the most allowed: revoke some first",
                        META_LINKS_MAX);
    if (rc)
        return rc;
    const char *base = url_base(r);
    if (!base)
        return KHO_E_NOMEM;
    resp_header(r, "Cache-Control", "no-store"); /* the token opens the target */
    return resp_json(r, 201, link_json(r, &l, base));
}

enum kho_err links_create(struct req *r, enum meta_link_kind kind)
{
    struct create *c = arena_calloc(&r->arena, sizeof(*c));
    if (!c)
        return KHO_E_NOMEM;
    c->kind = kind;
    if (!ids_parse(r->params[0], &c->target))
        return no_target(r, kind);
    if (r->body.len) { /* no body: a link that never expires */
        json_t *body, *v;
        const char *key;
        enum kho_err rc = req_json_body(r, &body);
        if (rc)
            return rc;
        json_object_foreach(body, key, v)
        {
            if (strcmp(key, "expires_in"))
                return req_fail(r, KHO_E_INVALID, "invalid_parameter", "unknown field '%.64s'",
                                key);
            if (json_is_null(v))
                continue;
            if (!json_is_integer(v) || json_integer_value(v) < EXPIRES_MIN ||
                json_integer_value(v) > EXPIRES_MAX)
                return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                                "'expires_in' must be null or seconds from %d to %d", EXPIRES_MIN,
                                EXPIRES_MAX);
            c->expires_in = json_integer_value(v);
        }
    }
    r->ctx = c;
    return req_async(r, create_work);
}

static enum kho_err links_image(struct req *r)
{
    return links_create(r, META_LINK_IMAGE);
}

static enum kho_err links_list(struct req *r)
{
    struct meta_link *rows = arena_alloc(&r->arena, sizeof(*rows) * META_LINKS_MAX);
    const char *base = url_base(r);
    int n = 0;
    if (!rows || !base)
        return KHO_E_NOMEM;
    enum kho_err rc =
        r->app->meta->ops->link_list(r->app->meta, r->user.id, now_ms(), rows, META_LINKS_MAX, &n);
    if (rc)
        return rc;
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, link_json(r, &rows[i], base));
    resp_header(r, "Cache-Control", "no-store");
    return resp_json(r, 200, json_pack("{s:o}", "items", items));
}

static enum kho_err delete_work(struct req *r)
{
    uint64_t id;
    if (!ids_parse(r->params[0], &id))
        return no_link(r);
    enum kho_err rc = r->app->meta->ops->link_delete(r->app->meta, id, r->user.id);
    if (rc == KHO_E_NOTFOUND)
        return no_link(r);
    if (rc)
        return rc;
    resp_empty(r, 204);
    return KHO_OK;
}

static enum kho_err links_delete(struct req *r)
{
    return req_async(r, delete_work);
}

/* ---- using a link ---- */

/* The live link that token names into *l; otherwise the request fails: 404 (malformed, forged,
 * unknown or revoked) or 410 (expired, known from the token alone). */
static enum kho_err resolve(struct req *r, const char *token, struct meta_link *l)
{
    uint64_t id;
    int64_t expires_at;
    enum kho_err rc =
        linktoken_check(&r->app->sign_key, token, strlen(token), now_ms(), &id, &expires_at);
    if (rc == KHO_E_DENIED) {
        char at[32];
        view_time(expires_at, at);
        return req_fail(r, rc, "link_expired", "this link expired at %s", at);
    }
    if (rc)
        return no_link(r);
    rc = r->app->meta->ops->link_get(r->app->meta, id, l);
    return rc == KHO_E_NOTFOUND ? no_link(r) : rc;
}

enum kho_err links_share_grant(struct req *r, const char *token, const struct meta_image *img)
{
    struct meta_link l;
    enum kho_err rc = resolve(r, token, &l);
    if (rc)
        return rc;
    if (l.kind == META_LINK_IMAGE)
        rc = l.target_id == img->id ? KHO_OK : KHO_E_NOTFOUND;
    else
        rc = r->app->meta->ops->album_has_image(r->app->meta, l.target_id, img->id);
    if (rc == KHO_E_NOTFOUND)
        return req_fail(r, rc, "not_found", "no image '%llu'", (unsigned long long)img->id);
    return rc;
}

static enum kho_err shared_image(struct req *r, const struct meta_link *l, const char *token)
{
    struct meta_image img;
    enum kho_err rc = cached_image_get(r->app, l->target_id, &img);
    if (rc == KHO_E_NOTFOUND) /* deleted since the link was read: it went with it */
        return no_link(r);
    if (rc)
        return rc;
    return resp_json(r, 200,
                     json_pack("{s:s,s:o,s:o}", "kind", "image", "expires_at",
                               view_time_json(l->expires_at), "image",
                               view_image_shared(&img, token)));
}

static enum kho_err shared_album(struct req *r, const struct meta_link *l, const char *token)
{
    struct meta_album *a = arena_alloc(&r->arena, sizeof(*a));
    struct page p;
    if (!a)
        return KHO_E_NOMEM;
    enum kho_err rc = images_read_page(r, &p, false);
    if (rc)
        return rc;
    struct meta_image *rows = arena_alloc(&r->arena, sizeof(*rows) * (size_t)(p.limit + 1));
    int n = 0;
    if (!rows)
        return KHO_E_NOMEM;
    const struct meta_ops *ops = r->app->meta->ops;
    rc = ops->album_get(r->app->meta, l->target_id, l->owner_id, a);
    if (rc == KHO_E_NOTFOUND)
        return no_link(r);
    if (rc)
        return rc;
    rc = ops->album_images(r->app->meta, a->id, p.before, p.limit + 1, rows, &n);
    if (rc)
        return rc;
    return resp_json(r, 200,
                     json_pack("{s:s,s:o,s:o,s:o}", "kind", "album", "expires_at",
                               view_time_json(l->expires_at), "album", view_album(a, token),
                               "images", images_page(r, &p, rows, n, token)));
}

static enum kho_err links_shared(struct req *r)
{
    const char *token = r->params[0];
    struct meta_link l;
    enum kho_err rc = resolve(r, token, &l);
    if (rc)
        return rc;
    resp_header(r, "Cache-Control", "private, no-cache");
    return l.kind == META_LINK_IMAGE ? shared_image(r, &l, token) : shared_album(r, &l, token);
}

const struct route links_routes[] = {
    {"POST", "/api/v1/images/{id}/links", links_image, ROUTE_AUTH},
    {"GET", "/api/v1/links", links_list, ROUTE_AUTH},
    {"DELETE", "/api/v1/links/{id}", links_delete, ROUTE_AUTH},
    {"GET", "/api/v1/shared/{token}", links_shared, 0},
    {NULL, NULL, NULL, 0},
};
