/*
** flowrt.h — [base] the interface between generated workflow code and the runtime.
**
** flowc's emitter (compiler/emit.c) writes C that includes this header and
** is compiled by libtcc; everything here is implemented in libflowrt.a,
** compiled by gcc -O2. Generated code is glue: it evaluates expressions
** through rt_* helpers and hands each step to the runtime, which executes,
** retries, validates and checkpoints it.
**
** Execution model: deterministic replay. The workflow body is a C function
** run from the top every time a run is started or resumed; a step whose
** output is already committed in LMDB returns it without executing again.
** Conditions only read committed values, so a replay takes the same path.
** A run that must stop (failed step, wait, interruption) unwinds by
** returning RT_STOP from the body; the runtime records why.
**
** What the compiler knows crosses as static data it emits, never as text
** to parse or a name to look up: types are rt_type structures, a step is
** referred to by its descriptor (a depth and a slot resolved at compile
** time), operators and built-ins are enums from the tables flow_ops.def and
** flow_builtins.def, which the compiler expands too (docs/architecture.md,
** "The boundary with generated code").
**
** Ownership: every json_t * that an rt_* function returns is BORROWED and
** owned by the rt_ctx it was made in (a per-run or per-fanout-item pool
** released when that context ends). Generated code never increfs or
** decrefs. Values passed in are borrowed as well.
*/
#ifndef FLOWRT_H
#define FLOWRT_H

#include "flow.h"

typedef struct rt_ctx rt_ctx;           /* a run, or one fanout item of it */
typedef struct rt_result rt_result;     /* a step's outcome, owned by the ctx */

/* Body functions return one of these. */
enum { RT_OK = 0, RT_STOP = 1 };

/* ---- static descriptions emitted by flowc ------------------------------ */

/* A type, as static data: flowc emits one descriptor per distinct type of
** the program (T_<n>), object fields in declaration order. A NULL type
** stands for json (anything). rt_type.h checks values against them. */
typedef enum rt_type_kind {
    RT_TYPE_JSON, RT_TYPE_STRING, RT_TYPE_INT, RT_TYPE_FLOAT, RT_TYPE_BOOL, RT_TYPE_NULL,
    RT_TYPE_LIST,               /* [elem] */
    RT_TYPE_OPT,                /* elem? : elem or null */
    RT_TYPE_OBJECT              /* { fields }: other fields may be present */
} rt_type_kind;

typedef struct rt_type rt_type;
typedef struct rt_type_field {
    const char *name;
    const rt_type *type;
} rt_type_field;

struct rt_type {
    rt_type_kind kind;
    const rt_type *elem;            /* RT_TYPE_LIST, RT_TYPE_OPT */
    const rt_type_field *fields;    /* RT_TYPE_OBJECT */
    int nfields;
};

typedef enum rt_auth_kind { RT_AUTH_NONE, RT_AUTH_BEARER, RT_AUTH_BASIC,
                            RT_AUTH_HEADER, RT_AUTH_OAUTH2 } rt_auth_kind;

/* A plain field of a user's connection to an integration (`connection {
** instance_url: string? base_url from_token }`). */
typedef struct rt_conn_field {
    const char *name;
    const rt_type *type;        /* or NULL: json */
    bool base_url;              /* its value, when set, is the connection's base URL */
    bool from_token;            /* filled from an OAuth2 token response's field of this name */
} rt_conn_field;

typedef struct rt_integration {
    const char *name;           /* "slack": FLOW_SLACK_BASE_URL overrides base_url */
    const char *base_url;
    rt_auth_kind auth;
    const char *secret;         /* bearer/header token, basic user, oauth2 access token */
    const char *secret2;        /* basic password, oauth2 refresh token */
    const char *header;         /* RT_AUTH_HEADER header name */
    const char *token_url;      /* oauth2 */
    const char *client_id_secret;     /* oauth2: names of secrets */
    const char *client_secret_secret;
    const rt_conn_field *fields;/* per-connection plain fields, or NULL */
    int nfields;
} rt_integration;

