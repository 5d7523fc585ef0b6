/* Single-flight: many requests for the same missing thing (a variant not yet generated) share
 * one piece of work. The first to arrive leads and does the work; the others wait on its flight
 * and are handed back, all together, when it lands. Thread-safe. */
#ifndef KHO_FLIGHT_H
#define KHO_FLIGHT_H
#include <stdbool.h>
#include <stdint.h>

/* A waiter on a flight; it lives in the waiter's own memory (a request's arena) until landed. */
struct flight_waiter {
    struct flight_waiter *next;
    void *arg;
};

struct flights;

struct flights *flights_new(void);
void flights_free(struct flights *f);

/* Join key's flight with w. True when there was none, so the caller now leads it and must call
 * flight_land(key) when the work is done; false when it joined one already under way. */
bool flight_join(struct flights *f, uint64_t key, struct flight_waiter *w);
/* End key's flight and return every waiter that joined it, the leader's included, as a list. */
struct flight_waiter *flight_land(struct flights *f, uint64_t key);

#endif
