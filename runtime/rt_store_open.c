/*
** rt_store_open.c — [services] opening the state directory: its modes, the
** checks that refuse a state that lost its data, the databases, the
** layout migration; closing, syncing, run ids.
*/
#include "rt_store_int.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rt_json.h"
#include "rt_util.h"


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
        if (rc != MDB_MAP_FULL || rt_store_grow_map(st, st->mapsize) != 0) break;
    }
    if (rc == 0 && !st->readonly) rc = rt_store_write_txn(st, rt_store_migrate_layout, NULL);
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
    rt_store_flush(st, NULL, 0);        /* what a lazy group left */
    rt_store_drop_room(st);
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
    if (st->ndeferred) rt_store_commit_locked(st, NULL);
    pthread_mutex_unlock(&st->wlock);
    mdb_env_sync(st->env, 1);
}

bool rt_store_flush(rt_store *st, char *err, size_t errlen)
{
    pthread_mutex_lock(&st->wlock);
    bool flush = st->meta_unsynced;
    st->meta_unsynced = false;
    pthread_mutex_unlock(&st->wlock);
    int rc = flush ? mdb_env_sync(st->env, 1) : 0;
    if (rc == 0) return true;
    pthread_mutex_lock(&st->wlock);
    st->meta_unsynced = true;           /* still owed */
    pthread_mutex_unlock(&st->wlock);
    if (err) rt_store_set_error(err, errlen, "flush the state store", rc);
    return false;
}

void rt_store_new_run_id(char out[RT_RUN_ID_LEN + 1])
{
    uint64_t ms = (uint64_t)rt_now_ms() & 0xffffffffffffull;
    snprintf(out, RT_RUN_ID_LEN + 1, "%012llx%08llx", (unsigned long long)ms,
             (unsigned long long)rt_random(0xffffffffull));
}

/* Layout 1 had no by_user_status index: build it once from the runs. */
int rt_store_migrate_layout(rt_store *st, MDB_txn *txn, void *arg)
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
        json_t *rec = rt_store_parse_val(&rv);
        const char *status = json_string_value(json_object_get(rec, "status"));
        const char *user = json_string_value(json_object_get(rec, "user"));
        id.len = 0;
        rt_buf_append(&id, rk.mv_data, rk.mv_size);
        rt_buf_append(&id, "", 1);
        int prc = 0;
        if (status) {
            MDB_val key = rt_store_triple_key(&kb, user ? user : "", status, id.data), empty = { 0, "" };
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
