/*
** rt_fanout.c — [engine] fanout steps: items run one after the other, or
** as coroutines on one scheduler (rt_co.h) with `concurrency` alive at a
** time; a failed item fails the fanout, a finished one replays; a fanout
** whose record keeps only its length is rebuilt from its items' records.
*/
#include "rt_fanout.h"

#include "rt_co.h"
#include "rt_log.h"
#include "rt_signal.h"
#include "rt_status.h"
#include "rt_type.h"

typedef struct fanout_job {
    rt_ctx *parent;
    const rt_step_desc *d;
    json_t *list;
    rt_item_fn item;
    json_t *outputs;            /* owned: one slot per item, or NULL when the
                                   workflow never reads them (fanout_keeps_outputs) */
    pthread_mutex_t lock;
    size_t next;                /* the next item to start */
    size_t workers;             /* items at once (concurrency) */
    size_t running;             /* items running (holding a place of `workers`) */
    size_t owing;               /* items that ended, waiting for their records to be durable */
    struct fanout_item *spare;  /* owned: items' blocks to reuse, last freed first */
    rt_co *driver;              /* the coroutine starting them */
    long failed_item;           /* the first item that failed, or -1 */
    char *failure;              /* owned: its message */
    size_t done;                /* items that returned in this attempt */
    int64_t deadline;           /* the step's `timeout` (rt_mono_ms), or 0 */
    bool timed_out;             /* an item was left unstarted at the deadline */
} fanout_job;

/* Runs item i in a context of its own; debt: what its step records owe
** the disk, for an item on a scheduler (NULL: each is durable when
** committed). */
static void fanout_run_item(fanout_job *job, size_t i, rt_co_debt *debt)
{
    rt_ctx *p = job->parent;
    /* "PARENT_PREFIX" "NAME" "[" i "]." on the stack when it fits */
    char small[256], digits[24];
    int nd = 0;
    size_t k = i;
    do digits[nd++] = (char)('0' + k % 10); while ((k /= 10));
    size_t pl = strlen(p->prefix), nl = strlen(job->d->name), len = pl + nl + (size_t)nd + 3;
    char *prefix = len < sizeof small ? small : rt_xmalloc(len + 1), *w = prefix;
    memcpy(w, p->prefix, pl), w += pl;
    memcpy(w, job->d->name, nl), w += nl;
    *w++ = '[';
    while (nd) *w++ = digits[--nd];
    memcpy(w, "].", 3);
    /* the item's context on this stack (a coroutine's, for concurrent
    ** items) when it fits: no allocation for it */
    _Alignas(max_align_t) char storage[1024];
    rt_ctx *ic = rt_ctx_new_item(p->run, p, prefix, job->d, storage, sizeof storage);
    if (prefix != small) free(prefix);
    ic->debt = debt;
    ic->value = json_array_get(job->list, i);
    job->item(ic, ic->value);
    rt_ctx_check(ic);
    pthread_mutex_lock(&job->lock);
    if (ic->returned && !ic->failure) {
        job->done++;
        if (job->outputs) json_array_set(job->outputs, i, ic->ret ? ic->ret : json_null());
    } else if (ic->failure && (job->failed_item < 0 || (long)i < job->failed_item)) {
        free(job->failure);
        job->failure = rt_xprintf("item %zu: %s", i, ic->failure);
        job->failed_item = (long)i;
    }
    pthread_mutex_unlock(&job->lock);
    rt_ctx_free(ic);
}

/* Whether the fanout should start item i: one is left, none failed, the
** run goes on. Called with job->lock held. */
static bool fanout_may_start(fanout_job *job, size_t i)
{
    if (i >= json_array_size(job->list) || job->failed_item >= 0 || job->parent->run->stop || rt_signal_interrupted())
        return false;
    if (job->deadline && rt_mono_ms() >= job->deadline) {
        job->timed_out = true;      /* the items in flight finish; no new one starts */
        return false;
    }
    return true;
}

/* Takes items one after the other until none is left, one fails, or the
** run stops (concurrency 1, and test mode: mocks answer in a stable order). */
static void fanout_worker(fanout_job *job)
{
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t i = job->next++;
        bool go = fanout_may_start(job, i);
        pthread_mutex_unlock(&job->lock);
        if (!go) break;
        fanout_run_item(job, i, NULL);
    }
}

