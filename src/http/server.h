/* The HTTP server: one libevent loop per core, memcached-style, each with its own listening
 * socket on the same address (SO_REUSEPORT, so the kernel spreads connections), a shared worker
 * pool for blocking work, and a clean shutdown on SIGTERM/SIGINT. */
#ifndef KHO_SERVER_H
#define KHO_SERVER_H
#include <pthread.h>
#include <event2/event.h>
#include "core/config.h"
#include "core/pool.h"
#include "http/app.h"

struct conn;
struct req;

struct loop {
    int index;
    struct app *app;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *wake; /* activated by other threads: finished jobs, shutdown */
    pthread_mutex_t mu;
    struct pool_job *done_head, *done_tail; /* jobs of async requests that finished */
    int stop_accepting;                /* set under mu by the main thread */
    struct conn *conns;                /* live connections, for shutdown */
    int nconns;
    pthread_t thread;
};

/* Run the server with cfg until SIGTERM or SIGINT; returns the process exit code. */
int server_run(const struct kho_config *cfg);

/* Hand a request whose async work finished back to its loop (any thread). */
void loop_post_done(struct loop *l, struct req *r);

/* Requests received and not yet answered, across the server (shutdown waits for zero). */
extern _Atomic long server_inflight;

#endif
