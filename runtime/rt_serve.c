/*
** rt_serve.c — `JOB serve`: the HTTP front (libmicrohttpd), group-committed
** accepts, the durable fair queue and the worker threads that run it.
**
** Threads: MHD's pool parses requests and suspends each accept; one
** committer thread turns the accepts waiting at a moment into queued run
** records in ONE LMDB transaction (one fsync for all of them), then
** resumes their connections with the answer; N workers take runs from an
** in-memory queue, round-robin across users, and run them with the engine.
** LMDB is the source of truth: the in-memory queue, the heap of waiting
** runs and the runs executing (the runs in hand, `held`) are rebuilt from
** it at start-up and reconciled with it by a periodic sweep, which queues
** every unfinished run of this version that no live process owns and this
** one does not hold (rt_owner.h): a run a failed write stopped, or one a
** killed `resume` left. A run a store failure stops stays held and goes on
** after a backoff. The main thread watches signals, wakes waiting runs when
** they are due, sweeps, fires the schedule and answers webhook requests
** whose run outlives --hook-timeout.
*/
#include "rt_serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rt_cli.h"
#include "rt_cron.h"
#include "rt_exec.h"
#include "rt_crypto.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_users.h"
#include "rt_util.h"
#include "rt_value.h"

enum { SERVE_EXIT_OK = 0, SERVE_EXIT_USAGE = 2 };

/* ---- options ------------------------------------------------------------ */

typedef struct serve_opts {
    const char *listen;         /* HOST:PORT; port 0 picks a free one */
    const char *state;
    const char *token_file;
    const char *log_file;       /* stderr goes there; SIGHUP reopens it */
    const char *port_file;      /* written with the bound port once listening */
    const char *hook_secret;    /* the user secret that signs webhook bodies (HMAC-SHA256), or NULL */
    int workers;                /* runs executing at once */
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
static const double step_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define NBUCKETS (sizeof step_buckets / sizeof step_buckets[0])
static const char *const step_kinds[] = { "request", "function", "fanout", "wait", "other" };
#define NKINDS (sizeof step_kinds / sizeof step_kinds[0])
static const unsigned http_codes[] = { 200, 202, 400, 401, 403, 404, 405, 413, 422, 500, 503, 0 };
#define NCODES (sizeof http_codes / sizeof http_codes[0])

typedef struct serve {
    const rt_workflow *wf;
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
    pthread_t *workers;
    int nworkers;

    /* accepts waiting for the committer */
    pthread_mutex_t alock;
    pthread_cond_t acond;
    request *accept_head, *accept_tail;
    bool draining;              /* no new accepts */
    bool committer_stop;
    pthread_t committer;
    bool committer_started;

    /* trigger schedule: the next fire time (seconds), -1 when none */
    bool scheduled;
    rt_cron cron;
    int64_t next_fire;
    bool next_catch_up;         /* next_fire is a missed fire (start-up catch-up) */
    int fire_failures;          /* fires not stored in a row (a store failure) */
    int64_t fire_retry_at;      /* rt_now_ms before which a failed fire is not tried again */

    int64_t next_sweep;         /* rt_mono_ms of the next sweep */

    /* webhook requests waiting for their run to end */
    pthread_mutex_t hlock;
    request *hooks;

    /* metrics */
    pthread_mutex_t mlock;
    long long accepted, replayed, batches, rejected_commits;
    long long store_stops;      /* executions a store failure stopped (the run goes on later) */
    long long swept;            /* runs the sweep queued after start-up */
    long long finished[3];      /* succeeded, failed, interrupted */
    long long suspended;        /* runs that went to a durable wait */
    long long codes[NCODES];
    long long step_count[NKINDS][NBUCKETS + 1];
    double step_sum[NKINDS];
    long long step_total[NKINDS];
    long long fires;            /* schedule fires (each: one run per enabled user) */
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
    bool replayed_in_batch;     /* ... earlier in the same commit: stored only if it is */
    char *idem_error;           /* owned: why the Idempotency-Key could not be looked up, or NULL */
    bool check_signature;       /* no bearer token: a webhook signed with the user's secret */
    /* an accept */
    bool hook;
    json_t *record;             /* owned: the run record to commit (no id yet) */
    char *user;                 /* owned, or NULL */
    char *idem_key;             /* owned: the meta key of Idempotency-Key, or NULL */
    char run_id[RT_RUN_ID_LEN + 1];
    int64_t deadline;           /* webhook: rt_mono_ms when it answers 202 */
    request *next;              /* in the committer queue, then in the hook list */
};

/* ---- small helpers ------------------------------------------------------ */

static volatile sig_atomic_t got_hup;

static void on_hup(int sig)
{
    (void)sig;
    got_hup = 1;
}

static bool parse_size(const char *s, long *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return false;
    double mult = 1;
    if (*end == 'k' || *end == 'K') mult = 1024, end++;
    else if (*end == 'm' || *end == 'M') mult = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G') mult = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' || *end == 'b' || *end == 'B') end++;
    if (*end == 'B') end++;
    if (*end) return false;
    *out = (long)(v * mult);
    return true;
}

/* "30s" "500ms" "2m" "1h", or plain seconds. */
static bool parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return false;
    double mult;
    if (!*end || strcmp(end, "s") == 0) mult = 1000;
    else if (strcmp(end, "ms") == 0) mult = 1;
    else if (strcmp(end, "m") == 0) mult = 60000;
    else if (strcmp(end, "h") == 0) mult = 3600000;
    else return false;
    *ms = (int64_t)(v * mult);
    return true;
}

static int usage_error(const rt_workflow *wf, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", wf->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see %s serve --help)\n", wf->name);
    return SERVE_EXIT_USAGE;
}

static void usage(const rt_workflow *wf)
{
    printf("usage: %s serve --listen HOST:PORT [--workers N] [--state DIR] [--token-file F]\n"
           "       [--max-body N] [--hook-timeout D] [--drain-timeout D] [--max-user-runs N]\n"
           "       [--log-file F] [--port-file F] [--json] [--no-auth] [--paused] [--hook-secret NAME]\n\n"
           "  POST /events/NAME   (X-Flow-User, Idempotency-Key)  -> 202 {\"run_id\"}\n"
           "  POST /hooks/USER    request trigger: 200 with the run's output, 500, or 202 after --hook-timeout\n"
           "  GET  /runs/ID, /healthz, /metrics\n"
           "A bearer token (--token-file F or FLOW_API_TOKEN) is required on all but /healthz;\n"
           "without one, serve listens only on a loopback address (127.0.0.1, [::1], localhost),\n"
           "unauthenticated (--no-auth: on any address).\n"
           "SIGTERM drains (exit 0), SIGHUP reopens --log-file. See docs/serve.md.\n",
           wf->name);
}

static int parse_opts(const rt_workflow *wf, int argc, char **argv, serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workers = 4;
    o->max_body = 1 << 20;
    o->hook_timeout_ms = 30000;
    o->drain_timeout_ms = 30000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--json") == 0) o->json = true, takes = false;
        else if (strcmp(a, "--no-auth") == 0) o->no_auth = true, takes = false;
        else if (strcmp(a, "--paused") == 0) o->paused = true, takes = false;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(wf);
            return SERVE_EXIT_OK;
        }
        if (!takes) continue;
        if (!v) return usage_error(wf, "%s needs a value", a);
        if (strcmp(a, "--listen") == 0) o->listen = v;
        else if (strcmp(a, "--state") == 0) o->state = v;
        else if (strcmp(a, "--token-file") == 0) o->token_file = v;
        else if (strcmp(a, "--log-file") == 0) o->log_file = v;
        else if (strcmp(a, "--port-file") == 0) o->port_file = v;
        else if (strcmp(a, "--hook-secret") == 0) {
            bool declared = false;
            for (int k = 0; k < wf->nsecrets; k++) declared |= strcmp(wf->secrets[k], v) == 0;
            if (!declared) return usage_error(wf, "--hook-secret names a secret the workflow declares (secrets { ... }), not '%s'", v);
            o->hook_secret = v;
        }
        else if (strcmp(a, "--workers") == 0 || strcmp(a, "--max-concurrent-runs") == 0) {
            o->workers = atoi(v);
            if (o->workers < 1 || o->workers > 1024) return usage_error(wf, "--workers is 1 to 1024, not '%s'", v);
            /* --max-concurrent-runs: the same bound, by its name in the issue of queue limits */
        } else if (strcmp(a, "--max-user-runs") == 0) {
            o->max_user_runs = atoi(v);
            if (o->max_user_runs < 0) return usage_error(wf, "--max-user-runs is a count, not '%s'", v);
        } else if (strcmp(a, "--max-body") == 0) {
            if (!parse_size(v, &o->max_body) || o->max_body < 1) return usage_error(wf, "--max-body is a size (1048576, 64k, 1M), not '%s'", v);
        } else if (strcmp(a, "--hook-timeout") == 0) {
            if (!parse_duration(v, &o->hook_timeout_ms)) return usage_error(wf, "--hook-timeout is a duration (30s, 500ms), not '%s'", v);
        } else if (strcmp(a, "--drain-timeout") == 0) {
            if (!parse_duration(v, &o->drain_timeout_ms)) return usage_error(wf, "--drain-timeout is a duration (30s, 500ms), not '%s'", v);
        } else {
            return usage_error(wf, "unknown serve option %s", a);
        }
        i++;
    }
    if (!o->listen) return usage_error(wf, "%s", "serve needs --listen HOST:PORT (e.g. 127.0.0.1:8080)");
    return -1;
}

