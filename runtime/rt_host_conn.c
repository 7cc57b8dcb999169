/*
** rt_host_conn.c — users, connections and activations as stored, for
** every surface alike (rt_host_conn.h).
*/
#include "rt_host_conn.h"

#include <pthread.h>

#include "rt_cli.h"
#include "rt_crypto.h"
#include "rt_http.h"
#include "rt_log.h"
#include "rt_type.h"
#include "rt_users.h"
#include "rt_util.h"

#define CONN_CONTEXT "flowc connection secret"
#define USER_CONTEXT "flowc user secret"

static void seal_ad(rt_buf *ad, const char *context, const char *user, const char *scope, const char *name)
{
    const char *fields[] = { context, user, scope, name };
    ad->len = 0;
    rt_seal_ad(ad, fields, sizeof fields / sizeof fields[0]);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The object o[k], made when missing (borrowed). */
static json_t *obj_at(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_object(v)) json_object_set_new(o, k, v = json_object());
    return v;
}

/* ---- read views ------------------------------------------------------------------------- */

json_t *rt_host_user_get(rt_store *st, const char *user)
{
    return user ? rt_store_get_user(st, user) : NULL;
}

/* A record of an earlier layout: settings on the user, no activations. */
static bool legacy_record(const json_t *urec)
{
    return urec && !json_object_get(urec, "activations");
}

json_t *rt_host_activation(const json_t *urec, const rt_workflow *wf, json_t **legacy_buf)
{
    *legacy_buf = NULL;
    if (!urec || rt_store_damaged(urec)) return NULL;
    if (!legacy_record(urec)) return json_object_get(json_object_get(urec, "activations"), wf->name);
    /* layout 2: the user of a project of one was that workflow's user */
    const rt_project *p = rt_host_project();
    if (!p || p->nworkflows != 1 || p->workflows[0] != wf) return NULL;
    json_t *s = json_object_get(urec, "settings");
    *legacy_buf = json_pack("{s:b, s:O}", "enabled", json_is_true(json_object_get(urec, "enabled")), "settings",
                            s ? s : json_object());
    if (json_object_get(urec, "enabled_run")) json_object_set(*legacy_buf, "enabled_run", json_object_get(urec, "enabled_run"));
    return *legacy_buf;
}

bool rt_host_connected(const json_t *urec, const rt_integration *in)
{
    if (!urec) return false;
    if (json_object_get(json_object_get(urec, "connections"), in->name)) return true;
    /* an earlier layout kept an integration's token with the user's secrets */
    return in->secret && json_object_get(json_object_get(urec, "secrets"), in->secret);
}

/* A setting's default, parsed once for the process (an accept of a fan-out
** reads every workflow's): borrowed, or NULL when it has none. */
static json_t *default_of(const rt_setting *s)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static struct { const rt_setting *s; json_t *v; } *cache;
    static size_t n, cap;
    if (!s->default_json) return NULL;
    json_t *v = NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n && !v; i++)
        if (cache[i].s == s) v = cache[i].v;
    if (!v && (v = json_loads(s->default_json, JSON_DECODE_ANY, NULL))) {
        if (n == cap) cache = rt_xrealloc(cache, sizeof *cache * (cap = cap ? cap * 2 : 32));
        cache[n].s = s;
        cache[n++].v = v;               /* kept for the process: descriptors live as long */
    }
    pthread_mutex_unlock(&lock);
    return v;
}

