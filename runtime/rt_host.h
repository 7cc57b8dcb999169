/*
** rt_host.h — the project host: the workflows one binary holds (rt_project)
** and the rules every surface applies alike (docs/project.md). The CLI,
** serve's HTTP endpoints and its /api only parse their input and call
** these functions:
**
**   - which workflow a name or a run record is (rt_host_workflow);
**   - user ids: one rule everywhere (rt_host_valid_user);
**   - deployed flags, per workflow, in the state (`meta` "deploy:W"), read
**     at every accept and schedule fire, so a live serve sees a change made
**     by `app workflows undeploy` at once;
**   - eligibility: who may run what (rt_host_ineligible), checked when an
**     event is accepted and again when its run is claimed;
**   - a user's run: its credentials and base URLs from its connections,
**     never the operator's FLOW_SECRET_* (rt_host_prepare_run); a run whose
**     user may no longer run it ends `skipped` before any step.
**
** Layers: below the CLI and serve, above the engine (rt_exec) and the
** store. Connections and user records are in rt_host_conn.h.
*/
#ifndef RT_HOST_H
#define RT_HOST_H

#include "rt_exec.h"
#include "rt_store.h"

/* ---- the project ------------------------------------------------------------ */

/* Set once by rt_project_main before anything else runs. */
void rt_host_set_project(const rt_project *p);
const rt_project *rt_host_project(void);
/* The workflow named name, or NULL. */
const rt_workflow *rt_host_workflow(const char *name);
/* The workflow a run record belongs to (its "workflow"), or NULL when the
** project has none of that name. */
const rt_workflow *rt_host_run_workflow(const json_t *rec);
/* The names of the project's workflows, "a, b, c", into buf. */
const char *rt_host_workflow_names(char *buf, size_t n);

/* The integrations the project's steps call, one per name. */
int rt_host_nintegrations(void);
const rt_integration *rt_host_integration_at(int i);
const rt_integration *rt_host_integration(const char *name);
/* "event", "request", "schedule", "enabled". */
const char *rt_host_trigger_kind(rt_trigger_kind k);
/* Whether a user's run needs a connection to in: its auth has a credential. */
bool rt_host_needs_connection(const rt_integration *in);
/* Whether name is one of in's app credentials (an OAuth2 client id or
** secret: the company's, the same for every user). */
bool rt_host_is_app_secret(const rt_integration *in, const char *name);

/* ---- user ids ------------------------------------------------------------------- */

#define RT_HOST_USER_MAX 128
/* The rule, as messages state it. */
#define RT_HOST_USER_RULE "a user id is 1 to 128 bytes of letters, digits and _ - . @ + :"
/* Whether id follows the rule; else a message naming the rule (and a
** shortened, redacted copy of the id) in err. */
bool rt_host_valid_user(const char *id, char *err, size_t n);

/* ---- deployed workflows ------------------------------------------------------- */

/* Whether workflow name is deployed (no record: it is). A store that
** cannot be read counts as deployed: the accept fails on its own then. */
bool rt_host_deployed(rt_store *st, const char *name);
/* Every workflow's flag at once (one read: an accept of a fan-out), a NEW
** object for rt_host_deployed_in. */
json_t *rt_host_deploy_flags(rt_store *st);
bool rt_host_deployed_in(const json_t *flags, const char *name);
/* Deploys or undeploys, in one write; false with a message. */
bool rt_host_set_deployed(rt_store *st, const char *name, bool deployed, char *err, size_t n);

/* ---- eligibility ----------------------------------------------------------------- */

/* Why user (its record urec, NULL when there is none) may not run wf now,
** into why (returns why), or NULL when it may: the user exists and is
** enabled, has wf enabled, and has a connection to every integration wf
** calls that needs one. undeployed: also say so (accept time; a run
** accepted before the undeploy still runs). */
const char *rt_host_ineligible(const json_t *urec, const char *user, const rt_workflow *wf, bool undeployed,
                               char *why, size_t n);

/* ---- runs ------------------------------------------------------------------------- */

typedef enum rt_host_prep {
    RT_HOST_READY,              /* execute it */
    RT_HOST_SKIP,               /* the user may not run it (why): end it `skipped` */
    RT_HOST_FAIL                /* its credentials cannot be opened (why): end it `failed` */
} rt_host_prep;

/* Before a run is executed (every surface: run, resume, retry, serve's
** workers): a run without a user runs as in development (FLOW_SECRET_*);
** a user's run is checked again (rt_host_ineligible, without the deployed
** flag: a run accepted before an undeploy finishes) and gets its user's
** secrets, its connections' secrets and base URLs, and the project's app
** credentials (run->secrets, run->base_urls, run->user_run). */
rt_host_prep rt_host_prepare_run(rt_store *st, const char *state_dir, rt_run_state *run, char *why, size_t n);

/* Ends the run whose record rec is (borrowed; updated in place to what was
** stored) with status ("skipped" or "failed") and error reason, before any
** step, in one write transaction: only while it is unfinished and no other
** live process owns it (a run never stored, as `run` makes one, is stored
** so). False with a message otherwise. */
bool rt_host_end_run(rt_store *st, json_t *rec, const char *status, const char *reason, char *err, size_t n);

/* Whether a run status is final: succeeded, failed, skipped. */
bool rt_host_status_final(const char *status);

/* A new run record (NEW reference) of wf for user (may be NULL): status
** queued, attempt 1, the trigger's defaults filled in (the payload is
** borrowed and changed), settings borrowed. */
json_t *rt_host_new_run(const rt_workflow *wf, const char *user, json_t *payload, const json_t *settings,
                        const char *source);

#endif
