/* blobbench: fills a fresh volume store with N small blobs under time-ordered keys from many
 * threads, then reports put throughput, index RAM per blob, RSS growth and the reopen time.
 * Usage: blobbench [N] [DIR] [THREADS]   (DIR must not hold a store; default: a temp dir) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "blob/blob.h"
#include "blob/volume.h"
#include "core/kho.h"

#define BLOB_LEN 100
#define VOLUME_BYTES ((uint64_t)1 << 30)

struct bench {
    struct blob_store *s;
    uint64_t n;
    atomic_uint_fast64_t next; /* puts handed out so far */
    atomic_uint_fast64_t errors;
};

static void *writer(void *arg)
{
    struct bench *b = arg;
    uint8_t data[BLOB_LEN];
    for (;;) {
        uint64_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n)
            return NULL;
        memset(data, (int)(i & 0xff), sizeof(data));
        if (blob_put(b->s, ids_next(0), data, sizeof(data)) != KHO_OK)
            atomic_fetch_add(&b->errors, 1);
    }
}

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static bool parse_count(const char *s, long long min, long long max, long long *out)
{
    char *end;
    *out = strtoll(s, &end, 10);
    return *s && !*end && *out >= min && *out <= max;
}

int main(int argc, char **argv)
{
    long long n = 1000000, threads = 64;
    char dir[4096];
    bool own_dir = argc < 3;
    if (argc > 4 || (argc > 1 && !parse_count(argv[1], 1, 100000000, &n)) ||
        (argc > 3 && !parse_count(argv[3], 1, 1024, &threads))) {
        fprintf(stderr, "usage: blobbench [N] [DIR] [THREADS]\n");
        return 2;
    }
    if (own_dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/kho-blobbench-XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("blobbench: mkdtemp");
            return 1;
        }
    } else {
        snprintf(dir, sizeof(dir), "%s", argv[2]);
    }
    log_set_level(LOG_WARN);

    struct bench b = {.n = (uint64_t)n};
    double rss0 = rss_mib();
    if (volume_open(dir, VOLUME_BYTES, &b.s) != KHO_OK)
        return 1;
    struct blob_stats st;
    b.s->ops->stats(b.s, &st);
    if (st.blobs) {
        fprintf(stderr, "blobbench: '%s' already holds a store\n", dir);
        blob_close(b.s);
        return 1;
    }
    pthread_t *t = xcalloc((size_t)threads, sizeof(*t));
    uint64_t syncs = metric_get(M_STORE_SYNCS), t0 = mono_ns();
    for (long long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, writer, &b);
    for (long long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double put_s = (double)(mono_ns() - t0) / 1e9;
    free(t);
    b.s->ops->stats(b.s, &st);
    double rss1 = rss_mib();
    printf("put:     %llu blobs of %d bytes with %lld threads in %.2f s: %.0f puts/s, "
           "%llu syncs (%.1f puts per sync), %llu errors\n",
           (unsigned long long)st.blobs, BLOB_LEN, threads, put_s, (double)n / put_s,
           (unsigned long long)(metric_get(M_STORE_SYNCS) - syncs),
           (double)n / (double)(metric_get(M_STORE_SYNCS) - syncs),
           (unsigned long long)atomic_load(&b.errors));
    printf("memory:  index %.2f bytes/blob (%llu bytes); process RSS grew %.1f MiB "
           "(%.1f bytes/blob)\n",
           (double)st.index_bytes / (double)st.blobs, (unsigned long long)st.index_bytes,
           rss1 - rss0, (rss1 - rss0) * (1 << 20) / (double)st.blobs);
    printf("disk:    %llu volumes, %llu bytes\n", (unsigned long long)st.volumes,
           (unsigned long long)st.disk_bytes);
    blob_close(b.s);

    double rss2 = rss_mib();
    t0 = mono_ns();
    if (volume_open(dir, VOLUME_BYTES, &b.s) != KHO_OK)
        return 1;
    double open_s = (double)(mono_ns() - t0) / 1e9;
    b.s->ops->stats(b.s, &st);
    printf("restart: reopened %llu blobs in %.3f s; index %.2f bytes/blob, RSS grew %.1f MiB\n",
           (unsigned long long)st.blobs, open_s, (double)st.index_bytes / (double)st.blobs,
           rss_mib() - rss2);
    blob_close(b.s);
    if (own_dir) {
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "blobbench: could not remove '%s'\n", dir);
    }
    return st.blobs == (uint64_t)n && !atomic_load(&b.errors) ? 0 : 1;
}
