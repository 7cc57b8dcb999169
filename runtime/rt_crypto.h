/*
** rt_crypto.h — the little cryptography the runtime needs, from OpenSSL's
** libcrypto (already loaded by libcurl): SHA-256 and HMAC-SHA256 for signed
** webhooks, and authenticated encryption (ChaCha20-Poly1305, RFC 8439) for
** the secrets of connected users at rest.
*/
#ifndef RT_CRYPTO_H
#define RT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void rt_sha256(const void *data, size_t n, uint8_t out[32]);
void rt_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32]);

/* Whether hex (64 hex digits, any case) is mac, compared in constant time. */
bool rt_hmac_equal_hex(const uint8_t mac[32], const char *hex);

/* Hex of n bytes into out (2n + 1 chars, NUL-terminated). */
void rt_hex_encode(const uint8_t *p, size_t n, char *out);
/* Exactly n bytes from len hex digits (len must be 2n); false otherwise. */
bool rt_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

/* Fills out with n random bytes from the kernel; false if it cannot. */
bool rt_random_bytes(void *out, size_t n);

/* "cp1:NONCE:CIPHERTEXT:TAG" (hex) for value under key: a new string, or
** NULL when the cipher is unavailable. */
char *rt_seal(const uint8_t key[32], const char *value);
/* The value sealed by rt_seal under the same key: a new string, or NULL
** when the text is not sealed or the key (or text) is wrong — the tag
** catches both. */
char *rt_unseal(const uint8_t key[32], const char *sealed);

#endif
