/* `kho shard move`: see shardmove.h. Rows travel as COPY ... TO STDOUT piped into COPY ... FROM
 * STDIN, in PostgreSQL's own text format, so nothing is reinterpreted on the way. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include "meta/pg.h"
#include "meta/shardmap.h"
#include "meta/shardmove.h"
#include "core/kho.h"

/* Every table with a shard column, parents before children (foreign keys): copied in this
 * order, deleted in the reverse one. */
static const char *const tables[] = {"users",     "images",       "image_tags", "variants",
                                     "albums",    "album_images", "links",      "api_keys",
                                     "key_index", "sessions"};

#define SQL_MAX 2048
#define COLS_MAX 1024

struct side {
    PGconn *pg;
    unsigned index; /* in the --db list, for log lines (never the URL: it may hold a password) */
};

/* A table's rows of the shard and a sum of their hashes: equal on both sides when the rows are
 * (the text of each whole row is hashed, so any changed column shows). */
struct tally {
    long long rows;
    char sum[64];
};

static enum kho_err fail(const struct side *s, PGresult *res, const char *what)
{
    log_error("'%s' on database server %u failed: %s", what, s->index, PQerrorMessage(s->pg));
    PQclear(res);
    return KHO_E_BACKEND;
}

static enum kho_err exec(const struct side *s, const char *sql)
{
    PGresult *res = PQexec(s->pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(s, res, sql);
    PQclear(res);
    return KHO_OK;
}

/* Column col of the one row sql answers, into out. */
static enum kho_err query_text(const struct side *s, const char *sql, int col, char *out,
                               size_t cap)
{
    PGresult *res = PQexec(s->pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) <= col)
        return fail(s, res, sql);
    const char *v = PQgetvalue(res, 0, col);
    size_t len = strlen(v);
    if (len >= cap) {
        log_error("an answer of database server %u is too long: %zu bytes", s->index, len);
        PQclear(res);
        return KHO_E_TOO_LARGE;
    }
    memcpy(out, v, len + 1);
    PQclear(res);
    return KHO_OK;
}

static enum kho_err tally(const struct side *s, const char *table, uint32_t shard,
                          struct tally *out)
{
    char sql[SQL_MAX], rows[24];
    snprintf(sql, sizeof(sql),
             "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) FROM %s t "
             "WHERE shard = %u",
             table, shard);
    enum kho_err rc = query_text(s, sql, 0, rows, sizeof(rows));
    if (rc)
        return rc;
    out->rows = strtoll(rows, NULL, 10);
    return query_text(s, sql, 1, out->sum, sizeof(out->sum));
}

/* A table added to the schema with a shard column must be added above too: refuse to move a
 * shard partly. */
static enum kho_err check_schema(const struct side *s)
{
    const char *sql = "SELECT table_name FROM information_schema.columns WHERE column_name = "
                      "'shard' AND table_schema = current_schema()";
    PGresult *res = PQexec(s->pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(s, res, sql);
    enum kho_err rc = KHO_OK;
    int known = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        size_t t = 0;
        while (t < ARRAY_LEN(tables) && strcmp(tables[t], name))
            t++;
        if (t == ARRAY_LEN(tables)) {
            log_error("table '%s' has a shard column that kho shard move does not know", name);
            rc = KHO_E_UNSUPPORTED;
        } else {
            known++;
        }
    }
    PQclear(res);
    if (!rc && known != (int)ARRAY_LEN(tables)) {
        log_error("database server %u lacks tables kho shard move expects", s->index);
        rc = KHO_E_UNSUPPORTED;
    }
    return rc;
}

static void side_close(struct side *s)
{
    PQfinish(s->pg); /* an open transaction rolls back */
    s->pg = NULL;
}

static enum kho_err side_open(struct meta_store *m, unsigned i, struct side *out)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {pg_server_url(m, i), "10", "kho shard move", NULL};
    out->index = i;
    out->pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(out->pg) != CONNECTION_OK) {
        log_error("cannot connect to database server %u: %s", i, PQerrorMessage(out->pg));
        side_close(out);
        return KHO_E_BACKEND;
    }
    return KHO_OK;
}

