/*
** rt_ops.c — [commands] history, show, retry and prune: the commands an operator
** uses on a job's runs (rt_ops.h).
*/
#include "rt_ops.h"

#include "rt_host_run.h"
#include "rt_host_users.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_util.h"

#define HISTORY_DEFAULT_LIMIT 50

static json_int_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* "35 ms", "1.2 s", "3 m 05 s", "2 h 10 m" */
static void fmt_duration(int64_t ms, char *out, size_t n)
{
    if (ms < 0) snprintf(out, n, "-");
    else if (ms < 1000) snprintf(out, n, "%lld ms", (long long)ms);
    else if (ms < 60000) snprintf(out, n, "%.1f s", (double)ms / 1000);
    else if (ms < 3600000) snprintf(out, n, "%lld m %02lld s", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
    else snprintf(out, n, "%lld h %02lld m", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
}

static void fmt_time(json_int_t ms, char *out, size_t n)
{
    if (ms) rt_format_time(ms, out, n);
    else snprintf(out, n, "-");
}

/* How long a run took (finished) or has been going (not finished). */
static int64_t run_duration(const json_t *r)
{
    json_int_t created = num(r, "created"), ended = num(r, "ended");
    if (!created) return -1;
    if (ended) return ended - created;
    rt_status s = rt_status_of(r);
    if (s == RT_ST_RUNNING || s == RT_ST_WAITING || s == RT_ST_QUEUED)
        return rt_now_ms() - created;
    return num(r, "updated") - created;
}

static bool parse_since(const rt_workflow *wf, const rt_cli_opts *o, int64_t *since)
{
    *since = 0;
    if (!o->since) return true;
    if (rt_cli_parse_since(o->since, since)) return true;
    rt_cli_usage_error(wf, "--since takes an RFC 3339 time (2024-05-01T12:00:00Z), a date, or a duration ago (2h, 7d), not '%s'",
                       o->since);
    return false;
}

static bool valid_status(const char *s)
{
    return rt_status_is_run(rt_status_parse(s));
}

/* ---- history ------------------------------------------------------------ */

typedef struct history_scan {
    const rt_workflow *wf;
    json_t *rows;
    int limit;
    json_t *damaged;            /* ids of the run records that could not be read */
} history_scan;

static bool history_visit(json_t *r, void *arg)
{
    history_scan *h = arg;
    if (rt_store_damaged(r)) {      /* listed where it was, never left out */
        const char *id = rt_json_str(r, "id");
        json_array_append_new(h->damaged, json_string(id));
        /* a run id starts with its creation time (12 hex digits of ms) */
        char hex[13] = "", t[40];
        snprintf(hex, sizeof hex, "%s", id);
        json_int_t created = (json_int_t)strtoll(hex, NULL, 16);
        fmt_time(created, t, sizeof t);
        json_t *row = json_pack("{s:s, s:s, s:s+, s:n, s:s, s:I, s:i}", "id", id, "status", rt_status_name(RT_ST_UNREADABLE), "error",
                                "record damaged: ", rt_store_damaged(r), "trigger", "started", t, "started_ms",
                                created, "duration_ms", -1);
        json_array_append_new(h->rows, row);
        return h->limit <= 0 || (int)json_array_size(h->rows) < h->limit;
    }
    const char *name = rt_json_str(r, "workflow");
    if (name && !rt_host_workflow(name)) return true;      /* a workflow this binary does not hold */
    json_t *row = json_object();
    static const char *const keys[] = { "id", "workflow", "user", "status", "attempt", "version", "source",
                                        "failed_step", "error" };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        json_t *v = json_object_get(r, keys[k]);
        if (v) json_object_set(row, keys[k], v);
    }
    json_t *trig = json_object_get(r, "trigger");
    json_object_set(row, "trigger", trig ? trig : json_null());
    const char *status = rt_json_str(r, "status");
    rt_owner_state owner = rt_owner_of(r);
    if (status && !rt_status_finished(rt_status_parse(status)) && owner != RT_OWNER_NONE) {
        char who[96];       /* an unfinished run: which process has it, and whether that one lives */
        json_object_set_new(row, "owner", json_string(rt_owner_name(r, who, sizeof who)));
        json_object_set_new(row, "owner_alive", json_boolean(owner != RT_OWNER_DEAD));
    }
    char t[40];
    fmt_time(num(r, "created"), t, sizeof t);
    json_object_set_new(row, "started", json_string(t));
    json_object_set_new(row, "started_ms", json_integer(num(r, "created")));
    json_object_set_new(row, "duration_ms", json_integer(run_duration(r)));
    if (num(r, "wake_at")) {
        fmt_time(num(r, "wake_at"), t, sizeof t);
        json_object_set_new(row, "wake_at", json_string(t));
    }
    json_array_append_new(h->rows, row);
    return h->limit <= 0 || (int)json_array_size(h->rows) < h->limit;
}

int rt_ops_history(const rt_workflow *wf, const rt_cli_opts *o)
{
    int64_t since;
    if (!parse_since(wf, o, &since)) return RT_EXIT_USAGE;
    if (o->status && !valid_status(o->status))
        return rt_cli_usage_error(wf, "--status is queued, running, waiting, succeeded, failed, interrupted or skipped, not '%s'",
                                  o->status);
    rt_store *st = rt_cli_open_store_reader(wf, o);
    if (!st) return RT_EXIT_USAGE;
    history_scan h = { wf, json_array(), o->limit_set ? o->limit : HISTORY_DEFAULT_LIMIT, json_array() };
    rt_run_query q = { .status = o->status, .user = o->user, .since_ms = since, .damaged_too = true };
    int rc = rt_store_scan_runs(st, &q, history_visit, &h);
    if (rc != 0) rt_log_emit(NULL, "error", NULL, "cannot list the runs: %s", rt_store_strerror(rc));
    /* secrets may sit in error messages of older binaries: redact what we know */
    json_t *rows = rt_redact_json(h.rows);
    json_decref(h.rows);
    if (o->json) {
        char *t = rt_json_dump(rows, 2, false);
        printf("%s\n", t);
        free(t);
    } else {
        /* a project of several workflows shows each run's workflow where the trigger was */
        bool several = rt_host_project() && rt_host_project()->nworkflows > 1;
        printf("%-20s  %-11s  %-12s  %-24s  %-24s  %10s  %s\n", "RUN", "STATUS", "USER", several ? "WORKFLOW" : "TRIGGER",
               "STARTED",
               "DURATION", "FAILED STEP");
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r) {
            char dur[32];
            fmt_duration(num(r, "duration_ms"), dur, sizeof dur);
            char *tt = several && rt_json_str(r, "workflow") ? rt_xstrdup(rt_json_str(r, "workflow"))
                                                     : rt_json_dump(json_object_get(r, "trigger"), 0, false);
            char *trig = rt_redact_shorten(tt ? tt : "-", tt && strlen(tt) > 24 ? 21 : 24);
            free(tt);
            const char *status = rt_json_str(r, "status");
            char st_buf[40];
            snprintf(st_buf, sizeof st_buf, "%s", status ? status : "?");
            const char *fs = rt_json_str(r, "failed_step"), *err = rt_json_str(r, "error");
            if (fs && err && strncmp(err, "step '", 6) == 0 && strncmp(err + 6, fs, strlen(fs)) == 0 &&
                strncmp(err + 6 + strlen(fs), "': ", 3) == 0)
                err += 9 + strlen(fs);  /* "step 'push': HTTP 400" under FAILED STEP push */
            if (rt_json_str(r, "wake_at") && !fs) {
                printf("%-20s  %-11s  %-12s  %-24s  %-24s  %10s  wakes at %s\n", rt_json_str(r, "id"), st_buf,
                       rt_json_str(r, "user") ? rt_json_str(r, "user") : "-", trig, rt_json_str(r, "started"), dur, rt_json_str(r, "wake_at"));
                free(trig);
                continue;
            }
            char *why = rt_redact_shorten(err && (fs || rt_status_parse(st_buf) == RT_ST_FAILED ||
                                                  rt_status_parse(st_buf) == RT_ST_SKIPPED ||
                                                  rt_status_parse(st_buf) == RT_ST_UNREADABLE) ? err : "", 80);
            printf("%-20s  %-11s  %-12s  %-24s  %-24s  %10s  %s%s%s\n", rt_json_str(r, "id"), st_buf,
                   rt_json_str(r, "user") ? rt_json_str(r, "user") : "-", trig, rt_json_str(r, "started"), dur, fs ? fs : "",
                   fs && err ? ": " : "", why);
            free(why);
            free(trig);
        }
    }
    json_decref(rows);
    rt_cli_report_damaged_runs(h.damaged, "listed as unreadable");
    json_decref(h.damaged);
    rt_store_close(st);
    return RT_EXIT_OK;
}

