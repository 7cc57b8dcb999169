/*
** rt_store_read.c — [services] reading the store (runs, steps, logs, the
** indexes' range scans, users, meta), removing runs, and the writes of
** users, meta and many runs at once.
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

/* ---- reading ------------------------------------------------------------ */

static int read_begin(rt_store *st, MDB_txn **txn)
{
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&st->maplock);
        int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
        if (rc == 0) return 0;          /* maplock held until read_end */
        pthread_rwlock_unlock(&st->maplock);
        rt_store_panic_check(st, rc);
        if (rc == MDB_MAP_RESIZED && tries < 5) {
            rt_store_adopt_map(st);
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
    json_t *r = mdb_get(txn, dbi, &k, &v) == 0 ? rt_store_parse_val(&v) : NULL;
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
        if (rc == 0) rec = rt_store_decode_run(&k, &v);
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
            json_t *rec = rt_store_decode(&v, why, sizeof why);
            json_object_set_new(out, path, rec ? rec : rt_store_damaged_stub(why));
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
        rt_store_triple_key(prefix, q->user, q->status, "");
    } else if (q->user) {
        *dbi = st->by_user;
        rt_store_pair_key(prefix, q->user, "");
    } else if (q->status) {
        *dbi = st->by_status;
        rt_store_pair_key(prefix, q->status, "");
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
                rec = rt_store_decode_run(&k, &v);
            } else {
                MDB_val rk = { k.mv_size - prefix.len, (char *)k.mv_data + prefix.len }, rv;
                rec = mdb_get(txn, st->runs, &rk, &rv) == 0 ? rt_store_decode_run(&rk, &rv) : NULL;
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
    MDB_val k = rt_store_pair_key(&prefix, status, ""), v;
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
        rc = rt_store_del_children(txn, st->steps, id, &budget);
        if (rc == 0 && budget > 0) rc = rt_store_del_children(txn, st->logs, id, &budget);
        if (rc != 0 || budget <= 0) break;
        MDB_val k = { strlen(id), (void *)id }, v;
        if (mdb_get(txn, st->runs, &k, &v) == 0) {
            json_t *rec = rt_store_parse_val(&v);
            rc = rt_store_index_run(st, txn, id, json_string_value(json_object_get(rec, "status")),
                           json_string_value(json_object_get(rec, "user")), false);
            const char *idem = json_string_value(json_object_get(rec, "idem_key"));
            if (rc == 0 && idem) {      /* serve's Idempotency-Key -> this run */
                MDB_val mk = { strlen(idem), (void *)idem };
                rc = rt_store_del_ok(mdb_del(txn, st->meta, &mk, NULL));
            }
            json_decref(rec);
            if (rc == 0) rc = rt_store_del_ok(mdb_del(txn, st->runs, &k, NULL));
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
        int rc = rt_store_write_txn(st, remove_some, &j);
        if (rc != 0) {
            rt_store_set_error(err, errlen, "remove runs", rc);
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
    json_t *rec = rt_store_decode(v, why, sizeof why);
    if (!rec) rec = rt_store_damaged_stub(why);
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
    return u->rec ? rt_store_put_json(txn, st->users, &k, u->rec) : mdb_del(txn, st->users, &k, NULL);
}

bool rt_store_put_user(rt_store *st, const char *user, const json_t *rec, char *err, size_t errlen)
{
    user_write u = { user, rec };
    int rc = rt_store_write_txn(st, user_op, &u);
    if (rc == MDB_NOTFOUND) {
        snprintf(err, errlen, "cannot remove user %s: no such user", user);
    } else if (rc != 0) {
        char *what = rt_xprintf("%s user %s", rec ? "store" : "remove", user);
        rt_store_set_error(err, errlen, what, rc);
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
    if (u->fn(rec, u->arg)) rc = rt_store_put_json(txn, st->users, &k, rec);
    json_decref(rec);
    return rc;
}

bool rt_store_update_user(rt_store *st, const char *user, rt_user_update fn, void *arg, char *err, size_t errlen)
{
    user_update u = { user, fn, arg };
    int rc = rt_store_write_txn(st, user_update_op, &u);
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

json_t *rt_store_meta_prefix(rt_store *st, const char *prefix)
{
    json_t *out = json_object();
    MDB_txn *txn;
    if (read_begin(st, &txn) != 0) return out;
    MDB_cursor *cur;
    size_t plen = strlen(prefix);
    if (mdb_cursor_open(txn, st->meta, &cur) == 0) {
        MDB_val k = { plen, (void *)prefix }, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && k.mv_size >= plen &&
                                                                   memcmp(k.mv_data, prefix, plen) == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            json_t *val = rt_store_parse_val(&v);
            char *key = rt_xstrndup(k.mv_data, k.mv_size);
            if (val) json_object_set_new(out, key, val);
            free(key);
        }
        mdb_cursor_close(cur);
    }
    read_end(st, txn);
    return out;
}

bool rt_store_lookup_meta(rt_store *st, const char *key, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc == 0) {
        MDB_val k = { strlen(key), (void *)key }, v;
        rc = mdb_get(txn, st->meta, &k, &v);
        if (rc == 0 && !(*out = rt_store_parse_val(&v))) rc = MDB_CORRUPTED;
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
    return rt_store_put_json(txn, st->meta, &k, m->value);
}

bool rt_store_put_meta(rt_store *st, const char *key, const json_t *value)
{
    meta_write m = { key, value };
    return rt_store_write_txn(st, meta_op, &m) == 0;
}

const char *rt_store_strerror(int rc)
{
    return mdb_strerror(rc);
}

size_t rt_store_map_size(rt_store *st)
{
    return st->mapsize;
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
        MDB_val k = rt_store_pair_key(&kb, run_id, path), v;
        rc = mdb_get(txn, st->steps, &k, &v);
        char why[300];
        if (rc == 0 && !(rec = rt_store_decode(&v, why, sizeof why))) {
            snprintf(err, errlen, "the record of step '%s' of run %s cannot be read: %s", path, run_id, why);
            rc = MDB_CORRUPTED;
        }
        read_end(st, txn);
        rt_buf_free(&kb);
    }
    if (rc != 0 && rc != MDB_NOTFOUND && rc != MDB_CORRUPTED)
        snprintf(err, errlen, "cannot read step '%s' from the state store: %s", path, mdb_strerror(rc));
    if (__atomic_add_fetch(&st->lookups, 1, __ATOMIC_RELAXED) % TRIM_LOOKUPS == 0) rt_store_drop_map_pages(st);
    return rec;
}

int rt_store_scan_steps(rt_store *st, const char *run_id, bool (*want)(const char *path), rt_step_visit visit,
                        void *arg)
{
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc != 0) return rc;
    MDB_cursor *cur;
    long n = 1;
    if ((rc = mdb_cursor_open(txn, st->steps, &cur)) == 0) {
        size_t plen = strlen(run_id) + 1;
        MDB_val k = { plen, (void *)run_id }, v;    /* run_id then its NUL */
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        for (; rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, run_id, plen) == 0; n++) {
            char *path = rt_xstrndup((const char *)k.mv_data + plen, k.mv_size - plen);
            char why[300];
            bool wanted = want(path);
            json_t *rec = wanted ? rt_store_decode(&v, why, sizeof why) : NULL;
            if (wanted && !rec) rec = rt_store_damaged_stub(why);
            visit(path, rec, arg);
            json_decref(rec);
            free(path);
            if (n % TRIM_LOOKUPS == 0) rt_store_drop_map_pages_locked(st);   /* maplock held by read_begin */
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (rc == MDB_NOTFOUND) rc = 0;
        mdb_cursor_close(cur);
    }
    read_end(st, txn);
    /* the scan read the pages of the run's steps: a few for a small run
    ** (they count as lookups: serve scans every run it starts), many for a
    ** large one, dropped at once */
    if (n > TRIM_LOOKUPS / 4 || __atomic_add_fetch(&st->lookups, (unsigned long)n, __ATOMIC_RELAXED) % TRIM_LOOKUPS <
                                    (unsigned long)n)
        rt_store_drop_map_pages(st);
    return rc;
}
