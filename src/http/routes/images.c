/* Image records: upload (multipart or raw body), get, list, edit, delete, and the explore feed.
 * An upload is checked (header probe), hashed, deduplicated per user, written durably to the
 * blob store, then recorded; it is acknowledged only after both are durable. Images a caller may
 * not see answer 404, so their existence does not leak. */
#include <string.h>
#include <strings.h>
#include "auth/hash.h"
#include "blob/blob.h"
#include "http/app.h"
#include "http/cached.h"
#include "http/headers.h"
#include "http/multipart.h"
#include "http/router.h"
#include "http/views.h"
#include "http/routes/routes.h"
#include "image/exif.h"
#include "image/probe.h"
#include "core/kho.h"
#include "core/utf8.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200

/* The fields of an upload or an edit, validated. */
struct fields {
    unsigned set; /* META_SET_* */
    char title[META_TITLE_MAX + 1];
    char tags[META_TAGS_TEXT_MAX + 1];
    enum meta_visibility visibility;
};

bool images_owner(const struct req *r, const struct meta_image *img)
{
    return r->authed && r->user.id == img->owner_id;
}

bool images_visible(const struct req *r, const struct meta_image *img)
{
    return img->visibility != META_PRIVATE || images_owner(r, img);
}

enum kho_err images_access(struct req *r, const struct meta_image *img, bool *shared)
{
    *shared = false;
    if (images_visible(r, img))
        return KHO_OK;
    const char *token;
    enum kho_err rc = req_query(r, "share", &token);
    if (rc)
        return rc;
    if (!token)
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no image '%llu'",
                        (unsigned long long)img->id);
    rc = links_share_grant(r, token, img);
    if (rc)
        return rc;
    *shared = true;
    return KHO_OK;
}

static enum kho_err parse_id(struct req *r, uint64_t *id)
{
    if (!ids_parse(r->params[0], id))
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no image '%s'", r->params[0]);
    return KHO_OK;
}

static enum kho_err set_title(struct req *r, struct fields *f, const char *s, size_t n)
{
    if (n > META_TITLE_MAX || strlen(s) != n || !utf8_valid_text(s, n))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'title' must be UTF-8 text of at most %d bytes", META_TITLE_MAX);
    memcpy(f->title, s, n + 1);
    f->set |= META_SET_TITLE;
    return KHO_OK;
}

static enum kho_err set_visibility(struct req *r, struct fields *f, const char *s)
{
    if (!strcmp(s, "private"))
        f->visibility = META_PRIVATE;
    else if (!strcmp(s, "unlisted"))
        f->visibility = META_UNLISTED;
    else if (!strcmp(s, "public"))
        f->visibility = META_PUBLIC;
    else
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'visibility' must be private, unlisted or public");
    f->set |= META_SET_VISIBILITY;
    return KHO_OK;
}

/* Add one tag: trimmed, ASCII lower-cased, de-duplicated, in order. */
static enum kho_err add_tag(struct req *r, struct fields *f, int *count, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return KHO_OK; /* "a,,b" and a trailing comma are forgiven */
    if (n > META_TAG_MAX || memchr(s, ',', n) || !utf8_valid_text(s, n))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "each of 'tags' must be text of 1 to %d bytes without commas",
                        META_TAG_MAX);
    char tag[META_TAG_MAX + 1];
    for (size_t i = 0; i < n; i++)
        tag[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    tag[n] = '\0';
    for (const char *t = f->tags; *t;) { /* already there? */
        size_t len = strcspn(t, ",");
        if (len == n && !memcmp(t, tag, n))
            return KHO_OK;
        t += len + (t[len] == ',');
    }
    if (++*count > META_TAGS_MAX)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter", "at most %d 'tags'", META_TAGS_MAX);
    size_t used = strlen(f->tags);
    snprintf(f->tags + used, sizeof(f->tags) - used, "%s%s", used ? "," : "", tag);
    return KHO_OK;
}

