/*
** rt_store_write.c — [services] writing runs, steps and logs to LMDB (key layout
** in rt_store.h): one transaction per commit, group commit of concurrent
** writers (one fsync for all), deferred writes in batch mode, map growth,
** zeroed room ahead of the data for durable commits.
*/
#include "rt_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "rt_json.h"
#include "rt_status.h"
#include "rt_util.h"

/* ---- writing ------------------------------------------------------------ */

/* key = a "\0" b, in buf; returns the MDB_val over it. */
MDB_val rt_store_pair_key(rt_buf *buf, const char *a, const char *b)
{
    buf->len = 0;
    rt_buf_append(buf, a, strlen(a));
    rt_buf_append(buf, "", 1);
    rt_buf_append(buf, b, strlen(b));
    return (MDB_val){ buf->len, buf->data };
}

/* key = a "\0" b "\0" c. */
MDB_val rt_store_triple_key(rt_buf *buf, const char *a, const char *b, const char *c)
{
    rt_store_pair_key(buf, a, b);
    rt_buf_append(buf, "", 1);
    rt_buf_append(buf, c, strlen(c));
    return (MDB_val){ buf->len, buf->data };
}

int rt_store_put_text(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const char *text)
{
    MDB_val val = { strlen(text), (void *)text };
    return mdb_put(txn, dbi, k, &val, 0);
}

int rt_store_put_json(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const json_t *v)
{
    rt_buf text = { 0 };
    rt_buf_reserve(&text, 1024);
    rt_json_encode(&text, v);
    MDB_val val = { text.len, text.data };
    int rc = mdb_put(txn, dbi, k, &val, 0);
    rt_buf_free(&text);
    return rc;
}

json_t *rt_store_parse_val(const MDB_val *v)
{
    return json_loadb(v->mv_data, v->mv_size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);   /* strings may hold \\u0000 */
}

/* A record (a JSON object): a NEW reference, or NULL with why it is not one
** (damaged bytes: a disk or memory fault, an edit of the file). */
json_t *rt_store_decode(const MDB_val *v, char *why, size_t n)
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
json_t *rt_store_damaged_stub(const char *why)
{
    return json_pack("{s:s, s:s}", "status", rt_status_name(RT_ST_UNREADABLE), "damaged", why);
}

const char *rt_store_damaged(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "damaged"));
}

/* The run record under key k (the run id), or its stand-in: a NEW reference. */
json_t *rt_store_decode_run(const MDB_val *k, const MDB_val *v)
{
    char why[300];
    json_t *rec = rt_store_decode(v, why, sizeof why);
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (rec && (!id || strlen(id) != k->mv_size || memcmp(id, k->mv_data, k->mv_size) != 0)) {
        snprintf(why, sizeof why, "%s", id ? "its id field differs from its key" : "it has no id field");
        json_decref(rec);
        rec = NULL;
    }
    if (rec) return rec;
    rec = rt_store_damaged_stub(why);
    json_object_set_new(rec, "id", json_stringn(k->mv_data, k->mv_size));
    return rec;
}

int rt_store_del_ok(int rc)
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

static void (*panic_fn)(const char *msg);

void rt_store_on_panic(void (*fn)(const char *msg))
{
    panic_fn = fn;
}

void rt_store_panic_check(const rt_store *st, int rc)
{
    if (rc != MDB_PANIC) return;
    static atomic_flag first = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&first))
        for (;;) pause();               /* the first thread says it and exits */
    const char *path = NULL;
    mdb_env_get_path(st->env, &path);
    char msg[1200];
    snprintf(msg, sizeof msg,
             "the state store %s cannot be used any more by this process (%s: a write of its meta page failed; the "
             "file keeps its last good transaction): exiting 75 so that a restart reopens it and resumes the "
             "unfinished runs", path ? path : "?", mdb_strerror(rc));
    if (panic_fn) panic_fn(msg);
    else fprintf(stderr, "%s\n", msg);
    _exit(75);
}

/* "cannot WHAT: REASON", prefixed RT_STORE_UNWRITABLE when it may pass. */
void rt_store_set_error(char *err, size_t errlen, const char *what, int rc)
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
int rt_store_index_run(rt_store *st, MDB_txn *txn, const char *id, const char *status, const char *user, bool add)
{
    rt_buf kb = { 0 };
    MDB_val empty = { 0, "" }, k;
    int rc = 0;
    if (status) {
        k = rt_store_pair_key(&kb, status, id);
        rc = add ? mdb_put(txn, st->by_status, &k, &empty, 0) : rt_store_del_ok(mdb_del(txn, st->by_status, &k, NULL));
        if (rc == 0) {
            k = rt_store_triple_key(&kb, user ? user : "", status, id);
            rc = add ? mdb_put(txn, st->by_user_status, &k, &empty, 0)
                     : rt_store_del_ok(mdb_del(txn, st->by_user_status, &k, NULL));
        }
    }
    if (rc == 0) {
        k = rt_store_pair_key(&kb, user ? user : "", id);
        rc = add ? mdb_put(txn, st->by_user, &k, &empty, 0) : rt_store_del_ok(mdb_del(txn, st->by_user, &k, NULL));
    }
    rt_buf_free(&kb);
    return rc;
}

