/* The local blob backend (volume.h): append-only volume files, their .idx companions, crash
 * recovery, group commit, compaction and fsck. The on-disk format is described in volume.h. */
#define XXH_STATIC_LINKING_ONLY
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#include "blob/index.h"
#include "blob/volume.h"
#include "core/kho.h"

#define FORMAT_VERSION 1u
#define MAGIC_VOL 0x564f484bu /* "KHOV" as stored little-endian */
#define MAGIC_IDX 0x494f484bu /* "KHOI" */
#define MAGIC_REC 0x524f484bu /* "KHOR" */
#define SB_SIZE 32u
#define HDR_SIZE 32u
#define SUM_SIZE 8u
#define REC_MIN (HDR_SIZE + SUM_SIZE) /* an empty record, e.g. a tombstone */
#define IENT_SIZE 24u
#define REC_TOMB 1u
#define REC_FILLER 2u
#define IO_CHUNK ((size_t)1 << 20)
/* Index locations carry the parity of the generation of the file they point into, so that a
 * volume being compacted can serve both its old and its new file while entries move over. */
#define LOC_PARITY 1u
/* In fsck's replay index: the key's newest version is a damaged record. */
#define LOC_DAMAGED 1u
#define REPOINT_BATCH 1024
#define SCAN_BATCH 1024

/* ---- little-endian codecs ---- */

static void le32_put(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32_get(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t le64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t reclen(uint64_t size)
{
    return (HDR_SIZE + size + SUM_SIZE + 7) & ~(uint64_t)7;
}

/* The .dat superblock and the .idx header share one layout, told apart by their magic. */
static void head_encode(uint8_t out[32], uint32_t magic, uint32_t vol, uint64_t gen)
{
    le32_put(out, magic);
    le32_put(out + 4, FORMAT_VERSION);
    le32_put(out + 8, vol);
    le32_put(out + 12, 0);
    le64_put(out + 16, gen);
    le64_put(out + 24, XXH3_64bits(out, 24));
}

static bool head_decode(const uint8_t in[32], uint32_t magic, uint32_t vol, uint64_t *gen)
{
    if (le32_get(in) != magic || le32_get(in + 4) != FORMAT_VERSION || le32_get(in + 8) != vol ||
        le32_get(in + 12) != 0 || le64_get(in + 24) != XXH3_64bits(in, 24))
        return false;
    *gen = le64_get(in + 16);
    return true;
}

struct ient {
    uint64_t key;
    uint64_t off;
    uint32_t size;
    uint32_t flags;
};

static void ient_encode(uint8_t out[IENT_SIZE], const struct ient *e)
{
    le64_put(out, e->key);
    le32_put(out + 8, (uint32_t)(e->off / 8));
    le32_put(out + 12, e->size);
    le32_put(out + 16, e->flags);
    le32_put(out + 20, (uint32_t)XXH3_64bits(out, 20));
}

static bool ient_decode(const uint8_t in[IENT_SIZE], struct ient *e)
{
    if (le32_get(in + 20) != (uint32_t)XXH3_64bits(in, 20))
        return false;
    e->key = le64_get(in);
    e->off = (uint64_t)le32_get(in + 8) * 8;
    e->size = le32_get(in + 12);
    e->flags = le32_get(in + 16);
    return e->flags == 0 || (e->flags == REC_TOMB && e->size == 0);
}

struct rhdr {
    uint32_t flags;
    uint64_t key;
    uint64_t size;
    uint64_t ms;
};

static void rhdr_encode(uint8_t out[HDR_SIZE], const struct rhdr *h)
{
    le32_put(out, MAGIC_REC);
    le32_put(out + 4, h->flags);
    le64_put(out + 8, h->key);
    le64_put(out + 16, h->size);
    le64_put(out + 24, h->ms);
}

static bool rhdr_decode(const uint8_t in[HDR_SIZE], struct rhdr *h)
{
    if (le32_get(in) != MAGIC_REC)
        return false;
    h->flags = le32_get(in + 4);
    h->key = le64_get(in + 8);
    h->size = le64_get(in + 16);
    h->ms = le64_get(in + 24);
    if (h->size > VOLUME_MAX_BLOB)
        return false;
    return h->flags == 0 || (h->flags == REC_TOMB && h->size == 0) || h->flags == REC_FILLER;
}

/* ---- file helpers ---- */

static void vol_name(char out[32], uint32_t id, const char *ext)
{
    snprintf(out, 32, "%08u.%s", id, ext);
}

/* Where a new or rewritten volume file is prepared before being renamed in place. */
static void tmp_name(char out[32], uint32_t id, const char *ext)
{
    snprintf(out, 32, "%08u.%s.tmp", id, ext);
}

/* Reads or writes all of iov (which it consumes) at off, resuming after short transfers; reading
 * past the end of the file is an I/O error. */
static enum kho_err iov_full(int fd, struct iovec *iov, int n, uint64_t off, bool write)
{
    while (n > 0) {
        ssize_t w = write ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 || (w == 0 && !write))
            return KHO_E_IO;
        off += (uint64_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return KHO_OK;
}

static enum kho_err pread_full(int fd, void *p, size_t n, uint64_t off)
{
    struct iovec iov = {p, n};
    return iov_full(fd, &iov, 1, off, false);
}

static enum kho_err pwrite_full(int fd, const void *p, size_t n, uint64_t off)
{
    struct iovec iov = {(void *)p, n};
    return iov_full(fd, &iov, 1, off, true);
}

static enum kho_err file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return KHO_E_IO;
    *size = (uint64_t)st.st_size;
    return KHO_OK;
}

/* Creates path and its missing parents, like mkdir -p. */
static enum kho_err mkdir_p(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp)) {
        log_error("store path '%.64s' is empty or too long", path);
        return KHO_E_INVALID;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
            log_error("cannot create directory '%s': %s", tmp, strerror(errno));
            return KHO_E_IO;
        }
        tmp[i] = c;
    }
    return KHO_OK;
}

/* ---- buffered sequential reading and writing ---- */

struct rd {
    int fd;
    uint8_t *buf;
    uint64_t base; /* file offset of buf[0] */
    size_t len;
};

static void rd_init(struct rd *r, int fd)
{
    r->fd = fd;
    r->buf = xmalloc(IO_CHUNK);
    r->base = 0;
    r->len = 0;
}

static void rd_free(struct rd *r)
{
    free(r->buf);
}

/* Points *out at n (<= IO_CHUNK) bytes at off, valid until the next call. The caller has
 * checked that they lie inside the file, so a short read is an I/O error. */
static enum kho_err rd_at(struct rd *r, uint64_t off, size_t n, const uint8_t **out)
{
    if (off < r->base || off + n > r->base + r->len) {
        r->base = off;
        r->len = 0;
        while (r->len < n) {
            ssize_t got = pread(r->fd, r->buf + r->len, IO_CHUNK - r->len, (off_t)(off + r->len));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return KHO_E_IO;
            r->len += (size_t)got;
        }
    }
    *out = r->buf + (off - r->base);
    return KHO_OK;
}

struct wr {
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t off; /* file offset where buf[0] goes */
};

static void wr_init(struct wr *w, int fd, uint64_t off)
{
    w->fd = fd;
    w->buf = xmalloc(IO_CHUNK);
    w->len = 0;
    w->off = off;
}

static enum kho_err wr_flush(struct wr *w)
{
    enum kho_err rc = pwrite_full(w->fd, w->buf, w->len, w->off);
    if (rc)
        return rc;
    w->off += w->len;
    w->len = 0;
    return KHO_OK;
}

static enum kho_err wr_put(struct wr *w, const void *p, size_t n)
{
    if (w->len + n > IO_CHUNK) {
        enum kho_err rc = wr_flush(w);
        if (rc)
            return rc;
    }
    if (n > IO_CHUNK) {
        enum kho_err rc = pwrite_full(w->fd, p, n, w->off);
        if (rc)
            return rc;
        w->off += n;
        return KHO_OK;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return KHO_OK;
}

static void wr_free(struct wr *w)
{
    free(w->buf);
}

/* Copies n bytes at off from r to w. */
static enum kho_err copy_range(struct rd *r, uint64_t off, uint64_t n, struct wr *w)
{
    while (n > 0) {
        size_t chunk = n < IO_CHUNK ? (size_t)n : IO_CHUNK;
        const uint8_t *p;
        enum kho_err rc = rd_at(r, off, chunk, &p);
        if (rc)
            return rc;
        rc = wr_put(w, p, chunk);
        if (rc)
            return rc;
        off += chunk;
        n -= chunk;
    }
    return KHO_OK;
}

/* ---- records ---- */

/* The trailer of a record: its checksum and the zero padding up to a multiple of 8. */
static size_t trailer_encode(uint8_t out[16], uint64_t sum, uint64_t size)
{
    size_t n = (size_t)(reclen(size) - HDR_SIZE - size);
    memset(out, 0, 16);
    le64_put(out, sum);
    return n;
}

/* Checks the record at pos, which must end by end: KHO_OK with its header in *h, KHO_E_CORRUPT
 * when it is damaged or cut short, KHO_E_IO when the file cannot be read. */
static enum kho_err rec_check(struct rd *r, uint64_t pos, uint64_t end, struct rhdr *h)
{
    const uint8_t *p;
    uint8_t hdr[HDR_SIZE];
    if (end < pos || end - pos < REC_MIN)
        return KHO_E_CORRUPT;
    enum kho_err rc = rd_at(r, pos, HDR_SIZE, &p);
    if (rc)
        return rc;
    memcpy(hdr, p, HDR_SIZE);
    if (!rhdr_decode(hdr, h) || reclen(h->size) > end - pos)
        return KHO_E_CORRUPT;
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr, HDR_SIZE);
    uint64_t off = pos + HDR_SIZE, left = h->size;
    while (left > 0) {
        size_t chunk = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
        rc = rd_at(r, off, chunk, &p);
        if (rc)
            return rc;
        XXH3_64bits_update(&st, p, chunk);
        off += chunk;
        left -= chunk;
    }
    size_t tail = (size_t)(reclen(h->size) - HDR_SIZE - h->size);
    rc = rd_at(r, off, tail, &p);
    if (rc)
        return rc;
    if (le64_get(p) != XXH3_64bits_digest(&st))
        return KHO_E_CORRUPT;
    for (size_t i = SUM_SIZE; i < tail; i++) {
        if (p[i])
            return KHO_E_CORRUPT;
    }
    return KHO_OK;
}

