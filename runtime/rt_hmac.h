/*
** rt_hmac.h — SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), for the
** signatures `serve` accepts on webhook bodies instead of a bearer token.
*/
#ifndef RT_HMAC_H
#define RT_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void rt_sha256(const void *data, size_t n, uint8_t out[32]);
void rt_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32]);

/* Whether hex (64 hex digits, any case) is mac, compared in constant time. */
bool rt_hmac_equal_hex(const uint8_t mac[32], const char *hex);

#endif
