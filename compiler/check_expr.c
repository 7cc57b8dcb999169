/*
** check_expr.c — the checker's expressions and types: names and their
** scope, field access, operators, built-in calls, optionals and narrowing,
** and the editor's probe of the scope at a point.
**
** Shared with check.c (statements, declarations, tests) through
** check_int.h; the entry points are in check.h.
*/
#include "check_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- a string-keyed map (open addressing, arena-backed) ---------------- */

static uint32_t chk_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void chk_map_grow(arena *a, chk_map *m)
{
    chk_map old = *m;
    m->cap = old.cap ? old.cap * 2 : 8;     /* most maps are small: a type's fields */
    m->len = 0;
    m->keys = arena_alloc(a, sizeof *m->keys * (size_t)m->cap);
    m->vals = arena_alloc(a, sizeof *m->vals * (size_t)m->cap);
    for (int i = 0; i < old.cap; i++)
        if (old.keys[i]) chk_map_put(a, m, old.keys[i], old.vals[i]);
}

void chk_map_put(arena *a, chk_map *m, const char *key, void *val)
{
    if ((m->len + 1) * 2 > m->cap) chk_map_grow(a, m);
    uint32_t i = chk_hash(key) & (uint32_t)(m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & (uint32_t)(m->cap - 1);
    if (!m->keys[i]) m->len++;
    m->keys[i] = key;
    m->vals[i] = val;
}

void *chk_map_get(const chk_map *m, const char *key)
{
    if (!m->cap) return NULL;
    uint32_t i = chk_hash(key) & (uint32_t)(m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
        i = (i + 1) & (uint32_t)(m->cap - 1);
    }
    return NULL;
}

/* ---- types ------------------------------------------------------------- */

static ast_type *ty_new(chk_state *st, ast_type_kind k, ast_type *elem)
{
    ast_type *t = arena_alloc(st->a, sizeof *t);
    t->kind = k;
    t->elem = elem;
    return t;
}

ast_type *ty_list(chk_state *st, ast_type *elem) { return ty_new(st, TY_LIST, elem); }

ast_type *ty_opt(chk_state *st, ast_type *t)
{
    if (t->kind == TY_OPTIONAL || t->kind == TY_JSON || t->kind == TY_NULL || t->kind == TY_ERROR)
        return t;
    return ty_new(st, TY_OPTIONAL, t);
}

ast_type *ty_strip(ast_type *t) { return t->kind == TY_OPTIONAL ? t->elem : t; }

ast_field *ty_mkfield(chk_state *st, const char *name, ast_type *t)
{
    ast_field *f = arena_alloc(st->a, sizeof *f);
    f->name = name;
    f->type = t;
    return f;
}

ast_type *ty_object(chk_state *st, int n, ast_field **fields)
{
    ast_type *t = ty_new(st, TY_OBJECT, NULL);
    t->nfields = n;
    t->fields = arena_alloc(st->a, sizeof *t->fields * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) t->fields[i] = fields[i];
    return t;
}

ast_field *ty_field(const ast_type *t, const char *name)
{
    for (int i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i]->name, name) == 0) return t->fields[i];
    return NULL;
}

static bool ty_is_num(const ast_type *t) { return t->kind == TY_INT || t->kind == TY_FLOAT; }

bool ty_dyn(const ast_type *t) { return t->kind == TY_JSON || t->kind == TY_ERROR; }

bool chk_assignable(const ast_type *from, const ast_type *to)
{
    if (ty_dyn(from) || ty_dyn(to)) return true;
    if (to->kind == TY_OPTIONAL) {
        if (from->kind == TY_NULL) return true;
        return chk_assignable(ty_strip((ast_type *)from), to->elem);
    }
    if (from->kind == TY_OPTIONAL || from->kind == TY_NULL) return false;
    if (from->kind == TY_INT && to->kind == TY_FLOAT) return true;
    if (from->kind != to->kind) return false;
    switch (to->kind) {
    case TY_LIST:
        return chk_assignable(from->elem, to->elem);
    case TY_OBJECT:
        for (int i = 0; i < to->nfields; i++) {
            ast_field *ff = ty_field(from, to->fields[i]->name);
            if (!ff) {
                if (to->fields[i]->type->kind != TY_OPTIONAL && !ty_dyn(to->fields[i]->type))
                    return false;
            } else if (!chk_assignable(ff->type, to->fields[i]->type)) {
                return false;
            }
        }
        return true;
    default:
        return true;
    }
}

/* The smallest type both a and b fit in, or NULL when there is none. */
ast_type *ty_unify(chk_state *st, ast_type *a, ast_type *b)
{
    if (a->kind == TY_ERROR) return b;
    if (b->kind == TY_ERROR) return a;
    if (a->kind == TY_JSON || b->kind == TY_JSON) return &ast_type_json;
    if (a->kind == TY_NULL && b->kind == TY_NULL) return a;
    if (a->kind == TY_NULL) return ty_opt(st, b);
    if (b->kind == TY_NULL) return ty_opt(st, a);
    if (a->kind == TY_OPTIONAL || b->kind == TY_OPTIONAL) {
        ast_type *u = ty_unify(st, ty_strip(a), ty_strip(b));
        return u ? ty_opt(st, u) : NULL;
    }
    if (ty_is_num(a) && ty_is_num(b))
        return a->kind == TY_FLOAT || b->kind == TY_FLOAT ? &ast_type_float : &ast_type_int;
    if (a->kind != b->kind) return NULL;
    if (a->kind == TY_LIST) {
        /* [] (a list of json from an empty literal) fits any list */
        ast_type *u = ty_unify(st, a->elem, b->elem);
        return u ? ty_list(st, u) : NULL;
    }
    if (a->kind == TY_OBJECT) {
        ast_field **fields = arena_alloc(st->a, sizeof *fields * (size_t)(a->nfields + b->nfields + 1));
        int n = 0;
        for (int i = 0; i < a->nfields; i++) {
            ast_field *bf = ty_field(b, a->fields[i]->name);
            ast_type *u = bf ? ty_unify(st, a->fields[i]->type, bf->type)
                             : ty_opt(st, a->fields[i]->type);
            if (!u) return NULL;
            fields[n++] = ty_mkfield(st, a->fields[i]->name, u);
        }
        for (int i = 0; i < b->nfields; i++)
            if (!ty_field(a, b->fields[i]->name))
                fields[n++] = ty_mkfield(st, b->fields[i]->name, ty_opt(st, b->fields[i]->type));
        return ty_object(st, n, fields);
    }
    return a;
}

