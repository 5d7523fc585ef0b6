/* Flights in a small chained hash table under one mutex: joins and landings are rare next to
 * the work they save, so one lock is enough. */
#include <pthread.h>
#include <stdlib.h>
#include "core/flight.h"
#include "core/kho.h"

#define BUCKETS 256

struct flight {
    struct flight *next;
    uint64_t key;
    struct flight_waiter *waiters;
};

struct flights {
    pthread_mutex_t mu;
    struct flight *buckets[BUCKETS];
};

struct flights *flights_new(void)
{
    struct flights *f = xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

void flights_free(struct flights *f)
{
    if (!f)
        return;
    for (int i = 0; i < BUCKETS; i++)
        while (f->buckets[i]) {
            struct flight *next = f->buckets[i]->next;
            free(f->buckets[i]);
            f->buckets[i] = next;
        }
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static struct flight **slot(struct flights *f, uint64_t key)
{
    struct flight **p = &f->buckets[(key ^ (key >> 17)) % BUCKETS];
    while (*p && (*p)->key != key)
        p = &(*p)->next;
    return p;
}

bool flight_join(struct flights *f, uint64_t key, struct flight_waiter *w)
{
    pthread_mutex_lock(&f->mu);
    struct flight **p = slot(f, key);
    bool lead = *p == NULL;
    if (lead) {
        *p = xcalloc(1, sizeof(**p));
        (*p)->key = key;
    }
    w->next = (*p)->waiters;
    (*p)->waiters = w;
    pthread_mutex_unlock(&f->mu);
    return lead;
}

struct flight_waiter *flight_land(struct flights *f, uint64_t key)
{
    pthread_mutex_lock(&f->mu);
    struct flight **p = slot(f, key), *fl = *p;
    struct flight_waiter *w = NULL;
    if (fl) {
        *p = fl->next;
        w = fl->waiters;
        free(fl);
    }
    pthread_mutex_unlock(&f->mu);
    return w;
}
