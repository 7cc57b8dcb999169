/*
** check.c — the type checker of .flow programs.
**
** One walk over the workflow body in source order, with a scope of steps
** that have definitely run; a prepass registers every step name first so
** that uniqueness and "defined later" errors are exact. Errors are counted
** in the diag_ctx and checking goes on: an erroneous expression gets
** TY_ERROR, which silences follow-on errors.
**
** This file holds statements, steps, declarations and tests; expressions,
** types, names and narrowing are in check_expr.c (shared: check_int.h).
*/
#include "check_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rt_cron.h"

/* ---- declared types ---------------------------------------------------- */

/* Checks a type written in source: duplicate fields. reserved_top: the
** type is a step output, whose top level may not declare ok/error. */
static void chk_type_decl(chk_state *st, ast_type *t, bool reserved_top)
{
    if (!t) return;
    if (t->kind == TY_LIST || t->kind == TY_OPTIONAL) {
        chk_type_decl(st, t->elem, reserved_top && t->kind == TY_OPTIONAL);
        return;
    }
    if (t->kind != TY_OBJECT) return;
    chk_map seen = { 0 };
    for (int i = 0; i < t->nfields; i++) {
        ast_field *f = t->fields[i];
        ast_field *prev = chk_map_get(&seen, f->name);
        if (prev)
            ERR(f->loc, "duplicate field '%s'; first declared at %s", f->name, chk_pos(st, prev->loc));
        else
            chk_map_put(st->a, &seen, f->name, f);
        if (reserved_top && (strcmp(f->name, "ok") == 0 || strcmp(f->name, "error") == 0))
            ERR(f->loc, "field '%s' is reserved in a step's output: every step has '.%s'", f->name, f->name);
        chk_type_decl(st, f->type, false);
    }
}

/* ---- steps ------------------------------------------------------------- */

static void chk_block(chk_state *st, ast_block *b);

static void chk_step_clauses(chk_state *st, ast_step *s)
{
    (void)st;
    (void)s;
    /* The parser rejects negative counts and zero durations are the default:
       nothing left to check beyond what the grammar enforces. */
}

/* Header-like objects: values must be scalars (or strings built from them). */
static void chk_scalar_object(chk_state *st, ast_expr *obj, const char *what, bool allow_lists)
{
    if (!obj) return;
    chk_expr(st, obj);
    for (int i = 0; i < obj->nitems; i++) {
        ast_type *t = ty_strip(obj->items[i]->type ? obj->items[i]->type : &ast_type_error);
        if (allow_lists && t->kind == TY_LIST) t = ty_strip(t->elem);
        if (t->kind == TY_OBJECT || t->kind == TY_LIST)
            ERR(obj->items[i]->loc, "%s value '%s' must be a string, number or bool, not %s", what,
                obj->keys[i], tystr(st, t));
    }
}

/* The type of a page's item list: body type followed along the path. */
static ast_type *chk_page_elem(chk_state *st, ast_request *r, ast_type *body)
{
    ast_type *t = body;
    for (int i = 0; i < r->npage_items; i++) {
        t = ty_strip(t);
        if (ty_dyn(t)) return &ast_type_json;
        ast_field *f = t->kind == TY_OBJECT ? ty_field(t, r->page_items[i]) : NULL;
        if (!f) {
            const char *cands[256];
            int n = 0;
            for (int j = 0; t->kind == TY_OBJECT && j < t->nfields && n < 256; j++)
                cands[n++] = t->fields[j]->name;
            ERR(r->paginate_loc, "paginate: the response body has no field '%s'%s", r->page_items[i],
                chk_hint(st, r->page_items[i], cands, n));
            return &ast_type_error;
        }
        t = f->type;
    }
    t = ty_strip(t);
    if (ty_dyn(t)) return &ast_type_json;
    if (t->kind != TY_LIST) {
        ERR(r->paginate_loc, "paginate: the page's items field must be a list, not %s", tystr(st, t));
        return &ast_type_error;
    }
    return t->elem;
}

/* An integration's base URL: http(s), no query or fragment (what the
** runtime requires of FLOW_<NAME>_BASE_URL too). */
static bool chk_base_url_ok(const char *u)
{
    return (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) && !strpbrk(u, "?#");
}

/* ---- URL templates --------------------------------------------------------
** Where each interpolation of "...{{x}}..." stands in the URL decides how the
** runtime inserts it (runtime/rt_url.h): the origin is fixed by the
** template's text or by an env, settings or secret value at its start;
** values elsewhere are encoded where they stand, so data never changes the
** URL's structure. */

typedef enum url_state { URL_START, URL_AUTHORITY, URL_PATH, URL_QUERY } url_state;

/* The state after a piece of the template's own text. */
static url_state url_after_text(url_state s, const char *t)
{
    if (s == URL_START && *t) {
        const char *p = t;      /* a scheme and "://" open the authority */
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            p++;
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                   *p == '+' || *p == '-' || *p == '.')
                p++;
        }
        if (p != t && strncmp(p, "://", 3) == 0) {
            s = URL_AUTHORITY;
            t = p + 3;
        } else {
            s = URL_PATH;
        }
    }
    for (; *t; t++) {
        if (s == URL_AUTHORITY && *t == '/') s = URL_PATH;
        if ((s == URL_AUTHORITY || s == URL_PATH) && *t == '?') s = URL_QUERY;
        if (*t == '#') s = URL_QUERY;       /* a fragment is encoded as the query is */
    }
    return s;
}

/* env.X, settings.X, secret.X: configuration, not data; so is a let whose
** value is one of them or a plain string (`let api = env.API_URL`). */
static bool url_config_value(const ast_expr *e)
{
    if (e->kind == EX_NAME && e->ref == REF_STEP && e->ref_step && e->ref_step->kind == STEP_LET) {
        const ast_expr *v = e->ref_step->value;
        return v && (v->kind == EX_STRING || url_config_value(v));
    }
    return e->kind == EX_FIELD && e->a->kind == EX_NAME &&
           (e->a->ref == REF_ENV || e->a->ref == REF_SETTINGS || e->a->ref == REF_SECRET);
}

static bool url_encoder_call(const ast_expr *e, const char *fn)
{
    return e->kind == EX_CALL && strcmp(e->name, fn) == 0 && e->nitems == 1;
}

/* Whether the text after item `from` of the template has an '@' before the
** authority ends: the interpolation before it is in the userinfo. */
static bool url_in_userinfo(const ast_expr *u, int from)
{
    for (int i = from; i < u->nitems; i++) {
        if (u->items[i]->kind != EX_STRING) continue;
        for (const char *t = u->items[i]->sval; *t; t++) {
            if (*t == '@') return true;
            if (*t == '/' || *t == '?' || *t == '#') return false;
        }
    }
    return false;
}

