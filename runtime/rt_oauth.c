/*
** rt_oauth.c — [engine] OAuth2 access-token refresh (rt_oauth.h).
*/
#include "rt_oauth.h"

#include "rt_co.h"
#include "rt_http.h"
#include "rt_log.h"
#include "rt_secrets.h"
#include "rt_util.h"

/* One refresh at a time in the process (see rt_oauth.h). */
static pthread_mutex_t oauth_lock = PTHREAD_MUTEX_INITIALIZER;

/* FLOW_<NAME>_TOKEN_URL, else the declared token URL; relative ones are
** joined to the integration's base URL. NULL when there is none. */
static char *token_url(rt_run_state *run, const rt_integration *in, const char *base_url)
{
    char var[160];
    const char *u = rt_run_getenv(run, rt_env_name(var, sizeof var, "FLOW_", in->name, "_TOKEN_URL"));
    if (!u || !*u) u = in->token_url;
    if (!u || !*u) return NULL;
    if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0 || !base_url) return rt_xstrdup(u);
    return rt_url_join(base_url, u);
}

/* The access token another request of this process (or another run of the
** same user, stored since this run started) put in place of stale; NULL
** when the stale one is still the newest. */
static char *newer_token(rt_run_state *run, const rt_integration *in, const char *stale)
{
    char *cur = rt_run_secret(run, in->secret);
    if (cur && strcmp(cur, stale) != 0) return cur;
    free(cur);
    if (run->conn_newer_token) return run->conn_newer_token(run, in, stale);     /* the user's connection */
    const char *user = json_string_value(json_object_get(run->record, "user"));
    if (!user || !run->store || !run->state_dir) return NULL;
    json_t *urec = rt_store_get_user(run->store, user);
    char err[512];
    json_t *stored = urec ? rt_secrets_open_user(run->store, run->state_dir, urec, err, sizeof err) : NULL;
    json_decref(urec);
    const char *tok = json_string_value(json_object_get(stored, in->secret));
    char *fresh = tok && strcmp(tok, stale) != 0 ? rt_xstrdup(tok) : NULL;
    if (fresh) {
        /* take the stored pair: a rotated refresh token came with it */
        const char *name;
        json_t *v;
        json_object_foreach(stored, name, v) rt_run_set_secret(run, name, json_string_value(v));
    }
    json_decref(stored);
    return fresh;
}

/* Adds name=secret to the form; false with a message when it is not set. */
static bool form_secret(rt_run_state *run, json_t *form, const char *field, const char *secret, char *err, size_t n)
{
    if (!secret) return true;
    char *v = rt_run_secret(run, secret);
    if (!v) {
        snprintf(err, n, "cannot refresh the OAuth2 token: secret '%s' is not set", secret);
        return false;
    }
    rt_redact_add(v);
    json_object_set_new(form, field, json_string(v));
    memset(v, 0, strlen(v));
    free(v);
    return true;
}

