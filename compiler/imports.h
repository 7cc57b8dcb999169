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
/* The largest source file read (16 MiB): beyond, "file too large". */
#define IMP_MAX_SOURCE ((size_t)16 << 20)

bool imp_load_program(ast_program *prog, const char *path, const char *stdlib_dir);
/* The same with the main file's bytes given: text (malloc'd, len bytes and
** a NUL after them) is taken over; `path` names it in diagnostics and
** anchors its relative imports. For tools that hold the text in memory
** (the fuzz harness; an editor's unsaved buffer). */
bool imp_load_program_text(ast_program *prog, const char *path, char *text, size_t len, const char *stdlib_dir);

/* Where the files of a program come from, when not simply from disk
** (flowc lsp: open documents and a cache of parsed files kept between
** analyses). load returns the parsed file for `path`, whose ast_file must
** outlive prog; or NULL after reporting why it could not be read, at
** *from_loc (the import) when not NULL. imp_parse_disk is the default. */
typedef struct imp_source {
    ast_file *(*load)(void *ud, ast_program *prog, const char *path, const src_loc *from_loc);
    void *ud;
} imp_source;

bool imp_load_program_from(ast_program *prog, const char *path, const char *stdlib_dir,
                           const imp_source *src);

/* Read `path` from disk, register it in prog->diag and parse it into prog's
** arena; NULL (reported) when it cannot be read. */
ast_file *imp_parse_disk(ast_program *prog, const char *path, const src_loc *from_loc);
/* Register text (len bytes and a NUL after them; taken over) as `path` in
** prog->diag and parse it into prog's arena. */
ast_file *imp_parse_text(ast_program *prog, const char *path, char *text, size_t len);

#endif
