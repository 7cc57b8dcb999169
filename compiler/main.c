/*
** main.c — the flowc command line: check, build, run, test, graph, fmt, lsp.
*/
#include "ast.h"
#include "cbody.h"
#include "check.h"
#include "diag.h"
#include "emit.h"
#include "emit_test.h"
#include "fmt.h"
#include "graph.h"
#include "imports.h"
#include "lsp.h"
#include "paths.h"
#include "project.h"
#include "tcc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static flowc_paths g_paths;

static void usage(FILE *out)
{
    fputs("usage: flowc COMMAND [options] FILE...\n"
          "\n"
          "Commands:\n"
          "  check FILE|DIR...      parse and type-check; gcc-style diagnostics, exit 1 on error\n"
          "  build FILE [-o OUT]    compile to a native job binary (default ./NAME)\n"
          "  build FILE...|DIR -o OUT  a project: every workflow in one binary, one state\n"
          "  run FILE [options]     compile in memory and run once (options as `JOB run`)\n"
          "  test FILE|DIR...       run the files' test blocks; ends with \"N passed, N failed\"\n"
          "  graph FILE|DIR... [--svg OUT]  each workflow as a Graphviz graph (dot on stdout)\n"
          "  fmt FILE...            rewrite files in the canonical layout (--check, --stdout)\n"
          "  lsp                    a Language Server Protocol server on stdio, for editors\n"
          "\n"
          "Run 'flowc COMMAND --help' for a command's options.\n"
          "Exit status: 0 ok, 1 errors in the input, 2 usage error.\n",
          out);
}

static void usage_check(FILE *out)
{
    fputs("usage: flowc check [--dump-ast] [--no-c] FILE...\n"
          "\n"
          "Parses each .flow file and everything it imports, type-checks every\n"
          "reference between steps, and compiles the C of function steps (syntax and\n"
          "types, as build does, without linking). All errors of a file are reported, as\n"
          "  file:line:col: error: message\n"
          "followed by the source line and a caret.\n"
          "\n"
          "  --dump-ast   print the syntax tree of each file on stdout\n"
          "  --no-c       do not compile the C of function steps\n"
          "\n"
          "Exit status: 0 when every file is clean, 1 when any has errors, 2 on usage errors.\n",
          out);
}

/* Load and check one program into prog (initialised here, freed by the
** caller) through d. Returns 0 clean, 1 errors. */
static int check_one(diag_ctx *d, ast_program *prog, const char *path, bool dump_ast, bool no_c)
{
    ast_program_init(prog, d);
    prog->library_ok = true;    /* `flowc check lib.flow` checks a library's actions */
    int before = d->errors;
    int rc = 1;
    if (imp_load_program(prog, path, g_paths.stdlib_dir)) {
        if (dump_ast)
            ast_dump_file(prog->main, stdout);  /* imports are dumped where named themselves */
        if (d->errors == before || prog->main) {
            chk_program(prog);
            /* the C of function steps, by tcc as build compiles it (syntax
            ** and types, no link); bodies whose parameters have errors are
            ** left out, so a body is never blamed for the .flow around it */
            if (!no_c) cb_check_program(NULL, prog, &g_paths);
        }
        rc = d->errors > before ? 1 : 0;
    }
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    bool dump_ast = false, no_c = false;
    int nfiles = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_check(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--dump-ast") == 0) { dump_ast = true; continue; }
        if (strcmp(argv[i], "--no-c") == 0) { no_c = true; continue; }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "flowc check: unknown option '%s'\n", argv[i]);
            usage_check(stderr);
            return 2;
        }
    }
    char **names = xcalloc((size_t)argc + 1, sizeof *names);
    for (int i = 0; i < argc; i++)
        if (!(argv[i][0] == '-' && argv[i][1])) names[nfiles++] = argv[i];
    if (!nfiles) {
        free(names);
        fputs("flowc check: no input files\n", stderr);
        usage_check(stderr);
        return 2;
    }
    proj_files files;
    bool expanded = proj_expand("check", names, nfiles, 7u, &files);
    free(names);
    if (!expanded) return 2;
    /* one diagnostics context for the set: the project's rules (unique
    ** workflow names, one declaration per integration) span its files */
    diag_ctx d;
    diag_init(&d);
    ast_program *progs = xcalloc((size_t)files.n + 1, sizeof *progs);
    ast_program **workflows = xcalloc((size_t)files.n + 1, sizeof *workflows);
    int nworkflows = 0;
    for (int i = 0; i < files.n; i++) {
        if (check_one(&d, &progs[i], files.paths[i], dump_ast, no_c)) rc = 1;
        else if (progs[i].main && progs[i].main->workflow && !progs[i].tests_file) workflows[nworkflows++] = &progs[i];
    }
    if (nworkflows > 1 && !proj_check_rules(workflows, nworkflows)) rc = 1;
    for (int i = 0; i < files.n; i++) ast_program_free(&progs[i]);
    free(progs);
    free(workflows);
    diag_free(&d);
    proj_files_free(&files);
    return rc;
}

