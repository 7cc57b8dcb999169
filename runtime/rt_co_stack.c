/*
** rt_co_stack.c — [services] coroutine stacks (see rt_co_stack.h).
*/
#include "rt_co_stack.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define STACK_SIZE ((size_t)8 << 20)
#define GUARD_SIZE ((size_t)64 << 10)
#define KEEP_STACKS 1024        /* kept for the process at most; more are unmapped */

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static void *kept[KEEP_STACKS];
static size_t nkept;

void *rt_co_stack_new(void)
{
    pthread_mutex_lock(&kept_lock);
    void *st = nkept ? kept[--nkept] : NULL;
    pthread_mutex_unlock(&kept_lock);
    if (st) return st;
    st = mmap(NULL, GUARD_SIZE + STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (st == MAP_FAILED) {
        fprintf(stderr, "flow: cannot map a coroutine stack\n");
        abort();
    }
    mprotect(st, GUARD_SIZE, PROT_NONE);
    return st;
}

void rt_co_stack_keep(void *st)
{
    pthread_mutex_lock(&kept_lock);
    bool keep = nkept < KEEP_STACKS;
    if (keep) kept[nkept++] = st;
    pthread_mutex_unlock(&kept_lock);
    if (!keep) munmap(st, GUARD_SIZE + STACK_SIZE);
}

void rt_co_stack_start(rt_co_ctx *ctx, void *stack, void (*entry)(void))
{
    size_t color = (size_t)((((uint64_t)(uintptr_t)stack >> 16) * 0x9E3779B1u >> 8) % 256) * 64;
    rt_co_ctx_init(ctx, (char *)stack + GUARD_SIZE, STACK_SIZE - color, entry);
}
