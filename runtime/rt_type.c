/*
** rt_type.c — [values] values checked against the static type descriptors
** flowc emits (flowrt.h's rt_type).
*/
#include "rt_type.h"

#include <stdarg.h>

#include "rt_redact.h"
#include "rt_util.h"

/* The names of the kinds without parameters, as the language writes them. */
static const char *const kind_names[] = {
    [RT_TYPE_JSON] = "json", [RT_TYPE_STRING] = "string", [RT_TYPE_INT] = "int",
    [RT_TYPE_FLOAT] = "float", [RT_TYPE_BOOL] = "bool", [RT_TYPE_NULL] = "null",
};

static bool kind_is_simple(rt_type_kind k)
{
    return k <= RT_TYPE_NULL;
}

/* A message or a name into err[errlen]: composed whole, then redacted and
** cut between characters to fit (rt_redact_copy). */
static void put_msg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_msg(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = rt_xvprintf(fmt, ap);
    va_end(ap);
    rt_redact_copy(err, errlen, m);
    free(m);
}

void rt_type_name(const rt_type *t, char *out, size_t n)
{
    if (!t || kind_is_simple(t->kind)) {
        put_msg(out, n, "%s", kind_names[t ? t->kind : RT_TYPE_JSON]);
    } else if (t->kind == RT_TYPE_LIST || t->kind == RT_TYPE_OPT) {
        char inner[96];
        rt_type_name(t->elem, inner, sizeof inner);
        if (t->kind == RT_TYPE_LIST) put_msg(out, n, "[%s]", inner);
        else put_msg(out, n, "%s?", inner);
    } else {
        /* {a: int, b: [string]}, or "object" when that does not fit */
        rt_buf b = { 0 };
        rt_buf_putc(&b, '{');
        for (int i = 0; i < t->nfields; i++) {
            char inner[256];
            rt_type_name(t->fields[i].type, inner, sizeof inner);
            rt_buf_printf(&b, "%s%s: %s", i ? ", " : "", t->fields[i].name, inner);
        }
        rt_buf_putc(&b, '}');
        put_msg(out, n, "%s", b.len < n ? b.data : "object");
        rt_buf_free(&b);
    }
}

json_t *rt_type_json(const rt_type *t)
{
    if (!t || kind_is_simple(t->kind)) return json_string(kind_names[t ? t->kind : RT_TYPE_JSON]);
    if (t->kind == RT_TYPE_LIST || t->kind == RT_TYPE_OPT) {
        json_t *a = json_array();
        json_array_append_new(a, json_string(t->kind == RT_TYPE_LIST ? "list" : "opt"));
        json_array_append_new(a, rt_type_json(t->elem));
        return a;
    }
    json_t *o = json_object();
    for (int i = 0; i < t->nfields; i++) json_object_set_new(o, t->fields[i].name, rt_type_json(t->fields[i].type));
    return o;
}

void rt_value_describe(const json_t *v, char *out, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        /* up to 40 bytes whole, else the start: redacted first (the value
        ** may be a token an API handed back), cut between characters */
        char *t = rt_redact_shorten(json_string_value(v), 40);
        if (strlen(t) > 40) {
            free(t);
            t = rt_redact_shorten(json_string_value(v), 37);
        }
        char *d = rt_xprintf("string \"%s\"", t);
        rt_redact_copy(out, n, d);
        free(d);
        free(t);
        break;
    }
    case JSON_INTEGER: snprintf(out, n, "int %" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: {
        char f[40];
        rt_float_text(json_real_value(v), f, sizeof f);
        snprintf(out, n, "float %s", f);
        break;
    }
    case JSON_TRUE: snprintf(out, n, "bool true"); break;
    case JSON_FALSE: snprintf(out, n, "bool false"); break;
    case JSON_NULL: snprintf(out, n, "null"); break;
    case JSON_ARRAY: snprintf(out, n, "a list of %zu", json_array_size(v)); break;
    case JSON_OBJECT: snprintf(out, n, "an object"); break;
    }
}

