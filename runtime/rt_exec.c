/*
** rt_exec.c — [engine] a whole run: claim it, run the workflow body with
** deterministic replay, and commit the final record.
**
** A step's path names its checkpoint: "person", "tagged[3].add", "wait@12".
** Before executing, a step looks its path up in the records committed by
** earlier attempts of the run (run->committed) and returns that output
** instead (rt_step.c). Otherwise it runs attempts until one succeeds, a
** failure is not retryable, or retries are exhausted, and commits the
** outcome before the body moves on. The body is called again from the top
** on resume: conditions only read committed values, so it takes the same path.
*/
#include "rt_exec.h"

#include "rt_log.h"
#include "rt_owner.h"
#include "rt_status.h"
#include "rt_type.h"

/* Makes the run this process's (rt_owner_claim), or says why not: false
** with the outcome set. */
static bool claim_run(rt_run_state *run)
{
    char msg[512];
    switch (rt_owner_claim(run->store, run->record, msg, sizeof msg)) {
    case RT_CLAIM_OK: return true;
    case RT_CLAIM_OWNED:
    case RT_CLAIM_ENDED:
        rt_log_emit(run->id, "info", json_pack("{s:s}", "event", "run_skipped"), "%s: not executed here", msg);
        run->outcome = RT_RUN_SKIPPED;
        break;
    case RT_CLAIM_ERROR:
        /* nothing was written: the run is as it was, unfinished */
        rt_log_emit(run->id, "error", NULL, "%s", msg);
        run->store_failed = true;
        run->store_unwritable = rt_store_unwritable(msg);
        run->outcome = RT_RUN_INTERRUPTED;
        break;
    }
    run->error = rt_xstrdup(msg);
    return false;
}

