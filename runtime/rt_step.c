/*
** rt_step.c — [engine] the step driver: replay of a committed outcome,
** attempts with retries and backoff (committed, so a resumed run waits out
** the same backoff), the step record (rt_record.h) and its commit, the
** step's log lines.
*/
#include "rt_step.h"

#include "rt_log.h"
#include "rt_record.h"
#include "rt_signal.h"
#include "rt_status.h"

json_t *rt_step_null_list(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_null());
    return a;
}

/* The output a committed record replays: a NEW reference. */
static json_t *replayed_output(const json_t *rec)
{
    json_t *out = json_object_get(rec, "output");
    if (!out && json_is_integer(json_object_get(rec, "count")))
        return rt_step_null_list((size_t)json_integer_value(json_object_get(rec, "count")));
    return json_incref(out);
}

/* The output of a paginated request whose record left the items to its
** pages' records (PATH#page1 ...): a NEW reference, or NULL (the context
** failed) when a page's record cannot be read. */
static json_t *output_from_pages(rt_ctx *c, const char *path, const json_t *rec)
{
    json_t *out = json_deep_copy(json_object_get(rec, "output")), *items = json_array();
    json_int_t pages = json_integer_value(json_object_get(out, "pages"));
    for (json_int_t k = 1; k <= pages; k++) {
        char *pp = rt_xprintf("%s#page%lld", path, (long long)k);
        json_t *prec = rt_run_committed(c->run, pp);
        if (!prec || !json_is_array(json_object_get(prec, "items"))) {
            if (rt_ctx_check(c)) {
                char *msg = rt_xprintf("step '%s': the record of page %lld is missing from the state", path,
                                       (long long)k);
                rt_ctx_fail(c, path, msg);
                free(msg);
            }
            json_decref(prec);
            free(pp);
            json_decref(items);
            json_decref(out);
            return NULL;
        }
        json_array_extend(items, json_object_get(prec, "items"));
        json_decref(prec);
        free(pp);
    }
    json_object_set_new(out, "items", rt_redact_json(items));   /* as a stored output would be */
    json_decref(items);
    return out;
}

/* A committed outcome of the step at path, as a result; NULL when the step
** must (still) run, or when the store could not be read (the run stops:
** ctx_check). *rec is the record (a NEW reference) or NULL. */
static rt_result *replay(rt_ctx *c, const rt_step_desc *d, const char *path, json_t **rec)
{
    *rec = rt_run_committed(c->run, path);
    if (!*rec) return NULL;
    const char *status = json_string_value(json_object_get(*rec, "status"));
    if (rt_status_parse(status) == RT_ST_SUCCEEDED) {
        json_t *out = json_is_true(json_object_get(*rec, "items_in_pages")) ? output_from_pages(c, path, *rec)
                                                                           : replayed_output(*rec);
        if (!out) return NULL;      /* failed: ctx_check stops the step */
        rt_result *r = rt_ctx_set_result(c, d, out, true, NULL);
        json_decref(out);
        return r;
    }
    if (rt_status_parse(status) == RT_ST_FAILED && d->continue_on_failure)
        return rt_ctx_set_result(c, d, NULL, false, json_string_value(json_object_get(*rec, "error")));
    return NULL;
}

rt_result *rt_step_replay(rt_ctx *c, const rt_step_desc *d, const char *path, json_t **prev)
{
    rt_result *r = replay(c, d, path, prev);
    if (r) {
        json_decref(*prev);
        *prev = NULL;
    }
    return r;
}

/* The delay before attempt n+1: full jitter over an exponential backoff,
** but never less than what the server asked for (up to the cap). */
static int64_t retry_delay(const rt_step_desc *d, int n, long retry_after_ms)
{
    int64_t base = d->backoff_ms > 0 ? d->backoff_ms : 1000;
    int64_t cap = d->max_backoff_ms > 0 ? d->max_backoff_ms : 300000;
    int64_t exp = base;
    for (int i = 1; i < n && exp < cap; i++) exp *= 2;
    if (exp > cap) exp = cap;
    int64_t delay = (int64_t)rt_random((uint64_t)exp + 1);
    if (retry_after_ms >= 0) {
        int64_t ra = retry_after_ms < cap ? retry_after_ms : cap;
        if (ra > delay) delay = ra;
    }
    return delay;
}

