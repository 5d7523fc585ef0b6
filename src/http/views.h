/* How records look in JSON responses: ids as strings, times as ISO-8601 UTC. */
#ifndef KHO_VIEWS_H
#define KHO_VIEWS_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "meta/meta.h"

/* "2026-11-22T10:11:12.345Z" */
void view_time(int64_t unix_ms, char out[32]);
/* view_time as a JSON string, or null for 0 (no time); a new reference. */
json_t *view_time_json(int64_t unix_ms);
/* {"id","username","created_at"}; a new reference. */
json_t *view_user(const struct meta_user *u);
/* The image object of the API contract; a new reference. GPS is shown to the owner only. */
json_t *view_image(const struct meta_image *img, bool owner);
/* img as someone holding a share link sees it: view_image for a non-owner, its url
 * "/i/ID?share=TOKEN". A new reference. */
json_t *view_image_shared(const struct meta_image *img, const char *token);
/* The album object of the API contract; a new reference. Its cover as the owner sees it, or
 * with token (non-NULL) as view_image_shared shows it. */
json_t *view_album(const struct meta_album *a, const char *token);
/* The link object of the API contract; a new reference. token is the link's, base the absolute
 * URL before its path ("https://photos.example"). */
json_t *view_link(const struct meta_link *l, const char *token, const char *base);
/* "image" or "album". */
const char *view_link_kind(enum meta_link_kind kind);
/* "private", "unlisted" or "public". */
const char *view_visibility(enum meta_visibility v);
/* MIME type of a stored format name ("jpeg" -> "image/jpeg"). */
const char *view_mime(const char *format);
/* {"id","name","scope","prefix","created_at","last_used_at"} of an API key (never the key
 * itself); a new reference. */
json_t *view_key(const struct meta_key *k);
/* "read" or "read-write". */
const char *view_scope(enum meta_scope s);

#endif
