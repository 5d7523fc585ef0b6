/* `kho upload FILE|DIR...`: parallel raw-body uploads with a progress bar, skipping files
 * uploaded before (a local SHA-256 -> id state file, checked against the server), and
 * resumable after Ctrl-C; --album puts every uploaded or already-present image in an album. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "auth/hash.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

#define UPLOAD_FILES_MAX (1u << 20) /* files one run accepts */
#define UPLOAD_SEEN_MAX (1u << 22)  /* state entries kept in memory */
#define UPLOAD_DEPTH_MAX 64         /* directory nesting (also stops symlink loops) */
#define UPLOAD_JOBS_MAX 32

static const char usage[] =
    "usage: kho upload FILE|DIR... [--tags t1,t2] [--title T] [--visibility private|unlisted|"
    "public]\n"
    "                  [-j N] [--album A] [--url URL] [--token TOKEN]\n"
    "  Directories are walked for images (jpg jpeg png webp gif tif tiff heic heif avif).\n"
    "  Files uploaded before (state in $XDG_STATE_HOME/kho/uploaded) are skipped. Ctrl-C\n"
    "  stops starting uploads and exits 130 once the running ones end; run again to resume.\n"
    "  A file that cannot be read counts as a failed item (exit 1).\n"
    "  --album A (an album id or title; a new title makes a new album) gets every image\n"
    "  uploaded or already there, also after Ctrl-C.\n";

static const char *const image_types[][2] = {
    {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"}, {"png", "image/png"},   {"webp", "image/webp"},
    {"gif", "image/gif"},   {"tif", "image/tiff"},  {"tiff", "image/tiff"}, {"heic", "image/heic"},
    {"heif", "image/heif"}, {"avif", "image/avif"}};

struct item {
    char *path;
    long long size;
};

/* sha256 -> image id of what this user already uploaded to this server (open addressing) */
struct seen {
    char (*sha)[65];
    char (*id)[24];
    size_t n, cap;
};

struct run {
    const struct client *c;
    char query[2048]; /* "?title=..&tags=..&visibility=.." or "" */
    struct item *items;
    size_t n, next;
    size_t uploaded, skipped, failed, done;
    long long bytes_total, bytes_done;
    long long *inflight; /* bytes sent by each worker's current upload */
    struct seen seen;
    FILE *state;
    char scope[1200]; /* "USER_ID@URL": state lines of other accounts or servers are ignored */
    char album[24];   /* --album's id, "" without one */
    char **album_ids; /* the images it gets: those finished, uploaded or already there */
    size_t nalbum;
    bool tty;
    uint64_t start_ns, drawn_ns;
    pthread_mutex_t lock;
};

struct worker {
    struct run *run;
    int slot;
    CURL *h;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    if (interrupted < 2)
        interrupted++;
}

static const char *ctype_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        return NULL;
    for (size_t i = 0; i < ARRAY_LEN(image_types); i++)
        if (!strcasecmp(dot + 1, image_types[i][0]))
            return image_types[i][1];
    return NULL;
}

static size_t seen_slot(const struct seen *s, const char *sha)
{
    size_t i = 0;
    /* the digest is already uniform: its first hex digits make a good enough hash */
    for (int k = 0; k < 15; k++)
        i = i * 16 + (size_t)(sha[k] <= '9' ? sha[k] - '0' : (sha[k] | 0x20) - 'a' + 10);
    for (i &= s->cap - 1; s->sha[i][0] && strcmp(s->sha[i], sha) != 0; i = (i + 1) & (s->cap - 1))
        ;
    return i;
}

static const char *seen_get(const struct seen *s, const char *sha)
{
    if (!s->cap)
        return NULL;
    size_t i = seen_slot(s, sha);
    return s->sha[i][0] ? s->id[i] : NULL;
}

/* Remembers sha -> id; past UPLOAD_SEEN_MAX entries the oldest knowledge simply stays on disk
 * and the server's 200-for-known-bytes answer still prevents duplicates. */
