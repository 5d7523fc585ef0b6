/* Session and CSRF token generation, validation and storage hashing. */
#include <sodium.h>
#include <stdio.h>
#include "auth/token.h"
#include "core/kho.h"

/* Value of a base64url character, or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

void token_new(char out[TOKEN_LEN + 1])
{
    unsigned char raw[TOKEN_BYTES];
    random_bytes(raw, sizeof(raw));
    sodium_bin2base64(out, TOKEN_LEN + 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

void token_hash(const char *token, size_t len, char hex[65])
{
    sha256_hex(token, len, hex);
}

bool token_well_formed(const char *t, size_t len)
{
    if (!t || len != TOKEN_LEN)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        v = b64url_value((unsigned char)t[i]);
        if (v < 0)
            return false;
    }
    /* 43 characters carry 258 bits for 256: a canonical encoding leaves the last 2 at zero,
     * so each token has exactly one accepted spelling. */
    return (v & 3) == 0;
}

void token_new_session(uint32_t shard, char out[TOKEN_SESSION_LEN + 1])
{
    snprintf(out, TOKEN_SHARD_DIGITS + 2, "%03x.", shard % IDS_LOGICAL_SHARDS);
    token_new(out + TOKEN_SHARD_DIGITS + 1);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool token_session_parse(const char *t, size_t len, uint32_t *shard)
{
    if (t && len == TOKEN_LEN && token_well_formed(t, len)) {
        *shard = TOKEN_SHARD_NONE;
        return true;
    }
    if (!t || len != TOKEN_SESSION_LEN || t[TOKEN_SHARD_DIGITS] != '.')
        return false;
    uint32_t s = 0;
    for (size_t i = 0; i < TOKEN_SHARD_DIGITS; i++) {
        int v = hex_value(t[i]);
        if (v < 0)
            return false;
        s = s << 4 | (uint32_t)v;
    }
    if (s >= IDS_LOGICAL_SHARDS || !token_well_formed(t + TOKEN_SHARD_DIGITS + 1, TOKEN_LEN))
        return false;
    *shard = s;
    return true;
}

bool token_equal(const char *a, const char *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}
