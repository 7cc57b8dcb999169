/*
** cbody.c — function-step bodies compiled by tcc for their errors, with a
** cache of tcc's messages keyed by the body (see cbody.h).
*/
#include "cbody.h"

#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "tcc.h"

/* One message of tcc about a body, its line relative to the body's first. */
typedef struct cb_msg {
    int rel_line;           /* -1: not at a line of the body (reported at its `{%`) */
    bool warning;
    char *text;             /* owned */
} cb_msg;

typedef struct cb_entry {
    uint64_t hash;
    char *key;              /* owned: what decides the messages */
    cb_msg *msgs;           /* owned */
    int nmsgs;
    unsigned last_run;      /* the last cb_check_program that used it */
    struct cb_entry *next;  /* bucket chain */
} cb_entry;

struct cb_cache {
    cb_entry **buckets;
    int nbuckets;
    int n;
    unsigned run;
    long hits, compiled, runs;
};

/* Entries unused for this many programs are dropped. */
enum { CB_KEEP_RUNS = 64 };

cb_cache *cb_cache_new(void)
{
    cb_cache *c = xcalloc(1, sizeof *c);
    c->nbuckets = 256;
    c->buckets = xcalloc((size_t)c->nbuckets, sizeof *c->buckets);
    return c;
}

static void cb_entry_free(cb_entry *e)
{
    for (int i = 0; i < e->nmsgs; i++) free(e->msgs[i].text);
    free(e->msgs);
    free(e->key);
    free(e);
}

void cb_cache_free(cb_cache *c)
{
    if (!c) return;
    for (int i = 0; i < c->nbuckets; i++) {
        cb_entry *e = c->buckets[i];
        while (e) {
            cb_entry *next = e->next;
            cb_entry_free(e);
            e = next;
        }
    }
    free(c->buckets);
    free(c);
}

void cb_cache_stats(const cb_cache *c, long *hits, long *compiled, long *runs)
{
    *hits = c ? c->hits : 0;
    *compiled = c ? c->compiled : 0;
    *runs = c ? c->runs : 0;
}

static uint64_t cb_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static cb_entry *cb_find(cb_cache *c, const char *key, uint64_t h)
{
    for (cb_entry *e = c->buckets[h % (uint64_t)c->nbuckets]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0) return e;
    return NULL;
}

static void cb_insert(cb_cache *c, cb_entry *e)
{
    if (c->n >= c->nbuckets * 2) {
        int nb = c->nbuckets * 2;
        cb_entry **b = xcalloc((size_t)nb, sizeof *b);
        for (int i = 0; i < c->nbuckets; i++) {
            cb_entry *x = c->buckets[i];
            while (x) {
                cb_entry *next = x->next;
                x->next = b[x->hash % (uint64_t)nb];
                b[x->hash % (uint64_t)nb] = x;
                x = next;
            }
        }
        free(c->buckets);
        c->buckets = b;
        c->nbuckets = nb;
    }
    e->next = c->buckets[e->hash % (uint64_t)c->nbuckets];
    c->buckets[e->hash % (uint64_t)c->nbuckets] = e;
    c->n++;
}

/* Drop what no recent program used, so the cache follows the edits. */
static void cb_sweep(cb_cache *c)
{
    for (int i = 0; i < c->nbuckets; i++) {
        cb_entry **p = &c->buckets[i];
        while (*p) {
            cb_entry *e = *p;
            if (c->run - e->last_run > CB_KEEP_RUNS) {
                *p = e->next;
                cb_entry_free(e);
                c->n--;
            } else {
                p = &e->next;
            }
        }
    }
}

/* ---- one body ----------------------------------------------------------- */

/* A body to check: its C as build compiles it, and where it is. */
typedef struct cb_body {
    const ast_step *step;
    char *unit;             /* owned: emit_c_function's text */
    char *key;              /* owned */
    uint64_t hash;
    const char *path;       /* the .flow path of its #line directives */
    int first_line, last_line;
    cb_entry *entry;        /* its messages, once known */
} cb_body;

/* The key: the body's text, its first column (tcc counts columns from the
** #line) and its parameters' names and types (which decide their C types).
** The C unit itself is built only for a body the cache does not have. */
static void cb_body_init(cb_body *b, const ast_program *prog, const ast_step *s, arena *a)
{
    memset(b, 0, sizeof *b);
    b->step = s;
    int line, col;
    diag_line_col(prog->diag, s->c_loc.file, s->c_loc.start, &line, &col);
    b->first_line = line;
    int first_col = col;
    diag_line_col(prog->diag, s->c_loc.file, s->c_loc.end, &line, &col);
    b->last_line = line;
    b->path = prog->diag->files[s->c_loc.file]->path;
    strbuf k = { 0 };
    char num[16];
    snprintf(num, sizeof num, "%d\n", first_col);
    strbuf_puts(&k, num);
    for (int i = 0; i < s->nparams; i++) {     /* puts, not printf: `check` does this per body */
        strbuf_puts(&k, s->params[i]->name);
        strbuf_puts(&k, ": ");
        strbuf_puts(&k, ast_type_str(a, s->params[i]->ctype));
        strbuf_putc(&k, '\n');
    }
    strbuf_puts(&k, "{%");
    strbuf_puts(&k, s->c_code);
    b->key = strbuf_take(&k);
    b->hash = cb_hash(b->key, strlen(b->key));
}

