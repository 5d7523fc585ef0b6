/* Unit tests for src/auth: SHA-256 and randomness, tokens, password hashing, login limiter. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sodium.h>
#include "auth/hash.h"
#include "auth/password.h"
#include "auth/ratelimit.h"
#include "auth/signature.h"
#include "auth/token.h"
#include "core/kho.h"
#include "t.h"

#define MIB ((size_t)1 << 20)

static const char sha_empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char sha_abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static double seconds(void)
{
    return (double)mono_ns() / 1e9;
}

static void test_sha256_vectors(void)
{
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK_STR(hex, sha_empty);
    sha256_hex("abc", 3, hex);
    CHECK_STR(hex, sha_abc);
    /* FIPS 180-2 two-block message */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m, strlen(m), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_stream(void)
{
    size_t n = 3 * MIB + 17;
    unsigned char *data = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    char whole[65], parts[65];
    double t0 = seconds();
    sha256_hex(data, n, whole);
    double dt = seconds() - t0;
    printf("  sha-256: %.0f MB/s\n", (double)n / dt / 1e6);

    struct sha256 s;
    sha256_init(&s);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        sha256_update(&s, data + off, k);
        off += k;
        step = step * 3 + 1; /* uneven pieces that straddle block boundaries */
    }
    sha256_final(&s, parts);
    sha256_free(&s); /* harmless after final */
    free(data);
    CHECK_STR(parts, whole);

    sha256_init(&s); /* abandoned digest: released without a final */
    sha256_update(&s, "ab", 2);
    sha256_free(&s);
    CHECK(s.ctx == NULL);
    sha256_init(&s);
    sha256_final(&s, parts);
    CHECK_STR(parts, sha_empty);
}

static void test_random_hex(void)
{
    char a[81], b[81];
    random_hex(a, 40); /* longer than one internal chunk */
    random_hex(b, 40);
    CHECK_EQ(strlen(a), 80);
    CHECK(strspn(a, "0123456789abcdef") == 80);
    CHECK(strcmp(a, b) != 0);
    random_hex(a, 0);
    CHECK_EQ(strlen(a), 0);
}

