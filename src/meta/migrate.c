/* Backend-neutral migration runner: the bookkeeping SQL here is plain enough for SQLite and
 * PostgreSQL alike, so only the driver differs between backends. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "meta/migrate.h"
#include "core/kho.h"

/* Leading decimal digits of a file name followed by '-', or -1 when the name has none. */
static int64_t version_of(const char *name)
{
    int64_t v = 0;
    size_t i = 0;
    for (; name[i] >= '0' && name[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return i > 0 && name[i] == '-' && v > 0 ? v : -1;
}

static enum kho_err apply(const struct migrate_driver *d, void *ctx, const struct embedded_file *f,
                          int64_t version)
{
    char sql[160];
    int64_t done = 0;
    enum kho_err rc = d->exec(ctx, d->begin_sql);
    if (rc)
        return rc;
    /* Checked inside the transaction so two processes opening at once apply a file once. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM schema_migrations WHERE version = %" PRId64,
             version);
    rc = d->query_i64(ctx, sql, &done);
    if (rc)
        goto fail;
    if (!done) {
        rc = d->exec(ctx, (const char *)f->data);
        if (rc)
            goto fail;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations (version, applied_at) VALUES (%" PRId64 ", %" PRId64
                 ")",
                 version, now_ms());
        rc = d->exec(ctx, sql);
        if (rc)
            goto fail;
    }
    rc = d->exec(ctx, "COMMIT");
    if (rc)
        goto fail;
    if (!done)
        log_info("applied migration '%s'", f->name);
    return KHO_OK;
fail:
    log_error("migration '%s' failed", f->name);
    d->exec(ctx, "ROLLBACK"); /* rc already says what went wrong */
    return rc;
}

enum kho_err migrate_run(const struct migrate_driver *d, void *ctx,
                         const struct embedded_file *migrations)
{
    int64_t newest = 0;
    for (const struct embedded_file *f = migrations; f->name; f++) {
        int64_t v = version_of(f->name);
        if (v <= newest) {
            log_error("migration '%s' is misnamed or out of order", f->name);
            return KHO_E_INVALID;
        }
        newest = v;
    }

    enum kho_err rc = d->exec(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   "version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)");
    if (rc)
        return rc;
    int64_t recorded = 0;
    rc = d->query_i64(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations", &recorded);
    if (rc)
        return rc;
    if (recorded > newest) {
        log_error("database schema version %" PRId64 " is newer than this build's %" PRId64,
                  recorded, newest);
        return KHO_E_UNSUPPORTED;
    }

    for (const struct embedded_file *f = migrations; f->name; f++) {
        rc = apply(d, ctx, f, version_of(f->name));
        if (rc)
            return rc;
    }
    return KHO_OK;
}
