/*
** rt_users.h — [services] connected users' records: their settings and
** whether they are enabled. Their sealed secrets are rt_secrets.h's.
*/
#ifndef RT_USERS_H
#define RT_USERS_H

#include "flowrt.h"
#include "rt_store.h"

/* The record of user (NEW reference) when it exists and is enabled; else
** NULL with "unknown user ..." / "user ... is disabled" in err. */
json_t *rt_users_get_enabled(rt_store *st, const rt_workflow *wf, const char *user, char *err, size_t n);

#endif
