/*
** rt_serve_sched.c — [drivers] serve's trigger schedules: one per workflow
** of the project that has one; the next fire of its cron, one run per user
** who may run it at each fire (none while it is undeployed), missed fires
** caught up once at start-up, a fire the store refused tried again.
*/
#include "rt_serve_sched.h"

#include "rt_host.h"
#include "rt_host_users.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_store.h"
#include "rt_util.h"
#include "rt_serve_queue.h"

/* ---- trigger schedule ---------------------------------------------------- */

/* The meta key of a schedule's last fire: "cron:last" for a project of
** one (as before), "cron:last:WORKFLOW" in a project. */
static void cron_key(const serve_sched *sc, char *key, size_t n)
{
    const rt_project *p = rt_host_project();
    if (p->nworkflows == 1) snprintf(key, n, "cron:last");
    else snprintf(key, n, "cron:last:%s", sc->wf->name);
}

/* One fire of sc's workflow at T (seconds): a queued run per user who may
** run it (rt_host_ineligible; none while it is undeployed), committed with
** its "cron:last" in one transaction, so a fire happens completely or not
** at all. False when it was not stored (the caller tries again). */
static bool schedule_fire(serve *sv, serve_sched *sc, int64_t t, bool catch_up)
{
    const rt_workflow *wf = sc->wf;
    bool deployed = rt_host_deployed(sv->st, wf->name);
    json_t *users = deployed ? rt_store_list_users(sv->st) : json_array();
    size_t n = json_array_size(users);
    rt_store_write *w = rt_xcalloc(n + 1, sizeof *w);
    json_t *recs = json_array();
    size_t nw = 0;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) {
        const char *user = json_string_value(json_object_get(u, "id"));
        char why[700];
        if (!user) continue;
        json_t *legacy;
        json_t *act = rt_host_activation(u, wf, &legacy);
        bool wanted = act != NULL;
        json_decref(legacy);
        if (rt_host_ineligible(u, user, wf, false, why, sizeof why)) {
            if (wanted) rt_log_emit(NULL, "info", NULL, "schedule %s: no run for user %s: %s", wf->name, user, why);
            continue;
        }
        json_t *settings = rt_host_run_settings(u, wf, why, sizeof why);
        if (!settings) {
            rt_log_emit(NULL, "warning", NULL, "schedule %s: no run for user %s: %s", wf->name, user, why);
            continue;
        }
        json_t *payload = json_object();
        rt_host_trigger_defaults(wf, payload, t * 1000);    /* trigger.time: the scheduled time */
        json_t *rec = rt_host_new_run(wf, user, payload, settings, "schedule");
        json_decref(payload);
        json_decref(settings);
        json_object_set_new(rec, "scheduled_at", json_integer(t * 1000));
        json_object_set_new(rec, "catch_up", json_boolean(catch_up));
        rt_owner_stamp(rec);
        json_array_append_new(recs, rec);
        w[nw] = (rt_store_write){ .run_id = json_string_value(json_object_get(rec, "id")), .run = rec };
        nw++;
    }
    char key[300];
    cron_key(sc, key, sizeof key);
    json_t *meta = json_pack("{s:I}", key, (json_int_t)t);
    char err[512], when[40];
    rt_format_time(t * 1000, when, sizeof when);
    bool ok = rt_store_commit_many(sv->st, w, nw, meta, err, sizeof err);
    if (!ok) {
        rt_log_emit(NULL, "error", NULL, "schedule %s: the fire of %s was not stored (it is tried again): %s", wf->name,
                    when, err);
    } else {
        rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s, s:i, s:b}", "event", "schedule", "workflow", wf->name, "at",
                                            when, "runs", (int)nw, "catch_up", catch_up),
                    "schedule %s: %s%s: %zu run%s queued%s", wf->name, catch_up ? "missed fire of " : "fire of ", when,
                    nw, nw == 1 ? "" : "s", deployed ? "" : " (undeployed: no runs)");
        for (size_t k = 0; k < nw; k++) {
            json_t *rec = json_array_get(recs, k);
            rt_serve_queue_push(sv, json_string_value(json_object_get(rec, "id")), json_string_value(json_object_get(rec, "user")),
                       true);
        }
        pthread_mutex_lock(&sv->mlock);
        sv->fires++;
        pthread_mutex_unlock(&sv->mlock);
    }
    json_decref(meta);
    json_decref(recs);
    json_decref(users);
    free(w);
    return ok;
}

