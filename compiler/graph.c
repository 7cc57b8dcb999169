/*
** graph.c — `flowc graph`: a checked workflow as a Graphviz digraph.
**
** Control flow is built the way a compiler threads basic blocks: each
** statement takes the "open ends" of what came before (a node, and the
** label the edge out of it carries) and leaves its own. An if leaves the
** ends of each branch (and, without else, its own "else" end); a return or
** fail leaves none; a fanout is a cluster whose body ends meet at a point.
** Data edges are dashed: a step, condition or return that reads a step's
** output points back at that step.
*/
#include "graph.h"

#include "check.h"
#include "diag.h"
#include "imports.h"
#include "project.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* An edge waiting for the next node: from `node`, labelled `label`. */
typedef struct open_end {
    const char *node;
    const char *label;          /* or NULL */
} open_end;

typedef struct ends {
    open_end *v;
    int n, cap;
} ends;

typedef struct graph_state {
    ast_program *prog;
    arena *a;
    strbuf nodes;               /* node statements (and clusters) */
    strbuf edges;               /* control edges, in order */
    strbuf data;                /* dashed data edges */
    int counter;                /* numbering of non-step nodes */
    struct ends *item_returns;  /* inside a fanout body: returns end the item here */
} graph_state;

static void ends_add(graph_state *g, ends *e, const char *node, const char *label)
{
    if (e->n == e->cap) {
        int cap = e->cap ? e->cap * 2 : 4;
        open_end *v = arena_alloc(g->a, sizeof *v * (size_t)cap);
        if (e->n) memcpy(v, e->v, sizeof *v * (size_t)e->n);
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (open_end){ node, label };
}

/* A dot string literal's contents: quotes and backslashes escaped,
** newlines as \n, runs of whitespace as one space. */
static void dot_text(strbuf *b, const char *s, size_t n)
{
    bool space = false, wrote = false;
    for (size_t i = 0; i < n && s[i]; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            space = true;
            continue;
        }
        if (space && wrote) strbuf_putc(b, ' ');
        space = false;
        wrote = true;
        if (ch == '"' || ch == '\\') strbuf_putc(b, '\\');
        strbuf_putc(b, ch);
    }
}

/* The source text of an expression, shortened for a label. */
static const char *expr_src(graph_state *g, const ast_expr *e, int max)
{
    if (!e) return "";
    const diag_file *f = g->prog->diag->files[e->loc.file];
    int start = e->loc.start, end = e->loc.end > start ? e->loc.end : start;
    const char *s = f->text + start;
    size_t n = (size_t)(end - start);
    if (e->kind == EX_STRING || e->kind == EX_INTERP) {
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
            s++;
            n -= 2;
        }
    }
    strbuf b = { 0 };
    dot_text(&b, s, n);
    strbuf_puts(&b, "");
    if ((int)b.len > max) {
        int cut = max - 3;
        while (cut > 0 && (b.data[cut - 1] == '\\')) cut--;     /* never split an escape */
        b.data[cut] = 0;
        b.len = (size_t)cut;
        strbuf_puts(&b, "...");
    }
    const char *r = arena_strdup(g->a, b.data);
    strbuf_free(&b);
    return r;
}

/* ---- data references ---------------------------------------------------- */

/* Adds each step e reads (once) to refs. */
static void collect_refs(const ast_expr *e, ptrvec *refs, arena *a)
{
    if (!e) return;
    if (e->kind == EX_NAME && e->ref == REF_STEP && e->ref_step) {
        for (int i = 0; i < refs->len; i++)
            if (refs->items[i] == e->ref_step) return;
        ptrvec_push(a, refs, e->ref_step);
        return;
    }
    collect_refs(e->a, refs, a);
    collect_refs(e->b, refs, a);
    for (int i = 0; i < e->nitems; i++) collect_refs(e->items[i], refs, a);
}

static void data_edges(graph_state *g, const char *to, ptrvec *refs)
{
    for (int i = 0; i < refs->len; i++) {
        const ast_step *s = refs->items[i];
        const char *line =
            arena_printf(g->a, "  s_%s -> %s [style=dashed, color=gray50, arrowhead=open, constraint=false];\n",
                         s->name, to);
        if (g->data.data && strstr(g->data.data, line)) continue;     /* one edge per pair */
        strbuf_puts(&g->data, line);
    }
}

