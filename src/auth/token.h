/* Bearer and CSRF tokens: 256 random bits sent as 43 base64url characters, stored only as
 * their SHA-256 so a leaked database holds nothing a client could present. A session token
 * also names, in the clear, the logical shard its row lives on (its user's). */
#ifndef KHO_AUTH_TOKEN_H
#define KHO_AUTH_TOKEN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

#define TOKEN_SHARD_DIGITS 3 /* lower-case hex of a logical shard below IDS_LOGICAL_SHARDS */
#define TOKEN_SESSION_LEN (TOKEN_SHARD_DIGITS + 1 + TOKEN_LEN) /* "SSS." then the secret */
#define TOKEN_SHARD_NONE UINT32_MAX /* a bare TOKEN_LEN session token (from before the prefix) */

/* A fresh session token for a logical shard (below IDS_LOGICAL_SHARDS): the shard as
 * TOKEN_SHARD_DIGITS lower-case hex digits, '.', then token_new's 256 random bits, and a NUL.
 * The prefix is no secret and adds nothing to the token's strength; callers store the
 * token_hash of the whole token, so a changed prefix names a token that does not exist. */
void token_new_session(uint32_t shard, char out[TOKEN_SESSION_LEN + 1]);

/* True when t[0..len) has the shape of a session token: "SSS." (one spelling per shard, below
 * IDS_LOGICAL_SHARDS) and a well-formed secret, or a bare well-formed TOKEN_LEN secret as
 * issued before tokens named their shard. *shard gets the shard, or TOKEN_SHARD_NONE for a
 * bare one. Check this before any lookup. */
bool token_session_parse(const char *t, size_t len, uint32_t *shard);

/* Compare len bytes of a and b in time that does not depend on their content. */
bool token_equal(const char *a, const char *b, size_t len);

#endif
