/*
** rt_main.c — [main] the job binary's entry: rt_main parses the command
** line and runs a command: run, resume and info here; history, show,
** retry and prune (rt_ops.c); users (rt_users_cli.c); serve (rt_serve.c).
*/
#include "rt_cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "rt_exec.h"
#include "rt_http.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_ops.h"
#include "rt_owner.h"
#include "rt_serve.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_users.h"
#include "rt_users_cli.h"
#include "rt_util.h"
#include "rt_value.h"

static void usage(const rt_workflow *wf, FILE *out)
{
    const char *n = wf->name;
    fprintf(out,
            "%s%s%s\n\n"
            "usage:\n"
            "  %s run [--event FILE|-] [--user ID] [--settings FILE] [--state DIR] [--json]\n"
            "         [--test-limits] [--durability sync|batch] [--max-inflight N]\n"
            "         [--step NAME [--input FILE] [--from RUN_ID]]  Test Step: one step, in a scratch state\n"
            "  %s resume [--state DIR] [--no-wait]  finish unfinished runs of this version, sleeping until\n"
            "                                         their waits are due (--no-wait: leave later waits waiting)\n"
            "  %s serve --listen HOST:PORT [...]    HTTP service: events, webhooks, schedules (serve --help)\n"
            "  %s info [--json]                     name, version, trigger, settings, secrets\n"
            "  %s history [--status S] [--user U] [--since TIME] [--limit N] [--json]\n"
            "  %s show RUN_ID [--json]              trigger, steps, attempts, inputs, outputs, logs\n"
            "  %s retry RUN_ID                      re-run a failed run from its failed step\n"
            "  %s retry --all [--status failed] [--since TIME] [--user U]\n"
            "  %s prune --older-than D [--status S] remove old finished runs (D: 90d, 12h, ...)\n"
            "  %s users set USER [--settings FILE] [--secret NAME=VALUE|NAME=@FILE]... [--disabled]\n"
            "  %s users enable|disable|show|remove USER\n"
            "  %s users list [--json]\n\n"
            "TIME is RFC 3339 (2024-05-01T12:00:00Z), a date, or a duration ago (2h, 7d).\n"
            "State lives in --state DIR, else $FLOW_STATE_DIR, else ./%s.state.\n"
            "Secrets: the user's stored ones, else FLOW_SECRET_<NAME>; FLOW_<INTEGRATION>_BASE_URL overrides a base URL.\n"
            "Exit codes: 0 ok, 1 run failed, 2 usage or bad input, 75 interrupted (resumable).\n",
            n, wf->description ? " - " : "", wf->description ? wf->description : "", n, n, n, n, n, n, n, n, n,
            n, n, n, n);
}

/* An error of a command, before or around a run: "NAME: message" on
** stderr, or with --json a log object like the run's own lines (one JSON
** object per line, as DESIGN.md section 4 says of the logs). */

