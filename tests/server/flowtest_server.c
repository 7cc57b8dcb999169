/*
** flowtest_server.c — the scriptable HTTP API that end-to-end tests and
** benchmarks run job binaries against. libmicrohttpd does the HTTP, jansson
** the JSON; routes come from --routes FILE and the /_ctl/ API (README.md).
**
** Threads: MHD's internal thread pool answers requests; one "hold" thread
** resumes requests suspended for delay_ms/hold_ms, so a held request costs
** no thread and thousands can be in flight at once; main waits for a signal.
** Shared state: the route table (rwlock), the log and counters (one mutex).
*/
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#define MAX_UPLOAD     (256u << 20)   /* request bodies beyond this get 413 */
#define STREAM_BLOCK   (64u << 10)    /* chunk size of generated bodies */
#define DEFAULT_LOG    100000u        /* in-memory log entries kept (a ring) */

/* ---- small helpers ------------------------------------------------------ */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "flowtest-server: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "flowtest-server: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return q;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A growable byte buffer; `p` is owned, NUL-terminated once non-empty. */
struct buf {
    char *p;
    size_t len, cap;
};

static void buf_append(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* A JSON string of arbitrary bytes: invalid UTF-8 (binary bodies) becomes
** '?' rather than failing. New reference. */
static json_t *json_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *copy = xstrndup(s, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)copy[i] >= 0x80 || copy[i] == '\0')
            copy[i] = '?';
    j = json_stringn(copy, n);
    free(copy);
    return j;
}

/* ---- scripted routes ------------------------------------------------------ */

enum body_kind {
    BODY_NONE,    /* empty body (or a generated page on a paginate route) */
    BODY_FIXED,   /* `text`, rendered once when the route was loaded */
    BODY_ECHO,    /* {"$echo": true}: a JSON description of the request */
    BODY_BYTES    /* body_bytes: an N-byte JSON string "xxx...x" */
};

struct header {
    char *name, *value;
};

/* One entry of a route's "responses", with the route-level defaults merged. */
struct resp_spec {
    unsigned status;
    enum body_kind kind;
    char *text;                 /* BODY_FIXED */
    size_t text_len;
    size_t body_bytes;          /* BODY_BYTES */
    const char *content_type;   /* default Content-Type; NULL if headers set one */
    struct header *headers;
    size_t nheaders;
    unsigned delay_ms;          /* delay_ms + hold_ms: time the request stays open */
    bool close_mid;             /* close the connection after half the body */
};

enum page_style { PAGE_NONE, PAGE_CURSOR, PAGE_NUMBER, PAGE_LINK };

struct paginate {
    enum page_style style;
    long total, per_page;
    char *items_field;
};

struct route {
    atomic_int refs;            /* the table's one, plus one per request using it */
    char *method;               /* NULL matches any method */
    char *path;                 /* without the '*' of a prefix route */
    size_t path_len;
    bool prefix;
    char *key;                  /* "GET /people/x": the route's name in stats */
    struct resp_spec *resps;
    size_t nresps;
    bool repeat_last;           /* false: the sequence starts over after the last */
    struct paginate page;
    atomic_ulong served;        /* requests answered so far: picks the next response */
    char *require_auth;         /* or NULL: the Authorization value the route accepts */
    json_t *source;             /* the route as given, for GET /_ctl/routes */
};

static void route_unref(struct route *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->nresps; i++) {
        struct resp_spec *s = &r->resps[i];
        free(s->text);
        for (size_t h = 0; h < s->nheaders; h++) {
            free(s->headers[h].name);
            free(s->headers[h].value);
        }
        free(s->headers);
    }
    free(r->resps);
    free(r->method);
    free(r->path);
    free(r->key);
    free(r->page.items_field);
    free(r->require_auth);
    json_decref(r->source);
    free(r);
}

/* A non-negative integer option; absent leaves *out alone. */
static bool get_count(json_t *v, const char *key, long max, long *out, char *err, size_t esz)
{
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
        snprintf(err, esz, "'%s' must be an integer from 0 to %ld", key, max);
        return false;
    }
    *out = (long)json_integer_value(v);
    return true;
}

