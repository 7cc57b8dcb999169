/*
** rt_exec.h — [engine] the engine's entry: runs a workflow body with
** deterministic replay, executing, retrying, validating and checkpointing
** each step.
**
** A run (rt_run_state, rt_run.h) is shared by the run's root context and
** its fanout items' contexts (rt_ctx.h). A driver (the CLI, serve, ops,
** tests) builds an rt_run_state from a run record and calls rt_exec_run.
** This header gathers what drivers need of the engine.
*/
#ifndef RT_EXEC_H
#define RT_EXEC_H

#include "rt_ctx.h"
#include "rt_run.h"
#include "rt_signal.h"

/* Claims the run for this process (rt_owner_claim: RT_RUN_SKIPPED when
** another live process owns it or it has ended), runs the body to its end,
** commits the final run record and returns the outcome (also in
** run->outcome). SUCCEEDED and FAILED mean the final record is stored. A
** store failure that leaves the stored record unfinished (the claim or
** the final commit failed, or a commit failed for a reason that may pass:
** a full disk) gives INTERRUPTED with store_failed set: nothing the run
** did after its last successful commit is taken as done. */
rt_outcome rt_exec_run(rt_run_state *run);

#endif
