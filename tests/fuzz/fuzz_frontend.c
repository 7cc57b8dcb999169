/*
** fuzz_frontend.c — libFuzzer harness of the whole front end, in process:
** the input is a .flow file; it is parsed, checked and, when clean, emitted
** as C (with its tests, as `flowc test` does), drawn as a graph and dumped;
** a sample of the clean ones (a fixed quarter, chosen by the input's hash)
** is compiled by libtcc. Built with ASan/UBSan and LeakSanitizer.
**
** Findings, besides crashes, sanitizer reports and leaks:
**   - errors counted but nothing printed (a diagnostic without text);
**   - a program `flowc check` accepts whose C tcc refuses (everything the
**     checker accepts must build). The C of function steps is the user's
**     and is not checked by flowc, so before tcc sees the program each
**     {% %} body is replaced by `return NULL;`: what is compiled is all
**     flowc's own.
** Relative imports resolve against tests/fuzz/ (where no .flow file is),
** stdlib imports against the repository's stdlib/.
*/
#include <libtcc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "check.h"
#include "diag.h"
#include "emit.h"
#include "emit_test.h"
#include "graph.h"
#include "imports.h"

#ifndef FUZZ_ROOT
#error "FUZZ_ROOT: the repository's absolute path (set by the Makefile)"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_MAX_INPUT = 1 << 16, FUZZ_TCC_ONE_IN = 4 };

typedef struct tcc_errors {
    int n;
    char first[512];
} tcc_errors;

static void on_tcc_error(void *opaque, const char *msg)
{
    tcc_errors *e = opaque;
    if (strstr(msg, ": warning: ")) return;
    if (!e->n++) snprintf(e->first, sizeof e->first, "%s", msg);
}

/* Compiles C with libtcc (no link: the runtime is not needed to find C
** that does not compile); aborts when tcc refuses it. */
static void compile_c(const char *c_source)
{
    TCCState *s = tcc_new();
    if (!s) abort();
    tcc_errors e = { 0 };
    tcc_set_error_func(s, &e, on_tcc_error);
    tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
    tcc_add_include_path(s, FUZZ_INCLUDE);
    int rc = tcc_compile_string(s, c_source);
    tcc_delete(s);
    if (rc < 0 || e.n) {
        fprintf(stderr, "flowc check accepted a program whose C tcc refuses: %s\n", e.first);
        abort();
    }
}

/* Function steps' C is the user's: a benign body in its place. */
static void plain_c_block(ast_block *blk)
{
    for (int i = 0; blk && i < blk->nstmts; i++) {
        ast_stmt *st = blk->stmts[i];
        if (st->kind == ST_STEP && st->step->kind == STEP_FUNCTION) st->step->c_code = "return NULL;";
        if (st->kind == ST_STEP && st->step->kind == STEP_FANOUT) plain_c_block(st->step->body);
        for (int k = 0; st->kind == ST_IF && k < st->nbranches; k++) plain_c_block(st->thens[k]);
        if (st->kind == ST_IF) plain_c_block(st->els);
    }
}

static uint32_t hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;

    char *msgs = NULL;
    size_t msgs_len = 0;
    FILE *out = open_memstream(&msgs, &msgs_len);
    diag_ctx d;
    diag_init(&d);
    d.out = out;
    ast_program prog;
    ast_program_init(&prog, &d);

    bool loaded = imp_load_program_text(&prog, FUZZ_ROOT "/tests/fuzz/input.flow", text, size, FUZZ_ROOT "/stdlib");
    if (loaded && prog.main) {
        ast_dump_file(prog.main, out);
        bool clean = d.errors == 0;
        clean = chk_program(&prog) && clean;
        if (clean) {
            strbuf c = { 0 }, dot = { 0 };
            plain_c_block(prog.main->body);
            char version[17];
            emit_version(&prog, version);
            emit_program(&prog, &c, version);
            ast_test **tests;
            if (emit_test_list(&prog, &tests) > 0) emit_tests(&prog, &c);
            graph_write_dot(&prog, &dot);
            if (hash(data, size) % FUZZ_TCC_ONE_IN == 0) compile_c(c.data);
            strbuf_free(&c);
            strbuf_free(&dot);
        }
    }
    int errors = d.errors;
    ast_program_free(&prog);
    diag_free(&d);
    fclose(out);
    if (errors && msgs_len == 0) {
        fprintf(stderr, "%d errors counted and none printed\n", errors);
        abort();
    }
    free(msgs);
    return 0;
}