const char *tystr(chk_state *st, const ast_type *t) { return ast_type_str(st->a, t); }

/* A step's output made optional field by field: what `on failure continue`
** (and a test's view of a step that may not have run) gives. */
static ast_type *ty_fields_optional(chk_state *st, ast_type *t)
{
    if (t->kind != TY_OBJECT) return ty_opt(st, t);
    ast_field **fields = arena_alloc(st->a, sizeof *fields * (size_t)(t->nfields + 1));
    for (int i = 0; i < t->nfields; i++)
        fields[i] = ty_mkfield(st, t->fields[i]->name, ty_opt(st, t->fields[i]->type));
    return ty_object(st, t->nfields, fields);
}

/* ---- suggestions ------------------------------------------------------- */

static int chk_distance(const char *a, const char *b)
{
    /* edit distance where a swap of two neighbours counts as one edit
    ** (optimal string alignment): "titel" is one edit from "title" */
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 1000;
    int rows[3][65];
    int *r2 = rows[0], *r1 = rows[1], *r0 = rows[2];   /* rows i-2, i-1, i */
    for (size_t j = 0; j <= lb; j++) r1[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        r0[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int best = r1[j - 1] + (a[i - 1] != b[j - 1]);
            if (r1[j] + 1 < best) best = r1[j] + 1;
            if (r0[j - 1] + 1 < best) best = r0[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && r2[j - 2] + 1 < best)
                best = r2[j - 2] + 1;
            r0[j] = best;
        }
        int *t = r2;
        r2 = r1;
        r1 = r0;
        r0 = t;
    }
    return r1[lb];
}

const char *chk_did_you_mean(const char *name, const char *const *candidates, int n)
{
    const char *best = NULL;
    int bestd = 1000;
    int limit = (int)strlen(name) / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    for (int i = 0; i < n; i++) {
        if (!candidates[i] || strcmp(candidates[i], name) == 0) continue;
        int dist = chk_distance(name, candidates[i]);
        if (dist < bestd) {
            bestd = dist;
            best = candidates[i];
        }
    }
    return bestd <= limit ? best : NULL;
}

/* "; did you mean 'x'?" or "" */
const char *chk_hint(chk_state *st, const char *name, const char *const *cands, int n)
{
    const char *s = chk_did_you_mean(name, cands, n);
    return s ? arena_printf(st->a, "; did you mean '%s'?", s) : "";
}

const char *chk_pos(chk_state *st, src_loc loc)
{
    char buf[32];
    diag_format_pos(st->d, loc, buf, sizeof buf);
    return arena_strdup(st->a, buf);
}


/* ---- expression paths (for narrowing) ---------------------------------- */

/* "a.b.c" for a pure field path, else NULL. */
const char *chk_path(chk_state *st, const ast_expr *e)
{
    if (e->kind == EX_NAME) return e->name;
    if (e->kind == EX_FIELD) {
        const char *base = chk_path(st, e->a);
        return base ? arena_printf(st->a, "%s.%s", base, e->name) : NULL;
    }
    return NULL;
}

/* How a diagnostic names e: its path, else its source text (shortened). */
static const char *chk_shown(chk_state *st, const ast_expr *e)
{
    const char *path = chk_path(st, e);
    if (path) return path;
    const diag_file *f = e->loc.file >= 0 && e->loc.file < st->d->nfiles ? st->d->files[e->loc.file] : NULL;
    int start = e->loc.start, len = e->loc.end - e->loc.start;
    if (!f || start < 0 || len <= 0 || start + len > f->len) return "the value";
    for (int i = 0; i < len; i++)
        if (f->text[start + i] == '\n') len = i;     /* first line only */
    if (len <= 40) return arena_printf(st->a, "%.*s", len, f->text + start);
    return arena_printf(st->a, "%.*s...", (int)util_utf8_cut(f->text + start, (size_t)len, 37), f->text + start);
}

static bool chk_is_narrowed(chk_state *st, const char *path)
{
    if (!path) return false;
    for (int i = st->narrowed.len - 1; i >= 0; i--)
        if (strcmp(st->narrowed.items[i], path) == 0) return true;
    return false;
}

/* Paths a condition proves non-null when it holds: `p != null`, `null != p`,
** `s.ok` (as "s.ok"), and the conjuncts of `and`. `negated` collects the
** same for the else branch of `p == null`. */
void chk_collect_narrowing(chk_state *st, const ast_expr *e, bool want_true, ptrvec *out)
{
    if (e->kind == EX_BINARY && e->op == OP_AND && want_true) {
        chk_collect_narrowing(st, e->a, true, out);
        chk_collect_narrowing(st, e->b, true, out);
    } else if (e->kind == EX_BINARY && e->op == OP_OR && !want_true) {
        chk_collect_narrowing(st, e->a, false, out);
        chk_collect_narrowing(st, e->b, false, out);
    } else if (e->kind == EX_UNARY && e->op == OP_NOT) {
        chk_collect_narrowing(st, e->a, !want_true, out);
    } else if (e->kind == EX_BINARY && (e->op == OP_NE || e->op == OP_EQ)) {
        if ((e->op == OP_NE) != want_true) return;
        const ast_expr *p = e->a->kind == EX_NULL ? e->b : e->b->kind == EX_NULL ? e->a : NULL;
        const char *path = p ? chk_path(st, p) : NULL;
        if (path) ptrvec_push(st->a, out, (void *)path);
    } else if (e->kind == EX_FIELD && want_true && strcmp(e->name, "ok") == 0 &&
               e->a->kind == EX_NAME && e->a->ref == REF_STEP) {
        ptrvec_push(st->a, out, (void *)arena_printf(st->a, "%s.ok", e->a->name));
    }
}

