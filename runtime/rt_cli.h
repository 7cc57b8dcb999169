/*
** rt_cli.h — the job binary's command line: rt_main (declared in flowrt.h)
** parses `JOB run|resume|info|history|show ...`, prepares runs and hands
** them to the engine (rt_exec.h). Nothing else is exported.
**
** Exit codes: 0 ok, 1 run failed, 2 usage or bad input, 75 interrupted.
*/
#ifndef RT_CLI_H
#define RT_CLI_H

#include "flowrt.h"

enum { RT_EXIT_OK = 0, RT_EXIT_FAILED = 1, RT_EXIT_USAGE = 2, RT_EXIT_INTERRUPTED = 75 };

#endif
