/*
** test_runtime.c — unit tests of the runtime modules, built by run.sh with
** gcc and the address and undefined-behaviour sanitizers, linked with the
** runtime's sources. Each test prints "PASS: runtime: NAME" or
** "FAIL: runtime: NAME: why".
*/
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flowrt.h"
#include "rt_exec.h"
#include "rt_http.h"
#include "rt_log.h"
#include "rt_owner.h"
#include "rt_record.h"
#include "rt_redact.h"
#include "rt_store.h"
#include "rt_type.h"
#include "rt_url.h"
#include "rt_util.h"
#include "rt_value.h"

static int failures;
static char why[2048];          /* the first failed check of the current test */

#define CHECK(cond, ...)                                                                                        \
    do {                                                                                                        \
        if (!(cond) && !why[0]) {                                                                               \
            int n_ = snprintf(why, sizeof why, "line %d: ", __LINE__);                                          \
            snprintf(why + n_, sizeof why - (size_t)n_, __VA_ARGS__);                                           \
        }                                                                                                       \
    } while (0)

#define CHECK_STR(got, want)                                                                                    \
    do {                                                                                                        \
        const char *g_ = (got), *w_ = (want);                                                                   \
        CHECK(g_ && strcmp(g_, w_) == 0, "got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_);                     \
    } while (0)

static void run_test(const char *name, void (*fn)(void))
{
    why[0] = '\0';
    fn();
    if (why[0]) {
        printf("FAIL: runtime: %s: %s\n", name, why);
        failures++;
    } else {
        printf("PASS: runtime: %s\n", name);
    }
    fflush(stdout);
}

static char scratch_dir[256];

static char *scratch(const char *name)
{
    return rt_xprintf("%s/%s", scratch_dir, name);
}

/* A run state with no store, for value tests. */
static const rt_workflow value_wf = { .name = "values", .version = "0" };

static rt_ctx *value_ctx(rt_run_state *run)
{
    rt_run_init(run, &value_wf, NULL, json_pack("{s:s, s:{}, s:{}}", "id", "r1", "trigger", "settings"));
    return rt_ctx_new(run, NULL, "");
}

/* ---- types -------------------------------------------------------------- */

/* Descriptors as flowc emits them (static data). */
static const rt_type T_json = { RT_TYPE_JSON, NULL, NULL, 0 };
static const rt_type T_int = { RT_TYPE_INT, NULL, NULL, 0 };
static const rt_type T_float = { RT_TYPE_FLOAT, NULL, NULL, 0 };
static const rt_type T_string = { RT_TYPE_STRING, NULL, NULL, 0 };
static const rt_type T_opt_string = { RT_TYPE_OPT, &T_string, NULL, 0 };
static const rt_type T_opt_int = { RT_TYPE_OPT, &T_int, NULL, 0 };
static const rt_type_field TF_title_employees[] = { { "title", &T_string }, { "employees", &T_int } };
static const rt_type T_title_employees = { RT_TYPE_OBJECT, NULL, TF_title_employees, 2 };
static const rt_type T_title = { RT_TYPE_OBJECT, NULL, TF_title_employees, 1 };
static const rt_type_field TF_id[] = { { "id", &T_int } };
static const rt_type T_id = { RT_TYPE_OBJECT, NULL, TF_id, 1 };
static const rt_type T_ids = { RT_TYPE_LIST, &T_id, NULL, 0 };
static const rt_type_field TF_items[] = { { "items", &T_ids } };
static const rt_type T_items = { RT_TYPE_OBJECT, NULL, TF_items, 1 };
static const rt_type_field TF_mixed[] = { { "a", &T_opt_string }, { "b", &T_opt_int }, { "f", &T_float },
                                          { "j", &T_json } };
static const rt_type T_mixed = { RT_TYPE_OBJECT, NULL, TF_mixed, 4 };
static const rt_type_field TF_y[] = { { "y", &T_int } };
static const rt_type T_y = { RT_TYPE_OBJECT, NULL, TF_y, 1 };
static const rt_type_field TF_s[] = { { "s", &T_string } };
static const rt_type T_s = { RT_TYPE_OBJECT, NULL, TF_s, 1 };
static const rt_type_field TF_v[] = { { "v", &T_int } };
static const rt_type T_v = { RT_TYPE_OBJECT, NULL, TF_v, 1 };
static const rt_type_field TF_x[] = { { "x", &T_int } };
static const rt_type T_x = { RT_TYPE_OBJECT, NULL, TF_x, 1 };

static void test_type_messages(void)
{
    char err[512];
    json_t *v = json_pack("{s:s, s:s}", "title", "CTO", "employees", "many");
    CHECK(!rt_type_check(&T_title_employees, v, "response body", err, sizeof err), "mistyped field accepted");
    CHECK_STR(err, "response body: field 'employees' expected int, got string \"many\"");
    json_decref(v);

    v = json_pack("{s:s}", "name", "x");
    CHECK(!rt_type_check(&T_title, v, "response body", err, sizeof err), "missing field accepted");
    CHECK_STR(err, "response body: missing field 'title' (string)");
    json_decref(v);

    v = json_pack("{s:[{s:i},{s:s}]}", "items", "id", 1, "id", "x");
    CHECK(!rt_type_check(&T_items, v, NULL, err, sizeof err), "list element");
    CHECK_STR(err, "field 'items[1].id' expected int, got string \"x\"");
    json_decref(v);

    v = json_string("this is not json");
    CHECK(!rt_type_check(&T_id, v, "response body", err, sizeof err), "string as object");
    CHECK_STR(err, "response body: expected {id: int}, got string \"this is not json\"");
    json_decref(v);

    v = json_pack("{s:n, s:i, s:{}}", "a", "f", 3, "j");
    CHECK(rt_type_check(&T_mixed, v, NULL, err, sizeof err), "optional/absent/float-from-int/json rejected: %s", err);
    json_decref(v);

    /* names and the JSON form `info --json` shows */
    rt_type_name(&T_items, err, sizeof err);
    CHECK_STR(err, "{items: [{id: int}]}");
    rt_type_name(&T_opt_string, err, sizeof err);
    CHECK_STR(err, "string?");
    rt_type_name(NULL, err, sizeof err);
    CHECK_STR(err, "json");
    json_t *j = rt_type_json(&T_mixed);
    char *text = rt_json_text(j);
    CHECK_STR(text, "{\"a\":[\"opt\",\"string\"],\"b\":[\"opt\",\"int\"],\"f\":\"float\",\"j\":\"json\"}");
    free(text);
    json_decref(j);
}

/* ---- values ------------------------------------------------------------- */

static void test_operators(void)
{
    rt_run_state run;
    rt_ctx *c = value_ctx(&run);
    CHECK(json_integer_value(rt_binary(c, RT_OP_ADD, rt_int(c, 40), rt_int(c, 2), 1)) == 42, "40 + 2");
    CHECK(json_integer_value(rt_binary(c, RT_OP_DIV, rt_int(c, 7), rt_int(c, 2), 1)) == 3, "7 / 2");
    CHECK(json_real_value(rt_binary(c, RT_OP_DIV, rt_float(c, 7), rt_int(c, 2), 1)) == 3.5, "7.0 / 2");
    CHECK_STR(json_string_value(rt_binary(c, RT_OP_ADD, rt_str(c, "ab"), rt_str(c, "cd"), 1)), "abcd");
    CHECK(json_array_size(rt_binary(c, RT_OP_ADD, rt_list(c, 1, rt_int(c, 1)), rt_list(c, 2, rt_int(c, 2),
                                                                                       rt_int(c, 3)), 1)) == 3,
          "list + list");
    CHECK(json_is_true(rt_binary(c, RT_OP_EQ, rt_int(c, 1), rt_float(c, 1.0), 1)), "1 == 1.0");
    CHECK(json_is_true(rt_binary(c, RT_OP_EQ, rt_null(), rt_null(), 1)), "null == null");
    CHECK(json_is_false(rt_binary(c, RT_OP_EQ, rt_null(), rt_int(c, 0), 1)), "null == 0");
    CHECK(json_is_true(rt_binary(c, RT_OP_NE, rt_str(c, ""), rt_null(), 1)), "\"\" != null");
    CHECK(json_is_true(rt_binary(c, RT_OP_EQ, rt_object(c, 1, "a", rt_list(c, 1, rt_int(c, 1))),
                                 rt_object(c, 1, "a", rt_list(c, 1, rt_float(c, 1))), 1)),
          "deep equality");
    CHECK(json_is_true(rt_binary(c, RT_OP_LT, rt_str(c, "abc"), rt_str(c, "abd"), 1)), "string <");
    CHECK(json_is_true(rt_binary(c, RT_OP_GE, rt_float(c, 2.5), rt_int(c, 2), 1)), "2.5 >= 2");
    CHECK(json_integer_value(rt_binary(c, RT_OP_COALESCE, rt_null(), rt_int(c, 9), 1)) == 9, "null ?? 9");
    CHECK(json_integer_value(rt_binary(c, RT_OP_COALESCE, rt_int(c, 1), rt_int(c, 9), 1)) == 1, "1 ?? 9");
    CHECK(!rt_ctx_error(c), "unexpected error: %s", rt_ctx_error(c));

    rt_binary(c, RT_OP_ADD, rt_int(c, INT64_MAX), rt_int(c, 1), 12);
    CHECK(rt_ctx_error(c) && strstr(rt_ctx_error(c), "integer overflow"), "overflow not raised: %s",
          rt_ctx_error(c) ? rt_ctx_error(c) : "(none)");
    rt_ctx_free(c);
    c = rt_ctx_new(&run, NULL, "");
    rt_binary(c, RT_OP_GT, rt_str(c, "a"), rt_int(c, 3), 7);
    CHECK(rt_ctx_error(c) && strstr(rt_ctx_error(c), "cannot be applied to string \"a\" and int 3"),
          "comparison error: %s", rt_ctx_error(c) ? rt_ctx_error(c) : "(none)");
    rt_ctx_free(c);
    c = rt_ctx_new(&run, NULL, "");
    rt_binary(c, RT_OP_MOD, rt_int(c, 1), rt_int(c, 0), 7);
    CHECK(rt_ctx_error(c) && strstr(rt_ctx_error(c), "by zero"), "modulo by zero");
    rt_ctx_free(c);
    rt_run_free(&run);
}

static void test_interp_and_builtins(void)
{
    rt_run_state run;
    rt_ctx *c = value_ctx(&run);
    json_t *s = rt_interp(c, 6, rt_str(c, "a"), rt_null(), rt_int(c, 5), rt_float(c, 1.5), rt_bool(true),
                          rt_object(c, 1, "k", rt_list(c, 2, rt_int(c, 1), rt_float(c, 0.1))));
    CHECK_STR(json_string_value(s), "a51.5true{\"k\":[1,0.1]}");
    json_t *args[2];
    args[0] = rt_str(c, "h\xc3\xa9llo");
    CHECK(json_integer_value(rt_call(c, RT_FN_len, 1, args, 1)) == 5, "len counts code points");
    args[0] = rt_str(c, "  MiXed ");
    CHECK_STR(json_string_value(rt_call(c, RT_FN_trim, 1, args, 1)), "MiXed");
    CHECK_STR(json_string_value(rt_call(c, RT_FN_lower, 1, args, 1)), "  mixed ");
    CHECK_STR(json_string_value(rt_call(c, RT_FN_upper, 1, args, 1)), "  MIXED ");
    args[0] = rt_str(c, " 42 ");
    CHECK(json_integer_value(rt_call(c, RT_FN_int, 1, args, 1)) == 42, "int(\" 42 \")");
    args[0] = rt_float(c, 3.9);
    CHECK(json_integer_value(rt_call(c, RT_FN_int, 1, args, 1)) == 3, "int(3.9)");
    args[0] = rt_str(c, "1.5");
    CHECK(json_real_value(rt_call(c, RT_FN_float, 1, args, 1)) == 1.5, "float(\"1.5\")");
    args[0] = rt_list(c, 2, rt_int(c, 1), rt_str(c, "a"));
    args[1] = rt_str(c, "a");
    CHECK(json_is_true(rt_call(c, RT_FN_contains, 2, args, 1)), "contains(list)");
    args[1] = rt_str(c, "-");
    CHECK_STR(json_string_value(rt_call(c, RT_FN_join, 2, args, 1)), "1-a");
    args[0] = rt_str(c, "{\"a\": [1, 2]}");
    CHECK(json_array_size(rt_field(c, rt_call(c, RT_FN_json, 1, args, 1), "a")) == 2, "json() parses");
    args[0] = rt_int(c, 7);
    CHECK_STR(json_string_value(rt_call(c, RT_FN_string, 1, args, 1)), "7");
    CHECK(json_string_length(rt_call(c, RT_FN_now, 0, NULL, 1)) == 24, "now() is RFC 3339 with ms");
    CHECK(json_is_null(rt_field(c, rt_null(), "x")), "field of null is null");
    CHECK(json_integer_value(rt_index(c, rt_list(c, 3, rt_int(c, 1), rt_int(c, 2), rt_int(c, 3)), rt_int(c, -1))) == 3,
          "index -1");
    CHECK(!rt_ctx_error(c), "unexpected error: %s", rt_ctx_error(c));
    args[0] = rt_str(c, "abc");
    rt_call(c, RT_FN_int, 1, args, 9);
    CHECK(rt_ctx_error(c) && strstr(rt_ctx_error(c), "int() cannot take string \"abc\""), "int(\"abc\"): %s",
          rt_ctx_error(c) ? rt_ctx_error(c) : "(none)");
    rt_ctx_free(c);
    c = rt_ctx_new(&run, NULL, "");
    rt_field(c, rt_str(c, "x"), "f");
    CHECK(rt_ctx_error(c) && strstr(rt_ctx_error(c), "cannot read field 'f' of string"), "field of a string");
    rt_ctx_free(c);
    rt_run_free(&run);
}

/* ---- origins and URL templates --------------------------------------------- */

/* The URL a template builds, or "REFUSED: reason". */
static char *build_template(const char *modes, json_t *parts)
{
    char err[600];
    char *u = rt_url_build(modes, parts, err, sizeof err);
    json_decref(parts);
    return u ? u : rt_xprintf("REFUSED: %s", err);
}

static void test_origins_and_templates(void)
{
    static const struct { const char *a, *b; bool same; } origins[] = {
        { "http://h.test/a", "HTTP://H.TEST:80/b?x#y", true },
        { "https://h.test/a", "https://h.test:443", true },
        { "https://h.test/a", "http://h.test/a", false },
        { "http://h.test:8080/", "http://h.test/", false },
        { "http://h.test/", "http://h.test.evil/", false },
        { "http://127.0.0.1:5000@evil.test/", "http://127.0.0.1:5000/", false },
    };
    for (size_t i = 0; i < sizeof origins / sizeof *origins; i++) {
        char oa[RT_URL_ORIGIN_MAX], ob[RT_URL_ORIGIN_MAX];
        bool ok = rt_url_origin(origins[i].a, oa, sizeof oa) && rt_url_origin(origins[i].b, ob, sizeof ob);
        CHECK(ok && (strcmp(oa, ob) == 0) == origins[i].same, "origins of %s and %s", origins[i].a, origins[i].b);
    }
    char o[RT_URL_ORIGIN_MAX];
    CHECK(!rt_url_origin("ftp://h.test/x", o, sizeof o) && !rt_url_origin("/relative", o, sizeof o),
          "only http(s) URLs have an origin here");
    /* origins are remembered by the URL's scheme and authority: the same
    ** prefix gives the same origin, and what libcurl refuses after it (a
    ** space, a control byte) is still refused once the prefix is known */
    for (int round = 0; round < 2; round++) {
        CHECK(rt_url_origin("http://memo.test:81/a/1", o, sizeof o) && strcmp(o, "http://memo.test:81") == 0,
              "origin of a remembered prefix (round %d): %s", round, o);
        CHECK(rt_url_origin("http://memo.test:81?q=1", o, sizeof o) && strcmp(o, "http://memo.test:81") == 0,
              "a query right after the authority (round %d)", round);
        CHECK(!rt_url_origin("http://memo.test:81/a b", o, sizeof o), "a space after a remembered prefix");
        CHECK(!rt_url_origin("http://memo.test:81/a\x01", o, sizeof o), "a control byte after a remembered prefix");
        CHECK(!rt_url_origin("http://memo.test:81@", o, sizeof o) || strcmp(o, "http://memo.test:81") != 0,
              "a longer authority is another prefix");
    }
    char small[8];
    CHECK(!rt_url_origin("http://memo.test:81/x", small, sizeof small), "an origin that does not fit is refused");
    CHECK(rt_url_is_absolute("https://h/x") && !rt_url_is_absolute("/x?next=http://evil/") &&
          !rt_url_is_absolute("://x"), "absolute means a scheme first");
    char *s = rt_url_join("https://h.test/api", "/x?next=http://evil.test/");
    CHECK_STR(s, "https://h.test/api/x?next=http://evil.test/");
    free(s);
    s = rt_url_resolve("http://h.test/a/b/c", "../d");
    CHECK_STR(s, "http://h.test/a/d");
    free(s);
    s = rt_url_resolve("http://h.test/a/b", "/x y?q=%41");
    CHECK_STR(s, "http://h.test/x%20y?q=%41");
    free(s);
    s = rt_url_resolve("http://h.test/a/b", "/x?next=http://evil.test/");
    CHECK_STR(s, "http://h.test/x?next=http://evil.test/");
    free(s);

    static const struct { const char *modes; const char *parts; const char *want; } cases[] = {
        { "tsts", "[\"/people/\", \"a/b c\", \"/tags?x=\", \"1\"]", "/people/a%2Fb%20c/tags?x=1" },
        { "bts", "[\"http://h.test/api\", \"/p/\", \"../../admin\"]", "http://h.test/api/p/..%2F..%2Fadmin" },
        { "bts", "[\"http://h.test/api\", \"/p/\", \"..\"]", "REFUSED" },
        { "bts", "[\"http://h.test/api\", \"/p/.\", \".\"]", "REFUSED" },
        { "btstst", "[\"http://h.test\", \"/p/\", \"\", \".\", \"\", \"/x\"]", "REFUSED" },
        { "btst", "[\"http://h.test\", \"/p/\", \"\", \".x\"]", "http://h.test/p/.x" },
        { "tpt", "[\"/files/\", \"x/\", \".\"]", "REFUSED" },
        { "tq", "[\"/q?name=\", \"a&b=..#\"]", "/q?name=a%26b%3D..%23" },
        { "tp", "[\"/files/\", \"dir/a b/c?.txt\"]", "/files/dir/a%20b/c%3F.txt" },
        { "tp", "[\"/files/\", \"dir/../etc\"]", "REFUSED" },
        { "bs", "[\"http://h.test\", \".evil.test\"]", "REFUSED" },
        { "bs", "[\"http://h.test:80\", \"81\"]", "REFUSED" },
        { "bs", "[\"http://h.test/\", \"x\"]", "http://h.test/x" },
        { "tht", "[\"https://\", \"acme\", \".zendesk.test/api\"]", "https://acme.zendesk.test/api" },
        { "tht", "[\"https://\", \"evil.test/\", \".zendesk.test/api\"]", "REFUSED" },
        { "tht", "[\"https://\", \"x@evil.test\", \".zendesk.test/api\"]", "REFUSED" },
        { "ts", "[\"/n/\", 42]", "/n/42" },
        { "tst", "[\"/n/\", null, \"/x\"]", "/n//x" },
        { "tz", "[\"/n/\", 1]", "REFUSED" },
        { "ts", "[\"/n/\"]", "REFUSED" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *parts = json_loads(cases[i].parts, 0, NULL);
        char *got = build_template(cases[i].modes, parts);
        bool refused = strcmp(cases[i].want, "REFUSED") == 0;
        CHECK(refused ? strncmp(got, "REFUSED: ", 9) == 0 : strcmp(got, cases[i].want) == 0,
              "template %s %s: got %s, want %s", cases[i].modes, cases[i].parts, got, cases[i].want);
        free(got);
    }
}

/* ---- http helpers -------------------------------------------------------- */

static void test_urls(void)
{
    char *s;
    s = rt_url_join("https://x.test/api/", "/v1/a");
    CHECK_STR(s, "https://x.test/api/v1/a");
    free(s);
    s = rt_url_join("https://x.test/api", "http://other/z");
    CHECK_STR(s, "http://other/z");
    free(s);
    s = rt_url_join(NULL, "http://h/p");
    CHECK_STR(s, "http://h/p");
    free(s);
    s = rt_url_resolve("http://h.test/a/b?x=1", "/lk2?y=2");
    CHECK_STR(s, "http://h.test/lk2?y=2");
    free(s);
    s = rt_url_resolve("http://h.test/a/b?x=1", "c");
    CHECK_STR(s, "http://h.test/a/c");
    free(s);
    s = rt_url_resolve("http://h.test/a/b", "?page=2");
    CHECK_STR(s, "http://h.test/a/b?page=2");
    free(s);
    s = rt_url_resolve("https://h.test/a", "//cdn.test/z");
    CHECK_STR(s, "https://cdn.test/z");
    free(s);
    json_t *q = json_pack("{s:s, s:i, s:n, s:[s,s], s:b}", "q", "a b&c", "n", 5, "skip", "t", "x", "y", "full", 1);
    s = rt_url_add_query("http://h/p?a=1", q);
    CHECK_STR(s, "http://h/p?a=1&q=a%20b%26c&n=5&t=x&t=y&full=true");
    free(s);
    s = rt_url_add_query("http://h/p#frag", q);
    CHECK_STR(s, "http://h/p?q=a%20b%26c&n=5&t=x&t=y&full=true#frag");
    free(s);
    s = rt_url_form_encode(q);
    CHECK_STR(s, "q=a%20b%26c&n=5&t=x&t=y&full=true");
    free(s);
    json_decref(q);

    json_t *h = json_pack("{s:s}", "link", "<https://a.test/p1>; rel=\"prev\", <https://a.test/p3?x=1,2>; rel=\"next\"");
    s = rt_http_link_next(h);
    CHECK_STR(s, "https://a.test/p3?x=1,2");
    free(s);
    json_decref(h);
    h = json_pack("{s:s}", "link", "</p2>; rel=\"last next\"");
    s = rt_http_link_next(h);
    CHECK_STR(s, "/p2");
    free(s);
    json_decref(h);
    h = json_pack("{s:s}", "retry-after", "3");
    CHECK(rt_http_retry_after_ms(h) == 3000, "Retry-After: 3");
    json_decref(h);
    h = json_pack("{s:s}", "retry-after", "Wed, 21 Oct 2015 07:28:00 GMT");
    CHECK(rt_http_retry_after_ms(h) == 0, "Retry-After date in the past");
    json_decref(h);
    h = json_object();
    CHECK(rt_http_retry_after_ms(h) == -1, "no Retry-After");
    json_decref(h);
}

/* Redaction sets: a thread redacts with its own set (a run's under serve),
** which holds that run's secrets only; without one, the process's. */
typedef struct set_job {
    rt_redact_set *set;
    char *out;
} set_job;

static void *redact_in_thread(void *arg)
{
    set_job *j = arg;
    rt_redact_use(j->set);
    j->out = rt_redact("alpha-secret-1 bravo-secret-2 process-secret-3");
    return NULL;
}

static void test_redaction_sets(void)
{
    rt_redact_add("process-secret-3");              /* the process's set */
    rt_redact_set *a = rt_redact_set_new(), *b = rt_redact_set_new();
    rt_redact_set_add(a, "alpha-secret-1");
    rt_redact_set_add(b, "bravo-secret-2");
    set_job ja = { a, NULL }, jb = { b, NULL }, jp = { NULL, NULL };
    pthread_t ta, tb, tp;
    pthread_create(&ta, NULL, redact_in_thread, &ja);
    pthread_create(&tb, NULL, redact_in_thread, &jb);
    pthread_create(&tp, NULL, redact_in_thread, &jp);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_join(tp, NULL);
    CHECK_STR(ja.out, "[redacted] bravo-secret-2 process-secret-3");
    CHECK_STR(jb.out, "alpha-secret-1 [redacted] process-secret-3");
    CHECK_STR(jp.out, "alpha-secret-1 bravo-secret-2 [redacted]");
    free(ja.out);
    free(jb.out);
    free(jp.out);
    /* rt_redact_add registers in the thread's set, and use() returns the previous one */
    CHECK(rt_redact_use(a) == NULL, "no set before");
    rt_redact_add("alpha-derived-4");
    CHECK(rt_redact_holds("alpha-derived-4") && !rt_redact_holds("bravo-secret-2"), "a's set in use");
    CHECK(rt_redact_use(NULL) == a, "a's set was in use");
    CHECK(!rt_redact_holds("alpha-derived-4") && rt_redact_holds("process-secret-3"), "the process's set again");
    rt_redact_set_free(a);
    rt_redact_set_free(b);
}

/* One duration parser for serve and the CLI; one credential-file reader. */
static void test_durations_and_credentials(void)
{
    static const struct { const char *s; int64_t ms; } ok[] = {
        { "250ms", 250 }, { "1.5s", 1500 }, { "10m", 600000 }, { "2h", 7200000 }, { "7d", 604800000 },
        { "1w", 604800000 }, { "0", 0 }, { "0s", 0 }, { ".5s", 500 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        CHECK(rt_parse_duration(ok[i].s, &ms) && ms == ok[i].ms, "duration '%s' = %lld", ok[i].s, (long long)ms);
    }
    static const char *const bad[] = { "", "30", "-1s", "1y", "5 s", "s", "1e400s", "inf", "nan", "0x10s", " 1s", "1sec" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        CHECK(!rt_parse_duration(bad[i], &ms), "duration '%s' refused", bad[i]);
    }
    char dir[] = "/tmp/flow-cred.XXXXXX", path[64], err[300];
    CHECK(mkdtemp(dir) != NULL, "scratch dir");
    snprintf(path, sizeof path, "%s/c", dir);
    FILE *f = fopen(path, "w");
    fputs("s3cr3t value \r\n\n", f);
    fclose(f);
    char *v = rt_read_credential(path, "token", err, sizeof err);
    CHECK_STR(v, "s3cr3t value");
    free(v);
    f = fopen(path, "w");
    fputs(" \n", f);
    fclose(f);
    CHECK(!rt_read_credential(path, "token", err, sizeof err) && strstr(err, "token file") && strstr(err, "is empty"),
          "an empty file is refused: %s", err);
    f = fopen(path, "w");
    fwrite("ab\0cd", 1, 5, f);
    fclose(f);
    CHECK(!rt_read_credential(path, "secret", err, sizeof err) && strstr(err, "NUL"), "a NUL byte is refused: %s", err);
    unlink(path);
    CHECK(!rt_read_credential(path, "secret", err, sizeof err) && errno == ENOENT && strstr(err, "cannot read secret file"),
          "a missing file says so: %s", err);
    rmdir(dir);
}

static void test_redaction(void)
{
    rt_redact_add("supersecret-1");
    rt_redact_add("abc");       /* too short: ignored */
    char *s = rt_redact("Bearer supersecret-1 and abc");
    CHECK_STR(s, "Bearer [redacted] and abc");
    free(s);
    json_t *v = json_pack("{s:[s], s:i}", "h", "x supersecret-1", "n", 1);
    json_t *r = rt_redact_json(v);
    CHECK_STR(json_string_value(json_array_get(json_object_get(r, "h"), 0)), "x [redacted]");
    json_decref(r);
    json_decref(v);

    /* a secret percent-encoding changes: its encodings, as query strings,
    ** form bodies and url_encode() send them, are redacted with it */
    rt_redact_add("pW/4+kL= m9");
    s = rt_redact("raw pW/4+kL= m9; query ?k=pW%2F4%2BkL%3D%20m9&x=1; plus t=pW%2F4%2BkL%3D+m9.");
    CHECK_STR(s, "raw [redacted]; query ?k=[redacted]&x=1; plus t=[redacted].");
    free(s);
    json_t *q = json_pack("{s:s}", "k", "pW/4+kL= m9");
    char *url = rt_url_add_query("http://h/p", q);
    char *form = rt_url_form_encode(q);
    char *ru = rt_redact(url), *rf = rt_redact(form);
    CHECK_STR(ru, "http://h/p?k=[redacted]");
    CHECK_STR(rf, "k=[redacted]");
    free(ru);
    free(rf);
    free(url);
    free(form);
    json_decref(q);
    /* registered again (the fast path): the encodings are still there */
    rt_redact_add("pW/4+kL= m9");
    s = rt_redact("pW%2F4%2BkL%3D%20m9");
    CHECK_STR(s, "[redacted]");
    free(s);
}

/* Every form a secret can be written in, each in a text: what redaction
** leaves of it. One case a line: secret, text, the text redacted. */
static const struct {
    const char *secret, *text, *want;
} redact_cases[] = {
    /* JSON-escaped once (an API quoting the value) and twice (an API
    ** echoing the request body inside a JSON string) */
    { "pa\"ss\\wd/1", "{\"k\":\"pa\\\"ss\\\\wd/1\"}", "{\"k\":\"[redacted]\"}" },
    { "pa\"ss\\wd/1", "\"{\\\"k\\\":\\\"pa\\\\\\\"ss\\\\\\\\wd/1\\\"}\"", "\"{\\\"k\\\":\\\"[redacted]\\\"}\"" },
    { "pa\"ss\\wd/1", "php: pa\\\"ss\\\\wd\\/1.", "php: [redacted]." },
    /* percent-encoded, both hex cases, '+' for a space */
    { "pa\"ss\\wd/1", "q=pa%22ss%5Cwd%2F1&x", "q=[redacted]&x" },
    { "pa\"ss\\wd/1", "q=pa%22ss%5cwd%2f1&x", "q=[redacted]&x" },
    { "t0k en+/=", "f=t0k+en%2B%2F%3D", "f=[redacted]" },
    { "t0k en+/=", "f=t0k%20en%2b%2f%3d", "f=[redacted]" },
    /* the JSON escape of an object rendered into a query */
    { "pa\"ss\\wd/1", "filter=%7B%22k%22%3A%22pa%5C%22ss%5C%5Cwd%2F1%22%7D", "filter=%7B%22k%22%3A%22[redacted]%22%7D" },
    /* UTF-8 written \uXXXX (upper and lower case, a surrogate pair) */
    { "cl\xc3\xa9-secr\xc3\xa8te \xf0\x9f\x98\x80", "[cl\\u00e9-secr\\u00e8te \\ud83d\\ude00]", "[[redacted]]" },
    { "cl\xc3\xa9-secr\xc3\xa8te \xf0\x9f\x98\x80", "[cl\\u00E9-secr\\u00E8te \\uD83D\\uDE00]", "[[redacted]]" },
    { "cl\xc3\xa9-secr\xc3\xa8te \xf0\x9f\x98\x80", "cl%C3%A9-secr%C3%A8te+%F0%9F%98%80", "[redacted]" },
    /* base64 and base64url, padded or not; HTTP Basic; inside a longer
    ** base64 text (at offset 1 here: only the characters the secret alone
    ** decides go) */
    { "pa\"ss\\wd/1", "b64 cGEic3Ncd2QvMQ==", "b64 [redacted]" },
    { "pa\"ss\\wd/1", "url cGEic3Ncd2QvMQ.", "url [redacted]." },
    { "pa\"ss\\wd/1", "Basic YWRtaW46cGEic3Ncd2QvMQ==", "Basic YWRtaW46[redacted]" },
    { "pa\"ss\\wd/1", "eHBhInNzXHdkLzF5eg==", "eH[redacted]F5eg==" },
    /* two secrets that overlap are covered whole, not one and the rest of
    ** the other */
    { "abcd1234", "<abcd1234zzzz>", "<[redacted]zzzz>" },
    { "1234zzzz", "<abcd1234zzzz>", "<[redacted]>" },
    /* not UTF-8: repaired, so the text can always be stored */
    { "abcd1234", "bad \xff\xc3 end", "bad \xef\xbf\xbd\xef\xbf\xbd end" },
};

static void test_redaction_forms(void)
{
    for (size_t i = 0; i < sizeof redact_cases / sizeof redact_cases[0]; i++) {
        rt_redact_add(redact_cases[i].secret);
        char *got = rt_redact(redact_cases[i].text);
        CHECK(strcmp(got, redact_cases[i].want) == 0, "case %zu: got \"%s\", want \"%s\"", i, got,
              redact_cases[i].want);
        free(got);
    }
    /* many values (a fanout registering a derived value per item): each
    ** is found, whatever was registered after it */
    char item[64], text[128];
    for (int i = 0; i < 300; i++) {
        snprintf(item, sizeof item, "item-%d-tok/%x", i, i * 7919);
        rt_redact_add(item);
        rt_redact_add(item);   /* again: the fast path */
    }
    for (int i = 0; i < 300; i += 37) {
        snprintf(item, sizeof item, "item-%d-tok/%x", i, i * 7919);
        snprintf(text, sizeof text, "<%s> <%s>", item, "item-%d");
        char *got = rt_redact(text);
        CHECK(strcmp(got, "<[redacted]> <item-%d>") == 0, "value %d: got \"%s\"", i, got);
        free(got);
    }
    /* a value with nothing to redact is handed back as it is */
    json_t *v = json_pack("{s:[s, i], s:s}", "a", "plain", 1, "b", "text");
    json_t *r = rt_redact_json(v);
    CHECK(r == v, "an unchanged value was copied");
    json_decref(r);
    json_decref(v);
    /* keys are redacted too */
    v = json_pack("{s:s}", "abcd1234", "x");
    r = rt_redact_json(v);
    CHECK(json_object_get(r, "[redacted]") && !json_object_get(r, "abcd1234"), "a key holding a secret");
    json_decref(r);
    json_decref(v);
}

/* Shortening redacts first, never ends in part of a secret or of a
** marker, and never splits a character. */
static void test_redaction_shorten(void)
{
    const char *secret = "Zq7-SECRET-0123456789-abcdefghij";
    rt_redact_add(secret);
    for (size_t pre = 270; pre <= 300; pre++) {
        rt_buf b = { 0 };
        for (size_t i = 0; i < pre; i++) rt_buf_putc(&b, 'x');
        rt_buf_puts(&b, secret);
        rt_buf_puts(&b, " and more text after it");
        char *s = rt_redact_shorten(b.data, 300);
        CHECK(strlen(s) <= 303 && !strstr(s, "Zq7-"), "cut at %zu: \"%s\"", pre, s);
        size_t n = strlen(s);
        CHECK(n >= 3 && strcmp(s + n - 3, "...") == 0, "cut at %zu: no ellipsis", pre);
        const char *m = strstr(s, "[");
        CHECK(!m || strncmp(m, "[redacted]", 10) == 0, "a marker cut at %zu: \"%s\"", pre, s);
        free(s);
        rt_buf_free(&b);
    }
    /* a multi-byte character is never split, at any cut */
    rt_buf b = { 0 };
    rt_buf_putc(&b, 'a');
    for (int i = 0; i < 200; i++) rt_buf_puts(&b, "\xc3\xa9");
    for (size_t max = 290; max <= 300; max++) {
        char *s = rt_redact_shorten(b.data, max);
        CHECK(rt_utf8_valid(s, strlen(s)) && strlen(s) <= max + 3, "max %zu: not UTF-8 or too long", max);
        free(s);
    }
    char small[8];
    rt_redact_copy(small, sizeof small, b.data);
    CHECK(rt_utf8_valid(small, strlen(small)) && strcmp(small, "a\xc3\xa9...") == 0, "copy: \"%s\"", small);
    rt_buf_free(&b);
    char *s = rt_redact_shorten("short", 300);
    CHECK_STR(s, "short");
    free(s);
}

static void test_time(void)
{
    int64_t ms;
    CHECK(rt_parse_time("2024-05-01T12:00:00Z", &ms) && ms == 1714564800000LL, "Z time");
    CHECK(rt_parse_time("2024-05-01T14:00:00.250+02:00", &ms) && ms == 1714564800250LL, "offset time");
    CHECK(rt_parse_time("2024-05-01", &ms) && ms == 1714521600000LL, "date");
    CHECK(!rt_parse_time("tomorrow", &ms), "junk accepted");
    char buf[40];
    rt_format_time(1714564800250LL, buf, sizeof buf);
    CHECK_STR(buf, "2024-05-01T12:00:00.250Z");
    rt_format_time(946684799007LL, buf, sizeof buf);
    CHECK_STR(buf, "1999-12-31T23:59:59.007Z");
    rt_format_time(0, buf, sizeof buf);
    CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
}

/* rt_json_encode writes what jansson writes (reals aside), and what it
** writes reads back as the same value. */
/* rt_float_text by its definition alone: the least %g precision that
** reads back, the exponent written as JSON does (the reference the fast
** path must agree with). */
static void float_text_reference(double d, char *out, size_t n)
{
    char tmp[40], best[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, d);
        if (strtod(tmp, NULL) == d) break;
    }
    snprintf(best, sizeof best, "%.*g", p, d);
    char *e = strchr(best, 'e');
    if (e) {
        char *q = e + 1, *w = e + 1;
        if (*q == '+') q++;
        else if (*q == '-') *w++ = *q++;
        while (*q == '0' && q[1]) q++;
        memmove(w, q, strlen(q) + 1);
    }
    snprintf(out, n, "%s%s", best, strpbrk(best, ".eE") ? "" : ".0");
}

static void test_float_text(void)
{
    static const double fixed[] = { 0.0, -0.0, 1.0, 20.0, 100.0, 1e6, 1200000.0, 25.0, 120.5, 100.5, 0.1, 0.2,
                                    0.1 + 0.2, 9.99, 15.0, 1.2 * 12.5, 0.0001, 0.00012, 0.00001, 123456789012345.0,
                                    1234567890123456.0, 1e15, 1e16, 1e21, 1e-7, 5e-324, 1.7976931348623157e308,
                                    2.5e-5, 99.995, 0.30000000000000004, 1.0 / 3, 2.0 / 3, 1e14 + 0.5, 4.35, 0.07 };
    char ours[64], ref[64];     /* 17 digits, a sign, a point and an exponent fit */
    unsigned seed = 12345;
    int bad = 0;
    for (int i = 0; i < 200000 && bad < 5; i++) {
        double d;
        if (i < (int)(sizeof fixed / sizeof fixed[0])) {
            d = fixed[i];
        } else if (i % 4 == 0) {                /* any bit pattern */
            uint64_t b = ((uint64_t)rand_r(&seed) << 42) ^ ((uint64_t)rand_r(&seed) << 21) ^ (uint64_t)rand_r(&seed);
            memcpy(&d, &b, sizeof d);
            if (isnan(d) || isinf(d)) continue;
        } else if (i % 4 == 1) {                /* prices: cents, times a tax rate */
            d = rand_r(&seed) % 1000000 / 100.0 * (i % 8 == 1 ? 1.2 : 1);
        } else if (i % 4 == 2) {                /* integers in floats, some with zeros */
            d = (double)(rand_r(&seed) % 100000) * (double)(1 + i % 1000);
        } else {                                /* small and large magnitudes */
            d = (rand_r(&seed) % 100000 + 1) * pow(10, (int)(rand_r(&seed) % 40) - 20);
        }
        if (i % 3 == 0) d = -d;
        rt_float_text(d, ours, sizeof ours);
        float_text_reference(d, ref, sizeof ref);
        if (strcmp(ours, ref) != 0) {
            bad++;
            CHECK(0, "rt_float_text(%.17g) = %s, the least precision that reads back gives %s", d, ours, ref);
        }
    }
    CHECK(bad == 0, "rt_float_text agrees with its definition on 200,000 doubles");
}

static void test_json_encode(void)
{
    const char *texts[] = {
        "null", "true", "false", "0", "-1", "9223372036854775807", "-9223372036854775808", "\"\"",
        "\"plain\"", "\"quote \\\" backslash \\\\ slash /\"", "\"\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\"",
        "\"caf\u00e9 \u20ac \U0001F600\"", "[]", "{}", "[1,[2,[3,{}]],\"x\"]",
        "{\"b\":1,\"a\":{\"k\\\"ey\":[true,false,null]},\"\":\"empty key\"}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *v = json_loads(texts[i], JSON_DECODE_ANY, NULL);
        CHECK(v, "fixture %zu does not parse", i);
        if (!v) continue;
        char *ours = rt_json_text(v), *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        CHECK_STR(ours, theirs);
        json_t *back = json_loads(ours, JSON_DECODE_ANY, NULL);
        CHECK(back && json_equal(back, v), "%s does not read back", ours);
        json_decref(back);
        free(ours);
        free(theirs);
        json_decref(v);
    }
    /* reals: the shortest form that reads back as the same double */
    const double reals[] = { 0.5, -2.0, 0.1, 1e300, 123456789.125, 5e-324 };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        json_t *v = json_real(reals[i]);
        char *t = rt_json_text(v);
        json_t *back = json_loads(t, JSON_DECODE_ANY, NULL);
        CHECK(json_is_real(back) && json_real_value(back) == reals[i], "%s does not read back as %.17g", t, reals[i]);
        json_decref(back);
        free(t);
        json_decref(v);
    }
    char *t = rt_json_text(json_real(0.1));
    CHECK_STR(t, "0.1");
    free(t);
    /* a string that is not UTF-8 (what a raw header can hold): U+FFFD per
    ** bad byte, where json_dumps refuses; overlong and surrogate forms too */
    json_t *bad = json_pack("[o,o,o]", json_stringn_nocheck("a\xff\xfe" "b", 4), json_stringn_nocheck("\xc0\xaf", 2),
                            json_stringn_nocheck("\xed\xa0\x80", 3));
    t = rt_json_text(bad);
    CHECK_STR(t, "[\"a\xef\xbf\xbd\xef\xbf\xbd" "b\",\"\xef\xbf\xbd\xef\xbf\xbd\",\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"]");
    json_t *back = json_loads(t, 0, NULL);
    CHECK(json_is_array(back), "the replaced text does not parse: %s", t);
    json_decref(back);
    free(t);
    json_decref(bad);
    /* an embedded NUL is escaped, a NULL value is null */
    json_t *nul = json_stringn("a\0b", 3);
    t = rt_json_text(nul);
    CHECK_STR(t, "\"a\\u0000b\"");
    free(t);
    json_decref(nul);
    t = rt_json_text(NULL);
    CHECK_STR(t, "null");
    free(t);
}

/* Encoded with redaction on the way: what redacting a copy and encoding it
** writes, without the copy. */
static void test_json_encode_redacted(void)
{
    rt_redact_add("tok-REDACT-4242");
    json_t *v = json_pack("{s:s, s:i, s:[s, s], s:s}", "k", "a tok-REDACT-4242 b", "tok-REDACT-4242", 1, "list",
                          "x", "tok-REDACT-4242", "plain", "nothing to hide");
    json_object_set_new(v, "bad", json_stringn_nocheck("a\xff" "b", 3));
    rt_buf ours = { 0 }, theirs = { 0 };
    rt_json_encode_redacted(&ours, v);
    json_t *red = rt_redact_json(v);
    rt_json_encode(&theirs, red);
    CHECK_STR(ours.data, theirs.data);
    CHECK(!strstr(ours.data, "REDACT-4242") && strstr(ours.data, "nothing to hide"), "redacted encoding: %s", ours.data);
    rt_buf_free(&ours);
    rt_buf_free(&theirs);
    json_decref(red);
    json_decref(v);
}

/* A step's record as text: the members in their order, the input and
** output redacted, attempts kept across a resume. */
static void test_step_records(void)
{
    rt_step_record r;
    rt_step_record_init(&r, "request", 1000, json_pack("{s:s}", "url", "http://h.test/x?k=rec-SECRET-777"));
    rt_redact_add("rec-SECRET-777");
    rt_step_record_attempt(&r, 1, 1000, 1005, NULL, 200);
    r.status = RT_ST_SUCCEEDED;
    r.ended = 1006;
    rt_step_record_set_output(&r, json_pack("{s:i, s:{s:s}}", "status", 200, "body", "echo", "rec-SECRET-777"));
    rt_buf b = { 0 };
    rt_step_record_write(&r, &b);
    CHECK_STR(b.data, "{\"kind\":\"request\",\"status\":\"succeeded\",\"started\":1000,\"attempts\":[{\"n\":1,"
                      "\"started\":1000,\"ended\":1005,\"http_status\":200}],\"input\":{\"url\":"
                      "\"http://h.test/x?k=[redacted]\"},\"ended\":1006,\"output\":{\"status\":200,\"body\":"
                      "{\"echo\":\"[redacted]\"}}}");
    rt_buf_free(&b);
    rt_step_record_free(&r);

    /* a failed attempt, a retry, then resumed from what was stored */
    rt_step_record_init(&r, "function", 2000, json_pack("{s:i}", "x", 1));
    rt_step_record_attempt(&r, 1, 2000, 2001, "boom: rec-SECRET-777", 0);
    r.status = RT_ST_RETRYING;
    r.next_at = 3000;
    rt_step_record_write(&r, &b);
    json_t *stored = json_loads(b.data, 0, NULL);
    CHECK(stored && !strstr(b.data, "SECRET"), "a retrying record: %s", b.data);
    rt_buf_free(&b);
    rt_step_record_free(&r);
    rt_step_record_resume(&r, stored);
    CHECK(r.nattempts == 1 && r.next_at == 3000 && r.status == RT_ST_RETRYING, "resumed: %d attempts",
          r.nattempts);
    rt_step_record_attempt(&r, r.nattempts + 1, 3000, 3002, "again", 0);
    r.next_at = 0;
    r.status = RT_ST_FAILED;
    r.ended = 3003;
    rt_step_record_set_error(&r, "again");
    r.continued = true;
    rt_step_record_write(&r, &b);
    CHECK_STR(b.data, "{\"kind\":\"function\",\"status\":\"failed\",\"started\":2000,\"attempts\":[{\"n\":1,"
                      "\"started\":2000,\"ended\":2001,\"error\":\"boom: [redacted]\"},{\"n\":2,\"started\":3000,"
                      "\"ended\":3002,\"error\":\"again\"}],\"input\":{\"x\":1},\"ended\":3003,\"error\":\"again\","
                      "\"continued\":true}");
    rt_buf_free(&b);
    rt_step_record_free(&r);
    json_decref(stored);
}

/* A response's headers as text: the object made from them, and the text a
** record writes of them, are what the header lines say (repeats joined). */
static void test_response_head(void)
{
    static const char lines[] = "content-type\0application/json\0set-cookie\0a=1\0x-bad\0v\xff\0set-cookie\0b=2\0";
    rt_http_response rs = { 0 };
    rt_buf_append(&rs.head, lines, sizeof lines - 1);
    json_t *h = rt_http_response_headers(&rs);
    CHECK(json_object_size(h) == 3 && strcmp(json_string_value(json_object_get(h, "set-cookie")), "a=1, b=2") == 0,
          "repeated lines joined");
    rt_buf ours = { 0 }, theirs = { 0 };
    rt_http_head_encode(&ours, &rs.head);
    rt_json_encode_redacted(&theirs, h);
    CHECK_STR(ours.data, theirs.data);
    CHECK_STR(ours.data, "{\"content-type\":\"application/json\",\"set-cookie\":\"a=1, b=2\",\"x-bad\":\"v\xef\xbf\xbd\"}");
    rt_buf_free(&ours);
    rt_buf_free(&theirs);
    rt_http_response_free(&rs);
}

/* Literals are made once and shared; the teardown empties their slots. */
static void test_literals(void)
{
    static json_t *k1, *k2;
    json_t *a = rt_strk(&k1, "/item/"), *b = rt_strk(&k1, "/item/"), *n = rt_intk(&k2, 42);
    CHECK(a == b && a == k1 && json_is_string(a) && strcmp(json_string_value(a), "/item/") == 0, "one string");
    CHECK(json_integer_value(n) == 42 && rt_intk(&k2, 42) == n, "one int");
    rt_value_teardown();
    CHECK(!k1 && !k2, "teardown empties the slots");
}

/* ---- store -------------------------------------------------------------- */

static void test_store_indexes(void)
{
    char err[256];
    char *dir = scratch("store1");
    rt_store *st = rt_store_open(dir, false, err, sizeof err);
    CHECK(st, "open: %s", err);
    if (!st) {
        free(dir);
        return;
    }
    char a[RT_RUN_ID_LEN + 1], b[RT_RUN_ID_LEN + 1];
    rt_store_new_run_id(a);
    usleep(2000);
    rt_store_new_run_id(b);
    CHECK(strlen(a) == RT_RUN_ID_LEN && strcmp(a, b) < 0, "ids not time-ordered: %s %s", a, b);

    json_t *ra = json_pack("{s:s, s:s, s:s}", "id", a, "user", "u1", "status", "running");
    json_t *rb = json_pack("{s:s, s:s, s:s}", "id", b, "user", "u2", "status", "failed");
    json_t *step = json_pack("{s:s, s:i}", "status", "succeeded", "output", 7);
    json_t *logs = json_pack("[{s:s, s:s}]", "path", "log@3", "msg", "hello");
    rt_store_write w1 = { .run_id = a, .run = ra, .step_path = "s1", .step = step, .logs = logs };
    rt_store_write w2 = { .run_id = b, .run = rb };
    rt_store_write w3 = { .run_id = a, .step_path = "fan[2].x", .step = step };
    CHECK(rt_store_commit(st, &w1, err, sizeof err) && rt_store_commit(st, &w2, err, sizeof err) &&
              rt_store_commit(st, &w3, err, sizeof err),
          "commit: %s", err);
    json_t *steps = rt_store_get_steps(st, a);
    CHECK(json_object_size(steps) == 2 && json_integer_value(json_object_get(json_object_get(steps, "fan[2].x"), "output")) == 7,
          "steps of a run");
    json_decref(steps);
    steps = rt_store_get_steps(st, b);
    CHECK(json_object_size(steps) == 0, "another run's steps leak in");
    json_decref(steps);
    json_t *l = rt_store_get_logs(st, a);
    CHECK_STR(json_string_value(json_object_get(json_object_get(l, "log@3"), "msg")), "hello");
    json_decref(l);

    json_t *all = rt_store_list_runs(st, NULL, NULL, 0);
    CHECK(json_array_size(all) == 2 && strcmp(json_string_value(json_object_get(json_array_get(all, 0), "id")), b) == 0,
          "newest first");
    json_decref(all);
    json_t *running = rt_store_list_runs(st, "running", NULL, 0);
    CHECK(json_array_size(running) == 1, "by status");
    json_decref(running);

    json_object_set_new(ra, "status", json_string("succeeded"));
    rt_store_write w4 = { .run_id = a, .run = ra, .old_status = "running" };
    CHECK(rt_store_commit(st, &w4, err, sizeof err), "status update: %s", err);
    running = rt_store_list_runs(st, "running", NULL, 0);
    json_t *done = rt_store_list_runs(st, "succeeded", NULL, 0);
    json_t *u2 = rt_store_list_runs(st, NULL, "u2", 0);
    json_t *u1f = rt_store_list_runs(st, "failed", "u1", 0);
    CHECK(json_array_size(running) == 0 && json_array_size(done) == 1 && json_array_size(u2) == 1 &&
              json_array_size(u1f) == 0,
          "indexes after a status change: running=%zu succeeded=%zu u2=%zu", json_array_size(running),
          json_array_size(done), json_array_size(u2));
    json_decref(running);
    json_decref(done);
    json_decref(u2);
    json_decref(u1f);
    json_t *rec = rt_store_get_run(st, a);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "succeeded");
    json_decref(rec);
    CHECK(rt_store_get_run(st, "nope") == NULL, "missing run found");
    json_decref(ra);
    json_decref(rb);
    json_decref(step);
    json_decref(logs);
    rt_store_close(st);
    free(dir);
}

static void test_store_map_growth(void)
{
    char err[256];
    char *dir = scratch("store2");
    setenv("FLOW_MAP_SIZE", "65536", 1);
    rt_store *st = rt_store_open(dir, true, err, sizeof err);
    unsetenv("FLOW_MAP_SIZE");
    CHECK(st, "open: %s", err);
    if (!st) {
        free(dir);
        return;
    }
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json_t *step = json_pack("{s:s}", "output", big);
    bool ok = true;
    for (int i = 0; i < 600 && ok; i++) {
        char path[32];
        snprintf(path, sizeof path, "s%d", i);
        rt_store_write w = { .run_id = "run", .step_path = path, .step = step };
        ok = rt_store_commit(st, &w, err, sizeof err);
    }
    CHECK(ok, "commit with a growing map: %s", err);
    json_t *steps = rt_store_get_steps(st, "run");
    CHECK(json_object_size(steps) == 600, "got %zu steps back", json_object_size(steps));
    json_decref(steps);
    json_decref(step);
    rt_store_close(st);
    free(dir);
}

/* ---- the engine ---------------------------------------------------------- */

static int calls_a, calls_retry;

static json_t *fn_a(const json_t *params)
{
    calls_a++;
    return json_pack("{s:I}", "y", (json_int_t)rt_param_int(params, "x") * 2);
}

static json_t *fn_retry(const json_t *params)
{
    (void)params;
    if (++calls_retry < 3) return flow_retry("not yet (%d)", calls_retry);
    return json_pack("{s:s}", "s", "done");
}

static json_t *fn_badtype(const json_t *params)
{
    (void)params;
    return json_pack("{s:s}", "y", "not an int");
}

static json_t *fn_item(const json_t *params)
{
    return json_pack("{s:I}", "v", (json_int_t)rt_param_int(params, "n") * 10);
}

__attribute__((no_sanitize("address", "undefined"))) static json_t *fn_segv(const json_t *params)
{
    (void)params;
    volatile int *p = NULL;
    *p = 1;
    return json_object();
}

__attribute__((no_sanitize("undefined"))) static json_t *fn_fpe(const json_t *params)
{
    volatile int zero = (int)rt_param_int(params, "zero");
    return json_pack("{s:i}", "y", 10 / zero);
}

static json_t *fn_fail(const json_t *params)
{
    (void)params;
    return flow_fail("the answer is %d", 42);
}

static const rt_step_desc D_a = { .name = "a", .kind = RT_STEP_FUNCTION, .slot = 0, .out_type = &T_y, .retries = -1 };
static const rt_step_desc D_retry = { .name = "r", .kind = RT_STEP_FUNCTION, .slot = 1, .out_type = &T_s,
                                      .retries = 3, .backoff_ms = 1, .max_backoff_ms = 5 };
static const rt_step_desc D_bad = { .name = "bad", .kind = RT_STEP_FUNCTION, .slot = 2, .out_type = &T_y,
                                    .retries = -1, .continue_on_failure = true };
static const rt_step_desc D_segv = { .name = "segv", .kind = RT_STEP_FUNCTION, .slot = 3, .out_type = &T_json,
                                     .retries = -1, .continue_on_failure = true, .line = 31 };
static const rt_step_desc D_fpe = { .name = "fpe", .kind = RT_STEP_FUNCTION, .slot = 4, .out_type = &T_json,
                                    .retries = -1, .continue_on_failure = true };
static const rt_step_desc D_fan = { .name = "fan", .kind = RT_STEP_FANOUT, .slot = 5, .retries = -1, .concurrency = 3,
                                    .var = "n", .slots = 1 };
static const rt_step_desc D_item = { .name = "item", .kind = RT_STEP_FUNCTION, .depth = 1, .out_type = &T_v,
                                     .retries = -1 };
static const rt_step_desc D_fail = { .name = "f", .kind = RT_STEP_FUNCTION, .out_type = &T_json, .retries = -1 };

static int item_body(rt_ctx *c, json_t *value)
{
    (void)value;
    if (!rt_function(c, &D_item, rt_object(c, 1, "n", rt_var(c, &D_fan)), fn_item)) return RT_STOP;
    if (json_integer_value(rt_var(c, &D_fan)) == 3) return rt_return(c, rt_null());      /* an item without a value */
    return rt_return(c, rt_field(c, rt_result_out(rt_step_result(c, &D_item)), "v"));
}

static int body_main(rt_ctx *c)
{
    if (!rt_function(c, &D_a, rt_object(c, 1, "x", rt_field(c, rt_trigger(c), "x")), fn_a)) return RT_STOP;
    if (!rt_function(c, &D_retry, rt_object(c, 0), fn_retry)) return RT_STOP;
    if (!rt_function(c, &D_bad, rt_object(c, 0), fn_badtype)) return RT_STOP;
    if (!rt_function(c, &D_segv, rt_object(c, 0), fn_segv)) return RT_STOP;
    if (!rt_function(c, &D_fpe, rt_object(c, 1, "zero", rt_int(c, 0)), fn_fpe)) return RT_STOP;
    if (!rt_fanout(c, &D_fan, rt_list(c, 5, rt_int(c, 1), rt_int(c, 2), rt_int(c, 3), rt_int(c, 4), rt_int(c, 5)),
                   item_body))
        return RT_STOP;
    if (rt_wait(c, "wait@20", 30) != RT_OK) return RT_STOP;
    rt_log(c, rt_str(c, "hello log"), 21);
    return rt_return(c, rt_object(c, 6, "y", rt_field(c, rt_result_out(rt_step_result(c, &D_a)), "y"),
                                  "bad_ok", rt_bool(rt_result_ok(rt_step_result(c, &D_bad))),
                                  "bad_error", rt_result_error(rt_step_result(c, &D_bad)),
                                  "segv_error", rt_result_error(rt_step_result(c, &D_segv)),
                                  "fpe_error", rt_result_error(rt_step_result(c, &D_fpe)),
                                  "fan", rt_result_out(rt_step_result(c, &D_fan))));
}

static int body_fail(rt_ctx *c)
{
    if (!rt_function(c, &D_fail, rt_object(c, 0), fn_fail)) return RT_STOP;
    return rt_return(c, rt_null());
}

static int body_expr_error(rt_ctx *c)
{
    json_t *v = rt_binary(c, RT_OP_MUL, rt_int(c, INT64_MAX), rt_int(c, 2), 7);
    if (!rt_function(c, &D_a, rt_object(c, 1, "x", v), fn_a)) return RT_STOP;
    return rt_return(c, rt_null());
}

static const rt_workflow wf_main = { .name = "unit", .version = "v1", .trigger_schema = &T_x, .body = body_main,
                                     .slots = 6 };
static const rt_workflow wf_fail = { .name = "unit", .version = "v1", .body = body_fail, .slots = 1 };
static const rt_workflow wf_expr = { .name = "unit", .version = "v1", .body = body_expr_error, .slots = 1 };

static json_t *new_record(const char *id)
{
    return json_pack("{s:s, s:s, s:s, s:{s:i}, s:{}, s:s, s:i}", "id", id, "workflow", "unit", "version", "v1",
                     "trigger", "x", 21, "settings", "status", "queued", "attempt", 1);
}

static void test_exec_run_and_replay(void)
{
    char err[256];
    char *dir = scratch("exec1");
    rt_store *st = rt_store_open(dir, false, err, sizeof err);
    CHECK(st, "open: %s", err);
    if (!st) {
        free(dir);
        return;
    }
    char id[RT_RUN_ID_LEN + 1];
    rt_store_new_run_id(id);
    rt_run_state run;
    rt_run_init(&run, &wf_main, st, new_record(id));
    rt_outcome o = rt_exec_run(&run);
    CHECK(o == RT_RUN_SUCCEEDED, "outcome %d: %s", o, run.error ? run.error : "");
    json_t *out = run.output;
    CHECK(json_integer_value(json_object_get(out, "y")) == 42, "y");
    CHECK(json_is_false(json_object_get(out, "bad_ok")), "bad step ok");
    CHECK(strstr(json_string_value(json_object_get(out, "bad_error")) ?: "", "output: field 'y' expected int"),
          "bad error: %s", json_string_value(json_object_get(out, "bad_error")));
    CHECK(strstr(json_string_value(json_object_get(out, "segv_error")) ?: "", "SIGSEGV"), "segv error: %s",
          json_string_value(json_object_get(out, "segv_error")));
    CHECK(strstr(json_string_value(json_object_get(out, "fpe_error")) ?: "", "SIGFPE"), "fpe error: %s",
          json_string_value(json_object_get(out, "fpe_error")));
    json_t *fan = json_object_get(out, "fan");
    CHECK(json_array_size(fan) == 5 && json_integer_value(json_array_get(fan, 0)) == 10 &&
              json_is_null(json_array_get(fan, 2)) && json_integer_value(json_array_get(fan, 4)) == 50,
          "fanout output in input order with null where none");
    CHECK(calls_a == 1 && calls_retry == 3, "calls a=%d retry=%d", calls_a, calls_retry);
    rt_run_free(&run);

    json_t *steps = rt_store_get_steps(st, id);
    json_t *r = json_object_get(steps, "r");
    CHECK(json_array_size(json_object_get(r, "attempts")) == 3, "retry attempts recorded");
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "attempts"), 0), "error")),
              "not yet (1)");
    CHECK(json_object_get(steps, "fan[4].item"), "fanout item step checkpointed");
    json_t *w = json_object_get(steps, "wait@20");
    CHECK(json_integer_value(json_object_get(w, "wake_at")) > 0, "wait records its wake-up time");
    json_decref(steps);
    json_t *logs = rt_store_get_logs(st, id);
    CHECK(json_object_get(logs, "log@21"), "log line stored");
    json_decref(logs);

    /* replay: the committed steps are not executed again (the run as a
    ** process killed before its final record left it: running, its owner
    ** gone) */
    json_t *rec = rt_store_get_run(st, id);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "succeeded");
    json_object_set_new(rec, "status", json_string("running"));
    json_object_set_new(rec, "pid", json_integer(0x7ffffffe));     /* no such process */
    rt_store_write rw = { .run_id = id, .run = rec };
    CHECK(rt_store_commit(st, &rw, err, sizeof err), "commit: %s", err);
    rt_run_init(&run, &wf_main, st, rec);
    o = rt_exec_run(&run);
    CHECK(o == RT_RUN_SUCCEEDED && calls_a == 1 && calls_retry == 3, "replay re-executed: a=%d retry=%d", calls_a,
          calls_retry);
    CHECK(json_integer_value(json_object_get(run.output, "y")) == 42, "replayed output");
    rt_run_free(&run);
    rt_store_close(st);
    free(dir);
}

