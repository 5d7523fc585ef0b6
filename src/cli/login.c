/* `kho login`: trade a username and password for a session token and keep the server URL and
 * the token in the client's config file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

static const char usage[] =
    "usage: kho login [--url URL] [--username USER]\n"
    "  The password is read from KHO_PASSWORD, else a prompt on a terminal, else stdin.\n"
    "  Saves url and token to $XDG_CONFIG_HOME/kho/config (~/.config/kho/config).\n";

/* One line from f without its line break; false on end of input or a line that is too long. */
static bool read_line(FILE *f, char *out, size_t n)
{
    if (!fgets(out, (int)n, f))
        return false;
    size_t len = strcspn(out, "\r\n");
    if (out[len] == '\0' && len == n - 1)
        return false;
    out[len] = '\0';
    return true;
}

/* Prompts on the terminal (stdin is one); with hide, the answer is not echoed. */
static bool prompt(const char *what, bool hide, char *out, size_t n)
{
    struct termios old, quiet;
    bool restore = false;
    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    if (hide && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    bool ok = read_line(stdin, out, n);
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return ok;
}

int cmd_login(int argc, char **argv)
{
    const char *url = NULL, *user = NULL;
    char name[128], password[1024];
    const struct client_flag flags[] = {{"--url", &url, NULL}, {"--username", &user, NULL}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    if (npos > 0) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    struct client c;
    code = client_setup(&c, url, NULL, false);
    if (code)
        return code;
    bool tty = isatty(STDIN_FILENO);
    if (!user && c.user[0] && !tty) {
        user = c.user;
    } else if (!user) {
        if (!tty || !prompt("username", false, name, sizeof(name)) || !name[0]) {
            fprintf(stderr, "kho: no username (give --username)\n");
            client_cleanup();
            return CLIENT_EXIT_USAGE;
        }
        user = name;
    }
    const char *env = getenv("KHO_PASSWORD");
    if (env && *env) {
        snprintf(password, sizeof(password), "%s", env);
    } else if (!(tty ? prompt("password", true, password, sizeof(password))
                     : read_line(stdin, password, sizeof(password)))) {
        fprintf(stderr, "kho: no password (type it, pipe it on stdin or set KHO_PASSWORD)\n");
        client_cleanup();
        return CLIENT_EXIT_USAGE;
    }
    json_t *req = json_pack("{ssss}", "username", user, "password", password), *doc = NULL;
    explicit_bzero(password, sizeof(password));
    c.token[0] = '\0'; /* a stale token must not ride along on the login */
    code = client_json(&c, "POST", "/api/v1/sessions", req, &doc);
    json_decref(req);
    if (!code) {
        const char *token = json_string_value(json_object_get(doc, "token"));
        if (!token || !*token || strpbrk(token, "\r\n")) {
            fprintf(stderr, "kho: the server's answer has no token\n");
            code = CLIENT_EXIT_SERVER;
        } else {
            code = client_config_save(c.url, token, user);
        }
        if (!code)
            fprintf(stderr, "logged in to %s as %s\n", c.url, user);
    }
    json_decref(doc);
    client_cleanup();
    return code;
}
