/*
** rt_request.h — [engine] request steps below their attempts: the request
** object turned into what is sent, and one exchange classified.
**
** Credentials: an integration's auth is added here; headers that are
** credentials (rt_request.c says which) go only to the request's origin
** (rt_http_request.credentials). After a 401 from an oauth2 integration
** the token is refreshed once (rt_oauth.h) and the request sent again.
*/
#ifndef RT_REQUEST_H
#define RT_REQUEST_H

#include "rt_step.h"

/* What generated code computes of a request (rt_request's arguments,
** flowrt.h): borrowed, each NULL when the request has no such clause. The
** method and the URL template's modes are the descriptor's. */
typedef struct rt_request_parts {
    json_t *url, *headers, *query, *json, *form, *body;
} rt_request_parts;

typedef struct rt_prepared_request {
    const char *method;
    char *url;                  /* owned, query included (base_url itself when there is none) */
    json_t *headers;            /* owned, or NULL: none but the Idempotency-Key */
    char *idem_key;             /* the Idempotency-Key, sent after `headers` (idem_text's);
                                   NULL when it is in `headers` (the request's own, or one
                                   put before a Content-Type) */
    char *body;                 /* owned, or NULL */
    json_t *json_body;          /* borrowed: the json clause, for the pagination target */
    const json_t *query;        /* borrowed */
    char *base_url;             /* without query: base_text's */
    /* base_url and idem_key are written in the request's own storage while
    ** they fit (most do: a fanout item allocates nothing for them), so a
    ** prepared request stays where it was prepared (a caller's frame) */
    rt_buf base_text, idem_text;
    char base_first[256], idem_first[128];
} rt_prepared_request;

/* Turns the request parts req of step d at path into p, once per step.
** False with *err (a new string) when it cannot be built (a URL template a
** value refuses, a URL that is not absolute, a base URL that is not an
** origin, a URL off the integration's origin); a secret that is not set
** is raised on c instead (rt_ctx_raise). Free p with
** rt_request_prepared_free either way. */
bool rt_request_prepare(rt_ctx *c, const rt_step_desc *d, const char *path, const rt_request_parts *req,
                        rt_prepared_request *p, char **err);
void rt_request_prepared_free(rt_prepared_request *p);
/* What the step record keeps as the step's input: the request as sent
** { method, url, headers, json | body }, appended to b as JSON text,
** redacted and repaired (rt_step_run_text). */
void rt_request_input(const rt_prepared_request *p, rt_buf *b);
/* The request as one object, what a step whose request could not be built
** records as its input: { method, url, headers, query, json, form, body },
** the url a string or { modes, parts }. A NEW reference. */
json_t *rt_request_object(const rt_step_desc *d, const rt_request_parts *req);
/* One exchange of p to url with body, headers and Idempotency-Key (a
** page's own), then its
** status, `fail when` and `returns` checked: RT_ATT_OK with *resp a NEW
** reference to { status, headers, body }, or to the body alone when
** nothing reads the response's headers (out->response_parts: see
** rt_attempt); else out->error set (and out->retry_after_ms,
** out->http_status when a response came). */
rt_attempt_outcome rt_request_exchange(rt_ctx *c, const rt_step_desc *d, const rt_prepared_request *p,
                                       const char *url, const char *body, const json_t *headers,
                                       const char *idem_key, json_t **resp, rt_attempt *out);
/* Whether two absolute URLs share an origin (scheme, host, port). */
bool rt_request_same_origin(const char *a, const char *b);

#endif
