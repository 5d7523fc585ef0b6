/* Unit tests for the volume blob store (src/blob/volume.c, blob.c): the ops, restart and crash
 * recovery, roll-over, fsck, compaction under load, group commit and the store lock. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "t.h"
#include "blob/blob.h"
#include "blob/volume.h"
#include "core/kho.h"

#define MIB ((uint64_t)1 << 20)

/* On-disk sizes from volume.h, to damage files at chosen places. */
static uint64_t reclen(uint64_t size)
{
    return (32 + size + 8 + 7) & ~(uint64_t)7;
}

/* Deterministic content of version ver of key's blob. */
static uint8_t *content(uint64_t key, uint32_t ver, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    uint64_t x = key * 0x9e3779b97f4a7c15ULL + ver + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    return p;
}

static enum kho_err put_ver(struct blob_store *s, uint64_t key, uint32_t ver, size_t len)
{
    uint8_t *p = content(key, ver, len);
    enum kho_err rc = blob_put(s, key, p, len);
    free(p);
    return rc;
}

/* Whether key holds exactly version ver of len bytes, through both read and a pinned ref. */
static bool holds(struct blob_store *s, uint64_t key, uint32_t ver, size_t len)
{
    uint8_t *want = content(key, ver, len), *buf = malloc(len ? len : 1);
    void *got = NULL;
    size_t n = 0;
    struct blob_ref ref;
    bool ok = blob_read(s, key, len, &got, &n) == KHO_OK && n == len && !memcmp(got, want, len);
    if (ok && blob_ref_open(s, key, &ref) == KHO_OK) {
        ok = ref.len == len && (len == 0 || pread(ref.fd, buf, len, ref.off) == (ssize_t)len) &&
             !memcmp(buf, want, len);
        blob_ref_release(s, &ref);
    } else {
        ok = false;
    }
    free(got);
    free(buf);
    free(want);
    return ok;
}

static bool gone(struct blob_store *s, uint64_t key)
{
    uint64_t len;
    struct blob_ref ref;
    return blob_stat(s, key, &len) == KHO_E_NOTFOUND &&
           blob_ref_open(s, key, &ref) == KHO_E_NOTFOUND;
}

static void path_of(char *out, size_t cap, const char *dir, uint32_t vol, const char *ext)
{
    snprintf(out, cap, "%s/%08u.%s", dir, vol, ext);
}

