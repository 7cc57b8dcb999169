/*
** rt_exec.c — the engine: deterministic replay of the workflow body, with
** each step executed, retried, validated and checkpointed here.
**
** A step's path names its checkpoint: "person", "tagged[3].add", "wait@12".
** Before executing, a step looks its path up in the records committed by
** earlier attempts of the run (run->committed) and returns that output
** instead. Otherwise it runs attempts until one succeeds, a failure is not
** retryable, or retries are exhausted, and commits the outcome before the
** body moves on. Retry waits are committed too ("retrying", next_at), so a
** resumed run waits out the same backoff instead of hammering the API.
*/
#include "rt_exec.h"

#include <errno.h>
#include <link.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "rt_co.h"
#include "rt_http.h"
#include "rt_log.h"
#include "rt_oauth.h"
#include "rt_owner.h"
#include "rt_type.h"
#include "rt_url.h"

/* ---- contexts and results ----------------------------------------------- */

struct rt_result {
    json_t *out;                /* borrowed (owner's pool); null when failed */
    bool ok;
    json_t *error;              /* string, or null when ok */
};

typedef struct step_slot {
    const char *name;           /* the descriptor's (static) name */
    rt_result *r;               /* owned */
} step_slot;

struct rt_ctx {
    rt_run_state *run;
    rt_ctx *parent;             /* the enclosing context for fanout items */
    char *prefix;               /* owned: "" or "tagged[3]." */
    const char *var;            /* fanout variable name, or NULL */
    json_t *value;              /* its value (borrowed from the parent) */
    rt_pool pool;
    step_slot *steps;           /* results of the steps this context ran */
    size_t nsteps, capsteps;
    uint32_t *index;            /* open-addressing table: slot number + 1, or 0 */
    size_t index_cap;           /* a power of two, at least twice nsteps */
    json_t *ret;                /* rt_return's value (pool) */
    bool returned;
    char *error;                /* owned: raised expression error, pending */
    int error_line;
    char *failure;              /* owned: why this context failed */
    char *failed_step;          /* owned: the path of the step that failed it */
    bool waiting;               /* suspended at a durable wait */
};

rt_ctx *rt_ctx_new(rt_run_state *run, rt_ctx *parent, const char *prefix)
{
    rt_ctx *c = rt_xcalloc(1, sizeof *c);
    c->run = run;
    c->parent = parent;
    c->prefix = rt_xstrdup(prefix ? prefix : "");
    return c;
}

void rt_ctx_free(rt_ctx *c)
{
    for (size_t i = 0; i < c->nsteps; i++) free(c->steps[i].r);
    free(c->steps);
    free(c->index);
    rt_pool_release(&c->pool);
    free(c->prefix);
    free(c->error);
    free(c->failure);
    free(c->failed_step);
    free(c);
}

const char *rt_ctx_error(const rt_ctx *c)
{
    return c->error ? c->error : c->failure;
}

char *rt_ctx_take_error(rt_ctx *c)
{
    char *e = c->error;
    c->error = NULL;
    return e;
}

rt_pool *rt_ctx_pool(rt_ctx *c)
{
    return &c->pool;
}

void rt_ctx_raise(rt_ctx *c, int line, const char *fmt, ...)
{
    if (c->error) return;
    va_list ap;
    va_start(ap, fmt);
    c->error = rt_xvprintf(fmt, ap);
    va_end(ap);
    c->error_line = line;
}

/* Step results are found by name through a hash table: a workflow of
** 10,000 steps must not pay a linear search per reference. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The table position for name: its entry, or the empty one to fill. */
static size_t index_find(const rt_ctx *c, const char *name)
{
    size_t mask = c->index_cap - 1, i = name_hash(name) & mask;
    while (c->index[i] && strcmp(c->steps[c->index[i] - 1].name, name) != 0) i = (i + 1) & mask;
    return i;
}

static void index_grow(rt_ctx *c)
{
    free(c->index);
    c->index_cap = c->index_cap ? c->index_cap * 2 : 32;
    c->index = rt_xcalloc(c->index_cap, sizeof *c->index);
    for (size_t k = 0; k < c->nsteps; k++) c->index[index_find(c, c->steps[k].name)] = (uint32_t)k + 1;
}

static rt_result *ctx_add_result(rt_ctx *c, const char *name, json_t *out, bool ok, const char *error)
{
    rt_result *r = rt_xmalloc(sizeof *r);
    r->out = ok && out ? rt_pool_keep(&c->pool, json_incref(out)) : json_null();
    r->ok = ok;
    r->error = ok ? json_null() : rt_str(c, error ? error : "failed");
    if ((c->nsteps + 1) * 2 > c->index_cap) index_grow(c);
    size_t at = index_find(c, name);
    if (c->index[at]) {                 /* the same step again (a retried fanout item) */
        free(c->steps[c->index[at] - 1].r);
        c->steps[c->index[at] - 1].r = r;
        return r;
    }
    if (c->nsteps == c->capsteps) {
        c->capsteps = c->capsteps ? c->capsteps * 2 : 16;
        c->steps = rt_xrealloc(c->steps, sizeof *c->steps * c->capsteps);
    }
    c->steps[c->nsteps++] = (step_slot){ name, r };
    c->index[at] = (uint32_t)c->nsteps;
    return r;
}

rt_result *rt_step_result(rt_ctx *c, const char *name)
{
    for (; c; c = c->parent) {
        if (!c->index_cap) continue;
        size_t at = index_find(c, name);
        if (c->index[at]) return c->steps[c->index[at] - 1].r;
    }
    return NULL;
}

json_t *rt_var(rt_ctx *c, const char *name)
{
    for (; c; c = c->parent)
        if (c->var && strcmp(c->var, name) == 0) return c->value;
    return json_null();
}

json_t *rt_result_out(rt_result *r) { return r && r->ok ? r->out : json_null(); }
static bool ctx_check(rt_ctx *c);

/* A let's value is kept beside the step results, under its name (names of
** steps and lets are unique in a workflow): rt_step_result finds it in c
** and in the fanout items below c. No checkpoint: it is evaluated again
** on replay. */
int rt_let(rt_ctx *c, const char *name, json_t *value)
{
    if (!ctx_check(c)) return RT_STOP;
    ctx_add_result(c, name, value, true, NULL);
    return RT_OK;
}
bool rt_result_ok(rt_result *r) { return r && r->ok; }
json_t *rt_result_error(rt_result *r) { return r ? r->error : json_null(); }

/* ---- signals: interruption and the crash guard --------------------------- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    if (interrupted) _exit(75);         /* a second ^C: stop now; the store is consistent */
    interrupted = 1;
}

bool rt_exec_interrupted(void)
{
    return interrupted;
}

/* Per-thread state, behind a pthread key: tcc cannot link the TLS
** relocations that __thread needs, so the runtime uses none. */
typedef struct fn_state fn_state;
typedef struct thread_state {
    sigjmp_buf *guard_jmp;      /* set while a function step runs */
    void *guard_stack;          /* this thread's alternate signal stack */
    fn_state *current_fn;       /* the function step running here */
    timer_t timer;              /* function-step timeouts, signalling this thread */
    bool has_timer;
    volatile sig_atomic_t fn_expired;   /* the running function's time is up */
} thread_state;

#define GUARD_STACK_SIZE ((size_t)64 << 10)

static pthread_key_t ts_key;
static pthread_once_t ts_once = PTHREAD_ONCE_INIT;

static void ts_free(void *p)
{
    thread_state *ts = p;
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

static thread_state *ts_get(void)
{
    pthread_once(&ts_once, ts_init);
    thread_state *ts = pthread_getspecific(ts_key);
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
    thread_state *ts = pthread_getspecific(ts_key);
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
#define FN_TIMED_OUT 1000           /* sigsetjmp's value after a timeout */

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
    thread_state *ts = pthread_getspecific(ts_key);
    if (!ts || !ts->guard_jmp) return;          /* the step already ended */
    ts->fn_expired = 1;                         /* whatever it returns is too late */
    if (pc_in_shared_lib(interrupted_pc(uc))) {
        arm_timer(ts->timer, 1);                /* not here: maybe inside malloc */
        return;
    }
    siglongjmp(*ts->guard_jmp, FN_TIMED_OUT);
}

/* Arms this thread's timeout timer for a function step (0: none). */
static void fn_timer_start(thread_state *ts, long ms)
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

static void fn_timer_stop(thread_state *ts)
{
    if (ts->has_timer) arm_timer(ts->timer, 0);
}

/* The runtime's entry points for function steps take locks: no timeout
** jumps out of them. */
static void fn_timeout_block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, FN_TIMEOUT_SIG);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static const int handled_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGINT, SIGTERM, SIGPIPE, 0 };
static struct sigaction saved_actions[sizeof handled_signals / sizeof handled_signals[0]];
static bool signals_installed;

static int handled_signal(size_t i)
{
    return handled_signals[i] ? handled_signals[i] : FN_TIMEOUT_SIG;
}

void rt_exec_restore_signals(void)
{
    if (!signals_installed) return;
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        sigaction(handled_signal(i), &saved_actions[i], NULL);
    thread_state *ts = pthread_getspecific(ts_key);
    if (ts && ts->guard_stack) {
        stack_t ss = { .ss_flags = SS_DISABLE };
        sigaltstack(&ss, NULL);
        munmap(ts->guard_stack, GUARD_STACK_SIZE);
        ts->guard_stack = NULL;
    }
    signals_installed = false;
    interrupted = 0;
}

