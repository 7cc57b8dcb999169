/*
** rt_serve_queue.c — [drivers] serve's runs: the durable fair queue
** (round-robin across users), the runs in hand, the heap of waiting runs,
** the committer that group-commits accepts, the workers that execute runs
** with the engine, and the rt_serve_sweep that reconciles all this with LMDB.
*/
#include "rt_serve_queue.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include "rt_cli.h"
#include "rt_exec.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_status.h"
#include "rt_store.h"
#include "rt_util.h"
#include "rt_serve_answer.h"
#include "rt_host_run.h"

const double rt_serve_step_buckets[NBUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
const char *const rt_serve_step_kinds[NKINDS] = { "request", "function", "fanout", "wait", "other" };

/* ---- the fair queue ----------------------------------------------------- */

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Under qlock. */
static user_queue *user_get(serve *sv, const char *user)
{
    uint32_t h = str_hash(user) % USER_BUCKETS;
    for (user_queue *u = sv->users[h]; u; u = u->hash_next)
        if (strcmp(u->user, user) == 0) return u;
    user_queue *u = rt_xcalloc(1, sizeof *u);
    u->user = rt_xstrdup(user);
    u->hash_next = sv->users[h];
    sv->users[h] = u;
    return u;
}

static void ring_append(serve *sv, user_queue *u)
{
    u->ring_next = NULL;
    if (sv->ring_tail) sv->ring_tail->ring_next = u;
    else sv->ring_head = u;
    sv->ring_tail = u;
    u->in_ring = true;
    sv->ring_len++;
}

static user_queue *ring_pop(serve *sv)
{
    user_queue *u = sv->ring_head;
    sv->ring_head = u->ring_next;
    if (!sv->ring_head) sv->ring_tail = NULL;
    u->in_ring = false;
    sv->ring_len--;
    return u;
}

/* ---- the runs in hand ----------------------------------------------------- */

/* The slot of id, or (add) the free slot it goes into; NULL when absent
** and not adding. Under qlock. */
static held_run *held_slot(held_set *h, const char *id, bool add)
{
    if (!h->cap) return NULL;
    size_t mask = h->cap - 1, i = str_hash(id) & mask;
    held_run *gone = NULL;
    for (size_t n = 0; n < h->cap; n++, i = (i + 1) & mask) {
        held_run *r = &h->slots[i];
        if (r->state == HELD_FREE) return add ? (gone ? gone : r) : NULL;
        if (r->state == HELD_GONE) {
            if (!gone) gone = r;
        } else if (strcmp(r->id, id) == 0) {
            return r;
        }
    }
    return add ? gone : NULL;
}

static void held_grow(held_set *h)
{
    held_set old = *h;
    h->cap = old.cap && old.live * 2 >= old.cap / 2 ? old.cap * 2 : old.cap ? old.cap : 1024;
    h->slots = rt_xcalloc(h->cap, sizeof *h->slots);
    h->used = h->live = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].state != HELD_USED) continue;
        *held_slot(h, old.slots[i].id, true) = old.slots[i];
        h->used++;
        h->live++;
    }
    free(old.slots);
}

/* Takes id in hand, with text (taken over) or NULL: false when it already is. Under qlock. */
static bool held_add(serve *sv, const char *id, char *text, size_t len)
{
    held_set *h = &sv->held;
    if ((h->used + 1) * 10 > h->cap * 7) held_grow(h);     /* at most 70 % used, tombstones included */
    held_run *r = held_slot(h, id, true);
    if (r->state == HELD_USED) return false;
    if (r->state == HELD_FREE) h->used++;
    h->live++;
    *r = (held_run){ .state = HELD_USED, .text = text, .len = len };
    snprintf(r->id, sizeof r->id, "%s", id);
    return true;
}

/* Lets id go: its execution ended, or the run is not this process's. */
static void held_release(serve *sv, const char *id)
{
    pthread_mutex_lock(&sv->qlock);
    held_run *r = held_slot(&sv->held, id, false);
    if (r) {
        free(r->text);
        r->text = NULL;
        r->state = HELD_GONE;
        sv->held.live--;
    }
    pthread_mutex_unlock(&sv->qlock);
}

/* ---- the queue ------------------------------------------------------------ */