int chk_narrow_push(chk_state *st, const ptrvec *paths)
{
    int mark = st->narrowed.len;
    for (int i = 0; i < paths->len; i++) ptrvec_push(st->a, &st->narrowed, paths->items[i]);
    return mark;
}

/* ---- expressions ------------------------------------------------------- */

/* Indexed by ast_fn - 1: FN_len is chk_builtin_fns[0]. */
const chk_builtin chk_builtin_fns[] = {
#define FLOW_BUILTIN(name, min, max, signature, doc) { #name, signature, doc, min, max },
#include "flow_builtins.def"
#undef FLOW_BUILTIN
};
const int chk_nbuiltin_fns = (int)(sizeof chk_builtin_fns / sizeof chk_builtin_fns[0]);

/* Whether `if s.ok` holds here: s ran and succeeded. */
static bool chk_step_ok_known(chk_state *st, const ast_step *s)
{
    return chk_is_narrowed(st, arena_printf(st->a, "%s.ok", s->name));
}

/* The type a reference to step s has at this point. A step that may not
** have run here (defined in a branch of an if left since) or may have
** failed (`on failure continue`) has its fields optional until `if s.ok`;
** a let that may not be set is optional until `if x != null`. */
static ast_type *chk_step_value_type(chk_state *st, ast_step *s)
{
    ast_type *t = s->out ? s->out : &ast_type_error;
    chk_stepinfo *in = &st->info[s->index];
    if (st->where == WHERE_TEST) {
        if (in->in_fanout) return &ast_type_json;
        if (in->conditional || s->continue_on_failure) return ty_fields_optional(st, t);
        return t;
    }
    if (s->kind == STEP_LET) {
        if (in->maybe) t = ty_opt(st, t);
        return chk_is_narrowed(st, s->name) ? ty_strip(t) : t;
    }
    if ((s->continue_on_failure || in->maybe) && !chk_step_ok_known(st, s)) return ty_fields_optional(st, t);
    return t;
}

/* The type a reference to step s gets here, or NULL when s may not be
** named here (not run yet, or run only inside a fanout left since, or in
** another branch of the if being checked). The one rule of step
** visibility: name resolution and the editor's completion both ask it. */
static ast_type *chk_step_ref_type(chk_state *st, ast_step *s)
{
    if (st->where == WHERE_ACTION) return NULL;
    if (st->where == WHERE_TEST) return s->kind == STEP_LET ? NULL : chk_step_value_type(st, s);
    if (st->info[s->index].visible) return chk_step_value_type(st, s);
    return NULL;
}

const char *chk_null_advice(chk_state *st, const ast_expr *e, const char *fallback)
{
    while (e->kind == EX_FIELD || e->kind == EX_INDEX) e = e->a;
    if (e->kind != EX_NAME || e->ref != REF_STEP || !e->ref_step || st->where == WHERE_TEST) return fallback;
    const ast_step *s = e->ref_step;
    const chk_stepinfo *in = &st->info[s->index];
    if (s->kind == STEP_LET)
        return in->maybe ? arena_printf(st->a, "let '%s' is defined %s and may not be set; check 'if %s != null' "
                                               "or use '?\?'", s->name, in->branch, s->name)
                         : fallback;
    if (chk_step_ok_known(st, s)) return fallback;
    if (in->maybe)
        return arena_printf(st->a, "step '%s' is defined %s and may not have run; check 'if %s.ok { ... }' or "
                                   "use '?\?'", s->name, in->branch, s->name);
    if (s->continue_on_failure)
        return arena_printf(st->a, "step '%s' may have failed (it has 'on failure continue'); check 'if %s.ok { ... }' "
                                   "or use '?\?'", s->name, s->name);
    return fallback;
}

/* Every name that could be meant at this point, for suggestions. */
static int chk_visible_names(chk_state *st, const char **out, int max)
{
    int n = 0;
    static const char *const roots[] = { "trigger", "settings", "secret", "env", "run" };
    for (int i = 0; i < 5 && n < max; i++) out[n++] = roots[i];
    for (int i = 0; i < st->scope.len && n < max; i++) out[n++] = ((ast_step *)st->scope.items[i])->name;
    for (int i = 0; i < st->fanouts.len && n < max; i++) out[n++] = ((ast_step *)st->fanouts.items[i])->var;
    if (st->action)
        for (int i = 0; i < st->action->nparams && n < max; i++) out[n++] = st->action->params[i]->name;
    if (st->response_body) {
        static const char *const resp[] = { "status", "headers", "body" };
        for (int i = 0; i < 3 && n < max; i++) out[n++] = resp[i];
    }
    return n;
}