/* Where the check is: a chain of frames on the C stack, innermost first, a
** field name or a list index each. The path is rendered only for an error
** (a page of 100 records is checked without formatting 100 indexes). */
typedef struct type_pos {
    const struct type_pos *up;
    const char *key;            /* a field, or NULL: index */
    size_t index;
} type_pos;

/* "items[3].id" into b; false when there is no path (the value itself). */
static bool pos_render(const type_pos *pos, rt_buf *b)
{
    if (!pos) return false;
    pos_render(pos->up, b);
    if (pos->key) {
        if (b->len) rt_buf_putc(b, '.');
        rt_buf_puts(b, pos->key);
    } else {
        rt_buf_printf(b, "[%zu]", pos->index);
    }
    return true;
}

/* Whether a field of type t may be absent: optionals, json and null. */
static bool may_be_absent(const rt_type *t)
{
    return !t || t->kind == RT_TYPE_OPT || t->kind == RT_TYPE_JSON || t->kind == RT_TYPE_NULL;
}

static bool type_check(const rt_type *t, const json_t *v, const type_pos *pos, char *err, size_t errlen)
{
    if (!v) v = json_null();
    switch (t ? t->kind : RT_TYPE_JSON) {
    case RT_TYPE_JSON: return true;
    case RT_TYPE_STRING: if (json_is_string(v)) return true; break;
    case RT_TYPE_INT: if (json_is_integer(v)) return true; break;
    case RT_TYPE_FLOAT: if (json_is_number(v)) return true; break;
    case RT_TYPE_BOOL: if (json_is_boolean(v)) return true; break;
    case RT_TYPE_NULL: if (json_is_null(v)) return true; break;
    case RT_TYPE_OPT: return json_is_null(v) || type_check(t->elem, v, pos, err, errlen);
    case RT_TYPE_LIST:
        if (json_is_array(v)) {
            size_t i;
            json_t *item;
            json_array_foreach((json_t *)v, i, item) {
                type_pos here = { .up = pos, .index = i };
                if (!type_check(t->elem, item, &here, err, errlen)) return false;
            }
            return true;
        }
        break;
    case RT_TYPE_OBJECT:
        if (json_is_object(v)) {
            for (int i = 0; i < t->nfields; i++) {
                const rt_type_field *f = &t->fields[i];
                type_pos here = { .up = pos, .key = f->name };
                json_t *fv = json_object_get(v, f->name);
                if (!fv && !may_be_absent(f->type)) {
                    char tn[128];
                    rt_type_name(f->type, tn, sizeof tn);
                    rt_buf path = { 0 };
                    pos_render(&here, &path);
                    put_msg(err, errlen, "missing field '%s' (%s)", path.data, tn);
                    rt_buf_free(&path);
                    return false;
                }
                if (!type_check(f->type, fv, &here, err, errlen)) return false;
            }
            return true;
        }
        break;
    }
    char tn[128], vd[96];
    rt_type_name(t, tn, sizeof tn);
    rt_value_describe(v, vd, sizeof vd);
    rt_buf path = { 0 };
    if (pos_render(pos, &path)) put_msg(err, errlen, "field '%s' expected %s, got %s", path.data, tn, vd);
    else put_msg(err, errlen, "expected %s, got %s", tn, vd);
    rt_buf_free(&path);
    return false;
}

bool rt_type_check(const rt_type *type, const json_t *value, const char *what, char *err, size_t errlen)
{
    char msg[512];
    bool ok = type_check(type, value, NULL, msg, sizeof msg);
    if (!ok) put_msg(err, errlen, "%s%s%s", what ? what : "", what ? ": " : "", msg);
    return ok;
}

bool rt_type_optional(const rt_type *type)
{
    return type && type->kind == RT_TYPE_OPT;
}
