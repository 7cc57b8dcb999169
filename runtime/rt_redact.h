/*
** rt_redact.h — [base] secret redaction, and the one way a text is
** shortened.
**
** Secrets are registered in redaction sets. Each thread redacts with one:
** the set it was given (rt_redact_use: a run under serve has its own, which
** holds that run's secrets only and is freed when the run ends), else the
** process's (a CLI run, ops, tests). Every secret value a run resolves is
** registered in its set, with every
** form the runtime (or an API echoing what it sent) may write it in; every
** log line, error message, stored record and printed output passes through
** rt_redact or rt_redact_json before it is written. A text that is shown or
** stored shortened goes through rt_redact_shorten, which redacts first: a
** cut never leaves the beginning of a secret behind, and never splits a
** UTF-8 character. The forms and rules are written down in docs/runtime.md
** ("Secrets and redaction"). Thread-safe.
*/
#ifndef RT_REDACT_H
#define RT_REDACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* What a secret (in any of its forms) becomes. */
#define RT_REDACTED "[redacted]"

typedef struct rt_redact_set rt_redact_set;

/* A new, empty set; free it with rt_redact_set_free, which wipes its
** values (NULL and the process's set are left alone). */
rt_redact_set *rt_redact_set_new(void);
void rt_redact_set_free(rt_redact_set *set);
/* Registers secret in set, as rt_redact_add does in the thread's. */
void rt_redact_set_add(rt_redact_set *set, const char *secret);
/* Makes set (NULL: the process's) the one the calling thread registers in
** and redacts with; returns the previous one, to restore. */
rt_redact_set *rt_redact_use(rt_redact_set *set);
/* The calling thread's own set, or NULL when it uses the process's. */
rt_redact_set *rt_redact_current(void);

/* The functions below work on the calling thread's set. */

/* Registers a secret value (copied) and the forms a text may carry it in:
**   - raw;
**   - JSON-escaped, once and twice (a request body echoed inside a JSON
**     string), with UTF-8 kept or written \uXXXX, upper- or lower-case hex,
**     '/' as it is or as \/;
**   - percent-encoded (of the raw and JSON-escaped forms): upper- and
**     lower-case hex, a space as %20 or '+';
**   - base64 and base64url, padded and not, and the characters that only
**     the secret decides when it sits inside a longer base64 text at any of
**     the three byte alignments (HTTP Basic's base64 of user:password).
** Values and forms shorter than 4 bytes are not registered: redacting every
** "t" would make logs unreadable and protect nothing. Cheap for a value
** already registered (a shared lock and a scan): callers register on every
** read. */
void rt_redact_add(const char *secret);
/* Whether s holds a registered secret in any of its forms: a value derived
** from a secret (the base64 of "user:password") is registered in its turn. */
bool rt_redact_holds(const char *s);
/* Whether any secret is registered (in the calling thread's set): without one, redaction only repairs
** invalid UTF-8 (which rt_json_encode does too). Lock-free. */
bool rt_redact_any(void);
/* rt_redact_holds over the n bytes at s (which may hold NULs). */
bool rt_redact_holds_n(const char *s, size_t n);
/* Appends the n bytes at s redacted (and repaired) as rt_redact writes them. */
struct rt_buf;
void rt_redact_append(struct rt_buf *b, const char *s, size_t n);
/* s with every stretch covered by a registered form replaced by
** "[redacted]" (overlapping forms of different secrets are covered whole),
** and every invalid UTF-8 byte replaced by U+FFFD, so that the text can
** always be stored as a JSON string: a new malloc'd string. NULL for NULL. */
char *rt_redact(const char *s);
/* v with every string and object key redacted as rt_redact does: a NEW
** reference (v itself, incref'd, when nothing needed it; json null for
** NULL). */
json_t *rt_redact_json(json_t *v);

/* s for display in at most max bytes (plus "..." when cut): redacted first,
** then cut on a character boundary, and never inside a "[redacted]" marker:
** a new malloc'd string. The one way a text that may hold a secret or
** multi-byte characters is shortened. */
char *rt_redact_shorten(const char *s, size_t max);
/* The same into a fixed buffer of n bytes (n >= 4): s redacted, cut to fit
** with "..." when it does not. For messages composed on the heap that an
** API hands back in a char buffer. */
void rt_redact_copy(char *dst, size_t n, const char *s);

/* Forgets (and wipes) every secret of the process's set; when rt_main returns. */
void rt_redact_teardown(void);

#endif
