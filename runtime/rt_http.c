/*
** rt_http.c — [services] requests over libcurl: on a plain thread through the easy
** interface (one handle per thread, keeping its connections), in a fanout
** item's coroutine through its scheduler's multi handle (rt_co.c); both set
** up and read a transfer with rt_http_xfer_start / rt_http_xfer_finish.
*/
#include "rt_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <strings.h>

#include "rt_redact.h"
#include "rt_util.h"
#include "rt_json.h"

static pthread_key_t curl_key;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_handle_free(void *h)
{
    curl_easy_cleanup(h);
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&curl_key, curl_handle_free);
}

void rt_http_global_init(void)
{
    pthread_once(&curl_once, curl_init_once);
}

/* This thread's handle, reset for a new request; keeps its connections. */
static CURL *thread_handle(void)
{
    rt_http_global_init();
    CURL *h = pthread_getspecific(curl_key);
    if (h) {
        curl_easy_reset(h);
        return h;
    }
    h = curl_easy_init();
    pthread_setspecific(curl_key, h);
    return h;
}

/* ---- receiving ---------------------------------------------------------- */

_Static_assert(sizeof ((rt_http_xfer *)0)->errbuf >= CURL_ERROR_SIZE, "rt_http_xfer.errbuf is too small");

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    rt_http_xfer *x = arg;
    size_t len = size * n;
    if (x->body.len + len > x->cap) {
        x->too_big = true;
        return 0;               /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    rt_buf_append(&x->body, p, len);
    return len;
}

/* Each header line goes to the flat list as it came (name lower-case, the
** value trimmed and cut at a NUL, as a C string would be); a name that is
** not UTF-8 up to its first NUL is left out, as a JSON object key must be. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    rt_buf *h = &((rt_http_xfer *)arg)->rs->head;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        h->len = 0;                         /* a new response (redirect, 100) */
        return len;
    }
    char *colon = memchr(p, ':', len);
    if (!colon) return len;
    size_t nlen = strnlen(p, (size_t)(colon - p));
    if (!rt_utf8_valid(p, nlen)) return len;
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    end = v + strnlen(v, (size_t)(end - v));    /* a NUL ends the value, as it would a C string */
    rt_buf_reserve(h, nlen + (size_t)(end - v) + 2);
    for (size_t i = 0; i < nlen; i++) {     /* ASCII only, as tolower in the C locale */
        char ch = p[i];
        h->data[h->len++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + ('a' - 'A')) : ch;
    }
    h->data[h->len++] = '\0';
    rt_buf_append(h, v, (size_t)(end - v));
    h->len++;                               /* keeps the NUL rt_buf_append wrote */
    return len;
}

/* The entries of a flat header list: names[i], values[i] (n of them). */
typedef struct head_entries {
    const char *names[64], *values[64];
    const char **name, **value;         /* names/values, or allocated when more */
    size_t n, cap;
} head_entries;

/* One pass, entry by entry (strlen hops over each string), into the arrays
** on the stack while they hold them. */
static void head_split(const rt_buf *head, head_entries *e)
{
    const char *p = head->data, *end = head->data + head->len;
    e->name = e->names;
    e->value = e->values;
    e->n = 0;
    e->cap = 64;
    while (p < end) {
        if (e->n == e->cap) {
            const char **names = rt_xmalloc(sizeof *names * e->cap * 2);
            const char **values = rt_xmalloc(sizeof *values * e->cap * 2);
            memcpy(names, e->name, sizeof *names * e->n);
            memcpy(values, e->value, sizeof *values * e->n);
            if (e->name != e->names) free((void *)e->name);
            if (e->value != e->values) free((void *)e->value);
            e->name = names;
            e->value = values;
            e->cap *= 2;
        }
        e->name[e->n] = p;
        p += strlen(p) + 1;
        e->value[e->n++] = p;           /* (the buffer's own NUL ends a value cut short) */
        p += strlen(p) + 1;
    }
}

static void head_entries_free(head_entries *e)
{
    if (e->name != e->names) free((void *)e->name);
    if (e->value != e->values) free((void *)e->value);
}

