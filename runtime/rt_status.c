/*
** rt_status.c — [base] the names of the status words (rt_status.h).
*/
#include "rt_status.h"

#include <string.h>

static const char *const names[RT_ST_COUNT] = {
    [RT_ST_NONE] = "",
    [RT_ST_QUEUED] = "queued",
    [RT_ST_RUNNING] = "running",
    [RT_ST_WAITING] = "waiting",
    [RT_ST_SUCCEEDED] = "succeeded",
    [RT_ST_FAILED] = "failed",
    [RT_ST_INTERRUPTED] = "interrupted",
    [RT_ST_RETRYING] = "retrying",
    [RT_ST_UNREADABLE] = "unreadable",
    [RT_ST_REPLAYED] = "replayed",
    [RT_ST_MISSING] = "missing",
    [RT_ST_SKIPPED] = "skipped",
};

const char *rt_status_name(rt_status s)
{
    return s > RT_ST_NONE && s < RT_ST_COUNT ? names[s] : "";
}

rt_status rt_status_parse(const char *s)
{
    if (!s || !*s) return RT_ST_NONE;
    for (int i = RT_ST_NONE + 1; i < RT_ST_COUNT; i++)
        if (strcmp(s, names[i]) == 0) return (rt_status)i;
    return RT_ST_NONE;
}

rt_status rt_status_of(const json_t *rec)
{
    return rt_status_parse(json_string_value(json_object_get(rec, "status")));
}

json_t *rt_status_json(rt_status s)
{
    return json_string(rt_status_name(s));
}

bool rt_status_is_run(rt_status s)
{
    return (s >= RT_ST_QUEUED && s <= RT_ST_INTERRUPTED) || s == RT_ST_SKIPPED;
}

bool rt_status_finished(rt_status s)
{
    return s == RT_ST_SUCCEEDED || s == RT_ST_FAILED || s == RT_ST_SKIPPED;
}
