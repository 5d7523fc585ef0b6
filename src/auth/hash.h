/* SHA-256 (OpenSSL libcrypto, hardware accelerated) and random bytes (libsodium): used for
 * session tokens, upload content hashes and request ids. */
#ifndef KHO_AUTH_HASH_H
#define KHO_AUTH_HASH_H
#include <stddef.h>

/* Lower-case hex SHA-256 of data into hex (64 digits and a NUL). Aborts, like xmalloc, if
 * libcrypto cannot provide SHA-256 at all. */
void sha256_hex(const void *data, size_t len, char hex[65]);

/* Streaming SHA-256 for data that arrives in pieces (uploads). sha256_init starts a digest;
 * sha256_update feeds bytes; sha256_final writes the hex digest and releases the state.
 * sha256_free releases a digest abandoned before sha256_final (safe after it, and twice).
 * All of them abort only where sha256_hex would. */
struct sha256 {
    void *ctx; /* EVP_MD_CTX, owned */
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, char hex[65]);
void sha256_free(struct sha256 *s);

/* n bytes from the system's cryptographic random source. Aborts if libsodium cannot start
 * (no random source), since nothing secret could be generated safely. Thread-safe. */
void random_bytes(void *out, size_t n);
/* nbytes random bytes as lower-case hex into out, which must hold 2 * nbytes + 1 chars
 * (e.g. random_hex(id, 8) fills a 17-byte request id). */
void random_hex(char *out, size_t nbytes);

#endif