static int parse_args(const rt_workflow *wf, int argc, char **argv, rt_cli_opts *o)
{
    memset(o, 0, sizeof *o);
    const char *d = getenv("FLOW_DURABILITY");
    o->batch = d && strcmp(d, "batch") == 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
#define VALUE(field)                                                                                            \
    do {                                                                                                        \
        if (!has_next) return rt_cli_usage_error(wf, "%s needs a value", a);                                    \
        o->field = argv[++i];                                                                                   \
    } while (0)
        if (strcmp(a, "--event") == 0) VALUE(event);
        else if (strcmp(a, "--user") == 0) {
            VALUE(user);
            /* it goes into the run's record as a JSON string */
            if (!rt_utf8_valid(o->user, strlen(o->user))) return rt_cli_usage_error(wf, "%s is not valid UTF-8", a);
        }
        else if (strcmp(a, "--settings") == 0) VALUE(settings);
        else if (strcmp(a, "--state") == 0) VALUE(state);
        else if (strcmp(a, "--status") == 0) VALUE(status);
        else if (strcmp(a, "--since") == 0) VALUE(since);
        else if (strcmp(a, "--older-than") == 0) VALUE(older_than);
        else if (strcmp(a, "--step") == 0) VALUE(step);
        else if (strcmp(a, "--input") == 0) VALUE(input);
        else if (strcmp(a, "--from") == 0) VALUE(from);
        else if (strcmp(a, "--json") == 0) o->json = true;
        else if (strcmp(a, "--test-limits") == 0) o->test_limits = true;
        else if (strcmp(a, "--all") == 0) o->all = true;
        else if (strcmp(a, "--no-wait") == 0) o->no_wait = true;
        else if (strcmp(a, "--disabled") == 0) o->disabled = true;
        else if (strcmp(a, "--secret") == 0) {
            if (!has_next) return rt_cli_usage_error(wf, "%s needs NAME=VALUE or NAME=@FILE", a);
            if (o->nsecret_args == RT_CLI_MAX_SECRETS) return rt_cli_usage_error(wf, "too many %s options", a);
            o->secret_args[o->nsecret_args++] = argv[++i];
        } else if (strcmp(a, "--limit") == 0) {
            if (!has_next) return rt_cli_usage_error(wf, "%s needs a value", a);
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || end == argv[i]) return rt_cli_usage_error(wf, "--limit needs a number >= 0, not '%s'", argv[i]);
            o->limit = (int)v;
            o->limit_set = true;
        } else if (strcmp(a, "--max-inflight") == 0) {
            if (!has_next) return rt_cli_usage_error(wf, "%s needs a value", a);
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 100000 || end == argv[i])
                return rt_cli_usage_error(wf, "--max-inflight needs a number from 1 to 100000, not '%s'", argv[i]);
            rt_http_set_max_inflight((int)v);
        } else if (strcmp(a, "--durability") == 0) {
            if (!has_next) return rt_cli_usage_error(wf, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(v, "batch") == 0) o->batch = true;
            else if (strcmp(v, "sync") == 0) o->batch = false;
            else return rt_cli_usage_error(wf, "--durability is sync or batch, not '%s'", v);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->cmd = "help";
        } else if (a[0] == '-' && a[1]) {
            return rt_cli_usage_error(wf, "unknown option %s", a);
        } else if (!o->cmd) {
            o->cmd = a;
        } else if (strcmp(o->cmd, "users") == 0 && !o->sub) {
            o->sub = a;
        } else if ((strcmp(o->cmd, "show") == 0 || strcmp(o->cmd, "retry") == 0 || strcmp(o->cmd, "users") == 0) &&
                   !o->arg) {
            o->arg = a;
        } else {
            return rt_cli_usage_error(wf, "unexpected argument '%s'", a);
        }
#undef VALUE
    }
    return -1;
}

/* Test Step: `run --step NAME [--input FILE] [--from RUN_ID]` in a scratch
** state (removed afterwards). secrets: what the run's user's secrets
** resolve to, opened in the real state (taken over). from_inputs: an
** earlier run's outputs by path (borrowed) or NULL; --input wins over them. */
static int run_one_step(const rt_workflow *wf, const rt_cli_opts *o, json_t *payload, json_t *settings,
                        rt_secrets *secrets, json_t *from_inputs)
{
    char err[1024], dir[] = "/tmp/flow-step.XXXXXX";
    bool made = false;
    rt_store *st = NULL;
    int rc = RT_EXIT_USAGE;
    json_t *inputs = from_inputs ? json_deep_copy(from_inputs) : json_object();
    if (o->input) {
        json_t *given = rt_cli_read_json_file(o->input, "input", err, sizeof err);
        if (!given || !json_is_object(given)) {
            rt_cli_error(wf, "%s", given ? "--input must hold an object mapping step names to their outputs" : err);
            json_decref(given);
            goto done;
        }
        json_object_update(inputs, given);     /* --input wins over --from */
        json_decref(given);
    }
    rc = RT_EXIT_FAILED;
    if (!(made = mkdtemp(dir) != NULL)) {
        rt_cli_error(wf, "cannot create a scratch state: %s", strerror(errno));
        goto done;
    }
    if (!(st = rt_store_open(dir, true, err, sizeof err))) {
        rt_cli_error(wf, "%s", err);
        goto done;
    }
    rt_run_state run;
    rt_run_open(&run, &(rt_run_setup){ .wf = wf, .store = st, .record = rt_cli_new_run(wf, o->user, payload, settings,
                                                                                        "step"),
                                       .secrets = secrets });
    secrets = NULL;                     /* the run's now */
    run.test_limits = o->test_limits;
    run.only_step = o->step;
    run.step_inputs = inputs;
    run.inputs_from_run = from_inputs != NULL;
    rt_outcome out = rt_exec_run(&run);
    rc = run.input_error ? RT_EXIT_USAGE : rt_cli_exit_code(out);
    if (out == RT_RUN_SUCCEEDED) rt_cli_print_output(run.output, o->test_limits);
    rt_run_free(&run);
done:
    if (st) rt_store_close(st);
    if (made) {
        char path[64];
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/lock.mdb", dir);
        unlink(path);
        rmdir(dir);
    }
    json_decref(inputs);
    rt_secrets_close(secrets);
    return rc;
}

