/* 64-bit time-ordered ids, Instagram-style: 41 bits of milliseconds since 2024-01-01 UTC,
 * 13 bits of logical shard, 10 bits of per-millisecond sequence. Sorting ids sorts by time,
 * and any node can tell a row's shard from its id alone. In JSON they are written as strings. */
#ifndef KHO_IDS_H
#define KHO_IDS_H
#include <stdbool.h>
#include <stdint.h>

#define IDS_EPOCH_MS 1704067200000LL
#define IDS_SHARD_BITS 13
#define IDS_SEQ_BITS 10
#define IDS_SHARDS (1u << IDS_SHARD_BITS)
/* Logical shards in use: users, and the rows they own, are spread over these; the spare id
 * bits leave room to split later. */
#define IDS_LOGICAL_SHARDS 4096u
/* Ids fit 63 bits, so a blob key with the top bit set is not an id: variants' keys set it. */
#define IDS_VARIANT_KEY_BIT (1ULL << 63)

/* A new id for the given logical shard (taken modulo IDS_SHARDS). Thread-safe; strictly increasing
 * within a process, waiting for the next millisecond if 1024 ids were taken in this one. */
uint64_t ids_next(uint32_t shard);
/* Build an id from its parts (used by tests and by ids_next). */
uint64_t ids_make(int64_t unix_ms, uint32_t shard, uint32_t seq);
uint32_t ids_shard(uint64_t id);
/* The logical shard (< IDS_LOGICAL_SHARDS) a username hashes to: where its user is created, and
 * where a metadata backend looks the name up. Stable across nodes and versions. */
uint32_t ids_name_shard(const char *username);
int64_t ids_unix_ms(uint64_t id);

/* Decimal text of id into out (at least 21 bytes). */
void ids_format(uint64_t id, char out[21]);
/* Parse a decimal id: digits only, no sign, no leading zero, non-zero, fits 63 bits. */
bool ids_parse(const char *s, uint64_t *out);

#endif