static long long size_of(const char *dir, uint32_t vol, const char *ext)
{
    char p[600];
    struct stat st;
    path_of(p, sizeof(p), dir, vol, ext);
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

static bool truncate_to(const char *dir, uint32_t vol, const char *ext, long long size)
{
    char p[600];
    path_of(p, sizeof(p), dir, vol, ext);
    return truncate(p, size) == 0;
}

/* Writes n bytes at off (off < 0: append) into a store file. */
static bool poke(const char *dir, uint32_t vol, const char *ext, long long off, const void *b,
                 size_t n)
{
    char p[600];
    path_of(p, sizeof(p), dir, vol, ext);
    int fd = open(p, O_WRONLY);
    if (fd < 0)
        return false;
    if (off < 0)
        off = lseek(fd, 0, SEEK_END);
    bool ok = pwrite(fd, b, n, off) == (ssize_t)n;
    close(fd);
    return ok;
}

static bool flip_byte(const char *dir, uint32_t vol, long long off)
{
    char p[600];
    uint8_t b = 0;
    path_of(p, sizeof(p), dir, vol, "dat");
    int fd = open(p, O_RDWR);
    bool ok = fd >= 0 && pread(fd, &b, 1, off) == 1;
    b ^= 0x5a;
    ok = ok && pwrite(fd, &b, 1, off) == 1;
    if (fd >= 0)
        close(fd);
    return ok;
}

struct sum {
    uint64_t count, bytes, stop_at;
};

static int sum_fn(uint64_t key, uint64_t len, void *arg)
{
    struct sum *s = arg;
    (void)key;
    s->count++;
    s->bytes += len;
    return s->stop_at && s->count == s->stop_at ? 42 : 0;
}

static void test_basic_ops(void)
{
    char *dir = t_tmpdir(), url[700], sub[600];
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    snprintf(url, sizeof(url), "volume:%s", sub);
    struct blob_store *s;
    CHECK_EQ(blob_open(url, MIB, &s), KHO_OK); /* creates the missing parents */
    CHECK_STR(s->ops->name, "volume");
    CHECK_EQ(put_ver(s, 10, 0, 0), KHO_OK);
    CHECK_EQ(put_ver(s, 11, 0, 100), KHO_OK);
    CHECK_EQ(put_ver(s, 12, 0, 300000), KHO_OK);
    CHECK(holds(s, 10, 0, 0));
    CHECK(holds(s, 11, 0, 100));
    CHECK(holds(s, 12, 0, 300000));
    uint64_t len;
    CHECK_EQ(blob_stat(s, 12, &len), KHO_OK);
    CHECK_EQ(len, 300000);
    void *d;
    size_t n;
    CHECK_EQ(blob_read(s, 12, 299999, &d, &n), KHO_E_TOO_LARGE);
    CHECK_EQ(blob_read(s, 13, 100, &d, &n), KHO_E_NOTFOUND);
    CHECK(gone(s, 13));
    CHECK_EQ(blob_del(s, 13), KHO_E_NOTFOUND);
    struct sum sm = {0};
    CHECK_EQ(s->ops->iterate(s, sum_fn, &sm), KHO_OK);
    CHECK_EQ(sm.count, 3);
    CHECK_EQ(sm.bytes, 300100);
    sm = (struct sum){.stop_at = 2};
    CHECK_EQ((int)s->ops->iterate(s, sum_fn, &sm), 42);
    CHECK_EQ(blob_del(s, 11), KHO_OK);
    CHECK(gone(s, 11));
    CHECK_EQ(blob_del(s, 11), KHO_E_NOTFOUND);
    struct blob_stats st;
    s->ops->stats(s, &st);
    CHECK_EQ(st.blobs, 2);
    CHECK_EQ(st.bytes, 300000);
    CHECK_EQ(st.volumes, 1);
    CHECK_EQ(st.disk_bytes, 32 + reclen(0) + reclen(100) + reclen(300000) + reclen(0));
    CHECK_EQ(st.garbage_bytes, reclen(100));
    CHECK(st.index_bytes > 0);
    CHECK_EQ(s->ops->ping(s), KHO_OK);
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

static void test_open_errors(void)
{
    char *dir = t_tmpdir(), url[600];
    struct blob_store *s;
    CHECK_EQ(blob_open("gcs:bucket/prefix", MIB, &s), KHO_E_UNSUPPORTED);
    CHECK(s == NULL);
    CHECK_EQ(blob_open("s3:bucket/prefix", MIB, &s), KHO_E_INVALID); /* not s3://BUCKET?... */
    CHECK(s == NULL);
    CHECK_EQ(blob_open("no-scheme", MIB, &s), KHO_E_INVALID);
    CHECK_EQ(blob_open("volume:", MIB, &s), KHO_E_INVALID);
    snprintf(url, sizeof(url), "volume:%s", dir);
    CHECK_EQ(blob_open(url, 100, &s), KHO_E_INVALID); /* below VOLUME_MIN_BYTES */
    CHECK_EQ(blob_open(url, VOLUME_MAX_BYTES + 1, &s), KHO_E_INVALID);
    t_rmtree(dir);
    free(dir);
}

static void test_overwrite(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK_EQ(put_ver(s, 7, 1, 5000), KHO_OK);
    CHECK_EQ(put_ver(s, 7, 2, 3000), KHO_OK);
    CHECK(holds(s, 7, 2, 3000));
    struct blob_stats st;
    s->ops->stats(s, &st);
    CHECK_EQ(st.blobs, 1);
    CHECK_EQ(st.bytes, 3000);
    CHECK_EQ(st.garbage_bytes, reclen(5000));
    blob_close(s);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK(holds(s, 7, 2, 3000));
    s->ops->stats(s, &st);
    CHECK_EQ(st.garbage_bytes, reclen(5000)); /* recomputed from the index */
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

static void test_restart(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    struct blob_stats a, b;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 120; k++)
        CHECK_EQ(put_ver(s, k, 0, k * 37), KHO_OK);
    for (uint64_t k = 1; k <= 120; k += 4)
        CHECK_EQ(blob_del(s, k), KHO_OK);
    for (uint64_t k = 2; k <= 120; k += 4)
        CHECK_EQ(put_ver(s, k, 1, k * 11), KHO_OK);
    s->ops->stats(s, &a);
    blob_close(s);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    s->ops->stats(s, &b);
    CHECK_EQ(a.blobs, 90);
    CHECK_EQ(b.blobs, a.blobs);
    CHECK_EQ(b.bytes, a.bytes);
    CHECK_EQ(b.disk_bytes, a.disk_bytes);
    CHECK_EQ(b.garbage_bytes, a.garbage_bytes);
    for (uint64_t k = 1; k <= 120; k++) {
        if (k % 4 == 1)
            CHECK(gone(s, k));
        else if (k % 4 == 2)
            CHECK(holds(s, k, 1, k * 11));
        else
            CHECK(holds(s, k, 0, k * 37));
    }
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

static void test_rollover(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    struct blob_stats st;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 40; k++)
        CHECK_EQ(put_ver(s, k, 0, 64 * 1024), KHO_OK);
    CHECK_EQ(put_ver(s, 41, 0, 1536 * 1024), KHO_OK); /* bigger than a volume: one of its own */
    CHECK_EQ(put_ver(s, 42, 0, 10), KHO_OK);
    s->ops->stats(s, &st);
    CHECK(st.volumes >= 5);
    for (uint32_t v = 1; v <= st.volumes; v++) {
        long long sz = size_of(dir, v, "dat");
        CHECK(sz > 32);
        CHECK(sz <= (long long)MIB || sz == (long long)(32 + reclen(1536 * 1024)));
    }
    CHECK_EQ(size_of(dir, (uint32_t)st.volumes, "dat"), 32 + reclen(10));
    blob_close(s);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 40; k++)
        CHECK(holds(s, k, 0, 64 * 1024));
    CHECK(holds(s, 41, 0, 1536 * 1024));
    CHECK(holds(s, 42, 0, 10));
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

static void test_torn_tail(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 3; k++)
        CHECK_EQ(put_ver(s, k, 0, 1000), KHO_OK);
    blob_close(s);
    long long two = 32 + 2 * (long long)reclen(1000);
    /* A record cut in the middle; its .idx entry now points past the end of the .dat. */
    CHECK(truncate_to(dir, 1, "dat", two + 500));
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK(holds(s, 1, 0, 1000));
    CHECK(holds(s, 2, 0, 1000));
    CHECK(gone(s, 3));
    CHECK_EQ(size_of(dir, 1, "dat"), two);
    CHECK_EQ(size_of(dir, 1, "idx"), 32 + 2 * 24);
    blob_close(s);
    /* Garbage after the last record, header-like or not. */
    uint8_t junk[200];
    memset(junk, 0xab, sizeof(junk));
    memcpy(junk, "KHOR", 4);
    CHECK(poke(dir, 1, "dat", -1, junk, sizeof(junk)));
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK_EQ(size_of(dir, 1, "dat"), two);
    CHECK(holds(s, 2, 0, 1000));
    CHECK_EQ(put_ver(s, 4, 0, 50), KHO_OK);
    blob_close(s);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK(holds(s, 1, 0, 1000));
    CHECK(holds(s, 4, 0, 50));
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

static void test_reindex_after_idx_entries(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 10; k++)
        CHECK_EQ(put_ver(s, k, 0, 700), KHO_OK);
    CHECK_EQ(blob_del(s, 9), KHO_OK);
    blob_close(s);
    CHECK(truncate_to(dir, 1, "idx", 32 + 3 * 24 + 5)); /* three entries and a partial one */
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 10; k++) {
        if (k == 9)
            CHECK(gone(s, k));
        else
            CHECK(holds(s, k, 0, 700));
    }
    CHECK_EQ(size_of(dir, 1, "idx"), 32 + 11 * 24);
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

static void test_idx_missing_or_stale(void)
{
    char *dir = t_tmpdir(), p[600];
    struct blob_store *s;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 10; k++)
        CHECK_EQ(put_ver(s, k, 0, 300), KHO_OK);
    for (uint64_t k = 1; k <= 3; k++)
        CHECK_EQ(blob_del(s, k), KHO_OK);
    blob_close(s);
    path_of(p, sizeof(p), dir, 1, "idx");
    CHECK_EQ(unlink(p), 0);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 10; k++)
        CHECK(k <= 3 ? gone(s, k) : holds(s, k, 0, 300));
    CHECK_EQ(size_of(dir, 1, "idx"), 32 + 13 * 24);
    blob_close(s);
    /* An .idx of another generation (a crash between compaction's two renames). */
    uint8_t gen = 9;
    CHECK(poke(dir, 1, "idx", 16, &gen, 1));
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 10; k++)
        CHECK(k <= 3 ? gone(s, k) : holds(s, k, 0, 300));
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