/* Wakes every thread's scheduler. Under qlock. */
static void notify_all(serve *sv)
{
    for (int i = 0; i < sv->nworkers; i++)
        if (sv->scheds_co && sv->scheds_co[i]) rt_co_notify(sv->scheds_co[i]);
}

/* Wakes the thread with the most room for a run just queued (its runs and
** those queued for it meanwhile, under its share): one thread, not every
** one, so a lone request wakes one. A thread with no room takes the run
** when one of its own ends (its loop feeds before it sleeps again). Under
** qlock. */
static void notify_one(serve *sv)
{
    int pick = -1, least = sv->per_thread;
    for (int i = 0; i < sv->nworkers && sv->scheds_co; i++) {
        int load = sv->sched_running[i] + sv->sched_promised[i];
        if (sv->scheds_co[i] && load < least) {
            least = load;
            pick = i;
        }
    }
    if (pick < 0) return;
    sv->sched_promised[pick]++;
    rt_co_notify(sv->scheds_co[pick]);
}

/* rt_serve_queue_push(_new) (rt_serve_queue.h); text: taken over. */
static bool queue_push(serve *sv, const char *id, const char *user, bool fresh, char *text, size_t len)
{
    pthread_mutex_lock(&sv->qlock);
    if (fresh && !held_add(sv, id, text, len)) {
        pthread_mutex_unlock(&sv->qlock);
        free(text);
        return false;
    }
    queued_run *q = rt_xmalloc(sizeof *q);
    q->next = NULL;
    q->at = rt_mono_ms();
    snprintf(q->id, sizeof q->id, "%s", id);
    user_queue *u = user_get(sv, user ? user : "");
    if (u->tail) u->tail->next = q;
    else u->head = q;
    u->tail = q;
    u->queued++;
    sv->queued++;
    if (!u->in_ring) ring_append(sv, u);
    pthread_cond_signal(&sv->qcond);
    notify_one(sv);
    pthread_mutex_unlock(&sv->qlock);
    return true;
}

bool rt_serve_queue_push(serve *sv, const char *id, const char *user, bool fresh)
{
    return queue_push(sv, id, user, fresh, NULL, 0);
}

bool rt_serve_queue_push_new(serve *sv, const char *id, const char *user, char *text, size_t len)
{
    return queue_push(sv, id, user, true, text, len);
}

/* The record to execute (NEW): the one accepted in memory the first time, else the
** stored one, else (a failed first group stored nothing) the accepted one again. */
static json_t *held_record(serve *sv, const char *id)
{
    pthread_mutex_lock(&sv->qlock);
    held_run *r = held_slot(&sv->held, id, false);
    const char *text = r ? r->text : NULL;     /* freed only by held_release, on this run's thread */
    size_t len = r ? r->len : 0;
    bool first = text && !r->started;
    if (r) r->started = true;
    pthread_mutex_unlock(&sv->qlock);
    json_t *rec = first ? NULL : rt_store_get_run(sv->st, id);
    if (!rec && text) rec = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    return rec;
}

/* The next run to start: the oldest of the next user in the ring that is
** under its limit. Under qlock. */
static bool queue_pick(serve *sv, char id[RT_RUN_ID_LEN + 1], user_queue **owner)
{
    for (size_t i = 0, n = sv->ring_len; i < n; i++) {
        user_queue *u = ring_pop(sv);
        if (sv->o.max_user_runs > 0 && u->running >= sv->o.max_user_runs) {
            ring_append(sv, u);
            continue;
        }
        queued_run *q = u->head;
        u->head = q->next;
        if (!u->head) u->tail = NULL;
        u->queued--;
        sv->queued--;
        memcpy(id, q->id, RT_RUN_ID_LEN + 1);
        free(q);
        u->running++;
        if (u->queued) ring_append(sv, u);
        *owner = u;
        return true;
    }
    return false;
}

