/* `kho gc`: delete blobs no metadata record names (an upload that crashed between its blob write
 * and its record, a variant stored while its image was deleted). Offline, like fsck: a running
 * server holds the volume store, so gc refuses rather than race its uploads. Exit 0 when done,
 * 1 when some orphans remain (a delete failed, or more than one run holds), 2 on errors. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "blob/blob.h"
#include "blob/volume.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/gc.h"
#include "meta/meta.h"
#include "core/kho.h"

static const char usage[] =
    "usage: kho gc [--data DIR | --db URL --blob volume:DIR] [--grace 1h] [--dry-run]\n"
    "  Deletes blobs that no image or variant record names. An original younger than the grace\n"
    "  (default 1h; also 90s, 30m, 7d, 0) is kept: it may belong to an upload in flight. Stop the\n"
    "  server first. Run 'kho compact' afterwards to return the space to the disk.\n"
    "  Exit 0 done, 1 some orphans remain, 2 usage or store error.\n";

/* Orphans one run deletes; past it gc reports the rest and exits 1, so memory stays bounded. */
#define GC_ORPHANS_MAX (1u << 22)

struct gc_orphan {
    uint64_t key, len;
};

struct gc_run {
    struct meta_store *m;
    int64_t now_ms, grace_ms;
    uint64_t batch[META_KEYS_KNOWN_MAX], batch_len[META_KEYS_KNOWN_MAX];
    int nbatch;
    uint64_t count[GC_VARIANT + 1], bytes[GC_VARIANT + 1]; /* by verdict */
    struct gc_orphan *orphans;
    size_t norphans, cap;
    uint64_t overflow; /* orphans past GC_ORPHANS_MAX, left for another run */
    enum kho_err err;
};

enum gc_verdict gc_classify(uint64_t key, bool known, int64_t now_ms, int64_t grace_ms)
{
    if (known)
        return GC_LIVE;
    if (key & IDS_VARIANT_KEY_BIT)
        return GC_VARIANT;
    return now_ms - ids_unix_ms(key) < grace_ms ? GC_YOUNG : GC_ORPHAN;
}

bool gc_parse_grace(const char *s, int64_t *ms)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    long long v = strtoll(s, &end, 10);
    int64_t unit = 1000;
    if (*end == 'm')
        unit = 60 * 1000;
    else if (*end == 'h')
        unit = 3600 * 1000;
    else if (*end == 'd')
        unit = 86400 * 1000;
    else if (*end != 's' && *end != '\0')
        return false;
    if (*end && end[1])
        return false;
    const int64_t max = 3650LL * 86400 * 1000;
    if (v < 0 || v > max / unit)
        return false;
    *ms = v * unit;
    return true;
}

static void note_orphan(struct gc_run *g, uint64_t key, uint64_t len)
{
    if (g->norphans == GC_ORPHANS_MAX) {
        g->overflow++;
        return;
    }
    if (g->norphans == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 1024;
        g->orphans = xrealloc(g->orphans, g->cap * sizeof(*g->orphans));
    }
    g->orphans[g->norphans++] = (struct gc_orphan){key, len};
}

/* Ask the metadata store about the batched keys and sort them into the run's tallies. */
static enum kho_err flush(struct gc_run *g)
{
    bool known[META_KEYS_KNOWN_MAX];
    if (g->nbatch == 0)
        return KHO_OK;
    enum kho_err rc = g->m->ops->keys_known(g->m, g->batch, g->nbatch, known);
    if (rc)
        return rc;
    for (int i = 0; i < g->nbatch; i++) {
        enum gc_verdict v = gc_classify(g->batch[i], known[i], g->now_ms, g->grace_ms);
        g->count[v]++;
        g->bytes[v] += g->batch_len[i];
        if (v == GC_ORPHAN || v == GC_VARIANT)
            note_orphan(g, g->batch[i], g->batch_len[i]);
    }
    g->nbatch = 0;
    return KHO_OK;
}

static int visit(uint64_t key, uint64_t len, void *arg)
{
    struct gc_run *g = arg;
    g->batch[g->nbatch] = key;
    g->batch_len[g->nbatch] = len;
    if (++g->nbatch < META_KEYS_KNOWN_MAX)
        return 0;
    g->err = flush(g);
    return g->err ? 1 : 0;
}

