/* The backend-neutral argument checks of check.h. */
#include <string.h>
#include "meta/check.h"
#include "core/utf8.h"
#include "core/kho.h"

bool check_fits(const char *s, size_t min, size_t cap)
{
    size_t n = strnlen(s, cap);
    return n < cap && n >= min;
}

bool check_hex64(const char *s)
{
    for (int i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return s[64] == '\0';
}

enum kho_err check_limit(int limit)
{
    return check_max(limit, META_LIST_MAX);
}

enum kho_err check_max(int n, int max)
{
    if (n < 1)
        return KHO_E_INVALID;
    return n > max ? KHO_E_TOO_LARGE : KHO_OK;
}

/* ids are positive 63-bit numbers. */
static bool id_ok(uint64_t id)
{
    return id != 0 && (int64_t)id > 0;
}

enum kho_err check_user(const struct meta_user *u)
{
    if (!id_ok(u->id) || !check_fits(u->username, 1, sizeof(u->username)) ||
        !check_fits(u->pwhash, 1, sizeof(u->pwhash)))
        return KHO_E_INVALID;
    return KHO_OK;
}

enum kho_err check_watermark(const char *watermark)
{
    return strlen(watermark) > META_WATERMARK_MAX ? KHO_E_TOO_LARGE : KHO_OK;
}

/* A quota override: META_QUOTA_DEFAULT, 0 (unlimited) or a limit. */
static bool quota_ok(int64_t v)
{
    return v >= 0 || v == META_QUOTA_DEFAULT;
}

enum kho_err check_quota(unsigned mask, int64_t images, int64_t bytes)
{
    if (mask & ~(unsigned)(META_SET_QUOTA_IMAGES | META_SET_QUOTA_BYTES) ||
        ((mask & META_SET_QUOTA_IMAGES) && !quota_ok(images)) ||
        ((mask & META_SET_QUOTA_BYTES) && !quota_ok(bytes)))
        return KHO_E_INVALID;
    return KHO_OK;
}

/* Comma-joined tags: each 1..META_TAG_MAX bytes, at most META_TAGS_MAX of them, "" for none. */
static enum kho_err tags_check(const char *tags)
{
    if (!check_fits(tags, 0, META_TAGS_TEXT_MAX + 1))
        return KHO_E_TOO_LARGE;
    if (!*tags)
        return KHO_OK;
    int count = 0;
    for (const char *p = tags;; p++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0)
            return KHO_E_INVALID;
        if (len > META_TAG_MAX || ++count > META_TAGS_MAX)
            return KHO_E_TOO_LARGE;
        if (!comma)
            return KHO_OK;
        p = comma;
    }
}

static enum kho_err title_check(const char *title)
{
    return check_fits(title, 0, META_TITLE_MAX + 1) ? KHO_OK : KHO_E_TOO_LARGE;
}

static bool visibility_ok(enum meta_visibility v)
{
    return v == META_PRIVATE || v == META_UNLISTED || v == META_PUBLIC;
}

/* At most max bytes of printable UTF-8: these strings come from upload headers. */
static enum kho_err text_check(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return KHO_E_TOO_LARGE;
    return utf8_valid_text(s, n) ? KHO_OK : KHO_E_INVALID;
}

enum kho_err check_placeholder(const char *p)
{
    static const char base64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    size_t n = strnlen(p, META_PLACEHOLDER_MAX + 1);
    if (n > META_PLACEHOLDER_MAX)
        return KHO_E_TOO_LARGE;
    return strspn(p, base64) == n ? KHO_OK : KHO_E_INVALID;
}

/* Written this way round so NaN fails too. */
static bool in_range(double v, double limit)
{
    return v >= -limit && v <= limit;
}

