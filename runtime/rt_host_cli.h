/*
** rt_host_cli.h — the project's commands on the job binary's command line:
** rt_project_main (flowrt.h), and `run`, `info`, `users ...`, `connect`,
** `disconnect`, `workflows ...` over every workflow of the project
** (docs/project.md). Each parses its options and calls the host
** (rt_host.h, rt_host_conn.h), as serve's /api does.
**
** face: the workflow the command line is run as (rt_cli_main's wf): a
** project of one's workflow, or a stand-in named after the project (its
** name names the state, ./NAME.state, and the messages).
**
** Exit codes as rt_cli.h: 0 ok, 1 a run failed (or the store), 2 usage or
** bad input (a refused user, settings, connection), 75 interrupted.
*/
#ifndef RT_HOST_CLI_H
#define RT_HOST_CLI_H

#include "rt_cli.h"

int rt_host_cli_run(const rt_workflow *face, const rt_cli_opts *o);
int rt_host_cli_info(const rt_workflow *face, const rt_cli_opts *o);
int rt_host_cli_users(const rt_workflow *face, const rt_cli_opts *o);
/* connect, disconnect, workflows list|deploy|undeploy */
int rt_host_cli_cmd(const rt_workflow *face, const rt_cli_opts *o);

/* One workflow as `info --json` and GET /api/workflows show it (NEW):
** name, description, version, trigger, settings, secrets, integrations
** (auth, connection fields), deployed (st may be NULL: no state yet). */
json_t *rt_host_workflow_info(rt_store *st, const rt_workflow *wf);

#endif
