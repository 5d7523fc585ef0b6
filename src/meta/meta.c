/* Metadata backend dispatch (meta_open picks the backend from the URL's scheme) and the quota
 * rule every backend applies. */
#include <string.h>
#include "meta/meta.h"
#include "meta/pg.h"
#include "meta/sqlite.h"
#include "core/kho.h"

enum kho_err meta_open(const char *url, struct meta_store **out)
{
    return meta_open_with(url, NULL, out);
}

enum kho_err meta_open_with(const char *url, const struct meta_options *o,
                            struct meta_store **out)
{
    static const char sqlite_scheme[] = "sqlite:";
    if (strncmp(url, sqlite_scheme, sizeof(sqlite_scheme) - 1) == 0) {
        const char *path = url + sizeof(sqlite_scheme) - 1;
        if (!*path) {
            log_error("metadata url 'sqlite:' names no file");
            return KHO_E_INVALID;
        }
        return sqlite_meta_open(path, out);
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return pg_meta_open(url, o, out);
    /* Only the scheme is logged: a server URL may carry a password. */
    int scheme = (int)strcspn(url, ":");
    log_error("unsupported metadata url scheme '%.*s'", scheme, url);
    return KHO_E_UNSUPPORTED;
}

int64_t meta_quota_limit(int64_t override, int64_t server_default)
{
    return override == META_QUOTA_DEFAULT ? server_default : override;
}

enum kho_err meta_quota_check(const struct meta_usage *u, int64_t add_bytes, struct meta_quota *q)
{
    int64_t images = meta_quota_limit(u->quota_images, q->default_images);
    int64_t bytes = meta_quota_limit(u->quota_bytes, q->default_bytes);
    q->over = META_QUOTA_NONE;
    if (images > 0 && u->images >= images) {
        q->over = META_QUOTA_IMAGES;
        q->used = u->images;
        q->limit = images;
    } else if (bytes > 0 && (add_bytes > bytes || u->bytes > bytes - add_bytes)) {
        /* written so that no sum can overflow */
        q->over = META_QUOTA_BYTES;
        q->used = u->bytes;
        q->limit = bytes;
    }
    return q->over == META_QUOTA_NONE ? KHO_OK : KHO_E_TOO_LARGE;
}
