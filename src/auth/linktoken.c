/* Signed share-link tokens; see linktoken.h. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include "auth/linktoken.h"
#include "core/kho.h"

#define BODY 16 /* id and expiry */
#define TAG 16  /* truncated HMAC: 128 bits is beyond guessing, and keeps links short */

static const char domain[] = "kho-link"; /* with its NUL: these MACs never match another use */

void linktoken_make(const struct signature_key *k, uint64_t link_id, int64_t expires_at,
                    char out[LINKTOKEN_LEN + 1])
{
    uint8_t raw[BODY + TAG], msg[sizeof(domain) + BODY], mac[32];
    uint64_t exp = (uint64_t)expires_at;
    for (int i = 0; i < 8; i++) {
        raw[i] = (uint8_t)(link_id >> (56 - 8 * i));
        raw[8 + i] = (uint8_t)(exp >> (56 - 8 * i));
    }
    memcpy(msg, domain, sizeof(domain));
    memcpy(msg + sizeof(domain), raw, BODY);
    unsigned int n = sizeof(mac);
    HMAC(EVP_sha256(), k->bytes, (int)k->len, msg, sizeof(msg), mac, &n);
    memcpy(raw + BODY, mac, TAG);
    sodium_bin2base64(out, LINKTOKEN_LEN + 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum kho_err linktoken_check(const struct signature_key *k, const char *token, size_t len,
                             int64_t now, uint64_t *link_id, int64_t *expires_at)
{
    uint8_t raw[BODY + TAG];
    size_t got = 0;
    if (len != LINKTOKEN_LEN ||
        sodium_base642bin(raw, sizeof(raw), token, len, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got != sizeof(raw))
        return KHO_E_NOTFOUND;
    uint64_t id = 0, exp = 0;
    for (int i = 0; i < 8; i++) {
        id = id << 8 | raw[i];
        exp = exp << 8 | raw[8 + i];
    }
    /* Remaking the token checks the MAC and that the text is the one canonical encoding. */
    char want[LINKTOKEN_LEN + 1];
    linktoken_make(k, id, (int64_t)exp, want);
    if (sodium_memcmp(want, token, LINKTOKEN_LEN) != 0)
        return KHO_E_NOTFOUND;
    *link_id = id;
    *expires_at = (int64_t)exp;
    return *expires_at != 0 && *expires_at <= now ? KHO_E_DENIED : KHO_OK;
}
