/* Logical shards to database servers: which of the N PostgreSQL servers holds the rows of each
 * of the IDS_LOGICAL_SHARDS logical shards, and which shard a row belongs to. */
#ifndef KHO_META_SHARDMAP_H
#define KHO_META_SHARDMAP_H
#include <stdint.h>
#include "core/err.h"
#include "core/ids.h"

#define SHARDMAP_SERVERS_MAX 64 /* --db URLs one node may name */

struct shardmap {
    unsigned nservers;
    uint8_t server[IDS_LOGICAL_SHARDS]; /* logical shard -> index into the --db list */
};

/* Contiguous equal ranges: shard s goes to server s * nservers / IDS_LOGICAL_SHARDS.
 * nservers is 1..SHARDMAP_SERVERS_MAX. */
void shardmap_default(struct shardmap *m, unsigned nservers);
/* An explicit map "FIRST-LAST=SERVER,..." (a single "SHARD=SERVER" too), e.g.
 * "0-2047=0,2048-4095=1". Every logical shard must be named exactly once and every SERVER be
 * below nservers; otherwise KHO_E_INVALID (the reason is logged) and *m is unspecified. */
enum kho_err shardmap_parse(struct shardmap *m, const char *spec, unsigned nservers);
/* m as the shortest spec shardmap_parse reads back: runs of shards on one server as
 * "FIRST-LAST=SERVER" (or "SHARD=SERVER"), joined by commas. Returns it; the caller frees it. */
char *shardmap_format(const struct shardmap *m);
/* The logical shard of a row whose id (user, image, album, link or key) carries it. */
uint32_t shardmap_of_id(uint64_t id);
/* The logical shard of a token or key hash (hex SHA-256): its first three hex digits.
 * hex holds at least three characters (callers check it is a SHA-256 first). */
uint32_t shardmap_of_hash(const char *hex);

#endif
