/* Moving one logical shard's rows from the PostgreSQL server that holds it to another (`kho
 * shard move`): a copy checked table by table, and the removal of the source rows once the
 * nodes use the new map. Writes to the shard must be stopped meanwhile (docs/scaling.md). */
#ifndef KHO_META_SHARDMOVE_H
#define KHO_META_SHARDMOVE_H
#include <stdint.h>
#include <stdio.h>
#include "core/err.h"
#include "meta/meta.h"

/* Copy every row of logical shard (below IDS_LOGICAL_SHARDS) from the server m's map sends it
 * to, to server to (an index into m's --db list); m is a store pg_meta_open made with the map
 * the nodes use now. The source is read in one REPEATABLE READ snapshot and the target written
 * in one transaction, committed only when every table's row count and checksum there equal the
 * snapshot's. A line per table goes to report, and to *fp a fingerprint of the copied rows,
 * which shardmove_delete_source wants back. Nothing on the source changes.
 * KHO_E_INVALID when to is not a server or already holds the shard, KHO_E_EXISTS when the
 * target already has rows of the shard (a copy done before: nothing is written),
 * KHO_E_UNSUPPORTED when the schema has a sharded table this code does not know,
 * KHO_E_CORRUPT when a table does not match (nothing is committed), KHO_E_BACKEND on a server
 * error (logged). */
enum kho_err shardmove_copy(struct meta_store *m, uint32_t shard, unsigned to, FILE *report,
                            uint64_t *fp);

/* With m, shard and to as for shardmove_copy (the map from before the move), once every node
 * runs the new map: check that the source's rows of shard are still those the copy saw (fp,
 * as shardmove_copy gave it), then delete them in one transaction. The target is not compared:
 * it has taken writes since. KHO_E_CORRUPT, deleting nothing, when the source changed after the
 * copy (a node on the old map wrote there: those writes are not on the target). Other errors as
 * shardmove_copy. */
enum kho_err shardmove_delete_source(struct meta_store *m, uint32_t shard, unsigned to, uint64_t fp,
                                     FILE *report);

#endif
