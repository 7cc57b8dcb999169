/*
** rt_http.h — [services] HTTP over libcurl (the URL helpers are rt_url.h's).
**
** rt_http_perform is synchronous and thread-safe: each thread keeps its own
** curl easy handle (and so its own connection cache). Called from a fanout
** item's coroutine it suspends the item and sends through the scheduler's
** multi handle instead (rt_co.h registers that through rt_http_set_co_hooks). Call rt_http_global_init once first.
*/
#ifndef RT_HTTP_H
#define RT_HTTP_H

#include "flowrt.h"
#include "rt_url.h"
#include "rt_util.h"

#define RT_HTTP_USER_AGENT "flowc/0.1"
#define RT_HTTP_DEFAULT_TIMEOUT_MS 30000L
#define RT_HTTP_DEFAULT_MAX_RESPONSE ((size_t)16 << 20)

/* Redirects (301, 302, 303, 307, 308; at most 10) are followed here rather
** than by libcurl, which would send custom headers to any host: a hop to
** another origin (rt_url_origin) goes without `credentials` and without
** the Authorization, Proxy-Authorization and Cookie of `headers`, and a hop
** that would send a `body_private` body to another origin is not made (the
** request fails). 303, and 301/302 after a POST, continue as a GET without
** a body, as libcurl and browsers do; 307 and 308 keep method and body. */
typedef struct rt_http_request {
    const char *method;
    const char *url;            /* absolute, query included */
    const json_t *headers;      /* borrowed: object of name -> string */
    const json_t *credentials;  /* borrowed: more headers, sent only to url's
                                   origin; NULL: none */
    const char *idempotency_key;/* or NULL: sent as the Idempotency-Key header (after
                                   `headers`), on every hop */
    const char *body;           /* or NULL */
    size_t body_len;
    bool body_private;          /* the body holds credentials (see above) */
    long timeout_ms;            /* 0 = RT_HTTP_DEFAULT_TIMEOUT_MS */
    size_t max_response;        /* 0 = $FLOW_MAX_RESPONSE, else 16 MiB */
} rt_http_request;

typedef struct rt_http_response {
    long status;                /* 0 when no complete response arrived */
    rt_buf head;                /* the headers as they came: lower-case name, NUL, value, NUL,
                                   ... (a repeated name once per line) */
    json_t *headers;            /* NEW reference or NULL: lower-case name -> string, one per
                                   name (repeats joined by ", "); made from head when first
                                   asked for (rt_http_response_headers) */
    json_t *body;               /* NEW reference: JSON if it is JSON, else string; null if empty */
    char *error;                /* owned: the transport error, whole (never cut: it may hold a
                                   secret, which only redaction may touch); NULL when a
                                   response arrived */
    bool retryable;             /* the transport error is worth retrying */
    long elapsed_ms;
} rt_http_response;

void rt_http_global_init(void);

/* The response's headers as an object (borrowed from rs): made from
** rs->head on the first call. A request step makes it only when the
** workflow reads them: a fanout's thousands of responses keep their headers
** as text, for their records (rt_http_head_encode). */
json_t *rt_http_response_headers(rt_http_response *rs);
/* The headers of head (rt_http_response.head) as the JSON object
** rt_http_response_headers makes, written as JSON text, each name and
** value redacted (rt_json_encode_string_redacted). */
void rt_http_head_encode(rt_buf *b, const rt_buf *head);

/* Sends the request. Returns true when a response arrived (any status);
** false with rs->error set otherwise (rt_http_response_fail). rs comes in
** zeroed, or with head given storage (rt_buf_on), where the headers are
** then written while they fit. Either way rs must be released with
** rt_http_response_free. */
bool rt_http_perform(const rt_http_request *rq, rt_http_response *rs);

/* At most n requests in flight in this process at once, over every fanout
** and run (default 64): rt_http_perform waits for a slot. */
void rt_http_set_max_inflight(int n);

/* Rate limits: after a 429 from a host, requests to the same host and port
** wait until the pause has passed (fanout items share it). */
void rt_http_host_pause(const char *url, long ms);
/* How long a request to url must still wait, in ms (0: none). */
long rt_http_host_pause_ms(const char *url);

/* flowc test: while an intercept is set, rt_http_perform hands every
** request to it instead of the network (it fills rs exactly as
** rt_http_perform would, and returns the same). NULL removes it. Set it
** only while no request is in flight. */
typedef bool (*rt_http_intercept_fn)(void *arg, const rt_http_request *rq, rt_http_response *rs);
void rt_http_set_intercept(rt_http_intercept_fn fn, void *arg);
void rt_http_response_free(rt_http_response *rs);
/* Sets rs->error (replacing any) to the formatted message; returns false,
** what rt_http_perform returns then. */
bool rt_http_response_fail(rt_http_response *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For rt_co.c, which drives transfers on a multi handle: a transfer set up
** on the easy handle h (a CURL *) for rq, filling rs (initialised as
** rt_http_perform does, headers checked); finish it with curl's result code
** once it is done: returns what rt_http_perform would. x is the caller's
** (on its stack: a transfer allocates nothing of its own while its body
** fits in body_first); its members are rt_http.c's. */
typedef struct rt_http_xfer {
    void *h;                    /* the CURL * */
    const rt_http_request *rq;
    rt_http_response *rs;
    rt_buf body;                /* in body_first while it fits */
    size_t cap;                 /* the most body accepted */
    bool too_big;
    long timeout;
    const char *method;
    struct curl_slist *hl;
    int64_t t0;
    char errbuf[256];           /* CURL_ERROR_SIZE */
    char body_first[1024];
} rt_http_xfer;
void rt_http_xfer_start(rt_http_xfer *x, void *h, const rt_http_request *rq, rt_http_response *rs);
bool rt_http_xfer_finish(rt_http_xfer *x, int curl_code);
/* Coroutines sit above HTTP (rt_co.h): the scheduler registers how a
** coroutine's exchange goes through its multi handle, and every exchange
** asks it first. perform returns -1 when the calling thread runs no
** coroutine (the exchange then uses the thread's own handle), else what
** rt_http_perform returns for one hop. in_sched tells whether a scheduler
** runs on the calling thread: a blocking exchange there skips the
** in-flight cap, whose slots its own suspended coroutines may hold. */
typedef struct rt_http_co_hooks {
    int (*perform)(const rt_http_request *rq, rt_http_response *rs);
    bool (*in_sched)(void);
} rt_http_co_hooks;
void rt_http_set_co_hooks(const rt_http_co_hooks *hooks);
/* A slot under the in-flight cap without waiting (false: none free). */
bool rt_http_inflight_try_enter(void);
void rt_http_inflight_leave(void);

/* Retry-After (seconds or HTTP date) in ms from now, or -1 when absent. */
long rt_http_retry_after_ms(const json_t *headers);
/* The rel="next" target of a Link header (new string), or NULL. */
char *rt_http_link_next(const json_t *headers);

#endif
