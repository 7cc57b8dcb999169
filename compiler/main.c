/*
** main.c — the flowc command line: check, build, run, test, graph.
*/
#include "ast.h"
#include "check.h"
#include "diag.h"
#include "imports.h"
#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static flowc_paths g_paths;

static void usage(FILE *out)
{
    fputs("usage: flowc COMMAND [options] FILE...\n"
          "\n"
          "Commands:\n"
          "  check FILE...          parse and type-check; gcc-style diagnostics, exit 1 on error\n"
          "\n"
          "Run 'flowc COMMAND --help' for a command's options.\n"
          "Exit status: 0 ok, 1 errors in the input, 2 usage error.\n",
          out);
}

static void usage_check(FILE *out)
{
    fputs("usage: flowc check [--dump-ast] FILE...\n"
          "\n"
          "Parses each .flow file and everything it imports, then type-checks every\n"
          "reference between steps. All errors of a file are reported, as\n"
          "  file:line:col: error: message\n"
          "followed by the source line and a caret.\n"
          "\n"
          "  --dump-ast   print the syntax tree of each file on stdout\n"
          "\n"
          "Exit status: 0 when every file is clean, 1 when any has errors, 2 on usage errors.\n",
          out);
}

/* Load and check one program. Returns 0 clean, 1 errors. */
static int check_one(const char *path, bool dump_ast)
{
    diag_ctx d;
    diag_init(&d);
    ast_program prog;
    ast_program_init(&prog, &d);
    int rc = 1;
    if (imp_load_program(&prog, path, g_paths.stdlib_dir)) {
        if (dump_ast)
            for (int i = 0; i < prog.nfiles; i++) ast_dump_file(prog.files[i], stdout);
        if (d.errors == 0 || prog.main) chk_program(&prog);
        rc = d.errors ? 1 : 0;
    }
    ast_program_free(&prog);
    diag_free(&d);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    bool dump_ast = false;
    int nfiles = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_check(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--dump-ast") == 0) { dump_ast = true; continue; }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "flowc check: unknown option '%s'\n", argv[i]);
            usage_check(stderr);
            return 2;
        }
    }
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) continue;
        nfiles++;
        if (check_one(argv[i], dump_ast)) rc = 1;
    }
    if (!nfiles) {
        fputs("flowc check: no input files\n", stderr);
        usage_check(stderr);
        return 2;
    }
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
    fprintf(stderr, "flowc: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