static enum kho_err set_tags_text(struct req *r, struct fields *f, const char *s, size_t n)
{
    int count = 0;
    f->tags[0] = '\0';
    f->set |= META_SET_TAGS;
    if (strlen(s) != n)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter", "invalid 'tags'");
    while (n) {
        size_t len = strcspn(s, ",");
        if (len > n)
            len = n;
        enum kho_err rc = add_tag(r, f, &count, s, len);
        if (rc)
            return rc;
        s += len;
        n -= len;
        if (n) { /* skip the comma */
            s++;
            n--;
        }
    }
    return KHO_OK;
}

static enum kho_err set_tags_json(struct req *r, struct fields *f, json_t *tags)
{
    if (json_is_string(tags))
        return set_tags_text(r, f, json_string_value(tags), json_string_length(tags));
    if (!json_is_array(tags))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'tags' must be an array of strings");
    int count = 0;
    f->tags[0] = '\0';
    f->set |= META_SET_TAGS;
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (!json_is_string(t) || strlen(json_string_value(t)) != json_string_length(t))
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'tags' must be an array of strings");
        enum kho_err rc = add_tag(r, f, &count, json_string_value(t), json_string_length(t));
        if (rc)
            return rc;
    }
    return KHO_OK;
}

/* ---- upload ---- */

struct upload {
    struct fields f;
    const char *data;
    size_t len;
    bool saw_file;
};

static enum kho_err copy_field(struct req *r, const struct multipart_part *p, char *out, size_t cap,
                               const char *name)
{
    if (p->len >= cap)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter", "'%s' is too long", name);
    memcpy(out, p->data, p->len);
    out[p->len] = '\0';
    return KHO_OK;
}

struct part_ctx {
    struct req *r;
    struct upload *u;
    enum kho_err rc;
};

static int on_part(const struct multipart_part *p, void *arg)
{
    struct part_ctx *pc = arg;
    struct req *r = pc->r;
    struct upload *u = pc->u;
    char text[META_TAGS_TEXT_MAX * 2 + 1];
#define NAME_IS(s) (p->name_len == strlen(s) && !memcmp(p->name, s, p->name_len))
    if (NAME_IS("file")) {
        if (u->saw_file)
            pc->rc = req_fail(r, KHO_E_INVALID, "invalid_request", "one 'file' per upload");
        u->saw_file = true;
        u->data = p->data;
        u->len = p->len;
    } else if (NAME_IS("title")) {
        pc->rc = copy_field(r, p, text, sizeof(text), "title");
        if (!pc->rc)
            pc->rc = set_title(r, &u->f, text, p->len);
    } else if (NAME_IS("tags")) {
        pc->rc = copy_field(r, p, text, sizeof(text), "tags");
        if (!pc->rc)
            pc->rc = set_tags_text(r, &u->f, text, p->len);
    } else if (NAME_IS("visibility")) {
        pc->rc = copy_field(r, p, text, 16, "visibility");
        if (!pc->rc)
            pc->rc = set_visibility(r, &u->f, text);
    } /* other fields are ignored, as browsers send extra inputs */
#undef NAME_IS
    return (int)pc->rc;
}

static enum kho_err read_multipart(struct req *r, struct upload *u, const char *ctype)
{
    char boundary[80];
    size_t blen;
    if (http_media_boundary(ctype, strlen(ctype), boundary, sizeof(boundary), &blen))
        return req_fail(r, KHO_E_INVALID, "invalid_request",
                        "multipart body without a valid boundary");
    struct part_ctx pc = {r, u, KHO_OK};
    enum kho_err rc = multipart_parse(r->body.p, r->body.len, boundary, blen, on_part, &pc);
    if (rc && !pc.rc)
        return req_fail(r, KHO_E_INVALID, "invalid_request", "malformed multipart body");
    if (rc)
        return rc;
    if (!u->saw_file)
        return req_fail(r, KHO_E_INVALID, "invalid_request", "the multipart body has no 'file'");
    return KHO_OK;
}

