/*
** parser.y — the grammar of .flow files (bison, pure, LALR(1), no conflicts).
**
** Actions are one call into ast.c (compiler/ast_build.h), SQLite parse.y
** style. Syntax errors are reported through ast_syntax_error; `error` rules
** at declaration, statement, clause and bracket level let parsing go on so
** that every error of a file is reported, and some of them replace bison's
** message with a targeted one (ast_syntax_hint_after).
*/

%define api.pure full
%define api.location.type {src_loc}
%define parse.error verbose
%locations
%expect 0
%param {yyscan_t scanner} {parse_ctx *ctx}

%code requires {
#include "ast_build.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif
}

%code provides {
#define YY_DECL int yylex(YYSTYPE *yylval_param, YYLTYPE *yylloc_param, \
                          yyscan_t yyscanner, parse_ctx *ctx)
YY_DECL;
}

%code {
#include <stddef.h>
#include <string.h>

#include "lexer.h"

/* A location spans its first to its last symbol; an empty rule sits at the
** end of what precedes it. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                 \
    do {                                                            \
        if (N) {                                                    \
            (Cur).file = YYRHSLOC(Rhs, 1).file;                     \
            (Cur).start = YYRHSLOC(Rhs, 1).start;                   \
            (Cur).end = YYRHSLOC(Rhs, N).end;                       \
        } else {                                                    \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                     \
            (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;         \
        }                                                           \
    } while (0)

/* Deep right recursion (`a ?? a ?? ...`) is bounded by memory, not by the
** default 10000; the lexer caps bracket and prefix nesting much earlier. */
#define YYMAXDEPTH 10000000
#define YYINITDEPTH 1000

/* Token names are written "'step'": print them without the outer quotes. */
#define yytnamerr flow_tnamerr
static ptrdiff_t flow_tnamerr(char *yyres, const char *yystr);

static void yyerror(YYLTYPE *loc, yyscan_t scanner, parse_ctx *ctx, const char *msg);
}

%initial-action {
    @$.file = ctx->file_id;
    @$.start = @$.end = 0;
}

%union {
    const char *str;
    int64_t num;
    double fnum;
    ast_expr *expr;
    ast_type *type;
    ptrvec *list;
    ast_member *member;
    ast_field *field;
    ast_arg *arg;
    ast_step *step;
    ast_clause *clause;
    ast_page_ref *pref;
    ast_status_match *status;
    ast_stmt *stmt;
    ast_block *block;
    ast_if_build *ifb;
    ast_auth *auth;
    ast_integration *integ;
    ast_conn_build *conn;
    ast_conn_field *cfield;
    ast_action *action;
    ast_test_build *test;
    ast_mock_build *mock;
    ast_mock_response *resp;
}

/* Every value lives in the program's arena, freed all at once: nothing to
** free when bison discards a value during error recovery. */
%destructor { } <*>

%token <str>  IDENT        "identifier"
%token <num>  INT          "integer"
%token <fnum> FLOAT        "number"
%token <num>  DURATION     "duration"
%token <num>  STATUS_CLASS "status class"
%token        STR_BEGIN    "string"
%token <str>  STR_TEXT     "string text"
%token        STR_END      "end of string"
%token        INTERP_OPEN  "'{{'"
%token        INTERP_CLOSE "'}}'"
%token <str>  C_CODE       "C block"
%token        BAD_CHAR     "invalid character"
%token        FAIL_WHEN    "'fail when'"
%token        RETURN_STATUS  "'return status'"
%token        RETURN_HEADERS "'return headers'"
%token        FAIL_STATUS    "'fail status'"
%token        FAIL_HEADERS   "'fail headers'"
%token <num>  MAX_DURATION   "'max' and a duration"
%token        EQ "'=='" NE "'!='" LE "'<='" GE "'>='" COALESCE "'??'" ARROW "'->'"
%token KW_WORKFLOW      "'workflow'"
%token KW_IMPORT        "'import'"
%token KW_SETTINGS      "'settings'"
%token KW_SECRETS       "'secrets'"
%token KW_SECRET        "'secret'"
%token KW_TRIGGER       "'trigger'"
%token KW_EVENT         "'event'"
%token KW_REQUEST       "'request'"
%token KW_SCHEDULE      "'schedule'"
%token KW_ENABLED       "'enabled'"
%token KW_INTEGRATION   "'integration'"
%token KW_ACTION        "'action'"
%token KW_AUTH          "'auth'"
%token KW_BEARER        "'bearer'"
%token KW_BASIC         "'basic'"
%token KW_HEADER        "'header'"
%token KW_OAUTH2        "'oauth2'"
%token KW_STEP          "'step'"
%token KW_FUNCTION      "'function'"
%token KW_FANOUT        "'fanout'"
%token KW_IN            "'in'"
%token KW_CONCURRENCY   "'concurrency'"
%token KW_IF            "'if'"
%token KW_ELSE          "'else'"
%token KW_RETURN        "'return'"
%token KW_FAIL          "'fail'"
%token KW_LOG           "'log'"
%token KW_WAIT          "'wait'"
%token KW_UNTIL         "'until'"
%token KW_AND           "'and'"
%token KW_OR            "'or'"
%token KW_NOT           "'not'"
%token KW_TRUE          "'true'"
%token KW_FALSE         "'false'"
%token KW_NULL          "'null'"
%token KW_TEST          "'test'"
%token KW_TESTS         "'tests'"
%token KW_FOR           "'for'"
%token KW_MOCK          "'mock'"
%token KW_EXPECT        "'expect'"
%token KW_ENV           "'env'"
%token KW_THEN          "'then'"
%token KW_TIMES         "'times'"
%token KW_DELAY         "'delay'"
%token KW_HEADERS       "'headers'"
%token KW_QUERY         "'query'"
%token KW_JSON          "'json'"
%token KW_FORM          "'form'"
%token KW_BODY          "'body'"
%token KW_RETURNS       "'returns'"
%token KW_ACCEPT        "'accept'"
%token KW_PAGINATE      "'paginate'"
%token KW_CURSOR        "'cursor'"
%token KW_PAGE          "'page'"
%token KW_LINK          "'link'"
%token KW_MAX           "'max'"
%token KW_TIMEOUT       "'timeout'"
%token KW_RETRY         "'retry'"
%token KW_BACKOFF       "'backoff'"
%token KW_ON            "'on'"
%token KW_FAILURE       "'failure'"
%token KW_CONTINUE      "'continue'"
%token KW_USER          "'user'"
%token KW_LET           "'let'"

