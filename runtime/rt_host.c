/*
** rt_host.c — the project host's rules: workflows by name, user ids,
** deployed flags, eligibility, and the preparation of a run (rt_host.h).
*/
#include "rt_host.h"

#include "rt_cli.h"
#include "rt_host_conn.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_util.h"

static const rt_project *g_project;

/* The integrations of the project, one per name (built once). */
static const rt_integration **g_integs;
static int g_nintegs;

void rt_host_set_project(const rt_project *p)
{
    g_project = p;
    free(g_integs);
    g_integs = NULL;
    g_nintegs = 0;
    for (int w = 0; p && w < p->nworkflows; w++) {
        const rt_workflow *wf = p->workflows[w];
        for (int i = 0; i < wf->nintegrations; i++) {
            bool seen = false;
            for (int k = 0; k < g_nintegs && !seen; k++) seen = strcmp(g_integs[k]->name, wf->integrations[i]->name) == 0;
            if (seen) continue;
            g_integs = rt_xrealloc(g_integs, sizeof *g_integs * (size_t)(g_nintegs + 1));
            g_integs[g_nintegs++] = wf->integrations[i];
        }
    }
}

const rt_project *rt_host_project(void)
{
    return g_project;
}

const rt_workflow *rt_host_workflow(const char *name)
{
    for (int i = 0; name && g_project && i < g_project->nworkflows; i++)
        if (strcmp(g_project->workflows[i]->name, name) == 0) return g_project->workflows[i];
    return NULL;
}

const rt_workflow *rt_host_run_workflow(const json_t *rec)
{
    return rt_host_workflow(json_string_value(json_object_get(rec, "workflow")));
}

const char *rt_host_workflow_names(char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; g_project && i < g_project->nworkflows && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", g_project->workflows[i]->name);
    return buf;
}

int rt_host_nintegrations(void)
{
    return g_nintegs;
}

const rt_integration *rt_host_integration_at(int i)
{
    return i >= 0 && i < g_nintegs ? g_integs[i] : NULL;
}

const rt_integration *rt_host_integration(const char *name)
{
    for (int i = 0; name && i < g_nintegs; i++)
        if (strcmp(g_integs[i]->name, name) == 0) return g_integs[i];
    return NULL;
}

const char *rt_host_trigger_kind(rt_trigger_kind k)
{
    switch (k) {
    case RT_TRIG_EVENT: return "event";
    case RT_TRIG_REQUEST: return "request";
    case RT_TRIG_SCHEDULE: return "schedule";
    default: return "enabled";
    }
}

bool rt_host_needs_connection(const rt_integration *in)
{
    return in && in->auth != RT_AUTH_NONE && in->secret;
}

bool rt_host_is_app_secret(const rt_integration *in, const char *name)
{
    return in->auth == RT_AUTH_OAUTH2 && name &&
           ((in->client_id_secret && strcmp(in->client_id_secret, name) == 0) ||
            (in->client_secret_secret && strcmp(in->client_secret_secret, name) == 0));
}

/* ---- user ids ---------------------------------------------------------------------- */

bool rt_host_valid_user(const char *id, char *err, size_t n)
{
    size_t len = id ? strlen(id) : 0;
    bool ok = len >= 1 && len <= RT_HOST_USER_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)id[i]) || strchr("_-.@+:", id[i]);
    if (ok) return true;
    if (!len) {
        snprintf(err, n, "the user id is empty: %s", RT_HOST_USER_RULE);
    } else if (len > RT_HOST_USER_MAX) {
        snprintf(err, n, "the user id has %zu bytes: %s", len, RT_HOST_USER_RULE);
    } else {
        char *shown = rt_redact_shorten(id, 60);
        snprintf(err, n, "the user id '%s' has a character outside the rule: %s", shown, RT_HOST_USER_RULE);
        free(shown);
    }
    return false;
}

/* ---- deployed ------------------------------------------------------------------------ */

bool rt_host_deployed(rt_store *st, const char *name)
{
    char key[300];
    snprintf(key, sizeof key, "deploy:%s", name);
    json_t *v = rt_store_get_meta(st, key);
    bool deployed = !v || !json_is_false(json_object_get(v, "deployed"));
    json_decref(v);
    return deployed;
}

json_t *rt_host_deploy_flags(rt_store *st)
{
    return rt_store_meta_prefix(st, "deploy:");
}

bool rt_host_deployed_in(const json_t *flags, const char *name)
{
    char key[300];
    snprintf(key, sizeof key, "deploy:%s", name);
    return !json_is_false(json_object_get(json_object_get(flags, key), "deployed"));
}

