/*
** rt_co_stack.c — [services] coroutine stacks (mapped, guarded, kept for
** the process) and the context switch (see rt_co_stack.h).
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

#ifdef RT_CO_FAST_SWITCH
__asm__(".text\n"
        ".globl rt_co_switch\n"
        ".type rt_co_switch, @function\n"
        "rt_co_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size rt_co_switch, .-rt_co_switch\n");
#endif

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

void rt_co_ctx_init(rt_co_ctx *ctx, void *stack, rt_co_ctx *link, void (*entry)(void))
{
    char *base = (char *)stack + GUARD_SIZE;
#ifdef RT_CO_FAST_SWITCH
    (void)link;
    /* The top is offset by a multiple of 64 bytes up to 16 KiB (the
    ** stack's color): the mappings are 8 MiB + 64 KiB apart, so without it
    ** the hot frames of every coroutine would fall in the same cache sets.
    ** Below it, what rt_co_switch pops: the control words, six registers,
    ** then entry as the return address, 16-byte aligned as after a call. */
    uintptr_t color = (uintptr_t)((((uint64_t)(uintptr_t)stack >> 16) * 0x9E3779B1u >> 8) % 256) * 64;
    uint64_t *sp = (uint64_t *)(((uintptr_t)base + STACK_SIZE - color) & ~(uintptr_t)15);
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)entry;
    for (int i = 0; i < 6; i++) *--sp = 0;
    *--sp = 0x1F80 | ((uint64_t)0x037F << 32);  /* MXCSR and x87 control word: the defaults */
    ctx->sp = sp;
#else
    getcontext(ctx);
    ctx->uc_stack.ss_sp = base;
    ctx->uc_stack.ss_size = STACK_SIZE;
    ctx->uc_link = link;
    makecontext(ctx, entry, 0);
#endif
}
