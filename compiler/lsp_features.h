/*
** lsp_features.h — the answers of `flowc lsp` to an analysed document:
** completion (lsp_complete.c) and navigation (lsp_nav.c: hover,
** definition, references, symbols, rename). Each returns the LSP result as
** a new jansson reference (json null when there is nothing to say); none
** fails on half-written code.
*/
#ifndef FLOWC_LSP_FEATURES_H
#define FLOWC_LSP_FEATURES_H

#include <jansson.h>

#include "lsp_analysis.h"

/* CompletionList at byte offset `offset` of the document; an analysis made
** with probe_offset == offset. */
json_t *lsp_complete(lsp_ws *ws, lsp_analysis *an, int offset);

json_t *lsp_hover(lsp_ws *ws, lsp_analysis *an, int offset);
json_t *lsp_definition(lsp_ws *ws, lsp_analysis *an, int offset);
json_t *lsp_references(lsp_ws *ws, lsp_analysis *an, int offset, bool include_declaration);
json_t *lsp_symbols(lsp_ws *ws, lsp_analysis *an);

/* prepareRename: the range of the step name at offset, or json null. */
json_t *lsp_prepare_rename(lsp_ws *ws, lsp_analysis *an, int offset);
/* A WorkspaceEdit renaming the step at offset to new_name; NULL with a
** message in err when refused (not a step, an invalid name, a clash). */
json_t *lsp_rename(lsp_ws *ws, lsp_analysis *an, int offset, const char *new_name, char *err, size_t errsize);

/* The URI to give for a file of the workspace: an open document's own URI,
** else file:// of its path. New string (caller frees). */
char *lsp_file_uri(lsp_ws *ws, int file);

#endif
