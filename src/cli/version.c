/* `kho version`: the version and the image formats this build can take in. */
#include <stdio.h>
#include "cli/cli.h"
#include "image/probe.h"
#include "core/kho.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("kho %s\n", KHO_VERSION);
    if (probe_init() == KHO_OK) {
        char formats[128];
        probe_formats(formats, sizeof(formats));
        printf("formats: %s\n", formats);
    }
    return 0;
}
