/*
** project.c — several workflows as one project: file sets and directories,
** the project's cross-file rules, and `flowc build` of many workflows into
** one binary (project.h).
*/
#include "project.h"

#include "check.h"
#include "diag.h"
#include "emit.h"
#include "imports.h"
#include "tcc.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- file sets ------------------------------------------------------------ */

static void quiet_sink(void *ud, diag_severity sev, const src_loc *loc, const char *path, const char *msg)
{
    (void)ud, (void)sev, (void)loc, (void)path, (void)msg;
}

proj_kind proj_classify(const char *path)
{
    diag_ctx d;
    diag_init(&d);
    d.sink = quiet_sink;
    ast_program prog;
    ast_program_init(&prog, &d);
    ast_file *f = imp_parse_disk(&prog, path, NULL);
    proj_kind k = !f ? PROJ_LIBRARY : f->tests_for ? PROJ_TESTS : f->has_workflow ? PROJ_WORKFLOW : PROJ_LIBRARY;
    ast_program_free(&prog);
    diag_free(&d);
    return k;
}

static void add_path(proj_files *out, char *p)
{
    out->paths = xrealloc(out->paths, sizeof *out->paths * (size_t)(out->n + 1));
    out->paths[out->n++] = p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

bool proj_expand(const char *cmd, char **args, int nargs, unsigned want, proj_files *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < nargs; i++) {
        struct stat sb;
        if (stat(args[i], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            add_path(out, xstrdup(args[i]));        /* a file: its loader says what is wrong with it */
            continue;
        }
        out->ndirs++;
        DIR *dir = opendir(args[i]);
        if (!dir) {
            fprintf(stderr, "flowc %s: cannot read directory %s: %s\n", cmd, args[i], strerror(errno));
            proj_files_free(out);
            return false;
        }
        int first = out->n;
        for (struct dirent *e; (e = readdir(dir));) {
            if (e->d_name[0] == '.' || !ends_with(e->d_name, ".flow")) continue;
            size_t len = strlen(args[i]);
            char *p = xmalloc(len + strlen(e->d_name) + 2);
            sprintf(p, "%s%s%s", args[i], len && args[i][len - 1] == '/' ? "" : "/", e->d_name);
            if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || !(want & (1u << proj_classify(p)))) {
                free(p);
                continue;
            }
            add_path(out, p);
        }
        closedir(dir);
        qsort(out->paths + first, (size_t)(out->n - first), sizeof *out->paths, cmp_str);
        if (out->n == first) fprintf(stderr, "flowc %s: warning: no .flow file in %s is one this command takes\n", cmd, args[i]);
    }
    return true;
}

void proj_files_free(proj_files *f)
{
    for (int i = 0; i < f->n; i++) free(f->paths[i]);
    free(f->paths);
    memset(f, 0, sizeof *f);
}

/* ---- the project's rules ------------------------------------------------------ */

/* Whether two declarations are one: the same place of the same file (two
** workflows importing the same library parse it once each). */
static bool same_declaration(diag_ctx *d, const ast_integration *a, const ast_integration *b)
{
    if (a->loc.start != b->loc.start) return false;
    const char *pa = d->files[a->loc.file]->path, *pb = d->files[b->loc.file]->path;
    if (strcmp(pa, pb) == 0) return true;
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(pa, ra) && realpath(pb, rb) && strcmp(ra, rb) == 0;
}

