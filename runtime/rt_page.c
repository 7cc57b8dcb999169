/*
** rt_page.c — [engine] the attempt of a request step: one exchange, or
** every page of a paginated request (page, cursor or Link), each page
** committed with where the next one is, so a resumed run goes on after the
** last committed page.
*/
#include "rt_page.h"

#include "rt_http.h"
#include "rt_log.h"
#include "rt_redact.h"
#include "rt_signal.h"
#include "rt_status.h"

static json_t *page_items_of(const rt_step_desc *d, json_t *body)
{
    json_t *v = body;
    for (const char *const *k = d->page_items; k && *k; k++) v = json_object_get(v, *k);
    return json_is_array(v) ? v : NULL;
}

/* The first page's request: the prepared one, with the first page number
** when pages are numbered. */
static void page_start(const rt_step_desc *d, const rt_prepared_request *p, char **url, char **body, json_t **query,
                       json_t **jbody, json_int_t *page_no)
{
    free(*url);
    free(*body);
    json_decref(*query);
    json_decref(*jbody);
    *query = json_is_object(p->query) ? json_deep_copy(p->query) : json_object();
    *jbody = p->json_body ? json_deep_copy(p->json_body) : NULL;
    *url = rt_xstrdup(p->url);
    *body = p->body ? rt_xstrdup(p->body) : NULL;
    *page_no = 1;
    if (d->paginate == RT_PAGE_PAGE && d->page_param) {
        json_t *start = json_object_get(*query, d->page_param);
        if (json_is_integer(start)) *page_no = json_integer_value(start);
        json_object_set_new(*query, d->page_param, json_integer(*page_no));
        free(*url);
        *url = rt_url_add_query(p->base_url, *query);
    }
}

/* What a page's record keeps of where the next page is: never a secret.
** A page number or a cursor is kept, and on resume the request is built
** again around it from the prepared one (whose query may hold an API key:
** secret_value reads it again); a URL from the API is kept unless it holds
** a secret, in which case a resume reads the pages again from the first
** ({"restart": true}). NEW reference. */
static json_t *page_continuation(const rt_step_desc *d, const char *next, json_t *cursor, json_int_t page_no)
{
    json_t *at;
    if (d->paginate == RT_PAGE_PAGE) at = json_pack("{s:I}", "page_no", page_no);
    else if (cursor) at = json_pack("{s:O}", "cursor", cursor);
    else at = json_pack("{s:o}", "url", rt_json_bytes(next));
    json_t *red = rt_redact_json(at);
    bool secret = red != at;
    json_decref(red);
    if (secret) {
        json_decref(at);
        at = json_pack("{s:b}", "restart", 1);
    }
    return at;
}

/* The request of the page after a committed one, from its record's "next"
** (page_continuation's, or the url/body/query/jbody of older records):
** the URL (a new string), or NULL when there is no next page. */
static char *page_resume(const rt_step_desc *d, const rt_prepared_request *p, const json_t *at, char **body,
                         json_t **query, json_t **jbody, json_int_t *page_no)
{
    if (!json_is_object(at)) return NULL;
    json_t *n = json_object_get(at, "page_no"), *cursor = json_object_get(at, "cursor");
    if (json_is_integer(n)) *page_no = json_integer_value(n);
    const char *url = json_string_value(json_object_get(at, "url"));
    if (url) {
        /* a URL from the API (or a record that kept the whole request) */
        if (json_object_get(at, "body")) {
            free(*body);
            const char *b = json_string_value(json_object_get(at, "body"));
            *body = b ? rt_xstrdup(b) : NULL;
        }
        if (json_is_object(json_object_get(at, "query"))) {
            json_decref(*query);
            *query = json_deep_copy(json_object_get(at, "query"));
        }
        if (json_object_get(at, "jbody")) {
            json_decref(*jbody);
            *jbody = json_deep_copy(json_object_get(at, "jbody"));
        }
        return rt_xstrdup(url);
    }
    json_t *value = cursor ? cursor : n;
    if (!value || !d->page_param) return NULL;
    if (d->paginate == RT_PAGE_CURSOR && d->page_target == RT_TARGET_JSON) {
        json_decref(*jbody);
        *jbody = json_is_object(p->json_body) ? json_deep_copy(p->json_body) : json_object();
        json_object_set(*jbody, d->page_param, value);
        free(*body);
        *body = rt_json_text(*jbody);
        return rt_xstrdup(p->url);
    }
    json_decref(*query);
    *query = json_is_object(p->query) ? json_deep_copy(p->query) : json_object();
    json_object_set(*query, d->page_param, value);
    return rt_url_add_query(p->base_url, *query);
}

