/*
** latency_floor.c — the least a durable request trigger costs on flowc's
** stack: libmicrohttpd, libcurl, jansson and LMDB, with none of flowc.
**
** Each POST to any path does what the peers' pipeline does, inline on
** libmicrohttpd's one internal thread (no thread hand-off at all): GET the
** items from DATA_URL/items.json with one reused libcurl handle, parse them
** with jansson, map and tier each item as peer_bench.flow does, encode the
** output, commit it in ONE LMDB write transaction (fsync'd, as a durable run
** must be before it answers, into zeroed room kept after the data as
** flowc's store does; --nosync: no sync, the floor without durability), and answer it. A workflow engine does more than this (a
** record per step, a run's state, typed checks, a worker apart from the
** HTTP thread), so its server-side latency can only be above this one:
** bench/peer_bench.sh prints both beside Node-RED's.
**
** Usage: latency_floor --data URL --state DIR --port-file FILE [--nosync]
** Listens on 127.0.0.1, a free port written to FILE; runs until killed.
*/
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <lmdb.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t len;
} floor_buf;

static CURL *floor_curl;
static char floor_url[1024];
static MDB_env *floor_env;
static MDB_dbi floor_dbi;
static unsigned long floor_seq;

static size_t floor_on_body(char *p, size_t size, size_t n, void *ud)
{
    floor_buf *b = ud;
    size_t k = size * n;
    char *grown = realloc(b->data, b->len + k + 1);
    if (!grown) return 0;
    memcpy(grown + b->len, p, k);
    b->len += k;
    grown[b->len] = 0;
    b->data = grown;
    return k;
}

/* The pipeline: fetch, map (priceWithTax, upperName), tier. New reference or NULL. */
static json_t *floor_pipeline(void)
{
    floor_buf body = { 0 };
    curl_easy_setopt(floor_curl, CURLOPT_WRITEDATA, &body);
    long status = 0;
    if (curl_easy_perform(floor_curl) != CURLE_OK ||
        curl_easy_getinfo(floor_curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
        free(body.data);
        return NULL;
    }
    json_t *items = json_loadb(body.data, body.len, 0, NULL);
    free(body.data);
    if (!json_is_array(items)) {
        json_decref(items);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        double price = json_number_value(json_object_get(it, "price"));
        const char *name = json_string_value(json_object_get(it, "name"));
        char up[256];
        size_t k = 0;
        for (; name && name[k] && k < sizeof up - 1; k++) up[k] = (char)toupper((unsigned char)name[k]);
        up[k] = 0;
        double with_tax = round(price * 1.2 * 100) / 100;
        json_array_append_new(out, json_pack("{s:O, s:s, s:f, s:s}", "id", json_object_get(it, "id"), "upperName",
                                             up, "priceWithTax", with_tax, "tier",
                                             with_tax > 75.0 ? "expensive" : "cheap"));
    }
    json_decref(items);
    return out;
}

/* One durable write transaction holding the run's output. */
static int floor_commit(const char *text, size_t len)
{
    char key[32];
    int klen = snprintf(key, sizeof key, "%016lu", ++floor_seq);
    MDB_txn *txn;
    if (mdb_txn_begin(floor_env, NULL, 0, &txn)) return -1;
    MDB_val k = { (size_t)klen, key }, v = { len, (void *)text };
    if (mdb_put(txn, floor_dbi, &k, &v, 0)) {
        mdb_txn_abort(txn);
        return -1;
    }
    return mdb_txn_commit(txn) ? -1 : 0;
}

static enum MHD_Result floor_answer(struct MHD_Connection *c, unsigned code, char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result floor_on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                        const char *version, const char *upload, size_t *upload_len, void **state)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    if (!*state) {              /* the headers: wait for the body */
        *state = c;
        return MHD_YES;
    }
    if (*upload_len) {          /* the trigger's body is not used by the pipeline */
        *upload_len = 0;
        return MHD_YES;
    }
    json_t *out = floor_pipeline();
    if (!out) return floor_answer(c, 502, strdup("{\"error\":\"data server\"}"));
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!text || floor_commit(text, strlen(text))) {
        free(text);
        return floor_answer(c, 500, strdup("{\"error\":\"store\"}"));
    }
    return floor_answer(c, 200, text);
}

int main(int argc, char **argv)
{
    const char *data = NULL, *state = NULL, *port_file = NULL;
    int nosync = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nosync")) nosync = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--data")) data = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--state")) state = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--port-file")) port_file = argv[++i];
        else data = NULL, i = argc;
    }
    if (!data || !state || !port_file) {
        fprintf(stderr, "usage: latency_floor --data URL --state DIR --port-file FILE [--nosync]\n");
        return 2;
    }
    mkdir(state, 0700);
    MDB_txn *txn;
    if (mdb_env_create(&floor_env) || mdb_env_set_mapsize(floor_env, 1UL << 30) ||
        mdb_env_open(floor_env, state, nosync ? MDB_NOSYNC : 0, 0600) || mdb_txn_begin(floor_env, NULL, 0, &txn) ||
        mdb_dbi_open(txn, NULL, 0, &floor_dbi) || mdb_txn_commit(txn)) {
        fprintf(stderr, "latency_floor: cannot open the store in %s\n", state);
        return 1;
    }
    /* zeroed room after the pages in use, as flowc's store keeps: a commit
    ** then writes into blocks the file has, and its fdatasync writes no
    ** file size or block map */
    int fd;
    struct stat sb;
    if (!nosync && mdb_env_get_fd(floor_env, &fd) == 0 && fstat(fd, &sb) == 0) {
        static const char zeros[1 << 16];
        for (off_t off = sb.st_size; off < sb.st_size + (16 << 20); off += (off_t)sizeof zeros)
            if (pwrite(fd, zeros, sizeof zeros, off) != (ssize_t)sizeof zeros) break;
        fdatasync(fd);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    floor_curl = curl_easy_init();
    snprintf(floor_url, sizeof floor_url, "%s/items.json", data);
    curl_easy_setopt(floor_curl, CURLOPT_URL, floor_url);
    curl_easy_setopt(floor_curl, CURLOPT_WRITEFUNCTION, floor_on_body);
    curl_easy_setopt(floor_curl, CURLOPT_NOSIGNAL, 1L);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, floor_on_request, NULL,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "latency_floor: cannot listen on 127.0.0.1\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    FILE *f = fopen(port_file, "w");
    if (!f || !info) return 1;
    fprintf(f, "%u\n", (unsigned)info->port);
    fclose(f);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    curl_easy_cleanup(floor_curl);
    mdb_env_close(floor_env);
    return 0;
}