static bool get_bool(json_t *v, const char *key, bool *out, char *err, size_t esz)
{
    if (!v)
        return true;
    if (!json_is_boolean(v)) {
        snprintf(err, esz, "'%s' must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* The bytes a header value {"hex": "fffe"} stands for, or NULL (err set) when
** it is not pairs of hex digits, or would hold a NUL, CR or LF. New string. */
static char *header_bytes(json_t *hex, const char *name, char *err, size_t esz)
{
    const char *h = json_string_value(hex);
    size_t n = h ? strlen(h) : 1;
    if (!h || n % 2 || strspn(h, "0123456789abcdefABCDEF") != n) {
        snprintf(err, esz, "header '%s': 'hex' must be a string of hex digit pairs", name);
        return NULL;
    }
    char *out = xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned b;
        sscanf(h + 2 * i, "%2x", &b);
        if (b == 0 || b == '\r' || b == '\n') {
            free(out);
            snprintf(err, esz, "header '%s': 'hex' may not hold NUL, CR or LF", name);
            return NULL;
        }
        out[i] = (char)b;
    }
    out[n / 2] = '\0';
    return out;
}

static void add_header(struct resp_spec *s, const char *name, const char *value)
{
    for (size_t i = 0; i < s->nheaders; i++)
        if (!strcasecmp(s->headers[i].name, name)) {   /* response overrides route */
            free(s->headers[i].value);
            s->headers[i].value = xstrdup(value);
            return;
        }
    s->headers = xrealloc(s->headers, (s->nheaders + 1) * sizeof *s->headers);
    s->headers[s->nheaders].name = xstrdup(name);
    s->headers[s->nheaders].value = xstrdup(value);
    s->nheaders++;
    if (!strcasecmp(name, "Content-Type"))
        s->content_type = NULL;
}

static bool add_headers(struct resp_spec *s, json_t *obj, char *err, size_t esz)
{
    const char *name;
    json_t *v;
    if (!obj)
        return true;
    if (!json_is_object(obj)) {
        snprintf(err, esz, "'headers' must be an object of strings");
        return false;
    }
    json_object_foreach(obj, name, v) {
        char num[64];
        if (json_is_object(v) && json_object_get(v, "hex") && json_object_size(v) == 1) {
            /* raw bytes, for values JSON text cannot hold (not UTF-8) */
            char *bytes = header_bytes(json_object_get(v, "hex"), name, err, esz);
            if (!bytes)
                return false;
            add_header(s, name, bytes);
            free(bytes);
        } else if (json_is_string(v)) {
            add_header(s, name, json_string_value(v));
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            add_header(s, name, num);
        } else if (json_is_real(v)) {
            snprintf(num, sizeof num, "%g", json_real_value(v));
            add_header(s, name, num);
        } else {
            snprintf(err, esz, "header '%s' must be a string, a number or {\"hex\": \"...\"}", name);
            return false;
        }
    }
    return true;
}

/* Fills *s from one response object `r` (NULL: the route itself is the one
** response), taking absent keys from the route object. */
static bool parse_response(json_t *r, json_t *route, struct resp_spec *s, char *err, size_t esz)
{
    memset(s, 0, sizeof *s);
    if (r && !json_is_object(r)) {
        snprintf(err, esz, "a response must be an object");
        return false;
    }
    json_t *own = r ? r : route;
#define OPT(key) (json_object_get(own, key) ? json_object_get(own, key) : json_object_get(route, key))
    long status = 200, delay = 0, hold = 0, bytes = -1;
    if (!get_count(OPT("status"), "status", 999, &status, err, esz) || status < 100) {
        snprintf(err, esz, "'status' must be an integer from 100 to 999");
        return false;
    }
    if (!get_count(OPT("delay_ms"), "delay_ms", 3600000, &delay, err, esz)
        || !get_count(OPT("hold_ms"), "hold_ms", 3600000, &hold, err, esz)
        || !get_bool(OPT("close_mid_response"), "close_mid_response", &s->close_mid, err, esz))
        return false;
    s->status = (unsigned)status;
    s->delay_ms = (unsigned)(delay + hold);

    /* The body comes whole from the response if it names one, else from the route. */
    json_t *from = (json_object_get(own, "body") || json_object_get(own, "body_bytes")) ? own : route;
    json_t *body = json_object_get(from, "body");
    if (!get_count(json_object_get(from, "body_bytes"), "body_bytes", LONG_MAX, &bytes, err, esz))
        return false;
    if (bytes >= 0) {
        if (bytes < 2) {
            snprintf(err, esz, "'body_bytes' must be at least 2 (a JSON string has quotes)");
            return false;
        }
        s->kind = BODY_BYTES;
        s->body_bytes = (size_t)bytes;
        s->content_type = "application/json";
    } else if (json_is_object(body) && json_is_true(json_object_get(body, "$echo"))) {
        s->kind = BODY_ECHO;
        s->content_type = "application/json";
    } else if (json_is_string(body)) {
        s->kind = BODY_FIXED;
        s->text_len = json_string_length(body);
        s->text = xstrndup(json_string_value(body), s->text_len);
        s->content_type = "text/plain; charset=utf-8";
    } else if (body) {
        s->kind = BODY_FIXED;
        s->text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        s->text_len = strlen(s->text);
        s->content_type = "application/json";
    }
    if (r && route != r && !add_headers(s, json_object_get(route, "headers"), err, esz))
        return false;
    return add_headers(s, json_object_get(own, "headers"), err, esz);
#undef OPT
}

static bool parse_paginate(json_t *p, struct paginate *pg, char *err, size_t esz)
{
    if (!json_is_object(p)) {
        snprintf(err, esz, "'paginate' must be an object");
        return false;
    }
    const char *style = json_string_value(json_object_get(p, "style"));
    if (!style) style = "";
    if (!strcmp(style, "cursor"))
        pg->style = PAGE_CURSOR;
    else if (!strcmp(style, "page"))
        pg->style = PAGE_NUMBER;
    else if (!strcmp(style, "link"))
        pg->style = PAGE_LINK;
    else {
        snprintf(err, esz, "'paginate.style' must be \"cursor\", \"page\" or \"link\"");
        return false;
    }
    pg->total = 0;
    pg->per_page = 10;
    if (!get_count(json_object_get(p, "total"), "paginate.total", 100000000, &pg->total, err, esz)
        || !get_count(json_object_get(p, "per_page"), "paginate.per_page", 1000000, &pg->per_page, err, esz))
        return false;
    if (pg->per_page < 1) {
        snprintf(err, esz, "'paginate.per_page' must be at least 1");
        return false;
    }
    json_t *f = json_object_get(p, "items_field");
    if (f && !json_is_string(f)) {
        snprintf(err, esz, "'paginate.items_field' must be a string");
        return false;
    }
    pg->items_field = xstrdup(f ? json_string_value(f) : "items");
    return true;
}

/* A new route (one reference) from its JSON, or NULL with err filled. */
static struct route *parse_route(json_t *j, char *err, size_t esz)
{
    if (!json_is_object(j)) {
        snprintf(err, esz, "a route must be an object");
        return NULL;
    }
    json_t *method = json_object_get(j, "method"), *path = json_object_get(j, "path");
    json_t *resps = json_object_get(j, "responses");
    if (method && !json_is_string(method)) {
        snprintf(err, esz, "'method' must be a string");
        return NULL;
    }
    if (!json_is_string(path) || json_string_value(path)[0] != '/') {
        snprintf(err, esz, "'path' must be a string starting with '/'");
        return NULL;
    }
    if (resps && (!json_is_array(resps) || json_array_size(resps) == 0)) {
        snprintf(err, esz, "'responses' must be a non-empty list");
        return NULL;
    }

    struct route *r = xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    atomic_init(&r->served, 0);
    r->source = json_incref(j);
    r->repeat_last = true;
    const char *m = method ? json_string_value(method) : "*";
    if (strcmp(m, "*")) {
        r->method = xstrdup(m);
        for (char *c = r->method; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
    }
    const char *p = json_string_value(path);
    r->path_len = strlen(p);
    r->prefix = p[r->path_len - 1] == '*';
    if (r->prefix)
        r->path_len--;
    r->path = xstrndup(p, r->path_len);
    size_t klen = strlen(m) + strlen(p) + 2;
    r->key = xmalloc(klen);
    snprintf(r->key, klen, "%s %s", r->method ? r->method : "*", p);

    r->nresps = resps ? json_array_size(resps) : 1;
    r->resps = xmalloc(r->nresps * sizeof *r->resps);
    memset(r->resps, 0, r->nresps * sizeof *r->resps);
    bool ok = get_bool(json_object_get(j, "repeat_last"), "repeat_last", &r->repeat_last, err, esz);
    for (size_t i = 0; ok && i < r->nresps; i++) {
        ok = parse_response(resps ? json_array_get(resps, i) : NULL, j, &r->resps[i], err, esz);
        if (!ok && resps) {
            size_t len = strlen(err);
            snprintf(err + len, esz - len, " (response %zu)", i + 1);
        }
    }
    if (ok && json_object_get(j, "paginate"))
        ok = parse_paginate(json_object_get(j, "paginate"), &r->page, err, esz);
    json_t *auth = json_object_get(j, "require_auth");
    if (ok && auth && !json_is_string(auth)) {
        snprintf(err, esz, "'require_auth' must be a string (the Authorization value accepted)");
        ok = false;
    } else if (ok && auth) {
        r->require_auth = xstrdup(json_string_value(auth));
    }
    if (!ok) {
        route_unref(r);
        return NULL;
    }
    return r;
}

/* The route table. Requests take a reference to the route they match, so
** replacing a route never frees one that is still answering. */
static struct {
    pthread_rwlock_t lock;
    struct route **v;
    size_t n, cap;
} routes = { .lock = PTHREAD_RWLOCK_INITIALIZER };

static bool same_route(const struct route *a, const struct route *b)
{
    bool same_method = (!a->method && !b->method)
                       || (a->method && b->method && !strcmp(a->method, b->method));
    return same_method && a->prefix == b->prefix && !strcmp(a->path, b->path);
}

/* Takes over the references in v[0..n). clear: drop every existing route first. */
static void routes_install(struct route **v, size_t n, bool clear)
{
    pthread_rwlock_wrlock(&routes.lock);
    if (clear) {
        for (size_t i = 0; i < routes.n; i++)
            route_unref(routes.v[i]);
        routes.n = 0;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (i < routes.n && !same_route(routes.v[i], v[k]))
            i++;
        if (i < routes.n) {
            route_unref(routes.v[i]);
        } else {
            if (routes.n == routes.cap) {
                routes.cap = routes.cap ? routes.cap * 2 : 16;
                routes.v = xrealloc(routes.v, routes.cap * sizeof *routes.v);
            }
            routes.n++;
        }
        routes.v[i] = v[k];
    }
    pthread_rwlock_unlock(&routes.lock);
}

/* The best route for a request, with a new reference, or NULL. Exact paths
** beat prefixes, longer prefixes beat shorter, a named method beats "*". */
static struct route *routes_match(const char *method, const char *path)
{
    struct route *best = NULL;
    size_t best_rank = 0, plen = strlen(path);
    pthread_rwlock_rdlock(&routes.lock);
    for (size_t i = 0; i < routes.n; i++) {
        struct route *r = routes.v[i];
        if (r->method && strcmp(r->method, method))
            continue;
        size_t rank;
        if (!r->prefix && r->path_len == plen && !memcmp(r->path, path, plen))
            rank = SIZE_MAX / 4;
        else if (r->prefix && r->path_len <= plen && !memcmp(r->path, path, r->path_len))
            rank = r->path_len + 1;
        else
            continue;
        rank = rank * 2 + (r->method != NULL);
        if (rank > best_rank) {
            best = r;
            best_rank = rank;
        }
    }
    if (best)
        atomic_fetch_add(&best->refs, 1);
    pthread_rwlock_unlock(&routes.lock);
    return best;
}

/* Parses a route, a list of routes or {"routes": [...]} and installs them:
** all or nothing. Returns the count, or -1 with err filled. */
static long routes_load(json_t *j, bool clear, char *err, size_t esz)
{
    if (json_is_object(j) && json_is_array(json_object_get(j, "routes")))
        j = json_object_get(j, "routes");
    size_t n = json_is_array(j) ? json_array_size(j) : 1;
    struct route **v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = parse_route(json_is_array(j) ? json_array_get(j, i) : j, err, esz);
        if (!v[i]) {
            size_t len = strlen(err);
            snprintf(err + len, esz - len, " in route %zu", i + 1);
            while (i > 0)
                route_unref(v[--i]);
            free(v);
            return -1;
        }
    }
    routes_install(v, n, clear);
    free(v);
    return (long)n;
}

/* ---- the request log and the counters -------------------------------------- */

/* Requests seen and in flight, for the whole server, one path or one route. */
struct counter {
    char *key;
    unsigned long count;
    long in_flight, max_in_flight;
};

/* Open addressing over individually allocated counters: a request keeps
** pointers to its counters, which growing the table does not move. */
struct counter_map {
    struct counter **slots;
    size_t cap, n;
};

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct counter *counter_get(struct counter_map *m, const char *key)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct counter **slots = xmalloc(cap * sizeof *slots);
        memset(slots, 0, cap * sizeof *slots);
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i]) {
                size_t k = hash_str(m->slots[i]->key) & (cap - 1);
                while (slots[k])
                    k = (k + 1) & (cap - 1);
                slots[k] = m->slots[i];
            }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t k = hash_str(key) & (m->cap - 1);
    while (m->slots[k] && strcmp(m->slots[k]->key, key))
        k = (k + 1) & (m->cap - 1);
    if (!m->slots[k]) {
        struct counter *c = xmalloc(sizeof *c);
        memset(c, 0, sizeof *c);
        c->key = xstrdup(key);
        m->slots[k] = c;
        m->n++;
    }
    return m->slots[k];
}

