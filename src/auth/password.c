/* Argon2id password hashing (libsodium) behind a counting semaphore that caps how many
 * memory-hungry hashes run at once. */
#include <errno.h>
#include <semaphore.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "auth/hash.h"
#include "auth/password.h"
#include "core/kho.h"

_Static_assert(PASSWORD_HASH_LEN == crypto_pwhash_STRBYTES, "PASSWORD_HASH_LEN is libsodium's");

static bool ready;
static unsigned long long ops;
static size_t mem;
static sem_t running;
static char dummy_hash[PASSWORD_HASH_LEN];

static void slot_take(void)
{
    while (sem_wait(&running) != 0 && errno == EINTR)
        continue;
}

static void slot_give(void)
{
    sem_post(&running);
}

static enum kho_err hash_with_limit(const char *pw, size_t len, char out[PASSWORD_HASH_LEN])
{
    slot_take();
    int r = crypto_pwhash_str_alg(out, pw, len, ops, mem, crypto_pwhash_ALG_ARGON2ID13);
    slot_give();
    if (r != 0) {
        /* libsodium's only runtime failure here is the memlimit allocation */
        log_error("cannot hash password with %zu bytes of memory", mem);
        return KHO_E_NOMEM;
    }
    return KHO_OK;
}

enum kho_err password_init(uint64_t opslimit, size_t memlimit, int max_parallel)
{
    if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > crypto_pwhash_OPSLIMIT_MAX ||
        memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > crypto_pwhash_MEMLIMIT_MAX) {
        log_error("argon2 cost out of range: ops %llu, memory %zu bytes",
                  (unsigned long long)opslimit, memlimit);
        return KHO_E_INVALID;
    }
    if (sodium_init() < 0) {
        log_error("cannot initialise libsodium");
        return KHO_E_BACKEND;
    }
    if (max_parallel <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        max_parallel = n > 0 ? (int)n : 1;
    }
    if (ready)
        sem_destroy(&running);
    sem_init(&running, 0, (unsigned)max_parallel);
    ops = opslimit;
    mem = memlimit;
    ready = true;

    /* A password nobody knows: verifying against it can never succeed, and it costs what a
     * real verification costs because it uses the current parameters. */
    unsigned char secret[32];
    random_bytes(secret, sizeof(secret));
    enum kho_err rc = hash_with_limit((const char *)secret, sizeof(secret), dummy_hash);
    sodium_memzero(secret, sizeof(secret));
    if (rc)
        ready = false;
    return rc;
}

enum kho_err password_check_policy(const char *pw, size_t len)
{
    if (!pw || len < PASSWORD_MIN_LEN || len > PASSWORD_MAX_LEN)
        return KHO_E_INVALID;
    return KHO_OK;
}

enum kho_err password_hash(const char *pw, size_t len, char out[PASSWORD_HASH_LEN])
{
    if (!ready)
        return KHO_E_INVALID;
    if (len > PASSWORD_MAX_LEN)
        return KHO_E_TOO_LARGE;
    return hash_with_limit(pw, len, out);
}

static enum kho_err verify_against(const char *hash, const char *pw, size_t len)
{
    int r = -1;
    /* no stored password can be this long (the policy forbids it): refuse without hashing */
    if (len <= PASSWORD_MAX_LEN) {
        slot_take();
        r = crypto_pwhash_str_verify(hash, pw, len);
        slot_give();
    }
    if (r != 0) {
        metric_inc(M_LOGIN_FAILURES);
        return KHO_E_UNAUTH;
    }
    return KHO_OK;
}

static bool well_formed(const char *hash)
{
    static const char prefix[] = crypto_pwhash_argon2id_STRPREFIX;
    return hash && strnlen(hash, PASSWORD_HASH_LEN) < PASSWORD_HASH_LEN &&
           strncmp(hash, prefix, sizeof(prefix) - 1) == 0;
}

enum kho_err password_verify(const char *hash, const char *pw, size_t len)
{
    if (!ready)
        return KHO_E_INVALID;
    if (!well_formed(hash)) {
        /* still spend the usual time, so a damaged row is not visible from outside */
        log_error("stored password hash is malformed");
        hash = dummy_hash;
    }
    return verify_against(hash, pw, len);
}

enum kho_err password_verify_dummy(const char *pw, size_t len)
{
    if (!ready)
        return KHO_E_INVALID;
    verify_against(dummy_hash, pw, len);
    return KHO_E_UNAUTH;
}

bool password_needs_rehash(const char *hash)
{
    return !well_formed(hash) || crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}
