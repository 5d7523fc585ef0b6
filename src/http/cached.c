/* Read-through caching of image records, users, sessions and API keys; see cached.h. Values are
 * packed compactly (a typical image record takes about 250 bytes, against 1.7 KB for struct
 * meta_image), so the cache holds several times more records, and a network cache can share
 * them. Copies are filled only with the lease of the miss that led to the database read, so a
 * read racing a write can never store what the write replaced. */
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "cache/cache.h"
#include "http/cached.h"
#include "core/kho.h"

/* The first byte of every value: a value packed by another version of kho (through a shared
 * cache) is ignored rather than misread. */
#define FORMAT 1
#define VALUE_MAX 1536

/* ---- packing: integers as 8 bytes little-endian, strings as a 2-byte length and the bytes ---- */

struct out {
    unsigned char *p;
    size_t n, cap;
    bool over;
};

struct in {
    const unsigned char *p;
    size_t n, at;
    bool bad;
};

static void put_bytes(struct out *o, const void *v, size_t n)
{
    if (o->over || n > o->cap - o->n) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->n, v, n);
    o->n += n;
}

static void put_u64(struct out *o, uint64_t v)
{
    v = htole64(v);
    put_bytes(o, &v, sizeof(v));
}

static void put_i64(struct out *o, int64_t v)
{
    put_u64(o, (uint64_t)v);
}

static void put_f64(struct out *o, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    put_u64(o, bits);
}

