/* One client connection: reads requests (head, then body), dispatches them to routes, writes
 * responses, keeps the connection alive. Runs entirely on its loop's thread. */
#ifndef KHO_CONN_H
#define KHO_CONN_H
#include <event2/util.h>
#include "http/server.h"

struct conn;

/* Take over an accepted socket. */
void conn_new(struct loop *l, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* Called on the loop thread when a request's async work is done. */
void conn_async_done(struct req *r);
/* Shutdown: close connections that are between requests; busy ones close after answering. */
void conn_close_idle(struct loop *l);
/* After the loop has stopped and the worker pool is gone: free every connection. */
void conn_free_all(struct loop *l);
/* The loop a connection belongs to. */
struct loop *conn_loop(const struct conn *c);

#endif
