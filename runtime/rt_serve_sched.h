/*
** rt_serve_sched.h — [drivers] serve's the trigger schedule (rt_serve_sched.c).
** Internal to rt_serve*.c.
*/
#ifndef RT_SERVE_SCHED_H
#define RT_SERVE_SCHED_H

#include "rt_serve_state.h"

/* At start-up: the fire missed while the process was down runs once (the
** latest one); then the next fire is the first after now. */
void rt_serve_schedule_start(serve *sv);
/* From the main loop: fires when due (once, for the latest due time, when
** the process fell behind by more than a period). */
void rt_serve_schedule_tick(serve *sv);

#endif