/* The POST to the token endpoint: the new access token, or NULL with err.
** *rotated is the new refresh token when the server sent one; *fields
** (NEW, or NULL) the connection fields declared from_token that the
** response holds (Salesforce's instance_url). */
static char *request_token(rt_run_state *run, const rt_integration *in, const char *url, char **rotated,
                           json_t **fields, char *err,
                           size_t n)
{
    *rotated = NULL;
    *fields = NULL;
    json_t *form = json_pack("{s:s}", "grant_type", "refresh_token");
    if (!form_secret(run, form, "refresh_token", in->secret2, err, n) ||
        !form_secret(run, form, "client_id", in->client_id_secret, err, n) ||
        !form_secret(run, form, "client_secret", in->client_secret_secret, err, n)) {
        json_decref(form);
        return NULL;
    }
    char *body = rt_url_form_encode(form);
    json_decref(form);
    json_t *headers = json_pack("{s:s, s:s}", "Content-Type", "application/x-www-form-urlencoded", "Accept",
                                "application/json");
    /* the body holds the refresh token and the client secret */
    rt_http_request rq = { .method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body),
                           .body_private = true };
    rt_http_response rs = { 0 };
    char *token = NULL;
    char *why = NULL;           /* composed whole, then redacted and shortened into err */
    if (!rt_http_perform(&rq, &rs)) {
        why = rt_xprintf("cannot refresh the OAuth2 token: %s", rs.error ? rs.error : "the request failed");
    } else {
        const char *tok = json_string_value(json_object_get(rs.body, "access_token"));
        if (rs.status >= 200 && rs.status < 300 && tok && *tok) {
            token = rt_xstrdup(tok);
            const char *rt = json_string_value(json_object_get(rs.body, "refresh_token"));
            if (rt && *rt) *rotated = rt_xstrdup(rt);
            for (int i = 0; i < in->nfields; i++) {
                json_t *v = in->fields[i].from_token ? json_object_get(rs.body, in->fields[i].name) : NULL;
                if (!v || json_is_null(v)) continue;
                if (!*fields) *fields = json_object();
                json_object_set(*fields, in->fields[i].name, v);
            }
        } else {
            /* what the server said (error, error_description), never the body whole */
            const char *e = json_string_value(json_object_get(rs.body, "error"));
            const char *d = json_string_value(json_object_get(rs.body, "error_description"));
            if (rs.status >= 200 && rs.status < 300)
                why = rt_xstrdup("cannot refresh the OAuth2 token: the token endpoint answered without an access_token");
            else
                why = rt_xprintf("cannot refresh the OAuth2 token: the token endpoint answered HTTP %ld%s%s%s%s",
                                 rs.status, e ? ": " : "", e ? e : "", d ? " — " : "", d ? d : "");
        }
    }
    if (why) rt_redact_copy(err, n, why);
    free(why);
    rt_http_response_free(&rs);
    memset(body, 0, strlen(body));
    free(body);
    json_decref(headers);
    return token;
}

char *rt_oauth_refresh(rt_run_state *run, const rt_integration *in, const char *base_url, const char *stale,
                       char *err, size_t n)
{
    rt_co_pin();        /* a fanout item holding the lock must not yield to another one */
    pthread_mutex_lock(&oauth_lock);
    char *token = newer_token(run, in, stale);
    if (token) {
        pthread_mutex_unlock(&oauth_lock);
        rt_co_unpin();
        return token;
    }
    char *url = token_url(run, in, base_url);
    if (!url) {
        snprintf(err, n, "cannot refresh the OAuth2 token of '%s': it has no token_url", in->name);
        pthread_mutex_unlock(&oauth_lock);
        rt_co_unpin();
        return NULL;
    }
    char *rotated = NULL;
    json_t *fields = NULL;
    token = request_token(run, in, url, &rotated, &fields, err, n);
    free(url);
    if (token) {
        rt_run_set_secret(run, in->secret, token);
        if (rotated && in->secret2) rt_run_set_secret(run, in->secret2, rotated);
        for (int i = 0; i < in->nfields; i++)      /* a new instance_url: this run's next requests go there */
            if (in->fields[i].base_url && json_is_string(json_object_get(fields, in->fields[i].name)))
                rt_run_set_base_url(run, in->name, json_string_value(json_object_get(fields, in->fields[i].name)));
        const char *user = json_string_value(json_object_get(run->record, "user"));
        bool stored = false;
        char why[512] = "";
        if (user && run->store && run->state_dir && !run->test_mode) {
            json_t *values = json_pack("{s:s}", in->secret, token);
            if (rotated && in->secret2) json_object_set_new(values, in->secret2, json_string(rotated));
            stored = run->conn_store ? run->conn_store(run, in, values, fields, why, sizeof why)
                                     : rt_secrets_store_user(run->store, run->state_dir, user, values, why, sizeof why);
            json_decref(values);
        }
        json_decref(fields);
        if (stored)
            rt_log_emit(run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "oauth_refresh", "integration", in->name,
                                                   "user", user),
                        "refreshed the OAuth2 access token of '%s' and stored it for user %s", in->name, user);
        else if (user && *why)
            rt_log_emit(run->id, "warning", json_pack("{s:s, s:s}", "event", "oauth_refresh", "integration", in->name),
                        "refreshed the OAuth2 access token of '%s' but could not store it for user %s: %s", in->name,
                        user, why);
        else
            rt_log_emit(run->id, "info", json_pack("{s:s, s:s}", "event", "oauth_refresh", "integration", in->name),
                        "refreshed the OAuth2 access token of '%s' (kept for this process: no connected user)",
                        in->name);
    }
    if (rotated) {
        memset(rotated, 0, strlen(rotated));
        free(rotated);
    }
    pthread_mutex_unlock(&oauth_lock);
    rt_co_unpin();
    return token;
}
