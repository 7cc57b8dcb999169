/*
** rt_cli.c — [commands] what the commands share (rt_cli.h): the state
** directory opened, settings and JSON inputs read, durations and times
** parsed, a run created and executed, its output printed, exit codes.
*/
#include "rt_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "rt_log.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_users.h"
#include "rt_util.h"
#include "rt_value.h"

void rt_cli_error(const rt_workflow *wf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = rt_xvprintf(fmt, ap);
    va_end(ap);
    if (rt_log_json()) rt_log_emit(NULL, "error", NULL, "%s", msg);
    else fprintf(stderr, "%s: %s\n", wf->name, msg);
    free(msg);
}

int rt_cli_usage_error(const rt_workflow *wf, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", wf->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see %s --help)\n", wf->name);
    return RT_EXIT_USAGE;
}

static const char *state_dir(const rt_workflow *wf, const rt_cli_opts *o, char *buf, size_t n)
{
    if (o->state) return o->state;
    const char *e = getenv("FLOW_STATE_DIR");
    if (e && *e) return e;
    snprintf(buf, n, "./%s.state", wf->name);
    return buf;
}

const char *rt_cli_state_dir(const rt_workflow *wf, const rt_cli_opts *o, char *buf, size_t n)
{
    return state_dir(wf, o, buf, n);
}

void rt_cli_warn_open_state(rt_store *st)
{
    static int warned;
    char msg[1200];
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED) && rt_store_mode_warning(st, msg, sizeof msg))
        rt_log_emit(NULL, "warning", json_pack("{s:s}", "event", "state_mode"), "%s", msg);
}

static rt_store *open_store(const rt_workflow *wf, const rt_cli_opts *o, bool reader)
{
    char buf[4096], err[1024];
    const char *dir = state_dir(wf, o, buf, sizeof buf);
    rt_store *st = reader ? rt_store_open_reader(dir, err, sizeof err) : rt_store_open(dir, o->batch, err, sizeof err);
    if (!st) rt_cli_error(wf, "%s", err);
    else rt_cli_warn_open_state(st);
    return st;
}

rt_store *rt_cli_open_store(const rt_workflow *wf, const rt_cli_opts *o)
{
    return open_store(wf, o, false);
}

rt_store *rt_cli_open_store_reader(const rt_workflow *wf, const rt_cli_opts *o)
{
    return open_store(wf, o, true);
}

/* ---- inputs ------------------------------------------------------------- */

json_t *rt_cli_read_json_file(const char *path, const char *what, char *err, size_t n)
{
    json_error_t je;
    json_t *v;
    if (strcmp(path, "-") == 0) {
        v = json_loadf(stdin, JSON_DECODE_ANY, &je);
    } else {
        FILE *f = fopen(path, "r");
        if (!f) {
            snprintf(err, n, "cannot read %s %s: %s", what, path, strerror(errno));
            return NULL;
        }
        v = json_loadf(f, JSON_DECODE_ANY, &je);
        fclose(f);
    }
    if (!v) snprintf(err, n, "%s %s is not valid JSON: %s (line %d, column %d)", what, path, je.text, je.line, je.column);
    return v;
}

static bool check_setting_names(const rt_workflow *wf, const json_t *given, const char *where, char *err, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)given, k, v) {
        bool known = false;
        for (int i = 0; i < wf->nsettings; i++) known |= strcmp(wf->settings[i].name, k) == 0;
        if (!known) {
            char names[1024] = "";
            for (int i = 0; i < wf->nsettings; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         wf->settings[i].name);
            snprintf(err, n, "settings%s: unknown setting '%s' (the workflow's settings: %s)", where, k,
                     wf->nsettings ? names : "none");
            return false;
        }
    }
    return true;
}

json_t *rt_cli_settings(const rt_workflow *wf, const json_t *base, const char *file, char *err, size_t n)
{
    json_t *given = NULL;
    if (file) {
        given = rt_cli_read_json_file(file, "settings", err, n);
        if (!given) return NULL;
    }
    char where[600] = "";
    if (file) snprintf(where, sizeof where, " %s", file);
    json_t *out = rt_cli_settings_of(wf, base, given, where, true, err, n);
    json_decref(given);
    return out;
}