static void seen_put(struct seen *s, const char *sha, const char *id)
{
    if (strlen(sha) != 64 || strlen(id) >= sizeof(s->id[0]))
        return;
    if ((s->n + 1) * 2 > s->cap) {
        if (s->cap >= UPLOAD_SEEN_MAX * 2)
            return;
        struct seen bigger = {xcalloc(s->cap ? s->cap * 2 : 1024, 65),
                              xcalloc(s->cap ? s->cap * 2 : 1024, 24), 0,
                              s->cap ? s->cap * 2 : 1024};
        for (size_t i = 0; i < s->cap; i++)
            if (s->sha[i][0])
                seen_put(&bigger, s->sha[i], s->id[i]);
        free(s->sha);
        free(s->id);
        *s = bigger;
    }
    size_t i = seen_slot(s, sha);
    if (!s->sha[i][0])
        s->n++;
    memcpy(s->sha[i], sha, 65);
    snprintf(s->id[i], sizeof(s->id[i]), "%s", id);
}

/* Loads this scope's lines of the state file and opens it for appending. */
static bool state_open(struct run *run)
{
    char path[4096], line[2048], sha[65], id[24], scope[1300];
    if (!client_xdg_path("XDG_STATE_HOME", ".local/state", "uploaded", path, sizeof(path)) ||
        !client_mkdir_parent(path))
        return false;
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%64s %23s %1299s", sha, id, scope) == 3 && !strcmp(scope, run->scope))
            seen_put(&run->seen, sha, id);
    }
    if (f)
        fclose(f);
    run->state = fopen(path, "a");
    if (!run->state) {
        fprintf(stderr, "kho: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

static int add_item(struct run *run, const char *path, long long size)
{
    if (run->n >= UPLOAD_FILES_MAX) {
        fprintf(stderr, "kho: more than %u files\n", UPLOAD_FILES_MAX);
        return CLIENT_EXIT_USAGE;
    }
    if (run->n % 1024 == 0)
        run->items = xrealloc(run->items, (run->n + 1024) * sizeof(*run->items));
    run->items[run->n++] = (struct item){xstrdup(path), size};
    run->bytes_total += size;
    return CLIENT_EXIT_OK;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

/* Adds the images under path (a file or a directory). Unreadable paths count as failures;
 * other files are skipped with a note. Returns an exit code only for fatal problems. */
static int walk(struct run *run, const char *path, int depth, bool named)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "kho: cannot read '%s': %s\n", path, strerror(errno));
        run->failed++;
        return CLIENT_EXIT_OK;
    }
    if (S_ISREG(st.st_mode)) {
        if (ctype_of(path))
            return add_item(run, path, (long long)st.st_size);
        printf("skipped %s (not an image)\n", path);
        return CLIENT_EXIT_OK;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (named)
            printf("skipped %s (not a file)\n", path);
        return CLIENT_EXIT_OK;
    }
    if (depth >= UPLOAD_DEPTH_MAX) {
        printf("skipped %s (nested too deep)\n", path);
        return CLIENT_EXIT_OK;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "kho: cannot read '%s': %s\n", path, strerror(errno));
        run->failed++;
        return CLIENT_EXIT_OK;
    }
    size_t first = run->n;
    int code = CLIENT_EXIT_OK;
    struct dirent *e;
    while (!code && (e = readdir(d))) {
        char sub[4096];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int len = snprintf(sub, sizeof(sub), "%s%s%s", path,
                           path[strlen(path) - 1] == '/' ? "" : "/", e->d_name);
        if (len < 0 || (size_t)len >= sizeof(sub)) {
            fprintf(stderr, "kho: path too long under '%s'\n", path);
            run->failed++;
            continue;
        }
        code = walk(run, sub, depth + 1, false);
    }
    closedir(d);
    if (depth == 0)
        qsort(run->items + first, run->n - first, sizeof(*run->items), by_path);
    return code;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The progress bar (TTY only); called with run->lock held. */
static void draw(struct run *run, bool force)
{
    uint64_t now = now_ns();
    if (!run->tty || (!force && now - run->drawn_ns < 100000000u))
        return;
    run->drawn_ns = now;
    long long sent = run->bytes_done;
    for (int i = 0; i < UPLOAD_JOBS_MAX && run->inflight; i++)
        sent += run->inflight[i];
    double secs = (double)(now - run->start_ns) / 1e9, mib = 1024.0 * 1024.0;
    int width = 24, fill = run->n ? (int)(width * run->done / run->n) : width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    printf("\r\033[K[%s] %zu/%zu files  %.1f/%.1f MiB  %.1f MiB/s%s", bar, run->done, run->n,
           (double)sent / mib, (double)run->bytes_total / mib,
           secs > 0 ? (double)sent / mib / secs : 0.0, interrupted ? "  (stopping)" : "");
    fflush(stdout);
}

