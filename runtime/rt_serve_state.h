/*
** rt_serve_state.h — [drivers] the state of `JOB serve` that its files
** share: options, the fair queue, the runs in hand, the accepts waiting
** for the committer, the schedule, the webhooks waiting for their run,
** the metrics. One `serve` per process; each field says which lock
** guards it. Internal to rt_serve*.c.
*/
#ifndef RT_SERVE_STATE_H
#define RT_SERVE_STATE_H

#include <microhttpd.h>
#include <pthread.h>

#include "flowrt.h"
#include "rt_co.h"
#include "rt_cron.h"
#include "rt_host_accept.h"
#include "rt_store.h"
#include "rt_util.h"

enum { SERVE_EXIT_OK = 0, SERVE_EXIT_USAGE = 2 };

/* ---- options ------------------------------------------------------------ */

typedef struct serve_opts {
    const char *listen;         /* HOST:PORT; port 0 picks a free one */
    const char *state;
    const char *token_file;
    const char *log_file;       /* stderr goes there; SIGHUP reopens it */
    const char *port_file;      /* written with the bound port once listening */
    const char *hook_secret;    /* the user secret that signs webhook bodies (HMAC-SHA256), or NULL */
    int workers;                /* runs executing at once (coroutines) */
    int threads;                /* threads they run on (0: one per CPU, at most workers) */
    long max_queued;            /* accepts beyond this many queued runs get 429; 0 = no bound */
    int max_user_runs;          /* runs of one user executing at once; 0 = no limit */
    long max_body;              /* request bodies larger get 413 */
    int64_t hook_timeout_ms;    /* a webhook answers 202 with the run id after this */
    int64_t drain_timeout_ms;   /* SIGTERM: how long in-flight steps may take */
    bool json;                  /* --json log lines */
    bool no_auth;               /* --no-auth: no bearer token (local development) */
    bool paused;                /* --paused: accept and queue, start no runs */
} serve_opts;

/* ---- server state ------------------------------------------------------- */

typedef struct request request;

typedef struct queued_run {
    struct queued_run *next;
    int64_t at;                 /* rt_mono_ms when it was queued */
    char id[RT_RUN_ID_LEN + 1];
} queued_run;

/* One user's queued runs (FIFO); users with queued runs form a ring that
** workers walk round-robin, so a user with 1,000 queued runs and a user
** with one alternate instead of queueing behind each other. */
typedef struct user_queue {
    char *user;                 /* owned; "" for runs without a user */
    queued_run *head, *tail;
    size_t queued;
    int running;                /* this user's runs executing now */
    bool in_ring;
    struct user_queue *ring_next;
    struct user_queue *hash_next;
} user_queue;

typedef struct wake_entry {
    int64_t at;                 /* ms since the epoch */
    char id[RT_RUN_ID_LEN + 1];
    char *user;                 /* owned, or NULL */
    bool store_retry;           /* a backoff after a store failure, not a wait of the run */
} wake_entry;

/* A run in hand: queued, in the heap of waiting runs, or executing. */
typedef struct held_run {
    char id[RT_RUN_ID_LEN + 1];
    unsigned char state;        /* HELD_FREE, HELD_USED, HELD_GONE (a tombstone) */
    bool started;               /* its first execution took text */
    char *text;                 /* owned, or NULL: the run record of a webhook accepted in
                                   memory (rt_serve_queue_push_new), written with its claim */
    size_t len;
} held_run;
enum { HELD_FREE, HELD_USED, HELD_GONE };

/* Open addressing over the run ids, under qlock. */
typedef struct held_set {
    held_run *slots;
    size_t cap;                 /* a power of two */
    size_t used;                /* HELD_USED + HELD_GONE slots */
    size_t live;                /* HELD_USED slots */
} held_set;

#define USER_BUCKETS 1024
#define SWEEP_MS 5000           /* how often LMDB is swept for unfinished runs not in hand */
#define STORE_BACKOFF_MS 250    /* a run a store failure stopped goes on after 250 ms, 500 ms, ... */
#define STORE_BACKOFF_MAX_MS 30000
#define RETRY_AFTER_S "5"       /* a 503's Retry-After */
/* Metrics: step durations by kind in buckets (seconds), answers by code. */
#define NBUCKETS 13
#define NKINDS 5
#define NCODES 15
extern const double rt_serve_step_buckets[NBUCKETS];
extern const char *const rt_serve_step_kinds[NKINDS];
extern const unsigned rt_serve_http_codes[NCODES];     /* 0-terminated: the last counts the others */

/* A workflow's `trigger schedule`. */
typedef struct serve_sched {
    const rt_workflow *wf;
    rt_cron cron;
    int64_t next_fire;          /* seconds; -1 when none */
    bool next_catch_up;         /* next_fire is a missed fire (start-up catch-up) */
    int fire_failures;          /* fires not stored in a row (a store failure) */
    int64_t fire_retry_at;      /* rt_now_ms before which a failed fire is not tried again */
} serve_sched;