/* A bare `return` followed by a word that may start an expression takes it
** as its value (the only place where newlines would have mattered); so does
** `return status N` (its body is optional). After `return status N`, a
** `headers` is the answer's headers, not an expression. */
%precedence RETURN_BARE REPLY_NO_HEADERS
%precedence KW_SETTINGS KW_TRIGGER KW_IF KW_HEADERS
/* `max N` right after `paginate ...` is the paginate's own (the same meaning) */
%precedence PAGE_MAX_NONE
%precedence KW_MAX
/* `return status x[0]`, `return status f(x)`: the status indexed or
** called, not a list or a parenthesized body after it */
%precedence REPLY_STATUS
%precedence '[' '('
/* if c then a else b: the else arm extends as far as it can */
%precedence COND
%left KW_OR
%left KW_AND
%precedence KW_NOT
%nonassoc EQ NE '<' LE '>' GE
%right COALESCE
%left '+' '-'
%left '*' '/' '%'
%precedence UMINUS

%type <str> any_name field_name root_name
%type <num> opt_concurrency retry_backoff retry_max page_max field_comma
%type <expr> expr postfix primary const_lit number string_lit opt_string object list
%type <expr> opt_default basic_value mock_body opt_resp_headers reply_status reply_headers reply_value
%type <list> str_parts list_items expr_list members member_list settings_fields
%type <list> type_fields secret_names named_args named_arg_list params param_list
%type <list> action_params action_param_list oauth_fields statuses page_path stmts
%type <list> conn_fields conn_field_list conn_flags
%type <conn> conn_block
%type <cfield> conn_field
%type <member> member
%type <field> setting type_field action_param
%type <arg> named_arg param test_assign
%type <type> type object_type opt_schema
%type <step> step_body request_body step_head step_decl
%type <clause> clause
%type <pref> page_target
%type <status> status
%type <stmt> stmt
%type <block> block
%type <ifb> if_chain
%type <auth> auth
%type <integ> integration_head
%type <action> action_decl
%type <test> test_items
%type <mock> mock
%type <resp> mock_resp

%%

file:
    %empty
  | file top_item                       { ast_top_end(ctx, @2); }
  | file error
  ;

top_item:
    KW_WORKFLOW IDENT opt_string        { ast_decl_workflow(ctx, $2, @2, $3, @1); }
  | KW_WORKFLOW error                   { ast_syntax_hint_name(ctx, "workflow name"); }
  | KW_TESTS KW_FOR string_lit          { ast_decl_tests_for(ctx, $3, @$); }
  | KW_IMPORT string_lit                { ast_decl_import(ctx, $2, @$); }
  | KW_SETTINGS '{' settings_fields '}' { ast_decl_settings(ctx, $3, @1); }
  | KW_SECRETS '{' secret_names '}'     { ast_decl_secrets(ctx, $3, @1); }
  | KW_TRIGGER KW_EVENT string_lit opt_schema
                                        { ast_decl_trigger(ctx, TRIG_EVENT, $3, NULL, $4, @1); }
  | KW_TRIGGER KW_REQUEST opt_schema    { ast_decl_trigger(ctx, TRIG_REQUEST, NULL, NULL, $3, @1); }
  | KW_TRIGGER KW_SCHEDULE string_lit opt_string
                                        { ast_decl_trigger(ctx, TRIG_SCHEDULE, $3, $4, NULL, @1); }
  | KW_TRIGGER KW_ENABLED               { ast_decl_trigger(ctx, TRIG_ENABLED, NULL, NULL, NULL, @1); }
  | KW_TRIGGER error                    { ast_syntax_hint_after(ctx, KW_TRIGGER, "expected 'event', 'request', 'schedule' or 'enabled' after 'trigger'"); }
  | integration_head                    { (void)$1; }
  | integration_head '{' '}'            { (void)$1; }
  | integration_head '{' auth '}'       { ast_integration_auth(ctx, $1, $3); }
  | integration_head '{' conn_block '}' { ast_integration_connection(ctx, $1, $3); }
  | integration_head '{' auth conn_block '}'
                                        { ast_integration_auth(ctx, $1, $3); ast_integration_connection(ctx, $1, $4); }
  | integration_head '{' error '}'      { (void)$1; }
  | action_decl                         { (void)$1; }
  | test_items '}'                      { ast_decl_test(ctx, $1, @$); }
  | stmt                                { ast_decl_stmt(ctx, $1); }
  ;

