/* `kho sign PATH?QUERY`: print the URL with its signature, so variant sizes off the allow-list
 * can be handed out. Uses the same key as the server: --sign-key, else DATA/sign.key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth/signature.h"
#include "cli/cli.h"
#include "core/kho.h"

static const char usage[] = "usage: kho sign [--data DIR] [--sign-key KEY] '/i/ID?w=500&h=300'\n";

int cmd_sign(int argc, char **argv)
{
    const char *data = getenv("KHO_DATA"), *key = getenv("KHO_SIGN_KEY"), *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--sign-key") && i + 1 < argc)
            key = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] != '-' && !url)
            url = argv[i];
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!url || url[0] != '/') {
        fputs(usage, stderr);
        return 2;
    }
    struct signature_key k;
    if (signature_key_load(key ? key : "", data && *data ? data : "./data", &k)) {
        fprintf(stderr, "kho: no signing key (give --sign-key or --data of the server)\n");
        return 1;
    }
    char sig[SIGNATURE_LEN + 1];
    const char *q = strchr(url, '?');
    char msg[4096];
    /* the server signs "PATH?QUERY"; a bare path is signed as "PATH?" */
    if ((size_t)snprintf(msg, sizeof(msg), "%s%s", url, q ? "" : "?") >= sizeof(msg)) {
        fprintf(stderr, "kho: the URL is too long\n");
        return 2;
    }
    signature_make(&k, msg, strlen(msg), sig);
    printf("%s%ssig=%s\n", url, q ? (q[1] ? "&" : "") : "?", sig);
    return 0;
}
