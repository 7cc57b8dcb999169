/*
** test_runtime.c — unit tests of the runtime modules, built by run.sh with
** gcc and the address and undefined-behaviour sanitizers, linked with the
** runtime's sources. Each test prints "PASS: runtime: NAME" or
** "FAIL: runtime: NAME: why".
*/
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowrt.h"
#include "rt_exec.h"
#include "rt_http.h"
#include "rt_log.h"
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

static void test_type_messages(void)
{
    char err[512];
    json_t *v = json_pack("{s:s, s:s}", "title", "CTO", "employees", "many");
    CHECK(!rt_type_check("{\"title\":\"string\",\"employees\":\"int\"}", v, "response body", err, sizeof err),
          "mistyped field accepted");
    CHECK_STR(err, "response body: field 'employees' expected int, got string \"many\"");
    json_decref(v);

    v = json_pack("{s:s}", "name", "x");
    CHECK(!rt_type_check("{\"title\":\"string\"}", v, "response body", err, sizeof err), "missing field accepted");
    CHECK_STR(err, "response body: missing field 'title' (string)");
    json_decref(v);

    v = json_pack("{s:[{s:i},{s:s}]}", "items", "id", 1, "id", "x");
    CHECK(!rt_type_check("{\"items\":[\"list\",{\"id\":\"int\"}]}", v, NULL, err, sizeof err), "list element");
    CHECK_STR(err, "field 'items[1].id' expected int, got string \"x\"");
    json_decref(v);

    v = json_string("this is not json");
    CHECK(!rt_type_check("{\"id\":\"int\"}", v, "response body", err, sizeof err), "string as object");
    CHECK_STR(err, "response body: expected {id: int}, got string \"this is not json\"");
    json_decref(v);

    v = json_pack("{s:n, s:i, s:{}}", "a", "f", 3, "j");
    CHECK(rt_type_check("{\"a\":[\"opt\",\"string\"],\"b\":[\"opt\",\"int\"],\"f\":\"float\",\"j\":\"json\"}", v,
                        NULL, err, sizeof err),
          "optional/absent/float-from-int/json rejected: %s", err);
    json_decref(v);
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
    CHECK(json_integer_value(rt_call(c, "len", 1, args, 1)) == 5, "len counts code points");
    args[0] = rt_str(c, "  MiXed ");
    CHECK_STR(json_string_value(rt_call(c, "trim", 1, args, 1)), "MiXed");
    CHECK_STR(json_string_value(rt_call(c, "lower", 1, args, 1)), "  mixed ");
    CHECK_STR(json_string_value(rt_call(c, "upper", 1, args, 1)), "  MIXED ");
    args[0] = rt_str(c, " 42 ");
    CHECK(json_integer_value(rt_call(c, "int", 1, args, 1)) == 42, "int(\" 42 \")");
    args[0] = rt_float(c, 3.9);
    CHECK(json_integer_value(rt_call(c, "int", 1, args, 1)) == 3, "int(3.9)");
    args[0] = rt_str(c, "1.5");
    CHECK(json_real_value(rt_call(c, "float", 1, args, 1)) == 1.5, "float(\"1.5\")");
    args[0] = rt_list(c, 2, rt_int(c, 1), rt_str(c, "a"));
    args[1] = rt_str(c, "a");
    CHECK(json_is_true(rt_call(c, "contains", 2, args, 1)), "contains(list)");
    args[1] = rt_str(c, "-");
    CHECK_STR(json_string_value(rt_call(c, "join", 2, args, 1)), "1-a");
    args[0] = rt_str(c, "{\"a\": [1, 2]}");
    CHECK(json_array_size(rt_field(c, rt_call(c, "json", 1, args, 1), "a")) == 2, "json() parses");
    args[0] = rt_int(c, 7);
    CHECK_STR(json_string_value(rt_call(c, "string", 1, args, 1)), "7");
    CHECK(json_string_length(rt_call(c, "now", 0, NULL, 1)) == 24, "now() is RFC 3339 with ms");
    CHECK(json_is_null(rt_field(c, rt_null(), "x")), "field of null is null");
    CHECK(json_integer_value(rt_index(c, rt_list(c, 3, rt_int(c, 1), rt_int(c, 2), rt_int(c, 3)), rt_int(c, -1))) == 3,
          "index -1");
    CHECK(!rt_ctx_error(c), "unexpected error: %s", rt_ctx_error(c));
    args[0] = rt_str(c, "abc");
    rt_call(c, "int", 1, args, 9);
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
    json_t *t = json_pack("{s:s, s:o}", "modes", modes, "parts", parts);
    char err[600];
    char *u = rt_url_build(t, err, sizeof err);
    json_decref(t);
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
        char oa[RT_HTTP_ORIGIN_MAX], ob[RT_HTTP_ORIGIN_MAX];
        bool ok = rt_http_origin(origins[i].a, oa, sizeof oa) && rt_http_origin(origins[i].b, ob, sizeof ob);
        CHECK(ok && (strcmp(oa, ob) == 0) == origins[i].same, "origins of %s and %s", origins[i].a, origins[i].b);
    }
    char o[RT_HTTP_ORIGIN_MAX];
    CHECK(!rt_http_origin("ftp://h.test/x", o, sizeof o) && !rt_http_origin("/relative", o, sizeof o),
          "only http(s) URLs have an origin here");
    CHECK(rt_http_is_absolute("https://h/x") && !rt_http_is_absolute("/x?next=http://evil/") &&
          !rt_http_is_absolute("://x"), "absolute means a scheme first");
    char *s = rt_http_join_url("https://h.test/api", "/x?next=http://evil.test/");
    CHECK_STR(s, "https://h.test/api/x?next=http://evil.test/");
    free(s);
    s = rt_http_resolve_url("http://h.test/a/b/c", "../d");
    CHECK_STR(s, "http://h.test/a/d");
    free(s);
    s = rt_http_resolve_url("http://h.test/a/b", "/x y?q=%41");
    CHECK_STR(s, "http://h.test/x%20y?q=%41");
    free(s);
    s = rt_http_resolve_url("http://h.test/a/b", "/x?next=http://evil.test/");
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
    s = rt_http_join_url("https://x.test/api/", "/v1/a");
    CHECK_STR(s, "https://x.test/api/v1/a");
    free(s);
    s = rt_http_join_url("https://x.test/api", "http://other/z");
    CHECK_STR(s, "http://other/z");
    free(s);
    s = rt_http_join_url(NULL, "http://h/p");
    CHECK_STR(s, "http://h/p");
    free(s);
    s = rt_http_resolve_url("http://h.test/a/b?x=1", "/lk2?y=2");
    CHECK_STR(s, "http://h.test/lk2?y=2");
    free(s);
    s = rt_http_resolve_url("http://h.test/a/b?x=1", "c");
    CHECK_STR(s, "http://h.test/a/c");
    free(s);
    s = rt_http_resolve_url("http://h.test/a/b", "?page=2");
    CHECK_STR(s, "http://h.test/a/b?page=2");
    free(s);
    s = rt_http_resolve_url("https://h.test/a", "//cdn.test/z");
    CHECK_STR(s, "https://cdn.test/z");
    free(s);
    json_t *q = json_pack("{s:s, s:i, s:n, s:[s,s], s:b}", "q", "a b&c", "n", 5, "skip", "t", "x", "y", "full", 1);
    s = rt_http_add_query("http://h/p?a=1", q);
    CHECK_STR(s, "http://h/p?a=1&q=a%20b%26c&n=5&t=x&t=y&full=true");
    free(s);
    s = rt_http_add_query("http://h/p#frag", q);
    CHECK_STR(s, "http://h/p?q=a%20b%26c&n=5&t=x&t=y&full=true#frag");
    free(s);
    s = rt_http_form_encode(q);
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
    char *url = rt_http_add_query("http://h/p", q);
    char *form = rt_http_form_encode(q);
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

