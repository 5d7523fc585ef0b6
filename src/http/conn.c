/* The HTTP/1.1 connection state machine on a libevent bufferevent. A request's head is parsed
 * and routed before its body is read, so limits (413), budgets (503) and unknown routes (404)
 * are answered before a byte of body is buffered, always as JSON. Responses with files go out
 * with sendfile through evbuffer file segments; blobs of a remote store are forwarded from their
 * stream's pipe as fast as the client takes them. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "auth/hash.h"
#include "http/accesslog.h"
#include "http/authn.h"
#include "http/conn.h"
#include "http/query.h"
#include "http/response.h"
#include "http/router.h"
#include "core/kho.h"

/* Bytes read ahead of the parser: a slice of body, and never less than a whole head. */
#define READ_HIGH_WATER (256 * 1024)
#define REQ_ARENA_LIMIT (8u << 20)
#define LINGER_SECONDS 2
/* A stream's pipe is read in slices of this, and left alone while the client has this much
 * unsent: the pipe then fills and its writer (the store's transfer) waits. */
#define STREAM_SLICE (64 * 1024)
#define STREAM_HIGH_WATER (256 * 1024)

enum cstate { C_IDLE, C_HEAD, C_BODY, C_BUSY, C_WRITING, C_LINGER };

struct conn {
    struct loop *loop;
    struct bufferevent *bev;
    struct conn *prev, *next;
    enum cstate state;
    struct req *req;
    bool keep_alive; /* for the current request */
    bool peer_gone;  /* the client left while its request was busy */
    bool chunked;
    struct http_chunked chunk;
    uint64_t body_left; /* Content-Length bytes still to read */
    uint64_t bytes_in;  /* of the current request */
    size_t scanned;     /* head bytes searched for the blank line so far */
    int64_t timeout;    /* seconds the bufferevent's timeouts are set to */
    char peer[48];
    struct event *pipe_ev;  /* a stream ref's pipe being forwarded, else NULL */
    struct blob_ref stream; /* its ref, released when done */
    uint64_t stream_left;   /* bytes still to come through it */
};

_Atomic long server_inflight;

static void process(struct conn *c);
static void finish(struct conn *c);
static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

struct loop *conn_loop(const struct conn *c)
{
    return c->loop;
}

/* Re-arming a timeout re-adds both events under the base's lock: only do it on a change. */
static void set_timeout(struct conn *c, int64_t seconds)
{
    if (c->timeout == seconds)
        return;
    struct timeval tv = {(time_t)seconds, 0};
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    c->timeout = seconds;
}

static void req_free(struct conn *c)
{
    struct req *r = c->req;
    if (!r)
        return;
    c->req = NULL;
    if (r->has_file)
        blob_ref_release(r->app->blob, &r->file);
    if (r->reserved)
        atomic_fetch_sub(&r->app->inflight_body_bytes, r->reserved);
    buf_free(&r->body);
    arena_release(&r->arena);
    free(r);
    atomic_fetch_sub(&server_inflight, 1);
}

static void stream_end(struct conn *c)
{
    if (!c->pipe_ev)
        return;
    event_free(c->pipe_ev);
    c->pipe_ev = NULL;
    blob_ref_release(c->loop->app->blob, &c->stream);
}

