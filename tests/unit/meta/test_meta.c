/* Unit tests for the metadata store: migrations, users, sessions, images and their variants,
 * albums and share links, and group commit under concurrent writers, against a fresh SQLite file
 * per test. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "meta/meta.h"
#include "meta/migrate.h"
#include "meta/sqlite.h"
#include "core/kho.h"
#include "t.h"

/* ---- helpers ---- */

struct fx {
    char *dir;
    char path[600];
    struct meta_store *m;
};

static enum kho_err fx_open(struct fx *f)
{
    char url[640];
    snprintf(url, sizeof(url), "sqlite:%s", f->path);
    return meta_open(url, &f->m);
}

/* A fresh directory and store; false when either could not be made. */
static int fx_init(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->dir = t_tmpdir();
    if (!f->dir)
        return 0;
    snprintf(f->path, sizeof(f->path), "%s/meta.db", f->dir);
    return fx_open(f) == KHO_OK;
}

static void fx_done(struct fx *f)
{
    if (f->m)
        f->m->ops->close(f->m);
    if (f->dir)
        t_rmtree(f->dir);
    free(f->dir);
}

/* First column of the first row of sql, read straight from the file; -1 on error. */
static int64_t db_int(const struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int db_exec(const struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static enum kho_err add_user(struct meta_store *m, const char *name, struct meta_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = ids_next(1);
    snprintf(u->username, sizeof(u->username), "%s", name);
    snprintf(u->pwhash, sizeof(u->pwhash), "$argon2id$v=19$hash-of-%s", name);
    return m->ops->user_create(m, u);
}

static void fake_sha(char out[65], unsigned a, unsigned b)
{
    snprintf(out, 65, "%08x%056x", a, b);
}

/* An image of owner numbered n (its sha derives from owner and n), fields ready to insert. */
static void fill_image(struct meta_image *img, uint64_t owner, unsigned n, const char *tags,
                       enum meta_visibility vis)
{
    memset(img, 0, sizeof(*img));
    img->id = ids_next(2);
    img->owner_id = owner;
    snprintf(img->title, sizeof(img->title), "image %u", n);
    snprintf(img->tags, sizeof(img->tags), "%s", tags);
    img->visibility = vis;
    snprintf(img->format, sizeof(img->format), "png");
    img->width = 640;
    img->height = 480;
    img->bytes = 1000 + n;
    fake_sha(img->sha256, (unsigned)(owner & 0xffffffff), n);
    img->blob_key = img->id;
}

/* image_insert with no quota. */
static enum kho_err insert(struct meta_store *m, struct meta_image *img)
{
    struct meta_quota q = {0};
    return m->ops->image_insert(m, img, &q);
}

static enum kho_err add_image(struct meta_store *m, uint64_t owner, unsigned n, const char *tags,
                              enum meta_visibility vis, struct meta_image *img)
{
    fill_image(img, owner, n, tags, vis);
    return insert(m, img);
}

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* A variant of image_id numbered n. */
static void fill_variant(struct meta_variant *v, uint64_t image_id, uint64_t key, unsigned n)
{
    memset(v, 0, sizeof(*v));
    v->key = key;
    v->image_id = image_id;
    snprintf(v->spec, sizeof(v->spec), "w=%u&h=%u&fit=cover&fmt=webp&q=80", 16 * n, 16 * n);
    snprintf(v->format, sizeof(v->format), "webp");
    v->width = v->height = (int32_t)(16 * n);
    v->bytes = 100 + n;
}

/* A token hash made of one repeated hex digit. */
static void fill_hash(char out[65], char c)
{
    memset(out, c, 64);
    out[64] = '\0';
}

/* ---- store and migrations ---- */

static void test_open_urls(void)
{
    struct meta_store *m = NULL;
    CHECK_EQ(meta_open("bogus:x", &m), KHO_E_UNSUPPORTED);
    CHECK_EQ(meta_open("mysql://kho:secret@db/kho", &m), KHO_E_UNSUPPORTED);
    /* nothing listens on port 1: the server is unreachable */
    CHECK_EQ(meta_open("postgres://kho@127.0.0.1:1/kho", &m), KHO_E_BACKEND);
    CHECK_EQ(meta_open("postgres://kho@127.0.0.1:1/kho,sqlite:x", &m), KHO_E_INVALID);
    CHECK_EQ(meta_open("sqlite:", &m), KHO_E_INVALID);
    CHECK_EQ(meta_open("sqlite:/nonexistent-kho-dir/x/meta.db", &m), KHO_E_BACKEND);
    CHECK(m == NULL);
}

static void test_migrations_apply_once(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    int64_t files = 0;
    for (const struct embedded_file *e = meta_migrations; e->name; e++)
        files++;
    CHECK(files >= 1);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM schema_migrations"), files);
    CHECK_STR(f.m->ops->name, "sqlite");
    CHECK_EQ(f.m->ops->ping(f.m), KHO_OK);
    int64_t applied_at = db_int(&f, "SELECT applied_at FROM schema_migrations WHERE version = 1");
    CHECK(applied_at > 0);
    struct meta_user u, got;
    CHECK_EQ(add_user(f.m, "alice", &u), KHO_OK);

    f.m->ops->close(f.m);
    f.m = NULL;
    CHECK_EQ(fx_open(&f), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM schema_migrations"), files);
    CHECK_EQ(db_int(&f, "SELECT applied_at FROM schema_migrations WHERE version = 1"), applied_at);
    CHECK_EQ(f.m->ops->user_by_id(f.m, u.id, &got), KHO_OK);
    CHECK_STR(got.username, "alice");
    /* Durable settings of the file itself. */
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    fx_done(&f);
}

static void test_newer_schema_refused(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    f.m->ops->close(f.m);
    f.m = NULL;
    CHECK_EQ(db_exec(&f, "INSERT INTO schema_migrations VALUES (999999, 1)"), SQLITE_OK);
    CHECK_EQ(fx_open(&f), KHO_E_UNSUPPORTED);
    CHECK(f.m == NULL);
    fx_done(&f);
}

/* A bare driver over one connection, to exercise the runner on its own. */
static enum kho_err tdrv_exec(void *ctx, const char *sql)
{
    return sqlite3_exec(ctx, sql, NULL, NULL, NULL) == SQLITE_OK ? KHO_OK : KHO_E_BACKEND;
}

static enum kho_err tdrv_query(void *ctx, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    enum kho_err rc = KHO_E_BACKEND;
    if (sqlite3_prepare_v2(ctx, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = KHO_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static const struct migrate_driver tdrv = {tdrv_exec, tdrv_query, "BEGIN IMMEDIATE"};

static int64_t mem_int(sqlite3 *db, const char *sql)
{
    int64_t v = -1;
    return tdrv_query(db, sql, &v) == KHO_OK ? v : -1;
}

#define MIG(name, sql)                                                                             \
    {                                                                                              \
        name, (const unsigned char *)(sql), sizeof(sql) - 1                                        \
    }

static void test_migrate_runner(void)
{
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);

    static const struct embedded_file disorder[] = {
        MIG("0002-b.sql", "CREATE TABLE b (x)"), MIG("0001-a.sql", "CREATE TABLE a (x)"), {0}};
    static const struct embedded_file unnumbered[] = {MIG("init.sql", "CREATE TABLE a (x)"), {0}};
    CHECK_EQ(migrate_run(&tdrv, db, disorder), KHO_E_INVALID);
    CHECK_EQ(migrate_run(&tdrv, db, unnumbered), KHO_E_INVALID);

    /* The second file fails half-way: its first statement must not survive. */
    static const struct embedded_file broken[] = {
        MIG("0001-a.sql", "CREATE TABLE a (x)"),
        MIG("0002-b.sql", "CREATE TABLE b (x); INSERT INTO nowhere VALUES (1)"),
        {0}};
    CHECK_EQ(migrate_run(&tdrv, db, broken), KHO_E_BACKEND);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM schema_migrations"), 1);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'a'"), 1);

    static const struct embedded_file fixed[] = {
        MIG("0001-a.sql", "CREATE TABLE a (x)"),
        MIG("0002-b.sql", "CREATE TABLE b (x); INSERT INTO b VALUES (1)"),
        {0}};
    CHECK_EQ(migrate_run(&tdrv, db, fixed), KHO_OK);
    CHECK_EQ(migrate_run(&tdrv, db, fixed), KHO_OK); /* re-running applies nothing twice */
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM schema_migrations"), 2);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM b"), 1);
    /* A build that knows fewer migrations than the database has must not touch it. */
    static const struct embedded_file older[] = {MIG("0001-a.sql", "CREATE TABLE a (x)"), {0}};
    CHECK_EQ(migrate_run(&tdrv, db, older), KHO_E_UNSUPPORTED);
    sqlite3_close(db);
}

/* A database made by a build that knew only 0001 opens with today's store: the new columns read
 * as their defaults and the old rows take variants. */
static void test_upgrade_from_0001(void)
{
    char *dir = t_tmpdir();
    CHECK(dir != NULL);
    char path[600], url[640];
    snprintf(path, sizeof(path), "%s/meta.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);

    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    const struct embedded_file first_only[] = {meta_migrations[0], {0}};
    CHECK_STR(first_only[0].name, "0001-init.sql");
    CHECK_EQ(migrate_run(&tdrv, db, first_only), KHO_OK);
    CHECK_EQ(sqlite3_exec(db,
                          "INSERT INTO users VALUES (7, 'old', 'h', 1);"
                          "INSERT INTO images (id, owner_id, sha256, bytes, format, width, height, "
                          "title, tags, visibility, created_at, blob_key) VALUES (42, 7, "
                          "'" SHA_A "', 10, 'png', 2, 3, 'before', '', 2, 5, -3);"
                          "INSERT INTO image_tags VALUES (7, 'x', 42)",
                          NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'variants'"), 0);
    sqlite3_close(db);

    struct meta_store *m = NULL;
    struct meta_image got;
    CHECK_EQ(meta_open(url, &m), KHO_OK);
    memset(&got, 0xff, sizeof(got));
    CHECK_EQ(m->ops->image_get(m, 42, &got), KHO_OK);
    CHECK_STR(got.title, "before");
    CHECK_STR(got.owner_name, "old");
    CHECK_EQ(got.blob_key, UINT64_MAX - 2); /* -3 read back by bit pattern */
    CHECK(!got.alpha);
    CHECK_EQ(got.taken_at, 0);
    CHECK_STR(got.camera_make, "");
    CHECK_STR(got.camera_model, "");
    CHECK(!got.has_gps);
    CHECK(got.gps_lat == 0.0 && got.gps_lon == 0.0);
    CHECK_STR(got.placeholder, "");

    struct meta_variant v;
    uint64_t keys[2];
    int n;
    fill_variant(&v, 42, 99, 1);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    CHECK_EQ(m->ops->image_set_placeholder(m, 42, "AAAA"), KHO_OK);
    CHECK_EQ(m->ops->variant_keys(m, 42, keys, 2, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(keys[0], 99);
    struct meta_image out;
    CHECK_EQ(m->ops->image_delete(m, 42, 7, &out), KHO_OK);
    CHECK_STR(out.placeholder, "AAAA");
    CHECK_EQ(m->ops->variant_keys(m, 42, keys, 2, &n), KHO_OK);
    CHECK_EQ(n, 0);
    m->ops->close(m);

    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    int64_t versions = mem_int(db, "SELECT count(*) FROM schema_migrations");
    int64_t tags = mem_int(db, "SELECT count(*) FROM image_tags");
    sqlite3_close(db);
    t_rmtree(dir);
    free(dir);
    CHECK(versions >= 2);
    CHECK_EQ(tags, 0);
}

/* ---- users and sessions ---- */

static void test_users(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user u, dup, got;
    int64_t before = now_ms();
    CHECK_EQ(add_user(m, "alice", &u), KHO_OK);
    CHECK(u.created_at >= before && u.created_at <= now_ms());

    CHECK_EQ(add_user(m, "alice", &dup), KHO_E_EXISTS);
    dup = u;
    snprintf(dup.username, sizeof(dup.username), "other");
    CHECK_EQ(m->ops->user_create(m, &dup), KHO_E_EXISTS); /* same id */

    CHECK_EQ(m->ops->user_by_name(m, "alice", &got), KHO_OK);
    CHECK_EQ(got.id, u.id);
    CHECK_STR(got.pwhash, u.pwhash);
    CHECK_EQ(got.created_at, u.created_at);
    memset(&got, 0, sizeof(got));
    CHECK_EQ(m->ops->user_by_id(m, u.id, &got), KHO_OK);
    CHECK_STR(got.username, "alice");
    CHECK_EQ(m->ops->user_by_name(m, "bob", &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->user_by_id(m, u.id + 1, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->user_by_name(m, "a-name-far-longer-than-thirty-two-bytes", &got),
             KHO_E_NOTFOUND);

    CHECK_EQ(add_user(m, "", &dup), KHO_E_INVALID);
    memset(&dup, 0, sizeof(dup));
    snprintf(dup.username, sizeof(dup.username), "zero");
    snprintf(dup.pwhash, sizeof(dup.pwhash), "h");
    CHECK_EQ(m->ops->user_create(m, &dup), KHO_E_INVALID); /* id 0 */
    fx_done(&f);
}

static void test_sessions(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user u, got;
    char csrf[65];
    int64_t exp = 0;
    CHECK_EQ(add_user(m, "alice", &u), KHO_OK);
    int64_t now = now_ms();
    char tok[65], csrf_h[65], other[65];
    fill_hash(tok, 'a');
    fill_hash(csrf_h, 'c');
    CHECK_EQ(m->ops->session_create(m, tok, csrf_h, u.id, now + 60000), KHO_OK);
    CHECK_EQ(m->ops->session_create(m, tok, csrf_h, u.id, now + 60000), KHO_E_EXISTS);
    fill_hash(other, 'b');
    CHECK_EQ(m->ops->session_create(m, other, csrf_h, u.id + 7, now + 60000),
             KHO_E_NOTFOUND); /* no such user */
    CHECK_EQ(m->ops->session_create(m, "not-hex", csrf_h, u.id, now + 60000), KHO_E_INVALID);

    CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, tok, now, &got, csrf, &exp), KHO_OK);
    CHECK_EQ(got.id, u.id);
    CHECK_STR(got.username, "alice");
    CHECK_STR(csrf, csrf_h);
    CHECK_EQ(exp, now + 60000);
    CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, tok, now + 60000, &got, csrf, &exp),
             KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, other, now, &got, csrf, &exp),
             KHO_E_NOTFOUND);

    CHECK_EQ(m->ops->session_delete(m, META_SHARD_UNKNOWN, tok), KHO_OK);
    CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, tok, now, &got, csrf, &exp),
             KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_delete(m, META_SHARD_UNKNOWN, tok), KHO_E_NOTFOUND);

    /* An expired row is trimmed by a later login. */
    fill_hash(other, 'e');
    CHECK_EQ(m->ops->session_create(m, other, csrf_h, u.id, now - 1), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM sessions"), 1);
    CHECK_EQ(m->ops->session_create(m, tok, csrf_h, u.id, now + 60000), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM sessions"), 1);
    CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, tok, now, &got, csrf, &exp), KHO_OK);
    fx_done(&f);
}

/* ---- images ---- */

static void test_image_insert_dedup_get(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img, again, got;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);

    CHECK_EQ(add_image(m, a.id, 1, "cat,sunset", META_PUBLIC, &img), KHO_OK);
    CHECK_STR(img.owner_name, "alice");
    CHECK(img.created_at > 0);

    CHECK_EQ(m->ops->image_get(m, img.id, &got), KHO_OK);
    CHECK_EQ(got.owner_id, a.id);
    CHECK_STR(got.owner_name, "alice");
    CHECK_STR(got.title, "image 1");
    CHECK_STR(got.tags, "cat,sunset");
    CHECK_EQ(got.visibility, META_PUBLIC);
    CHECK_STR(got.format, "png");
    CHECK_EQ(got.width, 640);
    CHECK_EQ(got.height, 480);
    CHECK_EQ(got.bytes, 1001);
    CHECK_STR(got.sha256, img.sha256);
    CHECK_EQ(got.created_at, img.created_at);
    CHECK_EQ(got.blob_key, img.id);

    memset(&got, 0, sizeof(got));
    CHECK_EQ(m->ops->image_by_sha(m, a.id, img.sha256, &got), KHO_OK);
    CHECK_EQ(got.id, img.id);
    CHECK_EQ(m->ops->image_by_sha(m, b.id, img.sha256, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_get(m, img.id + 1, &got), KHO_E_NOTFOUND);

    /* Same bytes again for the same owner: the first record comes back. */
    fill_image(&again, a.id, 1, "other", META_PRIVATE);
    CHECK_EQ(insert(m, &again), KHO_E_EXISTS);
    CHECK_EQ(again.id, img.id);
    CHECK_STR(again.tags, "cat,sunset");
    CHECK_STR(again.owner_name, "alice");
    /* ...but another owner may store the same bytes. */
    fill_image(&again, a.id, 1, "", META_PRIVATE);
    again.owner_id = b.id;
    CHECK_EQ(insert(m, &again), KHO_OK);
    CHECK_STR(again.owner_name, "bob");
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images"), 2);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM image_tags"), 2);

    CHECK_EQ(add_image(m, b.id + 99, 2, "", META_PRIVATE, &again), KHO_E_NOTFOUND);
    fill_image(&again, a.id, 3, "", META_PRIVATE);
    snprintf(again.sha256, sizeof(again.sha256), "ABC");
    CHECK_EQ(insert(m, &again), KHO_E_INVALID);
    CHECK_EQ(add_image(m, a.id, 4, ",cat", META_PRIVATE, &again), KHO_E_INVALID);
    CHECK_EQ(
        add_image(m, a.id, 5, "a-tag-that-is-longer-than-32-bytes-by-far", META_PRIVATE, &again),
        KHO_E_TOO_LARGE);
    CHECK_EQ(
        add_image(m, a.id, 6, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u", META_PRIVATE, &again),
        KHO_E_TOO_LARGE);
    CHECK_EQ(add_image(m, a.id, 7, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t", META_PRIVATE, &again),
             KHO_OK);
    fill_image(&again, a.id, 8, "", (enum meta_visibility)3);
    CHECK_EQ(insert(m, &again), KHO_E_INVALID);
    fill_image(&again, a.id, 9, "", META_PRIVATE);
    memset(again.title, 'x', sizeof(again.title)); /* unterminated */
    CHECK_EQ(insert(m, &again), KHO_E_TOO_LARGE);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images"), 3);
    fx_done(&f);
}

/* Pages through owner's images (tag may be NULL) page rows at a time into ids[]. */
static int list_all(struct meta_store *m, uint64_t owner, const char *tag, int page, uint64_t *ids,
                    int cap, int *pages)
{
    static struct meta_image out[META_LIST_MAX];
    uint64_t before = 0;
    int total = 0, n = 0;
    *pages = 0;
    do {
        enum kho_err rc = tag || owner
                              ? m->ops->image_list_owner(m, owner, tag, before, page, out, &n)
                              : m->ops->image_list_public(m, before, page, out, &n);
        if (rc || total + n > cap)
            return -1;
        for (int i = 0; i < n; i++)
            ids[total++] = out[i].id;
        if (n)
            before = out[n - 1].id;
        (*pages)++;
    } while (n == page);
    return total;
}

static void test_list_owner_pages_and_tags(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img, out[META_LIST_MAX];
    uint64_t want[25], ids[64];
    int n, pages;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    for (unsigned i = 0; i < 25; i++) {
        CHECK_EQ(add_image(m, a.id, i, i % 3 == 0 ? "cat,all" : "all", META_PRIVATE, &img), KHO_OK);
        want[i] = img.id;
        CHECK_EQ(add_image(m, b.id, i, "cat", META_PUBLIC, &img), KHO_OK);
    }

    CHECK_EQ(m->ops->image_list_owner(m, a.id, NULL, 0, 10, out, &n), KHO_OK);
    CHECK_EQ(n, 10);
    CHECK_EQ(out[0].id, want[24]);
    CHECK_EQ(out[9].id, want[15]);
    CHECK_STR(out[0].owner_name, "alice");

    CHECK_EQ(list_all(m, a.id, NULL, 10, ids, 64, &pages), 25);
    CHECK_EQ(pages, 3);
    for (int i = 0; i < 25; i++)
        CHECK_EQ(ids[i], want[24 - i]);

    CHECK_EQ(list_all(m, a.id, "cat", 4, ids, 64, &pages), 9);
    CHECK_EQ(pages, 3);
    for (int i = 0; i < 9; i++)
        CHECK_EQ(ids[i], want[24 - 3 * i]);
    CHECK_EQ(list_all(m, a.id, "all", 200, ids, 64, &pages), 25);
    CHECK_EQ(list_all(m, a.id, "dog", 10, ids, 64, &pages), 0);

    CHECK_EQ(m->ops->image_list_owner(m, a.id, "cat", want[3], 10, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(out[0].id, want[0]);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, NULL, 0, 0, out, &n), KHO_E_INVALID);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, NULL, 0, META_LIST_MAX + 1, out, &n),
             KHO_E_TOO_LARGE);
    fx_done(&f);
}

