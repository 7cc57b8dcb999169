/*
** rt_host_conn.h — [host] the connections of the project's users, as stored in
** their user records (layout 3; docs/project.md; rt_host_users.h has the
** users and activations):
**
**   { id, enabled, created, updated, key_id,
**     secrets: { NAME: sealed },                       user-level
**     connections: { INTEG: { secrets: { NAME: sealed }, fields: {...},
**                             created, updated } },
**     activations: { WORKFLOW: { enabled, settings, created, updated,
**                                enabled_run? } } }
**
** A connection's secrets are sealed with the state's key (rt_secrets_key)
** bound to ("flowc connection secret", USER, INTEGRATION, NAME): a value
** opens only in the connection it was sealed for. One connection serves
** every workflow of the project that calls its integration, so an OAuth2
** refresh in one workflow is what the next run of another one uses.
**
** Every change is one read-modify-write transaction of the user's record
** (rt_store_update_user); nothing is stored when an operation is refused.
** Operations return an HTTP-like code: the CLI maps it to an exit status,
** serve's /api answers with it.
**
** Records written by an earlier layout (settings and secrets on the user,
** one workflow) are read as layout 3: the settings are the activation of a
** project of one's workflow, a secret an integration's auth names is its
** connection. rt_host_migrate rewrites them once.
*/
#ifndef RT_HOST_CONN_H
#define RT_HOST_CONN_H

#include "rt_host_users.h"

/* User-level secrets (a workflow's own `secrets { }`): values name ->
** string, "" removes; names must be declared by a workflow of the project. */
rt_host_rc rt_host_user_secrets(rt_store *st, const char *state_dir, const char *user, const json_t *values,
                                char *err, size_t n);

/* Connects user to integ (creating or changing the connection): secrets
** name -> string ("" removes one) among those integ's auth names (not its
** app credentials); fields name -> value among those integ's `connection`
** block declares, checked against their types (a base_url one must be an
** absolute http(s) URL without query or fragment; null or "" removes).
** replace: the connection is exactly what is given (the API's PUT), else
** what is given changes what is stored (the CLI). */
rt_host_rc rt_host_connect(rt_store *st, const char *state_dir, const char *user, const char *integ,
                           const json_t *secrets, const json_t *fields, bool replace, char *err, size_t n);
rt_host_rc rt_host_disconnect(rt_store *st, const char *user, const char *integ, char *err, size_t n);

/* Everything a user's run of wf needs to authenticate: user-level secrets,
** the secrets of its connections to wf's integrations, the app credentials
** (FLOW_SECRET_<NAME> for an OAuth2 client id and secret), in the clear and
** NOT registered for redaction (the caller registers them where the run's
** secrets go: rt_host_open_secrets). *base_urls: integration -> the connection's base_url
** field (NEW). NEW reference, or NULL with a message (no secret in it). */
json_t *rt_host_open_credentials(rt_store *st, const char *state_dir, const json_t *urec, const rt_workflow *wf,
                                 json_t **base_urls, char *err, size_t n);

/* OAuth2 (rt_oauth.c): the access token of in stored in the run's user's
** connection since the run started, when it is not stale (a refresh by
** another run or workflow); it and the rest of the connection (a rotated
** refresh token, a new base URL) then replace the run's copies. malloc'd,
** or NULL. */
char *rt_host_conn_newer_token(rt_run_state *run, const rt_integration *in, const char *stale);
/* Seals secrets (name -> value) and sets fields (name -> value) into the
** run's user's connection to in, for every workflow. False with a message. */
bool rt_host_conn_store(rt_run_state *run, const rt_integration *in, const json_t *secrets, const json_t *fields,
                        char *err, size_t n);

/* Rewrites user records of an earlier layout as layout 3 (once: `meta`
** "users_layout"), on a writable store. Logs what it did. */
void rt_host_migrate(rt_store *st, const char *state_dir);

#endif