/* Open the stores gc works on; prints why and returns false when it cannot. */
static bool open_stores(const struct kho_config *cfg, struct blob_store **s, struct meta_store **m)
{
    if (strncmp(cfg->blob, "volume:", 7) != 0) {
        fprintf(stderr, "kho: gc works on local volume stores (volume:DIR) only, not '%s'\n",
                cfg->blob);
        return false;
    }
    const char *dir = cfg->blob + 7;
    enum kho_err rc = volume_open(dir, (uint64_t)cfg->volume_max_bytes, s);
    if (rc == KHO_E_BUSY) {
        pid_t pid = 0;
        volume_lock_owner(dir, &pid);
        fprintf(stderr, "kho: store '%s' is in use by process %d; stop the server first\n", dir,
                (int)pid);
        return false;
    }
    if (rc) {
        fprintf(stderr, "kho: cannot open store '%s': %s\n", dir, kho_err_name(rc));
        return false;
    }
    struct meta_options mo = {(int)cfg->db_pool, cfg->shard_map};
    rc = meta_open_with(cfg->db, &mo, m);
    if (rc) {
        fprintf(stderr, "kho: cannot open the metadata store: %s\n", kho_err_name(rc));
        blob_close(*s);
        return false;
    }
    if (!(*m)->ops->keys_known) {
        fprintf(stderr, "kho: the metadata store '%s' cannot tell which blobs it names\n",
                (*m)->ops->name);
        (*m)->ops->close(*m);
        blob_close(*s);
        return false;
    }
    return true;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cmd_gc(int argc, char **argv)
{
    const char *data = NULL, *db = NULL, *blob = NULL, *grace_s = NULL;
    bool dry_run = false;
    const struct client_flag flags[] = {{"--data", &data, NULL},
                                        {"--db", &db, NULL},
                                        {"--blob", &blob, NULL},
                                        {"--grace", &grace_s, NULL},
                                        {"--dry-run", NULL, &dry_run}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? 0 : code;
    if (npos != 0) {
        fputs(usage, stderr);
        return 2;
    }
    struct gc_run g = {.grace_ms = 3600 * 1000, .now_ms = wall_ms()};
    if (grace_s && !gc_parse_grace(grace_s, &g.grace_ms)) {
        fprintf(stderr, "kho: --grace takes a duration such as 0, 90s, 30m, 1h or 7d\n");
        return 2;
    }
    struct kho_config cfg;
    if (!cli_store_config(data, db, blob, &cfg))
        return 2;
    log_set_level(LOG_WARN); /* opening the stores is routine here, not news */
    struct blob_store *s;
    if (!open_stores(&cfg, &s, &g.m))
        return 2;

    enum kho_err rc = s->ops->iterate(s, visit, &g);
    if (g.err) /* iterate passes on visit's stop value, not the cause */
        rc = g.err;
    if (!rc)
        rc = flush(&g);
    uint64_t deleted = 0, deleted_bytes = 0, failed = 0;
    for (size_t i = 0; !rc && !dry_run && i < g.norphans; i++) {
        enum kho_err e = blob_del(s, g.orphans[i].key);
        if (e && e != KHO_E_NOTFOUND) {
            fprintf(stderr, "kho: cannot delete blob %" PRIu64 ": %s\n", g.orphans[i].key,
                    kho_err_name(e));
            failed++;
            continue;
        }
        deleted++;
        deleted_bytes += g.orphans[i].len;
    }
    g.m->ops->close(g.m);
    blob_close(s);
    free(g.orphans);
    if (rc) {
        fprintf(stderr, "kho: gc of '%s' failed: %s\n", cfg.blob + 7, kho_err_name(rc));
        return 2;
    }
    uint64_t blobs = 0, bytes = 0;
    for (int k = 0; k <= GC_VARIANT; k++) {
        blobs += g.count[k];
        bytes += g.bytes[k];
    }
    printf("gc %s: %" PRIu64 " blobs (%" PRIu64 " bytes), %" PRIu64 " live; orphans: %" PRIu64
           " originals (%" PRIu64 " bytes), %" PRIu64 " variants (%" PRIu64 " bytes); %" PRIu64
           " within the grace kept (%" PRIu64 " bytes)\n",
           cfg.blob + 7, blobs, bytes, g.count[GC_LIVE], g.count[GC_ORPHAN], g.bytes[GC_ORPHAN],
           g.count[GC_VARIANT], g.bytes[GC_VARIANT], g.count[GC_YOUNG], g.bytes[GC_YOUNG]);
    if (dry_run)
        printf("dry run: deleted nothing\n");
    else
        printf("deleted %" PRIu64 " orphans (%" PRIu64 " bytes)%s\n", deleted, deleted_bytes,
               deleted ? "; run 'kho compact' to return the space to the disk" : "");
    if (g.overflow)
        printf("%" PRIu64 " more orphans left for another run\n", g.overflow);
    return failed || g.overflow ? 1 : 0;
}