/* Fills r->url_modes and r->url_parts for a URL template. */
static void chk_url_template(chk_state *st, ast_request *r, bool in_action)
{
    ast_expr *u = r->url;
    if (!u || u->kind != EX_INTERP) return;
    char *modes = arena_alloc(st->a, (size_t)u->nitems + 1);
    ast_expr **parts = arena_alloc(st->a, sizeof *parts * (size_t)(u->nitems ? u->nitems : 1));
    url_state s = URL_START;
    for (int i = 0; i < u->nitems; i++) {
        ast_expr *e = u->items[i];
        parts[i] = e;
        if (e->kind == EX_STRING) {
            modes[i] = 't';
            s = url_after_text(s, e->sval);
            continue;
        }
        bool config = url_config_value(e);
        if (s == URL_START && !config && in_action) s = URL_PATH;     /* relative to the integration's base */
        if (s == URL_START) {
            if (config) {
                modes[i] = 'b';     /* the base URL */
            } else {
                ERR(e->loc, "the URL starts with a value from data: a request's origin (scheme://host:port) is "
                            "the URL's own text or an env, settings or secret value; to take a whole URL from data, "
                            "give the value itself as the URL (request GET trigger.url)");
                modes[i] = 's';
            }
            s = URL_PATH;
            continue;
        }
        if (s == URL_AUTHORITY) {
            if (!config)
                ERR(e->loc, "a value from data cannot be part of the URL's host or port: only env, settings and "
                            "secrets can");
            /* before an '@' of the text it is the user or password
            ** ("https://u:{{secret.pw}}@host"): encoded, as the query */
            modes[i] = url_in_userinfo(u, i + 1) ? 'q' : 'h';
            continue;
        }
        if (url_encoder_call(e, "url_path")) {
            modes[i] = 'p';
            parts[i] = e->items[0];
        } else {
            if (url_encoder_call(e, "url_encode")) parts[i] = e->items[0];    /* the place encodes it */
            modes[i] = s == URL_PATH ? 's' : 'q';
        }
    }
    modes[u->nitems] = '\0';
    r->url_modes = modes;
    r->url_parts = parts;
}

/* Checks a request (step or action body); returns the step's output type. */
static ast_type *chk_request(chk_state *st, ast_step *s, ast_request *r, bool in_action)
{
    chk_expect_type(st, r->url, &ast_type_string, "the URL");
    chk_url_template(st, r, in_action);
    chk_scalar_object(st, r->headers, "header", false);
    chk_scalar_object(st, r->query, "query parameter", true);
    chk_scalar_object(st, r->form, "form field", false);
    if (r->json) chk_expr(st, r->json);
    if (r->body) chk_expect_type(st, r->body, &ast_type_string, "a raw body");
    int bodies = (r->json != NULL) + (r->form != NULL) + (r->body != NULL);
    if (bodies > 1)
        ERR(s->loc, "a request has one body: give only one of 'json', 'form' and 'body'");
    chk_type_decl(st, r->returns, false);
    for (int i = 0; i < r->naccept; i++) {
        ast_status_match *m = &r->accept[i];
        if (m->is_class ? (m->code < 1 || m->code > 5) : (m->code < 100 || m->code > 599))
            ERR(m->loc, "accept: %.*s is not an HTTP status", m->loc.end - m->loc.start,
                st->d->files[m->loc.file]->text + m->loc.start);     /* as written: 99999 is kept as 0 */
    }
    ast_type *body = r->returns ? r->returns : &ast_type_json;
    if (in_action && !r->returns && !r->paginate && st->action) body = st->action->out;

    ast_type *saved = st->response_body;
    st->response_body = body;
    st->open_body = true;
    if (r->fail_when) chk_condition(st, r->fail_when, "'fail when' condition");
    st->open_body = false;
    if (r->page_cursor) {
        ast_type *ct = chk_expr(st, r->page_cursor);
        ast_type *sc = ty_strip(ct);
        if (!ty_dyn(sc) && sc->kind != TY_STRING && sc->kind != TY_INT && sc->kind != TY_NULL)
            ERR(r->page_cursor->loc, "paginate: the cursor must be a string or int, not %s", tystr(st, ct));
    }
    st->response_body = saved;

    for (int i = 0; r->paginate == PAGE_NONE && i < s->nclauses; i++)
        if (s->clauses[i]->kind == CL_MAX)
            ERR(s->clauses[i]->loc, "'max' limits the pages of a paginated request: this request has no 'paginate'");
    if (r->paginate != PAGE_NONE) {
        if (r->page_max < 0) ERR(r->paginate_loc, "paginate: max must be at least 1");
        r->page_elem = chk_page_elem(st, r, body);
        ast_field *f[3] = { ty_mkfield(st, "status", &ast_type_int), ty_mkfield(st, "pages", &ast_type_int),
                            ty_mkfield(st, "items", ty_list(st, r->page_elem)) };
        return ty_object(st, 3, f);
    }
    if (in_action) return body;
    ast_field *f[3] = { ty_mkfield(st, "status", &ast_type_int), ty_mkfield(st, "headers", &ast_type_json),
                        ty_mkfield(st, "body", body) };
    (void)s;
    return ty_object(st, 3, f);
}

static const char *action_key(chk_state *st, const char *integ, const char *op)
{
    return arena_printf(st->a, "%s.%s", integ, op);
}