opt_string:
    %empty                              { $$ = NULL; }
  | string_lit                          { $$ = $1; }
  ;

/* ---- settings, secrets, types ---------------------------------------- */

settings_fields:
    %empty                              { $$ = ast_fields_new(ctx); }
  | settings_fields setting field_comma { $$ = ast_fields_push(ctx, $1, $2, @2, $3); }
  | settings_fields error               { $$ = $1; }
  ;

setting:
    field_name ':' type opt_default     { $$ = ast_field_new(ctx, $1, @1, $3, $4); }
  ;

opt_default:
    %empty                              { $$ = NULL; }
  | '=' expr                            { $$ = $2; }
  ;

opt_comma:
    %empty
  | ','
  ;

field_comma:                            /* whether a comma followed a field */
    %empty                              { $$ = false; }
  | ','                                 { $$ = true; }
  ;

secret_names:
    %empty                              { $$ = ast_fields_new(ctx); }
  | secret_names any_name field_comma   { $$ = ast_fields_push(ctx, $1, ast_arg_new(ctx, $2, @2, NULL), @2, $3); }
  | secret_names error                  { $$ = $1; }
  ;

opt_schema:
    %empty                              { $$ = NULL; }
  | object_type                         { $$ = $1; }
  ;

type:
    IDENT                               { $$ = ast_type_named(ctx, $1, @1); }
  | KW_JSON                             { $$ = ast_type_named(ctx, "json", @1); }
  | '[' type ']'                        { $$ = ast_type_list(ctx, $2, @$); }
  | object_type                         { $$ = $1; }
  | type '?'                            { $$ = ast_type_optional(ctx, $1, @$); }
  ;

object_type:
    '{' type_fields '}'                 { $$ = ast_type_object(ctx, $2, @$); }
  ;

type_fields:
    %empty                              { $$ = ast_fields_new(ctx); }
  | type_fields type_field field_comma  { $$ = ast_fields_push(ctx, $1, $2, @2, $3); }
  | type_fields error                   { $$ = $1; }
  ;

type_field:
    field_name ':' type                 { $$ = ast_field_new(ctx, $1, @1, $3, NULL); }
  ;

/* Field names may be keywords, except the operators `and`, `or`, `not`
** (a setting default followed by a setting named `and` would be ambiguous). */
field_name:
    any_name                            { $$ = $1; }
  ;

/* ---- integrations and actions --------------------------------------- */

integration_head:
    KW_INTEGRATION IDENT string_lit     { $$ = ast_decl_integration(ctx, $2, @2, $3, @1); }
  ;

auth:
    KW_AUTH KW_BEARER expr              { $$ = ast_auth_new(ctx, AUTH_BEARER, $3, NULL, NULL, @1); }
  | KW_AUTH KW_BASIC basic_value basic_value
                                        { $$ = ast_auth_new(ctx, AUTH_BASIC, $3, $4, NULL, @1); }
  | KW_AUTH KW_HEADER string_lit expr   { $$ = ast_auth_new(ctx, AUTH_HEADER, $4, NULL, $3, @1); }
  | KW_AUTH KW_OAUTH2 '{' oauth_fields '}'
                                        { $$ = ast_auth_oauth2(ctx, $4, @1); }
  ;

/* Two values side by side: a name path (secret.user) or a string, so that
** no operator or bracket can join them into one expression. */
basic_value:
    root_name                           { $$ = ast_expr_name(ctx, $1, @1); }
  | IDENT                               { $$ = ast_expr_name(ctx, $1, @1); }
  | basic_value '.' any_name            { $$ = ast_expr_field(ctx, $1, $3, @3, @$); }
  | string_lit                          { $$ = $1; }
  ;

oauth_fields:
    %empty                              { $$ = ast_list_new(ctx); }
  | oauth_fields IDENT expr opt_comma   { $$ = ast_list_push(ctx, $1, ast_arg_new(ctx, $2, @2, $3)); }
  ;

/* `connection { instance_url: string? base_url from_token, ... }`: the
** plain fields of a user's connection to the integration. The word is not
** reserved (ast.c checks it); commas separate the fields, since a field's
** flags (names after its type) could not be told from the next field's
** name otherwise. */
conn_block:
    IDENT '{' conn_fields '}'           { $$ = ast_conn_block(ctx, $1, @1, $3, @$); }
  ;

conn_fields:
    %empty                              { $$ = ast_list_new(ctx); }
  | conn_field_list opt_comma           { $$ = $1; }
  ;

conn_field_list:
    conn_field                          { $$ = ast_list_one(ctx, $1); }
  | conn_field_list ',' conn_field      { $$ = ast_list_push(ctx, $1, $3); }
  ;

conn_field:
    field_name ':' type conn_flags      { $$ = ast_conn_field_new(ctx, $1, @1, $3, $4, @$); }
  ;

conn_flags:
    %empty                              { $$ = ast_list_new(ctx); }
  | conn_flags IDENT                    { $$ = ast_list_push(ctx, $1, ast_arg_new(ctx, $2, @2, NULL)); }
  ;

