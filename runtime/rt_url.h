/*
** rt_url.h — URL templates: how the values interpolated into a request's
** URL are inserted, and the url_path() built-in.
**
** The compiler knows where each interpolation of a URL template stands (the
** origin, the path, the query) and hands the template over as its parts and
** one mode letter per part (below; docs/language.md): a value from data
** is percent-encoded where it stands, so it never adds a path segment, a
** query or a fragment, never climbs above the base path, and never changes
** the host.
*/
#ifndef RT_URL_H
#define RT_URL_H

#include "flowrt.h"
#include "rt_util.h"

/* A URL template: its modes, one letter per part (static, in the step's
** descriptor: rt_step_desc.url_modes), and the list of its parts, which
** generated code hands over as a request's url:
**   t  the template's own text, as written
**   b  the base: an env, settings or secret value at the start, as is; the
**      URL must keep the base's origin (a value after it cannot extend the
**      host or port)
**   h  an env, settings or secret value in the authority: letters, digits
**      and - . _ : [ ] only
**   s  a value in the path: percent-encoded as (part of) one segment
**   q  a value in the query or fragment: percent-encoded
**   p  the argument of url_path(): its text as a path, '/' kept, each
**      segment percent-encoded
** (`{{url_encode(x)}}` comes as x, `s` or `q`: the place encodes it.)
** Values render as interpolation does (null as nothing). A path segment
** that a value makes "." or ".." is refused. */
#define RT_URL_TEXT 't'
#define RT_URL_BASE 'b'
#define RT_URL_HOST 'h'
#define RT_URL_SEGMENT 's'
#define RT_URL_QUERY 'q'
#define RT_URL_PATH 'p'

/* The URL of a template: a new malloc'd string, or NULL with the reason in
** err (a value the template refuses, a malformed template). */
char *rt_url_build(const char *modes, const json_t *parts, char *err, size_t errn);

/* Appends s[0..n) to b as a URL path, what url_path() returns: '/' stays,
** every other byte but RFC 3986's unreserved ones is percent-encoded, so
** `?`, `#` and `%` are data. False (b unchanged) with err set when a segment
** is "." or "..", which would climb the path. */
bool rt_url_path(rt_buf *b, const char *s, size_t n, char *err, size_t errn);

#endif
