/* `kho album ...`: list, create, show, rename, fill, empty, cover, delete and share albums.
 * An album is named by its id or its exact title; `kho upload --album` names them the same way
 * (album_resolve, album_add). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kho.h"

#define BATCH_MAX 200 /* image ids per request, the server's limit */

static const char usage[] =
    "usage: kho album ls [--json]\n"
    "       kho album create TITLE [--description TEXT]\n"
    "       kho album show ALBUM [--json]\n"
    "       kho album rename ALBUM TITLE\n"
    "       kho album add ALBUM IMAGE_ID...\n"
    "       kho album remove ALBUM IMAGE_ID...\n"
    "       kho album cover ALBUM IMAGE_ID\n"
    "       kho album delete ALBUM\n"
    "       kho album share ALBUM [--expires 7d|24h|30m|3600]\n"
    "  Each also takes --url URL and --token TOKEN. ALBUM is an album id or its exact title.\n"
    "  ls, create, rename, add, remove and cover print one line per album:\n"
    "  ID IMAGES COVER_ID TITLE (tab-separated, '-' for no cover). show prints that line, then\n"
    "  the album's images as `kho ls` does; with --json, the records as JSON lines.\n"
    "  share prints the link's URL, which opens the album without a login.\n";

struct opts {
    const char *description, *expires;
    long long expires_s; /* 0: the link never expires */
    bool json;
};

static void print_album(json_t *a)
{
    const char *cover = json_string_value(json_object_get(a, "cover_id"));
    const char *id = json_string_value(json_object_get(a, "id"));
    const char *title = json_string_value(json_object_get(a, "title"));
    printf("%s\t%lld\t%s\t%s\n", id ? id : "-",
           (long long)json_integer_value(json_object_get(a, "image_count")), cover ? cover : "-",
           title ? title : "");
}

static void print_json(json_t *j)
{
    char *line = json_dumps(j, JSON_COMPACT);
    if (line)
        puts(line);
    free(line);
}

/* The id of an album the server sent, or NULL after saying the answer is not an album. */
static const char *id_of(json_t *a)
{
    const char *id = json_string_value(json_object_get(a, "id"));
    if (id && client_valid_id(id))
        return id;
    fprintf(stderr, "kho: the server's answer is not an album\n");
    return NULL;
}

/* Print an album the server sent as its line; exit 5 when it is not one. */
static int print_answer(json_t *a)
{
    if (!id_of(a))
        return CLIENT_EXIT_SERVER;
    print_album(a);
    return CLIENT_EXIT_OK;
}

/* ---- naming albums ---- */

struct title_match {
    const char *title;
    json_t *found; /* the first album so titled (a new reference) */
    int count;
};

static bool match_title(json_t *a, void *arg)
{
    struct title_match *m = arg;
    const char *t = json_string_value(json_object_get(a, "title"));
    if (t && !strcmp(t, m->title) && m->count++ == 0)
        m->found = json_incref(a);
    return m->count < 2; /* a second one makes the title ambiguous: no need to read on */
}

/* The album that name (an id, else an exact title) names, into *out (a new reference). With
 * create, a title nobody has becomes a new album. */
static int find(const struct client *c, const char *name, bool create, json_t **out)
{
    char path[64];
    *out = NULL;
    if (client_valid_id(name)) {
        snprintf(path, sizeof(path), "/api/v1/albums/%s", name);
        int code = client_json_lookup(c, "GET", path, NULL, out);
        if (code != CLIENT_EXIT_NOTFOUND)
            return code; /* found, or failed and said why */
    }
    struct title_match m = {name, NULL, 0};
    int code = client_pages(c, "/api/v1/albums", match_title, &m);
    if (!code && m.count > 1) {
        fprintf(stderr, "kho: several albums are titled '%s': name one by its id\n", name);
        code = CLIENT_EXIT_USAGE;
    }
    if (code) {
        json_decref(m.found);
        return code;
    }
    if (m.found) {
        *out = m.found;
        return CLIENT_EXIT_OK;
    }
    if (!create) {
        fprintf(stderr, "kho: no album '%s'\n", name);
        return CLIENT_EXIT_NOTFOUND;
    }
    json_t *body = json_pack("{s:s}", "title", name);
    code = client_json(c, "POST", "/api/v1/albums", body, out);
    json_decref(body);
    return code;
}

