/*
** rt_host_cli.c — [commands] the project's command line (rt_host_cli.h):
** `run` over the workflows an event starts (a user's runs, development
** runs, Test Step), `connect`, `disconnect` and `workflows`.
*/
#include "rt_host_cli.h"

#include <errno.h>
#include <unistd.h>

#include "rt_host_run.h"
#include "rt_host_conn.h"
#include "rt_log.h"
#include "rt_status.h"
#include "rt_type.h"
#include "rt_util.h"

/* ---- run ----------------------------------------------------------------------------------------------- */

/* Test Step: `run --step NAME [--input FILE] [--from RUN_ID]` of wf in a
** scratch state (removed afterwards). secrets: what the run's user's
** secrets resolve to, opened in the real state (taken over), or NULL
** (development); base_urls (borrowed, or NULL): integration -> the user's
** connection's base URL. from_inputs: an earlier run's outputs by path
** (borrowed) or NULL; --input wins over them. */
static int run_one_step(const rt_workflow *wf, const rt_cli_opts *o, json_t *payload, json_t *settings,
                        rt_secrets *secrets, const json_t *base_urls, const json_t *from_inputs)
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
    rt_run_open(&run, &(rt_run_setup){ .wf = wf, .store = st,
                                       .record = rt_host_new_run(wf, o->user, payload, settings, "step"),
                                       .secrets = secrets });
    secrets = NULL;                     /* the run's now */
    const char *integ;
    json_t *url;
    json_object_foreach((json_t *)base_urls, integ, url) rt_run_set_base_url(&run, integ, json_string_value(url));
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

