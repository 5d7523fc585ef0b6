/* PostgreSQL metadata backend: a bounded pool of libpq connections per shard server, statements
 * prepared once per connection, and each write in its own transaction on the one server that
 * holds its rows. */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "meta/check.h"
#include "meta/meta.h"
#include "meta/migrate.h"
#include "meta/pg.h"
#include "meta/shardmap.h"
#include "core/kho.h"

#define PARAMS_MAX 24
#define POOL_DEFAULT 8
#define CONNECT_TIMEOUT_S "3"
/* Any fixed number: nodes migrating the same server at once take turns on it. */
#define MIGRATE_LOCK "7236451"

_Static_assert(META_PUBLIC == 2, "images_public index and queries assume META_PUBLIC == 2");
_Static_assert(META_QUOTA_DEFAULT == -1, "ST_USER_USAGE reads NULL overrides as -1");

#define IMAGE_COLS                                                                                 \
    "i.id, i.owner_id, u.username, i.title, i.tags, i.visibility, i.format, i.width, i.height, "   \
    "i.bytes, i.sha256, i.created_at, i.blob_key, i.alpha, i.taken_at, i.camera_make, "            \
    "i.camera_model, i.has_gps, i.gps_lat, i.gps_lon, i.placeholder, u.watermark "
#define IMAGE_FROM "FROM images i JOIN users u ON u.id = i.owner_id "
#define USER_COLS "u.id, u.username, u.pwhash, u.created_at, u.watermark "
#define USER_NCOLS 5
#define KEY_COLS "k.id, k.user_id, k.name, k.scope, k.prefix, k.created_at, k.last_used_at "
#define ALBUM_COLS                                                                                 \
    "a.id, a.owner_id, a.title, a.description, a.cover_id, a.image_count, a.created_at, "          \
    "a.updated_at "
#define ALBUM_NCOLS 8
#define ALBUM_FROM                                                                                 \
    "FROM albums a LEFT JOIN images i ON i.id = coalesce(a.cover_id, "                             \
    "(SELECT image_id FROM album_images WHERE album_id = a.id ORDER BY image_id DESC LIMIT 1)) "   \
    "LEFT JOIN users u ON u.id = i.owner_id "
#define LINK_COLS "id, owner_id, image_id, album_id, expires_at, created_at "

enum stmt {
    ST_PING,
    ST_USER_INSERT,
    ST_USER_BY_NAME,
    ST_USER_BY_ID,
    ST_USER_USAGE,
    ST_USER_LOCK,
    ST_USER_WATERMARK,
    ST_USER_COUNT,
    ST_USER_QUOTA_IMAGES,
    ST_USER_QUOTA_BYTES,
    ST_SESSION_PURGE,
    ST_SESSION_INSERT,
    ST_SESSION_LOOKUP,
    ST_SESSION_DELETE,
    ST_IMAGE_INSERT,
    ST_IMAGE_GET,
    ST_IMAGE_GET_LOCK,
    ST_IMAGE_LOCK,
    ST_IMAGE_BY_SHA,
    ST_IMAGE_LIST_OWNER,
    ST_IMAGE_LIST_TAG,
    ST_IMAGE_LIST_PUBLIC,
    ST_IMAGE_UPDATE,
    ST_IMAGE_DELETE,
    ST_IMAGE_PLACEHOLDER,
    ST_IMAGE_OWNED,
    ST_TAG_INSERT,
    ST_TAG_CLEAR,
    ST_VARIANT_INSERT,
    ST_VARIANT_COUNT,
    ST_VARIANT_KEYS,
    ST_KEY_INSERT,
    ST_KEY_COUNT,
    ST_KEY_LIST,
    ST_KEY_DELETE,
    ST_KEY_UNINSERT,
    ST_KEY_GET,
    ST_KEY_TOUCH,
    ST_KEY_INDEX_INSERT,
    ST_KEY_INDEX_GET,
    ST_KEY_INDEX_DELETE,
    ST_ALBUM_INSERT,
    ST_ALBUM_COUNT,
    ST_ALBUM_GET,
    ST_ALBUM_LOCK,
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
    ST_KEYS_KNOWN,
    ST__COUNT
};

