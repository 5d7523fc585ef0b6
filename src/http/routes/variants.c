/* Image variants at /i/{id}?w=&h=&fit=&fmt=&q= (and presets ?p=thumb|small|medium|large).
 * A variant is made once on the processing pool, stored in the blob store under a key derived
 * from the image and its canonical parameters, recorded, and from then on served like an
 * original. Concurrent requests for a missing variant share one generation (single flight).
 * Sizes off the allow-list need an HMAC signature, so clients cannot mint endless variants. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#include "auth/hash.h"
#include "auth/signature.h"
#include "blob/blob.h"
#include "cache/redis.h"
#include "http/app.h"
#include "http/cached.h"
#include "http/headers.h"
#include "http/process_client.h"
#include "http/query.h"
#include "http/router.h"
#include "http/routes/routes.h"
#include "http/views.h"
#include "image/placeholder.h"
#include "image/process.h"
#include "core/flight.h"
#include "core/kho.h"
#include "core/utf8.h"

#define VARIANT_KEY_BIT IDS_VARIANT_KEY_BIT
#define GEN_LOCK_MS 30000 /* longest one node holds a variant to itself */

static const struct preset {
    const char *name;
    int w, h;
    enum process_fit fit;
} presets[] = {
    {"thumb", 256, 256, PROCESS_COVER},
    {"small", 640, 640, PROCESS_CONTAIN},
    {"medium", 1280, 1280, PROCESS_CONTAIN},
    {"large", 2048, 2048, PROCESS_CONTAIN},
};

static const char *const format_names[] = {"jpeg", "png", "webp", "avif"};
static const char *const fit_names[] = {"contain", "cover", "fill"};

/* What an upload waiting for its thumbnail holds: shared with the flight, freed by the last. */
struct ticket {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    enum kho_err rc;
    char placeholder[META_PLACEHOLDER_MAX + 1];
};

/* A request waiting for a variant; the leader's also carries the work. */
struct vwait {
    struct flight_waiter w;
    struct pool_job job;
    struct req *r;
    struct app *app;
    struct meta_image img;
    struct process_params p;
    bool vary_accept;
    bool shared; /* the request sees the image through a share link */
    uint64_t key;
    int64_t len; /* of the variant's blob once known, else -1 */
    char spec[META_SPEC_MAX + 1];
    /* the watermark that applies: the owner's own, or the server's */
    const struct watermark *wm;
    uint64_t wm_hash;
    struct watermark own;
    char own_text[WATERMARK_MAX_TEXT + 1];
    /* the upload path waits on a ticket instead of a request */
    struct ticket *ticket;
};

static int name_index(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i]))
            return i;
    return -1;
}

enum kho_err variants_parse_watermark(const char *json, struct watermark *wm, char *text,
                                      size_t cap, const char **why)
{
    static const char *const positions[] = {"se", "sw", "ne", "nw", "center"};
    json_error_t jerr;
    json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    const char *t = NULL, *pos = "se";
    double opacity = 0.5, scale = 0.25;
    *why = "watermark must be {\"text\", \"position\", \"opacity\", \"scale\"}";
    enum kho_err rc = KHO_E_INVALID;
    if (j && json_is_object(j) &&
        !json_unpack_ex(j, &jerr, JSON_STRICT, "{s:s,s?s,s?F,s?F}", "text", &t, "position", &pos,
                        "opacity", &opacity, "scale", &scale)) {
        int p = name_index(pos, positions, 5);
        size_t n = strlen(t);
        if (n == 0 || n > WATERMARK_MAX_TEXT || n >= cap || !utf8_valid_text(t, n))
            *why = "watermark text must be 1 to 256 bytes of text";
        else if (p < 0)
            *why = "watermark position must be se, sw, ne, nw or center";
        else if (!(opacity >= 0 && opacity <= 1) || !(scale > 0 && scale <= 1))
            *why = "watermark opacity must be 0 to 1 and scale above 0 up to 1";
        else {
            memcpy(text, t, n + 1);
            *wm = (struct watermark){.text = text,
                                     .position = (enum watermark_position)p,
                                     .opacity = opacity,
                                     .scale = scale};
            rc = KHO_OK;
        }
    }
    json_decref(j);
    return rc;
}

