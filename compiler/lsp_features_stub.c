#include "lsp_features.h"
#include "fmt.h"
#include <stdlib.h>
#include <string.h>
json_t *lsp_complete(lsp_ws *ws, lsp_analysis *an, int offset) { (void)ws; (void)an; (void)offset; return json_pack("{s:b,s:[]}", "isIncomplete", 0, "items"); }
json_t *lsp_hover(lsp_ws *ws, lsp_analysis *an, int offset) { (void)ws; (void)an; (void)offset; return json_null(); }
json_t *lsp_definition(lsp_ws *ws, lsp_analysis *an, int offset) { (void)ws; (void)an; (void)offset; return json_null(); }
json_t *lsp_references(lsp_ws *ws, lsp_analysis *an, int offset, bool d) { (void)ws; (void)an; (void)offset; (void)d; return json_array(); }
json_t *lsp_symbols(lsp_ws *ws, lsp_analysis *an) { (void)ws; (void)an; return json_array(); }
json_t *lsp_prepare_rename(lsp_ws *ws, lsp_analysis *an, int offset) { (void)ws; (void)an; (void)offset; return json_null(); }
json_t *lsp_rename(lsp_ws *ws, lsp_analysis *an, int offset, const char *n, char *err, size_t es) { (void)ws; (void)an; (void)offset; (void)n; snprintf(err, es, "no"); return NULL; }
char *lsp_file_uri(lsp_ws *ws, int file) { return lsp_path_to_uri(lsp_ws_file_path(ws, file)); }
char *fmt_source(const char *path, const char *text, int len, char **err) { (void)path; (void)err; char *s = malloc(len+1); memcpy(s, text, len); s[len]=0; return s; }
int fmt_main(int argc, char **argv) { (void)argc; (void)argv; return 2; }