static void test_list_public(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img, out[META_LIST_MAX];
    uint64_t want[20], ids[64];
    int nwant = 0, n, pages;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    for (unsigned i = 0; i < 30; i++) {
        enum meta_visibility vis = (enum meta_visibility)(i % 3);
        CHECK_EQ(add_image(m, i % 2 ? a.id : b.id, i, "", vis, &img), KHO_OK);
        if (vis == META_PUBLIC)
            want[nwant++] = img.id;
    }
    CHECK_EQ(nwant, 10);
    CHECK_EQ(list_all(m, 0, NULL, 3, ids, 64, &pages), 10);
    CHECK_EQ(pages, 4);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(ids[i], want[9 - i]);
    CHECK_EQ(m->ops->image_list_public(m, 0, 200, out, &n), KHO_OK);
    CHECK_EQ(n, 10);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(out[i].visibility, META_PUBLIC);
        CHECK_STR(out[i].owner_name, out[i].owner_id == a.id ? "alice" : "bob");
    }
    CHECK_EQ(m->ops->image_list_public(m, 0, -1, out, &n), KHO_E_INVALID);
    fx_done(&f);
}

static void test_image_update(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img, ch, out[4];
    int n;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "cat,dog", META_PRIVATE, &img), KHO_OK);

    memset(&ch, 0, sizeof(ch));
    snprintf(ch.title, sizeof(ch.title), "renamed");
    snprintf(ch.tags, sizeof(ch.tags), "ignored");
    CHECK_EQ(m->ops->image_update(m, img.id, a.id, META_SET_TITLE, &ch), KHO_OK);
    CHECK_STR(ch.title, "renamed");
    CHECK_STR(ch.tags, "cat,dog");
    CHECK_EQ(ch.id, img.id);
    CHECK_STR(ch.owner_name, "alice");
    CHECK_STR(ch.sha256, img.sha256);

    snprintf(ch.tags, sizeof(ch.tags), "dog,bird");
    ch.visibility = META_PUBLIC;
    CHECK_EQ(m->ops->image_update(m, img.id, a.id, META_SET_TAGS | META_SET_VISIBILITY, &ch),
             KHO_OK);
    CHECK_STR(ch.title, "renamed");
    CHECK_STR(ch.tags, "dog,bird");
    CHECK_EQ(m->ops->image_get(m, img.id, &out[0]), KHO_OK);
    CHECK_STR(out[0].tags, "dog,bird");
    CHECK_EQ(out[0].visibility, META_PUBLIC);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, "cat", 0, 4, out, &n), KHO_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, "bird", 0, 4, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(m->ops->image_list_public(m, 0, 4, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM image_tags"), 2);

    snprintf(ch.tags, sizeof(ch.tags), "%s", "");
    CHECK_EQ(m->ops->image_update(m, img.id, a.id, META_SET_TAGS, &ch), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM image_tags"), 0);

    /* Someone else's image, or none: nothing changes. */
    snprintf(ch.title, sizeof(ch.title), "stolen");
    CHECK_EQ(m->ops->image_update(m, img.id, b.id, META_SET_TITLE, &ch), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_update(m, img.id + 1, a.id, META_SET_TITLE, &ch), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_get(m, img.id, &out[0]), KHO_OK);
    CHECK_STR(out[0].title, "renamed");
    CHECK_EQ(m->ops->image_update(m, img.id, a.id, 8, &ch), KHO_E_INVALID);
    ch.visibility = (enum meta_visibility)7;
    CHECK_EQ(m->ops->image_update(m, img.id, a.id, META_SET_VISIBILITY, &ch), KHO_E_INVALID);
    fx_done(&f);
}

static void test_image_delete_and_usage(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img, keep, out;
    struct meta_usage u;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, 0);
    CHECK_EQ(u.bytes, 0);
    CHECK_EQ(u.quota_images, META_QUOTA_DEFAULT);
    CHECK_EQ(u.quota_bytes, META_QUOTA_DEFAULT);
    CHECK_EQ(add_image(m, a.id, 1, "cat", META_PUBLIC, &img), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 2, "cat", META_PUBLIC, &keep), KHO_OK);
    CHECK_EQ(add_image(m, b.id, 3, "", META_PUBLIC, &out), KHO_OK);
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, 2);
    CHECK_EQ(u.bytes, 1001 + 1002);

    CHECK_EQ(m->ops->image_delete(m, img.id, b.id, &out), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_get(m, img.id, &out), KHO_OK);
    memset(&out, 0, sizeof(out));
    CHECK_EQ(m->ops->image_delete(m, img.id, a.id, &out), KHO_OK);
    CHECK_EQ(out.id, img.id);
    CHECK_EQ(out.blob_key, img.blob_key);
    CHECK_STR(out.sha256, img.sha256);
    CHECK_EQ(m->ops->image_get(m, img.id, &out), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_delete(m, img.id, a.id, &out), KHO_E_NOTFOUND);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM image_tags"), 1);
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, 1);
    CHECK_EQ(u.bytes, 1002);
    /* The same bytes may be uploaded again once deleted. */
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &out), KHO_OK);
    fx_done(&f);
}

