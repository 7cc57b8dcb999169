/*
** rt_owner.c — [services] run ownership: who executes a run, whether that process
** lives, and claiming a run in one transaction (rt_owner.h).
*/
#include "rt_owner.h"

#include <pthread.h>
#include <unistd.h>

#include "rt_status.h"
#include "rt_util.h"

static const char *self_cmd = "run";

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static char boot_id[64];        /* "" when the kernel does not say */

static void read_boot_id(void)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    if (!fgets(boot_id, sizeof boot_id, f)) boot_id[0] = 0;
    fclose(f);
    boot_id[strcspn(boot_id, "\n")] = 0;
}

static const char *self_boot(void)
{
    pthread_once(&boot_once, read_boot_id);
    return boot_id;
}

/* This process's start time: looked up once per pid. */
static long long self_start(void)
{
    static int pid;
    static long long start = -1;
    int now = (int)getpid();
    if (__atomic_load_n(&pid, __ATOMIC_ACQUIRE) != now) {
        start = rt_process_start(now);
        __atomic_store_n(&pid, now, __ATOMIC_RELEASE);
    }
    return start;
}

void rt_owner_set_cmd(const char *cmd)
{
    self_cmd = cmd;
}

void rt_owner_stamp(json_t *rec)
{
    json_object_set_new(rec, "pid", json_integer(getpid()));
    json_object_set_new(rec, "pid_start", json_integer(self_start()));
    if (*self_boot()) json_object_set_new(rec, "pid_boot", json_string(self_boot()));
    json_object_set_new(rec, "pid_cmd", json_string(self_cmd));
}

rt_owner_state rt_owner_of(const json_t *rec)
{
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    if (pid <= 0 || pid > 0x7fffffff) return RT_OWNER_NONE;
    const char *boot = json_string_value(json_object_get(rec, "pid_boot"));
    if (boot && *self_boot() && strcmp(boot, self_boot()) != 0) return RT_OWNER_DEAD;    /* rebooted since */
    json_t *want = json_object_get(rec, "pid_start");
    if (pid == getpid())    /* this pid; the same process unless it was reused */
        return !json_is_integer(want) || json_integer_value(want) == self_start() ? RT_OWNER_SELF : RT_OWNER_DEAD;
    long long start = rt_process_start((int)pid);
    if (start < 0) return RT_OWNER_DEAD;            /* gone, or a zombie */
    return !json_is_integer(want) || json_integer_value(want) == start ? RT_OWNER_LIVE : RT_OWNER_DEAD;
}

const char *rt_owner_name(const json_t *rec, char *buf, size_t n)
{
    const char *cmd = json_string_value(json_object_get(rec, "pid_cmd"));
    snprintf(buf, n, "%s (pid %lld)", cmd ? cmd : "a process", (long long)json_integer_value(json_object_get(rec, "pid")));
    return buf;
}

/* ---- claiming ----------------------------------------------------------- */

typedef struct claim_arg {
    const json_t *mine;         /* the caller's copy */
    const char *id;
    rt_claim verdict;
    char *msg;
    size_t n;
    json_t *claimed;            /* owned: the record written (verdict OK) */
} claim_arg;

static bool started_status(const char *s)
{
    rt_status st = rt_status_parse(s);
    return st == RT_ST_RUNNING || st == RT_ST_INTERRUPTED || st == RT_ST_WAITING;
}

/* Inside the write transaction: the record to store, or NULL (verdict). */
static json_t *claim_update(const json_t *stored, void *arg)
{
    claim_arg *a = arg;
    json_decref(a->claimed);
    a->claimed = NULL;
    a->verdict = RT_CLAIM_OK;
    a->msg[0] = 0;
    json_t *rec;
    if (!stored) {
        rec = json_copy((json_t *)a->mine);        /* a new run */
    } else {
        const char *status = json_string_value(json_object_get(stored, "status"));
        if (rt_status_finished(rt_status_parse(status))) {
            a->verdict = RT_CLAIM_ENDED;
            snprintf(a->msg, a->n, "run %s has %s meanwhile", a->id, status);
            return NULL;
        }
        rt_owner_state owner = rt_owner_of(stored);
        if (owner == RT_OWNER_LIVE) {
            char who[96];
            a->verdict = RT_CLAIM_OWNED;
            snprintf(a->msg, a->n, "run %s is being executed by %s", a->id, rt_owner_name(stored, who, sizeof who));
            return NULL;
        }
        rec = json_copy((json_t *)stored);
        if (started_status(status) && owner != RT_OWNER_SELF)      /* an earlier process started it */
            json_object_set_new(rec, "attempt", json_integer(json_integer_value(json_object_get(stored, "attempt")) + 1));
    }
    json_object_set_new(rec, "status", rt_status_json(RT_ST_RUNNING));
    json_object_set_new(rec, "updated", json_integer(rt_now_ms()));
    rt_owner_stamp(rec);
    a->claimed = json_incref(rec);
    return rec;
}

rt_claim rt_owner_claim(rt_store *st, json_t *rec, char *msg, size_t n)
{
    claim_arg a = { .mine = rec, .id = json_string_value(json_object_get(rec, "id")), .msg = msg, .n = n };
    if (!a.id) {
        snprintf(msg, n, "a run record without an id");
        return RT_CLAIM_ERROR;
    }
    rt_store_write w = { .run_id = a.id, .update = claim_update, .update_arg = &a };
    char err[512];
    if (!rt_store_commit(st, &w, err, sizeof err)) {
        json_decref(a.claimed);
        snprintf(msg, n, "%s", err);
        return RT_CLAIM_ERROR;
    }
    if (a.verdict == RT_CLAIM_OK) {
        json_object_clear(rec);
        json_object_update(rec, a.claimed);
    }
    json_decref(a.claimed);
    return a.verdict;
}
