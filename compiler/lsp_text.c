/*
** lsp_text.c — positions, URIs and JSON strings for the editor (lsp_text.h).
*/
#include "lsp_text.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void lsp_lines_build(lsp_lines *l, const char *text, int len)
{
    int cap = 1024;
    l->starts = xmalloc(sizeof *l->starts * (size_t)cap);
    l->n = 0;
    l->starts[l->n++] = 0;
    for (const char *p = text, *end = text + len; (p = memchr(p, '\n', (size_t)(end - p))); p++) {
        if (l->n == cap) {
            cap *= 2;
            l->starts = xrealloc(l->starts, sizeof *l->starts * (size_t)cap);
        }
        l->starts[l->n++] = (int)(p - text) + 1;
    }
}

void lsp_lines_free(lsp_lines *l)
{
    free(l->starts);
    l->starts = NULL;
    l->n = 0;
}

/* Length of the UTF-8 sequence starting at s[i] (1 for an invalid byte),
** and through *units the UTF-16 code units of the character. */
static int lsp_utf8_len(const unsigned char *s, int i, int len, int *units)
{
    unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (i + n > len) n = 1;
    for (int k = 1; k < n; k++)
        if ((s[i + k] & 0xC0) != 0x80) n = 1;
    *units = n == 4 ? 2 : 1;
    return n;
}

static int lsp_line_end(const lsp_lines *l, const char *text, int len, int line)
{
    int end = line + 1 < l->n ? l->starts[line + 1] - 1 : len;
    (void)text;
    return end;
}

int lsp_offset(const lsp_lines *l, const char *text, int len, int line, int character)
{
    if (line < 0) return 0;
    if (line >= l->n) return len;
    int i = l->starts[line], end = lsp_line_end(l, text, len, line);
    int col = 0;
    while (i < end && col < character) {
        int units;
        int n = lsp_utf8_len((const unsigned char *)text, i, end, &units);
        if (col + units > character) break;     /* inside a surrogate pair */
        col += units;
        i += n;
    }
    return i;
}

int lsp_text_offset(const char *text, int len, int line, int character)
{
    if (line < 0) return 0;
    int start = 0;
    for (int k = 0; k < line; k++) {
        const char *nl = memchr(text + start, '\n', (size_t)(len - start));
        if (!nl) return len;
        start = (int)(nl - text) + 1;
    }
    const char *nl = memchr(text + start, '\n', (size_t)(len - start));
    int end = nl ? (int)(nl - text) : len;
    int i = start, col = 0;
    while (i < end && col < character) {
        int units;
        int n = lsp_utf8_len((const unsigned char *)text, i, end, &units);
        if (col + units > character) break;
        col += units;
        i += n;
    }
    return i;
}

void lsp_position(const lsp_lines *l, const char *text, int len, int offset, int *line, int *character)
{
    if (offset < 0) offset = 0;
    if (offset > len) offset = len;
    int lo = 0, hi = l->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (l->starts[mid] <= offset) lo = mid;
        else hi = mid - 1;
    }
    int col = 0;
    for (int i = l->starts[lo]; i < offset;) {
        int units;
        i += lsp_utf8_len((const unsigned char *)text, i, len, &units);
        col += units;
    }
    *line = lo;
    *character = col;
}

json_t *lsp_json_position(const lsp_lines *l, const char *text, int len, int offset)
{
    int line, ch;
    lsp_position(l, text, len, offset, &line, &ch);
    return json_pack("{s:i, s:i}", "line", line, "character", ch);
}

json_t *lsp_json_range(const lsp_lines *l, const char *text, int len, int start, int end)
{
    if (end < start) end = start;
    return json_pack("{s:o, s:o}", "start", lsp_json_position(l, text, len, start), "end",
                     lsp_json_position(l, text, len, end));
}

static bool lsp_uri_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '/';
}

char *lsp_path_to_uri(const char *path)
{
    char *abs = realpath(path, NULL);
    strbuf b = { 0 };
    if (!abs && path[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) {
            strbuf full = { 0 };
            strbuf_printf(&full, "%s/%s", cwd, path);
            abs = strbuf_take(&full);
        }
    }
    const char *p = abs ? abs : path;
    strbuf_puts(&b, "file://");
    for (const unsigned char *s = (const unsigned char *)p; *s; s++) {
        if (lsp_uri_plain(*s)) strbuf_putc(&b, (char)*s);
        else strbuf_printf(&b, "%%%02X", *s);
    }
    free(abs);
    return strbuf_take(&b);
}

static int lsp_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *lsp_uri_to_path(const char *uri)
{
    if (strncmp(uri, "file://", 7) != 0) return NULL;
    const char *p = uri + 7;
    /* file://host/path: only an empty host or localhost is ours */
    if (*p != '/') {
        if (strncmp(p, "localhost/", 10) != 0) return NULL;
        p += 9;
    }
    strbuf b = { 0 };
    for (; *p && *p != '?' && *p != '#'; p++) {
        if (*p == '%' && lsp_hex(p[1]) >= 0 && lsp_hex(p[2]) >= 0) {
            char c = (char)(lsp_hex(p[1]) * 16 + lsp_hex(p[2]));
            if (c == 0) c = '_';    /* a NUL cannot be in a path */
            strbuf_putc(&b, c);
            p += 2;
        } else {
            strbuf_putc(&b, *p);
        }
    }
    return strbuf_take(&b);
}

json_t *lsp_json_strn(const char *s, size_t n)
{
    strbuf b = { 0 };
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int units;
        int len = lsp_utf8_len(u, (int)i, (int)(n > INT_MAX ? INT_MAX : n), &units);
        bool valid = len > 1 || u[i] < 0x80;
        /* overlong forms, surrogates and code points past U+10FFFF: invalid */
        if (len == 2 && u[i] < 0xC2) valid = false;
        if (len == 3 && ((u[i] == 0xE0 && u[i + 1] < 0xA0) || (u[i] == 0xED && u[i + 1] >= 0xA0))) valid = false;
        if (len == 4 && ((u[i] == 0xF0 && u[i + 1] < 0x90) || u[i] > 0xF4 || (u[i] == 0xF4 && u[i + 1] >= 0x90)))
            valid = false;
        if (u[i] == 0) valid = false;
        if (valid) strbuf_append(&b, s + i, (size_t)len);
        else strbuf_puts(&b, "\xEF\xBF\xBD");
        i += valid ? (size_t)len : 1;
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    strbuf_free(&b);
    return j ? j : json_string("");
}

json_t *lsp_json_str(const char *s)
{
    return lsp_json_strn(s ? s : "", s ? strlen(s) : 0);
}