void rt_exec_install_signals(void)
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
    int crash[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };
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
static void guard_thread_setup(thread_state *ts)
{
    if (ts->guard_stack) return;
    void *p = mmap(NULL, GUARD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    ts->guard_stack = p;
    stack_t ss = { .ss_sp = ts->guard_stack, .ss_size = GUARD_STACK_SIZE, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
}

static const char *signal_label(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (segmentation fault: invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic error, e.g. integer division by zero)";
    case SIGILL: return "SIGILL (illegal instruction)";
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

bool rt_exec_sleep_ms(int64_t ms)
{
    return sleep_until_mono(rt_mono_ms() + (ms > 0 ? ms : 0));
}

/* ---- run state ---------------------------------------------------------- */

void rt_run_init(rt_run_state *run, const rt_workflow *wf, rt_store *st, json_t *record)
{
    memset(run, 0, sizeof *run);
    run->wf = wf;
    run->store = st;
    run->record = record;
    snprintf(run->id, sizeof run->id, "%s", json_string_value(json_object_get(record, "id")));
    run->sleep_in_process = true;
    run->pending_logs = json_array();
    pthread_mutex_init(&run->lock, NULL);
}

void rt_run_free(rt_run_state *run)
{
    json_decref(run->record);
    rt_committed_free(run->committed);
    json_decref(run->committed_logs);
    json_decref(run->pending_logs);
    json_decref(run->output);
    json_decref(run->reply);
    json_decref(run->info);
    json_decref(run->secrets);
    json_decref(run->step_outputs);
    json_decref(run->inputs_used);
    free(run->input_error);
    free(run->error);
    free(run->failed_step);
    pthread_mutex_destroy(&run->lock);
}

static char *step_path(rt_ctx *c, const char *name)
{
    return rt_xconcat(c->prefix, name, NULL);
}

/* Commits a step record (and any pending log lines) in one transaction.
** A store failure is fatal to the run: state we cannot record we must not
** act on. */
static bool commit_step_ex(rt_ctx *c, const char *path, json_t *rec, bool deferrable);

/* A store failure is fatal to the run: state we cannot record (or read)
** we must not act on. */
static void run_store_failed(rt_run_state *run, const char *err)
{
    rt_log_emit(run->id, "error", NULL, "%s", err);
    pthread_mutex_lock(&run->lock);
    if (!run->error) run->error = rt_xstrdup(err);
    run->stop = true;
    run->store_failed = true;
    run->store_unwritable |= rt_store_unwritable(err);
    pthread_mutex_unlock(&run->lock);
}

/* The record committed at path, by an earlier process or this one (a
** retried fanout must not redo the items that finished): a NEW reference,
** or NULL. Item and page records come from LMDB, not memory (a 100,000-item
** fanout would otherwise keep every record). A store error stops the run:
** callers check ctx_check before executing anything. */
static json_t *committed_get(rt_run_state *run, const char *path)
{
    char err[300];
    json_t *rec = rt_committed_get(run->committed, path, err, sizeof err);
    if (err[0]) run_store_failed(run, err);
    return rec;
}

static bool commit_step(rt_ctx *c, const char *path, json_t *rec)
{
    return commit_step_ex(c, path, rec, false);
}

/* deferrable: the record is final and its step has no side effects, so
** batch mode may group it with later commits, and a fanout item need not
** wait for it to be durable (rt_co_commit). */
static bool commit_step_ex(rt_ctx *c, const char *path, json_t *rec, bool deferrable)
{
    rt_run_state *run = c->run;
    pthread_mutex_lock(&run->lock);
    json_t *logs = run->pending_logs;
    run->pending_logs = json_array();
    pthread_mutex_unlock(&run->lock);
    char err[256];
    rt_store_write w = { .run_id = run->id, .step_path = path, .step = rec,
                         .logs = json_array_size(logs) ? logs : NULL, .deferrable = deferrable };
    /* a fanout item's coroutine waits for its group without blocking the others */
    bool ok = rt_co_current() ? rt_co_commit(run->store, &w, err, sizeof err)
                              : rt_store_commit(run->store, &w, err, sizeof err);
    json_decref(logs);
    if (ok) rt_committed_note(run->committed, path);   /* items and pages: the path only */
    else run_store_failed(run, err);
    return ok;
}

/* The run record says `waiting` (with its wake-up time) while a context
** sleeps in a durable wait, `running` again once none does, so history
** shows what a run is doing and when it is due. */
static void run_mark_waiting(rt_run_state *run, int64_t wake_at)
{
    pthread_mutex_lock(&run->lock);
    bool change = wake_at ? run->nwaiting++ == 0 : --run->nwaiting == 0;
    char err[256] = "";
    if (change) {
        json_t *rec = run->record;
        json_object_set_new(rec, "status", json_string(wake_at ? "waiting" : "running"));
        if (wake_at) json_object_set_new(rec, "wake_at", json_integer(wake_at));
        else json_object_del(rec, "wake_at");
        json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
        rt_store_write w = { .run_id = run->id, .run = rec };
        if (rt_store_commit(run->store, &w, err, sizeof err)) err[0] = 0;
    }
    pthread_mutex_unlock(&run->lock);
    if (err[0]) run_store_failed(run, err);     /* the next step boundary stops the run */
}

/* Suspends the run at a durable wait (not sleeping in this process):
** whoever schedules runs (`resume`) wakes it at wake_at. */
static void run_suspend(rt_ctx *c, int64_t wake_at)
{
    rt_run_state *run = c->run;
    pthread_mutex_lock(&run->lock);
    if (!run->wake_at || wake_at < run->wake_at) run->wake_at = wake_at;
    run->suspended = true;
    run->stop = true;
    pthread_mutex_unlock(&run->lock);
    c->waiting = true;
}

/* A durable sleep until wake_at: in this process (the run shows as
** waiting meanwhile), or by suspending the run. False when the run must
** stop (interrupted or suspended). */
static bool durable_sleep(rt_ctx *c, int64_t wake_at)
{
    int64_t left = wake_at - rt_now_ms();
    if (left <= 0 || c->run->test_mode) return true;    /* flowc test: backoffs are not slept */
    if (!c->run->sleep_in_process && left > c->run->sleep_horizon_ms) {
        run_suspend(c, wake_at);
        return false;
    }
    run_mark_waiting(c->run, wake_at);
    bool ok = rt_exec_sleep_ms(left);
    run_mark_waiting(c->run, 0);
    return ok;
}

/* The context failed: the run fails unless a fanout item catches it. */
static void ctx_fail(rt_ctx *c, const char *path, const char *msg)
{
    if (c->failure) return;
    char *red = rt_redact(msg);
    c->failure = red;
    c->failed_step = path ? rt_xstrdup(path) : NULL;
}

/* A raised expression error turns into the context's failure here, at the
** first step or statement after it. */
static bool ctx_check(rt_ctx *c)
{
    if (c->error && !c->failure) {
        char *msg = c->error_line ? rt_xprintf("line %d: %s", c->error_line, c->error) : rt_xstrdup(c->error);
        ctx_fail(c, NULL, msg);
        free(msg);
    }
    return !c->failure && !c->run->stop && !interrupted;
}

static json_t *attempt_record(int n, int64_t started, const char *error, long http_status)
{
    json_t *a = json_object();      /* built by hand: one per step, json_pack parses its format each time */
    json_object_set_new(a, "n", json_integer(n));
    json_object_set_new(a, "started", json_integer((json_int_t)started));
    json_object_set_new(a, "ended", json_integer((json_int_t)rt_now_ms()));
    if (error) {
        char *red = rt_redact(error);
        json_object_set_new(a, "error", json_string(red));
        free(red);
    }
    if (http_status) json_object_set_new(a, "http_status", json_integer(http_status));
    return a;
}

/* ---- the step driver ----------------------------------------------------- */

/* ATT_STOP: the run is stopping (interrupted, suspended): commit nothing. */
typedef enum attempt_outcome { ATT_OK, ATT_RETRY, ATT_FAIL, ATT_STOP } attempt_outcome;

typedef struct attempt {
    json_t *output;             /* NEW reference on ATT_OK */
    bool count_only;            /* a fanout: the record keeps the list's length,
                                   not the list (its items' records imply it) */
    bool items_in_pages;        /* a paginated request: the record's output leaves
                                   out the items, which its pages' records hold */
    char *error;                /* owned message on failure */
    long retry_after_ms;        /* from the server, or -1 */
    long http_status;           /* for the log and the attempt record */
} attempt;

typedef attempt_outcome (*attempt_fn)(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                      attempt *out);

/* A list of n nulls: the output of a fanout whose items nobody reads has
** its length right (len() reads it) at 8 bytes an item. NEW reference. */
static json_t *null_list(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_null());
    return a;
}

/* The output a committed record replays: a NEW reference. */
static json_t *replayed_output(const json_t *rec)
{
    json_t *out = json_object_get(rec, "output");
    if (!out && json_is_integer(json_object_get(rec, "count")))
        return null_list((size_t)json_integer_value(json_object_get(rec, "count")));
    return json_incref(out);
}

/* The output of a paginated request whose record left the items to its
** pages' records (PATH#page1 ...): a NEW reference, or NULL (the context
** failed) when a page's record cannot be read. */
static json_t *output_from_pages(rt_ctx *c, const char *path, const json_t *rec)
{
    json_t *out = json_deep_copy(json_object_get(rec, "output")), *items = json_array();
    json_int_t pages = json_integer_value(json_object_get(out, "pages"));
    for (json_int_t k = 1; k <= pages; k++) {
        char *pp = rt_xprintf("%s#page%lld", path, (long long)k);
        json_t *prec = committed_get(c->run, pp);
        if (!prec || !json_is_array(json_object_get(prec, "items"))) {
            if (ctx_check(c)) {
                char *msg = rt_xprintf("step '%s': the record of page %lld is missing from the state", path,
                                       (long long)k);
                ctx_fail(c, path, msg);
                free(msg);
            }
            json_decref(prec);
            free(pp);
            json_decref(items);
            json_decref(out);
            return NULL;
        }
        json_array_extend(items, json_object_get(prec, "items"));
        json_decref(prec);
        free(pp);
    }
    json_object_set_new(out, "items", rt_redact_json(items));   /* as a stored output would be */
    json_decref(items);
    return out;
}

/* A committed outcome of the step at path, as a result; NULL when the step
** must (still) run, or when the store could not be read (the run stops:
** ctx_check). *rec is the record (a NEW reference) or NULL. */
static rt_result *replay(rt_ctx *c, const rt_step_desc *d, const char *path, json_t **rec)
{
    *rec = committed_get(c->run, path);
    if (!*rec) return NULL;
    const char *status = json_string_value(json_object_get(*rec, "status"));
    if (status && strcmp(status, "succeeded") == 0) {
        json_t *out = json_is_true(json_object_get(*rec, "items_in_pages")) ? output_from_pages(c, path, *rec)
                                                                           : replayed_output(*rec);
        if (!out) return NULL;      /* failed: ctx_check stops the step */
        rt_result *r = ctx_add_result(c, d->name, out, true, NULL);
        json_decref(out);
        return r;
    }
    if (status && strcmp(status, "failed") == 0 && d->continue_on_failure)
        return ctx_add_result(c, d->name, NULL, false, json_string_value(json_object_get(*rec, "error")));
    return NULL;
}

/* replay() for a caller that does not need the record. */
static rt_result *replay_only(rt_ctx *c, const rt_step_desc *d, const char *path)
{
    json_t *rec;
    rt_result *r = replay(c, d, path, &rec);
    json_decref(rec);
    return r;
}

/* The delay before attempt n+1: full jitter over an exponential backoff,
** but never less than what the server asked for (up to the cap). */
static int64_t retry_delay(const rt_step_desc *d, int n, long retry_after_ms)
{
    int64_t base = d->backoff_ms > 0 ? d->backoff_ms : 1000;
    int64_t cap = d->max_backoff_ms > 0 ? d->max_backoff_ms : 300000;
    int64_t exp = base;
    for (int i = 1; i < n && exp < cap; i++) exp *= 2;
    if (exp > cap) exp = cap;
    int64_t delay = (int64_t)rt_random((uint64_t)exp + 1);
    if (retry_after_ms >= 0) {
        int64_t ra = retry_after_ms < cap ? retry_after_ms : cap;
        if (ra > delay) delay = ra;
    }
    return delay;
}

static void log_step(rt_ctx *c, const char *path, const char *status, long http_status, int64_t ms, int n,
                     const char *error, bool continues)
{
    json_t *f = NULL;           /* the fields: only JSON log lines show them */
    if (rt_log_json()) {
        f = json_pack("{s:s, s:s, s:s, s:I, s:i}", "event", "step", "step", path, "status", status, "ms",
                      (json_int_t)ms, "attempt", n);
        if (http_status) json_object_set_new(f, "http_status", json_integer(http_status));
        if (error) json_object_set_new(f, "error", json_string(error));
    }
    char extra[64] = "";
    if (http_status) snprintf(extra, sizeof extra, "HTTP %ld, ", http_status);
    if (error)
        rt_log_emit(c->run->id, continues ? "warning" : "error", f, "step '%s' failed after %d attempt%s (%lld ms)%s: %s",
                    path, n, n == 1 ? "" : "s", (long long)ms, continues ? ", continuing" : "", error);
    else
        rt_log_emit(c->run->id, "info", f, "step '%s' %s (%s%lld ms%s)", path, status, extra, (long long)ms,
                    n > 1 ? ", after retries" : "");
}

/* Runs a step: replay, attempts with retries, validation, the commit. */
static rt_result *run_step(rt_ctx *c, const rt_step_desc *d, const char *kind, json_t *input, attempt_fn fn,
                           void *arg)
{
    if (!ctx_check(c)) return NULL;
    char *path = step_path(c, d->name);
    json_t *prev;
    rt_result *r = replay(c, d, path, &prev);
    if (r || !ctx_check(c)) {
        if (r)
            rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path, "status",
                                                      "replayed"),
                        "step '%s' replayed from its checkpoint", path);
        json_decref(prev);
        free(path);
        return r;
    }
    json_t *rec;
    int64_t started = rt_now_ms();
    if (prev && json_object_get(prev, "attempts")) {
        /* resumed in the middle of retries: keep counting, honour the wait */
        rec = json_deep_copy(prev);
        json_decref(prev);
        json_int_t next_at = json_integer_value(json_object_get(rec, "next_at"));
        if (next_at > rt_now_ms() && !durable_sleep(c, next_at)) {
            json_decref(rec);
            free(path);
            return NULL;
        }
        json_int_t s = json_integer_value(json_object_get(rec, "started"));
        if (s) started = s;
    } else {
        json_decref(prev);
        rec = json_object();
        json_object_set_new(rec, "kind", json_string(kind));
        json_object_set_new(rec, "status", json_string("running"));
        json_object_set_new(rec, "started", json_integer((json_int_t)started));
        json_object_set_new(rec, "attempts", json_array());
        json_object_set_new(rec, "input", rt_redact_json(input));
    }
    json_t *attempts = json_object_get(rec, "attempts");
    int max_attempts = 1 + (d->retries > 0 ? d->retries : 0);

    for (;;) {
        int n = (int)json_array_size(attempts) + 1;
        int64_t t0 = rt_now_ms();
        attempt at = { .retry_after_ms = -1 };
        attempt_outcome o = fn(c, d, path, arg, n, &at);
        if (o == ATT_STOP) {
            free(at.error);
            json_decref(rec);
            free(path);
            return NULL;
        }
        json_array_append_new(attempts, attempt_record(n, t0, o == ATT_OK ? NULL : at.error, at.http_status));
        json_object_del(rec, "next_at");
        if (o == ATT_OK) {
            json_object_set_new(rec, "status", json_string("succeeded"));
            json_object_set_new(rec, "ended", json_integer(rt_now_ms()));
            /* stored with secrets redacted (an API echoing a token must not
            ** put it in the state); this run goes on with what arrived */
            if (at.count_only) {
                json_object_set_new(rec, "count", json_integer((json_int_t)json_array_size(at.output)));
            } else if (at.items_in_pages) {
                json_object_set_new(rec, "output", json_pack("{s:O, s:O}", "status", json_object_get(at.output, "status"),
                                                             "pages", json_object_get(at.output, "pages")));
                json_object_set_new(rec, "items_in_pages", json_true());
            } else {
                json_object_set_new(rec, "output", rt_redact_json(at.output));
            }
            if (!commit_step_ex(c, path, rec, d->kind == RT_STEP_FUNCTION)) {
                json_decref(at.output);
                json_decref(rec);
                free(path);
                return NULL;
            }
            log_step(c, path, "succeeded", at.http_status, rt_now_ms() - started, n, NULL, false);
            r = ctx_add_result(c, d->name, at.output, true, NULL);
            json_decref(at.output);
            json_decref(rec);
            free(path);
            return r;
        }
        char *msg = rt_redact(at.error ? at.error : "failed");
        free(at.error);
        if (o == ATT_RETRY && n < max_attempts && !interrupted) {
            int64_t delay = retry_delay(d, n, at.retry_after_ms);
            json_object_set_new(rec, "status", json_string("retrying"));
            json_object_set_new(rec, "next_at", json_integer(rt_now_ms() + delay));
            if (!commit_step(c, path, rec)) {
                free(msg);
                json_decref(rec);
                free(path);
                return NULL;
            }
            rt_log_emit(c->run->id, "warning",
                        json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}", "event", "retry", "step", path, "status",
                                  "retrying", "attempt", n, "delay_ms", (json_int_t)delay, "error", msg),
                        "step '%s' attempt %d failed: %s; retrying in %lld ms", path, n, msg, (long long)delay);
            free(msg);
            if (!durable_sleep(c, json_integer_value(json_object_get(rec, "next_at")))) {
                json_decref(rec);
                free(path);
                return NULL;
            }
            continue;
        }
        /* a permanent failure, or retries exhausted */
        json_object_set_new(rec, "status", json_string("failed"));
        json_object_set_new(rec, "ended", json_integer(rt_now_ms()));
        json_object_set_new(rec, "error", json_string(msg));
        if (d->continue_on_failure) json_object_set_new(rec, "continued", json_true());
        if (!commit_step_ex(c, path, rec, d->kind == RT_STEP_FUNCTION)) {
            free(msg);
            json_decref(rec);
            free(path);
            return NULL;
        }
        log_step(c, path, "failed", at.http_status, rt_now_ms() - started, n, msg, d->continue_on_failure);
        if (d->continue_on_failure) {
            r = ctx_add_result(c, d->name, NULL, false, msg);
        } else {
            char *full = rt_xprintf("step '%s': %s", path, msg);
            ctx_fail(c, path, full);
            free(full);
            ctx_add_result(c, d->name, NULL, false, msg);  /* s.error reads it (a test's expect) */
            r = NULL;
        }
        free(msg);
        json_decref(rec);
        free(path);
        return r;
    }
}

