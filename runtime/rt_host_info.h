/*
** rt_host_info.h — [commands] what a project holds: `JOB info [--json]`
** and the view of one workflow GET /api/workflows answers with.
*/
#ifndef RT_HOST_INFO_H
#define RT_HOST_INFO_H

#include "rt_cli.h"

/* `info`: every workflow of the project with its trigger, version,
** settings, secrets, integrations, deployed flag and the state's
** unfinished runs by version. */
int rt_host_cli_info(const rt_workflow *face, const rt_cli_opts *o);

/* One workflow as `info --json` and GET /api/workflows show it (NEW):
** name, description, version, trigger, settings, secrets, integrations
** (auth, connection fields), deployed (st may be NULL: no state yet). */
json_t *rt_host_workflow_info(rt_store *st, const rt_workflow *wf);

#endif