struct log_entry {
    char *method, *path;
    char *json;                 /* the entry as one compact JSON object */
    size_t len;
};

static struct {
    pthread_mutex_t mu;
    struct counter overall;
    struct counter_map by_path, by_route;
    struct log_entry *ring;     /* the latest `cap` entries, oldest at `start` */
    size_t cap, start, n;
    unsigned long dropped;      /* entries pushed out of the ring since the last reset */
    int fd;                     /* --log FILE, or -1 */
} rec = { .mu = PTHREAD_MUTEX_INITIALIZER, .overall = { .key = "overall" }, .fd = -1 };

static void counter_begin(struct counter *c)
{
    c->count++;
    if (++c->in_flight > c->max_in_flight)
        c->max_in_flight = c->in_flight;
}

static void log_entry_free(struct log_entry *e)
{
    free(e->method);
    free(e->path);
    free(e->json);
}

/* Takes over `json` (a compact JSON object). */
static void log_append(const char *method, const char *path, char *json)
{
    size_t len = strlen(json);
    if (rec.fd >= 0) {
        /* One write per line, no fsync: the kernel keeps it across kill -9. */
        json[len] = '\n';
        if (write(rec.fd, json, len + 1) < 0) { /* nothing useful to do */ }
        json[len] = '\0';
    }
    if (rec.cap == 0) {
        free(json);
        return;
    }
    struct log_entry e = { xstrdup(method), xstrdup(path), json, len };
    pthread_mutex_lock(&rec.mu);
    if (rec.n == rec.cap) {
        log_entry_free(&rec.ring[rec.start]);
        rec.ring[rec.start] = e;
        rec.start = (rec.start + 1) % rec.cap;
        rec.dropped++;
    } else {
        rec.ring[(rec.start + rec.n++) % rec.cap] = e;
    }
    pthread_mutex_unlock(&rec.mu);
}