static void usage_build(FILE *out)
{
    fputs("usage: flowc build FILE [-o OUT] [--emit-c FILE]\n"
          "       flowc build FILE... -o OUT      a project: every workflow in one binary\n"
          "       flowc build DIR [-o OUT]        every .flow in DIR that declares a workflow\n"
          "\n"
          "Compiles the workflows through libtcc into a native executable linked with\n"
          "the flowc runtime (libcurl, jansson, LMDB). One workflow is a project of one:\n"
          "OUT defaults to its name, and so does its state (./NAME.state). Several make\n"
          "a project named after OUT's base name (DIR's when -o is not given), with one\n"
          "state, ./NAME.state (docs/project.md). --emit-c writes the generated C as well\n"
          "('-' for stdout).\n"
          "\n"
          "Exit status: 0 ok, 1 errors in the input, 2 usage error.\n",
          out);
}

static void usage_run(FILE *out)
{
    fputs("usage: flowc run FILE [--event FILE|-] [--user ID] [--settings FILE] [--state DIR]\n"
          "                      [--json] [--test-limits] [--durability sync|batch]\n"
          "                      [--step NAME [--input FILE] [--from RUN_ID]]\n"
          "\n"
          "Compiles the workflow in memory (no binary written) and runs it once, with\n"
          "the options of the job binary's `run` command. Exit status as `JOB run`:\n"
          "0 ok, 1 run failed, 2 usage or bad input, 75 interrupted (resumable).\n"
          "\n"
          "  --test-limits        lists in the printed output cut to 20 items, pagination\n"
          "                       stops after 3 pages (both said on stderr, and the output\n"
          "                       has \"truncated\": true), waits are skipped\n"
          "  --step NAME          Test Step: run only step NAME (every item of it, inside a\n"
          "                       fanout) in a scratch state and print its output\n"
          "  --input FILE         with --step: a JSON object mapping earlier steps' names to\n"
          "                       their outputs, checked against their types; a step not\n"
          "                       given counts as not run; a function step's own parameters\n"
          "                       may be given too ({\"score\": 95}, or {\"NAME\": {...}}), and\n"
          "                       without --event the trigger payload is empty\n"
          "  --from RUN_ID        with --step: the outputs of an earlier run in --state (each\n"
          "                       fanout item's its own), its trigger, user and settings\n",
          out);
}

/* Load, check and translate FILE to C. Returns false after reporting. */
static bool compile_to_c(diag_ctx *d, ast_program *prog, const char *path, strbuf *c_out)
{
    if (!imp_load_program(prog, path, g_paths.stdlib_dir)) return false;
    if (!prog->main) return false;
    if (prog->tests_file) {
        diag_error_noloc(d, path, "this is a tests file: run it with `flowc test`, or build %s", prog->main->path);
        return false;
    }
    if (d->errors) {
        chk_program(prog);
        return false;
    }
    if (!chk_program(prog)) return false;
    char version[17];
    emit_version(prog, version);
    emit_program(prog, c_out, version);
    return true;
}

/* A project's name from OUT (or a directory): its base name without an
** extension, as a workflow name would be ([a-z0-9_], other bytes as _). */
static void project_name(const char *base, char *out, size_t n)
{
    size_t len = strlen(base);
    while (len > 1 && base[len - 1] == '/') len--;
    const char *start = base;
    for (size_t i = 0; i < len; i++)
        if (base[i] == '/') start = base + i + 1;
    size_t k = 0;
    for (const char *p = start; p < base + len && *p != '.' && k + 1 < n; p++)
        out[k++] = (char)(isalnum((unsigned char)*p) ? tolower((unsigned char)*p) : '_');
    if (!k) out[k++] = 'p';
    out[k] = 0;
}