/* The first intact record starting in [from, end) at a multiple of 8: KHO_E_NOTFOUND when there
 * is none, which makes a damaged record a torn tail rather than damage in the middle. */
static enum kho_err find_next(struct rd *r, uint64_t from, uint64_t end, uint64_t *at)
{
    for (uint64_t p = from; p + REC_MIN <= end; p += 8) {
        const uint8_t *b;
        struct rhdr h;
        enum kho_err rc = rd_at(r, p, 4, &b);
        if (rc)
            return rc;
        if (le32_get(b) != MAGIC_REC)
            continue;
        rc = rec_check(r, p, end, &h);
        if (rc == KHO_OK) {
            *at = p;
            return KHO_OK;
        }
        if (rc != KHO_E_CORRUPT)
            return rc;
    }
    return KHO_E_NOTFOUND;
}

/* ---- index walks ---- */

typedef int (*walk_fn)(uint64_t key, const struct index_loc *loc, void *arg);

/* Calls fn for every key of ix in ascending order and returns the first non-zero value fn
 * returns (0 when none). With lock, keys are copied in batches under the read lock and fn runs
 * without it, so fn may call into the store. */
static int index_walk(struct index *ix, bool lock, walk_fn fn, void *arg)
{
    uint64_t *keys = xmalloc(SCAN_BATCH * sizeof(*keys)), from = 0;
    struct index_loc *locs = xmalloc(SCAN_BATCH * sizeof(*locs));
    size_t n;
    int stop = 0;
    do {
        if (lock)
            index_rdlock(ix);
        n = index_scan(ix, from, keys, locs, SCAN_BATCH);
        if (lock)
            index_unlock(ix);
        for (size_t i = 0; i < n && !stop; i++)
            stop = fn(keys[i], &locs[i], arg);
        from = n ? keys[n - 1] + 1 : 0;
    } while (!stop && n == SCAN_BATCH && from != 0);
    free(keys);
    free(locs);
    return stop;
}

/* ---- the store lock ---- */

static pid_t lock_read_pid(int fd)
{
    char b[24] = {0};
    ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
    if (n <= 0)
        return 0;
    long long pid = strtoll(b, NULL, 10);
    return pid > 0 && pid < INT32_MAX ? (pid_t)pid : 0;
}

static enum kho_err lock_take(int dirfd, const char *dir, int *out)
{
    int fd = openat(dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        log_error("cannot open lock of store '%s': %s", dir, strerror(errno));
        return KHO_E_IO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        enum kho_err rc = KHO_E_BUSY;
        if (errno == EWOULDBLOCK)
            log_error("store '%s' is in use by process %d", dir, (int)lock_read_pid(fd));
        else {
            log_error("cannot lock store '%s': %s", dir, strerror(errno));
            rc = KHO_E_IO;
        }
        close(fd);
        return rc;
    }
    char b[24];
    int n = snprintf(b, sizeof(b), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite_full(fd, b, (size_t)n, 0)) {
        log_error("cannot write lock of store '%s': %s", dir, strerror(errno));
        close(fd);
        return KHO_E_IO;
    }
    *out = fd;
    return KHO_OK;
}

enum kho_err volume_lock_owner(const char *dir, pid_t *pid)
{
    char path[4096];
    *pid = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s/LOCK", dir) >= sizeof(path))
        return KHO_E_INVALID;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KHO_E_NOTFOUND : KHO_E_IO;
    enum kho_err rc = KHO_OK;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        rc = KHO_E_NOTFOUND; /* nobody holds it; our shared lock goes with close */
    else if (errno == EWOULDBLOCK)
        *pid = lock_read_pid(fd);
    else
        rc = KHO_E_IO;
    close(fd);
    return rc;
}

/* ---- volume files ---- */

/* Lists the volume ids in dirfd in ascending order; with clean, removes the .tmp files a crash
 * left behind. */
static enum kho_err list_volumes(int dirfd, const char *dir, bool clean, uint32_t **ids, size_t *n)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        log_error("cannot list store '%s': %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return KHO_E_IO;
    }
    rewinddir(d);
    size_t cap = 16;
    *ids = xmalloc(cap * sizeof(**ids));
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t digits = strspn(name, "0123456789");
        if (digits != 8)
            continue;
        if (!strcmp(name + 8, ".dat.tmp") || !strcmp(name + 8, ".idx.tmp")) {
            if (clean)
                unlinkat(dirfd, name, 0);
            continue;
        }
        long long id = strtoll(name, NULL, 10);
        if (strcmp(name + 8, ".dat") != 0 || id < 1 || id > INDEX_MAX_VOL)
            continue;
        if (*n == cap) {
            cap += cap / 2;
            *ids = xrealloc(*ids, cap * sizeof(**ids));
        }
        (*ids)[(*n)++] = (uint32_t)id;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) { /* few volumes: insertion sort */
        uint32_t v = (*ids)[i];
        size_t j = i;
        for (; j > 0 && (*ids)[j - 1] > v; j--)
            (*ids)[j] = (*ids)[j - 1];
        (*ids)[j] = v;
    }
    return KHO_OK;
}

static enum kho_err sync_dir(int dirfd, const char *dir)
{
    if (fsync(dirfd) != 0) {
        log_error("cannot sync directory '%s': %s", dir, strerror(errno));
        return KHO_E_IO;
    }
    return KHO_OK;
}

/* Creates NNNNNNNN.<ext>.tmp holding only a header for generation gen. */
static enum kho_err tmp_create(int dirfd, const char *dir, uint32_t id, const char *ext,
                               uint32_t magic, uint64_t gen, int *out)
{
    char name[32];
    uint8_t head[32];
    tmp_name(name, id, ext);
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        log_error("cannot create '%s/%s': %s", dir, name, strerror(errno));
        return KHO_E_IO;
    }
    head_encode(head, magic, id, gen);
    if (pwrite_full(fd, head, sizeof(head), 0)) {
        log_error("cannot write '%s/%s': %s", dir, name, strerror(errno));
        close(fd);
        unlinkat(dirfd, name, 0);
        return KHO_E_IO;
    }
    *out = fd;
    return KHO_OK;
}

/* Syncs fd, then renames NNNNNNNN.<ext>.tmp over NNNNNNNN.<ext>. */
static enum kho_err tmp_commit(int dirfd, const char *dir, uint32_t id, const char *ext, int fd)
{
    char from[32], to[32];
    vol_name(to, id, ext);
    tmp_name(from, id, ext);
    if (fdatasync(fd) != 0 || renameat(dirfd, from, dirfd, to) != 0) {
        log_error("cannot install '%s/%s': %s", dir, to, strerror(errno));
        return KHO_E_IO;
    }
    return KHO_OK;
}

static void tmp_discard(int dirfd, uint32_t id, const char *ext, int fd)
{
    char name[32];
    tmp_name(name, id, ext);
    close(fd);
    unlinkat(dirfd, name, 0);
}

/* ---- the open store ---- */

/* One generation of a volume's files, shared by the store and the refs readers hold: the last
 * one to let go closes it, so compaction can replace a file that is still being read. */
struct vfile {
    atomic_uint refs;
    int dat;
    int idx; /* -1 for sealed volumes, which are never appended to */
};

struct volume {
    uint32_t id;
    uint64_t gen;          /* changed only by compaction, under the index write lock */
    struct vfile *file[2]; /* by generation parity; index lock */
    uint64_t size;         /* .dat bytes: wmu for the active volume, index lock for sealed ones */
    uint64_t idx_size;     /* .idx bytes of the active volume; wmu */
    uint64_t garbage[2];   /* dead record bytes in each generation's file; index lock */
    uint64_t tomb_bytes;   /* tombstone record bytes, kept by compaction; index lock */
    uint64_t sealed_seq;   /* write_seq when it stopped being the active volume; wmu */
};

/* A durable-to-be change of the index, applied by the sync leader once it is on disk. */
struct op {
    uint64_t key;
    uint64_t off;
    uint32_t vol;
    uint32_t size;
    bool tomb;
};

