/*
** ast.c — AST constructors called by the grammar, syntax error wording,
** the --dump-ast printer and type formatting.
**
** Constructors do the checks that need no context beyond the node being
** built (HTTP methods, duplicate clauses, literal ranges, expression depth);
** everything that needs scopes or types is check.c's.
*/
#include "ast_build.h"
#include "check.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

ast_type ast_type_error = { .kind = TY_ERROR };
ast_type ast_type_null = { .kind = TY_NULL };
ast_type ast_type_string = { .kind = TY_STRING };
ast_type ast_type_int = { .kind = TY_INT };
ast_type ast_type_float = { .kind = TY_FLOAT };
ast_type ast_type_bool = { .kind = TY_BOOL };
ast_type ast_type_json = { .kind = TY_JSON };
ast_type ast_type_duration = { .kind = TY_DURATION };

void ast_program_init(ast_program *prog, diag_ctx *diag)
{
    memset(prog, 0, sizeof *prog);
    arena_init(&prog->arena);
    prog->diag = diag;
}

void ast_program_free(ast_program *prog)
{
    arena_free(&prog->arena);
    memset(prog, 0, sizeof *prog);
}

/* ---- syntax errors ------------------------------------------------------ */

void ast_report_bad_char(parse_ctx *ctx, src_loc loc, const char *bytes, int n)
{
    const unsigned char *b = (const unsigned char *)bytes;
    const char *hint = "";
    if (n == 2 && b[0] == '&' && b[1] == '&') hint = " (use 'and')";
    else if (n == 2 && b[0] == '|' && b[1] == '|') hint = " (use 'or')";
    else if (n == 1 && b[0] == '!') hint = " (use 'not', or '!=' to compare)";
    else if (n == 1 && b[0] == '\'') hint = " (strings are written in double quotes)";
    else if (n == 1 && b[0] == ';') hint = " (statements need no ';')";
    if (n >= 2 && b[0] >= 0xC2)
        diag_error(ctx->diag, loc, "unexpected character '%.*s'", n, bytes);
    else if (n == 2)
        diag_error(ctx->diag, loc, "unexpected '%.*s'%s", n, bytes, hint);
    else if (b[0] >= 0x21 && b[0] < 0x7f)
        diag_error(ctx->diag, loc, "unexpected character '%c'%s", b[0], hint);
    else
        diag_error(ctx->diag, loc, "unexpected byte 0x%02x", b[0]);
}

void ast_syntax_error(parse_ctx *ctx, src_loc loc, const char *msg)
{
    /* after a fatal lexer error the rest is a consequence of it */
    if (ctx->fatal) return;
    ast_syntax_flush(ctx);
    /* an unknown character was reported by the lexer, better than bison can */
    if (ctx->la_bad) return;
    ctx->pending = true;
    ctx->pending_loc = loc;
    if (ctx->la_eof) {
        /* point just after the last token, not at an empty last line */
        ctx->pending_loc.start = ctx->pending_loc.end = ctx->last_end;
        if (ctx->nframes > 0) {
            lex_frame *f = &ctx->frames[ctx->nframes - 1];
            char pos[32];
            diag_format_pos(ctx->diag, f->loc, pos, sizeof pos);
            if (f->kind) {
                snprintf(ctx->pending_msg, sizeof ctx->pending_msg,
                         "unterminated %s opened at %s", f->kind, pos);
            } else {
                char close = f->open == '(' ? ')' : f->open == '[' ? ']' : '}';
                snprintf(ctx->pending_msg, sizeof ctx->pending_msg,
                         "missing '%c' to close the '%c' opened at %s", close, f->open, pos);
            }
            return;
        }
    }
    /* the mistakes behind two bare "unexpected" messages */
    static const char *const chained[] = {
        "syntax error, unexpected '<'", "syntax error, unexpected '<='",
        "syntax error, unexpected '>'", "syntax error, unexpected '>='",
        "syntax error, unexpected '=='", "syntax error, unexpected '!='",
    };
    const char *hint = "";
    char kw_hint[64];
    if (strcmp(msg, "syntax error, unexpected '='") == 0) hint = " (use '==' to compare)";
    if (strncmp(msg, "syntax error, unexpected identifier", 35) == 0 && loc.end > loc.start && loc.end - loc.start < 32) {
        /* a misspelt keyword reads as a name: `setings {`, `step a = requst GET` */
        static const char *const words[] = {
            "workflow", "import", "settings", "secrets", "trigger", "integration", "action", "step", "request",
            "function", "fanout", "concurrency", "return", "wait", "until", "fail", "log", "else", "test", "let",
            "headers", "query", "json", "form", "body", "returns", "accept", "paginate", "timeout", "retry",
            "backoff", "on", "failure", "continue",
        };
        char word[32];
        memcpy(word, ctx->text + loc.start, (size_t)(loc.end - loc.start));
        word[loc.end - loc.start] = 0;
        const char *near = chk_did_you_mean(word, words, (int)(sizeof words / sizeof *words));
        if (near) {
            snprintf(kw_hint, sizeof kw_hint, " (did you mean '%s'?)", near);
            hint = kw_hint;
        }
    }
    for (size_t i = 0; i < sizeof chained / sizeof *chained; i++)
        if (strcmp(msg, chained[i]) == 0) hint = " (comparisons do not chain: write 'a < b and b < c')";
    snprintf(ctx->pending_msg, sizeof ctx->pending_msg, "%s%s", msg, hint);
}

void ast_syntax_hint_after(parse_ctx *ctx, int after, const char *fmt, ...)
{
    if (!ctx->pending || ctx->before_tok != after || ctx->la_bad || ctx->la_eof) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->pending_msg, sizeof ctx->pending_msg, fmt, ap);
    va_end(ap);
}

void ast_syntax_hint_missing(parse_ctx *ctx, int tok, const char *msg)
{
    /* the lookahead was the token itself: the mistake is elsewhere */
    if (!ctx->pending || ctx->prev_tok == tok || ctx->la_bad || ctx->la_eof) return;
    snprintf(ctx->pending_msg, sizeof ctx->pending_msg, "%s", msg);
}

void ast_syntax_hint_comma(parse_ctx *ctx, char close, const char *what)
{
    if (!ctx->pending || ctx->la_bad || ctx->la_eof) return;
    char tail[32];
    snprintf(tail, sizeof tail, ", expecting '%c'", close);
    size_t n = strlen(ctx->pending_msg), t = strlen(tail);
    if (n < t || strcmp(ctx->pending_msg + n - t, tail) != 0) return;
    if (strncmp(ctx->pending_msg, "syntax error, unexpected ','", 28) == 0) return;
    snprintf(ctx->pending_msg, sizeof ctx->pending_msg, "missing ',' between %s", what);
}

void ast_syntax_hint_name(parse_ctx *ctx, const char *what)
{
    if (!ctx->pending || !ctx->la_keyword || !ctx->la_text) return;
    snprintf(ctx->pending_msg, sizeof ctx->pending_msg,
             "'%s' is a reserved word and cannot be used as a %s", ctx->la_text, what);
}

void ast_syntax_flush(parse_ctx *ctx)
{
    if (!ctx->pending) return;
    ctx->pending = false;
    diag_error(ctx->diag, ctx->pending_loc, "%s", ctx->pending_msg);
}

/* ---- helpers ------------------------------------------------------------ */

static src_loc loc_span(src_loc a, src_loc b)
{
    src_loc l = a;
    if (b.end > l.end) l.end = b.end;
    return l;
}

/* The value of a string literal used as a name or path; interpolation is
** not allowed there. NULL expression (after an error): "". */
static const char *str_value(parse_ctx *ctx, ast_expr *e, const char *what)
{
    if (!e) return "";
    if (e->kind == EX_STRING) return e->sval;
    if (e->kind == EX_INTERP)
        diag_error(ctx->diag, e->loc, "%s cannot contain {{ }} interpolation", what);
    return "";
}

static const char *const http_methods[] = {
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
};

/* Upper-case method name, or reports an unknown one (and returns it as is). */
static const char *http_method(parse_ctx *ctx, const char *m, src_loc loc)
{
    char up[16];
    size_t n = strlen(m);
    if (n < sizeof up) {
        for (size_t i = 0; i <= n; i++) up[i] = (char)toupper((unsigned char)m[i]);
        for (size_t i = 0; i < sizeof http_methods / sizeof *http_methods; i++) {
            if (strcmp(up, http_methods[i]) != 0) continue;
            if (strcmp(m, up) != 0)
                diag_error(ctx->diag, loc, "HTTP method '%s' must be upper-case: '%s'", m, up);
            return http_methods[i];
        }
    }
    diag_error(ctx->diag, loc,
               "unknown HTTP method '%s' (expected GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)", m);
    return arena_strdup(ctx->a, m);
}

static void *list_items(parse_ctx *ctx, ptrvec *l, int *n)
{
    (void)ctx;
    *n = l ? l->len : 0;
    return l && l->len ? l->items : NULL;
}

/* ---- lists ---------------------------------------------------------------- */

ptrvec *ast_list_new(parse_ctx *ctx)
{
    return arena_alloc(ctx->a, sizeof(ptrvec));
}

ptrvec *ast_list_push(parse_ctx *ctx, ptrvec *list, void *item)
{
    if (item) ptrvec_push(ctx->a, list, item);
    return list;
}

