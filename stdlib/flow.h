/*
** flow.h — what a function step's C body sees.
**
** A function step is the body of a C function that returns a new json_t *
** (jansson's value API), checked at run time against the step's declared
** output type. To end the step without a value, return one of:
**   flow_fail("fmt", ...)    permanent failure: no retry
**   flow_retry("fmt", ...)   retryable failure: retried per the step's retry clause
** Both record the message and return NULL. They do not leave the body by
** themselves, but once either was called the attempt fails (or is retried)
** whatever the body returns afterwards: a value returned after them is
** dropped. flowc ends every body with `return NULL;`, so a bare
** `flow_fail("...");` as the last statement is enough.
**
** Ownership: parameters of type json (and lists, objects, optionals) are
** borrowed `const json_t *` valid for the call; strings are borrowed
** `const char *` (NULL for a null optional). The returned value is a new
** reference that the runtime takes over.
*/
#ifndef FLOW_H
#define FLOW_H

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __TINYC__
/* jansson's inline json_incref/json_decref use __atomic builtins that tcc
** 0.9.27 lacks: route them to gcc-compiled runtime functions with real
** atomics, so refcounts stay atomic across threads. */
size_t flow_atomic_add_fetch(size_t *p, size_t v);
size_t flow_atomic_sub_fetch(size_t *p, size_t v);
#define __atomic_add_fetch(p, v, order) flow_atomic_add_fetch((size_t *)(p), (v))
#define __atomic_sub_fetch(p, v, order) flow_atomic_sub_fetch((size_t *)(p), (v))
#ifndef __ATOMIC_ACQUIRE
#define __ATOMIC_ACQUIRE 2
#define __ATOMIC_RELEASE 3
#endif
#endif

#include <jansson.h>

/* Failing a step (see above). Both return NULL. */
json_t *flow_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *flow_retry(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line in the run's history, from inside a function step. */
void flow_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
