/*
** fmt.c — `flowc fmt`: a .flow file printed back from its syntax tree in
** one canonical layout (see fmt.h).
**
** The tree becomes a document of texts, line breaks and groups (Wadler's
** "prettier printer"): a group is printed on one line when it fits in
** FMT_WIDTH columns, else each of its line breaks becomes a newline with
** its nesting's indentation. Statement blocks, settings, trigger schemas,
** tests and a step's clauses always take one line per item. Comments come
** from the lexer's side list: each is emitted at the first item (statement,
** clause, field, member, argument, closing bracket) that starts after it; a
** comment that followed code on its line stays at the end of that line.
** Blank lines between top-level items and between statements are kept (one
** at most). Strings are printed from their decoded value with canonical
** escapes, numbers and durations from their value, C bodies byte for byte.
*/
#include "fmt.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "diag.h"
#include "imports.h"

#define FMT_WIDTH 100
#define FMT_INDENT 2

/* ---- documents ------------------------------------------------------------------- */

typedef enum dkind {
    D_TEXT, D_LINE, D_SOFT, D_HARD, D_CAT, D_NEST, D_GROUP, D_SUFFIX, D_IFBREAK,
    D_FLAT,                 /* its kid always on one line */
} dkind;

typedef struct doc doc;
struct doc {
    dkind k;
    const char *s;          /* D_TEXT, D_SUFFIX; D_IFBREAK: printed when broken */
    int n;
    const char *flat;       /* D_IFBREAK: printed when flat */
    doc *kid;               /* D_NEST, D_GROUP */
    doc **kids;             /* D_CAT */
    int nkids, cap;
    int width;              /* flat width; -1 until measured */
    bool hard;              /* holds a forced break: never flat */
};

typedef struct fmt_state {
    arena *a;
    const ast_file *f;
    const char *text;       /* the source */
    int len;
    int ci;                 /* next comment to print */
    doc *line, *soft, *hard;
} fmt_state;

static doc *dnew(fmt_state *st, dkind k)
{
    doc *d = arena_alloc(st->a, sizeof *d);
    d->k = k;
    d->width = -1;
    return d;
}

static doc *txtn(fmt_state *st, const char *s, size_t n)
{
    doc *d = dnew(st, D_TEXT);
    d->s = s;
    d->n = (int)n;
    return d;
}

static doc *txt(fmt_state *st, const char *s) { return txtn(st, s, strlen(s)); }

