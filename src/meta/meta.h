/* The metadata store interface: users, sessions, API keys, image records, albums and share
 * links. Callers see only this header; sqlite.c is the embedded default and pg.c the sharded
 * scale-out backend.
 * All functions are thread-safe. Records are returned by value in caller-provided structs,
 * so nothing returned needs freeing. Writes are durable when they return (group commit). */
#ifndef KHO_META_H
#define KHO_META_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

#define META_USERNAME_MAX 32
#define META_TITLE_MAX 200   /* bytes of UTF-8 */
#define META_TAG_MAX 32      /* bytes per tag */
#define META_TAGS_MAX 20     /* tags per image */
#define META_TAGS_TEXT_MAX (META_TAGS_MAX * (META_TAG_MAX + 1))
#define META_PWHASH_MAX 128
#define META_FORMAT_MAX 8
#define META_WATERMARK_MAX 511
#define META_CAMERA_MAX 63
#define META_PLACEHOLDER_MAX 47
#define META_SPEC_MAX 127
#define META_VARIANTS_MAX 1024 /* most variants one image may have recorded */
#define META_LIST_MAX 201    /* most rows one list call returns (the API pages by 200, plus one to look ahead) */

/* API keys and quotas (issue #4) */
#define META_KEY_NAME_MAX 64    /* bytes of UTF-8 */
#define META_KEY_PREFIX_MAX 12  /* "kho_" and the key's first 8 hex digits */
#define META_KEYS_MAX 100       /* API keys one user may hold */
#define META_KEYS_KNOWN_MAX 512 /* blob keys one keys_known call answers */
#define META_QUOTA_DEFAULT (-1) /* a quota override that defers to the server's setting */

enum meta_visibility { META_PRIVATE = 0, META_UNLISTED = 1, META_PUBLIC = 2 };

struct meta_user {
    uint64_t id;
    char username[META_USERNAME_MAX + 1];
    char pwhash[META_PWHASH_MAX + 1]; /* crypto_pwhash_str output */
    int64_t created_at;               /* unix ms */
    char watermark[META_WATERMARK_MAX + 1]; /* JSON settings, "" = the server's default */
};

struct meta_image {
    uint64_t id;
    uint64_t owner_id;
    char owner_name[META_USERNAME_MAX + 1];
    char title[META_TITLE_MAX + 1];
    char tags[META_TAGS_TEXT_MAX + 1]; /* normalised tags joined by ',', "" for none */
    enum meta_visibility visibility;
    char format[META_FORMAT_MAX + 1]; /* "jpeg", "png", "webp", "gif", "avif", "heif" */
    int32_t width, height;
    int64_t bytes;
    char sha256[65]; /* lower-case hex of the original's bytes */
    int64_t created_at; /* unix ms */
    uint64_t blob_key;
    /* what the upload's header said, and derived data (issue #3) */
    bool alpha;          /* may have transparent pixels */
    int64_t taken_at;    /* EXIF DateTimeOriginal as unix ms, 0 unknown */
    char camera_make[META_CAMERA_MAX + 1], camera_model[META_CAMERA_MAX + 1];
    bool has_gps;
    double gps_lat, gps_lon;
    char placeholder[META_PLACEHOLDER_MAX + 1]; /* ThumbHash, base64; "" until computed */
    char owner_watermark[META_WATERMARK_MAX + 1]; /* the owner's watermark settings (read only) */
};

/* A stored variant of an image: its blob key and what it is. */
struct meta_variant {
    uint64_t key; /* blob key of the variant's bytes */
    uint64_t image_id;
    char spec[META_SPEC_MAX + 1]; /* canonical parameters, e.g. "w=256&h=256&fit=cover&fmt=webp&q=80" */
    char format[META_FORMAT_MAX + 1];
    int32_t width, height;
    int64_t bytes;
    int64_t created_at;
};

/* Fields to change in meta_image_update. */
enum { META_SET_TITLE = 1, META_SET_TAGS = 2, META_SET_VISIBILITY = 4 };

/* What an API key may do: read allows GET and HEAD only. */
enum meta_scope { META_SCOPE_READ = 0, META_SCOPE_READ_WRITE = 1 };

/* An API key as its owner sees it; the key itself is never stored, only its SHA-256. */
struct meta_key {
    uint64_t id;
    uint64_t user_id;
    char name[META_KEY_NAME_MAX + 1];
    enum meta_scope scope;
    char prefix[META_KEY_PREFIX_MAX + 1];
    int64_t created_at;   /* unix ms */
    int64_t last_used_at; /* unix ms, 0 = never */
};

/* A user's usage of their quotas (originals only, kept with every image insert and delete) and
 * the user's overrides of the server's quotas: META_QUOTA_DEFAULT, 0 for unlimited, or a limit. */
