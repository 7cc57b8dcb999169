/*
** rt_cli.c — the job binary's commands: run, resume, info, history, show.
*/
#include "rt_cli.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "rt_exec.h"
#include "rt_log.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_util.h"

typedef struct cli_opts {
    const char *cmd;
    const char *event;          /* --event FILE or "-" */
    const char *user;
    const char *settings;       /* --settings FILE */
    const char *state;
    const char *status;         /* history --status */
    const char *run_id;         /* show RUN_ID */
    int limit;
    bool json;
    bool test_limits;
    bool batch;                 /* --durability batch */
} cli_opts;

static void usage(const rt_workflow *wf, FILE *out)
{
    const char *n = wf->name;
    fprintf(out,
            "%s%s%s\n\n"
            "usage:\n"
            "  %s run [--event FILE|-] [--user ID] [--settings FILE] [--state DIR] [--json]\n"
            "         [--test-limits] [--durability sync|batch]\n"
            "  %s resume [--state DIR] [--json]     finish every unfinished run of this version\n"
            "  %s info [--json]                     name, version, trigger, settings, secrets\n"
            "  %s history [--status S] [--user U] [--limit N] [--json] [--state DIR]\n"
            "  %s show RUN_ID [--json] [--state DIR]\n\n"
            "State lives in --state DIR, else $FLOW_STATE_DIR, else ./%s.state.\n"
            "Secrets come from FLOW_SECRET_<NAME>; FLOW_<INTEGRATION>_BASE_URL overrides a base URL.\n"
            "Exit codes: 0 ok, 1 run failed, 2 usage or bad input, 75 interrupted (resumable).\n",
            n, wf->description ? " - " : "", wf->description ? wf->description : "", n, n, n, n, n, n);
}

static int usage_error(const rt_workflow *wf, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", wf->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see %s --help)\n", wf->name);
    return RT_EXIT_USAGE;
}

static int parse_args(const rt_workflow *wf, int argc, char **argv, cli_opts *o)
{
    memset(o, 0, sizeof *o);
    const char *d = getenv("FLOW_DURABILITY");
    o->batch = d && strcmp(d, "batch") == 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
#define VALUE(field)                                                                                            \
    do {                                                                                                        \
        if (!has_next) return usage_error(wf, "%s needs a value", a);                                           \
        o->field = argv[++i];                                                                                   \
    } while (0)
        if (strcmp(a, "--event") == 0) VALUE(event);
        else if (strcmp(a, "--user") == 0) VALUE(user);
        else if (strcmp(a, "--settings") == 0) VALUE(settings);
        else if (strcmp(a, "--state") == 0) VALUE(state);
        else if (strcmp(a, "--status") == 0) VALUE(status);
        else if (strcmp(a, "--json") == 0) o->json = true;
        else if (strcmp(a, "--test-limits") == 0) o->test_limits = true;
        else if (strcmp(a, "--limit") == 0) {
            if (!has_next) return usage_error(wf, "%s needs a value", a);
            o->limit = atoi(argv[++i]);
        } else if (strcmp(a, "--durability") == 0) {
            if (!has_next) return usage_error(wf, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(v, "batch") == 0) o->batch = true;
            else if (strcmp(v, "sync") == 0) o->batch = false;
            else return usage_error(wf, "--durability is sync or batch, not '%s'", v);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->cmd = "help";
        } else if (a[0] == '-' && a[1]) {
            return usage_error(wf, "unknown option %s", a);
        } else if (!o->cmd) {
            o->cmd = a;
        } else if (strcmp(o->cmd, "show") == 0 && !o->run_id) {
            o->run_id = a;
        } else {
            return usage_error(wf, "unexpected argument '%s'", a);
        }
#undef VALUE
    }
    return -1;
}

static const char *state_dir(const rt_workflow *wf, const cli_opts *o, char *buf, size_t n)
{
    if (o->state) return o->state;
    const char *e = getenv("FLOW_STATE_DIR");
    if (e && *e) return e;
    snprintf(buf, n, "./%s.state", wf->name);
    return buf;
}

