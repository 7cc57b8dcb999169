/*
** rt_ctx.c — [engine] contexts (a run, or one fanout item of it): their
** value pools, raised expression errors, failures, the results of the
** steps they ran (found by name), and durable sleeps.
*/
#include "rt_ctx.h"

#include <stdarg.h>

#include "rt_redact.h"
#include "rt_signal.h"

rt_ctx *rt_ctx_new(rt_run_state *run, rt_ctx *parent, const char *prefix)
{
    rt_ctx *c = rt_xcalloc(1, sizeof *c);
    c->run = run;
    c->parent = parent;
    c->prefix = rt_xstrdup(prefix ? prefix : "");
    return c;
}

void rt_ctx_free(rt_ctx *c)
{
    for (size_t i = 0; i < c->nsteps; i++) free(c->steps[i].r);
    free(c->steps);
    free(c->index);
    rt_pool_release(&c->pool);
    free(c->prefix);
    free(c->error);
    free(c->failure);
    free(c->failed_step);
    free(c);
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

/* Step results are found by name through a hash table: a workflow of
** 10,000 steps must not pay a linear search per reference. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The table position for name: its entry, or the empty one to fill. */
static size_t index_find(const rt_ctx *c, const char *name)
{
    size_t mask = c->index_cap - 1, i = name_hash(name) & mask;
    while (c->index[i] && strcmp(c->steps[c->index[i] - 1].name, name) != 0) i = (i + 1) & mask;
    return i;
}

static void index_grow(rt_ctx *c)
{
    free(c->index);
    c->index_cap = c->index_cap ? c->index_cap * 2 : 32;
    c->index = rt_xcalloc(c->index_cap, sizeof *c->index);
    for (size_t k = 0; k < c->nsteps; k++) c->index[index_find(c, c->steps[k].name)] = (uint32_t)k + 1;
}

rt_result *rt_ctx_add_result(rt_ctx *c, const char *name, json_t *out, bool ok, const char *error)
{
    rt_result *r = rt_xmalloc(sizeof *r);
    r->out = ok && out ? rt_pool_keep(&c->pool, json_incref(out)) : json_null();
    r->ok = ok;
    r->error = ok ? json_null() : rt_pool_keep(&c->pool, rt_json_bytes(error ? error : "failed"));
    if ((c->nsteps + 1) * 2 > c->index_cap) index_grow(c);
    size_t at = index_find(c, name);
    if (c->index[at]) {                 /* the same step again (a retried fanout item) */
        free(c->steps[c->index[at] - 1].r);
        c->steps[c->index[at] - 1].r = r;
        return r;
    }
    if (c->nsteps == c->capsteps) {
        c->capsteps = c->capsteps ? c->capsteps * 2 : 16;
        c->steps = rt_xrealloc(c->steps, sizeof *c->steps * c->capsteps);
    }
    c->steps[c->nsteps++] = (rt_step_slot){ name, r };
    c->index[at] = (uint32_t)c->nsteps;
    return r;
}

rt_result *rt_step_result(rt_ctx *c, const char *name)
{
    for (; c; c = c->parent) {
        if (!c->index_cap) continue;
        size_t at = index_find(c, name);
        if (c->index[at]) return c->steps[c->index[at] - 1].r;
    }
    return NULL;
}

json_t *rt_var(rt_ctx *c, const char *name)
{
    for (; c; c = c->parent)
        if (c->var && strcmp(c->var, name) == 0) return c->value;
    return json_null();
}

char *rt_ctx_step_path(rt_ctx *c, const char *name)
{
    return rt_xconcat(c->prefix, name, NULL);
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

/* A let's value is kept beside the step results, under its name (names of
** steps and lets are unique in a workflow): rt_step_result finds it in c
** and in the fanout items below c. No checkpoint: it is evaluated again
** on replay. */
int rt_let(rt_ctx *c, const char *name, json_t *value)
{
    if (!rt_ctx_check(c)) return RT_STOP;
    rt_ctx_add_result(c, name, value, true, NULL);
    return RT_OK;
}

json_t *rt_result_out(rt_result *r) { return r && r->ok ? r->out : json_null(); }
bool rt_result_ok(rt_result *r) { return r && r->ok; }
json_t *rt_result_error(rt_result *r) { return r ? r->error : json_null(); }
