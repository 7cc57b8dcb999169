/*
** rt_users.c — [services] connected users: their records and sealed
** secrets, and the store key that seals them (rt_users.h).
**
** A sealed secret is "cp2:NONCE:CIPHERTEXT:TAG" (hex): ChaCha20-Poly1305
** (RFC 8439, OpenSSL's libcrypto) under the store key with a random 96-bit
** nonce, bound to its user and name by the associated data (secret_ad);
** the tag refuses a wrong key, a changed text, and a value copied into
** another user's record or under another name. Values of format 1 ("cp1:",
** no associated data) still open, and are re-sealed in format 2 the first
** time they are. The user record also keeps the key's id (a hash of the
** key), so a store opened with another key says so instead of handing an
** API nothing.
*/
#include "rt_users.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_crypto.h"
#include "rt_log.h"
#include "rt_type.h"
#include "rt_util.h"

/* ---- the store key ------------------------------------------------------ */

/* The users whose records hold sealed secrets ("alice, bob"): a new string,
** or NULL when none does. */
static char *users_with_secrets(rt_store *st)
{
    json_t *all = rt_store_list_users(st);
    rt_buf b = { 0 };
    size_t i;
    json_t *u;
    json_array_foreach(all, i, u) {
        if (!json_object_size(json_object_get(u, "secrets"))) continue;
        rt_buf_printf(&b, "%s%s", b.len ? ", " : "", json_string_value(json_object_get(u, "id")));
    }
    json_decref(all);
    return b.data;
}

