/* `kho share IMAGE_ID [--expires DURATION]`: make a share link to an image and print its URL,
 * which opens the image without a login. `kho album share` makes album links the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

#define EXPIRES_MIN 60LL              /* the server's bounds, in seconds */
#define EXPIRES_MAX (365LL * 86400LL) /* a year */

static const char usage[] =
    "usage: kho share IMAGE_ID [--expires DURATION] [--url URL] [--token TOKEN]\n"
    "  Prints the URL of a new link that opens the image without a login. DURATION is\n"
    "  seconds, or a number with s, m, h or d (90s, 30m, 24h, 7d), from 60 s to 365 d;\n"
    "  without it the link never expires (revoke it with DELETE /api/v1/links/ID).\n";

bool share_parse_expires(const char *s, long long *secs)
{
    static const char units[] = "smhd";
    static const long long unit_secs[] = {1, 60, 3600, 86400};
    char *end = NULL;
    long long n = -1, mul = 1;
    if (*s >= '0' && *s <= '9')
        n = strtoll(s, &end, 10);
    if (n >= 0 && *end) {
        const char *u = strchr(units, *end);
        mul = u && !end[1] ? unit_secs[u - units] : 0;
    }
    if (n < 0 || !mul || n > EXPIRES_MAX / mul || n * mul < EXPIRES_MIN) {
        fprintf(stderr, "kho: --expires must be 60s to 365d (3600, 90s, 30m, 24h, 7d), not '%s'\n",
                s);
        return false;
    }
    *secs = n * mul;
    return true;
}

int share_link(const struct client *c, const char *path, long long secs)
{
    json_t *link, *body = secs ? json_pack("{s:I}", "expires_in", (json_int_t)secs) : NULL;
    int code = client_json(c, "POST", path, body, &link);
    json_decref(body);
    if (code)
        return code;
    const char *url = json_string_value(json_object_get(link, "url"));
    if (url)
        printf("%s\n", url);
    else {
        fprintf(stderr, "kho: the server's answer has no url\n");
        code = CLIENT_EXIT_SERVER;
    }
    json_decref(link);
    return code;
}

int cmd_share(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *expires = NULL;
    long long secs = 0;
    const struct client_flag flags[] = {
        {"--url", &url, NULL}, {"--token", &token, NULL}, {"--expires", &expires, NULL}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    if (npos != 1) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    if (!client_valid_id(argv[1])) {
        fprintf(stderr, "kho: '%s' is not an image id\n", argv[1]);
        return CLIENT_EXIT_USAGE;
    }
    if (expires && !share_parse_expires(expires, &secs))
        return CLIENT_EXIT_USAGE;
    struct client c;
    code = client_setup(&c, url, token, true);
    if (code)
        return code;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/images/%s/links", argv[1]);
    code = share_link(&c, path, secs);
    client_cleanup();
    return code;
}
