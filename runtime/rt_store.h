/*
** rt_store.h — [services] durable state of runs in LMDB.
**
** One environment per state directory (DIR/data.mdb, DIR/lock.mdb), holding
** these named databases. Keys are bytes; "\0" is a literal NUL separator;
** values are compact JSON unless stated.
**
**   runs       RUN_ID                      -> run record
**              RUN_ID is 12 hex digits of the creation time in ms then 8
**              random hex digits (20 chars), so key order is creation order:
**              `runs` is also the by-time index (a reverse cursor scan lists
**              the newest runs first; a range scan from an id lists a window).
**   steps      RUN_ID "\0" STEP_PATH       -> step record
**              A prefix scan over RUN_ID "\0" yields every step of a run.
**              STEP_PATH is "name", "fanout[3].name", "wait@12", ...
**              (a failed step's record has continued: true when the run
**              went on past it)
**   logs       RUN_ID "\0" LOG_PATH        -> { ts, path, line, msg }
**              `log` statements and flow_log lines; keyed by where they
**              were written, so a replay overwrites instead of duplicating.
**   by_status  STATUS "\0" RUN_ID          -> ""   (one entry per run)
**              Unfinished runs, failed runs, ... newest-last range scans.
**   by_user    USER "\0" RUN_ID            -> ""
**              A user's runs in time order.
**   by_user_status USER "\0" STATUS "\0" RUN_ID -> ""
**              A user's runs with a status (history --user U --status S).
**              Each index is also a time index: RUN_ID starts with the
**              creation time, so `--since T` is a range scan from
**              PREFIX + hex12(T), and newest-first is a reverse scan.
**   users      USER                        -> user record
**   meta       "layout"                    -> "2" (layout 1 lacked by_user_status)
**              "idem:LEN:USER:KEY"         -> RUN_ID (serve's Idempotency-Key)
**
** Run record:  { id, workflow, version, user, trigger, settings, status,
**                attempt, created, updated (ms), ended?, output?, error?,
**                pid, pid_start, pid_boot, pid_cmd (its owner: the process
**                that executes it, rt_owner.h), failed_step?, wake_at? (waiting),
**                source? ("run", "enabled", ...), idem_key? (serve: the meta
**                key of its Idempotency-Key, removed with the run) }
** User record: { id, enabled, settings: {...}, secrets: { NAME: sealed },
**                key_id?, created, updated, enabled_run? } — sealed secrets
**                are encrypted and bound to (USER, NAME) (rt_secrets.c); the
**                plain value is never stored. id is always read as USER.
** Step record: { kind, status, attempts: [{ n, started, ended, error?,
**                http_status? }], started, ended, input?, output?, error?,
**                next_at? (retrying), wake_at? (waits), count? (a fanout:
**                its number of items; the list of returns is not stored,
**                the items' records imply it), items_in_pages? (a
**                paginated request: output is { status, pages }, the
**                items are in the records at STEP_PATH "#page1" ...) }
** status of a run: queued running waiting succeeded failed interrupted
** status of a step: retrying waiting succeeded failed
**
** Writes: one writer at a time (a mutex here; LMDB's lock across
** processes). Every rt_store_commit is one transaction, fsync'ed unless
** the store was opened in batch mode (MDB_NOSYNC; rt_store_sync flushes).
** MDB_MAP_FULL aborts the transaction, doubles the map and retries.
*/
#ifndef RT_STORE_H
#define RT_STORE_H

#include "flowrt.h"

typedef struct rt_store rt_store;

#define RT_RUN_ID_LEN 20