/* --from RUN_ID: what the steps of an earlier run (in the state) gave, by
** path ("person", "tagged[3].add"), as Test Step's inputs: every step that
** succeeded, as stored (secrets redacted); fanouts are left out, so that
** their items run, each with its own steps' outputs. *rec: the run's
** record (NEW reference). NULL with a message when there is no such run. */
static json_t *inputs_from_run(const rt_workflow *wf, rt_store *st, const char *id, json_t **rec, char *err,
                               size_t n)
{
    *rec = rt_store_read_run(st, id, err, n);
    if (!*rec) {
        if (!*err) snprintf(err, n, "--from: no run %s in this state", id);
        return NULL;
    }
    const char *name = json_string_value(json_object_get(*rec, "workflow"));
    if (name && strcmp(name, wf->name) != 0) {
        snprintf(err, n, "--from: run %s is of workflow '%s', not '%s'", id, name, wf->name);
        json_decref(*rec);
        *rec = NULL;
        return NULL;
    }
    json_t *steps = rt_store_get_steps(st, id), *inputs = json_object();
    const char *path;
    json_t *r;
    json_object_foreach(steps, path, r) {
        const char *kind = json_string_value(json_object_get(r, "kind"));
        if (strchr(path, '#') || !kind || strcmp(kind, "fanout") == 0 || strcmp(kind, "wait") == 0 ||
            strcmp(kind, "page") == 0 || rt_status_of(r) != RT_ST_SUCCEEDED)
            continue;
        json_t *out = json_object_get(r, "output");
        if (!out) continue;                             /* a count only: nothing read its items */
        if (json_is_true(json_object_get(r, "items_in_pages"))) {
            json_t *full = json_deep_copy(out), *items = json_array();
            for (json_int_t k = 1; k <= json_integer_value(json_object_get(out, "pages")); k++) {
                char key[1024];
                snprintf(key, sizeof key, "%s#page%lld", path, (long long)k);
                json_array_extend(items, json_object_get(json_object_get(steps, key), "items"));
            }
            json_object_set_new(full, "items", items);
            json_object_set_new(inputs, path, full);
        } else {
            json_object_set(inputs, path, out);
        }
    }
    json_decref(steps);
    return inputs;
}