static void counters_reset(struct counter_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i]) {
            m->slots[i]->count = 0;
            m->slots[i]->max_in_flight = m->slots[i]->in_flight;
        }
}

/* ---- holding requests open ---------------------------------------------------- */

struct hold {
    uint64_t due;               /* CLOCK_MONOTONIC ms */
    struct MHD_Connection *conn;
};

/* A min-heap of suspended connections by due time, served by one thread. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hold *heap;
    size_t n, cap;
    bool stopping;              /* shutting down: resume everything, hold nothing new */
    pthread_t thread;
} holds = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void heap_push(struct hold h)
{
    if (holds.n == holds.cap) {
        holds.cap = holds.cap ? holds.cap * 2 : 64;
        holds.heap = xrealloc(holds.heap, holds.cap * sizeof *holds.heap);
    }
    size_t i = holds.n++;
    while (i > 0 && holds.heap[(i - 1) / 2].due > h.due) {
        holds.heap[i] = holds.heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    holds.heap[i] = h;
}

static struct hold heap_pop(void)
{
    struct hold top = holds.heap[0], last = holds.heap[--holds.n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= holds.n)
            break;
        if (c + 1 < holds.n && holds.heap[c + 1].due < holds.heap[c].due)
            c++;
        if (holds.heap[c].due >= last.due)
            break;
        holds.heap[i] = holds.heap[c];
        i = c;
    }
    if (holds.n > 0)
        holds.heap[i] = last;
    return top;
}

/* Suspends conn (called from the access handler) and resumes it in ms.
** False when shutting down: the caller answers at once. */
static bool hold_connection(struct MHD_Connection *conn, unsigned ms)
{
    pthread_mutex_lock(&holds.mu);
    if (holds.stopping) {
        pthread_mutex_unlock(&holds.mu);
        return false;
    }
    MHD_suspend_connection(conn);
    heap_push((struct hold){ clock_ms(CLOCK_MONOTONIC) + ms, conn });
    pthread_cond_signal(&holds.cv);
    pthread_mutex_unlock(&holds.mu);
    return true;
}

