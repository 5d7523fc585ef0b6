/* blob_open: picks the backend named by the scheme of a store url ("volume:DIR",
 * "s3://BUCKET?..."). New backends add a row to the table. */
#include <string.h>
#include "blob/blob.h"
#include "blob/s3.h"
#include "blob/volume.h"
#include "core/kho.h"

struct backend {
    const char *scheme;
    enum kho_err (*open)(const char *location, uint64_t volume_max_bytes, struct blob_store **out);
};

static const struct backend backends[] = {
    {"volume", volume_open},
    {"s3", s3_open},
};

enum kho_err blob_open(const char *url, uint64_t volume_max_bytes, struct blob_store **out)
{
    *out = NULL;
    const char *colon = strchr(url, ':');
    if (!colon || colon == url || colon[1] == '\0') {
        log_error("the blob store setting is not of the form scheme:location");
        return KHO_E_INVALID;
    }
    size_t n = (size_t)(colon - url);
    for (size_t i = 0; i < ARRAY_LEN(backends); i++) {
        if (strlen(backends[i].scheme) == n && !memcmp(backends[i].scheme, url, n))
            return backends[i].open(colon + 1, volume_max_bytes, out);
    }
    /* Only the scheme is logged: later schemes may carry credentials in the location. */
    log_error("unknown blob store scheme '%.*s'", (int)n, url);
    return KHO_E_UNSUPPORTED;
}