/* Opens (creating) the state directory. batch = MDB_NOSYNC. On failure
** returns NULL with a message in err.
**
** A new state directory is made 0700, data.mdb and lock.mdb 0600; an
** existing one keeps its modes (rt_store_mode_warning says when they are
** open). Before LMDB reads anything but the two meta pages, the data file
** is checked, and a state that lost its data is refused (NULL, the file
** and what to do in err) instead of started over or mapped into a SIGBUS:
** data.mdb missing beside lock.mdb or secrets.key, data.mdb of 0 bytes,
** a header LMDB cannot read (MDB_INVALID), or a file shorter than the
** pages its newest meta page says are in use ((me_last_pgno + 1) *
** ms_psize). A state is new when the directory or data.mdb is missing and
** nothing else of a state is there. */
rt_store *rt_store_open(const char *dir, bool batch, char *err, size_t errlen);
/* For commands that only read (history, show, users list/show, info): as
** rt_store_open, but a state that cannot be written (a read-only mount, a
** backup without write permission) is opened read-only (MDB_RDONLY, and
** MDB_NOLOCK when not even lock.mdb can be opened) instead of refused.
** Every write to such a store fails with EROFS ("Read-only file system"). */
rt_store *rt_store_open_reader(const char *dir, char *err, size_t errlen);
bool rt_store_is_readonly(const rt_store *st);
/* Whether the state directory or a file of it can be read by other users
** (any group or other permission bit); the message, naming the modes and
** the chmod that closes them, in msg. */
bool rt_store_mode_warning(rt_store *st, char *msg, size_t n);
void rt_store_close(rt_store *st);
/* Batch mode: commits deferred writes and flushes to disk (at the end of a
** run, and at close). Nothing otherwise. */
void rt_store_sync(rt_store *st);
/* Makes everything committed durable: flushes a lazy group's meta page if
** the last group was one (rt_store_commit_group), else does nothing. False
** with the message in err (may be NULL) when the flush failed. */
bool rt_store_flush(rt_store *st, char *err, size_t errlen);

/* A fresh, time-ordered run id into out (RT_RUN_ID_LEN + 1 bytes). */
void rt_store_new_run_id(char out[RT_RUN_ID_LEN + 1]);

/* What one transaction writes; any member may be NULL. */
typedef struct rt_store_write {
    const char *run_id;
    const json_t *run;          /* the run record (its status/user keep the indexes) */
    const char *old_status;     /* status in the previous run record, or NULL */
    const char *step_path;
    const json_t *step;         /* the step record at step_path */
    const char *step_text;      /* or: the step record as JSON text (rt_record.h) */
    const json_t *logs;         /* array of log records, each with "path" */
    const json_t *drop_steps;   /* array of step paths whose records to delete first (retry) */
    const char *expect_status;  /* run: commit only if the stored run has this status, else
                                   fail with RT_STORE_CHANGED (two `retry`s of one run) */
    /* Instead of `run`: the run record is computed inside the transaction
    ** from the stored one (NULL when there is none): update returns the
    ** record to write (a NEW reference), or NULL to leave it as it is (the
    ** write's other parts still apply, the transaction does not fail). It
    ** is called again when the transaction is retried (a full map), so it
    ** must depend on its arguments only, and it must not call the store. */
    json_t *(*update)(const json_t *stored, void *arg);
    void *update_arg;
    bool deferrable;            /* batch mode may group it with later writes */
    /* serve's accepts: the run record already encoded (off the writer's
    ** thread; it must be `run` as text), and a fresh id whose previous
    ** record is not looked up (there is none) */
    const char *run_text;
    size_t run_len;
    bool new_run;
    const char *run_status, *run_user;  /* with run_text and no `run`: what the indexes need */
} rt_store_write;

/* Commits the write in one transaction. Returns false (message in err) on
** an error other than a full map, which is handled by growing it. A
** failure that may pass (the disk is full: ENOSPC, or EIO from a short
** write; a quota; no memory to grow the map) gives a message starting with
** RT_STORE_UNWRITABLE: nothing of the transaction was stored, and the same
** write may succeed later (rt_store_unwritable tells).
**
** Group commit: in batch mode a deferrable write (a step record the engine
** can recompute: a function step's final outcome; no run record) is kept in
** memory and committed with the next non-deferrable write, the 256th
** deferred one, one 50 ms after the first, or rt_store_sync. The store then
** holds references to step and logs (and a copy of step_text), which must
** not change afterwards. A
** killed process loses at most those writes: their steps run again. */
bool rt_store_commit(rt_store *st, const rt_store_write *w, char *err, size_t errlen);
/* Whether the store was opened in batch mode (commits do not sync). */
bool rt_store_is_batch(const rt_store *st);
/* The message prefix rt_store_commit writes when expect_status did not hold. */
#define RT_STORE_CHANGED "the run changed meanwhile"
/* The message prefix of a write that failed for a reason that may pass. */
#define RT_STORE_UNWRITABLE "the state store cannot be written for now"
/* Whether err (from any rt_store_* write) says the failure may pass. */
bool rt_store_unwritable(const char *err);


