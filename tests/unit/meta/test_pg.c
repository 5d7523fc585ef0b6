/* Unit tests for the sharded PostgreSQL backend: the shard map, row placement and the merge of
 * explore pages, then (when KHO_TEST_PG_URLS names two or more servers) the store itself against
 * real servers, emptied before each test. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "meta/meta.h"
#include "meta/pg.h"
#include "meta/shardmap.h"
#include "core/kho.h"
#include "t.h"

/* ---- without servers ---- */

static void test_shardmap_default(void)
{
    struct shardmap m;
    shardmap_default(&m, 1);
    CHECK_EQ(m.server[0], 0);
    CHECK_EQ(m.server[4095], 0);
    shardmap_default(&m, 2);
    CHECK_EQ(m.server[0], 0);
    CHECK_EQ(m.server[2047], 0);
    CHECK_EQ(m.server[2048], 1);
    CHECK_EQ(m.server[4095], 1);
    shardmap_default(&m, 3);
    CHECK_EQ(m.server[1365], 0);
    CHECK_EQ(m.server[1366], 1);
    CHECK_EQ(m.server[2730], 1);
    CHECK_EQ(m.server[2731], 2);
    CHECK_EQ(m.server[4095], 2);
}

static void test_shardmap_parse(void)
{
    struct shardmap m;
    CHECK_EQ(shardmap_parse(&m, "0-2047=0,2048-4095=1", 2), KHO_OK);
    CHECK_EQ(m.server[2047], 0);
    CHECK_EQ(m.server[2048], 1);
    /* after moving shard 7 to a third server */
    CHECK_EQ(shardmap_parse(&m, "0-6=0,7=2,8-2047=0,2048-4095=1", 3), KHO_OK);
    CHECK_EQ(m.server[6], 0);
    CHECK_EQ(m.server[7], 2);
    CHECK_EQ(m.server[8], 0);
    log_set_level((enum log_level)(LOG_ERROR + 1));             /* the refusals below are logged */
    CHECK_EQ(shardmap_parse(&m, "0-2047=0", 1), KHO_E_INVALID); /* a gap */
    CHECK_EQ(shardmap_parse(&m, "0-2048=0,2048-4095=1", 2), KHO_E_INVALID); /* twice */
    CHECK_EQ(shardmap_parse(&m, "0-4095=2", 2), KHO_E_INVALID);             /* no server 2 */
    CHECK_EQ(shardmap_parse(&m, "0-4096=0", 1), KHO_E_INVALID);             /* no shard 4096 */
    CHECK_EQ(shardmap_parse(&m, "5-1=0", 1), KHO_E_INVALID);
    CHECK_EQ(shardmap_parse(&m, "", 1), KHO_E_INVALID);
    CHECK_EQ(shardmap_parse(&m, "0-4095=0,", 1), KHO_E_INVALID);
    CHECK_EQ(shardmap_parse(&m, "0-4095=-1", 1), KHO_E_INVALID);
    CHECK_EQ(shardmap_parse(&m, " 0-4095=0", 1), KHO_E_INVALID);
    log_set_level(LOG_INFO);
}

static void test_shardmap_format(void)
{
    struct shardmap m, back;
    shardmap_default(&m, 2);
    char *s = shardmap_format(&m);
    CHECK_STR(s, "0-2047=0,2048-4095=1");
    free(s);
    m.server[7] = 2;
    m.server[4095] = 0;
    m.nservers = 3;
    s = shardmap_format(&m);
    CHECK_STR(s, "0-6=0,7=2,8-2047=0,2048-4094=1,4095=0");
    CHECK_EQ(shardmap_parse(&back, s, 3), KHO_OK);
    CHECK(memcmp(back.server, m.server, sizeof(m.server)) == 0);
    free(s);
    /* the longest map: every shard on another server than its neighbours */
    for (uint32_t i = 0; i < IDS_LOGICAL_SHARDS; i++)
        m.server[i] = (uint8_t)(i % 64);
    m.nservers = 64;
    s = shardmap_format(&m);
    CHECK_EQ(shardmap_parse(&back, s, 64), KHO_OK);
    CHECK(memcmp(back.server, m.server, sizeof(m.server)) == 0);
    free(s);
}

