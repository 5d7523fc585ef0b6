/* One HTTP request as route handlers see it, and the response they build on it.
 * A request lives in one arena (released when its response is sent). A handler either answers
 * at once (resp_*), or hands blocking work to the worker pool with req_async: the work runs on a
 * pool thread and the response is written back on the request's own event loop.
 * Only one thread touches a request at a time, so fields need no locks. */
#ifndef KHO_REQUEST_H
#define KHO_REQUEST_H
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "blob/blob.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/pool.h"
#include "http/parser.h"
#include "meta/meta.h"

struct app;
struct conn;
struct route;

#define REQ_MAX_PARAMS 2
#define RESP_MAX_HEADERS 16

enum http_method { M_GET, M_HEAD, M_POST, M_PUT, M_PATCH, M_DELETE, M_OPTIONS, M_OTHER };

struct resp_header {
    const char *name, *value;
};

struct req {
    struct arena arena;
    struct app *app;
    struct conn *conn;
    struct pool_job job;

    /* the request, all strings NUL-terminated in the arena */
    enum http_method method;
    const char *method_name;
    const char *path;   /* percent-decoded, no query */
    const char *query;  /* raw query after '?', "" when none */
    struct http_head head;
    const char *params[REQ_MAX_PARAMS]; /* {id}-style captures of the route pattern */
    const struct route *route;
    struct buf body;
    char peer[48]; /* client address, for rate limits and the access log */
    char via[48];  /* the socket peer when peer came from X-Forwarded-For, else "" */
    char id[65];   /* X-Request-Id */
    uint64_t start_ns;
    uint64_t receive_ns; /* time spent receiving the body */
    int64_t reserved;    /* bytes held of app->inflight_body_bytes */

    /* who is asking: set by authn_resolve */
    bool authed, by_cookie;
    struct meta_user user;
    char session_hash[65];
    uint32_t session_shard; /* the logical shard the session token names (token.h) */
    char csrf_hash[65];
    bool by_key; /* an API key, not a login session (session_hash is then unset) */

    /* the response */
    int status;
    struct resp_header headers[RESP_MAX_HEADERS];
    int nheaders;
    const char *content_type;
    const char *out;
    size_t out_len;
    bool has_file;        /* body is [file_off, file_off+file_len) of file, sent with sendfile */
    struct blob_ref file; /* released by the connection once sent */
    uint64_t file_off, file_len;
    bool head_only; /* HEAD: headers as for GET, no body */
    const char *err_code, *err_msg;
    int err_status; /* status override for protocol errors; 0 = from the error table */

    /* async work, and what the handler hands it (allocated in the arena) */
    bool pending; /* answered later, from another thread (req_async, req_park) */
    enum kho_err (*work)(struct req *r);
    void *ctx;
};

/* Header value (NUL-terminated copy in the arena) or NULL. */
const char *req_header(struct req *r, const char *name);
/* Query parameter, percent-decoded into the arena, or NULL when absent. An invalid escape or an
 * over-long value fails with KHO_E_INVALID naming the parameter. */
enum kho_err req_query(struct req *r, const char *name, const char **out);

/* Parse the body as a JSON object (bounded by the route's body limit); *out is freed with the
 * arena. Errors: invalid_json (400). */
enum kho_err req_json_body(struct req *r, json_t **out);

/* Run work(r) on the worker pool; its result (an error or a response it built) is sent from
 * the request's event loop. Returns KHO_E_BUSY (503) when the pool's queue is full. */
enum kho_err req_async(struct req *r, enum kho_err (*work)(struct req *r));
/* The same on another pool (the processing pool). */
enum kho_err req_async_on(struct req *r, struct pool *pool, enum kho_err (*work)(struct req *r));

/* Leave r unanswered for now: another thread owns it until it calls req_resume. A handler (or
 * req_async work) that parked r successfully returns KHO_E_AGAIN and touches r no more, since
 * its new holder may already have answered it. */
void req_park(struct req *r);
/* Hand a parked request, its response (or error) filled in, back to its event loop. */
void req_resume(struct req *r);

/* Record why a request failed and return e, so handlers write
 * `return req_fail(r, KHO_E_INVALID, "invalid_parameter", "'limit' must be 1 to 200");`.
 * code is a static snake_case string; the message is formatted into the arena. */
enum kho_err req_fail(struct req *r, enum kho_err e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Response builders: they only fill the response fields; the connection writes them. */
void resp_header(struct req *r, const char *name, const char *value); /* value copied; replaces */
void resp_header_add(struct req *r, const char *name, const char *value); /* for Set-Cookie */
enum kho_err resp_json(struct req *r, int status, json_t *body);      /* consumes body */
void resp_empty(struct req *r, int status);
/* Serve bytes [off, off+len) of a pinned blob; the connection releases ref when done. */
void resp_file(struct req *r, int status, const char *content_type, struct blob_ref *ref,
               uint64_t off, uint64_t len);
/* Serve len bytes at data, which must live as long as r (allocate it in r's arena). */
void resp_bytes(struct req *r, int status, const char *content_type, const void *data, size_t len);
/* Turn an error into the response: status and code from the table in response.c unless
 * req_fail recorded more precise ones. */
void resp_error(struct req *r, enum kho_err e);

/* The request's arena-backed copy of a string printed with printf, or NULL past the arena. */
#define req_printf(r, ...) arena_printf(&(r)->arena, __VA_ARGS__)

#endif