static void *hold_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&holds.mu);
    for (;;) {
        if (holds.stopping && holds.n == 0)
            break;
        uint64_t now = clock_ms(CLOCK_MONOTONIC);
        if (holds.n > 0 && (holds.stopping || holds.heap[0].due <= now)) {
            struct hold h = heap_pop();
            pthread_mutex_unlock(&holds.mu);
            MHD_resume_connection(h.conn);
            pthread_mutex_lock(&holds.mu);
        } else if (holds.n == 0) {
            pthread_cond_wait(&holds.cv, &holds.mu);
        } else {
            uint64_t due = holds.heap[0].due;
            struct timespec ts = { (time_t)(due / 1000), (long)(due % 1000) * 1000000L };
            pthread_cond_timedwait(&holds.cv, &holds.mu, &ts);
        }
    }
    pthread_mutex_unlock(&holds.mu);
    return NULL;
}

static void holds_start(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&holds.cv, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&holds.thread, NULL, hold_thread, NULL)) {
        fprintf(stderr, "flowtest-server: cannot start the hold thread\n");
        exit(1);
    }
}

/* Resumes every held request now and stops the thread. */
static void holds_stop(void)
{
    pthread_mutex_lock(&holds.mu);
    holds.stopping = true;
    pthread_cond_signal(&holds.cv);
    pthread_mutex_unlock(&holds.mu);
    pthread_join(holds.thread, NULL);
    pthread_cond_destroy(&holds.cv);
    free(holds.heap);
}

/* ---- requests ---------------------------------------------------------------- */

/* Per-request state: created when the request line arrives (the URI log
** callback), freed when MHD reports the request completed. */
struct request {
    char *uri;                  /* the request target as sent, query included */
    char *path;                 /* uri before '?', not decoded */
    const char *query;          /* uri after '?' (points into uri), or "" */
    struct buf body;
    bool started;               /* headers seen: counted in flight */
    bool answered;              /* answer queued: no longer counted in flight */
    bool control;               /* /_ctl/...: neither logged nor counted */
    bool too_big;               /* body over MAX_UPLOAD */
    struct counter *path_ctr, *route_ctr;
    struct route *route;        /* matched route (a reference), or NULL */
    struct MHD_Response *held;  /* the answer, queued once the hold ends */
    unsigned held_status;
};

static unsigned short g_port;   /* the bound port, for Link headers */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct request *rq = xmalloc(sizeof *rq);
    memset(rq, 0, sizeof *rq);
    rq->uri = xstrdup(uri);
    char *q = strchr(rq->uri, '?');
    rq->path = xstrndup(rq->uri, q ? (size_t)(q - rq->uri) : strlen(rq->uri));
    rq->query = q ? q + 1 : "";
    rq->control = !strncmp(rq->path, "/_ctl/", 6);
    return rq;
}

/* A request stops counting as in flight when its answer is queued: a
** client that got the answer may send its next request before MHD calls
** on_completed, and max_in_flight must not count both. */
static void leave_flight(struct request *rq)
{
    if (!rq->started || rq->control || rq->answered)
        return;
    rq->answered = true;
    pthread_mutex_lock(&rec.mu);
    rec.overall.in_flight--;
    rq->path_ctr->in_flight--;
    if (rq->route_ctr)
        rq->route_ctr->in_flight--;
    pthread_mutex_unlock(&rec.mu);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    leave_flight(rq);
    if (rq->held)
        MHD_destroy_response(rq->held);
    route_unref(rq->route);
    free(rq->uri);
    free(rq->path);
    free(rq->body.p);
    free(rq);
    *con_cls = NULL;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    json_t *headers = cls;
    char name[256];
    size_t n = 0;
    for (; key[n] && n < sizeof name - 1; n++)
        name[n] = (char)((key[n] >= 'A' && key[n] <= 'Z') ? key[n] - 'A' + 'a' : key[n]);
    name[n] = '\0';
    if (!value)
        value = "";
    json_t *old = json_object_get(headers, name);
    if (old) {   /* a repeated header: one value, comma-joined as HTTP allows */
        size_t len = json_string_length(old) + strlen(value) + 3;
        char *joined = xmalloc(len);
        snprintf(joined, len, "%s, %s", json_string_value(old), value);
        json_object_set_new(headers, name, json_text(joined, strlen(joined)));
        free(joined);
    } else {
        json_object_set_new(headers, name, json_text(value, strlen(value)));
    }
    return MHD_YES;
}

/* {method, path, query, headers, body}: new reference. */
static json_t *describe_request(struct MHD_Connection *conn, struct request *rq, const char *method)
{
    json_t *headers = json_object();
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, headers);
    return json_pack("{s:s, s:o, s:o, s:o, s:o}",
                     "method", method,
                     "path", json_text(rq->path, strlen(rq->path)),
                     "query", json_text(rq->query, strlen(rq->query)),
                     "headers", headers,
                     "body", json_text(rq->body.p ? rq->body.p : "", rq->body.len));
}

/* A body being sent through a callback: generated "xxx" bytes or a buffer,
** possibly cut off halfway (close_mid_response). */
struct stream {
    char *owned;                /* freed with the stream; NULL if data is borrowed */
    const char *data;           /* NULL: generate a JSON string of `len` bytes */
    size_t len;
    size_t stop_at;             /* len, or len/2 to drop the connection there */
};

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *st = cls;
    if (pos >= st->stop_at)
        return st->stop_at < st->len ? MHD_CONTENT_READER_END_WITH_ERROR
                                     : MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = st->stop_at - (size_t)pos;
    if (n > max)
        n = max;
    if (st->data) {
        memcpy(out, st->data + pos, n);
    } else {
        memset(out, 'x', n);
        if (pos == 0)
            out[0] = '"';
        if (pos + n == st->len)
            out[n - 1] = '"';
    }
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    free(st->owned);
    free(st);
}

