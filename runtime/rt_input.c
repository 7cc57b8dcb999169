/*
** rt_input.c — [engine] what a run reads: its trigger, settings, env,
** secrets, and run.* (id, user, attempt), status and output.
*/
#include "rt_input.h"

#include "rt_redact.h"
#include "rt_status.h"

json_t *rt_trigger(rt_ctx *c)
{
    json_t *t = json_object_get(c->run->record, "trigger");
    return t ? t : json_null();
}

json_t *rt_settings(rt_ctx *c)
{
    json_t *s = json_object_get(c->run->record, "settings");
    return s ? s : json_null();
}

/* env.NAME is typed string: an unset variable fails the run, naming it,
** rather than letting null into a string (as a secret does). */
/* Each env.NAME is read once per run (a getenv scans the whole
** environment, and a fanout reads env.API for every item), and kept as a
** JSON string the run owns. */
json_t *rt_env(rt_ctx *c, const char *name)
{
    rt_run_state *run = c->run;
    pthread_mutex_lock(&run->lock);
    if (!run->env_values) run->env_values = json_object();
    json_t *v = json_object_get(run->env_values, name);
    if (!v) {
        const char *e = rt_run_getenv(run, name);
        if (e) json_object_set_new(run->env_values, name, v = rt_json_bytes(e));
    }
    pthread_mutex_unlock(&run->lock);
    if (!v) {
        rt_ctx_raise(c, 0, "environment variable %s is not set (env.%s)", name, name);
        return rt_str(c, "");
    }
    return v;
}

/* rt_secrets_get's resolution: a user's run has its user's stored secrets
** and connections only; a run without a user reads FLOW_SECRET_<NAME>. */
json_t *rt_input_secret(rt_ctx *c, const char *name)
{
    char *v = rt_run_secret(c->run, name);
    if (!v) {
        char var[200];
        rt_env_name(var, sizeof var, "FLOW_SECRET_", name, "");
        const char *user = json_string_value(json_object_get(c->run->record, "user"));
        if (user && !c->run->test_mode)
            rt_ctx_raise(c, 0, "secret '%s' is not set for user %s (store it with `users set %s --secret %s=...`, "
                         "or `connect %s INTEGRATION --secret %s=...` for an integration's)", name, user, user, name,
                         user, name);
        else if (user)
            rt_ctx_raise(c, 0, "secret '%s' is not set (store it with `users set %s --secret %s=...`, or set %s)",
                         name, user, name, var);
        else
            rt_ctx_raise(c, 0, "secret '%s' is not set (set %s)", name, var);
        return rt_str(c, "");
    }
    json_t *s = rt_str(c, v);       /* registered by rt_secrets_get */
    memset(v, 0, strlen(v));
    free(v);
    return s;
}

json_t *rt_secret(rt_ctx *c, const char *name)
{
    return rt_input_secret(c, name);
}

json_t *rt_run(rt_ctx *c)
{
    rt_run_state *run = c->run;
    pthread_mutex_lock(&run->lock);
    if (!run->info) {
        /* run.user is a string (the checker types it so): "" when the run
        ** has no user (a development run without --user) */
        const char *user = json_string_value(json_object_get(run->record, "user"));
        run->info = json_pack("{s:s, s:s, s:I}", "id", run->id, "user", user ? user : "", "attempt",
                              json_integer_value(json_object_get(run->record, "attempt")));
    }
    pthread_mutex_unlock(&run->lock);
    return run->info;
}

json_t *rt_run_output(rt_ctx *c)
{
    return c->run->output ? c->run->output : json_null();
}

json_t *rt_run_status(rt_ctx *c)
{
    const char *s = json_string_value(json_object_get(c->run->record, "status"));
    return rt_str(c, s ? s : rt_status_name(RT_ST_RUNNING));
}
