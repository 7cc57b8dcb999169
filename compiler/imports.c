/*
** imports.c — resolves import paths, parses each file once, detects cycles.
*/
#include "imports.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* The largest source file read: far beyond any real workflow (a 50,000
** branch if/else chain is 3 MB), small enough that a mistaken path (a log,
** a disk image) is refused at once instead of being parsed. */

typedef struct imp_state {
    ast_program *prog;
    const char *stdlib_dir;
    const imp_source *src;  /* NULL: from disk */
    ptrvec loading;         /* ast_file * being loaded: the import chain */
    char *main_text;        /* owned until used: the main file's bytes, or NULL */
    size_t main_len;
} imp_state;

/* Directory part of path, "." when none; allocated in the arena. */
static const char *imp_dirname(arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return ".";
    if (slash == path) return "/";
    return arena_strndup(a, path, (size_t)(slash - path));
}

/* `import "name"` (not a path) names a stdlib module. */
static bool imp_is_stdlib(const char *spec)
{
    return spec[0] != '/' && strncmp(spec, "./", 2) != 0 && strncmp(spec, "../", 3) != 0;
}

/* Path of an import as written, resolved against the importing file. */
static const char *imp_resolve(imp_state *st, ast_file *from, const char *spec)
{
    arena *a = &st->prog->arena;
    if (spec[0] == '/' ) return arena_strdup(a, spec);
    if (strncmp(spec, "./", 2) == 0 || strncmp(spec, "../", 3) == 0) {
        const char *dir = imp_dirname(a, from->path);
        if (strcmp(dir, ".") == 0 && strncmp(spec, "./", 2) == 0) return arena_strdup(a, spec + 2);
        return arena_printf(a, "%s/%s", dir, strncmp(spec, "./", 2) == 0 ? spec + 2 : spec);
    }
    return arena_printf(a, "%s/%s.flow", st->stdlib_dir, spec);
}

/* Canonical identity of a file on disk (for "parsed once" and cycles). */
static char *imp_canonical(const char *path)
{
    char *real = realpath(path, NULL);
    return real ? real : xstrdup(path);
}

static ast_file *imp_load(imp_state *st, const char *path, src_loc *from_loc);

static int imp_cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* prog->stdlib_modules: the module names an `import "name"` can use. */
static void imp_list_stdlib(imp_state *st)
{
    ast_program *prog = st->prog;
    DIR *dir = opendir(st->stdlib_dir);
    if (!dir) return;
    ptrvec names = { 0 };
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".flow") == 0)
            ptrvec_push(&prog->arena, &names, arena_strndup(&prog->arena, e->d_name, n - 5));
    }
    closedir(dir);
    qsort(names.items, (size_t)names.len, sizeof *names.items, imp_cmp_names);
    prog->stdlib_modules = (const char **)names.items;
    prog->nstdlib_modules = names.len;
}

/* `import "name"` of a module the stdlib does not have. */
static void imp_unknown_module(imp_state *st, ast_import *im)
{
    ast_program *prog = st->prog;
    const char *hint = chk_did_you_mean(im->path, prog->stdlib_modules, prog->nstdlib_modules);
    strbuf all = { 0 };
    for (int i = 0; i < prog->nstdlib_modules; i++)
        strbuf_printf(&all, "%s%s", i ? ", " : "", prog->stdlib_modules[i]);
    if (hint)
        diag_error(prog->diag, im->loc, "no stdlib module '%s'; did you mean '%s'?", im->path, hint);
    else
        diag_error(prog->diag, im->loc, "no stdlib module '%s' (the stdlib has: %s; a local file is imported "
                   "as \"./%s.flow\")", im->path, all.len ? all.data : "nothing", im->path);
    strbuf_free(&all);
}

static void imp_load_imports(imp_state *st, ast_file *f)
{
    for (int i = 0; i < f->nimports; i++) {
        ast_import *im = f->imports[i];
        const char *spec = im->path;
        if (!spec[0]) {
            diag_error(st->prog->diag, im->loc, "empty import path");
            continue;
        }
        const char *resolved = imp_resolve(st, f, spec);
        if (imp_is_stdlib(spec) && access(resolved, F_OK) != 0) {
            imp_unknown_module(st, im);
            continue;
        }
        im->file = imp_load(st, resolved, &im->loc);
    }
}