/* The C of a body, as build compiles it (for a cache miss). */
static void cb_body_unit(cb_body *b, const ast_program *prog)
{
    strbuf u = { 0 };
    emit_c_function(prog, &u, b->step);
    b->unit = strbuf_take(&u);
}

static void cb_body_free(cb_body *b)
{
    free(b->unit);
    free(b->key);
}

/* The messages of one tcc run, as tcc gave them. */
typedef struct cb_raw {
    char **msgs;
    int n, cap;
} cb_raw;

static void cb_on_msg(void *ud, const char *msg)
{
    cb_raw *r = ud;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->msgs = xrealloc(r->msgs, sizeof *r->msgs * (size_t)r->cap);
    }
    r->msgs[r->n++] = xstrdup(msg);
}

static void cb_raw_free(cb_raw *r)
{
    for (int i = 0; i < r->n; i++) free(r->msgs[i]);
    free(r->msgs);
    memset(r, 0, sizeof *r);
}

/* The body a message is about, among bodies[0..n): by its .flow line. */
static int cb_owner(cb_body *bodies, int n, const char *msg, int *line, bool *warning, const char **text)
{
    char path[1024];
    if (!cc_parse_message(msg, path, sizeof path, line, warning, text)) {
        *warning = strstr(msg, "warning") != NULL;
        *text = msg;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(bodies[i].path, path) == 0 && *line >= bodies[i].first_line && *line <= bodies[i].last_line)
            return i;
    return -1;
}

static void cb_entry_add(cb_entry *e, int rel_line, bool warning, const char *text)
{
    e->msgs = xrealloc(e->msgs, sizeof *e->msgs * (size_t)(e->nmsgs + 1));
    e->msgs[e->nmsgs].rel_line = rel_line;
    e->msgs[e->nmsgs].warning = warning;
    e->msgs[e->nmsgs].text = xstrdup(text);
    e->nmsgs++;
}

static cb_entry *cb_entry_new(const cb_body *b)
{
    cb_entry *e = xcalloc(1, sizeof *e);
    e->hash = b->hash;
    e->key = xstrdup(b->key);
    return e;
}

/* Compile bodies[0..n) in one unit; returns the number of errors and the
** messages in *raw. */
static int cb_compile(cb_cache *c, const flowc_paths *paths, cb_body *bodies, int n, cb_raw *raw)
{
    strbuf src = { 0 };
    strbuf_puts(&src, "#include <flowrt.h>\n");
    for (int i = 0; i < n; i++) strbuf_puts(&src, bodies[i].unit);
    int errors = cc_compile_only(paths, src.data, cb_on_msg, raw);
    strbuf_free(&src);
    c->runs++;
    c->compiled += n;
    return errors;
}

/* Compile the bodies the cache did not have and give each its entry. */
static void cb_compile_missing(cb_cache *c, const flowc_paths *paths, cb_body *bodies, int n)
{
    cb_raw raw = { 0 };
    int errors = cb_compile(c, paths, bodies, n, &raw);
    if (errors && n > 1) {
        /* tcc stops at its first error: compile each alone, so that every
        ** body gets its own first error and none gets another's noise */
        cb_raw_free(&raw);
        for (int i = 0; i < n; i++) cb_compile_missing(c, paths, &bodies[i], 1);
        return;
    }
    for (int i = 0; i < n; i++) bodies[i].entry = cb_entry_new(&bodies[i]);
    for (int k = 0; k < raw.n; k++) {
        int line;
        bool warning;
        const char *text;
        int i = cb_owner(bodies, n, raw.msgs[k], &line, &warning, &text);
        if (i < 0 && n == 1) {
            cb_entry_add(bodies[0].entry, -1, warning, text);     /* in the wrapper: at the `{%` */
        } else if (i >= 0) {
            cb_entry_add(bodies[i].entry, line - bodies[i].first_line, warning, text);
        } else if (!warning) {
            /* an error no body owns in a unit of several: never cached as
            ** clean; each body is compiled alone instead */
            for (int j = 0; j < n; j++) cb_entry_free(bodies[j].entry), bodies[j].entry = NULL;
            cb_raw_free(&raw);
            for (int j = 0; j < n; j++) cb_compile_missing(c, paths, &bodies[j], 1);
            return;
        }
    }
    cb_raw_free(&raw);
    for (int i = 0; i < n; i++) {
        if (c) {
            cb_entry *dup = cb_find(c, bodies[i].key, bodies[i].hash);
            if (dup) {          /* two identical bodies in one program */
                cb_entry_free(bodies[i].entry);
                bodies[i].entry = dup;
                continue;
            }
            cb_insert(c, bodies[i].entry);
        }
    }
}

