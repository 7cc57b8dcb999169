/*
** rt_steps.c — [engine] the step calls of generated code (rt_request,
** rt_function, rt_fanout, rt_step_given), and Test Step (`run --step NAME
** --input FILE`): one step run with its upstream outputs given.
*/
#include "rt_steps.h"

#include "rt_fanout.h"
#include "rt_function.h"
#include "rt_log.h"
#include "rt_page.h"
#include "rt_request.h"
#include "rt_status.h"
#include "rt_type.h"

static rt_attempt_outcome failed_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                      rt_attempt *out)
{
    (void)c;
    (void)d;
    (void)path;
    (void)n;
    out->error = rt_xstrdup(arg);
    return RT_ATT_FAIL;
}

/* A request step: looked up first, so that a replayed one is not even
** prepared. Its path, input and prepared request stay in this frame (on a
** fanout item's coroutine stack) while they fit. */
static rt_result *request_step(rt_ctx *c, const rt_step_desc *d, const rt_request_parts *req)
{
    if (!rt_ctx_check(c)) return NULL;
    char path_first[256];
    rt_buf path = rt_buf_on(path_first, sizeof path_first);
    rt_ctx_step_path_to(c, d->name, &path);
    json_t *prev;
    rt_result *r = rt_step_replay(c, d, path.data, &prev);
    if (r || !rt_ctx_check(c)) {
        if (r)
            rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path.data,
                                                      "status", rt_status_name(RT_ST_REPLAYED)),
                        "step '%s' replayed from its checkpoint", path.data);
        json_decref(prev);
        rt_buf_free(&path);
        return r;
    }
    rt_prepared_request p;
    char *err = NULL;
    bool ok = rt_request_prepare(c, d, path.data, req, &p, &err);
    if (!ok || c->error) {
        /* cannot even build the request (or a secret was missing): a
        ** permanent failure of the step, through the common path */
        json_decref(prev);
        rt_buf_free(&path);
        if (!err && c->error) {
            err = c->error;     /* the step owns this error: it may continue */
            c->error = NULL;
        }
        json_t *input = json_pack("{s:o}", "request", rt_request_object(d, req));
        r = rt_step_run(c, d, "request", input, failed_attempt, err ? err : "cannot build the request");
        json_decref(input);
        rt_request_prepared_free(&p);
        free(err);
        return r;
    }
    char first[512];            /* the input's text while it fits, for the record (which borrows it) */
    rt_buf input = rt_buf_on(first, sizeof first);
    rt_request_input(&p, &input);
    r = rt_step_run_text(c, d, "request", &input, path.data, prev, rt_page_attempt, &p);
    rt_buf_free(&input);
    rt_request_prepared_free(&p);
    rt_buf_free(&path);
    return r;
}

/* Whether a given output fits what step d produces. */
static bool input_fits(const rt_step_desc *d, json_t *v, char *err, size_t n)
{
    char what[200];
    snprintf(what, sizeof what, "--input: step '%s'", d->name);
    if (d->kind == RT_STEP_FUNCTION || (d->kind == RT_STEP_REQUEST && d->body_output && d->paginate == RT_PAGE_NONE))
        return rt_type_check(d->out_type, v, what, err, n);
    if (d->kind == RT_STEP_FANOUT) {
        if (json_is_array(v)) return true;
        snprintf(err, n, "%s: expected a list (one output per item)", what);
        return false;
    }
    if (!json_is_object(v)) {
        snprintf(err, n, "%s: expected an object { status, headers, %s }", what,
                 d->paginate != RT_PAGE_NONE ? "pages, items" : "body");
        return false;
    }
    json_t *status = json_object_get(v, "status");
    if (status && !json_is_integer(status)) {
        snprintf(err, n, "%s: field 'status' expected int", what);
        return false;
    }
    if (d->paginate != RT_PAGE_NONE) {
        if (json_is_array(json_object_get(v, "items"))) return true;
        snprintf(err, n, "%s: field 'items' expected a list", what);
        return false;
    }
    snprintf(what, sizeof what, "--input: step '%s' body", d->name);
    json_t *body = json_object_get(v, "body");
    return rt_type_check(d->out_type, body ? body : json_null(), what, err, n);
}

