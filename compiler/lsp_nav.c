/*
** lsp_nav.c — hover, go to definition, references, document symbols and
** rename for `flowc lsp`, over the checked tree of the document's last
** analysis (types and resolved references are the checker's).
*/
#include "lsp_features.h"

#include <stdlib.h>
#include <string.h>

#include "lsp_index.h"

/* LSP SymbolKind */
enum {
    SK_MODULE = 2, SK_NAMESPACE = 3, SK_CLASS = 5, SK_METHOD = 6, SK_PROPERTY = 7, SK_FUNCTION = 12,
    SK_VARIABLE = 13, SK_KEY = 20, SK_OBJECT = 19, SK_EVENT = 24,
};

/* ---- files and locations -------------------------------------------------------- */

char *lsp_file_uri(lsp_ws *ws, int file)
{
    const char *path = lsp_ws_file_path(ws, file);
    if (!path) return xstrdup("file:///");
    char *canon = realpath(path, NULL);
    for (int i = 0; i < lsp_ws_ndocs(ws); i++) {
        lsp_doc *d = lsp_ws_doc_at(ws, i);
        char *c2 = realpath(d->path, NULL);
        bool same = strcmp(d->path, path) == 0 || (canon && c2 && strcmp(canon, c2) == 0);
        free(c2);
        if (same) {
            free(canon);
            return xstrdup(d->uri);
        }
    }
    free(canon);
    return lsp_path_to_uri(path);
}

/* A range over [start, end) of any file of the workspace. */
static json_t *nav_range(lsp_ws *ws, lsp_analysis *an, int file, int start, int end)
{
    if (file == an->file_id) return lsp_json_range(&an->lines, an->text, an->len, start, end);
    int len;
    const char *text = lsp_ws_file_text(ws, file, &len);
    if (!text) return lsp_json_range(&an->lines, an->text, an->len, 0, 0);
    lsp_lines lines;
    lsp_lines_build(&lines, text, len);
    json_t *r = lsp_json_range(&lines, text, len, start, end);
    lsp_lines_free(&lines);
    return r;
}

static json_t *nav_location(lsp_ws *ws, lsp_analysis *an, src_loc loc)
{
    char *uri = lsp_file_uri(ws, loc.file);
    json_t *j = json_pack("{s:o, s:o}", "uri", lsp_json_str(uri), "range", nav_range(ws, an, loc.file, loc.start, loc.end));
    free(uri);
    return j;
}

static bool loc_real(src_loc l) { return l.end > l.start && l.file >= 0; }

/* The source text of a span of the document (arena). */
static const char *nav_text(lsp_ws *ws, lsp_analysis *an, src_loc l)
{
    int len = an->len;
    const char *text = l.file == an->file_id ? an->text : lsp_ws_file_text(ws, l.file, &len);
    if (!text || l.start < 0 || l.end > len || l.end < l.start) return "";
    int n = l.end - l.start;
    const char *nl = memchr(text + l.start, '\n', (size_t)n);
    if (nl) n = (int)(nl - (text + l.start));
    if (n > 80) return arena_printf(&an->prog.arena, "%.77s...", text + l.start);
    return arena_strndup(&an->prog.arena, text + l.start, (size_t)n);
}

/* ---- hover ----------------------------------------------------------------------- */

static const char *ty(lsp_analysis *an, const ast_type *t)
{
    return t ? ast_type_str(&an->prog.arena, t) : "json";
}

/* An action's signature, as written in .flow. */
static const char *nav_signature(lsp_ws *ws, lsp_analysis *an, const ast_action *a)
{
    strbuf b = { 0 };
    strbuf_printf(&b, "action %s.%s(", a->integ, a->op);
    for (int i = 0; i < a->nparams; i++) {
        strbuf_printf(&b, "%s%s: %s", i ? ", " : "", a->params[i]->name, ty(an, a->params[i]->type));
        if (a->params[i]->deflt) strbuf_printf(&b, " = %s", nav_text(ws, an, a->params[i]->deflt->loc));
    }
    strbuf_printf(&b, ") -> %s", ty(an, a->out));
    const char *s = arena_strndup(&an->prog.arena, b.data, b.len);
    strbuf_free(&b);
    return s;
}

