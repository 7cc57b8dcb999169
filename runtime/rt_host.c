/*
** rt_host.c — [host] the project host's rules: workflows by name, user ids,
** deployed flags, eligibility, and the preparation of a run (rt_host.h).
*/
#include "rt_host.h"

#include "rt_log.h"
#include "rt_status.h"
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

/* ---- runs ------------------------------------------------------------------------------ */

bool rt_host_status_final(const char *s)
{
    return rt_status_finished(rt_status_parse(s));
}

void rt_host_trigger_defaults(const rt_workflow *wf, json_t *payload, int64_t at_ms)
{
    if (wf->trigger != RT_TRIG_SCHEDULE || !json_is_object(payload) || json_object_get(payload, "time")) return;
    char when[40];
    rt_format_time(at_ms, when, sizeof when);
    json_object_set_new(payload, "time", json_string(when));
}

json_t *rt_host_new_run(const rt_workflow *wf, const char *user, json_t *payload, const json_t *settings,
                        const char *source)
{
    char id[RT_RUN_ID_LEN + 1];
    rt_store_new_run_id(id);
    int64_t now = rt_now_ms();
    rt_host_trigger_defaults(wf, payload, now);
    return json_pack("{s:s, s:s, s:s, s:s?, s:O, s:O, s:s, s:i, s:I, s:I, s:s}", "id", id, "workflow", wf->name,
                     "version", wf->version, "user", user, "trigger", payload, "settings", settings, "status",
                     rt_status_name(RT_ST_QUEUED), "attempt", 1, "created", (json_int_t)now, "updated", (json_int_t)now,
                     "source", source);
}
