/*
** paths.h — where flowc finds its stdlib, runtime archive and headers.
**
** flowc lives in PREFIX/bin; the rest in PREFIX/share/flowc/stdlib,
** PREFIX/lib/flowc and PREFIX/include/flowc. The in-tree build/ directory
** has the same shape, so one rule serves both. FLOWC_HOME overrides PREFIX.
*/
#ifndef FLOWC_PATHS_H
#define FLOWC_PATHS_H

typedef struct flowc_paths {
    char prefix[4096];
    char stdlib_dir[4096];
    char lib_dir[4096];
    char include_dir[4096];
} flowc_paths;

/* Fill from the running executable (or $FLOWC_HOME). Never fails: on
** error the paths are relative to the current directory. */
void paths_init(flowc_paths *p, const char *argv0);

#endif
