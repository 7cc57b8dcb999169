/*
** rt_co.c — [services] the fanout scheduler: items as coroutines on one
** thread, their requests on a libcurl multi handle, their checkpoints
** grouped by a committer thread (see rt_co.h). The coroutines' stacks are
** rt_co_stack.c's; switching between them is rt_co_ctx.c's.
*/
#include "rt_co.h"

#include <curl/curl.h>
#include <pthread.h>

#include "rt_co_ctx.h"
#include "rt_co_stack.h"
#include "rt_log.h"
#include "rt_util.h"

#define CO_POLL_MAX_MS 100      /* the loop looks at the clock (and ^C) at least this often */
#define CO_HOLD_US 1000         /* rt_co_flush: how long the committer holds what it was handed */

struct rt_co {
    rt_co_sched *s;
    rt_co_ctx ctx;
    void *stack;                /* rt_co_stack_new */
    rt_co_fn fn;
    void *arg;
    rt_co *next;                /* in the ready list or the sleepers */
    int pins;                   /* rt_co_pin depth */
    bool waiting;               /* suspended in rt_co_wait */
    bool woken;                 /* rt_co_wake came before the wait */
    bool done;
    int64_t wake_at;            /* rt_co_sleep_until's deadline */
    bool xfer_done;             /* its transfer finished with curl_rc */
    int curl_rc;
    rt_redact_set *redact;      /* the thread's redaction set while it runs (its run's) */
};

/* A checkpoint on its way to the committer. A coroutine waiting for it keeps
** it on its stack; a deferred or lazy one (nobody waits) owns copies of its
** strings and references to its JSON (a copy of a run record). */
typedef struct co_write {
    rt_store_write w;
    rt_co *co;                  /* the coroutine waiting, or NULL: deferred */
    rt_co_debt *debt;           /* the run's debt, or NULL */
    bool ok;
    char *err;                  /* the waiting caller's buffer */
    size_t errlen;
    uint64_t seq;               /* the scheduler's count of writes queued so far */
    rt_co_settled_fn then;      /* a detached barrier's (rt_co_barrier_then), or NULL */
    void *then_arg;
    rt_redact_set *then_redact;
    struct co_write *next;
} co_write;

/* A copy of a write nobody waits for, in a block the scheduler recycles:
** its strings inline while they fit, so that a fanout item's checkpoint
** costs no allocation (it made four, freed in a burst when its group was
** committed). */
#define CO_COPY_TEXT 1536
#define CO_SPARE_MAX 256
typedef struct co_copy {
    co_write e;                 /* first: a co_write * of a copy is its block */
    char text[CO_COPY_TEXT];
} co_copy;

struct rt_co_sched {
    rt_co_ctx main;             /* the scheduler loop's context */
    rt_redact_set *redact;      /* the creating thread's set (its run's), for the committer */
    rt_co *current;
    rt_co *ready, *ready_tail;  /* FIFO */
    rt_co *sleepers;
    int alive;
    CURLM *multi;
    rt_ptrs easy;               /* idle easy handles */
    rt_ptrs stacks;             /* idle stacks */
    rt_ptrs idle;               /* finished coroutines, to reuse */
    rt_ptrs spare;              /* co_copy blocks of committed copies, to reuse (loop only) */
    int64_t last_flush;
    int xfers;                  /* transfers of its coroutines in flight */
    rt_redact_set *loop_redact; /* the thread's set between coroutines */
    /* the committer: the loop hands it the writes its coroutines made in one
    ** turn (pending) as one batch; it commits each batch in one transaction
    ** and hands it back in `done` */
    rt_store *st;
    co_write *pending;          /* not handed over yet, newest first (loop only) */
    int npending;
    int pending_waits;          /* ... of them waited for: hand them over at the turn's end */
    int64_t pending_since;      /* rt_mono_ms of the oldest */
    uint64_t seq;               /* writes queued so far (handed over in this order) */
    int unsynced;               /* deferred and lazy writes not yet committed */
    char *error;                /* the first failed deferred write's message */
    pthread_mutex_t lock;
    pthread_cond_t work;
    co_write *queue, *done;     /* newest first */
    int64_t hold_until;         /* rt_mono_us until which the committer holds queue; 0: none */
    bool busy;                  /* the committer is committing a batch */
    bool quit;
    rt_store_write *here_ws;    /* commit_here's array (loop only) */
    size_t here_cap;
    bool has_committer;
    pthread_t committer;
};