/* The photo details of a new image (issue #3). */
static enum kho_err details_check(const struct meta_image *img)
{
    enum kho_err rc = text_check(img->camera_make, META_CAMERA_MAX);
    if (rc)
        return rc;
    rc = text_check(img->camera_model, META_CAMERA_MAX);
    if (rc)
        return rc;
    rc = check_placeholder(img->placeholder);
    if (rc)
        return rc;
    if (img->has_gps && !(in_range(img->gps_lat, 90) && in_range(img->gps_lon, 180)))
        return KHO_E_INVALID;
    return KHO_OK;
}

enum kho_err check_image(const struct meta_image *img)
{
    if (!id_ok(img->id) || img->owner_id == 0 || !check_hex64(img->sha256) ||
        !check_fits(img->format, 1, sizeof(img->format)) || !visibility_ok(img->visibility) ||
        img->width < 0 || img->height < 0 || img->bytes < 0)
        return KHO_E_INVALID;
    enum kho_err rc = title_check(img->title);
    if (rc)
        return rc;
    rc = tags_check(img->tags);
    if (rc)
        return rc;
    return details_check(img);
}

enum kho_err check_image_update(unsigned mask, const struct meta_image *img)
{
    enum kho_err rc;
    if (mask & ~(unsigned)(META_SET_TITLE | META_SET_TAGS | META_SET_VISIBILITY))
        return KHO_E_INVALID;
    if (mask & META_SET_TITLE) {
        rc = title_check(img->title);
        if (rc)
            return rc;
    }
    if (mask & META_SET_TAGS) {
        rc = tags_check(img->tags);
        if (rc)
            return rc;
    }
    if ((mask & META_SET_VISIBILITY) && !visibility_ok(img->visibility))
        return KHO_E_INVALID;
    return KHO_OK;
}

enum kho_err check_variant(const struct meta_variant *v)
{
    if (!id_ok(v->image_id) || !check_fits(v->format, 1, sizeof(v->format)) || v->width < 0 ||
        v->height < 0 || v->bytes < 0 || !*v->spec)
        return KHO_E_INVALID;
    return text_check(v->spec, META_SPEC_MAX);
}

enum kho_err check_key(const struct meta_key *k, const char *key_hash)
{
    if (!id_ok(k->id) || k->user_id == 0 || !check_hex64(key_hash) ||
        !check_fits(k->name, 1, sizeof(k->name)) || !check_fits(k->prefix, 1, sizeof(k->prefix)) ||
        (k->scope != META_SCOPE_READ && k->scope != META_SCOPE_READ_WRITE))
        return KHO_E_INVALID;
    return text_check(k->name, META_KEY_NAME_MAX);
}

enum kho_err check_album(unsigned mask, const struct meta_album *a)
{
    if (mask &
        ~(unsigned)(META_SET_ALBUM_TITLE | META_SET_ALBUM_DESCRIPTION | META_SET_ALBUM_COVER))
        return KHO_E_INVALID;
    if ((mask & META_SET_ALBUM_TITLE) && !check_fits(a->title, 1, sizeof(a->title)))
        return *a->title ? KHO_E_TOO_LARGE : KHO_E_INVALID;
    if ((mask & META_SET_ALBUM_DESCRIPTION) &&
        !check_fits(a->description, 0, sizeof(a->description)))
        return KHO_E_TOO_LARGE;
    return KHO_OK;
}

enum kho_err check_album_new(const struct meta_album *a)
{
    if (!id_ok(a->id) || a->owner_id == 0)
        return KHO_E_INVALID;
    return check_album(META_SET_ALBUM_TITLE | META_SET_ALBUM_DESCRIPTION, a);
}

enum kho_err check_batch(int n)
{
    return check_max(n, META_ALBUM_BATCH_MAX);
}

enum kho_err check_link(const struct meta_link *l)
{
    if (!id_ok(l->id) || l->owner_id == 0 || l->target_id == 0 ||
        (l->kind != META_LINK_IMAGE && l->kind != META_LINK_ALBUM) || l->expires_at < 0)
        return KHO_E_INVALID;
    return KHO_OK;
}