/* Damage in the middle of records not yet indexed is not a torn tail: what follows survives. */
static void test_damage_before_intact_records(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 3; k++)
        CHECK_EQ(put_ver(s, k, 0, 2000), KHO_OK);
    blob_close(s);
    long long size = size_of(dir, 1, "dat");
    CHECK(truncate_to(dir, 1, "idx", 32));
    CHECK(flip_byte(dir, 1, 32 + (long long)reclen(2000) + 32 + 1000));
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK(holds(s, 1, 0, 2000));
    CHECK(gone(s, 2));
    CHECK(holds(s, 3, 0, 2000));
    CHECK_EQ(size_of(dir, 1, "dat"), size);
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

/* The damaged newest version of key 3 must not let its older version come back. */
static void test_fsck_quarantine(void)
{
    char *dir = t_tmpdir(), logpath[600], p[700];
    struct blob_store *s;
    struct volume_fsck_report rep;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 5; k++)
        CHECK_EQ(put_ver(s, k, 0, 1000), KHO_OK);
    CHECK_EQ(put_ver(s, 3, 1, 1000), KHO_OK);
    CHECK_EQ(put_ver(s, 6, 0, 1000), KHO_OK); /* damage before it is not a torn tail */
    blob_close(s);
    CHECK_EQ(volume_fsck(dir, false, &rep, NULL), KHO_OK);
    CHECK_EQ(rep.problems, 0);
    CHECK_EQ(rep.records, 7);
    CHECK_EQ(rep.live, 6);
    long long r2 = 32 + (long long)reclen(1000), r6 = 32 + 5 * (long long)reclen(1000);
    CHECK(flip_byte(dir, 1, r2 + 32 + 10));  /* key 2's data */
    CHECK(flip_byte(dir, 1, r6 + 32 + 999)); /* key 3's newest data */
    uint8_t junk[100] = {1, 2, 3};
    CHECK(poke(dir, 1, "dat", -1, junk, sizeof(junk)));

    snprintf(logpath, sizeof(logpath), "%s/fsck.log", dir);
    FILE *log = fopen(logpath, "w+");
    CHECK_EQ(volume_fsck(dir, false, &rep, log), KHO_OK);
    CHECK_EQ(rep.volumes, 1);
    CHECK_EQ(rep.corrupt, 2);
    CHECK_EQ(rep.records, 5);
    CHECK_EQ(rep.live, 4);
    CHECK_EQ(rep.torn_bytes, 100);
    CHECK_EQ(rep.problems, 3);
    CHECK_EQ(rep.repaired, 0);
    rewind(log);
    char line[300];
    int lines = 0;
    while (fgets(line, sizeof(line), log))
        lines++;
    fclose(log);
    CHECK_EQ(lines, 3);

    CHECK_EQ(volume_fsck(dir, true, &rep, NULL), KHO_OK);
    CHECK_EQ(rep.corrupt, 2);
    CHECK(rep.repaired >= 3);
    snprintf(p, sizeof(p), "%s/quarantine/00000001-%lld-%llu.bin", dir, r2, 2ULL);
    struct stat st;
    CHECK_EQ(stat(p, &st), 0);
    CHECK_EQ(st.st_size, (long long)reclen(1000));
    snprintf(p, sizeof(p), "%s/quarantine/00000001-%lld-%llu.bin", dir, r6, 3ULL);
    CHECK_EQ(stat(p, &st), 0);

    CHECK_EQ(volume_fsck(dir, false, &rep, NULL), KHO_OK);
    CHECK_EQ(rep.problems, 0);
    CHECK_EQ(rep.live, 4);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK(holds(s, 1, 0, 1000));
    CHECK(gone(s, 2));
    CHECK(gone(s, 3));
    CHECK(holds(s, 4, 0, 1000));
    CHECK(holds(s, 5, 0, 1000));
    CHECK(holds(s, 6, 0, 1000));
    CHECK_EQ(put_ver(s, 2, 2, 10), KHO_OK);
    CHECK(holds(s, 2, 2, 10));
    blob_close(s);
    CHECK_EQ(volume_fsck("/nonexistent/kho-store", false, &rep, NULL), KHO_E_NOTFOUND);
    t_rmtree(dir);
    free(dir);
}