/* Records one file's outcome: a line (always for failures, otherwise off a TTY), the state. */
static void finish(struct worker *w, const struct item *it, const char *what, const char *sha,
                   const char *id, const char *msg)
{
    struct run *run = w->run;
    pthread_mutex_lock(&run->lock);
    run->done++;
    run->bytes_done += it->size;
    run->inflight[w->slot] = 0;
    bool failed = !strcmp(what, "failed");
    if (failed)
        run->failed++;
    else if (!strcmp(what, "uploaded"))
        run->uploaded++;
    else
        run->skipped++;
    if (id && run->album[0]) {
        if (run->nalbum % 1024 == 0) /* run->n bounds it: UPLOAD_FILES_MAX */
            run->album_ids = xrealloc(run->album_ids, (run->nalbum + 1024) * sizeof(char *));
        run->album_ids[run->nalbum++] = xstrdup(id);
    }
    if (id && sha && !seen_get(&run->seen, sha)) {
        seen_put(&run->seen, sha, id);
        /* one line per write and a flush each time: a crash keeps everything finished so far */
        fprintf(run->state, "%s %s %s\n", sha, id, run->scope);
        fflush(run->state);
    }
    if (failed || !run->tty) {
        if (run->tty)
            fputs("\r\033[K", stdout);
        if (failed)
            printf("failed %s: %s\n", it->path, msg);
        else if (!strcmp(what, "uploaded"))
            printf("uploaded %s %s\n", it->path, id);
        else
            printf("skipped %s (already uploaded: %s)\n", it->path, id);
        fflush(stdout);
    }
    draw(run, true);
    pthread_mutex_unlock(&run->lock);
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct worker *w = arg;
    (void)dltotal, (void)dlnow, (void)ultotal;
    pthread_mutex_lock(&w->run->lock);
    w->run->inflight[w->slot] = (long long)ulnow;
    draw(w->run, false);
    pthread_mutex_unlock(&w->run->lock);
    return interrupted >= 2; /* a second Ctrl-C aborts the uploads in flight */
}

static bool hash_file(const char *path, char hex[65], char *msg, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, n, "%s", strerror(errno));
        return false;
    }
    struct sha256 s;
    char chunk[65536];
    size_t got;
    sha256_init(&s);
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sha256_update(&s, chunk, got);
    bool ok = !ferror(f);
    if (!ok)
        snprintf(msg, n, "%s", strerror(errno));
    sha256_final(&s, hex);
    fclose(f);
    return ok;
}

/* Whether the server still has the image a state entry points at (a deleted one is uploaded
 * again). Returns 0 for yes, CLIENT_EXIT_NOTFOUND for no, another code with msg on failure. */
static int still_there(struct worker *w, const char *id, char *msg, size_t n)
{
    char path[64];
    struct client_resp r;
    snprintf(path, sizeof(path), "/api/v1/images/%s", id);
    client_resp_init(&r, NULL);
    client_prepare(w->h, w->run->c, "GET", path, NULL, &r);
    int code = client_perform(w->h, &r);
    if (code && code != CLIENT_EXIT_NOTFOUND)
        client_message(&r, msg, n);
    client_resp_free(&r);
    return code;
}