static void co_die(const char *what)
{
    fprintf(stderr, "flow: %s\n", what);
    abort();
}

static pthread_key_t sched_key;         /* the scheduler running on this thread */
static pthread_once_t sched_once = PTHREAD_ONCE_INIT;

static void sched_key_init(void)
{
    pthread_key_create(&sched_key, NULL);
}

static rt_co_sched *this_sched(void)
{
    pthread_once(&sched_once, sched_key_init);
    return pthread_getspecific(sched_key);
}

rt_co *rt_co_current(void)
{
    rt_co_sched *s = this_sched();
    rt_co *co = s ? s->current : NULL;
    return co && !co->pins ? co : NULL;
}

rt_co_sched *rt_co_sched_of(rt_co *co)
{
    return co->s;
}

bool rt_co_in_sched(void)
{
    return this_sched() != NULL;
}

void rt_co_pin(void)
{
    rt_co_sched *s = this_sched();
    if (s && s->current) s->current->pins++;
}

void rt_co_unpin(void)
{
    rt_co_sched *s = this_sched();
    if (s && s->current && s->current->pins > 0) s->current->pins--;
}

static void co_hooks_register(void);

rt_co_sched *rt_co_sched_new(rt_store *st)
{
    static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
    pthread_once(&hooks_once, co_hooks_register);
    rt_http_global_init();
    rt_co_sched *s = rt_xcalloc(1, sizeof *s);
    s->redact = rt_redact_current();
    s->st = st;
    s->multi = curl_multi_init();
    if (!s->multi) co_die("cannot create a curl multi handle");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    return s;
}

void rt_co_sched_free(rt_co_sched *s)
{
    if (s->has_committer) {
        pthread_mutex_lock(&s->lock);
        s->quit = true;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->committer, NULL);
    }
    for (size_t i = 0; i < s->easy.n; i++) curl_easy_cleanup(s->easy.v[i]);
    curl_multi_cleanup(s->multi);
    for (size_t i = 0; i < s->stacks.n; i++) rt_co_stack_keep(s->stacks.v[i]);
    for (size_t i = 0; i < s->idle.n; i++) free(s->idle.v[i]);
    for (size_t i = 0; i < s->spare.n; i++) free(s->spare.v[i]);
    free(s->easy.v);
    free(s->stacks.v);
    free(s->idle.v);
    free(s->spare.v);
    free(s->here_ws);
    free(s->error);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    free(s);
}

/* ---- coroutines ---------------------------------------------------------- */

static void make_ready(rt_co_sched *s, rt_co *co)
{
    co->next = NULL;
    if (s->ready_tail) s->ready_tail->next = co;
    else s->ready = co;
    s->ready_tail = co;
}

/* A coroutine's first and last frame: back in the loop, which frees it. */
static void co_entry(void)
{
    rt_co_sched *s = this_sched();
    rt_co *co = s->current;
    co->fn(co->arg);
    co->done = true;
    rt_co_ctx_switch(&co->ctx, &s->main);      /* never resumed */
    abort();
}

rt_co *rt_co_spawn(rt_co_sched *s, rt_co_fn fn, void *arg)
{
    rt_co *co = rt_ptrs_pop(&s->idle);
    if (co) memset(co, 0, sizeof *co);
    else co = rt_xcalloc(1, sizeof *co);
    co->s = s;
    co->fn = fn;
    co->arg = arg;
    co->redact = rt_redact_current();
    co->stack = s->stacks.n ? rt_ptrs_pop(&s->stacks) : rt_co_stack_new();
    rt_co_stack_start(&co->ctx, co->stack, co_entry);
    s->alive++;
    make_ready(s, co);
    return co;
}

/* Back to the loop; returns when something made co ready again. */
static void co_suspend(rt_co *co)
{
    rt_co_ctx_switch(&co->ctx, &co->s->main);
}

