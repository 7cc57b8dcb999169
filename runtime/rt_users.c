/*
** rt_users.c — connected users: their settings and sealed secrets, and the
** `users` commands (rt_users.h).
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
static bool store_key(rt_store *st, const char *state_dir, bool create, uint8_t key[32], char *err, size_t n)
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
    if (e == EEXIST) return store_key(st, state_dir, false, key, err, n);     /* another process made it first */
    if (e) snprintf(err, n, "cannot create %s: %s", path, strerror(e));
    return e == 0;
}

/* The key's id kept with each user: which key sealed the secrets. */
static void key_id(const uint8_t key[32], char out[17])
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
    if (!store_key(st, state_dir, create, key, err, n)) return false;
    key_id(key, kid);
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
static void secret_ad(rt_buf *ad, const char *user, const char *name)
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
        secret_ad(&ad, user, name);
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
        secret_ad(&ad, j->user, name);
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

static bool valid_user_id(const char *u)
{
    if (!*u || strlen(u) > 200) return false;
    for (const char *p = u; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-.@+:", *p)) return false;
    return true;
}

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

static bool declared_secret(const rt_workflow *wf, const char *name)
{
    for (int i = 0; i < wf->nsecrets; i++)
        if (strcmp(wf->secrets[i], name) == 0) return true;
    return false;
}

/* Reads a secret value from FILE (trailing newlines dropped): new string. */
static char *read_secret_file(const char *path, char *err, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, n, "cannot read secret file %s: %s", path, strerror(errno));
        return NULL;
    }
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) rt_buf_append(&b, chunk, got);
    fclose(f);
    memset(chunk, 0, sizeof chunk);
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r')) b.data[--b.len] = '\0';
    return rt_buf_take(&b);
}

/* What `show`/`list` print for a user: secrets as <set>. NEW reference. */
static json_t *user_view(const rt_workflow *wf, const json_t *rec)
{
    json_t *settings = json_object_get(rec, "settings");     /* none in a damaged record's stand-in */
    json_t *v = json_pack("{s:O, s:b, s:o}", "id", json_object_get(rec, "id"), "enabled",
                          json_is_true(json_object_get(rec, "enabled")), "settings",
                          settings ? json_incref(settings) : json_object());
    json_t *sec = json_object();
    json_t *sealed = json_object_get(rec, "secrets");
    for (int i = 0; i < wf->nsecrets; i++)
        json_object_set_new(sec, wf->secrets[i], json_string(json_object_get(sealed, wf->secrets[i]) ? "<set>" : "<not set>"));
    const char *k;
    json_t *x;
    json_object_foreach(sealed, k, x) if (!json_object_get(sec, k)) json_object_set_new(sec, k, json_string("<set>"));
    json_object_set_new(v, "secrets", sec);
    if (rt_store_damaged(rec)) json_object_set_new(v, "damaged", json_string(rt_store_damaged(rec)));
    static const char *const keys[] = { "created", "updated", "enabled_run" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(rec, keys[i])) json_object_set(v, keys[i], json_object_get(rec, keys[i]));
    return v;
}

static void print_user(const rt_workflow *wf, const json_t *rec, bool json)
{
    json_t *v = user_view(wf, rec);
    if (json) {
        char *t = rt_json_dump(v, 2, false);
        printf("%s\n", t);
        free(t);
    } else {
        printf("user      %s\n", json_string_value(json_object_get(v, "id")));
        printf("enabled   %s\n", json_is_true(json_object_get(v, "enabled")) ? "yes" : "no");
        printf("settings\n");
        const char *k;
        json_t *x;
        json_object_foreach(json_object_get(v, "settings"), k, x) {
            char *t = rt_json_dump(x, 0, false);
            printf("  %-20s %s\n", k, t);
            free(t);
        }
        printf("secrets\n");
        json_object_foreach(json_object_get(v, "secrets"), k, x) printf("  %-20s %s\n", k, json_string_value(x));
        if (json_object_get(v, "damaged"))
            printf("record    unreadable: %s\n", json_string_value(json_object_get(v, "damaged")));
        if (json_object_get(v, "enabled_run"))
            printf("enabled run %s\n", json_string_value(json_object_get(v, "enabled_run")));
    }
    json_decref(v);
}