static void step_refs(graph_state *g, const ast_step *s, ptrvec *refs)
{
    switch (s->kind) {
    case STEP_REQUEST: {
        const ast_request *r = s->req;
        const ast_expr *parts[] = { r->url, r->headers, r->query, r->json, r->form, r->body };
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) collect_refs(parts[i], refs, g->a);
        break;
    }
    case STEP_ACTION:
        for (int i = 0; i < s->nargs; i++) collect_refs(s->args[i]->value, refs, g->a);
        break;
    case STEP_FUNCTION:
        for (int i = 0; i < s->nparams; i++) collect_refs(s->params[i]->value, refs, g->a);
        break;
    case STEP_FANOUT:
        collect_refs(s->list, refs, g->a);
        break;
    case STEP_LET:
        collect_refs(s->value, refs, g->a);
        break;
    }
}

/* ---- control flow -------------------------------------------------------- */

static void connect(graph_state *g, const ends *in, const char *to)
{
    for (int i = 0; i < in->n; i++) {
        strbuf_printf(&g->edges, "  %s -> %s", in->v[i].node, to);
        if (in->v[i].label) {
            strbuf_puts(&g->edges, " [label=\"");
            strbuf_puts(&g->edges, in->v[i].label);
            strbuf_puts(&g->edges, "\"]");
        }
        strbuf_puts(&g->edges, ";\n");
    }
}

static ends graph_block(graph_state *g, const ast_block *blk, ends in, int depth);

static void indent(strbuf *b, int depth)
{
    for (int i = 0; i < depth + 1; i++) strbuf_puts(b, "  ");
}

static ends graph_step(graph_state *g, const ast_step *s, ends in, int depth)
{
    const char *id = arena_printf(g->a, "s_%s", s->name);
    strbuf label = { 0 };
    switch (s->kind) {
    case STEP_REQUEST:
        strbuf_printf(&label, "request %s\\n%s ", s->name, s->req->method);
        strbuf_puts(&label, expr_src(g, s->req->url, 48));
        break;
    case STEP_ACTION:
        strbuf_printf(&label, "action %s\\n%s.%s", s->name, s->integ, s->op);
        if (s->action && s->action->body && s->action->body->req) {
            strbuf_printf(&label, "\\n%s ", s->action->body->req->method);
            strbuf_puts(&label, expr_src(g, s->action->body->req->url, 48));
        }
        break;
    case STEP_FUNCTION:
        strbuf_printf(&label, "function %s", s->name);
        break;
    case STEP_FANOUT:
        strbuf_printf(&label, "fanout %s\\nfor %s in ", s->name, s->var);
        strbuf_puts(&label, expr_src(g, s->list, 40));
        break;
    case STEP_LET:
        strbuf_printf(&label, "let %s\\n", s->name);
        strbuf_puts(&label, expr_src(g, s->value, 48));
        break;
    }
    const ast_request *rq = s->kind == STEP_REQUEST ? s->req
                          : s->kind == STEP_ACTION && s->action && s->action->body ? s->action->body->req : NULL;
    if (rq && rq->paginate != PAGE_NONE) {
        static const char *const kinds[] = { "", "cursor", "page", "link" };
        strbuf_printf(&label, "\\npaginate %s", kinds[rq->paginate]);
    }
    if (s->retries > 0) strbuf_printf(&label, "\\nretry %d", s->retries);
    if (s->continue_on_failure) strbuf_puts(&label, "\\non failure continue");

    ptrvec refs = { 0 };
    step_refs(g, s, &refs);
    data_edges(g, id, &refs);

    if (s->kind != STEP_FANOUT) {
        indent(&g->nodes, depth);
        strbuf_printf(&g->nodes, "%s [label=\"%s\"%s];\n", id, label.data,
                      s->kind == STEP_FUNCTION ? ", shape=component" : s->kind == STEP_LET ? ", shape=cds" : "");
        strbuf_free(&label);
        connect(g, &in, id);
        ends out = { 0 };
        ends_add(g, &out, id, NULL);
        return out;
    }

    /* a fanout: a cluster holding the fanout node, its body and a join point */
    indent(&g->nodes, depth);
    strbuf_printf(&g->nodes, "subgraph cluster_%s {\n", s->name);
    indent(&g->nodes, depth + 1);
    strbuf_printf(&g->nodes, "label=\"fanout %s", s->name);
    if (s->concurrency) strbuf_printf(&g->nodes, " (concurrency %d)", (int)s->concurrency);
    strbuf_puts(&g->nodes, "\"; style=dashed; color=gray40;\n");
    indent(&g->nodes, depth + 1);
    strbuf_printf(&g->nodes, "%s [label=\"%s\", shape=box3d];\n", id, label.data);
    strbuf_free(&label);
    connect(g, &in, id);
    ends body_in = { 0 };
    ends_add(g, &body_in, id, arena_printf(g->a, "each %s", s->var));
    ends returns = { 0 };
    struct ends *saved = g->item_returns;
    g->item_returns = &returns;
    ends body_out = graph_block(g, s->body, body_in, depth + 1);
    g->item_returns = saved;
    for (int k = 0; k < returns.n; k++) ends_add(g, &body_out, returns.v[k].node, NULL);
    const char *join = arena_printf(g->a, "s_%s_done", s->name);
    indent(&g->nodes, depth + 1);
    strbuf_printf(&g->nodes, "%s [shape=point, width=0.08];\n", join);
    indent(&g->nodes, depth);
    strbuf_puts(&g->nodes, "}\n");
    connect(g, &body_out, join);
    ends out = { 0 };
    ends_add(g, &out, join, NULL);
    return out;
}