/* Waiting runs: a min-heap by wake-up time, under qlock. fresh as for
** rt_serve_queue_push (false: the run is in hand, its execution suspended it). */
static bool wake_add(serve *sv, const char *id, const char *user, int64_t at, bool fresh, bool store_retry)
{
    pthread_mutex_lock(&sv->qlock);
    if (fresh && !held_add(sv, id, NULL, 0)) {
        pthread_mutex_unlock(&sv->qlock);
        return false;
    }
    if (sv->nwakes == sv->capwakes) {
        sv->capwakes = sv->capwakes ? sv->capwakes * 2 : 64;
        sv->wakes = rt_xrealloc(sv->wakes, sizeof *sv->wakes * sv->capwakes);
    }
    size_t i = sv->nwakes++;
    wake_entry e = { .at = at, .user = user ? rt_xstrdup(user) : NULL, .store_retry = store_retry };
    sv->nretries += store_retry;
    snprintf(e.id, sizeof e.id, "%s", id);
    while (i > 0 && sv->wakes[(i - 1) / 2].at > at) {
        sv->wakes[i] = sv->wakes[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    sv->wakes[i] = e;
    pthread_mutex_unlock(&sv->qlock);
    return true;
}

/* Restores the heap order of the waiting runs from entry i down. Under qlock. */
static void wake_sift_down(serve *sv, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= sv->nwakes) return;
        if (c + 1 < sv->nwakes && sv->wakes[c + 1].at < sv->wakes[c].at) c++;
        if (sv->wakes[c].at >= sv->wakes[i].at) return;
        wake_entry t = sv->wakes[i];
        sv->wakes[i] = sv->wakes[c];
        sv->wakes[c] = t;
        i = c;
    }
}

/* Moves the runs due by now from the heap to the queue. */
void rt_serve_wake_due(serve *sv)
{
    int64_t now = rt_now_ms();
    for (;;) {
        pthread_mutex_lock(&sv->qlock);
        if (!sv->nwakes || sv->wakes[0].at > now) {
            pthread_mutex_unlock(&sv->qlock);
            return;
        }
        wake_entry top = sv->wakes[0];
        sv->wakes[0] = sv->wakes[--sv->nwakes];
        sv->nretries -= top.store_retry;
        wake_sift_down(sv, 0);
        pthread_mutex_unlock(&sv->qlock);
        rt_serve_queue_push(sv, top.id, top.user, false);
        free(top.user);
    }
}

/* ---- the committer: group commit of accepted runs ------------------------ */

static void store_worked(serve *sv);

