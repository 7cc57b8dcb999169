/*
** tcc.h — compiling generated C with libtcc: to an executable or in memory.
** The only module that includes libtcc.h. libtcc 0.9.27 keeps global state:
** one compilation at a time per process.
*/
#ifndef FLOWC_TCC_H
#define FLOWC_TCC_H

#include "diag.h"
#include "paths.h"

#include <stdbool.h>

/* Compile `c_source` and link it with the runtime into the executable
** `out_path`. C errors in function steps are reported through d at their
** .flow positions. Returns true on success. */
bool cc_build_exe(diag_ctx *d, const flowc_paths *paths, const char *c_source, const char *out_path);

/* The same over n translation units (a project: one per workflow, and the
** project's table with main), linked into one executable. */
bool cc_build_exe_units(diag_ctx *d, const flowc_paths *paths, const char *const *sources, int n,
                        const char *out_path);

/* Compile `c_source` in memory and call its main(argc, argv). Returns the
** exit status, or -1 when compilation failed (reported through d). */
int cc_run_memory(diag_ctx *d, const flowc_paths *paths, const char *c_source, int argc, char **argv);

/* Compile `c_source` (with emit_tests' output) in memory and call its
** flow_test_main(filter, flags, junit, counts); flags as rt_test_main's
** (1 JSON, 2 verbose). Returns its status (0 all passed, 1 a test failed,
** 2 could not run), or -1 when compilation failed (reported through d). */
int cc_run_tests(diag_ctx *d, const flowc_paths *paths, const char *c_source, const char *filter, int flags,
                 FILE *junit, int counts[2]);

/* Compile `c_source` without linking it: its syntax and types only (what
** the editor checks in function bodies). Each message of tcc goes to on_msg
** as tcc words it ("path:LINE: error: text"). Returns the number of errors. */
int cc_compile_only(const flowc_paths *paths, const char *c_source, void (*on_msg)(void *ud, const char *msg),
                    void *ud);

/* Split a tcc message "path:LINE: error: text" (or warning): path into the
** buffer, the line, whether it is a warning, and *text after "error: ".
** False for a message without a position. */
bool cc_parse_message(const char *msg, char *path, size_t size, int *line, bool *warning, const char **text);

/* Where a tcc message at `line` of a registered file points: the line, or
** the identifier the message quotes when the line holds it. */
src_loc cc_message_loc(diag_ctx *d, int file, int line, const char *text);

#endif
