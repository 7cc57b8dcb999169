/*
** rt_serve_api.c — [drivers] serve's HTTP API: routing, authorization,
** webhook signatures, accepts (POST /events/NAME, /hooks/WORKFLOW/USER:
** rt_host_accept.h), the application's API (/api: rt_host_api.h), GET
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
#include "rt_host.h"
#include "rt_host_accept.h"
#include "rt_host_api.h"
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

/* --max-queued: whether this accept's runs would take the queued runs
** (those in the queue and those of accepts waiting for the committer:
** *queued) past the bound; if so rq->retry_after is when to try again: the
** time the recent drain rate needs to make room (1 to 60 s; 5 before any
** run ended). The caller holds alock (then qlock: the order), so that two
** accepts cannot both take the last place. */
static bool over_max_queued(request *rq, long *queued)
{
    serve *sv = rq->sv;
    pthread_mutex_lock(&sv->qlock);
    *queued = (long)sv->queued + sv->accept_runs;
    pthread_mutex_unlock(&sv->qlock);
    if (*queued + rq->plan.nruns <= sv->o.max_queued) return false;
    pthread_mutex_lock(&sv->mlock);
    double rate = sv->drain_rate;
    sv->throttled++;
    pthread_mutex_unlock(&sv->mlock);
    double excess = (double)(*queued + rq->plan.nruns - sv->o.max_queued);
    double secs = rate > 0 ? excess / rate + 0.999 : 5;
    rq->retry_after = secs < 1 ? 1 : secs > 60 ? 60 : (int)secs;
    return true;
}

/* Whether a webhook's run may be queued before anything is stored
** (accept_in_memory): one run, no Idempotency-Key (a second request with
** the key must find the first run in the store: the committer looks keys
** up and stores them), runs starting (not --paused) and the store not
** failing (the committer's transaction says so at once: 503, nothing
** stored). Under alock (then qlock). */
static bool in_memory_fits(request *rq)
{
    serve *sv = rq->sv;
    if (rq->plan.nruns != 1 || rq->plan.runs[0].idem_key || sv->o.paused) return false;
    pthread_mutex_lock(&sv->qlock);
    bool fits = !sv->store_streak && !sv->store_gate;
    pthread_mutex_unlock(&sv->qlock);
    return fits;
}

/* A webhook that waits for its run's end: its run is queued at once,
** without the committer's transaction, and its record is written with the
** run's claim in the first group of its worker's scheduler, which its
** first request does not wait for. A kill before that group is durable
** forgets the run, whose caller got no answer (docs/serve.md); every later
** barrier and the end make it durable as before, and a 202 (--hook-timeout,
** a drain) stores it first (rt_serve_answer.c). Called under alock, which
** it releases; the queued run counts for --max-queued while it is pushed. */
static enum MHD_Result accept_in_memory(request *rq)
{
    serve *sv = rq->sv;
    rt_host_run_plan *it = &rq->plan.runs[0];
    sv->accept_runs++;
    MHD_suspend_connection(rq->conn);          /* before the run can resume it */
    pthread_mutex_unlock(&sv->alock);
    rq->in_memory = true;
    memcpy(rq->run_id, it->run_id, sizeof rq->run_id);
    char id[RT_RUN_ID_LEN + 1];
    memcpy(id, it->run_id, sizeof id);
    char *user = rt_xstrdup(rq->user), *text = rt_xstrndup(it->text, it->len);
    size_t len = it->len;
    rt_serve_hook_wait(sv, rq);         /* before the run can end; rq may be answered from here on */
    rt_serve_queue_push_new(sv, id, user, text, len);
    free(user);
    pthread_mutex_lock(&sv->alock);
    sv->accept_runs--;
    pthread_mutex_unlock(&sv->alock);
    pthread_mutex_lock(&sv->mlock);
    sv->accepted++;
    pthread_mutex_unlock(&sv->mlock);
    return MHD_YES;
}