static doc *txtf(fmt_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static doc *txtf(fmt_state *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf b = { 0 };
    strbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    doc *d = txtn(st, arena_strndup(st->a, b.data ? b.data : "", b.len), b.len);
    strbuf_free(&b);
    return d;
}

static doc *cat(fmt_state *st) { return dnew(st, D_CAT); }

static doc *add(fmt_state *st, doc *c, doc *d)
{
    if (!d) return c;
    if (c->nkids == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        doc **k = arena_alloc(st->a, sizeof *k * (size_t)cap);
        if (c->nkids) memcpy(k, c->kids, sizeof *k * (size_t)c->nkids);
        c->kids = k;
        c->cap = cap;
    }
    c->kids[c->nkids++] = d;
    return c;
}

static doc *nest(fmt_state *st, doc *d)
{
    doc *n = dnew(st, D_NEST);
    n->kid = d;
    return n;
}

static doc *group(fmt_state *st, doc *d)
{
    doc *g = dnew(st, D_GROUP);
    g->kid = d;
    return g;
}

static doc *flatten(fmt_state *st, doc *d)
{
    doc *f = dnew(st, D_FLAT);
    f->kid = d;
    return f;
}

static doc *ifbreak(fmt_state *st, const char *broken, const char *flat)
{
    doc *d = dnew(st, D_IFBREAK);
    d->s = broken;
    d->n = (int)strlen(broken);
    d->flat = flat;
    return d;
}

/* Characters of a UTF-8 text (continuation bytes do not count). */
static int fmt_chars(const char *s, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

enum { FMT_HUGE = 1 << 24 };

/* Flat width and forced breaks, computed once per node (iteratively deep
** trees are bounded by the parser's nesting limits). */
static int measure(doc *d)
{
    if (d->width >= 0) return d->width;
    int w = 0;
    switch (d->k) {
    case D_TEXT:
        w = fmt_chars(d->s, d->n);
        if (memchr(d->s, '\n', (size_t)d->n)) d->hard = true;
        break;
    case D_LINE: w = 1; break;
    case D_SOFT: w = 0; break;
    case D_HARD: d->hard = true; break;
    case D_SUFFIX: d->hard = true; break;     /* a line comment ends its line */
    case D_IFBREAK: w = (int)strlen(d->flat); break;
    case D_NEST:
    case D_GROUP:
    case D_FLAT:
        w = measure(d->kid);
        d->hard = d->kid->hard;
        break;
    case D_CAT:
        for (int i = 0; i < d->nkids; i++) {
            int kw = measure(d->kids[i]);
            w = w + kw > FMT_HUGE ? FMT_HUGE : w + kw;
            if (d->kids[i]->hard) d->hard = true;
        }
        break;
    }
    if (d->hard) w = FMT_HUGE;
    d->width = w;
    return w;
}

/* ---- printing a document ---------------------------------------------------------- */

typedef struct frame {
    doc *d;
    int indent;
    bool flat;
} frame;

typedef struct printer {
    strbuf out;
    strbuf suffix;          /* line comments waiting for the end of the line */
    int col;
    int pending;            /* indentation to write before the next text, or -1 */
} printer;

static void pr_text(printer *p, const char *s, int n)
{
    if (!n) return;
    if (p->pending >= 0) {
        for (int i = 0; i < p->pending; i++) strbuf_putc(&p->out, ' ');
        p->pending = -1;
    }
    strbuf_append(&p->out, s, (size_t)n);
    const char *nl = NULL;
    for (int i = n - 1; i >= 0 && !nl; i--)
        if (s[i] == '\n') nl = s + i;
    if (nl) p->col = fmt_chars(nl + 1, (int)(s + n - nl - 1));
    else p->col += fmt_chars(s, n);
}

static void pr_newline(printer *p, int indent)
{
    if (p->suffix.len) {
        p->pending = -1;
        strbuf_append(&p->out, p->suffix.data, p->suffix.len);
        p->suffix.len = 0;
    }
    while (p->out.len && p->out.data[p->out.len - 1] == ' ') p->out.len--;
    strbuf_putc(&p->out, '\n');
    p->pending = indent;
    p->col = indent;
}

/* Whether `kid`, on one line from here, and what follows it up to the next
** line break (the frames rest[0..nrest), the next on top) fit in w columns. */
static bool fits(doc *kid, const frame *rest, int nrest, int w)
{
    frame local[256];
    int n = 0, ri = nrest - 1;
    local[n++] = (frame){ kid, 0, true };
    while (w >= 0) {
        if (n == 0) {
            if (ri < 0) return true;
            local[n++] = rest[ri--];
        }
        frame f = local[--n];
        doc *d = f.d;
        switch (d->k) {
        case D_TEXT: {
            const char *nl = memchr(d->s, '\n', (size_t)d->n);
            w -= fmt_chars(d->s, nl ? (int)(nl - d->s) : d->n);
            if (nl) return w >= 0;
            break;
        }
        case D_LINE:
            if (!f.flat) return true;
            w -= 1;
            break;
        case D_SOFT:
            if (!f.flat) return true;
            break;
        case D_HARD: return true;
        case D_SUFFIX: break;
        case D_IFBREAK: w -= f.flat ? (int)strlen(d->flat) : d->n; break;
        case D_CAT:
            for (int i = d->nkids - 1; i >= 0; i--) {
                if (n == 256) return w >= 0;    /* deep enough: call it a fit */
                local[n++] = (frame){ d->kids[i], 0, f.flat };
            }
            break;
        case D_NEST:
        case D_GROUP:
            if (n == 256) return w >= 0;
            local[n++] = (frame){ d->kid, 0, f.flat };
            break;
        case D_FLAT:
            if (n == 256) return w >= 0;
            local[n++] = (frame){ d->kid, 0, true };
            break;
        }
    }
    return false;
}

static char *print_doc(doc *root)
{
    measure(root);
    printer p = { .pending = -1 };
    frame *stack = NULL;
    int n = 0, cap = 0;
#define PUSH(D, I, F)                                                           \
    do {                                                                        \
        if (n == cap) {                                                         \
            cap = cap ? cap * 2 : 256;                                          \
            stack = xrealloc(stack, sizeof *stack * (size_t)cap);               \
        }                                                                       \
        stack[n++] = (frame){ (D), (I), (F) };                                  \
    } while (0)
    PUSH(root, 0, false);
    while (n) {
        frame f = stack[--n];
        doc *d = f.d;
        switch (d->k) {
        case D_TEXT: pr_text(&p, d->s, d->n); break;
        case D_LINE:
            if (f.flat) pr_text(&p, " ", 1);
            else pr_newline(&p, f.indent);
            break;
        case D_SOFT:
            if (!f.flat) pr_newline(&p, f.indent);
            break;
        case D_HARD: pr_newline(&p, f.indent); break;
        case D_SUFFIX: strbuf_append(&p.suffix, d->s, (size_t)d->n); break;
        case D_IFBREAK:
            if (f.flat) pr_text(&p, d->flat, (int)strlen(d->flat));
            else pr_text(&p, d->s, d->n);
            break;
        case D_CAT:
            for (int i = d->nkids - 1; i >= 0; i--) PUSH(d->kids[i], f.indent, f.flat);
            break;
        case D_NEST: PUSH(d->kid, f.indent + FMT_INDENT, f.flat); break;
        case D_GROUP: {
            bool flat = f.flat || (!d->kid->hard && p.col + measure(d->kid) <= FMT_WIDTH &&
                                   fits(d->kid, stack, n, FMT_WIDTH - p.col));
            PUSH(d->kid, f.indent, flat);
            break;
        }
        case D_FLAT: PUSH(d->kid, f.indent, true); break;
        }
    }
#undef PUSH
    free(stack);
    if (p.suffix.len) strbuf_append(&p.out, p.suffix.data, p.suffix.len);
    while (p.out.len && (p.out.data[p.out.len - 1] == ' ' || p.out.data[p.out.len - 1] == '\n')) p.out.len--;
    if (p.out.len) strbuf_putc(&p.out, '\n');     /* an empty file stays empty */
    strbuf_free(&p.suffix);
    return strbuf_take(&p.out);
}

/* ---- comments and blank lines ------------------------------------------------------ */

/* Whether the comment at `at` follows code on its line. */
static bool fmt_trailing(const fmt_state *st, int at)
{
    for (int i = at - 1; i >= 0 && st->text[i] != '\n'; i--)
        if (st->text[i] != ' ' && st->text[i] != '\t' && st->text[i] != '\r') return true;
    return false;
}

/* Whether [from, to) of the source holds a blank line. */
static bool fmt_blank(const fmt_state *st, int from, int to)
{
    int newlines = 0;
    if (from < 0) from = 0;
    if (to > st->len) to = st->len;
    for (int i = from; i < to; i++) {
        char c = st->text[i];
        if (c == '\n') {
            if (++newlines >= 2) return true;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            newlines = 0;
        }
    }
    return false;
}

static doc *fmt_comment_text(fmt_state *st, src_loc c)
{
    int e = c.end;
    while (e > c.start && (st->text[e - 1] == ' ' || st->text[e - 1] == '\t' || st->text[e - 1] == '\r')) e--;
    return txtn(st, st->text + c.start, (size_t)(e - c.start));
}

/* The comments that start before `upto` and were not printed yet:
** *trail gets the one that follows code on its line (a line suffix, to be
** placed before the line break), the result the others, each on its own
** line (with a blank line before it where the source has one, when
** keep_blank), ready to go after the break. */
static doc *fmt_comments(fmt_state *st, int upto, doc **trail, bool keep_blank, int prev_end)
{
    doc *lead = cat(st);
    *trail = NULL;
    int last = prev_end;
    bool first = true;
    while (st->ci < st->f->ncomments && st->f->comments[st->ci].start < upto) {
        src_loc c = st->f->comments[st->ci++];
        if (first && fmt_trailing(st, c.start)) {
            doc *t = fmt_comment_text(st, c);
            doc *sfx = dnew(st, D_SUFFIX);
            sfx->s = arena_printf(st->a, " %.*s", t->n, t->s);
            sfx->n = t->n + 1;
            *trail = sfx;
        } else {
            if (keep_blank && last >= 0 && fmt_blank(st, last, c.start)) add(st, lead, st->hard);
            add(st, lead, fmt_comment_text(st, c));
            add(st, lead, st->hard);
        }
        first = false;
        last = c.end;
    }
    return lead;
}

/* Between two items of a sequence: what ends the previous line (its
** trailing comment), the line break `brk`, a blank line where the source
** has one (keep_blank), and the comments on their own lines. */
static doc *fmt_between(fmt_state *st, doc *brk, int prev_end, int next_start, bool keep_blank)
{
    doc *trail;
    doc *lead = fmt_comments(st, next_start, &trail, keep_blank, prev_end);
    doc *c = cat(st);
    add(st, c, trail);
    add(st, c, brk);
    /* a blank line right before the item (after its comments, or alone) */
    if (keep_blank) {
        int from = prev_end;
        if (lead->nkids) from = st->f->comments[st->ci - 1].end;
        if (fmt_blank(st, from, next_start) && (lead->nkids || prev_end >= 0)) {
            if (lead->nkids) add(st, lead, st->hard);
            else add(st, c, st->hard);
        }
    }
    add(st, c, lead);
    return c;
}

/* ---- strings, numbers, names ---------------------------------------------------------- */

/* A decoded string piece with canonical escapes; `before_interp`: an
** interpolation follows, so a final `{` must not read as the start of its
** `{{`. */
static void fmt_escape(strbuf *b, const char *s, bool before_interp)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') strbuf_puts(b, "\\\"");
        else if (c == '\\') strbuf_puts(b, "\\\\");
        else if (c == '\n') strbuf_puts(b, "\\n");
        else if (c == '\t') strbuf_puts(b, "\\t");
        else if (c == '\r') strbuf_puts(b, "\\r");
        else if (c < 0x20 || c == 0x7f) strbuf_printf(b, "\\u{%X}", c);
        else if (c == '{' && i + 1 < n && s[i + 1] == '{') {
            strbuf_puts(b, "\\{{");
            i++;
        } else if (c == '{' && i + 1 == n && before_interp) {
            strbuf_puts(b, "\\u{7B}");
        } else {
            strbuf_putc(b, (char)c);
        }
    }
}

