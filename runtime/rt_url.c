/*
** rt_url.c — [values] URLs as text: templates, url_path(), joining, resolving,
** origins and percent-encoding (rt_url.h).
*/
#include "rt_url.h"

#include <ctype.h>
#include <pthread.h>
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

char *rt_url_build(const char *modes, const json_t *parts, char *err, size_t errn)
{
    rt_buf out = { 0 };
    if (!rt_url_build_to(&out, modes, parts, err, errn)) {
        rt_buf_free(&out);
        return NULL;
    }
    return rt_buf_take(&out);
}

static bool rest_plain(const char *rest);

/* Whether url, which begins with its base (its first base_end bytes), has
** the base's origin by the text alone: the scheme and authority end within
** the base or right after it (at a '/', '?' or '#'), so they are the same
** bytes, and rt_url_origin would take both from its memo by that prefix
** (no user:password@; the rest of url, and so the base's, plain). A fanout
** of "{{env.API}}/item/{{i}}" parses no origin per item. Else the caller
** compares the origins. */
static bool same_authority(const char *url, size_t base_end)
{
    const char *sep = strstr(url, "://");
    if (!sep || (size_t)(sep + 3 - url) > base_end) return false;
    size_t plen = (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#");
    return plen <= base_end && plen < RT_URL_ORIGIN_MAX && !memchr(url, '@', plen) && rest_plain(url + plen);
}

bool rt_url_build_to(rt_buf *out, const char *modes, const json_t *parts, char *err, size_t errn)
{
    size_t n = json_array_size(parts);
    if (!modes || strlen(modes) != n) {
        snprintf(err, errn, "malformed URL template");
        return false;
    }
    rt_buf val = { 0 };
    rt_buf_append(out, "", 0);
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
        size_t start = out->len;
        switch (modes[i]) {
        case RT_URL_SEGMENT:
        case RT_URL_QUERY:
            rt_url_escape(out, text, len, false);
            break;
        case RT_URL_PATH:
            ok = rt_url_path(out, text, len, err, errn);
            break;
        case RT_URL_HOST:
            if (!host_chars_ok(text, len)) {
                char *shown = rt_redact_shorten(text, 200);
                snprintf(err, errn, "URL: the value in its host ('%s') holds a character a host name or port cannot",
                         shown);
                free(shown);
                ok = false;
            }
            rt_buf_append(out, text, len);
            break;
        case RT_URL_TEXT:
        case RT_URL_BASE:
            rt_buf_append(out, text, len);
            break;
        default:
            snprintf(err, errn, "malformed URL template");
            ok = false;
        }
        if (modes[i] == RT_URL_BASE) base_end = out->len;
        if (modes[i] == RT_URL_SEGMENT || modes[i] == RT_URL_PATH) vals[nvals++] = (url_span){ start, out->len };
    }
    if (ok) ok = dot_segments_ok(out->data, vals, nvals, err, errn);
    if (ok && base_end && !same_authority(out->data, base_end)) {
        /* "{{env.API}}{{x}}" with API "https://h" and x ".evil.com" or
        ** "0": no value after the base may extend its host or port */
        char stack[256];
        char *base = base_end < sizeof stack ? stack : rt_xmalloc(base_end + 1);
        memcpy(base, out->data, base_end);
        base[base_end] = '\0';
        char want[RT_URL_ORIGIN_MAX], got[RT_URL_ORIGIN_MAX];
        if (rt_url_origin(base, want, sizeof want) &&
            (!rt_url_origin(out->data, got, sizeof got) || strcmp(want, got) != 0)) {
            char *shown = rt_redact_shorten(out->data, 300), *shown_base = rt_redact_shorten(base, 200);
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
    return ok;
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

/* libcurl's own origin of a URL: a parse and three copies (about 8,000
** instructions). */
static bool origin_parsed(const char *url, char *out, size_t n)
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

/* Origins already parsed, by the text that decides them: a URL's scheme
** and authority, everything before the first '/', '?' or '#' after "://"
** (RFC 3986, and where libcurl ends the authority too). A fanout sends
** thousands of requests to one origin; each is parsed once per prefix. The
** memo is per thread (behind a pthread key: no TLS under tcc), so looking
** it up takes no lock. */
#define ORIGIN_MEMO 8
typedef struct origin_memo {
    struct {
        char prefix[RT_URL_ORIGIN_MAX];    /* "" = empty */
        char origin[RT_URL_ORIGIN_MAX];
    } e[ORIGIN_MEMO];
    int next;
} origin_memo;

static pthread_key_t memo_key;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;

static void memo_key_init(void)
{
    pthread_key_create(&memo_key, free);
}

static origin_memo *this_memo(void)
{
    pthread_once(&memo_once, memo_key_init);
    origin_memo *m = pthread_getspecific(memo_key);
    if (!m) {
        m = rt_xcalloc(1, sizeof *m);
        pthread_setspecific(memo_key, m);
    }
    return m;
}

/* Whether libcurl accepts the rest of a URL after its authority as it is:
** it refuses only control bytes and spaces there (and a URL over its 8 MB
** limit, left to the full parse). */
static bool rest_plain(const char *rest)
{
    size_t i = 0;
    for (; rest[i]; i++)
        if ((unsigned char)rest[i] <= 0x20 || rest[i] == 0x7f) return false;
    return i < ((size_t)1 << 20);
}

bool rt_url_origin(const char *url, char *out, size_t n)
{
    const char *sep = strstr(url, "://");
    size_t plen = sep ? (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#") : 0;
    /* an authority with user:password@ is parsed each time: no credential
    ** stays in the memo */
    if (!sep || plen >= RT_URL_ORIGIN_MAX || memchr(url, '@', plen) || !rest_plain(url + plen))
        return origin_parsed(url, out, n);
    origin_memo *m = this_memo();
    for (int i = 0; i < ORIGIN_MEMO; i++) {
        if (strncmp(m->e[i].prefix, url, plen) == 0 && m->e[i].prefix[plen] == '\0' && m->e[i].prefix[0]) {
            if (strlen(m->e[i].origin) >= n) return false;
            strcpy(out, m->e[i].origin);
            return true;
        }
    }
    char prefix[RT_URL_ORIGIN_MAX], origin[RT_URL_ORIGIN_MAX];
    memcpy(prefix, url, plen);
    prefix[plen] = '\0';
    if (!origin_parsed(prefix, origin, sizeof origin)) return origin_parsed(url, out, n);
    int at = m->next;
    m->next = (m->next + 1) % ORIGIN_MEMO;
    memcpy(m->e[at].prefix, prefix, plen + 1);
    strcpy(m->e[at].origin, origin);
    if (strlen(origin) >= n) return false;
    strcpy(out, origin);
    return true;
}