/* A non-step node (if, return, fail, log, wait) with its data edges. */
static const char *simple_node(graph_state *g, int depth, const char *shape, const char *label, const ast_expr *reads)
{
    const char *id = arena_printf(g->a, "n%d", ++g->counter);
    indent(&g->nodes, depth);
    strbuf_printf(&g->nodes, "%s [label=\"%s\", shape=%s];\n", id, label, shape);
    ptrvec refs = { 0 };
    collect_refs(reads, &refs, g->a);
    data_edges(g, id, &refs);
    return id;
}

static ends graph_stmt(graph_state *g, const ast_stmt *st, ends in, int depth)
{
    ends out = { 0 };
    switch (st->kind) {
    case ST_STEP:
    case ST_LET:
        return graph_step(g, st->step, in, depth);
    case ST_IF: {
        const char *id = simple_node(g, depth, "diamond", "if", NULL);
        connect(g, &in, id);
        for (int i = 0; i < st->nbranches; i++) {
            ptrvec refs = { 0 };
            collect_refs(st->conds[i], &refs, g->a);
            data_edges(g, id, &refs);
            const char *cond = expr_src(g, st->conds[i], 50);
            ends bin = { 0 };
            ends_add(g, &bin, id, i ? arena_printf(g->a, "else if %s", cond) : cond);
            ends bout = graph_block(g, st->thens[i], bin, depth);
            for (int k = 0; k < bout.n; k++) ends_add(g, &out, bout.v[k].node, bout.v[k].label);
        }
        ends ein = { 0 };
        ends_add(g, &ein, id, "else");
        ends eout = st->els ? graph_block(g, st->els, ein, depth) : ein;
        for (int k = 0; k < eout.n; k++) ends_add(g, &out, eout.v[k].node, eout.v[k].label);
        return out;
    }
    case ST_RETURN: {
        const char *label = st->expr ? arena_printf(g->a, "return %s", expr_src(g, st->expr, 48)) : "return";
        const char *id = simple_node(g, depth, g->item_returns ? "box" : "box, style=\"rounded,bold\"", label,
                                     st->expr);
        connect(g, &in, id);
        if (g->item_returns) ends_add(g, g->item_returns, id, NULL);   /* ends the item, not the run */
        return out;             /* nothing follows a return */
    }
    case ST_FAIL: {
        const char *id = simple_node(g, depth, "box, style=\"rounded,bold\", color=red3",
                                     arena_printf(g->a, "fail %s", expr_src(g, st->expr, 48)), st->expr);
        connect(g, &in, id);
        return out;
    }
    case ST_LOG: {
        const char *id = simple_node(g, depth, "note", arena_printf(g->a, "log %s", expr_src(g, st->expr, 48)),
                                     st->expr);
        connect(g, &in, id);
        ends_add(g, &out, id, NULL);
        return out;
    }
    case ST_WAIT: {
        const char *label = st->wait_until ? arena_printf(g->a, "wait until %s", expr_src(g, st->expr, 40))
                                           : arena_printf(g->a, "wait %s", expr_src(g, st->expr, 20));
        const char *id = simple_node(g, depth, "hexagon", label, st->wait_until ? st->expr : NULL);
        connect(g, &in, id);
        ends_add(g, &out, id, NULL);
        return out;
    }
    }
    return out;
}

