/*
** rt_request.c — [engine] request steps: the request object turned into
** what is sent (URL, integration base and auth, headers, body), which
** headers are credentials, one exchange classified (status, `fail when`,
** `returns`), and the OAuth2 refresh after a 401.
*/
#include "rt_request.h"

#include <strings.h>

#include "rt_co.h"
#include "rt_input.h"
#include "rt_log.h"
#include "rt_oauth.h"
#include "rt_signal.h"
#include "rt_type.h"

/* The header's value (borrowed), its name matched without case, or NULL. */
static json_t *header_get(const json_t *headers, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v) if (strcasecmp(k, name) == 0) return v;
    return NULL;
}

static bool has_header(const json_t *headers, const char *name)
{
    return header_get(headers, name) != NULL;
}

/* An integration's base URL: the user's connection's, else
** FLOW_<NAME>_BASE_URL (deployment-wide), else the declared one. */
static const char *integ_base(rt_run_state *run, const rt_integration *in)
{
    return rt_run_integ_base(run, in);
}

/* Whether two absolute URLs share an origin (scheme, host, port). */
bool rt_request_same_origin(const char *a, const char *b)
{
    char oa[RT_URL_ORIGIN_MAX], ob[RT_URL_ORIGIN_MAX];
    return rt_url_origin(a, oa, sizeof oa) && rt_url_origin(b, ob, sizeof ob) && strcmp(oa, ob) == 0;
}

static bool integ_has_credentials(const rt_integration *in)
{
    return in && in->auth != RT_AUTH_NONE && in->secret;
}

/* An integration's base URL is an origin and a base path: absolute http(s),
** no query or fragment (a path joined to it would land inside them). */
static bool integ_base_ok(const rt_integration *in, const char *base, char **err)
{
    char origin[RT_URL_ORIGIN_MAX];
    if (rt_url_is_absolute(base) && rt_url_origin(base, origin, sizeof origin) && !strpbrk(base, "?#")) return true;
    char var[160];
    rt_env_name(var, sizeof var, "FLOW_", in->name, "_BASE_URL");
    const char *env = getenv(var);
    bool from_env = base != in->base_url && env && strcmp(env, base) == 0;
    bool from_conn = base != in->base_url && !from_env;
    *err = rt_xprintf("the base URL of integration '%s' ('%s'%s%s) must be an absolute http:// or https:// URL "
                      "without a query or fragment",
                      in->name, base, from_env ? ", from " : from_conn ? ", from the user's connection" : "",
                      from_env ? var : "");
    return false;
}

/* Whether a request header is a credential, sent only to the request's
** origin (rt_http_request.credentials): the standard ones, the header the
** integration's auth declares, one whose name says it holds a credential,
** and one whose value holds a secret (an Authorization built in the
** workflow, "X-Token": secret.x). */
static bool header_is_credential(const rt_step_desc *d, const char *name, const json_t *value)
{
    static const char *const standard[] = { "authorization", "proxy-authorization", "cookie" };
    static const char *const words[] = { "auth", "token", "secret", "key", "session", "cookie", "passw",
                                         "signature", "credential" };
    for (size_t i = 0; i < sizeof standard / sizeof *standard; i++)
        if (strcasecmp(name, standard[i]) == 0) return true;
    if (d->integ && d->integ->auth == RT_AUTH_HEADER && d->integ->header && strcasecmp(name, d->integ->header) == 0)
        return true;
    if (strcasecmp(name, "Idempotency-Key") != 0)
        for (size_t i = 0; i < sizeof words / sizeof *words; i++)
            if (strcasestr(name, words[i])) return true;
    return json_is_string(value) && rt_redact_holds(json_string_value(value));
}

/* headers split into the plain ones and the credentials (both NEW; the
** headers themselves and no credentials when none is one). */
static void split_credentials(const rt_step_desc *d, const json_t *headers, json_t **plain, json_t **creds)
{
    const char *k;
    json_t *v;
    bool any = false;
    json_object_foreach((json_t *)headers, k, v) any = any || header_is_credential(d, k, v);
    if (!any) {
        *plain = json_incref((json_t *)headers);
        *creds = NULL;
        return;
    }
    *plain = json_object();
    *creds = json_object();
    json_object_foreach((json_t *)headers, k, v) json_object_set(header_is_credential(d, k, v) ? *creds : *plain, k, v);
}

