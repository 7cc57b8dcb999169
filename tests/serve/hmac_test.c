/*
** tests/serve/hmac_test.c — SHA-256 and HMAC-SHA256 against published
** vectors (FIPS 180-4 examples, RFC 4231). Prints PASS/FAIL lines.
*/
#include <stdio.h>
#include <string.h>

#include "rt_crypto.h"

static int failures;

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *name, const uint8_t mac[32], const char *want)
{
    char got[65];
    hex(mac, got);
    bool ok = strcmp(got, want) == 0 && rt_hmac_equal_hex(mac, want);
    if (ok) printf("PASS: hmac %s\n", name);
    else printf("FAIL: hmac %s: got %s, want %s\n", name, got, want);
    failures += !ok;
}

int main(void)
{
    uint8_t d[32];
    rt_sha256("abc", 3, d);
    check("sha256 'abc'", d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    rt_sha256("", 0, d);
    check("sha256 empty", d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rt_sha256(m, strlen(m), d);
    check("sha256 two blocks", d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    static char million[1000000];
    memset(million, 'a', sizeof million);
    rt_sha256(million, sizeof million, d);
    check("sha256 a million a's", d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    rt_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    check("RFC 4231 case 2", d, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    rt_hmac_sha256(key, sizeof key, msg, strlen(msg), d);
    check("RFC 4231 case 6 (long key)", d, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    bool bad = rt_hmac_equal_hex(d, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f55") ||
               rt_hmac_equal_hex(d, "60e4") || rt_hmac_equal_hex(d, NULL);
    printf("%s: hmac a wrong or short signature does not match\n", bad ? "FAIL" : "PASS");
    failures += bad;
    return failures ? 1 : 0;
}
