/* Fixed-window failure counters in a fixed-size table addressed by keyed SipHash; the
 * algorithm and the eviction rule are described in ratelimit.h. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "auth/hash.h"
#include "auth/ratelimit.h"
#include "core/kho.h"

#define PROBES 8
#define MAX_SLOTS ((size_t)1 << 24)

struct entry {
    uint64_t h;    /* SipHash of the key; 0 marks a free slot */
    int64_t start; /* when the current window opened, ms */
    int64_t count; /* failures in that window */
};

struct ratelimit {
    pthread_mutex_t lock;
    struct entry *e;
    size_t mask;
    int64_t limit, window;
    unsigned char key[crypto_shorthash_KEYBYTES];
};

struct ratelimit *ratelimit_new(size_t slots, int64_t limit, int64_t window_ms)
{
    size_t n = PROBES;
    while (n < slots && n < MAX_SLOTS)
        n <<= 1;
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->lock, NULL);
    rl->e = xcalloc(n, sizeof(*rl->e));
    rl->mask = n - 1;
    rl->limit = limit;
    rl->window = window_ms;
    random_bytes(rl->key, sizeof(rl->key));
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->e);
    free(rl);
}

static bool disabled(const struct ratelimit *rl)
{
    return rl->limit < 1 || rl->window < 1;
}

static uint64_t key_hash(const struct ratelimit *rl, const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), rl->key);
    memcpy(&h, out, sizeof(h));
    return h ? h : 1;
}

/* A clock that stepped back leaves now before start: the window is then still open. */
static bool in_window(const struct ratelimit *rl, const struct entry *e, int64_t now)
{
    return e->h && now - e->start < rl->window;
}

static struct entry *find(struct ratelimit *rl, uint64_t h)
{
    for (size_t i = 0; i < PROBES; i++) {
        struct entry *e = &rl->e[(h + i) & rl->mask];
        if (e->h == h)
            return e;
    }
    return NULL;
}

static struct entry *victim(struct ratelimit *rl, uint64_t h, int64_t now)
{
    struct entry *best = NULL;
    for (size_t i = 0; i < PROBES; i++) {
        struct entry *e = &rl->e[(h + i) & rl->mask];
        if (!in_window(rl, e, now))
            return e;
        if (!best || e->count < best->count || (e->count == best->count && e->start < best->start))
            best = e;
    }
    return best;
}

enum kho_err ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms,
                             int64_t *retry_after_s)
{
    if (disabled(rl))
        return KHO_OK;
    uint64_t h = key_hash(rl, key);
    int64_t wait_ms = 0;
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, h);
    if (e && in_window(rl, e, now_ms) && e->count >= rl->limit) {
        wait_ms = e->start + rl->window - now_ms;
        if (wait_ms > rl->window)
            wait_ms = rl->window;
    }
    pthread_mutex_unlock(&rl->lock);
    if (wait_ms == 0)
        return KHO_OK;
    metric_inc(M_RATE_LIMITED);
    if (retry_after_s)
        *retry_after_s = (wait_ms + 999) / 1000;
    return KHO_E_RATE;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    if (disabled(rl))
        return;
    uint64_t h = key_hash(rl, key);
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, h);
    if (!e || !in_window(rl, e, now_ms)) {
        if (!e)
            e = victim(rl, h, now_ms);
        *e = (struct entry){.h = h, .start = now_ms, .count = 0};
    }
    e->count++;
    pthread_mutex_unlock(&rl->lock);
}

void ratelimit_reset(struct ratelimit *rl, const char *key)
{
    uint64_t h = key_hash(rl, key);
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, h);
    if (e)
        memset(e, 0, sizeof(*e));
    pthread_mutex_unlock(&rl->lock);
}