static enum kho_err read_raw(struct req *r, struct upload *u)
{
    const char *v;
    enum kho_err rc = req_query(r, "title", &v);
    if (!rc && v)
        rc = set_title(r, &u->f, v, strlen(v));
    if (!rc)
        rc = req_query(r, "tags", &v);
    if (!rc && v)
        rc = set_tags_text(r, &u->f, v, strlen(v));
    if (!rc)
        rc = req_query(r, "visibility", &v);
    if (!rc && v)
        rc = set_visibility(r, &u->f, v);
    u->data = r->body.p;
    u->len = r->body.len;
    return rc;
}

/* 413 quota_exceeded, saying which quota, how much is used and the limit. */
static enum kho_err quota_exceeded(struct req *r, const struct meta_quota *q, int64_t bytes)
{
    if (q->over == META_QUOTA_IMAGES)
        return req_fail(r, KHO_E_TOO_LARGE, "quota_exceeded",
                        "this upload would exceed your image quota: %lld of %lld images used",
                        (long long)q->used, (long long)q->limit);
    char size[24], used[24], limit[24];
    config_format_size(bytes, size, sizeof(size));
    config_format_size(q->used, used, sizeof(used));
    config_format_size(q->limit, limit, sizeof(limit));
    return req_fail(r, KHO_E_TOO_LARGE, "quota_exceeded",
                    "this upload of %s would exceed your storage quota: %s of %s used", size, used,
                    limit);
}

static enum kho_err existing(struct req *r, const struct meta_image *img)
{
    metric_inc(M_UPLOAD_DEDUPS);
    return resp_json(r, 200, view_image(img, true));
}

static enum kho_err upload_work(struct req *r)
{
    struct upload *u = r->ctx;
    struct app *app = r->app;
    metric_add(M_STAGE_RECEIVE_NS, r->receive_ns);

    uint64_t t0 = mono_ns();
    struct probe_limits lim = {app->cfg->max_pixels, app->cfg->max_dimension, app->cfg->max_frames};
    struct probe_result pr;
    const char *why = "not a recognised image";
    enum kho_err rc = probe_image(u->data, u->len, &lim, &pr, &why);
    uint64_t t1 = mono_ns();
    metric_add(M_STAGE_PROBE_NS, t1 - t0);
    if (rc == KHO_E_UNSUPPORTED)
        return req_fail(r, rc, "unsupported_media_type", "%s", why);
    if (rc == KHO_E_TOO_LARGE)
        return req_fail(r, rc, "image_too_large", "%s", why);
    if (rc)
        return req_fail(r, KHO_E_INVALID, "invalid_image", "%s", why);

    struct meta_image img = {0};
    sha256_hex(u->data, u->len, img.sha256);
    uint64_t t2 = mono_ns();
    metric_add(M_STAGE_HASH_NS, t2 - t1);
    rc = app->meta->ops->image_by_sha(app->meta, r->user.id, img.sha256, &img);
    if (rc == KHO_OK)
        return existing(r, &img);
    if (rc != KHO_E_NOTFOUND)
        return rc;
    /* After the duplicate check (a duplicate never counts) and before the blob is written; the
     * counters make it one row read. image_insert checks again, atomically. */
    struct meta_quota quota = {.default_images = app->cfg->quota_images,
                               .default_bytes = app->cfg->quota_bytes};
    struct meta_usage usage;
    rc = app->meta->ops->user_usage(app->meta, r->user.id, &usage);
    if (rc)
        return rc;
    rc = meta_quota_check(&usage, (int64_t)u->len, &quota);
    if (rc)
        return quota_exceeded(r, &quota, (int64_t)u->len);

