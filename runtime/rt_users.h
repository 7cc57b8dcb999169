/*
** rt_users.h — [services] connected users: their records and their
** secrets, sealed with ChaCha20 under a key that is not the secret
** itself, so that the state directory, `show`, `list` and logs never hold
** a secret's value.
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

#include <stdint.h>

#include "flowrt.h"
#include "rt_store.h"
#include "rt_util.h"

/* The record of user (NEW reference) when it exists and is enabled; else
** NULL with "unknown user ..." / "user ... is disabled" in err. */
json_t *rt_users_get_enabled(rt_store *st, const rt_workflow *wf, const char *user, char *err, size_t n);

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

/* Loads (or, with create, makes) the key; false with a message. A missing
** key file is a new key only while no user has sealed secrets: otherwise
** the key that sealed them is lost, and a new one would hide that. */
bool rt_users_store_key(rt_store *st, const char *state_dir, bool create, uint8_t key[32], char *err, size_t n);
/* The key's id kept with each user: which key sealed the secrets. */
void rt_users_key_id(const uint8_t key[32], char out[17]);
/* The associated data a secret of user is sealed with under name. */
void rt_users_secret_ad(rt_buf *ad, const char *user, const char *name);

#endif
