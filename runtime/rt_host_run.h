/*
** rt_host_run.h — [host] a run as every surface opens it (run, resume,
** retry, serve's workers): checked again against who may run it, with its
** user's credentials from their record and connections (rt_host_conn.h),
** never the operator's FLOW_SECRET_*; a run its user may no longer run
** ends `skipped` before any step, nothing sent (docs/project.md).
*/
#ifndef RT_HOST_RUN_H
#define RT_HOST_RUN_H

#include "rt_host_conn.h"

typedef enum rt_host_prep {
    RT_HOST_READY,              /* execute it */
    RT_HOST_SKIP                /* the user may not run it (why): end it `skipped` (rt_host_end_run) */
} rt_host_prep;

/* Opens a run (rt_run_open) as every surface executes one: run, resume,
** retry, serve's workers. A run without a user runs as in development
** (FLOW_SECRET_*); a user's run is checked again (rt_host_ineligible,
** without the deployed flag: a run accepted before an undeploy finishes)
** and gets its user's secrets, its connections' secrets and base URLs, and
** the project's app credentials, never another FLOW_SECRET_*; credentials
** that cannot be opened fail the run before any step (rt_secrets_error).
** The run is open whatever the answer: free it with rt_run_free. */
rt_host_prep rt_host_open_run(rt_run_state *run, const rt_run_setup *setup, char *why, size_t n);

/* What a user's run of wf resolves its secrets to (rt_host_open_run; Test
** Step and `show` open them the same way): urec's own secrets, its
** connections' to wf's integrations, the app credentials; *base_urls (NEW,
** or pass NULL): integration -> the connection's base URL. Never NULL:
** rt_secrets_error says why they did not open. */
rt_secrets *rt_host_open_secrets(rt_store *st, const char *state_dir, const json_t *urec, const rt_workflow *wf,
                                 bool own_redaction, json_t **base_urls);

/* Ends the run whose record rec is (borrowed; updated in place to what was
** stored) with status (skipped) and error reason, before any step, in one
** write transaction: only while it is unfinished and no other live process
** owns it (a run never stored, as `run` makes one, is stored so). False
** with a message otherwise. */
bool rt_host_end_run(rt_store *st, json_t *rec, rt_status status, const char *reason, char *err, size_t n);

#endif
