/*
** fuzz_validate.c — libFuzzer harness of the job binary's input checks:
** an event payload against trigger schemas (rt_type_check, as `JOB run
** --event`, `JOB serve` and test events do) and settings against a
** workflow's declared settings (rt_host_settings_of, as `--settings`,
** `users set` and `serve` do). Linked with the whole runtime, built with
** ASan/UBSan: any crash, sanitizer report or leak is a finding.
**
** The first input byte chooses what the rest is:
**   0  a JSON payload, checked against every schema of SCHEMAS (type texts
**      as flowc emits them, from one field to a 120-field CRM record);
**   1  a JSON settings object, merged with the defaults of SETTINGS and
**      checked, with and without every required setting demanded, as given
**      (`--settings`, `users set`) and as stored settings runs start from;
**   2  a type text, a newline, a JSON value: the type parsed as compiled
**      descriptors are (it may be invalid), the value checked against it.
** Besides not crashing, each check must say why it refused, and give the
** same answer twice (the second time from the parsed-type cache). Each
** payload is also encoded as the runtime stores values (rt_json_text),
** which must read back equal (json_equal: a float stays a float), rendered
** as an interpolation would, and equal to itself (rt_value_equal).
*/
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cli.h"
#include "rt_host_users.h"
#include "rt_type.h"
#include "rt_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char *crm_schema;    /* built once: 120 fields of every kind */

static const char *const SCHEMAS[] = {
    "{\"id\":\"string\",\"name\":\"string\",\"score\":\"int\",\"email\":[\"opt\",\"string\"],"
    "\"tags\":[\"list\",\"string\"]}",
    "{\"a\":{\"b\":{\"c\":[\"list\",{\"d\":\"float\",\"e\":[\"opt\",\"bool\"]}]}},\"n\":\"null\",\"j\":\"json\"}",
    "[\"list\",[\"list\",[\"opt\",\"int\"]]]",
    "\"string\"", "\"int\"", "\"float\"", "\"bool\"", "\"json\"", "\"null\"",
    "{}",
    "{\"k\\u0001ey\":\"int\",\"\\u00e9t\\u00e9\":\"string\",\"a\\\"b\":[\"opt\",\"json\"]}",
    NULL,   /* crm_schema */
};

static const rt_setting SETTINGS[] = {
    { "channel", "\"string\"", "\"#sales\"" },
    { "min_score", "\"int\"", "70" },
    { "ratio", "\"float\"", "1.5" },
    { "enabled", "\"bool\"", NULL },
    { "owners", "[\"list\",\"string\"]", "[]" },
    { "limits", "{\"daily\":\"int\",\"burst\":[\"opt\",\"int\"]}", NULL },
    { "extra", "\"json\"", "null" },
    { "region", "[\"opt\",\"string\"]", "null" },
};

static const rt_workflow WF = {
    .name = "fuzz",
    .settings = SETTINGS,
    .nsettings = (int)(sizeof SETTINGS / sizeof SETTINGS[0]),
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const kinds[] = { "\"string\"", "\"int\"", "[\"opt\",\"string\"]", "\"bool\"",
                                         "[\"list\",\"string\"]", "{\"street\":\"string\",\"zip\":[\"opt\",\"int\"]}" };
    size_t cap = 16384, len = 0;
    crm_schema = malloc(cap);
    len += (size_t)snprintf(crm_schema + len, cap - len, "{");
    for (int i = 0; i < 120; i++)
        len += (size_t)snprintf(crm_schema + len, cap - len, "%s\"field_%d\":%s", i ? "," : "", i, kinds[i % 6]);
    snprintf(crm_schema + len, cap - len, "}");
    return 0;
}

/* A refusal names its reason; an answer does not change when asked again. */
static void check_one(const char *type, const json_t *v)
{
    char err1[1024], err2[1024];
    err1[0] = err2[0] = 0;
    bool ok1 = rt_type_check(type, v, "payload", err1, sizeof err1);
    bool ok2 = rt_type_check(type, v, NULL, err2, sizeof err2);
    if (ok1 != ok2) {
        fprintf(stderr, "rt_type_check answered %d then %d for %s\n", ok1, ok2, type);
        abort();
    }
    if (!ok1 && (!err1[0] || !err2[0] || strncmp(err1, "payload: ", 9) != 0)) {
        fprintf(stderr, "rt_type_check refused without a reason: '%s' / '%s'\n", err1, err2);
        abort();
    }
    char d[96];
    rt_value_describe(v, d, sizeof d);
}

/* What the runtime writes to the state reads back as the same value. */
static void check_encoding(const json_t *v)
{
    char *text = rt_json_text(v);
    json_t *back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!back || !json_equal((json_t *)v, back) || !rt_value_equal(v, back)) {
        fprintf(stderr, "rt_json_text wrote %s, which reads back %s\n", text, back ? "different" : "as invalid JSON");
        abort();
    }
    json_decref(back);
    free(text);
    if (!rt_value_equal(v, v)) {
        fprintf(stderr, "a value is not equal to itself\n");
        abort();
    }
    rt_buf b = { 0 };
    rt_value_render(&b, v);
    rt_buf_free(&b);
}

static void fuzz_payload(const char *text, size_t n)
{
    json_t *v = json_loadb(text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v) return;
    check_encoding(v);
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof SCHEMAS[0]; i++)
        check_one(SCHEMAS[i] ? SCHEMAS[i] : crm_schema, v);
    json_decref(v);
}

static void fuzz_settings(const char *text, size_t n)
{
    json_t *given = json_loadb(text, n, JSON_DECODE_ANY, NULL);
    if (!given) return;
    /* given on the command line (`--settings`, `users set`), then as the
    ** stored settings a later run starts from */
    for (int k = 0; k < 4; k++) {
        bool need_all = k & 1, stored = k & 2;
        if (stored && !json_is_object(given)) continue;     /* only objects are stored */
        char err[1024] = "";
        json_t *out = rt_host_settings_of(&WF, stored ? given : NULL, stored ? NULL : given, " fuzz.json", need_all,
                                          err, sizeof err);
        if (!out && !err[0]) {
            fprintf(stderr, "settings refused without a reason\n");
            abort();
        }
        /* what was accepted has every setting with a default, each of its type */
        for (int i = 0; out && i < WF.nsettings; i++) {
            const json_t *s = json_object_get(out, SETTINGS[i].name);
            char e[1024];
            if ((SETTINGS[i].default_json || need_all) && !s) {
                fprintf(stderr, "accepted settings lack '%s'\n", SETTINGS[i].name);
                abort();
            }
            if (s && !rt_type_check(SETTINGS[i].type, s, "setting", e, sizeof e)) {
                fprintf(stderr, "accepted settings hold a mistyped '%s': %s\n", SETTINGS[i].name, e);
                abort();
            }
        }
        json_decref(out);
    }
    json_decref(given);
}

static void fuzz_type(const char *text, size_t n)
{
    const char *nl = memchr(text, '\n', n);
    if (!nl) return;
    char *type = strndup(text, (size_t)(nl - text));
    json_t *v = json_loadb(nl + 1, n - (size_t)(nl + 1 - text), JSON_DECODE_ANY, NULL);
    const json_t *t = rt_type_parse(type);
    if (t) {
        char name[256];
        rt_type_name(t, name, sizeof name);
    }
    if (v) check_one(type, v);
    json_decref(v);
    free(type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: fuzz_payload(text, n); break;
    case 1: fuzz_settings(text, n); break;
    default: fuzz_type(text, n); break;
    }
    rt_type_cache_free();   /* keeps memory flat over millions of types */
    return 0;
}