/* ---- show --------------------------------------------------------------- */

/* Step records as a list ordered by start time (then path), each with its
** path and, for display, its duration. */
typedef struct timed_rec {
    json_int_t t;
    const char *path;
    json_t *rec;
} timed_rec;

static int timed_cmp(const void *a, const void *b)
{
    const timed_rec *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return strcmp(x->path, y->path);
}

static json_t *ordered_records(json_t *by_path, const char *time_key)
{
    size_t n = json_object_size(by_path), i = 0;
    timed_rec *v = rt_xmalloc(sizeof *v * (n ? n : 1));
    const char *k;
    json_t *rec;
    json_object_foreach(by_path, k, rec) v[i++] = (timed_rec){ num(rec, time_key), k, rec };
    qsort(v, n, sizeof *v, timed_cmp);
    json_t *list = json_array();
    for (i = 0; i < n; i++) {
        json_t *e = json_deep_copy(v[i].rec);
        json_object_set_new(e, "path", json_string(v[i].path));
        json_int_t t0 = num(e, "started"), t1 = num(e, "ended");
        if (t0 && t1) json_object_set_new(e, "duration_ms", json_integer(t1 - t0));
        json_t *a;
        size_t j;
        json_array_foreach(json_object_get(e, "attempts"), j, a) {
            json_int_t s = num(a, "started"), f = num(a, "ended");
            if (s && f) json_object_set_new(a, "duration_ms", json_integer(f - s));
        }
        json_array_append_new(list, e);
    }
    free(v);
    return list;
}

