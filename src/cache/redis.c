/* The Redis client (see redis.h): a small pool of blocking hiredis connections, the up/down
 * state that makes an absent Redis cost nothing, and the cache backend, counters and locks built
 * on Lua scripts so each operation is one atomic round trip. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "cache/redis.h"
#include "core/kho.h"

#define POOL_MAX 8
#define CONNECT_TIMEOUT_MS 50
#define COMMAND_TIMEOUT_MS 100
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define VERSION_TTL_MS 600000
#define LEASE_MAX_S 30
#define LEASE_VERSION_BITS 40
#define HOST_MAX 256

enum script { S_PUT, S_DEL, S_COUNT, S_COUNT_GET, S_UNLOCK, S__COUNT };

/* KEYS[1] value, KEYS[2] version; ARGV lease version, value, ttl */
static const char *const scripts[S__COUNT] = {
    [S_PUT] = "if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end "
              "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1",
    /* KEYS[1] value, KEYS[2] version; ARGV version ttl */
    [S_DEL] = "redis.call('DEL', KEYS[1]) local v = redis.call('INCR', KEYS[2]) "
              "redis.call('PEXPIRE', KEYS[2], ARGV[1]) return v",
    /* a counter without expiry (its creator died between the two calls) gets one too */
    [S_COUNT] = "local n = redis.call('INCR', KEYS[1]) "
                "if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then "
                "redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n",
    [S_COUNT_GET] = "return {tonumber(redis.call('GET', KEYS[1]) or '0'), "
                    "redis.call('PTTL', KEYS[1])}",
    [S_UNLOCK] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                 "return redis.call('DEL', KEYS[1]) end return 0",
};

struct redis {
    struct cache cache;
    atomic_int refs;
    char host[HOST_MAX];
    int port;
    int64_t ttl_max_ms;
    char sha[S__COUNT][41];
    pthread_mutex_t lock;
    pthread_cond_t freed;
    redisContext *idle[POOL_MAX];
    size_t nidle, nopen;
    bool up;
    bool reconnecting;   /* one caller at a time dials while down */
    uint64_t generation; /* bumped when marked down: older connections are not reused */
    int64_t retry_at_ms, backoff_ms;
    int64_t reads_from_ms; /* the cache misses until then (mono ms) */
    bool missed;           /* down since the last connect: a del may have been lost */
    atomic_int gauge_up;
};

static int64_t mono_ms(void)
{
    return (int64_t)(mono_ns() / 1000000u);
}

/* ---- pure helpers ---- */

static const char *ns_name(uint8_t ns)
{
    switch (ns) {
    case CACHE_NS_IMAGE:
        return "img";
    case CACHE_NS_USER:
        return "user";
    case CACHE_NS_SESSION:
        return "sess";
    case CACHE_NS_APIKEY:
        return "key";
    default:
        return NULL;
    }
}

enum kho_err redis_key_name(const struct cache_key *k, bool version, char *out, size_t cap)
{
    const char *ns = ns_name(k->ns);
    if (!ns || k->len < 1 || k->len > CACHE_KEY_MAX)
        return KHO_E_INVALID;
    char id[2 * CACHE_KEY_MAX + 1];
    if (k->len == 8) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v |= (uint64_t)k->bytes[i] << (8 * i);
        snprintf(id, sizeof(id), "%" PRIu64, v);
    } else {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < k->len; i++) {
            id[2 * i] = hex[k->bytes[i] >> 4];
            id[2 * i + 1] = hex[k->bytes[i] & 15];
        }
        id[2 * k->len] = '\0';
    }
    int n = snprintf(out, cap, "kho:%s:{%s}%s", ns, id, version ? ":v" : "");
    return n < 0 || (size_t)n >= cap ? KHO_E_TOO_LARGE : KHO_OK;
}

uint64_t redis_lease_make(uint64_t version, uint64_t mono)
{
    uint64_t secs = (mono / 1000) & ((1u << (64 - LEASE_VERSION_BITS)) - 1);
    return secs << LEASE_VERSION_BITS | (version & ((1ull << LEASE_VERSION_BITS) - 1));
}

bool redis_lease_check(uint64_t lease, uint64_t mono, uint64_t *version)
{
    uint64_t mask = (1u << (64 - LEASE_VERSION_BITS)) - 1;
    uint64_t age = ((mono / 1000) - (lease >> LEASE_VERSION_BITS)) & mask;
    *version = lease & ((1ull << LEASE_VERSION_BITS) - 1);
    return age <= LEASE_MAX_S;
}

/* ---- connections and the up/down state ---- */

