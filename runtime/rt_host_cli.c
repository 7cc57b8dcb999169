/*
** rt_host_cli.c — the project's command line (rt_host_cli.h): rt_project_main,
** `run` over the workflows an event starts, `info`, `users`, `connect`,
** `disconnect` and `workflows`.
*/
#include "rt_host_cli.h"

#include <errno.h>
#include <unistd.h>

#include "rt_crypto.h"
#include "rt_host.h"
#include "rt_host_conn.h"
#include "rt_log.h"
#include "rt_type.h"
#include "rt_users.h"
#include "rt_util.h"

/* ---- the entry points ------------------------------------------------------------------------------ */

/* A project of several workflows is run as a stand-in workflow named after
** the project: it names the state and the messages, and runs nothing. */
static rt_workflow g_face;
static char g_face_version[17];

int rt_project_main(const rt_project *p, int argc, char **argv)
{
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
    int rc = rt_cli_main(face, argc, argv);
    rt_host_set_project(NULL);     /* under `flowc run` the descriptors go away with the job */
    return rc;
}

int rt_main(const rt_workflow *wf, int argc, char **argv)
{
    const rt_workflow *one[1] = { wf };
    rt_project p = { .name = wf->name, .workflows = one, .nworkflows = 1 };
    return rt_project_main(&p, argc, argv);
}

/* ---- helpers ------------------------------------------------------------------------------------------ */

static void say_error(const rt_workflow *face, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say_error(const rt_workflow *face, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = rt_xvprintf(fmt, ap);
    va_end(ap);
    if (rt_log_json()) rt_log_emit(NULL, "error", NULL, "%s", msg);
    else fprintf(stderr, "%s: %s\n", face->name, msg);
    free(msg);
}

static int exit_of(rt_host_rc rc)
{
    return rc == RT_HOST_OK ? RT_EXIT_OK : rc == RT_HOST_ERR ? RT_EXIT_FAILED : RT_EXIT_USAGE;
}

static const rt_workflow *workflow_arg(const rt_workflow *face, const char *name)
{
    const rt_workflow *wf = rt_host_workflow(name);
    if (!wf) {
        char names[2048];
        say_error(face, "unknown workflow '%s' (the project's: %s)", name, rt_host_workflow_names(names, sizeof names));
    }
    return wf;
}

/* A secret's value from VALUE or @FILE (trailing newlines dropped): a new
** string, or NULL with a message. */
static char *secret_value(const char *v, char *err, size_t n)
{
    if (v[0] != '@') return rt_xstrdup(v);
    FILE *f = fopen(v + 1, "r");
    if (!f) {
        snprintf(err, n, "cannot read secret file %s: %s", v + 1, strerror(errno));
        return NULL;
    }
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) rt_buf_append(&b, chunk, got);
    fclose(f);
    memset(chunk, 0, sizeof chunk);
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r')) b.data[--b.len] = '\0';
    return rt_buf_take(&b);
}

/* NAME=VALUE|NAME=@FILE options into an object (NEW), or NULL with a message. */
static json_t *pairs(const char *const *args, int n, bool secret, char *err, size_t en)
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
        char *value = secret ? secret_value(eq + 1, err, en) : rt_xstrdup(eq + 1);
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

static void print_json(const json_t *v)
{
    char *t = json_dumps(v, JSON_INDENT(2));
    printf("%s\n", t ? t : "null");
    free(t);
}

/* Runs the `trigger enabled` runs an operation started (NEW array, taken
** over), here, as `users enable` always has. */
static void run_enabled(const rt_workflow *face, rt_store *st, const rt_cli_opts *o, json_t *runs)
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

/* ---- run ----------------------------------------------------------------------------------------------- */