/* ---- request steps ------------------------------------------------------- */

typedef struct prepared_request {
    const char *method;
    char *url;                  /* owned, query included */
    json_t *headers;            /* owned */
    char *body;                 /* owned, or NULL */
    json_t *json_body;          /* borrowed: the json clause, for the pagination target */
    const json_t *query;        /* borrowed */
    char *base_url;             /* owned, without query */
} prepared_request;

/* The header's value (borrowed), its name matched without case, or NULL. */
static json_t *header_get(const json_t *headers, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v) if (strcasecmp(k, name) == 0) return v;
    return NULL;
}

static bool has_header(const json_t *headers, const char *name)
{
    return header_get(headers, name) != NULL;
}

const char *rt_run_getenv(const rt_run_state *run, const char *var)
{
    if (run->test_mode) return json_string_value(json_object_get(run->test_env, var));
    return getenv(var);
}

/* An integration's base URL, FLOW_<NAME>_BASE_URL first. */
static const char *integ_base(const rt_run_state *run, const rt_integration *in)
{
    if (!in) return NULL;
    char var[160];
    const char *e = rt_run_getenv(run, rt_env_name(var, sizeof var, "FLOW_", in->name, "_BASE_URL"));
    return e && *e ? e : in->base_url;
}

static json_t *secret_value(rt_ctx *c, const char *name);

/* Whether two absolute URLs share an origin (scheme, host, port). */
static bool same_origin(const char *a, const char *b)
{
    char oa[RT_HTTP_ORIGIN_MAX], ob[RT_HTTP_ORIGIN_MAX];
    return rt_http_origin(a, oa, sizeof oa) && rt_http_origin(b, ob, sizeof ob) && strcmp(oa, ob) == 0;
}

static bool integ_has_credentials(const rt_integration *in)
{
    return in && in->auth != RT_AUTH_NONE && in->secret;
}

/* An integration's base URL is an origin and a base path: absolute http(s),
** no query or fragment (a path joined to it would land inside them). */
static bool integ_base_ok(const rt_integration *in, const char *base, char **err)
{
    char origin[RT_HTTP_ORIGIN_MAX];
    if (rt_http_is_absolute(base) && rt_http_origin(base, origin, sizeof origin) && !strpbrk(base, "?#")) return true;
    char var[160];
    bool from_env = base != in->base_url;
    *err = rt_xprintf("the base URL of integration '%s' ('%s'%s%s) must be an absolute http:// or https:// URL "
                      "without a query or fragment",
                      in->name, base, from_env ? ", from " : "",
                      from_env ? rt_env_name(var, sizeof var, "FLOW_", in->name, "_BASE_URL") : "");
    return false;
}

/* Whether a request header is a credential, sent only to the request's
** origin (rt_http_request.credentials): the standard ones, the header the
** integration's auth declares, one whose name says it holds a credential,
** and one whose value holds a secret (an Authorization built in the
** workflow, "X-Token": secret.x). */
static bool header_is_credential(const rt_step_desc *d, const char *name, const json_t *value)
{
    static const char *const standard[] = { "authorization", "proxy-authorization", "cookie" };
    static const char *const words[] = { "auth", "token", "secret", "key", "session", "cookie", "passw",
                                         "signature", "credential" };
    for (size_t i = 0; i < sizeof standard / sizeof *standard; i++)
        if (strcasecmp(name, standard[i]) == 0) return true;
    if (d->integ && d->integ->auth == RT_AUTH_HEADER && d->integ->header && strcasecmp(name, d->integ->header) == 0)
        return true;
    if (strcasecmp(name, "Idempotency-Key") != 0)
        for (size_t i = 0; i < sizeof words / sizeof *words; i++)
            if (strcasestr(name, words[i])) return true;
    return json_is_string(value) && rt_redact_holds(json_string_value(value));
}

/* headers split into the plain ones and the credentials (both NEW). */
static void split_credentials(const rt_step_desc *d, const json_t *headers, json_t **plain, json_t **creds)
{
    *plain = json_object();
    *creds = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v) json_object_set(header_is_credential(d, k, v) ? *creds : *plain, k, v);
}

static void add_auth(rt_ctx *c, const rt_integration *in, json_t *headers)
{
    if (!in || in->auth == RT_AUTH_NONE || !in->secret) return;
    const char *tok = json_string_value(secret_value(c, in->secret));
    if (!tok) return;
    switch (in->auth) {
    case RT_AUTH_BEARER:
    case RT_AUTH_OAUTH2:
        if (!has_header(headers, "Authorization")) {
            char *v = rt_xprintf("Bearer %s", tok);
            json_object_set_new(headers, "Authorization", rt_json_bytes(v));
            free(v);
        }
        break;
    case RT_AUTH_BASIC:
        if (!has_header(headers, "Authorization")) {
            const char *pw = in->secret2 ? json_string_value(secret_value(c, in->secret2)) : "";
            char *pair = rt_xprintf("%s:%s", tok, pw ? pw : "");
            char *enc = rt_base64(pair, strlen(pair));
            rt_redact_add(enc);
            char *v = rt_xprintf("Basic %s", enc);
            json_object_set_new(headers, "Authorization", rt_json_bytes(v));
            free(v);
            free(enc);
            free(pair);
        }
        break;
    case RT_AUTH_HEADER:
        if (in->header && !has_header(headers, in->header)) json_object_set_new(headers, in->header, rt_json_bytes(tok));
        break;
    default:
        break;
    }
}

/* Turns the request object into what is sent, once per step. */
static bool prepare_request(rt_ctx *c, const rt_step_desc *d, const char *path, json_t *req, prepared_request *p,
                            char **err)
{
    memset(p, 0, sizeof *p);
    p->method = json_string_value(json_object_get(req, "method"));
    if (!p->method) p->method = "GET";
    json_t *u = json_object_get(req, "url");
    char why[700];
    char *built = json_is_object(u) ? rt_url_build(u, why, sizeof why) : NULL;     /* a URL template */
    if (json_is_object(u) && !built) {
        *err = rt_xstrdup(why);
        return false;
    }
    const char *url = built ? built : json_string_value(u);
    if (!url || !*url) {
        *err = rt_xstrdup("the request has no URL");
        free(built);
        return false;
    }
    const char *base = d->integ ? integ_base(c->run, d->integ) : NULL;
    if (base && *base && !integ_base_ok(d->integ, base, err)) {
        free(built);
        return false;
    }
    p->base_url = rt_http_join_url(base, url);
    free(built);
    char origin[RT_HTTP_ORIGIN_MAX], own[RT_HTTP_ORIGIN_MAX];
    if (!rt_http_is_absolute(p->base_url)) {
        *err = rt_xprintf("URL '%s' is not absolute (http:// or https://)", p->base_url);
        return false;
    }
    if (!rt_http_origin(p->base_url, origin, sizeof origin)) {
        *err = rt_xprintf("URL '%s' is not a valid http:// or https:// URL", p->base_url);
        return false;
    }
    if (base && *base && integ_has_credentials(d->integ) && rt_http_origin(base, own, sizeof own) &&
        strcmp(origin, own) != 0) {
        *err = rt_xprintf("URL '%s' is not on the origin of integration '%s' (%s), the only one its credentials "
                          "are sent to: not sent",
                          p->base_url, d->integ->name, own);
        return false;
    }
    p->query = json_object_get(req, "query");
    p->url = rt_http_add_query(p->base_url, p->query);

    p->headers = json_object();
    json_t *h = json_object_get(req, "headers");
    const char *k;
    json_t *v;
    if (json_is_object(h)) {
        json_object_foreach(h, k, v) {
            if (json_is_null(v)) continue;
            if (json_is_string(v)) {
                json_object_set(p->headers, k, v);
            } else {
                rt_buf b = { 0 };
                rt_buf_append(&b, "", 0);
                rt_value_render(&b, v);
                json_object_set_new(p->headers, k, rt_json_bytes(b.data));
                rt_buf_free(&b);
            }
        }
    }
    add_auth(c, d->integ, p->headers);
    if (!has_header(p->headers, "Idempotency-Key")) {
        char *key = rt_xconcat(c->run->id, ":", path);
        json_object_set_new(p->headers, "Idempotency-Key", json_string(key));
        free(key);
    }

    json_t *jb = json_object_get(req, "json"), *form = json_object_get(req, "form"),
           *raw = json_object_get(req, "body");
    if (jb) {
        p->json_body = jb;
        p->body = rt_json_text(jb);
        if (!has_header(p->headers, "Content-Type"))
            json_object_set_new(p->headers, "Content-Type", json_string("application/json"));
    } else if (form) {
        p->body = rt_http_form_encode(form);
        if (!has_header(p->headers, "Content-Type"))
            json_object_set_new(p->headers, "Content-Type", json_string("application/x-www-form-urlencoded"));
    } else if (raw && !json_is_null(raw)) {
        rt_buf b = { 0 };
        rt_buf_append(&b, "", 0);
        if (json_is_string(raw)) rt_buf_append(&b, json_string_value(raw), json_string_length(raw));
        else rt_value_render(&b, raw);
        p->body = rt_buf_take(&b);
        if (!has_header(p->headers, "Content-Type"))
            json_object_set_new(p->headers, "Content-Type", json_string("text/plain; charset=utf-8"));
    }
    return true;
}