static ends graph_block(graph_state *g, const ast_block *blk, ends in, int depth)
{
    if (!blk) return in;
    for (int i = 0; i < blk->nstmts; i++) in = graph_stmt(g, blk->stmts[i], in, depth);
    return in;
}

void graph_write_dot(ast_program *prog, strbuf *out)
{
    graph_state g = { .prog = prog, .a = &prog->arena };
    const ast_file *m = prog->main;
    const ast_trigger *t = m->ntriggers ? m->triggers[0] : NULL;

    strbuf_puts(out, "digraph \"");
    dot_text(out, m->workflow ? m->workflow : "workflow", 1000);
    strbuf_puts(out, "\" {\n  rankdir=TB;\n  labelloc=t;\n  label=\"");
    dot_text(out, m->workflow ? m->workflow : "workflow", 1000);
    if (m->description) {
        strbuf_puts(out, ": ");
        dot_text(out, m->description, 1000);
    }
    strbuf_puts(out, "\";\n  fontname=\"Helvetica\";\n"
                     "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
                     "  edge [fontname=\"Helvetica\", fontsize=9];\n\n");

    strbuf_puts(&g.nodes, "  trigger [shape=oval, style=filled, fillcolor=lightblue, label=\"");
    if (!t) {
        strbuf_puts(&g.nodes, "no trigger");
    } else if (t->kind == TRIG_EVENT) {
        strbuf_puts(&g.nodes, "trigger event\\n\\\"");
        dot_text(&g.nodes, t->event ? t->event : "", 1000);
        strbuf_puts(&g.nodes, "\\\"");
    } else if (t->kind == TRIG_REQUEST) {
        strbuf_puts(&g.nodes, "trigger request");
    } else if (t->kind == TRIG_SCHEDULE) {
        strbuf_puts(&g.nodes, "trigger schedule\\n");
        dot_text(&g.nodes, t->cron ? t->cron : "", 1000);
        if (t->zone) {
            strbuf_puts(&g.nodes, " (");
            dot_text(&g.nodes, t->zone, 1000);
            strbuf_puts(&g.nodes, ")");
        }
    } else {
        strbuf_puts(&g.nodes, "trigger enabled");
    }
    strbuf_puts(&g.nodes, "\"];\n");

    ends in = { 0 };
    ends_add(&g, &in, "trigger", NULL);
    ends last = graph_block(&g, m->body, in, 0);
    if (last.n) {
        /* falling off the end returns null */
        const char *id = simple_node(&g, 0, "box, style=\"rounded,bold\"", "end", NULL);
        connect(&g, &last, id);
    }

    strbuf_append(out, g.nodes.data ? g.nodes.data : "", g.nodes.len);
    strbuf_puts(out, "\n  # control flow\n");
    strbuf_append(out, g.edges.data ? g.edges.data : "", g.edges.len);
    if (g.data.len) {
        strbuf_puts(out, "\n  # data: which step's output each node reads\n");
        strbuf_append(out, g.data.data, g.data.len);
    }
    strbuf_puts(out, "}\n");
    strbuf_free(&g.nodes);
    strbuf_free(&g.edges);
    strbuf_free(&g.data);
}

/* ---- the command --------------------------------------------------------- */

