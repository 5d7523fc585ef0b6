/* Response fields, the error table and HTTP/1.1 serialisation. Errors reach clients only through
 * resp_error: a status, a stable snake_case code and a lower-case message, as JSON. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "http/app.h"
#include "http/response.h"
#include "core/kho.h"

struct err_entry {
    int status;
    const char *code, *message;
};

static const struct err_entry errs[KHO_E__COUNT] = {
    [KHO_E_NOMEM] = {503, "unavailable", "the server is short of memory, retry later"},
    [KHO_E_INVALID] = {400, "invalid_request", "the request is invalid"},
    [KHO_E_NOTFOUND] = {404, "not_found", "not found"},
    [KHO_E_EXISTS] = {409, "conflict", "it exists already"},
    [KHO_E_UNAUTH] = {401, "unauthorized", "authentication required"},
    [KHO_E_DENIED] = {403, "forbidden", "not allowed"},
    [KHO_E_TOO_LARGE] = {413, "too_large", "the request is too large"},
    [KHO_E_UNSUPPORTED] = {415, "unsupported_media_type", "unsupported media type"},
    [KHO_E_RATE] = {429, "rate_limited", "too many attempts, retry later"},
    [KHO_E_BUSY] = {503, "unavailable", "the server is busy, retry later"},
    [KHO_E_BACKEND] = {503, "unavailable", "storage is unavailable, retry later"},
    [KHO_E_IO] = {500, "internal_error", "internal error"},
    [KHO_E_CORRUPT] = {500, "internal_error", "internal error"},
    [KHO_E_AGAIN] = {500, "internal_error", "internal error"},
};

/* Codes whose status differs from their error's default. */
static const struct {
    const char *code;
    int status;
} code_status[] = {
    {"headers_too_large", 431},   {"version_not_supported", 505}, {"not_implemented", 501},
    {"request_timeout", 408},     {"method_not_allowed", 405},    {"range_not_satisfiable", 416},
    {"invalid_credentials", 401}, {"csrf_failed", 403},           {"username_taken", 409},
    {"too_many_albums", 409},     {"album_full", 409},            {"too_many_links", 409},
    {"link_expired", 410},
};

void resp_error(struct req *r, enum kho_err e)
{
    const struct err_entry *d = (unsigned)e < KHO_E__COUNT && errs[e].status
                                    ? &errs[e]
                                    : &(const struct err_entry){500, "internal_error", "internal error"};
    const char *code = r->err_code ? r->err_code : d->code;
    const char *msg = r->err_msg ? r->err_msg : d->message;
    int status = d->status;
    for (size_t i = 0; i < ARRAY_LEN(code_status); i++)
        if (!strcmp(code, code_status[i].code))
            status = code_status[i].status;
    if (r->err_status)
        status = r->err_status;
    bool has_retry = false;
    for (int i = 0; i < r->nheaders; i++)
        has_retry |= !strcasecmp(r->headers[i].name, "Retry-After");
    if ((status == 429 || status == 503) && !has_retry)
        resp_header(r, "Retry-After", status == 429 ? "60" : "1");
    if (status >= 500)
        log_warn("request '%s' failed: %s (%s)", r->id, kho_err_name(e), msg);
    /* a failed request's earlier response fields (a file, headers) are dropped */
    if (r->has_file) {
        blob_ref_release(r->app->blob, &r->file);
        r->has_file = false;
    }
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    if (resp_json(r, status, body) != KHO_OK) {
        r->status = status;
        r->content_type = "application/json";
        r->out = "{\"error\":{\"code\":\"internal_error\",\"message\":\"internal error\"}}";
        r->out_len = strlen(r->out);
    }
}

enum kho_err req_fail(struct req *r, enum kho_err e, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->err_code = code;
    r->err_msg = arena_strdup(&r->arena, msg);
    return e;
}

void resp_header(struct req *r, const char *name, const char *value)
{
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name)) {
            r->headers[i].value = arena_strdup(&r->arena, value);
            return;
        }
    resp_header_add(r, name, value);
}