/* HOST:PORT, [V6]:PORT, :PORT (all interfaces), localhost:PORT. */
static bool parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6)
{
    const char *colon = strrchr(s, ':');
    if (!colon) return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535) return false;
    char host[256];
    size_t n = (size_t)(colon - s);
    if (n >= sizeof host) return false;
    memcpy(host, s, n);
    host[n] = 0;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
        host[n - 1] = 0;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *v6 = false;
    if (!host[0] || strcmp(host, "*") == 0) return inet_pton(AF_INET, "0.0.0.0", &a->sin_addr) == 1;
    if (strcmp(host, "localhost") == 0) return inet_pton(AF_INET, "127.0.0.1", &a->sin_addr) == 1;
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

/* Whether a parsed --listen address is reachable only from this machine:
** 127.0.0.0/8, ::1, or ::ffff:127.x.y.z ("localhost" parses as 127.0.0.1).
** Such an address may serve without a token (DESIGN's `serve --listen
** 127.0.0.1:8080` works as written); any other one needs a token. */
static bool listen_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* The datagram sd_notify(3) sends, without libsystemd. */
static void sd_notify_msg(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t n = strlen(path);
    if (n >= sizeof sa.sun_path) return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@') sa.sun_path[0] = 0;      /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        rt_log_emit(NULL, "warning", NULL, "sd_notify to %s failed: %s", path, strerror(errno));
    close(fd);
}

/* Points stderr (the log) at path, appending; SIGHUP calls it again after
** logrotate moved the file. */
static bool open_log_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);    /* runs' errors are in it */
    if (fd < 0) return false;
    rt_log_flush();
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    close(fd);
    return true;
}

static char *read_token_file(const char *path, char *err, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, n, "cannot read token file %s: %s", path, strerror(errno));
        return NULL;
    }
    rt_buf b = { 0 };
    char chunk[512];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) rt_buf_append(&b, chunk, got);
    fclose(f);
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r' || b.data[b.len - 1] == ' '))
        b.data[--b.len] = 0;
    if (!b.len) {
        rt_buf_free(&b);
        snprintf(err, n, "token file %s is empty", path);
        return NULL;
    }
    return rt_buf_take(&b);
}

static void count_code(serve *sv, unsigned status)
{
    size_t i = 0;
    while (http_codes[i] && http_codes[i] != status) i++;
    pthread_mutex_lock(&sv->mlock);
    sv->codes[i]++;
    pthread_mutex_unlock(&sv->mlock);
}

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

/* Takes id in hand: false when it already is. Under qlock. */
static bool held_add(serve *sv, const char *id)
{
    held_set *h = &sv->held;
    if ((h->used + 1) * 10 > h->cap * 7) held_grow(h);     /* at most 70 % used, tombstones included */
    held_run *r = held_slot(h, id, true);
    if (r->state == HELD_USED) return false;
    if (r->state == HELD_FREE) h->used++;
    h->live++;
    memset(r, 0, sizeof *r);
    r->state = HELD_USED;
    snprintf(r->id, sizeof r->id, "%s", id);
    return true;
}

/* Lets id go: its execution ended, or the run is not this process's. */
static void held_release(serve *sv, const char *id)
{
    pthread_mutex_lock(&sv->qlock);
    held_run *r = held_slot(&sv->held, id, false);
    if (r) {
        r->state = HELD_GONE;
        sv->held.live--;
    }
    pthread_mutex_unlock(&sv->qlock);
}

static bool held_has(serve *sv, const char *id)
{
    pthread_mutex_lock(&sv->qlock);
    bool in = held_slot(&sv->held, id, false) != NULL;
    pthread_mutex_unlock(&sv->qlock);
    return in;
}

/* ---- the queue ------------------------------------------------------------ */