static ast_type *chk_action_call(chk_state *st, ast_step *s)
{
    for (int i = 0; i < s->nargs; i++) chk_expr(st, s->args[i]->value);
    ast_action *act = chk_map_get(&st->actions, action_key(st, s->integ, s->op));
    if (!act) {
        if (!chk_map_get(&st->integrations, s->integ)) {
            const char *cands[256];
            int n = 0;
            for (int i = 0; i < st->integrations.cap && n < 256; i++)
                if (st->integrations.keys[i]) cands[n++] = st->integrations.keys[i];
            const char *hint = chk_did_you_mean(s->integ, cands, n);
            const ast_program *p = st->prog;
            const char *module = NULL;  /* a stdlib module of that name or close to it */
            for (int i = 0; i < p->nstdlib_modules; i++)
                if (strcmp(p->stdlib_modules[i], s->integ) == 0) module = p->stdlib_modules[i];
            if (!module) module = chk_did_you_mean(s->integ, p->stdlib_modules, p->nstdlib_modules);
            if (hint)
                ERR(s->call_loc, "unknown integration '%s'; did you mean '%s'?", s->integ, hint);
            else if (module && strcmp(module, s->integ) == 0)
                ERR(s->call_loc, "unknown integration '%s': it is not imported (add: import \"%s\")", s->integ,
                    module);
            else if (module)
                ERR(s->call_loc, "unknown integration '%s'; did you mean '%s' (import \"%s\")?", s->integ, module,
                    module);
            else
                ERR(s->call_loc, "unknown integration '%s': no integration of that name is declared or imported",
                    s->integ);
        } else {
            const char *cands[512];
            int n = 0;
            size_t il = strlen(s->integ);
            for (int i = 0; i < st->actions.cap && n < 512; i++) {
                const char *k = st->actions.keys[i];
                if (k && strncmp(k, s->integ, il) == 0 && k[il] == '.') cands[n++] = k + il + 1;
            }
            ERR(s->call_loc, "integration '%s' has no action '%s'%s", s->integ, s->op,
                chk_hint(st, s->op, cands, n));
        }
        return &ast_type_error;
    }
    s->action = act;
    const char *full = action_key(st, s->integ, s->op);
    if (s->call_max && !(act->body && act->body->req && act->body->req->paginate != PAGE_NONE))
        ERR(s->call_max_loc, "'max' limits the pages of a paginated action: %s does not paginate", full);
    chk_map given = { 0 };
    for (int i = 0; i < s->nargs; i++) {
        ast_arg *a = s->args[i];
        ast_arg *prev = chk_map_get(&given, a->name);
        if (prev) {
            ERR(a->loc, "argument '%s' given twice; first at %s", a->name, chk_pos(st, prev->loc));
            continue;
        }
        chk_map_put(st->a, &given, a->name, a);
        ast_field *p = NULL;
        for (int j = 0; j < act->nparams; j++)
            if (strcmp(act->params[j]->name, a->name) == 0) p = act->params[j];
        if (!p) {
            const char *cands[256];
            int n = 0;
            for (int j = 0; j < act->nparams && n < 256; j++) cands[n++] = act->params[j]->name;
            ERR(a->loc, "%s has no parameter '%s'%s", full, a->name, chk_hint(st, a->name, cands, n));
            continue;
        }
        ast_type *t = a->value->type;
        if (!chk_assignable(t, p->type)) {
            if (t->kind == TY_OPTIONAL || t->kind == TY_NULL)
                ERR(a->value->loc, "argument '%s' of %s may be null here (%s): %s", a->name, full, tystr(st, t),
                    chk_null_advice(st, a->value, "use '?\?' to give a default"));
            else
                ERR(a->value->loc, "argument '%s' of %s must be %s, not %s", a->name, full,
                    tystr(st, p->type), tystr(st, t));
        }
    }
    for (int j = 0; j < act->nparams; j++) {
        ast_field *p = act->params[j];
        if (!chk_map_get(&given, p->name) && !p->deflt && p->type->kind != TY_OPTIONAL)
            ERR(s->call_loc, "missing argument '%s' (%s) for %s", p->name, tystr(st, p->type), full);
    }
    return act->out ? act->out : &ast_type_json;
}

static const char *const chk_c_keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "_Bool", "bool", "true", "false", "NULL", "params", "json_t",
};

/* A parameter becomes a C variable of that name, where the headers of
** function steps are in scope: a name one of them defines as a macro (EOF,
** BUFSIZ, NAN, INT64_MAX, unix) would expand in the generated signature,
** which tcc then refuses. Macros are written in capitals by convention and
** names starting with '_' are the implementation's; the few lower-case
** ones are listed. */
static bool chk_c_macro_like(const char *name)
{
    /* `tcc -dM -E` over flowrt.h: its object-like macros in lower case */
    static const char *const lower_macros[] = { "unix", "linux", "errno", "stdin", "stdout", "stderr",
                                                "math_errhandling", "va_start", "va_arg", "va_copy", "va_end" };
    if (name[0] == '_') return true;
    for (size_t k = 0; k < sizeof lower_macros / sizeof lower_macros[0]; k++)
        if (strcmp(name, lower_macros[k]) == 0) return true;
    for (const char *p = name; *p; p++)
        if (*p >= 'a' && *p <= 'z') return false;
    return true;
}

static ast_type *chk_function(chk_state *st, ast_step *s)
{
    int errors_before = st->d->errors;
    chk_map seen = { 0 };
    for (int i = 0; i < s->nparams; i++) {
        ast_arg *p = s->params[i];
        p->ctype = chk_expr(st, p->value);
        ast_arg *prev = chk_map_get(&seen, p->name);
        if (prev)
            ERR(p->loc, "duplicate parameter '%s'; first at %s", p->name, chk_pos(st, prev->loc));
        else
            chk_map_put(st->a, &seen, p->name, p);
        for (size_t k = 0; k < sizeof chk_c_keywords / sizeof chk_c_keywords[0]; k++)
            if (strcmp(p->name, chk_c_keywords[k]) == 0)
                ERR(p->loc, "parameter name '%s' is reserved in C", p->name);
        if (chk_c_macro_like(p->name))
            ERR(p->loc, "parameter name '%s' may be a C macro in the function's headers (as EOF, NAN or "
                "INT64_MAX are): use a name with a lower-case letter, not starting with '_'", p->name);
        if (strncmp(p->name, "flow_", 5) == 0 || strncmp(p->name, "rt_", 3) == 0 ||
            strncmp(p->name, "json_", 5) == 0)
            ERR(p->loc, "parameter name '%s' uses a prefix reserved for the runtime", p->name);
    }
    s->c_params_bad = st->d->errors != errors_before;
    chk_type_decl(st, s->out_type, true);
    return s->out_type ? s->out_type : &ast_type_json;
}

/* Does every path through b end in return or fail? */
static bool chk_block_ends(const ast_block *b)
{
    if (!b || !b->nstmts) return false;
    const ast_stmt *last = b->stmts[b->nstmts - 1];
    if (last->kind == ST_RETURN || last->kind == ST_FAIL) return true;
    if (last->kind == ST_IF && last->els) {
        for (int i = 0; i < last->nbranches; i++)
            if (!chk_block_ends(last->thens[i])) return false;
        return chk_block_ends(last->els);
    }
    return false;
}

static void chk_hide_from(chk_state *st, int mark, src_loc at, const char *by)
{
    for (int i = mark; i < st->scope.len; i++) {
        ast_step *s = st->scope.items[i];
        st->info[s->index].visible = false;
        st->info[s->index].hidden_at = at;
        st->info[s->index].hidden_by = by;
    }
    st->scope.len = mark;
}

/* Leaves a branch of an if: the steps and lets it defined (still in scope,
** from mark on) leave the scope while the other branches are checked, and
** go to `ran`, to come back after the if as ones that may not have run. */
static void chk_leave_branch(chk_state *st, int mark, const ast_stmt *ifs, int branch, ptrvec *ran)
{
    const char *where = NULL;     /* made only when the branch defined something */
    for (int i = mark; i < st->scope.len; i++) {
        if (!where)
            where = branch < 0 ? arena_printf(st->a, "in the 'else' branch of the if at %s", chk_pos(st, ifs->loc))
                  : branch ? arena_printf(st->a, "in the 'else if' branch at %s", chk_pos(st, ifs->conds[branch]->loc))
                           : arena_printf(st->a, "in the 'if' branch at %s", chk_pos(st, ifs->loc));
        ast_step *s = st->scope.items[i];
        chk_stepinfo *in = &st->info[s->index];
        in->visible = false;
        in->other_branch = true;
        if (!in->branch) in->branch = where;    /* the innermost branch names it */
        ptrvec_push(st->a, ran, s);
    }
    st->scope.len = mark;
}

