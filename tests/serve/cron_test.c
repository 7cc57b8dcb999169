/*
** tests/serve/cron_test.c — unit tests of rt_cron.c (parsing, next fire
** times, IANA zones across DST changes). Prints PASS/FAIL lines.
** With a file argument (tests/check/cron_forms.txt), also fires every form
** the docs promise, which tests/check.sh checks with flowc check.
*/
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rt_cron.h"

static int failures;

static void check(bool ok, const char *name, const char *detail)
{
    if (ok) printf("PASS: cron %s\n", name);
    else printf("FAIL: cron %s: %s\n", name, detail);
    failures += !ok;
}

/* "2024-03-10T06:59:00Z" -> seconds. */
static int64_t utc(const char *s)
{
    struct tm tm = { 0 };
    sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static void fmt(int64_t t, char *out, size_t n)
{
    if (t < 0) {
        snprintf(out, n, "none");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* next(expr, zone, after) must be each of want[] in turn. */
static void expect_next(const char *name, const char *expr, const char *zone, const char *after, const char *const *want)
{
    rt_cron c;
    char err[256], got[64], detail[600];
    if (!rt_cron_parse(expr, &c, err, sizeof err)) {
        check(false, name, err);
        return;
    }
    if (!rt_cron_set_zone(zone, err, sizeof err)) {
        check(false, name, err);
        return;
    }
    int64_t t = utc(after);
    for (int i = 0; want[i]; i++) {
        t = rt_cron_next(&c, t);
        fmt(t, got, sizeof got);
        if (strcmp(got, want[i]) != 0) {
            snprintf(detail, sizeof detail, "'%s' in %s: fire %d after %s is %s, want %s", expr, zone, i + 1, after, got, want[i]);
            check(false, name, detail);
            return;
        }
    }
    check(true, name, "");
}

static void expect_error(const char *expr, const char *needle)
{
    rt_cron c;
    char err[256] = "", name[128], detail[400];
    bool ok = rt_cron_parse(expr, &c, err, sizeof err);
    snprintf(name, sizeof name, "rejects '%s'", expr);
    snprintf(detail, sizeof detail, "%s (want a message with \"%s\")", ok ? "accepted" : err, needle);
    check(!ok && strstr(err, needle), name, detail);
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n')) *--e = 0;
    return s;
}

/* Lines "EXPR | ZONE | AFTER | FIRE FIRE ...": each fires as written. */
static void expect_forms(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        check(false, "forms file", path);
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *cols[4] = { 0 };
        int n = 0;
        if (line[0] == '#' || !*trim(line)) continue;
        for (char *save = NULL, *p = strtok_r(line, "|", &save); p && n < 4; p = strtok_r(NULL, "|", &save))
            cols[n++] = trim(p);
        if (n != 4) {
            check(false, "forms file line", line);
            continue;
        }
        const char *want[8] = { 0 };
        int k = 0;
        for (char *save = NULL, *p = strtok_r(cols[3], " ", &save); p && k < 7; p = strtok_r(NULL, " ", &save))
            want[k++] = p;
        char name[160];
        snprintf(name, sizeof name, "documented form '%s' in %s fires", cols[0], cols[1]);
        expect_next(name, cols[0], cols[1], cols[2], want);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc > 1) expect_forms(argv[1]);
    expect_next("weekdays at 9", "0 9 * * MON-FRI", "UTC", "2024-06-01T00:00:00",
                L("2024-06-03T09:00:00Z", "2024-06-04T09:00:00Z"));
    expect_next("steps", "*/15 * * * *", "UTC", "2024-06-01T10:07:00", L("2024-06-01T10:15:00Z", "2024-06-01T10:30:00Z"));
    expect_next("seconds field", "*/10 * * * * *", "UTC", "2024-06-01T10:00:05",
                L("2024-06-01T10:00:10Z", "2024-06-01T10:00:20Z"));
    expect_next("lists and ranges with steps", "5,10-20/5 8 * * *", "UTC", "2024-06-01T08:06:00",
                L("2024-06-01T08:10:00Z", "2024-06-01T08:15:00Z", "2024-06-01T08:20:00Z", "2024-06-02T08:05:00Z"));
    expect_next("N/K runs to the end", "0 20/2 * * *", "UTC", "2024-06-01T00:00:00",
                L("2024-06-01T20:00:00Z", "2024-06-01T22:00:00Z", "2024-06-02T20:00:00Z"));
    expect_next("month names", "0 0 1 jan,JUL *", "UTC", "2024-02-01T00:00:00", L("2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"));
    expect_next("day of month or day of week", "0 0 13 * FRI", "UTC", "2024-09-10T00:00:00",
                L("2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z", "2024-10-04T00:00:00Z",
                  "2024-10-11T00:00:00Z", "2024-10-13T00:00:00Z"));
    expect_next("sunday is 0 and 7", "0 0 * * 7", "UTC", "2024-06-01T00:00:00", L("2024-06-02T00:00:00Z"));
    expect_next("leap day", "0 0 29 2 *", "UTC", "2023-03-01T00:00:00", L("2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"));
    expect_next("never (31 February)", "0 0 31 2 *", "UTC", "2024-01-01T00:00:00", L("none"));
    expect_next("@daily", "@daily", "UTC", "2024-06-01T12:00:00", L("2024-06-02T00:00:00Z"));
    expect_next("@hourly", "@hourly", "UTC", "2024-06-01T12:00:00", L("2024-06-01T13:00:00Z"));
    expect_next("zone: noon in Paris, summer and winter", "0 12 * * *", "Europe/Paris", "2024-10-26T00:00:00",
                L("2024-10-26T10:00:00Z", "2024-10-27T11:00:00Z"));
    expect_next("zone: 9:30 in Tokyo", "30 9 * * *", "Asia/Tokyo", "2024-06-01T00:00:00", L("2024-06-01T00:30:00Z", "2024-06-02T00:30:00Z"));
    expect_next("zone: half-hour offset (Kolkata)", "0 0 * * *", "Asia/Kolkata", "2024-06-01T00:00:00",
                L("2024-06-01T18:30:00Z"));
    /* New York: 2024-03-10 02:00 EST -> 03:00 EDT (07:00Z); 2024-11-03 02:00 EDT -> 01:00 EST (06:00Z) */
    expect_next("DST spring forward: a skipped time fires at the change", "30 2 * * *", "America/New_York",
                "2024-03-09T12:00:00", L("2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"));
    expect_next("DST spring forward: every minute fires once at the change", "* * * * *", "America/New_York",
                "2024-03-10T06:58:00", L("2024-03-10T06:59:00Z", "2024-03-10T07:00:00Z", "2024-03-10T07:01:00Z"));
    expect_next("DST fall back: a repeated time fires once", "30 1 * * *", "America/New_York", "2024-11-02T12:00:00",
                L("2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"));
    expect_next("DST fall back: hourly fires once per wall hour", "0 * * * *", "America/New_York",
                "2024-11-03T04:30:00", L("2024-11-03T05:00:00Z", "2024-11-03T07:00:00Z", "2024-11-03T08:00:00Z"));
    expect_next("DST: Europe/Berlin spring change at 2:00", "15 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00",
                L("2024-03-31T01:00:00Z", "2024-04-01T00:15:00Z"));
    expect_next("southern hemisphere DST (Sydney)", "0 9 * * *", "Australia/Sydney", "2024-04-05T00:00:00",
                L("2024-04-05T22:00:00Z", "2024-04-06T23:00:00Z"));

    expect_error("61 * * * *", "minute field '61'");
    expect_error("* 24 * * *", "hour field");
    expect_error("* * 0 * *", "day of month");
    expect_error("* * * 13 *", "month field");
    expect_error("* * * * 8", "day of week");
    expect_error("* * *", "5 fields");
    expect_error("* * * * * * *", "5 fields");
    expect_error("*/0 * * * *", "step");
    expect_error("5-1 * * * *", "backwards");
    expect_error("* * * FOO *", "month field 'FOO'");
    expect_error("@often", "unknown cron macro");
    expect_error("1,,2 * * * *", "minute field");

    rt_cron c;
    char err[256];
    check(!rt_cron_set_zone("Mars/Olympus", err, sizeof err) && strstr(err, "unknown time zone"), "unknown zone", err);
    check(!rt_cron_set_zone("../etc/passwd", err, sizeof err), "zone names stay in the TZ database", "accepted");
    check(rt_cron_parse("0 0 * * *", &c, err, sizeof err) && rt_cron_set_zone(NULL, err, sizeof err), "default zone UTC", err);
    return failures ? 1 : 0;
}