static void add_auth(rt_ctx *c, const rt_integration *in, json_t *headers)
{
    if (!in || in->auth == RT_AUTH_NONE || !in->secret) return;
    const char *tok = json_string_value(rt_input_secret(c, in->secret));
    if (!tok) return;
    switch (in->auth) {
    case RT_AUTH_BEARER:
    case RT_AUTH_OAUTH2:
        if (!has_header(headers, "Authorization")) {
            char *v = rt_xprintf("Bearer %s", tok);
            json_object_set_new(headers, "Authorization", rt_json_bytes(v));
            free(v);
        }
        break;
    case RT_AUTH_BASIC:
        if (!has_header(headers, "Authorization")) {
            const char *pw = in->secret2 ? json_string_value(rt_input_secret(c, in->secret2)) : "";
            char *pair = rt_xprintf("%s:%s", tok, pw ? pw : "");
            char *enc = rt_base64(pair, strlen(pair));
            rt_redact_add(enc);
            char *v = rt_xprintf("Basic %s", enc);
            json_object_set_new(headers, "Authorization", rt_json_bytes(v));
            free(v);
            free(enc);
            free(pair);
        }
        break;
    case RT_AUTH_HEADER:
        if (in->header && !has_header(headers, in->header)) json_object_set_new(headers, in->header, rt_json_bytes(tok));
        break;
    default:
        break;
    }
}

json_t *rt_request_object(const rt_step_desc *d, const rt_request_parts *rq)
{
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(d->method ? d->method : "GET"));
    if (d->url_modes)
        json_object_set_new(o, "url", json_pack("{s:s, s:O}", "modes", d->url_modes, "parts", rq->url));
    else
        json_object_set(o, "url", rq->url ? rq->url : json_null());
    const struct { const char *k; json_t *v; } parts[] = {
        { "headers", rq->headers }, { "query", rq->query }, { "json", rq->json },
        { "form", rq->form }, { "body", rq->body },
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i].v) json_object_set(o, parts[i].k, parts[i].v);
    return o;
}

/* p's headers object, to add a Content-Type: made when there is none, and
** given the Idempotency-Key first, which comes before it. */
static json_t *prepared_headers(rt_prepared_request *p)
{
    if (!p->headers) p->headers = json_object();
    if (p->idem_key) {
        json_object_set_new(p->headers, "Idempotency-Key", json_string(p->idem_key));
        p->idem_key = NULL;
    }
    return p->headers;
}

