/*
** rt_co_ctx.c — [services] switching stacks (see rt_co_ctx.h).
*/
#include "rt_co_ctx.h"

#include <stdint.h>

#ifdef RT_CO_FAST_SWITCH
/* Saves the callee-saved registers, MXCSR and the x87 control word on the
** current stack, stores the stack pointer in *save, and resumes `to`. */
void rt_co_switch(void **save, void *to);
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

void rt_co_ctx_init(rt_co_ctx *ctx, void *base, size_t size, void (*entry)(void))
{
    /* what rt_co_switch pops: control words, six registers, then entry as
    ** the return address, 16-byte aligned as after a call */
    uint64_t *sp = (uint64_t *)(((uintptr_t)base + size) & ~(uintptr_t)15);
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)entry;
    for (int i = 0; i < 6; i++) *--sp = 0;
    *--sp = 0x1F80 | ((uint64_t)0x037F << 32);  /* MXCSR and x87 control word: the defaults */
    ctx->sp = sp;
}

void rt_co_ctx_switch(rt_co_ctx *save, rt_co_ctx *to)
{
    rt_co_switch(&save->sp, to->sp);
}
#else
void rt_co_ctx_init(rt_co_ctx *ctx, void *base, size_t size, void (*entry)(void))
{
    getcontext(ctx);
    ctx->uc_stack.ss_sp = base;
    ctx->uc_stack.ss_size = size;
    ctx->uc_link = NULL;                /* entry never returns */
    makecontext(ctx, entry, 0);
}

void rt_co_ctx_switch(rt_co_ctx *save, rt_co_ctx *to)
{
    swapcontext(save, to);
}
#endif
