/*
** rt_signal.h — [engine] signals: SIGINT/SIGTERM interruption, the crash
** guard and timeouts of function steps, interruptible sleeps.
**
** rt_signal_install is called once by rt_main; the rest is for the engine.
** No function here fails: a timer that cannot be created leaves the step
** without a timeout, an alternate stack that cannot be mapped leaves a
** stack overflow fatal.
*/
#ifndef RT_SIGNAL_H
#define RT_SIGNAL_H

#include <setjmp.h>
#include <signal.h>
#include <time.h>

#include "flowrt.h"

/* Installs the crash guard (SIGSEGV/SIGBUS/SIGFPE/SIGILL in function steps)
** and the SIGINT/SIGTERM handlers. Call once from main. */
void rt_signal_install(void);
/* Puts back the dispositions rt_signal_install found: rt_main calls it
** before returning, since under `flowc run` the handlers live in memory that
** is freed once the job's main returns. */
void rt_signal_restore(void);
/* True once SIGINT or SIGTERM arrived. */
bool rt_signal_interrupted(void);
/* Sleeps ms (a fanout item yields to the others meanwhile), waking early on
** SIGINT/SIGTERM: false when interrupted. */
bool rt_signal_sleep_ms(int64_t ms);

/* ---- the guard of function steps (rt_function.c) ----------------------- */

/* Per-thread state, behind a pthread key: tcc cannot link the TLS
** relocations that __thread needs, so the runtime uses none. */
typedef struct rt_fn_state rt_fn_state;

typedef struct rt_thread_state {
    sigjmp_buf *guard_jmp;      /* set while a function step runs */
    void *guard_stack;          /* this thread's alternate signal stack */
    rt_fn_state *current_fn;    /* the function step running here (rt_function.c) */
    timer_t timer;              /* function-step timeouts, signalling this thread */
    bool has_timer;
    volatile sig_atomic_t fn_expired;   /* the running function's time is up */
} rt_thread_state;

/* sigsetjmp's value when the step's timeout fired. */
#define RT_SIGNAL_TIMED_OUT 1000

/* This thread's state (made on first use, freed when the thread ends). */
rt_thread_state *rt_signal_thread(void);
/* Gives the thread an alternate signal stack, so that a stack overflow in
** a function step can be caught. */
void rt_signal_guard_setup(rt_thread_state *ts);
/* Arms (ms > 0) and disarms this thread's function-step timeout. */
void rt_signal_timer_start(rt_thread_state *ts, long ms);
void rt_signal_timer_stop(rt_thread_state *ts);
/* Blocks the timeout signal (old: the mask to restore): the runtime's
** entry points for function steps take locks, no timeout jumps out of them. */
void rt_signal_block_timeout(sigset_t *old);
/* "SIGSEGV (segmentation fault: invalid memory access)", ...: static text. */
const char *rt_signal_label(int sig);

#endif