/* The value of name (entries from `from` on): the values of its lines
** joined by ", ", into v. */
static void head_value(const head_entries *e, size_t from, rt_buf *v)
{
    v->len = 0;
    rt_buf_append(v, "", 0);
    bool first = true;
    for (size_t j = from; j < e->n; j++) {
        if (strcmp(e->name[j], e->name[from]) != 0) continue;
        if (!first) rt_buf_puts(v, ", ");
        rt_buf_puts(v, e->value[j]);
        first = false;
    }
}

/* Whether entry i's name came before it (its value went with the first). */
static bool head_seen(const head_entries *e, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(e->name[j], e->name[i]) == 0) return true;
    return false;
}

json_t *rt_http_response_headers(rt_http_response *rs)
{
    if (rs->headers) return rs->headers;
    rs->headers = json_object();
    head_entries e;
    head_split(&rs->head, &e);
    rt_buf v = { 0 };
    for (size_t i = 0; i < e.n; i++) {
        if (head_seen(&e, i)) continue;
        head_value(&e, i, &v);
        json_object_set_new_nocheck(rs->headers, e.name[i], json_stringn_nocheck(v.data, v.len));
    }
    rt_buf_free(&v);
    head_entries_free(&e);
    return rs->headers;
}

/* Whether a later entry than i has i's name (its value is joined). */
static bool head_repeated(const head_entries *e, size_t i)
{
    for (size_t j = i + 1; j < e->n; j++)
        if (strcmp(e->name[j], e->name[i]) == 0) return true;
    return false;
}

void rt_http_head_encode(rt_buf *b, const rt_buf *head)
{
    head_entries e;
    head_split(head, &e);
    rt_buf v = { 0 };
    bool redact = rt_redact_any();
    rt_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < e.n; i++) {
        if (head_seen(&e, i)) continue;
        if (!first) rt_buf_putc(b, ',');
        first = false;
        rt_json_encode_text(b, e.name[i], strlen(e.name[i]), redact);
        rt_buf_putc(b, ':');
        if (head_repeated(&e, i)) {
            head_value(&e, i, &v);
            rt_json_encode_text(b, v.data, v.len, redact);
        } else {
            rt_json_encode_text(b, e.value[i], strlen(e.value[i]), redact);
        }
    }
    rt_buf_putc(b, '}');
    rt_buf_free(&v);
    head_entries_free(&e);
}

/* s with every invalid UTF-8 sequence replaced by U+FFFD: a NEW string. */
static json_t *utf8_string(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j) return j;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    rt_utf8_repair(&b, s, n);
    j = json_stringn_nocheck(b.data, b.len);
    rt_buf_free(&b);
    return j;
}

static json_t *parse_body(const char *ctype, const char *p, size_t n)
{
    if (n == 0) return json_null();
    bool is_json = ctype && (strstr(ctype, "/json") || strstr(ctype, "+json"));
    if (is_json || !ctype) {
        json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (v) return v;
    }
    return utf8_string(p, n);
}

/* FLOW_MAX_RESPONSE, read once per process (a getenv scans the whole
** environment, and a fanout asks for every request). */
static size_t env_max_response;
static pthread_once_t env_max_response_once = PTHREAD_ONCE_INIT;

static void read_max_response(void)
{
    const char *e = getenv("FLOW_MAX_RESPONSE");
    long long v = e ? atoll(e) : 0;
    env_max_response = v > 0 ? (size_t)v : RT_HTTP_DEFAULT_MAX_RESPONSE;
}

static size_t max_response(size_t asked)
{
    if (asked) return asked;
    pthread_once(&env_max_response_once, read_max_response);
    return env_max_response;
}

static bool transport_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static rt_http_intercept_fn intercept_fn;
static void *intercept_arg;

void rt_http_set_intercept(rt_http_intercept_fn fn, void *arg)
{
    intercept_fn = fn;
    intercept_arg = arg;
}

