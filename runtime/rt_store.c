/*
** rt_store.c — runs, steps and logs in LMDB (key layout in rt_store.h).
*/
#include "rt_store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rt_util.h"
#include "rt_value.h"

struct rt_store {
    MDB_env *env;
    MDB_dbi runs, steps, logs, by_status, by_user, by_user_status, users, meta;
    bool batch;                 /* MDB_NOSYNC: fsync only in rt_store_sync */
    bool readonly;              /* MDB_RDONLY: a reader on a state it cannot write */
    size_t mapsize;
    pthread_mutex_t wlock;      /* one writer at a time in this process */
    pthread_rwlock_t maplock;   /* transactions share it; growing the map takes it alone */
    /* group commit (batch mode): deferred writes, applied with the next commit */
    struct deferred {
        char *run_id, *path;    /* owned */
        json_t *step, *logs;    /* references */
        char *step_text;        /* owned */
    } *deferred;
    size_t ndeferred, capdeferred;
    int64_t deferred_since;     /* rt_mono_ms of the oldest */
    size_t trimmed_pgno;        /* the map's last page when trim_map last ran */
    int trim_txns;              /* transactions since */
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

/* A queued write, on its writer's stack until done. */
struct group_entry {
    const rt_store_write *w;
    struct group_entry *next;
    int rc;
    bool done;
};

#define GROUP_MAX 256
#define GROUP_MS 50
#define GROUP_WAIT_US 150      /* durable mode: a leader waits this long at most for company */

typedef int (*txn_fn)(rt_store *st, MDB_txn *txn, void *arg);
static int commit_locked(rt_store *st, const rt_store_write *w);
static int write_txn(rt_store *st, txn_fn fn, void *arg);
static int migrate_layout(rt_store *st, MDB_txn *txn, void *arg);
static int grow_map(rt_store *st, size_t seen);

/* The state directory and its parents: parents as `mkdir -p` makes them,
** the state directory itself 0700 (its files are the runs' payloads,
** settings and outputs). An existing directory is left as it is. */
static int mkdir_p(const char *dir)
{
    char *p = rt_xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

/* What to do after a state's data file that cannot be used. */
#define RESTORE_HINT "restore the state directory from a backup (stop every process using it first); " \
                     "to start an empty state instead, move the directory aside"

/* Whether the state in dir may be opened (created when it is new): false
** with a message when its data file is missing beside evidence that it had
** one, or empty. A state is new when the directory or data.mdb is missing
** and nothing else of a state is there; LMDB itself would silently start
** an empty state over a 0-byte data.mdb, and a missing one. */
static bool check_data_file(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            return false;
        }
        /* lock.mdb is made with data.mdb; secrets.key after it */
        static const char *const evidence[] = { "lock.mdb", "secrets.key" };
        for (size_t i = 0; i < sizeof evidence / sizeof evidence[0]; i++) {
            char other[4200];
            snprintf(other, sizeof other, "%s/%s", dir, evidence[i]);
            if (stat(other, &sb) == 0) {
                snprintf(err, errlen, "the state's data file %s is missing, but %s is there: the runs it held are "
                         "gone; %s", path, other, RESTORE_HINT);
                return false;
            }
        }
        return true;                    /* a new state */
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        return false;
    }
    if (sb.st_size == 0) {
        snprintf(err, errlen, "the state's data file %s is empty (0 bytes): the runs it held are gone (a truncated "
                 "file, or a first start killed while creating it); %s", path, RESTORE_HINT);
        return false;
    }
    return true;
}

/* Whether data.mdb holds every page its newest meta page says is in use:
** LMDB maps the file and reads pages through the map, so a page past the
** end of a truncated file is a SIGBUS, not an error. mdb_env_open reads
** only the two meta pages (with pread; it fails with MDB_INVALID when
** they are not there); me_last_pgno is the last page the newest of them
** uses, so the data needs (me_last_pgno + 1) pages of ms_psize bytes.
** Called before any transaction touches another page. */
static bool check_data_size(MDB_env *env, const char *dir, char *err, size_t errlen)
{
    MDB_envinfo info;
    MDB_stat stat_;
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat_) != 0 || stat(path, &sb) != 0) {
        snprintf(err, errlen, "cannot read the size of %s", path);
        return false;
    }
    unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * stat_.ms_psize;
    if ((unsigned long long)sb.st_size >= need) return true;
    snprintf(err, errlen, "the state's data file %s is truncated: it has %lld bytes, but its last commit uses %llu "
             "(%zu pages of %u bytes); %s", path, (long long)sb.st_size, need, info.me_last_pgno + 1, stat_.ms_psize,
             RESTORE_HINT);
    return false;
}

/* The named databases: opened (created when writable) in one transaction. */
static int open_dbs(rt_store *st, bool readonly)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0) return rc;
    struct { const char *name; MDB_dbi *dbi; } dbs[] = {
        { "runs", &st->runs }, { "steps", &st->steps }, { "logs", &st->logs },
        { "by_status", &st->by_status }, { "by_user", &st->by_user },
        { "by_user_status", &st->by_user_status }, { "users", &st->users }, { "meta", &st->meta },
    };
    for (size_t i = 0; rc == 0 && i < sizeof dbs / sizeof dbs[0]; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, readonly ? 0 : MDB_CREATE, dbs[i].dbi);
    if (rc == 0 && readonly) {          /* layout 2 (by_user_status) cannot be built here */
        MDB_val k = { 6, "layout" }, v;
        if (mdb_get(txn, st->meta, &k, &v) != 0 || v.mv_size != 1 || *(char *)v.mv_data != '2') rc = MDB_NOTFOUND;
    }
    /* a read-only transaction's commit keeps the handles too */
    if (rc == 0) rc = mdb_txn_commit(txn);  /* frees txn even on failure */
    else mdb_txn_abort(txn);
    return rc;
}

static bool cannot_write(int rc)
{
    return rc == EACCES || rc == EROFS || rc == EPERM;
}

