/*
** rt_fanout.h — [engine] fanout steps: item(item_ctx, value) for every
** value of a list, each item in a context of its own (prefix
** "NAME[i].", rt_ctx.h), up to `concurrency` at a time as coroutines
** (rt_co.h), one at a time at concurrency 1 and in test mode.
**
** The first failed item fails the fanout (no new item starts; those in
** flight finish); `retry` runs it again with the finished items replayed.
** The record keeps the list's length; a workflow that reads the items'
** returns gets them rebuilt from the items' records on replay.
*/
#ifndef RT_FANOUT_H
#define RT_FANOUT_H

#include "rt_step.h"

/* The result (its output the list of returns, or of nulls when no
** expression reads them), or NULL when the context must stop. list must
** be a list or null (anything else is raised on c). */
rt_result *rt_fanout_step(rt_ctx *c, const rt_step_desc *d, json_t *list, rt_item_fn item);

#endif
