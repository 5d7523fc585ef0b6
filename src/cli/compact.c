/* `kho compact`: reclaim the space of dead records. Offline it compacts the store itself; when a
 * server holds the store it asks that server to compact now (SIGUSR1), since one process at a
 * time may write a store. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "blob/volume.h"
#include "cli/cli.h"
#include "core/kho.h"

static const char usage[] =
    "usage: kho compact [--data DIR | --blob volume:DIR] [--ratio R]\n"
    "  compacts volumes whose dead share is at least R (default 0: every volume with garbage)\n";

int cmd_compact(int argc, char **argv)
{
    double ratio = 0.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ratio") && i + 1 < argc) {
            char *end;
            ratio = strtod(argv[++i], &end);
            if (*end || ratio < 0 || ratio > 1) {
                fprintf(stderr, "kho: --ratio takes a number from 0 to 1\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    }
    const char *dir = cli_volume_dir(argc, argv);
    if (!dir)
        return 2;
    pid_t pid = 0;
    if (volume_lock_owner(dir, &pid) == KHO_OK && pid > 0) {
        if (kill(pid, SIGUSR1) != 0) {
            perror("kho: cannot signal the server");
            return 2;
        }
        printf("asked the server (process %d) holding '%s' to compact now\n", (int)pid, dir);
        return 0;
    }
    struct blob_store *s;
    enum kho_err rc = volume_open(dir, 1ULL << 30, &s);
    if (rc) {
        fprintf(stderr, "kho: cannot open store '%s': %s\n", dir, kho_err_name(rc));
        return 2;
    }
    uint64_t reclaimed = 0;
    struct blob_stats before, after;
    s->ops->stats(s, &before);
    rc = blob_compact(s, ratio, &reclaimed);
    s->ops->stats(s, &after);
    blob_close(s);
    if (rc) {
        fprintf(stderr, "kho: compaction of '%s' failed: %s\n", dir, kho_err_name(rc));
        return 1;
    }
    printf("compacted %s: reclaimed %llu bytes (%llu -> %llu bytes on disk, %llu live blobs)\n",
           dir, (unsigned long long)reclaimed, (unsigned long long)before.disk_bytes,
           (unsigned long long)after.disk_bytes, (unsigned long long)after.blobs);
    return 0;
}