static rt_store *open_store(const char *dir, bool batch, bool reader, char *err, size_t errlen)
{
    if (mkdir_p(dir) != 0) {
        snprintf(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    if (!check_data_file(dir, err, errlen)) return NULL;
    rt_store *st = rt_xcalloc(1, sizeof *st);
    st->batch = batch;
    const char *ms = getenv("FLOW_MAP_SIZE");
    st->mapsize = ms && atol(ms) > 0 ? (size_t)atol(ms) : (size_t)64 << 20;
    pthread_mutex_init(&st->wlock, NULL);
    pthread_rwlock_init(&st->maplock, NULL);
    pthread_mutex_init(&st->glock, NULL);
    pthread_mutex_init(&st->trim_lock, NULL);
    pthread_cond_init(&st->gdone, NULL);
    pthread_cond_init(&st->gjoin, NULL);
    /* MDB_NOTLS: a read transaction's reader slot is released when it ends,
    ** not held by its thread until the thread exits (fanout items on
    ** thousands of threads look their records up). A reader falls back to
    ** MDB_RDONLY when the state cannot be written, and to MDB_NOLOCK when
    ** not even the lock file can (LMDB itself goes on without the lock on
    ** a read-only file system). */
    static const unsigned tries[] = { 0, MDB_RDONLY, MDB_RDONLY | MDB_NOLOCK };
    int rc = 0;
    for (size_t i = 0; i < (reader ? 3u : 1u); i++) {
        if (st->env) mdb_env_close(st->env);
        st->env = NULL;
        unsigned flags = tries[i] | MDB_NOTLS | (batch ? MDB_NOSYNC : 0);
        rc = mdb_env_create(&st->env);
        if (rc == 0) rc = mdb_env_set_maxdbs(st->env, 16);
        if (rc == 0) rc = mdb_env_set_mapsize(st->env, st->mapsize);
        /* data.mdb and lock.mdb: the runs' payloads, settings and outputs */
        if (rc == 0) rc = mdb_env_open(st->env, dir, flags, 0600);
        st->readonly = tries[i] & MDB_RDONLY;
        if (!cannot_write(rc)) break;
    }
    if (rc == MDB_INVALID) {
        snprintf(err, errlen, "the state's data file %s/data.mdb is not a readable LMDB file (its header is damaged, "
                 "or it was cut short); %s", dir, RESTORE_HINT);
    } else if (rc != 0) {
        snprintf(err, errlen, "cannot open state in %s: %s", dir, mdb_strerror(rc));
    } else if (!check_data_size(st->env, dir, err, errlen)) {
        rc = MDB_CORRUPTED;
    }
    if (rc != 0) {
        if (st->env) mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    st->mapsize = info.me_mapsize;

    for (int tries_ = 0; tries_ < 20; tries_++) {
        rc = open_dbs(st, st->readonly);
        if (rc != MDB_MAP_FULL || grow_map(st, st->mapsize) != 0) break;
    }
    if (rc == 0 && !st->readonly) rc = write_txn(st, migrate_layout, NULL);
    if (rc != 0) {
        if (st->readonly && rc == MDB_NOTFOUND)
            snprintf(err, errlen, "the state in %s needs an upgrade (a newer index) that a read-only open cannot "
                     "make: open it once where it can be written", dir);
        else snprintf(err, errlen, "cannot initialise state in %s: %s", dir, mdb_strerror(rc));
        mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    return st;
}

rt_store *rt_store_open(const char *dir, bool batch, char *err, size_t errlen)
{
    return open_store(dir, batch, false, err, errlen);
}

rt_store *rt_store_open_reader(const char *dir, char *err, size_t errlen)
{
    return open_store(dir, false, true, err, errlen);
}

bool rt_store_is_readonly(const rt_store *st)
{
    return st->readonly;
}

/* Appends "NAME MODE" to b when path is open to other users. */
static void mode_note(rt_buf *b, const char *path, const char *name)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !(sb.st_mode & 077)) return;
    rt_buf_printf(b, "%s%s %04o", b->len ? ", " : "", name, (unsigned)(sb.st_mode & 07777));
}

bool rt_store_mode_warning(rt_store *st, char *msg, size_t n)
{
    const char *dir;
    if (mdb_env_get_path(st->env, &dir) != 0) return false;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    mode_note(&b, dir, "the directory");
    static const char *const files[] = { "data.mdb", "lock.mdb", "secrets.key", "serve.lock" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        mode_note(&b, path, files[i]);
    }
    bool open_ = b.len > 0;
    if (open_)
        snprintf(msg, n, "the state in %s can be read by other users (%s): runs' payloads, settings and outputs are "
                 "in it; `chmod 700 %s && chmod 600 %s/*` closes it (new states are made that way)", dir, b.data, dir,
                 dir);
    rt_buf_free(&b);
    return open_;
}

void rt_store_close(rt_store *st)
{
    if (!st) return;
    rt_store_sync(st);
    free(st->deferred);
    mdb_env_close(st->env);
    pthread_mutex_destroy(&st->wlock);
    pthread_rwlock_destroy(&st->maplock);
    pthread_mutex_destroy(&st->glock);
    pthread_mutex_destroy(&st->trim_lock);
    pthread_cond_destroy(&st->gdone);
    pthread_cond_destroy(&st->gjoin);
    free(st);
}

void rt_store_sync(rt_store *st)
{
    if (!st || !st->batch) return;
    pthread_mutex_lock(&st->wlock);
    if (st->ndeferred) commit_locked(st, NULL);
    pthread_mutex_unlock(&st->wlock);
    mdb_env_sync(st->env, 1);
}

void rt_store_new_run_id(char out[RT_RUN_ID_LEN + 1])
{
    uint64_t ms = (uint64_t)rt_now_ms() & 0xffffffffffffull;
    snprintf(out, RT_RUN_ID_LEN + 1, "%012llx%08llx", (unsigned long long)ms,
             (unsigned long long)rt_random(0xffffffffull));
}

/* ---- writing ------------------------------------------------------------ */

/* key = a "\0" b, in buf (malloc'd); returns the MDB_val over it. */
static MDB_val pair_key(rt_buf *buf, const char *a, const char *b)
{
    buf->len = 0;
    rt_buf_append(buf, a, strlen(a));
    rt_buf_append(buf, "", 1);
    rt_buf_append(buf, b, strlen(b));
    return (MDB_val){ buf->len, buf->data };
}

/* key = a "\0" b "\0" c. */
static MDB_val triple_key(rt_buf *buf, const char *a, const char *b, const char *c)
{
    pair_key(buf, a, b);
    rt_buf_append(buf, "", 1);
    rt_buf_append(buf, c, strlen(c));
    return (MDB_val){ buf->len, buf->data };
}

static int put_text(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const char *text)
{
    MDB_val val = { strlen(text), (void *)text };
    return mdb_put(txn, dbi, k, &val, 0);
}

static int put_json(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const json_t *v)
{
    rt_buf text = { 0 };
    rt_buf_reserve(&text, 1024);
    rt_json_encode(&text, v);
    MDB_val val = { text.len, text.data };
    int rc = mdb_put(txn, dbi, k, &val, 0);
    rt_buf_free(&text);
    return rc;
}

static json_t *parse_val(const MDB_val *v)
{
    return json_loadb(v->mv_data, v->mv_size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);   /* strings may hold \\u0000 */
}

/* A record (a JSON object): a NEW reference, or NULL with why it is not one
** (damaged bytes: a disk or memory fault, an edit of the file). */
static json_t *decode(const MDB_val *v, char *why, size_t n)
{
    json_error_t je;
    json_t *rec = json_loadb(v->mv_data, v->mv_size, JSON_ALLOW_NUL, &je);
    if (!rec) snprintf(why, n, "%zu bytes that are not JSON (%s at byte %d)", v->mv_size, je.text, je.position);
    else if (!json_is_object(rec)) snprintf(why, n, "%zu bytes of JSON that is not an object", v->mv_size);
    if (!json_is_object(rec)) {
        json_decref(rec);
        rec = NULL;
    }
    return rec;
}

/* What stands for a record that cannot be decoded (rt_store_damaged). */
static json_t *damaged_stub(const char *why)
{
    return json_pack("{s:s, s:s}", "status", "unreadable", "damaged", why);
}

const char *rt_store_damaged(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "damaged"));
}

