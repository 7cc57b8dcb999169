/*
** rt_host_run.c — [host] opening a run for a project's user and ending one
** they may no longer run (rt_host_run.h).
*/
#include "rt_host_run.h"

#include "rt_log.h"
#include "rt_owner.h"
#include "rt_status.h"
#include "rt_util.h"

rt_secrets *rt_host_open_secrets(rt_store *st, const char *state_dir, const json_t *urec, const rt_workflow *wf,
                                 bool own_redaction, json_t **base_urls)
{
    char err[700] = "";
    json_t *urls = NULL;
    json_t *creds = rt_host_open_credentials(st, state_dir, urec, wf, &urls, err, sizeof err);
    rt_secrets_source src = { .user = json_string_value(json_object_get(urec, "id")), .given = creds,
                              .error = creds ? NULL : err, .own_redaction = own_redaction };
    rt_secrets *s = rt_secrets_open(&src);
    if (creds) {        /* wipe the copies: the run's set holds them now */
        const char *k;
        json_t *v;
        json_object_foreach(creds, k, v)
            if (json_is_string(v)) memset((char *)json_string_value(v), 0, json_string_length(v));
    }
    json_decref(creds);
    if (base_urls) *base_urls = urls;
    else json_decref(urls);
    return s;
}

rt_host_prep rt_host_open_run(rt_run_state *run, const rt_run_setup *setup, char *why, size_t n)
{
    rt_run_setup s = *setup;
    const char *user = json_string_value(json_object_get(s.record, "user"));
    if (!user || s.test_mode || s.secrets) {    /* development (FLOW_SECRET_*), a test, or opened already */
        rt_run_open(run, &s);
        return RT_HOST_READY;
    }
    json_t *urec = rt_host_user_get(s.store, user);
    json_t *base_urls = NULL;
    rt_host_prep prep = RT_HOST_READY;
    if (rt_host_ineligible(urec, user, s.wf, false, why, n)) {
        prep = RT_HOST_SKIP;    /* nothing of theirs is opened */
        s.secrets = rt_secrets_open(&(rt_secrets_source){ .user = user, .own_redaction = s.own_redaction });
    } else {
        s.secrets = rt_host_open_secrets(s.store, s.state_dir, urec, s.wf, s.own_redaction, &base_urls);
    }
    json_decref(urec);
    rt_run_open(run, &s);
    if (prep == RT_HOST_READY) {
        const char *integ;
        json_t *url;
        json_object_foreach(base_urls, integ, url) rt_run_set_base_url(run, integ, json_string_value(url));
        run->conn_newer_token = rt_host_conn_newer_token;     /* OAuth2: the connection, shared by workflows */
        run->conn_store = rt_host_conn_store;
    }
    json_decref(base_urls);
    return prep;
}

typedef struct end_arg {
    const json_t *mine;         /* the caller's copy: stored as it ends when it was never stored */
    rt_status status;
    const char *reason;
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
    rt_status status = rt_status_of(stored);
    if (rt_status_finished(status)) {
        snprintf(a->msg, a->n, "the run has %s meanwhile", rt_status_name(status));
        return NULL;
    }
    if (rt_owner_of(stored) == RT_OWNER_LIVE) {
        char who[96];
        snprintf(a->msg, a->n, "the run is being executed by %s", rt_owner_name(stored, who, sizeof who));
        return NULL;
    }
    json_t *rec = json_copy((json_t *)stored);
    int64_t now = rt_now_ms();
    json_object_set_new(rec, "status", rt_status_json(a->status));
    json_object_set_new(rec, "error", json_string(a->reason));
    json_object_set_new(rec, "updated", json_integer(now));
    json_object_set_new(rec, "ended", json_integer(now));
    json_object_del(rec, "wake_at");
    rt_owner_stamp(rec);
    a->written = json_incref(rec);
    return rec;
}

bool rt_host_end_run(rt_store *st, json_t *rec, rt_status status, const char *reason, char *err, size_t n)
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
