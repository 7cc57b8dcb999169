/*
** rt_util.c — [base] allocation, growable buffers, clocks and randomness.
*/
#include "rt_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void rt_oom(size_t n)
{
    fprintf(stderr, "flow: out of memory allocating %zu bytes\n", n);
    abort();
}

void *rt_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) rt_oom(n);
    return p;
}

void *rt_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) rt_oom(n * size);
    return p;
}

void *rt_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) rt_oom(n);
    return p;
}

char *rt_xstrdup(const char *s)
{
    return rt_xstrndup(s, strlen(s));
}

char *rt_xstrndup(const char *s, size_t n)
{
    char *p = rt_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *rt_xvprintf(const char *fmt, va_list ap)
{
    char small[256];            /* most messages fit: one formatting pass */
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) n = 0;
    char *p = rt_xmalloc((size_t)n + 1);
    if ((size_t)n < sizeof small) memcpy(p, small, (size_t)n + 1);
    else vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

/* The length of the well-formed UTF-8 sequence at p (at most n bytes), as
** strictly as jansson reads it back (no overlong forms, no surrogates,
** nothing above U+10FFFF), or 0. */
size_t rt_utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || len > n) return 0;
    unsigned char lo = 0x80, hi = 0xbf;         /* the range of the second byte */
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
    else if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return len;
}

char *rt_xconcat(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    char *p = rt_xmalloc(la + lb + lc + 1);
    memcpy(p, a, la);
    memcpy(p + la, b, lb);
    if (lc) memcpy(p + la + lb, c, lc);
    p[la + lb + lc] = '\0';
    return p;
}

char *rt_xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = rt_xvprintf(fmt, ap);
    va_end(ap);
    return p;
}

/* ---- buffers ------------------------------------------------------------ */

void rt_buf_reserve(rt_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;     /* most buffers never grow past it */
    while (cap < b->len + extra + 1) cap *= 2;
    if (b->on_storage) {                    /* outgrew the caller's storage: to the heap */
        char *heap = rt_xmalloc(cap);
        memcpy(heap, b->data, b->len + 1);
        b->data = heap;
        b->on_storage = false;
    } else {
        b->data = rt_xrealloc(b->data, cap);
    }
    b->cap = cap;
}



void rt_buf_printf(rt_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n > 0) {
        rt_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
    va_end(ap);
}

char *rt_buf_take(rt_buf *b)
{
    char *p = !b->data ? rt_xstrdup("") : b->on_storage ? rt_xstrndup(b->data, b->len) : b->data;
    *b = (rt_buf){ 0 };
    return p;
}

void rt_buf_free(rt_buf *b)
{
    if (!b->on_storage) free(b->data);
    *b = (rt_buf){ 0 };
}

void rt_ptrs_push(rt_ptrs *p, void *x)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->v = rt_xrealloc(p->v, sizeof *p->v * p->cap);
    }
    p->v[p->n++] = x;
}

/* ---- text ---------------------------------------------------------------- */

bool rt_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint64_t w;             /* ASCII 8 bytes at a time (header names, log lines) */
        if (i + 8 <= n && (memcpy(&w, u + i, 8), (w & 0x8080808080808080u) == 0)) {
            i += 8;
            continue;
        }
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = rt_utf8_seq(u + i, n - i);
        if (!len) return false;
        i += len;
    }
    return true;
}

void rt_utf8_repair(rt_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;             /* u[run..i) is copied as it is */
    rt_buf_reserve(b, n);
    for (size_t i = 0; i < n;) {
        size_t len = u[i] < 0x80 ? 1 : rt_utf8_seq(u + i, n - i);
        if (len) {
            i += len;
            continue;
        }
        rt_buf_append(b, s + run, i - run);
        rt_buf_puts(b, "\xef\xbf\xbd");
        run = ++i;
    }
    rt_buf_append(b, s + run, n - run);
}

size_t rt_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    /* back off over continuation bytes: a character is 4 bytes at most */
    size_t cut = max;
    while (cut > 0 && max - cut < 3 && ((unsigned char)s[cut] & 0xc0) == 0x80) cut--;
    return ((unsigned char)s[cut] & 0xc0) == 0x80 ? max : cut;
}

void rt_percent_encode(rt_buf *b, const char *s, size_t n, unsigned flags)
{
    const char *hex = flags & RT_PCT_LOWER ? "0123456789abcdef" : "0123456789ABCDEF";
    rt_buf_reserve(b, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            rt_buf_putc(b, (char)ch);
        } else if (ch == ' ' && (flags & RT_PCT_PLUS)) {
            rt_buf_putc(b, '+');
        } else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            rt_buf_append(b, e, 3);
        }
    }
}

