/* The kho command line: one binary, git-style subcommands, one file per subcommand. */
#ifndef KHO_CLI_H
#define KHO_CLI_H

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
    const char *summary;
};

/* Dispatch argv[1] to its subcommand; returns the exit code. */
int cli_main(int argc, char **argv);

int cmd_server(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_upload(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_quota(int argc, char **argv);

/* "volume:DIR" -> DIR for the offline store commands, from --data DIR or --blob URL (and their
 * KHO_DATA / KHO_BLOB variables). Prints a message and returns NULL when the store is not a
 * local volume store. The result is static. */
const char *cli_volume_dir(int argc, char **argv);

#endif
