/* SQLite metadata backend: a pool of read connections for the event loops and one write
 * connection fed by a group-commit queue, so concurrent writers share each WAL fsync. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "meta/check.h"
#include "meta/meta.h"
#include "meta/migrate.h"
#include "meta/sqlite.h"
#include "core/kho.h"

#define BUSY_TIMEOUT_MS 5000
#define READERS_MAX 64
#define SESSION_PURGE_BATCH "64"

/* The public-feed query names the visibility literally so the partial index applies. */
_Static_assert(META_PUBLIC == 2, "images_public index and queries assume META_PUBLIC == 2");

#define IMAGE_COLS                                                                                 \
    "i.id, i.owner_id, u.username, i.title, i.tags, i.visibility, i.format, i.width, i.height, "   \
    "i.bytes, i.sha256, i.created_at, i.blob_key, i.alpha, i.taken_at, i.camera_make, "            \
    "i.camera_model, i.has_gps, i.gps_lat, i.gps_lon, i.placeholder, u.watermark "
#define IMAGE_FROM "FROM images i JOIN users u ON u.id = i.owner_id "
#define USER_COLS "u.id, u.username, u.pwhash, u.created_at, u.watermark "
#define USER_NCOLS 5
#define KEY_COLS "k.id, k.user_id, k.name, k.scope, k.prefix, k.created_at, k.last_used_at "

_Static_assert(META_QUOTA_DEFAULT == -1, "ST_USER_USAGE reads NULL overrides as -1");
/* After IMAGE_COLS, which hold the album's cover (all NULL when it has none). */
#define ALBUM_COLS                                                                                 \
    "a.id, a.owner_id, a.title, a.description, a.cover_id, a.image_count, a.created_at, "          \
    "a.updated_at "
#define ALBUM_FROM                                                                                 \
    "FROM albums a LEFT JOIN images i ON i.id = coalesce(a.cover_id, "                             \
    "(SELECT image_id FROM album_images WHERE album_id = a.id ORDER BY image_id DESC LIMIT 1)) "   \
    "LEFT JOIN users u ON u.id = i.owner_id "
#define LINK_COLS "id, owner_id, image_id, album_id, expires_at, created_at "

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_PING,
    ST_USER_INSERT,
    ST_USER_BY_NAME,
    ST_USER_BY_ID,
    ST_USER_USAGE,
    ST_SESSION_PURGE,
    ST_SESSION_INSERT,
    ST_SESSION_LOOKUP,
    ST_SESSION_DELETE,
    ST_IMAGE_INSERT,
    ST_IMAGE_GET,
    ST_IMAGE_BY_SHA,
    ST_IMAGE_LIST_OWNER,
    ST_IMAGE_LIST_TAG,
    ST_IMAGE_LIST_PUBLIC,
    ST_IMAGE_UPDATE,
    ST_IMAGE_DELETE,
    ST_IMAGE_PLACEHOLDER,
    ST_USER_WATERMARK,
    ST_TAG_INSERT,
    ST_TAG_CLEAR,
    ST_VARIANT_INSERT,
    ST_VARIANT_COUNT,
    ST_VARIANT_KEYS,
    ST_USER_COUNT,
    ST_USER_QUOTA_IMAGES,
    ST_USER_QUOTA_BYTES,
    ST_KEY_INSERT,
    ST_KEY_COUNT,
    ST_KEY_LIST,
    ST_KEY_DELETE,
    ST_KEY_LOOKUP,
    ST_KEY_TOUCH,
    ST_IMAGE_OWNED,
    ST_ALBUM_INSERT,
    ST_ALBUM_COUNT,
    ST_ALBUM_GET,
    ST_ALBUM_LIST,
    ST_ALBUM_UPDATE,
    ST_ALBUM_TOUCH,
    ST_ALBUM_DELETE,
    ST_ALBUM_ADD,
    ST_ALBUM_REMOVE,
    ST_ALBUM_UNCOVER,
    ST_ALBUM_HAS_IMAGE,
    ST_ALBUM_IMAGES,
    ST_LINK_PURGE,
    ST_LINK_INSERT_IMAGE,
    ST_LINK_INSERT_ALBUM,
    ST_LINK_COUNT,
    ST_LINK_GET,
    ST_LINK_LIST,
    ST_LINK_DELETE,
    ST_KEY_KNOWN,
    ST__COUNT
};