static void test_placement(void)
{
    CHECK_EQ(shardmap_of_id(ids_make(now_ms(), 0, 5)), 0);
    CHECK_EQ(shardmap_of_id(ids_make(now_ms(), 4095, 1023)), 4095);
    CHECK_EQ(shardmap_of_id(ids_next(2048)), 2048);
    CHECK_EQ(shardmap_of_hash("abc0000000000000000000000000000000000000000000000000000000000000"),
             0xabc);
    CHECK_EQ(shardmap_of_hash("0010000000000000000000000000000000000000000000000000000000000000"),
             1);
    CHECK_EQ(ids_name_shard("alice"), ids_name_shard("alice"));
    CHECK(ids_name_shard("alice") < IDS_LOGICAL_SHARDS);
    CHECK(ids_name_shard("alice") != ids_name_shard("bob"));
    unsigned low = 0;
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "user%d", i);
        low += ids_name_shard(name) < IDS_LOGICAL_SHARDS / 2;
    }
    CHECK(low > 400 && low < 600); /* names spread over both halves (two servers) */
}

static void page(struct meta_image *out, const uint64_t *ids, int n)
{
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].id = ids[i];
    }
}

static void test_merge_newest(void)
{
    struct meta_image a[4], b[3], out[8];
    page(a, (const uint64_t[]){90, 70, 40, 10}, 4);
    page(b, (const uint64_t[]){80, 75, 5}, 3);
    CHECK_EQ(pg_merge_newest(a, 4, b, 3, 8, out), 7);
    const uint64_t want[] = {90, 80, 75, 70, 40, 10, 5};
    for (int i = 0; i < 7; i++)
        CHECK_EQ(out[i].id, want[i]);
    CHECK_EQ(pg_merge_newest(a, 4, b, 3, 3, out), 3);
    CHECK_EQ(out[2].id, 75);
    CHECK_EQ(pg_merge_newest(a, 0, b, 3, 5, out), 3);
    CHECK_EQ(out[0].id, 80);
    CHECK_EQ(pg_merge_newest(a, 4, b, 0, 2, out), 2);
    CHECK_EQ(out[1].id, 70);
    CHECK_EQ(pg_merge_newest(a, 0, b, 0, 5, out), 0);
}

/* ---- against servers ---- */

#define URLS_MAX 2048

static const char *pg_urls(void)
{
    const char *u = getenv("KHO_TEST_PG_URLS");
    return u && strchr(u, ',') ? u : NULL;
}