/* The run record under key k (the run id), or its stand-in: a NEW reference. */
static json_t *decode_run(const MDB_val *k, const MDB_val *v)
{
    char why[300];
    json_t *rec = decode(v, why, sizeof why);
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (rec && (!id || strlen(id) != k->mv_size || memcmp(id, k->mv_data, k->mv_size) != 0)) {
        snprintf(why, sizeof why, "%s", id ? "its id field differs from its key" : "it has no id field");
        json_decref(rec);
        rec = NULL;
    }
    if (rec) return rec;
    rec = damaged_stub(why);
    json_object_set_new(rec, "id", json_stringn(k->mv_data, k->mv_size));
    return rec;
}

static int del_ok(int rc)
{
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Failures that may pass: the disk or quota is full (a short write of a
** page, which a full disk causes, is EIO), memory is short, or the map
** could not grow. LMDB aborted the transaction: nothing of it is stored,
** and the same transaction may succeed later. */
static bool transient_rc(int rc)
{
    return rc == ENOSPC || rc == EIO || rc == EDQUOT || rc == EFBIG || rc == ENOMEM || rc == EAGAIN ||
           rc == MDB_MAP_FULL || rc == MDB_READERS_FULL || rc == MDB_MAP_RESIZED;
}

/* "cannot WHAT: REASON", prefixed RT_STORE_UNWRITABLE when it may pass. */
static void store_error(char *err, size_t errlen, const char *what, int rc)
{
    if (transient_rc(rc))
        snprintf(err, errlen, RT_STORE_UNWRITABLE " (%s: %s%s)", what, mdb_strerror(rc),
                 rc == EIO || rc == ENOSPC ? ", is the disk full?" : "");
    else snprintf(err, errlen, "cannot %s: %s", what, mdb_strerror(rc));
}

bool rt_store_unwritable(const char *err)
{
    return err && strncmp(err, RT_STORE_UNWRITABLE, strlen(RT_STORE_UNWRITABLE)) == 0;
}

/* The index entries of a run with status and user (either may be NULL). */
static int index_run(rt_store *st, MDB_txn *txn, const char *id, const char *status, const char *user, bool add)
{
    rt_buf kb = { 0 };
    MDB_val empty = { 0, "" }, k;
    int rc = 0;
    if (status) {
        k = pair_key(&kb, status, id);
        rc = add ? mdb_put(txn, st->by_status, &k, &empty, 0) : del_ok(mdb_del(txn, st->by_status, &k, NULL));
        if (rc == 0) {
            k = triple_key(&kb, user ? user : "", status, id);
            rc = add ? mdb_put(txn, st->by_user_status, &k, &empty, 0)
                     : del_ok(mdb_del(txn, st->by_user_status, &k, NULL));
        }
    }
    if (rc == 0) {
        k = pair_key(&kb, user ? user : "", id);
        rc = add ? mdb_put(txn, st->by_user, &k, &empty, 0) : del_ok(mdb_del(txn, st->by_user, &k, NULL));
    }
    rt_buf_free(&kb);
    return rc;
}

/* Deletes the keys of dbi under RUN_ID "\0", at most *budget of them
** (decremented: 0 left means there may be more). */
static int del_children(MDB_txn *txn, MDB_dbi dbi, const char *run_id, long *budget)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0) return rc;
    size_t plen = strlen(run_id) + 1;
    while (*budget > 0) {
        MDB_val k = { plen, (void *)run_id }, v;    /* run_id then its NUL */
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || k.mv_size < plen || memcmp(k.mv_data, run_id, plen) != 0) break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
        (*budget)--;
    }
    mdb_cursor_close(cur);
    return del_ok(rc);
}

static int write_ops(rt_store *st, MDB_txn *txn, const rt_store_write *w)
{
    int rc = 0;
    rt_buf kb = { 0 };
    if (w->run || w->update) {
        /* the indexes follow the record as stored, whatever the caller
        ** believes the previous status was */
        MDB_val k = { strlen(w->run_id), (void *)w->run_id }, old;
        bool found = mdb_get(txn, st->runs, &k, &old) == 0;
        json_t *prev = found ? parse_val(&old) : NULL;
        if (found && !prev && w->update) {
            rt_buf_free(&kb);
            return MDB_CORRUPTED;   /* an update never takes an unreadable record for none */
        }
        const char *ps = json_string_value(json_object_get(prev, "status"));
        if (w->expect_status && (!ps || strcmp(ps, w->expect_status) != 0)) {
            json_decref(prev);
            rt_buf_free(&kb);
            return MDB_KEYEXIST;    /* reported as RT_STORE_CHANGED */
        }
        json_t *rec = w->update ? w->update(prev, w->update_arg) : json_incref((json_t *)w->run);
        const char *status = json_string_value(json_object_get(rec, "status"));
        const char *user = json_string_value(json_object_get(rec, "user"));
        if (rec) rc = put_json(txn, st->runs, &k, rec);
        if (rec && rc == 0 && (!prev || !ps || !status || strcmp(ps, status) != 0)) {
            if (prev) rc = index_run(st, txn, w->run_id, ps, json_string_value(json_object_get(prev, "user")), false);
            if (rc == 0) rc = index_run(st, txn, w->run_id, status, user, true);
        }
        json_decref(rec);
        json_decref(prev);
    }
    if (rc == 0 && w->drop_steps) {
        size_t i;
        json_t *p;
        json_array_foreach((json_t *)w->drop_steps, i, p) {
            if (!json_is_string(p)) continue;
            MDB_val k = pair_key(&kb, w->run_id, json_string_value(p));
            if ((rc = del_ok(mdb_del(txn, st->steps, &k, NULL))) != 0) break;
        }
    }
    if (rc == 0 && (w->step || w->step_text)) {
        MDB_val k = pair_key(&kb, w->run_id, w->step_path);
        rc = w->step ? put_json(txn, st->steps, &k, w->step) : put_text(txn, st->steps, &k, w->step_text);
    }
    if (rc == 0 && w->logs) {
        size_t i;
        json_t *log;
        json_array_foreach((json_t *)w->logs, i, log) {
            const char *path = json_string_value(json_object_get(log, "path"));
            MDB_val k = pair_key(&kb, w->run_id, path ? path : "");
            if ((rc = put_json(txn, st->logs, &k, log)) != 0) break;
        }
    }
    rt_buf_free(&kb);
    return rc;
}

