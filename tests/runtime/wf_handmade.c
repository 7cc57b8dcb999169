/*
** wf_handmade.c — a workflow written by hand in the shape flowc generates,
** compiled by tcc against build/include/flowc and libflowrt.a. It proves
** the archive links under tcc and exercises the runtime end to end without
** the compiler. The equivalent .flow:
**
**   workflow handmade
**   settings { greeting: string = "hi" }
**   secrets { tok }
**   integration api "http://unused.invalid" { auth bearer secret.tok }
**   action api.hello(n: int) -> json = request POST "/s1" json { n: n, greeting: settings.greeting }
**   trigger event "go" { n: int, tags: [string] }
**   step s1 = api.hello(n: trigger.n)
**   step flaky = request GET "{{env.API}}/flaky" query { q: "a b&c" } retry 3 backoff 10ms max 40ms
**   step held = request POST "{{env.API}}/hold" json { prev: flaky.status }
**   step double = function (x: trigger.n) -> { y: int } {% ... %}
**   step boom = function () -> { y: int } {% segfault %} on failure continue
**   step tagged = fanout t in trigger.tags concurrency 3 {
**     step upper = function (s: t) -> { u: string } {% ... %}
**     step add = request POST "{{env.API}}/tg" form { tag: t }
**     return upper.u
**   }
**   step pages = request GET "{{env.API}}/cur" paginate data.items cursor body.next -> query.cursor
**   step linked = request GET "{{env.API}}/lk1" returns { items: [{ id: int }] } paginate items link
**   log "done {{double.y}}"
**   return { y: double.y, tags: tagged, boom_ok: boom.ok, boom_error: boom.error ?? "",
**            pages: pages.items, npages: pages.pages, linked: linked.items }
*/
#include <flowrt.h>

#line 1 "flowc-generated.c"
static int wf_body(rt_ctx *c);
static json_t *F_double(const json_t *params);
static json_t *F_boom(const json_t *params);
static json_t *F_upper(const json_t *params);
static int FO_tagged(rt_ctx *c, json_t *value);
static rt_result *A_api_hello(rt_ctx *c, const rt_step_desc *d, json_t *args);
static json_t *CB_1(rt_ctx *c, json_t *response);

static const rt_type T_json = { RT_TYPE_JSON, NULL, NULL, 0 };
static const rt_type T_int = { RT_TYPE_INT, NULL, NULL, 0 };
static const rt_type T_string = { RT_TYPE_STRING, NULL, NULL, 0 };
static const rt_type T_strings = { RT_TYPE_LIST, &T_string, NULL, 0 };
static const rt_type_field TF_y[] = { { "y", &T_int } };
static const rt_type T_y = { RT_TYPE_OBJECT, NULL, TF_y, 1 };
static const rt_type_field TF_u[] = { { "u", &T_string } };
static const rt_type T_u = { RT_TYPE_OBJECT, NULL, TF_u, 1 };
static const rt_type_field TF_id[] = { { "id", &T_int } };
static const rt_type T_id = { RT_TYPE_OBJECT, NULL, TF_id, 1 };
static const rt_type T_ids = { RT_TYPE_LIST, &T_id, NULL, 0 };
static const rt_type_field TF_items[] = { { "items", &T_ids } };
static const rt_type T_items = { RT_TYPE_OBJECT, NULL, TF_items, 1 };
static const rt_type_field TF_trigger[] = { { "n", &T_int }, { "tags", &T_strings } };
static const rt_type T_trigger = { RT_TYPE_OBJECT, NULL, TF_trigger, 2 };

static const rt_integration I_api = {
    .name = "api",
    .base_url = "http://unused.invalid",
    .auth = RT_AUTH_BEARER,
    .secret = "tok",
};