static void prepared_free(prepared_request *p)
{
    free(p->url);
    free(p->base_url);
    json_decref(p->headers);
    free(p->body);
}

/* What the step record keeps as the step's input: the request as sent. */
static json_t *request_input(const prepared_request *p)
{
    json_t *in = json_object();
    /* the bytes as sent: run_step stores the input redacted and repaired */
    json_object_set_new(in, "method", rt_json_bytes(p->method));
    json_object_set_new(in, "url", rt_json_bytes(p->url));
    json_object_set(in, "headers", p->headers);
    if (p->json_body) json_object_set(in, "json", p->json_body);
    else if (p->body) json_object_set_new(in, "body", rt_json_bytes(p->body));
    return in;
}

static bool status_accepted(const rt_step_desc *d, long status)
{
    if (status >= 200 && status < 300) return true;
    for (const int *a = d->accept; a && *a; a++)
        if (*a == status || (*a < 10 && status / 100 == *a)) return true;
    return false;
}

/* "HTTP 400: {"error":"bad input"}" with the start of the body: redacted
** before it is shortened, so a cut never leaves the start of a secret. */
static char *status_error(long status, const json_t *body)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    rt_value_render(&b, body);
    char *start = rt_redact_shorten(b.data, 300);
    char *msg = *start ? rt_xprintf("HTTP %ld: %s", status, start) : rt_xprintf("HTTP %ld", status);
    free(start);
    rt_buf_free(&b);
    return msg;
}

/* One HTTP exchange, classified. On ATT_OK *resp is a NEW reference to
** { status, headers, body }. */
/* `fail when` over a response; the callback may raise errors on c. */
static bool fails_when(rt_ctx *c, const rt_step_desc *d, json_t *resp, attempt *out)
{
    if (!d->fail_when) return false;
    bool held = d->fail_when(c, resp);
    if (c->error) {
        out->error = rt_xprintf("fail when: %s", c->error);
        free(c->error);
        c->error = NULL;
        return true;
    }
    if (held) {
        char *s = status_error(json_integer_value(json_object_get(resp, "status")), json_object_get(resp, "body"));
        out->error = rt_xprintf("fail when held for the response (%s)", s);
        free(s);
    }
    return held;
}

/* ---- OAuth2 ---------------------------------------------------------------- */

/* The token in "Authorization: Bearer TOKEN" of headers, or NULL. */
static const char *bearer_of(const json_t *headers)
{
    const char *s = json_string_value(header_get(headers, "Authorization"));
    return s && strncmp(s, "Bearer ", 7) == 0 ? s + 7 : NULL;
}

/* headers with the bearer token replaced (NEW reference). */
static json_t *with_bearer(const json_t *headers, const char *token)
{
    json_t *h = json_deep_copy(headers);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(h, tmp, k, v) if (strcasecmp(k, "Authorization") == 0) json_object_del(h, k);
    char *value = rt_xprintf("Bearer %s", token);
    json_object_set_new(h, "Authorization", json_string(value));
    free(value);
    return h;
}

/* Before a request to an oauth2 integration: when the token the step was
** prepared with has been refreshed since (an earlier page, attempt or
** item), headers with the current one (NEW reference); else NULL. */
static json_t *oauth_current(rt_ctx *c, const rt_step_desc *d, const json_t *headers)
{
    if (!d->integ || d->integ->auth != RT_AUTH_OAUTH2 || !d->integ->secret) return NULL;
    const char *sent = bearer_of(headers);
    if (!sent) return NULL;
    char *cur = rt_run_secret(c->run, d->integ->secret);
    json_t *h = cur && strcmp(cur, sent) != 0 ? with_bearer(headers, cur) : NULL;
    free(cur);
    return h;
}

/* After a 401: headers carrying a refreshed token (NEW reference), or NULL
** with why set when the refresh failed (why stays "" when the request did
** not carry the integration's token: nothing to refresh). */
static json_t *oauth_refreshed(rt_ctx *c, const rt_step_desc *d, const json_t *headers, char *why, size_t n)
{
    const char *stale = bearer_of(headers);
    if (!stale) return NULL;
    char *token = rt_oauth_refresh(c->run, d->integ, integ_base(c->run, d->integ), stale, why, n);
    if (!token) return NULL;
    json_t *h = with_bearer(headers, token);
    memset(token, 0, strlen(token));
    free(token);
    return h;
}

/* One request and its response: status, `fail when`, then `returns` (so an
** API's own error report is what a failure names, not a missing field). */
static attempt_outcome http_exchange(rt_ctx *c, const rt_step_desc *d, const prepared_request *p,
                                     const char *url, const char *body, const json_t *headers, json_t **resp,
                                     attempt *out)
{
    json_t *renewed = oauth_current(c, d, headers);     /* owned or NULL */
    json_t *plain, *creds;      /* the headers as rt_http sends them: credentials only to url's origin */
    split_credentials(d, renewed ? renewed : headers, &plain, &creds);
    rt_http_request rq = { .method = p->method, .url = url, .headers = plain, .credentials = creds, .body = body,
                           .body_len = body ? strlen(body) : 0, .body_private = body && rt_redact_holds(body),
                           .timeout_ms = d->timeout_ms };
    rt_http_response rs;
    attempt_outcome o = ATT_OK;
    long pause = rt_http_host_pause_ms(url);    /* the host said 429: wait with the others */
    if (pause > 0 && !rt_exec_sleep_ms(pause)) {
        o = ATT_STOP;
        goto done;
    }
    if (!rt_co_current()) rt_log_flush();      /* the scheduler flushes for fanout items */
    bool sent = rt_http_perform(&rq, &rs);
    if (sent && rs.status == 401 && d->integ && d->integ->auth == RT_AUTH_OAUTH2) {
        /* the access token expired: refresh it once and send again */
        char why[700] = "";
        json_t *retry = oauth_refreshed(c, d, renewed ? renewed : headers, why, sizeof why);
        if (retry) {
            rt_http_response_free(&rs);
            json_decref(renewed);
            renewed = retry;
            json_decref(plain);
            json_decref(creds);
            split_credentials(d, renewed, &plain, &creds);
            rq.headers = plain;
            rq.credentials = creds;
            sent = rt_http_perform(&rq, &rs);
        } else if (*why) {
            char *s = status_error(rs.status, rs.body);
            out->error = rt_xprintf("%s (%s)", s, why);
            free(s);
            rt_http_response_free(&rs);
            o = ATT_FAIL;
            goto done;
        }
    }
    if (!sent) {
        out->error = rt_xstrdup(rs.error ? rs.error : "the request failed");
        o = rs.retryable ? ATT_RETRY : ATT_FAIL;
        rt_http_response_free(&rs);
    }
done:
    json_decref(renewed);
    json_decref(plain);
    json_decref(creds);
    if (o != ATT_OK) return o;
    out->http_status = rs.status;
    if (!status_accepted(d, rs.status)) {
        out->error = status_error(rs.status, rs.body);
        out->retry_after_ms = rt_http_retry_after_ms(rs.headers);
        if (rs.status == 429 && out->retry_after_ms > 0) {     /* as retry_delay caps it: up to `max` */
            long cap = d->max_backoff_ms > 0 ? d->max_backoff_ms : 300000;
            rt_http_host_pause(url, out->retry_after_ms < cap ? out->retry_after_ms : cap);
        }
        bool retry = rs.status == 408 || rs.status == 429 || rs.status >= 500;
        rt_http_response_free(&rs);
        return retry ? ATT_RETRY : ATT_FAIL;
    }
    json_t *r = json_object();      /* takes over the response's headers and body */
    json_object_set_new(r, "status", json_integer(rs.status));
    json_object_set_new(r, "headers", rs.headers);
    json_object_set_new(r, "body", rs.body);
    if (fails_when(c, d, r, out)) {
        json_decref(r);
        return ATT_FAIL;
    }
    if (rs.status >= 200 && rs.status < 300 && d->out_type) {
        char err[600];
        if (!rt_type_check(d->out_type, json_object_get(r, "body"), "response body", err, sizeof err)) {
            out->error = rt_xstrdup(err);
            json_decref(r);
            return ATT_FAIL;
        }
    }
    *resp = r;
    return ATT_OK;
}

/* The list at page_items below a body, or NULL. */
static json_t *page_items_of(const rt_step_desc *d, json_t *body)
{
    json_t *v = body;
    for (const char *const *k = d->page_items; k && *k; k++) v = json_object_get(v, *k);
    return json_is_array(v) ? v : NULL;
}

/* The first page's request: the prepared one, with the first page number
** when pages are numbered. */
static void page_start(const rt_step_desc *d, const prepared_request *p, char **url, char **body, json_t **query,
                       json_t **jbody, json_int_t *page_no)
{
    free(*url);
    free(*body);
    json_decref(*query);
    json_decref(*jbody);
    *query = json_is_object(p->query) ? json_deep_copy(p->query) : json_object();
    *jbody = p->json_body ? json_deep_copy(p->json_body) : NULL;
    *url = rt_xstrdup(p->url);
    *body = p->body ? rt_xstrdup(p->body) : NULL;
    *page_no = 1;
    if (d->paginate == RT_PAGE_PAGE && d->page_param) {
        json_t *start = json_object_get(*query, d->page_param);
        if (json_is_integer(start)) *page_no = json_integer_value(start);
        json_object_set_new(*query, d->page_param, json_integer(*page_no));
        free(*url);
        *url = rt_http_add_query(p->base_url, *query);
    }
}

/* What a page's record keeps of where the next page is: never a secret.
** A page number or a cursor is kept, and on resume the request is built
** again around it from the prepared one (whose query may hold an API key:
** secret_value reads it again); a URL from the API is kept unless it holds
** a secret, in which case a resume reads the pages again from the first
** ({"restart": true}). NEW reference. */
static json_t *page_continuation(const rt_step_desc *d, const char *next, json_t *cursor, json_int_t page_no)
{
    json_t *at;
    if (d->paginate == RT_PAGE_PAGE) at = json_pack("{s:I}", "page_no", page_no);
    else if (cursor) at = json_pack("{s:O}", "cursor", cursor);
    else at = json_pack("{s:o}", "url", rt_json_bytes(next));
    json_t *red = rt_redact_json(at);
    bool secret = red != at;
    json_decref(red);
    if (secret) {
        json_decref(at);
        at = json_pack("{s:b}", "restart", 1);
    }
    return at;
}

/* The request of the page after a committed one, from its record's "next"
** (page_continuation's, or the url/body/query/jbody of older records):
** the URL (a new string), or NULL when there is no next page. */
static char *page_resume(const rt_step_desc *d, const prepared_request *p, const json_t *at, char **body,
                         json_t **query, json_t **jbody, json_int_t *page_no)
{
    if (!json_is_object(at)) return NULL;
    json_t *n = json_object_get(at, "page_no"), *cursor = json_object_get(at, "cursor");
    if (json_is_integer(n)) *page_no = json_integer_value(n);
    const char *url = json_string_value(json_object_get(at, "url"));
    if (url) {
        /* a URL from the API (or a record that kept the whole request) */
        if (json_object_get(at, "body")) {
            free(*body);
            const char *b = json_string_value(json_object_get(at, "body"));
            *body = b ? rt_xstrdup(b) : NULL;
        }
        if (json_is_object(json_object_get(at, "query"))) {
            json_decref(*query);
            *query = json_deep_copy(json_object_get(at, "query"));
        }
        if (json_object_get(at, "jbody")) {
            json_decref(*jbody);
            *jbody = json_deep_copy(json_object_get(at, "jbody"));
        }
        return rt_xstrdup(url);
    }
    json_t *value = cursor ? cursor : n;
    if (!value || !d->page_param) return NULL;
    if (d->paginate == RT_PAGE_CURSOR && d->page_target == RT_TARGET_JSON) {
        json_decref(*jbody);
        *jbody = json_is_object(p->json_body) ? json_deep_copy(p->json_body) : json_object();
        json_object_set(*jbody, d->page_param, value);
        free(*body);
        *body = rt_json_text(*jbody);
        return rt_xstrdup(p->url);
    }
    json_decref(*query);
    *query = json_is_object(p->query) ? json_deep_copy(p->query) : json_object();
    json_object_set(*query, d->page_param, value);
    return rt_http_add_query(p->base_url, *query);
}