static void upload_one(struct worker *w, const struct item *it)
{
    struct run *run = w->run;
    char sha[65], msg[1024], known[24] = "", path[2100];
    if (!hash_file(it->path, sha, msg, sizeof(msg))) {
        finish(w, it, "failed", NULL, NULL, msg);
        return;
    }
    pthread_mutex_lock(&run->lock);
    const char *id = seen_get(&run->seen, sha);
    if (id)
        snprintf(known, sizeof(known), "%s", id);
    pthread_mutex_unlock(&run->lock);
    if (known[0]) {
        int code = still_there(w, known, msg, sizeof(msg));
        if (!code) {
            finish(w, it, "skipped", sha, known, NULL);
            return;
        }
        if (code != CLIENT_EXIT_NOTFOUND) {
            finish(w, it, "failed", NULL, NULL, msg);
            return;
        }
    }
    FILE *f = fopen(it->path, "rb");
    if (!f) {
        finish(w, it, "failed", NULL, NULL, strerror(errno));
        return;
    }
    struct client_resp r;
    client_resp_init(&r, NULL);
    snprintf(path, sizeof(path), "/api/v1/images%s", run->query);
    client_prepare(w->h, run->c, "POST", path, ctype_of(it->path), &r);
    curl_easy_setopt(w->h, CURLOPT_POST, 1L);
    curl_easy_setopt(w->h, CURLOPT_READDATA, f);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->size);
    curl_easy_setopt(w->h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(w->h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(w->h, CURLOPT_XFERINFODATA, w);
    int code = client_perform(w->h, &r);
    fclose(f);
    json_t *doc = code ? NULL : json_loadb(r.body.p, r.body.len, 0, NULL);
    const char *new_id = json_string_value(json_object_get(doc, "id"));
    if (code)
        client_message(&r, msg, sizeof(msg));
    else if (!new_id || !client_valid_id(new_id))
        snprintf(msg, sizeof(msg), "the server's answer has no image id");
    if (code || !new_id || !client_valid_id(new_id))
        finish(w, it, "failed", NULL, NULL, msg);
    else
        finish(w, it, r.status == 201 ? "uploaded" : "skipped", sha, new_id, NULL);
    json_decref(doc);
    client_resp_free(&r);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    for (;;) {
        pthread_mutex_lock(&run->lock);
        size_t i = run->next;
        bool stop = interrupted || i >= run->n;
        if (!stop)
            run->next++;
        pthread_mutex_unlock(&run->lock);
        if (stop)
            return NULL;
        upload_one(w, &run->items[i]);
    }
}

/* Builds the query of every upload from the flags; false if it does not fit. */
static bool make_query(struct run *run, const char *title, const char *tags, const char *vis)
{
    const char *names[] = {"title", "tags", "visibility"}, *vals[] = {title, tags, vis};
    size_t len = 0;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (!vals[i])
            continue;
        char *e = curl_easy_escape(NULL, vals[i], 0);
        int w = snprintf(run->query + len, sizeof(run->query) - len, "%s%s=%s", len ? "&" : "?",
                         names[i], e);
        curl_free(e);
        if (w < 0 || (size_t)w >= sizeof(run->query) - len)
            return false;
        len += (size_t)w;
    }
    return true;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts ids[0..n) and moves repeats (files with the same bytes) past the returned count. */
static size_t unique(char **ids, size_t n)
{
    size_t kept = 0;
    qsort(ids, n, sizeof(*ids), by_string);
    for (size_t i = 0; i < n; i++) {
        if (kept && !strcmp(ids[kept - 1], ids[i]))
            continue;
        char *t = ids[kept];
        ids[kept++] = ids[i];
        ids[i] = t;
    }
    return kept;
}

/* Asks the server who the token belongs to: the state file is kept per account and server,
 * and a bad token or a dead server is reported once instead of once per file. */
static int whoami(struct run *run)
{
    json_t *me;
    int code = client_json(run->c, "GET", "/api/v1/me", NULL, &me);
    if (code)
        return code;
    const char *uid = json_string_value(json_object_get(me, "id"));
    if (!uid || !client_valid_id(uid)) {
        fprintf(stderr, "kho: the server's answer has no user id\n");
        code = CLIENT_EXIT_SERVER;
    } else {
        snprintf(run->scope, sizeof(run->scope), "%s@%s", uid, run->c->url);
        /* a space would split the state line */
        for (char *p = run->scope; *p; p++)
            if (*p == ' ' || *p == '\t')
                *p = '_';
    }
    json_decref(me);
    return code;
}

/* Runs the workers over run->items; returns once they have all stopped, or false when none
 * could start. */
static bool run_workers(struct run *run, int jobs)
{
    struct worker ws[UPLOAD_JOBS_MAX];
    pthread_t tids[UPLOAD_JOBS_MAX];
    long long inflight[UPLOAD_JOBS_MAX] = {0};
    int started = 0;
    run->inflight = inflight;
    run->start_ns = now_ns();
    for (int i = 0; i < jobs; i++) {
        ws[i] = (struct worker){run, i, curl_easy_init()};
        if (!ws[i].h || pthread_create(&tids[i], NULL, work, &ws[i]) != 0) {
            curl_easy_cleanup(ws[i].h);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        curl_easy_cleanup(ws[i].h);
    }
    pthread_mutex_lock(&run->lock);
    draw(run, true);
    if (run->tty)
        putchar('\n');
    run->inflight = NULL;
    pthread_mutex_unlock(&run->lock);
    if (started == 0)
        fprintf(stderr, "kho: cannot start the uploads\n");
    return started > 0;
}

int cmd_upload(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *album = NULL, *tags = NULL, *title = NULL;
    const char *vis = NULL, *jobs_s = NULL;
    const struct client_flag flags[] = {{"--url", &url, NULL},     {"--token", &token, NULL},
                                        {"--album", &album, NULL}, {"--tags", &tags, NULL},
                                        {"--title", &title, NULL}, {"--visibility", &vis, NULL},
                                        {"-j", &jobs_s, NULL},     {"--jobs", &jobs_s, NULL}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    if (album && !*album) {
        fprintf(stderr, "kho: --album needs an album id or title\n");
        return CLIENT_EXIT_USAGE;
    }
    long long jobs = 4;
    if (jobs_s) {
        char *end;
        jobs = strtoll(jobs_s, &end, 10);
        if (*end || end == jobs_s || jobs < 1 || jobs > UPLOAD_JOBS_MAX) {
            fprintf(stderr, "kho: -j takes a number from 1 to %d\n", UPLOAD_JOBS_MAX);
            return CLIENT_EXIT_USAGE;
        }
    }
    if (vis && strcmp(vis, "private") && strcmp(vis, "unlisted") && strcmp(vis, "public")) {
        fprintf(stderr, "kho: --visibility is private, unlisted or public\n");
        return CLIENT_EXIT_USAGE;
    }
    if (npos == 0) {
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    struct client c;
    struct run run = {.c = &c, .tty = isatty(STDOUT_FILENO)};
    if (!make_query(&run, title, tags, vis)) {
        fprintf(stderr, "kho: the title and tags are too long\n");
        return CLIENT_EXIT_USAGE;
    }
    code = client_setup(&c, url, token, true);
    if (code)
        return code;
    pthread_mutex_init(&run.lock, NULL);
    for (int i = 1; i <= npos && !code; i++)
        code = walk(&run, argv[i], 0, true);
    if (!code)
        code = whoami(&run);
    if (!code && album)
        code = album_resolve(&c, album, true, run.album);
    if (!code && !state_open(&run))
        code = CLIENT_EXIT_FAILED;
    if (!code) {
        struct sigaction sa = {.sa_handler = on_sigint}, old;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);
        bool ran = run_workers(&run, jobs < (long long)run.n ? (int)jobs : run.n ? (int)run.n : 1);
        sigaction(SIGINT, &old, NULL);
        fprintf(stderr, "%zu uploaded, %zu skipped, %zu failed, %zu not started\n", run.uploaded,
                run.skipped, run.failed, run.n - run.done);
        code = interrupted          ? CLIENT_EXIT_INTERRUPTED
               : run.failed || !ran ? CLIENT_EXIT_FAILED
                                    : CLIENT_EXIT_OK;
        if (run.nalbum) {
            size_t n = unique(run.album_ids, run.nalbum);
            int added = album_add(&c, run.album, (const char *const *)run.album_ids, n);
            if (!added)
                fprintf(stderr, "%zu images in album %s\n", n, run.album);
            if (added && !code)
                code = added;
        }
    }
    if (run.state && fclose(run.state) != 0 && !code) {
        fprintf(stderr, "kho: cannot write the upload state: %s\n", strerror(errno));
        code = CLIENT_EXIT_FAILED;
    }
    for (size_t i = 0; i < run.n; i++)
        free(run.items[i].path);
    free(run.items);
    for (size_t i = 0; i < run.nalbum; i++)
        free(run.album_ids[i]);
    free(run.album_ids);
    free(run.seen.sha);
    free(run.seen.id);
    pthread_mutex_destroy(&run.lock);
    client_cleanup();
    return code;
}