void rt_co_wait(void)
{
    rt_co *co = this_sched()->current;
    if (co->woken) {
        co->woken = false;
        return;
    }
    co->waiting = true;
    co_suspend(co);
}

void rt_co_wake(rt_co *co)
{
    if (co->waiting) {
        co->waiting = false;
        make_ready(co->s, co);
    } else {
        co->woken = true;
    }
}

void rt_co_sleep_until(int64_t deadline)
{
    rt_co *co = this_sched()->current;
    if (rt_mono_ms() >= deadline) return;
    co->wake_at = deadline;
    co->next = co->s->sleepers;
    co->s->sleepers = co;
    co_suspend(co);
}

/* ---- requests -------------------------------------------------------------- */

/* rt_http's hook: a coroutine's exchange goes through its scheduler. */
static int co_http_perform(const rt_http_request *rq, rt_http_response *rs)
{
    return rt_co_current() ? rt_co_http_perform(rq, rs) : -1;
}

static void co_hooks_register(void)
{
    rt_http_set_co_hooks(&(rt_http_co_hooks){ co_http_perform, rt_co_in_sched });
}

bool rt_co_http_perform(const rt_http_request *rq, rt_http_response *rs)
{
    rt_co *co = rt_co_current();
    rt_co_sched *s = co->s;
    while (!rt_http_inflight_try_enter()) rt_co_sleep_until(rt_mono_ms() + 1);
    CURL *h = s->easy.n ? rt_ptrs_pop(&s->easy) : curl_easy_init();
    if (!h) {
        rt_http_inflight_leave();
        return rt_http_response_fail(rs, "cannot create an HTTP handle");
    }
    rt_http_xfer x;             /* on the coroutine's stack, which stays while it waits */
    rt_http_xfer_start(&x, h, rq, rs);
    curl_easy_setopt(h, CURLOPT_PRIVATE, co);
    co->xfer_done = false;
    CURLMcode mc = curl_multi_add_handle(s->multi, h);
    int rc = CURLE_FAILED_INIT;
    if (mc == CURLM_OK) {
        s->xfers++;
        while (!co->xfer_done) co_suspend(co);
        s->xfers--;
        rc = co->curl_rc;
        curl_multi_remove_handle(s->multi, h);
    }
    bool ok = rt_http_xfer_finish(&x, rc);
    rt_http_inflight_leave();
    curl_easy_reset(h);                 /* keeps nothing of this request; connections stay with the multi */
    rt_ptrs_push(&s->easy, h);
    return ok;
}

/* ---- checkpoints ------------------------------------------------------------ */

static co_write *writes_reversed(co_write *w)
{
    co_write *out = NULL;
    while (w) {
        co_write *next = w->next;
        w->next = out;
        out = w;
        w = next;
    }
    return out;
}

/* The outcome of entry e (committer thread, s->lock held): a failure is
** the waiting caller's message, and its run's debt, so that every later
** write of that run fails too. */
static void write_done(rt_co_sched *s, co_write *e, bool ok, const char *err)
{
    e->ok = ok;
    if (ok) return;
    if (e->err) rt_redact_copy(e->err, e->errlen, err);
    if (e->debt && !e->debt->failed) {
        e->debt->failed = true;
        rt_redact_copy(e->debt->err, sizeof e->debt->err, err);
    }
    if (!e->co && !e->debt && !s->error) s->error = rt_xstrdup(err);
}

