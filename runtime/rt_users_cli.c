/*
** rt_users_cli.c — [commands] `JOB users set|enable|disable|list|show|
** remove` (rt_users_cli.h): settings validated against the workflow's
** schema, secrets sealed as they are stored (rt_users.h).
*/
#include "rt_users_cli.h"

#include <ctype.h>
#include <errno.h>
#include <unistd.h>

#include "rt_crypto.h"
#include "rt_json.h"
#include "rt_log.h"
#include "rt_secrets.h"
#include "rt_type.h"
#include "rt_users.h"
#include "rt_util.h"

static bool valid_user_id(const char *u)
{
    if (!*u || strlen(u) > 200) return false;
    for (const char *p = u; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-.@+:", *p)) return false;
    return true;
}

static bool declared_secret(const rt_workflow *wf, const char *name)
{
    for (int i = 0; i < wf->nsecrets; i++)
        if (strcmp(wf->secrets[i], name) == 0) return true;
    return false;
}

/* What `show`/`list` print for a user: secrets as <set>. NEW reference. */
static json_t *user_view(const rt_workflow *wf, const json_t *rec)
{
    json_t *settings = json_object_get(rec, "settings");     /* none in a damaged record's stand-in */
    json_t *v = json_pack("{s:O, s:b, s:o}", "id", json_object_get(rec, "id"), "enabled",
                          json_is_true(json_object_get(rec, "enabled")), "settings",
                          settings ? json_incref(settings) : json_object());
    json_t *sec = json_object();
    json_t *sealed = json_object_get(rec, "secrets");
    for (int i = 0; i < wf->nsecrets; i++)
        json_object_set_new(sec, wf->secrets[i], json_string(json_object_get(sealed, wf->secrets[i]) ? "<set>" : "<not set>"));
    const char *k;
    json_t *x;
    json_object_foreach(sealed, k, x) if (!json_object_get(sec, k)) json_object_set_new(sec, k, json_string("<set>"));
    json_object_set_new(v, "secrets", sec);
    if (rt_store_damaged(rec)) json_object_set_new(v, "damaged", json_string(rt_store_damaged(rec)));
    static const char *const keys[] = { "created", "updated", "enabled_run" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(rec, keys[i])) json_object_set(v, keys[i], json_object_get(rec, keys[i]));
    return v;
}

static void print_user(const rt_workflow *wf, const json_t *rec, bool json)
{
    json_t *v = user_view(wf, rec);
    if (json) {
        char *t = rt_json_dump(v, 2, false);
        printf("%s\n", t);
        free(t);
    } else {
        printf("user      %s\n", json_string_value(json_object_get(v, "id")));
        printf("enabled   %s\n", json_is_true(json_object_get(v, "enabled")) ? "yes" : "no");
        printf("settings\n");
        const char *k;
        json_t *x;
        json_object_foreach(json_object_get(v, "settings"), k, x) {
            char *t = rt_json_dump(x, 0, false);
            printf("  %-20s %s\n", k, t);
            free(t);
        }
        printf("secrets\n");
        json_object_foreach(json_object_get(v, "secrets"), k, x) printf("  %-20s %s\n", k, json_string_value(x));
        if (json_object_get(v, "damaged"))
            printf("record    unreadable: %s\n", json_string_value(json_object_get(v, "damaged")));
        if (json_object_get(v, "enabled_run"))
            printf("enabled run %s\n", json_string_value(json_object_get(v, "enabled_run")));
    }
    json_decref(v);
}

/* `trigger enabled`: the run a user's enabling starts, executed here. */
static int run_enabled(const rt_workflow *wf, const rt_cli_opts *o, rt_store *st, json_t *urec)
{
    const char *user = json_string_value(json_object_get(urec, "id"));
    char err[512];
    json_t *settings = rt_cli_settings(wf, json_object_get(urec, "settings"), NULL, err, sizeof err);
    if (!settings) {
        rt_log_emit(NULL, "info", NULL, "user %s is enabled but %s: no enabled run yet", user, err);
        return RT_EXIT_OK;
    }
    json_t *payload = json_pack("{s:s}", "user", user);
    json_t *rec = rt_cli_new_run(wf, user, payload, settings, "enabled");
    json_decref(payload);
    json_decref(settings);
    json_object_set(urec, "enabled_run", json_object_get(rec, "id"));
    if (!rt_store_put_user(st, user, urec, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        json_decref(rec);
        return RT_EXIT_FAILED;
    }
    rt_log_emit(json_string_value(json_object_get(rec, "id")), "info",
                json_pack("{s:s, s:s}", "event", "enabled_run", "user", user),
                "user %s enabled: running the workflow (trigger enabled)", user);
    rt_outcome out = rt_cli_execute(wf, st, rec, o, true);
    return rt_cli_exit_code(out);
}

static int users_set(const rt_workflow *wf, const rt_cli_opts *o, rt_store *st)
{
    char err[1024], buf[4096];
    const char *user = o->arg;
    json_t *old = rt_store_get_user(st, user);
    if (rt_store_damaged(old)) {        /* `users set` is how a damaged record is replaced */
        rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "damaged_record", "user", user),
                    "user %s's stored record cannot be read (%s): it is replaced by the one given now", user,
                    rt_store_damaged(old));
        json_decref(old);
        old = NULL;
    }
    int64_t now = rt_now_ms();
    json_t *rec = old ? json_deep_copy(old) : json_pack("{s:s, s:b, s:{}, s:{}, s:I}", "id", user, "enabled",
                                                        !o->disabled, "settings", "secrets", "created", (json_int_t)now);
    if (o->disabled) {
        json_object_set_new(rec, "enabled", json_false());
        json_object_del(rec, "enabled_run");
    }
    /* settings: stored ones, overridden by the file (read once: it may be a pipe) */
    json_t *given = NULL;
    if (o->settings && !(given = rt_cli_read_json_file(o->settings, "settings", err, sizeof err))) goto usage;
    char where[600];
    snprintf(where, sizeof where, " %s", o->settings ? o->settings : "");
    /* names and types are checked; required settings may come later (the
    ** user is connected first; `trigger enabled` waits for them) */
    json_t *full = rt_cli_settings_of(wf, json_object_get(rec, "settings"), given, where, false, err, sizeof err);
    if (!full) {
        json_decref(given);
        goto usage;
    }
    json_decref(full);
    json_t *merged = json_deep_copy(json_object_get(rec, "settings"));
    if (given) json_object_update(merged, given);
    json_decref(given);
    /* store what was given, not the defaults: a later default change applies */
    json_object_set_new(rec, "settings", merged);

    bool any_secret = false;
    uint8_t key[32];
    for (int i = 0; i < o->nsecret_args; i++) {
        const char *a = o->secret_args[i], *eq = strchr(a, '=');
        if (!eq || eq == a) {
            snprintf(err, sizeof err, "--secret takes NAME=VALUE or NAME=@FILE, not '%.*s...'", (int)(eq ? eq - a : 0), a);
            goto usage;
        }
        char *name = rt_xstrndup(a, (size_t)(eq - a));
        if (!declared_secret(wf, name)) {
            rt_buf names = { 0 };
            rt_buf_append(&names, "", 0);
            for (int k = 0; k < wf->nsecrets; k++) rt_buf_printf(&names, "%s%s", k ? ", " : "", wf->secrets[k]);
            snprintf(err, sizeof err, "unknown secret '%s' (the workflow's secrets: %s)", name,
                     wf->nsecrets ? names.data : "none");
            rt_buf_free(&names);
            free(name);
            goto usage;
        }
        char *value = eq[1] == '@' ? rt_read_credential(eq + 2, "secret", err, sizeof err) : rt_xstrdup(eq + 1);
        if (!value) {
            free(name);
            goto usage;
        }
        if (!*value) {
            json_object_del(json_object_get(rec, "secrets"), name);     /* NAME= removes it */
        } else {
            if (!any_secret && !rt_secrets_key(st, rt_cli_state_dir(wf, o, buf, sizeof buf), true, key, err, sizeof err)) {
                free(value);
                free(name);
                goto usage;
            }
            any_secret = true;
            rt_redact_add(value);
            rt_buf ad = { 0 };
            rt_secrets_ad(&ad, user, name);
            char *sealed = rt_seal(key, ad.data, ad.len, value);
            rt_buf_free(&ad);
            if (!sealed) {
                snprintf(err, sizeof err, "cannot seal secret '%s': no cipher or no random bytes", name);
                memset(value, 0, strlen(value));
                free(value);
                free(name);
                goto usage;
            }
            json_object_set_new(json_object_get(rec, "secrets"), name, json_string(sealed));
            free(sealed);
        }
        memset(value, 0, strlen(value));
        free(value);
        free(name);
    }
    if (any_secret) {
        char kid[17];
        rt_secrets_key_id(key, kid);
        const char *had = json_string_value(json_object_get(rec, "key_id"));
        if (had && strcmp(had, kid) != 0 && json_object_size(json_object_get(rec, "secrets")) > (size_t)o->nsecret_args) {
            snprintf(err, sizeof err, "user %s has secrets sealed with another key (key id %s): set all of them again",
                     user, had);
            memset(key, 0, sizeof key);
            goto usage;
        }
        json_object_set_new(rec, "key_id", json_string(kid));
        memset(key, 0, sizeof key);
    }
    json_object_set_new(rec, "updated", json_integer(now));
    if (!rt_store_put_user(st, user, rec, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        json_decref(rec);
        json_decref(old);
        return RT_EXIT_FAILED;
    }
    bool enabled = json_is_true(json_object_get(rec, "enabled"));
    rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:b}", "event", old ? "user_updated" : "user_added", "user", user,
                                        "enabled", enabled),
                "user %s %s (%s)", user, old ? "updated" : "added", enabled ? "enabled" : "disabled");
    json_t *complete = rt_cli_settings(wf, json_object_get(rec, "settings"), NULL, err, sizeof err);
    if (!complete)
        rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "settings_missing", "user", user),
                    "user %s cannot run yet: %s", user, err);
    json_decref(complete);
    int rc = RT_EXIT_OK;
    if (wf->trigger == RT_TRIG_ENABLED && enabled && !json_object_get(rec, "enabled_run")) run_enabled(wf, o, st, rec);
    json_decref(rec);
    json_decref(old);
    return rc;
