/*
** lsp_complete.c — completion for `flowc lsp`.
**
** Two sources, so that half-written code still completes:
**  - the text before the cursor, scanned like the lexer does (strings, {{ }},
**    comments, C blocks, open brackets), says what kind of thing is being
**    written there: a member after `a.b.`, an expression, an action's
**    argument, a statement or clause keyword, an import path;
**  - the checker's scope at the cursor (chk_probe, filled during the
**    analysis of the current text, whose parser recovers from syntax errors
**    statement by statement) says what names exist there and their types.
** A member chain `person.body.` is resolved over the probe's types; every
** item carries its type (or signature) as `detail`.
*/
#include "lsp_features.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lsp_index.h"

/* LSP CompletionItemKind */
enum {
    CK_METHOD = 2, CK_FUNCTION = 3, CK_FIELD = 5, CK_VARIABLE = 6, CK_MODULE = 9, CK_PROPERTY = 10,
    CK_KEYWORD = 14, CK_FILE = 17,
};

/* ---- the text before the cursor ------------------------------------------------ */

enum { CX_CODE, CX_STRING, CX_INTERP, CX_COMMENT, CX_C };

#define CX_MAXB 256

typedef struct cx {
    const char *t;
    int len;
    int offset;             /* the cursor */
    int state;
    int str_start;          /* CX_STRING / CX_INTERP: the opening quote */
    int brackets[CX_MAXB];  /* unmatched ( [ { of code before the cursor, innermost last */
    int nb;
    int *comments;          /* owned: [start, end) pairs of the comments before the cursor */
    int ncomments, capcomments;
    int word_start;         /* the identifier being typed: [word_start, offset) */
} cx;

static bool cx_ident(char c) { return isalnum((unsigned char)c) || c == '_'; }

static void cx_comment(cx *x, int start, int end)
{
    if (x->ncomments * 2 + 2 > x->capcomments) {
        x->capcomments = x->capcomments ? x->capcomments * 2 : 64;
        x->comments = xrealloc(x->comments, sizeof *x->comments * (size_t)x->capcomments);
    }
    x->comments[x->ncomments * 2] = start;
    x->comments[x->ncomments * 2 + 1] = end;
    x->ncomments++;
}

static void cx_push(cx *x, int at)
{
    if (x->nb < CX_MAXB) x->brackets[x->nb] = at;
    x->nb++;
}

static void cx_pop(cx *x, char close)
{
    char open = close == ')' ? '(' : close == ']' ? '[' : '{';
    /* pop the innermost matching bracket (and unclosed ones above it) */
    for (int i = (x->nb < CX_MAXB ? x->nb : CX_MAXB) - 1; i >= 0; i--) {
        if (x->t[x->brackets[i]] == open) {
            x->nb = i;
            return;
        }
    }
}

/* Scan [0, offset) as the lexer would, keeping what completion needs. */
static void cx_scan(cx *x, const char *t, int len, int offset)
{
    memset(x, 0, sizeof *x);
    x->t = t;
    x->len = len;
    x->offset = offset;
    int interp_base = 0, cstart = 0;
    for (int i = 0; i < offset; i++) {
        char c = t[i];
        char n = i + 1 < len ? t[i + 1] : 0;
        switch (x->state) {
        case CX_CODE:
            if (c == '#') {
                x->state = CX_COMMENT;
                cstart = i;
            } else if (c == '"') {
                x->state = CX_STRING;
                x->str_start = i;
            } else if (c == '{' && n == '%') {
                x->state = CX_C;
                i++;
            } else if (c == '(' || c == '[' || c == '{') {
                cx_push(x, i);
            } else if (c == ')' || c == ']' || c == '}') {
                cx_pop(x, c);
            }
            break;
        case CX_COMMENT:
            if (c == '\n') {
                cx_comment(x, cstart, i);
                x->state = CX_CODE;
            }
            break;
        case CX_STRING:
            if (c == '\\') i++;
            else if (c == '"' || c == '\n') x->state = CX_CODE;
            else if (c == '{' && n == '{') {
                x->state = CX_INTERP;
                interp_base = x->nb;
                i++;
            }
            break;
        case CX_INTERP:
            if (c == '}' && n == '}' && x->nb <= interp_base) {
                x->nb = interp_base;
                x->state = CX_STRING;
                i++;
            } else if (c == '"' || c == '\n') {
                x->nb = interp_base;
                x->state = CX_CODE;
            } else if (c == '(' || c == '[' || c == '{') {
                cx_push(x, i);
            } else if (c == ')' || c == ']' || c == '}') {
                if (x->nb > interp_base) cx_pop(x, c);
            }
            break;
        case CX_C:
            if (c == '%' && n == '}') {
                x->state = CX_CODE;
                i++;
            }
            break;
        }
    }
    if (x->state == CX_COMMENT) cx_comment(x, cstart, offset);
    int w = offset;
    while (w > 0 && cx_ident(t[w - 1])) w--;
    /* a word does not start with a digit: `12` is not a name being typed */
    if (w < offset && isdigit((unsigned char)t[w])) w = offset;
    x->word_start = w;
}