static const struct {
    const char *name; /* for log lines */
    const char *sql;
} stmts[ST__COUNT] = {
    [ST_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [ST_COMMIT] = {"commit", "COMMIT"},
    [ST_ROLLBACK] = {"rollback", "ROLLBACK"},
    [ST_SAVEPOINT] = {"savepoint", "SAVEPOINT w"},
    [ST_RELEASE] = {"release", "RELEASE w"},
    [ST_ROLLBACK_TO] = {"rollback_to", "ROLLBACK TO w"},
    [ST_PING] = {"ping", "SELECT 1"},
    [ST_USER_INSERT] = {"user_insert",
                        "INSERT INTO users (id, username, pwhash, created_at) VALUES (?, ?, ?, ?)"},
    [ST_USER_BY_NAME] = {"user_by_name", "SELECT " USER_COLS "FROM users u WHERE u.username = ?"},
    [ST_USER_BY_ID] = {"user_by_id", "SELECT " USER_COLS "FROM users u WHERE u.id = ?"},
    [ST_USER_USAGE] = {"user_usage", "SELECT image_count, bytes_used, coalesce(quota_images, -1), "
                                     "coalesce(quota_bytes, -1) FROM users WHERE id = ?"},
    [ST_SESSION_PURGE] = {"session_purge",
                          "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions "
                          "WHERE expires_at <= ? LIMIT " SESSION_PURGE_BATCH ")"},
    [ST_SESSION_INSERT] = {"session_insert",
                           "INSERT INTO sessions (token_hash, csrf_hash, user_id, created_at, "
                           "expires_at) VALUES (?, ?, ?, ?, ?)"},
    [ST_SESSION_LOOKUP] = {"session_lookup", "SELECT " USER_COLS ", s.csrf_hash, s.expires_at "
                                             "FROM sessions s "
                                             "JOIN users u ON u.id = s.user_id "
                                             "WHERE s.token_hash = ? AND s.expires_at > ?"},
    [ST_SESSION_DELETE] = {"session_delete", "DELETE FROM sessions WHERE token_hash = ?"},
    [ST_IMAGE_INSERT] = {"image_insert",
                         "INSERT INTO images (id, owner_id, title, tags, visibility, format, "
                         "width, height, bytes, sha256, created_at, blob_key, alpha, taken_at, "
                         "camera_make, camera_model, has_gps, gps_lat, gps_lon, placeholder) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
    [ST_IMAGE_GET] = {"image_get", "SELECT " IMAGE_COLS IMAGE_FROM "WHERE i.id = ?"},
    [ST_IMAGE_BY_SHA] = {"image_by_sha",
                         "SELECT " IMAGE_COLS IMAGE_FROM "WHERE i.owner_id = ? AND i.sha256 = ?"},
    [ST_IMAGE_LIST_OWNER] = {"image_list_owner",
                             "SELECT " IMAGE_COLS IMAGE_FROM
                             "WHERE i.owner_id = ? AND i.id < ? ORDER BY i.id DESC LIMIT ?"},
    [ST_IMAGE_LIST_TAG] = {"image_list_tag",
                           "SELECT " IMAGE_COLS "FROM image_tags t "
                           "JOIN images i ON i.id = t.image_id JOIN users u ON u.id = i.owner_id "
                           "WHERE t.owner_id = ? AND t.tag = ? AND t.image_id < ? "
                           "ORDER BY t.image_id DESC LIMIT ?"},
    [ST_IMAGE_LIST_PUBLIC] = {"image_list_public",
                              "SELECT " IMAGE_COLS IMAGE_FROM
                              "WHERE i.visibility = 2 AND i.id < ? ORDER BY i.id DESC LIMIT ?"},
    [ST_IMAGE_UPDATE] = {"image_update", "UPDATE images SET title = ?, tags = ?, visibility = ? "
                                         "WHERE id = ? AND owner_id = ?"},
    [ST_IMAGE_DELETE] = {"image_delete", "DELETE FROM images WHERE id = ? AND owner_id = ?"},
    [ST_IMAGE_PLACEHOLDER] = {"image_placeholder",
                              "UPDATE images SET placeholder = ? WHERE id = ?"},
    [ST_USER_WATERMARK] = {"user_watermark", "UPDATE users SET watermark = ? WHERE id = ?"},
    [ST_TAG_INSERT] =
        {"tag_insert",
         "INSERT OR IGNORE INTO image_tags (owner_id, tag, image_id) VALUES (?, ?, ?)"},
    [ST_TAG_CLEAR] = {"tag_clear", "DELETE FROM image_tags WHERE image_id = ?"},
    [ST_VARIANT_INSERT] = {"variant_insert",
                           "INSERT OR IGNORE INTO variants (key, image_id, spec, format, width, "
                           "height, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
    [ST_VARIANT_COUNT] = {"variant_count", "SELECT count(*) FROM variants WHERE image_id = ?"},
    [ST_VARIANT_KEYS] = {"variant_keys",
                         "SELECT key FROM variants WHERE image_id = ? ORDER BY key LIMIT ?"},
    [ST_USER_COUNT] = {"user_count", "UPDATE users SET image_count = image_count + ?, "
                                     "bytes_used = bytes_used + ? WHERE id = ?"},
    [ST_USER_QUOTA_IMAGES] = {"user_quota_images",
                              "UPDATE users SET quota_images = ? WHERE id = ?"},
    [ST_USER_QUOTA_BYTES] = {"user_quota_bytes", "UPDATE users SET quota_bytes = ? WHERE id = ?"},
    [ST_KEY_INSERT] = {"key_insert", "INSERT INTO api_keys (id, user_id, key_hash, name, scope, "
                                     "prefix, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"},
    [ST_KEY_COUNT] = {"key_count", "SELECT count(*) FROM api_keys WHERE user_id = ?"},
    [ST_KEY_LIST] = {"key_list", "SELECT " KEY_COLS "FROM api_keys k WHERE k.user_id = ? "
                                 "ORDER BY k.id DESC LIMIT ?"},
    [ST_KEY_DELETE] = {"key_delete",
                       "DELETE FROM api_keys WHERE id = ? AND user_id = ? RETURNING key_hash"},
    [ST_KEY_LOOKUP] = {"key_lookup", "SELECT " USER_COLS ", " KEY_COLS "FROM api_keys k "
                                     "JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?"},
    [ST_KEY_TOUCH] = {"key_touch", "UPDATE api_keys SET last_used_at = ? WHERE id = ?"},
    [ST_IMAGE_OWNED] = {"image_owned", "SELECT 1 FROM images WHERE id = ? AND owner_id = ?"},
    [ST_ALBUM_INSERT] = {"album_insert",
                         "INSERT INTO albums (id, owner_id, title, description, created_at, "
                         "updated_at) VALUES (?, ?, ?, ?, ?, ?)"},
    [ST_ALBUM_COUNT] = {"album_count", "SELECT count(*) FROM albums WHERE owner_id = ?"},
    [ST_ALBUM_GET] = {"album_get", "SELECT " IMAGE_COLS ", " ALBUM_COLS ALBUM_FROM
                                   "WHERE a.id = ? AND a.owner_id = ?"},
    [ST_ALBUM_LIST] = {"album_list",
                       "SELECT " IMAGE_COLS ", " ALBUM_COLS ALBUM_FROM
                       "WHERE a.owner_id = ? AND a.id < ? ORDER BY a.id DESC LIMIT ?"},
    [ST_ALBUM_UPDATE] = {"album_update",
                         "UPDATE albums SET title = ?, description = ?, cover_id = ?, "
                         "updated_at = ? WHERE id = ? AND owner_id = ?"},
    [ST_ALBUM_TOUCH] = {"album_touch",
                        "UPDATE albums SET updated_at = ? WHERE id = ? AND owner_id = ?"},
    [ST_ALBUM_DELETE] = {"album_delete", "DELETE FROM albums WHERE id = ? AND owner_id = ?"},
    [ST_ALBUM_ADD] = {"album_add",
                      "INSERT OR IGNORE INTO album_images (album_id, image_id) VALUES (?, ?)"},
    [ST_ALBUM_REMOVE] = {"album_remove",
                         "DELETE FROM album_images WHERE album_id = ? AND image_id = ?"},
    [ST_ALBUM_UNCOVER] = {"album_uncover",
                          "UPDATE albums SET cover_id = NULL WHERE id = ? AND NOT EXISTS "
                          "(SELECT 1 FROM album_images WHERE album_id = albums.id "
                          "AND image_id = albums.cover_id)"},
    [ST_ALBUM_HAS_IMAGE] = {"album_has_image",
                            "SELECT 1 FROM album_images WHERE album_id = ? AND image_id = ?"},
    [ST_ALBUM_IMAGES] = {"album_images",
                         "SELECT " IMAGE_COLS "FROM album_images ai "
                         "JOIN images i ON i.id = ai.image_id JOIN users u ON u.id = i.owner_id "
                         "WHERE ai.album_id = ? AND ai.image_id < ? "
                         "ORDER BY ai.image_id DESC LIMIT ?"},
    [ST_LINK_PURGE] = {"link_purge", "DELETE FROM links WHERE owner_id = ? AND expires_at != 0 "
                                     "AND expires_at <= ?"},
    [ST_LINK_INSERT_IMAGE] = {"link_insert_image",
                              "INSERT INTO links (id, owner_id, image_id, expires_at, created_at) "
                              "SELECT ?, owner_id, id, ?, ? FROM images "
                              "WHERE id = ? AND owner_id = ?"},
    [ST_LINK_INSERT_ALBUM] = {"link_insert_album",
                              "INSERT INTO links (id, owner_id, album_id, expires_at, created_at) "
                              "SELECT ?, owner_id, id, ?, ? FROM albums "
                              "WHERE id = ? AND owner_id = ?"},
    [ST_LINK_COUNT] = {"link_count", "SELECT count(*) FROM links WHERE owner_id = ?"},
    [ST_LINK_GET] = {"link_get", "SELECT " LINK_COLS "FROM links WHERE id = ?"},
    [ST_LINK_LIST] = {"link_list", "SELECT " LINK_COLS "FROM links WHERE owner_id = ? AND "
                                   "(expires_at = 0 OR expires_at > ?) ORDER BY id DESC LIMIT ?"},
    [ST_LINK_DELETE] = {"link_delete", "DELETE FROM links WHERE id = ? AND owner_id = ?"},
    [ST_KEY_KNOWN] = {"key_known",
                      "SELECT EXISTS (SELECT 1 FROM images WHERE id = ?1 AND blob_key = ?1) OR "
                      "EXISTS (SELECT 1 FROM variants WHERE key = ?1)"},
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    pthread_mutex_t mu; /* readers only: held by the one thread using the connection */
};

/* A queued write: fn runs on the write connection inside the leader's transaction. */
struct wjob {
    enum kho_err (*fn)(struct conn *c, void *arg);
    void *arg;
    enum kho_err rc;
    bool done;
    struct wjob *next;
};

struct sqlite_store {
    struct meta_store base;
    struct conn writer;
    struct conn *readers;
    unsigned nreaders;
    atomic_uint next_reader;
    pthread_mutex_t wmu; /* guards the queue below */
    pthread_cond_t wcond;
    struct wjob *whead, **wtail;
    bool wleader; /* a thread is running a batch on the write connection */
};

static struct sqlite_store *store_of(struct meta_store *m)
{
    return (struct sqlite_store *)m;
}

/* ---- errors and statements ---- */

static enum kho_err db_fail(sqlite3 *db, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return KHO_E_EXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return KHO_E_NOTFOUND; /* the referenced user or image does not exist */
    default:
        metric_inc(M_DB_ERRORS);
        log_error("sqlite '%s' failed: %s", what, sqlite3_errmsg(db));
        return KHO_E_BACKEND;
    }
}

/* One use of a prepared statement: parameters are bound in order, the first bind error is kept
 * and reported by q_step, and q_end makes the statement ready for the next use. */
struct q {
    struct conn *c;
    enum stmt id;
    int idx;
    int bind_rc;
};

static struct q q_begin(struct conn *c, enum stmt id)
{
    return (struct q){.c = c, .id = id, .idx = 1, .bind_rc = SQLITE_OK};
}

static sqlite3_stmt *q_st(const struct q *q)
{
    return q->c->st[q->id];
}

static void q_keep(struct q *q, int rc)
{
    if (rc != SQLITE_OK && q->bind_rc == SQLITE_OK)
        q->bind_rc = rc;
}

static void q_i64(struct q *q, int64_t v)
{
    q_keep(q, sqlite3_bind_int64(q_st(q), q->idx++, v));
}

static void q_f64(struct q *q, double v)
{
    q_keep(q, sqlite3_bind_double(q_st(q), q->idx++, v));
}

static void q_null(struct q *q)
{
    q_keep(q, sqlite3_bind_null(q_st(q), q->idx++));
}

/* Blob keys use all 64 bits and SQLite integers are signed: keys cross by bit pattern. */
static int64_t key_to_db(uint64_t key)
{
    int64_t v;
    memcpy(&v, &key, sizeof(v));
    return v;
}

static uint64_t key_from_db(int64_t v)
{
    uint64_t key;
    memcpy(&key, &v, sizeof(key));
    return key;
}

static void q_key(struct q *q, uint64_t key)
{
    q_i64(q, key_to_db(key));
}

/* Text must stay unchanged until q_end: it is bound without a copy. */
static void q_textn(struct q *q, const char *s, size_t n)
{
    q_keep(q, sqlite3_bind_text(q_st(q), q->idx++, s, (int)n, SQLITE_STATIC));
}

static void q_text(struct q *q, const char *s)
{
    q_textn(q, s, strlen(s));
}

static int q_step(struct q *q)
{
    if (q->bind_rc != SQLITE_OK)
        return q->bind_rc;
    return sqlite3_step(q_st(q));
}

static void q_end(struct q *q)
{
    sqlite3_reset(q_st(q));
    sqlite3_clear_bindings(q_st(q));
}

static enum kho_err q_fail(struct q *q, int rc)
{
    return db_fail(q->c->db, rc, stmts[q->id].name);
}

/* Run a statement that returns no rows, then end it. */
static enum kho_err q_exec(struct q *q)
{
    int rc = q_step(q);
    enum kho_err err = rc == SQLITE_DONE ? KHO_OK : q_fail(q, rc);
    q_end(q);
    return err;
}

static enum kho_err conn_exec(struct conn *c, enum stmt id)
{
    struct q q = q_begin(c, id);
    return q_exec(&q);
}

static void col_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, s, n);
    dst[n] = '\0';
}
#define COL_TEXT(st, col, arr) col_text(st, col, arr, sizeof(arr))

