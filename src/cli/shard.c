/* `kho shard move SHARD --to SERVER --db URLS [--shard-map MAP] [--delete-source CHECK]`: move one
 * logical shard of the PostgreSQL store to another server (src/meta/shardmove.h), and print the
 * --shard-map the nodes must use from then on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "meta/pg.h"
#include "meta/shardmap.h"
#include "meta/shardmove.h"
#include "core/kho.h"

static const char usage[] =
    "usage: kho shard move SHARD --to SERVER --db URLS [--shard-map MAP]\n"
    "                      [--delete-source CHECK]\n"
    "  Copies every row of logical shard SHARD (0-4095) from the PostgreSQL server that MAP\n"
    "  sends it to, to server SERVER (an index into the comma-separated --db URLS), checks each\n"
    "  table's row count and checksum, and prints the --shard-map to restart the nodes with.\n"
    "  MAP is the map the nodes use now (default: equal ranges; KHO_SHARD_MAP, KHO_DB work too).\n"
    "  Stop writes to the shard first (docs/scaling.md). Once every node runs the new map, run\n"
    "  the same command with --delete-source and the CHECK the copy printed: it makes sure no\n"
    "  write reached the old server since the copy, then deletes the shard's rows there.\n"
    "  Exit 0 ok, 1 the move failed (nothing committed), 2 usage error.\n";

static bool parse_index(const char *s, unsigned long limit, unsigned long *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v >= limit)
        return false;
    *out = (unsigned long)v;
    return true;
}

static int move(const char *shard_s, const char *to_s, const char *db, const char *map,
                const char *check)
{
    unsigned long shard, to;
    uint64_t fp = 0;
    char *end;
    if (check) {
        fp = strtoull(check, &end, 16);
        if (strlen(check) != 16 || *end) {
            fprintf(stderr, "kho: --delete-source takes the 16 hex digits the copy printed\n");
            return CLIENT_EXIT_USAGE;
        }
    }
    if (!parse_index(shard_s, IDS_LOGICAL_SHARDS, &shard)) {
        fprintf(stderr, "kho: SHARD is a logical shard from 0 to %u\n", IDS_LOGICAL_SHARDS - 1);
        return CLIENT_EXIT_USAGE;
    }
    if (!parse_index(to_s, SHARDMAP_SERVERS_MAX, &to)) {
        fprintf(stderr, "kho: --to takes the index of a server in --db (0 is the first)\n");
        return CLIENT_EXIT_USAGE;
    }
    if (!db || strncmp(db, "postgres", 8) != 0) {
        fprintf(stderr, "kho: --db (or KHO_DB) must name the PostgreSQL servers\n");
        return CLIENT_EXIT_USAGE;
    }
    log_set_level(LOG_WARN); /* migrations on open are routine here, not news */
    struct meta_store *m;
    struct meta_options mo = {1, map};
    enum kho_err rc = pg_meta_open(db, &mo, &m);
    if (rc) {
        fprintf(stderr, "kho: cannot open the metadata store: %s\n", kho_err_name(rc));
        return CLIENT_EXIT_USAGE;
    }
    const struct shardmap *old = pg_shard_map(m);
    unsigned from = old->server[shard];
    if (check)
        rc = shardmove_delete_source(m, (uint32_t)shard, (unsigned)to, fp, stderr);
    else
        rc = shardmove_copy(m, (uint32_t)shard, (unsigned)to, stderr, &fp);
    int code = CLIENT_EXIT_OK;
    if (rc) {
        fprintf(stderr, "kho: moving shard %lu from server %u to server %lu failed: %s\n", shard,
                from, to, kho_err_name(rc));
        code = rc == KHO_E_INVALID ? CLIENT_EXIT_USAGE : CLIENT_EXIT_FAILED;
    } else if (check) {
        fprintf(stderr, "kho: shard %lu is now only on server %lu\n", shard, to);
    } else {
        struct shardmap next = *old;
        next.server[shard] = (uint8_t)to;
        char *spec = shardmap_format(&next);
        fprintf(stderr,
                "kho: shard %lu copied from server %u to server %lu; restart every node with the "
                "--shard-map below, then run this again with --delete-source %016llx\n",
                shard, from, to, (unsigned long long)fp);
        printf("%s\n", spec);
        free(spec);
    }
    m->ops->close(m);
    return code;
}

int cmd_shard(int argc, char **argv)
{
    const char *to = NULL, *db = getenv("KHO_DB"), *map = getenv("KHO_SHARD_MAP"), *check = NULL;
    const struct client_flag flags[] = {{"--to", &to, NULL},
                                        {"--db", &db, NULL},
                                        {"--shard-map", &map, NULL},
                                        {"--delete-source", &check, NULL}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    if (npos != 2 || strcmp(argv[1], "move") != 0 || !to) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    return move(argv[2], to, db, map, check);
}
