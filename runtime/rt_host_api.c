/*
** rt_host_api.c — [commands] serve's /api: users, connections, activations and
** workflows over the host functions the CLI calls (rt_host_api.h).
*/
#include "rt_host_api.h"

#include "rt_host_info.h"
#include "rt_host_conn.h"
#include "rt_log.h"
#include "rt_util.h"

static json_t *error(unsigned *status, unsigned code, const char *msg)
{
    *status = code;
    char *red = rt_redact(msg);
    json_t *out = json_pack("{s:s}", "error", red);
    free(red);
    return out;
}

/* The request body as a JSON object with only the keys allowed (NULL-
** terminated); NULL with the answer in *answer. An empty body is {}. */
static json_t *body_object(const char *body, size_t len, const char *const *allowed, json_t **answer, unsigned *status)
{
    *answer = NULL;
    if (!len) return json_object();
    json_error_t je;
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY, &je);
    char msg[600];
    if (!v) {
        snprintf(msg, sizeof msg, "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        *answer = error(status, 400, msg);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        *answer = error(status, 400, "the body must be a JSON object");
        return NULL;
    }
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++) ok = strcmp(allowed[i], k) == 0;
        if (ok) continue;
        rt_buf names = { 0 };
        rt_buf_append(&names, "", 0);
        for (size_t i = 0; allowed[i]; i++) rt_buf_printf(&names, "%s%s", i ? ", " : "", allowed[i]);
        char *shown = rt_redact_shorten(k, 60);
        snprintf(msg, sizeof msg, "unknown field '%s' in the body (this endpoint takes: %s)", shown,
                 names.len ? names.data : "nothing");
        free(shown);
        rt_buf_free(&names);
        json_decref(v);
        *answer = error(status, 400, msg);
        return NULL;
    }
    return v;
}

static unsigned code_of(rt_host_rc rc)
{
    return (unsigned)rc;
}

/* The user's view after a change (200), or the error. */
static json_t *user_answer(const rt_host_api_ctx *c, const char *user, unsigned ok_status, unsigned *status)
{
    json_t *rec = rt_host_user_get(c->st, user);
    if (!rec) return error(status, 404, "the user was removed meanwhile");
    json_t *v = rt_host_user_view(rec);
    json_decref(rec);
    *status = ok_status;
    return v;
}

/* Splits "/users/ID/connections/X" into at most 4 segments (pointers into
** buf). Returns the count, or -1 when there are more. */
static int segments(const char *path, char *buf, size_t n, char *seg[5])
{
    snprintf(buf, n, "%s", path);
    int k = 0;
    char *p = buf;
    while (*p == '/') p++;
    while (*p) {
        if (k == 5) return -1;
        seg[k++] = p;
        char *slash = strchr(p, '/');
        if (!slash) break;
        *slash = 0;
        p = slash + 1;
    }
    return k;
}

static void start_runs(const rt_host_api_ctx *c, json_t *runs)
{
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r) if (c->start_run) c->start_run(c->arg, json_incref(r));
    json_decref(runs);
}