/* Columns USER_COLS starting at col 0. */
static void row_user(sqlite3_stmt *st, struct meta_user *u)
{
    u->id = (uint64_t)sqlite3_column_int64(st, 0);
    COL_TEXT(st, 1, u->username);
    COL_TEXT(st, 2, u->pwhash);
    u->created_at = sqlite3_column_int64(st, 3);
    COL_TEXT(st, 4, u->watermark);
}

/* Columns IMAGE_COLS. */
static void row_image(sqlite3_stmt *st, struct meta_image *img)
{
    img->id = (uint64_t)sqlite3_column_int64(st, 0);
    img->owner_id = (uint64_t)sqlite3_column_int64(st, 1);
    COL_TEXT(st, 2, img->owner_name);
    COL_TEXT(st, 3, img->title);
    COL_TEXT(st, 4, img->tags);
    img->visibility = (enum meta_visibility)sqlite3_column_int(st, 5);
    COL_TEXT(st, 6, img->format);
    img->width = sqlite3_column_int(st, 7);
    img->height = sqlite3_column_int(st, 8);
    img->bytes = sqlite3_column_int64(st, 9);
    COL_TEXT(st, 10, img->sha256);
    img->created_at = sqlite3_column_int64(st, 11);
    img->blob_key = key_from_db(sqlite3_column_int64(st, 12));
    img->alpha = sqlite3_column_int(st, 13) != 0;
    img->taken_at = sqlite3_column_int64(st, 14);
    COL_TEXT(st, 15, img->camera_make);
    COL_TEXT(st, 16, img->camera_model);
    img->has_gps = sqlite3_column_int(st, 17) != 0;
    /* NULL without a fix, which reads as 0.0. */
    img->gps_lat = sqlite3_column_double(st, 18);
    img->gps_lon = sqlite3_column_double(st, 19);
    COL_TEXT(st, 20, img->placeholder);
    COL_TEXT(st, 21, img->owner_watermark);
}

/* Step a bound query to its first row: KHO_OK with the row's columns readable until q_end,
 * KHO_E_NOTFOUND when there is none. */
static enum kho_err q_row(struct q *q)
{
    int rc = q_step(q);
    if (rc == SQLITE_ROW)
        return KHO_OK;
    return rc == SQLITE_DONE ? KHO_E_NOTFOUND : q_fail(q, rc);
}

static enum kho_err q_user(struct q *q, struct meta_user *out)
{
    enum kho_err rc = q_row(q);
    if (rc == KHO_OK)
        row_user(q_st(q), out);
    q_end(q);
    return rc;
}

static enum kho_err q_image(struct q *q, struct meta_image *out)
{
    enum kho_err rc = q_row(q);
    if (rc == KHO_OK)
        row_image(q_st(q), out);
    q_end(q);
    return rc;
}

/* Step a bound list query, storing row i through put(st, out, i) (the SQL's LIMIT bounds the
 * rows), end it. */
static enum kho_err q_rows(struct q *q, void (*put)(sqlite3_stmt *st, void *out, int i), void *out,
                           int *n)
{
    enum kho_err err = KHO_OK;
    *n = 0;
    for (;;) {
        int rc = q_step(q);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = q_fail(q, rc);
            *n = 0;
            break;
        }
        put(q_st(q), out, (*n)++);
    }
    q_end(q);
    return err;
}

static void put_image(sqlite3_stmt *st, void *out, int i)
{
    row_image(st, (struct meta_image *)out + i);
}

static void put_key(sqlite3_stmt *st, void *out, int i)
{
    ((uint64_t *)out)[i] = key_from_db(sqlite3_column_int64(st, 0));
}

static enum kho_err image_by_id(struct conn *c, uint64_t id, struct meta_image *out)
{
    struct q q = q_begin(c, ST_IMAGE_GET);
    q_i64(&q, (int64_t)id);
    return q_image(&q, out);
}

static enum kho_err image_by_sha(struct conn *c, uint64_t owner_id, const char *sha256,
                                 struct meta_image *out)
{
    struct q q = q_begin(c, ST_IMAGE_BY_SHA);
    q_i64(&q, (int64_t)owner_id);
    q_text(&q, sha256);
    return q_image(&q, out);
}

/* A user's counters and overrides, on any connection; KHO_E_NOTFOUND for no such user. */
static enum kho_err usage_read(struct conn *c, uint64_t user_id, struct meta_usage *out)
{
    struct q q = q_begin(c, ST_USER_USAGE);
    q_i64(&q, (int64_t)user_id);
    enum kho_err rc = q_row(&q);
    if (rc == KHO_OK) {
        out->images = sqlite3_column_int64(q_st(&q), 0);
        out->bytes = sqlite3_column_int64(q_st(&q), 1);
        out->quota_images = sqlite3_column_int64(q_st(&q), 2);
        out->quota_bytes = sqlite3_column_int64(q_st(&q), 3);
    }
    q_end(&q);
    return rc;
}

/* Move a user's usage counters by one image of bytes, up (sign 1) or down (sign -1). */
static enum kho_err usage_add(struct conn *c, uint64_t user_id, int sign, int64_t bytes)
{
    struct q q = q_begin(c, ST_USER_COUNT);
    q_i64(&q, sign);
    q_i64(&q, sign * bytes);
    q_i64(&q, (int64_t)user_id);
    return q_exec(&q);
}

/* ---- connections ---- */

/* The pragma's single result reads as want. */
static bool pragma_is(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_stmt *st = NULL;
    bool is = false;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        is = v && strcmp((const char *)v, want) == 0;
    }
    sqlite3_finalize(st);
    return is;
}

static enum kho_err writer_setup(struct conn *c, const char *path)
{
    char *msg = NULL;
    /* FULL: a commit is acknowledged only once the WAL is fsync'd, so it survives power loss. */
    if (sqlite3_exec(c->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL,
                     &msg) != SQLITE_OK) {
        log_error("cannot configure database '%s': %s", path, msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return KHO_E_BACKEND;
    }
    if (!pragma_is(c->db, "PRAGMA journal_mode = WAL", "wal")) {
        log_error("cannot use wal mode on database '%s': %s", path, sqlite3_errmsg(c->db));
        return KHO_E_BACKEND;
    }
    /* A build without foreign-key support ignores the pragma silently, and image_delete relies
     * on the cascade to drop tags and variants. */
    if (!pragma_is(c->db, "PRAGMA foreign_keys", "1")) {
        log_error("cannot enforce foreign keys on database '%s'", path);
        return KHO_E_BACKEND;
    }
    return KHO_OK;
}

static enum kho_err conn_open(struct conn *c, const char *path, bool writer)
{
    int flags = SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        log_error("cannot open database '%s': %s", path,
                  c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return KHO_E_BACKEND;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    return writer ? writer_setup(c, path) : KHO_OK;
}

/* After migrations: the statements refer to the tables they create. */
static enum kho_err conn_prepare(struct conn *c)
{
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(c->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
                               NULL) != SQLITE_OK) {
            log_error("cannot prepare '%s': %s", stmts[i].name, sqlite3_errmsg(c->db));
            return KHO_E_BACKEND;
        }
    }
    return KHO_OK;
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
}

/* Any free reader; when all are busy, wait on the one the round-robin points at. */
static struct conn *reader_take(struct sqlite_store *s)
{
    unsigned start = atomic_fetch_add_explicit(&s->next_reader, 1, memory_order_relaxed);
    metric_inc(M_DB_READS);
    for (unsigned i = 0; i < s->nreaders; i++) {
        struct conn *c = &s->readers[(start + i) % s->nreaders];
        if (pthread_mutex_trylock(&c->mu) == 0)
            return c;
    }
    struct conn *c = &s->readers[start % s->nreaders];
    pthread_mutex_lock(&c->mu);
    return c;
}

static void reader_give(struct conn *c)
{
    pthread_mutex_unlock(&c->mu);
}

/* ---- group commit ---- */

/* Mark the jobs in [from, to) that succeeded as failed with rc: their transaction is gone. */
static void batch_fail(struct wjob *from, struct wjob *to, enum kho_err rc)
{
    for (struct wjob *j = from; j != to; j = j->next) {
        if (j->rc == KHO_OK)
            j->rc = rc;
    }
}

