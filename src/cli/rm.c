/* `kho rm ID...`: delete images. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

static const char usage[] = "usage: kho rm ID... [--url URL] [--token TOKEN]\n";

int cmd_rm(int argc, char **argv)
{
    const char *url = NULL, *token = NULL;
    const struct client_flag flags[] = {{"--url", &url, NULL}, {"--token", &token, NULL}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    if (npos == 0) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    for (int i = 1; i <= npos; i++) {
        if (!client_valid_id(argv[i])) {
            fprintf(stderr, "kho: '%s' is not an image id\n", argv[i]);
            return CLIENT_EXIT_USAGE;
        }
    }
    struct client c;
    code = client_setup(&c, url, token, true);
    if (code)
        return code;
    int failed = 0;
    for (int i = 1; i <= npos; i++) {
        char path[64];
        json_t *doc;
        snprintf(path, sizeof(path), "/api/v1/images/%s", argv[i]);
        int rc = client_json(&c, "DELETE", path, NULL, &doc);
        json_decref(doc);
        if (!rc) {
            printf("deleted %s\n", argv[i]);
            continue;
        }
        /* the same token and server would fail every other id the same way */
        if (rc == CLIENT_EXIT_AUTH || rc == CLIENT_EXIT_SERVER) {
            code = rc;
            break;
        }
        fprintf(stderr, "kho: could not delete %s\n", argv[i]);
        failed++;
        code = rc;
    }
    /* one id keeps its precise code (e.g. 4 not found); a batch with failures exits 1 */
    if (failed && npos > 1 && code != CLIENT_EXIT_AUTH && code != CLIENT_EXIT_SERVER)
        code = CLIENT_EXIT_FAILED;
    client_cleanup();
    return code;
}