static const rt_step_desc D_s1 = {
    .name = "s1", .kind = RT_STEP_REQUEST, .line = 7, .slot = 0, .method = "POST", .integ = &I_api, .out_type = &T_json,
    .retries = -1,
};
static const rt_step_desc D_flaky = {
    .name = "flaky", .kind = RT_STEP_REQUEST, .line = 8, .slot = 1, .method = "GET", .retries = 3, .backoff_ms = 10, .max_backoff_ms = 40,
};
static const rt_step_desc D_held = {
    .name = "held", .kind = RT_STEP_REQUEST, .line = 9, .slot = 2, .method = "POST", .retries = -1,
};
static const rt_step_desc D_double = {
    .name = "double", .kind = RT_STEP_FUNCTION, .line = 10, .slot = 3, .out_type = &T_y, .retries = -1,
};
static const rt_step_desc D_boom = {
    .name = "boom", .kind = RT_STEP_FUNCTION, .line = 11, .slot = 4, .out_type = &T_y, .retries = -1,
    .continue_on_failure = 1,
};
static const rt_step_desc D_tagged = {
    .name = "tagged", .kind = RT_STEP_FANOUT, .line = 12, .slot = 5, .retries = -1, .concurrency = 3, .var = "t",
    .slots = 2,
};
static const rt_step_desc D_upper = {
    .name = "upper", .kind = RT_STEP_FUNCTION, .line = 13, .depth = 1, .slot = 0, .out_type = &T_u, .retries = -1,
};

static const rt_step_desc D_add = {
    .name = "add", .kind = RT_STEP_REQUEST, .line = 14, .depth = 1, .slot = 1, .method = "POST", .retries = -1,
};
static const char *const PI_pages[] = { "data", "items", NULL };
static const rt_step_desc D_pages = {
    .name = "pages", .kind = RT_STEP_REQUEST, .line = 15, .slot = 6, .method = "GET", .retries = -1,
    .paginate = RT_PAGE_CURSOR, .page_items = PI_pages, .page_cursor = CB_1,
    .page_target = RT_TARGET_QUERY, .page_param = "cursor", .page_max = 0,
};
static const char *const PI_linked[] = { "items", NULL };
static const rt_step_desc D_linked = {
    .name = "linked", .kind = RT_STEP_REQUEST, .line = 16, .slot = 7, .method = "GET", .retries = -1,
    .out_type = &T_items,
    .paginate = RT_PAGE_LINK, .page_items = PI_linked,
};

static const rt_setting SETTINGS[] = {
    { "greeting", &T_string, "\"hi\"" },
};
static const char *const SECRETS[] = { "tok" };

static int wf_body(rt_ctx *c);

const rt_workflow FLOW_WORKFLOW = {
    .name = "handmade",
    .description = "a hand-written workflow in flowc's generated shape",
    .version = "0123456789abcdef",
    .trigger = RT_TRIG_EVENT,
    .event = "go",
    .trigger_schema = &T_trigger,
    .settings = SETTINGS, .nsettings = 1,
    .secrets = SECRETS, .nsecrets = 1,
    .output_type = NULL,
    .body = wf_body,
    .slots = 8,
    .source_path = "handmade.flow",
};

static rt_result *A_api_hello(rt_ctx *c, const rt_step_desc *d, json_t *args)
{
    return rt_request(c, d, rt_str(c, "/s1"), NULL, NULL,
                      rt_object(c, 2, "n", rt_field(c, args, "n"), "greeting", rt_field(c, rt_settings(c), "greeting")),
                      NULL, NULL);
}

#line 10 "handmade.flow"
static json_t *FU_double(int64_t x)
{
    flow_log("doubling %lld", (long long)x);
    return json_pack("{s:I}", "y", (json_int_t)(x * 2));
}
#line 11 "handmade.flow"
static json_t *FU_boom(void)
{
    volatile int *p = NULL;
    *p = 42;
    return json_pack("{s:i}", "y", 1);
}
#line 13 "handmade.flow"
static json_t *FU_upper(const char *s)
{
    char buf[64];
    size_t i = 0;
    for (; s[i] && i < sizeof buf - 1; i++) buf[i] = (char)toupper((unsigned char)s[i]);
    buf[i] = 0;
    return json_pack("{s:s}", "u", buf);
}
#line 1 "flowc-generated.c"
static json_t *F_double(const json_t *params) { return FU_double(rt_param_int(params, "x")); }
static json_t *F_boom(const json_t *params) { (void)params; return FU_boom(); }
static json_t *F_upper(const json_t *params) { return FU_upper(rt_param_string(params, "s")); }