/* The workflows a `run` starts: --workflow, a project of one's, or every
** one whose trigger is event NAME (--name, or the only event the project
** has). NEW array of rt_workflow pointers as integers; NULL after saying why. */
static int run_targets(const rt_workflow *face, const rt_cli_opts *o, const rt_workflow **out, int max)
{
    const rt_project *p = rt_host_project();
    if (o->workflow) {
        out[0] = workflow_arg(face, o->workflow);
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
                say_error(face, "this project listens to several events: give --name EVENT (or --workflow NAME)");
                return -1;
            }
            name = e;
        }
        if (!name) {
            say_error(face, "no workflow of this project has an event trigger: give --workflow NAME");
            return -1;
        }
    }
    int n = 0;
    for (int i = 0; i < p->nworkflows && n < max; i++)
        if (p->workflows[i]->trigger == RT_TRIG_EVENT && p->workflows[i]->event && strcmp(p->workflows[i]->event, name) == 0)
            out[n++] = p->workflows[i];
    if (!n) say_error(face, "no workflow of this project listens to event '%s'", name);
    return n ? n : -1;
}

int rt_host_cli_run(const rt_workflow *face, const rt_cli_opts *o)
{
    const rt_workflow *targets[256];
    int nt = run_targets(face, o, targets, 256);
    if (nt < 0) return RT_EXIT_USAGE;
    if (o->step && nt != 1) {
        say_error(face, "--step runs one workflow's step: give --workflow NAME");
        return RT_EXIT_USAGE;
    }
    char err[1024];
    if (!o->user) {
        /* development: no user, the operator's FLOW_SECRET_* */
        int rc = RT_EXIT_OK;
        for (int i = 0; i < nt; i++) {
            int r = rt_cli_run(targets[i], o);
            if (r == RT_EXIT_INTERRUPTED || (r > rc && rc != RT_EXIT_INTERRUPTED)) rc = r;
        }
        return rc;
    }
    if (!rt_host_valid_user(o->user, err, sizeof err)) {
        say_error(face, "--user: %s", err);
        return RT_EXIT_USAGE;
    }
    rt_store *st = rt_cli_open_store(face, o);
    if (!st) return RT_EXIT_USAGE;
    json_t *urec = rt_host_user_get(st, o->user);
    json_t *payload = NULL;
    if (!o->event || !(payload = rt_cli_read_json_file(o->event, "event", err, sizeof err))) {
        if (o->event) {
            say_error(face, "%s", err);
            json_decref(urec);
            rt_store_close(st);
            return RT_EXIT_USAGE;
        }
        payload = json_object();
    }
    int rc = RT_EXIT_OK, ran = 0, skipped = 0;
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
        json_t *settings = rt_cli_settings(wf, json_object_get(act, "settings"), o->settings, err, sizeof err);
        json_decref(legacy);
        if (!settings) {
            say_error(face, "%s: %s", wf->name, err);
            rc = RT_EXIT_USAGE;
            continue;
        }
        json_t *mine = json_deep_copy(payload);
        if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, mine, "trigger payload", err, sizeof err)) {
            say_error(face, "%s: %s (no run was created)", wf->name, err);
            json_decref(mine);
            json_decref(settings);
            rc = RT_EXIT_USAGE;
            continue;
        }
        if (o->step) {
            char buf[4096];
            json_t *base_urls = NULL;
            json_t *secrets = rt_host_open_credentials(st, rt_users_state_dir(face, o, buf, sizeof buf), urec, wf,
                                                       &base_urls, err, sizeof err);
            json_decref(base_urls);
            if (!secrets) {
                say_error(face, "%s", err);
                rc = RT_EXIT_FAILED;
            } else {
                rc = rt_cli_run_step(wf, o, mine, settings, secrets);
            }
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
    json_decref(payload);
    json_decref(urec);
    rt_store_close(st);
    return rc;
}

/* ---- users -------------------------------------------------------------------------------------------- */

/* The secrets of `users set --secret`: an integration's credentials go to
** its connection, the others are the user's own. */
static bool split_secrets(const json_t *given, json_t **user_level, json_t **by_integ, char *err, size_t n)
{
    (void)err, (void)n;
    *user_level = json_object();
    *by_integ = json_object();
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)given, name, v) {
        const rt_integration *owner = NULL;
        for (int i = 0; i < rt_host_nintegrations() && !owner; i++) {
            const rt_integration *in = rt_host_integration_at(i);
            /* an app credential (OAuth2 client) given per user stays the user's own: it
            ** is used before the deployment's FLOW_SECRET_* */
            if (!rt_host_is_app_secret(in, name) &&
                ((in->secret && strcmp(in->secret, name) == 0) || (in->secret2 && strcmp(in->secret2, name) == 0)))
                owner = in;
        }
        json_t *dst = *user_level;
        if (owner) {
            dst = json_object_get(*by_integ, owner->name);
            if (!dst) json_object_set_new(*by_integ, owner->name, dst = json_object());
        }
        json_object_set(dst, name, v);
    }
    return true;
}

