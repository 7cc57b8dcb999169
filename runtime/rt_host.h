/*
** rt_host.h — [host] the project host: the workflows one binary holds (rt_project)
** and the rules every surface applies alike (docs/project.md). The CLI,
** serve's HTTP endpoints and its /api only parse their input and call
** these functions:
**
**   - which workflow a name or a run record is (rt_host_workflow);
**   - user ids: one rule everywhere (rt_host_valid_user);
**   - deployed flags, per workflow, in the state (`meta` "deploy:W"), read
**     at every accept and schedule fire, so a live serve sees a change made
**     by `app workflows undeploy` at once;
**   - eligibility: who may run what (rt_host_ineligible, rt_host_users.h),
**     checked when an event is accepted and again when its run is claimed;
**   - a user's run: its credentials and base URLs from its connections,
**     never the operator's FLOW_SECRET_* (rt_host_open_run, rt_host_run.h);
**     a run whose user may no longer run it ends `skipped` before any step.
**
** Layer: host, below the commands (the CLI, serve) and above the engine
** and the store (runtime/LAYERS). Connections and user records are in
** rt_host_conn.h, users, activations and eligibility in rt_host_users.h,
** opening a run in rt_host_run.h, accepts in rt_host_accept.h (each above
** the one before).
*/
#ifndef RT_HOST_H
#define RT_HOST_H

#include "rt_exec.h"
#include "rt_run.h"
#include "rt_secrets.h"
#include "rt_status.h"
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

/* ---- runs ------------------------------------------------------------------------- */

/* Whether a run status is final: succeeded, failed, skipped (rt_status.h). */
bool rt_host_status_final(const char *status);

/* Fills in what a trigger's payload carries by definition and a manual run
** leaves out: a schedule's `time` (the scheduled time; at_ms when the
** payload has none, as when a schedule workflow is run by hand). payload is
** borrowed and changed in place. */
void rt_host_trigger_defaults(const rt_workflow *wf, json_t *payload, int64_t at_ms);
/* A new run record (NEW reference) of wf for user (may be NULL): status
** queued, attempt 1, the trigger's defaults filled in (the payload is
** borrowed and changed), settings borrowed. */
json_t *rt_host_new_run(const rt_workflow *wf, const char *user, json_t *payload, const json_t *settings,
                        const char *source);

#endif