/* ---- photo details and variants ---- */

static void fill_details(struct meta_image *img)
{
    img->alpha = true;
    img->taken_at = 1700000000123;
    snprintf(img->camera_make, sizeof(img->camera_make), "FUJIFILM");
    snprintf(img->camera_model, sizeof(img->camera_model),
             "X100V \xc3\xa9"
             "dition");
    img->has_gps = true;
    img->gps_lat = -33.856784;
    img->gps_lon = -151.215297;
    snprintf(img->placeholder, sizeof(img->placeholder), "1QcSHQRnh493V4dIh4eXh1h4kJUI");
    img->blob_key = UINT64_C(0x8000000000000001);
}

/* got carries the details and blob key fill_details gave. */
static int has_details(const struct meta_image *got)
{
    struct meta_image want;
    fill_details(&want);
    return got->alpha && got->taken_at == want.taken_at &&
           strcmp(got->camera_make, want.camera_make) == 0 &&
           strcmp(got->camera_model, want.camera_model) == 0 && got->has_gps &&
           got->gps_lat == want.gps_lat && got->gps_lon == want.gps_lon &&
           strcmp(got->placeholder, want.placeholder) == 0 && got->blob_key == want.blob_key;
}

static void test_image_details_roundtrip(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    struct meta_image img, plain, got, out[4];
    int n;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    fill_image(&img, a.id, 1, "cat", META_PUBLIC);
    fill_details(&img);
    CHECK_EQ(insert(m, &img), KHO_OK);
    CHECK(has_details(&img));
    /* Stored by bit pattern: the top bit makes the column negative. */
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images WHERE blob_key = -9223372036854775807"), 1);

    CHECK_EQ(m->ops->image_get(m, img.id, &got), KHO_OK);
    CHECK(has_details(&got));
    memset(&got, 0, sizeof(got));
    CHECK_EQ(m->ops->image_by_sha(m, a.id, img.sha256, &got), KHO_OK);
    CHECK(has_details(&got));
    CHECK_EQ(m->ops->image_list_owner(m, a.id, NULL, 0, 4, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK(has_details(&out[0]));
    CHECK_EQ(m->ops->image_list_owner(m, a.id, "cat", 0, 4, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK(has_details(&out[0]));
    CHECK_EQ(m->ops->image_list_public(m, 0, 4, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK(has_details(&out[0]));
    memset(&got, 0, sizeof(got));
    snprintf(got.title, sizeof(got.title), "renamed");
    CHECK_EQ(m->ops->image_update(m, img.id, a.id, META_SET_TITLE, &got), KHO_OK);
    CHECK(has_details(&got));
    /* A duplicate upload gets the stored record, details included. */
    fill_image(&got, a.id, 1, "", META_PRIVATE);
    CHECK_EQ(insert(m, &got), KHO_E_EXISTS);
    CHECK(has_details(&got));

    /* Without a fix the coordinates are not stored, whatever the struct held. */
    fill_image(&plain, a.id, 2, "", META_PRIVATE);
    plain.gps_lat = NAN;
    plain.gps_lon = 500;
    CHECK_EQ(insert(m, &plain), KHO_OK);
    CHECK(!plain.has_gps && !plain.alpha);
    CHECK(plain.gps_lat == 0.0 && plain.gps_lon == 0.0);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images WHERE gps_lat IS NULL AND gps_lon IS NULL"),
             1);
    memset(&got, 0, sizeof(got));
    CHECK_EQ(m->ops->image_delete(m, img.id, a.id, &got), KHO_OK);
    CHECK(has_details(&got));
    fx_done(&f);
}

/* Inserts image n of owner with details changed by edit; returns image_insert's result. */
static enum kho_err insert_edited(struct meta_store *m, uint64_t owner, unsigned n,
                                  void (*edit)(struct meta_image *))
{
    struct meta_image img;
    fill_image(&img, owner, n, "", META_PRIVATE);
    fill_details(&img);
    edit(&img);
    return insert(m, &img);
}

static void make_too_long(struct meta_image *i)
{
    memset(i->camera_make, 'c', META_CAMERA_MAX + 1); /* no terminator within the field */
}
static void model_longest(struct meta_image *i)
{
    memset(i->camera_model, 'c', META_CAMERA_MAX);
    i->camera_model[META_CAMERA_MAX] = '\0';
}
static void model_control(struct meta_image *i)
{
    snprintf(i->camera_model, sizeof(i->camera_model), "X100\n");
}
static void make_bad_utf8(struct meta_image *i)
{
    snprintf(i->camera_make, sizeof(i->camera_make), "Fuji\xc3");
}
static void ph_longest(struct meta_image *i)
{
    memset(i->placeholder, 'A', META_PLACEHOLDER_MAX);
    i->placeholder[META_PLACEHOLDER_MAX] = '\0';
}
static void ph_too_long(struct meta_image *i)
{
    memset(i->placeholder, 'A', sizeof(i->placeholder));
}
static void ph_not_base64(struct meta_image *i)
{
    snprintf(i->placeholder, sizeof(i->placeholder), "abc-def_");
}
static void lat_high(struct meta_image *i)
{
    i->gps_lat = 90.000001;
}
static void lat_edge(struct meta_image *i)
{
    i->gps_lat = -90;
    i->gps_lon = 180;
}
static void lon_low(struct meta_image *i)
{
    i->gps_lon = -180.5;
}
static void lat_nan(struct meta_image *i)
{
    i->gps_lat = NAN;
}
static void lon_inf(struct meta_image *i)
{
    i->gps_lon = INFINITY;
}

static void test_image_details_invalid(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(insert_edited(m, a.id, 1, make_too_long), KHO_E_TOO_LARGE);
    CHECK_EQ(insert_edited(m, a.id, 2, model_control), KHO_E_INVALID);
    CHECK_EQ(insert_edited(m, a.id, 3, make_bad_utf8), KHO_E_INVALID);
    CHECK_EQ(insert_edited(m, a.id, 4, ph_too_long), KHO_E_TOO_LARGE);
    CHECK_EQ(insert_edited(m, a.id, 5, ph_not_base64), KHO_E_INVALID);
    CHECK_EQ(insert_edited(m, a.id, 6, lat_high), KHO_E_INVALID);
    CHECK_EQ(insert_edited(m, a.id, 7, lon_low), KHO_E_INVALID);
    CHECK_EQ(insert_edited(m, a.id, 8, lat_nan), KHO_E_INVALID);
    CHECK_EQ(insert_edited(m, a.id, 9, lon_inf), KHO_E_INVALID);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images"), 0);
    CHECK_EQ(insert_edited(m, a.id, 10, model_longest), KHO_OK);
    CHECK_EQ(insert_edited(m, a.id, 11, ph_longest), KHO_OK);
    CHECK_EQ(insert_edited(m, a.id, 12, lat_edge), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images WHERE gps_lat = -90 AND gps_lon = 180"), 1);
    fx_done(&f);
}

static void test_image_set_placeholder(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    struct meta_image img, got;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &img), KHO_OK);
    CHECK_STR(img.placeholder, "");
    CHECK_EQ(m->ops->image_set_placeholder(m, img.id, "3OcRJYB4d3h/iIeHeEh3eIhw+j2w"), KHO_OK);
    CHECK_EQ(m->ops->image_get(m, img.id, &got), KHO_OK);
    CHECK_STR(got.placeholder, "3OcRJYB4d3h/iIeHeEh3eIhw+j2w");
    CHECK_EQ(m->ops->image_set_placeholder(m, img.id + 1, "AAAA"), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_set_placeholder(m, 0, "AAAA"), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_set_placeholder(m, img.id, "not base64!"), KHO_E_INVALID);
    char longest[META_PLACEHOLDER_MAX + 2];
    memset(longest, 'Q', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    CHECK_EQ(m->ops->image_set_placeholder(m, img.id, longest), KHO_E_TOO_LARGE);
    CHECK_EQ(m->ops->image_get(m, img.id, &got), KHO_OK);
    CHECK_STR(got.placeholder, "3OcRJYB4d3h/iIeHeEh3eIhw+j2w");
    longest[META_PLACEHOLDER_MAX] = '\0';
    CHECK_EQ(m->ops->image_set_placeholder(m, img.id, longest), KHO_OK);
    CHECK_EQ(m->ops->image_get(m, img.id, &got), KHO_OK);
    CHECK_STR(got.placeholder, longest);
    CHECK_EQ(m->ops->image_set_placeholder(m, img.id, ""), KHO_OK);
    CHECK_EQ(m->ops->image_get(m, img.id, &got), KHO_OK);
    CHECK_STR(got.placeholder, "");
    fx_done(&f);
}

/* keys[0..n) holds exactly want[0..nwant) in some order. */
static int same_keys(const uint64_t *keys, int n, const uint64_t *want, int nwant)
{
    if (n != nwant)
        return 0;
    for (int i = 0; i < nwant; i++) {
        int found = 0;
        for (int j = 0; j < n; j++)
            found += keys[j] == want[i];
        if (found != 1)
            return 0;
    }
    return 1;
}

static void test_variants(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    struct meta_image img, other, out;
    struct meta_variant v;
    uint64_t keys[8];
    const uint64_t want[3] = {UINT64_C(0xfedcba9876543210), 5, UINT64_MAX};
    int n;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &img), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 2, "", META_PRIVATE, &other), KHO_OK);

    CHECK_EQ(m->ops->variant_keys(m, img.id, keys, 8, &n), KHO_OK);
    CHECK_EQ(n, 0);
    for (unsigned i = 0; i < 3; i++) {
        fill_variant(&v, img.id, want[i], i + 1);
        CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    }
    /* The same key again is no error and adds nothing, even with other fields. */
    fill_variant(&v, img.id, want[0], 9);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM variants"), 3);
    CHECK_EQ(db_int(&f, "SELECT width FROM variants WHERE key = -81985529216486896"), 16);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM variants WHERE key = -1 AND created_at > 0"), 1);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM variants WHERE spec LIKE 'w=32&h=32&%'"), 1);

    fill_variant(&v, other.id, 77, 1);
    v.created_at = 1234;
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT created_at FROM variants WHERE key = 77"), 1234);

    CHECK_EQ(m->ops->variant_keys(m, img.id, keys, 8, &n), KHO_OK);
    CHECK(same_keys(keys, n, want, 3));
    CHECK_EQ(m->ops->variant_keys(m, img.id, keys, 2, &n), KHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(m->ops->variant_keys(m, img.id, keys, 0, &n), KHO_E_INVALID);
    CHECK_EQ(m->ops->variant_keys(m, img.id, keys, META_VARIANTS_MAX + 1, &n), KHO_E_TOO_LARGE);
    CHECK_EQ(n, 0);
    CHECK_EQ(m->ops->variant_keys(m, img.id + 99, keys, 8, &n), KHO_OK);
    CHECK_EQ(n, 0);

    fill_variant(&v, img.id + 99, 8, 1);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_NOTFOUND);
    fill_variant(&v, img.id, 9, 1);
    v.format[0] = '\0';
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_INVALID);
    fill_variant(&v, img.id, 9, 1);
    v.spec[0] = '\0';
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_INVALID);
    fill_variant(&v, img.id, 9, 1);
    memset(v.spec, 'w', sizeof(v.spec));
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_TOO_LARGE);
    fill_variant(&v, img.id, 9, 1);
    v.spec[3] = '\t';
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_INVALID);
    fill_variant(&v, img.id, 9, 1);
    v.bytes = -1;
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_INVALID);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM variants"), 4);

    /* Deleting the image takes its variant records, and only its own. */
    CHECK_EQ(m->ops->image_delete(m, img.id, a.id, &out), KHO_OK);
    CHECK_EQ(m->ops->variant_keys(m, img.id, keys, 8, &n), KHO_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM variants"), 1);
    CHECK_EQ(m->ops->variant_keys(m, other.id, keys, 8, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(keys[0], 77);
    fill_variant(&v, img.id, 10, 1);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_NOTFOUND);
    fx_done(&f);
}

/* One image holds at most META_VARIANTS_MAX records, so one variant_keys call sees them all. */
static void test_variant_ceiling(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    struct meta_image img;
    struct meta_variant v;
    static uint64_t keys[META_VARIANTS_MAX];
    int n;
    char sql[400];
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &img), KHO_OK);
    /* All but one written straight to the file: a write each through the store is slower. */
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < %d) "
             "INSERT INTO variants SELECT x, %lld, 'w=' || x, 'webp', x, x, x, 1 FROM k",
             META_VARIANTS_MAX - 1, (long long)img.id);
    CHECK_EQ(db_exec(&f, sql), SQLITE_OK);
    fill_variant(&v, img.id, UINT64_MAX, 1);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    fill_variant(&v, img.id, UINT64_MAX - 1, 1);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_TOO_LARGE);
    fill_variant(&v, img.id, 7, 1); /* already recorded */
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    CHECK_EQ(m->ops->variant_keys(m, img.id, keys, META_VARIANTS_MAX, &n), KHO_OK);
    CHECK_EQ(n, META_VARIANTS_MAX);
    int top = 0;
    for (int i = 0; i < n; i++)
        top += keys[i] == UINT64_MAX;
    CHECK_EQ(top, 1);
    fx_done(&f);
}

