/*
** rt_host_info.c — [commands] what a project holds, as `info` prints it and GET
** /api/workflows answers (rt_host_info.h): each workflow's trigger,
** version, settings, integrations and deployed flag, and the state's
** unfinished runs by version.
*/
#include "rt_host_info.h"

#include <unistd.h>

#include "rt_host.h"
#include "rt_status.h"
#include "rt_type.h"
#include "rt_util.h"

/* ---- info ---------------------------------------------------------------------------------------------- */

static const char *auth_kind(rt_auth_kind k)
{
    switch (k) {
    case RT_AUTH_BEARER: return "bearer";
    case RT_AUTH_BASIC: return "basic";
    case RT_AUTH_HEADER: return "header";
    case RT_AUTH_OAUTH2: return "oauth2";
    default: return "none";
    }
}

json_t *rt_host_workflow_info(rt_store *st, const rt_workflow *wf)
{
    json_t *info = json_pack("{s:s, s:s?, s:s}", "name", wf->name, "description", wf->description, "version",
                             wf->version);
    json_t *trig = json_pack("{s:s, s:s?, s:s?, s:s?, s:o}", "kind", rt_host_trigger_kind(wf->trigger), "event", wf->event,
                             "cron", wf->cron, "zone", wf->zone, "schema", rt_type_json(wf->trigger_schema));
    json_object_set_new(info, "trigger", trig);
    json_t *settings = json_array();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *d = s->default_json ? json_loads(s->default_json, JSON_DECODE_ANY, NULL) : NULL;
        bool optional = rt_type_optional(s->type);
        json_array_append_new(settings, json_pack("{s:s, s:o, s:b, s:o?}", "name", s->name, "type", rt_type_json(s->type),
                                                  "required", !s->default_json && !optional, "default", d));
    }
    json_object_set_new(info, "settings", settings);
    json_t *secrets = json_array();
    for (int i = 0; i < wf->nsecrets; i++) json_array_append_new(secrets, json_string(wf->secrets[i]));
    json_object_set_new(info, "secrets", secrets);
    json_t *integs = json_array();
    for (int i = 0; i < wf->nintegrations; i++) {
        const rt_integration *in = wf->integrations[i];
        json_t *fields = json_array();
        for (int k = 0; k < in->nfields; k++)
            json_array_append_new(fields, json_pack("{s:s, s:o, s:b, s:b}", "name", in->fields[k].name, "type",
                                                    rt_type_json(in->fields[k].type), "base_url", in->fields[k].base_url,
                                                    "from_token", in->fields[k].from_token));
        json_t *cred = json_array();
        if (rt_host_needs_connection(in)) json_array_append_new(cred, json_string(in->secret));
        if (in->secret2 && rt_host_needs_connection(in)) json_array_append_new(cred, json_string(in->secret2));
        json_array_append_new(integs, json_pack("{s:s, s:s?, s:s, s:b, s:o, s:o}", "name", in->name, "base_url",
                                                in->base_url, "auth", auth_kind(in->auth), "needs_connection",
                                                rt_host_needs_connection(in), "connection_secrets", cred,
                                                "connection_fields", fields));
    }
    json_object_set_new(info, "integrations", integs);
    if (wf->output_type) json_object_set_new(info, "output", rt_type_json(wf->output_type));
    json_object_set_new(info, "deployed", json_boolean(!st || rt_host_deployed(st, wf->name)));
    return info;
}

static bool count_version(json_t *run, void *arg)
{
    const char *v = json_string_value(json_object_get(run, "version"));
    const char *w = json_string_value(json_object_get(run, "workflow"));
    json_t *counts = arg;
    if (v && w) {
        json_t *per = json_object_get(counts, w);
        if (!per) json_object_set_new(counts, w, per = json_object());
        json_object_set_new(per, v, json_integer(json_integer_value(json_object_get(per, v)) + 1));
    }
    return true;
}