static void commit_batch(serve *sv, request *batch)
{
    size_t n = 0;
    for (request *r = batch; r; r = r->next) n += (size_t)r->plan.nruns;
    rt_store_write *w = rt_xcalloc(n + 1, sizeof *w);
    json_t *meta = json_object();
    size_t nw = 0, nreplayed = 0, nbatch_replayed = 0, nunknown = 0;
    /* webhooks only, each waiting for its run's end (a durable write) or
    ** answered 202 after a flush (rt_serve_answer.c): their accepts may be
    ** lazy (rt_store_commit_group) */
    bool hooks_only = true;
    for (request *r = batch; r; r = r->next) {
        hooks_only &= r->hook && r->plan.nruns == 1;
        rt_host_accept *pl = &r->plan;
        /* every run's Idempotency-Key first: one that cannot be looked up
        ** refuses the request whole (503), before any of its runs is written */
        for (int k = 0; k < pl->nruns && !r->idem_error; k++) {
            rt_host_run_plan *it = &pl->runs[k];
            it->replayed = it->replayed_in_batch = false;
            if (!it->idem_key) continue;
            json_t *seen = json_object_get(meta, it->idem_key);     /* earlier in this batch */
            json_t *stored = NULL;
            char lerr[256];
            if (!seen && !rt_store_lookup_meta(sv->st, it->idem_key, &stored, lerr, sizeof lerr)) {
                r->idem_error = rt_xstrdup(lerr);
                break;
            }
            const char *id = json_string_value(seen ? seen : stored);
            if (id) {
                snprintf(it->run_id, sizeof it->run_id, "%s", id);
                it->replayed = true;
                it->replayed_in_batch = seen != NULL;
            }
            json_decref(stored);
        }
        if (r->idem_error) {
            nunknown++;
            continue;                   /* seen before or not: unknown, so not stored (503) */
        }
        for (int k = 0; k < pl->nruns; k++) {
            rt_host_run_plan *it = &pl->runs[k];
            if (it->replayed) {
                if (it->replayed_in_batch) nbatch_replayed++;
                else nreplayed++;
                continue;
            }
            /* the record is complete (id, owner, key) and encoded by the request's thread */
            if (it->idem_key) json_object_set_new(meta, it->idem_key, json_string(it->run_id));
            w[nw++] = (rt_store_write){ .run_id = it->run_id, .run_text = it->text, .run_len = it->len,
                                        .new_run = true, .run_status = "queued", .run_user = r->user };
        }
    }
    char err[512] = "";
    bool ok = nw == 0 || rt_store_commit_group(sv->st, w, nw, json_object_size(meta) ? meta : NULL, hooks_only, err,
                                               sizeof err);
    free(w);
    json_decref(meta);
    /* refused: nothing of the batch is stored (one transaction); a replay
    ** of a key first seen in this batch names a run that does not exist */
    unsigned refused = rt_store_unwritable(err) ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR;
    char *why = ok ? NULL : rt_xprintf("not accepted: %s; nothing was stored, send it again%s", err,
                                       refused == MHD_HTTP_SERVICE_UNAVAILABLE ? " later (Retry-After)" : "");
    if (!ok) rt_log_emit(NULL, "error", NULL, "%zu accepts refused (answered %u): %s", nw + nbatch_replayed, refused, err);
    if (ok && nw) store_worked(sv);
    pthread_mutex_lock(&sv->mlock);
    if (nw) sv->batches++;
    if (ok) sv->accepted += (long long)nw;
    else sv->rejected_commits += (long long)(nw + nbatch_replayed);
    sv->rejected_commits += (long long)nunknown;
    sv->replayed += (long long)(nreplayed + (ok ? nbatch_replayed : 0));
    pthread_mutex_unlock(&sv->mlock);

    for (request *r = batch, *next; r; r = next) {
        next = r->next;
        rt_host_accept *pl = &r->plan;
        int nruns = pl->nruns;
        /* what to queue once answered (the request may be freed then) */
        int nfresh = 0;
        char (*fresh)[RT_RUN_ID_LEN + 1] = rt_xcalloc((size_t)pl->nruns + 1, sizeof *fresh);
        bool prior = true;      /* every run is a replay of one stored before this batch */
        for (int k = 0; k < pl->nruns; k++) {
            prior &= pl->runs[k].replayed && !pl->runs[k].replayed_in_batch;
            if (ok && !r->idem_error && !pl->runs[k].replayed) memcpy(fresh[nfresh++], pl->runs[k].run_id, RT_RUN_ID_LEN + 1);
        }
        char *user = r->user ? rt_xstrdup(r->user) : NULL;
        bool stored = !r->idem_error && (ok || prior);
        r->replayed = rt_host_accept_replayed(pl);
        if (r->idem_error) {
            char *e = rt_xprintf("not accepted: the Idempotency-Key could not be looked up (%s); "
                                 "nothing was stored, send it again later (Retry-After)", r->idem_error);
            r->replayed = false;
            rt_serve_resume_with(r, MHD_HTTP_SERVICE_UNAVAILABLE, json_pack("{s:s}", "error", e));
            free(e);
        } else if (!stored) {
            r->replayed = false;
            rt_serve_resume_with(r, refused, json_pack("{s:s}", "error", why));
        } else if (r->hook && pl->nruns == 1) {
            memcpy(r->run_id, pl->runs[0].run_id, sizeof r->run_id);
            rt_serve_hook_wait(sv, r);           /* before the run can end */
        } else {
            /* the answer (its runs and skips) is written by the request's own thread */
            r->answer_plan = true;
            r->status = MHD_HTTP_ACCEPTED;
            r->ready = true;
            MHD_resume_connection(r->conn);
        }
        for (int k = 0; k < nfresh; k++) rt_serve_queue_push(sv, fresh[k], user, true);
        pthread_mutex_lock(&sv->alock);
        sv->accept_runs -= nruns;       /* queued now (--max-queued counts both) */
        pthread_mutex_unlock(&sv->alock);
        free(fresh);
        free(user);
    }
    free(why);
}