/* A field list whose commas may be left out between fields on separate
** lines (settings, schemas, secrets): it remembers where the last field
** ended when no comma followed it. */
typedef struct field_list {
    ptrvec v;                   /* first: the list is used as a ptrvec */
    src_loc bare;               /* the last field, when no comma followed it */
    bool has_bare;
} field_list;

ptrvec *ast_fields_new(parse_ctx *ctx)
{
    field_list *l = arena_alloc(ctx->a, sizeof *l);
    return &l->v;
}

ptrvec *ast_fields_push(parse_ctx *ctx, ptrvec *list, void *item, src_loc loc, bool comma)
{
    field_list *l = (field_list *)list;
    if (item && l->has_bare && l->bare.file == loc.file) {
        const char *text = ctx->diag->files[loc.file]->text;
        bool newline = false;
        for (int i = l->bare.end; i < loc.start && !newline; i++) newline = text[i] == '\n';
        if (!newline) diag_error(ctx->diag, loc, "expected ',' before this field (a comma may be left out only between fields on separate lines)");
    }
    l->bare = loc;
    l->has_bare = item && !comma;
    return ast_list_push(ctx, list, item);
}

ptrvec *ast_list_one(parse_ctx *ctx, void *item)
{
    return ast_list_push(ctx, ast_list_new(ctx), item);
}

/* ---- expressions ---------------------------------------------------------- */

static ast_expr *expr_new(parse_ctx *ctx, ast_expr_kind kind, src_loc loc)
{
    ast_expr *e = arena_alloc(ctx->a, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

/* Depth of a new node over its children; past the limit it is reported
** once per file, and the caller keeps the deepest child instead, so that
** no tree ever gets deeper than the limit (the checker recurses on it). */
static bool expr_too_deep(parse_ctx *ctx, int depth, src_loc at)
{
    if (depth <= AST_EXPR_DEPTH_LIMIT) return false;
    if (!ctx->expr_depth_reported)
        diag_error(ctx->diag, at, "expression nested too deeply (limit %d)", AST_EXPR_DEPTH_LIMIT);
    ctx->expr_depth_reported = true;
    return true;
}

static int max_depth(ast_expr *const *items, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++)
        if (items[i] && items[i]->depth > d) d = items[i]->depth;
    return d;
}

ast_expr *ast_expr_null(parse_ctx *ctx, src_loc loc)
{
    return expr_new(ctx, EX_NULL, loc);
}

ast_expr *ast_expr_bool(parse_ctx *ctx, bool v, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_BOOL, loc);
    e->bval = v;
    return e;
}

ast_expr *ast_expr_int(parse_ctx *ctx, int64_t v, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_INT, loc);
    e->ival = v;
    return e;
}

ast_expr *ast_expr_float(parse_ctx *ctx, double v, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_FLOAT, loc);
    e->fval = v;
    return e;
}

ast_expr *ast_expr_duration(parse_ctx *ctx, int64_t ms, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_DURATION, loc);
    e->ival = ms < 0 ? 0 : ms;      /* < 0: an invalid literal, already reported */
    return e;
}

ast_expr *ast_expr_string(parse_ctx *ctx, const char *s, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_STRING, loc);
    e->sval = s;
    return e;
}

ast_expr *ast_expr_string_parts(parse_ctx *ctx, ptrvec *parts, src_loc loc)
{
    int n = parts->len;
    ast_expr **items = (ast_expr **)parts->items;
    if (n == 0) return ast_expr_string(ctx, "", loc);
    if (n == 1 && items[0]->kind == EX_STRING) {
        items[0]->loc = loc;
        return items[0];
    }
    int depth = max_depth(items, n) + 1;
    if (expr_too_deep(ctx, depth, loc)) return ast_expr_string(ctx, "", loc);
    ast_expr *e = expr_new(ctx, EX_INTERP, loc);
    e->items = items;
    e->nitems = n;
    e->depth = depth;
    return e;
}

ast_expr *ast_expr_name(parse_ctx *ctx, const char *name, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_NAME, loc);
    e->name = name;
    return e;
}

ast_expr *ast_expr_field(parse_ctx *ctx, ast_expr *base, const char *name,
                         src_loc name_loc, src_loc loc)
{
    if (expr_too_deep(ctx, base->depth + 1, name_loc)) return base;
    ast_expr *e = expr_new(ctx, EX_FIELD, loc);
    e->a = base;
    e->name = name;
    e->name_loc = name_loc;
    e->depth = base->depth + 1;
    return e;
}

ast_expr *ast_expr_index(parse_ctx *ctx, ast_expr *base, ast_expr *index, src_loc loc)
{
    int depth = (base->depth > index->depth ? base->depth : index->depth) + 1;
    if (expr_too_deep(ctx, depth, index->loc)) return base->depth >= index->depth ? base : index;
    ast_expr *e = expr_new(ctx, EX_INDEX, loc);
    e->a = base;
    e->b = index;
    e->depth = depth;
    return e;
}

ast_expr *ast_expr_call(parse_ctx *ctx, const char *name, ptrvec *args, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_CALL, loc);
    e->name = name;
    e->items = list_items(ctx, args, &e->nitems);
    e->depth = max_depth(e->items, e->nitems) + 1;
    if (expr_too_deep(ctx, e->depth, loc)) {
        e->items = NULL;
        e->nitems = 0;
        e->depth = 1;
    }
    return e;
}

ast_expr *ast_expr_list(parse_ctx *ctx, ptrvec *items, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_LIST, loc);
    e->items = list_items(ctx, items, &e->nitems);
    e->depth = max_depth(e->items, e->nitems) + 1;
    if (expr_too_deep(ctx, e->depth, loc)) {
        e->items = NULL;
        e->nitems = 0;
        e->depth = 1;
    }
    return e;
}

ast_member *ast_member_new(parse_ctx *ctx, const char *key, src_loc key_loc, ast_expr *value)
{
    ast_member *m = arena_alloc(ctx->a, sizeof *m);
    m->key = key;
    m->key_loc = key_loc;
    m->value = value;
    return m;
}

ast_member *ast_member_str(parse_ctx *ctx, ast_expr *key, ast_expr *value)
{
    return ast_member_new(ctx, str_value(ctx, key, "an object key"), key->loc, value);
}

ast_expr *ast_expr_object(parse_ctx *ctx, ptrvec *members, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_OBJECT, loc);
    int n = members->len;
    e->nitems = n;
    if (n) {
        e->items = arena_alloc(ctx->a, sizeof *e->items * (size_t)n);
        e->keys = arena_alloc(ctx->a, sizeof *e->keys * (size_t)n);
        e->key_locs = arena_alloc(ctx->a, sizeof *e->key_locs * (size_t)n);
    }
    for (int i = 0; i < n; i++) {
        ast_member *m = members->items[i];
        e->keys[i] = m->key;
        e->key_locs[i] = m->key_loc;
        e->items[i] = m->value;
    }
    e->depth = max_depth(e->items, n) + 1;
    if (expr_too_deep(ctx, e->depth, loc)) {
        e->nitems = 0;
        e->depth = 1;
    }
    return e;
}

ast_expr *ast_expr_unary(parse_ctx *ctx, ast_op op, ast_expr *a, src_loc loc)
{
    if (op == OP_NEG && (a->kind == EX_INT || a->kind == EX_FLOAT)) {
        /* a literal's value is at most INT64_MAX: negating never overflows */
        if (a->kind == EX_INT) a->ival = -a->ival;
        else a->fval = -a->fval;
        a->loc = loc;
        return a;
    }
    if (expr_too_deep(ctx, a->depth + 1, loc)) return a;
    ast_expr *e = expr_new(ctx, EX_UNARY, loc);
    e->op = op;
    e->a = a;
    e->depth = a->depth + 1;
    return e;
}

ast_expr *ast_expr_binary(parse_ctx *ctx, ast_op op, ast_expr *a, ast_expr *b, src_loc loc)
{
    int depth = (a->depth > b->depth ? a->depth : b->depth) + 1;
    if (expr_too_deep(ctx, depth, b->loc)) return a->depth >= b->depth ? a : b;
    ast_expr *e = expr_new(ctx, EX_BINARY, loc);
    e->op = op;
    e->a = a;
    e->b = b;
    e->depth = depth;
    return e;
}

ast_expr *ast_expr_cond(parse_ctx *ctx, ast_expr *cond, ast_expr *a, ast_expr *b, src_loc loc)
{
    ast_expr *items[3] = { cond, a, b };
    int depth = max_depth(items, 3) + 1;
    if (expr_too_deep(ctx, depth, loc)) return a;
    ast_expr *e = expr_new(ctx, EX_COND, loc);
    e->items = arena_alloc(ctx->a, sizeof *e->items * 3);
    for (int i = 0; i < 3; i++) e->items[i] = items[i];
    e->nitems = 3;
    e->depth = depth;
    return e;
}

ast_expr *ast_expr_error(parse_ctx *ctx, src_loc loc)
{
    ast_expr *e = expr_new(ctx, EX_NULL, loc);
    e->type = &ast_type_error;
    return e;
}

/* ---- types ---------------------------------------------------------------- */

static ast_type *type_new(parse_ctx *ctx, ast_type_kind kind, src_loc loc)
{
    ast_type *t = arena_alloc(ctx->a, sizeof *t);
    t->kind = kind;
    t->loc = loc;
    return t;
}

