/*
** lsp_index.h — walking a parsed (and checked) file for the editor: every
** expression, step and declaration in source order, and what sits at a
** byte offset. Shared by completion (lsp_complete.c) and navigation
** (lsp_nav.c).
*/
#ifndef FLOWC_LSP_INDEX_H
#define FLOWC_LSP_INDEX_H

#include "ast.h"

/* Callbacks of a walk; any may be NULL. Expressions are visited before
** their operands; a step before its expressions (and a fanout's body). */
typedef struct lsp_walk {
    void (*expr)(struct lsp_walk *w, ast_expr *e);
    void (*step)(struct lsp_walk *w, ast_step *s, ast_stmt *st);    /* st NULL: an action's body */
    void (*block)(struct lsp_walk *w, ast_block *b);
    void *ud;
} lsp_walk;

void lsp_walk_file(lsp_walk *w, ast_file *f);
void lsp_walk_expr(lsp_walk *w, ast_expr *e);
void lsp_walk_block(lsp_walk *w, ast_block *b);

/* What is at an offset of a file. */
typedef enum lsp_node_kind {
    NODE_NONE,
    NODE_EXPR,          /* expr: the innermost expression holding the offset */
    NODE_STEP_NAME,     /* step: the name in `step NAME = ...` */
    NODE_FANOUT_VAR,    /* step: the variable of a fanout */
    NODE_ACTION_CALL,   /* step: `integ.op` of an action step */
    NODE_ACTION_DECL,   /* action: `action integ.op` */
    NODE_ARG_NAME,      /* step + arg: an argument name of an action call */
    NODE_IMPORT,        /* import: the path */
    NODE_SETTING,       /* field: a setting's declaration */
    NODE_SECRET_DECL,   /* arg: a declared secret */
    NODE_TRIGGER_FIELD, /* field: a field of the trigger's schema */
} lsp_node_kind;

typedef struct lsp_node {
    lsp_node_kind kind;
    src_loc loc;        /* the span found */
    ast_expr *expr;
    ast_step *step;
    ast_arg *arg;
    ast_action *action;
    ast_import *import;
    ast_field *field;
} lsp_node;

/* The most precise thing of file f at offset (start <= offset <= end). */
lsp_node lsp_node_at(ast_file *f, int offset);

/* The innermost block of f holding offset (f->body at the top level), and
** through *after the last statement of it ending at or before offset (or
** NULL). */
ast_block *lsp_block_at(ast_file *f, int offset, ast_stmt **after);

/* The `#` comment lines right above offset `start` of a file's text (an
** action's documentation), without the `# `; NULL when none. Allocated in a. */
const char *lsp_doc_comment(arena *a, const ast_file *f, const char *text, int len, int start);

#endif
