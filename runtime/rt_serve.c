/*
** rt_serve.c — [commands] `JOB serve`: the process (options, the listening
** socket, the main loop, drain). Its parts: the HTTP API (rt_serve_api.c),
** answers and waiting webhooks (rt_serve_answer.c), the queue, committer,
** workers and sweep (rt_serve_queue.c), the schedule (rt_serve_sched.c),
** over the state they share (rt_serve_state.h).
**
** Threads: MHD's pool parses requests and suspends each accept; one
** committer thread turns the accepts waiting at a moment into queued run
** records in ONE LMDB transaction (one fsync for all of them), then
** resumes their connections with the answer; N workers take runs from an
** in-memory queue, round-robin across users, and run them with the engine.
** LMDB is the source of truth: the in-memory queue, the heap of waiting
** runs and the runs executing (the runs in hand, `held`) are rebuilt from
** it at start-up and reconciled with it by a periodic rt_serve_sweep, which queues
** every unfinished run of this version that no live process owns and this
** one does not hold (rt_owner.h): a run a failed write stopped, or one a
** killed `resume` left. A run a store failure stops stays held and goes on
** after a backoff. The main thread watches signals, wakes waiting runs when
** they are due, sweeps, fires the schedule and answers webhook requests
** whose run outlives --hook-timeout.
*/
#include "rt_serve.h"
#include "rt_serve_answer.h"
#include "rt_serve_api.h"
#include "rt_serve_queue.h"
#include "rt_serve_sched.h"
#include "rt_serve_state.h"

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
#include "rt_host.h"
#include "rt_host_conn.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_util.h"
#include "rt_value.h"

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

static int usage_error(const rt_workflow *wf, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", wf->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see %s serve --help)\n", wf->name);
    return SERVE_EXIT_USAGE;
}

static void usage(const rt_workflow *wf)
{
    printf("usage: %s serve --listen HOST:PORT [--workers N] [--threads N] [--state DIR] [--token-file F]\n"
           "       [--max-body N] [--hook-timeout D] [--drain-timeout D] [--max-user-runs N] [--max-queued N]\n"
           "       [--log-file F] [--port-file F] [--json] [--no-auth] [--paused] [--hook-secret NAME]\n\n"
           "  POST /events/NAME   (X-Flow-User, Idempotency-Key)  -> 202 {\"runs\": [...], \"skipped\": [...]}\n"
           "                      (every deployed workflow listening to NAME that the user enabled)\n"
           "  POST /hooks/WORKFLOW/USER  request trigger: 200 with the run's output, 500, or 202 after --hook-timeout\n"
           "  GET  /runs/ID, /healthz, /metrics\n"
           "  /api/users/ID[/connections/INTEGRATION|/workflows/W], /api/workflows[/W/deploy|undeploy]\n"
           "A bearer token (--token-file F or FLOW_API_TOKEN) is required on all but /healthz;\n"
           "without one, serve listens only on a loopback address (127.0.0.1, [::1], localhost),\n"
           "unauthenticated (--no-auth: on any address).\n"
           "SIGTERM drains (exit 0), SIGHUP reopens --log-file. See docs/serve.md.\n",
           wf->name);
}

