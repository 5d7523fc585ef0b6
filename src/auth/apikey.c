/* API key format and the last-use throttle; see apikey.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "auth/apikey.h"
#include "auth/hash.h"
#include "core/kho.h"

#define TOUCH_BITS 12
#define TOUCH_SLOTS (1u << TOUCH_BITS) /* 16 bytes each */

void apikey_new(char out[APIKEY_LEN + 1])
{
    memcpy(out, APIKEY_PREFIX, APIKEY_PREFIX_LEN);
    random_hex(out + APIKEY_PREFIX_LEN, APIKEY_BYTES);
}

bool apikey_well_formed(const char *t, size_t len)
{
    if (len != APIKEY_LEN || memcmp(t, APIKEY_PREFIX, APIKEY_PREFIX_LEN) != 0)
        return false;
    /* lower case only, so each key has exactly one accepted spelling */
    for (size_t i = APIKEY_PREFIX_LEN; i < len; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return false;
    return true;
}

void apikey_shown(const char *key, char out[APIKEY_SHOWN_LEN + 1])
{
    memcpy(out, key, APIKEY_SHOWN_LEN);
    out[APIKEY_SHOWN_LEN] = '\0';
}

void apikey_hash(const char *key, char hex[65])
{
    sha256_hex(key, APIKEY_LEN, hex);
}

struct touch {
    uint64_t id; /* 0: free */
    int64_t at;
};

struct apikey_touches {
    pthread_mutex_t lock;
    struct touch slot[TOUCH_SLOTS];
};

struct apikey_touches *apikey_touches_new(void)
{
    struct apikey_touches *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void apikey_touches_free(struct apikey_touches *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

bool apikey_touch_due(struct apikey_touches *t, uint64_t id, int64_t last_used, int64_t now)
{
    /* the common case, a key used within the hour, takes no lock */
    if (last_used > 0 && now - last_used < APIKEY_TOUCH_EVERY_MS)
        return false;
    /* ids end in a per-millisecond sequence and a shard: mix all bits into the slot number */
    struct touch *s = &t->slot[(id * 0x9e3779b97f4a7c15u) >> (64 - TOUCH_BITS)];
    bool due;
    pthread_mutex_lock(&t->lock);
    due = s->id != id || now - s->at >= APIKEY_TOUCH_EVERY_MS;
    if (due) {
        s->id = id;
        s->at = now;
    }
    pthread_mutex_unlock(&t->lock);
    return due;
}
