/*
** rt_serve_answer.c — [drivers] serve's answers: a response queued on a
** connection, a suspended accept resumed with its answer, and the webhook
** requests that wait for their run's end (answered with its output, or
** 202 after --hook-timeout).
*/
#include "rt_serve_answer.h"

#include "rt_json.h"
#include "rt_log.h"
#include "rt_redact.h"
#include "rt_status.h"

const unsigned rt_serve_http_codes[NCODES] = { 200, 201, 202, 400, 401, 403, 404, 405, 410, 413, 422, 429, 500, 503, 0 };

void rt_serve_count_code(serve *sv, unsigned status)
{
    size_t i = 0;
    while (rt_serve_http_codes[i] && rt_serve_http_codes[i] != status) i++;
    pthread_mutex_lock(&sv->mlock);
    sv->codes[i]++;
    pthread_mutex_unlock(&sv->mlock);
}

/* ---- answers ------------------------------------------------------------ */

enum MHD_Result rt_serve_answer_text(request *rq, unsigned status, const char *text, const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    const char *k;
    json_t *v;
    json_object_foreach(rq->answer_headers, k, v) {
        if (strcasecmp(k, MHD_HTTP_HEADER_CONTENT_TYPE) == 0) ctype = json_string_value(v);
        else MHD_add_response_header(r, k, json_string_value(v));
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_S);
    if (status == MHD_HTTP_TOO_MANY_REQUESTS) {
        char ra[24];
        snprintf(ra, sizeof ra, "%d", rq->retry_after > 0 ? rq->retry_after : 1);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (rq->replayed) MHD_add_response_header(r, "Idempotent-Replayed", "true");
    enum MHD_Result ret = MHD_queue_response(rq->conn, status, r);
    MHD_destroy_response(r);
    rq->answered = true;
    rt_serve_count_code(rq->sv, status);
    return ret;
}

/* Answers with body (a NEW reference, taken over) as JSON. */
enum MHD_Result rt_serve_answer_json(request *rq, unsigned status, json_t *body)
{
    char *text = rt_json_text(body);    /* never fails: a string that is not UTF-8 gets U+FFFD */
    json_decref(body);
    enum MHD_Result ret = rt_serve_answer_text(rq, status, text, "application/json");
    free(text);
    return ret;
}

/* {"error": msg}: msg redacted and valid UTF-8 (it may quote a request's
** bytes), so that the answer always carries it. */
enum MHD_Result rt_serve_answer_error(request *rq, unsigned status, const char *msg)
{
    char *red = rt_redact(msg);
    json_t *body = json_object();
    json_object_set_new(body, "error", json_string(red));
    free(red);
    return rt_serve_answer_json(rq, status, body);
}

/* Fills in the answer of a suspended request and resumes it; rq must not
** be touched afterwards. */
void rt_serve_resume_with(request *rq, unsigned status, json_t *body)
{
    rq->answer = rt_json_text(body);
    json_decref(body);
    rq->status = status;
    rq->ready = true;
    MHD_resume_connection(rq->conn);
}

bool rt_serve_finished_status(const char *s)
{
    return rt_status_finished(rt_status_parse(s));
}

/* The record to write for a run accepted in memory: the stored one as it
** is (its claim's group came first), else the accepted one (arg: the
** plan). Rewriting a stored record makes the transaction a full commit
** that carries every earlier lazy one to the disk. */
static json_t *accepted_record(const json_t *stored, void *arg)
{
    const rt_host_run_plan *it = arg;
    if (stored) return json_incref((json_t *)stored);
    return json_loadb(it->text, it->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* A webhook accepted in memory (rt_serve_queue_push_new) whose run may
** not have reached the disk yet: its record is stored (queued, this
** process's) unless its claim stored it already, durably. */
static bool store_in_memory(request *rq, char *err, size_t errlen)
{
    if (!rq->in_memory) return true;
    rt_store_write w = { .run_id = rq->run_id, .update = accepted_record, .update_arg = &rq->plan.runs[0] };
    return rt_store_commit(rq->sv->st, &w, err, errlen);
}

/* Answers a webhook whose run has not ended 202 with its id: a promise
** that it will run, so what its accept left lazy is flushed first
** (rt_store_commit_group), and a run accepted in memory is stored; when
** that fails, 503: send it again. */
static void promise_run(request *rq, const char *status)
{
    char err[300];
    if (store_in_memory(rq, err, sizeof err) && rt_store_flush(rq->sv->st, err, sizeof err)) {
        rt_serve_resume_with(rq, MHD_HTTP_ACCEPTED, json_pack("{s:s, s:s}", "run_id", rq->run_id, "status", status));
        return;
    }
    rt_log_emit(rq->run_id, "error", NULL, "webhook answered 503: %s", err);
    rt_serve_resume_with(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                         json_pack("{s:s, s:s}", "error", err, "run_id", rq->run_id));
}

/* A webhook's answer from its run's record: 200 with the output, 500
** with the error, 403 when it was skipped (its user may no longer run
** it), else 202 with the run id. A run that answered with `return status
** N headers {...}` (or `fail status N "message"`, whose body is {"error":
** message}) has its "reply" in the record. */
static void resume_from_record(request *rq, const json_t *rec)
{
    const char *status = json_string_value(json_object_get(rec, "status"));
    json_t *reply = json_object_get(rec, "reply");
    json_int_t code = json_integer_value(json_object_get(reply, "status"));
    json_t *headers = json_object_get(reply, "headers");
    if (reply && json_is_object(headers)) rq->answer_headers = json_incref(headers);
    if (rt_status_parse(status) == RT_ST_SUCCEEDED) {
        json_t *out = json_object_get(rec, "output");
        rt_serve_resume_with(rq, code ? (unsigned)code : MHD_HTTP_OK, out ? json_incref(out) : json_null());
    } else if (rt_status_parse(status) == RT_ST_FAILED && reply) {
        json_t *e = json_object_get(rec, "error");
        rt_serve_resume_with(rq, code ? (unsigned)code : MHD_HTTP_INTERNAL_SERVER_ERROR,
                             json_pack("{s:o}", "error", e ? json_incref(e) : rt_status_json(RT_ST_FAILED)));
    } else if (rt_status_parse(status) == RT_ST_FAILED) {
        json_t *e = json_object_get(rec, "error");
        rt_serve_resume_with(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
                    json_pack("{s:O, s:s, s:O?}", "error", e ? e : rt_status_json(RT_ST_FAILED), "run_id", rq->run_id,
                              "failed_step", json_object_get(rec, "failed_step")));
    } else if (rt_status_parse(status) == RT_ST_SKIPPED) {     /* its user may no longer run it */
        rt_serve_resume_with(rq, MHD_HTTP_FORBIDDEN, json_pack("{s:O?, s:s, s:s}", "error", json_object_get(rec, "error"),
                                                               "run_id", rq->run_id, "status", status));
    } else {
        promise_run(rq, status ? status : rt_status_name(RT_ST_QUEUED));
    }
}

/* Takes off the waiting list the webhooks of run id, or (id NULL) those
** past their deadline, or all of them: a list the caller answers. */
static request *hooks_take(serve *sv, const char *id, bool all)
{
    int64_t now = rt_mono_ms();
    request *done = NULL;
    pthread_mutex_lock(&sv->hlock);
    for (request **pp = &sv->hooks; *pp;) {
        request *r = *pp;
        if (id ? strcmp(r->run_id, id) == 0 : all || r->deadline <= now) {
            *pp = r->next;
            r->next = done;
            done = r;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&sv->hlock);
    return done;
}

/* Answers every webhook waiting for run id (rec is its final record). */
void rt_serve_hooks_finish(serve *sv, const char *id, const json_t *rec)
{
    request *done = hooks_take(sv, id, false);
    while (done) {
        request *next = done->next;
        resume_from_record(done, rec);
        done = next;
    }
}

/* Answers 202 to the webhooks past their deadline (all of them: draining). */
void rt_serve_hooks_expire(serve *sv, bool all)
{
    request *done = hooks_take(sv, NULL, all);
    while (done) {
        request *next = done->next;
        promise_run(done, rt_status_name(RT_ST_RUNNING));
        done = next;
    }
}

/* Puts a committed webhook request on the waiting list; a replayed one
** whose run already ended is answered at once. */
void rt_serve_hook_wait(serve *sv, request *rq)
{
    rq->deadline = rt_mono_ms() + sv->o.hook_timeout_ms;
    bool replayed = rq->replayed;
    char id[RT_RUN_ID_LEN + 1];
    memcpy(id, rq->run_id, sizeof id);
    pthread_mutex_lock(&sv->hlock);
    rq->next = sv->hooks;
    sv->hooks = rq;
    pthread_mutex_unlock(&sv->hlock);
    if (replayed) {
        json_t *rec = rt_store_get_run(sv->st, id);
        if (rt_serve_finished_status(json_string_value(json_object_get(rec, "status")))) rt_serve_hooks_finish(sv, id, rec);
        json_decref(rec);
    }
}