/* The owner a record names: this process, a live one (init), a dead one. */
static void set_owner(json_t *rec, json_int_t pid, json_int_t start, const char *boot)
{
    json_object_set_new(rec, "pid", json_integer(pid));
    json_object_set_new(rec, "pid_start", json_integer(start));
    if (boot) json_object_set_new(rec, "pid_boot", json_string(boot));
    else json_object_del(rec, "pid_boot");
    json_object_set_new(rec, "pid_cmd", json_string("serve"));
}

static void store_run(rt_store *st, json_t *rec)
{
    char err[256];
    rt_store_write w = { .run_id = json_string_value(json_object_get(rec, "id")), .run = rec };
    CHECK(rt_store_commit(st, &w, err, sizeof err), "commit: %s", err);
}

static void test_owner_claims(void)
{
    char err[512], msg[512];
    char *dir = scratch("owner");
    rt_store *st = rt_store_open(dir, false, err, sizeof err);
    CHECK(st, "open: %s", err);
    if (!st) {
        free(dir);
        return;
    }
    /* a dead pid: a child that has exited and been reaped */
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    long long init_start = rt_process_start(1);

    char id[RT_RUN_ID_LEN + 1];
    rt_store_new_run_id(id);
    json_t *rec = new_record(id);
    CHECK(rt_owner_claim(st, rec, msg, sizeof msg) == RT_CLAIM_OK, "a new run: %s", msg);
    json_t *got = rt_store_get_run(st, id);
    CHECK_STR(json_string_value(json_object_get(got, "status")), "running");
    CHECK(json_integer_value(json_object_get(got, "pid")) == getpid() && rt_owner_of(got) == RT_OWNER_SELF,
          "a claimed run names this process");
    CHECK(json_integer_value(json_object_get(rec, "attempt")) == 1, "the caller's copy is the stored one");
    json_decref(got);
    CHECK(rt_owner_claim(st, rec, msg, sizeof msg) == RT_CLAIM_OK, "claimed again by its owner: %s", msg);
    CHECK(json_integer_value(json_object_get(rec, "attempt")) == 1, "its own claim again is the same attempt");

    /* another live process owns it: not claimed, nothing written */
    set_owner(rec, 1, init_start, NULL);
    store_run(st, rec);
    json_t *mine = json_deep_copy(rec);
    CHECK(init_start >= 0 && rt_owner_of(mine) == RT_OWNER_LIVE, "pid 1 lives");
    CHECK(rt_owner_claim(st, mine, msg, sizeof msg) == RT_CLAIM_OWNED && strstr(msg, "serve (pid 1)"),
          "a live owner keeps its run: %s", msg);
    CHECK(json_integer_value(json_object_get(mine, "pid")) == 1, "the caller's copy is left as it was");
    got = rt_store_get_run(st, id);
    CHECK(json_integer_value(json_object_get(got, "pid")) == 1, "the stored owner is left as it was");
    json_decref(got);

    /* the same pid with another start time is another process: its owner is gone */
    set_owner(mine, 1, init_start + 1, NULL);
    store_run(st, mine);
    CHECK(rt_owner_of(mine) == RT_OWNER_DEAD, "a reused pid is not the owner");
    CHECK(rt_owner_claim(st, mine, msg, sizeof msg) == RT_CLAIM_OK, "a reused pid's run is taken over: %s", msg);
    CHECK(json_integer_value(json_object_get(mine, "attempt")) == 2, "taken over from another process: attempt 2");
    /* a dead pid, and a live one of an earlier boot */
    set_owner(mine, child, 1, NULL);
    store_run(st, mine);
    CHECK(rt_owner_of(mine) == RT_OWNER_DEAD, "an exited process is not the owner");
    CHECK(rt_owner_claim(st, mine, msg, sizeof msg) == RT_CLAIM_OK, "a dead owner's run is taken over: %s", msg);
    set_owner(mine, 1, init_start, "00000000-0000-0000-0000-000000000000");
    CHECK(rt_owner_of(mine) == RT_OWNER_DEAD, "no owner outlives a reboot");

    /* an ended run is not claimed */
    json_object_set_new(mine, "status", json_string("succeeded"));
    store_run(st, mine);
    json_object_set_new(mine, "status", json_string("queued"));
    CHECK(rt_owner_claim(st, mine, msg, sizeof msg) == RT_CLAIM_ENDED && strstr(msg, "succeeded"), "ended: %s", msg);
    json_decref(mine);
    json_decref(rec);

    /* the engine: a run another live process owns is not executed */
    rt_store_new_run_id(id);
    rec = new_record(id);
    set_owner(rec, 1, init_start, NULL);
    store_run(st, rec);
    int before = calls_a;
    rt_run_state run;
    rt_run_init(&run, &wf_main, st, rec);
    rt_outcome o = rt_exec_run(&run);
    CHECK(o == RT_RUN_SKIPPED && calls_a == before && strstr(run.error ?: "", "serve (pid 1)"),
          "a run owned elsewhere is skipped: outcome %d, %s", o, run.error ?: "");
    rt_run_free(&run);

    CHECK(rt_store_unwritable(RT_STORE_UNWRITABLE " (commit: No space left on device)") &&
              !rt_store_unwritable("cannot commit: MDB_CORRUPTED"),
          "store messages say whether the failure may pass");
    rt_store_close(st);
    free(dir);
}

