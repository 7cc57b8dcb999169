/*
** rt_cron.c — [base] cron expressions (5 or 6 fields) and their next fire time in
** an IANA zone, daylight-saving changes included (rules in rt_cron.h).
**
** The search walks wall-clock time ("local fields as if they were UTC", so
** timegm/gmtime_r do the calendar arithmetic), skipping whole months, days,
** hours and minutes that cannot match; a matching wall time is then turned
** into an instant with mktime, trying both DST flags and checking the round
** trip, which tells apart normal, repeated (fall-back) and skipped
** (spring-forward) times.
*/
#include "rt_cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

typedef struct field_spec {
    const char *name;
    int lo, hi;
    const char *const *names;   /* or NULL */
    int name_base;              /* value of names[0] */
} field_spec;

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                           "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL };

static const field_spec specs[] = {
    { "second", 0, 59, NULL, 0 },
    { "minute", 0, 59, NULL, 0 },
    { "hour", 0, 23, NULL, 0 },
    { "day of month", 1, 31, NULL, 0 },
    { "month", 1, 12, month_names, 1 },
    { "day of week", 0, 7, day_names, 0 },
};

/* A number or a name at *p; advances *p. */
static bool parse_value(const char **p, const field_spec *f, int *out)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
        *out = (int)v;
        *p = s;
        return true;
    }
    if (f->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) && isalpha((unsigned char)s[2]) &&
        !isalpha((unsigned char)s[3])) {
        for (int i = 0; f->names[i]; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->name_base + i;
                *p = s + 3;
                return true;
            }
        }
    }
    return false;
}

/* One field (NUL-terminated text) into bits; any = it starts with * or ?. */
static bool parse_field(const char *text, const field_spec *f, uint64_t *bits, bool *any, char *err, size_t n)
{
    *bits = 0;
    *any = text[0] == '*' || text[0] == '?';
    const char *p = text;
    for (;;) {
        int lo = f->lo, hi = f->hi, step = 1;
        bool range = false;
        if (*p == '*' || *p == '?') {
            p++;
            range = true;
        } else {
            if (!parse_value(&p, f, &lo)) goto bad;
            hi = lo;
            if (*p == '-') {
                p++;
                if (!parse_value(&p, f, &hi)) goto bad;
                range = true;
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p)) goto bad;
            long s = strtol(p, (char **)&p, 10);
            if (s < 1 || s > f->hi) {
                snprintf(err, n, "%s field '%s': step %ld is out of range", f->name, text, s);
                return false;
            }
            step = (int)s;
            if (!range) hi = f->hi;         /* N/K: from N to the end */
        }
        if (lo < f->lo || hi > f->hi) {
            snprintf(err, n, "%s field '%s': %d is outside %d-%d", f->name, text, lo < f->lo ? lo : hi, f->lo, f->hi);
            return false;
        }
        if (lo > hi) {
            snprintf(err, n, "%s field '%s': the range %d-%d runs backwards", f->name, text, lo, hi);
            return false;
        }
        for (int v = lo; v <= hi; v += step) *bits |= (uint64_t)1 << (f->hi == 7 && v == 7 ? 0 : v);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p) goto bad;
        return true;
    }
bad:
    snprintf(err, n, "%s field '%s' is not a value, range, step or list (e.g. *, 5, 1-5, */15, 1,15%s)", f->name,
             text, f->names ? (f->names == month_names ? ", JAN-MAR" : ", MON-FRI") : "");
    return false;
}