/* Give up the whole transaction; the batch loop sees autocommit and fails what it held. */
static void txn_abandon(struct conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        conn_exec(c, ST_ROLLBACK);
}

/* One write inside its own savepoint, so its failure undoes only itself. */
static enum kho_err job_run(struct conn *c, struct wjob *j)
{
    metric_inc(M_DB_WRITES);
    enum kho_err rc = conn_exec(c, ST_SAVEPOINT);
    if (rc)
        return rc;
    rc = j->fn(c, j->arg);
    if (sqlite3_get_autocommit(c->db)) /* the engine rolled back the transaction */
        return rc ? rc : KHO_E_BACKEND;
    if (rc && conn_exec(c, ST_ROLLBACK_TO) != KHO_OK) {
        txn_abandon(c);
        return rc;
    }
    if (conn_exec(c, ST_RELEASE) != KHO_OK)
        txn_abandon(c);
    return rc;
}

/* Run the batch in as few transactions as possible: normally one. When the engine loses a
 * transaction midway, the writes it held are failed and the rest go on in a new one. */
static void batch_run(struct sqlite_store *s, struct wjob *batch)
{
    struct conn *c = &s->writer;
    struct wjob *j = batch;
    while (j) {
        struct wjob *first = j;
        enum kho_err rc = conn_exec(c, ST_BEGIN);
        if (rc) {
            for (; j; j = j->next)
                j->rc = rc;
            return;
        }
        bool lost = false;
        for (; j && !lost; j = j->next) {
            j->rc = job_run(c, j);
            lost = sqlite3_get_autocommit(c->db);
        }
        if (lost) {
            batch_fail(first, j, KHO_E_BACKEND);
            continue;
        }
        rc = conn_exec(c, ST_COMMIT);
        if (rc) {
            txn_abandon(c);
            batch_fail(first, j, rc);
            continue;
        }
        metric_inc(M_DB_COMMITS);
    }
}

/* Run fn(conn, arg) on the write connection and return its result once it is durable. The
 * first thread to find no leader runs everything queued so far in one transaction; the others
 * sleep until their job is done or leadership is free. */
static enum kho_err write_run(struct sqlite_store *s, enum kho_err (*fn)(struct conn *, void *),
                              void *arg)
{
    struct wjob job = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&s->wmu);
    *s->wtail = &job;
    s->wtail = &job.next;
    while (!job.done && s->wleader)
        pthread_cond_wait(&s->wcond, &s->wmu);
    if (job.done) {
        pthread_mutex_unlock(&s->wmu);
        return job.rc;
    }
    s->wleader = true;
    struct wjob *batch = s->whead;
    s->whead = NULL;
    s->wtail = &s->whead;
    pthread_mutex_unlock(&s->wmu);

    batch_run(s, batch);

    pthread_mutex_lock(&s->wmu);
    /* Read next before done: a finished waiter's job (on its stack) may vanish once unlocked. */
    for (struct wjob *j = batch, *next; j; j = next) {
        next = j->next;
        j->done = true;
    }
    s->wleader = false;
    pthread_cond_broadcast(&s->wcond);
    pthread_mutex_unlock(&s->wmu);
    return job.rc;
}

/* ---- users ---- */

static enum kho_err user_insert_w(struct conn *c, void *arg)
{
    const struct meta_user *u = arg;
    struct q q = q_begin(c, ST_USER_INSERT);
    q_i64(&q, (int64_t)u->id);
    q_text(&q, u->username);
    q_text(&q, u->pwhash);
    q_i64(&q, u->created_at);
    return q_exec(&q);
}

static enum kho_err sq_user_create(struct meta_store *m, struct meta_user *u)
{
    enum kho_err rc = check_user(u);
    if (rc)
        return rc;
    u->created_at = now_ms();
    return write_run(store_of(m), user_insert_w, u);
}

static enum kho_err sq_user_by_name(struct meta_store *m, const char *username,
                                    struct meta_user *out)
{
    if (!check_fits(username, 1, META_USERNAME_MAX + 1))
        return KHO_E_NOTFOUND;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_USER_BY_NAME);
    q_text(&q, username);
    enum kho_err rc = q_user(&q, out);
    reader_give(c);
    return rc;
}

static enum kho_err sq_user_by_id(struct meta_store *m, uint64_t id, struct meta_user *out)
{
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_USER_BY_ID);
    q_i64(&q, (int64_t)id);
    enum kho_err rc = q_user(&q, out);
    reader_give(c);
    return rc;
}

static enum kho_err sq_user_usage(struct meta_store *m, uint64_t user_id, struct meta_usage *out)
{
    struct conn *c = reader_take(store_of(m));
    enum kho_err rc = usage_read(c, user_id, out);
    reader_give(c);
    return rc;
}

struct quota_args {
    uint64_t user_id;
    unsigned mask;
    int64_t images, bytes;
};

/* An override as stored: NULL defers to the server. */
static void q_quota(struct q *q, int64_t v)
{
    if (v == META_QUOTA_DEFAULT)
        q_null(q);
    else
        q_i64(q, v);
}

static enum kho_err user_quota_w(struct conn *c, void *arg)
{
    const struct quota_args *a = arg;
    struct meta_usage u;
    enum kho_err rc = usage_read(c, a->user_id, &u); /* NOTFOUND for no such user */
    if (rc)
        return rc;
    if (a->mask & META_SET_QUOTA_IMAGES) {
        struct q q = q_begin(c, ST_USER_QUOTA_IMAGES);
        q_quota(&q, a->images);
        q_i64(&q, (int64_t)a->user_id);
        rc = q_exec(&q);
        if (rc)
            return rc;
    }
    if (a->mask & META_SET_QUOTA_BYTES) {
        struct q q = q_begin(c, ST_USER_QUOTA_BYTES);
        q_quota(&q, a->bytes);
        q_i64(&q, (int64_t)a->user_id);
        rc = q_exec(&q);
    }
    return rc;
}

static enum kho_err sq_user_set_quota(struct meta_store *m, uint64_t user_id, unsigned mask,
                                      int64_t images, int64_t bytes)
{
    enum kho_err rc = check_quota(mask, images, bytes);
    if (rc)
        return rc;
    struct quota_args a = {user_id, mask, images, bytes};
    return write_run(store_of(m), user_quota_w, &a);
}

/* ---- sessions ---- */

struct session_args {
    const char *token_hash, *csrf_hash;
    uint64_t user_id;
    int64_t now, expires_at;
};

static enum kho_err session_insert_w(struct conn *c, void *arg)
{
    const struct session_args *a = arg;
    /* Expired rows are trimmed a bounded batch at a time, piggybacking on logins. */
    struct q q = q_begin(c, ST_SESSION_PURGE);
    q_i64(&q, a->now);
    enum kho_err rc = q_exec(&q);
    if (rc)
        return rc;
    q = q_begin(c, ST_SESSION_INSERT);
    q_text(&q, a->token_hash);
    q_text(&q, a->csrf_hash);
    q_i64(&q, (int64_t)a->user_id);
    q_i64(&q, a->now);
    q_i64(&q, a->expires_at);
    return q_exec(&q);
}

static enum kho_err sq_session_create(struct meta_store *m, const char *token_hash,
                                      const char *csrf_hash, uint64_t user_id, int64_t expires_at)
{
    if (!check_hex64(token_hash) || !check_hex64(csrf_hash))
        return KHO_E_INVALID;
    struct session_args a = {token_hash, csrf_hash, user_id, now_ms(), expires_at};
    return write_run(store_of(m), session_insert_w, &a);
}

/* One file holds every shard, so the shard a token names only matters to pg.c; the hash
 * covers the whole token, so a token with another shard's prefix still finds nothing here. */
static enum kho_err sq_session_lookup(struct meta_store *m, uint32_t shard, const char *token_hash,
                                      int64_t now, struct meta_user *user, char csrf_hash[65],
                                      int64_t *expires_at)
{
    (void)shard;
    if (!check_hex64(token_hash))
        return KHO_E_NOTFOUND;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_SESSION_LOOKUP);
    q_text(&q, token_hash);
    q_i64(&q, now);
    enum kho_err rc = q_row(&q);
    if (rc == KHO_OK) {
        row_user(q_st(&q), user);
        col_text(q_st(&q), 5, csrf_hash, 65); /* after USER_COLS */
        *expires_at = sqlite3_column_int64(q_st(&q), 6);
    }
    q_end(&q);
    reader_give(c);
    return rc;
}

static enum kho_err session_delete_w(struct conn *c, void *arg)
{
    const struct session_args *a = arg;
    struct q q = q_begin(c, ST_SESSION_DELETE);
    q_text(&q, a->token_hash);
    enum kho_err rc = q_exec(&q);
    if (rc)
        return rc;
    return sqlite3_changes(c->db) ? KHO_OK : KHO_E_NOTFOUND;
}

static enum kho_err sq_session_delete(struct meta_store *m, uint32_t shard, const char *token_hash)
{
    (void)shard;
    if (!check_hex64(token_hash))
        return KHO_E_NOTFOUND;
    struct session_args a = {.token_hash = token_hash};
    return write_run(store_of(m), session_delete_w, &a);
}

/* ---- images ---- */

