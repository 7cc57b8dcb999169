/*
** paths.c — locating flowc's installation from its own executable.
*/
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Cut the last path component off p (in place). */
static void paths_up(char *p)
{
    char *slash = strrchr(p, '/');
    if (slash && slash != p) *slash = 0;
    else if (slash) slash[1] = 0;
    else strcpy(p, ".");
}

void paths_init(flowc_paths *p, const char *argv0)
{
    const char *home = getenv("FLOWC_HOME");
    if (home && *home) {
        snprintf(p->prefix, sizeof p->prefix, "%s", home);
    } else {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
        } else {
            char *r = argv0 ? realpath(argv0, NULL) : NULL;
            snprintf(exe, sizeof exe, "%s", r ? r : "./bin/flowc");
            free(r);
        }
        paths_up(exe);      /* PREFIX/bin */
        paths_up(exe);      /* PREFIX */
        snprintf(p->prefix, sizeof p->prefix, "%s", exe);
    }
    snprintf(p->stdlib_dir, sizeof p->stdlib_dir, "%.4000s/share/flowc/stdlib", p->prefix);
    snprintf(p->lib_dir, sizeof p->lib_dir, "%.4000s/lib/flowc", p->prefix);
    snprintf(p->include_dir, sizeof p->include_dir, "%.4000s/include/flowc", p->prefix);
}