/* After an if: the steps of its branches are in scope again, as ones that
** may not have run (their fields optional until `if s.ok`). */
static void chk_after_branches(chk_state *st, const ptrvec *ran)
{
    for (int i = 0; i < ran->len; i++) {
        ast_step *s = ran->items[i];
        chk_stepinfo *in = &st->info[s->index];
        in->visible = true;
        in->other_branch = false;
        in->maybe = true;
        ptrvec_push(st->a, &st->scope, s);
    }
}

static ast_type *chk_fanout(chk_state *st, ast_step *s)
{
    ast_type *lt = chk_expr(st, s->list);
    if (lt->kind == TY_OPTIONAL) {
        const char *path = chk_path(st, s->list);
        ERR(s->list->loc, "'%s' may be null here: use '?? []' to fan out over nothing",
            path ? path : "the list");
        s->var_type = &ast_type_error;
    } else if (ty_dyn(lt)) {
        s->var_type = lt;
    } else if (lt->kind != TY_LIST) {
        ERR(s->list->loc, "fanout needs a list, not %s", tystr(st, lt));
        s->var_type = &ast_type_error;
    } else {
        s->var_type = lt->elem;
    }
    if (s->concurrency < 0 || s->concurrency > 4096)
        ERR(s->loc, "fanout concurrency must be between 1 and 4096");
    ast_step *same = chk_map_get(&st->steps, s->var);
    if (same)
        ERR(s->var_loc, "fanout variable '%s' has the name of a %s", s->var, same->kind == STEP_LET ? "let" : "step");
    for (int i = 0; i < st->fanouts.len; i++)
        if (strcmp(((ast_step *)st->fanouts.items[i])->var, s->var) == 0)
            ERR(s->var_loc, "fanout variable '%s' shadows the variable of an enclosing fanout", s->var);

    chk_returns rets = { 0 };
    chk_returns *saved = st->returns;
    st->returns = &rets;
    ptrvec_push(st->a, &st->fanouts, s);
    int mark = st->scope.len;
    chk_block(st, s->body);
    chk_hide_from(st, mark, s->loc, "fanout");
    st->fanouts.len--;
    st->returns = saved;

    ast_type *r = rets.type ? rets.type : &ast_type_null;
    if (rets.type && !chk_block_ends(s->body)) r = ty_opt(st, r);
    return ty_list(st, r);
}

/* Whether e calls now(), whose value changes when a run is replayed. */
static const ast_expr *chk_find_now(const ast_expr *e)
{
    if (!e) return NULL;
    if (e->kind == EX_CALL && strcmp(e->name, "now") == 0) return e;
    const ast_expr *f = chk_find_now(e->a);
    if (!f) f = chk_find_now(e->b);
    for (int i = 0; !f && i < e->nitems; i++) f = chk_find_now(e->items[i]);
    return f;
}

/* let NAME = value: evaluated again when a run resumes, so it may read
** only what replays the same (committed steps, the trigger, settings). */
static ast_type *chk_let(chk_state *st, ast_step *s)
{
    ast_type *t = chk_expr(st, s->value);
    const ast_expr *now = chk_find_now(s->value);
    if (now)
        ERR(now->loc, "let '%s' reads now(): a let is evaluated again when a run resumes, so its value would "
                      "change; take the time from a step, whose output is checkpointed", s->name);
    return t;
}

static void chk_step(chk_state *st, ast_step *s)
{
    ast_type *out = &ast_type_error;
    if (s->kind == STEP_LET) st->info[s->index].defined = true;     /* `let x = x`: its own definition */
    switch (s->kind) {
    case STEP_REQUEST: out = chk_request(st, s, s->req, false); break;
    case STEP_ACTION: out = chk_action_call(st, s); break;
    case STEP_FUNCTION: out = chk_function(st, s); break;
    case STEP_FANOUT: out = chk_fanout(st, s); break;
    case STEP_LET: out = chk_let(st, s); break;
    }
    chk_step_clauses(st, s);
    s->out = out;
    chk_stepinfo *in = &st->info[s->index];
    in->defined = true;
    in->visible = true;
    ptrvec_push(st->a, &st->scope, s);
}

/* ---- statements -------------------------------------------------------- */

static void chk_return(chk_state *st, ast_stmt *stmt)
{
    ast_type *t = stmt->expr ? chk_expr(st, stmt->expr) : &ast_type_null;
    chk_returns *r = st->returns;
    if (!r) return;
    if (!r->any) {
        r->any = true;
        r->type = t;
        r->first = stmt->loc;
        return;
    }
    ast_type *u = ty_unify(st, r->type, t);
    if (!u) {
        ERR(stmt->expr ? stmt->expr->loc : stmt->loc,
            "return type %s does not match the return at %s, of type %s", tystr(st, t),
            chk_pos(st, r->first), tystr(st, r->type));
        return;
    }
    r->type = u;
}

/* `return status N headers {...}` / `fail status N ...`: the answer to the
** HTTP request of a request trigger. */
static void chk_reply(chk_state *st, ast_stmt *stmt)
{
    if (!stmt->status && !stmt->headers) return;
    const char *kw = stmt->kind == ST_RETURN ? "return" : "fail";
    const char *what = stmt->status ? "status" : "headers";
    const ast_trigger *t = st->main->ntriggers ? st->main->triggers[0] : NULL;
    if (st->fanouts.len)
        ERR(stmt->loc, "'%s %s' answers the request that started the run: a fanout item's %s cannot", kw, what, kw);
    else if (t && t->kind != TRIG_REQUEST)
        ERR(stmt->loc, "'%s %s' answers an HTTP request: only a workflow with `trigger request` has one to answer",
            kw, what);
    if (stmt->status) {
        chk_expect_type(st, stmt->status, &ast_type_int, "the status");
        if (stmt->status->kind == EX_INT && (stmt->status->ival < 100 || stmt->status->ival > 599))
            ERR(stmt->status->loc, "status %" PRId64 " is not an HTTP status (100 to 599)", stmt->status->ival);
    }
    if (stmt->headers) {
        ast_expr *h = stmt->headers;
        chk_expr(st, h);
        for (int i = 0; i < h->nitems; i++) {
            const char *k = h->keys[i];
            bool token = *k != 0;
            for (const char *p = k; *p; p++)
                if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p))) token = false;
            if (!token)
                ERR(h->key_locs[i], "'%s' is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)", k);
            else if (strcasecmp(k, "Content-Length") == 0 || strcasecmp(k, "Transfer-Encoding") == 0 ||
                     strcasecmp(k, "Connection") == 0)
                ERR(h->key_locs[i], "header '%s' is set by the server", k);
            ast_type *vt = h->items[i]->type ? h->items[i]->type : &ast_type_error;
            if (!ty_dyn(vt) && vt->kind != TY_STRING)
                ERR(h->items[i]->loc, "header '%s' must be a string, not %s%s", k, tystr(st, vt),
                    vt->kind == TY_OPTIONAL ? " (use '?\?' to give a default)" : "");
        }
    }
}

