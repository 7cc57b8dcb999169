/*
** rt_url.h — [values] URLs as text: joining, resolving, origins,
** percent-encoding, and URL templates: how the values interpolated into a request's
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
/* The same, written into out (empty; a fanout item's is on its stack): true,
** or false with the reason in err and out's contents undefined. */
bool rt_url_build_to(rt_buf *out, const char *modes, const json_t *parts, char *err, size_t errn);

/* Appends s[0..n) to b as a URL path, what url_path() returns: '/' stays,
** every other byte but RFC 3986's unreserved ones is percent-encoded, so
** `?`, `#` and `%` are data. False (b unchanged) with err set when a segment
** is "." or "..", which would climb the path. */
bool rt_url_path(rt_buf *b, const char *s, size_t n, char *err, size_t errn);

/* ---- URL helpers ---------------------------------------------------------
** Each returns a new malloc'd string. A URL is absolute when
** it starts with a scheme and "://" (a "://" later, in a query, does not
** make it so). */
char *rt_url_join(const char *base, const char *url);     /* url appended to an API base (or absolute) */
char *rt_url_resolve(const char *base, const char *ref);   /* RFC 3986 reference resolution (Link, next URLs) */
bool rt_url_is_absolute(const char *url);
/* The origin of an absolute http(s) URL, "scheme://host:port": scheme and
** host lower-case, the port always written (80, 443 when the URL has none),
** so two URLs share an origin exactly when their origins compare equal.
** False (out unchanged) for a URL libcurl cannot parse, or another scheme. */
#define RT_URL_ORIGIN_MAX 320
bool rt_url_origin(const char *url, char *out, size_t n);
char *rt_url_add_query(const char *url, const json_t *query);  /* appends ?/& k=v, URL-encoded */
char *rt_url_form_encode(const json_t *form);                  /* a=1&b=x%20y */
/* Appends s[0..n) percent-encoded to b, as query strings, form bodies and
** url_encode() send it: every byte but RFC 3986's unreserved characters
** (A-Z a-z 0-9 - . _ ~) becomes %XX, upper-case hex, a space %20. With
** space_as_plus a space becomes '+' (the HTML form variant: flowc never
** sends it, redaction registers it too). rt_percent_encode (rt_util.h),
** which redaction builds a secret's forms with, does the work. */
void rt_url_escape(rt_buf *b, const char *s, size_t n, bool space_as_plus);

#endif