static int cmd_build(int argc, char **argv)
{
    const char *file = NULL, *out = NULL, *emit_c = NULL;
    char **names = xcalloc((size_t)argc + 1, sizeof *names);
    int nnames = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            free(names);
            usage_build(stdout);
            return 0;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--emit-c") == 0 && i + 1 < argc) {
            emit_c = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--emit-c") == 0) {
            free(names);
            fprintf(stderr, "flowc build: %s needs a value (%s)\n", argv[i],
                    argv[i][1] == 'o' ? "the output file" : "a file for the generated C, or '-'");
            usage_build(stderr);
            return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(names);
            fprintf(stderr, "flowc build: unknown option '%s'\n", argv[i]);
            usage_build(stderr);
            return 2;
        } else {
            if (!file) file = argv[i];
            names[nnames++] = argv[i];
        }
    }
    if (!file) {
        free(names);
        usage_build(stderr);
        return 2;
    }
    proj_files files;
    bool expanded = proj_expand("build", names, nnames, 1u << PROJ_WORKFLOW, &files);
    free(names);
    if (!expanded) return 2;
    if (files.n == 0) {
        fprintf(stderr, "flowc build: no workflow to build (no .flow file there declares a `workflow`)\n");
        proj_files_free(&files);
        return 1;
    }
    if (files.n > 1 || files.ndirs) {
        /* a project: its name is OUT's base name, or the directory's */
        const char *base = out ? out : files.ndirs && nnames == 1 ? file : NULL;
        if (files.n > 1 && !base) {
            fprintf(stderr, "flowc build: several workflows make one project: name it with -o OUT\n");
            proj_files_free(&files);
            return 2;
        }
        if (files.n > 1) {
            char name[256], outbuf[512];
            project_name(base, name, sizeof name);
            if (!out) {
                snprintf(outbuf, sizeof outbuf, "./%s", name);
                out = outbuf;
            }
            int rc = proj_build(&g_paths, &files, name, out, emit_c);
            proj_files_free(&files);
            return rc;
        }
    }
    file = files.paths[0];      /* a project of one, as a single file always built */
    diag_ctx d;
    diag_init(&d);
    ast_program prog;
    ast_program_init(&prog, &d);
    strbuf c = { 0 };
    int rc = 1;
    if (compile_to_c(&d, &prog, file, &c)) {
        if (emit_c && !util_write_text(emit_c, c.data)) {
            fprintf(stderr, "flowc build: cannot write %s\n", emit_c);
        } else {
            char def[512];
            if (!out) {
                snprintf(def, sizeof def, "./%s", prog.main->workflow ? prog.main->workflow : "workflow");
                out = def;
            }
            if (cc_build_exe(&d, &g_paths, c.data, out)) rc = 0;
        }
    }
    strbuf_free(&c);
    ast_program_free(&prog);
    diag_free(&d);
    proj_files_free(&files);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_run(stdout);
            return 0;
        }
    }
    /* The first non-option argument is the .flow file; the rest go to the job. */
    char **job_argv = xcalloc((size_t)argc + 3, sizeof *job_argv);
    int job_argc = 0;
    job_argv[job_argc++] = NULL;        /* the workflow's name, set below */
    job_argv[job_argc++] = "run";
    for (int i = 0; i < argc; i++) {
        if (!file && argv[i][0] != '-') { file = argv[i]; continue; }
        job_argv[job_argc++] = argv[i];
        /* options with a value: keep the value with its option */
        if (argv[i][0] == '-' && i + 1 < argc && strcmp(argv[i], "--json") != 0 &&
            strcmp(argv[i], "--test-limits") != 0 && argv[i][1])
            job_argv[job_argc++] = argv[++i];
    }
    if (!file) {
        free(job_argv);
        usage_run(stderr);
        return 2;
    }
    diag_ctx d;
    diag_init(&d);
    ast_program prog;
    ast_program_init(&prog, &d);
    strbuf c = { 0 };
    int rc = 2;
    if (compile_to_c(&d, &prog, file, &c)) {
        job_argv[0] = (char *)(prog.main->workflow ? prog.main->workflow : "workflow");
        rc = cc_run_memory(&d, &g_paths, c.data, job_argc, job_argv);
        if (rc < 0) rc = 1;
    } else {
        rc = 1;
    }
    strbuf_free(&c);
    ast_program_free(&prog);
    diag_free(&d);
    free(job_argv);
    return rc;
}

static void usage_test(FILE *out)
{
    fputs("usage: flowc test FILE... [--filter TEXT] [--json] [--junit OUT.xml] [--verbose]\n"
          "\n"
          "Compiles each workflow once, in memory, and runs its test blocks in-process:\n"
          "HTTP requests are answered by the tests' mocks (never the network), waits\n"
          "and retry backoffs are skipped, state lives in a throw-away LMDB. A `tests\n"
          "for \"./x.flow\"` file runs its own test blocks against x.flow.\n"
          "\n"
          "  --filter TEXT   only the tests whose name contains TEXT\n"
          "  --json          one JSON object per test on stdout (the summary on stderr)\n"
          "  --junit OUT     also write a JUnit XML report\n"
          "  -v, --verbose   show each run's log lines under its result\n"
          "\n"
          "Prints PASS/FAIL per test and ends with \"N passed, N failed\".\n"
          "Exit status: 0 all passed, 1 a test failed or a file has errors, 2 usage error.\n",
          out);
}