static doc *fmt_quoted(fmt_state *st, const char *s)
{
    strbuf b = { 0 };
    strbuf_putc(&b, '"');
    fmt_escape(&b, s ? s : "", false);
    strbuf_putc(&b, '"');
    doc *d = txtn(st, arena_strndup(st->a, b.data, b.len), b.len);
    strbuf_free(&b);
    return d;
}

static const char *fmt_duration(fmt_state *st, int64_t ms)
{
    static const struct { int64_t ms; const char *unit; } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (ms > 0 && ms % units[i].ms == 0) return arena_printf(st->a, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
    return arena_printf(st->a, "%" PRId64 "ms", ms);
}

/* The shortest text that reads back as the same double, always a float:
** positional (1500.0, 0.25) in the usual range, else with an exponent. */
static const char *fmt_float(fmt_state *st, double v)
{
    char buf[400];
    double mag = v < 0 ? -v : v;
    if (mag == 0 || (mag >= 1e-4 && mag < 1e16)) {
        for (int dec = 1; dec <= 20; dec++) {
            snprintf(buf, sizeof buf, "%.*f", dec, v);
            if (strtod(buf, NULL) == v) return arena_strdup(st->a, buf);
        }
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eE")) strcat(buf, ".0");     /* 1e+20 is a float as it is */
    return arena_strdup(st->a, buf);
}

/* A key or name as written: bare when the lexer reads it as one name. */
static bool fmt_bare_name(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return false;
    for (const char *p = s + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return strcmp(s, "and") != 0 && strcmp(s, "or") != 0 && strcmp(s, "not") != 0;
}

/* ---- types ------------------------------------------------------------------------------ */

static doc *fmt_type(fmt_state *st, const ast_type *t);
static doc *fmt_expr(fmt_state *st, const ast_expr *e, bool flat);

/* Appends `lead` then the expression e (" headers {...}", "event NAME"). */
static void add_led(fmt_state *st, doc *d, const char *lead, const ast_expr *e)
{
    add(st, d, txt(st, lead));
    add(st, d, fmt_expr(st, e, false));
}

/* Fields `name: T` (and `= default` for parameters), inside braces that
** hold them one per line when `expanded`, else on one line when they fit. */

static doc *fmt_field(fmt_state *st, const ast_field *f)
{
    doc *d = cat(st);
    add(st, d, txtf(st, "%s: ", f->name));
    add(st, d, fmt_type(st, f->type));
    if (f->deflt) add_led(st, d, " = ", f->deflt);
    return d;
}

/* { a: T, b: T } — close: offset of the closing brace (comments before it) */
static doc *fmt_fields_braced(fmt_state *st, ast_field **fields, int n, bool expanded, int close)
{
    if (n == 0 && (st->ci >= st->f->ncomments || st->f->comments[st->ci].start >= close)) return txt(st, "{}");
    doc *body = cat(st);
    for (int i = 0; i < n; i++) {
        doc *brk = i == 0 ? (expanded ? st->hard : st->line)
                          : (expanded ? st->hard : cat(st));
        if (i > 0 && !expanded) {
            add(st, brk, ifbreak(st, "", ","));
            add(st, brk, st->line);
        }
        add(st, body, fmt_between(st, brk, i ? fields[i - 1]->loc.end : -1, fields[i]->loc.start, false));
        add(st, body, fmt_field(st, fields[i]));
    }
    doc *trail;
    doc *lead = fmt_comments(st, close, &trail, false, n ? fields[n - 1]->loc.end : -1);
    add(st, body, trail);
    if (lead->nkids) {
        add(st, body, expanded ? st->hard : st->line);
        /* the last comment's break is the closing one */
        lead->nkids--;
        add(st, body, lead);
    }
    doc *d = cat(st);
    add(st, d, txt(st, "{"));
    add(st, d, nest(st, body));
    add(st, d, expanded ? st->hard : st->line);
    add(st, d, txt(st, "}"));
    return expanded ? d : group(st, d);
}

static doc *fmt_type(fmt_state *st, const ast_type *t)
{
    if (!t) return txt(st, "json");
    switch (t->kind) {
    case TY_STRING: return txt(st, "string");
    case TY_INT: return txt(st, "int");
    case TY_FLOAT: return txt(st, "float");
    case TY_BOOL: return txt(st, "bool");
    case TY_JSON: return txt(st, "json");
    case TY_LIST: {
        doc *d = cat(st);
        add(st, d, txt(st, "["));
        add(st, d, fmt_type(st, t->elem));
        add(st, d, txt(st, "]"));
        return d;
    }
    case TY_OPTIONAL: {
        doc *d = cat(st);
        add(st, d, fmt_type(st, t->elem));
        add(st, d, txt(st, "?"));
        return d;
    }
    case TY_OBJECT: return fmt_fields_braced(st, t->fields, t->nfields, false, t->loc.end - 1);
    default: return txt(st, "json");
    }
}

/* ---- expressions ------------------------------------------------------------------------- */

/* Binding strength of an expression as an operand (higher binds tighter). */
static int fmt_prec(const ast_expr *e)
{
    if (e->kind == EX_UNARY) return e->op == OP_NOT ? 3 : 8;
    if (e->kind == EX_COND) return 0;
    if (e->kind != EX_BINARY) return 9;
    switch (e->op) {
    case OP_OR: return 1;
    case OP_AND: return 2;
    case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE: return 4;
    case OP_COALESCE: return 5;
    case OP_ADD: case OP_SUB: return 6;
    default: return 7;
    }
}

static doc *fmt_paren(fmt_state *st, const ast_expr *e, bool flat, bool paren)
{
    if (!paren) return fmt_expr(st, e, flat);
    doc *d = cat(st);
    add(st, d, txt(st, "("));
    add(st, d, fmt_expr(st, e, flat));
    add(st, d, txt(st, ")"));
    return d;
}

/* A bracketed, comma-separated list: ( ... ), [ ... ] or { ... }. items
** are already documents; starts: their source offsets (for comments). */
static doc *fmt_bracketed(fmt_state *st, const char *open, const char *close, doc **items, const int *starts,
                          int n, bool spaced, bool flat, int close_at)
{
    if (n == 0) return txtf(st, "%s%s", open, close);
    doc *inner = cat(st);
    for (int i = 0; i < n; i++) {
        doc *brk = cat(st);
        if (i) add(st, brk, txt(st, ","));
        add(st, brk, flat ? (i || spaced ? txt(st, " ") : NULL) : (spaced || i ? st->line : st->soft));
        if (flat) add(st, inner, brk);
        else add(st, inner, fmt_between(st, brk, -1, starts[i], false));
        add(st, inner, items[i]);
    }
    doc *d = cat(st);
    add(st, d, txt(st, open));
    if (!flat && close_at >= 0) {
        doc *trail;
        doc *lead = fmt_comments(st, close_at, &trail, false, -1);
        add(st, inner, trail);
        if (lead->nkids) {
            add(st, inner, st->hard);
            lead->nkids--;
            add(st, inner, lead);
        }
    }
    add(st, d, flat ? inner : nest(st, inner));
    add(st, d, flat ? (spaced ? txt(st, " ") : NULL) : (spaced ? st->line : st->soft));
    add(st, d, txt(st, close));
    return flat ? d : group(st, d);
}

static doc *fmt_string(fmt_state *st, const ast_expr *e)
{
    if (e->kind == EX_STRING) return fmt_quoted(st, e->sval);
    /* EX_INTERP: the pieces, each expression flat inside {{ }} */
    doc *d = cat(st);
    strbuf b = { 0 };
    strbuf_putc(&b, '"');
    for (int i = 0; i < e->nitems; i++) {
        const ast_expr *p = e->items[i];
        if (p->kind == EX_STRING) {
            bool before = i + 1 < e->nitems && e->items[i + 1]->kind != EX_STRING;
            fmt_escape(&b, p->sval, before);
            continue;
        }
        add(st, d, txtn(st, arena_strndup(st->a, b.data ? b.data : "", b.len), b.len));
        b.len = 0;
        doc *x = fmt_expr(st, p, true);
        measure(x);
        /* `{{ {a: 1} }}`: spaces keep braces of the value apart from the {{ }} */
        bool brace = p->kind == EX_OBJECT;
        add(st, d, txt(st, brace ? "{{ " : "{{"));
        add(st, d, x);
        add(st, d, txt(st, brace ? " }}" : "}}"));
    }
    strbuf_putc(&b, '"');
    add(st, d, txtn(st, arena_strndup(st->a, b.data, b.len), b.len));
    strbuf_free(&b);
    return d;
}

static doc *fmt_object(fmt_state *st, const ast_expr *e, bool flat)
{
    doc **items = arena_alloc(st->a, sizeof *items * (size_t)(e->nitems + 1));
    int *starts = arena_alloc(st->a, sizeof *starts * (size_t)(e->nitems + 1));
    for (int i = 0; i < e->nitems; i++) {
        doc *m = cat(st);
        starts[i] = e->key_locs[i].start;
        add(st, m, fmt_bare_name(e->keys[i]) ? txtf(st, "%s: ", e->keys[i]) : cat(st));
        if (!fmt_bare_name(e->keys[i])) {
            add(st, m, fmt_quoted(st, e->keys[i]));
            add(st, m, txt(st, ": "));
        }
        add(st, m, fmt_expr(st, e->items[i], flat));
        items[i] = m;
    }
    return fmt_bracketed(st, "{", "}", items, starts, e->nitems, true, flat, e->loc.end - 1);
}

static doc *fmt_list_of(fmt_state *st, const char *open, const char *close, ast_expr **xs, int n, bool flat,
                        int close_at)
{
    doc **items = arena_alloc(st->a, sizeof *items * (size_t)(n + 1));
    int *starts = arena_alloc(st->a, sizeof *starts * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        starts[i] = xs[i]->loc.start;
        items[i] = fmt_expr(st, xs[i], flat);
    }
    return fmt_bracketed(st, open, close, items, starts, n, false, flat, close_at);
}

static doc *fmt_expr(fmt_state *st, const ast_expr *e, bool flat)
{
    if (!e) return txt(st, "null");
    switch (e->kind) {
    case EX_NULL: return txt(st, "null");
    case EX_BOOL: return txt(st, e->bval ? "true" : "false");
    case EX_INT: return txtf(st, "%" PRId64, e->ival);
    case EX_FLOAT: return txt(st, fmt_float(st, e->fval));
    case EX_DURATION: return txt(st, fmt_duration(st, e->ival));
    case EX_STRING:
    case EX_INTERP: return fmt_string(st, e);
    case EX_NAME: return txt(st, e->name);
    case EX_FIELD:
    case EX_INDEX: {
        doc *d = cat(st);
        const ast_expr *b = e->a;
        bool paren = b->kind == EX_BINARY || b->kind == EX_UNARY || b->kind == EX_COND ||
                     ((b->kind == EX_INT && b->ival < 0) ||
                                                                     (b->kind == EX_FLOAT && b->fval < 0));
        add(st, d, fmt_paren(st, b, flat, paren));
        if (e->kind == EX_FIELD) {
            add(st, d, txtf(st, ".%s", e->name));
        } else {
            add(st, d, txt(st, "["));
            add(st, d, fmt_expr(st, e->b, flat));
            add(st, d, txt(st, "]"));
        }
        return d;
    }
    case EX_CALL: {
        doc *d = cat(st);
        add(st, d, txt(st, e->name));
        add(st, d, fmt_list_of(st, "(", ")", e->items, e->nitems, flat, e->loc.end - 1));
        return d;
    }
    case EX_LIST: return fmt_list_of(st, "[", "]", e->items, e->nitems, flat, e->loc.end - 1);
    case EX_OBJECT: return fmt_object(st, e, flat);
    case EX_UNARY: {
        doc *d = cat(st);
        add(st, d, txt(st, e->op == OP_NOT ? "not " : "-"));
        add(st, d, fmt_paren(st, e->a, flat, fmt_prec(e->a) < fmt_prec(e)));
        return d;
    }
    case EX_BINARY: {
        int p = fmt_prec(e), pa = fmt_prec(e->a), pb = fmt_prec(e->b);
        bool right_assoc = e->op == OP_COALESCE, nonassoc = p == 4;
        bool pl = pa < p || (pa == p && (right_assoc || nonassoc));
        bool pr = pb < p || (pb == p && (!right_assoc || nonassoc));
        doc *d = cat(st);
        add(st, d, fmt_paren(st, e->a, flat, pl));
        bool breaks = !flat && (e->op == OP_AND || e->op == OP_OR);
        add(st, d, breaks ? nest(st, cat(st)) : NULL);
        doc *rest = breaks ? d->kids[d->nkids - 1]->kid : d;
        add(st, rest, breaks ? st->line : txt(st, " "));
        add(st, rest, txtf(st, "%s ", ast_op_str(e->op)));
        add(st, rest, fmt_paren(st, e->b, flat, pr));
        return breaks ? group(st, d) : d;
    }
    case EX_COND: {
        /* the else arm extends to the end: only the others need brackets */
        doc *d = cat(st);
        add(st, d, txt(st, "if "));
        add(st, d, fmt_paren(st, e->items[0], flat, e->items[0]->kind == EX_COND));
        add(st, d, txt(st, " then "));
        add(st, d, fmt_paren(st, e->items[1], flat, e->items[1]->kind == EX_COND));
        add(st, d, txt(st, " else "));
        add(st, d, fmt_expr(st, e->items[2], flat));
        return d;
    }
    }
    return txt(st, "null");
}

/* ---- steps and clauses ---------------------------------------------------------------- */

static doc *fmt_block(fmt_state *st, const ast_block *b);

static doc *fmt_status_list(fmt_state *st, const ptrvec *list)
{
    strbuf b = { 0 };
    for (int i = 0; list && i < list->len; i++) {
        const ast_status_match *m = list->items[i];
        bool in_range = m->is_class ? m->code >= 1 && m->code <= 5 : m->code >= 100 && m->code <= 599;
        if (!in_range && m->loc.end > m->loc.start && m->loc.end <= st->len)   /* as written: check reports it */
            strbuf_printf(&b, "%s%.*s", i ? ", " : "", m->loc.end - m->loc.start, st->text + m->loc.start);
        else if (m->is_class) strbuf_printf(&b, "%s%dxx", i ? ", " : "", m->code);
        else strbuf_printf(&b, "%s%d", i ? ", " : "", m->code);
    }
    doc *d = txtn(st, arena_strndup(st->a, b.data ? b.data : "", b.len), b.len);
    strbuf_free(&b);
    return d;
}

static doc *fmt_clause(fmt_state *st, const ast_clause *c)
{
    static const char *const words[] = {
        [CL_HEADERS] = "headers ", [CL_QUERY] = "query ", [CL_JSON] = "json ", [CL_FORM] = "form ",
        [CL_BODY] = "body ", [CL_FAIL_WHEN] = "fail when ",
    };
    doc *d = cat(st);
    switch (c->kind) {
    case CL_HEADERS: case CL_QUERY: case CL_JSON: case CL_FORM: case CL_BODY: case CL_FAIL_WHEN:
        add(st, d, txt(st, words[c->kind]));
        add(st, d, fmt_expr(st, c->expr, false));
        break;
    case CL_RETURNS:
        add(st, d, txt(st, "returns "));
        add(st, d, fmt_type(st, c->type));
        break;
    case CL_ACCEPT:
        add(st, d, txt(st, "accept "));
        add(st, d, fmt_status_list(st, c->list));
        break;
    case CL_PAGINATE: {
        strbuf b = { 0 };
        strbuf_puts(&b, "paginate ");
        for (int i = 0; c->list && i < c->list->len; i++) strbuf_printf(&b, "%s%s", i ? "." : "", (const char *)c->list->items[i]);
        static const char *const kinds[] = { "", " cursor ", " page ", " link" };
        strbuf_puts(&b, kinds[c->page]);
        add(st, d, txtn(st, arena_strndup(st->a, b.data, b.len), b.len));
        strbuf_free(&b);
        if (c->page == PAGE_CURSOR) {
            add(st, d, fmt_expr(st, c->expr, false));
            add(st, d, txt(st, " -> "));
        }
        if (c->page != PAGE_LINK && c->target) {
            ast_page_target t = c->target->target;
            add(st, d, t == TARGET_URL ? txt(st, "url")
                                       : txtf(st, "%s.%s", t == TARGET_QUERY ? "query" : "json", c->target->name));
        }
        if (c->n > 0) add(st, d, txtf(st, " max %" PRId64, c->n));
        break;
    }
    case CL_TIMEOUT: add(st, d, txtf(st, "timeout %s", fmt_duration(st, c->n))); break;
    case CL_RETRY:
        add(st, d, txtf(st, "retry %" PRId64, c->n));
        if (c->backoff_ms) add(st, d, txtf(st, " backoff %s", fmt_duration(st, c->backoff_ms)));
        if (c->max_ms) add(st, d, txtf(st, " max %s", fmt_duration(st, c->max_ms)));
        break;
    case CL_CONTINUE: add(st, d, txt(st, "on failure continue")); break;
    case CL_MAX: add(st, d, txtf(st, "max %" PRId64, c->n)); break;
    }
    return d;
}

/* A step's clauses, one per line below it. */
static doc *fmt_clauses(fmt_state *st, const ast_step *s)
{
    doc *d = cat(st);
    for (int i = 0; i < s->nclauses; i++) {
        add(st, d, fmt_between(st, st->hard, -1, s->clauses[i]->loc.start, false));
        add(st, d, fmt_clause(st, s->clauses[i]));
    }
    return nest(st, d);
}

/* name: expr pairs in parentheses (action arguments, function parameters). */
static doc *fmt_args(fmt_state *st, ast_arg **args, int n)
{
    doc **items = arena_alloc(st->a, sizeof *items * (size_t)(n + 1));
    int *starts = arena_alloc(st->a, sizeof *starts * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        doc *a = cat(st);
        starts[i] = args[i]->loc.start;
        add(st, a, txtf(st, "%s: ", args[i]->name));
        add(st, a, fmt_expr(st, args[i]->value, false));
        items[i] = a;
    }
    return fmt_bracketed(st, "(", ")", items, starts, n, false, false, -1);
}

static doc *fmt_request(fmt_state *st, const ast_request *r)
{
    doc *d = cat(st);
    add(st, d, txtf(st, "request %s ", r->method));
    add(st, d, fmt_expr(st, r->url, false));
    return d;
}

static doc *fmt_step(fmt_state *st, const ast_step *s)
{
    doc *d = cat(st);
    add(st, d, txtf(st, "step %s = ", s->name));
    switch (s->kind) {
    case STEP_REQUEST: add(st, d, fmt_request(st, s->req)); break;
    case STEP_ACTION:
        add(st, d, txtf(st, "%s.%s", s->integ, s->op));
        add(st, d, fmt_args(st, s->args, s->nargs));
        break;
    case STEP_FUNCTION:
        add(st, d, txt(st, "function "));
        add(st, d, fmt_args(st, s->params, s->nparams));
        add(st, d, txt(st, " -> "));
        /* a short output type stays on one line: the parameters break first */
        doc *out = fmt_type(st, s->out_type);
        add(st, d, measure(out) <= 60 ? flatten(st, out) : out);
        /* the C body byte for byte, between its {% %} */
        add(st, d, txt(st, " {%"));
        add(st, d, txt(st, s->c_code ? s->c_code : ""));
        add(st, d, txt(st, "%}"));
        break;
    case STEP_FANOUT:
        add(st, d, txtf(st, "fanout %s in ", s->var));
        add(st, d, fmt_expr(st, s->list, false));
        if (s->concurrency) add(st, d, txtf(st, " concurrency %" PRId64, s->concurrency));
        add(st, d, txt(st, " "));
        add(st, d, fmt_block(st, s->body));
        break;
    case STEP_LET:      /* a statement of its own (fmt_stmt) */
        break;
    }
    add(st, d, fmt_clauses(st, s));
    return d;
}

static doc *fmt_stmt(fmt_state *st, const ast_stmt *s)
{
    doc *d = cat(st);
    switch (s->kind) {
    case ST_STEP: return fmt_step(st, s->step);
    case ST_IF:
        for (int i = 0; i < s->nbranches; i++) {
            add(st, d, txt(st, i ? " else if " : "if "));
            add(st, d, fmt_expr(st, s->conds[i], false));
            add(st, d, txt(st, " "));
            add(st, d, fmt_block(st, s->thens[i]));
        }
        if (s->els) {
            add(st, d, txt(st, " else "));
            add(st, d, fmt_block(st, s->els));
        }
        return d;
    case ST_RETURN:
    case ST_FAIL:
    case ST_LOG: {
        const char *kw = s->kind == ST_RETURN ? "return" : s->kind == ST_FAIL ? "fail" : "log";
        add(st, d, txt(st, kw));
        if (s->status) {
            add(st, d, txt(st, " status "));
            /* the status ends where the body starts: a postfix expression */
            bool simple = s->status->kind == EX_INT || s->status->kind == EX_NAME || s->status->kind == EX_FIELD;
            add(st, d, fmt_paren(st, s->status, false, !simple));
        }
        if (s->headers) add_led(st, d, " headers ", s->headers);
        if (s->expr) add_led(st, d, " ", s->expr);
        return d;
    }
    case ST_LET:
        add(st, d, txtf(st, "let %s = ", s->step && s->step->name ? s->step->name : "_"));
        add(st, d, fmt_expr(st, s->expr, false));
        return d;
    case ST_WAIT:
        if (s->wait_until) {
            add_led(st, d, "wait until ", s->expr);
        } else {
            add(st, d, txtf(st, "wait %s", fmt_duration(st, s->expr ? s->expr->ival : 0)));
        }
        return d;
    }
    return d;
}

/* Statements one per line, blank lines kept, inside { } (braced) or at
** the top level. */
static doc *fmt_stmts(fmt_state *st, ast_stmt **stmts, int n, int open_end, int close)
{
    doc *body = cat(st);
    int prev = open_end;
    for (int i = 0; i < n; i++) {
        add(st, body, fmt_between(st, st->hard, prev, stmts[i]->span.start, i > 0));
        add(st, body, fmt_stmt(st, stmts[i]));
        prev = stmts[i]->span.end;
    }
    doc *trail;
    doc *lead = fmt_comments(st, close, &trail, true, prev);
    add(st, body, trail);
    if (lead->nkids) {
        add(st, body, st->hard);
        lead->nkids--;
        add(st, body, lead);
    }
    return body;
}

static doc *fmt_block(fmt_state *st, const ast_block *b)
{
    if (!b) return txt(st, "{}");
    bool comments = st->ci < st->f->ncomments && st->f->comments[st->ci].start < b->loc.end;
    if (!b->nstmts && !comments) return txt(st, "{}");
    doc *d = cat(st);
    add(st, d, txt(st, "{"));
    add(st, d, nest(st, fmt_stmts(st, b->stmts, b->nstmts, b->loc.start + 1, b->loc.end - 1)));
    add(st, d, st->hard);
    add(st, d, txt(st, "}"));
    return d;
}

/* ---- declarations ---------------------------------------------------------------------- */

/* Items one per line inside braces: settings, a trigger's schema. */
static doc *fmt_fields_block(fmt_state *st, ast_field **fields, int n, int close)
{
    return fmt_fields_braced(st, fields, n, true, close);
}

/* connection { name: T flags, ... }: one field a line, commas between. */
static doc *fmt_connection(fmt_state *st, const ast_integration *in)
{
    doc *body = cat(st);
    for (int i = 0; i < in->nconn; i++) {
        const ast_conn_field *f = in->conn[i];
        add(st, body, fmt_between(st, st->hard, i ? in->conn[i - 1]->span.end : -1, f->span.start, false));
        add(st, body, txtf(st, "%s: ", f->name));
        add(st, body, fmt_type(st, f->type));
        if (f->base_url) add(st, body, txt(st, " base_url"));
        if (f->from_token) add(st, body, txt(st, " from_token"));
        if (i + 1 < in->nconn) add(st, body, txt(st, ","));
    }
    doc *trail;
    doc *lead = fmt_comments(st, in->conn_loc.end - 1, &trail, false, in->nconn ? in->conn[in->nconn - 1]->span.end : -1);
    add(st, body, trail);
    if (lead->nkids) {
        add(st, body, st->hard);
        lead->nkids--;
        add(st, body, lead);
    }
    doc *d = cat(st);
    add(st, d, txt(st, "connection {"));
    if (!in->nconn && !body->nkids) {
        add(st, d, txt(st, "}"));
        return d;
    }
    add(st, d, nest(st, body));
    add(st, d, st->hard);
    add(st, d, txt(st, "}"));
    return d;
}

static doc *fmt_integration(fmt_state *st, const ast_integration *in, const ast_top *t)
{
    doc *d = cat(st);
    add(st, d, txtf(st, "integration %s ", in->name));
    add(st, d, fmt_expr(st, in->base_url, false));
    bool conn = in->conn_loc.end > in->conn_loc.start;
    if (in->auth == AUTH_NONE && !conn) return d;
    doc *auth = cat(st);
    switch (in->auth) {
    case AUTH_BEARER:
        add(st, auth, txt(st, "auth bearer "));
        add(st, auth, fmt_expr(st, in->auth_secret, false));
        break;
    case AUTH_BASIC:
        add(st, auth, txt(st, "auth basic "));
        add(st, auth, fmt_expr(st, in->auth_secret, false));
        add(st, auth, txt(st, " "));
        add(st, auth, fmt_expr(st, in->auth_secret2, false));
        break;
    case AUTH_HEADER:
        add(st, auth, txt(st, "auth header "));
        add(st, auth, fmt_quoted(st, in->auth_header));
        add(st, auth, txt(st, " "));
        add(st, auth, fmt_expr(st, in->auth_secret, false));
        break;
    case AUTH_OAUTH2: {
        add(st, auth, txt(st, "auth oauth2 {"));
        doc *fields = cat(st);
        const struct { const char *name; const ast_expr *e; } fs[] = {
            { "token_url", in->oauth_token_url }, { "refresh", in->auth_secret2 },
            { "client_id", in->oauth_client_id }, { "client_secret", in->oauth_client_secret },
        };
        for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) {
            if (!fs[i].e) continue;
            add(st, fields, fmt_between(st, st->hard, -1, fs[i].e->loc.start, false));
            add(st, fields, txtf(st, "%s ", fs[i].name));
            add(st, fields, fmt_expr(st, fs[i].e, false));
        }
        add(st, auth, nest(st, fields));
        add(st, auth, st->hard);
        add(st, auth, txt(st, "}"));
        break;
    }
    case AUTH_NONE: break;
    }
    doc *braced = cat(st);
    add(st, braced, txt(st, " {"));
    doc *inner = cat(st);
    if (in->auth != AUTH_NONE) {
        add(st, inner, fmt_between(st, st->line, -1, in->auth_loc.start, false));
        add(st, inner, auth);
    }
    if (conn) {
        add(st, inner, fmt_between(st, in->auth != AUTH_NONE ? st->hard : st->line, -1, in->conn_loc.start, false));
        add(st, inner, fmt_connection(st, in));
    }
    doc *trail;
    doc *lead = fmt_comments(st, t->span.end - 1, &trail, false, -1);
    add(st, inner, trail);
    if (lead->nkids) {
        add(st, inner, st->hard);
        lead->nkids--;
        add(st, inner, lead);
    }
    add(st, braced, nest(st, inner));
    add(st, braced, st->line);
    add(st, braced, txt(st, "}"));
    add(st, d, group(st, braced));
    return d;
}

static doc *fmt_action(fmt_state *st, const ast_action *a)
{
    doc *d = cat(st);
    add(st, d, txtf(st, "action %s.%s", a->integ, a->op));
    doc **items = arena_alloc(st->a, sizeof *items * (size_t)(a->nparams + 1));
    int *starts = arena_alloc(st->a, sizeof *starts * (size_t)(a->nparams + 1));
    for (int i = 0; i < a->nparams; i++) {
        items[i] = fmt_field(st, a->params[i]);
        starts[i] = a->params[i]->loc.start;
    }
    add(st, d, fmt_bracketed(st, "(", ")", items, starts, a->nparams, false, false, -1));
    add(st, d, txt(st, " -> "));
    doc *out = fmt_type(st, a->out);
    add(st, d, measure(out) <= 60 ? flatten(st, out) : out);
    add(st, d, txt(st, " ="));
    if (a->body && a->body->req) {
        doc *body = cat(st);
        add(st, body, fmt_between(st, st->hard, -1, a->body->loc.start, false));
        add(st, body, fmt_request(st, a->body->req));
        add(st, body, fmt_clauses(st, a->body));
        add(st, d, nest(st, body));
    }
    return d;
}

static doc *fmt_trigger(fmt_state *st, const ast_trigger *t)
{
    doc *d = cat(st);
    switch (t->kind) {
    case TRIG_EVENT:
        add(st, d, txt(st, "trigger event "));
        add(st, d, fmt_quoted(st, t->event));
        break;
    case TRIG_REQUEST: add(st, d, txt(st, "trigger request")); break;
    case TRIG_SCHEDULE:
        add(st, d, txt(st, "trigger schedule "));
        add(st, d, fmt_quoted(st, t->cron));
        if (t->zone) {
            add(st, d, txt(st, " "));
            add(st, d, fmt_quoted(st, t->zone));
        }
        break;
    case TRIG_ENABLED: add(st, d, txt(st, "trigger enabled")); break;
    case TRIG_NONE: break;
    }
    if (t->schema) {
        add(st, d, txt(st, " "));
        add(st, d, fmt_fields_block(st, t->schema->fields, t->schema->nfields, t->schema->loc.end - 1));
    }
    return d;
}

/* One response of a mock: STATUS [BODY] [headers {...}]. */
static doc *fmt_mock_resp(fmt_state *st, const ast_mock_response *r)
{
    doc *d = cat(st);
    add(st, d, txtf(st, "%d", r->status));
    if (r->body) add_led(st, d, " ", r->body);
    if (r->headers) add_led(st, d, " headers ", r->headers);
    return d;
}

static doc *fmt_mock(fmt_state *st, const ast_mock *m)
{
    doc *d = cat(st);
    add(st, d, txtf(st, "mock %s ", m->method));
    if (m->integ) add(st, d, txtf(st, "%s ", m->integ));
    add(st, d, fmt_expr(st, m->url, false));
    add(st, d, txt(st, " -> "));
    if (m->nresponses) add(st, d, fmt_mock_resp(st, m->responses[0]));
    doc *more = cat(st);
    for (int i = 1; i < m->nresponses; i++) {
        add(st, more, st->line);
        add(st, more, txt(st, "then "));
        add(st, more, fmt_mock_resp(st, m->responses[i]));
    }
    if (m->times) {
        add(st, more, st->line);
        add(st, more, txtf(st, "times %d", m->times));
    }
    if (m->delay_ms) {
        add(st, more, st->line);
        add(st, more, txtf(st, "delay %s", fmt_duration(st, m->delay_ms)));
    }
    add(st, d, nest(st, more));
    return group(st, d);
}

/* A test item in source order. */
typedef struct test_item {
    int start;
    doc *d;
} test_item;

static int test_item_cmp(const void *a, const void *b)
{
    const test_item *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static doc *fmt_test(fmt_state *st, const ast_test *t, const ast_top *top)
{
    int n = 3 + t->nsecrets + t->nenv + t->nmocks + t->nexpects;
    test_item *items = arena_alloc(st->a, sizeof *items * (size_t)n);
    int k = 0;
    /* the documents are built in source order below: comments go in order */
    if (t->event) items[k++] = (test_item){ t->event->loc.start, NULL };
    if (t->settings) items[k++] = (test_item){ t->settings->loc.start, NULL };
    if (t->user) items[k++] = (test_item){ t->user_loc.start, NULL };
    for (int i = 0; i < t->nsecrets; i++) items[k++] = (test_item){ t->secrets[i]->loc.start, NULL };
    for (int i = 0; i < t->nenv; i++) items[k++] = (test_item){ t->env[i]->loc.start, NULL };
    for (int i = 0; i < t->nmocks; i++) items[k++] = (test_item){ t->mocks[i]->loc.start, NULL };
    for (int i = 0; i < t->nexpects; i++) items[k++] = (test_item){ t->expects[i]->loc.start, NULL };
    qsort(items, (size_t)k, sizeof *items, test_item_cmp);
    doc *body = cat(st);
    for (int i = 0; i < k; i++) {
        int at = items[i].start;
        add(st, body, fmt_between(st, st->hard, -1, at, false));
        doc *d = cat(st);
        if (t->event && at == t->event->loc.start) {
            add_led(st, d, "event ", t->event);
        } else if (t->settings && at == t->settings->loc.start) {
            add_led(st, d, "settings ", t->settings);
        } else if (t->user && at == t->user_loc.start) {
            add(st, d, txt(st, "user "));
            add(st, d, fmt_quoted(st, t->user));
        } else {
            for (int j = 0; j < t->nsecrets; j++)
                if (at == t->secrets[j]->loc.start) {
                    add(st, d, txtf(st, "secret %s = ", t->secrets[j]->name));
                    add(st, d, fmt_expr(st, t->secrets[j]->value, false));
                }
            for (int j = 0; j < t->nenv; j++)
                if (at == t->env[j]->loc.start) {
                    add(st, d, txtf(st, "env %s = ", t->env[j]->name));
                    add(st, d, fmt_expr(st, t->env[j]->value, false));
                }
            for (int j = 0; j < t->nmocks; j++)
                if (at == t->mocks[j]->loc.start) add(st, d, fmt_mock(st, t->mocks[j]));
            for (int j = 0; j < t->nexpects; j++)
                if (at == t->expects[j]->loc.start) {
                    add(st, d, txt(st, "expect "));
                    add(st, d, fmt_expr(st, t->expects[j], false));
                }
        }
        add(st, body, d);
    }
    doc *trail;
    doc *lead = fmt_comments(st, top->span.end - 1, &trail, false, -1);
    add(st, body, trail);
    if (lead->nkids) {
        add(st, body, st->hard);
        lead->nkids--;
        add(st, body, lead);
    }
    doc *d = cat(st);
    add(st, d, txt(st, "test "));
    add(st, d, fmt_quoted(st, t->name));
    if (!body->nkids) {
        add(st, d, txt(st, " {}"));
        return d;
    }
    add(st, d, txt(st, " {"));
    add(st, d, nest(st, body));
    add(st, d, st->hard);
    add(st, d, txt(st, "}"));
    return d;
}

static doc *fmt_top(fmt_state *st, const ast_top *t)
{
    const ast_file *f = st->f;
    doc *d = cat(st);
    switch (t->kind) {
    case TOP_WORKFLOW:
        add(st, d, txtf(st, "workflow %s", f->workflow));
        if (f->description) {
            add(st, d, txt(st, " "));
            add(st, d, fmt_quoted(st, f->description));
        }
        return d;
    case TOP_TESTS_FOR:
        add(st, d, txt(st, "tests for "));
        add(st, d, fmt_quoted(st, f->tests_for));
        return d;
    case TOP_IMPORT:
        add(st, d, txt(st, "import "));
        add(st, d, fmt_quoted(st, ((const ast_import *)t->node)->path));
        return d;
    case TOP_SETTINGS:
        add(st, d, txt(st, "settings "));
        add(st, d, fmt_fields_block(st, f->settings + t->first, t->count, t->span.end - 1));
        return d;
    case TOP_SECRETS: {
        add(st, d, txt(st, "secrets "));
        doc **items = arena_alloc(st->a, sizeof *items * (size_t)(t->count + 1));
        int *starts = arena_alloc(st->a, sizeof *starts * (size_t)(t->count + 1));
        for (int i = 0; i < t->count; i++) {
            items[i] = txt(st, f->secrets[t->first + i]->name);
            starts[i] = f->secrets[t->first + i]->loc.start;
        }
        add(st, d, fmt_bracketed(st, "{", "}", items, starts, t->count, true, false, t->span.end - 1));
        return d;
    }
    case TOP_TRIGGER: return fmt_trigger(st, t->node);
    case TOP_INTEGRATION: return fmt_integration(st, t->node, t);
    case TOP_ACTION: return fmt_action(st, t->node);
    case TOP_STMT: return fmt_stmt(st, t->node);
    case TOP_TEST: return fmt_test(st, t->node, t);
    }
    return d;
}

static char *fmt_file(const ast_file *f, const char *text, int len)
{
    arena a;
    arena_init(&a);
    fmt_state stv = { .a = &a, .f = f, .text = text, .len = len }, *st = &stv;
    st->line = dnew(st, D_LINE);
    st->soft = dnew(st, D_SOFT);
    st->hard = dnew(st, D_HARD);
    doc *d = cat(st);
    int prev = -1;
    for (int i = 0; i < f->ntops; i++) {
        const ast_top *t = &f->tops[i];
        if (i == 0) {
            doc *trail;
            add(st, d, fmt_comments(st, t->span.start, &trail, true, -1));
            if (st->ci && fmt_blank(st, f->comments[st->ci - 1].end, t->span.start)) add(st, d, st->hard);
        } else {
            add(st, d, fmt_between(st, st->hard, prev, t->span.start, true));
        }
        add(st, d, fmt_top(st, t));
        prev = t->span.end;
    }
    doc *trail;
    doc *lead = fmt_comments(st, INT_MAX, &trail, true, prev);
    add(st, d, trail);
    if (lead->nkids) {
        if (f->ntops) add(st, d, st->hard);
        add(st, d, lead);
    }
    char *out = print_doc(d);
    arena_free(&a);
    return out;
}

/* ---- entry points ----------------------------------------------------------------------- */

/* Collects the first error of a parse (for fmt_source). */
typedef struct fmt_err {
    diag_ctx *d;
    char *first;
} fmt_err;

static void fmt_sink(void *ud, diag_severity sev, const src_loc *loc, const char *path, const char *msg)
{
    fmt_err *e = ud;
    (void)path;
    if (sev != DIAG_ERROR || e->first) return;
    char pos[32] = "";
    if (loc) diag_format_pos(e->d, *loc, pos, sizeof pos);
    strbuf b = { 0 };
    strbuf_printf(&b, "%s%s%s", pos, *pos ? ": " : "", msg);
    e->first = strbuf_take(&b);
}

/* Parse file `id` of d and format it; NULL when it has syntax errors
** (reported to d). */
static char *fmt_parsed(diag_ctx *d, int id)
{
    ast_program prog;
    ast_program_init(&prog, d);
    int before = d->errors;
    ast_file *f = ast_parse_file(&prog, id);
    char *out = d->errors == before ? fmt_file(f, d->files[id]->text, d->files[id]->len) : NULL;
    ast_program_free(&prog);
    return out;
}

char *fmt_source(const char *path, const char *text, int len, char **err)
{
    diag_ctx d;
    diag_init(&d);
    fmt_err e = { &d, NULL };
    d.sink = fmt_sink;
    d.sink_ud = &e;
    char *copy = xmalloc((size_t)len + 1);
    memcpy(copy, text, (size_t)len);
    copy[len] = 0;
    int id = diag_add_file(&d, path, copy, len);
    char *out = fmt_parsed(&d, id);
    if (!out && err) *err = e.first ? e.first : xstrdup("syntax error");
    else free(e.first);
    diag_free(&d);
    return out;
}

static void fmt_usage(FILE *out)
{
    fputs("usage: flowc fmt [--check | --stdout] FILE...\n"
          "\n"
          "Rewrites each .flow FILE in the canonical layout (when it changes): two-space\n"
          "indentation, one statement and one clause per line, groups on one line when\n"
          "they fit in 100 columns. Comments and blank lines between statements are kept;\n"
          "C bodies are kept byte for byte. A file with syntax errors is left alone\n"
          "(the errors are printed). FILE '-' reads stdin and writes stdout.\n"
          "\n"
          "  --check    write nothing: list the files that are not formatted (exit 1 if any)\n"
          "  --stdout   print the formatted text on stdout instead of rewriting the file\n"
          "\n"
          "Exit status: 0 ok, 1 syntax errors (or, with --check, files to format), 2 usage\n"
          "or I/O errors.\n",
          out);
}

/* Format one file; returns 0 (formatted or already so), 1 (syntax errors,
** or not formatted under --check), 2 (I/O). */
static int fmt_one(const char *path, bool check, bool to_stdout)
{
    bool is_stdin = strcmp(path, "-") == 0;
    size_t n = 0;
    char *text;
    if (is_stdin) {
        strbuf b = { 0 };
        char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, stdin)) > 0) strbuf_append(&b, buf, k);
        n = b.len;
        text = strbuf_take(&b);
    } else {
        char why[160];
        text = util_read_file(path, IMP_MAX_SOURCE, &n, why, sizeof why);
        if (!text) {
            fprintf(stderr, "flowc fmt: cannot read %s: %s\n", path, why);
            return 2;
        }
    }
    if (n > INT_MAX / 2) {
        fprintf(stderr, "flowc fmt: %s: file too large\n", path);
        free(text);
        return 2;
    }
    diag_ctx d;
    diag_init(&d);
    int id = diag_add_file(&d, is_stdin ? "<stdin>" : path, text, (int)n);
    char *out = fmt_parsed(&d, id);
    int rc = 0;
    if (!out) {
        rc = 1;
    } else if (is_stdin || to_stdout) {
        fputs(out, stdout);
    } else {
        bool same = strlen(out) == n && memcmp(out, d.files[id]->text, n) == 0;
        if (check) {
            if (!same) {
                printf("%s\n", path);
                rc = 1;
            }
        } else if (!same) {
            /* through a temporary file, so that a failed write leaves the file whole */
            strbuf tmp = { 0 };
            strbuf_printf(&tmp, "%s.fmt-tmp", path);
            FILE *f = fopen(tmp.data, "w");
            bool ok = f && fputs(out, f) >= 0;
            if (f && fclose(f) != 0) ok = false;
            if (ok && rename(tmp.data, path) != 0) ok = false;
            if (!ok) {
                fprintf(stderr, "flowc fmt: cannot write %s: %s\n", path, strerror(errno));
                remove(tmp.data);
                rc = 2;
            }
            strbuf_free(&tmp);
        }
    }
    free(out);
    diag_free(&d);
    return rc;
}

int fmt_main(int argc, char **argv)
{
    bool check = false, to_stdout = false;
    int nfiles = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fmt_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--stdout") == 0) {
            to_stdout = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "flowc fmt: unknown option '%s'\n", argv[i]);
            fmt_usage(stderr);
            return 2;
        } else {
            nfiles++;
        }
    }
    if (!nfiles || (check && to_stdout)) {
        fputs(nfiles ? "flowc fmt: --check and --stdout do not go together\n" : "flowc fmt: no input files\n",
              stderr);
        fmt_usage(stderr);
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) continue;
        int r = fmt_one(argv[i], check, to_stdout);
        if (r > rc) rc = r;
    }
    return rc;
}