static const char *macro(const char *expr)
{
    static const struct { const char *name, *expr; } macros[] = {
        { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
        { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
        { "@hourly", "0 * * * *" },
    };
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (strcasecmp(expr, macros[i].name) == 0) return macros[i].expr;
    return NULL;
}

bool rt_cron_parse(const char *expr, rt_cron *c, char *err, size_t n)
{
    memset(c, 0, sizeof *c);
    while (isspace((unsigned char)*expr)) expr++;
    if (*expr == '@') {
        const char *m = macro(expr);
        if (!m) {
            snprintf(err, n, "unknown cron macro '%s' (@yearly @monthly @weekly @daily @hourly)", expr);
            return false;
        }
        expr = m;
    }
    char fields[6][64];
    int nf = 0;
    for (const char *p = expr; *p;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (nf == 6) {
            nf++;
            break;
        }
        size_t len = (size_t)(p - start);
        if (len >= sizeof fields[0]) {
            /* named by its position: quoting its start could split a character */
            snprintf(err, n, "cron field %d is too long (%zu bytes)", nf + 1, len);
            return false;
        }
        memcpy(fields[nf], start, len);
        fields[nf][len] = 0;
        nf++;
    }
    if (nf != 5 && nf != 6) {
        snprintf(err, n, "a cron expression has 5 fields (minute hour day month weekday) or 6 (seconds first), "
                 "not %s%d: '%s'", nf > 6 ? "more than " : "", nf > 6 ? 6 : nf, expr);
        return false;
    }
    int first = nf == 6 ? 0 : 1;        /* spec index of fields[0] */
    uint64_t bits[6] = { 1, 0, 0, 0, 0, 0 };    /* 5 fields: second 0 */
    bool any[6] = { false };
    for (int i = 0; i < nf; i++)
        if (!parse_field(fields[i], &specs[first + i], &bits[first + i], &any[first + i], err, n)) return false;
    c->sec = bits[0];
    c->min = bits[1];
    c->hour = (uint32_t)bits[2];
    c->dom = (uint32_t)bits[3];
    c->mon = (uint16_t)bits[4];
    c->dow = (uint8_t)bits[5];
    c->dom_any = any[3];
    c->dow_any = any[5];
    return true;
}

bool rt_cron_zone_check(const char *zone, char *err, size_t n)
{
    if (!zone || !*zone) zone = "UTC";
    if (zone[0] == '/' || strstr(zone, "..") || strlen(zone) > 200) {
        snprintf(err, n, "'%s' is not an IANA time zone name (like Europe/Paris)", zone);
        return false;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, n, "unknown time zone '%s' (not in %s; is tzdata installed?)", zone,
                 dir && *dir ? dir : "/usr/share/zoneinfo");
        return false;
    }
    return true;
}

bool rt_cron_set_zone(const char *zone, char *err, size_t n)
{
    if (!rt_cron_zone_check(zone, err, n)) return false;
    if (!zone || !*zone) zone = "UTC";
    char tz[256];
    snprintf(tz, sizeof tz, ":%s", zone);
    setenv("TZ", tz, 1);
    tzset();
    return true;
}

/* ---- fire times --------------------------------------------------------- */

/* Wall-clock fields as seconds, as if they were UTC: ordered like the wall clock. */
static int64_t wall_seconds(const struct tm *tm)
{
    struct tm t = *tm;
    return (int64_t)timegm(&t);
}

static void wall_fields(int64_t w, struct tm *tm)
{
    time_t t = (time_t)w;
    gmtime_r(&t, tm);
}

static int64_t wall_of_instant(int64_t u)
{
    time_t t = (time_t)u;
    struct tm tm;
    localtime_r(&t, &tm);
    return wall_seconds(&tm);
}

static bool day_matches(const rt_cron *c, const struct tm *tm)
{
    bool dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;
    if (!c->dom_any && !c->dow_any) return dom || dow;  /* both restricted: either */
    return dom && dow;
}

/* The lowest set bit at or above `from` in mask (below 64), or -1. */
static int next_bit(uint64_t mask, int from)
{
    for (int i = from; i < 64; i++)
        if ((mask >> i) & 1) return i;
    return -1;
}

/* The instant at which wall time w (wall seconds) fires after `after`:
** 1 with *out, or 0 when it must not fire (already passed: the second
** occurrence of a repeated time). */
static int wall_to_instant(int64_t w, int64_t after, int64_t *out)
{
    struct tm want;
    wall_fields(w, &want);
    int64_t best = INT64_MAX;
    for (int isdst = 0; isdst <= 1; isdst++) {
        struct tm tm = want;
        tm.tm_isdst = isdst;
        tm.tm_wday = tm.tm_yday = 0;
        time_t u = mktime(&tm);
        if (u == (time_t)-1) continue;
        if (wall_of_instant((int64_t)u) == w && (int64_t)u < best) best = (int64_t)u;
    }
    if (best == INT64_MAX) {
        /* skipped by a spring-forward change: fire at the change, the first
        ** instant whose wall clock is past w */
        int64_t lo = after, hi = after + 2 * 86400;
        if (wall_of_instant(hi) < w) return 0;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (wall_of_instant(mid) >= w) hi = mid;
            else lo = mid;
        }
        best = hi;
    }
    if (best <= after) return 0;
    *out = best;
    return 1;
}

int64_t rt_cron_next(const rt_cron *c, int64_t after)
{
    int64_t w = wall_of_instant(after) + 1;
    int64_t limit = w + 5LL * 366 * 86400;
    while (w < limit) {
        struct tm tm;
        wall_fields(w, &tm);
        if (!((c->mon >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
            w = wall_seconds(&tm);
            continue;
        }
        if (!day_matches(c, &tm)) {
            w = w - tm.tm_hour * 3600 - tm.tm_min * 60 - tm.tm_sec + 86400;
            continue;
        }
        if (!((c->hour >> tm.tm_hour) & 1)) {
            w = w - tm.tm_min * 60 - tm.tm_sec + 3600;
            continue;
        }
        if (!((c->min >> tm.tm_min) & 1)) {
            int m = next_bit(c->min, tm.tm_min);
            w = m < 0 ? w - tm.tm_min * 60 - tm.tm_sec + 3600 : w - tm.tm_sec + (m - tm.tm_min) * 60;
            continue;
        }
        int s = next_bit(c->sec, tm.tm_sec);
        if (s < 0) {
            w = w - tm.tm_sec + 60;
            continue;
        }
        if (s != tm.tm_sec) {
            w += s - tm.tm_sec;
            continue;
        }
        int64_t u;
        if (wall_to_instant(w, after, &u)) return u;
        w++;
    }
    return -1;
}
