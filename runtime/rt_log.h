/*
** rt_log.h — [services] progress lines on stderr (readable, or one JSON object per line
** with --json). Every line is redacted (rt_redact.h, included here for the
** modules that log) before it is written.
*/
#ifndef RT_LOG_H
#define RT_LOG_H

#include "flowrt.h"
#include "rt_redact.h"

/* Output mode and the workflow name shown on readable lines. */
void rt_log_setup(bool json, const char *workflow);
bool rt_log_json(void);
/* The name given to rt_log_setup: the job binary's (a project's name), for
** messages that tell which command to run. */
const char *rt_log_name(void);

/* A run's lines name its workflow (in a project, not the binary's name):
** begin when the run is opened, end when it is freed. `workflow` is
** borrowed for as long as the run is open. */
void rt_log_run_begin(const char *run_id, const char *workflow);
void rt_log_run_end(const char *run_id);

/* One event line. `fields` (a NEW reference, stolen; may be NULL) is merged
** into the JSON form; `fmt` gives the readable form and the JSON "msg".
** Both are redacted. `run_id` may be NULL for process-level events. */
void rt_log_emit(const char *run_id, const char *level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same with the readable form given whole (no format to run). */
void rt_log_text(const char *run_id, const char *level, json_t *fields, const char *text);

/* flowc test: while a sink is set, every line goes to it (level and the
** redacted readable message, both borrowed for the call) instead of stderr.
** NULL restores stderr. */
typedef void (*rt_log_sink_fn)(void *arg, const char *level, const char *msg);
void rt_log_set_sink(rt_log_sink_fn fn, void *arg);

/* Writes out buffered log lines (before sleeping, before a request, at the
** end of a run). */
void rt_log_flush(void);
/* Flushes, and forgets (and wipes) the registered secrets
** (rt_redact_teardown); when rt_main returns. */
void rt_log_teardown(void);

#endif
