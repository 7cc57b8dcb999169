/*
** rt_test.c — [commands] runs test blocks in-process: each test is one run of the
** workflow, in test mode, over a throw-away LMDB state, with every HTTP
** request answered by the test's mocks; then its expects are evaluated over
** the finished run's step results, output and status.
*/
#include "rt_test.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include "rt_cli.h"
#include "rt_host.h"
#include "rt_exec.h"
#include "rt_http.h"
#include "rt_log.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_util.h"
#include "rt_value.h"

/* ---- mocks -------------------------------------------------------------- */

typedef struct mock_state {
    const rt_test_mock *m;
    char *url;                  /* owned: absolute, integration base resolved */
    int hits;                   /* requests answered so far */
} mock_state;

typedef struct test_http {
    mock_state *mocks;
    int nmocks;
    json_t *unmocked;           /* owned: "METHOD URL" of each unmocked request */
    pthread_mutex_t lock;
} test_http;

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decoding of s[0..n) ('+' is a space in queries). New string. */
static char *url_decode(const char *s, size_t n)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            rt_buf_putc(&b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else {
            rt_buf_putc(&b, s[i] == '+' ? ' ' : s[i]);
        }
    }
    return rt_buf_take(&b);
}

/* Glob match of s[0..sn) against p[0..pn): '*' is any run of characters. */
static bool glob_match(const char *p, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pn && p[pi] == s[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '*') pi++;
    return pi == pn;
}

/* Whether the decoded pair k=v occurs in the query q[0..qn). */
static bool query_has(const char *q, size_t qn, const char *k, const char *v)
{
    size_t i = 0;
    while (i < qn) {
        size_t e = i;
        while (e < qn && q[e] != '&') e++;
        const char *eq = memchr(q + i, '=', e - i);
        size_t kl = eq ? (size_t)(eq - (q + i)) : e - i;
        char *qk = url_decode(q + i, kl);
        char *qv = eq ? url_decode(eq + 1, (size_t)(q + e - eq - 1)) : rt_xstrdup("");
        bool same = strcmp(qk, k) == 0 && (strcmp(v, "*") == 0 || strcmp(qv, v) == 0);
        free(qk);
        free(qv);
        if (same) return true;
        i = e + 1;
    }
    return false;
}

/* A mock URL matches a request URL when the parts before '?' match ('*'
** matching any run of characters) and every query parameter the mock
** names occurs in the request with that value (decoded; order and extra
** parameters do not matter). A mock without '?' matches any query. */
static bool url_matches(const char *pattern, const char *url)
{
    const char *pq = strchr(pattern, '?'), *uq = strchr(url, '?');
    const char *ufrag = strchr(url, '#');
    size_t pn = pq ? (size_t)(pq - pattern) : strlen(pattern);
    size_t un = uq ? (size_t)(uq - url) : ufrag ? (size_t)(ufrag - url) : strlen(url);
    if (!glob_match(pattern, pn, url, un)) return false;
    if (!pq || !pq[1]) return true;
    const char *q = uq ? uq + 1 : "";
    size_t qn = ufrag && ufrag > q ? (size_t)(ufrag - q) : strlen(q);
    const char *p = pq + 1;
    while (*p) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char *k = url_decode(p, eq ? (size_t)(eq - p) : len);
        char *v = eq ? url_decode(eq + 1, (size_t)(p + len - eq - 1)) : rt_xstrdup("");
        bool ok = !*k || query_has(q, qn, k, v);
        free(k);
        free(v);
        if (!ok) return false;
        p += len + (e ? 1 : 0);
    }
    return true;
}

