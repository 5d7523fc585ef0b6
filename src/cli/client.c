/* Client plumbing: resolves the server URL and token (flags, environment, config file), writes
 * the config, and runs HTTP calls on libcurl with bounded buffering and kho's exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/client.h"
#include "core/kho.h"

int client_args(int argc, char **argv, const struct client_flag *flags, size_t nflags,
                const char *usage, int *npos)
{
    bool options = true;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options || a[0] != '-' || !strcmp(a, "-")) {
            argv[1 + (*npos)++] = argv[i]; /* never ahead of i, so nothing unread is lost */
            continue;
        }
        if (!strcmp(a, "--")) {
            options = false;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return -1;
        }
        const struct client_flag *f = NULL;
        const char *val = NULL;
        for (size_t k = 0; k < nflags && !f; k++) {
            size_t n = strlen(flags[k].name);
            if (strncmp(a, flags[k].name, n) != 0)
                continue;
            if (a[n] == '\0')
                f = &flags[k];
            else if (a[n] == '=' && flags[k].val)
                f = &flags[k], val = a + n + 1;
        }
        if (!f) {
            fprintf(stderr, "kho: unknown option '%s'\n%s", a, usage);
            return CLIENT_EXIT_USAGE;
        }
        if (!f->val) {
            *f->on = true;
            continue;
        }
        if (!val && i + 1 >= argc) {
            fprintf(stderr, "kho: %s needs a value\n%s", f->name, usage);
            return CLIENT_EXIT_USAGE;
        }
        *f->val = val ? val : argv[++i];
    }
    return CLIENT_EXIT_OK;
}

bool client_xdg_path(const char *dir_env, const char *fallback, const char *name, char *out,
                     size_t n)
{
    const char *base = getenv(dir_env);
    int len;
    if (base && base[0] == '/') {
        len = snprintf(out, n, "%s/kho/%s", base, name);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            /* getpwuid is fine here: the client is single-threaded until uploads start */
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home) {
            fprintf(stderr, "kho: no home directory (set HOME or %s)\n", dir_env);
            return false;
        }
        len = snprintf(out, n, "%s/%s/kho/%s", home, fallback, name);
    }
    if (len < 0 || (size_t)len >= n) {
        fprintf(stderr, "kho: the path of '%s' is too long\n", name);
        return false;
    }
    return true;
}

bool client_mkdir_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (len == 0)
        return true;
    if (len >= sizeof(dir))
        return false;
    memcpy(dir, path, len);
    dir[len] = '\0';
    for (size_t i = 1; i <= len; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char c = dir[i];
        dir[i] = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "kho: cannot create '%s': %s\n", dir, strerror(errno));
            return false;
        }
        dir[i] = c;
    }
    return true;
}

/* Reads url / token / username from the config file; a missing file is not an error. */
static void read_config(char *url, size_t url_n, char *token, size_t token_n, char *user,
                        size_t user_n)
{
    char path[4096], line[2048];
    if (!client_xdg_path("XDG_CONFIG_HOME", ".config", "config", path, sizeof(path)))
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        char *k = line, *v = eq + 1, *end = eq;
        while (*k == ' ' || *k == '\t')
            k++;
        while (end > k && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\r\n")] = '\0';
        for (size_t vl = strlen(v); vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'); vl--)
            v[vl - 1] = '\0';
        if (!strcmp(k, "url"))
            snprintf(url, url_n, "%s", v);
        else if (!strcmp(k, "token"))
            snprintf(token, token_n, "%s", v);
        else if (!strcmp(k, "username"))
            snprintf(user, user_n, "%s", v);
    }
    fclose(f);
}

int client_config_save(const char *url, const char *token, const char *user)
{
    char path[4096], tmp[4200];
    if (!client_xdg_path("XDG_CONFIG_HOME", ".config", "config", path, sizeof(path)) ||
        !client_mkdir_parent(path))
        return CLIENT_EXIT_FAILED;
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "kho: cannot write '%s': %s\n", tmp, strerror(errno));
        return CLIENT_EXIT_FAILED;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return CLIENT_EXIT_FAILED;
    }
    fprintf(f, "# written by kho login\nurl = %s\ntoken = %s\nusername = %s\n", url, token, user);
    /* the token is a credential: the rename must not expose a half-written or world-readable
     * file, so the mode is set on the descriptor and the data reaches disk first */
    bool ok = fchmod(fd, 0600) == 0 && fflush(f) == 0 && fsync(fd) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "kho: cannot write '%s': %s\n", path, strerror(errno));
        unlink(tmp);
        return CLIENT_EXIT_FAILED;
    }
    return CLIENT_EXIT_OK;
}