static void print_field(const char *indent, const char *label, json_t *v)
{
    if (!v) return;
    char *t = rt_json_dump(v, 0, false);
    if (t && strlen(t) > 600) {
        char *start = rt_redact_shorten(t, 600);
        printf("%s%-8s %s (%zu bytes)\n", indent, label, start, strlen(t));
        free(start);
    } else {
        printf("%s%-8s %s\n", indent, label, t ? t : "null");
    }
    free(t);
}

/* Registers every secret this run may have used, for redaction. */
static void register_secrets(const rt_workflow *wf, const rt_cli_opts *o, rt_store *st, const json_t *run)
{
    /* opened as the run opens them (rt_host_open_run): the user's own and
    ** their connections', or (no user) the FLOW_SECRET_* values, registered
    ** in the process's set; the values are not needed */
    char buf[4096];
    const char *dir = rt_cli_state_dir(wf, o, buf, sizeof buf);
    const rt_workflow *own = rt_host_run_workflow(run);
    const rt_workflow *w = own ? own : wf;
    json_t *urec = rt_json_str(run, "user") ? rt_host_user_get(st, rt_json_str(run, "user")) : NULL;
    if (urec && !rt_store_damaged(urec)) {
        rt_secrets_close(rt_host_open_secrets(st, dir, urec, w, false, NULL));
    } else {
        rt_secrets_source src = { .store = st, .state_dir = dir, .declared = w->secrets, .ndeclared = w->nsecrets };
        rt_secrets_close(rt_secrets_open(&src));
    }
    json_decref(urec);
}

