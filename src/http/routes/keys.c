/* API keys for scripts and the CLI: create one (the only time the key is shown), list them,
 * revoke one. Managing keys needs a login session (ROUTE_SESSION), so a leaked key can neither
 * mint more keys nor revoke its owner's. Someone else's key answers 404, like their images. */
#include <string.h>
#include "auth/apikey.h"
#include "http/app.h"
#include "http/cached.h"
#include "http/router.h"
#include "http/views.h"
#include "core/kho.h"
#include "core/utf8.h"

static enum kho_err create_work(struct req *r)
{
    struct meta_key *k = r->ctx;
    char key[APIKEY_LEN + 1], hash[65];
    apikey_new(key);
    apikey_hash(key, hash);
    apikey_shown(key, k->prefix);
    k->id = ids_next(ids_shard(r->user.id));
    k->user_id = r->user.id;
    enum kho_err rc = r->app->meta->ops->key_create(r->app->meta, k, hash);
    if (rc == KHO_E_TOO_LARGE) {
        rc = req_fail(r, KHO_E_EXISTS, "too_many_keys",
                      "you hold %d API keys already: revoke one first", META_KEYS_MAX);
    } else if (!rc) {
        json_t *j = view_key(k);
        json_object_set_new(j, "key", json_string(key));
        resp_header(r, "Cache-Control", "no-store");
        rc = resp_json(r, 201, j);
    }
    explicit_bzero(key, sizeof(key)); /* the response holds the only copy */
    return rc;
}

/* POST /api/v1/keys {"name": 1..64 bytes of text, "scope": "read"|"read-write"} */
static enum kho_err keys_create(struct req *r)
{
    json_t *body;
    struct meta_key *k = arena_calloc(&r->arena, sizeof(*k));
    if (!k)
        return KHO_E_NOMEM;
    enum kho_err rc = req_json_body(r, &body);
    if (rc)
        return rc;
    bool named = false, scoped = false;
    const char *field;
    json_t *v;
    json_object_foreach(body, field, v)
    {
        if (!strcmp(field, "name")) {
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            if (!s || n < 1 || n > META_KEY_NAME_MAX || strlen(s) != n || !utf8_valid_text(s, n))
                return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                                "'name' must be text of 1 to %d bytes", META_KEY_NAME_MAX);
            memcpy(k->name, s, n + 1);
            named = true;
        } else if (!strcmp(field, "scope")) {
            const char *s = json_string_value(v);
            if (s && !strcmp(s, "read"))
                k->scope = META_SCOPE_READ;
            else if (s && !strcmp(s, "read-write"))
                k->scope = META_SCOPE_READ_WRITE;
            else
                return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                                "'scope' must be read or read-write");
            scoped = true;
        } else {
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "unknown field '%.64s'", field);
        }
    }
    if (!named)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'name' must be text of 1 to %d bytes", META_KEY_NAME_MAX);
    if (!scoped)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'scope' must be read or read-write");
    r->ctx = k;
    return req_async(r, create_work);
}

static enum kho_err keys_list(struct req *r)
{
    struct meta_key *keys = arena_alloc(&r->arena, sizeof(*keys) * META_KEYS_MAX);
    int n = 0;
    if (!keys)
        return KHO_E_NOMEM;
    enum kho_err rc =
        r->app->meta->ops->key_list(r->app->meta, r->user.id, keys, META_KEYS_MAX, &n);
    if (rc)
        return rc;
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, view_key(&keys[i]));
    resp_header(r, "Cache-Control", "private, no-cache");
    return resp_json(r, 200, json_pack("{s:o}", "items", items));
}

static enum kho_err delete_work(struct req *r)
{
    uint64_t *id = r->ctx;
    char hash[65];
    enum kho_err rc = r->app->meta->ops->key_delete(r->app->meta, *id, r->user.id, hash);
    if (rc == KHO_OK)
        cached_key_forget(r->app, hash);
    if (rc == KHO_E_NOTFOUND)
        return req_fail(r, rc, "not_found", "no API key '%s'", r->params[0]);
    if (rc)
        return rc;
    resp_empty(r, 204);
    return KHO_OK;
}

static enum kho_err keys_delete(struct req *r)
{
    uint64_t *id = arena_alloc(&r->arena, sizeof(*id));
    if (!id)
        return KHO_E_NOMEM;
    if (!ids_parse(r->params[0], id))
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no API key '%s'", r->params[0]);
    r->ctx = id;
    return req_async(r, delete_work);
}

const struct route keys_routes[] = {
    {"POST", "/api/v1/keys", keys_create, ROUTE_AUTH | ROUTE_SESSION},
    {"GET", "/api/v1/keys", keys_list, ROUTE_AUTH | ROUTE_SESSION},
    {"DELETE", "/api/v1/keys/{id}", keys_delete, ROUTE_AUTH | ROUTE_SESSION},
    {NULL, NULL, NULL, 0},
};
