/* The local blob backend: Haystack-style append-only volume files with an in-memory index, plus
 * the offline tools around it (lock owner, fsck). blob_open("volume:DIR") ends up here.
 *
 * On disk, DIR holds LOCK (flock'd by the owning process, which writes its PID into it), and for
 * each volume N (1, 2, ...) the files NNNNNNNN.dat and NNNNNNNN.idx. All integers little-endian.
 *  .dat: a 32-byte superblock {magic "KHOV", version u32, volume id u32, 0 u32, generation u64,
 *        xxh3 of the previous 24 bytes u64}, then records, each starting at a multiple of 8:
 *        header {magic "KHOR" u32, flags u32 (1 tombstone, 2 filler), key u64, size u64,
 *        unix ms u64}, size data bytes, XXH3-64 of header and data u64, zeros up to a multiple
 *        of 8. Tombstones have no data; fillers replace quarantined bytes and are never indexed.
 *  .idx: a 32-byte header {magic "KHOI", version, volume id, 0, generation of the .dat, xxh3},
 *        then one 24-byte entry per record in append order {key u64, offset/8 u32, size u32,
 *        flags u32, low 32 bits of the xxh3 of the previous 20 bytes u32}.
 * Compaction rewrites a volume under a bumped generation; an .idx whose generation differs from
 * its .dat's is rebuilt by scanning the .dat. */
#ifndef KHO_BLOB_VOLUME_H
#define KHO_BLOB_VOLUME_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "blob/blob.h"
#include "core/err.h"

#define VOLUME_MIN_BYTES ((uint64_t)4096)
#define VOLUME_MAX_BYTES ((uint64_t)32 << 30)
#define VOLUME_MAX_BLOB ((uint64_t)UINT32_MAX - 64) /* largest blob a record can hold */

/* Open (creating DIR and its parents if missing) the volume store in dir, recovering from a crash
 * as needed: torn record tails are truncated, records past the last index entry re-indexed, and
 * missing or stale .idx files rebuilt. Volumes roll over at volume_max_bytes, which must lie in
 * [VOLUME_MIN_BYTES, VOLUME_MAX_BYTES] (KHO_E_INVALID otherwise). Errors: KHO_E_BUSY when another
 * process holds the store, KHO_E_CORRUPT for a volume with a bad superblock (run fsck), KHO_E_IO.
 * Every error is logged. *out is closed with blob_close. */
enum kho_err volume_open(const char *dir, uint64_t volume_max_bytes, struct blob_store **out);

/* The PID written by the process that holds the store in dir. KHO_E_NOTFOUND when no process
 * holds it; *pid is 0 when the holder has not written its PID yet. */
enum kho_err volume_lock_owner(const char *dir, pid_t *pid);

struct volume_fsck_report {
    uint64_t volumes;
    uint64_t records;      /* intact records, tombstones included */
    uint64_t live;         /* keys a reopened store serves */
    uint64_t tombstones;   /* intact tombstone records */
    uint64_t corrupt;      /* damaged records (or unreadable stretches) inside volumes */
    uint64_t torn_bytes;   /* bytes of partial records at volume ends */
    uint64_t bytes;        /* size of all .dat files */
    uint64_t index_errors; /* .idx files or entries that disagree with their .dat */
    uint64_t problems;     /* lines written to the log; 0 means the store is clean */
    uint64_t repaired;     /* problems fixed (repair only) */
};

/* Check every record of every volume in dir against its checksum and structure, and every index
 * entry against its record, writing one line per problem to log. With repair, damaged records are
 * copied to DIR/quarantine/VVVVVVVV-OFFSET-KEY.bin (decimal offset and key) and overwritten in
 * place by a filler, keys whose newest version was damaged get a tombstone in the last volume (so
 * older versions do not come back), torn tails are truncated and disagreeing .idx files rebuilt. A
 * bad superblock is reported and left alone. Takes the store's lock: KHO_E_BUSY when the store is
 * open elsewhere, KHO_E_NOTFOUND when dir does not exist, KHO_E_IO on system errors. KHO_OK means
 * the check ran; out->problems tells whether it found anything. log may be NULL. */
enum kho_err volume_fsck(const char *dir, bool repair, struct volume_fsck_report *out, FILE *log);

#endif
