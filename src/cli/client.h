/* Plumbing shared by the client subcommands (login, upload, ls, get, rm): where the server and
 * token come from, the config and state files, HTTP calls over libcurl, and exit codes. */
#ifndef KHO_CLI_CLIENT_H
#define KHO_CLI_CLIENT_H
#include <stdbool.h>
#include <stdio.h>
#include <curl/curl.h>
#include <jansson.h>
#include "core/buf.h"

/* Exit codes of every client subcommand (documented in README.md and `kho help`). */
enum client_exit {
    CLIENT_EXIT_OK = 0,
    CLIENT_EXIT_FAILED = 1,   /* an item failed (one of several uploads, a rejected request) */
    CLIENT_EXIT_USAGE = 2,    /* bad arguments */
    CLIENT_EXIT_AUTH = 3,     /* 401/403 from the server, or no token */
    CLIENT_EXIT_NOTFOUND = 4, /* 404 */
    CLIENT_EXIT_SERVER = 5,   /* 5xx, unreachable server, unreadable answer */
    CLIENT_EXIT_INTERRUPTED = 130,
};

#define CLIENT_DEFAULT_URL "http://127.0.0.1:8080"
#define CLIENT_JSON_MAX (4u << 20) /* ceiling of any response body held in memory */
#define CLIENT_PAGE_MAX 200        /* the server's largest page */

/* Where to talk to, resolved from flags, then KHO_URL / KHO_TOKEN, then the config file. */
struct client {
    char url[1024];  /* base URL, no trailing slash */
    char token[512]; /* empty when none was found */
    char user[128];  /* username saved by `kho login`, empty if unknown */
};

/* One request's outcome. A 2xx body goes to out when it is set, otherwise (and always for
 * errors) it is buffered in body up to CLIENT_JSON_MAX. The struct owns body and hdrs. */
struct client_resp {
    long status; /* 0 when no HTTP answer came */
    CURLcode rc;
    char errbuf[CURL_ERROR_SIZE];
    char ctype[128]; /* the answer's Content-Type, "" if none */
    struct buf body;
    FILE *out;
    int write_errno; /* why writing to out failed */
    bool too_large;  /* the buffered body hit its ceiling */
    struct curl_slist *hdrs;
};

/* A command-line option: one taking a value (val set) or a switch (on set). */
struct client_flag {
    const char *name; /* "--tag", "-o" */
    const char **val; /* receives the value of "NAME VALUE" or "NAME=VALUE" */
    bool *on;         /* set to true by a switch */
};

/* Parse argv[1..] against flags; positional arguments are moved, in order, to argv[1..*npos]
 * ("--" ends the options, "-" is positional). Returns 0 to go on, CLIENT_EXIT_USAGE after
 * printing the error and usage to stderr, or -1 after printing usage to stdout for --help (the
 * command then exits 0). */
int client_args(int argc, char **argv, const struct client_flag *flags, size_t nflags,
                const char *usage, int *npos);

/* Fill c from url_flag / token_flag (either may be NULL), the environment and the config file,
 * and start libcurl. With need_token and no token, prints "not logged in" and returns
 * CLIENT_EXIT_AUTH; returns CLIENT_EXIT_USAGE for a URL that is not http(s). Pair with
 * client_cleanup. */
int client_setup(struct client *c, const char *url_flag, const char *token_flag, bool need_token);
void client_cleanup(void);

/* DIR_ENV (e.g. "XDG_CONFIG_HOME") or else $HOME/FALLBACK, then "/kho/" NAME, into out.
 * Returns false (printing why) when there is no home directory or the path does not fit. */
bool client_xdg_path(const char *dir_env, const char *fallback, const char *name, char *out,
                     size_t n);

/* mkdir -p of the directory part of path, with mode 0700 for the new levels. */
bool client_mkdir_parent(const char *path);

/* Write the config file (url, token, username; 0600, replaced atomically). Prints errors.
 * Returns an exit code. */
int client_config_save(const char *url, const char *token, const char *user);

/* Whether s looks like an image id (1 to 20 decimal digits); rejects anything that could
 * change the request's path. */
bool client_valid_id(const char *s);

/* Start a response (out: where a 2xx body goes, or NULL to buffer it) / release it. */
void client_resp_init(struct client_resp *r, FILE *out);
void client_resp_free(struct client_resp *r);

/* Reset h and set it up for METHOD c->url PATH with the token, the optional Content-Type and
 * the callbacks that fill r. path must be URL-encoded already. Callers add a body if any. */
void client_prepare(CURL *h, const struct client *c, const char *method, const char *path,
                    const char *ctype, struct client_resp *r);

/* Run the prepared transfer; returns the exit code its outcome maps to (0 for a 2xx answer,
 * CLIENT_EXIT_INTERRUPTED when a progress callback aborted it). */
int client_perform(CURL *h, struct client_resp *r);

/* The message for a failed response: the server's JSON error message, else a description of
 * the network error or status. */
void client_message(const struct client_resp *r, char *msg, size_t n);

/* Prints "kho: MESSAGE" for a failed response and returns its exit code. */
int client_fail(const struct client_resp *r);

/* A whole JSON call: METHOD PATH with body (may be NULL) -> *out (new reference, NULL for an
 * empty answer; caller json_decref's). Prints "kho: ..." on failure and returns the exit code. */
int client_json(const struct client *c, const char *method, const char *path, json_t *body,
                json_t **out);
/* client_json for a lookup that may miss: a 404 returns CLIENT_EXIT_NOTFOUND without printing
 * anything (other failures are printed as by client_json). */
int client_json_lookup(const struct client *c, const char *method, const char *path, json_t *body,
                       json_t **out);

/* GET path (with or without a query) page by page, following next_cursor, and call
 * each(item, arg) for every item until it returns false. Prints "kho: ..." on failure and returns
 * the exit code. */
int client_pages(const struct client *c, const char *path, bool (*each)(json_t *item, void *arg),
                 void *arg);

/* Print an image record as one line of `kho ls`: ID FORMAT WxH BYTES VISIBILITY TITLE TAGS
 * (tab-separated, "-" for an empty title or no tags). */
void client_print_image(json_t *img);

#endif
