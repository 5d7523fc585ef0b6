/* Signed URLs (the imgproxy convention): an HMAC-SHA256 over the path and query, base64url
 * without padding, lets a URL ask for what an unsigned one may not (variant sizes off the
 * allow-list). The key comes from config, or from DATA/sign.key made on first start. */
#ifndef KHO_SIGNATURE_H
#define KHO_SIGNATURE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

#define SIGNATURE_LEN 43 /* base64url of 32 bytes, no padding */
#define SIGNATURE_KEY_MAX 256

struct signature_key {
    uint8_t bytes[SIGNATURE_KEY_MAX];
    size_t len;
};

/* The key: configured (its bytes as given, at least 16) when non-empty, else the hex key in
 * DIR/sign.key, created with 32 random bytes (mode 0600) when missing. Errors are logged. */
enum kho_err signature_key_load(const char *configured, const char *dir, struct signature_key *k);
/* out = base64url(HMAC-SHA256(key, msg)), NUL-terminated. */
void signature_make(const struct signature_key *k, const char *msg, size_t len,
                    char out[SIGNATURE_LEN + 1]);
/* Constant-time check of sig (sig_len bytes) against msg. */
bool signature_check(const struct signature_key *k, const char *msg, size_t len, const char *sig,
                     size_t sig_len);

#endif