/* Writes a new key to path without a window where it is half written: a
** temporary file (0600) written and fsync'ed, then linked to path (link,
** unlike rename, never replaces a key another process made meanwhile:
** EEXIST), and the directory fsync'ed so the name survives a crash. */
static int write_key_file(const char *dir, const char *path, const uint8_t key[32])
{
    char tmp[4200], text[80];
    snprintf(tmp, sizeof tmp, "%s/secrets.key.%d.tmp", dir, (int)getpid());
    unlink(tmp);                        /* a dead process's leftover with our pid (never O_TRUNC: it may be a link) */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    rt_hex_encode(key, 32, text);
    strcat(text, "\n");
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
    int e = ok ? 0 : errno ? errno : EIO;
    close(fd);
    memset(text, 0, sizeof text);
    if (ok && link(tmp, path) != 0) e = errno;
    unlink(tmp);
    if (e) return e;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Loads (or, with create, makes) the key; false with a message. A missing
** key file is a new key only while no user has sealed secrets: otherwise
** the key that sealed them is lost, and a new one would hide that. */
bool rt_users_store_key(rt_store *st, const char *state_dir, bool create, uint8_t key[32], char *err, size_t n)
{
    const char *env = getenv("FLOW_SECRETS_KEY");
    if (env && *env) {
        if (rt_hex_decode(env, strlen(env), key, 32)) return true;
        snprintf(err, n, "FLOW_SECRETS_KEY must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`");
        return false;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/secrets.key", state_dir);
    char text[80] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = '\0';
        while (got && (text[got - 1] == '\n' || text[got - 1] == '\r')) text[--got] = '\0';
        bool ok = rt_hex_decode(text, got, key, 32);
        memset(text, 0, sizeof text);
        if (ok) return true;
        snprintf(err, n, "%s is not a key (64 hex digits; it has %zu bytes): restore it from a backup", path, got);
        return false;
    }
    if (errno != ENOENT) {
        snprintf(err, n, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    char *holders = st ? users_with_secrets(st) : NULL;
    if (holders) {
        snprintf(err, n, "%s is missing, but the secrets of users %.300s were sealed with the key it held: restore "
                 "it from a backup (or set FLOW_SECRETS_KEY to that key); a new key would leave them unreadable",
                 path, holders);
        free(holders);
        return false;
    }
    if (!create) {
        snprintf(err, n, "no key to open stored secrets (%s is missing and FLOW_SECRETS_KEY is not set)", path);
        return false;
    }
    if (!rt_random_bytes(key, 32)) {
        snprintf(err, n, "cannot get random bytes for a key: %s", strerror(errno));
        return false;
    }
    int e = write_key_file(state_dir, path, key);
    if (e == EEXIST) return rt_users_store_key(st, state_dir, false, key, err, n);     /* another process made it first */
    if (e) snprintf(err, n, "cannot create %s: %s", path, strerror(e));
    return e == 0;
}

/* The key's id kept with each user: which key sealed the secrets. */
void rt_users_key_id(const uint8_t key[32], char out[17])
{
    uint8_t h[32], in[32 + 16];
    memcpy(in, "flowc key id\0\0\0\0", 16);
    memcpy(in + 16, key, 32);
    rt_sha256(in, sizeof in, h);
    rt_hex_encode(h, 8, out);
}

/* The key that opens (with create: will seal) rec's secrets, and its id;
** false with a message when there is none, or when rec's secrets were
** sealed with another key. */
static bool user_key(rt_store *st, const char *state_dir, const json_t *rec, bool create, uint8_t key[32],
                     char kid[17], char *err, size_t n)
{
    if (!rt_users_store_key(st, state_dir, create, key, err, n)) return false;
    rt_users_key_id(key, kid);
    const char *want = json_string_value(json_object_get(rec, "key_id"));
    if (want && strcmp(want, kid) != 0 && json_object_size(json_object_get(rec, "secrets"))) {
        snprintf(err, n, "user %s's secrets were sealed with another key (key id %s; this one is %s)",
                 json_string_value(json_object_get(rec, "id")), want, kid);
        memset(key, 0, 32);
        return false;
    }
    return true;
}

/* ---- sealed secrets ----------------------------------------------------- */

/* A user's secret is sealed (format 2, rt_crypto.h) with the associated
** data (context, user, scope, name): it opens only in the record of the
** user it was sealed for, under the name it was sealed as. The scope is
** "" for the secrets a user holds for every workflow of the state; a
** per-integration connection will seal under its own context with the
** integration as scope, so that none of these opens as another. */
#define SECRET_CONTEXT "flowc user secret"
void rt_users_secret_ad(rt_buf *ad, const char *user, const char *name)
{
    const char *fields[] = { SECRET_CONTEXT, user, "", name };
    rt_seal_ad(ad, fields, sizeof fields / sizeof fields[0]);
}

/* Why user's secret name (whose text claims format version) did not open. */
static void unseal_error(char *err, size_t n, const char *user, const char *name, int version)
{
    const char *why = version == 2 ? "it was not sealed for this user and secret (a value copied from another "
                                     "record?) or its sealed text was changed"
                      : version == 1 ? "its sealed text (format 1) was changed"
                                     : "its stored text is not a sealed value";
    snprintf(err, n, "user %s's secret '%s' cannot be opened: %s; set it again (`users set %s --secret %s=...`)", user,
             name, why, user, name);
}

/* Format-1 values re-sealed in format 2: name -> [old text, new text]. */
static bool apply_reseal(json_t *rec, void *arg)
{
    json_t *sealed = json_object_get(rec, "secrets");
    bool any = false;
    const char *name;
    json_t *pair;
    json_object_foreach((json_t *)arg, name, pair) {
        const char *now = json_string_value(json_object_get(sealed, name));
        if (!now || strcmp(now, json_string_value(json_array_get(pair, 0))) != 0) continue;    /* set meanwhile */
        json_object_set(sealed, name, json_array_get(pair, 1));
        any = true;
    }
    return any && !rt_store_damaged(rec);
}

json_t *rt_users_secrets(rt_store *st, const char *state_dir, const json_t *user_rec, char *err, size_t n)
{
    const char *user = json_string_value(json_object_get(user_rec, "id"));
    if (rt_store_damaged(user_rec)) {
        snprintf(err, n, "user %s's record cannot be read: %s", user, rt_store_damaged(user_rec));
        return NULL;
    }
    json_t *sealed = json_object_get(user_rec, "secrets");
    json_t *out = json_object();
    if (!json_object_size(sealed)) return out;
    uint8_t key[32];
    char kid[17];
    if (!user_key(st, state_dir, user_rec, false, key, kid, err, n)) {
        json_decref(out);
        return NULL;
    }
    json_t *reseal = json_object();
    rt_buf ad = { 0 };
    const char *name;
    json_t *v;
    json_object_foreach(sealed, name, v) {
        rt_users_secret_ad(&ad, user, name);
        int version;
        char *plain = rt_unseal(key, ad.data, ad.len, json_string_value(v), &version);
        if (!plain) {
            unseal_error(err, n, user, name, version);
            json_decref(out);
            out = NULL;
            break;
        }
        rt_redact_add(plain);
        if (version == 1) {             /* bound to nothing: bind it now */
            char *fresh = rt_seal(key, ad.data, ad.len, plain);
            if (fresh) json_object_set_new(reseal, name, json_pack("[s, s]", json_string_value(v), fresh));
            free(fresh);
        }
        json_object_set_new(out, name, json_stringn_nocheck(plain, strlen(plain)));   /* its bytes, UTF-8 or not: never dropped */
        memset(plain, 0, strlen(plain));
        free(plain);
    }
    memset(key, 0, sizeof key);
    rt_buf_free(&ad);
    size_t nr = json_object_size(reseal);
    if (out && nr && st && !rt_store_is_readonly(st)) {
        char why[400];
        if (rt_store_update_user(st, user, apply_reseal, reseal, why, sizeof why))
            rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:I}", "event", "secrets_resealed", "user", user, "count",
                                                (json_int_t)nr),
                        "user %s: %zu secret%s re-sealed in the current format (bound to the user and its name)", user,
                        nr, nr == 1 ? "" : "s");
        else
            rt_log_emit(NULL, "warning", NULL, "user %s's secrets in the old sealed format stay so: %s", user, why);
    }
    json_decref(reseal);
    return out;
}