static void chk_stmt(chk_state *st, ast_stmt *stmt)
{
    switch (stmt->kind) {
    case ST_STEP:
    case ST_LET:
        chk_step(st, stmt->step);
        break;
    case ST_IF: {
        ptrvec negated = { 0 };     /* what the earlier conditions being false proves */
        ptrvec ran = { 0 };         /* the steps of the branches */
        for (int i = 0; i < stmt->nbranches; i++) {
            int nmark = chk_narrow_push(st, &negated);
            chk_condition(st, stmt->conds[i], "an 'if' condition");
            ptrvec paths = { 0 };
            chk_collect_narrowing(st, stmt->conds[i], true, &paths);
            chk_narrow_push(st, &paths);
            int mark = st->scope.len;
            chk_block(st, stmt->thens[i]);
            chk_leave_branch(st, mark, stmt, i, &ran);
            st->narrowed.len = nmark;
            chk_collect_narrowing(st, stmt->conds[i], false, &negated);
        }
        if (stmt->els) {
            int nmark = chk_narrow_push(st, &negated);
            int mark = st->scope.len;
            chk_block(st, stmt->els);
            chk_leave_branch(st, mark, stmt, -1, &ran);
            st->narrowed.len = nmark;
        }
        chk_after_branches(st, &ran);
        break;
    }
    case ST_RETURN:
        chk_reply(st, stmt);
        chk_return(st, stmt);
        break;
    case ST_FAIL:
        chk_reply(st, stmt);
        chk_expr(st, stmt->expr);
        break;
    case ST_LOG:
        chk_expr(st, stmt->expr);
        break;
    case ST_WAIT:
        if (stmt->wait_until) {
            ast_type *t = chk_expr(st, stmt->expr);
            ast_type *s = ty_strip(t);
            if (t->kind == TY_OPTIONAL)
                ERR(stmt->expr->loc, "'wait until' time may be null here: use '?\?'");
            else if (!ty_dyn(s) && s->kind != TY_STRING && s->kind != TY_INT)
                ERR(stmt->expr->loc, "'wait until' needs a time: an ISO-8601 string or epoch seconds, not %s",
                    tystr(st, t));
        } else if (stmt->expr && stmt->expr->kind != EX_DURATION) {
            ERR(stmt->expr->loc, "'wait' needs a duration such as 5m");
        }
        break;
    }
}

static void chk_block(chk_state *st, ast_block *b)
{
    if (!b) return;
    bool probe = chk_probe_in_block(st, b);
    for (int i = 0; i < b->nstmts; i++) {
        ast_stmt *s = b->stmts[i];
        if (probe && !st->probe_done && s->span.start > st->probe->offset) {
            chk_probe_snapshot(st);     /* between statements: what ran before */
            st->probe_done = true;
        } else if (probe && !st->probe_done && st->probe->offset <= s->span.end) {
            chk_probe_snapshot(st);     /* in this statement: what ran before it, refined inside */
            chk_stmt(st, s);
            st->probe_done = true;
            continue;
        }
        chk_stmt(st, s);
    }
    if (probe && !st->probe_done) {
        chk_probe_snapshot(st);         /* after the block's last statement */
        st->probe_done = true;
    }
}

/* ---- prepass: every step name, once ------------------------------------ */

static const char *const chk_reserved_step_names[] = {
    "run", "output", "status", "headers", "body", "len", "lower", "upper", "trim", "string", "url_encode",
    "int", "float", "contains", "join", "now", "bool", "base64", "url_path",
};

static void chk_register_block(chk_state *st, ast_block *b, bool conditional, bool in_fanout);

static void chk_register_step(chk_state *st, ast_step *s, bool conditional, bool in_fanout)
{
    ast_program *p = st->prog;
    s->index = p->nsteps;
    ast_step **steps = p->steps;
    if ((p->nsteps & (p->nsteps - 1)) == 0) {   /* grow at powers of two */
        steps = arena_alloc(st->a, sizeof *steps * (size_t)(p->nsteps ? p->nsteps * 2 : 1));
        if (p->nsteps) memcpy(steps, p->steps, sizeof *steps * (size_t)p->nsteps);
        p->steps = steps;
    }
    p->steps[p->nsteps++] = s;
    s->parent_fanout = st->fanouts.len ? st->fanouts.items[st->fanouts.len - 1] : NULL;

    bool let = s->kind == STEP_LET;
    for (size_t i = 0; i < sizeof chk_reserved_step_names / sizeof chk_reserved_step_names[0]; i++)
        if (strcmp(s->name, chk_reserved_step_names[i]) == 0)
            ERR(s->name_loc, "'%s' is reserved and cannot name a %s", s->name, let ? "let" : "step");
    ast_step *prev = chk_map_get(&st->steps, s->name);
    if (prev && !let && prev->kind != STEP_LET)
        ERR(s->name_loc, "duplicate step name '%s'; first defined at %s", s->name, chk_pos(st, prev->name_loc));
    else if (prev)
        ERR(s->name_loc, "'%s' is already the name of the %s at %s (steps and lets share one namespace)", s->name,
            prev->kind == STEP_LET ? "let" : "step", chk_pos(st, prev->name_loc));
    else
        chk_map_put(st->a, &st->steps, s->name, s);
    (void)conditional;
    (void)in_fanout;
    if (s->kind == STEP_FANOUT) {
        ptrvec_push(st->a, &st->fanouts, s);
        chk_register_block(st, s->body, true, true);
        st->fanouts.len--;
    }
}

static void chk_register_block(chk_state *st, ast_block *b, bool conditional, bool in_fanout)
{
    if (!b) return;
    for (int i = 0; i < b->nstmts; i++) {
        ast_stmt *s = b->stmts[i];
        if (s->kind == ST_STEP || s->kind == ST_LET) {
            chk_register_step(st, s->step, conditional, in_fanout);
        } else if (s->kind == ST_IF) {
            for (int j = 0; j < s->nbranches; j++) chk_register_block(st, s->thens[j], true, in_fanout);
            chk_register_block(st, s->els, true, in_fanout);
        }
    }
}

