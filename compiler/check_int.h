/*
** check_int.h — what the two halves of the checker share: check.c
** (statements, steps, declarations, tests) and check_expr.c (expressions,
** types, names and narrowing). Not included outside them.
*/
#ifndef FLOWC_CHECK_INT_H
#define FLOWC_CHECK_INT_H

#include "check.h"

/* ---- a string-keyed map (open addressing, arena-backed) ---------------- */

typedef struct chk_map {
    const char **keys;
    void **vals;
    int cap, len;
} chk_map;

/* ---- checker state ----------------------------------------------------- */

/* Where an expression is being checked decides which names exist. */
typedef enum chk_where {
    WHERE_BODY,         /* workflow statements */
    WHERE_ACTION,       /* an action's request: its parameters */
    WHERE_CONST,        /* setting defaults: literals only */
    WHERE_TEST,         /* a test block's expect */
    WHERE_TEST_DATA,    /* a test block's event/settings/mocks: literals */
} chk_where;

/* Per-step facts during the walk. */
typedef struct chk_stepinfo {
    bool defined;       /* the walk has passed its definition */
    bool visible;       /* it has definitely run at the current point */
    bool in_fanout;     /* defined inside a fanout body */
    bool conditional;   /* defined inside an if branch or fanout */
    src_loc hidden_at;  /* the fanout that hides it, once left */
    const char *hidden_by;  /* "fanout" */
    bool maybe;         /* in scope after the if that holds it: it may not have run */
    bool other_branch;  /* out of scope while another branch of its if is checked */
    const char *branch; /* "in the 'else' branch of the if at 5:1": the innermost
                           branch holding it, once left */
} chk_stepinfo;

/* Collects the types of `return` statements of one context (the run or a
** fanout item). */
typedef struct chk_returns {
    ast_type *type;     /* unified so far, NULL before the first */
    src_loc first;      /* the first return */
    bool any;
} chk_returns;

typedef struct chk_state {
    bool opt_chain;             /* the next chk_expr is the left side of '??' */
    bool chain_ok;              /* this field/index may read through null */
    ast_program *prog;
    diag_ctx *d;
    arena *a;
    ast_file *main;

    chk_map steps;              /* name -> ast_step (the main file's) */
    chk_stepinfo *info;         /* by step index */
    ptrvec scope;               /* visible steps in definition order */
    ptrvec fanouts;             /* enclosing fanouts, innermost last */
    ptrvec narrowed;            /* const char * paths known non-null */

    chk_map integrations;       /* name -> ast_integration */
    chk_map actions;            /* "integ.op" -> ast_action */
    chk_map secrets;            /* name -> src_loc * of declaration */
    chk_map settings;           /* name -> ast_field */

    ast_type *trigger_type;     /* object or json */
    ast_type *settings_type;
    ast_type *secrets_type;
    ast_type *run_type;

    chk_where where;
    ast_action *action;         /* WHERE_ACTION */
    ast_type *response_body;    /* inside fail when / cursor: body type, else NULL */
    bool open_body;             /* fail when: the body is not validated yet, so a field
                                   `returns` does not declare reads as json */
    chk_returns *returns;       /* current return context */
    int fanout_depth;
    const ast_expr *shallow_ref;/* the name about to be checked as len(NAME),
                                   NAME.ok or NAME.error: it reads no items */
    const ast_expr *body_ref;   /* the name about to be checked as NAME.body,
                                   NAME.status, NAME.ok or NAME.error: it reads
                                   no headers (len(NAME) counts them) */

    chk_probe *probe;           /* the editor's point, or NULL */
    bool probe_done;            /* the walk has gone past the point */
    ast_top_kind probe_top;     /* the top-level item holding the point (TOP_STMT between items) */
    ast_top *probe_item;        /*   and that item, or NULL */
} chk_state;

#define ERR(loc, ...) diag_error(st->d, (loc), __VA_ARGS__)

/* ---- check_expr.c -------------------------------------------------------- */

void chk_map_put(arena *a, chk_map *m, const char *key, void *val);
void *chk_map_get(const chk_map *m, const char *key);
ast_type *ty_list(chk_state *st, ast_type *elem);
ast_type *ty_opt(chk_state *st, ast_type *t);
ast_type *ty_strip(ast_type *t);
ast_field *ty_mkfield(chk_state *st, const char *name, ast_type *t);
ast_type *ty_object(chk_state *st, int n, ast_field **fields);
ast_field *ty_field(const ast_type *t, const char *name);
bool ty_dyn(const ast_type *t);
ast_type *ty_unify(chk_state *st, ast_type *a, ast_type *b);
const char *tystr(chk_state *st, const ast_type *t);
const char *chk_hint(chk_state *st, const char *name, const char *const *cands, int n);
const char *chk_pos(chk_state *st, src_loc loc);
const char *chk_path(chk_state *st, const ast_expr *e);
void chk_collect_narrowing(chk_state *st, const ast_expr *e, bool want_true, ptrvec *out);
int chk_narrow_push(chk_state *st, const ptrvec *paths);
ast_type *chk_expr(chk_state *st, ast_expr *e);
void chk_probe_snapshot(chk_state *st);
bool chk_probe_in_block(chk_state *st, const ast_block *b);
void chk_expect_type(chk_state *st, ast_expr *e, ast_type *want, const char *what);
void chk_condition(chk_state *st, ast_expr *e, const char *what);
/* What to do about a value that may be null: when the root of e is a step
** that may not have run here or may have failed (or a let that may not be
** set), why, and the check that narrows it; else `fallback`. */
const char *chk_null_advice(chk_state *st, const ast_expr *e, const char *fallback);

#endif