static void print_user(const json_t *rec, bool json)
{
    json_t *v = rt_host_user_view(rec);
    if (json) {
        print_json(v);
        json_decref(v);
        return;
    }
    printf("user      %s\n", json_string_value(json_object_get(v, "id")));
    printf("enabled   %s\n", json_is_true(json_object_get(v, "enabled")) ? "yes" : "no");
    if (json_object_get(v, "damaged")) {
        printf("record    unreadable: %s\n", json_string_value(json_object_get(v, "damaged")));
        json_decref(v);
        return;
    }
    const char *k;
    json_t *x;
    printf("connections%s\n", json_object_size(json_object_get(v, "connections")) ? "" : " (none)");
    json_object_foreach(json_object_get(v, "connections"), k, x) {
        printf("  %-20s", k);
        const char *name;
        json_t *y;
        json_object_foreach(json_object_get(x, "secrets"), name, y) printf(" %s=%s", name, json_string_value(y));
        json_object_foreach(json_object_get(x, "fields"), name, y) {
            char *t = json_dumps(y, JSON_COMPACT | JSON_ENCODE_ANY);
            printf(" %s=%s", name, t);
            free(t);
        }
        printf("\n");
    }
    printf("workflows%s\n", json_object_size(json_object_get(v, "activations")) ? "" : " (none enabled)");
    json_object_foreach(json_object_get(v, "activations"), k, x) {
        char *t = json_dumps(json_object_get(x, "settings"), JSON_COMPACT);
        printf("  %-20s %-9s settings %s%s%s\n", k, json_is_true(json_object_get(x, "enabled")) ? "enabled" : "disabled",
               t ? t : "{}", json_object_get(x, "enabled_run") ? "  enabled run " : "",
               json_object_get(x, "enabled_run") ? json_string_value(json_object_get(x, "enabled_run")) : "");
        free(t);
    }
    printf("secrets%s\n", json_object_size(json_object_get(v, "secrets")) ? "" : " (none)");
    json_object_foreach(json_object_get(v, "secrets"), k, x) printf("  %-20s %s\n", k, json_string_value(x));
    json_decref(v);
}

static int users_list(rt_store *st, bool json)
{
    json_t *all = rt_store_list_users(st);
    size_t i;
    json_t *u;
    if (json) {
        json_t *views = json_array();
        json_array_foreach(all, i, u) json_array_append_new(views, rt_host_user_view(u));
        print_json(views);
        json_decref(views);
    } else {
        printf("%-24s %-8s %-36s %-28s %s\n", "USER", "ENABLED", "WORKFLOWS", "CONNECTIONS", "SECRETS");
        json_array_foreach(all, i, u) {
            json_t *v = rt_host_user_view(u);
            rt_buf w = { 0 }, c = { 0 }, sec = { 0 };
            rt_buf_append(&w, "", 0);
            rt_buf_append(&c, "", 0);
            rt_buf_append(&sec, "", 0);
            const char *k;
            json_t *x;
            json_object_foreach(json_object_get(v, "activations"), k, x)
                if (json_is_true(json_object_get(x, "enabled"))) rt_buf_printf(&w, "%s%s", w.len ? "," : "", k);
            json_object_foreach(json_object_get(v, "connections"), k, x) rt_buf_printf(&c, "%s%s", c.len ? "," : "", k);
            json_object_foreach(json_object_get(v, "secrets"), k, x)
                rt_buf_printf(&sec, "%s%s=%s", sec.len ? " " : "", k, json_string_value(x));
            if (json_object_get(v, "damaged"))
                rt_buf_printf(&sec, "record unreadable: %s", json_string_value(json_object_get(v, "damaged")));
            printf("%-24s %-8s %-36s %-28s %s\n", json_string_value(json_object_get(v, "id")),
                   json_is_true(json_object_get(v, "enabled")) ? "yes" : "no", w.data, c.data, sec.data);
            rt_buf_free(&sec);
            rt_buf_free(&w);
            rt_buf_free(&c);
            json_decref(v);
        }
    }
    json_decref(all);
    return RT_EXIT_OK;
}