bool rt_host_set_deployed(rt_store *st, const char *name, bool deployed, char *err, size_t n)
{
    char key[300];
    snprintf(key, sizeof key, "deploy:%s", name);
    json_t *v = json_pack("{s:b, s:I}", "deployed", deployed, "at", (json_int_t)rt_now_ms());
    json_t *meta = json_pack("{s:o}", key, v);
    bool ok = rt_store_commit_many(st, NULL, 0, meta, err, n);
    json_decref(meta);
    return ok;
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

/* ---- runs ------------------------------------------------------------------------------ */

bool rt_host_status_final(const char *s)
{
    return s && (strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "skipped") == 0);
}

rt_host_prep rt_host_prepare_run(rt_store *st, const char *state_dir, rt_run_state *run, char *why, size_t n)
{
    const char *user = json_string_value(json_object_get(run->record, "user"));
    if (!user) return RT_HOST_READY;           /* development: FLOW_SECRET_* */
    run->user_run = true;
    json_t *urec = rt_host_user_get(st, user);
    if (rt_host_ineligible(urec, user, run->wf, false, why, n)) {
        json_decref(urec);
        return RT_HOST_SKIP;
    }
    json_t *base_urls = NULL;
    json_t *secrets = rt_host_open_credentials(st, state_dir, urec, run->wf, &base_urls, why, n);
    json_decref(urec);
    if (!secrets) {
        json_decref(base_urls);
        return RT_HOST_FAIL;
    }
    json_decref(run->secrets);
    run->secrets = secrets;
    const char *integ;
    json_t *url;
    json_object_foreach(base_urls, integ, url) rt_run_set_base_url(run, integ, json_string_value(url));
    json_decref(base_urls);
    run->state_dir = state_dir;
    run->conn_newer_token = rt_host_conn_newer_token;     /* OAuth2: the connection, shared by workflows */
    run->conn_store = rt_host_conn_store;
    return RT_HOST_READY;
}

typedef struct end_arg {
    const json_t *mine;         /* the caller's copy: stored as it ends when it was never stored */
    const char *status, *reason;
    char *msg;
    size_t n;
    json_t *written;            /* owned */
} end_arg;

static json_t *end_update(const json_t *stored, void *arg)
{
    end_arg *a = arg;
    json_decref(a->written);
    a->written = NULL;
    a->msg[0] = 0;
    if (!stored) stored = a->mine;      /* a new run (`run --user`): stored as it ends */
    const char *status = json_string_value(json_object_get(stored, "status"));
    if (rt_host_status_final(status)) {
        snprintf(a->msg, a->n, "the run has %s meanwhile", status);
        return NULL;
    }
    if (rt_owner_of(stored) == RT_OWNER_LIVE) {
        char who[96];
        snprintf(a->msg, a->n, "the run is being executed by %s", rt_owner_name(stored, who, sizeof who));
        return NULL;
    }
    json_t *rec = json_copy((json_t *)stored);
    int64_t now = rt_now_ms();
    json_object_set_new(rec, "status", json_string(a->status));
    json_object_set_new(rec, "error", json_string(a->reason));
    json_object_set_new(rec, "updated", json_integer(now));
    json_object_set_new(rec, "ended", json_integer(now));
    json_object_del(rec, "wake_at");
    rt_owner_stamp(rec);
    a->written = json_incref(rec);
    return rec;
}

bool rt_host_end_run(rt_store *st, json_t *rec, const char *status, const char *reason, char *err, size_t n)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (!id) {
        snprintf(err, n, "a run record without an id");
        return false;
    }
    char *red = rt_redact(reason);
    end_arg a = { .mine = rec, .status = status, .reason = red, .msg = err, .n = n };
    rt_store_write w = { .run_id = id, .update = end_update, .update_arg = &a };
    char werr[512];
    bool ok = rt_store_commit(st, &w, werr, sizeof werr);
    if (!ok) snprintf(err, n, "%s", werr);
    else if (!a.written) ok = false;           /* err says why */
    if (ok) {
        json_object_clear(rec);
        json_object_update(rec, a.written);
    }
    json_decref(a.written);
    free(red);
    return ok;
}

json_t *rt_host_new_run(const rt_workflow *wf, const char *user, json_t *payload, const json_t *settings,
                        const char *source)
{
    return rt_cli_new_run(wf, user, payload, (json_t *)settings, source);
}
