/*
** rt_json.c — [values] JSON values below the engine: reference pools, compact
** encoding, rendering for interpolation, deep equality, and the atomics
** tcc-compiled jansson calls (flow.h).
*/
#include "rt_json.h"

#include <math.h>

#include "rt_redact.h"

/* ---- pools -------------------------------------------------------------- */

json_t *rt_pool_keep(rt_pool *p, json_t *v)
{
    if (!v) return json_null();
    if (v->refcount == (size_t)-1) return v;       /* null, true, false: static */
    if (!p->v) {
        p->v = p->few;
        p->cap = sizeof p->few / sizeof p->few[0];
    }
    if (p->n == p->cap) {
        json_t **more = rt_xmalloc(sizeof *more * p->cap * 4);
        memcpy(more, p->v, sizeof *more * p->n);
        if (p->v != p->few) free(p->v);
        p->v = more;
        p->cap *= 4;
    }
    p->v[p->n++] = v;
    return v;
}

void rt_pool_release(rt_pool *p)
{
    for (size_t i = 0; i < p->n; i++) json_decref(p->v[i]);
    if (p->v != p->few) free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

/* ---- atomics for tcc-compiled jansson (see flow.h) ---------------------- */

size_t flow_atomic_add_fetch(size_t *p, size_t v);
size_t flow_atomic_sub_fetch(size_t *p, size_t v);

size_t flow_atomic_add_fetch(size_t *p, size_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_ACQUIRE);
}

size_t flow_atomic_sub_fetch(size_t *p, size_t v)
{
    return __atomic_sub_fetch(p, v, __ATOMIC_RELEASE);
}

json_t *rt_json_bytes(const char *s)
{
    if (!s) return json_null();
    json_t *v = json_string(s);
    return v ? v : json_string_nocheck(s);
}

/* ---- rendering ---------------------------------------------------------- */

/* A float as JSON: the shortest text that reads back the same (rt_util.h). */
static void render_float(rt_buf *b, double d)
{
    char text[40];
    rt_float_text(d, text, sizeof text);
    rt_buf_puts(b, text);
}

