/*
** rt_stmt.c — [engine] statements: return, fail, log, and durable waits
** (wait / wait until), each wait a checkpoint of its own; a request
** trigger's answer (return/fail status .. headers ..).
*/
#include "rt_stmt.h"

#include "rt_log.h"
#include "rt_status.h"
#include "rt_type.h"

int rt_return(rt_ctx *c, json_t *value)
{
    if (!rt_ctx_check(c)) return RT_STOP;
    c->ret = value ? value : json_null();
    c->returned = true;
    return RT_STOP;
}

int rt_fail(rt_ctx *c, json_t *message)
{
    if (!rt_ctx_check(c)) return RT_STOP;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    rt_value_render(&b, message);
    rt_ctx_fail(c, NULL, b.len ? b.data : "failed");
    rt_buf_free(&b);
    return RT_STOP;
}

/* The answer of a request trigger, { status?, headers? }, checked: a status
** is an integer from 100 to 599, headers an object of strings that hold no
** line break (they go into the HTTP answer as they are). */
static bool reply_set(rt_ctx *c, json_t *status, json_t *headers, bool on_fail, int line)
{
    json_t *reply = json_object();
    if (status) {
        if (!json_is_integer(status) || json_integer_value(status) < 100 || json_integer_value(status) > 599) {
            char *text = rt_json_text(status);
            rt_ctx_raise(c, line, "status %s is not an HTTP status (an integer from 100 to 599)", text);
            free(text);
            json_decref(reply);
            return false;
        }
        json_object_set(reply, "status", status);
    }
    if (headers) {
        const char *k;
        json_t *v;
        json_object_foreach(headers, k, v) {
            const char *t = json_string_value(v);
            if (!t || strpbrk(t, "\r\n") || strlen(t) != json_string_length(v)) {
                rt_ctx_raise(c, line, "header '%s' of the answer must be a string without line breaks", k);
                json_decref(reply);
                return false;
            }
        }
        json_object_set(reply, "headers", headers);
    }
    if (on_fail) json_object_set_new(reply, "on_fail", json_true());
    pthread_mutex_lock(&c->run->lock);
    json_decref(c->run->reply);
    c->run->reply = reply;
    pthread_mutex_unlock(&c->run->lock);
    return true;
}

int rt_return_reply(rt_ctx *c, json_t *value, json_t *status, json_t *headers, int line)
{
    if (!rt_ctx_check(c)) return RT_STOP;
    if (!reply_set(c, status, headers, false, line)) {
        rt_ctx_check(c);
        return RT_STOP;
    }
    return rt_return(c, value);
}

int rt_fail_reply(rt_ctx *c, json_t *message, json_t *status, json_t *headers, int line)
{
    if (!rt_ctx_check(c)) return RT_STOP;
    if (!reply_set(c, status, headers, true, line)) {
        rt_ctx_check(c);
        return RT_STOP;
    }
    return rt_fail(c, message);
}

void rt_log(rt_ctx *c, json_t *value, int line)
{
    if (c->error || c->failure) return;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    rt_value_render(&b, value);
    char *path = rt_xprintf("%slog@%d", c->prefix, line);
    rt_run_add_log(c->run, path, line, b.data);
    free(path);
    rt_buf_free(&b);
}

/* A durable wait until wake_at (ms since the epoch), named id. */
static int wait_at(rt_ctx *c, const char *id, int64_t wake_at_if_new)
{
    if (!rt_ctx_check(c)) return RT_STOP;
    char *path = rt_ctx_step_path(c, id);
    json_t *prev = rt_run_committed(c->run, path);
    const char *status = json_string_value(json_object_get(prev, "status"));
    bool done = rt_status_parse(status) == RT_ST_SUCCEEDED;
    if (done || !rt_ctx_check(c)) {      /* not done: the store could not be read */
        json_decref(prev);
        free(path);
        return done ? RT_OK : RT_STOP;
    }
    int64_t wake_at = prev ? json_integer_value(json_object_get(prev, "wake_at")) : wake_at_if_new;
    bool had_record = prev != NULL;
    json_decref(prev);
    json_t *rec = json_pack("{s:s, s:s, s:I, s:I}", "kind", "wait", "status", rt_status_name(RT_ST_WAITING), "started",
                            (json_int_t)rt_now_ms(), "wake_at", (json_int_t)wake_at);
    if (!had_record && !rt_run_commit(c->run, path, rec)) {
        json_decref(rec);
        free(path);
        return RT_STOP;
    }
    int64_t left = wake_at - rt_now_ms();
    char when[40];
    rt_format_time(wake_at, when, sizeof when);
    if (left > 0 && (c->run->test_limits || c->run->only_step || c->run->test_mode)) {
        /* test mode: waits are skipped */
        rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "wait", "step", path, "status", rt_status_name(RT_ST_SKIPPED)),
                    "wait until %s skipped (test limits)", when);
        json_object_set_new(rec, "skipped", json_true());
    } else if (left > 0) {
        if (c->run->sleep_in_process || left <= c->run->sleep_horizon_ms)
            rt_log_emit(c->run->id, "info",
                        json_pack("{s:s, s:s, s:s, s:I}", "event", "wait", "step", path, "until", when, "ms",
                                  (json_int_t)left),
                        "waiting until %s (%lld ms)", when, (long long)left);
        if (!rt_ctx_durable_sleep(c, wake_at)) {
            json_decref(rec);
            free(path);
            return RT_STOP;
        }
    }
    json_object_set_new(rec, "status", rt_status_json(RT_ST_SUCCEEDED));
    int64_t ended = rt_now_ms();
    json_object_set_new(rec, "ended", json_integer(ended));
    bool ok = rt_run_commit(c->run, path, rec);
    if (ok && c->run->on_step)
        c->run->on_step(c->run->on_step_arg, "wait", json_integer_value(json_object_get(rec, "started")), ended);
    json_decref(rec);
    free(path);
    return ok ? RT_OK : RT_STOP;
}

int rt_wait(rt_ctx *c, const char *id, long ms)
{
    return wait_at(c, id, rt_now_ms() + ms);
}

int rt_wait_until(rt_ctx *c, const char *id, json_t *when)
{
    int64_t at;
    if (json_is_string(when) && rt_parse_time(json_string_value(when), &at)) {
        /* an RFC 3339 time */
    } else if (json_is_number(when)) {
        double v = json_number_value(when);    /* seconds since the epoch (ms when huge) */
        at = (int64_t)(v > 1e11 ? v : v * 1000);
    } else {
        char desc[96];
        rt_value_describe(when, desc, sizeof desc);
        rt_ctx_raise(c, 0, "wait until needs an RFC 3339 time or epoch seconds, got %s", desc);
        return rt_ctx_check(c) ? RT_OK : RT_STOP;
    }
    return wait_at(c, id, at);
}
