/*
** statetool.c — what tests/state needs to reach into a job's state the way
** a fault or an attacker would, with nothing of the runtime in it:
**
**   statetool get DIR DB KEY          the raw value of KEY in named database DB
**                                     (in KEY, the two characters \0 are a NUL
**                                     byte, as rt_store.h writes keys)
**   statetool put DIR DB KEY VALUE    stores VALUE as is (VALUE "-": stdin)
**   statetool seal1 KEYHEX VALUE      VALUE sealed in format 1 ("cp1:", what
**                                     versions before 2 wrote: ChaCha20-Poly1305,
**                                     no associated data), from OpenSSL directly
**
** Exit 0, or 1 with a message on stderr.
*/
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what, const char *why)
{
    fprintf(stderr, "statetool: %s: %s\n", what, why);
    return 1;
}

/* KEY with each "\0" turned into a NUL byte, in buf: its length. */
static size_t unescape(const char *key, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *p = key; *p && n < cap; p++) {
        if (p[0] == '\\' && p[1] == '0') {
            buf[n++] = 0;
            p++;
        } else {
            buf[n++] = *p;
        }
    }
    return n;
}

/* Opens DIR and DB in a transaction (read-only unless write). */
static int open_db(const char *dir, const char *db, int write, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
    int rc = mdb_env_create(env);
    if (rc == 0) rc = mdb_env_set_maxdbs(*env, 16);
    if (rc == 0) rc = mdb_env_open(*env, dir, 0, 0600);
    if (rc == 0) rc = mdb_txn_begin(*env, NULL, write ? 0 : MDB_RDONLY, txn);
    if (rc == 0) rc = mdb_dbi_open(*txn, db, 0, dbi);
    return rc;
}

static int get(const char *dir, const char *db, const char *key)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = open_db(dir, db, 0, &env, &txn, &dbi);
    char kb[1024];
    MDB_val k = { unescape(key, kb, sizeof kb), kb }, v;
    if (rc == 0) rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0) fwrite(v.mv_data, 1, v.mv_size, stdout);
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    return rc ? die(key, mdb_strerror(rc)) : 0;
}

static int put(const char *dir, const char *db, const char *key, const char *value)
{
    char buf[1 << 16];
    if (strcmp(value, "-") == 0) {
        size_t n = fread(buf, 1, sizeof buf - 1, stdin);
        buf[n] = 0;
        value = buf;
    }
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = open_db(dir, db, 1, &env, &txn, &dbi);
    char kb[1024];
    MDB_val k = { unescape(key, kb, sizeof kb), kb }, v = { strlen(value), (void *)value };
    if (rc == 0) rc = mdb_put(txn, dbi, &k, &v, 0);
    if (rc == 0) rc = mdb_txn_commit(txn);
    else if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    return rc ? die(key, mdb_strerror(rc)) : 0;
}

static void hex(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static int seal1(const char *keyhex, const char *value)
{
    unsigned char key[32], nonce[12], tag[16];
    if (strlen(keyhex) != 64) return die("seal1", "the key is 64 hex digits");
    for (int i = 0; i < 32; i++) {
        unsigned x;
        if (sscanf(keyhex + 2 * i, "%2x", &x) != 1) return die("seal1", "the key is 64 hex digits");
        key[i] = (unsigned char)x;
    }
    FILE *r = fopen("/dev/urandom", "r");
    if (!r || fread(nonce, 1, sizeof nonce, r) != sizeof nonce) return die("seal1", "no random bytes");
    fclose(r);
    int n = (int)strlen(value), len = 0, fin = 0;
    unsigned char *out = malloc((size_t)n + 16);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
             EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) && EVP_EncryptUpdate(ctx, out, &len, (const unsigned char *)value, n) &&
             EVP_EncryptFinal_ex(ctx, out + len, &fin) && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(ctx);
    if (ok) {
        printf("cp1:");
        hex(nonce, sizeof nonce);
        printf(":");
        hex(out, (size_t)n);
        printf(":");
        hex(tag, sizeof tag);
        printf("\n");
    }
    free(out);
    return ok ? 0 : die("seal1", "the cipher failed");
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "get") == 0) return get(argv[2], argv[3], argv[4]);
    if (argc == 6 && strcmp(argv[1], "put") == 0) return put(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 4 && strcmp(argv[1], "seal1") == 0) return seal1(argv[2], argv[3]);
    fprintf(stderr, "usage: statetool get DIR DB KEY | put DIR DB KEY VALUE | seal1 KEYHEX VALUE\n");
    return 2;
}
