/* HMAC-SHA256 URL signatures; see signature.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include "auth/hash.h"
#include "auth/signature.h"
#include "core/kho.h"

static enum kho_err read_key_file(const char *path, struct signature_key *k)
{
    char hex[2 * 64 + 2];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KHO_E_NOTFOUND : KHO_E_IO;
    ssize_t n = read(fd, hex, sizeof(hex) - 1);
    close(fd);
    if (n <= 0)
        return KHO_E_CORRUPT;
    hex[n] = '\0';
    size_t bin_len;
    if (sodium_hex2bin(k->bytes, sizeof(k->bytes), hex, (size_t)n, "\n", &bin_len, NULL) != 0 ||
        bin_len < 16)
        return KHO_E_CORRUPT;
    k->len = bin_len;
    return KHO_OK;
}

enum kho_err signature_key_load(const char *configured, const char *dir, struct signature_key *k)
{
    size_t clen = strlen(configured);
    if (clen) {
        if (clen < 16 || clen > sizeof(k->bytes)) {
            log_error("sign-key must be 16 to %d bytes", SIGNATURE_KEY_MAX);
            return KHO_E_INVALID;
        }
        memcpy(k->bytes, configured, clen);
        k->len = clen;
        return KHO_OK;
    }
    char path[1100];
    snprintf(path, sizeof(path), "%s/sign.key", dir);
    enum kho_err rc = read_key_file(path, k);
    if (rc != KHO_E_NOTFOUND) {
        if (rc)
            log_error("cannot read signing key '%s'", path);
        return rc;
    }
    char hex[65];
    random_bytes(k->bytes, 32);
    k->len = 32;
    sodium_bin2hex(hex, sizeof(hex), k->bytes, 32);
    hex[64] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, hex, 65) != 65 || fsync(fd) != 0) {
        log_error("cannot write signing key '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return KHO_E_IO;
    }
    close(fd);
    log_info("created signing key '%s'", path);
    return KHO_OK;
}

static void mac(const struct signature_key *k, const char *msg, size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)msg, len, out, &n);
}

void signature_make(const struct signature_key *k, const char *msg, size_t len,
                    char out[SIGNATURE_LEN + 1])
{
    uint8_t m[32];
    mac(k, msg, len, m);
    sodium_bin2base64(out, SIGNATURE_LEN + 1, m, sizeof(m),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool signature_check(const struct signature_key *k, const char *msg, size_t len, const char *sig,
                     size_t sig_len)
{
    char want[SIGNATURE_LEN + 1];
    if (sig_len != SIGNATURE_LEN)
        return false;
    signature_make(k, msg, len, want);
    return sodium_memcmp(want, sig, SIGNATURE_LEN) == 0;
}
