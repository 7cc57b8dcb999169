/*
** rt_crypto.h — [base] the little cryptography the runtime needs, from OpenSSL's
** libcrypto (already loaded by libcurl): SHA-256 and HMAC-SHA256 for signed
** webhooks, and authenticated encryption (ChaCha20-Poly1305, RFC 8439) for
** the secrets of connected users at rest.
*/
#ifndef RT_CRYPTO_H
#define RT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_util.h"

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

/* Sealed values. Format 2 (current): "cp2:NONCE:CIPHERTEXT:TAG" (hex),
** ChaCha20-Poly1305 under key with a random 96-bit nonce, authenticating
** the associated data ad with the text: a value opens only with the ad it
** was sealed with, so a value bound to (user, name) and copied to another
** record fails its tag. Format 1 ("cp1:...", the same without associated
** data, as older versions wrote it) is still opened, bound to nothing.
**
** The ad of a value is a tuple of strings, each a 4-byte big-endian length
** then its bytes (rt_seal_ad), so that no two tuples share an encoding
** ("ab","c" is not "a","bc"). */
void rt_seal_ad(rt_buf *out, const char *const *fields, size_t n);

/* value sealed in format 2 with ad (adlen bytes): a new string, or NULL
** when the cipher or random bytes are unavailable. */
char *rt_seal(const uint8_t key[32], const void *ad, size_t adlen, const char *value);
/* The value sealed by rt_seal with the same key and ad (format 1: any ad):
** a new string, or NULL when the key, the ad or the text is wrong (the tag
** catches all three) or the text is not sealed. *version is the format the
** text claims (1 or 2), or 0 when it is not a sealed text at all. */
char *rt_unseal(const uint8_t key[32], const void *ad, size_t adlen, const char *sealed, int *version);

#endif