struct meta_usage {
    int64_t images, bytes;
    int64_t quota_images, quota_bytes;
};

/* Fields to change in user_set_quota. */
enum { META_SET_QUOTA_IMAGES = 1, META_SET_QUOTA_BYTES = 2 };

enum meta_quota_kind { META_QUOTA_NONE = 0, META_QUOTA_IMAGES, META_QUOTA_BYTES };

/* The server's quotas going into a check (0 = unlimited; a user's overrides win over them), and
 * what comes out when an upload would exceed one: which, the usage before it and the limit. */
struct meta_quota {
    int64_t default_images, default_bytes;
    enum meta_quota_kind over; /* META_QUOTA_NONE unless the check refused */
    int64_t used, limit;
};

/* Albums and share links (issue #4). */
#define META_DESCRIPTION_MAX 2000   /* bytes of UTF-8 in an album's description */
#define META_ALBUMS_MAX 1000        /* albums per user */
#define META_ALBUM_IMAGES_MAX 10000 /* images per album */
#define META_ALBUM_BATCH_MAX 200    /* image ids one add or remove names */
#define META_LINKS_MAX 1000         /* unexpired share links per user */

struct meta_album {
    uint64_t id;
    uint64_t owner_id;
    char title[META_TITLE_MAX + 1]; /* 1..META_TITLE_MAX bytes */
    char description[META_DESCRIPTION_MAX + 1];
    uint64_t cover_id; /* the cover its owner chose, 0 for none */
    int64_t image_count;
    int64_t created_at, updated_at; /* unix ms; updated_at moves with every change by its owner */
    /* read only: cover_id's image, else the album's newest image; has_cover false when empty */
    bool has_cover;
    struct meta_image cover;
};

/* Fields to change in album_update. */
enum { META_SET_ALBUM_TITLE = 1, META_SET_ALBUM_DESCRIPTION = 2, META_SET_ALBUM_COVER = 4 };

enum meta_link_kind { META_LINK_IMAGE = 0, META_LINK_ALBUM = 1 };

/* A share link: it opens target_id (an image or an album of owner_id) until expires_at. */
struct meta_link {
    uint64_t id;
    uint64_t owner_id;
    enum meta_link_kind kind;
    uint64_t target_id;
    int64_t expires_at; /* unix ms, 0 for never */
    int64_t created_at;
};

struct meta_store;

#define META_SHARD_UNKNOWN UINT32_MAX /* a session token that does not name its shard */

struct meta_ops {
    const char *name;
    /* KHO_E_EXISTS when the username is taken. Fills u->created_at. */
    enum kho_err (*user_create)(struct meta_store *m, struct meta_user *u);
    enum kho_err (*user_by_name)(struct meta_store *m, const char *username, struct meta_user *out);
    enum kho_err (*user_by_id)(struct meta_store *m, uint64_t id, struct meta_user *out);
    /* Set a user's watermark settings (JSON text, "" for none). */
    enum kho_err (*user_set_watermark)(struct meta_store *m, uint64_t user_id,
                                       const char *watermark);
    /* A user's image count, total bytes and quota overrides: one row read, no scan.
     * KHO_E_NOTFOUND when there is no such user. */
    enum kho_err (*user_usage)(struct meta_store *m, uint64_t user_id, struct meta_usage *out);

    /* token_hash is the hex SHA-256 of the bearer token; csrf_hash likewise of the CSRF token.
     * The session is stored on its user's logical shard: the token names that shard (see
     * auth/token.h), and lookups pass it back as shard. */
    enum kho_err (*session_create)(struct meta_store *m, const char *token_hash,
                                   const char *csrf_hash, uint64_t user_id, int64_t expires_at);
    /* The session's user, when the session exists and expires after now (unix ms); its expiry
     * goes to *expires_at. shard is the logical shard the token names, or META_SHARD_UNKNOWN
     * for a token from before tokens named one (such sessions sit on their hash's shard). */
    enum kho_err (*session_lookup)(struct meta_store *m, uint32_t shard, const char *token_hash,
                                   int64_t now, struct meta_user *user, char csrf_hash[65],
                                   int64_t *expires_at);
    /* shard as for session_lookup. */
    enum kho_err (*session_delete)(struct meta_store *m, uint32_t shard, const char *token_hash);

