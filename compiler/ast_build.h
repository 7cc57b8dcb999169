/*
** ast_build.h — the parser's side of the AST: the parse context shared by
** the lexer and the grammar, and the constructors the grammar actions call
** (one call per action, SQLite parse.y style). Only grammar/ and ast.c
** include this header.
**
** Everything a constructor returns lives in ctx->prog->arena. Constructors
** never fail: on a semantic mistake they report it and return a node that
** keeps the tree well-formed (or NULL where documented; list pushes skip
** NULLs), so that parsing continues.
*/
#ifndef FLOWC_AST_BUILD_H
#define FLOWC_AST_BUILD_H

#include "ast.h"

#define AST_NEST_LIMIT 256      /* brackets, braces, blocks, prefix runs */
#define AST_EXPR_DEPTH_LIMIT 1000

/* One open bracket seen by the lexer: ( [ { or the {{ of an interpolation. */
typedef struct lex_frame {
    char open;              /* '(' '[' '{' or 'I' for {{ */
    const char *kind;       /* "fanout", "if", ... for keyword blocks, or NULL */
    src_loc loc;            /* of the keyword naming the block, else the bracket */
} lex_frame;

typedef struct parse_ctx {
    ast_program *prog;
    diag_ctx *diag;
    arena *a;
    int file_id;
    ast_file *file;

    /* top-level items, in order, copied into file at the end */
    ptrvec imports, settings, secrets, triggers, integrations, actions, stmts, tests;
    int ntop;               /* top-level items seen (tests for must be first) */
    ptrvec tops;            /* ast_top *, in order */
    ast_top *top_open;      /* the item being parsed: its span ends at ast_top_end */
    ptrvec tops_whole;      /* the items ast_top_end completed */
    ptrvec comments;        /* src_loc * of each comment */

    /* lexer state */
    const char *text;       /* the file's bytes */
    int len;
    int pos;                /* offset of the next byte to scan */
    strbuf sbuf;            /* decoded text of the string piece being scanned */
    int piece_start;        /* offset where that piece began */
    src_loc str_loc;        /* the opening quote of the current string */
    bool str_bad_utf8;      /* invalid UTF-8 reported for the current string */
    lex_frame frames[AST_NEST_LIMIT];
    int nframes;
    const char *block_kind; /* keyword that names the next '{' ("fanout"...) */
    src_loc block_kind_loc;
    int prefix_run;         /* consecutive `not` / `-` tokens */
    void *scanner;          /* the flex scanner (yyscan_t) */
    int prev_tok;           /* last token returned (bison token number) */
    int before_tok;         /* the token before it */
    src_loc prev_loc;
    int last_end;           /* end of the last token before end of input */
    bool str_in_interp;     /* the current string is inside a {{ }} */
    src_loc outer_str_loc;  /* then: the opening quote of the outer string */
    bool str_escaped;       /* that string was opened by \" and ends at \" */
    bool fatal;             /* nesting limit hit: the lexer reports EOF */

    /* what the parser's lookahead is, for syntax error messages */
    bool la_eof;
    bool la_bad;            /* an unknown character (already reported) */
    bool la_keyword;
    const char *la_text;    /* keyword text */

    /* a syntax error is held back until the next token is scanned, so that
    ** an `error` rule can replace bison's message with a targeted one */
    bool pending;
    src_loc pending_loc;
    char pending_msg[512];

    bool expr_depth_reported;
    bool tests_only_reported;
} parse_ctx;

/* ---- syntax errors ------------------------------------------------------ */