static bool answer_mock(const rt_test_response *r, long delay, const rt_http_request *rq, rt_http_response *rs)
{
    long timeout = rq->timeout_ms > 0 ? rq->timeout_ms : RT_HTTP_DEFAULT_TIMEOUT_MS;
    if (delay > timeout) {
        rt_http_response_fail(rs, "%s %s timed out after %ld ms (the mock answers after %ld ms)",
                              rq->method ? rq->method : "GET", rq->url, timeout, delay);
        rs->retryable = true;
        rs->elapsed_ms = timeout;
        return false;
    }
    rs->elapsed_ms = delay;
    rs->status = r->status;
    json_t *hs = rt_http_response_headers(rs);     /* a mock's headers go straight to the object */
    if (r->headers_json) {
        json_t *h = json_loads(r->headers_json, 0, NULL);
        const char *k;
        json_t *v;
        json_object_foreach(h, k, v) {
            char *low = rt_xstrdup(k);
            for (char *q = low; *q; q++) *q = (char)tolower((unsigned char)*q);
            if (json_is_string(v)) {
                json_object_set(hs, low, v);
            } else {
                rt_buf b = { 0 };
                rt_buf_append(&b, "", 0);
                rt_value_render(&b, v);
                json_object_set_new(hs, low, json_string(b.data));
                rt_buf_free(&b);
            }
            free(low);
        }
        json_decref(h);
    }
    if (r->body_json) {
        json_t *body = json_loads(r->body_json, JSON_DECODE_ANY, NULL);
        if (body) {
            json_decref(rs->body);
            rs->body = body;
            if (!json_object_get(hs, "content-type"))
                json_object_set_new(hs, "content-type",
                                    json_string(r->body_text ? "text/plain; charset=utf-8" : "application/json"));
        }
    }
    return true;
}

/* The name of the step that sent a request, from its Idempotency-Key
** "RUN_ID:PATH" (PATH "tagged[2].add", perhaps ":page2" after it), as a
** NEW string; NULL when the workflow set its own key. */
static char *step_of_key(const char *key)
{
    const char *path = key ? strchr(key, ':') : NULL;
    if (!path) return NULL;
    path++;
    const char *end = strchr(path, ':');
    size_t n = end ? (size_t)(end - path) : strlen(path);
    const char *dot = NULL;
    for (const char *p = path; p < path + n; p++)
        if (*p == '.') dot = p;
    if (dot) {
        n -= (size_t)(dot + 1 - path);
        path = dot + 1;
    }
    return n ? rt_xstrndup(path, n) : NULL;
}

static bool mock_intercept(void *arg, const rt_http_request *rq, rt_http_response *rs)
{
    test_http *th = arg;
    const char *method = rq->method ? rq->method : "GET";
    pthread_mutex_lock(&th->lock);
    for (int i = 0; i < th->nmocks; i++) {
        mock_state *ms = &th->mocks[i];
        const rt_test_mock *m = ms->m;
        if (strcasecmp(m->method, method) != 0 || !url_matches(ms->url, rq->url)) continue;
        if (m->times > 0 && ms->hits >= m->times) continue;
        int k = ms->hits < m->nresponses ? ms->hits : m->nresponses - 1;
        ms->hits++;
        pthread_mutex_unlock(&th->lock);
        if (k < 0) return rt_http_response_fail(rs, "mock %s %s has no response", m->method, ms->url);
        return answer_mock(&m->responses[k], m->delay_ms, rq, rs);
    }
    char *raw = rt_xprintf("%s %s", method, rq->url);
    char *what = rt_redact(raw);        /* a URL may carry a secret ("/y/{{secret.tok}}"): never shown */
    free(raw);
    char *step = step_of_key(rq->idempotency_key ? rq->idempotency_key
                                                 : json_string_value(json_object_get(rq->headers, "Idempotency-Key")));
    json_array_append_new(th->unmocked, json_pack("{s:s, s:s?}", "request", what, "step", step));
    free(step);
    pthread_mutex_unlock(&th->lock);
    rt_http_response_fail(rs, "no mock answers %s (add `mock %s \"...\" -> STATUS BODY` to the test)", what, method);
    free(what);
    rs->retryable = false;
    return false;
}

/* ---- one test ------------------------------------------------------------ */

typedef struct expect_result {
    bool ok;
    char *error;                /* owned: an error evaluating it */
    char *v[2];                 /* owned: rendered operands, NULL when not evaluated */
} expect_result;

typedef struct test_run {
    const rt_test_case *t;
    expect_result *results;     /* owned, one per expect */
    bool evaluated;
} test_run;

static char *render_value(json_t *v)
{
    /* rt_json_text, not json_dumps: a string that is not UTF-8 is shown
    ** repaired, not lost */
    return v ? rt_json_text(v) : NULL;
}

