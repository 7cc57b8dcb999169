/*
** graph.h — `flowc graph`: a checked workflow as a Graphviz digraph.
**
** The trigger, each step (kind, name, a request's method and URL), if /
** else-if / else branches labelled with their conditions, fanouts as
** clusters, control-flow edges in order, and dashed edges for data: which
** earlier step's output an expression reads.
*/
#ifndef FLOWC_GRAPH_H
#define FLOWC_GRAPH_H

#include "ast.h"

/* Appends the dot text of prog (checked without errors) to out. */
void graph_write_dot(ast_program *prog, strbuf *out);

/* `flowc graph FILE [--svg OUT]`: returns the exit status. */
int graph_main(int argc, char **argv, const char *stdlib_dir);

#endif
