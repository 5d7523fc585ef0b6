/* The kho command line: one binary, git-style subcommands, one file per subcommand. */
#ifndef KHO_CLI_H
#define KHO_CLI_H
#include <stdbool.h>
#include <stddef.h>

struct client;

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
int cmd_album(int argc, char **argv);
int cmd_share(int argc, char **argv);
int cmd_shard(int argc, char **argv);
int cmd_gc(int argc, char **argv);

/* "volume:DIR" -> DIR for the offline store commands, from --data DIR or --blob URL (and their
 * KHO_DATA / KHO_BLOB variables). Prints a message and returns NULL when the store is not a
 * local volume store. The result is static. */
const char *cli_volume_dir(int argc, char **argv);

struct kho_config;
/* The stores' URLs into cfg as `kho server` would take them from --data, --db and --blob (each
 * NULL when not given) and the environment. False after printing why when the settings are bad
 * or name an SQLite file that does not exist (a mistyped --data must not create an empty store). */
bool cli_store_config(const char *data, const char *db, const char *blob, struct kho_config *cfg);

/* The album name (an id, else an exact title) stands for, its id into id. With create, a title
 * no album has becomes a new album. Prints "kho: ..." and returns the exit code on failure:
 * 4 no such album, 2 several albums with that title. */
int album_resolve(const struct client *c, const char *name, bool create, char id[24]);
/* Add the images ids[0..n) to album album_id, in requests of at most 200 (each all or
 * nothing). Prints "kho: ..." and returns the exit code on failure. */
int album_add(const struct client *c, const char *album_id, const char *const *ids, size_t n);

/* A link lifetime ("3600", "90s", "30m", "24h", "7d") in seconds into *secs; false after
 * printing why when it is malformed or outside 60 s to 365 days. */
bool share_parse_expires(const char *s, long long *secs);
/* POST path (an image's or an album's .../links) for a link that lives secs seconds (0: never
 * expires) and print its URL. Returns the exit code. */
int share_link(const struct client *c, const char *path, long long secs);

#endif
