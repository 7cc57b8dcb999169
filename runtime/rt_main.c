/*
** rt_main.c — [main] the job binary's entry: rt_project_main (rt_main is
** a project of one) sets the project, parses the command line and runs a
** command: resume here; run, connect, disconnect and workflows
** (rt_host_cli.c); info (rt_host_info.c); history, show, retry and prune
** (rt_ops.c); users (rt_users_cli.c); serve (rt_serve.c).
*/
#include "rt_cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "rt_crypto.h"
#include "rt_exec.h"
#include "rt_host.h"
#include "rt_host_cli.h"
#include "rt_host_info.h"
#include "rt_http.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_ops.h"
#include "rt_owner.h"
#include "rt_serve.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_users_cli.h"
#include "rt_util.h"
#include "rt_value.h"

static void usage(const rt_workflow *wf, FILE *out)
{
    const char *n = wf->name;
    fprintf(out,
            "%s%s%s\n\n"
            "usage:\n"
            "  %s run [--event FILE|-] [--user ID] [--workflow W] [--name EVENT] [--settings FILE] [--state DIR]\n"
            "         [--json] [--test-limits] [--durability sync|batch] [--max-inflight N]\n"
            "         [--step NAME [--input FILE] [--from RUN_ID]]  Test Step: one step, in a scratch state\n"
            "                                         (an event starts every workflow of the project that listens to it)\n"
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
            "  %s users enable|disable|show|remove USER   (enable|disable USER --workflow W [--settings FILE])\n"
            "  %s users list [--json]\n"
            "  %s connect USER INTEGRATION --secret NAME=VALUE|NAME=@FILE... [--field NAME=VALUE]...\n"
            "  %s disconnect USER INTEGRATION\n"
            "  %s workflows list|deploy W|undeploy W\n\n"
            "TIME is RFC 3339 (2024-05-01T12:00:00Z), a date, or a duration ago (2h, 7d).\n"
            "State lives in --state DIR, else $FLOW_STATE_DIR, else ./%s.state.\n"
            "Secrets: a user's run has its user's stored ones and connections only; a run without --user reads\n"
            "FLOW_SECRET_<NAME>. A connection's base_url field, else FLOW_<INTEGRATION>_BASE_URL, overrides a base URL.\n"
            "Exit codes: 0 ok, 1 run failed, 2 usage or bad input, 75 interrupted (resumable).\n",
            n, wf->description ? " - " : "", wf->description ? wf->description : "", n, n, n, n, n, n, n, n, n,
            n, n, n, n, n, n, n);
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
        else if (strcmp(a, "--workflow") == 0) VALUE(workflow);
        else if (strcmp(a, "--name") == 0) VALUE(event_name);
        else if (strcmp(a, "--field") == 0) {
            if (!has_next) return rt_cli_usage_error(wf, "%s needs NAME=VALUE", a);
            if (o->nfield_args == RT_CLI_MAX_SECRETS) return rt_cli_usage_error(wf, "too many %s options", a);
            o->field_args[o->nfield_args++] = argv[++i];
        }
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
        } else if ((strcmp(o->cmd, "users") == 0 || strcmp(o->cmd, "workflows") == 0) && !o->sub) {
            o->sub = a;
        } else if ((strcmp(o->cmd, "connect") == 0 || strcmp(o->cmd, "disconnect") == 0 ||
                    strcmp(o->cmd, "workflows") == 0) && !o->arg) {
            o->arg = a;
        } else if ((strcmp(o->cmd, "connect") == 0 || strcmp(o->cmd, "disconnect") == 0) && !o->arg2) {
            o->arg2 = a;
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
    const rt_workflow *own = rt_host_workflow(name);     /* one of this binary's workflows */
    if (!id || !own) return true;
    if (!version || strcmp(version, own->version) != 0) {
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

/* The command line of a job binary, as face (a project's: its only
** workflow, or a stand-in named after the project) sees it. */
static int main_of(const rt_workflow *wf, int argc, char **argv)
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
    if (strcmp(o.cmd, "run") == 0) rc = rt_host_cli_run(wf, &o);              /* rt_host_cli.c */
    else if (strcmp(o.cmd, "resume") == 0) rc = cmd_resume(wf, &o);
    else if (strcmp(o.cmd, "info") == 0) rc = rt_host_cli_info(wf, &o);      /* rt_host_info.c */
    else if (strcmp(o.cmd, "connect") == 0 || strcmp(o.cmd, "disconnect") == 0 || strcmp(o.cmd, "workflows") == 0)
        rc = rt_host_cli_cmd(wf, &o);
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

/* A project of several workflows is run as a stand-in workflow named after
** the project: it names the state and the messages, and runs nothing. */
static rt_workflow g_face;
static char g_face_version[17];

/* The store became unusable (rt_store_on_panic): said as any error line,
** the lines before it written out. */
static void store_panic(const char *msg)
{
    rt_log_emit(NULL, "error", json_pack("{s:s}", "event", "store_panic"), "%s", msg);
    rt_log_flush();
}

int rt_project_main(const rt_project *p, int argc, char **argv)
{
    rt_store_on_panic(store_panic);
    rt_host_set_project(p);
    const rt_workflow *face = p->workflows[0];
    if (p->nworkflows != 1) {
        /* the project's version: a hash of its workflows' own (each run keeps its workflow's) */
        rt_buf all = { 0 };
        for (int i = 0; i < p->nworkflows; i++) rt_buf_printf(&all, "%s:%s;", p->workflows[i]->name, p->workflows[i]->version);
        uint8_t h[32];
        rt_sha256(all.data ? all.data : "", all.len, h);
        rt_buf_free(&all);
        rt_hex_encode(h, 8, g_face_version);
        memset(&g_face, 0, sizeof g_face);
        g_face.name = p->name;
        g_face.description = "an integration project";
        g_face.version = g_face_version;
        g_face.trigger = RT_TRIG_EVENT;
        face = &g_face;
    }
    int rc = main_of(face, argc, argv);
    rt_host_set_project(NULL);     /* under `flowc run` the descriptors go away with the job */
    return rc;
}

int rt_main(const rt_workflow *wf, int argc, char **argv)
{
    const rt_workflow *one[1] = { wf };
    rt_project p = { .name = wf->name, .workflows = one, .nworkflows = 1 };
    return rt_project_main(&p, argc, argv);
}