/* Turns the request parts into what is sent, once per step. */
bool rt_request_prepare(rt_ctx *c, const rt_step_desc *d, const char *path, const rt_request_parts *req,
                        rt_prepared_request *p, char **err)
{
    *p = (rt_prepared_request){ .method = d->method ? d->method : "GET" };
    p->base_text = rt_buf_on(p->base_first, sizeof p->base_first);
    p->idem_text = rt_buf_on(p->idem_first, sizeof p->idem_first);
    json_t *u = req->url;
    char why[700];
    /* a URL template is written where base_url goes */
    if (d->url_modes && !rt_url_build_to(&p->base_text, d->url_modes, u, why, sizeof why)) {
        *err = rt_xstrdup(why);
        return false;
    }
    const char *url = d->url_modes ? p->base_text.data : json_string_value(u);
    if (!url || !*url) {
        *err = rt_xstrdup("the request has no URL");
        return false;
    }
    const char *base = d->integ ? integ_base(c->run, d->integ) : NULL;
    if (base && *base && !integ_base_ok(d->integ, base, err)) return false;
    if (!d->url_modes || (base && *base && !rt_url_is_absolute(url))) {
        char *joined = rt_url_join(base, url);     /* url may be base_text's: join first */
        p->base_text.len = 0;
        rt_buf_puts(&p->base_text, joined);
        free(joined);
    }
    p->base_url = p->base_text.data;
    char origin[RT_URL_ORIGIN_MAX], own[RT_URL_ORIGIN_MAX];
    if (!rt_url_is_absolute(p->base_url)) {
        *err = rt_xprintf("URL '%s' is not absolute (http:// or https://)", p->base_url);
        return false;
    }
    if (!rt_url_origin(p->base_url, origin, sizeof origin)) {
        *err = rt_xprintf("URL '%s' is not a valid http:// or https:// URL", p->base_url);
        return false;
    }
    if (base && *base && integ_has_credentials(d->integ) && rt_url_origin(base, own, sizeof own) &&
        strcmp(origin, own) != 0) {
        *err = rt_xprintf("URL '%s' is not on the origin of integration '%s' (%s), the only one its credentials "
                          "are sent to: not sent",
                          p->base_url, d->integ->name, own);
        return false;
    }
    p->query = req->query;
    /* without a query the URL is the base URL itself, not a copy */
    p->url = json_object_size(p->query) ? rt_url_add_query(p->base_url, p->query) : p->base_url;

    /* the request's headers and its integration's auth; the Idempotency-Key
    ** goes beside them (p->idem_key): most requests need no object at all */
    p->headers = json_object_size(req->headers) || (d->integ && d->integ->auth != RT_AUTH_NONE) ? json_object() : NULL;
    json_t *h = req->headers;
    const char *k;
    json_t *v;
    if (json_is_object(h)) {
        json_object_foreach(h, k, v) {
            if (json_is_null(v)) continue;
            if (json_is_string(v)) {
                json_object_set(p->headers, k, v);
            } else {
                rt_buf b = { 0 };
                rt_buf_append(&b, "", 0);
                rt_value_render(&b, v);
                json_object_set_new(p->headers, k, rt_json_bytes(b.data));
                rt_buf_free(&b);
            }
        }
    }
    if (p->headers) add_auth(c, d->integ, p->headers);
    if (!has_header(p->headers, "Idempotency-Key")) {
        rt_buf_puts(&p->idem_text, c->run->id);
        rt_buf_putc(&p->idem_text, ':');
        rt_buf_puts(&p->idem_text, path);
        p->idem_key = p->idem_text.data;
    }
    if (json_object_size(p->headers) == 0) {
        json_decref(p->headers);
        p->headers = NULL;
    }

    json_t *jb = req->json, *form = req->form, *raw = req->body;
    if (jb) {
        p->json_body = jb;
        p->body = rt_json_text(jb);
        if (!has_header(p->headers, "Content-Type"))
            json_object_set_new(prepared_headers(p), "Content-Type", json_string("application/json"));
    } else if (form) {
        p->body = rt_url_form_encode(form);
        if (!has_header(p->headers, "Content-Type"))
            json_object_set_new(prepared_headers(p), "Content-Type", json_string("application/x-www-form-urlencoded"));
    } else if (raw && !json_is_null(raw)) {
        rt_buf b = { 0 };
        rt_buf_append(&b, "", 0);
        if (json_is_string(raw)) rt_buf_append(&b, json_string_value(raw), json_string_length(raw));
        else rt_value_render(&b, raw);
        p->body = rt_buf_take(&b);
        if (!has_header(p->headers, "Content-Type"))
            json_object_set_new(prepared_headers(p), "Content-Type", json_string("text/plain; charset=utf-8"));
    }
    return true;
}

void rt_request_prepared_free(rt_prepared_request *p)
{
    if (p->url != p->base_url) free(p->url);
    rt_buf_free(&p->base_text);
    json_decref(p->headers);
    rt_buf_free(&p->idem_text);
    free(p->body);
}

/* The headers as sent, the Idempotency-Key last, as one JSON object. */
static void prepared_headers_text(const rt_prepared_request *p, rt_buf *b)
{
    if (!p->idem_key) {
        if (p->headers) rt_json_encode_redacted(b, p->headers);
        else rt_buf_puts(b, "{}");
        return;
    }
    rt_buf_putc(b, '{');
    if (json_object_size(p->headers)) {
        size_t at = b->len;
        rt_json_encode_redacted(b, p->headers);
        memmove(b->data + at, b->data + at + 1, b->len - at - 2);     /* the members, without the braces */
        b->len -= 2;
        rt_buf_putc(b, ',');
    }
    rt_buf_puts(b, "\"Idempotency-Key\":");
    rt_json_encode_string_redacted(b, p->idem_key, strlen(p->idem_key));
    rt_buf_putc(b, '}');
}

void rt_request_input(const rt_prepared_request *p, rt_buf *b)
{
    rt_buf_puts(b, "{\"method\":");
    rt_json_encode_string_redacted(b, p->method, strlen(p->method));
    rt_buf_puts(b, ",\"url\":");
    rt_json_encode_string_redacted(b, p->url, strlen(p->url));
    rt_buf_puts(b, ",\"headers\":");
    prepared_headers_text(p, b);
    if (p->json_body) {
        rt_buf_puts(b, ",\"json\":");
        rt_json_encode_redacted(b, p->json_body);
    } else if (p->body) {
        rt_buf_puts(b, ",\"body\":");
        rt_json_encode_string_redacted(b, p->body, strlen(p->body));
    }
    rt_buf_putc(b, '}');
}