/* Grows the map to twice its size; no transaction of this process may be
** open, which holding maplock exclusively guarantees. */
static int grow_map(rt_store *st, size_t seen)
{
    pthread_rwlock_wrlock(&st->maplock);
    int rc = 0;
    if (st->mapsize == seen) {
        st->map_gen++;                  /* remapped (maybe elsewhere), even on failure */
        rc = mdb_env_set_mapsize(st->env, st->mapsize * 2);
        if (rc == 0) st->mapsize *= 2;
    }
    pthread_rwlock_unlock(&st->maplock);
    return rc;
}

/* Another process grew the map: adopt its size. */
static void adopt_map(rt_store *st)
{
    pthread_rwlock_wrlock(&st->maplock);
    st->map_gen++;
    if (mdb_env_set_mapsize(st->env, 0) == 0) {
        MDB_envinfo info;
        mdb_env_info(st->env, &info);
        st->mapsize = info.me_mapsize;
    }
    pthread_rwlock_unlock(&st->maplock);
}

static void deferred_clear(rt_store *st)
{
    for (size_t i = 0; i < st->ndeferred; i++) {
        free(st->deferred[i].run_id);
        free(st->deferred[i].path);
        json_decref(st->deferred[i].step);
        json_decref(st->deferred[i].logs);
        free(st->deferred[i].step_text);
    }
    st->ndeferred = 0;
}

/* Every page LMDB reads through its map stays in this process's resident
** set (clean, file-backed: page cache, not heap), so a run writing 200 MB
** of step records would look 200 MB large. So this process's mappings of
** it are dropped now and then (after key scans, every TRIM_LOOKUPS record
** lookups, every TRIM_TXNS transactions or TRIM_PAGES pages of growth):
** on a shared file mapping MADV_DONTNEED only unmaps, the next access
** reads the page cache again (safe under concurrent readers, whose
** snapshot pages LMDB never overwrites; the map is not written through).
** The caller holds maplock (read). */
#define TRIM_PAGES 4096
#define TRIM_LOOKUPS 128        /* rt_store_get_step calls between two drops: a
                                   fault maps 64 KB around it (fault-around) */
static void drop_map_pages_locked(rt_store *st)
{
    pthread_mutex_lock(&st->trim_lock);
    if (st->map_found_gen != st->map_gen + 1) {     /* find the map (again, after a remap) */
        st->map_lo = st->map_hi = 0;
        const char *dir;
        char *file = mdb_env_get_path(st->env, &dir) == 0 ? rt_xprintf("%s/data.mdb", dir) : NULL;
        size_t flen = file ? strlen(file) : 0;
        FILE *maps = file ? fopen("/proc/self/maps", "r") : NULL;
        char line[4096];
        while (maps && fgets(line, sizeof line, maps)) {
            size_t n = strlen(line);
            while (n && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = 0;
            unsigned long lo, hi;
            if (n >= flen && strcmp(line + n - flen, file) == 0 && strstr(line, " r--s ") &&
                sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
                st->map_lo = lo;                /* the read-only map, not the lock file */
                st->map_hi = hi;
            }
        }
        if (maps) fclose(maps);
        free(file);
        st->map_found_gen = st->map_gen + 1;
    }
    if (st->map_hi > st->map_lo) madvise((void *)st->map_lo, st->map_hi - st->map_lo, MADV_DONTNEED);
    pthread_mutex_unlock(&st->trim_lock);
}

static void drop_map_pages(rt_store *st)
{
    pthread_rwlock_rdlock(&st->maplock);    /* no remap meanwhile */
    drop_map_pages_locked(st);
    pthread_rwlock_unlock(&st->maplock);
}

/* After a commit (wlock held): once the file grew by TRIM_PAGES, or after
** TRIM_TXNS transactions (inserts in key order unlike time order, as
** concurrent fanout items make, touch pages all over the tree). */
#define TRIM_TXNS 64
static void trim_map(rt_store *st)
{
    MDB_envinfo info;
    if (mdb_env_info(st->env, &info) != 0) return;
    if (info.me_last_pgno < st->trimmed_pgno + TRIM_PAGES && ++st->trim_txns < TRIM_TXNS) return;
    st->trimmed_pgno = info.me_last_pgno;
    st->trim_txns = 0;
    drop_map_pages(st);
}

/* One write transaction: the deferred writes, then fn (may be NULL).
** MDB_MAP_FULL aborts, grows the map and starts again (so fn must be
** repeatable); the caller holds wlock. */
static int txn_locked(rt_store *st, txn_fn fn, void *arg)
{
    int rc;
    if (st->readonly) return EROFS;     /* opened by a reader on a state it cannot write */
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&st->maplock);
        size_t seen = st->mapsize;
        MDB_txn *txn;
        rc = mdb_txn_begin(st->env, NULL, 0, &txn);
        if (rc == 0) {
            for (size_t i = 0; rc == 0 && i < st->ndeferred; i++) {
                const struct deferred *d = &st->deferred[i];
                rt_store_write dw = { .run_id = d->run_id, .step_path = d->path, .step = d->step,
                                      .step_text = d->step_text, .logs = d->logs };
                rc = write_ops(st, txn, &dw);
            }
            if (rc == 0 && fn) rc = fn(st, txn, arg);
            if (rc == 0) rc = mdb_txn_commit(txn);     /* frees txn even on failure */
            else mdb_txn_abort(txn);
        }
        pthread_rwlock_unlock(&st->maplock);
        if (rc == MDB_MAP_FULL && tries < 40) {
            if ((rc = grow_map(st, seen)) != 0) break;
            continue;
        }
        if (rc == MDB_MAP_RESIZED && tries < 40) {
            adopt_map(st);
            continue;
        }
        break;
    }
    if (rc == 0) deferred_clear(st);
    if (rc == 0) trim_map(st);
    return rc;
}

