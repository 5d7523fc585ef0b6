/* Unit tests for src/auth/linktoken.c: the token layout, expiry, and refusal of anything that is
 * not exactly a token made with the key. */
#include <stdint.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include "auth/linktoken.h"
#include "core/kho.h"
#include "t.h"

static const struct signature_key key = {.bytes = "a share-link key for tests", .len = 26};

/* The layout of linktoken.h, computed independently: id, expiry, truncated HMAC. */
static void test_layout(void)
{
    char tok[LINKTOKEN_LEN + 1];
    uint64_t id = 0x0102030405060708ULL;
    int64_t exp = 0x1112131415161718LL;
    linktoken_make(&key, id, exp, tok);
    CHECK_EQ(strlen(tok), LINKTOKEN_LEN);
    uint8_t raw[32];
    size_t n = 0;
    CHECK_EQ(sodium_base642bin(raw, sizeof(raw), tok, strlen(tok), NULL, &n, NULL,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING),
             0);
    CHECK_EQ(n, 32);
    static const uint8_t body[16] = {1,    2,    3,    4,    5,    6,    7,    8,
                                     0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
    CHECK(memcmp(raw, body, 16) == 0);
    uint8_t msg[9 + 16], mac[32];
    memcpy(msg, "kho-link", 9);
    memcpy(msg + 9, body, 16);
    unsigned int mlen = sizeof(mac);
    HMAC(EVP_sha256(), key.bytes, (int)key.len, msg, sizeof(msg), mac, &mlen);
    CHECK(memcmp(raw + 16, mac, 16) == 0);
    /* deterministic */
    char again[LINKTOKEN_LEN + 1];
    linktoken_make(&key, id, exp, again);
    CHECK_STR(again, tok);
}

static void test_check_and_expiry(void)
{
    char tok[LINKTOKEN_LEN + 1];
    uint64_t id = 0;
    int64_t exp = -1;
    linktoken_make(&key, 42, 0, tok);
    CHECK_EQ(linktoken_check(&key, tok, strlen(tok), INT64_MAX, &id, &exp), KHO_OK);
    CHECK_EQ(id, 42);
    CHECK_EQ(exp, 0);
    linktoken_make(&key, 7, 1000, tok);
    CHECK_EQ(linktoken_check(&key, tok, strlen(tok), 999, &id, &exp), KHO_OK);
    CHECK_EQ(id, 7);
    CHECK_EQ(exp, 1000);
    id = 0;
    CHECK_EQ(linktoken_check(&key, tok, strlen(tok), 1000, &id, &exp), KHO_E_DENIED);
    CHECK_EQ(id, 7);
    CHECK_EQ(linktoken_check(&key, tok, strlen(tok), 5000, &id, &exp), KHO_E_DENIED);
}

static void test_forgeries_refused(void)
{
    char tok[LINKTOKEN_LEN + 1], bad[LINKTOKEN_LEN + 2];
    uint64_t id;
    int64_t exp;
    linktoken_make(&key, 123456789, 0, tok);
    /* every single-character change */
    for (size_t i = 0; i < LINKTOKEN_LEN; i++) {
        memcpy(bad, tok, sizeof(tok));
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        CHECK_EQ(linktoken_check(&key, bad, LINKTOKEN_LEN, 0, &id, &exp), KHO_E_NOTFOUND);
    }
    /* another key */
    struct signature_key other = key;
    other.bytes[0] ^= 1;
    CHECK_EQ(linktoken_check(&other, tok, LINKTOKEN_LEN, 0, &id, &exp), KHO_E_NOTFOUND);
    /* lengths, alphabet, padding */
    CHECK_EQ(linktoken_check(&key, tok, LINKTOKEN_LEN - 1, 0, &id, &exp), KHO_E_NOTFOUND);
    memcpy(bad, tok, sizeof(tok));
    bad[LINKTOKEN_LEN] = 'A';
    bad[LINKTOKEN_LEN + 1] = '\0';
    CHECK_EQ(linktoken_check(&key, bad, LINKTOKEN_LEN + 1, 0, &id, &exp), KHO_E_NOTFOUND);
    memcpy(bad, tok, sizeof(tok));
    bad[5] = '+';
    CHECK_EQ(linktoken_check(&key, bad, LINKTOKEN_LEN, 0, &id, &exp), KHO_E_NOTFOUND);
    bad[5] = '=';
    CHECK_EQ(linktoken_check(&key, bad, LINKTOKEN_LEN, 0, &id, &exp), KHO_E_NOTFOUND);
    CHECK_EQ(linktoken_check(&key, "", 0, 0, &id, &exp), KHO_E_NOTFOUND);
    /* the last character carries 2 spare bits: any other value is a second spelling */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *at = strchr(b64, tok[LINKTOKEN_LEN - 1]);
    CHECK(at != NULL);
    memcpy(bad, tok, sizeof(tok));
    bad[LINKTOKEN_LEN - 1] = b64[(at - b64) ^ 1];
    CHECK_EQ(linktoken_check(&key, bad, LINKTOKEN_LEN, 0, &id, &exp), KHO_E_NOTFOUND);
    CHECK_EQ(linktoken_check(&key, tok, LINKTOKEN_LEN, 0, &id, &exp), KHO_OK);
}

T_MAIN("linktoken", T(test_layout), T(test_check_and_expiry), T(test_forgeries_refused))