/* Damaged records. A record whose bytes do not decode (a disk or memory
** fault, an edit of the file) is never dropped silently: where a function
** returns records, it returns a stand-in { status: "unreadable", damaged:
** WHY } at its place (a run's also has its id, a user's its id), or
** reports it in err. A run record whose id field is not its key counts as
** damaged too. rt_store_damaged(rec) is WHY for a stand-in, else NULL. */
const char *rt_store_damaged(const json_t *rec);

/* The run record: a NEW reference, or NULL when there is none, when it is
** damaged or cannot be read. */
json_t *rt_store_get_run(rt_store *st, const char *run_id);
/* The same, telling why: NULL with err "" when there is no such run, NULL
** with a message (naming the run) when it is damaged or cannot be read. */
json_t *rt_store_read_run(rt_store *st, const char *run_id, char *err, size_t errlen);
/* Every step record of a run as an object path -> record: NEW reference.
** A damaged record is a stand-in (rt_store_damaged). */
json_t *rt_store_get_steps(rt_store *st, const char *run_id);
/* One step record of a run: a NEW reference, or NULL. Sees the writes batch
** mode still holds in memory. When there is no such record err is "";
** on an error (a damaged record too) it holds the message: a caller
** deciding whether a step already ran must not take an error for "no". */
json_t *rt_store_get_step(rt_store *st, const char *run_id, const char *path, char *err, size_t errlen);
/* Visits every step of a run in key order, in one read transaction:
** visit(path, rec, arg), with rec the parsed record (borrowed, valid during
** the call) when want(path) holds, else NULL — keys alone are cheap to list.
** A wanted record that is damaged is visited as its stand-in.
** Returns 0 or an LMDB error code. */
typedef void (*rt_step_visit)(const char *path, json_t *rec, void *arg);
int rt_store_scan_steps(rt_store *st, const char *run_id, bool (*want)(const char *path), rt_step_visit visit,
                        void *arg);
/* Every log record of a run as an object path -> record: NEW reference
** (stand-ins for damaged ones). */
json_t *rt_store_get_logs(rt_store *st, const char *run_id);

/* Run records, newest first, optionally only those with a status and/or a
** user, at most limit (0 = all): a NEW reference to an array. */
json_t *rt_store_list_runs(rt_store *st, const char *status, const char *user, int limit);

/* A range scan over runs: one index (by_user_status, by_user, by_status or
** runs itself, the narrowest the filters allow) between two times. */
typedef struct rt_run_query {
    const char *status;         /* or NULL */
    const char *user;           /* or NULL */
    int64_t since_ms;           /* created at or after (0 = no bound) */
    int64_t before_ms;          /* created before (0 = no bound) */
    int limit;                  /* at most this many records visited (0 = all) */
    bool oldest_first;          /* default: newest first */
    bool damaged_too;           /* visit a damaged run record as its stand-in (it
                                   counts against limit); else it is skipped */
} rt_run_query;
/* Called with each run record (borrowed, valid during the call) in one
** read transaction; return false to stop. */
typedef bool (*rt_run_visit)(json_t *run, void *arg);
/* Returns 0 or an LMDB error code. */
int rt_store_scan_runs(rt_store *st, const rt_run_query *q, rt_run_visit visit, void *arg);
/* The ids of the runs with a status, oldest first, from the by_status
** index alone (no record is read): visit(id, arg) in one read
** transaction, false to stop; visit must not call the store. Returns 0 or
** an LMDB error code. */
int rt_store_scan_run_ids(rt_store *st, const char *status, bool (*visit)(const char *id, void *arg), void *arg);
/* The records a query visits, as a NEW reference to an array. */
json_t *rt_store_query_runs(rt_store *st, const rt_run_query *q);