static int parse_opts(const rt_workflow *wf, int argc, char **argv, serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workers = 64;
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
            const rt_project *proj = rt_host_project();
            for (int w = 0; w < proj->nworkflows; w++)
                for (int k = 0; k < proj->workflows[w]->nsecrets; k++)
                    declared |= strcmp(proj->workflows[w]->secrets[k], v) == 0;
            if (!declared) return usage_error(wf, "--hook-secret names a secret the workflow declares (secrets { ... }), not '%s'", v);
            o->hook_secret = v;
        }
        else if (strcmp(a, "--workers") == 0 || strcmp(a, "--max-concurrent-runs") == 0) {
            o->workers = atoi(v);
            if (o->workers < 1 || o->workers > 1024) return usage_error(wf, "--workers is 1 to 1024, not '%s'", v);
            /* --max-concurrent-runs: the same bound, by its name in the issue of queue limits */
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = atoi(v);
            if (o->threads < 1 || o->threads > 64) return usage_error(wf, "--threads is 1 to 64, not '%s'", v);
        } else if (strcmp(a, "--max-queued") == 0) {
            char *end;
            o->max_queued = strtol(v, &end, 10);
            if (*end || end == v || o->max_queued < 1)
                return usage_error(wf, "--max-queued is a number of queued runs (1 or more), not '%s'", v);
        } else if (strcmp(a, "--max-user-runs") == 0) {
            o->max_user_runs = atoi(v);
            if (o->max_user_runs < 0) return usage_error(wf, "--max-user-runs is a count, not '%s'", v);
        } else if (strcmp(a, "--max-body") == 0) {
            if (!parse_size(v, &o->max_body) || o->max_body < 1) return usage_error(wf, "--max-body is a size (1048576, 64k, 1M), not '%s'", v);
        } else if (strcmp(a, "--hook-timeout") == 0) {
            if (!rt_parse_duration(v, &o->hook_timeout_ms)) return usage_error(wf, "--hook-timeout is a duration (30s, 500ms), not '%s'", v);
        } else if (strcmp(a, "--drain-timeout") == 0) {
            if (!rt_parse_duration(v, &o->drain_timeout_ms)) return usage_error(wf, "--drain-timeout is a duration (30s, 500ms), not '%s'", v);
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
    for (size_t i = 0; i < sv->held.cap; i++) free(sv->held.slots[i].text);
    free(sv->held.slots);
    free(sv->workers);
    free(sv->scheds_co);
    free(sv->sched_running);
    free(sv->sched_promised);
    free(sv->scheds);
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

/* The recent drain rate (runs ended per second), sampled about once a
** second for a 429's Retry-After. */
static void rate_tick(serve *sv)
{
    int64_t now = rt_mono_ms();
    if (now - sv->rate_at < 1000) return;
    pthread_mutex_lock(&sv->mlock);
    double r = sv->rate_at ? (double)(sv->ended_total - sv->rate_mark) * 1000.0 / (double)(now - sv->rate_at) : 0;
    sv->drain_rate = sv->rate_at ? 0.5 * sv->drain_rate + 0.5 * r : r;
    sv->rate_mark = sv->ended_total;
    pthread_mutex_unlock(&sv->mlock);
    sv->rate_at = now;
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
    rt_serve_workers_wake(sv);
    stop_committer(sv);                 /* accepts already received are stored and answered */

    bool clean = false;
    while (rt_mono_ms() - t0 < sv->o.drain_timeout_ms) {
        pthread_mutex_lock(&sv->qlock);
        clean = sv->running == 0;
        pthread_mutex_unlock(&sv->qlock);
        if (clean) break;
        rt_serve_hooks_expire(sv, false);
        nap_ms(20);
    }
    rt_serve_hooks_expire(sv, true);
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
        sv->token = rt_read_credential(o->token_file, "token", err, sizeof err);
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
    /* schedules: before any thread, since the zone sets TZ (one zone per process) */
    const rt_project *proj = rt_host_project();
    const char *zone = NULL, *zone_of = NULL;
    for (int i = 0; i < proj->nworkflows; i++) {
        const rt_workflow *w = proj->workflows[i];
        if (w->trigger != RT_TRIG_SCHEDULE) continue;
        sv->scheds = rt_xrealloc(sv->scheds, sizeof *sv->scheds * (size_t)(sv->nscheds + 1));
        serve_sched *sc = &sv->scheds[sv->nscheds++];
        memset(sc, 0, sizeof *sc);
        sc->wf = w;
        sc->next_fire = -1;
        if (!w->cron || !rt_cron_parse(w->cron, &sc->cron, err, sizeof err)) {
            fprintf(stderr, "%s: trigger schedule of %s: %s\n", wf->name, w->name, w->cron ? err : "no cron expression");
            serve_free(sv);
            return SERVE_EXIT_USAGE;
        }
        const char *z = w->zone ? w->zone : "UTC";
        if (zone && strcmp(zone, z) != 0) {
            fprintf(stderr, "%s: the schedules of %s (%s) and %s (%s) are in different time zones: one serve keeps "
                            "one zone (put them in one zone, or in separate projects)\n", wf->name, zone_of, zone,
                    w->name, z);
            serve_free(sv);
            return SERVE_EXIT_USAGE;
        }
        zone = z;
        zone_of = w->name;
    }
    if (zone && !rt_cron_set_zone(strcmp(zone, "UTC") == 0 ? NULL : zone, err, sizeof err)) {
        fprintf(stderr, "%s: trigger schedule of %s: %s\n", wf->name, zone_of, err);
        serve_free(sv);
        return SERVE_EXIT_USAGE;
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
    rt_host_migrate(sv->st, sv->state_dir);    /* user records of an earlier layout, once */

    rt_signal_install();          /* SIGTERM/SIGINT: the engine and the main loop see it */
    struct sigaction hup = { 0 }, old_hup;
    hup.sa_handler = on_hup;
    sigemptyset(&hup.sa_mask);
    hup.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &hup, &old_hup);

    rt_owner_set_cmd("serve");
    rt_serve_sweep(sv, true);                    /* before accepting: the unfinished runs, then new ones */
    sv->next_sweep = rt_mono_ms() + SWEEP_MS;
    rt_serve_schedule_start(sv);
    pthread_create(&sv->committer, NULL, rt_serve_committer_main, sv);
    sv->committer_started = true;
    unsigned pool = sv->o.workers > 4 ? 4 : 2;
    sv->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                                   (v6 ? MHD_USE_IPv6 : 0),
                               0, NULL, NULL, rt_serve_on_request, sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                               MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_NOTIFY_COMPLETED, rt_serve_on_completed, sv,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)10000, MHD_OPTION_LISTEN_BACKLOG_SIZE,
                               (unsigned)4096, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!sv->mhd) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", wf->name, o->listen, strerror(errno));
        stop_committer(sv);
        rt_store_close(sv->st);
        close(lock_fd);
        sigaction(SIGHUP, &old_hup, NULL);
        rt_signal_restore();
        serve_free(sv);
        return SERVE_EXIT_USAGE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(sv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    /* runs are coroutines: --workers of them on a thread per CPU (at most) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o->threads ? o->threads : cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
    if (threads > o->workers) threads = o->workers;
    sv->per_thread = (o->workers + threads - 1) / threads;
    sv->nworkers = o->paused ? 0 : threads;     /* paused: runs wait in the queue */
    sv->workers = rt_xcalloc((size_t)sv->nworkers + 1, sizeof *sv->workers);
    sv->scheds_co = rt_xcalloc((size_t)sv->nworkers + 1, sizeof *sv->scheds_co);
    sv->sched_running = rt_xcalloc((size_t)sv->nworkers + 1, sizeof *sv->sched_running);
    sv->sched_promised = rt_xcalloc((size_t)sv->nworkers + 1, sizeof *sv->sched_promised);
    for (int i = 0; i < sv->nworkers; i++) pthread_create(&sv->workers[i], NULL, rt_serve_worker_main, sv);
    if (!sv->token && !o->no_auth)      /* loopback without a token: say so, once, before the port file */
        rt_log_emit(NULL, "warning", json_pack("{s:s, s:s}", "event", "unauthenticated", "listen", o->listen),
                    "the API is unauthenticated: no token is configured, and loopback %s is reachable only from "
                    "this machine; to require a token, give --token-file FILE or set FLOW_API_TOKEN",
                    o->listen);
    if (o->port_file) write_port_file(o->port_file, port);
    rt_log_emit(NULL, "info",
                json_pack("{s:s, s:s, s:i, s:i, s:i, s:s}", "event", "listening", "listen", o->listen, "port", (int)port,
                          "workers", o->workers, "threads", sv->nworkers, "version", wf->version),
                "serving %s (version %s) on port %u with %d workers on %d threads%s", wf->name, wf->version, port,
                o->paused ? 0 : o->workers, sv->nworkers,
                o->paused ? " (paused: runs are queued, not started)" : "");
    rt_log_flush();
    char ready[128];
    snprintf(ready, sizeof ready, "READY=1\nSTATUS=serving on port %u\nMAINPID=%d", port, (int)getpid());
    sd_notify_msg(ready);

    while (!rt_signal_interrupted()) {
        if (got_hup) {
            got_hup = 0;
            if (o->log_file && !open_log_file(o->log_file))
                rt_log_emit(NULL, "error", NULL, "cannot reopen log file %s: %s", o->log_file, strerror(errno));
            else rt_log_emit(NULL, "info", json_pack("{s:s}", "event", "log_reopened"), "SIGHUP: log file reopened");
        }
        rt_serve_wake_due(sv);
        rt_serve_schedule_tick(sv);
        rt_serve_hooks_expire(sv, false);
        rate_tick(sv);
        if (rt_mono_ms() >= sv->next_sweep) {
            rt_serve_sweep(sv, false);
            sv->next_sweep = rt_mono_ms() + SWEEP_MS;
        }
        rt_log_flush();
        nap_ms(20);
    }
    rc = drain(sv);
    rt_store_close(sv->st);
    close(lock_fd);
    sigaction(SIGHUP, &old_hup, NULL);
    rt_signal_restore();
    serve_free(sv);
    rt_log_flush();
    rt_value_teardown();
    rt_log_teardown();
    return rc;
}

