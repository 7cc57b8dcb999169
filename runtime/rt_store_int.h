/*
** rt_store_int.h — [services] what the files of the store share: the
** store's struct and its internal helpers. Internal to rt_store*.c; the
** store's contract is rt_store.h.
*/
#ifndef RT_STORE_INT_H
#define RT_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "rt_store.h"
#include "rt_util.h"

struct rt_store {
    MDB_env *env;
    MDB_dbi runs, steps, logs, by_status, by_user, by_user_status, users, meta;
    bool batch;                 /* MDB_NOSYNC: fsync only in rt_store_sync */
    bool meta_unsynced;         /* the last group was lazy (rt_store_commit_group): its meta
                                   page waits for the next flush (under wlock) */
    bool readonly;              /* MDB_RDONLY: a reader on a state it cannot write */
    size_t mapsize;
    pthread_mutex_t wlock;      /* one writer at a time in this process */
    pthread_rwlock_t maplock;   /* transactions share it; growing the map takes it alone */
    /* group commit (batch mode): deferred writes, applied with the next commit */
    struct deferred {
        char *run_id, *path;    /* owned */
        json_t *step, *logs;    /* references */
        char *step_text;        /* owned: the step record as text, or NULL */
    } *deferred;
    size_t ndeferred, capdeferred;
    int64_t deferred_since;     /* rt_mono_ms of the oldest */
    size_t trimmed_pgno;        /* the map's last page when trim_map last ran */
    int trim_txns;              /* transactions since */
    /* zeroed room ahead of the data's last page (rt_store_write.c, keep_room) */
    unsigned long long room_end;        /* where the room ends (the file's size as extended), or
                                           where a disk short of space is looked at again */
    bool room_off;                      /* not worth it here: tmpfs, or a disk nearly full */
    bool room_made;                     /* by this handle: rt_store_close takes it away */
    int room_commits;                   /* commits seen, up to ROOM_AFTER */
    pthread_mutex_t trim_lock;  /* guards the map's address range below */
    unsigned long map_lo, map_hi;   /* the map in this process (from /proc/self/maps) */
    unsigned map_gen;           /* +1 at every remap (under maplock, written) */
    unsigned map_found_gen;     /* map_gen + 1 when map_lo/map_hi were found, else 0 */
    unsigned long lookups;      /* rt_store_get_step calls (atomic): reads map pages too */
    /* group commit (durable mode): writers queue here; one of them, the
    ** leader, commits every queued write in one transaction and one fsync */
    pthread_mutex_t glock;
    pthread_cond_t gdone;
    pthread_cond_t gjoin;       /* a write joined the queue */
    struct group_entry *queue;  /* waiting writes, newest first */
    int queued;                 /* entries in queue */
    int last_group;             /* size of the last committed group */
    bool leading;               /* a leader is committing */
};

/* A queued write (n of them, and meta keys: serve's accepts), on its
** writer's stack until done. */
struct group_entry {
    const rt_store_write *w;
    size_t n;
    const json_t *meta;         /* key -> value in `meta`, or NULL */
    bool lazy;                  /* may be durable only with the next full commit */
    struct group_entry *next;
    int rc;
    bool done;
};

#define GROUP_MAX 256
#define GROUP_MS 50
#define GROUP_WAIT_US 150      /* durable mode: a leader waits this long at most for company */

#define TRIM_LOOKUPS 128        /* rt_store_get_step calls between two drops: a
                                   fault maps 64 KB around it (fault-around) */

typedef int (*txn_fn)(rt_store *st, MDB_txn *txn, void *arg);

/* At close (rt_store_close), the room this handle made ahead of the data
** (rt_store_write.c, keep_room) goes: a state at rest is as LMDB wrote it
** (its size says what it holds; a cut file is seen as cut). Under LMDB's
** writer lock, as the room was made; a process killed meanwhile leaves its
** room, which holds nothing and costs only the space. */
void rt_store_drop_room(rt_store *st);

/* Another process grew the map: adopt its size. */
void rt_store_adopt_map(rt_store *st);
int rt_store_commit_locked(rt_store *st, const rt_store_write *w);
/* What stands for a record that cannot be decoded (rt_store_damaged). */
json_t *rt_store_damaged_stub(const char *why);
/* The run record under key k (the run id), or its stand-in: a NEW reference. */
json_t *rt_store_decode_run(const MDB_val *k, const MDB_val *v);
/* A record (a JSON object): a NEW reference, or NULL with why it is not one
** (damaged bytes: a disk or memory fault, an edit of the file). */
json_t *rt_store_decode(const MDB_val *v, char *why, size_t n);
/* Deletes the keys of dbi under RUN_ID "\0", at most *budget of them
** (decremented: 0 left means there may be more). */
int rt_store_del_children(MDB_txn *txn, MDB_dbi dbi, const char *run_id, long *budget);
int rt_store_del_ok(int rc);
/* Drops the map's pages from this process's memory (maplock held, or
** taken by the second): reads fault them in again as needed. */
void rt_store_drop_map_pages_locked(rt_store *st);
void rt_store_drop_map_pages(rt_store *st);
/* Grows the map to twice its size; no transaction of this process may be
** open, which holding maplock exclusively guarantees. */
int rt_store_grow_map(rt_store *st, size_t seen);
/* The index entries of a run with status and user (either may be NULL). */
int rt_store_index_run(rt_store *st, MDB_txn *txn, const char *id, const char *status, const char *user, bool add);
/* key = a "\0" b, in buf (malloc'd); returns the MDB_val over it. */
MDB_val rt_store_pair_key(rt_buf *buf, const char *a, const char *b);
/* key = a "\0" b "\0" c. */
MDB_val rt_store_triple_key(rt_buf *buf, const char *a, const char *b, const char *c);
json_t *rt_store_parse_val(const MDB_val *v);
int rt_store_put_json(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const json_t *v);
/* The same for a value already written as JSON text. */
int rt_store_put_text(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const char *text);
/* "cannot WHAT: REASON", prefixed RT_STORE_UNWRITABLE when it may pass. */
void rt_store_set_error(char *err, size_t errlen, const char *what, int rc);
/* rc from mdb_txn_begin: MDB_PANIC ends the process (rt_store_on_panic);
** anything else returns. */
void rt_store_panic_check(const rt_store *st, int rc);
int rt_store_write_ops(rt_store *st, MDB_txn *txn, const rt_store_write *w);
int rt_store_write_txn(rt_store *st, txn_fn fn, void *arg);
/* Layout 1 had no by_user_status index: build it once from the runs. */
int rt_store_migrate_layout(rt_store *st, MDB_txn *txn, void *arg);

#endif
