/*
** rt_type.h — [values] values checked against the type descriptors flowc
** emits as static data (rt_type, flowrt.h), with messages that name the
** field path and the offending value. Nothing is parsed, cached or locked:
** a descriptor is read where it stands.
*/
#ifndef RT_TYPE_H
#define RT_TYPE_H

#include "flowrt.h"

/* Checks `value` (borrowed) against `type` (NULL: json, anything). On a
** mismatch returns false and writes "WHAT: field 'a.b[2]' expected int, got
** string \"x\"" into err (WHAT omitted when NULL). */
bool rt_type_check(const rt_type *type, const json_t *value, const char *what, char *err, size_t errlen);

/* Whether type is optional (`T?`): null is one of its values. */
bool rt_type_optional(const rt_type *type);

/* A readable name of a type: "int", "[string]", "int?", "{a: int}", or
** "object" when the fields do not fit in n. NULL is "json". */
void rt_type_name(const rt_type *type, char *out, size_t n);

/* The type as JSON (a NEW reference), as `info --json` shows it: "int",
** ["list", T], ["opt", T], {"field": T, ...}; NULL is "json". */
json_t *rt_type_json(const rt_type *type);

/* A short description of a value for messages: `string "many"`, `int 5`,
** `null`, `a list of 3`, `an object`. */
void rt_value_describe(const json_t *v, char *out, size_t n);

#endif