action_decl:
    KW_ACTION IDENT '.' any_name '(' action_params ')' ARROW type '=' request_body
                                        { $$ = ast_decl_action(ctx, $2, $4, $6, $9, $11, @1); }
  | action_decl clause                  { $$ = ast_action_clause(ctx, $1, $2); }
  ;

action_params:
    %empty                              { $$ = ast_list_new(ctx); }
  | action_param_list opt_comma         { $$ = $1; }
  ;

action_param_list:
    action_param                        { $$ = ast_list_one(ctx, $1); }
  | action_param_list ',' action_param  { $$ = ast_list_push(ctx, $1, $3); }
  ;

action_param:
    field_name ':' type opt_default     { $$ = ast_field_new(ctx, $1, @1, $3, $4); }
  ;

/* ---- statements ------------------------------------------------------- */

block:
    '{' stmts '}'                       { $$ = ast_block_new(ctx, $2, @$); }
  ;

stmts:
    %empty                              { $$ = ast_list_new(ctx); }
  | stmts stmt                          { $$ = ast_stmts_push(ctx, $1, $2, @2); }
  | stmts error                         { $$ = $1; }
  ;

stmt:
    step_decl                           { $$ = ast_stmt_step(ctx, $1); }
  | if_chain                            { $$ = ast_if_finish(ctx, $1, NULL); }
  | if_chain KW_ELSE block              { $$ = ast_if_finish(ctx, $1, $3); }
  | KW_WAIT DURATION                    { $$ = ast_stmt_wait(ctx, ast_expr_duration(ctx, $2, @2), false, @1); }
  | KW_WAIT KW_UNTIL expr               { $$ = ast_stmt_wait(ctx, $3, true, @1); }
  | KW_WAIT error                       { $$ = NULL; ast_syntax_hint_after(ctx, KW_WAIT, "'wait' expects a duration (wait 5m) or 'until' and a time (wait until \"2030-01-01T09:00:00Z\")"); }
  | KW_RETURN %prec RETURN_BARE         { $$ = ast_stmt_expr(ctx, ST_RETURN, NULL, @1); }
  | KW_RETURN expr                      { $$ = ast_stmt_expr(ctx, ST_RETURN, $2, @1); }
  | RETURN_STATUS reply_status reply_headers reply_value
                                        { $$ = ast_stmt_reply(ctx, ST_RETURN, $2, $3, $4, @1); }
  | RETURN_HEADERS object reply_value   { $$ = ast_stmt_reply(ctx, ST_RETURN, NULL, $2, $3, @1); }
  | KW_FAIL expr                        { $$ = ast_stmt_expr(ctx, ST_FAIL, $2, @1); }
  | FAIL_STATUS reply_status reply_headers expr
                                        { $$ = ast_stmt_reply(ctx, ST_FAIL, $2, $3, $4, @1); }
  | FAIL_HEADERS object expr            { $$ = ast_stmt_reply(ctx, ST_FAIL, NULL, $2, $3, @1); }
  | RETURN_STATUS error                 { $$ = NULL; ast_syntax_hint_after(ctx, RETURN_STATUS, "'return status' expects an HTTP status, then optionally headers { ... } and the body: return status 201 headers { Location: \"/x/1\" } { id: 1 }"); }
  | FAIL_STATUS error                   { $$ = NULL; ast_syntax_hint_after(ctx, FAIL_STATUS, "'fail status' expects an HTTP status and the message: fail status 422 \"invalid email\""); }
  | KW_LOG expr                         { $$ = ast_stmt_expr(ctx, ST_LOG, $2, @1); }
  | KW_LET IDENT '=' expr               { $$ = ast_stmt_let(ctx, $2, @2, $4, @1); }
  | KW_LET IDENT error                  { $$ = NULL; ast_syntax_hint_after(ctx, IDENT, "missing '=' after 'let %s'", $2); }
  | KW_LET error                        { $$ = NULL; ast_syntax_hint_name(ctx, "name after 'let'"); }
  ;

/* The status of an answer: a number, a name path or a parenthesized
** expression (`status (if created then 201 else 200)`), so that it ends
** where the body starts. */
reply_status:
    postfix %prec REPLY_STATUS          { $$ = $1; }
  ;

reply_headers:
    %empty %prec REPLY_NO_HEADERS       { $$ = NULL; }
  | KW_HEADERS object                   { $$ = $2; }
  ;

reply_value:
    %empty %prec RETURN_BARE            { $$ = NULL; }
  | expr                                { $$ = $1; }
  ;

/* After an error in a condition, resynchronise at the block: its braces
** stay balanced and its statements are still read. The condition becomes
** `true`, which no later phase complains about. */
if_chain:
    KW_IF expr block                    { $$ = ast_if_new(ctx, $2, $3, @1); }
  | KW_IF error block                   { $$ = ast_if_new(ctx, ast_expr_bool(ctx, true, @2), $3, @1); }
  | if_chain KW_ELSE KW_IF expr block   { $$ = ast_if_elseif(ctx, $1, $4, $5); }
  | if_chain KW_ELSE KW_IF error block  { $$ = ast_if_elseif(ctx, $1, ast_expr_bool(ctx, true, @4), $5); }
  ;

