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

/* Where a point of a file is, as the checker sees it. */
typedef enum chk_place {
    CHK_PLACE_NONE,         /* in nothing the checker walks (probe not found) */
    CHK_PLACE_BODY,         /* workflow statements */
    CHK_PLACE_ACTION,       /* an action's request: its parameters are names */
    CHK_PLACE_CONST,        /* setting and parameter defaults: literals only */
    CHK_PLACE_TEST,         /* a test's expects: every step, output, status */
    CHK_PLACE_TEST_DATA,    /* a test's event, settings, mocks: literals */
} chk_place;

/* The checker's scope at one point of a file: what a reference written
** there may name, with the type it gets there. The editor (flowc lsp)
** completes from it, so completion follows the checker's own rules
** (definite run, narrowing, the optional outputs of `on failure continue`
** and of steps that may not have run). Arrays and types live in prog's
** arena. */
typedef struct chk_probe {
    int file, offset;           /* in: the point (file index in prog->diag, byte offset) */
    chk_place place;            /* out: CHK_PLACE_NONE when the point was not reached */
    ast_step **steps;           /* steps a reference may name here, in definition order, */
    ast_type **step_types;      /*   and the type such a reference has */
    int nsteps;
    ast_step **fanouts;         /* enclosing fanouts (their var and var_type), innermost last */
    int nfanouts;
    ast_action *action;         /* CHK_PLACE_ACTION: the action */
    ast_type *response;         /* in `fail when` or a paginate cursor: the type of `body`
                                   (status and headers are names there too); else NULL */
    ast_type *trigger, *settings, *secrets, *run;   /* the types of those roots */
    ast_type *output;           /* CHK_PLACE_TEST: the run's output type */
} chk_probe;

/* chk_program, also filling *probe (see chk_probe) when not NULL. */
bool chk_program_probe(ast_program *prog, chk_probe *probe);

/* The built-in functions (runtime/flow_builtins.def), indexed by ast_fn - 1:
** name, signature and what it does for the editor, the count of arguments. */
typedef struct chk_builtin {
    const char *name;
    const char *signature;      /* "len(x) -> int" */
    const char *doc;
    int min_args, max_args;
} chk_builtin;
extern const chk_builtin chk_builtin_fns[];
extern const int chk_nbuiltin_fns;

/* Levenshtein-based suggestion: the candidate closest to name, or NULL when
** none is close enough. Borrowed from candidates. */
const char *chk_did_you_mean(const char *name, const char *const *candidates, int n);

/* True when a value of type `from` may be used where `to` is needed. */
bool chk_assignable(const ast_type *from, const ast_type *to);

#endif