/* Commits one batch in one transaction. A write whose run already failed
** fails without being written. When the transaction fails for a reason
** that will not pass (a damaged record one update cannot read), the
** writes are committed one by one, so that one run's trouble does not fail
** the others'; a full disk fails the batch whole. */
static void commit_batch(rt_co_sched *s, co_write *batch, rt_store_write **ws, size_t *cap)
{
    size_t n = 0;
    for (co_write *e = batch; e; e = e->next) n++;
    if (n > *cap) {
        *cap = n * 2;
        *ws = rt_xrealloc(*ws, sizeof **ws * *cap);
    }
    pthread_mutex_lock(&s->lock);
    n = 0;
    bool waited = false;        /* else nobody relies on it before the next full commit */
    for (co_write *e = batch; e; e = e->next) {
        if (e->w.run_id && (!e->debt || !e->debt->failed)) (*ws)[n++] = e->w;     /* a barrier writes nothing */
        waited |= e->co || e->then;
    }
    pthread_mutex_unlock(&s->lock);
    char err[256] = "";
    bool ok = n ? rt_store_commit_group(s->st, *ws, n, NULL, !waited, err, sizeof err)
                : !waited || !s->st || rt_store_flush(s->st, err, sizeof err);     /* barriers alone */
    bool one_by_one = !ok && n > 1 && !rt_store_unwritable(err);
    for (co_write *e = batch; e; e = e->next) {
        pthread_mutex_lock(&s->lock);
        if (e->debt && e->debt->failed) {
            write_done(s, e, false, e->debt->err);
        } else if (one_by_one && e->w.run_id) {
            pthread_mutex_unlock(&s->lock);
            char one[256] = "";
            bool k = rt_store_commit_many(s->st, &e->w, 1, NULL, one, sizeof one);
            pthread_mutex_lock(&s->lock);
            write_done(s, e, k, one);
        } else {
            write_done(s, e, ok, err);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

/* Commits the batches the loop hands over, one transaction and one fsync
** each: while the disk syncs one batch the next one gathers. */
static void *committer_main(void *arg)
{
    rt_redact_use(((rt_co_sched *)arg)->redact);     /* its messages: the run's set */
    rt_co_sched *s = arg;
    rt_store_write *ws = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->queue && !s->quit) pthread_cond_wait(&s->work, &s->lock);
        if (!s->queue) break;
        if (!s->quit && s->hold_until > rt_mono_us()) {    /* rt_co_flush's: see hand_over */
            struct timespec until = { s->hold_until / 1000000, s->hold_until % 1000000 * 1000 };
            pthread_cond_clockwait(&s->work, &s->lock, CLOCK_MONOTONIC, &until);
            continue;
        }
        co_write *batch = writes_reversed(s->queue);       /* oldest first */
        s->queue = NULL;
        s->hold_until = 0;
        s->busy = true;
        pthread_mutex_unlock(&s->lock);
        commit_batch(s, batch, &ws, &cap);
        pthread_mutex_lock(&s->lock);
        for (co_write *e = batch; e;) {
            co_write *next = e->next;
            e->next = s->done;
            s->done = e;
            e = next;
        }
        s->busy = false;
        curl_multi_wakeup(s->multi);
    }
    pthread_mutex_unlock(&s->lock);
    free(ws);
    return NULL;
}

/* A string of copy c: in its block when it fits, else allocated. */
static const char *copy_str(co_copy *c, size_t *used, const char *str)
{
    if (!str) return NULL;
    size_t n = strlen(str) + 1;
    if (n > sizeof c->text - *used) return rt_xstrdup(str);
    char *at = memcpy(c->text + *used, str, n);
    *used += n;
    return at;
}

static void copy_str_free(co_copy *c, const char *str)
{
    if (str && (str < c->text || str >= c->text + sizeof c->text)) free((char *)str);
}

/* Drops a committed copy (write_copy): its block goes back to s. */
static void deferred_free(rt_co_sched *s, co_write *e)
{
    co_copy *c = (co_copy *)e;
    copy_str_free(c, e->w.run_id);
    copy_str_free(c, e->w.step_path);
    copy_str_free(c, e->w.step_text);
    json_decref((json_t *)e->w.run);
    json_decref((json_t *)e->w.step);
    json_decref((json_t *)e->w.logs);
    if (s->spare.n >= CO_SPARE_MAX) free(c);
    else rt_ptrs_push(&s->spare, c);
}

/* Whether the writes not handed over should go now: one is waited for,
** there are many, the oldest is 20 ms old, or the loop ends (force). Lazy
** and deferred writes alone may wait for company: a run's next waited
** write (its final record) then shares their transaction. */
static bool hand_over_due(const rt_co_sched *s, bool force)
{
    return s->pending &&
           (force || s->pending_waits > 0 || s->npending >= 256 || rt_mono_ms() - s->pending_since >= 20);
}

/* Links older behind newer's last entry (both lists newest first, as
** pending and queue are). */
static void link_behind(co_write *newer, co_write *older)
{
    while (newer->next) newer = newer->next;
    newer->next = older;
}

/* Hands the writes over to the committer (started on first use); false
** when it cannot run. hold (rt_co_flush): it may keep them CO_HOLD_US, so
** that a fast step's next waited write (the end, a barrier) takes them
** along in one transaction, unless they or those it holds are due. */
static bool hand_over(rt_co_sched *s, bool force, bool hold)
{
    if (!hand_over_due(s, force)) return true;
    pthread_mutex_lock(&s->lock);
    if (!s->has_committer) {
        if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
            pthread_mutex_unlock(&s->lock);
            return false;
        }
        s->has_committer = true;
    }
    link_behind(s->pending, s->queue);
    /* woken only when its queue turns non-empty or due (a wake-up is dear) */
    bool wake = !s->queue || (s->hold_until && (!hold || s->pending_waits));
    if (!hold || s->pending_waits) s->hold_until = 0;
    else if (!s->queue) s->hold_until = rt_mono_us() + CO_HOLD_US;
    s->queue = s->pending;
    s->pending = NULL;
    s->npending = s->pending_waits = 0;
    if (wake) pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return true;
}