step_decl:
    step_head                           { $$ = $1; }
  | step_decl clause                    { $$ = ast_step_clause(ctx, $1, $2); }
  ;

step_head:
    KW_STEP IDENT '=' step_body         { $$ = ast_step_named(ctx, $2, @2, $4, @1); }
  | KW_STEP IDENT '=' error             { $$ = NULL; ast_syntax_hint_after(ctx, '=', "expected 'request', 'function', 'fanout' or INTEGRATION.ACTION(...) after 'step %s ='", $2); }
  | KW_STEP IDENT error                 { $$ = NULL; ast_syntax_hint_after(ctx, IDENT, "missing '=' after step name '%s'", $2); }
  | KW_STEP error                       { $$ = NULL; ast_syntax_hint_name(ctx, "step name"); }
  ;

step_body:
    request_body                        { $$ = $1; }
  | IDENT '.' any_name '(' named_args ')'
                                        { $$ = ast_step_action(ctx, $1, @1, $3, @3, $5); }
  | KW_FUNCTION '(' params ')' ARROW type C_CODE
                                        { $$ = ast_step_function(ctx, $3, $6, $7, @7, @1); }
  | KW_FANOUT IDENT KW_IN expr opt_concurrency block
                                        { $$ = ast_step_fanout(ctx, $2, @2, $4, $5, @5, $6, @1); }
  ;

request_body:
    KW_REQUEST IDENT expr               { $$ = ast_step_request(ctx, $2, @2, $3, @1); }
  ;

opt_concurrency:
    %empty                              { $$ = -1; }
  | KW_CONCURRENCY INT                  { $$ = $2; }
  ;

named_args:
    %empty                              { $$ = ast_list_new(ctx); }
  | named_arg_list opt_comma            { $$ = $1; }
  ;

named_arg_list:
    named_arg                           { $$ = ast_list_one(ctx, $1); }
  | named_arg_list ',' named_arg        { $$ = ast_list_push(ctx, $1, $3); }
  ;

named_arg:
    any_name ':' expr                   { $$ = ast_arg_new(ctx, $1, @1, $3); }
  ;

params:
    %empty                              { $$ = ast_list_new(ctx); }
  | param_list opt_comma                { $$ = $1; }
  ;

param_list:
    param                               { $$ = ast_list_one(ctx, $1); }
  | param_list ',' param                { $$ = ast_list_push(ctx, $1, $3); }
  ;

param:
    IDENT ':' expr                      { $$ = ast_arg_new(ctx, $1, @1, $3); }
  ;

/* ---- clauses ---------------------------------------------------------- */

clause:
    KW_HEADERS object                   { $$ = ast_clause_expr(ctx, CL_HEADERS, $2, @1); }
  | KW_QUERY object                     { $$ = ast_clause_expr(ctx, CL_QUERY, $2, @1); }
  | KW_JSON expr                        { $$ = ast_clause_expr(ctx, CL_JSON, $2, @1); }
  | KW_FORM object                      { $$ = ast_clause_expr(ctx, CL_FORM, $2, @1); }
  | KW_BODY expr                        { $$ = ast_clause_expr(ctx, CL_BODY, $2, @1); }
  | KW_RETURNS type                     { $$ = ast_clause_returns(ctx, $2, @1); }
  | KW_ACCEPT statuses opt_comma        { $$ = ast_clause_accept(ctx, $2, @1); }
  | FAIL_WHEN expr                      { $$ = ast_clause_expr(ctx, CL_FAIL_WHEN, $2, @1); }
  | KW_PAGINATE page_path KW_CURSOR expr ARROW page_target page_max
                                        { $$ = ast_clause_paginate(ctx, $2, PAGE_CURSOR, $4, $6, $7, @7, @1); }
  | KW_PAGINATE page_path KW_PAGE page_target page_max
                                        { $$ = ast_clause_paginate(ctx, $2, PAGE_PAGE, NULL, $4, $5, @5, @1); }
  | KW_PAGINATE page_path KW_LINK page_max
                                        { $$ = ast_clause_paginate(ctx, $2, PAGE_LINK, NULL, NULL, $4, @4, @1); }
  | KW_TIMEOUT DURATION                 { $$ = ast_clause_timeout(ctx, $2, @1); }
  | KW_RETRY INT retry_backoff retry_max
                                        { $$ = ast_clause_retry(ctx, $2, @2, $3, $4, @1); }
  | KW_ON KW_FAILURE KW_CONTINUE        { $$ = ast_clause_continue(ctx, @1); }
  | KW_MAX INT                          { $$ = ast_clause_max(ctx, $2, @2, @1); }
  | KW_MAX error                        { $$ = NULL; ast_syntax_hint_after(ctx, KW_MAX, "'max' expects a number of pages: max 5"); }
  | KW_TIMEOUT error                    { $$ = NULL; ast_syntax_hint_after(ctx, KW_TIMEOUT, "'timeout' expects a duration such as 30s or 500ms"); }
  | KW_RETRY error                      { $$ = NULL; ast_syntax_hint_after(ctx, KW_RETRY, "'retry' expects a count: retry N (backoff DURATION)? (max DURATION)?"); }
  | KW_ACCEPT error                     { $$ = NULL; ast_syntax_hint_after(ctx, KW_ACCEPT, "'accept' expects status codes such as 404 or 4xx"); }
  | KW_ON error                         { $$ = NULL; ast_syntax_hint_after(ctx, KW_ON, "expected 'on failure continue'"); }
  | KW_PAGINATE error                   { $$ = NULL; ast_syntax_hint_after(ctx, KW_PAGINATE, "'paginate' expects the path of the items below the body, e.g. paginate items cursor body.next -> query.cursor"); }
  ;