static void test_token_format(void)
{
    char t[TOKEN_LEN + 1], prev[TOKEN_LEN + 1] = "";
    for (int i = 0; i < 1000; i++) {
        token_new(t);
        CHECK_EQ(strlen(t), TOKEN_LEN);
        CHECK(token_well_formed(t, strlen(t)));
        CHECK(strcmp(t, prev) != 0);
        unsigned char raw[64];
        size_t raw_len = 0;
        CHECK_EQ(sodium_base642bin(raw, sizeof(raw), t, TOKEN_LEN, NULL, &raw_len, NULL,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                 0);
        CHECK_EQ(raw_len, TOKEN_BYTES);
        memcpy(prev, t, sizeof(t));
    }
}

static void test_token_well_formed(void)
{
    char t[TOKEN_LEN + 2];
    memset(t, 'A', TOKEN_LEN);
    t[TOKEN_LEN] = '\0';
    CHECK(token_well_formed(t, TOKEN_LEN));
    CHECK(!token_well_formed(t, TOKEN_LEN - 1));
    t[TOKEN_LEN] = 'A';
    CHECK(!token_well_formed(t, TOKEN_LEN + 1));
    CHECK(!token_well_formed(NULL, TOKEN_LEN));
    t[5] = '-';
    t[6] = '_';
    CHECK(token_well_formed(t, TOKEN_LEN));
    t[7] = '+'; /* standard base64, not base64url */
    CHECK(!token_well_formed(t, TOKEN_LEN));
    t[7] = '/';
    CHECK(!token_well_formed(t, TOKEN_LEN));
    t[7] = '=';
    CHECK(!token_well_formed(t, TOKEN_LEN));
    t[7] = '\0';
    CHECK(!token_well_formed(t, TOKEN_LEN));
    t[7] = 'z';
    t[TOKEN_LEN - 1] = 'E'; /* value 4: low 2 bits clear */
    CHECK(token_well_formed(t, TOKEN_LEN));
    t[TOKEN_LEN - 1] = 'B'; /* value 1: a second spelling of some token */
    CHECK(!token_well_formed(t, TOKEN_LEN));
}

static void test_token_session(void)
{
    char t[TOKEN_SESSION_LEN + 1], bad[TOKEN_SESSION_LEN + 2];
    uint32_t shard = 0;
    const uint32_t shards[] = {0, 9, 0xabc, IDS_LOGICAL_SHARDS - 1};
    for (size_t i = 0; i < sizeof(shards) / sizeof(shards[0]); i++) {
        token_new_session(shards[i], t);
        CHECK_EQ(strlen(t), TOKEN_SESSION_LEN);
        CHECK(token_session_parse(t, TOKEN_SESSION_LEN, &shard));
        CHECK_EQ(shard, shards[i]);
        CHECK(token_well_formed(t + TOKEN_SHARD_DIGITS + 1, TOKEN_LEN));
    }
    CHECK(memcmp(t, "fff.", 4) == 0);
    /* a bare secret is a token from before the prefix: still accepted, with no shard */
    CHECK(token_session_parse(t + 4, TOKEN_LEN, &shard));
    CHECK_EQ(shard, TOKEN_SHARD_NONE);
    /* one spelling per shard, nothing past the last one, the separator and the length checked */
    const char *prefixes[] = {"FFF.", "1000", "-01.", "0x1.", " 01.", "01..", "abc:"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        memcpy(bad, t, sizeof(t));
        memcpy(bad, prefixes[i], 4);
        CHECK(!token_session_parse(bad, TOKEN_SESSION_LEN, &shard));
    }
    memcpy(bad, t, sizeof(t));
    CHECK(!token_session_parse(bad, TOKEN_SESSION_LEN - 1, &shard));
    bad[TOKEN_SESSION_LEN] = 'A';
    CHECK(!token_session_parse(bad, TOKEN_SESSION_LEN + 1, &shard));
    bad[TOKEN_SESSION_LEN - 1] = '+';
    CHECK(!token_session_parse(bad, TOKEN_SESSION_LEN, &shard));
    CHECK(!token_session_parse(NULL, TOKEN_SESSION_LEN, &shard));
    /* the prefix is part of what is hashed: another shard's prefix is another token */
    char h1[65], h2[65];
    token_hash(t, TOKEN_SESSION_LEN, h1);
    memcpy(bad, t, sizeof(t));
    bad[0] = 'e';
    CHECK(token_session_parse(bad, TOKEN_SESSION_LEN, &shard));
    token_hash(bad, TOKEN_SESSION_LEN, h2);
    CHECK(!token_equal(h1, h2, 64));
}

static void test_token_hash_equal(void)
{
    char hex[65], t[TOKEN_LEN + 1], h1[65], h2[65];
    token_hash("abc", 3, hex);
    CHECK_STR(hex, sha_abc);
    token_new(t);
    token_hash(t, TOKEN_LEN, h1);
    sha256_hex(t, TOKEN_LEN, h2);
    CHECK_STR(h1, h2);
    CHECK(token_equal(h1, h2, 64));
    h2[63] = h2[63] == '0' ? '1' : '0';
    CHECK(!token_equal(h1, h2, 64));
    CHECK(token_equal(h1, h2, 63));
}

static void test_password_policy(void)
{
    char pw[1100];
    memset(pw, 'x', sizeof(pw));
    CHECK_EQ(password_check_policy(pw, 7), KHO_E_INVALID);
    CHECK_EQ(password_check_policy(pw, 0), KHO_E_INVALID);
    CHECK_EQ(password_check_policy(pw, 8), KHO_OK);
    CHECK_EQ(password_check_policy(pw, 1024), KHO_OK);
    CHECK_EQ(password_check_policy(pw, 1025), KHO_E_INVALID);
}

static void test_password_init_limits(void)
{
    CHECK_EQ(password_init(0, 8 * MIB, 2), KHO_E_INVALID);
    CHECK_EQ(password_init(1, 1024, 2), KHO_E_INVALID);
    CHECK_EQ(password_init(1, 8 * MIB, 2), KHO_OK);
}

static void test_password_hash_verify(void)
{
    CHECK_EQ(password_init(1, 8 * MIB, 2), KHO_OK);
    char h1[PASSWORD_HASH_LEN], h2[PASSWORD_HASH_LEN];
    const char *pw = "correct horse battery staple";
    CHECK_EQ(password_hash(pw, strlen(pw), h1), KHO_OK);
    CHECK(strncmp(h1, "$argon2id$v=19$m=8192,t=1,p=1$", 30) == 0);
    CHECK_EQ(password_hash(pw, strlen(pw), h2), KHO_OK);
    CHECK(strcmp(h1, h2) != 0); /* fresh salt each time */
    CHECK_EQ(password_verify(h1, pw, strlen(pw)), KHO_OK);
    CHECK_EQ(password_verify(h2, pw, strlen(pw)), KHO_OK);

    uint64_t fails = metric_get(M_LOGIN_FAILURES);
    CHECK_EQ(password_verify(h1, "correct horse battery stapler", 29), KHO_E_UNAUTH);
    CHECK_EQ(password_verify(h1, pw, strlen(pw) - 1), KHO_E_UNAUTH);
    CHECK_EQ(metric_get(M_LOGIN_FAILURES), fails + 2);

    /* binary passwords with NUL bytes are hashed over their full length */
    char bin[10] = {'a', 0, 'b', 0, 'c', 0, 'd', 0, 'e', 0};
    CHECK_EQ(password_hash(bin, sizeof(bin), h1), KHO_OK);
    CHECK_EQ(password_verify(h1, bin, sizeof(bin)), KHO_OK);
    CHECK_EQ(password_verify(h1, bin, 1), KHO_E_UNAUTH);
}

static void test_password_limits_and_malformed(void)
{
    CHECK_EQ(password_init(1, 8 * MIB, 2), KHO_OK);
    char big[2048], h[PASSWORD_HASH_LEN];
    memset(big, 'p', sizeof(big));
    CHECK_EQ(password_hash(big, PASSWORD_MAX_LEN + 1, h), KHO_E_TOO_LARGE);
    CHECK_EQ(password_hash(big, PASSWORD_MAX_LEN, h), KHO_OK);
    CHECK_EQ(password_verify(h, big, PASSWORD_MAX_LEN), KHO_OK);
    CHECK_EQ(password_verify(h, big, sizeof(big)), KHO_E_UNAUTH);

    CHECK_EQ(password_verify("", "password", 8), KHO_E_UNAUTH);
    CHECK_EQ(password_verify("$2y$10$notargon", "password", 8), KHO_E_UNAUTH);
    h[40] = '\0'; /* truncated stored hash */
    CHECK_EQ(password_verify(h, big, PASSWORD_MAX_LEN), KHO_E_UNAUTH);
    memset(big, 'x', sizeof(big)); /* no terminator within the hash length */
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "$argon2id$", 10);
    CHECK_EQ(password_verify(big, "password", 8), KHO_E_UNAUTH);
}

