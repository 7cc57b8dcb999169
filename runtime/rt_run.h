/*
** rt_run.h — [engine] the state of one run, shared by its root context and
** its fanout items' contexts (rt_ctx.h): the run record, the records
** committed earlier, what the run has done so far, and its commits.
**
** A store failure (a commit or a read that fails) is fatal to the run:
** rt_run_store_failed logs it, records it and sets stop, and every context
** unwinds at its next step or statement. Thread-safe through run->lock
** where the fields say so.
*/
#ifndef RT_RUN_H
#define RT_RUN_H

#include <pthread.h>

#include "flowrt.h"
#include "rt_co.h"
#include "rt_committed.h"
#include "rt_secrets.h"
#include "rt_status.h"
#include "rt_store.h"

typedef enum rt_outcome {
    RT_RUN_SUCCEEDED, RT_RUN_FAILED, RT_RUN_INTERRUPTED, RT_RUN_WAITING,
    RT_RUN_SKIPPED              /* not executed: another live process owns the run, or it
                                   has ended (error says which; rt_owner.h) */
} rt_outcome;

typedef struct rt_run_state {
    const rt_workflow *wf;
    rt_store *store;
    char id[RT_RUN_ID_LEN + 1];
    json_t *record;             /* owned: the run record as last committed */
    rt_committed *committed;    /* owned: the step records committed earlier (resume, retried items) */
    json_t *committed_logs;     /* owned: path -> log record committed earlier */
    bool test_limits;           /* --test-limits */
    bool sleep_in_process;      /* waits sleep here (run, resume) instead of suspending */
    /* serve: the run is a coroutine of a scheduler whose groups its writes
    ** join (rt_co.h). A step's outcome is left to the next group (lazy):
    ** the run waits for it before its next step starts (rt_run_barrier;
    ** a step that sends nothing only starts its group: rt_run_flush), or at
    ** its final record, which then shares that transaction. */
    bool lazy;
    bool claim_lazily;          /* the record is this process's, queued: the claim (running)
                                   joins the run's first group instead of a transaction of its own */
    rt_co_debt debt;            /* what the run's lazy writes owe the disk */
    /* serve's step metrics, or NULL: called once a step's final record (or
    ** a wait's) is committed, with its kind ("request", "function",
    ** "fanout", "wait") and its start and end (ms since the epoch). On the
    ** run's thread. */
    void (*on_step)(void *arg, const char *kind, int64_t started, int64_t ended);
    void *on_step_arg;

    pthread_mutex_t lock;       /* guards what follows (fanout items share the run) */
    json_t *pending_logs;       /* owned: log records to write with the next commit */
    rt_outcome outcome;
    json_t *output;             /* owned: the return value */
    json_t *reply;              /* owned or NULL: a request trigger's answer, { status?,
                                   headers?, on_fail? } (rt_return_reply, rt_fail_reply) */
    char *error;                /* owned: why the run failed (redacted) */
    char *failed_step;          /* owned: path of the step that failed it */
    bool stop;                  /* a store failure, interruption or suspension: every context unwinds */
    bool store_failed;          /* a write to (or read from) the store failed: the stored
                                   record may not say what happened */
    bool store_unwritable;      /* ... for a reason that may pass (rt_store_unwritable): the
                                   run ends INTERRUPTED, to be resumed once writes succeed */
    bool suspended;             /* stopped at a durable wait (not sleep_in_process) */
    json_t *info;               /* owned: { id, user, attempt } for run.* */
    json_t *env_values;         /* owned or NULL: env.NAME values read so far, name -> string */
    long sleep_horizon_ms;      /* !sleep_in_process: waits due within this many ms still sleep here */
    int64_t wake_at;            /* suspended: when the run is due again (ms) */
    int nwaiting;               /* contexts sleeping in a durable wait now */

    rt_secrets *secrets;        /* owned: what secret.NAME resolves to, and the run's
                                   redaction set (rt_secrets.h); thread-safe itself */
    const char *state_dir;      /* borrowed or NULL: the state directory, whose key seals
                                   tokens an OAuth2 refresh stores for the run's user */
    json_t *base_urls;          /* owned or NULL: integration -> its connection's base URL
                                   (before FLOW_<NAME>_BASE_URL); guarded by lock; a value
                                   replaced is kept in retired, so a pointer read stays valid */
    json_t *retired;            /* owned or NULL */
    /* A project user's run (set by rt_host_open_run, above the engine): its
    ** OAuth2 tokens live in the user's connection, shared by every
    ** workflow. NULL: the user's secrets as `users set` stored them. */
    char *(*conn_newer_token)(struct rt_run_state *run, const rt_integration *in, const char *stale);
    bool (*conn_store)(struct rt_run_state *run, const rt_integration *in, const json_t *secrets,
                       const json_t *fields, char *err, size_t n);

    /* Test Step (`run --step NAME --input FILE`): only steps named
    ** only_step execute; every other step takes its output from
    ** step_inputs (name -> output, checked against the step's type) or
    ** counts as not run; the run ends once the step has run. */
    const char *only_step;
    json_t *step_inputs;        /* borrowed: name (or path: "tagged[3].add") -> output */
    bool inputs_from_run;       /* --from: step_inputs are an earlier run's steps, by path;
                                   those after the step are not warned about */
    json_t *step_outputs;       /* owned: path -> output of each execution of only_step */
    json_t *inputs_used;        /* owned: name -> true for every input consulted */
    bool step_done;
    char *input_error;          /* owned: an --input value of the wrong type (exit 2) */

    /* flowc test (rt_test.c): */
    bool test_mode;             /* waits and retry backoffs are not slept; fanout
                                   items run one at a time (mock order is stable) */
    const json_t *test_env;     /* borrowed or NULL: in test mode env.NAME,
                                   FLOW_<NAME>_BASE_URL and FLOW_SECRET_* come from
                                   here only, never from the process environment */
    void (*on_finish)(rt_ctx *c, void *arg);   /* called with the root context after
                                   the final record is set, before the context is
                                   freed: a test's expects read its step results */
    void *on_finish_arg;
} rt_run_state;

