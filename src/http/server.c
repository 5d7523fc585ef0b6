/* Server start-up, the per-core event loops and shutdown. Each loop owns a listening socket
 * bound to the same address with SO_REUSEPORT and TCP_NODELAY (accepted sockets inherit it; without
 * it every response waits out a 40 ms delayed ACK). The main thread only waits for signals and
 * runs periodic compaction. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <curl/curl.h>
#include "auth/apikey.h"
#include "auth/password.h"
#include "auth/ratelimit.h"
#include "blob/blob.h"
#include "cache/cache.h"
#include "cache/redis.h"
#include "http/accesslog.h"
#include "http/conn.h"
#include "http/routes/routes.h"
#include "http/server.h"
#include "image/probe.h"
#include "meta/meta.h"
#include "core/kho.h"
#include "core/pool.h"

#define LISTEN_BACKLOG 1024
#define LIMITER_SLOTS 65536

static void on_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lst;
    conn_new(arg, fd, sa, salen);
}

void loop_post_done(struct loop *l, struct req *r)
{
    pthread_mutex_lock(&l->mu);
    r->job.next = NULL;
    if (l->done_tail)
        l->done_tail->next = &r->job;
    else
        l->done_head = &r->job;
    l->done_tail = &r->job;
    pthread_mutex_unlock(&l->mu);
    event_active(l->wake, EV_READ, 0);
}

/* Finished jobs come back here; the same event also carries the shutdown request. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    pthread_mutex_lock(&l->mu);
    struct pool_job *job = l->done_head;
    l->done_head = l->done_tail = NULL;
    int stop = l->stop_accepting;
    pthread_mutex_unlock(&l->mu);
    while (job) {
        struct pool_job *next = job->next;
        conn_async_done((struct req *)((char *)job - offsetof(struct req, job)));
        job = next;
    }
    if (stop && l->listener) {
        evconnlistener_free(l->listener);
        l->listener = NULL;
    }
    if (stop)
        conn_close_idle(l);
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Split "HOST:PORT" ("[v6]:PORT" too) and resolve it. */
static enum kho_err resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host))
        return KHO_E_INVALID;
    const char *h = listen;
    size_t hlen = (size_t)(colon - listen);
    if (h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return KHO_E_INVALID;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return KHO_OK;
}

/* A listening socket on ss. shared: with SO_REUSEPORT, so every loop gets its own; without, the
 * bind fails while any other socket listens there, which is how a second server is refused
 * instead of silently sharing the port with the first. */
static int listen_socket(const struct sockaddr_storage *ss, socklen_t len, bool shared)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (shared)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static enum kho_err start_loops(struct app *app, struct loop *loops, int n)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (resolve(app->cfg->listen, &ss, &sslen)) {
        log_error("cannot parse listen address '%s'", app->cfg->listen);
        return KHO_E_INVALID;
    }
    int probe = listen_socket(&ss, sslen, false);
    if (probe < 0) {
        log_error("cannot listen on '%s': %s", app->cfg->listen, strerror(errno));
        return KHO_E_IO;
    }
    close(probe);
    for (int i = 0; i < n; i++) {
        struct loop *l = &loops[i];
        l->index = i;
        l->app = app;
        pthread_mutex_init(&l->mu, NULL);
        l->base = event_base_new();
        if (!l->base)
            return KHO_E_NOMEM;
        int fd = listen_socket(&ss, sslen, true);
        if (fd < 0) {
            log_error("cannot listen on '%s': %s", app->cfg->listen, strerror(errno));
            return KHO_E_IO;
        }
        if (i == 0) { /* port 0: the others join the port the kernel chose */
            getsockname(fd, (struct sockaddr *)&ss, &sslen);
        }
        l->listener = evconnlistener_new(l->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE, -1, fd);
        l->wake = event_new(l->base, -1, 0, on_wake, l);
        if (!l->listener || !l->wake)
            return KHO_E_NOMEM;
    }
    char host[128], port[16];
    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), port, sizeof(port),
                NI_NUMERICHOST | NI_NUMERICSERV);
    log_info("listening on %s port %s with %d loops and %lld workers", host, port, n,
             (long long)app->cfg->workers);
    for (int i = 0; i < n; i++)
        if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0)
            return KHO_E_NOMEM;
    return KHO_OK;
}

static void stop_loops(struct loop *loops, int n, int64_t timeout_s)
{
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&loops[i].mu);
        loops[i].stop_accepting = 1;
        pthread_mutex_unlock(&loops[i].mu);
        event_active(loops[i].wake, EV_READ, 0);
    }
    /* finish the requests in flight, within the timeout */
    uint64_t deadline = mono_ns() + (uint64_t)timeout_s * 1000000000u;
    while (atomic_load(&server_inflight) > 0 && mono_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&server_inflight) > 0)
        log_warn("shutdown timeout: %ld requests still in flight", atomic_load(&server_inflight));
    for (int i = 0; i < n; i++) {
        event_base_loopbreak(loops[i].base);
        pthread_join(loops[i].thread, NULL);
    }
}

