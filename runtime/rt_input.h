/*
** rt_input.h — [engine] what a run reads (flowrt.h's run values): its
** trigger, settings, env, secrets, and run.* (id, user, attempt), status
** and output. Values are borrowed from the context's pool.
*/
#ifndef RT_INPUT_H
#define RT_INPUT_H

#include "rt_ctx.h"

/* The secret `name` as the run sees it (rt_run_secret), registered for
** redaction: a string borrowed from c; one that is not set is raised on c
** (naming the secret and where to set it) and reads as "". */
json_t *rt_input_secret(rt_ctx *c, const char *name);

#endif