ast_type *ast_type_named(parse_ctx *ctx, const char *name, src_loc loc)
{
    static const struct { const char *name; ast_type_kind kind; } prims[] = {
        { "string", TY_STRING }, { "int", TY_INT }, { "float", TY_FLOAT },
        { "bool", TY_BOOL }, { "json", TY_JSON },
    };
    /* names people carry over from other languages */
    static const struct { const char *name, *hint; } aliases[] = {
        { "str", "string" }, { "text", "string" }, { "integer", "int" }, { "long", "int" },
        { "number", "float" }, { "double", "float" }, { "boolean", "bool" },
        { "object", "json" }, { "any", "json" }, { "dict", "json" }, { "map", "json" },
        { "strng", "string" }, { "sting", "string" }, { "flaot", "float" }, { "boll", "bool" },
    };
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
        if (strcmp(name, prims[i].name) == 0) return type_new(ctx, prims[i].kind, loc);
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        if (strcmp(name, aliases[i].name) == 0) {
            diag_error(ctx->diag, loc, "unknown type '%s' (did you mean '%s'?)", name, aliases[i].hint);
            return type_new(ctx, TY_ERROR, loc);
        }
    }
    if (strcmp(name, "list") == 0 || strcmp(name, "array") == 0)
        diag_error(ctx->diag, loc, "unknown type '%s' (a list of T is written [T])", name);
    else
        diag_error(ctx->diag, loc, "unknown type '%s' (types are string, int, float, bool, json, [T], { f: T } and T?)",
                   name);
    return type_new(ctx, TY_ERROR, loc);
}

ast_type *ast_type_list(parse_ctx *ctx, ast_type *elem, src_loc loc)
{
    ast_type *t = type_new(ctx, TY_LIST, loc);
    t->elem = elem;
    return t;
}

ast_type *ast_type_object(parse_ctx *ctx, ptrvec *fields, src_loc loc)
{
    ast_type *t = type_new(ctx, TY_OBJECT, loc);
    t->fields = list_items(ctx, fields, &t->nfields);
    return t;
}

ast_type *ast_type_optional(parse_ctx *ctx, ast_type *elem, src_loc loc)
{
    if (elem->kind == TY_OPTIONAL) return elem;     /* T?? is T? */
    ast_type *t = type_new(ctx, TY_OPTIONAL, loc);
    t->elem = elem;
    return t;
}

ast_field *ast_field_new(parse_ctx *ctx, const char *name, src_loc loc,
                         ast_type *type, ast_expr *deflt)
{
    ast_field *f = arena_alloc(ctx->a, sizeof *f);
    f->name = name;
    f->loc = loc;
    f->type = type;
    f->deflt = deflt;
    return f;
}

ast_arg *ast_arg_new(parse_ctx *ctx, const char *name, src_loc loc, ast_expr *value)
{
    ast_arg *a = arena_alloc(ctx->a, sizeof *a);
    a->name = name;
    a->loc = loc;
    a->value = value;
    return a;
}

/* ---- steps ----------------------------------------------------------------- */

static ast_step *step_new(parse_ctx *ctx, ast_step_kind kind, src_loc loc)
{
    ast_step *s = arena_alloc(ctx->a, sizeof *s);
    s->kind = kind;
    s->loc = loc;
    s->retries = -1;
    return s;
}

ast_step *ast_step_request(parse_ctx *ctx, const char *method, src_loc method_loc,
                           ast_expr *url, src_loc loc)
{
    ast_step *s = step_new(ctx, STEP_REQUEST, loc);
    s->req = arena_alloc(ctx->a, sizeof *s->req);
    s->req->method = http_method(ctx, method, method_loc);
    s->req->method_loc = method_loc;
    s->req->url = url;
    return s;
}

ast_step *ast_step_action(parse_ctx *ctx, const char *integ, src_loc integ_loc,
                          const char *op, src_loc op_loc, ptrvec *args)
{
    src_loc loc = loc_span(integ_loc, op_loc);
    ast_step *s = step_new(ctx, STEP_ACTION, loc);
    s->integ = integ;
    s->op = op;
    s->call_loc = loc;
    s->args = list_items(ctx, args, &s->nargs);
    return s;
}

ast_step *ast_step_function(parse_ctx *ctx, ptrvec *params, ast_type *out,
                            const char *c_code, src_loc c_loc, src_loc loc)
{
    ast_step *s = step_new(ctx, STEP_FUNCTION, loc);
    s->params = list_items(ctx, params, &s->nparams);
    s->out_type = out;
    s->c_code = c_code;
    s->c_loc = c_loc;
    return s;
}

ast_step *ast_step_fanout(parse_ctx *ctx, const char *var, src_loc var_loc,
                          ast_expr *list, int64_t concurrency, src_loc conc_loc,
                          ast_block *body, src_loc loc)
{
    ast_step *s = step_new(ctx, STEP_FANOUT, loc);
    s->var = var;
    s->var_loc = var_loc;
    s->list = list;
    s->body = body;
    if (concurrency == 0 || concurrency > 10000) {
        diag_error(ctx->diag, conc_loc, "concurrency must be between 1 and 10000");
        concurrency = -1;
    }
    s->concurrency = concurrency < 0 ? 0 : concurrency;
    return s;
}

ast_step *ast_step_named(parse_ctx *ctx, const char *name, src_loc name_loc,
                         ast_step *step, src_loc loc)
{
    (void)ctx;
    if (!step) return NULL;
    step->name = name;
    step->name_loc = name_loc;
    step->loc = loc_span(loc, name_loc);
    return step;
}

static const char *const clause_names[] = {
    [CL_HEADERS] = "headers", [CL_QUERY] = "query", [CL_JSON] = "json",
    [CL_FORM] = "form", [CL_BODY] = "body", [CL_RETURNS] = "returns",
    [CL_ACCEPT] = "accept", [CL_FAIL_WHEN] = "fail when", [CL_PAGINATE] = "paginate",
    [CL_TIMEOUT] = "timeout", [CL_RETRY] = "retry", [CL_CONTINUE] = "on failure continue",
    [CL_MAX] = "max",
};

/* True when the clause may be applied; reports misplaced and repeated ones. */
static bool clause_allowed(parse_ctx *ctx, ast_step *s, ast_clause *cl)
{
    const char *name = clause_names[cl->kind];
    bool request_only = cl->kind <= CL_PAGINATE;
    if (request_only && s->kind != STEP_REQUEST) {
        diag_error(ctx->diag, cl->loc, "'%s' is only allowed on request steps", name);
        return false;
    }
    ast_request *r = s->req;
    bool seen = false;
    switch (cl->kind) {
    case CL_HEADERS:   seen = r->headers != NULL; break;
    case CL_QUERY:     seen = r->query != NULL; break;
    case CL_JSON:      seen = r->json != NULL; break;
    case CL_FORM:      seen = r->form != NULL; break;
    case CL_BODY:      seen = r->body != NULL; break;
    case CL_RETURNS:   seen = r->returns != NULL; break;
    case CL_ACCEPT:    seen = r->naccept > 0; break;
    case CL_FAIL_WHEN: seen = r->fail_when != NULL; break;
    case CL_PAGINATE:  seen = r->paginate != PAGE_NONE; break;
    case CL_TIMEOUT:   seen = s->timeout_ms != 0; break;
    case CL_RETRY:     seen = s->retries != -1; break;
    case CL_CONTINUE:  seen = s->continue_on_failure; break;
    case CL_MAX:
        if (s->kind != STEP_REQUEST && s->kind != STEP_ACTION) {
            diag_error(ctx->diag, cl->loc, "'max' is only allowed on paginated requests and action calls");
            return false;
        }
        seen = s->kind == STEP_REQUEST ? r->page_max != 0 : s->call_max != 0;
        break;
    }
    if (seen) {
        diag_error(ctx->diag, cl->loc, "duplicate '%s' clause", name);
        return false;
    }
    if (cl->kind == CL_JSON || cl->kind == CL_FORM || cl->kind == CL_BODY) {
        const char *other = r->json ? "json" : r->form ? "form" : r->body ? "body" : NULL;
        if (other) {
            diag_error(ctx->diag, cl->loc, "'%s' and '%s' both set the request body: use one", other, name);
            return false;
        }
    }
    return true;
}

ast_step *ast_step_clause(parse_ctx *ctx, ast_step *s, ast_clause *cl)
{
    if (!s || !cl || !clause_allowed(ctx, s, cl)) return s;
    ast_request *r = s->req;
    ast_clause **clauses = arena_alloc(ctx->a, sizeof *clauses * (size_t)(s->nclauses + 1));
    if (s->nclauses) memcpy(clauses, s->clauses, sizeof *clauses * (size_t)s->nclauses);
    clauses[s->nclauses++] = cl;
    s->clauses = clauses;
    switch (cl->kind) {
    case CL_HEADERS:   r->headers = cl->expr; break;
    case CL_QUERY:     r->query = cl->expr; break;
    case CL_JSON:      r->json = cl->expr; break;
    case CL_FORM:      r->form = cl->expr; break;
    case CL_BODY:      r->body = cl->expr; break;
    case CL_RETURNS:   r->returns = cl->type; r->returns_loc = cl->loc; break;
    case CL_FAIL_WHEN: r->fail_when = cl->expr; break;
    case CL_ACCEPT:
        r->naccept = cl->list->len;
        r->accept = arena_alloc(ctx->a, sizeof *r->accept * (size_t)r->naccept);
        for (int i = 0; i < r->naccept; i++) r->accept[i] = *(ast_status_match *)cl->list->items[i];
        break;
    case CL_PAGINATE:
        r->paginate = cl->page;
        r->paginate_loc = cl->loc;
        r->page_items = (const char **)list_items(ctx, cl->list, &r->npage_items);
        r->page_cursor = cl->expr;
        r->page_target = cl->target ? cl->target->target : TARGET_URL;
        r->page_param = cl->target ? cl->target->name : NULL;
        r->page_max = cl->n;
        break;
    case CL_TIMEOUT:   s->timeout_ms = cl->n; break;
    case CL_RETRY:
        s->retries = (int)cl->n;
        s->backoff_ms = cl->backoff_ms;
        s->max_backoff_ms = cl->max_ms;
        break;
    case CL_CONTINUE:  s->continue_on_failure = true; break;
    case CL_MAX:
        if (s->kind == STEP_REQUEST) {
            r->page_max = cl->n;
        } else {
            s->call_max = cl->n;
            s->call_max_loc = cl->loc;
        }
        break;
    }
    return s;
}