static void log_step(rt_ctx *c, const char *path, rt_status status, long http_status, int64_t ms, int n,
                     const char *error, bool continues)
{
    json_t *f = NULL;           /* the fields: only JSON log lines show them */
    if (rt_log_json()) {
        f = json_pack("{s:s, s:s, s:s, s:I, s:i}", "event", "step", "step", path, "status", rt_status_name(status), "ms",
                      (json_int_t)ms, "attempt", n);
        if (http_status) json_object_set_new(f, "http_status", json_integer(http_status));
        if (error) json_object_set_new(f, "error", json_string(error));
    }
    if (error) {
        rt_log_emit(c->run->id, continues ? "warning" : "error", f, "step '%s' failed after %d attempt%s (%lld ms)%s: %s",
                    path, n, n == 1 ? "" : "s", (long long)ms, continues ? ", continuing" : "", error);
        return;
    }
    /* "step 'PATH' STATUS (HTTP 200, 12 ms)": a line per step, put together
    ** without a format to parse */
    char first[256];            /* most lines fit: no allocation for them */
    rt_buf line = rt_buf_on(first, sizeof first);
    rt_buf_puts(&line, "step '");
    rt_buf_puts(&line, path);
    rt_buf_puts(&line, "' ");
    rt_buf_puts(&line, rt_status_name(status));
    rt_buf_puts(&line, " (");
    if (http_status) {
        rt_buf_puts(&line, "HTTP ");
        rt_json_encode_int(&line, http_status);
        rt_buf_puts(&line, ", ");
    }
    rt_json_encode_int(&line, ms);
    rt_buf_puts(&line, n > 1 ? " ms, after retries)" : " ms)");
    rt_log_text(c->run->id, "info", f, line.data);
    rt_buf_free(&line);
}

/* Commits a step's record, written as text (rt_record.h) on the stack
** while it fits (a fanout item's coroutine waits for the commit with its
** stack in place; a deferred or lazy write copies it). final: the step's
** outcome, which a lazy run (serve) leaves to its next group
** (rt_run_commit_outcome; only a function step sends nothing); else a
** retry's record, committed at once. */
static bool commit_record(rt_ctx *c, const rt_step_desc *d, const char *path, const rt_step_record *rec, bool final)
{
    char first[2048];
    rt_buf text = rt_buf_on(first, sizeof first);
    rt_step_record_write(rec, &text);
    bool ok = final ? rt_run_commit_outcome(c->run, c->debt, path, NULL, text.data, d->kind != RT_STEP_FUNCTION)
                    : rt_run_commit_text(c->run, path, NULL, text.data, false);
    rt_buf_free(&text);
    return ok;
}

/* The attempt at succeeded: its record committed, its result (NULL when
** the commit failed: the run stops). Takes over at->output. */
static rt_result *step_succeeded(rt_ctx *c, const rt_step_desc *d, const char *path, rt_step_record *rec,
                                 rt_attempt *at, int64_t started, int n)
{
    rec->status = RT_ST_SUCCEEDED;
    rec->ended = rt_now_ms();
    /* stored with secrets redacted (an API echoing a token must not put it
    ** in the state): the record redacts as it is written; this run goes on
    ** with what arrived */
    if (at->count_only) {
        rec->count = (int64_t)json_array_size(at->output);
    } else if (at->items_in_pages) {
        rt_step_record_set_output(rec, json_pack("{s:O, s:O}", "status", json_object_get(at->output, "status"),
                                                 "pages", json_object_get(at->output, "pages")));
        rec->items_in_pages = true;
    } else {
        rt_step_record_set_output(rec, json_incref(at->output));
        if (at->response_parts) {       /* output is the body: { status, headers, body } */
            rt_buf_free(&rec->output_head);
            rec->output_head = at->head;
            rec->output_parts = true;
            rec->output_status = at->http_status;
            at->head = (rt_buf){ 0 };
        }
    }
    rt_result *r = NULL;
    if (commit_record(c, d, path, rec, true)) {
        if (c->run->on_step) c->run->on_step(c->run->on_step_arg, rec->kind, started, rec->ended);
        log_step(c, path, RT_ST_SUCCEEDED, at->http_status, rt_now_ms() - started, n, NULL, false);
        r = at->response_parts ? rt_ctx_set_response(c, d, at->http_status, at->output)
                               : rt_ctx_set_result(c, d, at->output, true, NULL);
    }
    json_decref(at->output);
    return r;
}

/* A permanent failure, or retries exhausted (msg redacted): the record
** committed; the result when the step continues on failure, else NULL
** with the context failed. */
static rt_result *step_failed(rt_ctx *c, const rt_step_desc *d, const char *path, rt_step_record *rec,
                              const char *msg, long http_status, int64_t started, int n)
{
    rec->status = RT_ST_FAILED;
    rec->ended = rt_now_ms();
    rt_step_record_set_error(rec, msg);
    if (d->continue_on_failure) rec->continued = true;
    if (!commit_record(c, d, path, rec, true)) return NULL;
    if (c->run->on_step) c->run->on_step(c->run->on_step_arg, rec->kind, started, rec->ended);
    log_step(c, path, RT_ST_FAILED, http_status, rt_now_ms() - started, n, msg, d->continue_on_failure);
    if (d->continue_on_failure) return rt_ctx_set_result(c, d, NULL, false, msg);
    char *full = rt_xprintf("step '%s': %s", path, msg);
    rt_ctx_fail(c, path, full);
    free(full);
    rt_ctx_set_result(c, d, NULL, false, msg);  /* s.error reads it (a test's expect) */
    return NULL;
}

