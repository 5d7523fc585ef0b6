/* `kho get ID`: download an original or a variant, streamed to a temporary file that is
 * renamed into place only once the whole body has arrived (or streamed to stdout). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

static const char usage[] =
    "usage: kho get ID [-o FILE|-] [--p thumb|small|medium|large] [--w N] [--h N]\n"
    "                  [--fit contain|cover|fill] [--fmt jpeg|png|webp|avif] [--q 1-100]\n"
    "                  [--url URL] [--token TOKEN]\n"
    "  Writes FILE (default ID.EXT from the answer's type); '-o -' writes to stdout.\n";

/* File extension for a Content-Type; "bin" for types kho does not serve. */
static const char *ext_of(const char *ctype)
{
    static const char *const map[][2] = {{"image/jpeg", "jpg"},  {"image/png", "png"},
                                         {"image/webp", "webp"}, {"image/gif", "gif"},
                                         {"image/tiff", "tif"},  {"image/heif", "heif"},
                                         {"image/heic", "heic"}, {"image/avif", "avif"}};
    for (size_t i = 0; i < ARRAY_LEN(map); i++) {
        size_t n = strlen(map[i][0]);
        if (!strncasecmp(ctype, map[i][0], n) && (ctype[n] == '\0' || ctype[n] == ';'))
            return map[i][1];
    }
    return "bin";
}

/* Appends "&NAME=VALUE" (value URL-escaped) to q when value is set. */
static bool add_param(char *q, size_t n, const char *name, const char *value)
{
    if (!value)
        return true;
    char *e = curl_easy_escape(NULL, value, 0);
    size_t len = strlen(q);
    int w = snprintf(q + len, n - len, "%s%s=%s", len ? "&" : "?", name, e);
    curl_free(e);
    return w >= 0 && (size_t)w < n - len;
}

int cmd_get(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *out = NULL;
    const char *w = NULL, *h = NULL, *fit = NULL, *fmt = NULL, *q = NULL, *preset = NULL;
    const struct client_flag flags[] = {
        {"--url", &url, NULL}, {"--token", &token, NULL}, {"-o", &out, NULL},    {"--w", &w, NULL},
        {"--h", &h, NULL},     {"--fit", &fit, NULL},     {"--fmt", &fmt, NULL}, {"--q", &q, NULL},
        {"--p", &preset, NULL}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    const char *id = npos == 1 ? argv[1] : NULL;
    if (!id || !client_valid_id(id)) {
        fputs(npos == 1 ? "kho: an image id is a number\n" : usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    char query[1024] = "", path[1200];
    if (!add_param(query, sizeof(query), "w", w) || !add_param(query, sizeof(query), "h", h) ||
        !add_param(query, sizeof(query), "fit", fit) ||
        !add_param(query, sizeof(query), "fmt", fmt) || !add_param(query, sizeof(query), "q", q) ||
        !add_param(query, sizeof(query), "p", preset)) {
        fprintf(stderr, "kho: the variant parameters are too long\n");
        return CLIENT_EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "/i/%s%s", id, query);
    struct client c;
    code = client_setup(&c, url, token, false);
    if (code)
        return code;

    bool to_stdout = out && !strcmp(out, "-");
    char tmp[4200] = "";
    FILE *f = stdout;
    if (!to_stdout) {
        /* the temporary file sits beside the target so the final rename stays on one
         * filesystem and is atomic */
        const char *slash = out ? strrchr(out, '/') : NULL;
        int dl = slash ? (int)(slash - out + 1) : 0;
        int len = snprintf(tmp, sizeof(tmp), "%.*s.kho-get-%s.XXXXXX", dl, out ? out : "", id);
        int fd = len > 0 && (size_t)len < sizeof(tmp) ? mkstemp(tmp) : -1;
        if (fd < 0 || !(f = fdopen(fd, "wb"))) {
            fprintf(stderr, "kho: cannot create a file beside '%s': %s\n", out ? out : id,
                    strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(tmp);
            }
            client_cleanup();
            return CLIENT_EXIT_FAILED;
        }
        /* mkstemp makes the file 0600; a download gets the usual mode for new files */
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
    }
    struct client_resp r;
    CURL *hd = curl_easy_init();
    client_resp_init(&r, f);
    if (hd) {
        client_prepare(hd, &c, "GET", path, NULL, &r);
        code = client_perform(hd, &r);
        if (code)
            code = client_fail(&r);
        curl_easy_cleanup(hd);
    } else {
        fprintf(stderr, "kho: cannot start libcurl\n");
        code = CLIENT_EXIT_SERVER;
    }
    if (fflush(f) != 0 && !code) {
        fprintf(stderr, "kho: cannot write the download: %s\n", strerror(errno));
        code = CLIENT_EXIT_FAILED;
    }
    if (!to_stdout) {
        char dest[4200];
        if (out)
            snprintf(dest, sizeof(dest), "%s", out);
        else
            snprintf(dest, sizeof(dest), "%s.%s", id, ext_of(r.ctype));
        if (fclose(f) != 0 && !code) {
            fprintf(stderr, "kho: cannot write the download: %s\n", strerror(errno));
            code = CLIENT_EXIT_FAILED;
        }
        if (!code && rename(tmp, dest) != 0) {
            fprintf(stderr, "kho: cannot write '%s': %s\n", dest, strerror(errno));
            code = CLIENT_EXIT_FAILED;
        }
        if (code)
            unlink(tmp);
        else
            printf("%s\n", dest);
    }
    client_resp_free(&r);
    client_cleanup();
    return code;
}