/* The owner's watermark if they set one, else the server's (or none). */
static void choose_watermark(struct app *app, struct vwait *v)
{
    const char *why;
    const char *json = v->img.owner_watermark;
    if (json[0] &&
        variants_parse_watermark(json, &v->own, v->own_text, sizeof(v->own_text), &why) == KHO_OK) {
        v->wm = &v->own;
        v->wm_hash = XXH3_64bits(json, strlen(json)) | 1;
    } else {
        v->wm = app->wm;
        v->wm_hash = app->wm_hash;
    }
}

json_t *variants_presets_json(void)
{
    json_t *j = json_object();
    for (size_t i = 0; i < ARRAY_LEN(presets); i++)
        json_object_set_new(j, presets[i].name,
                            json_pack("{s:i,s:i,s:s}", "w", presets[i].w, "h", presets[i].h, "fit",
                                      fit_names[presets[i].fit]));
    return j;
}

bool variants_watermarked(const struct app *app, const struct meta_image *img)
{
    return app->wm != NULL || img->owner_watermark[0];
}

static bool size_allowed(const struct app *app, int v)
{
    for (int i = 0; i < app->nsizes; i++)
        if (app->sizes[i] == v)
            return true;
    return false;
}

static enum kho_err read_int(struct req *r, const char *name, int lo, int hi, int *out)
{
    const char *v;
    enum kho_err rc = req_query(r, name, &v);
    if (rc || !v)
        return rc;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'%s' must be a number from %d to %d", name, lo, hi);
    *out = (int)n;
    return KHO_OK;
}

/* Does Accept list type explicitly with a non-zero q? (A wildcard does not promise AVIF.) */
static bool accepts(const char *accept, const char *type)
{
    size_t tlen = strlen(type);
    for (const char *p = accept; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t tn = strcspn(p, ";,");
        while (tn && p[tn - 1] == ' ')
            tn--;
        if (tn == tlen && !strncasecmp(p, type, tlen)) {
            const char *q = memmem(p, n, "q=", 2);
            return !q || strtod(q + 2, NULL) > 0;
        }
        p += n;
    }
    return false;
}

/* The format for fmt=auto: the best the client takes, PNG kept for transparency. */
static enum process_format negotiate(struct req *r, const struct meta_image *img)
{
    const char *accept = req_header(r, "Accept");
    if (accept && accepts(accept, "image/avif") && process_format_available(PROCESS_AVIF))
        return PROCESS_AVIF;
    if (accept && accepts(accept, "image/webp"))
        return PROCESS_WEBP;
    return img->alpha ? PROCESS_PNG : PROCESS_JPEG;
}

/* The format when none is asked for: the original's when it is an output format. */
static enum process_format default_format(const struct meta_image *img)
{
    int i = name_index(img->format, format_names, 3);
    if (i >= 0)
        return (enum process_format)i;
    return img->alpha ? PROCESS_PNG : PROCESS_JPEG;
}

static int default_quality(enum process_format f)
{
    return f == PROCESS_JPEG ? 82 : f == PROCESS_WEBP ? 80 : f == PROCESS_AVIF ? 55 : 0;
}

/* The query without its sig and share parameters, as signed: "/i/ID?rest". */
static const char *signed_message(struct req *r)
{
    char *msg = arena_printf(&r->arena, "%s?", r->path);
    char *q = arena_strdup(&r->arena, r->query);
    if (!msg || !q)
        return NULL;
    size_t used = 0;
    for (char *part = q; part && *part;) {
        char *amp = strchr(part, '&');
        if (amp)
            *amp = '\0';
        if (strncmp(part, "sig=", 4) != 0 && strncmp(part, "share=", 6) != 0) {
            msg = arena_printf(&r->arena, "%s%s%s", msg, used++ ? "&" : "", part);
            if (!msg)
                return NULL;
        }
        part = amp ? amp + 1 : NULL;
    }
    return msg;
}