/* ---- concurrency ---- */

#define WRITERS 8
#define PER_WRITER 200
#define DUP_EVERY 20

struct writer_arg {
    struct meta_store *m;
    uint64_t owner;
    int bad; /* number of unexpected results */
};

/* Inserts PER_WRITER images; every DUP_EVERY-th insert first retries an earlier sha, which must
 * fail alone (its savepoint) while the writes sharing its transaction commit. */
static void *writer_main(void *p)
{
    struct writer_arg *w = p;
    struct meta_image img, first;
    for (unsigned i = 0; i < PER_WRITER; i++) {
        if (i && i % DUP_EVERY == 0) {
            fill_image(&img, w->owner, 0, "", META_PRIVATE);
            if (insert(w->m, &img) != KHO_E_EXISTS || img.id != first.id)
                w->bad++;
        }
        fill_image(&img, w->owner, i, i % 2 ? "odd" : "even", META_PUBLIC);
        if (insert(w->m, &img) != KHO_OK)
            w->bad++;
        if (i == 0)
            first = img;
    }
    return NULL;
}

struct reader_arg {
    struct meta_store *m;
    atomic_int *stop;
    int bad;
    long reads;
};

static void *reader_main(void *p)
{
    struct reader_arg *r = p;
    static _Thread_local struct meta_image out[50];
    while (!atomic_load(r->stop)) {
        int n;
        if (r->m->ops->image_list_public(r->m, 0, 50, out, &n) != KHO_OK)
            r->bad++;
        for (int i = 0; i < n; i++) {
            struct meta_image one;
            if (r->m->ops->image_get(r->m, out[i].id, &one) != KHO_OK || one.id != out[i].id)
                r->bad++;
        }
        r->reads++;
    }
    return NULL;
}

