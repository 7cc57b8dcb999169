/*
** rt_co_ctx.h — [services] switching stacks for rt_co's coroutines: a saved
** context, a new one on a given stack, and the switch between them.
**
** On x86-64 a few instructions save the callee-saved registers and swap
** stack pointers (swapcontext would also make a signal-mask syscall per
** switch, and a fanout item switches about 7 times); elsewhere, and under
** AddressSanitizer (which must see stack switches), ucontext.
**
** Nothing is allocated: a context lives where its owner puts it (rt_co.c:
** in the coroutine and in the scheduler), the stack is the caller's.
*/
#ifndef RT_CO_CTX_H
#define RT_CO_CTX_H

#include <stddef.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define RT_CO_FAST_SWITCH 1
/* A suspended context: its stack pointer, below the saved registers. */
typedef struct rt_co_ctx {
    void *sp;
} rt_co_ctx;
#else
#include <ucontext.h>
typedef ucontext_t rt_co_ctx;
#endif

/* Makes ctx start entry on the stack [base, base + size) when first
** switched to. entry must never return: it ends by switching away for the
** last time. */
void rt_co_ctx_init(rt_co_ctx *ctx, void *base, size_t size, void (*entry)(void));
/* Saves the running context in save and resumes to; returns when some
** later switch resumes save. */
void rt_co_ctx_switch(rt_co_ctx *save, rt_co_ctx *to);

#endif
