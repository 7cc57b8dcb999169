/*
** rt_serve_api.c — [drivers] serve's HTTP API: routing, authorization,
** webhook signatures, accepts (POST /events/NAME, /hooks/USER), GET
** /runs, /runs/ID, /metrics, /healthz, and the webhook requests waiting
** for their run's end.
*/
#include "rt_serve_api.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include "rt_cli.h"
#include "rt_exec.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_util.h"
#include "rt_crypto.h"
#include "rt_serve_answer.h"
#include "rt_serve_queue.h"
#include "rt_type.h"
#include "rt_secrets.h"
#include "rt_users.h"
#include "rt_value.h"

/* ---- HTTP routes -------------------------------------------------------- */

static bool authorized(serve *sv, struct MHD_Connection *conn)
{
    if (!sv->token) return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t a = strlen(h), b = strlen(sv->token);
    unsigned char diff = a != b;
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(h[a ? i % a : 0] ^ sv->token[i]);   /* constant time */
    return diff == 0;
}

static enum MHD_Result accept_run(request *rq, const char *user, bool hook)
{
    serve *sv = rq->sv;
    const rt_workflow *wf = sv->wf;
    char err[1024];
    json_t *payload;
    /* the user goes into the run's record as a JSON string: bytes that are
    ** not UTF-8 would leave no record behind an accepted run */
    if (user && !rt_utf8_valid(user, strlen(user)))
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, hook ? "the user in /hooks/USER is not valid UTF-8"
                                                           : "X-Flow-User is not valid UTF-8");
    if (rq->body.len == 0) {
        payload = json_object();
    } else {
        json_error_t je;
        payload = json_loadb(rq->body.data, rq->body.len, JSON_DECODE_ANY, &je);
        if (!payload) {
            snprintf(err, sizeof err, "payload is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
            return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, err);
        }
    }
    if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, payload, "payload", err, sizeof err)) {
        json_decref(payload);
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, err);
    }
    const char *idem = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (idem && (!*idem || strlen(idem) > 256)) {
        json_decref(payload);
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, "Idempotency-Key must be 1 to 256 bytes");
    }
    unsigned code = 0;
    json_t *settings = rt_serve_user_settings(sv, user, &code, err, sizeof err);
    if (!settings) {
        json_decref(payload);
        return rt_serve_answer_error(rq, code, err);
    }
    int64_t now = rt_now_ms();
    rq->record = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:s, s:i, s:I, s:I, s:s}", "workflow", wf->name, "version",
                           wf->version, "user", user, "trigger", payload, "settings", settings, "status", rt_status_name(RT_ST_QUEUED),
                           "attempt", 1, "created", (json_int_t)now, "updated", (json_int_t)now, "source",
                           hook ? "hook" : "event");
    rq->user = user ? rt_xstrdup(user) : NULL;
    rq->hook = hook;
    if (idem) rq->idem_key = rt_xprintf("idem:%zu:%s:%s", user ? strlen(user) : 0, user ? user : "", idem);

    pthread_mutex_lock(&sv->alock);
    if (sv->draining) {
        pthread_mutex_unlock(&sv->alock);
        return rt_serve_answer_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down");
    }
    MHD_suspend_connection(rq->conn);          /* before the committer can resume it */
    rq->next = NULL;
    if (sv->accept_tail) sv->accept_tail->next = rq;
    else sv->accept_head = rq;
    sv->accept_tail = rq;
    pthread_cond_signal(&sv->acond);
    pthread_mutex_unlock(&sv->alock);
    return MHD_YES;
}