static void conn_free(struct conn *c)
{
    stream_end(c); /* closing the pipe ends the transfer feeding it */
    req_free(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->loop->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->loop->nconns--;
    bufferevent_free(c->bev);
    free(c);
}

void conn_new(struct loop *l, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    (void)salen;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = xcalloc(1, sizeof(*c));
    c->loop = l;
    c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer,
                  sizeof(c->peer));
    /* large single writes let sendfile push a whole photo per call (the 16 KiB default costs
     * about 3x in throughput) */
    bufferevent_set_max_single_write(c->bev, 1 << 20);
    size_t high = (size_t)l->app->cfg->max_header_bytes + 1;
    bufferevent_setwatermark(c->bev, EV_READ, 0, high > READ_HIGH_WATER ? high : READ_HIGH_WATER);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    metric_inc(M_HTTP_CONNECTIONS);
    set_timeout(c, l->app->cfg->keepalive_timeout);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static struct req *req_new(struct conn *c)
{
    struct req *r = xcalloc(1, sizeof(*r));
    arena_init(&r->arena, REQ_ARENA_LIMIT);
    buf_init(&r->body, 0);
    r->app = c->loop->app;
    r->conn = c;
    r->start_ns = mono_ns();
    memcpy(r->peer, c->peer, sizeof(r->peer));
    atomic_fetch_add(&server_inflight, 1);
    return r;
}

/* Answer r with its error now. When a body was announced and not read, the connection closes
 * after the response (with a lingering read so the client sees the answer, not a reset). */
static void fail_early(struct conn *c, enum kho_err e)
{
    struct req *r = c->req;
    if (c->state != C_HEAD || r->head.content_length > 0 || r->head.chunked)
        c->keep_alive = false;
    resp_error(r, e);
    bufferevent_disable(c->bev, EV_READ);
    finish(c);
}

/* A protocol error before any request object exists: make one to carry the error. */
static void fail_protocol(struct conn *c, enum kho_err e, int status, const char *code,
                          const char *why)
{
    if (!c->req)
        c->req = req_new(c);
    struct req *r = c->req;
    if (!r->id[0])
        random_hex(r->id, 8);
    r->method_name = r->method_name ? r->method_name : "-";
    r->path = r->path ? r->path : "-";
    r->err_status = status;
    req_fail(r, e, code, "%s", why);
    c->keep_alive = false; /* the stream cannot be trusted past a broken request */
    fail_early(c, e);
}

static bool valid_request_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

static enum http_method method_of(const char *m)
{
    static const struct {
        const char *name;
        enum http_method m;
    } ms[] = {{"GET", M_GET},     {"HEAD", M_HEAD},     {"POST", M_POST},      {"PUT", M_PUT},
              {"PATCH", M_PATCH}, {"DELETE", M_DELETE}, {"OPTIONS", M_OPTIONS}};
    for (size_t i = 0; i < ARRAY_LEN(ms); i++)
        if (!strcmp(m, ms[i].name))
            return ms[i].m;
    return M_OTHER;
}

/* Copy the parsed head into the request's arena and move its pointers there, since the input
 * buffer is drained next. */
static enum kho_err adopt_head(struct req *r, const char *raw, size_t head_len,
                               const struct http_head *h)
{
    char *copy = arena_alloc(&r->arena, head_len);
    if (!copy)
        return KHO_E_TOO_LARGE;
    memcpy(copy, raw, head_len);
    r->head = *h;
#define REBASE(p) ((p) = (p) ? copy + ((p) - raw) : NULL)
    REBASE(r->head.method);
    REBASE(r->head.target);
    for (size_t i = 0; i < r->head.nheaders; i++) {
        REBASE(r->head.headers[i].name);
        REBASE(r->head.headers[i].value);
    }
#undef REBASE
    return KHO_OK;
}

static bool is_forwarded_for(const struct http_header *f)
{
    return f->name_len == 15 && !strncasecmp(f->name, "X-Forwarded-For", 15);
}

/* Behind a trusted proxy the client is the one X-Forwarded-For names (proxy.h); the socket
 * peer is kept in r->via for the access log. Repeated headers are one list in order (RFC 9110
 * 5.3), so they are joined: a client must not hide an entry in a second header line. */
static enum kho_err client_address(struct req *r)
{
    const struct proxy_set *trusted = &r->app->cfg->trusted;
    if (!trusted->n)
        return KHO_OK;
    size_t total = 0;
    for (size_t i = 0; i < r->head.nheaders; i++) {
        if (is_forwarded_for(&r->head.headers[i]))
            total += r->head.headers[i].value_len + 1;
    }
    if (!total)
        return KHO_OK;
    char *xff = arena_alloc(&r->arena, total);
    if (!xff)
        return KHO_E_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < r->head.nheaders; i++) {
        const struct http_header *f = &r->head.headers[i];
        if (!is_forwarded_for(f))
            continue;
        if (n)
            xff[n++] = ',';
        memcpy(xff + n, f->value, f->value_len);
        n += f->value_len;
    }
    xff[n] = '\0';
    char client[sizeof(r->peer)];
    if (proxy_client(trusted, r->peer, xff, client, sizeof(client))) {
        memcpy(r->via, r->peer, sizeof(r->via));
        memcpy(r->peer, client, sizeof(r->peer));
    }
    return KHO_OK;
}

/* From a parsed head: method, path, query, request id, route, body limits. Returns KHO_OK when
 * the request may go on to read its body. */
static enum kho_err start_request(struct conn *c, struct req *r)
{
    const struct kho_config *cfg = r->app->cfg;
    r->method_name = arena_strndup(&r->arena, r->head.method, r->head.method_len);
    if (!r->method_name)
        return KHO_E_NOMEM;
    r->method = method_of(r->method_name);
    r->head_only = r->method == M_HEAD;
    c->keep_alive = r->head.keep_alive;