/* Mark conditional / in-fanout steps (needs indexes, so after registration). */
static void chk_mark_block(chk_state *st, ast_block *b, bool conditional, bool in_fanout)
{
    if (!b) return;
    for (int i = 0; i < b->nstmts; i++) {
        ast_stmt *s = b->stmts[i];
        if (s->kind == ST_STEP || s->kind == ST_LET) {
            st->info[s->step->index].conditional = conditional;
            st->info[s->step->index].in_fanout = in_fanout;
            if (s->step->kind == STEP_FANOUT) chk_mark_block(st, s->step->body, true, true);
        } else if (s->kind == ST_IF) {
            for (int j = 0; j < s->nbranches; j++) chk_mark_block(st, s->thens[j], true, in_fanout);
            chk_mark_block(st, s->els, true, in_fanout);
        }
    }
}

/* ---- declarations ------------------------------------------------------ */

static void chk_declare_secret(chk_state *st, const char *name, src_loc *loc, bool report_dup)
{
    src_loc *prev = chk_map_get(&st->secrets, name);
    if (prev) {
        if (report_dup)
            ERR(*loc, "secret '%s' is declared twice; first at %s", name, chk_pos(st, *prev));
        return;
    }
    chk_map_put(st->a, &st->secrets, name, loc);
}

/* An auth clause's secret reference: must be `secret.NAME`. */
static void chk_auth_secret(chk_state *st, ast_expr *e)
{
    if (!e) return;
    if (e->kind != EX_FIELD || e->a->kind != EX_NAME || strcmp(e->a->name, "secret") != 0) {
        ERR(e->loc, "auth needs a secret reference such as secret.api_token");
        return;
    }
    e->a->ref = REF_SECRET;
    e->type = &ast_type_string;
    chk_declare_secret(st, e->name, &e->loc, false);
}

/* `connection { ... }`: plain values of a user's connection. Scalars only
** (they are given on a command line, `--field NAME=VALUE`); one base_url
** field, a string; from_token only where an OAuth2 token response can
** fill it. */
static void chk_connection(chk_state *st, ast_integration *in)
{
    chk_map seen = { 0 };
    const ast_conn_field *base = NULL;
    for (int i = 0; i < in->nconn; i++) {
        ast_conn_field *f = in->conn[i];
        ast_conn_field *prev = chk_map_get(&seen, f->name);
        if (prev) {
            ERR(f->loc, "connection field '%s' is declared twice; first at %s", f->name, chk_pos(st, prev->loc));
            continue;
        }
        chk_map_put(st->a, &seen, f->name, f);
        const ast_type *t = f->type && f->type->kind == TY_OPTIONAL ? f->type->elem : f->type;
        ast_type_kind k = t ? t->kind : TY_ERROR;
        if (k != TY_STRING && k != TY_INT && k != TY_BOOL && k != TY_FLOAT && k != TY_ERROR)
            ERR(f->type->loc, "connection field '%s' must be a string, int, float or bool (optional with ?), not %s",
                f->name, tystr(st, f->type));
        if (f->base_url) {
            if (base)
                ERR(f->loc, "only one connection field can be the base_url; '%s' is already (%s)", base->name,
                    chk_pos(st, base->loc));
            else if (k != TY_STRING && k != TY_ERROR)
                ERR(f->loc, "the base_url field '%s' must be a string", f->name);
            base = f;
        }
        if (f->from_token && in->auth != AUTH_OAUTH2)
            ERR(f->loc, "connection field '%s' is from_token, but integration '%s' has no oauth2 auth whose token "
                "response could fill it", f->name, in->name);
    }
}

static void chk_integrations(chk_state *st)
{
    ast_program *p = st->prog;
    for (int f = 0; f < p->nfiles; f++) {
        ast_file *file = p->files[f];
        for (int i = 0; i < file->nintegrations; i++) {
            ast_integration *in = file->integrations[i];
            ast_integration *prev = chk_map_get(&st->integrations, in->name);
            if (prev) {
                if (prev != in)
                    ERR(in->loc, "integration '%s' is declared twice; first at %s:%s", in->name,
                        prev->file ? prev->file->path : "?", chk_pos(st, prev->loc));
                continue;
            }
            in->file = file;
            chk_map_put(st->a, &st->integrations, in->name, in);
            if (in->base_url && in->base_url->kind != EX_STRING)
                ERR(in->base_url->loc, "an integration's base URL must be a plain string");
            else if (in->base_url && *in->base_url->sval && !chk_base_url_ok(in->base_url->sval))
                ERR(in->base_url->loc, "an integration's base URL is an http:// or https:// URL without a query or "
                                       "fragment (an action's path is joined to it)");
            chk_auth_secret(st, in->auth_secret);
            chk_auth_secret(st, in->auth_secret2);
            chk_auth_secret(st, in->oauth_client_id);
            chk_auth_secret(st, in->oauth_client_secret);
            if (in->auth == AUTH_OAUTH2 && !in->oauth_token_url)
                ERR(in->auth_loc, "oauth2 auth needs a token_url");
            chk_connection(st, in);
        }
    }
    /* the merged lists, in file order */
    int n = 0;
    for (int f = 0; f < p->nfiles; f++) n += p->files[f]->nintegrations;
    p->integrations = arena_alloc(st->a, sizeof *p->integrations * (size_t)(n + 1));
    p->nintegrations = 0;
    for (int f = 0; f < p->nfiles; f++)
        for (int i = 0; i < p->files[f]->nintegrations; i++) {
            ast_integration *in = p->files[f]->integrations[i];
            if (chk_map_get(&st->integrations, in->name) == in) p->integrations[p->nintegrations++] = in;
        }
}

static void chk_actions(chk_state *st)
{
    ast_program *p = st->prog;
    int n = 0;
    for (int f = 0; f < p->nfiles; f++) n += p->files[f]->nactions;
    p->actions = arena_alloc(st->a, sizeof *p->actions * (size_t)(n + 1));
    p->nactions = 0;
    for (int f = 0; f < p->nfiles; f++) {
        ast_file *file = p->files[f];
        for (int i = 0; i < file->nactions; i++) {
            ast_action *a = file->actions[i];
            a->file = file;
            const char *key = action_key(st, a->integ, a->op);
            ast_action *prev = chk_map_get(&st->actions, key);
            if (prev) {
                ERR(a->loc, "action '%s' is declared twice; first at %s", key, chk_pos(st, prev->loc));
                continue;
            }
            a->integration = chk_map_get(&st->integrations, a->integ);
            if (!a->integration) {
                ERR(a->loc, "action '%s' belongs to an unknown integration '%s'", key, a->integ);
            }
            chk_map_put(st->a, &st->actions, key, a);
            p->actions[p->nactions++] = a;
        }
    }
}