/* An environment variable as the run sees it: in test mode only the test's
** own env/secret lines, never the process environment. */
const char *rt_run_getenv(const rt_run_state *run, const char *var);
/* The secret name for this run (malloc'd copy), registered for redaction:
** rt_secrets_get's resolution; NULL when it is not set. */
char *rt_run_secret(rt_run_state *run, const char *name);
/* Replaces (or adds) the run's copy of a secret, registered for redaction. */
void rt_run_set_secret(rt_run_state *run, const char *name, const char *value);
/* The base URL of integration in for this run: its connection's (base_urls),
** else FLOW_<NAME>_BASE_URL, else the declared one. Valid for the run. */
const char *rt_run_integ_base(rt_run_state *run, const rt_integration *in);
/* Sets integration's connection base URL for the rest of the run (an
** OAuth2 token response's instance_url). */
void rt_run_set_base_url(rt_run_state *run, const char *integ, const char *url);

/* The status word of an outcome (the final record's status). */
rt_status rt_run_outcome_status(rt_outcome o);

/* How a driver (the CLI, serve, flowc test, ops) opens a run. */
typedef struct rt_run_setup {
    const rt_workflow *wf;
    rt_store *store;
    json_t *record;             /* the run record: a NEW reference, taken over */
    const char *state_dir;      /* borrowed: its key opens the user's secrets, and
                                   seals the tokens an OAuth2 refresh stores */
    bool own_redaction;         /* serve: a redaction set of the run's own, holding
                                   its secrets only, freed with it */
    rt_secrets *secrets;        /* or NULL: already opened (Test Step opens them in
                                   the real state, runs in a scratch one); taken over */
    bool test_mode;             /* flowc test: the fields of the same names */
    const json_t *test_env;     /* borrowed */
    const json_t *test_secrets; /* borrowed: the test's secret lines */
} rt_run_setup;