int album_resolve(const struct client *c, const char *name, bool create, char id[24])
{
    json_t *a;
    int code = find(c, name, create, &a);
    if (code)
        return code;
    const char *s = id_of(a);
    if (s)
        snprintf(id, 24, "%s", s);
    else
        code = CLIENT_EXIT_SERVER;
    json_decref(a);
    return code;
}

/* Whether args[0..n) are all image ids; says which one is not. */
static bool image_ids(char **args, int n)
{
    for (int i = 0; i < n; i++) {
        if (!client_valid_id(args[i])) {
            fprintf(stderr, "kho: '%s' is not an image id\n", args[i]);
            return false;
        }
    }
    return true;
}

/* POST (add) or DELETE (remove) ids[0..n) in requests of up to BATCH_MAX; *last (may be NULL)
 * gets the album as the last answer left it. */
static int change(const struct client *c, const char *method, const char *album_id,
                  const char *const *ids, size_t n, json_t **last)
{
    char path[64];
    int code = CLIENT_EXIT_OK;
    snprintf(path, sizeof(path), "/api/v1/albums/%s/images", album_id);
    for (size_t at = 0; at < n && !code; at += BATCH_MAX) {
        json_t *list = json_array(), *answer = NULL;
        for (size_t i = at; i < n && i < at + BATCH_MAX; i++)
            json_array_append_new(list, json_string(ids[i]));
        json_t *body = json_pack("{s:o}", "ids", list);
        code = client_json(c, method, path, body, &answer);
        json_decref(body);
        if (last && !code) {
            json_decref(*last);
            *last = answer;
        } else {
            json_decref(answer);
        }
    }
    return code;
}

int album_add(const struct client *c, const char *album_id, const char *const *ids, size_t n)
{
    return change(c, "POST", album_id, ids, n, NULL);
}

/* ---- subcommands: each gets its positional arguments after the subcommand's name ---- */

static bool print_each_album(json_t *a, void *arg)
{
    const struct opts *o = arg;
    if (o->json)
        print_json(a);
    else
        print_album(a);
    return true;
}

static int sub_ls(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)args, (void)n;
    return client_pages(c, "/api/v1/albums", print_each_album, (void *)o);
}

static int sub_create(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)n;
    json_t *a, *body = json_pack("{s:s}", "title", args[0]);
    if (o->description)
        json_object_set_new(body, "description", json_string(o->description));
    int code = client_json(c, "POST", "/api/v1/albums", body, &a);
    json_decref(body);
    if (!code)
        code = print_answer(a);
    json_decref(a);
    return code;
}

static bool print_each_image(json_t *img, void *arg)
{
    const struct opts *o = arg;
    if (o->json)
        print_json(img);
    else
        client_print_image(img);
    return true;
}

static int sub_show(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)n;
    json_t *a;
    char path[64];
    int code = find(c, args[0], false, &a);
    if (code)
        return code;
    const char *id = id_of(a);
    if (id) {
        if (o->json)
            print_json(a);
        else
            print_album(a);
        snprintf(path, sizeof(path), "/api/v1/albums/%s/images", id);
        code = client_pages(c, path, print_each_image, (void *)o);
    } else {
        code = CLIENT_EXIT_SERVER;
    }
    json_decref(a);
    return code;
}

/* PATCH the album called name with body (consumed) and print the answer. */
static int patch(const struct client *c, const char *name, json_t *body)
{
    char id[24], path[64];
    json_t *a = NULL;
    int code = album_resolve(c, name, false, id);
    if (!code) {
        snprintf(path, sizeof(path), "/api/v1/albums/%s", id);
        code = client_json(c, "PATCH", path, body, &a);
    }
    if (!code)
        code = print_answer(a);
    json_decref(body);
    json_decref(a);
    return code;
}

static int sub_rename(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)n, (void)o;
    return patch(c, args[0], json_pack("{s:s}", "title", args[1]));
}

static int sub_cover(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)n, (void)o;
    if (!image_ids(args + 1, 1))
        return CLIENT_EXIT_USAGE;
    return patch(c, args[0], json_pack("{s:s}", "cover_id", args[1]));
}