json_t *rt_host_run_settings(const json_t *urec, const rt_workflow *wf, char *err, size_t n)
{
    json_t *legacy;
    json_t *act = rt_host_activation(urec, wf, &legacy);
    json_t *given = json_object_get(act, "settings");
    /* every default, overridden by the activation's: the messages of `users set` */
    json_t *out = json_object();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *v = json_object_get(given, s->name);
        if (!v) v = default_of(s);
        if (!v && rt_type_optional(s->type)) v = json_null();
        if (!v) {
            snprintf(err, n, "settings: '%s' is required (no default) — give it with --settings FILE", s->name);
            json_decref(out);
            out = NULL;
            break;
        }
        char what[200], e[600];
        snprintf(what, sizeof what, "setting '%s'", s->name);
        if (!rt_type_check(s->type, v, what, e, sizeof e)) {
            snprintf(err, n, "settings: %s", e);
            json_decref(out);
            out = NULL;
            break;
        }
        json_object_set(out, s->name, v);
    }
    json_decref(legacy);
    return out;
}

json_t *rt_host_user_view(const json_t *rec)
{
    json_t *v = json_pack("{s:O?, s:b}", "id", json_object_get(rec, "id"), "enabled",
                          json_is_true(json_object_get(rec, "enabled")));
    if (rt_store_damaged(rec)) {
        json_object_set_new(v, "damaged", json_string(rt_store_damaged(rec)));
        return v;
    }
    json_t *conns = json_object();
    const rt_project *p = rt_host_project();
    for (int i = 0; i < rt_host_nintegrations(); i++) {
        const rt_integration *in = rt_host_integration_at(i);
        json_t *c = json_object_get(json_object_get(rec, "connections"), in->name);
        if (!c && rt_host_connected(rec, in)) {     /* layout 2 */
            json_t *sec = json_pack("{s:s}", in->secret, "<set>");
            if (in->secret2 && json_object_get(json_object_get(rec, "secrets"), in->secret2))
                json_object_set_new(sec, in->secret2, json_string("<set>"));
            json_object_set_new(conns, in->name, json_pack("{s:o, s:{}}", "secrets", sec, "fields"));
        }
    }
    const char *integ;
    json_t *c;
    json_object_foreach(json_object_get(rec, "connections"), integ, c) {
        json_t *sec = json_object();
        const char *name;
        json_t *x;
        json_object_foreach(json_object_get(c, "secrets"), name, x) json_object_set_new(sec, name, json_string("<set>"));
        json_t *cv = json_pack("{s:o, s:O}", "secrets", sec, "fields",
                               json_object_get(c, "fields") ? json_object_get(c, "fields") : json_object());
        static const char *const keys[] = { "created", "updated" };
        for (size_t k = 0; k < 2; k++)
            if (json_object_get(c, keys[k])) json_object_set(cv, keys[k], json_object_get(c, keys[k]));
        json_object_set_new(conns, integ, cv);
    }
    json_object_set_new(v, "connections", conns);
    json_t *acts = json_object();
    for (int i = 0; p && i < p->nworkflows; i++) {
        json_t *legacy;
        json_t *a = rt_host_activation(rec, p->workflows[i], &legacy);
        if (a) json_object_set_new(acts, p->workflows[i]->name, json_deep_copy(a));
        json_decref(legacy);
    }
    json_t *a;
    json_object_foreach(json_object_get(rec, "activations"), integ, a)     /* workflows no longer in the project */
        if (!json_object_get(acts, integ)) json_object_set(acts, integ, a);
    json_object_set_new(v, "activations", acts);
    if (p && p->nworkflows == 1) {      /* a project of one: its workflow's settings, where they always were */
        json_t *a1 = json_object_get(acts, p->workflows[0]->name);
        json_object_set(v, "settings", json_object_get(a1, "settings") ? json_object_get(a1, "settings") : json_object());
    }
    json_t *sec = json_object();
    const char *name;
    json_t *x;
    json_object_foreach(json_object_get(rec, "secrets"), name, x) {
        bool conn_secret = false;       /* layout 2: shown with its connection */
        for (int i = 0; i < rt_host_nintegrations() && legacy_record(rec); i++) {
            const rt_integration *in = rt_host_integration_at(i);
            conn_secret |= (in->secret && strcmp(in->secret, name) == 0) || (in->secret2 && strcmp(in->secret2, name) == 0);
        }
        if (!conn_secret) json_object_set_new(sec, name, json_string("<set>"));
    }
    json_object_set_new(v, "secrets", sec);
    static const char *const keys[] = { "created", "updated" };
    for (size_t k = 0; k < 2; k++)
        if (json_object_get(rec, keys[k])) json_object_set(v, keys[k], json_object_get(rec, keys[k]));
    return v;
}

