/*
** rt_type.h — [values] run-time type descriptors: the JSON type text flowc emits
** (see flowrt.h) parsed once, and values checked against it with messages
** that name the field path and the offending value.
*/
#ifndef RT_TYPE_H
#define RT_TYPE_H

#include "flowrt.h"

/* The parsed form of a type text: BORROWED, owned by a process-wide cache
** and never freed. NULL type text means "json" (anything). Returns NULL
** (and prints nothing) when the text is not a valid type. */
const json_t *rt_type_parse(rt_type_text text);
/* Frees the cache of parsed types; a later rt_type_parse starts afresh.
** Called when rt_main returns (flowc run unloads the job's code). */
void rt_type_cache_free(void);

/* Checks `value` (borrowed) against `type`. On a mismatch returns false and
** writes "WHAT: field 'a.b[2]' expected int, got string \"x\"" into err
** (WHAT omitted when NULL). */
bool rt_type_check(rt_type_text type, const json_t *value, const char *what, char *err, size_t errlen);

/* A readable name of a parsed type: "int", "[string]", "int?", "object". */
void rt_type_name(const json_t *type, char *out, size_t n);

/* A short description of a value for messages: `string "many"`, `int 5`,
** `null`, `a list of 3`, `an object`. */
void rt_value_describe(const json_t *v, char *out, size_t n);

#endif