/* ---- time --------------------------------------------------------------- */

int64_t rt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rt_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t rt_mono_ms(void)
{
    return rt_mono_us() / 1000;
}

void rt_format_time(int64_t ms, char *out, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    /* by hand: a log line per step makes this hot, and snprintf is slow */
    int year = tm.tm_year + 1900;
    if (n < 25 || year < 0 || year > 9999) {
        snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        return;
    }
    int msec = (int)(ms % 1000);
    const int parts[] = { year / 100, year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec };
    const char seps[] = { 0, 0, '-', '-', 'T', ':', ':' };     /* before each part */
    char *o = out;
    for (int i = 0; i < 7; i++) {
        if (seps[i]) *o++ = seps[i];
        *o++ = (char)('0' + parts[i] / 10);
        *o++ = (char)('0' + parts[i] % 10);
    }
    *o++ = '.';
    *o++ = (char)('0' + msec / 100);
    *o++ = (char)('0' + msec / 10 % 10);
    *o++ = (char)('0' + msec % 10);
    *o++ = 'Z';
    *o = '\0';
}

static bool rt_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

bool rt_parse_duration(const char *s, int64_t *ms)
{
    if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '.' && isdigit((unsigned char)s[1])))) return false;
    char *end;
    double v = strtod(s, &end), unit;
    if (end == s || !(v >= 0)) return false;
    for (const char *p = s; p < end; p++)       /* digits and a point: no exponent, no hex */
        if (!isdigit((unsigned char)*p) && *p != '.') return false;
    if (!*end) unit = v == 0 ? 1 : -1;      /* a unit is needed but for 0 */
    else if (strcmp(end, "ms") == 0) unit = 1;
    else if (strcmp(end, "s") == 0) unit = 1e3;
    else if (strcmp(end, "m") == 0) unit = 60e3;
    else if (strcmp(end, "h") == 0) unit = 3600e3;
    else if (strcmp(end, "d") == 0) unit = 86400e3;
    else if (strcmp(end, "w") == 0) unit = 7 * 86400e3;
    else unit = -1;
    if (unit < 0 || v * unit > 9.2e18) return false;
    *ms = (int64_t)(v * unit);
    return true;
}

char *rt_read_credential(const char *path, const char *what, char *err, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, n, "cannot read %s file %s: %s", what, path, strerror(e));
        errno = e;
        return NULL;
    }
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= 65536) rt_buf_append(&b, chunk, got);
    bool failed = ferror(f);
    fclose(f);
    memset(chunk, 0, sizeof chunk);
    while (b.len && (b.data[b.len - 1] == '\r' || b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' ' ||
                     b.data[b.len - 1] == '\t'))
        b.data[--b.len] = '\0';
    const char *why = failed ? "cannot be read" : b.len > 65536 ? "is over 64 KiB" : !b.len ? "is empty"
                      : memchr(b.data, '\0', b.len) ? "holds a NUL byte" : NULL;
    if (why) {
        snprintf(err, n, "%s file %s %s", what, path, why);
        memset(b.data, 0, b.len);
        rt_buf_free(&b);
        errno = EINVAL;
        return NULL;
    }
    return rt_buf_take(&b);
}

bool rt_parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    const char *p = s;
    if (!rt_digits(&p, 4, &y) || *p++ != '-' || !rt_digits(&p, 2, &mo) || *p++ != '-' || !rt_digits(&p, 2, &d))
        return false;
    int64_t off_min = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!rt_digits(&p, 2, &h) || *p++ != ':' || !rt_digits(&p, 2, &mi)) return false;
        if (*p == ':') {
            p++;
            if (!rt_digits(&p, 2, &sec)) return false;
        }
        if (*p == '.') {
            p++;
            int scale = 100;
            while (*p >= '0' && *p <= '9') {
                frac += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (!rt_digits(&p, 2, &oh)) return false;
            if (*p == ':') p++;
            if (*p && !rt_digits(&p, 2, &om)) return false;
            off_min = sign * (oh * 60 + om);
        }
    }
    if (*p) return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
                     .tm_sec = sec };
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - off_min * 60) * 1000 + frac;
    return true;
}

/* xorshift64*, seeded from getrandom(2). A mutex, not thread-local state:
** tcc cannot link TLS relocations into job binaries. */
uint64_t rt_random(uint64_t n)
{
    static uint64_t state;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    if (!state) {
        if (getrandom(&state, sizeof state, 0) != sizeof state) state = (uint64_t)rt_mono_ms() * 2654435761u;
        state |= 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    uint64_t r = state * 2685821657736338717ull;
    pthread_mutex_unlock(&lock);
    return n ? r % n : r;
}

long long rt_process_start(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "PID (comm) STATE ppid ..." where comm may hold spaces and parentheses */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X') return -1;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p) p++;
    }
    return p ? atoll(p) : -1;
}

