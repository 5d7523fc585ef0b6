/* Schema migrations shared by the metadata backends: which embedded SQL files are applied is
 * recorded in schema_migrations (version, applied_at); each backend supplies only a driver that
 * runs SQL text and reads one integer. */
#ifndef KHO_MIGRATE_H
#define KHO_MIGRATE_H
#include <stdint.h>
#include "core/embed.h"
#include "core/err.h"

struct migrate_driver {
    /* Run one or more ';'-separated statements, discarding any rows. Errors are logged by the
     * driver and returned as KHO_E_BACKEND. */
    enum kho_err (*exec)(void *ctx, const char *sql);
    /* Run a query and store the first column of its first row in *out. */
    enum kho_err (*query_i64)(void *ctx, const char *sql, int64_t *out);
    /* Statement(s) opening a write transaction that excludes other migrating processes,
     * e.g. "BEGIN IMMEDIATE" for SQLite. Transactions end with "COMMIT" or "ROLLBACK". */
    const char *begin_sql;
};

/* Apply, in table order, every file of migrations (a table ending with a NULL name) that is not
 * yet recorded, each with its record in one transaction. File names start with their version:
 * "0001-init.sql" is version 1; versions must increase through the table, else KHO_E_INVALID.
 * KHO_E_UNSUPPORTED when the database records a version newer than any in the table (it was
 * written by a newer kho). Driver errors are returned as they are; the failing migration leaves
 * nothing behind. */
enum kho_err migrate_run(const struct migrate_driver *d, void *ctx,
                         const struct embedded_file *migrations);

#endif
