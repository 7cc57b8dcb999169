/*
** rt_store.c — runs, steps and logs in LMDB (key layout in rt_store.h).
*/
#include "rt_store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_util.h"

struct rt_store {
    MDB_env *env;
    MDB_dbi runs, steps, logs, by_status, by_user, meta;
    bool batch;                 /* MDB_NOSYNC: fsync only in rt_store_sync */
    size_t mapsize;
    pthread_mutex_t wlock;      /* one writer at a time in this process */
    pthread_rwlock_t maplock;   /* transactions share it; growing the map takes it alone */
    /* group commit (batch mode): deferred writes, applied with the next commit */
    struct deferred {
        char *run_id, *path;    /* owned */
        json_t *step, *logs;    /* references */
    } *deferred;
    size_t ndeferred, capdeferred;
    int64_t deferred_since;     /* rt_mono_ms of the oldest */
};

#define GROUP_MAX 256
#define GROUP_MS 50

static int commit_locked(rt_store *st, const rt_store_write *w);

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
    int rc = mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

rt_store *rt_store_open(const char *dir, bool batch, char *err, size_t errlen)
{
    if (mkdir_p(dir) != 0) {
        snprintf(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    rt_store *st = rt_xcalloc(1, sizeof *st);
    st->batch = batch;
    const char *ms = getenv("FLOW_MAP_SIZE");
    st->mapsize = ms && atol(ms) > 0 ? (size_t)atol(ms) : (size_t)64 << 20;
    pthread_mutex_init(&st->wlock, NULL);
    pthread_rwlock_init(&st->maplock, NULL);
    int rc = mdb_env_create(&st->env);
    if (rc == 0) rc = mdb_env_set_maxdbs(st->env, 16);
    if (rc == 0) rc = mdb_env_set_mapsize(st->env, st->mapsize);
    if (rc == 0) rc = mdb_env_open(st->env, dir, batch ? MDB_NOSYNC : 0, 0644);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open state in %s: %s", dir, mdb_strerror(rc));
        if (st->env) mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    st->mapsize = info.me_mapsize;

    MDB_txn *txn;
    rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc == 0) {
        struct { const char *name; MDB_dbi *dbi; } dbs[] = {
            { "runs", &st->runs }, { "steps", &st->steps }, { "logs", &st->logs },
            { "by_status", &st->by_status }, { "by_user", &st->by_user }, { "meta", &st->meta },
        };
        for (size_t i = 0; rc == 0 && i < sizeof dbs / sizeof dbs[0]; i++)
            rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc == 0) {
            MDB_val k = { 6, "layout" }, v = { 1, "1" };
            rc = mdb_put(txn, st->meta, &k, &v, 0);
        }
        if (rc == 0) rc = mdb_txn_commit(txn);   /* frees txn even on failure */
        else mdb_txn_abort(txn);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot initialise state in %s: %s", dir, mdb_strerror(rc));
        mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    return st;
}

void rt_store_close(rt_store *st)
{
    if (!st) return;
    rt_store_sync(st);
    free(st->deferred);
    mdb_env_close(st->env);
    pthread_mutex_destroy(&st->wlock);
    pthread_rwlock_destroy(&st->maplock);
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

static int put_json(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return EINVAL;
    MDB_val val = { strlen(text), text };
    int rc = mdb_put(txn, dbi, k, &val, 0);
    free(text);
    return rc;
}

static int write_ops(rt_store *st, MDB_txn *txn, const rt_store_write *w)
{
    int rc = 0;
    rt_buf kb = { 0 };
    if (w->run) {
        MDB_val k = { strlen(w->run_id), (void *)w->run_id };
        rc = put_json(txn, st->runs, &k, w->run);
        const char *status = json_string_value(json_object_get(w->run, "status"));
        if (rc == 0 && status && (!w->old_status || strcmp(w->old_status, status) != 0)) {
            if (w->old_status) {
                MDB_val ok = pair_key(&kb, w->old_status, w->run_id);
                rc = mdb_del(txn, st->by_status, &ok, NULL);
                if (rc == MDB_NOTFOUND) rc = 0;
            }
            if (rc == 0) {
                MDB_val sk = pair_key(&kb, status, w->run_id), empty = { 0, "" };
                rc = mdb_put(txn, st->by_status, &sk, &empty, 0);
            }
        }
        if (rc == 0 && !w->old_status) {
            const char *user = json_string_value(json_object_get(w->run, "user"));
            MDB_val uk = pair_key(&kb, user ? user : "", w->run_id), empty = { 0, "" };
            rc = mdb_put(txn, st->by_user, &uk, &empty, 0);
        }
    }
    if (rc == 0 && w->step) {
        MDB_val k = pair_key(&kb, w->run_id, w->step_path);
        rc = put_json(txn, st->steps, &k, w->step);
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
    }
    st->ndeferred = 0;
}

/* The deferred writes, then w (may be NULL), in one transaction. */
static int commit_locked(rt_store *st, const rt_store_write *w)
{
    int rc;
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&st->maplock);
        size_t seen = st->mapsize;
        MDB_txn *txn;
        rc = mdb_txn_begin(st->env, NULL, 0, &txn);
        if (rc == 0) {
            for (size_t i = 0; rc == 0 && i < st->ndeferred; i++) {
                const struct deferred *d = &st->deferred[i];
                rt_store_write dw = { .run_id = d->run_id, .step_path = d->path, .step = d->step, .logs = d->logs };
                rc = write_ops(st, txn, &dw);
            }
            if (rc == 0 && w) rc = write_ops(st, txn, w);
            if (rc == 0) rc = mdb_txn_commit(txn);     /* frees txn even on failure */
            else mdb_txn_abort(txn);
        }
        pthread_rwlock_unlock(&st->maplock);
        if (rc == MDB_MAP_FULL && tries < 20) {
            if ((rc = grow_map(st, seen)) != 0) break;
            continue;
        }
        if (rc == MDB_MAP_RESIZED && tries < 20) {
            adopt_map(st);
            continue;
        }
        break;
    }
    if (rc == 0) deferred_clear(st);
    return rc;
}

