/* Request authentication; see authn.h. Tokens and API keys are checked for shape before any
 * lookup, and only their hashes ever reach the database. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth/apikey.h"
#include "auth/token.h"
#include "http/app.h"
#include "http/authn.h"
#include "http/cached.h"
#include "http/query.h"
#include "http/router.h"
#include "core/kho.h"

_Static_assert(TOKEN_SHARD_NONE == META_SHARD_UNKNOWN, "a bare token's shard passes to meta as is");

/* A key's last use, written on the worker pool: this runs on the event loop, which must never
 * wait for a database write. Nobody waits for the job either; the throttle (apikey_touch_due)
 * makes it at most one write per key per hour. */
struct touch_job {
    struct pool_job job;
    struct meta_store *meta;
    uint64_t id;
    int64_t at;
};

static void touch_run(struct pool_job *job)
{
    struct touch_job *t = (struct touch_job *)((char *)job - offsetof(struct touch_job, job));
    enum kho_err rc = t->meta->ops->key_touch(t->meta, t->id, t->at);
    if (rc)
        log_warn("cannot record the use of api key '%llu': %s", (unsigned long long)t->id,
                 kho_err_name(rc));
    free(t);
}

static void touch_later(struct app *app, const struct meta_key *k, int64_t now)
{
    if (!apikey_touch_due(app->key_touches, k->id, k->last_used_at, now))
        return;
    struct touch_job *t = xmalloc(sizeof(*t));
    *t = (struct touch_job){.job.run = touch_run, .meta = app->meta, .id = k->id, .at = now};
    /* A full queue drops it: last_used_at then lags by up to an hour more, which harms nothing,
     * while a request must not fail over a timestamp. */
    if (pool_submit(app->pool, &t->job) != KHO_OK)
        free(t);
}

/* The API key token[0..len) (well-formed) names the user; it may be refused for this request. */
static enum kho_err resolve_key(struct req *r, const char *token)
{
    char hash[65];
    struct meta_key key;
    int64_t now = now_ms();
    apikey_hash(token, hash);
    enum kho_err rc = cached_key_lookup(r->app, hash, &r->user, &key);
    if (rc == KHO_E_NOTFOUND)
        return req_fail(r, KHO_E_UNAUTH, "unauthorized", "the API key is unknown or revoked");
    if (rc)
        return rc;
    r->authed = true;
    r->by_key = true;
    touch_later(r->app, &key, now);
    if (r->route->flags & ROUTE_SESSION)
        return req_fail(r, KHO_E_DENIED, "forbidden",
                        "this needs a login session: API keys cannot manage keys or log out");
    if (key.scope == META_SCOPE_READ && r->method != M_GET && r->method != M_HEAD)
        return req_fail(r, KHO_E_DENIED, "insufficient_scope",
                        "this API key may only read (GET and HEAD)");
    return KHO_OK;
}

enum kho_err authn_resolve(struct req *r)
{
    char token[APIKEY_LEN + 1];
    size_t len = 0;
    const char *auth = req_header(r, "Authorization");
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0)
            return req_fail(r, KHO_E_UNAUTH, "unauthorized", "use 'Authorization: Bearer TOKEN'");
        const char *t = auth + 7;
        while (*t == ' ')
            t++;
        len = strlen(t);
        if (len >= sizeof(token))
            return req_fail(r, KHO_E_UNAUTH, "unauthorized", "invalid token");
        memcpy(token, t, len + 1);
        if (apikey_well_formed(token, len))
            return resolve_key(r, token);
    } else {
        /* a key in the cookie is refused below: keys are for scripts, never for browsers */
        const char *cookies = req_header(r, "Cookie");
        if (!cookies ||
            !cookie_get(cookies, strlen(cookies), AUTHN_SESSION_COOKIE, token, sizeof(token)))
            return KHO_OK;
        len = strlen(token);
        r->by_cookie = true;
    }
    if (!token_session_parse(token, len, &r->session_shard))
        return req_fail(r, KHO_E_UNAUTH, "unauthorized", "invalid token");
    token_hash(token, len, r->session_hash);
    enum kho_err rc = cached_session_lookup(r->app, r->session_shard, r->session_hash, now_ms(),
                                            &r->user, r->csrf_hash);
    if (rc == KHO_E_NOTFOUND)
        return req_fail(r, KHO_E_UNAUTH, "unauthorized", "the token is unknown or expired");
    if (rc)
        return rc;
    r->authed = true;
    return KHO_OK;
}

enum kho_err authn_check_csrf(struct req *r)
{
    if (!r->by_cookie || r->method == M_GET || r->method == M_HEAD || r->method == M_OPTIONS)
        return KHO_OK;
    const char *sent = req_header(r, AUTHN_CSRF_HEADER);
    char hash[65];
    if (sent && token_well_formed(sent, strlen(sent))) {
        token_hash(sent, strlen(sent), hash);
        if (token_equal(hash, r->csrf_hash, 64))
            return KHO_OK;
    }
    return req_fail(r, KHO_E_DENIED, "csrf_failed",
                    "a request authenticated by cookie needs the 'X-CSRF-Token' header");
}