/* A response over `data` (NULL: generated bytes). owned: data was malloc'd
** and the response frees it; otherwise it must outlive the request. */
static struct MHD_Response *make_response(char *data, size_t len, bool owned, bool cut)
{
    if (data && !cut)
        return MHD_create_response_from_buffer(len, data, owned ? MHD_RESPMEM_MUST_FREE
                                                                : MHD_RESPMEM_PERSISTENT);
    struct stream *st = xmalloc(sizeof *st);
    *st = (struct stream){ owned ? data : NULL, data, len, cut ? len / 2 : len };
    struct MHD_Response *resp = MHD_create_response_from_callback(len, STREAM_BLOCK, stream_read,
                                                                  st, stream_free);
    if (!resp)
        stream_free(st);
    return resp;
}

static struct MHD_Response *json_response(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    struct MHD_Response *resp = make_response(text, strlen(text), true, false);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return resp;
}

/* The page a paginate route answers with; *more says another page follows
** (its page number or cursor in *next). New reference. */
static json_t *make_page(struct MHD_Connection *conn, const struct paginate *pg, bool *more, long *next)
{
    long start, page = 1;
    if (pg->style == PAGE_CURSOR) {
        const char *c = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor");
        start = c ? atol(c) : 0;
    } else {
        const char *p = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page");
        page = p ? atol(p) : 1;
        if (page < 1)
            page = 1;
        start = (page - 1) > pg->total / pg->per_page ? pg->total : (page - 1) * pg->per_page;
    }
    if (start < 0)
        start = 0;
    long end = start + pg->per_page < pg->total ? start + pg->per_page : pg->total;
    json_t *items = json_array();
    for (long i = start; i < end; i++)
        json_array_append_new(items, json_pack("{s:I}", "id", (json_int_t)(i + 1)));
    json_t *body = json_object();
    json_object_set_new(body, pg->items_field, items);
    *more = end < pg->total;
    *next = pg->style == PAGE_CURSOR ? end : page + 1;
    if (pg->style == PAGE_CURSOR) {
        char cur[32];
        snprintf(cur, sizeof cur, "%ld", end);
        json_object_set_new(body, "next", *more ? json_string(cur) : json_null());
    } else {
        json_object_set_new(body, "page", json_integer(page));
    }
    return body;
}

/* Whether the request's Authorization header is exactly want. */
static bool auth_matches(struct MHD_Connection *conn, const char *want)
{
    const char *got = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return got && strcmp(got, want) == 0;
}

/* Answers a scripted request: picks the route's next response, records the
** request, then answers now or after the response's delay. */
static enum MHD_Result serve(struct MHD_Connection *conn, struct request *rq, const char *method)
{
    uint64_t now = clock_ms(CLOCK_REALTIME);
    struct route *r = rq->route;
    json_t *desc = describe_request(conn, rq, method);
    struct MHD_Response *resp;
    unsigned status, delay = 0;

    if (rq->too_big) {
        status = 413;
        resp = json_response(json_pack("{s:s}", "error", "request body too large"));
    } else if (!r) {
        char msg[512];
        snprintf(msg, sizeof msg, "no route for %s %.400s", method, rq->path);
        status = MHD_HTTP_NOT_FOUND;
        resp = json_response(json_pack("{s:s}", "error", msg));
    } else if (r->require_auth && !auth_matches(conn, r->require_auth)) {
        status = MHD_HTTP_UNAUTHORIZED;     /* the sequence does not advance */
        resp = json_response(json_pack("{s:s}", "error", "invalid_token"));
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    } else {
        unsigned long k = atomic_fetch_add(&r->served, 1);
        size_t i = k < r->nresps ? k : r->repeat_last ? r->nresps - 1 : k % r->nresps;
        const struct resp_spec *s = &r->resps[i];
        bool paged = r->page.style != PAGE_NONE && s->kind == BODY_NONE
                     && s->status >= 200 && s->status < 300;
        bool more = false;
        long next = 0;
        status = s->status;
        delay = s->delay_ms;
        if (paged) {
            json_t *page = make_page(conn, &r->page, &more, &next);
            char *text = json_dumps(page, JSON_COMPACT);
            json_decref(page);
            resp = make_response(text, strlen(text), true, s->close_mid);
        } else if (s->kind == BODY_ECHO) {
            char *text = json_dumps(desc, JSON_COMPACT);
            resp = make_response(text, strlen(text), true, s->close_mid);
        } else if (s->kind == BODY_BYTES) {
            resp = make_response(NULL, s->body_bytes, false, s->close_mid);
        } else {
            resp = make_response(s->text ? s->text : "", s->text_len, false, s->close_mid);
        }
        if (paged || s->content_type)
            MHD_add_response_header(resp, "Content-Type", paged ? "application/json" : s->content_type);
        for (size_t h = 0; h < s->nheaders; h++)
            MHD_add_response_header(resp, s->headers[h].name, s->headers[h].value);
        if (paged && more && r->page.style == PAGE_LINK) {
            char link[1200];
            snprintf(link, sizeof link, "<http://127.0.0.1:%u%.1000s?page=%ld>; rel=\"next\"",
                     (unsigned)g_port, rq->path, next);
            MHD_add_response_header(resp, "Link", link);
        }
    }

    json_object_set_new(desc, "status", json_integer(status));
    json_object_set_new(desc, "route", r ? json_string(r->key) : json_null());
    json_object_set_new(desc, "time_ms", json_integer((json_int_t)now));
    log_append(method, rq->path, json_dumps(desc, JSON_COMPACT));
    json_decref(desc);

