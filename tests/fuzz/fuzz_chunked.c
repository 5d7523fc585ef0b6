/* libFuzzer harness for http_chunked_decode: the first byte picks where the input is split in
 * two calls; the result must equal decoding it in one call. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "http/parser.h"

#define OUT_MAX 4096

/* Decode in[0..len) in two calls split at split; returns the status, sets *used and *done. */
static enum kho_err decode(const char *in, size_t len, size_t split, struct buf *out, size_t *used,
                           bool *done)
{
    struct http_chunked c;
    size_t u1 = 0, u2 = 0;
    http_chunked_init(&c);
    *done = false;
    enum kho_err rc = http_chunked_decode(&c, in, split, &u1, out, done);
    if (rc == KHO_OK && !*done)
        rc = http_chunked_decode(&c, in + split, len - split, &u2, out, done);
    *used = u1 + u2;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1, split = data[0] % (len + 1), used1, used2;
    bool done1, done2;
    struct buf a, b;
    buf_init(&a, OUT_MAX);
    buf_init(&b, OUT_MAX);
    enum kho_err rc1 = decode(in, len, len, &a, &used1, &done1);
    enum kho_err rc2 = decode(in, len, split, &b, &used2, &done2);
    FUZZ_ASSERT(rc1 == rc2);
    FUZZ_ASSERT(a.len <= OUT_MAX && used1 <= len);
    if (rc1 == KHO_OK) {
        FUZZ_ASSERT(done1 == done2 && used1 == used2 && a.len == b.len);
        FUZZ_ASSERT(a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
    }
    buf_free(&a);
    buf_free(&b);
    return 0;
}
