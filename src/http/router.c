/* Matches requests against the route tables of src/http/routes/; see router.h. */
#include <string.h>
#include "http/app.h"
#include "http/router.h"
#include "core/kho.h"

static const struct route *const tables[] = {
    users_routes,    sessions_routes, images_routes, media_routes, health_routes,
    internal_routes, keys_routes,     albums_routes, links_routes, web_routes};

/* Does a node of this role (--role all|api|process) serve rt? */
static bool served(const struct route *rt, const char *role)
{
    if ((rt->flags & ROUTE_ANY_ROLE) || !strcmp(role, "all"))
        return true;
    return !strcmp(role, "process") == !!(rt->flags & ROUTE_INTERNAL);
}

/* Does path match pattern? Captures go to caps (pointers into path) with their lengths. */
static bool match(const char *pattern, const char *path, const char **caps, size_t *caplen,
                  int *ncaps)
{
    const char *p = pattern, *s = path;
    *ncaps = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t n = strcspn(s, "/");
            if (!close || n == 0 || *ncaps >= REQ_MAX_PARAMS)
                return false;
            caps[*ncaps] = s;
            caplen[*ncaps] = n;
            (*ncaps)++;
            p = close + 1;
            s += n;
        } else if (*p++ != *s++) {
            return false;
        }
    }
    return !*p && !*s;
}

static bool method_is(const struct route *rt, enum http_method m, const char *name)
{
    if (!strcmp(rt->method, name))
        return true;
    return m == M_HEAD && !strcmp(rt->method, "GET");
}

enum kho_err router_match(struct req *r, const struct route **out, const char **allow)
{
    char methods[96] = "";
    bool path_matched = false;
    for (size_t t = 0; t < ARRAY_LEN(tables); t++)
        for (const struct route *rt = tables[t]; rt->method; rt++) {
            const char *caps[REQ_MAX_PARAMS];
            size_t caplen[REQ_MAX_PARAMS];
            int ncaps;
            if (!served(rt, r->app->cfg->role) ||
                !match(rt->pattern, r->path, caps, caplen, &ncaps))
                continue;
            if (method_is(rt, r->method, r->method_name)) {
                for (int i = 0; i < ncaps; i++) {
                    r->params[i] = arena_strndup(&r->arena, caps[i], caplen[i]);
                    if (!r->params[i])
                        return KHO_E_NOMEM;
                }
                *out = rt;
                return KHO_OK;
            }
            path_matched = true;
            size_t used = strlen(methods);
            snprintf(methods + used, sizeof(methods) - used, "%s%s%s", used ? ", " : "", rt->method,
                     strcmp(rt->method, "GET") ? "" : ", HEAD");
        }
    if (!path_matched)
        return KHO_E_NOTFOUND;
    *allow = arena_strdup(&r->arena, methods);
    return KHO_E_UNSUPPORTED;
}

void router_each(void (*fn)(const struct route *rt, void *arg), void *arg)
{
    for (size_t t = 0; t < ARRAY_LEN(tables); t++)
        for (const struct route *rt = tables[t]; rt->method; rt++)
            fn(rt, arg);
}
