/*
** rt_host_conn.c — [host] connections as stored: sealing (theirs and users'
** own secrets), connect and disconnect, the credentials a user's run
** opens, an OAuth2 refresh stored for every workflow, and the migration of
** earlier records (rt_host_conn.h).
*/
#include "rt_host_conn.h"


#include "rt_crypto.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_type.h"
#include "rt_secrets.h"
#include "rt_url.h"
#include "rt_util.h"

#define CONN_CONTEXT "flowc connection secret"

/* The state's key (rt_secrets_key) and its id. */
static bool host_key(rt_store *st, const char *state_dir, bool create, uint8_t key[32], char kid[17], char *err,
                     size_t n)
{
    if (!rt_secrets_key(st, state_dir, create, key, err, n)) return false;
    rt_secrets_key_id(key, kid);
    return true;
}
#define USER_CONTEXT "flowc user secret"

static void seal_ad(rt_buf *ad, const char *context, const char *user, const char *scope, const char *name)
{
    const char *fields[] = { context, user, scope, name };
    ad->len = 0;
    rt_seal_ad(ad, fields, sizeof fields / sizeof fields[0]);
}

/* ---- sealing ------------------------------------------------------------------------------- */

/* values (name -> string, "" = remove) sealed for (context, user, scope):
** name -> sealed text or null (remove), into *out (NEW). */
static rt_host_rc seal_all(rt_store *st, const char *state_dir, const char *context, const char *user,
                           const char *scope, const json_t *values, json_t **out, char kid[17], char *err, size_t n)
{
    *out = json_object();
    kid[0] = 0;
    bool need_key = false;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)values, name, v) {
        if (!json_is_string(v)) {
            snprintf(err, n, "secret '%s' must be a string", name);
            json_decref(*out);
            *out = NULL;
            return RT_HOST_BAD;
        }
        need_key |= json_string_length(v) > 0;
    }
    uint8_t key[32];
    if (need_key && !host_key(st, state_dir, true, key, kid, err, n)) {
        json_decref(*out);
        *out = NULL;
        return RT_HOST_ERR;
    }
    rt_buf ad = { 0 };
    json_object_foreach((json_t *)values, name, v) {
        if (!json_string_length(v)) {
            json_object_set_new(*out, name, json_null());
            continue;
        }
        rt_redact_add(json_string_value(v));
        seal_ad(&ad, context, user, scope, name);
        char *s = rt_seal(key, ad.data, ad.len, json_string_value(v));
        if (!s) {
            snprintf(err, n, "cannot seal secret '%s': no cipher or no random bytes", name);
            json_decref(*out);
            *out = NULL;
            break;
        }
        json_object_set_new(*out, name, json_string(s));
        free(s);
    }
    rt_buf_free(&ad);
    memset(key, 0, sizeof key);
    return *out ? RT_HOST_OK : RT_HOST_ERR;
}

/* Applies sealed (name -> text or null) to dst. */
static void apply_sealed(json_t *dst, const json_t *sealed)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)sealed, name, v) {
        if (json_is_null(v)) json_object_del(dst, name);
        else json_object_set(dst, name, v);
    }
}

/* Whether rec's secrets (any) were sealed with another key than kid. */
static bool other_key(const json_t *rec, const char *kid, char *err, size_t n)
{
    const char *had = rt_json_str(rec, "key_id");
    if (!kid[0] || !had || strcmp(had, kid) == 0) return false;
    bool any = json_object_size(json_object_get(rec, "secrets")) > 0;
    const char *k;
    json_t *c;
    json_object_foreach(json_object_get(rec, "connections"), k, c) any |= json_object_size(json_object_get(c, "secrets")) > 0;
    if (!any) return false;
    snprintf(err, n, "user %s's secrets were sealed with another key (key id %s; this one is %s)", rt_json_str(rec, "id"), had,
             kid);
    return true;
}

/* ---- user-level secrets --------------------------------------------------------------------- */

static bool declared_user_secret(const char *name)
{
    const rt_project *p = rt_host_project();
    for (int w = 0; p && w < p->nworkflows; w++)
        for (int i = 0; i < p->workflows[w]->nsecrets; i++)
            if (strcmp(p->workflows[w]->secrets[i], name) == 0) return true;
    return false;
}

