/* Image records, users and logins read through the record cache (app->cache, cache.h), so a hot
 * image or token costs no database read. Handlers call these instead of the meta ops they wrap.
 * Visibility and logins are privacy boundaries, so every write that changes what one of these
 * returns must call the matching *_forget after the write and before answering; then this node
 * never serves a stale copy. Other nodes (several API nodes, one database) see the change once
 * their copies expire, within --cache-ttl-ms. */
#ifndef KHO_CACHED_H
#define KHO_CACHED_H
#include <stdint.h>
#include "http/app.h"
#include "meta/meta.h"

/* As meta's image_get. Cached apart from the owner's name and watermark, which come from the
 * owner's cached user record, so that a watermark change forgets one user, not every image. */
enum kho_err cached_image_get(struct app *app, uint64_t id, struct meta_image *out);
/* Call after any change to image id's record: title, tags, visibility, placeholder, delete. */
void cached_image_forget(struct app *app, uint64_t id);
/* Call after any change to a user's record (their watermark): it shows in their images too. */
void cached_user_forget(struct app *app, uint64_t user_id);

/* As meta's session_lookup (without the expiry). A cached session carries its expiry and is
 * never served past it; it is keyed by token_hash alone, which covers the token's shard
 * prefix too. user->pwhash is left empty: logins are checked elsewhere. */
enum kho_err cached_session_lookup(struct app *app, uint32_t shard, const char *token_hash,
                                   int64_t now, struct meta_user *user, char csrf_hash[65]);
/* Call after deleting the session of token_hash (logout). */
void cached_session_forget(struct app *app, const char *token_hash);

/* As meta's key_lookup; user->pwhash is left empty. A cached key's last_used_at may lag by up
 * to --cache-ttl-ms. */
enum kho_err cached_key_lookup(struct app *app, const char *key_hash, struct meta_user *user,
                               struct meta_key *key);
/* Call after revoking the API key of key_hash (meta's key_delete gives it). */
void cached_key_forget(struct app *app, const char *key_hash);

#endif
