/*
** rt_co_stack.h — [services] the stacks of rt_co's coroutines: mapped,
** guarded, and kept for the process once a scheduler is done with them.
**
** A stack is an mmap'd region (8 MiB reserved, touched as used, like a
** thread's) with a guard below it, so that a runaway recursion in a
** function step faults and the crash guard reports it instead of
** corrupting memory. The stacks a scheduler no longer needs are kept for
** the process (rt_co_stack_keep): a next fanout takes them, and none is
** unmapped one by one (unmapping the 129 stacks of a 10,000-item fanout
** took 5 to 13 ms of its end). Switching between them is rt_co_ctx.c's.
*/
#ifndef RT_CO_STACK_H
#define RT_CO_STACK_H

#include "rt_co_ctx.h"

/* A stack: a kept one, else a new mapping with its guard. Never NULL: the
** process aborts when none can be mapped. */
void *rt_co_stack_new(void);
/* Gives an idle stack back: kept for the process (its touched pages stay
** resident), or unmapped past the number kept. */
void rt_co_stack_keep(void *stack);
/* rt_co_ctx_init on the stack: entry starts at the top, offset by the
** stack's color (a multiple of 64 bytes up to 16 KiB: the mappings are
** 8 MiB + 64 KiB apart, so without it the hot frames of every coroutine
** would fall in the same cache sets). */
void rt_co_stack_start(rt_co_ctx *ctx, void *stack, void (*entry)(void));

#endif