static rt_store *open_store(const rt_workflow *wf, const cli_opts *o)
{
    char buf[4096], err[512];
    rt_store *st = rt_store_open(state_dir(wf, o, buf, sizeof buf), o->batch, err, sizeof err);
    if (!st) fprintf(stderr, "%s: %s\n", wf->name, err);
    return st;
}

/* ---- inputs ------------------------------------------------------------- */

/* The JSON in FILE ("-" = stdin): a NEW reference, or NULL with a message. */
static json_t *read_json_file(const char *path, const char *what, char *err, size_t n)
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

/* Defaults, then the file's values; each validated. NEW reference or NULL. */
static json_t *load_settings(const rt_workflow *wf, const char *file, char *err, size_t n)
{
    json_t *given = NULL;
    if (file) {
        given = read_json_file(file, "settings", err, n);
        if (!given) return NULL;
        if (!json_is_object(given)) {
            snprintf(err, n, "settings %s must hold a JSON object", file);
            json_decref(given);
            return NULL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(given, k, v) {
            bool known = false;
            for (int i = 0; i < wf->nsettings; i++) known |= strcmp(wf->settings[i].name, k) == 0;
            if (!known) {
                snprintf(err, n, "settings: unknown setting '%s'", k);
                json_decref(given);
                return NULL;
            }
        }
    }
    json_t *out = json_object();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *v = json_object_get(given, s->name);
        if (v) {
            json_incref(v);
        } else if (s->default_json) {
            v = json_loads(s->default_json, JSON_DECODE_ANY, NULL);
        } else {
            snprintf(err, n, "settings: '%s' is required (no default) — give it with --settings FILE", s->name);
            json_decref(out);
            json_decref(given);
            return NULL;
        }
        char what[200], e[600];
        snprintf(what, sizeof what, "setting '%s'", s->name);
        if (!rt_type_check(s->type, v, what, e, sizeof e)) {
            snprintf(err, n, "settings: %s", e);
            json_decref(v);
            json_decref(out);
            json_decref(given);
            return NULL;
        }
        json_object_set_new(out, s->name, v ? v : json_null());
    }
    json_decref(given);
    return out;
}

/* Cuts every list to 20 items for display (--test-limits): NEW reference. */
static json_t *cut_lists(json_t *v)
{
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(v) && i < 20; i++) json_array_append_new(out, cut_lists(json_array_get(v, i)));
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *f;
        json_object_foreach(v, k, f) json_object_set_new(out, k, cut_lists(f));
        return out;
    }
    return json_incref(v);
}

