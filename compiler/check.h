/*
** check.h — the type checker: scoping, definite-run visibility, field
** access, operators, optionals and narrowing, actions and tests.
**
** chk_program fills the checker: fields of the AST (expression types,
** resolved references, step indexes, action links) and reports every error
** in the program to prog->diag; it never stops at the first one.
*/
#ifndef FLOWC_CHECK_H
#define FLOWC_CHECK_H

#include "ast.h"

/* Check a loaded program. Returns true when no error was reported. */
bool chk_program(ast_program *prog);

/* Levenshtein-based suggestion: the candidate closest to name, or NULL when
** none is close enough. Borrowed from candidates. */
const char *chk_did_you_mean(const char *name, const char *const *candidates, int n);

/* True when a value of type `from` may be used where `to` is needed. */
bool chk_assignable(const ast_type *from, const ast_type *to);

#endif
