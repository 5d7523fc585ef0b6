/* Entry point of the kho binary: everything is a subcommand (src/cli/). */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
