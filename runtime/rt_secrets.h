/*
** rt_secrets.h — [services] secrets in one place: the key that seals
** users' secrets, sealing and opening them, what a run resolves
** `secret.NAME` to, and the redaction set holding the run's secrets.
**
** Key: $FLOW_SECRETS_KEY (64 hex digits) when set, else STATE/secrets.key
** (created once, mode 0600, written to a temporary file, fsync'ed and
** linked into place). A missing key file while users hold sealed secrets
** is an error, never a new key. Keep the key out of the state directory in
** production by setting FLOW_SECRETS_KEY. Each secret is sealed bound to
** (user, name): a value copied into another user's record, or under
** another name, does not open.
**
** Resolution (rt_secrets_get), in order:
**   1. the run's user's stored secret (or, in flowc test, the test's own;
**      in a project, what its host opened: the user's own secrets, their
**      connections' and the app credentials, rt_host.h);
**   2. for a run without a user only: FLOW_SECRET_<NAME> (in a test, the
**      test's env lines, never the process environment), the development
**      fall-back; a user's run never uses the operator's credentials;
**   3. in flowc test: the placeholder "test-NAME".
** When the user's secrets cannot be opened (another key, a changed text, a
** damaged record) there is no fall-back: the run fails with
** rt_secrets_error (rt_exec.c) instead of running with the operator's
** credentials.
**
** Redaction: every value resolved is registered in the run's set (a set
** of its own under serve, freed with the run; else the calling thread's,
** the process's in a CLI run: rt_redact.h). Messages never hold a value.
*/
#ifndef RT_SECRETS_H
#define RT_SECRETS_H

#include <stdint.h>

#include "flowrt.h"
#include "rt_redact.h"
#include "rt_store.h"
#include "rt_util.h"

/* ---- a run's secrets ---------------------------------------------------- */

typedef struct rt_secrets rt_secrets;

typedef struct rt_secrets_source {
    rt_store *store;            /* the users' records (NULL: none) */
    const char *state_dir;      /* where secrets.key is */
    const char *user;           /* the run's user, or NULL / "" (development) */
    const char *const *declared;/* the workflow's secrets: their FLOW_SECRET_*
                                   values are registered up front */
    int ndeclared;
    const json_t *given;        /* flowc test: the test's secrets; a project's
                                   user's run: what the host opened (borrowed),
                                   in place of the user's stored ones */
    const char *error;          /* or NULL: why the host could not open them
                                   (rt_secrets_error; the run fails) */
    const json_t *env;          /* flowc test: the environment (borrowed) */
    bool test_mode;
    bool own_redaction;         /* a redaction set of the run's own (serve: one
                                   user's run never holds another's secrets),
                                   else the calling thread's */
} rt_secrets_source;

/* Opens what a run sees: the user's stored secrets, opened now. Never NULL;
** when they cannot be opened, rt_secrets_error says why (naming the user
** and the secret, never a value) and the run must not execute. */
rt_secrets *rt_secrets_open(const rt_secrets_source *src);
/* Wipes the values and frees the run's own redaction set. NULL is fine. */
void rt_secrets_close(rt_secrets *s);
/* Why the user's secrets could not be opened (borrowed), or NULL. */
const char *rt_secrets_error(const rt_secrets *s);
/* The secret `name` resolved as above: a new string (wipe and free it),
** registered for redaction; NULL when it is not set. Thread-safe. */
char *rt_secrets_get(rt_secrets *s, const char *name);
/* Replaces (or adds) the run's copy of a secret, registered: an OAuth2
** refresh's new tokens. Thread-safe. */
void rt_secrets_set(rt_secrets *s, const char *name, const char *value);
/* Registers a value derived from the run's secrets (Basic auth's base64). */
void rt_secrets_remember(rt_secrets *s, const char *value);
/* The run's own redaction set (borrowed), or NULL when it uses the
** calling thread's: the engine makes it the run's threads' set. */
rt_redact_set *rt_secrets_redaction(const rt_secrets *s);

/* ---- the key and sealing ------------------------------------------------ */

/* Loads (or, with create, makes) the key; false with a message. A missing
** key file is a new key only while no user has sealed secrets: otherwise
** the key that sealed them is lost, and a new one would hide that. */
bool rt_secrets_key(rt_store *st, const char *state_dir, bool create, uint8_t key[32], char *err, size_t n);
/* The key's id kept with each user: which key sealed the secrets. */
void rt_secrets_key_id(const uint8_t key[32], char out[17]);
/* Whether a user record holds sealed secrets: its own, or its
** connections' (a project's, rt_host_conn.h). */
bool rt_secrets_sealed_any(const json_t *user_rec);
/* The associated data a secret of user is sealed with under name. */
void rt_secrets_ad(rt_buf *ad, const char *user, const char *name);

/* The user's stored secrets in the clear, name -> value (NEW reference;
** an empty object when none), NOT registered for redaction (the caller
** decides where: a run's set, or nowhere for an HMAC key); NULL with a
** message naming the user and the secret (never its value) when they
** cannot be opened: another key, a value sealed for another user or name,
** a changed text, a damaged record. Values in the old sealed format are
** re-sealed bound to their user and name in st (unless st is read-only). */
json_t *rt_secrets_open_user(rt_store *st, const char *state_dir, const json_t *user_rec, char *err, size_t n);
/* Seals values (name -> string) into user's stored secrets, keeping the
** others: an OAuth2 refresh stores the tokens it got. False with a message
** (no secret in it) when the user is gone or the key cannot seal. */
bool rt_secrets_store_user(rt_store *st, const char *state_dir, const char *user, const json_t *values, char *err,
                           size_t n);

#endif
