/* Bearer and CSRF tokens: 256 random bits sent as 43 base64url characters, stored only as
 * their SHA-256 so a leaked database holds nothing a client could present. */
#ifndef KHO_AUTH_TOKEN_H
#define KHO_AUTH_TOKEN_H
#include <stdbool.h>
#include <stddef.h>
#include "auth/hash.h" /* sha256_hex, random_hex: token users need them too */

#define TOKEN_BYTES 32
#define TOKEN_LEN 43 /* base64url without padding of TOKEN_BYTES */

/* A fresh token as TOKEN_LEN base64url characters and a NUL. Aborts only where random_bytes
 * does. */
void token_new(char out[TOKEN_LEN + 1]);

/* The stored form of a token: lower-case hex SHA-256 of its len characters (64 digits and a
 * NUL). Callers check token_well_formed first. */
void token_hash(const char *token, size_t len, char hex[65]);

/* True when t is exactly TOKEN_LEN base64url characters that token_new could have produced
 * (the last one carries 2 unused bits, which must be zero). Check this before any lookup so
 * garbage never reaches the database. */
bool token_well_formed(const char *t, size_t len);

/* Compare len bytes of a and b in time that does not depend on their content. */
bool token_equal(const char *a, const char *b, size_t len);

#endif
