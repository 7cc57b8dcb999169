/*
** project.h — an integration project: the workflows of several .flow files
** (or of a directory) checked together and built into one binary with one
** state (docs/project.md).
**
** A project is loaded as one ast_program per workflow (each with its own
** imports, checked on its own), all reporting through one diag_ctx; then
** the project's own rules are checked across them: workflow names are
** unique, and an integration name means one declaration (the same stdlib
** import in two workflows is one integration; two different declarations
** of a name are an error naming both places).
*/
#ifndef FLOWC_PROJECT_H
#define FLOWC_PROJECT_H

#include "ast.h"
#include "paths.h"

/* What a .flow file is to a project. */
typedef enum proj_kind {
    PROJ_WORKFLOW,          /* has a `workflow` line */
    PROJ_TESTS,             /* `tests for "./x.flow"` */
    PROJ_LIBRARY,           /* integrations and actions only (or nothing) */
} proj_kind;

/* The files named on a command line, directories expanded: every `.flow`
** directly in a directory, sorted by name, of the kinds `want` (a mask of
** 1 << proj_kind); files named themselves are kept whatever they are.
** Strings are malloc'd (proj_files_free). */
typedef struct proj_files {
    char **paths;
    int n;
    int ndirs;              /* directories among the arguments */
} proj_files;

/* False (after printing why, as "flowc CMD: ...") when an argument cannot
** be read. */
bool proj_expand(const char *cmd, char **args, int nargs, unsigned want, proj_files *out);
void proj_files_free(proj_files *f);
/* The kind of a file, from a quiet parse (its errors are reported when it
** is loaded for real). */
proj_kind proj_classify(const char *path);

/* Loaded workflows: progs[i] is files[i]'s program, NULL when it could not
** be loaded or is not a workflow (reported). */
typedef struct proj {
    diag_ctx *d;            /* borrowed */
    ast_program **progs;
    int n;
} proj;

/* Loads and checks each file as a workflow (imports included), then the
** project's rules across them. Returns whether everything is clean. */
bool proj_load(proj *p, diag_ctx *d, const proj_files *files, const char *stdlib_dir);
void proj_free(proj *p);

/* The project's cross-file rules alone, over checked programs (n >= 1):
** unique workflow names, one declaration per integration name. Reports
** through the programs' diag_ctx; returns whether they hold. */
bool proj_check_rules(ast_program **progs, int n);

/* `flowc build FILES|DIR -o OUT`: every workflow into one executable.
** name: the project's (state ./NAME.state). emit_c: also write the C ("-"
** stdout; the units one after another). Returns the exit status. */
int proj_build(const flowc_paths *paths, const proj_files *files, const char *name, const char *out,
               const char *emit_c);

#endif