static void cx_free(cx *x) { free(x->comments); }

/* The comment holding offset `at`, as its start, or -1. */
static int cx_in_comment(const cx *x, int at)
{
    for (int i = x->ncomments - 1; i >= 0; i--) {
        if (x->comments[2 * i] <= at && at < x->comments[2 * i + 1]) return x->comments[2 * i];
        if (x->comments[2 * i + 1] <= at) break;
    }
    return -1;
}

/* The last significant character before `pos` (white space and comments
** skipped), or -1. */
static int cx_prev_sig(const cx *x, int pos)
{
    int i = pos - 1;
    while (i >= 0) {
        int c = cx_in_comment(x, i);
        if (c >= 0) {
            i = c - 1;
            continue;
        }
        if (!isspace((unsigned char)x->t[i])) return i;
        i--;
    }
    return -1;
}

/* The token ending at the significant character before pos: [*start, end).
** Returns its end, or -1. Identifiers and keywords are whole; `->` and the
** two-character comparison operators too; anything else is one character. */
static int cx_prev_token(const cx *x, int pos, int *start)
{
    int e = cx_prev_sig(x, pos);
    if (e < 0) return -1;
    int s = e;
    if (cx_ident(x->t[e])) {
        while (s > 0 && cx_ident(x->t[s - 1])) s--;
    } else if (x->t[e] == '"') {
        s = e - 1;      /* back to the opening quote, on this line */
        while (s > 0 && x->t[s] != '\n' && !(x->t[s] == '"' && x->t[s - 1] != '\\')) s--;
        if (s < 0) s = 0;
    } else if (e > 0 && strchr("=>", x->t[e]) && strchr("-=!<>", x->t[e - 1])) {
        s = e - 1;
    }
    *start = s;
    return e + 1;
}

static bool cx_tok_is(const cx *x, int s, int e, const char *word)
{
    return e - s == (int)strlen(word) && memcmp(x->t + s, word, (size_t)(e - s)) == 0;
}

/* Whether only white space is between the line's start and pos. */
static bool cx_line_start(const cx *x, int pos)
{
    for (int i = pos - 1; i >= 0 && x->t[i] != '\n'; i--)
        if (x->t[i] != ' ' && x->t[i] != '\t' && x->t[i] != '\r') return false;
    return true;
}

/* The first word of the line holding pos: [*s, *e). */
static void cx_line_word(const cx *x, int pos, int *s, int *e)
{
    int i = pos;
    while (i > 0 && x->t[i - 1] != '\n') i--;
    while (i < x->len && (x->t[i] == ' ' || x->t[i] == '\t')) i++;
    *s = i;
    while (i < x->len && cx_ident(x->t[i])) i++;
    *e = i;
}

/* Whether the `{` at `at` opens a block of statements (if, else, fanout,
** test) rather than an object, a schema or a type. */
static bool cx_block_brace(const cx *x, int at)
{
    int ps, pe = cx_prev_token(x, at, &ps);
    if (pe > 0 && cx_tok_is(x, ps, pe, "else")) return true;
    int ls, le;
    cx_line_word(x, at, &ls, &le);
    if (cx_tok_is(x, ls, le, "if") || cx_tok_is(x, ls, le, "test")) return true;
    if (ls < x->len && x->t[ls] == '}') return true;   /* } else if ... { */
    /* step NAME = fanout v in list ... { */
    for (int i = ls; i < at; i++)
        if (strncmp(x->t + i, "fanout", 6) == 0 && (i == 0 || !cx_ident(x->t[i - 1])) && !cx_ident(x->t[i + 6]))
            return true;
    return false;
}