static void test_group_commit(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct writer_arg w[WRITERS];
    struct reader_arg r[2];
    pthread_t wt[WRITERS], rt[2];
    atomic_int stop = 0;
    for (int i = 0; i < WRITERS; i++) {
        struct meta_user u;
        char name[16];
        snprintf(name, sizeof(name), "user%d", i);
        CHECK_EQ(add_user(m, name, &u), KHO_OK);
        w[i] = (struct writer_arg){m, u.id, 0};
    }
    uint64_t writes0 = metric_get(M_DB_WRITES), commits0 = metric_get(M_DB_COMMITS);
    uint64_t errors0 = metric_get(M_DB_ERRORS);

    for (int i = 0; i < 2; i++) {
        r[i] = (struct reader_arg){m, &stop, 0, 0};
        CHECK_EQ(pthread_create(&rt[i], NULL, reader_main, &r[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        CHECK_EQ(pthread_create(&wt[i], NULL, writer_main, &w[i]), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wt[i], NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(rt[i], NULL);

    uint64_t writes = metric_get(M_DB_WRITES) - writes0;
    uint64_t commits = metric_get(M_DB_COMMITS) - commits0;
    printf("  %llu writes in %llu commits\n", (unsigned long long)writes,
           (unsigned long long)commits);
    for (int i = 0; i < WRITERS; i++)
        CHECK_EQ(w[i].bad, 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(r[i].bad, 0);
        CHECK(r[i].reads > 0);
    }
    CHECK_EQ(writes, WRITERS * (PER_WRITER + PER_WRITER / DUP_EVERY - 1));
    CHECK(commits > 0 && commits < writes);
    CHECK_EQ(metric_get(M_DB_ERRORS), errors0);

    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images"), WRITERS * PER_WRITER);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM image_tags"), WRITERS * PER_WRITER);
    static uint64_t ids[PER_WRITER];
    int pages;
    for (int i = 0; i < WRITERS; i++) {
        struct meta_usage u;
        CHECK_EQ(m->ops->user_usage(m, w[i].owner, &u), KHO_OK);
        CHECK_EQ(u.images, PER_WRITER);
        char sum[128];
        snprintf(sum, sizeof(sum), "SELECT sum(bytes) FROM images WHERE owner_id = %llu",
                 (unsigned long long)w[i].owner);
        CHECK_EQ(u.bytes, db_int(&f, sum)); /* the counters agree with the rows */
        CHECK_EQ(list_all(m, w[i].owner, NULL, 64, ids, PER_WRITER, &pages), PER_WRITER);
        for (int j = 1; j < PER_WRITER; j++)
            CHECK(ids[j] < ids[j - 1]);
        CHECK_EQ(list_all(m, w[i].owner, "odd", 64, ids, PER_WRITER, &pages), PER_WRITER / 2);
    }
    fx_done(&f);
}

struct variant_racer {
    struct meta_store *m;
    uint64_t image_id;
    atomic_int done; /* inserts finished so far */
    int ok, gone, bad;
};

/* Records variants until the image is gone; once variant_insert says so it must keep saying so. */
static void *variant_racer_main(void *p)
{
    struct variant_racer *r = p;
    struct meta_variant v;
    for (unsigned i = 1; i <= 400 && r->gone < 5; i++) {
        fill_variant(&v, r->image_id, 1000 + i, i);
        enum kho_err rc = r->m->ops->variant_insert(r->m, &v);
        if (rc == KHO_OK && !r->gone)
            r->ok++;
        else if (rc == KHO_E_NOTFOUND)
            r->gone++;
        else
            r->bad++;
        atomic_fetch_add(&r->done, 1);
    }
    return NULL;
}

/* A variant recorded while its image is being deleted either lands before the delete (and goes
 * with it) or is refused: none is left behind. */
static void test_variant_delete_race(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    struct meta_image img, out;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &img), KHO_OK);
    struct variant_racer r = {.m = m, .image_id = img.id};
    atomic_init(&r.done, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, variant_racer_main, &r), 0);
    while (atomic_load(&r.done) < 20)
        usleep(100);
    enum kho_err rc = m->ops->image_delete(m, img.id, a.id, &out);
    pthread_join(t, NULL);
    CHECK_EQ(rc, KHO_OK);
    CHECK_EQ(r.bad, 0);
    CHECK(r.ok >= 20);
    CHECK_EQ(r.gone, 5);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM variants"), 0);
    fx_done(&f);
}

/* Point lookups run on the event loops: they must stay far below a millisecond. */
static void test_point_reads_fast(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user u, got;
    struct meta_image img, out;
    CHECK_EQ(add_user(m, "alice", &u), KHO_OK);
    CHECK_EQ(add_image(m, u.id, 1, "cat", META_PUBLIC, &img), KHO_OK);
    char tok[65], csrf[65];
    int64_t exp;
    fill_hash(tok, 'a');
    fill_hash(csrf, 'c');
    CHECK_EQ(m->ops->session_create(m, tok, csrf, u.id, now_ms() + 60000), KHO_OK);
    enum { ROUNDS = 20000 };
    uint64_t t0 = mono_ns();
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_EQ(m->ops->image_get(m, img.id, &out), KHO_OK);
        CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, tok, now_ms(), &got, csrf, &exp),
                 KHO_OK);
    }
    uint64_t per = (mono_ns() - t0) / (2 * ROUNDS);
    printf("  %llu ns per point read\n", (unsigned long long)per);
    CHECK(per < 100000);
    fx_done(&f);
}

/* ---- migrations added out of order (issue #4) ---- */

/* A database that took 0003 and then a later file (numbered past a gap, from another branch)
 * takes the gap's file once a build knows it, in table order. */
static void test_migrate_fills_gap(void)
{
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
    static const struct embedded_file gap[] = {
        MIG("0003-a.sql", "CREATE TABLE a (x)"), MIG("0005-c.sql", "CREATE TABLE c (x)"), {0}};
    static const struct embedded_file full[] = {MIG("0003-a.sql", "CREATE TABLE a (x)"),
                                                MIG("0004-b.sql", "CREATE TABLE b (x)"),
                                                MIG("0005-c.sql", "CREATE TABLE c (x)"),
                                                {0}};
    CHECK_EQ(migrate_run(&tdrv, db, gap), KHO_OK);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
    CHECK_EQ(migrate_run(&tdrv, db, full), KHO_OK);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 1);
    CHECK_EQ(mem_int(db, "SELECT count(*) FROM schema_migrations"), 3);
    sqlite3_close(db);
}

