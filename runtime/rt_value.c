/*
** rt_value.c — [engine] expressions of a run: literals, field access,
** operators, interpolation, built-in functions and function-step
** parameters, each value kept in its context's pool.
*/
#include "rt_value.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>

#include "rt_ctx.h"
#include "rt_redact.h"
#include "rt_type.h"
#include "rt_url.h"

static json_t *keep(rt_ctx *c, json_t *v)
{
    return rt_pool_keep(rt_ctx_pool(c), v);
}

/* ---- literals ----------------------------------------------------------- */

json_t *rt_null(void) { return json_null(); }
json_t *rt_bool(bool b) { return b ? json_true() : json_false(); }
json_t *rt_int(rt_ctx *c, int64_t v) { return keep(c, json_integer(v)); }
json_t *rt_float(rt_ctx *c, double v) { return keep(c, json_real(v)); }

json_t *rt_str(rt_ctx *c, const char *s)
{
    return s ? keep(c, rt_json_bytes(s)) : json_null();
}

/* ---- literals made once ---------------------------------------------------- */

/* The slots filled so far, emptied by rt_value_teardown. */
static json_t ***const_slots;
static size_t nconst_slots, capconst_slots;
static pthread_mutex_t const_lock = PTHREAD_MUTEX_INITIALIZER;

/* *slot, or v put there (a NEW reference taken over) when it is empty: the
** first of two threads making one literal wins, the other's is dropped. */
static json_t *const_fill(json_t **slot, json_t *v)
{
    json_t *expected = NULL;
    if (!__atomic_compare_exchange_n(slot, &expected, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        json_decref(v);
        return expected;
    }
    pthread_mutex_lock(&const_lock);
    if (nconst_slots == capconst_slots) {
        capconst_slots = capconst_slots ? capconst_slots * 2 : 64;
        const_slots = rt_xrealloc(const_slots, sizeof *const_slots * capconst_slots);
    }
    const_slots[nconst_slots++] = slot;
    pthread_mutex_unlock(&const_lock);
    return v;
}

json_t *rt_strk(json_t **slot, const char *s)
{
    json_t *v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    return v ? v : const_fill(slot, rt_json_bytes(s));
}

json_t *rt_intk(json_t **slot, int64_t i)
{
    json_t *v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    return v ? v : const_fill(slot, json_integer(i));
}

void rt_value_teardown(void)
{
    pthread_mutex_lock(&const_lock);
    for (size_t i = 0; i < nconst_slots; i++) {
        json_decref(*const_slots[i]);
        *const_slots[i] = NULL;
    }
    free(const_slots);
    const_slots = NULL;
    nconst_slots = capconst_slots = 0;
    pthread_mutex_unlock(&const_lock);
}

json_t *rt_list(rt_ctx *c, int n, ...)
{
    json_t *l = json_array();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        json_t *v = va_arg(ap, json_t *);
        json_array_append(l, v ? v : json_null());
    }
    va_end(ap);
    return keep(c, l);
}

json_t *rt_object(rt_ctx *c, int n, ...)
{
    json_t *o = json_object();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *k = va_arg(ap, const char *);
        json_t *v = va_arg(ap, json_t *);
        json_object_set(o, k, v ? v : json_null());
    }
    va_end(ap);
    return keep(c, o);
}

/* Large literals are built item by item (the emitter keeps every C call
** short): list and obj are values rt_list/rt_object made for this ctx. */
void rt_list_add(rt_ctx *c, json_t *list, json_t *v)
{
    (void)c;
    json_array_append(list, v ? v : json_null());
}

void rt_object_add(rt_ctx *c, json_t *obj, const char *key, json_t *v)
{
    (void)c;
    json_object_set(obj, key, v ? v : json_null());
}

/* ---- access ------------------------------------------------------------- */

json_t *rt_field(rt_ctx *c, json_t *v, const char *name)
{
    if (!v || json_is_null(v)) return json_null();
    if (!json_is_object(v)) {
        char d[96];
        rt_value_describe(v, d, sizeof d);
        rt_ctx_raise(c, 0, "cannot read field '%s' of %s", name, d);
        return json_null();
    }
    json_t *f = json_object_get(v, name);
    return f ? f : json_null();
}

/* A response kept in parts (rt_ctx_set_response) gives its fields
** without making its whole. */
json_t *rt_result_field(rt_ctx *c, rt_result *r, const char *name)
{
    if (r && r->ok && !r->out) {
        if (strcmp(name, "body") == 0) return r->body;
        if (strcmp(name, "status") == 0) return keep(c, json_integer(r->status));
    }
    return rt_field(c, rt_result_out(r), name);
}