/* fsck spots a .idx that disagrees with its volume and rebuilds it. */
static void test_fsck_index(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    struct volume_fsck_report rep;
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    for (uint64_t k = 1; k <= 4; k++)
        CHECK_EQ(put_ver(s, k, 0, 64), KHO_OK);
    blob_close(s);
    uint8_t b = 0x77;
    CHECK(poke(dir, 1, "idx", 32 + 24 + 3, &b, 1)); /* the second entry's key */
    CHECK_EQ(volume_fsck(dir, false, &rep, NULL), KHO_OK);
    CHECK_EQ(rep.index_errors, 1);
    CHECK_EQ(rep.corrupt, 0);
    CHECK_EQ(volume_fsck(dir, true, &rep, NULL), KHO_OK);
    CHECK_EQ(rep.repaired, 1);
    CHECK_EQ(volume_fsck(dir, false, &rep, NULL), KHO_OK);
    CHECK_EQ(rep.problems, 0);
    t_rmtree(dir);
    free(dir);
}

struct churn {
    struct blob_store *s;
    atomic_bool stop;
    atomic_int errors;
    int rounds;
    uint32_t vers[64]; /* the thread's own keys 100001..100064: version + 1, 0 when deleted */
};

/* Reads blobs the main thread leaves alone, and puts, overwrites and deletes keys of its own. */
static void *churn_main(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; !atomic_load(&c->stop) || i < 200; i++) {
        uint64_t k = (uint64_t)(i * 7 % 300) + 1;
        if (k % 3 == 0 && !holds(c->s, k, 0, 4000))
            atomic_fetch_add(&c->errors, 1);
        int j = i % 64;
        uint64_t own = 100001 + (uint64_t)j;
        if (c->vers[j] && i % 5 == 0) {
            if (blob_del(c->s, own) != KHO_OK)
                atomic_fetch_add(&c->errors, 1);
            c->vers[j] = 0;
        } else {
            if (put_ver(c->s, own, (uint32_t)i, 3000) != KHO_OK)
                atomic_fetch_add(&c->errors, 1);
            c->vers[j] = (uint32_t)i + 1;
        }
        c->rounds++;
    }
    return NULL;
}

