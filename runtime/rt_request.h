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

typedef struct rt_prepared_request {
    const char *method;
    char *url;                  /* owned, query included */
    json_t *headers;            /* owned */
    char *body;                 /* owned, or NULL */
    json_t *json_body;          /* borrowed: the json clause, for the pagination target */
    const json_t *query;        /* borrowed */
    char *base_url;             /* owned, without query */
} rt_prepared_request;

/* Turns the request object req ({ method, url, headers?, query?, json?,
** form?, body? }, flowrt.h) of step d at path into p, once per step.
** False with *err (a new string) when it cannot be built (a URL template a
** value refuses, a URL that is not absolute, a base URL that is not an
** origin, a URL off the integration's origin); a secret that is not set
** is raised on c instead (rt_ctx_raise). Free p with
** rt_request_prepared_free either way. */
bool rt_request_prepare(rt_ctx *c, const rt_step_desc *d, const char *path, json_t *req, rt_prepared_request *p,
                        char **err);
void rt_request_prepared_free(rt_prepared_request *p);
/* What the step record keeps as the step's input: the request as sent
** (NEW reference; rt_step_run stores it redacted). */
json_t *rt_request_input(const rt_prepared_request *p);
/* One exchange of p to url with body and headers (a page's own), then its
** status, `fail when` and `returns` checked: RT_ATT_OK with *resp a NEW
** reference to { status, headers, body }, else out->error set (and
** out->retry_after_ms, out->http_status when a response came). */
rt_attempt_outcome rt_request_exchange(rt_ctx *c, const rt_step_desc *d, const rt_prepared_request *p,
                                       const char *url, const char *body, const json_t *headers, json_t **resp,
                                       rt_attempt *out);
/* Whether two absolute URLs share an origin (scheme, host, port). */
bool rt_request_same_origin(const char *a, const char *b);

#endif