/* A database from before 0005 gets its usage counters from the rows it holds. */
static void test_upgrade_backfills_usage(void)
{
    char *dir = t_tmpdir();
    CHECK(dir != NULL);
    char path[600], url[640];
    snprintf(path, sizeof(path), "%s/meta.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);

    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    struct embedded_file before[4] = {{0}};
    for (int i = 0; i < 3; i++)
        before[i] = meta_migrations[i];
    CHECK_STR(before[2].name, "0003-user-watermark.sql");
    CHECK_EQ(migrate_run(&tdrv, db, before), KHO_OK);
    CHECK_EQ(sqlite3_exec(db,
                          "INSERT INTO users (id, username, pwhash, created_at) VALUES "
                          "(7, 'old', 'h', 1), (8, 'empty', 'h', 1);"
                          "INSERT INTO images (id, owner_id, sha256, bytes, format, width, height, "
                          "created_at, blob_key) VALUES "
                          "(42, 7, '" SHA_A "', 10, 'png', 2, 3, 5, 42), "
                          "(43, 7, '" SHA_B "', 32, 'png', 2, 3, 5, 43)",
                          NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(db);

    struct meta_store *m = NULL;
    struct meta_usage u;
    CHECK_EQ(meta_open(url, &m), KHO_OK);
    CHECK_EQ(m->ops->user_usage(m, 7, &u), KHO_OK);
    CHECK_EQ(u.images, 2);
    CHECK_EQ(u.bytes, 42);
    CHECK_EQ(u.quota_images, META_QUOTA_DEFAULT);
    CHECK_EQ(u.quota_bytes, META_QUOTA_DEFAULT);
    CHECK_EQ(m->ops->user_usage(m, 8, &u), KHO_OK);
    CHECK_EQ(u.images, 0);
    CHECK_EQ(u.bytes, 0);
    CHECK_EQ(m->ops->user_usage(m, 9, &u), KHO_E_NOTFOUND);
    struct meta_image out;
    CHECK_EQ(m->ops->image_delete(m, 42, 7, &out), KHO_OK);
    CHECK_EQ(m->ops->user_usage(m, 7, &u), KHO_OK);
    CHECK_EQ(u.images, 1);
    CHECK_EQ(u.bytes, 32);
    m->ops->close(m);
    t_rmtree(dir);
    free(dir);
}

/* ---- quotas ---- */

static void test_quota_check(void)
{
    struct meta_usage u = {.images = 3,
                           .bytes = 900,
                           .quota_images = META_QUOTA_DEFAULT,
                           .quota_bytes = META_QUOTA_DEFAULT};
    struct meta_quota q = {.default_images = 4, .default_bytes = 1000};
    CHECK_EQ(meta_quota_limit(META_QUOTA_DEFAULT, 4), 4);
    CHECK_EQ(meta_quota_limit(0, 4), 0);
    CHECK_EQ(meta_quota_limit(9, 4), 9);

    CHECK_EQ(meta_quota_check(&u, 100, &q), KHO_OK); /* exactly full is allowed */
    CHECK_EQ(q.over, META_QUOTA_NONE);
    CHECK_EQ(meta_quota_check(&u, 101, &q), KHO_E_TOO_LARGE);
    CHECK_EQ(q.over, META_QUOTA_BYTES);
    CHECK_EQ(q.used, 900);
    CHECK_EQ(q.limit, 1000);
    u.images = 4; /* both over: the image count is named */
    CHECK_EQ(meta_quota_check(&u, 101, &q), KHO_E_TOO_LARGE);
    CHECK_EQ(q.over, META_QUOTA_IMAGES);
    CHECK_EQ(q.used, 4);
    CHECK_EQ(q.limit, 4);

    u.quota_images = 0; /* unlimited overrides win over the defaults */
    u.quota_bytes = 0;
    CHECK_EQ(meta_quota_check(&u, INT64_MAX, &q), KHO_OK);
    CHECK_EQ(q.over, META_QUOTA_NONE);
    u.quota_bytes = 500; /* and so does a lower one */
    CHECK_EQ(meta_quota_check(&u, 1, &q), KHO_E_TOO_LARGE);
    CHECK_EQ(q.limit, 500);
    q = (struct meta_quota){0}; /* no defaults: unlimited */
    u = (struct meta_usage){INT64_MAX - 1, INT64_MAX - 1, META_QUOTA_DEFAULT, META_QUOTA_DEFAULT};
    CHECK_EQ(meta_quota_check(&u, INT64_MAX, &q), KHO_OK);
    q.default_bytes = INT64_MAX; /* no overflow near the top */
    CHECK_EQ(meta_quota_check(&u, 2, &q), KHO_E_TOO_LARGE);
}

static void test_image_quota(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img, first, out;
    struct meta_usage u;
    struct meta_quota q = {.default_images = 2};
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);

    fill_image(&first, a.id, 1, "x", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &first, &q), KHO_OK);
    fill_image(&img, a.id, 2, "x", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_OK);
    fill_image(&img, a.id, 3, "x", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_E_TOO_LARGE);
    CHECK_EQ(q.over, META_QUOTA_IMAGES);
    CHECK_EQ(q.used, 2);
    CHECK_EQ(q.limit, 2);
    /* nothing of the refused image was written */
    CHECK_EQ(m->ops->image_get(m, img.id, &out), KHO_E_NOTFOUND);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM image_tags"), 2);
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, 2);
    CHECK_EQ(u.bytes, 1001 + 1002);
    /* a duplicate is answered with the existing image, quota or not */
    fill_image(&img, a.id, 1, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_E_EXISTS);
    CHECK_EQ(q.over, META_QUOTA_NONE);
    CHECK_EQ(img.id, first.id);
    /* another user has their own count */
    fill_image(&img, b.id, 3, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_OK);
    /* a delete frees its place */
    CHECK_EQ(m->ops->image_delete(m, first.id, a.id, &out), KHO_OK);
    fill_image(&img, a.id, 3, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_OK);

    /* overrides: per user, 0 unlimited, META_QUOTA_DEFAULT back to the server's */
    CHECK_EQ(m->ops->user_set_quota(m, a.id, META_SET_QUOTA_IMAGES, 0, 0), KHO_OK);
    fill_image(&img, a.id, 4, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_OK);
    fill_image(&img, b.id, 4, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_OK);
    fill_image(&img, b.id, 5, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_E_TOO_LARGE);
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, 3);
    CHECK_EQ(u.quota_images, 0);
    CHECK_EQ(u.quota_bytes, META_QUOTA_DEFAULT);

    /* a byte quota: used + new must stay within it */
    CHECK_EQ(m->ops->user_set_quota(m, a.id, META_SET_QUOTA_BYTES, 0, u.bytes + 1005), KHO_OK);
    fill_image(&img, a.id, 6, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_E_TOO_LARGE); /* 1006 bytes */
    CHECK_EQ(q.over, META_QUOTA_BYTES);
    CHECK_EQ(q.used, u.bytes);
    CHECK_EQ(q.limit, u.bytes + 1005);
    fill_image(&img, a.id, 5, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_OK); /* 1005 bytes: exactly full */
    CHECK_EQ(m->ops->user_set_quota(m, a.id, META_SET_QUOTA_IMAGES | META_SET_QUOTA_BYTES,
                                    META_QUOTA_DEFAULT, META_QUOTA_DEFAULT),
             KHO_OK);
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.quota_images, META_QUOTA_DEFAULT);
    CHECK_EQ(u.quota_bytes, META_QUOTA_DEFAULT);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM users WHERE quota_bytes IS NULL"), 2);

    CHECK_EQ(m->ops->user_set_quota(m, a.id, META_SET_QUOTA_IMAGES, -5, 0), KHO_E_INVALID);
    CHECK_EQ(m->ops->user_set_quota(m, a.id, 4, 1, 1), KHO_E_INVALID);
    CHECK_EQ(m->ops->user_set_quota(m, a.id + b.id, META_SET_QUOTA_IMAGES, 1, 0), KHO_E_NOTFOUND);
    fx_done(&f);
}

#define QUOTA_RACERS 6
#define QUOTA_EACH 10
#define QUOTA_IMAGES 7

struct quota_racer {
    struct meta_store *m;
    uint64_t owner;
    unsigned first;
    int ok, refused, bad;
};

static void *quota_racer_main(void *p)
{
    struct quota_racer *r = p;
    for (unsigned i = 0; i < QUOTA_EACH; i++) {
        struct meta_image img;
        struct meta_quota q = {.default_images = QUOTA_IMAGES};
        fill_image(&img, r->owner, r->first + i, "", META_PRIVATE);
        enum kho_err rc = r->m->ops->image_insert(r->m, &img, &q);
        if (rc == KHO_OK)
            r->ok++;
        else if (rc == KHO_E_TOO_LARGE && q.over == META_QUOTA_IMAGES)
            r->refused++;
        else
            r->bad++;
    }
    return NULL;
}

