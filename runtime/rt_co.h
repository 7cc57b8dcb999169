/*
** rt_co.h — [services] coroutines for fanout items: one scheduler thread per fanout
** runs every item as a coroutine, sends their requests through libcurl's
** multi interface and hands their checkpoints to a committer thread.
**
** A coroutine suspends where a thread would block: waiting for a response
** (rt_co_http_perform), for its checkpoint to be durable (rt_co_commit), for
** time to pass (rt_co_sleep_until) or for another coroutine (rt_co_wait /
** rt_co_wake). The scheduler runs whatever is ready, then polls the network;
** the committer commits everything queued meanwhile in one transaction and
** one fsync, while the scheduler goes on with the other items.
**
** rt_co_current() is NULL outside a coroutine and while the coroutine is
** pinned (rt_co_pin): code that holds a lock, or a function step (whose
** crash guard and timeout belong to the thread), must not yield, so the
** helpers above then fall back to their blocking versions.
*/
#ifndef RT_CO_H
#define RT_CO_H

#include "flowrt.h"
#include "rt_http.h"
#include "rt_store.h"

typedef struct rt_co_sched rt_co_sched;
typedef struct rt_co rt_co;
typedef void (*rt_co_fn)(void *arg);

/* A scheduler for the calling thread; its committer writes to st. */
rt_co_sched *rt_co_sched_new(rt_store *st);
void rt_co_sched_free(rt_co_sched *s);
/* Starts fn(arg) as a new coroutine of s: it runs at the scheduler's next
** turn. Callable from the scheduler's thread only. Returns the coroutine,
** valid until fn returns. */
rt_co *rt_co_spawn(rt_co_sched *s, rt_co_fn fn, void *arg);
/* Runs s on the calling thread until every coroutine has returned and
** every write they made is committed. */
void rt_co_run(rt_co_sched *s);

/* The coroutine running on this thread (NULL: none, or pinned). */
rt_co *rt_co_current(void);
rt_co_sched *rt_co_sched_of(rt_co *co);
/* While pinned (nests), the running coroutine behaves as a plain thread. */
void rt_co_pin(void);
void rt_co_unpin(void);
/* Whether a scheduler runs on this thread (pinned or not): a blocking
** request here must not wait for an in-flight slot its own suspended
** coroutines may hold. */
bool rt_co_in_sched(void);

/* Suspends the current coroutine until rt_co_wake (a wake before the wait
** is remembered). */
void rt_co_wait(void);
void rt_co_wake(rt_co *co);
/* Suspends the current coroutine until rt_mono_ms() >= deadline. */
void rt_co_sleep_until(int64_t deadline);
/* rt_http_perform from a coroutine: the request joins the scheduler's
** multi handle and the coroutine waits for its response. */
bool rt_co_http_perform(const rt_http_request *rq, rt_http_response *rs);
/* rt_store_commit from a coroutine: the write joins the committer's next
** group; returns once that group is committed (durable). A deferrable write
** (final, of a step without side effects) returns at once: it is committed
** with the next group, before any later write, and rt_co_run returns only
** once it is; a failure shows in rt_co_sched_error. Run records (run,
** update) join groups too; a conditional write (expect_status, drop_steps)
** is committed alone, blocking the thread. */
bool rt_co_commit(rt_store *st, const rt_store_write *w, char *err, size_t errlen);
/* The message of the first deferred write that failed, or NULL. */
const char *rt_co_sched_error(const rt_co_sched *s);

/* ---- lazy writes: what one run still owes the disk ---------------------
** A run on a scheduler (serve's) may leave its writes to the next group
** instead of waiting for each: rt_co_commit_lazy queues a copy and returns
** at once; the run waits only where it must (rt_co_barrier: before its
** next step starts; and at its final record, a waited write). Groups are committed in order, so
** a write that is durable makes every earlier one durable too. The debt is
** the run's own and must outlive its writes: a run's last write is a
** waited one (rt_co_commit_debt), which every lazy write precedes. */
typedef struct rt_co_debt {
    uint64_t owed;              /* the last lazy write a barrier must wait for (a step's
                                   record), as its scheduler numbers them; 0: none */
    bool failed;                /* one of its writes failed: every later one fails too */
    char err[256];              /* the first failure's message */
} rt_co_debt;
/* Queues a copy of w (its JSON taken by reference, a run record copied):
** false only when the debt already failed (err says why). owing: the
** next rt_co_barrier waits for it (a step's record; not a claim, which
** may be lost with a kill: the run is still queued then). A deferrable
** rt_co_commit_debt owes too. Outside a coroutine, or with a store in batch mode, it is
** rt_store_commit. */
bool rt_co_commit_lazy(rt_store *st, const rt_store_write *w, rt_co_debt *d, bool owing, char *err, size_t errlen);
/* rt_co_commit for a run with a debt: also fails at once when an earlier
** lazy write of it failed, and pays the debt when it succeeds. */
bool rt_co_commit_debt(rt_store *st, const rt_store_write *w, rt_co_debt *d, char *err, size_t errlen);
/* Waits until every write of the debt that is owing is durable (nothing to
** wait for: returns at once): false with the failure's message. */
bool rt_co_barrier(rt_co_debt *d, char *err, size_t errlen);
/* rt_co_barrier without holding the coroutine (nor its stack): queues the
** wait and returns at once; once every owing write of d is durable, or one
** failed, then(arg, ok, err) runs on the scheduler's thread between
** coroutines (with the caller's redaction set), where it may rt_co_wake.
** d must outlive that call. False, calling nothing, when d failed already
** (d->err says why); a debt that owes nothing is waited for all the same.
** Only from a coroutine. */
typedef void (*rt_co_settled_fn)(void *arg, bool ok, const char *err);
bool rt_co_barrier_then(rt_co_debt *d, rt_co_settled_fn then, void *arg);
/* Hands what the debt owes to the committer now, without waiting (a step
** that sends nothing runs while it is committed): false, with the message,
** when a write of the debt failed already. */
bool rt_co_flush(rt_co_debt *d, char *err, size_t errlen);

/* ---- a scheduler that serves (`JOB serve`'s workers) -------------------
** rt_co_serve runs s on the calling thread: every turn it calls feed(s,
** arg), which may spawn coroutines, until feed returns false and nothing
** is left (no coroutine, no write). rt_co_notify, from any thread, wakes
** the loop so that it calls feed soon (a run was queued). */
void rt_co_serve(rt_co_sched *s, bool (*feed)(rt_co_sched *s, void *arg), void *arg);
void rt_co_notify(rt_co_sched *s);
/* Coroutines alive on s. */
int rt_co_alive(const rt_co_sched *s);

#endif