statuses:
    status                              { $$ = ast_list_one(ctx, $1); }
  | statuses ',' status                 { $$ = ast_list_push(ctx, $1, $3); }
  ;

status:
    INT                                 { $$ = ast_status(ctx, $1, false, @1); }
  | STATUS_CLASS                        { $$ = ast_status(ctx, $1, true, @1); }
  ;

page_path:
    any_name                            { $$ = ast_list_one(ctx, (void *)$1); }
  | page_path '.' any_name              { $$ = ast_list_push(ctx, $1, (void *)$3); }
  ;

page_target:
    KW_QUERY '.' any_name               { $$ = ast_page_ref_new(ctx, TARGET_QUERY, $3, @$); }
  | KW_JSON '.' any_name                { $$ = ast_page_ref_new(ctx, TARGET_JSON, $3, @$); }
  | IDENT                               { $$ = ast_page_ref_word(ctx, $1, @1); }
  ;

page_max:
    %empty %prec PAGE_MAX_NONE          { $$ = -1; }
  | KW_MAX INT                          { $$ = $2; }
  ;

retry_backoff:
    %empty                              { $$ = 0; }
  | KW_BACKOFF DURATION                 { $$ = $2; }
  ;

retry_max:
    %empty                              { $$ = 0; }
  | MAX_DURATION                        { $$ = $1; }
  ;

/* ---- tests ------------------------------------------------------------- */

test_items:
    KW_TEST string_lit '{'              { $$ = ast_test_new(ctx, $2, @1); }
  | test_items KW_EVENT expr            { $$ = ast_test_expr(ctx, $1, TI_EVENT, $3, @2); }
  | test_items KW_SETTINGS object       { $$ = ast_test_expr(ctx, $1, TI_SETTINGS, $3, @2); }
  | test_items KW_USER string_lit       { $$ = ast_test_expr(ctx, $1, TI_USER, $3, @2); }
  | test_items KW_EXPECT expr           { $$ = ast_test_expr(ctx, $1, TI_EXPECT, $3, @2); }
  | test_items KW_SECRET test_assign    { $$ = ast_test_secret(ctx, $1, $3); }
  | test_items KW_ENV test_assign       { $$ = ast_test_env(ctx, $1, $3); }
  | test_items mock                     { $$ = ast_test_mock(ctx, $1, $2); }
  | test_items error                    { $$ = $1; }
  ;

test_assign:
    any_name '=' expr                   { $$ = ast_arg_new(ctx, $1, @1, $3); }
  ;

mock:
    KW_MOCK IDENT string_lit ARROW mock_resp
                                        { $$ = ast_mock_new(ctx, $2, @2, NULL, @2, $3, $5, @1); }
  | KW_MOCK IDENT IDENT string_lit ARROW mock_resp
                                        { $$ = ast_mock_new(ctx, $2, @2, $3, @3, $4, $6, @1); }
  | mock KW_THEN mock_resp              { $$ = ast_mock_then(ctx, $1, $3); }
  | mock KW_TIMES INT                   { $$ = ast_mock_times(ctx, $1, $3, @3); }
  | mock KW_DELAY DURATION              { $$ = ast_mock_delay(ctx, $1, $3, @3); }
  ;

mock_resp:
    INT mock_body opt_resp_headers      { $$ = ast_mock_response_new(ctx, $1, @1, $2, $3); }
  ;

/* A response body is a literal: a name here would be read as the next item. */
mock_body:
    %empty                              { $$ = NULL; }
  | const_lit                           { $$ = $1; }
  | '-' number                          { $$ = ast_expr_unary(ctx, OP_NEG, $2, @$); }
  ;

opt_resp_headers:
    %empty                              { $$ = NULL; }
  | KW_HEADERS object                   { $$ = $2; }
  ;

/* ---- expressions -------------------------------------------------------- */

