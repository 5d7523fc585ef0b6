/* `kho fsck`: verify every record of a local volume store offline; --repair quarantines
 * damaged records. Exit 0 when clean (or fully repaired), 1 when problems remain, 2 on errors. */
#include <stdio.h>
#include <string.h>
#include "blob/volume.h"
#include "cli/cli.h"
#include "core/kho.h"

static const char usage[] = "usage: kho fsck [--data DIR | --blob volume:DIR] [--repair]\n";

int cmd_fsck(int argc, char **argv)
{
    bool repair = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repair"))
            repair = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    }
    const char *dir = cli_volume_dir(argc, argv);
    if (!dir)
        return 2;
    struct volume_fsck_report rep;
    enum kho_err rc = volume_fsck(dir, repair, &rep, stdout);
    if (rc == KHO_E_BUSY) {
        pid_t pid = 0;
        volume_lock_owner(dir, &pid);
        fprintf(stderr, "kho: store '%s' is in use by process %d; stop the server first\n", dir,
                (int)pid);
        return 2;
    }
    if (rc) {
        fprintf(stderr, "kho: fsck of '%s' failed: %s\n", dir, kho_err_name(rc));
        return 2;
    }
    printf("fsck %s: %llu volumes, %llu records (%llu live, %llu tombstones), %llu bytes; "
           "%llu corrupt, %llu torn bytes, %llu index errors; %llu problems, %llu repaired\n",
           dir, (unsigned long long)rep.volumes, (unsigned long long)rep.records,
           (unsigned long long)rep.live, (unsigned long long)rep.tombstones,
           (unsigned long long)rep.bytes, (unsigned long long)rep.corrupt,
           (unsigned long long)rep.torn_bytes, (unsigned long long)rep.index_errors,
           (unsigned long long)rep.problems, (unsigned long long)rep.repaired);
    return rep.problems > rep.repaired ? 1 : 0;
}
