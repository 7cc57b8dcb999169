/*
** rt_secrets.c — [services] secrets in one place (rt_secrets.h): the store
** key, users' secrets sealed and opened, what a run resolves a secret to,
** and the redaction set that holds the run's secrets.
**
** A sealed secret is "cp2:NONCE:CIPHERTEXT:TAG" (hex): ChaCha20-Poly1305
** (RFC 8439, OpenSSL's libcrypto) under the store key with a random 96-bit
** nonce, bound to its user and name by the associated data (rt_secrets_ad);
** the tag refuses a wrong key, a changed text, and a value copied into
** another user's record or under another name. Values of format 1 ("cp1:",
** no associated data) still open, and are re-sealed in format 2 the first
** time they are. The user record also keeps the key's id (a hash of the
** key), so a store opened with another key says so instead of handing an
** API nothing.
*/
#include "rt_secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_crypto.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_util.h"

/* ---- the store key ------------------------------------------------------ */

bool rt_secrets_sealed_any(const json_t *user_rec)
{
    bool any = json_object_size(json_object_get(user_rec, "secrets")) > 0;
    const char *integ;
    json_t *conn;
    json_object_foreach(json_object_get(user_rec, "connections"), integ, conn)
        any |= json_object_size(json_object_get(conn, "secrets")) > 0;   /* a project's connections (rt_host_conn.c) */
    return any;
}

