/*
** rt_host_accept.c — [host] the runs an event or a webhook starts (rt_host_accept.h).
*/
#include "rt_host_accept.h"

#include "rt_crypto.h"
#include "rt_host_conn.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_json.h"
#include "rt_status.h"
#include "rt_type.h"
#include "rt_util.h"

char *rt_host_idem_key(const char *user, const char *key, const rt_workflow *wf)
{
    const rt_project *p = rt_host_project();
    char *k = p && p->nworkflows == 1 ? rt_xprintf("idem:%zu:%s:%s", strlen(user), user, key)
                                      : rt_xprintf("idem:%zu:%s:%s:%s", strlen(user), user, key, wf->name);
    if (strlen(k) <= 400) return k;         /* LMDB keys are at most 511 bytes */
    uint8_t h[32];
    char hex[65];
    rt_sha256(k, strlen(k), h);
    rt_hex_encode(h, 32, hex);
    free(k);
    return rt_xprintf("idem#%s", hex);
}

static void skip(rt_host_accept *plan, const rt_workflow *wf, const char *reason, const char *user)
{
    json_array_append_new(plan->skipped, json_pack("{s:s, s:s}", "workflow", wf->name, "reason", reason));
    rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s?, s:s}", "event", "skipped", "workflow", wf->name, "user", user,
                                        "reason", reason),
                "%s: skipped for user %s: %s", wf->name, user ? user : "-", reason);
}

/* Adds a run of wf to the plan, or skips it; 400 (err) when the payload
** does not fit wf's schema. */
static unsigned plan_one(const json_t *flags, rt_host_accept *plan, const rt_workflow *wf, const json_t *urec,
                         const char *user, const json_t *payload, const char *idem, const char *source, char *err,
                         size_t n)
{
    char why[700];
    if (rt_host_ineligible(urec, user, wf, !rt_host_deployed_in(flags, wf->name), why, sizeof why)) {
        skip(plan, wf, why, user);
        return 0;
    }
    json_t *settings = rt_host_run_settings(urec, wf, why, sizeof why);
    if (!settings) {
        char *r = rt_xprintf("user '%s' cannot run workflow '%s' yet: %s", user, wf->name, why);
        skip(plan, wf, r, user);
        free(r);
        return 0;
    }
    char e[900];
    if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, payload, "payload", e, sizeof e)) {
        const rt_project *p = rt_host_project();
        if (p && p->nworkflows > 1) snprintf(err, n, "workflow '%s': %s", wf->name, e);
        else snprintf(err, n, "%s", e);
        json_decref(settings);
        return 400;
    }
    plan->runs = rt_xrealloc(plan->runs, sizeof *plan->runs * (size_t)(plan->nruns + 1));
    rt_host_run_plan *r = &plan->runs[plan->nruns++];
    memset(r, 0, sizeof *r);
    r->wf = wf;
    r->settings = settings;
    rt_store_new_run_id(r->run_id);
    if (idem) r->idem_key = rt_host_idem_key(user, idem, wf);
    (void)source;
    return 0;
}

/* The planned records as the committer writes them: owned by this process
** (serve runs what it accepts; a `resume` beside it leaves them alone) and
** encoded here, on the request's thread, not the single writer's. */
static void finish_plan(rt_host_accept *plan, const char *user, const json_t *payload, const char *source)
{
    if (!plan->nruns) return;
    /* what every record shares, encoded once: the payload, the owner */
    json_t *owner = json_object();
    rt_owner_stamp(owner);
    rt_buf common = { 0 }, b = { 0 };
    rt_buf_append(&common, ",\"trigger\":", 11);
    rt_json_encode(&common, payload);
    int64_t now = rt_now_ms();
    json_t *tail = json_pack("{s:s, s:s, s:i, s:I, s:I, s:s}", "user", user, "status", rt_status_name(RT_ST_QUEUED), "attempt", 1,
                             "created", (json_int_t)now, "updated", (json_int_t)now, "source", source);
    json_object_update(tail, owner);
    rt_buf_append(&common, ",", 1);
    size_t at = common.len;
    rt_json_encode(&common, tail);      /* {"user":...} : its braces are cut below */
    json_decref(tail);
    json_decref(owner);
    for (int i = 0; i < plan->nruns; i++) {
        rt_host_run_plan *r = &plan->runs[i];
        /* the record rt_host_new_run would make, as its text: names and
        ** versions are [a-z0-9_], ids hex, so they need no escaping */
        b.len = 0;
        rt_buf_printf(&b, "{\"id\":\"%s\",\"workflow\":\"%s\",\"version\":\"%s\"", r->run_id, r->wf->name,
                      r->wf->version);
        rt_buf_append(&b, common.data, at);
        rt_buf_append(&b, common.data + at + 1, common.len - at - 2);
        rt_buf_append(&b, ",\"settings\":", 12);
        rt_json_encode(&b, r->settings);
        if (r->idem_key) {              /* pruned with the run */
            json_t *k = json_string(r->idem_key);
            rt_buf_append(&b, ",\"idem_key\":", 12);
            rt_json_encode(&b, k);
            json_decref(k);
        }
        rt_buf_append(&b, "}", 1);
        r->text = rt_xstrndup(b.data, b.len);
        r->len = b.len;

    }
    rt_buf_free(&common);
    rt_buf_free(&b);
}

