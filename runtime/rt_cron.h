/*
** rt_cron.h — [base] cron expressions and their fire times in an IANA time zone,
** for `trigger schedule "cron" "zone"` under `JOB serve`. flowc links this
** file too: `flowc check` validates a schedule with the parser that fires it.
**
** Syntax: 5 fields (minute hour day-of-month month day-of-week) or 6
** (seconds first). A field is `*`, N, N-M, a step (`*` or N-M or N, then /K),
** or a comma list of those; months JAN-DEC and days SUN-SAT by name (any
** case), day-of-week 7 is Sunday too; `?` is `*`. Macros: @yearly
** @annually @monthly @weekly @daily @midnight @hourly. When both
** day-of-month and day-of-week are restricted a day matching either fires
** (Vixie cron).
**
** Time zones come from the TZ database (/usr/share/zoneinfo, $TZDIR) through
** the C library: rt_cron_set_zone sets TZ for the whole process. Across
** daylight-saving changes each wall-clock time fires once: a time skipped
** by a spring-forward change fires at the change, a time repeated by a
** fall-back change fires at its first occurrence only.
*/
#ifndef RT_CRON_H
#define RT_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rt_cron {
    uint64_t sec, min;          /* bit i: second/minute i */
    uint32_t hour;              /* bit i: hour i */
    uint32_t dom;               /* bit i: day of month i (1..31) */
    uint16_t mon;               /* bit i: month i (1..12) */
    uint8_t dow;                /* bit i: weekday i (0 = Sunday) */
    bool dom_any, dow_any;      /* the field was `*` (or `?`) */
} rt_cron;

/* Parses expr into c; false with a message naming the field in err. */
bool rt_cron_parse(const char *expr, rt_cron *c, char *err, size_t n);

/* Whether zone ("Europe/Paris", "UTC"; NULL = UTC) is in the TZ database;
** false with a message in err. (flowc check asks it too.) */
bool rt_cron_zone_check(const char *zone, char *err, size_t n);

/* Makes zone ("Europe/Paris", "UTC"; NULL = UTC) the process's local time
** zone. Call before starting threads (it sets TZ). False with a message
** when the TZ database has no such zone. */
bool rt_cron_set_zone(const char *zone, char *err, size_t n);

/* The first fire time of c strictly after `after` (seconds since the
** epoch) in the zone of rt_cron_set_zone, or -1 when there is none within
** five years (a 31st of February). */
int64_t rt_cron_next(const rt_cron *c, int64_t after);

#endif
