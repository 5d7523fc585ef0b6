/* The S3 blob backend (Ceph RGW, or any S3 endpoint with path-style addressing and SigV4):
 * blob_open("s3://BUCKET?endpoint=http://HOST:PORT&region=R") ends up here. Also the pure
 * pieces it is built from (URL parsing, object names, canonical queries, retry policy), public
 * so the unit tests can hold them to the S3 rules. */
#ifndef KHO_BLOB_S3_H
#define KHO_BLOB_S3_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "blob/blob.h"
#include "core/err.h"

/* Blobs up to this size go up in one PUT; larger ones as a multipart upload of parts this big
 * (S3 wants parts of at least 5 MiB, except the last). */
#define S3_MULTIPART_THRESHOLD ((size_t)8 << 20)
#define S3_PART_SIZE ((size_t)8 << 20)
/* Easy handles (each with its keep-alive connection) one process holds at most. */
#define S3_POOL_MAX 32
/* Streaming GETs in flight at once (one thread and one pipe each). */
#define S3_STREAMS_MAX 256

struct s3_location {
    char bucket[64];
    char endpoint[512]; /* scheme://host[:port], no trailing slash */
    char region[64];
};

/* Parse the part of a store URL after "s3:", i.e. "//BUCKET?endpoint=URL&region=R" (parameters
 * in any order, values may be percent-encoded; region defaults to us-east-1). The bucket must be
 * a valid S3 bucket name and the endpoint an http:// or https:// URL with no path.
 * KHO_E_INVALID otherwise (nothing is logged: the caller says why with *why). */
enum kho_err s3_parse_location(const char *location, struct s3_location *out, const char **why);

/* The object name of a blob key: 16 lower-case hex digits, fixed width so names sort like keys.
 * out must hold 17 bytes. */
void s3_object_name(uint64_t key, char out[17]);
/* The key of an object name written by s3_object_name; false for any other name. */
bool s3_object_key(const char *name, size_t len, uint64_t *key);

/* One query parameter; a NULL or empty value is written as "name=" (S3's bare flags). */
struct s3_param {
    const char *name, *value;
};

/* The canonical query string SigV4 signs and the request must carry verbatim: parameters sorted
 * by name (then value) in byte order, names and values percent-encoded as AWS does (A-Z a-z 0-9
 * - _ . ~ kept, everything else %XX upper-case), joined by '&'. Sorts params in place.
 * KHO_E_TOO_LARGE when it does not fit in cap bytes (NUL included). */
enum kho_err s3_canonical_query(struct s3_param *params, size_t n, char *out, size_t cap);

/* AWS URI-encoding of len bytes of s into out (cap bytes, NUL included); false when it does not
 * fit. */
bool s3_uri_encode(const char *s, size_t len, char *out, size_t cap);

/* The first <tag>...</tag> element's text in xml[from, len) with the five predefined entities
 * decoded, copied into out (cap bytes, NUL included). Returns the offset just past the closing
 * tag, or 0 when there is no such element or its text does not fit. */
size_t s3_xml_text(const char *xml, size_t len, size_t from, const char *tag, char *out,
                   size_t cap);

/* How patient an operation is: at most tries attempts, the k-th retry waiting around
 * base_ms * 2^(k-1) (capped at cap_ms) with jitter, and no retry that would start after
 * budget_ms from the first attempt. */
struct s3_retry {
    int tries;
    int base_ms, cap_ms;
    int budget_ms;
};
extern const struct s3_retry s3_retry_read;  /* GET, HEAD, list: 4 tries within about 2 s */
extern const struct s3_retry s3_retry_write; /* PUT, DELETE, multipart: 6 tries within 15 s */

/* Whether an attempt that ended with curl result curl_code (a CURLcode) and HTTP status may be
 * retried: connection failures, timeouts, 5xx, 429 and 503 SlowDown yes; any other 4xx never. */
bool s3_retryable(int curl_code, long status);
/* The wait before retry number attempt (1 = the first retry) with "equal jitter": half the
 * exponential step plus rnd spread over the other half. */
int s3_backoff_ms(const struct s3_retry *p, int attempt, uint32_t rnd);

/* Open the bucket named by location (after "s3:") with the credentials in AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY (never logged). Nothing is contacted: an unreachable endpoint shows in
 * ping and in each operation as KHO_E_BACKEND, and operations recover on their own when it comes
 * back. Errors: KHO_E_INVALID (bad URL, missing keys; logged). volume_max_bytes is unused.
 * Operations map S3 answers to: 404 KHO_E_NOTFOUND; other 4xx, and 5xx or connection failures
 * after the retries, KHO_E_BACKEND (the cause logged). A put is durable once it returns: RGW
 * answers 200 only when its OSDs hold the object. del answers KHO_OK for an absent key too (S3's
 * DELETE does not say; a HEAD first would cost a round trip no caller needs). stats reports only
 * what costs nothing: S3 has no cheap object count, so blobs, bytes and disk figures are 0
 * (unknown); volumes is 1 (the bucket). compact is NULL: the object store reclaims space itself. */
enum kho_err s3_open(const char *location, uint64_t volume_max_bytes, struct blob_store **out);

#endif