/* Concurrent inserts against one quota leave exactly the quota's number of images. */
static void test_image_quota_race(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_user a;
    CHECK_EQ(add_user(f.m, "alice", &a), KHO_OK);
    struct quota_racer r[QUOTA_RACERS];
    pthread_t t[QUOTA_RACERS];
    for (int i = 0; i < QUOTA_RACERS; i++) {
        r[i] = (struct quota_racer){f.m, a.id, (unsigned)(i * QUOTA_EACH), 0, 0, 0};
        CHECK_EQ(pthread_create(&t[i], NULL, quota_racer_main, &r[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < QUOTA_RACERS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(r[i].bad, 0);
        ok += r[i].ok;
        refused += r[i].refused;
    }
    CHECK_EQ(ok, QUOTA_IMAGES);
    CHECK_EQ(refused, QUOTA_RACERS * QUOTA_EACH - QUOTA_IMAGES);
    struct meta_usage u;
    CHECK_EQ(f.m->ops->user_usage(f.m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, QUOTA_IMAGES);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM images"), QUOTA_IMAGES);
    CHECK_EQ(db_int(&f, "SELECT sum(bytes) FROM images"), u.bytes);
    fx_done(&f);
}

/* ---- API keys ---- */

static void fill_key(struct meta_key *k, uint64_t user_id, const char *name, enum meta_scope s)
{
    memset(k, 0, sizeof(*k));
    k->id = ids_next(3);
    k->user_id = user_id;
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->scope = s;
    snprintf(k->prefix, sizeof(k->prefix), "kho_%08x", (unsigned)(k->id & 0xffffffff));
}

static void test_keys(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b, who;
    struct meta_key k1, k2, got, list[META_KEYS_MAX];
    char h1[65], h2[65], other[65];
    int n;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    fill_hash(h1, '1');
    fill_hash(h2, '2');
    fill_hash(other, '3');

    int64_t before = now_ms();
    fill_key(&k1, a.id, "laptop", META_SCOPE_READ);
    k1.last_used_at = 99;
    CHECK_EQ(m->ops->key_create(m, &k1, h1), KHO_OK);
    CHECK(k1.created_at >= before && k1.created_at <= now_ms());
    CHECK_EQ(k1.last_used_at, 0);
    fill_key(&k2, a.id, "ci \xc3\xa9t\xc3\xa9", META_SCOPE_READ_WRITE);
    CHECK_EQ(m->ops->key_create(m, &k2, h2), KHO_OK);
    CHECK_EQ(m->ops->key_create(m, &k2, other), KHO_E_EXISTS); /* same id */
    fill_key(&got, b.id, "dup", META_SCOPE_READ);
    CHECK_EQ(m->ops->key_create(m, &got, h1), KHO_E_EXISTS); /* same hash */

    CHECK_EQ(m->ops->key_lookup(m, h1, &who, &got), KHO_OK);
    CHECK_EQ(who.id, a.id);
    CHECK_STR(who.username, "alice");
    CHECK_EQ(got.id, k1.id);
    CHECK_EQ(got.user_id, a.id);
    CHECK_STR(got.name, "laptop");
    CHECK_EQ(got.scope, META_SCOPE_READ);
    CHECK_STR(got.prefix, k1.prefix);
    CHECK_EQ(got.created_at, k1.created_at);
    CHECK_EQ(got.last_used_at, 0);
    CHECK_EQ(m->ops->key_lookup(m, other, &who, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->key_lookup(m, "kho_not-a-hash", &who, &got), KHO_E_NOTFOUND);

    CHECK_EQ(m->ops->key_list(m, a.id, list, META_KEYS_MAX, &n), KHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(list[0].id, k2.id); /* newest first */
    CHECK_STR(list[0].name, k2.name);
    CHECK_EQ(list[0].scope, META_SCOPE_READ_WRITE);
    CHECK_EQ(list[1].id, k1.id);
    CHECK_EQ(m->ops->key_list(m, a.id, list, 1, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(m->ops->key_list(m, b.id, list, META_KEYS_MAX, &n), KHO_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(m->ops->key_list(m, a.id, list, 0, &n), KHO_E_INVALID);
    CHECK_EQ(m->ops->key_list(m, a.id, list, META_KEYS_MAX + 1, &n), KHO_E_TOO_LARGE);

    CHECK_EQ(m->ops->key_touch(m, k1.id, 12345), KHO_OK);
    CHECK_EQ(m->ops->key_lookup(m, h1, &who, &got), KHO_OK);
    CHECK_EQ(got.last_used_at, 12345);

    char revoked[65] = "";
    CHECK_EQ(m->ops->key_delete(m, k1.id, b.id, revoked), KHO_E_NOTFOUND); /* not bob's */
    CHECK_EQ(m->ops->key_delete(m, k1.id, a.id, revoked), KHO_OK);
    CHECK_STR(revoked, h1); /* what a cache of lookups must forget */
    CHECK_EQ(m->ops->key_delete(m, k1.id, a.id, revoked), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->key_lookup(m, h1, &who, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->key_touch(m, k1.id, 1), KHO_OK); /* a touch racing a revoke is harmless */

    fill_key(&got, a.id, "", META_SCOPE_READ);
    CHECK_EQ(m->ops->key_create(m, &got, other), KHO_E_INVALID);
    fill_key(&got, a.id, "tab\there", META_SCOPE_READ);
    CHECK_EQ(m->ops->key_create(m, &got, other), KHO_E_INVALID);
    fill_key(&got, a.id, "x", (enum meta_scope)2);
    CHECK_EQ(m->ops->key_create(m, &got, other), KHO_E_INVALID);
    fill_key(&got, a.id, "x", META_SCOPE_READ);
    CHECK_EQ(m->ops->key_create(m, &got, "short"), KHO_E_INVALID);
    fill_key(&got, a.id + b.id, "x", META_SCOPE_READ);
    CHECK_EQ(m->ops->key_create(m, &got, other), KHO_E_NOTFOUND); /* no such user */
    fx_done(&f);
}

static void test_keys_ceiling(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_user a;
    struct meta_key k, list[META_KEYS_MAX];
    char hash[65];
    int n;
    CHECK_EQ(add_user(f.m, "alice", &a), KHO_OK);
    for (int i = 0; i < META_KEYS_MAX; i++) {
        fill_key(&k, a.id, "k", META_SCOPE_READ);
        snprintf(hash, sizeof(hash), "%064x", i);
        CHECK_EQ(f.m->ops->key_create(f.m, &k, hash), KHO_OK);
    }
    fill_key(&k, a.id, "one too many", META_SCOPE_READ);
    CHECK_EQ(f.m->ops->key_create(f.m, &k, SHA_A), KHO_E_TOO_LARGE);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM api_keys"), META_KEYS_MAX);
    CHECK_EQ(f.m->ops->key_list(f.m, a.id, list, META_KEYS_MAX, &n), KHO_OK);
    CHECK_EQ(n, META_KEYS_MAX);
    CHECK_EQ(f.m->ops->key_delete(f.m, list[0].id, a.id, hash), KHO_OK);
    CHECK_EQ(f.m->ops->key_create(f.m, &k, SHA_A), KHO_OK);
    fx_done(&f);
}

/* ---- albums and share links ---- */

static enum kho_err add_album(struct meta_store *m, uint64_t owner, const char *title,
                              struct meta_album *a)
{
    memset(a, 0, sizeof(*a));
    a->id = ids_next(3);
    a->owner_id = owner;
    snprintf(a->title, sizeof(a->title), "%s", title);
    snprintf(a->description, sizeof(a->description), "about %s", title);
    return m->ops->album_create(m, a);
}

static void test_albums(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_album al[3], got, out[4];
    int n;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    for (int i = 0; i < 3; i++) {
        char title[16];
        snprintf(title, sizeof(title), "album %d", i);
        CHECK_EQ(add_album(m, a.id, title, &al[i]), KHO_OK);
        CHECK(al[i].created_at > 0 && al[i].updated_at == al[i].created_at);
    }
    CHECK_EQ(m->ops->album_get(m, al[1].id, a.id, &got), KHO_OK);
    CHECK_STR(got.title, "album 1");
    CHECK_STR(got.description, "about album 1");
    CHECK_EQ(got.image_count, 0);
    CHECK(!got.has_cover);
    CHECK_EQ(got.cover_id, 0);
    CHECK_EQ(m->ops->album_get(m, al[1].id, b.id, &got), KHO_E_NOTFOUND);

    /* newest first, keyset pages */
    CHECK_EQ(m->ops->album_list(m, a.id, 0, 2, out, &n), KHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(out[0].id, al[2].id);
    CHECK_EQ(out[1].id, al[1].id);
    CHECK_EQ(m->ops->album_list(m, a.id, out[1].id, 2, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(out[0].id, al[0].id);
    CHECK_EQ(m->ops->album_list(m, b.id, 0, 4, out, &n), KHO_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(m->ops->album_list(m, a.id, 0, META_LIST_MAX + 1, out, &n), KHO_E_TOO_LARGE);

    /* edits change only the fields named, and only the owner's */
    struct meta_album ch = {0};
    snprintf(ch.title, sizeof(ch.title), "renamed");
    snprintf(ch.description, sizeof(ch.description), "ignored");
    CHECK_EQ(m->ops->album_update(m, al[0].id, b.id, META_SET_ALBUM_TITLE, &ch), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->album_update(m, al[0].id, a.id, META_SET_ALBUM_TITLE, &ch), KHO_OK);
    CHECK_STR(ch.title, "renamed");
    CHECK_STR(ch.description, "about album 0");
    CHECK(ch.updated_at >= al[0].updated_at);
    ch.title[0] = '\0';
    CHECK_EQ(m->ops->album_update(m, al[0].id, a.id, META_SET_ALBUM_TITLE, &ch), KHO_E_INVALID);
    memset(ch.description, 'd', sizeof(ch.description));
    CHECK_EQ(m->ops->album_update(m, al[0].id, a.id, META_SET_ALBUM_DESCRIPTION, &ch),
             KHO_E_TOO_LARGE);
    CHECK_EQ(m->ops->album_update(m, al[0].id, a.id, 8, &ch), KHO_E_INVALID);

    CHECK_EQ(m->ops->album_delete(m, al[0].id, b.id), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->album_delete(m, al[0].id, a.id), KHO_OK);
    CHECK_EQ(m->ops->album_get(m, al[0].id, a.id, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->album_delete(m, al[0].id, a.id), KHO_E_NOTFOUND);

    /* the ceiling counts the owner's albums only */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < %d) "
             "INSERT INTO albums (id, owner_id, title, created_at, updated_at) "
             "SELECT x, %llu, 'bulk', 1, 1 FROM n",
             META_ALBUMS_MAX - 2, (unsigned long long)a.id);
    CHECK_EQ(db_exec(&f, sql), SQLITE_OK);
    CHECK_EQ(add_album(m, a.id, "too many", &got), KHO_E_TOO_LARGE);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM albums WHERE title = 'too many'"), 0);
    CHECK_EQ(add_album(m, b.id, "fine", &got), KHO_OK);
    fx_done(&f);
}

static void test_album_images(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img[4], theirs, out[4];
    struct meta_album al, other, got;
    uint64_t missing = 1;
    int n;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    for (unsigned i = 0; i < 4; i++)
        CHECK_EQ(add_image(m, a.id, i, "", i ? META_PRIVATE : META_PUBLIC, &img[i]), KHO_OK);
    CHECK_EQ(add_image(m, b.id, 9, "", META_PUBLIC, &theirs), KHO_OK);
    CHECK_EQ(add_album(m, a.id, "trip", &al), KHO_OK);
    CHECK_EQ(add_album(m, a.id, "other", &other), KHO_OK);

    /* all or nothing: someone else's image in the batch adds none, and is named */
    uint64_t ids[] = {img[0].id, img[1].id, theirs.id, img[2].id};
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, ids, 4, &missing, &got), KHO_E_NOTFOUND);
    CHECK_EQ(missing, theirs.id);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM album_images"), 0);
    CHECK_EQ(m->ops->album_get(m, al.id, a.id, &got), KHO_OK);
    CHECK_EQ(got.image_count, 0);
    CHECK_EQ(got.updated_at, al.updated_at);
    CHECK_EQ(m->ops->album_add_images(m, al.id, b.id, ids, 1, &missing, &got), KHO_E_NOTFOUND);
    CHECK_EQ(missing, 0);

    /* repeats are fine; the cover is the newest image until one is chosen */
    uint64_t mine[] = {img[0].id, img[1].id, img[0].id, img[2].id};
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, mine, 4, &missing, &got), KHO_OK);
    CHECK_EQ(got.image_count, 3);
    CHECK(got.has_cover);
    CHECK_EQ(got.cover.id, img[2].id);
    CHECK_STR(got.cover.owner_name, "alice");
    CHECK_EQ(got.cover_id, 0);
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, mine, 2, &missing, &got), KHO_OK);
    CHECK_EQ(got.image_count, 3);
    CHECK_EQ(m->ops->album_add_images(m, other.id, a.id, &img[1].id, 1, &missing, &got), KHO_OK);
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, mine, 0, &missing, &got), KHO_E_INVALID);
    CHECK_EQ(
        m->ops->album_add_images(m, al.id, a.id, mine, META_ALBUM_BATCH_MAX + 1, &missing, &got),
        KHO_E_TOO_LARGE);

    /* newest image first, in keyset pages */
    CHECK_EQ(m->ops->album_images(m, al.id, 0, 2, out, &n), KHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(out[0].id, img[2].id);
    CHECK_EQ(out[1].id, img[1].id);
    CHECK_EQ(m->ops->album_images(m, al.id, out[1].id, 2, out, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(out[0].id, img[0].id);
    CHECK_EQ(m->ops->album_has_image(m, al.id, img[1].id), KHO_OK);
    CHECK_EQ(m->ops->album_has_image(m, al.id, img[3].id), KHO_E_NOTFOUND);

    /* the cover must be in the album */
    struct meta_album ch = {.cover_id = img[3].id};
    CHECK_EQ(m->ops->album_update(m, al.id, a.id, META_SET_ALBUM_COVER, &ch), KHO_E_INVALID);
    ch.cover_id = img[0].id;
    CHECK_EQ(m->ops->album_update(m, al.id, a.id, META_SET_ALBUM_COVER, &ch), KHO_OK);
    CHECK_EQ(ch.cover_id, img[0].id);
    CHECK_EQ(ch.cover.id, img[0].id);
    CHECK_STR(ch.title, "trip");

    /* taking the cover out clears it; absent ids are ignored */
    uint64_t gone[] = {img[0].id, img[3].id, theirs.id};
    CHECK_EQ(m->ops->album_remove_images(m, al.id, b.id, gone, 3, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->album_remove_images(m, al.id, a.id, gone, 3, &got), KHO_OK);
    CHECK_EQ(got.image_count, 2);
    CHECK_EQ(got.cover_id, 0);
    CHECK_EQ(got.cover.id, img[2].id);
    CHECK(got.updated_at >= al.updated_at);

    /* deleting an image takes it out of every album and clears it as a cover */
    ch.cover_id = img[1].id;
    CHECK_EQ(m->ops->album_update(m, al.id, a.id, META_SET_ALBUM_COVER, &ch), KHO_OK);
    struct meta_image del;
    CHECK_EQ(m->ops->image_delete(m, img[1].id, a.id, &del), KHO_OK);
    CHECK_EQ(m->ops->album_get(m, al.id, a.id, &got), KHO_OK);
    CHECK_EQ(got.image_count, 1);
    CHECK_EQ(got.cover_id, 0);
    CHECK_EQ(got.cover.id, img[2].id);
    CHECK_EQ(m->ops->album_get(m, other.id, a.id, &got), KHO_OK);
    CHECK_EQ(got.image_count, 0);
    CHECK(!got.has_cover);

    /* deleting the album keeps its images */
    CHECK_EQ(m->ops->album_delete(m, al.id, a.id), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM album_images"), 0);
    CHECK_EQ(m->ops->image_get(m, img[2].id, &del), KHO_OK);
    fx_done(&f);
}

/* An album at its ceiling takes no more images, not even part of a batch. */
static void test_album_full(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    struct meta_image one, two;
    struct meta_album al, got;
    uint64_t missing;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_album(m, a.id, "big", &al), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &one), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 2, "", META_PRIVATE, &two), KHO_OK);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "BEGIN; WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < %d) "
             "INSERT INTO images (id, owner_id, sha256, bytes, format, width, height, created_at, "
             "blob_key) SELECT x, %llu, printf('%%064x', x), 1, 'png', 1, 1, 1, x FROM n; "
             "INSERT INTO album_images SELECT %llu, id FROM images WHERE id <= %d; COMMIT",
             META_ALBUM_IMAGES_MAX - 1, (unsigned long long)a.id, (unsigned long long)al.id,
             META_ALBUM_IMAGES_MAX - 1);
    CHECK_EQ(db_exec(&f, sql), SQLITE_OK);
    uint64_t both[] = {one.id, two.id};
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, both, 2, &missing, &got), KHO_E_TOO_LARGE);
    CHECK_EQ(m->ops->album_get(m, al.id, a.id, &got), KHO_OK);
    CHECK_EQ(got.image_count, META_ALBUM_IMAGES_MAX - 1);
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, both, 1, &missing, &got), KHO_OK);
    CHECK_EQ(got.image_count, META_ALBUM_IMAGES_MAX);
    CHECK_EQ(got.cover.id, one.id);
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, both, 1, &missing, &got), KHO_OK);
    fx_done(&f);
}

