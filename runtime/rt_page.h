/*
** rt_page.h — [engine] the attempt of a request step, paginated or not.
**
** Pages: each page's items and where the next page is (a page number, a
** cursor, or a URL the API gave, never a secret) are committed at
** PATH#pageN; a resumed attempt goes on after the last committed page. A
** next page on another origin than the request is refused (its
** credentials stay on their origin).
*/
#ifndef RT_PAGE_H
#define RT_PAGE_H

#include "rt_request.h"

/* An rt_attempt_fn: arg is the step's rt_prepared_request. The output is
** the response (or its body for actions), or { status, pages, items } for
** a paginated request (items_in_pages set: the record leaves the items to
** the pages' records). */
rt_attempt_outcome rt_page_attempt(rt_ctx *c, const rt_step_desc *d, const char *path, void *arg, int n,
                                   rt_attempt *out);

#endif