/* Queues run id. fresh: a run not in hand yet (accepted, fired, found by
** the sweep), queued only if it is not in hand already, and then taken in
** hand: false when it was; else a run in hand (woken from the heap).
** Takes qlock. */
static bool queue_push(serve *sv, const char *id, const char *user, bool fresh)
{
    pthread_mutex_lock(&sv->qlock);
    if (fresh && !held_add(sv, id)) {
        pthread_mutex_unlock(&sv->qlock);
        return false;
    }
    queued_run *q = rt_xmalloc(sizeof *q);
    q->next = NULL;
    snprintf(q->id, sizeof q->id, "%s", id);
    user_queue *u = user_get(sv, user ? user : "");
    if (u->tail) u->tail->next = q;
    else u->head = q;
    u->tail = q;
    u->queued++;
    sv->queued++;
    if (!u->in_ring) ring_append(sv, u);
    pthread_cond_signal(&sv->qcond);
    pthread_mutex_unlock(&sv->qlock);
    return true;
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
** queue_push (false: the run is in hand, its execution suspended it). */
static bool wake_add(serve *sv, const char *id, const char *user, int64_t at, bool fresh, bool store_retry)
{
    pthread_mutex_lock(&sv->qlock);
    if (fresh && !held_add(sv, id)) {
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

/* Moves the runs due by now from the heap to the queue. */
static void wake_due(serve *sv)
{
    int64_t now = rt_now_ms();
    for (;;) {
        pthread_mutex_lock(&sv->qlock);
        if (!sv->nwakes || sv->wakes[0].at > now) {
            pthread_mutex_unlock(&sv->qlock);
            return;
        }
        wake_entry top = sv->wakes[0];
        wake_entry last = sv->wakes[--sv->nwakes];
        sv->nretries -= top.store_retry;
        size_t i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= sv->nwakes) break;
            if (c + 1 < sv->nwakes && sv->wakes[c + 1].at < sv->wakes[c].at) c++;
            if (sv->wakes[c].at >= last.at) break;
            sv->wakes[i] = sv->wakes[c];
            i = c;
        }
        if (sv->nwakes) sv->wakes[i] = last;
        pthread_mutex_unlock(&sv->qlock);
        queue_push(sv, top.id, top.user, false);
        free(top.user);
    }
}

/* ---- answers ------------------------------------------------------------ */

static enum MHD_Result queue_text(request *rq, unsigned status, const char *text, const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    const char *k;
    json_t *v;
    json_object_foreach(rq->answer_headers, k, v) {
        if (strcasecmp(k, MHD_HTTP_HEADER_CONTENT_TYPE) == 0) ctype = json_string_value(v);
        else MHD_add_response_header(r, k, json_string_value(v));
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_S);
    if (rq->replayed) MHD_add_response_header(r, "Idempotent-Replayed", "true");
    enum MHD_Result ret = MHD_queue_response(rq->conn, status, r);
    MHD_destroy_response(r);
    rq->answered = true;
    count_code(rq->sv, status);
    return ret;
}

/* Answers with body (a NEW reference, taken over) as JSON. */
static enum MHD_Result answer_json(request *rq, unsigned status, json_t *body)
{
    char *text = rt_json_text(body);    /* never fails: a string that is not UTF-8 gets U+FFFD */
    json_decref(body);
    enum MHD_Result ret = queue_text(rq, status, text, "application/json");
    free(text);
    return ret;
}

/* {"error": msg}: msg redacted and valid UTF-8 (it may quote a request's
** bytes), so that the answer always carries it. */
static enum MHD_Result answer_error(request *rq, unsigned status, const char *msg)
{
    char *red = rt_redact(msg);
    json_t *body = json_object();
    json_object_set_new(body, "error", json_string(red));
    free(red);
    return answer_json(rq, status, body);
}

/* Fills in the answer of a suspended request and resumes it; rq must not
** be touched afterwards. */
static void resume_with(request *rq, unsigned status, json_t *body)
{
    rq->answer = rt_json_text(body);
    json_decref(body);
    rq->status = status;
    rq->ready = true;
    MHD_resume_connection(rq->conn);
}

static bool finished_status(const char *s)
{
    return s && (strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0);
}

/* A webhook's answer from its run's record: 200 with the output, 500
** with the error, else 202 with the run id. A run that answered with
** `return status N headers {...}` (or `fail status N "message"`, whose
** body is {"error": message}) has its "reply" in the record. */
static void resume_from_record(request *rq, const json_t *rec)
{
    const char *status = json_string_value(json_object_get(rec, "status"));
    json_t *reply = json_object_get(rec, "reply");
    json_int_t code = json_integer_value(json_object_get(reply, "status"));
    json_t *headers = json_object_get(reply, "headers");
    if (reply && json_is_object(headers)) rq->answer_headers = json_incref(headers);
    if (status && strcmp(status, "succeeded") == 0) {
        json_t *out = json_object_get(rec, "output");
        resume_with(rq, code ? (unsigned)code : MHD_HTTP_OK, out ? json_incref(out) : json_null());
    } else if (status && strcmp(status, "failed") == 0 && reply) {
        json_t *e = json_object_get(rec, "error");
        resume_with(rq, code ? (unsigned)code : MHD_HTTP_INTERNAL_SERVER_ERROR,
                    json_pack("{s:O}", "error", e ? e : json_string("failed")));
    } else if (status && strcmp(status, "failed") == 0) {
        json_t *e = json_object_get(rec, "error");
        resume_with(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
                    json_pack("{s:O, s:s, s:O?}", "error", e ? e : json_string("failed"), "run_id", rq->run_id,
                              "failed_step", json_object_get(rec, "failed_step")));
    } else {
        resume_with(rq, MHD_HTTP_ACCEPTED, json_pack("{s:s, s:s}", "run_id", rq->run_id, "status", status ? status : "queued"));
    }
}

/* Takes off the waiting list the webhooks of run id, or (id NULL) those
** past their deadline, or all of them: a list the caller answers. */
static request *hooks_take(serve *sv, const char *id, bool all)
{
    int64_t now = rt_mono_ms();
    request *done = NULL;
    pthread_mutex_lock(&sv->hlock);
    for (request **pp = &sv->hooks; *pp;) {
        request *r = *pp;
        if (id ? strcmp(r->run_id, id) == 0 : all || r->deadline <= now) {
            *pp = r->next;
            r->next = done;
            done = r;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&sv->hlock);
    return done;
}

/* Answers every webhook waiting for run id (rec is its final record). */
static void hooks_finish(serve *sv, const char *id, const json_t *rec)
{
    request *done = hooks_take(sv, id, false);
    while (done) {
        request *next = done->next;
        resume_from_record(done, rec);
        done = next;
    }
}

/* Answers 202 to the webhooks past their deadline (all of them: draining). */
static void hooks_expire(serve *sv, bool all)
{
    request *done = hooks_take(sv, NULL, all);
    while (done) {
        request *next = done->next;
        resume_with(done, MHD_HTTP_ACCEPTED, json_pack("{s:s, s:s}", "run_id", done->run_id, "status", "running"));
        done = next;
    }
}

/* Puts a committed webhook request on the waiting list; a replayed one
** whose run already ended is answered at once. */
static void hook_wait(serve *sv, request *rq)
{
    rq->deadline = rt_mono_ms() + sv->o.hook_timeout_ms;
    bool replayed = rq->replayed;
    char id[RT_RUN_ID_LEN + 1];
    memcpy(id, rq->run_id, sizeof id);
    pthread_mutex_lock(&sv->hlock);
    rq->next = sv->hooks;
    sv->hooks = rq;
    pthread_mutex_unlock(&sv->hlock);
    if (replayed) {
        json_t *rec = rt_store_get_run(sv->st, id);
        if (finished_status(json_string_value(json_object_get(rec, "status")))) hooks_finish(sv, id, rec);
        json_decref(rec);
    }
}

/* ---- the committer: group commit of accepted runs ------------------------ */

static void store_worked(serve *sv);

static void commit_batch(serve *sv, request *batch)
{
    size_t n = 0;
    for (request *r = batch; r; r = r->next) n++;
    rt_store_write *w = rt_xcalloc(n, sizeof *w);
    json_t *meta = json_object();
    size_t nw = 0, nreplayed = 0, nbatch_replayed = 0, nunknown = 0;
    for (request *r = batch; r; r = r->next) {
        if (r->idem_key) {
            json_t *seen = json_object_get(meta, r->idem_key);     /* earlier in this batch */
            json_t *stored = NULL;
            char lerr[256];
            if (!seen && !rt_store_lookup_meta(sv->st, r->idem_key, &stored, lerr, sizeof lerr)) {
                r->idem_error = rt_xstrdup(lerr);
                nunknown++;
                continue;               /* seen before or not: unknown, so not stored (503) */
            }
            const char *id = json_string_value(seen ? seen : stored);
            if (id) {
                snprintf(r->run_id, sizeof r->run_id, "%s", id);
                r->replayed = true;
                r->replayed_in_batch = seen != NULL;
                if (seen) nbatch_replayed++;
                else nreplayed++;
                json_decref(stored);
                continue;
            }
            json_decref(stored);
        }
        rt_store_new_run_id(r->run_id);
        json_object_set_new(r->record, "id", json_string(r->run_id));
        if (r->idem_key) {
            json_object_set_new(meta, r->idem_key, json_string(r->run_id));
            json_object_set_new(r->record, "idem_key", json_string(r->idem_key));   /* pruned with the run */
        }
        rt_owner_stamp(r->record);      /* this serve's to run: a `resume` beside it leaves it alone */
        w[nw++] = (rt_store_write){ .run_id = r->run_id, .run = r->record };
    }
    char err[512] = "";
    bool ok = nw == 0 || rt_store_commit_many(sv->st, w, nw, json_object_size(meta) ? meta : NULL, err, sizeof err);
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
        char id[RT_RUN_ID_LEN + 1];
        memcpy(id, r->run_id, sizeof id);
        char *user = r->user ? rt_xstrdup(r->user) : NULL;
        bool stored = !r->idem_error && (ok || (r->replayed && !r->replayed_in_batch));
        bool fresh = ok && !r->replayed && !r->idem_error;
        if (r->idem_error) {
            char *e = rt_xprintf("not accepted: the Idempotency-Key could not be looked up (%s); "
                                 "nothing was stored, send it again later (Retry-After)", r->idem_error);
            resume_with(r, MHD_HTTP_SERVICE_UNAVAILABLE, json_pack("{s:s}", "error", e));
            free(e);
        } else if (!stored) {
            r->replayed = false;
            resume_with(r, refused, json_pack("{s:s}", "error", why));
        }
        else if (r->hook) hook_wait(sv, r);     /* before the run can end */
        else resume_with(r, MHD_HTTP_ACCEPTED, json_pack("{s:s}", "run_id", id));
        if (fresh) queue_push(sv, id, user, true);
        free(user);
    }
    free(why);
}

static void *committer_main(void *arg)
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
        if (strcmp(step_kinds[i], kind) == 0) return i;
    return NKINDS - 1;
}

/* Step durations of one run, added to the histograms at once. */
typedef struct step_observer {
    int64_t t0;
    long long count[NKINDS][NBUCKETS + 1];
    double sum[NKINDS];
    long long total[NKINDS];
} step_observer;

static bool every_step(const char *path)
{
    (void)path;
    return true;
}

static void observe_step(const char *path, json_t *s, void *arg)
{
    (void)path;
    step_observer *o = arg;
    json_int_t started = json_integer_value(json_object_get(s, "started"));
    json_int_t ended = json_integer_value(json_object_get(s, "ended"));
    if (!started || !ended || ended < o->t0) return;
    size_t k = kind_index(json_string_value(json_object_get(s, "kind")));
    double secs = (double)(ended - started) / 1000.0;
    size_t b = 0;
    while (b < NBUCKETS && secs > step_buckets[b]) b++;
    o->count[k][b]++;
    o->sum[k] += secs;
    o->total[k]++;
}

/* The durations of the steps this execution of run id ended (since t0),
** one record at a time: a 100,000-item fanout's records are not all held. */
static void observe_steps(serve *sv, const char *id, int64_t t0)
{
    step_observer *o = rt_xcalloc(1, sizeof *o);
    o->t0 = t0;
    rt_store_scan_steps(sv->st, id, every_step, observe_step, o);
    pthread_mutex_lock(&sv->mlock);
    for (size_t k = 0; k < NKINDS; k++) {
        for (size_t b = 0; b <= NBUCKETS; b++) sv->step_count[k][b] += o->count[k][b];
        sv->step_sum[k] += o->sum[k];
        sv->step_total[k] += o->total[k];
    }
    pthread_mutex_unlock(&sv->mlock);
    free(o);
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
    }
    pthread_mutex_unlock(&sv->qlock);
}