typedef enum rt_step_kind { RT_STEP_REQUEST, RT_STEP_FUNCTION, RT_STEP_FANOUT, RT_STEP_LET } rt_step_kind;
typedef enum rt_page_kind { RT_PAGE_NONE, RT_PAGE_CURSOR, RT_PAGE_PAGE, RT_PAGE_LINK } rt_page_kind;
typedef enum rt_page_target { RT_TARGET_QUERY, RT_TARGET_JSON, RT_TARGET_URL } rt_page_target;

/* Evaluated over a response { status, headers, body } (borrowed). */
typedef bool (*rt_fail_when_fn)(rt_ctx *c, json_t *response);
typedef json_t *(*rt_cursor_fn)(rt_ctx *c, json_t *response);
/* A function step: params is the object of named parameters. Returns a
** new reference, or NULL after flow_fail/flow_retry. */
typedef json_t *(*rt_function_fn)(const json_t *params);
/* A fanout item body: runs in its own item context; ends with rt_return. */
typedef int (*rt_item_fn)(rt_ctx *item, json_t *value);

/* A step. Its result is kept in the context that ran it (the run's, or one
** fanout item's) at a slot the compiler numbered: a reference to it is its
** descriptor (rt_step_result), never its name. */
typedef struct rt_step_desc {
    const char *name;           /* step name; the checkpoint path adds fanout items */
    rt_step_kind kind;
    int line;                   /* .flow line of the step, for messages */
    int depth;                  /* the fanouts around it: 0 in the workflow body */
    int slot;                   /* its result's slot in its context: 0 .. slots-1 of
                                   the workflow (depth 0) or of the fanout around it */
    const rt_integration *integ;/* actions: base URL and auth; else NULL */
    const char *method;         /* request: GET, POST, ... */
    const char *url_modes;      /* request: the URL is a template of parts, each put in
                                   as its letter here says (rt_url.h); NULL: a string */
    bool body_output;           /* actions: the output is the response body,
                                   not { status, headers, body } */
    bool headers_unread;        /* request: no expression reads the headers of its
                                   output (only .body, .status, .ok, .error): they
                                   are kept as text for its record, no object made */
    const rt_type *out_type;    /* request: body type (returns/action type) or NULL;
                                   function: declared output type */
    /* request clauses */
    const int *accept;          /* statuses not failures: 404, or 4 for 4xx; 0-terminated */
    rt_fail_when_fn fail_when;  /* or NULL */
    rt_page_kind paginate;
    const char *const *page_items;  /* path below body, NULL-terminated */
    rt_cursor_fn page_cursor;
    rt_page_target page_target;
    const char *page_param;
    int page_max;               /* 0 = 100 */
    /* step clauses */
    long timeout_ms;            /* 0 = default (30 s for requests) */
    int retries;                /* -1 = default (no retries) */
    long backoff_ms;            /* 0 = 1000 */
    long max_backoff_ms;        /* 0 = 300000 */
    bool continue_on_failure;
    int concurrency;            /* fanout; 0 = 8 */
    const char *var;            /* fanout: the item variable's name, for messages */
    int slots;                  /* fanout: the slots of an item's context (the
                                   steps of its body, outside nested fanouts) */
    bool output_unread;         /* fanout: no expression reads the items of its
                                   output (only len() or .ok/.error): item
                                   returns are neither kept nor stored */
} rt_step_desc;

typedef enum rt_trigger_kind { RT_TRIG_EVENT, RT_TRIG_REQUEST, RT_TRIG_SCHEDULE,
                               RT_TRIG_ENABLED } rt_trigger_kind;

typedef struct rt_setting {
    const char *name;
    const rt_type *type;        /* or NULL: json */
    const char *default_json;   /* JSON text of the default, or NULL = required */
} rt_setting;

typedef struct rt_workflow {
    const char *name;
    const char *description;
    const char *version;        /* hash of the compiled sources */
    rt_trigger_kind trigger;
    const char *event;          /* RT_TRIG_EVENT */
    const rt_type *trigger_schema;  /* or NULL: any JSON */
    const char *cron, *zone;    /* RT_TRIG_SCHEDULE */
    const rt_setting *settings; int nsettings;
    const char *const *secrets; int nsecrets;   /* declared + needed by integrations */
    const rt_type *output_type; /* or NULL: not declared */
    int (*body)(rt_ctx *c);
    int slots;                  /* the slots of the run's context (rt_step_desc.slot) */
    const char *source_path;    /* main .flow file, for messages */
    const rt_integration *const *integrations;  /* those its steps call */
    int nintegrations;
} rt_workflow;