/* --from RUN_ID: what the steps of an earlier run (its record rec,
** borrowed, read from st) gave, by path ("person", "tagged[3].add"), as
** Test Step's inputs: every step that succeeded, as stored (secrets
** redacted); fanouts are left out, so that their items run, each with its
** own steps' outputs. NEW reference. */
static json_t *inputs_from_run(rt_store *st, const json_t *rec)
{
    json_t *steps = rt_store_get_steps(st, json_string_value(json_object_get(rec, "id"))), *inputs = json_object();
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

/* An earlier run of Test Step's --from, read from face's state (closed
** again: the run itself may open it for writing). */
typedef struct step_from {
    json_t *rec;                /* the run's record (owned), or NULL without --from */
    json_t *inputs;             /* its steps' outputs by path (owned) */
} step_from;

/* Reads --from's run (a usage error when there is none). */
static bool step_from_open(const rt_workflow *face, const rt_cli_opts *o, step_from *f)
{
    char err[1024] = "";
    rt_store *st = rt_cli_open_store_reader(face, o);
    if (!st) return false;
    if ((f->rec = rt_store_read_run(st, o->from, err, sizeof err))) {
        f->inputs = inputs_from_run(st, f->rec);
    } else if (*err) {
        rt_cli_error(face, "%s", err);
    } else {
        rt_cli_error(face, "--from: no run %s in this state", o->from);
    }
    rt_store_close(st);
    return f->rec != NULL;
}

static void step_from_close(step_from *f)
{
    json_decref(f->rec);
    json_decref(f->inputs);
}

/* Whether --from's run (if any) is one of wf's; says why not. */
static bool step_from_fits(const rt_workflow *face, const step_from *f, const rt_workflow *wf)
{
    const char *name = json_string_value(json_object_get(f->rec, "workflow"));
    if (f->rec && name && strcmp(name, wf->name) != 0) {
        rt_cli_error(face, "--from: run %s is of workflow '%s', not '%s'",
                     json_string_value(json_object_get(f->rec, "id")), name, wf->name);
        return false;
    }
    return true;
}

/* A run of wf without a user (development: the operator's FLOW_SECRET_*),
** in face's state; payload borrowed. */
static int dev_run(const rt_workflow *face, const rt_workflow *wf, const rt_cli_opts *o, const json_t *payload,
                   const step_from *from)
{
    char err[1024];
    json_t *settings = rt_cli_settings(wf, from->rec ? json_object_get(from->rec, "settings") : NULL, o->settings,
                                       err, sizeof err);
    if (!settings) {
        rt_cli_error(face, "%s%s%s", face != wf ? wf->name : "", face != wf ? ": " : "", err);
        return RT_EXIT_USAGE;
    }
    json_t *mine = json_deep_copy(payload);
    int rc = RT_EXIT_USAGE;
    /* Test Step without --event (or --from): the step's inputs come from
    ** --input, so an empty payload is not refused; its fields read as null */
    bool no_event = o->step && !o->event && !from->rec;
    bool fits = !wf->trigger_schema || rt_type_check(wf->trigger_schema, mine, "trigger payload", err, sizeof err);
    if (!fits && !no_event) {
        rt_cli_error(face, "%s%s%s (no run was created)", face != wf ? wf->name : "", face != wf ? ": " : "", err);
    } else if (o->step) {
        if (!fits)
            rt_log_emit(NULL, "warning", json_pack("{s:s}", "event", "no_event"),
                        "--step without --event: the trigger payload is empty, its fields read as null");
        rc = run_one_step(wf, o, mine, settings, NULL, NULL, from->inputs);
    } else {
        rt_store *st = rt_cli_open_store(face, o);
        if (st) {
            rc = rt_cli_exit_code(rt_cli_execute(face, st, rt_host_new_run(wf, NULL, mine, settings, "run"), o, true));
            rt_store_close(st);
        }
    }
    json_decref(mine);
    json_decref(settings);
    return rc;
}

/* The workflows a `run` starts: --workflow, a project of one's, or every
** one whose trigger is event NAME (--name, or the only event the project
** has). NEW array of rt_workflow pointers as integers; NULL after saying why. */
static int run_targets(const rt_workflow *face, const rt_cli_opts *o, const rt_workflow **out, int max)
{
    const rt_project *p = rt_host_project();
    if (o->workflow) {
        out[0] = rt_cli_workflow_arg(face, o->workflow);
        return out[0] ? 1 : -1;
    }
    if (p->nworkflows == 1) {
        out[0] = p->workflows[0];
        return 1;
    }
    const char *name = o->event_name;
    if (!name) {
        for (int i = 0; i < p->nworkflows; i++) {
            const char *e = p->workflows[i]->trigger == RT_TRIG_EVENT ? p->workflows[i]->event : NULL;
            if (!e) continue;
            if (name && strcmp(name, e) != 0) {
                rt_cli_error(face, "this project listens to several events: give --name EVENT (or --workflow NAME)");
                return -1;
            }
            name = e;
        }
        if (!name) {
            rt_cli_error(face, "no workflow of this project has an event trigger: give --workflow NAME");
            return -1;
        }
    }
    int n = 0;
    for (int i = 0; i < p->nworkflows && n < max; i++)
        if (p->workflows[i]->trigger == RT_TRIG_EVENT && p->workflows[i]->event && strcmp(p->workflows[i]->event, name) == 0)
            out[n++] = p->workflows[i];
    if (!n) rt_cli_error(face, "no workflow of this project listens to event '%s'", name);
    return n ? n : -1;
}

int rt_host_cli_run(const rt_workflow *face, const rt_cli_opts *opts)
{
    char err[1024];
    if (!opts->step && opts->input) return rt_cli_usage_error(face, "%s needs --step NAME", "--input");
    if (!opts->step && opts->from) return rt_cli_usage_error(face, "%s needs --step NAME", "--from");
    /* --from: the earlier run's workflow, trigger, user and settings too,
    ** unless given */
    rt_cli_opts oo = *opts;
    const rt_cli_opts *o = &oo;
    step_from from = { 0 };
    if (opts->from) {
        if (!step_from_open(face, opts, &from)) {
            step_from_close(&from);
            return RT_EXIT_USAGE;
        }
        if (!oo.workflow && rt_host_project()->nworkflows > 1)
            oo.workflow = json_string_value(json_object_get(from.rec, "workflow"));
        if (!oo.user) oo.user = json_string_value(json_object_get(from.rec, "user"));
    }
    const rt_workflow *targets[256];
    int nt = run_targets(face, o, targets, 256);
    json_t *payload = NULL;
    rt_store *st = NULL;
    json_t *urec = NULL;
    int rc = RT_EXIT_USAGE;
    if (nt < 0) goto done;
    if (o->step && nt != 1) {
        rt_cli_error(face, "--step runs one workflow's step: give --workflow NAME");
        goto done;
    }
    if (o->step && !step_from_fits(face, &from, targets[0])) goto done;
    if (o->user && !rt_host_valid_user(o->user, err, sizeof err)) {
        rt_cli_error(face, "--user: %s", err);
        goto done;
    }
    /* the event is read once (it may be stdin), for every workflow it starts */
    payload = o->event     ? rt_cli_read_json_file(o->event, "event", err, sizeof err)
            : from.rec     ? json_incref(json_object_get(from.rec, "trigger"))
                           : json_object();
    if (!payload) {
        rt_cli_error(face, "%s", o->event ? err : "--from: the run has no trigger");
        goto done;
    }
    if (!o->user) {
        /* development: no user, the operator's FLOW_SECRET_* */
        rc = RT_EXIT_OK;
        for (int i = 0; i < nt; i++) {
            int r = dev_run(face, targets[i], o, payload, &from);
            if (r == RT_EXIT_INTERRUPTED || (r > rc && rc != RT_EXIT_INTERRUPTED)) rc = r;
        }
        goto done;
    }
    if (!(st = rt_cli_open_store(face, o))) goto done;
    urec = rt_host_user_get(st, o->user);
    rc = RT_EXIT_OK;
    int ran = 0, skipped = 0;
    for (int i = 0; i < nt; i++) {
        const rt_workflow *wf = targets[i];
        char why[700];
        if (rt_host_ineligible(urec, o->user, wf, !rt_host_deployed(st, wf->name), why, sizeof why)) {
            rt_log_emit(NULL, "warning", json_pack("{s:s, s:s, s:s}", "event", "skipped", "workflow", wf->name, "reason", why),
                        "%s: skipped: %s (no run, nothing sent)", wf->name, why);
            skipped++;
            continue;
        }
        json_t *legacy;
        json_t *act = rt_host_activation(urec, wf, &legacy);
        json_t *settings = rt_cli_settings(wf, from.rec ? json_object_get(from.rec, "settings")
                                                        : json_object_get(act, "settings"),
                                           o->settings, err, sizeof err);
        json_decref(legacy);
        if (!settings) {
            rt_cli_error(face, "%s: %s", wf->name, err);
            rc = RT_EXIT_USAGE;
            continue;
        }
        json_t *mine = json_deep_copy(payload);
        if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, mine, "trigger payload", err, sizeof err)) {
            rt_cli_error(face, "%s: %s (no run was created)", wf->name, err);
            json_decref(mine);
            json_decref(settings);
            rc = RT_EXIT_USAGE;
            continue;
        }
        if (o->step) {      /* the user's secrets, opened in the real state */
            char buf[4096];
            json_t *base_urls = NULL;
            rt_secrets *secrets = rt_host_open_secrets(st, rt_cli_state_dir(face, o, buf, sizeof buf), urec, wf,
                                                       false, &base_urls);
            rc = run_one_step(wf, o, mine, settings, secrets, base_urls, from.inputs);
            json_decref(base_urls);
            json_decref(mine);
            json_decref(settings);
            continue;
        }
        json_t *rec = rt_host_new_run(wf, o->user, mine, settings, "run");
        json_decref(mine);
        json_decref(settings);
        rt_outcome out = rt_cli_execute(face, st, rec, o, true);
        ran++;
        int r = rt_cli_exit_code(out);
        if (r == RT_EXIT_INTERRUPTED || (r > rc && rc != RT_EXIT_INTERRUPTED)) rc = r;
    }
    if (!ran && skipped && rc == RT_EXIT_OK) rc = RT_EXIT_USAGE;     /* nothing ran: the user may not run any */