/* `step NAME = |`: where a step's body starts. */
static bool cx_after_step_eq(const cx *x, int ps, int pe)
{
    if (pe < 0 || !cx_tok_is(x, ps, pe, "=")) return false;
    int s2, e2 = cx_prev_token(x, ps, &s2);
    if (e2 < 0 || !cx_ident(x->t[s2])) return false;
    int s3, e3 = cx_prev_token(x, s2, &s3);
    return e3 > 0 && cx_tok_is(x, s3, e3, "step");
}

/* Whether the word starts a statement (or a clause of the step above): it
** begins its line, it is at the top level or directly in a block, and what
** precedes it ends something (not an operator or a keyword that wants more). */
static bool cx_statement_position(const cx *x, int open, int ps, int pe)
{
    static const char *const wants_more[] = { "and", "or", "not", "in", "when", "until", "return", "fail", "log",
                                              "json", "body", "step", "request", "wait", NULL };
    if (!cx_line_start(x, x->word_start)) return false;
    if (open >= 0 && !(x->t[open] == '{' && cx_block_brace(x, open))) return false;
    if (pe < 0) return true;
    char last = x->t[pe - 1];
    if (!(cx_ident(last) || last == '"' || last == ')' || last == ']' || last == '}' || last == '{' || last == '?'))
        return false;
    if (last == '{' && pe - 1 != open) return false;
    for (int i = 0; wants_more[i]; i++)
        if (cx_tok_is(x, ps, pe, wants_more[i])) return false;
    return true;
}

/* ---- items ------------------------------------------------------------------------- */

typedef struct comp {
    lsp_ws *ws;
    lsp_analysis *an;
    cx x;
    json_t *items;
    const char **labels;    /* owned: the labels given, open addressing */
    size_t nlabels, caplabels;
    json_t *range;          /* the word's range, shared by every item (owned) */
    const char *prefix;     /* the word typed so far (arena) */
    int nprefix;
    arena *a;
} comp;

