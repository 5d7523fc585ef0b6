/* libFuzzer harness for percent-decoding: query strings, paths and Cookie headers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "http/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char out[256];
    size_t n;
    if (query_get(in, size, "a", out, sizeof(out), &n))
        FUZZ_ASSERT(n < sizeof(out) && strlen(out) == n && query_has(in, size, "a"));
    if (http_path_decode(in, size, out, sizeof(out), &n) == KHO_OK)
        FUZZ_ASSERT(n <= size && strlen(out) == n);
    if (cookie_get(in, size, "kho_session", out, sizeof(out)))
        FUZZ_ASSERT(strlen(out) < sizeof(out));
    return 0;
}