static void test_links(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a, b;
    struct meta_image img, theirs, del;
    struct meta_album al;
    struct meta_link l[4], got, out[4];
    int n;
    int64_t now = now_ms();
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_user(m, "bob", &b), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &img), KHO_OK);
    CHECK_EQ(add_image(m, b.id, 2, "", META_PRIVATE, &theirs), KHO_OK);
    CHECK_EQ(add_album(m, a.id, "trip", &al), KHO_OK);

    l[0] = (struct meta_link){ids_next(4), a.id, META_LINK_IMAGE, img.id, 0, 0};
    l[1] = (struct meta_link){ids_next(4), a.id, META_LINK_ALBUM, al.id, now + 60000, 0};
    l[2] = (struct meta_link){ids_next(4), a.id, META_LINK_IMAGE, img.id, now - 1, 0};
    for (int i = 0; i < 3; i++)
        CHECK_EQ(m->ops->link_create(m, &l[i], now - 10), KHO_OK);
    CHECK_EQ(l[0].created_at, now - 10);
    /* only the owner's targets, of the right kind */
    l[3] = (struct meta_link){ids_next(4), a.id, META_LINK_IMAGE, theirs.id, 0, 0};
    CHECK_EQ(m->ops->link_create(m, &l[3], now), KHO_E_NOTFOUND);
    l[3] = (struct meta_link){ids_next(4), a.id, META_LINK_IMAGE, al.id, 0, 0};
    CHECK_EQ(m->ops->link_create(m, &l[3], now), KHO_E_NOTFOUND);
    l[3] = (struct meta_link){ids_next(4), b.id, META_LINK_ALBUM, al.id, 0, 0};
    CHECK_EQ(m->ops->link_create(m, &l[3], now), KHO_E_NOTFOUND);

    CHECK_EQ(m->ops->link_get(m, l[1].id, &got), KHO_OK);
    CHECK_EQ(got.kind, META_LINK_ALBUM);
    CHECK_EQ(got.target_id, al.id);
    CHECK_EQ(got.owner_id, a.id);
    CHECK_EQ(got.expires_at, now + 60000);
    CHECK_EQ(m->ops->link_get(m, l[0].id, &got), KHO_OK);
    CHECK_EQ(got.kind, META_LINK_IMAGE);
    CHECK_EQ(got.target_id, img.id);
    CHECK_EQ(got.expires_at, 0);

    /* the expired link is not listed, then purged by the next create */
    CHECK_EQ(m->ops->link_list(m, a.id, now, out, 4, &n), KHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(out[0].id, l[1].id);
    CHECK_EQ(out[1].id, l[0].id);
    CHECK_EQ(m->ops->link_list(m, b.id, now, out, 4, &n), KHO_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(m->ops->link_list(m, a.id, now, out, META_LINKS_MAX + 1, &n), KHO_E_TOO_LARGE);
    CHECK_EQ(m->ops->link_get(m, l[2].id, &got), KHO_OK);
    l[3] = (struct meta_link){ids_next(4), a.id, META_LINK_IMAGE, img.id, 0, 0};
    CHECK_EQ(m->ops->link_create(m, &l[3], now), KHO_OK);
    CHECK_EQ(m->ops->link_get(m, l[2].id, &got), KHO_E_NOTFOUND);

    /* revoking is the owner's */
    CHECK_EQ(m->ops->link_delete(m, l[3].id, b.id), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->link_delete(m, l[3].id, a.id), KHO_OK);
    CHECK_EQ(m->ops->link_get(m, l[3].id, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->link_delete(m, l[3].id, a.id), KHO_E_NOTFOUND);

    /* links go with their targets */
    CHECK_EQ(m->ops->album_delete(m, al.id, a.id), KHO_OK);
    CHECK_EQ(m->ops->link_get(m, l[1].id, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_delete(m, img.id, a.id, &del), KHO_OK);
    CHECK_EQ(m->ops->link_get(m, l[0].id, &got), KHO_E_NOTFOUND);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM links"), 0);

    /* the ceiling counts unexpired links */
    CHECK_EQ(add_image(m, a.id, 3, "", META_PRIVATE, &img), KHO_OK);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < %d) "
             "INSERT INTO links (id, owner_id, image_id, expires_at, created_at) "
             "SELECT x, %llu, %llu, 0, 1 FROM n",
             META_LINKS_MAX, (unsigned long long)a.id, (unsigned long long)img.id);
    CHECK_EQ(db_exec(&f, sql), SQLITE_OK);
    l[3] = (struct meta_link){ids_next(4), a.id, META_LINK_IMAGE, img.id, 0, 0};
    CHECK_EQ(m->ops->link_create(m, &l[3], now), KHO_E_TOO_LARGE);
    CHECK_EQ(db_exec(&f, "UPDATE links SET expires_at = 5 WHERE id = 1"), SQLITE_OK);
    CHECK_EQ(m->ops->link_create(m, &l[3], now), KHO_OK);
    CHECK_EQ(db_int(&f, "SELECT count(*) FROM links"), META_LINKS_MAX);
    fx_done(&f);
}

/* keys_known names originals by their image and variants by their record, whatever bit 63. */
static void test_keys_known(void)
{
    struct fx f;
    CHECK(fx_init(&f));
    struct meta_store *m = f.m;
    struct meta_user a;
    struct meta_image img, gone, out;
    struct meta_variant v;
    CHECK_EQ(add_user(m, "alice", &a), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &img), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 2, "", META_PRIVATE, &gone), KHO_OK);
    const uint64_t vkey = UINT64_C(0x8000000000000005), gone_vkey = UINT64_C(0xfedcba9876543210);
    fill_variant(&v, img.id, vkey, 1);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    fill_variant(&v, gone.id, gone_vkey, 2);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    CHECK_EQ(m->ops->image_delete(m, gone.id, a.id, &out), KHO_OK);

    const uint64_t keys[6] = {img.id, vkey, gone.id, gone_vkey, img.id + 1, 5};
    const bool want[6] = {true, true, false, false, false, false};
    bool known[6];
    memset(known, 1, sizeof(known));
    CHECK_EQ(m->ops->keys_known(m, keys, 6, known), KHO_OK);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(known[i], want[i]);
    /* an image whose blob lives under another key does not vouch for its id */
    CHECK_EQ(db_exec(&f, "UPDATE images SET blob_key = 7"), SQLITE_OK);
    CHECK_EQ(m->ops->keys_known(m, keys, 1, known), KHO_OK);
    CHECK_EQ(known[0], false);
    CHECK_EQ(m->ops->keys_known(m, keys, 0, known), KHO_E_INVALID);
    CHECK_EQ(m->ops->keys_known(m, keys, META_KEYS_KNOWN_MAX + 1, known), KHO_E_TOO_LARGE);
    fx_done(&f);
}

T_MAIN("meta", T(test_open_urls), T(test_migrations_apply_once), T(test_newer_schema_refused),
       T(test_migrate_runner), T(test_upgrade_from_0001), T(test_users), T(test_sessions),
       T(test_image_insert_dedup_get), T(test_list_owner_pages_and_tags), T(test_list_public),
       T(test_image_update), T(test_image_delete_and_usage), T(test_image_details_roundtrip),
       T(test_image_details_invalid), T(test_image_set_placeholder), T(test_variants),
       T(test_variant_ceiling), T(test_group_commit), T(test_variant_delete_race),
       T(test_point_reads_fast), T(test_migrate_fills_gap), T(test_upgrade_backfills_usage),
       T(test_quota_check), T(test_image_quota), T(test_image_quota_race), T(test_keys),
       T(test_keys_ceiling), T(test_albums), T(test_album_images), T(test_album_full),
       T(test_links), T(test_keys_known))