typedef struct secrets_arg {
    const json_t *sealed;
    const char *kid;
    int64_t now;
    bool wrote;
    char *err;
    size_t n;
} secrets_arg;

static bool secrets_update(json_t *rec, void *arg)
{
    secrets_arg *a = arg;
    a->err[0] = 0;
    a->wrote = false;
    if (!rec || rt_store_damaged(rec) || other_key(rec, a->kid, a->err, a->n)) return false;
    a->wrote = true;
    apply_sealed(rt_json_obj_at(rec, "secrets"), a->sealed);
    if (a->kid[0]) json_object_set_new(rec, "key_id", json_string(a->kid));
    json_object_set_new(rec, "updated", json_integer(a->now));
    return true;
}

rt_host_rc rt_host_user_secrets(rt_store *st, const char *state_dir, const char *user, const json_t *values,
                                char *err, size_t n)
{
    rt_host_rc rc = rt_host_user_existing(st, user, err, n);
    if (rc != RT_HOST_OK) return rc;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)values, name, v) {
        if (!declared_user_secret(name)) {
            snprintf(err, n, "unknown secret '%s' (a workflow's `secrets { }` names it; an integration's credentials "
                     "go in its connection: `connect %s INTEGRATION --secret ...`)", name, user);
            return RT_HOST_BAD;
        }
    }
    json_t *sealed;
    char kid[17];
    if ((rc = seal_all(st, state_dir, USER_CONTEXT, user, "", values, &sealed, kid, err, n)) != RT_HOST_OK) return rc;
    secrets_arg a = { .sealed = sealed, .kid = kid, .now = rt_now_ms(), .err = err, .n = n };
    char werr[512];
    bool ok = rt_store_update_user(st, user, secrets_update, &a, werr, sizeof werr);
    json_decref(sealed);
    if (ok && a.wrote) return RT_HOST_OK;
    if (ok && err[0]) return RT_HOST_BAD;       /* another key */
    snprintf(err, n, "%s", ok ? "the user was removed meanwhile" : werr);
    return RT_HOST_ERR;
}

/* ---- connections ------------------------------------------------------------------------------ */

