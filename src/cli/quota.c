/* `kho quota USERNAME [--bytes SIZE|default|unlimited] [--images N|default|unlimited]`: an
 * admin's view of one user's usage and quotas, and the per-user overrides. It opens the
 * metadata store directly, like `kho fsck` opens the volumes; SQLite lets it do so next to a
 * running server, which reads the overrides on every upload, so a change applies at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "meta/meta.h"
#include "core/kho.h"

static const char usage[] =
    "usage: kho quota USERNAME [--bytes SIZE|default|unlimited] [--images N|default|unlimited]\n"
    "                 [--data DIR | --db URL]\n"
    "  Without --bytes or --images, prints the user's usage and quotas. SIZE is bytes or a\n"
    "  number with K, M, G or T (powers of 1024); default returns to the server's --quota-*\n"
    "  setting, unlimited (or 0) lifts the quota for this user alone. The server defaults shown\n"
    "  are those of KHO_QUOTA_BYTES / KHO_QUOTA_IMAGES, else kho's own.\n"
    "  Exit 0 ok, 2 usage or store error, 4 no such user.\n";

enum { QUOTA_NO_USER = 4 };

/* "default", "unlimited", or a number (a size when size is set) into *out. */
static bool parse_quota(const char *v, bool size, int64_t *out)
{
    if (!strcmp(v, "default")) {
        *out = META_QUOTA_DEFAULT;
        return true;
    }
    if (!strcmp(v, "unlimited")) {
        *out = 0;
        return true;
    }
    if (size)
        return config_parse_size(v, out) == KHO_OK;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || n < 0)
        return false;
    *out = n;
    return true;
}

/* "12 of 100 (server default)", "1.2 MiB (1258291 bytes) of unlimited (set for this user)" */
static void print_line(const char *what, int64_t used, int64_t override, int64_t def, bool size)
{
    int64_t limit = meta_quota_limit(override, def);
    char u[64], l[24];
    if (size) {
        char h[24];
        config_format_size(used, h, sizeof(h));
        snprintf(u, sizeof(u), "%s (%lld bytes)", h, (long long)used);
        config_format_size(limit, l, sizeof(l));
    } else {
        snprintf(u, sizeof(u), "%lld", (long long)used);
        snprintf(l, sizeof(l), "%lld", (long long)limit);
    }
    printf("%s: %s of %s (%s)\n", what, u, limit ? l : "unlimited",
           override == META_QUOTA_DEFAULT ? "server default" : "set for this user");
}

int cmd_quota(int argc, char **argv)
{
    const char *data = NULL, *db = NULL, *bytes_s = NULL, *images_s = NULL;
    const struct client_flag flags[] = {{"--data", &data, NULL},
                                        {"--db", &db, NULL},
                                        {"--bytes", &bytes_s, NULL},
                                        {"--images", &images_s, NULL}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    if (npos != 1) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    unsigned mask = 0;
    int64_t bytes = META_QUOTA_DEFAULT, images = META_QUOTA_DEFAULT;
    if (bytes_s && !parse_quota(bytes_s, true, &bytes)) {
        fprintf(stderr, "kho: --bytes takes a size such as 500M or 10G, default or unlimited\n");
        return CLIENT_EXIT_USAGE;
    }
    if (images_s && !parse_quota(images_s, false, &images)) {
        fprintf(stderr, "kho: --images takes a number, default or unlimited\n");
        return CLIENT_EXIT_USAGE;
    }
    mask |= bytes_s ? META_SET_QUOTA_BYTES : 0;
    mask |= images_s ? META_SET_QUOTA_IMAGES : 0;

    struct kho_config cfg;
    if (!cli_store_config(data, db, NULL, &cfg))
        return CLIENT_EXIT_USAGE;
    log_set_level(LOG_WARN); /* opening the store is routine here, not news */
    struct meta_store *m;
    struct meta_options mo = {(int)cfg.db_pool, cfg.shard_map};
    enum kho_err rc = meta_open_with(cfg.db, &mo, &m);
    if (rc) {
        fprintf(stderr, "kho: cannot open the metadata store: %s\n", kho_err_name(rc));
        return CLIENT_EXIT_USAGE;
    }
    struct meta_user u;
    struct meta_usage use;
    rc = m->ops->user_by_name(m, argv[1], &u);
    if (rc == KHO_E_NOTFOUND) {
        fprintf(stderr, "kho: no user '%s'\n", argv[1]);
        code = QUOTA_NO_USER;
        goto out;
    }
    if (!rc && mask)
        rc = m->ops->user_set_quota(m, u.id, mask, images, bytes);
    if (!rc)
        rc = m->ops->user_usage(m, u.id, &use);
    if (rc) {
        fprintf(stderr, "kho: cannot %s the quotas of '%s': %s\n", mask ? "set" : "read", argv[1],
                kho_err_name(rc));
        code = CLIENT_EXIT_USAGE;
        goto out;
    }
    printf("user: %s\n", u.username);
    print_line("images", use.images, use.quota_images, cfg.quota_images, false);
    print_line("storage", use.bytes, use.quota_bytes, cfg.quota_bytes, true);
out:
    m->ops->close(m);
    return code;
}