static bool status_accepted(const rt_step_desc *d, long status)
{
    if (status >= 200 && status < 300) return true;
    for (const int *a = d->accept; a && *a; a++)
        if (*a == status || (*a < 10 && status / 100 == *a)) return true;
    return false;
}

/* "HTTP 400: {"error":"bad input"}" with the start of the body: redacted
** before it is shortened, so a cut never leaves the start of a secret. */
static char *status_error(long status, const json_t *body)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    rt_value_render(&b, body);
    char *start = rt_redact_shorten(b.data, 300);
    char *msg = *start ? rt_xprintf("HTTP %ld: %s", status, start) : rt_xprintf("HTTP %ld", status);
    free(start);
    rt_buf_free(&b);
    return msg;
}

/* One HTTP exchange, classified. On RT_ATT_OK *resp is a NEW reference to
** { status, headers, body }. */
/* `fail when` over a response; the callback may raise errors on c. */
static bool fails_when(rt_ctx *c, const rt_step_desc *d, json_t *resp, rt_attempt *out)
{
    if (!d->fail_when) return false;
    bool held = d->fail_when(c, resp);
    if (c->error) {
        out->error = rt_xprintf("fail when: %s", c->error);
        free(c->error);
        c->error = NULL;
        return true;
    }
    if (held) {
        char *s = status_error(json_integer_value(json_object_get(resp, "status")), json_object_get(resp, "body"));
        out->error = rt_xprintf("fail when held for the response (%s)", s);
        free(s);
    }
    return held;
}

/* ---- OAuth2 ---------------------------------------------------------------- */

/* The token in "Authorization: Bearer TOKEN" of headers, or NULL. */
static const char *bearer_of(const json_t *headers)
{
    const char *s = json_string_value(header_get(headers, "Authorization"));
    return s && strncmp(s, "Bearer ", 7) == 0 ? s + 7 : NULL;
}

/* headers with the bearer token replaced (NEW reference). */
static json_t *with_bearer(const json_t *headers, const char *token)
{
    json_t *h = json_deep_copy(headers);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(h, tmp, k, v) if (strcasecmp(k, "Authorization") == 0) json_object_del(h, k);
    char *value = rt_xprintf("Bearer %s", token);
    json_object_set_new(h, "Authorization", json_string(value));
    free(value);
    return h;
}

/* Before a request to an oauth2 integration: when the token the step was
** prepared with has been refreshed since (an earlier page, attempt or
** item), headers with the current one (NEW reference); else NULL. */
static json_t *oauth_current(rt_ctx *c, const rt_step_desc *d, const json_t *headers)
{
    if (!d->integ || d->integ->auth != RT_AUTH_OAUTH2 || !d->integ->secret) return NULL;
    const char *sent = bearer_of(headers);
    if (!sent) return NULL;
    char *cur = rt_run_secret(c->run, d->integ->secret);
    json_t *h = cur && strcmp(cur, sent) != 0 ? with_bearer(headers, cur) : NULL;
    free(cur);
    return h;
}

/* After a 401: headers carrying a refreshed token (NEW reference), or NULL
** with why set when the refresh failed (why stays "" when the request did
** not carry the integration's token: nothing to refresh). */
static json_t *oauth_refreshed(rt_ctx *c, const rt_step_desc *d, const json_t *headers, char *why, size_t n)
{
    const char *stale = bearer_of(headers);
    if (!stale) return NULL;
    char *token = rt_oauth_refresh(c->run, d->integ, integ_base(c->run, d->integ), stale, why, n);
    if (!token) return NULL;
    json_t *h = with_bearer(headers, token);
    memset(token, 0, strlen(token));
    free(token);
    return h;
}

