/*
** rt_record.c — a step's record as C fields, written as JSON text in one
** pass (rt_record.h).
*/
#include "rt_record.h"

#include "rt_redact.h"
#include "rt_value.h"

void rt_step_record_init(rt_step_record *r, const char *kind, int64_t started, json_t *input)
{
    memset(r, 0, sizeof *r);
    r->kind = rt_xstrdup(kind);
    r->status = "running";
    r->started = started;
    r->input = input;
    r->count = -1;
}

/* The static status string equal to s (a record holds no other). */
static const char *known_status(const char *s)
{
    static const char *const all[] = { "running", "retrying", "succeeded", "failed" };
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, all[i]) == 0) return all[i];
    return "running";
}

void rt_step_record_resume(rt_step_record *r, const json_t *prev)
{
    const char *kind = json_string_value(json_object_get(prev, "kind"));
    rt_step_record_init(r, kind ? kind : "request", json_integer_value(json_object_get(prev, "started")),
                        json_incref(json_object_get(prev, "input")));
    r->status = known_status(json_string_value(json_object_get(prev, "status")));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(prev, "attempts"), i, a) {
        if (r->nattempts++) rt_buf_putc(&r->attempts, ',');
        rt_json_encode(&r->attempts, a);
    }
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

void rt_step_record_input_text(rt_step_record *r, const char *text)
{
    json_decref(r->input);
    r->input = NULL;
    free(r->input_text);
    r->input_text = rt_xstrdup(text);
}

void rt_step_record_free(rt_step_record *r)
{
    free(r->kind);
    free(r->input_text);
    rt_buf_free(&r->attempts);
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
    rt_buf *b = &r->attempts;
    if (r->nattempts++) rt_buf_putc(b, ',');
    put_int(b, "{\"n\":", n);
    put_int(b, ",\"started\":", started);
    put_int(b, ",\"ended\":", ended);
    if (error) {
        char *red = rt_redact(error);
        rt_buf_puts(b, ",\"error\":");
        rt_json_encode_string(b, red, strlen(red));
        free(red);
    }
    if (http_status) put_int(b, ",\"http_status\":", http_status);
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
    rt_buf_puts(b, "{\"kind\":");
    rt_json_encode_string(b, r->kind, strlen(r->kind));
    rt_buf_puts(b, ",\"status\":\"");
    rt_buf_puts(b, r->status);
    put_int(b, "\",\"started\":", r->started);
    rt_buf_puts(b, ",\"attempts\":[");
    rt_buf_append(b, r->attempts.data ? r->attempts.data : "", r->attempts.len);
    rt_buf_putc(b, ']');
    if (r->input_text) {
        rt_buf_puts(b, ",\"input\":");
        rt_buf_puts(b, r->input_text);
    } else if (r->input) {
        rt_buf_puts(b, ",\"input\":");
        rt_json_encode_redacted(b, r->input);
    }
    if (r->next_at) put_int(b, ",\"next_at\":", r->next_at);
    if (r->ended) put_int(b, ",\"ended\":", r->ended);
    if (r->output) {
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