static ast_clause *clause_new(parse_ctx *ctx, ast_clause_kind kind, src_loc loc)
{
    ast_clause *c = arena_alloc(ctx->a, sizeof *c);
    c->kind = kind;
    c->loc = loc;
    return c;
}

ast_clause *ast_clause_expr(parse_ctx *ctx, ast_clause_kind kind, ast_expr *e, src_loc loc)
{
    if (kind == CL_FAIL_WHEN) loc.end = loc.start + 4;     /* underline `fail` */
    ast_clause *c = clause_new(ctx, kind, loc);
    c->expr = e;
    return c;
}

ast_clause *ast_clause_returns(parse_ctx *ctx, ast_type *t, src_loc loc)
{
    ast_clause *c = clause_new(ctx, CL_RETURNS, loc);
    c->type = t;
    return c;
}

ast_clause *ast_clause_accept(parse_ctx *ctx, ptrvec *statuses, src_loc loc)
{
    ast_clause *c = clause_new(ctx, CL_ACCEPT, loc);
    c->list = statuses;
    return c;
}

ast_status_match *ast_status(parse_ctx *ctx, int64_t code, bool is_class, src_loc loc)
{
    ast_status_match *m = arena_alloc(ctx->a, sizeof *m);
    m->code = (int)(code < 0 || code > 999 ? 0 : code);
    m->is_class = is_class;
    m->loc = loc;
    return m;
}

ast_clause *ast_clause_max(parse_ctx *ctx, int64_t n, src_loc n_loc, src_loc loc)
{
    ast_clause *c = clause_new(ctx, CL_MAX, loc_span(loc, n_loc));
    if (n == 0) diag_error(ctx->diag, n_loc, "'max' must be at least 1 page");
    c->n = n < 1 ? 1 : n;
    return c;
}

ast_clause *ast_clause_paginate(parse_ctx *ctx, ptrvec *path, ast_paginate_kind kind,
                                ast_expr *cursor, ast_page_ref *target, int64_t max,
                                src_loc max_loc, src_loc loc)
{
    ast_clause *c = clause_new(ctx, CL_PAGINATE, loc);
    c->list = path;
    c->page = kind;
    c->expr = cursor;
    c->target = target;
    if (kind == PAGE_PAGE && target && target->target == TARGET_URL) {
        diag_error(ctx->diag, target->loc, "a page number goes in query.NAME or json.NAME, not in the url");
        target->target = TARGET_QUERY;
        target->name = "page";
    }
    if (max == 0) diag_error(ctx->diag, max_loc, "'max' must be at least 1 page");
    c->n = max < 0 ? 0 : max;
    return c;
}

ast_page_ref *ast_page_ref_new(parse_ctx *ctx, ast_page_target target, const char *name,
                               src_loc loc)
{
    ast_page_ref *p = arena_alloc(ctx->a, sizeof *p);
    p->target = target;
    p->name = name;
    p->loc = loc;
    return p;
}

ast_page_ref *ast_page_ref_word(parse_ctx *ctx, const char *word, src_loc loc)
{
    if (strcmp(word, "url") != 0)
        diag_error(ctx->diag, loc, "unknown paginate target '%s' (expected query.NAME, json.NAME or url)", word);
    return ast_page_ref_new(ctx, TARGET_URL, NULL, loc);
}

ast_clause *ast_clause_timeout(parse_ctx *ctx, int64_t ms, src_loc loc)
{
    if (ms < 0) return NULL;        /* an invalid literal, already reported */
    if (ms == 0) {
        diag_error(ctx->diag, loc, "'timeout' must be longer than 0");
        return NULL;
    }
    ast_clause *c = clause_new(ctx, CL_TIMEOUT, loc);
    c->n = ms;
    return c;
}

ast_clause *ast_clause_retry(parse_ctx *ctx, int64_t n, src_loc n_loc, int64_t backoff_ms,
                             int64_t max_ms, src_loc loc)
{
    if (n > 1000) {
        diag_error(ctx->diag, n_loc, "retry count %" PRId64 " is too large (at most 1000)", n);
        n = 1000;
    }
    ast_clause *c = clause_new(ctx, CL_RETRY, loc);
    c->n = n;
    c->backoff_ms = backoff_ms < 0 ? 0 : backoff_ms;
    c->max_ms = max_ms < 0 ? 0 : max_ms;
    return c;
}

ast_clause *ast_clause_continue(parse_ctx *ctx, src_loc loc)
{
    return clause_new(ctx, CL_CONTINUE, loc);
}

/* ---- statements ------------------------------------------------------------ */

static ast_stmt *stmt_new(parse_ctx *ctx, ast_stmt_kind kind, src_loc loc)
{
    ast_stmt *s = arena_alloc(ctx->a, sizeof *s);
    s->kind = kind;
    s->loc = loc;
    return s;
}

ast_stmt *ast_stmt_step(parse_ctx *ctx, ast_step *step)
{
    if (!step) return NULL;
    ast_stmt *s = stmt_new(ctx, ST_STEP, step->loc);
    s->step = step;
    return s;
}

ast_if_build *ast_if_new(parse_ctx *ctx, ast_expr *cond, ast_block *then, src_loc loc)
{
    ast_if_build *b = arena_alloc(ctx->a, sizeof *b);
    b->stmt = stmt_new(ctx, ST_IF, loc);
    return ast_if_elseif(ctx, b, cond, then);
}

ast_if_build *ast_if_elseif(parse_ctx *ctx, ast_if_build *b, ast_expr *cond, ast_block *then)
{
    ptrvec_push(ctx->a, &b->conds, cond);
    ptrvec_push(ctx->a, &b->thens, then);
    return b;
}

ast_stmt *ast_if_finish(parse_ctx *ctx, ast_if_build *b, ast_block *els)
{
    ast_stmt *s = b->stmt;
    s->conds = list_items(ctx, &b->conds, &s->nbranches);
    s->thens = list_items(ctx, &b->thens, &s->nbranches);
    s->els = els;
    return s;
}

ast_stmt *ast_stmt_expr(parse_ctx *ctx, ast_stmt_kind kind, ast_expr *e, src_loc loc)
{
    ast_stmt *s = stmt_new(ctx, kind, loc);
    s->expr = e;
    return s;
}

ast_stmt *ast_stmt_wait(parse_ctx *ctx, ast_expr *e, bool until, src_loc loc)
{
    ast_stmt *s = stmt_new(ctx, ST_WAIT, loc);
    s->expr = e;
    s->wait_until = until;
    return s;
}

ast_stmt *ast_stmt_reply(parse_ctx *ctx, ast_stmt_kind kind, ast_expr *status, ast_expr *headers,
                         ast_expr *e, src_loc loc)
{
    ast_stmt *s = stmt_new(ctx, kind, loc);
    s->status = status;
    s->headers = headers;
    s->expr = e;
    return s;
}

ast_stmt *ast_stmt_let(parse_ctx *ctx, const char *name, src_loc name_loc, ast_expr *e, src_loc loc)
{
    ast_step *let = step_new(ctx, STEP_LET, loc_span(loc, name_loc));
    let->name = name;
    let->name_loc = name_loc;
    let->value = e;
    ast_stmt *s = stmt_new(ctx, ST_LET, loc);
    s->step = let;
    s->expr = e;
    return s;
}

ast_block *ast_block_new(parse_ctx *ctx, ptrvec *stmts, src_loc loc)
{
    ast_block *b = arena_alloc(ctx->a, sizeof *b);
    b->loc = loc;
    b->stmts = list_items(ctx, stmts, &b->nstmts);
    return b;
}

/* ---- declarations ---------------------------------------------------------- */

/* Records a top-level item in file order; its span is completed by
** ast_top_end once the grammar has reduced the whole item. */
static ast_top *top_record(parse_ctx *ctx, ast_top_kind kind, void *node, src_loc loc)
{
    ast_top *t = arena_alloc(ctx->a, sizeof *t);
    t->kind = kind;
    t->node = node;
    t->span = loc;
    ptrvec_push(ctx->a, &ctx->tops, t);
    ctx->top_open = t;
    return t;
}

