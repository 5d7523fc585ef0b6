/* Declarative route tables: each file in src/http/routes/ ends with a table such as
 *   { "POST", "/api/v1/images", images_upload, ROUTE_AUTH | ROUTE_UPLOAD },
 * and the router matches a method and a decoded path against all of them. A pattern segment
 * written {name} captures one non-empty path segment into req->params, in order. */
#ifndef KHO_ROUTER_H
#define KHO_ROUTER_H
#include "core/err.h"
#include "http/request.h"

enum route_flags {
    ROUTE_AUTH = 1,      /* needs a logged-in user: 401 otherwise */
    ROUTE_AUTH_OPT = 2,  /* resolves the user when credentials are given, anonymous otherwise */
    ROUTE_UPLOAD = 4,    /* takes a body up to max-upload-bytes (else max-json-bytes) */
    ROUTE_INTERNAL = 8,  /* served by process nodes (--role process or all), not api nodes */
    ROUTE_ANY_ROLE = 16, /* served by every role (health, metrics) */
    ROUTE_SESSION = 32   /* with ROUTE_AUTH: a login session only, API keys get 403 */
};

struct route {
    const char *method; /* "GET" also answers HEAD */
    const char *pattern;
    enum kho_err (*handler)(struct req *r);
    unsigned flags;
};

/* Tables, each ending with an entry whose method is NULL. */
extern const struct route users_routes[], sessions_routes[], images_routes[], media_routes[],
    health_routes[], internal_routes[], web_routes[];
extern const struct route keys_routes[];
extern const struct route albums_routes[], links_routes[];

/* Find the route for method and path and fill params (copies in r's arena).
 * KHO_E_NOTFOUND when no pattern matches the path; KHO_E_UNSUPPORTED when patterns match but
 * not the method, with *allow set to the allowed methods ("GET, HEAD, DELETE"). */
enum kho_err router_match(struct req *r, const struct route **out, const char **allow);

/* Call fn for every route (used by tests and docs). */
void router_each(void (*fn)(const struct route *rt, void *arg), void *arg);

#endif