/* Runs (or continues) the run id until it ends, suspends or is
** interrupted; the run leaves this process's hands unless it waits here
** (a durable wait, or a backoff after a store failure). */
static void execute(serve *sv, const char *id)
{
    json_t *rec = rt_store_get_run(sv->st, id);
    if (!rec) {                         /* pruned meanwhile, or the store failed: the sweep sees it again */
        held_release(sv, id);
        return;
    }
    const char *status = json_string_value(json_object_get(rec, "status"));
    const char *version = json_string_value(json_object_get(rec, "version"));
    if (!status || finished_status(status) || !version || strcmp(version, sv->wf->version) != 0) {
        json_decref(rec);
        held_release(sv, id);
        return;
    }
    /* the claim (rt_exec_run) raises the attempt of a run an earlier process started */
    const char *u = json_string_value(json_object_get(rec, "user"));
    char *user = u ? rt_xstrdup(u) : NULL;
    json_t *secrets = NULL;
    if (user) {
        json_t *urec = rt_store_get_user(sv->st, user);
        char err[512];
        if (urec && json_object_size(json_object_get(urec, "secrets"))) {
            secrets = rt_users_secrets(sv->st, sv->state_dir, urec, err, sizeof err);
            if (!secrets) rt_log_emit(id, "warning", NULL, "%s", err);
        }
        json_decref(urec);
    }
    rt_run_state run;
    rt_run_init(&run, sv->wf, sv->st, rec);
    run.sleep_in_process = false;       /* a waiting run holds no worker */
    run.secrets = secrets;
    run.state_dir = sv->state_dir;
    int64_t t0 = rt_now_ms();
    rt_outcome out = rt_exec_run(&run);
    if (out == RT_RUN_SKIPPED) {        /* another live process owns it (it said which), or it ended */
        held_release(sv, id);
    } else if (out == RT_RUN_INTERRUPTED && run.store_failed) {
        /* not ended in the store: neither finished nor dropped */
        park_after_store_failure(sv, id, user, run.error);
    } else {
        observe_steps(sv, id, t0);
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
            if (out == RT_RUN_SUCCEEDED || out == RT_RUN_FAILED) hooks_finish(sv, id, run.record);
            held_release(sv, id);
        }
    }
    rt_run_free(&run);
    free(user);
}

static void *worker_main(void *arg)
{
    serve *sv = arg;
    for (;;) {
        char id[RT_RUN_ID_LEN + 1];
        user_queue *u = NULL;
        pthread_mutex_lock(&sv->qlock);
        for (;;) {
            if (sv->stop_workers) break;
            int64_t gate = sv->store_gate - rt_mono_ms();
            if (gate <= 0 && queue_pick(sv, id, &u)) break;
            if (gate <= 0) {
                pthread_cond_wait(&sv->qcond, &sv->qlock);
                continue;
            }
            struct timespec ts;         /* until the gate opens (a store failure's backoff) */
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += gate / 1000;
            ts.tv_nsec += (gate % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&sv->qcond, &sv->qlock, &ts);
        }
        if (!u) {
            pthread_mutex_unlock(&sv->qlock);
            break;
        }
        sv->running++;
        pthread_mutex_unlock(&sv->qlock);
        execute(sv, id);
        pthread_mutex_lock(&sv->qlock);
        sv->running--;
        u->running--;
        pthread_cond_broadcast(&sv->qcond);
        pthread_mutex_unlock(&sv->qlock);
    }
    return NULL;
}

/* ---- the sweep: unfinished runs in LMDB that nobody has in hand ---------- */

typedef struct sweep_scan {
    serve *sv;
    json_t *ids;                /* ids not in hand, in scan order */
} sweep_scan;

static bool sweep_collect(const char *id, void *arg)
{
    sweep_scan *s = arg;
    if (!held_has(s->sv, id)) json_array_append_new(s->ids, json_string(id));
    return true;
}

/* Takes in hand every unfinished run of this version (queued, running,
** interrupted, waiting) that this process does not hold and no other live
** process owns: at start-up, every one (their process died, or stopped);
** later, one a store failure or a crash left behind (a `resume` killed
** with -9, an execution whose record could not be read). The store is the
** source of truth: memory follows it. A run claimed by another process
** meanwhile is skipped at its claim (rt_exec_run). */
static void sweep(serve *sv, bool startup)
{
    static const char *const unfinished[] = { "running", "interrupted", "waiting", "queued" };
    sweep_scan s = { .sv = sv, .ids = json_array() };
    for (size_t i = 0; i < sizeof unfinished / sizeof unfinished[0]; i++) {
        int rc = rt_store_scan_run_ids(sv->st, unfinished[i], sweep_collect, &s);
        if (rc != 0) rt_log_emit(NULL, "error", NULL, "cannot list %s runs: error %d", unfinished[i], rc);
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
        if (!rec || !name || strcmp(name, sv->wf->name) != 0 || !status || finished_status(status)) {
            json_decref(rec);           /* not ours, or ended since the scan */
            continue;
        }
        if (!version || strcmp(version, sv->wf->version) != 0) {
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
            if (strcmp(status, "waiting") == 0 && wake_at > rt_now_ms()) waiting += wake_add(sv, id, user, wake_at, true, false);
            else queued += queue_push(sv, id, user, true);
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
                    "sweep: %d unfinished run%s that no live process owns taken in hand (%d queued, %d waiting)",
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

/* ---- trigger schedule ---------------------------------------------------- */

static json_t *user_settings(serve *sv, const char *user, unsigned *code, char *err, size_t n);

/* One fire at T (seconds): a queued run per enabled user (one without a
** user when none is stored), committed with meta "cron:last" = T in one
** transaction, so a fire happens completely or not at all. False when it
** was not stored (the caller tries again). */
static bool schedule_fire(serve *sv, int64_t t, bool catch_up)
{
    const rt_workflow *wf = sv->wf;
    json_t *users = rt_store_list_users(sv->st), *names = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) {
        /* a damaged record goes on: user_settings says why it gets no run */
        bool wanted = json_is_true(json_object_get(u, "enabled")) || rt_store_damaged(u);
        if (wanted && json_is_string(json_object_get(u, "id")))
            json_array_append(names, json_object_get(u, "id"));
    }
    if (!json_array_size(users)) json_array_append_new(names, json_null());
    size_t n = json_array_size(names);
    rt_store_write *w = rt_xcalloc(n + 1, sizeof *w);
    json_t *recs = json_array();
    char (*ids)[RT_RUN_ID_LEN + 1] = rt_xcalloc(n + 1, sizeof *ids);
    size_t nw = 0;
    int64_t now = rt_now_ms();
    json_array_foreach(names, i, u) {
        const char *user = json_string_value(u);
        char err[512];
        unsigned code;
        json_t *settings = user_settings(sv, user, &code, err, sizeof err);
        if (!settings) {
            rt_log_emit(NULL, "warning", NULL, "schedule: no run for user %s: %s", user ? user : "-", err);
            continue;
        }
        rt_store_new_run_id(ids[nw]);
        json_t *payload = json_object();
        rt_cli_trigger_defaults(wf, payload, t * 1000);
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o, s:s, s:i, s:I, s:I, s:s, s:I, s:b}", "id", ids[nw],
                                "workflow", wf->name, "version", wf->version, "user", user, "trigger", payload,
                                "settings", settings, "status", "queued", "attempt", 1, "created", (json_int_t)now,
                                "updated", (json_int_t)now, "source", "schedule", "scheduled_at",
                                (json_int_t)(t * 1000), "catch_up", catch_up);
        rt_owner_stamp(rec);
        json_array_append_new(recs, rec);
        w[nw] = (rt_store_write){ .run_id = ids[nw], .run = rec };
        nw++;
    }
    json_t *meta = json_pack("{s:I}", "cron:last", (json_int_t)t);
    char err[512], when[40];
    rt_format_time(t * 1000, when, sizeof when);
    bool ok = rt_store_commit_many(sv->st, w, nw, meta, err, sizeof err);
    if (!ok) {
        rt_log_emit(NULL, "error", NULL, "schedule: the fire of %s was not stored (it is tried again): %s", when, err);
    } else {
        rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:i, s:b}", "event", "schedule", "at", when, "runs", (int)nw,
                                            "catch_up", catch_up),
                    "schedule: %s%s: %zu run%s queued", catch_up ? "missed fire of " : "fire of ", when, nw,
                    nw == 1 ? "" : "s");
        for (size_t k = 0; k < nw; k++)
            queue_push(sv, ids[k], json_string_value(json_object_get(json_array_get(recs, k), "user")), true);
        pthread_mutex_lock(&sv->mlock);
        sv->fires++;
        pthread_mutex_unlock(&sv->mlock);
    }
    json_decref(meta);
    json_decref(recs);
    json_decref(names);
    json_decref(users);
    free(ids);
    free(w);
    return ok;
}

/* A fire that was not stored is tried again after 1 s, 2 s, ... 30 s;
** next_fire stays, so the latest fire due by then is the one stored. */
static void schedule_failed(serve *sv)
{
    int64_t ms = 1000;
    for (int i = 0; i < sv->fire_failures && ms < 30000; i++) ms *= 2;
    sv->fire_failures++;
    sv->fire_retry_at = rt_now_ms() + (ms > 30000 ? 30000 : ms);
}