    if (delay > 0) {
        rq->held = resp;
        rq->held_status = status;
        if (hold_connection(conn, delay))
            return MHD_YES;
        rq->held = NULL;
    }
    leave_flight(rq);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the control API --------------------------------------------------------- */

static json_t *counter_json(const struct counter *c)
{
    return json_pack("{s:I, s:I, s:I}", "count", (json_int_t)c->count,
                     "in_flight", (json_int_t)c->in_flight,
                     "max_in_flight", (json_int_t)c->max_in_flight);
}

static json_t *counters_json(const struct counter_map *m)
{
    json_t *o = json_object();
    for (size_t i = 0; i < m->cap; i++) {
        const struct counter *c = m->slots[i];
        if (c && (c->count || c->in_flight))
            json_object_set_new(o, c->key, counter_json(c));
    }
    return o;
}

/* Does `value` pass the filter `want` (NULL: no filter; trailing '*': prefix)? */
static bool filter_ok(const char *want, const char *value)
{
    if (!want || !*want)
        return true;
    size_t n = strlen(want);
    if (want[n - 1] == '*')
        return !strncmp(want, value, n - 1);
    return !strcmp(want, value);
}

static struct MHD_Response *ctl_log(struct MHD_Connection *conn)
{
    const char *path = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "path");
    const char *method = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "method");
    struct buf out = { 0 };
    buf_append(&out, "[", 1);
    pthread_mutex_lock(&rec.mu);
    bool first = true;
    for (size_t i = 0; i < rec.n; i++) {
        const struct log_entry *e = &rec.ring[(rec.start + i) % rec.cap];
        if (!filter_ok(path, e->path) || (method && *method && strcasecmp(method, e->method)))
            continue;
        if (!first)
            buf_append(&out, ",\n", 2);
        buf_append(&out, e->json, e->len);
        first = false;
    }
    pthread_mutex_unlock(&rec.mu);
    buf_append(&out, "]\n", 2);
    struct MHD_Response *resp = make_response(out.p, out.len, true, false);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return resp;
}

static struct MHD_Response *ctl_stats(void)
{
    pthread_mutex_lock(&rec.mu);
    json_t *j = json_pack("{s:o, s:o, s:o, s:I, s:I}",
                          "overall", counter_json(&rec.overall),
                          "paths", counters_json(&rec.by_path),
                          "routes", counters_json(&rec.by_route),
                          "logged", (json_int_t)rec.n,
                          "log_dropped", (json_int_t)rec.dropped);
    pthread_mutex_unlock(&rec.mu);
    return json_response(j);
}

static struct MHD_Response *ctl_reset(void)
{
    pthread_mutex_lock(&rec.mu);
    for (size_t i = 0; i < rec.n; i++)
        log_entry_free(&rec.ring[(rec.start + i) % rec.cap]);
    rec.start = rec.n = 0;
    rec.dropped = 0;
    rec.overall.count = 0;
    rec.overall.max_in_flight = rec.overall.in_flight;
    counters_reset(&rec.by_path);
    counters_reset(&rec.by_route);
    pthread_mutex_unlock(&rec.mu);
    pthread_rwlock_rdlock(&routes.lock);
    for (size_t i = 0; i < routes.n; i++)
        atomic_store(&routes.v[i]->served, 0);
    pthread_rwlock_unlock(&routes.lock);
    return json_response(json_pack("{s:b}", "ok", 1));
}

static struct MHD_Response *ctl_routes_get(void)
{
    json_t *list = json_array();
    pthread_rwlock_rdlock(&routes.lock);
    for (size_t i = 0; i < routes.n; i++)
        json_array_append(list, routes.v[i]->source);
    pthread_rwlock_unlock(&routes.lock);
    return json_response(list);
}

static struct MHD_Response *ctl_routes_post(struct MHD_Connection *conn, struct request *rq, unsigned *status)
{
    json_error_t jerr;
    char err[512];
    const char *clear = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "clear");
    json_t *j = json_loadb(rq->body.p ? rq->body.p : "", rq->body.len, 0, &jerr);
    long n = -1;
    if (!j)
        snprintf(err, sizeof err, "routes: invalid JSON at line %d: %s", jerr.line, jerr.text);
    else
        n = routes_load(j, clear && strcmp(clear, "0"), err, sizeof err);
    json_decref(j);
    if (n < 0) {
        *status = MHD_HTTP_BAD_REQUEST;
        return json_response(json_pack("{s:s}", "error", err));
    }
    return json_response(json_pack("{s:b, s:I}", "ok", 1, "routes", (json_int_t)n));
}