json_t *rt_index(rt_ctx *c, json_t *v, json_t *index)
{
    if (!v || json_is_null(v)) return json_null();
    if (json_is_array(v) && json_is_integer(index)) {
        json_int_t i = json_integer_value(index), n = (json_int_t)json_array_size(v);
        if (i < 0) i += n;
        json_t *item = i >= 0 && i < n ? json_array_get(v, (size_t)i) : NULL;
        return item ? item : json_null();
    }
    if (json_is_object(v) && json_is_string(index)) {
        json_t *f = json_object_get(v, json_string_value(index));
        return f ? f : json_null();
    }
    char dv[96], di[96];
    rt_value_describe(v, dv, sizeof dv);
    rt_value_describe(index, di, sizeof di);
    rt_ctx_raise(c, 0, "cannot index %s with %s", dv, di);
    return json_null();
}

json_t *rt_interp(rt_ctx *c, int n, ...)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) rt_value_render(&b, va_arg(ap, json_t *));
    va_end(ap);
    json_t *s = json_stringn(b.data, b.len);
    if (!s) s = json_stringn_nocheck(b.data, b.len);
    rt_buf_free(&b);
    return keep(c, s);
}

json_t *rt_interp_list(rt_ctx *c, json_t *pieces)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    size_t i;
    json_t *v;
    json_array_foreach(pieces, i, v) rt_value_render(&b, v);
    json_t *s = json_stringn(b.data, b.len);
    if (!s) s = json_stringn_nocheck(b.data, b.len);
    rt_buf_free(&b);
    return keep(c, s);
}

/* ---- operators ---------------------------------------------------------- */

static const char *op_name(rt_op op)
{
    static const char *const names[] = {
        "?",
#define FLOW_OP(name, text, operands) text,
#include "flow_ops.def"
#undef FLOW_OP
    };
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

static json_t *op_error(rt_ctx *c, rt_op op, json_t *a, json_t *b, int line)
{
    char da[96], db[96];
    rt_value_describe(a, da, sizeof da);
    if (b) {
        rt_value_describe(b, db, sizeof db);
        rt_ctx_raise(c, line, "operator '%s' cannot be applied to %s and %s", op_name(op), da, db);
    } else {
        rt_ctx_raise(c, line, "operator '%s' cannot be applied to %s", op_name(op), da);
    }
    return json_null();
}

static json_t *arith(rt_ctx *c, rt_op op, json_t *a, json_t *b, int line)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        int64_t x = json_integer_value(a), y = json_integer_value(b), r = 0;
        bool overflow = false;
        switch (op) {
        case RT_OP_ADD: overflow = __builtin_add_overflow(x, y, &r); break;
        case RT_OP_SUB: overflow = __builtin_sub_overflow(x, y, &r); break;
        case RT_OP_MUL: overflow = __builtin_mul_overflow(x, y, &r); break;
        case RT_OP_DIV:
        case RT_OP_MOD:
            if (y == 0) {
                rt_ctx_raise(c, line, "%s by zero", op == RT_OP_DIV ? "division" : "modulo");
                return json_null();
            }
            if (x == INT64_MIN && y == -1) overflow = true;
            else r = op == RT_OP_DIV ? x / y : x % y;
            break;
        default: break;         /* rt_binary passes arithmetic only */
        }
        if (overflow) {
            rt_ctx_raise(c, line, "integer overflow in %" PRId64 " %s %" PRId64, x, op_name(op), y);
            return json_null();
        }
        return rt_int(c, r);
    }
    if (json_is_number(a) && json_is_number(b) && op != RT_OP_MOD) {
        double x = json_number_value(a), y = json_number_value(b), r = 0;
        switch (op) {
        case RT_OP_ADD: r = x + y; break;
        case RT_OP_SUB: r = x - y; break;
        case RT_OP_MUL: r = x * y; break;
        case RT_OP_DIV:
            if (y == 0) {
                rt_ctx_raise(c, line, "division by zero");
                return json_null();
            }
            r = x / y;
            break;
        default: break;
        }
        if (!isfinite(r)) {     /* JSON has no inf: the value would become null */
            rt_ctx_raise(c, line, "float overflow in %g %s %g", x, op_name(op), y);
            return json_null();
        }
        return rt_float(c, r);
    }
    if (op == RT_OP_ADD && json_is_string(a) && json_is_string(b)) return rt_interp(c, 2, a, b);
    if (op == RT_OP_ADD && json_is_array(a) && json_is_array(b)) {
        json_t *l = json_copy(a);
        json_array_extend(l, b);
        return keep(c, l);
    }
    return op_error(c, op, a, b, line);
}