/* A header that cannot be sent as is: a name that is not an RFC 9110
** token, or a value with CR, LF or NUL (which would let a payload value
** inject headers). Sets rs->error to the reason; false when all are fine. */
static bool bad_header(const json_t *headers, rt_http_response *rs)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v) {
        bool name_ok = *k != '\0';
        for (const char *p = k; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p)) name_ok = false;
        if (!name_ok) {
            char *name = rt_redact_shorten(k, 100);
            rt_http_response_fail(rs, "header name '%s' is not a valid HTTP header name", name);
            free(name);
            return true;
        }
        bool value_ok;
        if (json_is_string(v)) {        /* the common case: no rendering */
            const char *t = json_string_value(v);
            size_t n = json_string_length(v);
            value_ok = strlen(t) == n && !strpbrk(t, "\r\n");
        } else {
            rt_buf text = { 0 };
            rt_value_render(&text, v);
            value_ok = !text.data || (strlen(text.data) == text.len && !strpbrk(text.data, "\r\n"));
            rt_buf_free(&text);
        }
        if (!value_ok) {
            char *name = rt_redact_shorten(k, 100);
            rt_http_response_fail(rs, "header '%s': the value contains a line break or NUL; not sent", name);
            free(name);
            return true;
        }
    }
    return false;
}

/* ---- in-flight cap and per-host pauses ------------------------------- */

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inflight_free = PTHREAD_COND_INITIALIZER;
static int inflight, max_inflight = 64;

void rt_http_set_max_inflight(int n)
{
    pthread_mutex_lock(&inflight_lock);
    max_inflight = n > 0 ? n : 1;
    pthread_cond_broadcast(&inflight_free);
    pthread_mutex_unlock(&inflight_lock);
}

bool rt_http_inflight_try_enter(void)
{
    pthread_mutex_lock(&inflight_lock);
    bool ok = inflight < max_inflight;
    if (ok) inflight++;
    pthread_mutex_unlock(&inflight_lock);
    return ok;
}

static void inflight_enter(void)
{
    pthread_mutex_lock(&inflight_lock);
    while (inflight >= max_inflight) pthread_cond_wait(&inflight_free, &inflight_lock);
    inflight++;
    pthread_mutex_unlock(&inflight_lock);
}

void rt_http_inflight_leave(void)
{
    pthread_mutex_lock(&inflight_lock);
    inflight--;
    pthread_cond_signal(&inflight_free);
    pthread_mutex_unlock(&inflight_lock);
}

#define MAX_PAUSED_HOSTS 64
static struct paused_host {
    char key[RT_URL_ORIGIN_MAX];   /* rt_url_origin */
    int64_t until;              /* rt_mono_ms */
} paused[MAX_PAUSED_HOSTS];
static pthread_mutex_t paused_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t paused_until;    /* the latest `until` of any host (under paused_lock) */

void rt_http_host_pause(const char *url, long ms)
{
    char key[RT_URL_ORIGIN_MAX];
    if (ms <= 0 || !rt_url_origin(url, key, sizeof key)) return;
    int64_t now = rt_mono_ms(), until = now + ms;
    pthread_mutex_lock(&paused_lock);
    struct paused_host *slot = NULL;
    for (int i = 0; i < MAX_PAUSED_HOSTS; i++) {
        if (strcmp(paused[i].key, key) == 0) {
            slot = &paused[i];
            break;
        }
        if (!slot && paused[i].until <= now) slot = &paused[i];    /* free or expired */
    }
    if (slot && (strcmp(slot->key, key) != 0 || slot->until < until)) {
        snprintf(slot->key, sizeof slot->key, "%s", key);
        slot->until = until;
    }
    if (paused_until < until) paused_until = until;
    pthread_mutex_unlock(&paused_lock);
}

long rt_http_host_pause_ms(const char *url)
{
    int64_t now = rt_mono_ms();
    pthread_mutex_lock(&paused_lock);
    bool any = paused_until > now;      /* the common case: no host paused, no URL to parse */
    pthread_mutex_unlock(&paused_lock);
    if (!any) return 0;
    char key[RT_URL_ORIGIN_MAX];
    if (!rt_url_origin(url, key, sizeof key)) return 0;
    long wait = 0;
    pthread_mutex_lock(&paused_lock);
    for (int i = 0; i < MAX_PAUSED_HOSTS; i++)
        if (paused[i].until > now && strcmp(paused[i].key, key) == 0) wait = (long)(paused[i].until - now);
    pthread_mutex_unlock(&paused_lock);
    return wait;
}