/* ---- users ---------------------------------------------------------------------------------- */

/* Turns an earlier layout's record into layout 3 in place (rec changed):
** the settings become the only workflow's activation; the secrets stay
** where they are (rt_host_migrate moves the integrations' ones, which
** needs the key). */
static void upgrade_in_place(json_t *rec)
{
    if (!legacy_record(rec) || rt_store_damaged(rec)) return;
    const rt_project *p = rt_host_project();
    json_t *legacy = NULL;          /* read as layout 2 before the record becomes layout 3 */
    json_t *a = p && p->nworkflows == 1 ? rt_host_activation(rec, p->workflows[0], &legacy) : NULL;
    json_t *acts = obj_at(rec, "activations");
    if (p && p->nworkflows == 1) {
        if (a) json_object_set(acts, p->workflows[0]->name, a);
        json_decref(legacy);
    } else if (json_object_size(json_object_get(rec, "settings"))) {
        json_object_set(rec, "legacy_settings", json_object_get(rec, "settings"));
    }
    json_object_del(rec, "settings");
    json_object_del(rec, "enabled_run");
    obj_at(rec, "connections");
}

/* `trigger enabled`: the run an enabling of wf starts for the user of rec
** (NEW), its marker set in the activation; NULL when none is due (the
** user or activation is off, a run was made for this enabling already, or
** the user cannot run it yet: logged). */
static json_t *enabled_run(json_t *rec, const rt_workflow *wf)
{
    const char *user = str(rec, "id");
    json_t *act = json_object_get(json_object_get(rec, "activations"), wf->name);
    if (wf->trigger != RT_TRIG_ENABLED || !act || !json_is_true(json_object_get(act, "enabled")) ||
        !json_is_true(json_object_get(rec, "enabled")) || json_object_get(act, "enabled_run"))
        return NULL;
    char why[512];
    if (rt_host_ineligible(rec, user, wf, false, why, sizeof why)) {
        rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s}", "event", "enabled_waits", "user", user, "workflow", wf->name),
                    "user %s enabled workflow %s, but %s: no enabled run yet", user, wf->name, why);
        return NULL;
    }
    json_t *settings = rt_host_run_settings(rec, wf, why, sizeof why);
    if (!settings) {
        rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s}", "event", "enabled_waits", "user", user, "workflow", wf->name),
                    "user %s enabled workflow %s, but %s: no enabled run yet", user, wf->name, why);
        return NULL;
    }
    json_t *payload = json_pack("{s:s}", "user", user);
    json_t *run = rt_host_new_run(wf, user, payload, settings, "enabled");
    json_decref(payload);
    json_decref(settings);
    json_object_set(act, "enabled_run", json_object_get(run, "id"));
    return run;
}

typedef struct put_arg {
    int enabled;
    int64_t now;
    json_t *runs;               /* owned: enabled runs made (kept across repeated calls) */
    bool wrote;
    char *err;
    size_t n;
} put_arg;

