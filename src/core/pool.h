/* A bounded pool of threads for work that may block (hashing, fsync, database writes, image
 * decoding), so the event loops never wait on it. The queue has a ceiling: a full queue refuses
 * new jobs with KHO_E_BUSY instead of growing without bound. */
#ifndef KHO_POOL_H
#define KHO_POOL_H
#include <stddef.h>
#include "core/err.h"

struct pool_job {
    void (*run)(struct pool_job *job); /* runs on a pool thread; owns job until it returns */
    struct pool_job *next;             /* used by the queue */
};

struct pool;

/* Start nthreads threads with room for max_queue waiting jobs. nice (0..19) lowers the threads'
 * scheduling priority, for bulk work that should yield the CPU to request handling. */
struct pool *pool_new(int nthreads, size_t max_queue, int nice);
/* Queue job (not copied: it must live until its run returns). KHO_E_BUSY when the queue is
 * full or the pool is stopping. */
enum kho_err pool_submit(struct pool *p, struct pool_job *job);
/* Jobs queued or running now (a gauge for /metrics). */
size_t pool_pending(struct pool *p);
/* Run every queued job, then join the threads and free the pool. */
void pool_free(struct pool *p);

#endif
