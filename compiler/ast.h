/*
** ast.h — the abstract syntax tree of .flow files, and the types it carries.
**
** Ownership: every node, string and type of a compilation is allocated in
** the arena of its ast_program and freed with it (ast_program_free). No node
** is ever freed alone, so nodes may be shared freely between trees.
**
** The parser (grammar/parser.y) builds the tree through the ast_new_* /
** ast_* constructors below, one call per grammar action. The checker
** (check.c) fills the fields marked "checker:"; the emitter reads them.
*/
#ifndef FLOWC_AST_H
#define FLOWC_AST_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "util.h"

typedef struct ast_type ast_type;
typedef struct ast_field ast_field;
typedef struct ast_expr ast_expr;
typedef struct ast_stmt ast_stmt;
typedef struct ast_block ast_block;
typedef struct ast_step ast_step;
typedef struct ast_request ast_request;
typedef struct ast_arg ast_arg;
typedef struct ast_integration ast_integration;
typedef struct ast_action ast_action;
typedef struct ast_test ast_test;
typedef struct ast_mock ast_mock;
typedef struct ast_file ast_file;
typedef struct ast_program ast_program;

/* ---- types ------------------------------------------------------------ */

typedef enum ast_type_kind {
    TY_ERROR,       /* an erroneous type: silences follow-on errors */
    TY_NULL,        /* the type of the literal null */
    TY_STRING,
    TY_INT,
    TY_FLOAT,
    TY_BOOL,
    TY_JSON,        /* dynamic: any access allowed, checked at run time */
    TY_LIST,        /* elem */
    TY_OBJECT,      /* fields */
    TY_OPTIONAL,    /* elem? */
    TY_DURATION,    /* literal durations (wait, timeouts) */
} ast_type_kind;

/* A named field: in object types, settings, trigger schemas, action and
** function parameters. deflt is the default value (settings, action
** params) or NULL. */
struct ast_field {
    const char *name;
    src_loc loc;            /* of the name */
    ast_type *type;
    ast_expr *deflt;
};

struct ast_type {
    ast_type_kind kind;
    src_loc loc;            /* where written; {0,0,0} for built-in types */
    ast_type *elem;         /* TY_LIST, TY_OPTIONAL */
    ast_field **fields;     /* TY_OBJECT, in declaration order */
    int nfields;
};

/* Shared instances of the primitive types (no location). */
extern ast_type ast_type_error, ast_type_null, ast_type_string, ast_type_int,
    ast_type_float, ast_type_bool, ast_type_json, ast_type_duration;

/* ---- expressions ------------------------------------------------------ */

typedef enum ast_expr_kind {
    EX_NULL,
    EX_BOOL,        /* bval */
    EX_INT,         /* ival */
    EX_FLOAT,       /* fval */
    EX_DURATION,    /* ival = milliseconds */
    EX_STRING,      /* sval: a string with no interpolation (escapes decoded) */
    EX_INTERP,      /* items: EX_STRING pieces and expressions, in order */
    EX_NAME,        /* name: an identifier (or trigger/settings/secret/env...) */
    EX_FIELD,       /* a.name */
    EX_INDEX,       /* a[b] */
    EX_CALL,        /* name(items...): built-in functions such as len() */
    EX_LIST,        /* [items...] */
    EX_OBJECT,      /* { keys[i]: items[i], ... } */
    EX_UNARY,       /* op a: OP_NOT, OP_NEG */
    EX_BINARY,      /* a op b */
    EX_COND,        /* if items[0] then items[1] else items[2] */
} ast_expr_kind;

/* Operators, from the table the runtime expands too (runtime/flow_ops.def):
** OP_OR, OP_AND, OP_NOT, OP_EQ ... OP_COALESCE (??) ... OP_NEG. */
typedef enum ast_op {
    OP_NONE,
#define FLOW_OP(name, text, operands) OP_##name,
#include "flow_ops.def"
#undef FLOW_OP
} ast_op;

/* Built-in functions, from the table the runtime expands too
** (runtime/flow_builtins.def): FN_len, FN_lower, ... The checker resolves
** each call's name to one (FN_NONE: unknown, or not checked yet). */
typedef enum ast_fn {
    FN_NONE,
#define FLOW_BUILTIN(name, min, max, signature, doc) FN_##name,
#include "flow_builtins.def"
#undef FLOW_BUILTIN
} ast_fn;