static json_t *users_api(const rt_host_api_ctx *c, const char *method, char **seg, int nseg, const char *body,
                         size_t len, unsigned *status)
{
    char err[1024];
    bool put = strcmp(method, "PUT") == 0, get = strcmp(method, "GET") == 0, del = strcmp(method, "DELETE") == 0;
    if (nseg == 1) {
        if (!get) return error(status, 405, "use GET /api/users, or PUT/GET/DELETE /api/users/ID");
        json_t *all = rt_store_list_users(c->st), *views = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(all, i, u) json_array_append_new(views, rt_host_user_view(u));
        json_decref(all);
        *status = 200;
        return json_pack("{s:o}", "users", views);
    }
    const char *user = seg[1];
    if (!rt_host_valid_user(user, err, sizeof err)) return error(status, 400, err);
    json_t *answer;
    if (nseg == 2) {
        if (get) {
            json_t *rec = rt_host_user_get(c->st, user);
            if (!rec) {
                snprintf(err, sizeof err, "unknown user '%s'", user);
                return error(status, 404, err);
            }
            json_t *v = rt_host_user_view(rec);
            json_decref(rec);
            *status = 200;
            return v;
        }
        if (del) {
            rt_host_rc rc = rt_host_user_remove(c->st, user, err, sizeof err);
            if (rc != RT_HOST_OK) return error(status, code_of(rc), err);
            rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", "user_removed", "user", user),
                        "user %s removed (API)", user);
            *status = 200;
            return json_pack("{s:s, s:b}", "id", user, "removed", true);
        }
        if (!put) return error(status, 405, "use PUT, GET or DELETE on /api/users/ID");
        static const char *const allowed[] = { "enabled", NULL };
        json_t *b = body_object(body, len, allowed, &answer, status);
        if (!b) return answer;
        json_t *en = json_object_get(b, "enabled");
        if (en && !json_is_boolean(en)) {
            json_decref(b);
            return error(status, 400, "'enabled' must be true or false");
        }
        bool created;
        json_t *runs = NULL;
        rt_host_rc rc = rt_host_user_put(c->st, user, en ? json_is_true(en) : -1, &created, &runs, err, sizeof err);
        json_decref(b);
        if (rc != RT_HOST_OK) return error(status, code_of(rc), err);
        start_runs(c, runs);
        return user_answer(c, user, created ? 201 : 200, status);
    }
    if (nseg != 4 || (strcmp(seg[2], "connections") != 0 && strcmp(seg[2], "workflows") != 0))
        return error(status, 404, "no such endpoint (/api/users/ID, /api/users/ID/connections/INTEGRATION, "
                                  "/api/users/ID/workflows/WORKFLOW)");
    bool conn = strcmp(seg[2], "connections") == 0;
    if (!put && !del)
        return error(status, 405, conn ? "use PUT or DELETE on /api/users/ID/connections/INTEGRATION"
                                       : "use PUT or DELETE on /api/users/ID/workflows/WORKFLOW");
    rt_host_rc rc;
    if (conn) {
        if (del) {
            rc = rt_host_disconnect(c->st, user, seg[3], err, sizeof err);
        } else {
            static const char *const allowed[] = { "secrets", "fields", NULL };
            json_t *b = body_object(body, len, allowed, &answer, status);
            if (!b) return answer;
            rc = rt_host_connect(c->st, c->state_dir, user, seg[3], json_object_get(b, "secrets"),
                                 json_object_get(b, "fields"), true, err, sizeof err);
            json_decref(b);
        }
        if (rc == RT_HOST_OK)
            rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s}", "event", del ? "disconnected" : "connected", "user",
                                                user, "integration", seg[3]),
                        "user %s %s %s (API)", user, del ? "disconnected from" : "connected to", seg[3]);
    } else {
        const rt_workflow *wf = rt_host_workflow(seg[3]);
        if (!wf) {
            char names[2048];
            char *shown = rt_redact_shorten(seg[3], 100);
            snprintf(err, sizeof err, "unknown workflow '%s' (the project's: %s)", shown,
                     rt_host_workflow_names(names, sizeof names));
            free(shown);
            return error(status, 404, err);
        }
        if (del) {
            rc = rt_host_deactivate(c->st, user, wf, err, sizeof err);
        } else {
            static const char *const allowed[] = { "settings", NULL };
            json_t *b = body_object(body, len, allowed, &answer, status);
            if (!b) return answer;
            json_t *settings = json_object_get(b, "settings");
            json_t *run = NULL;
            rc = settings && !json_is_object(settings)
                     ? (snprintf(err, sizeof err, "'settings' must be an object"), RT_HOST_INVALID)
                     : rt_host_activate(c->st, user, wf, settings, false, false, &run, err, sizeof err);
            json_decref(b);
            if (run && c->start_run) c->start_run(c->arg, run);
            else json_decref(run);
        }
        if (rc == RT_HOST_OK)
            rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s}", "event", del ? "workflow_disabled" : "workflow_enabled",
                                                "user", user, "workflow", wf->name),
                        "user %s: workflow %s %s (API)", user, wf->name, del ? "disabled" : "enabled");
    }
    if (rc != RT_HOST_OK) return error(status, code_of(rc), err);
    return user_answer(c, user, 200, status);
}

static json_t *workflows_api(const rt_host_api_ctx *c, const char *method, char **seg, int nseg, unsigned *status)
{
    const rt_project *p = rt_host_project();
    if (nseg == 1) {
        if (strcmp(method, "GET") != 0) return error(status, 405, "use GET /api/workflows");
        json_t *list = json_array();
        for (int i = 0; i < p->nworkflows; i++) json_array_append_new(list, rt_host_workflow_info(c->st, p->workflows[i]));
        *status = 200;
        return json_pack("{s:s, s:o}", "project", p->name, "workflows", list);
    }
    const rt_workflow *wf = rt_host_workflow(seg[1]);
    char err[1024];
    if (!wf) {
        char names[2048];
        char *shown = rt_redact_shorten(seg[1], 100);
        snprintf(err, sizeof err, "unknown workflow '%s' (the project's: %s)", shown,
                 rt_host_workflow_names(names, sizeof names));
        free(shown);
        return error(status, 404, err);
    }
    if (nseg == 2) {
        if (strcmp(method, "GET") != 0) return error(status, 405, "use GET /api/workflows/W");
        *status = 200;
        return rt_host_workflow_info(c->st, wf);
    }
    if (nseg != 3 || (strcmp(seg[2], "deploy") != 0 && strcmp(seg[2], "undeploy") != 0))
        return error(status, 404, "no such endpoint (POST /api/workflows/W/deploy or /undeploy)");
    if (strcmp(method, "POST") != 0) return error(status, 405, "use POST");
    bool deploy = strcmp(seg[2], "deploy") == 0;
    if (!rt_host_set_deployed(c->st, wf->name, deploy, err, sizeof err)) return error(status, 500, err);
    rt_log_emit(NULL, "info", json_pack("{s:s, s:s}", "event", deploy ? "deployed" : "undeployed", "workflow", wf->name),
                "workflow %s %s (API)", wf->name, deploy ? "deployed" : "undeployed");
    *status = 200;
    return json_pack("{s:s, s:b}", "workflow", wf->name, "deployed", deploy);
}

json_t *rt_host_api(const rt_host_api_ctx *c, const char *method, const char *path, const char *body, size_t len,
                    unsigned *status)
{
    char buf[2048], *seg[5];
    if (strlen(path) >= sizeof buf) return error(status, 400, "the path is too long");
    int nseg = segments(path, buf, sizeof buf, seg);
    if (nseg <= 0) return error(status, 404, "no such endpoint (/api/users, /api/workflows)");
    for (int i = 0; i < nseg; i++)
        if (!*seg[i]) return error(status, 404, "an empty path segment");
    if (strcmp(seg[0], "users") == 0) return users_api(c, method, seg, nseg, body, len, status);
    if (strcmp(seg[0], "workflows") == 0) return workflows_api(c, method, seg, nseg, status);
    return error(status, 404, "no such endpoint (/api/users, /api/workflows)");
}