json_t *rt_cli_settings_of(const rt_workflow *wf, const json_t *base, const json_t *given, const char *where,
                           bool need_all, char *err, size_t n)
{
    if (given) {
        if (!json_is_object(given)) {
            snprintf(err, n, "settings%s must hold a JSON object", where);
            return NULL;
        }
        if (!check_setting_names(wf, given, where, err, n)) return NULL;
    }
    json_t *out = json_object();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *v = json_object_get(given, s->name);
        if (!v) v = json_object_get(base, s->name);
        if (v) {
            json_incref(v);
        } else if (s->default_json) {
            v = json_loads(s->default_json, JSON_DECODE_ANY, NULL);
        } else if (!need_all) {
            continue;
        } else {
            snprintf(err, n, "settings: '%s' is required (no default) — give it with --settings FILE", s->name);
            json_decref(out);
            return NULL;
        }
        char what[200], e[600];
        snprintf(what, sizeof what, "setting '%s'", s->name);
        if (!rt_type_check(s->type, v, what, e, sizeof e)) {
            snprintf(err, n, "settings: %s", e);
            json_decref(v);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, s->name, v ? v : json_null());
    }
    return out;
}

bool rt_cli_parse_since(const char *s, int64_t *ms)
{
    if (rt_parse_time(s, ms)) return true;
    int64_t ago;
    if (!rt_parse_duration(s[0] == '-' ? s + 1 : s, &ago)) return false;
    *ms = rt_now_ms() - ago;
    return true;
}

/* Cuts every list to 20 items for display (--test-limits): NEW reference.
** Each cut is said on stderr, naming the list and its length; *cuts counts them. */
static json_t *cut_lists(json_t *v, const char *path, int *cuts)
{
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(v) && i < 20; i++) {
            char *sub = *cuts < 100 ? rt_xprintf("%s[%zu]", path, i) : NULL;    /* paths only while they are said */
            json_array_append_new(out, cut_lists(json_array_get(v, i), sub ? sub : path, cuts));
            free(sub);
        }
        if (json_array_size(v) > 20) {
            if (++*cuts <= 10)
                rt_log_emit(NULL, "warning", json_pack("{s:s, s:s, s:I}", "event", "test_limits", "list", path, "items",
                                                       (json_int_t)json_array_size(v)),
                            "--test-limits: %s cut to 20 of its %zu items for display", path, json_array_size(v));
        }
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *f;
        json_object_foreach(v, k, f) {
            char *sub = *cuts < 100 ? rt_xprintf("%s.%s", path, k) : NULL;
            json_object_set_new(out, k, cut_lists(f, sub ? sub : path, cuts));
            free(sub);
        }
        return out;
    }
    return json_incref(v);
}

void rt_cli_print_output(json_t *output, bool test_limits)
{
    json_t *red = rt_redact_json(output);
    int cuts = 0;
    json_t *shown = test_limits ? cut_lists(red, "output", &cuts) : json_incref(red);
    json_decref(red);
    /* never cut silently: the output says so too (an object: at its top) */
    if (cuts && json_is_object(shown)) json_object_set_new(shown, "truncated", json_true());
    if (cuts > 10) rt_log_emit(NULL, "warning", NULL, "--test-limits: %d more lists cut to 20 items", cuts - 10);
    /* a string that is not UTF-8 (a raw response header) is printed with
    ** U+FFFD, as the store keeps it; floats as written (rt_json_dump) */
    char *text = rt_json_dump(shown, 2, false);
    printf("%s\n", text ? text : "null");
    fflush(stdout);
    free(text);
    json_decref(shown);
}

int rt_cli_exit_code(rt_outcome o)
{
    switch (o) {
    case RT_RUN_SUCCEEDED: return RT_EXIT_OK;
    case RT_RUN_INTERRUPTED: return RT_EXIT_INTERRUPTED;
    case RT_RUN_WAITING: return RT_EXIT_OK;
    case RT_RUN_SKIPPED: return RT_EXIT_USAGE;      /* not this process's to run (it said why) */
    default: return RT_EXIT_FAILED;
    }
}