/* The users whose records hold sealed secrets ("alice, bob"): a new string,
** or NULL when none does. */
static char *users_with_secrets(rt_store *st)
{
    json_t *all = rt_store_list_users(st);
    rt_buf b = { 0 };
    size_t i;
    json_t *u;
    json_array_foreach(all, i, u) {
        if (!rt_secrets_sealed_any(u)) continue;
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
bool rt_secrets_key(rt_store *st, const char *state_dir, bool create, uint8_t key[32], char *err, size_t n)
{
    const char *env = getenv("FLOW_SECRETS_KEY");
    if (env && *env) {
        if (rt_hex_decode(env, strlen(env), key, 32)) return true;
        snprintf(err, n, "FLOW_SECRETS_KEY must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`");
        return false;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/secrets.key", state_dir);
    char why[600];
    char *text = rt_read_credential(path, "key", why, sizeof why);
    if (text) {
        size_t got = strlen(text);
        bool ok = rt_hex_decode(text, got, key, 32);
        memset(text, 0, got);
        free(text);
        if (ok) return true;
        snprintf(err, n, "%s is not a key (64 hex digits; it has %zu bytes): restore it from a backup", path, got);
        return false;
    }
    if (errno == EINVAL) {          /* empty, too long, a NUL byte */
        snprintf(err, n, "%s is not a key (64 hex digits): %s; restore it from a backup", path, why);
        return false;
    }
    if (errno != ENOENT) {
        snprintf(err, n, "%s", why);
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
    if (e == EEXIST) return rt_secrets_key(st, state_dir, false, key, err, n);     /* another process made it first */
    if (e) snprintf(err, n, "cannot create %s: %s", path, strerror(e));
    return e == 0;
}

/* The key's id kept with each user: which key sealed the secrets. */
void rt_secrets_key_id(const uint8_t key[32], char out[17])
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
    if (!rt_secrets_key(st, state_dir, create, key, err, n)) return false;
    rt_secrets_key_id(key, kid);
    const char *want = json_string_value(json_object_get(rec, "key_id"));
    if (want && strcmp(want, kid) != 0 && rt_secrets_sealed_any(rec)) {
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
void rt_secrets_ad(rt_buf *ad, const char *user, const char *name)
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

json_t *rt_secrets_open_user(rt_store *st, const char *state_dir, const json_t *user_rec, char *err, size_t n)
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
        rt_secrets_ad(&ad, user, name);
        int version;
        char *plain = rt_unseal(key, ad.data, ad.len, json_string_value(v), &version);
        if (!plain) {
            unseal_error(err, n, user, name, version);
            json_decref(out);
            out = NULL;
            break;
        }
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

/* rt_secrets_store_user: seals values into the record read in the write
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
        rt_secrets_ad(&ad, j->user, name);
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

bool rt_secrets_store_user(rt_store *st, const char *state_dir, const char *user, const json_t *values, char *err,
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


/* ---- a run's secrets ------------------------------------------------------ */

struct rt_secrets {
    pthread_mutex_t lock;       /* guards values (an OAuth2 refresh replaces tokens
                                   while fanout items read them) */
    json_t *values;             /* owned: name -> value, the user's opened secrets
                                   (or a test's given ones); never written anywhere */
    char *user;                 /* owned, or NULL: a run without a user */
    char *error;                /* owned, or NULL: why the user's secrets did not open */
    const json_t *env;          /* borrowed: test mode's environment */
    bool test_mode;
    rt_redact_set *redact;      /* owned, or NULL: the set of the thread that reads */
};

/* Registers v in the run's set (or the reading thread's). */
static void remember(rt_secrets *s, const char *v)
{
    if (s->redact) rt_redact_set_add(s->redact, v);
    else rt_redact_add(v);
}

static const char *env_value(const rt_secrets *s, const char *name)
{
    char var[200];
    rt_env_name(var, sizeof var, "FLOW_SECRET_", name, "");
    if (s->test_mode) return json_string_value(json_object_get(s->env, var));
    const char *v = getenv(var);
    return v && *v ? v : NULL;      /* an empty variable is not a credential: the secret is not set */
}

/* The environment's fall-back (FLOW_SECRET_<NAME>; a test's own env lines
** in flowc test): for a run without a user (development) only. A user's
** run never uses the operator's credentials: it has its user's stored
** secrets and connections, or fails naming what is missing (rt_input.c);
** and when they did not open, the run fails before any step (rt_exec.c). */
static bool env_allowed(const rt_secrets *s)
{
    return !s->error && (!s->user || s->test_mode);
}

rt_secrets *rt_secrets_open(const rt_secrets_source *src)
{
    rt_secrets *s = rt_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->user = src->user && *src->user ? rt_xstrdup(src->user) : NULL;
    s->env = src->env;
    s->test_mode = src->test_mode;
    s->redact = src->own_redaction ? rt_redact_set_new() : NULL;
    char err[512] = "";
    if (src->error) {
        s->error = rt_xstrdup(src->error);
    } else if (src->given) {
        s->values = json_deep_copy(src->given);
    } else if (s->user && src->store) {
        json_t *urec = rt_store_get_user(src->store, s->user);
        if (json_object_size(json_object_get(urec, "secrets"))) {
            s->values = rt_secrets_open_user(src->store, src->state_dir, urec, err, sizeof err);
            if (!s->values) s->error = rt_xstrdup(err);
        }
        json_decref(urec);
    }
    const char *k;
    json_t *v;
    json_object_foreach(s->values, k, v) remember(s, json_string_value(v));
    if (env_allowed(s))
        for (int i = 0; i < src->ndeclared; i++) {
            const char *e = env_value(s, src->declared[i]);
            if (e) remember(s, e);
        }
    return s;
}

const char *rt_secrets_error(const rt_secrets *s)
{
    return s ? s->error : NULL;
}

char *rt_secrets_get(rt_secrets *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    const char *v = json_string_value(json_object_get(s->values, name));
    char *copy = v ? rt_xstrdup(v) : NULL;
    pthread_mutex_unlock(&s->lock);
    if (!copy && env_allowed(s) && (v = env_value(s, name))) copy = rt_xstrdup(v);
    /* flowc test: requests are mocked, so a secret the test does not give
    ** (DESIGN's own example leaves out slack_token) reads as a placeholder */
    if (!copy && s->test_mode) copy = rt_xprintf("test-%s", name);
    if (copy) remember(s, copy);
    return copy;
}

void rt_secrets_set(rt_secrets *s, const char *name, const char *value)
{
    remember(s, value);
    pthread_mutex_lock(&s->lock);
    if (!s->values) s->values = json_object();
    json_object_set_new(s->values, name, rt_json_bytes(value));
    pthread_mutex_unlock(&s->lock);
}

void rt_secrets_remember(rt_secrets *s, const char *value)
{
    if (value) remember(s, value);
}

rt_redact_set *rt_secrets_redaction(const rt_secrets *s)
{
    return s ? s->redact : NULL;
}

void rt_secrets_close(rt_secrets *s)
{
    if (!s) return;
    const char *k;
    json_t *v;
    json_object_foreach(s->values, k, v) {
        /* wipe the plaintext (jansson keeps a copy of what we gave it) */
        if (json_is_string(v)) memset((char *)json_string_value(v), 0, json_string_length(v));
    }
    json_decref(s->values);
    rt_redact_set_free(s->redact);
    free(s->user);
    free(s->error);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
