/* libFuzzer harness for http_parse_head: whole input, then every prefix length the parser asks
 * for, must agree and stay inside the input. */
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "http/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct http_head h;
    size_t head_len, len;
    const char *why;
    enum kho_err rc = http_parse_head(buf, size, 8192, &h, &head_len, &why);
    FUZZ_ASSERT((rc == KHO_OK || rc == KHO_E_AGAIN) == (why == NULL));
    if (rc != KHO_OK)
        return 0;
    FUZZ_ASSERT(head_len <= size && h.nheaders <= HTTP_MAX_HEADERS);
    FUZZ_ASSERT(!h.chunked || h.content_length < 0);
    for (size_t i = 0; i < h.nheaders; i++)
        FUZZ_ASSERT(h.headers[i].value + h.headers[i].value_len <= buf + head_len);
    http_head_header(&h, "content-type", &len);
    /* The same head cut one byte short is incomplete, never accepted or rejected differently. */
    FUZZ_ASSERT(http_parse_head(buf, head_len - 1, 8192, &h, &len, &why) == KHO_E_AGAIN);
    return 0;
}