/* The coroutine scheduler's hooks (rt_co.c registers them): written once,
** read by every exchange without a lock. */
static int (*co_perform)(const rt_http_request *rq, rt_http_response *rs);
static bool (*co_in_sched)(void);

void rt_http_set_co_hooks(const rt_http_co_hooks *hooks)
{
    __atomic_store_n(&co_in_sched, hooks->in_sched, __ATOMIC_RELEASE);
    __atomic_store_n(&co_perform, hooks->perform, __ATOMIC_RELEASE);
}

static rt_http_co_hooks co_hooks_get(void)
{
    return (rt_http_co_hooks){ __atomic_load_n(&co_perform, __ATOMIC_ACQUIRE),
                               __atomic_load_n(&co_in_sched, __ATOMIC_ACQUIRE) };
}

/* One exchange, no redirect followed: through the test intercept, a fanout
** item's multi handle, or this thread's easy handle. */
static bool perform_once(const rt_http_request *rq, rt_http_response *rs)
{
    if (intercept_fn) return intercept_fn(intercept_arg, rq, rs);
    rt_http_co_hooks co = co_hooks_get();
    int done = co.perform ? co.perform(rq, rs) : -1;
    if (done >= 0) return done;     /* a fanout item: its scheduler's multi handle */
    CURL *h = thread_handle();
    if (!h) return rt_http_response_fail(rs, "cannot create an HTTP handle");
    bool capped = !(co.in_sched && co.in_sched());
    if (capped) inflight_enter();
    rt_http_xfer x;
    rt_http_xfer_start(&x, h, rq, rs);
    bool ok = rt_http_xfer_finish(&x, curl_easy_perform(h));
    if (capped) rt_http_inflight_leave();
    return ok;
}

#define MAX_REDIRECTS 10

/* The standard credential headers, which a hop to another origin never
** carries even when the caller left them among the plain headers. */
static bool standard_credential(const char *name)
{
    return strcasecmp(name, "Authorization") == 0 || strcasecmp(name, "Proxy-Authorization") == 0 ||
           strcasecmp(name, "Cookie") == 0;
}

/* The plain headers of a hop after a redirect: without the standard
** credentials once it left the origin, without Content-Type once it lost
** its body. A NEW reference. */
static json_t *hop_headers(const json_t *headers, bool foreign, bool bodiless)
{
    json_t *h = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v) {
        if ((foreign && standard_credential(k)) || (bodiless && strcasecmp(k, "Content-Type") == 0)) continue;
        json_object_set(h, k, v);
    }
    return h;
}

/* The hop after a redirect response, or false (the response is the answer,
** or rs->error says why the redirect is not followed). `next` takes the
** target URL (malloc'd); `foreign` is set once a hop leaves the origin. */
static bool next_hop(const rt_http_request *first, rt_http_request *hop, rt_http_response *rs, int hops,
                     char **next, bool *foreign)
{
    long st = rs->status;
    if (st != 301 && st != 302 && st != 303 && st != 307 && st != 308) return false;
    const char *loc = json_string_value(json_object_get(rt_http_response_headers(rs), "location"));
    if (!loc || !*loc) return false;
    const char *method = hop->method ? hop->method : "GET";
    if (hops >= MAX_REDIRECTS) {
        rt_http_response_fail(rs, "%s %s: more than %d redirects", method, first->url, MAX_REDIRECTS);
        return false;
    }
    char *target = rt_url_resolve(hop->url, loc);
    char from[RT_URL_ORIGIN_MAX], to[RT_URL_ORIGIN_MAX];
    if (!rt_url_origin(target, to, sizeof to)) {
        char *shown = rt_redact_shorten(target, 200);
        rt_http_response_fail(rs, "%s %s: redirected (%ld) to '%s', which is not an http(s) URL", method, hop->url,
                              st, shown);
        free(shown);
        free(target);
        return false;
    }
    bool same = rt_url_origin(first->url, from, sizeof from) && strcmp(from, to) == 0;
    /* 303, and 301/302 after a POST, continue as a GET (HEAD stays HEAD) */
    bool to_get = st == 303 ? strcmp(method, "HEAD") != 0 : (st == 301 || st == 302) && strcmp(method, "POST") == 0;
    bool keeps_body = !to_get && hop->body;
    if (!same && keeps_body && first->body_private) {
        rt_http_response_fail(rs,
                 "%s %s: redirected (%ld) to another origin (%s), which would receive the request's body holding "
                 "credentials: not followed",
                 method, hop->url, st, to);
        free(target);
        return false;
    }
    if (to_get) {
        hop->method = "GET";
        hop->body = NULL;
        hop->body_len = 0;
    }
    if (!same) *foreign = true;
    *next = target;
    return true;
}