/* Action bodies: checked once each, with their parameters in scope. */
static void chk_action_bodies(chk_state *st)
{
    ast_program *p = st->prog;
    for (int i = 0; i < p->nactions; i++) {
        ast_action *a = p->actions[i];
        chk_map seen = { 0 };
        st->where = WHERE_CONST;
        for (int j = 0; j < a->nparams; j++) {
            ast_field *f = a->params[j];
            ast_field *prev = chk_map_get(&seen, f->name);
            if (prev)
                ERR(f->loc, "duplicate parameter '%s'; first at %s", f->name, chk_pos(st, prev->loc));
            else
                chk_map_put(st->a, &seen, f->name, f);
            chk_type_decl(st, f->type, false);
            if (f->deflt) chk_expect_type(st, f->deflt, f->type, "the default value");
        }
        chk_type_decl(st, a->out, true);
        st->where = WHERE_ACTION;
        st->action = a;
        if (st->probe && !st->probe_done && st->probe_item && st->probe_item->node == a) chk_probe_snapshot(st);
        if (a->body && a->body->req) {
            a->body->req->integ = a->integration;
            ast_type *t = chk_request(st, a->body, a->body->req, true);
            if (a->body->req->paginate != PAGE_NONE && a->out && !chk_assignable(t, a->out))
                ERR(a->loc, "a paginated action's output type must be %s", tystr(st, t));
            else if (a->body->req->returns && a->out && !a->body->req->paginate &&
                     !chk_assignable(a->body->req->returns, a->out))
                ERR(a->body->req->returns_loc, "returns %s does not fit the action's output type %s",
                    tystr(st, a->body->req->returns), tystr(st, a->out));
            a->body->out = a->out;
        }
        st->action = NULL;
    }
    st->where = WHERE_BODY;
}

static void chk_trigger(chk_state *st)
{
    ast_file *m = st->main;
    st->trigger_type = &ast_type_json;
    if (m->ntriggers == 0) {
        if (!m->has_workflow) return;   /* not a workflow file at all: said once */
        ERR(m->workflow_loc, "workflow '%s' has no trigger: add `trigger event \"name\" { ... }`, "
            "`trigger request`, `trigger schedule \"cron\"` or `trigger enabled`",
            m->workflow);
        return;
    }
    for (int i = 1; i < m->ntriggers; i++)
        ERR(m->triggers[i]->loc, "a workflow has exactly one trigger; the first is at %s",
            chk_pos(st, m->triggers[0]->loc));
    ast_trigger *t = m->triggers[0];
    if (t->schema) {
        chk_type_decl(st, t->schema, false);
        st->trigger_type = t->schema;
    } else if (t->kind == TRIG_SCHEDULE || t->kind == TRIG_ENABLED) {
        ast_field *f[1] = { ty_mkfield(st, "time", &ast_type_string) };
        st->trigger_type = ty_object(st, t->kind == TRIG_SCHEDULE ? 1 : 0, f);
    }
    if (t->kind == TRIG_SCHEDULE) {
        /* the runtime's own parser (runtime/rt_cron.c): what check accepts, serve fires */
        rt_cron cron;
        char err[512];
        if (!rt_cron_parse(t->cron ? t->cron : "", &cron, err, sizeof err))
            ERR(t->cron_loc, "invalid schedule: %s", err);
        if (t->zone && !rt_cron_zone_check(t->zone, err, sizeof err))
            ERR(t->loc, "%s", err);
    }
}

static void chk_settings(chk_state *st)
{
    ast_file *m = st->main;
    ast_field **fields = arena_alloc(st->a, sizeof *fields * (size_t)(m->nsettings + 1));
    int n = 0;
    st->where = WHERE_CONST;
    for (int i = 0; i < m->nsettings; i++) {
        ast_field *f = m->settings[i];
        ast_field *prev = chk_map_get(&st->settings, f->name);
        if (prev) {
            ERR(f->loc, "setting '%s' is declared twice; first at %s", f->name, chk_pos(st, prev->loc));
            continue;
        }
        chk_map_put(st->a, &st->settings, f->name, f);
        chk_type_decl(st, f->type, false);
        if (f->deflt) chk_expect_type(st, f->deflt, f->type, arena_printf(st->a, "the default of setting '%s'", f->name));
        fields[n++] = f;
    }
    st->where = WHERE_BODY;
    st->settings_type = ty_object(st, n, fields);
}

static void chk_secrets(chk_state *st)
{
    ast_file *m = st->main;
    for (int i = 0; i < m->nsecrets; i++)
        chk_declare_secret(st, m->secrets[i]->name, &m->secrets[i]->loc, true);
}

/* Library files hold integrations and actions only. */
static void chk_library_files(chk_state *st)
{
    for (int f = 0; f < st->prog->nfiles; f++) {
        ast_file *file = st->prog->files[f];
        if (file == st->main || file == st->prog->tests_file) continue;
        src_loc bad = { -1, 0, 0 };
        const char *what = NULL;
        if (file->has_workflow) { bad = file->workflow_loc; what = "a workflow declaration"; }
        else if (file->ntriggers) { bad = file->triggers[0]->loc; what = "a trigger"; }
        else if (file->body && file->body->nstmts) { bad = file->body->stmts[0]->loc; what = "statements"; }
        else if (file->nsettings) { bad = file->settings[0]->loc; what = "settings"; }
        else if (file->ntests) { bad = file->tests[0]->loc; what = "tests"; }
        if (what)
            ERR(bad, "an imported file may only declare integrations and actions, not %s", what);
    }
}

/* ---- tests ------------------------------------------------------------- */

static void chk_test_literal(chk_state *st, ast_expr *e)
{
    chk_where saved = st->where;
    st->where = WHERE_TEST_DATA;
    chk_expr(st, e);
    st->where = saved;
}

/* Reports where a literal value does not fit a type: the missing field or
** the mistyped member, named by its path below `what`. */
static void chk_literal_fit(chk_state *st, const ast_expr *e, const ast_type *want, const char *what,
                            const char *path)
{
    if (chk_assignable(e->type, want)) return;
    const ast_type *w = want->kind == TY_OPTIONAL ? want->elem : want;
    if (e->kind == EX_OBJECT && w->kind == TY_OBJECT) {
        for (int i = 0; i < w->nfields; i++) {
            const ast_field *f = w->fields[i];
            int k = -1;
            for (int j = 0; j < e->nitems; j++)
                if (strcmp(e->keys[j], f->name) == 0) k = j;
            const char *sub = arena_printf(st->a, "%s.%s", path, f->name);
            if (k >= 0)
                chk_literal_fit(st, e->items[k], f->type, what, sub);
            else if (f->type->kind != TY_OPTIONAL && !ty_dyn(f->type))
                ERR(e->loc, "%s is missing field '%s' (%s)", what, sub + 1, tystr(st, f->type));
        }
        return;
    }
    if (e->kind == EX_LIST && w->kind == TY_LIST) {
        for (int j = 0; j < e->nitems; j++)
            chk_literal_fit(st, e->items[j], w->elem, what, arena_printf(st->a, "%s[%d]", path, j));
        return;
    }
    if (*path)
        ERR(e->loc, "%s field '%s' must be %s, not %s", what, path + 1, tystr(st, want), tystr(st, e->type));
    else
        ERR(e->loc, "%s must be %s, not %s", what, tystr(st, want), tystr(st, e->type));
}