/* One request and its response: status, `fail when`, then `returns` (so an
** API's own error report is what a failure names, not a missing field). */
rt_attempt_outcome rt_request_exchange(rt_ctx *c, const rt_step_desc *d, const rt_prepared_request *p,
                                       const char *url, const char *body, const json_t *headers,
                                       const char *idem_key, json_t **resp, rt_attempt *out)
{
    json_t *renewed = oauth_current(c, d, headers);     /* owned or NULL */
    json_t *plain, *creds;      /* the headers as rt_http sends them: credentials only to url's origin */
    split_credentials(d, renewed ? renewed : headers, &plain, &creds);
    rt_http_request rq = { .method = p->method, .url = url, .headers = plain, .credentials = creds,
                           .idempotency_key = idem_key, .body = body, .body_len = body ? strlen(body) : 0,
                           .body_private = body && rt_redact_holds(body), .timeout_ms = d->timeout_ms };
    rt_http_response rs = { 0 };
    rt_attempt_outcome o = RT_ATT_OK;
    long pause = rt_http_host_pause_ms(url);    /* the host said 429: wait with the others */
    if (pause > 0 && !rt_signal_sleep_ms(pause)) {
        o = RT_ATT_STOP;
        goto done;
    }
    if (!rt_co_current()) rt_log_flush();      /* the scheduler flushes for fanout items */
    rs.head = out->head;        /* the response's headers go where the attempt keeps them */
    out->head = (rt_buf){ 0 };
    bool sent = rt_http_perform(&rq, &rs);
    if (sent && rs.status == 401 && d->integ && d->integ->auth == RT_AUTH_OAUTH2) {
        /* the access token expired: refresh it once and send again */
        char why[700] = "";
        json_t *retry = oauth_refreshed(c, d, renewed ? renewed : headers, why, sizeof why);
        if (retry) {
            rt_http_response_free(&rs);
            json_decref(renewed);
            renewed = retry;
            json_decref(plain);
            json_decref(creds);
            split_credentials(d, renewed, &plain, &creds);
            rq.headers = plain;
            rq.credentials = creds;
            sent = rt_http_perform(&rq, &rs);
        } else if (*why) {
            char *s = status_error(rs.status, rs.body);
            out->error = rt_xprintf("%s (%s)", s, why);
            free(s);
            rt_http_response_free(&rs);
            o = RT_ATT_FAIL;
            goto done;
        }
    }
    if (!sent) {
        out->error = rt_xstrdup(rs.error ? rs.error : "the request failed");
        o = rs.retryable ? RT_ATT_RETRY : RT_ATT_FAIL;
        rt_http_response_free(&rs);
    }
done:
    json_decref(renewed);
    json_decref(plain);
    json_decref(creds);
    if (o != RT_ATT_OK) return o;
    out->http_status = rs.status;
    if (!status_accepted(d, rs.status)) {
        out->error = status_error(rs.status, rs.body);
        out->retry_after_ms = rt_http_retry_after_ms(rt_http_response_headers(&rs));
        if (rs.status == 429 && out->retry_after_ms > 0) {     /* as retry_delay caps it: up to `max` */
            long cap = d->max_backoff_ms > 0 ? d->max_backoff_ms : 300000;
            rt_http_host_pause(url, out->retry_after_ms < cap ? out->retry_after_ms : cap);
        }
        bool retry = rs.status == 408 || rs.status == 429 || rs.status >= 500;
        rt_http_response_free(&rs);
        return retry ? RT_ATT_RETRY : RT_ATT_FAIL;
    }
    /* { status, headers, body }, taking over the response's body. Its
    ** headers as an object only when something reads them: the workflow
    ** (the compiler says when it does not: headers_unread), `fail when`,
    ** pagination, `flowc test` and Test Step, which show every output.
    ** Else the output stays in parts (the body, the status, the headers as
    ** text for the step's record: out->response_parts), as nothing reads
    ** it whole either: the workflow then reads only .status and .body. */
    bool keep_headers = !d->headers_unread || d->fail_when || d->paginate != RT_PAGE_NONE || c->run->test_mode ||
                        c->run->only_step;
    json_t *r;
    if (keep_headers) {
        r = json_object();
        json_object_set_new(r, "status", json_integer(rs.status));
        json_object_set(r, "headers", rt_http_response_headers(&rs));
        json_object_set_new(r, "body", rs.body);
        rt_buf_free(&rs.head);
    } else {
        r = rs.body;
        rt_buf_free(&out->head);
        out->head = rs.head;
        out->response_parts = true;
    }
    json_decref(rs.headers);
    if (fails_when(c, d, r, out)) {     /* (keep_headers: r is the whole) */
        json_decref(r);
        return RT_ATT_FAIL;
    }
    if (rs.status >= 200 && rs.status < 300 && d->out_type) {
        char err[600];
        if (!rt_type_check(d->out_type, keep_headers ? json_object_get(r, "body") : r, "response body", err,
                           sizeof err)) {
            out->error = rt_xstrdup(err);
            json_decref(r);
            return RT_ATT_FAIL;
        }
    }
    *resp = r;
    return RT_ATT_OK;
}