/* Rebuild image_tags for one image from its comma-joined tags (already checked). */
static enum kho_err tags_write(struct conn *c, uint64_t owner_id, uint64_t image_id,
                               const char *tags, bool clear)
{
    enum kho_err rc;
    if (clear) {
        struct q q = q_begin(c, ST_TAG_CLEAR);
        q_i64(&q, (int64_t)image_id);
        rc = q_exec(&q);
        if (rc)
            return rc;
    }
    for (const char *p = tags; *p;) {
        size_t len = strcspn(p, ",");
        struct q q = q_begin(c, ST_TAG_INSERT);
        q_i64(&q, (int64_t)owner_id);
        q_textn(&q, p, len);
        q_i64(&q, (int64_t)image_id);
        rc = q_exec(&q);
        if (rc)
            return rc;
        p += len + (p[len] == ',');
    }
    return KHO_OK;
}

struct insert_args {
    struct meta_image *img;
    struct meta_quota *quota;
};

static enum kho_err image_insert_w(struct conn *c, void *arg)
{
    const struct insert_args *a = arg;
    struct meta_image *img = a->img;
    struct q q = q_begin(c, ST_IMAGE_INSERT);
    q_i64(&q, (int64_t)img->id);
    q_i64(&q, (int64_t)img->owner_id);
    q_text(&q, img->title);
    q_text(&q, img->tags);
    q_i64(&q, img->visibility);
    q_text(&q, img->format);
    q_i64(&q, img->width);
    q_i64(&q, img->height);
    q_i64(&q, img->bytes);
    q_text(&q, img->sha256);
    q_i64(&q, img->created_at);
    q_key(&q, img->blob_key);
    q_i64(&q, img->alpha);
    q_i64(&q, img->taken_at);
    q_text(&q, img->camera_make);
    q_text(&q, img->camera_model);
    q_i64(&q, img->has_gps);
    if (img->has_gps) {
        q_f64(&q, img->gps_lat);
        q_f64(&q, img->gps_lon);
    } else {
        q_null(&q);
        q_null(&q);
    }
    q_text(&q, img->placeholder);
    enum kho_err rc = q_exec(&q);
    if (rc == KHO_E_EXISTS) {
        /* Per-user dedup; a clash on id alone (a caller bug) leaves *img as it was. */
        enum kho_err found = image_by_sha(c, img->owner_id, img->sha256, img);
        return found == KHO_OK || found == KHO_E_NOTFOUND ? KHO_E_EXISTS : found;
    }
    if (rc)
        return rc;
    /* Checked after the insert, so a duplicate (above) never meets the quota; a refusal here
     * returns an error and the job's savepoint undoes the insert. The writer runs one job at a
     * time, so concurrent uploads cannot both take the last place. */
    struct meta_usage u;
    rc = usage_read(c, img->owner_id, &u);
    if (rc)
        return rc;
    rc = meta_quota_check(&u, img->bytes, a->quota);
    if (rc)
        return rc;
    rc = usage_add(c, img->owner_id, 1, img->bytes);
    if (rc)
        return rc;
    rc = tags_write(c, img->owner_id, img->id, img->tags, false);
    if (rc)
        return rc;
    return image_by_id(c, img->id, img); /* fills owner_name */
}

static enum kho_err sq_image_insert(struct meta_store *m, struct meta_image *img,
                                    struct meta_quota *quota)
{
    quota->over = META_QUOTA_NONE;
    enum kho_err rc = check_image(img);
    if (rc)
        return rc;
    if (img->created_at == 0)
        img->created_at = now_ms();
    struct insert_args a = {img, quota};
    return write_run(store_of(m), image_insert_w, &a);
}

static enum kho_err sq_image_get(struct meta_store *m, uint64_t id, struct meta_image *out)
{
    struct conn *c = reader_take(store_of(m));
    enum kho_err rc = image_by_id(c, id, out);
    reader_give(c);
    return rc;
}

static enum kho_err sq_image_by_sha(struct meta_store *m, uint64_t owner_id, const char *sha256,
                                    struct meta_image *out)
{
    if (!check_hex64(sha256))
        return KHO_E_NOTFOUND;
    struct conn *c = reader_take(store_of(m));
    enum kho_err rc = image_by_sha(c, owner_id, sha256, out);
    reader_give(c);
    return rc;
}

/* 0 means "from the newest"; ids never reach INT64_MAX (41 bits of time until 2093). */
static int64_t before_bound(uint64_t before)
{
    return before ? (int64_t)before : INT64_MAX;
}

static enum kho_err sq_image_list_owner(struct meta_store *m, uint64_t owner_id, const char *tag,
                                        uint64_t before, int limit, struct meta_image *out, int *n)
{
    *n = 0;
    enum kho_err rc = check_limit(limit);
    if (rc)
        return rc;
    if (tag && !check_fits(tag, 1, META_TAG_MAX + 1))
        return KHO_OK; /* no image can carry such a tag */
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, tag ? ST_IMAGE_LIST_TAG : ST_IMAGE_LIST_OWNER);
    q_i64(&q, (int64_t)owner_id);
    if (tag)
        q_text(&q, tag);
    q_i64(&q, before_bound(before));
    q_i64(&q, limit);
    rc = q_rows(&q, put_image, out, n);
    reader_give(c);
    return rc;
}

static enum kho_err sq_image_list_public(struct meta_store *m, uint64_t before, int limit,
                                         struct meta_image *out, int *n)
{
    *n = 0;
    enum kho_err rc = check_limit(limit);
    if (rc)
        return rc;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_IMAGE_LIST_PUBLIC);
    q_i64(&q, before_bound(before));
    q_i64(&q, limit);
    rc = q_rows(&q, put_image, out, n);
    reader_give(c);
    return rc;
}

struct change_args {
    uint64_t id, owner_id;
    unsigned mask;
    struct meta_image *img;
};

static enum kho_err image_update_w(struct conn *c, void *arg)
{
    const struct change_args *a = arg;
    struct meta_image cur;
    enum kho_err rc = image_by_id(c, a->id, &cur);
    if (rc)
        return rc;
    if (cur.owner_id != a->owner_id)
        return KHO_E_NOTFOUND;
    if (a->mask & META_SET_TITLE)
        memcpy(cur.title, a->img->title, sizeof(cur.title));
    if (a->mask & META_SET_TAGS)
        memcpy(cur.tags, a->img->tags, sizeof(cur.tags));
    if (a->mask & META_SET_VISIBILITY)
        cur.visibility = a->img->visibility;

    struct q q = q_begin(c, ST_IMAGE_UPDATE);
    q_text(&q, cur.title);
    q_text(&q, cur.tags);
    q_i64(&q, cur.visibility);
    q_i64(&q, (int64_t)a->id);
    q_i64(&q, (int64_t)a->owner_id);
    rc = q_exec(&q);
    if (rc)
        return rc;
    if (a->mask & META_SET_TAGS) {
        rc = tags_write(c, a->owner_id, a->id, cur.tags, true);
        if (rc)
            return rc;
    }
    *a->img = cur;
    return KHO_OK;
}

static enum kho_err sq_image_update(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                    unsigned mask, struct meta_image *img)
{
    enum kho_err rc = check_image_update(mask, img);
    if (rc)
        return rc;
    struct change_args a = {id, owner_id, mask, img};
    return write_run(store_of(m), image_update_w, &a);
}

static enum kho_err image_delete_w(struct conn *c, void *arg)
{
    const struct change_args *a = arg;
    enum kho_err rc = image_by_id(c, a->id, a->img);
    if (rc)
        return rc;
    if (a->img->owner_id != a->owner_id)
        return KHO_E_NOTFOUND;
    /* image_tags and variants rows go with it through ON DELETE CASCADE. */
    struct q q = q_begin(c, ST_IMAGE_DELETE);
    q_i64(&q, (int64_t)a->id);
    q_i64(&q, (int64_t)a->owner_id);
    rc = q_exec(&q);
    if (rc)
        return rc;
    return usage_add(c, a->owner_id, -1, a->img->bytes);
}

static enum kho_err sq_image_delete(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                    struct meta_image *out)
{
    struct change_args a = {id, owner_id, 0, out};
    return write_run(store_of(m), image_delete_w, &a);
}

/* One text column of one row, set by a statement "UPDATE ... SET col = ? WHERE id = ?". */
struct set_text_args {
    enum stmt st;
    uint64_t id;
    const char *text;
};

static enum kho_err set_text_w(struct conn *c, void *arg)
{
    const struct set_text_args *a = arg;
    struct q q = q_begin(c, a->st);
    q_text(&q, a->text);
    q_i64(&q, (int64_t)a->id);
    enum kho_err rc = q_exec(&q);
    if (rc)
        return rc;
    return sqlite3_changes(c->db) ? KHO_OK : KHO_E_NOTFOUND;
}

static enum kho_err sq_image_set_placeholder(struct meta_store *m, uint64_t id,
                                             const char *placeholder)
{
    enum kho_err rc = check_placeholder(placeholder);
    if (rc)
        return rc;
    struct set_text_args a = {ST_IMAGE_PLACEHOLDER, id, placeholder};
    return write_run(store_of(m), set_text_w, &a);
}

