/*
** rt_users_cli.h — [commands] `JOB users set|enable|disable|list|show|
** remove` over the project's users: a user's own secrets (sealed, never
** printed), an integration's credentials given to `users set` go to its
** connection, `enable|disable USER --workflow W [--settings F]` activates
** a workflow with settings validated against its schema (docs/project.md).
** Exit codes as rt_cli.h.
*/
#ifndef RT_USERS_CLI_H
#define RT_USERS_CLI_H

#include "rt_cli.h"

/* `JOB users ...`. */
int rt_users_cmd(const rt_workflow *wf, const rt_cli_opts *o);

#endif