/* Holds at most one op per thread inside put or del, since each waits for its op's sync. */
struct ops {
    struct op *v;
    size_t len, cap;
};

struct vstore {
    struct blob_store base;
    char *dir;
    int dirfd, lockfd;
    uint64_t max_bytes;
    struct index *ix;
    struct volume **vols; /* by id, NULL where unused; the array is guarded by the index lock */
    uint32_t nvols;
    uint64_t live_bytes; /* index lock */
    pthread_mutex_t wmu; /* appends: the active volume, write_seq, pending */
    struct volume *active;
    uint64_t write_seq;
    struct ops pending;
    pthread_mutex_t smu; /* group commit */
    pthread_cond_t scond;
    uint64_t synced_seq;
    bool syncing;
    atomic_bool broken;  /* an fdatasync failed: what reached the disk is unknown, stop writing */
    struct ops batch;    /* the ops the current sync leader applies */
    pthread_mutex_t cmu; /* one compaction at a time */
};

static struct vstore *vs(struct blob_store *b)
{
    return (struct vstore *)b;
}

static struct vfile *vfile_new(int dat, int idx)
{
    struct vfile *f = xmalloc(sizeof(*f));
    atomic_init(&f->refs, 1);
    f->dat = dat;
    f->idx = idx;
    return f;
}

static void vfile_ref(struct vfile *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

static void vfile_unref(struct vfile *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    close(f->dat);
    if (f->idx >= 0)
        close(f->idx);
    free(f);
}

static struct vfile *vol_file(const struct volume *v)
{
    return v->file[v->gen & LOC_PARITY];
}

static void ops_push(struct ops *o, const struct op *op)
{
    if (o->len == o->cap) {
        o->cap = o->cap ? o->cap + o->cap / 2 : 16;
        o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->len++] = *op;
}

static void vols_add(struct vstore *s, struct volume *v)
{
    index_wrlock(s->ix);
    if (v->id >= s->nvols) {
        uint32_t n = s->nvols + s->nvols / 2;
        if (n <= v->id)
            n = v->id + 1;
        s->vols = xrealloc(s->vols, n * sizeof(*s->vols));
        memset(s->vols + s->nvols, 0, (n - s->nvols) * sizeof(*s->vols));
        s->nvols = n;
    }
    s->vols[v->id] = v;
    index_unlock(s->ix);
}

static void store_free(struct vstore *s)
{
    for (uint32_t i = 0; i < s->nvols; i++) {
        struct volume *v = s->vols[i];
        if (!v)
            continue;
        for (int p = 0; p < 2; p++) {
            if (v->file[p])
                vfile_unref(v->file[p]);
        }
        free(v);
    }
    free(s->vols);
    index_free(s->ix);
    free(s->pending.v);
    free(s->batch.v);
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->smu);
    pthread_cond_destroy(&s->scond);
    pthread_mutex_destroy(&s->cmu);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->dir);
    free(s);
}

/* ---- recovery ---- */

/* Replays one index entry of v, in append order, into the in-memory index. */
static enum kho_err load_apply(struct vstore *s, struct volume *v, const struct ient *e)
{
    if (e->flags & REC_TOMB) {
        index_del(s->ix, e->key);
        v->tomb_bytes += REC_MIN;
        return KHO_OK;
    }
    struct index_loc loc = {
        .off = e->off, .vol = v->id, .size = e->size, .flags = (uint16_t)(v->gen & LOC_PARITY)};
    return index_put(s->ix, e->key, &loc);
}

/* Creates an empty .idx for v (replacing a bad one) and opens it in *out. */
static enum kho_err idx_reset(struct vstore *s, struct volume *v, int *out)
{
    int fd;
    enum kho_err rc = tmp_create(s->dirfd, s->dir, v->id, "idx", MAGIC_IDX, v->gen, &fd);
    if (rc)
        return rc;
    rc = tmp_commit(s->dirfd, s->dir, v->id, "idx", fd);
    if (rc) {
        tmp_discard(s->dirfd, v->id, "idx", fd);
        return rc;
    }
    rc = sync_dir(s->dirfd, s->dir);
    if (rc) {
        close(fd);
        return rc;
    }
    v->idx_size = SB_SIZE;
    *out = fd;
    return KHO_OK;
}

/* Loads v's .idx into the index, keeping its entries up to the first one that is damaged or
 * points past the end of the .dat (the rest is cut off and recovered by scanning the .dat).
 * *pos gets the end of the last indexed record. A missing, damaged or stale .idx is replaced. */
static enum kho_err idx_load(struct vstore *s, struct volume *v, int *out, uint64_t *pos)
{
    char name[32];
    uint8_t head[32];
    uint64_t gen = 0, isize = 0;
    vol_name(name, v->id, "idx");
    *pos = SB_SIZE;
    int fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        log_error("cannot open index '%s/%s': %s", s->dir, name, strerror(errno));
        return KHO_E_IO;
    }
    if (fd < 0 || file_size(fd, &isize) || isize < SB_SIZE || pread_full(fd, head, SB_SIZE, 0) ||
        !head_decode(head, MAGIC_IDX, v->id, &gen) || gen != v->gen) {
        log_warn("rebuilding index '%s/%s'", s->dir, name);
        if (fd >= 0)
            close(fd);
        return idx_reset(s, v, out);
    }
    struct rd r;
    enum kho_err rc = KHO_OK;
    uint64_t off = SB_SIZE;
    rd_init(&r, fd);
    for (; off + IENT_SIZE <= isize; off += IENT_SIZE) {
        const uint8_t *p;
        struct ient e;
        rc = rd_at(&r, off, IENT_SIZE, &p);
        if (rc)
            break;
        /* Entries come in append order, so one that overlaps its predecessor is damaged. */
        if (!ient_decode(p, &e) || e.off < *pos || e.off + reclen(e.size) > v->size)
            break;
        rc = load_apply(s, v, &e);
        if (rc)
            break;
        *pos = e.off + reclen(e.size);
    }
    rd_free(&r);
    if (!rc && off != isize) {
        log_warn("dropping %llu bytes of index '%s/%s' past its last valid entry",
                 (unsigned long long)(isize - off), s->dir, name);
        if (ftruncate(fd, (off_t)off) != 0)
            rc = KHO_E_IO;
    }
    if (rc) {
        log_error("cannot load index '%s/%s': %s", s->dir, name, kho_err_name(rc));
        close(fd);
        return rc;
    }
    v->idx_size = off;
    *out = fd;
    return KHO_OK;
}

/* Indexes the records of v from pos on (written after the last .idx entry that survived) and
 * truncates a torn tail: a damaged record with no intact record after it can only be a write
 * that never completed. Damage followed by intact records is skipped and left to fsck. */
static enum kho_err tail_scan(struct vstore *s, struct volume *v, int dat, int idx, uint64_t pos)
{
    char name[32];
    struct rd r;
    struct wr w;
    uint64_t reindexed = 0;
    bool truncated = false;
    enum kho_err rc = KHO_OK;
    vol_name(name, v->id, "dat");
    rd_init(&r, dat);
    wr_init(&w, idx, v->idx_size);
    while (pos < v->size) {
        struct rhdr h;
        uint64_t next;
        rc = rec_check(&r, pos, v->size, &h);
        if (rc == KHO_OK) {
            if (!(h.flags & REC_FILLER)) {
                uint8_t b[IENT_SIZE];
                struct ient e = {h.key, pos, (uint32_t)h.size, h.flags};
                ient_encode(b, &e);
                rc = wr_put(&w, b, IENT_SIZE);
                if (!rc)
                    rc = load_apply(s, v, &e);
                if (rc)
                    break;
                reindexed++;
            }
            pos += reclen(h.size);
            continue;
        }
        if (rc != KHO_E_CORRUPT)
            break;
        rc = find_next(&r, pos + 8, v->size, &next);
        if (rc == KHO_E_NOTFOUND) {
            log_warn("truncating torn tail of %llu bytes at offset %llu of volume '%s/%s'",
                     (unsigned long long)(v->size - pos), (unsigned long long)pos, s->dir, name);
            rc = ftruncate(dat, (off_t)pos) ? KHO_E_IO : KHO_OK;
            v->size = pos;
            truncated = true;
            break;
        }
        if (rc)
            break;
        log_error("volume '%s/%s' has %llu damaged bytes at offset %llu, run fsck", s->dir, name,
                  (unsigned long long)(next - pos), (unsigned long long)pos);
        metric_inc(M_STORE_ERRORS);
        pos = next;
    }
    if (!rc)
        rc = wr_flush(&w);
    if (!rc && reindexed) {
        v->idx_size = w.off;
        log_info("re-indexed %llu records of volume '%s/%s'", (unsigned long long)reindexed, s->dir,
                 name);
    }
    if (!rc && (reindexed || truncated) && (fdatasync(dat) != 0 || fdatasync(idx) != 0))
        rc = KHO_E_IO;
    if (rc)
        log_error("cannot recover volume '%s/%s': %s", s->dir, name, kho_err_name(rc));
    rd_free(&r);
    wr_free(&w);
    return rc;
}