static enum kho_err check_params(struct req *r)
{
    static const char *const known[] = {"w", "h",       "fit",  "fmt", "q",
                                        "p", "enlarge", "crop", "sig", "share"};
    const char *q = r->query;
    while (*q) {
        size_t n = strcspn(q, "=&");
        bool ok = false;
        for (size_t i = 0; i < ARRAY_LEN(known) && !ok; i++)
            ok = strlen(known[i]) == n && !strncmp(q, known[i], n);
        if (!ok)
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "unknown parameter '%.*s'",
                            (int)(n > 32 ? 32 : n), q);
        q += strcspn(q, "&");
        if (*q)
            q++;
    }
    return KHO_OK;
}

/* The canonical form of v's parameters: part of its key, and what a process node is sent. */
static void write_spec(struct vwait *v)
{
    uint64_t wm_hash = v->wm_hash;
    const struct process_params *p = &v->p;
    snprintf(v->spec, sizeof(v->spec), "w=%d&h=%d&fit=%s&crop=%d&e=%d&fmt=%s&q=%d&wm=%016llx",
             p->width, p->height, fit_names[p->fit], (int)p->crop, (int)p->enlarge,
             format_names[p->format], p->quality, (unsigned long long)wm_hash);
}

/* Parse and validate the variant parameters into v (params, spec, key). */
static enum kho_err parse(struct req *r, struct vwait *v)
{
    struct process_params *p = &v->p;
    const struct meta_image *img = &v->img;
    const char *s;
    int enlarge = 0;
    enum kho_err rc = check_params(r);
    memset(p, 0, sizeof(*p));
    if (!rc)
        rc = read_int(r, "w", 1, PROCESS_MAX_DIMENSION, &p->width);
    if (!rc)
        rc = read_int(r, "h", 1, PROCESS_MAX_DIMENSION, &p->height);
    if (!rc)
        rc = read_int(r, "q", 1, 100, &p->quality);
    if (!rc)
        rc = read_int(r, "enlarge", 0, 1, &enlarge);
    if (!rc)
        rc = req_query(r, "p", &s);
    if (rc)
        return rc;
    bool sized = p->width || p->height;
    if (s) {
        const struct preset *pre = NULL;
        for (size_t i = 0; i < ARRAY_LEN(presets); i++)
            if (!strcmp(s, presets[i].name))
                pre = &presets[i];
        if (!pre)
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'p' must be thumb, small, medium or large");
        if (sized)
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'p' cannot be combined with 'w' or 'h'");
        p->width = pre->w;
        p->height = pre->h;
        p->fit = pre->fit;
    }
    p->enlarge = enlarge;
    rc = req_query(r, "fit", &s);
    if (rc)
        return rc;
    if (s) {
        int f = name_index(s, fit_names, 3);
        if (f < 0)
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'fit' must be contain, cover or fill");
        p->fit = (enum process_fit)f;
    }
    if (p->fit != PROCESS_CONTAIN && (!p->width || !p->height))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter", "'fit=%s' needs both 'w' and 'h'",
                        fit_names[p->fit]);
    rc = req_query(r, "crop", &s);
    if (rc)
        return rc;
    if (s && strcmp(s, "attention") && strcmp(s, "centre") && strcmp(s, "center"))
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "'crop' must be attention or centre");
    p->crop = s && strcmp(s, "attention") ? PROCESS_CROP_CENTRE : PROCESS_CROP_ATTENTION;
    rc = req_query(r, "fmt", &s);
    if (rc)
        return rc;
    if (s && !strcmp(s, "auto")) {
        p->format = negotiate(r, img);
        v->vary_accept = true;
    } else if (s) {
        int f = name_index(s, format_names, 4);
        if (f < 0)
            return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                            "'fmt' must be jpeg, png, webp, avif or auto");
        if (!process_format_available((enum process_format)f))
            return req_fail(r, KHO_E_UNSUPPORTED, "unsupported_media_type",
                            "this build cannot write '%s'", s);
        p->format = (enum process_format)f;
    } else {
        p->format = default_format(img);
    }
    if (!p->quality)
        p->quality = default_quality(p->format);
    if (!p->width && !p->height) { /* a conversion at full size */
        p->width = img->width;
        p->height = img->height;
    }

    /* off-list sizes need a signature over the path and query */
    bool listed = (!sized || ((!p->width || size_allowed(r->app, p->width)) &&
                              (!p->height || size_allowed(r->app, p->height))));
    rc = req_query(r, "sig", &s);
    if (rc)
        return rc;
    if (s) {
        const char *msg = signed_message(r);
        if (!msg)
            return KHO_E_NOMEM;
        if (!signature_check(&r->app->sign_key, msg, strlen(msg), s, strlen(s)))
            return req_fail(r, KHO_E_DENIED, "invalid_signature", "the signature does not match");
    } else if (!listed) {
        return req_fail(
            r, KHO_E_INVALID, "invalid_parameter", "'%s' must be one of %s, or the URL signed",
            p->width && !size_allowed(r->app, p->width) ? "w" : "h", r->app->cfg->variant_sizes);
    }
    if ((int64_t)p->width * (p->height ? p->height : p->width) > r->app->cfg->max_pixels)
        return req_fail(r, KHO_E_TOO_LARGE, "image_too_large", "the variant would be too large");

    write_spec(v);
    return KHO_OK;
}