static ast_type *chk_name(chk_state *st, ast_expr *e)
{
    const char *name = e->name;

    if (st->where == WHERE_CONST || st->where == WHERE_TEST_DATA) {
        ERR(e->loc, "'%s' cannot be used here: only literal values are allowed", name);
        return &ast_type_error;
    }
    if (st->response_body) {
        if (strcmp(name, "status") == 0) { e->ref = REF_RESPONSE; return &ast_type_int; }
        if (strcmp(name, "headers") == 0) { e->ref = REF_RESPONSE; return &ast_type_json; }
        if (strcmp(name, "body") == 0) { e->ref = REF_RESPONSE; return st->response_body; }
    }
    /* fanout variables, innermost first */
    for (int i = st->fanouts.len - 1; i >= 0; i--) {
        ast_step *f = st->fanouts.items[i];
        if (strcmp(f->var, name) == 0) {
            e->ref = REF_VAR;
            e->ref_step = f;
            return f->var_type ? f->var_type : &ast_type_error;
        }
    }
    if (st->where == WHERE_ACTION) {
        for (int i = 0; i < st->action->nparams; i++) {
            ast_field *p = st->action->params[i];
            if (strcmp(p->name, name) == 0) {
                e->ref = REF_PARAM;
                e->ref_param = p;
                return p->type;
            }
        }
    }
    if (strcmp(name, "secret") == 0) { e->ref = REF_SECRET; return st->secrets_type; }
    if (strcmp(name, "env") == 0) { e->ref = REF_ENV; return &ast_type_json; }
    if (strcmp(name, "run") == 0) { e->ref = REF_RUN; return st->run_type; }
    if (st->where != WHERE_ACTION) {
        if (strcmp(name, "trigger") == 0) { e->ref = REF_TRIGGER; return st->trigger_type; }
        if (strcmp(name, "settings") == 0) { e->ref = REF_SETTINGS; return st->settings_type; }
    }
    if (st->where == WHERE_TEST) {
        if (strcmp(name, "output") == 0) {
            e->ref = REF_OUTPUT;
            return st->prog->output_type ? st->prog->output_type : &ast_type_null;
        }
        if (strcmp(name, "status") == 0) { e->ref = REF_OUTPUT; return &ast_type_string; }
    }
    if (st->where == WHERE_ACTION && (strcmp(name, "trigger") == 0 || strcmp(name, "settings") == 0)) {
        ERR(e->loc, "an action cannot read '%s': pass what it needs as a parameter", name);
        return &ast_type_error;
    }

    ast_step *s = st->where == WHERE_ACTION ? NULL : chk_map_get(&st->steps, name);
    if (s) {
        chk_stepinfo *in = &st->info[s->index];
        e->ref = REF_STEP;
        e->ref_step = s;
        /* a test's expects do not count: under `flowc test` every output is kept */
        if (e != st->shallow_ref && st->where != WHERE_TEST) s->output_read = true;
        if (e != st->body_ref && st->where != WHERE_TEST) s->headers_read = true;
        ast_type *t = chk_step_ref_type(st, s);
        if (t) return t;
        if (s->kind == STEP_LET && st->where == WHERE_TEST) {
            ERR(e->loc, "'%s' is a let value, which a test cannot read: an expect reads steps, 'output' and 'status'",
                name);
        } else if (in->defined && in->other_branch) {
            ERR(e->loc, "%s '%s' is not %s on this path: it is defined %s", s->kind == STEP_LET ? "let" : "step",
                name, s->kind == STEP_LET ? "set" : "run", in->branch);
        } else if (in->defined && in->hidden_by) {
            ERR(e->loc, "step '%s' may not have run here: it is defined inside the %s at %s",
                name, in->hidden_by, chk_pos(st, s->loc));     /* where the step is (DESIGN: "at 31:3") */
        } else if (in->defined) {
            ERR(e->loc, "%s '%s' cannot be used inside its own definition", s->kind == STEP_LET ? "let" : "step", name);
        } else if (s->kind == STEP_LET) {
            ERR(e->loc, "let '%s' is used before it is set: it is defined at %s", name, chk_pos(st, s->name_loc));
        } else {
            ERR(e->loc, "step '%s' is used before it runs: it is defined at %s", name,
                chk_pos(st, s->name_loc));
        }
        return &ast_type_error;
    }
    const char *cands[256];
    int n = chk_visible_names(st, cands, 256);
    ERR(e->loc, "unknown name '%s'%s", name, chk_hint(st, name, cands, n));
    return &ast_type_error;
}

static ast_type *chk_field_of(chk_state *st, ast_expr *e, ast_type *bt);

/* Field access a.name where a has type t. */
static ast_type *chk_field(chk_state *st, ast_expr *e)
{
    bool chain = st->chain_ok;
    st->opt_chain = chain;
    if (e->a->kind == EX_NAME && (strcmp(e->name, "ok") == 0 || strcmp(e->name, "error") == 0))
        st->shallow_ref = e->a;
    if (e->a->kind == EX_NAME && (strcmp(e->name, "body") == 0 || strcmp(e->name, "status") == 0 ||
                                  strcmp(e->name, "ok") == 0 || strcmp(e->name, "error") == 0))
        st->body_ref = e->a;
    ast_type *bt = chk_expr(st, e->a);
    const char *name = e->name;

    /* s.ok and s.error exist on every step */
    if (e->a->kind == EX_NAME && e->a->ref == REF_STEP && e->a->ref_step->kind != STEP_LET) {
        if (strcmp(name, "ok") == 0) return &ast_type_bool;
        if (strcmp(name, "error") == 0) return ty_opt(st, &ast_type_string);
    }
    if (e->a->kind == EX_NAME && e->a->ref == REF_ENV) return &ast_type_string;
    if (e->a->kind == EX_NAME && e->a->ref == REF_SECRET) {
        if (chk_map_get(&st->secrets, name)) return &ast_type_string;
        const char *cands[512];
        int n = 0;
        for (int i = 0; i < st->secrets.cap && n < 512; i++)
            if (st->secrets.keys[i]) cands[n++] = st->secrets.keys[i];
        ERR(e->name_loc, "undeclared secret '%s'%s", name, chk_hint(st, name, cands, n));
        return &ast_type_error;
    }
    if (e->a->kind == EX_NAME && e->a->ref == REF_SETTINGS && !ty_field(bt, name)) {
        const char *cands[512];
        int n = 0;
        for (int i = 0; i < bt->nfields && n < 512; i++) cands[n++] = bt->fields[i]->name;
        ERR(e->name_loc, "unknown setting '%s'%s", name, chk_hint(st, name, cands, n));
        return &ast_type_error;
    }

    if (ty_dyn(bt)) return bt;
    if (bt->kind == TY_OPTIONAL && chain) {
        ast_type *t = chk_field_of(st, e, bt->elem);
        return t->kind == TY_ERROR || ty_dyn(t) ? t : ty_opt(st, t);
    }
    if (bt->kind == TY_OPTIONAL || bt->kind == TY_NULL) {
        const char *path = chk_path(st, e->a);
        if (bt->kind == TY_OPTIONAL && chk_is_narrowed(st, path)) {
            bt = bt->elem;
        } else {
            if (path) {
                ERR(e->name_loc, "'%s' may be null here: %s before reading '%s'", path,
                    chk_null_advice(st, e->a, arena_printf(st->a, "use '?\?' or check 'if %s != null'", path)), name);
            } else {
                const char *shown = chk_shown(st, e->a);
                ERR(e->name_loc, "'%s' may be null here: %s before reading '%s'", shown,
                    chk_null_advice(st, e->a, arena_printf(st->a, "use '(%s) ?\? default'", shown)), name);
            }
            return &ast_type_error;
        }
    }
    return chk_field_of(st, e, bt);
}

