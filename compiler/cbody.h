/*
** cbody.h — the C bodies of function steps checked with tcc (syntax and
** types, no link), reported at their .flow lines as `flowc build` reports
** them.
**
** Used by `flowc check` (a cache of one program) and by the editor (one
** cache for the session). A body is compiled as build compiles it
** (emit_c_function under <flowrt.h>); tcc's messages are kept in a cache
** keyed by what decides them (the body's text, its first column, its
** parameters' C types; identical bodies of a program compile once), with
** lines relative to the body, so that an edit elsewhere in the file, or
** lines inserted above a body, compile nothing again. Bodies not in the
** cache are compiled together in one translation unit; when that unit has
** an error, each of them is compiled alone, so that one body's syntax error
** never shows up as noise in another's.
**
** libtcc keeps global state: one cb_check_program at a time per process.
*/
#ifndef FLOWC_CBODY_H
#define FLOWC_CBODY_H

#include "ast.h"
#include "paths.h"

typedef struct cb_cache cb_cache;

/* A new, empty cache; freed with cb_cache_free. */
cb_cache *cb_cache_new(void);
void cb_cache_free(cb_cache *c);

/* Check the C body of every function step of a checked program whose
** parameters have no type error, reporting tcc's errors and warnings
** through prog->diag at the .flow line. Returns the number of errors.
** The cache may be NULL (nothing kept). */
int cb_check_program(cb_cache *c, ast_program *prog, const flowc_paths *paths);

/* Counters since the cache was made: bodies found in the cache, bodies
** compiled, and tcc runs (for the editor's figures and tests). */
void cb_cache_stats(const cb_cache *c, long *hits, long *compiled, long *runs);

#endif
