/*
** lsp_text.h — texts as the editor sees them: positions (line and UTF-16
** column, LSP's default encoding) to byte offsets and back, incremental
** edits, file URIs, and strings safe to put in JSON.
*/
#ifndef FLOWC_LSP_TEXT_H
#define FLOWC_LSP_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Line starts of a text, for position conversions. */
typedef struct lsp_lines {
    int *starts;            /* owned: byte offset of each line */
    int n;
} lsp_lines;

void lsp_lines_build(lsp_lines *l, const char *text, int len);
void lsp_lines_free(lsp_lines *l);

/* The byte offset of (line, UTF-16 character), clamped to the text and to
** the end of the line (before its newline). */
int lsp_offset(const lsp_lines *l, const char *text, int len, int line, int character);
/* lsp_offset without a line table: scans the text for the line (for a
** text that is used once). */
int lsp_text_offset(const char *text, int len, int line, int character);
/* The position of a byte offset (clamped to the text). */
void lsp_position(const lsp_lines *l, const char *text, int len, int offset, int *line, int *character);

/* {"line": L, "character": C} and {"start": ..., "end": ...}: new references. */
json_t *lsp_json_position(const lsp_lines *l, const char *text, int len, int offset);
json_t *lsp_json_range(const lsp_lines *l, const char *text, int len, int start, int end);

/* A path (made absolute) as a file:// URI, percent-encoded; the caller frees. */
char *lsp_path_to_uri(const char *path);
/* The path of a file:// URI (decoded), or NULL for another scheme; the
** caller frees. */
char *lsp_uri_to_path(const char *uri);

/* A JSON string of s, with bytes that are not UTF-8 replaced by U+FFFD
** (jansson refuses them, and they come from source text): new reference. */
json_t *lsp_json_str(const char *s);
json_t *lsp_json_strn(const char *s, size_t n);

#endif
