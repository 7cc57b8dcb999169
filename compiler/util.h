/*
** util.h — memory and buffers shared by every compiler phase.
**
** Ownership: xmalloc/xrealloc/xstrdup return memory the caller frees with
** free(); they abort with the requested size when memory runs out.
** An arena owns everything allocated from it; arena_free releases it all.
** The whole AST of a compilation lives in one arena.
*/
#ifndef FLOWC_UTIL_H
#define FLOWC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Arena: bump allocator made of chunks; nothing is freed one by one. */
typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head;  /* newest chunk first */
    size_t used;        /* bytes used in head */
    size_t cap;         /* capacity of head */
} arena;

void  arena_init(arena *a);
void  arena_free(arena *a);
void *arena_alloc(arena *a, size_t n);             /* zeroed, 16-aligned */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Growable array of pointers, storage in an arena (old storage is left to
** the arena when it grows: at most twice the final size is spent). */
typedef struct ptrvec {
    void **items;
    int len, cap;
} ptrvec;

void ptrvec_push(arena *a, ptrvec *v, void *item);

/* Growable byte buffer, heap-owned; every append checks its room. */
typedef struct strbuf {
    char *data;         /* NUL-terminated, owned; NULL until first append */
    size_t len, cap;
} strbuf;

void strbuf_append(strbuf *b, const char *s, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_putc(strbuf *b, char c);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(strbuf *b, const char *fmt, va_list ap);
char *strbuf_take(strbuf *b);   /* returns data (caller frees), resets b */
void strbuf_free(strbuf *b);

/* Where a text of n bytes may be cut to keep at most max of them without
** splitting a UTF-8 character (n when n <= max): as the runtime's
** rt_utf8_cut, for source excerpts in diagnostics. */
size_t util_utf8_cut(const char *s, size_t n, size_t max);

/* Read a whole regular file of at most max bytes; returns a new
** NUL-terminated buffer (caller frees) and its length in *len. On failure
** returns NULL with why saying what is wrong:
** the system's error, "not a regular file (a directory)" (a FIFO, a device:
** never read, it could block or never end), or "file too large". */
char *util_read_file(const char *path, size_t max, size_t *len, char *why, size_t whylen);

/* Writes text to path ("-": stdout); false when it cannot be written
** (errno says why). */
bool util_write_text(const char *path, const char *text);

#endif