expr:
    postfix                             { $$ = $1; }
  | '-' expr %prec UMINUS               { $$ = ast_expr_unary(ctx, OP_NEG, $2, @$); }
  | KW_NOT expr                         { $$ = ast_expr_unary(ctx, OP_NOT, $2, @$); }
  | expr KW_OR expr                     { $$ = ast_expr_binary(ctx, OP_OR, $1, $3, @$); }
  | expr KW_AND expr                    { $$ = ast_expr_binary(ctx, OP_AND, $1, $3, @$); }
  | expr EQ expr                        { $$ = ast_expr_binary(ctx, OP_EQ, $1, $3, @$); }
  | expr NE expr                        { $$ = ast_expr_binary(ctx, OP_NE, $1, $3, @$); }
  | expr '<' expr                       { $$ = ast_expr_binary(ctx, OP_LT, $1, $3, @$); }
  | expr LE expr                        { $$ = ast_expr_binary(ctx, OP_LE, $1, $3, @$); }
  | expr '>' expr                       { $$ = ast_expr_binary(ctx, OP_GT, $1, $3, @$); }
  | expr GE expr                        { $$ = ast_expr_binary(ctx, OP_GE, $1, $3, @$); }
  | expr COALESCE expr                  { $$ = ast_expr_binary(ctx, OP_COALESCE, $1, $3, @$); }
  | expr '+' expr                       { $$ = ast_expr_binary(ctx, OP_ADD, $1, $3, @$); }
  | expr '-' expr                       { $$ = ast_expr_binary(ctx, OP_SUB, $1, $3, @$); }
  | expr '*' expr                       { $$ = ast_expr_binary(ctx, OP_MUL, $1, $3, @$); }
  | expr '/' expr                       { $$ = ast_expr_binary(ctx, OP_DIV, $1, $3, @$); }
  | expr '%' expr                       { $$ = ast_expr_binary(ctx, OP_MOD, $1, $3, @$); }
  | KW_IF expr KW_THEN expr KW_ELSE expr %prec COND
                                        { $$ = ast_expr_cond(ctx, $2, $4, $6, @$); }
  | KW_IF expr KW_THEN expr error       { (void)$2; (void)$4; $$ = ast_expr_error(ctx, @$);
                                          ast_syntax_hint_missing(ctx, KW_ELSE, "expected 'else' and the value for a false condition: if c then a else b"); }
  | KW_IF expr error                    { (void)$2; $$ = ast_expr_error(ctx, @$);
                                          ast_syntax_hint_missing(ctx, KW_THEN, "expected 'then' after the condition of 'if c then a else b' (after a bare 'return', an 'if' is read as its value: a statement there would never run)"); }
  ;

postfix:
    primary                             { $$ = $1; }
  | postfix '.' any_name                { $$ = ast_expr_field(ctx, $1, $3, @3, @$); }
  | postfix '[' expr ']'                { $$ = ast_expr_index(ctx, $1, $3, @$); }
  ;

primary:
    const_lit                           { $$ = $1; }
  | DURATION                            { $$ = ast_expr_duration(ctx, $1, @1); }
  | IDENT %prec REPLY_STATUS            { $$ = ast_expr_name(ctx, $1, @1); }
  | root_name                           { $$ = ast_expr_name(ctx, $1, @1); }
  | IDENT '(' list_items ')'            { $$ = ast_expr_call(ctx, $1, $3, @$); }
  | KW_JSON '(' list_items ')'          { $$ = ast_expr_call(ctx, "json", $3, @$); }
  | '(' expr ')'                        { $$ = $2; }
  | '(' error ')'                       { $$ = ast_expr_error(ctx, @$); yyerrok; }
  ;

/* Keywords that may start a reference. */
root_name:
    KW_TRIGGER                          { $$ = "trigger"; }
  | KW_SETTINGS                         { $$ = "settings"; }
  | KW_SECRET                           { $$ = "secret"; }
  | KW_ENV                              { $$ = "env"; }
  | KW_HEADERS                          { $$ = "headers"; }
  | KW_BODY                             { $$ = "body"; }
  | KW_QUERY                            { $$ = "query"; }
  ;

const_lit:
    number                              { $$ = $1; }
  | string_lit                          { $$ = $1; }
  | KW_TRUE                             { $$ = ast_expr_bool(ctx, true, @1); }
  | KW_FALSE                            { $$ = ast_expr_bool(ctx, false, @1); }
  | KW_NULL                             { $$ = ast_expr_null(ctx, @1); }
  | list                                { $$ = $1; }
  | object                              { $$ = $1; }
  ;

number:
    INT                                 { $$ = ast_expr_int(ctx, $1, @1); }
  | FLOAT                               { $$ = ast_expr_float(ctx, $1, @1); }
  ;

list:
    '[' list_items ']'                  { $$ = ast_expr_list(ctx, $2, @$); }
  | '[' error                           { ast_syntax_hint_comma(ctx, ']', "list items"); }
    ']'                                 { $$ = ast_expr_error(ctx, @$); yyerrok; }
  ;

list_items:
    %empty                              { $$ = ast_list_new(ctx); }
  | expr_list opt_comma                 { $$ = $1; }
  ;

expr_list:
    expr                                { $$ = ast_list_one(ctx, $1); }
  | expr_list ',' expr                  { $$ = ast_list_push(ctx, $1, $3); }
  ;

object:
    '{' members '}'                     { $$ = ast_expr_object(ctx, $2, @$); }
  | '{' error                           { ast_syntax_hint_comma(ctx, '}', "object members"); }
    '}'                                 { $$ = ast_expr_error(ctx, @$); yyerrok; }
  ;

members:
    %empty                              { $$ = ast_list_new(ctx); }
  | member_list opt_comma               { $$ = $1; }
  ;

member_list:
    member                              { $$ = ast_list_one(ctx, $1); }
  | member_list ',' member              { $$ = ast_list_push(ctx, $1, $3); }
  ;

member:
    any_name ':' expr                   { $$ = ast_member_new(ctx, $1, @1, $3); }
  | string_lit ':' expr                 { $$ = ast_member_str(ctx, $1, $3); }
  ;

string_lit:
    STR_BEGIN str_parts STR_END         { $$ = ast_expr_string_parts(ctx, $2, @$); }
  ;

