/* `kho server`: parse the settings and run the HTTP server until SIGTERM. */
#include <stdio.h>
#include <strings.h>
#include "cli/cli.h"
#include "http/server.h"
#include "core/kho.h"

int cmd_server(int argc, char **argv)
{
    struct kho_config cfg;
    bool help;
    if (config_load(&cfg, argc, argv, &help, stderr))
        return 2;
    if (help) {
        config_usage(stdout);
        return 0;
    }
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(cfg.log_level, levels[i]))
            log_set_level((enum log_level)i);
    return server_run(&cfg);
}