bool rt_store_commit(rt_store *st, const rt_store_write *w, char *err, size_t errlen)
{
    pthread_mutex_lock(&st->wlock);
    if (st->batch && w->deferrable && !w->run) {
        if (st->ndeferred == st->capdeferred) {
            st->capdeferred = st->capdeferred ? st->capdeferred * 2 : 64;
            st->deferred = rt_xrealloc(st->deferred, sizeof *st->deferred * st->capdeferred);
        }
        if (!st->ndeferred) st->deferred_since = rt_mono_ms();
        st->deferred[st->ndeferred++] = (struct deferred){
            rt_xstrdup(w->run_id), w->step_path ? rt_xstrdup(w->step_path) : NULL,
            w->step ? json_incref((json_t *)w->step) : NULL, w->logs ? json_incref((json_t *)w->logs) : NULL,
        };
        if (st->ndeferred < GROUP_MAX && rt_mono_ms() - st->deferred_since < GROUP_MS) {
            pthread_mutex_unlock(&st->wlock);
            return true;
        }
        w = NULL;
    }
    int rc = commit_locked(st, w);
    pthread_mutex_unlock(&st->wlock);
    if (rc != 0) snprintf(err, errlen, "cannot commit to the state store: %s", mdb_strerror(rc));
    return rc == 0;
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

static json_t *parse_val(const MDB_val *v)
{
    return json_loadb(v->mv_data, v->mv_size, JSON_DECODE_ANY, NULL);
}

json_t *rt_store_get_run(rt_store *st, const char *run_id)
{
    MDB_txn *txn;
    if (read_begin(st, &txn) != 0) return NULL;
    MDB_val k = { strlen(run_id), (void *)run_id }, v;
    json_t *r = mdb_get(txn, st->runs, &k, &v) == 0 ? parse_val(&v) : NULL;
    read_end(st, txn);
    return r;
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
            json_t *rec = parse_val(&v);
            if (rec) json_object_set_new(out, path, rec);
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

static bool list_accepts(json_t *rec, const char *status, const char *user)
{
    if (!rec) return false;
    const char *s = json_string_value(json_object_get(rec, "status"));
    const char *u = json_string_value(json_object_get(rec, "user"));
    if (status && (!s || strcmp(s, status) != 0)) return false;
    if (user && (!u || strcmp(u, user) != 0)) return false;
    return true;
}

json_t *rt_store_list_runs(rt_store *st, const char *status, const char *user, int limit)
{
    json_t *out = json_array();
    MDB_txn *txn;
    if (read_begin(st, &txn) != 0) return out;
    /* Scan the narrowest index backwards: KEY "\0" RUN_ID entries, newest
    ** last, or the runs themselves when there is no filter. */
    const char *prefix = user ? user : status;
    MDB_dbi dbi = user ? st->by_user : status ? st->by_status : st->runs;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur) == 0) {
        size_t plen = prefix ? strlen(prefix) + 1 : 0;
        MDB_val k, v;
        int rc;
        if (prefix) {
            /* position after the last key of the prefix: PREFIX "\1" */
            char *end = rt_xstrdup(prefix);
            rt_buf eb = { 0 };
            rt_buf_append(&eb, end, plen - 1);
            rt_buf_append(&eb, "\1", 1);
            k = (MDB_val){ eb.len, eb.data };
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : mdb_cursor_get(cur, &k, &v, MDB_LAST);
            free(end);
            rt_buf_free(&eb);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        }
        while (rc == 0 && (limit <= 0 || (int)json_array_size(out) < limit)) {
            json_t *rec;
            if (prefix) {
                if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen - 1) != 0 ||
                    ((const char *)k.mv_data)[plen - 1] != '\0')
                    break;
                MDB_val rk = { k.mv_size - plen, (char *)k.mv_data + plen }, rv;
                rec = mdb_get(txn, st->runs, &rk, &rv) == 0 ? parse_val(&rv) : NULL;
            } else {
                rec = parse_val(&v);
            }
            if (list_accepts(rec, status, user)) json_array_append_new(out, rec);
            else json_decref(rec);
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        }
        mdb_cursor_close(cur);
    }
    read_end(st, txn);
    return out;
}
