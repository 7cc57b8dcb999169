/*
** lsp.c — the `flowc lsp` server: the message loop, the document
** lifecycle, debounced diagnostics and the dispatch of requests (see lsp.h).
**
** One thread. The loop takes every complete message from the input, then
** waits with poll() for more input or for the earliest debounce deadline;
** a document whose deadline passed is analysed and its diagnostics
** published. A request about a document analyses its current text first
** when the last analysis is older (completion always does, with the
** checker's probe at the cursor), and publishes what that analysis found.
*/
#include "lsp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "lsp_analysis.h"
#include "lsp_features.h"
#include "lsp_rpc.h"
#include "lsp_text.h"

/* JSON-RPC and LSP error codes. */
enum {
    RPC_PARSE_ERROR = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL_ERROR = -32603,
    LSP_SERVER_NOT_INITIALIZED = -32002,
    LSP_REQUEST_FAILED = -32803,
};

/* What the server keeps per open document, beside the text (lsp_doc). */
typedef struct srv_doc {
    char *uri;              /* owned */
    lsp_analysis *an;       /* the last analysis, or NULL */
    bool dirty;             /* changed since an */
    double due;             /* when to analyse it (ms, monotonic) */
    char **published;       /* owned: other URIs given diagnostics by its last publish */
    int npublished;
} srv_doc;

typedef struct lsp_server {
    double last_request_cpu_ms; /* the processor time of the last request answered */
    lsp_io io;
    lsp_ws *ws;
    srv_doc **docs;
    int ndocs;
    bool initialized, shutdown, exit;
    int debounce_ms;
    bool verbose;
} lsp_server;

