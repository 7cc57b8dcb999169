/*
** lsp.h — `flowc lsp`: a Language Server Protocol server on stdin/stdout.
**
** Diagnostics on open and (debounced) on change, for the document and the
** files it imports; completion, hover, definition, references, document
** symbols, rename and formatting. Every answer comes from the front end
** `flowc check` runs (lsp_analysis.h); docs/lsp.md has the design.
*/
#ifndef FLOWC_LSP_H
#define FLOWC_LSP_H

#include "paths.h"

/* Run the server until `exit` (or end of input). argv: the options after
** `lsp`. Returns the process exit status (0 after shutdown and exit). */
int lsp_main(int argc, char **argv, const flowc_paths *paths);

#endif
