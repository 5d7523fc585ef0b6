/* Share-link tokens: base64url (no padding) of link id (8 bytes BE) || expiry (unix ms, 8 bytes
 * BE, 0 never) || HMAC-SHA256(sign key, "kho-link\0" || those 16 bytes)[0..16), so forged and
 * expired tokens are refused before any database read; the link's row makes them revocable. */
#ifndef KHO_LINKTOKEN_H
#define KHO_LINKTOKEN_H
#include <stddef.h>
#include <stdint.h>
#include "auth/signature.h"
#include "core/err.h"

#define LINKTOKEN_LEN 43 /* base64url of 32 bytes, no padding */

/* The token of link_id expiring at expires_at (unix ms, 0 for never; not negative) into out,
 * NUL-terminated. The same inputs always give the same token. */
void linktoken_make(const struct signature_key *k, uint64_t link_id, int64_t expires_at,
                    char out[LINKTOKEN_LEN + 1]);

/* Check token[0..len) against the key at time now (unix ms). KHO_OK with *link_id and
 * *expires_at when it is one linktoken_make made and has not expired; KHO_E_DENIED with both set
 * when it is genuine but expired (0 < expires_at <= now); KHO_E_NOTFOUND when it is malformed
 * (length, alphabet, a non-canonical encoding) or forged. The comparison is constant-time. */
enum kho_err linktoken_check(const struct signature_key *k, const char *token, size_t len,
                             int64_t now, uint64_t *link_id, int64_t *expires_at);

#endif