/* ---- concurrent items: coroutines on one scheduler ------------------------
** The fanout's driver, itself a coroutine, keeps up to `concurrency` items
** running and waits for one to end before starting the next. An item's
** step records join the scheduler's groups without waiting (rt_ctx.debt):
** its next step waits for them before it starts. An item whose last
** records are still being written gives its place to the next item and
** its coroutine ends: the scheduler waits for them (rt_co_barrier_then),
** so that an owing item holds no stack, and the stacks in use, the hottest
** ones taken first, stay about `concurrency`. Items running and items owing are at
** most 2 x `concurrency` together, so that a kill -9 redoes at most that
** many items' requests, and the fanout ends only once none owes: every
** item's records are durable before the fanout's own. A nested fanout's
** driver is the enclosing item's coroutine, on the same scheduler. */
typedef struct fanout_item {
    fanout_job *job;
    size_t i;
    rt_co_debt debt;            /* outlives the item's coroutine: its records' wait */
    struct fanout_item *spare;  /* in job->spare */
} fanout_item;

static fanout_item *item_take(fanout_job *job, size_t i)
{
    fanout_item *it = job->spare;
    if (it) job->spare = it->spare;
    else it = rt_xmalloc(sizeof *it);
    it->job = job;
    it->i = i;
    it->debt.owed = 0;
    it->debt.failed = false;
    it->debt.err[0] = 0;
    return it;
}

static void item_give_back(fanout_item *it)
{
    it->spare = it->job->spare;
    it->job->spare = it;
}

/* The end of an owing item: its records are durable (ok) or failed
** (err). On the scheduler's thread, between coroutines. */
static void item_settled(void *arg, bool ok, const char *err)
{
    fanout_item *it = arg;
    fanout_job *job = it->job;
    if (!ok) rt_run_store_failed(job->parent->run, err);
    job->owing--;
    item_give_back(it);
    rt_co_wake(job->driver);
}

static void fanout_item_co(void *arg)
{
    fanout_item *it = arg;
    fanout_job *job = it->job;
    fanout_run_item(job, it->i, &it->debt);
    job->running--;
    if (it->debt.owed) {
        if (rt_co_barrier_then(&it->debt, item_settled, it)) {
            job->owing++;
            rt_co_wake(job->driver);    /* the next item may start */
            return;
        }
        rt_run_store_failed(job->parent->run, it->debt.err);
    }
    item_give_back(it);
    rt_co_wake(job->driver);
}

static void fanout_drive(fanout_job *job)
{
    job->driver = rt_co_current();
    rt_co_sched *s = rt_co_sched_of(job->driver);
    for (;;) {
        while (job->running < job->workers && job->running + job->owing < 2 * job->workers) {
            pthread_mutex_lock(&job->lock);
            bool go = fanout_may_start(job, job->next);
            pthread_mutex_unlock(&job->lock);
            if (!go) break;
            fanout_item *it = item_take(job, job->next++);
            job->running++;
            rt_co_spawn(s, fanout_item_co, it);
        }
        if (job->running == 0 && job->owing == 0) break;
        rt_co_wait();
    }
}

static void fanout_drive_co(void *arg)
{
    fanout_drive(arg);
}

static rt_attempt_outcome fanout_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                      rt_attempt *out)
{
    (void)path;
    (void)n;
    fanout_job *job = arg;
    size_t count = json_array_size(job->list);
    job->next = 0;
    job->running = 0;
    job->owing = 0;
    job->failed_item = -1;
    job->done = 0;
    job->deadline = d->timeout_ms > 0 ? rt_mono_ms() + d->timeout_ms : 0;
    job->timed_out = false;
    if (job->outputs) {
        json_array_clear(job->outputs);
        for (size_t i = 0; i < count; i++) json_array_append(job->outputs, json_null());
    }

    int workers = d->concurrency > 0 ? d->concurrency : 8;
    if ((size_t)workers > count) workers = (int)count;
    if (c->run->test_mode) workers = 1;     /* mocks answer in a stable order */
    job->workers = (size_t)(workers > 0 ? workers : 1);
    if (workers <= 1) {
        fanout_worker(job);
    } else if (rt_co_current()) {
        fanout_drive(job);                  /* nested: on the enclosing item's scheduler */
    } else {
        rt_co_sched *s = rt_co_sched_new(c->run->store);
        rt_co_spawn(s, fanout_drive_co, job);
        rt_co_run(s);
        if (rt_co_sched_error(s)) rt_run_store_failed(c->run, rt_co_sched_error(s));
        rt_co_sched_free(s);
    }
    if (c->run->stop || rt_signal_interrupted()) return RT_ATT_STOP;
    /* `retry N` on a fanout runs it again: the items that finished replay
    ** from their checkpoints, the failed one runs again, whatever its error
    ** (the retry was asked for the fanout as a whole) */
    if (job->failed_item >= 0) {
        out->error = job->failure;
        job->failure = NULL;
        return d->retries > 0 ? RT_ATT_RETRY : RT_ATT_FAIL;
    }
    if (job->timed_out) {           /* retryable, as any timeout: the next attempt goes on from here */
        out->error = rt_xprintf("timed out after %ld ms with %zu of %zu items done", d->timeout_ms, job->done, count);
        return RT_ATT_RETRY;
    }
    /* the record keeps the length only: the returns are the items' to
    ** replay (fanout_rebuild), not a second copy of the list as one value */
    out->output = job->outputs ? json_incref(job->outputs) : rt_step_null_list(count);
    out->count_only = true;
    return RT_ATT_OK;
}