static void test_exec_failures(void)
{
    char err[256];
    char *dir = scratch("exec2");
    rt_store *st = rt_store_open(dir, true, err, sizeof err);
    CHECK(st, "open: %s", err);
    if (!st) {
        free(dir);
        return;
    }
    char id[RT_RUN_ID_LEN + 1];
    rt_store_new_run_id(id);
    rt_run_state run;
    rt_run_init(&run, &wf_fail, st, new_record(id));
    rt_outcome o = rt_exec_run(&run);
    CHECK(o == RT_RUN_FAILED, "flow_fail outcome %d", o);
    CHECK_STR(run.error, "step 'f': the answer is 42");
    CHECK_STR(run.failed_step, "f");
    rt_run_free(&run);
    json_t *rec = rt_store_get_run(st, id);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "failed");
    CHECK_STR(json_string_value(json_object_get(rec, "failed_step")), "f");
    json_decref(rec);

    rt_store_new_run_id(id);
    int before = calls_a;
    rt_run_init(&run, &wf_expr, st, new_record(id));
    o = rt_exec_run(&run);
    CHECK(o == RT_RUN_FAILED && calls_a == before, "expression error outcome %d", o);
    CHECK(run.error && strstr(run.error, "line 7: integer overflow"), "error: %s", run.error ? run.error : "");
    rt_run_free(&run);
    rt_store_close(st);
    free(dir);
}

