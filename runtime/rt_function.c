/*
** rt_function.c — [engine] function steps: the user's C called under the
** crash guard and the step's timeout, flow_fail / flow_retry / flow_log,
** and the output checked against the declared type.
*/
#include "rt_function.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>

#include "rt_co.h"
#include "rt_log.h"
#include "rt_signal.h"
#include "rt_type.h"

/* flow_fail / flow_retry / flow_log state of the function step running on
** this thread. */
struct rt_fn_state {
    rt_ctx *c;
    const char *path;
    char *message;              /* owned */
    bool retry;
    bool failed;
    int nlogs;
};

static json_t *fn_record(bool retry, const char *fmt, va_list ap)
{
    sigset_t old;
    rt_signal_block_timeout(&old);
    rt_fn_state *s = rt_signal_thread()->current_fn;
    char *msg = rt_xvprintf(fmt, ap);
    if (!s) {
        rt_log_emit(NULL, "error", NULL, "flow_%s outside a function step: %s", retry ? "retry" : "fail", msg);
        free(msg);
    } else {
        free(s->message);
        s->message = msg;
        s->retry = retry;
        s->failed = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return NULL;
}

json_t *flow_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fn_record(false, fmt, ap);
    va_end(ap);
    return NULL;
}

json_t *flow_retry(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fn_record(true, fmt, ap);
    va_end(ap);
    return NULL;
}

void flow_log(const char *fmt, ...)
{
    sigset_t old;
    rt_signal_block_timeout(&old);
    va_list ap;
    va_start(ap, fmt);
    char *msg = rt_xvprintf(fmt, ap);
    va_end(ap);
    rt_fn_state *s = rt_signal_thread()->current_fn;
    if (!s) {
        rt_log_emit(NULL, "info", NULL, "%s", msg);
    } else {
        char *path = rt_xprintf("%s#log%d", s->path, ++s->nlogs);
        rt_run_add_log(s->c->run, path, 0, msg);
        free(path);
    }
    free(msg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

typedef struct function_arg {
    rt_function_fn fn;
    json_t *params;
} function_arg;

static rt_attempt_outcome function_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                        rt_attempt *out)
{
    (void)n;
    function_arg *fa = arg;
    rt_fn_state st = { .c = c, .path = path };
    rt_thread_state *ts = rt_signal_thread();
    rt_signal_guard_setup(ts);
    sigjmp_buf jb;
    json_t *volatile result = NULL;
    rt_fn_state *volatile saved = ts->current_fn;
    ts->current_fn = &st;
    rt_co_pin();        /* the crash guard and the timer belong to the thread: no yield in here */
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) {
        ts->fn_expired = 0;
        ts->guard_jmp = &jb;
        rt_signal_timer_start(ts, d->timeout_ms);
        result = fa->fn(fa->params);
    }
    ts->guard_jmp = NULL;
    rt_signal_timer_stop(ts);
    rt_co_unpin();
    ts->current_fn = saved;
    if (sig == RT_SIGNAL_TIMED_OUT || (sig == 0 && ts->fn_expired)) {
        json_decref(result);
        free(st.message);
        out->error = rt_xprintf("timed out after %ld ms in the function's C code", d->timeout_ms);
        return RT_ATT_RETRY;
    }
    if (sig != 0) {
        free(st.message);
        out->error = rt_xprintf("crashed with signal %s in the function's C code (line %d)", rt_signal_label(sig),
                                d->line);
        return RT_ATT_FAIL;
    }
    if (st.failed) {
        /* flow_fail/flow_retry decide the attempt even when the body went on
        ** to return a value (`if (bad) flow_fail("..."); return v;`): the
        ** call is the body's verdict, the value is dropped */
        json_decref(result);
        out->error = st.message;
        return st.retry ? RT_ATT_RETRY : RT_ATT_FAIL;
    }
    if (!result) {
        free(st.message);
        /* a NULL return, or the end of the body reached (flowc ends every
        ** body with `return NULL;`), with no flow_fail/flow_retry: the step's
        ** name is in the failure's log line and history entry */
        out->error = rt_xstrdup("the function returned no value (NULL, or the end of its C body) "
                                "without calling flow_fail or flow_retry");
        return RT_ATT_FAIL;
    }
    free(st.message);
    char err[600];
    if (!rt_type_check(d->out_type, result, "output", err, sizeof err)) {
        json_decref(result);
        out->error = rt_xstrdup(err);
        return RT_ATT_FAIL;
    }
    out->output = result;
    return RT_ATT_OK;
}

rt_result *rt_function_step(rt_ctx *c, const rt_step_desc *d, json_t *params, rt_function_fn fn)
{
    function_arg fa = { fn, params };
    return rt_step_run(c, d, "function", params, function_attempt, &fa);
}