typedef struct request_arg {
    prepared_request p;
} request_arg;

static attempt_outcome request_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                       attempt *out)
{
    (void)n;
    prepared_request *p = &((request_arg *)arg)->p;
    if (d->paginate == RT_PAGE_NONE) {
        json_t *resp = NULL;
        attempt_outcome o = http_exchange(c, d, p, p->url, p->body, p->headers, &resp, out);
        if (o != ATT_OK) return o;
        if (d->body_output) {
            out->output = json_incref(json_object_get(resp, "body"));
            json_decref(resp);
        } else {
            out->output = resp;
        }
        return ATT_OK;
    }

    /* pagination: every page, then { status, pages, items } */
    int max = d->page_max > 0 ? d->page_max : 100;
    bool limited = c->run->test_limits && max > 3;     /* --test-limits: 3 pages, and it says so */
    if (limited) max = 3;
    json_t *items = json_array();
    json_t *query = NULL, *jbody = NULL;
    char *url = NULL, *body = NULL;
    json_t *headers = json_deep_copy(p->headers);
    long status = 0;
    int pages = 0;
    json_int_t page_no = 1;
    page_start(d, p, &url, &body, &query, &jbody, &page_no);
    /* pages a killed run (or an earlier attempt) committed: continue after them */
    for (;;) {
        char *pp = rt_xprintf("%s#page%d", path, pages + 1);
        json_t *prec = committed_get(c->run, pp);
        free(pp);
        if (!prec) break;
        json_t *at = json_object_get(prec, "next");
        if (json_is_true(json_object_get(at, "restart"))) {
            /* where the next page was held a secret, so it was not stored:
            ** the pages are read again from the first */
            json_decref(prec);
            json_array_clear(items);
            pages = 0;
            status = 0;
            page_start(d, p, &url, &body, &query, &jbody, &page_no);
            break;
        }
        pages++;
        status = (long)json_integer_value(json_object_get(prec, "http_status"));
        json_array_extend(items, json_object_get(prec, "items"));
        free(url);
        url = page_resume(d, p, at, &body, &query, &jbody, &page_no);
        json_decref(prec);
        if (!url) break;
    }
    attempt_outcome o = c->run->stop ? ATT_STOP : ATT_OK;  /* ATT_STOP: the store could not be read */
    while (o == ATT_OK && url && pages < max) {
        json_t *resp = NULL;
        if (pages > 0 && !same_origin(url, p->url)) {
            /* a page or cursor URL the API gave: the request's credentials
            ** stay on its origin, and a page without them is no page of it */
            char origin[RT_HTTP_ORIGIN_MAX] = "", own[RT_HTTP_ORIGIN_MAX] = "";
            rt_http_origin(p->url, own, sizeof own);
            if (!rt_http_origin(url, origin, sizeof origin)) snprintf(origin, sizeof origin, "not an http(s) URL");
            out->error = rt_xprintf("page %d: the next page's URL '%s' is on another origin (%s) than the request "
                                    "(%s): not followed, so that the request's credentials stay on its origin",
                                    pages + 1, url, origin, own);
            o = ATT_FAIL;
            break;
        }
        if (pages > 0) {
            char *key = rt_xprintf("%s:%s:page%d", c->run->id, path, pages + 1);
            if (json_object_get(headers, "Idempotency-Key")) json_object_set_new(headers, "Idempotency-Key", json_string(key));
            free(key);
        }
        o = http_exchange(c, d, p, url, body, headers, &resp, out);
        if (o != ATT_OK) break;
        pages++;
        status = json_integer_value(json_object_get(resp, "status"));
        json_t *page = page_items_of(d, json_object_get(resp, "body"));
        if (!page && !json_is_null(json_object_get(resp, "body"))) {
            out->error = rt_xprintf("page %d: the response body has no list at the items path", pages);
            json_decref(resp);
            o = ATT_FAIL;
            break;
        }
        size_t got = page ? json_array_size(page) : 0;
        if (page) json_array_extend(items, page);

        /* where the next page is */
        char *next = NULL;
        json_t *cursor = NULL;      /* borrowed: a cursor sent in the query or the JSON body */
        if (d->paginate == RT_PAGE_LINK) {
            char *link = rt_http_link_next(json_object_get(resp, "headers"));
            if (link) next = rt_http_resolve_url(url, link);
            free(link);
        } else if (d->paginate == RT_PAGE_PAGE) {
            if (got > 0 && d->page_param) {
                json_object_set_new(query, d->page_param, json_integer(++page_no));
                next = rt_http_add_query(p->base_url, query);
            }
        } else if (d->paginate == RT_PAGE_CURSOR && d->page_cursor) {
            json_t *cur = d->page_cursor(c, resp);
            if (c->error) {
                free(c->error);
                c->error = NULL;
                cur = NULL;
            }
            bool empty = !cur || json_is_null(cur) || (json_is_string(cur) && !json_string_length(cur)) ||
                         json_is_false(cur);
            if (!empty) {
                if (d->page_target != RT_TARGET_URL) cursor = cur;
                if (d->page_target == RT_TARGET_URL) {
                    rt_buf b = { 0 };
                    rt_buf_append(&b, "", 0);
                    rt_value_render(&b, cur);
                    next = rt_http_resolve_url(url, b.data);
                    rt_buf_free(&b);
                } else if (d->page_target == RT_TARGET_JSON && d->page_param) {
                    if (!json_is_object(jbody)) {
                        json_decref(jbody);
                        jbody = json_object();
                    }
                    json_object_set(jbody, d->page_param, cur);
                    free(body);
                    body = rt_json_text(jbody);
                    next = rt_xstrdup(url);
                } else if (d->page_param) {
                    json_object_set(query, d->page_param, cur);
                    next = rt_http_add_query(p->base_url, query);
                }
            }
        }
        /* the page's checkpoint: its items and where the next page is */
        json_t *at = next ? page_continuation(d, next, cursor, page_no) : json_null();
        json_t *page_items = page ? rt_redact_json(page) : json_array();   /* stored redacted, as outputs are */
        json_t *prec = json_pack("{s:s, s:s, s:i, s:o, s:o}", "kind", "page", "status", "succeeded", "http_status",
                                 (int)status, "items", page_items, "next", at);
        json_decref(resp);
        char *pp = rt_xprintf("%s#page%d", path, pages);
        bool saved = commit_step(c, pp, prec);
        free(pp);
        json_decref(prec);
        free(url);
        url = next;
        if (!saved || interrupted) {
            o = ATT_STOP;
            break;
        }
    }
    bool cut = o == ATT_OK && limited && url && pages >= max;      /* a next page was there */
    free(url);
    free(body);
    json_decref(query);
    json_decref(jbody);
    json_decref(headers);
    if (o != ATT_OK) {
        json_decref(items);
        return o;
    }
    out->output = json_pack("{s:i, s:i, s:o}", "status", (int)status, "pages", pages, "items", items);
    if (cut) {
        json_object_set_new(out->output, "truncated", json_true());
        rt_log_emit(c->run->id, "warning", json_pack("{s:s, s:s, s:i}", "event", "test_limits", "step", path, "pages", pages),
                    "step '%s': --test-limits stopped paging after %d pages; more pages remain (\"truncated\": true)",
                    path, pages);
    }
    out->items_in_pages = true;     /* every page is in its own record already */
    return ATT_OK;
}

/* The attempt of a request that could not be built: arg is the message. */
static attempt_outcome failed_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                      attempt *out)
{
    (void)c;
    (void)d;
    (void)path;
    (void)n;
    out->error = rt_xstrdup(arg);
    return ATT_FAIL;
}

static rt_result *request_step(rt_ctx *c, const rt_step_desc *d, json_t *req)
{
    if (!ctx_check(c)) return NULL;
    char *path = step_path(c, d->name);
    rt_result *r = replay_only(c, d, path);
    if (r || !ctx_check(c)) {
        if (r)
            rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path, "status",
                                                      "replayed"),
                        "step '%s' replayed from its checkpoint", path);
        free(path);
        return r;
    }
    request_arg arg;
    char *err = NULL;
    bool ok = prepare_request(c, d, path, req, &arg.p, &err);
    if (!ok || c->error) {
        /* cannot even build the request (or a secret was missing): a
        ** permanent failure of the step, through the common path */
        free(path);
        if (!err && c->error) {
            err = c->error;     /* the step owns this error: it may continue */
            c->error = NULL;
        }
        json_t *input = json_pack("{s:O?}", "request", req);
        r = run_step(c, d, "request", input, failed_attempt, err ? err : "cannot build the request");
        json_decref(input);
        prepared_free(&arg.p);
        free(err);
        return r;
    }
    free(path);
    json_t *input = request_input(&arg.p);
    r = run_step(c, d, "request", input, request_attempt, &arg);
    json_decref(input);
    prepared_free(&arg.p);
    return r;
}

/* ---- function steps ----------------------------------------------------- */

/* flow_fail / flow_retry / flow_log state of the function step running on
** this thread. */
struct fn_state {
    rt_ctx *c;
    const char *path;
    char *message;              /* owned */
    bool retry;
    bool failed;
    int nlogs;
};

static json_t *fn_record(bool retry, const char *fmt, va_list ap)
{
    sigset_t old;
    fn_timeout_block(&old);
    fn_state *s = ts_get()->current_fn;
    char *msg = rt_xvprintf(fmt, ap);
    if (!s) {
        rt_log_emit(NULL, "error", NULL, "flow_%s outside a function step: %s", retry ? "retry" : "fail", msg);
        free(msg);
    } else {
        free(s->message);
        s->message = msg;
        s->retry = retry;
        s->failed = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return NULL;
}

json_t *flow_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fn_record(false, fmt, ap);
    va_end(ap);
    return NULL;
}

json_t *flow_retry(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fn_record(true, fmt, ap);
    va_end(ap);
    return NULL;
}

static void add_log(rt_ctx *c, const char *path, int line, const char *msg);

void flow_log(const char *fmt, ...)
{
    sigset_t old;
    fn_timeout_block(&old);
    va_list ap;
    va_start(ap, fmt);
    char *msg = rt_xvprintf(fmt, ap);
    va_end(ap);
    fn_state *s = ts_get()->current_fn;
    if (!s) {
        rt_log_emit(NULL, "info", NULL, "%s", msg);
    } else {
        char *path = rt_xprintf("%s#log%d", s->path, ++s->nlogs);
        add_log(s->c, path, 0, msg);
        free(path);
    }
    free(msg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

typedef struct function_arg {
    rt_function_fn fn;
    json_t *params;
} function_arg;

static attempt_outcome function_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                        attempt *out)
{
    (void)n;
    function_arg *fa = arg;
    fn_state st = { .c = c, .path = path };
    thread_state *ts = ts_get();
    guard_thread_setup(ts);
    sigjmp_buf jb;
    json_t *volatile result = NULL;
    fn_state *volatile saved = ts->current_fn;
    ts->current_fn = &st;
    rt_co_pin();        /* the crash guard and the timer belong to the thread: no yield in here */
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) {
        ts->fn_expired = 0;
        ts->guard_jmp = &jb;
        fn_timer_start(ts, d->timeout_ms);
        result = fa->fn(fa->params);
    }
    ts->guard_jmp = NULL;
    fn_timer_stop(ts);
    rt_co_unpin();
    ts->current_fn = saved;
    if (sig == FN_TIMED_OUT || (sig == 0 && ts->fn_expired)) {
        json_decref(result);
        free(st.message);
        out->error = rt_xprintf("timed out after %ld ms in the function's C code", d->timeout_ms);
        return ATT_RETRY;
    }
    if (sig != 0) {
        free(st.message);
        out->error = rt_xprintf("crashed with signal %s in the function's C code (line %d)", signal_label(sig),
                                d->line);
        return ATT_FAIL;
    }
    if (!result) {
        if (st.failed) {
            out->error = st.message;
            return st.retry ? ATT_RETRY : ATT_FAIL;
        }
        free(st.message);
        /* a NULL return, or the end of the body reached (flowc ends every
        ** body with `return NULL;`), with no flow_fail/flow_retry: the step's
        ** name is in the failure's log line and history entry */
        out->error = rt_xstrdup("the function returned no value (NULL, or the end of its C body) "
                                "without calling flow_fail or flow_retry");
        return ATT_FAIL;
    }
    free(st.message);
    char err[600];
    if (!rt_type_check(d->out_type, result, "output", err, sizeof err)) {
        json_decref(result);
        out->error = rt_xstrdup(err);
        return ATT_FAIL;
    }
    out->output = result;
    return ATT_OK;
}

