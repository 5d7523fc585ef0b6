/* The embedded SQLite metadata backend, reached through meta_open("sqlite:PATH"). */
#ifndef KHO_META_SQLITE_H
#define KHO_META_SQLITE_H
#include "core/embed.h"
#include "core/err.h"
#include "meta/meta.h"

/* The SQLite-dialect migrations from sql/, embedded by src/meta/meson.build. */
extern const struct embedded_file meta_migrations[];

/* Open (creating if needed) the database file at path in WAL mode, apply pending migrations and
 * prepare a pool of read connections plus one write connection. On success *out is the store;
 * free it with (*out)->ops->close. KHO_E_BACKEND when SQLite cannot open or set up the file
 * (the reason is logged), KHO_E_UNSUPPORTED when the file was migrated by a newer kho. */
enum kho_err sqlite_meta_open(const char *path, struct meta_store **out);

#endif