static const rt_step_desc D_a = { .name = "a", .kind = RT_STEP_FUNCTION, .out_type = "{\"y\":\"int\"}", .retries = -1 };
static const rt_step_desc D_retry = { .name = "r", .kind = RT_STEP_FUNCTION, .out_type = "{\"s\":\"string\"}",
                                      .retries = 3, .backoff_ms = 1, .max_backoff_ms = 5 };
static const rt_step_desc D_bad = { .name = "bad", .kind = RT_STEP_FUNCTION, .out_type = "{\"y\":\"int\"}",
                                    .retries = -1, .continue_on_failure = true };
static const rt_step_desc D_segv = { .name = "segv", .kind = RT_STEP_FUNCTION, .out_type = "\"json\"",
                                     .retries = -1, .continue_on_failure = true, .line = 31 };
static const rt_step_desc D_fpe = { .name = "fpe", .kind = RT_STEP_FUNCTION, .out_type = "\"json\"",
                                    .retries = -1, .continue_on_failure = true };
static const rt_step_desc D_fan = { .name = "fan", .kind = RT_STEP_FANOUT, .retries = -1, .concurrency = 3,
                                    .var = "n" };
static const rt_step_desc D_item = { .name = "item", .kind = RT_STEP_FUNCTION, .out_type = "{\"v\":\"int\"}",
                                     .retries = -1 };
