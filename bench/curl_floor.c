/*
** curl_floor.c — the ceiling libcurl itself sets on a fanout of GETs: the
** same requests the job sends (the same options and headers), on one multi
** handle with up to CONC transfers in flight, and nothing else: no
** checkpoints, no JSON, no log lines. fanout_bench.py prints the engine's
** rate against this as well as against wrk.
**
** usage: curl_floor BASE_URL TOTAL CONC   (GETs BASE_URL/item/0 .. TOTAL-1)
** prints: "N requests in S s: R req/s"
*/
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* One request on e, set up as rt_http_xfer_start sets up a GET (the reset
** clears CURLOPT_PRIVATE: the caller sets it again). */
static void setup(CURL *e, const char *base, int i, struct curl_slist **headers)
{
    char url[512], key[64];
    snprintf(url, sizeof url, "%s/item/%d", base, i);
    snprintf(key, sizeof key, "Idempotency-Key: floor:got[%d].g", i);
    curl_slist_free_all(*headers);
    *headers = curl_slist_append(curl_slist_append(NULL, "Expect:"), key);
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "flowc");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: curl_floor BASE_URL TOTAL CONC\n");
        return 2;
    }
    const char *base = argv[1];
    int total = atoi(argv[2]), conc = atoi(argv[3]);
    if (total <= 0 || conc <= 0 || conc > 1024) {
        fprintf(stderr, "curl_floor: TOTAL and CONC must be positive (CONC at most 1024)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    static CURL *easy[1024];
    static struct curl_slist *headers[1024];
    int started = 0, done = 0, failed = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < conc && started < total; k++) {
        easy[k] = curl_easy_init();
        setup(easy[k], base, started++, &headers[k]);
        curl_easy_setopt(easy[k], CURLOPT_PRIVATE, (char *)&headers[k]);
        curl_multi_add_handle(m, easy[k]);
    }
    while (done < total) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *e = msg->easy_handle;
            struct curl_slist **h;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&h);
            if (msg->data.result != CURLE_OK) failed++;
            done++;
            curl_multi_remove_handle(m, e);
            if (started < total) {
                setup(e, base, started++, h);
                curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
                curl_multi_add_handle(m, e);
            }
        }
        if (done < total) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%d requests in %.3f s: %.0f req/s\n", total, s, total / s);
    if (failed) fprintf(stderr, "curl_floor: %d requests failed\n", failed);
    for (int k = 0; k < conc && k < total; k++) {
        curl_multi_remove_handle(m, easy[k]);
        curl_easy_cleanup(easy[k]);
        curl_slist_free_all(headers[k]);
    }
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