static rt_result *function_step(rt_ctx *c, const rt_step_desc *d, json_t *params, rt_function_fn fn)
{
    function_arg fa = { fn, params };
    return run_step(c, d, "function", params, function_attempt, &fa);
}

/* ---- fanout ------------------------------------------------------------- */

typedef struct fanout_job {
    rt_ctx *parent;
    const rt_step_desc *d;
    json_t *list;
    rt_item_fn item;
    json_t *outputs;            /* owned: one slot per item, or NULL when the
                                   workflow never reads them (fanout_keeps_outputs) */
    pthread_mutex_t lock;
    size_t next;                /* the next item to start */
    size_t workers;             /* items at once (concurrency) */
    size_t running;             /* item coroutines alive */
    rt_co *driver;              /* the coroutine starting them */
    long failed_item;           /* the first item that failed, or -1 */
    char *failure;              /* owned: its message */
    size_t done;                /* items that returned in this attempt */
    int64_t deadline;           /* the step's `timeout` (rt_mono_ms), or 0 */
    bool timed_out;             /* an item was left unstarted at the deadline */
} fanout_job;

static void fanout_run_item(fanout_job *job, size_t i)
{
    rt_ctx *p = job->parent;
    char *prefix = rt_xprintf("%s%s[%zu].", p->prefix, job->d->name, i);
    rt_ctx *ic = rt_ctx_new(p->run, p, prefix);
    free(prefix);
    ic->var = job->d->var;
    ic->value = json_array_get(job->list, i);
    job->item(ic, ic->value);
    ctx_check(ic);
    pthread_mutex_lock(&job->lock);
    if (ic->returned && !ic->failure) {
        job->done++;
        if (job->outputs) json_array_set(job->outputs, i, ic->ret ? ic->ret : json_null());
    } else if (ic->failure && (job->failed_item < 0 || (long)i < job->failed_item)) {
        free(job->failure);
        job->failure = rt_xprintf("item %zu: %s", i, ic->failure);
        job->failed_item = (long)i;
    }
    pthread_mutex_unlock(&job->lock);
    rt_ctx_free(ic);
}

/* Whether the fanout should start item i: one is left, none failed, the
** run goes on. Called with job->lock held. */
static bool fanout_may_start(fanout_job *job, size_t i)
{
    if (i >= json_array_size(job->list) || job->failed_item >= 0 || job->parent->run->stop || interrupted)
        return false;
    if (job->deadline && rt_mono_ms() >= job->deadline) {
        job->timed_out = true;      /* the items in flight finish; no new one starts */
        return false;
    }
    return true;
}

/* Takes items one after the other until none is left, one fails, or the
** run stops (concurrency 1, and test mode: mocks answer in a stable order). */
static void fanout_worker(fanout_job *job)
{
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t i = job->next++;
        bool go = fanout_may_start(job, i);
        pthread_mutex_unlock(&job->lock);
        if (!go) break;
        fanout_run_item(job, i);
    }
}

/* ---- concurrent items: coroutines on one scheduler ------------------------
** The fanout's driver, itself a coroutine, keeps up to `concurrency` item
** coroutines alive and waits for one to end before starting the next (an
** item waiting for its checkpoint to be durable still counts: a kill
** redoes at most `concurrency` items). A nested fanout's driver is the
** enclosing item's coroutine, on the same scheduler. */
typedef struct fanout_item_arg {
    fanout_job *job;
    size_t i;
} fanout_item_arg;

static void fanout_item_co(void *arg)
{
    fanout_item_arg a = *(fanout_item_arg *)arg;
    free(arg);
    fanout_run_item(a.job, a.i);
    a.job->running--;
    rt_co_wake(a.job->driver);
}

static void fanout_drive(fanout_job *job)
{
    job->driver = rt_co_current();
    rt_co_sched *s = rt_co_sched_of(job->driver);
    for (;;) {
        while (job->running < job->workers) {
            pthread_mutex_lock(&job->lock);
            bool go = fanout_may_start(job, job->next);
            pthread_mutex_unlock(&job->lock);
            if (!go) break;
            fanout_item_arg *a = rt_xmalloc(sizeof *a);
            *a = (fanout_item_arg){ job, job->next++ };
            job->running++;
            rt_co_spawn(s, fanout_item_co, a);
        }
        if (job->running == 0) break;
        rt_co_wait();
    }
}

static void fanout_drive_co(void *arg)
{
    fanout_drive(arg);
}

static attempt_outcome fanout_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                      attempt *out)
{
    (void)path;
    (void)n;
    fanout_job *job = arg;
    size_t count = json_array_size(job->list);
    job->next = 0;
    job->running = 0;
    job->failed_item = -1;
    job->done = 0;
    job->deadline = d->timeout_ms > 0 ? rt_mono_ms() + d->timeout_ms : 0;
    job->timed_out = false;
    if (job->outputs) {
        json_array_clear(job->outputs);
        for (size_t i = 0; i < count; i++) json_array_append(job->outputs, json_null());
    }

    int workers = d->concurrency > 0 ? d->concurrency : 8;
    if ((size_t)workers > count) workers = (int)count;
    if (c->run->test_mode) workers = 1;     /* mocks answer in a stable order */
    job->workers = (size_t)(workers > 0 ? workers : 1);
    if (workers <= 1) {
        fanout_worker(job);
    } else if (rt_co_current()) {
        fanout_drive(job);                  /* nested: on the enclosing item's scheduler */
    } else {
        rt_co_sched *s = rt_co_sched_new(c->run->store);
        rt_co_spawn(s, fanout_drive_co, job);
        rt_co_run(s);
        if (rt_co_sched_error(s)) run_store_failed(c->run, rt_co_sched_error(s));
        rt_co_sched_free(s);
    }
    if (c->run->stop || interrupted) return ATT_STOP;
    /* `retry N` on a fanout runs it again: the items that finished replay
    ** from their checkpoints, the failed one runs again, whatever its error
    ** (the retry was asked for the fanout as a whole) */
    if (job->failed_item >= 0) {
        out->error = job->failure;
        job->failure = NULL;
        return d->retries > 0 ? ATT_RETRY : ATT_FAIL;
    }
    if (job->timed_out) {           /* retryable, as any timeout: the next attempt goes on from here */
        out->error = rt_xprintf("timed out after %ld ms with %zu of %zu items done", d->timeout_ms, job->done, count);
        return ATT_RETRY;
    }
    /* the record keeps the length only: the returns are the items' to
    ** replay (fanout_rebuild), not a second copy of the list as one value */
    out->output = job->outputs ? json_incref(job->outputs) : null_list(count);
    out->count_only = true;
    return ATT_OK;
}

/* Whether a fanout keeps its items' return values. Not when the compiler
** proved the workflow never reads them: memory then does not grow with
** the items' outputs. Tests and Test Step read every step's output. */
static bool fanout_keeps_outputs(const rt_ctx *c, const rt_step_desc *d)
{
    return !d->output_unread || c->run->test_mode || c->run->only_step;
}

/* A fanout that finished in an earlier process, whose output the workflow
** reads: its record keeps only the length, so the list is rebuilt by
** running the items again, every step of which replays its record (no
** request is sent). True when it handled the step: *r is the result, or
** NULL when the run must stop. */
static bool fanout_rebuild(rt_ctx *c, const rt_step_desc *d, fanout_job *job, rt_result **r)
{
    *r = NULL;
    if (!job->outputs) return false;    /* nobody reads it: replay() makes the list of nulls */
    char *path = step_path(c, d->name);
    json_t *rec = committed_get(c->run, path);
    const char *status = json_string_value(json_object_get(rec, "status"));
    bool rebuild = status && strcmp(status, "succeeded") == 0 && !json_object_get(rec, "output") &&
                   json_is_integer(json_object_get(rec, "count"));
    json_decref(rec);
    if (!rebuild) {
        free(path);
        return !ctx_check(c);           /* a store error: stop */
    }
    attempt at = { .retry_after_ms = -1 };
    attempt_outcome o = fanout_attempt(c, d, path, job, 1, &at);
    if (o == ATT_OK) {
        rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path, "status",
                                                  "replayed"),
                    "step '%s' replayed from its items' checkpoints", path);
        *r = ctx_add_result(c, d->name, at.output, true, NULL);
        json_decref(at.output);
    } else if (o == ATT_FAIL || o == ATT_RETRY) {
        char *msg = rt_xprintf("step '%s': replaying its items: %s", path, at.error ? at.error : "failed");
        ctx_fail(c, path, msg);
        free(msg);
    }
    free(at.error);
    free(path);
    return true;
}

static rt_result *fanout_step(rt_ctx *c, const rt_step_desc *d, json_t *list, rt_item_fn item)
{
    if (!ctx_check(c)) return NULL;
    if (!json_is_array(list) && !json_is_null(list)) {
        char desc[96];
        rt_value_describe(list, desc, sizeof desc);
        rt_ctx_raise(c, d->line, "fanout '%s' needs a list, got %s", d->name, desc);
        ctx_check(c);
        return NULL;
    }
    fanout_job job = { .parent = c, .d = d, .list = json_is_array(list) ? list : json_array(), .item = item,
                       .outputs = fanout_keeps_outputs(c, d) ? json_array() : NULL, .failed_item = -1 };
    if (!json_is_array(list)) rt_pool_keep(&c->pool, job.list);
    pthread_mutex_init(&job.lock, NULL);
    rt_result *r;
    if (!fanout_rebuild(c, d, &job, &r)) {
        json_t *input = json_pack("{s:I}", "items", (json_int_t)json_array_size(job.list));
        r = run_step(c, d, "fanout", input, fanout_attempt, &job);
        json_decref(input);
    }
    json_decref(job.outputs);
    free(job.failure);
    pthread_mutex_destroy(&job.lock);
    return r;
}

/* ---- Test Step: one step with its upstream outputs given ----------------- */

/* Whether a given output fits what step d produces. */
static bool input_fits(const rt_step_desc *d, json_t *v, char *err, size_t n)
{
    char what[200];
    snprintf(what, sizeof what, "--input: step '%s'", d->name);
    if (d->kind == RT_STEP_FUNCTION || (d->kind == RT_STEP_REQUEST && d->body_output && d->paginate == RT_PAGE_NONE))
        return rt_type_check(d->out_type, v, what, err, n);
    if (d->kind == RT_STEP_FANOUT) {
        if (json_is_array(v)) return true;
        snprintf(err, n, "%s: expected a list (one output per item)", what);
        return false;
    }
    if (!json_is_object(v)) {
        snprintf(err, n, "%s: expected an object { status, headers, %s }", what,
                 d->paginate != RT_PAGE_NONE ? "pages, items" : "body");
        return false;
    }
    json_t *status = json_object_get(v, "status");
    if (status && !json_is_integer(status)) {
        snprintf(err, n, "%s: field 'status' expected int", what);
        return false;
    }
    if (d->paginate != RT_PAGE_NONE) {
        if (json_is_array(json_object_get(v, "items"))) return true;
        snprintf(err, n, "%s: field 'items' expected a list", what);
        return false;
    }
    snprintf(what, sizeof what, "--input: step '%s' body", d->name);
    json_t *body = json_object_get(v, "body");
    return rt_type_check(d->out_type, body ? body : json_null(), what, err, n);
}