/* Whether e reads below the response (body.a.b, body.items[0].c). */
static bool chk_reads_response(const ast_expr *e)
{
    while (e->kind == EX_FIELD || e->kind == EX_INDEX) e = e->a;
    return e->kind == EX_NAME && e->ref == REF_RESPONSE;
}

/* The field e->name of a (non-null) value of type bt. */
static ast_type *chk_field_of(chk_state *st, ast_expr *e, ast_type *bt)
{
    const char *name = e->name;
    if (ty_dyn(bt)) return bt;
    if (bt->kind != TY_OBJECT) {
        ERR(e->name_loc, "cannot read field '%s' of a value of type %s", name, tystr(st, bt));
        return &ast_type_error;
    }
    ast_field *f = ty_field(bt, name);
    if (!f && st->open_body && chk_reads_response(e)) return &ast_type_json;
    if (!f) {
        const char *cands[512];
        int n = 0;
        for (int i = 0; i < bt->nfields && n < 512; i++) cands[n++] = bt->fields[i]->name;
        const char *path = chk_path(st, e->a);
        if (e->a->kind == EX_NAME && e->a->ref == REF_TRIGGER)
            ERR(e->name_loc, "the trigger payload has no field '%s'%s", name, chk_hint(st, name, cands, n));
        else
            ERR(e->name_loc, "%s has no field '%s'%s", path ? arena_printf(st->a, "'%s'", path) : "the value",
                name, chk_hint(st, name, cands, n));
        return &ast_type_error;
    }
    ast_type *t = f->type;
    if (t->kind == TY_OPTIONAL && chk_is_narrowed(st, chk_path(st, e))) t = t->elem;
    return t;
}

static ast_type *chk_index(chk_state *st, ast_expr *e)
{
    bool chain = st->chain_ok;
    st->opt_chain = chain;
    ast_type *bt = chk_expr(st, e->a);
    ast_type *it = chk_expr(st, e->b);
    if (ty_dyn(bt)) return &ast_type_json;
    bool through_null = false;
    if (bt->kind == TY_OPTIONAL && (chain || chk_is_narrowed(st, chk_path(st, e->a)))) {
        through_null = chain;
        bt = bt->elem;
        if (ty_dyn(bt)) return &ast_type_json;
    }
    if (bt->kind == TY_OPTIONAL || bt->kind == TY_NULL) {
        const char *path = chk_path(st, e->a);
        if (path)
            ERR(e->a->loc, "'%s' may be null here: %s before indexing it", path,
                chk_null_advice(st, e->a, arena_printf(st->a, "use '?\?' or check 'if %s != null'", path)));
        else
            ERR(e->a->loc, "'%s' may be null here: %s before indexing it", chk_shown(st, e->a),
                chk_null_advice(st, e->a, "use '?\?'"));
        return &ast_type_error;
    }
    if (bt->kind == TY_LIST) {
        if (!ty_dyn(it) && it->kind != TY_INT)
            ERR(e->b->loc, "a list index must be int, not %s", tystr(st, it));
        return ty_opt(st, bt->elem);
    }
    if (bt->kind == TY_OBJECT) {
        if (e->b->kind == EX_STRING) {
            ast_field *f = ty_field(bt, e->b->sval);
            if (f) return through_null ? ty_opt(st, f->type) : f->type;
            ERR(e->b->loc, "no field \"%s\" in a value of type %s", e->b->sval, tystr(st, bt));
            return &ast_type_error;
        }
        ERR(e->b->loc, "an object of type %s can only be indexed with a string literal", tystr(st, bt));
        return &ast_type_error;
    }
    ERR(e->loc, "cannot index a value of type %s", tystr(st, bt));
    return &ast_type_error;
}

static bool chk_arity(chk_state *st, ast_expr *e, int lo, int hi)
{
    if (e->nitems < lo || e->nitems > hi) {
        if (lo == hi)
            ERR(e->loc, "%s() takes %d argument%s, got %d", e->name, lo, lo == 1 ? "" : "s", e->nitems);
        else
            ERR(e->loc, "%s() takes %d to %d arguments, got %d", e->name, lo, hi, e->nitems);
        return false;
    }
    return true;
}

static void chk_want(chk_state *st, ast_expr *arg, ast_type *t, bool ok, const char *fn, const char *what)
{
    if (!ok && !ty_dyn(t))
        ERR(arg->loc, "%s() expects %s, got %s", fn, what, tystr(st, t));
}