static uint64_t variant_key(uint64_t image_id, const char *spec)
{
    uint8_t buf[8 + META_SPEC_MAX + 1];
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(image_id >> (8 * i));
    size_t n = strlen(spec);
    memcpy(buf + 8, spec, n);
    return XXH3_64bits(buf, 8 + n) | VARIANT_KEY_BIT;
}

static const char *mime_of(enum process_format f)
{
    return view_mime(format_names[f]);
}

static enum kho_err send_variant(struct req *r, struct vwait *v)
{
    char etag[24];
    snprintf(etag, sizeof(etag), "\"v%016llx\"", (unsigned long long)v->key);
    return media_send(r, &v->img, v->key, v->len, etag, mime_of(v->p.format),
                      (v->vary_accept ? MEDIA_VARY_ACCEPT : 0) | (v->shared ? MEDIA_SHARED : 0));
}

/* Make and store the variant unless it exists already (it may have landed between the
 * request's miss and its joining the flight). Runs on the processing pool. */
static enum kho_err make(struct vwait *v, const char **why);

/* Wait for another node's generation of v's variant to land in the blob store, polling with
 * backoff while its lock lasts: KHO_OK when it did, KHO_E_AGAIN when the lock is free again
 * without it (that node failed or gave up). */
static enum kho_err await_other(struct vwait *v, const char *lock)
{
    struct app *app = v->app;
    uint64_t len, deadline = mono_ns() + (uint64_t)GEN_LOCK_MS * 1000000u;
    int64_t count, ttl;
    for (int64_t pause_ms = 10; mono_ns() < deadline;
         pause_ms = pause_ms < 320 ? pause_ms * 2 : pause_ms) {
        struct timespec ts = {0, (long)pause_ms * 1000000L};
        nanosleep(&ts, NULL);
        if (blob_stat(app->blob, v->key, &len) == KHO_OK)
            return KHO_OK;
        if (redis_count_get(app->redis, lock, &count, &ttl) || ttl == 0)
            break;
    }
    return blob_stat(app->blob, v->key, &len) == KHO_OK ? KHO_OK : KHO_E_AGAIN;
}

/* Across nodes, a generation holds the Redis lock "kho:gen:KEY" so two nodes sharing a blob
 * store do not both make one variant; a node that finds it taken serves what the holder stores.
 * Without Redis (or with it down) each node generates: a duplicate costs time, not correctness. */
static enum kho_err generate(struct vwait *v, const char **why)
{
    struct app *app = v->app;
    uint64_t len;
    if (blob_stat(app->blob, v->key, &len) == KHO_OK) {
        v->len = (int64_t)len;
        return KHO_OK;
    }
    if (!app->redis)
        return make(v, why);
    char lock[40];
    uint64_t token;
    random_bytes(&token, sizeof(token));
    snprintf(lock, sizeof(lock), "gen:%016llx", (unsigned long long)v->key);
    enum kho_err held = redis_lock(app->redis, lock, GEN_LOCK_MS, token);
    if (held == KHO_E_BUSY && await_other(v, lock) == KHO_OK)
        return KHO_OK;
    enum kho_err rc = make(v, why);
    if (held == KHO_OK)
        (void)redis_unlock(app->redis, lock, token);
    return rc;
}