/* Deletes the keys of dbi under RUN_ID "\0", at most *budget of them
** (decremented: 0 left means there may be more). */
int rt_store_del_children(MDB_txn *txn, MDB_dbi dbi, const char *run_id, long *budget)
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
    return rt_store_del_ok(rc);
}

int rt_store_write_ops(rt_store *st, MDB_txn *txn, const rt_store_write *w)
{
    int rc = 0;
    char kfirst[256];           /* the keys on the stack while they fit: a fanout item's
                                   commit allocates nothing for its key */
    rt_buf kb = rt_buf_on(kfirst, sizeof kfirst);
    if (w->run_text && !w->run && !w->update && w->new_run) {
        /* a fresh record given as text (serve's accepts): the record and its indexes */
        MDB_val k = { strlen(w->run_id), (void *)w->run_id }, val = { w->run_len, (void *)w->run_text };
        rc = mdb_put(txn, st->runs, &k, &val, 0);
        if (rc == 0) rc = rt_store_index_run(st, txn, w->run_id, w->run_status, w->run_user, true);
    } else if (w->run || w->update) {
        /* the indexes follow the record as stored, whatever the caller
        ** believes the previous status was */
        MDB_val k = { strlen(w->run_id), (void *)w->run_id }, old;
        bool found = !w->new_run && mdb_get(txn, st->runs, &k, &old) == 0;
        json_t *prev = found ? rt_store_parse_val(&old) : NULL;
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
        if (rec && w->run_text && !w->update) {
            MDB_val val = { w->run_len, (void *)w->run_text };
            rc = mdb_put(txn, st->runs, &k, &val, 0);
        } else if (rec) {
            rc = rt_store_put_json(txn, st->runs, &k, rec);
        }
        if (rec && rc == 0 && (!prev || !ps || !status || strcmp(ps, status) != 0)) {
            if (prev) rc = rt_store_index_run(st, txn, w->run_id, ps, json_string_value(json_object_get(prev, "user")), false);
            if (rc == 0) rc = rt_store_index_run(st, txn, w->run_id, status, user, true);
        }
        json_decref(rec);
        json_decref(prev);
    }
    if (rc == 0 && w->drop_steps) {
        size_t i;
        json_t *p;
        json_array_foreach((json_t *)w->drop_steps, i, p) {
            if (!json_is_string(p)) continue;
            MDB_val k = rt_store_pair_key(&kb, w->run_id, json_string_value(p));
            if ((rc = rt_store_del_ok(mdb_del(txn, st->steps, &k, NULL))) != 0) break;
        }
    }
    if (rc == 0 && (w->step || w->step_text)) {
        MDB_val k = rt_store_pair_key(&kb, w->run_id, w->step_path);
        rc = w->step ? rt_store_put_json(txn, st->steps, &k, w->step)
                     : rt_store_put_text(txn, st->steps, &k, w->step_text);
    }
    if (rc == 0 && w->logs) {
        size_t i;
        json_t *log;
        json_array_foreach((json_t *)w->logs, i, log) {
            const char *path = json_string_value(json_object_get(log, "path"));
            MDB_val k = rt_store_pair_key(&kb, w->run_id, path ? path : "");
            if ((rc = rt_store_put_json(txn, st->logs, &k, log)) != 0) break;
        }
    }
    rt_buf_free(&kb);
    return rc;
}

/* Grows the map to twice its size; no transaction of this process may be
** open, which holding maplock exclusively guarantees. */
int rt_store_grow_map(rt_store *st, size_t seen)
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
void rt_store_adopt_map(rt_store *st)
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
        free(st->deferred[i].step_text);
        json_decref(st->deferred[i].logs);
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
void rt_store_drop_map_pages_locked(rt_store *st)
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

void rt_store_drop_map_pages(rt_store *st)
{
    pthread_rwlock_rdlock(&st->maplock);    /* no remap meanwhile */
    rt_store_drop_map_pages_locked(st);
    pthread_rwlock_unlock(&st->maplock);
}

/* The room: kept at least ROOM_LOW bytes, made ROOM_HIGH when it is less,
** once a handle has made ROOM_AFTER commits (a command that commits a few
** times does not write room it would not use); none on tmpfs (its fsync
** costs nothing) or when the file system would be left with less than
** ROOM_FREE_MIN free (a nearly full disk keeps its space for the commits). */
#define ROOM_LOW (512ull << 10)
#define ROOM_HIGH (1ull << 20)
#define ROOM_AFTER 16
#define ROOM_FREE_MIN (256ull << 20)
#define ROOM_TMPFS 0x01021994
#define ROOM_RAMFS 0x858458f6