    /* Insert a new image and count it in its owner's usage, in one transaction. When the owner
     * already has an image with the same sha256 the existing record is written to *img and
     * KHO_E_EXISTS returned (a duplicate never counts against a quota). When the new image would
     * take the owner past a quota (their overrides, else q's defaults; see meta_quota_check)
     * nothing is written and KHO_E_TOO_LARGE returned with q->over set. */
    enum kho_err (*image_insert)(struct meta_store *m, struct meta_image *img,
                                 struct meta_quota *q);
    /* Any image by id, whoever owns it (callers check visibility). */
    enum kho_err (*image_get)(struct meta_store *m, uint64_t id, struct meta_image *out);
    enum kho_err (*image_by_sha)(struct meta_store *m, uint64_t owner_id, const char *sha256,
                                 struct meta_image *out);
    /* A user's images, newest first, with id < before (0: from the newest), optionally only
     * those tagged tag (NULL: all). Writes up to limit (<= META_LIST_MAX) records to out. */
    enum kho_err (*image_list_owner)(struct meta_store *m, uint64_t owner_id, const char *tag,
                                     uint64_t before, int limit, struct meta_image *out, int *n);
    /* Public images of every user, newest first, id < before (0: from the newest). */
    enum kho_err (*image_list_public)(struct meta_store *m, uint64_t before, int limit,
                                      struct meta_image *out, int *n);
    /* Change the fields named in mask (META_SET_*) of owner's image id; the new record goes to
     * *img. KHO_E_NOTFOUND when owner_id does not own id. */
    enum kho_err (*image_update)(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                 unsigned mask, struct meta_image *img);
    /* Delete owner's image id and its variant records, and uncount it from the owner's usage;
     * the deleted record goes to *out. KHO_E_NOTFOUND as above. */
    enum kho_err (*image_delete)(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                 struct meta_image *out);
    /* Set the blur placeholder of an image, computed after its upload. */
    enum kho_err (*image_set_placeholder)(struct meta_store *m, uint64_t id,
                                          const char *placeholder);
    /* Record a variant; recording the same key again is not an error (KHO_OK). KHO_E_NOTFOUND
     * when the image is gone (deleted meanwhile): the caller then drops the variant's blob. */
    enum kho_err (*variant_insert)(struct meta_store *m, const struct meta_variant *v);
    /* Blob keys of an image's recorded variants, at most max (META_VARIANTS_MAX). */
    enum kho_err (*variant_keys)(struct meta_store *m, uint64_t image_id, uint64_t *keys, int max,
                                 int *n);
    /* Set the quota overrides named in mask (META_SET_QUOTA_*) of a user: META_QUOTA_DEFAULT,
     * 0 for unlimited, or a limit. KHO_E_NOTFOUND when there is no such user. */
    enum kho_err (*user_set_quota)(struct meta_store *m, uint64_t user_id, unsigned mask,
                                   int64_t images, int64_t bytes);

    /* Record a new API key of k->user_id by the SHA-256 (hex) of the key; fills k->created_at
     * and clears k->last_used_at. KHO_E_TOO_LARGE when the user already holds META_KEYS_MAX
     * keys, KHO_E_NOTFOUND when the user does not exist, KHO_E_INVALID for a bad name (1 to
     * META_KEY_NAME_MAX bytes of text), prefix or scope. */
    enum kho_err (*key_create)(struct meta_store *m, struct meta_key *k, const char *key_hash);
    /* A user's keys, newest first: at most max (<= META_KEYS_MAX) records to out. */
    enum kho_err (*key_list)(struct meta_store *m, uint64_t user_id, struct meta_key *out, int max,
                             int *n);
    /* Revoke user_id's key id; the SHA-256 (hex) it was looked up by goes to key_hash, so that
     * caches can forget it. KHO_E_NOTFOUND when user_id holds no such key. */
    enum kho_err (*key_delete)(struct meta_store *m, uint64_t id, uint64_t user_id,
                               char key_hash[65]);
    /* The key whose SHA-256 is key_hash and its user. KHO_E_NOTFOUND when none. */
    enum kho_err (*key_lookup)(struct meta_store *m, const char *key_hash, struct meta_user *user,
                               struct meta_key *key);
    /* Record that key id was used at unix ms at (a revoked key is not an error). */
    enum kho_err (*key_touch)(struct meta_store *m, uint64_t id, int64_t at);

