/*
** emit_test.c — test blocks as C: each test's event, settings, secrets,
** env and mocks become static data (JSON text), each expect a function
** over the finished run, and flow_test_main hands them to rt_test_main.
*/
#include "emit_test.h"
#include "emit.h"

#include <inttypes.h>
#include <string.h>

int emit_test_list(ast_program *prog, ast_test ***out)
{
    ast_file *f = prog->tests_file ? prog->tests_file : prog->main;
    *out = f ? f->tests : NULL;
    return f ? f->ntests : 0;
}

/* The JSON text of a literal as a C string literal, or NULL. */
static void lit_cstr(strbuf *b, const ast_expr *e)
{
    if (!e) {
        strbuf_puts(b, "NULL");
        return;
    }
    strbuf tmp = { 0 };
    emit_literal_json(&tmp, e);
    emit_c_string(b, tmp.data);
    strbuf_free(&tmp);
}

/* A name = literal line's value as the string a variable holds. */
static void lit_text(strbuf *b, const ast_expr *e)
{
    if (e->kind == EX_STRING) {
        emit_c_string(b, e->sval);
        return;
    }
    strbuf tmp = { 0 };
    if (e->kind == EX_INTERP) {
        for (int i = 0; i < e->nitems; i++)
            if (e->items[i]->kind == EX_STRING) strbuf_puts(&tmp, e->items[i]->sval);
        strbuf_puts(&tmp, "");
    } else {
        emit_literal_json(&tmp, e);
    }
    emit_c_string(b, tmp.data);
    strbuf_free(&tmp);
}

static bool reads_status(const ast_expr *e)
{
    if (!e) return false;
    if (e->kind == EX_NAME) return e->ref == REF_OUTPUT && strcmp(e->name, "status") == 0;
    if (reads_status(e->a) || reads_status(e->b)) return true;
    for (int i = 0; i < e->nitems; i++)
        if (reads_status(e->items[i])) return true;
    return false;
}

/* Adds the steps whose .ok or .error e reads to out (once each). */
static void collect_ok_reads(const ast_expr *e, ptrvec *out, arena *a)
{
    if (!e) return;
    if (e->kind == EX_FIELD && e->a && e->a->kind == EX_NAME && e->a->ref == REF_STEP && e->a->ref_step &&
        (strcmp(e->name, "ok") == 0 || strcmp(e->name, "error") == 0)) {
        for (int i = 0; i < out->len; i++)
            if (out->items[i] == e->a->ref_step) return;
        ptrvec_push(a, out, e->a->ref_step);
        return;
    }
    collect_ok_reads(e->a, out, a);
    collect_ok_reads(e->b, out, a);
    for (int i = 0; i < e->nitems; i++) collect_ok_reads(e->items[i], out, a);
}

static bool is_comparison(ast_op op)
{
    return op == OP_EQ || op == OP_NE || op == OP_LT || op == OP_LE || op == OP_GT || op == OP_GE;
}