static const char *nav_action_doc(lsp_ws *ws, lsp_analysis *an, const ast_action *a)
{
    int len;
    const char *text = lsp_ws_file_text(ws, a->loc.file, &len);
    const char *doc = text && a->file ? lsp_doc_comment(&an->prog.arena, a->file, text, len, a->loc.start) : NULL;
    const char *sig = nav_signature(ws, an, a);
    const char *where = a->file && a->file->path ? a->file->path : "";
    const char *slash = strrchr(where, '/');
    return arena_printf(&an->prog.arena, "```flow\n%s\n```\n%s%s*%s*", sig, doc ? doc : "", doc ? "\n" : "",
                        slash ? slash + 1 : where);
}

static const char *nav_step_kind(lsp_analysis *an, const ast_step *s)
{
    switch (s->kind) {
    case STEP_REQUEST: return arena_printf(&an->prog.arena, "request %s", s->req ? s->req->method : "");
    case STEP_ACTION: return arena_printf(&an->prog.arena, "action %s.%s", s->integ, s->op);
    case STEP_FUNCTION: return "function";
    case STEP_FANOUT: return arena_printf(&an->prog.arena, "fanout over %s", s->var ? s->var : "?");
    case STEP_LET: return "let value";
    }
    return "step";
}

static const char *nav_step_hover(lsp_analysis *an, const ast_step *s, const ast_type *as_read)
{
    int line, col;
    diag_line_col(an->prog.diag, s->name_loc.file, s->name_loc.start, &line, &col);
    const char *note = s->continue_on_failure ? "; on failure continue: its fields may be null unless `.ok` is checked" : "";
    return arena_printf(&an->prog.arena, "```flow\n%s %s: %s\n```\n%s, line %d%s", s->kind == STEP_LET ? "let" : "step",
                        s->name, ty(an, as_read ? as_read : s->out), nav_step_kind(an, s), line, note);
}

static const char *nav_expr_hover(lsp_ws *ws, lsp_analysis *an, const ast_expr *e)
{
    if (!e->type) return NULL;
    const char *t = ty(an, e->type);
    if (e->kind == EX_NAME) {
        switch (e->ref) {
        case REF_STEP: return e->ref_step ? nav_step_hover(an, e->ref_step, e->type) : NULL;
        case REF_VAR:
            return arena_printf(&an->prog.arena, "```flow\n%s: %s\n```\nfanout variable of step %s", e->name, t,
                                e->ref_step && e->ref_step->name ? e->ref_step->name : "?");
        case REF_PARAM: return arena_printf(&an->prog.arena, "```flow\n%s: %s\n```\naction parameter", e->name, t);
        case REF_TRIGGER: return arena_printf(&an->prog.arena, "```flow\ntrigger: %s\n```\nthe trigger's payload", t);
        case REF_SETTINGS: return arena_printf(&an->prog.arena, "```flow\nsettings: %s\n```\nthe user's settings", t);
        case REF_SECRET: return arena_printf(&an->prog.arena, "```flow\nsecret: %s\n```\ndeclared secrets", t);
        case REF_RUN: return arena_printf(&an->prog.arena, "```flow\nrun: %s\n```", t);
        default: break;
        }
        return arena_printf(&an->prog.arena, "```flow\n%s: %s\n```", e->name, t);
    }
    if (e->kind == EX_CALL) {
        for (int i = 0; i < chk_nbuiltin_fns; i++)
            if (strcmp(chk_builtin_fns[i].name, e->name) == 0)
                return arena_printf(&an->prog.arena, "```flow\n%s\n```\n%s", chk_builtin_fns[i].signature,
                                    chk_builtin_fns[i].doc);
    }
    if (e->kind == EX_FIELD) {
        const char *path = nav_text(ws, an, (src_loc){ e->loc.file, e->loc.start, e->name_loc.end });
        return arena_printf(&an->prog.arena, "```flow\n%s: %s\n```", path, t);
    }
    return arena_printf(&an->prog.arena, "```flow\n%s\n```", t);
}

