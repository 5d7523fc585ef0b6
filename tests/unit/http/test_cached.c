/* Unit tests for reading records through the cache (src/http/cached.c) against a real SQLite
 * store: copies equal the database's records, hits read nothing from the database, a forget
 * after a write makes the next read fresh, and a cached session is never served past its expiry. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cache/cache.h"
#include "http/app.h"
#include "http/cached.h"
#include "meta/meta.h"
#include "core/kho.h"
#include "t.h"

struct fx {
    char *dir;
    struct kho_config cfg;
    struct app app;
    struct meta_user owner;
    struct meta_image img;
};

static int fx_init(struct fx *f, int64_t cache_bytes)
{
    char url[600];
    memset(f, 0, sizeof(*f));
    f->dir = t_tmpdir();
    if (!f->dir)
        return 0;
    snprintf(url, sizeof(url), "sqlite:%s/meta.db", f->dir);
    f->cfg.cache_ttl_ms = 60000;
    f->app.cfg = &f->cfg;
    if (meta_open(url, &f->app.meta) || cache_open("", cache_bytes, &f->app.cache))
        return 0;
    struct meta_store *m = f->app.meta;
    f->owner.id = ids_next(1);
    snprintf(f->owner.username, sizeof(f->owner.username), "ana");
    snprintf(f->owner.pwhash, sizeof(f->owner.pwhash), "$argon2id$v=19$not-a-real-hash");
    if (m->ops->user_create(m, &f->owner) || m->ops->user_set_watermark(m, f->owner.id, "{}"))
        return 0;
    struct meta_image *img = &f->img;
    img->id = ids_next(1);
    img->owner_id = f->owner.id;
    snprintf(img->title, sizeof(img->title), "beach \xc3\xa0 midi");
    snprintf(img->tags, sizeof(img->tags), "sea,2026");
    img->visibility = META_PUBLIC;
    snprintf(img->format, sizeof(img->format), "jpeg");
    img->width = 4000;
    img->height = 3000;
    img->bytes = 170123;
    memset(img->sha256, 'a', 64);
    img->blob_key = 0xfedcba9876543210u;
    img->alpha = true;
    img->taken_at = 1700000000123;
    snprintf(img->camera_make, sizeof(img->camera_make), "Fujifilm");
    snprintf(img->camera_model, sizeof(img->camera_model), "X-T5");
    img->has_gps = true;
    img->gps_lat = 48.8566;
    img->gps_lon = -2.3522;
    snprintf(img->placeholder, sizeof(img->placeholder), "1QcSHQRnh493V4dIh4eXh1h4kJUI");
    struct meta_quota q = {0};
    return m->ops->image_insert(m, img, &q) == KHO_OK;
}

static void fx_done(struct fx *f)
{
    cache_close(f->app.cache);
    if (f->app.meta)
        f->app.meta->ops->close(f->app.meta);
    if (f->dir)
        t_rmtree(f->dir);
    free(f->dir);
}

/* Database reads since the last call. */
static uint64_t reads(void)
{
    static uint64_t last;
    uint64_t now = metric_get(M_DB_READS), n = now - last;
    last = now;
    return n;
}

static int same_image(const struct meta_image *a, const struct meta_image *b)
{
    return a->id == b->id && a->owner_id == b->owner_id && !strcmp(a->owner_name, b->owner_name) &&
           !strcmp(a->title, b->title) && !strcmp(a->tags, b->tags) &&
           a->visibility == b->visibility && !strcmp(a->format, b->format) &&
           a->width == b->width && a->height == b->height && a->bytes == b->bytes &&
           !strcmp(a->sha256, b->sha256) && a->created_at == b->created_at &&
           a->blob_key == b->blob_key && a->alpha == b->alpha && a->taken_at == b->taken_at &&
           !strcmp(a->camera_make, b->camera_make) && !strcmp(a->camera_model, b->camera_model) &&
           a->has_gps == b->has_gps && a->gps_lat == b->gps_lat && a->gps_lon == b->gps_lon &&
           !strcmp(a->placeholder, b->placeholder) &&
           !strcmp(a->owner_watermark, b->owner_watermark);
}

static void test_image_copies_equal_the_record(void)
{
    struct fx f;
    struct meta_image db, got;
    CHECK(fx_init(&f, 1 << 20));
    CHECK_EQ(f.app.meta->ops->image_get(f.app.meta, f.img.id, &db), KHO_OK);
    reads();
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK); /* fills the image's copy */
    CHECK_EQ(reads(), 1);
    CHECK(same_image(&got, &db));
    memset(&got, 0x55, sizeof(got));
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK); /* fills the owner's */
    CHECK_EQ(reads(), 1);
    CHECK(same_image(&got, &db));
    memset(&got, 0x55, sizeof(got));
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_EQ(reads(), 0);
    CHECK(same_image(&got, &db));
    CHECK_STR(got.owner_name, "ana");
    CHECK_STR(got.owner_watermark, "{}");
    /* misses are not cached: an absent image is looked for every time */
    CHECK_EQ(cached_image_get(&f.app, f.img.id + 1, &got), KHO_E_NOTFOUND);
    CHECK_EQ(cached_image_get(&f.app, f.img.id + 1, &got), KHO_E_NOTFOUND);
    CHECK_EQ(reads(), 2);
    fx_done(&f);
}