rt_attempt_outcome rt_page_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                       rt_attempt *out)
{
    (void)n;
    rt_prepared_request *p = arg;
    if (d->paginate == RT_PAGE_NONE) {
        json_t *resp = NULL;
        rt_attempt_outcome o = rt_request_exchange(c, d, p, p->url, p->body, p->headers, p->idem_key, &resp, out);
        if (o != RT_ATT_OK) return o;
        if (d->body_output && !out->response_parts) {
            out->output = json_incref(json_object_get(resp, "body"));
            json_decref(resp);
        } else {
            out->output = resp;     /* the body alone when in parts */
        }
        if (d->body_output) {
            rt_buf_free(&out->head);        /* the record keeps the body only */
            out->response_parts = false;
        }
        return RT_ATT_OK;
    }

    /* pagination: every page, then { status, pages, items } */
    int max = d->page_max > 0 ? d->page_max : 100;
    bool limited = c->run->test_limits && max > 3;     /* --test-limits: 3 pages, and it says so */
    if (limited) max = 3;
    json_t *items = json_array();
    json_t *query = NULL, *jbody = NULL;
    char *url = NULL, *body = NULL;
    json_t *headers = json_deep_copy(p->headers);
    char *page_key = NULL;      /* owned: the Idempotency-Key of a page after the first */
    long status = 0;
    int pages = 0;
    json_int_t page_no = 1;
    page_start(d, p, &url, &body, &query, &jbody, &page_no);
    /* pages a killed run (or an earlier attempt) committed: continue after them */
    for (;;) {
        char *pp = rt_xprintf("%s#page%d", path, pages + 1);
        json_t *prec = rt_run_committed(c->run, pp);
        free(pp);
        if (!prec) break;
        json_t *at = json_object_get(prec, "next");
        if (json_is_true(json_object_get(at, "restart"))) {
            /* where the next page was held a secret, so it was not stored:
            ** the pages are read again from the first */
            json_decref(prec);
            json_array_clear(items);
            pages = 0;
            status = 0;
            page_start(d, p, &url, &body, &query, &jbody, &page_no);
            break;
        }
        pages++;
        status = (long)json_integer_value(json_object_get(prec, "http_status"));
        json_array_extend(items, json_object_get(prec, "items"));
        free(url);
        url = page_resume(d, p, at, &body, &query, &jbody, &page_no);
        json_decref(prec);
        if (!url) break;
    }
    rt_attempt_outcome o = c->run->stop ? RT_ATT_STOP : RT_ATT_OK;  /* RT_ATT_STOP: the store could not be read */
    while (o == RT_ATT_OK && url && pages < max) {
        json_t *resp = NULL;
        if (pages > 0 && !rt_request_same_origin(url, p->url)) {
            /* a page or cursor URL the API gave: the request's credentials
            ** stay on its origin, and a page without them is no page of it */
            char origin[RT_URL_ORIGIN_MAX] = "", own[RT_URL_ORIGIN_MAX] = "";
            rt_url_origin(p->url, own, sizeof own);
            if (!rt_url_origin(url, origin, sizeof origin)) snprintf(origin, sizeof origin, "not an http(s) URL");
            out->error = rt_xprintf("page %d: the next page's URL '%s' is on another origin (%s) than the request "
                                    "(%s): not followed, so that the request's credentials stay on its origin",
                                    pages + 1, url, origin, own);
            o = RT_ATT_FAIL;
            break;
        }
        if (pages > 0) {    /* each page its own key: ours, or the request's own Idempotency-Key */
            free(page_key);
            page_key = rt_xprintf("%s:%s:page%d", c->run->id, path, pages + 1);
            if (json_object_get(headers, "Idempotency-Key"))
                json_object_set_new(headers, "Idempotency-Key", json_string(page_key));
        }
        o = rt_request_exchange(c, d, p, url, body, headers, p->idem_key ? (pages > 0 ? page_key : p->idem_key) : NULL,
                                &resp, out);
        if (o != RT_ATT_OK) break;
        pages++;
        status = json_integer_value(json_object_get(resp, "status"));
        json_t *page = page_items_of(d, json_object_get(resp, "body"));
        if (!page && !json_is_null(json_object_get(resp, "body"))) {
            out->error = rt_xprintf("page %d: the response body has no list at the items path", pages);
            json_decref(resp);
            o = RT_ATT_FAIL;
            break;
        }
        size_t got = page ? json_array_size(page) : 0;
        if (page) json_array_extend(items, page);

        /* where the next page is */
        char *next = NULL;
        json_t *cursor = NULL;      /* borrowed: a cursor sent in the query or the JSON body */
        if (d->paginate == RT_PAGE_LINK) {
            char *link = rt_http_link_next(json_object_get(resp, "headers"));
            if (link) next = rt_url_resolve(url, link);
            free(link);
        } else if (d->paginate == RT_PAGE_PAGE) {
            if (got > 0 && d->page_param) {
                json_object_set_new(query, d->page_param, json_integer(++page_no));
                next = rt_url_add_query(p->base_url, query);
            }
        } else if (d->paginate == RT_PAGE_CURSOR && d->page_cursor) {
            json_t *cur = d->page_cursor(c, resp);
            if (c->error) {
                free(c->error);
                c->error = NULL;
                cur = NULL;
            }
            bool empty = !cur || json_is_null(cur) || (json_is_string(cur) && !json_string_length(cur)) ||
                         json_is_false(cur);
            if (!empty) {
                if (d->page_target != RT_TARGET_URL) cursor = cur;
                if (d->page_target == RT_TARGET_URL) {
                    rt_buf b = { 0 };
                    rt_buf_append(&b, "", 0);
                    rt_value_render(&b, cur);
                    next = rt_url_resolve(url, b.data);
                    rt_buf_free(&b);
                } else if (d->page_target == RT_TARGET_JSON && d->page_param) {
                    if (!json_is_object(jbody)) {
                        json_decref(jbody);
                        jbody = json_object();
                    }
                    json_object_set(jbody, d->page_param, cur);
                    free(body);
                    body = rt_json_text(jbody);
                    next = rt_xstrdup(url);
                } else if (d->page_param) {
                    json_object_set(query, d->page_param, cur);
                    next = rt_url_add_query(p->base_url, query);
                }
            }
        }
        /* the page's checkpoint: its items and where the next page is */
        json_t *at = next ? page_continuation(d, next, cursor, page_no) : json_null();
        json_t *page_items = page ? rt_redact_json(page) : json_array();   /* stored redacted, as outputs are */
        json_t *prec = json_pack("{s:s, s:s, s:i, s:o, s:o}", "kind", "page", "status", rt_status_name(RT_ST_SUCCEEDED), "http_status",
                                 (int)status, "items", page_items, "next", at);
        json_decref(resp);
        char *pp = rt_xprintf("%s#page%d", path, pages);
        bool saved = rt_run_commit(c->run, pp, prec);
        free(pp);
        json_decref(prec);
        free(url);
        url = next;
        if (!saved || rt_signal_interrupted()) {
            o = RT_ATT_STOP;
            break;
        }
    }
    bool cut = o == RT_ATT_OK && limited && url && pages >= max;       /* a next page was there */
    free(url);
    free(body);
    json_decref(query);
    json_decref(jbody);
    json_decref(headers);
    free(page_key);
    if (o != RT_ATT_OK) {
        json_decref(items);
        return o;
    }
    out->output = json_pack("{s:i, s:i, s:o}", "status", (int)status, "pages", pages, "items", items);
    if (cut) {
        json_object_set_new(out->output, "truncated", json_true());
        rt_log_emit(c->run->id, "warning", json_pack("{s:s, s:s, s:i}", "event", "test_limits", "step", path, "pages", pages),
                    "step '%s': --test-limits stopped paging after %d pages; more pages remain (\"truncated\": true)",
                    path, pages);
    }
    out->items_in_pages = true;     /* every page is in its own record already */
    return RT_ATT_OK;
}