static const struct {
    const char *name; /* the prepared statement's name, and for log lines */
    const char *sql;
} stmts[ST__COUNT] = {
    [ST_PING] = {"ping", "SELECT 1"},
    [ST_USER_INSERT] = {"user_insert", "INSERT INTO users (id, shard, username, pwhash, "
                                       "created_at) VALUES ($1, $2, $3, $4, $5)"},
    [ST_USER_BY_NAME] = {"user_by_name", "SELECT " USER_COLS "FROM users u WHERE u.username = $1"},
    [ST_USER_BY_ID] = {"user_by_id", "SELECT " USER_COLS "FROM users u WHERE u.id = $1"},
    [ST_USER_USAGE] = {"user_usage", "SELECT image_count, bytes_used, coalesce(quota_images, -1), "
                                     "coalesce(quota_bytes, -1) FROM users WHERE id = $1"},
    /* The per-user lock of writes checked against a ceiling or quota. NO KEY UPDATE does not
     * wait for rows that merely reference the user (their foreign keys take KEY SHARE). */
    [ST_USER_LOCK] = {"user_lock", "SELECT image_count, bytes_used, coalesce(quota_images, -1), "
                                   "coalesce(quota_bytes, -1) FROM users WHERE id = $1 "
                                   "FOR NO KEY UPDATE"},
    [ST_USER_WATERMARK] = {"user_watermark", "UPDATE users SET watermark = $1 WHERE id = $2"},
    [ST_USER_COUNT] = {"user_count", "UPDATE users SET image_count = image_count + $1, "
                                     "bytes_used = bytes_used + $2 WHERE id = $3"},
    [ST_USER_QUOTA_IMAGES] = {"user_quota_images",
                              "UPDATE users SET quota_images = $1 WHERE id = $2"},
    [ST_USER_QUOTA_BYTES] = {"user_quota_bytes", "UPDATE users SET quota_bytes = $1 WHERE id = $2"},
    [ST_SESSION_PURGE] = {"session_purge",
                          "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM "
                          "sessions WHERE expires_at <= $1 LIMIT 64 FOR UPDATE SKIP LOCKED)"},
    [ST_SESSION_INSERT] = {"session_insert",
                           "INSERT INTO sessions (token_hash, shard, csrf_hash, user_id, "
                           "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)"},
    [ST_SESSION_LOOKUP] = {"session_lookup", "SELECT user_id, csrf_hash, expires_at FROM sessions "
                                             "WHERE token_hash = $1 AND expires_at > $2"},
    [ST_SESSION_DELETE] = {"session_delete", "DELETE FROM sessions WHERE token_hash = $1"},
    /* ON CONFLICT: a duplicate leaves the transaction usable for reading the existing row. */
    [ST_IMAGE_INSERT] = {"image_insert",
                         "INSERT INTO images (id, shard, owner_id, title, tags, visibility, "
                         "format, width, height, bytes, sha256, created_at, blob_key, alpha, "
                         "taken_at, camera_make, camera_model, has_gps, gps_lat, gps_lon, "
                         "placeholder) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                         "$12, $13, $14, $15, $16, $17, $18, $19, $20, $21) "
                         "ON CONFLICT DO NOTHING"},
    [ST_IMAGE_GET] = {"image_get", "SELECT " IMAGE_COLS IMAGE_FROM "WHERE i.id = $1"},
    [ST_IMAGE_GET_LOCK] = {"image_get_lock",
                           "SELECT " IMAGE_COLS IMAGE_FROM "WHERE i.id = $1 FOR UPDATE OF i"},
    [ST_IMAGE_LOCK] = {"image_lock", "SELECT 1 FROM images WHERE id = $1 FOR NO KEY UPDATE"},
    [ST_IMAGE_BY_SHA] = {"image_by_sha",
                         "SELECT " IMAGE_COLS IMAGE_FROM "WHERE i.owner_id = $1 AND i.sha256 = $2"},
    [ST_IMAGE_LIST_OWNER] = {"image_list_owner",
                             "SELECT " IMAGE_COLS IMAGE_FROM
                             "WHERE i.owner_id = $1 AND i.id < $2 ORDER BY i.id DESC LIMIT $3"},
    [ST_IMAGE_LIST_TAG] = {"image_list_tag",
                           "SELECT " IMAGE_COLS "FROM image_tags t "
                           "JOIN images i ON i.id = t.image_id JOIN users u ON u.id = i.owner_id "
                           "WHERE t.owner_id = $1 AND t.tag = $2 AND t.image_id < $3 "
                           "ORDER BY t.image_id DESC LIMIT $4"},
    [ST_IMAGE_LIST_PUBLIC] = {"image_list_public",
                              "SELECT " IMAGE_COLS IMAGE_FROM
                              "WHERE i.visibility = 2 AND i.id < $1 ORDER BY i.id DESC LIMIT $2"},
    [ST_IMAGE_UPDATE] = {"image_update", "UPDATE images SET title = $1, tags = $2, "
                                         "visibility = $3 WHERE id = $4 AND owner_id = $5"},
    [ST_IMAGE_DELETE] = {"image_delete", "DELETE FROM images WHERE id = $1 AND owner_id = $2"},
    [ST_IMAGE_PLACEHOLDER] = {"image_placeholder",
                              "UPDATE images SET placeholder = $1 WHERE id = $2"},
    [ST_IMAGE_OWNED] = {"image_owned", "SELECT 1 FROM images WHERE id = $1 AND owner_id = $2"},
    [ST_TAG_INSERT] = {"tag_insert", "INSERT INTO image_tags (owner_id, shard, tag, image_id) "
                                     "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"},
    [ST_TAG_CLEAR] = {"tag_clear", "DELETE FROM image_tags WHERE image_id = $1"},
    [ST_VARIANT_INSERT] = {"variant_insert",
                           "INSERT INTO variants (key, shard, image_id, spec, format, width, "
                           "height, bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                           "ON CONFLICT (key) DO NOTHING"},
    [ST_VARIANT_COUNT] = {"variant_count", "SELECT count(*) FROM variants WHERE image_id = $1"},
    [ST_VARIANT_KEYS] = {"variant_keys",
                         "SELECT key FROM variants WHERE image_id = $1 ORDER BY key LIMIT $2"},
    [ST_KEY_INSERT] = {"key_insert", "INSERT INTO api_keys (id, shard, user_id, key_hash, name, "
                                     "scope, prefix, created_at) "
                                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"},
    [ST_KEY_COUNT] = {"key_count", "SELECT count(*) FROM api_keys WHERE user_id = $1"},
    [ST_KEY_LIST] = {"key_list", "SELECT " KEY_COLS "FROM api_keys k WHERE k.user_id = $1 "
                                 "ORDER BY k.id DESC LIMIT $2"},
    [ST_KEY_DELETE] = {"key_delete",
                       "DELETE FROM api_keys WHERE id = $1 AND user_id = $2 RETURNING key_hash"},
    [ST_KEY_UNINSERT] = {"key_uninsert", "DELETE FROM api_keys WHERE id = $1 AND key_hash = $2"},
    [ST_KEY_GET] = {"key_get", "SELECT " USER_COLS ", " KEY_COLS "FROM api_keys k "
                               "JOIN users u ON u.id = k.user_id "
                               "WHERE k.id = $1 AND k.key_hash = $2"},
    [ST_KEY_TOUCH] = {"key_touch", "UPDATE api_keys SET last_used_at = $1 WHERE id = $2"},
    [ST_KEY_INDEX_INSERT] = {"key_index_insert", "INSERT INTO key_index (key_hash, shard, key_id) "
                                                 "VALUES ($1, $2, $3)"},
    [ST_KEY_INDEX_GET] = {"key_index_get", "SELECT key_id FROM key_index WHERE key_hash = $1"},
    [ST_KEY_INDEX_DELETE] = {"key_index_delete",
                             "DELETE FROM key_index WHERE key_hash = $1 AND key_id = $2"},
    [ST_ALBUM_INSERT] = {"album_insert",
                         "INSERT INTO albums (id, shard, owner_id, title, description, created_at, "
                         "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"},
    [ST_ALBUM_COUNT] = {"album_count", "SELECT count(*) FROM albums WHERE owner_id = $1"},
    [ST_ALBUM_GET] = {"album_get", "SELECT " IMAGE_COLS ", " ALBUM_COLS ALBUM_FROM
                                   "WHERE a.id = $1 AND a.owner_id = $2"},
    [ST_ALBUM_LOCK] = {"album_lock",
                       "SELECT 1 FROM albums WHERE id = $1 AND owner_id = $2 FOR NO KEY UPDATE"},
    [ST_ALBUM_LIST] = {"album_list",
                       "SELECT " IMAGE_COLS ", " ALBUM_COLS ALBUM_FROM
                       "WHERE a.owner_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3"},
    [ST_ALBUM_UPDATE] = {"album_update",
                         "UPDATE albums SET title = $1, description = $2, cover_id = $3, "
                         "updated_at = $4 WHERE id = $5 AND owner_id = $6"},
    [ST_ALBUM_TOUCH] = {"album_touch",
                        "UPDATE albums SET updated_at = $1 WHERE id = $2 AND owner_id = $3"},
    [ST_ALBUM_DELETE] = {"album_delete", "DELETE FROM albums WHERE id = $1 AND owner_id = $2"},
    [ST_ALBUM_ADD] = {"album_add", "INSERT INTO album_images (album_id, image_id, shard) "
                                   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"},
    [ST_ALBUM_REMOVE] = {"album_remove",
                         "DELETE FROM album_images WHERE album_id = $1 AND image_id = $2"},
    [ST_ALBUM_UNCOVER] = {"album_uncover",
                          "UPDATE albums SET cover_id = NULL WHERE id = $1 AND NOT EXISTS "
                          "(SELECT 1 FROM album_images WHERE album_id = albums.id "
                          "AND image_id = albums.cover_id)"},
    [ST_ALBUM_HAS_IMAGE] = {"album_has_image",
                            "SELECT 1 FROM album_images WHERE album_id = $1 AND image_id = $2"},
    [ST_ALBUM_IMAGES] = {"album_images",
                         "SELECT " IMAGE_COLS "FROM album_images ai "
                         "JOIN images i ON i.id = ai.image_id JOIN users u ON u.id = i.owner_id "
                         "WHERE ai.album_id = $1 AND ai.image_id < $2 "
                         "ORDER BY ai.image_id DESC LIMIT $3"},
    [ST_LINK_PURGE] = {"link_purge", "DELETE FROM links WHERE owner_id = $1 AND expires_at != 0 "
                                     "AND expires_at <= $2"},
    [ST_LINK_INSERT_IMAGE] = {"link_insert_image",
                              "INSERT INTO links (id, shard, owner_id, image_id, expires_at, "
                              "created_at) SELECT $1, $2, owner_id, id, $3, $4 FROM images "
                              "WHERE id = $5 AND owner_id = $6"},
    [ST_LINK_INSERT_ALBUM] = {"link_insert_album",
                              "INSERT INTO links (id, shard, owner_id, album_id, expires_at, "
                              "created_at) SELECT $1, $2, owner_id, id, $3, $4 FROM albums "
                              "WHERE id = $5 AND owner_id = $6"},
    [ST_LINK_COUNT] = {"link_count", "SELECT count(*) FROM links WHERE owner_id = $1"},
    [ST_LINK_GET] = {"link_get", "SELECT " LINK_COLS "FROM links WHERE id = $1"},
    [ST_LINK_LIST] = {"link_list", "SELECT " LINK_COLS "FROM links WHERE owner_id = $1 AND "
                                   "(expires_at = 0 OR expires_at > $2) ORDER BY id DESC LIMIT $3"},
    [ST_LINK_DELETE] = {"link_delete", "DELETE FROM links WHERE id = $1 AND owner_id = $2"},
    [ST_KEYS_KNOWN] = {"keys_known",
                       "SELECT t.i FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) WHERE "
                       "EXISTS (SELECT 1 FROM images WHERE id = t.k AND blob_key = t.k) OR "
                       "EXISTS (SELECT 1 FROM variants WHERE key = t.k)"},
};

struct pconn {
    PGconn *pg;
    uint64_t prepared[(ST__COUNT + 63) / 64]; /* statements this connection has prepared */
    unsigned done;                            /* statements that succeeded in this unit of work */
    struct pconn *next;                       /* in the idle list */
};

struct server {
    char *url;          /* libpq URL; never logged (it may hold a password) */
    unsigned index;     /* in the --db list, for log lines */
    pthread_mutex_t mu; /* guards idle and open */
    pthread_cond_t cond;
    struct pconn *idle;
    unsigned open, max;
};

struct pg_store {
    struct meta_store base;
    struct server *servers;
    unsigned nservers;
    struct shardmap map;
};

static struct pg_store *store_of(struct meta_store *m)
{
    return (struct pg_store *)m;
}

/* ---- placement ---- */

static struct server *server_of_shard(struct pg_store *s, uint32_t shard)
{
    return &s->servers[s->map.server[shard % IDS_LOGICAL_SHARDS]];
}

static struct server *server_of_id(struct pg_store *s, uint64_t id)
{
    return server_of_shard(s, shardmap_of_id(id));
}

/* Rows owned by a user carry the owner's shard in their ids too: one server holds them all. */
static bool same_shard(uint64_t id, uint64_t owner_id)
{
    return shardmap_of_id(id) == shardmap_of_id(owner_id);
}

/* ---- connections ---- */

static void conn_free(struct pconn *c)
{
    PQfinish(c->pg);
    free(c);
}

/* Notices ("relation already exists, skipping") are chatter, not diagnostics. */
static void notice_drop(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static enum kho_err conn_new(struct server *sv, struct pconn **out)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {sv->url, CONNECT_TIMEOUT_S, "kho", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        metric_inc(M_DB_ERRORS);
        log_error("cannot connect to database server %u: %s", sv->index,
                  pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return KHO_E_BACKEND;
    }
    PQsetNoticeProcessor(pg, notice_drop, NULL);
    struct pconn *c = xcalloc(1, sizeof(*c));
    c->pg = pg;
    *out = c;
    return KHO_OK;
}

/* An idle connection, else a new one while the server has fewer than max, else wait for one.
 * *fresh says whether it was just made. */
static enum kho_err conn_take(struct server *sv, struct pconn **out, bool *fresh)
{
    pthread_mutex_lock(&sv->mu);
    while (!sv->idle && sv->open >= sv->max)
        pthread_cond_wait(&sv->cond, &sv->mu);
    if (sv->idle) {
        *out = sv->idle;
        sv->idle = sv->idle->next;
        pthread_mutex_unlock(&sv->mu);
        *fresh = false;
        return KHO_OK;
    }
    sv->open++;
    pthread_mutex_unlock(&sv->mu);
    *fresh = true;
    enum kho_err rc = conn_new(sv, out);
    if (rc) {
        pthread_mutex_lock(&sv->mu);
        sv->open--;
        pthread_cond_signal(&sv->cond);
        pthread_mutex_unlock(&sv->mu);
    }
    return rc;
}

/* Back to the pool, or closed when broken. A broken connection means the server went away:
 * the idle ones are most likely dead too, so they go as well and the next use reconnects. */
static void conn_give(struct server *sv, struct pconn *c)
{
    struct pconn *dead = NULL;
    pthread_mutex_lock(&sv->mu);
    if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        c->next = sv->idle;
        sv->idle = c;
    } else {
        c->next = sv->idle;
        dead = c;
        for (struct pconn *d = sv->idle; d; d = d->next)
            sv->open--;
        sv->open--;
        sv->idle = NULL;
    }
    pthread_cond_broadcast(&sv->cond);
    pthread_mutex_unlock(&sv->mu);
    for (struct pconn *d = dead, *next; d; d = next) {
        next = d->next;
        conn_free(d);
    }
}

/* ---- statements ---- */

/* One use of a prepared statement: parameters are added in order as text, pq_run executes it
 * and keeps the result for reading until pq_end. */
struct pq {
    struct pconn *c;
    enum stmt id;
    int n;
    const char *vals[PARAMS_MAX];
    char nums[PARAMS_MAX][32];
    PGresult *res;
};

static struct pq pq_begin(struct pconn *c, enum stmt id)
{
    struct pq q;
    q.c = c;
    q.id = id;
    q.n = 0;
    q.res = NULL;
    return q;
}

static void p_i64(struct pq *q, int64_t v)
{
    snprintf(q->nums[q->n], sizeof(q->nums[q->n]), "%lld", (long long)v);
    q->vals[q->n] = q->nums[q->n];
    q->n++;
}

static void p_id(struct pq *q, uint64_t id)
{
    p_i64(q, (int64_t)id);
}

/* Blob keys use all 64 bits and BIGINT is signed: keys cross by bit pattern. */
static void p_key(struct pq *q, uint64_t key)
{
    int64_t v;
    memcpy(&v, &key, sizeof(v));
    p_i64(q, v);
}

static void p_f64(struct pq *q, double v)
{
    snprintf(q->nums[q->n], sizeof(q->nums[q->n]), "%.17g", v);
    q->vals[q->n] = q->nums[q->n];
    q->n++;
}

/* Text must stay unchanged until pq_run: it is passed without a copy. */
static void p_text(struct pq *q, const char *s)
{
    q->vals[q->n++] = s;
}

static void p_null(struct pq *q)
{
    q->vals[q->n++] = NULL;
}

static enum kho_err result_fail(struct pconn *c, PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0)
        return KHO_E_EXISTS; /* unique_violation */
    if (state && strcmp(state, "23503") == 0)
        return KHO_E_NOTFOUND; /* foreign_key_violation: the user or image is gone */
    metric_inc(M_DB_ERRORS);
    log_error("postgres '%s' failed: %s", what, PQerrorMessage(c->pg));
    return KHO_E_BACKEND;
}

static bool result_ok(PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static enum kho_err pq_prepare(struct pconn *c, enum stmt id)
{
    uint64_t bit = 1ull << (id % 64);
    if (c->prepared[id / 64] & bit)
        return KHO_OK;
    PGresult *res = PQprepare(c->pg, stmts[id].name, stmts[id].sql, 0, NULL);
    enum kho_err rc = result_ok(res) ? KHO_OK : result_fail(c, res, stmts[id].name);
    PQclear(res);
    if (rc == KHO_OK)
        c->prepared[id / 64] |= bit;
    return rc;
}

static void pq_end(struct pq *q)
{
    PQclear(q->res);
    q->res = NULL;
}

/* Execute the statement; its rows stay readable until pq_end (which an error does already). */
static enum kho_err pq_run(struct pq *q)
{
    enum kho_err rc = pq_prepare(q->c, q->id);
    if (rc)
        return rc;
    q->res = PQexecPrepared(q->c->pg, stmts[q->id].name, q->n, q->vals, NULL, NULL, 0);
    if (!result_ok(q->res)) {
        rc = result_fail(q->c, q->res, stmts[q->id].name);
        pq_end(q);
        return rc;
    }
    q->c->done++;
    return KHO_OK;
}

static int pq_rows(const struct pq *q)
{
    return PQntuples(q->res);
}

/* Rows the statement inserted, updated or deleted. */
static int64_t pq_changes(const struct pq *q)
{
    return strtoll(PQcmdTuples(q->res), NULL, 10);
}

/* Run a statement that returns nothing to read, then end it. */
static enum kho_err pq_exec(struct pq *q)
{
    enum kho_err rc = pq_run(q);
    pq_end(q);
    return rc;
}

/* Run a statement that changes rows, then end it: KHO_E_NOTFOUND when none changed (its WHERE
 * names the owner, so someone else's row reads as no row). */
static enum kho_err pq_change(struct pq *q)
{
    enum kho_err rc = pq_run(q);
    if (rc)
        return rc;
    int64_t n = pq_changes(q);
    pq_end(q);
    return n ? KHO_OK : KHO_E_NOTFOUND;
}

/* Run a query for its first row: KHO_OK with the row readable until pq_end, KHO_E_NOTFOUND
 * (ended) when there is none. */
static enum kho_err pq_row(struct pq *q)
{
    enum kho_err rc = pq_run(q);
    if (rc)
        return rc;
    if (pq_rows(q) == 0) {
        pq_end(q);
        return KHO_E_NOTFOUND;
    }
    return KHO_OK;
}

static int64_t col_i64(const struct pq *q, int row, int col)
{
    return strtoll(PQgetvalue(q->res, row, col), NULL, 10); /* NULL reads as "" -> 0 */
}

static uint64_t col_key(const struct pq *q, int row, int col)
{
    int64_t v = col_i64(q, row, col);
    uint64_t key;
    memcpy(&key, &v, sizeof(key));
    return key;
}

static bool col_null(const struct pq *q, int row, int col)
{
    return PQgetisnull(q->res, row, col) != 0;
}

static void col_text(const struct pq *q, int row, int col, char *dst, size_t cap)
{
    size_t n = (size_t)PQgetlength(q->res, row, col);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, PQgetvalue(q->res, row, col), n);
    dst[n] = '\0';
}
#define COL_TEXT(q, row, col, arr) col_text(q, row, col, arr, sizeof(arr))

/* The first column of a one-row query (an aggregate), then end it. */
static enum kho_err pq_count(struct pq *q, int64_t *out)
{
    enum kho_err rc = pq_row(q);
    if (rc)
        return rc;
    *out = col_i64(q, 0, 0);
    pq_end(q);
    return KHO_OK;
}

/* Columns USER_COLS starting at col. */
static void row_user(const struct pq *q, int row, int col, struct meta_user *u)
{
    u->id = (uint64_t)col_i64(q, row, col);
    COL_TEXT(q, row, col + 1, u->username);
    COL_TEXT(q, row, col + 2, u->pwhash);
    u->created_at = col_i64(q, row, col + 3);
    COL_TEXT(q, row, col + 4, u->watermark);
}

/* Columns IMAGE_COLS starting at 0. */
static void row_image(const struct pq *q, int row, struct meta_image *img)
{
    img->id = (uint64_t)col_i64(q, row, 0);
    img->owner_id = (uint64_t)col_i64(q, row, 1);
    COL_TEXT(q, row, 2, img->owner_name);
    COL_TEXT(q, row, 3, img->title);
    COL_TEXT(q, row, 4, img->tags);
    img->visibility = (enum meta_visibility)col_i64(q, row, 5);
    COL_TEXT(q, row, 6, img->format);
    img->width = (int32_t)col_i64(q, row, 7);
    img->height = (int32_t)col_i64(q, row, 8);
    img->bytes = col_i64(q, row, 9);
    COL_TEXT(q, row, 10, img->sha256);
    img->created_at = col_i64(q, row, 11);
    img->blob_key = col_key(q, row, 12);
    img->alpha = col_i64(q, row, 13) != 0;
    img->taken_at = col_i64(q, row, 14);
    COL_TEXT(q, row, 15, img->camera_make);
    COL_TEXT(q, row, 16, img->camera_model);
    img->has_gps = col_i64(q, row, 17) != 0;
    /* NULL without a fix, which reads as 0.0; the text is what PostgreSQL printed. */
    img->gps_lat = col_null(q, row, 18) ? 0.0 : strtod(PQgetvalue(q->res, row, 18), NULL);
    img->gps_lon = col_null(q, row, 19) ? 0.0 : strtod(PQgetvalue(q->res, row, 19), NULL);
    COL_TEXT(q, row, 20, img->placeholder);
    COL_TEXT(q, row, 21, img->owner_watermark);
}

/* Columns KEY_COLS starting at col. */
static void row_key(const struct pq *q, int row, int col, struct meta_key *k)
{
    k->id = (uint64_t)col_i64(q, row, col);
    k->user_id = (uint64_t)col_i64(q, row, col + 1);
    COL_TEXT(q, row, col + 2, k->name);
    k->scope = (enum meta_scope)col_i64(q, row, col + 3);
    COL_TEXT(q, row, col + 4, k->prefix);
    k->created_at = col_i64(q, row, col + 5);
    k->last_used_at = col_i64(q, row, col + 6); /* NULL (never) reads as 0 */
}

/* Columns IMAGE_COLS (the cover, NULL without one) then ALBUM_COLS. */
static void row_album(const struct pq *q, int row, struct meta_album *a)
{
    int col = PQnfields(q->res) - ALBUM_NCOLS;
    a->has_cover = !col_null(q, row, 0);
    if (a->has_cover)
        row_image(q, row, &a->cover);
    else
        memset(&a->cover, 0, sizeof(a->cover));
    a->id = (uint64_t)col_i64(q, row, col);
    a->owner_id = (uint64_t)col_i64(q, row, col + 1);
    COL_TEXT(q, row, col + 2, a->title);
    COL_TEXT(q, row, col + 3, a->description);
    a->cover_id = (uint64_t)col_i64(q, row, col + 4); /* NULL reads as 0 */
    a->image_count = col_i64(q, row, col + 5);
    a->created_at = col_i64(q, row, col + 6);
    a->updated_at = col_i64(q, row, col + 7);
}

/* Columns LINK_COLS. */
static void row_link(const struct pq *q, int row, struct meta_link *l)
{
    bool image = !col_null(q, row, 2); /* the table holds exactly one */
    l->id = (uint64_t)col_i64(q, row, 0);
    l->owner_id = (uint64_t)col_i64(q, row, 1);
    l->kind = image ? META_LINK_IMAGE : META_LINK_ALBUM;
    l->target_id = (uint64_t)col_i64(q, row, image ? 2 : 3);
    l->expires_at = col_i64(q, row, 4);
    l->created_at = col_i64(q, row, 5);
}

/* Run a list query, storing each row through put (the SQL's LIMIT bounds them), then end it. */
static enum kho_err pq_list(struct pq *q, void (*put)(const struct pq *q, int row, void *out),
                            void *out, int *n)
{
    *n = 0;
    enum kho_err rc = pq_run(q);
    if (rc)
        return rc;
    int rows = pq_rows(q);
    for (int i = 0; i < rows; i++)
        put(q, i, out);
    *n = rows;
    pq_end(q);
    return KHO_OK;
}

static void put_image(const struct pq *q, int row, void *out)
{
    row_image(q, row, (struct meta_image *)out + row);
}

static void put_key(const struct pq *q, int row, void *out)
{
    row_key(q, row, 0, (struct meta_key *)out + row);
}

static void put_blob_key(const struct pq *q, int row, void *out)
{
    ((uint64_t *)out)[row] = col_key(q, row, 0);
}

static void put_album(const struct pq *q, int row, void *out)
{
    row_album(q, row, (struct meta_album *)out + row);
}

static void put_link(const struct pq *q, int row, void *out)
{
    row_link(q, row, (struct meta_link *)out + row);
}

/* ---- units of work ---- */

static enum kho_err simple_exec(struct pconn *c, const char *sql)
{
    PGresult *res = PQexec(c->pg, sql);
    enum kho_err rc = result_ok(res) ? KHO_OK : result_fail(c, res, sql);
    PQclear(res);
    if (rc == KHO_OK)
        c->done++;
    return rc;
}

typedef enum kho_err (*unit_fn)(struct pconn *c, void *arg);

/* Run fn on a connection to sv, in a transaction when txn (committed when fn returns KHO_OK,
 * else rolled back). A pooled connection found dead before anything ran on it (the server
 * restarted) is replaced once by a new one, so a comeback costs no request. */
static enum kho_err on_server(struct server *sv, bool txn, unit_fn fn, void *arg)
{
    enum kho_err rc = KHO_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct pconn *c;
        bool fresh;
        rc = conn_take(sv, &c, &fresh);
        if (rc)
            return rc;
        c->done = 0;
        if (txn) {
            metric_inc(M_DB_WRITES);
            rc = simple_exec(c, "BEGIN");
        } else {
            metric_inc(M_DB_READS);
        }
        if (rc == KHO_OK)
            rc = fn(c, arg);
        if (txn && c->done > 0) {
            if (rc == KHO_OK) {
                rc = simple_exec(c, "COMMIT");
                if (rc == KHO_OK)
                    metric_inc(M_DB_COMMITS);
            } else {
                simple_exec(c, "ROLLBACK"); /* rc already says what went wrong */
            }
        }
        bool retry =
            rc == KHO_E_BACKEND && c->done == 0 && !fresh && PQstatus(c->pg) != CONNECTION_OK;
        conn_give(sv, c);
        if (!retry)
            break;
    }
    return rc;
}