char *rt_base64(const char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        rt_buf_putc(&b, tab[(v >> 18) & 63]);
        rt_buf_putc(&b, tab[(v >> 12) & 63]);
        rt_buf_putc(&b, i + 1 < n ? tab[(v >> 6) & 63] : '=');
        rt_buf_putc(&b, i + 2 < n ? tab[v & 63] : '=');
    }
    return rt_buf_take(&b);
}

const char *rt_env_name(char *buf, size_t n, const char *prefix, const char *name, const char *suffix)
{
    int len = snprintf(buf, n, "%s%s%s", prefix, name, suffix);
    for (int i = (int)strlen(prefix); i < len && (size_t)i < n; i++) buf[i] = (char)toupper((unsigned char)buf[i]);
    return buf;
}

/* d as JSON writes it when it is m / 10^k for an integer m of at most 15
** digits and %g would not use an exponent: the least such k is the least
** precision that reads back (more digits never read back with fewer). The
** test is exact without strtod: m and 10^k are exact doubles, so m / 10^k
** rounds the decimal as strtod would. 15 digits, because no two decimals
** that short give the same double (with 16, two may, and %g writes the
** nearer one), and d * 10^k is then within 0.12 of m. 0 when d is not of
** that form. */
static size_t float_fixed(double d, char *out, size_t n)
{
    static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                  1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    for (int k = 0; k < 16; k++) {
        double scaled = a * p10[k];
        if (scaled >= 1e15) return 0;
        uint64_t m = (uint64_t)(scaled + 0.5);
        if ((double)m / p10[k] != a) continue;
        char dig[24];                   /* m's digits, the last first */
        int nd = 0, zeros = 0;
        for (; m; m /= 10) dig[nd++] = (char)('0' + m % 10);
        if (k == 0)
            while (zeros < nd - 1 && dig[zeros] == '0') zeros++;     /* 20 is one digit: 2e1 */
        int exp10 = nd - 1 - k;
        if (exp10 < -4 || exp10 >= nd - zeros) return 0;         /* %g: an exponent */
        char text[48];
        size_t len = 0;
        if (d < 0) text[len++] = '-';
        if (nd <= k) {
            text[len++] = '0';
            text[len++] = '.';
            for (int z = nd; z < k; z++) text[len++] = '0';
        }
        for (int i = nd - 1; i >= 0; i--) {
            text[len++] = dig[i];
            if (i == k && k > 0) text[len++] = '.';
        }
        if (k == 0) {
            text[len++] = '.';
            text[len++] = '0';
        }
        if (n) {
            size_t fit = len < n ? len : n - 1;
            memcpy(out, text, fit);
            out[fit] = 0;
        }
        return len;
    }
    return 0;
}

/* The shortest %g form that reads back as the same double, JSON-style:
** 9.99 is "9.99", not "9.9900000000000002"; 0.1 + 0.2 is
** "0.30000000000000004" (the double it is). Most doubles in data are
** short decimals (float_fixed); otherwise, a precision that reads back
** makes every larger one read back too, so the least is found by halving. */
size_t rt_float_text(double d, char *out, size_t n)
{
    if (isnan(d) || isinf(d)) return (size_t)snprintf(out, n, "%s", isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
    size_t len = float_fixed(d, out, n);
    if (len) return len;
    char tmp[320], best[320];           /* %.17g needs 25; the compiler cannot tell */
    int lo = 1, hi = 17;                /* %.17g always reads back */
    snprintf(best, sizeof best, "%.17g", d);
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(tmp, sizeof tmp, "%.*g", mid, d);
        if (strtod(tmp, NULL) == d) {
            hi = mid;
            memcpy(best, tmp, sizeof best);
        } else {
            lo = mid + 1;
        }
    }
    /* the exponent as jansson writes it: 1e21, 1e-5 (not 1e+21, 1e-05) */
    char *e = strchr(best, 'e');
    if (e) {
        char *p = e + 1, *q = p;
        if (*q == '+') q++;
        else if (*q == '-') *p++ = *q++;
        while (*q == '0' && q[1]) q++;
        memmove(p, q, strlen(q) + 1);
    }
    return (size_t)snprintf(out, n, "%s%s", best, strpbrk(best, ".eE") ? "" : ".0");
}
