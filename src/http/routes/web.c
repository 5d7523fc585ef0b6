/* The web UI: the single-page app's index.html at each of its paths, its assets under /static/,
 * both compiled into the binary from web/ (tools/embed.c), and /api/v1/config, the settings a
 * client needs to size images and refuse files before sending them. */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include "http/app.h"
#include "http/headers.h"
#include "http/router.h"
#include "http/routes/routes.h"
#include "image/probe.h"
#include "image/process.h"
#include "core/embed.h"
#include "core/kho.h"

extern const struct embedded_file web_assets[];

/* Scripts and styles only from kho itself, never inline: an injected string cannot run. Images
 * may also be data: and blob: URLs (placeholders, previews of files being uploaded). */
#define WEB_CSP                                                                                    \
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "         \
    "form-action 'self'; frame-ancestors 'none'"

static const struct {
    const char *ext, *mime;
} mimes[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
};

static const struct embedded_file *asset(const char *name)
{
    for (const struct embedded_file *f = web_assets; f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

static const char *mime_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < ARRAY_LEN(mimes); i++)
        if (!strcmp(dot, mimes[i].ext))
            return mimes[i].mime;
    return "application/octet-stream";
}

/* Answer with f, revalidated by a strong ETag of its bytes (hashed per request: a few
 * microseconds, and nothing to keep in step with the binary). */
static enum kho_err send_asset(struct req *r, const struct embedded_file *f)
{
    char etag[20];
    snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)XXH3_64bits(f->data, f->len));
    const char *mime = mime_of(f->name);
    resp_header(r, "ETag", etag);
    /* an upgraded binary serves new files under the same names: always revalidate */
    resp_header(r, "Cache-Control", "no-cache");
    /* share tokens are in /s/ paths: never send them on to another site */
    resp_header(r, "Referrer-Policy", "no-referrer");
    if (!strncmp(mime, "text/html", 9)) {
        resp_header(r, "Content-Security-Policy", WEB_CSP);
        resp_header(r, "X-Frame-Options", "DENY");
    }
    const char *inm = req_header(r, "If-None-Match");
    if (inm && http_etag_match(inm, strlen(inm), etag)) {
        resp_empty(r, 304);
        return KHO_OK;
    }
    r->status = 200;
    r->content_type = mime;
    r->out = (const char *)f->data;
    r->out_len = f->len;
    return KHO_OK;
}

/* Every path of the app gets the same page; its script reads location.pathname. */
static enum kho_err web_page(struct req *r)
{
    const struct embedded_file *f = asset("index.html");
    if (!f) {
        log_error("the web ui has no 'index.html'");
        return KHO_E_CORRUPT;
    }
    return send_asset(r, f);
}

static enum kho_err web_static(struct req *r)
{
    const struct embedded_file *f = asset(r->params[0]);
    if (!f)
        return req_fail(r, KHO_E_NOTFOUND, "not_found", "no asset '%.64s'", r->params[0]);
    return send_asset(r, f);
}

/* A space-separated list of words as a JSON array. */
static json_t *words(const char *s)
{
    json_t *a = json_array();
    while (*s) {
        size_t n = strcspn(s, " ");
        if (n)
            json_array_append_new(a, json_stringn(s, n));
        s += n + (s[n] == ' ');
    }
    return a;
}

static enum kho_err config_get(struct req *r)
{
    char in[128], out[128];
    probe_formats(in, sizeof(in));
    process_formats(out, sizeof(out));
    json_t *sizes = json_array();
    for (int i = 0; i < r->app->nsizes; i++)
        json_array_append_new(sizes, json_integer(r->app->sizes[i]));
    resp_header(r, "Cache-Control", "no-cache");
    return resp_json(r, 200,
                     json_pack("{s:I,s:o,s:o,s:{s:o,s:o}}", "max_upload_bytes",
                               (json_int_t)r->app->cfg->max_upload_bytes, "variant_sizes", sizes,
                               "presets", variants_presets_json(), "formats", "in", words(in),
                               "out", words(out)));
}

const struct route web_routes[] = {
    {"GET", "/", web_page, 0},
    {"GET", "/explore", web_page, 0},
    {"GET", "/albums", web_page, 0},
    {"GET", "/albums/{id}", web_page, 0},
    {"GET", "/s/{token}", web_page, 0},
    {"GET", "/account", web_page, 0},
    {"GET", "/static/{name}", web_static, 0},
    {"GET", "/api/v1/config", config_get, 0},
    {NULL, NULL, NULL, 0},
};