static enum kho_err on_read(struct server *sv, unit_fn fn, void *arg)
{
    return on_server(sv, false, fn, arg);
}

static enum kho_err on_write(struct server *sv, unit_fn fn, void *arg)
{
    return on_server(sv, true, fn, arg);
}

/* ---- shared reads ---- */

static enum kho_err user_by_id(struct pconn *c, uint64_t id, struct meta_user *out)
{
    struct pq q = pq_begin(c, ST_USER_BY_ID);
    p_id(&q, id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    row_user(&q, 0, 0, out);
    pq_end(&q);
    return KHO_OK;
}

/* A user's counters and overrides; lock holds the user's row until the transaction ends. */
static enum kho_err usage_read(struct pconn *c, uint64_t user_id, bool lock, struct meta_usage *out)
{
    struct pq q = pq_begin(c, lock ? ST_USER_LOCK : ST_USER_USAGE);
    p_id(&q, user_id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    out->images = col_i64(&q, 0, 0);
    out->bytes = col_i64(&q, 0, 1);
    out->quota_images = col_i64(&q, 0, 2);
    out->quota_bytes = col_i64(&q, 0, 3);
    pq_end(&q);
    return KHO_OK;
}

/* Take the owner's lock for a write checked against a per-user ceiling; KHO_E_NOTFOUND when
 * there is no such user. */
static enum kho_err user_lock(struct pconn *c, uint64_t user_id)
{
    struct meta_usage u;
    return usage_read(c, user_id, true, &u);
}

static enum kho_err image_read(struct pconn *c, enum stmt st, uint64_t id, struct meta_image *out)
{
    struct pq q = pq_begin(c, st);
    p_id(&q, id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    row_image(&q, 0, out);
    pq_end(&q);
    return KHO_OK;
}

static enum kho_err image_by_sha(struct pconn *c, uint64_t owner_id, const char *sha256,
                                 struct meta_image *out)
{
    struct pq q = pq_begin(c, ST_IMAGE_BY_SHA);
    p_id(&q, owner_id);
    p_text(&q, sha256);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    row_image(&q, 0, out);
    pq_end(&q);
    return KHO_OK;
}

/* 0 means "from the newest"; ids never reach INT64_MAX (41 bits of time until 2093). */
static int64_t before_bound(uint64_t before)
{
    return before ? (int64_t)before : INT64_MAX;
}

/* ---- users ---- */

static enum kho_err user_insert_u(struct pconn *c, void *arg)
{
    const struct meta_user *u = arg;
    struct pq q = pq_begin(c, ST_USER_INSERT);
    p_id(&q, u->id);
    p_i64(&q, shardmap_of_id(u->id));
    p_text(&q, u->username);
    p_text(&q, u->pwhash);
    p_i64(&q, u->created_at);
    return pq_exec(&q);
}

static enum kho_err pg_user_create(struct meta_store *m, struct meta_user *u)
{
    enum kho_err rc = check_user(u);
    if (rc)
        return rc;
    /* user_by_name finds a user on the shard of the name: the row must be there. */
    if (shardmap_of_id(u->id) != ids_name_shard(u->username)) {
        log_error("user '%s' has an id off its name's shard (--shard pins need sqlite)",
                  u->username);
        return KHO_E_INVALID;
    }
    u->created_at = now_ms();
    return on_write(server_of_id(store_of(m), u->id), user_insert_u, u);
}

struct user_read {
    uint64_t id;
    const char *name;
    struct meta_user *out;
};

static enum kho_err user_by_name_u(struct pconn *c, void *arg)
{
    struct user_read *a = arg;
    struct pq q = pq_begin(c, ST_USER_BY_NAME);
    p_text(&q, a->name);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    row_user(&q, 0, 0, a->out);
    pq_end(&q);
    return KHO_OK;
}

static enum kho_err pg_user_by_name(struct meta_store *m, const char *username,
                                    struct meta_user *out)
{
    if (!check_fits(username, 1, META_USERNAME_MAX + 1))
        return KHO_E_NOTFOUND;
    struct user_read a = {.name = username, .out = out};
    return on_read(server_of_shard(store_of(m), ids_name_shard(username)), user_by_name_u, &a);
}

static enum kho_err user_by_id_u(struct pconn *c, void *arg)
{
    struct user_read *a = arg;
    return user_by_id(c, a->id, a->out);
}

static enum kho_err pg_user_by_id(struct meta_store *m, uint64_t id, struct meta_user *out)
{
    struct user_read a = {.id = id, .out = out};
    return on_read(server_of_id(store_of(m), id), user_by_id_u, &a);
}

struct usage_args {
    uint64_t user_id;
    struct meta_usage *out;
};

static enum kho_err user_usage_u(struct pconn *c, void *arg)
{
    struct usage_args *a = arg;
    return usage_read(c, a->user_id, false, a->out);
}

static enum kho_err pg_user_usage(struct meta_store *m, uint64_t user_id, struct meta_usage *out)
{
    struct usage_args a = {user_id, out};
    return on_read(server_of_id(store_of(m), user_id), user_usage_u, &a);
}

struct quota_args {
    uint64_t user_id;
    unsigned mask;
    int64_t images, bytes;
};

/* An override as stored: NULL defers to the server. */
static void p_quota(struct pq *q, int64_t v)
{
    if (v == META_QUOTA_DEFAULT)
        p_null(q);
    else
        p_i64(q, v);
}

static enum kho_err user_quota_u(struct pconn *c, void *arg)
{
    const struct quota_args *a = arg;
    enum kho_err rc = user_lock(c, a->user_id); /* NOTFOUND for no such user */
    if (rc)
        return rc;
    if (a->mask & META_SET_QUOTA_IMAGES) {
        struct pq q = pq_begin(c, ST_USER_QUOTA_IMAGES);
        p_quota(&q, a->images);
        p_id(&q, a->user_id);
        rc = pq_exec(&q);
        if (rc)
            return rc;
    }
    if (a->mask & META_SET_QUOTA_BYTES) {
        struct pq q = pq_begin(c, ST_USER_QUOTA_BYTES);
        p_quota(&q, a->bytes);
        p_id(&q, a->user_id);
        rc = pq_exec(&q);
    }
    return rc;
}

static enum kho_err pg_user_set_quota(struct meta_store *m, uint64_t user_id, unsigned mask,
                                      int64_t images, int64_t bytes)
{
    enum kho_err rc = check_quota(mask, images, bytes);
    if (rc)
        return rc;
    struct quota_args a = {user_id, mask, images, bytes};
    return on_write(server_of_id(store_of(m), user_id), user_quota_u, &a);
}

/* One text column of one row, set by a statement "UPDATE ... SET col = $1 WHERE id = $2". */
struct set_text_args {
    enum stmt st;
    uint64_t id;
    const char *text;
};

static enum kho_err set_text_u(struct pconn *c, void *arg)
{
    const struct set_text_args *a = arg;
    struct pq q = pq_begin(c, a->st);
    p_text(&q, a->text);
    p_id(&q, a->id);
    return pq_change(&q);
}

static enum kho_err pg_user_set_watermark(struct meta_store *m, uint64_t user_id,
                                          const char *watermark)
{
    enum kho_err rc = check_watermark(watermark);
    if (rc)
        return rc;
    struct set_text_args a = {ST_USER_WATERMARK, user_id, watermark};
    return on_write(server_of_id(store_of(m), user_id), set_text_u, &a);
}

/* ---- sessions ---- */

struct session_args {
    const char *token_hash, *csrf_hash;
    uint64_t user_id;
    int64_t now, expires_at;
    struct meta_user *user; /* also read the user, on the same connection, when set */
    char *csrf_out;
};

static struct server *server_of_hash(struct pg_store *s, const char *hash)
{
    return server_of_shard(s, shardmap_of_hash(hash));
}

/* Where a session is: on the shard its token names (its user's), or for a token from before
 * tokens named one, on its hash's shard as they were placed then. NULL for no valid shard. */
static struct server *server_of_session(struct pg_store *s, uint32_t shard, const char *hash)
{
    if (shard == META_SHARD_UNKNOWN)
        return server_of_hash(s, hash);
    if (shard >= IDS_LOGICAL_SHARDS)
        return NULL;
    return server_of_shard(s, shard);
}

static enum kho_err session_insert_u(struct pconn *c, void *arg)
{
    const struct session_args *a = arg;
    /* Expired rows are trimmed a bounded batch at a time, piggybacking on logins. */
    struct pq q = pq_begin(c, ST_SESSION_PURGE);
    p_i64(&q, a->now);
    enum kho_err rc = pq_exec(&q);
    if (rc)
        return rc;
    q = pq_begin(c, ST_SESSION_INSERT);
    p_text(&q, a->token_hash);
    p_i64(&q, shardmap_of_id(a->user_id));
    p_text(&q, a->csrf_hash);
    p_id(&q, a->user_id);
    p_i64(&q, a->now);
    p_i64(&q, a->expires_at);
    return pq_exec(&q);
}

static enum kho_err pg_session_create(struct meta_store *m, const char *token_hash,
                                      const char *csrf_hash, uint64_t user_id, int64_t expires_at)
{
    if (!check_hex64(token_hash) || !check_hex64(csrf_hash))
        return KHO_E_INVALID;
    struct session_args a = {token_hash, csrf_hash, user_id, now_ms(), expires_at, NULL, NULL};
    return on_write(server_of_id(store_of(m), user_id), session_insert_u, &a);
}

static enum kho_err session_lookup_u(struct pconn *c, void *arg)
{
    struct session_args *a = arg;
    struct pq q = pq_begin(c, ST_SESSION_LOOKUP);
    p_text(&q, a->token_hash);
    p_i64(&q, a->now);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    a->user_id = (uint64_t)col_i64(&q, 0, 0);
    col_text(&q, 0, 1, a->csrf_out, 65);
    a->expires_at = col_i64(&q, 0, 2);
    pq_end(&q);
    if (!a->user)
        return KHO_OK;
    return user_by_id(c, a->user_id, a->user);
}

static enum kho_err pg_session_lookup(struct meta_store *m, uint32_t shard, const char *token_hash,
                                      int64_t now, struct meta_user *user, char csrf_hash[65],
                                      int64_t *expires_at)
{
    struct pg_store *s = store_of(m);
    struct server *sv = server_of_session(s, shard, token_hash);
    if (!sv || !check_hex64(token_hash))
        return KHO_E_NOTFOUND;
    /* The session and its user share a shard, so one server answers both point reads; only a
     * token without a shard needs its hash's server and then the user's. */
    struct session_args a = {.token_hash = token_hash,
                             .now = now,
                             .csrf_out = csrf_hash,
                             .user = shard == META_SHARD_UNKNOWN ? NULL : user};
    enum kho_err rc = on_read(sv, session_lookup_u, &a);
    if (rc)
        return rc;
    *expires_at = a.expires_at;
    if (a.user)
        return KHO_OK;
    return pg_user_by_id(m, a.user_id, user);
}

static enum kho_err session_delete_u(struct pconn *c, void *arg)
{
    const struct session_args *a = arg;
    struct pq q = pq_begin(c, ST_SESSION_DELETE);
    p_text(&q, a->token_hash);
    return pq_change(&q);
}

static enum kho_err pg_session_delete(struct meta_store *m, uint32_t shard, const char *token_hash)
{
    struct server *sv = server_of_session(store_of(m), shard, token_hash);
    if (!sv || !check_hex64(token_hash))
        return KHO_E_NOTFOUND;
    struct session_args a = {.token_hash = token_hash};
    return on_write(sv, session_delete_u, &a);
}

/* ---- images ---- */

/* Rebuild image_tags for one image from its comma-joined tags (already checked). */
static enum kho_err tags_write(struct pconn *c, uint64_t owner_id, uint64_t image_id,
                               const char *tags, bool clear)
{
    enum kho_err rc;
    if (clear) {
        struct pq q = pq_begin(c, ST_TAG_CLEAR);
        p_id(&q, image_id);
        rc = pq_exec(&q);
        if (rc)
            return rc;
    }
    for (const char *p = tags; *p;) {
        char tag[META_TAG_MAX + 1];
        size_t len = strcspn(p, ",");
        memcpy(tag, p, len); /* tags_check bounded len by META_TAG_MAX */
        tag[len] = '\0';
        struct pq q = pq_begin(c, ST_TAG_INSERT);
        p_id(&q, owner_id);
        p_i64(&q, shardmap_of_id(image_id));
        p_text(&q, tag);
        p_id(&q, image_id);
        rc = pq_exec(&q);
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

static enum kho_err image_insert_u(struct pconn *c, void *arg)
{
    const struct insert_args *a = arg;
    struct meta_image *img = a->img;
    /* The owner's row lock makes concurrent uploads of one user take turns, so they cannot
     * both take the last place of a quota. */
    struct meta_usage u;
    enum kho_err rc = usage_read(c, img->owner_id, true, &u);
    if (rc)
        return rc;
    struct pq q = pq_begin(c, ST_IMAGE_INSERT);
    p_id(&q, img->id);
    p_i64(&q, shardmap_of_id(img->id));
    p_id(&q, img->owner_id);
    p_text(&q, img->title);
    p_text(&q, img->tags);
    p_i64(&q, img->visibility);
    p_text(&q, img->format);
    p_i64(&q, img->width);
    p_i64(&q, img->height);
    p_i64(&q, img->bytes);
    p_text(&q, img->sha256);
    p_i64(&q, img->created_at);
    p_key(&q, img->blob_key);
    p_i64(&q, img->alpha);
    p_i64(&q, img->taken_at);
    p_text(&q, img->camera_make);
    p_text(&q, img->camera_model);
    p_i64(&q, img->has_gps);
    if (img->has_gps) {
        p_f64(&q, img->gps_lat);
        p_f64(&q, img->gps_lon);
    } else {
        p_null(&q);
        p_null(&q);
    }
    p_text(&q, img->placeholder);
    rc = pq_run(&q);
    if (rc)
        return rc;
    int64_t inserted = pq_changes(&q);
    pq_end(&q);
    if (!inserted) {
        /* Per-user dedup; a clash on id alone (a caller bug) leaves *img as it was. */
        enum kho_err found = image_by_sha(c, img->owner_id, img->sha256, img);
        return found == KHO_OK || found == KHO_E_NOTFOUND ? KHO_E_EXISTS : found;
    }
    /* After the dedup, so a duplicate never meets the quota; a refusal rolls the insert back. */
    rc = meta_quota_check(&u, img->bytes, a->quota);
    if (rc)
        return rc;
    q = pq_begin(c, ST_USER_COUNT);
    p_i64(&q, 1);
    p_i64(&q, img->bytes);
    p_id(&q, img->owner_id);
    rc = pq_exec(&q);
    if (rc)
        return rc;
    rc = tags_write(c, img->owner_id, img->id, img->tags, false);
    if (rc)
        return rc;
    return image_read(c, ST_IMAGE_GET, img->id, img); /* fills owner_name */
}

static enum kho_err pg_image_insert(struct meta_store *m, struct meta_image *img,
                                    struct meta_quota *quota)
{
    quota->over = META_QUOTA_NONE;
    enum kho_err rc = check_image(img);
    if (rc)
        return rc;
    if (!same_shard(img->id, img->owner_id))
        return KHO_E_INVALID;
    if (img->created_at == 0)
        img->created_at = now_ms();
    struct insert_args a = {img, quota};
    return on_write(server_of_id(store_of(m), img->id), image_insert_u, &a);
}

struct image_read_args {
    uint64_t id, owner_id;
    const char *sha256;
    struct meta_image *out;
};

static enum kho_err image_get_u(struct pconn *c, void *arg)
{
    struct image_read_args *a = arg;
    return image_read(c, ST_IMAGE_GET, a->id, a->out);
}

static enum kho_err pg_image_get(struct meta_store *m, uint64_t id, struct meta_image *out)
{
    struct image_read_args a = {.id = id, .out = out};
    return on_read(server_of_id(store_of(m), id), image_get_u, &a);
}

static enum kho_err image_by_sha_u(struct pconn *c, void *arg)
{
    struct image_read_args *a = arg;
    return image_by_sha(c, a->owner_id, a->sha256, a->out);
}

static enum kho_err pg_image_by_sha(struct meta_store *m, uint64_t owner_id, const char *sha256,
                                    struct meta_image *out)
{
    if (!check_hex64(sha256))
        return KHO_E_NOTFOUND;
    struct image_read_args a = {.owner_id = owner_id, .sha256 = sha256, .out = out};
    return on_read(server_of_id(store_of(m), owner_id), image_by_sha_u, &a);
}

/* One newest-first keyset page: statement st takes (key, if keyed), (tag, if set), then the
 * cursor and the limit, and each row goes through put into out. */
struct page_args {
    enum stmt st;
    bool keyed;
    uint64_t key;
    const char *tag;
    uint64_t before;
    int limit;
    void (*put)(const struct pq *q, int row, void *out);
    void *out;
    int *n;
};

static enum kho_err page_u(struct pconn *c, void *arg)
{
    struct page_args *a = arg;
    struct pq q = pq_begin(c, a->st);
    if (a->keyed)
        p_id(&q, a->key);
    if (a->tag)
        p_text(&q, a->tag);
    p_i64(&q, before_bound(a->before));
    p_i64(&q, a->limit);
    return pq_list(&q, a->put, a->out, a->n);
}

/* Read the page a describes from sv (after checking its limit). */
static enum kho_err page_read(struct server *sv, struct page_args *a)
{
    *a->n = 0;
    enum kho_err rc = check_limit(a->limit);
    if (rc)
        return rc;
    return on_read(sv, page_u, a);
}

static enum kho_err pg_image_list_owner(struct meta_store *m, uint64_t owner_id, const char *tag,
                                        uint64_t before, int limit, struct meta_image *out, int *n)
{
    *n = 0;
    if (tag && !check_fits(tag, 1, META_TAG_MAX + 1))
        return check_limit(limit); /* no image can carry such a tag */
    struct page_args a = {.st = tag ? ST_IMAGE_LIST_TAG : ST_IMAGE_LIST_OWNER,
                          .keyed = true,
                          .key = owner_id,
                          .tag = tag,
                          .before = before,
                          .limit = limit,
                          .put = put_image,
                          .out = out,
                          .n = n};
    return page_read(server_of_id(store_of(m), owner_id), &a);
}

int pg_merge_newest(const struct meta_image *a, int na, const struct meta_image *b, int nb,
                    int limit, struct meta_image *out)
{
    int i = 0, j = 0, n = 0;
    while (n < limit && (i < na || j < nb)) {
        if (j >= nb || (i < na && a[i].id >= b[j].id))
            out[n++] = a[i++];
        else
            out[n++] = b[j++];
    }
    return n;
}

/* Every server's newest public images before the cursor, merged by id: each server's page is
 * the best limit it has, so the merged first limit are the feed's (keyset across shards). */
static enum kho_err pg_image_list_public(struct meta_store *m, uint64_t before, int limit,
                                         struct meta_image *out, int *n)
{
    struct pg_store *s = store_of(m);
    struct page_args a = {.st = ST_IMAGE_LIST_PUBLIC,
                          .before = before,
                          .limit = limit,
                          .put = put_image,
                          .out = out,
                          .n = n};
    enum kho_err rc = page_read(&s->servers[0], &a);
    if (rc || s->nservers == 1)
        return rc;
    struct meta_image *page = xmalloc((size_t)limit * sizeof(*page));
    struct meta_image *merged = xmalloc((size_t)limit * sizeof(*merged));
    for (unsigned i = 1; i < s->nservers && rc == KHO_OK; i++) {
        int got = 0;
        struct page_args b = a;
        b.out = page;
        b.n = &got;
        rc = page_read(&s->servers[i], &b);
        if (rc == KHO_OK) {
            *n = pg_merge_newest(out, *n, page, got, limit, merged);
            memcpy(out, merged, (size_t)*n * sizeof(*out));
        }
    }
    free(page);
    free(merged);
    if (rc)
        *n = 0;
    return rc;
}

struct change_args {
    uint64_t id, owner_id;
    unsigned mask;
    struct meta_image *img;
};

static enum kho_err image_update_u(struct pconn *c, void *arg)
{
    const struct change_args *a = arg;
    struct meta_image cur;
    enum kho_err rc = image_read(c, ST_IMAGE_GET_LOCK, a->id, &cur);
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
    struct pq q = pq_begin(c, ST_IMAGE_UPDATE);
    p_text(&q, cur.title);
    p_text(&q, cur.tags);
    p_i64(&q, cur.visibility);
    p_id(&q, a->id);
    p_id(&q, a->owner_id);
    rc = pq_exec(&q);
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

static enum kho_err pg_image_update(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                    unsigned mask, struct meta_image *img)
{
    enum kho_err rc = check_image_update(mask, img);
    if (rc)
        return rc;
    struct change_args a = {id, owner_id, mask, img};
    return on_write(server_of_id(store_of(m), id), image_update_u, &a);
}

static enum kho_err image_delete_u(struct pconn *c, void *arg)
{
    const struct change_args *a = arg;
    enum kho_err rc = image_read(c, ST_IMAGE_GET_LOCK, a->id, a->img);
    if (rc)
        return rc;
    if (a->img->owner_id != a->owner_id)
        return KHO_E_NOTFOUND;
    /* image_tags, variants, album_images and links rows go with it (ON DELETE CASCADE). */
    struct pq q = pq_begin(c, ST_IMAGE_DELETE);
    p_id(&q, a->id);
    p_id(&q, a->owner_id);
    rc = pq_exec(&q);
    if (rc)
        return rc;
    q = pq_begin(c, ST_USER_COUNT);
    p_i64(&q, -1);
    p_i64(&q, -a->img->bytes);
    p_id(&q, a->owner_id);
    return pq_exec(&q);
}

static enum kho_err pg_image_delete(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                    struct meta_image *out)
{
    struct change_args a = {id, owner_id, 0, out};
    return on_write(server_of_id(store_of(m), id), image_delete_u, &a);
}

static enum kho_err pg_image_set_placeholder(struct meta_store *m, uint64_t id,
                                             const char *placeholder)
{
    enum kho_err rc = check_placeholder(placeholder);
    if (rc)
        return rc;
    struct set_text_args a = {ST_IMAGE_PLACEHOLDER, id, placeholder};
    return on_write(server_of_id(store_of(m), id), set_text_u, &a);
}

/* ---- variants ---- */

static enum kho_err variant_insert_u(struct pconn *c, void *arg)
{
    const struct meta_variant *v = arg;
    /* The image's lock makes inserts for one image take turns (so the ceiling holds) and
     * tells a deleted image apart: KHO_E_NOTFOUND. */
    struct pq q = pq_begin(c, ST_IMAGE_LOCK);
    p_id(&q, v->image_id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    pq_end(&q);
    q = pq_begin(c, ST_VARIANT_INSERT);
    p_key(&q, v->key);
    p_i64(&q, shardmap_of_id(v->image_id));
    p_id(&q, v->image_id);
    p_text(&q, v->spec);
    p_text(&q, v->format);
    p_i64(&q, v->width);
    p_i64(&q, v->height);
    p_i64(&q, v->bytes);
    p_i64(&q, v->created_at);
    rc = pq_run(&q);
    if (rc)
        return rc;
    int64_t inserted = pq_changes(&q);
    pq_end(&q);
    if (!inserted)
        return KHO_OK; /* already recorded */
    int64_t count = 0;
    q = pq_begin(c, ST_VARIANT_COUNT);
    p_id(&q, v->image_id);
    rc = pq_count(&q, &count);
    if (rc)
        return rc;
    return count > META_VARIANTS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err pg_variant_insert(struct meta_store *m, const struct meta_variant *v)
{
    enum kho_err rc = check_variant(v);
    if (rc)
        return rc;
    struct meta_variant rec = *v;
    if (rec.created_at == 0)
        rec.created_at = now_ms();
    return on_write(server_of_id(store_of(m), v->image_id), variant_insert_u, &rec);
}

struct keys_args {
    uint64_t id;
    int max;
    void *out;
    int *n;
};

static enum kho_err variant_keys_u(struct pconn *c, void *arg)
{
    struct keys_args *a = arg;
    struct pq q = pq_begin(c, ST_VARIANT_KEYS);
    p_id(&q, a->id);
    p_i64(&q, a->max);
    return pq_list(&q, put_blob_key, a->out, a->n);
}

static enum kho_err pg_variant_keys(struct meta_store *m, uint64_t image_id, uint64_t *keys,
                                    int max, int *n)
{
    *n = 0;
    enum kho_err rc = check_max(max, META_VARIANTS_MAX);
    if (rc)
        return rc;
    struct keys_args a = {image_id, max, keys, n};
    return on_read(server_of_id(store_of(m), image_id), variant_keys_u, &a);
}

/* ---- API keys ---- */

struct key_args {
    struct meta_key *k;
    const char *hash;
    uint64_t id, user_id;
    int64_t at;
    char hash_out[65];
    struct meta_user *user;
};

static enum kho_err key_insert_u(struct pconn *c, void *arg)
{
    const struct key_args *a = arg;
    enum kho_err rc = user_lock(c, a->k->user_id); /* NOTFOUND for no such user */
    if (rc)
        return rc;
    struct pq q = pq_begin(c, ST_KEY_INSERT);
    p_id(&q, a->k->id);
    p_i64(&q, shardmap_of_id(a->k->id));
    p_id(&q, a->k->user_id);
    p_text(&q, a->hash);
    p_text(&q, a->k->name);
    p_i64(&q, a->k->scope);
    p_text(&q, a->k->prefix);
    p_i64(&q, a->k->created_at);
    rc = pq_exec(&q);
    if (rc)
        return rc;
    int64_t count = 0;
    q = pq_begin(c, ST_KEY_COUNT);
    p_id(&q, a->k->user_id);
    rc = pq_count(&q, &count);
    if (rc)
        return rc;
    return count > META_KEYS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err key_index_insert_u(struct pconn *c, void *arg)
{
    const struct key_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_INDEX_INSERT);
    p_text(&q, a->hash);
    p_i64(&q, shardmap_of_hash(a->hash));
    p_id(&q, a->k->id);
    return pq_exec(&q);
}

static enum kho_err key_uninsert_u(struct pconn *c, void *arg)
{
    const struct key_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_UNINSERT);
    p_id(&q, a->k->id);
    p_text(&q, a->hash);
    return pq_exec(&q);
}

/* The key goes on its owner's shard (listing, counting and revoking stay there), then its hash
 * into key_index on the hash's shard. Should the second write fail, the first is undone; if
 * even that fails the key is unreachable (no index row), so nothing is left that works. */
static enum kho_err pg_key_create(struct meta_store *m, struct meta_key *k, const char *key_hash)
{
    enum kho_err rc = check_key(k, key_hash);
    if (rc)
        return rc;
    if (!same_shard(k->id, k->user_id))
        return KHO_E_INVALID;
    k->created_at = now_ms();
    k->last_used_at = 0;
    struct pg_store *s = store_of(m);
    struct key_args a = {.k = k, .hash = key_hash};
    struct server *home = server_of_id(s, k->id);
    rc = on_write(home, key_insert_u, &a);
    if (rc)
        return rc;
    rc = on_write(server_of_hash(s, key_hash), key_index_insert_u, &a);
    if (rc && on_write(home, key_uninsert_u, &a) != KHO_OK)
        log_error("api key %llu is left without its index entry", (unsigned long long)k->id);
    return rc;
}

static enum kho_err key_list_u(struct pconn *c, void *arg)
{
    struct keys_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_LIST);
    p_id(&q, a->id);
    p_i64(&q, a->max);
    return pq_list(&q, put_key, a->out, a->n);
}

static enum kho_err pg_key_list(struct meta_store *m, uint64_t user_id, struct meta_key *out,
                                int max, int *n)
{
    *n = 0;
    enum kho_err rc = check_max(max, META_KEYS_MAX);
    if (rc)
        return rc;
    struct keys_args a = {user_id, max, out, n};
    return on_read(server_of_id(store_of(m), user_id), key_list_u, &a);
}

static enum kho_err key_delete_u(struct pconn *c, void *arg)
{
    struct key_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_DELETE);
    p_id(&q, a->id);
    p_id(&q, a->user_id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    COL_TEXT(&q, 0, 0, a->hash_out);
    pq_end(&q);
    return KHO_OK;
}

static enum kho_err key_index_delete_u(struct pconn *c, void *arg)
{
    const struct key_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_INDEX_DELETE);
    p_text(&q, a->hash_out);
    p_id(&q, a->id);
    return pq_exec(&q);
}

/* The key row goes first, which revokes it; a key_index row left behind (its server down)
 * finds no key, so it only takes space. */
static enum kho_err pg_key_delete(struct meta_store *m, uint64_t id, uint64_t user_id,
                                  char key_hash[65])
{
    struct pg_store *s = store_of(m);
    struct key_args a = {.id = id, .user_id = user_id};
    enum kho_err rc = on_write(server_of_id(s, id), key_delete_u, &a);
    if (rc)
        return rc;
    memcpy(key_hash, a.hash_out, 65);
    if (on_write(server_of_hash(s, a.hash_out), key_index_delete_u, &a) != KHO_OK)
        log_warn("api key %llu revoked, its index entry left behind", (unsigned long long)id);
    return KHO_OK;
}

static enum kho_err key_index_get_u(struct pconn *c, void *arg)
{
    struct key_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_INDEX_GET);
    p_text(&q, a->hash);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    a->id = (uint64_t)col_i64(&q, 0, 0);
    pq_end(&q);
    return KHO_OK;
}

static enum kho_err key_get_u(struct pconn *c, void *arg)
{
    struct key_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_GET);
    p_id(&q, a->id);
    p_text(&q, a->hash);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    row_user(&q, 0, 0, a->user);
    row_key(&q, 0, USER_NCOLS, a->k);
    pq_end(&q);
    return KHO_OK;
}

static enum kho_err pg_key_lookup(struct meta_store *m, const char *key_hash,
                                  struct meta_user *user, struct meta_key *key)
{
    if (!check_hex64(key_hash))
        return KHO_E_NOTFOUND;
    struct pg_store *s = store_of(m);
    struct key_args a = {.k = key, .hash = key_hash, .user = user};
    enum kho_err rc = on_read(server_of_hash(s, key_hash), key_index_get_u, &a);
    if (rc)
        return rc;
    return on_read(server_of_id(s, a.id), key_get_u, &a);
}

static enum kho_err key_touch_u(struct pconn *c, void *arg)
{
    const struct key_args *a = arg;
    struct pq q = pq_begin(c, ST_KEY_TOUCH);
    p_i64(&q, a->at);
    p_id(&q, a->id);
    return pq_exec(&q);
}

static enum kho_err pg_key_touch(struct meta_store *m, uint64_t id, int64_t at)
{
    struct key_args a = {.id = id, .at = at};
    return on_write(server_of_id(store_of(m), id), key_touch_u, &a);
}

/* ---- albums ---- */

static enum kho_err album_by_id(struct pconn *c, uint64_t id, uint64_t owner_id,
                                struct meta_album *out)
{
    struct pq q = pq_begin(c, ST_ALBUM_GET);
    p_id(&q, id);
    p_id(&q, owner_id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    row_album(&q, 0, out);
    pq_end(&q);
    return KHO_OK;
}

static enum kho_err album_create_u(struct pconn *c, void *arg)
{
    const struct meta_album *a = arg;
    enum kho_err rc = user_lock(c, a->owner_id); /* NOTFOUND for no such user */
    if (rc)
        return rc;
    struct pq q = pq_begin(c, ST_ALBUM_INSERT);
    p_id(&q, a->id);
    p_i64(&q, shardmap_of_id(a->id));
    p_id(&q, a->owner_id);
    p_text(&q, a->title);
    p_text(&q, a->description);
    p_i64(&q, a->created_at);
    p_i64(&q, a->updated_at);
    rc = pq_exec(&q);
    if (rc)
        return rc;
    int64_t count = 0;
    q = pq_begin(c, ST_ALBUM_COUNT);
    p_id(&q, a->owner_id);
    rc = pq_count(&q, &count);
    if (rc)
        return rc;
    return count > META_ALBUMS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err pg_album_create(struct meta_store *m, struct meta_album *a)
{
    enum kho_err rc = check_album_new(a);
    if (rc)
        return rc;
    if (!same_shard(a->id, a->owner_id))
        return KHO_E_INVALID;
    a->created_at = a->updated_at = now_ms();
    a->cover_id = 0;
    a->image_count = 0;
    a->has_cover = false;
    memset(&a->cover, 0, sizeof(a->cover));
    return on_write(server_of_id(store_of(m), a->id), album_create_u, a);
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

static enum kho_err album_get_u(struct pconn *c, void *arg)
{
    struct album_args *x = arg;
    return album_by_id(c, x->id, x->owner_id, x->a);
}

static enum kho_err pg_album_get(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                 struct meta_album *out)
{
    struct album_args x = {.id = id, .owner_id = owner_id, .a = out};
    return on_read(server_of_id(store_of(m), id), album_get_u, &x);
}

static enum kho_err pg_album_list(struct meta_store *m, uint64_t owner_id, uint64_t before,
                                  int limit, struct meta_album *out, int *n)
{
    struct page_args a = {.st = ST_ALBUM_LIST,
                          .keyed = true,
                          .key = owner_id,
                          .before = before,
                          .limit = limit,
                          .put = put_album,
                          .out = out,
                          .n = n};
    return page_read(server_of_id(store_of(m), owner_id), &a);
}

static enum kho_err album_has(struct pconn *c, uint64_t album_id, uint64_t image_id)
{
    struct pq q = pq_begin(c, ST_ALBUM_HAS_IMAGE);
    p_id(&q, album_id);
    p_id(&q, image_id);
    enum kho_err rc = pq_row(&q);
    if (rc == KHO_OK)
        pq_end(&q);
    return rc;
}

static enum kho_err album_update_u(struct pconn *c, void *arg)
{
    const struct album_args *x = arg;
    struct pq q = pq_begin(c, ST_ALBUM_LOCK);
    p_id(&q, x->id);
    p_id(&q, x->owner_id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    pq_end(&q);
    struct meta_album cur;
    rc = album_by_id(c, x->id, x->owner_id, &cur);
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
    q = pq_begin(c, ST_ALBUM_UPDATE);
    p_text(&q, cur.title);
    p_text(&q, cur.description);
    if (cur.cover_id)
        p_id(&q, cur.cover_id);
    else
        p_null(&q);
    p_i64(&q, x->now);
    p_id(&q, x->id);
    p_id(&q, x->owner_id);
    rc = pq_exec(&q);
    if (rc)
        return rc;
    return album_by_id(c, x->id, x->owner_id, x->a); /* the cover may have changed */
}

static enum kho_err pg_album_update(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                    unsigned mask, struct meta_album *a)
{
    enum kho_err rc = check_album(mask, a);
    if (rc)
        return rc;
    struct album_args x = {.id = id, .owner_id = owner_id, .mask = mask, .a = a, .now = now_ms()};
    return on_write(server_of_id(store_of(m), id), album_update_u, &x);
}

static enum kho_err album_delete_u(struct pconn *c, void *arg)
{
    const struct album_args *x = arg;
    /* album_images and links rows go with it through ON DELETE CASCADE. */
    struct pq q = pq_begin(c, ST_ALBUM_DELETE);
    p_id(&q, x->id);
    p_id(&q, x->owner_id);
    return pq_change(&q);
}

static enum kho_err pg_album_delete(struct meta_store *m, uint64_t id, uint64_t owner_id)
{
    struct album_args x = {.id = id, .owner_id = owner_id};
    return on_write(server_of_id(store_of(m), id), album_delete_u, &x);
}

/* Owner's album: its updated_at moves to now (locking it until the end), or KHO_E_NOTFOUND. */
static enum kho_err album_touch(struct pconn *c, const struct album_args *x)
{
    struct pq q = pq_begin(c, ST_ALBUM_TOUCH);
    p_i64(&q, x->now);
    p_id(&q, x->id);
    p_id(&q, x->owner_id);
    return pq_change(&q);
}

static enum kho_err album_add_u(struct pconn *c, void *arg)
{
    const struct album_args *x = arg;
    enum kho_err rc = album_touch(c, x);
    if (rc)
        return rc;
    /* Any failure below returns an error, and the rollback undoes every row. */
    for (int i = 0; i < x->n; i++) {
        struct pq q = pq_begin(c, ST_IMAGE_OWNED);
        p_id(&q, x->ids[i]);
        p_id(&q, x->owner_id);
        rc = pq_row(&q);
        if (rc == KHO_E_NOTFOUND)
            *x->missing = x->ids[i];
        if (rc)
            return rc;
        pq_end(&q);
        q = pq_begin(c, ST_ALBUM_ADD);
        p_id(&q, x->id);
        p_id(&q, x->ids[i]);
        p_i64(&q, shardmap_of_id(x->id));
        rc = pq_exec(&q);
        if (rc)
            return rc;
    }
    rc = album_by_id(c, x->id, x->owner_id, x->a);
    if (rc)
        return rc;
    return x->a->image_count > META_ALBUM_IMAGES_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err album_remove_u(struct pconn *c, void *arg)
{
    const struct album_args *x = arg;
    enum kho_err rc = album_touch(c, x);
    if (rc)
        return rc;
    for (int i = 0; i < x->n; i++) {
        struct pq q = pq_begin(c, ST_ALBUM_REMOVE);
        p_id(&q, x->id);
        p_id(&q, x->ids[i]);
        rc = pq_exec(&q);
        if (rc)
            return rc;
    }
    struct pq q = pq_begin(c, ST_ALBUM_UNCOVER);
    p_id(&q, x->id);
    rc = pq_exec(&q);
    if (rc)
        return rc;
    return album_by_id(c, x->id, x->owner_id, x->a);
}

static enum kho_err pg_album_add_images(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                        const uint64_t *ids, int n, uint64_t *missing,
                                        struct meta_album *out)
{
    *missing = 0;
    enum kho_err rc = check_batch(n);
    if (rc)
        return rc;
    struct album_args x = {.id = id,
                           .owner_id = owner_id,
                           .ids = ids,
                           .n = n,
                           .missing = missing,
                           .a = out,
                           .now = now_ms()};
    return on_write(server_of_id(store_of(m), id), album_add_u, &x);
}

static enum kho_err pg_album_remove_images(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                           const uint64_t *ids, int n, struct meta_album *out)
{
    enum kho_err rc = check_batch(n);
    if (rc)
        return rc;
    struct album_args x = {
        .id = id, .owner_id = owner_id, .ids = ids, .n = n, .a = out, .now = now_ms()};
    return on_write(server_of_id(store_of(m), id), album_remove_u, &x);
}

static enum kho_err pg_album_images(struct meta_store *m, uint64_t album_id, uint64_t before,
                                    int limit, struct meta_image *out, int *n)
{
    struct page_args a = {.st = ST_ALBUM_IMAGES,
                          .keyed = true,
                          .key = album_id,
                          .before = before,
                          .limit = limit,
                          .put = put_image,
                          .out = out,
                          .n = n};
    return page_read(server_of_id(store_of(m), album_id), &a);
}

static enum kho_err album_has_image_u(struct pconn *c, void *arg)
{
    struct album_args *x = arg;
    return album_has(c, x->id, x->ids[0]);
}

static enum kho_err pg_album_has_image(struct meta_store *m, uint64_t album_id, uint64_t image_id)
{
    struct album_args x = {.id = album_id, .ids = &image_id, .n = 1};
    return on_read(server_of_id(store_of(m), album_id), album_has_image_u, &x);
}

/* ---- share links ---- */

struct link_args {
    struct meta_link *l;
    uint64_t id, owner_id;
    int64_t now;
    int max;
    int *n;
};

static enum kho_err link_create_u(struct pconn *c, void *arg)
{
    const struct link_args *x = arg;
    const struct meta_link *l = x->l;
    enum kho_err rc = user_lock(c, l->owner_id);
    if (rc)
        return rc;
    /* Expired links are the owner's to purge: they no longer count against the ceiling. */
    struct pq q = pq_begin(c, ST_LINK_PURGE);
    p_id(&q, l->owner_id);
    p_i64(&q, x->now);
    rc = pq_exec(&q);
    if (rc)
        return rc;
    q = pq_begin(c, l->kind == META_LINK_IMAGE ? ST_LINK_INSERT_IMAGE : ST_LINK_INSERT_ALBUM);
    p_id(&q, l->id);
    p_i64(&q, shardmap_of_id(l->id));
    p_i64(&q, l->expires_at);
    p_i64(&q, l->created_at);
    p_id(&q, l->target_id);
    p_id(&q, l->owner_id);
    rc = pq_change(&q);
    if (rc)
        return rc;
    int64_t count = 0;
    q = pq_begin(c, ST_LINK_COUNT);
    p_id(&q, l->owner_id);
    rc = pq_count(&q, &count);
    if (rc)
        return rc;
    return count > META_LINKS_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

static enum kho_err pg_link_create(struct meta_store *m, struct meta_link *l, int64_t now)
{
    enum kho_err rc = check_link(l);
    if (rc)
        return rc;
    if (!same_shard(l->id, l->owner_id))
        return KHO_E_INVALID;
    l->created_at = now;
    struct link_args x = {.l = l, .now = now};
    return on_write(server_of_id(store_of(m), l->id), link_create_u, &x);
}

static enum kho_err link_get_u(struct pconn *c, void *arg)
{
    struct link_args *x = arg;
    struct pq q = pq_begin(c, ST_LINK_GET);
    p_id(&q, x->id);
    enum kho_err rc = pq_row(&q);
    if (rc)
        return rc;
    row_link(&q, 0, x->l);
    pq_end(&q);
    return KHO_OK;
}

static enum kho_err pg_link_get(struct meta_store *m, uint64_t id, struct meta_link *out)
{
    struct link_args x = {.l = out, .id = id};
    return on_read(server_of_id(store_of(m), id), link_get_u, &x);
}

static enum kho_err link_list_u(struct pconn *c, void *arg)
{
    struct link_args *x = arg;
    struct pq q = pq_begin(c, ST_LINK_LIST);
    p_id(&q, x->owner_id);
    p_i64(&q, x->now);
    p_i64(&q, x->max);
    return pq_list(&q, put_link, x->l, x->n);
}

static enum kho_err pg_link_list(struct meta_store *m, uint64_t owner_id, int64_t now,
                                 struct meta_link *out, int max, int *n)
{
    *n = 0;
    enum kho_err rc = check_max(max, META_LINKS_MAX);
    if (rc)
        return rc;
    struct link_args x = {.l = out, .owner_id = owner_id, .now = now, .max = max, .n = n};
    return on_read(server_of_id(store_of(m), owner_id), link_list_u, &x);
}

static enum kho_err link_delete_u(struct pconn *c, void *arg)
{
    const struct link_args *x = arg;
    struct pq q = pq_begin(c, ST_LINK_DELETE);
    p_id(&q, x->id);
    p_id(&q, x->owner_id);
    return pq_change(&q);
}

static enum kho_err pg_link_delete(struct meta_store *m, uint64_t id, uint64_t owner_id)
{
    struct link_args x = {.id = id, .owner_id = owner_id};
    return on_write(server_of_id(store_of(m), id), link_delete_u, &x);
}

/* ---- store ---- */

static enum kho_err ping_u(struct pconn *c, void *arg)
{
    (void)arg;
    struct pq q = pq_begin(c, ST_PING);
    enum kho_err rc = pq_row(&q);
    if (rc == KHO_OK)
        pq_end(&q);
    return rc;
}

/* Ready only when every server answers: any request may need any of them. */
static enum kho_err pg_ping(struct meta_store *m)
{
    struct pg_store *s = store_of(m);
    for (unsigned i = 0; i < s->nservers; i++) {
        enum kho_err rc = on_read(&s->servers[i], ping_u, NULL);
        if (rc)
            return rc;
    }
    return KHO_OK;
}

static void store_free(struct pg_store *s)
{
    for (unsigned i = 0; i < s->nservers; i++) {
        struct server *sv = &s->servers[i];
        for (struct pconn *c = sv->idle, *next; c; c = next) {
            next = c->next;
            conn_free(c);
        }
        pthread_mutex_destroy(&sv->mu);
        pthread_cond_destroy(&sv->cond);
        free(sv->url);
    }
    free(s->servers);
    free(s);
}

static void pg_close(struct meta_store *m)
{
    store_free(store_of(m));
}

static enum kho_err migrate_exec(void *ctx, const char *sql)
{
    return simple_exec(ctx, sql);
}

static enum kho_err migrate_query(void *ctx, const char *sql, int64_t *out)
{
    struct pconn *c = ctx;
    PGresult *res = PQexec(c->pg, sql);
    enum kho_err rc;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rc = KHO_OK;
    } else {
        rc = result_fail(c, res, "migration query");
    }
    PQclear(res);
    return rc;
}

static const struct migrate_driver pg_driver = {
    .exec = migrate_exec,
    .query_i64 = migrate_query,
    /* The lock is held to the transaction's end: nodes starting together take turns. */
    .begin_sql = "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")",
};

/* migrate_run creates its bookkeeping table outside a transaction; made here first under the
 * lock, two nodes creating it at once cannot collide. */
static enum kho_err migrate_server(struct server *sv)
{
    struct pconn *c;
    bool fresh;
    enum kho_err rc = conn_take(sv, &c, &fresh);
    if (rc)
        return rc;
    rc = simple_exec(c, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK "); "
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL); COMMIT");
    if (rc == KHO_OK)
        rc = migrate_run(&pg_driver, c, meta_pg_migrations);
    if (rc)
        log_error("cannot migrate database server %u", sv->index);
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        simple_exec(c, "ROLLBACK");
    conn_give(sv, c);
    return rc;
}

struct known_args {
    const char *array; /* the keys as a bigint[] literal */
    const int *at;     /* at[j]: the caller's index of the array's j-th key */
    bool *known;
};

static enum kho_err keys_known_u(struct pconn *c, void *arg)
{
    struct known_args *a = arg;
    struct pq q = pq_begin(c, ST_KEYS_KNOWN);
    p_text(&q, a->array);
    enum kho_err rc = pq_run(&q);
    if (rc)
        return rc;
    for (int r = 0; r < pq_rows(&q); r++)
        a->known[a->at[col_i64(&q, r, 0) - 1]] = true;
    pq_end(&q);
    return KHO_OK;
}

/* An original lives on the server its id's shard maps to; a variant's key is a hash that names
 * no shard, so every server is asked about the variants, each in one statement per batch. */
static enum kho_err pg_keys_known(struct meta_store *m, const uint64_t *keys, int n, bool *known)
{
    enum kho_err rc = check_max(n, META_KEYS_KNOWN_MAX);
    if (rc)
        return rc;
    struct pg_store *s = store_of(m);
    char *array = xmalloc((size_t)n * 22 + 3);
    int *at = xmalloc((size_t)n * sizeof(*at));
    for (int i = 0; i < n; i++)
        known[i] = false;
    for (unsigned sv = 0; sv < s->nservers && !rc; sv++) {
        size_t len = 0;
        int m_at = 0;
        array[len++] = '{';
        for (int i = 0; i < n; i++) {
            bool variant = keys[i] & IDS_VARIANT_KEY_BIT;
            if (!variant && server_of_id(s, keys[i]) != &s->servers[sv])
                continue;
            int64_t v;
            memcpy(&v, &keys[i], sizeof(v));
            len += (size_t)snprintf(array + len, 22, "%s%lld", m_at ? "," : "", (long long)v);
            at[m_at++] = i;
        }
        array[len++] = '}';
        array[len] = '\0';
        struct known_args a = {array, at, known};
        if (m_at)
            rc = on_read(&s->servers[sv], keys_known_u, &a);
    }
    free(array);
    free(at);
    return rc;
}

static const struct meta_ops pg_ops = {
    .name = "postgres",
    .user_create = pg_user_create,
    .user_by_name = pg_user_by_name,
    .user_by_id = pg_user_by_id,
    .user_usage = pg_user_usage,
    .session_create = pg_session_create,
    .session_lookup = pg_session_lookup,
    .session_delete = pg_session_delete,
    .image_insert = pg_image_insert,
    .image_get = pg_image_get,
    .image_by_sha = pg_image_by_sha,
    .image_list_owner = pg_image_list_owner,
    .image_list_public = pg_image_list_public,
    .image_update = pg_image_update,
    .image_delete = pg_image_delete,
    .image_set_placeholder = pg_image_set_placeholder,
    .user_set_watermark = pg_user_set_watermark,
    .variant_insert = pg_variant_insert,
    .variant_keys = pg_variant_keys,
    .user_set_quota = pg_user_set_quota,
    .key_create = pg_key_create,
    .key_list = pg_key_list,
    .key_delete = pg_key_delete,
    .key_lookup = pg_key_lookup,
    .key_touch = pg_key_touch,
    .album_create = pg_album_create,
    .album_get = pg_album_get,
    .album_list = pg_album_list,
    .album_update = pg_album_update,
    .album_delete = pg_album_delete,
    .album_add_images = pg_album_add_images,
    .album_remove_images = pg_album_remove_images,
    .album_images = pg_album_images,
    .album_has_image = pg_album_has_image,
    .link_create = pg_link_create,
    .link_get = pg_link_get,
    .link_list = pg_link_list,
    .link_delete = pg_link_delete,
    .keys_known = pg_keys_known,
    .ping = pg_ping,
    .close = pg_close,
};

/* Split the comma-joined list into the servers; KHO_E_INVALID for an empty item or too many. */
static enum kho_err servers_init(struct pg_store *s, const char *urls, unsigned pool)
{
    unsigned n = 1;
    for (const char *p = urls; *p; p++)
        n += *p == ',';
    if (n > SHARDMAP_SERVERS_MAX) {
        log_error("metadata url names %u servers, at most %u are supported", n,
                  SHARDMAP_SERVERS_MAX);
        return KHO_E_INVALID;
    }
    s->servers = xcalloc(n, sizeof(*s->servers));
    const char *p = urls;
    for (unsigned i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        struct server *sv = &s->servers[i];
        pthread_mutex_init(&sv->mu, NULL);
        pthread_cond_init(&sv->cond, NULL);
        sv->url = xmalloc(len + 1);
        memcpy(sv->url, p, len);
        sv->url[len] = '\0';
        sv->index = i;
        sv->max = pool;
        s->nservers = i + 1; /* counted as made: store_free tears them down */
        if (strncmp(sv->url, "postgres://", 11) && strncmp(sv->url, "postgresql://", 13)) {
            log_error("metadata server %u is not a postgres:// url", i);
            return KHO_E_INVALID;
        }
        p += len + (p[len] == ',');
    }
    return KHO_OK;
}

const char *pg_server_url(struct meta_store *m, unsigned i)
{
    struct pg_store *s = store_of(m);
    return i < s->nservers ? s->servers[i].url : NULL;
}

const struct shardmap *pg_shard_map(struct meta_store *m)
{
    return &store_of(m)->map;
}

enum kho_err pg_meta_open(const char *urls, const struct meta_options *o, struct meta_store **out)
{
    unsigned pool = o && o->pool > 0 ? (unsigned)o->pool : POOL_DEFAULT;
    struct pg_store *s = xcalloc(1, sizeof(*s));
    s->base.ops = &pg_ops;
    enum kho_err rc = servers_init(s, urls, pool);
    if (rc)
        goto fail;
    if (o && o->shard_map && *o->shard_map)
        rc = shardmap_parse(&s->map, o->shard_map, s->nservers);
    else
        shardmap_default(&s->map, s->nservers);
    if (rc)
        goto fail;
    for (unsigned i = 0; i < s->nservers; i++) {
        rc = migrate_server(&s->servers[i]);
        if (rc)
            goto fail;
    }
    *out = &s->base;
    return KHO_OK;
fail:
    store_free(s);
    return rc;
}