/* ---- commands ----------------------------------------------------------- */

void rt_cli_trigger_defaults(const rt_workflow *wf, json_t *payload, int64_t at_ms)
{
    if (wf->trigger != RT_TRIG_SCHEDULE || !json_is_object(payload) || json_object_get(payload, "time")) return;
    char when[40];
    rt_format_time(at_ms, when, sizeof when);
    json_object_set_new(payload, "time", json_string(when));
}

json_t *rt_cli_new_run(const rt_workflow *wf, const char *user, json_t *payload, json_t *settings,
                       const char *source)
{
    char id[RT_RUN_ID_LEN + 1];
    rt_store_new_run_id(id);
    int64_t now = rt_now_ms();
    rt_cli_trigger_defaults(wf, payload, now);
    return json_pack("{s:s, s:s, s:s, s:s?, s:O, s:O, s:s, s:i, s:I, s:I, s:s}", "id", id, "workflow", wf->name,
                     "version", wf->version, "user", user, "trigger", payload, "settings", settings, "status",
                     rt_status_name(RT_ST_QUEUED), "attempt", 1, "created", (json_int_t)now, "updated", (json_int_t)now, "source",
                     source);
}

rt_outcome rt_cli_execute(const rt_workflow *wf, rt_store *st, json_t *rec, const rt_cli_opts *o,
                          bool sleep_in_process)
{
    char buf[4096];
    rt_run_state run;
    rt_run_open(&run, &(rt_run_setup){ .wf = wf, .store = st, .record = rec,
                                       .state_dir = rt_cli_state_dir(wf, o, buf, sizeof buf) });
    run.test_limits = o->test_limits;
    run.sleep_in_process = sleep_in_process;
    run.sleep_horizon_ms = RT_CLI_RESUME_HORIZON_MS;
    rt_outcome out = rt_exec_run(&run);
    if (out == RT_RUN_SUCCEEDED) rt_cli_print_output(run.output, o->test_limits);
    rt_run_free(&run);
    return out;
}

int rt_cli_report_other_versions(const rt_workflow *wf, json_t *other, const char *what)
{
    int n = 0;
    const char *version;
    json_t *ids;
    json_object_foreach(other, version, ids) {
        n += (int)json_array_size(ids);
        rt_buf b = { 0 };
        rt_buf_append(&b, "", 0);
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) {
            if (i == 10) {
                rt_buf_printf(&b, " ... (%zu more)", json_array_size(ids) - 10);
                break;
            }
            rt_buf_printf(&b, " %s", json_string_value(id));
        }
        rt_log_emit(NULL, "warning",
                    json_pack("{s:s, s:s, s:I}", "event", "needs_binary", "version", version, "runs",
                              (json_int_t)json_array_size(ids)),
                    "%zu %s run%s need%s the binary of version %s (this one is %s):%s", json_array_size(ids), what,
                    json_array_size(ids) == 1 ? "" : "s", json_array_size(ids) == 1 ? "s" : "", version,
                    wf->version, b.data);
        rt_buf_free(&b);
    }
    return n;
}

void rt_cli_report_damaged_runs(const json_t *ids, const char *what)
{
    size_t n = json_array_size(ids);
    if (!n) return;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        if (i == 10) {
            rt_buf_printf(&b, " ... (%zu more)", n - 10);
            break;
        }
        rt_buf_printf(&b, " %s", json_string_value(id));
    }
    rt_log_emit(NULL, "warning", json_pack("{s:s, s:I, s:O}", "event", "damaged_records", "count", (json_int_t)n,
                                           "runs", ids),
                "%zu run record%s could not be read (damaged data in the state; %s):%s; restore the state from a "
                "backup to recover %s", n, n == 1 ? "" : "s", what, b.data, n == 1 ? "it" : "them");
    rt_buf_free(&b);
}