/* Every top-level item passes here: a `tests for` file holds only tests. */
static ast_top *top_item(parse_ctx *ctx, ast_top_kind kind, void *node, src_loc loc)
{
    ctx->ntop++;
    if (ctx->file->tests_for && kind != TOP_TEST && !ctx->tests_only_reported) {
        diag_error(ctx->diag, loc, "a 'tests for' file may contain only test blocks");
        ctx->tests_only_reported = true;
    }
    return top_record(ctx, kind, node, loc);
}

void ast_top_end(parse_ctx *ctx, src_loc loc)
{
    ast_top *t = ctx->top_open;
    ctx->top_open = NULL;
    if (!t) return;
    if (loc.start < t->span.start) t->span.start = loc.start;
    if (loc.end > t->span.end) t->span.end = loc.end;
    ptrvec_push(ctx->a, &ctx->tops_whole, t);
    if (t->kind == TOP_STMT) ((ast_stmt *)t->node)->span = t->span;
}

ptrvec *ast_stmts_push(parse_ctx *ctx, ptrvec *list, ast_stmt *st, src_loc loc)
{
    if (st) st->span = loc;
    return ast_list_push(ctx, list, st);
}

void ast_comment(parse_ctx *ctx, src_loc loc)
{
    src_loc *l = arena_alloc(ctx->a, sizeof *l);
    *l = loc;
    ptrvec_push(ctx->a, &ctx->comments, l);
}