void *rt_serve_committer_main(void *arg)
{
    serve *sv = arg;
    for (;;) {
        pthread_mutex_lock(&sv->alock);
        while (!sv->accept_head && !sv->committer_stop) pthread_cond_wait(&sv->acond, &sv->alock);
        request *batch = sv->accept_head;
        sv->accept_head = sv->accept_tail = NULL;
        bool stop = sv->committer_stop;
        pthread_mutex_unlock(&sv->alock);
        if (batch) commit_batch(sv, batch);
        else if (stop) break;
    }
    return NULL;
}

/* ---- workers ------------------------------------------------------------ */

static size_t kind_index(const char *kind)
{
    for (size_t i = 0; kind && i < NKINDS - 1; i++)
        if (strcmp(rt_serve_step_kinds[i], kind) == 0) return i;
    return NKINDS - 1;
}

/* Step durations of one execution of a run (the engine reports each step
** as its record is committed: rt_run_state.on_step), added to the
** histograms once the execution ended. */
typedef struct step_observer {
    long long count[NKINDS][NBUCKETS + 1];
    double sum[NKINDS];
    long long total[NKINDS];
} step_observer;

static void observe_step(void *arg, const char *kind, int64_t started, int64_t ended)
{
    step_observer *o = arg;
    if (!started || ended < started) return;
    size_t k = kind_index(kind);
    double secs = (double)(ended - started) / 1000.0;
    size_t b = 0;
    while (b < NBUCKETS && secs > rt_serve_step_buckets[b]) b++;
    o->count[k][b]++;
    o->sum[k] += secs;
    o->total[k]++;
}

static void observed_steps(serve *sv, const step_observer *o)
{
    pthread_mutex_lock(&sv->mlock);
    for (size_t k = 0; k < NKINDS; k++) {
        for (size_t b = 0; b <= NBUCKETS; b++) sv->step_count[k][b] += o->count[k][b];
        sv->step_sum[k] += o->sum[k];
        sv->step_total[k] += o->total[k];
    }
    pthread_mutex_unlock(&sv->mlock);
}

/* A run a store failure stopped: it stays in hand and goes on after a
** backoff that doubles with each stop in a row (a full disk: the writes
** fail until space is given back; no restart is needed). Meanwhile no
** worker starts a run: each start that fails may have sent a request it
** could not record (sent again, with the same key, once writes work). */
static void park_after_store_failure(serve *sv, const char *id, const char *user, const char *why)
{
    pthread_mutex_lock(&sv->qlock);
    int stops = ++sv->store_streak;
    int64_t ms = STORE_BACKOFF_MS;
    for (int i = 1; i < stops && ms < STORE_BACKOFF_MAX_MS; i++) ms *= 2;
    if (ms > STORE_BACKOFF_MAX_MS) ms = STORE_BACKOFF_MAX_MS;
    sv->store_gate = rt_mono_ms() + ms;
    pthread_mutex_unlock(&sv->qlock);
    rt_log_emit(id, "warning", json_pack("{s:s, s:i, s:I}", "event", "store_retry", "stops", stops, "in_ms", (json_int_t)ms),
                "stopped by the state store (%s): runs go on in %lld ms", why ? why : "?", (long long)ms);
    pthread_mutex_lock(&sv->mlock);
    sv->store_stops++;
    pthread_mutex_unlock(&sv->mlock);
    wake_add(sv, id, user, rt_now_ms() + ms, false, true);
}

/* A write went through: runs start again at once, those a store failure
** stopped too (the main loop queues them at its next turn). */
static void store_worked(serve *sv)
{
    pthread_mutex_lock(&sv->qlock);
    if (sv->store_streak || sv->store_gate) {
        sv->store_streak = 0;
        sv->store_gate = 0;
        if (sv->nretries) {
            int64_t now = rt_now_ms();
            for (size_t i = 0; i < sv->nwakes; i++)
                if (sv->wakes[i].store_retry && sv->wakes[i].at > now) sv->wakes[i].at = now;
            for (size_t i = sv->nwakes / 2; i-- > 0;) wake_sift_down(sv, i);
        }
        pthread_cond_broadcast(&sv->qcond);
        notify_all(sv);
    }
    pthread_mutex_unlock(&sv->qlock);
}