/* Bytes a JSON string holds as they are: ASCII from the space up (DEL too), but '"' and '\\'. */
static const unsigned char json_plain[256] = {
    [0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/* Whether the 8 bytes of w are all json_plain: none below the space, none
** from 0x80 up, no '"' and no '\\'. (w - k per byte) & ~w has a high bit
** set when, and only when, some byte is below k (bit-twiddling "hasless"). */
static inline bool word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = w ^ (ones * 0x22), bs = w ^ (ones * 0x5c);
    uint64_t bad = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w;
    return (bad & highs) == 0;
}

/* \uXXXX (and a surrogate pair above U+FFFF) for the UTF-8 sequence at s. */
static void encode_ascii_seq(rt_buf *b, const unsigned char *s, size_t len)
{
    uint32_t cp = len == 2 ? (uint32_t)(s[0] & 0x1f) : len == 3 ? (uint32_t)(s[0] & 0x0f) : (uint32_t)(s[0] & 0x07);
    for (size_t k = 1; k < len; k++) cp = cp << 6 | (uint32_t)(s[k] & 0x3f);
    char esc[16];
    if (cp >= 0x10000) {
        cp -= 0x10000;
        snprintf(esc, sizeof esc, "\\u%04X\\u%04X", 0xD800 | (cp >> 10), 0xDC00 | (cp & 0x3ff));
    } else {
        snprintf(esc, sizeof esc, "\\u%04X", cp);
    }
    rt_buf_puts(b, esc);
}

/* Whether all n bytes at s are json_plain (written as they are). */
static inline bool all_plain(const unsigned char *s, size_t n)
{
    size_t i = 0;
    uint64_t w;
    while (i + 8 <= n && (memcpy(&w, s + i, 8), word_plain(w))) i += 8;
    while (i < n && json_plain[s[i]]) i++;
    return i == n;
}

static void encode_string_as(rt_buf *b, const char *str, size_t n, bool ascii)
{
    static const char hex[] = "0123456789ABCDEF";      /* as jansson writes it */
    const unsigned char *s = (const unsigned char *)str;
    if (b->len + n + 3 > b->cap) rt_buf_reserve(b, n + 2);
    if (all_plain(s, n)) {      /* most strings (names, URLs, dates): copied whole */
        b->data[b->len++] = '"';
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len++] = '"';
        b->data[b->len] = '\0';
        return;
    }
    b->data[b->len++] = '"';
    size_t run = 0;             /* s[run..i) is copied as it is */
    for (size_t i = 0; i < n;) {
        uint64_t w;             /* plain text 8 bytes at a time */
        while (i + 8 <= n && (memcpy(&w, s + i, 8), word_plain(w))) i += 8;
        if (i >= n) break;
        unsigned char c = s[i];
        if (json_plain[c]) {
            i++;
            continue;
        }
        size_t len = c >= 0x80 ? rt_utf8_seq(s + i, n - i) : 0;
        if (len && ascii) {
            rt_buf_append(b, s + run, i - run);
            encode_ascii_seq(b, s + i, len);
            run = i += len;
            continue;
        }
        if (len) {
            i += len;
            continue;
        }
        rt_buf_append(b, s + run, i - run);
        switch (c) {
        case '"': rt_buf_puts(b, "\\\""); break;
        case '\\': rt_buf_puts(b, "\\\\"); break;
        case '\n': rt_buf_puts(b, "\\n"); break;
        case '\r': rt_buf_puts(b, "\\r"); break;
        case '\t': rt_buf_puts(b, "\\t"); break;
        case '\b': rt_buf_puts(b, "\\b"); break;
        case '\f': rt_buf_puts(b, "\\f"); break;
        default:
            if (c < 0x20) {
                char esc[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0 };
                rt_buf_puts(b, esc);
            } else {
                rt_buf_puts(b, "\xef\xbf\xbd");     /* not UTF-8: U+FFFD */
            }
        }
        run = ++i;
    }
    rt_buf_append(b, s + run, n - run);
    rt_buf_putc(b, '"');
}

static void encode_string(rt_buf *b, const char *str, size_t n)
{
    encode_string_as(b, str, n, false);
}

static void encode_int(rt_buf *b, json_int_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    /* the digits end at tmp + 24 and are copied 24 bytes at once (a fixed
    ** size: a few moves, no call), so tmp holds 24 more after them */
    char tmp[48], *end = tmp + 24, *p = end;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {          /* two digits at a time */
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0) *--p = '-';
    size_t n = (size_t)(end - p);
    if (b->len + 24 + 1 > b->cap) rt_buf_reserve(b, 24);
    memcpy(b->data + b->len, p, 24);
    b->len += n;
    b->data[b->len] = '\0';
}

/* A string or key, redacted first when `redact` and it holds a secret
** (what rt_redact_json then rt_json_encode would write, in one pass). */
static void encode_text(rt_buf *b, const char *s, size_t n, bool redact)
{
    if (redact && rt_redact_holds_n(s, n)) {
        rt_buf r = { 0 };
        rt_buf_append(&r, "", 0);
        rt_redact_append(&r, s, n);
        encode_string(b, r.data, r.len);
        rt_buf_free(&r);
        return;
    }
    encode_string(b, s, n);
}

static void encode_value(rt_buf *b, const json_t *v, bool redact)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        rt_buf_putc(b, '{');
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            if (!first) rt_buf_putc(b, ',');
            first = false;
            encode_text(b, json_object_iter_key(it), json_object_iter_key_len(it), redact);
            rt_buf_putc(b, ':');
            encode_value(b, json_object_iter_value(it), redact);
        }
        rt_buf_putc(b, '}');
        return;
    }
    case JSON_ARRAY:
        rt_buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) rt_buf_putc(b, ',');
            encode_value(b, json_array_get(v, i), redact);
        }
        rt_buf_putc(b, ']');
        return;
    case JSON_STRING: encode_text(b, json_string_value(v), json_string_length(v), redact); return;
    case JSON_INTEGER: encode_int(b, json_integer_value(v)); return;
    case JSON_REAL: render_float(b, json_real_value(v)); return;
    case JSON_TRUE: rt_buf_puts(b, "true"); return;
    case JSON_FALSE: rt_buf_puts(b, "false"); return;
    case JSON_NULL: rt_buf_puts(b, "null"); return;
    }
}

