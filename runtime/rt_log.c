/*
** rt_log.c — log lines on stderr and redaction of secret values.
*/
#include "rt_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>

#include "rt_http.h"
#include "rt_util.h"

static bool log_json_mode;
static const char *log_workflow = "flow";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static char **secrets;          /* registered values, longest first */
static int nsecrets;
static pthread_rwlock_t secret_lock = PTHREAD_RWLOCK_INITIALIZER;

static int64_t log_flushed;     /* rt_mono_ms of the last flush */

void rt_log_setup(bool json, const char *workflow)
{
    log_json_mode = json;
    if (workflow) log_workflow = workflow;
    /* A pipe or file gets block-buffered lines, flushed at least every 50 ms
    ** and before anything slow: a 10,000-step run should not cost 10,000
    ** write(2)s. A terminal stays unbuffered. */
    if (!isatty(2)) setvbuf(stderr, NULL, _IOFBF, 1 << 16);
}

void rt_log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    fflush(stderr);
    log_flushed = rt_mono_ms();
    pthread_mutex_unlock(&log_lock);
}

bool rt_log_json(void)
{
    return log_json_mode;
}

/* Whether s is registered; the caller holds secret_lock. */
static bool redact_known_locked(const char *s)
{
    for (int i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], s) == 0) return true;
    return false;
}

/* Adds s (copied) unless registered; the caller holds the write lock. */
static void redact_insert_locked(const char *s)
{
    if (redact_known_locked(s)) return;
    secrets = rt_xrealloc(secrets, sizeof *secrets * (size_t)(nsecrets + 1));
    /* keep longest first so a secret containing another is replaced whole */
    size_t len = strlen(s);
    int at = nsecrets;
    while (at > 0 && strlen(secrets[at - 1]) < len) {
        secrets[at] = secrets[at - 1];
        at--;
    }
    secrets[at] = rt_xstrdup(s);
    nsecrets++;
}

/* Wipes and frees a buffer that held a secret's encoding. */
static void redact_buf_wipe(rt_buf *b)
{
    if (b->data) memset(b->data, 0, b->len);
    rt_buf_free(b);
}

void rt_redact_add(const char *secret)
{
    if (!secret || strlen(secret) < 4) return;
    /* secret_value calls this on every read: a secret seen before costs a
    ** shared lock and a scan, not the write lock */
    pthread_rwlock_rdlock(&secret_lock);
    bool known = redact_known_locked(secret);
    pthread_rwlock_unlock(&secret_lock);
    if (known) return;
    /* A request sends a secret percent-encoded when it goes in a query or a
    ** form body, or through url_encode(): register those forms (made by the
    ** encoder that sends them) with it. '+' for a space is the HTML form
    ** variant, which an API echoing the request may use. Every form goes in
    ** under one write lock, so whoever finds the secret registered above
    ** finds its encodings too. */
    size_t len = strlen(secret);
    rt_buf pct = { 0 }, plus = { 0 };
    rt_http_escape(&pct, secret, len, false);
    if (memchr(secret, ' ', len)) rt_http_escape(&plus, secret, len, true);
    pthread_rwlock_wrlock(&secret_lock);
    if (strcmp(pct.data, secret) != 0) redact_insert_locked(pct.data);
    if (plus.data) redact_insert_locked(plus.data);
    redact_insert_locked(secret);
    pthread_rwlock_unlock(&secret_lock);
    redact_buf_wipe(&pct);
    redact_buf_wipe(&plus);
}

void rt_log_teardown(void)
{
    rt_log_flush();
    pthread_rwlock_wrlock(&secret_lock);
    for (int i = 0; i < nsecrets; i++) {
        memset(secrets[i], 0, strlen(secrets[i]));
        free(secrets[i]);
    }
    free(secrets);
    secrets = NULL;
    nsecrets = 0;
    pthread_rwlock_unlock(&secret_lock);
    log_workflow = "flow";      /* the name may live in code about to be unloaded */
}

/* Redacts into a buffer; returns false when s holds no secret. */
static bool redact_into(const char *s, rt_buf *out)
{
    bool found = false;
    const char *p = s;
    while (*p) {
        int hit = -1;
        for (int i = 0; i < nsecrets; i++) {
            if (*p == secrets[i][0] && strncmp(p, secrets[i], strlen(secrets[i])) == 0) {
                hit = i;
                break;
            }
        }
        if (hit >= 0) {
            rt_buf_puts(out, "[redacted]");
            p += strlen(secrets[hit]);
            found = true;
        } else {
            rt_buf_putc(out, *p++);
        }
    }
    return found;
}