void resp_header_add(struct req *r, const char *name, const char *value)
{
    if (r->nheaders >= RESP_MAX_HEADERS) {
        log_error("too many response headers for '%s'", r->path ? r->path : "?");
        return;
    }
    const char *v = arena_strdup(&r->arena, value);
    if (!v)
        return;
    r->headers[r->nheaders].name = name;
    r->headers[r->nheaders].value = v;
    r->nheaders++;
}

enum kho_err resp_json(struct req *r, int status, json_t *body)
{
    if (!body)
        return KHO_E_NOMEM;
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);
    if (!text)
        return KHO_E_NOMEM;
    size_t n = strlen(text);
    char *copy = arena_alloc(&r->arena, n + 1);
    if (copy)
        memcpy(copy, text, n + 1);
    free(text);
    if (!copy)
        return KHO_E_NOMEM;
    r->status = status;
    r->content_type = "application/json";
    r->out = copy;
    r->out_len = n;
    return KHO_OK;
}

void resp_empty(struct req *r, int status)
{
    r->status = status;
    r->content_type = NULL;
    r->out = NULL;
    r->out_len = 0;
}

void resp_file(struct req *r, int status, const char *content_type, struct blob_ref *ref,
               uint64_t off, uint64_t len)
{
    r->status = status;
    r->content_type = content_type;
    r->out = NULL;
    r->out_len = 0;
    r->has_file = true;
    r->file = *ref;
    r->file_off = off;
    r->file_len = len;
}

void resp_bytes(struct req *r, int status, const char *content_type, const void *data, size_t len)
{
    r->status = status;
    r->content_type = content_type;
    r->out = data;
    r->out_len = len;
}

const char *resp_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* RFC 9110 IMF-fixdate, cached per second per thread: formatting it costs more than a request. */
static const char *http_date(void)
{
    static _Thread_local time_t cached_at;
    static _Thread_local char text[40];
    time_t now = time(NULL);
    if (now != cached_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_at = now;
    }
    return text;
}

/* The response head is assembled in a stack buffer and handed to the evbuffer in one piece:
 * a printf per header line cost more than the rest of serving a cached photo. */
struct head_writer {
    struct evbuffer *out;
    size_t n, total;
    char buf[2048];
};

static void hw_put(struct head_writer *w, const char *s, size_t len)
{
    if (w->n + len > sizeof(w->buf)) {
        evbuffer_add(w->out, w->buf, w->n);
        w->n = 0;
        if (len > sizeof(w->buf)) {
            evbuffer_add(w->out, s, len);
            w->total += len;
            return;
        }
    }
    memcpy(w->buf + w->n, s, len);
    w->n += len;
    w->total += len;
}

static void hw_str(struct head_writer *w, const char *s)
{
    hw_put(w, s, strlen(s));
}

static void hw_u64(struct head_writer *w, uint64_t v)
{
    char t[20];
    size_t i = sizeof(t);
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    hw_put(w, t + i, sizeof(t) - i);
}

static void hw_header(struct head_writer *w, const char *name, const char *value)
{
    hw_str(w, name);
    hw_put(w, ": ", 2);
    hw_str(w, value);
    hw_put(w, "\r\n", 2);
}

size_t resp_write_head(struct req *r, struct evbuffer *out, uint64_t body_len, bool keep_alive)
{
    struct head_writer w = {.out = out};
    hw_put(&w, "HTTP/1.1 ", 9);
    hw_u64(&w, (uint64_t)r->status);
    hw_put(&w, " ", 1);
    hw_str(&w, resp_reason(r->status));
    hw_put(&w, "\r\nServer: kho\r\n", 15);
    hw_header(&w, "Date", http_date());
    /* 204 and 304 carry no body and no length (RFC 9110 8.6) */
    if (r->status != 204 && r->status != 304) {
        hw_put(&w, "Content-Length: ", 16);
        hw_u64(&w, body_len);
        hw_put(&w, "\r\n", 2);
    }
    if (r->content_type)
        hw_header(&w, "Content-Type", r->content_type);
    for (int i = 0; i < r->nheaders; i++)
        hw_header(&w, r->headers[i].name, r->headers[i].value);
    hw_header(&w, "X-Request-Id", r->id);
    hw_str(&w, keep_alive ? "X-Content-Type-Options: nosniff\r\n\r\n"
                          : "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n");
    evbuffer_add(out, w.buf, w.n);
    return w.total;
}
