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

/* Serve blob key as img's bytes (an original or a variant) with its caching headers, 304 and
 * Range; vary_accept adds Accept to Vary (negotiated formats). Safe on any thread. */
enum kho_err media_send(struct req *r, const struct meta_image *img, uint64_t key,
                        const char *etag, const char *mime, bool vary_accept);

/* Serve the variant of img that r's query asks for, generating it once if missing. */
enum kho_err variants_serve(struct req *r, const struct meta_image *img);
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