static enum kho_err sq_user_set_watermark(struct meta_store *m, uint64_t user_id,
                                          const char *watermark)
{
    enum kho_err rc = check_watermark(watermark);
    if (rc)
        return rc;
    struct set_text_args a = {ST_USER_WATERMARK, user_id, watermark};
    return write_run(store_of(m), set_text_w, &a);
}

/* ---- variants ---- */

static enum kho_err variant_insert_w(struct conn *c, void *arg)
{
    const struct meta_variant *v = arg;
    /* The enforced foreign key fails the insert when the image is gone, even when it was
     * deleted after the caller last read it (db_fail makes that KHO_E_NOTFOUND); OR IGNORE
     * covers only the key's uniqueness. */
    struct q q = q_begin(c, ST_VARIANT_INSERT);
    q_key(&q, v->key);
    q_i64(&q, (int64_t)v->image_id);
    q_text(&q, v->spec);
    q_text(&q, v->format);
    q_i64(&q, v->width);
    q_i64(&q, v->height);
    q_i64(&q, v->bytes);
    q_i64(&q, v->created_at);
    enum kho_err rc = q_exec(&q);
    if (rc)
        return rc;
    if (!sqlite3_changes(c->db))
        return KHO_OK; /* already recorded */

    /* Counted after the insert, so only new keys pay; past the ceiling the savepoint undoes
     * it, keeping every image's keys within what one variant_keys call returns. */
    q = q_begin(c, ST_VARIANT_COUNT);
    q_i64(&q, (int64_t)v->image_id);
    rc = q_row(&q);
    int64_t count = rc == KHO_OK ? sqlite3_column_int64(q_st(&q), 0) : 0;
    q_end(&q);
    if (rc)
        return rc;
    return count > META_VARIANTS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err sq_variant_insert(struct meta_store *m, const struct meta_variant *v)
{
    enum kho_err rc = check_variant(v);
    if (rc)
        return rc;
    struct meta_variant rec = *v;
    if (rec.created_at == 0)
        rec.created_at = now_ms();
    return write_run(store_of(m), variant_insert_w, &rec);
}

static enum kho_err sq_variant_keys(struct meta_store *m, uint64_t image_id, uint64_t *keys,
                                    int max, int *n)
{
    *n = 0;
    enum kho_err rc = check_max(max, META_VARIANTS_MAX);
    if (rc)
        return rc;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_VARIANT_KEYS);
    q_i64(&q, (int64_t)image_id);
    q_i64(&q, max);
    rc = q_rows(&q, put_key, keys, n);
    reader_give(c);
    return rc;
}

static enum kho_err sq_keys_known(struct meta_store *m, const uint64_t *keys, int n, bool *known)
{
    enum kho_err rc = check_max(n, META_KEYS_KNOWN_MAX);
    if (rc)
        return rc;
    struct conn *c = reader_take(store_of(m));
    for (int i = 0; i < n && !rc; i++) {
        struct q q = q_begin(c, ST_KEY_KNOWN);
        q_key(&q, keys[i]);
        rc = q_row(&q);
        if (rc == KHO_OK)
            known[i] = sqlite3_column_int(q_st(&q), 0) != 0;
        q_end(&q);
    }
    reader_give(c);
    return rc;
}

/* ---- API keys ---- */

/* Columns KEY_COLS starting at col. */
static void row_key(sqlite3_stmt *st, int col, struct meta_key *k)
{
    k->id = (uint64_t)sqlite3_column_int64(st, col);
    k->user_id = (uint64_t)sqlite3_column_int64(st, col + 1);
    COL_TEXT(st, col + 2, k->name);
    k->scope = (enum meta_scope)sqlite3_column_int(st, col + 3);
    COL_TEXT(st, col + 4, k->prefix);
    k->created_at = sqlite3_column_int64(st, col + 5);
    k->last_used_at = sqlite3_column_int64(st, col + 6); /* NULL (never) reads as 0 */
}

static void put_key_row(sqlite3_stmt *st, void *out, int i)
{
    row_key(st, 0, (struct meta_key *)out + i);
}

struct key_args {
    struct meta_key *k;
    const char *hash;
};

static enum kho_err key_insert_w(struct conn *c, void *arg)
{
    const struct key_args *a = arg;
    struct q q = q_begin(c, ST_KEY_INSERT);
    q_i64(&q, (int64_t)a->k->id);
    q_i64(&q, (int64_t)a->k->user_id);
    q_text(&q, a->hash);
    q_text(&q, a->k->name);
    q_i64(&q, a->k->scope);
    q_text(&q, a->k->prefix);
    q_i64(&q, a->k->created_at);
    enum kho_err rc = q_exec(&q);
    if (rc)
        return rc;
    /* Counted after the insert, like variants: past the ceiling the savepoint undoes it. */
    q = q_begin(c, ST_KEY_COUNT);
    q_i64(&q, (int64_t)a->k->user_id);
    rc = q_row(&q);
    int64_t count = rc == KHO_OK ? sqlite3_column_int64(q_st(&q), 0) : 0;
    q_end(&q);
    if (rc)
        return rc;
    return count > META_KEYS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err sq_key_create(struct meta_store *m, struct meta_key *k, const char *key_hash)
{
    enum kho_err rc = check_key(k, key_hash);
    if (rc)
        return rc;
    k->created_at = now_ms();
    k->last_used_at = 0;
    struct key_args a = {k, key_hash};
    return write_run(store_of(m), key_insert_w, &a);
}

static enum kho_err sq_key_list(struct meta_store *m, uint64_t user_id, struct meta_key *out,
                                int max, int *n)
{
    *n = 0;
    enum kho_err rc = check_max(max, META_KEYS_MAX);
    if (rc)
        return rc;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_KEY_LIST);
    q_i64(&q, (int64_t)user_id);
    q_i64(&q, max);
    rc = q_rows(&q, put_key_row, out, n);
    reader_give(c);
    return rc;
}

struct key_ref {
    uint64_t id, user_id;
    int64_t at;
    char *hash; /* key_delete: the deleted key's, 65 bytes */
};

static enum kho_err key_delete_w(struct conn *c, void *arg)
{
    const struct key_ref *a = arg;
    struct q q = q_begin(c, ST_KEY_DELETE);
    q_i64(&q, (int64_t)a->id);
    q_i64(&q, (int64_t)a->user_id);
    /* RETURNING: the row is deleted by the first step, which yields its hash */
    enum kho_err rc = q_row(&q);
    if (rc == KHO_OK)
        col_text(q_st(&q), 0, a->hash, 65);
    q_end(&q);
    return rc;
}

static enum kho_err sq_key_delete(struct meta_store *m, uint64_t id, uint64_t user_id,
                                  char key_hash[65])
{
    struct key_ref a = {id, user_id, 0, key_hash};
    return write_run(store_of(m), key_delete_w, &a);
}

static enum kho_err sq_key_lookup(struct meta_store *m, const char *key_hash,
                                  struct meta_user *user, struct meta_key *key)
{
    if (!check_hex64(key_hash))
        return KHO_E_NOTFOUND;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_KEY_LOOKUP);
    q_text(&q, key_hash);
    enum kho_err rc = q_row(&q);
    if (rc == KHO_OK) {
        row_user(q_st(&q), user);
        row_key(q_st(&q), USER_NCOLS, key);
    }
    q_end(&q);
    reader_give(c);
    return rc;
}

static enum kho_err key_touch_w(struct conn *c, void *arg)
{
    const struct key_ref *a = arg;
    struct q q = q_begin(c, ST_KEY_TOUCH);
    q_i64(&q, a->at);
    q_i64(&q, (int64_t)a->id);
    return q_exec(&q);
}

static enum kho_err sq_key_touch(struct meta_store *m, uint64_t id, int64_t at)
{
    struct key_ref a = {id, 0, at, NULL};
    return write_run(store_of(m), key_touch_w, &a);
}

/* ---- store ---- */

/* ---- albums ---- */

#define ALBUM_NCOLS 8 /* the columns of ALBUM_COLS, last in their queries */

/* Run a bound statement that changes rows, then end it: KHO_E_NOTFOUND when none changed (its
 * WHERE names the owner, so someone else's row reads as no row). */
static enum kho_err q_change(struct q *q)
{
    enum kho_err rc = q_exec(q);
    if (rc)
        return rc;
    return sqlite3_changes(q->c->db) ? KHO_OK : KHO_E_NOTFOUND;
}

/* The first column of a bound one-row query (an aggregate), then end it. */
static enum kho_err q_count(struct q *q, int64_t *out)
{
    enum kho_err rc = q_row(q);
    if (rc == KHO_OK)
        *out = sqlite3_column_int64(q_st(q), 0);
    q_end(q);
    return rc;
}