static void print_output(json_t *output, bool test_limits)
{
    json_t *shown = test_limits ? cut_lists(output) : json_incref(output);
    char *text = json_dumps(shown, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", text ? text : "null");
    fflush(stdout);
    free(text);
    json_decref(shown);
}

static int exit_code(rt_outcome o)
{
    switch (o) {
    case RT_RUN_SUCCEEDED: return RT_EXIT_OK;
    case RT_RUN_INTERRUPTED: return RT_EXIT_INTERRUPTED;
    case RT_RUN_WAITING: return RT_EXIT_OK;
    default: return RT_EXIT_FAILED;
    }
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_run(const rt_workflow *wf, const cli_opts *o)
{
    char err[1024];
    json_t *settings = load_settings(wf, o->settings, err, sizeof err);
    if (!settings) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        return RT_EXIT_USAGE;
    }
    json_t *payload = o->event ? read_json_file(o->event, "event", err, sizeof err) : json_object();
    if (!payload) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        json_decref(settings);
        return RT_EXIT_USAGE;
    }
    if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, payload, "trigger payload", err, sizeof err)) {
        fprintf(stderr, "%s: %s (no run was created)\n", wf->name, err);
        json_decref(settings);
        json_decref(payload);
        return RT_EXIT_USAGE;
    }
    rt_store *st = open_store(wf, o);
    if (!st) {
        json_decref(settings);
        json_decref(payload);
        return RT_EXIT_USAGE;
    }
    char id[RT_RUN_ID_LEN + 1];
    rt_store_new_run_id(id);
    int64_t now = rt_now_ms();
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o, s:s, s:i, s:I, s:I, s:i, s:I}", "id", id, "workflow",
                            wf->name, "version", wf->version, "user", o->user, "trigger", payload, "settings",
                            settings, "status", "running", "attempt", 1, "created", (json_int_t)now, "updated",
                            (json_int_t)now, "pid", (int)getpid(), "pid_start",
                            (json_int_t)rt_process_start(getpid()));
    rt_store_write w = { .run_id = id, .run = rec };
    if (!rt_store_commit(st, &w, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        json_decref(rec);
        rt_store_close(st);
        return RT_EXIT_FAILED;
    }
    rt_run_state run;
    rt_run_init(&run, wf, st, rec);
    run.test_limits = o->test_limits;
    rt_outcome out = rt_exec_run(&run);
    if (out == RT_RUN_SUCCEEDED) print_output(run.output, o->test_limits);
    rt_run_free(&run);
    rt_store_close(st);
    return exit_code(out);
}

/* Whether the process that last ran a run is still at it: the same pid
** with the same start time (pids are reused), not a zombie. */
static bool run_owner_alive(const json_t *rec)
{
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    if (pid <= 0 || pid == getpid()) return false;
    long long start = rt_process_start((int)pid);
    json_t *want = json_object_get(rec, "pid_start");
    return start >= 0 && (!json_is_integer(want) || json_integer_value(want) == start);
}

static int cmd_resume(const rt_workflow *wf, const cli_opts *o)
{
    rt_store *st = open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    static const char *const unfinished[] = { "queued", "running", "waiting", "interrupted" };
    json_t *todo = json_array();
    for (size_t i = 0; i < sizeof unfinished / sizeof unfinished[0]; i++) {
        json_t *l = rt_store_list_runs(st, unfinished[i], NULL, 0);
        json_array_extend(todo, l);
        json_decref(l);
    }
    /* oldest first: ids are time-ordered */
    size_t n = json_array_size(todo);
    json_t **v = rt_xmalloc(sizeof *v * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(todo, i);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0; j--) {
            const char *a = json_string_value(json_object_get(v[j - 1], "id"));
            const char *b = json_string_value(json_object_get(v[j], "id"));
            if (strcmp(a, b) <= 0) break;
            json_t *t = v[j - 1];
            v[j - 1] = v[j];
            v[j] = t;
        }
    }
    int rc = RT_EXIT_OK, resumed = 0, other = 0;
    for (size_t i = 0; i < n && !rt_exec_interrupted(); i++) {
        json_t *rec = v[i];
        const char *id = json_string_value(json_object_get(rec, "id"));
        const char *name = json_string_value(json_object_get(rec, "workflow"));
        const char *version = json_string_value(json_object_get(rec, "version"));
        if (!name || strcmp(name, wf->name) != 0) continue;
        if (!version || strcmp(version, wf->version) != 0) {
            rt_log_emit(id, "warning",
                        json_pack("{s:s, s:s?}", "event", "needs_binary", "version", version),
                        "run needs the binary of version %s (this one is %s)", version ? version : "?",
                        wf->version);
            other++;
            continue;
        }
        if (run_owner_alive(rec) && strcmp(json_string_value(json_object_get(rec, "status")), "running") == 0) {
            rt_log_emit(id, "info", NULL, "run is in progress in process %lld; left alone",
                        (long long)json_integer_value(json_object_get(rec, "pid")));
            other++;
            continue;
        }
        json_t *fresh = rt_store_get_run(st, id);      /* the latest copy */
        if (!fresh) continue;
        json_object_set_new(fresh, "attempt",
                            json_integer(json_integer_value(json_object_get(fresh, "attempt")) + 1));
        rt_run_state run;
        rt_run_init(&run, wf, st, fresh);
        run.test_limits = o->test_limits;
        rt_outcome out = rt_exec_run(&run);
        resumed++;
        if (out == RT_RUN_SUCCEEDED) print_output(run.output, o->test_limits);
        int code = exit_code(out);
        if (code == RT_EXIT_INTERRUPTED || (code == RT_EXIT_FAILED && rc == RT_EXIT_OK)) rc = code;
        rt_run_free(&run);
    }
    if (!resumed && !other) rt_log_emit(NULL, "info", NULL, "no unfinished runs");
    if (rt_exec_interrupted() && rc == RT_EXIT_OK) rc = RT_EXIT_INTERRUPTED;
    free(v);
    json_decref(todo);
    rt_store_close(st);
    return rc;
}

