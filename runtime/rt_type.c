/*
** rt_type.c — [values] type descriptors parsed once and checked against values.
*/
#include "rt_type.h"

#include <pthread.h>
#include <stdarg.h>

#include "rt_redact.h"
#include "rt_util.h"

/* A process-wide cache of parsed types, keyed by the text's content: tcc
** does not merge identical string literals, so a 10,000-step workflow has
** 10,000 copies of "\"int\"" that must all find the same entry quickly. */
typedef struct type_entry {
    char *text;                 /* owned copy */
    json_t *parsed;             /* owned: lives as long as the process */
} type_entry;

static type_entry *type_table;  /* open addressing; text NULL = empty */
static size_t type_cap, type_count;
static pthread_mutex_t type_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t type_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static type_entry *type_slot(type_entry *table, size_t cap, const char *text)
{
    size_t i = type_hash(text) & (cap - 1);
    while (table[i].text && strcmp(table[i].text, text) != 0) i = (i + 1) & (cap - 1);
    return &table[i];
}

static void type_table_grow(void)
{
    size_t cap = type_cap ? type_cap * 2 : 64;
    type_entry *t = rt_xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < type_cap; i++)
        if (type_table[i].text) *type_slot(t, cap, type_table[i].text) = type_table[i];
    free(type_table);
    type_table = t;
    type_cap = cap;
}

static bool type_valid(const json_t *t)
{
    if (json_is_string(t)) {
        static const char *const names[] = { "string", "int", "float", "bool", "json", "null" };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(json_string_value(t), names[i]) == 0) return true;
        return false;
    }
    if (json_is_array(t)) {
        const char *k = json_string_value(json_array_get(t, 0));
        return json_array_size(t) == 2 && k && (strcmp(k, "list") == 0 || strcmp(k, "opt") == 0) &&
               type_valid(json_array_get(t, 1));
    }
    if (json_is_object(t)) {
        const char *key;
        json_t *ft;
        json_object_foreach((json_t *)t, key, ft) if (!type_valid(ft)) return false;
        return true;
    }
    return false;
}

const json_t *rt_type_parse(rt_type_text text)
{
    if (!text) text = "\"json\"";
    pthread_mutex_lock(&type_lock);
    if ((type_count + 1) * 2 > type_cap) type_table_grow();
    type_entry *e = type_slot(type_table, type_cap, text);
    if (e->text) {
        pthread_mutex_unlock(&type_lock);
        return e->parsed;
    }
    json_t *parsed = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!parsed || !type_valid(parsed)) {
        json_decref(parsed);
        pthread_mutex_unlock(&type_lock);
        return NULL;
    }
    e->text = rt_xstrdup(text);
    e->parsed = parsed;
    type_count++;
    pthread_mutex_unlock(&type_lock);
    return parsed;
}

void rt_type_cache_free(void)
{
    pthread_mutex_lock(&type_lock);
    for (size_t i = 0; i < type_cap; i++) {
        free(type_table[i].text);
        json_decref(type_table[i].parsed);
    }
    free(type_table);
    type_table = NULL;
    type_cap = type_count = 0;
    pthread_mutex_unlock(&type_lock);
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

void rt_type_name(const json_t *t, char *out, size_t n)
{
    if (json_is_string(t)) {
        put_msg(out, n, "%s", json_string_value(t));
    } else if (json_is_array(t)) {
        char inner[96];
        rt_type_name(json_array_get(t, 1), inner, sizeof inner);
        if (strcmp(json_string_value(json_array_get(t, 0)), "list") == 0) put_msg(out, n, "[%s]", inner);
        else put_msg(out, n, "%s?", inner);
    } else {
        /* {a: int, b: [string]}, or "object" when that does not fit */
        rt_buf b = { 0 };
        rt_buf_putc(&b, '{');
        const char *k;
        json_t *ft;
        bool first = true;
        json_object_foreach((json_t *)t, k, ft) {
            char inner[256];
            rt_type_name(ft, inner, sizeof inner);
            rt_buf_printf(&b, "%s%s: %s", first ? "" : ", ", k, inner);
            first = false;
        }
        rt_buf_putc(&b, '}');
        put_msg(out, n, "%s", b.len < n ? b.data : "object");
        rt_buf_free(&b);
    }
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

static bool type_check(const json_t *t, const json_t *v, const type_pos *pos, char *err, size_t errlen)
{
    if (!v) v = json_null();
    if (json_is_array(t)) {
        const char *k = json_string_value(json_array_get(t, 0));
        const json_t *inner = json_array_get(t, 1);
        if (strcmp(k, "opt") == 0) return json_is_null(v) || type_check(inner, v, pos, err, errlen);
        if (json_is_array(v)) {
            size_t i;
            json_t *item;
            json_array_foreach((json_t *)v, i, item) {
                type_pos here = { .up = pos, .index = i };
                if (!type_check(inner, item, &here, err, errlen)) return false;
            }
            return true;
        }
    } else if (json_is_object(t)) {
        if (json_is_object(v)) {
            const char *key;
            json_t *ft;
            json_object_foreach((json_t *)t, key, ft) {
                type_pos here = { .up = pos, .key = key };
                json_t *fv = json_object_get(v, key);
                if (!fv && !(json_is_array(ft) && strcmp(json_string_value(json_array_get(ft, 0)), "opt") == 0) &&
                    !(json_is_string(ft) && (strcmp(json_string_value(ft), "json") == 0 ||
                                             strcmp(json_string_value(ft), "null") == 0))) {
                    char tn[128];
                    rt_type_name(ft, tn, sizeof tn);
                    rt_buf path = { 0 };
                    pos_render(&here, &path);
                    put_msg(err, errlen, "missing field '%s' (%s)", path.data, tn);
                    rt_buf_free(&path);
                    return false;
                }
                if (!type_check(ft, fv, &here, err, errlen)) return false;
            }
            return true;
        }
    } else {
        const char *k = json_string_value(t);
        if (strcmp(k, "json") == 0) return true;
        if (strcmp(k, "string") == 0 && json_is_string(v)) return true;
        if (strcmp(k, "int") == 0 && json_is_integer(v)) return true;
        if (strcmp(k, "float") == 0 && json_is_number(v)) return true;
        if (strcmp(k, "bool") == 0 && json_is_boolean(v)) return true;
        if (strcmp(k, "null") == 0 && json_is_null(v)) return true;
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

bool rt_type_check(rt_type_text type, const json_t *value, const char *what, char *err, size_t errlen)
{
    const json_t *t = rt_type_parse(type);
    if (!t) {
        put_msg(err, errlen, "%s%sinvalid type descriptor %s", what ? what : "", what ? ": " : "", type);
        return false;
    }
    char msg[512];
    bool ok = type_check(t, value, NULL, msg, sizeof msg);
    if (!ok) put_msg(err, errlen, "%s%s%s", what ? what : "", what ? ": " : "", msg);
    return ok;
}