int client_setup(struct client *c, const char *url_flag, const char *token_flag, bool need_token)
{
    char url[sizeof(c->url)] = "";
    memset(c, 0, sizeof(*c));
    read_config(url, sizeof(url), c->token, sizeof(c->token), c->user, sizeof(c->user));
    const char *env_url = getenv("KHO_URL"), *env_token = getenv("KHO_TOKEN");
    const char *u = url_flag ? url_flag : env_url && *env_url ? env_url : url[0] ? url : NULL;
    if (token_flag)
        snprintf(c->token, sizeof(c->token), "%s", token_flag);
    else if (env_token && *env_token)
        snprintf(c->token, sizeof(c->token), "%s", env_token);
    snprintf(c->url, sizeof(c->url), "%s", u ? u : CLIENT_DEFAULT_URL);
    for (size_t n = strlen(c->url); n > 0 && c->url[n - 1] == '/'; n--)
        c->url[n - 1] = '\0';
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0) {
        fprintf(stderr, "kho: '%s' is not an http:// or https:// URL\n", c->url);
        return CLIENT_EXIT_USAGE;
    }
    if (strpbrk(c->token, "\r\n")) {
        fprintf(stderr, "kho: the token contains a line break\n");
        return CLIENT_EXIT_USAGE;
    }
    if (need_token && !c->token[0]) {
        fprintf(stderr, "kho: not logged in (run 'kho login', or give --token or KHO_TOKEN)\n");
        return CLIENT_EXIT_AUTH;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "kho: cannot start libcurl\n");
        return CLIENT_EXIT_SERVER;
    }
    return CLIENT_EXIT_OK;
}

void client_cleanup(void)
{
    curl_global_cleanup();
}

bool client_valid_id(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 20 && strspn(s, "0123456789") == n;
}

void client_resp_init(struct client_resp *r, FILE *out)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, CLIENT_JSON_MAX);
    r->out = out;
}

void client_resp_free(struct client_resp *r)
{
    buf_free(&r->body);
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct client_resp *r = arg;
    size_t len = size * n;
    if (r->out && r->status >= 200 && r->status < 300) {
        size_t done = fwrite(data, 1, len, r->out);
        if (done < len)
            r->write_errno = errno;
        return done;
    }
    if (buf_append(&r->body, data, len) != KHO_OK) {
        r->too_large = true;
        return 0;
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct client_resp *r = arg;
    size_t len = size * n;
    /* the status line of each response (also of a 100 Continue) comes first */
    if (len > 9 && !strncmp(data, "HTTP/", 5)) {
        const char *sp = memchr(data, ' ', len);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->ctype[0] = '\0';
    } else if (len > 13 && !strncasecmp(data, "content-type:", 13)) {
        const char *v = data + 13;
        size_t vl = len - 13;
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof(r->ctype))
            vl = sizeof(r->ctype) - 1;
        memcpy(r->ctype, v, vl);
        r->ctype[vl] = '\0';
    }
    return len;
}

void client_prepare(CURL *h, const struct client *c, const char *method, const char *path,
                    const char *ctype, struct client_resp *r)
{
    char url[4096 + sizeof(c->url)], line[sizeof(c->token) + 32];
    curl_easy_reset(h);
    snprintf(url, sizeof(url), "%s%s", c->url, path);
    curl_slist_free_all(r->hdrs);
    r->hdrs = curl_slist_append(NULL, "Expect:");
    if (c->token[0]) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", c->token);
        r->hdrs = curl_slist_append(r->hdrs, line);
    }
    if (ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        r->hdrs = curl_slist_append(r->hdrs, line);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kho/" KHO_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
    /* threads run their own handles; curl must not use signals for its timeouts */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
}

/* The exit code an outcome maps to; 0 for a complete 2xx answer. */
static int resp_code(const struct client_resp *r)
{
    if (r->rc == CURLE_ABORTED_BY_CALLBACK)
        return CLIENT_EXIT_INTERRUPTED;
    if (r->too_large)
        return CLIENT_EXIT_SERVER;
    if (r->rc == CURLE_WRITE_ERROR)
        return CLIENT_EXIT_FAILED; /* the local file could not be written */
    if (r->rc != CURLE_OK)
        return CLIENT_EXIT_SERVER;
    if (r->status == 401 || r->status == 403)
        return CLIENT_EXIT_AUTH;
    if (r->status == 404)
        return CLIENT_EXIT_NOTFOUND;
    if (r->status >= 500)
        return CLIENT_EXIT_SERVER;
    if (r->status >= 200 && r->status < 300)
        return CLIENT_EXIT_OK;
    return CLIENT_EXIT_FAILED;
}

int client_perform(CURL *h, struct client_resp *r)
{
    r->errbuf[0] = '\0';
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    return resp_code(r);
}

