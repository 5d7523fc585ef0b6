/* Who is making a request: a bearer token (a session's or an API key) or the session cookie,
 * looked up by its SHA-256 in the metadata store; and the CSRF check that cookie-authenticated
 * state changes need. */
#ifndef KHO_AUTHN_H
#define KHO_AUTHN_H
#include "http/request.h"

#define AUTHN_SESSION_COOKIE "kho_session"
#define AUTHN_CSRF_COOKIE "kho_csrf"
#define AUTHN_CSRF_HEADER "X-CSRF-Token"

/* Sets r->authed and r->user when valid credentials are present; KHO_OK with r->authed false
 * when none are; KHO_E_UNAUTH when credentials are present but unknown, malformed or expired.
 * A bearer that is an API key ("kho_" and 64 hex digits) is looked up among keys (r->by_key),
 * anything else among sessions; keys are never taken from the cookie. A valid key is refused
 * with KHO_E_DENIED on a ROUTE_SESSION route (forbidden) and, when its scope is read, for any
 * method but GET and HEAD (insufficient_scope). Its last use is recorded in the background. */
enum kho_err authn_resolve(struct req *r);
/* For a cookie-authenticated POST/PUT/PATCH/DELETE, the X-CSRF-Token header must carry the
 * session's CSRF token: KHO_E_DENIED (csrf_failed) otherwise. Bearer tokens need none. */
enum kho_err authn_check_csrf(struct req *r);

#endif