static bool all_intact(struct blob_store *s, const struct churn *c)
{
    for (uint64_t k = 1; k <= 300; k++) {
        bool ok = k % 3 == 0   ? holds(s, k, 0, 4000)
                  : k % 3 == 1 ? gone(s, k)
                               : holds(s, k, 1, 2500);
        if (!ok)
            return false;
    }
    for (int j = 0; j < 64; j++) {
        uint64_t own = 100001 + (uint64_t)j;
        if (c->vers[j] ? !holds(s, own, c->vers[j] - 1, 3000) : !gone(s, own))
            return false;
    }
    return true;
}

static void test_compaction_under_load(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    struct blob_stats before, after;
    const uint64_t vmax = 256 * 1024;
    CHECK_EQ(volume_open(dir, vmax, &s), KHO_OK);
    for (uint64_t k = 1; k <= 300; k++)
        CHECK_EQ(put_ver(s, k, 0, 4000), KHO_OK);
    for (uint64_t k = 1; k <= 300; k++) {
        if (k % 3 == 1)
            CHECK_EQ(blob_del(s, k), KHO_OK);
        else if (k % 3 == 2)
            CHECK_EQ(put_ver(s, k, 1, 2500), KHO_OK);
    }
    /* A reader holding a blob of the first volume across its compaction. */
    struct blob_ref ref;
    CHECK_EQ(blob_ref_open(s, 3, &ref), KHO_OK);
    s->ops->stats(s, &before);
    CHECK(before.garbage_bytes > 0);

    struct churn c = {.s = s};
    pthread_t t;
    pthread_create(&t, NULL, churn_main, &c);
    uint64_t reclaimed = 0, compactions = metric_get(M_STORE_COMPACTIONS);
    CHECK_EQ(blob_compact(s, 0.2, &reclaimed), KHO_OK);
    atomic_store(&c.stop, true);
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&c.errors), 0);
    CHECK(metric_get(M_STORE_COMPACTIONS) > compactions);

    uint8_t *want = content(3, 0, 4000), buf[4000];
    CHECK_EQ(pread(ref.fd, buf, sizeof(buf), ref.off), (ssize_t)sizeof(buf));
    CHECK(!memcmp(buf, want, sizeof(buf)));
    free(want);
    blob_ref_release(s, &ref);

    s->ops->stats(s, &after);
    printf("  compaction reclaimed %llu bytes while the other thread did %d rounds\n",
           (unsigned long long)reclaimed, c.rounds);
    CHECK(reclaimed > 150 * reclen(4000) / 2);
    CHECK(after.garbage_bytes < before.garbage_bytes);
    CHECK(all_intact(s, &c));
    reclaimed = 0;
    CHECK_EQ(blob_compact(s, 0.0, &reclaimed), KHO_OK);
    CHECK(all_intact(s, &c));
    blob_close(s);

    struct volume_fsck_report rep;
    CHECK_EQ(volume_fsck(dir, false, &rep, stderr), KHO_OK);
    CHECK_EQ(rep.problems, 0);
    CHECK_EQ(volume_open(dir, vmax, &s), KHO_OK);
    CHECK(all_intact(s, &c));
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