static const char *trigger_kind(rt_trigger_kind k)
{
    switch (k) {
    case RT_TRIG_EVENT: return "event";
    case RT_TRIG_REQUEST: return "request";
    case RT_TRIG_SCHEDULE: return "schedule";
    default: return "enabled";
    }
}

static json_t *type_json(rt_type_text t)
{
    const json_t *p = t ? rt_type_parse(t) : NULL;
    return p ? json_deep_copy(p) : json_string("json");
}

static int cmd_info(const rt_workflow *wf, const cli_opts *o)
{
    json_t *info = json_pack("{s:s, s:s?, s:s}", "name", wf->name, "description", wf->description, "version",
                             wf->version);
    json_t *trig = json_pack("{s:s, s:s?, s:s?, s:s?, s:o}", "kind", trigger_kind(wf->trigger), "event", wf->event,
                             "cron", wf->cron, "zone", wf->zone, "schema", type_json(wf->trigger_schema));
    json_object_set_new(info, "trigger", trig);
    json_t *settings = json_array();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *d = s->default_json ? json_loads(s->default_json, JSON_DECODE_ANY, NULL) : NULL;
        json_array_append_new(settings, json_pack("{s:s, s:o, s:b, s:o?}", "name", s->name, "type",
                                                  type_json(s->type), "required", !s->default_json, "default", d));
    }
    json_object_set_new(info, "settings", settings);
    json_t *secrets = json_array();
    for (int i = 0; i < wf->nsecrets; i++) json_array_append_new(secrets, json_string(wf->secrets[i]));
    json_object_set_new(info, "secrets", secrets);
    if (wf->output_type) json_object_set_new(info, "output", type_json(wf->output_type));

    if (o->json) {
        char *t = json_dumps(info, JSON_INDENT(2));
        printf("%s\n", t);
        free(t);
    } else {
        printf("workflow  %s%s%s\n", wf->name, wf->description ? " - " : "", wf->description ? wf->description : "");
        printf("version   %s\n", wf->version);
        printf("trigger   %s", trigger_kind(wf->trigger));
        if (wf->event) printf(" \"%s\"", wf->event);
        if (wf->cron) printf(" \"%s\"%s%s", wf->cron, wf->zone ? " " : "", wf->zone ? wf->zone : "");
        printf("\n");
        char tn[2048];
        if (wf->trigger_schema && rt_type_parse(wf->trigger_schema)) {
            rt_type_name(rt_type_parse(wf->trigger_schema), tn, sizeof tn);
            printf("payload   %s\n", tn);
        }
        printf("settings %s\n", wf->nsettings ? "" : " (none)");
        for (int i = 0; i < wf->nsettings; i++) {
            const rt_setting *s = &wf->settings[i];
            const json_t *t = rt_type_parse(s->type);
            if (t) rt_type_name(t, tn, sizeof tn);
            printf("  %-20s %s%s%s\n", s->name, t ? tn : "json", s->default_json ? " = " : " (required)",
                   s->default_json ? s->default_json : "");
        }
        printf("secrets %s\n", wf->nsecrets ? "" : " (none)");
        for (int i = 0; i < wf->nsecrets; i++) {
            char var[200];
            int n = snprintf(var, sizeof var, "FLOW_SECRET_%s", wf->secrets[i]);
            for (int k = 12; k < n; k++) var[k] = (char)toupper((unsigned char)var[k]);
            printf("  %-20s %s\n", wf->secrets[i], var);
        }
    }
    json_decref(info);
    return RT_EXIT_OK;
}