json_t *lsp_hover(lsp_ws *ws, lsp_analysis *an, int offset)
{
    if (!an->file) return json_null();
    lsp_node n = lsp_node_at(an->file, offset);
    const char *md = NULL;
    switch (n.kind) {
    case NODE_NONE: break;
    case NODE_EXPR: md = nav_expr_hover(ws, an, n.expr); break;
    case NODE_STEP_NAME: md = n.step->out ? nav_step_hover(an, n.step, NULL) : NULL; break;
    case NODE_FANOUT_VAR:
        md = arena_printf(&an->prog.arena, "```flow\n%s: %s\n```\nfanout variable", n.step->var,
                          ty(an, n.step->var_type));
        break;
    case NODE_ACTION_CALL: md = n.step->action ? nav_action_doc(ws, an, n.step->action) : NULL; break;
    case NODE_ACTION_DECL: md = nav_action_doc(ws, an, n.action); break;
    case NODE_ARG_NAME:
        for (int i = 0; n.step->action && i < n.step->action->nparams; i++)
            if (strcmp(n.step->action->params[i]->name, n.arg->name) == 0)
                md = arena_printf(&an->prog.arena, "```flow\n%s: %s\n```\nparameter of %s.%s", n.arg->name,
                                  ty(an, n.step->action->params[i]->type), n.step->integ, n.step->op);
        break;
    case NODE_IMPORT:
        md = n.import->file ? arena_printf(&an->prog.arena, "`%s`", n.import->file->path) : NULL;
        break;
    case NODE_SETTING:
        md = arena_printf(&an->prog.arena, "```flow\nsettings.%s: %s\n```%s", n.field->name, ty(an, n.field->type),
                          n.field->deflt ? "" : "\nrequired: no default");
        break;
    case NODE_SECRET_DECL:
        md = arena_printf(&an->prog.arena, "```flow\nsecret.%s: string\n```", n.arg->name);
        break;
    case NODE_TRIGGER_FIELD:
        md = arena_printf(&an->prog.arena, "```flow\ntrigger.%s: %s\n```", n.field->name, ty(an, n.field->type));
        break;
    }
    if (!md) return json_null();
    return json_pack("{s:{s:s, s:o}, s:o}", "contents", "kind", "markdown", "value", lsp_json_str(md), "range",
                     nav_range(ws, an, an->file_id, n.loc.start, n.loc.end));
}

/* ---- definition ------------------------------------------------------------------------ */

static ast_field *nav_field(const ast_type *t, const char *name)
{
    if (t && t->kind == TY_OPTIONAL) t = t->elem;
    for (int i = 0; t && t->kind == TY_OBJECT && i < t->nfields; i++)
        if (strcmp(t->fields[i]->name, name) == 0) return t->fields[i];
    return NULL;
}

/* Where what the expression names is declared, or {-1}. */
static src_loc nav_expr_def(lsp_analysis *an, const ast_expr *e)
{
    src_loc none = { -1, 0, 0 };
    ast_file *m = an->prog.main;
    if (e->kind == EX_NAME) {
        if (e->ref == REF_STEP && e->ref_step) return e->ref_step->name_loc;
        if (e->ref == REF_VAR && e->ref_step) return e->ref_step->var_loc;
        if (e->ref == REF_PARAM && e->ref_param) return e->ref_param->loc;
        if (e->ref == REF_TRIGGER && m && m->ntriggers) return m->triggers[0]->loc;
        return none;
    }
    if (e->kind != EX_FIELD || !e->a) return none;
    if (e->a->kind == EX_NAME && e->a->ref == REF_SECRET && m) {
        for (int i = 0; i < m->nsecrets; i++)
            if (strcmp(m->secrets[i]->name, e->name) == 0) return m->secrets[i]->loc;
        return none;
    }
    if (e->a->kind == EX_NAME && e->a->ref == REF_SETTINGS && m) {
        for (int i = 0; i < m->nsettings; i++)
            if (strcmp(m->settings[i]->name, e->name) == 0) return m->settings[i]->loc;
        return none;
    }
    /* a field of a declared type: where the type declares it */
    ast_field *f = nav_field(e->a->type, e->name);
    if (f && loc_real(f->loc)) return f->loc;
    return none;
}

json_t *lsp_definition(lsp_ws *ws, lsp_analysis *an, int offset)
{
    if (!an->file) return json_null();
    lsp_node n = lsp_node_at(an->file, offset);
    src_loc to = { -1, 0, 0 };
    switch (n.kind) {
    case NODE_EXPR: to = nav_expr_def(an, n.expr); break;
    case NODE_STEP_NAME: to = n.step->name_loc; break;
    case NODE_FANOUT_VAR: to = n.step->var_loc; break;
    case NODE_ACTION_CALL:
        if (n.step->action) {
            to = n.step->action->loc;
            to.end = to.start + 6;      /* `action` */
        }
        break;
    case NODE_ACTION_DECL: to = n.loc; break;
    case NODE_ARG_NAME:
        for (int i = 0; n.step->action && i < n.step->action->nparams; i++)
            if (strcmp(n.step->action->params[i]->name, n.arg->name) == 0) to = n.step->action->params[i]->loc;
        break;
    case NODE_IMPORT:
        if (n.import->file) to = (src_loc){ n.import->file->file_id, 0, 0 };
        break;
    case NODE_SETTING: to = n.field->loc; break;
    case NODE_SECRET_DECL: to = n.arg->loc; break;
    case NODE_TRIGGER_FIELD: to = n.field->loc; break;
    case NODE_NONE: break;
    }
    if (to.file < 0) return json_null();
    return nav_location(ws, an, to);
}