/* Runs (or continues) the run id until it ends, suspends or is
** interrupted; the run leaves this process's hands unless it waits here
** (a durable wait, or a backoff after a store failure). */
static void execute(serve *sv, const char *id)
{
    json_t *rec = held_record(sv, id);
    if (!rec) {                         /* pruned meanwhile, or the store failed: the rt_serve_sweep sees it again */
        held_release(sv, id);
        return;
    }
    const char *status = json_string_value(json_object_get(rec, "status"));
    const char *version = json_string_value(json_object_get(rec, "version"));
    const rt_workflow *own = rt_host_run_workflow(rec);    /* the run's workflow, in a project */
    if (!status || rt_serve_finished_status(status) || !own || !version || strcmp(version, own->version) != 0) {
        json_decref(rec);
        held_release(sv, id);
        return;
    }
    /* the claim (rt_exec_run) raises the attempt of a run an earlier process started */
    const char *u = json_string_value(json_object_get(rec, "user"));
    char *user = u ? rt_xstrdup(u) : NULL;
    rt_run_state run;
    char why[700];
    rt_host_prep prep = rt_host_open_run(&run, &(rt_run_setup){ .wf = own, .store = sv->st, .record = rec,
                                                                .state_dir = sv->state_dir, .own_redaction = true },
                                         why, sizeof why);
    if (prep == RT_HOST_SKIP) {
        /* checked again as it starts: a user disabled, removed or disconnected
        ** since the accept gets nothing sent; the run ends skipped */
        char err[512];
        if (rt_host_end_run(sv->st, run.record, RT_ST_SKIPPED, why, err, sizeof err)) {
            rt_log_emit(id, "warning",
                        json_pack("{s:s, s:s, s:s}", "event", rt_status_name(RT_ST_SKIPPED), "workflow", own->name,
                                  "reason", why),
                        "run skipped: %s (nothing was sent)", why);
            pthread_mutex_lock(&sv->mlock);
            sv->finished[3]++;
            pthread_mutex_unlock(&sv->mlock);
            rt_serve_hooks_finish(sv, id, run.record);
        } else {
            rt_log_emit(id, "warning", NULL, "run not executed (%s) nor ended: %s", why, err);
        }
        held_release(sv, id);
        rt_run_free(&run);
        free(user);
        return;
    }
    run.sleep_in_process = false;       /* a waiting run holds no worker */
    run.lazy = true;                    /* its writes join its thread's groups */
    run.claim_lazily = true;            /* its accept is this process's: no claim of its own */
    step_observer *steps = rt_xcalloc(1, sizeof *steps);
    run.on_step = observe_step;
    run.on_step_arg = steps;
    rt_outcome out = rt_exec_run(&run);
    if (out == RT_RUN_SKIPPED) {        /* another live process owns it (it said which), or it ended */
        held_release(sv, id);
    } else if (out == RT_RUN_INTERRUPTED && run.store_failed) {
        /* not ended in the store: neither finished nor dropped */
        park_after_store_failure(sv, id, user, run.error);
    } else {
        observed_steps(sv, steps);
        pthread_mutex_lock(&sv->mlock);
        if (out == RT_RUN_SUCCEEDED) sv->finished[0]++;
        else if (out == RT_RUN_FAILED) sv->finished[1]++;
        else if (out == RT_RUN_INTERRUPTED) sv->finished[2]++;
        else sv->suspended++;
        pthread_mutex_unlock(&sv->mlock);
        store_worked(sv);               /* its final record is stored */
        if (out == RT_RUN_WAITING) {
            /* the final record holds wake_at already; a wait without one is due in a second */
            int64_t at = run.wake_at ? run.wake_at : rt_now_ms() + 1000;
            if (!run.wake_at) {
                json_object_set_new(run.record, "wake_at", json_integer(at));
                rt_store_write w = { .run_id = id, .run = run.record };
                char err[256];
                if (!rt_store_commit(sv->st, &w, err, sizeof err)) rt_log_emit(id, "error", NULL, "%s", err);
            }
            wake_add(sv, id, user, at, false, false);
        } else {
            if (out == RT_RUN_SUCCEEDED || out == RT_RUN_FAILED) rt_serve_hooks_finish(sv, id, run.record);
            held_release(sv, id);
        }
    }
    rt_run_free(&run);
    free(steps);
    free(user);
}

