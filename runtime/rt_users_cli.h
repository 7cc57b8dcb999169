/*
** rt_users_cli.h — [commands] `JOB users set|enable|disable|list|show|
** remove`: connected users' settings (validated against the workflow's
** schema) and secrets (sealed, never printed). Exit codes as rt_cli.h.
*/
#ifndef RT_USERS_CLI_H
#define RT_USERS_CLI_H

#include "rt_cli.h"

/* `JOB users ...`. */
int rt_users_cmd(const rt_workflow *wf, const rt_cli_opts *o);

#endif