static enum MHD_Result get_run(request *rq, const char *id)
{
    serve *sv = rq->sv;
    char why[600] = "";
    json_t *rec = *id && !strchr(id, '/') ? rt_store_read_run(sv->st, id, why, sizeof why) : NULL;
    if (!rec && why[0])         /* damaged: said, not "no run" */
        rec = json_pack("{s:s, s:s, s:s}", "id", id, "status", rt_status_name(RT_ST_UNREADABLE), "error", why);
    if (!rec) {
        char *shown = rt_redact_shorten(id, 200);
        char *msg = rt_xprintf("no run %s", shown);
        enum MHD_Result ret = rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
        free(msg);
        free(shown);
        return ret;
    }
    json_t *out = json_object();
    static const char *const keys[] = { "id", "status", "user", "attempt", "created", "updated", "wake_at",
                                        "output", "error", "failed_step", "source", "scheduled_at", "catch_up" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(rec, keys[i]);
        if (v) json_object_set(out, keys[i], v);
    }
    json_t *steps = rt_store_get_steps(sv->st, id), *list = json_object();
    const char *path;
    json_t *s;
    json_object_foreach(steps, path, s) {
        json_t *e = json_pack("{s:O?, s:O?, s:I, s:O?, s:O?, s:O?}", "kind", json_object_get(s, "kind"), "status",
                              json_object_get(s, "status"), "attempts",
                              (json_int_t)json_array_size(json_object_get(s, "attempts")), "started",
                              json_object_get(s, "started"), "ended", json_object_get(s, "ended"), "error",
                              rt_store_damaged(s) ? json_object_get(s, "damaged") : json_object_get(s, "error"));
        json_object_set_new(list, path, e);
    }
    json_object_set_new(out, "steps", list);
    json_decref(steps);
    json_decref(rec);
    return rt_serve_answer_json(rq, MHD_HTTP_OK, out);
}

/* GET /runs?status=S&user=U&limit=N: run summaries, newest first. */
static enum MHD_Result list_runs(request *rq)
{
    serve *sv = rq->sv;
    const char *status = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "status");
    const char *user = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "user");
    const char *limit = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "limit");
    int n = limit ? atoi(limit) : 50;
    if (n <= 0 || n > 10000) n = 50;
    rt_run_query q = { .status = status && *status ? status : NULL, .user = user && *user ? user : NULL, .limit = n,
                       .damaged_too = true };
    json_t *all = rt_store_query_runs(sv->st, &q), *out = json_array();
    json_int_t unreadable = 0;
    static const char *const keys[] = { "id", "status", "user", "attempt", "created", "updated", "error",
                                        "source", "scheduled_at", "catch_up" };
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r) {
        json_t *sum = json_object();
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(r, keys[k]);
            if (v) json_object_set(sum, keys[k], v);
        }
        if (rt_store_damaged(r)) {      /* listed, never left out */
            json_object_set_new(sum, "error", json_sprintf("record damaged: %s", rt_store_damaged(r)));
            unreadable++;
        }
        json_array_append_new(out, sum);
    }
    json_decref(all);
    json_t *body = json_pack("{s:o}", "runs", out);
    if (unreadable) json_object_set_new(body, "unreadable", json_integer(unreadable));
    return rt_serve_answer_json(rq, MHD_HTTP_OK, body);
}