static json_t *compare(rt_ctx *c, rt_op op, json_t *a, json_t *b, int line)
{
    int cmp;
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        cmp = x < y ? -1 : x > y;
    } else if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        cmp = x < y ? -1 : x > y;
    } else if (json_is_string(a) && json_is_string(b)) {
        cmp = strcmp(json_string_value(a), json_string_value(b));
    } else {
        return op_error(c, op, a, b, line);
    }
    switch (op) {
    case RT_OP_LT: return rt_bool(cmp < 0);
    case RT_OP_LE: return rt_bool(cmp <= 0);
    case RT_OP_GT: return rt_bool(cmp > 0);
    default: return rt_bool(cmp >= 0);
    }
}

/* Every operator is named in these switches (no default): an operator
** added to flow_ops.def and not handled here is a compile error. */
json_t *rt_binary(rt_ctx *c, rt_op op, json_t *a, json_t *b, int line)
{
    if (!a) a = json_null();
    if (!b) b = json_null();
    switch (op) {
    case RT_OP_EQ: return rt_bool(rt_value_equal(a, b));
    case RT_OP_NE: return rt_bool(!rt_value_equal(a, b));
    case RT_OP_COALESCE: return json_is_null(a) ? b : a;
    case RT_OP_AND: return rt_bool(rt_truthy(c, a, line) && rt_truthy(c, b, line));
    case RT_OP_OR: return rt_bool(rt_truthy(c, a, line) || rt_truthy(c, b, line));
    case RT_OP_LT: case RT_OP_LE: case RT_OP_GT: case RT_OP_GE: return compare(c, op, a, b, line);
    case RT_OP_ADD: case RT_OP_SUB: case RT_OP_MUL: case RT_OP_DIV: case RT_OP_MOD:
        return arith(c, op, a, b, line);
    case RT_OP_NONE: case RT_OP_NOT: case RT_OP_NEG:
        break;                  /* not infix */
    }
    rt_ctx_raise(c, line, "unknown operator %d", (int)op);
    return json_null();
}

json_t *rt_unary(rt_ctx *c, rt_op op, json_t *a, int line)
{
    if (!a) a = json_null();
    switch (op) {
    case RT_OP_NOT:
        if (json_is_boolean(a)) return rt_bool(!json_is_true(a));
        if (json_is_null(a)) return rt_bool(true);
        return op_error(c, op, a, NULL, line);
    case RT_OP_NEG:
        if (json_is_integer(a)) {
            if (json_integer_value(a) == INT64_MIN) {
                rt_ctx_raise(c, line, "integer overflow negating %" PRId64, (int64_t)INT64_MIN);
                return json_null();
            }
            return rt_int(c, -json_integer_value(a));
        }
        if (json_is_real(a)) return rt_float(c, -json_real_value(a));
        return op_error(c, op, a, NULL, line);
    case RT_OP_NONE: case RT_OP_OR: case RT_OP_AND: case RT_OP_EQ: case RT_OP_NE: case RT_OP_LT:
    case RT_OP_LE: case RT_OP_GT: case RT_OP_GE: case RT_OP_COALESCE: case RT_OP_ADD: case RT_OP_SUB:
    case RT_OP_MUL: case RT_OP_DIV: case RT_OP_MOD:
        break;                  /* not prefix */
    }
    rt_ctx_raise(c, line, "unknown operator %d", (int)op);
    return json_null();
}

bool rt_truthy(rt_ctx *c, json_t *v, int line)
{
    if (!v || json_is_null(v)) return false;   /* a missing json field reads as false */
    if (json_is_boolean(v)) return json_is_true(v);
    char d[96];
    rt_value_describe(v, d, sizeof d);
    rt_ctx_raise(c, line, "condition must be a bool, got %s", d);
    return false;
}

/* ---- built-in functions ------------------------------------------------- */

static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) count++;
    return count;
}

/* A built-in's name, for messages. */
static const char *fn_name(rt_fn fn)
{
    static const char *const names[] = {
#define FLOW_BUILTIN(name, min, max, signature, doc) #name,
#include "flow_builtins.def"
#undef FLOW_BUILTIN
    };
    return (unsigned)fn < sizeof names / sizeof names[0] ? names[fn] : "?";
}

