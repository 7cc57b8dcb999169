/*
** rt_signal.c — [engine] signals: SIGINT/SIGTERM interruption, the crash
** guard of function steps (SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT jump back to the
** step), function-step timeouts, and interruptible sleeps.
*/
#include "rt_signal.h"

#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "rt_co.h"
#include "rt_log.h"

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    if (interrupted) _exit(75);         /* a second ^C: stop now; the store is consistent */
    interrupted = 1;
}

bool rt_signal_interrupted(void)
{
    return interrupted;
}

#define GUARD_STACK_SIZE ((size_t)64 << 10)

static pthread_key_t ts_key;

static pthread_once_t ts_once = PTHREAD_ONCE_INIT;

static void ts_free(void *p)
{
    rt_thread_state *ts = p;
    if (ts->has_timer) timer_delete(ts->timer);
    if (ts->guard_stack) {
        stack_t ss = { .ss_flags = SS_DISABLE };
        sigaltstack(&ss, NULL);
        munmap(ts->guard_stack, GUARD_STACK_SIZE);
    }
    free(ts);
}

static void ts_init(void)
{
    pthread_key_create(&ts_key, ts_free);
}

rt_thread_state *rt_signal_thread(void)
{
    pthread_once(&ts_once, ts_init);
    rt_thread_state *ts = pthread_getspecific(ts_key);
    if (!ts) {
        ts = rt_xcalloc(1, sizeof *ts);
        pthread_setspecific(ts_key, ts);
    }
    return ts;
}

static void on_crash(int sig, siginfo_t *info, void *uc)
{
    (void)info;
    (void)uc;
    rt_thread_state *ts = pthread_getspecific(ts_key);
    if (ts && ts->guard_jmp) siglongjmp(*ts->guard_jmp, sig);
    signal(sig, SIG_DFL);               /* not in a function step: die as usual */
    raise(sig);
}

/* ---- function-step timeouts ----------------------------------------------
** A timer signals the thread running the function. Jumping out of C code is
** safe only where it holds no lock: the workflow's own code and the static
** runtime are fine (the runtime's entry points for function steps block the
** signal), code in a shared library (libc's malloc, jansson) is not. So the
** handler jumps only when the interrupted instruction lies outside every
** shared object, and otherwise tries again 1 ms later. */
#define FN_TIMEOUT_SIG (SIGRTMIN + 1)

static struct { uintptr_t lo, hi; } lib_ranges[512];

static int nlib_ranges;

static int collect_lib_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (!info->dlpi_name || !info->dlpi_name[0]) return 0;     /* the program itself */
    for (int i = 0; i < info->dlpi_phnum && nlib_ranges < 512; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        lib_ranges[nlib_ranges].lo = info->dlpi_addr + ph->p_vaddr;
        lib_ranges[nlib_ranges].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        nlib_ranges++;
    }
    return 0;
}

static bool pc_in_shared_lib(uintptr_t pc)
{
    for (int i = 0; i < nlib_ranges; i++)
        if (pc >= lib_ranges[i].lo && pc < lib_ranges[i].hi) return true;
    return false;
}

static uintptr_t interrupted_pc(const void *uc)
{
#if defined(__x86_64__)
    return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

static void arm_timer(timer_t t, long ms)
{
    struct itimerspec its = { .it_value = { ms / 1000, (ms % 1000) * 1000000L } };
    timer_settime(t, 0, &its, NULL);
}

static void on_fn_timeout(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)info;
    rt_thread_state *ts = pthread_getspecific(ts_key);
    if (!ts || !ts->guard_jmp) return;          /* the step already ended */
    ts->fn_expired = 1;                         /* whatever it returns is too late */
    if (pc_in_shared_lib(interrupted_pc(uc))) {
        arm_timer(ts->timer, 1);                /* not here: maybe inside malloc */
        return;
    }
    siglongjmp(*ts->guard_jmp, RT_SIGNAL_TIMED_OUT);
}