/* Removes runs (an array of ids), their steps, logs and index entries, in
** transactions of at most `batch` deletions (0 = 5000), so that pruning a
** million runs never holds the writer for long nor grows the map much.
** A run's record goes last: one cut in two is finished by the next
** transaction. */
bool rt_store_remove_runs(rt_store *st, const json_t *ids, long batch, char *err, size_t errlen);

/* Users (connected accounts): NEW reference or NULL; rec NULL removes.
** A record's "id" is always the key it is stored under; a damaged one is
** a stand-in. */
json_t *rt_store_get_user(rt_store *st, const char *user);
bool rt_store_put_user(rt_store *st, const char *user, const json_t *rec, char *err, size_t errlen);
/* Read-modify-write of user's record in one write transaction (no other
** writer between the read and the write): fn(rec, arg) gets the stored
** record (borrowed, changed in place; NULL when there is none, a stand-in
** when it is damaged) and returns whether to store it (never true for
** NULL). fn may be called more than once (a transaction repeated after a
** map resize) and must give the same answer each time. False with a
** message when the write fails. */
typedef bool (*rt_user_update)(json_t *rec, void *arg);
bool rt_store_update_user(rt_store *st, const char *user, rt_user_update fn, void *arg, char *err, size_t errlen);
/* Every user record, by id (stand-ins too): NEW reference to an array. */
json_t *rt_store_list_users(rt_store *st);

/* Small values in `meta`: NEW reference or NULL. */
json_t *rt_store_get_meta(rt_store *st, const char *key);
/* The same, telling a failure from no value (a caller deciding whether a
** key was seen must not take an error for "no"): true with *out a NEW
** reference, or NULL when there is none; false with *out NULL and a
** message in err when the store could not be read or the value is not
** JSON. */
bool rt_store_lookup_meta(rt_store *st, const char *key, json_t **out, char *err, size_t errlen);
bool rt_store_put_meta(rt_store *st, const char *key, const json_t *value);
/* Every meta key starting with prefix -> its value, read in one read
** transaction (the deployed flags of a project): a NEW object. */
json_t *rt_store_meta_prefix(rt_store *st, const char *prefix);

/* Group commit: every write of w[0..n) and every meta key -> value of
** `meta` (an object, or NULL) in ONE transaction, fsync'ed as any commit
** (serve commits concurrently accepted runs together). Deferred writes of
** batch mode go first. Returns false with a message in err. */
bool rt_store_commit_many(rt_store *st, const rt_store_write *w, size_t n, const json_t *meta, char *err,
                          size_t errlen);
/* The same; lazy: nobody relies on this group being durable before the
** next full commit (a run's records that nothing waits for, the accept of
** a run whose caller waits for its end): unless another writer of the same
** transaction needs it durable now, LMDB flushes its data but leaves its
** meta page to the next commit's flush (MDB_NOMETASYNC: one device flush
** instead of two; a system crash before the next commit undoes this
** transaction, whole, and nothing else). Every commit that is not lazy
** makes the earlier lazy ones durable too. */
bool rt_store_commit_group(rt_store *st, const rt_store_write *w, size_t n, const json_t *meta, bool lazy, char *err,
                           size_t errlen);

/* A store that LMDB marked unusable in this process (MDB_PANIC: a write of
** its meta page failed; the file keeps its last good transaction, this
** process's handle cannot be used again) ends the process: fn(msg), set
** once by the driver, says so (default: msg on stderr), then the process
** exits 75 (RT_EXIT_INTERRUPTED: a restart reopens the store and resumes
** the unfinished runs). Other threads that meet it meanwhile wait for the
** exit. Nothing else is done on the way out: what is on disk is what a
** kill -9 would leave. */
void rt_store_on_panic(void (*fn)(const char *msg));

/* The message of an LMDB error code (the codes the scans return). */
const char *rt_store_strerror(int rc);

/* The current map size in bytes (grows when full). */
size_t rt_store_map_size(rt_store *st);

#endif