/* Make and store the variant. */
static enum kho_err make(struct vwait *v, const char **why)
{
    struct app *app = v->app;
    void *orig = NULL;
    size_t orig_len = 0;
    enum kho_err rc =
        blob_read(app->blob, v->img.blob_key, (size_t)app->cfg->max_upload_bytes, &orig, &orig_len);
    if (rc == KHO_E_BACKEND)
        *why = MEDIA_BLOB_UNAVAILABLE;
    if (rc)
        return rc;
    struct process_limits lim = {app->cfg->max_pixels, app->cfg->process_timeout_ms};
    struct process_result out = {0};
    bool remote = app->cfg->process_url[0] != '\0';
    if (remote) {
        /* an owner's watermark travels in the (signed) query; the server's is the node's own */
        char spec[META_SPEC_MAX + 1 + 4 + 3 * META_WATERMARK_MAX];
        size_t n = (size_t)snprintf(spec, sizeof(spec), "%s", v->spec);
        if (v->wm == &v->own) {
            n += (size_t)snprintf(spec + n, sizeof(spec) - n, "&wmt=");
            query_encode(v->img.owner_watermark, spec + n, sizeof(spec) - n);
        }
        rc = process_client_run(app->cfg->process_url, &app->sign_key, spec, orig, orig_len,
                                (size_t)app->cfg->max_upload_bytes, app->cfg->process_timeout_ms,
                                &out);
    } else {
        rc = process_variant(orig, orig_len, &v->p, v->wm, &lim, &out);
    }
    free(orig);
    if (rc) {
        *why = rc == KHO_E_TOO_LARGE ? "the image took too long or is too large to process"
               : rc == KHO_E_BUSY || rc == KHO_E_BACKEND
                   ? "image processing is unavailable, retry shortly"
                   : "the image cannot be processed";
        return rc;
    }
    if (v->ticket && !v->img.placeholder[0] &&
        placeholder_thumbhash(out.data, out.len, v->ticket->placeholder,
                              sizeof(v->ticket->placeholder)) == KHO_OK) {
        app->meta->ops->image_set_placeholder(app->meta, v->img.id, v->ticket->placeholder);
        cached_image_forget(app, v->img.id);
    }
    rc = blob_put(app->blob, v->key, out.data, out.len);
    struct meta_variant mv = {.key = v->key,
                              .image_id = v->img.id,
                              .width = out.width,
                              .height = out.height,
                              .bytes = (int64_t)out.len,
                              .created_at = now_ms()};
    v->len = (int64_t)out.len;
    if (remote)
        free(out.data);
    else
        process_result_free(&out);
    if (rc == KHO_E_BACKEND)
        *why = MEDIA_BLOB_UNAVAILABLE;
    if (rc)
        return rc;
    snprintf(mv.spec, sizeof(mv.spec), "%s", v->spec);
    snprintf(mv.format, sizeof(mv.format), "%s", format_names[v->p.format]);
    rc = app->meta->ops->variant_insert(app->meta, &mv);
    if (rc) { /* the image was deleted meanwhile, or has too many variants: drop what we made */
        blob_del(app->blob, v->key);
        if (rc == KHO_E_TOO_LARGE)
            *why = "this image has too many variants";
        return rc;
    }
    metric_inc(M_VARIANTS_GENERATED);
    return KHO_OK;
}

static void ticket_done(struct ticket *t, enum kho_err rc);

/* Answer r, waiting for a variant, with the generation's result. */
static void answer(struct vwait *v, enum kho_err rc, const char *why)
{
    struct req *r = v->r;
    enum kho_err e = rc ? rc : send_variant(r, v);
    if (e && why) {
        const char *code = e == KHO_E_TOO_LARGE     ? "image_too_large"
                           : e == KHO_E_INVALID     ? "invalid_image"
                           : e == KHO_E_UNSUPPORTED ? "unsupported_media_type"
                                                    : "unavailable";
        req_fail(r, e, code, "%s", why);
    }
    if (e)
        resp_error(r, e);
    req_resume(r);
}

