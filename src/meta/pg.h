/* The sharded PostgreSQL metadata backend, reached through meta_open_with("postgres://...").
 * Rows live on the server their logical shard maps to (see shardmap.h): a user's rows on the
 * user's shard (sessions too: their tokens name it), key lookups on the shard of the key's
 * hash. */
#ifndef KHO_META_PG_H
#define KHO_META_PG_H
#include "core/embed.h"
#include "core/err.h"
#include "meta/meta.h"
#include "meta/shardmap.h"

/* The PostgreSQL-dialect migrations from sql/pg/, embedded by src/meta/meson.build. */
extern const struct embedded_file meta_pg_migrations[];

/* Open the servers named by urls (one libpq URL, or several joined by commas, one per shard
 * server, at most SHARDMAP_SERVERS_MAX), apply pending migrations on each (in a transaction,
 * under an advisory lock, so nodes starting together apply a file once) and map the logical
 * shards by o->shard_map (NULL or "" for equal ranges). Connections are made as needed, at
 * most o->pool per server, and remade after a server comes back. On success *out is the store;
 * free it with (*out)->ops->close. KHO_E_INVALID for a bad list or map, KHO_E_BACKEND when a
 * server cannot be reached or migrated (logged without passwords), KHO_E_UNSUPPORTED when a
 * server was migrated by a newer kho. */
enum kho_err pg_meta_open(const char *urls, const struct meta_options *o, struct meta_store **out);

/* The libpq URL of server i (in --db order) of a store pg_meta_open made, or NULL past the
 * last; owned by the store. It may hold a password: never log it. */
const char *pg_server_url(struct meta_store *m, unsigned i);
/* The shard map a store pg_meta_open made uses; owned by the store. */
const struct shardmap *pg_shard_map(struct meta_store *m);

/* Merge two pages of images, each newest (highest id) first, into out: the first limit of
 * their union, newest first. out must not overlap a or b. Returns the number written. */
int pg_merge_newest(const struct meta_image *a, int na, const struct meta_image *b, int nb,
                    int limit, struct meta_image *out);

#endif
