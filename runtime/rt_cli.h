/*
** rt_cli.h — [commands] what the job binary's commands share: the parsed
** command line, the state directory opened, settings and inputs read, a
** run created and executed. rt_main (rt_main.c, declared in flowrt.h)
** parses `JOB run|resume|info|history|show|retry|prune|users ...` and runs
** the command: run, resume and info in rt_main.c, the operations commands
** in rt_ops.c, the users commands in rt_users_cli.c, serve in rt_serve.c.
**
** Exit codes: 0 ok, 1 run failed, 2 usage or bad input, 75 interrupted.
*/
#ifndef RT_CLI_H
#define RT_CLI_H

#include "flowrt.h"
#include "rt_exec.h"
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
/* The same over given (borrowed, may be NULL; `where` names it in messages,
** e.g. " FILE"); need_all false leaves missing required settings out of the
** result instead of refusing (a user may be connected before filling them). */
json_t *rt_cli_settings_of(const rt_workflow *wf, const json_t *base, const json_t *given, const char *where,
                           bool need_all, char *err, size_t n);

/* "2024-05-01T12:00:00Z", a date, or a duration ago ("90m", "7d"): ms
** since the epoch. False when s is neither. */
bool rt_cli_parse_since(const char *s, int64_t *ms);

/* Runs (or continues) the run whose record rec is (NEW reference, taken
** over): loads its user's stored secrets, executes, prints a succeeded
** run's output. Returns the outcome. */
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
/* Fills in what a trigger's payload carries by definition and a manual run
** leaves out: a schedule's `time` (the scheduled time; at_ms when the
** payload has none, as when a schedule workflow is run by hand). payload is
** borrowed and changed in place. */
void rt_cli_trigger_defaults(const rt_workflow *wf, json_t *payload, int64_t at_ms);
/* A new run record (NEW reference), status queued, attempt 1; the payload
** gets its trigger's defaults (rt_cli_trigger_defaults). */
json_t *rt_cli_new_run(const rt_workflow *wf, const char *user, json_t *payload, json_t *settings,
                       const char *source);

#endif