/* A call of a built-in: the name resolved to its entry of
** flow_builtins.def (e->fn, what the emitter names), the count of
** arguments checked against the table, then each function's typing. The
** switch names every built-in (no default): one added to the table and
** not typed here is a compile error. */
static ast_type *chk_call(chk_state *st, ast_expr *e)
{
    e->fn = FN_NONE;
    for (int i = 0; i < chk_nbuiltin_fns; i++)
        if (strcmp(chk_builtin_fns[i].name, e->name) == 0) e->fn = (ast_fn)(i + 1);
    ast_type *at[4] = { 0 };
    if (e->fn == FN_len && e->nitems == 1 && e->items[0]->kind == EX_NAME)
        st->shallow_ref = e->items[0];     /* a fanout's length needs none of its items */
    for (int i = 0; i < e->nitems; i++) {
        ast_type *t = chk_expr(st, e->items[i]);
        if (i < 4) at[i] = t;
    }
    const char *fn = e->name;
    if (e->fn == FN_NONE) {
        const char *names[sizeof chk_builtin_fns / sizeof chk_builtin_fns[0]];
        for (int i = 0; i < chk_nbuiltin_fns; i++) names[i] = chk_builtin_fns[i].name;
        ERR(e->loc, "unknown function '%s'%s", fn, chk_hint(st, fn, names, chk_nbuiltin_fns));
        return &ast_type_error;
    }
    const chk_builtin *bi = &chk_builtin_fns[e->fn - 1];
    bool args_ok = chk_arity(st, e, bi->min_args, bi->max_args);
    ast_type_kind k = args_ok && e->nitems ? at[0]->kind : TY_ERROR;
    switch (e->fn) {
    case FN_len:
        if (args_ok)
            chk_want(st, e->items[0], at[0], k == TY_LIST || k == TY_STRING || k == TY_OBJECT, fn,
                     "a list, string or object");
        return &ast_type_int;
    case FN_lower:
    case FN_upper:
    case FN_trim:
        if (args_ok) chk_want(st, e->items[0], at[0], k == TY_STRING, fn, "a string");
        return &ast_type_string;
    case FN_string:
        return &ast_type_string;
    case FN_url_encode:
    case FN_url_path:
    case FN_base64:
        if (args_ok) {
            ast_type_kind sk = ty_strip(at[0])->kind;
            chk_want(st, e->items[0], at[0], sk == TY_STRING || sk == TY_INT || sk == TY_FLOAT || sk == TY_BOOL, fn,
                     "a string, number or bool");
        }
        return &ast_type_string;
    case FN_int:
    case FN_float:
        if (args_ok)
            chk_want(st, e->items[0], at[0], k == TY_INT || k == TY_FLOAT || k == TY_STRING, fn,
                     "a number or a string");
        return e->fn == FN_int ? &ast_type_int : &ast_type_float;
    case FN_contains:
        if (args_ok) {
            chk_want(st, e->items[0], at[0], k == TY_LIST || k == TY_STRING || k == TY_OBJECT, fn,
                     "a list, string or object");
            if (k == TY_STRING)
                chk_want(st, e->items[1], at[1], at[1]->kind == TY_STRING, fn, "a string to look for");
        }
        return &ast_type_bool;
    case FN_join:
        if (args_ok) {
            chk_want(st, e->items[0], at[0], k == TY_LIST, fn, "a list");
            chk_want(st, e->items[1], at[1], at[1]->kind == TY_STRING, fn, "a string separator");
        }
        return &ast_type_string;
    case FN_now:
        return &ast_type_string;
    case FN_json:
        return &ast_type_json;
    case FN_NONE:
        break;
    }
    return &ast_type_error;
}

static ast_type *chk_binary(chk_state *st, ast_expr *e)
{
    st->opt_chain = e->op == OP_COALESCE;
    ast_type *a = chk_expr(st, e->a);
    ast_type *b;
    const char *op = ast_op_str(e->op);

    if (e->op == OP_AND || e->op == OP_OR) {
        /* `x != null and x.f > 1`: the left side narrows the right */
        ptrvec paths = { 0 };
        chk_collect_narrowing(st, e->a, e->op == OP_AND, &paths);
        int mark = chk_narrow_push(st, &paths);
        b = chk_expr(st, e->b);
        st->narrowed.len = mark;
        if (!ty_dyn(a) && a->kind != TY_BOOL)
            ERR(e->a->loc, "operand of '%s' must be bool, not %s", op, tystr(st, a));
        if (!ty_dyn(b) && b->kind != TY_BOOL)
            ERR(e->b->loc, "operand of '%s' must be bool, not %s", op, tystr(st, b));
        return &ast_type_bool;
    }
    b = chk_expr(st, e->b);
    if (a->kind == TY_ERROR || b->kind == TY_ERROR) {
        return e->op >= OP_EQ && e->op <= OP_GE ? &ast_type_bool : &ast_type_error;
    }
    switch (e->op) {
    case OP_EQ:
    case OP_NE: {
        ast_type *sa = ty_strip(a), *sb = ty_strip(b);
        bool ok = ty_dyn(sa) || ty_dyn(sb) || a->kind == TY_NULL || b->kind == TY_NULL ||
                  (ty_is_num(sa) && ty_is_num(sb)) || chk_assignable(sa, sb) || chk_assignable(sb, sa);
        if (a->kind == TY_NULL && b->kind != TY_NULL && b->kind != TY_OPTIONAL && !ty_dyn(b))
            ok = false;
        if (b->kind == TY_NULL && a->kind != TY_NULL && a->kind != TY_OPTIONAL && !ty_dyn(a))
            ok = false;
        if (!ok) {
            if (a->kind == TY_NULL || b->kind == TY_NULL)
                ERR(e->loc, "comparison with null is always %s: %s is never null",
                    e->op == OP_EQ ? "false" : "true", tystr(st, a->kind == TY_NULL ? b : a));
            else
                ERR(e->loc, "cannot compare %s with %s", tystr(st, a), tystr(st, b));
        }
        return &ast_type_bool;
    }
    case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        if (a->kind == TY_OPTIONAL || b->kind == TY_OPTIONAL || a->kind == TY_NULL || b->kind == TY_NULL) {
            ast_expr *o = a->kind == TY_OPTIONAL || a->kind == TY_NULL ? e->a : e->b;
            ERR(o->loc, "'%s' may be null here: %s before '%s'", chk_shown(st, o),
                chk_null_advice(st, o, "use '?\?' or check it against null"), op);
        } else if (!(ty_dyn(a) || ty_dyn(b) || (ty_is_num(a) && ty_is_num(b)) ||
                     (a->kind == TY_STRING && b->kind == TY_STRING))) {
            ERR(e->loc, "operator '%s' cannot compare %s with %s", op, tystr(st, a), tystr(st, b));
        }
        return &ast_type_bool;
    case OP_COALESCE: {
        if (a->kind != TY_OPTIONAL && a->kind != TY_NULL && !ty_dyn(a))
            diag_warning(st->d, e->a->loc, "left operand of '?\?' is never null (type %s)", tystr(st, a));
        if (ty_dyn(a)) return b->kind == TY_OPTIONAL ? b : (ty_dyn(b) ? b : &ast_type_json);
        ast_type *inner = ty_strip(a);
        if (a->kind == TY_NULL) return b;
        ast_type *u = ty_unify(st, inner, b);
        if (!u) {
            ERR(e->b->loc, "default of type %s does not match %s", tystr(st, b), tystr(st, inner));
            return &ast_type_error;
        }
        return b->kind == TY_OPTIONAL || b->kind == TY_NULL ? u : ty_strip(u);
    }
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MOD: {
        if (a->kind == TY_OPTIONAL || b->kind == TY_OPTIONAL || a->kind == TY_NULL || b->kind == TY_NULL) {
            ast_expr *o = a->kind == TY_OPTIONAL || a->kind == TY_NULL ? e->a : e->b;
            ERR(o->loc, "'%s' may be null here: %s before '%s'", chk_shown(st, o), chk_null_advice(st, o, "use '?\?'"),
                op);
            return &ast_type_error;
        }
        if (ty_dyn(a) || ty_dyn(b)) return &ast_type_json;
        if (e->op == OP_ADD && a->kind == TY_STRING && b->kind == TY_STRING) return &ast_type_string;
        if (e->op == OP_ADD && a->kind == TY_LIST && b->kind == TY_LIST) {
            ast_type *u = ty_unify(st, a, b);
            if (u) return u;
        }
        if (!ty_is_num(a) || !ty_is_num(b)) {
            ERR(e->loc, "operator '%s' cannot be applied to %s and %s", op, tystr(st, a), tystr(st, b));
            return &ast_type_error;
        }
        if (e->op == OP_MOD && (a->kind != TY_INT || b->kind != TY_INT)) {
            ERR(e->loc, "operator '%%' needs int operands, got %s and %s", tystr(st, a), tystr(st, b));
            return &ast_type_error;
        }
        return a->kind == TY_FLOAT || b->kind == TY_FLOAT ? &ast_type_float : &ast_type_int;
    }
    default:
        return &ast_type_error;
    }
}