/* The expect function, after the functions its large expressions were
** split into; returns its number of operands. */
static int emit_expect_fn(ast_program *prog, strbuf *out, int *nhoisted, const char *name, const ast_expr *e)
{
    int line, col;
    diag_line_col(prog->diag, e->loc.file, e->loc.start, &line, &col);
    strbuf fn = { 0 }, *b = &fn;
    strbuf_printf(b, "static bool %s(rt_ctx *c, json_t **v)\n{\n", name);
    int n = 1;
    if (e->kind == EX_BINARY && is_comparison(e->op)) {
        n = 2;
        strbuf_puts(b, "    v[0] = ");
        emit_c_expr(prog, b, out, nhoisted, e->a);
        strbuf_puts(b, ";\n    v[1] = ");
        emit_c_expr(prog, b, out, nhoisted, e->b);
        strbuf_printf(b, ";\n    return rt_truthy(c, rt_binary(c, %d, v[0], v[1], %d), %d);\n", (int)e->op, line, line);
    } else if (e->kind == EX_BINARY && (e->op == OP_AND || e->op == OP_OR)) {
        n = 2;
        strbuf_puts(b, "    v[0] = ");
        emit_c_expr(prog, b, out, nhoisted, e->a);
        strbuf_printf(b, ";\n    if (%srt_truthy(c, v[0], %d)) return %s;\n", e->op == OP_AND ? "!" : "", line,
                      e->op == OP_AND ? "false" : "true");
        strbuf_puts(b, "    v[1] = ");
        emit_c_expr(prog, b, out, nhoisted, e->b);
        strbuf_printf(b, ";\n    return rt_truthy(c, v[1], %d);\n", line);
    } else if (e->kind == EX_UNARY && e->op == OP_NOT) {
        strbuf_puts(b, "    v[0] = ");
        emit_c_expr(prog, b, out, nhoisted, e->a);
        strbuf_printf(b, ";\n    return !rt_truthy(c, v[0], %d);\n", line);
    } else {
        strbuf_puts(b, "    v[0] = ");
        emit_c_expr(prog, b, out, nhoisted, e);
        strbuf_printf(b, ";\n    return rt_truthy(c, v[0], %d);\n", line);
    }
    strbuf_puts(b, "}\n\n");
    strbuf_append(out, fn.data, fn.len);
    strbuf_free(&fn);
    return n;
}

static void emit_one_test(ast_program *prog, strbuf *b, int *nhoisted, const ast_test *t, int k)
{
    /* env and secrets: NAME, value pairs */
    strbuf_printf(b, "static const char *const T%d_ENV[] = { ", k);
    for (int i = 0; i < t->nenv; i++) {
        emit_c_string(b, t->env[i]->name);
        strbuf_puts(b, ", ");
        lit_text(b, t->env[i]->value);
        strbuf_puts(b, ", ");
    }
    strbuf_printf(b, "NULL };\nstatic const char *const T%d_SECRETS[] = { ", k);
    for (int i = 0; i < t->nsecrets; i++) {
        emit_c_string(b, t->secrets[i]->name);
        strbuf_puts(b, ", ");
        lit_text(b, t->secrets[i]->value);
        strbuf_puts(b, ", ");
    }
    strbuf_puts(b, "NULL };\n");
    ptrvec reads = { 0 };
    for (int i = 0; i < t->nexpects; i++) collect_ok_reads(t->expects[i], &reads, &prog->arena);
    strbuf_printf(b, "static const char *const T%d_READS_OK[] = { ", k);
    for (int i = 0; i < reads.len; i++) {
        emit_c_string(b, ((ast_step *)reads.items[i])->name);
        strbuf_puts(b, ", ");
    }
    strbuf_puts(b, "NULL };\n");

    /* mocks */
    for (int i = 0; i < t->nmocks; i++) {
        const ast_mock *m = t->mocks[i];
        strbuf_printf(b, "static const rt_test_response T%d_M%d[] = {\n", k, i);
        for (int j = 0; j < m->nresponses; j++) {
            const ast_mock_response *r = m->responses[j];
            bool text = r->body && (r->body->kind == EX_STRING || r->body->kind == EX_INTERP);
            strbuf_printf(b, "    { %d, ", r->status);
            lit_cstr(b, r->body);
            strbuf_printf(b, ", %s, ", text ? "true" : "false");
            lit_cstr(b, r->headers);
            strbuf_puts(b, " },\n");
        }
        if (!m->nresponses) strbuf_puts(b, "    { 0, NULL, false, NULL },\n");
        strbuf_puts(b, "};\n");
    }
    if (t->nmocks) {
        strbuf_printf(b, "static const rt_test_mock T%d_MOCKS[] = {\n", k);
        for (int i = 0; i < t->nmocks; i++) {
            const ast_mock *m = t->mocks[i];
            int line, col;
            diag_line_col(prog->diag, m->loc.file, m->loc.start, &line, &col);
            strbuf_puts(b, "    { ");
            emit_c_string(b, m->method);
            if (m->integ) strbuf_printf(b, ", &I_%s, ", m->integ);
            else strbuf_puts(b, ", NULL, ");
            emit_c_string(b, m->url && m->url->kind == EX_STRING ? m->url->sval : "");
            strbuf_printf(b, ", T%d_M%d, %d, %d, %" PRId64 "L, %d },\n", k, i, m->nresponses, m->times, m->delay_ms,
                          line);
        }
        strbuf_puts(b, "};\n");
    }

    /* expects */
    int nops[t->nexpects + 1];
    for (int i = 0; i < t->nexpects; i++) {
        char name[64];
        snprintf(name, sizeof name, "T%d_E%d", k, i);
        nops[i] = emit_expect_fn(prog, b, nhoisted, name, t->expects[i]);
    }
    if (t->nexpects) {
        strbuf_printf(b, "static const rt_test_expect T%d_EXPECTS[] = {\n", k);
        for (int i = 0; i < t->nexpects; i++) {
            const ast_expr *e = t->expects[i];
            const diag_file *f = prog->diag->files[e->loc.file];
            int line, col;
            diag_line_col(prog->diag, e->loc.file, e->loc.start, &line, &col);
            int end = e->loc.end > e->loc.start ? e->loc.end : e->loc.start;
            char *src = arena_strndup(&prog->arena, f->text + e->loc.start, (size_t)(end - e->loc.start));
            strbuf_printf(b, "    { T%d_E%d, ", k, i);
            emit_c_string(b, src);
            strbuf_printf(b, ", %d, %d, %d },\n", line, col, nops[i]);
        }
        strbuf_puts(b, "};\n");
    }
}