/* rt_users_store_secrets: seals values into the record read in the write
** transaction, so a concurrent change of another secret is kept. */
typedef struct seal_job {
    const uint8_t *key;
    const char *kid;
    const char *user;
    const json_t *values;
    char *err;
    size_t n;
} seal_job;

static bool seal_into(json_t *rec, void *arg)
{
    seal_job *j = arg;
    j->err[0] = 0;
    if (!rec || rt_store_damaged(rec)) {
        snprintf(j->err, j->n, "user %s is not stored any more%s", j->user, rec ? " (its record is damaged)" : "");
        return false;
    }
    const char *had = json_string_value(json_object_get(rec, "key_id"));
    json_t *sealed = json_object_get(rec, "secrets");
    if (had && strcmp(had, j->kid) != 0 && json_object_size(sealed)) {
        snprintf(j->err, j->n, "user %s's secrets were sealed with another key (key id %s; this one is %s)", j->user,
                 had, j->kid);
        return false;
    }
    if (!json_is_object(sealed)) json_object_set_new(rec, "secrets", sealed = json_object());
    rt_buf ad = { 0 };
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)j->values, name, v) {
        rt_users_secret_ad(&ad, j->user, name);
        char *s = json_is_string(v) ? rt_seal(j->key, ad.data, ad.len, json_string_value(v)) : NULL;
        if (!s) {
            snprintf(j->err, j->n, "cannot seal secret '%s'", name);
            break;
        }
        json_object_set_new(sealed, name, json_string(s));
        free(s);
    }
    rt_buf_free(&ad);
    json_object_set_new(rec, "key_id", json_string(j->kid));
    json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
    return !j->err[0];
}

bool rt_users_store_secrets(rt_store *st, const char *state_dir, const char *user, const json_t *values, char *err,
                            size_t n)
{
    json_t *rec = rt_store_get_user(st, user);
    if (!rec || rt_store_damaged(rec)) {
        snprintf(err, n, "user %s is not stored any more%s", user, rec ? " (its record is damaged)" : "");
        json_decref(rec);
        return false;
    }
    uint8_t key[32];
    char kid[17];
    bool ok = user_key(st, state_dir, rec, true, key, kid, err, n);
    json_decref(rec);
    if (ok) {
        seal_job j = { key, kid, user, values, err, n };
        char werr[400];
        ok = rt_store_update_user(st, user, seal_into, &j, werr, sizeof werr);
        if (ok && err[0]) ok = false;                   /* refused by seal_into: err says why */
        else if (!ok) snprintf(err, n, "%s", werr);
    }
    memset(key, 0, sizeof key);
    return ok;
}

/* ---- user records ------------------------------------------------------- */

json_t *rt_users_get_enabled(rt_store *st, const rt_workflow *wf, const char *user, char *err, size_t n)
{
    json_t *rec = rt_store_get_user(st, user);
    if (!rec) {
        snprintf(err, n, "unknown user '%s' (add it with `%s users set %s --settings FILE`)", user, wf->name, user);
        return NULL;
    }
    if (rt_store_damaged(rec)) {
        snprintf(err, n, "user '%s''s record cannot be read (%s): restore the state from a backup, or store the user "
                 "again with `%s users set %s --settings FILE --secret ...`", user, rt_store_damaged(rec), wf->name,
                 user);
        json_decref(rec);
        return NULL;
    }
    if (!json_is_true(json_object_get(rec, "enabled"))) {
        snprintf(err, n, "user '%s' is disabled (`%s users enable %s` enables it)", user, wf->name, user);
        json_decref(rec);
        return NULL;
    }
    return rec;
}