static void fmt_time(json_t *ms, char *out, size_t n)
{
    if (json_is_integer(ms)) rt_format_time(json_integer_value(ms), out, n);
    else snprintf(out, n, "-");
}

static int cmd_history(const rt_workflow *wf, const cli_opts *o)
{
    rt_store *st = open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    json_t *all = rt_store_list_runs(st, o->status, o->user, 0);
    json_t *runs = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r) {
        const char *name = json_string_value(json_object_get(r, "workflow"));
        if (name && strcmp(name, wf->name) != 0) continue;
        if (o->limit > 0 && (int)json_array_size(runs) >= o->limit) break;
        json_t *sum = json_object();
        static const char *const keys[] = { "id", "status", "user", "version", "attempt", "created", "updated",
                                            "error", "failed_step" };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(r, keys[k]);
            if (v) json_object_set(sum, keys[k], v);
        }
        json_array_append_new(runs, sum);
    }
    if (o->json) {
        char *t = json_dumps(runs, JSON_INDENT(2));
        printf("%s\n", t);
        free(t);
    } else {
        printf("%-20s  %-11s  %-24s  %8s  %s\n", "RUN", "STATUS", "CREATED", "TOOK", "USER / ERROR");
        json_array_foreach(runs, i, r) {
            char created[40];
            fmt_time(json_object_get(r, "created"), created, sizeof created);
            long long took = json_integer_value(json_object_get(r, "updated")) -
                             json_integer_value(json_object_get(r, "created"));
            const char *user = json_string_value(json_object_get(r, "user"));
            const char *error = json_string_value(json_object_get(r, "error"));
            printf("%-20s  %-11s  %-24s  %6lldms  %s%s%.80s\n", json_string_value(json_object_get(r, "id")),
                   json_string_value(json_object_get(r, "status")), created, took, user ? user : "-",
                   error ? "  " : "", error ? error : "");
        }
    }
    json_decref(runs);
    json_decref(all);
    rt_store_close(st);
    return RT_EXIT_OK;
}

/* Steps of a run as a list ordered by start time, each with its path. */
static json_t *ordered_records(json_t *by_path, const char *time_key)
{
    json_t *list = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(by_path, k, v) {
        json_t *e = json_deep_copy(v);
        json_object_set_new(e, "path", json_string(k));
        size_t at = json_array_size(list);
        json_int_t t = json_integer_value(json_object_get(e, time_key));
        while (at > 0 && json_integer_value(json_object_get(json_array_get(list, at - 1), time_key)) > t) at--;
        json_array_insert_new(list, at, e);
    }
    return list;
}

static void print_field(const char *label, json_t *v)
{
    if (!v) return;
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (t && strlen(t) > 400) printf("      %-7s %.400s...\n", label, t);
    else printf("      %-7s %s\n", label, t ? t : "null");
    free(t);
}

