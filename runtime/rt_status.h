/*
** rt_status.h — [base] every status word of runs and steps: one enum, and
** rt_status.c the one place that names them.
**
** Where each appears:
**   a run record      queued running waiting succeeded failed interrupted
**                     skipped (its user may no longer run it: ended before
**                     any step, nothing sent; rt_host.h)
**   a step record     running retrying waiting succeeded failed
**   a damaged record  unreadable (its stand-in, rt_store.h)
**   log lines only    replayed (a step's recorded outcome used again),
**                     missing (Test Step: a step not in --input),
**                     skipped (a run another process owns; a wait in tests)
** Records keep the name (JSON text); code compares enums. No function here
** fails or allocates.
*/
#ifndef RT_STATUS_H
#define RT_STATUS_H

#include <jansson.h>
#include <stdbool.h>

typedef enum rt_status {
    RT_ST_NONE = 0,             /* absent, or not a status word */
    RT_ST_QUEUED,
    RT_ST_RUNNING,
    RT_ST_WAITING,
    RT_ST_SUCCEEDED,
    RT_ST_FAILED,
    RT_ST_INTERRUPTED,
    RT_ST_RETRYING,
    RT_ST_UNREADABLE,
    RT_ST_REPLAYED,
    RT_ST_MISSING,
    RT_ST_SKIPPED,
    RT_ST_COUNT
} rt_status;

/* The word ("queued", ...): static text; "" for RT_ST_NONE. */
const char *rt_status_name(rt_status s);
/* The status a word names, RT_ST_NONE for NULL or any other text. */
rt_status rt_status_parse(const char *s);
/* The "status" of a record (borrowed), RT_ST_NONE when it has none. */
rt_status rt_status_of(const json_t *rec);
/* A NEW JSON string of the word. */
json_t *rt_status_json(rt_status s);

/* A status a run record may have (history --status, retry, prune). */
bool rt_status_is_run(rt_status s);
/* A run that has ended for good: succeeded, failed or skipped. */
bool rt_status_finished(rt_status s);

#endif
