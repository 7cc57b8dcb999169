/*
** rt_host_cli.h — [commands] the project's commands on the job binary's
** command line: `run` (development runs, a user's runs of every workflow an
** event starts, Test Step), `connect`, `disconnect`, `workflows ...` over
** every workflow of the project (docs/project.md). Each parses its options
** and calls the host (rt_host.h, rt_host_conn.h), as serve's /api does.
** `info` is rt_host_info.h's, `users ...` rt_users_cli.h's.
**
** face: the workflow the command line is run as (rt_project_main,
** rt_main.c): a project of one's workflow, or a stand-in named after the
** project (its name names the state, ./NAME.state, and the messages).
**
** Exit codes as rt_cli.h: 0 ok, 1 a run failed (or the store), 2 usage or
** bad input (a refused user, settings, connection), 75 interrupted.
*/
#ifndef RT_HOST_CLI_H
#define RT_HOST_CLI_H

#include "rt_cli.h"

int rt_host_cli_run(const rt_workflow *face, const rt_cli_opts *o);
/* connect, disconnect, workflows list|deploy|undeploy */
int rt_host_cli_cmd(const rt_workflow *face, const rt_cli_opts *o);

#endif
