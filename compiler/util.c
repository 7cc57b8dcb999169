/*
** util.c — xmalloc, arenas, pointer vectors and string buffers.
*/
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void util_oom(size_t n)
{
    fprintf(stderr, "flowc: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) util_oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) util_oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) util_oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

/* ---- arena ------------------------------------------------------------ */

struct arena_chunk {
    arena_chunk *next;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK_MIN (64 * 1024)

void arena_init(arena *a)
{
    a->head = NULL;
    a->used = a->cap = 0;
}

void arena_free(arena *a)
{
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena_init(a);
}

void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->cap - a->used < n) {
        size_t cap = n > ARENA_CHUNK_MIN ? n : ARENA_CHUNK_MIN;
        arena_chunk *c = xmalloc(sizeof *c + cap);
        c->next = a->head;
        c->cap = cap;
        a->head = c;
        a->cap = cap;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *d = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

void ptrvec_push(arena *a, ptrvec *v, void *item)
{
    if (v->len == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        void **items = arena_alloc(a, sizeof(void *) * (size_t)cap);
        if (v->len) memcpy(items, v->items, sizeof(void *) * (size_t)v->len);
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = item;
}

/* ---- strbuf ----------------------------------------------------------- */

static void strbuf_reserve(strbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) util_oom(b->len + extra + 1);
        cap *= 2;
    }
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void strbuf_append(strbuf *b, const char *s, size_t n)
{
    strbuf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void strbuf_puts(strbuf *b, const char *s) { strbuf_append(b, s, strlen(s)); }

void strbuf_putc(strbuf *b, char c) { strbuf_append(b, &c, 1); }

void strbuf_vprintf(strbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    strbuf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *strbuf_take(strbuf *b)
{
    char *d = b->data;
    if (!d) d = xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void strbuf_free(strbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

size_t util_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    size_t cut = max;           /* back off over continuation bytes: 3 at most */
    while (cut > 0 && max - cut < 3 && ((unsigned char)s[cut] & 0xc0) == 0x80) cut--;
    return ((unsigned char)s[cut] & 0xc0) == 0x80 ? max : cut;
}

char *util_read_file(const char *path, size_t max, size_t *len, char *why, size_t whylen)
{
    why[0] = 0;
    /* O_NONBLOCK: opening a FIFO with no writer must not block; it is
    ** refused below as not a regular file anyway. */
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(why, whylen, "not a regular file (%s)", S_ISDIR(sb.st_mode) ? "a directory"
                 : S_ISFIFO(sb.st_mode) ? "a FIFO" : S_ISCHR(sb.st_mode) ? "a character device"
                 : S_ISBLK(sb.st_mode) ? "a block device" : S_ISSOCK(sb.st_mode) ? "a socket" : "a special file");
        close(fd);
        return NULL;
    }
    if ((uintmax_t)sb.st_size > max) {
        snprintf(why, whylen, "file too large (%jd bytes; the limit is %zu)", (intmax_t)sb.st_size, max);
        close(fd);
        return NULL;
    }
    strbuf b = {0};
    char tmp[65536];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            snprintf(why, whylen, "%s", strerror(errno));
            break;
        }
        if (n == 0) break;
        /* the file may grow after fstat */
        if (b.len + (size_t)n > max) {
            snprintf(why, whylen, "file too large (over %zu bytes, the limit)", max);
            n = -1;
            break;
        }
        strbuf_append(&b, tmp, (size_t)n);
    }
    close(fd);
    if (why[0]) {
        strbuf_free(&b);
        return NULL;
    }
    strbuf_append(&b, "", 0);
    *len = b.len;
    return strbuf_take(&b);
}

bool util_write_text(const char *path, const char *text)
{
    if (strcmp(path, "-") == 0) {
        fputs(text, stdout);
        return true;
    }
    FILE *f = fopen(path, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}
