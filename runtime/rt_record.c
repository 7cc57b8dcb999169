/*
** rt_record.c — [engine] a step's record as C fields, written as JSON text in one
** pass (rt_record.h).
*/
#include "rt_record.h"

#include "rt_http.h"
#include "rt_redact.h"
#include "rt_value.h"

/* The static string of `all` equal to s, or `all[0]`. */
static const char *known(const char *s, const char *const *all, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, all[i]) == 0) return all[i];
    return all[0];
}

static const char *const kinds[] = { "request", "function", "fanout" };

void rt_step_record_init(rt_step_record *r, const char *kind, int64_t started, json_t *input)
{
    memset(r, 0, sizeof *r);
    r->kind = known(kind, kinds, sizeof kinds / sizeof kinds[0]);
    r->status = RT_ST_RUNNING;
    r->started = started;
    r->attempts = r->few;
    r->capnew = (int)(sizeof r->few / sizeof r->few[0]);
    r->input = input;
    r->count = -1;
}

void rt_step_record_resume(rt_step_record *r, const json_t *prev)
{
    rt_step_record_init(r, json_string_value(json_object_get(prev, "kind")),
                        json_integer_value(json_object_get(prev, "started")),
                        json_incref(json_object_get(prev, "input")));
    r->status = rt_status_of(prev);
    if (r->status == RT_ST_NONE) r->status = RT_ST_RUNNING;
    size_t i;
    json_t *a;
    rt_buf stored = { 0 };
    json_array_foreach(json_object_get(prev, "attempts"), i, a) {
        if (r->nattempts++) rt_buf_putc(&stored, ',');
        rt_json_encode(&stored, a);
    }
    r->stored_attempts = rt_buf_take(&stored);
    r->next_at = json_integer_value(json_object_get(prev, "next_at"));
    r->ended = json_integer_value(json_object_get(prev, "ended"));
    r->output = json_incref(json_object_get(prev, "output"));
    r->items_in_pages = json_is_true(json_object_get(prev, "items_in_pages"));
    json_t *count = json_object_get(prev, "count");
    if (json_is_integer(count)) r->count = json_integer_value(count);
    const char *error = json_string_value(json_object_get(prev, "error"));
    if (error) r->error = rt_xstrdup(error);
    r->continued = json_is_true(json_object_get(prev, "continued"));
}

void rt_step_record_input_text(rt_step_record *r, rt_buf *text)
{
    json_decref(r->input);
    r->input = NULL;
    rt_buf_free(&r->input_text);
    r->input_text = *text;
    *text = (rt_buf){ 0 };
}

void rt_step_record_free(rt_step_record *r)
{
    rt_buf_free(&r->input_text);
    rt_buf_free(&r->output_head);
    free(r->stored_attempts);
    for (int i = 0; i < r->nnew; i++) free(r->attempts[i].error);
    if (r->attempts != r->few) free(r->attempts);
    json_decref(r->input);
    json_decref(r->output);
    free(r->error);
    memset(r, 0, sizeof *r);
}

static void put_int(rt_buf *b, const char *member, int64_t v)
{
    rt_buf_puts(b, member);
    rt_json_encode_int(b, v);
}

void rt_step_record_attempt(rt_step_record *r, int n, int64_t started, int64_t ended, const char *error,
                            long http_status)
{
    if (r->nnew == r->capnew) {
        rt_step_attempt *more = rt_xmalloc(sizeof *more * (size_t)r->capnew * 2);
        memcpy(more, r->attempts, sizeof *more * (size_t)r->nnew);
        if (r->attempts != r->few) free(r->attempts);
        r->attempts = more;
        r->capnew *= 2;
    }
    r->attempts[r->nnew++] = (rt_step_attempt){ n, started, ended, http_status, error ? rt_redact(error) : NULL };
    r->nattempts++;
}

static void write_attempt(rt_buf *b, const rt_step_attempt *a)
{
    put_int(b, "{\"n\":", a->n);
    put_int(b, ",\"started\":", a->started);
    put_int(b, ",\"ended\":", a->ended);
    if (a->error) {
        rt_buf_puts(b, ",\"error\":");
        rt_json_encode_string(b, a->error, strlen(a->error));
    }
    if (a->http_status) put_int(b, ",\"http_status\":", a->http_status);
    rt_buf_putc(b, '}');
}

void rt_step_record_set_output(rt_step_record *r, json_t *output)
{
    json_decref(r->output);
    r->output = output;
}

void rt_step_record_set_error(rt_step_record *r, const char *msg)
{
    free(r->error);
    r->error = msg ? rt_xstrdup(msg) : NULL;
}

void rt_step_record_write(const rt_step_record *r, rt_buf *b)
{
    rt_buf_puts(b, "{\"kind\":\"");
    rt_buf_puts(b, r->kind);
    rt_buf_puts(b, "\",\"status\":\"");
    rt_buf_puts(b, rt_status_name(r->status));
    put_int(b, "\",\"started\":", r->started);
    rt_buf_puts(b, ",\"attempts\":[");
    if (r->stored_attempts) rt_buf_puts(b, r->stored_attempts);
    for (int i = 0; i < r->nnew; i++) {
        if (i || (r->stored_attempts && *r->stored_attempts)) rt_buf_putc(b, ',');
        write_attempt(b, &r->attempts[i]);
    }
    rt_buf_putc(b, ']');
    if (r->input_text.len) {
        rt_buf_puts(b, ",\"input\":");
        rt_buf_append(b, r->input_text.data, r->input_text.len);
    } else if (r->input) {
        rt_buf_puts(b, ",\"input\":");
        rt_json_encode_redacted(b, r->input);
    }
    if (r->next_at) put_int(b, ",\"next_at\":", r->next_at);
    if (r->ended) put_int(b, ",\"ended\":", r->ended);
    if (r->output && r->output_parts) {
        /* { status, headers, body }, as the whole would be written (its
        ** names redacted too, as the whole's would be: a secret could be
        ** spelt "body") */
        bool redact = rt_redact_any();
        rt_buf_puts(b, ",\"output\":{");
        rt_json_encode_text(b, "status", 6, redact);
        put_int(b, ":", r->output_status);
        rt_buf_puts(b, ",\"headers\":");
        rt_http_head_encode(b, &r->output_head);
        rt_buf_putc(b, ',');
        rt_json_encode_text(b, "body", 4, redact);
        rt_buf_putc(b, ':');
        rt_json_encode_redacted(b, r->output);
        rt_buf_putc(b, '}');
    } else if (r->output) {
        rt_buf_puts(b, ",\"output\":");
        rt_json_encode_redacted(b, r->output);
    }
    if (r->items_in_pages) rt_buf_puts(b, ",\"items_in_pages\":true");
    if (r->count >= 0) put_int(b, ",\"count\":", r->count);
    if (r->error) {
        rt_buf_puts(b, ",\"error\":");
        rt_json_encode_string(b, r->error, strlen(r->error));
    }
    if (r->continued) rt_buf_puts(b, ",\"continued\":true");
    rt_buf_putc(b, '}');
}