usage:
    fprintf(stderr, "%s: users set %s: %s (nothing was stored)\n", wf->name, user, err);
    json_decref(rec);
    json_decref(old);
    return RT_EXIT_USAGE;
}

int rt_users_cmd(const rt_workflow *wf, const rt_cli_opts *o)
{
    const char *sub = o->sub;
    if (!sub) return rt_cli_usage_error(wf, "%s", "users needs a command: set, enable, disable, list, show, remove");
    bool list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "set") != 0 && strcmp(sub, "enable") != 0 && strcmp(sub, "disable") != 0 &&
        strcmp(sub, "show") != 0 && strcmp(sub, "remove") != 0)
        return rt_cli_usage_error(wf, "unknown users command '%s' (set, enable, disable, list, show, remove)", sub);
    if (list && o->arg) return rt_cli_usage_error(wf, "users list takes no USER ('%s')", o->arg);
    if (!list && !o->arg) return rt_cli_usage_error(wf, "users %s needs a USER", sub);
    if (!list && !valid_user_id(o->arg))
        return rt_cli_usage_error(wf, "a user id is letters, digits and _-.@+: (at most 200), not '%s'", o->arg);
    if (strcmp(sub, "set") != 0 && (o->settings || o->nsecret_args || o->disabled))
        return rt_cli_usage_error(wf, "--settings, --secret and --disabled go with `users set`, not `users %s`", sub);
    bool reads = list || strcmp(sub, "show") == 0;    /* a read-only state (a backup) lists its users */
    rt_store *st = reads ? rt_cli_open_store_reader(wf, o) : rt_cli_open_store(wf, o);
    if (!st) return RT_EXIT_USAGE;
    int rc = RT_EXIT_OK;
    char err[512];
    if (strcmp(sub, "set") == 0) {
        rc = users_set(wf, o, st);
    } else if (list) {
        json_t *all = rt_store_list_users(st);
        if (o->json) {
            json_t *views = json_array();
            size_t i;
            json_t *u;
            json_array_foreach(all, i, u) json_array_append_new(views, user_view(wf, u));
            char *t = rt_json_dump(views, 2, false);
            printf("%s\n", t);
            free(t);
            json_decref(views);
        } else {
            printf("%-24s %-8s %-40s %s\n", "USER", "ENABLED", "SETTINGS", "SECRETS");
            size_t i;
            json_t *u;
            json_array_foreach(all, i, u) {
                json_t *v = user_view(wf, u);
                char *s = rt_json_dump(json_object_get(v, "settings"), 0, false);
                rt_buf b = { 0 };
                rt_buf_append(&b, "", 0);
                const char *k;
                json_t *x;
                json_object_foreach(json_object_get(v, "secrets"), k, x)
                    rt_buf_printf(&b, "%s%s=%s", b.len ? " " : "", k, json_string_value(x));
                if (json_object_get(v, "damaged"))
                    rt_buf_printf(&b, "%srecord unreadable: %s", b.len ? " " : "",
                                  json_string_value(json_object_get(v, "damaged")));
                printf("%-24s %-8s %-40.40s %s\n", json_string_value(json_object_get(v, "id")),
                       json_is_true(json_object_get(v, "enabled")) ? "yes" : "no", s, b.data);
                free(s);
                rt_buf_free(&b);
                json_decref(v);
            }
        }
        json_decref(all);
    } else {
        json_t *rec = rt_store_get_user(st, o->arg);
        if (!rec) {
            fprintf(stderr, "%s: unknown user '%s' (see `%s users list`)\n", wf->name, o->arg, wf->name);
            rt_store_close(st);
            return RT_EXIT_USAGE;
        }
        if (strcmp(sub, "show") == 0) {
            print_user(wf, rec, o->json);
            if (rt_store_damaged(rec)) rc = RT_EXIT_USAGE;
        } else if (strcmp(sub, "remove") == 0) {
            if (!rt_store_put_user(st, o->arg, NULL, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", wf->name, err);
                rc = RT_EXIT_FAILED;
            } else {
                rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", "user_removed", "user", o->arg),
                            "user %s removed (their runs stay in the history)", o->arg);
            }
        } else if (rt_store_damaged(rec)) {
            fprintf(stderr, "%s: user %s's record cannot be read (%s): `%s users set %s ...` replaces it, `%s users "
                    "remove %s` removes it\n", wf->name, o->arg, rt_store_damaged(rec), wf->name, o->arg, wf->name,
                    o->arg);
            rc = RT_EXIT_USAGE;
        } else {
            bool enable = strcmp(sub, "enable") == 0;
            bool was = json_is_true(json_object_get(rec, "enabled"));
            json_object_set_new(rec, "enabled", json_boolean(enable));
            json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
            if (!enable) json_object_del(rec, "enabled_run");  /* enabling again runs again */
            if (was == enable) {
                rt_log_emit(NULL, "info", NULL, "user %s is already %s", o->arg, enable ? "enabled" : "disabled");
            } else if (!rt_store_put_user(st, o->arg, rec, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", wf->name, err);
                rc = RT_EXIT_FAILED;
            } else {
                rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", enable ? "user_enabled" : "user_disabled",
                                                    "user", o->arg),
                            "user %s %s", o->arg, enable ? "enabled" : "disabled");
                if (enable && wf->trigger == RT_TRIG_ENABLED && !json_object_get(rec, "enabled_run"))
                    run_enabled(wf, o, st, rec);
            }
        }
        json_decref(rec);
    }
    rt_store_close(st);
    return rc;
}