done:
    json_decref(payload);
    json_decref(urec);
    if (st) rt_store_close(st);
    step_from_close(&from);
    return rc;
}

/* ---- connect, disconnect, workflows ---------------------------------------------------------------------- */

static int workflows_cmd(const rt_workflow *face, const rt_cli_opts *o)
{
    const rt_project *p = rt_host_project();
    const char *sub = o->sub ? o->sub : "list";
    bool list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "deploy") != 0 && strcmp(sub, "undeploy") != 0)
        return rt_cli_usage_error(face, "unknown workflows command '%s' (list, deploy NAME, undeploy NAME)", sub);
    if (!list && !o->arg) return rt_cli_usage_error(face, "workflows %s needs a workflow NAME", sub);
    const rt_workflow *wf = list ? NULL : rt_cli_workflow_arg(face, o->arg);
    if (!list && !wf) return RT_EXIT_USAGE;
    rt_store *st = list ? rt_cli_open_store_reader(face, o) : rt_cli_open_store(face, o);
    if (!st) return RT_EXIT_USAGE;
    int rc = RT_EXIT_OK;
    if (list) {
        json_t *all = json_array();
        for (int i = 0; i < p->nworkflows; i++) {
            const rt_workflow *w = p->workflows[i];
            bool dep = rt_host_deployed(st, w->name);
            if (!o->json)
                printf("%-28s %-10s %-9s %s%s%s\n", w->name, dep ? "deployed" : "undeployed", rt_host_trigger_kind(w->trigger),
                       w->event ? w->event : w->cron ? w->cron : "", w->zone ? " " : "", w->zone ? w->zone : "");
            json_array_append_new(all, json_pack("{s:s, s:b, s:s, s:s}", "name", w->name, "deployed", dep, "trigger",
                                                 rt_host_trigger_kind(w->trigger), "version", w->version));
        }
        if (o->json) rt_cli_print_json(all);
        json_decref(all);
    } else {
        bool deploy = strcmp(sub, "deploy") == 0;
        char err[512];
        if (!rt_host_set_deployed(st, wf->name, deploy, err, sizeof err)) {
            rt_cli_error(face, "%s", err);
            rc = RT_EXIT_FAILED;
        } else {
            rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", deploy ? "deployed" : "undeployed", "workflow", wf->name),
                        deploy ? "workflow %s deployed: it accepts new runs" :
                                 "workflow %s undeployed: it accepts no new runs (its hook answers 410, its schedule "
                                 "stops); runs already accepted finish",
                        wf->name);
        }
    }
    rt_store_close(st);
    return rc;
}