/* The records of a run that are stand-ins for damaged ones, named by key:
** a NEW array of strings. */
static json_t *damaged_keys(const json_t *run, const json_t *steps, const json_t *logs)
{
    json_t *keys = json_array();
    if (rt_store_damaged(run)) json_array_append_new(keys, json_sprintf("the run record %s", rt_json_str(run, "id")));
    const char *path;
    json_t *rec;
    json_object_foreach((json_t *)steps, path, rec)
        if (rt_store_damaged(rec)) json_array_append_new(keys, json_sprintf("step record '%s'", path));
    json_object_foreach((json_t *)logs, path, rec)
        if (rt_store_damaged(rec)) json_array_append_new(keys, json_sprintf("log record '%s'", path));
    return keys;
}

int rt_ops_show(const rt_workflow *wf, const rt_cli_opts *o)
{
    if (!o->arg || !o->arg[0]) return rt_cli_usage_error(wf, "%s", "show needs a RUN_ID (see `history`)");
    rt_store *st = rt_cli_open_store_reader(wf, o);
    if (!st) return RT_EXIT_USAGE;
    char why[600];
    json_t *raw = rt_store_read_run(st, o->arg, why, sizeof why);
    json_t *steps = rt_store_get_steps(st, o->arg), *logs = rt_store_get_logs(st, o->arg);
    if (!raw && (!why[0] || (!json_object_size(steps) && !json_object_size(logs)))) {
        if (why[0]) fprintf(stderr, "%s: %s; restore the state from a backup to recover it\n", wf->name, why);
        else fprintf(stderr, "%s: no run %s (see `%s history`)\n", wf->name, o->arg, wf->name);
        json_decref(steps);
        json_decref(logs);
        rt_store_close(st);
        return RT_EXIT_USAGE;
    }
    /* a damaged run record: its steps and logs are still shown */
    if (!raw) raw = json_pack("{s:s, s:s, s:s}", "id", o->arg, "status", rt_status_name(RT_ST_UNREADABLE), "damaged", why);
    else register_secrets(wf, o, st, raw);
    json_t *damaged = damaged_keys(raw, steps, logs);
    json_t *all = json_pack("{s:o, s:o, s:o}", "run", raw, "steps", ordered_records(steps, "started"), "logs",
                            ordered_records(logs, "ts"));
    json_decref(steps);
    json_decref(logs);
    json_t *out = rt_redact_json(all);
    json_decref(all);
    json_t *rec = json_object_get(out, "run");
    json_object_set_new(rec, "duration_ms", json_integer(run_duration(rec)));
    if (o->json) {
        char *t = rt_json_dump(out, 2, false);
        printf("%s\n", t);
        free(t);
    } else {
        if (rt_store_damaged(rec)) {    /* nothing of it but its id: its steps and logs follow */
            printf("run %s  unreadable\n  the run record cannot be read: %s\n", o->arg, rt_store_damaged(rec));
            goto steps;
        }
        char created[40], ended[40], dur[32];
        fmt_time(num(rec, "created"), created, sizeof created);
        fmt_time(num(rec, "ended"), ended, sizeof ended);
        fmt_duration(run_duration(rec), dur, sizeof dur);
        const char *user = rt_json_str(rec, "user");
        printf("run %s  %s\n", o->arg, rt_json_str(rec, "status"));
        printf("  workflow %s, version %s, attempt %lld, user %s\n", rt_json_str(rec, "workflow"), rt_json_str(rec, "version"),
               (long long)num(rec, "attempt"), user ? user : "-");
        printf("  started  %s, ended %s (%s)\n", created, ended, dur);
        if (num(rec, "wake_at")) {
            char w[40];
            fmt_time(num(rec, "wake_at"), w, sizeof w);
            printf("  waiting  until %s\n", w);
        }
        print_field("  ", "trigger", json_object_get(rec, "trigger"));
        print_field("  ", "settings", json_object_get(rec, "settings"));
    steps:
        printf("steps:\n");
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(out, "steps"), i, s) {
            size_t na = json_array_size(json_object_get(s, "attempts"));
            char d[32] = "", t0[40];
            if (json_object_get(s, "duration_ms")) fmt_duration(num(s, "duration_ms"), d, sizeof d);
            fmt_time(num(s, "started"), t0, sizeof t0);
            printf("  %-28s %-10s", rt_json_str(s, "path"), rt_json_str(s, "status"));
            if (na) printf(" %zu attempt%s", na, na == 1 ? "" : "s");
            printf("  %s%s%s%s\n", t0, *d ? " (" : "", d, *d ? ")" : "");
            if (json_is_true(json_object_get(s, "continued"))) printf("      (failure continued: the run went on)\n");
            json_t *a;
            size_t k;
            json_array_foreach(json_object_get(s, "attempts"), k, a) {
                char ad[32];
                fmt_duration(num(a, "duration_ms"), ad, sizeof ad);
                printf("      attempt %lld: %s", (long long)num(a, "n"), ad);
                const char *ae = rt_json_str(a, "error");
                if (num(a, "http_status") && !(ae && strncmp(ae, "HTTP ", 5) == 0))
                    printf(", HTTP %lld", (long long)num(a, "http_status"));
                if (ae) printf(", %s", ae);
                printf("\n");
            }
            if (num(s, "next_at")) {
                char w[40];
                fmt_time(num(s, "next_at"), w, sizeof w);
                printf("      next attempt at %s\n", w);
            }
            if (num(s, "wake_at")) {
                char w[40];
                fmt_time(num(s, "wake_at"), w, sizeof w);
                printf("      wakes at %s%s\n", w, json_is_true(json_object_get(s, "skipped")) ? " (skipped)" : "");
            }
            json_t *in = json_object_get(s, "input");
            if (json_is_object(in) && rt_json_str(in, "method")) {
                printf("      request  %s %s\n", rt_json_str(in, "method"), rt_json_str(in, "url"));
                const char *hk;
                json_t *hv;
                json_object_foreach(json_object_get(in, "headers"), hk, hv)
                    printf("               %s: %s\n", hk, json_string_value(hv) ? json_string_value(hv) : "");
                if (json_object_get(in, "json")) print_field("      ", "json", json_object_get(in, "json"));
                if (json_object_get(in, "body")) print_field("      ", "body", json_object_get(in, "body"));
            } else {
                print_field("      ", "input", in);
            }
            print_field("      ", "output", json_object_get(s, "output"));
            if (!json_object_get(s, "output") && json_is_integer(json_object_get(s, "count")))
                printf("      output   %lld items (not stored as a list: each item's steps are listed)\n",
                       (long long)num(s, "count"));
            if (rt_json_str(s, "error")) printf("      error    %s\n", rt_json_str(s, "error"));
            if (rt_store_damaged(s)) printf("      record damaged: %s\n", rt_store_damaged(s));
        }
        json_t *ll = json_object_get(out, "logs");
        if (json_array_size(ll)) printf("log:\n");
        json_array_foreach(ll, i, s) {
            char t[40];
            fmt_time(num(s, "ts"), t, sizeof t);
            if (rt_store_damaged(s))
                printf("  %s  [log record %s cannot be read: %s]\n", t, rt_json_str(s, "path"), rt_store_damaged(s));
            else printf("  %s  %s\n", t, rt_json_str(s, "msg"));
        }
        if (json_object_get(rec, "output")) print_field("", "output", json_object_get(rec, "output"));
        if (rt_json_str(rec, "error")) printf("error    %s\n", rt_json_str(rec, "error"));
    }
    json_decref(out);
    int rc = RT_EXIT_OK;
    size_t nd = json_array_size(damaged);
    if (nd) {               /* shown above as unreadable; named here, and the exit status says so */
        rt_buf b = { 0 };
        rt_buf_append(&b, "", 0);
        size_t i;
        json_t *k;
        json_array_foreach(damaged, i, k) rt_buf_printf(&b, "%s%s", i ? "; " : "", json_string_value(k));
        rt_log_emit(o->arg, "warning", json_pack("{s:s, s:O}", "event", "damaged_records", "records", damaged),
                    "%zu record%s of run %s could not be read (damaged data in the state): %s; restore the state "
                    "from a backup to recover %s", nd, nd == 1 ? "" : "s", o->arg, b.data, nd == 1 ? "it" : "them");
        rt_buf_free(&b);
        rc = RT_EXIT_USAGE;
    }
    json_decref(damaged);
    rt_store_close(st);
    return rc;
}