static json_t *call_error(rt_ctx *c, const char *fn, json_t *arg, int line)
{
    char d[96];
    rt_value_describe(arg, d, sizeof d);
    rt_ctx_raise(c, line, "%s() cannot take %s", fn, d);
    return json_null();
}

static json_t *call_case(rt_ctx *c, rt_fn fn, json_t *a, int line)
{
    if (!json_is_string(a)) return json_is_null(a) ? json_null() : call_error(c, fn_name(fn), a, line);
    const char *s = json_string_value(a);
    size_t n = json_string_length(a);
    if (fn == RT_FN_trim) {
        while (n && isspace((unsigned char)*s)) s++, n--;
        while (n && isspace((unsigned char)s[n - 1])) n--;
        json_t *r = json_stringn(s, n);
        return keep(c, r ? r : json_stringn_nocheck(s, n));
    }
    char *t = rt_xstrndup(s, n);
    for (size_t i = 0; i < n; i++) t[i] = (char)(fn == RT_FN_lower ? tolower((unsigned char)t[i]) : toupper((unsigned char)t[i]));
    json_t *r = json_stringn(t, n);
    if (!r) r = json_stringn_nocheck(t, n);
    free(t);
    return keep(c, r);
}

/* Standard base64 of the value's text; an encoded secret is a secret. */
static json_t *call_base64(rt_ctx *c, json_t *a)
{
    rt_buf text = { 0 };
    rt_buf_append(&text, "", 0);
    rt_value_render(&text, a);
    char *enc = rt_base64(text.data, text.len);
    if (rt_redact_holds(text.data)) rt_redact_add(enc);
    rt_buf_free(&text);
    json_t *r = rt_str(c, enc);
    free(enc);
    return r;
}

/* Percent-encodes all but RFC 3986's unreserved characters: a value made
** safe for one path segment (null renders empty, as in interpolation). */
static json_t *call_url_encode(rt_ctx *c, json_t *a)
{
    rt_buf text = { 0 }, out = { 0 };
    rt_buf_append(&text, "", 0);
    rt_buf_append(&out, "", 0);
    rt_value_render(&text, a);
    rt_url_escape(&out, text.data, text.len, false);
    /* the encoding of a secret is registered with it (rt_redact_add); a
    ** value that merely holds one (url_encode("k={{secret.x}}")) is
    ** registered here, so that encoding it again (in a query) is too */
    if (rt_redact_holds(text.data)) rt_redact_add(out.data);
    json_t *r = rt_str(c, out.data);
    rt_buf_free(&text);
    rt_buf_free(&out);
    return r;
}

/* url_path(x): x's text as a URL path, '/' kept and each segment encoded;
** "." and ".." segments are refused. */
static json_t *call_url_path(rt_ctx *c, json_t *a, int line)
{
    rt_buf text = { 0 }, out = { 0 };
    rt_buf_append(&text, "", 0);
    rt_buf_append(&out, "", 0);
    rt_value_render(&text, a);
    char err[400];
    json_t *r;
    if (rt_url_path(&out, text.data, text.len, err, sizeof err)) {
        if (rt_redact_holds(text.data)) rt_redact_add(out.data);
        r = rt_str(c, out.data);
    } else {
        rt_ctx_raise(c, line, "%s", err);
        r = json_null();
    }
    rt_buf_free(&text);
    rt_buf_free(&out);
    return r;
}

static json_t *call_number(rt_ctx *c, rt_fn which, json_t *a, int line)
{
    bool to_int = which == RT_FN_int;
    const char *fn = fn_name(which);
    double d;
    if (json_is_integer(a)) {
        if (to_int) return a;
        return rt_float(c, (double)json_integer_value(a));
    } else if (json_is_real(a)) {
        d = json_real_value(a);
    } else if (json_is_boolean(a)) {
        d = json_is_true(a);
    } else if (json_is_string(a)) {
        const char *s = json_string_value(a);
        char *end;
        errno = 0;
        if (to_int) {
            long long v = strtoll(s, &end, 10);
            while (isspace((unsigned char)*end)) end++;
            if (end != s && !*end && errno == 0) return rt_int(c, v);
        }
        d = strtod(s, &end);
        while (isspace((unsigned char)*end)) end++;
        if (end == s || *end) return call_error(c, fn, a, line);
    } else {
        return call_error(c, fn, a, line);
    }
    if (!isfinite(d)) {
        rt_ctx_raise(c, line, "%s(): %g is not a finite number", fn, d);
        return json_null();
    }
    if (!to_int) return rt_float(c, d);
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
        rt_ctx_raise(c, line, "int(): %g is out of range", d);
        return json_null();
    }
    return rt_int(c, (int64_t)d);
}

