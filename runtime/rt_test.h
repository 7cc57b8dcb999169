/*
** rt_test.h — [commands] `flowc test`: runs a workflow's test blocks in-process,
** with mocked HTTP, against a throw-away LMDB state.
**
** flowc's emitter (compiler/emit_test.c) writes one rt_test_case per test
** block as static data, each expect as a C function, and an entry point
** that calls rt_test_main. Everything here is read-only static data owned
** by the generated code; rt_test_main owns what it allocates.
*/
#ifndef RT_TEST_H
#define RT_TEST_H

#include "flowrt.h"

/* One answer of a mock. */
typedef struct rt_test_response {
    int status;
    const char *body_json;      /* JSON text of the body, or NULL (empty body) */
    bool body_text;             /* body_json is a JSON string sent as text/plain */
    const char *headers_json;   /* JSON object text of response headers, or NULL */
} rt_test_response;

/* `mock METHOD ("url" | integ "path") -> R (then R)* (times N)? (delay D)?` */
typedef struct rt_test_mock {
    const char *method;
    const rt_integration *integ;    /* relative to its base URL, or NULL */
    const char *url;
    const rt_test_response *responses;
    int nresponses;
    int times;                  /* answers at most this many requests; 0 = any */
    long delay_ms;              /* simulated, never slept: only a timeout shorter
                                   than the delay makes a difference */
    int line;
} rt_test_mock;

/* An expect over the finished run: returns the condition and leaves its
** operands in v[0] (and v[1] for a comparison or and/or), borrowed from c;
** an operand not evaluated stays NULL. Expression errors are raised on c. */
typedef bool (*rt_expect_fn)(rt_ctx *c, json_t **v);

typedef struct rt_test_expect {
    rt_expect_fn fn;
    const char *source;         /* the expression as written */
    int line, col;
    int noperands;              /* 1: v[0] is "value"; 2: "left" and "right" */
} rt_test_expect;

typedef struct rt_test_case {
    const char *name;
    const char *file;           /* the .flow file holding the test block */
    int line;
    const char *event_json;     /* trigger payload, or NULL = {} */
    const char *settings_json;  /* given settings, or NULL: defaults fill the rest */
    const char *user;           /* or NULL */
    const char *const *env;     /* NAME, value pairs, NULL-terminated (or NULL) */
    const char *const *secrets; /* name, value pairs, NULL-terminated (or NULL) */
    const rt_test_mock *mocks;
    int nmocks;
    const rt_test_expect *expects;
    int nexpects;
    bool reads_status;          /* an expect reads `status`: a failed run may pass */
    const char *const *reads_ok;/* steps whose .ok or .error an expect reads, NULL-
                                   terminated: an unmocked request of one of them
                                   is expected, any other fails the test */
} rt_test_case;

/* rt_test_main's flags */
enum { RT_TEST_JSON = 1, RT_TEST_VERBOSE = 2 };

/* Runs every test whose name contains filter (NULL = all), in order.
** Prints `PASS name` / `FAIL name` with details on stdout, or one JSON
** object per test with RT_TEST_JSON; RT_TEST_VERBOSE adds each run's log
** lines. Appends a JUnit <testsuite> to junit when not NULL. Adds to
** counts[0] (passed) and counts[1] (failed). Returns 0 when every test
** passed, 1 otherwise, 2 when the tests could not run at all. */
int rt_test_main(const rt_workflow *wf, const rt_test_case *tests, int ntests, const char *filter, int flags,
                 FILE *junit, int *counts);

#endif