static void put_str(struct out *o, const char *s)
{
    size_t n = strlen(s);
    unsigned char b[2] = {(unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
    if (n > 0xffff)
        o->over = true;
    put_bytes(o, b, sizeof(b));
    put_bytes(o, s, n);
}

/* The next n bytes of the value; NULL, and the value bad, when fewer are left. Reading goes
 * field by field on every hit, so it stays a bounds check and a pointer bump. */
static const unsigned char *take(struct in *in, size_t n)
{
    if (in->bad || n > in->n - in->at) {
        in->bad = true;
        return NULL;
    }
    const unsigned char *p = in->p + in->at;
    in->at += n;
    return p;
}

static uint64_t get_u64(struct in *in)
{
    const unsigned char *p = take(in, 8);
    uint64_t v = 0;
    if (p)
        memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

static int64_t get_i64(struct in *in)
{
    return (int64_t)get_u64(in);
}

static double get_f64(struct in *in)
{
    uint64_t bits = get_u64(in);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

/* A string into dst[cap]; one that does not fit marks the value bad. */
static void get_str(struct in *in, char *dst, size_t cap)
{
    const unsigned char *p = take(in, 2), *s = NULL;
    size_t n = p ? ((size_t)p[0] | (size_t)p[1] << 8) : 0;
    if (n < cap)
        s = take(in, n);
    else
        in->bad = true;
    if (!s || in->bad) {
        dst[0] = '\0';
        return;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static struct out out_begin(unsigned char *buf, size_t cap)
{
    struct out o = {buf, 0, cap, false};
    unsigned char f = FORMAT;
    put_bytes(&o, &f, 1);
    return o;
}

static struct in in_begin(const unsigned char *buf, size_t n)
{
    struct in in = {buf, n, 0, false};
    const unsigned char *f = take(&in, 1);
    in.bad = !f || *f != FORMAT;
    return in;
}

/* Whether a value was read whole, and nothing follows it. */
static bool in_ok(const struct in *in)
{
    return !in->bad && in->at == in->n;
}

/* ---- the records ---- */

/* Without owner_name and owner_watermark: those come from the owner's user record. */
static void pack_image(struct out *o, const struct meta_image *img)
{
    put_u64(o, img->id);
    put_u64(o, img->owner_id);
    put_str(o, img->title);
    put_str(o, img->tags);
    put_u64(o, (uint64_t)img->visibility);
    put_str(o, img->format);
    put_i64(o, img->width);
    put_i64(o, img->height);
    put_i64(o, img->bytes);
    put_str(o, img->sha256);
    put_i64(o, img->created_at);
    put_u64(o, img->blob_key);
    put_u64(o, img->alpha);
    put_i64(o, img->taken_at);
    put_str(o, img->camera_make);
    put_str(o, img->camera_model);
    put_u64(o, img->has_gps);
    put_f64(o, img->gps_lat);
    put_f64(o, img->gps_lon);
    put_str(o, img->placeholder);
}

static void unpack_image(struct in *in, struct meta_image *img)
{
    img->id = get_u64(in);
    img->owner_id = get_u64(in);
    get_str(in, img->title, sizeof(img->title));
    get_str(in, img->tags, sizeof(img->tags));
    uint64_t vis = get_u64(in);
    in->bad = in->bad || vis > META_PUBLIC;
    img->visibility = (enum meta_visibility)vis;
    get_str(in, img->format, sizeof(img->format));
    img->width = (int32_t)get_i64(in);
    img->height = (int32_t)get_i64(in);
    img->bytes = get_i64(in);
    get_str(in, img->sha256, sizeof(img->sha256));
    img->created_at = get_i64(in);
    img->blob_key = get_u64(in);
    img->alpha = get_u64(in) != 0;
    img->taken_at = get_i64(in);
    get_str(in, img->camera_make, sizeof(img->camera_make));
    get_str(in, img->camera_model, sizeof(img->camera_model));
    img->has_gps = get_u64(in) != 0;
    img->gps_lat = get_f64(in);
    img->gps_lon = get_f64(in);
    get_str(in, img->placeholder, sizeof(img->placeholder));
}

/* The biggest packed image: the format byte, 13 integers, 7 strings at their longest. */
_Static_assert(1 + 13 * 8 + 7 * 2 + META_TITLE_MAX + META_TAGS_TEXT_MAX + META_FORMAT_MAX + 64 +
                       2 * META_CAMERA_MAX + META_PLACEHOLDER_MAX <=
                   VALUE_MAX,
               "VALUE_MAX must hold any image record");

/* Without pwhash: nothing that reads users through here checks passwords. */
static void pack_user(struct out *o, const struct meta_user *u)
{
    put_u64(o, u->id);
    put_str(o, u->username);
    put_i64(o, u->created_at);
    put_str(o, u->watermark);
}

static void unpack_user(struct in *in, struct meta_user *u)
{
    u->id = get_u64(in);
    get_str(in, u->username, sizeof(u->username));
    u->pwhash[0] = '\0';
    u->created_at = get_i64(in);
    get_str(in, u->watermark, sizeof(u->watermark));
}

/* A session as cached: whose it is and until when, not the user record, which is cached apart
 * (one copy per user however many sessions, forgotten once when it changes). */
struct session {
    uint64_t user_id;
    int64_t expires_at;
    char csrf_hash[65];
};

static void pack_session(struct out *o, const struct session *s)
{
    put_u64(o, s->user_id);
    put_i64(o, s->expires_at);
    put_str(o, s->csrf_hash);
}

static void unpack_session(struct in *in, struct session *s)
{
    s->user_id = get_u64(in);
    s->expires_at = get_i64(in);
    get_str(in, s->csrf_hash, sizeof(s->csrf_hash));
}

static void pack_key(struct out *o, const struct meta_key *k)
{
    put_u64(o, k->id);
    put_u64(o, k->user_id);
    put_str(o, k->name);
    put_u64(o, (uint64_t)k->scope);
    put_str(o, k->prefix);
    put_i64(o, k->created_at);
    put_i64(o, k->last_used_at);
}

static void unpack_key(struct in *in, struct meta_key *k)
{
    k->id = get_u64(in);
    k->user_id = get_u64(in);
    get_str(in, k->name, sizeof(k->name));
    uint64_t scope = get_u64(in);
    in->bad = in->bad || scope > META_SCOPE_READ_WRITE;
    k->scope = (enum meta_scope)scope;
    get_str(in, k->prefix, sizeof(k->prefix));
    k->created_at = get_i64(in);
    k->last_used_at = get_i64(in);
}

/* ---- reading through ---- */

/* Store a packed value with the lease of the miss before the database read. A put that fails
 * or is refused (a write came in between) costs only a later miss, so it is not an error. */
static void fill(struct app *app, const struct cache_key *k, const struct out *o, int64_t ttl_ms,
                 uint64_t lease)
{
    if (!o->over)
        (void)cache_put(app->cache, k, o->p, o->n, ttl_ms, lease);
}

static void forget(struct app *app, const struct cache_key *k)
{
    enum kho_err rc = cache_del(app->cache, k);
    if (rc)
        log_warn("cannot drop a cached record: %s", kho_err_name(rc));
}

static enum kho_err user_get(struct app *app, uint64_t id, struct meta_user *u)
{
    struct cache_key k;
    unsigned char buf[VALUE_MAX];
    size_t n = 0;
    uint64_t lease = 0;
    cache_key_id(&k, CACHE_NS_USER, id);
    enum kho_err got = cache_get(app->cache, &k, buf, sizeof(buf), &n, &lease);
    if (got == KHO_OK) {
        struct in in = in_begin(buf, n);
        unpack_user(&in, u);
        if (in_ok(&in) && u->id == id)
            return KHO_OK;
    }
    enum kho_err rc = app->meta->ops->user_by_id(app->meta, id, u);
    if (rc)
        return rc;
    u->pwhash[0] = '\0';
    if (got == KHO_E_NOTFOUND) {
        struct out o = out_begin(buf, sizeof(buf));
        pack_user(&o, u);
        fill(app, &k, &o, app->cfg->cache_ttl_ms, lease);
    }
    return KHO_OK;
}

enum kho_err cached_image_get(struct app *app, uint64_t id, struct meta_image *out)
{
    struct cache_key k;
    unsigned char buf[VALUE_MAX];
    size_t n = 0;
    uint64_t lease = 0;
    cache_key_id(&k, CACHE_NS_IMAGE, id);
    enum kho_err got = cache_get(app->cache, &k, buf, sizeof(buf), &n, &lease);
    if (got == KHO_OK) {
        struct in in = in_begin(buf, n);
        struct meta_user owner;
        unpack_image(&in, out);
        if (in_ok(&in) && out->id == id && user_get(app, out->owner_id, &owner) == KHO_OK) {
            memcpy(out->owner_name, owner.username, strlen(owner.username) + 1);
            memcpy(out->owner_watermark, owner.watermark, strlen(owner.watermark) + 1);
            return KHO_OK;
        }
    }
    enum kho_err rc = app->meta->ops->image_get(app->meta, id, out);
    if (rc)
        return rc;
    if (got == KHO_E_NOTFOUND) {
        struct out o = out_begin(buf, sizeof(buf));
        pack_image(&o, out);
        fill(app, &k, &o, app->cfg->cache_ttl_ms, lease);
    }
    return KHO_OK;
}

void cached_image_forget(struct app *app, uint64_t id)
{
    struct cache_key k;
    cache_key_id(&k, CACHE_NS_IMAGE, id);
    forget(app, &k);
}

void cached_user_forget(struct app *app, uint64_t user_id)
{
    struct cache_key k;
    cache_key_id(&k, CACHE_NS_USER, user_id);
    forget(app, &k);
}

enum kho_err cached_session_lookup(struct app *app, uint32_t shard, const char *token_hash,
                                   int64_t now, struct meta_user *user, char csrf_hash[65])
{
    struct cache_key k;
    unsigned char buf[VALUE_MAX];
    size_t n = 0;
    uint64_t lease = 0;
    struct session s;
    if (cache_key_hash(&k, CACHE_NS_SESSION, token_hash))
        return KHO_E_NOTFOUND; /* no session is stored under anything but a hash */
    enum kho_err got = cache_get(app->cache, &k, buf, sizeof(buf), &n, &lease);
    if (got == KHO_OK) {
        struct in in = in_begin(buf, n);
        unpack_session(&in, &s);
        if (in_ok(&in)) {
            /* a copy may outlive its session: the expiry travels with it */
            if (s.expires_at <= now)
                return KHO_E_NOTFOUND;
            enum kho_err rc = user_get(app, s.user_id, user);
            if (rc)
                return rc;
            memcpy(csrf_hash, s.csrf_hash, strlen(s.csrf_hash) + 1);
            return KHO_OK;
        }
    }
    enum kho_err rc = app->meta->ops->session_lookup(app->meta, shard, token_hash, now, user,
                                                     csrf_hash, &s.expires_at);
    if (rc)
        return rc;
    user->pwhash[0] = '\0';
    if (got == KHO_E_NOTFOUND) {
        s.user_id = user->id;
        memcpy(s.csrf_hash, csrf_hash, strlen(csrf_hash) + 1);
        struct out o = out_begin(buf, sizeof(buf));
        pack_session(&o, &s);
        int64_t ttl = app->cfg->cache_ttl_ms, left = s.expires_at - now;
        fill(app, &k, &o, left < ttl ? left : ttl, lease);
    }
    return KHO_OK;
}

void cached_session_forget(struct app *app, const char *token_hash)
{
    struct cache_key k;
    if (cache_key_hash(&k, CACHE_NS_SESSION, token_hash) == KHO_OK)
        forget(app, &k);
}

enum kho_err cached_key_lookup(struct app *app, const char *key_hash, struct meta_user *user,
                               struct meta_key *key)
{
    struct cache_key k;
    unsigned char buf[VALUE_MAX];
    size_t n = 0;
    uint64_t lease = 0;
    if (cache_key_hash(&k, CACHE_NS_APIKEY, key_hash))
        return KHO_E_NOTFOUND;
    enum kho_err got = cache_get(app->cache, &k, buf, sizeof(buf), &n, &lease);
    if (got == KHO_OK) {
        struct in in = in_begin(buf, n);
        unpack_key(&in, key);
        if (in_ok(&in))
            return user_get(app, key->user_id, user);
    }
    enum kho_err rc = app->meta->ops->key_lookup(app->meta, key_hash, user, key);
    if (rc)
        return rc;
    user->pwhash[0] = '\0';
    if (got == KHO_E_NOTFOUND) {
        struct out o = out_begin(buf, sizeof(buf));
        pack_key(&o, key);
        fill(app, &k, &o, app->cfg->cache_ttl_ms, lease);
    }
    return KHO_OK;
}

void cached_key_forget(struct app *app, const char *key_hash)
{
    struct cache_key k;
    if (cache_key_hash(&k, CACHE_NS_APIKEY, key_hash) == KHO_OK)
        forget(app, &k);
}