static json_t *call_contains(rt_ctx *c, json_t *a, json_t *x, int line)
{
    if (json_is_array(a)) {
        for (size_t i = 0; i < json_array_size(a); i++)
            if (rt_value_equal(json_array_get(a, i), x)) return rt_bool(true);
        return rt_bool(false);
    }
    if (json_is_string(a) && json_is_string(x)) return rt_bool(strstr(json_string_value(a), json_string_value(x)));
    if (json_is_object(a) && json_is_string(x)) return rt_bool(json_object_get(a, json_string_value(x)));
    if (json_is_null(a)) return rt_bool(false);
    return call_error(c, "contains", a, line);
}

static json_t *call_len(rt_ctx *c, json_t *a, int line)
{
    if (json_is_array(a)) return rt_int(c, (int64_t)json_array_size(a));
    if (json_is_object(a)) return rt_int(c, (int64_t)json_object_size(a));
    if (json_is_string(a)) return rt_int(c, (int64_t)utf8_length(json_string_value(a), json_string_length(a)));
    if (json_is_null(a)) return rt_int(c, 0);
    return call_error(c, "len", a, line);
}

static json_t *call_join(rt_ctx *c, json_t *a, json_t *sep, int line)
{
    if (!json_is_array(a)) return json_is_null(a) ? rt_str(c, "") : call_error(c, "join", a, line);
    rt_buf out = { 0 };
    rt_buf_append(&out, "", 0);
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (i) rt_value_render(&out, sep);
        rt_value_render(&out, json_array_get(a, i));
    }
    json_t *r = json_stringn(out.data, out.len);
    if (!r) r = json_stringn_nocheck(out.data, out.len);
    rt_buf_free(&out);
    return keep(c, r);
}

/* Every built-in is named in this switch (no default): one added to
** flow_builtins.def and not implemented here is a compile error. */
json_t *rt_call(rt_ctx *c, rt_fn fn, int n, json_t **args, int line)
{
    json_t *a = n > 0 && args[0] ? args[0] : json_null();
    json_t *b = n > 1 && args[1] ? args[1] : json_null();
    switch (fn) {
    case RT_FN_len: return call_len(c, a, line);
    case RT_FN_lower: case RT_FN_upper: case RT_FN_trim: return call_case(c, fn, a, line);
    case RT_FN_string: return json_is_string(a) ? a : rt_interp(c, 1, a);
    case RT_FN_url_encode: return call_url_encode(c, a);
    case RT_FN_url_path: return call_url_path(c, a, line);
    case RT_FN_base64: return call_base64(c, a);
    case RT_FN_int: case RT_FN_float: return call_number(c, fn, a, line);
    case RT_FN_contains: return call_contains(c, a, b, line);
    case RT_FN_join: return call_join(c, a, b, line);
    case RT_FN_now: {
        char ts[40];
        rt_format_time(rt_now_ms(), ts, sizeof ts);
        return rt_str(c, ts);
    }
    case RT_FN_json: {
        if (!json_is_string(a)) return a;
        json_t *parsed = json_loads(json_string_value(a), JSON_DECODE_ANY, NULL);
        return parsed ? keep(c, parsed) : a;
    }
    }
    rt_ctx_raise(c, line, "unknown function %d", (int)fn);
    return json_null();
}

/* ---- function step parameters ------------------------------------------- */

int64_t rt_param_int(const json_t *params, const char *name)
{
    const json_t *v = json_object_get(params, name);
    return json_is_integer(v) ? json_integer_value(v) : (int64_t)json_number_value(v);
}

double rt_param_float(const json_t *params, const char *name)
{
    return json_number_value(json_object_get(params, name));
}

bool rt_param_bool(const json_t *params, const char *name)
{
    return json_is_true(json_object_get(params, name));
}

const char *rt_param_string(const json_t *params, const char *name)
{
    return json_string_value(json_object_get(params, name));
}

const json_t *rt_param_json(const json_t *params, const char *name)
{
    const json_t *v = json_object_get(params, name);
    return v ? v : json_null();
}
