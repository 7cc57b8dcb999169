/*
** rt_host_users.c — [host] the project's users and their activations of
** workflows, as stored, and the read views every surface shares
** (rt_host_users.h). Connections and sealing are rt_host_conn.c's.
*/
#include "rt_host_users.h"

#include <pthread.h>

#include "rt_json.h"
#include "rt_log.h"
#include "rt_type.h"
#include "rt_util.h"

/* ---- read views ------------------------------------------------------------------------- */

json_t *rt_host_user_get(rt_store *st, const char *user)
{
    return user ? rt_store_get_user(st, user) : NULL;
}

/* A record of an earlier layout: settings on the user, no activations. */
bool rt_host_user_legacy(const json_t *urec)
{
    return urec && !json_object_get(urec, "activations");
}

json_t *rt_host_activation(const json_t *urec, const rt_workflow *wf, json_t **legacy_buf)
{
    *legacy_buf = NULL;
    if (!urec || rt_store_damaged(urec)) return NULL;
    if (!rt_host_user_legacy(urec)) return json_object_get(json_object_get(urec, "activations"), wf->name);
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

static bool check_setting_names(const rt_workflow *wf, const json_t *given, const char *where, char *err, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)given, k, v) {
        bool known = false;
        for (int i = 0; i < wf->nsettings; i++) known |= strcmp(wf->settings[i].name, k) == 0;
        if (!known) {
            char names[1024] = "";
            for (int i = 0; i < wf->nsettings; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         wf->settings[i].name);
            snprintf(err, n, "settings%s: unknown setting '%s' (the workflow's settings: %s)", where, k,
                     wf->nsettings ? names : "none");
            return false;
        }
    }
    return true;
}