/* Every workflow of a project, built into one binary with one state. */
typedef struct rt_project {
    const char *name;           /* names the state (./NAME.state) and the binary in messages */
    const rt_workflow *const *workflows;
    int nworkflows;
} rt_project;

/* The job binary's main: `int main(int c, char **v) { return
** rt_project_main(&PROJECT, c, v); }`; rt_main is a project of one. */
int rt_project_main(const rt_project *project, int argc, char **argv);
int rt_main(const rt_workflow *wf, int argc, char **argv);

/* ---- steps ------------------------------------------------------------- */

/* Each returns the step's result, or NULL when the run must stop (the body
** then returns RT_STOP). A failed step with continue_on_failure returns a
** result whose ok is false. A request's method is desc->method; `url` is
** relative to desc->integ's base when set, a string, or with
** desc->url_modes the list of a URL template's parts, which the runtime
** assembles, encoding each value where it stands (rt_url.h; a value it
** refuses fails the step). headers, query and form are objects, json and
** body values; each is NULL when the request has no such clause. */
rt_result *rt_request(rt_ctx *c, const rt_step_desc *desc, json_t *url, json_t *headers, json_t *query,
                      json_t *json, json_t *form, json_t *body);
rt_result *rt_function(rt_ctx *c, const rt_step_desc *desc, json_t *params,
                       rt_function_fn fn);
rt_result *rt_fanout(rt_ctx *c, const rt_step_desc *desc, json_t *list,
                     rt_item_fn item);
/* Test Step (`flowc run --step NAME --input FILE`): the result of a step
** other than NAME, taken from --input (or "not run" when it is not there),
** checked BEFORE the step's arguments are evaluated, so an env var or secret
** only that skipped step uses need not be set. NULL: evaluate the arguments
** and call the step (always outside Test Step). */
rt_result *rt_step_given(rt_ctx *c, const rt_step_desc *desc);

/* The result of `step` in c or the enclosing context at its depth (a
** fanout item sees the steps of the run before the fanout), or NULL when
** it has not run. Every step's result is recorded in its ctx at its slot:
** no name is looked up. */
rt_result *rt_step_result(rt_ctx *c, const rt_step_desc *step);
/* The value of the item variable of `fanout`, from the item context c is
** in (c itself or an enclosing one). */
json_t *rt_var(rt_ctx *c, const rt_step_desc *fanout);
/* let NAME = value: kept in c at the let's slot (its descriptor, kind
** RT_STEP_LET), where rt_step_result finds it (as a result that is ok, with
** value as output). RT_STOP when the run must stop (an expression error
** pending). */
int rt_let(rt_ctx *c, const rt_step_desc *let, json_t *value);

json_t *rt_result_out(rt_result *r);        /* output, json null if the step failed */
/* rt_field(c, rt_result_out(r), name), what `step.body` and `step.status`
** compile to: a request's output whose headers nothing reads is kept in
** parts, and its fields are read without making the whole. */
json_t *rt_result_field(rt_ctx *c, rt_result *r, const char *name);
bool rt_result_ok(rt_result *r);
json_t *rt_result_error(rt_result *r);      /* string, or null when ok */

/* ---- statements -------------------------------------------------------- */
int  rt_return(rt_ctx *c, json_t *value);   /* records the output; returns RT_STOP */
int  rt_fail(rt_ctx *c, json_t *message);   /* fails the run; returns RT_STOP */
/* The same, with the HTTP answer of a request trigger: status (an int
** from 100 to 599) and headers (an object of strings), each NULL when not
** given; a bad one fails the run naming `line`. */
int  rt_return_reply(rt_ctx *c, json_t *value, json_t *status, json_t *headers, int line);
int  rt_fail_reply(rt_ctx *c, json_t *message, json_t *status, json_t *headers, int line);
void rt_log(rt_ctx *c, json_t *value, int line);
/* Durable waits: RT_OK to go on, RT_STOP when the run suspends. `id` names
** the wait for its checkpoint ("wait@LINE"). */
int  rt_wait(rt_ctx *c, const char *id, long ms);
int  rt_wait_until(rt_ctx *c, const char *id, json_t *when);