static void evaluate_expects(rt_ctx *c, void *arg)
{
    test_run *tr = arg;
    free(rt_ctx_take_error(c));        /* whatever stopped the run is reported apart */
    for (int i = 0; i < tr->t->nexpects; i++) {
        const rt_test_expect *e = &tr->t->expects[i];
        expect_result *r = &tr->results[i];
        json_t *v[2] = { NULL, NULL };
        r->ok = e->fn(c, v);
        r->error = rt_ctx_take_error(c);
        if (r->error) r->ok = false;
        r->v[0] = render_value(v[0]);
        r->v[1] = render_value(v[1]);
    }
    tr->evaluated = true;
}

/* The settings a test runs with: given ones over the defaults, checked. */
static json_t *test_settings(const rt_workflow *wf, const rt_test_case *t, char *err, size_t n)
{
    json_t *given = t->settings_json ? json_loads(t->settings_json, 0, NULL) : json_object();
    json_t *out = json_object();
    for (int i = 0; i < wf->nsettings; i++) {
        const rt_setting *s = &wf->settings[i];
        json_t *v = json_object_get(given, s->name);
        if (v) {
            json_object_set(out, s->name, v);
        } else if (s->default_json) {
            json_object_set_new(out, s->name, json_loads(s->default_json, JSON_DECODE_ANY, NULL));
        } else if (rt_type_optional(s->type)) {
            json_object_set_new(out, s->name, json_null());     /* `T?` without a default: null */
        } else {
            snprintf(err, n, "setting '%s' has no default: give it in the test's settings { %s: ... }", s->name,
                     s->name);
            json_decref(given);
            json_decref(out);
            return NULL;
        }
        char what[200];
        snprintf(what, sizeof what, "setting '%s'", s->name);
        if (!rt_type_check(s->type, json_object_get(out, s->name), what, err, n)) {
            json_decref(given);
            json_decref(out);
            return NULL;
        }
    }
    json_decref(given);
    return out;
}

/* An integration's base URL as a test sees it: its env line first. */
static const char *test_base_url(const rt_integration *in, const json_t *env)
{
    char var[160];
    const char *e = json_string_value(json_object_get(env, rt_env_name(var, sizeof var, "FLOW_", in->name, "_BASE_URL")));
    return e && *e ? e : in->base_url;
}

typedef struct test_outcome {
    bool passed;
    const char *status;         /* the run's final status */
    char *setup_error;          /* owned: the test could not start */
    char *run_error;            /* owned: why the run failed */
    json_t *unmocked;           /* owned */
    expect_result *results;     /* owned */
    long ms;
    json_t *log;                /* owned: the run's log lines (--verbose), or NULL */
} test_outcome;

/* An unmocked request fails the test unless an expect reads the .ok or
** .error of the step that sent it. */
static bool unmocked_expected(const rt_test_case *t, const json_t *unmocked)
{
    size_t i;
    json_t *u;
    json_array_foreach(unmocked, i, u) {
        const char *step = json_string_value(json_object_get(u, "step"));
        bool read = false;
        for (const char *const *p = t->reads_ok; step && p && *p; p++) read |= strcmp(*p, step) == 0;
        if (!read) return false;
    }
    return true;
}

