/* `kho key ls | create NAME [--scope read|read-write] | rm ID`: the caller's API keys. create
 * prints the new key alone on stdout, the only time it is ever shown, so scripts can capture it.
 * The server takes these from a login session only, never from a key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

static const char usage[] =
    "usage: kho key ls [--json]\n"
    "       kho key create NAME [--scope read|read-write]\n"
    "       kho key rm ID\n"
    "  Each also takes --url URL and --token TOKEN; the token must be a login session's\n"
    "  (kho login), not an API key. ls prints ID PREFIX SCOPE CREATED LAST_USED NAME\n"
    "  (tab-separated; --json: one key record per line). create prints the key on stdout, once;\n"
    "  its scope defaults to read-write (read allows only GET and HEAD requests).\n";

static int list(const struct client *c, bool as_json)
{
    json_t *doc, *k;
    size_t i;
    int code = client_json(c, "GET", "/api/v1/keys", NULL, &doc);
    if (code)
        return code;
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "kho: the server's answer has no items\n");
        code = CLIENT_EXIT_SERVER;
    }
    json_array_foreach(items, i, k)
    {
        if (as_json) {
            char *line = json_dumps(k, JSON_COMPACT);
            puts(line ? line : "{}");
            free(line);
            continue;
        }
        const char *used = json_string_value(json_object_get(k, "last_used_at"));
        printf("%s\t%s\t%s\t%s\t%s\t%s\n", json_string_value(json_object_get(k, "id")),
               json_string_value(json_object_get(k, "prefix")),
               json_string_value(json_object_get(k, "scope")),
               json_string_value(json_object_get(k, "created_at")), used ? used : "-",
               json_string_value(json_object_get(k, "name")));
    }
    json_decref(doc);
    if (fflush(stdout) != 0 && !code) {
        fprintf(stderr, "kho: cannot write the listing\n");
        code = CLIENT_EXIT_FAILED;
    }
    return code;
}

static int create(const struct client *c, const char *name, const char *scope)
{
    json_t *doc, *body = json_pack("{s:s,s:s}", "name", name, "scope", scope);
    if (!body) {
        fprintf(stderr, "kho: the name must be UTF-8 text\n");
        return CLIENT_EXIT_USAGE;
    }
    int code = client_json(c, "POST", "/api/v1/keys", body, &doc);
    json_decref(body);
    if (code)
        return code;
    const char *key = json_string_value(json_object_get(doc, "key"));
    if (!key) {
        fprintf(stderr, "kho: the server's answer has no key\n");
        code = CLIENT_EXIT_SERVER;
    } else {
        printf("%s\n", key);
        fprintf(stderr, "created %s key %s '%s'; it will not be shown again\n", scope,
                json_string_value(json_object_get(doc, "id")), name);
    }
    json_decref(doc);
    if (fflush(stdout) != 0 && !code) {
        fprintf(stderr, "kho: cannot write the key\n");
        code = CLIENT_EXIT_FAILED;
    }
    return code;
}

static int revoke(const struct client *c, const char *id)
{
    char path[64];
    json_t *doc;
    snprintf(path, sizeof(path), "/api/v1/keys/%s", id);
    int code = client_json(c, "DELETE", path, NULL, &doc);
    json_decref(doc);
    if (!code)
        printf("revoked key %s\n", id);
    return code;
}

int cmd_key(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *scope = NULL;
    bool as_json = false;
    const struct client_flag flags[] = {{"--url", &url, NULL},
                                        {"--token", &token, NULL},
                                        {"--scope", &scope, NULL},
                                        {"--json", NULL, &as_json}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    const char *sub = npos > 0 ? argv[1] : "";
    bool ls = !strcmp(sub, "ls"), make = !strcmp(sub, "create"), rm = !strcmp(sub, "rm");
    if (npos != (ls ? 1 : 2) || !(ls || make || rm) || (scope && !make) || (as_json && !ls)) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    if (make && !scope)
        scope = "read-write";
    if (make && strcmp(scope, "read") && strcmp(scope, "read-write")) {
        fprintf(stderr, "kho: --scope is read or read-write\n");
        return CLIENT_EXIT_USAGE;
    }
    if (rm && !client_valid_id(argv[2])) {
        fprintf(stderr, "kho: '%s' is not a key id\n", argv[2]);
        return CLIENT_EXIT_USAGE;
    }
    struct client c;
    code = client_setup(&c, url, token, true);
    if (code)
        return code;
    code = ls ? list(&c, as_json) : make ? create(&c, argv[2], scope) : revoke(&c, argv[2]);
    client_cleanup();
    return code;
}
