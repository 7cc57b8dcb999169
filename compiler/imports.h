/*
** imports.h — loading a program: the main file, its imports, tests-for files.
**
** "name" resolves to <stdlib dir>/name.flow; "./x.flow" (or "../x.flow")
** relative to the importing file. Each file is parsed once; an import cycle
** or a missing file is an error at the import's location.
*/
#ifndef FLOWC_IMPORTS_H
#define FLOWC_IMPORTS_H

#include "ast.h"

/* Read and parse `path` and everything it imports into prog (initialised by
** the caller). When `path` is a `tests for "./x.flow"` file, x.flow becomes
** prog->main and the tests file prog->tests_file. Returns false when a file
** could not be read at all (reported); syntax errors leave it true and are
** counted in prog->diag. */
bool imp_load_program(ast_program *prog, const char *path, const char *stdlib_dir);
/* The same with the main file's bytes given: text (malloc'd, len bytes and
** a NUL after them) is taken over; `path` names it in diagnostics and
** anchors its relative imports. For tools that hold the text in memory
** (the fuzz harness; an editor's unsaved buffer). */
bool imp_load_program_text(ast_program *prog, const char *path, char *text, size_t len, const char *stdlib_dir);

#endif