/* ---- references ---------------------------------------------------------------------- */

/* The step (or fanout, for its variable) meant at offset; *var: its variable. */
static ast_step *nav_step_at(lsp_analysis *an, int offset, bool *var)
{
    *var = false;
    if (!an->file) return NULL;
    lsp_node n = lsp_node_at(an->file, offset);
    if (n.kind == NODE_STEP_NAME) return n.step;
    if (n.kind == NODE_FANOUT_VAR) {
        *var = true;
        return n.step;
    }
    if (n.kind == NODE_EXPR && n.expr->kind == EX_NAME && (n.expr->ref == REF_STEP || n.expr->ref == REF_VAR)) {
        *var = n.expr->ref == REF_VAR;
        return n.expr->ref_step;
    }
    return NULL;
}

typedef struct ref_find {
    ast_step *step;
    bool var;
    ptrvec found;           /* ast_expr * */
    arena *a;
} ref_find;

static void ref_visit(lsp_walk *w, ast_expr *e)
{
    ref_find *rf = w->ud;
    if (e->kind == EX_NAME && e->ref_step == rf->step && e->ref == (rf->var ? REF_VAR : REF_STEP))
        ptrvec_push(rf->a, &rf->found, e);
}

/* Every reference to the step (or its variable) in the program's own files
** (the workflow and its tests file). */
static void nav_refs(lsp_analysis *an, ref_find *rf)
{
    lsp_walk w = { .expr = ref_visit, .ud = rf };
    ast_file *files[2] = { an->prog.main, an->prog.tests_file };
    for (int i = 0; i < 2; i++)
        if (files[i] && (i == 0 || files[i] != files[0])) lsp_walk_file(&w, files[i]);
}

json_t *lsp_references(lsp_ws *ws, lsp_analysis *an, int offset, bool include_declaration)
{
    bool var;
    ast_step *s = nav_step_at(an, offset, &var);
    json_t *list = json_array();
    if (!s) return list;
    ref_find rf = { .step = s, .var = var, .a = &an->prog.arena };
    nav_refs(an, &rf);
    if (include_declaration) json_array_append_new(list, nav_location(ws, an, var ? s->var_loc : s->name_loc));
    for (int i = 0; i < rf.found.len; i++)
        json_array_append_new(list, nav_location(ws, an, ((ast_expr *)rf.found.items[i])->loc));
    return list;
}

/* ---- rename ------------------------------------------------------------------------------ */

json_t *lsp_prepare_rename(lsp_ws *ws, lsp_analysis *an, int offset)
{
    bool var;
    ast_step *s = nav_step_at(an, offset, &var);
    if (!s || var || !s->name) return json_null();
    lsp_node n = lsp_node_at(an->file, offset);
    return json_pack("{s:o, s:s}", "range", nav_range(ws, an, an->file_id, n.loc.start, n.loc.end), "placeholder",
                     s->name);
}

static bool nav_is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* Words the lexer reserves, and names a step may not take (check.c). */
static const char *const nav_reserved[] = {
    "workflow", "import", "settings", "secrets", "secret", "trigger", "event", "request", "schedule", "enabled",
    "integration", "action", "auth", "bearer", "basic", "header", "oauth2", "step", "function", "fanout", "in",
    "concurrency", "if", "else", "return", "fail", "log", "wait", "until", "and", "or", "not", "true", "false",
    "null", "test", "tests", "for", "mock", "expect", "env", "then", "times", "delay", "headers", "query", "json",
    "form", "body", "returns", "accept", "paginate", "cursor", "page", "link", "max", "timeout", "retry",
    "backoff", "on", "failure", "continue", "user",
    "run", "output", "status", "len", "lower", "upper", "trim", "string", "url_encode", "int", "float",
    "contains", "join", "now", "bool", "base64",
};

