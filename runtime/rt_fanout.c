/*
** rt_fanout.c — [engine] fanout steps: items run one after the other, or
** as coroutines on one scheduler (rt_co.h) with `concurrency` alive at a
** time; a failed item fails the fanout, a finished one replays; a fanout
** whose record keeps only its length is rebuilt from its items' records.
*/
#include "rt_fanout.h"

#include <unistd.h>

#include "rt_co.h"
#include "rt_log.h"
#include "rt_redact.h"
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

/* ---- concurrent items: coroutines on schedulers --------------------------
** The items run on one or more lanes: a lane is a scheduler (rt_co.h: its
** own thread, curl multi handle and committer) with a share of
** `concurrency`, and its driver, itself a coroutine, keeps up to that many
** items running, taking the next item of the fanout (job->next, under
** job->lock) whenever one of its own ends. An item runs wholly on one lane.
** Its step records join its scheduler's groups without waiting
** (rt_ctx.debt): its next step waits for them before it starts. An item
** whose last records are still being written gives its place to the next
** item and waits for them apart (`owing`). Items running and items owing
** are at most FANOUT_OWING_FACTOR x a lane's share together, so that a
** kill -9 redoes at most that many times `concurrency` items' requests;
** each lane ends only once none owes, and the fanout once every lane has
** ended: every item's records are durable before the fanout's own. A
** nested fanout is one lane: its driver is the enclosing item's coroutine,
** on the same scheduler.
**
** The factor is 4, not 2: a record is durable about a group commit and a
** half after its item ends (2.5 ms here, more when the committer waits for
** a CPU), and at 20,000 items/s that is 50 or more items owing; with room
** for only `concurrency` of them the driver stopped starting items
** (docs/runtime.md, "Throughput"). */
#define FANOUT_OWING_FACTOR 4
typedef struct fanout_lane {
    fanout_job *job;
    size_t workers;             /* its share of `concurrency` */
    size_t running;             /* its items running (holding a place of `workers`) */
    size_t owing;               /* its items that ended, waiting for their records to be durable */
    size_t spawned;             /* items it started */
    struct fanout_item_arg *args;   /* owned: `workers` entries, one per item alive */
    rt_co *driver;              /* the coroutine starting them */
    rt_redact_set *redact;      /* the run's set, for a lane on a thread of its own */
    char *store_error;          /* owned: its scheduler's first failed deferred write */
    pthread_t thread;
} fanout_lane;

typedef struct fanout_item_arg {
    fanout_lane *lane;
    size_t i;
} fanout_item_arg;

/* arg is the item's entry of lane->args, read at once: by the time its
** entry is given to another item (`workers` items later) the coroutine has
** started, since items start in the order they were spawned, all of a
** turn's before any can finish. */
static void fanout_item_co(void *arg)
{
    fanout_item_arg a = *(fanout_item_arg *)arg;
    fanout_lane *lane = a.lane;
    rt_co_debt debt = { 0 };            /* outlives its writes: the wait below is for them */
    fanout_run_item(lane->job, a.i, &debt);
    lane->running--;
    if (debt.owed) {
        lane->owing++;
        rt_co_wake(lane->driver);       /* the next item may start */
        char err[256];
        if (!rt_co_barrier(&debt, err, sizeof err)) rt_run_store_failed(lane->job->parent->run, err);
        lane->owing--;
    }
    rt_co_wake(lane->driver);
}

static void fanout_drive(fanout_lane *lane)
{
    fanout_job *job = lane->job;
    lane->driver = rt_co_current();
    rt_co_sched *s = rt_co_sched_of(lane->driver);
    for (;;) {
        while (lane->running < lane->workers && lane->running + lane->owing < FANOUT_OWING_FACTOR * lane->workers) {
            pthread_mutex_lock(&job->lock);
            size_t i = job->next;
            bool go = fanout_may_start(job, i);
            if (go) job->next++;
            pthread_mutex_unlock(&job->lock);
            if (!go) break;
            fanout_item_arg *a = &lane->args[lane->spawned++ % lane->workers];
            *a = (fanout_item_arg){ lane, i };
            lane->running++;
            rt_co_spawn(s, fanout_item_co, a);
        }
        if (lane->running == 0 && lane->owing == 0) break;
        rt_co_wait();
    }
}

static void fanout_drive_co(void *arg)
{
    fanout_drive(arg);
}

