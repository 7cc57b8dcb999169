/*
** eio_shim.c — a fault for tests/faults: loaded with LD_PRELOAD into a job
** binary, it makes every small positional write (LMDB's meta page: 120
** bytes at the start of page 0 or 1) fail with EIO while the file named by
** FLOW_TEST_EIO_FILE exists. Data pages (whole pages) are written as
** usual, so the failure lands where LMDB marks its environment unusable
** (MDB_PANIC for every later transaction of the process).
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static int failing(size_t count)
{
    const char *f = getenv("FLOW_TEST_EIO_FILE");
    return count < 512 && f && access(f, F_OK) == 0;
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    if (failing(count)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, count, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite64(fd, buf, count, offset);
}
