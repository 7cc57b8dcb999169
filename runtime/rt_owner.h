/*
** rt_owner.h — [services] which live process executes a run: one at a time.
**
** A run record names its owner, the process that executes it: pid,
** pid_start (its start time in clock ticks after boot, from
** /proc/PID/stat: a pid is reused, the pair is not), pid_boot (the
** kernel's boot id: after a reboot no earlier process is alive) and
** pid_cmd ("serve", "resume", "retry", "run": for messages).
**
** Every process that executes runs of a state (serve's workers, resume,
** retry, run, users enable) claims a run before executing any of it, in
** one LMDB write transaction (rt_owner_claim): the claim fails while the
** record names another live process, so no run is executed by two live
** processes at once, and a run whose owner died (kill -9) is taken over
** by the next process that claims it. Processes sharing a state directory
** run on one machine (LMDB requires it) in one pid namespace.
*/
#ifndef RT_OWNER_H
#define RT_OWNER_H

#include "rt_store.h"

/* What a run record's owner is to this process. */
typedef enum rt_owner_state {
    RT_OWNER_NONE,              /* no owner recorded */
    RT_OWNER_SELF,              /* this process */
    RT_OWNER_LIVE,              /* another process, alive */
    RT_OWNER_DEAD               /* a process that is gone (or a zombie) */
} rt_owner_state;

/* The one liveness check: the owner rec names, compared with the live
** processes. */
rt_owner_state rt_owner_of(const json_t *rec);
/* "serve (pid 123)" for the owner rec names, into buf: buf. */
const char *rt_owner_name(const json_t *rec, char *buf, size_t n);
/* What this process calls itself in records ("run" until set): a static
** string, set once before any claim. */
void rt_owner_set_cmd(const char *cmd);
/* Writes this process into rec as its owner. */
void rt_owner_stamp(json_t *rec);

typedef enum rt_claim {
    RT_CLAIM_OK,                /* the run is this process's: execute it */
    RT_CLAIM_OWNED,             /* another live process executes it */
    RT_CLAIM_ENDED,             /* it has ended (succeeded or failed) */
    RT_CLAIM_ERROR              /* the store failed: msg says why */
} rt_claim;

/* Claims the run rec (this process's copy, borrowed) in one write
** transaction: unless the stored record has ended or names another live
** owner, it becomes `running` with this process as owner, and its attempt
** goes up by one when an earlier process had started it (running,
** interrupted or waiting). On RT_CLAIM_OK rec is updated in place to the
** record stored; a run not stored yet (a new one) is stored as rec says.
** Otherwise rec is unchanged and msg says why (the owner's name, the
** status, or the store's error: rt_store_unwritable(msg) when it may
** pass). */
rt_claim rt_owner_claim(rt_store *st, json_t *rec, char *msg, size_t n);

#endif