static void chk_test(chk_state *st, ast_test *t)
{
    if (st->probe && !st->probe_done && st->probe_item && st->probe_item->node == t) {
        chk_where saved = st->where;
        st->where = WHERE_TEST;
        chk_probe_snapshot(st);
        st->where = saved;
    }
    if (t->event) {
        chk_test_literal(st, t->event);
        if (st->trigger_type) chk_literal_fit(st, t->event, st->trigger_type, "test event", "");
    }
    if (t->settings) {
        chk_test_literal(st, t->settings);
        for (int i = 0; i < t->settings->nitems; i++) {
            ast_field *f = chk_map_get(&st->settings, t->settings->keys[i]);
            if (!f) {
                const char *cands[256];
                int n = 0;
                for (int j = 0; j < st->settings_type->nfields && n < 256; j++)
                    cands[n++] = st->settings_type->fields[j]->name;
                ERR(t->settings->key_locs[i], "unknown setting '%s'%s", t->settings->keys[i],
                    chk_hint(st, t->settings->keys[i], cands, n));
            } else if (!chk_assignable(t->settings->items[i]->type, f->type)) {
                ERR(t->settings->items[i]->loc, "setting '%s' must be %s, not %s", f->name,
                    tystr(st, f->type), tystr(st, t->settings->items[i]->type));
            }
        }
    }
    for (int i = 0; i < t->nsecrets; i++) {
        chk_test_literal(st, t->secrets[i]->value);
        if (!chk_map_get(&st->secrets, t->secrets[i]->name))
            ERR(t->secrets[i]->loc, "undeclared secret '%s'", t->secrets[i]->name);
    }
    for (int i = 0; i < t->nenv; i++) chk_test_literal(st, t->env[i]->value);
    for (int i = 0; i < t->nmocks; i++) {
        ast_mock *m = t->mocks[i];
        if (m->integ && !chk_map_get(&st->integrations, m->integ))
            ERR(m->integ_loc, "unknown integration '%s' in mock", m->integ);
        chk_test_literal(st, m->url);
        for (int j = 0; j < m->nresponses; j++) {
            ast_mock_response *r = m->responses[j];
            if (r->status < 100 || r->status > 599) ERR(r->loc, "mock status %d is not an HTTP status", r->status);
            if (r->body) chk_test_literal(st, r->body);
            if (r->headers) chk_test_literal(st, r->headers);
        }
    }
    chk_where saved = st->where;
    st->where = WHERE_TEST;
    for (int i = 0; i < t->nexpects; i++) chk_condition(st, t->expects[i], "an 'expect'");
    st->where = saved;
}

static void chk_tests(chk_state *st)
{
    chk_map names = { 0 };
    ast_file *files[2] = { st->main, st->prog->tests_file };
    for (int f = 0; f < 2; f++) {
        if (!files[f]) continue;
        for (int i = 0; i < files[f]->ntests; i++) {
            ast_test *t = files[f]->tests[i];
            t->file = files[f];
            ast_test *prev = chk_map_get(&names, t->name);
            if (prev)
                ERR(t->loc, "duplicate test name \"%s\"; first at %s", t->name, chk_pos(st, prev->loc));
            else
                chk_map_put(st->a, &names, t->name, t);
            chk_test(st, t);
        }
    }
    /* a statement in a `tests for` file: the parser said so (top_item) */
}

/* ---- entry point ------------------------------------------------------- */

/* A file of integrations and actions only, as the stdlib's: checked as a
** library (its actions), not as a workflow missing its declaration. */
static bool chk_is_library(const ast_file *f)
{
    return !f->has_workflow && !f->tests_for && (f->nintegrations || f->nactions) && !f->ntriggers &&
           !f->nsettings && !f->nsecrets && !f->ntests && !(f->body && f->body->nstmts);
}

/* The top-level item of the probe's file holding its point. */
static void chk_probe_locate(chk_state *st)
{
    st->probe_top = TOP_STMT;
    ast_file *f = NULL;
    for (int i = 0; i < st->prog->nfiles; i++)
        if (st->prog->files[i]->file_id == st->probe->file) f = st->prog->files[i];
    for (int i = 0; f && i < f->ntops; i++) {
        ast_top *t = &f->tops[i];
        if (t->span.start <= st->probe->offset && st->probe->offset <= t->span.end) {
            st->probe_top = t->kind;
            st->probe_item = t;
        }
    }
}

bool chk_program(ast_program *prog)
{
    return chk_program_probe(prog, NULL);
}

bool chk_program_probe(ast_program *prog, chk_probe *probe)
{
    chk_state stv = { 0 }, *st = &stv;
    st->prog = prog;
    st->d = prog->diag;
    st->a = &prog->arena;
    st->main = prog->main;
    st->probe = probe;
    int errors_before = st->d->errors;
    if (!st->main) return false;
    if (probe) {
        probe->place = CHK_PLACE_NONE;
        chk_probe_locate(st);
    }

    ast_file *m = st->main;
    if (!m->has_workflow && errors_before == 0 && !(prog->library_ok && chk_is_library(m)))
        /* else a syntax error said why */
        ERR(((src_loc){ m->file_id, 0, 0 }), "missing `workflow NAME` declaration at the top of the file");

    ast_field *rf[3] = { ty_mkfield(st, "id", &ast_type_string), ty_mkfield(st, "user", &ast_type_string),
                         ty_mkfield(st, "attempt", &ast_type_int) };
    st->run_type = ty_object(st, 3, rf);

    chk_library_files(st);
    chk_secrets(st);
    chk_integrations(st);
    chk_actions(st);
    /* secrets as a type: every declared name is a string */
    {
        ast_field **fs = arena_alloc(st->a, sizeof *fs * (size_t)(st->secrets.len + 1));
        int n = 0;
        for (int i = 0; i < st->secrets.cap; i++)
            if (st->secrets.keys[i]) fs[n++] = ty_mkfield(st, st->secrets.keys[i], &ast_type_string);
        st->secrets_type = ty_object(st, n, fs);
    }
    chk_settings(st);
    chk_trigger(st);
    chk_action_bodies(st);

    chk_register_block(st, m->body, false, false);
    st->info = arena_alloc(st->a, sizeof *st->info * (size_t)(prog->nsteps + 1));
    chk_mark_block(st, m->body, false, false);

    chk_returns rets = { 0 };
    st->returns = &rets;
    st->where = WHERE_BODY;
    chk_block(st, m->body);
    st->returns = NULL;
    prog->output_type = rets.type ? rets.type : &ast_type_null;
    if (rets.type && !chk_block_ends(m->body)) prog->output_type = ty_opt(st, rets.type);

    chk_tests(st);
    return st->d->errors == errors_before;
}