/* Called in a write transaction before its commit (LMDB's writer lock is
** held: no other process writes meanwhile): keeps zeroed room in data.mdb
** beyond the last page in use, so that a durable commit writes into blocks
** the file already has and its fdatasync does not also write the file's
** size and block map (measured on this machine's ext4: 490 against 320 us
** per fdatasync). Best effort: an error leaves the file as it was or with
** some of the room, never touches a page in use. */
static void keep_room(rt_store *st)
{
    if (st->batch || st->readonly || st->room_off) return;
    if (st->room_commits < ROOM_AFTER) {
        st->room_commits++;
        return;
    }
    MDB_envinfo info;
    MDB_stat ms;
    int fd;
    if (mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &ms) != 0 || mdb_env_get_fd(st->env, &fd) != 0)
        return;
    unsigned long long used = ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize;
    if (st->room_end >= used + ROOM_LOW) return;
    struct stat sb;
    struct statfs fs;
    if (fstat(fd, &sb) != 0 || fstatfs(fd, &fs) != 0) return;
    unsigned long long free_bytes = (unsigned long long)fs.f_bavail * (unsigned long long)fs.f_bsize;
    if (fs.f_type == ROOM_TMPFS || fs.f_type == ROOM_RAMFS || free_bytes < ROOM_FREE_MIN + ROOM_HIGH) {
        st->room_off = fs.f_type == ROOM_TMPFS || fs.f_type == ROOM_RAMFS;
        st->room_end = used + ROOM_HIGH;        /* a full disk: looked at again after ROOM_HIGH - ROOM_LOW */
        return;
    }
    unsigned long long end = (unsigned long long)sb.st_size;
    unsigned long long want = used + ROOM_HIGH;
    if (want > st->mapsize) want = st->mapsize;      /* never past the map */
    /* from the file's end only: every page LMDB wrote (committed, or spilled
    ** by this transaction) lies before it; the pages this transaction will
    ** write at its commit come after these zeros */
    static const char zeros[64 << 10];
    while (end < want) {
        size_t n = want - end < sizeof zeros ? (size_t)(want - end) : sizeof zeros;
        ssize_t w = pwrite(fd, zeros, n, (off_t)end);
        if (w <= 0) break;
        end += (unsigned long long)w;
    }
    /* their write-back starts now: the commit's fdatasync waits for less */
    if (end > (unsigned long long)sb.st_size)
        sync_file_range(fd, (off_t)sb.st_size, (off_t)(end - (unsigned long long)sb.st_size), SYNC_FILE_RANGE_WRITE);
    st->room_end = end;
    st->room_made = true;
}

void rt_store_drop_room(rt_store *st)
{
    if (!st->room_made) return;
    pthread_mutex_lock(&st->wlock);
    MDB_txn *txn;
    MDB_envinfo info;
    MDB_stat ms;
    int fd;
    struct stat sb;
    if (mdb_txn_begin(st->env, NULL, 0, &txn) == 0) {
        if (mdb_env_info(st->env, &info) == 0 && mdb_env_stat(st->env, &ms) == 0 && mdb_env_get_fd(st->env, &fd) == 0 &&
            fstat(fd, &sb) == 0) {
            unsigned long long used = ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize;
            if ((unsigned long long)sb.st_size > used && ftruncate(fd, (off_t)used) != 0) { /* the room stays */ }
        }
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&st->wlock);
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
    rt_store_drop_map_pages(st);
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
        rt_store_panic_check(st, rc);   /* MDB_PANIC: does not return */
        if (rc == 0) {
            for (size_t i = 0; rc == 0 && i < st->ndeferred; i++) {
                const struct deferred *d = &st->deferred[i];
                rt_store_write dw = { .run_id = d->run_id, .step_path = d->path, .step = d->step,
                                      .step_text = d->step_text, .logs = d->logs };
                rc = rt_store_write_ops(st, txn, &dw);
            }
            if (rc == 0 && fn) rc = fn(st, txn, arg);
            if (rc == 0) keep_room(st);
            if (rc == 0) rc = mdb_txn_commit(txn);     /* frees txn even on failure */
            else mdb_txn_abort(txn);
        }
        pthread_rwlock_unlock(&st->maplock);
        if (rc == MDB_MAP_FULL && tries < 40) {
            if ((rc = rt_store_grow_map(st, seen)) != 0) break;
            continue;
        }
        if (rc == MDB_MAP_RESIZED && tries < 40) {
            rt_store_adopt_map(st);
            continue;
        }
        break;
    }
    if (rc == 0) deferred_clear(st);
    if (rc == 0) trim_map(st);
    return rc;
}

