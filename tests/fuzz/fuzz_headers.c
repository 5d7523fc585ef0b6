/* libFuzzer harness for the header value parsers: Range, If-None-Match, media types and their
 * parameters, each on the whole input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "http/headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *v = (const char *)data;
    uint64_t start, end, sizes[] = {0, 1, 1000, UINT64_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (http_parse_range(v, size, sizes[i], &start, &end) == RANGE_OK)
            FUZZ_ASSERT(start <= end && end < sizes[i]);

    FUZZ_ASSERT(http_etag_match(v, size, "\"x\"") == http_etag_match(v, size, "W/\"x\""));

    char type[64], param[HTTP_BOUNDARY_MAX + 1];
    size_t n;
    if (http_media_type(v, size, type, sizeof(type)) == KHO_OK)
        FUZZ_ASSERT(strchr(type, '/') != NULL);
    /* A parameter is only found in a media type that is valid as a whole. */
    if (http_media_param(v, size, "charset", param, sizeof(param)))
        FUZZ_ASSERT(http_media_type(v, size, type, sizeof(type)) != KHO_E_INVALID);
    if (http_media_boundary(v, size, param, sizeof(param), &n) == KHO_OK)
        FUZZ_ASSERT(n >= 1 && n <= HTTP_BOUNDARY_MAX && strlen(param) == n);
    return 0;
}