static ast_file *imp_load(imp_state *st, const char *path, src_loc *from_loc)
{
    ast_program *prog = st->prog;
    char *canon = imp_canonical(path);

    /* A file on the current import chain: a cycle. */
    for (int i = 0; i < st->loading.len; i++) {
        ast_file *f = st->loading.items[i];
        char *c2 = imp_canonical(f->path);
        bool same = strcmp(c2, canon) == 0;
        free(c2);
        if (same) {
            strbuf chain = {0};
            for (int j = i; j < st->loading.len; j++)
                strbuf_printf(&chain, "%s -> ", ((ast_file *)st->loading.items[j])->path);
            strbuf_puts(&chain, path);
            diag_error(prog->diag, *from_loc, "import cycle: %s", chain.data);
            strbuf_free(&chain);
            free(canon);
            return NULL;
        }
    }
    /* Already parsed (a diamond): share it. */
    for (int i = 0; i < prog->nfiles; i++) {
        char *c2 = imp_canonical(prog->files[i]->path);
        bool same = strcmp(c2, canon) == 0;
        free(c2);
        if (same) {
            free(canon);
            return prog->files[i];
        }
    }
    free(canon);

    ast_file *f;
    if (st->main_text && !from_loc) {           /* the main file's bytes, given */
        f = imp_parse_text(prog, path, st->main_text, st->main_len);
        st->main_text = NULL;
    } else {
        f = st->src ? st->src->load(st->src->ud, prog, path, from_loc) : imp_parse_disk(prog, path, from_loc);
    }
    if (!f) return NULL;

    ast_file **files = arena_alloc(&prog->arena, sizeof *files * (size_t)(prog->nfiles + 1));
    if (prog->nfiles) memcpy(files, prog->files, sizeof *files * (size_t)prog->nfiles);
    files[prog->nfiles++] = f;
    prog->files = files;

    ptrvec_push(&prog->arena, &st->loading, f);
    imp_load_imports(st, f);
    st->loading.len--;
    return f;
}

ast_file *imp_parse_text(ast_program *prog, const char *path, char *text, size_t len)
{
    int id = diag_add_file(prog->diag, path, text, (int)len);
    ast_file *f = ast_parse_file(prog, id);
    f->path = arena_strdup(&prog->arena, path);
    return f;
}

ast_file *imp_parse_disk(ast_program *prog, const char *path, const src_loc *from_loc)
{
    size_t len = 0;
    char why[160];
    char *text = util_read_file(path, IMP_MAX_SOURCE, &len, why, sizeof why);
    if (!text) {
        if (from_loc)
            diag_error(prog->diag, *from_loc, "cannot read imported file '%s': %s", path, why);
        else
            diag_error_noloc(prog->diag, path, "cannot read file: %s", why);
        return NULL;
    }
    return imp_parse_text(prog, path, text, len);
}

/* Loads the main file (from main_text when set) and what it names. */
static bool imp_load_main(imp_state *st, const char *path)
{
    ast_program *prog = st->prog;
    imp_list_stdlib(st);
    ast_file *f = imp_load(st, path, NULL);
    free(st->main_text);        /* not used when the path was refused */
    st->main_text = NULL;
    if (!f) return false;
    if (f->tests_for) {
        prog->tests_file = f;
        const char *target = imp_resolve(st, f, f->tests_for);
        ast_file *m = imp_load(st, target, &f->tests_for_loc);
        if (!m) return true;
        if (m->tests_for) {
            diag_error(prog->diag, f->tests_for_loc, "'%s' is itself a tests file", f->tests_for);
            return true;
        }
        prog->main = m;
    } else {
        prog->main = f;
    }
    return true;
}

bool imp_load_program(ast_program *prog, const char *path, const char *stdlib_dir)
{
    return imp_load_program_from(prog, path, stdlib_dir, NULL);
}

bool imp_load_program_from(ast_program *prog, const char *path, const char *stdlib_dir,
                           const imp_source *src)
{
    imp_state st = { .prog = prog, .stdlib_dir = stdlib_dir, .src = src };
    return imp_load_main(&st, path);
}

bool imp_load_program_text(ast_program *prog, const char *path, char *text, size_t len, const char *stdlib_dir)
{
    imp_state st = { .prog = prog, .stdlib_dir = stdlib_dir, .main_text = text, .main_len = len };
    if (len > IMP_MAX_SOURCE) {
        free(text);
        diag_error_noloc(prog->diag, path, "cannot read file: file too large (%zu bytes; the limit is %zu)", len,
                         IMP_MAX_SOURCE);
        return false;
    }
    return imp_load_main(&st, path);
}