static void set_up(struct redis *r, bool up)
{
    r->up = up;
    atomic_store(&r->gauge_up, up);
}

/* Called with the lock held: Redis is unusable until a reconnect, and the cache until
 * ttl_max_ms after it. */
static void mark_down(struct redis *r)
{
    r->missed = true;
    if (!r->up)
        return; /* already down: the retry already set stays, however many writes come */
    log_warn("redis at '%s:%d' is down: serving from the database", r->host, r->port);
    set_up(r, false);
    r->generation++;
    while (r->nidle) {
        redisFree(r->idle[--r->nidle]);
        r->nopen--;
    }
    r->retry_at_ms = mono_ms() + r->backoff_ms;
    pthread_cond_broadcast(&r->freed);
}

static redisContext *dial(struct redis *r)
{
    struct timeval ct = {0, CONNECT_TIMEOUT_MS * 1000}, cmd = {0, COMMAND_TIMEOUT_MS * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, ct);
    if (!c)
        return NULL;
    if (c->err || redisSetTimeout(c, cmd) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    redisReply *rep = redisCommand(c, "PING");
    bool ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
        freeReplyObject(rep);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

struct lease_conn {
    redisContext *c;
    uint64_t generation;
};

/* A connection for one command, or KHO_E_BACKEND when Redis is down (and not due for a retry)
 * or every connection stays busy for a command timeout. */
static enum kho_err acquire(struct redis *r, struct lease_conn *lc)
{
    pthread_mutex_lock(&r->lock);
    int64_t now = mono_ms();
    if (!r->up) {
        if (r->reconnecting || now < r->retry_at_ms) {
            pthread_mutex_unlock(&r->lock);
            return KHO_E_BACKEND;
        }
        r->reconnecting = true;
        pthread_mutex_unlock(&r->lock);
        redisContext *c = dial(r);
        pthread_mutex_lock(&r->lock);
        r->reconnecting = false;
        if (!c) {
            metric_inc(M_REDIS_ERRORS);
            r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
            r->retry_at_ms = mono_ms() + r->backoff_ms;
            pthread_mutex_unlock(&r->lock);
            return KHO_E_BACKEND;
        }
        set_up(r, true);
        r->backoff_ms = BACKOFF_MIN_MS;
        r->reads_from_ms = mono_ms() + (r->missed ? r->ttl_max_ms : 0);
        r->nopen++;
        log_info("redis at '%s:%d' is up: the cache is read again in %" PRId64 " ms", r->host,
                 r->port, r->missed ? r->ttl_max_ms : 0);
        r->missed = false;
        lc->c = c;
        lc->generation = r->generation;
        pthread_mutex_unlock(&r->lock);
        return KHO_OK;
    }
    uint64_t deadline = mono_ns() + COMMAND_TIMEOUT_MS * 1000000ull;
    while (r->up && !r->nidle && r->nopen >= POOL_MAX) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += COMMAND_TIMEOUT_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->freed, &r->lock, &ts);
        if (mono_ns() >= deadline)
            break;
    }
    if (!r->up || (!r->nidle && r->nopen >= POOL_MAX)) {
        pthread_mutex_unlock(&r->lock);
        return KHO_E_BACKEND;
    }
    lc->generation = r->generation;
    if (r->nidle) {
        lc->c = r->idle[--r->nidle];
        pthread_mutex_unlock(&r->lock);
        return KHO_OK;
    }
    r->nopen++;
    pthread_mutex_unlock(&r->lock);
    lc->c = dial(r);
    if (lc->c)
        return KHO_OK;
    pthread_mutex_lock(&r->lock);
    r->nopen--;
    metric_inc(M_REDIS_ERRORS);
    if (lc->generation == r->generation)
        mark_down(r);
    pthread_mutex_unlock(&r->lock);
    return KHO_E_BACKEND;
}

/* Give the connection back; a failed one is closed and marks Redis down (once per outage). */
static void release(struct redis *r, struct lease_conn *lc, bool ok)
{
    pthread_mutex_lock(&r->lock);
    if (ok && lc->generation == r->generation && r->up) {
        r->idle[r->nidle++] = lc->c;
    } else {
        redisFree(lc->c);
        r->nopen--;
        if (!ok && lc->generation == r->generation)
            mark_down(r);
    }
    pthread_cond_signal(&r->freed);
    pthread_mutex_unlock(&r->lock);
}

/* Run one command; NULL when the connection failed or timed out (then closed, Redis marked
 * down) or Redis could not be used. An error reply is returned: the connection is fine. */
