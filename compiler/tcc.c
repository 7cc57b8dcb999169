/*
** tcc.c — the libtcc driver: compile generated C, link libflowrt.a and the
** shared libraries, write an ELF executable or run in memory.
*/
#include "tcc.h"
#include "util.h"

#include <ctype.h>
#include <libtcc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libtcc (0.9.27, Debian's) keeps a function's labels on two global lists
** that it empties at the end of each function, but not when an error
** leaves the function half-compiled: the next state's first function then
** walks labels freed with the old state (a crash in label_pop). flowc
** compiles many bodies in one process (check, the editor), so every state
** is deleted through here, and the lists start empty again. */
extern void *global_label_stack, *local_label_stack;

static void cc_delete(TCCState *s)
{
    tcc_delete(s);
    global_label_stack = NULL;
    local_label_stack = NULL;
}

/* Turns tcc's "path:LINE: error: msg" into our diagnostics. */
typedef struct cc_errctx {
    diag_ctx *d;
    int errors;
} cc_errctx;

/* tcc names only a line; when its message quotes an identifier ('x'
** undeclared) that occurs in the line, point the caret at it. */
static src_loc cc_narrow(const diag_ctx *d, src_loc loc, const char *text)
{
    const char *q = strchr(text, '\'');
    const char *qe = q ? strchr(q + 1, '\'') : NULL;
    if (!qe || qe == q + 1) return loc;
    size_t n = (size_t)(qe - q - 1);
    const char *src = d->files[loc.file]->text;
    for (int i = loc.start; i + (int)n <= loc.end; i++) {
        bool word_start = i == loc.start || !(isalnum((unsigned char)src[i - 1]) || src[i - 1] == '_');
        bool word_end = !(isalnum((unsigned char)src[i + n]) || src[i + n] == '_');
        if (word_start && word_end && memcmp(src + i, q + 1, n) == 0) {
            loc.start = i;
            loc.end = i + (int)n;
            return loc;
        }
    }
    return loc;
}

src_loc cc_message_loc(diag_ctx *d, int file, int line, const char *text)
{
    return cc_narrow(d, diag_line_loc(d, file, line), text);
}

bool cc_parse_message(const char *msg, char *path, size_t size, int *line, bool *warning, const char **text)
{
    *warning = strstr(msg, ": warning: ") != NULL;
    const char *colon = strchr(msg, ':');
    if (!colon || (size_t)(colon - msg) >= size) return false;
    char *end;
    long n = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != ':' || n < 1 || n > 100000000) return false;
    memcpy(path, msg, (size_t)(colon - msg));
    path[colon - msg] = 0;
    *line = (int)n;
    const char *t = end + 1;
    while (*t == ' ') t++;
    if (strncmp(t, "error: ", 7) == 0) t += 7;
    else if (strncmp(t, "warning: ", 9) == 0) t += 9;
    *text = t;
    return true;
}

static void cc_on_error(void *opaque, const char *msg)
{
    cc_errctx *ec = opaque;
    /* "file:line: error: text" or "file:line: warning: text" or plain text */
    char path[1024];
    int line;
    bool warning;
    const char *text;
    bool located = cc_parse_message(msg, path, sizeof path, &line, &warning, &text);
    if (!warning) ec->errors++;
    int file = located ? diag_find_file(ec->d, path) : -1;
    if (file >= 0) {
        src_loc loc = cc_message_loc(ec->d, file, line, text);
        if (warning) diag_warning(ec->d, loc, "%s", text);
        else diag_error(ec->d, loc, "%s", text);
        return;
    }
    if (warning) {
        fprintf(ec->d->out, "%s\n", msg);
    } else {
        ec->d->errors++;
        fprintf(ec->d->out, "flowc: error: generated C: %s\n", msg);
    }
}

static TCCState *cc_prepare_units(cc_errctx *ec, const flowc_paths *paths, int output, const char *const *sources,
                                  int nsources)
{
    TCCState *s = tcc_new();
    if (!s) {
        diag_error_noloc(ec->d, NULL, "cannot create a libtcc state");
        return NULL;
    }
    tcc_set_error_func(s, ec, cc_on_error);
    tcc_set_output_type(s, output);
    tcc_add_include_path(s, paths->include_dir);
    tcc_add_library_path(s, paths->lib_dir);
    /* each source is a translation unit of its own: static names stay in it */
    for (int i = 0; i < nsources; i++) {
        if (tcc_compile_string(s, sources[i]) < 0 || ec->errors) {
            cc_delete(s);
            return NULL;
        }
    }
    char rt[4200];
    snprintf(rt, sizeof rt, "%s/libflowrt.a", paths->lib_dir);
    struct stat sb;
    if (stat(rt, &sb) != 0) {
        diag_error_noloc(ec->d, rt, "runtime archive not found (is flowc installed completely?)");
        cc_delete(s);
        return NULL;
    }
    static const char *const libs[] = { "curl", "crypto", "jansson", "lmdb", "microhttpd", "m", "pthread", "dl" };
    if (tcc_add_file(s, rt) < 0) {
        cc_delete(s);
        return NULL;
    }
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        if (tcc_add_library(s, libs[i]) < 0) {
            diag_error_noloc(ec->d, NULL, "cannot find library -l%s", libs[i]);
            cc_delete(s);
            return NULL;
        }
    }
    return s;
}