/* Runs a lane on a scheduler of the calling thread, until its items are
** done and their records durable. */
static void lane_run(fanout_lane *lane)
{
    rt_co_sched *s = rt_co_sched_new(lane->job->parent->run->store);
    rt_co_spawn(s, fanout_drive_co, lane);
    rt_co_run(s);
    if (rt_co_sched_error(s)) lane->store_error = rt_xstrdup(rt_co_sched_error(s));
    rt_co_sched_free(s);
}

static void *lane_main(void *arg)
{
    fanout_lane *lane = arg;
    rt_redact_use(lane->redact);        /* its items' messages: the run's set */
    lane_run(lane);
    return NULL;
}

/* How many lanes a top-level fanout of `workers` items at once runs on:
** FLOW_FANOUT_THREADS when set (1: every item on the calling thread), else
** one per two CPUs, at most FANOUT_LANES_MAX, each with at least
** FANOUT_LANE_MIN places. A lane is a thread for the items and one for its
** committer; on 2 CPUs shared with the API server, two lanes took 15 %
** more CPU per item and were slower unless other work also wanted the
** CPUs (docs/runtime.md, "Throughput"). A lazy run (serve's) has one debt
** for its writes, numbered by one scheduler: one lane. */
#define FANOUT_LANES_MAX 4
#define FANOUT_LANE_MIN 8
static size_t fanout_lanes(const rt_ctx *c, size_t workers)
{
    if (c->run->lazy) return 1;
    long n;
    const char *env = getenv("FLOW_FANOUT_THREADS");
    char *end;
    if (env && *env && (n = strtol(env, &end, 10)) >= 1 && n <= 64 && *end == 0) {
        /* as asked */
    } else {
        n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
        if (n > FANOUT_LANES_MAX) n = FANOUT_LANES_MAX;
        if (n > (long)(workers / FANOUT_LANE_MIN)) n = (long)(workers / FANOUT_LANE_MIN);
    }
    if (n > (long)workers) n = (long)workers;
    return n > 1 ? (size_t)n : 1;
}

/* Runs the items on lanes: the first on the calling thread, the others on
** threads of their own; returns once every lane has ended. */
static void fanout_run_lanes(rt_ctx *c, fanout_job *job)
{
    size_t nlanes = fanout_lanes(c, job->workers);
    fanout_lane *lanes = rt_xcalloc(nlanes, sizeof *lanes);
    rt_redact_set *redact = rt_redact_current();
    for (size_t k = 0; k < nlanes; k++) {
        size_t share = job->workers / nlanes + (k < job->workers % nlanes);
        lanes[k] = (fanout_lane){ .job = job, .workers = share, .redact = redact,
                                  .args = rt_xmalloc(sizeof(fanout_item_arg) * share) };
    }
    if (nlanes > 1) rt_ctx_settle(c);   /* items on other threads only read c's results */
    size_t started = 1;
    for (; started < nlanes; started++)
        if (pthread_create(&lanes[started].thread, NULL, lane_main, &lanes[started]) != 0) break;
    if (started < nlanes) {             /* no thread: this one takes the places of the lanes without one */
        for (size_t k = started; k < nlanes; k++) lanes[0].workers += lanes[k].workers;
        lanes[0].args = rt_xrealloc(lanes[0].args, sizeof(fanout_item_arg) * lanes[0].workers);
    }
    lane_run(&lanes[0]);
    for (size_t k = 1; k < started; k++) pthread_join(lanes[k].thread, NULL);
    for (size_t k = 0; k < nlanes; k++) {
        if (lanes[k].store_error) rt_run_store_failed(c->run, lanes[k].store_error);
        free(lanes[k].store_error);
        free(lanes[k].args);
    }
    free(lanes);
}

static rt_attempt_outcome fanout_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                      rt_attempt *out)
{
    (void)path;
    (void)n;
    fanout_job *job = arg;
    size_t count = json_array_size(job->list);
    job->next = 0;
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
        fanout_lane lane = { .job = job, .workers = job->workers,
                             .args = rt_xmalloc(sizeof(fanout_item_arg) * job->workers) };
        fanout_drive(&lane);                /* nested: on the enclosing item's scheduler */
        free(lane.args);
    } else {
        fanout_run_lanes(c, job);
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
    free(job.failure);
    pthread_mutex_destroy(&job.lock);
    return r;
}