    const char *xid = req_header(r, "X-Request-Id");
    if (xid && valid_request_id(xid))
        snprintf(r->id, sizeof(r->id), "%s", xid);
    else
        random_hex(r->id, 8);
    enum kho_err rc = client_address(r);
    if (rc)
        return rc;

    const char *t = r->head.target;
    size_t tlen = r->head.target_len;
    const char *q = memchr(t, '?', tlen);
    size_t plen = q ? (size_t)(q - t) : tlen;
    r->query = q ? arena_strndup(&r->arena, q + 1, tlen - plen - 1) : "";
    char *path = arena_alloc(&r->arena, plen + 1);
    size_t path_len;
    if (!path || !r->query)
        return KHO_E_NOMEM;
    r->path = "-";
    if (http_path_decode(t, plen, path, plen + 1, &path_len) != KHO_OK)
        return req_fail(r, KHO_E_INVALID, "invalid_request", "invalid request path");
    path[path_len] = '\0';
    r->path = path;

    const char *allow = NULL;
    rc = router_match(r, &r->route, &allow);
    if (rc == KHO_E_UNSUPPORTED) {
        resp_header(r, "Allow", allow);
        return req_fail(r, KHO_E_INVALID, "method_not_allowed", "method '%s' is not allowed here",
                        r->method_name);
    }
    if (rc == KHO_E_NOTFOUND)
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no route for '%s'", r->path);
    if (rc)
        return rc;

    if (r->head.content_length <= 0 && !r->head.chunked)
        return KHO_OK;
    uint64_t limit = r->route->flags & ROUTE_UPLOAD ? (uint64_t)cfg->max_upload_bytes
                                                    : (uint64_t)cfg->max_json_bytes;
    if (r->head.content_length > 0 && (uint64_t)r->head.content_length > limit)
        return req_fail(r, KHO_E_TOO_LARGE, "too_large",
                        "the body is %lld bytes, over the limit of %llu",
                        (long long)r->head.content_length, (unsigned long long)limit);
    /* chunked bodies reserve their ceiling: the size is unknown until the end */
    int64_t want = r->head.chunked ? (int64_t)limit : r->head.content_length;
    int64_t held = atomic_fetch_add(&r->app->inflight_body_bytes, want);
    if (held + want > cfg->max_inflight_upload_bytes) {
        /* given back now, not when the refusal is sent: refused heads must not hold budget */
        atomic_fetch_sub(&r->app->inflight_body_bytes, want);
        return req_fail(r, KHO_E_BUSY, "unavailable",
                        "too many uploads in progress, retry shortly");
    }
    r->reserved = want;
    buf_init(&r->body, limit);
    return KHO_OK;
}

static void dispatch(struct conn *c)
{
    struct req *r = c->req;
    enum kho_err rc = KHO_OK;
    c->state = C_BUSY;
    bufferevent_disable(c->bev, EV_READ);
    if (r->route->flags & (ROUTE_AUTH | ROUTE_AUTH_OPT)) {
        rc = authn_resolve(r);
        if (rc == KHO_E_UNAUTH && !(r->route->flags & ROUTE_AUTH))
            rc = KHO_OK; /* stale credentials on an optional route: serve as anonymous */
        if (!rc && (r->route->flags & ROUTE_AUTH) && !r->authed)
            rc = req_fail(r, KHO_E_UNAUTH, "unauthorized", "authentication required");
        if (!rc && r->authed)
            rc = authn_check_csrf(r);
    }
    if (!rc)
        rc = r->route->handler(r);
    if (rc == KHO_E_AGAIN)
        return; /* parked: whoever holds r now resumes it (req_park) */
    if (rc) {
        r->pending = false;
        resp_error(r, rc);
    }
    if (!r->pending)
        finish(c);
    /* else: the worker pool owns r until conn_async_done */
}

void conn_async_done(struct req *r)
{
    struct conn *c = r->conn;
    if (c->peer_gone) {
        conn_free(c);
        return;
    }
    finish(c);
}

struct file_pin {
    struct blob_store *store;
    struct blob_ref ref;
};

static void release_pin(const struct evbuffer_file_segment *seg, int flags, void *arg)
{
    (void)seg;
    (void)flags;
    struct file_pin *p = arg;
    blob_ref_release(p->store, &p->ref);
    free(p);
}

static void pipe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)what;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int want = c->stream_left < STREAM_SLICE ? (int)c->stream_left : STREAM_SLICE;
    int n = evbuffer_read(out, fd, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* the transfer failed midway: the head promised bytes that will not come, so the
         * client must see the connection end rather than wait */
        log_warn("stream of a blob ended %llu bytes short", (unsigned long long)c->stream_left);
        conn_free(c);
        return;
    }
    c->stream_left -= (uint64_t)n;
    if (c->stream_left == 0)
        stream_end(c);
    else if (evbuffer_get_length(out) >= STREAM_HIGH_WATER)
        event_del(c->pipe_ev); /* write_cb resumes once the client has caught up */
}

