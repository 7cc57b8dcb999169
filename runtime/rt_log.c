/*
** rt_log.c — [services] log lines on stderr, redacted.
*/
#include "rt_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>

#include "rt_redact.h"
#include "rt_json.h"
#include "rt_util.h"

static bool log_json_mode;
static const char *log_workflow = "flow";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* The workflow of each open run whose workflow is not the binary's name
** (a project's runs): run id -> name (borrowed from the compiled code),
** chained in buckets; guarded by log_lock. Empty in a project of one. */
typedef struct run_name {
    struct run_name *next;
    const char *workflow;
    char id[];
} run_name;
static run_name **run_names;
static size_t run_names_cap, run_names_len;

static size_t run_hash(const char *id)
{
    size_t h = 5381;
    for (; *id; id++) h = h * 33 + (unsigned char)*id;
    return h;
}

static void run_names_grow(void)
{
    size_t cap = run_names_cap ? run_names_cap * 2 : 64;
    run_name **b = rt_xcalloc(cap, sizeof *b);
    for (size_t i = 0; i < run_names_cap; i++)
        for (run_name *n = run_names[i], *next; n; n = next) {
            next = n->next;
            size_t h = run_hash(n->id) & (cap - 1);
            n->next = b[h];
            b[h] = n;
        }
    free(run_names);
    run_names = b;
    run_names_cap = cap;
}

void rt_log_run_begin(const char *run_id, const char *workflow)
{
    if (!run_id || !workflow || strcmp(workflow, log_workflow) == 0) return;
    size_t len = strlen(run_id);
    run_name *n = rt_xmalloc(sizeof *n + len + 1);
    memcpy(n->id, run_id, len + 1);
    n->workflow = workflow;
    pthread_mutex_lock(&log_lock);
    if (run_names_len >= run_names_cap) run_names_grow();
    size_t h = run_hash(n->id) & (run_names_cap - 1);
    n->next = run_names[h];
    run_names[h] = n;
    run_names_len++;
    pthread_mutex_unlock(&log_lock);
}

void rt_log_run_end(const char *run_id)
{
    if (!run_id) return;
    pthread_mutex_lock(&log_lock);
    if (run_names_len) {
        for (run_name **p = &run_names[run_hash(run_id) & (run_names_cap - 1)]; *p; p = &(*p)->next)
            if (strcmp((*p)->id, run_id) == 0) {
                run_name *n = *p;
                *p = n->next;
                free(n);
                run_names_len--;
                break;
            }
    }
    pthread_mutex_unlock(&log_lock);
}

/* The workflow a run's line names; log_lock held. */
static const char *run_workflow(const char *run_id)
{
    if (run_id && run_names_len)
        for (run_name *n = run_names[run_hash(run_id) & (run_names_cap - 1)]; n; n = n->next)
            if (strcmp(n->id, run_id) == 0) return n->workflow;
    return log_workflow;
}

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

const char *rt_log_name(void)
{
    return log_workflow;
}

bool rt_log_json(void)
{
    return log_json_mode;
}

void rt_log_teardown(void)
{
    rt_log_flush();
    rt_redact_teardown();
    /* the runs' workflow names go with the code that named them (flowc test
    ** and Test Step unload it: these globals go with it) */
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < run_names_cap; i++)
        for (run_name *n = run_names[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    free(run_names);
    run_names = NULL;
    run_names_cap = run_names_len = 0;
    pthread_mutex_unlock(&log_lock);
    log_workflow = "flow";      /* the name may live in code about to be unloaded */
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

/* A line per step of a 10,000-item fanout: the message is formatted on the
** stack, copied to be redacted only when it needs it (a secret is
** registered, or the text is not UTF-8), and the line assembled on the
** stack when it fits. */
static void emit_line(const char *run_id, const char *level, json_t *fields, const char *raw, size_t len);

void rt_log_emit(const char *run_id, const char *level, json_t *fields, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len >= 0 && (size_t)len < sizeof small) {
        emit_line(run_id, level, fields, small, (size_t)len);
        return;
    }
    va_start(ap, fmt);
    char *raw = rt_xvprintf(fmt, ap);
    va_end(ap);
    emit_line(run_id, level, fields, raw, strlen(raw));
    free(raw);
}

void rt_log_text(const char *run_id, const char *level, json_t *fields, const char *text)
{
    emit_line(run_id, level, fields, text, strlen(text));
}

/* "HH:MM:SS.mmm" (UTC) of ms since the epoch, what a readable line starts
** with: the time of day is the seconds modulo a day (Unix time has no leap
** seconds), so no calendar is computed for it. */
static void clock_text(int64_t ms, char out[13])
{
    int64_t in_day = ms % 86400000;
    int parts[] = { (int)(in_day / 3600000), (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60) };
    for (int i = 0; i < 3; i++) {
        out[i * 3] = (char)('0' + parts[i] / 10);
        out[i * 3 + 1] = (char)('0' + parts[i] % 10);
        out[i * 3 + 2] = i < 2 ? ':' : '.';
    }
    int msec = (int)(in_day % 1000);
    out[9] = (char)('0' + msec / 100);
    out[10] = (char)('0' + msec / 10 % 10);
    out[11] = (char)('0' + msec % 10);
    out[12] = '\0';
}

/* One line of the message raw[0..len) (borrowed): redacted (a copy only
** when it needs it: a secret is registered, or the text is not UTF-8). */
static void emit_line(const char *run_id, const char *level, json_t *fields, const char *raw, size_t len)
{
    char *copy = NULL;
    if (rt_redact_any() || !rt_utf8_valid(raw, len)) copy = rt_redact(raw);
    const char *msg = copy ? copy : raw;
    int64_t now_ms = rt_now_ms();

    pthread_mutex_lock(&log_lock);
    if (log_sink) {
        log_sink(log_sink_arg, level, msg);
        pthread_mutex_unlock(&log_lock);
        json_decref(fields);
        free(copy);
        return;
    }
    const char *wf = run_workflow(run_id);
    if (log_json_mode) {
        char ts[40];
        rt_format_time(now_ms, ts, sizeof ts);
        json_t *o = json_object();
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(level));
        json_object_set_new(o, "workflow", json_string(wf));
        if (wf != log_workflow) json_object_set_new(o, "project", json_string(log_workflow));
        if (run_id) json_object_set_new(o, "run", json_string(run_id));
        if (fields) {
            json_t *red = rt_redact_json(fields);
            json_object_update(o, red);
            json_decref(red);
        }
        json_object_set_new(o, "msg", json_string(msg));
        char *line = rt_json_dump(o, 0, true);
        fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        /* "12:00:01.123 basic 0193ab.. step 'person' succeeded (HTTP 200, 12 ms)" */
        const char *tag = strcmp(level, "info") == 0 ? "" : strcmp(level, "error") == 0 ? " error:" : " warning:";
        /* one fwrite of the assembled line: a line per step makes fprintf's parsing show */
        char clock[13];
        clock_text(now_ms, clock);
        const char *pieces[] = { clock, " ", wf, run_id ? " " : "", run_id ? run_id : "", tag, " ",
                                 msg, "\n" };
        size_t lens[sizeof pieces / sizeof pieces[0]], total = 0;
        for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) total += lens[i] = i ? strlen(pieces[i]) : 12;
        char stack[1024];
        char *line = total <= sizeof stack ? stack : rt_xmalloc(total);
        for (size_t i = 0, at = 0; i < sizeof pieces / sizeof pieces[0]; at += lens[i], i++)
            memcpy(line + at, pieces[i], lens[i]);
        fwrite(line, 1, total, stderr);
        if (line != stack) free(line);
    }
    int64_t now = rt_mono_ms();
    if (now - log_flushed >= 50 || strcmp(level, "info") != 0) {
        fflush(stderr);
        log_flushed = now;
    }
    pthread_mutex_unlock(&log_lock);
    json_decref(fields);
    free(copy);
}
