/* Helpers that several route files share. */
#ifndef KHO_ROUTES_H
#define KHO_ROUTES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "http/app.h"
#include "http/request.h"
#include "image/process.h"

struct credentials {
    const char *username, *password;
    size_t username_len, password_len;
};

/* Read {"username","password"} strings from the JSON body (registration and login) into *out,
 * allocated in the request's arena like the strings. Errors: empty_body, invalid_json,
 * invalid_request, invalid_username, invalid_password (400). */
enum kho_err users_read_credentials(struct req *r, struct credentials **out);

/* Whether r's user owns img; whether r may see img (private images are their owner's alone). */
bool images_owner(const struct req *r, const struct meta_image *img);
bool images_visible(const struct req *r, const struct meta_image *img);
/* Whether r may have img's bytes: when images_visible, else through the share link token in
 * its ?share= (see links_share_grant), *shared then true. Otherwise the request fails: 404
 * not_found, or 410 link_expired. */
enum kho_err images_access(struct req *r, const struct meta_image *img, bool *shared);

/* A keyset page request: ?limit=1..200 (default 50), ?cursor=ID, and for the caller's own
 * images ?tag=. */
struct page {
    int limit;
    uint64_t before; /* the cursor, 0 for the first page */
    const char *tag; /* NULL for none; in r's arena */
};
/* Read the page parameters of r into *p (with_tag: also ?tag=). Errors: invalid_parameter. */
enum kho_err images_read_page(struct req *r, struct page *p, bool with_tag);
/* {"items":items,"next_cursor":...} (consumes items) for a page fetched with one row of
 * look-ahead: next_cursor is last, the id of the last row shown, when n rows came back for
 * p->limit shown, else null. A new reference. */
json_t *images_page_wrap(json_t *items, const struct page *p, int n, uint64_t last);
/* The page of images rows[0..n) (fetched as above), each viewed as r's user may see it, or with
 * share (a link token, non-NULL) as view_image_shared. A new reference. */
json_t *images_page(struct req *r, const struct page *p, const struct meta_image *rows, int n,
                    const char *share);

/* Share links (links.c). */
/* Handle POST {"expires_in"?} to create a link of kind to the target named by r->params[0]. */
enum kho_err links_create(struct req *r, enum meta_link_kind kind);
/* Whether share link token opens img: a live link to img, or to an album holding it. KHO_OK
 * when it does; otherwise the request fails: 404 not_found (malformed, forged, unknown,
 * revoked, or a link to something else), 410 link_expired. Reads the database. */
enum kho_err links_share_grant(struct req *r, const char *token, const struct meta_image *img);

/* How media_send answers: MEDIA_VARY_ACCEPT adds Accept to Vary (negotiated formats);
 * MEDIA_SHARED marks bytes served through a share link (browser-cached only, 5 minutes). */
enum { MEDIA_VARY_ACCEPT = 1, MEDIA_SHARED = 2 };
/* The message of a 503 when the blob store does not answer. */
#define MEDIA_BLOB_UNAVAILABLE "the blob store is unavailable, retry shortly"
/* Serve blob key as img's bytes (an original or a variant) with its caching headers, 304 and
 * Range; flags as above. known is the blob's length when known (recorded at put), else -1: a
 * remote store is then asked for it first. Safe on any thread; with a remote store
 * (blob_ops.remote) it waits on the network, so call it from a worker. */
enum kho_err media_send(struct req *r, const struct meta_image *img, uint64_t key, int64_t known,
                        const char *etag, const char *mime, unsigned flags);

/* Serve the variant of img that r's query asks for, generating it once if missing; shared as
 * images_access said. Returns KHO_E_AGAIN when it parked r to generate the variant (see
 * req_park). */
enum kho_err variants_serve(struct req *r, const struct meta_image *img, bool shared);
/* Make the thumb preset of a just-uploaded image on the processing pool and wait for it at most
 * wait_ms (it goes on in the background past that: KHO_E_BUSY). The blur placeholder is computed
 * from it, recorded, and copied to placeholder ("" when not ready). */
enum kho_err variants_make_thumb(struct app *app, const struct meta_image *img, int64_t wait_ms,
                                 char placeholder[META_PLACEHOLDER_MAX + 1]);
/* Settings, signing key, watermark, the processing pool: at start, and at shutdown (after the
 * loops stop, before the connections go). */
enum kho_err variants_init(struct app *app, int ncores);
void variants_free(struct app *app);
/* True when a watermark applies to img (the server's or its owner's): its clean original is
 * then the owner's alone. */
bool variants_watermarked(const struct app *app, const struct meta_image *img);
/* The presets (?p=) as {"thumb":{"w","h","fit"},...}: a new reference for the caller. */
json_t *variants_presets_json(void);
/* Parse a user's watermark settings {"text","position"?,"opacity"?,"scale"?} (JSON) into wm,
 * its text copied to text[cap]. KHO_E_INVALID with *why (for the client) when malformed. */
enum kho_err variants_parse_watermark(const char *json, struct watermark *wm, char *text,
                                      size_t cap, const char **why);

#endif
