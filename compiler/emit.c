/*
** emit.c — translates a checked program into C glue over the runtime.
**
** Layout of the output: includes; prototypes of every generated function;
** static descriptors (integrations, steps, settings, the workflow); then
** the function definitions: function-step bodies (with #line), callbacks
** for `fail when` and pagination cursors, action request builders, fanout
** item bodies and the workflow body; last, main(). Every value is a
** borrowed json_t * owned by the run context (see flowrt.h), so the glue
** never manages references.
*/
#include "emit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The type descriptors of a program: one static rt_type per distinct
** type (T_<n>), found again by its canonical JSON text. */
typedef struct emit_types {
    strbuf defs;        /* the definitions, each after those it refers to */
    char **keys;        /* open addressing: canonical text (owned), or NULL */
    int *ids;           /* T_<id> of keys[i] */
    size_t cap, count;
} emit_types;

typedef struct emit_state {
    ast_program *prog;
    arena *a;
    strbuf protos;      /* prototypes of generated functions */
    emit_types *types;  /* type descriptors (emit_program only) */
    int *nslots;        /* result slots numbered so far in the current scope */
    int depth;          /* fanouts around the current scope */
    strbuf descs;       /* static descriptors */
    strbuf defs;        /* function definitions */
    int ncallbacks;     /* unique numbering of callbacks */
    const char *args;   /* C name of the action arguments object, or NULL */
    const char *resp;   /* C name of the response in callbacks, or NULL */
    strbuf *hoisted;    /* definitions of hoisted sub-expressions (X<n>) */
    const char *hoist_prefix;
    int *nhoisted;      /* numbering of X<n> */
    bool *integ_used;   /* per prog->integrations[i]: a step of the workflow calls it */
} emit_state;

/* ---- small helpers ----------------------------------------------------- */

static void emit_cstr(strbuf *b, const char *s)
{
    strbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_puts(b, "\\\""); break;
        case '\\': strbuf_puts(b, "\\\\"); break;
        case '\n': strbuf_puts(b, "\\n"); break;
        case '\r': strbuf_puts(b, "\\r"); break;
        case '\t': strbuf_puts(b, "\\t"); break;
        case '?': strbuf_puts(b, "\\?"); break;     /* no trigraphs */
        default:
            if (*p < 0x20 || *p == 0x7f) strbuf_printf(b, "\\%03o", *p);
            else strbuf_putc(b, (char)*p);
        }
    }
    strbuf_putc(b, '"');
}

static void emit_cstr_or_null(strbuf *b, const char *s)
{
    if (s) emit_cstr(b, s);
    else strbuf_puts(b, "NULL");
}

static int emit_line(emit_state *es, src_loc loc)
{
    return diag_line_of(es->prog->diag, loc.file, loc.start);
}

/* A type as the runtime's JSON type text (see flowrt.h). */
static void emit_type_json(strbuf *b, const ast_type *t)
{
    if (!t) { strbuf_puts(b, "\"json\""); return; }
    switch (t->kind) {
    case TY_STRING: strbuf_puts(b, "\"string\""); break;
    case TY_INT: strbuf_puts(b, "\"int\""); break;
    case TY_FLOAT: strbuf_puts(b, "\"float\""); break;
    case TY_BOOL: strbuf_puts(b, "\"bool\""); break;
    case TY_NULL: strbuf_puts(b, "\"null\""); break;
    case TY_LIST:
        strbuf_puts(b, "[\"list\",");
        emit_type_json(b, t->elem);
        strbuf_putc(b, ']');
        break;
    case TY_OPTIONAL:
        strbuf_puts(b, "[\"opt\",");
        emit_type_json(b, t->elem);
        strbuf_putc(b, ']');
        break;
    case TY_OBJECT:
        strbuf_putc(b, '{');
        for (int i = 0; i < t->nfields; i++) {
            if (i) strbuf_putc(b, ',');
            strbuf_putc(b, '"');
            /* a JSON string: a control character raw would make the
            ** descriptor invalid, and every run fail on it */
            for (const unsigned char *p = (const unsigned char *)t->fields[i]->name; *p; p++) {
                if (*p == '"' || *p == '\\') strbuf_putc(b, '\\');
                if (*p < 0x20) strbuf_printf(b, "\\u%04x", *p);
                else strbuf_putc(b, (char)*p);
            }
            strbuf_puts(b, "\":");
            emit_type_json(b, t->fields[i]->type);
        }
        strbuf_putc(b, '}');
        break;
    default: strbuf_puts(b, "\"json\""); break;
    }
}

/* ---- type descriptors -------------------------------------------------- */