/* What a name at the root of a reference resolves to (checker:). */
typedef enum ast_ref_kind {
    REF_NONE,
    REF_TRIGGER,    /* trigger */
    REF_SETTINGS,   /* settings */
    REF_SECRET,     /* secret */
    REF_ENV,        /* env */
    REF_RUN,        /* run */
    REF_STEP,       /* a step: ref_step */
    REF_VAR,        /* a fanout variable: ref_step is the fanout */
    REF_PARAM,      /* an action parameter (inside an action body) */
    REF_RESPONSE,   /* status/headers/body inside fail when / paginate */
    REF_OUTPUT,     /* output / status in a test's expect */
} ast_ref_kind;

struct ast_expr {
    ast_expr_kind kind;
    src_loc loc;
    ast_op op;
    bool bval;
    int64_t ival;
    double fval;
    const char *sval;       /* EX_STRING value (decoded, NUL-terminated; may hold
                               embedded NULs only via \u{0}, which is rejected) */
    const char *name;       /* EX_NAME, EX_FIELD (the field), EX_CALL (the function) */
    src_loc name_loc;       /* EX_FIELD: location of the field name */
    ast_expr *a, *b;        /* operands; EX_FIELD/EX_INDEX base is a */
    ast_expr **items;       /* EX_INTERP, EX_CALL args, EX_LIST, EX_OBJECT values */
    const char **keys;      /* EX_OBJECT keys */
    src_loc *key_locs;      /* EX_OBJECT key locations */
    int nitems;
    int depth;              /* nesting depth of this expression (parser) */

    /* checker: */
    ast_type *type;         /* the expression's static type */
    ast_ref_kind ref;       /* EX_NAME: what the root name resolved to */
    ast_step *ref_step;     /* REF_STEP / REF_VAR: the step */
    ast_field *ref_param;   /* REF_PARAM */
    ast_fn fn;              /* EX_CALL: the built-in called */
};

/* ---- steps and statements --------------------------------------------- */

typedef enum ast_step_kind {
    STEP_REQUEST,   /* req */
    STEP_ACTION,    /* integ.op(args) */
    STEP_FUNCTION,  /* function (params) -> out_type {% c_code %} */
    STEP_FANOUT,    /* fanout var in list concurrency K { body } */
    STEP_LET,       /* let NAME = value: a named value, no checkpoint (not a step at
                       run time; it shares the steps' names, scopes and indexes) */
} ast_step_kind;

/* A name: value pair: action arguments, function parameters, test
** secrets/env. */
struct ast_arg {
    const char *name;
    src_loc loc;            /* of the name */
    ast_expr *value;
    ast_type *ctype;        /* checker: function params: the value's type */
};

typedef enum ast_paginate_kind {
    PAGE_NONE,
    PAGE_CURSOR,    /* paginate ITEMS cursor SRC -> TARGET */
    PAGE_PAGE,      /* paginate ITEMS page TARGET */
    PAGE_LINK,      /* paginate ITEMS link */
} ast_paginate_kind;

/* Where a cursor or page number goes in the next request. */
typedef enum ast_page_target {
    TARGET_QUERY,   /* query.NAME */
    TARGET_JSON,    /* json.NAME: a field of the JSON body (POST search APIs) */
    TARGET_URL,     /* url: the cursor is the next URL (absolute or path) */
} ast_page_target;

typedef struct ast_status_match {
    int code;               /* 404, or 4 for "4xx" */
    bool is_class;          /* true for "4xx" */
    src_loc loc;
} ast_status_match;

struct ast_request {
    const char *method;     /* upper-case: GET POST PUT PATCH DELETE HEAD OPTIONS */
    src_loc method_loc;
    ast_expr *url;          /* string or interpolation */
    ast_expr *headers;      /* EX_OBJECT or NULL */
    ast_expr *query;        /* EX_OBJECT or NULL */
    ast_expr *json;         /* any expression or NULL */
    ast_expr *form;         /* EX_OBJECT or NULL */
    ast_expr *body;         /* raw body string or NULL */
    ast_type *returns;      /* declared body type or NULL (json) */
    src_loc returns_loc;
    ast_status_match *accept;
    int naccept;
    ast_expr *fail_when;    /* over status, headers, body; or NULL */

    ast_paginate_kind paginate;
    src_loc paginate_loc;
    const char **page_items;    /* path below body of each page's item list */
    int npage_items;            /*   ("items" for `paginate items ...`) */
    ast_expr *page_cursor;      /* PAGE_CURSOR: source, e.g. body.next */
    ast_page_target page_target;
    const char *page_param;     /* TARGET_QUERY / TARGET_JSON: the name */
    int64_t page_max;           /* max pages; 0 = default (100) */