void client_message(const struct client_resp *r, char *msg, size_t n)
{
    if (r->rc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(msg, n, "interrupted");
        return;
    }
    if (r->too_large) {
        snprintf(msg, n, "the server's answer is larger than %u bytes", CLIENT_JSON_MAX);
        return;
    }
    if (r->rc == CURLE_WRITE_ERROR) {
        snprintf(msg, n, "cannot write the download: %s", strerror(r->write_errno));
        return;
    }
    if (r->rc != CURLE_OK) {
        snprintf(msg, n, "cannot reach the server: %s",
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->rc));
        return;
    }
    json_t *doc = json_loadb(r->body.p, r->body.len, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    if (m && *m)
        snprintf(msg, n, "%s", m);
    else
        snprintf(msg, n, "the server answered HTTP %ld", r->status);
    json_decref(doc);
}

int client_fail(const struct client_resp *r)
{
    char msg[1024];
    client_message(r, msg, sizeof(msg));
    fprintf(stderr, "kho: %s\n", msg);
    return resp_code(r);
}

/* client_json, where quiet_404 leaves a 404 for the caller to report. */
static int json_call(const struct client *c, const char *method, const char *path, json_t *body,
                     json_t **out, bool quiet_404)
{
    struct client_resp r;
    char *text = NULL;
    *out = NULL;
    CURL *h = curl_easy_init();
    if (!h) {
        fprintf(stderr, "kho: cannot start libcurl\n");
        return CLIENT_EXIT_SERVER;
    }
    client_resp_init(&r, NULL);
    client_prepare(h, c, method, path, body ? "application/json" : NULL, &r);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    }
    int code = client_perform(h, &r);
    if (code && !(quiet_404 && code == CLIENT_EXIT_NOTFOUND)) {
        code = client_fail(&r);
    } else if (!code && r.body.len > 0) {
        *out = json_loadb(r.body.p, r.body.len, 0, NULL);
        if (!*out) {
            fprintf(stderr, "kho: the server's answer is not JSON\n");
            code = CLIENT_EXIT_SERVER;
        }
    }
    free(text);
    client_resp_free(&r);
    curl_easy_cleanup(h);
    return code;
}

int client_json(const struct client *c, const char *method, const char *path, json_t *body,
                json_t **out)
{
    return json_call(c, method, path, body, out, false);
}

int client_json_lookup(const struct client *c, const char *method, const char *path, json_t *body,
                       json_t **out)
{
    return json_call(c, method, path, body, out, true);
}

static const char *field(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v && *v ? v : "-";
}

void client_print_image(json_t *img)
{
    json_t *tags = json_object_get(img, "tags");
    size_t k;
    printf("%s\t%s\t%lldx%lld\t%lld\t%s\t%s\t", field(img, "id"), field(img, "format"),
           (long long)json_integer_value(json_object_get(img, "width")),
           (long long)json_integer_value(json_object_get(img, "height")),
           (long long)json_integer_value(json_object_get(img, "bytes")), field(img, "visibility"),
           field(img, "title"));
    for (k = 0; k < json_array_size(tags); k++) {
        const char *t = json_string_value(json_array_get(tags, k));
        printf("%s%s", k ? "," : "", t ? t : "");
    }
    if (json_array_size(tags) == 0)
        fputs("-", stdout);
    fputc('\n', stdout);
}

int client_pages(const struct client *c, const char *path, bool (*each)(json_t *item, void *arg),
                 void *arg)
{
    char *cursor = NULL;
    int code = CLIENT_EXIT_OK;
    bool more = true;
    while (more && !code) {
        char url[4096];
        int len =
            snprintf(url, sizeof(url), "%s%slimit=%d%s%s", path, strchr(path, '?') ? "&" : "?",
                     CLIENT_PAGE_MAX, cursor ? "&cursor=" : "", cursor ? cursor : "");
        curl_free(cursor);
        cursor = NULL;
        if (len < 0 || (size_t)len >= sizeof(url)) {
            fprintf(stderr, "kho: the request is too long\n");
            return CLIENT_EXIT_USAGE;
        }
        json_t *doc, *item;
        size_t k;
        code = client_json(c, "GET", url, NULL, &doc);
        if (code)
            break;
        json_t *items = json_object_get(doc, "items");
        if (!json_is_array(items)) {
            fprintf(stderr, "kho: the server's answer has no items\n");
            code = CLIENT_EXIT_SERVER;
        }
        json_array_foreach(items, k, item)
        {
            more = each(item, arg);
            if (!more)
                break;
        }
        const char *next = json_string_value(json_object_get(doc, "next_cursor"));
        if (more && next && *next && json_array_size(items) > 0)
            cursor = curl_easy_escape(NULL, next, 0);
        more = cursor != NULL;
        json_decref(doc);
    }
    curl_free(cursor);
    return code;
}