/* Columns IMAGE_COLS (the cover, NULL without one) then ALBUM_COLS. */
static void row_album(sqlite3_stmt *st, struct meta_album *a)
{
    int col = sqlite3_column_count(st) - ALBUM_NCOLS;
    a->has_cover = sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (a->has_cover)
        row_image(st, &a->cover);
    else
        memset(&a->cover, 0, sizeof(a->cover));
    a->id = (uint64_t)sqlite3_column_int64(st, col);
    a->owner_id = (uint64_t)sqlite3_column_int64(st, col + 1);
    COL_TEXT(st, col + 2, a->title);
    COL_TEXT(st, col + 3, a->description);
    a->cover_id = (uint64_t)sqlite3_column_int64(st, col + 4); /* NULL reads as 0 */
    a->image_count = sqlite3_column_int64(st, col + 5);
    a->created_at = sqlite3_column_int64(st, col + 6);
    a->updated_at = sqlite3_column_int64(st, col + 7);
}

static void put_album(sqlite3_stmt *st, void *out, int i)
{
    row_album(st, (struct meta_album *)out + i);
}

static enum kho_err album_by_id(struct conn *c, uint64_t id, uint64_t owner_id,
                                struct meta_album *out)
{
    struct q q = q_begin(c, ST_ALBUM_GET);
    q_i64(&q, (int64_t)id);
    q_i64(&q, (int64_t)owner_id);
    enum kho_err rc = q_row(&q);
    if (rc == KHO_OK)
        row_album(q_st(&q), out);
    q_end(&q);
    return rc;
}

static enum kho_err album_create_w(struct conn *c, void *arg)
{
    const struct meta_album *a = arg;
    struct q q = q_begin(c, ST_ALBUM_INSERT);
    q_i64(&q, (int64_t)a->id);
    q_i64(&q, (int64_t)a->owner_id);
    q_text(&q, a->title);
    q_text(&q, a->description);
    q_i64(&q, a->created_at);
    q_i64(&q, a->updated_at);
    enum kho_err rc = q_exec(&q);
    if (rc)
        return rc;
    /* Counted after the insert, as for variants: past the ceiling the savepoint undoes it. */
    int64_t count = 0;
    q = q_begin(c, ST_ALBUM_COUNT);
    q_i64(&q, (int64_t)a->owner_id);
    rc = q_count(&q, &count);
    if (rc)
        return rc;
    return count > META_ALBUMS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err sq_album_create(struct meta_store *m, struct meta_album *a)
{
    enum kho_err rc = check_album_new(a);
    if (rc)
        return rc;
    a->created_at = a->updated_at = now_ms();
    a->cover_id = 0;
    a->image_count = 0;
    a->has_cover = false;
    memset(&a->cover, 0, sizeof(a->cover));
    return write_run(store_of(m), album_create_w, a);
}

static enum kho_err sq_album_get(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                 struct meta_album *out)
{
    struct conn *c = reader_take(store_of(m));
    enum kho_err rc = album_by_id(c, id, owner_id, out);
    reader_give(c);
    return rc;
}

static enum kho_err sq_album_list(struct meta_store *m, uint64_t owner_id, uint64_t before,
                                  int limit, struct meta_album *out, int *n)
{
    *n = 0;
    enum kho_err rc = check_limit(limit);
    if (rc)
        return rc;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_ALBUM_LIST);
    q_i64(&q, (int64_t)owner_id);
    q_i64(&q, before_bound(before));
    q_i64(&q, limit);
    rc = q_rows(&q, put_album, out, n);
    reader_give(c);
    return rc;
}

static enum kho_err album_has(struct conn *c, uint64_t album_id, uint64_t image_id)
{
    struct q q = q_begin(c, ST_ALBUM_HAS_IMAGE);
    q_i64(&q, (int64_t)album_id);
    q_i64(&q, (int64_t)image_id);
    enum kho_err rc = q_row(&q);
    q_end(&q);
    return rc;
}

struct album_args {
    uint64_t id, owner_id;
    unsigned mask;
    const uint64_t *ids;
    int n;
    uint64_t *missing;
    struct meta_album *a;
    int64_t now;
};

static enum kho_err album_update_w(struct conn *c, void *arg)
{
    const struct album_args *x = arg;
    struct meta_album cur;
    enum kho_err rc = album_by_id(c, x->id, x->owner_id, &cur);
    if (rc)
        return rc;
    if (x->mask & META_SET_ALBUM_TITLE)
        memcpy(cur.title, x->a->title, sizeof(cur.title));
    if (x->mask & META_SET_ALBUM_DESCRIPTION)
        memcpy(cur.description, x->a->description, sizeof(cur.description));
    if (x->mask & META_SET_ALBUM_COVER) {
        cur.cover_id = x->a->cover_id;
        if (cur.cover_id) {
            rc = album_has(c, x->id, cur.cover_id);
            if (rc)
                return rc == KHO_E_NOTFOUND ? KHO_E_INVALID : rc;
        }
    }
    struct q q = q_begin(c, ST_ALBUM_UPDATE);
    q_text(&q, cur.title);
    q_text(&q, cur.description);
    if (cur.cover_id)
        q_i64(&q, (int64_t)cur.cover_id);
    else
        q_null(&q);
    q_i64(&q, x->now);
    q_i64(&q, (int64_t)x->id);
    q_i64(&q, (int64_t)x->owner_id);
    rc = q_exec(&q);
    if (rc)
        return rc;
    return album_by_id(c, x->id, x->owner_id, x->a); /* the cover may have changed */
}

static enum kho_err sq_album_update(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                    unsigned mask, struct meta_album *a)
{
    enum kho_err rc = check_album(mask, a);
    if (rc)
        return rc;
    struct album_args x = {.id = id, .owner_id = owner_id, .mask = mask, .a = a, .now = now_ms()};
    return write_run(store_of(m), album_update_w, &x);
}

static enum kho_err album_delete_w(struct conn *c, void *arg)
{
    const struct album_args *x = arg;
    /* album_images and links rows go with it through ON DELETE CASCADE. */
    struct q q = q_begin(c, ST_ALBUM_DELETE);
    q_i64(&q, (int64_t)x->id);
    q_i64(&q, (int64_t)x->owner_id);
    return q_change(&q);
}

static enum kho_err sq_album_delete(struct meta_store *m, uint64_t id, uint64_t owner_id)
{
    struct album_args x = {.id = id, .owner_id = owner_id};
    return write_run(store_of(m), album_delete_w, &x);
}

/* Owner's album: its updated_at moves to now, or KHO_E_NOTFOUND. */
static enum kho_err album_touch(struct conn *c, const struct album_args *x)
{
    struct q q = q_begin(c, ST_ALBUM_TOUCH);
    q_i64(&q, x->now);
    q_i64(&q, (int64_t)x->id);
    q_i64(&q, (int64_t)x->owner_id);
    return q_change(&q);
}

static enum kho_err album_add_w(struct conn *c, void *arg)
{
    const struct album_args *x = arg;
    enum kho_err rc = album_touch(c, x);
    if (rc)
        return rc;
    /* Any failure below returns an error, and the write's savepoint undoes every row. */
    for (int i = 0; i < x->n; i++) {
        struct q q = q_begin(c, ST_IMAGE_OWNED);
        q_i64(&q, (int64_t)x->ids[i]);
        q_i64(&q, (int64_t)x->owner_id);
        rc = q_row(&q);
        q_end(&q);
        if (rc == KHO_E_NOTFOUND)
            *x->missing = x->ids[i];
        if (rc)
            return rc;
        q = q_begin(c, ST_ALBUM_ADD);
        q_i64(&q, (int64_t)x->id);
        q_i64(&q, (int64_t)x->ids[i]);
        rc = q_exec(&q);
        if (rc)
            return rc;
    }
    rc = album_by_id(c, x->id, x->owner_id, x->a);
    if (rc)
        return rc;
    return x->a->image_count > META_ALBUM_IMAGES_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err album_remove_w(struct conn *c, void *arg)
{
    const struct album_args *x = arg;
    enum kho_err rc = album_touch(c, x);
    if (rc)
        return rc;
    for (int i = 0; i < x->n; i++) {
        struct q q = q_begin(c, ST_ALBUM_REMOVE);
        q_i64(&q, (int64_t)x->id);
        q_i64(&q, (int64_t)x->ids[i]);
        rc = q_exec(&q);
        if (rc)
            return rc;
    }
    struct q q = q_begin(c, ST_ALBUM_UNCOVER);
    q_i64(&q, (int64_t)x->id);
    rc = q_exec(&q);
    if (rc)
        return rc;
    return album_by_id(c, x->id, x->owner_id, x->a);
}

static enum kho_err sq_album_add_images(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                        const uint64_t *ids, int n, uint64_t *missing,
                                        struct meta_album *out)
{
    *missing = 0;
    enum kho_err rc = check_batch(n);
    if (rc)
        return rc;
    struct album_args x = {id, owner_id, 0, ids, n, missing, out, now_ms()};
    return write_run(store_of(m), album_add_w, &x);
}

static enum kho_err sq_album_remove_images(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                           const uint64_t *ids, int n, struct meta_album *out)
{
    enum kho_err rc = check_batch(n);
    if (rc)
        return rc;
    struct album_args x = {id, owner_id, 0, ids, n, NULL, out, now_ms()};
    return write_run(store_of(m), album_remove_w, &x);
}

static enum kho_err sq_album_images(struct meta_store *m, uint64_t album_id, uint64_t before,
                                    int limit, struct meta_image *out, int *n)
{
    *n = 0;
    enum kho_err rc = check_limit(limit);
    if (rc)
        return rc;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_ALBUM_IMAGES);
    q_i64(&q, (int64_t)album_id);
    q_i64(&q, before_bound(before));
    q_i64(&q, limit);
    rc = q_rows(&q, put_image, out, n);
    reader_give(c);
    return rc;
}

