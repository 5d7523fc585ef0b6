/* JSON views of users, images, albums, share links and API keys; see views.h. */
#include <string.h>
#include <time.h>
#include "http/views.h"
#include "core/kho.h"

void view_time(int64_t unix_ms, char out[32])
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(unix_ms % 1000));
}

static json_t *id_string(uint64_t id)
{
    char text[21];
    ids_format(id, text);
    return json_string(text);
}

json_t *view_user(const struct meta_user *u)
{
    char at[32];
    view_time(u->created_at, at);
    return json_pack("{s:o,s:s,s:s}", "id", id_string(u->id), "username", u->username,
                     "created_at", at);
}

const char *view_visibility(enum meta_visibility v)
{
    return v == META_PUBLIC ? "public" : v == META_UNLISTED ? "unlisted" : "private";
}

const char *view_mime(const char *format)
{
    static const char *const map[][2] = {{"jpeg", "image/jpeg"}, {"png", "image/png"},
                                         {"webp", "image/webp"}, {"gif", "image/gif"},
                                         {"avif", "image/avif"}, {"heif", "image/heif"},
                                         {"tiff", "image/tiff"}};
    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        if (!strcmp(format, map[i][0]))
            return map[i][1];
    return "application/octet-stream";
}

json_t *view_image(const struct meta_image *img, bool owner)
{
    char at[32], id[21], url[32];
    view_time(img->created_at, at);
    ids_format(img->id, id);
    snprintf(url, sizeof(url), "/i/%s", id);
    json_t *tags = json_array();
    for (const char *t = img->tags; *t;) {
        size_t n = strcspn(t, ",");
        json_array_append_new(tags, json_stringn(t, n));
        t += n + (t[n] == ',');
    }
    json_t *j = json_pack("{s:s,s:{s:o,s:s},s:s,s:o,s:s,s:s,s:i,s:i,s:I,s:s,s:s,s:s}", "id", id,
                          "owner", "id", id_string(img->owner_id), "username", img->owner_name,
                          "title", img->title, "tags", tags, "visibility",
                          view_visibility(img->visibility), "format", img->format, "width",
                          (int)img->width, "height", (int)img->height, "bytes",
                          (json_int_t)img->bytes, "sha256", img->sha256, "created_at", at, "url",
                          url);
    if (!j)
        return NULL;
    char taken[32];
    if (img->taken_at)
        view_time(img->taken_at, taken);
    json_object_set_new(j, "taken_at", img->taken_at ? json_string(taken) : json_null());
    json_object_set_new(j, "camera",
                        img->camera_make[0] || img->camera_model[0]
                            ? json_pack("{s:s,s:s}", "make", img->camera_make, "model",
                                        img->camera_model)
                            : json_null());
    json_object_set_new(j, "placeholder",
                        img->placeholder[0] ? json_string(img->placeholder) : json_null());
    if (owner)
        json_object_set_new(j, "gps",
                            img->has_gps ? json_pack("{s:f,s:f}", "lat", img->gps_lat, "lon",
                                                     img->gps_lon)
                                         : json_null());
    return j;
}

const char *view_scope(enum meta_scope s)
{
    return s == META_SCOPE_READ ? "read" : "read-write";
}

json_t *view_key(const struct meta_key *k)
{
    char at[32], used[32];
    view_time(k->created_at, at);
    if (k->last_used_at)
        view_time(k->last_used_at, used);
    return json_pack("{s:o,s:s,s:s,s:s,s:s,s:o}", "id", id_string(k->id), "name", k->name, "scope",
                     view_scope(k->scope), "prefix", k->prefix, "created_at", at, "last_used_at",
                     k->last_used_at ? json_string(used) : json_null());
}

json_t *view_image_shared(const struct meta_image *img, const char *token)
{
    char id[21];
    ids_format(img->id, id);
    json_t *j = view_image(img, false);
    if (j)
        json_object_set_new(j, "url", json_pack("s+++", "/i/", id, "?share=", token));
    return j;
}

json_t *view_time_json(int64_t unix_ms)
{
    char at[32];
    if (!unix_ms)
        return json_null();
    view_time(unix_ms, at);
    return json_string(at);
}

json_t *view_album(const struct meta_album *a, const char *token)
{
    char created[32], updated[32];
    view_time(a->created_at, created);
    view_time(a->updated_at, updated);
    json_t *cover = !a->has_cover ? json_null()
                    : token       ? view_image_shared(&a->cover, token)
                                  : view_image(&a->cover, true);
    return json_pack("{s:o,s:s,s:s,s:I,s:o,s:o,s:s,s:s}", "id", id_string(a->id), "title", a->title,
                     "description", a->description, "image_count", (json_int_t)a->image_count,
                     "cover", cover, "cover_id", a->cover_id ? id_string(a->cover_id) : json_null(),
                     "created_at", created, "updated_at", updated);
}

const char *view_link_kind(enum meta_link_kind kind)
{
    return kind == META_LINK_IMAGE ? "image" : "album";
}

json_t *view_link(const struct meta_link *l, const char *token, const char *base)
{
    char created[32];
    view_time(l->created_at, created);
    return json_pack("{s:o,s:s,s:o,s:s,s:s+,s:s++,s:o,s:s}", "id", id_string(l->id), "kind",
                     view_link_kind(l->kind), "target_id", id_string(l->target_id), "token", token,
                     "path", "/s/", token, "url", base, "/s/", token, "expires_at",
                     view_time_json(l->expires_at), "created_at", created);
}