void rt_json_encode(rt_buf *b, const json_t *v)
{
    encode_value(b, v, false);
}

void rt_json_encode_redacted(rt_buf *b, const json_t *v)
{
    encode_value(b, v, rt_redact_any());
}

void rt_json_encode_string_redacted(rt_buf *b, const char *s, size_t n)
{
    encode_text(b, s, n, rt_redact_any());
}

void rt_json_encode_text(rt_buf *b, const char *s, size_t n, bool redact)
{
    encode_text(b, s, n, redact);
}

void rt_json_encode_int(rt_buf *b, int64_t v)
{
    encode_int(b, (json_int_t)v);
}

void rt_json_encode_string(rt_buf *b, const char *s, size_t n)
{
    encode_string(b, s, n);
}

static void encode_indent(rt_buf *b, int indent, int depth)
{
    rt_buf_putc(b, '\n');
    for (int i = 0; i < indent * depth; i++) rt_buf_putc(b, ' ');
}

/* rt_json_encode with jansson's JSON_INDENT(indent) layout (indent > 0) and
** JSON_ENSURE_ASCII, for what people read: show, outputs, logs. */
static void encode_as(rt_buf *b, const json_t *v, int indent, int depth, bool ascii)
{
    const char *sep = indent ? ": " : ":";
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        if (!json_object_size(v)) {
            rt_buf_puts(b, "{}");
            return;
        }
        rt_buf_putc(b, '{');
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            if (!first) rt_buf_putc(b, ',');
            first = false;
            if (indent) encode_indent(b, indent, depth + 1);
            encode_string_as(b, json_object_iter_key(it), json_object_iter_key_len(it), ascii);
            rt_buf_puts(b, sep);
            encode_as(b, json_object_iter_value(it), indent, depth + 1, ascii);
        }
        if (indent) encode_indent(b, indent, depth);
        rt_buf_putc(b, '}');
        return;
    }
    case JSON_ARRAY:
        if (!json_array_size(v)) {
            rt_buf_puts(b, "[]");
            return;
        }
        rt_buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) rt_buf_putc(b, ',');
            if (indent) encode_indent(b, indent, depth + 1);
            encode_as(b, json_array_get(v, i), indent, depth + 1, ascii);
        }
        if (indent) encode_indent(b, indent, depth);
        rt_buf_putc(b, ']');
        return;
    case JSON_STRING: encode_string_as(b, json_string_value(v), json_string_length(v), ascii); return;
    default: rt_json_encode(b, v); return;
    }
}

char *rt_json_dump(const json_t *v, int indent, bool ascii)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    encode_as(&b, v, indent, 0, ascii);
    return rt_buf_take(&b);
}

char *rt_json_text(const json_t *v)
{
    rt_buf b = { 0 };
    rt_json_encode(&b, v);
    return rt_buf_take(&b);
}

void rt_value_render(rt_buf *b, const json_t *v)
{
    if (!v || json_is_null(v)) return;
    if (json_is_string(v)) {
        rt_buf_append(b, json_string_value(v), json_string_length(v));
        return;
    }
    rt_json_encode(b, v);
}

bool rt_value_equal(const json_t *a, const json_t *b)
{
    if (!a) a = json_null();
    if (!b) b = json_null();
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!rt_value_equal(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !rt_value_equal(v, w)) return false;
        }
        return true;
    }
    default:
        return true;    /* null, true, false: same type is same value */
    }
}

const char *rt_json_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

json_t *rt_json_obj_at(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_object(v)) json_object_set_new(o, k, v = json_object());
    return v;
}
