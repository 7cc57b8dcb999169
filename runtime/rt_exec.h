/*
** rt_exec.h — the engine: runs a workflow body with deterministic replay,
** executing, retrying, validating and checkpointing each step.
**
** A run (rt_run_state) is shared by the run's root context and its fanout items'
** contexts (rt_ctx); each context owns a value pool and the results of the
** steps it ran. The CLI (rt_cli.c) builds an rt_run from a run record and
** calls rt_exec_run; everything else here serves rt_value.c.
*/
#ifndef RT_EXEC_H
#define RT_EXEC_H

#include <pthread.h>

#include "flowrt.h"
#include "rt_committed.h"
#include "rt_store.h"
#include "rt_value.h"

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
    long sleep_horizon_ms;      /* !sleep_in_process: waits due within this many ms still sleep here */
    int64_t wake_at;            /* suspended: when the run is due again (ms) */
    int nwaiting;               /* contexts sleeping in a durable wait now */

    json_t *secrets;            /* owned or NULL: the user's stored secrets, name -> value
                                   (never written anywhere; consulted before FLOW_SECRET_*);
                                   guarded by lock once the run started (OAuth2 refresh
                                   replaces tokens while fanout items read them) */
    const char *state_dir;      /* borrowed or NULL: the state directory, whose key seals
                                   tokens an OAuth2 refresh stores for the run's user */

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
    json_t *test_env;           /* borrowed or NULL: in test mode env.NAME,
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
/* The secret name for this run (malloc'd copy): the user's stored one, else
** FLOW_SECRET_<NAME>; NULL when neither is set. */
char *rt_run_secret(rt_run_state *run, const char *name);
/* Replaces (or adds) the run's copy of a secret, registered for redaction. */
void rt_run_set_secret(rt_run_state *run, const char *name, const char *value);

/* Initialises a run over a run record (NEW reference taken over). */
void rt_run_init(rt_run_state *run, const rt_workflow *wf, rt_store *st, json_t *record);
void rt_run_free(rt_run_state *run);

/* Claims the run for this process (rt_owner_claim: RT_RUN_SKIPPED when
** another live process owns it or it has ended), runs the body to its end,
** commits the final run record and returns the outcome (also in
** run->outcome). SUCCEEDED and FAILED mean the final record is stored. A
** store failure that leaves the stored record unfinished (the claim or
** the final commit failed, or a commit failed for a reason that may pass:
** a full disk) gives INTERRUPTED with store_failed set: nothing the run
** did after its last successful commit is taken as done. */
rt_outcome rt_exec_run(rt_run_state *run);

/* A context of run: the root one (parent NULL, prefix "") or a fanout
** item's ("tagged[3]."). Free with rt_ctx_free, which drops its pool. */
rt_ctx *rt_ctx_new(rt_run_state *run, rt_ctx *parent, const char *prefix);
void rt_ctx_free(rt_ctx *c);
/* The expression error raised on c, else its failure, else NULL (borrowed). */
const char *rt_ctx_error(const rt_ctx *c);
/* Takes c's raised expression error (owned by the caller, free it), or
** NULL: tests evaluate each expect with a clean slate. */
char *rt_ctx_take_error(rt_ctx *c);

/* The pool of c, for rt_value.c. */
rt_pool *rt_ctx_pool(rt_ctx *c);
/* Records an expression error on c (the first one wins); the run stops at
** the next step or statement. line 0 = unknown. */
void rt_ctx_raise(rt_ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Installs the crash guard (SIGSEGV/SIGBUS/SIGFPE/SIGILL in function steps)
** and the SIGINT/SIGTERM handlers. Call once from main. */
void rt_exec_install_signals(void);
/* Puts back the dispositions rt_exec_install_signals found: rt_main calls it
** before returning, since under `flowc run` the handlers live in memory that
** is freed once the job's main returns. */
void rt_exec_restore_signals(void);
/* True once SIGINT or SIGTERM arrived. */
bool rt_exec_interrupted(void);
/* Sleeps ms (a fanout item yields to the others meanwhile), waking early on
** SIGINT/SIGTERM: false when interrupted. */
bool rt_exec_sleep_ms(int64_t ms);

#endif