int rt_host_cli_info(const rt_workflow *face, const rt_cli_opts *o)
{
    const rt_project *p = rt_host_project();
    /* the state, when there is one: deployed flags and unfinished runs by version */
    char buf[4096], path[4200];
    const char *dir = rt_cli_state_dir(face, o, buf, sizeof buf);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    rt_store *st = access(path, F_OK) == 0 ? rt_cli_open_store_reader(face, o) : NULL;
    json_t *counts = json_object();
    static const rt_status unfinished[] = { RT_ST_QUEUED, RT_ST_RUNNING, RT_ST_WAITING, RT_ST_INTERRUPTED };
    for (size_t i = 0; st && i < sizeof unfinished / sizeof unfinished[0]; i++) {
        rt_run_query q = { .status = rt_status_name(unfinished[i]) };
        rt_store_scan_runs(st, &q, count_version, counts);
    }
    json_t *list = json_array();
    for (int w = 0; w < p->nworkflows; w++) {
        const rt_workflow *wf = p->workflows[w];
        json_t *info = rt_host_workflow_info(st, wf);
        json_t *by_version = json_deep_copy(json_object_get(counts, wf->name));
        if (!by_version) by_version = json_object();
        json_int_t mine = json_integer_value(json_object_get(by_version, wf->version));
        json_object_del(by_version, wf->version);
        json_object_set_new(info, "unfinished", json_integer(mine));
        json_object_set_new(info, "unfinished_other_versions", by_version);
        json_array_append_new(list, info);
    }
    if (o->json) {
        /* a project of one keeps the shape it always had, its workflow at the top */
        json_t *out = p->nworkflows == 1 ? json_deep_copy(json_array_get(list, 0)) : json_object();
        json_object_set_new(out, "project", json_string(p->name));
        json_object_set(out, "workflows", list);
        rt_cli_print_json(out);
        json_decref(out);
    } else {
        if (p->nworkflows != 1) printf("project   %s (%d workflows)\n\n", p->name, p->nworkflows);
        size_t i;
        json_t *info;
        json_array_foreach(list, i, info) {
            const rt_workflow *wf = p->workflows[i];
            if (i) printf("\n");
            printf("workflow  %s%s%s\n", wf->name, wf->description ? " - " : "", wf->description ? wf->description : "");
            printf("version   %s%s\n", wf->version,
                   json_is_true(json_object_get(info, "deployed")) ? "" : "  (undeployed: accepts no new runs)");
            printf("trigger   %s", rt_host_trigger_kind(wf->trigger));
            if (wf->event) printf(" \"%s\"", wf->event);
            if (wf->cron) printf(" \"%s\"%s%s", wf->cron, wf->zone ? " " : "", wf->zone ? wf->zone : "");
            printf("\n");
            char tn[2048];
            if (wf->trigger_schema) {
                rt_type_name(wf->trigger_schema, tn, sizeof tn);
                printf("payload   %s\n", tn);
            }
            printf("settings %s\n", wf->nsettings ? "" : " (none)");
            size_t k;
            json_t *s;
            json_array_foreach(json_object_get(info, "settings"), k, s) {
                const rt_setting *set = &wf->settings[k];
                rt_type_name(set->type, tn, sizeof tn);
                bool required = json_is_true(json_object_get(s, "required"));
                printf("  %-20s %s%s%s\n", set->name, tn,
                       set->default_json ? " = " : required ? " (required)" : " (optional: null when not given)",
                       set->default_json ? set->default_json : "");
            }
            printf("secrets %s\n", wf->nsecrets ? "" : " (none)");
            for (int j = 0; j < wf->nsecrets; j++) {
                char var[200];
                printf("  %-20s %s\n", wf->secrets[j], rt_env_name(var, sizeof var, "FLOW_SECRET_", wf->secrets[j], ""));
            }
            printf("integrations%s\n", wf->nintegrations ? "" : " (none)");
            json_array_foreach(json_object_get(info, "integrations"), k, s) {
                const rt_integration *in = wf->integrations[k];
                printf("  %-20s %s, auth %s%s", in->name, in->base_url ? in->base_url : "", auth_kind(in->auth),
                       rt_host_needs_connection(in) ? ", each user connects" : "");
                for (int f = 0; f < in->nfields; f++) {
                    rt_type_name(in->fields[f].type, tn, sizeof tn);
                    printf("%s%s: %s%s%s", f ? ", " : "; fields ", in->fields[f].name, tn,
                           in->fields[f].base_url ? " base_url" : "", in->fields[f].from_token ? " from_token" : "");
                }
                printf("\n");
            }
            json_int_t mine = json_integer_value(json_object_get(info, "unfinished"));
            printf("unfinished %lld run%s of this version", (long long)mine, mine == 1 ? "" : "s");
            const char *v;
            json_t *nv;
            json_object_foreach(json_object_get(info, "unfinished_other_versions"), v, nv)
                printf("; %lld of version %s (its own binary's `resume` finishes them)", (long long)json_integer_value(nv), v);
            printf("\n");
        }
    }
    json_decref(list);
    json_decref(counts);
    if (st) rt_store_close(st);
    return RT_EXIT_OK;
}

