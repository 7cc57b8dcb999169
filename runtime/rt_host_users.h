/*
** rt_host_users.h — [host] the project's users and their activations of
** workflows, as stored (the record layout is in rt_host_conn.h), and the
** read views every surface shares. Each change is one read-modify-write
** transaction of the user's record; nothing is stored when it is refused.
*/
#ifndef RT_HOST_USERS_H
#define RT_HOST_USERS_H

#include "rt_host.h"

typedef enum rt_host_rc {
    RT_HOST_OK = 200,
    RT_HOST_BAD = 400,          /* malformed input (the message names it) */
    RT_HOST_NOT_FOUND = 404,    /* no such user, integration, workflow */
    RT_HOST_INVALID = 422,      /* settings or fields that do not fit their schema */
    RT_HOST_ERR = 500           /* the store or the key failed */
} rt_host_rc;

/* A new or changed user. enabled: 1, 0, or -1 to leave it (a new user is
** enabled). *created says whether it is new. Starts (into *runs, a NEW
** array of run records, or NULL) the `trigger enabled` runs an enabling
** causes. */
rt_host_rc rt_host_user_put(rt_store *st, const char *user, int enabled, bool *created, json_t **runs, char *err,
                            size_t n);
/* Removes the user (their runs stay; queued ones end `skipped`). */
rt_host_rc rt_host_user_remove(rt_store *st, const char *user, char *err, size_t n);
/* The record of user (NEW reference) or NULL; a damaged one is a stand-in
** (rt_store_damaged). */
json_t *rt_host_user_get(rt_store *st, const char *user);
/* What a user shows: id, enabled, connections (fields; secrets by name
** only, "<set>"), activations (enabled, settings), user-level secrets by
** name. Never a secret's value. NEW reference. */
json_t *rt_host_user_view(const json_t *rec);

/* Enables workflow wf for user with settings (given, may be NULL), checked
** against its schema (unknown names, wrong types; a required one missing
** unless partial_ok) with the messages of `users set`. merge: the given
** settings change the stored ones, else replace them. Into *run (a NEW
** run record, or NULL): the `trigger enabled` run this enabling starts,
** its marker stored with the activation. */
rt_host_rc rt_host_activate(rt_store *st, const char *user, const rt_workflow *wf, const json_t *settings, bool merge,
                            bool partial_ok, json_t **run, char *err, size_t n);
/* Disables wf for user (its settings are kept for a later enabling). */
rt_host_rc rt_host_deactivate(rt_store *st, const char *user, const rt_workflow *wf, char *err, size_t n);

/* Read views of a record, either layout. */
/* The activation of wf in urec (borrowed, or NULL): an object with
** enabled and settings; *legacy_buf holds a synthesised one (NEW, the
** caller frees it) for an earlier layout's record. */
json_t *rt_host_activation(const json_t *urec, const rt_workflow *wf, json_t **legacy_buf);
/* Whether urec has a connection to in. */
bool rt_host_connected(const json_t *urec, const rt_integration *in);

/* Settings of wf: every default (a `T?` without one is null), overridden by
** base (stored settings, may be NULL), overridden by given (borrowed, may
** be NULL; `where` names it in messages, e.g. " FILE"); each checked
** against its type, unknown names refused; need_all false leaves missing
** required settings out of the result instead of refusing (a user may be
** connected before filling them). NEW reference, or NULL with a message. */
json_t *rt_host_settings_of(const rt_workflow *wf, const json_t *base, const json_t *given, const char *where,
                            bool need_all, char *err, size_t n);

/* The settings of a run of wf for urec: every default, overridden by the
** activation's; NULL with a message when a required one is missing. NEW. */
json_t *rt_host_run_settings(const json_t *urec, const rt_workflow *wf, char *err, size_t n);

/* For rt_host_conn.c: whether urec is of an earlier layout (settings on
** the user, no activations); urec made layout 3 in place (its settings
** become the activation of a project of one's workflow); and the user of
** a change: RT_HOST_OK, or 400 (a bad id), 404 (unknown), 500 (damaged)
** with a message. */
bool rt_host_user_legacy(const json_t *urec);
void rt_host_user_upgrade(json_t *rec);
rt_host_rc rt_host_user_existing(rt_store *st, const char *user, char *err, size_t n);

/* ---- eligibility ----------------------------------------------------------------- */

/* Why user (its record urec, NULL when there is none) may not run wf now,
** into why (returns why), or NULL when it may: the user exists and is
** enabled, has wf enabled, and has a connection to every integration wf
** calls that needs one. undeployed: also say so (accept time; a run
** accepted before the undeploy still runs). */
const char *rt_host_ineligible(const json_t *urec, const char *user, const rt_workflow *wf, bool undeployed,
                               char *why, size_t n);

#endif
