/*
** rt_co_stack.h — [services] the stacks of the fanout scheduler's
** coroutines and the switch between contexts; rt_co.c is their user.
**
** A stack is an mmap'd region (8 MiB reserved, touched as used, like a
** thread's) with a guard below it, so that a runaway recursion in a
** function step faults and the crash guard reports it instead of
** corrupting memory. The stacks a scheduler no longer needs are kept for
** the process (rt_co_stack_keep), so a next fanout takes them and none is
** unmapped one by one (unmapping the 129 stacks of a 10,000-item fanout
** took 5 to 13 ms of its end).
**
** Switching: on x86-64 a few instructions save the callee-saved registers
** and swap stack pointers (swapcontext would also make a signal-mask
** syscall per switch, and an item switches several times); elsewhere, and
** under AddressSanitizer (which must see stack switches), ucontext.
*/
#ifndef RT_CO_STACK_H
#define RT_CO_STACK_H

#include <ucontext.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define RT_CO_FAST_SWITCH 1
/* A suspended context: its stack pointer, below the saved registers. */
typedef struct rt_co_ctx {
    void *sp;
} rt_co_ctx;
/* Saves the callee-saved registers, MXCSR and the x87 control word on the
** current stack, stores the stack pointer in *save, and resumes `to`. */
void rt_co_switch(void **save, void *to);
#else
typedef ucontext_t rt_co_ctx;
#endif

/* A stack: a kept one, else a new mapping with its guard. Never NULL: the
** process aborts when none can be mapped. */
void *rt_co_stack_new(void);
/* Gives an idle stack back: kept for the process (its touched pages stay
** resident), or unmapped past the number kept. */
void rt_co_stack_keep(void *stack);
/* Makes ctx start entry() on stack at the first switch to it. With the fast
** switch entry must never return (it switches away for good); with
** ucontext its return resumes link. */
void rt_co_ctx_init(rt_co_ctx *ctx, void *stack, rt_co_ctx *link, void (*entry)(void));

/* Saves the running context in save and resumes to. */
static inline void rt_co_ctx_switch(rt_co_ctx *save, rt_co_ctx *to)
{
#ifdef RT_CO_FAST_SWITCH
    rt_co_switch(&save->sp, to->sp);
#else
    swapcontext(save, to);
#endif
}

#endif