    /* checker: */
    ast_integration *integ; /* set for action bodies */
    ast_type *page_elem;    /* element type of the items list */
    const char *url_modes;  /* a URL template (url is EX_INTERP): how each
                               part goes in, one letter of runtime/rt_url.h
                               per part; else NULL */
    ast_expr **url_parts;   /* its parts: url's items, url_encode(x) and
                               url_path(x) given as x */
};

struct ast_step {
    ast_step_kind kind;
    const char *name;
    src_loc loc;            /* the whole `step N = ...` head */
    src_loc name_loc;

    ast_request *req;       /* STEP_REQUEST */

    const char *integ;      /* STEP_ACTION: integ.op(args) */
    const char *op;
    src_loc call_loc;
    ast_arg **args;
    int nargs;

    ast_arg **params;       /* STEP_FUNCTION: (name: expr, ...) */
    int nparams;
    ast_type *out_type;     /*   -> T */
    const char *c_code;     /*   text between {% and %} */
    src_loc c_loc;          /*   location of the C text (after {%) */

    const char *var;        /* STEP_FANOUT: fanout var in list */
    src_loc var_loc;
    ast_expr *list;
    int64_t concurrency;    /*   0 = default */
    ast_block *body;

    ast_expr *value;        /* STEP_LET: let NAME = value */

    int64_t call_max;       /* STEP_ACTION: `max N` at the call (pages of a paginated
                               action); 0 = the action's own */
    src_loc call_max_loc;

    /* the clauses as written, in order: what `flowc fmt` prints back; the
    ** fields below hold their effect */
    struct ast_clause **clauses;
    int nclauses;

    /* clauses common to every step (also allowed on actions) */
    int64_t timeout_ms;     /* 0 = default */
    int retries;            /* -1 = not given */
    int64_t backoff_ms;     /* 0 = default */
    int64_t max_backoff_ms; /* 0 = default */
    bool continue_on_failure;

    /* checker: */
    ast_type *out;          /* type of the step's output (before optional-izing) */
    ast_type *var_type;     /* STEP_FANOUT: type of var */
    ast_action *action;     /* STEP_ACTION: the resolved action */
    ast_step *parent_fanout;/* innermost enclosing fanout, or NULL */
    int index;              /* unique number of the step in the program */
    bool c_params_bad;      /* STEP_FUNCTION: a parameter's name was refused (reported):
                               its C is not compiled, it would only add noise */
    bool output_read;       /* some expression reads its output beyond len()
                               and .ok/.error (fanouts keep item returns only then) */
    bool headers_read;      /* some expression may read its output's headers: it
                               reads the output other than as .body, .status, .ok,
                               .error (requests make a headers object only then) */
};

typedef enum ast_clause_kind {
    CL_HEADERS, CL_QUERY, CL_JSON, CL_FORM, CL_BODY, CL_RETURNS, CL_ACCEPT,
    CL_FAIL_WHEN, CL_PAGINATE, CL_TIMEOUT, CL_RETRY, CL_CONTINUE,
    CL_MAX,         /* max N: pages of a paginated request or action call */
} ast_clause_kind;

/* Where `paginate` puts the next cursor/page: query.NAME, json.NAME, url. */
typedef struct ast_page_ref {
    ast_page_target target;
    const char *name;
    src_loc loc;
} ast_page_ref;

/* One clause after a step, as written: ast_step_clause applies it to the
** step's fields and keeps it in ast_step.clauses (flowc fmt prints them). */
typedef struct ast_clause {
    ast_clause_kind kind;
    src_loc loc;            /* of the keyword */
    ast_expr *expr;         /* headers query json form body fail-when; cursor source */
    ast_type *type;         /* returns */
    ptrvec *list;           /* accept: ast_status_match *; paginate: path names */
    ast_paginate_kind page;
    ast_page_ref *target;
    int64_t n;              /* retry count; paginate max; timeout ms */
    int64_t backoff_ms, max_ms;
} ast_clause;

typedef enum ast_stmt_kind {
    ST_STEP,
    ST_IF,
    ST_RETURN,
    ST_FAIL,
    ST_LOG,
    ST_WAIT,        /* wait DURATION (expr is EX_DURATION) or wait until expr */
    ST_LET,         /* let NAME = expr: step is the STEP_LET, expr its value */
} ast_stmt_kind;