static int cmd_run(const rt_workflow *wf, const rt_cli_opts *opts)
{
    char err[1024];
    if (!opts->step && opts->input) return rt_cli_usage_error(wf, "%s needs --step NAME", "--input");
    if (!opts->step && opts->from) return rt_cli_usage_error(wf, "%s needs --step NAME", "--from");
    rt_cli_opts oo = *opts;
    const rt_cli_opts *o = &oo;
    json_t *from = NULL, *from_rec = NULL, *from_settings = NULL;
    if (opts->from) {
        /* the earlier run's trigger, user and settings too, unless given */
        rt_store *fst = rt_cli_open_store_reader(wf, opts);
        if (!fst) return RT_EXIT_USAGE;
        from = inputs_from_run(wf, fst, opts->from, &from_rec, err, sizeof err);
        rt_store_close(fst);
        if (!from) {
            rt_cli_error(wf, "%s", err);
            return RT_EXIT_USAGE;
        }
        if (!oo.user) oo.user = json_string_value(json_object_get(from_rec, "user"));
        if (!oo.settings) from_settings = json_object_get(from_rec, "settings");
    }
    rt_store *st = NULL;
    json_t *urec = NULL, *settings = NULL, *payload = NULL;
    rt_secrets *secrets = NULL;
    int rc = RT_EXIT_USAGE;
    if (o->user) {
        if (!(st = rt_cli_open_store(wf, o))) goto done;
        urec = rt_users_get_enabled(st, wf, o->user, err, sizeof err);
        /* a state without connected users is a development one: --user
        ** only names the run's user there */
        json_t *users = urec ? NULL : rt_store_list_users(st);
        bool refuse = !urec && (json_array_size(users) || strstr(err, "disabled"));
        json_decref(users);
        if (refuse) {
            rt_cli_error(wf, "%s", err);
            goto done;
        }
        if (o->step) {      /* a normal run opens them in rt_cli_execute */
            char buf[4096];
            rt_secrets_source src = { .store = st, .state_dir = rt_cli_state_dir(wf, o, buf, sizeof buf),
                                      .user = o->user, .declared = wf->secrets, .ndeclared = wf->nsecrets };
            secrets = rt_secrets_open(&src);
        }
    }
    settings = rt_cli_settings(wf, from_settings ? from_settings : json_object_get(urec, "settings"), o->settings,
                               err, sizeof err);
    payload = !settings  ? NULL
            : o->event   ? rt_cli_read_json_file(o->event, "event", err, sizeof err)
            : from_rec   ? json_incref(json_object_get(from_rec, "trigger"))
                         : json_object();
    if (!settings || !payload) {
        rt_cli_error(wf, "%s", err);
        goto done;
    }
    if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, payload, "trigger payload", err, sizeof err)) {
        rt_cli_error(wf, "%s (no run was created)", err);
        goto done;
    }
    if (o->step) {
        rt_store_close(st);
        st = NULL;
        rc = run_one_step(wf, o, payload, settings, secrets, from);
        secrets = NULL;                 /* taken over */
        goto done;
    }
    if (!st && !(st = rt_cli_open_store(wf, o))) goto done;
    rc = rt_cli_exit_code(rt_cli_execute(wf, st, rt_cli_new_run(wf, o->user, payload, settings, "run"), o, true));
done:
    json_decref(urec);
    json_decref(settings);
    json_decref(payload);
    json_decref(from);
    json_decref(from_rec);
    rt_secrets_close(secrets);
    if (st) rt_store_close(st);
    return rc;
}

typedef struct resume_scan {
    const rt_workflow *wf;
    json_t *todo;               /* records to run now, oldest first */
    json_t *other_versions;     /* version -> [run ids] */
    json_t *damaged;            /* ids of run records that cannot be read */
    json_t *owners;             /* "serve (pid 12)" -> runs it owns, of those left alone */
    int64_t next_due;           /* earliest wake_at still in the future, or 0 */
    const char *next_id;
    char next_id_buf[RT_RUN_ID_LEN + 1];
    int busy, sleeping;
} resume_scan;

/* A run left alone because another live process owns it. */
static void resume_busy(resume_scan *r, const json_t *rec)
{
    char who[96];
    rt_owner_name(rec, who, sizeof who);
    json_object_set_new(r->owners, who, json_integer(json_integer_value(json_object_get(r->owners, who)) + 1));
    r->busy++;
}

static bool resume_visit(json_t *rec, void *arg)
{
    resume_scan *r = arg;
    if (rt_store_damaged(rec)) {
        json_array_append(r->damaged, json_object_get(rec, "id"));
        return true;
    }
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *name = json_string_value(json_object_get(rec, "workflow"));
    const char *version = json_string_value(json_object_get(rec, "version"));
    const char *status = json_string_value(json_object_get(rec, "status"));
    if (!id || !name || strcmp(name, r->wf->name) != 0) return true;
    if (!version || strcmp(version, r->wf->version) != 0) {
        json_t *l = json_object_get(r->other_versions, version ? version : "?");
        if (!l) json_object_set_new(r->other_versions, version ? version : "?", l = json_array());
        json_array_append_new(l, json_string(id));
        return true;
    }
    if (rt_owner_of(rec) == RT_OWNER_LIVE) {
        resume_busy(r, rec);    /* a live process runs it, sleeps in it, or has it queued (serve) */
        return true;
    }
    json_int_t wake = json_integer_value(json_object_get(rec, "wake_at"));
    if (rt_status_parse(status) == RT_ST_WAITING && wake > rt_now_ms() + RT_CLI_RESUME_HORIZON_MS) {
        r->sleeping++;
        if (!r->next_due || wake < r->next_due) {
            r->next_due = wake;
            snprintf(r->next_id_buf, sizeof r->next_id_buf, "%s", id);
            r->next_id = r->next_id_buf;
        }
        return true;
    }
    json_array_append(r->todo, rec);
    return true;
}