bool rt_http_perform(const rt_http_request *rq, rt_http_response *rs)
{
    rt_buf head = rs->head;     /* the caller's storage for the headers, if any */
    memset(rs, 0, sizeof *rs);
    rs->head = head;
    rs->head.len = 0;
    rs->body = json_null();
    if ((json_is_object(rq->headers) && bad_header(rq->headers, rs)) ||
        (json_is_object(rq->credentials) && bad_header(rq->credentials, rs)))
        return false;   /* permanent: rs->retryable stays false */
    rt_http_request hop = *rq;
    char *url = NULL;           /* owned: the URL of a hop after the first */
    json_t *headers = NULL;     /* owned: the plain headers of a hop after the first */
    long elapsed = 0;
    bool ok, foreign = false;   /* foreign: a hop left the origin; it chose every URL after its own */
    for (int hops = 0;; hops++) {
        ok = perform_once(&hop, rs);
        elapsed += rs->elapsed_ms;
        char *next = NULL;
        if (!ok || !next_hop(rq, &hop, rs, hops, &next, &foreign)) break;
        free(url);
        hop.url = url = next;
        json_decref(headers);
        hop.headers = headers = json_is_object(rq->headers) ? hop_headers(rq->headers, foreign, !hop.body) : NULL;
        hop.credentials = foreign ? NULL : rq->credentials;
        rt_http_response_free(rs);
        memset(rs, 0, sizeof *rs);
        rs->body = json_null();
    }
    if (ok && rs->error) ok = false;     /* a redirect that is not followed */
    rs->elapsed_ms = elapsed;
    free(url);
    json_decref(headers);
    return ok;
}

void rt_http_xfer_start(rt_http_xfer *x, void *handle, const rt_http_request *rq, rt_http_response *rs)
{
    CURL *h = handle;
    x->h = h;
    x->rq = rq;
    x->rs = rs;
    rs->head.len = 0;
    json_decref(rs->headers);
    rs->headers = NULL;
    x->body = rt_buf_on(x->body_first, sizeof x->body_first);
    x->cap = max_response(rq->max_response);
    x->too_big = false;
    x->errbuf[0] = '\0';
    x->timeout = rq->timeout_ms > 0 ? rq->timeout_ms : RT_HTTP_DEFAULT_TIMEOUT_MS;

    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);     /* rt_http_perform follows redirects */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->timeout);
    curl_easy_setopt(h, CURLOPT_USERAGENT, RT_HTTP_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->cap);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);

    const char *method = x->method = rq->method ? rq->method : "GET";
    if (strcmp(method, "GET") == 0 && !rq->body) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (rq->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
            strcmp(method, "PATCH") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        }
    }

    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    const json_t *sets[2] = { rq->headers, rq->credentials };
    for (int i = 0; i < 2; i++) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)sets[i], k, v) {      /* nothing for NULL */
            size_t kl = strlen(k);
            if (json_is_string(v) && kl + json_string_length(v) + 3 <= 256) {
                /* the common case, a short string: the line on the stack */
                char line[256];
                size_t vl = json_string_length(v);
                memcpy(line, k, kl);
                if (vl == 0) {
                    line[kl] = ';';             /* curl's way to send an empty header */
                    line[kl + 1] = '\0';
                } else {
                    memcpy(line + kl, ": ", 2);
                    memcpy(line + kl + 2, json_string_value(v), vl + 1);
                }
                hl = curl_slist_append(hl, line);
                continue;
            }
            rt_buf line = { 0 };
            rt_buf_puts(&line, k);
            if (json_is_string(v) && json_string_length(v) == 0) {
                rt_buf_putc(&line, ';');        /* curl's way to send an empty header */
            } else {
                rt_buf_puts(&line, ": ");
                rt_value_render(&line, v);
            }
            hl = curl_slist_append(hl, line.data);
            rt_buf_free(&line);
        }
        if (i == 0 && rq->idempotency_key) {    /* where it would stand among the plain headers: last */
            static const char name[] = "Idempotency-Key: ";
            char line[256];
            size_t kl = strlen(rq->idempotency_key);
            if (sizeof name + kl <= sizeof line) {       /* put together without a format to parse */
                memcpy(line, name, sizeof name - 1);
                memcpy(line + sizeof name - 1, rq->idempotency_key, kl + 1);
                hl = curl_slist_append(hl, line);
            } else {
                char *l = rt_xprintf("Idempotency-Key: %s", rq->idempotency_key);
                hl = curl_slist_append(hl, l);
                free(l);
            }
        }
    }
    x->hl = hl;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    x->t0 = rt_mono_ms();
}