static enum MHD_Result get_metrics(request *rq)
{
    serve *sv = rq->sv;
    rt_buf b = { 0 };
    pthread_mutex_lock(&sv->qlock);
    size_t queued = sv->queued, waiting = sv->nwakes - sv->nretries, retrying = sv->nretries, users = sv->ring_len;
    int running = sv->running;
    pthread_mutex_unlock(&sv->qlock);
    pthread_mutex_lock(&sv->mlock);
    rt_buf_printf(&b, "# HELP flow_runs_accepted_total Runs accepted over HTTP and committed before the answer.\n"
                      "# TYPE flow_runs_accepted_total counter\nflow_runs_accepted_total %lld\n", sv->accepted);
    rt_buf_printf(&b, "# HELP flow_runs_replayed_total Accepts answered with an earlier run (Idempotency-Key).\n"
                      "# TYPE flow_runs_replayed_total counter\nflow_runs_replayed_total %lld\n", sv->replayed);
    rt_buf_printf(&b, "# HELP flow_accept_commits_total LMDB transactions that stored accepted runs (group commit).\n"
                      "# TYPE flow_accept_commits_total counter\nflow_accept_commits_total %lld\n", sv->batches);
    rt_buf_printf(&b, "# HELP flow_accepts_refused_total Accepts answered 503/500 because the state store failed (nothing stored).\n"
                      "# TYPE flow_accepts_refused_total counter\nflow_accepts_refused_total %lld\n", sv->rejected_commits);
    rt_buf_printf(&b, "# HELP flow_store_stops_total Executions a state store failure stopped; each run goes on after a backoff.\n"
                      "# TYPE flow_store_stops_total counter\nflow_store_stops_total %lld\n", sv->store_stops);
    rt_buf_printf(&b, "# HELP flow_runs_swept_total Unfinished runs nobody had in hand that the periodic rt_serve_sweep queued.\n"
                      "# TYPE flow_runs_swept_total counter\nflow_runs_swept_total %lld\n", sv->swept);
    rt_buf_printf(&b, "# HELP flow_runs_finished_total Runs this process ran to an end, by final status.\n"
                      "# TYPE flow_runs_finished_total counter\n"
                      "flow_runs_finished_total{status=\"succeeded\"} %lld\n"
                      "flow_runs_finished_total{status=\"failed\"} %lld\n"
                      "flow_runs_finished_total{status=\"interrupted\"} %lld\n"
                      "flow_runs_finished_total{status=\"waiting\"} %lld\n",
                  sv->finished[0], sv->finished[1], sv->finished[2], sv->suspended);
    rt_buf_printf(&b, "# HELP flow_runs Unfinished runs of this version by status.\n# TYPE flow_runs gauge\n"
                      "flow_runs{status=\"queued\"} %zu\nflow_runs{status=\"running\"} %d\n"
                      "flow_runs{status=\"waiting\"} %zu\nflow_runs{status=\"store_retry\"} %zu\n"
                      "flow_runs{status=\"other_version\"} %d\n",
                  queued, running, waiting, retrying, sv->other_version);
    rt_buf_printf(&b, "# HELP flow_queue_depth Runs queued for a worker.\n# TYPE flow_queue_depth gauge\n"
                      "flow_queue_depth %zu\n", queued);
    rt_buf_printf(&b, "# HELP flow_schedule_fires_total Schedule fires (each queues a run per enabled user).\n"
                      "# TYPE flow_schedule_fires_total counter\nflow_schedule_fires_total %lld\n", sv->fires);
    rt_buf_printf(&b, "# HELP flow_paused 1 when started with --paused (runs are queued, not started).\n"
                      "# TYPE flow_paused gauge\nflow_paused %d\n", sv->o.paused);
    rt_buf_printf(&b, "# HELP flow_queue_users Users with queued runs.\n# TYPE flow_queue_users gauge\n"
                      "flow_queue_users %zu\n", users);
    rt_buf_printf(&b, "# HELP flow_http_requests_in_flight HTTP requests being answered.\n"
                      "# TYPE flow_http_requests_in_flight gauge\nflow_http_requests_in_flight %d\n",
                  sv->in_flight);
    rt_buf_printf(&b, "# HELP flow_http_responses_total HTTP responses by status code.\n"
                      "# TYPE flow_http_responses_total counter\n");
    for (size_t i = 0; i < NCODES; i++) {
        if (rt_serve_http_codes[i]) rt_buf_printf(&b, "flow_http_responses_total{code=\"%u\"} %lld\n", rt_serve_http_codes[i], sv->codes[i]);
        else rt_buf_printf(&b, "flow_http_responses_total{code=\"other\"} %lld\n", sv->codes[i]);
    }
    rt_buf_printf(&b, "# HELP flow_step_duration_seconds Step durations (first attempt to final outcome).\n"
                      "# TYPE flow_step_duration_seconds histogram\n");
    for (size_t k = 0; k < NKINDS; k++) {
        long long cum = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            cum += sv->step_count[k][i];
            rt_buf_printf(&b, "flow_step_duration_seconds_bucket{kind=\"%s\",le=\"%g\"} %lld\n", rt_serve_step_kinds[k],
                          rt_serve_step_buckets[i], cum);
        }
        cum += sv->step_count[k][NBUCKETS];
        rt_buf_printf(&b, "flow_step_duration_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %lld\n", rt_serve_step_kinds[k], cum);
        rt_buf_printf(&b, "flow_step_duration_seconds_sum{kind=\"%s\"} %.6f\n", rt_serve_step_kinds[k], sv->step_sum[k]);
        rt_buf_printf(&b, "flow_step_duration_seconds_count{kind=\"%s\"} %lld\n", rt_serve_step_kinds[k], sv->step_total[k]);
    }
    pthread_mutex_unlock(&sv->mlock);
    enum MHD_Result ret = rt_serve_answer_text(rq, MHD_HTTP_OK, b.data, "text/plain; version=0.0.4");
    rt_buf_free(&b);
    return ret;
}