rt_outcome rt_exec_run(rt_run_state *run)
{
    const rt_workflow *wf = run->wf;
    json_t *rec = run->record;
    char err[256];
    if (!claim_run(run)) {
        run->committed = rt_committed_new(run->store, run->id);
        return run->outcome;
    }
    run->committed = rt_committed_load(run->store, run->id, err, sizeof err);
    if (!run->committed) {
        /* the run stays claimed (running): the next claim of a live
        ** process (serve's, or a resume after this one) tries again */
        rt_log_emit(run->id, "error", NULL, "%s", err);
        run->committed = rt_committed_new(run->store, run->id);
        run->store_failed = true;
        run->outcome = RT_RUN_INTERRUPTED;
        run->error = rt_xstrdup(err);
        return run->outcome;
    }
    if (run->only_step) {
        run->step_outputs = json_object();
        run->inputs_used = json_object();
    }
    run->committed_logs = rt_store_get_logs(run->store, run->id);
    /* from here on this thread (and the run's coroutines) redact with the
    ** run's set when it has one of its own (serve) */
    rt_redact_set *own = rt_secrets_redaction(run->secrets);
    rt_redact_set *outer = own ? rt_redact_use(own) : NULL;

    int attempt_no = (int)json_integer_value(json_object_get(rec, "attempt"));
    rt_log_emit(run->id, "info",
                json_pack("{s:s, s:s, s:i}", "event", "run", "status", rt_status_name(RT_ST_RUNNING), "attempt", attempt_no),
                "run %s (attempt %d)", attempt_no > 1 ? "resumed" : "started", attempt_no);
    int64_t t0 = rt_mono_ms();

    rt_ctx *c = rt_ctx_new(run, NULL, "");
    if (rt_secrets_error(run->secrets)) {
        /* a connected user's secrets that do not open: the run fails
        ** before any step rather than run with other credentials */
        rt_ctx_fail(c, NULL, rt_secrets_error(run->secrets));
    } else {
        wf->body(c);
    }
    rt_ctx_check(c);

    if (run->only_step) {
        /* Test Step: the step's output, or why it did not run */
        if (run->input_error) {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xstrdup(run->input_error);
        } else if (c->failure) {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xstrdup(c->failure);
            run->failed_step = c->failed_step ? rt_xstrdup(c->failed_step) : NULL;
        } else if (run->step_done) {
            run->outcome = RT_RUN_SUCCEEDED;
            json_t *one = json_object_get(run->step_outputs, run->only_step);
            run->output = json_incref(one ? one : run->step_outputs);
        } else if (rt_signal_interrupted()) {
            run->outcome = RT_RUN_INTERRUPTED;
        } else {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xprintf("step '%s' did not run: a condition skipped it, the run ended before it, "
                                    "or there is no such step", run->only_step);
            run->input_error = rt_xstrdup(run->error);      /* a usage error: exit 2 */
        }
        const char *k;
        json_t *v;
        json_object_foreach(run->step_inputs, k, v)
            if (!run->inputs_from_run && !json_object_get(run->inputs_used, k) && strcmp(k, run->only_step) != 0)
                rt_log_emit(run->id, "warning", NULL, "--input names step '%s', which did not come before '%s'", k,
                            run->only_step);
    } else if (run->store_unwritable) {
        /* a commit failed and may succeed later: what ran after the last
        ** good commit is not taken as done (a failure it caused may be the
        ** store's); the run stays resumable */
        run->outcome = RT_RUN_INTERRUPTED;
    } else if (run->suspended) {
        run->outcome = RT_RUN_WAITING;
    } else if (rt_signal_interrupted() && !c->returned && !c->failure) {
        run->outcome = RT_RUN_INTERRUPTED;
    } else if (run->stop && !c->failure) {
        run->outcome = RT_RUN_FAILED;       /* the store failed under us */
    } else if (c->failure) {
        run->outcome = RT_RUN_FAILED;
        free(run->error);
        run->error = rt_xstrdup(c->failure);
        run->failed_step = c->failed_step ? rt_xstrdup(c->failed_step) : NULL;
    } else if (c->returned) {
        char e[600];
        if (wf->output_type && !rt_type_check(wf->output_type, c->ret, "run output", e, sizeof e)) {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xstrdup(e);
        } else {
            run->outcome = RT_RUN_SUCCEEDED;
            run->output = json_incref(c->ret);
        }
    } else {
        run->outcome = RT_RUN_FAILED;
        run->error = rt_xstrdup("the workflow body stopped without a result");
    }

    /* the final record, with the log lines not yet written; the reason
    ** redacted (a store or --input error was not) and valid UTF-8, so that
    ** it is never left out of the record */
    if (run->error) {
        char *red = rt_redact(run->error);
        free(run->error);
        run->error = red;
    }
    json_object_set_new(rec, "status", json_string(rt_status_name(rt_run_outcome_status(run->outcome))));
    json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
    if (run->output) json_object_set_new(rec, "output", rt_redact_json(run->output));
    /* a request trigger's answer: a `return status` of a run that succeeded,
    ** a `fail status` of one that failed there */
    bool on_fail = json_is_true(json_object_get(run->reply, "on_fail"));
    if (run->reply && ((run->outcome == RT_RUN_SUCCEEDED && !on_fail) || (run->outcome == RT_RUN_FAILED && on_fail))) {
        json_t *reply = rt_redact_json(run->reply);
        json_object_del(reply, "on_fail");
        json_object_set_new(rec, "reply", reply);
    } else
        json_object_del(rec, "reply");
    if (run->error) json_object_set_new(rec, "error", json_string(run->error));
    else json_object_del(rec, "error");
    if (run->failed_step) json_object_set_new(rec, "failed_step", json_string(run->failed_step));
    else json_object_del(rec, "failed_step");
    if (run->outcome == RT_RUN_WAITING) json_object_set_new(rec, "wake_at", json_integer(run->wake_at));
    else json_object_del(rec, "wake_at");
    if (run->outcome == RT_RUN_SUCCEEDED || run->outcome == RT_RUN_FAILED)
        json_object_set_new(rec, "ended", json_integer(rt_now_ms()));
    else
        json_object_del(rec, "ended");
    pthread_mutex_lock(&run->lock);
    json_t *logs = run->pending_logs;
    run->pending_logs = json_array();
    pthread_mutex_unlock(&run->lock);
    rt_store_write w = { .run_id = run->id, .run = rec, .old_status = rt_status_name(RT_ST_RUNNING),
                         .logs = json_array_size(logs) ? logs : NULL };
    if (!rt_store_commit(run->store, &w, err, sizeof err)) {
        /* the store still says running: not ended until it says so, the
        ** next claim replays it (committed steps are not executed again) */
        rt_log_emit(run->id, "error", NULL, "%s", err);
        run->store_failed = true;
        run->store_unwritable |= rt_store_unwritable(err);
        if (run->outcome != RT_RUN_INTERRUPTED) {
            free(run->error);
            run->error = rt_xstrdup(err);
            run->outcome = RT_RUN_INTERRUPTED;
        }
    }
    json_decref(logs);
    rt_store_sync(run->store);
    if (run->on_finish) run->on_finish(c, run->on_finish_arg);
    rt_ctx_free(c);

    long long ms = (long long)(rt_mono_ms() - t0);
    json_t *f = json_pack("{s:s, s:s, s:I}", "event", "run", "status", rt_status_name(rt_run_outcome_status(run->outcome)), "ms",
                          (json_int_t)ms);
    switch (run->outcome) {
    case RT_RUN_SUCCEEDED: rt_log_emit(run->id, "info", f, "run succeeded in %lld ms", ms); break;
    case RT_RUN_FAILED:
        if (run->error) json_object_set_new(f, "error", json_string(run->error));
        rt_log_emit(run->id, "error", f, "run failed: %s", run->error ? run->error : "unknown error");
        break;
    case RT_RUN_INTERRUPTED:
        if (run->store_failed) {
            if (run->error) json_object_set_new(f, "error", json_string(run->error));
            rt_log_emit(run->id, "warning", f, "run stopped after %lld ms: the state store failed; `%s resume` (or serve, by itself) goes on from its last stored step once writes succeed", ms, rt_log_name());
        } else {
            rt_log_emit(run->id, "warning", f, "run interrupted after %lld ms; `%s resume` finishes it", ms, rt_log_name());
        }
        break;
    case RT_RUN_SKIPPED: break;         /* returned before running */
    case RT_RUN_WAITING: {
        char when[40];
        rt_format_time(run->wake_at, when, sizeof when);
        json_object_set_new(f, "wake_at", json_string(when));
        rt_log_emit(run->id, "info", f, "run waiting until %s; `%s resume` then wakes it", when, rt_log_name());
        break;
    }
    }
    rt_log_flush();
    if (own) rt_redact_use(outer);
    return run->outcome;
}