static size_t comp_hash(const char *s)
{
    size_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* One item per label: the first given (the closest scope) wins. True when
** label was not given yet (and records it). */
static bool comp_first(comp *c, const char *label)
{
    if ((c->nlabels + 1) * 2 > c->caplabels) {
        size_t cap = c->caplabels ? c->caplabels * 2 : 64;
        const char **t = xcalloc(cap, sizeof *t);
        for (size_t i = 0; i < c->caplabels; i++) {
            if (!c->labels[i]) continue;
            size_t h = comp_hash(c->labels[i]) & (cap - 1);
            while (t[h]) h = (h + 1) & (cap - 1);
            t[h] = c->labels[i];
        }
        free(c->labels);
        c->labels = t;
        c->caplabels = cap;
    }
    size_t h = comp_hash(label) & (c->caplabels - 1);
    while (c->labels[h]) {
        if (strcmp(c->labels[h], label) == 0) return false;
        h = (h + 1) & (c->caplabels - 1);
    }
    c->labels[h] = label;
    c->nlabels++;
    return true;
}

static bool comp_matches(const comp *c, const char *label)
{
    return strncasecmp(label, c->prefix, (size_t)c->nprefix) == 0;
}

static const char *comp_type(comp *c, const ast_type *t)
{
    const char *s = ast_type_str(c->a, t);
    if (strlen(s) > 200) s = arena_printf(c->a, "%.197s...", s);
    return s;
}

/* Add an item: label, kind, detail (may be NULL), documentation (markdown
** or NULL), sort group (lower first) and insert text (NULL: the label). */
static void comp_add(comp *c, const char *label, int kind, const char *detail, const char *doc, int group,
                     const char *insert)
{
    if (!comp_matches(c, label) || !comp_first(c, label)) return;
    json_t *item = json_pack("{s:o, s:i, s:o}", "label", lsp_json_str(label), "kind", kind, "sortText",
                             lsp_json_str(arena_printf(c->a, "%02d%05zu_%s", group, json_array_size(c->items),
                                                       label)));
    if (detail) json_object_set_new(item, "detail", lsp_json_str(detail));
    if (doc)
        json_object_set_new(item, "documentation", json_pack("{s:s, s:o}", "kind", "markdown", "value",
                                                             lsp_json_str(doc)));
    if (!c->range)
        c->range = lsp_json_range(&c->an->lines, c->an->text, c->an->len, c->x.word_start, c->x.offset);
    json_object_set_new(item, "textEdit",
                        json_pack("{s:O, s:o}", "range", c->range, "newText", lsp_json_str(insert ? insert : label)));
    json_array_append_new(c->items, item);
}

static void comp_keywords(comp *c, const char *const *words, int group)
{
    for (int i = 0; words[i]; i++) comp_add(c, words[i], CK_KEYWORD, "keyword", NULL, group, NULL);
}

/* ---- names and types ---------------------------------------------------------------- */

/* What a root name is at the cursor. */
typedef struct root {
    ast_type *type;         /* NULL: not a name here */
    ast_step *step;         /* a step: it has .ok and .error */
    bool env;               /* env: names seen in the program */
} root;

static root comp_root(comp *c, const char *name)
{
    chk_probe *p = &c->an->probe;
    root r = { 0 };
    if (p->place == CHK_PLACE_NONE || p->place == CHK_PLACE_CONST || p->place == CHK_PLACE_TEST_DATA) return r;
    if (p->response) {
        if (strcmp(name, "status") == 0) return (root){ .type = &ast_type_int };
        if (strcmp(name, "headers") == 0) return (root){ .type = &ast_type_json };
        if (strcmp(name, "body") == 0) return (root){ .type = p->response };
    }
    for (int i = p->nfanouts - 1; i >= 0; i--)
        if (strcmp(p->fanouts[i]->var, name) == 0)
            return (root){ .type = p->fanouts[i]->var_type ? p->fanouts[i]->var_type : &ast_type_json };
    for (int i = 0; p->action && i < p->action->nparams; i++)
        if (strcmp(p->action->params[i]->name, name) == 0) return (root){ .type = p->action->params[i]->type };
    if (strcmp(name, "secret") == 0) return (root){ .type = p->secrets };
    if (strcmp(name, "env") == 0) return (root){ .type = &ast_type_json, .env = true };
    if (strcmp(name, "run") == 0) return (root){ .type = p->run };
    if (p->place != CHK_PLACE_ACTION) {
        if (strcmp(name, "trigger") == 0) return (root){ .type = p->trigger };
        if (strcmp(name, "settings") == 0) return (root){ .type = p->settings };
    }
    if (p->place == CHK_PLACE_TEST && strcmp(name, "output") == 0)
        return (root){ .type = p->output ? p->output : &ast_type_null };
    for (int i = 0; i < p->nsteps; i++)
        if (strcmp(p->steps[i]->name, name) == 0) return (root){ .type = p->step_types[i], .step = p->steps[i] };
    return r;
}

static ast_type *ty_bare(ast_type *t) { return t && t->kind == TY_OPTIONAL ? t->elem : t; }

static ast_field *comp_field(ast_type *t, const char *name)
{
    for (int i = 0; t && t->kind == TY_OBJECT && i < t->nfields; i++)
        if (strcmp(t->fields[i]->name, name) == 0) return t->fields[i];
    return NULL;
}

/* env.NAME names used anywhere in the document. */
typedef struct env_names {
    comp *c;
    lsp_walk w;
} env_names;

static void env_visit(lsp_walk *w, ast_expr *e)
{
    comp *c = w->ud;
    if (e->kind == EX_FIELD && e->a && e->a->kind == EX_NAME && e->a->name && strcmp(e->a->name, "env") == 0 &&
        e->name)
        comp_add(c, e->name, CK_FIELD, "string", "an environment variable this file reads", 1, NULL);
}

/* ---- member completion: after `a.b.` ------------------------------------------------ */

enum { SEG_NAME, SEG_INDEX };

typedef struct seg {
    int kind;
    const char *name;
} seg;

/* The chain before the dot at `dot` (`a.b[0].c`): segments root first.
** Returns how many (0: no chain ends there). */
static int comp_chain(comp *c, int dot, seg *segs, int max)
{
    seg rev[64];
    int n = 0;
    int p = dot;
    const char *t = c->x.t;
    while (n < 64) {
        int q = p - 1;
        while (q >= 0 && t[q] == ']') {       /* index groups: skipped, each one level down */
            int depth = 0, k = q;
            for (; k >= 0; k--) {
                if (t[k] == ']') depth++;
                else if (t[k] == '[' && --depth == 0) break;
            }
            if (k < 0 || n >= 64) return 0;
            rev[n++] = (seg){ SEG_INDEX, NULL };
            q = k - 1;
        }
        int e = q + 1, s = e;
        while (s > 0 && cx_ident(t[s - 1])) s--;
        if (s == e || isdigit((unsigned char)t[s])) return 0;
        rev[n++] = (seg){ SEG_NAME, arena_strndup(c->a, t + s, (size_t)(e - s)) };
        if (s > 0 && t[s - 1] == '.') {
            p = s - 1;
            continue;
        }
        break;
    }
    if (rev[n - 1].kind != SEG_NAME || n > max) return 0;
    for (int i = 0; i < n; i++) segs[i] = rev[n - 1 - i];
    return n;
}

/* The actions of integration `integ` as items. */
static void comp_actions(comp *c, const char *integ)
{
    ast_program *prog = &c->an->prog;
    for (int i = 0; i < prog->nactions; i++) {
        ast_action *a = prog->actions[i];
        if (strcmp(a->integ, integ) != 0) continue;
        strbuf sig = { 0 };
        strbuf_printf(&sig, "%s.%s(", a->integ, a->op);
        for (int k = 0; k < a->nparams; k++)
            strbuf_printf(&sig, "%s%s: %s", k ? ", " : "", a->params[k]->name, comp_type(c, a->params[k]->type));
        strbuf_printf(&sig, ") -> %s", a->out ? comp_type(c, a->out) : "json");
        int len;
        const char *text = lsp_ws_file_text(c->ws, a->loc.file, &len);
        const char *doc = text ? lsp_doc_comment(c->a, a->file, text, len, a->loc.start) : NULL;
        comp_add(c, a->op, CK_METHOD, sig.data, doc, 0, NULL);
        strbuf_free(&sig);
    }
}

static void comp_member(comp *c, int dot)
{
    seg segs[64];
    int n = comp_chain(c, dot, segs, 64);
    if (!n) return;
    root r = comp_root(c, segs[0].name);
    if (!r.type) {
        /* `integ.` where an action step is being written */
        ast_program *prog = &c->an->prog;
        for (int i = 0; n == 1 && i < prog->nintegrations; i++)
            if (strcmp(prog->integrations[i]->name, segs[0].name) == 0) comp_actions(c, segs[0].name);
        return;
    }
    if (n == 1 && r.env) {
        lsp_walk w = { .expr = env_visit, .ud = c };
        lsp_walk_file(&w, c->an->file);
        return;
    }
    ast_type *t = r.type;
    for (int i = 1; i < n && t; i++) {
        if (i == 1 && r.step && segs[i].kind == SEG_NAME && strcmp(segs[i].name, "ok") == 0) return;
        if (i == 1 && r.step && segs[i].kind == SEG_NAME && strcmp(segs[i].name, "error") == 0) return;
        ast_type *b = ty_bare(t);
        if (segs[i].kind == SEG_INDEX) {
            t = b && b->kind == TY_LIST ? b->elem : NULL;
        } else {
            ast_field *f = comp_field(b, segs[i].name);
            t = f ? f->type : NULL;
        }
    }
    ast_type *b = ty_bare(t);
    if (!b || b->kind != TY_OBJECT) return;
    for (int i = 0; i < b->nfields; i++)
        comp_add(c, b->fields[i]->name, CK_FIELD, comp_type(c, b->fields[i]->type), NULL, 0, NULL);
    if (n == 1 && r.step) {
        comp_add(c, "ok", CK_FIELD, "bool", "whether the step ran and succeeded", 1, NULL);
        comp_add(c, "error", CK_FIELD, "string?", "the step's error message, or null", 1, NULL);
    }
}

/* ---- names at an expression position -------------------------------------------------- */

/* A `fail when` being written, that the parser could not read yet: the
** response of the request it follows (the action's, or the step's above),
** as the checker would give it. */
static void comp_fail_when(comp *c)
{
    chk_probe *p = &c->an->probe;
    int ls, le;
    cx_line_word(&c->x, c->x.word_start, &ls, &le);
    if (p->response || !cx_tok_is(&c->x, ls, le, "fail") || strncmp(c->x.t + le, " when", 5) != 0) return;
    const ast_step *s = NULL;
    ast_type *body = NULL;
    if (p->action && p->action->body) {
        s = p->action->body;
        body = s->req && s->req->returns ? s->req->returns : p->action->out;
    } else {
        ast_stmt *after = NULL;
        lsp_block_at(c->an->file, c->x.word_start, &after);
        if (after && after->kind == ST_STEP) s = after->step;
        if (s && s->req) body = s->req->returns;
    }
    if (!s || s->kind != STEP_REQUEST) return;
    p->response = body ? body : &ast_type_json;
}

static void comp_roots(comp *c)
{
    chk_probe *p = &c->an->probe;
    comp_fail_when(c);
    static const char *const literals[] = { "true", "false", "null", "not", NULL };
    if (p->place == CHK_PLACE_CONST || p->place == CHK_PLACE_TEST_DATA) {
        comp_keywords(c, literals, 6);
        return;
    }
    if (p->place != CHK_PLACE_NONE) {
        for (int i = p->nfanouts - 1; i >= 0; i--)
            if (p->fanouts[i]->var)
                comp_add(c, p->fanouts[i]->var, CK_VARIABLE,
                         comp_type(c, p->fanouts[i]->var_type ? p->fanouts[i]->var_type : &ast_type_json),
                         "fanout variable", 0, NULL);
        for (int i = 0; p->action && i < p->action->nparams; i++)
            comp_add(c, p->action->params[i]->name, CK_VARIABLE, comp_type(c, p->action->params[i]->type),
                     "action parameter", 0, NULL);
        if (p->response) {
            comp_add(c, "status", CK_VARIABLE, "int", "the response's status", 0, NULL);
            comp_add(c, "headers", CK_VARIABLE, "json", "the response's headers", 0, NULL);
            comp_add(c, "body", CK_VARIABLE, comp_type(c, p->response), "the response's body", 0, NULL);
        }
        /* steps, the closest first */
        for (int i = p->nsteps - 1; i >= 0; i--)
            comp_add(c, p->steps[i]->name, CK_VARIABLE, comp_type(c, p->step_types[i]), NULL, 1, NULL);
        if (p->place == CHK_PLACE_TEST) {
            comp_add(c, "output", CK_VARIABLE, comp_type(c, p->output ? p->output : &ast_type_null),
                     "the run's output", 2, NULL);
            comp_add(c, "status", CK_VARIABLE, "string", "the run's final state: \"succeeded\" or \"failed\"", 2,
                     NULL);
        }
        if (p->place != CHK_PLACE_ACTION) {
            if (p->trigger) comp_add(c, "trigger", CK_MODULE, comp_type(c, p->trigger), "the trigger's payload", 3, NULL);
            if (p->settings) comp_add(c, "settings", CK_MODULE, comp_type(c, p->settings), "the user's settings", 3, NULL);
        }
        if (p->secrets) comp_add(c, "secret", CK_MODULE, comp_type(c, p->secrets), "declared secrets", 3, NULL);
        comp_add(c, "env", CK_MODULE, "json", "environment variables: env.NAME is a string", 3, NULL);
        if (p->run) comp_add(c, "run", CK_MODULE, comp_type(c, p->run), "the run: id, user, attempt", 3, NULL);
    }
    for (int i = 0; i < chk_nbuiltin_fns; i++)
        comp_add(c, chk_builtin_fns[i].name, CK_FUNCTION, chk_builtin_fns[i].signature, chk_builtin_fns[i].doc, 4,
                 NULL);
    comp_keywords(c, literals, 6);
}

/* ---- keywords at a statement position ------------------------------------------------- */

static const char *const kw_statements[] = { "step", "if", "log", "return", "fail", "wait", NULL };
static const char *const kw_declarations[] = {
    "workflow", "import", "settings", "secrets", "trigger", "integration", "action", "test", NULL,
};
static const char *const kw_test_items[] = { "event", "settings", "user", "secret", "env", "mock", "expect", NULL };

/* The clauses a step may still take, as keywords. */
static void comp_clauses(comp *c, const ast_step *s)
{
    static const struct { ast_clause_kind kind; const char *word; bool request; } clauses[] = {
        { CL_HEADERS, "headers", true }, { CL_QUERY, "query", true }, { CL_JSON, "json", true },
        { CL_FORM, "form", true }, { CL_BODY, "body", true }, { CL_RETURNS, "returns", true },
        { CL_ACCEPT, "accept", true }, { CL_FAIL_WHEN, "fail when", true }, { CL_PAGINATE, "paginate", true },
        { CL_TIMEOUT, "timeout", false }, { CL_RETRY, "retry", false }, { CL_CONTINUE, "on failure continue", false },
    };
    for (size_t i = 0; i < sizeof clauses / sizeof *clauses; i++) {
        if (clauses[i].request && s->kind != STEP_REQUEST) continue;
        bool given = false;
        for (int k = 0; k < s->nclauses && !given; k++) given = s->clauses[k]->kind == clauses[i].kind;
        if (!given)
            comp_add(c, clauses[i].word, CK_KEYWORD, arena_printf(c->a, "clause of step %s", s->name), NULL, 0, NULL);
    }
}

static void comp_statement(comp *c, bool top, bool in_test)
{
    if (in_test) {
        comp_keywords(c, kw_test_items, 1);
        return;
    }
    ast_stmt *after = NULL;
    lsp_block_at(c->an->file, c->x.word_start, &after);
    if (after && after->kind == ST_STEP && after->step) comp_clauses(c, after->step);
    comp_keywords(c, kw_statements, 1);
    if (top) comp_keywords(c, kw_declarations, 2);
}

/* ---- action arguments ---------------------------------------------------------------- */

/* The `(` at `open` starts `integ.op(`: the action, or NULL. */
static ast_action *comp_call_at(comp *c, int open)
{
    const char *t = c->x.t;
    int e = open;
    while (e > 0 && (t[e - 1] == ' ' || t[e - 1] == '\t')) e--;
    int s = e;
    while (s > 0 && cx_ident(t[s - 1])) s--;
    if (s == e || s < 2 || t[s - 1] != '.') return NULL;
    int ie = s - 1, is = ie;
    while (is > 0 && cx_ident(t[is - 1])) is--;
    if (is == ie) return NULL;
    ast_program *prog = &c->an->prog;
    for (int i = 0; i < prog->nactions; i++) {
        ast_action *a = prog->actions[i];
        if ((int)strlen(a->integ) == ie - is && memcmp(a->integ, t + is, (size_t)(ie - is)) == 0 &&
            (int)strlen(a->op) == e - s && memcmp(a->op, t + s, (size_t)(e - s)) == 0)
            return a;
    }
    return NULL;
}

/* Whether `name:` is written between the call's `(` and the cursor, at
** the call's own level. */
static bool comp_arg_given(comp *c, int open, const char *name)
{
    const char *t = c->x.t;
    size_t n = strlen(name);
    int depth = 0;
    bool in_str = false;
    for (int i = open + 1; i < c->x.word_start; i++) {
        if (in_str) {
            if (t[i] == '\\') i++;
            else if (t[i] == '"') in_str = false;
            continue;
        }
        if (t[i] == '"') in_str = true;
        else if (strchr("([{", t[i])) depth++;
        else if (strchr(")]}", t[i])) depth--;
        else if (depth == 0 && (i == open + 1 || !cx_ident(t[i - 1])) && strncmp(t + i, name, n) == 0) {
            int k = i + (int)n;
            while (k < c->x.word_start && (t[k] == ' ' || t[k] == '\t')) k++;
            if (k < c->x.word_start && t[k] == ':') return true;
        }
    }
    return false;
}

static void comp_args(comp *c, ast_action *a, int open)
{
    int len;
    const char *text = lsp_ws_file_text(c->ws, a->loc.file, &len);
    for (int i = 0; i < a->nparams; i++) {
        ast_field *p = a->params[i];
        if (comp_arg_given(c, open, p->name)) continue;
        const char *detail = comp_type(c, p->type);
        if (p->deflt && text && p->deflt->loc.end <= len)
            detail = arena_printf(c->a, "%s = %.*s", detail, p->deflt->loc.end - p->deflt->loc.start,
                                  text + p->deflt->loc.start);
        else if (p->type->kind == TY_OPTIONAL)
            detail = arena_printf(c->a, "%s (optional)", detail);
        comp_add(c, p->name, CK_PROPERTY, detail, NULL, p->deflt || p->type->kind == TY_OPTIONAL ? 1 : 0,
                 arena_printf(c->a, "%s: ", p->name));
    }
}

/* ---- import paths ----------------------------------------------------------------------- */

static void comp_import(comp *c)
{
    ast_program *prog = &c->an->prog;
    /* the text typed inside the quotes is the prefix */
    c->x.word_start = c->x.str_start + 1;
    c->prefix = arena_strndup(c->a, c->x.t + c->x.word_start, (size_t)(c->x.offset - c->x.word_start));
    c->nprefix = (int)strlen(c->prefix);
    for (int i = 0; i < prog->nstdlib_modules; i++)
        comp_add(c, prog->stdlib_modules[i], CK_MODULE, "stdlib module", NULL, 0, NULL);
}

/* ---- the entry point ------------------------------------------------------------------- */

json_t *lsp_complete(lsp_ws *ws, lsp_analysis *an, int offset)
{
    comp cv = { .ws = ws, .an = an, .items = json_array(), .a = &an->prog.arena }, *c = &cv;
    cx *x = &c->x;
    cx_scan(x, an->text, an->len, offset);
    c->prefix = arena_strndup(c->a, an->text + x->word_start, (size_t)(offset - x->word_start));
    c->nprefix = offset - x->word_start;
    int ps, pe = cx_prev_token(x, x->word_start, &ps);

    if (x->state == CX_STRING) {
        int ls, le;
        cx_line_word(x, x->str_start, &ls, &le);
        if (cx_tok_is(x, ls, le, "import") && !memchr(an->text + x->str_start + 1, '/', (size_t)(offset - x->str_start - 1)))
            comp_import(c);
    } else if (x->state == CX_CODE || x->state == CX_INTERP) {
        int open = x->nb > 0 && x->nb <= CX_MAXB ? x->brackets[x->nb - 1] : -1;
        char open_ch = open >= 0 ? an->text[open] : 0;
        if (x->word_start > 0 && an->text[x->word_start - 1] == '.') {
            comp_member(c, x->word_start - 1);
        } else if (x->state == CX_INTERP) {
            comp_roots(c);
        } else if (cx_after_step_eq(x, ps, pe)) {
            static const char *const bodies[] = { "request", "function", "fanout", NULL };
            comp_keywords(c, bodies, 0);
            ast_program *prog = &an->prog;
            for (int i = 0; i < prog->nintegrations; i++)
                comp_add(c, prog->integrations[i]->name, CK_MODULE, "integration", NULL, 1, NULL);
        } else if (pe > 0 && cx_tok_is(x, ps, pe, "request")) {
            static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", NULL };
            comp_keywords(c, methods, 0);
        } else if (pe > 0 && cx_tok_is(x, ps, pe, "trigger") && cx_line_start(x, ps)) {
            static const char *const kinds[] = { "event", "request", "schedule", "enabled", NULL };
            comp_keywords(c, kinds, 0);
        } else if (pe > 0 && cx_tok_is(x, ps, pe, "auth")) {
            static const char *const auths[] = { "bearer", "basic", "header", "oauth2", NULL };
            comp_keywords(c, auths, 0);
        } else if (open_ch == '(' && pe > 0 && (an->text[ps] == '(' || an->text[ps] == ',') && comp_call_at(c, open)) {
            comp_args(c, comp_call_at(c, open), open);
        } else if (cx_statement_position(x, open, ps, pe)) {
            bool in_test = false;
            if (open >= 0) {
                int ls, le;
                cx_line_word(x, open, &ls, &le);
                in_test = cx_tok_is(x, ls, le, "test");
            }
            comp_statement(c, open < 0, in_test);
        } else if (open_ch == '{' && !cx_block_brace(x, open) && pe > 0 &&
                   (an->text[ps] == '{' || an->text[ps] == ',')) {
            /* a member's key or a schema's field name: nothing to offer */
        } else {
            comp_roots(c);
        }
    }
    cx_free(x);
    free(c->labels);
    json_decref(c->range);
    return json_pack("{s:b, s:o}", "isIncomplete", 0, "items", c->items);
}