/* One pass: runs every unfinished run of this version whose time has come
** (oldest first), suspending waits beyond RT_CLI_RESUME_HORIZON_MS; r reports the
** rest. Returns the exit code so far and counts what ran in *resumed. */
static int resume_pass(const rt_workflow *wf, rt_store *st, const rt_cli_opts *o, resume_scan *r, int *resumed)
{
    static const rt_status unfinished[] = { RT_ST_QUEUED, RT_ST_RUNNING, RT_ST_WAITING, RT_ST_INTERRUPTED };
    for (size_t i = 0; i < sizeof unfinished / sizeof unfinished[0]; i++) {
        rt_run_query q = { .status = rt_status_name(unfinished[i]), .oldest_first = true, .damaged_too = true };
        rt_store_scan_runs(st, &q, resume_visit, r);
    }
    /* oldest first across the statuses: ids are time-ordered */
    size_t n = json_array_size(r->todo);
    json_t **v = rt_xmalloc(sizeof *v * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(r->todo, i);
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
    int rc = RT_EXIT_OK;
    for (size_t i = 0; i < n && !rt_signal_interrupted(); i++) {
        const char *id = json_string_value(json_object_get(v[i], "id"));
        json_t *fresh = rt_store_get_run(st, id);      /* the latest copy */
        if (!fresh) continue;
        if (rt_owner_of(fresh) == RT_OWNER_LIVE) {     /* taken since the scan */
            resume_busy(r, fresh);
            json_decref(fresh);
            continue;
        }
        /* waits suspend the run instead of holding this process; the claim
        ** (rt_exec_run) raises the attempt of a run an earlier process started */
        rt_outcome out = rt_cli_execute(wf, st, fresh, o, false);
        if (out == RT_RUN_SKIPPED) {    /* claimed by another process meanwhile, or ended */
            json_t *now = rt_store_get_run(st, id);
            if (rt_owner_of(now) == RT_OWNER_LIVE) resume_busy(r, now);
            json_decref(now);
            continue;
        }
        (*resumed)++;
        if (out == RT_RUN_WAITING) {
            json_t *now = rt_store_get_run(st, id);
            json_int_t wake = json_integer_value(json_object_get(now, "wake_at"));
            if (wake && (!r->next_due || wake < r->next_due)) {
                r->next_due = wake;
                snprintf(r->next_id_buf, sizeof r->next_id_buf, "%s", id);
                r->next_id = r->next_id_buf;
            }
            r->sleeping++;
            json_decref(now);
        }
        int code = rt_cli_exit_code(out);
        if (code == RT_EXIT_INTERRUPTED || (code == RT_EXIT_FAILED && rc == RT_EXIT_OK)) rc = code;
    }
    free(v);
    return rc;
}

/* `resume` finishes every unfinished run (DESIGN: "finish every unfinished
** run"): runs the due ones, then sleeps until the next wait is due and goes
** on, until none is left. --no-wait returns after the first pass instead,
** leaving later waits `waiting` (for cron; `serve` wakes them itself). */
static int cmd_resume(const rt_workflow *wf, const rt_cli_opts *o)
{
    rt_store *st = rt_cli_open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    int rc = RT_EXIT_OK, resumed = 0, other = 0, busy = 0;
    for (bool first = true;; first = false) {
        resume_scan r = { .wf = wf, .todo = json_array(), .other_versions = json_object(), .damaged = json_array(),
                          .owners = json_object() };
        int pass_rc = resume_pass(wf, st, o, &r, &resumed);
        if (pass_rc == RT_EXIT_INTERRUPTED || (pass_rc == RT_EXIT_FAILED && rc == RT_EXIT_OK)) rc = pass_rc;
        if (first) {
            other = rt_cli_report_other_versions(wf, r.other_versions, "unfinished");
            rt_cli_report_damaged_runs(r.damaged, "not resumed");
            busy = r.busy;
            if (busy) {
                rt_buf who = { 0 };
                rt_buf_append(&who, "", 0);
                const char *name;
                json_t *n;
                json_object_foreach(r.owners, name, n)
                    rt_buf_printf(&who, "%s%s: %lld", who.len ? ", " : "", name, (long long)json_integer_value(n));
                rt_log_emit(NULL, "info", json_pack("{s:s, s:i, s:O}", "event", "owned_elsewhere", "runs", busy, "owners", r.owners),
                            "%d run%s owned by another live process%s%s; left alone", busy, busy == 1 ? " is" : "s are",
                            who.len ? ": " : "", who.data);
                rt_buf_free(&who);
            }
        }
        bool more = r.next_due && !rt_signal_interrupted();
        if (more) {
            char when[40];
            rt_format_time(r.next_due, when, sizeof when);
            long long in = (long long)(r.next_due - rt_now_ms());
            rt_log_emit(NULL, "info",
                        json_pack("{s:s, s:i, s:s, s:s, s:I}", "event", "next_due", "waiting", r.sleeping, "run",
                                  r.next_id, "at", when, "in_ms", (json_int_t)(in > 0 ? in : 0)),
                        o->no_wait ? "%d run%s waiting; the next one (%s) is due at %s (in %lld s): run `%s resume` then"
                                   : "%d run%s waiting; the next one (%s) is due at %s (in %lld s): %s resume waits "
                                     "for it (--no-wait returns now)",
                        r.sleeping, r.sleeping == 1 ? "" : "s", r.next_id, when, in > 0 ? (in + 999) / 1000 : 0,
                        wf->name);
        }
        json_decref(r.todo);
        json_decref(r.other_versions);
        json_decref(r.damaged);
        json_decref(r.owners);
        if (!more || o->no_wait || !rt_signal_sleep_ms(r.next_due - rt_now_ms())) break;
    }
    if (!resumed && !other && !busy && rc == RT_EXIT_OK) rt_log_emit(NULL, "info", NULL, "no unfinished runs");
    if (rt_signal_interrupted() && rc == RT_EXIT_OK) rc = RT_EXIT_INTERRUPTED;
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

static bool count_version(json_t *run, void *arg)
{
    const char *v = json_string_value(json_object_get(run, "version"));
    json_t *counts = arg;
    if (v) json_object_set_new(counts, v, json_integer(json_integer_value(json_object_get(counts, v)) + 1));
    return true;
}

/* Unfinished runs in the state (when there is one) by version: deploying a
** new binary leaves the old version's runs for the old binary to finish. */
static json_t *unfinished_by_version(const rt_workflow *wf, const rt_cli_opts *o)
{
    char buf[4096], path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", rt_cli_state_dir(wf, o, buf, sizeof buf));
    json_t *counts = json_object();
    if (access(path, F_OK) != 0) return counts;
    rt_store *st = rt_cli_open_store_reader(wf, o);
    if (!st) return counts;
    static const rt_status unfinished[] = { RT_ST_QUEUED, RT_ST_RUNNING, RT_ST_WAITING, RT_ST_INTERRUPTED };
    for (size_t i = 0; i < sizeof unfinished / sizeof unfinished[0]; i++) {
        rt_run_query q = { .status = rt_status_name(unfinished[i]) };
        rt_store_scan_runs(st, &q, count_version, counts);
    }
    rt_store_close(st);
    return counts;
}

static int cmd_info(const rt_workflow *wf, const rt_cli_opts *o)
{
    json_t *info = json_pack("{s:s, s:s?, s:s}", "name", wf->name, "description", wf->description, "version",
                             wf->version);
    json_t *trig = json_pack("{s:s, s:s?, s:s?, s:s?, s:o}", "kind", trigger_kind(wf->trigger), "event", wf->event,
                             "cron", wf->cron, "zone", wf->zone, "schema", rt_type_json(wf->trigger_schema));
    json_object_set_new(info, "trigger", trig);
    json_t *settings = json_array();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *d = s->default_json ? json_loads(s->default_json, JSON_DECODE_ANY, NULL) : NULL;
        json_array_append_new(settings, json_pack("{s:s, s:o, s:b, s:o?}", "name", s->name, "type",
                                                  rt_type_json(s->type), "required", !s->default_json, "default", d));
    }
    json_object_set_new(info, "settings", settings);
    json_t *secrets = json_array();
    for (int i = 0; i < wf->nsecrets; i++) json_array_append_new(secrets, json_string(wf->secrets[i]));
    json_object_set_new(info, "secrets", secrets);
    if (wf->output_type) json_object_set_new(info, "output", rt_type_json(wf->output_type));
    json_t *by_version = unfinished_by_version(wf, o);
    json_int_t mine = json_integer_value(json_object_get(by_version, wf->version));
    json_object_del(by_version, wf->version);
    json_object_set_new(info, "unfinished", json_integer(mine));
    json_object_set_new(info, "unfinished_other_versions", by_version);   /* version -> count */

    if (o->json) {
        char *t = rt_json_dump(info, 2, false);
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
        if (wf->trigger_schema) {
            rt_type_name(wf->trigger_schema, tn, sizeof tn);
            printf("payload   %s\n", tn);
        }
        printf("settings %s\n", wf->nsettings ? "" : " (none)");
        for (int i = 0; i < wf->nsettings; i++) {
            const rt_setting *s = &wf->settings[i];
            rt_type_name(s->type, tn, sizeof tn);
            printf("  %-20s %s%s%s\n", s->name, tn, s->default_json ? " = " : " (required)",
                   s->default_json ? s->default_json : "");
        }
        printf("secrets %s\n", wf->nsecrets ? "" : " (none)");
        for (int i = 0; i < wf->nsecrets; i++) {
            char var[200];
            printf("  %-20s %s\n", wf->secrets[i], rt_env_name(var, sizeof var, "FLOW_SECRET_", wf->secrets[i], ""));
        }
        printf("unfinished %lld run%s of this version", (long long)mine, mine == 1 ? "" : "s");
        const char *v;
        json_t *n;
        json_object_foreach(by_version, v, n)
            printf("; %lld of version %s (its own binary's `resume` finishes them)", (long long)json_integer_value(n), v);
        printf("\n");
    }
    json_decref(info);
    return RT_EXIT_OK;
}

int rt_main(const rt_workflow *wf, int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "serve") == 0) return rt_serve_main(wf, argc - 1, argv + 1);   /* rt_serve.c */
    rt_cli_opts o;
    int rc = parse_args(wf, argc, argv, &o);
    if (rc >= 0) return rc;
    if (!o.cmd || strcmp(o.cmd, "help") == 0) {
        usage(wf, o.cmd ? stdout : stderr);
        return o.cmd ? RT_EXIT_OK : RT_EXIT_USAGE;
    }
    rt_log_setup(o.json, wf->name);
    rt_owner_set_cmd(strcmp(o.cmd, "resume") == 0 || strcmp(o.cmd, "retry") == 0 || strcmp(o.cmd, "users") == 0
                         ? o.cmd : "run");      /* who owns the runs it executes, in messages */
    rt_signal_install();     /* libcurl is initialised at the first request: ~2 MB less RSS without */
    if (strcmp(o.cmd, "run") == 0) rc = cmd_run(wf, &o);
    else if (strcmp(o.cmd, "resume") == 0) rc = cmd_resume(wf, &o);
    else if (strcmp(o.cmd, "info") == 0) rc = cmd_info(wf, &o);
    else if (strcmp(o.cmd, "history") == 0) rc = rt_ops_history(wf, &o);
    else if (strcmp(o.cmd, "show") == 0) rc = rt_ops_show(wf, &o);
    else if (strcmp(o.cmd, "retry") == 0) rc = rt_ops_retry(wf, &o);
    else if (strcmp(o.cmd, "prune") == 0) rc = rt_ops_prune(wf, &o);
    else if (strcmp(o.cmd, "users") == 0) rc = rt_users_cmd(wf, &o);
    else rc = rt_cli_usage_error(wf, "unknown command '%s'", o.cmd);
    fflush(stdout);
    fflush(stderr);
    rt_signal_restore();
    rt_value_teardown();
    rt_log_teardown();
    return rc;
}