/* The source (the server the map sends shard to) and the target, connected and checked. */
static enum kho_err open_pair(struct meta_store *m, uint32_t shard, unsigned to, struct side *src,
                              struct side *dst)
{
    const struct shardmap *map = pg_shard_map(m);
    if (shard >= IDS_LOGICAL_SHARDS || to >= map->nservers) {
        log_error("shard %u or server %u does not exist (%u shards, %u servers)", shard, to,
                  IDS_LOGICAL_SHARDS, map->nservers);
        return KHO_E_INVALID;
    }
    if (map->server[shard] == to) {
        log_error("shard %u is on server %u already", shard, to);
        return KHO_E_INVALID;
    }
    enum kho_err rc = side_open(m, map->server[shard], src);
    if (rc)
        return rc;
    rc = side_open(m, to, dst);
    if (!rc)
        rc = check_schema(src);
    if (!rc)
        rc = check_schema(dst);
    if (rc) {
        side_close(src);
        if (dst->pg)
            side_close(dst);
    }
    return rc;
}

/* The end of a COPY: its own result, then none. */
static enum kho_err copy_done(const struct side *s, const char *what)
{
    PGresult *res = PQgetResult(s->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(s, res, what);
    PQclear(res);
    for (res = PQgetResult(s->pg); res; res = PQgetResult(s->pg))
        PQclear(res);
    return KHO_OK;
}

static enum kho_err copy_table(const struct side *src, const struct side *dst, const char *table,
                               uint32_t shard)
{
    char cols[COLS_MAX], sql[SQL_MAX];
    /* one column list for both sides, in the source's order */
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute "
             "WHERE attrelid = '%s'::regclass AND attnum > 0 AND NOT attisdropped",
             table);
    enum kho_err rc = query_text(src, sql, 0, cols, sizeof(cols));
    if (rc)
        return rc;
    snprintf(sql, sizeof(sql), "COPY (SELECT %s FROM %s WHERE shard = %u) TO STDOUT", cols, table,
             shard);
    PGresult *res = PQexec(src->pg, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        return fail(src, res, sql);
    PQclear(res);
    snprintf(sql, sizeof(sql), "COPY %s (%s) FROM STDIN", table, cols);
    res = PQexec(dst->pg, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN)
        return fail(dst, res, sql); /* the caller drops both connections mid-COPY */
    PQclear(res);
    for (;;) {
        char *row;
        int n = PQgetCopyData(src->pg, &row, 0);
        if (n == -1)
            break;
        if (n < 0)
            return fail(src, NULL, "COPY TO STDOUT");
        int put = PQputCopyData(dst->pg, row, n);
        PQfreemem(row);
        if (put != 1)
            return fail(dst, NULL, "COPY FROM STDIN");
    }
    rc = copy_done(src, "COPY TO STDOUT");
    if (rc)
        return rc;
    if (PQputCopyEnd(dst->pg, NULL) != 1)
        return fail(dst, NULL, "COPY FROM STDIN");
    return copy_done(dst, "COPY FROM STDIN");
}

static enum kho_err tally_all(const struct side *s, uint32_t shard, struct tally *out)
{
    for (size_t i = 0; i < ARRAY_LEN(tables); i++) {
        enum kho_err rc = tally(s, tables[i], shard, &out[i]);
        if (rc)
            return rc;
    }
    return KHO_OK;
}

/* FNV-1a over every table's tally: a short value for the operator to carry from the copy to
 * the deletion (not a defence against forgery: the operator is trusted). */
static uint64_t fingerprint(const struct tally *t)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < ARRAY_LEN(tables); i++) {
        char line[96];
        int n = snprintf(line, sizeof(line), "%lld %s;", t[i].rows, t[i].sum);
        for (int k = 0; k < n && k < (int)sizeof(line); k++)
            h = (h ^ (unsigned char)line[k]) * 1099511628211ULL;
    }
    return h;
}

/* Each table's rows of shard on both sides: equal, or KHO_E_CORRUPT; the source's
 * fingerprint goes to *fp. */