static int write_txn(rt_store *st, txn_fn fn, void *arg)
{
    pthread_mutex_lock(&st->wlock);
    int rc = txn_locked(st, fn, arg);
    pthread_mutex_unlock(&st->wlock);
    return rc;
}

static int write_one(rt_store *st, MDB_txn *txn, void *arg)
{
    return write_ops(st, txn, arg);
}

static int commit_locked(rt_store *st, const rt_store_write *w)
{
    return txn_locked(st, w ? write_one : NULL, (void *)w);
}

/* The queued writes, oldest first, in one transaction. */
static int write_group(rt_store *st, MDB_txn *txn, void *arg)
{
    struct group_entry *batch = arg;
    int rc = 0;
    for (struct group_entry *e = batch; rc == 0 && e; e = e->next) rc = write_ops(st, txn, e->w);
    return rc;
}

/* Concurrent writers (fanout items) share transactions: the first to find
** no leader commits everything queued meanwhile, so K items waiting on the
** disk cost one fsync, not K. A lone writer commits at once. */
static int group_commit(rt_store *st, const rt_store_write *w)
{
    struct group_entry me = { .w = w };
    pthread_mutex_lock(&st->glock);
    me.next = st->queue;
    st->queue = &me;
    st->queued++;
    pthread_cond_signal(&st->gjoin);
    while (!me.done) {
        if (st->leading) {
            pthread_cond_wait(&st->gdone, &st->glock);
            continue;
        }
        st->leading = true;
        /* Writers that just got their last commit back are about to queue
        ** again: wait a little (far less than an fsync) for as many as
        ** the last group held, so groups do not shrink to one. */
        if (st->last_group > 1 && st->queued < st->last_group) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += GROUP_WAIT_US * 1000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            while (st->queued < st->last_group)
                if (pthread_cond_timedwait(&st->gjoin, &st->glock, &ts) != 0) break;
        }
        struct group_entry *batch = NULL, *e = st->queue;
        st->last_group = st->queued;
        st->queue = NULL;
        st->queued = 0;
        while (e) {                     /* reverse: oldest first */
            struct group_entry *next = e->next;
            e->next = batch;
            batch = e;
            e = next;
        }
        pthread_mutex_unlock(&st->glock);
        pthread_mutex_lock(&st->wlock);
        int rc = txn_locked(st, write_group, batch);
        pthread_mutex_unlock(&st->wlock);
        pthread_mutex_lock(&st->glock);
        for (e = batch; e;) {
            struct group_entry *next = e->next;     /* e may be gone once done */
            e->rc = rc;
            e->done = true;
            e = next;
        }
        st->leading = false;
        pthread_cond_broadcast(&st->gdone);
    }
    pthread_mutex_unlock(&st->glock);
    return me.rc;
}

bool rt_store_is_batch(const rt_store *st)
{
    return st->batch;
}

bool rt_store_commit(rt_store *st, const rt_store_write *w, char *err, size_t errlen)
{
    pthread_mutex_lock(&st->wlock);
    if (st->batch && w->deferrable && !w->run && !w->update && !w->drop_steps) {
        if (st->ndeferred == st->capdeferred) {
            st->capdeferred = st->capdeferred ? st->capdeferred * 2 : 64;
            st->deferred = rt_xrealloc(st->deferred, sizeof *st->deferred * st->capdeferred);
        }
        if (!st->ndeferred) st->deferred_since = rt_mono_ms();
        st->deferred[st->ndeferred++] = (struct deferred){
            rt_xstrdup(w->run_id), w->step_path ? rt_xstrdup(w->step_path) : NULL,
            w->step ? json_incref((json_t *)w->step) : NULL, w->logs ? json_incref((json_t *)w->logs) : NULL,
            w->step_text ? rt_xstrdup(w->step_text) : NULL,
        };
        if (st->ndeferred < GROUP_MAX && rt_mono_ms() - st->deferred_since < GROUP_MS) {
            pthread_mutex_unlock(&st->wlock);
            return true;
        }
        w = NULL;
    }
    if (!w || w->expect_status) {
        /* a conditional write commits alone: its failure must not fail a group */
        int rc = commit_locked(st, w);
        pthread_mutex_unlock(&st->wlock);
        if (rc == MDB_KEYEXIST && w)
            snprintf(err, errlen, RT_STORE_CHANGED " (it is no longer %s)", w->expect_status);
        else if (rc != 0) store_error(err, errlen, "commit to the state store", rc);
        return rc == 0;
    }
    pthread_mutex_unlock(&st->wlock);
    int rc = group_commit(st, w);
    if (rc != 0) store_error(err, errlen, "commit to the state store", rc);
    return rc == 0;
}

/* Layout 1 had no by_user_status index: build it once from the runs. */
static int migrate_layout(rt_store *st, MDB_txn *txn, void *arg)
{
    (void)arg;
    MDB_val k = { 6, "layout" }, v;
    if (mdb_get(txn, st->meta, &k, &v) == 0 && v.mv_size == 1 && *(char *)v.mv_data == '2') return 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->runs, &cur);
    if (rc != 0) return rc;
    MDB_val rk, rv;
    rt_buf kb = { 0 }, id = { 0 };
    for (rc = mdb_cursor_get(cur, &rk, &rv, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &rk, &rv, MDB_NEXT)) {
        json_t *rec = parse_val(&rv);
        const char *status = json_string_value(json_object_get(rec, "status"));
        const char *user = json_string_value(json_object_get(rec, "user"));
        id.len = 0;
        rt_buf_append(&id, rk.mv_data, rk.mv_size);
        rt_buf_append(&id, "", 1);
        int prc = 0;
        if (status) {
            MDB_val key = triple_key(&kb, user ? user : "", status, id.data), empty = { 0, "" };
            prc = mdb_put(txn, st->by_user_status, &key, &empty, 0);
        }
        json_decref(rec);
        if (prc != 0) {
            rc = prc;
            break;
        }
    }
    mdb_cursor_close(cur);
    rt_buf_free(&kb);
    rt_buf_free(&id);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    MDB_val nv = { 1, "2" };
    return mdb_put(txn, st->meta, &k, &nv, 0);
}