    img.id = ids_next(ids_shard(r->user.id));
    img.blob_key = img.id;
    img.owner_id = r->user.id;
    memcpy(img.owner_name, r->user.username, sizeof(img.owner_name));
    memcpy(img.title, u->f.title, sizeof(img.title));
    memcpy(img.tags, u->f.tags, sizeof(img.tags));
    img.visibility = u->f.set & META_SET_VISIBILITY ? u->f.visibility : META_PRIVATE;
    snprintf(img.format, sizeof(img.format), "%s", pr.format);
    img.width = pr.width;
    img.height = pr.height;
    img.bytes = (int64_t)u->len;
    img.created_at = ids_unix_ms(img.id);
    img.alpha = pr.alpha;
    struct exif_info ex;
    if (exif_read(u->data, u->len, &ex) == KHO_OK) {
        img.taken_at = ex.taken_at_ms;
        snprintf(img.camera_make, sizeof(img.camera_make), "%s", ex.make);
        snprintf(img.camera_model, sizeof(img.camera_model), "%s", ex.model);
        img.has_gps = ex.has_gps;
        img.gps_lat = ex.lat;
        img.gps_lon = ex.lon;
    }

    rc = blob_put(app->blob, img.blob_key, u->data, u->len); /* times append and sync itself */
    uint64_t t3 = mono_ns();
    if (rc == KHO_E_BACKEND)
        return req_fail(r, rc, "unavailable", MEDIA_BLOB_UNAVAILABLE);
    if (rc)
        return rc;
    uint64_t written = img.blob_key; /* image_insert overwrites img with a duplicate's record */
    rc = app->meta->ops->image_insert(app->meta, &img, &quota);
    metric_add(M_STAGE_DB_NS, mono_ns() - t3);
    if (rc)
        blob_del(app->blob, written);
    if (rc == KHO_E_EXISTS) /* the same bytes raced in on another request: keep theirs */
        return existing(r, &img);
    if (rc == KHO_E_TOO_LARGE && quota.over) /* other uploads took the room meanwhile */
        return quota_exceeded(r, &quota, img.bytes);
    if (rc)
        return rc;
    metric_inc(M_UPLOADS);
    /* the gallery's thumbnail is made now, but a slow one does not hold the answer */
    uint64_t t4 = mono_ns();
    variants_make_thumb(app, &img, app->cfg->thumb_wait_ms, img.placeholder);
    metric_add(M_STAGE_THUMB_NS, mono_ns() - t4);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/v1/images/%llu", (unsigned long long)img.id);
    resp_header(r, "Location", loc);
    return resp_json(r, 201, view_image(&img, true));
}

static enum kho_err images_upload(struct req *r)
{
    struct upload *u = arena_calloc(&r->arena, sizeof(*u));
    if (!u)
        return KHO_E_NOMEM;
    const char *ctype = req_header(r, "Content-Type");
    char media[128] = "";
    if (ctype)
        http_media_type(ctype, strlen(ctype), media, sizeof(media));
    enum kho_err rc;
    if (!strcmp(media, "multipart/form-data"))
        rc = read_multipart(r, u, ctype);
    else if (!strncmp(media, "image/", 6) || !strcmp(media, "application/octet-stream"))
        rc = read_raw(r, u);
    else
        return req_fail(r, KHO_E_UNSUPPORTED, "unsupported_media_type",
                        "send multipart/form-data or an image/* body, not '%s'",
                        media[0] ? media : "nothing");
    if (rc)
        return rc;
    if (u->len == 0)
        return req_fail(r, KHO_E_INVALID, "empty_body", "the image is empty");
    r->ctx = u;
    return req_async(r, upload_work);
}

/* ---- read ---- */

static enum kho_err images_get(struct req *r)
{
    uint64_t id;
    struct meta_image img;
    enum kho_err rc = parse_id(r, &id);
    if (rc)
        return rc;
    rc = cached_image_get(r->app, id, &img);
    if (rc == KHO_E_NOTFOUND || (!rc && !images_visible(r, &img)))
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no image '%s'", r->params[0]);
    if (rc)
        return rc;
    resp_header(r, "Cache-Control", "private, no-cache");
    return resp_json(r, 200, view_image(&img, images_owner(r, &img)));
}