/* Opens volume id and replays it into the index. Only the last volume keeps its .idx open. */
static enum kho_err vol_load(struct vstore *s, uint32_t id, bool last)
{
    char name[32];
    uint8_t sb[SB_SIZE];
    uint64_t size, gen;
    vol_name(name, id, "dat");
    int dat = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
    if (dat < 0 || file_size(dat, &size)) {
        log_error("cannot open volume '%s/%s': %s", s->dir, name, strerror(errno));
        if (dat >= 0)
            close(dat);
        return KHO_E_IO;
    }
    if (size < SB_SIZE || pread_full(dat, sb, SB_SIZE, 0) ||
        !head_decode(sb, MAGIC_VOL, id, &gen)) {
        log_error("volume '%s/%s' has a bad superblock, run fsck", s->dir, name);
        close(dat);
        return KHO_E_CORRUPT;
    }
    struct volume *v = xcalloc(1, sizeof(*v));
    v->id = id;
    v->gen = gen;
    v->size = size;
    vols_add(s, v);
    int idx = -1;
    uint64_t pos;
    enum kho_err rc = idx_load(s, v, &idx, &pos);
    if (!rc)
        rc = tail_scan(s, v, dat, idx, pos);
    if (!last && idx >= 0) {
        close(idx);
        idx = -1;
    }
    v->file[gen & LOC_PARITY] = vfile_new(dat, idx);
    return rc;
}

/* A new empty volume, generation 1, fully on disk before it is used. */
static enum kho_err vol_create(struct vstore *s, uint32_t id, struct volume **out)
{
    int dat, idx;
    enum kho_err rc = tmp_create(s->dirfd, s->dir, id, "dat", MAGIC_VOL, 1, &dat);
    if (rc)
        return rc;
    rc = tmp_create(s->dirfd, s->dir, id, "idx", MAGIC_IDX, 1, &idx);
    if (rc) {
        tmp_discard(s->dirfd, id, "dat", dat);
        return rc;
    }
    rc = tmp_commit(s->dirfd, s->dir, id, "dat", dat);
    if (rc) {
        tmp_discard(s->dirfd, id, "dat", dat);
        tmp_discard(s->dirfd, id, "idx", idx);
        return rc;
    }
    /* From here an empty .dat is in place; should the rest fail, a reopen just rebuilds its
     * index. */
    rc = tmp_commit(s->dirfd, s->dir, id, "idx", idx);
    if (!rc)
        rc = sync_dir(s->dirfd, s->dir);
    if (rc) {
        close(dat);
        close(idx);
        return rc;
    }
    struct volume *v = xcalloc(1, sizeof(*v));
    v->id = id;
    v->gen = 1;
    v->size = SB_SIZE;
    v->idx_size = SB_SIZE;
    v->file[1] = vfile_new(dat, idx);
    *out = v;
    return KHO_OK;
}

struct account {
    struct vstore *s;
    uint64_t *live; /* record bytes of live blobs, by volume id */
};

static int account_one(uint64_t key, const struct index_loc *loc, void *arg)
{
    struct account *a = arg;
    (void)key;
    a->live[loc->vol] += reclen(loc->size);
    a->s->live_bytes += loc->size;
    return 0;
}

/* Live bytes per volume are not stored anywhere: they follow from the index, and garbage is
 * whatever the records of a volume hold beyond its live records and tombstones. */
static void account(struct vstore *s)
{
    uint64_t *live = xcalloc(s->nvols, sizeof(*live));
    struct account a = {s, live};
    index_walk(s->ix, false, account_one, &a);
    for (uint32_t i = 0; i < s->nvols; i++) {
        struct volume *v = s->vols[i];
        if (!v)
            continue;
        uint64_t used = live[i] + v->tomb_bytes + SB_SIZE;
        v->garbage[v->gen & LOC_PARITY] = v->size > used ? v->size - used : 0;
    }
    free(live);
}

/* Sizes the index for every entry the .idx files hold, so that loading allocates once. */
static void reserve_index(struct vstore *s, const uint32_t *ids, size_t n)
{
    size_t entries = 0;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        struct stat st;
        vol_name(name, ids[i], "idx");
        if (fstatat(s->dirfd, name, &st, 0) == 0 && st.st_size > (off_t)SB_SIZE)
            entries += (size_t)(st.st_size - SB_SIZE) / IENT_SIZE;
    }
    index_reserve(s->ix, entries); /* past the ceiling, loading fails with the real error */
}

static const struct blob_ops volume_ops;

