/*
** rt_oauth.h — [engine] OAuth2 access-token refresh for integrations declared
** `auth oauth2 { token_url ..., refresh secret.R, client_id secret.I,
** client_secret secret.S }` (RFC 6749 section 6).
**
** The access token is the secret <integration>_token. When a request to
** such an integration answers 401, the engine (rt_request.c) calls
** rt_oauth_refresh and sends the request once more with the token it gets.
** A refresh POSTs grant_type=refresh_token (with client_id/client_secret in
** the form body) to the token URL: $FLOW_<NAME>_TOKEN_URL when set, else the
** declared one, resolved against the integration's base URL when relative.
** The new access token (and a rotated refresh token, when the server sends
** one) replaces the run's copy, is registered for redaction, and is sealed
** into the connected user's stored secrets so that later runs use it.
**
** Refreshes are serialised in the process: a request that got 401 with a
** token someone else has already replaced (another fanout item, another
** run of the same user under `serve`) takes the new token instead of
** refreshing again, so a rotating refresh token is spent once.
*/
#ifndef RT_OAUTH_H
#define RT_OAUTH_H

#include "rt_run.h"

/* A fresh access token for in (malloc'd), given the one that was refused;
** NULL with the reason in err (no secret in it). base_url: the
** integration's base URL as the run sees it (for a relative token URL). */
char *rt_oauth_refresh(rt_run_state *run, const rt_integration *in, const char *base_url, const char *stale,
                       char *err, size_t n);

#endif
