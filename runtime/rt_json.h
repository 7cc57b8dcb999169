/*
** rt_json.h — [values] JSON values below the engine: reference pools,
** compact encoding, rendering for interpolation, deep equality.
**
** Nothing here knows a run: a pool is any owner's list of references
** (each rt_ctx has one, rt_ctx.h). Errors: none; memory exhaustion aborts
** (rt_util.h).
*/
#ifndef RT_JSON_H
#define RT_JSON_H

#include "flowrt.h"
#include "rt_util.h"

typedef struct rt_pool {
    json_t **v;                 /* owned references: `few` until it fills up */
    size_t n, cap;
    json_t *few[8];             /* most contexts (a fanout item) keep fewer */
} rt_pool;

/* Takes over a NEW reference (NULL becomes json null) and returns it
** borrowed, valid until rt_pool_release. A pool must not be moved once
** it holds a value (it may point into itself). */
json_t *rt_pool_keep(rt_pool *p, json_t *v);
/* Drops every reference the pool holds. */
void rt_pool_release(rt_pool *p);

/* A NEW JSON string of s as it is: bytes that are not UTF-8 (a secret or
** a header from outside) are kept, not refused, so a value is never lost
** on its way; rt_redact_json and rt_json_encode repair them (U+FFFD)
** wherever the value is stored or shown. NULL s gives json null. */
json_t *rt_json_bytes(const char *s);

/* The string o[k] (borrowed), NULL when o is not an object or o[k] is not
** a string. */
const char *rt_json_str(const json_t *o, const char *k);
/* The object o[k], made (empty) when missing or not an object: borrowed. */
json_t *rt_json_obj_at(json_t *o, const char *k);

/* Deep equality where 1 == 1.0 and null equals only null. */
bool rt_value_equal(const json_t *a, const json_t *b);

/* Appends v rendered as interpolation does: strings as-is, null as nothing,
** numbers, bools, lists and objects as compact JSON. */
void rt_value_render(rt_buf *b, const json_t *v);

/* Appends v as compact JSON (what json_dumps(v, JSON_COMPACT |
** JSON_ENCODE_ANY) writes, jansson reads it back the same), without
** jansson's per-container cycle check: values here are trees. Reals in the
** shortest form that reads back as the same double; a string that is not
** UTF-8 (a header made with json_string_nocheck) has U+FFFD for each bad
** byte, where json_dumps would fail. NULL is null. */
void rt_json_encode(rt_buf *b, const json_t *v);
/* The same as a NEW string. */
char *rt_json_text(const json_t *v);
/* rt_json_encode of v with its strings and keys redacted (rt_redact.h): what
** rt_redact_json then rt_json_encode write, without a copy of v. */
void rt_json_encode_redacted(rt_buf *b, const json_t *v);
/* A JSON string of the n bytes at s, as rt_json_encode writes strings. */
void rt_json_encode_string(rt_buf *b, const char *s, size_t n);
/* The same, the string redacted first (rt_json_encode_redacted). */
void rt_json_encode_string_redacted(rt_buf *b, const char *s, size_t n);
/* The same, redacted only when `redact`: a writer of many strings asks
** rt_redact_any() once for all of them (a step record's header lines). */
void rt_json_encode_text(rt_buf *b, const char *s, size_t n, bool redact);
/* A JSON integer, as rt_json_encode writes it. */
void rt_json_encode_int(rt_buf *b, int64_t v);
/* v as JSON for people to read, a NEW string: jansson's JSON_INDENT(indent)
** layout when indent > 0 (compact at 0), non-ASCII escaped as \uXXXX when
** ascii (JSON_ENSURE_ASCII); numbers and bad UTF-8 as rt_json_encode, so
** a float prints as the shortest text that reads back the same (9.99). The
** runtime prints JSON through these two, never json_dumps. */
char *rt_json_dump(const json_t *v, int indent, bool ascii);

#endif
