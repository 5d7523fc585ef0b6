/* The subcommand table and dispatch (after git's git.c), plus option helpers the store
 * commands share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "core/kho.h"

static const struct cli_command commands[] = {
    {"server", cmd_server, "run the image store (HTTP API, storage, processing)"},
    {"fsck", cmd_fsck, "verify every stored blob against its checksum"},
    {"compact", cmd_compact, "reclaim the space of deleted blobs"},
    {"sign", cmd_sign, "sign a variant URL (sizes off the allow-list)"},
    {"version", cmd_version, "print the version and the image formats this build handles"},
    {"login", cmd_login, "log in to a kho server and remember the token"},
    {"upload", cmd_upload, "upload image files and directories (skips what is already there)"},
    {"ls", cmd_ls, "list your images"},
    {"get", cmd_get, "download an image or a variant of it"},
    {"rm", cmd_rm, "delete images"},
    {"key", cmd_key, "create, list and revoke your API keys"},
    {"quota", cmd_quota, "show or override a user's quotas (opens the store directly)"},
    {"album", cmd_album, "list, make and change albums, and share them"},
    {"share", cmd_share, "make a link that opens an image without a login"},
    {"shard", cmd_shard, "move a logical shard to another PostgreSQL server"},
    {"gc", cmd_gc, "delete blobs no image or variant record names"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: kho COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'kho COMMAND --help' for a command's options.\n");
    fprintf(out,
            "\nThe client commands (login, upload, ls, get, rm, album, share, key) exit with 0\n"
            "ok, 1 an item failed, 2 usage error, 3 authentication failed, 4 not found, 5 server or\n"
            "network error, 130 interrupted.\n");
}

int cli_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(1, argv + 1);
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kho: '%s' is not a kho command\n\n", argv[1]);
    usage(stderr);
    return 2;
}

const char *cli_volume_dir(int argc, char **argv)
{
    static char dir[1280];
    const char *data = getenv("KHO_DATA"), *blob = getenv("KHO_BLOB");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i], blob = NULL;
        else if (!strncmp(argv[i], "--data=", 7))
            data = argv[i] + 7, blob = NULL;
        else if (!strcmp(argv[i], "--blob") && i + 1 < argc)
            blob = argv[++i];
        else if (!strncmp(argv[i], "--blob=", 7))
            blob = argv[i] + 7;
    }
    if (blob && *blob) {
        if (!strncmp(blob, "s3:", 3)) {
            fprintf(stderr, "kho: this command only applies to local volume stores (volume:DIR); "
                            "an s3 bucket checks and reclaims its space itself\n");
            return NULL;
        }
        if (strncmp(blob, "volume:", 7) != 0) {
            fprintf(stderr, "kho: '%s' is not a local volume store\n", blob);
            return NULL;
        }
        snprintf(dir, sizeof(dir), "%s", blob + 7);
    } else {
        snprintf(dir, sizeof(dir), "%s/volumes", data && *data ? data : "./data");
    }
    return dir;
}

bool cli_store_config(const char *data, const char *db, const char *blob, struct kho_config *cfg)
{
    char *args[7] = {"kho"};
    int n = 1;
    bool help;
    if (data) {
        args[n++] = "--data";
        args[n++] = (char *)data;
    }
    if (db) {
        args[n++] = "--db";
        args[n++] = (char *)db;
    }
    if (blob) {
        args[n++] = "--blob";
        args[n++] = (char *)blob;
    }
    if (config_load(cfg, n, args, &help, stderr))
        return false;
    static const char sqlite_scheme[] = "sqlite:";
    const char *path = cfg->db + sizeof(sqlite_scheme) - 1;
    if (!strncmp(cfg->db, sqlite_scheme, sizeof(sqlite_scheme) - 1) && access(path, F_OK) != 0) {
        fprintf(stderr, "kho: no database at '%s' (give --data DIR or --db URL)\n", path);
        return false;
    }
    return true;
}