/* `users set USER [--disabled] [--settings F] [--secret N=V]... [--workflow W]`:
** everything is checked before anything is stored. */
static int users_set(const rt_workflow *face, const rt_cli_opts *o, rt_store *st)
{
    const rt_project *p = rt_host_project();
    char err[1024], buf[4096];
    const char *user = o->arg;
    const char *dir = rt_users_state_dir(face, o, buf, sizeof buf);
    const rt_workflow *wf = NULL;
    if (o->workflow && !(wf = workflow_arg(face, o->workflow))) return RT_EXIT_USAGE;
    if (!wf && p->nworkflows == 1) wf = p->workflows[0];
    if (o->settings && !wf) {
        say_error(face, "users set %s: --settings go with --workflow NAME in a project of several workflows", user);
        return RT_EXIT_USAGE;
    }
    json_t *given = NULL, *secrets = NULL, *user_level = NULL, *by_integ = NULL;
    int rc = RT_EXIT_USAGE;
    if (o->settings && !(given = rt_cli_read_json_file(o->settings, "settings", err, sizeof err))) goto refused;
    if (given) {
        char where[600];
        snprintf(where, sizeof where, " %s", o->settings);
        json_t *checked = rt_cli_settings_of(wf, NULL, given, where, false, err, sizeof err);
        if (!checked) goto refused;
        json_decref(checked);
    }
    if (!(secrets = pairs(o->secret_args, o->nsecret_args, true, err, sizeof err))) goto refused;
    if (!split_secrets(secrets, &user_level, &by_integ, err, sizeof err)) goto refused;
    const char *name;
    json_t *v;
    json_object_foreach(user_level, name, v) {
        bool declared = false;
        for (int w = 0; w < p->nworkflows && !declared; w++)
            for (int i = 0; i < p->workflows[w]->nsecrets; i++) declared |= strcmp(p->workflows[w]->secrets[i], name) == 0;
        if (!declared) {
            char names[600] = "";
            for (int w = 0; w < p->nworkflows; w++)
                for (int i = 0; i < p->workflows[w]->nsecrets; i++)
                    if (!strstr(names, p->workflows[w]->secrets[i]))
                        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "",
                                 p->workflows[w]->secrets[i]);
            snprintf(err, sizeof err, "unknown secret '%s' (the workflow's secrets: %s)", name, names[0] ? names : "none");
            goto refused;
        }
    }
    /* the key that will seal them, before anything is stored: a lost key file
    ** while other users hold sealed secrets is an error, never a new key */
    bool sealing = false;
    json_object_foreach(secrets, name, v) sealing |= json_string_length(v) > 0;
    if (sealing) {
        uint8_t key[32];
        char kid[17];
        bool keyed = rt_users_key(st, dir, true, key, kid, err, sizeof err);
        memset(key, 0, sizeof key);
        if (!keyed) goto refused;
    }
    bool created = false;
    json_t *runs = NULL;
    rt_host_rc r = rt_host_user_put(st, user, o->disabled ? 0 : -1, &created, &runs, err, sizeof err);
    if (r != RT_HOST_OK) goto failed;
    if (json_object_size(user_level) && (r = rt_host_user_secrets(st, dir, user, user_level, err, sizeof err)) != RT_HOST_OK)
        goto failed_runs;
    json_t *sec;
    json_object_foreach(by_integ, name, sec)
        if ((r = rt_host_connect(st, dir, user, name, sec, NULL, false, err, sizeof err)) != RT_HOST_OK) goto failed_runs;
    /* a project of one: the user is its workflow's user (as `users set` always made them) */
    json_t *urec = rt_host_user_get(st, user);
    json_t *legacy = NULL;
    bool active = wf && rt_host_activation(urec, wf, &legacy);
    json_decref(legacy);
    json_decref(urec);
    if (wf && (given || !active)) {
        json_t *run = NULL;
        if ((r = rt_host_activate(st, user, wf, given, true, true, &run, err, sizeof err)) != RT_HOST_OK) goto failed_runs;
        if (run) json_array_append_new(runs, run);
    }
    json_t *now = rt_host_user_get(st, user);
    bool enabled = json_is_true(json_object_get(now, "enabled"));
    rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:b}", "event", created ? "user_added" : "user_updated", "user", user,
                                        "enabled", enabled),
                "user %s %s (%s)", user, created ? "added" : "updated", enabled ? "enabled" : "disabled");
    if (wf) {
        json_t *complete = rt_host_run_settings(now, wf, err, sizeof err);
        if (!complete)
            rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "settings_missing", "user", user),
                        "user %s cannot run yet: %s", user, err);
        json_decref(complete);
    }
    json_decref(now);
    run_enabled(face, st, o, runs);
    rc = RT_EXIT_OK;
    goto done;
