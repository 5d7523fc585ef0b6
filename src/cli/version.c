/* `kho version`: the version and the image formats this build can take in. */
#include <stdio.h>
#include "cli/cli.h"
#include "image/probe.h"
#include "image/process.h"
#include "core/kho.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("kho %s\n", KHO_VERSION);
    if (probe_init() == KHO_OK) {
        char in[128], out[128];
        probe_formats(in, sizeof(in));
        process_formats(out, sizeof(out));
        printf("formats: %s\nvariant formats: %s\n", in, out);
    }
    return 0;
}
