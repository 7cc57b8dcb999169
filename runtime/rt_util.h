/*
** rt_util.h — [base] allocation, growable buffers and clocks shared by the runtime
** modules. Nothing here knows about workflows.
*/
#ifndef RT_UTIL_H
#define RT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Allocation that aborts with the size on out-of-memory (Redis's zmalloc). */
void *rt_xmalloc(size_t n);
void *rt_xcalloc(size_t n, size_t size);
void *rt_xrealloc(void *p, size_t n);
char *rt_xstrdup(const char *s);
char *rt_xstrndup(const char *s, size_t n);
char *rt_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a, b and c (c may be NULL) end to end: a NEW string (a step's path, a
** key: called per step, where printf's parsing shows). */
char *rt_xconcat(const char *a, const char *b, const char *c);

/* The length of the well-formed multi-byte UTF-8 sequence at p (at most n
** bytes), as strictly as jansson reads UTF-8 (no overlong forms, no
** surrogates, nothing above U+10FFFF), or 0 (also for ASCII). */
size_t rt_utf8_seq(const unsigned char *p, size_t n);
char *rt_xvprintf(const char *fmt, va_list ap);

/* A growable byte buffer, always NUL-terminated once anything is appended.
** `data` is owned by the buffer; rt_buf_free releases it, rt_buf_take hands
** it over to the caller (who frees it) and resets the buffer. A buffer made
** by rt_buf_on starts in the caller's storage instead (see there). */
typedef struct rt_buf {
    char *data;
    size_t len, cap;
    bool on_storage;            /* data is rt_buf_on's storage: not freed, copied out to grow */
} rt_buf;

/* A stack of pointers, last in first out (pools of things to reuse: the
** last one given back is the likeliest still in the caches). Zeroed is
** empty; the caller owns what it holds and frees `v`. */
typedef struct rt_ptrs {
    void **v;
    size_t n, cap;
} rt_ptrs;
void rt_ptrs_push(rt_ptrs *p, void *x);
/* The last pointer pushed, taken off; NULL when empty. */
static inline void *rt_ptrs_pop(rt_ptrs *p)
{
    return p->n ? p->v[--p->n] : NULL;
}

/* An empty buffer (NUL-terminated) in the caller's storage, most often an
** array on the stack: the hot paths of a fanout item (its record, its log
** line, its request's input, its response body) then allocate nothing
** while they fit, and move to the heap on their own when they do not. The
** storage must outlive every use of the buffer, copies of it included;
** rt_buf_free leaves it alone and rt_buf_take copies it out. */
static inline rt_buf rt_buf_on(char *storage, size_t size)
{
    storage[0] = '\0';
    return (rt_buf){ storage, 0, size, true };
}

/* Room for extra more bytes (and the NUL) without another allocation. */
void rt_buf_reserve(rt_buf *b, size_t extra);
/* Inline: the hot paths (a step's record, its JSON) append many short
** pieces; only growing calls out. */
static inline void rt_buf_append(rt_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) rt_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}
static inline void rt_buf_puts(rt_buf *b, const char *s)
{
    rt_buf_append(b, s, strlen(s));
}
static inline void rt_buf_putc(rt_buf *b, char ch)
{
    if (b->len + 2 > b->cap) rt_buf_reserve(b, 1);
    b->data[b->len++] = ch;
    b->data[b->len] = '\0';
}
void rt_buf_printf(rt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *rt_buf_take(rt_buf *b);
void rt_buf_free(rt_buf *b);

/* Whether s[0..n) is UTF-8 that rt_utf8_repair would leave as it is. */
bool rt_utf8_valid(const char *s, size_t n);
/* Appends s[0..n) to b with every byte that does not start a well-formed
** sequence (rt_utf8_seq) replaced by U+FFFD: text that jansson accepts and
** every JSON reader reads back (NUL is a character like any other). */
void rt_utf8_repair(rt_buf *b, const char *s, size_t n);
/* Where a text of n bytes may be cut to keep at most max of them: max, or
** less so as not to split a multi-byte character (n when n <= max). The
** one place a cut point is chosen; rt_redact_shorten (rt_redact.h) is how
** a text that may hold a secret is shortened. */
size_t rt_utf8_cut(const char *s, size_t n, size_t max);

/* Percent-encoding of s[0..n) appended to b: every byte but RFC 3986's
** unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX, upper-case hex
** unless RT_PCT_LOWER, a space %20 unless RT_PCT_PLUS ('+', as HTML forms
** send it). Requests use it through rt_url_escape; redaction builds the
** forms an API may echo with the same encoder. */
enum { RT_PCT_PLUS = 1, RT_PCT_LOWER = 2 };
void rt_percent_encode(rt_buf *b, const char *s, size_t n, unsigned flags);

/* Clocks: wall time in ms since the epoch, and a monotonic ms clock. */
int64_t rt_now_ms(void);
int64_t rt_mono_ms(void);
int64_t rt_mono_us(void);         /* the same clock in microseconds */
/* "2024-05-01T12:00:00.123Z" into out (at least 32 bytes). */
void rt_format_time(int64_t ms, char *out, size_t n);
/* Parses RFC 3339 ("2024-05-01T12:00:00Z", fraction and offset optional,
** a date alone is midnight UTC). Returns false when s is not one. */
bool rt_parse_time(const char *s, int64_t *ms);

/* A duration: a non-negative number (a fraction too) and its unit, one of
** ms s m h d w ("250ms", "1.5s", "10m", "2h", "7d", "1w"); "0" needs none.
** The one parser of durations on the command line (serve's --hook-timeout
** and --drain-timeout, history --since, prune --older-than); docs/runtime.md
** lists the units. False when s is not one (a unit missing or unknown, a
** sign, a value past 290 million years). */
bool rt_parse_duration(const char *s, int64_t *ms);

/* A credential kept in a file (serve's --token-file, `users set --secret
** NAME=@FILE`, STATE/secrets.key): the file's text without the line breaks,
** spaces and tabs that end it (editors and `echo` add them; no credential
** ends in one), as a new string. NULL with a message naming what and path
** when it cannot be read (errno kept: ENOENT tells a missing file), is
** empty, is over 64 KiB or holds a NUL byte. Buffers are wiped. */
char *rt_read_credential(const char *path, const char *what, char *err, size_t n);

/* The start time of process pid (clock ticks after boot, from
** /proc/PID/stat), or -1 when there is no such process or it is a zombie:
** with the pid it names a process across pid reuse. */
long long rt_process_start(int pid);

/* Uniform random in [0, n) (n = 0: any 64 bits), seeded from the OS. */
uint64_t rt_random(uint64_t n);

/* The environment variable prefix + NAME + suffix with NAME upper-cased
** (FLOW_SECRET_CRM_TOKEN, FLOW_SLACK_BASE_URL), written into buf: buf. */
const char *rt_env_name(char *buf, size_t n, const char *prefix, const char *name, const char *suffix);

/* Standard base64 (RFC 4648 section 4, with padding) of n bytes: a new string. */
char *rt_base64(const char *s, size_t n);

/* A double as JSON writes it, in the shortest text that reads back as the
** same double ("9.99", "0.30000000000000004", "1e21", "2.0": a float keeps
** a decimal point); "nan"/"inf" for those. Writes at most n bytes to out,
** returns the length (n of 32 is always enough). */
size_t rt_float_text(double d, char *out, size_t n);

#endif