static redisReply *run(struct redis *r, int argc, const char **argv, const size_t *lens)
{
    struct lease_conn lc;
    if (acquire(r, &lc))
        return NULL;
    redisReply *rep = redisCommandArgv(lc.c, argc, argv, lens);
    if (!rep) {
        metric_inc(M_REDIS_ERRORS);
        log_warn("redis command failed: %s", lc.c->errstr);
    }
    release(r, &lc, rep != NULL);
    return rep;
}

/* Run script s over keys and args, loaded once per server: EVALSHA, and EVAL (which also caches
 * it there) after a NOSCRIPT. An error reply counts as an error and gives NULL. */
static redisReply *eval(struct redis *r, enum script s, int nkeys, int nargs, const char **kv,
                        const size_t *kvlen)
{
    const char *argv[8];
    size_t lens[8];
    char nk[4];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = r->sha[s];
    argv[2] = nk;
    for (int i = 0; i < nkeys + nargs; i++) {
        argv[3 + i] = kv[i];
        lens[3 + i] = kvlen[i];
    }
    int argc = 3 + nkeys + nargs;
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    redisReply *rep = run(r, argc, argv, lens);
    if (rep && rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8)) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = scripts[s];
        lens[0] = 4;
        lens[1] = strlen(scripts[s]);
        rep = run(r, argc, argv, lens);
    }
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        metric_inc(M_REDIS_ERRORS);
        log_warn("redis script failed: %s", rep->str);
        freeReplyObject(rep);
        rep = NULL;
    }
    return rep;
}

/* Reads skip Redis while it is down or not yet trusted, yet must still bring it back: this dials
 * when a retry is due, and costs nothing otherwise. */
static void poke(struct redis *r)
{
    struct lease_conn lc;
    if (acquire(r, &lc) == KHO_OK)
        release(r, &lc, true);
}

static bool reads_allowed(struct redis *r)
{
    pthread_mutex_lock(&r->lock);
    bool ok = r->up && mono_ms() >= r->reads_from_ms;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* ---- the cache backend ---- */

static struct redis *of(struct cache *c)
{
    return (struct redis *)((char *)c - offsetof(struct redis, cache));
}

static bool parse_u64(const redisReply *rep, uint64_t *out)
{
    if (rep->type == REDIS_REPLY_NIL) {
        *out = 0;
        return true;
    }
    if (rep->type != REDIS_REPLY_STRING)
        return false;
    char *end;
    *out = strtoull(rep->str, &end, 10);
    return end != rep->str && *end == '\0';
}

static enum kho_err rcache_get(struct cache *c, const struct cache_key *k, void *buf, size_t cap,
                               size_t *len, uint64_t *lease)
{
    struct redis *r = of(c);
    char key[REDIS_KEY_MAX], vkey[REDIS_KEY_MAX];
    *lease = 0;
    if (redis_key_name(k, false, key, sizeof(key)) || redis_key_name(k, true, vkey, sizeof(vkey)))
        return KHO_E_INVALID;
    if (!reads_allowed(r)) {
        poke(r);
        return KHO_E_BACKEND;
    }
    const char *argv[3] = {"MGET", key, vkey};
    size_t lens[3] = {4, strlen(key), strlen(vkey)};
    redisReply *rep = run(r, 3, argv, lens);
    if (!rep)
        return KHO_E_BACKEND;
    enum kho_err rc = KHO_E_BACKEND;
    uint64_t version;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        parse_u64(rep->element[1], &version)) {
        const redisReply *v = rep->element[0];
        if (v->type == REDIS_REPLY_NIL) {
            *lease = redis_lease_make(version, (uint64_t)mono_ms());
            rc = KHO_E_NOTFOUND;
        } else if (v->type != REDIS_REPLY_STRING) {
            rc = KHO_E_BACKEND;
        } else if (v->len > cap) {
            rc = KHO_E_TOO_LARGE;
        } else {
            memcpy(buf, v->str, v->len);
            *len = v->len;
            rc = KHO_OK;
        }
    }
    freeReplyObject(rep);
    if (rc == KHO_OK || rc == KHO_E_NOTFOUND)
        metric_inc(rc == KHO_OK ? M_CACHE_HITS : M_CACHE_MISSES);
    return rc;
}