int rt_host_cli_cmd(const rt_workflow *face, const rt_cli_opts *o)
{
    if (strcmp(o->cmd, "workflows") == 0) return workflows_cmd(face, o);
    bool connect = strcmp(o->cmd, "connect") == 0;
    if (!o->arg || !o->arg2) return rt_cli_usage_error(face, "%s needs USER INTEGRATION", o->cmd);
    char err[1024];
    if (!rt_host_valid_user(o->arg, err, sizeof err)) return rt_cli_usage_error(face, "%s", err);
    if (!connect && (o->nsecret_args || o->nfield_args))
        return rt_cli_usage_error(face, "%s", "disconnect takes no --secret or --field");
    json_t *secrets = NULL, *fields = NULL;
    if (connect && (!(secrets = rt_cli_pairs(o->secret_args, o->nsecret_args, true, err, sizeof err)) ||
                    !(fields = rt_cli_pairs(o->field_args, o->nfield_args, false, err, sizeof err)))) {
        json_decref(secrets);
        return rt_cli_usage_error(face, "%s", err);
    }
    rt_store *st = rt_cli_open_store(face, o);
    if (!st) {
        json_decref(secrets);
        json_decref(fields);
        return RT_EXIT_USAGE;
    }
    char buf[4096];
    const char *dir = rt_cli_state_dir(face, o, buf, sizeof buf);
    rt_host_rc r = connect ? rt_host_connect(st, dir, o->arg, o->arg2, secrets, fields, false, err, sizeof err)
                           : rt_host_disconnect(st, o->arg, o->arg2, err, sizeof err);
    if (r != RT_HOST_OK) {
        rt_cli_error(face, "%s %s %s: %s%s", o->cmd, o->arg, o->arg2, err, r == RT_HOST_ERR ? "" : " (nothing was stored)");
    } else {
        json_t *ev = json_pack("{s:s, s:s, s:s}", "event", connect ? "connected" : "disconnected", "user", o->arg,
                               "integration", o->arg2);
        if (connect)
            rt_log_emit(NULL, "info", ev, "user %s connected to %s (%zu secret%s, %zu field%s given)", o->arg, o->arg2,
                        json_object_size(secrets), json_object_size(secrets) == 1 ? "" : "s", json_object_size(fields),
                        json_object_size(fields) == 1 ? "" : "s");
        else
            rt_log_emit(NULL, "info", ev, "user %s disconnected from %s", o->arg, o->arg2);
    }
    json_decref(secrets);
    json_decref(fields);
    rt_store_close(st);
    return rt_cli_exit_of(r);
}