void emit_tests(ast_program *prog, strbuf *out)
{
    ast_test **tests;
    int n = emit_test_list(prog, &tests);
    strbuf b = { 0 };
    strbuf_puts(&b, "\n/* ---- tests ---- */\n#include <rt_test.h>\n\n");
    int nhoisted = 0;
    for (int k = 0; k < n; k++) emit_one_test(prog, &b, &nhoisted, tests[k], k);
    strbuf_printf(&b, "static const rt_test_case FLOW_TESTS[%d] = {\n", n ? n : 1);
    for (int k = 0; k < n; k++) {
        const ast_test *t = tests[k];
        int line, col;
        diag_line_col(prog->diag, t->loc.file, t->loc.start, &line, &col);
        bool status = false;
        for (int i = 0; i < t->nexpects; i++) status |= reads_status(t->expects[i]);
        strbuf_puts(&b, "    { ");
        emit_c_string(&b, t->name);
        strbuf_puts(&b, ", ");
        emit_c_string(&b, prog->diag->files[t->loc.file]->path);
        strbuf_printf(&b, ", %d, ", line);
        lit_cstr(&b, t->event);
        strbuf_puts(&b, ", ");
        lit_cstr(&b, t->settings);
        strbuf_puts(&b, ", ");
        if (t->user) emit_c_string(&b, t->user);
        else strbuf_puts(&b, "NULL");
        strbuf_printf(&b, ", T%d_ENV, T%d_SECRETS, ", k, k);
        if (t->nmocks) strbuf_printf(&b, "T%d_MOCKS, %d, ", k, t->nmocks);
        else strbuf_puts(&b, "NULL, 0, ");
        if (t->nexpects) strbuf_printf(&b, "T%d_EXPECTS, %d, ", k, t->nexpects);
        else strbuf_puts(&b, "NULL, 0, ");
        strbuf_printf(&b, "%s, T%d_READS_OK },\n", status ? "true" : "false", k);
    }
    strbuf_puts(&b, "};\n\n");
    strbuf_printf(&b,
                  "int flow_test_main(const char *filter, int flags, FILE *junit, int *counts);\n"
                  "int flow_test_main(const char *filter, int flags, FILE *junit, int *counts)\n{\n"
                  "    return rt_test_main(&FLOW_WORKFLOW, FLOW_TESTS, %d, filter, flags, junit, counts);\n}\n",
                  n);
    strbuf_append(out, b.data, b.len);
    strbuf_free(&b);
}
