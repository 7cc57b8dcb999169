/*
** rt_value.h — [engine] the expression helpers behind flowrt.h's "values"
** section (rt_null ... rt_call, rt_param_*): literals, field access,
** operators, interpolation, built-in functions.
**
** Every json_t * an rt_* value function returns is BORROWED from the pool of
** the rt_ctx it was made in (rt_ctx_pool); the pool drops its references
** when the ctx ends. Expression errors (a type mismatch on json operands, an
** overflow) do not return early: they are raised on the ctx (rt_ctx_raise),
** the expression yields null, and the run stops at its next step or
** statement. Literals (rt_strk, rt_intk) are made once per process
** instead, and live until rt_value_teardown. The JSON helpers under them
** are rt_json.h's.
*/
#ifndef RT_VALUE_H
#define RT_VALUE_H

#include "flowrt.h"
#include "rt_json.h"

/* Releases the literals rt_strk and rt_intk made (their slots emptied):
** when rt_main returns, before the job's code may be unloaded. */
void rt_value_teardown(void);

#endif
