/* libFuzzer harness for multipart_parse: the first byte gives the boundary length, the next bytes
 * the boundary, the rest is the body. Every part must lie inside the body. */
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "http/multipart.h"

struct body {
    const char *p;
    size_t len;
    size_t parts;
};

static int inside(const char *s, size_t n, const struct body *b)
{
    return !s || (s >= b->p && n <= b->len && (size_t)(s - b->p) <= b->len - n);
}

static int on_part(const struct multipart_part *p, void *arg)
{
    struct body *b = arg;
    FUZZ_ASSERT(p->name && inside(p->name, p->name_len, b));
    FUZZ_ASSERT(inside(p->filename, p->filename_len, b));
    FUZZ_ASSERT(inside(p->content_type, p->content_type_len, b));
    FUZZ_ASSERT(inside(p->data, p->len, b));
    FUZZ_ASSERT(++b->parts <= MULTIPART_MAX_PARTS);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t blen = data[0] % 70 + 1;
    if (size < 1 + blen)
        return 0;
    struct body b = {(const char *)data + 1 + blen, size - 1 - blen, 0};
    enum kho_err rc = multipart_parse(b.p, b.len, (const char *)data + 1, blen, on_part, &b);
    FUZZ_ASSERT(rc == KHO_OK || b.parts == 0);
    return 0;
}
