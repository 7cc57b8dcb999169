/*
** rt_committed.c — [services] the records a run committed earlier: top-level ones in
** memory, fanout-item and page ones as paths in a compact hash set, read
** from LMDB on demand (see rt_committed.h).
*/
#include "rt_committed.h"

#include <pthread.h>

#include "rt_util.h"

/* Path strings live in chunks: one malloc per 64 KB, not one per path. */
typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk;

struct rt_committed {
    rt_store *st;
    char run_id[RT_RUN_ID_LEN + 1];
    pthread_mutex_t lock;       /* guards everything below */
    json_t *top;                /* path -> record of top-level steps */
    const char **slots;         /* open addressing: a path, or NULL */
    size_t cap, n;              /* cap is a power of two, at least 2n */
    chunk *chunks;
};

/* Paths of fanout items ("each[3].add") and pages ("list#page2"). */
static bool nested(const char *path)
{
    return strpbrk(path, "[#") != NULL;
}

static bool want_top(const char *path)
{
    return !nested(path);
}

static uint64_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t slot_of(const rt_committed *cm, const char *path)
{
    size_t mask = cm->cap - 1, i = (size_t)path_hash(path) & mask;
    while (cm->slots[i] && strcmp(cm->slots[i], path) != 0) i = (i + 1) & mask;
    return i;
}

static const char *intern(rt_committed *cm, const char *path)
{
    size_t len = strlen(path) + 1;
    if (!cm->chunks || cm->chunks->cap - cm->chunks->used < len) {
        size_t cap = len > 65536 ? len : 65536;
        chunk *k = rt_xmalloc(sizeof *k + cap);
        k->next = cm->chunks;
        k->used = 0;
        k->cap = cap;
        cm->chunks = k;
    }
    char *s = cm->chunks->data + cm->chunks->used;
    memcpy(s, path, len);
    cm->chunks->used += len;
    return s;
}

static void set_add(rt_committed *cm, const char *path)
{
    if ((cm->n + 1) * 2 > cm->cap) {
        const char **old = cm->slots;
        size_t oldcap = cm->cap;
        cm->cap = cm->cap ? cm->cap * 2 : 256;
        cm->slots = rt_xcalloc(cm->cap, sizeof *cm->slots);
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) cm->slots[slot_of(cm, old[i])] = old[i];
        free(old);
    }
    size_t at = slot_of(cm, path);
    if (cm->slots[at]) return;
    cm->slots[at] = intern(cm, path);
    cm->n++;
}

static bool set_has(const rt_committed *cm, const char *path)
{
    return cm->cap && cm->slots[slot_of(cm, path)];
}

rt_committed *rt_committed_new(rt_store *st, const char *run_id)
{
    rt_committed *cm = rt_xcalloc(1, sizeof *cm);
    cm->st = st;
    snprintf(cm->run_id, sizeof cm->run_id, "%s", run_id);
    pthread_mutex_init(&cm->lock, NULL);
    cm->top = json_object();
    return cm;
}

static void visit_step(const char *path, json_t *rec, void *arg)
{
    rt_committed *cm = arg;
    if (rec) json_object_set(cm->top, path, rec);
    else set_add(cm, path);
}

rt_committed *rt_committed_load(rt_store *st, const char *run_id, char *err, size_t errlen)
{
    rt_committed *cm = rt_committed_new(st, run_id);
    int rc = rt_store_scan_steps(st, run_id, want_top, visit_step, cm);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read the steps of run %s from the state store (LMDB error %d)", run_id, rc);
        rt_committed_free(cm);
        return NULL;
    }
    return cm;
}

void rt_committed_free(rt_committed *cm)
{
    if (!cm) return;
    json_decref(cm->top);
    free(cm->slots);
    while (cm->chunks) {
        chunk *next = cm->chunks->next;
        free(cm->chunks);
        cm->chunks = next;
    }
    pthread_mutex_destroy(&cm->lock);
    free(cm);
}

json_t *rt_committed_get(rt_committed *cm, const char *path, char *err, size_t errlen)
{
    err[0] = 0;
    bool top = !nested(path);
    pthread_mutex_lock(&cm->lock);
    json_t *rec = top ? json_incref(json_object_get(cm->top, path)) : NULL;
    bool stored = !top && set_has(cm, path);
    pthread_mutex_unlock(&cm->lock);
    if (stored) rec = rt_store_get_step(cm->st, cm->run_id, path, err, errlen);
    if (rt_store_damaged(rec)) {        /* not "never ran": that would send it again */
        snprintf(err, errlen, "the record of step '%s' of run %s cannot be read: %s", path, cm->run_id,
                 rt_store_damaged(rec));
        json_decref(rec);
        rec = NULL;
    }
    return rec;
}

void rt_committed_note(rt_committed *cm, const char *path)
{
    if (!nested(path)) return;
    pthread_mutex_lock(&cm->lock);
    set_add(cm, path);
    pthread_mutex_unlock(&cm->lock);
}