static void graph_usage(FILE *out)
{
    fputs("usage: flowc graph FILE|DIR... [--svg OUT]\n"
          "\n"
          "Prints the workflow as a Graphviz digraph (dot) on stdout: the trigger,\n"
          "each step (kind, name, request method and URL), if / else-if / else\n"
          "branches labelled with their conditions, fanouts as clusters, control\n"
          "flow in order, and dashed edges from a step to what reads its output.\n"
          "\n"
          "  --svg OUT   render with Graphviz's `dot -Tsvg` into OUT instead (several\n"
          "              workflows: OUT is a directory, one NAME.svg each)\n"
          "\n"
          "Several files, or a directory (its workflows), print one digraph each.\n"
          "\n"
          "Exit status: 0 ok, 1 errors in the input or dot failed, 2 usage error.\n",
          out);
}

/* Runs `dot -Tsvg -o out` with text on its stdin. */
static bool render_svg(const char *text, const char *out)
{
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execlp("dot", "dot", "-Tsvg", "-o", out, (char *)NULL);
        fprintf(stderr, "flowc graph: cannot run dot (install graphviz): ");
        perror("");
        _exit(127);
    }
    close(fds[0]);
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fds[1], text + off, len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fds[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    return off == len && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* One workflow's graph: dot text on stdout, or rendered into svg. */
static int graph_one(const char *file, const char *svg, const char *stdlib_dir)
{
    diag_ctx d;
    diag_init(&d);
    ast_program prog;
    ast_program_init(&prog, &d);
    int rc = 1;
    if (imp_load_program(&prog, file, stdlib_dir) && prog.main) {
        bool ok = d.errors == 0;
        ok = chk_program(&prog) && ok;
        if (ok) {
            strbuf dot = { 0 };
            graph_write_dot(&prog, &dot);
            if (svg) {
                char *path = NULL;
                if (svg[strlen(svg) - 1] == '/') {      /* a project: DIR/NAME.svg each */
                    const char *name = prog.main->workflow ? prog.main->workflow : "workflow";
                    path = xmalloc(strlen(svg) + strlen(name) + 5);
                    sprintf(path, "%s%s.svg", svg, name);
                    svg = path;
                }
                rc = render_svg(dot.data, svg) ? 0 : 1;
                if (rc) fprintf(stderr, "flowc graph: dot could not render %s\n", svg);
                free(path);
            } else {
                fputs(dot.data, stdout);
                rc = 0;
            }
            strbuf_free(&dot);
        }
    }
    ast_program_free(&prog);
    diag_free(&d);
    return rc;
}

int graph_main(int argc, char **argv, const char *stdlib_dir)
{
    const char *svg = NULL;
    char **names = xcalloc((size_t)argc + 1, sizeof *names);
    int nnames = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            free(names);
            graph_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc) {
            svg = argv[++i];
        } else if (strcmp(argv[i], "--svg") == 0) {
            fprintf(stderr, "flowc graph: --svg needs a value (the SVG file, or a directory for several workflows)\n");
            free(names);
            graph_usage(stderr);
            return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "flowc graph: unknown option '%s'\n", argv[i]);
            free(names);
            graph_usage(stderr);
            return 2;
        } else {
            names[nnames++] = argv[i];
        }
    }
    if (!nnames) {
        free(names);
        graph_usage(stderr);
        return 2;
    }
    proj_files files;
    bool expanded = proj_expand("graph", names, nnames, 1u << PROJ_WORKFLOW, &files);
    free(names);
    if (!expanded) return 2;
    char dir[4200];
    if (svg && files.n > 1) {
        /* several graphs: --svg names a directory, one NAME.svg per workflow */
        struct stat sb;
        if (stat(svg, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "flowc graph: with several workflows, --svg names a directory (one NAME.svg each), "
                            "and %s is not one\n", svg);
            proj_files_free(&files);
            return 2;
        }
        snprintf(dir, sizeof dir, "%s/", svg);
        svg = dir;
    }
    int rc = 0;
    for (int i = 0; i < files.n; i++)
        if (graph_one(files.paths[i], svg, stdlib_dir)) rc = 1;
    proj_files_free(&files);
    return rc;
}
