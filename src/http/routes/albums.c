/* Albums: a user's named sets of their own images, each with a cover, and the links sharing
 * them. Albums are their owner's alone (404 for anyone else, as for none), which the store checks
 * in its statements; an image batch goes in all or nothing. */
#include <string.h>
#include "http/app.h"
#include "http/router.h"
#include "http/views.h"
#include "http/routes/routes.h"
#include "core/kho.h"
#include "core/utf8.h"

/* A create or an edit, validated. */
struct fields {
    unsigned set; /* META_SET_ALBUM_* */
    struct meta_album a;
};

/* The image ids of an add or a remove. */
struct batch {
    uint64_t ids[META_ALBUM_BATCH_MAX];
    int n;
    uint64_t missing; /* set by the store: the first id that is not the caller's image */
};

static enum kho_err no_album(struct req *r)
{
    return req_fail(r, KHO_E_NOTFOUND, "not_found", "no album '%s'", r->params[0]);
}

static enum kho_err parse_id(struct req *r, uint64_t *id)
{
    return ids_parse(r->params[0], id) ? KHO_OK : no_album(r);
}

/* UTF-8 text whose only control characters are line breaks and tabs. */
static bool multiline_text(const char *s, size_t n)
{
    while (n) {
        size_t line = strcspn(s, "\r\n\t");
        if (line > n)
            line = n;
        if (!utf8_valid_text(s, line))
            return false;
        s += line;
        n -= line;
        if (n) { /* the break itself */
            s++;
            n--;
        }
    }
    return true;
}

static enum kho_err set_title(struct req *r, struct fields *f, json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!s || n == 0 || n > META_TITLE_MAX || strlen(s) != n || !utf8_valid_text(s, n))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'title' must be UTF-8 text of 1 to %d bytes", META_TITLE_MAX);
    memcpy(f->a.title, s, n + 1);
    f->set |= META_SET_ALBUM_TITLE;
    return KHO_OK;
}

static enum kho_err set_description(struct req *r, struct fields *f, json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!s || n > META_DESCRIPTION_MAX || strlen(s) != n || !multiline_text(s, n))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'description' must be UTF-8 text of at most %d bytes",
                        META_DESCRIPTION_MAX);
    memcpy(f->a.description, s, n + 1);
    f->set |= META_SET_ALBUM_DESCRIPTION;
    return KHO_OK;
}

static enum kho_err set_cover(struct req *r, struct fields *f, json_t *v)
{
    f->a.cover_id = 0;
    if (!json_is_null(v) && !(json_is_string(v) && ids_parse(json_string_value(v), &f->a.cover_id)))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'cover_id' must be an image id or null");
    f->set |= META_SET_ALBUM_COVER;
    return KHO_OK;
}

/* {"title","description"} of a new album, or {"title"?,"description"?,"cover_id"?} of an edit. */
static enum kho_err read_fields(struct req *r, bool create, struct fields **out)
{
    json_t *body;
    struct fields *f = arena_calloc(&r->arena, sizeof(*f));
    if (!f)
        return KHO_E_NOMEM;
    enum kho_err rc = req_json_body(r, &body);
    if (rc)
        return rc;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (!strcmp(key, "title"))
            rc = set_title(r, f, v);
        else if (!strcmp(key, "description"))
            rc = set_description(r, f, v);
        else if (!strcmp(key, "cover_id") && !create)
            rc = set_cover(r, f, v);
        else
            rc = req_fail(r, KHO_E_INVALID, "invalid_parameter", "unknown field '%.64s'", key);
        if (rc)
            return rc;
    }
    if (create && !(f->set & META_SET_ALBUM_TITLE))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter", "'title' is required");
    *out = f;
    return KHO_OK;
}

static enum kho_err answer(struct req *r, int status, const struct meta_album *a)
{
    resp_header(r, "Cache-Control", "private, no-cache");
    return resp_json(r, status, view_album(a, NULL));
}

/* ---- create, read ---- */