static json_t *parse_payload(const char *body, size_t len, char *err, size_t n)
{
    if (!len) return json_object();
    json_error_t je;
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY, &je);
    if (!v) snprintf(err, n, "payload is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    return v;
}

unsigned rt_host_accept_event(rt_store *st, const char *event, const char *user, const char *body, size_t len,
                              const char *idem, rt_host_accept *plan, char *err, size_t n)
{
    memset(plan, 0, sizeof *plan);
    unsigned code = rt_host_accept_listened(event, err, n);
    if (code) return code;
    const rt_project *p = rt_host_project();
    json_t *payload = parse_payload(body, len, err, n);
    if (!payload) return 400;
    plan->skipped = json_array();
    json_t *urec = rt_host_user_get(st, user);
    json_t *flags = rt_host_deploy_flags(st);
    for (int i = 0; i < p->nworkflows && !code; i++) {
        const rt_workflow *wf = p->workflows[i];
        if (wf->trigger != RT_TRIG_EVENT || !wf->event || strcmp(wf->event, event) != 0) continue;
        code = plan_one(flags, plan, wf, urec, user, payload, idem, "event", err, n);
    }
    json_decref(flags);
    json_decref(urec);
    if (code) rt_host_accept_free(plan);
    else finish_plan(plan, user, payload, "event");
    json_decref(payload);
    return code;
}

unsigned rt_host_accept_listened(const char *event, char *err, size_t n)
{
    const rt_project *p = rt_host_project();
    int listeners = 0;
    for (int i = 0; i < p->nworkflows; i++) {
        const rt_workflow *wf = p->workflows[i];
        listeners += wf->trigger == RT_TRIG_EVENT && wf->event && strcmp(wf->event, event) == 0;
    }
    if (!listeners) {
        char *asked = rt_redact_shorten(event, 200);
        rt_buf names = { 0 };
        rt_buf_append(&names, "", 0);
        for (int i = 0; i < p->nworkflows; i++)
            if (p->workflows[i]->trigger == RT_TRIG_EVENT && p->workflows[i]->event && !strstr(names.data, p->workflows[i]->event))
                rt_buf_printf(&names, "%s'%s'", names.len ? ", " : "", p->workflows[i]->event);
        if (p->nworkflows == 1 && p->workflows[0]->trigger != RT_TRIG_EVENT)
            snprintf(err, n, "%s has no event trigger%s", p->workflows[0]->name,
                     p->workflows[0]->trigger == RT_TRIG_REQUEST ? " (it is a request trigger: POST /hooks/USER)" : "");
        else if (p->nworkflows == 1)
            snprintf(err, n, "no event '%s' here: %s is triggered by event %s", asked, p->workflows[0]->name, names.data);
        else
            snprintf(err, n, "no workflow listens to event '%s' (the project's events: %s)", asked,
                     names.len ? names.data : "none");
        rt_buf_free(&names);
        free(asked);
        return 404;
    }
    return 0;
}

unsigned rt_host_accept_hook(rt_store *st, const rt_workflow *wf, const char *user, const char *body, size_t len,
                             const char *idem, rt_host_accept *plan, char *err, size_t n)
{
    memset(plan, 0, sizeof *plan);
    if (!rt_host_deployed(st, wf->name)) {
        snprintf(err, n, "workflow '%s' is undeployed: its hook takes no requests", wf->name);
        return 410;
    }
    json_t *payload = parse_payload(body, len, err, n);
    if (!payload) return 400;
    plan->skipped = json_array();
    json_t *urec = rt_host_user_get(st, user);
    json_t *flags = json_object();         /* deployed: checked above */
    unsigned code = plan_one(flags, plan, wf, urec, user, payload, idem, "hook", err, n);
    json_decref(flags);
    json_decref(urec);
    if (!code && !plan->nruns) {        /* one workflow: its refusal is the answer */
        snprintf(err, n, "%s", json_string_value(json_object_get(json_array_get(plan->skipped, 0), "reason")));
        code = 403;
    }
    if (code) rt_host_accept_free(plan);
    else finish_plan(plan, user, payload, "hook");
    json_decref(payload);
    return code;
}

json_t *rt_host_accept_answer(const rt_host_accept *plan, unsigned *status)
{
    json_t *runs = json_array();
    for (int i = 0; i < plan->nruns; i++) {
        json_t *r = json_pack("{s:s, s:s}", "workflow", plan->runs[i].wf->name, "run_id", plan->runs[i].run_id);
        if (plan->runs[i].replayed) json_object_set_new(r, "replayed", json_true());
        json_array_append_new(runs, r);
    }
    json_t *out = json_object();
    if (plan->nruns == 1) json_object_set_new(out, "run_id", json_string(plan->runs[0].run_id));
    json_object_set_new(out, "runs", runs);
    json_object_set_new(out, "skipped", plan->skipped ? json_incref(plan->skipped) : json_array());
    *status = plan->nruns ? 202 : 200;
    return out;
}

bool rt_host_accept_replayed(const rt_host_accept *plan)
{
    for (int i = 0; i < plan->nruns; i++)
        if (!plan->runs[i].replayed) return false;
    return plan->nruns > 0;
}

void rt_host_accept_free(rt_host_accept *plan)
{
    for (int i = 0; i < plan->nruns; i++) {
        json_decref(plan->runs[i].settings);
        free(plan->runs[i].text);
        free(plan->runs[i].idem_key);
    }
    free(plan->runs);
    json_decref(plan->skipped);
    memset(plan, 0, sizeof *plan);
}
