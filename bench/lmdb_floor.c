/*
** lmdb_floor.c — the physical floor for durable steps: N bare LMDB write
** transactions, each putting one ~200-byte record and committing with
** fsync, on the same disk as the job's state. Prints microseconds per
** commit. Usage: lmdb_floor DIR N
*/
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lmdb_floor DIR N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    mkdir(argv[1], 0700);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 1UL << 30) ||
        mdb_env_open(env, argv[1], 0, 0600)) {
        fprintf(stderr, "lmdb_floor: cannot open %s\n", argv[1]);
        return 1;
    }
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, NULL, 0, &dbi);
    mdb_txn_commit(txn);
    char val[200];
    memset(val, 'x', sizeof val);
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "run/%08d", i);
        MDB_val k = { strlen(key), key }, v = { sizeof val, val };
        if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_put(txn, dbi, &k, &v, 0) || mdb_txn_commit(txn)) {
            fprintf(stderr, "lmdb_floor: write failed\n");
            return 1;
        }
    }
    double us = (now_us() - t0) / n;
    printf("%.1f\n", us);
    mdb_env_close(env);
    return 0;
}