bool proj_check_rules(ast_program **progs, int n)
{
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (!progs[i] || !progs[i]->main || !progs[i]->main->workflow) continue;
        diag_ctx *d = progs[i]->diag;
        /* unique workflow names */
        for (int j = 0; j < i; j++) {
            if (!progs[j] || !progs[j]->main || !progs[j]->main->workflow) continue;
            if (strcmp(progs[j]->main->workflow, progs[i]->main->workflow) != 0) continue;
            char pos[64];
            diag_format_pos(d, progs[j]->main->workflow_loc, pos, sizeof pos);
            diag_error(d, progs[i]->main->workflow_loc,
                       "workflow '%s' is already in this project (%s:%s): workflow names are unique in a project",
                       progs[i]->main->workflow, progs[j]->main->path, pos);
            ok = false;
            break;
        }
        /* one declaration per integration name */
        for (int k = 0; k < progs[i]->nintegrations; k++) {
            const ast_integration *in = progs[i]->integrations[k];
            bool reported = false;
            for (int j = 0; j < i && !reported; j++) {
                if (!progs[j]) continue;
                for (int m = 0; m < progs[j]->nintegrations; m++) {
                    const ast_integration *other = progs[j]->integrations[m];
                    if (strcmp(other->name, in->name) != 0 || same_declaration(d, in, other)) continue;
                    char pos[64];
                    diag_format_pos(d, other->loc, pos, sizeof pos);
                    diag_error(d, in->loc,
                               "integration '%s' is declared here and, differently, at %s:%s (used by workflow "
                               "'%s'): an integration is one declaration in a project (users connect to it once)",
                               in->name, d->files[other->loc.file]->path, pos,
                               progs[j]->main->workflow ? progs[j]->main->workflow : "?");
                    ok = false;
                    reported = true;
                    break;
                }
            }
        }
    }
    return ok;
}

/* ---- loading ------------------------------------------------------------------- */

bool proj_load(proj *p, diag_ctx *d, const proj_files *files, const char *stdlib_dir)
{
    memset(p, 0, sizeof *p);
    p->d = d;
    p->n = files->n;
    p->progs = xcalloc((size_t)(files->n + 1), sizeof *p->progs);
    bool ok = true;
    for (int i = 0; i < files->n; i++) {
        ast_program *prog = xcalloc(1, sizeof *prog);
        ast_program_init(prog, d);
        int before = d->errors;
        if (!imp_load_program(prog, files->paths[i], stdlib_dir) || !prog->main) {
            ok = false;
        } else if (prog->tests_file) {
            diag_error_noloc(d, files->paths[i], "this is a tests file, not a workflow: run it with `flowc test`");
            ok = false;
        } else {
            chk_program(prog);
            if (d->errors > before) ok = false;
            else if (!prog->main->workflow) ok = false;     /* the checker said it needs one */
        }
        p->progs[i] = prog;
    }
    if (ok && !proj_check_rules(p->progs, p->n)) ok = false;
    return ok;
}

void proj_free(proj *p)
{
    for (int i = 0; i < p->n; i++) {
        if (!p->progs[i]) continue;
        ast_program_free(p->progs[i]);
        free(p->progs[i]);
    }
    free(p->progs);
    memset(p, 0, sizeof *p);
}

/* ---- build ------------------------------------------------------------------- */

int proj_build(const flowc_paths *paths, const proj_files *files, const char *name, const char *out,
               const char *emit_c)
{
    diag_ctx d;
    diag_init(&d);
    proj p;
    int rc = 1;
    if (proj_load(&p, &d, files, paths->stdlib_dir)) {
        int n = p.n;
        strbuf *units = xcalloc((size_t)n + 1, sizeof *units);
        const char **symbols = xcalloc((size_t)n + 1, sizeof *symbols);
        char (*names)[32] = xcalloc((size_t)n + 1, sizeof *names);
        for (int i = 0; i < n; i++) {
            char version[17];
            snprintf(names[i], sizeof names[i], "FLOW_WF_%d", i);
            symbols[i] = names[i];
            emit_version(p.progs[i], version);
            emit_program_unit(p.progs[i], &units[i], version, symbols[i]);
        }
        emit_project(&units[n], name, symbols, n);
        const char **sources = xcalloc((size_t)n + 1, sizeof *sources);
        for (int i = 0; i <= n; i++) sources[i] = units[i].data;
        bool wrote = true;
        if (emit_c) {
            strbuf all = { 0 };
            for (int i = 0; i <= n; i++) {
                strbuf_printf(&all, "/* ---- unit %d of %d ---- */\n", i + 1, n + 1);
                strbuf_puts(&all, units[i].data);
            }
            wrote = util_write_text(emit_c, all.data);
            if (!wrote) fprintf(stderr, "flowc build: cannot write %s\n", emit_c);
            strbuf_free(&all);
        }
        if (wrote && cc_build_exe_units(&d, paths, sources, n + 1, out)) rc = 0;
        for (int i = 0; i <= n; i++) strbuf_free(&units[i]);
        free(units);
        free(sources);
        free(symbols);
        free(names);
    }
    proj_free(&p);
    diag_free(&d);
    return rc;
}