static int cmd_show(const rt_workflow *wf, const cli_opts *o)
{
    if (!o->run_id) return usage_error(wf, "%s", "show needs a RUN_ID");
    rt_store *st = open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    json_t *rec = rt_store_get_run(st, o->run_id);
    if (!rec) {
        fprintf(stderr, "%s: no run %s\n", wf->name, o->run_id);
        rt_store_close(st);
        return RT_EXIT_USAGE;
    }
    json_t *steps = rt_store_get_steps(st, o->run_id), *logs = rt_store_get_logs(st, o->run_id);
    json_t *ls = ordered_records(steps, "started"), *ll = ordered_records(logs, "ts");
    if (o->json) {
        json_t *out = json_pack("{s:O, s:O, s:O}", "run", rec, "steps", ls, "logs", ll);
        char *t = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", t);
        free(t);
        json_decref(out);
    } else {
        char created[40], updated[40];
        fmt_time(json_object_get(rec, "created"), created, sizeof created);
        fmt_time(json_object_get(rec, "updated"), updated, sizeof updated);
        const char *user = json_string_value(json_object_get(rec, "user"));
        printf("run %s  %s  (workflow %s, version %s, attempt %lld, user %s)\n", o->run_id,
               json_string_value(json_object_get(rec, "status")), json_string_value(json_object_get(rec, "workflow")),
               json_string_value(json_object_get(rec, "version")),
               (long long)json_integer_value(json_object_get(rec, "attempt")), user ? user : "-");
        printf("created %s, updated %s\n", created, updated);
        print_field("trigger", json_object_get(rec, "trigger"));
        printf("steps:\n");
        size_t i;
        json_t *s;
        json_array_foreach(ls, i, s) {
            json_int_t t0 = json_integer_value(json_object_get(s, "started"));
            json_int_t t1 = json_integer_value(json_object_get(s, "ended"));
            size_t na = json_array_size(json_object_get(s, "attempts"));
            printf("  %-24s %-10s %zu attempt%s", json_string_value(json_object_get(s, "path")),
                   json_string_value(json_object_get(s, "status")), na, na == 1 ? "" : "s");
            if (t1) printf("  %lld ms", (long long)(t1 - t0));
            printf("\n");
            json_t *a;
            size_t k;
            json_array_foreach(json_object_get(s, "attempts"), k, a) {
                const char *e = json_string_value(json_object_get(a, "error"));
                if (e) printf("      attempt %zu: %s\n", k + 1, e);
            }
            print_field("input", json_object_get(s, "input"));
            print_field("output", json_object_get(s, "output"));
            if (json_object_get(s, "error")) print_field("error", json_object_get(s, "error"));
        }
        if (json_array_size(ll)) printf("log:\n");
        json_array_foreach(ll, i, s) printf("  %s\n", json_string_value(json_object_get(s, "msg")));
        if (json_object_get(rec, "output")) print_field("output", json_object_get(rec, "output"));
        if (json_object_get(rec, "error")) print_field("error", json_object_get(rec, "error"));
    }
    json_decref(ls);
    json_decref(ll);
    json_decref(steps);
    json_decref(logs);
    json_decref(rec);
    rt_store_close(st);
    return RT_EXIT_OK;
}

int rt_main(const rt_workflow *wf, int argc, char **argv)
{
    cli_opts o;
    int rc = parse_args(wf, argc, argv, &o);
    if (rc >= 0) return rc;
    if (!o.cmd || strcmp(o.cmd, "help") == 0) {
        usage(wf, o.cmd ? stdout : stderr);
        return o.cmd ? RT_EXIT_OK : RT_EXIT_USAGE;
    }
    rt_log_setup(o.json, wf->name);
    rt_exec_install_signals();     /* libcurl is initialised at the first request: ~2 MB less RSS without */
    if (strcmp(o.cmd, "run") == 0) rc = cmd_run(wf, &o);
    else if (strcmp(o.cmd, "resume") == 0) rc = cmd_resume(wf, &o);
    else if (strcmp(o.cmd, "info") == 0) rc = cmd_info(wf, &o);
    else if (strcmp(o.cmd, "history") == 0) rc = cmd_history(wf, &o);
    else if (strcmp(o.cmd, "show") == 0) rc = cmd_show(wf, &o);
    else rc = usage_error(wf, "unknown command '%s'", o.cmd);
    fflush(stdout);
    fflush(stderr);
    rt_exec_restore_signals();
    rt_type_cache_free();
    rt_log_teardown();
    return rc;
}