bool rt_redact_holds(const char *s)
{
    if (!s) return false;
    bool found = false;
    pthread_rwlock_rdlock(&secret_lock);
    for (int i = 0; i < nsecrets && !found; i++) found = strstr(s, secrets[i]) != NULL;
    pthread_rwlock_unlock(&secret_lock);
    return found;
}

char *rt_redact(const char *s)
{
    if (!s) return NULL;
    pthread_rwlock_rdlock(&secret_lock);
    if (!nsecrets) {
        pthread_rwlock_unlock(&secret_lock);
        return rt_xstrdup(s);
    }
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    redact_into(s, &b);
    pthread_rwlock_unlock(&secret_lock);
    return rt_buf_take(&b);
}

static json_t *redact_json_locked(json_t *v)
{
    if (json_is_string(v)) {
        rt_buf b = { 0 };
        rt_buf_append(&b, "", 0);
        json_t *r = redact_into(json_string_value(v), &b) ? json_string(b.data) : json_incref(v);
        rt_buf_free(&b);
        return r ? r : json_incref(v);
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) json_array_append_new(out, redact_json_locked(item));
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *item;
        json_object_foreach(v, k, item) json_object_set_new(out, k, redact_json_locked(item));
        return out;
    }
    return json_incref(v);
}

json_t *rt_redact_json(json_t *v)
{
    if (!v) return json_null();
    pthread_rwlock_rdlock(&secret_lock);
    json_t *r = nsecrets ? redact_json_locked(v) : json_incref(v);
    pthread_rwlock_unlock(&secret_lock);
    return r;
}

static rt_log_sink_fn log_sink;
static void *log_sink_arg;

void rt_log_set_sink(rt_log_sink_fn fn, void *arg)
{
    pthread_mutex_lock(&log_lock);
    log_sink = fn;
    log_sink_arg = arg;
    pthread_mutex_unlock(&log_lock);
}

void rt_log_emit(const char *run_id, const char *level, json_t *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = rt_xvprintf(fmt, ap);
    va_end(ap);
    char *msg = rt_redact(raw);
    free(raw);
    char ts[40];
    rt_format_time(rt_now_ms(), ts, sizeof ts);

    pthread_mutex_lock(&log_lock);
    if (log_sink) {
        log_sink(log_sink_arg, level, msg);
        pthread_mutex_unlock(&log_lock);
        json_decref(fields);
        free(msg);
        return;
    }
    if (log_json_mode) {
        json_t *o = json_object();
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(level));
        json_object_set_new(o, "workflow", json_string(log_workflow));
        if (run_id) json_object_set_new(o, "run", json_string(run_id));
        if (fields) {
            json_t *red = rt_redact_json(fields);
            json_object_update(o, red);
            json_decref(red);
        }
        json_object_set_new(o, "msg", json_string(msg));
        char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        /* "12:00:01.123 basic 0193ab.. step 'person' succeeded (HTTP 200, 12 ms)" */
        const char *tag = strcmp(level, "info") == 0 ? "" : strcmp(level, "error") == 0 ? " error:" : " warning:";
        /* one fwrite of the assembled line: a line per step makes fprintf's parsing show */
        rt_buf line = { 0 };
        rt_buf_reserve(&line, 64 + strlen(msg));
        rt_buf_append(&line, ts + 11, 12);
        rt_buf_putc(&line, ' ');
        rt_buf_puts(&line, log_workflow);
        if (run_id) {
            rt_buf_putc(&line, ' ');
            rt_buf_puts(&line, run_id);
        }
        rt_buf_puts(&line, tag);
        rt_buf_putc(&line, ' ');
        rt_buf_puts(&line, msg);
        rt_buf_putc(&line, '\n');
        fwrite(line.data, 1, line.len, stderr);
        rt_buf_free(&line);
    }
    int64_t now = rt_mono_ms();
    if (now - log_flushed >= 50 || strcmp(level, "info") != 0) {
        fflush(stderr);
        log_flushed = now;
    }
    pthread_mutex_unlock(&log_lock);
    json_decref(fields);
    free(msg);
}
