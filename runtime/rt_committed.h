/*
** rt_committed.h — [services] the step records a run committed earlier, as the engine
** looks them up before running a step (deterministic replay).
**
** Top-level records ("person", "wait@12") are few and stay in memory.
** Records of fanout items and pages ("tagged[3].add", "contacts#page7") can
** number in the hundreds of thousands: only their paths stay in memory, in
** a compact set, and a record is read from LMDB when its path is looked up.
** A resumed 100,000-item fanout thus costs a few MB of paths, not its
** records; a fresh one never reads LMDB at all. Thread-safe.
*/
#ifndef RT_COMMITTED_H
#define RT_COMMITTED_H

#include "flowrt.h"
#include "rt_store.h"

typedef struct rt_committed rt_committed;

/* Lists the run's step records (keys only, but for top-level ones). NULL
** with a message in err when the store cannot be read. */
rt_committed *rt_committed_load(rt_store *st, const char *run_id, char *err, size_t errlen);
/* An empty set (a run that committed nothing yet). */
rt_committed *rt_committed_new(rt_store *st, const char *run_id);
void rt_committed_free(rt_committed *cm);

/* The record committed at path: a NEW reference, or NULL when there is
** none. A store error or a damaged record returns NULL with the message
** in err (else err is ""): the step must not run as if it never did. */
json_t *rt_committed_get(rt_committed *cm, const char *path, char *err, size_t errlen);
/* The engine committed a record at path. Fanout-item and page paths are
** remembered (a retried fanout skips finished items, a retried pagination
** continues after its pages; the record is read back from the store);
** top-level steps run once per process and are not. */
void rt_committed_note(rt_committed *cm, const char *path);

#endif