/* The latest fire time in (from, now], or -1: a bounded walk. */
static int64_t latest_fire(const rt_cron *c, int64_t from, int64_t now)
{
    int64_t found = -1, t = from;
    for (int i = 0; i < 200000; i++) {
        int64_t x = rt_cron_next(c, t);
        if (x < 0 || x > now) break;
        found = t = x;
    }
    return found;
}

/* At start-up: the fire missed while the process was down runs once (the
** latest one); then the next fire is the first after now. */
static void schedule_start(serve *sv)
{
    int64_t now = rt_now_ms() / 1000;
    json_t *last = rt_store_get_meta(sv->st, "cron:last");
    if (json_is_integer(last) && json_integer_value(last) < now) {
        int64_t from = json_integer_value(last), missed = -1;
        /* look back a minute, a day, a month, a year, 5 years: an
        ** every-second schedule down for a week is no million-step walk */
        static const int64_t windows[] = { 60, 86400, 31 * 86400, 366 * 86400, 5 * 366 * 86400LL };
        for (size_t i = 0; i < sizeof windows / sizeof windows[0] && missed < 0; i++) {
            int64_t start = now - windows[i] > from ? now - windows[i] : from;
            missed = latest_fire(&sv->cron, start, now);
            if (start == from) break;
        }
        if (missed >= 0 && !schedule_fire(sv, missed, true)) {
            sv->next_fire = missed;     /* schedule_tick tries it again */
            sv->next_catch_up = true;
            schedule_failed(sv);
            json_decref(last);
            return;
        }
    }
    json_decref(last);
    sv->next_fire = rt_cron_next(&sv->cron, now);
    char when[40] = "never";
    if (sv->next_fire >= 0) rt_format_time(sv->next_fire * 1000, when, sizeof when);
    rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s, s:s}", "event", "schedule", "cron", sv->wf->cron, "zone",
                                        sv->wf->zone ? sv->wf->zone : "UTC", "next", when),
                "schedule \"%s\" in %s: next fire %s", sv->wf->cron, sv->wf->zone ? sv->wf->zone : "UTC", when);
}

/* From the main loop: fires when due (once, for the latest due time, when
** the process fell behind by more than a period). */
static void schedule_tick(serve *sv)
{
    if (!sv->scheduled || sv->next_fire < 0) return;
    int64_t now_ms = rt_now_ms(), now = now_ms / 1000;
    if (now < sv->next_fire || now_ms < sv->fire_retry_at) return;
    int64_t t = sv->next_fire, late = latest_fire(&sv->cron, t, now);
    if (late >= 0) t = late;
    if (!schedule_fire(sv, t, sv->next_catch_up || t != sv->next_fire)) {
        schedule_failed(sv);            /* not stored: not fired; tried again */
        return;
    }
    sv->fire_failures = 0;
    sv->fire_retry_at = 0;
    sv->next_catch_up = false;
    sv->next_fire = rt_cron_next(&sv->cron, t > now ? t : now);
}

/* ---- HTTP routes -------------------------------------------------------- */

static bool authorized(serve *sv, struct MHD_Connection *conn)
{
    if (!sv->token) return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t a = strlen(h), b = strlen(sv->token);
    unsigned char diff = a != b;
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(h[a ? i % a : 0] ^ sv->token[i]);   /* constant time */
    return diff == 0;
}

/* The settings of user: defaults overridden by the stored ones. NULL with
** an HTTP status and message when the user is disabled or lacks one. */
static json_t *user_settings(serve *sv, const char *user, unsigned *code, char *err, size_t n)
{
    json_t *urec = user ? rt_store_get_user(sv->st, user) : NULL;
    if (user && rt_store_damaged(urec)) {
        snprintf(err, n, "user '%s''s record cannot be read (%s): store the user again, or restore the state from a "
                 "backup", user, rt_store_damaged(urec));
        *code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        json_decref(urec);
        return NULL;
    }
    if (urec && !json_is_true(json_object_get(urec, "enabled"))) {
        snprintf(err, n, "user '%s' is disabled", user);
        *code = MHD_HTTP_FORBIDDEN;
        json_decref(urec);
        return NULL;
    }
    json_t *given = json_object_get(urec, "settings");
    json_t *out = json_object();
    for (int i = 0; i < sv->wf->nsettings; i++) {
        const rt_setting *s = &sv->wf->settings[i];
        json_t *v = json_object_get(given, s->name);
        if (v) json_incref(v);
        else if (s->default_json) v = json_loads(s->default_json, JSON_DECODE_ANY, NULL);
        if (!v) {
            snprintf(err, n, "user '%s' has no value for the required setting '%s' (`%s users set` stores it)",
                     user ? user : "", s->name, sv->wf->name);
            *code = 422;
            json_decref(out);
            json_decref(urec);
            return NULL;
        }
        json_object_set_new(out, s->name, v);
    }
    json_decref(urec);
    return out;
}

/* Validates the payload and hands the run to the committer; the
** connection stays suspended until it is stored. */
static enum MHD_Result accept_run(request *rq, const char *user, bool hook)
{
    serve *sv = rq->sv;
    const rt_workflow *wf = sv->wf;
    char err[1024];
    json_t *payload;
    /* the user goes into the run's record as a JSON string: bytes that are
    ** not UTF-8 would leave no record behind an accepted run */
    if (user && !rt_utf8_valid(user, strlen(user)))
        return answer_error(rq, MHD_HTTP_BAD_REQUEST, hook ? "the user in /hooks/USER is not valid UTF-8"
                                                           : "X-Flow-User is not valid UTF-8");
    if (rq->body.len == 0) {
        payload = json_object();
    } else {
        json_error_t je;
        payload = json_loadb(rq->body.data, rq->body.len, JSON_DECODE_ANY, &je);
        if (!payload) {
            snprintf(err, sizeof err, "payload is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
            return answer_error(rq, MHD_HTTP_BAD_REQUEST, err);
        }
    }
    if (wf->trigger_schema && !rt_type_check(wf->trigger_schema, payload, "payload", err, sizeof err)) {
        json_decref(payload);
        return answer_error(rq, MHD_HTTP_BAD_REQUEST, err);
    }
    const char *idem = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (idem && (!*idem || strlen(idem) > 256)) {
        json_decref(payload);
        return answer_error(rq, MHD_HTTP_BAD_REQUEST, "Idempotency-Key must be 1 to 256 bytes");
    }
    unsigned code = 0;
    json_t *settings = user_settings(sv, user, &code, err, sizeof err);
    if (!settings) {
        json_decref(payload);
        return answer_error(rq, code, err);
    }
    int64_t now = rt_now_ms();
    rq->record = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:s, s:i, s:I, s:I, s:s}", "workflow", wf->name, "version",
                           wf->version, "user", user, "trigger", payload, "settings", settings, "status", "queued",
                           "attempt", 1, "created", (json_int_t)now, "updated", (json_int_t)now, "source",
                           hook ? "hook" : "event");
    rq->user = user ? rt_xstrdup(user) : NULL;
    rq->hook = hook;
    if (idem) rq->idem_key = rt_xprintf("idem:%zu:%s:%s", user ? strlen(user) : 0, user ? user : "", idem);

    pthread_mutex_lock(&sv->alock);
    if (sv->draining) {
        pthread_mutex_unlock(&sv->alock);
        return answer_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down");
    }
    MHD_suspend_connection(rq->conn);          /* before the committer can resume it */
    rq->next = NULL;
    if (sv->accept_tail) sv->accept_tail->next = rq;
    else sv->accept_head = rq;
    sv->accept_tail = rq;
    pthread_cond_signal(&sv->acond);
    pthread_mutex_unlock(&sv->alock);
    return MHD_YES;
}

static enum MHD_Result get_run(request *rq, const char *id)
{
    serve *sv = rq->sv;
    char why[600] = "";
    json_t *rec = *id && !strchr(id, '/') ? rt_store_read_run(sv->st, id, why, sizeof why) : NULL;
    if (!rec && why[0])         /* damaged: said, not "no run" */
        rec = json_pack("{s:s, s:s, s:s}", "id", id, "status", "unreadable", "error", why);
    if (!rec) {
        char *shown = rt_redact_shorten(id, 200);
        char *msg = rt_xprintf("no run %s", shown);
        enum MHD_Result ret = answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
        free(msg);
        free(shown);
        return ret;
    }
    json_t *out = json_object();
    static const char *const keys[] = { "id", "status", "user", "attempt", "created", "updated", "wake_at",
                                        "output", "error", "failed_step", "source", "scheduled_at", "catch_up" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(rec, keys[i]);
        if (v) json_object_set(out, keys[i], v);
    }
    json_t *steps = rt_store_get_steps(sv->st, id), *list = json_object();
    const char *path;
    json_t *s;
    json_object_foreach(steps, path, s) {
        json_t *e = json_pack("{s:O?, s:O?, s:I, s:O?, s:O?, s:O?}", "kind", json_object_get(s, "kind"), "status",
                              json_object_get(s, "status"), "attempts",
                              (json_int_t)json_array_size(json_object_get(s, "attempts")), "started",
                              json_object_get(s, "started"), "ended", json_object_get(s, "ended"), "error",
                              rt_store_damaged(s) ? json_object_get(s, "damaged") : json_object_get(s, "error"));
        json_object_set_new(list, path, e);
    }
    json_object_set_new(out, "steps", list);
    json_decref(steps);
    json_decref(rec);
    return answer_json(rq, MHD_HTTP_OK, out);
}

