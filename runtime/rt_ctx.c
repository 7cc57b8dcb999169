/*
** rt_ctx.c — [engine] contexts (a run, or one fanout item of it): their
** value pools, raised expression errors, failures, the results of the
** steps they ran (in slots the compiler numbered), and durable sleeps.
*/
#include "rt_ctx.h"

#include <stdarg.h>

#include "rt_redact.h"
#include "rt_signal.h"

/* A context with the slots of the run's body (fanout NULL) or of an item
** of fanout: one block, the context, its result slots, its prefix. */
rt_ctx *rt_ctx_new_item(rt_run_state *run, rt_ctx *parent, const char *prefix, const rt_step_desc *fanout,
                        void *storage, size_t size)
{
    int nslots = fanout ? fanout->slots : run->wf ? run->wf->slots : 0;
    if (nslots < 0) nslots = 0;
    if (!prefix) prefix = "";
    size_t at = sizeof(rt_ctx) + (size_t)nslots * sizeof(rt_result), plen = strlen(prefix);
    bool fits = storage && at + plen + 1 <= size;
    rt_ctx *c = fits ? memset(storage, 0, at) : rt_xcalloc(1, at + plen + 1);
    c->on_storage = fits;
    c->run = run;
    c->parent = parent;
    c->depth = parent ? parent->depth + 1 : 0;
    c->prefix = memcpy((char *)c + at, prefix, plen + 1);
    c->fanout = fanout;
    c->nslots = nslots;
    return c;
}

rt_ctx *rt_ctx_new(rt_run_state *run, rt_ctx *parent, const char *prefix)
{
    return rt_ctx_new_item(run, parent, prefix, NULL, NULL, 0);
}

void rt_ctx_free(rt_ctx *c)
{
    rt_pool_release(&c->pool);
    free(c->error);
    free(c->failure);
    free(c->failed_step);
    if (!c->on_storage) free(c);
}

const char *rt_ctx_error(const rt_ctx *c)
{
    return c->error ? c->error : c->failure;
}

char *rt_ctx_take_error(rt_ctx *c)
{
    char *e = c->error;
    c->error = NULL;
    return e;
}

rt_pool *rt_ctx_pool(rt_ctx *c)
{
    return &c->pool;
}

void rt_ctx_raise(rt_ctx *c, int line, const char *fmt, ...)
{
    if (c->error) return;
    va_list ap;
    va_start(ap, fmt);
    c->error = rt_xvprintf(fmt, ap);
    va_end(ap);
    c->error_line = line;
}

/* d's slot in c, or NULL (raised on c). */
static rt_result *result_slot(rt_ctx *c, const rt_step_desc *d)
{
    if (d->slot >= 0 && d->slot < c->nslots) return &c->results[d->slot];
    rt_ctx_raise(c, d->line, "step '%s': slot %d outside its context's %d (generated code and runtime disagree)",
                 d->name, d->slot, c->nslots);
    return NULL;
}

rt_result *rt_ctx_set_result(rt_ctx *c, const rt_step_desc *d, json_t *out, bool ok, const char *error)
{
    rt_result *r = result_slot(c, d);
    if (!r) return NULL;
    *r = (rt_result){ .out = ok && out ? rt_pool_keep(&c->pool, json_incref(out)) : json_null(),
                      .ok = ok,
                      .error = ok ? json_null() : rt_pool_keep(&c->pool, rt_json_bytes(error ? error : "failed")),
                      .set = true };
    return r;
}

rt_result *rt_ctx_set_response(rt_ctx *c, const rt_step_desc *d, long status, json_t *body)
{
    rt_result *r = result_slot(c, d);
    if (!r) return NULL;
    *r = (rt_result){ .ok = true, .error = json_null(), .set = true,
                      .body = rt_pool_keep(&c->pool, json_incref(body ? body : json_null())), .status = status,
                      .pool = &c->pool };
    return r;
}