enum kho_err images_read_page(struct req *r, struct page *p, bool with_tag)
{
    const char *v;
    p->limit = LIST_DEFAULT;
    p->before = 0;
    p->tag = NULL;
    enum kho_err rc = req_query(r, "limit", &v);
    if (rc)
        return rc;
    if (v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > LIST_MAX)
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'limit' must be a number from 1 to %d", LIST_MAX);
        p->limit = (int)n;
    }
    rc = req_query(r, "cursor", &v);
    if (rc)
        return rc;
    if (v && !ids_parse(v, &p->before))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter", "invalid 'cursor'");
    if (!with_tag)
        return KHO_OK;
    rc = req_query(r, "tag", &v);
    if (rc)
        return rc;
    if (v) {
        struct fields f = {0};
        int count = 0;
        rc = add_tag(r, &f, &count, v, strlen(v));
        if (rc)
            return rc;
        if (!f.tags[0])
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "'tag' is empty");
        p->tag = arena_strdup(&r->arena, f.tags);
    }
    return KHO_OK;
}

json_t *images_page_wrap(json_t *items, const struct page *p, int n, uint64_t last)
{
    json_t *next = json_null();
    if (n > p->limit) {
        char id[21];
        ids_format(last, id);
        next = json_string(id);
    }
    return json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
}

json_t *images_page(struct req *r, const struct page *p, const struct meta_image *rows, int n,
                    const char *share)
{
    json_t *items = json_array();
    int shown = n > p->limit ? p->limit : n;
    for (int i = 0; i < shown; i++)
        json_array_append_new(items, share ? view_image_shared(&rows[i], share)
                                           : view_image(&rows[i], images_owner(r, &rows[i])));
    return images_page_wrap(items, p, n, shown ? rows[shown - 1].id : 0);
}

/* One page of the caller's own images (mine) or of the public feed. */
static enum kho_err list_page(struct req *r, bool mine)
{
    struct page p;
    enum kho_err rc = images_read_page(r, &p, mine);
    if (rc)
        return rc;
    struct meta_image *rows = arena_alloc(&r->arena, sizeof(*rows) * (size_t)(p.limit + 1));
    if (!rows)
        return KHO_E_NOMEM;
    int n = 0;
    const struct meta_ops *ops = r->app->meta->ops;
    rc = mine ? ops->image_list_owner(r->app->meta, r->user.id, p.tag, p.before, p.limit + 1, rows,
                                      &n)
              : ops->image_list_public(r->app->meta, p.before, p.limit + 1, rows, &n);
    if (rc)
        return rc;
    resp_header(r, "Cache-Control", "private, no-cache");
    return resp_json(r, 200, images_page(r, &p, rows, n, NULL));
}

static enum kho_err images_list(struct req *r)
{
    return list_page(r, true);
}

static enum kho_err images_explore(struct req *r)
{
    return list_page(r, false);
}

/* ---- edit and delete ---- */

/* The image named in the path, when the caller owns it: 404 when they cannot see it, 403 when
 * they can but it is not theirs. */
static enum kho_err owned_image(struct req *r, struct meta_image *img)
{
    uint64_t id;
    enum kho_err rc = parse_id(r, &id);
    if (rc)
        return rc;
    rc = cached_image_get(r->app, id, img);
    if (rc == KHO_E_NOTFOUND || (!rc && !images_visible(r, img)))
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no image '%s'", r->params[0]);
    if (rc)
        return rc;
    if (img->owner_id != r->user.id)
        return req_fail(r, KHO_E_DENIED, "forbidden", "image '%s' belongs to someone else",
                        r->params[0]);
    return KHO_OK;
}