/* `trigger enabled`: the run a user's enabling starts, executed here. */
static int run_enabled(const rt_workflow *wf, const rt_cli_opts *o, rt_store *st, json_t *urec)
{
    const char *user = json_string_value(json_object_get(urec, "id"));
    char err[512];
    json_t *settings = rt_cli_settings(wf, json_object_get(urec, "settings"), NULL, err, sizeof err);
    if (!settings) {
        rt_log_emit(NULL, "info", NULL, "user %s is enabled but %s: no enabled run yet", user, err);
        return RT_EXIT_OK;
    }
    json_t *payload = json_pack("{s:s}", "user", user);
    json_t *rec = rt_cli_new_run(wf, user, payload, settings, "enabled");
    json_decref(payload);
    json_decref(settings);
    json_object_set(urec, "enabled_run", json_object_get(rec, "id"));
    if (!rt_store_put_user(st, user, urec, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        json_decref(rec);
        return RT_EXIT_FAILED;
    }
    rt_log_emit(json_string_value(json_object_get(rec, "id")), "info",
                json_pack("{s:s, s:s}", "event", "enabled_run", "user", user),
                "user %s enabled: running the workflow (trigger enabled)", user);
    rt_outcome out = rt_cli_execute(wf, st, rec, o, true);
    return rt_cli_exit_code(out);
}

static int users_set(const rt_workflow *wf, const rt_cli_opts *o, rt_store *st)
{
    char err[1024], buf[4096];
    const char *user = o->arg;
    json_t *old = rt_store_get_user(st, user);
    if (rt_store_damaged(old)) {        /* `users set` is how a damaged record is replaced */
        rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "damaged_record", "user", user),
                    "user %s's stored record cannot be read (%s): it is replaced by the one given now", user,
                    rt_store_damaged(old));
        json_decref(old);
        old = NULL;
    }
    int64_t now = rt_now_ms();
    json_t *rec = old ? json_deep_copy(old) : json_pack("{s:s, s:b, s:{}, s:{}, s:I}", "id", user, "enabled",
                                                        !o->disabled, "settings", "secrets", "created", (json_int_t)now);
    if (o->disabled) {
        json_object_set_new(rec, "enabled", json_false());
        json_object_del(rec, "enabled_run");
    }
    /* settings: stored ones, overridden by the file (read once: it may be a pipe) */
    json_t *given = NULL;
    if (o->settings && !(given = rt_cli_read_json_file(o->settings, "settings", err, sizeof err))) goto usage;
    char where[600];
    snprintf(where, sizeof where, " %s", o->settings ? o->settings : "");
    /* names and types are checked; required settings may come later (the
    ** user is connected first; `trigger enabled` waits for them) */
    json_t *full = rt_cli_settings_of(wf, json_object_get(rec, "settings"), given, where, false, err, sizeof err);
    if (!full) {
        json_decref(given);
        goto usage;
    }
    json_decref(full);
    json_t *merged = json_deep_copy(json_object_get(rec, "settings"));
    if (given) json_object_update(merged, given);
    json_decref(given);
    /* store what was given, not the defaults: a later default change applies */
    json_object_set_new(rec, "settings", merged);

    bool any_secret = false;
    uint8_t key[32];
    for (int i = 0; i < o->nsecret_args; i++) {
        const char *a = o->secret_args[i], *eq = strchr(a, '=');
        if (!eq || eq == a) {
            snprintf(err, sizeof err, "--secret takes NAME=VALUE or NAME=@FILE, not '%.*s...'", (int)(eq ? eq - a : 0), a);
            goto usage;
        }
        char *name = rt_xstrndup(a, (size_t)(eq - a));
        if (!declared_secret(wf, name)) {
            rt_buf names = { 0 };
            rt_buf_append(&names, "", 0);
            for (int k = 0; k < wf->nsecrets; k++) rt_buf_printf(&names, "%s%s", k ? ", " : "", wf->secrets[k]);
            snprintf(err, sizeof err, "unknown secret '%s' (the workflow's secrets: %s)", name,
                     wf->nsecrets ? names.data : "none");
            rt_buf_free(&names);
            free(name);
            goto usage;
        }
        char *value = eq[1] == '@' ? read_secret_file(eq + 2, err, sizeof err) : rt_xstrdup(eq + 1);
        if (!value) {
            free(name);
            goto usage;
        }
        if (!*value) {
            json_object_del(json_object_get(rec, "secrets"), name);     /* NAME= removes it */
        } else {
            if (!any_secret && !store_key(st, rt_users_state_dir(wf, o, buf, sizeof buf), true, key, err, sizeof err)) {
                free(value);
                free(name);
                goto usage;
            }
            any_secret = true;
            rt_redact_add(value);
            rt_buf ad = { 0 };
            secret_ad(&ad, user, name);
            char *sealed = rt_seal(key, ad.data, ad.len, value);
            rt_buf_free(&ad);
            if (!sealed) {
                snprintf(err, sizeof err, "cannot seal secret '%s': no cipher or no random bytes", name);
                memset(value, 0, strlen(value));
                free(value);
                free(name);
                goto usage;
            }
            json_object_set_new(json_object_get(rec, "secrets"), name, json_string(sealed));
            free(sealed);
        }
        memset(value, 0, strlen(value));
        free(value);
        free(name);
    }
    if (any_secret) {
        char kid[17];
        key_id(key, kid);
        const char *had = json_string_value(json_object_get(rec, "key_id"));
        if (had && strcmp(had, kid) != 0 && json_object_size(json_object_get(rec, "secrets")) > (size_t)o->nsecret_args) {
            snprintf(err, sizeof err, "user %s has secrets sealed with another key (key id %s): set all of them again",
                     user, had);
            memset(key, 0, sizeof key);
            goto usage;
        }
        json_object_set_new(rec, "key_id", json_string(kid));
        memset(key, 0, sizeof key);
    }
    json_object_set_new(rec, "updated", json_integer(now));
    if (!rt_store_put_user(st, user, rec, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        json_decref(rec);
        json_decref(old);
        return RT_EXIT_FAILED;
    }
    bool enabled = json_is_true(json_object_get(rec, "enabled"));
    rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:b}", "event", old ? "user_updated" : "user_added", "user", user,
                                        "enabled", enabled),
                "user %s %s (%s)", user, old ? "updated" : "added", enabled ? "enabled" : "disabled");
    json_t *complete = rt_cli_settings(wf, json_object_get(rec, "settings"), NULL, err, sizeof err);
    if (!complete)
        rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "settings_missing", "user", user),
                    "user %s cannot run yet: %s", user, err);
    json_decref(complete);
    int rc = RT_EXIT_OK;
    if (wf->trigger == RT_TRIG_ENABLED && enabled && !json_object_get(rec, "enabled_run")) run_enabled(wf, o, st, rec);
    json_decref(rec);
    json_decref(old);
    return rc;
