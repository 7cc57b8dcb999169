/*
** history_fill.c — fills a state directory with N synthetic runs of the
** bench_ops workflow through the runtime's store API (rt_store.h), many
** runs per transaction, for bench/history_bench.sh.
**
**   history_fill DIR N VERSION
**
** Each run: a run record (users u0..u99, one run in 20 failed), three step
** records (a request with its input as sent, a function, a request) and
** one log line: about what a small real run stores.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_store.h"
#include "rt_util.h"

#define PER_TXN 2000

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: history_fill DIR N VERSION\n");
        return 2;
    }
    long n = atol(argv[2]);
    const char *version = argv[3];
    char err[512];
    rt_store *st = rt_store_open(argv[1], true, err, sizeof err);
    if (!st) {
        fprintf(stderr, "history_fill: %s\n", err);
        return 1;
    }
    /* run ids: creation times spread over the last n seconds, in order */
    int64_t start = rt_now_ms() - n * 1000;
    rt_store_write *w = rt_xcalloc(PER_TXN * 4, sizeof *w);
    json_t **held = rt_xcalloc(PER_TXN * 5, sizeof *held);
    char (*ids)[RT_RUN_ID_LEN + 1] = rt_xcalloc(PER_TXN, sizeof *ids);
    for (long done = 0; done < n;) {
        size_t nw = 0, nh = 0;
        for (int k = 0; k < PER_TXN && done < n; k++, done++) {
            int64_t t = start + done * 1000;
            snprintf(ids[k], sizeof ids[k], "%012llx%08llx", (unsigned long long)t,
                     (unsigned long long)rt_random(0xffffffffull));
            char user[16];
            snprintf(user, sizeof user, "u%ld", done % 100);
            bool failed = done % 20 == 7;
            json_t *run = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:I}, s:{s:s}, s:s, s:i, s:I, s:I, s:I, s:s}",
                                    "id", ids[k], "workflow", "bench_ops", "version", version, "user", user,
                                    "trigger", "id", "c1", "n", (json_int_t)done, "settings", "region", "eu",
                                    "status", failed ? "failed" : "succeeded", "attempt", 1, "created", (json_int_t)t,
                                    "updated", (json_int_t)(t + 40), "ended", (json_int_t)(t + 40), "source", "run");
            if (failed) {
                json_object_set_new(run, "error", json_string("step 'push': HTTP 400: {\"error\":\"closed\"}"));
                json_object_set_new(run, "failed_step", json_string("push"));
            } else {
                json_object_set_new(run, "output", json_pack("{s:s, s:i}", "id", "c1", "pushed", 200));
            }
            w[nw++] = (rt_store_write){ .run_id = ids[k], .run = run };
            held[nh++] = run;
            json_t *lookup = json_pack(
                "{s:s, s:s, s:I, s:I, s:[{s:i, s:I, s:I, s:i}], s:{s:s, s:s, s:{s:s, s:s}}, s:{s:i, s:{}, s:{s:b}}}",
                "kind", "request", "status", "succeeded", "started", (json_int_t)t, "ended", (json_int_t)(t + 12),
                "attempts", "n", 1, "started", (json_int_t)t, "ended", (json_int_t)(t + 12), "http_status", 200,
                "input", "method", "GET", "url", "https://api.example.com/lookup/c1?region=eu", "headers",
                "Authorization", "Bearer [redacted]", "Idempotency-Key", "x", "output", "status", 200, "headers",
                "body", "found", 1);
            json_t *grade = json_pack("{s:s, s:s, s:I, s:I, s:[{s:i}], s:{s:i}, s:{s:s}}", "kind", "function",
                                      "status", "succeeded", "started", (json_int_t)(t + 12), "ended",
                                      (json_int_t)(t + 13), "attempts", "n", 1, "input", "score", 90, "output",
                                      "grade", "A");
            json_t *push = json_pack("{s:s, s:s, s:I, s:I, s:[{s:i, s:i}], s:{s:s, s:s, s:{s:s}}}", "kind",
                                     "request", "status", failed ? "failed" : "succeeded", "started",
                                     (json_int_t)(t + 13), "ended", (json_int_t)(t + 40), "attempts", "n", 1,
                                     "http_status", failed ? 400 : 200, "input", "method", "POST", "url",
                                     "https://api.example.com/push", "json", "id", "c1");
            json_t *logs = json_pack("[{s:I, s:s, s:i, s:s}]", "ts", (json_int_t)(t + 40), "path", "log@30", "line", 30,
                                     "msg", "pushed c1");
            w[nw++] = (rt_store_write){ .run_id = ids[k], .step_path = "lookup", .step = lookup };
            w[nw++] = (rt_store_write){ .run_id = ids[k], .step_path = "grade", .step = grade };
            w[nw++] = (rt_store_write){ .run_id = ids[k], .step_path = "push", .step = push, .logs = logs };
            held[nh++] = lookup;
            held[nh++] = grade;
            held[nh++] = push;
            held[nh++] = logs;      /* writes borrow their values until the commit */
        }
        if (!rt_store_commit_many(st, w, nw, NULL, err, sizeof err)) {
            fprintf(stderr, "history_fill: %s\n", err);
            return 1;
        }
        for (size_t i = 0; i < nh; i++) json_decref(held[i]);
    }
    rt_store_sync(st);
    rt_store_close(st);
    free(w);
    free(held);
    free(ids);
    return 0;
}
