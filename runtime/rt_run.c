/*
** rt_run.c — [engine] the state of one run shared by its contexts: its
** committed records, its commits (a store failure stops the run), its
** log lines, its environment and secrets as the run sees them.
*/
#include "rt_run.h"

#include "rt_co.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_status.h"

rt_status rt_run_outcome_status(rt_outcome o)
{
    switch (o) {
    case RT_RUN_SUCCEEDED: return RT_ST_SUCCEEDED;
    case RT_RUN_FAILED: return RT_ST_FAILED;
    case RT_RUN_INTERRUPTED: return RT_ST_INTERRUPTED;
    case RT_RUN_SKIPPED: return RT_ST_SKIPPED;
    default: return RT_ST_WAITING;
    }
}

void rt_run_init(rt_run_state *run, const rt_workflow *wf, rt_store *st, json_t *record)
{
    memset(run, 0, sizeof *run);
    run->wf = wf;
    run->store = st;
    run->record = record;
    snprintf(run->id, sizeof run->id, "%s", json_string_value(json_object_get(record, "id")));
    run->sleep_in_process = true;
    run->pending_logs = json_array();
    pthread_mutex_init(&run->lock, NULL);
    rt_log_run_begin(run->id, wf->name);
}

void rt_run_free(rt_run_state *run)
{
    rt_log_run_end(run->id);
    json_decref(run->env_values);
    json_decref(run->record);
    rt_committed_free(run->committed);
    json_decref(run->committed_logs);
    json_decref(run->pending_logs);
    json_decref(run->output);
    json_decref(run->reply);
    json_decref(run->info);
    rt_secrets_close(run->secrets);
    json_decref(run->base_urls);
    json_decref(run->retired);
    json_decref(run->step_outputs);
    json_decref(run->inputs_used);
    free(run->input_error);
    free(run->error);
    free(run->failed_step);
    pthread_mutex_destroy(&run->lock);
}

/* A store failure is fatal to the run: state we cannot record (or read)
** we must not act on. */
void rt_run_store_failed(rt_run_state *run, const char *err)
{
    rt_log_emit(run->id, "error", NULL, "%s", err);
    pthread_mutex_lock(&run->lock);
    if (!run->error) run->error = rt_xstrdup(err);
    run->stop = true;
    run->store_failed = true;
    run->store_unwritable |= rt_store_unwritable(err);
    pthread_mutex_unlock(&run->lock);
}

/* The record committed at path, by an earlier process or this one (a
** retried fanout must not redo the items that finished): a NEW reference,
** or NULL. Item and page records come from LMDB, not memory (a 100,000-item
** fanout would otherwise keep every record). A store error stops the run:
** callers check ctx_check before executing anything. */
json_t *rt_run_committed(rt_run_state *run, const char *path)
{
    char err[300];
    json_t *rec = rt_committed_get(run->committed, path, err, sizeof err);
    if (err[0]) rt_run_store_failed(run, err);
    return rec;
}

bool rt_run_commit(rt_run_state *run, const char *path, json_t *rec)
{
    return rt_run_commit_ex(run, path, rec, false);
}

/* deferrable: the record is final and its step has no side effects, so
** batch mode may group it with later commits, and a fanout item need not
** wait for it to be durable (rt_co_commit). */
bool rt_run_commit_ex(rt_run_state *run, const char *path, json_t *rec, bool deferrable)
{
    return rt_run_commit_text(run, path, rec, NULL, deferrable);
}

/* The log lines waiting for the run's next commit (a NEW reference), or
** NULL when there are none. */
static json_t *take_logs(rt_run_state *run)
{
    json_t *logs = NULL;
    pthread_mutex_lock(&run->lock);
    if (json_array_size(run->pending_logs)) {
        logs = run->pending_logs;
        run->pending_logs = json_array();
    }
    pthread_mutex_unlock(&run->lock);
    return logs;
}

/* Commits a step record with the pending log lines. lazy: the debt it joins
** without waiting (rt_co_commit_lazy), or NULL: a fanout item's coroutine
** waits for its group without blocking the others, and a lazy run's writes
** keep their order with its lazy ones. */
static bool commit_step(rt_run_state *run, const char *path, json_t *rec, const char *text, bool deferrable,
                        rt_co_debt *lazy)
{
    json_t *logs = take_logs(run);
    char err[256];
    rt_store_write w = { .run_id = run->id, .step_path = path, .step = rec, .step_text = text,
                         .logs = logs, .deferrable = deferrable };
    bool ok = lazy       ? rt_co_commit_lazy(run->store, &w, lazy, true, err, sizeof err)
              : run->lazy ? rt_co_commit_debt(run->store, &w, &run->debt, err, sizeof err)
                          : rt_co_commit(run->store, &w, err, sizeof err);
    json_decref(logs);
    if (ok) rt_committed_note(run->committed, path);   /* items and pages: the path only */
    else rt_run_store_failed(run, err);
    return ok;
}

bool rt_run_commit_text(rt_run_state *run, const char *path, json_t *rec, const char *text, bool deferrable)
{
    return commit_step(run, path, rec, text, deferrable, NULL);
}

/* The debt a context's step records join: the run's (lazy), the item's
** (for a step with effects: a function step's record stays deferrable), or
** NULL: committed at once. */
static rt_co_debt *outcome_debt(rt_run_state *run, rt_co_debt *debt, bool effects)
{
    if (!rt_co_current()) return NULL;
    return run->lazy ? &run->debt : effects ? debt : NULL;
}

