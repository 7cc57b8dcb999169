#include "fmt.h"
#include <stdlib.h>
#include <string.h>
char *fmt_source(const char *path, const char *text, int len, char **err) { (void)path; (void)err; char *s = malloc(len+1); memcpy(s, text, len); s[len]=0; return s; }
int fmt_main(int argc, char **argv) { (void)argc; (void)argv; return 2; }
