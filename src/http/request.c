/* Request accessors and the hand-off of blocking work to the worker pool; see request.h. */
#include <stddef.h>
#include <string.h>
#include "http/app.h"
#include "http/conn.h"
#include "http/query.h"
#include "http/request.h"
#include "http/response.h"
#include "core/kho.h"

#define QUERY_VALUE_MAX 4096

const char *req_header(struct req *r, const char *name)
{
    size_t len;
    const char *v = http_head_header(&r->head, name, &len);
    return v ? arena_strndup(&r->arena, v, len) : NULL;
}

enum kho_err req_query(struct req *r, const char *name, const char **out)
{
    *out = NULL;
    size_t qlen = strlen(r->query);
    if (!query_has(r->query, qlen, name))
        return KHO_OK;
    char *v = arena_alloc(&r->arena, QUERY_VALUE_MAX);
    size_t n;
    if (!v)
        return KHO_E_NOMEM;
    if (!query_get(r->query, qlen, name, v, QUERY_VALUE_MAX, &n))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter", "invalid value for '%s'", name);
    v[n] = '\0';
    *out = v;
    return KHO_OK;
}

static void json_free(void *p)
{
    json_decref(p);
}

enum kho_err req_json_body(struct req *r, json_t **out)
{
    if (r->body.len == 0)
        return req_fail(r, KHO_E_INVALID, "empty_body", "a JSON object body is required");
    json_error_t jerr;
    json_t *j = json_loadb(r->body.p, r->body.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
                         &jerr);
    if (!j)
        return req_fail(r, KHO_E_INVALID, "invalid_json", "invalid JSON at line %d column %d",
                        jerr.line, jerr.column);
    enum kho_err rc = arena_defer(&r->arena, json_free, j);
    if (rc)
        return rc;
    if (!json_is_object(j))
        return req_fail(r, KHO_E_INVALID, "invalid_request", "the body must be a JSON object");
    *out = j;
    return KHO_OK;
}

void req_park(struct req *r)
{
    r->pending = true;
}

void req_resume(struct req *r)
{
    loop_post_done(conn_loop(r->conn), r);
}

static void run_job(struct pool_job *job)
{
    struct req *r = (struct req *)((char *)job - offsetof(struct req, job));
    enum kho_err rc = r->work(r);
    if (rc == KHO_E_AGAIN)
        return; /* parked again: its new holder resumes it */
    if (rc)
        resp_error(r, rc);
    req_resume(r);
}

enum kho_err req_async(struct req *r, enum kho_err (*work)(struct req *r))
{
    return req_async_on(r, r->app->pool, work);
}

enum kho_err req_async_on(struct req *r, struct pool *pool, enum kho_err (*work)(struct req *r))
{
    r->work = work;
    r->job.run = run_job;
    r->pending = true;
    enum kho_err rc = pool_submit(pool, &r->job);
    if (rc) {
        r->pending = false;
        return req_fail(r, rc, "unavailable", "the server is busy, retry shortly");
    }
    return KHO_OK;
}