static int fill(const struct client *c, const char *method, char **args, int n)
{
    char id[24];
    json_t *a = NULL;
    if (!image_ids(args + 1, n - 1))
        return CLIENT_EXIT_USAGE;
    int code = album_resolve(c, args[0], false, id);
    if (!code)
        code = change(c, method, id, (const char *const *)(args + 1), (size_t)(n - 1), &a);
    if (!code)
        code = print_answer(a);
    json_decref(a);
    return code;
}

static int sub_add(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)o;
    return fill(c, "POST", args, n);
}

static int sub_remove(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)o;
    return fill(c, "DELETE", args, n);
}

static int sub_delete(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)n, (void)o;
    char id[24], path[64];
    json_t *none = NULL;
    int code = album_resolve(c, args[0], false, id);
    if (code)
        return code;
    snprintf(path, sizeof(path), "/api/v1/albums/%s", id);
    code = client_json(c, "DELETE", path, NULL, &none);
    json_decref(none);
    if (!code)
        printf("deleted %s\n", id);
    return code;
}

static int sub_share(const struct client *c, char **args, int n, const struct opts *o)
{
    (void)n;
    char id[24], path[64];
    int code = album_resolve(c, args[0], false, id);
    if (code)
        return code;
    snprintf(path, sizeof(path), "/api/v1/albums/%s/links", id);
    return share_link(c, path, o->expires_s);
}

enum { TAKES_DESCRIPTION = 1, TAKES_EXPIRES = 2, TAKES_JSON = 4 };

static const struct sub {
    const char *name;
    int (*run)(const struct client *c, char **args, int n, const struct opts *o);
    int min, max;   /* positional arguments after the name; max -1: any number */
    unsigned takes; /* the TAKES_* options that apply */
} subs[] = {
    {"ls", sub_ls, 0, 0, TAKES_JSON},
    {"create", sub_create, 1, 1, TAKES_DESCRIPTION},
    {"show", sub_show, 1, 1, TAKES_JSON},
    {"rename", sub_rename, 2, 2, 0},
    {"add", sub_add, 2, -1, 0},
    {"remove", sub_remove, 2, -1, 0},
    {"cover", sub_cover, 2, 2, 0},
    {"delete", sub_delete, 1, 1, 0},
    {"share", sub_share, 1, 1, TAKES_EXPIRES},
};

int cmd_album(int argc, char **argv)
{
    const char *url = NULL, *token = NULL;
    struct opts o = {0};
    const struct client_flag flags[] = {{"--url", &url, NULL},
                                        {"--token", &token, NULL},
                                        {"--description", &o.description, NULL},
                                        {"--expires", &o.expires, NULL},
                                        {"--json", NULL, &o.json}};
    int npos, code = client_args(argc, argv, flags, ARRAY_LEN(flags), usage, &npos);
    if (code)
        return code < 0 ? CLIENT_EXIT_OK : code;
    const struct sub *sub = NULL;
    for (size_t i = 0; npos > 0 && i < ARRAY_LEN(subs); i++)
        if (!strcmp(argv[1], subs[i].name))
            sub = &subs[i];
    int n = npos - 1;
    if (!sub || n < sub->min || (sub->max >= 0 && n > sub->max)) {
        if (npos > 0 && !sub)
            fprintf(stderr, "kho: '%s' is not an album command\n", argv[1]);
        fputs(usage, stderr);
        return CLIENT_EXIT_USAGE;
    }
    const struct {
        const char *name;
        bool given;
        unsigned bit;
    } given[] = {{"--description", o.description != NULL, TAKES_DESCRIPTION},
                 {"--expires", o.expires != NULL, TAKES_EXPIRES},
                 {"--json", o.json, TAKES_JSON}};
    for (size_t i = 0; i < ARRAY_LEN(given); i++) {
        if (given[i].given && !(sub->takes & given[i].bit)) {
            fprintf(stderr, "kho: album %s does not take %s\n", sub->name, given[i].name);
            return CLIENT_EXIT_USAGE;
        }
    }
    if (o.expires && !share_parse_expires(o.expires, &o.expires_s))
        return CLIENT_EXIT_USAGE;
    struct client c;
    code = client_setup(&c, url, token, true);
    if (code)
        return code;
    code = sub->run(&c, argv + 2, n, &o);
    client_cleanup();
    if (fflush(stdout) != 0 && !code) {
        fprintf(stderr, "kho: cannot write the output\n");
        code = CLIENT_EXIT_FAILED;
    }
    return code;
}
