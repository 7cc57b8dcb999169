/*
** lsp_analysis.c — documents, the caches kept between analyses, and one
** run of the front end on a document (see lsp_analysis.h).
*/
#include "lsp_analysis.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "imports.h"

/* An imported file parsed from disk, kept while it does not change. */
typedef struct ws_cached {
    char *canon;            /* owned: realpath */
    struct timespec mtime;
    off_t size;
    int file_id;
    ast_program holder;     /* owns the file's AST (its arena) */
    ast_file *file;
    lsp_diag *diags;        /* owned: what parsing it reported */
    int ndiags;
} ws_cached;

/* A file index of the diag_ctx, by canonical path. */
typedef struct ws_file {
    char *canon;            /* owned */
    int id;
} ws_file;

struct lsp_ws {
    flowc_paths paths;
    diag_ctx diag;          /* every file the workspace has seen, by stable index */
    lsp_doc **docs;         /* owned */
    int ndocs;
    ws_file *files;         /* owned */
    int nfiles;
    ws_cached **cache;      /* owned */
    int ncache;
    cb_cache *cbodies;

    /* during an analysis */
    lsp_diag *collect;      /* diagnostics reported so far (owned until moved) */
    int ncollect, capcollect;
    const lsp_doc *main;    /* the document being analysed */
    long parsed, reused;
};

/* ---- diagnostics ------------------------------------------------------------ */

static void ws_collect(lsp_ws *ws, int file, int start, int end, diag_severity sev, const char *msg)
{
    if (ws->ncollect == ws->capcollect) {
        ws->capcollect = ws->capcollect ? ws->capcollect * 2 : 32;
        ws->collect = xrealloc(ws->collect, sizeof *ws->collect * (size_t)ws->capcollect);
    }
    lsp_diag *d = &ws->collect[ws->ncollect++];
    d->file = file;
    d->start = start;
    d->end = end;
    d->sev = sev;
    d->msg = xstrdup(msg);
}

static void ws_sink(void *ud, diag_severity sev, const src_loc *loc, const char *path, const char *msg)
{
    lsp_ws *ws = ud;
    (void)path;
    if (loc) ws_collect(ws, loc->file, loc->start, loc->end, sev, msg);
    else ws_collect(ws, -1, 0, 0, sev, msg);
}

static void ws_diags_free(lsp_diag *d, int n)
{
    for (int i = 0; i < n; i++) free(d[i].msg);
    free(d);
}

/* ---- the workspace ------------------------------------------------------------ */

lsp_ws *lsp_ws_new(const flowc_paths *paths)
{
    lsp_ws *ws = xcalloc(1, sizeof *ws);
    ws->paths = *paths;
    diag_init(&ws->diag);
    ws->diag.sink = ws_sink;
    ws->diag.sink_ud = ws;
    ws->diag.max_errors = 1000;
    ws->cbodies = cb_cache_new();
    return ws;
}

static void ws_cached_free(ws_cached *c)
{
    ast_program_free(&c->holder);
    ws_diags_free(c->diags, c->ndiags);
    free(c->canon);
    free(c);
}

static void ws_doc_free(lsp_doc *d)
{
    free(d->uri);
    free(d->path);
    free(d->text);
    free(d);
}

void lsp_ws_free(lsp_ws *ws)
{
    if (!ws) return;
    for (int i = 0; i < ws->ndocs; i++) ws_doc_free(ws->docs[i]);
    free(ws->docs);
    for (int i = 0; i < ws->ncache; i++) ws_cached_free(ws->cache[i]);
    free(ws->cache);
    for (int i = 0; i < ws->nfiles; i++) free(ws->files[i].canon);
    free(ws->files);
    ws_diags_free(ws->collect, ws->ncollect);
    cb_cache_free(ws->cbodies);
    diag_free(&ws->diag);
    free(ws);
}

const flowc_paths *lsp_ws_paths(const lsp_ws *ws) { return &ws->paths; }
cb_cache *lsp_ws_cbodies(lsp_ws *ws) { return ws->cbodies; }

void lsp_ws_stats(const lsp_ws *ws, long *parsed, long *reused)
{
    *parsed = ws->parsed;
    *reused = ws->reused;
}

const char *lsp_ws_file_path(const lsp_ws *ws, int file)
{
    if (file < 0 || file >= ws->diag.nfiles) return NULL;
    return ws->diag.files[file]->path;
}

const char *lsp_ws_file_text(const lsp_ws *ws, int file, int *len)
{
    if (file < 0 || file >= ws->diag.nfiles) return NULL;
    *len = ws->diag.files[file]->len;
    return ws->diag.files[file]->text;
}

/* A path's identity: its realpath, or the path itself when it does not
** exist (an unsaved document). */
static char *ws_canon(const char *path)
{
    char *r = realpath(path, NULL);
    return r ? r : xstrdup(path);
}