json_t *lsp_rename(lsp_ws *ws, lsp_analysis *an, int offset, const char *new_name, char *err, size_t errsize)
{
    bool var;
    ast_step *s = nav_step_at(an, offset, &var);
    if (!s || var || !s->name) {
        snprintf(err, errsize, "only a step can be renamed: put the cursor on a step's name or on a reference to it");
        return NULL;
    }
    if (!nav_is_ident(new_name)) {
        snprintf(err, errsize, "'%.100s' is not a step name (letters, digits and _, not starting with a digit)",
                 new_name);
        return NULL;
    }
    for (size_t i = 0; i < sizeof nav_reserved / sizeof *nav_reserved; i++) {
        if (strcmp(new_name, nav_reserved[i]) == 0) {
            snprintf(err, errsize, "'%s' is reserved and cannot name a step", new_name);
            return NULL;
        }
    }
    ast_program *prog = &an->prog;
    for (int i = 0; i < prog->nsteps; i++) {
        ast_step *o = prog->steps[i];
        char pos[32];
        if (o != s && o->name && strcmp(o->name, new_name) == 0) {
            diag_format_pos(prog->diag, o->name_loc, pos, sizeof pos);
            snprintf(err, errsize, "cannot rename '%s' to '%s': a %s named '%s' is already defined at %s", s->name,
                     new_name, o->kind == STEP_LET ? "let" : "step", new_name, pos);
            return NULL;
        }
        if (o->kind == STEP_FANOUT && o->var && strcmp(o->var, new_name) == 0) {
            diag_format_pos(prog->diag, o->var_loc, pos, sizeof pos);
            snprintf(err, errsize, "cannot rename '%s' to '%s': '%s' is the variable of the fanout at %s", s->name,
                     new_name, new_name, pos);
            return NULL;
        }
    }
    ref_find rf = { .step = s, .a = &prog->arena };
    nav_refs(an, &rf);
    json_t *changes = json_object();
    for (int i = -1; i < rf.found.len; i++) {
        src_loc l = i < 0 ? s->name_loc : ((ast_expr *)rf.found.items[i])->loc;
        char *uri = lsp_file_uri(ws, l.file);
        json_t *edits = json_object_get(changes, uri);
        if (!edits) {
            edits = json_array();
            json_object_set_new(changes, uri, edits);
        }
        json_array_append_new(edits, json_pack("{s:o, s:s}", "range", nav_range(ws, an, l.file, l.start, l.end),
                                               "newText", new_name));
        free(uri);
    }
    return json_pack("{s:o}", "changes", changes);
}

/* ---- document symbols ------------------------------------------------------------------- */

static json_t *sym_new(lsp_ws *ws, lsp_analysis *an, const char *name, const char *detail, int kind, src_loc range,
                       src_loc sel)
{
    if (sel.start < range.start || sel.end > range.end) sel = (src_loc){ range.file, range.start, range.start };
    json_t *j = json_pack("{s:o, s:i, s:o, s:o}", "name", lsp_json_str(name && *name ? name : "?"), "kind", kind,
                          "range", nav_range(ws, an, an->file_id, range.start, range.end), "selectionRange",
                          nav_range(ws, an, an->file_id, sel.start, sel.end));
    if (detail) json_object_set_new(j, "detail", lsp_json_str(detail));
    return j;
}

static void sym_children(json_t *parent, json_t *child)
{
    json_t *c = json_object_get(parent, "children");
    if (!c) {
        c = json_array();
        json_object_set_new(parent, "children", c);
    }
    json_array_append_new(c, child);
}

static void sym_block(lsp_ws *ws, lsp_analysis *an, const ast_block *b, json_t *into);

static void sym_stmt(lsp_ws *ws, lsp_analysis *an, const ast_stmt *st, json_t *into)
{
    if ((st->kind == ST_STEP || st->kind == ST_LET) && st->step && st->step->name) {
        ast_step *s = st->step;
        json_t *j = sym_new(ws, an, s->name, nav_step_kind(an, s), SK_FUNCTION, st->span, s->name_loc);
        if (s->kind == STEP_FANOUT) sym_block(ws, an, s->body, j);
        json_array_append_new(into, j);
    } else if (st->kind == ST_IF) {
        for (int i = 0; i < st->nbranches; i++) {
            const ast_block *b = st->thens[i];
            src_loc cond = st->conds[i] ? st->conds[i]->loc : st->loc;
            src_loc range = { st->span.file, i ? cond.start : st->span.start, b ? b->loc.end : cond.end };
            json_t *j = sym_new(ws, an, arena_printf(&an->prog.arena, "%s %s", i ? "else if" : "if",
                                                     nav_text(ws, an, cond)),
                                NULL, SK_NAMESPACE, range, i ? cond : st->loc);
            sym_block(ws, an, b, j);
            json_array_append_new(into, j);
        }
        if (st->els) {
            json_t *j = sym_new(ws, an, "else", NULL, SK_NAMESPACE, st->els->loc, st->els->loc);
            sym_block(ws, an, st->els, j);
            json_array_append_new(into, j);
        }
    }
}