/* GET /runs?status=S&user=U&limit=N: run summaries, newest first. */
static enum MHD_Result list_runs(request *rq)
{
    serve *sv = rq->sv;
    const char *status = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "status");
    const char *user = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "user");
    const char *limit = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "limit");
    int n = limit ? atoi(limit) : 50;
    if (n <= 0 || n > 10000) n = 50;
    rt_run_query q = { .status = status && *status ? status : NULL, .user = user && *user ? user : NULL, .limit = n,
                       .damaged_too = true };
    json_t *all = rt_store_query_runs(sv->st, &q), *out = json_array();
    json_int_t unreadable = 0;
    static const char *const keys[] = { "id", "status", "user", "attempt", "created", "updated", "error",
                                        "source", "scheduled_at", "catch_up" };
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r) {
        json_t *sum = json_object();
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(r, keys[k]);
            if (v) json_object_set(sum, keys[k], v);
        }
        if (rt_store_damaged(r)) {      /* listed, never left out */
            json_object_set_new(sum, "error", json_sprintf("record damaged: %s", rt_store_damaged(r)));
            unreadable++;
        }
        json_array_append_new(out, sum);
    }
    json_decref(all);
    json_t *body = json_pack("{s:o}", "runs", out);
    if (unreadable) json_object_set_new(body, "unreadable", json_integer(unreadable));
    return answer_json(rq, MHD_HTTP_OK, body);
}

static enum MHD_Result get_metrics(request *rq)
{
    serve *sv = rq->sv;
    rt_buf b = { 0 };
    pthread_mutex_lock(&sv->qlock);
    size_t queued = sv->queued, waiting = sv->nwakes - sv->nretries, retrying = sv->nretries, users = sv->ring_len;
    int running = sv->running;
    pthread_mutex_unlock(&sv->qlock);
    pthread_mutex_lock(&sv->mlock);
    rt_buf_printf(&b, "# HELP flow_runs_accepted_total Runs accepted over HTTP and committed before the answer.\n"
                      "# TYPE flow_runs_accepted_total counter\nflow_runs_accepted_total %lld\n", sv->accepted);
    rt_buf_printf(&b, "# HELP flow_runs_replayed_total Accepts answered with an earlier run (Idempotency-Key).\n"
                      "# TYPE flow_runs_replayed_total counter\nflow_runs_replayed_total %lld\n", sv->replayed);
    rt_buf_printf(&b, "# HELP flow_accept_commits_total LMDB transactions that stored accepted runs (group commit).\n"
                      "# TYPE flow_accept_commits_total counter\nflow_accept_commits_total %lld\n", sv->batches);
    rt_buf_printf(&b, "# HELP flow_accepts_refused_total Accepts answered 503/500 because the state store failed (nothing stored).\n"
                      "# TYPE flow_accepts_refused_total counter\nflow_accepts_refused_total %lld\n", sv->rejected_commits);
    rt_buf_printf(&b, "# HELP flow_store_stops_total Executions a state store failure stopped; each run goes on after a backoff.\n"
                      "# TYPE flow_store_stops_total counter\nflow_store_stops_total %lld\n", sv->store_stops);
    rt_buf_printf(&b, "# HELP flow_runs_swept_total Unfinished runs nobody had in hand that the periodic sweep queued.\n"
                      "# TYPE flow_runs_swept_total counter\nflow_runs_swept_total %lld\n", sv->swept);
    rt_buf_printf(&b, "# HELP flow_runs_finished_total Runs this process ran to an end, by final status.\n"
                      "# TYPE flow_runs_finished_total counter\n"
                      "flow_runs_finished_total{status=\"succeeded\"} %lld\n"
                      "flow_runs_finished_total{status=\"failed\"} %lld\n"
                      "flow_runs_finished_total{status=\"interrupted\"} %lld\n"
                      "flow_runs_finished_total{status=\"waiting\"} %lld\n",
                  sv->finished[0], sv->finished[1], sv->finished[2], sv->suspended);
    rt_buf_printf(&b, "# HELP flow_runs Unfinished runs of this version by status.\n# TYPE flow_runs gauge\n"
                      "flow_runs{status=\"queued\"} %zu\nflow_runs{status=\"running\"} %d\n"
                      "flow_runs{status=\"waiting\"} %zu\nflow_runs{status=\"store_retry\"} %zu\n"
                      "flow_runs{status=\"other_version\"} %d\n",
                  queued, running, waiting, retrying, sv->other_version);
    rt_buf_printf(&b, "# HELP flow_queue_depth Runs queued for a worker.\n# TYPE flow_queue_depth gauge\n"
                      "flow_queue_depth %zu\n", queued);
    rt_buf_printf(&b, "# HELP flow_schedule_fires_total Schedule fires (each queues a run per enabled user).\n"
                      "# TYPE flow_schedule_fires_total counter\nflow_schedule_fires_total %lld\n", sv->fires);
    rt_buf_printf(&b, "# HELP flow_paused 1 when started with --paused (runs are queued, not started).\n"
                      "# TYPE flow_paused gauge\nflow_paused %d\n", sv->o.paused);
    rt_buf_printf(&b, "# HELP flow_queue_users Users with queued runs.\n# TYPE flow_queue_users gauge\n"
                      "flow_queue_users %zu\n", users);
    rt_buf_printf(&b, "# HELP flow_http_requests_in_flight HTTP requests being answered.\n"
                      "# TYPE flow_http_requests_in_flight gauge\nflow_http_requests_in_flight %d\n",
                  sv->in_flight);
    rt_buf_printf(&b, "# HELP flow_http_responses_total HTTP responses by status code.\n"
                      "# TYPE flow_http_responses_total counter\n");
    for (size_t i = 0; i < NCODES; i++) {
        if (http_codes[i]) rt_buf_printf(&b, "flow_http_responses_total{code=\"%u\"} %lld\n", http_codes[i], sv->codes[i]);
        else rt_buf_printf(&b, "flow_http_responses_total{code=\"other\"} %lld\n", sv->codes[i]);
    }
    rt_buf_printf(&b, "# HELP flow_step_duration_seconds Step durations (first attempt to final outcome).\n"
                      "# TYPE flow_step_duration_seconds histogram\n");
    for (size_t k = 0; k < NKINDS; k++) {
        long long cum = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            cum += sv->step_count[k][i];
            rt_buf_printf(&b, "flow_step_duration_seconds_bucket{kind=\"%s\",le=\"%g\"} %lld\n", step_kinds[k],
                          step_buckets[i], cum);
        }
        cum += sv->step_count[k][NBUCKETS];
        rt_buf_printf(&b, "flow_step_duration_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %lld\n", step_kinds[k], cum);
        rt_buf_printf(&b, "flow_step_duration_seconds_sum{kind=\"%s\"} %.6f\n", step_kinds[k], sv->step_sum[k]);
        rt_buf_printf(&b, "flow_step_duration_seconds_count{kind=\"%s\"} %lld\n", step_kinds[k], sv->step_total[k]);
    }
    pthread_mutex_unlock(&sv->mlock);
    enum MHD_Result ret = queue_text(rq, MHD_HTTP_OK, b.data, "text/plain; version=0.0.4");
    rt_buf_free(&b);
    return ret;
}