/* The i-th URL of the list into out; false past the end. */
static bool url_at(const char *urls, int i, char *out, size_t cap)
{
    const char *p = urls;
    for (; i > 0; i--) {
        p = strchr(p, ',');
        if (!p)
            return false;
        p++;
    }
    size_t len = strcspn(p, ",");
    if (len >= cap)
        return false;
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Run sql on server i; for a query, the first column of its first row (else 0); -1 on error. */
static int64_t server_sql(int i, const char *sql)
{
    char url[URLS_MAX];
    if (!url_at(pg_urls(), i, url, sizeof(url)))
        return -1;
    PGconn *pg = PQconnectdb(url);
    PQsetNoticeProcessor(pg, quiet, NULL);
    int64_t v = -1;
    if (PQstatus(pg) == CONNECTION_OK) {
        PGresult *res = PQexec(pg, sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
            v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        else if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
            v = 0;
        else
            fprintf(stderr, "  server %d: %s", i, PQerrorMessage(pg));
        PQclear(res);
    }
    PQfinish(pg);
    return v;
}

/* Empty both servers and open a store on them; NULL (and a "skipped" line) without servers. */
static struct meta_store *live_open(const char *test)
{
    if (!pg_urls()) {
        printf("skipped %s: KHO_TEST_PG_URLS names no two servers\n", test);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (server_sql(i, "DROP SCHEMA public CASCADE; CREATE SCHEMA public") != 0)
            return NULL;
    }
    struct meta_store *m = NULL;
    struct meta_options o = {4, NULL};
    if (meta_open_with(pg_urls(), &o, &m) != KHO_OK)
        return NULL;
    return m;
}

#define LIVE(m)                                                                                    \
    struct meta_store *m = live_open(__func__);                                                    \
    if (!pg_urls())                                                                                \
        return;                                                                                    \
    CHECK(m)

/* A user named name, on the shard the name hashes to. */
static enum kho_err add_user(struct meta_store *m, const char *name, struct meta_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = ids_next(ids_name_shard(name));
    snprintf(u->username, sizeof(u->username), "%s", name);
    snprintf(u->pwhash, sizeof(u->pwhash), "$argon2id$v=19$hash-of-%s", name);
    return m->ops->user_create(m, u);
}

/* A user whose shard maps to server (of two, equal ranges). */
static enum kho_err add_user_on(struct meta_store *m, int server, const char *prefix,
                                struct meta_user *u)
{
    for (int i = 0;; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s%d", prefix, i);
        if ((int)(ids_name_shard(name) * 2 / IDS_LOGICAL_SHARDS) == server)
            return add_user(m, name, u);
    }
}

static void fill_image(struct meta_image *img, uint64_t owner, unsigned n, const char *tags,
                       enum meta_visibility vis)
{
    memset(img, 0, sizeof(*img));
    img->id = ids_next(shardmap_of_id(owner));
    img->owner_id = owner;
    snprintf(img->title, sizeof(img->title), "image %u", n);
    snprintf(img->tags, sizeof(img->tags), "%s", tags);
    img->visibility = vis;
    snprintf(img->format, sizeof(img->format), "png");
    img->width = 640;
    img->height = 480;
    img->bytes = 1000 + n;
    snprintf(img->sha256, sizeof(img->sha256), "%08x%056x", (unsigned)(owner & 0xffffffff), n);
    img->blob_key = img->id | 1ull << 63; /* the top bit survives BIGINT */
}

static enum kho_err add_image(struct meta_store *m, uint64_t owner, unsigned n, const char *tags,
                              enum meta_visibility vis, struct meta_image *img)
{
    struct meta_quota q = {0};
    fill_image(img, owner, n, tags, vis);
    return m->ops->image_insert(m, img, &q);
}

static void test_live_users(void)
{
    LIVE(m);
    struct meta_user a, b, got;
    CHECK_EQ(add_user_on(m, 0, "left", &a), KHO_OK);
    CHECK_EQ(add_user_on(m, 1, "right", &b), KHO_OK);
    /* each row is on its own server only */
    CHECK_EQ(server_sql(0, "SELECT count(*) FROM users"), 1);
    CHECK_EQ(server_sql(1, "SELECT count(*) FROM users"), 1);
    CHECK_EQ(m->ops->user_by_name(m, b.username, &got), KHO_OK);
    CHECK_EQ(got.id, b.id);
    CHECK_STR(got.pwhash, b.pwhash);
    CHECK_EQ(m->ops->user_by_id(m, a.id, &got), KHO_OK);
    CHECK_STR(got.username, a.username);
    CHECK_EQ(m->ops->user_by_name(m, "nobody", &got), KHO_E_NOTFOUND);
    struct meta_user dup;
    CHECK_EQ(add_user(m, a.username, &dup), KHO_E_EXISTS);
    /* an id off the name's shard could never be found by name */
    dup.id = ids_next((ids_name_shard("carol") + 1) % IDS_LOGICAL_SHARDS);
    snprintf(dup.username, sizeof(dup.username), "carol");
    log_set_level((enum log_level)(LOG_ERROR + 1));
    CHECK_EQ(m->ops->user_create(m, &dup), KHO_E_INVALID);
    log_set_level(LOG_INFO);
    CHECK_EQ(m->ops->user_set_watermark(m, b.id, "{\"text\":\"b\"}"), KHO_OK);
    CHECK_EQ(m->ops->user_by_id(m, b.id, &got), KHO_OK);
    CHECK_STR(got.watermark, "{\"text\":\"b\"}");
    CHECK_EQ(m->ops->user_set_watermark(m, ids_next(5), ""), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->ping(m), KHO_OK);
    /* every server was migrated, once */
    CHECK_EQ(server_sql(0, "SELECT count(*) FROM schema_migrations"), 5);
    CHECK_EQ(server_sql(1, "SELECT count(*) FROM schema_migrations"), 5);
    m->ops->close(m);
}

static void test_live_sessions_keys(void)
{
    LIVE(m);
    struct meta_user a, got;
    CHECK_EQ(add_user_on(m, 0, "sess", &a), KHO_OK);
    char token[65], csrf[65], out[65], hash[65];
    int64_t expires = 0, created = now_ms() + 60000;
    /* a token whose hash lands on the other server than the user: the session stays with the
     * user, on the shard the token names */
    uint32_t shard = shardmap_of_id(a.id);
    memset(token, 'f', 64);
    token[64] = '\0';
    memset(csrf, 'c', 64);
    csrf[64] = '\0';
    CHECK_EQ(m->ops->session_create(m, token, csrf, a.id, created), KHO_OK);
    CHECK_EQ(server_sql(0, "SELECT count(*) FROM sessions"), 1);
    CHECK_EQ(server_sql(1, "SELECT count(*) FROM sessions"), 0);
    CHECK_EQ(server_sql(0, "SELECT shard FROM sessions"), shard);
    CHECK_EQ(m->ops->session_lookup(m, shard, token, now_ms(), &got, out, &expires), KHO_OK);
    CHECK_EQ(got.id, a.id);
    CHECK_STR(got.username, a.username);
    CHECK_EQ(expires, created);
    CHECK_STR(out, csrf);
    CHECK_EQ(m->ops->session_lookup(m, shard, token, now_ms() + 120000, &got, out, &expires),
             KHO_E_NOTFOUND);
    /* another server's shard, no shard (the hash's server) or no valid shard: nothing there */
    CHECK_EQ(m->ops->session_lookup(m, 4095, token, now_ms(), &got, out, &expires), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, token, now_ms(), &got, out, &expires),
             KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_lookup(m, 4096, token, now_ms(), &got, out, &expires), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_delete(m, 4095, token), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_delete(m, shard, token), KHO_OK);
    CHECK_EQ(m->ops->session_delete(m, shard, token), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_lookup(m, shard, token, now_ms(), &got, out, &expires),
             KHO_E_NOTFOUND);

    /* a session written before tokens named their shard sits on its hash's server (1 for
     * "fff..."), and a bare token still finds it there */
    char legacy[400];
    snprintf(legacy, sizeof(legacy),
             "INSERT INTO sessions (token_hash, shard, csrf_hash, user_id, created_at, "
             "expires_at) VALUES ('%s', 4095, '%s', %llu, 0, %lld)",
             token, csrf, (unsigned long long)a.id, (long long)created);
    CHECK_EQ(server_sql(1, legacy), 0);
    CHECK_EQ(m->ops->session_lookup(m, META_SHARD_UNKNOWN, token, now_ms(), &got, out, &expires),
             KHO_OK);
    CHECK_EQ(got.id, a.id);
    CHECK_EQ(m->ops->session_lookup(m, shard, token, now_ms(), &got, out, &expires),
             KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->session_delete(m, META_SHARD_UNKNOWN, token), KHO_OK);
    CHECK_EQ(server_sql(1, "SELECT count(*) FROM sessions"), 0);

    struct meta_key k = {
        .id = ids_next(shardmap_of_id(a.id)), .user_id = a.id, .scope = META_SCOPE_READ_WRITE};
    snprintf(k.name, sizeof(k.name), "laptop");
    snprintf(k.prefix, sizeof(k.prefix), "kho_ffffffff");
    CHECK_EQ(m->ops->key_create(m, &k, token), KHO_OK);
    CHECK_EQ(server_sql(0, "SELECT count(*) FROM api_keys"), 1);
    CHECK_EQ(server_sql(1, "SELECT count(*) FROM key_index"), 1);
    struct meta_key gk, list[4];
    CHECK_EQ(m->ops->key_lookup(m, token, &got, &gk), KHO_OK);
    CHECK_EQ(gk.id, k.id);
    CHECK_EQ(got.id, a.id);
    CHECK_STR(gk.name, "laptop");
    CHECK_EQ(m->ops->key_touch(m, k.id, 12345), KHO_OK);
    int n = 0;
    CHECK_EQ(m->ops->key_list(m, a.id, list, 4, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(list[0].last_used_at, 12345);
    struct meta_key again = k;
    again.id = ids_next(shardmap_of_id(a.id));
    CHECK_EQ(m->ops->key_create(m, &again, token), KHO_E_EXISTS); /* the hash is taken */
    CHECK_EQ(server_sql(0, "SELECT count(*) FROM api_keys"), 1);  /* and undone */
    CHECK_EQ(m->ops->key_delete(m, k.id, a.id + 1, hash), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->key_delete(m, k.id, a.id, hash), KHO_OK);
    CHECK_STR(hash, token);
    CHECK_EQ(m->ops->key_lookup(m, token, &got, &gk), KHO_E_NOTFOUND);
    CHECK_EQ(server_sql(1, "SELECT count(*) FROM key_index"), 0);
    m->ops->close(m);
}

static void test_live_images(void)
{
    LIVE(m);
    struct meta_user a;
    CHECK_EQ(add_user_on(m, 1, "img", &a), KHO_OK);
    struct meta_image img, got, list[8];
    CHECK_EQ(add_image(m, a.id, 1, "cat,dog", META_PRIVATE, &img), KHO_OK);
    CHECK_STR(img.owner_name, a.username);
    uint64_t first = img.id;
    CHECK_EQ(m->ops->image_get(m, first, &got), KHO_OK);
    CHECK_EQ(got.blob_key, img.blob_key);
    CHECK_STR(got.tags, "cat,dog");
    /* the same bytes again: the existing record */
    struct meta_image dup;
    CHECK_EQ(add_image(m, a.id, 1, "", META_PUBLIC, &dup), KHO_E_EXISTS);
    CHECK_EQ(dup.id, first);
    CHECK_EQ(add_image(m, a.id, 2, "dog", META_PUBLIC, &img), KHO_OK);
    int n = 0;
    CHECK_EQ(m->ops->image_list_owner(m, a.id, NULL, 0, 8, list, &n), KHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(list[0].id, img.id);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, "cat", 0, 8, list, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, "dog", img.id, 8, list, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(list[0].id, first);
    /* quotas: two images taken, a limit of two refuses the third and writes nothing */
    struct meta_quota q = {.default_images = 2};
    fill_image(&img, a.id, 3, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_E_TOO_LARGE);
    CHECK_EQ(q.over, META_QUOTA_IMAGES);
    CHECK_EQ(q.used, 2);
    struct meta_usage u;
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, 2);
    CHECK_EQ(u.bytes, 1001 + 1002);
    CHECK_EQ(m->ops->user_set_quota(m, a.id, META_SET_QUOTA_IMAGES, 0, 0), KHO_OK);
    CHECK_EQ(m->ops->image_insert(m, &img, &q), KHO_OK); /* the override: unlimited */
    /* update and tags */
    struct meta_image ch = {.visibility = META_UNLISTED};
    snprintf(ch.title, sizeof(ch.title), "renamed");
    snprintf(ch.tags, sizeof(ch.tags), "bird");
    CHECK_EQ(m->ops->image_update(m, first, a.id + 1, META_SET_TITLE, &ch), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->image_update(m, first, a.id, META_SET_TITLE | META_SET_TAGS, &ch), KHO_OK);
    CHECK_STR(ch.title, "renamed");
    CHECK_EQ(ch.visibility, META_PRIVATE);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, "cat", 0, 8, list, &n), KHO_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(m->ops->image_list_owner(m, a.id, "bird", 0, 8, list, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(m->ops->image_set_placeholder(m, first, "AAAA"), KHO_OK);
    /* variants go with their image */
    struct meta_variant v = {
        .key = 77 | 1ull << 63, .image_id = first, .width = 16, .height = 16, .bytes = 10};
    snprintf(v.spec, sizeof(v.spec), "w=16");
    snprintf(v.format, sizeof(v.format), "webp");
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    uint64_t keys[4];
    CHECK_EQ(m->ops->variant_keys(m, first, keys, 4, &n), KHO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(keys[0], v.key);
    CHECK_EQ(m->ops->image_delete(m, first, a.id, &got), KHO_OK);
    CHECK_STR(got.placeholder, "AAAA");
    CHECK_EQ(m->ops->image_get(m, first, &got), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->variant_keys(m, first, keys, 4, &n), KHO_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(m->ops->variant_insert(m, &v), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->user_usage(m, a.id, &u), KHO_OK);
    CHECK_EQ(u.images, 2);
    m->ops->close(m);
}

/* keys_known finds originals on the server of their id and variants on whichever holds them. */
static void test_live_keys_known(void)
{
    LIVE(m);
    struct meta_user a, b;
    CHECK_EQ(add_user_on(m, 0, "kk", &a), KHO_OK);
    CHECK_EQ(add_user_on(m, 1, "kk", &b), KHO_OK);
    struct meta_image ia, ib, gone, got;
    struct meta_quota q = {0};
    fill_image(&ia, a.id, 1, "", META_PRIVATE);
    fill_image(&ib, b.id, 2, "", META_PRIVATE);
    fill_image(&gone, b.id, 3, "", META_PRIVATE);
    ia.blob_key = ia.id;
    ib.blob_key = ib.id;
    gone.blob_key = gone.id;
    CHECK_EQ(m->ops->image_insert(m, &ia, &q), KHO_OK);
    CHECK_EQ(m->ops->image_insert(m, &ib, &q), KHO_OK);
    CHECK_EQ(m->ops->image_insert(m, &gone, &q), KHO_OK);
    const uint64_t va = 5 | 1ull << 63, vb = UINT64_MAX, vgone = 9 | 1ull << 63;
    const uint64_t owners[3] = {ia.id, ib.id, gone.id}, vkeys[3] = {va, vb, vgone};
    for (int i = 0; i < 3; i++) {
        struct meta_variant v = {
            .key = vkeys[i], .image_id = owners[i], .width = 16, .height = 16, .bytes = 10};
        snprintf(v.spec, sizeof(v.spec), "w=16");
        snprintf(v.format, sizeof(v.format), "webp");
        CHECK_EQ(m->ops->variant_insert(m, &v), KHO_OK);
    }
    CHECK_EQ(m->ops->image_delete(m, gone.id, b.id, &got), KHO_OK);
    /* the odd image out: a record whose bytes live under another key vouches for nothing */
    struct meta_image other;
    fill_image(&other, a.id, 4, "", META_PRIVATE);
    CHECK_EQ(m->ops->image_insert(m, &other, &q), KHO_OK);
    const uint64_t keys[8] = {ia.id, vb, ib.id, va, gone.id, vgone, other.id, 12345};
    const bool want[8] = {true, true, true, true, false, false, false, false};
    bool known[8];
    memset(known, 1, sizeof(known));
    CHECK_EQ(m->ops->keys_known(m, keys, 8, known), KHO_OK);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(known[i], want[i]);
    CHECK_EQ(m->ops->keys_known(m, keys, 0, known), KHO_E_INVALID);
    CHECK_EQ(m->ops->keys_known(m, keys, META_KEYS_KNOWN_MAX + 1, known), KHO_E_TOO_LARGE);
    m->ops->close(m);
}

/* Public images of users on both servers come back as one feed, newest first, page by page. */
static void test_live_explore(void)
{
    LIVE(m);
    struct meta_user a, b;
    CHECK_EQ(add_user_on(m, 0, "ex", &a), KHO_OK);
    CHECK_EQ(add_user_on(m, 1, "ex", &b), KHO_OK);
    struct meta_image img;
    for (unsigned i = 0; i < 9; i++) {
        CHECK_EQ(add_image(m, i % 3 ? a.id : b.id, i, "", META_PUBLIC, &img), KHO_OK);
        CHECK_EQ(add_image(m, a.id, 100 + i, "", META_PRIVATE, &img), KHO_OK);
    }
    struct meta_image page4[4];
    uint64_t before = 0, last = UINT64_MAX;
    int total = 0, n = 0, froms[2] = {0, 0};
    do {
        CHECK_EQ(m->ops->image_list_public(m, before, 4, page4, &n), KHO_OK);
        for (int i = 0; i < n; i++) {
            CHECK(page4[i].id < last);
            CHECK_EQ(page4[i].visibility, META_PUBLIC);
            last = page4[i].id;
            froms[page4[i].owner_id == b.id]++;
        }
        total += n;
        if (n)
            before = page4[n - 1].id;
    } while (n == 4);
    CHECK_EQ(total, 9);
    CHECK_EQ(froms[0], 6);
    CHECK_EQ(froms[1], 3);
    m->ops->close(m);
}

static void test_live_albums_links(void)
{
    LIVE(m);
    struct meta_user a;
    CHECK_EQ(add_user_on(m, 1, "alb", &a), KHO_OK);
    struct meta_image i1, i2;
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &i1), KHO_OK);
    CHECK_EQ(add_image(m, a.id, 2, "", META_PRIVATE, &i2), KHO_OK);
    struct meta_album al = {.id = ids_next(shardmap_of_id(a.id)), .owner_id = a.id};
    snprintf(al.title, sizeof(al.title), "trip");
    CHECK_EQ(m->ops->album_create(m, &al), KHO_OK);
    struct meta_album got;
    uint64_t missing = 0, ids[3] = {i1.id, i2.id, 12345};
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, ids, 3, &missing, &got), KHO_E_NOTFOUND);
    CHECK_EQ(missing, 12345);
    CHECK_EQ(m->ops->album_get(m, al.id, a.id, &got), KHO_OK);
    CHECK_EQ(got.image_count, 0); /* all or nothing */
    CHECK_EQ(m->ops->album_add_images(m, al.id, a.id, ids, 2, &missing, &got), KHO_OK);
    CHECK_EQ(got.image_count, 2);
    CHECK(got.has_cover);
    CHECK_EQ(got.cover.id, i2.id); /* the newest */
    struct meta_album ch = {.cover_id = i1.id};
    CHECK_EQ(m->ops->album_update(m, al.id, a.id, META_SET_ALBUM_COVER, &ch), KHO_OK);
    CHECK_EQ(ch.cover.id, i1.id);
    CHECK_EQ(m->ops->album_has_image(m, al.id, i1.id), KHO_OK);
    struct meta_image list[4];
    int n = 0;
    CHECK_EQ(m->ops->album_images(m, al.id, 0, 4, list, &n), KHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(m->ops->album_remove_images(m, al.id, a.id, ids, 1, &got), KHO_OK);
    CHECK_EQ(got.image_count, 1);
    CHECK_EQ(got.cover_id, 0); /* the cover went with it */
    struct meta_album albums[2];
    CHECK_EQ(m->ops->album_list(m, a.id, 0, 2, albums, &n), KHO_OK);
    CHECK_EQ(n, 1);

    struct meta_link l = {.id = ids_next(shardmap_of_id(a.id)),
                          .owner_id = a.id,
                          .kind = META_LINK_ALBUM,
                          .target_id = al.id};
    CHECK_EQ(m->ops->link_create(m, &l, now_ms()), KHO_OK);
    struct meta_link gl, links[2];
    CHECK_EQ(m->ops->link_get(m, l.id, &gl), KHO_OK);
    CHECK_EQ(gl.kind, META_LINK_ALBUM);
    CHECK_EQ(gl.target_id, al.id);
    CHECK_EQ(m->ops->link_list(m, a.id, now_ms(), links, 2, &n), KHO_OK);
    CHECK_EQ(n, 1);
    struct meta_link bad = l;
    bad.id = ids_next(shardmap_of_id(a.id));
    bad.target_id = i1.id + 1;
    bad.kind = META_LINK_IMAGE;
    CHECK_EQ(m->ops->link_create(m, &bad, now_ms()), KHO_E_NOTFOUND);
    CHECK_EQ(m->ops->album_delete(m, al.id, a.id), KHO_OK);
    CHECK_EQ(m->ops->link_get(m, l.id, &gl), KHO_E_NOTFOUND); /* went with its album */
    CHECK_EQ(m->ops->album_get(m, al.id, a.id, &got), KHO_E_NOTFOUND);
    m->ops->close(m);
}

struct racer {
    struct meta_store *m;
    uint64_t owner;
    unsigned base;
    int ok, refused, bad;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    for (unsigned i = 0; i < 5; i++) {
        struct meta_image img;
        struct meta_quota q = {.default_images = 7};
        fill_image(&img, r->owner, r->base + i, "", META_PRIVATE);
        enum kho_err rc = r->m->ops->image_insert(r->m, &img, &q);
        if (rc == KHO_OK)
            r->ok++;
        else if (rc == KHO_E_TOO_LARGE)
            r->refused++;
        else
            r->bad++;
    }
    return NULL;
}

/* Concurrent uploads on several connections take turns on the owner's row: exactly the quota. */
static void test_live_quota_race(void)
{
    LIVE(m);
    struct meta_user a;
    CHECK_EQ(add_user_on(m, 0, "race", &a), KHO_OK);
    struct racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){m, a.id, (unsigned)i * 10, 0, 0, 0};
        CHECK_EQ(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(r[i].bad, 0);
        ok += r[i].ok;
        refused += r[i].refused;
    }
    CHECK_EQ(ok, 7);
    CHECK_EQ(refused, 13);
    CHECK_EQ(server_sql(0, "SELECT count(*) FROM images"), 7);
    m->ops->close(m);
}

/* Pooled connections cut by the server (as by a restart) are replaced without a failed call. */
static void test_live_reconnect(void)
{
    LIVE(m);
    struct meta_user a, got;
    CHECK_EQ(add_user_on(m, 1, "re", &a), KHO_OK);
    CHECK_EQ(m->ops->user_by_id(m, a.id, &got), KHO_OK);
    CHECK(server_sql(1, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'kho'") >= 1);
    CHECK_EQ(m->ops->user_by_id(m, a.id, &got), KHO_OK);
    struct meta_image img;
    CHECK_EQ(server_sql(1, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = 'kho'"),
             1);
    CHECK_EQ(add_image(m, a.id, 1, "", META_PRIVATE, &img), KHO_OK);
    CHECK_EQ(m->ops->ping(m), KHO_OK);
    m->ops->close(m);
}

T_MAIN("pg", T(test_shardmap_default), T(test_shardmap_parse), T(test_shardmap_format),
       T(test_placement), T(test_merge_newest), T(test_live_users), T(test_live_sessions_keys),
       T(test_live_images), T(test_live_explore), T(test_live_albums_links),
       T(test_live_quota_race), T(test_live_reconnect), T(test_live_keys_known))