/* ---- retry -------------------------------------------------------------- */

/* The step records a retry discards: those that failed the run (not the
** ones the run continued past) and any left retrying. */
static json_t *records_to_drop(const json_t *steps)
{
    json_t *drop = json_array();
    const char *path;
    json_t *rec;
    json_object_foreach((json_t *)steps, path, rec) {
        const char *name = rt_json_str(rec, "status");
        rt_status s = rt_status_parse(name);
        if (!name || s == RT_ST_SUCCEEDED) continue;
        if (rt_store_damaged(rec)) continue;   /* kept: the replay reports it, never runs the step again blindly */
        if (s == RT_ST_WAITING) continue;
        if (s == RT_ST_FAILED && json_is_true(json_object_get(rec, "continued"))) continue;
        json_array_append_new(drop, json_string(path));
    }
    return drop;
}

/* Retries one failed run; RT_EXIT_* */
static int retry_one(const rt_workflow *wf, const rt_cli_opts *o, rt_store *st, const char *id)
{
    char err[512];
    json_t *rec = rt_store_get_run(st, id);
    if (!rec) {
        fprintf(stderr, "%s: no run %s (see `%s history`)\n", wf->name, id, wf->name);
        return RT_EXIT_USAGE;
    }
    const char *status = rt_json_str(rec, "status"), *version = rt_json_str(rec, "version");
    if (!status || rt_status_parse(status) != RT_ST_FAILED) {
        char who[128] = "";
        if (rt_owner_of(rec) == RT_OWNER_LIVE) {
            char name[96];
            snprintf(who, sizeof who, ", owned by %s", rt_owner_name(rec, name, sizeof name));
        }
        fprintf(stderr, "%s: run %s is %s%s; only failed runs are retried%s\n", wf->name, id, status ? status : "?",
                who, status && rt_status_parse(status) != RT_ST_SUCCEEDED && !who[0] ? " (`resume` finishes unfinished ones)" : "");
        json_decref(rec);
        return RT_EXIT_USAGE;
    }
    const rt_workflow *own = rt_host_run_workflow(rec);    /* the run's workflow, in a project */
    if (!own) {
        fprintf(stderr, "%s: run %s is of workflow '%s', which this binary does not hold\n", wf->name, id,
                rt_json_str(rec, "workflow") ? rt_json_str(rec, "workflow") : "?");
        json_decref(rec);
        return RT_EXIT_USAGE;
    }
    if (!version || strcmp(version, own->version) != 0) {
        fprintf(stderr, "%s: run %s was made by version %s: retry it with the binary of version %s (this one is %s)\n",
                wf->name, id, version ? version : "?", version ? version : "?", own->version);
        json_decref(rec);
        return RT_EXIT_USAGE;
    }
    const char *user = rt_json_str(rec, "user");
    if (user) {     /* the user must still be able to run it: refused, the run stays failed */
        json_t *urec = rt_host_user_get(st, user);
        const char *why = rt_host_ineligible(urec, user, own, false, err, sizeof err);
        json_decref(urec);
        if (why) {
            fprintf(stderr, "%s: cannot retry run %s: %s\n", wf->name, id, why);
            json_decref(rec);
            return RT_EXIT_USAGE;
        }
    }
    json_t *steps = rt_store_get_steps(st, id);
    json_t *drop = records_to_drop(steps);
    json_decref(steps);
    json_int_t attempt = num(rec, "attempt") + 1;
    json_object_set_new(rec, "status", rt_status_json(RT_ST_QUEUED));
    json_object_set_new(rec, "attempt", json_integer(attempt));
    json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
    static const char *const gone[] = { "error", "failed_step", "ended", "output", "wake_at" };
    json_t *prev_error = json_incref(json_object_get(rec, "error"));
    json_t *prev_step = json_incref(json_object_get(rec, "failed_step"));
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) json_object_del(rec, gone[i]);
    rt_owner_stamp(rec);        /* queued for this process: no serve or resume takes it meanwhile */
    rt_store_write w = { .run_id = id, .run = rec, .drop_steps = drop, .expect_status = rt_status_name(RT_ST_FAILED) };
    bool ok = rt_store_commit(st, &w, err, sizeof err);
    json_decref(drop);
    if (!ok) {
        bool changed = strncmp(err, RT_STORE_CHANGED, strlen(RT_STORE_CHANGED)) == 0;
        fprintf(stderr, "%s: %s%s\n", wf->name, err, changed ? ": another process retried it; nothing done" : "");
        if (changed) {
            json_decref(prev_error);
            json_decref(prev_step);
            json_decref(rec);
            return RT_EXIT_USAGE;
        }
        json_decref(prev_error);
        json_decref(prev_step);
        json_decref(rec);
        return RT_EXIT_FAILED;
    }
    rt_log_emit(id, "info",
                json_pack("{s:s, s:I, s:O?}", "event", "retry_run", "attempt", attempt, "failed_step", prev_step),
                "retrying from %s%s (attempt %lld)", json_string_value(prev_step) ? "step " : "the failure",
                json_string_value(prev_step) ? json_string_value(prev_step) : "", (long long)attempt);
    json_decref(prev_error);
    json_decref(prev_step);
    rt_outcome out = rt_cli_execute(wf, st, rec, o, true);
    return rt_cli_exit_code(out);
}