static void queue_write(rt_co_sched *s, co_write *e)
{
    if (!s->pending) s->pending_since = rt_mono_ms();
    e->seq = ++s->seq;
    e->next = s->pending;
    s->pending = e;
    s->npending++;
    if (e->co || e->then) s->pending_waits++;
    if (!e->co) s->unsynced++;
}

/* A copy of w that nobody waits for (deferred or lazy). */
static co_write *write_copy(rt_co_sched *s, const rt_store_write *w, rt_co_debt *d)
{
    co_copy *c = rt_ptrs_pop(&s->spare);
    if (!c) c = rt_xmalloc(sizeof *c);
    size_t used = 0;
    c->e = (co_write){ .debt = d };
    c->e.w = (rt_store_write){ .run_id = copy_str(c, &used, w->run_id), .step_path = copy_str(c, &used, w->step_path),
                               .run = w->run ? json_deep_copy(w->run) : NULL, .old_status = NULL,
                               .step = w->step ? json_incref((json_t *)w->step) : NULL,
                               .step_text = copy_str(c, &used, w->step_text),
                               .logs = w->logs ? json_incref((json_t *)w->logs) : NULL };
    return &c->e;
}

/* Whether w can join a group: not a conditional write. */
static bool groupable(const rt_co_sched *s, rt_store *st, const rt_store_write *w)
{
    return st == s->st && !rt_store_is_batch(st) && !w->expect_status && !w->drop_steps;
}

static bool debt_failed(rt_co_sched *s, rt_co_debt *d, char *err, size_t errlen)
{
    if (!d) return false;
    pthread_mutex_lock(&s->lock);
    bool failed = d->failed;
    if (failed && err) snprintf(err, errlen, "%s", d->err);
    pthread_mutex_unlock(&s->lock);
    return failed;
}

/* A waited write (or, w NULL, a barrier) of the current coroutine. */
static bool commit_waited(rt_co *co, const rt_store_write *w, rt_co_debt *d, char *err, size_t errlen)
{
    static const rt_store_write none = { 0 };
    co_write me = { .w = w ? *w : none, .co = co, .debt = d, .err = err, .errlen = errlen };
    queue_write(co->s, &me);
    co_suspend(co);                     /* the loop resumes it once committed */
    if (me.ok && d && d->owed <= me.seq) d->owed = 0;  /* every earlier write is durable too */
    return me.ok;
}

bool rt_co_commit(rt_store *st, const rt_store_write *w, char *err, size_t errlen)
{
    return rt_co_commit_debt(st, w, NULL, err, errlen);
}