/* Validates the request and builds its plan: the runs it starts, one per
** workflow (rt_host_accept.h). Nothing is stored here, so a bad request
** is refused before it joins a group commit and cannot fail another
** client's accept. The plan goes to the committer; the connection stays
** suspended until its runs are stored. hook: the webhook's workflow, or
** NULL for an event. */
static enum MHD_Result accept_run(request *rq, const char *user, const rt_workflow *hook, const char *event)
{
    serve *sv = rq->sv;
    char err[1024];
    if (!user)
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST,
                            hook ? "a webhook names its user: POST /hooks/WORKFLOW/USER (or X-Flow-User)"
                                 : "X-Flow-User is required: every run belongs to a user (an id your application "
                                   "chose; " RT_HOST_USER_RULE ")");
    /* the user goes into the run's record as a JSON string: bytes that are
    ** not UTF-8 would leave no record behind an accepted run */
    if (!rt_utf8_valid(user, strlen(user)))
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, hook ? "the user in /hooks/USER is not valid UTF-8"
                                                           : "X-Flow-User is not valid UTF-8");
    if (!rt_host_valid_user(user, err, sizeof err)) {
        char *msg = rt_xprintf("%s: %s", hook ? "the webhook's user" : "X-Flow-User", err);
        enum MHD_Result ret = rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, msg);
        free(msg);
        return ret;
    }
    const char *idem = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (idem && (!*idem || strlen(idem) > 256))
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, "Idempotency-Key must be 1 to 256 bytes");
    unsigned code = hook ? rt_host_accept_hook(sv->st, hook, user, rq->body.data, rq->body.len, idem, &rq->plan, err,
                                               sizeof err)
                         : rt_host_accept_event(sv->st, event, user, rq->body.data, rq->body.len, idem, &rq->plan, err,
                                                sizeof err);
    if (code) return rt_serve_answer_error(rq, code, err);
    if (!rq->plan.nruns) {              /* every listener skipped it: nothing to store */
        unsigned status;
        json_t *answer = rt_host_accept_answer(&rq->plan, &status);
        return rt_serve_answer_json(rq, status, answer);
    }
    rq->user = rt_xstrdup(user);
    rq->hook = hook != NULL;
    pthread_mutex_lock(&sv->alock);
    if (sv->draining) {
        pthread_mutex_unlock(&sv->alock);
        return rt_serve_answer_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down");
    }
    long queued;
    if (sv->o.max_queued && over_max_queued(rq, &queued)) {
        pthread_mutex_unlock(&sv->alock);
        char *msg = rt_xprintf("not accepted: %ld runs are queued and this would queue %d more (serve --max-queued %ld); "
                               "nothing was stored, send it again after Retry-After seconds",
                               queued, rq->plan.nruns, sv->o.max_queued);
        enum MHD_Result ret = rt_serve_answer_error(rq, MHD_HTTP_TOO_MANY_REQUESTS, msg);
        free(msg);
        return ret;
    }
    if (hook && in_memory_fits(rq)) return accept_in_memory(rq);
    sv->accept_runs += rq->plan.nruns;
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
    static const char *const keys[] = { "id", "workflow", "status", "user", "attempt", "created", "updated", "wake_at",
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
    char *end = NULL;
    long n = limit ? strtol(limit, &end, 10) : 50;
    if (limit && (end == limit || *end || n < 1 || n > 10000))
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST, "limit is a whole number from 1 to 10000");
    if (status && *status && !rt_status_is_run(rt_status_parse(status)))
        return rt_serve_answer_error(rq, MHD_HTTP_BAD_REQUEST,
                                     "status is queued, running, waiting, succeeded, failed, interrupted or skipped");
    rt_run_query q = { .status = status && *status ? status : NULL, .user = user && *user ? user : NULL, .limit = (int)n,
                       .damaged_too = true };
    json_t *all = rt_store_query_runs(sv->st, &q), *out = json_array();
    json_int_t unreadable = 0;
    static const char *const keys[] = { "id", "workflow", "status", "user", "attempt", "created", "updated", "error",
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
    int64_t now = rt_mono_ms(), oldest = now;       /* each user's FIFO starts with its oldest */
    user_queue *u = sv->ring_head;
    for (size_t i = 0; u && i < sv->ring_len; i++, u = u->ring_next)
        if (u->head && u->head->at < oldest) oldest = u->head->at;
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
                      "flow_runs_finished_total{status=\"waiting\"} %lld\n"
                      "flow_runs_finished_total{status=\"skipped\"} %lld\n",
                  sv->finished[0], sv->finished[1], sv->finished[2], sv->suspended, sv->finished[3]);
    rt_buf_printf(&b, "# HELP flow_runs Unfinished runs of this version by status.\n# TYPE flow_runs gauge\n"
                      "flow_runs{status=\"queued\"} %zu\nflow_runs{status=\"running\"} %d\n"
                      "flow_runs{status=\"waiting\"} %zu\nflow_runs{status=\"store_retry\"} %zu\n"
                      "flow_runs{status=\"other_version\"} %d\n",
                  queued, running, waiting, retrying, sv->other_version);
    rt_buf_printf(&b, "# HELP flow_queue_depth Runs queued for a worker.\n# TYPE flow_queue_depth gauge\n"
                      "flow_queue_depth %zu\n", queued);
    rt_buf_printf(&b, "# HELP flow_queue_oldest_age_seconds How long the oldest queued run has waited (0: none queued).\n"
                      "# TYPE flow_queue_oldest_age_seconds gauge\nflow_queue_oldest_age_seconds %.3f\n",
                  (double)(now - oldest) / 1000.0);
    rt_buf_printf(&b, "# HELP flow_queue_max The bound of --max-queued (0: none).\n# TYPE flow_queue_max gauge\n"
                      "flow_queue_max %ld\n", sv->o.max_queued);
    rt_buf_printf(&b, "# HELP flow_accepts_throttled_total Accepts answered 429: the queue held --max-queued runs.\n"
                      "# TYPE flow_accepts_throttled_total counter\nflow_accepts_throttled_total %lld\n", sv->throttled);
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

