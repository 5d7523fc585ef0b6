/* Argument checks every metadata backend applies before touching its database, so the backends
 * accept and refuse exactly the same records. */
#ifndef KHO_META_CHECK_H
#define KHO_META_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"
#include "meta/meta.h"

/* s is NUL-terminated within cap bytes and at least min bytes long. */
bool check_fits(const char *s, size_t min, size_t cap);
/* s is 64 lower-case hex digits (a SHA-256), NUL-terminated. */
bool check_hex64(const char *s);
/* A list's limit: KHO_E_INVALID below 1, KHO_E_TOO_LARGE past META_LIST_MAX. */
enum kho_err check_limit(int limit);
/* A count for a ceiling-bounded read (keys, links, variants): 1..max. */
enum kho_err check_max(int n, int max);
/* A new user: positive id, username and pwhash within bounds. KHO_E_INVALID otherwise. */
enum kho_err check_user(const struct meta_user *u);
/* A watermark's JSON text: KHO_E_TOO_LARGE past META_WATERMARK_MAX bytes. */
enum kho_err check_watermark(const char *watermark);
/* Quota overrides named in mask (META_SET_QUOTA_*). */
enum kho_err check_quota(unsigned mask, int64_t images, int64_t bytes);
/* Every field of a new image: ids, sha256, format, visibility, sizes, title, tags and the photo
 * details. KHO_E_INVALID, or KHO_E_TOO_LARGE for text past its bound. */
enum kho_err check_image(const struct meta_image *img);
/* The fields of img named by mask (META_SET_*), as image_update takes them. */
enum kho_err check_image_update(unsigned mask, const struct meta_image *img);
/* A blur placeholder: base64 of at most META_PLACEHOLDER_MAX bytes. */
enum kho_err check_placeholder(const char *p);
/* A variant record to insert. */
enum kho_err check_variant(const struct meta_variant *v);
/* A new API key and the hex SHA-256 of the key. */
enum kho_err check_key(const struct meta_key *k, const char *key_hash);
/* The album fields named by mask (META_SET_ALBUM_*): title 1..META_TITLE_MAX bytes,
 * description within META_DESCRIPTION_MAX; unknown mask bits are KHO_E_INVALID. */
enum kho_err check_album(unsigned mask, const struct meta_album *a);
/* A new album: positive id, an owner, and its title and description as check_album. */
enum kho_err check_album_new(const struct meta_album *a);
/* The number of ids one album add or remove names: 1..META_ALBUM_BATCH_MAX. */
enum kho_err check_batch(int n);
/* A new share link. */
enum kho_err check_link(const struct meta_link *l);

#endif