typedef struct serve {
    const rt_workflow *wf;      /* the project's face: its name names the state and the logs */
    serve_opts o;
    rt_store *st;
    char state_dir[4096];
    char *token;                /* owned; NULL with --no-auth or none configured on loopback */
    struct MHD_Daemon *mhd;

    /* the fair queue and the waiting runs */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;       /* a run queued, a user's slot freed, stopping, a run ended */
    user_queue *users[USER_BUCKETS];
    user_queue *ring_head, *ring_tail;
    size_t ring_len;
    size_t queued;              /* runs in the queue */
    int running;                /* runs executing */
    bool stop_workers;
    held_set held;              /* every run queued, waiting in the heap or executing here */
    int store_streak;           /* executions a store failure stopped since one ended well */
    int64_t store_gate;         /* rt_mono_ms before which workers start no run (a store
                                   failure's backoff: a full disk is not hammered) */
    wake_entry *wakes;          /* a min-heap by `at` */
    size_t nwakes, capwakes;
    size_t nretries;            /* wakes that are store_retry */
    pthread_t *workers;         /* threads, each a scheduler of run coroutines */
    int nworkers;
    rt_co_sched **scheds_co;    /* theirs, under qlock (NULL until a thread made its own) */
    int *sched_running;         /* runs each thread executes, under qlock */
    int *sched_promised;        /* runs queued since each thread last took some, meant for it */
    int per_thread;             /* runs one thread executes at once */

    /* accepts waiting for the committer */
    pthread_mutex_t alock;
    pthread_cond_t acond;
    request *accept_head, *accept_tail;
    long accept_runs;           /* runs of the accepts waiting for the committer (--max-queued) */
    bool draining;              /* no new accepts */
    bool committer_stop;
    pthread_t committer;
    bool committer_started;

    /* trigger schedule: one per workflow that has one (main thread only) */
    serve_sched *scheds;
    int nscheds;

    int64_t next_sweep;         /* rt_mono_ms of the next sweep */

    /* webhook requests waiting for their run to end */
    pthread_mutex_t hlock;
    request *hooks;

    /* metrics */
    pthread_mutex_t mlock;
    long long accepted, replayed, batches, rejected_commits;
    long long store_stops;      /* executions a store failure stopped (the run goes on later) */
    long long swept;            /* runs the sweep queued after start-up */
    long long finished[4];      /* succeeded, failed, interrupted, skipped */
    long long suspended;        /* runs that went to a durable wait */
    long long codes[NCODES];
    long long step_count[NKINDS][NBUCKETS + 1];
    double step_sum[NKINDS];
    long long step_total[NKINDS];
    long long fires;            /* schedule fires (each: one run per enabled user) */
    long long throttled;        /* accepts answered 429: the queue held --max-queued runs */
    long long ended_total;      /* executions ended (finished, suspended, skipped): the drain rate */
    long long rate_mark;        /* ended_total at rate_at */
    int64_t rate_at;            /* rt_mono_ms of the last rate sample (main thread) */
    double drain_rate;          /* runs ended per second, recent (for Retry-After) */
    int in_flight;              /* HTTP requests being answered */
    int other_version;          /* unfinished runs left for another binary */
} serve;

/* One HTTP request (MHD's con_cls). An accept is suspended while the
** committer (and, for a webhook, the run) works; whoever resumes it fills
** status/answer first and never touches it afterwards: MHD may free it as
** soon as it is resumed. */
struct request {
    serve *sv;
    struct MHD_Connection *conn;
    rt_buf body;
    bool too_big;
    bool answered;              /* a response was queued */
    bool ready;                 /* status/answer are set: queue them when called again */
    unsigned status;
    char *answer;               /* owned JSON text */
    json_t *answer_headers;     /* owned or NULL: a webhook's headers from its run (`return
                                   status N headers {...}`), checked by the run */
    bool replayed;              /* Idempotency-Key seen before */
    int retry_after;            /* seconds for a 429's Retry-After */
    bool replayed_in_batch;     /* ... earlier in the same commit: stored only if it is */
    bool answer_plan;           /* ready: answer with the plan's runs (rt_host_accept_answer) */
    char *idem_error;           /* owned: why the Idempotency-Key could not be looked up, or NULL */
    bool check_signature;       /* no bearer token: a webhook signed with the user's secret */
    bool in_memory;             /* a webhook whose run was queued before anything was stored
                                   (rt_serve_queue_push_new): a 202 stores its record first */
    /* an accept */
    bool hook;
    rt_host_accept plan;        /* owned: the runs it starts, one per workflow (rt_host_accept.h) */
    char *user;                 /* owned, or NULL */
    char run_id[RT_RUN_ID_LEN + 1];     /* a webhook's run */
    int64_t deadline;           /* webhook: rt_mono_ms when it answers 202 */
    request *next;              /* in the committer queue, then in the hook list */
};

#endif
