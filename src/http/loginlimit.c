/* The login limits over Redis counters (INCR with an expiry set by the first failure: the same
 * fixed window as auth/ratelimit.c), with the in-process limiters as floor and fallback. */
#include <stdio.h>
#include "auth/ratelimit.h"
#include "cache/redis.h"
#include "http/loginlimit.h"
#include "core/kho.h"

#define NAME_MAX_LEN 128

static void name_of(const char *kind, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "rl:%s:%s", kind, key);
}

/* The shared count of one key: KHO_E_RATE with *wait_ms when it reached limit. Any Redis
 * failure answers KHO_OK: the in-process limiter has already said its word. */
static enum kho_err shared_check(struct app *app, const char *kind, const char *key, int64_t limit,
                                 int64_t *wait_ms)
{
    char name[NAME_MAX_LEN];
    int64_t count = 0, ttl = 0;
    if (limit < 1 || app->cfg->login_fail_window < 1)
        return KHO_OK;
    name_of(kind, key, name, sizeof(name));
    if (redis_count_get(app->redis, name, &count, &ttl) || count < limit)
        return KHO_OK;
    *wait_ms = ttl > 0 ? ttl : app->cfg->login_fail_window * 1000;
    return KHO_E_RATE;
}

enum kho_err loginlimit_check(struct app *app, const char *account, const char *peer,
                              int64_t now_ms, int64_t *retry_after_s)
{
    if (ratelimit_check(app->login_ip_limit, peer, now_ms, retry_after_s) ||
        ratelimit_check(app->login_user_limit, account, now_ms, retry_after_s))
        return KHO_E_RATE;
    if (!app->redis)
        return KHO_OK;
    int64_t wait_ms = 0;
    enum kho_err rc = shared_check(app, "ip", peer, app->cfg->login_ip_fail_limit, &wait_ms);
    if (!rc)
        rc = shared_check(app, "user", account, app->cfg->login_fail_limit, &wait_ms);
    if (!rc)
        return KHO_OK;
    metric_inc(M_RATE_LIMITED);
    *retry_after_s = (wait_ms + 999) / 1000;
    return KHO_E_RATE;
}

void loginlimit_fail(struct app *app, const char *account, const char *peer, int64_t now_ms)
{
    ratelimit_fail(app->login_user_limit, account, now_ms);
    ratelimit_fail(app->login_ip_limit, peer, now_ms);
    if (!app->redis || app->cfg->login_fail_window < 1)
        return;
    char name[NAME_MAX_LEN];
    int64_t count;
    int64_t window = app->cfg->login_fail_window * 1000;
    name_of("user", account, name, sizeof(name));
    if (redis_count(app->redis, name, window, &count))
        return; /* down: the second would fail as fast, and the local count stands */
    name_of("ip", peer, name, sizeof(name));
    (void)redis_count(app->redis, name, window, &count);
}

void loginlimit_reset(struct app *app, const char *account)
{
    ratelimit_reset(app->login_user_limit, account);
    if (!app->redis)
        return;
    char name[NAME_MAX_LEN];
    name_of("user", account, name, sizeof(name));
    (void)redis_forget(app->redis, name);
}