/* The stable file index of a canonical path (registered on first use). */
static int ws_file_id(lsp_ws *ws, const char *canon, const char *path)
{
    for (int i = 0; i < ws->nfiles; i++)
        if (strcmp(ws->files[i].canon, canon) == 0) return ws->files[i].id;
    ws->files = xrealloc(ws->files, sizeof *ws->files * (size_t)(ws->nfiles + 1));
    ws->files[ws->nfiles].canon = xstrdup(canon);
    ws->files[ws->nfiles].id = diag_add_file(&ws->diag, path, xstrdup(""), 0);
    return ws->files[ws->nfiles++].id;
}

/* Forget the cached parse of a file (it became, or stopped being, an open
** document). */
static void ws_uncache(lsp_ws *ws, const char *canon)
{
    for (int i = 0; i < ws->ncache; i++) {
        if (strcmp(ws->cache[i]->canon, canon) != 0) continue;
        ws_cached_free(ws->cache[i]);
        ws->cache[i] = ws->cache[--ws->ncache];
        return;
    }
}

lsp_doc *lsp_ws_doc(lsp_ws *ws, const char *uri)
{
    for (int i = 0; i < ws->ndocs; i++)
        if (strcmp(ws->docs[i]->uri, uri) == 0) return ws->docs[i];
    return NULL;
}

int lsp_ws_ndocs(const lsp_ws *ws) { return ws->ndocs; }
lsp_doc *lsp_ws_doc_at(lsp_ws *ws, int i) { return ws->docs[i]; }

lsp_doc *lsp_ws_open(lsp_ws *ws, char *uri, char *path, char *text, int len, int version)
{
    lsp_ws_close(ws, uri);
    lsp_doc *d = xcalloc(1, sizeof *d);
    d->uri = uri;
    d->path = path;
    d->text = text;
    d->len = len;
    d->version = version;
    ws->docs = xrealloc(ws->docs, sizeof *ws->docs * (size_t)(ws->ndocs + 1));
    ws->docs[ws->ndocs++] = d;
    char *canon = ws_canon(path);
    ws_uncache(ws, canon);
    free(canon);
    return d;
}

void lsp_ws_close(lsp_ws *ws, const char *uri)
{
    for (int i = 0; i < ws->ndocs; i++) {
        if (strcmp(ws->docs[i]->uri, uri) != 0) continue;
        char *canon = ws_canon(ws->docs[i]->path);
        ws_uncache(ws, canon);
        free(canon);
        ws_doc_free(ws->docs[i]);
        memmove(ws->docs + i, ws->docs + i + 1, sizeof *ws->docs * (size_t)(ws->ndocs - i - 1));
        ws->ndocs--;
        return;
    }
}

void lsp_doc_edit(lsp_doc *doc, int start, int end, const char *repl, int n)
{
    if (start < 0) start = 0;
    if (end > doc->len) end = doc->len;
    if (start > end) start = end;
    int len = doc->len - (end - start) + n;
    char *t = xmalloc((size_t)len + 1);
    memcpy(t, doc->text, (size_t)start);
    memcpy(t + start, repl, (size_t)n);
    memcpy(t + start + n, doc->text + end, (size_t)(doc->len - end));
    t[len] = 0;
    free(doc->text);
    doc->text = t;
    doc->len = len;
}

void lsp_doc_set_text(lsp_doc *doc, char *text, int len)
{
    free(doc->text);
    doc->text = text;
    doc->len = len;
}

/* ---- loading files ---------------------------------------------------------- */

/* Parse text as the file `path` (canonical canon) into prog's arena. */
static ast_file *ws_parse_text(lsp_ws *ws, ast_program *prog, const char *canon, const char *path,
                               const char *text, int len)
{
    int id = ws_file_id(ws, canon, path);
    char *copy = xmalloc((size_t)len + 1);
    memcpy(copy, text, (size_t)len);
    copy[len] = 0;
    diag_set_text(&ws->diag, id, copy, len);
    ast_file *f = ast_parse_file(prog, id);
    f->path = arena_strdup(&prog->arena, path);
    return f;
}