static json_t *CB_1(rt_ctx *c, json_t *response)
{
    return rt_field(c, rt_field(c, response, "body"), "next");
}

static int FO_tagged(rt_ctx *c, json_t *value)
{
    (void)value;
    if (!rt_function(c, &D_upper, rt_object(c, 1, "s", rt_var(c, &D_tagged)), F_upper)) return RT_STOP;
    if (!rt_request(c, &D_add, rt_interp(c, 2, rt_env(c, "API"), rt_str(c, "/tg")), NULL, NULL, NULL,
                    rt_object(c, 1, "tag", rt_var(c, &D_tagged)), NULL))
        return RT_STOP;
    return rt_return(c, rt_field(c, rt_result_out(rt_step_result(c, &D_upper)), "u"));
    return rt_return(c, rt_null());
}

static int wf_body(rt_ctx *c)
{
    if (!A_api_hello(c, &D_s1, rt_object(c, 1, "n", rt_field(c, rt_trigger(c), "n")))) return RT_STOP;
    if (!rt_request(c, &D_flaky, rt_interp(c, 2, rt_env(c, "API"), rt_str(c, "/flaky")), NULL,
                    rt_object(c, 1, "q", rt_str(c, "a b&c")), NULL, NULL, NULL))
        return RT_STOP;
    if (!rt_request(c, &D_held, rt_interp(c, 2, rt_env(c, "API"), rt_str(c, "/hold")), NULL, NULL,
                    rt_object(c, 1, "prev", rt_field(c, rt_result_out(rt_step_result(c, &D_flaky)), "status")),
                    NULL, NULL))
        return RT_STOP;
    if (!rt_function(c, &D_double, rt_object(c, 1, "x", rt_field(c, rt_trigger(c), "n")), F_double)) return RT_STOP;
    if (!rt_function(c, &D_boom, rt_object(c, 0), F_boom)) return RT_STOP;
    if (!rt_fanout(c, &D_tagged, rt_field(c, rt_trigger(c), "tags"), FO_tagged)) return RT_STOP;
    if (!rt_request(c, &D_pages, rt_interp(c, 2, rt_env(c, "API"), rt_str(c, "/cur")), NULL, NULL, NULL, NULL, NULL))
        return RT_STOP;
    if (!rt_request(c, &D_linked, rt_interp(c, 2, rt_env(c, "API"), rt_str(c, "/lk1")), NULL, NULL, NULL, NULL,
                    NULL))
        return RT_STOP;
    rt_log(c, rt_interp(c, 2, rt_str(c, "done "), rt_field(c, rt_result_out(rt_step_result(c, &D_double)), "y")), 20);
    return rt_return(c, rt_object(c, 7,
                                  "pages", rt_field(c, rt_result_out(rt_step_result(c, &D_pages)), "items"),
                                  "npages", rt_field(c, rt_result_out(rt_step_result(c, &D_pages)), "pages"),
                                  "linked", rt_field(c, rt_result_out(rt_step_result(c, &D_linked)), "items"),
                                  "y", rt_field(c, rt_result_out(rt_step_result(c, &D_double)), "y"),
                                  "tags", rt_result_out(rt_step_result(c, &D_tagged)),
                                  "boom_ok", rt_bool(rt_result_ok(rt_step_result(c, &D_boom))),
                                  "boom_error", rt_binary(c, RT_OP_COALESCE,
                                                          rt_result_error(rt_step_result(c, &D_boom)),
                                                          rt_str(c, ""), 21)));
}

int main(int argc, char **argv)
{
    return rt_main(&FLOW_WORKFLOW, argc, argv);
}