static double srv_clock(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double srv_now(void) { return srv_clock(CLOCK_MONOTONIC); }

static void srv_log(lsp_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void srv_log(lsp_server *s, const char *fmt, ...)
{
    if (!s->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("flowc lsp: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- sending ------------------------------------------------------------------ */

static void srv_send(lsp_server *s, json_t *msg)
{
    if (!lsp_io_send(&s->io, msg)) s->exit = true;     /* the client is gone */
    json_decref(msg);
}

static void srv_result(lsp_server *s, json_t *id, json_t *result)
{
    srv_send(s, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result ? result : json_null()));
}

static void srv_error(lsp_server *s, json_t *id, int code, const char *msg)
{
    srv_send(s, json_pack("{s:s, s:O, s:{s:i, s:o}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                          "code", code, "message", lsp_json_str(msg)));
}

static void srv_notify(lsp_server *s, const char *method, json_t *params)
{
    srv_send(s, json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params));
}

/* ---- documents ---------------------------------------------------------------- */

static srv_doc *srv_find(lsp_server *s, const char *uri)
{
    for (int i = 0; i < s->ndocs; i++)
        if (strcmp(s->docs[i]->uri, uri) == 0) return s->docs[i];
    return NULL;
}

static void srv_doc_free(srv_doc *d)
{
    lsp_analysis_free(d->an);
    for (int i = 0; i < d->npublished; i++) free(d->published[i]);
    free(d->published);
    free(d->uri);
    free(d);
}

/* publishDiagnostics for uri from the analysis's diagnostics in `file`
** (file -1: the document's, with those that have no position). */
static void srv_publish_file(lsp_server *s, const char *uri, lsp_analysis *an, int file, int version)
{
    json_t *list = json_array();
    const char *text = an->text;
    int len = an->len;
    lsp_lines own = { 0 }, *lines = &an->lines;
    if (file != an->file_id) {
        text = lsp_ws_file_text(s->ws, file, &len);
        lsp_lines_build(&own, text, len);
        lines = &own;
    }
    for (int i = 0; i < an->ndiags; i++) {
        const lsp_diag *d = &an->diags[i];
        bool mine = d->file == file || (file == an->file_id && d->file < 0);
        if (!mine) continue;
        int start = d->file < 0 ? 0 : d->start, end = d->file < 0 ? 0 : d->end;
        /* an empty span (end of file): show it on the character before */
        json_t *j = json_pack("{s:o, s:i, s:s, s:o}", "range", lsp_json_range(lines, text, len, start, end),
                              "severity", d->sev == DIAG_ERROR ? 1 : d->sev == DIAG_WARNING ? 2 : 3, "source",
                              "flowc", "message", lsp_json_str(d->msg));
        json_array_append_new(list, j);
    }
    lsp_lines_free(&own);
    json_t *params = json_pack("{s:o, s:o}", "uri", lsp_json_str(uri), "diagnostics", list);
    if (version >= 0) json_object_set_new(params, "version", json_integer(version));
    srv_notify(s, "textDocument/publishDiagnostics", params);
}

/* Publish an analysis: the document's own diagnostics, those of each file
** it imports that has some, and an empty list for files that had some at
** the previous publish and have none now. */
static void srv_publish(lsp_server *s, srv_doc *d)
{
    lsp_analysis *an = d->an;
    srv_publish_file(s, d->uri, an, an->file_id, an->version);
    char **now = NULL;
    int nnow = 0;
    for (int i = 0; i < an->ndiags; i++) {
        int f = an->diags[i].file;
        if (f < 0 || f == an->file_id) continue;
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = an->diags[j].file == f;
        if (seen) continue;
        char *uri = lsp_file_uri(s->ws, f);
        if (srv_find(s, uri)) {         /* an open document publishes its own */
            free(uri);
            continue;
        }
        srv_publish_file(s, uri, an, f, -1);
        now = xrealloc(now, sizeof *now * (size_t)(nnow + 1));
        now[nnow++] = uri;
    }
    for (int i = 0; i < d->npublished; i++) {
        bool still = false;
        for (int j = 0; j < nnow && !still; j++) still = strcmp(now[j], d->published[i]) == 0;
        if (!still && !srv_find(s, d->published[i]))
            srv_notify(s, "textDocument/publishDiagnostics",
                       json_pack("{s:o, s:[]}", "uri", lsp_json_str(d->published[i]), "diagnostics"));
        free(d->published[i]);
    }
    free(d->published);
    d->published = now;
    d->npublished = nnow;
}

/* Analyse the document now (with a probe at probe_offset when >= 0) and
** publish the result. */
static lsp_analysis *srv_analyse(lsp_server *s, srv_doc *d, int probe_offset)
{
    lsp_doc *doc = lsp_ws_doc(s->ws, d->uri);
    if (!doc) return NULL;
    lsp_analysis *an = lsp_analyze(s->ws, doc, probe_offset);
    bool changed = !d->an || d->an->version != an->version || d->dirty;
    lsp_analysis_free(d->an);
    d->an = an;
    d->dirty = false;
    srv_log(s, "analysed %s (version %d) in %.1f ms (%.1f ms of CPU): %d diagnostics", d->uri, an->version, an->ms,
            an->cpu_ms, an->ndiags);
    if (changed || probe_offset < 0) srv_publish(s, d);
    return an;
}

/* The analysis of the document's current text. */
static lsp_analysis *srv_current(lsp_server *s, srv_doc *d)
{
    if (d->an && !d->dirty) return d->an;
    return srv_analyse(s, d, -1);
}

/* ---- parameters ---------------------------------------------------------------- */

static const char *srv_uri(json_t *params)
{
    return json_string_value(json_object_get(json_object_get(params, "textDocument"), "uri"));
}

/* A JSON integer as an int (0 when absent, clamped to int's range). */
static int srv_int(json_t *j)
{
    json_int_t v = json_integer_value(j);
    return v < 0 ? 0 : v > INT32_MAX ? INT32_MAX : (int)v;
}

/* The byte offset of params.position in the analysed text. */
static int srv_offset(lsp_analysis *an, json_t *params)
{
    json_t *pos = json_object_get(params, "position");
    return lsp_offset(&an->lines, an->text, an->len, srv_int(json_object_get(pos, "line")),
                      srv_int(json_object_get(pos, "character")));
}

/* ---- lifecycle ------------------------------------------------------------------ */

static json_t *srv_capabilities(void)
{
    return json_pack("{s:s, s:{s:b, s:i, s:{s:b}}, s:{s:[s,s,s,s], s:b}, s:b, s:b, s:b, s:b, s:{s:b}, s:b}",
                     "positionEncoding", "utf-16",
                     "textDocumentSync", "openClose", 1, "change", 2, "save", "includeText", 0,
                     "completionProvider", "triggerCharacters", ".", "{", "(", ",", "resolveProvider", 0,
                     "hoverProvider", 1, "definitionProvider", 1, "referencesProvider", 1,
                     "documentSymbolProvider", 1, "renameProvider", "prepareProvider", 1,
                     "documentFormattingProvider", 1);
}

static void srv_initialize(lsp_server *s, json_t *id, json_t *params)
{
    json_t *opts = json_object_get(params, "initializationOptions");
    json_t *deb = json_object_get(opts, "debounceMs");
    if (json_is_integer(deb) && json_integer_value(deb) >= 0 && json_integer_value(deb) <= 10000)
        s->debounce_ms = (int)json_integer_value(deb);
    s->initialized = true;
    srv_result(s, id, json_pack("{s:o, s:{s:s, s:s}}", "capabilities", srv_capabilities(), "serverInfo", "name",
                                "flowc", "version", "0.1"));
}

/* ---- text synchronisation ---------------------------------------------------- */

static void srv_did_open(lsp_server *s, json_t *params)
{
    json_t *td = json_object_get(params, "textDocument");
    const char *uri = json_string_value(json_object_get(td, "uri"));
    json_t *text = json_object_get(td, "text");
    if (!uri || !json_is_string(text)) return;
    char *path = lsp_uri_to_path(uri);
    if (!path) path = xstrdup(uri);
    size_t n = json_string_length(text);
    if (n > LSP_MAX_MESSAGE) return;
    char *t = xmalloc(n + 1);
    memcpy(t, json_string_value(text), n);
    t[n] = 0;
    json_int_t version = json_integer_value(json_object_get(td, "version"));
    lsp_ws_open(s->ws, xstrdup(uri), path, t, (int)n, (int)version);
    srv_doc *d = srv_find(s, uri);
    if (!d) {
        d = xcalloc(1, sizeof *d);
        d->uri = xstrdup(uri);
        s->docs = xrealloc(s->docs, sizeof *s->docs * (size_t)(s->ndocs + 1));
        s->docs[s->ndocs++] = d;
    }
    d->dirty = true;
    d->due = srv_now();         /* a newly opened document is analysed at once */
}

static void srv_did_change(lsp_server *s, json_t *params)
{
    const char *uri = srv_uri(params);
    srv_doc *d = uri ? srv_find(s, uri) : NULL;
    lsp_doc *doc = uri ? lsp_ws_doc(s->ws, uri) : NULL;
    if (!d || !doc) return;
    json_t *changes = json_object_get(params, "contentChanges");
    size_t i;
    json_t *ch;
    json_array_foreach(changes, i, ch) {
        json_t *text = json_object_get(ch, "text");
        if (!json_is_string(text)) continue;
        size_t n = json_string_length(text);
        json_t *range = json_object_get(ch, "range");
        if (!range) {
            char *t = xmalloc(n + 1);
            memcpy(t, json_string_value(text), n);
            t[n] = 0;
            lsp_doc_set_text(doc, t, (int)n);
            continue;
        }
        /* positions refer to the text as the previous change left it */
        json_t *a = json_object_get(range, "start"), *b = json_object_get(range, "end");
        int start = lsp_text_offset(doc->text, doc->len, srv_int(json_object_get(a, "line")),
                                    srv_int(json_object_get(a, "character")));
        int end = lsp_text_offset(doc->text, doc->len, srv_int(json_object_get(b, "line")),
                                  srv_int(json_object_get(b, "character")));
        if (end < start) end = start;
        lsp_doc_edit(doc, start, end, json_string_value(text), (int)n);
    }
    json_t *ver = json_object_get(json_object_get(params, "textDocument"), "version");
    if (json_is_integer(ver)) doc->version = (int)json_integer_value(ver);
    d->dirty = true;
    d->due = srv_now() + s->debounce_ms;
}

static void srv_did_close(lsp_server *s, json_t *params)
{
    const char *uri = srv_uri(params);
    if (!uri) return;
    for (int i = 0; i < s->ndocs; i++) {
        srv_doc *d = s->docs[i];
        if (strcmp(d->uri, uri) != 0) continue;
        /* the editor forgets a closed file's diagnostics unless told otherwise */
        srv_notify(s, "textDocument/publishDiagnostics", json_pack("{s:s, s:[]}", "uri", uri, "diagnostics"));
        for (int k = 0; k < d->npublished; k++)
            srv_notify(s, "textDocument/publishDiagnostics",
                       json_pack("{s:o, s:[]}", "uri", lsp_json_str(d->published[k]), "diagnostics"));
        srv_doc_free(d);
        memmove(s->docs + i, s->docs + i + 1, sizeof *s->docs * (size_t)(s->ndocs - i - 1));
        s->ndocs--;
        break;
    }
    lsp_ws_close(s->ws, uri);
    /* documents importing it now read it from disk */
    for (int i = 0; i < s->ndocs; i++) {
        s->docs[i]->dirty = true;
        s->docs[i]->due = srv_now() + s->debounce_ms;
    }
}

/* ---- requests ------------------------------------------------------------------ */

static void srv_formatting(lsp_server *s, json_t *id, srv_doc *d)
{
    lsp_doc *doc = lsp_ws_doc(s->ws, d->uri);
    char *err = NULL;
    char *out = fmt_source(doc->path, doc->text, doc->len, &err);
    if (!out) {
        char msg[1024];
        snprintf(msg, sizeof msg, "cannot format %s: %s", doc->path, err ? err : "syntax error");
        free(err);
        srv_error(s, id, LSP_REQUEST_FAILED, msg);
        return;
    }
    json_t *edits = json_array();
    if ((int)strlen(out) != doc->len || memcmp(out, doc->text, (size_t)doc->len) != 0) {
        lsp_lines lines;
        lsp_lines_build(&lines, doc->text, doc->len);
        json_array_append_new(edits, json_pack("{s:o, s:o}", "range",
                                               lsp_json_range(&lines, doc->text, doc->len, 0, doc->len),
                                               "newText", lsp_json_str(out)));
        lsp_lines_free(&lines);
    }
    free(out);
    srv_result(s, id, edits);
}

/* flowc/stats (for bench/lsp_bench.py): the last analysis of a document
** and what the caches saved so far. */
static json_t *srv_stats(lsp_server *s, srv_doc *d)
{
    long parsed, reused, hits, compiled, runs;
    lsp_ws_stats(s->ws, &parsed, &reused);
    cb_cache_stats(lsp_ws_cbodies(s->ws), &hits, &compiled, &runs);
    json_t *j = json_pack("{s:i, s:i, s:i, s:i, s:i}", "importsParsed", (json_int_t)parsed, "importsReused",
                          (json_int_t)reused, "cBodiesFromCache", (json_int_t)hits, "cBodiesCompiled",
                          (json_int_t)compiled, "tccRuns", (json_int_t)runs);
    json_object_set_new(j, "lastRequestCpuMs", json_real(s->last_request_cpu_ms));
    if (d && d->an) {
        json_object_set_new(j, "lastAnalysisMs", json_real(d->an->ms));
        json_object_set_new(j, "lastAnalysisCpuMs", json_real(d->an->cpu_ms));
        json_object_set_new(j, "version", json_integer(d->an->version));
    }
    return j;
}

static void srv_request(lsp_server *s, const char *method, json_t *id, json_t *params)
{
    if (strcmp(method, "initialize") == 0) {
        srv_initialize(s, id, params);
        return;
    }
    if (!s->initialized) {
        srv_error(s, id, LSP_SERVER_NOT_INITIALIZED, "the server is not initialized");
        return;
    }
    if (strcmp(method, "shutdown") == 0) {
        s->shutdown = true;
        srv_result(s, id, json_null());
        return;
    }
    if (s->shutdown) {
        srv_error(s, id, RPC_INVALID_REQUEST, "the server is shutting down");
        return;
    }
    const char *uri = srv_uri(params);
    srv_doc *d = uri ? srv_find(s, uri) : NULL;
    bool doc_method = strncmp(method, "textDocument/", 13) == 0;
    if (doc_method && !d) {
        static const char *const known[] = {
            "textDocument/completion", "textDocument/hover", "textDocument/definition", "textDocument/references",
            "textDocument/documentSymbol", "textDocument/prepareRename", "textDocument/rename",
            "textDocument/formatting",
        };
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
            if (strcmp(method, known[i]) == 0) {
                srv_error(s, id, RPC_INVALID_PARAMS, "unknown document: open it first (textDocument/didOpen)");
                return;
            }
        }
    }
    if (strcmp(method, "textDocument/completion") == 0) {
        /* one analysis of the current text, with the checker's probe at the cursor */
        lsp_doc *doc = lsp_ws_doc(s->ws, d->uri);
        json_t *pos = json_object_get(params, "position");
        int off = lsp_text_offset(doc->text, doc->len, srv_int(json_object_get(pos, "line")),
                                  srv_int(json_object_get(pos, "character")));
        lsp_analysis *an = srv_analyse(s, d, off);
        srv_result(s, id, lsp_complete(s->ws, an, off));
    } else if (strcmp(method, "textDocument/hover") == 0) {
        lsp_analysis *an = srv_current(s, d);
        srv_result(s, id, lsp_hover(s->ws, an, srv_offset(an, params)));
    } else if (strcmp(method, "textDocument/definition") == 0) {
        lsp_analysis *an = srv_current(s, d);
        srv_result(s, id, lsp_definition(s->ws, an, srv_offset(an, params)));
    } else if (strcmp(method, "textDocument/references") == 0) {
        lsp_analysis *an = srv_current(s, d);
        json_t *decl = json_object_get(json_object_get(params, "context"), "includeDeclaration");
        srv_result(s, id, lsp_references(s->ws, an, srv_offset(an, params), json_is_true(decl)));
    } else if (strcmp(method, "textDocument/documentSymbol") == 0) {
        srv_result(s, id, lsp_symbols(s->ws, srv_current(s, d)));
    } else if (strcmp(method, "textDocument/prepareRename") == 0) {
        lsp_analysis *an = srv_current(s, d);
        srv_result(s, id, lsp_prepare_rename(s->ws, an, srv_offset(an, params)));
    } else if (strcmp(method, "textDocument/rename") == 0) {
        lsp_analysis *an = srv_current(s, d);
        const char *name = json_string_value(json_object_get(params, "newName"));
        char err[512];
        json_t *edit = name ? lsp_rename(s->ws, an, srv_offset(an, params), name, err, sizeof err) : NULL;
        if (edit) srv_result(s, id, edit);
        else srv_error(s, id, LSP_REQUEST_FAILED, name ? err : "rename needs a newName");
    } else if (strcmp(method, "textDocument/formatting") == 0) {
        srv_formatting(s, id, d);
    } else if (strcmp(method, "flowc/stats") == 0) {
        srv_result(s, id, srv_stats(s, d));
    } else {
        char msg[256];
        snprintf(msg, sizeof msg, "unknown method '%.200s'", method);
        srv_error(s, id, RPC_METHOD_NOT_FOUND, msg);
    }
}

static void srv_notification(lsp_server *s, const char *method, json_t *params)
{
    if (strcmp(method, "exit") == 0) {
        s->exit = true;
    } else if (!s->initialized || s->shutdown) {
        return;             /* notifications before initialize are dropped */
    } else if (strcmp(method, "textDocument/didOpen") == 0) {
        srv_did_open(s, params);
    } else if (strcmp(method, "textDocument/didChange") == 0) {
        srv_did_change(s, params);
    } else if (strcmp(method, "textDocument/didClose") == 0) {
        srv_did_close(s, params);
    } else if (strcmp(method, "textDocument/didSave") == 0) {
        /* files importing the saved one may see its new content on disk */
        for (int i = 0; i < s->ndocs; i++) {
            s->docs[i]->dirty = true;
            if (s->docs[i]->due < srv_now()) s->docs[i]->due = srv_now() + s->debounce_ms;
        }
    }
    /* initialized, $/cancelRequest, $/setTrace, workspace/...: nothing to do */
}

static void srv_message(lsp_server *s, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");
    if (!json_is_object(msg) || (!method && !id)) {
        srv_error(s, NULL, RPC_INVALID_REQUEST, "not a JSON-RPC request or notification");
        return;
    }
    if (!method) return;            /* a response to us: we send no requests */
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        srv_error(s, NULL, RPC_INVALID_REQUEST, "a request id is a number or a string");
        return;
    }
    if (id) {
        double c0 = srv_clock(CLOCK_PROCESS_CPUTIME_ID);
        srv_request(s, method, id, params);
        if (strcmp(method, "flowc/stats") != 0) s->last_request_cpu_ms = srv_clock(CLOCK_PROCESS_CPUTIME_ID) - c0;
    } else {
        srv_notification(s, method, params);
    }
}

/* ---- the loop ------------------------------------------------------------------- */

/* Analyse every document whose debounce deadline has passed. */
static void srv_run_due(lsp_server *s)
{
    double now = srv_now();
    for (int i = 0; i < s->ndocs; i++)
        if (s->docs[i]->dirty && s->docs[i]->due <= now) srv_analyse(s, s->docs[i], -1);
}

/* ms until the next deadline, or -1 when none. */
static int srv_timeout(lsp_server *s)
{
    double next = -1, now = srv_now();
    for (int i = 0; i < s->ndocs; i++)
        if (s->docs[i]->dirty && (next < 0 || s->docs[i]->due < next)) next = s->docs[i]->due;
    if (next < 0) return -1;
    return next <= now ? 0 : (int)(next - now) + 1;
}

static void lsp_usage(FILE *out)
{
    fputs("usage: flowc lsp [--debounce MS] [--verbose]\n"
          "\n"
          "A Language Server Protocol server on stdin and stdout, for editors:\n"
          "diagnostics as you type (those of `flowc check`, and tcc's for C bodies),\n"
          "completion of references, hover, go to definition, references, document\n"
          "symbols, rename of steps and formatting (`flowc fmt`). See docs/lsp.md.\n"
          "\n"
          "  --debounce MS   wait this long after an edit before analysing (default 150)\n"
          "  --verbose       log each analysis on stderr\n",
          out);
}

int lsp_main(int argc, char **argv, const flowc_paths *paths)
{
    lsp_server sv = { .debounce_ms = 150 }, *s = &sv;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            lsp_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--debounce") == 0 && i + 1 < argc) {
            s->debounce_ms = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            s->verbose = true;
        } else if (strcmp(argv[i], "--stdio") == 0) {
            /* what some clients pass: stdio is the only transport */
        } else {
            fprintf(stderr, "flowc lsp: unknown option '%s'\n", argv[i]);
            lsp_usage(stderr);
            return 2;
        }
    }
    lsp_io_init(&s->io, 0, 1);
    s->ws = lsp_ws_new(paths);
    int rc = 1;
    while (!s->exit) {
        json_t *msg;
        char err[256];
        lsp_next r;
        while (!s->exit && (r = lsp_io_next(&s->io, &msg, err, sizeof err)) != LSP_NEXT_NONE) {
            if (r == LSP_NEXT_MESSAGE) {
                srv_message(s, msg);
                json_decref(msg);
            } else if (r == LSP_NEXT_BAD_JSON) {
                srv_error(s, NULL, RPC_PARSE_ERROR, err);
            } else {
                fprintf(stderr, "flowc lsp: %s: giving up\n", err);
                s->exit = true;
            }
        }
        if (s->exit) break;
        srv_run_due(s);
        struct pollfd pfd = { .fd = s->io.in_fd, .events = POLLIN };
        int n = poll(&pfd, 1, srv_timeout(s));
        if (n < 0 && errno != EINTR) break;
        if (n > 0) {
            long got = lsp_io_fill(&s->io);
            if (got <= 0) break;        /* the client closed our input */
        }
    }
    if (s->exit && s->shutdown) rc = 0;
    for (int i = 0; i < s->ndocs; i++) srv_doc_free(s->docs[i]);
    free(s->docs);
    lsp_ws_free(s->ws);
    lsp_io_free(&s->io);
    return rc;
}