json_t *rt_host_settings_of(const rt_workflow *wf, const json_t *base, const json_t *given, const char *where,
                            bool need_all, char *err, size_t n)
{
    if (given) {
        if (!json_is_object(given)) {
            snprintf(err, n, "settings%s must hold a JSON object", where);
            return NULL;
        }
        if (!check_setting_names(wf, given, where, err, n)) return NULL;
    }
    json_t *out = json_object();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *v = json_object_get(given, s->name);
        if (!v) v = json_object_get(base, s->name);
        if (v) {
            json_incref(v);
        } else if (s->default_json) {
            v = json_loads(s->default_json, JSON_DECODE_ANY, NULL);
        } else if (rt_type_optional(s->type)) {
            v = json_null();            /* `T?` without a default: optional, null when not given */
        } else if (!need_all) {
            continue;
        } else {
            snprintf(err, n, "settings: '%s' is required (no default) — give it with --settings FILE", s->name);
            json_decref(out);
            return NULL;
        }
        char what[200], e[600];
        snprintf(what, sizeof what, "setting '%s'", s->name);
        if (!rt_type_check(s->type, v, what, e, sizeof e)) {
            snprintf(err, n, "settings: %s", e);
            json_decref(v);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, s->name, v ? v : json_null());
    }
    return out;
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
        for (int i = 0; i < rt_host_nintegrations() && rt_host_user_legacy(rec); i++) {
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
void rt_host_user_upgrade(json_t *rec)
{
    if (!rt_host_user_legacy(rec) || rt_store_damaged(rec)) return;
    const rt_project *p = rt_host_project();
    json_t *legacy = NULL;          /* read as layout 2 before the record becomes layout 3 */
    json_t *a = p && p->nworkflows == 1 ? rt_host_activation(rec, p->workflows[0], &legacy) : NULL;
    json_t *acts = rt_json_obj_at(rec, "activations");
    if (p && p->nworkflows == 1) {
        if (a) json_object_set(acts, p->workflows[0]->name, a);
        json_decref(legacy);
    } else if (json_object_size(json_object_get(rec, "settings"))) {
        json_object_set(rec, "legacy_settings", json_object_get(rec, "settings"));
    }
    json_object_del(rec, "settings");
    json_object_del(rec, "enabled_run");
    rt_json_obj_at(rec, "connections");
}

/* rt_host_activate, quiet: without the "no enabled run yet" line */
static rt_host_rc activate(rt_store *st, const char *user, const rt_workflow *wf, const json_t *settings, bool merge,
                           bool partial_ok, bool quiet, json_t **run, char *err, size_t n);

/* `trigger enabled`: the run an enabling of wf starts for the user of rec
** (NEW), its marker set in the activation; NULL when none is due (the
** user or activation is off, a run was made for this enabling already, or
** the user cannot run it yet: logged unless quiet). */
static json_t *enabled_run(json_t *rec, const rt_workflow *wf, bool quiet)
{
    const char *user = rt_json_str(rec, "id");
    json_t *act = json_object_get(json_object_get(rec, "activations"), wf->name);
    if (wf->trigger != RT_TRIG_ENABLED || !act || !json_is_true(json_object_get(act, "enabled")) ||
        !json_is_true(json_object_get(rec, "enabled")) || json_object_get(act, "enabled_run"))
        return NULL;
    char why[512];
    json_t *settings = NULL;
    if (rt_host_ineligible(rec, user, wf, false, why, sizeof why) ||
        !(settings = rt_host_run_settings(rec, wf, why, sizeof why))) {
        if (!quiet)
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
    rt_host_user_upgrade(rec);
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
            json_t *r = enabled_run(rec, p->workflows[i], false);
            if (r) json_array_append_new(a->runs, r);
        }
    } else if (a->runs) {
        size_t i;               /* a repeated call: put the markers back */
        json_t *r;
        json_array_foreach(a->runs, i, r) {
            json_t *x = json_object_get(acts, rt_json_str(r, "workflow"));
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
        ** always made them); required settings may come later (the caller, which
        ** may give them next, says what is missing: no "no enabled run yet" here) */
        const rt_project *p = rt_host_project();
        if (p && p->nworkflows == 1) {
            json_t *run = NULL;
            rt_host_rc rc = activate(st, user, p->workflows[0], NULL, true, true, true, &run, err, n);
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
rt_host_rc rt_host_user_existing(rt_store *st, const char *user, char *err, size_t n)
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

/* ---- activations ------------------------------------------------------------------------------ */

typedef struct act_arg {
    const rt_workflow *wf;
    const json_t *settings;     /* the activation's settings to store */
    bool enable;
    int64_t now;
    json_t *run;                /* owned: the enabled run (kept across repeated calls) */
    bool changed;
    bool quiet;                 /* no "no enabled run yet" line (a user just created) */
} act_arg;

static bool act_update(json_t *rec, void *arg)
{
    act_arg *a = arg;
    a->changed = false;
    if (!rec || rt_store_damaged(rec)) return false;
    rt_host_user_upgrade(rec);
    json_t *acts = rt_json_obj_at(rec, "activations");
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
    else if (a->enable) a->run = enabled_run(rec, a->wf, a->quiet);
    a->changed = true;
    return true;
}

rt_host_rc rt_host_activate(rt_store *st, const char *user, const rt_workflow *wf, const json_t *settings, bool merge,
                            bool partial_ok, json_t **run, char *err, size_t n)
{
    return activate(st, user, wf, settings, merge, partial_ok, false, run, err, n);
}

static rt_host_rc activate(rt_store *st, const char *user, const rt_workflow *wf, const json_t *settings, bool merge,
                           bool partial_ok, bool quiet, json_t **run, char *err, size_t n)
{
    if (run) *run = NULL;
    rt_host_rc rc = rt_host_user_existing(st, user, err, n);
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
    json_t *full = rt_host_settings_of(wf, NULL, merged, "", !partial_ok, err, n);
    if (!full) {
        json_decref(merged);
        return RT_HOST_INVALID;
    }
    json_decref(full);
    act_arg a = { .wf = wf, .settings = merged, .enable = true, .now = rt_now_ms(), .quiet = quiet };
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
    rt_host_rc rc = rt_host_user_existing(st, user, err, n);
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

/* ---- eligibility ---------------------------------------------------------------------- */

const char *rt_host_ineligible(const json_t *urec, const char *user, const rt_workflow *wf, bool undeployed,
                               char *why, size_t n)
{
    if (undeployed) {
        snprintf(why, n, "workflow '%s' is undeployed", wf->name);
        return why;
    }
    if (!user) {
        snprintf(why, n, "no user: a run of workflow '%s' belongs to a user (X-Flow-User)", wf->name);
        return why;
    }
    if (!urec) {
        snprintf(why, n, "unknown user '%s'", user);
        return why;
    }
    if (rt_store_damaged(urec)) {
        snprintf(why, n, "user '%s''s record cannot be read (%s)", user, rt_store_damaged(urec));
        return why;
    }
    if (!json_is_true(json_object_get(urec, "enabled"))) {
        snprintf(why, n, "user '%s' is disabled", user);
        return why;
    }
    json_t *legacy = NULL;
    json_t *act = rt_host_activation(urec, wf, &legacy);
    bool on = act && json_is_true(json_object_get(act, "enabled"));
    json_decref(legacy);
    if (!on) {
        snprintf(why, n, "user '%s' has not enabled workflow '%s'", user, wf->name);
        return why;
    }
    for (int i = 0; i < wf->nintegrations; i++) {
        const rt_integration *in = wf->integrations[i];
        if (rt_host_needs_connection(in) && !rt_host_connected(urec, in)) {
            snprintf(why, n, "user '%s' has no connection to '%s'", user, in->name);
            return why;
        }
    }
    return NULL;
}
