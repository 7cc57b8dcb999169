/*
** rt_function.h — [engine] function steps: the user's C, compiled with the
** workflow, called under the crash guard and the step's timeout
** (rt_signal.h). flow_fail, flow_retry and flow_log (flow.h) report to the
** function step running on the calling thread.
**
** A crash fails the step (not retried); a timeout is retryable; a NULL
** return without flow_fail/flow_retry fails it, saying so; an output that
** does not fit the declared type fails it.
*/
#ifndef RT_FUNCTION_H
#define RT_FUNCTION_H

#include "rt_step.h"

/* Runs function step d with params (borrowed): the result (owned by c), or
** NULL when the context must stop. */
rt_result *rt_function_step(rt_ctx *c, const rt_step_desc *d, json_t *params, rt_function_fn fn);

#endif