/* if c then a else b: c narrows a (when it holds) and b (when it does not);
** the type is the join of both arms (a `null` arm makes it optional). */
static ast_type *chk_cond(chk_state *st, ast_expr *e)
{
    ast_expr *c = e->items[0], *a = e->items[1], *b = e->items[2];
    chk_condition(st, c, "the condition of 'if ... then ... else'");
    ast_type *arm[2];
    for (int k = 0; k < 2; k++) {
        ptrvec paths = { 0 };
        chk_collect_narrowing(st, c, k == 0, &paths);
        int mark = chk_narrow_push(st, &paths);
        arm[k] = chk_expr(st, k == 0 ? a : b);
        st->narrowed.len = mark;
    }
    ast_type *u = ty_unify(st, arm[0], arm[1]);
    if (!u) {
        ERR(e->loc, "the arms of 'if ... then ... else' have different types: %s after 'then', %s after 'else'",
            tystr(st, arm[0]), tystr(st, arm[1]));
        return &ast_type_error;
    }
    return u;
}

static ast_type *chk_expr_inner(chk_state *st, ast_expr *e)
{
    switch (e->kind) {
    case EX_NULL: return &ast_type_null;
    case EX_BOOL: return &ast_type_bool;
    case EX_INT: return &ast_type_int;
    case EX_FLOAT: return &ast_type_float;
    case EX_DURATION: return &ast_type_duration;
    case EX_STRING: return &ast_type_string;
    case EX_INTERP:
        for (int i = 0; i < e->nitems; i++) {
            if (st->where == WHERE_TEST_DATA && e->items[i]->kind != EX_STRING) {
                ERR(e->items[i]->loc, "interpolation is not allowed in test data");
                continue;
            }
            ast_type *t = chk_expr(st, e->items[i]);
            (void)t;    /* any type renders; null as empty */
        }
        return &ast_type_string;
    case EX_NAME: return chk_name(st, e);
    case EX_FIELD: return chk_field(st, e);
    case EX_INDEX: return chk_index(st, e);
    case EX_CALL:
        if (st->where == WHERE_CONST || st->where == WHERE_TEST_DATA) {
            ERR(e->loc, "function calls are not allowed here: only literal values are");
            return &ast_type_error;
        }
        return chk_call(st, e);
    case EX_LIST: {
        ast_type *elem = NULL;
        for (int i = 0; i < e->nitems; i++) {
            ast_type *t = chk_expr(st, e->items[i]);
            if (!elem) {
                elem = t;
            } else {
                ast_type *u = ty_unify(st, elem, t);
                elem = u ? u : &ast_type_json;
            }
        }
        return ty_list(st, elem ? elem : &ast_type_json);
    }
    case EX_OBJECT: {
        ast_field **fields = arena_alloc(st->a, sizeof *fields * (size_t)(e->nitems + 1));
        chk_map seen = { 0 };
        int n = 0;
        for (int i = 0; i < e->nitems; i++) {
            ast_type *t = chk_expr(st, e->items[i]);
            src_loc *prev = chk_map_get(&seen, e->keys[i]);
            if (prev) {
                ERR(e->key_locs[i], "duplicate key '%s'; first given at %s", e->keys[i], chk_pos(st, *prev));
                continue;
            }
            chk_map_put(st->a, &seen, e->keys[i], &e->key_locs[i]);
            fields[n++] = ty_mkfield(st, e->keys[i], t);
        }
        return ty_object(st, n, fields);
    }
    case EX_UNARY: {
        ast_type *t = chk_expr(st, e->a);
        if (ty_dyn(t)) return e->op == OP_NOT ? &ast_type_bool : t;
        if (e->op == OP_NOT) {
            if (t->kind != TY_BOOL) ERR(e->a->loc, "operand of 'not' must be bool, not %s", tystr(st, t));
            return &ast_type_bool;
        }
        if (!ty_is_num(t)) {
            ERR(e->a->loc, "operand of unary '-' must be a number, not %s", tystr(st, t));
            return &ast_type_error;
        }
        return t;
    }
    case EX_BINARY:
        if (st->where == WHERE_CONST || st->where == WHERE_TEST_DATA) {
            ERR(e->loc, "operators are not allowed here: only literal values are");
            return &ast_type_error;
        }
        return chk_binary(st, e);
    case EX_COND:
        if (st->where == WHERE_CONST || st->where == WHERE_TEST_DATA) {
            ERR(e->loc, "'if ... then ... else' is not allowed here: only literal values are");
            return &ast_type_error;
        }
        return chk_cond(st, e);
    }
    return &ast_type_error;
}