int main(void)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/flowrt-unit.%d", (int)getpid());
    mkdir(scratch_dir, 0755);
    rt_log_setup(false, "unit");
    rt_signal_install();
    rt_http_global_init();
    freopen("/dev/null", "w", stderr);     /* run logs are not test output */

    run_test("type check messages name the field path", test_type_messages);
    run_test("operators, equality and raised errors", test_operators);
    run_test("interpolation and built-in functions", test_interp_and_builtins);
    run_test("URL joining, query and form encoding, Link, Retry-After", test_urls);
    run_test("origins and URL templates", test_origins_and_templates);
    run_test("durations and credential files: one parser, one reader", test_durations_and_credentials);
    run_test("secret redaction", test_redaction);
    run_test("redaction sets: each thread's own, or the process's", test_redaction_sets);
    run_test("secret redaction: every form a secret is written in", test_redaction_forms);
    run_test("shortening: redacted first, on a character boundary", test_redaction_shorten);
    run_test("RFC 3339 times", test_time);
    run_test("floats as text: the least precision that reads back (the short-decimal fast path agrees)", test_float_text);
    run_test("JSON encoding: as jansson writes it, reads back the same, never invalid", test_json_encode);
    run_test("JSON encoding with redaction: as redacting a copy then encoding it", test_json_encode_redacted);
    run_test("step records: members in order, redacted, attempts kept across a resume", test_step_records);
    run_test("literals: made once, shared, released", test_literals);
    run_test("response headers kept as text: the object and the record's text agree", test_response_head);
    run_test("store: runs, steps, logs and their indexes", test_store_indexes);
    run_test("store: a full map grows", test_store_map_growth);
    run_test("engine: function steps, retries, crashes, fanout, wait, replay", test_exec_run_and_replay);
    run_test("engine: flow_fail and expression errors fail the run", test_exec_failures);
    run_test("owners: a run is claimed by one live process; a dead or reused pid's run is taken over", test_owner_claims);

    char *cmd = rt_xprintf("rm -rf %s", scratch_dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", scratch_dir);
    free(cmd);
    return failures ? 1 : 0;
}