/* Forward len bytes of a stream ref's pipe to the client; takes the ref. */
static bool stream_start(struct conn *c, struct blob_ref *ref, uint64_t len)
{
    c->stream = *ref;
    c->stream_left = len;
    c->pipe_ev =
        ref->fd >= 0 ? event_new(c->loop->base, ref->fd, EV_READ | EV_PERSIST, pipe_cb, c) : NULL;
    if (!c->pipe_ev || event_add(c->pipe_ev, NULL) != 0) {
        if (c->pipe_ev)
            event_free(c->pipe_ev);
        c->pipe_ev = NULL;
        blob_ref_release(c->loop->app->blob, ref);
        return false;
    }
    return true;
}

static void finish(struct conn *c)
{
    struct req *r = c->req;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (atomic_load(&r->app->shutting_down))
        c->keep_alive = false;
    bool no_body = r->head_only || r->status == 304 || r->status == 204;
    uint64_t body_len = r->has_file ? r->file_len : r->out_len;
    uint64_t sent = resp_write_head(r, out, body_len, c->keep_alive);
    if (r->has_file && r->file.stream) {
        r->has_file = false;
        if (no_body || body_len == 0)
            blob_ref_release(r->app->blob, &r->file);
        else if (stream_start(c, &r->file, body_len))
            sent += body_len;
        else
            c->keep_alive = false; /* the head promised a body we cannot send */
    } else if (r->has_file) {
        r->has_file = false;
        struct file_pin *pin = xmalloc(sizeof(*pin));
        pin->store = r->app->blob;
        pin->ref = r->file;
        struct evbuffer_file_segment *seg = NULL;
        if (!no_body && body_len > 0)
            seg = evbuffer_file_segment_new(r->file.fd, r->file.off + (off_t)r->file_off,
                                            (ev_off_t)body_len,
                                            EVBUF_FS_DISABLE_MMAP | EVBUF_FS_DISABLE_LOCKING);
        if (seg) {
            evbuffer_file_segment_add_cleanup_cb(seg, release_pin, pin);
            if (evbuffer_add_file_segment(out, seg, 0, (ev_off_t)body_len) != 0)
                c->keep_alive = false; /* the head promised a body we cannot send */
            evbuffer_file_segment_free(seg);
            sent += body_len;
        } else {
            release_pin(NULL, 0, pin);
        }
    } else if (!no_body && r->out_len) {
        evbuffer_add(out, r->out, r->out_len);
        sent += r->out_len;
    }
    metric_add(M_HTTP_BYTES_OUT, sent);
    metric_add(M_HTTP_BYTES_IN, c->bytes_in);
    uint64_t dur = mono_ns() - r->start_ns;
    metrics_request(r->route ? r->route->pattern : "other", r->status, dur);
    accesslog_write(r, c->bytes_in, sent, dur);
    c->state = C_WRITING; /* EV_WRITE stays enabled from the start */
    set_timeout(c, r->app->cfg->request_timeout);
    if (evbuffer_get_length(out) == 0)
        write_cb(c->bev, c);
}

static void linger_read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    (void)bev;
    if (c->state != C_WRITING)
        return;
    if (c->pipe_ev) { /* the client caught up with a stream: read on */
        event_add(c->pipe_ev, NULL);
        return;
    }
    req_free(c);
    if (!c->keep_alive) {
        /* half-close and drain for a moment, so a client still sending its body reads our
         * answer instead of a connection reset */
        c->state = C_LINGER;
        shutdown(bufferevent_getfd(c->bev), SHUT_WR);
        bufferevent_setcb(c->bev, linger_read_cb, NULL, event_cb, c);
        set_timeout(c, LINGER_SECONDS);
        bufferevent_enable(c->bev, EV_READ);
        return;
    }
    c->state = C_IDLE;
    c->bytes_in = 0;
    set_timeout(c, c->loop->app->cfg->keepalive_timeout);
    bufferevent_enable(c->bev, EV_READ);
    process(c); /* a pipelined request may be waiting already */
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    (void)bev;
    if (c->state == C_BUSY) {
        c->peer_gone = true; /* freed when its work comes back */
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
        (c->state == C_HEAD || c->state == C_BODY)) {
        fail_protocol(c, KHO_E_INVALID, 408, "request_timeout", "the request took too long");
        return;
    }
    conn_free(c);
}