static enum kho_err create_work(struct req *r)
{
    struct fields *f = r->ctx;
    f->a.id = ids_next(ids_shard(r->user.id));
    f->a.owner_id = r->user.id;
    enum kho_err rc = r->app->meta->ops->album_create(r->app->meta, &f->a);
    if (rc == KHO_E_TOO_LARGE)
        return req_fail(r, KHO_E_TOO_LARGE, "too_many_albums",
                        "you have %d albums, the most allowed", META_ALBUMS_MAX);
    if (rc)
        return rc;
    resp_header(r, "Location", req_printf(r, "/api/v1/albums/%llu", (unsigned long long)f->a.id));
    return answer(r, 201, &f->a);
}

static enum kho_err albums_create(struct req *r)
{
    struct fields *f;
    enum kho_err rc = read_fields(r, true, &f);
    if (rc)
        return rc;
    r->ctx = f;
    return req_async(r, create_work);
}

static enum kho_err albums_list(struct req *r)
{
    struct page p;
    enum kho_err rc = images_read_page(r, &p, false);
    if (rc)
        return rc;
    struct meta_album *rows = arena_alloc(&r->arena, sizeof(*rows) * (size_t)(p.limit + 1));
    if (!rows)
        return KHO_E_NOMEM;
    int n = 0;
    rc = r->app->meta->ops->album_list(r->app->meta, r->user.id, p.before, p.limit + 1, rows, &n);
    if (rc)
        return rc;
    json_t *items = json_array();
    int shown = n > p.limit ? p.limit : n;
    for (int i = 0; i < shown; i++)
        json_array_append_new(items, view_album(&rows[i], NULL));
    resp_header(r, "Cache-Control", "private, no-cache");
    return resp_json(r, 200, images_page_wrap(items, &p, n, shown ? rows[shown - 1].id : 0));
}

/* The caller's album named in the path, or 404. */
static enum kho_err owned_album(struct req *r, struct meta_album *a)
{
    uint64_t id;
    enum kho_err rc = parse_id(r, &id);
    if (rc)
        return rc;
    rc = r->app->meta->ops->album_get(r->app->meta, id, r->user.id, a);
    return rc == KHO_E_NOTFOUND ? no_album(r) : rc;
}

static enum kho_err albums_get(struct req *r)
{
    struct meta_album *a = arena_alloc(&r->arena, sizeof(*a));
    if (!a)
        return KHO_E_NOMEM;
    enum kho_err rc = owned_album(r, a);
    if (rc)
        return rc;
    return answer(r, 200, a);
}

static enum kho_err albums_images(struct req *r)
{
    struct meta_album *a = arena_alloc(&r->arena, sizeof(*a));
    struct page p;
    if (!a)
        return KHO_E_NOMEM;
    enum kho_err rc = images_read_page(r, &p, false);
    if (rc)
        return rc;
    rc = owned_album(r, a);
    if (rc)
        return rc;
    struct meta_image *rows = arena_alloc(&r->arena, sizeof(*rows) * (size_t)(p.limit + 1));
    if (!rows)
        return KHO_E_NOMEM;
    int n = 0;
    rc = r->app->meta->ops->album_images(r->app->meta, a->id, p.before, p.limit + 1, rows, &n);
    if (rc)
        return rc;
    resp_header(r, "Cache-Control", "private, no-cache");
    return resp_json(r, 200, images_page(r, &p, rows, n, NULL));
}

/* ---- edit, delete ---- */

static enum kho_err patch_work(struct req *r)
{
    struct fields *f = r->ctx;
    uint64_t id;
    enum kho_err rc = parse_id(r, &id);
    if (rc)
        return rc;
    rc = r->app->meta->ops->album_update(r->app->meta, id, r->user.id, f->set, &f->a);
    if (rc == KHO_E_NOTFOUND)
        return no_album(r);
    if (rc == KHO_E_INVALID)
        return req_fail(r, rc, "invalid_parameter", "image '%llu' is not in album '%s'",
                        (unsigned long long)f->a.cover_id, r->params[0]);
    if (rc)
        return rc;
    return answer(r, 200, &f->a);
}

static enum kho_err albums_patch(struct req *r)
{
    struct fields *f;
    enum kho_err rc = read_fields(r, false, &f);
    if (rc)
        return rc;
    r->ctx = f;
    return req_async(r, patch_work);
}