/* Arms this thread's timeout timer for a function step (0: none). */
void rt_signal_timer_start(rt_thread_state *ts, long ms)
{
    if (ms <= 0) return;
    if (!ts->has_timer) {
        struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = FN_TIMEOUT_SIG };
        ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
        if (timer_create(CLOCK_MONOTONIC, &ev, &ts->timer) != 0) return;
        ts->has_timer = true;
    }
    arm_timer(ts->timer, ms);
}

void rt_signal_timer_stop(rt_thread_state *ts)
{
    if (ts->has_timer) arm_timer(ts->timer, 0);
}

/* The runtime's entry points for function steps take locks: no timeout
** jumps out of them. */
void rt_signal_block_timeout(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, FN_TIMEOUT_SIG);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static const int handled_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGINT, SIGTERM, SIGPIPE, 0 };

static struct sigaction saved_actions[sizeof handled_signals / sizeof handled_signals[0]];

static bool signals_installed;

static int handled_signal(size_t i)
{
    return handled_signals[i] ? handled_signals[i] : FN_TIMEOUT_SIG;
}

void rt_signal_restore(void)
{
    if (!signals_installed) return;
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        sigaction(handled_signal(i), &saved_actions[i], NULL);
    rt_thread_state *ts = pthread_getspecific(ts_key);
    if (ts && ts->guard_stack) {
        stack_t ss = { .ss_flags = SS_DISABLE };
        sigaltstack(&ss, NULL);
        munmap(ts->guard_stack, GUARD_STACK_SIZE);
        ts->guard_stack = NULL;
    }
    signals_installed = false;
    interrupted = 0;
}

void rt_signal_install(void)
{
    pthread_once(&ts_once, ts_init);   /* on_crash reads the key: it must exist */
    if (!signals_installed) {
        for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
            sigaction(handled_signal(i), NULL, &saved_actions[i]);
        signals_installed = true;
    }
    nlib_ranges = 0;
    dl_iterate_phdr(collect_lib_range, NULL);
    struct sigaction st = { 0 };
    st.sa_sigaction = on_fn_timeout;
    st.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&st.sa_mask);
    sigaction(FN_TIMEOUT_SIG, &st, NULL);
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    /* SIGABRT too: abort() or a failed assert() in a function body fails
    ** the step; a process killed there would only be resumed into the same
    ** abort. glibc's abort() holds no lock while its handler runs. */
    int crash[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
    for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++) sigaction(crash[i], &sa, NULL);

    struct sigaction si = { 0 };
    si.sa_handler = on_interrupt;
    sigemptyset(&si.sa_mask);           /* no SA_RESTART: sleeps wake up */
    sigaction(SIGINT, &si, NULL);
    sigaction(SIGTERM, &si, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* A stack overflow in a function step needs a stack to run the handler on.
** It is mmap'd, not malloc'd: freeing a 64 KB heap block makes glibc
** consolidate every small free chunk, tens of ms after a large fanout. */
void rt_signal_guard_setup(rt_thread_state *ts)
{
    if (ts->guard_stack) return;
    void *p = mmap(NULL, GUARD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    ts->guard_stack = p;
    stack_t ss = { .ss_sp = ts->guard_stack, .ss_size = GUARD_STACK_SIZE, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
}

const char *rt_signal_label(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (segmentation fault: invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic error, e.g. integer division by zero)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort, e.g. a failed assert)";
    default: return "a fatal signal";
    }
}

/* Sleeps until the monotonic deadline; false when interrupted first. */
static bool sleep_until_mono(int64_t deadline)
{
    rt_log_flush();
    for (;;) {
        if (interrupted) return false;
        int64_t left = deadline - rt_mono_ms();
        if (left <= 0) return true;
        if (left > 200) left = 200;
        if (rt_co_current()) {         /* a fanout item: the others go on meanwhile */
            rt_co_sleep_until(rt_mono_ms() + left);
            continue;
        }
        struct timespec ts = { left / 1000, (left % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
}

bool rt_signal_sleep_ms(int64_t ms)
{
    return sleep_until_mono(rt_mono_ms() + (ms > 0 ? ms : 0));
}