/* Read body bytes from in; returns KHO_OK when the body is complete, KHO_E_AGAIN for more. */
static enum kho_err read_body(struct conn *c, struct evbuffer *in)
{
    struct req *r = c->req;
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return KHO_E_AGAIN;
    if (c->chunked) {
        const char *p = (const char *)evbuffer_pullup(in, -1);
        size_t used = 0;
        bool done = false;
        enum kho_err rc = http_chunked_decode(&c->chunk, p, len, &used, &r->body, &done);
        evbuffer_drain(in, used);
        c->bytes_in += used;
        if (rc == KHO_E_TOO_LARGE)
            return req_fail(r, rc, "too_large", "the body is over the limit of %zu bytes",
                            r->body.max);
        if (rc && rc != KHO_E_AGAIN)
            return req_fail(r, rc, "invalid_request", "invalid chunked body");
        return done ? KHO_OK : KHO_E_AGAIN;
    }
    size_t n = len < c->body_left ? len : (size_t)c->body_left;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    enum kho_err rc = buf_append(&r->body, p, n);
    if (rc)
        return rc;
    evbuffer_drain(in, n);
    c->bytes_in += n;
    c->body_left -= n;
    return c->body_left ? KHO_E_AGAIN : KHO_OK;
}

static void process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    const struct kho_config *cfg = c->loop->app->cfg;
    while (c->state == C_IDLE || c->state == C_HEAD || c->state == C_BODY) {
        size_t len = evbuffer_get_length(in);
        if (c->state != C_BODY) {
            if (len == 0)
                return;
            if (c->state == C_IDLE) {
                c->state = C_HEAD;
                c->scanned = 0;
                set_timeout(c, cfg->request_timeout);
            }
            size_t max = (size_t)cfg->max_header_bytes;
            size_t n = len < max ? len : max;
            /* parse only once the blank line is in: a client trickling bytes must not make us
             * re-parse the head on every one */
            if (n < max) {
                struct evbuffer_ptr from, end;
                evbuffer_ptr_set(in, &from, c->scanned > 3 ? c->scanned - 3 : 0, EVBUFFER_PTR_SET);
                end = evbuffer_search(in, "\r\n\r\n", 4, &from);
                if (end.pos < 0) {
                    c->scanned = len;
                    return;
                }
            }
            const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
            struct http_head h;
            size_t head_len = 0;
            const char *why = "invalid request";
            enum kho_err rc = http_parse_head(p, n, max, &h, &head_len, &why);
            if (rc == KHO_E_AGAIN && n < max)
                return;
            if (rc == KHO_E_AGAIN || rc == KHO_E_TOO_LARGE) {
                fail_protocol(c, KHO_E_TOO_LARGE, 431, "headers_too_large",
                              "the request head is over the limit");
                return;
            }
            if (rc == KHO_E_UNSUPPORTED) {
                bool version = strstr(why, "version") != NULL;
                fail_protocol(c, rc, version ? 505 : 501,
                              version ? "version_not_supported" : "not_implemented", why);
                return;
            }
            if (rc) {
                fail_protocol(c, KHO_E_INVALID, 400, "invalid_request", why);
                return;
            }
            c->req = req_new(c);
            rc = adopt_head(c->req, p, head_len, &h);
            evbuffer_drain(in, head_len);
            c->bytes_in = head_len;
            if (!rc)
                rc = start_request(c, c->req);
            if (rc) {
                fail_early(c, rc);
                return;
            }
            struct req *r = c->req;
            if (r->head.content_length <= 0 && !r->head.chunked) {
                dispatch(c);
                return;
            }
            c->chunked = r->head.chunked;
            http_chunked_init(&c->chunk);
            c->body_left = c->chunked ? 0 : (uint64_t)r->head.content_length;
            c->state = C_BODY;
            r->receive_ns = mono_ns();
            if (r->head.expect_continue)
                evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
            continue;
        }
        enum kho_err rc = read_body(c, in);
        if (rc == KHO_E_AGAIN)
            return;
        if (rc) {
            fail_early(c, rc);
            return;
        }
        c->req->receive_ns = mono_ns() - c->req->receive_ns;
        dispatch(c);
        return;
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process(arg);
}

void conn_close_idle(struct loop *l)
{
    struct conn *c = l->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->state == C_IDLE || c->state == C_LINGER)
            conn_free(c);
        else
            c->keep_alive = false;
        c = next;
    }
}

void conn_free_all(struct loop *l)
{
    while (l->conns)
        conn_free(l->conns);
}
