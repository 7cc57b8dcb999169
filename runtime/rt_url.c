/*
** rt_url.c — URL templates and url_path() (rt_url.h).
*/
#include "rt_url.h"

#include <ctype.h>

#include "rt_http.h"
#include "rt_redact.h"
#include "rt_value.h"

bool rt_url_path(rt_buf *b, const char *s, size_t n, char *err, size_t errn)
{
    for (size_t i = 0; i <= n;) {
        size_t len = 0;
        while (i + len < n && s[i + len] != '/') len++;
        if ((len == 1 && s[i] == '.') || (len == 2 && s[i] == '.' && s[i + 1] == '.')) {
            snprintf(err, errn, "url_path(): the path '%.*s' has a '%.*s' segment, which would climb the URL's path",
                     (int)(n < 200 ? n : 200), s, (int)len, s + i);
            return false;
        }
        i += len + 1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        while (i + len < n && s[i + len] != '/') len++;
        rt_http_escape(b, s + i, len, false);
        i += len;
        if (i < n) rt_buf_putc(b, '/');
    }
    return true;
}

/* Where the path of u starts and ends (the query or fragment starts): after
** "scheme://authority" in an absolute URL, at 0 in a relative one. */
static void path_span(const char *u, size_t *start, size_t *end)
{
    size_t i = 0;
    if (rt_http_is_absolute(u)) {
        i = (size_t)(strstr(u, "://") - u) + 3;
        i += strcspn(u + i, "/?#");
    }
    *start = i;
    *end = i + strcspn(u + i, "?#");
}

/* A value's byte range in the URL being built. */
typedef struct url_span {
    size_t start, end;
} url_span;

/* Refuses a path segment "." or ".." that a value made, in whole or in
** part, or merely touches (an empty value beside a "." of the text): a URL
** client squashes it, and the request climbs the path. The template's own
** text alone may hold one. */
static bool dot_segments_ok(const char *u, const url_span *vals, int nvals, char *err, size_t errn)
{
    size_t start, end;
    path_span(u, &start, &end);
    for (size_t i = start; i < end;) {
        if (u[i] == '/') {
            i++;
            continue;
        }
        size_t len = strcspn(u + i, "/?#");
        bool dots = (len == 1 && u[i] == '.') || (len == 2 && u[i] == '.' && u[i + 1] == '.');
        for (int k = 0; dots && k < nvals; k++) {
            if (vals[k].start <= i + len && vals[k].end >= i) {
                char *shown = rt_redact_shorten(u, 300);
                snprintf(err, errn, "URL '%s': a value makes the path segment '%.*s', which would climb above "
                         "the path the URL gives (each value is one segment; '.' and '..' are refused)",
                         shown, (int)len, u + i);
                free(shown);
                return false;
            }
        }
        i += len;
    }
    return true;
}

/* A host and port: what an env, settings or secret value in the authority
** may hold (no '@', '/', '?', '#', '%', space: nothing that moves the host). */
static bool host_chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-._:[]", s[i])) return false;
    return true;
}

char *rt_url_build(const char *modes, const json_t *parts, char *err, size_t errn)
{
    size_t n = json_array_size(parts);
    if (!modes || strlen(modes) != n) {
        snprintf(err, errn, "malformed URL template");
        return NULL;
    }
    rt_buf out = { 0 }, val = { 0 };
    rt_buf_reserve(&out, 128);
    rt_buf_append(&out, "", 0);
    url_span few[16];           /* most templates: no allocation for the spans */
    url_span *vals = n <= 16 ? few : rt_xcalloc(n, sizeof *vals);
    int nvals = 0;
    size_t base_end = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        /* the part's text: a string as it is, else rendered as
        ** interpolation renders it (a number on the stack) */
        const json_t *part = json_array_get(parts, i);
        const char *text;
        size_t len;
        char num[32];
        if (json_is_string(part)) {
            text = json_string_value(part);
            len = json_string_length(part);
        } else if (json_is_integer(part)) {
            /* the digits, last first (snprintf's parse shows in a fanout) */
            json_int_t v = json_integer_value(part);
            uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            char *p = num + sizeof num;
            do *--p = (char)('0' + u % 10);
            while (u /= 10);
            if (v < 0) *--p = '-';
            text = p;
            len = (size_t)(num + sizeof num - p);
        } else {
            val.len = 0;
            rt_buf_append(&val, "", 0);
            rt_value_render(&val, part);
            text = val.data;
            len = val.len;
        }
        size_t start = out.len;
        switch (modes[i]) {
        case RT_URL_SEGMENT:
        case RT_URL_QUERY:
            rt_http_escape(&out, text, len, false);
            break;
        case RT_URL_PATH:
            ok = rt_url_path(&out, text, len, err, errn);
            break;
        case RT_URL_HOST:
            if (!host_chars_ok(text, len)) {
                char *shown = rt_redact_shorten(text, 200);
                snprintf(err, errn, "URL: the value in its host ('%s') holds a character a host name or port cannot",
                         shown);
                free(shown);
                ok = false;
            }
            rt_buf_append(&out, text, len);
            break;
        case RT_URL_TEXT:
        case RT_URL_BASE:
            rt_buf_append(&out, text, len);
            break;
        default:
            snprintf(err, errn, "malformed URL template");
            ok = false;
        }
        if (modes[i] == RT_URL_BASE) base_end = out.len;
        if (modes[i] == RT_URL_SEGMENT || modes[i] == RT_URL_PATH) vals[nvals++] = (url_span){ start, out.len };
    }
    if (ok) ok = dot_segments_ok(out.data, vals, nvals, err, errn);
    if (ok && base_end) {
        /* "{{env.API}}{{x}}" with API "https://h" and x ".evil.com" or
        ** "0": no value after the base may extend its host or port */
        char stack[256];
        char *base = base_end < sizeof stack ? stack : rt_xmalloc(base_end + 1);
        memcpy(base, out.data, base_end);
        base[base_end] = '\0';
        char want[RT_HTTP_ORIGIN_MAX], got[RT_HTTP_ORIGIN_MAX];
        if (rt_http_origin(base, want, sizeof want) &&
            (!rt_http_origin(out.data, got, sizeof got) || strcmp(want, got) != 0)) {
            char *shown = rt_redact_shorten(out.data, 300), *shown_base = rt_redact_shorten(base, 200);
            snprintf(err, errn, "URL '%s': the value after its base URL ('%s') changes the origin (%s)", shown,
                     shown_base, want);
            free(shown);
            free(shown_base);
            ok = false;
        }
        if (base != stack) free(base);
    }
    if (vals != few) free(vals);
    rt_buf_free(&val);
    if (!ok) {
        rt_buf_free(&out);
        return NULL;
    }
    return rt_buf_take(&out);
}
