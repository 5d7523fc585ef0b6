/* Time-ordered id generation and parsing; see ids.h for the layout. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include "core/ids.h"
#include "core/log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms;
static uint32_t last_seq;

uint64_t ids_make(int64_t unix_ms, uint32_t shard, uint32_t seq)
{
    uint64_t t = (uint64_t)(unix_ms - IDS_EPOCH_MS) & ((1ULL << 41) - 1);
    return t << (IDS_SHARD_BITS + IDS_SEQ_BITS) |
           (uint64_t)(shard & (IDS_SHARDS - 1)) << IDS_SEQ_BITS |
           (seq & ((1u << IDS_SEQ_BITS) - 1));
}

uint64_t ids_next(uint32_t shard)
{
    pthread_mutex_lock(&lock);
    int64_t ms = now_ms();
    if (ms < last_ms)
        ms = last_ms; /* the clock stepped back: stay monotonic */
    if (ms == last_ms) {
        if (++last_seq >= (1u << IDS_SEQ_BITS)) {
            while (ms <= last_ms) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
                ms = now_ms();
            }
            last_seq = 0;
        }
    } else {
        last_seq = 0;
    }
    last_ms = ms;
    uint64_t id = ids_make(ms, shard, last_seq);
    pthread_mutex_unlock(&lock);
    return id;
}

uint32_t ids_shard(uint64_t id)
{
    return (uint32_t)(id >> IDS_SEQ_BITS) & (IDS_SHARDS - 1);
}

uint32_t ids_name_shard(const char *username)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)username; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % IDS_LOGICAL_SHARDS;
}

int64_t ids_unix_ms(uint64_t id)
{
    return (int64_t)(id >> (IDS_SHARD_BITS + IDS_SEQ_BITS)) + IDS_EPOCH_MS;
}

void ids_format(uint64_t id, char out[21])
{
    snprintf(out, 21, "%llu", (unsigned long long)id);
}

bool ids_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s || *s == '0')
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || p - s >= 19)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v >> 63)
        return false;
    *out = v;
    return true;
}