/* Report an entry's messages at the body's current position. */
static int cb_report(ast_program *prog, const cb_body *b, const cb_entry *e)
{
    int errors = 0;
    const ast_step *s = b->step;
    for (int i = 0; i < e->nmsgs; i++) {
        const cb_msg *m = &e->msgs[i];
        src_loc loc = { s->c_loc.file, s->c_loc.start, s->c_loc.start };
        if (m->rel_line >= 0) loc = cc_message_loc(prog->diag, s->c_loc.file, b->first_line + m->rel_line, m->text);
        else if (loc.start >= 2) loc.start -= 2;    /* the `{%` */
        if (m->warning) {
            diag_warning(prog->diag, loc, "%s", m->text);
        } else {
            diag_error(prog->diag, loc, "%s", m->text);
            errors++;
        }
    }
    return errors;
}

/* Whether a function step can be compiled: its parameters have types, and
** its name is not taken by an earlier function step (FU_<name> would be
** defined twice; the checker reports the duplicate). names: a set of the
** names seen, open addressing over cap slots. */
static bool cb_checkable(const ast_step *s, const char **names, size_t cap)
{
    if (s->kind != STEP_FUNCTION || !s->c_code || !s->name || s->c_params_bad) return false;
    for (int i = 0; i < s->nparams; i++)
        if (!s->params[i]->ctype || s->params[i]->ctype->kind == TY_ERROR) return false;
    size_t h = (size_t)cb_hash(s->name, strlen(s->name)) & (cap - 1);
    while (names[h]) {
        if (strcmp(names[h], s->name) == 0) return false;
        h = (h + 1) & (cap - 1);
    }
    names[h] = s->name;
    return true;
}

int cb_check_program(cb_cache *c, ast_program *prog, const flowc_paths *paths)
{
    cb_cache *own = c ? NULL : cb_cache_new();
    if (!c) c = own;
    c->run++;
    size_t cap = 16;
    while (cap < (size_t)prog->nsteps * 2) cap *= 2;
    const char **names = xcalloc(cap, sizeof *names);
    cb_body *bodies = xcalloc((size_t)prog->nsteps + 1, sizeof *bodies);
    cb_body *missing = xcalloc((size_t)prog->nsteps + 1, sizeof *missing);
    int *first = xcalloc(cap, sizeof *first);     /* key -> 1 + index in missing: one compile per key */
    int *from = xcalloc((size_t)prog->nsteps + 1, sizeof *from);  /* body -> 1 + index in missing */
    int nb = 0, nmissing = 0;
    for (int i = 0; i < prog->nsteps; i++) {
        if (!cb_checkable(prog->steps[i], names, cap)) continue;
        cb_body *b = &bodies[nb++];
        cb_body_init(b, prog, prog->steps[i], &prog->arena);
        b->entry = cb_find(c, b->key, b->hash);
        if (b->entry) {
            c->hits++;
            continue;
        }
        /* the same body twice in a program (same text, column and parameter
        ** types): its messages are the same, compiled once */
        size_t h = (size_t)b->hash & (cap - 1);
        while (first[h] && strcmp(missing[first[h] - 1].key, b->key) != 0) h = (h + 1) & (cap - 1);
        if (!first[h]) {
            cb_body_unit(b, prog);
            missing[nmissing++] = *b;      /* shares b's strings; entries copied back below */
            first[h] = nmissing;
        }
        from[nb - 1] = first[h];
    }
    if (nmissing) cb_compile_missing(c, paths, missing, nmissing);
    int errors = 0;
    for (int i = 0; i < nb; i++) {
        cb_body *b = &bodies[i];
        if (!b->entry) b->entry = missing[from[i] - 1].entry;
        b->entry->last_run = c->run;
        errors += cb_report(prog, b, b->entry);
    }
    for (int i = 0; i < nb; i++) cb_body_free(&bodies[i]);
    free(first);
    free(from);
    free(names);
    free(bodies);
    free(missing);
    if (c->run % 16 == 0) cb_sweep(c);
    cb_cache_free(own);
    return errors;
}