bool rt_co_commit_debt(rt_store *st, const rt_store_write *w, rt_co_debt *d, char *err, size_t errlen)
{
    rt_co *co = rt_co_current();
    rt_co_sched *s = co ? co->s : NULL;
    if (s && debt_failed(s, d, err, errlen)) return false;
    if (!co || !groupable(s, st, w)) {
        /* committed alone: whatever the run left to the group goes first */
        if (co && d && d->owed && !rt_co_barrier(d, err, errlen)) return false;
        return rt_store_commit(st, w, err, errlen);
    }
    if (w->deferrable && !w->run && !w->update) {
        /* final and without side effects: the coroutine goes on, the write
        ** follows in the next group, before any later write of the run */
        co_write *e = write_copy(s, w, d);
        queue_write(s, e);
        if (d) d->owed = e->seq;        /* a lazy run's next step waits for it */
        return true;
    }
    return commit_waited(co, w, d, err, errlen);
}

bool rt_co_commit_lazy(rt_store *st, const rt_store_write *w, rt_co_debt *d, bool owing, char *err, size_t errlen)
{
    rt_co *co = rt_co_current();
    rt_co_sched *s = co ? co->s : NULL;
    if (!co || !groupable(s, st, w) || w->update) return rt_co_commit_debt(st, w, d, err, errlen);
    if (debt_failed(s, d, err, errlen)) return false;
    co_write *e = write_copy(s, w, d);
    queue_write(s, e);
    if (owing) d->owed = e->seq;
    return true;
}

bool rt_co_barrier(rt_co_debt *d, char *err, size_t errlen)
{
    rt_co *co = rt_co_current();
    if (!co || !d) return true;
    if (debt_failed(co->s, d, err, errlen)) return false;
    if (!d->owed) return true;
    return commit_waited(co, NULL, d, err, errlen);
}

bool rt_co_barrier_then(rt_co_debt *d, rt_co_settled_fn then, void *arg)
{
    rt_co *co = rt_co_current();
    if (debt_failed(co->s, d, NULL, 0)) return false;
    static const rt_store_write none = { 0 };
    co_write *e = write_copy(co->s, &none, d);     /* a barrier: writes nothing */
    e->then = then;
    e->then_arg = arg;
    e->then_redact = rt_redact_current();
    queue_write(co->s, e);
    return true;
}

static void commit_here(rt_co_sched *s);

bool rt_co_flush(rt_co_debt *d, char *err, size_t errlen)
{
    rt_co *co = rt_co_current();
    if (!co || !d) return true;
    if (debt_failed(co->s, d, err, errlen)) return false;
    if (d->owed && co->s->pending && !hand_over(co->s, true, true)) commit_here(co->s);
    return true;
}

const char *rt_co_sched_error(const rt_co_sched *s)
{
    return s->error;
}

/* The writes of a waited-for write's batch whose coroutines are ready
** again, or freed (deferred and lazy ones). */
static void writes_settled(rt_co_sched *s, co_write *e)
{
    while (e) {
        co_write *next = e->next;
        if (e->co) {
            make_ready(s, e->co);
        } else {
            if (e->then) {
                rt_redact_set *was = rt_redact_current();
                if (e->then_redact != was) rt_redact_use(e->then_redact);
                e->then(e->then_arg, e->ok, e->ok ? "" : e->debt->err);
                if (e->then_redact != was) rt_redact_use(was);
            }
            deferred_free(s, e);
            s->unsynced--;
        }
        e = next;
    }
}

