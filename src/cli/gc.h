/* The pure rules of `kho gc`: which unreferenced blobs it may delete, and its --grace syntax. */
#ifndef KHO_CLI_GC_H
#define KHO_CLI_GC_H
#include <stdbool.h>
#include <stdint.h>

enum gc_verdict {
    GC_LIVE,    /* a record names the blob */
    GC_YOUNG,   /* an original no record names, younger than the grace: an upload may be
                   between its blob write and its record */
    GC_ORPHAN,  /* an original no record names, older than the grace */
    GC_VARIANT, /* a variant no record names */
};

/* What gc does with the blob under key, given whether a record names it (known), the time now
 * and the grace, both in ms. An original's key is its image id, which carries its creation
 * time; a variant's key (IDS_VARIANT_KEY_BIT set) carries none. */
enum gc_verdict gc_classify(uint64_t key, bool known, int64_t now_ms, int64_t grace_ms);

/* A grace period: a whole number of seconds, or one with s, m, h or d ("0", "90s", "30m",
 * "1h", "7d"), at most 3650 days, into *ms. False when malformed or out of range. */
bool gc_parse_grace(const char *s, int64_t *ms);

#endif
