/*
** lsp_index.c — walks over a file's tree and lookups by offset (lsp_index.h).
*/
#include "lsp_index.h"

#include <string.h>

void lsp_walk_expr(lsp_walk *w, ast_expr *e)
{
    if (!e) return;
    if (w->expr) w->expr(w, e);
    lsp_walk_expr(w, e->a);
    lsp_walk_expr(w, e->b);
    for (int i = 0; i < e->nitems; i++) lsp_walk_expr(w, e->items[i]);
}

static void lsp_walk_request(lsp_walk *w, ast_request *r)
{
    if (!r) return;
    lsp_walk_expr(w, r->url);
    lsp_walk_expr(w, r->headers);
    lsp_walk_expr(w, r->query);
    lsp_walk_expr(w, r->json);
    lsp_walk_expr(w, r->form);
    lsp_walk_expr(w, r->body);
    lsp_walk_expr(w, r->fail_when);
    lsp_walk_expr(w, r->page_cursor);
}

static void lsp_walk_step(lsp_walk *w, ast_step *s, ast_stmt *st)
{
    if (!s) return;
    if (w->step) w->step(w, s, st);
    switch (s->kind) {
    case STEP_REQUEST:
        lsp_walk_request(w, s->req);
        break;
    case STEP_ACTION:
        for (int i = 0; i < s->nargs; i++) lsp_walk_expr(w, s->args[i]->value);
        break;
    case STEP_FUNCTION:
        for (int i = 0; i < s->nparams; i++) lsp_walk_expr(w, s->params[i]->value);
        break;
    case STEP_FANOUT:
        lsp_walk_expr(w, s->list);
        lsp_walk_block(w, s->body);
        break;
    case STEP_LET:
        lsp_walk_expr(w, s->value);
        break;
    }
}

static void lsp_walk_stmt(lsp_walk *w, ast_stmt *st)
{
    if (!st) return;
    switch (st->kind) {
    case ST_STEP:
    case ST_LET:
        lsp_walk_step(w, st->step, st);
        break;
    case ST_IF:
        for (int i = 0; i < st->nbranches; i++) {
            lsp_walk_expr(w, st->conds[i]);
            lsp_walk_block(w, st->thens[i]);
        }
        lsp_walk_block(w, st->els);
        break;
    default:
        lsp_walk_expr(w, st->status);
        lsp_walk_expr(w, st->headers);
        lsp_walk_expr(w, st->expr);
        break;
    }
}

void lsp_walk_block(lsp_walk *w, ast_block *b)
{
    if (!b) return;
    if (w->block) w->block(w, b);
    for (int i = 0; i < b->nstmts; i++) lsp_walk_stmt(w, b->stmts[i]);
}

static void lsp_walk_test(lsp_walk *w, ast_test *t)
{
    lsp_walk_expr(w, t->event);
    lsp_walk_expr(w, t->settings);
    for (int i = 0; i < t->nsecrets; i++) lsp_walk_expr(w, t->secrets[i]->value);
    for (int i = 0; i < t->nenv; i++) lsp_walk_expr(w, t->env[i]->value);
    for (int i = 0; i < t->nmocks; i++) {
        ast_mock *m = t->mocks[i];
        lsp_walk_expr(w, m->url);
        for (int j = 0; j < m->nresponses; j++) {
            lsp_walk_expr(w, m->responses[j]->body);
            lsp_walk_expr(w, m->responses[j]->headers);
        }
    }
    for (int i = 0; i < t->nexpects; i++) lsp_walk_expr(w, t->expects[i]);
}

void lsp_walk_file(lsp_walk *w, ast_file *f)
{
    if (!f) return;
    if (w->block) w->block(w, f->body);
    for (int i = 0; i < f->ntops; i++) {
        ast_top *t = &f->tops[i];
        switch (t->kind) {
        case TOP_STMT:
            lsp_walk_stmt(w, t->node);
            break;
        case TOP_SETTINGS:
            for (int k = t->first; k < t->first + t->count && k < f->nsettings; k++)
                lsp_walk_expr(w, f->settings[k]->deflt);
            break;
        case TOP_INTEGRATION: {
            ast_integration *in = t->node;
            lsp_walk_expr(w, in->base_url);
            if (in->auth != AUTH_OAUTH2) lsp_walk_expr(w, in->auth_secret);     /* oauth2's is made up */
            lsp_walk_expr(w, in->auth_secret2);
            lsp_walk_expr(w, in->oauth_token_url);
            lsp_walk_expr(w, in->oauth_client_id);
            lsp_walk_expr(w, in->oauth_client_secret);
            break;
        }
        case TOP_ACTION: {
            ast_action *a = t->node;
            for (int k = 0; k < a->nparams; k++) lsp_walk_expr(w, a->params[k]->deflt);
            lsp_walk_step(w, a->body, NULL);
            break;
        }
        case TOP_TEST:
            lsp_walk_test(w, t->node);
            break;
        default:
            break;
        }
    }
}

/* ---- what is at an offset ---------------------------------------------------- */

typedef struct node_find {
    int offset;
    lsp_node best;
} node_find;

static bool loc_has(src_loc l, int off) { return l.start <= off && off <= l.end && l.end >= l.start; }

/* Keep the candidate when it is tighter than what was found. */
static void node_offer(node_find *nf, lsp_node n)
{
    if (!loc_has(n.loc, nf->offset)) return;
    int w = n.loc.end - n.loc.start, bw = nf->best.loc.end - nf->best.loc.start;
    if (nf->best.kind == NODE_NONE || w < bw || (w == bw && n.kind != NODE_EXPR)) nf->best = n;
}