struct ast_stmt {
    ast_stmt_kind kind;
    src_loc loc;            /* the keyword that starts the statement */
    src_loc span;           /* the whole statement, clauses and blocks included */
    ast_step *step;         /* ST_STEP */
    ast_expr **conds;       /* ST_IF: if/else-if conditions ... */
    ast_block **thens;      /*   ... and their blocks */
    int nbranches;
    ast_block *els;         /*   else block or NULL */
    ast_expr *expr;         /* ST_RETURN (may be NULL), ST_FAIL, ST_LOG, ST_WAIT, ST_LET */
    bool wait_until;        /* ST_WAIT: `wait until expr` */
    ast_expr *status;       /* ST_RETURN, ST_FAIL: `status E`, the HTTP status a request
                               trigger answers with, or NULL (200 / 500) */
    ast_expr *headers;      /*   `headers { ... }` (EX_OBJECT) of that answer, or NULL */
};

struct ast_block {
    src_loc loc;            /* from { to } */
    ast_stmt **stmts;
    int nstmts;
};

/* ---- declarations ----------------------------------------------------- */

typedef enum ast_trigger_kind {
    TRIG_NONE,
    TRIG_EVENT,     /* trigger event "name" schema? */
    TRIG_REQUEST,   /* trigger request schema? */
    TRIG_SCHEDULE,  /* trigger schedule "cron" ("zone")? */
    TRIG_ENABLED,   /* trigger enabled */
} ast_trigger_kind;

typedef struct ast_trigger {
    ast_trigger_kind kind;
    src_loc loc;
    const char *event;      /* TRIG_EVENT */
    ast_type *schema;       /* TY_OBJECT or NULL (no schema: payload is json) */
    const char *cron;       /* TRIG_SCHEDULE */
    src_loc cron_loc;
    const char *zone;       /* TRIG_SCHEDULE, NULL = UTC */
} ast_trigger;

typedef enum ast_auth_kind {
    AUTH_NONE,
    AUTH_BEARER,    /* auth bearer secret.X */
    AUTH_BASIC,     /* auth basic secret.USER secret.PASS */
    AUTH_HEADER,    /* auth header "X-Api-Key" secret.X */
    AUTH_OAUTH2,    /* auth oauth2 { token_url "...", refresh secret.R,
                                     client_id secret.I, client_secret secret.S } */
} ast_auth_kind;

/* A field of an integration's `connection { ... }` block: a plain value
** each user's connection to the integration holds (not a secret). */
typedef struct ast_conn_field {
    const char *name;
    src_loc loc;            /* of the name */
    ast_type *type;         /* string, int, bool, or one of them optional */
    bool base_url;          /* its value, when set, is the connection's base URL */
    bool from_token;        /* an OAuth2 token response's field of this name fills it */
    src_loc span;           /* the whole field, flags included */
} ast_conn_field;

struct ast_integration {
    const char *name;
    src_loc loc;
    ast_expr *base_url;     /* EX_STRING */
    ast_auth_kind auth;
    src_loc auth_loc;
    ast_expr *auth_secret;  /* bearer/header/basic user/oauth2 access token */
    ast_expr *auth_secret2; /* basic password; oauth2 refresh token */
    const char *auth_header;/* AUTH_HEADER: header name */
    ast_expr *oauth_token_url;
    ast_expr *oauth_client_id;
    ast_expr *oauth_client_secret;
    ast_conn_field **conn;  /* `connection { ... }` fields, or NULL */
    int nconn;
    src_loc conn_loc;       /* the `connection` block (start == end: none) */
    ast_file *file;         /* where declared */
};

struct ast_action {
    const char *integ;      /* NAME.op */
    const char *op;
    src_loc loc;
    ast_field **params;     /* may carry defaults; T? params are optional */
    int nparams;
    ast_type *out;          /* declared output type (the response body) */
    ast_step *body;         /* STEP_REQUEST with its clauses */
    ast_file *file;
    /* checker: */
    ast_integration *integration;
};

typedef struct ast_mock_response {
    int status;
    src_loc loc;
    ast_expr *body;         /* any literal expression, or NULL */
    ast_expr *headers;      /* EX_OBJECT or NULL */
} ast_mock_response;

struct ast_mock {
    src_loc loc;
    const char *method;
    const char *integ;      /* mock METHOD integ "path": or NULL */
    src_loc integ_loc;
    ast_expr *url;          /* EX_STRING */
    ast_mock_response **responses;  /* `-> R then R then R` */
    int nresponses;
    int times;              /* 0 = unlimited */
    int64_t delay_ms;
};

struct ast_test {
    const char *name;
    src_loc loc;
    ast_expr *event;        /* payload literal or NULL */
    ast_expr *settings;     /* EX_OBJECT or NULL */
    const char *user;       /* `user "id"` or NULL */
    src_loc user_loc;       /*   of its keyword */
    ast_arg **secrets;      /* secret NAME = expr */
    int nsecrets;
    ast_arg **env;          /* env NAME = expr */
    int nenv;
    ast_mock **mocks;
    int nmocks;
    ast_expr **expects;
    int nexpects;
    ast_file *file;
};