bool rt_run_commit_outcome(rt_run_state *run, rt_co_debt *debt, const char *path, json_t *rec, const char *text,
                           bool effects)
{
    rt_co_debt *d = outcome_debt(run, debt, effects);
    return commit_step(run, path, rec, text, !d && !effects, d);
}

bool rt_run_barrier(rt_run_state *run, rt_co_debt *debt)
{
    char err[256];
    rt_co_debt *d = run->lazy ? &run->debt : debt;
    if (!d || rt_co_barrier(d, err, sizeof err)) return true;
    rt_run_store_failed(run, err);
    return false;
}

bool rt_run_flush(rt_run_state *run)
{
    char err[256];
    if (!run->lazy || rt_co_flush(&run->debt, err, sizeof err)) return true;
    rt_run_store_failed(run, err);
    return false;
}

bool rt_run_commit_record(rt_run_state *run, const rt_store_write *w, char *err, size_t errlen)
{
    return run->lazy ? rt_co_commit_debt(run->store, w, &run->debt, err, errlen)
                     : rt_store_commit(run->store, w, err, errlen);
}

/* The run record says `waiting` (with its wake-up time) while a context
** sleeps in a durable wait, `running` again once none does, so history
** shows what a run is doing and when it is due. */
void rt_run_mark_waiting(rt_run_state *run, int64_t wake_at)
{
    pthread_mutex_lock(&run->lock);
    bool change = wake_at ? run->nwaiting++ == 0 : --run->nwaiting == 0;
    char err[256] = "";
    if (change) {
        json_t *rec = run->record;
        json_object_set_new(rec, "status", rt_status_json(wake_at ? RT_ST_WAITING : RT_ST_RUNNING));
        if (wake_at) json_object_set_new(rec, "wake_at", json_integer(wake_at));
        else json_object_del(rec, "wake_at");
        json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
        rt_store_write w = { .run_id = run->id, .run = rec };
        if (rt_store_commit(run->store, &w, err, sizeof err)) err[0] = 0;
    }
    pthread_mutex_unlock(&run->lock);
    if (err[0]) rt_run_store_failed(run, err);     /* the next step boundary stops the run */
}

/* A line of the run's history at path; replayed lines are not repeated. */
void rt_run_add_log(rt_run_state *run, const char *path, int line, const char *msg)
{
    if (json_object_get(run->committed_logs, path)) return;
    char *red = rt_redact(msg);
    json_t *f = json_pack("{s:s, s:s}", "event", "log", "path", path);
    if (line) json_object_set_new(f, "line", json_integer(line));
    rt_log_emit(run->id, "info", f, "log: %s", red);
    json_t *rec = json_pack("{s:I, s:s, s:i, s:s}", "ts", (json_int_t)rt_now_ms(), "path", path, "line", line,
                            "msg", red);
    pthread_mutex_lock(&run->lock);
    json_array_append_new(run->pending_logs, rec);
    pthread_mutex_unlock(&run->lock);
    free(red);
}

const char *rt_run_getenv(const rt_run_state *run, const char *var)
{
    if (run->test_mode) return json_string_value(json_object_get(run->test_env, var));
    return getenv(var);
}

char *rt_run_secret(rt_run_state *run, const char *name)
{
    return rt_secrets_get(run->secrets, name);
}

void rt_run_set_secret(rt_run_state *run, const char *name, const char *value)
{
    rt_secrets_set(run->secrets, name, value);
}

const char *rt_run_integ_base(rt_run_state *run, const rt_integration *in)
{
    if (!in) return NULL;
    if (run->base_urls) {
        pthread_mutex_lock(&run->lock);
        const char *conn = json_string_value(json_object_get(run->base_urls, in->name));
        pthread_mutex_unlock(&run->lock);
        if (conn && *conn) return conn;
    }
    char var[160];
    const char *e = rt_run_getenv(run, rt_env_name(var, sizeof var, "FLOW_", in->name, "_BASE_URL"));
    return e && *e ? e : in->base_url;
}

void rt_run_set_base_url(rt_run_state *run, const char *integ, const char *url)
{
    pthread_mutex_lock(&run->lock);
    if (!run->base_urls) run->base_urls = json_object();
    json_t *old = json_object_get(run->base_urls, integ);
    if (old) {
        if (!run->retired) run->retired = json_array();
        json_array_append(run->retired, old);  /* a reader may hold its string */
    }
    json_object_set_new(run->base_urls, integ, json_string(url));
    pthread_mutex_unlock(&run->lock);
}

void rt_run_open(rt_run_state *run, const rt_run_setup *setup)
{
    rt_run_init(run, setup->wf, setup->store, setup->record);
    run->state_dir = setup->state_dir;
    run->test_mode = setup->test_mode;
    run->test_env = setup->test_env;
    if (setup->secrets) {
        run->secrets = setup->secrets;
        return;
    }
    rt_secrets_source src = { .store = setup->store, .state_dir = setup->state_dir,
                              .user = json_string_value(json_object_get(setup->record, "user")),
                              .declared = setup->wf->secrets, .ndeclared = setup->wf->nsecrets,
                              .given = setup->test_secrets, .env = setup->test_env, .test_mode = setup->test_mode,
                              .own_redaction = setup->own_redaction };
    run->secrets = rt_secrets_open(&src);
}