/* Wakes the threads' schedulers: a run was queued, a slot freed, the
** store's gate opened, or they are to stop. */
void rt_serve_workers_wake(serve *sv)
{
    pthread_mutex_lock(&sv->qlock);
    notify_all(sv);
    pthread_mutex_unlock(&sv->qlock);
}

/* One run, as a coroutine of a worker thread's scheduler. */
typedef struct run_job {
    serve *sv;
    user_queue *u;
    int *mine;                  /* its thread's count of runs executing */
    char id[RT_RUN_ID_LEN + 1];
} run_job;

static void run_co(void *arg)
{
    run_job *j = arg;
    serve *sv = j->sv;
    execute(sv, j->id);
    pthread_mutex_lock(&sv->mlock);
    sv->ended_total++;
    pthread_mutex_unlock(&sv->mlock);
    pthread_mutex_lock(&sv->qlock);
    sv->running--;
    j->u->running--;
    (*j->mine)--;
    bool others = sv->o.max_user_runs > 0 && sv->queued;   /* a user's slot freed: maybe another thread's turn */
    pthread_cond_broadcast(&sv->qcond);
    pthread_mutex_unlock(&sv->qlock);
    if (others) rt_serve_workers_wake(sv);
    free(j);
}

typedef struct worker {
    serve *sv;
    int me;                     /* its index in sv->scheds_co, sched_running, sched_promised */
} worker;

/* Starts queued runs on this thread's scheduler while it is under its
** share of --workers and the store's gate is open; false once serve stops. */
static bool worker_feed(rt_co_sched *s, void *arg)
{
    worker *wk = arg;
    serve *sv = wk->sv;
    pthread_mutex_lock(&sv->qlock);
    bool go = !sv->stop_workers;
    if (go && sv->store_gate - rt_mono_ms() <= 0) {
        char id[RT_RUN_ID_LEN + 1];
        user_queue *u;
        int *running = &sv->sched_running[wk->me];
        sv->sched_promised[wk->me] = 0;
        while (*running < sv->per_thread && sv->running < sv->o.workers && queue_pick(sv, id, &u)) {
            run_job *j = rt_xmalloc(sizeof *j);
            *j = (run_job){ .sv = sv, .u = u, .mine = running };
            memcpy(j->id, id, sizeof j->id);
            sv->running++;
            (*running)++;
            rt_co_spawn(s, run_co, j);
        }
    }
    pthread_mutex_unlock(&sv->qlock);
    return go;
}

void *rt_serve_worker_main(void *arg)
{
    serve *sv = arg;
    rt_co_sched *s = rt_co_sched_new(sv->st);
    pthread_mutex_lock(&sv->qlock);
    int me = 0;
    while (sv->scheds_co[me]) me++;
    sv->scheds_co[me] = s;
    pthread_mutex_unlock(&sv->qlock);
    worker wk = { .sv = sv, .me = me };
    rt_co_serve(s, worker_feed, &wk);
    pthread_mutex_lock(&sv->qlock);
    sv->scheds_co[me] = NULL;
    pthread_mutex_unlock(&sv->qlock);
    rt_co_sched_free(s);
    return NULL;
}

/* ---- the rt_serve_sweep: unfinished runs in LMDB that nobody has in hand ---------- */

typedef struct sweep_scan {
    serve *sv;
    json_t *ids;                /* ids not in hand, in scan order */
} sweep_scan;

static bool sweep_collect(const char *id, void *arg)
{
    sweep_scan *s = arg;
    pthread_mutex_lock(&s->sv->qlock);
    bool held = held_slot(&s->sv->held, id, false) != NULL;
    pthread_mutex_unlock(&s->sv->qlock);
    if (!held) json_array_append_new(s->ids, json_string(id));
    return true;
}

