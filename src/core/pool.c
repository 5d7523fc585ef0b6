/* Fixed worker threads over one FIFO with a ceiling; see pool.h. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core/kho.h"
#include "core/pool.h"

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pool_job *head, *tail;
    size_t queued, max_queue;
    size_t running; /* jobs taken by a thread and not yet returned */
    bool stopping;
    int nthreads, nice;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    struct pool *p = arg;
    /* Linux keeps a nice value per thread: this lowers only this one */
    if (p->nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice) != 0)
        log_warn("cannot lower the priority of a worker thread");
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        struct pool_job *job = p->head;
        if (!job) { /* stopping and drained */
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        job->run(job); /* may free job */
        pthread_mutex_lock(&p->mu);
        p->running--;
        pthread_mutex_unlock(&p->mu);
    }
}

struct pool *pool_new(int nthreads, size_t max_queue, int nice)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    p->nice = nice;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->max_queue = max_queue;
    p->nthreads = nthreads;
    p->threads = xcalloc((size_t)nthreads, sizeof(pthread_t));
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            log_error("cannot start worker thread");
            abort();
        }
    return p;
}

size_t pool_pending(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->queued + p->running;
    pthread_mutex_unlock(&p->mu);
    return n;
}

enum kho_err pool_submit(struct pool *p, struct pool_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->stopping || p->queued >= p->max_queue) {
        pthread_mutex_unlock(&p->mu);
        metric_inc(M_WORKER_REJECTED);
        return KHO_E_BUSY;
    }
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return KHO_OK;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}
