/*
** rt_record.h — [engine] a step's record, as the store keeps it (docs/runtime.md,
** "State"): its kind, status, attempts, input and output. The step driver
** holds it as C fields while the step runs and writes it as JSON text in
** one pass, the input and output redacted on the way (rt_json_encode_redacted):
** no JSON tree is built for a record, and none is copied to redact it.
**
** The text is one JSON object whose members come in this order, each only
** when set: kind, status, started, attempts, input, next_at, ended, output,
** items_in_pages, count, error, continued. A record read back (a run
** resumed in the middle of a step's retries) keeps what it said.
**
** Ownership: the record owns every pointer member; rt_step_record_free
** releases them. Nothing here fails but allocation (which aborts).
*/
#ifndef RT_RECORD_H
#define RT_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "rt_status.h"
#include "rt_util.h"

/* One attempt of a step. */
typedef struct rt_step_attempt {
    int n;
    int64_t started, ended;
    long http_status;           /* 0: none */
    char *error;                /* redacted, or NULL */
} rt_step_attempt;

typedef struct rt_step_record {
    const char *kind;           /* static: "request", "function", "fanout" */
    rt_status status;           /* RT_ST_RUNNING, _RETRYING, _SUCCEEDED or _FAILED */
    int64_t started;            /* ms since the epoch */
    char *stored_attempts;      /* resumed: the attempts stored before, JSON objects
                                   separated by commas, or NULL */
    rt_step_attempt *attempts;  /* this process's attempts: `few`, or allocated */
    int nattempts;              /* all of them, stored ones included */
    int nnew, capnew;           /* this process's */
    rt_step_attempt few[2];
    json_t *input;              /* or NULL */
    rt_buf input_text;          /* or: the input as JSON text, already redacted (len 0: none) */
    int64_t next_at;            /* retrying: when the next attempt is due; 0: none */
    int64_t ended;              /* 0: not ended */
    json_t *output;             /* or NULL */
    bool output_parts;          /* a request's output in parts (rt_attempt): `output` is
                                   its body, written as { status, headers, body } from
                                   output_status and output_head (rt_http_head_encode) */
    long output_status;
    rt_buf output_head;
    bool items_in_pages;        /* a paginated request: its pages' records hold the items */
    int64_t count;              /* a fanout: its item count, stored instead of its output; -1: none */
    char *error;                /* redacted, or NULL */
    bool continued;             /* failed, and the run went on (on failure continue) */
} rt_step_record;

/* A new record of a step that starts now: status running, input a NEW
** reference taken over (NULL: none). */
void rt_step_record_init(rt_step_record *r, const char *kind, int64_t started, json_t *input);
/* Gives the record its input as JSON text, already redacted: the buffer
** is taken over (and left empty). */
void rt_step_record_input_text(rt_step_record *r, rt_buf *text);
/* The record stored earlier (prev, borrowed), to go on with: its attempts
** are kept, and counted on from. */
void rt_step_record_resume(rt_step_record *r, const json_t *prev);
void rt_step_record_free(rt_step_record *r);

/* Appends attempt n: { n, started, ended, error (redacted here), http_status }. */
void rt_step_record_attempt(rt_step_record *r, int n, int64_t started, int64_t ended, const char *error,
                            long http_status);
/* Replaces the output (a NEW reference taken over). */
void rt_step_record_set_output(rt_step_record *r, json_t *output);
/* Replaces the error with msg (already redacted; copied). */
void rt_step_record_set_error(rt_step_record *r, const char *msg);

/* The record as JSON text, appended to b. */
void rt_step_record_write(const rt_step_record *r, rt_buf *b);

#endif
