/*
** rt_host_accept.h — [host] what one accepted event or webhook starts: a plan of
** runs, one per workflow that listens and that the user may run, and the
** reasons the others are skipped (docs/project.md, "Events, hooks").
**
** serve builds a plan per request on its HTTP threads (nothing is stored
** yet: a bad request is refused here, before it joins a group commit, so
** it cannot fail another client's accept), its committer stores the runs
** of every plan of a batch in one LMDB transaction with their idempotency
** keys (one per (user, key, workflow)), and answers each request with
** rt_host_accept_answer.
*/
#ifndef RT_HOST_ACCEPT_H
#define RT_HOST_ACCEPT_H

#include "rt_host.h"

typedef struct rt_host_run_plan {
    const rt_workflow *wf;
    json_t *settings;           /* owned: the run's settings */
    char *text;                 /* owned: the whole run record, encoded (the committer only writes it):
                                   as rt_host_new_run makes it, owned by this process, with its id */
    size_t len;
    char *idem_key;             /* owned: its meta key ("idem:..."), or NULL */
    char run_id[RT_RUN_ID_LEN + 1];     /* record's id; the committer puts an earlier run's there on a replay */
    bool replayed;              /* the idempotency key named an earlier run */
    bool replayed_in_batch;     /* ... of the same commit: stored only if it is */
} rt_host_run_plan;

typedef struct rt_host_accept {
    rt_host_run_plan *runs;     /* owned */
    int nruns;
    json_t *skipped;            /* owned: [{workflow, reason}] */
} rt_host_accept;

/* POST /events/NAME for user (validated by the caller) with the body's
** bytes: a plan into *plan and 0, or an HTTP status with the message in
** err (no plan): 404 no workflow listens to NAME, 400 a body that is not
** JSON or a payload a listener's schema refuses (naming the workflow).
** Every listener skipped is a plan of no runs (answered 200). */
unsigned rt_host_accept_event(rt_store *st, const char *event, const char *user, const char *body, size_t len,
                              const char *idem, rt_host_accept *plan, char *err, size_t n);
/* 0 when a workflow of the project listens to event, else 404 with a
** message naming the events it has (checked before anything else). */
unsigned rt_host_accept_listened(const char *event, char *err, size_t n);
/* POST /hooks/WORKFLOW[/USER]: the same for one request-trigger workflow;
** 410 when it is undeployed, 403 when the user may not run it. */
unsigned rt_host_accept_hook(rt_store *st, const rt_workflow *wf, const char *user, const char *body, size_t len,
                             const char *idem, rt_host_accept *plan, char *err, size_t n);

/* The answer once the committer stored (or replayed) the plan's runs:
** 202 {"runs": [{workflow, run_id, replayed?}], "skipped": [...]} with
** "run_id" at the top when exactly one run started (a project of one
** answered so), 200 when none did. NEW reference. */
json_t *rt_host_accept_answer(const rt_host_accept *plan, unsigned *status);
/* Whether every run of the plan is a replay (Idempotent-Replayed). */
bool rt_host_accept_replayed(const rt_host_accept *plan);

void rt_host_accept_free(rt_host_accept *plan);

/* The meta key of an Idempotency-Key (1-256 bytes) of user for workflow:
** "idem:LEN:USER:KEY:WORKFLOW" (a project of one: without the workflow,
** as before), or a hash of it when it would be too long for an LMDB key.
** malloc'd. */
char *rt_host_idem_key(const char *user, const char *key, const rt_workflow *wf);

#endif