/* What a step does in Test Step mode instead of running: 0 run it, 1 *r
** holds its given output (or a not-run result), 2 stop the run. */
static int step_mode(rt_ctx *c, const rt_step_desc *d, rt_result **r)
{
    rt_run_state *run = c->run;
    *r = NULL;
    if (strcmp(d->name, run->only_step) == 0) return 0;
    char *path = step_path(c, d->name);
    pthread_mutex_lock(&run->lock);
    /* by path first: --from gives each fanout item's steps their own outputs */
    json_t *given = json_object_get(run->step_inputs, path);
    if (!given) given = json_object_get(run->step_inputs, d->name);
    if (given) json_object_set_new(run->inputs_used, d->name, json_true());
    pthread_mutex_unlock(&run->lock);
    if ((!given || run->inputs_from_run) && d->kind == RT_STEP_FANOUT) {
        free(path);
        return 0;       /* its body may hold the step */
    }
    if (!ctx_check(c)) {
        free(path);
        return 2;
    }
    if (given) {
        char err[700];
        if (!input_fits(d, given, err, sizeof err)) {
            pthread_mutex_lock(&run->lock);
            if (!run->input_error) run->input_error = rt_xstrdup(err);
            run->stop = true;
            pthread_mutex_unlock(&run->lock);
            free(path);
            return 2;
        }
        *r = ctx_add_result(c, d->name, given, true, NULL);
    } else {
        rt_log_emit(run->id, "warning", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path, "status", "missing"),
                    "step '%s' is not in --input: it counts as not run", path);
        *r = ctx_add_result(c, d->name, NULL, false, "not run (no output given in --input)");
    }
    free(path);
    return 1;
}

/* After a step in Test Step mode: the step under test records its output
** and ends its context; the run ends after it (or after the fanout that
** ran it). */
static rt_result *step_mode_after(rt_ctx *c, const rt_step_desc *d, rt_result *r)
{
    rt_run_state *run = c->run;
    if (strcmp(d->name, run->only_step) == 0) {
        if (!r) return NULL;
        char *path = step_path(c, d->name);
        if (!r->ok && !d->continue_on_failure) {
            char *msg = rt_xprintf("step '%s': %s", path, json_string_value(r->error));
            ctx_fail(c, path, msg);
            free(msg);
        }
        pthread_mutex_lock(&run->lock);
        /* as the run would: a failure `on failure continue` keeps (in a
        ** fanout item too) shows as null, and the other items go on */
        json_object_set(run->step_outputs, path, r->ok ? r->out : json_null());
        run->step_done = true;
        if (!c->parent) run->stop = true;
        pthread_mutex_unlock(&run->lock);
        free(path);
        return NULL;
    }
    if (run->step_done && !c->parent) {
        pthread_mutex_lock(&run->lock);
        run->stop = true;
        pthread_mutex_unlock(&run->lock);
        return NULL;
    }
    return r;
}

rt_result *rt_step_given(rt_ctx *c, const rt_step_desc *d)
{
    if (!c->run->only_step || d->kind == RT_STEP_FANOUT) return NULL;
    rt_result *r;
    return step_mode(c, d, &r) == 1 ? r : NULL;     /* 0 and 2: the step's own call decides */
}

rt_result *rt_request(rt_ctx *c, const rt_step_desc *d, json_t *req)
{
    rt_result *r;
    if (!c->run->only_step) return request_step(c, d, req);
    int m = step_mode(c, d, &r);
    return m ? r : step_mode_after(c, d, request_step(c, d, req));
}

rt_result *rt_function(rt_ctx *c, const rt_step_desc *d, json_t *params, rt_function_fn fn)
{
    rt_result *r;
    if (!c->run->only_step) return function_step(c, d, params, fn);
    int m = step_mode(c, d, &r);
    return m ? r : step_mode_after(c, d, function_step(c, d, params, fn));
}

rt_result *rt_fanout(rt_ctx *c, const rt_step_desc *d, json_t *list, rt_item_fn item)
{
    rt_result *r;
    if (!c->run->only_step) return fanout_step(c, d, list, item);
    int m = step_mode(c, d, &r);
    return m ? r : step_mode_after(c, d, fanout_step(c, d, list, item));
}

/* ---- statements --------------------------------------------------------- */

int rt_return(rt_ctx *c, json_t *value)
{
    if (!ctx_check(c)) return RT_STOP;
    c->ret = value ? value : json_null();
    c->returned = true;
    return RT_STOP;
}

int rt_fail(rt_ctx *c, json_t *message)
{
    if (!ctx_check(c)) return RT_STOP;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    rt_value_render(&b, message);
    ctx_fail(c, NULL, b.len ? b.data : "failed");
    rt_buf_free(&b);
    return RT_STOP;
}

/* The answer of a request trigger, { status?, headers? }, checked: a status
** is an integer from 100 to 599, headers an object of strings that hold no
** line break (they go into the HTTP answer as they are). */
static bool reply_set(rt_ctx *c, json_t *status, json_t *headers, bool on_fail, int line)
{
    json_t *reply = json_object();
    if (status) {
        if (!json_is_integer(status) || json_integer_value(status) < 100 || json_integer_value(status) > 599) {
            char *text = rt_json_text(status);
            rt_ctx_raise(c, line, "status %s is not an HTTP status (an integer from 100 to 599)", text);
            free(text);
            json_decref(reply);
            return false;
        }
        json_object_set(reply, "status", status);
    }
    if (headers) {
        const char *k;
        json_t *v;
        json_object_foreach(headers, k, v) {
            const char *t = json_string_value(v);
            if (!t || strpbrk(t, "\r\n") || strlen(t) != json_string_length(v)) {
                rt_ctx_raise(c, line, "header '%s' of the answer must be a string without line breaks", k);
                json_decref(reply);
                return false;
            }
        }
        json_object_set(reply, "headers", headers);
    }
    if (on_fail) json_object_set_new(reply, "on_fail", json_true());
    pthread_mutex_lock(&c->run->lock);
    json_decref(c->run->reply);
    c->run->reply = reply;
    pthread_mutex_unlock(&c->run->lock);
    return true;
}

int rt_return_reply(rt_ctx *c, json_t *value, json_t *status, json_t *headers, int line)
{
    if (!ctx_check(c)) return RT_STOP;
    if (!reply_set(c, status, headers, false, line)) {
        ctx_check(c);
        return RT_STOP;
    }
    return rt_return(c, value);
}

int rt_fail_reply(rt_ctx *c, json_t *message, json_t *status, json_t *headers, int line)
{
    if (!ctx_check(c)) return RT_STOP;
    if (!reply_set(c, status, headers, true, line)) {
        ctx_check(c);
        return RT_STOP;
    }
    return rt_fail(c, message);
}

/* A line of the run's history at path; replayed lines are not repeated. */
static void add_log(rt_ctx *c, const char *path, int line, const char *msg)
{
    rt_run_state *run = c->run;
    if (json_object_get(run->committed_logs, path)) return;
    char *red = rt_redact(msg);
    json_t *f = json_pack("{s:s, s:s}", "event", "log", "path", path);
    if (line) json_object_set_new(f, "line", json_integer(line));
    rt_log_emit(run->id, "info", f, "log: %s", red);
    json_t *rec = json_pack("{s:I, s:s, s:i, s:s}", "ts", (json_int_t)rt_now_ms(), "path", path, "line", line,
                            "msg", red);
    pthread_mutex_lock(&run->lock);
    json_array_append_new(run->pending_logs, rec);
    pthread_mutex_unlock(&run->lock);
    free(red);
}

void rt_log(rt_ctx *c, json_t *value, int line)
{
    if (c->error || c->failure) return;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    rt_value_render(&b, value);
    char *path = rt_xprintf("%slog@%d", c->prefix, line);
    add_log(c, path, line, b.data);
    free(path);
    rt_buf_free(&b);
}

/* A durable wait until wake_at (ms since the epoch), named id. */
static int wait_at(rt_ctx *c, const char *id, int64_t wake_at_if_new)
{
    if (!ctx_check(c)) return RT_STOP;
    char *path = step_path(c, id);
    json_t *prev = committed_get(c->run, path);
    const char *status = json_string_value(json_object_get(prev, "status"));
    bool done = status && strcmp(status, "succeeded") == 0;
    if (done || !ctx_check(c)) {      /* not done: the store could not be read */
        json_decref(prev);
        free(path);
        return done ? RT_OK : RT_STOP;
    }
    int64_t wake_at = prev ? json_integer_value(json_object_get(prev, "wake_at")) : wake_at_if_new;
    bool had_record = prev != NULL;
    json_decref(prev);
    json_t *rec = json_pack("{s:s, s:s, s:I, s:I}", "kind", "wait", "status", "waiting", "started",
                            (json_int_t)rt_now_ms(), "wake_at", (json_int_t)wake_at);
    if (!had_record && !commit_step(c, path, rec)) {
        json_decref(rec);
        free(path);
        return RT_STOP;
    }
    int64_t left = wake_at - rt_now_ms();
    char when[40];
    rt_format_time(wake_at, when, sizeof when);
    if (left > 0 && (c->run->test_limits || c->run->only_step || c->run->test_mode)) {
        /* test mode: waits are skipped */
        rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "wait", "step", path, "status", "skipped"),
                    "wait until %s skipped (test limits)", when);
        json_object_set_new(rec, "skipped", json_true());
    } else if (left > 0) {
        if (c->run->sleep_in_process || left <= c->run->sleep_horizon_ms)
            rt_log_emit(c->run->id, "info",
                        json_pack("{s:s, s:s, s:s, s:I}", "event", "wait", "step", path, "until", when, "ms",
                                  (json_int_t)left),
                        "waiting until %s (%lld ms)", when, (long long)left);
        if (!durable_sleep(c, wake_at)) {
            json_decref(rec);
            free(path);
            return RT_STOP;
        }
    }
    json_object_set_new(rec, "status", json_string("succeeded"));
    json_object_set_new(rec, "ended", json_integer(rt_now_ms()));
    bool ok = commit_step(c, path, rec);
    json_decref(rec);
    free(path);
    return ok ? RT_OK : RT_STOP;
}

int rt_wait(rt_ctx *c, const char *id, long ms)
{
    return wait_at(c, id, rt_now_ms() + ms);
}

int rt_wait_until(rt_ctx *c, const char *id, json_t *when)
{
    int64_t at;
    if (json_is_string(when) && rt_parse_time(json_string_value(when), &at)) {
        /* an RFC 3339 time */
    } else if (json_is_number(when)) {
        double v = json_number_value(when);    /* seconds since the epoch (ms when huge) */
        at = (int64_t)(v > 1e11 ? v : v * 1000);
    } else {
        char desc[96];
        rt_value_describe(when, desc, sizeof desc);
        rt_ctx_raise(c, 0, "wait until needs an RFC 3339 time or epoch seconds, got %s", desc);
        return ctx_check(c) ? RT_OK : RT_STOP;
    }
    return wait_at(c, id, at);
}

/* ---- run values --------------------------------------------------------- */

json_t *rt_trigger(rt_ctx *c)
{
    json_t *t = json_object_get(c->run->record, "trigger");
    return t ? t : json_null();
}

json_t *rt_settings(rt_ctx *c)
{
    json_t *s = json_object_get(c->run->record, "settings");
    return s ? s : json_null();
}

/* env.NAME is typed string: an unset variable fails the run, naming it,
** rather than letting null into a string (as a secret does). */
json_t *rt_env(rt_ctx *c, const char *name)
{
    const char *v = rt_run_getenv(c->run, name);
    if (!v) {
        rt_ctx_raise(c, 0, "environment variable %s is not set (env.%s)", name, name);
        return rt_str(c, "");
    }
    return rt_str(c, v);
}

