/*
** diag.c — line maps and gcc-style diagnostics with a source line and caret.
*/
#include "diag.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void diag_init(diag_ctx *d)
{
    memset(d, 0, sizeof *d);
    d->out = stderr;
    d->max_errors = 200;
}

void diag_free(diag_ctx *d)
{
    for (int i = 0; i < d->nfiles; i++) {
        free(d->files[i]->path);
        free(d->files[i]->text);
        free(d->files[i]->line_starts);
        free(d->files[i]);
    }
    free(d->files);
    d->files = NULL;
    d->nfiles = d->cap = 0;
}

int diag_add_file(diag_ctx *d, const char *path, char *text, int len)
{
    if (d->nfiles == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->files = xrealloc(d->files, sizeof *d->files * (size_t)d->cap);
    }
    diag_file *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->text = text;
    f->len = len;
    d->files[d->nfiles] = f;
    return d->nfiles++;
}

void diag_set_text(diag_ctx *d, int file, char *text, int len)
{
    diag_file *f = d->files[file];
    free(f->text);
    free(f->line_starts);
    f->text = text;
    f->len = len;
    f->line_starts = NULL;
    f->nlines = 0;
    f->col_line = f->col_offset = f->col_chars = 0;   /* the column cache was of the old text */
}

static void diag_build_lines(diag_file *f)
{
    if (f->line_starts) return;
    int n = 1;
    const char *end = f->text + f->len;
    for (const char *p = f->text; (p = memchr(p, '\n', (size_t)(end - p))); p++) n++;
    f->line_starts = xmalloc(sizeof(int) * (size_t)n);
    f->nlines = 0;
    f->line_starts[f->nlines++] = 0;
    for (const char *p = f->text; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        f->line_starts[f->nlines++] = (int)(p - f->text) + 1;
}

/* Index of the line holding offset (binary search in line_starts). */
static int diag_line_index(diag_file *f, int offset)
{
    diag_build_lines(f);
    int lo = 0, hi = f->nlines - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f->line_starts[mid] <= offset) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* Characters between two offsets: UTF-8 continuation bytes do not count. */
static int diag_chars(const char *s, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

int diag_line_of(diag_ctx *d, int file, int offset)
{
    diag_file *f = d->files[file];
    if (offset < 0) offset = 0;
    if (offset > f->len) offset = f->len;
    return diag_line_index(f, offset) + 1;
}

void diag_line_col(diag_ctx *d, int file, int offset, int *line, int *col)
{
    diag_file *f = d->files[file];
    if (offset < 0) offset = 0;
    if (offset > f->len) offset = f->len;
    int li = diag_line_index(f, offset);
    *line = li + 1;
    /* Columns are counted from the last position asked on the same line
    ** when it is not past this one: callers go forward through a file, and
    ** counting from the line's start each time made a long line quadratic. */
    int from = f->line_starts[li], base = 0;
    if (f->col_line == li && f->col_offset > from && f->col_offset <= offset) {
        from = f->col_offset;
        base = f->col_chars;
    }
    int chars = base + diag_chars(f->text, from, offset);
    f->col_line = li;
    f->col_offset = offset;
    f->col_chars = chars;
    *col = chars + 1;
}

void diag_format_pos(diag_ctx *d, src_loc loc, char *buf, size_t size)
{
    int line, col;
    diag_line_col(d, loc.file, loc.start, &line, &col);
    snprintf(buf, size, "%d:%d", line, col);
}

/* Widest source excerpt shown; a longer line is cut to a window around
** the caret, marked with "..." on the cut sides. */
enum { DIAG_WINDOW = 120, DIAG_LEAD = 40 };

/* Moves back to the first byte of a UTF-8 sequence. */
static int diag_char_start(const char *s, int lo, int i)
{
    while (i > lo && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Print the source line of loc with a ^~~~ underline below it. */
static void diag_print_source(diag_ctx *d, src_loc loc)
{
    diag_file *f = d->files[loc.file];
    int start = loc.start < 0 ? 0 : loc.start > f->len ? f->len : loc.start;
    int li = diag_line_index(f, start);
    int ls = f->line_starts[li];
    int le = ls;
    while (le < f->len && f->text[le] != '\n') le++;
    if (le > ls && f->text[le - 1] == '\r') le--;
    int end = loc.end > le ? le : loc.end;
    if (end <= start) end = start + 1;

    /* the excerpt [ws, we) of the line */
    int ws = ls, we = le;
    if (diag_chars(f->text, ls, le) > DIAG_WINDOW) {
        if (start - ls > DIAG_LEAD) ws = diag_char_start(f->text, ls, start - DIAG_LEAD);
        we = ws;
        for (int n = 0; we < le && n < DIAG_WINDOW; n++) {
            we++;
            while (we < le && ((unsigned char)f->text[we] & 0xC0) == 0x80) we++;
        }
    }
    const char *cut_left = ws > ls ? "..." : "", *cut_right = we < le ? "..." : "";

    strbuf b = { 0 };
    char num[16];
    int w = snprintf(num, sizeof num, "%d", li + 1);
    if (w < 5) w = 5;
    strbuf_printf(&b, " %*d | %s", w, li + 1, cut_left);
    for (int i = ws; i < we; i++) {
        unsigned char c = (unsigned char)f->text[i];
        /* Control bytes and NULs would garble the terminal: show them as '?'. */
        strbuf_putc(&b, (char)(c == '\t' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : c));
    }
    strbuf_printf(&b, "%s\n %*s | %s", cut_right, w, "", cut_left);
    int pad = diag_chars(f->text, ws, start);
    for (int i = 0; i < pad; i++) strbuf_putc(&b, ' ');
    strbuf_putc(&b, '^');
    int span = diag_chars(f->text, start, end < we ? end : we);
    for (int i = 1; i < span; i++) strbuf_putc(&b, '~');
    strbuf_putc(&b, '\n');
    fwrite(b.data, 1, b.len, d->out);
    strbuf_free(&b);
}

/* The sink's view of a diagnostic: the message formatted on its own. */
static void diag_to_sink(diag_ctx *d, diag_severity sev, const src_loc *loc, const char *path,
                         const char *fmt, va_list ap)
{
    strbuf b = { 0 };
    strbuf_vprintf(&b, fmt, ap);
    d->sink(d->sink_ud, sev, loc, path, b.data ? b.data : "");
    strbuf_free(&b);
}

static void diag_emit(diag_ctx *d, const char *kind, src_loc loc, const char *fmt, va_list ap)
{
    if (d->sink) {
        diag_severity sev = kind[0] == 'e' ? DIAG_ERROR : kind[0] == 'w' ? DIAG_WARNING : DIAG_NOTE;
        diag_to_sink(d, sev, &loc, NULL, fmt, ap);
        return;
    }
    int line, col;
    diag_line_col(d, loc.file, loc.start, &line, &col);
    fprintf(d->out, "%s:%d:%d: %s: ", d->files[loc.file]->path, line, col, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    diag_print_source(d, loc);
}

void diag_verror(diag_ctx *d, src_loc loc, const char *fmt, va_list ap)
{
    d->errors++;
    if (d->max_errors && d->errors > d->max_errors) {
        if (d->errors == d->max_errors + 1 && !d->sink)
            fprintf(d->out, "%s: too many errors, stopping after %d\n",
                    d->files[loc.file]->path, d->max_errors);
        return;
    }
    diag_emit(d, "error", loc, fmt, ap);
}

void diag_error(diag_ctx *d, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, loc, fmt, ap);
    va_end(ap);
}

void diag_warning(diag_ctx *d, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    d->warnings++;
    va_start(ap, fmt);
    diag_emit(d, "warning", loc, fmt, ap);
    va_end(ap);
}

void diag_note(diag_ctx *d, src_loc loc, const char *fmt, ...)
{
    if (d->max_errors && d->errors > d->max_errors) return;
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, "note", loc, fmt, ap);
    va_end(ap);
}

void diag_error_noloc(diag_ctx *d, const char *path, const char *fmt, ...)
{
    va_list ap;
    d->errors++;
    if (d->sink) {
        va_start(ap, fmt);
        diag_to_sink(d, DIAG_ERROR, NULL, path, fmt, ap);
        va_end(ap);
        return;
    }
    if (path) fprintf(d->out, "%s: ", path);
    fputs("error: ", d->out);
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
}

void diag_report(diag_ctx *d, diag_severity sev, const src_loc *loc, const char *path, const char *msg)
{
    if (!loc) {
        diag_error_noloc(d, path, "%s", msg);
    } else if (sev == DIAG_ERROR) {
        diag_error(d, *loc, "%s", msg);
    } else if (sev == DIAG_WARNING) {
        diag_warning(d, *loc, "%s", msg);
    } else {
        diag_note(d, *loc, "%s", msg);
    }
}

src_loc diag_line_loc(diag_ctx *d, int file, int line)
{
    diag_file *f = d->files[file];
    diag_build_lines(f);
    src_loc loc = { file, f->len, f->len };
    if (line < 1 || line > f->nlines) return loc;
    int s = f->line_starts[line - 1], e = s;
    while (e < f->len && f->text[e] != '\n') e++;
    while (s < e && (f->text[s] == ' ' || f->text[s] == '\t')) s++;
    loc.start = s;
    loc.end = e > s ? e : s + 1;
    return loc;
}

int diag_find_file(diag_ctx *d, const char *path)
{
    for (int i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i]->path, path) == 0) return i;
    return -1;
}