/* ---- reading ------------------------------------------------------------ */

static int read_begin(rt_store *st, MDB_txn **txn)
{
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&st->maplock);
        int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
        if (rc == 0) return 0;          /* maplock held until read_end */
        pthread_rwlock_unlock(&st->maplock);
        if (rc == MDB_MAP_RESIZED && tries < 5) {
            adopt_map(st);
            continue;
        }
        return rc;
    }
}

static void read_end(rt_store *st, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&st->maplock);
}

static json_t *get_json(rt_store *st, MDB_dbi dbi, const char *key)
{
    MDB_txn *txn;
    if (read_begin(st, &txn) != 0) return NULL;
    MDB_val k = { strlen(key), (void *)key }, v;
    json_t *r = mdb_get(txn, dbi, &k, &v) == 0 ? parse_val(&v) : NULL;
    read_end(st, txn);
    return r;
}

json_t *rt_store_read_run(rt_store *st, const char *run_id, char *err, size_t errlen)
{
    err[0] = 0;
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    json_t *rec = NULL;
    if (rc == 0) {
        MDB_val k = { strlen(run_id), (void *)run_id }, v;
        rc = mdb_get(txn, st->runs, &k, &v);
        if (rc == 0) rec = decode_run(&k, &v);
        read_end(st, txn);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        snprintf(err, errlen, "cannot read run %s from the state store: %s", run_id, mdb_strerror(rc));
    if (rt_store_damaged(rec)) {
        snprintf(err, errlen, "the record of run %s cannot be read: %s", run_id, rt_store_damaged(rec));
        json_decref(rec);
        rec = NULL;
    }
    return rec;
}

json_t *rt_store_get_run(rt_store *st, const char *run_id)
{
    char err[400];
    return rt_store_read_run(st, run_id, err, sizeof err);
}

/* Every record under RUN_ID "\0" in dbi, as path -> record. */
static json_t *get_children(rt_store *st, MDB_dbi dbi, const char *run_id)
{
    json_t *out = json_object();
    MDB_txn *txn;
    if (read_begin(st, &txn) != 0) return out;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur) == 0) {
        size_t plen = strlen(run_id) + 1;
        MDB_val k = { plen, (void *)run_id }, v;    /* run_id then its NUL */
        int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, run_id, plen) == 0) {
            char *path = rt_xstrndup((const char *)k.mv_data + plen, k.mv_size - plen);
            char why[300];
            json_t *rec = decode(&v, why, sizeof why);
            json_object_set_new(out, path, rec ? rec : damaged_stub(why));
            free(path);
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    read_end(st, txn);
    return out;
}

json_t *rt_store_get_steps(rt_store *st, const char *run_id)
{
    return get_children(st, st->steps, run_id);
}

json_t *rt_store_get_logs(rt_store *st, const char *run_id)
{
    return get_children(st, st->logs, run_id);
}

/* The index and key prefix a query scans: the narrowest one. */
static void query_scan(rt_store *st, const rt_run_query *q, MDB_dbi *dbi, rt_buf *prefix)
{
    prefix->len = 0;
    rt_buf_append(prefix, "", 0);
    if (q->user && q->status) {
        *dbi = st->by_user_status;
        triple_key(prefix, q->user, q->status, "");
    } else if (q->user) {
        *dbi = st->by_user;
        pair_key(prefix, q->user, "");
    } else if (q->status) {
        *dbi = st->by_status;
        pair_key(prefix, q->status, "");
    } else {
        *dbi = st->runs;
    }
}

/* prefix + the 12 hex digits of ms: the first run id at or after ms. */
static void time_bound(rt_buf *out, const rt_buf *prefix, int64_t ms)
{
    out->len = 0;
    rt_buf_append(out, prefix->data, prefix->len);
    char hex[16];
    snprintf(hex, sizeof hex, "%012llx", (unsigned long long)(ms < 0 ? 0 : ms) & 0xffffffffffffull);
    rt_buf_append(out, hex, 12);
}

static int key_cmp(const MDB_val *k, const rt_buf *b)
{
    size_t n = k->mv_size < b->len ? k->mv_size : b->len;
    int c = memcmp(k->mv_data, b->data, n);
    if (c) return c;
    return k->mv_size < b->len ? -1 : k->mv_size > b->len ? 1 : 0;
}

int rt_store_scan_runs(rt_store *st, const rt_run_query *q, rt_run_visit visit, void *arg)
{
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc != 0) return rc;
    MDB_dbi dbi;
    rt_buf prefix = { 0 }, lo = { 0 }, hi = { 0 };
    query_scan(st, q, &dbi, &prefix);
    /* [lo, hi): prefix+since .. prefix+before, or the whole prefix */
    time_bound(&lo, &prefix, q->since_ms);
    if (q->before_ms > 0) {
        time_bound(&hi, &prefix, q->before_ms);
    } else {
        rt_buf_append(&hi, prefix.data, prefix.len);
        rt_buf_append(&hi, "\xff", 1);
    }
    MDB_cursor *cur;
    int n = 0;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
        MDB_val k, v;
        if (q->oldest_first) {
            k = (MDB_val){ lo.len, lo.data };
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
            k = (MDB_val){ hi.len, hi.data };
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : mdb_cursor_get(cur, &k, &v, MDB_LAST);
        }
        while (rc == 0 && (q->limit <= 0 || n < q->limit)) {
            if (key_cmp(&k, &lo) < 0 || key_cmp(&k, &hi) >= 0) break;
            json_t *rec;
            if (dbi == st->runs) {
                rec = decode_run(&k, &v);
            } else {
                MDB_val rk = { k.mv_size - prefix.len, (char *)k.mv_data + prefix.len }, rv;
                rec = mdb_get(txn, st->runs, &rk, &rv) == 0 ? decode_run(&rk, &rv) : NULL;
            }
            if (rec && rt_store_damaged(rec) && !q->damaged_too) {
                json_decref(rec);       /* the caller cannot use it */
                rec = NULL;
            }
            if (rec) {
                n++;
                bool go = visit(rec, arg);
                json_decref(rec);
                if (!go) break;
            }
            rc = mdb_cursor_get(cur, &k, &v, q->oldest_first ? MDB_NEXT : MDB_PREV);
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    read_end(st, txn);
    rt_buf_free(&prefix);
    rt_buf_free(&lo);
    rt_buf_free(&hi);
    return rc;
}