static void test_image_forget_after_write(void)
{
    struct fx f;
    struct meta_image got, upd;
    CHECK(fx_init(&f, 1 << 20));
    struct meta_store *m = f.app.meta;
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    upd = f.img;
    upd.visibility = META_PRIVATE;
    CHECK_EQ(m->ops->image_update(m, f.img.id, f.owner.id, META_SET_VISIBILITY, &upd), KHO_OK);
    /* the copy is what the cache is for; the forget is what keeps it exact */
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_EQ(got.visibility, META_PUBLIC);
    cached_image_forget(&f.app, f.img.id);
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_EQ(got.visibility, META_PRIVATE);

    CHECK_EQ(m->ops->image_set_placeholder(m, f.img.id, "AAAA"), KHO_OK);
    cached_image_forget(&f.app, f.img.id);
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_STR(got.placeholder, "AAAA");

    CHECK_EQ(m->ops->image_delete(m, f.img.id, f.owner.id, &upd), KHO_OK);
    cached_image_forget(&f.app, f.img.id);
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_E_NOTFOUND);
    fx_done(&f);
}

static void test_owner_watermark_follows_the_user(void)
{
    struct fx f;
    struct meta_image got;
    CHECK(fx_init(&f, 1 << 20));
    struct meta_store *m = f.app.meta;
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_EQ(m->ops->user_set_watermark(m, f.owner.id, "{\"text\":\"ANA\"}"), KHO_OK);
    /* one forget of the user reaches every cached image of theirs */
    cached_user_forget(&f.app, f.owner.id);
    reads();
    CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_STR(got.owner_watermark, "{\"text\":\"ANA\"}");
    CHECK_EQ(reads(), 1); /* the user, not the image */
    fx_done(&f);
}

static void test_sessions(void)
{
    struct fx f;
    struct meta_user u;
    char tok[65], csrf[65], got_csrf[65];
    CHECK(fx_init(&f, 1 << 20));
    struct meta_store *m = f.app.meta;
    int64_t now = now_ms(), exp = now + 30000;
    memset(tok, 'b', 64);
    tok[64] = '\0';
    memset(csrf, 'c', 64);
    csrf[64] = '\0';
    CHECK_EQ(m->ops->session_create(m, tok, csrf, f.owner.id, exp), KHO_OK);
    reads();
    for (int i = 0; i < 3; i++) {
        memset(&u, 0x55, sizeof(u));
        CHECK_EQ(cached_session_lookup(&f.app, META_SHARD_UNKNOWN, tok, now, &u, got_csrf), KHO_OK);
        CHECK_EQ(u.id, f.owner.id);
        CHECK_STR(u.username, "ana");
        CHECK_STR(u.watermark, "{}");
        CHECK_STR(u.pwhash, "");
        CHECK_STR(got_csrf, csrf);
    }
    CHECK_EQ(reads(), 2); /* the session, then its user */
    /* still cached (for a minute), but the session is over: refused without asking the DB */
    CHECK_EQ(cached_session_lookup(&f.app, META_SHARD_UNKNOWN, tok, exp, &u, got_csrf),
             KHO_E_NOTFOUND);
    CHECK_EQ(reads(), 0);
    CHECK_EQ(cached_session_lookup(&f.app, META_SHARD_UNKNOWN, "not-a-hash", now, &u, got_csrf),
             KHO_E_NOTFOUND);

    CHECK_EQ(m->ops->session_delete(m, META_SHARD_UNKNOWN, tok), KHO_OK);
    cached_session_forget(&f.app, tok);
    CHECK_EQ(cached_session_lookup(&f.app, META_SHARD_UNKNOWN, tok, now, &u, got_csrf),
             KHO_E_NOTFOUND);
    fx_done(&f);
}

static void test_api_keys(void)
{
    struct fx f;
    struct meta_user u;
    struct meta_key k = {0}, got;
    char hash[65], revoked[65];
    CHECK(fx_init(&f, 1 << 20));
    struct meta_store *m = f.app.meta;
    memset(hash, 'd', 64);
    hash[64] = '\0';
    k.id = ids_next(1);
    k.user_id = f.owner.id;
    k.scope = META_SCOPE_READ;
    snprintf(k.name, sizeof(k.name), "backup script");
    snprintf(k.prefix, sizeof(k.prefix), "kho_dddddddd");
    CHECK_EQ(m->ops->key_create(m, &k, hash), KHO_OK);
    reads();
    for (int i = 0; i < 3; i++) {
        memset(&got, 0x55, sizeof(got));
        CHECK_EQ(cached_key_lookup(&f.app, hash, &u, &got), KHO_OK);
        CHECK_EQ(got.id, k.id);
        CHECK_EQ(got.user_id, f.owner.id);
        CHECK_EQ(got.scope, META_SCOPE_READ);
        CHECK_STR(got.name, "backup script");
        CHECK_STR(got.prefix, "kho_dddddddd");
        CHECK_EQ(got.created_at, k.created_at);
        CHECK_EQ(u.id, f.owner.id);
        CHECK_STR(u.username, "ana");
    }
    CHECK_EQ(reads(), 2);
    CHECK_EQ(m->ops->key_delete(m, k.id, f.owner.id, revoked), KHO_OK);
    cached_key_forget(&f.app, revoked);
    CHECK_EQ(cached_key_lookup(&f.app, hash, &u, &got), KHO_E_NOTFOUND);
    fx_done(&f);
}

static void test_disabled_cache_reads_through(void)
{
    struct fx f;
    struct meta_image got;
    CHECK(fx_init(&f, 0));
    CHECK(f.app.cache == NULL);
    reads();
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cached_image_get(&f.app, f.img.id, &got), KHO_OK);
    CHECK_EQ(reads(), 3);
    CHECK_STR(got.owner_name, "ana");
    cached_image_forget(&f.app, f.img.id);
    fx_done(&f);
}

T_MAIN("cached", T(test_image_copies_equal_the_record), T(test_image_forget_after_write),
       T(test_owner_watermark_follows_the_user), T(test_sessions), T(test_api_keys),
       T(test_disabled_cache_reads_through))
