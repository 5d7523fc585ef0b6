/* Registration and the current user's profile. */
#include <stdlib.h>
#include <string.h>
#include "auth/password.h"
#include "http/app.h"
#include "http/cached.h"
#include "http/router.h"
#include "http/routes/routes.h"
#include "http/views.h"
#include "core/kho.h"

/* 3-32 of [a-z0-9_-] */
static bool valid_username(const char *s, size_t n)
{
    if (n < 3 || n > META_USERNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

enum kho_err users_read_credentials(struct req *r, struct credentials **out)
{
    json_t *body;
    struct credentials *c = arena_calloc(&r->arena, sizeof(*c));
    if (!c)
        return KHO_E_NOMEM;
    enum kho_err rc = req_json_body(r, &body);
    if (rc)
        return rc;
    json_t *u = json_object_get(body, "username"), *p = json_object_get(body, "password");
    if (!json_is_string(u))
        return req_fail(r, KHO_E_INVALID, "invalid_username", "'username' must be a string");
    if (!json_is_string(p))
        return req_fail(r, KHO_E_INVALID, "invalid_password", "'password' must be a string");
    c->username = json_string_value(u);
    c->username_len = json_string_length(u);
    c->password = json_string_value(p);
    c->password_len = json_string_length(p);
    *out = c;
    return KHO_OK;
}

/* Spread users over the logical shards by name, unless the node pins one. */
static uint32_t shard_for(const struct kho_config *cfg, const char *username)
{
    if (cfg->shard >= 0)
        return (uint32_t)cfg->shard;
    return ids_name_shard(username);
}

static enum kho_err register_work(struct req *r)
{
    struct credentials *c = r->ctx;
    struct meta_user u = {0};
    enum kho_err rc = password_hash(c->password, c->password_len, u.pwhash);
    if (rc)
        return rc;
    memcpy(u.username, c->username, c->username_len + 1);
    u.id = ids_next(shard_for(r->app->cfg, u.username));
    rc = r->app->meta->ops->user_create(r->app->meta, &u);
    if (rc == KHO_E_EXISTS)
        return req_fail(r, rc, "username_taken", "the username '%s' is taken", u.username);
    if (rc)
        return rc;
    return resp_json(r, 201, view_user(&u));
}

static enum kho_err users_create(struct req *r)
{
    struct credentials *c;
    enum kho_err rc = users_read_credentials(r, &c);
    if (rc)
        return rc;
    if (strlen(c->username) != c->username_len || !valid_username(c->username, c->username_len))
        return req_fail(r, KHO_E_INVALID, "invalid_username",
                        "a username is 3 to 32 of a-z, 0-9, '_' and '-'");
    if (password_check_policy(c->password, c->password_len))
        return req_fail(r, KHO_E_INVALID, "invalid_password", "a password is 8 to 1024 bytes");
    r->ctx = c;
    return req_async(r, register_work);
}

/* A quota as /me shows it: its limit, or null for unlimited. */
static json_t *quota_json(int64_t override, int64_t server_default)
{
    int64_t limit = meta_quota_limit(override, server_default);
    return limit > 0 ? json_integer(limit) : json_null();
}

static enum kho_err me_work(struct req *r)
{
    struct meta_usage u;
    const struct kho_config *cfg = r->app->cfg;
    enum kho_err rc = r->app->meta->ops->user_usage(r->app->meta, r->user.id, &u);
    if (rc)
        return rc;
    json_t *j = view_user(&r->user);
    json_object_set_new(j, "image_count", json_integer(u.images));
    json_object_set_new(j, "bytes_used", json_integer(u.bytes));
    json_object_set_new(j, "quota",
                        json_pack("{s:o,s:o}", "bytes", quota_json(u.quota_bytes, cfg->quota_bytes),
                                  "images", quota_json(u.quota_images, cfg->quota_images)));
    json_object_set_new(j, "watermark",
                        r->user.watermark[0] ? json_loads(r->user.watermark, 0, NULL)
                                             : json_null());
    return resp_json(r, 200, j);
}

static enum kho_err me_patch_work(struct req *r)
{
    const char *wm = r->ctx;
    enum kho_err rc = r->app->meta->ops->user_set_watermark(r->app->meta, r->user.id, wm);
    cached_user_forget(r->app, r->user.id);
    if (rc)
        return rc;
    snprintf(r->user.watermark, sizeof(r->user.watermark), "%s", wm);
    return me_work(r);
}

/* PATCH /api/v1/me {"watermark": {"text","position"?,"opacity"?,"scale"?} | null}: the user's
 * own watermark for variants of their images (null: the server's default). */
static enum kho_err users_me_patch(struct req *r)
{
    json_t *body;
    enum kho_err rc = req_json_body(r, &body);
    if (rc)
        return rc;
    const char *key;
    json_t *v;
    char *text = "";
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "watermark"))
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "unknown field '%.64s'", key);
        if (json_is_null(v))
            continue;
        if (!json_is_object(v))
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'watermark' must be an object or null");
        char *dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        text = dump ? arena_strdup(&r->arena, dump) : NULL;
        free(dump);
        if (!text)
            return KHO_E_NOMEM;
        struct watermark wm;
        char wm_text[WATERMARK_MAX_TEXT + 1];
        const char *why;
        if (strlen(text) > META_WATERMARK_MAX ||
            variants_parse_watermark(text, &wm, wm_text, sizeof(wm_text), &why))
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "%s",
                            strlen(text) > META_WATERMARK_MAX ? "watermark is too long" : why);
    }
    r->ctx = text;
    return req_async(r, me_patch_work);
}

static enum kho_err users_me(struct req *r)
{
    return me_work(r); /* one row read from the counters, like any other lookup on the loop */
}

const struct route users_routes[] = {
    {"POST", "/api/v1/users", users_create, 0},
    {"GET", "/api/v1/me", users_me, ROUTE_AUTH},
    {"PATCH", "/api/v1/me", users_me_patch, ROUTE_AUTH},
    {NULL, NULL, NULL, 0},
};