/* A field's value from JSON (the API) or text (the CLI, a JSON string),
** checked against its type: NEW reference, json null to remove, or NULL
** with a message. */
static json_t *field_value(const rt_integration *in, const rt_conn_field *f, json_t *v, char *err, size_t n)
{
    if (json_is_null(v) || (json_is_string(v) && !json_string_length(v))) return json_null();
    const rt_type *t = f->type && f->type->kind == RT_TYPE_OPT ? f->type->elem : f->type;
    static const char *const simple[] = { [RT_TYPE_STRING] = "string", [RT_TYPE_INT] = "int",
                                          [RT_TYPE_FLOAT] = "float", [RT_TYPE_BOOL] = "bool" };
    const char *base = t && t->kind <= RT_TYPE_BOOL ? simple[t->kind] : NULL;
    json_t *out = NULL;
    if (json_is_string(v) && base && strcmp(base, "string") != 0) {
        /* from a command line: parse the text as its type */
        const char *s = json_string_value(v);
        char *end;
        if (strcmp(base, "int") == 0) {
            long long x = strtoll(s, &end, 10);
            if (*s && !*end) out = json_integer(x);
        } else if (strcmp(base, "float") == 0) {
            double x = strtod(s, &end);
            if (*s && !*end) out = json_real(x);
        } else if (strcmp(base, "bool") == 0) {
            if (strcmp(s, "true") == 0) out = json_true();
            else if (strcmp(s, "false") == 0) out = json_false();
        }
        if (!out) {
            snprintf(err, n, "connection field '%s' of '%s' is %s, not '%.80s'", f->name, in->name, base, s);
            return NULL;
        }
    } else {
        out = json_incref(v);
    }
    char what[200], e[600];
    snprintf(what, sizeof what, "connection field '%s' of '%s'", f->name, in->name);
    if (!rt_type_check(f->type, out, what, e, sizeof e)) {
        snprintf(err, n, "%s", e);
        json_decref(out);
        return NULL;
    }
    if (f->base_url) {
        const char *u = json_string_value(out);
        char origin[RT_URL_ORIGIN_MAX];
        if (!u || !rt_url_is_absolute(u) || !rt_url_origin(u, origin, sizeof origin) || strpbrk(u, "?#")) {
            snprintf(err, n, "connection field '%s' of '%s' is its base URL: an absolute http:// or https:// URL "
                     "without a query or fragment, not '%.200s'", f->name, in->name, u ? u : "?");
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static const rt_conn_field *conn_field(const rt_integration *in, const char *name)
{
    for (int i = 0; i < in->nfields; i++)
        if (strcmp(in->fields[i].name, name) == 0) return &in->fields[i];
    return NULL;
}

/* Checks what a connect gives; fields checked into *checked (NEW). */
static rt_host_rc check_connect(const rt_integration *in, const char *user, const json_t *secrets,
                                const json_t *fields, json_t **checked, char *err, size_t n)
{
    *checked = NULL;
    if (secrets && !json_is_object(secrets)) {
        snprintf(err, n, "secrets must be an object of name: value");
        return RT_HOST_BAD;
    }
    if (fields && !json_is_object(fields)) {
        snprintf(err, n, "fields must be an object of name: value");
        return RT_HOST_BAD;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)secrets, name, v) {
        if (rt_host_is_app_secret(in, name)) {
            snprintf(err, n, "secret '%s' is an app credential of '%s' (the company's OAuth2 client, the same for every "
                     "user): set it for the deployment (FLOW_SECRET_*), not in user %s's connection", name, in->name,
                     user);
            return RT_HOST_BAD;
        }
        bool ok = (in->secret && strcmp(in->secret, name) == 0) || (in->secret2 && strcmp(in->secret2, name) == 0);
        if (!ok) {
            snprintf(err, n, "'%s' is not a credential of '%s' (its connection holds: %s%s%s)", name, in->name,
                     in->secret ? in->secret : "none", in->secret2 ? ", " : "", in->secret2 ? in->secret2 : "");
            return RT_HOST_BAD;
        }
    }
    json_t *out = json_object();
    json_object_foreach((json_t *)fields, name, v) {
        const rt_conn_field *f = conn_field(in, name);
        if (!f) {
            rt_buf names = { 0 };
            rt_buf_append(&names, "", 0);
            for (int i = 0; i < in->nfields; i++) rt_buf_printf(&names, "%s%s", i ? ", " : "", in->fields[i].name);
            snprintf(err, n, "'%s' is not a connection field of '%s' (its fields: %s)", name, in->name,
                     in->nfields ? names.data : "none");
            rt_buf_free(&names);
            json_decref(out);
            return RT_HOST_INVALID;
        }
        json_t *x = field_value(in, f, v, err, n);
        if (!x) {
            json_decref(out);
            return RT_HOST_INVALID;
        }
        json_object_set_new(out, name, x);
    }
    *checked = out;
    return RT_HOST_OK;
}

typedef struct conn_arg {
    const char *integ;
    const json_t *sealed;       /* name -> text or null */
    const json_t *fields;       /* name -> value or null */
    const char *kid;
    bool replace, remove;
    int64_t now;
    bool existed, wrote;
    char *err;
    size_t n;
} conn_arg;

static bool conn_update(json_t *rec, void *arg)
{
    conn_arg *a = arg;
    a->err[0] = 0;
    a->wrote = a->existed = false;
    if (!rec || rt_store_damaged(rec) || other_key(rec, a->kid, a->err, a->n)) return false;
    rt_host_user_upgrade(rec);
    json_t *conns = rt_json_obj_at(rec, "connections");
    json_t *c = json_object_get(conns, a->integ);
    a->existed = c != NULL;
    const rt_integration *in = rt_host_integration(a->integ);
    if (a->remove) {
        if (!c && !(in && rt_host_connected(rec, in))) return false;
        json_object_del(conns, a->integ);
        if (in && in->secret) json_object_del(rt_json_obj_at(rec, "secrets"), in->secret);     /* layout 2's copy */
        if (in && in->secret2) json_object_del(rt_json_obj_at(rec, "secrets"), in->secret2);
        a->existed = true;
    } else {
        if (!c || a->replace) {
            json_t *fresh = json_pack("{s:{}, s:{}, s:I}", "secrets", "fields", "created",
                                      (json_int_t)(c && json_object_get(c, "created")
                                                       ? json_integer_value(json_object_get(c, "created")) : a->now));
            json_object_set_new(conns, a->integ, fresh);
            c = fresh;
        }
        apply_sealed(rt_json_obj_at(c, "secrets"), a->sealed);
        const char *name;
        json_t *v;
        json_t *fields = rt_json_obj_at(c, "fields");
        json_object_foreach((json_t *)a->fields, name, v) {
            if (json_is_null(v)) json_object_del(fields, name);
            else json_object_set(fields, name, v);
        }
        json_object_set_new(c, "updated", json_integer(a->now));
        if (a->kid[0]) json_object_set_new(rec, "key_id", json_string(a->kid));
    }
    json_object_set_new(rec, "updated", json_integer(a->now));
    a->wrote = true;
    return true;
}

rt_host_rc rt_host_connect(rt_store *st, const char *state_dir, const char *user, const char *integ,
                           const json_t *secrets, const json_t *fields, bool replace, char *err, size_t n)
{
    rt_host_rc rc = rt_host_user_existing(st, user, err, n);
    if (rc != RT_HOST_OK) return rc;
    const rt_integration *in = rt_host_integration(integ);
    if (!in) {
        char names[1024] = "";
        for (int i = 0; i < rt_host_nintegrations(); i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     rt_host_integration_at(i)->name);
        snprintf(err, n, "unknown integration '%s' (the project's: %s)", integ, names[0] ? names : "none");
        return RT_HOST_NOT_FOUND;
    }
    json_t *checked;
    if ((rc = check_connect(in, user, secrets, fields, &checked, err, n)) != RT_HOST_OK) return rc;
    json_t *sealed;
    char kid[17];
    json_t *empty = json_object();
    rc = seal_all(st, state_dir, CONN_CONTEXT, user, in->name, secrets ? secrets : empty, &sealed, kid, err, n);
    json_decref(empty);
    if (rc != RT_HOST_OK) {
        json_decref(checked);
        return rc;
    }
    conn_arg a = { .integ = in->name, .sealed = sealed, .fields = checked, .kid = kid, .replace = replace,
                   .now = rt_now_ms(), .err = err, .n = n };
    char werr[512];
    bool ok = rt_store_update_user(st, user, conn_update, &a, werr, sizeof werr);
    json_decref(sealed);
    json_decref(checked);
    if (ok && a.wrote) return RT_HOST_OK;
    if (ok && err[0]) return RT_HOST_BAD;
    snprintf(err, n, "%s", ok ? "the user was removed meanwhile" : werr);
    return RT_HOST_ERR;
}

rt_host_rc rt_host_disconnect(rt_store *st, const char *user, const char *integ, char *err, size_t n)
{
    rt_host_rc rc = rt_host_user_existing(st, user, err, n);
    if (rc != RT_HOST_OK) return rc;
    conn_arg a = { .integ = integ, .kid = "", .remove = true, .now = rt_now_ms(), .err = err, .n = n };
    char werr[512];
    bool ok = rt_store_update_user(st, user, conn_update, &a, werr, sizeof werr);
    if (ok && a.wrote) return RT_HOST_OK;
    if (ok) {
        snprintf(err, n, "user '%s' has no connection to '%s'", user, integ);
        return RT_HOST_NOT_FOUND;
    }
    snprintf(err, n, "%s", werr);
    return RT_HOST_ERR;
}

/* ---- opening credentials ------------------------------------------------------------------------ */

/* Opens sealed (name -> text) bound to (context, user, scope) into out;
** false with a message naming the secret. */
static bool open_all(const uint8_t key[32], const char *context, const char *user, const char *scope,
                     const json_t *sealed, json_t *out, char *err, size_t n)
{
    rt_buf ad = { 0 };
    const char *name;
    json_t *v;
    bool ok = true;
    json_object_foreach((json_t *)sealed, name, v) {
        seal_ad(&ad, context, user, scope, name);
        int version;
        char *plain = rt_unseal(key, ad.data, ad.len, json_string_value(v), &version);
        if (!plain) {
            snprintf(err, n, "user %s's %s '%s'%s%s cannot be opened: it was not sealed for it (a value copied from "
                     "another record?) or its sealed text was changed; set it again", user,
                     scope[0] ? "connection secret" : "secret", name, scope[0] ? " of " : "", scope);
            ok = false;
            break;
        }
        json_object_set_new(out, name, json_stringn_nocheck(plain, strlen(plain)));
        memset(plain, 0, strlen(plain));
        free(plain);
    }
    rt_buf_free(&ad);
    return ok;
}

json_t *rt_host_open_credentials(rt_store *st, const char *state_dir, const json_t *urec, const rt_workflow *wf,
                                 json_t **base_urls, char *err, size_t n)
{
    *base_urls = json_object();
    const char *user = rt_json_str(urec, "id");
    /* user-level secrets (and an earlier layout's integration tokens) as `users set` stored them */
    json_t *out = rt_secrets_open_user(st, state_dir, urec, err, n);
    if (!out) return NULL;
    bool need_key = false;
    for (int i = 0; i < wf->nintegrations; i++) {
        json_t *c = json_object_get(json_object_get(urec, "connections"), wf->integrations[i]->name);
        need_key |= json_object_size(json_object_get(c, "secrets")) > 0;
    }
    uint8_t key[32];
    char kid[17];
    if (need_key && !host_key(st, state_dir, false, key, kid, err, n)) {
        json_decref(out);
        return NULL;
    }
    for (int i = 0; i < wf->nintegrations; i++) {
        const rt_integration *in = wf->integrations[i];
        json_t *c = json_object_get(json_object_get(urec, "connections"), in->name);
        if (c && !open_all(key, CONN_CONTEXT, user, in->name, json_object_get(c, "secrets"), out, err, n)) {
            memset(key, 0, sizeof key);
            json_decref(out);
            return NULL;
        }
        for (int k = 0; k < in->nfields; k++) {
            const char *v = in->fields[k].base_url ? rt_json_str(json_object_get(c, "fields"), in->fields[k].name) : NULL;
            if (v && *v) json_object_set_new(*base_urls, in->name, json_string(v));
        }
        /* the company's OAuth2 client: the same for every user */
        const char *app[2] = { in->auth == RT_AUTH_OAUTH2 ? in->client_id_secret : NULL,
                               in->auth == RT_AUTH_OAUTH2 ? in->client_secret_secret : NULL };
        for (int k = 0; k < 2; k++) {
            if (!app[k] || json_object_get(out, app[k])) continue;
            char var[200];
            const char *v = getenv(rt_env_name(var, sizeof var, "FLOW_SECRET_", app[k], ""));
            if (v && *v) json_object_set_new(out, app[k], json_string(v));
        }
    }
    memset(key, 0, sizeof key);
    return out;
}

/* ---- OAuth2 ------------------------------------------------------------------------------------- */

char *rt_host_conn_newer_token(rt_run_state *run, const rt_integration *in, const char *stale)
{
    const char *user = rt_json_str(run->record, "user");
    if (!user || !run->store || !run->state_dir) return NULL;
    json_t *urec = rt_store_get_user(run->store, user);
    if (!urec || rt_store_damaged(urec)) {
        json_decref(urec);
        return NULL;
    }
    char err[512];
    json_t *base_urls = NULL;
    json_t *stored = rt_host_open_credentials(run->store, run->state_dir, urec, run->wf, &base_urls, err, sizeof err);
    json_decref(urec);
    const char *tok = rt_json_str(stored, in->secret);
    char *fresh = tok && strcmp(tok, stale) != 0 ? rt_xstrdup(tok) : NULL;
    if (fresh) {
        /* take the stored set: a rotated refresh token, a new base URL came with it */
        const char *names[2] = { in->secret, in->secret2 };
        for (int k = 0; k < 2; k++)
            if (names[k] && rt_json_str(stored, names[k])) rt_run_set_secret(run, names[k], rt_json_str(stored, names[k]));
        const char *url = rt_json_str(base_urls, in->name);
        if (url) rt_run_set_base_url(run, in->name, url);
    }
    json_decref(stored);
    json_decref(base_urls);
    return fresh;
}

bool rt_host_conn_store(rt_run_state *run, const rt_integration *in, const json_t *secrets, const json_t *fields,
                        char *err, size_t n)
{
    const char *user = rt_json_str(run->record, "user");
    if (!user || !run->store || !run->state_dir) {
        snprintf(err, n, "no user to store it for");
        return false;
    }
    json_t *urec = rt_store_get_user(run->store, user);
    bool legacy = urec && !json_object_get(json_object_get(urec, "connections"), in->name) && rt_host_connected(urec, in);
    json_decref(urec);
    if (legacy && !json_object_size((json_t *)fields))      /* an earlier layout's tokens stay where they are */
        return rt_secrets_store_user(run->store, run->state_dir, user, secrets, err, n);
    return rt_host_connect(run->store, run->state_dir, user, in->name, secrets, fields, false, err, n) == RT_HOST_OK;
}

/* ---- migration ------------------------------------------------------------------------------------ */

typedef struct migrate_arg {
    const json_t *moves;        /* integ -> { name: sealed for the connection } */
    int64_t now;
} migrate_arg;

static bool migrate_update(json_t *rec, void *arg)
{
    migrate_arg *a = arg;
    if (!rec || rt_store_damaged(rec) || !rt_host_user_legacy(rec)) return false;
    rt_host_user_upgrade(rec);
    json_t *conns = rt_json_obj_at(rec, "connections");
    const char *integ;
    json_t *sealed;
    json_object_foreach((json_t *)a->moves, integ, sealed) {
        json_t *c = json_pack("{s:O, s:{}, s:I, s:I}", "secrets", sealed, "fields", "created", (json_int_t)a->now,
                              "updated", (json_int_t)a->now);
        json_object_set_new(conns, integ, c);
        const char *name;
        json_t *v;
        json_object_foreach(sealed, name, v) json_object_del(rt_json_obj_at(rec, "secrets"), name);
    }
    return true;
}

void rt_host_migrate(rt_store *st, const char *state_dir)
{
    if (rt_store_is_readonly(st)) return;
    json_t *layout = rt_store_get_meta(st, "users_layout");
    bool done = json_integer_value(layout) >= 3;
    json_decref(layout);
    if (done) return;
    json_t *users = rt_store_list_users(st);
    int migrated = 0, kept = 0;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) {
        if (!rt_host_user_legacy(u) || rt_store_damaged(u)) continue;
        const char *user = rt_json_str(u, "id");
        json_t *moves = json_object();
        char err[512];
        json_t *plain = json_object_size(json_object_get(u, "secrets")) ? rt_secrets_open_user(st, state_dir, u, err, sizeof err)
                                                                        : json_object();
        uint8_t key[32];
        char kid[17];
        bool keyed = plain && json_object_size(plain) && host_key(st, state_dir, false, key, kid, err, sizeof err);
        for (int k = 0; keyed && k < rt_host_nintegrations(); k++) {
            const rt_integration *in = rt_host_integration_at(k);
            const char *names[2] = { in->secret, in->secret2 };
            json_t *sealed = json_object();
            rt_buf ad = { 0 };
            for (int j = 0; j < 2; j++) {
                const char *v = names[j] ? rt_json_str(plain, names[j]) : NULL;
                if (!v) continue;
                seal_ad(&ad, CONN_CONTEXT, user, in->name, names[j]);
                char *s = rt_seal(key, ad.data, ad.len, v);
                if (s) json_object_set_new(sealed, names[j], json_string(s));
                free(s);
            }
            rt_buf_free(&ad);
            if (json_object_size(sealed)) json_object_set_new(moves, in->name, sealed);
            else json_decref(sealed);
        }
        if (keyed) memset(key, 0, sizeof key);
        if (!plain) kept++;     /* its secrets stay user-level until they open */
        json_decref(plain);
        migrate_arg a = { moves, rt_now_ms() };
        char werr[512];
        if (rt_store_update_user(st, user, migrate_update, &a, werr, sizeof werr)) migrated++;
        json_decref(moves);
    }
    json_decref(users);
    json_t *three = json_integer(3);
    rt_store_put_meta(st, "users_layout", three);
    json_decref(three);
    if (migrated)
        rt_log_emit(NULL, "info", json_pack("{s:s, s:i, s:i}", "event", "users_migrated", "users", migrated, "kept", kept),
                    "%d user record%s moved to layout 3 (settings into activations, integration tokens into "
                    "connections)%s", migrated, migrated == 1 ? "" : "s",
                    kept ? "; some secrets could not be opened and stay with their users" : "");
}
