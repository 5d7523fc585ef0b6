/* SHA-256 through OpenSSL's EVP interface and random bytes through libsodium; one start-up
 * routine serves both so every entry point is safe to call first, from any thread. */
#include <pthread.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <sodium.h>
#include "auth/hash.h"
#include "core/kho.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

/* These failures mean the process cannot hash or draw secrets at all: treat them like
 * running out of memory. */
static void die(const char *what)
{
    log_error("%s", what);
    abort();
}

/* The explicit fetch happens once: the implicit one behind EVP_sha256() would search the
 * provider table under a lock on every digest. */
static void start(void)
{
    if (sodium_init() < 0)
        die("cannot initialise libsodium");
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md)
        die("libcrypto provides no sha-256");
}

void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    pthread_once(&once, start);
    if (EVP_Digest(data, len, md, NULL, sha256_md, NULL) != 1)
        die("sha-256 digest failed");
    sodium_bin2hex(hex, 65, md, sizeof(md));
}

void sha256_init(struct sha256 *s)
{
    pthread_once(&once, start);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1)
        die("cannot start a sha-256 digest");
    s->ctx = ctx;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
    if (EVP_DigestUpdate(s->ctx, data, len) != 1)
        die("sha-256 update failed");
}

void sha256_final(struct sha256 *s, char hex[65])
{
    unsigned char md[32];
    if (EVP_DigestFinal_ex(s->ctx, md, NULL) != 1)
        die("sha-256 final failed");
    sodium_bin2hex(hex, 65, md, sizeof(md));
    sha256_free(s);
}

void sha256_free(struct sha256 *s)
{
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
}

void random_bytes(void *out, size_t n)
{
    pthread_once(&once, start);
    randombytes_buf(out, n);
}

void random_hex(char *out, size_t nbytes)
{
    unsigned char raw[32];
    out[0] = '\0';
    for (size_t done = 0; done < nbytes;) {
        size_t n = nbytes - done < sizeof(raw) ? nbytes - done : sizeof(raw);
        random_bytes(raw, n);
        sodium_bin2hex(out + 2 * done, 2 * n + 1, raw, n);
        done += n;
    }
}
