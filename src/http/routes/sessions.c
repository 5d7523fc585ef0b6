/* Log in and log out. A login answers with a bearer token for scripts and sets two cookies for
 * browsers: the HttpOnly session cookie and a readable CSRF cookie whose value state-changing
 * requests must echo in X-CSRF-Token. Failed logins are limited per account and per address. */
#include <stdio.h>
#include <string.h>
#include "auth/password.h"
#include "auth/token.h"
#include "http/app.h"
#include "http/authn.h"
#include "http/cached.h"
#include "http/loginlimit.h"
#include "http/router.h"
#include "http/routes/routes.h"
#include "http/views.h"
#include "meta/shardmap.h"
#include "core/kho.h"

static void account_key(const char *username, char *out, size_t cap)
{
    snprintf(out, cap, "u:%s", username);
}

static enum kho_err limited(struct req *r, int64_t retry_after)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)(retry_after > 0 ? retry_after : 1));
    enum kho_err rc =
        req_fail(r, KHO_E_RATE, "rate_limited", "too many failed logins, retry in %s seconds", v);
    resp_header(r, "Retry-After", v);
    return rc;
}

static void set_cookies(struct req *r, const char *token, const char *csrf, int64_t max_age)
{
    const char *secure = r->app->cfg->cookie_secure ? "; Secure" : "";
    resp_header_add(r, "Set-Cookie",
                    req_printf(r, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s",
                               AUTHN_SESSION_COOKIE, token, (long long)max_age, secure));
    resp_header_add(r, "Set-Cookie",
                    req_printf(r, "%s=%s; Path=/; Max-Age=%lld; SameSite=Lax%s", AUTHN_CSRF_COOKIE,
                               csrf, (long long)max_age, secure));
    resp_header(r, "Cache-Control", "no-store");
}

static enum kho_err login_work(struct req *r)
{
    struct credentials *c = r->ctx;
    struct app *app = r->app;
    char key[48];
    account_key(c->username, key, sizeof(key));
    struct meta_user u;
    /* refuse before hashing anything: the limiter is what keeps guessing expensive; here, off
     * the event loop, as a shared limiter asks Redis */
    int64_t retry = 0;
    if (loginlimit_check(app, key, r->peer, now_ms(), &retry))
        return limited(r, retry);
    enum kho_err rc = KHO_E_NOTFOUND;
    if (c->username_len <= META_USERNAME_MAX && strlen(c->username) == c->username_len)
        rc = app->meta->ops->user_by_name(app->meta, c->username, &u);
    if (rc == KHO_E_NOTFOUND) {
        password_verify_dummy(c->password, c->password_len); /* same time as a wrong password */
        rc = KHO_E_UNAUTH;
    } else if (!rc) {
        rc = password_verify(u.pwhash, c->password, c->password_len);
    }
    if (rc == KHO_E_UNAUTH) {
        loginlimit_fail(app, key, r->peer, now_ms());
        return req_fail(r, rc, "invalid_credentials", "wrong username or password");
    }
    if (rc)
        return rc;
    loginlimit_reset(app, key);

    char token[TOKEN_SESSION_LEN + 1], csrf[TOKEN_LEN + 1], token_h[65], csrf_h[65];
    token_new_session(shardmap_of_id(u.id), token);
    token_new(csrf);
    token_hash(token, strlen(token), token_h);
    token_hash(csrf, strlen(csrf), csrf_h);
    int64_t ttl = app->cfg->session_ttl, expires = now_ms() + ttl * 1000;
    rc = app->meta->ops->session_create(app->meta, token_h, csrf_h, u.id, expires);
    if (rc)
        return rc;
    char at[32];
    view_time(expires, at);
    set_cookies(r, token, csrf, ttl);
    return resp_json(r, 201,
                     json_pack("{s:s,s:s,s:s,s:o}", "token", token, "csrf_token", csrf,
                               "expires_at", at, "user", view_user(&u)));
}

static enum kho_err sessions_create(struct req *r)
{
    struct credentials *c;
    enum kho_err rc = users_read_credentials(r, &c);
    if (rc)
        return rc;
    r->ctx = c;
    return req_async(r, login_work);
}

static enum kho_err logout_work(struct req *r)
{
    enum kho_err rc =
        r->app->meta->ops->session_delete(r->app->meta, r->session_shard, r->session_hash);
    cached_session_forget(r->app, r->session_hash);
    if (rc && rc != KHO_E_NOTFOUND)
        return rc;
    set_cookies(r, "", "", 0);
    resp_empty(r, 204);
    return KHO_OK;
}

static enum kho_err sessions_delete(struct req *r)
{
    return req_async(r, logout_work);
}

const struct route sessions_routes[] = {
    {"POST", "/api/v1/sessions", sessions_create, 0},
    {"DELETE", "/api/v1/sessions/current", sessions_delete, ROUTE_AUTH | ROUTE_SESSION},
    {NULL, NULL, NULL, 0},
};