static void test_password_needs_rehash(void)
{
    CHECK_EQ(password_init(1, 8 * MIB, 2), KHO_OK);
    char h[PASSWORD_HASH_LEN];
    CHECK_EQ(password_hash("password", 8, h), KHO_OK);
    CHECK(!password_needs_rehash(h));
    CHECK_EQ(crypto_pwhash_str_alg(h, "password", 8, 2, 8 * MIB, crypto_pwhash_ALG_ARGON2ID13), 0);
    CHECK(password_needs_rehash(h)); /* other cost */
    CHECK_EQ(crypto_pwhash_str_alg(h, "password", 8, 3, 8 * MIB, crypto_pwhash_ALG_ARGON2I13), 0);
    CHECK(password_needs_rehash(h)); /* other algorithm */
    CHECK(password_needs_rehash("not a hash"));
    /* a new cost makes old hashes stale */
    CHECK_EQ(password_init(1, 8 * MIB, 2), KHO_OK);
    CHECK_EQ(password_hash("password", 8, h), KHO_OK);
    CHECK_EQ(password_init(2, 8 * MIB, 2), KHO_OK);
    CHECK(password_needs_rehash(h));
    CHECK_EQ(password_verify(h, "password", 8), KHO_OK); /* still verifies */
}

static void test_password_dummy(void)
{
    CHECK_EQ(password_init(1, 8 * MIB, 2), KHO_OK);
    char h[PASSWORD_HASH_LEN];
    CHECK_EQ(password_hash("password", 8, h), KHO_OK);
    uint64_t fails = metric_get(M_LOGIN_FAILURES);
    double best_wrong = 1e9, best_dummy = 1e9;
    for (int i = 0; i < 5; i++) {
        double t0 = seconds();
        CHECK_EQ(password_verify(h, "wrong pw", 8), KHO_E_UNAUTH);
        double t1 = seconds();
        CHECK_EQ(password_verify_dummy("wrong pw", 8), KHO_E_UNAUTH);
        double t2 = seconds();
        best_wrong = t1 - t0 < best_wrong ? t1 - t0 : best_wrong;
        best_dummy = t2 - t1 < best_dummy ? t2 - t1 : best_dummy;
    }
    CHECK_EQ(password_verify_dummy("password", 8), KHO_E_UNAUTH);
    CHECK_EQ(metric_get(M_LOGIN_FAILURES), fails + 11);
    printf("  verify %.2f ms, dummy %.2f ms\n", best_wrong * 1e3, best_dummy * 1e3);
    /* both run one Argon2id with the same cost: anything near 1 is the same work */
    CHECK(best_dummy > best_wrong * 0.5 && best_dummy < best_wrong * 2);
}