/* Takes in hand every unfinished run of this version (queued, running,
** interrupted, waiting) that this process does not hold and no other live
** process owns: at start-up, every one (their process died, or stopped);
** later, one a store failure or a crash left behind (a `resume` killed
** with -9, an execution whose record could not be read). The store is the
** source of truth: memory follows it. A run claimed by another process
** meanwhile is skipped at its claim (rt_exec_run). */
void rt_serve_sweep(serve *sv, bool startup)
{
    static const rt_status unfinished[] = { RT_ST_RUNNING, RT_ST_INTERRUPTED, RT_ST_WAITING, RT_ST_QUEUED };
    sweep_scan s = { .sv = sv, .ids = json_array() };
    for (size_t i = 0; i < sizeof unfinished / sizeof unfinished[0]; i++) {
        const char *name = rt_status_name(unfinished[i]);
        int rc = rt_store_scan_run_ids(sv->st, name, sweep_collect, &s);
        if (rc != 0) rt_log_emit(NULL, "error", NULL, "cannot list %s runs: error %d", name, rc);
    }
    int queued = 0, waiting = 0, other_total = 0;
    json_t *other_versions = json_object(), *owners = json_object(), *damaged = json_array();
    int elsewhere = 0;
    size_t i;
    json_t *v;
    json_array_foreach(s.ids, i, v) {
        const char *id = json_string_value(v);
        char err[512];
        json_t *rec = rt_store_read_run(sv->st, id, err, sizeof err);
        if (!rec && err[0]) {
            json_array_append(damaged, v);
            continue;
        }
        const char *name = json_string_value(json_object_get(rec, "workflow"));
        const char *version = json_string_value(json_object_get(rec, "version"));
        const char *status = json_string_value(json_object_get(rec, "status"));
        const char *user = json_string_value(json_object_get(rec, "user"));
        const rt_workflow *own = rt_host_workflow(name);
        if (!rec || !own || !status || rt_serve_finished_status(status)) {
            json_decref(rec);           /* not ours, or ended since the scan */
            continue;
        }
        if (!version || strcmp(version, own->version) != 0) {
            json_t *l = json_object_get(other_versions, version ? version : "?");
            if (!l) json_object_set_new(other_versions, version ? version : "?", l = json_array());
            json_array_append_new(l, json_string(id));
            other_total++;
        } else if (rt_owner_of(rec) == RT_OWNER_LIVE) {
            char who[96];
            rt_owner_name(rec, who, sizeof who);
            json_object_set_new(owners, who, json_integer(json_integer_value(json_object_get(owners, who)) + 1));
            elsewhere++;
        } else {
            json_int_t wake_at = json_integer_value(json_object_get(rec, "wake_at"));
            if (rt_status_parse(status) == RT_ST_WAITING && wake_at > rt_now_ms()) waiting += wake_add(sv, id, user, wake_at, true, false);
            else queued += rt_serve_queue_push(sv, id, user, true);
        }
        json_decref(rec);
    }
    json_decref(s.ids);
    rt_buf who = { 0 };
    rt_buf_append(&who, "", 0);
    const char *k;
    json_object_foreach(owners, k, v)
        rt_buf_printf(&who, "%s%s: %lld", who.len ? ", " : "", k, (long long)json_integer_value(v));
    if (startup) {
        if (queued || waiting)
            rt_log_emit(NULL, "info", json_pack("{s:s, s:i, s:i}", "event", "recovered", "queued", queued, "waiting", waiting),
                        "%d unfinished runs queued, %d waiting", queued, waiting);
        /* names them, as resume does */
        other_total = rt_cli_report_other_versions(sv->wf, other_versions, "unfinished");
        rt_cli_report_damaged_runs(damaged, "not resumed");
        if (elsewhere)
            rt_log_emit(NULL, "info", json_pack("{s:s, s:i, s:O}", "event", "owned_elsewhere", "runs", elsewhere, "owners", owners),
                        "%d runs are owned by another live process (%s); left to it", elsewhere, who.data);
    } else if (queued || waiting) {
        rt_log_emit(NULL, "info", json_pack("{s:s, s:i, s:i}", "event", "swept", "queued", queued, "waiting", waiting),
                    "rt_serve_sweep: %d unfinished run%s that no live process owns taken in hand (%d queued, %d waiting)",
                    queued + waiting, queued + waiting == 1 ? "" : "s", queued, waiting);
    }
    rt_buf_free(&who);
    json_decref(other_versions);
    json_decref(owners);
    json_decref(damaged);
    pthread_mutex_lock(&sv->mlock);
    sv->other_version = other_total;
    if (!startup) sv->swept += queued + waiting;
    pthread_mutex_unlock(&sv->mlock);
}
