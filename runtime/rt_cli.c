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

#include "rt_host_run.h"
#include "rt_host_conn.h"
#include "rt_log.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_type.h"
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
    if (st && !reader) rt_host_migrate(st, dir);       /* user records of an earlier layout, once */
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

json_t *rt_cli_settings(const rt_workflow *wf, const json_t *base, const char *file, char *err, size_t n)
{
    json_t *given = NULL;
    if (file) {
        given = rt_cli_read_json_file(file, "settings", err, n);
        if (!given) return NULL;
    }
    char where[600] = "";
    if (file) snprintf(where, sizeof where, " %s", file);
    json_t *out = rt_host_settings_of(wf, base, given, where, true, err, n);
    json_decref(given);
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

rt_outcome rt_cli_execute(const rt_workflow *wf, rt_store *st, json_t *rec, const rt_cli_opts *o,
                          bool sleep_in_process)
{
    char buf[4096], why[700];
    const rt_workflow *own = rt_host_run_workflow(rec);    /* a project runs each run with its workflow */
    rt_run_state run;
    rt_host_prep prep = rt_host_open_run(&run, &(rt_run_setup){ .wf = own ? own : wf, .store = st, .record = rec,
                                                                .state_dir = rt_cli_state_dir(wf, o, buf, sizeof buf) },
                                         why, sizeof why);
    if (prep == RT_HOST_SKIP) {
        /* the user may no longer run it (disabled, removed, disconnected since
        ** it was accepted): it ends skipped, nothing sent */
        char err[512];
        if (!rt_host_end_run(st, run.record, RT_ST_SKIPPED, why, err, sizeof err))
            rt_log_emit(run.id, "warning", NULL, "run not executed (%s), and not ended: %s", why, err);
        else
            rt_log_emit(run.id, "warning",
                        json_pack("{s:s, s:s, s:s}", "event", rt_status_name(RT_ST_SKIPPED), "workflow", run.wf->name,
                                  "reason", why),
                        "run skipped: %s (nothing was sent)", why);
        rt_run_free(&run);
        return RT_RUN_SKIPPED;
    }
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

/* ---- what the project's commands share ------------------------------------------ */

int rt_cli_exit_of(rt_host_rc rc)
{
    return rc == RT_HOST_OK ? RT_EXIT_OK : rc == RT_HOST_ERR ? RT_EXIT_FAILED : RT_EXIT_USAGE;
}

const rt_workflow *rt_cli_workflow_arg(const rt_workflow *face, const char *name)
{
    const rt_workflow *wf = rt_host_workflow(name);
    if (!wf) {
        char names[2048];
        rt_cli_error(face, "unknown workflow '%s' (the project's: %s)", name, rt_host_workflow_names(names, sizeof names));
    }
    return wf;
}

json_t *rt_cli_pairs(const char *const *args, int n, bool secret, char *err, size_t en)
{
    json_t *out = json_object();
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(args[i], '=');
        if (!eq || eq == args[i]) {
            snprintf(err, en, "--%s takes NAME=VALUE%s, not '%.*s...'", secret ? "secret" : "field",
                     secret ? " or NAME=@FILE" : "", (int)(eq ? eq - args[i] : 0), args[i]);
            json_decref(out);
            return NULL;
        }
        char *name = rt_xstrndup(args[i], (size_t)(eq - args[i]));
        char *value = secret && eq[1] == '@' ? rt_read_credential(eq + 2, "secret", err, en) : rt_xstrdup(eq + 1);
        if (!value) {
            free(name);
            json_decref(out);
            return NULL;
        }
        if (secret) rt_redact_add(value);
        json_object_set_new(out, name, json_stringn_nocheck(value, strlen(value)));
        memset(value, 0, strlen(value));
        free(value);
        free(name);
    }
    return out;
}

void rt_cli_print_json(const json_t *v)
{
    char *t = rt_json_dump(v, 2, false);
    printf("%s\n", t ? t : "null");
    free(t);
}

void rt_cli_run_enabled(const rt_workflow *face, rt_store *st, const rt_cli_opts *o, json_t *runs)
{
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r) {
        rt_log_emit(json_string_value(json_object_get(r, "id")), "info",
                    json_pack("{s:s, s:O, s:O}", "event", "enabled_run", "user", json_object_get(r, "user"), "workflow",
                              json_object_get(r, "workflow")),
                    "user %s enabled %s: running the workflow (trigger enabled)",
                    json_string_value(json_object_get(r, "user")), json_string_value(json_object_get(r, "workflow")));
        rt_cli_execute(face, st, json_incref(r), o, true);
    }
    json_decref(runs);
}