/* ---- the editor's probe ------------------------------------------------ */

static bool chk_probe_in(const chk_state *st, src_loc loc)
{
    const chk_probe *p = st->probe;
    return loc.file == p->file && loc.start <= p->offset && p->offset <= loc.end;
}

/* Record the scope of this point of the walk in the probe. Later snapshots
** are closer to the point (the walk goes from statements into their
** expressions), so each replaces the one before. */
void chk_probe_snapshot(chk_state *st)
{
    chk_probe *p = st->probe;
    static const chk_place places[] = {
        [WHERE_BODY] = CHK_PLACE_BODY, [WHERE_ACTION] = CHK_PLACE_ACTION, [WHERE_CONST] = CHK_PLACE_CONST,
        [WHERE_TEST] = CHK_PLACE_TEST, [WHERE_TEST_DATA] = CHK_PLACE_TEST_DATA,
    };
    p->place = places[st->where];
    ast_program *prog = st->prog;
    p->nsteps = 0;
    p->steps = arena_alloc(st->a, sizeof *p->steps * (size_t)(prog->nsteps + 1));
    p->step_types = arena_alloc(st->a, sizeof *p->step_types * (size_t)(prog->nsteps + 1));
    for (int i = 0; st->info && i < prog->nsteps; i++) {
        ast_step *s = prog->steps[i];
        if (chk_map_get(&st->steps, s->name) != s) continue;    /* a duplicate name */
        ast_type *t = chk_step_ref_type(st, s);
        if (!t) continue;
        p->steps[p->nsteps] = s;
        p->step_types[p->nsteps++] = t;
    }
    p->nfanouts = st->fanouts.len;
    p->fanouts = arena_alloc(st->a, sizeof *p->fanouts * (size_t)(st->fanouts.len + 1));
    for (int i = 0; i < st->fanouts.len; i++) p->fanouts[i] = st->fanouts.items[i];
    p->action = st->where == WHERE_ACTION ? st->action : NULL;
    p->response = st->response_body;
    p->trigger = st->trigger_type;
    p->settings = st->settings_type;
    p->secrets = st->secrets_type;
    p->run = st->run_type;
    p->output = st->where == WHERE_TEST ? st->prog->output_type : NULL;
}

/* An expression holding the point: the scope there. */
static void chk_probe_expr(chk_state *st, const ast_expr *e)
{
    if (st->probe && !st->probe_done && chk_probe_in(st, e->loc)) chk_probe_snapshot(st);
}

/* Whether the point is inside block b (the file's top level counts when the
** point is in a statement or between top-level items). */
bool chk_probe_in_block(chk_state *st, const ast_block *b)
{
    if (!st->probe || st->probe_done || b->loc.file != st->probe->file) return false;
    if (b == st->main->body) return st->probe_top == TOP_STMT;
    return chk_probe_in(st, b->loc);
}

ast_type *chk_expr(chk_state *st, ast_expr *e)
{
    if (!e) return &ast_type_error;
    chk_probe_expr(st, e);
    /* `a.b.c ?? d`: a postfix chain on the left of '??' reads through
    ** nulls (the runtime's field and index reads give null on null) */
    bool chain = st->opt_chain;
    st->opt_chain = false;
    st->chain_ok = chain && (e->kind == EX_FIELD || e->kind == EX_INDEX);
    e->type = chk_expr_inner(st, e);
    return e->type;
}

/* Check e and that it fits type `want`; `what` names it in the message. */
void chk_expect_type(chk_state *st, ast_expr *e, ast_type *want, const char *what)
{
    ast_type *t = chk_expr(st, e);
    if (!chk_assignable(t, want)) {
        if (t->kind == TY_OPTIONAL || t->kind == TY_NULL) {
            const char *path = chk_path(st, e);
            ERR(e->loc, "%s may be null here ('%s' is %s): %s", what, path ? path : "value", tystr(st, t),
                chk_null_advice(st, e, "use '?\?' to give a default"));
        } else {
            ERR(e->loc, "%s must be %s, not %s", what, tystr(st, want), tystr(st, t));
        }
    }
}

void chk_condition(chk_state *st, ast_expr *e, const char *what)
{
    ast_type *t = chk_expr(st, e);
    if (ty_dyn(t) || t->kind == TY_BOOL) return;
    if (t->kind == TY_OPTIONAL && t->elem->kind == TY_BOOL)
        ERR(e->loc, "%s may be null here: compare it ('== true') or use '?\?'", what);
    else
        ERR(e->loc, "%s must be bool, not %s", what, tystr(st, t));
}