/* ---- values ------------------------------------------------------------ */
json_t *rt_trigger(rt_ctx *c);              /* the payload */
json_t *rt_settings(rt_ctx *c);             /* object of every setting */
json_t *rt_env(rt_ctx *c, const char *name);        /* string; unset raises */
json_t *rt_secret(rt_ctx *c, const char *name);     /* string */
json_t *rt_run(rt_ctx *c);                  /* { id, user, attempt } */
/* For test blocks (`expect output.x`, `expect status == "failed"`): the
** run's return value (null until it returned) and its status string. */
json_t *rt_run_output(rt_ctx *c);
json_t *rt_run_status(rt_ctx *c);

json_t *rt_null(void);
json_t *rt_bool(bool b);
json_t *rt_int(rt_ctx *c, int64_t v);
json_t *rt_float(rt_ctx *c, double v);
json_t *rt_str(rt_ctx *c, const char *s);
/* A literal: made once per process into *slot (a static of the generated
** code) and shared by every run and thread; released when rt_main returns. */
json_t *rt_strk(json_t **slot, const char *s);
json_t *rt_intk(json_t **slot, int64_t v);
json_t *rt_list(rt_ctx *c, int n, ...);             /* n values */
json_t *rt_object(rt_ctx *c, int n, ...);           /* n pairs: const char *key, json_t *value */
/* Large literals item by item: list and obj made by rt_list/rt_object. */
void rt_list_add(rt_ctx *c, json_t *list, json_t *v);
void rt_object_add(rt_ctx *c, json_t *obj, const char *key, json_t *v);

json_t *rt_field(rt_ctx *c, json_t *v, const char *name);   /* null when absent */
json_t *rt_index(rt_ctx *c, json_t *v, json_t *index);      /* list[int], object[string] */

/* Operator codes for rt_binary / rt_unary, from the table the compiler
** uses too (flow_ops.def): generated code names them (RT_OP_ADD). */
typedef enum rt_op {
    RT_OP_NONE,
#define FLOW_OP(name, text, operands) RT_OP_##name,
#include "flow_ops.def"
#undef FLOW_OP
} rt_op;

/* Built-in functions for rt_call, from the table the checker uses too
** (flow_builtins.def): generated code names them (RT_FN_len). */
typedef enum rt_fn {
#define FLOW_BUILTIN(name, min, max, signature, doc) RT_FN_##name,
#include "flow_builtins.def"
#undef FLOW_BUILTIN
} rt_fn;

/* Operators follow the checker's typing; on json operands they check at
** run time and fail the run with a message naming the line. */
json_t *rt_binary(rt_ctx *c, rt_op op, json_t *a, json_t *b, int line);
json_t *rt_unary(rt_ctx *c, rt_op op, json_t *a, int line);
bool    rt_truthy(rt_ctx *c, json_t *v, int line);  /* conditions: must be bool */
/* String interpolation: n values, each rendered (strings as-is, null as
** empty, others as compact JSON) and concatenated. */
json_t *rt_interp(rt_ctx *c, int n, ...);
json_t *rt_interp_list(rt_ctx *c, json_t *pieces);  /* the same over a list's items */
/* A built-in function over n arguments (the checker checked the count). */
json_t *rt_call(rt_ctx *c, rt_fn fn, int n, json_t **args, int line);

/* Function step parameters as C values (the emitter's wrappers use these). */
int64_t     rt_param_int(const json_t *params, const char *name);
double      rt_param_float(const json_t *params, const char *name);
bool        rt_param_bool(const json_t *params, const char *name);
const char *rt_param_string(const json_t *params, const char *name);
const json_t *rt_param_json(const json_t *params, const char *name);

#endif