    /* Albums. Every album op but album_images checks ownership: an album that owner_id does not
     * own is KHO_E_NOTFOUND, as one that does not exist. */
    /* Insert a new album (id, owner_id, title of 1..META_TITLE_MAX bytes and description set by
     * the caller); fills the times, image_count 0 and no cover. KHO_E_TOO_LARGE when the owner
     * has META_ALBUMS_MAX albums already. */
    enum kho_err (*album_create)(struct meta_store *m, struct meta_album *a);
    /* Owner's album id, with its cover. */
    enum kho_err (*album_get)(struct meta_store *m, uint64_t id, uint64_t owner_id,
                              struct meta_album *out);
    /* Owner's albums, newest first, with id < before (0: from the newest); limit as for
     * image_list_owner. */
    enum kho_err (*album_list)(struct meta_store *m, uint64_t owner_id, uint64_t before, int limit,
                               struct meta_album *out, int *n);
    /* Change the fields named in mask (META_SET_ALBUM_*) to those of *a (cover_id 0 clears the
     * cover); the new record goes to *a. KHO_E_INVALID when cover_id is not in the album. */
    enum kho_err (*album_update)(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                 unsigned mask, struct meta_album *a);
    /* Delete an album, its image list and its links (the images stay). */
    enum kho_err (*album_delete)(struct meta_store *m, uint64_t id, uint64_t owner_id);
    /* Add ids[0..n) (1..META_ALBUM_BATCH_MAX) to owner's album, all or nothing; ids already in
     * it are fine. KHO_E_NOTFOUND with *missing the first id that is not owner's image (0 when
     * the album is not theirs); KHO_E_TOO_LARGE past META_ALBUM_IMAGES_MAX images. The album as
     * it is then goes to *out. */
    enum kho_err (*album_add_images)(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                     const uint64_t *ids, int n, uint64_t *missing,
                                     struct meta_album *out);
    /* Take ids[0..n) (1..META_ALBUM_BATCH_MAX) out of owner's album; ids not in it are ignored,
     * and a cover taken out is cleared. The album as it is then goes to *out. */
    enum kho_err (*album_remove_images)(struct meta_store *m, uint64_t id, uint64_t owner_id,
                                        const uint64_t *ids, int n, struct meta_album *out);
    /* The images of album_id, newest image id first, with id < before (0: from the newest).
     * No ownership check: callers have read the album (album_get) or hold a link to it. */
    enum kho_err (*album_images)(struct meta_store *m, uint64_t album_id, uint64_t before,
                                 int limit, struct meta_image *out, int *n);
    /* KHO_OK when image_id is in album_id, else KHO_E_NOTFOUND. */
    enum kho_err (*album_has_image)(struct meta_store *m, uint64_t album_id, uint64_t image_id);

    /* Share links. */
    /* Record a link (id, owner_id, kind, target_id, expires_at set by the caller); fills
     * created_at. The owner's links expired at now are purged first. KHO_E_NOTFOUND when the
     * target is not owner's; KHO_E_TOO_LARGE when they have META_LINKS_MAX links already. */
    enum kho_err (*link_create)(struct meta_store *m, struct meta_link *l, int64_t now);
    /* Any link by id, whoever owns it (callers check its token and expiry). */
    enum kho_err (*link_get)(struct meta_store *m, uint64_t id, struct meta_link *out);
    /* Owner's links unexpired at now, newest first: up to max (<= META_LINKS_MAX) to out. */
    enum kho_err (*link_list)(struct meta_store *m, uint64_t owner_id, int64_t now,
                              struct meta_link *out, int max, int *n);
    /* Revoke owner's link id; KHO_E_NOTFOUND when they own no such link. */
    enum kho_err (*link_delete)(struct meta_store *m, uint64_t id, uint64_t owner_id);

    /* For each of keys[0..n) (n 1..META_KEYS_KNOWN_MAX), whether a record names that blob key:
     * known[i] answers keys[i]. An original is known by its image (uploads store an image under
     * its id, so the id is looked up and its blob_key compared), a variant by its record. For
     * `kho gc`; NULL in backends that cannot answer. */
    enum kho_err (*keys_known)(struct meta_store *m, const uint64_t *keys, int n, bool *known);

    /* Check the database answers (for /readyz). */
    enum kho_err (*ping)(struct meta_store *m);
    void (*close)(struct meta_store *m);
};

struct meta_store {
    const struct meta_ops *ops;
};

/* Open the store named by url ("sqlite:PATH") and apply pending migrations. */
enum kho_err meta_open(const char *url, struct meta_store **out);

/* Settings of the server backends (SQLite ignores them). */
struct meta_options {
    int pool;              /* connections per server per node, >= 1 */
    const char *shard_map; /* "FIRST-LAST=SERVER,...", NULL or "" for equal ranges */
};
/* meta_open with settings: url may also be "postgres://..." or several PostgreSQL URLs joined
 * by commas, one per shard server (see pg.h). o NULL means the defaults (8, equal ranges). */
enum kho_err meta_open_with(const char *url, const struct meta_options *o,
                            struct meta_store **out);

/* The quota that applies: a user's override unless it is META_QUOTA_DEFAULT, else the server's
 * default; 0 means unlimited. */
int64_t meta_quota_limit(int64_t override, int64_t server_default);
/* Whether one more image of add_bytes fits the quotas of a user with usage u (u's overrides,
 * else q's defaults). KHO_OK when it does; KHO_E_TOO_LARGE with q->over, q->used (before the
 * upload) and q->limit set to the first quota it would exceed, images before bytes. Backends
 * call it inside their insert transaction; callers may call it first as a cheap pre-check. */
enum kho_err meta_quota_check(const struct meta_usage *u, int64_t add_bytes, struct meta_quota *q);

#endif