static enum kho_err sq_album_has_image(struct meta_store *m, uint64_t album_id, uint64_t image_id)
{
    struct conn *c = reader_take(store_of(m));
    enum kho_err rc = album_has(c, album_id, image_id);
    reader_give(c);
    return rc;
}

/* ---- share links ---- */

/* Columns LINK_COLS. */
static void row_link(sqlite3_stmt *st, struct meta_link *l)
{
    bool image = sqlite3_column_type(st, 2) != SQLITE_NULL; /* the table holds exactly one */
    l->id = (uint64_t)sqlite3_column_int64(st, 0);
    l->owner_id = (uint64_t)sqlite3_column_int64(st, 1);
    l->kind = image ? META_LINK_IMAGE : META_LINK_ALBUM;
    l->target_id = (uint64_t)sqlite3_column_int64(st, image ? 2 : 3);
    l->expires_at = sqlite3_column_int64(st, 4);
    l->created_at = sqlite3_column_int64(st, 5);
}

static void put_link(sqlite3_stmt *st, void *out, int i)
{
    row_link(st, (struct meta_link *)out + i);
}

struct link_args {
    const struct meta_link *l;
    int64_t now;
};

static enum kho_err link_create_w(struct conn *c, void *arg)
{
    const struct link_args *x = arg;
    const struct meta_link *l = x->l;
    /* Expired links are the owner's to purge: they no longer count against the ceiling. */
    struct q q = q_begin(c, ST_LINK_PURGE);
    q_i64(&q, (int64_t)l->owner_id);
    q_i64(&q, x->now);
    enum kho_err rc = q_exec(&q);
    if (rc)
        return rc;
    q = q_begin(c, l->kind == META_LINK_IMAGE ? ST_LINK_INSERT_IMAGE : ST_LINK_INSERT_ALBUM);
    q_i64(&q, (int64_t)l->id);
    q_i64(&q, l->expires_at);
    q_i64(&q, l->created_at);
    q_i64(&q, (int64_t)l->target_id);
    q_i64(&q, (int64_t)l->owner_id);
    rc = q_change(&q);
    if (rc)
        return rc;
    int64_t count = 0;
    q = q_begin(c, ST_LINK_COUNT);
    q_i64(&q, (int64_t)l->owner_id);
    rc = q_count(&q, &count);
    if (rc)
        return rc;
    return count > META_LINKS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err sq_link_create(struct meta_store *m, struct meta_link *l, int64_t now)
{
    enum kho_err rc = check_link(l);
    if (rc)
        return rc;
    l->created_at = now;
    struct link_args x = {l, now};
    return write_run(store_of(m), link_create_w, &x);
}

static enum kho_err sq_link_get(struct meta_store *m, uint64_t id, struct meta_link *out)
{
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_LINK_GET);
    q_i64(&q, (int64_t)id);
    enum kho_err rc = q_row(&q);
    if (rc == KHO_OK)
        row_link(q_st(&q), out);
    q_end(&q);
    reader_give(c);
    return rc;
}

static enum kho_err sq_link_list(struct meta_store *m, uint64_t owner_id, int64_t now,
                                 struct meta_link *out, int max, int *n)
{
    *n = 0;
    enum kho_err rc = check_max(max, META_LINKS_MAX);
    if (rc)
        return rc;
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_LINK_LIST);
    q_i64(&q, (int64_t)owner_id);
    q_i64(&q, now);
    q_i64(&q, max);
    rc = q_rows(&q, put_link, out, n);
    reader_give(c);
    return rc;
}

static enum kho_err link_delete_w(struct conn *c, void *arg)
{
    const struct meta_link *l = arg;
    struct q q = q_begin(c, ST_LINK_DELETE);
    q_i64(&q, (int64_t)l->id);
    q_i64(&q, (int64_t)l->owner_id);
    return q_change(&q);
}

static enum kho_err sq_link_delete(struct meta_store *m, uint64_t id, uint64_t owner_id)
{
    struct meta_link l = {.id = id, .owner_id = owner_id};
    return write_run(store_of(m), link_delete_w, &l);
}

static enum kho_err sq_ping(struct meta_store *m)
{
    struct conn *c = reader_take(store_of(m));
    struct q q = q_begin(c, ST_PING);
    enum kho_err rc = q_row(&q);
    q_end(&q);
    reader_give(c);
    return rc;
}

static void store_free(struct sqlite_store *s)
{
    for (unsigned i = 0; i < s->nreaders; i++) {
        conn_close(&s->readers[i]);
        pthread_mutex_destroy(&s->readers[i].mu);
    }
    free(s->readers);
    /* Last, so closing it checkpoints the WAL into the main file once no reader holds it. */
    conn_close(&s->writer);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcond);
    free(s);
}

static void sq_close(struct meta_store *m)
{
    store_free(store_of(m));
}

static enum kho_err migrate_exec(void *ctx, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(ctx, sql, NULL, NULL, &msg) != SQLITE_OK) {
        metric_inc(M_DB_ERRORS);
        log_error("migration sql failed: %s", msg ? msg : sqlite3_errmsg(ctx));
        sqlite3_free(msg);
        return KHO_E_BACKEND;
    }
    return KHO_OK;
}

static enum kho_err migrate_query(void *ctx, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ctx, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        log_error("migration query failed: %s", sqlite3_errmsg(ctx));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        metric_inc(M_DB_ERRORS);
        return KHO_E_BACKEND;
    }
    return KHO_OK;
}

static const struct migrate_driver sqlite_driver = {
    .exec = migrate_exec,
    .query_i64 = migrate_query,
    .begin_sql = "BEGIN IMMEDIATE",
};

static const struct meta_ops sqlite_ops = {
    .name = "sqlite",
    .user_create = sq_user_create,
    .user_by_name = sq_user_by_name,
    .user_by_id = sq_user_by_id,
    .user_usage = sq_user_usage,
    .session_create = sq_session_create,
    .session_lookup = sq_session_lookup,
    .session_delete = sq_session_delete,
    .image_insert = sq_image_insert,
    .image_get = sq_image_get,
    .image_by_sha = sq_image_by_sha,
    .image_list_owner = sq_image_list_owner,
    .image_list_public = sq_image_list_public,
    .image_update = sq_image_update,
    .image_delete = sq_image_delete,
    .image_set_placeholder = sq_image_set_placeholder,
    .user_set_watermark = sq_user_set_watermark,
    .variant_insert = sq_variant_insert,
    .variant_keys = sq_variant_keys,
    .user_set_quota = sq_user_set_quota,
    .key_create = sq_key_create,
    .key_list = sq_key_list,
    .key_delete = sq_key_delete,
    .key_lookup = sq_key_lookup,
    .key_touch = sq_key_touch,
    .album_create = sq_album_create,
    .album_get = sq_album_get,
    .album_list = sq_album_list,
    .album_update = sq_album_update,
    .album_delete = sq_album_delete,
    .album_add_images = sq_album_add_images,
    .album_remove_images = sq_album_remove_images,
    .album_images = sq_album_images,
    .album_has_image = sq_album_has_image,
    .link_create = sq_link_create,
    .link_get = sq_link_get,
    .link_list = sq_link_list,
    .link_delete = sq_link_delete,
    .keys_known = sq_keys_known,
    .ping = sq_ping,
    .close = sq_close,
};

/* Readers: one per core for the event loops plus a few for stragglers and the workers. */
static unsigned reader_count(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long n = (cpus > 0 ? cpus : 1) + 2;
    return n > READERS_MAX ? READERS_MAX : (unsigned)n;
}

enum kho_err sqlite_meta_open(const char *path, struct meta_store **out)
{
    struct sqlite_store *s = xcalloc(1, sizeof(*s));
    s->base.ops = &sqlite_ops;
    s->wtail = &s->whead;
    atomic_init(&s->next_reader, 0);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcond, NULL);

    enum kho_err rc = conn_open(&s->writer, path, true);
    if (rc)
        goto fail;
    rc = migrate_run(&sqlite_driver, s->writer.db, meta_migrations);
    if (rc)
        goto fail;
    rc = conn_prepare(&s->writer);
    if (rc)
        goto fail;

    unsigned want = reader_count();
    s->readers = xcalloc(want, sizeof(*s->readers));
    while (s->nreaders < want) {
        struct conn *c = &s->readers[s->nreaders++]; /* counted first: store_free closes it */
        pthread_mutex_init(&c->mu, NULL);
        rc = conn_open(c, path, false);
        if (rc)
            goto fail;
        rc = conn_prepare(c);
        if (rc)
            goto fail;
    }
    *out = &s->base;
    return KHO_OK;
fail:
    store_free(s);
    return rc;
}