static enum MHD_Result route(request *rq, const char *url, const char *method)
{
    serve *sv = rq->sv;
    const rt_workflow *wf = sv->wf;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/healthz") == 0) {
        if (!get) return answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        pthread_mutex_lock(&sv->alock);
        bool draining = sv->draining;
        pthread_mutex_unlock(&sv->alock);
        pthread_mutex_lock(&sv->mlock);
        int other = sv->other_version;      /* the sweep updates it */
        pthread_mutex_unlock(&sv->mlock);
        return answer_json(rq, draining ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                           json_pack("{s:s, s:s, s:s, s:i}", "status", draining ? "draining" : "ok", "workflow",
                                     wf->name, "version", wf->version, "other_version_runs", other));
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get) return answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return get_metrics(rq);
    }
    if (strcmp(url, "/runs") == 0 || strcmp(url, "/runs/") == 0) {
        if (!get) return answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return list_runs(rq);
    }
    if (strncmp(url, "/runs/", 6) == 0) {
        if (!get) return answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return get_run(rq, url + 6);
    }
    if (strncmp(url, "/events/", 8) == 0) {
        if (!post) return answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        if (wf->trigger != RT_TRIG_EVENT || !wf->event || strcmp(url + 8, wf->event) != 0) {
            char *msg;
            if (wf->trigger == RT_TRIG_EVENT && wf->event) {
                char *asked = rt_redact_shorten(url + 8, 200);
                msg = rt_xprintf("no event '%s' here: %s is triggered by event '%s'", asked, wf->name, wf->event);
                free(asked);
            } else {
                msg = rt_xprintf("%s has no event trigger%s", wf->name,
                                 wf->trigger == RT_TRIG_REQUEST ? " (it is a request trigger: POST /hooks/USER)" : "");
            }
            enum MHD_Result ret = answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
            free(msg);
            return ret;
        }
        const char *user = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Flow-User");
        return accept_run(rq, user && *user ? user : NULL, false);
    }
    if (strncmp(url, "/hooks/", 7) == 0) {
        if (!post) return answer_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        const char *user = url + 7;
        if (wf->trigger != RT_TRIG_REQUEST) {
            char msg[300];
            snprintf(msg, sizeof msg, "%s has no request trigger%s", wf->name,
                     wf->trigger == RT_TRIG_EVENT ? " (it is an event trigger: POST /events/NAME)" : "");
            return answer_error(rq, MHD_HTTP_NOT_FOUND, msg);
        }
        if (!*user || strchr(user, '/')) return answer_error(rq, MHD_HTTP_NOT_FOUND, "POST /hooks/USER names one user");
        return accept_run(rq, user, true);
    }
    return answer_error(rq, MHD_HTTP_NOT_FOUND, "no such endpoint (POST /events/NAME, POST /hooks/USER, GET /runs/ID, /healthz, /metrics)");
}

