/*
** diag.h — source files and gcc-style diagnostics, shared by every phase.
**
** Locations are byte offsets into a registered file; a line map turns them
** into line:column only when a diagnostic is printed. Phases report through
** one diag_ctx, count errors and keep going; the exit status comes from
** diag_ctx.errors.
*/
#ifndef FLOWC_DIAG_H
#define FLOWC_DIAG_H

#include <stdarg.h>
#include <stdio.h>

/* A span of source: file index in the diag_ctx, [start, end) byte offsets. */
typedef struct src_loc {
    int file;
    int start;
    int end;
} src_loc;

typedef struct diag_file {
    char *path;         /* owned; as given on the command line or resolved */
    char *text;         /* owned; NUL-terminated contents */
    int len;            /* bytes in text */
    int *line_starts;   /* owned; byte offset of each line, built lazily */
    int nlines;
    int col_line, col_offset, col_chars;    /* last column counted (diag_line_col) */
} diag_file;

typedef enum diag_severity {
    DIAG_ERROR,
    DIAG_WARNING,
    DIAG_NOTE,
} diag_severity;

/* Receives each diagnostic instead of `out` when set (flowc lsp): the
** message is formatted, without the path or source excerpt. has_loc is
** false for diag_error_noloc, whose path (may be NULL) is then given. */
typedef void (*diag_sink_fn)(void *ud, diag_severity sev, const src_loc *loc, const char *path,
                             const char *msg);

typedef struct diag_ctx {
    diag_file **files;  /* owned */
    int nfiles, cap;
    int errors;         /* errors reported so far */
    int warnings;
    int max_errors;     /* stop printing after this many (0 = no limit) */
    FILE *out;          /* where diagnostics go (stderr by default) */
    diag_sink_fn sink;  /* when set, diagnostics go here and not to out */
    void *sink_ud;
} diag_ctx;

void diag_init(diag_ctx *d);
void diag_free(diag_ctx *d);

/* Register a file; takes ownership of text (malloc'd, NUL-terminated).
** Returns the file index used in src_loc.file. */
int diag_add_file(diag_ctx *d, const char *path, char *text, int len);

/* Replace the text of registered file `file` (takes ownership of text, as
** diag_add_file; the old text is freed). Locations into the old text are
** meaningless afterwards. flowc lsp re-analyses an edited document under
** the same file index. */
void diag_set_text(diag_ctx *d, int file, char *text, int len);

/* Line (1-based) and column (1-based, in characters) of a byte offset.
** Asked in increasing offsets along a line, it counts each byte once. */
void diag_line_col(diag_ctx *d, int file, int offset, int *line, int *col);
/* The line alone, in O(log lines). */
int diag_line_of(diag_ctx *d, int file, int offset);

/* Report at loc. The message is printed as
**   path:line:col: error: message
**    LINE | source text
**         |    ^~~~
*/
void diag_error(diag_ctx *d, src_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_verror(diag_ctx *d, src_loc loc, const char *fmt, va_list ap);
void diag_warning(diag_ctx *d, src_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_note(diag_ctx *d, src_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Report an already formatted message (the sink's arguments: loc NULL for
** one without position), counted as diag_error/diag_warning count. */
void diag_report(diag_ctx *d, diag_severity sev, const src_loc *loc, const char *path, const char *msg);
/* An error with no source position: "path: error: message" (path may be NULL). */
void diag_error_noloc(diag_ctx *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The span of line `line` (1-based) of a file from its first non-blank
** character to its end; the whole file's end when the line is past it. */
src_loc diag_line_loc(diag_ctx *d, int file, int line);

/* Index of the registered file with this path, or -1. */
int diag_find_file(diag_ctx *d, const char *path);

/* "line:col" of loc's start, in a buffer owned by the caller. */
void diag_format_pos(diag_ctx *d, src_loc loc, char *buf, size_t size);

#endif