/* Whether a fanout keeps its items' return values. Not when the compiler
** proved the workflow never reads them: memory then does not grow with
** the items' outputs. Tests and Test Step read every step's output. */
static bool fanout_keeps_outputs(const rt_ctx *c, const rt_step_desc *d)
{
    return !d->output_unread || c->run->test_mode || c->run->only_step;
}

/* A fanout that finished in an earlier process, whose output the workflow
** reads: its record keeps only the length, so the list is rebuilt by
** running the items again, every step of which replays its record (no
** request is sent). True when it handled the step: *r is the result, or
** NULL when the run must stop. */
static bool fanout_rebuild(rt_ctx *c, const rt_step_desc *d, fanout_job *job, rt_result **r)
{
    *r = NULL;
    if (!job->outputs) return false;    /* nobody reads it: replay() makes the list of nulls */
    char *path = rt_ctx_step_path(c, d->name);
    json_t *rec = rt_run_committed(c->run, path);
    const char *status = json_string_value(json_object_get(rec, "status"));
    bool rebuild = rt_status_parse(status) == RT_ST_SUCCEEDED && !json_object_get(rec, "output") &&
                   json_is_integer(json_object_get(rec, "count"));
    json_decref(rec);
    if (!rebuild) {
        free(path);
        return !rt_ctx_check(c);           /* a store error: stop */
    }
    rt_attempt at = { .retry_after_ms = -1 };
    rt_attempt_outcome o = fanout_attempt(c, d, path, job, 1, &at);
    if (o == RT_ATT_OK) {
        rt_log_emit(c->run->id, "info", json_pack("{s:s, s:s, s:s}", "event", "step", "step", path, "status",
                                                  rt_status_name(RT_ST_REPLAYED)),
                    "step '%s' replayed from its items' checkpoints", path);
        *r = rt_ctx_set_result(c, d, at.output, true, NULL);
        json_decref(at.output);
    } else if (o == RT_ATT_FAIL || o == RT_ATT_RETRY) {
        char *msg = rt_xprintf("step '%s': replaying its items: %s", path, at.error ? at.error : "failed");
        rt_ctx_fail(c, path, msg);
        free(msg);
    }
    free(at.error);
    free(path);
    return true;
}

rt_result *rt_fanout_step(rt_ctx *c, const rt_step_desc *d, json_t *list, rt_item_fn item)
{
    if (!rt_ctx_check(c)) return NULL;
    if (!json_is_array(list) && !json_is_null(list)) {
        char desc[96];
        rt_value_describe(list, desc, sizeof desc);
        rt_ctx_raise(c, d->line, "fanout '%s' needs a list, got %s", d->name, desc);
        rt_ctx_check(c);
        return NULL;
    }
    fanout_job job = { .parent = c, .d = d, .list = json_is_array(list) ? list : json_array(), .item = item,
                       .outputs = fanout_keeps_outputs(c, d) ? json_array() : NULL, .failed_item = -1 };
    if (!json_is_array(list)) rt_pool_keep(&c->pool, job.list);
    pthread_mutex_init(&job.lock, NULL);
    rt_result *r;
    if (!fanout_rebuild(c, d, &job, &r)) {
        json_t *input = json_pack("{s:I}", "items", (json_int_t)json_array_size(job.list));
        r = rt_step_run(c, d, "fanout", input, fanout_attempt, &job);
        json_decref(input);
    }
    json_decref(job.outputs);
    while (job.spare) {
        fanout_item *next = job.spare->spare;
        free(job.spare);
        job.spare = next;
    }
    free(job.failure);
    pthread_mutex_destroy(&job.lock);
    return r;
}
