/*
** fmt.h — `flowc fmt`: one canonical layout of a .flow file.
**
** The file is parsed (the grammar of `flowc check`) and printed back from
** its syntax tree: indentation, spacing and line breaks are the printer's,
** comments stay where they were (the lexer keeps them aside), blank lines
** between items are kept (at most one), and C bodies are copied byte for
** byte. Formatting a formatted file changes nothing. A file with syntax
** errors is not formatted.
*/
#ifndef FLOWC_FMT_H
#define FLOWC_FMT_H

#include "paths.h"

/* The formatted text of a .flow source (len bytes, may hold NULs) as a new
** NUL-terminated string (caller frees); NULL when it has syntax errors,
** with the first of them in *err ("line:col: message", caller frees). */
char *fmt_source(const char *path, const char *text, int len, char **err);

/* `flowc fmt [--check | --stdout] FILE...` (argv after "fmt"). */
int fmt_main(int argc, char **argv);

#endif