static void sym_block(lsp_ws *ws, lsp_analysis *an, const ast_block *b, json_t *into)
{
    if (!b) return;
    json_t *list = json_array();
    for (int i = 0; i < b->nstmts; i++) sym_stmt(ws, an, b->stmts[i], list);
    if (json_array_size(list)) {
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c) sym_children(into, json_incref(c));
    }
    json_decref(list);
}

json_t *lsp_symbols(lsp_ws *ws, lsp_analysis *an)
{
    json_t *out = json_array();
    ast_file *f = an->file;
    if (!f) return out;
    src_loc whole = { an->file_id, 0, an->len };
    json_t *root = NULL;
    if (f->has_workflow) {
        root = sym_new(ws, an, f->workflow, f->description, SK_MODULE, whole, f->workflow_loc);
        json_array_append_new(out, root);
    }
    for (int i = 0; i < f->ntops; i++) {
        ast_top *t = &f->tops[i];
        json_t *j = NULL;
        switch (t->kind) {
        case TOP_TRIGGER: {
            ast_trigger *tr = t->node;
            static const char *const kinds[] = { "", "event", "request", "schedule", "enabled" };
            const char *name = tr->event ? arena_printf(&an->prog.arena, "trigger %s \"%s\"", kinds[tr->kind], tr->event)
                             : tr->cron ? arena_printf(&an->prog.arena, "trigger schedule \"%s\"", tr->cron)
                                        : arena_printf(&an->prog.arena, "trigger %s", kinds[tr->kind]);
            j = sym_new(ws, an, name, NULL, SK_EVENT, t->span, tr->loc);
            for (int k = 0; tr->schema && k < tr->schema->nfields; k++) {
                ast_field *fl = tr->schema->fields[k];
                sym_children(j, sym_new(ws, an, fl->name, ty(an, fl->type), SK_PROPERTY, fl->loc, fl->loc));
            }
            break;
        }
        case TOP_SETTINGS:
            j = sym_new(ws, an, "settings", NULL, SK_OBJECT, t->span, (src_loc){ t->span.file, t->span.start, t->span.start + 8 });
            for (int k = t->first; k < t->first + t->count && k < f->nsettings; k++) {
                ast_field *fl = f->settings[k];
                sym_children(j, sym_new(ws, an, fl->name, ty(an, fl->type), SK_PROPERTY, fl->loc, fl->loc));
            }
            break;
        case TOP_SECRETS:
            j = sym_new(ws, an, "secrets", NULL, SK_OBJECT, t->span, (src_loc){ t->span.file, t->span.start, t->span.start + 7 });
            for (int k = t->first; k < t->first + t->count && k < f->nsecrets; k++)
                sym_children(j, sym_new(ws, an, f->secrets[k]->name, "string", SK_KEY, f->secrets[k]->loc,
                                        f->secrets[k]->loc));
            break;
        case TOP_INTEGRATION: {
            ast_integration *in = t->node;
            j = sym_new(ws, an, in->name, "integration", SK_CLASS, t->span, in->loc);
            break;
        }
        case TOP_ACTION: {
            ast_action *a = t->node;
            j = sym_new(ws, an, arena_printf(&an->prog.arena, "%s.%s", a->integ, a->op), ty(an, a->out), SK_METHOD,
                        t->span, a->loc);
            break;
        }
        case TOP_TEST: {
            ast_test *te = t->node;
            j = sym_new(ws, an, arena_printf(&an->prog.arena, "test \"%s\"", te->name), NULL, SK_METHOD, t->span,
                        te->loc);
            break;
        }
        case TOP_STMT: {
            json_t *list = json_array();
            sym_stmt(ws, an, t->node, list);
            size_t k;
            json_t *c;
            json_array_foreach(list, k, c) {
                if (root) sym_children(root, json_incref(c));
                else json_array_append(out, c);
            }
            json_decref(list);
            continue;
        }
        default:
            continue;
        }
        if (root) sym_children(root, j);
        else json_array_append_new(out, j);
    }
    return out;
}