static void free_loops(struct loop *loops, int n)
{
    for (int i = 0; i < n; i++) {
        struct loop *l = &loops[i];
        conn_free_all(l);
        if (l->listener)
            evconnlistener_free(l->listener);
        if (l->wake)
            event_free(l->wake);
        if (l->base)
            event_base_free(l->base);
        pthread_mutex_destroy(&l->mu);
    }
    free(loops);
}

static void compact_now(struct app *app)
{
    uint64_t reclaimed = 0;
    enum kho_err rc = blob_compact(app->blob, app->cfg->compact_garbage_ratio, &reclaimed);
    if (rc)
        log_warn("compaction failed: %s", kho_err_name(rc));
    else if (reclaimed)
        log_info("compaction reclaimed %llu bytes", (unsigned long long)reclaimed);
}

/* Wait for SIGTERM/SIGINT; SIGUSR1 (sent by `kho compact` to a running server) and the
 * compaction interval trigger compaction. */
static void wait_for_signal(struct app *app, const sigset_t *set)
{
    int64_t interval = app->cfg->compact_interval;
    for (;;) {
        struct timespec ts = {interval > 0 ? interval : 3600, 0};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        if (sig == SIGUSR1 || (sig < 0 && errno == EAGAIN && interval > 0))
            compact_now(app);
    }
}

static int threads_for(const struct kho_config *cfg)
{
    if (cfg->threads > 0)
        return (int)cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int server_run(const struct kho_config *cfg)
{
    struct app app = {.cfg = cfg};
    int code = 1, nloops = threads_for(cfg);
    struct loop *loops = NULL;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits the mask */
    signal(SIGPIPE, SIG_IGN);

    if (mkdir(cfg->data, 0750) != 0 && errno != EEXIST) {
        log_error("cannot create data directory '%s': %s", cfg->data, strerror(errno));
        return 1;
    }
    if (evthread_use_pthreads() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        accesslog_open(cfg->access_log) ||
        password_init((uint64_t)cfg->argon2_ops, (size_t)cfg->argon2_mem, nloops) || probe_init())
        return 1;
    if (blob_open(cfg->blob, (uint64_t)cfg->volume_max_bytes, &app.blob))
        goto out;
    struct meta_options mo = {(int)cfg->db_pool, cfg->shard_map};
    if (meta_open_with(cfg->db, &mo, &app.meta))
        goto out;
    if (cfg->cache_ttl_ms < 1 || cfg->cache_ttl_ms > CACHE_TTL_MAX_MS) {
        log_error("'cache-ttl-ms' must be from 1 to %d", CACHE_TTL_MAX_MS);
        goto out;
    }
    /* With Redis, no in-process copy: another node's del could not reach it. */
    if (cfg->redis[0]) {
        if (redis_open(cfg->redis, cfg->cache_ttl_ms, &app.redis))
            goto out;
        if (cfg->cache_bytes)
            app.cache = redis_cache(app.redis);
    } else if (cache_open("", cfg->cache_bytes, &app.cache)) {
        goto out;
    }
    app.login_user_limit =
        ratelimit_new(LIMITER_SLOTS, cfg->login_fail_limit, cfg->login_fail_window * 1000);
    app.login_ip_limit =
        ratelimit_new(LIMITER_SLOTS, cfg->login_ip_fail_limit, cfg->login_fail_window * 1000);
    app.key_touches = apikey_touches_new();
    if (variants_init(&app, nloops))
        goto out;
    app.pool = pool_new((int)cfg->workers, (size_t)cfg->worker_queue, 0);
    loops = xcalloc((size_t)nloops, sizeof(*loops));
    if (start_loops(&app, loops, nloops) == KHO_OK) {
        wait_for_signal(&app, &set);
        atomic_store(&app.shutting_down, 1);
        stop_loops(loops, nloops, cfg->shutdown_timeout);
        code = 0;
    }
out:
    /* the pools go before the connections their jobs point at; the blocking-work pool first,
     * since uploads hand thumbnails to the processing pool */
    pool_free(app.pool);
    variants_free(&app);
    if (loops)
        free_loops(loops, nloops);
    ratelimit_free(app.login_user_limit);
    ratelimit_free(app.login_ip_limit);
    apikey_touches_free(app.key_touches);
    if (app.meta)
        app.meta->ops->close(app.meta);
    cache_close(app.cache);
    redis_close(app.redis);
    blob_close(app.blob); /* flushes and syncs the store */
    accesslog_close();
    if (code == 0)
        log_info("stopped cleanly");
    return code;
}