int rt_store_scan_run_ids(rt_store *st, const char *status, bool (*visit)(const char *id, void *arg), void *arg)
{
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc != 0) return rc;
    rt_buf prefix = { 0 };
    MDB_val k = pair_key(&prefix, status, ""), v;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->by_status, &cur)) == 0) {
        char id[RT_RUN_ID_LEN + 1];
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size < prefix.len || memcmp(k.mv_data, prefix.data, prefix.len) != 0) break;
            size_t n = k.mv_size - prefix.len;
            if (n != RT_RUN_ID_LEN) continue;      /* not a run id of ours */
            memcpy(id, (const char *)k.mv_data + prefix.len, n);
            id[n] = 0;
            if (!visit(id, arg)) break;
        }
        if (rc == MDB_NOTFOUND) rc = 0;
        mdb_cursor_close(cur);
    }
    read_end(st, txn);
    rt_buf_free(&prefix);
    return rc;
}

static bool collect_run(json_t *rec, void *arg)
{
    json_array_append(arg, rec);
    return true;
}

json_t *rt_store_query_runs(rt_store *st, const rt_run_query *q)
{
    json_t *out = json_array();
    rt_store_scan_runs(st, q, collect_run, out);
    return out;
}

json_t *rt_store_list_runs(rt_store *st, const char *status, const char *user, int limit)
{
    rt_run_query q = { .status = status, .user = user, .limit = limit };
    return rt_store_query_runs(st, &q);
}

/* ---- removing runs ------------------------------------------------------ */

typedef struct remove_job {
    const json_t *ids;          /* run ids */
    size_t next;                /* the first not removed yet */
    size_t reached;             /* next after the transaction, once committed */
    long batch;                 /* deletions per transaction */
} remove_job;

/* Removes runs from ids[next] on until the budget is spent. A run's steps
** and logs go first and its record last, so a run cut in two by the budget
** is finished by the next transaction. Repeatable after MDB_MAP_FULL:
** j->next moves only once the transaction committed. */
static int remove_some(rt_store *st, MDB_txn *txn, void *arg)
{
    remove_job *j = arg;
    long budget = j->batch;
    size_t next = j->next;
    int rc = 0;
    while (rc == 0 && budget > 0 && next < json_array_size(j->ids)) {
        const char *id = json_string_value(json_array_get(j->ids, next));
        if (!id) {
            next++;
            continue;
        }
        rc = del_children(txn, st->steps, id, &budget);
        if (rc == 0 && budget > 0) rc = del_children(txn, st->logs, id, &budget);
        if (rc != 0 || budget <= 0) break;
        MDB_val k = { strlen(id), (void *)id }, v;
        if (mdb_get(txn, st->runs, &k, &v) == 0) {
            json_t *rec = parse_val(&v);
            rc = index_run(st, txn, id, json_string_value(json_object_get(rec, "status")),
                           json_string_value(json_object_get(rec, "user")), false);
            const char *idem = json_string_value(json_object_get(rec, "idem_key"));
            if (rc == 0 && idem) {      /* serve's Idempotency-Key -> this run */
                MDB_val mk = { strlen(idem), (void *)idem };
                rc = del_ok(mdb_del(txn, st->meta, &mk, NULL));
            }
            json_decref(rec);
            if (rc == 0) rc = del_ok(mdb_del(txn, st->runs, &k, NULL));
            budget -= 4;
        }
        if (rc == 0) next++;
    }
    j->reached = next;              /* adopted by the caller after the commit */
    return rc;
}

bool rt_store_remove_runs(rt_store *st, const json_t *ids, long batch, char *err, size_t errlen)
{
    remove_job j = { .ids = ids, .batch = batch > 0 ? batch : 5000 };
    while (j.next < json_array_size(ids)) {
        int rc = write_txn(st, remove_some, &j);
        if (rc != 0) {
            store_error(err, errlen, "remove runs", rc);
            return false;
        }
        j.next = j.reached;
    }
    return true;
}

/* ---- users -------------------------------------------------------------- */

/* A user record under key k, or its stand-in: a NEW reference. Its id is
** its key, whatever the record says: the key is what a run names, and
** what a sealed secret is bound to. */
static json_t *decode_user(const MDB_val *k, const MDB_val *v)
{
    char why[300];
    json_t *rec = decode(v, why, sizeof why);
    if (!rec) rec = damaged_stub(why);
    json_object_set_new(rec, "id", json_stringn(k->mv_data, k->mv_size));
    return rec;
}

json_t *rt_store_get_user(rt_store *st, const char *user)
{
    MDB_txn *txn;
    if (read_begin(st, &txn) != 0) return NULL;
    MDB_val k = { strlen(user), (void *)user }, v;
    json_t *rec = mdb_get(txn, st->users, &k, &v) == 0 ? decode_user(&k, &v) : NULL;
    read_end(st, txn);
    return rec;
}

typedef struct user_write {
    const char *user;
    const json_t *rec;          /* NULL: delete */
} user_write;

static int user_op(rt_store *st, MDB_txn *txn, void *arg)
{
    user_write *u = arg;
    MDB_val k = { strlen(u->user), (void *)u->user };
    return u->rec ? put_json(txn, st->users, &k, u->rec) : mdb_del(txn, st->users, &k, NULL);
}

bool rt_store_put_user(rt_store *st, const char *user, const json_t *rec, char *err, size_t errlen)
{
    user_write u = { user, rec };
    int rc = write_txn(st, user_op, &u);
    if (rc == MDB_NOTFOUND) {
        snprintf(err, errlen, "cannot remove user %s: no such user", user);
    } else if (rc != 0) {
        char *what = rt_xprintf("%s user %s", rec ? "store" : "remove", user);
        store_error(err, errlen, what, rc);
        free(what);
    }
    return rc == 0;
}

typedef struct user_update {
    const char *user;
    rt_user_update fn;
    void *arg;
} user_update;