static enum kho_err patch_work(struct req *r)
{
    struct fields *f = r->ctx;
    struct meta_image img;
    enum kho_err rc = owned_image(r, &img);
    if (rc)
        return rc;
    if (f->set & META_SET_TITLE)
        memcpy(img.title, f->title, sizeof(img.title));
    if (f->set & META_SET_TAGS)
        memcpy(img.tags, f->tags, sizeof(img.tags));
    if (f->set & META_SET_VISIBILITY)
        img.visibility = f->visibility;
    if (f->set) {
        rc = r->app->meta->ops->image_update(r->app->meta, img.id, r->user.id, f->set, &img);
        cached_image_forget(r->app, img.id);
        if (rc == KHO_E_NOTFOUND)
            return req_fail(r, rc, "not_found", "no image '%s'", r->params[0]);
        if (rc)
            return rc;
    }
    return resp_json(r, 200, view_image(&img, true));
}

static enum kho_err images_patch(struct req *r)
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
        if (!strcmp(key, "title")) {
            if (!json_is_string(v))
                return req_fail(r, KHO_E_INVALID, "invalid_parameter", "'title' must be a string");
            rc = set_title(r, f, json_string_value(v), json_string_length(v));
        } else if (!strcmp(key, "tags")) {
            rc = set_tags_json(r, f, v);
        } else if (!strcmp(key, "visibility")) {
            if (!json_is_string(v))
                return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                                "'visibility' must be a string");
            rc = set_visibility(r, f, json_string_value(v));
        } else {
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "unknown field '%.64s'", key);
        }
        if (rc)
            return rc;
    }
    r->ctx = f;
    return req_async(r, patch_work);
}

static enum kho_err delete_work(struct req *r)
{
    struct meta_image img;
    enum kho_err rc = owned_image(r, &img);
    if (rc)
        return rc;
    uint64_t *keys = arena_alloc(&r->arena, sizeof(*keys) * (META_VARIANTS_MAX + 1));
    int nkeys = 0;
    if (!keys)
        return KHO_E_NOMEM;
    rc = r->app->meta->ops->variant_keys(r->app->meta, img.id, keys, META_VARIANTS_MAX, &nkeys);
    if (!rc) {
        rc = r->app->meta->ops->image_delete(r->app->meta, img.id, r->user.id, &img);
        cached_image_forget(r->app, img.id);
    }
    if (rc == KHO_E_NOTFOUND)
        return req_fail(r, rc, "not_found", "no image '%s'", r->params[0]);
    if (rc)
        return rc;
    /* the records are gone first: a crash here leaves unreachable blobs for compaction, never
     * a record without its bytes */
    keys[nkeys++] = img.blob_key;
    for (int i = 0; i < nkeys; i++) {
        enum kho_err e = blob_del(r->app->blob, keys[i]);
        if (e && e != KHO_E_NOTFOUND)
            log_warn("image '%llu' deleted but blob %llu remains: %s", (unsigned long long)img.id,
                     (unsigned long long)keys[i], kho_err_name(e));
    }
    metric_inc(M_DELETES);
    resp_empty(r, 204);
    return KHO_OK;
}

static enum kho_err images_delete(struct req *r)
{
    return req_async(r, delete_work);
}

const struct route images_routes[] = {
    {"POST", "/api/v1/images", images_upload, ROUTE_AUTH | ROUTE_UPLOAD},
    {"GET", "/api/v1/images", images_list, ROUTE_AUTH},
    {"GET", "/api/v1/images/{id}", images_get, ROUTE_AUTH_OPT},
    {"PATCH", "/api/v1/images/{id}", images_patch, ROUTE_AUTH},
    {"DELETE", "/api/v1/images/{id}", images_delete, ROUTE_AUTH},
    {"GET", "/api/v1/explore", images_explore, 0},
    {NULL, NULL, NULL, 0},
};
