/*
** rt_cli.h — [commands] what the job binary's commands share: the parsed
** command line, the state directory opened, settings and inputs read, a
** run created and executed. rt_project_main (rt_main.c, declared in
** flowrt.h) parses `JOB run|resume|info|history|show|retry|prune|users|
** connect|disconnect|workflows ...` and runs the command: resume in
** rt_main.c, run, connect, disconnect and workflows in rt_host_cli.c, info
** in rt_host_info.c, the operations commands in rt_ops.c, the users
** commands in rt_users_cli.c, serve in rt_serve.c.
**
** Exit codes: 0 ok, 1 run failed, 2 usage or bad input, 75 interrupted.
*/
#ifndef RT_CLI_H
#define RT_CLI_H

#include "flowrt.h"
#include "rt_exec.h"
#include "rt_host_users.h"
#include "rt_store.h"

enum { RT_EXIT_OK = 0, RT_EXIT_FAILED = 1, RT_EXIT_USAGE = 2, RT_EXIT_INTERRUPTED = 75 };

#define RT_CLI_MAX_SECRETS 64

/* `resume` sleeps through waits due within this; longer ones suspend the
** run (status waiting) for a later `resume`. */
#define RT_CLI_RESUME_HORIZON_MS 1000

/* Parsed command line; strings borrow argv. */
typedef struct rt_cli_opts {
    const char *cmd;
    const char *sub;            /* users SUBCOMMAND */
    const char *arg;            /* show/retry RUN_ID, users USER */
    const char *event;          /* --event FILE or "-" */
    const char *user;
    const char *settings;       /* --settings FILE */
    const char *state;
    const char *status;         /* history/retry/prune --status */
    const char *since;          /* --since TIME */
    const char *older_than;     /* prune --older-than D */
    const char *step;           /* run --step NAME (Test Step) */
    const char *input;          /* run --input FILE (Test Step) */
    const char *from;           /* run --from RUN_ID (Test Step: inputs from an earlier run) */
    const char *secret_args[RT_CLI_MAX_SECRETS];  /* users set --secret NAME=VALUE|NAME=@FILE */
    int nsecret_args;
    const char *arg2;           /* connect/disconnect USER INTEGRATION */
    const char *workflow;       /* --workflow NAME (run, users set/enable/disable) */
    const char *event_name;     /* run --name EVENT (a project's event trigger) */
    const char *field_args[RT_CLI_MAX_SECRETS];   /* connect --field NAME=VALUE */
    int nfield_args;
    int limit;
    bool limit_set;
    bool json;
    bool test_limits;
    bool batch;                 /* --durability batch */
    bool all;                   /* retry --all */
    bool no_wait;               /* resume --no-wait */
    bool disabled;              /* users set --disabled */
} rt_cli_opts;

/* The state directory the options name (--state, $FLOW_STATE, or the
** default) into buf. */
const char *rt_cli_state_dir(const rt_workflow *wf, const rt_cli_opts *o, char *buf, size_t n);

/* Opens the state directory of the options (prints why not): NULL on error.
** Warns once when the state can be read by other users. */
rt_store *rt_cli_open_store(const rt_workflow *wf, const rt_cli_opts *o);
/* The same for commands that only read: a state that cannot be written
** (a read-only mount, a backup) is opened read-only (rt_store_open_reader). */
rt_store *rt_cli_open_store_reader(const rt_workflow *wf, const rt_cli_opts *o);
/* A warning (once per process) when the state's directory or files are
** open to other users (rt_store_mode_warning). */
void rt_cli_warn_open_state(rt_store *st);

/* The JSON in FILE ("-" = stdin): a NEW reference, or NULL with a message. */
json_t *rt_cli_read_json_file(const char *path, const char *what, char *err, size_t n);

/* Settings: every default, overridden by base (stored settings, may be
** NULL), overridden by the JSON object in file (may be NULL); each checked
** against its type, unknown names and missing required ones refused.
** NEW reference, or NULL with a message in err. */
json_t *rt_cli_settings(const rt_workflow *wf, const json_t *base, const char *file, char *err, size_t n);
/* (rt_host_settings_of does the same over a JSON object: rt_host_users.h.) */

/* "2024-05-01T12:00:00Z", a date, or a duration ago ("90m", "7d"): ms
** since the epoch. False when s is neither. */
bool rt_cli_parse_since(const char *s, int64_t *ms);

/* Runs (or continues) the run whose record rec is (NEW reference, taken
** over) with its own workflow of the project (rt_host_run_workflow; wf
** otherwise): opens it as the host does (rt_host_open_run: a user who may
** no longer run it gets it ended `skipped`, nothing sent), executes, prints
** a succeeded run's output. Returns the outcome. */
rt_outcome rt_cli_execute(const rt_workflow *wf, rt_store *st, json_t *rec, const rt_cli_opts *o,
                          bool sleep_in_process);

/* Prints a value as indented JSON on stdout (lists cut to 20 items with
** --test-limits). */
void rt_cli_print_output(json_t *output, bool test_limits);
int rt_cli_exit_code(rt_outcome o);

/* An error line on stderr, "NAME: message". */
void rt_cli_error(const rt_workflow *wf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "Usage error" on stderr with a pointer to --help: returns RT_EXIT_USAGE. */
int rt_cli_usage_error(const rt_workflow *wf, const char *fmt, const char *arg);

/* Logs, per version, the runs (other: version -> [ids], borrowed) that
** need another binary ("N unfinished runs need the binary of version V
** (this one is W): ID ..."); returns how many. */
int rt_cli_report_other_versions(const rt_workflow *wf, json_t *other, const char *what);
/* Logs one warning naming the runs (ids, borrowed) whose records could not
** be read (damaged data in the state) and what was done about them
** ("listed as unreadable", "not resumed"); nothing when there are none. */
void rt_cli_report_damaged_runs(const json_t *ids, const char *what);
/* ---- what the project's commands share (rt_host_cli.c, rt_users_cli.c) ---- */

/* The exit code of a host operation's result (rt_host_users.h): 0, 1 for
** the store or the key, 2 for refused input. */
int rt_cli_exit_of(rt_host_rc rc);
/* The workflow named name, or NULL after saying which the project has. */
const rt_workflow *rt_cli_workflow_arg(const rt_workflow *face, const char *name);
/* NAME=VALUE (with secret: or NAME=@FILE, read by rt_read_credential and
** registered for redaction) options into an object (NEW), or NULL with a
** message. */
json_t *rt_cli_pairs(const char *const *args, int n, bool secret, char *err, size_t en);
/* Runs here the `trigger enabled` runs an operation started (a NEW array of
** run records, taken over), as `users enable` always has. */
void rt_cli_run_enabled(const rt_workflow *face, rt_store *st, const rt_cli_opts *o, json_t *runs);
/* A value as indented JSON on stdout. */
void rt_cli_print_json(const json_t *v);

#endif
