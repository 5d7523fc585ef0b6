/* Password hashing and checking with Argon2id (libsodium). At most a fixed number of hashes
 * run at once, so a burst of logins cannot take more than that many times the memory limit. */
#ifndef KHO_AUTH_PASSWORD_H
#define KHO_AUTH_PASSWORD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

#define PASSWORD_MIN_LEN 8
#define PASSWORD_MAX_LEN 1024
#define PASSWORD_HASH_LEN 128 /* crypto_pwhash_STRBYTES: buffer size, NUL included */

/* Start the module: initialise libsodium, set the Argon2id cost of new hashes (opslimit passes
 * over memlimit bytes; kho's defaults are 2 and 64 MiB, libsodium's INTERACTIVE level), allow
 * max_parallel hashes or verifications at once (<= 0: one per online core) and compute the
 * fixed hash password_verify_dummy checks against. Call it before any other password_*
 * function and before threads use them; calling it again replaces the settings and must not
 * race with them. Errors: KHO_E_INVALID for costs libsodium does not accept, KHO_E_BACKEND if
 * libsodium cannot start, KHO_E_NOMEM if memlimit cannot be allocated. */
enum kho_err password_init(uint64_t opslimit, size_t memlimit, int max_parallel);

/* Whether a new password of len bytes is acceptable: PASSWORD_MIN_LEN to PASSWORD_MAX_LEN
 * bytes, else KHO_E_INVALID. */
enum kho_err password_check_policy(const char *pw, size_t len);

/* Hash pw (len bytes, any content) into out, a NUL-terminated "$argon2id$..." string.
 * Blocks while max_parallel other hashes run. Errors: KHO_E_TOO_LARGE over PASSWORD_MAX_LEN,
 * KHO_E_NOMEM if the memory limit cannot be allocated now, KHO_E_INVALID before
 * password_init. */
enum kho_err password_hash(const char *pw, size_t len, char out[PASSWORD_HASH_LEN]);

/* KHO_OK when pw matches hash (a string from password_hash), else KHO_E_UNAUTH; a malformed
 * hash is logged and also gives KHO_E_UNAUTH; KHO_E_INVALID before password_init. Takes as
 * long as password_hash and counts M_LOGIN_FAILURES on a mismatch. */
enum kho_err password_verify(const char *hash, const char *pw, size_t len);

/* For a login naming no account: spend the time of password_verify against a hash made at
 * password_init, so unknown users cannot be told from wrong passwords by timing. Returns
 * KHO_E_UNAUTH (KHO_E_INVALID before password_init) and counts M_LOGIN_FAILURES. */
enum kho_err password_verify_dummy(const char *pw, size_t len);

/* True when hash is not Argon2id with the current costs (or is malformed): after a
 * successful login, store a fresh password_hash of the password. */
bool password_needs_rehash(const char *hash);

#endif
