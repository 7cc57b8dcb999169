/*
** rt_stmt.h — [engine] statements: rt_return, rt_fail, rt_log, rt_wait and
** rt_wait_until (declared in flowrt.h). A wait is a checkpoint of its own
** ("wait@LINE"): a resumed run does not wait again for time already
** waited, and a long wait under serve suspends the run (rt_ctx.h's
** durable sleep).
*/
#ifndef RT_STMT_H
#define RT_STMT_H

#include "rt_ctx.h"

#endif
