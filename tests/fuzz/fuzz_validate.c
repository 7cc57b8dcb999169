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
**   2  a type text, a newline, a JSON value: the type made into a
**      descriptor as flowc would emit it (when it is one), named, and the
**      value checked against it.
** A job has its type descriptors as static data (flowrt.h's rt_type); the
** harness builds the same structures from the types' JSON text. Besides
** not crashing, each check must say why it refused, and give the same
** answer twice. Each
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

/* name, type text, default */
static const char *const SETTING_TEXT[][3] = {
    { "channel", "\"string\"", "\"#sales\"" },
    { "min_score", "\"int\"", "70" },
    { "ratio", "\"float\"", "1.5" },
    { "enabled", "\"bool\"", NULL },
    { "owners", "[\"list\",\"string\"]", "[]" },
    { "limits", "{\"daily\":\"int\",\"burst\":[\"opt\",\"int\"]}", NULL },
    { "extra", "\"json\"", "null" },
    { "region", "[\"opt\",\"string\"]", "null" },
};
#define NSETTINGS ((int)(sizeof SETTING_TEXT / sizeof SETTING_TEXT[0]))

static rt_setting SETTINGS[NSETTINGS];
static rt_type *schema_types[sizeof SCHEMAS / sizeof SCHEMAS[0]];

static const rt_workflow WF = {
    .name = "fuzz",
    .settings = SETTINGS,
    .nsettings = NSETTINGS,
};

/* ---- descriptors from type text, as flowc emits them -------------------- */

static void type_free(rt_type *t)
{
    if (!t) return;
    type_free((rt_type *)t->elem);
    for (int i = 0; i < t->nfields; i++) {
        free((char *)t->fields[i].name);
        type_free((rt_type *)t->fields[i].type);
    }
    free((rt_type_field *)t->fields);
    free(t);
}

/* The descriptor of a type written as flowc writes types in JSON ("int",
** ["list", T], ["opt", T], {"f": T}), or NULL when t is not one. */
static rt_type *type_build(const json_t *t, int depth)
{
    if (depth > 200) return NULL;
    rt_type *r = calloc(1, sizeof *r);
    if (json_is_string(t)) {
        static const char *const names[] = { "json", "string", "int", "float", "bool", "null" };
        for (int k = 0; k < 6; k++)
            if (strcmp(json_string_value(t), names[k]) == 0) {
                r->kind = (rt_type_kind)(RT_TYPE_JSON + k);
                return r;
            }
    } else if (json_is_array(t) && json_array_size(t) == 2 && json_is_string(json_array_get(t, 0))) {
        const char *k = json_string_value(json_array_get(t, 0));
        if (strcmp(k, "list") == 0 || strcmp(k, "opt") == 0) {
            r->kind = k[0] == 'l' ? RT_TYPE_LIST : RT_TYPE_OPT;
            r->elem = type_build(json_array_get(t, 1), depth + 1);
            if (r->elem) return r;
        }
    } else if (json_is_object(t)) {
        r->kind = RT_TYPE_OBJECT;
        rt_type_field *f = calloc(json_object_size(t) + 1, sizeof *f);
        r->fields = f;
        const char *key;
        json_t *ft;
        bool ok = true;
        json_object_foreach((json_t *)t, key, ft) {
            f[r->nfields].type = type_build(ft, depth + 1);
            if (!f[r->nfields].type) {
                ok = false;
                break;
            }
            f[r->nfields++].name = strdup(key);
        }
        if (ok) return r;
    }
    type_free(r);
    return NULL;
}

static rt_type *type_of_text(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    rt_type *t = j ? type_build(j, 0) : NULL;
    json_decref(j);
    return t;
}

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
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof SCHEMAS[0]; i++)
        schema_types[i] = type_of_text(SCHEMAS[i] ? SCHEMAS[i] : crm_schema);
    for (int i = 0; i < NSETTINGS; i++)
        SETTINGS[i] = (rt_setting){ SETTING_TEXT[i][0], type_of_text(SETTING_TEXT[i][1]), SETTING_TEXT[i][2] };
    return 0;
}

/* A refusal names its reason; an answer does not change when asked again. */
static void check_one(const rt_type *type, const json_t *v)
{
    char err1[1024], err2[1024];
    err1[0] = err2[0] = 0;
    bool ok1 = rt_type_check(type, v, "payload", err1, sizeof err1);
    bool ok2 = rt_type_check(type, v, NULL, err2, sizeof err2);
    if (ok1 != ok2) {
        char tn[256];
        rt_type_name(type, tn, sizeof tn);
        fprintf(stderr, "rt_type_check answered %d then %d for %s\n", ok1, ok2, tn);
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
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof SCHEMAS[0]; i++) check_one(schema_types[i], v);
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
    char *text_type = strndup(text, (size_t)(nl - text));
    json_t *v = json_loadb(nl + 1, n - (size_t)(nl + 1 - text), JSON_DECODE_ANY, NULL);
    rt_type *t = type_of_text(text_type);
    if (t) {
        char name[256];
        rt_type_name(t, name, sizeof name);
        json_decref(rt_type_json(t));
        if (v) check_one(t, v);
    }
    type_free(t);
    json_decref(v);
    free(text_type);
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
    return 0;
}