/* The workflow and user of POST /hooks/...: /hooks/WORKFLOW/USER,
** /hooks/WORKFLOW with X-Flow-User, or (a project with one request
** trigger) /hooks/USER as before. False with a message (404). */
static bool hook_target(const char *url, struct MHD_Connection *conn, const rt_workflow **wf, const char **user,
                        char *msg, size_t n)
{
    const rt_project *p = rt_host_project();
    const char *rest = url + 7;
    const char *slash = strchr(rest, '/');
    char first[256];
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    snprintf(first, sizeof first, "%.*s", (int)(len < sizeof first ? len : sizeof first - 1), rest);
    *wf = len < sizeof first ? rt_host_workflow(first) : NULL;
    if (*wf) {
        if ((*wf)->trigger != RT_TRIG_REQUEST) {
            snprintf(msg, n, "workflow %s has no request trigger%s", (*wf)->name,
                     (*wf)->trigger == RT_TRIG_EVENT ? " (it is an event trigger: POST /events/NAME)" : "");
            return false;
        }
        if (slash && (!slash[1] || strchr(slash + 1, '/'))) {
            snprintf(msg, n, "POST /hooks/WORKFLOW/USER names one user");
            return false;
        }
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Flow-User");
        *user = slash ? slash + 1 : h && *h ? h : NULL;
        return true;
    }
    const rt_workflow *only = NULL;
    int nreq = 0;
    for (int i = 0; i < p->nworkflows; i++)
        if (p->workflows[i]->trigger == RT_TRIG_REQUEST) only = p->workflows[i], nreq++;
    if (nreq == 1 && !slash && *rest) {         /* /hooks/USER: the project's only webhook */
        *wf = only;
        *user = rest;
        return true;
    }
    if (!nreq) {
        if (p->nworkflows == 1)
            snprintf(msg, n, "%s has no request trigger%s", p->workflows[0]->name,
                     p->workflows[0]->trigger == RT_TRIG_EVENT ? " (it is an event trigger: POST /events/NAME)" : "");
        else
            snprintf(msg, n, "no workflow of this project has a request trigger");
    } else if (!*rest || (nreq == 1 && slash)) {
        snprintf(msg, n, "POST /hooks/USER names one user");
    } else {
        char *shown = rt_redact_shorten(first, 100);
        char names[2048] = "";
        for (int i = 0; i < p->nworkflows; i++)
            if (p->workflows[i]->trigger == RT_TRIG_REQUEST)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "",
                         p->workflows[i]->name);
        snprintf(msg, n, "no request-trigger workflow '%s' (POST /hooks/WORKFLOW/USER; the project's: %s)", shown, names);
        free(shown);
    }
    return false;
}