/* X-Flow-Signature: sha256=HEX, the HMAC-SHA256 of the body under the
** user's stored secret --hook-secret (`users set USER --secret NAME=...`). */
static bool signature_ok(request *rq, const char *user)
{
    serve *sv = rq->sv;
    const char *sig = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Flow-Signature");
    if (!sig || !*user || strchr(user, '/')) return false;
    if (strncasecmp(sig, "sha256=", 7) == 0) sig += 7;
    json_t *urec = rt_store_get_user(sv->st, user);
    if (!urec || !json_is_true(json_object_get(urec, "enabled"))) {
        json_decref(urec);
        return false;
    }
    char err[512];
    json_t *secrets = rt_users_secrets(sv->st, sv->state_dir, urec, err, sizeof err);
    const char *key = json_string_value(json_object_get(secrets, sv->o.hook_secret));
    bool ok = false;
    if (key) {
        uint8_t mac[32];
        rt_hmac_sha256(key, strlen(key), rq->body.data ? rq->body.data : "", rq->body.len, mac);
        ok = rt_hmac_equal_hex(mac, sig);
    } else {
        rt_log_emit(NULL, "warning", NULL, "signed webhook for user %s, who has no stored secret '%s'%s%s", user,
                    sv->o.hook_secret, secrets ? "" : ": ", secrets ? "" : err);
    }
    json_decref(secrets);
    json_decref(urec);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    serve *sv = cls;
    request *rq = *con_cls;
    if (!rq) {                          /* the headers are in */
        rq = rt_xcalloc(1, sizeof *rq);
        rq->sv = sv;
        rq->conn = conn;
        *con_cls = rq;
        pthread_mutex_lock(&sv->mlock);
        sv->in_flight++;
        pthread_mutex_unlock(&sv->mlock);
        if (strcmp(url, "/healthz") != 0 && !authorized(sv, conn)) {
            if (sv->o.hook_secret && strncmp(url, "/hooks/", 7) == 0 &&
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Flow-Signature"))
                rq->check_signature = true;     /* once the body is in */
            else
                return answer_error(rq, MHD_HTTP_UNAUTHORIZED, "a valid 'Authorization: Bearer TOKEN' header is required");
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoll(cl, NULL, 10) > sv->o.max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body over %ld bytes", sv->o.max_body);
            return answer_error(rq, MHD_HTTP_CONTENT_TOO_LARGE, msg);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {            /* a piece of the body */
        if (!rq->answered && !rq->too_big) {
            if (rq->body.len + *upload_data_size > (size_t)sv->o.max_body) {
                rq->too_big = true;
                rt_buf_free(&rq->body);
                rq->body = (rt_buf){ 0 };
            } else {
                rt_buf_append(&rq->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->answered) return MHD_YES;
    if (rq->ready) {                    /* resumed by the committer, a worker or a timeout */
        const char *text = rq->answer ? rq->answer : "null";
        return queue_text(rq, rq->status, text, "application/json");
    }
    if (rq->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body over %ld bytes", sv->o.max_body);
        return answer_error(rq, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (rq->check_signature && !signature_ok(rq, url + 7))
        return answer_error(rq, MHD_HTTP_UNAUTHORIZED, "the X-Flow-Signature does not match the body (HMAC-SHA256 with the user's secret)");
    return route(rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    serve *sv = cls;
    request *rq = *con_cls;
    if (!rq) return;
    rt_buf_free(&rq->body);
    free(rq->answer);
    json_decref(rq->answer_headers);
    json_decref(rq->record);
    free(rq->user);
    free(rq->idem_key);
    free(rq->idem_error);
    free(rq);
    *con_cls = NULL;
    pthread_mutex_lock(&sv->mlock);
    sv->in_flight--;
    pthread_mutex_unlock(&sv->mlock);
}

/* ---- the process -------------------------------------------------------- */

/* One serve per state directory: a second one would queue the first one's
** runs at start-up and execute them twice. The lock (flock on
** STATE/serve.lock, holding the pid) goes with the process, kill -9 too.
** Returns the fd, or -1 with a message. */
static int lock_state(const char *dir, char *err, size_t n)
{
    char *path = rt_xprintf("%s/serve.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);     /* in the state directory: its files are 0600 */
    if (fd < 0) {
        snprintf(err, n, "cannot open %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
        if (got > 0) pid[got] = 0;
        pid[strcspn(pid, "\n")] = 0;
        snprintf(err, n, "another serve (pid %s) is using the state in %.300s: one serve per state directory",
                 pid[0] ? pid : "?", dir);
        close(fd);
        free(path);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    bool wrote = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) == len;
    (void)wrote;                        /* the pid is for the message above only */
    free(path);
    return fd;
}

static void write_port_file(const char *path, unsigned port)
{
    char *tmp = rt_xprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f, "%u\n", port);
        fclose(f);
        rename(tmp, path);
    }
    free(tmp);
}

static void serve_free(serve *sv)
{
    for (size_t i = 0; i < USER_BUCKETS; i++) {
        for (user_queue *u = sv->users[i], *next; u; u = next) {
            next = u->hash_next;
            for (queued_run *q = u->head, *qn; q; q = qn) {
                qn = q->next;
                free(q);
            }
            free(u->user);
            free(u);
        }
    }
    for (size_t i = 0; i < sv->nwakes; i++) free(sv->wakes[i].user);
    free(sv->wakes);
    free(sv->held.slots);
    free(sv->workers);
    free(sv->token);
    pthread_mutex_destroy(&sv->qlock);
    pthread_cond_destroy(&sv->qcond);
    pthread_mutex_destroy(&sv->alock);
    pthread_cond_destroy(&sv->acond);
    pthread_mutex_destroy(&sv->hlock);
    pthread_mutex_destroy(&sv->mlock);
    free(sv);
}

static void stop_committer(serve *sv)
{
    if (!sv->committer_started) return;
    pthread_mutex_lock(&sv->alock);
    sv->draining = true;
    sv->committer_stop = true;
    pthread_cond_signal(&sv->acond);
    pthread_mutex_unlock(&sv->alock);
    pthread_join(sv->committer, NULL);
    sv->committer_started = false;
}

static int in_flight(serve *sv)
{
    pthread_mutex_lock(&sv->mlock);
    int n = sv->in_flight;
    pthread_mutex_unlock(&sv->mlock);
    return n;
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* SIGTERM: no new accepts, the runs stop at their next step boundary (the
** engine saw the signal too: a request in flight completes and is
** committed), webhooks still waiting get 202, then exit. */
static int drain(serve *sv)
{
    int64_t t0 = rt_mono_ms();
    rt_log_emit(NULL, "info", json_pack("{s:s, s:I}", "event", "draining", "timeout_ms", (json_int_t)sv->o.drain_timeout_ms),
                "stopping: no new requests; in-flight steps get up to %lld ms", (long long)sv->o.drain_timeout_ms);
    rt_log_flush();
    sd_notify_msg("STOPPING=1\nSTATUS=draining");
    pthread_mutex_lock(&sv->alock);
    sv->draining = true;
    pthread_mutex_unlock(&sv->alock);
    MHD_socket lfd = MHD_quiesce_daemon(sv->mhd);     /* stop accepting connections */
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    pthread_mutex_lock(&sv->qlock);
    sv->stop_workers = true;
    pthread_cond_broadcast(&sv->qcond);
    pthread_mutex_unlock(&sv->qlock);
    stop_committer(sv);                 /* accepts already received are stored and answered */

    bool clean = false;
    while (rt_mono_ms() - t0 < sv->o.drain_timeout_ms) {
        pthread_mutex_lock(&sv->qlock);
        clean = sv->running == 0;
        pthread_mutex_unlock(&sv->qlock);
        if (clean) break;
        hooks_expire(sv, false);
        nap_ms(20);
    }
    hooks_expire(sv, true);
    for (int i = 0; i < 50 && in_flight(sv) > 0; i++) nap_ms(20);   /* let the last answers go out */
    if (!clean) {
        rt_log_emit(NULL, "warning", json_pack("{s:s}", "event", "drain_timeout"),
                    "drain timeout: steps still in flight are redone (same Idempotency-Key) on the next start");
        rt_log_flush();
        fflush(stderr);
        _exit(SERVE_EXIT_OK);           /* the store is consistent at any moment */
    }
    for (int i = 0; i < sv->nworkers; i++) pthread_join(sv->workers[i], NULL);
    MHD_stop_daemon(sv->mhd);
    sv->mhd = NULL;
    rt_log_emit(NULL, "info", json_pack("{s:s}", "event", "stopped"), "stopped after %lld ms",
                (long long)(rt_mono_ms() - t0));
    return SERVE_EXIT_OK;
}

int rt_serve_main(const rt_workflow *wf, int argc, char **argv)
{
    serve *sv = rt_xcalloc(1, sizeof *sv);
    sv->wf = wf;
    pthread_mutex_init(&sv->qlock, NULL);
    pthread_cond_init(&sv->qcond, NULL);
    pthread_mutex_init(&sv->alock, NULL);
    pthread_cond_init(&sv->acond, NULL);
    pthread_mutex_init(&sv->hlock, NULL);
    pthread_mutex_init(&sv->mlock, NULL);
    int rc = parse_opts(wf, argc, argv, &sv->o);
    if (rc >= 0) {
        serve_free(sv);
        return rc;
    }
    const serve_opts *o = &sv->o;
    struct sockaddr_storage addr;
    bool v6 = false;
    if (!parse_listen(o->listen, &addr, &v6)) {
        serve_free(sv);
        return usage_error(wf, "--listen needs HOST:PORT with a numeric address (127.0.0.1:8080, [::1]:8080), not '%s'", o->listen);
    }
    char err[1024];
    if (o->token_file) {
        sv->token = read_token_file(o->token_file, err, sizeof err);
        if (!sv->token) {
            fprintf(stderr, "%s: %s\n", wf->name, err);
            serve_free(sv);
            return SERVE_EXIT_USAGE;
        }
    } else if (getenv("FLOW_API_TOKEN") && *getenv("FLOW_API_TOKEN")) {
        sv->token = rt_xstrdup(getenv("FLOW_API_TOKEN"));
    } else if (!o->no_auth && !listen_is_loopback(&addr)) {
        /* before the state is opened or anything is bound */
        fprintf(stderr, "%s: serve needs an API token: --token-file FILE or FLOW_API_TOKEN (--no-auth for local development); "
                        "only a loopback --listen address (127.0.0.1, [::1], localhost) may go without one, not %s\n",
                wf->name, o->listen);
        serve_free(sv);
        return SERVE_EXIT_USAGE;
    }
    if (wf->trigger == RT_TRIG_SCHEDULE) {     /* before any thread: the zone sets TZ */
        if (!wf->cron || !rt_cron_parse(wf->cron, &sv->cron, err, sizeof err) ||
            !rt_cron_set_zone(wf->zone, err, sizeof err)) {
            fprintf(stderr, "%s: trigger schedule: %s\n", wf->name, wf->cron ? err : "no cron expression");
            serve_free(sv);
            return SERVE_EXIT_USAGE;
        }
        sv->scheduled = true;
    }
    if (o->log_file && !open_log_file(o->log_file)) {
        fprintf(stderr, "%s: cannot open log file %s: %s\n", wf->name, o->log_file, strerror(errno));
        serve_free(sv);
        return SERVE_EXIT_USAGE;
    }
    rt_log_setup(o->json, wf->name);
    if (o->state) snprintf(sv->state_dir, sizeof sv->state_dir, "%s", o->state);
    else if (getenv("FLOW_STATE_DIR") && *getenv("FLOW_STATE_DIR")) snprintf(sv->state_dir, sizeof sv->state_dir, "%s", getenv("FLOW_STATE_DIR"));
    else snprintf(sv->state_dir, sizeof sv->state_dir, "./%s.state", wf->name);
    sv->st = rt_store_open(sv->state_dir, false, err, sizeof err);
    if (!sv->st) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        serve_free(sv);
        return SERVE_EXIT_USAGE;
    }
    rt_cli_warn_open_state(sv->st);
    int lock_fd = lock_state(sv->state_dir, err, sizeof err);
    if (lock_fd < 0) {
        fprintf(stderr, "%s: %s\n", wf->name, err);
        rt_store_close(sv->st);
        serve_free(sv);
        return SERVE_EXIT_USAGE;
    }
    if (wf->trigger == RT_TRIG_ENABLED)
        rt_log_emit(NULL, "warning", NULL, "serve does not fire enabled triggers yet: it only runs queued and unfinished runs");

    rt_exec_install_signals();          /* SIGTERM/SIGINT: the engine and the main loop see it */
    struct sigaction hup = { 0 }, old_hup;
    hup.sa_handler = on_hup;
    sigemptyset(&hup.sa_mask);
    hup.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &hup, &old_hup);

    rt_owner_set_cmd("serve");
    sweep(sv, true);                    /* before accepting: the unfinished runs, then new ones */
    sv->next_sweep = rt_mono_ms() + SWEEP_MS;
    if (sv->scheduled) schedule_start(sv);
    pthread_create(&sv->committer, NULL, committer_main, sv);
    sv->committer_started = true;
    unsigned pool = sv->o.workers > 4 ? 4 : 2;
    sv->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                                   (v6 ? MHD_USE_IPv6 : 0),
                               0, NULL, NULL, on_request, sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                               MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)10000, MHD_OPTION_LISTEN_BACKLOG_SIZE,
                               (unsigned)4096, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!sv->mhd) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", wf->name, o->listen, strerror(errno));
        stop_committer(sv);
        rt_store_close(sv->st);
        close(lock_fd);
        sigaction(SIGHUP, &old_hup, NULL);
        rt_exec_restore_signals();
        serve_free(sv);
        return SERVE_EXIT_USAGE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(sv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    sv->nworkers = o->paused ? 0 : o->workers;     /* paused: runs wait in the queue */
    sv->workers = rt_xcalloc((size_t)sv->nworkers + 1, sizeof *sv->workers);
    for (int i = 0; i < sv->nworkers; i++) pthread_create(&sv->workers[i], NULL, worker_main, sv);
    if (!sv->token && !o->no_auth)      /* loopback without a token: say so, once, before the port file */
        rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "unauthenticated", "listen", o->listen),
                    "the API is unauthenticated: no token is configured, and loopback %s is reachable only from "
                    "this machine; to require a token, give --token-file FILE or set FLOW_API_TOKEN",
                    o->listen);
    if (o->port_file) write_port_file(o->port_file, port);
    rt_log_emit(NULL, "info",
                json_pack("{s:s, s:s, s:i, s:i, s:s}", "event", "listening", "listen", o->listen, "port", (int)port,
                          "workers", o->workers, "version", wf->version),
                "serving %s (version %s) on port %u with %d workers%s", wf->name, wf->version, port, sv->nworkers,
                o->paused ? " (paused: runs are queued, not started)" : "");
    rt_log_flush();
    char ready[128];
    snprintf(ready, sizeof ready, "READY=1\nSTATUS=serving on port %u\nMAINPID=%d", port, (int)getpid());
    sd_notify_msg(ready);

    while (!rt_exec_interrupted()) {
        if (got_hup) {
            got_hup = 0;
            if (o->log_file && !open_log_file(o->log_file))
                rt_log_emit(NULL, "error", NULL, "cannot reopen log file %s: %s", o->log_file, strerror(errno));
            else rt_log_emit(NULL, "info", json_pack("{s:s}", "event", "log_reopened"), "SIGHUP: log file reopened");
        }
        wake_due(sv);
        schedule_tick(sv);
        hooks_expire(sv, false);
        if (rt_mono_ms() >= sv->next_sweep) {
            sweep(sv, false);
            sv->next_sweep = rt_mono_ms() + SWEEP_MS;
        }
        rt_log_flush();
        nap_ms(20);
    }
    rc = drain(sv);
    rt_store_close(sv->st);
    close(lock_fd);
    sigaction(SIGHUP, &old_hup, NULL);
    rt_exec_restore_signals();
    serve_free(sv);
    rt_log_flush();
    rt_type_cache_free();
    rt_log_teardown();
    return rc;
}
