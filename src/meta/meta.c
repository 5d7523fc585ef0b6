/* Metadata backend dispatch: meta_open picks the backend from the URL's scheme. */
#include <string.h>
#include "meta/meta.h"
#include "meta/sqlite.h"
#include "core/kho.h"

enum kho_err meta_open(const char *url, struct meta_store **out)
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
    /* Only the scheme is logged: a server URL may carry a password. */
    int scheme = (int)strcspn(url, ":");
    log_error("unsupported metadata url scheme '%.*s'", scheme, url);
    return KHO_E_UNSUPPORTED;
}