/* A `trigger enabled` run an activation through the API started: stored
** (owned by this serve) and queued. */
static void api_start_run(void *arg, json_t *rec)
{
    serve *sv = arg;
    rt_owner_stamp(rec);
    const char *id = json_string_value(json_object_get(rec, "id"));
    rt_store_write w = { .run_id = id, .run = rec };
    char err[512];
    if (!rt_store_commit(sv->st, &w, err, sizeof err))
        rt_log_emit(id, "error", NULL, "the enabled run was not stored: %s", err);
    else
        rt_serve_queue_push(sv, id, json_string_value(json_object_get(rec, "user")), true);
    json_decref(rec);
}

/* /api/... (rt_host_api.h), answered here on MHD's thread. */
static enum MHD_Result api_request(request *rq, const char *path, const char *method)
{
    serve *sv = rq->sv;
    rt_host_api_ctx c = { .st = sv->st, .state_dir = sv->state_dir, .start_run = api_start_run, .arg = sv };
    unsigned status = 500;
    json_t *answer = rt_host_api(&c, method, path, rq->body.data, rq->body.len, &status);
    return rt_serve_answer_json(rq, status, answer);
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
        json_t *versions = json_object();
        const rt_project *proj = rt_host_project();
        for (int i = 0; i < proj->nworkflows; i++)
            json_object_set_new(versions, proj->workflows[i]->name, json_string(proj->workflows[i]->version));
        return rt_serve_answer_json(rq, draining ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                           json_pack("{s:s, s:s, s:s, s:i, s:o}", "status", draining ? "draining" : "ok", "workflow",
                                     wf->name, "version", wf->version, "other_version_runs", other, "workflows",
                                     versions));
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
        char msg[1024];
        if (rt_host_accept_listened(url + 8, msg, sizeof msg)) return rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
        const char *user = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Flow-User");
        return accept_run(rq, user && *user ? user : NULL, NULL, url + 8);
    }
    if (strncmp(url, "/hooks/", 7) == 0) {
        if (!post) return rt_serve_answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        const rt_workflow *hwf;
        const char *user;
        char msg[600];
        if (!hook_target(url, rq->conn, &hwf, &user, msg, sizeof msg))
            return rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
        return accept_run(rq, user, hwf, NULL);
    }
    if (strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0) return api_request(rq, url + 4, method);
    return rt_serve_answer_error(rq, MHD_HTTP_NOT_FOUND, "no such endpoint (POST /events/NAME, POST /hooks/WORKFLOW/USER, "
                                                         "GET /runs/ID, /api/users/ID, /api/workflows, /healthz, /metrics)");
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
        if (rq->answer_plan) {
            unsigned status;
            json_t *answer = rt_host_accept_answer(&rq->plan, &status);
            return rt_serve_answer_json(rq, status, answer);
        }
        const char *text = rq->answer ? rq->answer : "null";
        return rt_serve_answer_text(rq, rq->status, text, "application/json");
    }
    if (rq->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body over %ld bytes", sv->o.max_body);
        return rt_serve_answer_error(rq, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    const rt_workflow *signed_wf;
    const char *signer = NULL;
    char why[600];
    if (rq->check_signature && (!hook_target(url, conn, &signed_wf, &signer, why, sizeof why) || !signer ||
                                !signature_ok(rq, signer)))
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
    rt_host_accept_free(&rq->plan);
    json_decref(rq->answer_headers);
    free(rq->user);
    free(rq->idem_error);
    free(rq);
    *con_cls = NULL;
    pthread_mutex_lock(&sv->mlock);
    sv->in_flight--;
    pthread_mutex_unlock(&sv->mlock);
}