static int user_update_op(rt_store *st, MDB_txn *txn, void *arg)
{
    user_update *u = arg;
    MDB_val k = { strlen(u->user), (void *)u->user }, v;
    int rc = mdb_get(txn, st->users, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    json_t *rec = rc == 0 ? decode_user(&k, &v) : NULL;
    rc = 0;
    if (u->fn(rec, u->arg)) rc = put_json(txn, st->users, &k, rec);
    json_decref(rec);
    return rc;
}

bool rt_store_update_user(rt_store *st, const char *user, rt_user_update fn, void *arg, char *err, size_t errlen)
{
    user_update u = { user, fn, arg };
    int rc = write_txn(st, user_update_op, &u);
    if (rc != 0) snprintf(err, errlen, "cannot store user %s: %s", user, mdb_strerror(rc));
    return rc == 0;
}

json_t *rt_store_list_users(rt_store *st)
{
    json_t *out = json_array();
    MDB_txn *txn;
    if (read_begin(st, &txn) != 0) return out;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, st->users, &cur) == 0) {
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            json_array_append_new(out, decode_user(&k, &v));
        mdb_cursor_close(cur);
    }
    read_end(st, txn);
    return out;
}

/* ---- meta --------------------------------------------------------------- */

json_t *rt_store_get_meta(rt_store *st, const char *key)
{
    return get_json(st, st->meta, key);
}

bool rt_store_lookup_meta(rt_store *st, const char *key, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc == 0) {
        MDB_val k = { strlen(key), (void *)key }, v;
        rc = mdb_get(txn, st->meta, &k, &v);
        if (rc == 0 && !(*out = parse_val(&v))) rc = MDB_CORRUPTED;
        read_end(st, txn);
    }
    if (rc == MDB_NOTFOUND) return true;
    if (rc != 0) snprintf(err, errlen, "cannot read the state store: %s", mdb_strerror(rc));
    return rc == 0;
}

typedef struct meta_write {
    const char *key;
    const json_t *value;
} meta_write;

static int meta_op(rt_store *st, MDB_txn *txn, void *arg)
{
    meta_write *m = arg;
    MDB_val k = { strlen(m->key), (void *)m->key };
    return put_json(txn, st->meta, &k, m->value);
}

bool rt_store_put_meta(rt_store *st, const char *key, const json_t *value)
{
    meta_write m = { key, value };
    return write_txn(st, meta_op, &m) == 0;
}

const char *rt_store_strerror(int rc)
{
    return mdb_strerror(rc);
}

size_t rt_store_map_size(rt_store *st)
{
    return st->mapsize;
}

/* ---- group commit of many writes (serve) -------------------------------- */

typedef struct many_write {
    const rt_store_write *w;
    size_t n;
    const json_t *meta;         /* key -> value, or NULL */
} many_write;

static int write_many(rt_store *st, MDB_txn *txn, void *arg)
{
    many_write *m = arg;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->n; i++) rc = write_ops(st, txn, &m->w[i]);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)m->meta, key, value) {
        if (rc != 0) break;
        MDB_val k = { strlen(key), (void *)key };
        rc = put_json(txn, st->meta, &k, value);
    }
    return rc;
}

bool rt_store_commit_many(rt_store *st, const rt_store_write *w, size_t n, const json_t *meta, char *err,
                          size_t errlen)
{
    many_write m = { w, n, meta };
    int rc = write_txn(st, write_many, &m);
    if (rc == MDB_KEYEXIST) snprintf(err, errlen, RT_STORE_CHANGED);
    else if (rc != 0) store_error(err, errlen, "commit to the state store", rc);
    return rc == 0;
}

/* ---- single step records (the engine's lookups of fanout items and pages) */

/* The newest deferred write of run_id/path (a NEW reference), or NULL. */
static json_t *deferred_step(rt_store *st, const char *run_id, const char *path)
{
    json_t *rec = NULL;
    pthread_mutex_lock(&st->wlock);
    for (size_t i = st->ndeferred; i-- > 0 && !rec;) {
        const struct deferred *d = &st->deferred[i];
        if ((d->step || d->step_text) && d->path && strcmp(d->path, path) == 0 && strcmp(d->run_id, run_id) == 0)
            rec = d->step ? json_incref(d->step) : json_loads(d->step_text, JSON_ALLOW_NUL, NULL);
    }
    pthread_mutex_unlock(&st->wlock);
    return rec;
}

json_t *rt_store_get_step(rt_store *st, const char *run_id, const char *path, char *err, size_t errlen)
{
    err[0] = 0;
    json_t *rec = st->batch ? deferred_step(st, run_id, path) : NULL;
    if (rec) return rec;
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc == 0) {
        rt_buf kb = { 0 };
        MDB_val k = pair_key(&kb, run_id, path), v;
        rc = mdb_get(txn, st->steps, &k, &v);
        char why[300];
        if (rc == 0 && !(rec = decode(&v, why, sizeof why))) {
            snprintf(err, errlen, "the record of step '%s' of run %s cannot be read: %s", path, run_id, why);
            rc = MDB_CORRUPTED;
        }
        read_end(st, txn);
        rt_buf_free(&kb);
    }
    if (rc != 0 && rc != MDB_NOTFOUND && rc != MDB_CORRUPTED)
        snprintf(err, errlen, "cannot read step '%s' from the state store: %s", path, mdb_strerror(rc));
    if (__atomic_add_fetch(&st->lookups, 1, __ATOMIC_RELAXED) % TRIM_LOOKUPS == 0) drop_map_pages(st);
    return rec;
}

int rt_store_scan_steps(rt_store *st, const char *run_id, bool (*want)(const char *path), rt_step_visit visit,
                        void *arg)
{
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc != 0) return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->steps, &cur)) == 0) {
        size_t plen = strlen(run_id) + 1;
        MDB_val k = { plen, (void *)run_id }, v;    /* run_id then its NUL */
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        for (long n = 1; rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, run_id, plen) == 0; n++) {
            char *path = rt_xstrndup((const char *)k.mv_data + plen, k.mv_size - plen);
            char why[300];
            bool wanted = want(path);
            json_t *rec = wanted ? decode(&v, why, sizeof why) : NULL;
            if (wanted && !rec) rec = damaged_stub(why);
            visit(path, rec, arg);
            json_decref(rec);
            free(path);
            if (n % TRIM_LOOKUPS == 0) drop_map_pages_locked(st);   /* maplock held by read_begin */
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (rc == MDB_NOTFOUND) rc = 0;
        mdb_cursor_close(cur);
    }
    read_end(st, txn);
    drop_map_pages(st);         /* the scan read every page of the run's steps */
    return rc;
}