int rt_store_write_txn(rt_store *st, txn_fn fn, void *arg)
{
    pthread_mutex_lock(&st->wlock);
    int rc = txn_locked(st, fn, arg);
    pthread_mutex_unlock(&st->wlock);
    return rc;
}

static int write_one(rt_store *st, MDB_txn *txn, void *arg)
{
    return rt_store_write_ops(st, txn, arg);
}

int rt_store_commit_locked(rt_store *st, const rt_store_write *w)
{
    return txn_locked(st, w ? write_one : NULL, (void *)w);
}

/* One queued entry's writes and meta keys. */
static int write_entry(rt_store *st, MDB_txn *txn, const struct group_entry *e)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < e->n; i++) rc = rt_store_write_ops(st, txn, &e->w[i]);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)e->meta, key, value) {
        if (rc != 0) break;
        MDB_val k = { strlen(key), (void *)key };
        rc = rt_store_put_json(txn, st->meta, &k, value);
    }
    return rc;
}

/* The queued writes, oldest first, in one transaction. */
static int write_group(rt_store *st, MDB_txn *txn, void *arg)
{
    struct group_entry *batch = arg;
    int rc = 0;
    for (struct group_entry *e = batch; rc == 0 && e; e = e->next) rc = write_entry(st, txn, e);
    return rc;
}

static int write_group_one(rt_store *st, MDB_txn *txn, void *arg)
{
    return write_entry(st, txn, arg);
}

/* Concurrent writers (fanout items, serve's committers) share
** transactions: the first to find no leader commits everything queued
** meanwhile, so K writers waiting on the disk cost one fsync, not K. A lone
** writer commits at once. A transaction that fails for a reason that will
** not pass (a record an update cannot read) is redone one entry at a time,
** so that one writer's trouble is not every writer's; a full disk fails
** them all. */
static int group_commit(rt_store *st, const rt_store_write *w, size_t n, const json_t *meta, bool lazy)
{
    struct group_entry me = { .w = w, .n = n, .meta = meta, .lazy = lazy };
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
        /* nobody in the group needs it durable now: LMDB flushes the data
        ** but not the meta page, which the next full commit's flush takes
        ** along (one device flush instead of two; a crash meanwhile undoes
        ** at most this transaction, never the database's integrity) */
        bool lazy_txn = true;
        for (e = batch; e; e = e->next) lazy_txn &= e->lazy;
        pthread_mutex_lock(&st->wlock);
        if (lazy_txn) mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
        int rc = txn_locked(st, write_group, batch);
        bool alone = rc != 0 && batch->next && !transient_rc(rc);
        for (e = batch; e; e = e->next) e->rc = alone ? txn_locked(st, write_group_one, e) : rc;
        if (lazy_txn) mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
        bool committed = false;         /* the group, or one of its entries redone alone */
        for (e = batch; e; e = e->next) committed |= e->rc == 0;
        if (committed) st->meta_unsynced = lazy_txn;
        pthread_mutex_unlock(&st->wlock);
        pthread_mutex_lock(&st->glock);
        for (e = batch; e;) {
            struct group_entry *next = e->next;     /* e may be gone once done */
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
        int rc = rt_store_commit_locked(st, w);
        pthread_mutex_unlock(&st->wlock);
        if (rc == MDB_KEYEXIST && w)
            snprintf(err, errlen, RT_STORE_CHANGED " (it is no longer %s)", w->expect_status);
        else if (rc != 0) rt_store_set_error(err, errlen, "commit to the state store", rc);
        return rc == 0;
    }
    pthread_mutex_unlock(&st->wlock);
    int rc = group_commit(st, w, 1, NULL, false);
    if (rc != 0) rt_store_set_error(err, errlen, "commit to the state store", rc);
    return rc == 0;
}

/* serve's groups (accepts, a scheduler's checkpoints) join the concurrent
** writers' transactions; batch mode commits them with its deferred writes. */
bool rt_store_commit_many(rt_store *st, const rt_store_write *w, size_t n, const json_t *meta, char *err,
                          size_t errlen)
{
    return rt_store_commit_group(st, w, n, meta, false, err, errlen);
}

bool rt_store_commit_group(rt_store *st, const rt_store_write *w, size_t n, const json_t *meta, bool lazy, char *err,
                           size_t errlen)
{
    struct group_entry one = { .w = w, .n = n, .meta = meta };
    int rc = st->batch ? rt_store_write_txn(st, write_group_one, &one) : group_commit(st, w, n, meta, lazy);
    if (rc == MDB_KEYEXIST) snprintf(err, errlen, RT_STORE_CHANGED);
    else if (rc != 0) rt_store_set_error(err, errlen, "commit to the state store", rc);
    return rc == 0;
}
