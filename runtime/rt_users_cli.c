/*
** rt_users_cli.c — [commands] `JOB users set|enable|disable|list|show|
** remove` over the project's users (rt_users_cli.h): each parses its
** options and calls the host (rt_host_users.h, rt_host_conn.h), as serve's
** /api does; settings validated against the workflow's schema, secrets
** sealed as they are stored and never printed.
*/
#include "rt_users_cli.h"

#include "rt_host.h"
#include "rt_host_conn.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_secrets.h"
#include "rt_util.h"

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
        rt_cli_print_json(v);
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
            char *t = rt_json_dump(y, 0, false);
            printf(" %s=%s", name, t);
            free(t);
        }
        printf("\n");
    }
    printf("workflows%s\n", json_object_size(json_object_get(v, "activations")) ? "" : " (none enabled)");
    json_object_foreach(json_object_get(v, "activations"), k, x) {
        char *t = rt_json_dump(json_object_get(x, "settings"), 0, false);
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
        rt_cli_print_json(views);
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
    const char *dir = rt_cli_state_dir(face, o, buf, sizeof buf);
    const rt_workflow *wf = NULL;
    if (o->workflow && !(wf = rt_cli_workflow_arg(face, o->workflow))) return RT_EXIT_USAGE;
    if (!wf && p->nworkflows == 1) wf = p->workflows[0];
    if (o->settings && !wf) {
        rt_cli_error(face, "users set %s: --settings go with --workflow NAME in a project of several workflows", user);
        return RT_EXIT_USAGE;
    }
    json_t *given = NULL, *secrets = NULL, *user_level = NULL, *by_integ = NULL;
    int rc = RT_EXIT_USAGE;
    if (o->settings && !(given = rt_cli_read_json_file(o->settings, "settings", err, sizeof err))) goto refused;
    if (given) {
        char where[600];
        snprintf(where, sizeof where, " %s", o->settings);
        json_t *checked = rt_host_settings_of(wf, NULL, given, where, false, err, sizeof err);
        if (!checked) goto refused;
        json_decref(checked);
    }
    if (!(secrets = rt_cli_pairs(o->secret_args, o->nsecret_args, true, err, sizeof err))) goto refused;
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
        bool keyed = rt_secrets_key(st, dir, true, key, err, sizeof err);
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
    rt_cli_run_enabled(face, st, o, runs);
    rc = RT_EXIT_OK;
    goto done;
failed_runs:
    json_decref(runs);
failed:
    rt_cli_error(face, "users set %s: %s", user, err);
    rc = rt_cli_exit_of(r);
    goto done;
refused:
    rt_cli_error(face, "users set %s: %s (nothing was stored)", user, err);
done:
    json_decref(given);
    json_decref(secrets);
    json_decref(user_level);
    json_decref(by_integ);
    return rc;
}

int rt_users_cmd(const rt_workflow *face, const rt_cli_opts *o)
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
            rt_cli_error(face, "unknown user '%s' (see `%s users list`)", o->arg, face->name);
            rc = RT_EXIT_USAGE;
        } else {
            print_user(rec, o->json);
            if (rt_store_damaged(rec)) rc = RT_EXIT_USAGE;
        }
        json_decref(rec);
    } else if (strcmp(sub, "remove") == 0) {
        rt_host_rc r = rt_host_user_remove(st, o->arg, err, sizeof err);
        if (r != RT_HOST_OK) rt_cli_error(face, "%s", err);
        else rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", "user_removed", "user", o->arg),
                         "user %s removed (their runs stay in the history; queued ones end skipped)", o->arg);
        rc = rt_cli_exit_of(r);
    } else if (o->workflow) {
        const rt_workflow *wf = rt_cli_workflow_arg(face, o->workflow);
        if (!wf) {
            rt_store_close(st);
            return RT_EXIT_USAGE;
        }
        json_t *given = NULL, *run = NULL;
        if (o->settings && !(given = rt_cli_read_json_file(o->settings, "settings", err, sizeof err))) {
            rt_cli_error(face, "%s (nothing was stored)", err);
            rt_store_close(st);
            return RT_EXIT_USAGE;
        }
        rt_host_rc r = enable ? rt_host_activate(st, o->arg, wf, given, true, false, &run, err, sizeof err)
                              : rt_host_deactivate(st, o->arg, wf, err, sizeof err);
        json_decref(given);
        if (r != RT_HOST_OK) {
            rt_cli_error(face, "users %s %s --workflow %s: %s%s", sub, o->arg, wf->name, err,
                      r == RT_HOST_INVALID ? " (nothing was stored)" : "");
        } else {
            rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s}", "event", enable ? "workflow_enabled" : "workflow_disabled",
                                                "user", o->arg, "workflow", wf->name),
                        "user %s: workflow %s %s", o->arg, wf->name, enable ? "enabled" : "disabled");
            json_t *runs = json_array();
            if (run) json_array_append_new(runs, run);
            rt_cli_run_enabled(face, st, o, runs);
        }
        rc = rt_cli_exit_of(r);
    } else {
        json_t *rec = rt_host_user_get(st, o->arg);
        bool was = json_is_true(json_object_get(rec, "enabled"));
        if (!rec) {
            rt_cli_error(face, "unknown user '%s' (see `%s users list`)", o->arg, face->name);
            rc = RT_EXIT_USAGE;
        } else if (rt_store_damaged(rec)) {
            rt_cli_error(face, "user %s's record cannot be read (%s): `%s users set %s ...` replaces it, `%s users remove %s` "
                      "removes it", o->arg, rt_store_damaged(rec), face->name, o->arg, face->name, o->arg);
            rc = RT_EXIT_USAGE;
        } else if (was == enable) {
            rt_log_emit(NULL, "info", NULL, "user %s is already %s", o->arg, enable ? "enabled" : "disabled");
        } else {
            bool created;
            json_t *runs = NULL;
            rt_host_rc r = rt_host_user_put(st, o->arg, enable ? 1 : 0, &created, &runs, err, sizeof err);
            if (r != RT_HOST_OK) {
                rt_cli_error(face, "%s", err);
                json_decref(runs);
            } else {
                rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", enable ? "user_enabled" : "user_disabled",
                                                    "user", o->arg),
                            "user %s %s", o->arg, enable ? "enabled" : "disabled");
                rt_cli_run_enabled(face, st, o, runs);
            }
            rc = rt_cli_exit_of(r);
        }
        json_decref(rec);
    }
    rt_store_close(st);
    return rc;
}