typedef struct retry_scan {
    const rt_workflow *wf;
    json_t *mine;               /* ids of this version */
    json_t *other;              /* version -> [ids] */
} retry_scan;

static bool retry_visit(json_t *r, void *arg)
{
    retry_scan *s = arg;
    const char *name = rt_json_str(r, "workflow"), *version = rt_json_str(r, "version"), *id = rt_json_str(r, "id");
    const rt_workflow *own = rt_host_workflow(name);
    if (!id || (name && !own)) return true;
    if (version && own && strcmp(version, own->version) == 0) {
        json_array_append_new(s->mine, json_string(id));
    } else {
        json_t *l = json_object_get(s->other, version ? version : "?");
        if (!l) json_object_set_new(s->other, version ? version : "?", l = json_array());
        json_array_append_new(l, json_string(id));
    }
    return true;
}

int rt_ops_retry(const rt_workflow *wf, const rt_cli_opts *o)
{
    if (!o->all) {
        if (!o->arg || !o->arg[0])
            return rt_cli_usage_error(wf, "%s", "retry needs a RUN_ID, or --all [--status failed] [--since TIME]");
        rt_store *st = rt_cli_open_store(wf, o);
        if (!st) return RT_EXIT_USAGE;
        int rc = retry_one(wf, o, st, o->arg);
        rt_store_close(st);
        return rc;
    }
    if (o->arg) return rt_cli_usage_error(wf, "retry --all takes no RUN_ID ('%s')", o->arg);
    if (o->status && rt_status_parse(o->status) != RT_ST_FAILED)
        return rt_cli_usage_error(wf, "retry --all retries failed runs: --status failed, not '%s'", o->status);
    int64_t since;
    if (!parse_since(wf, o, &since)) return RT_EXIT_USAGE;
    rt_store *st = rt_cli_open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    retry_scan s = { wf, json_array(), json_object() };
    rt_run_query q = { .status = rt_status_name(RT_ST_FAILED), .user = o->user, .since_ms = since, .oldest_first = true };
    rt_store_scan_runs(st, &q, retry_visit, &s);
    int rc = RT_EXIT_OK, ok = 0, failed = 0;
    size_t i;
    json_t *id;
    json_array_foreach(s.mine, i, id) {
        if (rt_signal_interrupted()) break;
        int r = retry_one(wf, o, st, json_string_value(id));
        if (r == RT_EXIT_OK) ok++;
        else failed++;
        if (r == RT_EXIT_INTERRUPTED || (r != RT_EXIT_OK && rc == RT_EXIT_OK)) rc = r;
    }
    int other = 0;
    const char *version;
    json_t *ids;
    json_object_foreach(s.other, version, ids) {
        other += (int)json_array_size(ids);
        rt_buf b = { 0 };
        rt_buf_append(&b, "", 0);
        json_array_foreach(ids, i, id) rt_buf_printf(&b, " %s", json_string_value(id));
        rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "needs_binary", "version", version),
                    "not retried: %zu failed run%s of version %s (this one is %s) need that binary:%s",
                    json_array_size(ids), json_array_size(ids) == 1 ? "" : "s", version, wf->version, b.data);
        rt_buf_free(&b);
    }
    rt_log_emit(NULL, "info",
                json_pack("{s:s, s:i, s:i, s:i}", "event", "retry_all", "succeeded", ok, "failed", failed, "other_versions",
                          other),
                "retried %d run%s: %d succeeded, %d failed again%s", ok + failed, ok + failed == 1 ? "" : "s", ok, failed,
                other ? "; others need another binary (above)" : "");
    json_decref(s.mine);
    json_decref(s.other);
    rt_store_close(st);
    return rc;
}