failed_runs:
    json_decref(runs);
failed:
    say_error(face, "users set %s: %s", user, err);
    rc = exit_of(r);
    goto done;
refused:
    say_error(face, "users set %s: %s (nothing was stored)", user, err);
done:
    json_decref(given);
    json_decref(secrets);
    json_decref(user_level);
    json_decref(by_integ);
    return rc;
}

int rt_host_cli_users(const rt_workflow *face, const rt_cli_opts *o)
{
    const char *sub = o->sub;
    if (!sub) return rt_cli_usage_error(face, "%s", "users needs a command: set, enable, disable, list, show, remove");
    bool list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "set") != 0 && strcmp(sub, "enable") != 0 && strcmp(sub, "disable") != 0 &&
        strcmp(sub, "show") != 0 && strcmp(sub, "remove") != 0)
        return rt_cli_usage_error(face, "unknown users command '%s' (set, enable, disable, list, show, remove)", sub);
    if (list && o->arg) return rt_cli_usage_error(face, "users list takes no USER ('%s')", o->arg);
    if (!list && !o->arg) return rt_cli_usage_error(face, "users %s needs a USER", sub);
    char err[1024];
    if (!list && !rt_host_valid_user(o->arg, err, sizeof err)) return rt_cli_usage_error(face, "%s", err);
    bool enable = strcmp(sub, "enable") == 0, disable = strcmp(sub, "disable") == 0;
    if (strcmp(sub, "set") != 0 && (o->nsecret_args || o->disabled))
        return rt_cli_usage_error(face, "--secret and --disabled go with `users set`, not `users %s`", sub);
    if (o->settings && strcmp(sub, "set") != 0 && !(enable && o->workflow))
        return rt_cli_usage_error(face, "%s", "--settings go with `users set` or `users enable USER --workflow NAME`");
    if (o->workflow && !enable && !disable && strcmp(sub, "set") != 0)
        return rt_cli_usage_error(face, "--workflow goes with users set, enable and disable, not `users %s`", sub);
    bool reads = list || strcmp(sub, "show") == 0;
    rt_store *st = reads ? rt_cli_open_store_reader(face, o) : rt_cli_open_store(face, o);
    if (!st) return RT_EXIT_USAGE;
    int rc = RT_EXIT_OK;
    if (strcmp(sub, "set") == 0) {
        rc = users_set(face, o, st);
    } else if (list) {
        rc = users_list(st, o->json);
    } else if (strcmp(sub, "show") == 0) {
        json_t *rec = rt_host_user_get(st, o->arg);
        if (!rec) {
            say_error(face, "unknown user '%s' (see `%s users list`)", o->arg, face->name);
            rc = RT_EXIT_USAGE;
        } else {
            print_user(rec, o->json);
            if (rt_store_damaged(rec)) rc = RT_EXIT_USAGE;
        }
        json_decref(rec);
    } else if (strcmp(sub, "remove") == 0) {
        rt_host_rc r = rt_host_user_remove(st, o->arg, err, sizeof err);
        if (r != RT_HOST_OK) say_error(face, "%s", err);
        else rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", "user_removed", "user", o->arg),
                         "user %s removed (their runs stay in the history; queued ones end skipped)", o->arg);
        rc = exit_of(r);
    } else if (o->workflow) {
        const rt_workflow *wf = workflow_arg(face, o->workflow);
        if (!wf) {
            rt_store_close(st);
            return RT_EXIT_USAGE;
        }
        json_t *given = NULL, *run = NULL;
        if (o->settings && !(given = rt_cli_read_json_file(o->settings, "settings", err, sizeof err))) {
            say_error(face, "%s (nothing was stored)", err);
            rt_store_close(st);
            return RT_EXIT_USAGE;
        }
        rt_host_rc r = enable ? rt_host_activate(st, o->arg, wf, given, true, false, &run, err, sizeof err)
                              : rt_host_deactivate(st, o->arg, wf, err, sizeof err);
        json_decref(given);
        if (r != RT_HOST_OK) {
            say_error(face, "users %s %s --workflow %s: %s%s", sub, o->arg, wf->name, err,
                      r == RT_HOST_INVALID ? " (nothing was stored)" : "");
        } else {
            rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s}", "event", enable ? "workflow_enabled" : "workflow_disabled",
                                                "user", o->arg, "workflow", wf->name),
                        "user %s: workflow %s %s", o->arg, wf->name, enable ? "enabled" : "disabled");
            json_t *runs = json_array();
            if (run) json_array_append_new(runs, run);
            run_enabled(face, st, o, runs);
        }
        rc = exit_of(r);
    } else {
        json_t *rec = rt_host_user_get(st, o->arg);
        bool was = json_is_true(json_object_get(rec, "enabled"));
        if (!rec) {
            say_error(face, "unknown user '%s' (see `%s users list`)", o->arg, face->name);
            rc = RT_EXIT_USAGE;
        } else if (rt_store_damaged(rec)) {
            say_error(face, "user %s's record cannot be read (%s): `%s users set %s ...` replaces it, `%s users remove %s` "
                      "removes it", o->arg, rt_store_damaged(rec), face->name, o->arg, face->name, o->arg);
            rc = RT_EXIT_USAGE;
        } else if (was == enable) {
            rt_log_emit(NULL, "info", NULL, "user %s is already %s", o->arg, enable ? "enabled" : "disabled");
        } else {
            bool created;
            json_t *runs = NULL;
            rt_host_rc r = rt_host_user_put(st, o->arg, enable ? 1 : 0, &created, &runs, err, sizeof err);
            if (r != RT_HOST_OK) {
                say_error(face, "%s", err);
                json_decref(runs);
            } else {
                rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", enable ? "user_enabled" : "user_disabled",
                                                    "user", o->arg),
                            "user %s %s", o->arg, enable ? "enabled" : "disabled");
                run_enabled(face, st, o, runs);
            }
            rc = exit_of(r);
        }
        json_decref(rec);
    }
    rt_store_close(st);
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
    const rt_workflow *wf = list ? NULL : workflow_arg(face, o->arg);
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
        if (o->json) print_json(all);
        json_decref(all);
    } else {
        bool deploy = strcmp(sub, "deploy") == 0;
        char err[512];
        if (!rt_host_set_deployed(st, wf->name, deploy, err, sizeof err)) {
            say_error(face, "%s", err);
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
    if (connect && (!(secrets = pairs(o->secret_args, o->nsecret_args, true, err, sizeof err)) ||
                    !(fields = pairs(o->field_args, o->nfield_args, false, err, sizeof err)))) {
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
    const char *dir = rt_users_state_dir(face, o, buf, sizeof buf);
    rt_host_rc r = connect ? rt_host_connect(st, dir, o->arg, o->arg2, secrets, fields, false, err, sizeof err)
                           : rt_host_disconnect(st, o->arg, o->arg2, err, sizeof err);
    if (r != RT_HOST_OK) {
        say_error(face, "%s %s %s: %s%s", o->cmd, o->arg, o->arg2, err, r == RT_HOST_ERR ? "" : " (nothing was stored)");
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
    return exit_of(r);
}