usage:
    fprintf(stderr, "%s: users set %s: %s (nothing was stored)\n", wf->name, user, err);
    json_decref(rec);
    json_decref(old);
    return RT_EXIT_USAGE;
}

int rt_users_cmd(const rt_workflow *wf, const rt_cli_opts *o)
{
    const char *sub = o->sub;
    if (!sub) return rt_cli_usage_error(wf, "%s", "users needs a command: set, enable, disable, list, show, remove");
    bool list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "set") != 0 && strcmp(sub, "enable") != 0 && strcmp(sub, "disable") != 0 &&
        strcmp(sub, "show") != 0 && strcmp(sub, "remove") != 0)
        return rt_cli_usage_error(wf, "unknown users command '%s' (set, enable, disable, list, show, remove)", sub);
    if (list && o->arg) return rt_cli_usage_error(wf, "users list takes no USER ('%s')", o->arg);
    if (!list && !o->arg) return rt_cli_usage_error(wf, "users %s needs a USER", sub);
    if (!list && !valid_user_id(o->arg))
        return rt_cli_usage_error(wf, "a user id is letters, digits and _-.@+: (at most 200), not '%s'", o->arg);
    if (strcmp(sub, "set") != 0 && (o->settings || o->nsecret_args || o->disabled))
        return rt_cli_usage_error(wf, "--settings, --secret and --disabled go with `users set`, not `users %s`", sub);
    bool reads = list || strcmp(sub, "show") == 0;    /* a read-only state (a backup) lists its users */
    rt_store *st = reads ? rt_cli_open_store_reader(wf, o) : rt_cli_open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    int rc = RT_EXIT_OK;
    char err[512];
    if (strcmp(sub, "set") == 0) {
        rc = users_set(wf, o, st);
    } else if (list) {
        json_t *all = rt_store_list_users(st);
        if (o->json) {
            json_t *views = json_array();
            size_t i;
            json_t *u;
            json_array_foreach(all, i, u) json_array_append_new(views, user_view(wf, u));
            char *t = rt_json_dump(views, 2, false);
            printf("%s\n", t);
            free(t);
            json_decref(views);
        } else {
            printf("%-24s %-8s %-40s %s\n", "USER", "ENABLED", "SETTINGS", "SECRETS");
            size_t i;
            json_t *u;
            json_array_foreach(all, i, u) {
                json_t *v = user_view(wf, u);
                char *s = rt_json_dump(json_object_get(v, "settings"), 0, false);
                rt_buf b = { 0 };
                rt_buf_append(&b, "", 0);
                const char *k;
                json_t *x;
                json_object_foreach(json_object_get(v, "secrets"), k, x)
                    rt_buf_printf(&b, "%s%s=%s", b.len ? " " : "", k, json_string_value(x));
                if (json_object_get(v, "damaged"))
                    rt_buf_printf(&b, "%srecord unreadable: %s", b.len ? " " : "",
                                  json_string_value(json_object_get(v, "damaged")));
                printf("%-24s %-8s %-40.40s %s\n", json_string_value(json_object_get(v, "id")),
                       json_is_true(json_object_get(v, "enabled")) ? "yes" : "no", s, b.data);
                free(s);
                rt_buf_free(&b);
                json_decref(v);
            }
        }
        json_decref(all);
    } else {
        json_t *rec = rt_store_get_user(st, o->arg);
        if (!rec) {
            fprintf(stderr, "%s: unknown user '%s' (see `%s users list`)\n", wf->name, o->arg, wf->name);
            rt_store_close(st);
            return RT_EXIT_USAGE;
        }
        if (strcmp(sub, "show") == 0) {
            print_user(wf, rec, o->json);
            if (rt_store_damaged(rec)) rc = RT_EXIT_USAGE;
        } else if (strcmp(sub, "remove") == 0) {
            if (!rt_store_put_user(st, o->arg, NULL, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", wf->name, err);
                rc = RT_EXIT_FAILED;
            } else {
                rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", "user_removed", "user", o->arg),
                            "user %s removed (their runs stay in the history)", o->arg);
            }
        } else if (rt_store_damaged(rec)) {
            fprintf(stderr, "%s: user %s's record cannot be read (%s): `%s users set %s ...` replaces it, `%s users "
                    "remove %s` removes it\n", wf->name, o->arg, rt_store_damaged(rec), wf->name, o->arg, wf->name,
                    o->arg);
            rc = RT_EXIT_USAGE;
        } else {
            bool enable = strcmp(sub, "enable") == 0;
            bool was = json_is_true(json_object_get(rec, "enabled"));
            json_object_set_new(rec, "enabled", json_boolean(enable));
            json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
            if (!enable) json_object_del(rec, "enabled_run");  /* enabling again runs again */
            if (was == enable) {
                rt_log_emit(NULL, "info", NULL, "user %s is already %s", o->arg, enable ? "enabled" : "disabled");
            } else if (!rt_store_put_user(st, o->arg, rec, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", wf->name, err);
                rc = RT_EXIT_FAILED;
            } else {
                rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", enable ? "user_enabled" : "user_disabled",
                                                    "user", o->arg),
                            "user %s %s", o->arg, enable ? "enabled" : "disabled");
                if (enable && wf->trigger == RT_TRIG_ENABLED && !json_object_get(rec, "enabled_run"))
                    run_enabled(wf, o, st, rec);
            }
        }
        json_decref(rec);
    }
    rt_store_close(st);
    return rc;
}