static enum MHD_Result route(request *rq, const char *url, const char *method)
{
    serve *sv = rq->sv;
    const rt_workflow *wf = sv->wf;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/healthz") == 0) {
        if (!get) return rt_serve_answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        pthread_mutex_lock(&sv->alock);
        bool draining = sv->draining;
        pthread_mutex_unlock(&sv->alock);
        pthread_mutex_lock(&sv->mlock);
        int other = sv->other_version;      /* the rt_serve_sweep updates it */
        pthread_mutex_unlock(&sv->mlock);
        return rt_serve_answer_json(rq, draining ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                           json_pack("{s:s, s:s, s:s, s:i}", "status", draining ? "draining" : "ok", "workflow",
                                     wf->name, "version", wf->version, "other_version_runs", other));
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get) return rt_serve_answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return get_metrics(rq);
    }
    if (strcmp(url, "/runs") == 0 || strcmp(url, "/runs/") == 0) {
        if (!get) return rt_serve_answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return list_runs(rq);
    }
    if (strncmp(url, "/runs/", 6) == 0) {
        if (!get) return rt_serve_answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return get_run(rq, url + 6);
    }
    if (strncmp(url, "/events/", 8) == 0) {
        if (!post) return rt_serve_answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        if (wf->trigger != RT_TRIG_EVENT || !wf->event || strcmp(url + 8, wf->event) != 0) {
            char *msg;
            if (wf->trigger == RT_TRIG_EVENT && wf->event) {
                char *asked = rt_redact_shorten(url + 8, 200);
                msg = rt_xprintf("no event '%s' here: %s is triggered by event '%s'", asked, wf->name, wf->event);
                free(asked);
            } else {
                msg = rt_xprintf("%s has no event trigger%s", wf->name,
                                 wf->trigger == RT_TRIG_REQUEST ? " (it is a request trigger: POST /hooks/USER)" : "");
            }
            enum MHD_Result ret = rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
            free(msg);
            return ret;
        }
        const char *user = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Flow-User");
        return accept_run(rq, user && *user ? user : NULL, false);
    }
    if (strncmp(url, "/hooks/", 7) == 0) {
        if (!post) return rt_serve_answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        const char *user = url + 7;
        if (wf->trigger != RT_TRIG_REQUEST) {
            char msg[300];
            snprintf(msg, sizeof msg, "%s has no request trigger%s", wf->name,
                     wf->trigger == RT_TRIG_EVENT ? " (it is an event trigger: POST /events/NAME)" : "");
            return rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
        }
        if (!*user || strchr(user, '/')) return rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, "POST /hooks/USER names one user");
        return accept_run(rq, user, true);
    }
    return rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, "no such endpoint (POST /events/NAME, POST /hooks/USER, GET /runs/ID, /healthz, /metrics)");
}