/* Hand every waiter its answer; the leader's memory may be freed as soon as it is posted, so
 * it goes last. */
static void land(struct vwait *leader, enum kho_err rc, const char *why)
{
    struct flight_waiter *w = flight_land(leader->app->flights, leader->key);
    while (w) {
        struct flight_waiter *next = w->next;
        struct vwait *v = w->arg;
        if (v != leader) {
            v->len = leader->len;
            if (v->ticket) {
                ticket_done(v->ticket, rc);
                free(v);
            } else {
                answer(v, rc, why);
            }
        }
        w = next;
    }
}

static void generate_job(struct pool_job *job)
{
    struct vwait *v = (struct vwait *)((char *)job - offsetof(struct vwait, job));
    const char *why = NULL;
    enum kho_err rc = generate(v, &why);
    land(v, rc, why);
    /* the leader itself */
    if (v->ticket) {
        ticket_done(v->ticket, rc);
        free(v);
        return;
    }
    answer(v, rc, why);
}

/* Start generating v's variant, or join the generation under way. */
static enum kho_err fly(struct vwait *v)
{
    v->w.arg = v;
    if (!flight_join(v->app->flights, v->key, &v->w))
        return KHO_OK; /* someone else leads: we are answered when it lands */
    v->job.run = generate_job;
    enum kho_err rc = pool_submit(v->app->process_pool, &v->job);
    if (rc)
        land(v, rc, NULL); /* the joiners get 503 too; the leader's caller answers its own */
    return rc;
}

enum kho_err variants_serve(struct req *r, const struct meta_image *img, bool shared)
{
    struct vwait *v = arena_calloc(&r->arena, sizeof(*v));
    if (!v)
        return KHO_E_NOMEM;
    v->r = r;
    v->shared = shared;
    v->app = r->app;
    v->img = *img;
    choose_watermark(r->app, v);
    enum kho_err rc = parse(r, v);
    if (rc)
        return rc;
    v->key = variant_key(img->id, v->spec);
    uint64_t len;
    v->len = -1;
    if (blob_stat(r->app->blob, v->key, &len) == KHO_OK) {
        v->len = (int64_t)len;
        metric_inc(M_VARIANT_HITS);
        return send_variant(r, v);
    }
    req_park(r);
    rc = fly(v);
    if (rc) {
        r->pending = false;
        return req_fail(r, rc, "unavailable", "image processing is busy, retry shortly");
    }
    return KHO_E_AGAIN; /* parked: answered when the flight lands */
}

/* ---- the upload's eager thumbnail ---- */

static void ticket_unref(struct ticket *t)
{
    pthread_mutex_lock(&t->mu);
    bool last = --t->refs == 0;
    pthread_mutex_unlock(&t->mu);
    if (last) {
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        free(t);
    }
}

static void ticket_done(struct ticket *t, enum kho_err rc)
{
    pthread_mutex_lock(&t->mu);
    t->done = true;
    t->rc = rc;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    ticket_unref(t);
}

enum kho_err variants_make_thumb(struct app *app, const struct meta_image *img, int64_t wait_ms,
                                 char placeholder[META_PLACEHOLDER_MAX + 1])
{
    struct vwait *v = xcalloc(1, sizeof(*v));
    struct ticket *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->refs = 2; /* the waiter here, and the flight */
    v->app = app;
    v->img = *img;
    v->ticket = t;
    const struct preset *thumb = &presets[0];
    v->p = (struct process_params){
        .width = thumb->w, .height = thumb->h, .fit = thumb->fit, .format = default_format(img)};
    v->p.quality = default_quality(v->p.format);
    choose_watermark(app, v);
    write_spec(v);
    v->key = variant_key(img->id, v->spec);
    v->len = -1;
    v->w.arg = v;
    if (flight_join(app->flights, v->key, &v->w)) {
        v->job.run = generate_job;
        if (pool_submit(app->process_pool, &v->job)) {
            metric_inc(M_THUMBS_DROPPED); /* made on first request instead */
            land(v, KHO_E_BUSY, NULL);
            ticket_done(t, KHO_E_BUSY);
            free(v);
        }
    }
    /* a joined waiter (not the leader) is freed here once its ticket is done */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&t->mu);
    while (!t->done && pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
        ;
    enum kho_err rc = t->done ? t->rc : KHO_E_BUSY;
    memcpy(placeholder, t->done ? t->placeholder : "", t->done ? sizeof(t->placeholder) : 1);
    pthread_mutex_unlock(&t->mu);
    ticket_unref(t);
    return rc;
}