/* Runs a step: replay, attempts with retries, validation, the commit. Its
** input is `input` (borrowed), or input_text, the input as JSON text,
** already redacted (taken over: left empty). path: the step's path
** (borrowed), or NULL to make it. looked_up: the caller looked for the
** step's committed outcome already (rt_step_replay) and found none but
** *prev (taken over; NULL: no record). */
static rt_result *step_run(rt_ctx *c, const rt_step_desc *d, const char *kind, json_t *input, rt_buf *input_text,
                           const char *given_path, bool looked_up, json_t *given_prev, rt_attempt_fn fn, void *arg)
{
    json_t *prev = given_prev;
    if (!rt_ctx_check(c)) {
        json_decref(prev);
        return NULL;
    }
    char *own_path = given_path ? NULL : rt_ctx_step_path(c, d->name);
    const char *path = given_path ? given_path : own_path;
    rt_step_record rec;
    bool have_rec = false;
    char *msg = NULL;
    rt_result *r = looked_up ? NULL : replay(c, d, path, &prev);
    if (r || !rt_ctx_check(c)) {
        if (r)
            rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path, "status",
                                                      rt_status_name(RT_ST_REPLAYED)),
                        "step '%s' replayed from its checkpoint", path);
        goto done;
    }
    int64_t started = rt_now_ms();
    have_rec = true;
    if (prev && json_object_get(prev, "attempts")) {
        /* resumed in the middle of retries: keep counting, honour the wait */
        rt_step_record_resume(&rec, prev);
        if (rec.next_at > rt_now_ms() && !rt_ctx_durable_sleep(c, rec.next_at)) goto done;
        if (rec.started) started = rec.started;
    } else {
        rt_step_record_init(&rec, kind, started, json_incref(input));
        if (input_text) rt_step_record_input_text(&rec, input_text);
    }
    int max_attempts = 1 + (d->retries > 0 ? d->retries : 0);
    char head_first[512];       /* a response's headers, for the record, while they fit */
    /* the records of the steps before this one are durable before it starts
    ** (a lazy run left them to its group: rt_run_commit_outcome). A step
    ** that sends nothing (a function; a fanout, whose items' requests wait
    ** here themselves) starts while they are being made durable: nothing
    ** of it leaves the run before they are (its own record follows them,
    ** and every later request or end waits), and a crash meanwhile makes
    ** it run again from them, as if it had not started. A fanout in an item
    ** with a debt of its own (rt_ctx.debt, a run not lazy) waits as a
    ** request does: its items' debts are theirs, not the item's. */
    bool waits = d->kind == RT_STEP_REQUEST || (d->kind == RT_STEP_FANOUT && c->debt && !c->run->lazy);
    if (waits ? !rt_run_barrier(c->run, c->debt) : !rt_run_flush(c->run)) goto done;

    for (;;) {
        int n = rec.nattempts + 1;
        int64_t t0 = rt_now_ms();
        rt_attempt at = { .retry_after_ms = -1, .head = rt_buf_on(head_first, sizeof head_first) };
        rt_attempt_outcome o = fn(c, d, path, arg, n, &at);
        if (o != RT_ATT_OK) rt_buf_free(&at.head);      /* only an output's */
        if (o == RT_ATT_STOP) {
            free(at.error);
            goto done;
        }
        rt_step_record_attempt(&rec, n, t0, rt_now_ms(), o == RT_ATT_OK ? NULL : at.error, at.http_status);
        rec.next_at = 0;
        if (o == RT_ATT_OK) {
            r = step_succeeded(c, d, path, &rec, &at, started, n);
            rt_buf_free(&at.head);
            goto done;
        }
        msg = rt_redact(at.error ? at.error : "failed");
        free(at.error);
        if (o != RT_ATT_RETRY || n >= max_attempts || rt_signal_interrupted()) {
            r = step_failed(c, d, path, &rec, msg, at.http_status, started, n);
            goto done;
        }
        int64_t delay = retry_delay(d, n, at.retry_after_ms);
        rec.status = RT_ST_RETRYING;
        rec.next_at = rt_now_ms() + delay;
        if (!commit_record(c, d, path, &rec, false)) goto done;
        rt_log_emit(c->run->id, "warning",
                    json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}", "event", "retry", "step", path, "status",
                              rt_status_name(RT_ST_RETRYING), "attempt", n, "delay_ms", (json_int_t)delay, "error", msg),
                    "step '%s' attempt %d failed: %s; retrying in %lld ms", path, n, msg, (long long)delay);
        free(msg);
        msg = NULL;
        if (!rt_ctx_durable_sleep(c, rec.next_at)) goto done;
    }
done:
    free(msg);
    if (have_rec) rt_step_record_free(&rec);
    json_decref(prev);
    free(own_path);
    return r;
}

rt_result *rt_step_run(rt_ctx *c, const rt_step_desc *d, const char *kind, json_t *input, rt_attempt_fn fn,
                       void *arg)
{
    return step_run(c, d, kind, input, NULL, NULL, false, NULL, fn, arg);
}

rt_result *rt_step_run_text(rt_ctx *c, const rt_step_desc *d, const char *kind, rt_buf *input_text,
                            const char *path, json_t *prev, rt_attempt_fn fn, void *arg)
{
    return step_run(c, d, kind, NULL, input_text, path, true, prev, fn, arg);
}
