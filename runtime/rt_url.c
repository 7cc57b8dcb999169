/*
** rt_url.c — [values] URLs as text: templates, url_path(), joining, resolving,
** origins and percent-encoding (rt_url.h).
*/
#include "rt_url.h"

#include <ctype.h>
#include <curl/curl.h>
#include <strings.h>

#include "rt_json.h"
#include "rt_redact.h"

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
        rt_url_escape(b, s + i, len, false);
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
    if (rt_url_is_absolute(u)) {
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

char *rt_url_build(const json_t *tmpl, char *err, size_t errn)
{
    const char *modes = json_string_value(json_object_get(tmpl, "modes"));
    const json_t *parts = json_object_get(tmpl, "parts");
    size_t n = json_array_size(parts);
    if (!modes || strlen(modes) != n) {
        snprintf(err, errn, "malformed URL template");
        return NULL;
    }
    rt_buf out = { 0 }, val = { 0 };
    rt_buf_append(&out, "", 0);
    url_span *vals = rt_xcalloc(n ? n : 1, sizeof *vals);
    int nvals = 0;
    size_t base_end = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        val.len = 0;
        rt_buf_append(&val, "", 0);
        rt_value_render(&val, json_array_get(parts, i));
        size_t start = out.len;
        switch (modes[i]) {
        case RT_URL_SEGMENT:
        case RT_URL_QUERY:
            rt_url_escape(&out, val.data, val.len, false);
            break;
        case RT_URL_PATH:
            ok = rt_url_path(&out, val.data, val.len, err, errn);
            break;
        case RT_URL_HOST:
            if (!host_chars_ok(val.data, val.len)) {
                char *shown = rt_redact_shorten(val.data, 200);
                snprintf(err, errn, "URL: the value in its host ('%s') holds a character a host name or port cannot",
                         shown);
                free(shown);
                ok = false;
            }
            rt_buf_append(&out, val.data, val.len);
            break;
        case RT_URL_TEXT:
        case RT_URL_BASE:
            rt_buf_append(&out, val.data, val.len);
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
        char *base = rt_xstrndup(out.data, base_end);
        char want[RT_URL_ORIGIN_MAX], got[RT_URL_ORIGIN_MAX];
        if (rt_url_origin(base, want, sizeof want) &&
            (!rt_url_origin(out.data, got, sizeof got) || strcmp(want, got) != 0)) {
            char *shown = rt_redact_shorten(out.data, 300), *shown_base = rt_redact_shorten(base, 200);
            snprintf(err, errn, "URL '%s': the value after its base URL ('%s') changes the origin (%s)", shown,
                     shown_base, want);
            free(shown);
            free(shown_base);
            ok = false;
        }
        free(base);
    }
    free(vals);
    rt_buf_free(&val);
    if (!ok) {
        rt_buf_free(&out);
        return NULL;
    }
    return rt_buf_take(&out);
}

/* ---- joining, resolving, encoding -------------------------------------- */

bool rt_url_is_absolute(const char *url)
{
    /* RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    if (!isalpha((unsigned char)*url)) return false;
    const char *p = url + 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
    return strncmp(p, "://", 3) == 0;
}

char *rt_url_join(const char *base, const char *url)
{
    if (!base || !*base || rt_url_is_absolute(url)) return rt_xstrdup(url);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') bl--;
    if (!*url) return rt_xstrndup(base, bl);
    if (*url == '?') return rt_xprintf("%.*s%s", (int)bl, base, url);
    return rt_xprintf("%.*s%s%s", (int)bl, base, *url == '/' ? "" : "/", url);
}

/* libcurl's URL parser resolves a reference against the URL it holds, as it
** does a Location; a reference it cannot parse is returned as it is, for
** the request to fail on. */
char *rt_url_resolve(const char *base, const char *ref)
{
    if (!base || rt_url_is_absolute(ref)) return rt_xstrdup(ref);
    CURLU *u = curl_url();
    char *out = NULL;
    /* the flags libcurl follows a Location with: a raw space becomes %20 */
    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, CURLU_URLENCODE | CURLU_ALLOW_SPACE) == CURLUE_OK)
        curl_url_get(u, CURLUPART_URL, &out, 0);
    char *r = rt_xstrdup(out ? out : ref);
    curl_free(out);
    curl_url_cleanup(u);
    return r;
}

void rt_url_escape(rt_buf *b, const char *s, size_t n, bool space_as_plus)
{
    rt_percent_encode(b, s, n, space_as_plus ? RT_PCT_PLUS : 0);
}

/* k=v pairs; null values are left out, lists repeat the key. */
static void put_pairs(rt_buf *b, const json_t *obj, bool *first)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            if (json_is_null(item)) continue;
            if (!*first) rt_buf_putc(b, '&');
            *first = false;
            rt_url_escape(b, k, strlen(k), false);
            rt_buf_putc(b, '=');
            rt_buf val = { 0 };
            rt_buf_append(&val, "", 0);
            rt_value_render(&val, item);
            rt_url_escape(b, val.data, val.len, false);
            rt_buf_free(&val);
        }
    }
}

char *rt_url_add_query(const char *url, const json_t *query)
{
    rt_buf b = { 0 };
    const char *hash = strchr(url, '#');
    size_t base_len = hash ? (size_t)(hash - url) : strlen(url);
    rt_buf_append(&b, url, base_len);
    if (json_is_object(query) && json_object_size(query)) {
        const char *q = memchr(url, '?', base_len);
        bool first = true;
        rt_buf pairs = { 0 };
        put_pairs(&pairs, query, &first);
        if (pairs.len) {
            if (!q) rt_buf_putc(&b, '?');
            else if (b.data[b.len - 1] != '?' && b.data[b.len - 1] != '&') rt_buf_putc(&b, '&');
            rt_buf_append(&b, pairs.data, pairs.len);
        }
        rt_buf_free(&pairs);
    }
    if (hash) rt_buf_puts(&b, hash);
    return rt_buf_take(&b);
}

char *rt_url_form_encode(const json_t *form)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    bool first = true;
    if (json_is_object(form)) put_pairs(&b, form, &first);
    return rt_buf_take(&b);
}

bool rt_url_origin(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    if (!u) return false;
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) ok = strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
    if (ok) {
        for (char *p = scheme; *p; p++) *p = (char)tolower((unsigned char)*p);
        for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
        int len = snprintf(out, n, "%s://%s:%s", scheme, host, port);
        ok = len > 0 && (size_t)len < n;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}
