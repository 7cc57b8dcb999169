/*
** rt_crypto.c — [base] SHA-256, HMAC-SHA256 and ChaCha20-Poly1305 (with
** associated data) over libcrypto (rt_crypto.h).
*/
#include "rt_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "rt_util.h"

void rt_sha256(const void *data, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    if (!EVP_Digest(data, n, out, &len, EVP_sha256(), NULL)) memset(out, 0, 32);
}

void rt_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    static const uint8_t empty[1] = { 0 };
    if (!HMAC(EVP_sha256(), key, (int)klen, n ? msg : empty, n, out, &len)) memset(out, 0, 32);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

bool rt_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n) return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void rt_hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

bool rt_hmac_equal_hex(const uint8_t mac[32], const char *hex)
{
    uint8_t given[32];
    if (!hex || !rt_hex_decode(hex, strlen(hex), given, 32)) return false;
    return CRYPTO_memcmp(given, mac, 32) == 0;
}

bool rt_random_bytes(void *out, size_t n)
{
    uint8_t *p = out;
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got <= 0) return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

void rt_seal_ad(rt_buf *out, const char *const *fields, size_t n)
{
    out->len = 0;
    rt_buf_append(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        size_t len = fields[i] ? strlen(fields[i]) : 0;
        uint8_t be[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
        rt_buf_append(out, be, 4);
        if (len) rt_buf_append(out, fields[i], len);
    }
}

/* One ChaCha20-Poly1305 pass: encrypt (tag out) or decrypt (tag checked),
** authenticating ad (adlen bytes, may be 0) with the text. */
static bool aead(bool encrypt, const uint8_t key[32], const uint8_t nonce[12], const void *ad, size_t adlen,
                 const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0, enc = encrypt ? 1 : 0;
    bool ok = ctx && EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
              EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc);
    if (ok && !encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag);
    if (ok && adlen) ok = EVP_CipherUpdate(ctx, NULL, &len, ad, (int)adlen);     /* out NULL: associated data */
    len = 0;
    if (ok && n) ok = EVP_CipherUpdate(ctx, out, &len, in, (int)n);
    if (ok) ok = EVP_CipherFinal_ex(ctx, out + len, &fin);
    if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

char *rt_seal(const uint8_t key[32], const void *ad, size_t adlen, const char *value)
{
    uint8_t nonce[12], tag[16];
    if (!rt_random_bytes(nonce, sizeof nonce)) return NULL;
    size_t n = strlen(value);
    uint8_t *buf = rt_xmalloc(n + 1);
    if (!aead(true, key, nonce, ad, adlen, (const uint8_t *)value, n, buf, tag)) {
        free(buf);
        return NULL;
    }
    char *out = rt_xmalloc(4 + 24 + 1 + 2 * n + 1 + 32 + 1);
    memcpy(out, "cp2:", 4);
    rt_hex_encode(nonce, 12, out + 4);
    out[28] = ':';
    rt_hex_encode(buf, n, out + 29);
    out[29 + 2 * n] = ':';
    rt_hex_encode(tag, 16, out + 30 + 2 * n);
    free(buf);
    return out;
}

char *rt_unseal(const uint8_t key[32], const void *ad, size_t adlen, const char *sealed, int *version)
{
    uint8_t nonce[12], tag[16];
    size_t len = sealed ? strlen(sealed) : 0;
    *version = 0;
    if (len < 29 + 1 + 32 || sealed[28] != ':' || sealed[len - 33] != ':' || (len - 29 - 33) % 2) return NULL;
    if (strncmp(sealed, "cp1:", 4) == 0) *version = 1;
    else if (strncmp(sealed, "cp2:", 4) == 0) *version = 2;
    else return NULL;
    size_t n = (len - 29 - 33) / 2;
    if (!rt_hex_decode(sealed + 4, 24, nonce, 12) || !rt_hex_decode(sealed + len - 32, 32, tag, 16)) {
        *version = 0;
        return NULL;
    }
    uint8_t *cipher = rt_xmalloc(n + 1), *plain = rt_xmalloc(n + 1);
    bool hex = rt_hex_decode(sealed + 29, len - 29 - 33, cipher, n);
    if (!hex) *version = 0;
    /* version 1 had no associated data: its values are bound to nothing */
    bool ok = hex && aead(false, key, nonce, *version == 1 ? NULL : ad, *version == 1 ? 0 : adlen, cipher, n, plain,
                          tag);
    free(cipher);
    if (!ok || memchr(plain, 0, n)) {
        OPENSSL_cleanse(plain, n);
        free(plain);
        return NULL;
    }
    plain[n] = '\0';
    return (char *)plain;
}