static void run_one(const rt_workflow *wf, rt_store *st, const rt_test_case *t, test_outcome *o)
{
    memset(o, 0, sizeof *o);
    int64_t t0 = rt_mono_ms();
    o->status = "not run";
    o->results = rt_xcalloc((size_t)t->nexpects + 1, sizeof *o->results);
    char err[1024];

    json_t *env = json_object();
    for (const char *const *p = t->env; p && p[0] && p[1]; p += 2) json_object_set_new(env, p[0], json_string(p[1]));
    json_t *secrets = json_object();
    for (const char *const *p = t->secrets; p && p[0] && p[1]; p += 2)
        json_object_set_new(secrets, p[0], json_string(p[1]));

    test_http th = { .nmocks = t->nmocks, .unmocked = json_array() };
    pthread_mutex_init(&th.lock, NULL);
    th.mocks = rt_xcalloc((size_t)t->nmocks + 1, sizeof *th.mocks);
    for (int i = 0; i < t->nmocks; i++) {
        th.mocks[i].m = &t->mocks[i];
        th.mocks[i].url = t->mocks[i].integ ? rt_url_join(test_base_url(t->mocks[i].integ, env), t->mocks[i].url)
                                            : rt_xstrdup(t->mocks[i].url);
    }

    json_t *payload = t->event_json ? json_loads(t->event_json, JSON_DECODE_ANY, NULL) : json_object();
    rt_host_trigger_defaults(wf, payload, rt_now_ms());
    json_t *settings = NULL;
    if (!payload) {
        o->setup_error = rt_xstrdup("the test event is not valid JSON");
    } else if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, payload, "test event", err, sizeof err)) {
        o->setup_error = rt_xstrdup(err);
    } else if (!(settings = test_settings(wf, t, err, sizeof err))) {
        o->setup_error = rt_xstrdup(err);
    }

    if (!o->setup_error) {
        char id[RT_RUN_ID_LEN + 1];
        rt_store_new_run_id(id);
        int64_t now = rt_now_ms();
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s?, s:O, s:O, s:s, s:i, s:I, s:I, s:i, s:s}", "id", id,
                                "workflow", wf->name, "version", wf->version, "user", t->user, "trigger", payload,
                                "settings", settings, "status", rt_status_name(RT_ST_RUNNING), "attempt", 1, "created", (json_int_t)now,
                                "updated", (json_int_t)now, "pid", (int)getpid(), "source", "test");
        rt_store_write w = { .run_id = id, .run = rec };
        if (!rt_store_commit(st, &w, err, sizeof err)) {
            o->setup_error = rt_xstrdup(err);
            json_decref(rec);
        } else {
            test_run tr = { .t = t, .results = o->results };
            rt_run_state run;
            rt_run_open(&run, &(rt_run_setup){ .wf = wf, .store = st, .record = rec, .test_mode = true,
                                               .test_env = env, .test_secrets = secrets });
            run.on_finish = evaluate_expects;
            run.on_finish_arg = &tr;
            rt_http_set_intercept(mock_intercept, &th);
            rt_outcome out = rt_exec_run(&run);
            rt_http_set_intercept(NULL, NULL);
            o->status = rt_status_name(out == RT_RUN_SKIPPED ? RT_ST_INTERRUPTED : rt_run_outcome_status(out));
            if (run.error) o->run_error = rt_xstrdup(run.error);
            bool ok = tr.evaluated && (out == RT_RUN_SUCCEEDED || (t->reads_status && out == RT_RUN_FAILED));
            for (int i = 0; i < t->nexpects; i++) ok &= o->results[i].ok;
            ok &= unmocked_expected(t, th.unmocked);
            o->passed = ok;
            rt_run_free(&run);
        }
    }
    o->unmocked = th.unmocked;
    for (int i = 0; i < t->nmocks; i++) free(th.mocks[i].url);
    free(th.mocks);
    pthread_mutex_destroy(&th.lock);
    json_decref(payload);
    json_decref(settings);
    json_decref(env);
    json_decref(secrets);
    o->ms = (long)(rt_mono_ms() - t0);
}

static void outcome_free(const rt_test_case *t, test_outcome *o)
{
    for (int i = 0; i < t->nexpects; i++) {
        free(o->results[i].error);
        free(o->results[i].v[0]);
        free(o->results[i].v[1]);
    }
    free(o->results);
    free(o->setup_error);
    free(o->run_error);
    json_decref(o->unmocked);
    json_decref(o->log);
}

/* ---- reports ------------------------------------------------------------- */

/* One report line: a NEW string, never NULL (json_sprintf refuses bytes
** that are not UTF-8, which would drop the line; they are kept, and the
** report is written repaired). */
static json_t *text_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *text_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = rt_xvprintf(fmt, ap);
    va_end(ap);
    json_t *j = rt_json_bytes(s);
    free(s);
    return j;
}

