/*
** rt_serve_sched.c — [drivers] serve's trigger schedule: the next fire of
** the workflow's cron, one run per enabled user at each fire, missed fires
** caught up once at start-up, a fire the store refused tried again.
*/
#include "rt_serve_sched.h"

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
#include "rt_serve_queue.h"

/* ---- trigger schedule ---------------------------------------------------- */


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
        /* a damaged record goes on: rt_serve_user_settings says why it gets no run */
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
        json_t *settings = rt_serve_user_settings(sv, user, &code, err, sizeof err);
        if (!settings) {
            rt_log_emit(NULL, "warning", NULL, "schedule: no run for user %s: %s", user ? user : "-", err);
            continue;
        }
        rt_store_new_run_id(ids[nw]);
        json_t *payload = json_object();
        rt_cli_trigger_defaults(wf, payload, t * 1000);
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o, s:s, s:i, s:I, s:I, s:s, s:I, s:b}", "id", ids[nw],
                                "workflow", wf->name, "version", wf->version, "user", user, "trigger", payload,
                                "settings", settings, "status", rt_status_name(RT_ST_QUEUED), "attempt", 1, "created", (json_int_t)now,
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
            rt_serve_queue_push(sv, ids[k], json_string_value(json_object_get(json_array_get(recs, k), "user")), true);
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
void rt_serve_schedule_start(serve *sv)
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
            sv->next_fire = missed;     /* rt_serve_schedule_tick tries it again */
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
void rt_serve_schedule_tick(serve *sv)
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