enum kho_err volume_open(const char *dir, uint64_t volume_max_bytes, struct blob_store **out)
{
    *out = NULL;
    if (volume_max_bytes < VOLUME_MIN_BYTES || volume_max_bytes > VOLUME_MAX_BYTES) {
        log_error("volume size %llu for store '%s' is out of range",
                  (unsigned long long)volume_max_bytes, dir);
        return KHO_E_INVALID;
    }
    enum kho_err rc = mkdir_p(dir);
    if (rc)
        return rc;
    struct vstore *s = xcalloc(1, sizeof(*s));
    s->base.ops = &volume_ops;
    s->dir = xstrdup(dir);
    s->lockfd = -1;
    s->max_bytes = volume_max_bytes;
    s->ix = index_new();
    pthread_mutex_init(&s->wmu, NULL);
    pthread_mutex_init(&s->smu, NULL);
    pthread_cond_init(&s->scond, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    atomic_init(&s->broken, false);
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        log_error("cannot open store '%s': %s", dir, strerror(errno));
        store_free(s);
        return KHO_E_IO;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    rc = lock_take(s->dirfd, dir, &s->lockfd);
    if (!rc)
        rc = list_volumes(s->dirfd, dir, true, &ids, &n);
    if (!rc)
        reserve_index(s, ids, n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = vol_load(s, ids[i], i + 1 == n);
    if (!rc && n == 0) {
        struct volume *v;
        rc = vol_create(s, 1, &v);
        if (!rc)
            vols_add(s, v);
    }
    uint32_t last = n ? ids[n - 1] : 1;
    free(ids);
    if (rc) {
        store_free(s);
        return rc;
    }
    s->active = s->vols[last];
    account(s);
    *out = &s->base;
    return KHO_OK;
}

/* ---- writes and group commit ---- */

/* Called with wmu held: seals the active volume and starts a new one when a record of len bytes
 * would take it past the roll-over size. A record bigger than a volume gets one of its own. */
static enum kho_err make_room(struct vstore *s, uint64_t len)
{
    struct volume *v = s->active;
    if (v->size == SB_SIZE || v->size + len <= s->max_bytes)
        return KHO_OK;
    if (v->id >= INDEX_MAX_VOL) {
        log_error("store '%s' has no volume ids left", s->dir);
        return KHO_E_TOO_LARGE;
    }
    /* Sync leaders only sync the active volume, so the one being sealed is synced now. */
    struct vfile *f = vol_file(v);
    metric_inc(M_STORE_SYNCS);
    if (fdatasync(f->dat) != 0 || fdatasync(f->idx) != 0) {
        log_error("cannot sync volume '%s/%08u.dat': %s", s->dir, v->id, strerror(errno));
        atomic_store(&s->broken, true);
        return KHO_E_IO;
    }
    struct volume *nv;
    enum kho_err rc = vol_create(s, v->id + 1, &nv);
    if (rc)
        return rc;
    v->sealed_seq = s->write_seq;
    vols_add(s, nv);
    s->active = nv;
    return KHO_OK;
}

/* Appends a record (header h, then data) and its .idx entry to the active volume and queues
 * the index change; *seq is what commit_wait waits for, *ns the time spent. */
static enum kho_err append(struct vstore *s, const struct rhdr *h, const void *data, uint64_t *seq,
                           uint64_t *ns)
{
    uint8_t hdr[HDR_SIZE], tail[16], ent[IENT_SIZE];
    rhdr_encode(hdr, h);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr, HDR_SIZE);
    XXH3_64bits_update(&st, data, (size_t)h->size);
    size_t tlen = trailer_encode(tail, XXH3_64bits_digest(&st), h->size);
    uint64_t len = reclen(h->size), t0 = mono_ns();

    pthread_mutex_lock(&s->wmu);
    enum kho_err rc = atomic_load(&s->broken) ? KHO_E_IO : make_room(s, len);
    if (rc)
        goto out;
    struct volume *v = s->active;
    struct vfile *f = vol_file(v);
    struct ient e = {h->key, v->size, (uint32_t)h->size, h->flags};
    ient_encode(ent, &e);
    struct iovec iov[3] = {{hdr, HDR_SIZE}, {(void *)data, (size_t)h->size}, {tail, tlen}};
    rc = iov_full(f->dat, iov, 3, v->size, true);
    if (!rc)
        rc = pwrite_full(f->idx, ent, IENT_SIZE, v->idx_size);
    if (rc) {
        log_error("cannot append to volume '%s/%08u.dat': %s", s->dir, v->id, strerror(errno));
        /* Cut off what was written, so the next record does not follow a partial one; if even
         * that fails the tail is unknown and the store stops taking writes. */
        if (ftruncate(f->dat, (off_t)v->size) != 0 || ftruncate(f->idx, (off_t)v->idx_size) != 0)
            atomic_store(&s->broken, true);
        goto out;
    }
    struct op op = {h->key, v->size, v->id, (uint32_t)h->size, h->flags == REC_TOMB};
    ops_push(&s->pending, &op);
    v->size += len;
    v->idx_size += IENT_SIZE;
    *seq = ++s->write_seq;
out:
    pthread_mutex_unlock(&s->wmu);
    *ns = mono_ns() - t0;
    return rc;
}

/* Called with the index write lock held. */
static void apply_op(struct vstore *s, const struct op *o)
{
    struct index_loc old;
    struct volume *v = s->vols[o->vol];
    if (index_get(s->ix, o->key, &old)) {
        s->vols[old.vol]->garbage[old.flags & LOC_PARITY] += reclen(old.size);
        s->live_bytes -= old.size;
        if (o->tomb)
            index_del(s->ix, o->key);
    }
    if (o->tomb) {
        v->tomb_bytes += REC_MIN;
        return;
    }
    struct index_loc loc = {
        .off = o->off, .vol = o->vol, .size = o->size, .flags = (uint16_t)(v->gen & LOC_PARITY)};
    enum kho_err rc = index_put(s->ix, o->key, &loc);
    if (rc) {
        log_error("cannot index blob %llu: %s", (unsigned long long)o->key, kho_err_name(rc));
        v->garbage[v->gen & LOC_PARITY] += reclen(o->size);
        return;
    }
    s->live_bytes += o->size;
}

/* One group-commit round, run by the sync leader: syncs everything appended so far and then
 * makes it visible in the index. *target gets the last sequence number it covers. */
static bool sync_round(struct vstore *s, uint64_t *target)
{
    pthread_mutex_lock(&s->wmu);
    *target = s->write_seq;
    struct vfile *f = vol_file(s->active);
    vfile_ref(f); /* the volume may be sealed and compacted while we sync */
    struct ops t = s->pending;
    s->pending = s->batch;
    s->batch = t;
    pthread_mutex_unlock(&s->wmu);

    metric_inc(M_STORE_SYNCS);
    bool ok = fdatasync(f->dat) == 0 && fdatasync(f->idx) == 0;
    vfile_unref(f);
    if (!ok) {
        log_error("cannot sync store '%s': %s", s->dir, strerror(errno));
    } else {
        index_wrlock(s->ix);
        for (size_t i = 0; i < s->batch.len; i++)
            apply_op(s, &s->batch.v[i]);
        index_unlock(s->ix);
    }
    s->batch.len = 0;
    return ok;
}

/* Waits until the append numbered seq is durable and indexed, leading a sync round when no
 * other thread is: appends that arrive during a round share the next one. */
static enum kho_err commit_wait(struct vstore *s, uint64_t seq)
{
    pthread_mutex_lock(&s->smu);
    while (s->synced_seq < seq && !atomic_load(&s->broken)) {
        if (s->syncing) {
            pthread_cond_wait(&s->scond, &s->smu);
            continue;
        }
        s->syncing = true;
        pthread_mutex_unlock(&s->smu);
        uint64_t target;
        bool ok = sync_round(s, &target);
        pthread_mutex_lock(&s->smu);
        s->syncing = false;
        if (ok)
            s->synced_seq = target;
        else
            atomic_store(&s->broken, true);
        pthread_cond_broadcast(&s->scond);
    }
    enum kho_err rc = s->synced_seq >= seq ? KHO_OK : KHO_E_IO;
    pthread_mutex_unlock(&s->smu);
    return rc;
}

static enum kho_err v_put(struct blob_store *b, uint64_t key, const void *data, size_t len)
{
    struct vstore *s = vs(b);
    if (len > VOLUME_MAX_BLOB)
        return KHO_E_TOO_LARGE;
    struct rhdr h = {.flags = 0, .key = key, .size = len, .ms = (uint64_t)now_ms()};
    uint64_t seq, ns;
    enum kho_err rc = append(s, &h, data, &seq, &ns);
    metric_add(M_STAGE_APPEND_NS, ns);
    if (!rc) {
        uint64_t t0 = mono_ns();
        rc = commit_wait(s, seq);
        metric_add(M_STAGE_SYNC_NS, mono_ns() - t0);
    }
    metric_inc(rc ? M_STORE_ERRORS : M_STORE_PUTS);
    return rc;
}

/* key's location under the read lock; false when absent. */
static bool lookup(struct vstore *s, uint64_t key, struct index_loc *loc)
{
    index_rdlock(s->ix);
    bool found = index_get(s->ix, key, loc);
    index_unlock(s->ix);
    return found;
}

static enum kho_err v_del(struct blob_store *b, uint64_t key)
{
    struct vstore *s = vs(b);
    struct index_loc loc;
    if (!lookup(s, key, &loc))
        return KHO_E_NOTFOUND;
    struct rhdr h = {.flags = REC_TOMB, .key = key, .size = 0, .ms = (uint64_t)now_ms()};
    uint64_t seq, ns;
    enum kho_err rc = append(s, &h, NULL, &seq, &ns);
    if (!rc)
        rc = commit_wait(s, seq);
    metric_inc(rc ? M_STORE_ERRORS : M_STORE_DELETES);
    return rc;
}

/* ---- reads ---- */

/* Looks key up and pins the file its record is in. */
static enum kho_err pin(struct vstore *s, uint64_t key, struct index_loc *loc, struct vfile **f)
{
    index_rdlock(s->ix);
    if (!index_get(s->ix, key, loc)) {
        index_unlock(s->ix);
        return KHO_E_NOTFOUND;
    }
    *f = s->vols[loc->vol]->file[loc->flags & LOC_PARITY];
    vfile_ref(*f);
    index_unlock(s->ix);
    return KHO_OK;
}

static enum kho_err v_open(struct blob_store *b, uint64_t key, struct blob_ref *out)
{
    struct index_loc loc;
    struct vfile *f;
    enum kho_err rc = pin(vs(b), key, &loc, &f);
    if (rc)
        return rc;
    out->fd = f->dat;
    out->off = (off_t)(loc.off + HDR_SIZE);
    out->len = loc.size;
    out->stream = false;
    out->pin = f;
    metric_inc(M_STORE_GETS);
    return KHO_OK;
}

static void v_release_ref(struct blob_store *b, struct blob_ref *ref)
{
    (void)b;
    if (ref->pin)
        vfile_unref(ref->pin);
    ref->pin = NULL;
}

static enum kho_err v_read(struct blob_store *b, uint64_t key, size_t max, void **data, size_t *len)
{
    struct vstore *s = vs(b);
    struct index_loc loc;
    struct vfile *f;
    enum kho_err rc = pin(s, key, &loc, &f);
    if (rc)
        return rc;
    if (loc.size > max) {
        vfile_unref(f);
        return KHO_E_TOO_LARGE;
    }
    uint8_t hdr[HDR_SIZE], tail[16];
    uint8_t *p = xmalloc(loc.size ? loc.size : 1);
    size_t tlen = (size_t)(reclen(loc.size) - HDR_SIZE - loc.size);
    struct iovec iov[3] = {{hdr, HDR_SIZE}, {p, loc.size}, {tail, tlen}};
    rc = iov_full(f->dat, iov, 3, loc.off, false);
    vfile_unref(f);
    if (rc) {
        log_error("cannot read blob %llu from volume '%s/%08u.dat': %s", (unsigned long long)key,
                  s->dir, loc.vol, strerror(errno));
    } else {
        struct rhdr h;
        XXH3_state_t st;
        XXH3_64bits_reset(&st);
        XXH3_64bits_update(&st, hdr, HDR_SIZE);
        XXH3_64bits_update(&st, p, loc.size);
        if (!rhdr_decode(hdr, &h) || h.key != key || h.size != loc.size || h.flags != 0 ||
            le64_get(tail) != XXH3_64bits_digest(&st)) {
            log_error("blob %llu at offset %llu of volume '%s/%08u.dat' fails its checksum",
                      (unsigned long long)key, (unsigned long long)loc.off, s->dir, loc.vol);
            rc = KHO_E_CORRUPT;
        }
    }
    if (rc) {
        metric_inc(M_STORE_ERRORS);
        free(p);
        return rc;
    }
    metric_inc(M_STORE_GETS);
    *data = p;
    *len = loc.size;
    return KHO_OK;
}

static enum kho_err v_stat(struct blob_store *b, uint64_t key, uint64_t *len)
{
    struct index_loc loc;
    if (!lookup(vs(b), key, &loc))
        return KHO_E_NOTFOUND;
    *len = loc.size;
    return KHO_OK;
}

struct iter {
    blob_iter_fn fn;
    void *arg;
};

static int iter_one(uint64_t key, const struct index_loc *loc, void *arg)
{
    const struct iter *it = arg;
    return it->fn(key, loc->size, it->arg);
}

static enum kho_err v_iterate(struct blob_store *b, blob_iter_fn fn, void *arg)
{
    struct iter it = {fn, arg};
    return (enum kho_err)index_walk(vs(b)->ix, true, iter_one, &it);
}

static void v_stats(struct blob_store *b, struct blob_stats *out)
{
    struct vstore *s = vs(b);
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->wmu);
    index_rdlock(s->ix);
    out->blobs = index_count(s->ix);
    out->bytes = s->live_bytes;
    out->index_bytes = index_mem_bytes(s->ix);
    for (uint32_t i = 0; i < s->nvols; i++) {
        struct volume *v = s->vols[i];
        if (!v)
            continue;
        out->volumes++;
        out->disk_bytes += v->size;
        out->garbage_bytes += v->garbage[v->gen & LOC_PARITY];
    }
    index_unlock(s->ix);
    pthread_mutex_unlock(&s->wmu);
}

