/*
** rt_steps.h — [engine] the step calls of generated code: rt_request,
** rt_function, rt_fanout and rt_step_given (declared in flowrt.h, which
** states their contract), and Test Step (`run --step NAME --input FILE`):
** only the step NAME runs, every other step's output comes from --input
** (checked against its type) or counts as not run.
*/
#ifndef RT_STEPS_H
#define RT_STEPS_H

#include "rt_step.h"

#endif