static bool ws_same_stat(const ws_cached *c, const struct stat *sb)
{
    return c->size == sb->st_size && c->mtime.tv_sec == sb->st_mtim.tv_sec &&
           c->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/* An imported file from disk: the cached parse while its size and mtime
** are unchanged (its parse diagnostics reported again), else parsed anew
** into an arena of its own and cached. */
static ast_file *ws_load_disk(lsp_ws *ws, ast_program *prog, const char *canon, const char *path,
                              const src_loc *from_loc)
{
    struct stat sb;
    ws_cached *c = NULL;
    for (int i = 0; i < ws->ncache; i++)
        if (strcmp(ws->cache[i]->canon, canon) == 0) c = ws->cache[i];
    if (c && stat(path, &sb) == 0 && ws_same_stat(c, &sb)) {
        for (int i = 0; i < c->ndiags; i++) {
            const lsp_diag *d = &c->diags[i];
            src_loc loc = { d->file, d->start, d->end };
            diag_report(&ws->diag, d->sev, d->file >= 0 ? &loc : NULL, path, d->msg);
        }
        ws->reused++;
        return c->file;
    }
    if (c) ws_uncache(ws, canon);

    size_t n = 0;
    char why[160];
    char *text = util_read_file(path, IMP_MAX_SOURCE, &n, why, sizeof why);
    if (text && stat(path, &sb) != 0) memset(&sb, 0, sizeof sb);   /* no cache hit later */
    if (!text) {
        if (from_loc) diag_error(prog->diag, *from_loc, "cannot read imported file '%s': %s", path, why);
        else diag_error_noloc(prog->diag, path, "cannot read file: %s", why);
        return NULL;
    }
    if (n > INT_MAX / 2) {
        free(text);
        diag_error_noloc(prog->diag, path, "file too large (%zu bytes)", n);
        return NULL;
    }
    c = xcalloc(1, sizeof *c);
    c->canon = xstrdup(canon);
    c->mtime = sb.st_mtim;
    c->size = sb.st_size;
    c->file_id = ws_file_id(ws, canon, path);
    diag_set_text(&ws->diag, c->file_id, text, (int)n);
    ast_program_init(&c->holder, &ws->diag);
    int before = ws->ncollect;
    c->file = ast_parse_file(&c->holder, c->file_id);
    c->file->path = arena_strdup(&c->holder.arena, path);
    c->ndiags = ws->ncollect - before;
    c->diags = xcalloc((size_t)c->ndiags + 1, sizeof *c->diags);
    for (int i = 0; i < c->ndiags; i++) {
        c->diags[i] = ws->collect[before + i];
        c->diags[i].msg = xstrdup(c->diags[i].msg);
    }
    ws->cache = xrealloc(ws->cache, sizeof *ws->cache * (size_t)(ws->ncache + 1));
    ws->cache[ws->ncache++] = c;
    ws->parsed++;
    return c->file;
}

/* imp_source.load: the document itself, an open document, or disk. */
static ast_file *ws_load(void *ud, ast_program *prog, const char *path, const src_loc *from_loc)
{
    lsp_ws *ws = ud;
    char *canon = ws_canon(path);
    ast_file *f = NULL;
    if (strcmp(path, ws->main->path) == 0) {
        f = ws_parse_text(ws, prog, canon, path, ws->main->text, ws->main->len);
        free(canon);
        return f;
    }
    for (int i = 0; i < ws->ndocs && !f; i++) {
        char *c2 = ws_canon(ws->docs[i]->path);
        if (strcmp(c2, canon) == 0) f = ws_parse_text(ws, prog, canon, path, ws->docs[i]->text, ws->docs[i]->len);
        free(c2);
    }
    if (!f) f = ws_load_disk(ws, prog, canon, path, from_loc);
    free(canon);
    return f;
}

/* ---- an analysis ------------------------------------------------------------- */

static double ws_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

lsp_analysis *lsp_analyze(lsp_ws *ws, const lsp_doc *doc, int probe_offset)
{
    double t0 = ws_clock_ms(CLOCK_MONOTONIC), c0 = ws_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    lsp_analysis *an = xcalloc(1, sizeof *an);
    an->version = doc->version;
    an->len = doc->len;
    an->text = xmalloc((size_t)doc->len + 1);
    memcpy(an->text, doc->text, (size_t)doc->len);
    an->text[doc->len] = 0;
    lsp_lines_build(&an->lines, an->text, an->len);

    ws->main = doc;
    ws->diag.errors = ws->diag.warnings = 0;
    ast_program_init(&an->prog, &ws->diag);
    an->prog.library_ok = true;
    imp_source src = { ws_load, ws };
    imp_load_program_from(&an->prog, doc->path, ws->paths.stdlib_dir, &src);

    char *canon = ws_canon(doc->path);
    an->file_id = ws_file_id(ws, canon, doc->path);
    free(canon);
    for (int i = 0; i < an->prog.nfiles; i++)
        if (an->prog.files[i]->file_id == an->file_id) an->file = an->prog.files[i];

    if (an->prog.main) {
        if (probe_offset >= 0) {
            an->probe.file = an->file_id;
            an->probe.offset = probe_offset;
            an->probed = true;
        }
        chk_program_probe(&an->prog, an->probed ? &an->probe : NULL);
        cb_check_program(ws->cbodies, &an->prog, &ws->paths);
    }
    an->diags = ws->collect;
    an->ndiags = ws->ncollect;
    ws->collect = NULL;
    ws->ncollect = ws->capcollect = 0;
    ws->main = NULL;
    an->ms = ws_clock_ms(CLOCK_MONOTONIC) - t0;
    an->cpu_ms = ws_clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return an;
}

void lsp_analysis_free(lsp_analysis *an)
{
    if (!an) return;
    ast_program_free(&an->prog);
    ws_diags_free(an->diags, an->ndiags);
    lsp_lines_free(&an->lines);
    free(an->text);
    free(an);
}
