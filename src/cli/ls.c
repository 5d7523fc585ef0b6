/* `kho ls`: list the caller's images, one line each (or the raw records as JSON lines),
 * following the server's cursors page by page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

#define LS_PAGE_MAX 200 /* the server's largest page */

static const char usage[] =
    "usage: kho ls [--tag TAG] [--limit N] [--json] [--url URL] [--token TOKEN]\n"
    "  One line per image: ID FORMAT WxH BYTES VISIBILITY TITLE TAGS (tab-separated);\n"
    "  --json prints each image record as one JSON line. --limit caps the number listed.\n";

int cmd_ls(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *tag = NULL, *limit_s = NULL;
    bool as_json = false;
    const struct client_flag flags[] = {{"--url", &url, NULL},
                                        {"--token", &token, NULL},
                                        {"--tag", &tag, NULL},
                                        {"--limit", &limit_s, NULL},
                                        {"--json", NULL, &as_json}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    long long limit = -1;
    if (limit_s) {
        char *end;
        limit = strtoll(limit_s, &end, 10);
        if (*end || end == limit_s || limit < 1) {
            fprintf(stderr, "kho: --limit must be a positive number\n");
            return CLIENT_EXIT_USAGE;
        }
    }
    if (npos > 0) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    struct client c;
    code = client_setup(&c, url, token, true);
    if (code)
        return code;
    char *etag = tag ? curl_easy_escape(NULL, tag, 0) : NULL, *cursor = NULL;
    long long shown = 0;
    while (!code && (limit < 0 || shown < limit)) {
        char path[2048];
        long long page = limit < 0 || limit - shown > LS_PAGE_MAX ? LS_PAGE_MAX : limit - shown;
        int len = snprintf(path, sizeof(path), "/api/v1/images?limit=%lld%s%s%s%s", page,
                           etag ? "&tag=" : "", etag ? etag : "", cursor ? "&cursor=" : "",
                           cursor ? cursor : "");
        curl_free(cursor);
        cursor = NULL;
        if (len < 0 || (size_t)len >= sizeof(path)) {
            fprintf(stderr, "kho: the tag is too long\n");
            code = CLIENT_EXIT_USAGE;
            break;
        }
        json_t *doc;
        code = client_json(&c, "GET", path, NULL, &doc);
        if (code)
            break;
        json_t *items = json_object_get(doc, "items"), *img;
        size_t k;
        if (!json_is_array(items)) {
            fprintf(stderr, "kho: the server's answer has no items\n");
            code = CLIENT_EXIT_SERVER;
        }
        json_array_foreach(items, k, img)
        {
            if (limit >= 0 && shown >= limit)
                break;
            if (as_json) {
                char *line = json_dumps(img, JSON_COMPACT);
                puts(line);
                free(line);
            } else {
                client_print_image(img);
            }
            shown++;
        }
        const char *next = json_string_value(json_object_get(doc, "next_cursor"));
        if (next && *next && json_array_size(items) > 0)
            cursor = curl_easy_escape(NULL, next, 0);
        json_decref(doc);
        if (!cursor)
            break;
    }
    curl_free(cursor);
    curl_free(etag);
    client_cleanup();
    if (fflush(stdout) != 0 && !code) {
        fprintf(stderr, "kho: cannot write the listing\n");
        code = CLIENT_EXIT_FAILED;
    }
    return code;
}