bool rt_http_xfer_finish(rt_http_xfer *x, int code)
{
    CURLcode rc = (CURLcode)code;
    CURL *h = x->h;
    const rt_http_request *rq = x->rq;
    rt_http_response *rs = x->rs;
    rs->elapsed_ms = (long)(rt_mono_ms() - x->t0);
    curl_slist_free_all(x->hl);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    bool ok = rc == CURLE_OK;
    if (!ok) {
        if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED)
            rt_http_response_fail(rs, "response body exceeds the limit of %zu bytes (FLOW_MAX_RESPONSE raises it)",
                                  x->cap);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            rt_http_response_fail(rs, "%s %s timed out after %ld ms", x->method, rq->url, x->timeout);
        else
            rt_http_response_fail(rs, "%s %s: %s", x->method, rq->url, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        rs->retryable = !x->too_big && transport_retryable(rc);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
        char *ctype = NULL;
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
        json_decref(rs->body);
        rs->body = parse_body(ctype, x->body.data, x->body.len);
    }
    rt_buf_free(&x->body);
    return ok;
}

bool rt_http_response_fail(rt_http_response *rs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(rs->error);
    rs->error = rt_xvprintf(fmt, ap);
    va_end(ap);
    return false;
}

void rt_http_response_free(rt_http_response *rs)
{
    free(rs->error);
    rs->error = NULL;
    rt_buf_free(&rs->head);
    json_decref(rs->headers);
    json_decref(rs->body);
    rs->headers = rs->body = NULL;
}

long rt_http_retry_after_ms(const json_t *headers)
{
    const char *v = json_string_value(json_object_get(headers, "retry-after"));
    if (!v) return -1;
    while (*v == ' ') v++;
    if (isdigit((unsigned char)*v)) {
        char *end;
        double secs = strtod(v, &end);
        return secs < 0 ? 0 : secs > 86400 ? 86400000L : (long)(secs * 1000);
    }
    time_t when = curl_getdate(v, NULL);
    if (when < 0) return -1;
    int64_t ms = (int64_t)when * 1000 - rt_now_ms();
    return ms < 0 ? 0 : ms > 86400000 ? 86400000L : (long)ms;
}

char *rt_http_link_next(const json_t *headers)
{
    const char *v = json_string_value(json_object_get(headers, "link"));
    if (!v) return NULL;
    /* <url>; rel="next"; title="x", <url2>; rel=prev */
    const char *p = v;
    while ((p = strchr(p, '<'))) {
        const char *close = strchr(p, '>');
        if (!close) return NULL;
        const char *end = close;
        bool in_quote = false;
        while (*end && (in_quote || *end != ',')) {
            if (*end == '"') in_quote = !in_quote;
            end++;
        }
        for (const char *r = close; r < end; r++) {
            if (strncasecmp(r, "rel=", 4) != 0) continue;
            r += 4;
            bool quoted = *r == '"';
            if (quoted) r++;
            /* rel may hold several space-separated types */
            while (r < end && *r != '"' && *r != ';' && *r != ',') {
                const char *w = r;
                while (r < end && *r != ' ' && *r != '"' && *r != ';' && *r != ',') r++;
                if (r - w == 4 && strncasecmp(w, "next", 4) == 0) return rt_xstrndup(p + 1, (size_t)(close - p - 1));
                while (r < end && *r == ' ') r++;
            }
        }
        p = end;
    }
    return NULL;
}