typedef struct ast_import {
    const char *path;       /* as written: "slack" or "./x.flow" */
    src_loc loc;
    ast_file *file;         /* resolved file (imports.c) */
} ast_import;

/* A top-level item of a file, in source order: the file's layout, for
** `flowc fmt`, document symbols and positions in the editor. */
typedef enum ast_top_kind {
    TOP_WORKFLOW,       /* node NULL: the file's workflow_* fields */
    TOP_TESTS_FOR,      /* node NULL: tests_for */
    TOP_IMPORT,         /* ast_import */
    TOP_SETTINGS,       /* node NULL: settings[first .. first+count) */
    TOP_SECRETS,        /* node NULL: secrets[first .. first+count) */
    TOP_TRIGGER,        /* ast_trigger */
    TOP_INTEGRATION,    /* ast_integration */
    TOP_ACTION,         /* ast_action */
    TOP_STMT,           /* ast_stmt */
    TOP_TEST,           /* ast_test */
} ast_top_kind;

typedef struct ast_top {
    ast_top_kind kind;
    src_loc span;           /* the whole item; after a syntax error inside it (the
                               grammar gave up on the item), up to the next one */
    void *node;
    int first, count;       /* TOP_SETTINGS, TOP_SECRETS */
} ast_top;

/* One parsed .flow file. Everything is kept in source order. */
struct ast_file {
    int file_id;            /* index in the diag_ctx */
    const char *path;
    diag_ctx *diag;         /* borrowed: turns locations into line:col (dumps) */

    bool has_workflow;
    const char *workflow;   /* workflow NAME */
    const char *description;
    src_loc workflow_loc;

    const char *tests_for;  /* `tests for "./x.flow"` files; else NULL */
    src_loc tests_for_loc;

    ast_import **imports;
    int nimports;
    ast_field **settings;   /* all settings blocks, concatenated */
    int nsettings;
    ast_arg **secrets;      /* declared secrets (value unused) */
    int nsecrets;
    ast_trigger **triggers; /* more than one is an error the checker reports */
    int ntriggers;
    ast_integration **integrations;
    int nintegrations;
    ast_action **actions;
    int nactions;
    ast_block *body;        /* top-level statements, in order */
    ast_test **tests;
    int ntests;

    ast_top *tops;          /* every top-level item, in order */
    int ntops;
    src_loc *comments;      /* every `#` comment (its span, `#` included), in order */
    int ncomments;
};

/* A compilation: the main file, everything it imports, and the arena that
** owns them all. */
struct ast_program {
    arena arena;
    diag_ctx *diag;         /* borrowed */
    ast_file *main;         /* the workflow file (or a tests-for file's target) */
    ast_file **files;       /* every parsed file, main first */
    int nfiles;
    ast_file *tests_file;   /* a `tests for` file given on the command line */
    const char **stdlib_modules;    /* names of the stdlib modules, sorted (arena) */
    int nstdlib_modules;
    bool library_ok;        /* set by check and the editor: a main file of integrations and
                               actions only is checked as a library, not as a workflow
                               missing its declaration (build, run, test and graph need one) */

    /* checker: the merged view of every file */
    ast_integration **integrations;
    int nintegrations;
    ast_action **actions;
    int nactions;
    ast_step **steps;       /* every step, by ast_step.index */
    int nsteps;
    ast_type *output_type;  /* type of the run's return value */
};

/* ---- the parser's entry point (grammar/parser.y) ---------------------- */

/* Parse the registered file `file_id` of prog->diag into a new ast_file
** allocated in prog->arena. Syntax errors are reported to prog->diag; the
** parser recovers and keeps going, so the result is never NULL but may be
** partial when errors were reported. */
ast_file *ast_parse_file(ast_program *prog, int file_id);

/* ---- constructors (ast.c), one per grammar action ---------------------- */
/* All allocate in prog->arena. Declared in ast_build.h, which only the
** parser and ast.c include. */

/* ---- utilities --------------------------------------------------------- */

void ast_program_init(ast_program *prog, diag_ctx *diag);
void ast_program_free(ast_program *prog);

/* Write a readable dump of a file's tree (flowc check --dump-ast). */
void ast_dump_file(const ast_file *f, FILE *out);
/* Format a type as it would be written in .flow ("{ a: int, b: [string]? }"),
** allocated in a. */
const char *ast_type_str(arena *a, const ast_type *t);
const char *ast_op_str(ast_op op);

#endif