static enum kho_err v_ping(struct blob_store *b)
{
    struct vstore *s = vs(b);
    if (atomic_load(&s->broken))
        return KHO_E_IO;
    if (faccessat(s->dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        log_error("store '%s' is not writable: %s", s->dir, strerror(errno));
        return KHO_E_IO;
    }
    struct stat st;
    pthread_mutex_lock(&s->wmu);
    struct volume *v = s->active;
    bool ok = fstat(vol_file(v)->dat, &st) == 0 && st.st_nlink > 0;
    pthread_mutex_unlock(&s->wmu);
    if (!ok) {
        log_error("active volume '%s/%08u.dat' is gone", s->dir, v->id);
        return KHO_E_IO;
    }
    return KHO_OK;
}

static void v_close(struct blob_store *b)
{
    struct vstore *s = vs(b);
    struct vfile *f = vol_file(s->active);
    if (fdatasync(f->dat) != 0 || fdatasync(f->idx) != 0)
        log_error("cannot sync store '%s': %s", s->dir, strerror(errno));
    sync_dir(s->dirfd, s->dir);
    store_free(s);
}

/* ---- compaction ---- */

/* A live record copied by compaction, to be re-pointed from its old offset to its new one. */
struct move {
    uint64_t key;
    uint64_t from;
    uint64_t to;
    uint32_t size;
};

/* Copies the records of sealed volume v that are still live, and all its tombstones (they may
 * shadow older volumes), into the new files ndat/nidx, reading v's .idx for the record list.
 * Runs without the writer mutex: v is sealed, so only the index changes meanwhile. */
static enum kho_err compact_copy(struct vstore *s, struct volume *v, int ndat, int nidx,
                                 struct move **mv, size_t *nmv, uint64_t *new_size)
{
    char name[32];
    uint8_t head[SB_SIZE];
    uint64_t isize, gen;
    vol_name(name, v->id, "idx");
    int ifd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (ifd < 0 || file_size(ifd, &isize) || isize < SB_SIZE || pread_full(ifd, head, SB_SIZE, 0) ||
        !head_decode(head, MAGIC_IDX, v->id, &gen) || gen != v->gen) {
        log_error("index '%s/%s' does not match its volume, run fsck", s->dir, name);
        if (ifd >= 0)
            close(ifd);
        return KHO_E_CORRUPT;
    }
    struct rd ri, rdat;
    struct wr wd, wi;
    unsigned parity = v->gen & LOC_PARITY;
    enum kho_err rc = KHO_OK;
    *mv = xmalloc(((isize - SB_SIZE) / IENT_SIZE + 1) * sizeof(**mv));
    *nmv = 0;
    rd_init(&ri, ifd);
    rd_init(&rdat, v->file[parity]->dat);
    wr_init(&wd, ndat, SB_SIZE);
    wr_init(&wi, nidx, SB_SIZE);
    for (uint64_t off = SB_SIZE; off + IENT_SIZE <= isize; off += IENT_SIZE) {
        const uint8_t *p;
        uint8_t b[IENT_SIZE];
        struct ient e;
        struct rhdr h;
        struct index_loc loc;
        rc = rd_at(&ri, off, IENT_SIZE, &p);
        if (rc)
            break;
        if (!ient_decode(p, &e)) {
            rc = KHO_E_CORRUPT;
            break;
        }
        if (!(e.flags & REC_TOMB)) {
            index_rdlock(s->ix);
            bool live = index_get(s->ix, e.key, &loc) && loc.vol == v->id && loc.off == e.off &&
                        (loc.flags & LOC_PARITY) == parity;
            index_unlock(s->ix);
            if (!live)
                continue;
        }
        uint64_t len = reclen(e.size), to = wd.off + wd.len;
        if (e.off + len > v->size) {
            rc = KHO_E_CORRUPT;
            break;
        }
        rc = rd_at(&rdat, e.off, HDR_SIZE, &p);
        if (rc)
            break;
        if (!rhdr_decode(p, &h) || h.key != e.key || h.size != e.size || h.flags != e.flags) {
            rc = KHO_E_CORRUPT;
            break;
        }
        rc = copy_range(&rdat, e.off, len, &wd);
        if (rc)
            break;
        if (!(e.flags & REC_TOMB))
            (*mv)[(*nmv)++] = (struct move){e.key, e.off, to, e.size};
        e.off = to;
        ient_encode(b, &e);
        rc = wr_put(&wi, b, IENT_SIZE);
        if (rc)
            break;
    }
    if (!rc)
        rc = wr_flush(&wd);
    if (!rc)
        rc = wr_flush(&wi);
    if (rc == KHO_E_CORRUPT)
        log_error("volume '%s/%08u.dat' disagrees with its index, run fsck", s->dir, v->id);
    else if (rc)
        log_error("cannot compact volume '%s/%08u.dat': %s", s->dir, v->id, strerror(errno));
    *new_size = wd.off;
    rd_free(&ri);
    rd_free(&rdat);
    wr_free(&wd);
    wr_free(&wi);
    close(ifd);
    return rc;
}

/* Rewrites sealed volume v without its dead records under the next generation, then moves the
 * index over to the new file in small batches so readers are never held up for long. Until
 * the last batch, entries of both generations are served, each from its own file. */
static enum kho_err compact_volume(struct vstore *s, struct volume *v, uint64_t *reclaimed)
{
    int ndat, nidx;
    struct move *mv = NULL;
    size_t nmv = 0;
    uint64_t new_size = 0, gen = v->gen + 1;
    enum kho_err rc = tmp_create(s->dirfd, s->dir, v->id, "dat", MAGIC_VOL, gen, &ndat);
    if (rc)
        return rc;
    rc = tmp_create(s->dirfd, s->dir, v->id, "idx", MAGIC_IDX, gen, &nidx);
    if (rc) {
        tmp_discard(s->dirfd, v->id, "dat", ndat);
        return rc;
    }
    rc = compact_copy(s, v, ndat, nidx, &mv, &nmv, &new_size);
    if (!rc)
        rc = tmp_commit(s->dirfd, s->dir, v->id, "dat", ndat);
    if (rc) {
        tmp_discard(s->dirfd, v->id, "dat", ndat);
        tmp_discard(s->dirfd, v->id, "idx", nidx);
        free(mv);
        return rc;
    }
    /* The new .dat is in place. Should the .idx not follow, its stale generation makes the
     * next open rebuild it, so the switch in memory goes ahead either way. */
    rc = tmp_commit(s->dirfd, s->dir, v->id, "idx", nidx);
    if (!rc)
        rc = sync_dir(s->dirfd, s->dir);
    close(nidx);