struct hash_job {
    enum kho_err rc;
};

static void *hash_thread(void *arg)
{
    struct hash_job *j = arg;
    char h[PASSWORD_HASH_LEN];
    j->rc = password_hash("password", 8, h);
    return NULL;
}

static void test_password_parallel_cap(void)
{
    CHECK_EQ(password_init(1, 16 * MIB, 1), KHO_OK);
    char h[PASSWORD_HASH_LEN];
    double single = 1e9;
    for (int i = 0; i < 3; i++) {
        double t0 = seconds();
        CHECK_EQ(password_hash("password", 8, h), KHO_OK);
        double dt = seconds() - t0;
        single = dt < single ? dt : single;
    }
    pthread_t th[3];
    struct hash_job jobs[3];
    double t0 = seconds();
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, hash_thread, &jobs[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    double all = seconds() - t0;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(jobs[i].rc, KHO_OK);
    printf("  one hash %.1f ms, three with max_parallel 1: %.1f ms\n", single * 1e3, all * 1e3);
    /* one at a time: three hashes cannot finish faster than three single ones */
    CHECK(all > 2.5 * single);
    CHECK_EQ(password_init(1, 8 * MIB, 2), KHO_OK);
}

static void test_ratelimit_limit(void)
{
    struct ratelimit *rl = ratelimit_new(64, 3, 60000);
    int64_t t = 1700000000000LL, retry = -1;
    uint64_t limited = metric_get(M_RATE_LIMITED);
    CHECK_EQ(ratelimit_check(rl, "alice", t, &retry), KHO_OK);
    ratelimit_fail(rl, "alice", t);
    ratelimit_fail(rl, "alice", t + 1000);
    CHECK_EQ(ratelimit_check(rl, "alice", t + 1000, &retry), KHO_OK);
    ratelimit_fail(rl, "alice", t + 2000);
    CHECK_EQ(ratelimit_check(rl, "alice", t + 2000, &retry), KHO_E_RATE);
    CHECK_EQ(retry, 58); /* the window opened at the first failure */
    CHECK_EQ(ratelimit_check(rl, "alice", t + 30500, &retry), KHO_E_RATE);
    CHECK_EQ(retry, 30); /* 29.5 s rounds up */
    CHECK_EQ(ratelimit_check(rl, "alice", t + 59999, &retry), KHO_E_RATE);
    CHECK_EQ(retry, 1);
    CHECK_EQ(ratelimit_check(rl, "alice", t + 59999, NULL), KHO_E_RATE);
    CHECK_EQ(metric_get(M_RATE_LIMITED), limited + 4);
    CHECK_EQ(ratelimit_check(rl, "bob", t + 2000, &retry), KHO_OK);
    CHECK_EQ(ratelimit_check(rl, "alic", t + 2000, &retry), KHO_OK);
    ratelimit_free(rl);
}

static void test_ratelimit_window(void)
{
    struct ratelimit *rl = ratelimit_new(64, 2, 10000);
    int64_t t = 5000000, retry;
    ratelimit_fail(rl, "10.0.0.1", t);
    ratelimit_fail(rl, "10.0.0.1", t + 9000);
    CHECK_EQ(ratelimit_check(rl, "10.0.0.1", t + 9999, &retry), KHO_E_RATE);
    CHECK_EQ(ratelimit_check(rl, "10.0.0.1", t + 10000, &retry), KHO_OK);
    /* a failure after the window opens a new one counting from 1 */
    ratelimit_fail(rl, "10.0.0.1", t + 10000);
    CHECK_EQ(ratelimit_check(rl, "10.0.0.1", t + 10001, &retry), KHO_OK);
    ratelimit_fail(rl, "10.0.0.1", t + 15000);
    CHECK_EQ(ratelimit_check(rl, "10.0.0.1", t + 15000, &retry), KHO_E_RATE);
    CHECK_EQ(retry, 5);
    /* a clock that steps back does not unlock early nor promise more than a window */
    CHECK_EQ(ratelimit_check(rl, "10.0.0.1", t, &retry), KHO_E_RATE);
    CHECK_EQ(retry, 10);
    ratelimit_free(rl);
}

static void test_ratelimit_reset_and_off(void)
{
    struct ratelimit *rl = ratelimit_new(8, 2, 60000);
    int64_t retry;
    ratelimit_fail(rl, "carol", 1000);
    ratelimit_fail(rl, "carol", 1001);
    ratelimit_fail(rl, "dave", 1001);
    ratelimit_fail(rl, "dave", 1001);
    CHECK_EQ(ratelimit_check(rl, "carol", 1002, &retry), KHO_E_RATE);
    ratelimit_reset(rl, "carol");
    CHECK_EQ(ratelimit_check(rl, "carol", 1002, &retry), KHO_OK);
    CHECK_EQ(ratelimit_check(rl, "dave", 1002, &retry), KHO_E_RATE);
    ratelimit_reset(rl, "nobody");
    ratelimit_free(rl);
    ratelimit_free(NULL);

    struct ratelimit *off = ratelimit_new(8, 0, 60000);
    for (int i = 0; i < 100; i++)
        ratelimit_fail(off, "erin", 1000);
    CHECK_EQ(ratelimit_check(off, "erin", 1000, &retry), KHO_OK);
    ratelimit_free(off);
}

static void test_ratelimit_bounded(void)
{
    struct ratelimit *rl = ratelimit_new(1024, 10, 600000);
    int64_t t = 1000000, retry;
    for (int i = 0; i < 9; i++)
        ratelimit_fail(rl, "victim", t);
    char key[32];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "203.0.113.%d:%d", i % 256, i);
        ratelimit_fail(rl, key, t + i / 100);
    }
    struct mallinfo2 after = mallinfo2();
    CHECK(after.uordblks <= before.uordblks + 4096);
    /* one-off keys evicted each other, not the account with nine failures */
    CHECK_EQ(ratelimit_check(rl, "victim", t + 1000, &retry), KHO_OK);
    ratelimit_fail(rl, "victim", t + 1000);
    CHECK_EQ(ratelimit_check(rl, "victim", t + 1000, &retry), KHO_E_RATE);
    /* the table still tracks new keys */
    for (int i = 0; i < 10; i++)
        ratelimit_fail(rl, "fresh", t + 2000);
    CHECK_EQ(ratelimit_check(rl, "fresh", t + 2000, &retry), KHO_E_RATE);
    ratelimit_free(rl);
}