/* The one way a run's context is opened: the state initialised over the
** record, the user's secrets opened (rt_secrets.h: a connected user's run
** resolves only that user's secrets; one that cannot be opened makes
** rt_exec_run fail the run with the reason). Free with rt_run_free. */
void rt_run_open(rt_run_state *run, const rt_run_setup *setup);
/* Initialises a run over a run record (NEW reference taken over), without
** secrets: rt_run_open is what drivers call. */
void rt_run_init(rt_run_state *run, const rt_workflow *wf, rt_store *st, json_t *record);
void rt_run_free(rt_run_state *run);

/* A store failure: logged, kept as the run's error (the first one) and
** stop set: state we cannot record (or read) we must not act on. */
void rt_run_store_failed(rt_run_state *run, const char *err);
/* The record committed at path, by an earlier process or this one (a
** retried fanout must not redo the items that finished): a NEW reference,
** or NULL. Item and page records come from LMDB, not memory. A store error
** stops the run (rt_run_store_failed): callers check rt_ctx_check before
** executing anything. */
json_t *rt_run_committed(rt_run_state *run, const char *path);
/* Commits the step record rec at path with the pending log lines, in one
** transaction (a fanout item's coroutine joins its scheduler's group,
** rt_co_commit). deferrable: the record is final and its step has no side
** effects, so batch mode may group it with later commits. False when the
** commit failed (the run stops: rt_run_store_failed). */
bool rt_run_commit(rt_run_state *run, const char *path, json_t *rec);
bool rt_run_commit_ex(rt_run_state *run, const char *path, json_t *rec, bool deferrable);
/* The same with the record written as JSON text (rt_record.h), rec NULL. */
bool rt_run_commit_text(rt_run_state *run, const char *path, json_t *rec, const char *text, bool deferrable);
/* A step's final outcome (the record rec, or text (rt_record.h) with rec
** NULL). A lazy run (serve) leaves it to its scheduler's next group and
** goes on; its next step waits for it (rt_run_barrier, rt_run_flush), and
** its final record shares its group. So does a fanout item's step with
** effects in any run, when debt (the item context's, rt_ctx.debt) is
** given: the item's next step, or the item's end (rt_fanout.c), waits for
** it. Otherwise it is committed as rt_run_commit_text, deferrable when the
** step had no effects outside the run. */
bool rt_run_commit_outcome(rt_run_state *run, rt_co_debt *debt, const char *path, json_t *rec, const char *text,
                           bool effects);
/* Before a step that sends something (a request; in an item with a debt,
** a fanout too, whose items' debts are their own) starts: every earlier
** step record of its context is durable (a lazy run, or an item with a
** debt, waits for its group; others committed each at once). False when
** one could not be written (the run stops). */
bool rt_run_barrier(rt_run_state *run, rt_co_debt *debt);
/* Before a step that sends nothing (a function, a fanout) starts: a lazy
** run's earlier records go to the disk now, and the step runs meanwhile
** (docs/runtime.md, "Durability under serve"); its own record follows
** them. False when an earlier one could not be written (the run stops). */
bool rt_run_flush(rt_run_state *run);
/* Commits a run record write w of this run, in its order with the run's
** other writes (a lazy run's group). False with the message in err. */
bool rt_run_commit_record(rt_run_state *run, const rt_store_write *w, char *err, size_t errlen);
/* The run record says `waiting` (with wake_at) while a context sleeps in
** a durable wait (wake_at != 0 on entering, 0 on leaving), `running` again
** once none does. A failed commit stops the run. */
void rt_run_mark_waiting(rt_run_state *run, int64_t wake_at);
/* A line of the run's history at path (redacted, logged, and stored with
** the next commit); a line a replay already committed is not repeated. */
void rt_run_add_log(rt_run_state *run, const char *path, int line, const char *msg);

#endif