static const rt_step_desc D_fail = { .name = "f", .kind = RT_STEP_FUNCTION, .out_type = "\"json\"", .retries = -1 };

static int item_body(rt_ctx *c, json_t *value)
{
    (void)value;
    if (!rt_function(c, &D_item, rt_object(c, 1, "n", rt_var(c, "n")), fn_item)) return RT_STOP;
    if (json_integer_value(rt_var(c, "n")) == 3) return rt_return(c, rt_null());      /* an item without a value */
    return rt_return(c, rt_field(c, rt_result_out(rt_step_result(c, "item")), "v"));
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
    return rt_return(c, rt_object(c, 6, "y", rt_field(c, rt_result_out(rt_step_result(c, "a")), "y"),
                                  "bad_ok", rt_bool(rt_result_ok(rt_step_result(c, "bad"))),
                                  "bad_error", rt_result_error(rt_step_result(c, "bad")),
                                  "segv_error", rt_result_error(rt_step_result(c, "segv")),
                                  "fpe_error", rt_result_error(rt_step_result(c, "fpe")),
                                  "fan", rt_result_out(rt_step_result(c, "fan"))));
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

static const rt_workflow wf_main = { .name = "unit", .version = "v1", .trigger_schema = "{\"x\":\"int\"}",
                                     .body = body_main };
static const rt_workflow wf_fail = { .name = "unit", .version = "v1", .body = body_fail };
static const rt_workflow wf_expr = { .name = "unit", .version = "v1", .body = body_expr_error };

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

    /* replay: the committed steps are not executed again */
    json_t *rec = rt_store_get_run(st, id);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "succeeded");
    json_object_set_new(rec, "status", json_string("running"));
    rt_run_init(&run, &wf_main, st, rec);
    o = rt_exec_run(&run);
    CHECK(o == RT_RUN_SUCCEEDED && calls_a == 1 && calls_retry == 3, "replay re-executed: a=%d retry=%d", calls_a,
          calls_retry);
    CHECK(json_integer_value(json_object_get(run.output, "y")) == 42, "replayed output");
    rt_run_free(&run);
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
    rt_exec_install_signals();
    rt_http_global_init();
    freopen("/dev/null", "w", stderr);     /* run logs are not test output */

    run_test("type check messages name the field path", test_type_messages);
    run_test("operators, equality and raised errors", test_operators);
    run_test("interpolation and built-in functions", test_interp_and_builtins);
    run_test("URL joining, query and form encoding, Link, Retry-After", test_urls);
    run_test("origins and URL templates", test_origins_and_templates);
    run_test("secret redaction", test_redaction);
    run_test("RFC 3339 times", test_time);
    run_test("JSON encoding: as jansson writes it, reads back the same, never invalid", test_json_encode);
    run_test("store: runs, steps, logs and their indexes", test_store_indexes);
    run_test("store: a full map grows", test_store_map_growth);
    run_test("engine: function steps, retries, crashes, fanout, wait, replay", test_exec_run_and_replay);
    run_test("engine: flow_fail and expression errors fail the run", test_exec_failures);

    char *cmd = rt_xprintf("rm -rf %s", scratch_dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", scratch_dir);
    free(cmd);
    return failures ? 1 : 0;
}