/* Compiles one file with its tests and runs them. Returns 0, 1, or 2. */
static int test_one(const char *path, const char *filter, int flags, FILE *junit, int counts[2])
{
    diag_ctx d;
    diag_init(&d);
    ast_program prog;
    ast_program_init(&prog, &d);
    int rc = 1;
    if (imp_load_program(&prog, path, g_paths.stdlib_dir) && prog.main) {
        bool ok = d.errors == 0;
        ok = chk_program(&prog) && ok;
        if (ok) {
            strbuf c = { 0 };
            char version[17];
            emit_version(&prog, version);
            emit_program(&prog, &c, version);
            emit_tests(&prog, &c);
            rc = cc_run_tests(&d, &g_paths, c.data, filter, flags, junit, counts);
            if (rc < 0) rc = 1;
            strbuf_free(&c);
        }
    }
    ast_program_free(&prog);
    diag_free(&d);
    return rc;
}

static int cmd_test(int argc, char **argv)
{
    const char *filter = NULL, *junit_path = NULL;
    bool json = false, verbose = false;
    int nfiles = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_test(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            verbose = true;
        } else if ((strcmp(argv[i], "--filter") == 0 || strcmp(argv[i], "--junit") == 0) && i + 1 < argc) {
            if (argv[i][2] == 'f') filter = argv[++i];
            else junit_path = argv[++i];
        } else if (strcmp(argv[i], "--filter") == 0 || strcmp(argv[i], "--junit") == 0) {
            fprintf(stderr, "flowc test: %s needs a value (%s)\n", argv[i],
                    argv[i][2] == 'f' ? "text a test's name contains" : "the JUnit XML file to write");
            usage_test(stderr);
            return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "flowc test: unknown option '%s'\n", argv[i]);
            usage_test(stderr);
            return 2;
        } else {
            nfiles++;
        }
    }
    if (!nfiles) {
        fputs("flowc test: no input files\n", stderr);
        usage_test(stderr);
        return 2;
    }
    FILE *junit = NULL;
    if (junit_path) {
        junit = fopen(junit_path, "w");
        if (!junit) {
            fprintf(stderr, "flowc test: cannot write %s\n", junit_path);
            return 2;
        }
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", junit);
    }
    int counts[2] = { 0, 0 }, rc = 0;
    char **names = xcalloc((size_t)argc + 1, sizeof *names);
    int nnames = 0;
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) {
            if (strcmp(argv[i], "--filter") == 0 || strcmp(argv[i], "--junit") == 0) i++;
            continue;
        }
        names[nnames++] = argv[i];
    }
    proj_files files;       /* a directory: its workflows and tests files */
    if (!proj_expand("test", names, nnames, (1u << PROJ_WORKFLOW) | (1u << PROJ_TESTS), &files)) {
        free(names);
        if (junit) fclose(junit);
        return 2;
    }
    free(names);
    for (int i = 0; i < files.n; i++) {
        if (files.n > 1 && !json) printf("# %s\n", files.paths[i]);
        fflush(stdout);
        int r = test_one(files.paths[i], filter, (json ? 1 : 0) | (verbose ? 2 : 0), junit, counts);
        if (r == 2 || (r == 1 && rc == 0)) rc = r;
    }
    proj_files_free(&files);
    if (junit) {
        fputs("</testsuites>\n", junit);
        fclose(junit);
    }
    fprintf(json ? stderr : stdout, "%d passed, %d failed\n", counts[0], counts[1]);
    if (rc == 0 && counts[1]) rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    paths_init(&g_paths, argv[0]);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "check") == 0) return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "build") == 0) return cmd_build(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "test") == 0) return cmd_test(argc - 2, argv + 2);
    if (strcmp(cmd, "graph") == 0) return graph_main(argc - 2, argv + 2, g_paths.stdlib_dir);
    if (strcmp(cmd, "fmt") == 0) return fmt_main(argc - 2, argv + 2);
    if (strcmp(cmd, "lsp") == 0) return lsp_main(argc - 2, argv + 2, &g_paths);
    fprintf(stderr, "flowc: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