    unsigned np = gen & LOC_PARITY, op = np ^ 1;
    index_wrlock(s->ix);
    uint64_t old_size = v->size;
    v->file[np] = vfile_new(ndat, -1);
    v->garbage[np] = 0;
    v->size = new_size;
    v->gen = gen;
    index_unlock(s->ix);
    for (size_t i = 0; i < nmv; i += REPOINT_BATCH) {
        index_wrlock(s->ix);
        for (size_t j = i; j < nmv && j < i + REPOINT_BATCH; j++) {
            struct index_loc loc;
            const struct move *m = &mv[j];
            if (index_get(s->ix, m->key, &loc) && loc.vol == v->id && loc.off == m->from &&
                (loc.flags & LOC_PARITY) == op) {
                loc.off = m->to;
                loc.flags = (uint16_t)np;
                index_put(s->ix, m->key, &loc); /* replaces, so cannot fail */
            } else {
                v->garbage[np] += reclen(m->size); /* overwritten or deleted during the copy */
            }
        }
        index_unlock(s->ix);
    }
    index_wrlock(s->ix);
    struct vfile *old = v->file[op];
    v->file[op] = NULL;
    v->garbage[op] = 0;
    index_unlock(s->ix);
    vfile_unref(old); /* closed once the last reader lets go */
    free(mv);
    *reclaimed += old_size > new_size ? old_size - new_size : 0;
    metric_inc(M_STORE_COMPACTIONS);
    metric_add(M_STORE_COMPACTED_BYTES, old_size > new_size ? old_size - new_size : 0);
    log_info("compacted volume '%s/%08u.dat' from %llu to %llu bytes", s->dir, v->id,
             (unsigned long long)old_size, (unsigned long long)new_size);
    return rc;
}

static enum kho_err v_compact(struct blob_store *b, double min_garbage_ratio, uint64_t *reclaimed)
{
    struct vstore *s = vs(b);
    pthread_mutex_lock(&s->cmu);
    pthread_mutex_lock(&s->smu);
    uint64_t synced = s->synced_seq;
    pthread_mutex_unlock(&s->smu);
    /* A volume sealed after the last sync may still have index changes on their way; its turn
     * comes next time. */
    pthread_mutex_lock(&s->wmu);
    index_rdlock(s->ix);
    struct volume **todo = xmalloc(s->nvols * sizeof(*todo));
    size_t n = 0;
    for (uint32_t i = 0; i < s->active->id; i++) {
        struct volume *v = s->vols[i];
        if (!v || v->sealed_seq > synced)
            continue;
        uint64_t garbage = v->garbage[v->gen & LOC_PARITY];
        if (garbage > 0 && (double)garbage >= min_garbage_ratio * (double)(v->size - SB_SIZE))
            todo[n++] = v;
    }
    index_unlock(s->ix);
    pthread_mutex_unlock(&s->wmu);
    enum kho_err rc = KHO_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = compact_volume(s, todo[i], reclaimed);
    free(todo);
    if (rc)
        metric_inc(M_STORE_ERRORS);
    pthread_mutex_unlock(&s->cmu);
    return rc;
}

static const struct blob_ops volume_ops = {
    .name = "volume",
    .put = v_put,
    .open = v_open,
    .read = v_read,
    .del = v_del,
    .stat = v_stat,
    .iterate = v_iterate,
    .stats = v_stats,
    .ping = v_ping,
    .release_ref = v_release_ref,
    .compact = v_compact,
    .close = v_close,
};

/* ---- fsck ---- */

struct fsck {
    const char *dir;
    int dirfd;
    bool repair;
    FILE *log;
    struct volume_fsck_report *rep;
    struct index *ix;  /* every volume replayed: key -> newest version (LOC_DAMAGED if damaged) */
    uint32_t last;     /* the last volume with a good superblock, 0 when none */
    uint64_t *damaged; /* keys whose newest version is damaged, found by fsck_finish */
    size_t ndamaged, damaged_cap;
};

/* A damaged stretch of a volume, from a record start to the next intact record. */
struct stretch {
    uint64_t start, end;
    uint64_t key;
    bool key_known;
};

static void problem(struct fsck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct fsck *c, const char *fmt, ...)
{
    c->rep->problems++;
    if (!c->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->log, fmt, ap);
    va_end(ap);
    fputc('\n', c->log);
}

/* Overwrites [start, start+span) of fd with one filler record (span >= REC_MIN, both multiples
 * of 8), which readers and recovery step over. */
static enum kho_err write_filler(int fd, uint64_t start, uint64_t span)
{
    static const uint8_t zeros[65536];
    uint8_t hdr[HDR_SIZE], tail[16];
    struct rhdr h = {
        .flags = REC_FILLER, .key = 0, .size = span - REC_MIN, .ms = (uint64_t)now_ms()};
    rhdr_encode(hdr, &h);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr, HDR_SIZE);
    enum kho_err rc = pwrite_full(fd, hdr, HDR_SIZE, start);
    for (uint64_t done = 0; !rc && done < h.size;) {
        size_t n = h.size - done < sizeof(zeros) ? (size_t)(h.size - done) : sizeof(zeros);
        XXH3_64bits_update(&st, zeros, n);
        rc = pwrite_full(fd, zeros, n, start + HDR_SIZE + done);
        done += n;
    }
    size_t tlen = trailer_encode(tail, XXH3_64bits_digest(&st), h.size);
    return rc ? rc : pwrite_full(fd, tail, tlen, start + HDR_SIZE + h.size);
}