/* The lines that explain a failure (no timings: goldens compare them). */
static json_t *failure_lines(const rt_test_case *t, const test_outcome *o)
{
    json_t *lines = json_array();
    if (o->setup_error) {
        json_array_append_new(lines, text_line("%s:%d: test setup: %s", t->file, t->line, o->setup_error));
        return lines;
    }
    bool status_ok = rt_status_parse(o->status) == RT_ST_SUCCEEDED || (t->reads_status && rt_status_parse(o->status) == RT_ST_FAILED);
    if (!status_ok || (o->run_error && rt_status_parse(o->status) == RT_ST_FAILED && !t->reads_status))
        json_array_append_new(lines, text_line("run %s: %s", o->status, o->run_error ? o->run_error : "-"));
    for (int i = 0; i < t->nexpects; i++) {
        const rt_test_expect *e = &t->expects[i];
        const expect_result *r = &o->results[i];
        if (r->ok) continue;
        json_array_append_new(lines, text_line("%s:%d:%d: expect failed: %s", t->file, e->line, e->col, e->source));
        if (r->error) json_array_append_new(lines, text_line("  error: %s", r->error));
        if (e->noperands == 2) {
            json_array_append_new(lines, text_line("  left:  %s", r->v[0] ? r->v[0] : "(not evaluated)"));
            json_array_append_new(lines, text_line("  right: %s", r->v[1] ? r->v[1] : "(not evaluated)"));
        } else if (r->v[0]) {
            json_array_append_new(lines, text_line("  value: %s", r->v[0]));
        }
    }
    size_t i;
    json_t *u;
    json_array_foreach(o->unmocked, i, u) {
        const char *step = json_string_value(json_object_get(u, "step"));
        const char *req = json_string_value(json_object_get(u, "request"));
        if (step) json_array_append_new(lines, text_line("unmocked request: %s (step '%s')", req, step));
        else json_array_append_new(lines, text_line("unmocked request: %s", req));
    }
    return lines;
}

static void xml_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') fputc(' ', f);
            else fputc(*s, f);
        }
    }
}

static void report_text(const rt_test_case *t, const test_outcome *o)
{
    printf("%s %s\n", o->passed ? "PASS" : "FAIL", t->name);
    size_t i;
    json_t *l;
    if (!o->passed) {
        json_t *lines = failure_lines(t, o);
        json_array_foreach(lines, i, l) printf("    %s\n", json_string_value(l));
        json_decref(lines);
    }
    if (json_array_size(o->log)) {
        printf("    log:\n");
        json_array_foreach(o->log, i, l) printf("      %s\n", json_string_value(l));
    }
}

static void report_json(const rt_workflow *wf, const rt_test_case *t, const test_outcome *o)
{
    json_t *obj = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:I}", "workflow", wf->name, "file", t->file, "test",
                            t->name, "line", t->line, "result", o->passed ? "pass" : "fail", "run_status", o->status,
                            "ms", (json_int_t)o->ms);
    if (o->run_error) json_object_set_new(obj, "run_error", rt_json_bytes(o->run_error));
    if (o->setup_error) json_object_set_new(obj, "setup_error", rt_json_bytes(o->setup_error));
    json_t *fails = json_array();
    for (int i = 0; i < t->nexpects; i++) {
        const rt_test_expect *e = &t->expects[i];
        const expect_result *r = &o->results[i];
        if (r->ok || o->setup_error) continue;
        json_t *f = json_pack("{s:s, s:i, s:i}", "expect", e->source, "line", e->line, "col", e->col);
        if (r->error) json_object_set_new(f, "error", rt_json_bytes(r->error));
        const char *k0 = e->noperands == 2 ? "left" : "value";
        if (r->v[0]) json_object_set_new(f, k0, json_loads(r->v[0], JSON_DECODE_ANY, NULL));
        if (e->noperands == 2 && r->v[1]) json_object_set_new(f, "right", json_loads(r->v[1], JSON_DECODE_ANY, NULL));
        json_array_append_new(fails, f);
    }
    json_object_set_new(obj, "failures", fails);
    json_t *unmocked = json_array();
    size_t k;
    json_t *u;
    json_array_foreach(o->unmocked, k, u) json_array_append(unmocked, json_object_get(u, "request"));
    json_object_set_new(obj, "unmocked", unmocked);
    if (o->log) json_object_set(obj, "log", o->log);
    char *s = rt_json_text(obj);       /* never fails: bytes that are not UTF-8 come out repaired */
    printf("%s\n", s);
    free(s);
    json_decref(obj);
}