static enum kho_err rcache_put(struct cache *c, const struct cache_key *k, const void *val,
                               size_t len, int64_t ttl_ms, uint64_t lease)
{
    struct redis *r = of(c);
    char key[REDIS_KEY_MAX], vkey[REDIS_KEY_MAX], ver[24], ttl[24];
    uint64_t version;
    if (ttl_ms < 1 || ttl_ms > CACHE_TTL_MAX_MS)
        return KHO_E_INVALID;
    if (redis_key_name(k, false, key, sizeof(key)) || redis_key_name(k, true, vkey, sizeof(vkey)))
        return KHO_E_INVALID;
    if (!redis_lease_check(lease, (uint64_t)mono_ms(), &version))
        return KHO_E_AGAIN;
    /* the cap is what lets a reconnect trust the cache again after ttl_max_ms */
    if (ttl_ms > r->ttl_max_ms)
        ttl_ms = r->ttl_max_ms;
    snprintf(ver, sizeof(ver), "%" PRIu64, version);
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    const char *kv[5] = {key, vkey, ver, val, ttl};
    size_t kvlen[5] = {strlen(key), strlen(vkey), strlen(ver), len, strlen(ttl)};
    redisReply *rep = eval(r, S_PUT, 2, 3, kv, kvlen);
    if (!rep)
        return KHO_E_BACKEND;
    enum kho_err rc = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 ? KHO_OK : KHO_E_AGAIN;
    freeReplyObject(rep);
    return rc;
}

static enum kho_err rcache_del(struct cache *c, const struct cache_key *k)
{
    struct redis *r = of(c);
    char key[REDIS_KEY_MAX], vkey[REDIS_KEY_MAX], ttl[24];
    if (redis_key_name(k, false, key, sizeof(key)) || redis_key_name(k, true, vkey, sizeof(vkey)))
        return KHO_E_INVALID;
    snprintf(ttl, sizeof(ttl), "%d", VERSION_TTL_MS);
    const char *kv[3] = {key, vkey, ttl};
    size_t kvlen[3] = {strlen(key), strlen(vkey), strlen(ttl)};
    redisReply *rep = eval(r, S_DEL, 2, 1, kv, kvlen);
    if (rep) {
        freeReplyObject(rep);
        return KHO_OK;
    }
    /* A lost invalidation: whether down already or failing now, the cache must not be read
     * until every copy stored before it has expired. */
    pthread_mutex_lock(&r->lock);
    mark_down(r);
    pthread_mutex_unlock(&r->lock);
    return KHO_E_BACKEND;
}

static void unref(struct redis *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    while (r->nidle)
        redisFree(r->idle[--r->nidle]);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->freed);
    free(r);
}

static void rcache_close(struct cache *c)
{
    unref(of(c));
}

static const struct cache_ops redis_ops = {
    .name = "redis",
    .get = rcache_get,
    .put = rcache_put,
    .del = rcache_del,
    .close = rcache_close,
};

struct cache *redis_cache(struct redis *r)
{
    atomic_fetch_add(&r->refs, 1);
    return &r->cache;
}

/* ---- counters and locks ---- */

static enum kho_err full_name(const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "kho:%s", name);
    return n < 0 || (size_t)n >= cap ? KHO_E_TOO_LARGE : KHO_OK;
}

enum kho_err redis_count(struct redis *r, const char *name, int64_t window_ms, int64_t *count)
{
    char key[REDIS_KEY_MAX], win[24];
    enum kho_err rc = full_name(name, key, sizeof(key));
    if (rc)
        return rc;
    snprintf(win, sizeof(win), "%" PRId64, window_ms);
    const char *kv[2] = {key, win};
    size_t kvlen[2] = {strlen(key), strlen(win)};
    redisReply *rep = eval(r, S_COUNT, 1, 1, kv, kvlen);
    if (!rep)
        return KHO_E_BACKEND;
    rc = rep->type == REDIS_REPLY_INTEGER ? KHO_OK : KHO_E_BACKEND;
    *count = rc ? 0 : rep->integer;
    freeReplyObject(rep);
    return rc;
}

enum kho_err redis_count_get(struct redis *r, const char *name, int64_t *count, int64_t *ttl_ms)
{
    char key[REDIS_KEY_MAX];
    enum kho_err rc = full_name(name, key, sizeof(key));
    if (rc)
        return rc;
    const char *kv[1] = {key};
    size_t kvlen[1] = {strlen(key)};
    redisReply *rep = eval(r, S_COUNT_GET, 1, 0, kv, kvlen);
    if (!rep)
        return KHO_E_BACKEND;
    rc = KHO_E_BACKEND;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_INTEGER) {
        *count = rep->element[0]->integer;
        *ttl_ms = rep->element[1]->integer > 0 ? rep->element[1]->integer : 0;
        rc = KHO_OK;
    }
    freeReplyObject(rep);
    return rc;
}