/* ---- set-up ---- */

static enum kho_err load_watermark(struct app *app)
{
    const struct kho_config *cfg = app->cfg;
    if (!cfg->watermark_text[0] && !cfg->watermark_logo[0])
        return KHO_OK;
    static const char *const positions[] = {"se", "sw", "ne", "nw", "center"};
    int pos = name_index(cfg->watermark_position, positions, 5);
    if (pos < 0) {
        log_error("watermark-position must be se, sw, ne, nw or center");
        return KHO_E_INVALID;
    }
    struct watermark *wm = xcalloc(1, sizeof(*wm));
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    if (cfg->watermark_logo[0]) {
        FILE *f = fopen(cfg->watermark_logo, "rb");
        struct buf b;
        buf_init(&b, 8u << 20);
        char chunk[65536];
        size_t n;
        while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            if (buf_append(&b, chunk, n))
                break;
        if (!f || ferror(f) || !feof(f) || b.len == 0) {
            log_error("cannot read watermark logo '%s' (at most 8 MiB)", cfg->watermark_logo);
            if (f)
                fclose(f);
            buf_free(&b);
            free(wm);
            return KHO_E_INVALID;
        }
        fclose(f);
        wm->logo = b.p; /* owned by wm for the life of the process */
        wm->logo_len = b.len;
        XXH3_64bits_update(&st, b.p, b.len);
    } else {
        wm->text = cfg->watermark_text;
        XXH3_64bits_update(&st, cfg->watermark_text, strlen(cfg->watermark_text));
    }
    wm->position = (enum watermark_position)pos;
    wm->opacity = cfg->watermark_opacity;
    wm->scale = cfg->watermark_scale;
    XXH3_64bits_update(&st, cfg->watermark_position, strlen(cfg->watermark_position));
    XXH3_64bits_update(&st, &wm->opacity, sizeof(wm->opacity));
    XXH3_64bits_update(&st, &wm->scale, sizeof(wm->scale));
    app->wm_hash = XXH3_64bits_digest(&st) | 1; /* never 0, which means none */
    app->wm = wm;
    return KHO_OK;
}

enum kho_err variants_init(struct app *app, int ncores)
{
    const struct kho_config *cfg = app->cfg;
    for (const char *s = cfg->variant_sizes; *s;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > PROCESS_MAX_DIMENSION || app->nsizes >= 32 ||
            (*end && *end != ',')) {
            log_error("variant-sizes must be up to 32 numbers from 1 to %d, comma-separated",
                      PROCESS_MAX_DIMENSION);
            return KHO_E_INVALID;
        }
        app->sizes[app->nsizes++] = (int)v;
        s = *end ? end + 1 : end;
    }
    enum kho_err rc = signature_key_load(cfg->sign_key, cfg->data, &app->sign_key);
    if (!rc)
        rc = load_watermark(app);
    if (rc)
        return rc;
    app->flights = flights_new();
    int workers = cfg->process_workers ? (int)cfg->process_workers : ncores;
    /* image work yields to request handling when the CPU is short (eager thumbnails during a
     * burst of uploads) and loses nothing when it is not */
    app->process_pool = pool_new(workers, (size_t)cfg->process_queue, 10);
    return KHO_OK;
}

void variants_free(struct app *app)
{
    pool_free(app->process_pool); /* runs what is queued: its requests are answered */
    app->process_pool = NULL;
    flights_free(app->flights);
    app->flights = NULL;
    if (app->wm) {
        free((void *)app->wm->logo);
        free(app->wm);
        app->wm = NULL;
    }
}

/* ---- the process node's side: POST /internal/v1/process?SPEC&sig=... ---- */