static enum MHD_Result control(struct MHD_Connection *conn, struct request *rq, const char *method)
{
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    const char *what = rq->path + 6;
    unsigned status = MHD_HTTP_OK;
    struct MHD_Response *resp;
    if (get && !strcmp(what, "log"))
        resp = ctl_log(conn);
    else if (get && !strcmp(what, "stats"))
        resp = ctl_stats();
    else if (post && !strcmp(what, "reset"))
        resp = ctl_reset();
    else if (get && !strcmp(what, "routes"))
        resp = ctl_routes_get();
    else if (post && !strcmp(what, "routes"))
        resp = ctl_routes_post(conn, rq, &status);
    else {
        status = MHD_HTTP_NOT_FOUND;
        resp = json_response(json_pack("{s:s}", "error",
            "control API: GET /_ctl/log, GET /_ctl/stats, GET|POST /_ctl/routes, POST /_ctl/reset"));
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* MHD calls this once when the headers are in, once per body chunk, once
** when the body is complete, and once more after a hold ends. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct request *rq = *con_cls;
    if (!rq)
        *con_cls = rq = on_uri(NULL, url, conn);
    if (rq->held) {
        struct MHD_Response *resp = rq->held;
        rq->held = NULL;
        leave_flight(rq);
        enum MHD_Result ret = MHD_queue_response(conn, rq->held_status, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    if (!rq->started) {
        rq->started = true;
        if (!rq->control) {
            rq->route = routes_match(method, rq->path);
            pthread_mutex_lock(&rec.mu);
            counter_begin(&rec.overall);
            rq->path_ctr = counter_get(&rec.by_path, rq->path);
            counter_begin(rq->path_ctr);
            if (rq->route) {
                rq->route_ctr = counter_get(&rec.by_route, rq->route->key);
                counter_begin(rq->route_ctr);
            }
            pthread_mutex_unlock(&rec.mu);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->body.len + *upload_size > MAX_UPLOAD)
            rq->too_big = true;
        else
            buf_append(&rq->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return rq->control ? control(conn, rq, method) : serve(conn, rq, method);
}

/* ---- the program ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: flowtest-server [--port N] [--port-file FILE] [--routes FILE] [--log FILE]\n"
          "                       [--threads N] [--max-log N]\n"
          "  --port N        listen on 127.0.0.1:N (0, the default: any free port);\n"
          "                  the first line on stdout is \"PORT <n>\"\n"
          "  --port-file F   also write the port number to F\n"
          "  --routes FILE   scripted routes (a JSON route or list of routes)\n"
          "  --log FILE      also append each request to FILE as a JSON line\n"
          "  --threads N     request threads (default: number of CPUs, 2..16)\n"
          "  --max-log N     requests kept in memory for /_ctl/log (default 100000; 0: none)\n"
          "Control API: GET /_ctl/log[?path=P&method=M], GET /_ctl/stats,\n"
          "             GET|POST /_ctl/routes[?clear=1], POST /_ctl/reset (see README.md)\n", f);
}

static bool parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool write_port_file(const char *path, unsigned port)
{
    size_t n = strlen(path) + 8;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%u\n", port) > 0;
    ok = f && !fclose(f) && ok && !rename(tmp, path);   /* readers never see it half-written */
    if (!ok)
        fprintf(stderr, "flowtest-server: cannot write %s: %s\n", path, strerror(errno));
    free(tmp);
    return ok;
}

static void cleanup(void)
{
    for (size_t i = 0; i < routes.n; i++)
        route_unref(routes.v[i]);
    free(routes.v);
    for (size_t i = 0; i < rec.n; i++)
        log_entry_free(&rec.ring[(rec.start + i) % rec.cap]);
    free(rec.ring);
    struct counter_map *maps[] = { &rec.by_path, &rec.by_route };
    for (size_t m = 0; m < 2; m++) {
        for (size_t i = 0; i < maps[m]->cap; i++)
            if (maps[m]->slots[i]) {
                free(maps[m]->slots[i]->key);
                free(maps[m]->slots[i]);
            }
        free(maps[m]->slots);
    }
    if (rec.fd >= 0)
        close(rec.fd);
}

int main(int argc, char **argv)
{
    long port = 0, threads = 0, max_log = DEFAULT_LOG;
    const char *port_file = NULL, *routes_file = NULL, *log_file = NULL;
    static const struct option opts[] = {
        { "port", required_argument, NULL, 'p' },
        { "port-file", required_argument, NULL, 'f' },
        { "routes", required_argument, NULL, 'r' },
        { "log", required_argument, NULL, 'l' },
        { "threads", required_argument, NULL, 't' },
        { "max-log", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'p': ok = parse_num(optarg, 0, 65535, &port); break;
        case 'f': port_file = optarg; break;
        case 'r': routes_file = optarg; break;
        case 'l': log_file = optarg; break;
        case 't': ok = parse_num(optarg, 1, 256, &threads); break;
        case 'm': ok = parse_num(optarg, 0, 100000000, &max_log); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            fprintf(stderr, "flowtest-server: bad number '%s'\n", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus < 2 ? 2 : cpus > 16 ? 16 : cpus;
    }

    if (routes_file) {
        json_error_t jerr;
        char err[512];
        json_t *j = json_load_file(routes_file, 0, &jerr);
        if (!j) {
            fprintf(stderr, "%s:%d:%d: error: %s\n", routes_file, jerr.line, jerr.column, jerr.text);
            return 2;
        }
        long n = routes_load(j, false, err, sizeof err);
        json_decref(j);
        if (n < 0) {
            fprintf(stderr, "%s: error: %s\n", routes_file, err);
            return 2;
        }
    }
    if (log_file) {
        rec.fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (rec.fd < 0) {
            fprintf(stderr, "flowtest-server: cannot open %s: %s\n", log_file, strerror(errno));
            return 2;
        }
    }
    rec.cap = (size_t)max_log;
    rec.ring = xmalloc((rec.cap ? rec.cap : 1) * sizeof *rec.ring);

    /* Many sockets for benchmarks; signals go to main's sigwait only. */
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    holds_start();
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "flowtest-server: cannot listen on 127.0.0.1:%ld\n", port);
        holds_stop();
        cleanup();
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    g_port = info ? info->port : (unsigned short)port;
    printf("PORT %u\n", (unsigned)g_port);
    fflush(stdout);
    if (port_file && !write_port_file(port_file, g_port)) {
        MHD_stop_daemon(d);
        holds_stop();
        cleanup();
        return 1;
    }

    int sig = 0;
    sigwait(&sigs, &sig);

    /* Stop accepting, answer held requests now, let them finish (MHD must
    ** not be stopped with suspended connections), then stop. */
    MHD_socket listen_fd = MHD_quiesce_daemon(d);
    holds_stop();
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&rec.mu);
        long busy = rec.overall.in_flight;
        pthread_mutex_unlock(&rec.mu);
        if (busy <= 0)
            break;
        usleep(10000);
    }
    MHD_stop_daemon(d);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    cleanup();
    return 0;
}