static TCCState *cc_prepare(cc_errctx *ec, const flowc_paths *paths, int output, const char *c_source)
{
    return cc_prepare_units(ec, paths, output, &c_source, 1);
}

bool cc_build_exe(diag_ctx *d, const flowc_paths *paths, const char *c_source, const char *out_path)
{
    return cc_build_exe_units(d, paths, &c_source, 1, out_path);
}

bool cc_build_exe_units(diag_ctx *d, const flowc_paths *paths, const char *const *sources, int n,
                        const char *out_path)
{
    cc_errctx ec = { .d = d };
    TCCState *s = cc_prepare_units(&ec, paths, TCC_OUTPUT_EXE, sources, n);
    if (!s) return false;
    bool ok = tcc_output_file(s, out_path) == 0 && !ec.errors;
    cc_delete(s);
    if (!ok) diag_error_noloc(d, out_path, "cannot write the executable");
    return ok;
}

/* Compiles in memory and returns the relocated state with *sym set to the
** named symbol, or NULL (reported). The caller cc_delete()s the state. */
static TCCState *cc_load(cc_errctx *ec, const flowc_paths *paths, const char *c_source, const char *name,
                         void **sym)
{
    TCCState *s = cc_prepare(ec, paths, TCC_OUTPUT_MEMORY, c_source);
    if (!s) return NULL;
    if (tcc_relocate(s, TCC_RELOCATE_AUTO) < 0) {
        diag_error_noloc(ec->d, NULL, "cannot relocate the compiled workflow");
        cc_delete(s);
        return NULL;
    }
    *sym = tcc_get_symbol(s, name);
    if (!*sym) {
        diag_error_noloc(ec->d, NULL, "the compiled workflow has no %s", name);
        cc_delete(s);
        return NULL;
    }
    fflush(NULL);
    return s;
}

int cc_run_memory(diag_ctx *d, const flowc_paths *paths, const char *c_source, int argc, char **argv)
{
    cc_errctx ec = { .d = d };
    void *sym;
    TCCState *s = cc_load(&ec, paths, c_source, "main", &sym);
    if (!s) return -1;
    int (*job_main)(int, char **) = (int (*)(int, char **))sym;
    int rc = job_main(argc, argv);
    fflush(NULL);
    cc_delete(s);
    return rc;
}

int cc_run_tests(diag_ctx *d, const flowc_paths *paths, const char *c_source, const char *filter, int flags,
                 FILE *junit, int counts[2])
{
    cc_errctx ec = { .d = d };
    void *sym;
    TCCState *s = cc_load(&ec, paths, c_source, "flow_test_main", &sym);
    if (!s) return -1;
    typedef int (*test_main_fn)(const char *, int, FILE *, int *);
    int rc = ((test_main_fn)sym)(filter, flags, junit, counts);
    fflush(NULL);
    cc_delete(s);
    return rc;
}

/* Collects messages for cc_compile_only. */
typedef struct cc_collect {
    void (*on_msg)(void *ud, const char *msg);
    void *ud;
    int errors;
} cc_collect;

static void cc_on_collect(void *opaque, const char *msg)
{
    cc_collect *cc = opaque;
    if (!strstr(msg, ": warning: ")) cc->errors++;
    cc->on_msg(cc->ud, msg);
}

int cc_compile_only(const flowc_paths *paths, const char *c_source, void (*on_msg)(void *ud, const char *msg),
                    void *ud)
{
    cc_collect cc = { on_msg, ud, 0 };
    TCCState *s = tcc_new();
    if (!s) {
        on_msg(ud, "cannot create a libtcc state");
        return 1;
    }
    tcc_set_error_func(s, &cc, cc_on_collect);
    tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
    tcc_add_include_path(s, paths->include_dir);
    if (tcc_compile_string(s, c_source) < 0 && cc.errors == 0) cc.errors = 1;
    cc_delete(s);
    return cc.errors;
}
