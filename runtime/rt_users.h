/*
** rt_users.h — users' sealed secrets: sealed with ChaCha20 under a key
** that is not the secret itself, so that the state directory, `show`,
** `list` and logs never hold a secret's value. The users commands, and
** connections (sealed with the same key), are the project host's
** (rt_host_cli.c, rt_host_conn.c).
**
** Key: $FLOW_SECRETS_KEY (64 hex digits) when set, else STATE/secrets.key
** (created once, mode 0600, written to a temporary file, fsync'ed and
** linked into place). A missing key file while users hold sealed secrets
** is an error, never a new key. Keep the key out of the state directory in
** production by setting FLOW_SECRETS_KEY.
**
** Each secret is sealed bound to (user, name): a value copied into another
** user's record, or under another name, does not open (rt_users.c).
*/
#ifndef RT_USERS_H
#define RT_USERS_H

#include "rt_cli.h"

/* The user's stored secrets in the clear, name -> value (NEW reference;
** an empty object when none), each registered for redaction; NULL with a
** message naming the user and the secret (never its value) when they
** cannot be opened: another key, a value sealed for another user or name,
** a changed text, a damaged record. Values in the old sealed format are
** re-sealed bound to their user and name in st (unless st is read-only). */
json_t *rt_users_secrets(rt_store *st, const char *state_dir, const json_t *user_rec, char *err, size_t n);

/* Seals values (name -> string) into user's stored secrets, keeping the
** others: an OAuth2 refresh stores the tokens it got. False with a message
** (no secret in it) when the user is gone or the key cannot seal. */
bool rt_users_store_secrets(rt_store *st, const char *state_dir, const char *user, const json_t *values, char *err,
                            size_t n);

/* The store key (32 bytes) and its id (16 hex digits): FLOW_SECRETS_KEY,
** else STATE/secrets.key (made when create and no user has sealed
** secrets yet). False with a message. Connections (rt_host_conn.c) seal
** with it under their own associated data. */
bool rt_users_key(rt_store *st, const char *state_dir, bool create, uint8_t key[32], char kid[17], char *err,
                  size_t n);

/* The state directory the options name (for the key file). */
const char *rt_users_state_dir(const rt_workflow *wf, const rt_cli_opts *o, char *buf, size_t n);

#endif