void ast_decl_workflow(parse_ctx *ctx, const char *name, src_loc name_loc,
                       ast_expr *desc, src_loc loc)
{
    ast_file *f = ctx->file;
    top_item(ctx, TOP_WORKFLOW, NULL, loc);
    if (f->has_workflow) {
        char pos[32];
        diag_format_pos(ctx->diag, f->workflow_loc, pos, sizeof pos);
        diag_error(ctx->diag, loc, "duplicate 'workflow' declaration (the first is at %s)", pos);
        return;
    }
    bool ok = name[0] >= 'a' && name[0] <= 'z';
    for (const char *p = name; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (!ok)
        diag_error(ctx->diag, name_loc,
                   "workflow name '%s' must match [a-z][a-z0-9_]* (it names the binary and its state)", name);
    f->has_workflow = true;
    f->workflow = name;
    f->workflow_loc = loc_span(loc, name_loc);
    f->description = desc ? str_value(ctx, desc, "a workflow description") : NULL;
}

void ast_decl_tests_for(parse_ctx *ctx, ast_expr *path, src_loc loc)
{
    ast_file *f = ctx->file;
    if (ctx->ntop > 0 || f->tests_for) {
        diag_error(ctx->diag, loc, "'tests for' must be the first line of a file");
        ctx->ntop++;
        return;
    }
    ctx->ntop++;
    top_record(ctx, TOP_TESTS_FOR, NULL, loc);
    f->tests_for = str_value(ctx, path, "a 'tests for' path");
    f->tests_for_loc = path ? path->loc : loc;
}

void ast_decl_import(parse_ctx *ctx, ast_expr *path, src_loc loc)
{
    ast_import *im = arena_alloc(ctx->a, sizeof *im);
    top_item(ctx, TOP_IMPORT, im, loc);
    im->path = str_value(ctx, path, "an import path");
    im->loc = path->loc;
    ptrvec_push(ctx->a, &ctx->imports, im);
}

void ast_decl_settings(parse_ctx *ctx, ptrvec *fields, src_loc loc)
{
    ast_top *t = top_item(ctx, TOP_SETTINGS, NULL, loc);
    t->first = ctx->settings.len;
    t->count = fields->len;
    for (int i = 0; i < fields->len; i++) ptrvec_push(ctx->a, &ctx->settings, fields->items[i]);
}

void ast_decl_secrets(parse_ctx *ctx, ptrvec *names, src_loc loc)
{
    ast_top *t = top_item(ctx, TOP_SECRETS, NULL, loc);
    t->first = ctx->secrets.len;
    t->count = names->len;
    for (int i = 0; i < names->len; i++) ptrvec_push(ctx->a, &ctx->secrets, names->items[i]);
}

void ast_decl_trigger(parse_ctx *ctx, ast_trigger_kind kind, ast_expr *str1,
                      ast_expr *str2, ast_type *schema, src_loc loc)
{
    ast_trigger *t = arena_alloc(ctx->a, sizeof *t);
    top_item(ctx, TOP_TRIGGER, t, loc);
    t->kind = kind;
    t->loc = loc;
    t->schema = schema;
    if (kind == TRIG_EVENT) t->event = str_value(ctx, str1, "an event name");
    if (kind == TRIG_SCHEDULE) {
        t->cron = str_value(ctx, str1, "a cron expression");
        t->cron_loc = str1->loc;
        t->zone = str2 ? str_value(ctx, str2, "a time zone") : NULL;
    }
    ptrvec_push(ctx->a, &ctx->triggers, t);
}

void ast_decl_stmt(parse_ctx *ctx, ast_stmt *st)
{
    if (!st) return;
    top_item(ctx, TOP_STMT, st, st->loc);
    ptrvec_push(ctx->a, &ctx->stmts, st);
}

ast_auth *ast_auth_new(parse_ctx *ctx, ast_auth_kind kind, ast_expr *a, ast_expr *b,
                       ast_expr *header, src_loc loc)
{
    ast_auth *au = arena_alloc(ctx->a, sizeof *au);
    au->kind = kind;
    au->loc = loc;
    au->secret = a;
    au->secret2 = b;
    if (header) au->header = str_value(ctx, header, "a header name");
    return au;
}

ast_auth *ast_auth_oauth2(parse_ctx *ctx, ptrvec *fields, src_loc loc)
{
    ast_auth *au = ast_auth_new(ctx, AUTH_OAUTH2, NULL, NULL, NULL, loc);
    for (int i = 0; i < fields->len; i++) {
        ast_arg *a = fields->items[i];
        ast_expr **slot = strcmp(a->name, "token_url") == 0 ? &au->token_url
                        : strcmp(a->name, "refresh") == 0 ? &au->secret2
                        : strcmp(a->name, "client_id") == 0 ? &au->client_id
                        : strcmp(a->name, "client_secret") == 0 ? &au->client_secret
                        : NULL;
        if (!slot)
            diag_error(ctx->diag, a->loc,
                       "unknown oauth2 field '%s' (expected token_url, refresh, client_id, client_secret)", a->name);
        else if (*slot)
            diag_error(ctx->diag, a->loc, "duplicate oauth2 field '%s'", a->name);
        else
            *slot = a->value;
    }
    if (!au->token_url) diag_error(ctx->diag, loc, "'auth oauth2' needs a token_url");
    return au;
}

ast_integration *ast_decl_integration(parse_ctx *ctx, const char *name, src_loc name_loc,
                                      ast_expr *url, src_loc loc)
{
    ast_integration *in = arena_alloc(ctx->a, sizeof *in);
    top_item(ctx, TOP_INTEGRATION, in, loc);
    in->name = name;
    in->loc = loc_span(loc, name_loc);
    in->base_url = url;
    if (url->kind != EX_STRING) {
        str_value(ctx, url, "the base URL of an integration");
        in->base_url = ast_expr_string(ctx, "", url->loc);
    }
    in->file = ctx->file;
    ptrvec_push(ctx->a, &ctx->integrations, in);
    return in;
}

ast_integration *ast_integration_auth(parse_ctx *ctx, ast_integration *in, ast_auth *au)
{
    in->auth = au->kind;
    in->auth_loc = au->loc;
    in->auth_secret = au->secret;
    if (au->kind == AUTH_OAUTH2) {
        /* the access token is, by convention, the secret <integration>_token */
        in->auth_secret = ast_expr_field(ctx, ast_expr_name(ctx, "secret", au->loc),
                                         arena_printf(ctx->a, "%s_token", in->name), au->loc, au->loc);
    }
    in->auth_secret2 = au->secret2;
    in->auth_header = au->header;
    in->oauth_token_url = au->token_url;
    in->oauth_client_id = au->client_id;
    in->oauth_client_secret = au->client_secret;
    return in;
}

ast_conn_build *ast_conn_block(parse_ctx *ctx, const char *word, src_loc word_loc, ptrvec *fields, src_loc loc)
{
    ast_conn_build *cb = arena_alloc(ctx->a, sizeof *cb);
    cb->fields = fields;
    cb->loc = loc;
    if (strcmp(word, "connection") != 0) {
        diag_error(ctx->diag, word_loc, "expected 'connection { ... }' or 'auth ...' in an integration block, not '%s'",
                   word);
        cb->bad = true;
    }
    return cb;
}

ast_conn_field *ast_conn_field_new(parse_ctx *ctx, const char *name, src_loc name_loc, ast_type *type,
                                   ptrvec *flags, src_loc span)
{
    ast_conn_field *f = arena_alloc(ctx->a, sizeof *f);
    f->name = name;
    f->loc = name_loc;
    f->type = type;
    f->span = span;
    for (int i = 0; i < flags->len; i++) {
        ast_arg *a = flags->items[i];
        bool *flag = strcmp(a->name, "base_url") == 0 ? &f->base_url
                     : strcmp(a->name, "from_token") == 0 ? &f->from_token : NULL;
        if (!flag)
            diag_error(ctx->diag, a->loc, "unknown connection field flag '%s' (flags are base_url and from_token; "
                       "separate fields with commas)", a->name);
        else if (*flag)
            diag_error(ctx->diag, a->loc, "flag '%s' is given twice", a->name);
        else
            *flag = true;
    }
    return f;
}

void ast_integration_connection(parse_ctx *ctx, ast_integration *in, ast_conn_build *cb)
{
    if (cb->bad) return;
    in->conn = list_items(ctx, cb->fields, &in->nconn);
    in->conn_loc = cb->loc;
}

ast_action *ast_decl_action(parse_ctx *ctx, const char *integ, const char *op,
                            ptrvec *params, ast_type *out, ast_step *body, src_loc loc)
{
    ast_action *ac = arena_alloc(ctx->a, sizeof *ac);
    top_item(ctx, TOP_ACTION, ac, loc);
    ac->integ = integ;
    ac->op = op;
    ac->loc = loc;
    ac->params = list_items(ctx, params, &ac->nparams);
    ac->out = out;
    ac->body = body;
    ac->file = ctx->file;
    ptrvec_push(ctx->a, &ctx->actions, ac);
    return ac;
}

ast_action *ast_action_clause(parse_ctx *ctx, ast_action *ac, ast_clause *cl)
{
    ast_step_clause(ctx, ac->body, cl);
    return ac;
}

/* ---- tests ------------------------------------------------------------------ */

ast_test_build *ast_test_new(parse_ctx *ctx, ast_expr *name, src_loc loc)
{
    ast_test_build *b = arena_alloc(ctx->a, sizeof *b);
    b->test = arena_alloc(ctx->a, sizeof *b->test);
    b->test->name = str_value(ctx, name, "a test name");
    b->test->loc = loc;
    b->test->file = ctx->file;
    return b;
}

ast_test_build *ast_test_expr(parse_ctx *ctx, ast_test_build *b, ast_test_item item,
                              ast_expr *e, src_loc loc)
{
    ast_test *t = b->test;
    static const char *const names[] = { "event", "settings", "user", "expect" };
    bool dup = (item == TI_EVENT && t->event) || (item == TI_SETTINGS && t->settings)
            || (item == TI_USER && t->user);
    if (dup) {
        diag_error(ctx->diag, loc, "duplicate '%s' in test", names[item]);
        return b;
    }
    switch (item) {
    case TI_EVENT:    t->event = e; break;
    case TI_SETTINGS: t->settings = e; break;
    case TI_USER:     t->user = str_value(ctx, e, "a user id"); t->user_loc = loc; break;
    case TI_EXPECT:   ptrvec_push(ctx->a, &b->expects, e); break;
    }
    return b;
}

ast_test_build *ast_test_secret(parse_ctx *ctx, ast_test_build *b, ast_arg *arg)
{
    ptrvec_push(ctx->a, &b->secrets, arg);
    return b;
}

ast_test_build *ast_test_env(parse_ctx *ctx, ast_test_build *b, ast_arg *arg)
{
    ptrvec_push(ctx->a, &b->env, arg);
    return b;
}

ast_test_build *ast_test_mock(parse_ctx *ctx, ast_test_build *b, ast_mock_build *m)
{
    m->mock->responses = list_items(ctx, &m->responses, &m->mock->nresponses);
    ptrvec_push(ctx->a, &b->mocks, m->mock);
    return b;
}

void ast_decl_test(parse_ctx *ctx, ast_test_build *b, src_loc loc)
{
    ast_test *t = b->test;
    top_item(ctx, TOP_TEST, t, loc);
    t->secrets = list_items(ctx, &b->secrets, &t->nsecrets);
    t->env = list_items(ctx, &b->env, &t->nenv);
    t->mocks = list_items(ctx, &b->mocks, &t->nmocks);
    t->expects = list_items(ctx, &b->expects, &t->nexpects);
    ptrvec_push(ctx->a, &ctx->tests, t);
}

ast_mock_build *ast_mock_new(parse_ctx *ctx, const char *method, src_loc method_loc,
                             const char *integ, src_loc integ_loc, ast_expr *url,
                             ast_mock_response *first, src_loc loc)
{
    ast_mock_build *m = arena_alloc(ctx->a, sizeof *m);
    m->mock = arena_alloc(ctx->a, sizeof *m->mock);
    m->mock->loc = loc;
    m->mock->method = http_method(ctx, method, method_loc);
    m->mock->integ = integ;
    m->mock->integ_loc = integ_loc;
    m->mock->url = url;
    ptrvec_push(ctx->a, &m->responses, first);
    return m;
}

ast_mock_build *ast_mock_then(parse_ctx *ctx, ast_mock_build *m, ast_mock_response *r)
{
    ptrvec_push(ctx->a, &m->responses, r);
    return m;
}

ast_mock_build *ast_mock_times(parse_ctx *ctx, ast_mock_build *m, int64_t n, src_loc loc)
{
    if (m->has_times) diag_error(ctx->diag, loc, "duplicate 'times' in mock");
    else if (n < 1 || n > 1000000) diag_error(ctx->diag, loc, "'times' must be between 1 and 1000000");
    else m->mock->times = (int)n;
    m->has_times = true;
    return m;
}

ast_mock_build *ast_mock_delay(parse_ctx *ctx, ast_mock_build *m, int64_t ms, src_loc loc)
{
    if (m->has_delay) diag_error(ctx->diag, loc, "duplicate 'delay' in mock");
    else m->mock->delay_ms = ms < 0 ? 0 : ms;
    m->has_delay = true;
    return m;
}

ast_mock_response *ast_mock_response_new(parse_ctx *ctx, int64_t status, src_loc loc,
                                         ast_expr *body, ast_expr *headers)
{
    if (status < 100 || status > 599) {
        diag_error(ctx->diag, loc, "HTTP status %" PRId64 " out of range (100 to 599)", status);
        status = 500;
    }
    ast_mock_response *r = arena_alloc(ctx->a, sizeof *r);
    r->status = (int)status;
    r->loc = loc;
    r->body = body;
    r->headers = headers;
    return r;
}

/* ---- the whole file ------------------------------------------------------- */

void ast_parse_begin(parse_ctx *ctx, ast_program *prog, int file_id)
{
    ctx->prog = prog;
    ctx->diag = prog->diag;
    ctx->a = &prog->arena;
    ctx->file_id = file_id;
    diag_file *df = prog->diag->files[file_id];
    ctx->text = df->text;
    ctx->len = df->len;
    /* a UTF-8 byte order mark is not part of the program */
    if (ctx->len >= 3 && memcmp(ctx->text, "\xEF\xBB\xBF", 3) == 0) ctx->pos = 3;
    ast_file *f = arena_alloc(ctx->a, sizeof *f);
    f->file_id = file_id;
    f->path = arena_strdup(ctx->a, df->path);
    f->diag = prog->diag;
    ctx->file = f;
}

ast_file *ast_parse_end(parse_ctx *ctx)
{
    ast_syntax_flush(ctx);
    strbuf_free(&ctx->sbuf);
    ast_file *f = ctx->file;
    f->imports = list_items(ctx, &ctx->imports, &f->nimports);
    f->settings = list_items(ctx, &ctx->settings, &f->nsettings);
    f->secrets = list_items(ctx, &ctx->secrets, &f->nsecrets);
    f->triggers = list_items(ctx, &ctx->triggers, &f->ntriggers);
    f->integrations = list_items(ctx, &ctx->integrations, &f->nintegrations);
    f->actions = list_items(ctx, &ctx->actions, &f->nactions);
    f->tests = list_items(ctx, &ctx->tests, &f->ntests);
    f->ntops = ctx->tops.len;
    f->tops = arena_alloc(ctx->a, sizeof *f->tops * (size_t)(f->ntops + 1));
    for (int i = 0, w = 0; i < f->ntops; i++) {
        ast_top *t = ctx->tops.items[i];
        f->tops[i] = *t;
        bool whole = w < ctx->tops_whole.len && ctx->tops_whole.items[w] == t;
        if (whole) {
            w++;
        } else {
            /* the grammar gave up inside it: it reaches the next item */
            int next = i + 1 < f->ntops ? ((ast_top *)ctx->tops.items[i + 1])->span.start : ctx->len;
            if (next > f->tops[i].span.end) f->tops[i].span.end = next;
        }
    }
    f->ncomments = ctx->comments.len;
    f->comments = arena_alloc(ctx->a, sizeof *f->comments * (size_t)(f->ncomments + 1));
    for (int i = 0; i < f->ncomments; i++) f->comments[i] = *(src_loc *)ctx->comments.items[i];
    src_loc whole = { ctx->file_id, 0, ctx->len };
    f->body = ast_block_new(ctx, &ctx->stmts, whole);
    return f;
}

/* ---- formatting ------------------------------------------------------------ */

const char *ast_op_str(ast_op op)
{
    static const char *const text[] = {
        "?",
#define FLOW_OP(name, txt, operands) txt,
#include "flow_ops.def"
#undef FLOW_OP
    };
    return (unsigned)op < sizeof text / sizeof text[0] ? text[op] : "?";
}

static void type_format(strbuf *b, const ast_type *t)
{
    if (!t) {
        strbuf_puts(b, "json");
        return;
    }
    switch (t->kind) {
    case TY_ERROR:    strbuf_puts(b, "<error>"); break;
    case TY_NULL:     strbuf_puts(b, "null"); break;
    case TY_STRING:   strbuf_puts(b, "string"); break;
    case TY_INT:      strbuf_puts(b, "int"); break;
    case TY_FLOAT:    strbuf_puts(b, "float"); break;
    case TY_BOOL:     strbuf_puts(b, "bool"); break;
    case TY_JSON:     strbuf_puts(b, "json"); break;
    case TY_DURATION: strbuf_puts(b, "duration"); break;
    case TY_LIST:
        strbuf_putc(b, '[');
        type_format(b, t->elem);
        strbuf_putc(b, ']');
        break;
    case TY_OPTIONAL:
        type_format(b, t->elem);
        strbuf_putc(b, '?');
        break;
    case TY_OBJECT:
        if (t->nfields == 0) {
            strbuf_puts(b, "{}");
            break;
        }
        strbuf_puts(b, "{ ");
        for (int i = 0; i < t->nfields; i++) {
            if (i) strbuf_puts(b, ", ");
            strbuf_printf(b, "%s: ", t->fields[i]->name);
            type_format(b, t->fields[i]->type);
        }
        strbuf_puts(b, " }");
        break;
    }
}

const char *ast_type_str(arena *a, const ast_type *t)
{
    strbuf b = {0};
    type_format(&b, t);
    const char *s = arena_strndup(a, b.data ? b.data : "", b.len);
    strbuf_free(&b);
    return s;
}

/* ---- --dump-ast ------------------------------------------------------------ */

typedef struct dumper {
    FILE *out;
    diag_ctx *diag;
    int indent;
} dumper;

static void dump_nl(dumper *d)
{
    fputc('\n', d->out);
    for (int i = 0; i < d->indent; i++) fputs("  ", d->out);
}

static void dump_loc(dumper *d, src_loc loc)
{
    int line, col;
    if (!d->diag || loc.file < 0 || loc.file >= d->diag->nfiles) {
        fprintf(d->out, " @%d", loc.start);
        return;
    }
    diag_line_col(d->diag, loc.file, loc.start, &line, &col);
    fprintf(d->out, " @%d:%d", line, col);
}

/* A string as a C-like quoted literal, escaping what is not printable. */
static void dump_str(dumper *d, const char *s)
{
    if (!s) {
        fputs(" nil", d->out);
        return;
    }
    fputs(" \"", d->out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(d->out, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", d->out);
        else if (*p == '\t') fputs("\\t", d->out);
        else if (*p == '\r') fputs("\\r", d->out);
        else if (*p < 0x20 || *p == 0x7f) fprintf(d->out, "\\x%02x", *p);
        else fputc(*p, d->out);
    }
    fputc('"', d->out);
}

static void dump_open(dumper *d, const char *what)
{
    dump_nl(d);
    fprintf(d->out, "(%s", what);
    d->indent++;
}

static void dump_close(dumper *d)
{
    fputc(')', d->out);
    d->indent--;
}

static void dump_type(dumper *d, const char *label, const ast_type *t)
{
    if (!t) return;
    strbuf b = {0};
    type_format(&b, t);
    dump_nl(d);
    fprintf(d->out, "(%s %s", label, b.data);
    dump_loc(d, t->loc);
    fputc(')', d->out);
    strbuf_free(&b);
}

static void dump_expr(dumper *d, const char *label, const ast_expr *e);

static void dump_expr_body(dumper *d, const ast_expr *e)
{
    switch (e->kind) {
    case EX_NULL:
        fputs(e->type == &ast_type_error ? "error" : "null", d->out);
        dump_loc(d, e->loc);
        break;
    case EX_BOOL:
        fprintf(d->out, "bool %s", e->bval ? "true" : "false");
        dump_loc(d, e->loc);
        break;
    case EX_INT:
        fprintf(d->out, "int %" PRId64, e->ival);
        dump_loc(d, e->loc);
        break;
    case EX_FLOAT:
        fprintf(d->out, "float %.17g", e->fval);
        dump_loc(d, e->loc);
        break;
    case EX_DURATION:
        fprintf(d->out, "duration %" PRId64 "ms", e->ival);
        dump_loc(d, e->loc);
        break;
    case EX_STRING:
        fputs("string", d->out);
        dump_str(d, e->sval);
        dump_loc(d, e->loc);
        break;
    case EX_NAME:
        fprintf(d->out, "name %s", e->name);
        dump_loc(d, e->loc);
        break;
    case EX_FIELD:
        fprintf(d->out, "field %s", e->name);
        dump_loc(d, e->name_loc);
        d->indent++;
        dump_expr(d, NULL, e->a);
        d->indent--;
        break;
    case EX_INDEX:
        fputs("index", d->out);
        dump_loc(d, e->loc);
        d->indent++;
        dump_expr(d, NULL, e->a);
        dump_expr(d, NULL, e->b);
        d->indent--;
        break;
    case EX_CALL:
        fprintf(d->out, "call %s", e->name);
        dump_loc(d, e->loc);
        d->indent++;
        for (int i = 0; i < e->nitems; i++) dump_expr(d, NULL, e->items[i]);
        d->indent--;
        break;
    case EX_INTERP:
    case EX_LIST:
        fputs(e->kind == EX_INTERP ? "interp" : "list", d->out);
        dump_loc(d, e->loc);
        d->indent++;
        for (int i = 0; i < e->nitems; i++) dump_expr(d, NULL, e->items[i]);
        d->indent--;
        break;
    case EX_OBJECT:
        fputs("object", d->out);
        dump_loc(d, e->loc);
        d->indent++;
        for (int i = 0; i < e->nitems; i++) {
            dump_nl(d);
            fputs("(key", d->out);
            dump_str(d, e->keys[i]);
            dump_loc(d, e->key_locs[i]);
            d->indent++;
            dump_expr(d, NULL, e->items[i]);
            d->indent--;
            fputc(')', d->out);
        }
        d->indent--;
        break;
    case EX_UNARY:
        fprintf(d->out, "unary %s", ast_op_str(e->op));
        dump_loc(d, e->loc);
        d->indent++;
        dump_expr(d, NULL, e->a);
        d->indent--;
        break;
    case EX_BINARY:
        fprintf(d->out, "binary %s", ast_op_str(e->op));
        dump_loc(d, e->loc);
        d->indent++;
        dump_expr(d, NULL, e->a);
        dump_expr(d, NULL, e->b);
        d->indent--;
        break;
    case EX_COND:
        fputs("if-then-else", d->out);
        dump_loc(d, e->loc);
        d->indent++;
        for (int i = 0; i < e->nitems; i++) dump_expr(d, NULL, e->items[i]);
        d->indent--;
        break;
    }
}

/* (label (expr ...)) or just (expr ...) without a label. */
static void dump_expr(dumper *d, const char *label, const ast_expr *e)
{
    if (!e) return;
    if (label) {
        dump_open(d, label);
        dump_expr(d, NULL, e);
        dump_close(d);
        return;
    }
    dump_nl(d);
    fputc('(', d->out);
    dump_expr_body(d, e);
    fputc(')', d->out);
}

static void dump_field(dumper *d, const char *what, const ast_field *f)
{
    dump_open(d, what);
    fprintf(d->out, " %s", f->name);
    dump_loc(d, f->loc);
    dump_type(d, "type", f->type);
    dump_expr(d, "default", f->deflt);
    dump_close(d);
}

static void dump_arg(dumper *d, const char *what, const ast_arg *a)
{
    dump_open(d, what);
    fprintf(d->out, " %s", a->name);
    dump_loc(d, a->loc);
    dump_expr(d, NULL, a->value);
    dump_close(d);
}

static void dump_block(dumper *d, const char *label, const ast_block *b);

static void dump_request(dumper *d, const ast_request *r)
{
    dump_nl(d);
    fprintf(d->out, "(method %s", r->method);
    dump_loc(d, r->method_loc);
    fputc(')', d->out);
    dump_expr(d, "url", r->url);
    dump_expr(d, "headers", r->headers);
    dump_expr(d, "query", r->query);
    dump_expr(d, "json", r->json);
    dump_expr(d, "form", r->form);
    dump_expr(d, "body", r->body);
    dump_type(d, "returns", r->returns);
    if (r->naccept) {
        dump_open(d, "accept");
        for (int i = 0; i < r->naccept; i++) {
            if (r->accept[i].is_class) fprintf(d->out, " %dxx", r->accept[i].code);
            else fprintf(d->out, " %d", r->accept[i].code);
            dump_loc(d, r->accept[i].loc);
        }
        dump_close(d);
    }
    dump_expr(d, "fail-when", r->fail_when);
    if (r->paginate != PAGE_NONE) {
        static const char *const kinds[] = { "none", "cursor", "page", "link" };
        dump_open(d, "paginate");
        fprintf(d->out, " %s", kinds[r->paginate]);
        dump_loc(d, r->paginate_loc);
        fputs(" items", d->out);
        for (int i = 0; i < r->npage_items; i++) fprintf(d->out, "%s%s", i ? "." : " ", r->page_items[i]);
        if (r->paginate != PAGE_LINK) {
            if (r->page_target == TARGET_URL) fputs(" -> url", d->out);
            else fprintf(d->out, " -> %s.%s", r->page_target == TARGET_QUERY ? "query" : "json",
                         r->page_param);
        }
        if (r->page_max) fprintf(d->out, " max %" PRId64, r->page_max);
        dump_expr(d, "cursor", r->page_cursor);
        dump_close(d);
    }
}

static void dump_step(dumper *d, const ast_step *s)
{
    static const char *const kinds[] = { "request", "action", "function", "fanout", "let" };
    dump_open(d, "step");
    fprintf(d->out, " %s %s", s->name ? s->name : "-", kinds[s->kind]);
    dump_loc(d, s->loc);
    switch (s->kind) {
    case STEP_REQUEST:
        dump_request(d, s->req);
        break;
    case STEP_ACTION:
        dump_nl(d);
        fprintf(d->out, "(call %s.%s", s->integ, s->op);
        dump_loc(d, s->call_loc);
        fputc(')', d->out);
        for (int i = 0; i < s->nargs; i++) dump_arg(d, "arg", s->args[i]);
        break;
    case STEP_FUNCTION:
        for (int i = 0; i < s->nparams; i++) dump_arg(d, "param", s->params[i]);
        dump_type(d, "out", s->out_type);
        dump_nl(d);
        fputs("(c", d->out);
        dump_loc(d, s->c_loc);
        dump_str(d, s->c_code);
        fputc(')', d->out);
        break;
    case STEP_FANOUT:
        dump_nl(d);
        fprintf(d->out, "(var %s", s->var);
        dump_loc(d, s->var_loc);
        fputc(')', d->out);
        dump_expr(d, "in", s->list);
        if (s->concurrency) {
            dump_nl(d);
            fprintf(d->out, "(concurrency %" PRId64 ")", s->concurrency);
        }
        dump_block(d, "body", s->body);
        break;
    case STEP_LET:
        dump_expr(d, "value", s->value);
        break;
    }
    if (s->call_max) {
        dump_nl(d);
        fprintf(d->out, "(max %" PRId64 ")", s->call_max);
    }
    if (s->timeout_ms) {
        dump_nl(d);
        fprintf(d->out, "(timeout %" PRId64 "ms)", s->timeout_ms);
    }
    if (s->retries >= 0) {
        dump_nl(d);
        fprintf(d->out, "(retry %d backoff %" PRId64 "ms max %" PRId64 "ms)", s->retries,
                s->backoff_ms, s->max_backoff_ms);
    }
    if (s->continue_on_failure) {
        dump_nl(d);
        fputs("(on-failure-continue)", d->out);
    }
    dump_close(d);
}

static void dump_stmt(dumper *d, const ast_stmt *s)
{
    switch (s->kind) {
    case ST_STEP:
        dump_step(d, s->step);
        return;
    case ST_IF:
        dump_open(d, "if");
        dump_loc(d, s->loc);
        for (int i = 0; i < s->nbranches; i++) {
            dump_expr(d, i ? "else-if" : "cond", s->conds[i]);
            dump_block(d, "then", s->thens[i]);
        }
        dump_block(d, "else", s->els);
        dump_close(d);
        return;
    case ST_RETURN:
    case ST_FAIL:
    case ST_LOG:
        dump_open(d, s->kind == ST_RETURN ? "return" : s->kind == ST_FAIL ? "fail" : "log");
        dump_loc(d, s->loc);
        dump_expr(d, "status", s->status);
        dump_expr(d, "headers", s->headers);
        dump_expr(d, NULL, s->expr);
        dump_close(d);
        return;
    case ST_LET:
        dump_step(d, s->step);
        return;
    case ST_WAIT:
        dump_open(d, s->wait_until ? "wait-until" : "wait");
        dump_loc(d, s->loc);
        dump_expr(d, NULL, s->expr);
        dump_close(d);
        return;
    }
}

static void dump_block(dumper *d, const char *label, const ast_block *b)
{
    if (!b) return;
    dump_open(d, label);
    dump_loc(d, b->loc);
    for (int i = 0; i < b->nstmts; i++) dump_stmt(d, b->stmts[i]);
    dump_close(d);
}

static void dump_test(dumper *d, const ast_test *t)
{
    dump_open(d, "test");
    dump_str(d, t->name);
    dump_loc(d, t->loc);
    dump_expr(d, "event", t->event);
    dump_expr(d, "settings", t->settings);
    if (t->user) {
        dump_nl(d);
        fputs("(user", d->out);
        dump_str(d, t->user);
        fputc(')', d->out);
    }
    for (int i = 0; i < t->nsecrets; i++) dump_arg(d, "secret", t->secrets[i]);
    for (int i = 0; i < t->nenv; i++) dump_arg(d, "env", t->env[i]);
    for (int i = 0; i < t->nmocks; i++) {
        const ast_mock *m = t->mocks[i];
        dump_open(d, "mock");
        fprintf(d->out, " %s", m->method);
        if (m->integ) fprintf(d->out, " %s", m->integ);
        dump_loc(d, m->loc);
        dump_expr(d, "url", m->url);
        for (int j = 0; j < m->nresponses; j++) {
            const ast_mock_response *r = m->responses[j];
            dump_open(d, "respond");
            fprintf(d->out, " %d", r->status);
            dump_loc(d, r->loc);
            dump_expr(d, "body", r->body);
            dump_expr(d, "headers", r->headers);
            dump_close(d);
        }
        if (m->times) {
            dump_nl(d);
            fprintf(d->out, "(times %d)", m->times);
        }
        if (m->delay_ms) {
            dump_nl(d);
            fprintf(d->out, "(delay %" PRId64 "ms)", m->delay_ms);
        }
        dump_close(d);
    }
    for (int i = 0; i < t->nexpects; i++) dump_expr(d, "expect", t->expects[i]);
    dump_close(d);
}

static void dump_integration(dumper *d, const ast_integration *in)
{
    static const char *const auths[] = { "none", "bearer", "basic", "header", "oauth2" };
    dump_open(d, "integration");
    fprintf(d->out, " %s", in->name);
    dump_loc(d, in->loc);
    dump_expr(d, "base-url", in->base_url);
    if (in->auth != AUTH_NONE) {
        dump_open(d, "auth");
        fprintf(d->out, " %s", auths[in->auth]);
        dump_loc(d, in->auth_loc);
        if (in->auth_header) dump_str(d, in->auth_header);
        dump_expr(d, "secret", in->auth_secret);
        dump_expr(d, "secret2", in->auth_secret2);
        dump_expr(d, "token-url", in->oauth_token_url);
        dump_expr(d, "client-id", in->oauth_client_id);
        dump_expr(d, "client-secret", in->oauth_client_secret);
        dump_close(d);
    }
    if (in->conn_loc.end > in->conn_loc.start) {
        dump_open(d, "connection");
        dump_loc(d, in->conn_loc);
        for (int i = 0; i < in->nconn; i++) {
            const ast_conn_field *f = in->conn[i];
            dump_open(d, "field");
            fprintf(d->out, " %s%s%s", f->name, f->base_url ? " base_url" : "", f->from_token ? " from_token" : "");
            dump_loc(d, f->loc);
            dump_type(d, "type", f->type);
            dump_close(d);
        }
        dump_close(d);
    }
    dump_close(d);
}

void ast_dump_file(const ast_file *f, FILE *out)
{
    dumper d = { out, f->diag, 0 };
    fputs("(file", out);
    dump_str(&d, f->path);
    d.indent++;
    if (f->has_workflow) {
        dump_nl(&d);
        fprintf(out, "(workflow %s", f->workflow);
        if (f->description) dump_str(&d, f->description);
        dump_loc(&d, f->workflow_loc);
        fputc(')', out);
    }
    if (f->tests_for) {
        dump_nl(&d);
        fputs("(tests-for", out);
        dump_str(&d, f->tests_for);
        dump_loc(&d, f->tests_for_loc);
        fputc(')', out);
    }
    for (int i = 0; i < f->nimports; i++) {
        dump_nl(&d);
        fputs("(import", out);
        dump_str(&d, f->imports[i]->path);
        dump_loc(&d, f->imports[i]->loc);
        fputc(')', out);
    }
    for (int i = 0; i < f->nsettings; i++) dump_field(&d, "setting", f->settings[i]);
    for (int i = 0; i < f->nsecrets; i++) {
        dump_nl(&d);
        fprintf(out, "(secret %s", f->secrets[i]->name);
        dump_loc(&d, f->secrets[i]->loc);
        fputc(')', out);
    }
    for (int i = 0; i < f->ntriggers; i++) {
        static const char *const kinds[] = { "none", "event", "request", "schedule", "enabled" };
        const ast_trigger *t = f->triggers[i];
        dump_open(&d, "trigger");
        fprintf(out, " %s", kinds[t->kind]);
        if (t->event) dump_str(&d, t->event);
        if (t->cron) dump_str(&d, t->cron);
        if (t->zone) dump_str(&d, t->zone);
        dump_loc(&d, t->loc);
        dump_type(&d, "schema", t->schema);
        dump_close(&d);
    }
    for (int i = 0; i < f->nintegrations; i++) dump_integration(&d, f->integrations[i]);
    for (int i = 0; i < f->nactions; i++) {
        const ast_action *ac = f->actions[i];
        dump_open(&d, "action");
        fprintf(out, " %s.%s", ac->integ, ac->op);
        dump_loc(&d, ac->loc);
        for (int j = 0; j < ac->nparams; j++) dump_field(&d, "param", ac->params[j]);
        dump_type(&d, "out", ac->out);
        if (ac->body) dump_step(&d, ac->body);
        dump_close(&d);
    }
    if (f->body) dump_block(&d, "body", f->body);
    for (int i = 0; i < f->ntests; i++) dump_test(&d, f->tests[i]);
    fputs(")\n", out);
}