static bool put_update(json_t *rec, void *arg)
{
    put_arg *a = arg;
    a->wrote = false;
    if (!rec || rt_store_damaged(rec)) return false;
    a->wrote = true;
    upgrade_in_place(rec);
    bool was = json_is_true(json_object_get(rec, "enabled"));
    bool now = a->enabled < 0 ? was : a->enabled == 1;
    json_object_set_new(rec, "enabled", json_boolean(now));
    json_object_set_new(rec, "updated", json_integer(a->now));
    json_t *acts = json_object_get(rec, "activations");
    const char *name;
    json_t *act;
    if (!now) json_object_foreach(acts, name, act) json_object_del(act, "enabled_run");   /* enabling again runs again */
    if (now && !was && !a->runs) {
        a->runs = json_array();
        const rt_project *p = rt_host_project();
        for (int i = 0; p && i < p->nworkflows; i++) {
            json_t *r = enabled_run(rec, p->workflows[i]);
            if (r) json_array_append_new(a->runs, r);
        }
    } else if (a->runs) {
        size_t i;               /* a repeated call: put the markers back */
        json_t *r;
        json_array_foreach(a->runs, i, r) {
            json_t *x = json_object_get(acts, str(r, "workflow"));
            if (x) json_object_set(x, "enabled_run", json_object_get(r, "id"));
        }
    }
    return true;
}

rt_host_rc rt_host_user_put(rt_store *st, const char *user, int enabled, bool *created, json_t **runs, char *err,
                            size_t n)
{
    *created = false;
    if (runs) *runs = NULL;
    if (!rt_host_valid_user(user, err, n)) return RT_HOST_BAD;
    json_t *old = rt_store_get_user(st, user);
    int64_t now = rt_now_ms();
    if (!old || rt_store_damaged(old)) {
        if (old)
            rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "damaged_record", "user", user),
                        "user %s's stored record cannot be read (%s): it is replaced by a new one", user,
                        rt_store_damaged(old));
        json_t *rec = json_pack("{s:s, s:b, s:{}, s:{}, s:{}, s:I, s:I}", "id", user, "enabled", enabled != 0,
                                "secrets", "connections", "activations", "created", (json_int_t)now, "updated",
                                (json_int_t)now);
        bool ok = rt_store_put_user(st, user, rec, err, n);
        json_decref(rec);
        json_decref(old);
        if (!ok) return RT_HOST_ERR;
        *created = true;
        if (runs) *runs = json_array();
        /* a project of one: its users are its workflow's users (as `users set`
        ** always made them); required settings may come later */
        const rt_project *p = rt_host_project();
        if (p && p->nworkflows == 1) {
            json_t *run = NULL;
            rt_host_rc rc = rt_host_activate(st, user, p->workflows[0], NULL, true, true, &run, err, n);
            if (rc != RT_HOST_OK) return rc;
            if (run && runs) json_array_append_new(*runs, run);
            else json_decref(run);
        }
        return RT_HOST_OK;
    }
    json_decref(old);
    put_arg a = { .enabled = enabled, .now = now, .err = err, .n = n };
    char werr[512];
    if (!rt_store_update_user(st, user, put_update, &a, werr, sizeof werr) || !a.wrote) {
        snprintf(err, n, "%s", a.wrote ? werr : "the user was removed meanwhile");
        json_decref(a.runs);
        return RT_HOST_ERR;
    }
    if (runs) *runs = a.runs ? a.runs : json_array();
    else json_decref(a.runs);
    return RT_HOST_OK;
}

rt_host_rc rt_host_user_remove(rt_store *st, const char *user, char *err, size_t n)
{
    if (!rt_host_valid_user(user, err, n)) return RT_HOST_BAD;
    json_t *rec = rt_store_get_user(st, user);
    if (!rec) {
        snprintf(err, n, "unknown user '%s'", user);
        return RT_HOST_NOT_FOUND;
    }
    json_decref(rec);
    return rt_store_put_user(st, user, NULL, err, n) ? RT_HOST_OK : RT_HOST_ERR;
}