static enum kho_err compare(const struct side *src, const struct side *dst, uint32_t shard,
                            FILE *report, uint64_t *fp)
{
    struct tally a[ARRAY_LEN(tables)], b[ARRAY_LEN(tables)];
    enum kho_err rc = tally_all(src, shard, a);
    if (!rc)
        rc = tally_all(dst, shard, b);
    if (rc)
        return rc;
    for (size_t i = 0; i < ARRAY_LEN(tables); i++) {
        bool same = a[i].rows == b[i].rows && !strcmp(a[i].sum, b[i].sum);
        fprintf(report, "%-13s %8lld rows  checksum %s%s\n", tables[i], a[i].rows, a[i].sum,
                same ? "" : "  MISMATCH");
        if (!same) {
            fprintf(report, "%-13s %8lld rows  checksum %s on server %u\n", "", b[i].rows, b[i].sum,
                    dst->index);
            rc = KHO_E_CORRUPT;
        }
    }
    *fp = fingerprint(a);
    return rc;
}

static enum kho_err copy_all(const struct side *src, const struct side *dst, uint32_t shard,
                             FILE *report, uint64_t *fp)
{
    /* one snapshot of the source for every table, so the copy is consistent across them */
    enum kho_err rc = exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!rc)
        rc = exec(dst, "BEGIN");
    for (size_t i = 0; !rc && i < ARRAY_LEN(tables); i++) {
        struct tally t;
        rc = tally(dst, tables[i], shard, &t);
        if (!rc && t.rows) {
            log_error("server %u already has %lld rows of shard %u in '%s'", dst->index, t.rows,
                      shard, tables[i]);
            rc = KHO_E_EXISTS;
        }
    }
    for (size_t i = 0; !rc && i < ARRAY_LEN(tables); i++)
        rc = copy_table(src, dst, tables[i], shard);
    if (rc)
        return rc;
    /* album_images' trigger counted each copied row into albums.image_count, which came over
     * already counted: take them out again */
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql),
             "UPDATE albums a SET image_count = image_count - (SELECT count(*) FROM album_images "
             "i WHERE i.album_id = a.id) WHERE shard = %u",
             shard);
    rc = exec(dst, sql);
    if (!rc)
        rc = compare(src, dst, shard, report, fp);
    if (!rc)
        rc = exec(dst, "COMMIT");
    if (!rc)
        rc = exec(src, "COMMIT");
    return rc;
}

enum kho_err shardmove_copy(struct meta_store *m, uint32_t shard, unsigned to, FILE *report,
                            uint64_t *fp)
{
    struct side src, dst;
    enum kho_err rc = open_pair(m, shard, to, &src, &dst);
    if (rc)
        return rc;
    rc = copy_all(&src, &dst, shard, report, fp);
    side_close(&src);
    side_close(&dst);
    return rc;
}

static enum kho_err delete_all(const struct side *src, uint32_t shard, uint64_t fp, FILE *report)
{
    /* a row changed on the source after these reads makes the DELETE fail (serialization),
     * rather than go unchecked */
    struct tally now[ARRAY_LEN(tables)];
    enum kho_err rc = exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    if (!rc)
        rc = tally_all(src, shard, now);
    if (rc)
        return rc;
    if (fingerprint(now) != fp) {
        log_error("the rows of shard %u on server %u changed since the copy: a node still on the "
                  "old map wrote there",
                  shard, src->index);
        return KHO_E_CORRUPT;
    }
    for (size_t i = ARRAY_LEN(tables); i-- > 0;) {
        char sql[SQL_MAX];
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE shard = %u", tables[i], shard);
        PGresult *res = PQexec(src->pg, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return fail(src, res, sql);
        fprintf(report, "%-13s %8s rows deleted from server %u\n", tables[i], PQcmdTuples(res),
                src->index);
        PQclear(res);
    }
    return exec(src, "COMMIT");
}

enum kho_err shardmove_delete_source(struct meta_store *m, uint32_t shard, unsigned to, uint64_t fp,
                                     FILE *report)
{
    struct side src, dst;
    enum kho_err rc = open_pair(m, shard, to, &src, &dst);
    if (rc)
        return rc;
    side_close(&dst);
    rc = delete_all(&src, shard, fp, report);
    side_close(&src);
    return rc;
}