/* ---- prune -------------------------------------------------------------- */

typedef struct prune_scan {
    const rt_workflow *wf;
    json_t *ids;
    int limit;
} prune_scan;

static bool prune_visit(json_t *r, void *arg)
{
    prune_scan *p = arg;
    const char *id = rt_json_str(r, "id");
    const char *status = rt_json_str(r, "status");
    /* a live run is never removed, whatever --status says: not a running
    ** one, nor one a live process owns (queued in serve, sleeping in a wait) */
    if (id && status && rt_status_parse(status) != RT_ST_RUNNING &&
        (rt_status_finished(rt_status_parse(status)) || rt_owner_of(r) != RT_OWNER_LIVE))
        json_array_append_new(p->ids, json_string(id));
    return (int)json_array_size(p->ids) < p->limit;
}

int rt_ops_prune(const rt_workflow *wf, const rt_cli_opts *o)
{
    int64_t age;
    if (!o->older_than) return rt_cli_usage_error(wf, "%s", "prune needs --older-than D (e.g. 90d, 12h)");
    if (!rt_parse_duration(o->older_than, &age))
        return rt_cli_usage_error(wf, "--older-than takes a duration (90d, 12h, 30m), not '%s'", o->older_than);
    if (o->status && !valid_status(o->status))
        return rt_cli_usage_error(wf, "--status is queued, waiting, succeeded, failed, interrupted or skipped, not '%s'", o->status);
    rt_store *st = rt_cli_open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    int64_t cutoff = rt_now_ms() - age;
    /* finished runs unless a status is named */
    const char *const finished[] = { rt_status_name(RT_ST_SUCCEEDED), rt_status_name(RT_ST_FAILED),
                                     rt_status_name(RT_ST_SKIPPED) };
    const char *const *statuses = o->status ? &o->status : finished;
    size_t nstatuses = o->status ? 1 : sizeof finished / sizeof finished[0];
    long long removed = 0;
    int rc = RT_EXIT_OK;
    for (size_t k = 0; k < nstatuses && rc == RT_EXIT_OK; k++) {
        for (;;) {
            /* a window of the oldest, then remove it: reads and writes alternate */
            prune_scan p = { wf, json_array(), 1000 };
            rt_run_query q = { .status = statuses[k], .user = o->user, .before_ms = cutoff, .oldest_first = true };
            rt_store_scan_runs(st, &q, prune_visit, &p);
            size_t n = json_array_size(p.ids);
            char err[512];
            if (n && !rt_store_remove_runs(st, p.ids, 0, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", wf->name, err);
                rc = RT_EXIT_FAILED;
            }
            json_decref(p.ids);
            if (rc != RT_EXIT_OK || n == 0) break;
            removed += (long long)n;
            if (n < 1000 || rt_signal_interrupted()) break;
        }
    }
    char when[40];
    rt_format_time(cutoff, when, sizeof when);
    if (o->json) {
        printf("{\"removed\": %lld, \"before\": \"%s\"}\n", removed, when);
    } else {
        printf("removed %lld run%s created before %s%s%s\n", removed, removed == 1 ? "" : "s", when,
               o->status ? " with status " : " (succeeded or failed)", o->status ? o->status : "");
    }
    rt_store_close(st);
    return rc;
}