/* The stored record of user for a change, or a code: 404 unknown, 500 damaged. */
static rt_host_rc existing(rt_store *st, const char *user, char *err, size_t n)
{
    if (!rt_host_valid_user(user, err, n)) return RT_HOST_BAD;
    json_t *rec = rt_store_get_user(st, user);
    rt_host_rc rc = RT_HOST_OK;
    if (!rec) {
        snprintf(err, n, "unknown user '%s' (create it first: `users set %s`, or PUT /api/users/%s)", user, user, user);
        rc = RT_HOST_NOT_FOUND;
    } else if (rt_store_damaged(rec)) {
        snprintf(err, n, "user '%s''s record cannot be read (%s): `users set %s` replaces it", user,
                 rt_store_damaged(rec), user);
        rc = RT_HOST_ERR;
    }
    json_decref(rec);
    return rc;
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
    if (need_key && !rt_users_key(st, state_dir, true, key, kid, err, n)) {
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
    const char *had = str(rec, "key_id");
    if (!kid[0] || !had || strcmp(had, kid) == 0) return false;
    bool any = json_object_size(json_object_get(rec, "secrets")) > 0;
    const char *k;
    json_t *c;
    json_object_foreach(json_object_get(rec, "connections"), k, c) any |= json_object_size(json_object_get(c, "secrets")) > 0;
    if (!any) return false;
    snprintf(err, n, "user %s's secrets were sealed with another key (key id %s; this one is %s)", str(rec, "id"), had,
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
    apply_sealed(obj_at(rec, "secrets"), a->sealed);
    if (a->kid[0]) json_object_set_new(rec, "key_id", json_string(a->kid));
    json_object_set_new(rec, "updated", json_integer(a->now));
    return true;
}

rt_host_rc rt_host_user_secrets(rt_store *st, const char *state_dir, const char *user, const json_t *values,
                                char *err, size_t n)
{
    rt_host_rc rc = existing(st, user, err, n);
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
    const json_t *t = rt_type_parse(f->type);
    const char *base = json_is_array(t) && strcmp(json_string_value(json_array_get(t, 0)), "opt") == 0
                           ? json_string_value(json_array_get(t, 1)) : json_string_value(t);
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
        char origin[RT_HTTP_ORIGIN_MAX];
        if (!u || !rt_http_is_absolute(u) || !rt_http_origin(u, origin, sizeof origin) || strpbrk(u, "?#")) {
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
    upgrade_in_place(rec);
    json_t *conns = obj_at(rec, "connections");
    json_t *c = json_object_get(conns, a->integ);
    a->existed = c != NULL;
    const rt_integration *in = rt_host_integration(a->integ);
    if (a->remove) {
        if (!c && !(in && rt_host_connected(rec, in))) return false;
        json_object_del(conns, a->integ);
        if (in && in->secret) json_object_del(obj_at(rec, "secrets"), in->secret);     /* layout 2's copy */
        if (in && in->secret2) json_object_del(obj_at(rec, "secrets"), in->secret2);
        a->existed = true;
    } else {
        if (!c || a->replace) {
            json_t *fresh = json_pack("{s:{}, s:{}, s:I}", "secrets", "fields", "created",
                                      (json_int_t)(c && json_object_get(c, "created")
                                                       ? json_integer_value(json_object_get(c, "created")) : a->now));
            json_object_set_new(conns, a->integ, fresh);
            c = fresh;
        }
        apply_sealed(obj_at(c, "secrets"), a->sealed);
        const char *name;
        json_t *v;
        json_t *fields = obj_at(c, "fields");
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
    rt_host_rc rc = existing(st, user, err, n);
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
    rt_host_rc rc = existing(st, user, err, n);
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

/* ---- activations ------------------------------------------------------------------------------ */

typedef struct act_arg {
    const rt_workflow *wf;
    const json_t *settings;     /* the activation's settings to store */
    bool enable;
    int64_t now;
    json_t *run;                /* owned: the enabled run (kept across repeated calls) */
    bool changed;
} act_arg;

static bool act_update(json_t *rec, void *arg)
{
    act_arg *a = arg;
    a->changed = false;
    if (!rec || rt_store_damaged(rec)) return false;
    upgrade_in_place(rec);
    json_t *acts = obj_at(rec, "activations");
    json_t *act = json_object_get(acts, a->wf->name);
    if (!act && !a->enable) return false;
    if (!act) {
        act = json_pack("{s:b, s:{}, s:I}", "enabled", false, "settings", "created", (json_int_t)a->now);
        json_object_set_new(acts, a->wf->name, act);
    }
    if (a->settings) json_object_set(act, "settings", (json_t *)a->settings);
    json_object_set_new(act, "enabled", json_boolean(a->enable));
    json_object_set_new(act, "updated", json_integer(a->now));
    if (!a->enable) json_object_del(act, "enabled_run");
    json_object_set_new(rec, "updated", json_integer(a->now));
    if (a->run) json_object_set(act, "enabled_run", json_object_get(a->run, "id"));
    else if (a->enable) a->run = enabled_run(rec, a->wf);
    a->changed = true;
    return true;
}

rt_host_rc rt_host_activate(rt_store *st, const char *user, const rt_workflow *wf, const json_t *settings, bool merge,
                            bool partial_ok, json_t **run, char *err, size_t n)
{
    if (run) *run = NULL;
    rt_host_rc rc = existing(st, user, err, n);
    if (rc != RT_HOST_OK) return rc;
    if (settings && !json_is_object(settings)) {
        snprintf(err, n, "settings must be a JSON object");
        return RT_HOST_INVALID;
    }
    json_t *urec = rt_store_get_user(st, user);
    json_t *legacy;
    json_t *act = rt_host_activation(urec, wf, &legacy);
    json_t *stored = merge && act ? json_object_get(act, "settings") : NULL;
    json_t *merged = stored ? json_deep_copy(stored) : json_object();
    if (settings) json_object_update(merged, (json_t *)settings);
    json_decref(legacy);
    json_decref(urec);
    /* today's messages: unknown names and wrong types, then a missing required one */
    json_t *full = rt_cli_settings_of(wf, NULL, merged, "", !partial_ok, err, n);
    if (!full) {
        json_decref(merged);
        return RT_HOST_INVALID;
    }
    json_decref(full);
    act_arg a = { .wf = wf, .settings = merged, .enable = true, .now = rt_now_ms() };
    char werr[512];
    bool ok = rt_store_update_user(st, user, act_update, &a, werr, sizeof werr);
    json_decref(merged);
    if (!ok || !a.changed) {
        json_decref(a.run);
        snprintf(err, n, "%s", ok ? "the user was removed meanwhile" : werr);
        return RT_HOST_ERR;
    }
    if (run) *run = a.run;
    else json_decref(a.run);
    return RT_HOST_OK;
}

rt_host_rc rt_host_deactivate(rt_store *st, const char *user, const rt_workflow *wf, char *err, size_t n)
{
    rt_host_rc rc = existing(st, user, err, n);
    if (rc != RT_HOST_OK) return rc;
    act_arg a = { .wf = wf, .enable = false, .now = rt_now_ms() };
    char werr[512];
    bool ok = rt_store_update_user(st, user, act_update, &a, werr, sizeof werr);
    json_decref(a.run);
    if (ok && a.changed) return RT_HOST_OK;
    if (ok) {
        snprintf(err, n, "user '%s' has not enabled workflow '%s'", user, wf->name);
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
        rt_redact_add(plain);
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
    const char *user = str(urec, "id");
    /* user-level secrets (and an earlier layout's integration tokens) as `users set` stored them */
    json_t *out = rt_users_secrets(st, state_dir, urec, err, n);
    if (!out) return NULL;
    bool need_key = false;
    for (int i = 0; i < wf->nintegrations; i++) {
        json_t *c = json_object_get(json_object_get(urec, "connections"), wf->integrations[i]->name);
        need_key |= json_object_size(json_object_get(c, "secrets")) > 0;
    }
    uint8_t key[32];
    char kid[17];
    if (need_key && !rt_users_key(st, state_dir, false, key, kid, err, n)) {
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
            const char *v = in->fields[k].base_url ? str(json_object_get(c, "fields"), in->fields[k].name) : NULL;
            if (v && *v) json_object_set_new(*base_urls, in->name, json_string(v));
        }
        /* the company's OAuth2 client: the same for every user */
        const char *app[2] = { in->auth == RT_AUTH_OAUTH2 ? in->client_id_secret : NULL,
                               in->auth == RT_AUTH_OAUTH2 ? in->client_secret_secret : NULL };
        for (int k = 0; k < 2; k++) {
            if (!app[k] || json_object_get(out, app[k])) continue;
            char var[200];
            const char *v = getenv(rt_env_name(var, sizeof var, "FLOW_SECRET_", app[k], ""));
            if (v && *v) {
                rt_redact_add(v);
                json_object_set_new(out, app[k], json_string(v));
            }
        }
    }
    memset(key, 0, sizeof key);
    return out;
}

/* ---- OAuth2 ------------------------------------------------------------------------------------- */

char *rt_host_conn_newer_token(rt_run_state *run, const rt_integration *in, const char *stale)
{
    const char *user = str(run->record, "user");
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
    const char *tok = str(stored, in->secret);
    char *fresh = tok && strcmp(tok, stale) != 0 ? rt_xstrdup(tok) : NULL;
    if (fresh) {
        /* take the stored set: a rotated refresh token, a new base URL came with it */
        const char *names[2] = { in->secret, in->secret2 };
        for (int k = 0; k < 2; k++)
            if (names[k] && str(stored, names[k])) rt_run_set_secret(run, names[k], str(stored, names[k]));
        const char *url = str(base_urls, in->name);
        if (url) rt_run_set_base_url(run, in->name, url);
    }
    json_decref(stored);
    json_decref(base_urls);
    return fresh;
}

bool rt_host_conn_store(rt_run_state *run, const rt_integration *in, const json_t *secrets, const json_t *fields,
                        char *err, size_t n)
{
    const char *user = str(run->record, "user");
    if (!user || !run->store || !run->state_dir) {
        snprintf(err, n, "no user to store it for");
        return false;
    }
    json_t *urec = rt_store_get_user(run->store, user);
    bool legacy = urec && !json_object_get(json_object_get(urec, "connections"), in->name) && rt_host_connected(urec, in);
    json_decref(urec);
    if (legacy && !json_object_size((json_t *)fields))      /* an earlier layout's tokens stay where they are */
        return rt_users_store_secrets(run->store, run->state_dir, user, secrets, err, n);
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
    if (!rec || rt_store_damaged(rec) || !legacy_record(rec)) return false;
    upgrade_in_place(rec);
    json_t *conns = obj_at(rec, "connections");
    const char *integ;
    json_t *sealed;
    json_object_foreach((json_t *)a->moves, integ, sealed) {
        json_t *c = json_pack("{s:O, s:{}, s:I, s:I}", "secrets", sealed, "fields", "created", (json_int_t)a->now,
                              "updated", (json_int_t)a->now);
        json_object_set_new(conns, integ, c);
        const char *name;
        json_t *v;
        json_object_foreach(sealed, name, v) json_object_del(obj_at(rec, "secrets"), name);
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
        if (!legacy_record(u) || rt_store_damaged(u)) continue;
        const char *user = str(u, "id");
        json_t *moves = json_object();
        char err[512];
        json_t *plain = json_object_size(json_object_get(u, "secrets")) ? rt_users_secrets(st, state_dir, u, err, sizeof err)
                                                                        : json_object();
        uint8_t key[32];
        char kid[17];
        bool keyed = plain && json_object_size(plain) && rt_users_key(st, state_dir, false, key, kid, err, sizeof err);
        for (int k = 0; keyed && k < rt_host_nintegrations(); k++) {
            const rt_integration *in = rt_host_integration_at(k);
            const char *names[2] = { in->secret, in->secret2 };
            json_t *sealed = json_object();
            rt_buf ad = { 0 };
            for (int j = 0; j < 2; j++) {
                const char *v = names[j] ? str(plain, names[j]) : NULL;
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
