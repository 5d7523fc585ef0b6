/* libFuzzer harness for the upload gatekeeper: probe_image on arbitrary bytes must never crash,
 * and what it accepts must respect the limits it was given. */
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "image/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct probe_limits lim = {1 << 24, 8192, 64};
    struct probe_result r;
    const char *why = NULL;
    if (probe_image(data, size, &lim, &r, &why) == KHO_OK)
        FUZZ_ASSERT(r.width >= 1 && r.height >= 1 && r.width <= 8192 && r.height <= 8192 &&
                    (int64_t)r.width * r.height * (r.frames ? r.frames : 1) <= (1 << 24));
    else
        FUZZ_ASSERT(why != NULL);
    return 0;
}
