/*
** lsp_analysis.h — the editor's workspace and one analysis of a document:
** the front end of `flowc check` (imports.c, the parser, check.c) run
** in-process on the document's current text, plus the C bodies of its
** function steps compiled by tcc (cbody.c).
**
** The workspace outlives analyses: one diag_ctx where every file keeps its
** index (so that parsed files can be kept), the open documents (an import
** of an open document reads the editor's text, not the disk), a cache of
** imported files parsed from disk (kept while the file's size and mtime do
** not change), and the cache of C bodies. An analysis owns the AST of its
** document (its ast_program's arena); cached imported files are shared.
*/
#ifndef FLOWC_LSP_ANALYSIS_H
#define FLOWC_LSP_ANALYSIS_H

#include "ast.h"
#include "cbody.h"
#include "check.h"
#include "lsp_text.h"
#include "paths.h"

typedef struct lsp_ws lsp_ws;

/* An open document. */
typedef struct lsp_doc {
    char *uri;              /* owned, as the client sent it */
    char *path;             /* owned: the file path (the URI's, or the URI itself) */
    char *text;             /* owned, NUL-terminated; may hold NULs */
    int len;
    int version;
} lsp_doc;

/* One diagnostic of an analysis. */
typedef struct lsp_diag {
    int file;               /* file index in the workspace; -1: without position */
    int start, end;         /* byte offsets in that file */
    diag_severity sev;
    char *msg;              /* owned */
} lsp_diag;

typedef struct lsp_analysis {
    ast_program prog;       /* the document's AST and types (imports may be cached) */
    ast_file *file;         /* the document's own file, or NULL when it could not load */
    int file_id;
    char *text;             /* owned copy of the analysed text */
    int len;
    int version;
    lsp_lines lines;
    lsp_diag *diags;        /* owned */
    int ndiags;
    chk_probe probe;        /* when asked for (probe_offset >= 0) */
    bool probed;
    double ms;              /* wall time taken */
    double cpu_ms;          /* processor time taken */
} lsp_analysis;

lsp_ws *lsp_ws_new(const flowc_paths *paths);
void lsp_ws_free(lsp_ws *ws);
const flowc_paths *lsp_ws_paths(const lsp_ws *ws);

/* Open documents. lsp_ws_open takes ownership of uri, path and text and
** returns the document (replacing one with the same URI). */
lsp_doc *lsp_ws_open(lsp_ws *ws, char *uri, char *path, char *text, int len, int version);
lsp_doc *lsp_ws_doc(lsp_ws *ws, const char *uri);
void lsp_ws_close(lsp_ws *ws, const char *uri);
/* Replace [start, end) of the document's text with repl (n bytes). */
void lsp_doc_edit(lsp_doc *doc, int start, int end, const char *repl, int n);
/* Replace the whole text (takes ownership). */
void lsp_doc_set_text(lsp_doc *doc, char *text, int len);
int lsp_ws_ndocs(const lsp_ws *ws);
lsp_doc *lsp_ws_doc_at(lsp_ws *ws, int i);

/* Analyse a document's current text. probe_offset >= 0 also fills
** analysis->probe with the checker's scope at that byte offset. */
lsp_analysis *lsp_analyze(lsp_ws *ws, const lsp_doc *doc, int probe_offset);
void lsp_analysis_free(lsp_analysis *an);

/* A file of the workspace (file index as in src_loc.file): its path and
** text as last analysed. */
const char *lsp_ws_file_path(const lsp_ws *ws, int file);
const char *lsp_ws_file_text(const lsp_ws *ws, int file, int *len);

/* Counters: imported files parsed from disk, and taken from the cache. */
void lsp_ws_stats(const lsp_ws *ws, long *parsed, long *reused);
cb_cache *lsp_ws_cbodies(lsp_ws *ws);

#endif