/* A fire that was not stored is tried again after 1 s, 2 s, ... 30 s;
** next_fire stays, so the latest fire due by then is the one stored. */
static void schedule_failed(serve_sched *sc)
{
    int64_t ms = 1000;
    for (int i = 0; i < sc->fire_failures && ms < 30000; i++) ms *= 2;
    sc->fire_failures++;
    sc->fire_retry_at = rt_now_ms() + (ms > 30000 ? 30000 : ms);
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
static void schedule_start(serve *sv, serve_sched *sc)
{
    int64_t now = rt_now_ms() / 1000;
    char key[300];
    cron_key(sc, key, sizeof key);
    json_t *last = rt_store_get_meta(sv->st, key);
    if (json_is_integer(last) && json_integer_value(last) < now) {
        int64_t from = json_integer_value(last), missed = -1;
        /* look back a minute, a day, a month, a year, 5 years: an
        ** every-second schedule down for a week is no million-step walk */
        static const int64_t windows[] = { 60, 86400, 31 * 86400, 366 * 86400, 5 * 366 * 86400LL };
        for (size_t i = 0; i < sizeof windows / sizeof windows[0] && missed < 0; i++) {
            int64_t start = now - windows[i] > from ? now - windows[i] : from;
            missed = latest_fire(&sc->cron, start, now);
            if (start == from) break;
        }
        if (missed >= 0 && !schedule_fire(sv, sc, missed, true)) {
            sc->next_fire = missed;     /* schedule_tick tries it again */
            sc->next_catch_up = true;
            schedule_failed(sc);
            json_decref(last);
            return;
        }
    }
    json_decref(last);
    sc->next_fire = rt_cron_next(&sc->cron, now);
    char when[40] = "never";
    if (sc->next_fire >= 0) rt_format_time(sc->next_fire * 1000, when, sizeof when);
    const rt_workflow *wf = sc->wf;
    rt_log_emit(NULL, "info", json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "schedule", "workflow", wf->name, "cron",
                                        wf->cron, "zone", wf->zone ? wf->zone : "UTC", "next", when),
                "schedule %s \"%s\" in %s: next fire %s", wf->name, wf->cron, wf->zone ? wf->zone : "UTC", when);
}

void rt_serve_schedule_tick(serve *sv)
{
    for (int k = 0; k < sv->nscheds; k++) {
        serve_sched *sc = &sv->scheds[k];
        if (sc->next_fire < 0) continue;
        int64_t now_ms = rt_now_ms(), now = now_ms / 1000;
        if (now < sc->next_fire || now_ms < sc->fire_retry_at) continue;
        int64_t t = sc->next_fire, late = latest_fire(&sc->cron, t, now);
        if (late >= 0) t = late;
        if (!schedule_fire(sv, sc, t, sc->next_catch_up || t != sc->next_fire)) {
            schedule_failed(sc);        /* not stored: not fired; tried again */
            continue;
        }
        sc->fire_failures = 0;
        sc->fire_retry_at = 0;
        sc->next_catch_up = false;
        sc->next_fire = rt_cron_next(&sc->cron, t > now ? t : now);
    }
}

void rt_serve_schedule_start(serve *sv)
{
    for (int i = 0; i < sv->nscheds; i++) schedule_start(sv, &sv->scheds[i]);
}
