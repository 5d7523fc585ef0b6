/* Request authentication; see authn.h. Tokens are checked for shape before any lookup, and only
 * their hashes ever reach the database. */
#include <string.h>
#include <strings.h>
#include "auth/token.h"
#include "http/app.h"
#include "http/authn.h"
#include "http/query.h"
#include "core/kho.h"

enum kho_err authn_resolve(struct req *r)
{
    char token[64];
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
    } else {
        const char *cookies = req_header(r, "Cookie");
        if (!cookies ||
            !cookie_get(cookies, strlen(cookies), AUTHN_SESSION_COOKIE, token, sizeof(token)))
            return KHO_OK;
        len = strlen(token);
        r->by_cookie = true;
    }
    if (!token_well_formed(token, len))
        return req_fail(r, KHO_E_UNAUTH, "unauthorized", "invalid token");
    token_hash(token, len, r->session_hash);
    enum kho_err rc = r->app->meta->ops->session_lookup(r->app->meta, r->session_hash, now_ms(),
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
