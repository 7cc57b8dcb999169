/*
** rt_log.h — progress lines on stderr (readable, or one JSON object per line
** with --json) and secret redaction. Every secret value the process resolves
** is registered here, and every log line, stored step input and error
** message passes through rt_redact first.
*/
#ifndef RT_LOG_H
#define RT_LOG_H

#include "flowrt.h"

/* Output mode and the workflow name shown on readable lines. */
void rt_log_setup(bool json, const char *workflow);
bool rt_log_json(void);

/* One event line. `fields` (a NEW reference, stolen; may be NULL) is merged
** into the JSON form; `fmt` gives the readable form and the JSON "msg".
** Both are redacted. `run_id` may be NULL for process-level events. */
void rt_log_emit(const char *run_id, const char *level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* flowc test: while a sink is set, every line goes to it (level and the
** redacted readable message, both borrowed for the call) instead of stderr.
** NULL restores stderr. */
typedef void (*rt_log_sink_fn)(void *arg, const char *level, const char *msg);
void rt_log_set_sink(rt_log_sink_fn fn, void *arg);

/* Writes out buffered log lines (before sleeping, before a request, at the
** end of a run). */
void rt_log_flush(void);
/* Flushes, and forgets (and wipes) the registered secrets; when rt_main
** returns. */
void rt_log_teardown(void);

/* Registers a secret value to redact (copied), with the percent-encoded
** forms a request may carry it in (rt_http_escape: %20 for a space as
** query strings, form bodies and url_encode() send it, and '+' for a space
** as HTML forms do) where they differ from it. Values shorter than 4 bytes
** are not registered: redacting every "t" would make logs unreadable and
** protects nothing. Cheap for a value already registered (a shared lock
** and a scan): callers register on every read. Thread-safe. */
void rt_redact_add(const char *secret);
/* Whether s holds a registered secret: a value derived from a secret
** (base64 of "user:password") is registered in its turn. */
bool rt_redact_holds(const char *s);
/* s with every registered secret replaced by "[redacted]": a new malloc'd
** string the caller frees. */
char *rt_redact(const char *s);
/* v with every string redacted: a NEW reference (v itself, incref'd, when
** nothing needed redacting). */
json_t *rt_redact_json(json_t *v);

#endif