/* What a step does in Test Step mode instead of running: 0 run it, 1 *r
** holds its given output (or a not-run result), 2 stop the run. */
static int step_mode(rt_ctx *c, const rt_step_desc *d, rt_result **r)
{
    rt_run_state *run = c->run;
    *r = NULL;
    if (strcmp(d->name, run->only_step) == 0) return 0;
    char *path = rt_ctx_step_path(c, d->name);
    pthread_mutex_lock(&run->lock);
    /* by path first: --from gives each fanout item's steps their own outputs */
    json_t *given = json_object_get(run->step_inputs, path);
    if (!given) given = json_object_get(run->step_inputs, d->name);
    if (given) json_object_set_new(run->inputs_used, d->name, json_true());
    pthread_mutex_unlock(&run->lock);
    if ((!given || run->inputs_from_run) && d->kind == RT_STEP_FANOUT) {
        free(path);
        return 0;       /* its body may hold the step */
    }
    if (!rt_ctx_check(c)) {
        free(path);
        return 2;
    }
    if (given) {
        char err[700];
        if (!input_fits(d, given, err, sizeof err)) {
            pthread_mutex_lock(&run->lock);
            if (!run->input_error) run->input_error = rt_xstrdup(err);
            run->stop = true;
            pthread_mutex_unlock(&run->lock);
            free(path);
            return 2;
        }
        *r = rt_ctx_set_result(c, d, given, true, NULL);
    } else {
        rt_log_emit(run->id, "warning", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path, "status", rt_status_name(RT_ST_MISSING)),
                    "step '%s' is not in --input: it counts as not run", path);
        *r = rt_ctx_set_result(c, d, NULL, false, "not run (no output given in --input)");
    }
    free(path);
    return 1;
}

/* After a step in Test Step mode: the step under test records its output
** and ends its context; the run ends after it (or after the fanout that
** ran it). */
static rt_result *step_mode_after(rt_ctx *c, const rt_step_desc *d, rt_result *r)
{
    rt_run_state *run = c->run;
    if (strcmp(d->name, run->only_step) == 0) {
        if (!r) return NULL;
        char *path = rt_ctx_step_path(c, d->name);
        if (!r->ok && !d->continue_on_failure) {
            char *msg = rt_xprintf("step '%s': %s", path, json_string_value(r->error));
            rt_ctx_fail(c, path, msg);
            free(msg);
        }
        pthread_mutex_lock(&run->lock);
        /* as the run would: a failure `on failure continue` keeps (in a
        ** fanout item too) shows as null, and the other items go on */
        json_object_set(run->step_outputs, path, rt_result_out(r));
        run->step_done = true;
        if (!c->parent) run->stop = true;
        pthread_mutex_unlock(&run->lock);
        free(path);
        return NULL;
    }
    if (run->step_done && !c->parent) {
        pthread_mutex_lock(&run->lock);
        run->stop = true;
        pthread_mutex_unlock(&run->lock);
        return NULL;
    }
    return r;
}

rt_result *rt_step_given(rt_ctx *c, const rt_step_desc *d)
{
    if (!c->run->only_step || d->kind == RT_STEP_FANOUT) return NULL;
    rt_result *r;
    return step_mode(c, d, &r) == 1 ? r : NULL;     /* 0 and 2: the step's own call decides */
}

rt_result *rt_request(rt_ctx *c, const rt_step_desc *d, json_t *url, json_t *headers, json_t *query,
                      json_t *json, json_t *form, json_t *body)
{
    rt_request_parts req = { url, headers, query, json, form, body };
    rt_result *r;
    if (!c->run->only_step) return request_step(c, d, &req);
    int m = step_mode(c, d, &r);
    return m ? r : step_mode_after(c, d, request_step(c, d, &req));
}

/* Test Step of a function step: --input may also give the step's own
** parameters (its input, as `show` lists it), either under the step's name
** ({"grade": {"score": 95}}) or as top-level keys that name a parameter and
** no earlier step ({"score": 95}). They replace the values computed from
** the trigger and the other steps. The parameters to call with: params, or
** a copy with the given ones (kept by c's pool). */
static json_t *given_params(rt_ctx *c, const rt_step_desc *d, json_t *params)
{
    rt_run_state *run = c->run;
    json_t *out = params;
    pthread_mutex_lock(&run->lock);
    json_t *own = json_object_get(run->step_inputs, d->name);
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v) {
        json_t *g = json_is_object(own) ? json_object_get(own, k) : NULL;
        if (!g && !json_object_get(run->inputs_used, k)) g = json_object_get(run->step_inputs, k);
        if (!g) continue;
        if (out == params) out = rt_pool_keep(rt_ctx_pool(c), json_copy(params));
        json_object_set(out, k, g);
        json_object_set_new(run->inputs_used, k, json_true());     /* used: no "did not come before" warning */
    }
    pthread_mutex_unlock(&run->lock);
    return out;
}

rt_result *rt_function(rt_ctx *c, const rt_step_desc *d, json_t *params, rt_function_fn fn)
{
    rt_result *r;
    if (!c->run->only_step) return rt_function_step(c, d, params, fn);
    int m = step_mode(c, d, &r);
    return m ? r : step_mode_after(c, d, rt_function_step(c, d, given_params(c, d, params), fn));
}

rt_result *rt_fanout(rt_ctx *c, const rt_step_desc *d, json_t *list, rt_item_fn item)
{
    rt_result *r;
    if (!c->run->only_step) return rt_fanout_step(c, d, list, item);
    int m = step_mode(c, d, &r);
    return m ? r : step_mode_after(c, d, rt_fanout_step(c, d, list, item));
}