char *rt_run_secret(rt_run_state *run, const char *name)
{
    pthread_mutex_lock(&run->lock);
    const char *v = json_string_value(json_object_get(run->secrets, name));
    char *copy = v ? rt_xstrdup(v) : NULL;
    pthread_mutex_unlock(&run->lock);
    char var[200];
    if (!copy && (v = rt_run_getenv(run, rt_env_name(var, sizeof var, "FLOW_SECRET_", name, "")))) copy = rt_xstrdup(v);
    /* flowc test: requests are mocked, so a secret the test does not give
    ** (DESIGN's own example leaves out slack_token) reads as a placeholder */
    if (!copy && run->test_mode) copy = rt_xprintf("test-%s", name);
    return copy;
}

void rt_run_set_secret(rt_run_state *run, const char *name, const char *value)
{
    rt_redact_add(value);
    pthread_mutex_lock(&run->lock);
    if (!run->secrets) run->secrets = json_object();
    json_object_set_new(run->secrets, name, rt_json_bytes(value));
    pthread_mutex_unlock(&run->lock);
}

/* The user's stored credential, else FLOW_SECRET_<NAME>. */
static json_t *secret_value(rt_ctx *c, const char *name)
{
    char *v = rt_run_secret(c->run, name);
    if (!v) {
        char var[200];
        rt_env_name(var, sizeof var, "FLOW_SECRET_", name, "");
        const char *user = json_string_value(json_object_get(c->run->record, "user"));
        if (user)
            rt_ctx_raise(c, 0, "secret '%s' is not set (store it with `users set %s --secret %s=...`, or set %s)",
                         name, user, name, var);
        else
            rt_ctx_raise(c, 0, "secret '%s' is not set (set %s)", name, var);
        return rt_str(c, "");
    }
    rt_redact_add(v);
    json_t *s = rt_str(c, v);
    free(v);
    return s;
}

json_t *rt_secret(rt_ctx *c, const char *name)
{
    return secret_value(c, name);
}

json_t *rt_run(rt_ctx *c)
{
    rt_run_state *run = c->run;
    pthread_mutex_lock(&run->lock);
    if (!run->info) {
        /* run.user is a string (the checker types it so): "" when the run
        ** has no user (a development run without --user) */
        const char *user = json_string_value(json_object_get(run->record, "user"));
        run->info = json_pack("{s:s, s:s, s:I}", "id", run->id, "user", user ? user : "", "attempt",
                              json_integer_value(json_object_get(run->record, "attempt")));
    }
    pthread_mutex_unlock(&run->lock);
    return run->info;
}

json_t *rt_run_output(rt_ctx *c)
{
    return c->run->output ? c->run->output : json_null();
}

json_t *rt_run_status(rt_ctx *c)
{
    const char *s = json_string_value(json_object_get(c->run->record, "status"));
    return rt_str(c, s ? s : "running");
}

/* ---- a whole run -------------------------------------------------------- */

static const char *outcome_status(rt_outcome o)
{
    switch (o) {
    case RT_RUN_SUCCEEDED: return "succeeded";
    case RT_RUN_FAILED: return "failed";
    case RT_RUN_INTERRUPTED: return "interrupted";
    case RT_RUN_SKIPPED: return "skipped";
    default: return "waiting";
    }
}

/* Makes the run this process's (rt_owner_claim), or says why not: false
** with the outcome set. */
static bool claim_run(rt_run_state *run)
{
    char msg[512];
    switch (rt_owner_claim(run->store, run->record, msg, sizeof msg)) {
    case RT_CLAIM_OK: return true;
    case RT_CLAIM_OWNED:
    case RT_CLAIM_ENDED:
        rt_log_emit(run->id, "info", json_pack("{s:s}", "event", "run_skipped"), "%s: not executed here", msg);
        run->outcome = RT_RUN_SKIPPED;
        break;
    case RT_CLAIM_ERROR:
        /* nothing was written: the run is as it was, unfinished */
        rt_log_emit(run->id, "error", NULL, "%s", msg);
        run->store_failed = true;
        run->store_unwritable = rt_store_unwritable(msg);
        run->outcome = RT_RUN_INTERRUPTED;
        break;
    }
    run->error = rt_xstrdup(msg);
    return false;
}

rt_outcome rt_exec_run(rt_run_state *run)
{
    const rt_workflow *wf = run->wf;
    json_t *rec = run->record;
    char err[256];
    if (!claim_run(run)) {
        run->committed = rt_committed_new(run->store, run->id);
        return run->outcome;
    }
    run->committed = rt_committed_load(run->store, run->id, err, sizeof err);
    if (!run->committed) {
        /* the run stays claimed (running): the next claim of a live
        ** process (serve's, or a resume after this one) tries again */
        rt_log_emit(run->id, "error", NULL, "%s", err);
        run->committed = rt_committed_new(run->store, run->id);
        run->store_failed = true;
        run->outcome = RT_RUN_INTERRUPTED;
        run->error = rt_xstrdup(err);
        return run->outcome;
    }
    if (run->only_step) {
        run->step_outputs = json_object();
        run->inputs_used = json_object();
    }
    run->committed_logs = rt_store_get_logs(run->store, run->id);
    for (int i = 0; i < wf->nsecrets; i++) {
        char var[200];
        rt_redact_add(getenv(rt_env_name(var, sizeof var, "FLOW_SECRET_", wf->secrets[i], "")));
    }
    const char *sk;
    json_t *sv;
    json_object_foreach(run->secrets, sk, sv) rt_redact_add(json_string_value(sv));

    int attempt_no = (int)json_integer_value(json_object_get(rec, "attempt"));
    rt_log_emit(run->id, "info",
                json_pack("{s:s, s:s, s:i}", "event", "run", "status", "running", "attempt", attempt_no),
                "run %s (attempt %d)", attempt_no > 1 ? "resumed" : "started", attempt_no);
    int64_t t0 = rt_mono_ms();

    rt_ctx *c = rt_ctx_new(run, NULL, "");
    wf->body(c);
    ctx_check(c);

    if (run->only_step) {
        /* Test Step: the step's output, or why it did not run */
        if (run->input_error) {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xstrdup(run->input_error);
        } else if (c->failure) {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xstrdup(c->failure);
            run->failed_step = c->failed_step ? rt_xstrdup(c->failed_step) : NULL;
        } else if (run->step_done) {
            run->outcome = RT_RUN_SUCCEEDED;
            json_t *one = json_object_get(run->step_outputs, run->only_step);
            run->output = json_incref(one ? one : run->step_outputs);
        } else if (interrupted) {
            run->outcome = RT_RUN_INTERRUPTED;
        } else {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xprintf("step '%s' did not run: a condition skipped it, the run ended before it, "
                                    "or there is no such step", run->only_step);
            run->input_error = rt_xstrdup(run->error);      /* a usage error: exit 2 */
        }
        const char *k;
        json_t *v;
        json_object_foreach(run->step_inputs, k, v)
            if (!run->inputs_from_run && !json_object_get(run->inputs_used, k) && strcmp(k, run->only_step) != 0)
                rt_log_emit(run->id, "warning", NULL, "--input names step '%s', which did not come before '%s'", k,
                            run->only_step);
    } else if (run->store_unwritable) {
        /* a commit failed and may succeed later: what ran after the last
        ** good commit is not taken as done (a failure it caused may be the
        ** store's); the run stays resumable */
        run->outcome = RT_RUN_INTERRUPTED;
    } else if (run->suspended) {
        run->outcome = RT_RUN_WAITING;
    } else if (interrupted && !c->returned && !c->failure) {
        run->outcome = RT_RUN_INTERRUPTED;
    } else if (run->stop && !c->failure) {
        run->outcome = RT_RUN_FAILED;       /* the store failed under us */
    } else if (c->failure) {
        run->outcome = RT_RUN_FAILED;
        free(run->error);
        run->error = rt_xstrdup(c->failure);
        run->failed_step = c->failed_step ? rt_xstrdup(c->failed_step) : NULL;
    } else if (c->returned) {
        char e[600];
        if (wf->output_type && !rt_type_check(wf->output_type, c->ret, "run output", e, sizeof e)) {
            run->outcome = RT_RUN_FAILED;
            run->error = rt_xstrdup(e);
        } else {
            run->outcome = RT_RUN_SUCCEEDED;
            run->output = json_incref(c->ret);
        }
    } else {
        run->outcome = RT_RUN_FAILED;
        run->error = rt_xstrdup("the workflow body stopped without a result");
    }

    /* the final record, with the log lines not yet written; the reason
    ** redacted (a store or --input error was not) and valid UTF-8, so that
    ** it is never left out of the record */
    if (run->error) {
        char *red = rt_redact(run->error);
        free(run->error);
        run->error = red;
    }
    json_object_set_new(rec, "status", json_string(outcome_status(run->outcome)));
    json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
    if (run->output) json_object_set_new(rec, "output", rt_redact_json(run->output));
    /* a request trigger's answer: a `return status` of a run that succeeded,
    ** a `fail status` of one that failed there */
    bool on_fail = json_is_true(json_object_get(run->reply, "on_fail"));
    if (run->reply && ((run->outcome == RT_RUN_SUCCEEDED && !on_fail) || (run->outcome == RT_RUN_FAILED && on_fail))) {
        json_t *reply = rt_redact_json(run->reply);
        json_object_del(reply, "on_fail");
        json_object_set_new(rec, "reply", reply);
    } else
        json_object_del(rec, "reply");
    if (run->error) json_object_set_new(rec, "error", json_string(run->error));
    else json_object_del(rec, "error");
    if (run->failed_step) json_object_set_new(rec, "failed_step", json_string(run->failed_step));
    else json_object_del(rec, "failed_step");
    if (run->outcome == RT_RUN_WAITING) json_object_set_new(rec, "wake_at", json_integer(run->wake_at));
    else json_object_del(rec, "wake_at");
    if (run->outcome == RT_RUN_SUCCEEDED || run->outcome == RT_RUN_FAILED)
        json_object_set_new(rec, "ended", json_integer(rt_now_ms()));
    else
        json_object_del(rec, "ended");
    pthread_mutex_lock(&run->lock);
    json_t *logs = run->pending_logs;
    run->pending_logs = json_array();
    pthread_mutex_unlock(&run->lock);
    rt_store_write w = { .run_id = run->id, .run = rec, .old_status = "running",
                         .logs = json_array_size(logs) ? logs : NULL };
    if (!rt_store_commit(run->store, &w, err, sizeof err)) {
        /* the store still says running: not ended until it says so, the
        ** next claim replays it (committed steps are not executed again) */
        rt_log_emit(run->id, "error", NULL, "%s", err);
        run->store_failed = true;
        run->store_unwritable |= rt_store_unwritable(err);
        if (run->outcome != RT_RUN_INTERRUPTED) {
            free(run->error);
            run->error = rt_xstrdup(err);
            run->outcome = RT_RUN_INTERRUPTED;
        }
    }
    json_decref(logs);
    rt_store_sync(run->store);
    if (run->on_finish) run->on_finish(c, run->on_finish_arg);
    rt_ctx_free(c);

    long long ms = (long long)(rt_mono_ms() - t0);
    json_t *f = json_pack("{s:s, s:s, s:I}", "event", "run", "status", outcome_status(run->outcome), "ms",
                          (json_int_t)ms);
    switch (run->outcome) {
    case RT_RUN_SUCCEEDED: rt_log_emit(run->id, "info", f, "run succeeded in %lld ms", ms); break;
    case RT_RUN_FAILED:
        if (run->error) json_object_set_new(f, "error", json_string(run->error));
        rt_log_emit(run->id, "error", f, "run failed: %s", run->error ? run->error : "unknown error");
        break;
    case RT_RUN_INTERRUPTED:
        if (run->store_failed) {
            if (run->error) json_object_set_new(f, "error", json_string(run->error));
            rt_log_emit(run->id, "warning", f, "run stopped after %lld ms: the state store failed; `%s resume` (or serve, by itself) goes on from its last stored step once writes succeed", ms, wf->name);
        } else {
            rt_log_emit(run->id, "warning", f, "run interrupted after %lld ms; `%s resume` finishes it", ms, wf->name);
        }
        break;
    case RT_RUN_SKIPPED: break;         /* returned before running */
    case RT_RUN_WAITING: {
        char when[40];
        rt_format_time(run->wake_at, when, sizeof when);
        json_object_set_new(f, "wake_at", json_string(when));
        rt_log_emit(run->id, "info", f, "run waiting until %s; `%s resume` then wakes it", when, wf->name);
        break;
    }
    }
    rt_log_flush();
    return run->outcome;
}