struct fail_job {
    struct ratelimit *a, *b;
};

static void *fail_thread(void *arg)
{
    struct fail_job *j = arg;
    for (int i = 0; i < 250; i++) {
        ratelimit_fail(j->a, "shared", 1000);
        ratelimit_fail(j->b, "shared", 1000);
    }
    return NULL;
}

static void test_ratelimit_threads(void)
{
    struct fail_job j = {ratelimit_new(64, 1000, 60000), ratelimit_new(64, 1001, 60000)};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, fail_thread, &j);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* exactly 1000 failures were counted: none lost, none doubled */
    CHECK_EQ(ratelimit_check(j.a, "shared", 1000, NULL), KHO_E_RATE);
    CHECK_EQ(ratelimit_check(j.b, "shared", 1000, NULL), KHO_OK);
    ratelimit_free(j.a);
    ratelimit_free(j.b);
}

/* RFC 4231 test case 2 (key "Jefe"), base64url: signatures are standard HMAC-SHA256. */
static void test_signature(void)
{
    struct signature_key k = {.len = 4};
    memcpy(k.bytes, "Jefe", 4);
    static const char msg[] = "what do ya want for nothing?";
    char sig[SIGNATURE_LEN + 1];
    signature_make(&k, msg, strlen(msg), sig);
    CHECK_STR(sig, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM");
    CHECK(signature_check(&k, msg, strlen(msg), sig, strlen(sig)));
    CHECK(!signature_check(&k, msg, strlen(msg) - 1, sig, strlen(sig)));
    sig[5] ^= 1;
    CHECK(!signature_check(&k, msg, strlen(msg), sig, strlen(sig)));
    CHECK(!signature_check(&k, msg, strlen(msg), "short", 5));

    /* a configured key is used as given, and must not be trivially short */
    struct signature_key c;
    CHECK_EQ(signature_key_load("0123456789abcdef", "/nonexistent", &c), KHO_OK);
    CHECK(c.len == 16 && !memcmp(c.bytes, "0123456789abcdef", 16));
    CHECK_EQ(signature_key_load("short", "/nonexistent", &c), KHO_E_INVALID);

    /* without one, DIR/sign.key is made once (mode 0600) and read back the same */
    char *dir = t_tmpdir();
    struct signature_key k1, k2;
    CHECK_EQ(signature_key_load("", dir, &k1), KHO_OK);
    CHECK_EQ(signature_key_load("", dir, &k2), KHO_OK);
    CHECK(k1.len == 32 && k2.len == 32 && !memcmp(k1.bytes, k2.bytes, 32));
    char path[600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/sign.key", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    t_rmtree(dir);
    free(dir);
}

T_MAIN("auth", T(test_signature), T(test_sha256_vectors), T(test_sha256_stream), T(test_random_hex),
       T(test_token_format), T(test_token_well_formed), T(test_token_session),
       T(test_token_hash_equal), T(test_password_policy), T(test_password_init_limits),
       T(test_password_hash_verify), T(test_password_limits_and_malformed),
       T(test_password_needs_rehash), T(test_password_dummy), T(test_password_parallel_cap),
       T(test_ratelimit_limit), T(test_ratelimit_window), T(test_ratelimit_reset_and_off),
       T(test_ratelimit_bounded), T(test_ratelimit_threads))