static enum kho_err delete_work(struct req *r)
{
    uint64_t id;
    enum kho_err rc = parse_id(r, &id);
    if (rc)
        return rc;
    rc = r->app->meta->ops->album_delete(r->app->meta, id, r->user.id);
    if (rc == KHO_E_NOTFOUND)
        return no_album(r);
    if (rc)
        return rc;
    resp_empty(r, 204);
    return KHO_OK;
}

static enum kho_err albums_delete(struct req *r)
{
    return req_async(r, delete_work);
}

/* ---- the images in an album ---- */

/* {"ids":["ID",...]}: 1 to META_ALBUM_BATCH_MAX image ids. */
static enum kho_err read_batch(struct req *r)
{
    json_t *body, *ids = NULL, *v;
    struct batch *b = arena_calloc(&r->arena, sizeof(*b));
    if (!b)
        return KHO_E_NOMEM;
    enum kho_err rc = req_json_body(r, &body);
    if (rc)
        return rc;
    const char *key;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "ids"))
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "unknown field '%.64s'", key);
        ids = v;
    }
    size_t n = json_array_size(ids), i;
    if (!json_is_array(ids) || n < 1 || n > META_ALBUM_BATCH_MAX)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'ids' must be an array of 1 to %d image ids", META_ALBUM_BATCH_MAX);
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v) || !ids_parse(json_string_value(v), &b->ids[i]))
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'ids' must be an array of 1 to %d image ids", META_ALBUM_BATCH_MAX);
    }
    b->n = (int)n;
    r->ctx = b;
    return KHO_OK;
}

static enum kho_err batch_work(struct req *r, bool add)
{
    struct batch *b = r->ctx;
    struct meta_album *a = arena_alloc(&r->arena, sizeof(*a));
    uint64_t id;
    if (!a)
        return KHO_E_NOMEM;
    enum kho_err rc = parse_id(r, &id);
    if (rc)
        return rc;
    const struct meta_ops *ops = r->app->meta->ops;
    rc = add ? ops->album_add_images(r->app->meta, id, r->user.id, b->ids, b->n, &b->missing, a)
             : ops->album_remove_images(r->app->meta, id, r->user.id, b->ids, b->n, a);
    if (rc == KHO_E_NOTFOUND && b->missing)
        return req_fail(r, rc, "not_found", "no image '%llu'", (unsigned long long)b->missing);
    if (rc == KHO_E_NOTFOUND)
        return no_album(r);
    if (rc == KHO_E_TOO_LARGE)
        return req_fail(r, rc, "album_full", "an album holds at most %d images",
                        META_ALBUM_IMAGES_MAX);
    if (rc)
        return rc;
    return answer(r, 200, a);
}

static enum kho_err add_work(struct req *r)
{
    return batch_work(r, true);
}

static enum kho_err remove_work(struct req *r)
{
    return batch_work(r, false);
}

static enum kho_err albums_add(struct req *r)
{
    enum kho_err rc = read_batch(r);
    if (rc)
        return rc;
    return req_async(r, add_work);
}

static enum kho_err albums_remove(struct req *r)
{
    enum kho_err rc = read_batch(r);
    if (rc)
        return rc;
    return req_async(r, remove_work);
}

static enum kho_err albums_link(struct req *r)
{
    return links_create(r, META_LINK_ALBUM);
}

const struct route albums_routes[] = {
    {"POST", "/api/v1/albums", albums_create, ROUTE_AUTH},
    {"GET", "/api/v1/albums", albums_list, ROUTE_AUTH},
    {"GET", "/api/v1/albums/{id}", albums_get, ROUTE_AUTH},
    {"PATCH", "/api/v1/albums/{id}", albums_patch, ROUTE_AUTH},
    {"DELETE", "/api/v1/albums/{id}", albums_delete, ROUTE_AUTH},
    {"GET", "/api/v1/albums/{id}/images", albums_images, ROUTE_AUTH},
    {"POST", "/api/v1/albums/{id}/images", albums_add, ROUTE_AUTH},
    {"DELETE", "/api/v1/albums/{id}/images", albums_remove, ROUTE_AUTH},
    {"POST", "/api/v1/albums/{id}/links", albums_link, ROUTE_AUTH},
    {NULL, NULL, NULL, 0},
};