#define WRITERS 8
#define PUTS_EACH 30

struct writer {
    struct blob_store *s;
    uint64_t base;
    int errors;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (uint64_t i = 0; i < PUTS_EACH; i++)
        w->errors += put_ver(w->s, w->base + i, 0, 1024) != KHO_OK;
    return NULL;
}

static void test_group_commit(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s;
    CHECK_EQ(volume_open(dir, 64 * MIB, &s), KHO_OK);
    uint64_t syncs = metric_get(M_STORE_SYNCS), puts = metric_get(M_STORE_PUTS);
    uint64_t append_ns = metric_get(M_STAGE_APPEND_NS), sync_ns = metric_get(M_STAGE_SYNC_NS);
    struct writer w[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.s = s, .base = (uint64_t)(i + 1) * 1000};
        pthread_create(&t[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(w[i].errors, 0);
    }
    syncs = metric_get(M_STORE_SYNCS) - syncs;
    puts = metric_get(M_STORE_PUTS) - puts;
    printf("  %llu puts from %d threads took %llu syncs\n", (unsigned long long)puts, WRITERS,
           (unsigned long long)syncs);
    CHECK_EQ(puts, WRITERS * PUTS_EACH);
    CHECK(syncs < puts);
    CHECK(metric_get(M_STAGE_APPEND_NS) > append_ns);
    CHECK(metric_get(M_STAGE_SYNC_NS) > sync_ns);
    for (int i = 0; i < WRITERS; i++) {
        for (uint64_t j = 0; j < PUTS_EACH; j++)
            CHECK(holds(s, w[i].base + j, 0, 1024));
    }
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

static void test_lock(void)
{
    char *dir = t_tmpdir();
    struct blob_store *s, *s2;
    struct volume_fsck_report rep;
    pid_t pid;
    CHECK_EQ(volume_lock_owner(dir, &pid), KHO_E_NOTFOUND);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    CHECK_EQ(volume_open(dir, MIB, &s2), KHO_E_BUSY);
    CHECK_EQ(volume_lock_owner(dir, &pid), KHO_OK);
    CHECK_EQ(pid, getpid());
    CHECK_EQ(volume_fsck(dir, false, &rep, NULL), KHO_E_BUSY);
    blob_close(s);
    CHECK_EQ(volume_lock_owner(dir, &pid), KHO_E_NOTFOUND);
    CHECK_EQ(volume_open(dir, MIB, &s), KHO_OK);
    blob_close(s);
    t_rmtree(dir);
    free(dir);
}

T_MAIN("volume", T(test_basic_ops), T(test_open_errors), T(test_overwrite), T(test_restart),
       T(test_rollover), T(test_torn_tail), T(test_reindex_after_idx_entries),
       T(test_idx_missing_or_stale), T(test_damage_before_intact_records), T(test_fsck_quarantine),
       T(test_fsck_index), T(test_compaction_under_load), T(test_group_commit), T(test_lock))