/* Saves a damaged stretch of volume id to quarantine/ and replaces it by a filler. */
static enum kho_err quarantine(struct fsck *c, uint32_t id, int dat, const struct stretch *b)
{
    char name[64];
    if (mkdirat(c->dirfd, "quarantine", 0750) != 0 && errno != EEXIST) {
        log_error("cannot create '%s/quarantine': %s", c->dir, strerror(errno));
        return KHO_E_IO;
    }
    int qd = openat(c->dirfd, "quarantine", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(name, sizeof(name), "%08u-%llu-%llu.bin", id, (unsigned long long)b->start,
             (unsigned long long)b->key);
    int fd = qd < 0 ? -1 : openat(qd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    enum kho_err rc = fd < 0 ? KHO_E_IO : KHO_OK;
    if (!rc) {
        struct rd r;
        struct wr w;
        rd_init(&r, dat);
        wr_init(&w, fd, 0);
        rc = copy_range(&r, b->start, b->end - b->start, &w);
        if (!rc)
            rc = wr_flush(&w);
        if (!rc && (fsync(fd) != 0 || fsync(qd) != 0))
            rc = KHO_E_IO;
        rd_free(&r);
        wr_free(&w);
    }
    if (rc)
        log_error("cannot quarantine '%s/quarantine/%s': %s", c->dir, name, strerror(errno));
    else
        rc = write_filler(dat, b->start, b->end - b->start);
    if (fd >= 0)
        close(fd);
    if (qd >= 0)
        close(qd);
    return rc;
}

/* Writes a fresh .idx of generation gen holding exactly the entries e. */
static enum kho_err idx_write(struct fsck *c, uint32_t id, uint64_t gen, const struct ient *e,
                              size_t n)
{
    int fd;
    struct wr w;
    enum kho_err rc = tmp_create(c->dirfd, c->dir, id, "idx", MAGIC_IDX, gen, &fd);
    if (rc)
        return rc;
    wr_init(&w, fd, SB_SIZE);
    for (size_t i = 0; !rc && i < n; i++) {
        uint8_t b[IENT_SIZE];
        ient_encode(b, &e[i]);
        rc = wr_put(&w, b, IENT_SIZE);
    }
    if (!rc)
        rc = wr_flush(&w);
    wr_free(&w);
    if (!rc)
        rc = tmp_commit(c->dirfd, c->dir, id, "idx", fd);
    if (rc) {
        tmp_discard(c->dirfd, id, "idx", fd);
        return rc;
    }
    close(fd);
    return sync_dir(c->dirfd, c->dir);
}

/* Compares volume id's .idx with the entries its intact records call for (exp). Entries that
 * point into damage already reported (bad stretches, the torn tail from torn on) are not
 * counted again. *ok is false when the .idx needs rebuilding. */
static enum kho_err fsck_index(struct fsck *c, uint32_t id, uint64_t gen, const struct ient *exp,
                               size_t nexp, const struct stretch *bad, size_t nbad, uint64_t torn,
                               bool *ok)
{
    char name[32];
    uint8_t head[SB_SIZE];
    uint64_t isize, igen;
    vol_name(name, id, "idx");
    *ok = false;
    int fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        log_error("cannot open '%s/%s': %s", c->dir, name, strerror(errno));
        return KHO_E_IO;
    }
    if (fd < 0) {
        c->rep->index_errors++;
        problem(c, "%s: missing", name);
        return KHO_OK;
    }
    if (file_size(fd, &isize) || isize < SB_SIZE || pread_full(fd, head, SB_SIZE, 0) ||
        !head_decode(head, MAGIC_IDX, id, &igen)) {
        c->rep->index_errors++;
        problem(c, "%s: bad header", name);
        close(fd);
        return KHO_OK;
    }
    if (igen != gen) {
        c->rep->index_errors++;
        problem(c, "%s: generation %llu, its volume has %llu", name, (unsigned long long)igen,
                (unsigned long long)gen);
        close(fd);
        return KHO_OK;
    }
    struct rd r;
    enum kho_err rc = KHO_OK;
    uint64_t wrong = (isize - SB_SIZE) % IENT_SIZE ? 1 : 0; /* a partial entry at the end */
    size_t j = 0, k = 0;
    rd_init(&r, fd);
    for (uint64_t off = SB_SIZE; off + IENT_SIZE <= isize; off += IENT_SIZE) {
        const uint8_t *p;
        struct ient e;
        rc = rd_at(&r, off, IENT_SIZE, &p);
        if (rc)
            break;
        if (!ient_decode(p, &e)) {
            wrong++;
            continue;
        }
        while (k < nbad && bad[k].end <= e.off)
            k++;
        if (e.off >= torn || (k < nbad && bad[k].start <= e.off))
            continue;
        while (j < nexp && exp[j].off < e.off) { /* an intact record without an entry */
            wrong++;
            j++;
        }
        if (j < nexp && exp[j].off == e.off) {
            wrong += exp[j].key != e.key || exp[j].size != e.size || exp[j].flags != e.flags;
            j++;
        } else {
            wrong++; /* an entry pointing at no record */
        }
    }
    wrong += nexp - j;
    rd_free(&r);
    close(fd);
    if (rc) {
        log_error("cannot read '%s/%s': %s", c->dir, name, strerror(errno));
        return rc;
    }
    if (wrong) {
        c->rep->index_errors++;
        problem(c, "%s: %llu entries disagree with the volume", name, (unsigned long long)wrong);
    } else {
        *ok = true;
    }
    return KHO_OK;
}

/* Scans volume id's records into exp (the entries its .idx should hold) and bad (damage), and
 * replays them into c->ix. *torn gets where a torn tail starts (the file size if none). */
static enum kho_err fsck_scan(struct fsck *c, uint32_t id, int dat, uint64_t size,
                              struct ient **exp, size_t *nexp, struct stretch **bad, size_t *nbad,
                              uint64_t *torn)
{
    struct rd r;
    enum kho_err rc = KHO_OK;
    uint64_t pos = SB_SIZE;
    size_t badcap = 0;
    /* Every record takes at least REC_MIN bytes: that bounds both lists. */
    *exp = xmalloc(((size - SB_SIZE) / REC_MIN + 1) * sizeof(**exp));
    *bad = NULL;
    *torn = size;
    rd_init(&r, dat);
    while (pos < size) {
        struct rhdr h;
        uint64_t next;
        rc = rec_check(&r, pos, size, &h);
        if (rc == KHO_OK) {
            if (!(h.flags & REC_FILLER)) {
                struct index_loc loc = {.off = pos, .vol = id, .size = (uint32_t)h.size};
                c->rep->records++;
                (*exp)[(*nexp)++] = (struct ient){h.key, pos, (uint32_t)h.size, h.flags};
                if (h.flags & REC_TOMB) {
                    c->rep->tombstones++;
                    index_del(c->ix, h.key);
                } else {
                    rc = index_put(c->ix, h.key, &loc);
                    if (rc)
                        break;
                }
            }
            pos += reclen(h.size);
            continue;
        }
        if (rc != KHO_E_CORRUPT)
            break;
        rc = find_next(&r, pos + 8, size, &next);
        if (rc == KHO_E_NOTFOUND) {
            *torn = pos;
            rc = KHO_OK;
            break;
        }
        if (rc)
            break;
        const uint8_t *p;
        rc = rd_at(&r, pos, HDR_SIZE, &p);
        if (rc)
            break;
        struct stretch st = {.start = pos, .end = next};
        st.key_known = rhdr_decode(p, &h) && !(h.flags & REC_FILLER);
        st.key = st.key_known ? h.key : 0;
        c->rep->corrupt++;
        if (st.key_known) {
            problem(c, "%08u.dat: damaged record of key %llu at offset %llu (%llu bytes)", id,
                    (unsigned long long)st.key, (unsigned long long)pos,
                    (unsigned long long)(next - pos));
            /* Until something newer comes, the key's newest version is this damaged one. */
            struct index_loc loc = {.off = pos, .vol = id, .flags = LOC_DAMAGED};
            rc = index_put(c->ix, st.key, &loc);
            if (rc)
                break;
        } else {
            problem(c, "%08u.dat: %llu damaged bytes at offset %llu", id,
                    (unsigned long long)(next - pos), (unsigned long long)pos);
        }
        if (*nbad == badcap) {
            badcap = badcap ? badcap + badcap / 2 : 8;
            *bad = xrealloc(*bad, badcap * sizeof(**bad));
        }
        (*bad)[(*nbad)++] = st;
        pos = next;
    }
    rd_free(&r);
    if (rc)
        log_error("cannot check volume '%s/%08u.dat': %s", c->dir, id, kho_err_name(rc));
    return rc;
}

static enum kho_err fsck_volume(struct fsck *c, uint32_t id)
{
    char name[32];
    uint8_t sb[SB_SIZE];
    uint64_t size, gen;
    struct volume_fsck_report *rep = c->rep;
    vol_name(name, id, "dat");
    int dat = openat(c->dirfd, name, (c->repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (dat < 0 || file_size(dat, &size)) {
        log_error("cannot open '%s/%s': %s", c->dir, name, strerror(errno));
        if (dat >= 0)
            close(dat);
        return KHO_E_IO;
    }
    rep->volumes++;
    if (size < SB_SIZE || pread_full(dat, sb, SB_SIZE, 0) ||
        !head_decode(sb, MAGIC_VOL, id, &gen)) {
        problem(c, "%s: bad superblock, volume left alone", name);
        rep->bytes += size;
        close(dat);
        return KHO_OK;
    }
    c->last = id;
    struct ient *exp = NULL;
    struct stretch *bad = NULL;
    size_t nexp = 0, nbad = 0;
    uint64_t torn;
    bool modified = false, idx_ok;
    enum kho_err rc = fsck_scan(c, id, dat, size, &exp, &nexp, &bad, &nbad, &torn);
    if (!rc && torn < size) {
        rep->torn_bytes += size - torn;
        problem(c, "%s: torn tail of %llu bytes at offset %llu", name,
                (unsigned long long)(size - torn), (unsigned long long)torn);
    }
    for (size_t i = 0; !rc && c->repair && i < nbad; i++) {
        if (bad[i].end - bad[i].start < REC_MIN)
            continue; /* too short for a filler: left for a human */
        rc = quarantine(c, id, dat, &bad[i]);
        rep->repaired += !rc;
        modified = true;
    }
    if (!rc && c->repair && torn < size) {
        rc = ftruncate(dat, (off_t)torn) ? KHO_E_IO : KHO_OK;
        rep->repaired += !rc;
        size = torn;
        modified = true;
    }
    if (!rc && modified && fdatasync(dat) != 0)
        rc = KHO_E_IO;
    if (rc == KHO_E_IO)
        log_error("cannot repair '%s/%s': %s", c->dir, name, strerror(errno));
    rep->bytes += size;
    if (!rc)
        rc = fsck_index(c, id, gen, exp, nexp, bad, nbad, torn, &idx_ok);
    if (!rc && c->repair && (!idx_ok || modified)) {
        rc = idx_write(c, id, gen, exp, nexp);
        rep->repaired += !rc && !idx_ok;
    }
    free(exp);
    free(bad);
    close(dat);
    return rc;
}

/* Appends a tombstone for each key in keys to the last volume, so that versions older than a
 * damaged newest one stay deleted. */
static enum kho_err fsck_bury(struct fsck *c, const uint64_t *keys, size_t n)
{
    char dname[32], iname[32];
    uint64_t dsize = 0, isize = 0;
    vol_name(dname, c->last, "dat");
    vol_name(iname, c->last, "idx");
    int dat = openat(c->dirfd, dname, O_RDWR | O_CLOEXEC);
    int idx = openat(c->dirfd, iname, O_RDWR | O_CLOEXEC);
    enum kho_err rc =
        dat < 0 || idx < 0 || file_size(dat, &dsize) || file_size(idx, &isize) ? KHO_E_IO : KHO_OK;
    struct wr wd, wi;
    wr_init(&wd, dat, dsize);
    wr_init(&wi, idx, isize);
    for (size_t i = 0; !rc && i < n; i++) {
        uint8_t hdr[HDR_SIZE], tail[16], ent[IENT_SIZE];
        struct rhdr h = {.flags = REC_TOMB, .key = keys[i], .size = 0, .ms = (uint64_t)now_ms()};
        struct ient e = {keys[i], wd.off + wd.len, 0, REC_TOMB};
        rhdr_encode(hdr, &h);
        size_t tlen = trailer_encode(tail, XXH3_64bits(hdr, HDR_SIZE), 0);
        ient_encode(ent, &e);
        rc = wr_put(&wd, hdr, HDR_SIZE);
        if (!rc)
            rc = wr_put(&wd, tail, tlen);
        if (!rc)
            rc = wr_put(&wi, ent, IENT_SIZE);
    }
    if (!rc)
        rc = wr_flush(&wd);
    if (!rc)
        rc = wr_flush(&wi);
    if (!rc && (fdatasync(dat) != 0 || fdatasync(idx) != 0))
        rc = KHO_E_IO;
    if (rc)
        log_error("cannot add tombstones to '%s/%s': %s", c->dir, dname, strerror(errno));
    wr_free(&wd);
    wr_free(&wi);
    if (dat >= 0)
        close(dat);
    if (idx >= 0)
        close(idx);
    return rc;
}

static int fsck_count(uint64_t key, const struct index_loc *loc, void *arg)
{
    struct fsck *c = arg;
    if (!(loc->flags & LOC_DAMAGED)) {
        c->rep->live++;
        return 0;
    }
    if (c->ndamaged == c->damaged_cap) { /* at most one per damaged stretch */
        c->damaged_cap = c->damaged_cap ? c->damaged_cap + c->damaged_cap / 2 : 16;
        c->damaged = xrealloc(c->damaged, c->damaged_cap * sizeof(*c->damaged));
    }
    c->damaged[c->ndamaged++] = key;
    return 0;
}

/* Counts the keys a reopened store would serve and, when repairing, buries damaged ones. */
static enum kho_err fsck_finish(struct fsck *c)
{
    index_walk(c->ix, false, fsck_count, c);
    if (c->repair && c->ndamaged && c->last)
        return fsck_bury(c, c->damaged, c->ndamaged);
    return KHO_OK;
}

enum kho_err volume_fsck(const char *dir, bool repair, struct volume_fsck_report *out, FILE *log)
{
    memset(out, 0, sizeof(*out));
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return KHO_E_NOTFOUND;
        log_error("cannot open store '%s': %s", dir, strerror(errno));
        return KHO_E_IO;
    }
    int lockfd;
    enum kho_err rc = lock_take(dirfd, dir, &lockfd);
    if (rc) {
        close(dirfd);
        return rc;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    struct fsck c = {
        .dir = dir, .dirfd = dirfd, .repair = repair, .log = log, .rep = out, .ix = index_new()};
    rc = list_volumes(dirfd, dir, repair, &ids, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = fsck_volume(&c, ids[i]);
    if (!rc)
        rc = fsck_finish(&c);
    if (log)
        fflush(log);
    free(ids);
    free(c.damaged);
    index_free(c.ix);
    close(lockfd);
    close(dirfd);
    return rc;
}
