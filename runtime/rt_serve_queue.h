/*
** rt_serve_queue.h — [drivers] serve's the fair queue, the runs in hand, waits, the committer, workers, the sweep (rt_serve_queue.c).
** Internal to rt_serve*.c.
*/
#ifndef RT_SERVE_QUEUE_H
#define RT_SERVE_QUEUE_H

#include "rt_serve_state.h"

/* Queues run id. fresh: a run not in hand yet (accepted, fired, found by
** the rt_serve_sweep), queued only if it is not in hand already, and then taken in
** hand: false when it was; else a run in hand (woken from the heap).
** Takes qlock. */
bool rt_serve_queue_push(serve *sv, const char *id, const char *user, bool fresh);
/* Queues run id, accepted in memory: a webhook waiting for its run's end
** whose record (text, its JSON) nothing stored yet. The run's first
** execution starts from that text, and its claim, in its scheduler's
** first group, writes the record (rt_exec.c); until that group is
** committed the run exists only in this process (a kill forgets it: its
** caller saw no answer). text: malloc'd, taken over. Takes qlock; false
** when id is in hand already. */
bool rt_serve_queue_push_new(serve *sv, const char *id, const char *user, char *text, size_t len);
/* Moves the runs due by now from the heap to the queue. */
void rt_serve_wake_due(serve *sv);
/* Takes in hand every unfinished run of this version (queued, running,
** interrupted, waiting) that this process does not hold and no other live
** process owns: at start-up, every one (their process died, or stopped);
** later, one a store failure or a crash left behind (a `resume` killed
** with -9, an execution whose record could not be read). The store is the
** source of truth: memory follows it. A run claimed by another process
** meanwhile is skipped at its claim (rt_exec_run). */
void rt_serve_sweep(serve *sv, bool startup);
void *rt_serve_committer_main(void *arg);
/* A worker thread: a scheduler whose coroutines execute runs, up to its
** share of --workers at once (sv->per_thread). */
void *rt_serve_worker_main(void *arg);
/* Wakes the workers' schedulers (a run queued, a slot freed, stopping). */
void rt_serve_workers_wake(serve *sv);

#endif