rt_result *rt_step_result(rt_ctx *c, const rt_step_desc *step)
{
    while (c && c->depth > step->depth) c = c->parent;
    if (!c || c->depth != step->depth || step->slot < 0 || step->slot >= c->nslots) return NULL;
    rt_result *r = &c->results[step->slot];
    return r->set ? r : NULL;
}

json_t *rt_var(rt_ctx *c, const rt_step_desc *fanout)
{
    while (c && c->depth > fanout->depth + 1) c = c->parent;
    return c && c->fanout == fanout ? c->value : json_null();
}

char *rt_ctx_step_path(rt_ctx *c, const char *name)
{
    return rt_xconcat(c->prefix, name, NULL);
}

void rt_ctx_step_path_to(rt_ctx *c, const char *name, rt_buf *b)
{
    rt_buf_puts(b, c->prefix);
    rt_buf_puts(b, name);
}

/* Suspends the run at a durable wait (not sleeping in this process):
** whoever schedules runs (`resume`) wakes it at wake_at. */
static void run_suspend(rt_ctx *c, int64_t wake_at)
{
    rt_run_state *run = c->run;
    pthread_mutex_lock(&run->lock);
    if (!run->wake_at || wake_at < run->wake_at) run->wake_at = wake_at;
    run->suspended = true;
    run->stop = true;
    pthread_mutex_unlock(&run->lock);
    c->waiting = true;
}

/* A durable sleep until wake_at: in this process (the run shows as
** waiting meanwhile), or by suspending the run. False when the run must
** stop (interrupted or suspended). */
bool rt_ctx_durable_sleep(rt_ctx *c, int64_t wake_at)
{
    int64_t left = wake_at - rt_now_ms();
    if (left <= 0 || c->run->test_mode) return true;    /* flowc test: backoffs are not slept */
    if (!c->run->sleep_in_process && left > c->run->sleep_horizon_ms) {
        run_suspend(c, wake_at);
        return false;
    }
    rt_run_mark_waiting(c->run, wake_at);
    bool ok = rt_signal_sleep_ms(left);
    rt_run_mark_waiting(c->run, 0);
    return ok;
}

/* The context failed: the run fails unless a fanout item catches it. */
void rt_ctx_fail(rt_ctx *c, const char *path, const char *msg)
{
    if (c->failure) return;
    char *red = rt_redact(msg);
    c->failure = red;
    c->failed_step = path ? rt_xstrdup(path) : NULL;
}

/* A raised expression error turns into the context's failure here, at the
** first step or statement after it. */
bool rt_ctx_check(rt_ctx *c)
{
    if (c->error && !c->failure) {
        char *msg = c->error_line ? rt_xprintf("line %d: %s", c->error_line, c->error) : rt_xstrdup(c->error);
        rt_ctx_fail(c, NULL, msg);
        free(msg);
    }
    return !c->failure && !c->run->stop && !rt_signal_interrupted();
}

/* A let's value is kept in its slot beside the step results (its
** descriptor, kind RT_STEP_LET): rt_step_result finds it in c and in the
** fanout items below c. No checkpoint: it is evaluated again on replay. */
int rt_let(rt_ctx *c, const rt_step_desc *let, json_t *value)
{
    if (!rt_ctx_check(c)) return RT_STOP;
    return rt_ctx_set_result(c, let, value, true, NULL) ? RT_OK : RT_STOP;
}

json_t *rt_result_out(rt_result *r)
{
    if (!r || !r->ok) return json_null();
    if (!r->out) {              /* a response kept in parts, read whole after all */
        json_t *o = json_object();
        json_object_set_new(o, "status", json_integer(r->status));
        json_object_set(o, "body", r->body);
        r->out = rt_pool_keep(r->pool, o);
    }
    return r->out;
}
bool rt_result_ok(rt_result *r) { return r && r->ok; }
json_t *rt_result_error(rt_result *r) { return r ? r->error : json_null(); }
