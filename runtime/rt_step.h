/*
** rt_step.h — [engine] the step driver every kind of step runs through:
** replay of a committed outcome, attempts with retries and backoff, the
** step record, its commit, and the step's log lines.
**
** A kind of step supplies its attempt (rt_attempt_fn); rt_step_run does
** the rest. Results are owned by the context (rt_ctx.h).
*/
#ifndef RT_STEP_H
#define RT_STEP_H

#include "rt_ctx.h"

/* RT_ATT_STOP: the run is stopping (interrupted, suspended): commit nothing. */
typedef enum rt_attempt_outcome { RT_ATT_OK, RT_ATT_RETRY, RT_ATT_FAIL, RT_ATT_STOP } rt_attempt_outcome;

/* What one attempt produced. */
typedef struct rt_attempt {
    json_t *output;             /* NEW reference on RT_ATT_OK */
    bool count_only;            /* a fanout: the record keeps the list's length,
                                   not the list (its items' records imply it) */
    bool items_in_pages;        /* a paginated request: the record's output leaves
                                   out the items, which its pages' records hold */
    char *error;                /* owned message on failure */
    long retry_after_ms;        /* from the server, or -1 */
    long http_status;           /* for the log and the attempt record */
    /* A request's output whose headers nothing reads stays in parts: `output`
    ** is then the response's body, http_status its status, and head its
    ** headers as text (rt_http_response.head) for the record; the object
    ** { status, body } is made only if something reads the output whole
    ** (rt_ctx_set_response). */
    bool response_parts;
    rt_buf head;                /* may start in the driver's storage (rt_buf_on) */
} rt_attempt;

/* Attempt n (from 1) of step d at path; arg is the kind's own. */
typedef rt_attempt_outcome (*rt_attempt_fn)(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                            rt_attempt *out);

/* Runs step d in c: replays its committed outcome, or runs attempts of fn
** (input: what the record keeps as the step's input, borrowed, stored
** redacted) until one succeeds, a failure is not retryable, or retries are
** exhausted, committing the record before returning. Returns the result
** (owned by c), or NULL when the context must stop (the step failed the
** run, or the run is stopping). */
rt_result *rt_step_run(rt_ctx *c, const rt_step_desc *d, const char *kind, json_t *input, rt_attempt_fn fn,
                       void *arg);
/* The same for a caller that looked for the committed outcome first
** (rt_step_replay, which found none but prev: taken over), with the input
** written as JSON text, already redacted (the buffer is taken over and
** left empty; a request step's input), and the step's path (borrowed). */
rt_result *rt_step_run_text(rt_ctx *c, const rt_step_desc *d, const char *kind, rt_buf *input_text,
                            const char *path, json_t *prev, rt_attempt_fn fn, void *arg);
/* The committed outcome of step d at path as a result, or NULL when the
** step must (still) run, or the store could not be read (rt_ctx_check
** then stops the context). When NULL, *prev is the step's record (a NEW
** reference: retries to go on with) or NULL. */
rt_result *rt_step_replay(rt_ctx *c, const rt_step_desc *d, const char *path, json_t **prev);
/* A list of n nulls (NEW reference): the output of a fanout whose items
** nobody reads has its length right (len() reads it) at 8 bytes an item. */
json_t *rt_step_null_list(size_t n);

#endif