/* Whether the loop may commit its pending writes itself, in one transaction:
** nothing else would run meanwhile (no coroutine ready, no transfer in
** flight) and the committer is not committing an earlier batch (groups stay
** in order); what it holds and has not begun goes first. A lone run then pays
** no thread hand-offs for its group; under load the committer overlaps the
** disk with the coroutines' work. */
static bool commit_here_fits(rt_co_sched *s)
{
    if (s->ready || s->xfers > 0) return false;
    if (!s->has_committer) return true;
    pthread_mutex_lock(&s->lock);
    bool idle = !s->busy;
    if (idle && s->queue) {             /* older than pending: behind it */
        link_behind(s->pending, s->queue);
        s->queue = NULL;
        s->hold_until = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return idle;
}

/* Commits the pending writes on this thread in one transaction, as the
** committer would (also when no committer thread can be started). */
static void commit_here(rt_co_sched *s)
{
    co_write *batch = writes_reversed(s->pending);
    s->pending = NULL;
    s->npending = s->pending_waits = 0;
    commit_batch(s, batch, &s->here_ws, &s->here_cap);
    writes_settled(s, batch);
}

/* ---- the loop --------------------------------------------------------------- */

/* Makes ready what finished meanwhile: transfers, commits, sleeps. */
static void harvest(rt_co_sched *s)
{
    int still;
    curl_multi_perform(s->multi, &still);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        rt_co *co = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&co);
        if (!co) continue;
        co->curl_rc = m->data.result;
        co->xfer_done = true;
        make_ready(s, co);
    }
    if (s->has_committer) {
        pthread_mutex_lock(&s->lock);
        co_write *done = writes_reversed(s->done);
        s->done = NULL;
        pthread_mutex_unlock(&s->lock);
        writes_settled(s, done);
    }
    if (s->sleepers) {
        int64_t now = rt_mono_ms();
        rt_co **pp = &s->sleepers;
        while (*pp) {
            rt_co *co = *pp;
            if (co->wake_at <= now) {
                *pp = co->next;
                make_ready(s, co);
            } else {
                pp = &co->next;
            }
        }
    }
}

/* Runs the ready coroutines, each with its own redaction set (between
** them the thread's is loop_redact; a fanout's items share their run's,
** so the set is changed only when it differs). */
static void run_ready(rt_co_sched *s)
{
    while (s->ready) {
        rt_co *co = s->ready;
        s->ready = co->next;
        if (!s->ready) s->ready_tail = NULL;
        co->next = NULL;
        s->current = co;
        if (co->redact != s->loop_redact) rt_redact_use(co->redact);
        rt_co_ctx_switch(&s->main, &co->ctx);
        co->redact = rt_redact_current();
        if (co->redact != s->loop_redact) rt_redact_use(s->loop_redact);
        s->current = NULL;
        if (co->done) {
            rt_ptrs_push(&s->stacks, co->stack);
            rt_ptrs_push(&s->idle, co);
            s->alive--;
        }
    }
}

/* The loop of rt_co_run (feed NULL) and rt_co_serve. */
static void co_loop(rt_co_sched *s, bool (*feed)(rt_co_sched *s, void *arg), void *arg)
{
    rt_co_sched *outer = this_sched();
    pthread_setspecific(sched_key, s);
    s->loop_redact = rt_redact_current();
    bool more = feed != NULL;
    for (;;) {
        if (more) more = feed(s, arg);
        int alive = s->alive;
        run_ready(s);
        bool last = !more && s->alive == 0;
        if (hand_over_due(s, last) && commit_here_fits(s)) commit_here(s);
        else if (!hand_over(s, last, false)) commit_here(s);     /* no committer thread: this one */
        if (last && s->unsynced == 0 && !s->pending) break;
        harvest(s);
        if (s->ready || (more && s->alive < alive)) continue;     /* room again: feed before sleeping */
        int64_t now = rt_mono_ms();
        long timeout = CO_POLL_MAX_MS;
        for (rt_co *co = s->sleepers; co; co = co->next)
            if (co->wake_at - now < timeout) timeout = (long)(co->wake_at - now);
        if (s->pending && s->pending_since + 20 - now < timeout) timeout = (long)(s->pending_since + 20 - now);
        if (timeout < 0) timeout = 0;
        if (now - s->last_flush >= 50) {       /* log lines do not linger while items wait */
            rt_log_flush();
            s->last_flush = now;
        }
        curl_multi_poll(s->multi, NULL, 0, (int)timeout, NULL);
        harvest(s);
    }
    pthread_setspecific(sched_key, outer);
}

void rt_co_run(rt_co_sched *s)
{
    co_loop(s, NULL, NULL);
}

void rt_co_serve(rt_co_sched *s, bool (*feed)(rt_co_sched *s, void *arg), void *arg)
{
    co_loop(s, feed, arg);
}

void rt_co_notify(rt_co_sched *s)
{
    curl_multi_wakeup(s->multi);
}

int rt_co_alive(const rt_co_sched *s)
{
    return s->alive;
}