struct internal_job {
    struct process_params p;
    struct process_result out;
    const struct watermark *wm;
    struct watermark own;
    char own_text[WATERMARK_MAX_TEXT + 1];
};

static void free_result(void *p)
{
    process_result_free(p);
}

static enum kho_err internal_work(struct req *r)
{
    struct internal_job *j = r->ctx;
    struct process_limits lim = {r->app->cfg->max_pixels, r->app->cfg->process_timeout_ms};
    enum kho_err rc = process_variant(r->body.p, r->body.len, &j->p, j->wm, &lim, &j->out);
    if (rc)
        return req_fail(r, rc, rc == KHO_E_TOO_LARGE ? "image_too_large" : "invalid_image",
                        "the image cannot be processed");
    rc = arena_defer(&r->arena, free_result, &j->out);
    if (rc)
        return rc;
    r->status = 200;
    r->content_type = j->out.mime;
    r->out = j->out.data;
    r->out_len = j->out.len;
    resp_header(r, "X-Width", req_printf(r, "%d", j->out.width));
    resp_header(r, "X-Height", req_printf(r, "%d", j->out.height));
    return KHO_OK;
}

static enum kho_err internal_process(struct req *r)
{
    struct internal_job *j = arena_calloc(&r->arena, sizeof(*j));
    const char *s, *sig;
    int crop = 0, enlarge = 0;
    if (!j)
        return KHO_E_NOMEM;
    enum kho_err rc = req_query(r, "sig", &sig);
    const char *msg = rc ? NULL : signed_message(r);
    if (!rc &&
        (!sig || !msg || !signature_check(&r->app->sign_key, msg, strlen(msg), sig, strlen(sig))))
        return req_fail(r, KHO_E_DENIED, "invalid_signature", "the signature does not match");
    struct process_params *p = &j->p;
    if (!rc)
        rc = read_int(r, "w", 0, PROCESS_MAX_DIMENSION, &p->width);
    if (!rc)
        rc = read_int(r, "h", 0, PROCESS_MAX_DIMENSION, &p->height);
    if (!rc)
        rc = read_int(r, "q", 0, 100, &p->quality);
    if (!rc)
        rc = read_int(r, "crop", 0, 1, &crop);
    if (!rc)
        rc = read_int(r, "e", 0, 1, &enlarge);
    if (!rc)
        rc = req_query(r, "fit", &s);
    if (rc)
        return rc;
    int fit = s ? name_index(s, fit_names, 3) : 0;
    rc = req_query(r, "fmt", &s);
    if (rc)
        return rc;
    int fmt = s ? name_index(s, format_names, 4) : 0;
    const char *wmt, *why;
    rc = req_query(r, "wmt", &wmt);
    if (!rc)
        rc = req_query(r, "wm", &s);
    if (rc)
        return rc;
    j->wm = r->app->wm;
    uint64_t want = r->app->wm_hash;
    if (wmt) { /* the owner's own watermark */
        if (variants_parse_watermark(wmt, &j->own, j->own_text, sizeof(j->own_text), &why))
            return req_fail(r, KHO_E_INVALID, "invalid_parameter", "%s", why);
        j->wm = &j->own;
        want = XXH3_64bits(wmt, strlen(wmt)) | 1;
    }
    if (fit < 0 || fmt < 0 || !s || strtoull(s, NULL, 16) != want)
        return req_fail(r, KHO_E_INVALID, "invalid_parameter",
                        "bad spec, or watermark settings that differ from this node's");
    if (r->body.len == 0)
        return req_fail(r, KHO_E_INVALID, "empty_body", "the image is empty");
    p->fit = (enum process_fit)fit;
    p->format = (enum process_format)fmt;
    p->crop = (enum process_crop)crop;
    p->enlarge = enlarge;
    r->ctx = j;
    rc = req_async_on(r, r->app->process_pool, internal_work);
    if (rc)
        return req_fail(r, rc, "unavailable", "image processing is busy, retry shortly");
    return KHO_OK;
}

const struct route internal_routes[] = {
    {"POST", "/internal/v1/process", internal_process, ROUTE_INTERNAL | ROUTE_UPLOAD},
    {NULL, NULL, NULL, 0},
};