/* X-Flow-Signature: sha256=HEX, the HMAC-SHA256 of the body under the
** user's stored secret --hook-secret (`users set USER --secret NAME=...`). */
static bool signature_ok(request *rq, const char *user)
{
    serve *sv = rq->sv;
    const char *sig = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Flow-Signature");
    if (!sig || !*user || strchr(user, '/')) return false;
    if (strncasecmp(sig, "sha256=", 7) == 0) sig += 7;
    json_t *urec = rt_store_get_user(sv->st, user);
    if (!urec || !json_is_true(json_object_get(urec, "enabled"))) {
        json_decref(urec);
        return false;
    }
    char err[512];
    json_t *secrets = rt_secrets_open_user(sv->st, sv->state_dir, urec, err, sizeof err);
    const char *key = json_string_value(json_object_get(secrets, sv->o.hook_secret));
    bool ok = false;
    if (key) {
        uint8_t mac[32];
        rt_hmac_sha256(key, strlen(key), rq->body.data ? rq->body.data : "", rq->body.len, mac);
        ok = rt_hmac_equal_hex(mac, sig);
    } else {
        rt_log_emit(NULL, "warning", NULL, "signed webhook for user %s, who has no stored secret '%s'%s%s", user,
                    sv->o.hook_secret, secrets ? "" : ": ", secrets ? "" : err);
    }
    json_decref(secrets);
    json_decref(urec);
    return ok;
}

enum MHD_Result rt_serve_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    serve *sv = cls;
    request *rq = *con_cls;
    if (!rq) {                          /* the headers are in */
        rq = rt_xcalloc(1, sizeof *rq);
        rq->sv = sv;
        rq->conn = conn;
        *con_cls = rq;
        pthread_mutex_lock(&sv->mlock);
        sv->in_flight++;
        pthread_mutex_unlock(&sv->mlock);
        if (strcmp(url, "/healthz") != 0 && !authorized(sv, conn)) {
            if (sv->o.hook_secret && strncmp(url, "/hooks/", 7) == 0 &&
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Flow-Signature"))
                rq->check_signature = true;     /* once the body is in */
            else
                return rt_serve_answer_error(rq, MHD_HTTP_UNAUTHORIZED, "a valid 'Authorization: Bearer TOKEN' header is required");
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoll(cl, NULL, 10) > sv->o.max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body over %ld bytes", sv->o.max_body);
            return rt_serve_answer_error(rq, MHD_HTTP_CONTENT_TOO_LARGE, msg);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {            /* a piece of the body */
        if (!rq->answered && !rq->too_big) {
            if (rq->body.len + *upload_data_size > (size_t)sv->o.max_body) {
                rq->too_big = true;
                rt_buf_free(&rq->body);
                rq->body = (rt_buf){ 0 };
            } else {
                rt_buf_append(&rq->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->answered) return MHD_YES;
    if (rq->ready) {                    /* resumed by the committer, a worker or a timeout */
        const char *text = rq->answer ? rq->answer : "null";
        return rt_serve_answer_text(rq, rq->status, text, "application/json");
    }
    if (rq->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body over %ld bytes", sv->o.max_body);
        return rt_serve_answer_error(rq, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (rq->check_signature && !signature_ok(rq, url + 7))
        return rt_serve_answer_error(rq, MHD_HTTP_UNAUTHORIZED, "the X-Flow-Signature does not match the body (HMAC-SHA256 with the user's secret)");
    return route(rq, url, method);
}

void rt_serve_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    serve *sv = cls;
    request *rq = *con_cls;
    if (!rq) return;
    rt_buf_free(&rq->body);
    free(rq->answer);
    json_decref(rq->answer_headers);
    json_decref(rq->record);
    free(rq->user);
    free(rq->idem_key);
    free(rq->idem_error);
    free(rq);
    *con_cls = NULL;
    pthread_mutex_lock(&sv->mlock);
    sv->in_flight--;
    pthread_mutex_unlock(&sv->mlock);
}


