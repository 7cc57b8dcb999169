/*
** emit_test.h — C code generation for test blocks (`flowc test`).
**
** Appended after emit_program's output: every test of the program (the
** main file's, or the `tests for` file's when one was given) as static
** rt_test_case data (runtime/rt_test.h), each expect as a C function, and
** the entry point
**   int flow_test_main(const char *filter, int flags, FILE *junit, int *counts)
** that the libtcc driver calls (tcc.c: cc_run_tests).
*/
#ifndef FLOWC_EMIT_TEST_H
#define FLOWC_EMIT_TEST_H

#include "ast.h"

/* The tests `flowc test` runs for prog: the tests file's when there is
** one, else the main file's. Returns how many; *out borrowed from prog. */
int emit_test_list(ast_program *prog, ast_test ***out);

/* Appends the tests' data, expects and entry point to out. */
void emit_tests(ast_program *prog, strbuf *out);

#endif
