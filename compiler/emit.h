/*
** emit.h — C code generation from a checked program.
**
** The output is C that includes flowrt.h and calls the runtime (see
** runtime/flowrt.h for the execution model). Function steps' C bodies are
** embedded with #line directives pointing at their .flow lines.
*/
#ifndef FLOWC_EMIT_H
#define FLOWC_EMIT_H

#include "ast.h"

/* Append the C translation of prog (checked without errors) to out.
** version is the workflow version string to embed. */
void emit_program(ast_program *prog, strbuf *out, const char *version);

/* One workflow of a project, as its own C translation unit: the same as
** emit_program but the descriptor is the global `const rt_workflow
** SYMBOL` and there is no main (every other name is static, so units of
** several workflows link together without clashing). */
void emit_program_unit(ast_program *prog, strbuf *out, const char *version, const char *symbol);
/* The project's own unit: its table of the n workflows' descriptors
** (symbols, defined by emit_program_unit) and main, which calls
** rt_project_main. */
void emit_project(strbuf *out, const char *name, const char *const *symbols, int n);

/* A version hash of every source file of prog: 16 hex digits. */
void emit_version(ast_program *prog, char out[17]);

/* For emit_test.c: a checked expression as C over the runtime (an rt_ctx
** named c in scope), and a C string literal. Parts of a large expression
** become functions XT<n> (n from *nhoisted), defined in `hoisted`, which
** must be output before the function that holds the expression. */
void emit_c_expr(ast_program *prog, strbuf *b, strbuf *hoisted, int *nhoisted, const ast_expr *e);
void emit_c_string(strbuf *b, const char *s);
/* A literal expression (no references) as JSON text, appended to b. */
void emit_literal_json(strbuf *b, const ast_expr *e);
/* For the C checks of function bodies (cbody.c): the C function FU_<step>
** holding a checked function step's body, as `flowc build` compiles it
** (with #line directives at the .flow lines), appended to b. */
void emit_c_function(const ast_program *prog, strbuf *b, const ast_step *s);

#endif