static void report_junit(FILE *f, const rt_workflow *wf, const rt_test_case *t, const test_outcome *o)
{
    fputs("    <testcase classname=\"", f);
    xml_escaped(f, wf->name);
    fputs("\" name=\"", f);
    xml_escaped(f, t->name);
    fprintf(f, "\" file=\"");
    xml_escaped(f, t->file);
    fprintf(f, "\" line=\"%d\" time=\"%.3f\"", t->line, o->ms / 1000.0);
    if (o->passed) {
        fputs("/>\n", f);
        return;
    }
    json_t *lines = failure_lines(t, o);
    fputs(">\n      <failure message=\"", f);
    xml_escaped(f, json_array_size(lines) ? json_string_value(json_array_get(lines, 0)) : "failed");
    fputs("\">", f);
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        xml_escaped(f, json_string_value(l));
        fputc('\n', f);
    }
    fputs("</failure>\n    </testcase>\n", f);
    json_decref(lines);
}

/* ---- the suite ----------------------------------------------------------- */

/* A scratch directory for the suite's state: tmpfs when there is one. */
static char *scratch_dir(void)
{
    const char *bases[3] = { "/dev/shm", getenv("TMPDIR"), "/tmp" };
    for (int i = 0; i < 3; i++) {
        if (!bases[i] || !*bases[i] || access(bases[i], W_OK) != 0) continue;
        char *d = rt_xprintf("%s/flowc-test-XXXXXX", bases[i]);
        if (mkdtemp(d)) return d;
        free(d);
    }
    return NULL;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *p = rt_xprintf("%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Run log lines are kept per test (shown with --verbose), never printed
** as they come. */
static void log_keep(void *arg, const char *level, const char *msg)
{
    json_t *lines = *(json_t **)arg;
    if (!lines) return;
    if (strcmp(level, "info") == 0) json_array_append_new(lines, json_string(msg));
    else json_array_append_new(lines, text_line("%s: %s", level, msg));
}

int rt_test_main(const rt_workflow *wf, const rt_test_case *tests, int ntests, const char *filter, int flags,
                 FILE *junit, int *counts)
{
    bool json = flags & RT_TEST_JSON, verbose = flags & RT_TEST_VERBOSE;
    json_t *log_lines = NULL;      /* the running test's log, or NULL */
    char *dir = scratch_dir();
    if (!dir) {
        fprintf(stderr, "flowc test: cannot create a scratch directory: %s\n", strerror(errno));
        return 2;
    }
    char err[512];
    rt_store *st = rt_store_open(dir, true, err, sizeof err);
    if (!st) {
        fprintf(stderr, "flowc test: %s\n", err);
        remove_dir(dir);
        free(dir);
        return 2;
    }
    rt_log_set_sink(log_keep, &log_lines);
    rt_signal_install();

    int passed = 0, failed = 0;
    int64_t t0 = rt_mono_ms();
    char *cases = NULL;            /* the <testcase>s, written after the counts are known */
    size_t cases_len = 0;
    FILE *jf = junit ? open_memstream(&cases, &cases_len) : NULL;
    for (int i = 0; i < ntests; i++) {
        const rt_test_case *t = &tests[i];
        if (filter && !strstr(t->name, filter)) continue;
        test_outcome o;
        log_lines = verbose ? json_array() : NULL;
        run_one(wf, st, t, &o);
        o.log = log_lines;
        log_lines = NULL;
        if (o.passed) passed++;
        else failed++;
        if (json) report_json(wf, t, &o);
        else report_text(t, &o);
        if (jf) report_junit(jf, wf, t, &o);
        outcome_free(t, &o);
        fflush(stdout);
    }
    if (jf) {
        fclose(jf);
        fputs("  <testsuite name=\"", junit);
        xml_escaped(junit, ntests ? tests[0].file : wf->source_path);
        fprintf(junit, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" time=\"%.3f\">\n", passed + failed, failed,
                (double)(rt_mono_ms() - t0) / 1000.0);
        if (cases) fputs(cases, junit);
        fputs("  </testsuite>\n", junit);
    }
    free(cases);

    rt_signal_restore();
    rt_log_set_sink(NULL, NULL);
    rt_store_close(st);
    remove_dir(dir);
    free(dir);
    rt_value_teardown();
    rt_log_teardown();
    counts[0] += passed;
    counts[1] += failed;
    return failed ? 1 : 0;
}