str_parts:
    %empty                              { $$ = ast_list_new(ctx); }
  | str_parts STR_TEXT                  { $$ = ast_list_push(ctx, $1, ast_expr_string(ctx, $2, @2)); }
  | str_parts INTERP_OPEN expr INTERP_CLOSE
                                        { $$ = ast_list_push(ctx, $1, $3); }
  | str_parts INTERP_OPEN error        { ast_syntax_hint_after(ctx, INTERP_OPEN, "expected an expression inside {{ }}"); }
    INTERP_CLOSE                        { $$ = $1; yyerrok; }
  ;

any_name:
    IDENT               { $$ = $1; }
  | KW_WORKFLOW        { $$ = "workflow"; }
  | KW_IMPORT          { $$ = "import"; }
  | KW_SETTINGS        { $$ = "settings"; }
  | KW_SECRETS         { $$ = "secrets"; }
  | KW_SECRET          { $$ = "secret"; }
  | KW_TRIGGER         { $$ = "trigger"; }
  | KW_EVENT           { $$ = "event"; }
  | KW_REQUEST         { $$ = "request"; }
  | KW_SCHEDULE        { $$ = "schedule"; }
  | KW_ENABLED         { $$ = "enabled"; }
  | KW_INTEGRATION     { $$ = "integration"; }
  | KW_ACTION          { $$ = "action"; }
  | KW_AUTH            { $$ = "auth"; }
  | KW_BEARER          { $$ = "bearer"; }
  | KW_BASIC           { $$ = "basic"; }
  | KW_HEADER          { $$ = "header"; }
  | KW_OAUTH2          { $$ = "oauth2"; }
  | KW_STEP            { $$ = "step"; }
  | KW_FUNCTION        { $$ = "function"; }
  | KW_FANOUT          { $$ = "fanout"; }
  | KW_IN              { $$ = "in"; }
  | KW_CONCURRENCY     { $$ = "concurrency"; }
  | KW_IF              { $$ = "if"; }
  | KW_ELSE            { $$ = "else"; }
  | KW_RETURN          { $$ = "return"; }
  | KW_FAIL            { $$ = "fail"; }
  | KW_LOG             { $$ = "log"; }
  | KW_WAIT            { $$ = "wait"; }
  | KW_UNTIL           { $$ = "until"; }
  | KW_TRUE            { $$ = "true"; }
  | KW_FALSE           { $$ = "false"; }
  | KW_NULL            { $$ = "null"; }
  | KW_TEST            { $$ = "test"; }
  | KW_TESTS           { $$ = "tests"; }
  | KW_FOR             { $$ = "for"; }
  | KW_MOCK            { $$ = "mock"; }
  | KW_EXPECT          { $$ = "expect"; }
  | KW_ENV             { $$ = "env"; }
  | KW_THEN            { $$ = "then"; }
  | KW_TIMES           { $$ = "times"; }
  | KW_DELAY           { $$ = "delay"; }
  | KW_HEADERS         { $$ = "headers"; }
  | KW_QUERY           { $$ = "query"; }
  | KW_JSON            { $$ = "json"; }
  | KW_FORM            { $$ = "form"; }
  | KW_BODY            { $$ = "body"; }
  | KW_RETURNS         { $$ = "returns"; }
  | KW_ACCEPT          { $$ = "accept"; }
  | KW_PAGINATE        { $$ = "paginate"; }
  | KW_CURSOR          { $$ = "cursor"; }
  | KW_PAGE            { $$ = "page"; }
  | KW_LINK            { $$ = "link"; }
  | KW_MAX             { $$ = "max"; }
  | KW_TIMEOUT         { $$ = "timeout"; }
  | KW_RETRY           { $$ = "retry"; }
  | KW_BACKOFF         { $$ = "backoff"; }
  | KW_ON              { $$ = "on"; }
  | KW_FAILURE         { $$ = "failure"; }
  | KW_CONTINUE        { $$ = "continue"; }
  | KW_USER            { $$ = "user"; }
  | KW_LET             { $$ = "let"; }
  ;

%%

static ptrdiff_t flow_tnamerr(char *yyres, const char *yystr)
{
    size_t n = strlen(yystr);
    if (n >= 2 && yystr[0] == '"' && yystr[n - 1] == '"') {
        yystr++;
        n -= 2;
    }
    if (yyres) {
        memcpy(yyres, yystr, n);
        yyres[n] = 0;
    }
    return (ptrdiff_t)n;
}

static void yyerror(YYLTYPE *loc, yyscan_t scanner, parse_ctx *ctx, const char *msg)
{
    (void)scanner;
    ast_syntax_error(ctx, *loc, msg);
}

ast_file *ast_parse_file(ast_program *prog, int file_id)
{
    parse_ctx *ctx = xcalloc(1, sizeof *ctx);
    ast_parse_begin(ctx, prog, file_id);
    yyscan_t scanner;
    if (yylex_init_extra(ctx, &scanner) != 0) {
        fprintf(stderr, "flowc: out of memory starting the lexer\n");
        abort();
    }
    ctx->scanner = scanner;
    /* yy_scan_bytes, not a string: NUL bytes must not end the input */
    YY_BUFFER_STATE buf = yy_scan_bytes(ctx->text + ctx->pos, ctx->len - ctx->pos, scanner);
    yyparse(scanner, ctx);
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    ast_file *f = ast_parse_end(ctx);
    free(ctx);
    return f;
}