static void node_expr(lsp_walk *w, ast_expr *e)
{
    node_find *nf = w->ud;
    lsp_node n = { .kind = NODE_EXPR, .loc = e->loc, .expr = e };
    /* a field access is found by its name, not by its whole chain */
    if (e->kind == EX_FIELD) n.loc = e->name_loc;
    node_offer(nf, n);
}

static void node_step(lsp_walk *w, ast_step *s, ast_stmt *st)
{
    node_find *nf = w->ud;
    (void)st;
    if (s->name) node_offer(nf, (lsp_node){ .kind = NODE_STEP_NAME, .loc = s->name_loc, .step = s });
    if (s->kind == STEP_FANOUT && s->var)
        node_offer(nf, (lsp_node){ .kind = NODE_FANOUT_VAR, .loc = s->var_loc, .step = s });
    if (s->kind == STEP_ACTION) {
        node_offer(nf, (lsp_node){ .kind = NODE_ACTION_CALL, .loc = s->call_loc, .step = s });
        for (int i = 0; i < s->nargs; i++) {
            src_loc l = s->args[i]->loc;
            node_offer(nf, (lsp_node){ .kind = NODE_ARG_NAME, .loc = l, .step = s, .arg = s->args[i] });
        }
    }
}

lsp_node lsp_node_at(ast_file *f, int offset)
{
    node_find nf = { .offset = offset };
    lsp_walk w = { .expr = node_expr, .step = node_step, .ud = &nf };
    lsp_walk_file(&w, f);
    for (int i = 0; f && i < f->nimports; i++)
        node_offer(&nf, (lsp_node){ .kind = NODE_IMPORT, .loc = f->imports[i]->loc, .import = f->imports[i] });
    for (int i = 0; f && i < f->nsettings; i++)
        node_offer(&nf, (lsp_node){ .kind = NODE_SETTING, .loc = f->settings[i]->loc, .field = f->settings[i] });
    for (int i = 0; f && i < f->nsecrets; i++)
        node_offer(&nf, (lsp_node){ .kind = NODE_SECRET_DECL, .loc = f->secrets[i]->loc, .arg = f->secrets[i] });
    for (int i = 0; f && i < f->ntriggers; i++) {
        ast_type *t = f->triggers[i]->schema;
        for (int k = 0; t && k < t->nfields; k++)
            node_offer(&nf, (lsp_node){ .kind = NODE_TRIGGER_FIELD, .loc = t->fields[k]->loc, .field = t->fields[k] });
    }
    for (int i = 0; f && i < f->nactions; i++) {
        ast_action *a = f->actions[i];
        /* `action integ.op`: the name after the keyword */
        src_loc l = a->loc;
        l.start += 7;
        l.end = l.start + (int)(strlen(a->integ) + 1 + strlen(a->op));
        node_offer(&nf, (lsp_node){ .kind = NODE_ACTION_DECL, .loc = l, .action = a });
    }
    return nf.best;
}

/* ---- blocks --------------------------------------------------------------------- */

typedef struct block_find {
    ast_file *f;
    int offset;
    ast_block *best;
} block_find;

static void block_visit(lsp_walk *w, ast_block *b)
{
    block_find *bf = w->ud;
    if (b == bf->f->body) {
        if (!bf->best) bf->best = b;
        return;
    }
    /* inside the braces: after `{` and up to `}` */
    if (b->loc.start < bf->offset && bf->offset < b->loc.end) bf->best = b;    /* nested blocks come later */
}

ast_block *lsp_block_at(ast_file *f, int offset, ast_stmt **after)
{
    *after = NULL;
    if (!f) return NULL;
    block_find bf = { f, offset, NULL };
    lsp_walk w = { .block = block_visit, .ud = &bf };
    lsp_walk_file(&w, f);
    ast_block *b = bf.best;
    for (int i = 0; b && i < b->nstmts; i++)
        if (b->stmts[i]->span.end <= offset) *after = b->stmts[i];
    return b;
}

/* ---- documentation comments ---------------------------------------------------- */

/* Whether [from, to) of text is white space holding exactly one newline. */
static bool one_line_break(const char *text, int len, int from, int to)
{
    int newlines = 0;
    for (int k = from; k < to && k < len; k++) {
        if (text[k] == '\n') newlines++;
        else if (text[k] != ' ' && text[k] != '\t' && text[k] != '\r') return false;
    }
    return newlines == 1;
}

static bool starts_line(const char *text, int at)
{
    while (at > 0 && (text[at - 1] == ' ' || text[at - 1] == '\t')) at--;
    return at == 0 || text[at - 1] == '\n';
}

const char *lsp_doc_comment(arena *a, const ast_file *f, const char *text, int len, int start)
{
    int last = -1, first = -1;
    for (int i = 0; i < f->ncomments; i++)
        if (f->comments[i].end <= start) last = i;
    int below = start;      /* the comment block ends on the line right above this */
    for (int i = last; i >= 0; i--) {
        src_loc c = f->comments[i];
        if (!starts_line(text, c.start) || !one_line_break(text, len, c.end, below)) break;
        first = i;
        below = c.start;
    }
    if (first < 0) return NULL;
    strbuf b = { 0 };
    for (int i = first; i <= last; i++) {
        int s = f->comments[i].start + 1, e = f->comments[i].end;
        if (s < e && text[s] == ' ') s++;
        while (e > s && (text[e - 1] == '\r' || text[e - 1] == ' ')) e--;
        strbuf_append(&b, text + s, (size_t)(e - s));
        strbuf_putc(&b, '\n');
    }
    const char *r = arena_strndup(a, b.data ? b.data : "", b.len);
    strbuf_free(&b);
    return r;
}
