/*
** rt_ctx.h — [engine] contexts: a run's root context, or one fanout item's.
**
** Each context owns a value pool (every value made in it is borrowed from
** there, flowrt.h), the results of the steps it ran, a raised expression
** error and its failure. A fanout item's context sees the steps and
** variables of its enclosing ones (rt_step_result, rt_var): a step's result
** is found by its descriptor's depth and slot, no name is looked up. The engine's
** files read and write the fields directly; nothing outside the engine
** should.
*/
#ifndef RT_CTX_H
#define RT_CTX_H

#include "flowrt.h"
#include "rt_json.h"
#include "rt_run.h"

struct rt_result {
    json_t *out;                /* borrowed (owner's pool); null when failed; NULL
                                   while a response is kept in parts */
    bool ok;
    json_t *error;              /* string, or null when ok */
    bool set;                   /* the step ran (or replayed) in this context */
    /* a request's output in parts (rt_ctx_set_response): */
    json_t *body;               /* borrowed (owner's pool) */
    long status;
    rt_pool *pool;              /* the owner's, where rt_result_out puts the whole */
};

struct rt_ctx {
    rt_run_state *run;
    rt_ctx *parent;             /* the enclosing context for fanout items */
    int depth;                  /* 0: the run's context; n: an item of a fanout at depth n-1 */
    char *prefix;               /* "" or "tagged[3].", in the context's block */
    const rt_step_desc *fanout; /* an item context: its fanout; else NULL */
    json_t *value;              /* the item's value (borrowed from the parent) */
    rt_pool pool;
    json_t *ret;                /* rt_return's value (pool) */
    bool returned;
    char *error;                /* owned: raised expression error, pending */
    int error_line;
    char *failure;              /* owned: why this context failed */
    char *failed_step;          /* owned: the path of the step that failed it */
    bool waiting;               /* suspended at a durable wait */
    bool on_storage;            /* the block is the caller's (rt_ctx_new_item): not freed */
    rt_co_debt *debt;           /* borrowed or NULL: what this item's step records still owe
                                   the disk (a fanout item on a scheduler, in a run that is
                                   not lazy: rt_run_commit_outcome, rt_run_barrier) */
    int nslots;
    rt_result results[];        /* the results of the steps of its scope, by
                                   rt_step_desc.slot (numbered by the compiler) */
};

/* A context of run: the root one (parent NULL, prefix "", the slots of
** the workflow's body) or an item's of `fanout` ("tagged[3].", the slots of
** its body), in one block. Free with rt_ctx_free, which drops its pool.
** rt_ctx_new_item puts the block in the caller's storage (size bytes,
** aligned for any type) when it fits, else allocates it: a fanout item's
** context lives on its coroutine's stack, one allocation less per item;
** rt_ctx_free then leaves the storage alone. */
rt_ctx *rt_ctx_new(rt_run_state *run, rt_ctx *parent, const char *prefix);
rt_ctx *rt_ctx_new_item(rt_run_state *run, rt_ctx *parent, const char *prefix, const rt_step_desc *fanout,
                        void *storage, size_t size);
void rt_ctx_free(rt_ctx *c);
/* The expression error raised on c, else its failure, else NULL (borrowed). */
const char *rt_ctx_error(const rt_ctx *c);
/* Takes c's raised expression error (owned by the caller, free it), or
** NULL: tests evaluate each expect with a clean slate. */
char *rt_ctx_take_error(rt_ctx *c);

/* The pool of c (rt_value.c makes values in it). */
rt_pool *rt_ctx_pool(rt_ctx *c);
/* Records an expression error on c (the first one wins); the run stops at
** the next step or statement. line 0 = unknown. */
void rt_ctx_raise(rt_ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the outcome of step d in its slot of c: out is copied into c's
** pool when ok; error (copied) says why not. A step recorded again (a
** retried fanout item) replaces its result. Returns the result, owned by
** c; NULL when d's slot is not one of c's (generated code and runtime
** disagree: an error raised on c). */
rt_result *rt_ctx_set_result(rt_ctx *c, const rt_step_desc *d, json_t *out, bool ok, const char *error);
/* The same for a request that succeeded with a response nothing reads the
** headers of (rt_attempt.response_parts): its output { status, body } is
** kept in parts (body copied into c's pool), the object made only when
** something reads the output whole (rt_result_out), which, as the compiler
** knows, the workflow does not: it reads .status and .body
** (rt_result_field). A fanout's items thus make no object per response. */
rt_result *rt_ctx_set_response(rt_ctx *c, const rt_step_desc *d, long status, json_t *body);
/* The checkpoint path of step `name` in c: c's prefix + name (new string). */
char *rt_ctx_step_path(rt_ctx *c, const char *name);
/* The same appended to b (a fanout item's request step writes it on its stack). */
void rt_ctx_step_path_to(rt_ctx *c, const char *name, rt_buf *b);
/* The context failed (the first failure wins; msg is redacted): the run
** fails unless a fanout item catches it. path: the failed step, or NULL. */
void rt_ctx_fail(rt_ctx *c, const char *path, const char *msg);
/* A raised expression error turns into c's failure here, at the first step
** or statement after it. True when the context may go on: no failure, the
** run not stopping, no interruption. */
bool rt_ctx_check(rt_ctx *c);
/* A durable sleep until wake_at (ms since the epoch): in this process (the
** run shows as waiting meanwhile), or by suspending the run when the run
** does not sleep in process and the wait is beyond its horizon. False when
** the run must stop (interrupted or suspended). flowc test sleeps not. */
bool rt_ctx_durable_sleep(rt_ctx *c, int64_t wake_at);

#endif