enum kho_err redis_forget(struct redis *r, const char *name)
{
    char key[REDIS_KEY_MAX];
    enum kho_err rc = full_name(name, key, sizeof(key));
    if (rc)
        return rc;
    const char *argv[2] = {"DEL", key};
    size_t lens[2] = {3, strlen(key)};
    redisReply *rep = run(r, 2, argv, lens);
    if (!rep)
        return KHO_E_BACKEND;
    rc = rep->type == REDIS_REPLY_INTEGER ? KHO_OK : KHO_E_BACKEND;
    freeReplyObject(rep);
    return rc;
}

enum kho_err redis_lock(struct redis *r, const char *name, int64_t ttl_ms, uint64_t token)
{
    char key[REDIS_KEY_MAX], tok[24], ttl[24];
    enum kho_err rc = full_name(name, key, sizeof(key));
    if (rc)
        return rc;
    snprintf(tok, sizeof(tok), "%" PRIu64, token);
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    const char *argv[6] = {"SET", key, tok, "NX", "PX", ttl};
    size_t lens[6] = {3, strlen(key), strlen(tok), 2, 2, strlen(ttl)};
    redisReply *rep = run(r, 6, argv, lens);
    if (!rep)
        return KHO_E_BACKEND;
    rc = rep->type == REDIS_REPLY_STATUS ? KHO_OK
         : rep->type == REDIS_REPLY_NIL  ? KHO_E_BUSY
                                         : KHO_E_BACKEND;
    freeReplyObject(rep);
    return rc;
}

enum kho_err redis_unlock(struct redis *r, const char *name, uint64_t token)
{
    char key[REDIS_KEY_MAX], tok[24];
    enum kho_err rc = full_name(name, key, sizeof(key));
    if (rc)
        return rc;
    snprintf(tok, sizeof(tok), "%" PRIu64, token);
    const char *kv[2] = {key, tok};
    size_t kvlen[2] = {strlen(key), strlen(tok)};
    redisReply *rep = eval(r, S_UNLOCK, 1, 1, kv, kvlen);
    if (!rep)
        return KHO_E_BACKEND;
    freeReplyObject(rep);
    return KHO_OK;
}

bool redis_up(struct redis *r)
{
    return atomic_load(&r->gauge_up) != 0;
}

/* ---- opening ---- */

static enum kho_err parse_url(const char *url, char *host, size_t cap, int *port)
{
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof(scheme) - 1))
        return KHO_E_INVALID;
    const char *h = url + sizeof(scheme) - 1;
    size_t n = strcspn(h, ":/");
    if (n == 0 || n >= cap || strchr(h, '@'))
        return KHO_E_INVALID;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = 6379;
    if (h[n] == ':') {
        char *end;
        long p = strtol(h + n + 1, &end, 10);
        if (end == h + n + 1 || p < 1 || p > 65535)
            return KHO_E_INVALID;
        *port = (int)p;
        h = end;
        n = 0;
    }
    return h[n] == '\0' || (h[n] == '/' && h[n + 1] == '\0') ? KHO_OK : KHO_E_INVALID;
}

static void sha1_hex(const char *s, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
    for (unsigned int i = 0; i < n && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

enum kho_err redis_open(const char *url, int64_t ttl_max_ms, struct redis **out)
{
    *out = NULL;
    char host[HOST_MAX];
    int port;
    if (parse_url(url, host, sizeof(host), &port)) {
        /* the url is not echoed: it could carry a password */
        log_error("'redis' must be redis://HOST[:PORT]");
        return KHO_E_INVALID;
    }
    if (ttl_max_ms < 1 || ttl_max_ms > CACHE_TTL_MAX_MS) {
        log_error("the cache ttl must be from 1 to %d ms", CACHE_TTL_MAX_MS);
        return KHO_E_INVALID;
    }
    struct redis *r = xcalloc(1, sizeof(*r));
    r->cache.ops = &redis_ops;
    atomic_init(&r->refs, 1);
    memcpy(r->host, host, strlen(host) + 1);
    r->port = port;
    r->ttl_max_ms = ttl_max_ms;
    for (int i = 0; i < S__COUNT; i++)
        sha1_hex(scripts[i], r->sha[i]);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->freed, NULL);
    r->backoff_ms = BACKOFF_MIN_MS;
    /* down until the first use dials: start-up does not wait for, or depend on, Redis */
    r->retry_at_ms = 0;
    *out = r;
    return KHO_OK;
}

void redis_close(struct redis *r)
{
    if (r)
        unref(r);
}