static size_t types_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t types_slot(char **keys, size_t cap, const char *key)
{
    size_t i = types_hash(key) & (cap - 1);
    while (keys[i] && strcmp(keys[i], key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

static void types_grow(emit_types *ty)
{
    size_t cap = ty->cap ? ty->cap * 2 : 64;
    char **keys = xcalloc(cap, sizeof *keys);
    int *ids = xcalloc(cap, sizeof *ids);
    for (size_t i = 0; i < ty->cap; i++) {
        if (!ty->keys[i]) continue;
        size_t at = types_slot(keys, cap, ty->keys[i]);
        keys[at] = ty->keys[i];
        ids[at] = ty->ids[i];
    }
    free(ty->keys);
    free(ty->ids);
    ty->keys = keys;
    ty->ids = ids;
    ty->cap = cap;
}

static void types_free(emit_types *ty)
{
    for (size_t i = 0; i < ty->cap; i++) free(ty->keys[i]);
    free(ty->keys);
    free(ty->ids);
    strbuf_free(&ty->defs);
}

/* The number n of T_<n>, the descriptor of t, defined on first use after
** the descriptors of its parts. */
static int emit_type_id(emit_types *ty, const ast_type *t)
{
    strbuf key = { 0 };
    emit_type_json(&key, t);
    if ((ty->count + 1) * 2 > ty->cap) types_grow(ty);
    size_t at = types_slot(ty->keys, ty->cap, key.data);
    if (ty->keys[at]) {
        strbuf_free(&key);
        return ty->ids[at];
    }
    int elem = -1, *fields = NULL;
    ast_type_kind kind = t ? t->kind : TY_JSON;
    if (kind == TY_LIST || kind == TY_OPTIONAL) elem = emit_type_id(ty, t->elem);
    if (kind == TY_OBJECT && t->nfields) {
        fields = xcalloc((size_t)t->nfields, sizeof *fields);
        for (int i = 0; i < t->nfields; i++) fields[i] = emit_type_id(ty, t->fields[i]->type);
    }
    /* the parts may have grown the table: find the key's place again */
    if ((ty->count + 1) * 2 > ty->cap) types_grow(ty);
    at = types_slot(ty->keys, ty->cap, key.data);
    int id = (int)++ty->count;
    ty->keys[at] = strbuf_take(&key);
    ty->ids[at] = id;

    strbuf *b = &ty->defs;
    const char *k = kind == TY_STRING ? "RT_TYPE_STRING" : kind == TY_INT ? "RT_TYPE_INT"
                  : kind == TY_FLOAT ? "RT_TYPE_FLOAT" : kind == TY_BOOL ? "RT_TYPE_BOOL"
                  : kind == TY_NULL ? "RT_TYPE_NULL" : kind == TY_LIST ? "RT_TYPE_LIST"
                  : kind == TY_OPTIONAL ? "RT_TYPE_OPT" : kind == TY_OBJECT ? "RT_TYPE_OBJECT" : "RT_TYPE_JSON";
    if (fields) {
        strbuf_printf(b, "static const rt_type_field TF_%d[] = {", id);
        for (int i = 0; i < t->nfields; i++) {
            strbuf_puts(b, i ? ", { " : " { ");
            emit_cstr(b, t->fields[i]->name);
            strbuf_printf(b, ", &T_%d }", fields[i]);
        }
        strbuf_puts(b, " };\n");
        strbuf_printf(b, "static const rt_type T_%d = { %s, NULL, TF_%d, %d };\n", id, k, id, t->nfields);
        free(fields);
    } else if (elem >= 0) {
        strbuf_printf(b, "static const rt_type T_%d = { %s, &T_%d, NULL, 0 };\n", id, k, elem);
    } else {
        strbuf_printf(b, "static const rt_type T_%d = { %s, NULL, NULL, 0 };\n", id, k);
    }
    return id;
}

/* A reference to t's descriptor: &T_<n>, or NULL when there is no type. */
static void emit_type_ref(emit_state *es, strbuf *b, const ast_type *t)
{
    if (!t) strbuf_puts(b, "NULL");
    else strbuf_printf(b, "&T_%d", emit_type_id(es->types, t));
}

/* A literal (setting and action defaults, test data) as JSON text: the
** checker allows no references there, so an interpolated string holds
** only its text pieces. */
void emit_literal_json(strbuf *b, const ast_expr *e)
{
    switch (e->kind) {
    case EX_NULL: strbuf_puts(b, "null"); break;
    case EX_BOOL: strbuf_puts(b, e->bval ? "true" : "false"); break;
    case EX_INT: case EX_DURATION: strbuf_printf(b, "%" PRId64, e->ival); break;
    case EX_FLOAT: {    /* keeps a decimal point: 1.0 stays a float in JSON */
        char num[40];
        snprintf(num, sizeof num, "%.17g", e->fval);
        strbuf_puts(b, num);
        if (!strpbrk(num, ".eEni")) strbuf_puts(b, ".0");
        break;
    }
    case EX_STRING:
    case EX_INTERP:
        strbuf_putc(b, '"');
        for (int i = 0; i < (e->kind == EX_STRING ? 1 : e->nitems); i++) {
            const char *text = e->kind == EX_STRING ? e->sval : e->items[i]->kind == EX_STRING ? e->items[i]->sval : "";
            for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
                if (*p == '"' || *p == '\\') { strbuf_putc(b, '\\'); strbuf_putc(b, (char)*p); }
                else if (*p < 0x20) strbuf_printf(b, "\\u%04x", *p);
                else strbuf_putc(b, (char)*p);
            }
        }
        strbuf_putc(b, '"');
        break;
    case EX_LIST:
        strbuf_putc(b, '[');
        for (int i = 0; i < e->nitems; i++) {
            if (i) strbuf_putc(b, ',');
            emit_literal_json(b, e->items[i]);
        }
        strbuf_putc(b, ']');
        break;
    case EX_OBJECT:
        strbuf_putc(b, '{');
        for (int i = 0; i < e->nitems; i++) {
            if (i) strbuf_putc(b, ',');
            ast_expr k = { .kind = EX_STRING, .sval = e->keys[i] };
            emit_literal_json(b, &k);
            strbuf_putc(b, ':');
            emit_literal_json(b, e->items[i]);
        }
        strbuf_putc(b, '}');
        break;
    case EX_UNARY:
        if (e->op == OP_NEG) { strbuf_putc(b, '-'); emit_literal_json(b, e->a); break; }
        /* fall through */
    default: strbuf_puts(b, "null"); break;
    }
}

/* ---- expressions ------------------------------------------------------- */

/* tcc compiles an expression on a fixed stack of 256 operands (its
** "vstack"): a call holds its callee and every argument compiled so far
** while it compiles the next one, so 84 chained `+`, 160 nested `not` or
** an object of 125 fields overflowed it ("memory full (vstack)"). Each
** expression is emitted counting the operands it needs (its depth): a
** sub-expression that would take its parent past EMIT_MAX_DEPTH is hoisted
** into a function of its own, X<n>(c, args, response), called where it
** stood, so it is still evaluated at that point (`and`, `or` and a step
** skipped in Test Step keep their meaning); a list, object or
** interpolation of more than EMIT_MAX_ITEMS items is built item by item in
** such a function. No C expression then needs more than EMIT_MAX_DEPTH
** operands, and a statement adds only a few around one. */
enum { EMIT_MAX_DEPTH = 64, EMIT_MAX_ITEMS = 16, EMIT_HOISTED_DEPTH = 4, EMIT_LEAF_DEPTH = 4 };

static int emit_sub(emit_state *es, strbuf *b, const ast_expr *e);
typedef struct emit_kids emit_kids;
static int emit_cond(emit_state *es, strbuf *b, const ast_expr *e, emit_kids *k, int line);

/* The operands of one call being emitted: each sub-expression's text, its
** depth and how many operands are held below it while it is compiled. */
struct emit_kids {
    int n;
    strbuf *text;
    int *depth;
    int *at;
};

static void kids_init(emit_kids *k, int n)
{
    k->n = n;
    k->text = xcalloc((size_t)n + 1, sizeof *k->text);
    k->depth = xcalloc((size_t)n + 1, sizeof *k->depth);
    k->at = xcalloc((size_t)n + 1, sizeof *k->at);
}

static void kids_free(emit_kids *k)
{
    for (int i = 0; i < k->n; i++) strbuf_free(&k->text[i]);
    free(k->text);
    free(k->depth);
    free(k->at);
}

static void kids_render(emit_state *es, emit_kids *k, int i, const ast_expr *e, int at)
{
    k->depth[i] = emit_sub(es, &k->text[i], e);
    k->at[i] = at;
}

static void kids_put(strbuf *b, const emit_kids *k, int i)
{
    strbuf_append(b, k->text[i].data ? k->text[i].data : "", k->text[i].len);
}

/* X<n>'s parameters where it is called: the names in scope, or NULL. */
static void emit_hoisted_call(emit_state *es, strbuf *b, int n)
{
    strbuf_printf(b, "%s%d(c, %s, %s)", es->hoist_prefix, n, es->args ? es->args : "NULL",
                  es->resp ? es->resp : "NULL");
}

/* A new hoisted function X<n> whose body is `body`; it is defined before
** any function that calls it (es->hoisted is output first). */
static int emit_hoisted_fn(emit_state *es, const strbuf *body)
{
    int n = ++*es->nhoisted;
    strbuf_printf(es->hoisted, "static json_t *%s%d(rt_ctx *c, json_t *args, json_t *response)\n{\n"
                  "    (void)args;\n    (void)response;\n", es->hoist_prefix, n);
    strbuf_append(es->hoisted, body->data ? body->data : "", body->len);
    strbuf_puts(es->hoisted, "}\n\n");
    return n;
}

/* Replaces the text of an expression by a call to a function returning it. */
static void emit_hoist(emit_state *es, strbuf *text)
{
    strbuf body = { 0 };
    strbuf_puts(&body, "    return ");
    strbuf_append(&body, text->data ? text->data : "", text->len);
    strbuf_puts(&body, ";\n");
    int n = emit_hoisted_fn(es, &body);
    strbuf_free(&body);
    text->len = 0;
    emit_hoisted_call(es, text, n);
}

/* Hoists the deepest operands until the call fits; returns its depth
** (at least `base`, the operands of the call itself). */
static int kids_fit(emit_state *es, emit_kids *k, int base)
{
    for (;;) {
        int worst = -1, max = base;
        for (int i = 0; i < k->n; i++) {
            if (k->at[i] + k->depth[i] > max) {
                max = k->at[i] + k->depth[i];
                worst = i;
            }
        }
        if (max <= EMIT_MAX_DEPTH || worst < 0 || k->depth[worst] <= EMIT_HOISTED_DEPTH) return max;
        emit_hoist(es, &k->text[worst]);
        k->depth[worst] = EMIT_HOISTED_DEPTH;
    }
}

/* A list, object or interpolation of many items, built one item per
** statement in a hoisted function. */
static int emit_wide(emit_state *es, strbuf *b, const ast_expr *e)
{
    strbuf body = { 0 };
    strbuf_puts(&body, e->kind == EX_OBJECT ? "    json_t *v = rt_object(c, 0);\n" : "    json_t *v = rt_list(c, 0);\n");
    for (int i = 0; i < e->nitems; i++) {
        if (e->kind == EX_OBJECT) {
            strbuf_puts(&body, "    rt_object_add(c, v, ");
            emit_cstr(&body, e->keys[i]);
            strbuf_puts(&body, ", ");
        } else {
            strbuf_puts(&body, "    rt_list_add(c, v, ");
        }
        emit_sub(es, &body, e->items[i]);
        strbuf_puts(&body, ");\n");
    }
    strbuf_puts(&body, e->kind == EX_INTERP ? "    return rt_interp_list(c, v);\n" : "    return v;\n");
    int n = emit_hoisted_fn(es, &body);
    strbuf_free(&body);
    emit_hoisted_call(es, b, n);
    return EMIT_HOISTED_DEPTH;
}

/* A step is referred to by its descriptor: the runtime finds its result at
** the descriptor's depth and slot, without a name. */
static void emit_step_ref(strbuf *b, const ast_step *s)
{
    strbuf_printf(b, "rt_step_result(c, &D_%s)", s->name);
}

/* The runtime's name of an operator (RT_OP_ADD) and of a built-in
** (RT_FN_len): generated code names them, from the tables the runtime's
** enums are made of, so a mismatch does not compile. */
static const char *emit_op_name(ast_op op)
{
    static const char *const names[] = {
        "RT_OP_NONE",
#define FLOW_OP(name, text, operands) "RT_OP_" #name,
#include "flow_ops.def"
#undef FLOW_OP
    };
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "RT_OP_NONE";
}

static const char *emit_fn_name(ast_fn fn)
{
    static const char *const names[] = {
        "RT_FN_NONE",       /* not a runtime name: a call the checker did not resolve */
#define FLOW_BUILTIN(name, min, max, signature, doc) "RT_FN_" #name,
#include "flow_builtins.def"
#undef FLOW_BUILTIN
    };
    return (unsigned)fn < sizeof names / sizeof names[0] ? names[fn] : names[0];
}

/* A literal is a value made once per process (rt_strk, rt_intk), held in
** a static slot of the generated code, K<n> (KT<n> in tests), declared
** with the hoisted functions: the name of a new one. */
static const char *emit_const_slot(emit_state *es)
{
    int n = ++*es->nhoisted;
    const char *name = arena_printf(es->a, "%sK%d", es->hoist_prefix, n);
    strbuf_printf(es->hoisted, "static json_t *%s;\n", name);
    return name;
}

/* if c then a else b: a C conditional, so that only the arm taken is
** evaluated (`if x != null then x.f else 0` must not read x.f). */
static int emit_cond(emit_state *es, strbuf *b, const ast_expr *e, emit_kids *k, int line)
{
    kids_init(k, 3);
    kids_render(es, k, 0, e->items[0], 4);
    kids_render(es, k, 1, e->items[1], 2);
    kids_render(es, k, 2, e->items[2], 2);
    int depth = kids_fit(es, k, 6);
    strbuf_puts(b, "(rt_truthy(c, ");
    kids_put(b, k, 0);
    strbuf_printf(b, ", %d) ? ", line);
    kids_put(b, k, 1);
    strbuf_puts(b, " : ");
    kids_put(b, k, 2);
    strbuf_putc(b, ')');
    return depth;
}

/* Appends e as one C expression of at most EMIT_MAX_DEPTH operands;
** returns how many it needs. */
static int emit_sub(emit_state *es, strbuf *b, const ast_expr *e)
{
    int line = emit_line(es, e->loc);
    int depth = EMIT_LEAF_DEPTH;
    emit_kids k = { 0 };
    switch (e->kind) {
    case EX_NULL: strbuf_puts(b, "rt_null()"); break;
    case EX_BOOL: strbuf_puts(b, e->bval ? "rt_bool(1)" : "rt_bool(0)"); break;
    case EX_INT:
    case EX_DURATION:
        strbuf_printf(b, "rt_intk(&%s, %" PRId64 "LL)", emit_const_slot(es), e->ival);
        break;
    case EX_FLOAT: strbuf_printf(b, "rt_float(c, %.17g)", e->fval); break;
    case EX_STRING:
        strbuf_printf(b, "rt_strk(&%s, ", emit_const_slot(es));
        emit_cstr(b, e->sval);
        strbuf_putc(b, ')');
        break;
    case EX_INTERP:
    case EX_LIST:
    case EX_OBJECT: {
        if (e->nitems > EMIT_MAX_ITEMS) return emit_wide(es, b, e);
        bool obj = e->kind == EX_OBJECT;
        /* rt_list(c, n, v...), rt_interp(c, n, v...), rt_object(c, n, "k", v, ...) */
        kids_init(&k, e->nitems);
        for (int i = 0; i < e->nitems; i++) kids_render(es, &k, i, e->items[i], obj ? 4 + 2 * i : 3 + i);
        depth = kids_fit(es, &k, 3 + (obj ? 2 : 1) * e->nitems);
        strbuf_printf(b, "%s(c, %d", obj ? "rt_object" : e->kind == EX_LIST ? "rt_list" : "rt_interp", e->nitems);
        for (int i = 0; i < e->nitems; i++) {
            strbuf_puts(b, ", ");
            if (obj) {
                emit_cstr(b, e->keys[i]);
                strbuf_puts(b, ", ");
            }
            kids_put(b, &k, i);
        }
        strbuf_putc(b, ')');
        break;
    }
    case EX_NAME:
        switch (e->ref) {
        case REF_TRIGGER: strbuf_puts(b, "rt_trigger(c)"); break;
        case REF_SETTINGS: strbuf_puts(b, "rt_settings(c)"); break;
        case REF_RUN: strbuf_puts(b, "rt_run(c)"); break;
        case REF_STEP:
            strbuf_puts(b, "rt_result_out(");
            emit_step_ref(b, e->ref_step);
            strbuf_putc(b, ')');
            break;
        case REF_VAR:           /* the item variable of the fanout ref_step */
            strbuf_printf(b, "rt_var(c, &D_%s)", e->ref_step->name);
            break;
        case REF_PARAM:
            strbuf_printf(b, "rt_field(c, %s, ", es->args ? es->args : "rt_null()");
            emit_cstr(b, e->name);
            strbuf_putc(b, ')');
            break;
        case REF_RESPONSE:
            strbuf_printf(b, "rt_field(c, %s, ", es->resp ? es->resp : "rt_null()");
            emit_cstr(b, e->name);
            strbuf_putc(b, ')');
            break;
        case REF_OUTPUT:
            strbuf_puts(b, strcmp(e->name, "status") == 0 ? "rt_run_status(c)" : "rt_run_output(c)");
            break;
        default: strbuf_puts(b, "rt_null()"); break;
        }
        break;
    case EX_FIELD:
        if (e->a->kind == EX_NAME && e->a->ref == REF_STEP &&
            (strcmp(e->name, "ok") == 0 || strcmp(e->name, "error") == 0)) {
            bool ok = strcmp(e->name, "ok") == 0;
            strbuf_puts(b, ok ? "rt_bool(rt_result_ok(" : "rt_result_error(");
            emit_step_ref(b, e->a->ref_step);
            strbuf_puts(b, ok ? "))" : ")");
            depth = 6;
        } else if (e->a->kind == EX_NAME && e->a->ref == REF_STEP && e->a->ref_step->kind != STEP_LET &&
                   (strcmp(e->name, "body") == 0 || strcmp(e->name, "status") == 0)) {
            /* a request's output may be kept in parts (its headers unread):
            ** its fields are read without making the whole */
            strbuf_puts(b, "rt_result_field(c, ");
            emit_step_ref(b, e->a->ref_step);
            strbuf_puts(b, ", ");
            emit_cstr(b, e->name);
            strbuf_putc(b, ')');
            depth = 6;
        } else if (e->a->kind == EX_NAME && (e->a->ref == REF_SECRET || e->a->ref == REF_ENV)) {
            strbuf_puts(b, e->a->ref == REF_SECRET ? "rt_secret(c, " : "rt_env(c, ");
            emit_cstr(b, e->name);
            strbuf_putc(b, ')');
        } else {
            kids_init(&k, 1);
            kids_render(es, &k, 0, e->a, 2);
            depth = kids_fit(es, &k, 4);
            strbuf_puts(b, "rt_field(c, ");
            kids_put(b, &k, 0);
            strbuf_puts(b, ", ");
            emit_cstr(b, e->name);
            strbuf_putc(b, ')');
        }
        break;
    case EX_INDEX:
        kids_init(&k, 2);
        kids_render(es, &k, 0, e->a, 2);
        kids_render(es, &k, 1, e->b, 3);
        depth = kids_fit(es, &k, 4);
        strbuf_puts(b, "rt_index(c, ");
        kids_put(b, &k, 0);
        strbuf_puts(b, ", ");
        kids_put(b, &k, 1);
        strbuf_putc(b, ')');
        break;
    case EX_CALL:
        /* the arguments are a compound literal: each is stored as it is
        ** compiled, below the 4 operands of rt_call and the array */
        strbuf_printf(b, "rt_call(c, %s", emit_fn_name(e->fn));
        if (e->nitems) {
            kids_init(&k, e->nitems);
            for (int i = 0; i < e->nitems; i++) kids_render(es, &k, i, e->items[i], 7);
            depth = kids_fit(es, &k, 8);
            strbuf_printf(b, ", %d, (json_t *[]){", e->nitems);
            for (int i = 0; i < e->nitems; i++) {
                if (i) strbuf_puts(b, ", ");
                kids_put(b, &k, i);
            }
            strbuf_printf(b, "}, %d)", line);
        } else {
            strbuf_printf(b, ", 0, NULL, %d)", line);
            depth = 6;
        }
        break;
    case EX_UNARY:
        kids_init(&k, 1);
        kids_render(es, &k, 0, e->a, 3);
        depth = kids_fit(es, &k, 5);
        strbuf_printf(b, "rt_unary(c, %s, ", emit_op_name(e->op));
        kids_put(b, &k, 0);
        strbuf_printf(b, ", %d)", line);
        break;
    case EX_BINARY:
        kids_init(&k, 2);
        if (e->op == OP_AND || e->op == OP_OR) {
            /* short-circuit in C: `x != null and x.f > 1` must not read x.f */
            kids_render(es, &k, 0, e->a, 4);
            kids_render(es, &k, 1, e->b, 4);
            depth = kids_fit(es, &k, 6);
            strbuf_puts(b, "rt_bool(rt_truthy(c, ");
            kids_put(b, &k, 0);
            strbuf_printf(b, ", %d) %s rt_truthy(c, ", line, e->op == OP_AND ? "&&" : "||");
            kids_put(b, &k, 1);
            strbuf_printf(b, ", %d))", line);
        } else if (e->type && e->type->kind == TY_FLOAT && e->op >= OP_ADD && e->op <= OP_DIV) {
            /* float arithmetic: a float-typed value may hold a JSON integer
            ** (`x: float` given 3, a default 1.0), and 3 / 2 must be 1.5 */
            kids_render(es, &k, 0, e->a, 10);
            kids_render(es, &k, 1, e->b, 11);
            depth = kids_fit(es, &k, 12);
            strbuf_printf(b, "rt_binary(c, %s, rt_call(c, %s, 1, (json_t *[]){", emit_op_name(e->op),
                          emit_fn_name(FN_float));
            kids_put(b, &k, 0);
            strbuf_printf(b, "}, %d), rt_call(c, %s, 1, (json_t *[]){", line, emit_fn_name(FN_float));
            kids_put(b, &k, 1);
            strbuf_printf(b, "}, %d), %d)", line, line);
        } else {
            kids_render(es, &k, 0, e->a, 3);
            kids_render(es, &k, 1, e->b, 4);
            depth = kids_fit(es, &k, 6);
            strbuf_printf(b, "rt_binary(c, %s, ", emit_op_name(e->op));
            kids_put(b, &k, 0);
            strbuf_puts(b, ", ");
            kids_put(b, &k, 1);
            strbuf_printf(b, ", %d)", line);
        }
        break;
    case EX_COND:
        depth = emit_cond(es, b, e, &k, line);
        break;
    }
    kids_free(&k);
    return depth;
}

static void emit_expr(emit_state *es, strbuf *b, const ast_expr *e)
{
    emit_sub(es, b, e);
}

/* An object expression made of given keys and values (action arguments,
** function parameters, the request object), emitted as one so that many
** of them are split like any object literal. */
static ast_expr *emit_object_of(emit_state *es, src_loc loc, int n)
{
    ast_expr *o = arena_alloc(es->a, sizeof *o);
    o->kind = EX_OBJECT;
    o->loc = loc;
    o->keys = arena_alloc(es->a, sizeof *o->keys * (size_t)(n + 1));
    o->items = arena_alloc(es->a, sizeof *o->items * (size_t)(n + 1));
    return o;
}

/* ---- descriptors ------------------------------------------------------- */

static void emit_integrations(emit_state *es)
{
    static const char *const auth[] = { "RT_AUTH_NONE", "RT_AUTH_BEARER", "RT_AUTH_BASIC",
                                        "RT_AUTH_HEADER", "RT_AUTH_OAUTH2" };
    for (int i = 0; i < es->prog->nintegrations; i++) {
        ast_integration *in = es->prog->integrations[i];
        strbuf *b = &es->descs;
        if (in->nconn) {
            strbuf_printf(b, "static const rt_conn_field CF_%s[] = {\n", in->name);
            for (int k = 0; k < in->nconn; k++) {
                const ast_conn_field *f = in->conn[k];
                strbuf_puts(b, "    { ");
                emit_cstr(b, f->name);
                strbuf_puts(b, ", ");
                emit_type_ref(es, b, f->type);
                strbuf_printf(b, ", %s, %s },\n", f->base_url ? "true" : "false", f->from_token ? "true" : "false");
            }
            strbuf_puts(b, "};\n");
        }
        strbuf_printf(b, "static const rt_integration I_%s = {\n    .name = ", in->name);
        emit_cstr(b, in->name);
        strbuf_puts(b, ",\n    .base_url = ");
        emit_cstr_or_null(b, in->base_url && in->base_url->kind == EX_STRING ? in->base_url->sval : NULL);
        strbuf_printf(b, ",\n    .auth = %s,\n    .secret = ", auth[in->auth]);
        emit_cstr_or_null(b, in->auth_secret ? in->auth_secret->name : NULL);
        strbuf_puts(b, ",\n    .secret2 = ");
        emit_cstr_or_null(b, in->auth_secret2 ? in->auth_secret2->name : NULL);
        strbuf_puts(b, ",\n    .header = ");
        emit_cstr_or_null(b, in->auth_header);
        strbuf_puts(b, ",\n    .token_url = ");
        emit_cstr_or_null(b, in->oauth_token_url && in->oauth_token_url->kind == EX_STRING
                                 ? in->oauth_token_url->sval : NULL);
        strbuf_puts(b, ",\n    .client_id_secret = ");
        emit_cstr_or_null(b, in->oauth_client_id ? in->oauth_client_id->name : NULL);
        strbuf_puts(b, ",\n    .client_secret_secret = ");
        emit_cstr_or_null(b, in->oauth_client_secret ? in->oauth_client_secret->name : NULL);
        if (in->nconn) strbuf_printf(b, ",\n    .fields = CF_%s, .nfields = %d", in->name, in->nconn);
        strbuf_puts(b, ",\n};\n");
    }
}

/* A callback over the response: `fail when` (bool) or a cursor (value). */
static const char *emit_response_callback(emit_state *es, const ast_expr *e, bool is_bool)
{
    const char *name = arena_printf(es->a, "CB_%d", ++es->ncallbacks);
    strbuf_printf(&es->protos, "static %s %s(rt_ctx *c, json_t *response);\n",
                  is_bool ? "bool" : "json_t *", name);
    strbuf *b = &es->defs;
    strbuf_printf(b, "static %s %s(rt_ctx *c, json_t *response)\n{\n    return ", is_bool ? "bool" : "json_t *",
                  name);
    const char *saved = es->resp;
    es->resp = "response";
    if (is_bool) strbuf_puts(b, "rt_truthy(c, ");
    emit_expr(es, b, e);
    if (is_bool) strbuf_printf(b, ", %d)", emit_line(es, e->loc));
    es->resp = saved;
    strbuf_puts(b, ";\n}\n\n");
    return name;
}

/* The descriptor of a step. `req` is the request for request steps and
** action calls (the action's body), NULL otherwise; `clauses` carries the
** step clauses of the call site, `fallback` the action's own. `slot` is
** the step's result slot in its scope (emit_step), `slots` a fanout's
** count of its body's slots. */
static void emit_step_desc(emit_state *es, const ast_step *s, const ast_request *req, const ast_step *fallback,
                           int slot, int slots)
{
    strbuf *b = &es->descs;
    const char *accept = "NULL";
    const char *fail_when = "NULL", *cursor = "NULL", *items = "NULL";
    if (req && req->naccept) {
        accept = arena_printf(es->a, "ACC_%s", s->name);
        strbuf_printf(b, "static const int %s[] = { ", accept);
        for (int i = 0; i < req->naccept; i++) strbuf_printf(b, "%d, ", req->accept[i].code);
        strbuf_puts(b, "0 };\n");
    }
    if (req && req->fail_when) fail_when = emit_response_callback(es, req->fail_when, true);
    if (req && req->page_cursor) cursor = emit_response_callback(es, req->page_cursor, false);
    if (req && req->npage_items) {
        items = arena_printf(es->a, "PI_%s", s->name);
        strbuf_printf(b, "static const char *const %s[] = { ", items);
        for (int i = 0; i < req->npage_items; i++) {
            emit_cstr(b, req->page_items[i]);
            strbuf_puts(b, ", ");
        }
        strbuf_puts(b, "NULL };\n");
    }
    static const char *const kinds[] = { "RT_STEP_REQUEST", "RT_STEP_REQUEST", "RT_STEP_FUNCTION",
                                         "RT_STEP_FANOUT", "RT_STEP_LET" };
    static const char *const pages[] = { "RT_PAGE_NONE", "RT_PAGE_CURSOR", "RT_PAGE_PAGE", "RT_PAGE_LINK" };
    static const char *const targets[] = { "RT_TARGET_QUERY", "RT_TARGET_JSON", "RT_TARGET_URL" };

    strbuf_printf(b, "static const rt_step_desc D_%s = {\n    .name = ", s->name);
    emit_cstr(b, s->name);
    strbuf_printf(b, ",\n    .kind = %s,\n    .line = %d,\n    .depth = %d,\n    .slot = %d,\n", kinds[s->kind],
                  emit_line(es, s->name_loc), es->depth, slot);
    if (req) {
        strbuf_puts(b, "    .method = ");
        emit_cstr(b, req->method);
        strbuf_puts(b, ",\n");
        if (req->url_modes) {
            strbuf_puts(b, "    .url_modes = ");
            emit_cstr(b, req->url_modes);
            strbuf_puts(b, ",\n");
        }
    }
    if (req && req->integ) {
        strbuf_printf(b, "    .integ = &I_%s,\n", req->integ->name);
        for (int i = 0; es->integ_used && i < es->prog->nintegrations; i++)
            if (es->prog->integrations[i] == req->integ) es->integ_used[i] = true;
    }
    if (s->kind == STEP_ACTION && !(req && req->paginate)) strbuf_puts(b, "    .body_output = true,\n");
    /* the headers of its output: made into an object only when read */
    if (req && !req->paginate && !req->fail_when && (s->kind == STEP_ACTION || !s->headers_read))
        strbuf_puts(b, "    .headers_unread = true,\n");
    strbuf_puts(b, "    .out_type = ");
    if (s->kind == STEP_ACTION && s->action && !(req && req->paginate))
        emit_type_ref(es, b, req && req->returns ? req->returns : s->action->out);
    else if (s->kind == STEP_REQUEST || s->kind == STEP_ACTION)
        emit_type_ref(es, b, req ? req->returns : NULL);
    else if (s->kind == STEP_FUNCTION)
        emit_type_ref(es, b, s->out_type);
    else
        strbuf_puts(b, "NULL");
    strbuf_printf(b, ",\n    .accept = %s,\n    .fail_when = %s,\n", accept, fail_when);
    if (req && req->paginate) {
        strbuf_printf(b, "    .paginate = %s,\n    .page_items = %s,\n    .page_cursor = %s,\n",
                      pages[req->paginate], items, cursor);
        strbuf_printf(b, "    .page_target = %s,\n    .page_param = ", targets[req->page_target]);
        emit_cstr_or_null(b, req->page_param);
        /* `max N` at an action's call overrides the action's own */
        strbuf_printf(b, ",\n    .page_max = %d,\n", (int)(s->call_max ? s->call_max : req->page_max));
    }
    const ast_step *fb = fallback ? fallback : s;
    strbuf_printf(b, "    .timeout_ms = %" PRId64 ",\n", s->timeout_ms ? s->timeout_ms : fb->timeout_ms);
    strbuf_printf(b, "    .retries = %d,\n", s->retries >= 0 ? s->retries : fb->retries);
    strbuf_printf(b, "    .backoff_ms = %" PRId64 ",\n", s->backoff_ms ? s->backoff_ms : fb->backoff_ms);
    strbuf_printf(b, "    .max_backoff_ms = %" PRId64 ",\n",
                  s->max_backoff_ms ? s->max_backoff_ms : fb->max_backoff_ms);
    strbuf_printf(b, "    .continue_on_failure = %d,\n", s->continue_on_failure || fb->continue_on_failure);
    if (s->kind == STEP_FANOUT) {
        strbuf_printf(b, "    .concurrency = %d,\n    .var = ", (int)s->concurrency);
        emit_cstr(b, s->var);
        strbuf_printf(b, ",\n    .slots = %d,\n", slots);
        if (!s->output_read) strbuf_puts(b, "    .output_unread = true,\n");
    }
    strbuf_puts(b, "};\n\n");
}

/* ---- requests ---------------------------------------------------------- */

/* A request's computed parts, the arguments of rt_request after its
** descriptor (which holds the method and the URL template's modes): the
** URL (a string, or the list of a template's parts, which the runtime
** encodes each where it stands), then headers, query, json, form and body,
** NULL for a clause the request does not have. */
static void emit_request_args(emit_state *es, strbuf *b, const ast_request *r)
{
    if (r->url_modes) {
        ast_expr parts = { .kind = EX_LIST, .loc = r->url->loc, .items = r->url_parts, .nitems = r->url->nitems };
        emit_expr(es, b, &parts);     /* a list like any other: split when long */
    } else {
        emit_expr(es, b, r->url);
    }
    const ast_expr *clauses[] = { r->headers, r->query, r->json, r->form, r->body };
    for (size_t i = 0; i < sizeof clauses / sizeof clauses[0]; i++) {
        strbuf_puts(b, ", ");
        if (clauses[i]) emit_expr(es, b, clauses[i]);
        else strbuf_puts(b, "NULL");
    }
}

/* The C name of an action's request builder: A_<length of integ><integ>_<op>.
** The length keeps it unique: a_b.c and a.b_c would both be A_a_b_c. */
static void emit_action_name(strbuf *b, const ast_action *a)
{
    strbuf_printf(b, "A_%zu%s_%s", strlen(a->integ), a->integ, a->op);
}

/* Each action becomes a request builder over its arguments object. */
static void emit_actions(emit_state *es)
{
    for (int i = 0; i < es->prog->nactions; i++) {
        ast_action *a = es->prog->actions[i];
        if (!a->body || !a->body->req) continue;
        strbuf_puts(&es->protos, "static rt_result *");
        emit_action_name(&es->protos, a);
        strbuf_puts(&es->protos, "(rt_ctx *c, const rt_step_desc *d, json_t *args);\n");
        strbuf *b = &es->defs;
        strbuf_puts(b, "static rt_result *");
        emit_action_name(b, a);
        strbuf_puts(b, "(rt_ctx *c, const rt_step_desc *d, json_t *args)\n{\n");
        es->args = "args";
        strbuf_puts(b, "    return rt_request(c, d, ");
        emit_request_args(es, b, a->body->req);
        strbuf_puts(b, ");\n}\n\n");
        es->args = NULL;
    }
}

/* ---- statements -------------------------------------------------------- */

static void emit_block(emit_state *es, strbuf *b, const ast_block *blk, int indent);

static void emit_indent(strbuf *b, int n)
{
    for (int i = 0; i < n; i++) strbuf_puts(b, "    ");
}

/* The type that picks a function parameter's C type: a `string?` is a
** `const char *` that is NULL for null; other optionals stay json. */
static const ast_type *param_ctype(const ast_arg *p)
{
    const ast_type *t = p->ctype ? p->ctype : &ast_type_json;
    if (t->kind == TY_OPTIONAL && t->elem && t->elem->kind == TY_STRING) return t->elem;
    return t;
}

/* The user's C as a function with typed parameters, FU_<step>. The body is
** wrapped in a block of its own and followed by `return NULL;`, so a body
** that ends in a bare `flow_fail(...)` (or falls off its end) returns NULL
** rather than tripping tcc's "might return no value" about FU_<step>; the
** runtime then reports the failure, or that no value was returned. The
** closing lines carry #line of the `%}`, so an error there (a missing `;`
** on the last statement) points at the C block's end. */
static void emit_function_user(const ast_program *prog, strbuf *b, const ast_step *s)
{
    strbuf_printf(b, "static json_t *FU_%s(", s->name);
    if (!s->nparams) strbuf_puts(b, "void");
    for (int i = 0; i < s->nparams; i++) {
        const ast_arg *p = s->params[i];
        const ast_type *t = param_ctype(p);
        const char *ct = t->kind == TY_INT ? "int64_t" : t->kind == TY_FLOAT ? "double"
                       : t->kind == TY_BOOL ? "bool" : t->kind == TY_STRING ? "const char *"
                       : "const json_t *";
        strbuf_printf(b, "%s%s%s%s", i ? ", " : "", ct, ct[strlen(ct) - 1] == '*' ? "" : " ", p->name);
    }
    strbuf_puts(b, ")\n{ {\n");
    const char *path = prog->diag->files[s->c_loc.file]->path;
    int line, col;
    diag_line_col(prog->diag, s->c_loc.file, s->c_loc.start, &line, &col);
    strbuf_printf(b, "#line %d ", line);
    emit_cstr(b, path);
    strbuf_putc(b, '\n');
    /* keep the user's columns on the first line too */
    for (int i = 1; i < col; i++) strbuf_putc(b, ' ');
    strbuf_puts(b, s->c_code ? s->c_code : "");
    /* two newlines: a trailing backslash in the user's code splices one */
    diag_line_col(prog->diag, s->c_loc.file, s->c_loc.end, &line, &col);
    strbuf_printf(b, "\n\n#line %d ", line);
    emit_cstr(b, path);
    strbuf_puts(b, "\n} return NULL; }\n");
    strbuf_printf(b, "#line %d \"%s.c\"\n", 1, "flowc-generated");
}

/* The user's C and its wrapper F_<step>, which unpacks the parameters. */
static void emit_function_step(emit_state *es, const ast_step *s)
{
    strbuf *b = &es->defs;
    strbuf_printf(&es->protos, "static json_t *F_%s(const json_t *params);\n", s->name);
    emit_function_user(es->prog, b, s);
    strbuf_printf(b, "static json_t *F_%s(const json_t *params)\n{\n    (void)params;\n    return FU_%s(", s->name,
                  s->name);
    for (int i = 0; i < s->nparams; i++) {
        const ast_arg *p = s->params[i];
        const ast_type *t = param_ctype(p);
        const char *getter = t->kind == TY_INT ? "rt_param_int" : t->kind == TY_FLOAT ? "rt_param_float"
                           : t->kind == TY_BOOL ? "rt_param_bool" : t->kind == TY_STRING ? "rt_param_string"
                           : "rt_param_json";
        strbuf_printf(b, "%s%s(params, ", i ? ", " : "", getter);
        emit_cstr(b, p->name);
        strbuf_putc(b, ')');
    }
    strbuf_puts(b, ");\n}\n\n");
}

/* A fanout's item body FO_<step>: its steps are numbered in a scope of
** their own (an item's context); returns how many slots they take. */
static int emit_fanout_fn(emit_state *es, const ast_step *s)
{
    strbuf_printf(&es->protos, "static int FO_%s(rt_ctx *c, json_t *value);\n", s->name);
    strbuf body = { 0 };
    strbuf_printf(&body, "static int FO_%s(rt_ctx *c, json_t *value)\n{\n    (void)value;\n", s->name);
    int *outer = es->nslots, nslots = 0;
    es->nslots = &nslots;
    es->depth++;
    emit_block(es, &body, s->body, 1);
    es->depth--;
    es->nslots = outer;
    strbuf_puts(&body, "    return rt_return(c, rt_null());\n}\n\n");
    strbuf_append(&es->defs, body.data, body.len);
    strbuf_free(&body);
    return nslots;
}

static void emit_step(emit_state *es, strbuf *b, const ast_step *s, int ind)
{
    int slot = (*es->nslots)++;
    emit_indent(b, ind);
    switch (s->kind) {
    case STEP_REQUEST:
        emit_step_desc(es, s, s->req, NULL, slot, 0);
        /* Test Step: a step given in --input is not evaluated at all */
        strbuf_printf(b, "if (!rt_step_given(c, &D_%s) && !rt_request(c, &D_%s, ", s->name, s->name);
        emit_request_args(es, b, s->req);
        strbuf_puts(b, ")) return RT_STOP;\n");
        break;
    case STEP_ACTION: {
        const ast_action *a = s->action;
        emit_step_desc(es, s, a->body->req, a->body, slot, 0);
        /* arguments, with defaults for the ones not given */
        ast_expr *args = emit_object_of(es, s->name_loc, a->nparams);
        for (int i = 0; i < a->nparams; i++) {
            const ast_field *p = a->params[i];
            const ast_arg *given = NULL;
            for (int j = 0; j < s->nargs; j++)
                if (strcmp(s->args[j]->name, p->name) == 0) given = s->args[j];
            if (!given && !p->deflt) continue;
            args->keys[args->nitems] = p->name;
            args->items[args->nitems++] = given ? given->value : p->deflt;
        }
        strbuf_printf(b, "if (!rt_step_given(c, &D_%s) && !", s->name);
        emit_action_name(b, a);
        strbuf_printf(b, "(c, &D_%s, ", s->name);
        emit_expr(es, b, args);
        strbuf_puts(b, ")) return RT_STOP;\n");
        break;
    }
    case STEP_FUNCTION:
        emit_step_desc(es, s, NULL, NULL, slot, 0);
        emit_function_step(es, s);
        ast_expr *params = emit_object_of(es, s->name_loc, s->nparams);
        for (int i = 0; i < s->nparams; i++) {
            params->keys[params->nitems] = s->params[i]->name;
            params->items[params->nitems++] = s->params[i]->value;
        }
        strbuf_printf(b, "if (!rt_step_given(c, &D_%s) && !rt_function(c, &D_%s, ", s->name, s->name);
        emit_expr(es, b, params);
        strbuf_printf(b, ", F_%s)) return RT_STOP;\n", s->name);
        break;
    case STEP_FANOUT:
        emit_step_desc(es, s, NULL, NULL, slot, emit_fanout_fn(es, s));
        strbuf_printf(b, "if (!rt_fanout(c, &D_%s, ", s->name);
        emit_expr(es, b, s->list);
        strbuf_printf(b, ", FO_%s)) return RT_STOP;\n", s->name);
        break;
    case STEP_LET:      /* a statement of its own: emit_let */
        break;
    }
}

/* let NAME = value: the value, kept in the let's result slot (its
** descriptor, as a step's; rt_step_result finds it as it finds a step's
** output); no checkpoint. */
static void emit_let(emit_state *es, strbuf *b, const ast_stmt *st, int ind)
{
    emit_step_desc(es, st->step, NULL, NULL, (*es->nslots)++, 0);
    emit_indent(b, ind);
    strbuf_printf(b, "if (rt_let(c, &D_%s, ", st->step->name);
    emit_expr(es, b, st->expr);
    strbuf_puts(b, ") != RT_OK) return RT_STOP;\n");
}

/* return/fail with `status` and `headers`: the answer of a request
** trigger (NULL where not given: the defaults 200 and 500). */
static void emit_reply(emit_state *es, strbuf *b, const ast_stmt *st, int ind)
{
    emit_indent(b, ind);
    strbuf_puts(b, st->kind == ST_RETURN ? "return rt_return_reply(c, " : "return rt_fail_reply(c, ");
    if (st->expr) emit_expr(es, b, st->expr);
    else strbuf_puts(b, "rt_null()");
    strbuf_puts(b, ", ");
    if (st->status) emit_expr(es, b, st->status);
    else strbuf_puts(b, "NULL");
    strbuf_puts(b, ", ");
    if (st->headers) emit_expr(es, b, st->headers);
    else strbuf_puts(b, "NULL");
    strbuf_printf(b, ", %d);\n", emit_line(es, st->loc));
}

static void emit_stmt(emit_state *es, strbuf *b, const ast_stmt *st, int ind)
{
    switch (st->kind) {
    case ST_STEP:
        emit_step(es, b, st->step, ind);
        break;
    case ST_IF:
        for (int i = 0; i < st->nbranches; i++) {
            emit_indent(b, ind);
            strbuf_puts(b, i ? "} else if (rt_truthy(c, " : "if (rt_truthy(c, ");
            emit_expr(es, b, st->conds[i]);
            strbuf_printf(b, ", %d)) {\n", emit_line(es, st->conds[i]->loc));
            emit_block(es, b, st->thens[i], ind + 1);
        }
        if (st->els) {
            emit_indent(b, ind);
            strbuf_puts(b, "} else {\n");
            emit_block(es, b, st->els, ind + 1);
        }
        emit_indent(b, ind);
        strbuf_puts(b, "}\n");
        break;
    case ST_LET:
        emit_let(es, b, st, ind);
        break;
    case ST_RETURN:
        if (st->status || st->headers) {
            emit_reply(es, b, st, ind);
            break;
        }
        emit_indent(b, ind);
        strbuf_puts(b, "return rt_return(c, ");
        if (st->expr) emit_expr(es, b, st->expr);
        else strbuf_puts(b, "rt_null()");
        strbuf_puts(b, ");\n");
        break;
    case ST_FAIL:
        if (st->status || st->headers) {
            emit_reply(es, b, st, ind);
            break;
        }
        emit_indent(b, ind);
        strbuf_puts(b, "return rt_fail(c, ");
        emit_expr(es, b, st->expr);
        strbuf_puts(b, ");\n");
        break;
    case ST_LOG:
        emit_indent(b, ind);
        strbuf_puts(b, "rt_log(c, ");
        emit_expr(es, b, st->expr);
        strbuf_printf(b, ", %d);\n", emit_line(es, st->loc));
        break;
    case ST_WAIT: {
        emit_indent(b, ind);
        const char *id = arena_printf(es->a, "wait@%d", emit_line(es, st->loc));
        if (st->wait_until) {
            strbuf_puts(b, "if (rt_wait_until(c, ");
            emit_cstr(b, id);
            strbuf_puts(b, ", ");
            emit_expr(es, b, st->expr);
            strbuf_puts(b, ") != RT_OK) return RT_STOP;\n");
        } else {
            strbuf_puts(b, "if (rt_wait(c, ");
            emit_cstr(b, id);
            strbuf_printf(b, ", %" PRId64 "L) != RT_OK) return RT_STOP;\n", st->expr ? st->expr->ival : 0);
        }
        break;
    }
    }
}

static void emit_block(emit_state *es, strbuf *b, const ast_block *blk, int indent)
{
    if (!blk) return;
    for (int i = 0; i < blk->nstmts; i++) emit_stmt(es, b, blk->stmts[i], indent);
}

/* ---- the workflow ------------------------------------------------------ */

static void emit_workflow(emit_state *es, const char *version, const char *symbol, int nslots)
{
    ast_program *p = es->prog;
    ast_file *m = p->main;
    strbuf *b = &es->descs;

    /* settings */
    if (m->nsettings) {
        strbuf_puts(b, "static const rt_setting SETTINGS[] = {\n");
        for (int i = 0; i < m->nsettings; i++) {
            const ast_field *f = m->settings[i];
            strbuf_puts(b, "    { ");
            emit_cstr(b, f->name);
            strbuf_puts(b, ", ");
            emit_type_ref(es, b, f->type);
            strbuf_puts(b, ", ");
            if (f->deflt) {
                strbuf tmp = { 0 };
                emit_literal_json(&tmp, f->deflt);
                emit_cstr(b, tmp.data);
                strbuf_free(&tmp);
            } else {
                strbuf_puts(b, "NULL");
            }
            strbuf_puts(b, " },\n");
        }
        strbuf_puts(b, "};\n");
    }
    /* secrets: declared, then those the integrations need */
    const char **secrets = arena_alloc(es->a, sizeof *secrets * (size_t)(m->nsecrets + 4 * p->nintegrations + 1));
    int ns = 0;
    for (int i = 0; i < m->nsecrets; i++) secrets[ns++] = m->secrets[i]->name;
    for (int i = 0; i < p->nintegrations; i++) {
        const ast_integration *in = p->integrations[i];
        const ast_expr *refs[4] = { in->auth_secret, in->auth_secret2, in->oauth_client_id, in->oauth_client_secret };
        for (int k = 0; k < 4; k++) {
            if (!refs[k] || !refs[k]->name) continue;
            bool dup = false;
            for (int j = 0; j < ns; j++) dup |= strcmp(secrets[j], refs[k]->name) == 0;
            if (!dup) secrets[ns++] = refs[k]->name;
        }
    }
    if (ns) {
        strbuf_puts(b, "static const char *const SECRETS[] = { ");
        for (int i = 0; i < ns; i++) {
            emit_cstr(b, secrets[i]);
            strbuf_puts(b, ", ");
        }
        strbuf_puts(b, "};\n");
    }

    /* the integrations its steps call: a user's run needs a connection to each */
    int nused = 0;
    for (int i = 0; i < p->nintegrations; i++) nused += es->integ_used && es->integ_used[i];
    if (nused) {
        strbuf_puts(b, "static const rt_integration *const INTEGRATIONS[] = { ");
        for (int i = 0; i < p->nintegrations; i++)
            if (es->integ_used[i]) strbuf_printf(b, "&I_%s, ", p->integrations[i]->name);
        strbuf_puts(b, "};\n");
    }

    static const char *const trig[] = { "RT_TRIG_EVENT", "RT_TRIG_EVENT", "RT_TRIG_REQUEST",
                                        "RT_TRIG_SCHEDULE", "RT_TRIG_ENABLED" };
    const ast_trigger *t = m->ntriggers ? m->triggers[0] : NULL;
    strbuf_printf(b, "\nconst rt_workflow %s = {\n    .name = ", symbol);
    emit_cstr_or_null(b, m->workflow);
    strbuf_puts(b, ",\n    .description = ");
    emit_cstr_or_null(b, m->description);
    strbuf_puts(b, ",\n    .version = ");
    emit_cstr(b, version);
    strbuf_printf(b, ",\n    .trigger = %s,\n    .event = ", trig[t ? t->kind : 0]);
    emit_cstr_or_null(b, t ? t->event : NULL);
    strbuf_puts(b, ",\n    .trigger_schema = ");
    emit_type_ref(es, b, t ? t->schema : NULL);
    strbuf_puts(b, ",\n    .cron = ");
    emit_cstr_or_null(b, t ? t->cron : NULL);
    strbuf_puts(b, ",\n    .zone = ");
    emit_cstr_or_null(b, t ? t->zone : NULL);
    strbuf_printf(b, ",\n    .settings = %s, .nsettings = %d,\n", m->nsettings ? "SETTINGS" : "NULL", m->nsettings);
    strbuf_printf(b, "    .secrets = %s, .nsecrets = %d,\n", ns ? "SECRETS" : "NULL", ns);
    strbuf_printf(b, "    .integrations = %s, .nintegrations = %d,\n", nused ? "INTEGRATIONS" : "NULL", nused);
    strbuf_puts(b, "    .output_type = ");
    emit_type_ref(es, b, p->output_type);
    strbuf_printf(b, ",\n    .body = wf_body,\n    .slots = %d,\n    .source_path = ", nslots);
    emit_cstr(b, m->path);
    strbuf_puts(b, ",\n};\n\n");
}

void emit_version(ast_program *prog, char out[17])
{
    uint64_t h = 14695981039346656037ull;
    static const char salt[] = "flowc-0.1";
    for (const char *p = salt; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (int i = 0; i < prog->nfiles; i++) {
        const diag_file *f = prog->diag->files[prog->files[i]->file_id];
        for (int k = 0; k < f->len; k++) h = (h ^ (unsigned char)f->text[k]) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

/* symbol: the C name of the workflow's descriptor; with_main: the unit
** is the whole program (a project of one), else one of a project's. */
static void emit_unit(ast_program *prog, strbuf *out, const char *version, const char *symbol, bool with_main)
{
    strbuf hoisted = { 0 };
    int nhoisted = 0, nslots = 0;
    emit_types types = { 0 };
    emit_state es = { .prog = prog, .a = &prog->arena, .hoisted = &hoisted, .hoist_prefix = "X", .nhoisted = &nhoisted,
                      .types = &types, .nslots = &nslots };
    es.integ_used = arena_alloc(es.a, sizeof *es.integ_used * (size_t)(prog->nintegrations + 1));
    memset(es.integ_used, 0, sizeof *es.integ_used * (size_t)(prog->nintegrations + 1));
    strbuf body = { 0 };

    strbuf_puts(&es.protos, "static int wf_body(rt_ctx *c);\n");
    emit_integrations(&es);
    emit_actions(&es);
    strbuf_puts(&body, "static int wf_body(rt_ctx *c)\n{\n");
    emit_block(&es, &body, prog->main->body, 1);
    strbuf_puts(&body, "    return rt_return(c, rt_null());\n}\n\n");
    emit_workflow(&es, version, symbol, nslots);

    strbuf_puts(out, "/* Generated by flowc from ");
    strbuf_puts(out, prog->main->path);
    strbuf_puts(out, ": do not edit. */\n#include <flowrt.h>\n\n");
    strbuf_puts(out, "#line 1 \"flowc-generated.c\"\n");
    strbuf_append(out, es.protos.data ? es.protos.data : "", es.protos.len);
    strbuf_putc(out, '\n');
    strbuf_append(out, types.defs.data ? types.defs.data : "", types.defs.len);
    if (types.defs.len) strbuf_putc(out, '\n');
    strbuf_append(out, es.descs.data ? es.descs.data : "", es.descs.len);
    strbuf_append(out, hoisted.data ? hoisted.data : "", hoisted.len);
    strbuf_append(out, es.defs.data ? es.defs.data : "", es.defs.len);
    strbuf_append(out, body.data, body.len);
    if (with_main)
        strbuf_printf(out, "int main(int argc, char **argv)\n{\n    return rt_main(&%s, argc, argv);\n}\n", symbol);
    strbuf_free(&es.protos);
    strbuf_free(&es.descs);
    strbuf_free(&es.defs);
    strbuf_free(&hoisted);
    strbuf_free(&body);
    types_free(&types);
}

void emit_program(ast_program *prog, strbuf *out, const char *version)
{
    emit_unit(prog, out, version, "FLOW_WORKFLOW", true);
}

void emit_program_unit(ast_program *prog, strbuf *out, const char *version, const char *symbol)
{
    emit_unit(prog, out, version, symbol, false);
}

void emit_project(strbuf *out, const char *name, const char *const *symbols, int n)
{
    strbuf_puts(out, "/* Generated by flowc: the project table. */\n#include <flowrt.h>\n\n");
    for (int i = 0; i < n; i++) strbuf_printf(out, "extern const rt_workflow %s;\n", symbols[i]);
    strbuf_puts(out, "static const rt_workflow *const WORKFLOWS[] = {\n");
    for (int i = 0; i < n; i++) strbuf_printf(out, "    &%s,\n", symbols[i]);
    strbuf_puts(out, "};\nstatic const rt_project PROJECT = {\n    .name = ");
    emit_cstr(out, name);
    strbuf_printf(out, ",\n    .workflows = WORKFLOWS, .nworkflows = %d,\n};\n\n", n);
    strbuf_puts(out, "int main(int argc, char **argv)\n{\n    return rt_project_main(&PROJECT, argc, argv);\n}\n");
}

/* ---- for emit_test.c ----------------------------------------------------- */

void emit_c_expr(ast_program *prog, strbuf *b, strbuf *hoisted, int *nhoisted, const ast_expr *e)
{
    emit_state es = { .prog = prog, .a = &prog->arena, .hoisted = hoisted, .hoist_prefix = "XT",
                      .nhoisted = nhoisted };
    emit_expr(&es, b, e);
}

void emit_c_string(strbuf *b, const char *s)
{
    emit_cstr(b, s);
}

void emit_c_function(const ast_program *prog, strbuf *b, const ast_step *s)
{
    emit_function_user(prog, b, s);
}