/* Called by yyerror: holds the message back (see parse_ctx.pending), with
** better wording for unknown characters and unterminated blocks at EOF. */
void ast_syntax_error(parse_ctx *ctx, src_loc loc, const char *msg);
/* Replace the held-back message (from an `error` rule) when the token
** before the offending one is `after` (a bison token number), i.e. when the
** error is right where the rule expects it. */
void ast_syntax_hint_after(parse_ctx *ctx, int after, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "missing ',' between WHAT" when bison expected only the closing bracket
** `close`: a complete member was followed by something that is not a comma. */
void ast_syntax_hint_comma(parse_ctx *ctx, char close, const char *what);
/* A construct missing token `tok`: msg replaces bison's message, unless the
** token that broke it was tok itself. */
void ast_syntax_hint_missing(parse_ctx *ctx, int tok, const char *msg);
/* Hint for a step name that is missing or a reserved word. */
void ast_syntax_hint_name(parse_ctx *ctx, const char *what);
/* "unexpected character '@'" for an unknown token (called by the lexer,
** once for a run of unknown bytes). */
void ast_report_bad_char(parse_ctx *ctx, src_loc loc, const char *bytes, int n);
/* Print the held-back message, if any. */
void ast_syntax_flush(parse_ctx *ctx);

/* ---- lists ---------------------------------------------------------------- */

ptrvec *ast_list_new(parse_ctx *ctx);
ptrvec *ast_list_push(parse_ctx *ctx, ptrvec *list, void *item);   /* skips NULL */
/* Lists of settings, schema fields and secret names: commas separate the
** fields, and may be left out between fields on separate lines; a field on
** the same line as the previous one without a comma is an error at loc
** (the field's span). comma: whether a comma followed the field. */
ptrvec *ast_fields_new(parse_ctx *ctx);
ptrvec *ast_fields_push(parse_ctx *ctx, ptrvec *list, void *item, src_loc loc, bool comma);
ptrvec *ast_list_one(parse_ctx *ctx, void *item);

/* ---- expressions ---------------------------------------------------------- */

/* A key: value member of an object literal (parse-time only). */
typedef struct ast_member {
    const char *key;
    src_loc key_loc;
    ast_expr *value;
} ast_member;

ast_expr *ast_expr_null(parse_ctx *ctx, src_loc loc);
ast_expr *ast_expr_bool(parse_ctx *ctx, bool v, src_loc loc);
ast_expr *ast_expr_int(parse_ctx *ctx, int64_t v, src_loc loc);
ast_expr *ast_expr_float(parse_ctx *ctx, double v, src_loc loc);
ast_expr *ast_expr_duration(parse_ctx *ctx, int64_t ms, src_loc loc);
ast_expr *ast_expr_string(parse_ctx *ctx, const char *s, src_loc loc);
/* A string literal from its pieces (EX_STRING texts and expressions): one
** EX_STRING when nothing is interpolated, else EX_INTERP. */
ast_expr *ast_expr_string_parts(parse_ctx *ctx, ptrvec *parts, src_loc loc);
ast_expr *ast_expr_name(parse_ctx *ctx, const char *name, src_loc loc);
ast_expr *ast_expr_field(parse_ctx *ctx, ast_expr *base, const char *name,
                         src_loc name_loc, src_loc loc);
ast_expr *ast_expr_index(parse_ctx *ctx, ast_expr *base, ast_expr *index, src_loc loc);
ast_expr *ast_expr_call(parse_ctx *ctx, const char *name, ptrvec *args, src_loc loc);
ast_expr *ast_expr_list(parse_ctx *ctx, ptrvec *items, src_loc loc);
ast_member *ast_member_new(parse_ctx *ctx, const char *key, src_loc key_loc, ast_expr *value);
/* key is a string literal expression (must not be interpolated). */
ast_member *ast_member_str(parse_ctx *ctx, ast_expr *key, ast_expr *value);
ast_expr *ast_expr_object(parse_ctx *ctx, ptrvec *members, src_loc loc);
/* OP_NEG on a number literal folds into the literal. */
ast_expr *ast_expr_unary(parse_ctx *ctx, ast_op op, ast_expr *a, src_loc loc);
ast_expr *ast_expr_binary(parse_ctx *ctx, ast_op op, ast_expr *a, ast_expr *b, src_loc loc);
/* A placeholder for an expression that failed to parse. */
ast_expr *ast_expr_error(parse_ctx *ctx, src_loc loc);
/* if cond then a else b */
ast_expr *ast_expr_cond(parse_ctx *ctx, ast_expr *cond, ast_expr *a, ast_expr *b, src_loc loc);

/* ---- types ---------------------------------------------------------------- */

/* string int float bool json; anything else is "unknown type". */
ast_type *ast_type_named(parse_ctx *ctx, const char *name, src_loc loc);
ast_type *ast_type_list(parse_ctx *ctx, ast_type *elem, src_loc loc);
ast_type *ast_type_object(parse_ctx *ctx, ptrvec *fields, src_loc loc);
ast_type *ast_type_optional(parse_ctx *ctx, ast_type *elem, src_loc loc);
ast_field *ast_field_new(parse_ctx *ctx, const char *name, src_loc loc,
                         ast_type *type, ast_expr *deflt);
ast_arg *ast_arg_new(parse_ctx *ctx, const char *name, src_loc loc, ast_expr *value);

/* ---- steps and clauses ------------------------------------------------ */

ast_step *ast_step_request(parse_ctx *ctx, const char *method, src_loc method_loc,
                           ast_expr *url, src_loc loc);
/* integ_loc .. op_loc is the call's location. */
ast_step *ast_step_action(parse_ctx *ctx, const char *integ, src_loc integ_loc,
                          const char *op, src_loc op_loc, ptrvec *args);
ast_step *ast_step_function(parse_ctx *ctx, ptrvec *params, ast_type *out,
                            const char *c_code, src_loc c_loc, src_loc loc);
ast_step *ast_step_fanout(parse_ctx *ctx, const char *var, src_loc var_loc,
                          ast_expr *list, int64_t concurrency, src_loc conc_loc,
                          ast_block *body, src_loc loc);
/* Names a step (`step NAME = ...`); step may be NULL after an error. */
ast_step *ast_step_named(parse_ctx *ctx, const char *name, src_loc name_loc,
                         ast_step *step, src_loc loc);
/* Applies a clause to a step (NULL step or clause: ignored). */
ast_step *ast_step_clause(parse_ctx *ctx, ast_step *step, ast_clause *cl);

ast_clause *ast_clause_expr(parse_ctx *ctx, ast_clause_kind kind, ast_expr *e, src_loc loc);
ast_clause *ast_clause_returns(parse_ctx *ctx, ast_type *t, src_loc loc);
ast_clause *ast_clause_accept(parse_ctx *ctx, ptrvec *statuses, src_loc loc);
/* The range of a status is the checker's to check. */
ast_status_match *ast_status(parse_ctx *ctx, int64_t code, bool is_class, src_loc loc);
ast_clause *ast_clause_paginate(parse_ctx *ctx, ptrvec *path, ast_paginate_kind kind,
                                ast_expr *cursor, ast_page_ref *target, int64_t max,
                                src_loc max_loc, src_loc loc);
ast_page_ref *ast_page_ref_new(parse_ctx *ctx, ast_page_target target, const char *name,
                               src_loc loc);
/* `url` as a page target: name must be "url". */
ast_page_ref *ast_page_ref_word(parse_ctx *ctx, const char *word, src_loc loc);
ast_clause *ast_clause_timeout(parse_ctx *ctx, int64_t ms, src_loc loc);
ast_clause *ast_clause_retry(parse_ctx *ctx, int64_t n, src_loc n_loc, int64_t backoff_ms,
                             int64_t max_ms, src_loc loc);
ast_clause *ast_clause_continue(parse_ctx *ctx, src_loc loc);
/* max N: the pages of a paginated request or action call */
ast_clause *ast_clause_max(parse_ctx *ctx, int64_t n, src_loc n_loc, src_loc loc);

/* ---- statements and blocks -------------------------------------------- */

/* An if statement under construction: branches are appended in order. */
typedef struct ast_if_build {
    ast_stmt *stmt;
    ptrvec conds, thens;
} ast_if_build;

ast_stmt *ast_stmt_step(parse_ctx *ctx, ast_step *step);  /* NULL step: NULL */
ast_if_build *ast_if_new(parse_ctx *ctx, ast_expr *cond, ast_block *then, src_loc loc);
ast_if_build *ast_if_elseif(parse_ctx *ctx, ast_if_build *b, ast_expr *cond, ast_block *then);
ast_stmt *ast_if_finish(parse_ctx *ctx, ast_if_build *b, ast_block *els);
ast_stmt *ast_stmt_expr(parse_ctx *ctx, ast_stmt_kind kind, ast_expr *e, src_loc loc);
ast_stmt *ast_stmt_wait(parse_ctx *ctx, ast_expr *e, bool until, src_loc loc);
/* return/fail with `status E` and/or `headers {...}` (either may be NULL) */
ast_stmt *ast_stmt_reply(parse_ctx *ctx, ast_stmt_kind kind, ast_expr *status, ast_expr *headers,
                         ast_expr *e, src_loc loc);
/* let NAME = e */
ast_stmt *ast_stmt_let(parse_ctx *ctx, const char *name, src_loc name_loc, ast_expr *e, src_loc loc);
ast_block *ast_block_new(parse_ctx *ctx, ptrvec *stmts, src_loc loc);

/* ---- declarations ------------------------------------------------------ */

void ast_decl_workflow(parse_ctx *ctx, const char *name, src_loc name_loc,
                       ast_expr *desc, src_loc loc);
void ast_decl_tests_for(parse_ctx *ctx, ast_expr *path, src_loc loc);
void ast_decl_import(parse_ctx *ctx, ast_expr *path, src_loc loc);
void ast_decl_settings(parse_ctx *ctx, ptrvec *fields, src_loc loc);
void ast_decl_secrets(parse_ctx *ctx, ptrvec *names, src_loc loc);
/* str1: event name or cron; str2: time zone; schema: object type or NULL. */
void ast_decl_trigger(parse_ctx *ctx, ast_trigger_kind kind, ast_expr *str1,
                      ast_expr *str2, ast_type *schema, src_loc loc);
void ast_decl_stmt(parse_ctx *ctx, ast_stmt *st);

/* The `auth ...` line of an integration (parse-time only). */
typedef struct ast_auth {
    ast_auth_kind kind;
    src_loc loc;
    ast_expr *secret, *secret2, *token_url, *client_id, *client_secret;
    const char *header;
} ast_auth;

ast_auth *ast_auth_new(parse_ctx *ctx, ast_auth_kind kind, ast_expr *a, ast_expr *b,
                       ast_expr *header, src_loc loc);
/* auth oauth2 { name value ... }: fields are ast_arg. */
ast_auth *ast_auth_oauth2(parse_ctx *ctx, ptrvec *fields, src_loc loc);
ast_integration *ast_decl_integration(parse_ctx *ctx, const char *name, src_loc name_loc,
                                      ast_expr *url, src_loc loc);
ast_integration *ast_integration_auth(parse_ctx *ctx, ast_integration *in, ast_auth *auth);
/* `connection { ... }` (parse-time only): word must be "connection". */
typedef struct ast_conn_build {
    ptrvec *fields;         /* ast_conn_field * */
    src_loc loc;
    bool bad;               /* the word was not `connection` (reported) */
} ast_conn_build;
ast_conn_build *ast_conn_block(parse_ctx *ctx, const char *word, src_loc word_loc, ptrvec *fields, src_loc loc);
/* flags: ast_arg names (base_url, from_token); others are reported. */
ast_conn_field *ast_conn_field_new(parse_ctx *ctx, const char *name, src_loc name_loc, ast_type *type,
                                   ptrvec *flags, src_loc span);
void ast_integration_connection(parse_ctx *ctx, ast_integration *in, ast_conn_build *conn);
ast_action *ast_decl_action(parse_ctx *ctx, const char *integ, const char *op,
                            ptrvec *params, ast_type *out, ast_step *body, src_loc loc);
ast_action *ast_action_clause(parse_ctx *ctx, ast_action *ac, ast_clause *cl);

/* ---- tests ---------------------------------------------------------------- */

typedef struct ast_test_build {
    ast_test *test;
    ptrvec secrets, env, mocks, expects;
} ast_test_build;

typedef struct ast_mock_build {
    ast_mock *mock;
    ptrvec responses;
    bool has_times, has_delay;
} ast_mock_build;

typedef enum ast_test_item {
    TI_EVENT, TI_SETTINGS, TI_USER, TI_EXPECT,
} ast_test_item;

ast_test_build *ast_test_new(parse_ctx *ctx, ast_expr *name, src_loc loc);
ast_test_build *ast_test_expr(parse_ctx *ctx, ast_test_build *b, ast_test_item item,
                              ast_expr *e, src_loc loc);
ast_test_build *ast_test_secret(parse_ctx *ctx, ast_test_build *b, ast_arg *arg);
ast_test_build *ast_test_env(parse_ctx *ctx, ast_test_build *b, ast_arg *arg);
ast_test_build *ast_test_mock(parse_ctx *ctx, ast_test_build *b, ast_mock_build *m);
void ast_decl_test(parse_ctx *ctx, ast_test_build *b, src_loc loc);

ast_mock_build *ast_mock_new(parse_ctx *ctx, const char *method, src_loc method_loc,
                             const char *integ, src_loc integ_loc, ast_expr *url,
                             ast_mock_response *first, src_loc loc);
ast_mock_build *ast_mock_then(parse_ctx *ctx, ast_mock_build *m, ast_mock_response *r);
ast_mock_build *ast_mock_times(parse_ctx *ctx, ast_mock_build *m, int64_t n, src_loc loc);
ast_mock_build *ast_mock_delay(parse_ctx *ctx, ast_mock_build *m, int64_t ms, src_loc loc);
ast_mock_response *ast_mock_response_new(parse_ctx *ctx, int64_t status, src_loc loc,
                                         ast_expr *body, ast_expr *headers);

/* ---- the whole file ------------------------------------------------------- */

/* A top-level item ended at loc.end (its span is loc): called by the grammar
** for every item, after the item's own action. */
void ast_top_end(parse_ctx *ctx, src_loc loc);
/* A statement of a block, whose whole span is loc (skips a NULL statement). */
ptrvec *ast_stmts_push(parse_ctx *ctx, ptrvec *list, ast_stmt *st, src_loc loc);
/* A `#` comment (called by the lexer). */
void ast_comment(parse_ctx *ctx, src_loc loc);

void ast_parse_begin(parse_ctx *ctx, ast_program *prog, int file_id);
ast_file *ast_parse_end(parse_ctx *ctx);

#endif
